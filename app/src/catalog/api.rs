//! Catalog server functions: thin wrappers that take the shop from the session.

use super::{Category, ProductDetail, ProductList, ProductQuery};
use crate::error::ApiError;
use leptos::prelude::*;
use uuid::Uuid;

#[cfg(feature = "ssr")]
use {super::ssr, crate::request::require_shop, crate::state::use_state};

#[server(endpoint = "catalog/products", client = crate::api_client::ApiClient)]
pub async fn list_products(
    #[server(default)] query: ProductQuery,
) -> Result<ProductList, ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(ssr::list_products(&state, shop.shop_id, &query).await?)
}

#[server(endpoint = "catalog/product", client = crate::api_client::ApiClient)]
pub async fn get_product(id: Uuid) -> Result<ProductDetail, ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(ssr::get_product(&state, shop.shop_id, id).await?)
}

/// Creates (no `id`) or updates a product, then shows its edit page.
#[server(endpoint = "catalog/product/save", client = crate::api_client::ApiClient)]
pub async fn save_product(
    #[server(default)] id: Option<Uuid>,
    title: String,
    #[server(default)] slug: String,
    #[server(default)] description: String,
    // Not sent for a product with options (its variants hold the prices).
    #[server(default)] price: String,
    #[server(default)] compare_at_price: String,
    #[server(default)] sku: String,
    #[server(default)] track_stock: Option<String>,
    #[server(default)] stock: String,
    status: String,
    #[server(default)] categories: Vec<Uuid>,
) -> Result<Uuid, ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    let input = ssr::ProductInput {
        title,
        slug,
        description,
        price,
        compare_at_price,
        sku,
        track_stock: track_stock.is_some(),
        stock,
        status,
        categories,
    };
    let created = id.is_none();
    let id = ssr::save_product(&state, shop.shop_id, id, input).await?;
    if created {
        // `created`: the product's page then uploads images chosen before the first save.
        leptos_axum::redirect(&format!("/dashboard/products/{id}?created=1"));
    }
    Ok(id)
}

#[server(endpoint = "catalog/product/status", client = crate::api_client::ApiClient)]
pub async fn set_product_status(id: Uuid, status: String) -> Result<(), ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(ssr::set_status(&state, shop.shop_id, id, &status).await?)
}

#[server(endpoint = "catalog/product/delete", client = crate::api_client::ApiClient)]
pub async fn delete_product(id: Uuid) -> Result<(), ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    ssr::delete_product(&state, shop.shop_id, id).await?;
    leptos_axum::redirect("/dashboard/products");
    Ok(())
}

/// Sets the product's options (`option_name[]` and `option_values[]` in parallel, values
/// separated by commas) and makes its variants match their combinations.
#[server(endpoint = "catalog/product/options", client = crate::api_client::ApiClient)]
pub async fn save_product_options(
    id: Uuid,
    #[server(default)] option_name: Vec<String>,
    #[server(default)] option_values: Vec<String>,
) -> Result<(), ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    let input: Vec<ssr::variants::OptionInput> = option_name
        .into_iter()
        .zip(
            option_values
                .into_iter()
                .chain(std::iter::repeat(String::new())),
        )
        .map(|(name, values)| ssr::variants::OptionInput { name, values })
        .collect();
    Ok(ssr::variants::set_options(&state, shop.shop_id, id, &input).await?)
}

/// Saves the variant table: one entry per variant in each of the parallel lists; the
/// checkboxes send the ids of the variants they are ticked for (`track[]`, `enabled[]`).
#[server(endpoint = "catalog/product/variants", client = crate::api_client::ApiClient)]
#[allow(clippy::too_many_arguments)]
pub async fn save_product_variants(
    id: Uuid,
    #[server(default)] variant: Vec<Uuid>,
    #[server(default)] sku: Vec<String>,
    #[server(default)] price: Vec<String>,
    #[server(default)] compare_at_price: Vec<String>,
    #[server(default)] stock: Vec<String>,
    #[server(default)] position: Vec<String>,
    #[server(default)] image: Vec<String>,
    #[server(default)] track: Vec<Uuid>,
    #[server(default)] enabled: Vec<Uuid>,
    #[server(default)] bulk_price: String,
    #[server(default)] bulk_stock: String,
) -> Result<(), ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    let n = variant.len();
    if [
        sku.len(),
        price.len(),
        compare_at_price.len(),
        stock.len(),
        position.len(),
        image.len(),
    ]
    .iter()
    .any(|len| *len != n)
    {
        return Err(crate::error::AppError::validation(
            "variants",
            "The variant table was sent incomplete. Reload the page and try again.",
        )
        .into());
    }
    let rows: Vec<ssr::variants::VariantInput> = (0..n)
        .map(|i| ssr::variants::VariantInput {
            id: variant[i],
            sku: sku[i].clone(),
            price: price[i].clone(),
            compare_at_price: compare_at_price[i].clone(),
            track_stock: track.contains(&variant[i]),
            stock: stock[i].clone(),
            enabled: enabled.contains(&variant[i]),
            image_id: image[i].parse().ok(),
            position: position[i].clone(),
        })
        .collect();
    let bulk = ssr::variants::BulkInput {
        price: bulk_price,
        stock: bulk_stock,
    };
    Ok(ssr::variants::save_variants(&state, shop.shop_id, id, &rows, &bulk).await?)
}

