//! The storefront's one server function. During server rendering it runs in-process; after
//! hydration, client-side navigation calls it over HTTP.

use super::StorePage;
#[cfg(feature = "ssr")]
use super::{StoreRoute, StoreView};
use crate::error::ApiError;
use leptos::prelude::*;

/// `view` is home, category, product or search; `key` is the category or product slug or the
/// search text.
#[server(endpoint = "storefront/page", client = crate::api_client::ApiClient)]
pub async fn storefront_page(
    shop: String,
    view: String,
    #[server(default)] key: String,
    #[server(default)] page: i64,
) -> Result<StorePage, ApiError> {
    let state = crate::state::use_state()?;
    let view = match view.as_str() {
        "home" => StoreView::Home,
        "category" => StoreView::Category(key),
        "product" => StoreView::Product(key),
        "search" => StoreView::Search(key),
        _ => return Err(ApiError::NotFound),
    };
    // Any page number is accepted; `load_page` clamps it (see `StoreRoute::normalized`).
    let route = StoreRoute { shop, view, page };
    Ok(super::ssr::load_page(&state, &route).await?)
}

/// The shopper's cart for this shop, priced from the database.
#[server(endpoint = "storefront/cart", client = crate::api_client::ApiClient)]
pub async fn cart_page(shop: String) -> Result<super::CartView, ApiError> {
    let state = crate::state::use_state()?;
    let parts = use_context::<http::request::Parts>().ok_or(ApiError::NotFound)?;
    let items = super::cart::read(&state, &parts.headers, &shop);
    Ok(super::cart::priced(&state, &shop, &items).await?)
}

/// The confirmation page of an order. The order id is a long random identifier that only the
/// shopper who placed it has seen; it shows nothing the shopper did not type.
#[server(endpoint = "storefront/order", client = crate::api_client::ApiClient)]
pub async fn order_confirmation(
    shop: String,
    id: uuid::Uuid,
) -> Result<crate::orders::OrderView, ApiError> {
    let state = crate::state::use_state()?;
    let shop_id: Option<uuid::Uuid> = sqlx::query_scalar("select id from shops where slug = $1")
        .bind(&shop)
        .fetch_optional(&state.pool)
        .await
        .map_err(crate::error::AppError::from)?;
    let shop_id = shop_id.ok_or(ApiError::NotFound)?;
    let mut order = crate::orders::ssr::get_order(&state, shop_id, id).await?;
    order.internal_note.clear();
    order.events.clear();
    Ok(order)
}
