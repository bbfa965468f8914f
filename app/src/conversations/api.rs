//! Inbox server functions: thin — take the shop from the session, call the service.

use super::{ConversationRow, ConversationView, InboxQuery, Outgoing, ShopPhoto};
use crate::error::ApiError;
use leptos::prelude::*;
use uuid::Uuid;

#[cfg(feature = "ssr")]
use {super::ssr, crate::request::require_shop, crate::state::use_state};

#[server(endpoint = "inbox/list", client = crate::api_client::ApiClient)]
pub async fn list_conversations(
    #[server(default)] query: InboxQuery,
) -> Result<Vec<ConversationRow>, ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(ssr::list(&state, shop.shop_id, &query).await?)
}

/// One conversation. Opening it marks the customer's messages read (here and on WhatsApp).
#[server(endpoint = "inbox/get", client = crate::api_client::ApiClient)]
pub async fn get_conversation(
    id: Uuid,
    #[server(default)] mark_read: bool,
) -> Result<ConversationView, ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(ssr::get(&state, shop.shop_id, id, mark_read).await?)
}

/// Queues a message; `idempotency_key` comes from the composer so a double submit sends once.
#[server(endpoint = "inbox/send", input = server_fn::codec::Json, client = crate::api_client::ApiClient)]
pub async fn send_message(
    id: Uuid,
    message: Outgoing,
    idempotency_key: String,
) -> Result<Uuid, ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(ssr::send(&state, shop.shop_id, id, message, &idempotency_key).await?)
}

#[server(endpoint = "inbox/retry", client = crate::api_client::ApiClient)]
pub async fn retry_message(id: Uuid) -> Result<(), ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(ssr::retry(&state, shop.shop_id, id).await?)
}

/// Downloads an inbound attachment again (while Meta still has it).
#[server(endpoint = "inbox/media-retry", client = crate::api_client::ApiClient)]
pub async fn retry_media(id: Uuid) -> Result<(), ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(ssr::retry_media(&state, shop.shop_id, id).await?)
}

/// "ai" or "human": who answers this conversation.
#[server(endpoint = "inbox/mode", client = crate::api_client::ApiClient)]
pub async fn set_mode(id: Uuid, mode: String) -> Result<(), ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(ssr::set_mode(&state, shop.shop_id, id, &mode).await?)
}

/// Conversations with unread messages (the badge in the dashboard navigation).
#[server(endpoint = "inbox/unread-count", client = crate::api_client::ApiClient)]
pub async fn unread_count() -> Result<i64, ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(ssr::unread_count(&state, shop.shop_id).await?)
}

/// The shop's images, newest first, for the composer's "Send a photo".
#[server(endpoint = "inbox/photos", client = crate::api_client::ApiClient)]
pub async fn shop_photos() -> Result<Vec<ShopPhoto>, ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(ssr::shop_photos(&state, shop.shop_id).await?)
}
