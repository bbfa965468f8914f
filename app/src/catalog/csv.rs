//! Catalog CSV export and import. Import is all or nothing: every row is checked first, and if
//! any row is wrong nothing changes and every problem is reported with its line number.
//!
//! Import cost grows linearly with the file: one query per table to read what exists, parsing
//! and checking on a blocking thread (a big file would otherwise stall every request served by
//! that runtime thread), then one statement per table for the writes. Files are capped at
//! [`MAX_IMPORT_ROWS`] rows and [`MAX_IMPORT_BYTES`] bytes (README, "Catalog CSV").

use super::ssr::{ProductInput, ValidProduct, map_unique, shop_currency, validate_product};
use super::{
    CSV_COLUMNS, ImportReport, MAX_OPTIONS, MAX_VARIANTS, PlannedProduct, RowError, slugify,
};
use crate::error::{AppError, AppResult};
use crate::money::format_plain;
use crate::platform::csv::{neutralise, unneutralise};
use crate::shop::ssr::bump_catalog_version;
use crate::state::AppState;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// Product rows one import may carry. Bigger catalogs import in parts.
pub const MAX_IMPORT_ROWS: usize = 10_000;
/// Bytes of CSV one import may carry: 10,000 rows with long descriptions fit.
pub const MAX_IMPORT_BYTES: usize = 5 * 1024 * 1024;
/// Request body the import route accepts (server/src/startup.rs): the CSV arrives form-encoded,
/// which can triple it (every non-ASCII byte becomes `%XX`), so a file just over
/// [`MAX_IMPORT_BYTES`] still reaches the import and gets its message.
pub const MAX_IMPORT_BODY_BYTES: usize = 3 * MAX_IMPORT_BYTES + 64 * 1024;

/// One variant with its product, as the export writes it (one row per variant).
#[derive(sqlx::FromRow)]
struct ExportRow {
    option_names: Vec<String>,
    options: Vec<String>,
    enabled: bool,
    sku: Option<String>,
    title: String,
    slug: String,
    description: String,
    price_minor: i64,
    compare_at_minor: Option<i64>,
    status: String,
    track_stock: bool,
    stock: i32,
    categories: Option<String>,
}

pub async fn export(state: &AppState, shop_id: Uuid) -> AppResult<String> {
    let currency = shop_currency(&state.pool, shop_id).await?;
    let rows: Vec<ExportRow> = sqlx::query_as(
        "select array(select o.name from product_options o where o.product_id = p.id order by o.position) as option_names,
                v.options, v.enabled, v.sku, p.title, p.slug, p.description, v.price_minor, v.compare_at_minor,
                p.status, v.track_stock, v.stock,
                (select string_agg(c.name, '|' order by c.position, c.name)
                   from product_categories pc join categories c on c.id = pc.category_id
                  where pc.product_id = p.id) as categories
         from products p join product_variants v on v.product_id = p.id
         where p.shop_id = $1 order by lower(p.title), p.id, v.position, v.created_at, v.id",
    )
    .bind(shop_id)
    .fetch_all(&state.pool)
    .await?;
    let mut out = csv::Writer::from_writer(Vec::new());
    let internal = |e: csv::Error| AppError::Internal(anyhow::anyhow!("writing CSV: {e}"));
    out.write_record(CSV_COLUMNS).map_err(internal)?;
    for r in rows {
        let option = |i: usize| {
            (
                r.option_names.get(i).cloned().unwrap_or_default(),
                r.options.get(i).cloned().unwrap_or_default(),
            )
        };
        let (o1, o2, o3) = (option(0), option(1), option(2));
        let cells = [
            r.sku.unwrap_or_default(),
            r.title,
            r.slug,
            r.description,
            format_plain(r.price_minor, &currency),
            r.compare_at_minor
                .map(|c| format_plain(c, &currency))
                .unwrap_or_default(),
            r.status,
            r.track_stock.to_string(),
            r.stock.to_string(),
            r.categories.unwrap_or_default(),
            o1.0,
            o1.1,
            o2.0,
            o2.1,
            o3.0,
            o3.1,
            r.enabled.to_string(),
        ];
        out.write_record(cells.iter().map(|c| neutralise(c).into_owned()))
            .map_err(internal)?;
    }
    let bytes = out
        .into_inner()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("writing CSV: {e}")))?;
    String::from_utf8(bytes).map_err(|e| AppError::Internal(e.into()))
}

/// A product of the shop as the import sees it, with the SKUs of its variants.
#[derive(sqlx::FromRow)]
pub(crate) struct ExistingProduct {
    id: Uuid,
    skus: Vec<String>,
    slug: String,
}

/// One variant a file describes (a product without options has one, without values).
#[derive(Debug, Clone)]
struct PlannedVariant {
    values: Vec<String>,
    sku: Option<String>,
    price_minor: i64,
    compare_at_minor: Option<i64>,
    track_stock: bool,
    stock: i32,
    enabled: bool,
}

impl PlannedVariant {
    fn of(product: &ValidProduct, values: Vec<String>, enabled: bool) -> Self {
        PlannedVariant {
            values,
            sku: product.sku.clone(),
            price_minor: product.price_minor,
            compare_at_minor: product.compare_at_minor,
            track_stock: product.track_stock,
            stock: product.stock,
            enabled,
        }
    }
}

