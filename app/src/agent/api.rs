//! Agent server functions: thin — take the shop from the session, call the service.

use super::AgentSettings;
use crate::error::ApiError;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use {super::ssr, crate::request::require_shop, crate::state::use_state};

#[server(endpoint = "agent/settings/get")]
pub async fn get_agent_settings() -> Result<AgentSettings, ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(ssr::settings(&state, shop.shop_id).await?)
}

#[server(endpoint = "agent/settings")]
pub async fn save_agent_settings(
    mode: String,
    #[server(default)] disclosure: String,
    #[server(default)] escalate_above: String,
    #[server(default)] hand_back_after: String,
    // Absent when the form had no AI fields (no model on this server): kept as stored.
    #[server(default)] facts: Option<String>,
    #[server(default)] token_budget: Option<String>,
) -> Result<(), ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    let choices = ssr::SettingsInput {
        mode: &mode,
        disclosure: &disclosure,
        escalate_above: &escalate_above,
        hand_back_after: &hand_back_after,
        facts: facts.as_deref(),
        token_budget: token_budget.as_deref(),
    };
    Ok(ssr::save_settings(&state, shop.shop_id, choices).await?)
}
