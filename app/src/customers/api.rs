//! Customer server functions.

use super::{CustomerDetail, CustomerSummary};
use crate::error::ApiError;
use leptos::prelude::*;
use uuid::Uuid;

#[cfg(feature = "ssr")]
use {super::ssr, crate::request::require_shop, crate::state::use_state};

#[server(endpoint = "customers/list", client = crate::api_client::ApiClient)]
pub async fn list_customers(
    #[server(default)] q: Option<String>,
) -> Result<Vec<CustomerSummary>, ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(ssr::list(&state, shop.shop_id, q.as_deref()).await?)
}

#[server(endpoint = "customers/get", client = crate::api_client::ApiClient)]
pub async fn get_customer(id: Uuid) -> Result<CustomerDetail, ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(ssr::get(&state, shop.shop_id, id).await?)
}
