//! Agent server functions: thin — take the shop from the session, call the service.

use super::{AgentSettings, FaqEntry, Playground};
use crate::error::ApiError;
use leptos::prelude::*;
use uuid::Uuid;

#[cfg(feature = "ssr")]
use {
    super::faq, super::playground, super::ssr, crate::request::require_shop,
    crate::state::use_state,
};

#[server(endpoint = "agent/settings/get", client = crate::api_client::ApiClient)]
pub async fn get_agent_settings() -> Result<AgentSettings, ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(ssr::settings(&state, shop.shop_id).await?)
}

#[server(endpoint = "agent/settings", client = crate::api_client::ApiClient)]
pub async fn save_agent_settings(
    mode: String,
    #[server(default)] disclosure: String,
    #[server(default)] escalate_above: String,
    #[server(default)] hand_back_after: String,
    // Absent when the form had no AI fields (no model on this server): kept as stored.
    #[server(default)] facts: Option<String>,
    #[server(default)] token_budget: Option<String>,
    #[server(default)] tone: Option<String>,
    // When it answers and the opening hours; absent: kept as stored.
    #[server(default)] answers_when: Option<String>,
    #[server(default)] day_1: Option<String>,
    #[server(default)] day_2: Option<String>,
    #[server(default)] day_3: Option<String>,
    #[server(default)] day_4: Option<String>,
    #[server(default)] day_5: Option<String>,
    #[server(default)] day_6: Option<String>,
    #[server(default)] day_7: Option<String>,
    #[server(default)] hours_open: String,
    #[server(default)] hours_close: String,
    #[server(default)] time_zone: String,
    #[server(default)] away_message: String,
) -> Result<(), ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    let ticked = [day_1, day_2, day_3, day_4, day_5, day_6, day_7];
    let hours = answers_when.as_deref().map(|answers_when| ssr::HoursInput {
        answers_when,
        days: (1..=7)
            .filter(|d| ticked[usize::from(*d as u8 - 1)].is_some())
            .collect(),
        open: &hours_open,
        close: &hours_close,
        time_zone: &time_zone,
        away_message: &away_message,
    });
    let choices = ssr::SettingsInput {
        mode: &mode,
        disclosure: &disclosure,
        escalate_above: &escalate_above,
        hand_back_after: &hand_back_after,
        facts: facts.as_deref(),
        token_budget: token_budget.as_deref(),
        tone: tone.as_deref(),
        hours,
    };
    Ok(ssr::save_settings(&state, shop.shop_id, choices).await?)
}

/// The shop's saved answers, newest first.
#[server(endpoint = "agent/faq/list", client = crate::api_client::ApiClient)]
pub async fn list_faq() -> Result<Vec<FaqEntry>, ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(faq::list(&state.pool, shop.shop_id).await?)
}

/// Adds a saved answer, or changes one (`id`).
#[server(endpoint = "agent/faq/save", client = crate::api_client::ApiClient)]
pub async fn save_faq(
    #[server(default)] id: Option<Uuid>,
    question: String,
    answer: String,
) -> Result<Uuid, ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(faq::save(&state.pool, shop.shop_id, id, &question, &answer).await?)
}

#[server(endpoint = "agent/faq/delete", client = crate::api_client::ApiClient)]
pub async fn delete_faq(id: Uuid) -> Result<(), ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(faq::delete(&state.pool, shop.shop_id, id).await?)
}

/// From the inbox: the right answer to a question the agent got wrong, or one of the
/// merchant's own replies, kept as a saved answer.
#[server(endpoint = "agent/faq/from-message", client = crate::api_client::ApiClient)]
pub async fn faq_from_message(
    message_id: Uuid,
    question: String,
    answer: String,
) -> Result<Uuid, ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(faq::from_message(&state.pool, shop.shop_id, message_id, &question, &answer).await?)
}

/// "Try your agent": the merchant's test conversation with their own shop.
#[server(endpoint = "agent/try/get", client = crate::api_client::ApiClient)]
pub async fn get_playground() -> Result<Playground, ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(playground::view(&state, shop.shop_id).await?)
}

/// Writes to the shop as its test customer: text, or a tap on a reply button or list row
/// (`kind` button or list, `reply_id` the choice's id).
#[server(endpoint = "agent/try/say", client = crate::api_client::ApiClient)]
pub async fn playground_say(
    #[server(default)] kind: Option<String>,
    #[server(default)] text: String,
    #[server(default)] reply_id: Option<String>,
) -> Result<(), ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    let say = playground::Say {
        kind: kind.as_deref().unwrap_or("text"),
        text: &text,
        reply_id: reply_id.as_deref(),
    };
    Ok(playground::say(&state, shop.shop_id, say).await?)
}

#[server(endpoint = "agent/try/start-over", client = crate::api_client::ApiClient)]
pub async fn playground_start_over() -> Result<(), ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(playground::start_over(&state, shop.shop_id).await?)
}
