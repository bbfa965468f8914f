//! Imports from Shopify and WooCommerce: upload a product export, see what it would do (a dry
//! run: nothing is written), confirm, then watch its images arrive.
//!
//! The file is stored on upload, so the preview and the import read the same bytes, and
//! confirming twice writes once. The file becomes rows of our own catalog CSV (`foreign.rs`)
//! and goes through the same checks and writes as our CSV import, so re-importing a file
//! updates the products it made (matched by handle/slug and SKU) instead of duplicating them.
//! Images named by URL are fetched by jobs, one per image, with retries, refusing private and
//! loopback addresses (server-side request forgery), non-images and oversized files.

use super::foreign::{self, Columns, Source};
use super::{ImportImage, ImportPreview, ImportReport, RowError};
use crate::error::{AppError, AppResult};
use crate::platform::jobs::{JobContext, JobError, NewJob, Registry};
use crate::state::AppState;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use uuid::Uuid;

pub use super::staged::MAX_FILE_BYTES;
pub const FETCH_IMAGE: &str = "catalog.fetch_image";
/// Redirects followed when fetching an image, each to an address checked like the first.
const MAX_REDIRECTS: usize = 3;
/// Products a preview lists by name, and problems it lists (the counts cover the whole file).
const LISTED_PRODUCTS: usize = 100;
const LISTED_ERRORS: usize = 500;

pub fn register_jobs(registry: &mut Registry) {
    registry.register(FETCH_IMAGE, |ctx: JobContext, p: ImageJob| async move {
        fetch_image(&ctx, p.image).await
    });
}

#[derive(Serialize, Deserialize)]
pub struct ImageJob {
    pub image: Uuid,
}

/// Stores an uploaded export given whole; returns its id for the preview page.
pub async fn upload(
    state: &AppState,
    shop_id: Uuid,
    source: Source,
    filename: &str,
    bytes: &[u8],
) -> AppResult<Uuid> {
    let chunk = axum::body::Bytes::copy_from_slice(bytes);
    upload_stream(
        state,
        shop_id,
        source,
        filename,
        futures_util::stream::iter([Ok(chunk)]),
    )
    .await
}

/// Stores an export as it streams in, never holding it whole; returns its id.
pub async fn upload_stream<S>(
    state: &AppState,
    shop_id: Uuid,
    source: Source,
    filename: &str,
    chunks: S,
) -> AppResult<Uuid>
where
    S: futures_util::Stream<Item = AppResult<axum::body::Bytes>> + Unpin,
{
    let id = Uuid::now_v7();
    let mut tx = state.pool.begin().await?;
    sqlx::query(
        "insert into catalog_imports (id, shop_id, source, filename, headers) values ($1, $2, $3, $4, '{}')",
    )
    .bind(id)
    .bind(shop_id)
    .bind(source.as_str())
    .bind(filename.chars().take(200).collect::<String>())
    .execute(&mut *tx)
    .await?;
    let bytes = super::staged::store(&mut tx, id, source, chunks).await?;
    if bytes == 0 {
        return Err(AppError::validation(
            "file",
            format!(
                "Choose the {} product export (a .csv file) first.",
                source.name()
            ),
        ));
    }
    tx.commit().await?;
    tracing::info!(%shop_id, import_id = %id, source = source.as_str(), bytes, "catalog export uploaded");
    Ok(id)
}

#[derive(sqlx::FromRow)]
struct ImportRow {
    source: String,
    filename: String,
    headers: Option<Vec<String>>,
    /// An upload stored whole by an earlier version: stored as records when first read.
    body: Option<String>,
    confirmed_at: Option<time::OffsetDateTime>,
    report: Option<sqlx::types::Json<ImportReport>>,
}

impl ImportRow {
    fn source(&self) -> AppResult<Source> {
        Source::parse(&self.source)
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("unknown import source")))
    }
}

