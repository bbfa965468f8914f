//! The storefront's one server function. During server rendering it runs in-process; after
//! hydration, client-side navigation calls it over HTTP.

use super::StorePage;
#[cfg(feature = "ssr")]
use super::{StoreRoute, StoreView};
use crate::error::ApiError;
use leptos::prelude::*;

/// `view` is home, category, product or search; `key` is the category or product slug or the
/// search text.
#[server(endpoint = "storefront/page")]
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
    let route = StoreRoute {
        shop,
        view,
        page: page.max(1),
    };
    Ok(super::ssr::load_page(&state, &route).await?)
}