/// A product's options and variants as the file gives them.
#[derive(Debug, Clone, Default)]
struct PlannedOptions {
    options: Vec<super::ProductOption>,
    variants: Vec<PlannedVariant>,
}

#[derive(sqlx::FromRow)]
struct ExistingCategory {
    id: Uuid,
    name: String,
    slug: String,
}

struct NewCategory {
    id: Uuid,
    name: String,
    slug: String,
}

/// What a checked file will write.
#[derive(Default)]
pub(crate) struct Plan {
    new_categories: Vec<NewCategory>,
    inserts: Vec<(ValidProduct, PlannedOptions)>,
    /// Existing products (by id) and what they become.
    updates: Vec<(Uuid, ValidProduct, PlannedOptions)>,
    /// Updated products whose slug changes (see [`write_plan`]).
    renamed: Vec<Uuid>,
}

pub async fn import(
    state: &AppState,
    shop_id: Uuid,
    text: String,
) -> AppResult<Result<ImportReport, Vec<RowError>>> {
    check_size(text.len())?;
    match check(state, shop_id, text).await? {
        Ok(plan) => write_plan(state, shop_id, plan).await.map(Ok),
        Err(rows) => Ok(Err(rows)),
    }
}

impl Plan {
    /// What the plan would do, product by product (creations first), with the lowest price.
    pub(crate) fn summary(&self, currency: &str) -> Vec<PlannedProduct> {
        let one = |p: &ValidProduct, o: &PlannedOptions, action: &str| PlannedProduct {
            title: p.title.clone(),
            slug: p.slug.clone(),
            action: action.into(),
            variants: o.variants.len(),
            price: crate::money::format_money(
                o.variants
                    .iter()
                    .map(|v| v.price_minor)
                    .min()
                    .unwrap_or(p.price_minor),
                currency,
            ),
        };
        self.inserts
            .iter()
            .map(|(p, o)| one(p, o, "create"))
            .chain(self.updates.iter().map(|(_, p, o)| one(p, o, "update")))
            .collect()
    }

    pub(crate) fn new_category_names(&self) -> Vec<String> {
        self.new_categories.iter().map(|c| c.name.clone()).collect()
    }
}

/// Reads and checks a file of our columns against the shop's catalog, writing nothing.
pub(crate) async fn check(
    state: &AppState,
    shop_id: Uuid,
    text: String,
) -> AppResult<Result<Plan, Vec<RowError>>> {
    let currency = shop_currency(&state.pool, shop_id).await?;
    let existing: Vec<ExistingProduct> = sqlx::query_as(
        "select p.id, p.slug,
                array(select v.sku from product_variants v where v.product_id = p.id and v.sku is not null) as skus
         from products p where p.shop_id = $1",
    )
    .bind(shop_id)
    .fetch_all(&state.pool)
    .await?;
    let mut conn = state.pool.acquire().await?;
    let mut categories = categories(&mut conn, shop_id).await?;
    drop(conn);
    tokio::task::spawn_blocking(move || plan(&text, &currency, existing, &mut categories))
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("CSV import task failed: {e}")))?
}

/// The shop's categories by name and address, to which a file's new ones are added as they
/// are planned (so an import read in batches creates each new category once).
pub(crate) async fn categories(
    conn: &mut sqlx::PgConnection,
    shop_id: Uuid,
) -> AppResult<CategoryIndex> {
    let categories: Vec<ExistingCategory> =
        sqlx::query_as("select id, name, slug from categories where shop_id = $1")
            .bind(shop_id)
            .fetch_all(&mut *conn)
            .await?;
    Ok(CategoryIndex::new(categories))
}

/// The shop's products a batch of rows can touch: those holding one of its slugs or SKUs.
/// Written as joins with the lists so each value is one probe of the unique (shop, slug) and
/// (shop, SKU) indexes: as `= any($2)` the planner may pick the trigram index for search,
/// which took seconds per batch on a catalog of a few thousand products.
pub(crate) async fn existing_for(
    conn: &mut sqlx::PgConnection,
    shop_id: Uuid,
    slugs: &[String],
    skus: &[String],
) -> AppResult<Vec<ExistingProduct>> {
    // Not a cached prepared statement: an import grows these tables by thousands of rows
    // within minutes, and a generic plan cached while they were small (without a fresh
    // ANALYZE) scans them whole for every batch — seconds each instead of milliseconds.
    Ok(sqlx::query_as(
        "select p.id, p.slug,
                array(select v.sku from product_variants v
                       where v.product_id = p.id and v.sku is not null) as skus
         from products p
         where p.shop_id = $1
           and p.id in (select x.id from unnest($2::text[]) as s(slug)
                          join products x on x.shop_id = $1 and x.slug = s.slug
                        union
                        -- `sku is not null` lets the partial unique index serve the join.
                        select v.product_id from unnest($3::text[]) as s(sku)
                          join product_variants v
                            on v.shop_id = $1 and v.sku is not null and v.sku = s.sku)",
    )
    .persistent(false)
    .bind(shop_id)
    .bind(slugs)
    .bind(skus)
    .fetch_all(&mut *conn)
    .await?)
}