async fn load(
    conn: &mut sqlx::PgConnection,
    shop_id: Uuid,
    id: Uuid,
    lock: bool,
) -> AppResult<ImportRow> {
    let sql = if lock {
        "select source, filename, headers, body, confirmed_at, report from catalog_imports where id = $1 and shop_id = $2 for update"
    } else {
        "select source, filename, headers, body, confirmed_at, report from catalog_imports where id = $1 and shop_id = $2"
    };
    let mut row: ImportRow = sqlx::query_as(sql)
        .bind(id)
        .bind(shop_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(AppError::NotFound)?;
    if row.headers.is_none()
        && row.confirmed_at.is_none()
        && let Some(body) = row.body.take()
    {
        let chunk = axum::body::Bytes::from(body.into_bytes());
        super::staged::store(
            &mut *conn,
            id,
            row.source()?,
            futures_util::stream::iter([Ok(chunk)]),
        )
        .await?;
        sqlx::query("update catalog_imports set body = null where id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await?;
        row.headers = sqlx::query_scalar("select headers from catalog_imports where id = $1")
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
    }
    Ok(row)
}

/// What reading a stored file found: what it would write (the first products by name, counts
/// for all), or its problems by the line of the merchant's file.
#[derive(Default)]
struct Outcome {
    products: Vec<super::PlannedProduct>,
    report: ImportReport,
    variants: usize,
    new_categories: Vec<String>,
    errors: Vec<RowError>,
    errors_total: usize,
    images: usize,
}

impl Outcome {
    fn problems(&mut self, errors: impl IntoIterator<Item = RowError>) {
        for e in errors {
            self.errors_total += 1;
            self.errors.push(e);
        }
        // Kept sorted and short: a file with 10,000 bad rows does not fill the memory.
        if self.errors.len() > 2 * LISTED_ERRORS {
            self.tidy_errors();
        }
    }

    fn tidy_errors(&mut self) {
        self.errors
            .sort_by(|a, b| (a.line, &a.message).cmp(&(b.line, &b.message)));
        let before = self.errors.len();
        self.errors.dedup();
        self.errors_total -= before - self.errors.len();
        self.errors.truncate(LISTED_ERRORS);
    }
}

/// Reads a stored file a batch of products at a time: converts each batch to our catalog
/// rows, checks it against the products it can touch, and — when `write` is set and nothing
/// is wrong so far — writes it and queues its images in the caller's transaction. Memory
/// holds one batch, the shop's categories and the short lists the preview shows.
async fn run(
    state: &AppState,
    conn: &mut sqlx::PgConnection,
    shop_id: Uuid,
    id: Uuid,
    row: &ImportRow,
    write: bool,
) -> AppResult<Outcome> {
    let mut outcome = Outcome::default();
    let currency = super::ssr::shop_currency(&state.pool, shop_id).await?;
    let headers = csv::StringRecord::from(row.headers.clone().unwrap_or_default());
    let columns = std::sync::Arc::new(Columns::new(row.source()?, &headers));
    if let Some(message) = columns.problem() {
        outcome.problems([RowError { line: 1, message }]);
        return Ok(outcome);
    }
    outcome.problems(super::staged::repeated_skus(conn, id, LISTED_ERRORS as i64).await?);
    let mut categories = Some(super::csv::categories(conn, shop_id).await?);
    let mut after = -1;
    let mut batches = 0;
    loop {
        let (records, unreadable, end) = super::staged::batch(conn, id, after).await?;
        let Some(end) = end else { break };
        after = end;
        outcome.problems(unreadable);
        let (columns, currency_for) = (columns.clone(), currency.clone());
        let converted =
            tokio::task::spawn_blocking(move || columns.convert(&records, &currency_for))
                .await
                .map_err(|e| {
                    AppError::Internal(anyhow::anyhow!("import conversion failed: {e}"))
                })?;
        outcome.images += converted.images.len();
        let mut converted = converted;
        outcome.problems(std::mem::take(&mut converted.errors));
        if converted.rows == 0 {
            continue;
        }
        let existing =
            super::csv::existing_for(conn, shop_id, &converted.slugs, &converted.skus).await?;
        let (text, currency_for) = (std::mem::take(&mut converted.csv), currency.clone());
        let mut index = categories.take().unwrap_or_else(|| unreachable!());
        let (plan, index) = tokio::task::spawn_blocking(move || {
            let plan = super::csv::plan_batch(&text, &currency_for, existing, &mut index);
            (plan, index)
        })
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("import check failed: {e}")))?;
        categories = Some(index);
        let plan = match plan {
            Ok(Ok(plan)) => plan,
            Ok(Err(rows)) => {
                outcome.problems(converted.renumber(rows));
                continue;
            }
            // A batch has at most a few thousand rows: the row cap cannot be reached.
            Err(e) => return Err(e),
        };
        let summary = plan.summary(&currency);
        outcome.variants += summary.iter().map(|p| p.variants).sum::<usize>();
        for p in &summary {
            if p.action == "create" {
                outcome.report.created += 1;
            } else {
                outcome.report.updated += 1;
            }
        }
        let room = LISTED_PRODUCTS.saturating_sub(outcome.products.len());
        outcome.products.extend(summary.into_iter().take(room));
        outcome.new_categories.extend(plan.new_category_names());
        if write && outcome.errors_total == 0 {
            super::csv::write_batch(&mut *conn, shop_id, plan).await?;
            queue_images(&mut *conn, shop_id, id, &converted.images).await?;
            batches += 1;
            if batches == 1 {
                // The foreign-key checks of later batches are planned once per connection,
                // from the tables' statistics: on a new database (or with autovacuum off)
                // products looks empty and every check became a scan of the whole table,
                // growing with each batch (10 s instead of 2 for 10,000 variants). Fresh
                // statistics after the first batch (sampled, cheap, visible to this
                // transaction) give them the index.
                sqlx::query("analyze products, product_variants")
                    .execute(&mut *conn)
                    .await?;
            }
        }
    }
    outcome.tidy_errors();
    if outcome.errors_total == 0 && outcome.report.created + outcome.report.updated == 0 {
        outcome.problems([RowError {
            line: 1,
            message: "The file has no product rows.".into(),
        }]);
    }
    Ok(outcome)
}

