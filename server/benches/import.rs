//! `make bench` (not a test): a 10,000-variant Shopify export — 2,500 products in four sizes,
//! descriptions in HTML, an image each — previewed (a dry run) and imported, timed, with the
//! process's peak memory. Images are not downloaded here (their jobs are only queued).
//!
//! Run: `DATABASE_URL=postgres://…/postgres cargo bench -p server --bench import`.

use std::time::Instant;

const PRODUCTS: usize = 2_500;
const SIZES: [&str; 4] = ["S", "M", "L", "XL"];

fn shopify_file() -> String {
    let mut out = String::from(
        "Handle,Title,Body (HTML),Vendor,Type,Tags,Published,Option1 Name,Option1 Value,Variant SKU,Variant Inventory Tracker,Variant Inventory Qty,Variant Price,Variant Compare At Price,Image Src,Image Position,Status\n",
    );
    for p in 0..PRODUCTS {
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

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
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
        .connect(&url)
        .await?;
    server::db::migrate(&pool).await?;
    sqlx::raw_sql(
        "insert into merchants (id, full_name, email, password_hash, adult_confirmed_at, policy_version, policy_accepted_at)
             values ('00000000-0000-0000-0000-000000000001', 'Bench', 'bench@example.com', 'x', now(), '1', now());
         insert into shops (id, merchant_id, name, slug)
             values ('00000000-0000-0000-0000-000000000002', '00000000-0000-0000-0000-000000000001', 'Bench', 'bench');",
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
    let shop = uuid::Uuid::from_u128(2);
    let file = shopify_file();
    println!(
        "import benchmark: Shopify file of {PRODUCTS} products × {} sizes = {} variants, {:.1} MB",
        SIZES.len(),
        PRODUCTS * SIZES.len(),
        file.len() as f64 / 1e6
    );
    let err = |e: app::error::AppError| anyhow::anyhow!("{e}");
    let id = app::catalog::import::upload(
        &state,
        shop,
        app::catalog::foreign::Source::Shopify,
        "bench.csv",
        file.as_bytes(),
    )
    .await
    .map_err(err)?;
    drop(file);
    let started = Instant::now();
    let preview = app::catalog::import::preview(&state, shop, id)
        .await
        .map_err(err)?;
    let preview_secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        preview.errors.is_empty(),
        "preview errors: {:?}",
        &preview.errors[..3.min(preview.errors.len())]
    );
    let started = Instant::now();
    let report = app::catalog::import::confirm(&state, shop, id)
        .await
        .map_err(err)?;
    let import_secs = started.elapsed().as_secs_f64();
    let variants: i64 = sqlx::query_scalar("select count(*) from product_variants")
        .fetch_one(&pool)
        .await?;
    println!(
        "  preview (dry run): {preview_secs:.2} s (budget 10 s)\n  import:            {import_secs:.2} s (budget 30 s), {} products created, {variants} variants\n  peak memory:       {:.0} MB (process)",
        report.created,
        peak_rss_mb()
    );
    pool.close().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "drop database if exists {name} with (force)"
    )))
    .execute(&admin)
    .await?;
    anyhow::ensure!(preview_secs <= 10.0 && import_secs <= 30.0, "over budget");
    Ok(())
}