/// Checks one batch of whole products (every row of each) against the products it can touch,
/// as [`check`] does for a whole file. Pure CPU work, for a blocking thread.
pub(crate) fn plan_batch(
    text: &str,
    currency: &str,
    existing: Vec<ExistingProduct>,
    categories: &mut CategoryIndex,
) -> Result<Result<Plan, Vec<RowError>>, AppError> {
    plan(text, currency, existing, categories)
}

fn check_size(bytes: usize) -> AppResult<()> {
    if bytes > MAX_IMPORT_BYTES {
        return Err(AppError::validation(
            "csv",
            format!(
                "Nothing was imported: this file is {:.1} MB and one import takes at most {} MB. \
                 Split it into smaller files and import them one after another.",
                bytes as f64 / (1024.0 * 1024.0),
                MAX_IMPORT_BYTES / (1024 * 1024)
            ),
        ));
    }
    Ok(())
}

fn too_many_rows() -> AppError {
    AppError::validation(
        "csv",
        "Nothing was imported: this file has more than 10,000 rows, and one import takes \
         at most 10,000. Split it into files of up to 10,000 rows and import them one after another.",
    )
}

fn header_error(message: String) -> Result<Result<Plan, Vec<RowError>>, AppError> {
    Ok(Err(vec![RowError { line: 1, message }]))
}