/// The preview of an import not yet confirmed (nothing is written), or the outcome and image
/// progress of one that was.
pub async fn preview(state: &AppState, shop_id: Uuid, id: Uuid) -> AppResult<ImportPreview> {
    let mut conn = state.pool.acquire().await?;
    let row = load(&mut conn, shop_id, id, false).await?;
    let source = row.source()?.name().to_string();
    let mut preview = ImportPreview {
        id,
        source,
        filename: row.filename.clone(),
        confirmed: row.confirmed_at.is_some(),
        products: Vec::new(),
        creates: 0,
        updates: 0,
        variants: 0,
        new_categories: Vec::new(),
        errors: Vec::new(),
        errors_total: 0,
        images_planned: 0,
        report: None,
        images: Vec::new(),
        images_total: 0,
        images_done: 0,
        images_failed: 0,
    };
    if row.confirmed_at.is_some() {
        drop(conn);
        preview.report = row.report.map(|r| r.0);
        images(state, shop_id, id, &mut preview).await?;
        return Ok(preview);
    }
    let outcome = run(state, &mut conn, shop_id, id, &row, false).await?;
    preview.creates = outcome.report.created;
    preview.updates = outcome.report.updated;
    preview.variants = outcome.variants;
    preview.images_planned = outcome.images;
    if outcome.errors_total == 0 {
        preview.products = outcome.products;
        preview.new_categories = outcome.new_categories;
    } else {
        preview.errors = outcome.errors;
        preview.errors_total = outcome.errors_total;
    }
    Ok(preview)
}

