//! Image server functions: alt text, order and removal of product images, and the two halves
//! of a direct browser upload to Cloudinary. Thin wrappers that take the shop from the session.
//! (Endpoint names keep their `catalog/image/…` paths, which the dashboard already uses.)

use crate::error::ApiError;
use leptos::prelude::*;
use uuid::Uuid;

#[cfg(feature = "ssr")]
use {crate::request::require_shop, crate::state::use_state};

#[server(endpoint = "catalog/image/alt", client = crate::api_client::ApiClient)]
pub async fn update_image_alt(id: Uuid, alt: String) -> Result<(), ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(super::images::update_image_alt(&state, shop.shop_id, id, &alt).await?)
}

#[server(endpoint = "catalog/image/move", client = crate::api_client::ApiClient)]
pub async fn move_image(id: Uuid, direction: String) -> Result<(), ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(super::images::move_image(&state, shop.shop_id, id, direction == "up").await?)
}

#[server(endpoint = "catalog/image/delete", client = crate::api_client::ApiClient)]
pub async fn delete_image(id: Uuid) -> Result<(), ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(super::images::delete_image(&state, shop.shop_id, id).await?)
}

/// Signs a direct browser upload to Cloudinary for this shop's folder.
#[server(endpoint = "media/sign", client = crate::api_client::ApiClient)]
pub async fn sign_upload() -> Result<crate::media::SignedUpload, ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    Ok(state.media.sign_upload(shop.shop_id, now)?)
}

/// Records an image the browser uploaded to Cloudinary, after checking Cloudinary's signature
/// and that it lies in this shop's folder.
#[server(endpoint = "media/confirm", client = crate::api_client::ApiClient)]
pub async fn confirm_upload(
    #[server(default)] product_id: Option<Uuid>,
    public_id: String,
    version: i64,
    signature: String,
    width: u32,
    height: u32,
    bytes: i64,
    format: String,
    #[server(default)] alt: String,
) -> Result<(), ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    state
        .media
        .verify_upload(shop.shop_id, &public_id, version, &signature)?;
    let image = crate::media::ssr::StoredImage {
        id: Uuid::now_v7(),
        backend: "cloudinary",
        storage_key: public_id,
        version: Some(version),
        width: width.clamp(1, 20_000),
        height: height.clamp(1, 20_000),
        bytes: bytes.max(0),
        format: format.chars().take(10).collect(),
    };
    super::images::insert_image(&state, shop.shop_id, product_id, &image, &alt).await?;
    if product_id.is_none() {
        crate::shop::ssr::set_logo(&state, shop.shop_id, image.id).await?;
    }
    Ok(())
}