/// Reads and checks the whole file against the shop's products and categories. Pure CPU work:
/// it runs on a blocking thread. `Err` is for the row cap; `Ok(Err(rows))` lists bad rows.
fn plan(
    text: &str,
    currency: &str,
    existing: Vec<ExistingProduct>,
    category_ids: &mut CategoryIndex,
) -> Result<Result<Plan, Vec<RowError>>, AppError> {
    let by_sku: HashMap<&str, Uuid> = existing
        .iter()
        .flat_map(|p| p.skus.iter().map(|s| (s.as_str(), p.id)))
        .collect();
    let by_slug: HashMap<&str, Uuid> = existing.iter().map(|p| (p.slug.as_str(), p.id)).collect();
    let current_slug: HashMap<Uuid, &str> =
        existing.iter().map(|p| (p.id, p.slug.as_str())).collect();
    let mut slugs = SlugPlanner::new(existing.iter().map(|p| (p.slug.clone(), p.id)));
    let mut new_categories = Vec::new();

    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => return header_error(format!("The header row could not be read: {e}")),
    };
    let index: HashMap<&str, usize> = headers.iter().enumerate().map(|(i, h)| (h, i)).collect();
    let missing: Vec<&str> = ["title", "price"]
        .into_iter()
        .filter(|c| !index.contains_key(c))
        .collect();
    if !missing.is_empty() {
        return header_error(format!(
            "The header row lacks the column(s) {}. Expected: {}.",
            missing.join(", "),
            CSV_COLUMNS.join(",")
        ));
    }
    let unknown: Vec<&str> = headers
        .iter()
        .filter(|h| !CSV_COLUMNS.contains(h))
        .collect();
    if !unknown.is_empty() {
        return header_error(format!(
            "Unknown column(s): {}. Expected: {}.",
            unknown.join(", "),
            CSV_COLUMNS.join(",")
        ));
    }

    let mut errors = Vec::new();
    let mut rows: Vec<ParsedRow> = Vec::new();
    let mut seen_skus = HashSet::new();
    // Slug → the row that began that product with options.
    let mut groups: HashMap<String, usize> = HashMap::new();
    for (n, record) in reader.records().enumerate() {
        if n >= MAX_IMPORT_ROWS {
            return Err(too_many_rows());
        }
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
        // Cells come back as the merchant typed them, without the quote our export adds.
        let get = |name: &str| {
            let cell = index.get(name).and_then(|i| record.get(*i)).unwrap_or("");
            unneutralise(cell).trim().to_string()
        };
        let track_stock = match get("track_stock").to_lowercase().as_str() {
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
        let enabled = match get("enabled").to_lowercase().as_str() {
            "" | "true" | "yes" | "1" => true,
            "false" | "no" | "0" => false,
            _ => {
                errors.push(RowError {
                    line,
                    message: "enabled must be true or false.".into(),
                });
                continue;
            }
        };
        // Option columns: a name and a value each, filled from option 1 on.
        let mut names = Vec::new();
        let mut values = Vec::new();
        let mut option_problem = None;
        for i in 1..=MAX_OPTIONS {
            let (name, value) = (
                get(&format!("option{i}_name")),
                get(&format!("option{i}_value")),
            );
            match (name.is_empty(), value.is_empty()) {
                (true, true) => {}
                (false, false) if names.len() == i - 1 => {
                    names.push(name);
                    values.push(value);
                }
                (false, false) => {
                    option_problem = Some(format!(
                        "option{i}: fill the options in order, from option 1."
                    ))
                }
                (true, false) => {
                    option_problem = Some(format!(
                        "option{i}_name: name the option of the value {value}."
                    ))
                }
                (false, true) => {
                    option_problem =
                        Some(format!("option{i}_value: give this row's value of {name}."))
                }
            }
        }
        if let Some(message) = option_problem {
            errors.push(RowError { line, message });
            continue;
        }
        let group_key = (!values.is_empty()).then(|| get("slug").to_lowercase());
        if group_key.as_deref() == Some("") {
            errors.push(RowError {
                line,
                message: "slug: a row with option values needs its product's slug, which groups the product's variants.".into(),
            });
            continue;
        }
        // A further variant of a product already begun in this file.
        let joins = group_key.as_ref().and_then(|k| groups.get(k).copied());
        let status = get("status");
        let mut input = ProductInput {
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
        if let Some(at) = joins {
            // Product columns may be left empty on a product's further rows.
            let first: &ParsedRow = &rows[at];
            if input.title.is_empty() {
                input.title = first.product.title.clone();
            }
            if get("status").is_empty() {
                input.status = first.product.status.as_str().to_string();
            }
        }
        let mut product = match validate_product(&input, currency) {
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
        let sku_target = product.sku.as_deref().and_then(|s| by_sku.get(s).copied());
        // The product a row updates: a product with options by its slug (its handle), else by
        // SKU; a product sold in one form by SKU, else by an explicit slug, so a file exported
        // from products without SKUs imports back onto them.
        let by_own_slug = (!input.slug.is_empty())
            .then(|| by_slug.get(product.slug.as_str()).copied())
            .flatten();
        let target = if group_key.is_some() {
            by_own_slug.or(sku_target)
        } else {
            sku_target.or(by_own_slug)
        };
        if let Some(sku) = &product.sku
            && !seen_skus.insert(sku.clone())
        {
            errors.push(RowError {
                line,
                message: format!("sku: {sku} appears more than once in the file."),
            });
            continue;
        }
        if let Some(at) = joins {
            let group = &mut rows[at];
            if let Some(message) =
                join_variant(group, &names, &values, &product, enabled, sku_target)
            {
                errors.push(RowError { line, message });
            }
            continue;
        }
        if let (Some(owner), Some(t)) = (sku_target, target)
            && owner != t
        {
            errors.push(RowError {
                line,
                message: format!(
                    "sku: {} belongs to another product.",
                    product.sku.as_deref().unwrap_or_default()
                ),
            });
            continue;
        }
        let planned = PlannedOptions {
            options: names
                .iter()
                .zip(&values)
                .map(|(name, value)| super::ProductOption {
                    name: name.clone(),
                    values: vec![value.clone()],
                })
                .collect(),
            variants: vec![PlannedVariant::of(&product, values.clone(), enabled)],
        };
        let categories_cell = get("categories");
        let names: Vec<String> = categories_cell
            .split('|')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect();
        if let Some(bad) = names.iter().find(|c| c.chars().count() > 80) {
            errors.push(RowError {
                line,
                message: format!("categories: \"{bad}\" is longer than 80 characters."),
            });
            continue;
        }
        let old_slug = target.and_then(|t| current_slug.get(&t).copied());
        let slug = if input.slug.is_empty() {
            // An existing product keeps its address (links to it keep working); a new one gets
            // its title's, once the explicit slugs of the whole file are known.
            match old_slug {
                Some(old) => SlugChoice::Keep(old.to_string()),
                None => SlugChoice::Derive,
            }
        } else {
            SlugChoice::Explicit
        };
        product.categories = names
            .iter()
            .map(|name| category_ids.id_for(name, &mut new_categories))
            .collect();
        product.categories.sort();
        product.categories.dedup();
        if let Some(key) = group_key {
            groups.insert(key, rows.len());
        }
        rows.push(ParsedRow {
            line,
            target,
            old_slug,
            slug,
            product,
            planned,
        });
    }
    for row in &rows {
        if row.planned.variants.len() > MAX_VARIANTS {
            errors.push(RowError {
                line: row.line,
                message: format!(
                    "{} has {} variants; a product can have at most {MAX_VARIANTS}.",
                    row.product.slug,
                    row.planned.variants.len()
                ),
            });
        }
    }

    // Slugs are settled for the file as a whole, so rows may trade addresses in any order:
    // addresses that updated products give up are free first, then explicit slugs are
    // claimed, then new products without one are numbered around them.
    for row in &rows {
        if let (SlugChoice::Explicit, Some(old)) = (&row.slug, row.old_slug)
            && old != row.product.slug
        {
            slugs.release(old);
        }
    }
    for row in &rows {
        if let SlugChoice::Explicit = row.slug {
            if slugs.is_free_for(&row.product.slug, row.target) {
                slugs.claim(&row.product.slug, row.target);
            } else {
                errors.push(RowError {
                    line: row.line,
                    message: format!("slug: another product already uses {}.", row.product.slug),
                });
            }
        }
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.line);
        return Ok(Err(errors));
    }
    let mut plan = Plan {
        new_categories,
        ..Plan::default()
    };
    for mut row in rows {
        match row.slug {
            SlugChoice::Keep(slug) => row.product.slug = slug,
            SlugChoice::Derive => {
                row.product.slug = slugs.derive(&row.product.slug);
                slugs.claim(&row.product.slug, None);
            }
            SlugChoice::Explicit => {}
        }
        match row.target {
            Some(id) => {
                if row.old_slug != Some(row.product.slug.as_str()) {
                    plan.renamed.push(id);
                }
                plan.updates.push((id, row.product, row.planned));
            }
            None => plan.inserts.push((row.product, row.planned)),
        }
    }
    if plan.inserts.is_empty() && plan.updates.is_empty() {
        return header_error("The file has no product rows.".into());
    }
    Ok(Ok(plan))
}

/// Where a row's product slug comes from.
enum SlugChoice {
    /// The slug column of the row (already in the product).
    Explicit,
    /// Empty column, existing product: its current slug.
    Keep(String),
    /// Empty column, new product: made from the title (already in the product) and numbered.
    Derive,
}

struct ParsedRow<'a> {
    line: u64,
    target: Option<Uuid>,
    old_slug: Option<&'a str>,
    slug: SlugChoice,
    product: ValidProduct,
    planned: PlannedOptions,
}