async fn images(
    state: &AppState,
    shop_id: Uuid,
    id: Uuid,
    preview: &mut ImportPreview,
) -> AppResult<()> {
    let (total, done, failed): (i64, i64, i64) = sqlx::query_as(
        "select count(*), count(*) filter (where status = 'done'), count(*) filter (where status = 'failed')
         from catalog_import_images where import_id = $1 and shop_id = $2",
    )
    .bind(id)
    .bind(shop_id)
    .fetch_one(&state.pool)
    .await?;
    let rows: Vec<(Uuid, String, String, String, Option<String>)> = sqlx::query_as(
        "select i.id, p.title, i.url, i.status, i.error from catalog_import_images i
         join products p on p.id = i.product_id
         where i.import_id = $1 and i.shop_id = $2
         order by i.status = 'failed' desc, i.product_id, i.position limit $3",
    )
    .bind(id)
    .bind(shop_id)
    .bind(LISTED_ERRORS as i64)
    .fetch_all(&state.pool)
    .await?;
    preview.images = rows
        .into_iter()
        .map(|(id, product, url, status, error)| ImportImage {
            id,
            product,
            url,
            status,
            error,
        })
        .collect();
    (
        preview.images_total,
        preview.images_done,
        preview.images_failed,
    ) = (total as usize, done as usize, failed as usize);
    Ok(())
}

/// Writes the import (once: a second confirm answers the first one's report) and queues its
/// images, batch by batch in one transaction. A file with problems writes nothing and lists
/// them. The stored records are deleted once written.
pub async fn confirm(state: &AppState, shop_id: Uuid, id: Uuid) -> AppResult<ImportReport> {
    let mut tx = state.pool.begin().await?;
    let row = load(&mut tx, shop_id, id, true).await?;
    if row.confirmed_at.is_some() {
        return row.report.map(|r| r.0).ok_or(AppError::NotFound);
    }
    let outcome = run(state, &mut tx, shop_id, id, &row, true).await?;
    if outcome.errors_total > 0 {
        let text = outcome
            .errors
            .iter()
            .take(100)
            .map(|e| format!("Line {}: {}", e.line, e.message))
            .collect::<Vec<_>>()
            .join("\n");
        return Err(AppError::validation(
            "file",
            format!("Nothing was imported. Fix these rows and upload the file again:\n{text}"),
        ));
    }
    let report = outcome.report;
    super::csv::finish_import(&mut tx, shop_id, &report).await?;
    sqlx::query("delete from catalog_import_rows where import_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "update catalog_imports set confirmed_at = now(), report = $3 where id = $1 and shop_id = $2",
    )
    .bind(id)
    .bind(shop_id)
    .bind(sqlx::types::Json(&report))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(%shop_id, import_id = %id, created = report.created, updated = report.updated, images = outcome.images, "catalog import confirmed");
    Ok(report)
}

/// One row and one job per image of a product, unless that product already has (or is
/// fetching) the image from that address: importing a file again adds no duplicates. The
/// variants that show an image point at it once it has arrived (at once, when it already has).
async fn queue_images(
    tx: &mut sqlx::PgConnection,
    shop_id: Uuid,
    import_id: Uuid,
    images: &[foreign::ImageRef],
) -> AppResult<()> {
    if images.is_empty() {
        return Ok(());
    }
    let mut position: std::collections::HashMap<&str, i32> = std::collections::HashMap::new();
    let (mut slugs, mut urls, mut alts, mut positions, mut variants) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for image in images {
        let n = position.entry(image.slug.as_str()).or_insert(0);
        slugs.push(image.slug.clone());
        urls.push(image.url.clone());
        alts.push(image.alt.clone());
        positions.push(*n);
        variants.push(serde_json::to_value(&image.variants).unwrap_or_default());
        *n += 1;
    }
    // An image this product already has or is fetching: the file may now name other variants.
    sqlx::query(
        "update catalog_import_images x set variants = t.variants
         from unnest($2::text[], $3::text[], $4::jsonb[]) as t(slug, url, variants)
         join products p on p.shop_id = $1 and p.slug = t.slug
         where x.shop_id = $1 and x.product_id = p.id and x.url = t.url and x.status <> 'failed'",
    )
    .bind(shop_id)
    .bind(&slugs)
    .bind(&urls)
    .bind(&variants)
    .execute(&mut *tx)
    .await?;
    let queued: Vec<Uuid> = sqlx::query_scalar(
        "insert into catalog_import_images (id, import_id, shop_id, product_id, url, alt, position, variants)
         select gen_random_uuid(), $1, $2, p.id, t.url, t.alt, t.position, t.variants
         from unnest($3::text[], $4::text[], $5::text[], $6::int4[], $7::jsonb[])
              as t(slug, url, alt, position, variants)
         join products p on p.shop_id = $2 and p.slug = t.slug
         where not exists (select 1 from catalog_import_images x
                           where x.product_id = p.id and x.url = t.url and x.status <> 'failed')
         returning id",
    )
    .bind(import_id)
    .bind(shop_id)
    .bind(&slugs)
    .bind(&urls)
    .bind(&alts)
    .bind(&positions)
    .bind(&variants)
    .fetch_all(&mut *tx)
    .await?;
    // Images already here (an earlier import of the same file): link their variants now.
    sqlx::query(
        "update product_variants v set image_id = x.image_id
         from catalog_import_images x
         join products p on p.id = x.product_id and p.shop_id = $1
         where x.shop_id = $1 and p.slug = any($2) and x.status = 'done'
           and x.image_id is not null and v.shop_id = $1 and v.product_id = x.product_id
           and exists (select 1 from jsonb_array_elements(x.variants) e
                       where e = to_jsonb(v.options))",
    )
    .bind(shop_id)
    .bind(&slugs)
    .execute(&mut *tx)
    .await?;
    for image in queued {
        crate::platform::jobs::enqueue(
            tx,
            NewJob::new(FETCH_IMAGE, ImageJob { image }).idempotency_key(image.to_string()),
        )
        .await?;
    }
    Ok(())
}

