//! Catalog CSV export and import. Import is all or nothing: every row is checked first, and if
//! any row is wrong nothing changes and every problem is reported with its line number.

use super::ssr::{
    ProductInput, ValidProduct, insert_category, shop_currency, validate_product, write_product,
};
use super::{CSV_COLUMNS, ImportReport, RowError, slugify};
use crate::error::{AppError, AppResult};
use crate::money::format_plain;
use crate::shop::ssr::bump_catalog_version;
use crate::state::AppState;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

pub async fn export(state: &AppState, shop_id: Uuid) -> AppResult<String> {
    let currency = shop_currency(&state.pool, shop_id).await?;
    #[allow(clippy::type_complexity)]
    let rows: Vec<(Option<String>, String, String, String, i64, Option<i64>, String, bool, i32, Option<String>)> = sqlx::query_as(
        "select p.sku, p.title, p.slug, p.description, p.price_minor, p.compare_at_minor, p.status, p.track_stock, p.stock,
                (select string_agg(c.name, '|' order by c.position, c.name)
                   from product_categories pc join categories c on c.id = pc.category_id
                  where pc.product_id = p.id) as categories
         from products p where p.shop_id = $1 order by lower(p.title), p.id",
    )
    .bind(shop_id)
    .fetch_all(&state.pool)
    .await?;
    let mut out = csv::Writer::from_writer(Vec::new());
    let internal = |e: csv::Error| AppError::Internal(anyhow::anyhow!("writing CSV: {e}"));
    out.write_record(CSV_COLUMNS).map_err(internal)?;
    for (sku, title, slug, description, price, compare_at, status, track, stock, categories) in rows
    {
        out.write_record([
            sku.unwrap_or_default(),
            title,
            slug,
            description,
            format_plain(price, &currency),
            compare_at
                .map(|c| format_plain(c, &currency))
                .unwrap_or_default(),
            status,
            track.to_string(),
            stock.to_string(),
            categories.unwrap_or_default(),
        ])
        .map_err(internal)?;
    }
    let bytes = out
        .into_inner()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("writing CSV: {e}")))?;
    Ok(String::from_utf8(bytes).expect("CSV of UTF-8 strings is UTF-8"))
}

struct PlannedRow {
    target: Option<Uuid>,
    product: ValidProduct,
    category_names: Vec<String>,
}