/// Adds a further row of a product with options to that product; the problem, if any.
fn join_variant(
    group: &mut ParsedRow,
    names: &[String],
    values: &[String],
    product: &ValidProduct,
    enabled: bool,
    sku_owner: Option<Uuid>,
) -> Option<String> {
    let expected: Vec<&str> = group
        .planned
        .options
        .iter()
        .map(|o| o.name.as_str())
        .collect();
    if names
        .iter()
        .map(String::as_str)
        .ne(expected.iter().copied())
    {
        return Some(format!(
            "options: {} has the options {}; this row names {}.",
            group.product.slug,
            expected.join(", "),
            names.join(", ")
        ));
    }
    if group.planned.variants.iter().any(|v| v.values == values) {
        return Some(format!(
            "{} appears twice for {}.",
            values.join(" / "),
            group.product.slug
        ));
    }
    if let Some(owner) = sku_owner
        && Some(owner) != group.target
    {
        return Some(format!(
            "sku: {} belongs to another product.",
            product.sku.as_deref().unwrap_or_default()
        ));
    }
    for (option, value) in group.planned.options.iter_mut().zip(values) {
        if !option.values.iter().any(|v| v == value) {
            option.values.push(value.clone());
        }
    }
    group
        .planned
        .variants
        .push(PlannedVariant::of(product, values.to_vec(), enabled));
    None
}

/// Hands out product slugs so no two products of a shop share one, in time linear in the number
/// of products: free slugs are looked up in a hash map, and each title keeps a counter of the
/// next number to try, so a thousand products called "Scarf" do not each count from 2 again.
pub(crate) struct SlugPlanner {
    /// Slug → the existing product holding it, or None for a new product of this file.
    owner: HashMap<String, Option<Uuid>>,
    next_suffix: HashMap<String, u32>,
}

impl SlugPlanner {
    pub(crate) fn new(existing: impl Iterator<Item = (String, Uuid)>) -> Self {
        SlugPlanner {
            owner: existing.map(|(slug, id)| (slug, Some(id))).collect(),
            next_suffix: HashMap::new(),
        }
    }

    /// Free for this row: unused, or held by the very product the row updates.
    pub(crate) fn is_free_for(&self, slug: &str, target: Option<Uuid>) -> bool {
        match self.owner.get(slug) {
            None => true,
            Some(owner) => owner.is_some() && *owner == target,
        }
    }

    /// The first free slug among `base`, `base-2`, `base-3`, … for a new product.
    pub(crate) fn derive(&mut self, base: &str) -> String {
        if self.is_free_for(base, None) {
            return base.to_string();
        }
        let mut n = self.next_suffix.get(base).copied().unwrap_or(2);
        loop {
            let candidate = numbered(base, n);
            n += 1;
            if self.is_free_for(&candidate, None) {
                self.next_suffix.insert(base.to_string(), n);
                return candidate;
            }
        }
    }

    /// Records that `slug` now belongs to `target` (None: a new product).
    pub(crate) fn claim(&mut self, slug: &str, target: Option<Uuid>) {
        self.owner.insert(slug.to_string(), target);
    }

    /// Frees the slug an updated product gives up.
    pub(crate) fn release(&mut self, slug: &str) {
        self.owner.remove(slug);
    }
}

/// `base-n`, shortening `base` so the result stays within the 80 characters a slug may have.
fn numbered(base: &str, n: u32) -> String {
    let suffix = format!("-{n}");
    let keep = 80usize.saturating_sub(suffix.len());
    // Slugs are ASCII, so byte positions are character positions.
    let head = base.get(..keep.min(base.len())).unwrap_or(base);
    format!("{}{suffix}", head.trim_end_matches('-'))
}

/// Category names of the file → ids: an existing category matches by name (any case) or by the
/// address its name would get; a new name is created once, however often it appears.
pub(crate) struct CategoryIndex {
    by_name: HashMap<String, Uuid>,
    by_slug: HashMap<String, Uuid>,
}

impl CategoryIndex {
    fn new(existing: Vec<ExistingCategory>) -> Self {
        let mut index = CategoryIndex {
            by_name: HashMap::new(),
            by_slug: HashMap::new(),
        };
        for c in existing {
            index.by_name.insert(c.name.to_lowercase(), c.id);
            index.by_slug.insert(c.slug, c.id);
        }
        index
    }

