//! Products: validation, writes, the dashboard list and the edit form's data.

use super::{like_pattern, shop_currency};
use crate::catalog::{
    PER_PAGE, ProductDetail, ProductList, ProductQuery, ProductRow, ProductStatus, is_valid_slug,
    slugify,
};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::media::ssr::ImageRow;
use crate::money::{format_money, format_plain, parse_money};
use crate::shop::ssr::bump_catalog_version;
use crate::state::AppState;
use sqlx::PgConnection;
use uuid::Uuid;

/// What a merchant submits for a product (amounts as typed).
#[derive(Debug, Clone, Default)]
pub struct ProductInput {
    pub title: String,
    pub slug: String,
    pub description: String,
    pub price: String,
    pub compare_at_price: String,
    pub sku: String,
    pub track_stock: bool,
    pub stock: String,
    pub status: String,
    pub categories: Vec<Uuid>,
}

/// A checked product, ready to write.
#[derive(Debug, Clone)]
pub struct ValidProduct {
    pub title: String,
    pub slug: String,
    pub description: String,
    pub price_minor: i64,
    pub compare_at_minor: Option<i64>,
    pub sku: Option<String>,
    pub track_stock: bool,
    pub stock: i32,
    pub status: ProductStatus,
    pub categories: Vec<Uuid>,
}

pub fn validate_product(input: &ProductInput, currency: &str) -> Result<ValidProduct, FieldErrors> {
    validate(input, currency, true)
}

