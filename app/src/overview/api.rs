//! The overview's server function.

use super::Overview;
use crate::error::ApiError;
use leptos::prelude::*;

/// The merchant copied their storefront link to share it (the checklist's last step).
#[server(endpoint = "overview/link-shared", client = crate::api_client::ApiClient)]
pub async fn mark_link_shared() -> Result<(), ApiError> {
    let state = crate::state::use_state()?;
    let shop = crate::request::require_shop(&state.pool).await?;
    let mut conn = state
        .pool
        .acquire()
        .await
        .map_err(crate::error::AppError::from)?;
    crate::analytics::ssr::record_event(&mut conn, shop.shop_id, "storefront_link_shared").await?;
    Ok(())
}

#[server(endpoint = "overview", client = crate::api_client::ApiClient)]
pub async fn get_overview() -> Result<Overview, ApiError> {
    let state = crate::state::use_state()?;
    let shop = crate::request::require_shop(&state.pool).await?;
    Ok(super::ssr::overview(&state, shop.shop_id).await?)
}
