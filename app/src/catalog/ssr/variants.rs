//! Options and variants: defining a product's options, generating their combinations, and
//! editing the variants (SKU, price, stock, image, availability, order) in one table.
//!
//! Every product has at least one variant; the product row's price, stock and SKU are a summary
//! of its variants kept by a database trigger (migration `…_product_variants.sql`), so nothing
//! here writes them.

use crate::catalog::{MAX_OPTIONS, MAX_VARIANTS, ProductOption, VariantView};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::money::{format_plain, parse_money};
use crate::shop::ssr::bump_catalog_version;
use crate::state::AppState;
use sqlx::PgConnection;
use std::collections::HashSet;
use uuid::Uuid;

const MAX_OPTION_NAME: usize = 40;
const MAX_VALUE: usize = 60;

/// An option as the merchant typed it: a name and its values separated by commas.
#[derive(Debug, Clone, Default)]
pub struct OptionInput {
    pub name: String,
    pub values: String,
}

/// Checks options typed by the merchant. Rows left entirely empty are skipped.
pub fn validate_options(input: &[OptionInput]) -> Result<Vec<ProductOption>, FieldErrors> {
    let mut errors = FieldErrors::new();
    let mut options = Vec::new();
    let mut names = HashSet::new();
    for (i, row) in input.iter().enumerate() {
        let name = row.name.trim().to_string();
        let values: Vec<String> = row
            .values
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        if name.is_empty() && values.is_empty() {
            continue;
        }
        let field = |what: &str| format!("option.{i}.{what}");
        if name.is_empty() {
            errors.insert(
                field("name"),
                "Name this option, like Size or Colour.".into(),
            );
        } else if name.chars().count() > MAX_OPTION_NAME {
            errors.insert(
                field("name"),
                format!("Keep option names under {MAX_OPTION_NAME} characters."),
            );
        } else if !names.insert(name.to_lowercase()) {
            errors.insert(
                field("name"),
                format!("There is already an option called {name}."),
            );
        }
        if values.is_empty() {
            errors.insert(
                field("values"),
                "Give this option at least one value, separated by commas (S, M, L).".into(),
            );
        }
        let mut seen = HashSet::new();
        for v in &values {
            if v.chars().count() > MAX_VALUE {
                errors.insert(
                    field("values"),
                    format!("Keep each value under {MAX_VALUE} characters."),
                );
            } else if v.chars().any(char::is_control) {
                errors.insert(field("values"), "Values cannot contain line breaks.".into());
            } else if !seen.insert(v.to_lowercase()) {
                errors.insert(field("values"), format!("{v} is listed twice."));
            }
        }
        options.push(ProductOption { name, values });
    }
    if options.len() > MAX_OPTIONS {
        errors.insert(
            "options".into(),
            format!("A product can have at most {MAX_OPTIONS} options."),
        );
    }
    let combinations = options
        .iter()
        .try_fold(1usize, |n, o| n.checked_mul(o.values.len()))
        .unwrap_or(usize::MAX);
    if errors.is_empty() && combinations > MAX_VARIANTS {
        errors.insert(
            "options".into(),
            format!(
                "These options make {combinations} combinations; a product can have at most {MAX_VARIANTS}. Split it into several products or use fewer values."
            ),
        );
    }
    if errors.is_empty() {
        Ok(options)
    } else {
        Err(errors)
    }
}

/// Every combination of the options' values, the first option varying slowest
/// (S/Red, S/Blue, M/Red, …). No options: one empty combination.
pub fn combinations(options: &[ProductOption]) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = vec![Vec::new()];
    for option in options {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                option.values.iter().map(move |v| {
                    let mut next = prefix.clone();
                    next.push(v.clone());
                    next
                })
            })
            .collect();
    }
    out
}

#[derive(sqlx::FromRow)]
struct ExistingVariant {
    id: Uuid,
    options: Vec<String>,
    price_minor: i64,
    compare_at_minor: Option<i64>,
    track_stock: bool,
}

