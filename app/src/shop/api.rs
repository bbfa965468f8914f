//! Shop settings server functions.

use super::ShopSettings;
use crate::error::ApiError;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use {super::ssr, crate::request::require_shop, crate::state::use_state};

#[server(endpoint = "shop/settings", client = crate::api_client::ApiClient)]
pub async fn get_shop_settings() -> Result<ShopSettings, ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(ssr::load_settings(&state, shop.shop_id).await?)
}

#[server(endpoint = "shop/settings/update", client = crate::api_client::ApiClient)]
pub async fn update_shop_settings(
    name: String,
    slug: String,
    description: String,
    currency: String,
    whatsapp_number: String,
    contact_email: String,
    address: String,
    /// Left out (an older form, a script): the shop keeps its zone.
    #[server(default)]
    time_zone: String,
    /// A checkbox: present ("on") when ticked.
    #[server(default)]
    notify_new_orders: Option<String>,
) -> Result<ShopSettings, ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    let input = ssr::SettingsInput {
        name,
        slug,
        description,
        currency,
        time_zone,
        whatsapp_number,
        contact_email,
        address,
        notify_new_orders: notify_new_orders.is_some(),
    };
    Ok(ssr::update_settings(&state, shop.shop_id, input).await?)
}

#[server(endpoint = "shop/logo/remove", client = crate::api_client::ApiClient)]
pub async fn remove_logo() -> Result<(), ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(ssr::remove_logo(&state, shop.shop_id).await?)
}