/// `one_form`: the product has no options, so the form's price, SKU and stock are its
/// variant's. With options they live in the variant table and the form does not send them.
fn validate(
    input: &ProductInput,
    currency: &str,
    one_form: bool,
) -> Result<ValidProduct, FieldErrors> {
    let mut errors = FieldErrors::new();
    let title = input.title.trim().to_string();
    if title.is_empty() {
        errors.insert("title".into(), "Give the product a title.".into());
    } else if title.chars().count() > 200 {
        errors.insert(
            "title".into(),
            "Keep the title under 200 characters.".into(),
        );
    }
    let slug = if input.slug.trim().is_empty() {
        slugify(&title, "product")
    } else {
        input.slug.trim().to_lowercase()
    };
    if !is_valid_slug(&slug) {
        errors.insert(
            "slug".into(),
            "Use lowercase letters, digits and single hyphens (like blue-adire-scarf).".into(),
        );
    }
    let description = input.description.trim().to_string();
    if description.chars().count() > 10_000 {
        errors.insert(
            "description".into(),
            "Keep the description under 10,000 characters.".into(),
        );
    }
    let price = if one_form {
        parse_money(&input.price, currency)
    } else {
        Ok(0)
    };
    if let Err(m) = &price {
        errors.insert("price".into(), m.clone());
    }
    let compare_at = if !one_form || input.compare_at_price.trim().is_empty() {
        Ok(None)
    } else {
        parse_money(&input.compare_at_price, currency).map(Some)
    };
    match (&price, &compare_at) {
        (_, Err(m)) => {
            errors.insert("compare_at_price".into(), m.clone());
        }
        (Ok(p), Ok(Some(c))) if c <= p => {
            errors.insert(
                "compare_at_price".into(),
                "The compare-at price is the old, higher price: make it more than the price, or leave it empty.".into(),
            );
        }
        _ => {}
    }
    let sku = Some(input.sku.trim().to_string()).filter(|s| !s.is_empty());
    if sku
        .as_ref()
        .is_some_and(|s| s.chars().count() > 64 || s.chars().any(char::is_control))
    {
        errors.insert("sku".into(), "Keep the SKU under 64 characters.".into());
    }
    let stock = if !one_form || input.stock.trim().is_empty() {
        Ok(0)
    } else {
        input.stock.trim().parse::<i32>()
    };
    let stock = match stock {
        Ok(n) if n >= 0 => n,
        _ => {
            errors.insert(
                "stock".into(),
                "Enter the number in stock as a whole number, 0 or more.".into(),
            );
            0
        }
    };
    let status = ProductStatus::parse(&input.status);
    if status.is_none() {
        errors.insert("status".into(), "Choose draft, active or archived.".into());
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut categories = input.categories.clone();
    categories.sort();
    categories.dedup();
    Ok(ValidProduct {
        title,
        slug,
        description,
        price_minor: price.expect("checked"),
        compare_at_minor: compare_at.expect("checked"),
        sku,
        track_stock: input.track_stock,
        stock,
        status: status.expect("checked"),
        categories,
    })
}

pub(crate) fn map_unique(e: sqlx::Error) -> AppError {
    if let sqlx::Error::Database(db) = &e {
        match db.constraint() {
            Some("products_shop_id_slug_key") => {
                return AppError::validation(
                    "slug",
                    "Another product already uses this URL. Change the slug.",
                );
            }
            Some("product_variants_shop_sku_key") => {
                return AppError::validation(
                    "sku",
                    "Another product or variant already has this SKU.",
                );
            }
            // A category id that is not one of this shop's.
            Some("product_categories_shop_id_category_id_fkey") => return AppError::NotFound,
            _ => {}
        }
    }
    AppError::from(e)
}

/// Inserts or updates one product inside a transaction. `id` = None creates.
pub async fn write_product(
    conn: &mut PgConnection,
    shop_id: Uuid,
    id: Option<Uuid>,
    p: &ValidProduct,
) -> AppResult<Uuid> {
    let id = match id {
        None => {
            let id = Uuid::now_v7();
            // Price, stock and SKU here are only the first summary: the variant written below
            // is the truth, and the trigger on product_variants keeps this row in step.
            sqlx::query(
                "insert into products (id, shop_id, title, slug, description, price_minor, compare_at_minor,
                                       track_stock, stock, status)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(id)
            .bind(shop_id)
            .bind(&p.title)
            .bind(&p.slug)
            .bind(&p.description)
            .bind(p.price_minor)
            .bind(p.compare_at_minor)
            .bind(p.track_stock)
            .bind(p.stock)
            .bind(p.status.as_str())
            .execute(&mut *conn)
            .await
            .map_err(map_unique)?;
            id
        }
        Some(id) => {
            let done = sqlx::query(
                "update products set title = $3, slug = $4, description = $5, status = $6, updated_at = now()
                 where id = $1 and shop_id = $2",
            )
            .bind(id)
            .bind(shop_id)
            .bind(&p.title)
            .bind(&p.slug)
            .bind(&p.description)
            .bind(p.status.as_str())
            .execute(&mut *conn)
            .await
            .map_err(map_unique)?;
            if done.rows_affected() == 0 {
                return Err(AppError::NotFound);
            }
            sqlx::query("delete from product_categories where product_id = $1 and shop_id = $2")
                .bind(id)
                .bind(shop_id)
                .execute(&mut *conn)
                .await?;
            id
        }
    };
    // A product sold in one form: its one variant carries the price, SKU and stock. (A new
    // product's variant shares its id, so a cart line can name either.) A product with
    // options keeps its variants as the variant table saved them.
    sqlx::query(
        "insert into product_variants (id, shop_id, product_id, sku, price_minor, compare_at_minor, track_stock, stock)
         select $1, $2, $1, $3, $4, $5, $6, $7
         where not exists (select 1 from product_options where product_id = $1)
         on conflict (product_id, options) do update set
             sku = excluded.sku, price_minor = excluded.price_minor, compare_at_minor = excluded.compare_at_minor,
             track_stock = excluded.track_stock, stock = excluded.stock, updated_at = now()",
    )
    .bind(id)
    .bind(shop_id)
    .bind(&p.sku)
    .bind(p.price_minor)
    .bind(p.compare_at_minor)
    .bind(p.track_stock)
    .bind(p.stock)
    .execute(&mut *conn)
    .await
    .map_err(map_unique)?;
    if !p.categories.is_empty() {
        sqlx::query(
            "insert into product_categories (shop_id, product_id, category_id)
             select $1, $2, unnest($3::uuid[])",
        )
        .bind(shop_id)
        .bind(id)
        .bind(&p.categories)
        .execute(&mut *conn)
        .await
        .map_err(map_unique)?;
    }
    Ok(id)
}

pub async fn save_product(
    state: &AppState,
    shop_id: Uuid,
    id: Option<Uuid>,
    input: ProductInput,
) -> AppResult<Uuid> {
    let currency = shop_currency(&state.pool, shop_id).await?;
    let has_options = match id {
        Some(id) => sqlx::query_scalar(
            "select exists(select 1 from product_options where product_id = $1 and shop_id = $2)",
        )
        .bind(id)
        .bind(shop_id)
        .fetch_one(&state.pool)
        .await?,
        None => false,
    };
    let valid = validate(&input, &currency, !has_options).map_err(AppError::Validation)?;
    let mut tx = state.pool.begin().await?;
    let created = id.is_none();
    let id = write_product(&mut tx, shop_id, id, &valid).await?;
    let event = if created {
        "product_created"
    } else {
        "product_updated"
    };
    crate::analytics::ssr::record_event(&mut tx, shop_id, event).await?;
    bump_catalog_version(&mut tx, shop_id).await?;
    tx.commit().await?;
    tracing::info!(%shop_id, product_id = %id, "product saved");
    Ok(id)
}

pub async fn set_status(state: &AppState, shop_id: Uuid, id: Uuid, status: &str) -> AppResult<()> {
    let status = ProductStatus::parse(status)
        .ok_or_else(|| AppError::validation("status", "Choose draft, active or archived."))?;
    let mut tx = state.pool.begin().await?;
    let done = sqlx::query(
        "update products set status = $3, updated_at = now() where id = $1 and shop_id = $2",
    )
    .bind(id)
    .bind(shop_id)
    .bind(status.as_str())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    bump_catalog_version(&mut tx, shop_id).await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes a product and its images (rows first, in one transaction; stored files after).
pub async fn delete_product(state: &AppState, shop_id: Uuid, id: Uuid) -> AppResult<()> {
    let mut tx = state.pool.begin().await?;
    let images: Vec<ImageRow> = sqlx::query_as(
        "delete from images where product_id = $1 and shop_id = $2
         returning id, backend, storage_key, version, width, height, alt",
    )
    .bind(id)
    .bind(shop_id)
    .fetch_all(&mut *tx)
    .await?;
    let done = sqlx::query("delete from products where id = $1 and shop_id = $2")
        .bind(id)
        .bind(shop_id)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    bump_catalog_version(&mut tx, shop_id).await?;
    tx.commit().await?;
    for image in images {
        if let Err(e) = state.media.delete(&image).await {
            tracing::warn!(error = ?e, image_id = %image.id, "image of a deleted product could not be removed from storage");
        }
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct ListRow {
    id: Uuid,
    title: String,
    slug: String,
    status: String,
    price_minor: i64,
    compare_at_minor: Option<i64>,
    sku: Option<String>,
    track_stock: bool,
    stock: i32,
    img_id: Option<Uuid>,
    img_backend: Option<String>,
    img_key: Option<String>,
    img_version: Option<i64>,
    img_width: Option<i32>,
    img_height: Option<i32>,
    img_alt: Option<String>,
    total: i64,
}

fn image_from(
    id: Option<Uuid>,
    backend: Option<String>,
    key: Option<String>,
    version: Option<i64>,
    w: Option<i32>,
    h: Option<i32>,
    alt: Option<String>,
) -> Option<ImageRow> {
    Some(ImageRow {
        id: id?,
        backend: backend?,
        storage_key: key?,
        version,
        width: w.unwrap_or(1),
        height: h.unwrap_or(1),
        alt: alt.unwrap_or_default(),
    })
}

pub async fn list_products(
    state: &AppState,
    shop_id: Uuid,
    query: &ProductQuery,
) -> AppResult<ProductList> {
    let currency = shop_currency(&state.pool, shop_id).await?;
    // Clamped so the offset cannot overflow; a page past the end is simply empty.
    let page = query.page.unwrap_or(1).clamp(1, crate::catalog::MAX_PAGE);
    let q = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let status = query
        .status
        .as_deref()
        .and_then(ProductStatus::parse)
        .map(ProductStatus::as_str);
    // Whitelisted: the ORDER BY is chosen from fixed strings, never from input.
    let order = match query.sort.as_deref() {
        Some("oldest") => "p.created_at asc, p.id",
        Some("title") => "lower(p.title) asc, p.id",
        Some("price_asc") => "p.price_minor asc, p.id",
        Some("price_desc") => "p.price_minor desc, p.id",
        Some("updated") => "p.updated_at desc, p.id",
        _ => "p.created_at desc, p.id",
    };
    let sql = format!(
        "select p.id, p.title, p.slug, p.status, p.price_minor, p.compare_at_minor, p.sku, p.track_stock, p.stock,
                i.id as img_id, i.backend as img_backend, i.storage_key as img_key, i.version as img_version,
                i.width as img_width, i.height as img_height, i.alt as img_alt,
                count(*) over () as total
         from products p
         left join lateral (
             select * from images where images.product_id = p.id order by position, created_at limit 1
         ) i on true
         where p.shop_id = $1
           and ($2::text is null or p.status = $2)
           and ($3::uuid is null or exists (
                 select 1 from product_categories pc where pc.product_id = p.id and pc.category_id = $3))
           and ($4::text is null
                or p.search @@ websearch_to_tsquery('simple', $4)
                or p.title ilike $5
                or p.sku ilike $5
                or exists (select 1 from product_variants v where v.product_id = p.id and v.sku ilike $5))
         order by {order}
         limit $6 offset $7"
    );
    let rows: Vec<ListRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(shop_id)
        .bind(status)
        .bind(query.category)
        .bind(q)
        .bind(q.map(like_pattern))
        .bind(PER_PAGE)
        .bind((page - 1) * PER_PAGE)
        .fetch_all(&state.pool)
        .await?;
    let total = rows.first().map_or(0, |r| r.total);
    let items = rows
        .into_iter()
        .map(|r| ProductRow {
            thumb: image_from(
                r.img_id,
                r.img_backend,
                r.img_key,
                r.img_version,
                r.img_width,
                r.img_height,
                r.img_alt,
            )
            .map(|i| state.media.view(&i)),
            id: r.id,
            title: r.title,
            slug: r.slug,
            status: r.status,
            price: format_money(r.price_minor, &currency),
            compare_at: r.compare_at_minor.map(|c| format_money(c, &currency)),
            sku: r.sku,
            stock_label: if r.track_stock {
                format!("{} in stock", r.stock)
            } else {
                "Not tracked".into()
            },
        })
        .collect();
    Ok(ProductList {
        items,
        total,
        page,
        pages: ((total + PER_PAGE - 1) / PER_PAGE).max(1),
    })
}

#[derive(sqlx::FromRow)]
struct DetailRow {
    id: Uuid,
    title: String,
    slug: String,
    description: String,
    price_minor: i64,
    compare_at_minor: Option<i64>,
    sku: Option<String>,
    track_stock: bool,
    stock: i32,
    status: String,
    currency: String,
    category_ids: Vec<Uuid>,
}

pub async fn get_product(state: &AppState, shop_id: Uuid, id: Uuid) -> AppResult<ProductDetail> {
    let row: DetailRow = sqlx::query_as(
        "select p.id, p.title, p.slug, p.description, p.price_minor, p.compare_at_minor, p.sku, p.track_stock,
                p.stock, p.status, s.currency,
                array(select category_id from product_categories pc where pc.product_id = p.id) as category_ids
         from products p join shops s on s.id = p.shop_id
         where p.id = $1 and p.shop_id = $2",
    )
    .bind(id)
    .bind(shop_id)
    .fetch_optional(&state.pool)
    .await?
    .ok_or(AppError::NotFound)?;
    let images: Vec<ImageRow> = sqlx::query_as(
        "select id, backend, storage_key, version, width, height, alt from images
         where product_id = $1 and shop_id = $2 order by position, created_at",
    )
    .bind(id)
    .bind(shop_id)
    .fetch_all(&state.pool)
    .await?;
    let mut conn = state.pool.acquire().await?;
    let (options, variants) = super::variants::load(&mut conn, shop_id, id, &row.currency).await?;
    Ok(ProductDetail {
        options,
        variants,
        id: row.id,
        title: row.title,
        slug: row.slug,
        description: row.description,
        price: format_plain(row.price_minor, &row.currency),
        compare_at_price: row
            .compare_at_minor
            .map(|c| format_plain(c, &row.currency))
            .unwrap_or_default(),
        sku: row.sku.unwrap_or_default(),
        track_stock: row.track_stock,
        stock: row.stock,
        status: row.status,
        category_ids: row.category_ids,
        images: images.iter().map(|i| state.media.view(i)).collect(),
        currency: row.currency,
        cloudinary: state.media.is_cloudinary(),
    })
}

/// What a product card sent on WhatsApp shows: read from the database, never typed.
pub struct ProductCard {
    pub title: String,
    pub price: String,
    /// The storefront page, absolute.
    pub url: String,
    /// A public JPEG WhatsApp can fetch (its `link` must be public, with an image type).
    pub image_url: Option<String>,
}

pub async fn product_card(
    state: &AppState,
    shop_id: Uuid,
    id: Uuid,
) -> AppResult<Option<ProductCard>> {
    let row: Option<(String, i64, String, String, String)> = sqlx::query_as(
        "select p.title, p.price_minor, s.currency, s.slug, p.slug from products p
         join shops s on s.id = p.shop_id
         where p.id = $1 and p.shop_id = $2 and p.status = 'active'",
    )
    .bind(id)
    .bind(shop_id)
    .fetch_optional(&state.pool)
    .await?;
    let Some((title, price, currency, shop_slug, product_slug)) = row else {
        return Ok(None);
    };
    let image: Option<ImageRow> = sqlx::query_as(
        "select id, backend, storage_key, version, width, height, alt from images
         where product_id = $1 and shop_id = $2 order by position limit 1",
    )
    .bind(id)
    .bind(shop_id)
    .fetch_optional(&state.pool)
    .await?;
    Ok(Some(ProductCard {
        title,
        price: crate::money::format_money(price, &currency),
        url: format!("{}/s/{shop_slug}/p/{product_slug}", state.config.public_url),
        image_url: image.map(|i| public_image_url(state, &i)),
    }))
}

/// One of the shop's images as a public JPEG URL (for sending on WhatsApp).
pub async fn image_url(
    state: &AppState,
    shop_id: Uuid,
    image_id: Uuid,
) -> AppResult<Option<String>> {
    let image: Option<ImageRow> = sqlx::query_as(
        "select id, backend, storage_key, version, width, height, alt from images
         where id = $1 and shop_id = $2",
    )
    .bind(image_id)
    .bind(shop_id)
    .fetch_optional(&state.pool)
    .await?;
    Ok(image.map(|i| public_image_url(state, &i)))
}

fn public_image_url(state: &AppState, image: &ImageRow) -> String {
    let src = state.media.view(image).src;
    if src.starts_with('/') {
        format!("{}{src}", state.config.public_url)
    } else {
        // WhatsApp needs a JPEG, not whatever format Cloudinary would negotiate.
        src.replace("f_auto", "f_jpg")
    }
}