    fn id_for(&mut self, name: &str, created: &mut Vec<NewCategory>) -> Uuid {
        let key = name.to_lowercase();
        if let Some(id) = self.by_name.get(&key) {
            return *id;
        }
        let slug = slugify(name, "category");
        let id = match self.by_slug.get(&slug) {
            Some(id) => *id,
            None => {
                let id = Uuid::now_v7();
                created.push(NewCategory {
                    id,
                    name: name.to_string(),
                    slug: slug.clone(),
                });
                self.by_slug.insert(slug, id);
                id
            }
        };
        self.by_name.insert(key, id);
        id
    }
}

/// The options and variants of every product of the file, as arrays for `unnest`.
#[derive(Default)]
struct VariantColumns {
    products: Vec<Uuid>,
    option_product: Vec<Uuid>,
    option_position: Vec<i16>,
    option_name: Vec<String>,
    /// JSON arrays of the values (`unnest` cannot take an array of arrays of different lengths).
    option_values: Vec<String>,
    id: Vec<Uuid>,
    product: Vec<Uuid>,
    o1: Vec<Option<String>>,
    o2: Vec<Option<String>>,
    o3: Vec<Option<String>>,
    sku: Vec<Option<String>>,
    price_minor: Vec<i64>,
    compare_at_minor: Vec<Option<i64>>,
    track_stock: Vec<bool>,
    stock: Vec<i32>,
    enabled: Vec<bool>,
    position: Vec<i32>,
}

impl VariantColumns {
    fn push(&mut self, product: Uuid, new: bool, planned: PlannedOptions) {
        self.products.push(product);
        for (i, o) in planned.options.into_iter().enumerate() {
            self.option_product.push(product);
            self.option_position.push(i as i16 + 1);
            self.option_name.push(o.name);
            self.option_values
                .push(serde_json::to_string(&o.values).unwrap_or_else(|_| "[]".into()));
        }
        let single = planned.variants.len() == 1 && planned.variants[0].values.is_empty();
        for (i, v) in planned.variants.into_iter().enumerate() {
            // A new product sold in one form: its variant shares its id, as in the dashboard.
            self.id.push(if new && single {
                product
            } else {
                Uuid::now_v7()
            });
            self.product.push(product);
            self.o1.push(v.values.first().cloned());
            self.o2.push(v.values.get(1).cloned());
            self.o3.push(v.values.get(2).cloned());
            self.sku.push(v.sku);
            self.price_minor.push(v.price_minor);
            self.compare_at_minor.push(v.compare_at_minor);
            self.track_stock.push(v.track_stock);
            self.stock.push(v.stock);
            self.enabled.push(v.enabled);
            self.position.push(i as i32);
        }
    }

    /// Makes each product's options and variants what the file says: variants whose values
    /// the file names are updated in place (their ids, and so carts and past orders, stay),
    /// new ones are created, and the product's other variants are removed. The trigger on
    /// product_variants then refreshes each product's price, stock and SKU summary.
    async fn write(&self, tx: &mut sqlx::PgConnection, shop_id: Uuid) -> AppResult<()> {
        sqlx::query("delete from product_options where shop_id = $1 and product_id = any($2)")
            .bind(shop_id)
            .bind(&self.products)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "insert into product_options (shop_id, product_id, position, name, choices)
             select $1, t.product_id, t.position, t.name, array(select json_array_elements_text(t.choices::json))
             from unnest($2::uuid[], $3::int2[], $4::text[], $5::text[]) as t(product_id, position, name, choices)",
        )
        .bind(shop_id)
        .bind(&self.option_product)
        .bind(&self.option_position)
        .bind(&self.option_name)
        .bind(&self.option_values)
        .execute(&mut *tx)
        .await?;
        // SKUs may move between variants of the file's products: clear them first, so the
        // row-by-row unique check never sees one SKU on two rows half-way.
        sqlx::query(
            "update product_variants set sku = null
             where shop_id = $1 and product_id = any($2) and sku is not null",
        )
        .bind(shop_id)
        .bind(&self.products)
        .execute(&mut *tx)
        .await?;
        let kept: Vec<Uuid> = sqlx::query_scalar(
            "insert into product_variants (id, shop_id, product_id, options, sku, price_minor, compare_at_minor,
                                           track_stock, stock, enabled, position)
             select t.id, $1, t.product_id, array_remove(array[t.o1, t.o2, t.o3], null), t.sku, t.price_minor,
                    t.compare_at_minor, t.track_stock, t.stock, t.enabled, t.position
             from unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int8[],
                         $9::int8[], $10::bool[], $11::int4[], $12::bool[], $13::int4[])
                  as t(id, product_id, o1, o2, o3, sku, price_minor, compare_at_minor, track_stock, stock, enabled, position)
             on conflict (product_id, options) do update set
                 sku = excluded.sku, price_minor = excluded.price_minor, compare_at_minor = excluded.compare_at_minor,
                 track_stock = excluded.track_stock, stock = excluded.stock, enabled = excluded.enabled,
                 position = excluded.position, updated_at = now()
             returning id",
        )
        .bind(shop_id)
        .bind(&self.id)
        .bind(&self.product)
        .bind(&self.o1)
        .bind(&self.o2)
        .bind(&self.o3)
        .bind(&self.sku)
        .bind(&self.price_minor)
        .bind(&self.compare_at_minor)
        .bind(&self.track_stock)
        .bind(&self.stock)
        .bind(&self.enabled)
        .bind(&self.position)
        .fetch_all(&mut *tx)
        .await
        .map_err(map_unique)?;
        sqlx::query(
            "delete from product_variants
             where shop_id = $1 and product_id = any($2) and id not in (select unnest($3::uuid[]))",
        )
        .bind(shop_id)
        .bind(&self.products)
        .bind(&kept)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}

