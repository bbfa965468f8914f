//! Order server functions. Checkout is public (the shop comes from the storefront's slug);
//! the merchant's functions take the shop from the session.

use super::OrderView;
use crate::error::ApiError;
use leptos::prelude::*;
use uuid::Uuid;

#[cfg(feature = "ssr")]
use {super::ssr, crate::request::require_shop, crate::state::use_state};

/// Places an order. `product[]` and `quantity[]` are parallel lists; prices are never sent.
#[server(endpoint = "storefront/checkout", client = crate::api_client::ApiClient)]
pub async fn checkout(
    shop: String,
    name: String,
    phone: String,
    address: String,
    #[server(default)] note: String,
    idempotency_key: String,
    #[server(default)] product: Vec<Uuid>,
    #[server(default)] quantity: Vec<i32>,
) -> Result<Uuid, ApiError> {
    let state = use_state()?;
    state.limits.check_checkout(crate::request::request_ip()?)?;
    if product.len() != quantity.len() {
        return Err(crate::error::AppError::validation(
            "items",
            "The cart was sent incomplete. Reload the page and try again.",
        )
        .into());
    }
    let input = ssr::CheckoutInput {
        name,
        phone,
        address,
        note,
        idempotency_key,
        items: product.into_iter().zip(quantity).collect(),
    };
    let id = ssr::place_order(&state, &shop, input).await?;
    // The order exists: empty the cart and show the confirmation.
    crate::request::set_cookies(crate::storefront::cart::cookie_headers(&state, &shop, &[]));
    leptos_axum::redirect(&format!("/s/{shop}/order/{id}"));
    Ok(id)
}

#[server(endpoint = "orders/get", client = crate::api_client::ApiClient)]
pub async fn get_order(id: Uuid) -> Result<OrderView, ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(ssr::get_order(&state, shop.shop_id, id).await?)
}

/// `reason` (cancelling: kept in the order's history and told to the customer) and `notify`
/// ("on" or absent, as a checkbox posts it; absent from older forms means "on": the shop's
/// WhatsApp order updates decide).
#[server(endpoint = "orders/status", client = crate::api_client::ApiClient)]
pub async fn set_order_status(
    id: Uuid,
    status: String,
    #[server(default)] reason: String,
    #[server(default)] notify: Option<String>,
    #[server(default)] notify_shown: Option<String>,
) -> Result<(), ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    // A form that shows the checkbox says so: then an unticked box means "do not tell".
    let notify = notify.is_some() || notify_shown.is_none();
    Ok(ssr::set_status(
        &state,
        shop.shop_id,
        shop.merchant_id,
        id,
        &status,
        ssr::StatusNote {
            reason: reason.trim(),
            notify,
        },
    )
    .await?)
}

#[server(endpoint = "orders/list", client = crate::api_client::ApiClient)]
pub async fn list_orders(
    #[server(default)] query: super::OrderQuery,
) -> Result<super::OrderList, ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(ssr::list_orders(&state, shop.shop_id, &query).await?)
}

/// Orders waiting for the merchant (the badge in the dashboard navigation).
#[server(endpoint = "orders/new-count", client = crate::api_client::ApiClient)]
pub async fn new_order_count() -> Result<i64, ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(ssr::new_order_count(&state, shop.shop_id).await?)
}

#[server(endpoint = "orders/note", client = crate::api_client::ApiClient)]
pub async fn set_internal_note(
    id: Uuid,
    #[server(default)] internal_note: String,
) -> Result<(), ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(ssr::set_internal_note(&state, shop.shop_id, id, &internal_note).await?)
}