/// Locks the product for this change (checkouts lock products before variants too, so the two
/// never wait on each other in opposite orders); 404 when it is not this shop's.
async fn lock_product(tx: &mut PgConnection, shop_id: Uuid, product_id: Uuid) -> AppResult<()> {
    sqlx::query_scalar::<_, Uuid>(
        "select id from products where id = $1 and shop_id = $2 for update",
    )
    .bind(product_id)
    .bind(shop_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    Ok(())
}

/// Replaces the product's options and makes its variants match their combinations. Variants
/// whose combination still exists keep everything (SKU, price, stock, image); new
/// combinations start with the price of the first existing variant and no stock; variants of
/// combinations that no longer exist are deleted (past orders keep their snapshot).
///
/// Adding options to a product sold in one form turns its variant into the first combination,
/// so its SKU and stock carry over; removing all options keeps one variant (the product's
/// original one when it still exists).
pub async fn set_options(
    state: &AppState,
    shop_id: Uuid,
    product_id: Uuid,
    input: &[OptionInput],
) -> AppResult<()> {
    let options = validate_options(input).map_err(AppError::Validation)?;
    let mut tx = state.pool.begin().await?;
    lock_product(&mut tx, shop_id, product_id).await?;
    let existing: Vec<ExistingVariant> = sqlx::query_as(
        "select id, options, price_minor, compare_at_minor, track_stock from product_variants
         where product_id = $1 and shop_id = $2 order by position, created_at, id",
    )
    .bind(product_id)
    .bind(shop_id)
    .fetch_all(&mut *tx)
    .await?;
    let template = existing.first().ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!("product {product_id} has no variant"))
    })?;
    let wanted = combinations(&options);
    // Which existing variant becomes which combination.
    let mut kept: Vec<(Uuid, Vec<String>, i32)> = Vec::new();
    let mut created: Vec<(Vec<String>, i32)> = Vec::new();
    let single = existing.len() == 1 && existing[0].options.is_empty();
    for (position, combo) in wanted.iter().enumerate() {
        let position = position as i32;
        let found = existing.iter().find(|v| &v.options == combo).or_else(|| {
            // The product's one variant becomes the first combination (or stays the only one).
            (position == 0 && (single || combo.is_empty())).then(|| {
                existing
                    .iter()
                    .find(|v| v.id == product_id)
                    .unwrap_or(template)
            })
        });
        match found {
            Some(v) => kept.push((v.id, combo.clone(), position)),
            None => created.push((combo.clone(), position)),
        }
    }
    let kept_ids: Vec<Uuid> = kept.iter().map(|k| k.0).collect();
    sqlx::query(
        "delete from product_variants where product_id = $1 and shop_id = $2 and id <> all($3)",
    )
    .bind(product_id)
    .bind(shop_id)
    .bind(&kept_ids)
    .execute(&mut *tx)
    .await?;
    // Options are text arrays of up to three values: passed as three parallel columns, since
    // unnest cannot take an array of arrays of different lengths.
    let column = |rows: &[Vec<String>], i: usize| -> Vec<Option<String>> {
        rows.iter().map(|r| r.get(i).cloned()).collect()
    };
    let kept_options: Vec<Vec<String>> = kept.iter().map(|k| k.1.clone()).collect();
    let kept_positions: Vec<i32> = kept.iter().map(|k| k.2).collect();
    // Two steps, because the unique (product, options) index is checked row by row and kept
    // variants may trade combinations: first every kept row steps aside to a value no
    // combination can have, then each takes its own.
    sqlx::query(
        "update product_variants set options = array[id::text] where id = any($1) and shop_id = $2",
    )
    .bind(&kept_ids)
    .bind(shop_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "update product_variants v
            set options = array_remove(array[t.o1, t.o2, t.o3], null), position = t.position, updated_at = now()
         from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int[]) as t(id, o1, o2, o3, position)
         where v.id = t.id and v.shop_id = $6",
    )
    .bind(&kept_ids)
    .bind(column(&kept_options, 0))
    .bind(column(&kept_options, 1))
    .bind(column(&kept_options, 2))
    .bind(&kept_positions)
    .bind(shop_id)
    .execute(&mut *tx)
    .await?;
    if !created.is_empty() {
        let new_ids: Vec<Uuid> = created.iter().map(|_| Uuid::now_v7()).collect();
        let new_options: Vec<Vec<String>> = created.iter().map(|c| c.0.clone()).collect();
        let new_positions: Vec<i32> = created.iter().map(|c| c.1).collect();
        sqlx::query(
            "insert into product_variants (id, shop_id, product_id, options, price_minor, compare_at_minor, track_stock, stock, position)
             select t.id, $1, $2, array_remove(array[t.o1, t.o2, t.o3], null), $3, $4, $5, 0, t.position
             from unnest($6::uuid[], $7::text[], $8::text[], $9::text[], $10::int[]) as t(id, o1, o2, o3, position)",
        )
        .bind(shop_id)
        .bind(product_id)
        .bind(template.price_minor)
        .bind(template.compare_at_minor)
        .bind(template.track_stock)
        .bind(&new_ids)
        .bind(column(&new_options, 0))
        .bind(column(&new_options, 1))
        .bind(column(&new_options, 2))
        .bind(&new_positions)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("delete from product_options where product_id = $1 and shop_id = $2")
        .bind(product_id)
        .bind(shop_id)
        .execute(&mut *tx)
        .await?;
    for (i, o) in options.iter().enumerate() {
        sqlx::query(
            "insert into product_options (shop_id, product_id, position, name, choices) values ($1, $2, $3, $4, $5)",
        )
        .bind(shop_id)
        .bind(product_id)
        .bind(i as i16 + 1)
        .bind(&o.name)
        .bind(&o.values)
        .execute(&mut *tx)
        .await?;
    }
    touch(&mut tx, shop_id, product_id).await?;
    tx.commit().await?;
    tracing::info!(%shop_id, %product_id, options = options.len(), variants = wanted.len(), "product options saved");
    Ok(())
}