/// Product columns as arrays, one element per product, for `unnest`.
#[derive(Default)]
struct Columns {
    id: Vec<Uuid>,
    title: Vec<String>,
    slug: Vec<String>,
    description: Vec<String>,
    price_minor: Vec<i64>,
    compare_at_minor: Vec<Option<i64>>,
    sku: Vec<Option<String>>,
    track_stock: Vec<bool>,
    stock: Vec<i32>,
    status: Vec<String>,
    /// Product → category pairs.
    link_product: Vec<Uuid>,
    link_category: Vec<Uuid>,
}

impl Columns {
    fn push(&mut self, id: Uuid, p: ValidProduct) {
        for c in &p.categories {
            self.link_product.push(id);
            self.link_category.push(*c);
        }
        self.id.push(id);
        self.title.push(p.title);
        self.slug.push(p.slug);
        self.description.push(p.description);
        self.price_minor.push(p.price_minor);
        self.compare_at_minor.push(p.compare_at_minor);
        self.sku.push(p.sku);
        self.track_stock.push(p.track_stock);
        self.stock.push(p.stock);
        self.status.push(p.status.as_str().to_string());
    }

    fn bind<'q>(
        &'q self,
        query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        query
            .bind(&self.id)
            .bind(&self.title)
            .bind(&self.slug)
            .bind(&self.description)
            .bind(&self.price_minor)
            .bind(&self.compare_at_minor)
            .bind(&self.sku)
            .bind(&self.track_stock)
            .bind(&self.stock)
            .bind(&self.status)
    }
}

const UNNEST_PRODUCTS: &str = "unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::int8[], $8::text[],
                                     $9::bool[], $10::int4[], $11::text[])
           as t(id, title, slug, description, price_minor, compare_at_minor, sku, track_stock, stock, status)";

/// Writes a checked plan in one transaction, one statement per kind of change.
async fn write_plan(state: &AppState, shop_id: Uuid, plan: Plan) -> AppResult<ImportReport> {
    let mut tx = state.pool.begin().await?;
    let report = write_batch(&mut tx, shop_id, plan).await?;
    finish_import(&mut tx, shop_id, &report).await?;
    tx.commit().await?;
    Ok(report)
}

/// Writes one checked plan (a whole file, or one batch of an import) inside the caller's
/// transaction; [`finish_import`] follows the last.
pub(crate) async fn write_batch(
    tx: &mut sqlx::PgConnection,
    shop_id: Uuid,
    plan: Plan,
) -> AppResult<ImportReport> {
    let report = ImportReport {
        created: plan.inserts.len(),
        updated: plan.updates.len(),
    };
    let mut inserts = Columns::default();
    let mut variants = VariantColumns::default();
    for (p, planned) in plan.inserts {
        let id = Uuid::now_v7();
        variants.push(id, true, planned);
        inserts.push(id, p);
    }
    let mut updates = Columns::default();
    for (id, p, planned) in plan.updates {
        variants.push(id, false, planned);
        updates.push(id, p);
    }
    if !plan.new_categories.is_empty() {
        let (ids, names, slugs): (Vec<Uuid>, Vec<String>, Vec<String>) = plan
            .new_categories
            .into_iter()
            .map(|c| (c.id, c.name, c.slug))
            .collect();
        sqlx::query(
            "insert into categories (id, shop_id, name, slug, position)
             select t.id, $1, t.name, t.slug,
                    (coalesce((select max(position) + 1 from categories where shop_id = $1), 0) + t.ord - 1)::int
             from unnest($2::uuid[], $3::text[], $4::text[]) with ordinality as t(id, name, slug, ord)",
        )
        .bind(shop_id)
        .bind(&ids)
        .bind(&names)
        .bind(&slugs)
        .execute(&mut *tx)
        .await
        .map_err(map_unique)?;
    }
    if !updates.id.is_empty() {
        // The unique slug index is checked row by row, so products trading addresses within one
        // file would collide half-way through the update: those first step aside to a slug no
        // product can have (it embeds their own id).
        if !plan.renamed.is_empty() {
            sqlx::query(
                "update products set slug = 'import-' || replace(id::text, '-', '')
                 where shop_id = $1 and id = any($2::uuid[])",
            )
            .bind(shop_id)
            .bind(&plan.renamed)
            .execute(&mut *tx)
            .await?;
        }
        let sql = format!(
            "update products p
                set title = t.title, slug = t.slug, description = t.description, status = t.status,
                    updated_at = now()
             from {UNNEST_PRODUCTS}
             where p.id = t.id and p.shop_id = $1"
        );
        let done = updates
            .bind(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(shop_id))
            .execute(&mut *tx)
            .await
            .map_err(map_unique)?;
        if done.rows_affected() != updates.id.len() as u64 {
            // A product was deleted between reading the file and writing it.
            return Err(AppError::Conflict(
                "Your catalog changed while the file was being imported. Nothing was imported: try again.".into(),
            ));
        }
        sqlx::query(
            "delete from product_categories where shop_id = $1 and product_id = any($2::uuid[])",
        )
        .bind(shop_id)
        .bind(&updates.id)
        .execute(&mut *tx)
        .await?;
    }
    if !inserts.id.is_empty() {
        let sql = format!(
            "insert into products (id, shop_id, title, slug, description, price_minor, compare_at_minor, sku,
                                   track_stock, stock, status)
             select t.id, $1, t.title, t.slug, t.description, t.price_minor, t.compare_at_minor, t.sku,
                    t.track_stock, t.stock, t.status
             from {UNNEST_PRODUCTS}"
        );
        inserts
            .bind(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(shop_id))
            .execute(&mut *tx)
            .await
            .map_err(map_unique)?;
    }
    variants.write(&mut *tx, shop_id).await?;
    let (products, categories): (Vec<Uuid>, Vec<Uuid>) = (
        [updates.link_product, inserts.link_product].concat(),
        [updates.link_category, inserts.link_category].concat(),
    );
    if !products.is_empty() {
        sqlx::query(
            "insert into product_categories (shop_id, product_id, category_id)
             select $1, t.product_id, t.category_id from unnest($2::uuid[], $3::uuid[]) as t(product_id, category_id)",
        )
        .bind(shop_id)
        .bind(&products)
        .bind(&categories)
        .execute(&mut *tx)
        .await
        .map_err(map_unique)?;
    }
    Ok(report)
}