#[server(endpoint = "catalog/categories", client = crate::api_client::ApiClient)]
pub async fn list_categories() -> Result<Vec<Category>, ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(ssr::list_categories(&state.pool, shop.shop_id).await?)
}

#[server(endpoint = "catalog/category/create", client = crate::api_client::ApiClient)]
pub async fn create_category(name: String) -> Result<Uuid, ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(ssr::create_category(&state, shop.shop_id, &name).await?)
}

#[server(endpoint = "catalog/category/rename", client = crate::api_client::ApiClient)]
pub async fn rename_category(id: Uuid, name: String) -> Result<(), ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(ssr::rename_category(&state, shop.shop_id, id, &name).await?)
}

/// `direction` is "up" or "down".
#[server(endpoint = "catalog/category/move", client = crate::api_client::ApiClient)]
pub async fn move_category(id: Uuid, direction: String) -> Result<(), ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(ssr::move_category(&state, shop.shop_id, id, direction == "up").await?)
}

#[server(endpoint = "catalog/category/delete", client = crate::api_client::ApiClient)]
pub async fn delete_category(id: Uuid) -> Result<(), ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(ssr::delete_category(&state, shop.shop_id, id).await?)
}

/// Imports pasted CSV. Any bad row: nothing changes, and the error lists the bad lines (the
/// first 100). Size and row caps: see `csv::MAX_IMPORT_BYTES` and `csv::MAX_IMPORT_ROWS`.
#[server(endpoint = "catalog/import", client = crate::api_client::ApiClient)]
pub async fn import_catalog(csv: String) -> Result<super::ImportReport, ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    match super::csv::import(&state, shop.shop_id, csv).await? {
        Ok(report) => Ok(report),
        Err(rows) => {
            // A file that is wrong throughout would otherwise answer with thousands of lines.
            const SHOWN: usize = 100;
            let mut text = rows
                .iter()
                .take(SHOWN)
                .map(|r| format!("Line {}: {}", r.line, r.message))
                .collect::<Vec<_>>()
                .join("\n");
            if rows.len() > SHOWN {
                text.push_str(&format!(
                    "\n… and {} more problems. Fix these first, then import again to see the rest.",
                    rows.len() - SHOWN
                ));
            }
            Err(crate::error::AppError::validation(
                "csv",
                format!("Nothing was imported. Fix these rows and try again:\n{text}"),
            )
            .into())
        }
    }
}

/// The preview (dry run) of an uploaded Shopify or WooCommerce export, or once confirmed its
/// outcome and image downloads.
#[server(endpoint = "catalog/import/preview", client = crate::api_client::ApiClient)]
pub async fn import_preview(id: Uuid) -> Result<super::ImportPreview, ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(super::import::preview(&state, shop.shop_id, id).await?)
}

/// Writes an uploaded export (once) and queues its images.
#[server(endpoint = "catalog/import/confirm", client = crate::api_client::ApiClient)]
pub async fn confirm_import(id: Uuid) -> Result<super::ImportReport, ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(super::import::confirm(&state, shop.shop_id, id).await?)
}

/// Fetches a failed image of an import again.
#[server(endpoint = "catalog/import/retry-image", client = crate::api_client::ApiClient)]
pub async fn retry_import_image(id: Uuid) -> Result<(), ApiError> {
    let state = use_state()?;
    let shop = require_shop(&state.pool).await?;
    Ok(super::import::retry_image(&state, shop.shop_id, id).await?)
}