pub async fn import(
    state: &AppState,
    shop_id: Uuid,
    text: &str,
) -> AppResult<Result<ImportReport, Vec<RowError>>> {
    let currency = shop_currency(&state.pool, shop_id).await?;
    let existing: Vec<(Uuid, Option<String>, String)> =
        sqlx::query_as("select id, sku, slug from products where shop_id = $1")
            .bind(shop_id)
            .fetch_all(&state.pool)
            .await?;
    let by_sku: HashMap<String, Uuid> = existing
        .iter()
        .filter_map(|(id, sku, _)| Some((sku.clone()?, *id)))
        .collect();
    let mut slug_owner: HashMap<String, Option<Uuid>> = existing
        .iter()
        .map(|(id, _, slug)| (slug.clone(), Some(*id)))
        .collect();
    let categories: Vec<(Uuid, String)> =
        sqlx::query_as("select id, name from categories where shop_id = $1")
            .bind(shop_id)
            .fetch_all(&state.pool)
            .await?;
    let mut category_ids: HashMap<String, Uuid> = categories
        .into_iter()
        .map(|(id, name)| (name.to_lowercase(), id))
        .collect();

    let mut errors = Vec::new();
    let mut planned = Vec::new();
    let mut seen_skus = HashSet::new();
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            return Ok(Err(vec![RowError {
                line: 1,
                message: format!("The header row could not be read: {e}"),
            }]));
        }
    };
    let index: HashMap<&str, usize> = headers.iter().enumerate().map(|(i, h)| (h, i)).collect();
    let missing: Vec<&str> = ["title", "price"]
        .into_iter()
        .filter(|c| !index.contains_key(c))
        .collect();
    if !missing.is_empty() {
        return Ok(Err(vec![RowError {
            line: 1,
            message: format!(
                "The header row lacks the column(s) {}. Expected: {}.",
                missing.join(", "),
                CSV_COLUMNS.join(",")
            ),
        }]));
    }
    let unknown: Vec<&str> = headers
        .iter()
        .filter(|h| !CSV_COLUMNS.contains(h))
        .collect();
    if !unknown.is_empty() {
        return Ok(Err(vec![RowError {
            line: 1,
            message: format!(
                "Unknown column(s): {}. Expected: {}.",
                unknown.join(", "),
                CSV_COLUMNS.join(",")
            ),
        }]));
    }
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                errors.push(RowError {
                    line,
                    message: format!("This line could not be read as CSV: {e}"),
                });
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let get = |name: &str| {
            index
                .get(name)
                .and_then(|i| record.get(*i))
                .unwrap_or("")
                .to_string()
        };
        let track = get("track_stock").to_lowercase();
        let track_stock = match track.as_str() {
            "" | "false" | "no" | "0" => false,
            "true" | "yes" | "1" => true,
            _ => {
                errors.push(RowError {
                    line,
                    message: "track_stock must be true or false.".into(),
                });
                continue;
            }
        };
        let status = get("status");
        let input = ProductInput {
            title: get("title"),
            slug: get("slug"),
            description: get("description"),
            price: get("price"),
            compare_at_price: get("compare_at_price"),
            sku: get("sku"),
            track_stock,
            stock: get("stock"),
            status: if status.is_empty() {
                "draft".into()
            } else {
                status.to_lowercase()
            },
            categories: Vec::new(),
        };
        let mut product = match validate_product(&input, &currency) {
            Ok(p) => p,
            Err(fields) => {
                for (field, message) in fields {
                    errors.push(RowError {
                        line,
                        message: format!("{field}: {message}"),
                    });
                }
                continue;
            }
        };
        let target = product.sku.as_ref().and_then(|s| by_sku.get(s).copied());
        if let Some(sku) = &product.sku
            && !seen_skus.insert(sku.clone())
        {
            errors.push(RowError {
                line,
                message: format!("sku: {sku} appears more than once in the file."),
            });
            continue;
        }
        // Slugs: an explicit one must be free; a derived one gets a number until it is.
        if input.slug.trim().is_empty() {
            let base = slugify(&product.title, "product");
            let mut candidate = base.clone();
            let mut n = 2;
            while slug_owner
                .get(&candidate)
                .is_some_and(|owner| owner.is_none() || *owner != target)
            {
                candidate = format!("{base}-{n}");
                n += 1;
            }
            product.slug = candidate;
        } else if slug_owner
            .get(&product.slug)
            .is_some_and(|owner| owner.is_none() || *owner != target)
        {
            errors.push(RowError {
                line,
                message: format!("slug: another product already uses {}.", product.slug),
            });
            continue;
        }
        if let Some(old) = target.and_then(|t| existing.iter().find(|(id, _, _)| *id == t)) {
            slug_owner.remove(&old.2);
        }
        // Some(id): the existing product keeps it; None: claimed by a new row of this file.
        slug_owner.insert(product.slug.clone(), target);
        let category_names: Vec<String> = get("categories")
            .split('|')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect();
        if let Some(bad) = category_names.iter().find(|c| c.chars().count() > 80) {
            errors.push(RowError {
                line,
                message: format!("categories: \"{bad}\" is longer than 80 characters."),
            });
            continue;
        }
        planned.push(PlannedRow {
            target,
            product,
            category_names,
        });
    }
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    if planned.is_empty() {
        return Ok(Err(vec![RowError {
            line: 1,
            message: "The file has no product rows.".into(),
        }]));
    }

    let mut tx = state.pool.begin().await?;
    let mut report = ImportReport {
        created: 0,
        updated: 0,
    };
    for mut row in planned {
        for name in &row.category_names {
            let id = match category_ids.get(&name.to_lowercase()) {
                Some(id) => *id,
                None => {
                    let id = insert_category(&mut tx, shop_id, name).await?;
                    category_ids.insert(name.to_lowercase(), id);
                    id
                }
            };
            row.product.categories.push(id);
        }
        row.product.categories.sort();
        row.product.categories.dedup();
        write_product(&mut tx, shop_id, row.target, &row.product).await?;
        if row.target.is_some() {
            report.updated += 1;
        } else {
            report.created += 1;
        }
    }
    crate::analytics::ssr::record_event(&mut tx, shop_id, "catalog_csv_imported").await?;
    bump_catalog_version(&mut tx, shop_id).await?;
    tx.commit().await?;
    tracing::info!(%shop_id, created = report.created, updated = report.updated, "catalog CSV imported");
    Ok(Ok(report))
}

/// `GET /dashboard/catalog/export.csv`: the signed-in merchant's catalog as a download.
pub async fn export_route(
    axum::extract::State(state): axum::extract::State<AppState>,
    session: Option<axum::Extension<crate::auth::ssr::Session>>,
) -> Result<axum::response::Response, AppError> {
    let session = session.ok_or(AppError::Unauthorized)?.0;
    let shop = crate::request::shop_session(&state.pool, session).await?;
    let body = export(&state, shop.shop_id).await?;
    Ok(crate::request::csv_download(body.into(), "catalog.csv"))
}
