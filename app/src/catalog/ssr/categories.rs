//! Categories: names, their order, and the storefront addresses made from the names.

use super::swap_with_neighbour;
use crate::catalog::{Category, slugify};
use crate::error::{AppError, AppResult};
use crate::shop::ssr::bump_catalog_version;
use crate::state::AppState;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

pub async fn list_categories(pool: &PgPool, shop_id: Uuid) -> AppResult<Vec<Category>> {
    Ok(sqlx::query_as(
        "select c.id, c.name, c.slug, c.position,
                (select count(*) from product_categories pc where pc.category_id = c.id) as product_count
         from categories c where c.shop_id = $1 order by c.position, c.name",
    )
    .bind(shop_id)
    .fetch_all(pool)
    .await?)
}

fn validate_category_name(name: &str) -> AppResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(AppError::validation(
            "name",
            "Enter a category name of up to 80 characters.",
        ));
    }
    Ok(name.to_string())
}

fn category_conflict(e: sqlx::Error) -> AppError {
    match &e {
        sqlx::Error::Database(db) if db.constraint() == Some("categories_shop_id_slug_key") => {
            AppError::validation("name", "You already have a category with this name.")
        }
        _ => e.into(),
    }
}

pub async fn create_category(state: &AppState, shop_id: Uuid, name: &str) -> AppResult<Uuid> {
    let name = validate_category_name(name)?;
    let mut tx = state.pool.begin().await?;
    let id = insert_category(&mut tx, shop_id, &name).await?;
    bump_catalog_version(&mut tx, shop_id).await?;
    tx.commit().await?;
    Ok(id)
}

async fn insert_category(conn: &mut PgConnection, shop_id: Uuid, name: &str) -> AppResult<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query(
        "insert into categories (id, shop_id, name, slug, position)
         values ($1, $2, $3, $4, coalesce((select max(position) + 1 from categories where shop_id = $2), 0))",
    )
    .bind(id)
    .bind(shop_id)
    .bind(name)
    .bind(slugify(name, "category"))
    .execute(&mut *conn)
    .await
    .map_err(category_conflict)?;
    Ok(id)
}

pub async fn rename_category(
    state: &AppState,
    shop_id: Uuid,
    id: Uuid,
    name: &str,
) -> AppResult<()> {
    let name = validate_category_name(name)?;
    let mut tx = state.pool.begin().await?;
    let done =
        sqlx::query("update categories set name = $3, slug = $4 where id = $1 and shop_id = $2")
            .bind(id)
            .bind(shop_id)
            .bind(&name)
            .bind(slugify(&name, "category"))
            .execute(&mut *tx)
            .await
            .map_err(category_conflict)?;
    if done.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    bump_catalog_version(&mut tx, shop_id).await?;
    tx.commit().await?;
    Ok(())
}

/// Swaps a category with its neighbour above (`up`) or below.
pub async fn move_category(state: &AppState, shop_id: Uuid, id: Uuid, up: bool) -> AppResult<()> {
    let mut tx = state.pool.begin().await?;
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "select id from categories where shop_id = $1 order by position, name for update",
    )
    .bind(shop_id)
    .fetch_all(&mut *tx)
    .await?;
    let Some(index) = ids.iter().position(|c| *c == id) else {
        return Err(AppError::NotFound);
    };
    let mut ids = ids;
    if swap_with_neighbour(&mut ids, index, up) {
        sqlx::query(
            "update categories c set position = t.ord - 1
             from unnest($2::uuid[]) with ordinality as t(id, ord)
             where c.id = t.id and c.shop_id = $1",
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

pub async fn delete_category(state: &AppState, shop_id: Uuid, id: Uuid) -> AppResult<()> {
    let mut tx = state.pool.begin().await?;
    let done = sqlx::query("delete from categories where id = $1 and shop_id = $2")
        .bind(id)
        .bind(shop_id)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    bump_catalog_version(&mut tx, shop_id).await?;
    tx.commit().await?;
    Ok(())
}