/// Tries a failed image again (a new job; the old one is finished).
pub async fn retry_image(state: &AppState, shop_id: Uuid, image: Uuid) -> AppResult<()> {
    let mut tx = state.pool.begin().await?;
    let done = sqlx::query(
        "update catalog_import_images set status = 'queued', error = null, updated_at = now()
         where id = $1 and shop_id = $2 and status = 'failed'",
    )
    .bind(image)
    .bind(shop_id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    crate::platform::jobs::enqueue(
        &mut tx,
        NewJob::new(FETCH_IMAGE, ImageJob { image })
            .idempotency_key(format!("{image}:{}", Uuid::now_v7())),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Why an image could not be fetched, and whether trying again could help.
enum Fetch {
    Retry(String),
    Fail(String),
}

async fn fetch_image(ctx: &JobContext, id: Uuid) -> Result<(), JobError> {
    let state = &ctx.state;
    let row: Option<(Uuid, Uuid, String, String, i32, String)> = sqlx::query_as(
        "select shop_id, product_id, url, alt, position, status from catalog_import_images where id = $1",
    )
    .bind(id)
    .fetch_optional(&state.pool)
    .await
    .map_err(JobError::retry)?;
    let Some((shop_id, product_id, url, alt, position, status)) = row else {
        return Ok(()); // the product (and with it the row) was deleted
    };
    if status != "queued" {
        return Ok(());
    }
    let outcome = match download(state, &url).await {
        Ok(bytes) => store(state, shop_id, product_id, bytes, &alt, position).await,
        Err(e) => Err(e),
    };
    let (status, error, result) = match outcome {
        Ok(image_id) => {
            sqlx::query("update catalog_import_images set image_id = $2 where id = $1")
                .bind(id)
                .bind(image_id)
                .execute(&state.pool)
                .await
                .map_err(JobError::retry)?;
            link_variants(state, id, image_id)
                .await
                .map_err(JobError::retry)?;
            ("done", None, Ok(()))
        }
        Err(Fetch::Retry(m)) if ctx.attempt < ctx.max_attempts => (
            "queued",
            Some(m.clone()),
            Err(JobError::retry(anyhow::anyhow!(m))),
        ),
        Err(Fetch::Retry(m) | Fetch::Fail(m)) => ("failed", Some(m), Ok(())),
    };
    sqlx::query(
        "update catalog_import_images set status = $2, error = $3, updated_at = now() where id = $1",
    )
    .bind(id)
    .bind(status)
    .bind(error)
    .execute(&state.pool)
    .await
    .map_err(JobError::retry)?;
    result
}

/// Points the variants that show an imported image at it (Shopify's `Variant Image`, a
/// WooCommerce variation's image). Read when the image arrives, so a variant the merchant
/// removed meanwhile is simply not found; the variant editor's own choice is overwritten
/// only by this file's.
async fn link_variants(state: &AppState, import_image: Uuid, image_id: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "update product_variants v set image_id = $2
         from catalog_import_images x
         where x.id = $1 and v.shop_id = x.shop_id and v.product_id = x.product_id
           and exists (select 1 from jsonb_array_elements(x.variants) e
                       where e = to_jsonb(v.options))",
    )
    .bind(import_image)
    .bind(image_id)
    .execute(&state.pool)
    .await?;
    Ok(())
}

async fn store(
    state: &AppState,
    shop_id: Uuid,
    product_id: Uuid,
    bytes: Vec<u8>,
    alt: &str,
    position: i32,
) -> Result<Uuid, Fetch> {
    let stored = if state.media.is_cloudinary() {
        state.media.store_cloudinary(shop_id, bytes).await
    } else {
        state.media.store_local(shop_id, bytes).await
    };
    let stored = match stored {
        Ok(s) => s,
        Err(AppError::Validation(fields)) => {
            return Err(Fetch::Fail(
                fields
                    .into_values()
                    .next()
                    .unwrap_or_else(|| "This file is not an image we can use.".into()),
            ));
        }
        Err(e) => return Err(Fetch::Retry(e.to_string())),
    };
    let image_id = stored.id;
    match crate::media::images::insert_image(state, shop_id, Some(product_id), &stored, alt).await {
        Ok(()) => {}
        Err(AppError::NotFound) => return Err(Fetch::Fail("The product was deleted.".into())),
        Err(e) => return Err(Fetch::Retry(e.to_string())),
    }
    // Jobs finish in any order: the file's order decides the gallery's.
    let _ = sqlx::query("update images set position = $2 where id = $1")
        .bind(image_id)
        .bind(position)
        .execute(&state.pool)
        .await;
    Ok(image_id)
}

/// Whether an address may be fetched: public unicast only (no loopback, private, link-local,
/// carrier-grade NAT, multicast, documentation or unspecified addresses, in IPv4 or IPv6,
/// IPv4-mapped included), unless private addresses are allowed (tests).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

/// GETs an image, following at most [`MAX_REDIRECTS`] redirects, each target's address
/// resolved and checked first and then connected to as resolved (so DNS cannot answer
/// differently between the check and the connection).
async fn download(state: &AppState, url: &str) -> Result<Vec<u8>, Fetch> {
    let mut url = reqwest::Url::parse(url)
        .map_err(|_| Fetch::Fail(format!("{url} is not a web address.")))?;
    for _ in 0..=MAX_REDIRECTS {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Fetch::Fail(
                "Only http and https addresses are fetched.".into(),
            ));
        }
        let host = url
            .host_str()
            .ok_or_else(|| Fetch::Fail("The address has no host.".into()))?
            .trim_matches(|c| c == '[' || c == ']')
            .to_string();
        let port = url.port_or_known_default().unwrap_or(80);
        let addrs: Vec<std::net::SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![std::net::SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(|e| Fetch::Retry(format!("{host} could not be found: {e}")))?
                .collect(),
        };
        let allowed = state.config.import_allow_private_urls;
        let Some(addr) = addrs.iter().find(|a| allowed || is_public(a.ip())).copied() else {
            return Err(Fetch::Fail(format!(
                "Refused: {host} is a private or local address."
            )));
        };
        if !allowed && addrs.iter().any(|a| !is_public(a.ip())) {
            return Err(Fetch::Fail(format!(
                "Refused: {host} resolves to a private or local address."
            )));
        }
        // A client per request, pinned to the address just checked.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .resolve(&host, addr)
            .connect_timeout(std::time::Duration::from_secs(
                state.config.http_connect_timeout_secs,
            ))
            .timeout(std::time::Duration::from_secs(
                state.config.http_timeout_secs,
            ))
            .user_agent(crate::platform::http::USER_AGENT)
            .build()
            .map_err(|e| Fetch::Retry(e.to_string()))?;
        let mut res = client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| Fetch::Retry(format!("The image server did not answer: {e}")))?;
        let status = res.status();
        if status.is_redirection() {
            let next = res
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| url.join(l).ok())
                .ok_or_else(|| Fetch::Fail("A redirect without a valid address.".into()))?;
            url = next;
            continue;
        }
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(Fetch::Retry(format!("The image server answered {status}.")));
        }
        if !status.is_success() {
            return Err(Fetch::Fail(format!("The image server answered {status}.")));
        }
        let kind = res
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if !kind.starts_with("image/") {
            return Err(Fetch::Fail(format!(
                "Not an image (the server says {}).",
                if kind.is_empty() {
                    "nothing"
                } else {
                    kind.as_str()
                }
            )));
        }
        let limit = crate::media::ssr::MAX_UPLOAD_BYTES;
        if res.content_length().is_some_and(|n| n as usize > limit) {
            return Err(Fetch::Fail(too_big(limit)));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = res
            .chunk()
            .await
            .map_err(|e| Fetch::Retry(format!("The download broke off: {e}")))?
        {
            if bytes.len() + chunk.len() > limit {
                return Err(Fetch::Fail(too_big(limit)));
            }
            bytes.extend_from_slice(&chunk);
        }
        return Ok(bytes);
    }
    Err(Fetch::Fail("Too many redirects.".into()))
}

