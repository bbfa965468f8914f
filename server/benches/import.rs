//! `make bench` (not a test): a 10,000-variant Shopify export — 2,500 products in four sizes,
//! descriptions in HTML, an image each — uploaded in 64 KB chunks as the upload route receives
//! it, previewed (a dry run) and imported, timed. Memory: the peak resident memory of the
//! preview and of the import, each above the process's size before it (the high-water mark is
//! reset through /proc/self/clear_refs), for this file and for one twice its size: reading in
//! batches, the two peaks are about the same. Images are not downloaded here (their jobs are
//! only queued).
//!
//! Run: `DATABASE_URL=postgres://…/postgres cargo bench -p server --bench import`.

use std::time::Instant;

const PRODUCTS: usize = 2_500;
const SIZES: [&str; 4] = ["S", "M", "L", "XL"];

fn shopify_file(products: usize) -> String {
    let mut out = String::from(
        "Handle,Title,Body (HTML),Vendor,Type,Tags,Published,Option1 Name,Option1 Value,Variant SKU,Variant Inventory Tracker,Variant Inventory Qty,Variant Price,Variant Compare At Price,Image Src,Image Position,Status\n",
    );
    for p in 0..products {
        for (i, size) in SIZES.iter().enumerate() {
            if i == 0 {
                out.push_str(&format!(
                    "item-{p},Item {p},\"<p>Hand-made <strong>item</strong> number {p}.</p><ul><li>Cotton</li><li>Wash cold</li></ul>\",Bench,Type {},\"tag{}, bench\",TRUE,Size,{size},SKU-{p}-{size},shopify,{},{}.00,,https://images.example.com/{p}.jpg,1,active\n",
                    p % 20,
                    p % 50,
                    p % 9,
                    1000 + p
                ));
            } else {
                out.push_str(&format!(
                    "item-{p},,,,,,,,{size},SKU-{p}-{size},shopify,{},{}.00,,,,\n",
                    p % 9,
                    1000 + p + i
                ));
            }
        }
    }
    out
}

fn status_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Starts a new high-water mark at the present size; returns that size.
fn reset_peak() -> f64 {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    status_mb("VmRSS:")
}

/// Peak resident memory since `reset_peak`, above the size it started from.
fn peak_above(base: f64) -> f64 {
    (status_mb("VmHWM:") - base).max(0.0)
}

struct Run {
    preview_secs: f64,
    import_secs: f64,
    preview_mb: f64,
    import_mb: f64,
    created: usize,
}

/// Uploads, previews and imports a file into a shop of its own.
async fn run(
    state: &app::state::AppState,
    pool: &sqlx::PgPool,
    shop: uuid::Uuid,
    file: String,
) -> anyhow::Result<Run> {
    sqlx::query(
        "insert into shops (id, merchant_id, name, slug)
         values ($1, '00000000-0000-0000-0000-000000000001', 'Bench', 'bench-' || $1::text)",
    )
    .bind(shop)
    .execute(pool)
    .await?;
    let err = |e: app::error::AppError| anyhow::anyhow!("{e}");
    let chunks: Vec<app::error::AppResult<axum::body::Bytes>> = file
        .as_bytes()
        .chunks(64 * 1024)
        .map(|c| Ok(axum::body::Bytes::copy_from_slice(c)))
        .collect();
    drop(file);
    let id = app::catalog::import::upload_stream(
        state,
        shop,
        app::catalog::foreign::Source::Shopify,
        "bench.csv",
        futures_util::stream::iter(chunks),
    )
    .await
    .map_err(err)?;
    let base = reset_peak();
    let started = Instant::now();
    let preview = app::catalog::import::preview(state, shop, id)
        .await
        .map_err(err)?;
    let preview_secs = started.elapsed().as_secs_f64();
    let preview_mb = peak_above(base);
    anyhow::ensure!(
        preview.errors.is_empty(),
        "preview errors: {:?}",
        &preview.errors[..3.min(preview.errors.len())]
    );
    drop(preview);
    let base = reset_peak();
    let started = Instant::now();
    let report = app::catalog::import::confirm(state, shop, id)
        .await
        .map_err(err)?;
    Ok(Run {
        preview_secs,
        import_secs: started.elapsed().as_secs_f64(),
        preview_mb,
        import_mb: peak_above(base),
        created: report.created,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let server = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let base = &server[..server.rfind('/').unwrap_or(server.len())];
    let name = "bizmaat_bench_import";
    let admin = sqlx::PgPool::connect(&format!("{base}/postgres")).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "drop database if exists {name} with (force)"
    )))
    .execute(&admin)
    .await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("create database {name}")))
        .execute(&admin)
        .await?;
    let url = format!("{base}/{name}");
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(5)
        .connect_with(server::db::connect_options(&url)?)
        .await?;
    server::db::migrate(&pool).await?;
    sqlx::raw_sql(
        "insert into merchants (id, full_name, email, password_hash, adult_confirmed_at, policy_version, policy_accepted_at)
             values ('00000000-0000-0000-0000-000000000001', 'Bench', 'bench@example.com', 'x', now(), '1', now());",
    )
    .execute(&pool)
    .await?;
    let vars = std::collections::HashMap::from([
        ("DATABASE_URL", url.clone()),
        ("APP_ENV", "development".to_string()),
        (
            "MEDIA_DIR",
            std::env::temp_dir()
                .join("bizmaat-bench-import")
                .display()
                .to_string(),
        ),
    ]);
    let config = app::config::Config::from_lookup(|k| vars.get(k).cloned())
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let state = app::state::AppState::new(
        server::startup::leptos_options(&config),
        pool.clone(),
        config,
    );
    let file = shopify_file(PRODUCTS);
    let mb = file.len() as f64 / 1e6;
    println!(
        "import benchmark: Shopify file of {PRODUCTS} products × {} sizes = {} variants, {mb:.1} MB",
        SIZES.len(),
        PRODUCTS * SIZES.len(),
    );
    let one = run(&state, &pool, uuid::Uuid::from_u128(2), file).await?;
    let variants: i64 = sqlx::query_scalar("select count(*) from product_variants")
        .fetch_one(&pool)
        .await?;
    println!(
        "  preview (dry run): {:.2} s (budget 10 s), peak memory +{:.1} MB\n  import:            {:.2} s (budget 30 s), peak memory +{:.1} MB, {} products created, {variants} variants",
        one.preview_secs, one.preview_mb, one.import_secs, one.import_mb, one.created
    );
    // The same again at twice the size: memory follows the batch, not the file.
    let two = run(
        &state,
        &pool,
        uuid::Uuid::from_u128(3),
        shopify_file(2 * PRODUCTS),
    )
    .await?;
    println!(
        "  twice the file ({:.1} MB): preview {:.2} s, peak +{:.1} MB; import {:.2} s, peak +{:.1} MB",
        2.0 * mb,
        two.preview_secs,
        two.preview_mb,
        two.import_secs,
        two.import_mb
    );
    // Allowance: allocator arenas and the connection's buffers settle at a few MB whatever the
    // file; a file held whole would add its own size again (the larger file is 2× as big).
    let grows = |a: f64, b: f64| b > a * 1.5 + 4.0;
    anyhow::ensure!(
        !grows(one.preview_mb, two.preview_mb) && !grows(one.import_mb, two.import_mb),
        "memory grew with the file"
    );
    pool.close().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "drop database if exists {name} with (force)"
    )))
    .execute(&admin)
    .await?;
    anyhow::ensure!(
        one.preview_secs <= 10.0 && one.import_secs <= 30.0,
        "over budget"
    );
    Ok(())
}