/// After the last batch of an import: the analytics event and the new catalog version (so the
/// storefront's cached pages are rebuilt).
pub(crate) async fn finish_import(
    tx: &mut sqlx::PgConnection,
    shop_id: Uuid,
    report: &ImportReport,
) -> AppResult<()> {
    crate::analytics::ssr::record_event(&mut *tx, shop_id, "catalog_csv_imported").await?;
    bump_catalog_version(&mut *tx, shop_id).await?;
    tracing::info!(%shop_id, created = report.created, updated = report.updated, "catalog imported");
    Ok(())
}

/// Middleware: lets the import's request body exceed axum's default 2 MB limit, up to
/// [`MAX_IMPORT_BODY_BYTES`], so that the import itself can refuse an oversized file with a
/// message saying what to do. Every other request keeps the default.
pub async fn import_body_limit(
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use server_fn::ServerFn;
    if req.uri().path() == super::api::ImportCatalog::PATH {
        axum::extract::DefaultBodyLimit::max(MAX_IMPORT_BODY_BYTES).apply(&mut req);
    }
    next.run(req).await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifty_thousand_products_with_one_title_get_distinct_slugs() {
        let mut slugs = SlugPlanner::new(std::iter::once(("scarf-3".to_string(), Uuid::nil())));
        let mut seen = HashSet::new();
        for _ in 0..50_000 {
            let slug = slugs.derive("scarf");
            assert!(super::super::is_valid_slug(&slug), "{slug}");
            slugs.claim(&slug, None);
            assert!(seen.insert(slug), "a slug was handed out twice");
        }
        assert!(seen.contains("scarf") && seen.contains("scarf-2") && seen.contains("scarf-50001"));
        assert!(
            !seen.contains("scarf-3"),
            "an existing product's slug is never reused"
        );
    }

    #[test]
    fn numbered_slugs_stay_within_eighty_characters() {
        let base = "a".repeat(80);
        let mut slugs = SlugPlanner::new(std::iter::once((base.clone(), Uuid::nil())));
        let slug = slugs.derive(&base);
        assert_eq!(slug.len(), 80);
        assert!(slug.ends_with("-2") && super::super::is_valid_slug(&slug));
        // A hyphen at the cut is dropped rather than doubled.
        assert_eq!(
            numbered(&format!("{}-b", "a".repeat(77)), 10),
            format!("{}-10", "a".repeat(77))
        );
    }

    #[test]
    fn a_product_keeps_or_gives_up_its_own_slug() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let mut slugs = SlugPlanner::new([("wrap".to_string(), a)].into_iter());
        assert!(slugs.is_free_for("wrap", Some(a)));
        assert!(!slugs.is_free_for("wrap", Some(b)));
        assert!(!slugs.is_free_for("wrap", None));
        slugs.release("wrap");
        slugs.claim("new-wrap", Some(a));
        assert!(slugs.is_free_for("wrap", None), "freed by the rename");
        assert_eq!(slugs.derive("new-wrap"), "new-wrap-2");
    }

    #[test]
    fn size_cap_names_the_size_and_the_way_out() {
        assert!(check_size(MAX_IMPORT_BYTES).is_ok());
        let AppError::Validation(fields) = check_size(6 * 1024 * 1024).unwrap_err() else {
            panic!("a validation error");
        };
        assert!(fields["csv"].contains("6.0 MB") && fields["csv"].contains("Split"));
    }
}
