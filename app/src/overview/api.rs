//! The overview's server function.

use super::Overview;
use crate::error::ApiError;
use leptos::prelude::*;

#[server(endpoint = "overview")]
pub async fn get_overview() -> Result<Overview, ApiError> {
    let state = crate::state::use_state()?;
    let shop = crate::request::require_shop(&state.pool).await?;
    Ok(super::ssr::overview(&state, shop.shop_id).await?)
}