fn too_big(limit: usize) -> String {
    format!("The image is larger than {} MB.", limit / (1024 * 1024))
}

/// `POST /dashboard/import/upload` (multipart: `source`, `file`): stores the export and opens
/// its preview (303). A refusal goes back to the import page with the reason.
pub async fn upload_route(
    axum::extract::State(state): axum::extract::State<AppState>,
    session: Option<axum::Extension<crate::auth::ssr::Session>>,
    mut multipart: axum::extract::Multipart,
) -> axum::response::Response {
    use axum::response::{IntoResponse, Redirect};
    let shop = match crate::request::route_shop(&state.pool, session).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let result = async {
        let mut source = None;
        let broken = |e: axum::extract::multipart::MultipartError| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                AppError::validation(
                    "file",
                    format!(
                        "This file is larger than {} MB. Export your products in parts and import each.",
                        MAX_FILE_BYTES / (1024 * 1024)
                    ),
                )
            } else {
                AppError::validation(
                    "file",
                    format!("The upload did not arrive complete ({}). Try again.", e.body_text()),
                )
            }
        };
        // The form sends `source` before `file`, so the file can be stored as it streams in.
        while let Some(field) = multipart.next_field().await.map_err(broken)? {
            match field.name().unwrap_or_default() {
                "source" => source = Source::parse(&field.text().await.map_err(broken)?),
                "file" => {
                    let source = source.ok_or_else(|| {
                        AppError::validation(
                            "source",
                            "Choose where the file comes from: Shopify or WooCommerce.",
                        )
                    })?;
                    let filename = field.file_name().unwrap_or_default().to_string();
                    let chunks = field.map(|chunk| chunk.map_err(broken));
                    return upload_stream(&state, shop.shop_id, source, &filename, chunks).await;
                }
                _ => {}
            }
        }
        Err(AppError::validation(
            "file",
            "Choose the product export (a .csv file) first.",
        ))
    }
    .await;
    match result {
        Ok(id) => Redirect::to(&format!("/dashboard/import/{id}")).into_response(),
        Err(e) => {
            let message = match e.into_api() {
                crate::error::ApiError::Validation(fields) => {
                    fields.values().cloned().collect::<Vec<_>>().join(" ")
                }
                other => other.to_string(),
            };
            Redirect::to(&format!(
                "/dashboard/import?import_error={}",
                crate::media::routes::form_urlencoded(&message)
            ))
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_public;

    #[test]
    fn only_public_addresses_are_fetched() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip} is refused");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip} is allowed");
        }
    }
}
