//! Channel server functions: thin — take the shop from the session, call the service.

use super::{ChannelView, SignupResult};
use crate::error::ApiError;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use {super::ssr, crate::request::require_shop, crate::state::use_state};

#[server(endpoint = "whatsapp/channel", client = crate::api_client::ApiClient)]
pub async fn get_channel() -> Result<ChannelView, ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(ssr::channel_view(&state, shop.shop_id).await?)
}

/// Finishes Embedded Signup: exchanges the code at once and stores the account.
#[server(endpoint = "whatsapp/embedded-signup", input = server_fn::codec::Json, client = crate::api_client::ApiClient)]
pub async fn finish_embedded_signup(result: SignupResult) -> Result<(), ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(ssr::finish_embedded_signup(&state, shop.shop_id, result).await?)
}

/// Manual setup with the merchant's own Meta app: checked against the Graph API first.
#[server(endpoint = "whatsapp/manual-setup", client = crate::api_client::ApiClient)]
pub async fn manual_setup(
    phone_number_id: String,
    waba_id: String,
    access_token: String,
    app_secret: String,
) -> Result<(), ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    let input = ssr::ManualSetup {
        phone_number_id,
        waba_id,
        access_token,
        app_secret,
    };
    Ok(ssr::manual_setup(&state, shop.shop_id, input).await?)
}

#[server(endpoint = "whatsapp/disconnect", client = crate::api_client::ApiClient)]
pub async fn disconnect() -> Result<(), ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(ssr::disconnect(&state, shop.shop_id).await?)
}

#[server(endpoint = "whatsapp/settings", client = crate::api_client::ApiClient)]
pub async fn save_channel_settings(
    #[server(default)] alert_phone: String,
    #[server(default)] notify_order_updates: bool,
) -> Result<(), ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(ssr::save_settings(&state, shop.shop_id, &alert_phone, notify_order_updates).await?)
}

/// Fetches the account's templates from Meta (a job; the page shows them when it is done).
#[server(endpoint = "whatsapp/templates/sync", client = crate::api_client::ApiClient)]
pub async fn sync_templates() -> Result<(), ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(ssr::request_template_sync(&state, shop.shop_id).await?)
}

/// Submits the templates the product needs (escalation alert, order update) for approval.
#[server(endpoint = "whatsapp/templates/create", client = crate::api_client::ApiClient)]
pub async fn create_product_templates() -> Result<(), ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(ssr::create_product_templates(&state, shop.shop_id).await?)
}

/// The banner across the dashboard: set when the number needs reconnecting.
#[server(endpoint = "whatsapp/alert", client = crate::api_client::ApiClient)]
// `super::`: the macro names this function's own struct `ChannelAlert`.
pub async fn channel_alert() -> Result<Option<super::ChannelAlert>, ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(ssr::channel_alert(&state, shop.shop_id).await?)
}