async fn touch(tx: &mut PgConnection, shop_id: Uuid, product_id: Uuid) -> AppResult<()> {
    sqlx::query("update products set updated_at = now() where id = $1 and shop_id = $2")
        .bind(product_id)
        .bind(shop_id)
        .execute(&mut *tx)
        .await?;
    bump_catalog_version(tx, shop_id).await
}

/// One row of the variant table as submitted.
#[derive(Debug, Clone, Default)]
pub struct VariantInput {
    pub id: Uuid,
    pub sku: String,
    pub price: String,
    pub compare_at_price: String,
    pub track_stock: bool,
    pub stock: String,
    pub enabled: bool,
    pub image_id: Option<Uuid>,
    pub position: String,
}

/// "Set every price / stock to": applied over what the rows say.
#[derive(Debug, Clone, Default)]
pub struct BulkInput {
    pub price: String,
    pub stock: String,
}

struct ValidVariant {
    id: Uuid,
    sku: Option<String>,
    price_minor: i64,
    compare_at_minor: Option<i64>,
    track_stock: bool,
    stock: i32,
    enabled: bool,
    image_id: Option<Uuid>,
    position: i32,
}

fn validate_variants(
    rows: &[VariantInput],
    bulk: &BulkInput,
    currency: &str,
) -> Result<Vec<ValidVariant>, FieldErrors> {
    let mut errors = FieldErrors::new();
    let bulk_price = Some(bulk.price.trim())
        .filter(|p| !p.is_empty())
        .map(|p| parse_money(p, currency));
    if let Some(Err(m)) = &bulk_price {
        errors.insert("bulk_price".into(), m.clone());
    }
    let bulk_stock = Some(bulk.stock.trim())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<i32>().ok().filter(|n| *n >= 0));
    if let Some(None) = bulk_stock {
        errors.insert(
            "bulk_stock".into(),
            "Enter the stock as a whole number, 0 or more.".into(),
        );
    }
    let mut skus = HashSet::new();
    let mut out = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let field = |what: &str| format!("variant.{i}.{what}");
        let price = match &bulk_price {
            Some(Ok(p)) => Ok(*p),
            _ => parse_money(&row.price, currency),
        };
        if let Err(m) = &price {
            errors.insert(field("price"), m.clone());
        }
        let compare_at = if row.compare_at_price.trim().is_empty() {
            None
        } else {
            match parse_money(&row.compare_at_price, currency) {
                Ok(c) => Some(c),
                Err(m) => {
                    errors.insert(field("compare_at_price"), m);
                    None
                }
            }
        };
        if let (Ok(p), Some(c)) = (&price, compare_at)
            && c <= *p
        {
            errors.insert(
                field("compare_at_price"),
                "The compare-at price is the old, higher price: make it more than the price, or leave it empty.".into(),
            );
        }
        let sku = Some(row.sku.trim().to_string()).filter(|s| !s.is_empty());
        if let Some(s) = &sku {
            if s.chars().count() > 64 || s.chars().any(char::is_control) {
                errors.insert(field("sku"), "Keep the SKU under 64 characters.".into());
            } else if !skus.insert(s.to_string()) {
                errors.insert(field("sku"), format!("{s} is used by two variants."));
            }
        }
        let stock = match bulk_stock {
            Some(Some(n)) => n,
            _ if row.stock.trim().is_empty() => 0,
            _ => match row.stock.trim().parse::<i32>() {
                Ok(n) if n >= 0 => n,
                _ => {
                    errors.insert(
                        field("stock"),
                        "Enter the stock as a whole number, 0 or more.".into(),
                    );
                    0
                }
            },
        };
        let position = row.position.trim().parse::<i32>().unwrap_or(i as i32 + 1);
        out.push(ValidVariant {
            id: row.id,
            sku,
            price_minor: price.unwrap_or(0),
            compare_at_minor: compare_at,
            track_stock: row.track_stock || bulk_stock.flatten().is_some(),
            stock,
            enabled: row.enabled,
            image_id: row.image_id,
            position,
        });
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Saves the variant table. Every row must be a variant of this product (else 404, nothing
/// saved); rows are ordered by their position numbers as typed, ties kept in table order.
pub async fn save_variants(
    state: &AppState,
    shop_id: Uuid,
    product_id: Uuid,
    rows: &[VariantInput],
    bulk: &BulkInput,
) -> AppResult<()> {
    let currency = super::shop_currency(&state.pool, shop_id).await?;
    let mut valid = validate_variants(rows, bulk, &currency).map_err(AppError::Validation)?;
    // Positions as typed become 0, 1, 2… in that order (stable for equal numbers).
    let mut order: Vec<usize> = (0..valid.len()).collect();
    order.sort_by_key(|&i| (valid[i].position, i));
    for (rank, &i) in order.iter().enumerate() {
        valid[i].position = rank as i32;
    }
    let mut tx = state.pool.begin().await?;
    lock_product(&mut tx, shop_id, product_id).await?;
    // An image of another product (or shop) is dropped rather than linked.
    let images: Vec<Uuid> =
        sqlx::query_scalar("select id from images where product_id = $1 and shop_id = $2")
            .bind(product_id)
            .bind(shop_id)
            .fetch_all(&mut *tx)
            .await?;
    let ids: Vec<Uuid> = valid.iter().map(|v| v.id).collect();
    let skus: Vec<Option<String>> = valid.iter().map(|v| v.sku.clone()).collect();
    let prices: Vec<i64> = valid.iter().map(|v| v.price_minor).collect();
    let compares: Vec<Option<i64>> = valid.iter().map(|v| v.compare_at_minor).collect();
    let tracks: Vec<bool> = valid.iter().map(|v| v.track_stock).collect();
    let stocks: Vec<i32> = valid.iter().map(|v| v.stock).collect();
    let enabled: Vec<bool> = valid.iter().map(|v| v.enabled).collect();
    let image_ids: Vec<Option<Uuid>> = valid
        .iter()
        .map(|v| v.image_id.filter(|i| images.contains(i)))
        .collect();
    let positions: Vec<i32> = valid.iter().map(|v| v.position).collect();
    // SKUs may move between this product's variants in one save: clear them first, so the
    // row-by-row unique check never sees two rows holding one SKU half-way.
    sqlx::query("update product_variants set sku = null where product_id = $1 and shop_id = $2 and id = any($3)")
        .bind(product_id)
        .bind(shop_id)
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    let done = sqlx::query(
        "update product_variants v
            set sku = t.sku, price_minor = t.price, compare_at_minor = t.compare_at, track_stock = t.track,
                stock = t.stock, enabled = t.enabled, image_id = t.image_id, position = t.position, updated_at = now()
         from unnest($3::uuid[], $4::text[], $5::int8[], $6::int8[], $7::bool[], $8::int4[], $9::bool[], $10::uuid[], $11::int4[])
              as t(id, sku, price, compare_at, track, stock, enabled, image_id, position)
         where v.id = t.id and v.product_id = $1 and v.shop_id = $2",
    )
    .bind(product_id)
    .bind(shop_id)
    .bind(&ids)
    .bind(&skus)
    .bind(&prices)
    .bind(&compares)
    .bind(&tracks)
    .bind(&stocks)
    .bind(&enabled)
    .bind(&image_ids)
    .bind(&positions)
    .execute(&mut *tx)
    .await
    .map_err(super::map_unique)?;
    if done.rows_affected() != ids.len() as u64 {
        return Err(AppError::NotFound);
    }
    touch(&mut tx, shop_id, product_id).await?;
    tx.commit().await?;
    tracing::info!(%shop_id, %product_id, variants = ids.len(), "variants saved");
    Ok(())
}

/// The product's options and variants, for the edit page.
pub async fn load(
    conn: &mut PgConnection,
    shop_id: Uuid,
    product_id: Uuid,
    currency: &str,
) -> AppResult<(Vec<ProductOption>, Vec<VariantView>)> {
    let options: Vec<(String, Vec<String>)> = sqlx::query_as(
        "select name, choices from product_options where product_id = $1 and shop_id = $2 order by position",
    )
    .bind(product_id)
    .bind(shop_id)
    .fetch_all(&mut *conn)
    .await?;
    #[allow(clippy::type_complexity)]
    let rows: Vec<(Uuid, Vec<String>, Option<String>, i64, Option<i64>, bool, i32, bool, Option<Uuid>, i32)> =
        sqlx::query_as(
            "select id, options, sku, price_minor, compare_at_minor, track_stock, stock, enabled, image_id, position
             from product_variants where product_id = $1 and shop_id = $2 order by position, created_at, id",
        )
        .bind(product_id)
        .bind(shop_id)
        .fetch_all(&mut *conn)
        .await?;
    Ok((
        options
            .into_iter()
            .map(|(name, values)| ProductOption { name, values })
            .collect(),
        rows.into_iter()
            .map(
                |(
                    id,
                    options,
                    sku,
                    price,
                    compare,
                    track_stock,
                    stock,
                    enabled,
                    image_id,
                    position,
                )| {
                    VariantView {
                        id,
                        options,
                        sku: sku.unwrap_or_default(),
                        price: format_plain(price, currency),
                        compare_at_price: compare
                            .map(|c| format_plain(c, currency))
                            .unwrap_or_default(),
                        track_stock,
                        stock,
                        enabled,
                        image_id,
                        position,
                    }
                },
            )
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opt(name: &str, values: &str) -> OptionInput {
        OptionInput {
            name: name.into(),
            values: values.into(),
        }
    }

    #[test]
    fn options_are_checked_for_names_duplicates_and_limits() {
        let ok = validate_options(&[opt(" Size ", "S, M ,L"), opt("", ""), opt("Colour", "Red")])
            .unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[0].values, ["S", "M", "L"]);
        let err = validate_options(&[opt("Size", "S, s"), opt("size", "M")]).unwrap_err();
        assert!(err["option.0.values"].contains("twice"));
        assert!(err["option.1.name"].contains("already"));
        let err = validate_options(&[opt("Size", ""), opt("", "Red")]).unwrap_err();
        assert!(err.contains_key("option.0.values"));
        assert!(err.contains_key("option.1.name"));
        let four: Vec<_> = ["A", "B", "C", "D"].iter().map(|n| opt(n, "x")).collect();
        assert!(validate_options(&four).unwrap_err()["options"].contains("at most 3"));
        let big = validate_options(&[
            opt("A", "1,2,3,4,5"),
            opt("B", "1,2,3,4,5"),
            opt("C", "1,2,3,4,5"),
        ])
        .unwrap_err();
        assert!(big["options"].contains("125 combinations"));
        assert!(
            validate_options(&[
                opt("A", "1,2,3,4,5,6,7,8,9,10"),
                opt("B", "1,2,3,4,5,6,7,8,9,10")
            ])
            .is_ok()
        );
    }

    #[test]
    fn combinations_vary_the_last_option_fastest() {
        let options = vec![
            ProductOption {
                name: "Size".into(),
                values: vec!["S".into(), "M".into()],
            },
            ProductOption {
                name: "Colour".into(),
                values: vec!["Red".into(), "Blue".into()],
            },
        ];
        assert_eq!(
            combinations(&options),
            [["S", "Red"], ["S", "Blue"], ["M", "Red"], ["M", "Blue"]]
        );
        assert_eq!(combinations(&[]), vec![Vec::<String>::new()]);
    }

    #[test]
    fn variant_rows_are_checked_and_bulk_values_apply_to_all() {
        let row = |price: &str, sku: &str| VariantInput {
            id: Uuid::now_v7(),
            price: price.into(),
            sku: sku.into(),
            enabled: true,
            ..Default::default()
        };
        let err = validate_variants(
            &[row("10", "A"), row("x", "A")],
            &BulkInput::default(),
            "USD",
        )
        .err()
        .unwrap();
        assert!(err.contains_key("variant.1.price"));
        assert!(err["variant.1.sku"].contains("two variants"));
        let ok = validate_variants(
            &[row("10", "A"), row("", "B")],
            &BulkInput {
                price: "12.50".into(),
                stock: "4".into(),
            },
            "USD",
        )
        .ok()
        .unwrap();
        assert!(
            ok.iter()
                .all(|v| v.price_minor == 1250 && v.stock == 4 && v.track_stock)
        );
    }
}
