//! Product images: the rows of stored images, their alt text and order.

use crate::catalog::ssr::swap_with_neighbour;
use crate::error::{AppError, AppResult};
use crate::media::ssr::{ImageRow, StoredImage};
use crate::shop::ssr::bump_catalog_version;
use crate::state::AppState;
use uuid::Uuid;

/// Records a stored image for a product of this shop (or as a bare upload, e.g. a logo).
pub async fn insert_image(
    state: &AppState,
    shop_id: Uuid,
    product_id: Option<Uuid>,
    image: &StoredImage,
    alt: &str,
) -> AppResult<()> {
    let mut tx = state.pool.begin().await?;
    let result = sqlx::query(
        "insert into images (id, shop_id, product_id, backend, storage_key, version, width, height, bytes, format, alt, position)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
                 coalesce((select max(position) + 1 from images where product_id = $3), 0))",
    )
    .bind(image.id)
    .bind(shop_id)
    .bind(product_id)
    .bind(image.backend)
    .bind(&image.storage_key)
    .bind(image.version)
    .bind(image.width as i32)
    .bind(image.height as i32)
    .bind(image.bytes)
    .bind(&image.format)
    .bind(alt.trim())
    .execute(&mut *tx)
    .await;
    match result {
        // The product is not one of this shop's.
        Err(sqlx::Error::Database(db))
            if db.constraint() == Some("images_shop_id_product_id_fkey") =>
        {
            return Err(AppError::NotFound);
        }
        other => {
            other?;
        }
    }
    if product_id.is_some() {
        bump_catalog_version(&mut tx, shop_id).await?;
    }
    tx.commit().await?;
    Ok(())
}

pub async fn update_image_alt(
    state: &AppState,
    shop_id: Uuid,
    image_id: Uuid,
    alt: &str,
) -> AppResult<()> {
    let alt = alt.trim();
    if alt.chars().count() > 250 {
        return Err(AppError::validation(
            "alt",
            "Keep the description under 250 characters.",
        ));
    }
    let mut tx = state.pool.begin().await?;
    let done = sqlx::query("update images set alt = $3 where id = $1 and shop_id = $2")
        .bind(image_id)
        .bind(shop_id)
        .bind(alt)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    bump_catalog_version(&mut tx, shop_id).await?;
    tx.commit().await?;
    Ok(())
}

/// Moves an image one place earlier (`up`) or later among its product's images.
pub async fn move_image(
    state: &AppState,
    shop_id: Uuid,
    image_id: Uuid,
    up: bool,
) -> AppResult<()> {
    let mut tx = state.pool.begin().await?;
    let product_id: Option<Uuid> = sqlx::query_scalar(
        "select product_id from images where id = $1 and shop_id = $2 and product_id is not null",
    )
    .bind(image_id)
    .bind(shop_id)
    .fetch_optional(&mut *tx)
    .await?;
    let product_id = product_id.ok_or(AppError::NotFound)?;
    let mut ids: Vec<Uuid> =
        sqlx::query_scalar("select id from images where product_id = $1 and shop_id = $2 order by position, created_at for update")
            .bind(product_id)
            .bind(shop_id)
            .fetch_all(&mut *tx)
            .await?;
    let index = ids
        .iter()
        .position(|i| *i == image_id)
        .ok_or(AppError::NotFound)?;
    if swap_with_neighbour(&mut ids, index, up) {
        sqlx::query(
            "update images i set position = t.ord - 1
             from unnest($2::uuid[]) with ordinality as t(id, ord)
             where i.id = t.id and i.shop_id = $1",
        )
        .bind(shop_id)
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
        bump_catalog_version(&mut tx, shop_id).await?;
    }
    tx.commit().await?;
    Ok(())
}

pub async fn delete_image(state: &AppState, shop_id: Uuid, image_id: Uuid) -> AppResult<()> {
    let mut tx = state.pool.begin().await?;
    let row: Option<ImageRow> = sqlx::query_as(
        "delete from images where id = $1 and shop_id = $2
         returning id, backend, storage_key, version, width, height, alt",
    )
    .bind(image_id)
    .bind(shop_id)
    .fetch_optional(&mut *tx)
    .await?;
    let row = row.ok_or(AppError::NotFound)?;
    bump_catalog_version(&mut tx, shop_id).await?;
    tx.commit().await?;
    state.media.delete(&row).await
}
