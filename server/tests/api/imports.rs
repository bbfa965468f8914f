//! Moving a catalog in from Shopify or WooCommerce: their real export columns (both of
//! Shopify's header sets), a preview that writes nothing, confirming once, re-importing
//! without duplicates, bad rows by line, HTML stripped, and images fetched by jobs from an
//! in-process image server (success, failure and retry, non-image, refused private address).

use crate::helpers::{Opts, TestApp, png, spawn_app_with, spawn_app_with_clock};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::Value;

/// An image server on loopback: /scarf.png and /kaftan.png are images, /notes.txt is text,
/// /flaky.png fails with 503 once then serves the image, /gone.png is 404.
async fn image_server() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let flaky = std::sync::Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new()
        .route(
            "/scarf.png",
            axum::routing::get(|| async { ([(header::CONTENT_TYPE, "image/png")], png(40, 30)) }),
        )
        .route(
            "/kaftan.png",
            axum::routing::get(|| async { ([(header::CONTENT_TYPE, "image/png")], png(20, 20)) }),
        )
        .route(
            "/notes.txt",
            axum::routing::get(|| async { ([(header::CONTENT_TYPE, "text/plain")], "hello") }),
        )
        .route(
            "/flaky.png",
            axum::routing::get(move || {
                let flaky = flaky.clone();
                async move {
                    if flaky.fetch_add(1, Ordering::SeqCst) == 0 {
                        StatusCode::SERVICE_UNAVAILABLE.into_response()
                    } else {
                        ([(header::CONTENT_TYPE, "image/png")], png(10, 10)).into_response()
                    }
                }
            }),
        )
        .route(
            "/gone.png",
            axum::routing::get(|| async { StatusCode::NOT_FOUND }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

async fn upload(app: &TestApp, source: &str, file: &str) -> reqwest::Response {
    let form = reqwest::multipart::Form::new()
        .text("source", source.to_string())
        .part(
            "file",
            reqwest::multipart::Part::bytes(file.as_bytes().to_vec()).file_name("products.csv"),
        );
    app.client
        .post(app.url("/dashboard/import/upload"))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// Uploads and returns the import's id (from the preview page it redirects to).
async fn uploaded(app: &TestApp, source: &str, file: &str) -> String {
    let res = upload(app, source, file).await;
    assert_eq!(res.status(), 303);
    let to = res.headers()["location"].to_str().unwrap().to_string();
    to.strip_prefix("/dashboard/import/")
        .unwrap_or_else(|| panic!("to the preview: {to}"))
        .to_string()
}

async fn json(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: {text}")),
    )
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// Shopify's export with its classic header set: a product with two options over four rows
/// (one an image-only row), a product without options ("Title" / "Default Title"), a draft,
/// a sale (compare-at), untracked inventory and HTML descriptions.
fn shopify_file(images: &str) -> String {
    format!(
        "Handle,Title,Body (HTML),Vendor,Product Category,Type,Tags,Published,Option1 Name,Option1 Value,Option2 Name,Option2 Value,Option3 Name,Option3 Value,Variant SKU,Variant Grams,Variant Inventory Tracker,Variant Inventory Qty,Variant Inventory Policy,Variant Fulfillment Service,Variant Price,Variant Compare At Price,Variant Requires Shipping,Variant Taxable,Variant Barcode,Image Src,Image Position,Image Alt Text,Gift Card,Variant Image,Variant Weight Unit,Status\n\
         adire-scarf,Adire Scarf,\"<p>Hand-dyed <strong>indigo</strong> &amp; cotton.</p><script>alert(1)</script><ul><li>Wash cold</li></ul>\",Lagos Looms,,Scarves,\"adire, gifts\",TRUE,Size,S,Colour,Indigo,,,AS-S-IND,200,shopify,5,deny,manual,12500.00,15000.00,TRUE,TRUE,,{images}/scarf.png,2,Blue scarf,FALSE,,kg,active\n\
         adire-scarf,,,,,,,,,M,,Indigo,,,AS-M-IND,200,shopify,-2,deny,manual,13000.00,13000.00,TRUE,TRUE,,{images}/flaky.png,1,,FALSE,{images}/scarf.png,kg,\n\
         adire-scarf,,,,,,,,,M,,Rust,,,AS-M-RST,200,shopify,3,deny,manual,13000.00,,TRUE,TRUE,,,,,FALSE,{images}/notes.txt,kg,\n\
         adire-scarf,,,,,,,,,,,,,,,,,,,,,,,,,{images}/gone.png,3,,,,,\n\
         wooden-spoon,Wooden Spoon,Carved by hand.,Lagos Looms,,Kitchen,,TRUE,Title,Default Title,,,,,SPOON-1,50,,0,deny,manual,3000,,TRUE,TRUE,,{images}/kaftan.png,1,,FALSE,,kg,active\n\
         old-bag,Old Bag,,Lagos Looms,,Bags,,FALSE,Title,Default Title,,,,,BAG-1,,shopify,1,deny,manual,\"8,500.00\",,TRUE,TRUE,,,,,FALSE,,kg,draft\n"
    )
}

#[tokio::test]
async fn a_shopify_export_previews_imports_once_reimports_without_duplicates_and_fetches_images() {
    let images = image_server().await;
    // A manual clock: the retry of the flaky image is due when the test says.
    let app = spawn_app_with_clock(
        Opts {
            env: vec![("IMPORT_ALLOW_PRIVATE_URLS", "true".into())],
        },
        app::platform::clock::Clock::manual(time::OffsetDateTime::now_utc()),
    )
    .await;
    app.signup("Import Owner").await;
    let file = shopify_file(&images);
    let id = uploaded(&app, "shopify", &file).await;

    // The preview says what would happen, and nothing is written.
    let (status, preview) = json(app.call("catalog/import/preview", &[("id", &id)]).await).await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["errors"], Value::Array(vec![]), "{preview}");
    assert_eq!(preview["source"], "Shopify");
    let products = preview["products"].as_array().unwrap();
    assert_eq!(products.len(), 3);
    assert_eq!(products[0]["title"], "Adire Scarf");
    assert_eq!(products[0]["action"], "create");
    assert_eq!(products[0]["variants"], 3);
    assert_eq!(preview["images_planned"], 5);
    assert_eq!(
        count(&app, "select count(*) from products").await,
        0,
        "a dry run"
    );

    // Confirming writes it, once.
    let (status, report) = json(app.call("catalog/import/confirm", &[("id", &id)]).await).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["created"], 3);
    let (_, again) = json(app.call("catalog/import/confirm", &[("id", &id)]).await).await;
    assert_eq!(again, report, "a second press answers the first import");
    assert_eq!(count(&app, "select count(*) from products").await, 3);

    #[allow(clippy::type_complexity)]
    let scarf: Vec<(Vec<String>, Option<String>, i64, Option<i64>, bool, i32)> = sqlx::query_as(
        "select v.options, v.sku, v.price_minor, v.compare_at_minor, v.track_stock, v.stock
         from product_variants v join products p on p.id = v.product_id
         where p.slug = 'adire-scarf' order by v.position",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        scarf,
        vec![
            (
                vec!["S".into(), "Indigo".into()],
                Some("AS-S-IND".into()),
                1_250_000,
                Some(1_500_000),
                true,
                5
            ),
            // Compare-at equal to the price is no sale; stock below zero counts as none.
            (
                vec!["M".into(), "Indigo".into()],
                Some("AS-M-IND".into()),
                1_300_000,
                None,
                true,
                0
            ),
            (
                vec!["M".into(), "Rust".into()],
                Some("AS-M-RST".into()),
                1_300_000,
                None,
                true,
                3
            ),
        ]
    );
    let (description, status): (String, String) =
        sqlx::query_as("select description, status from products where slug = 'adire-scarf'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(
        description.contains("Hand-dyed indigo & cotton."),
        "{description}"
    );
    assert!(description.contains("Wash cold"), "{description}");
    assert!(
        !description.contains('<') && !description.contains("alert"),
        "{description}"
    );
    assert_eq!(status, "active");
    let mut categories: Vec<String> = sqlx::query_scalar(
        "select c.name from categories c join product_categories pc on pc.category_id = c.id
         join products p on p.id = pc.product_id where p.slug = 'adire-scarf' order by c.name",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    categories.sort_by_key(|c| c.to_lowercase());
    assert_eq!(categories, ["adire", "gifts", "Scarves"]);
    let spoon: (i32, Option<String>, bool, String) = sqlx::query_as(
        "select variant_count, sku, track_stock, status from products where slug = 'wooden-spoon'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        spoon,
        (1, Some("SPOON-1".into()), false, "active".into()),
        "Default Title: no options"
    );
    let bag: (i64, String) =
        sqlx::query_as("select price_minor, status from products where slug = 'old-bag'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(bag, (850_000, "draft".into()));

    // Images: the jobs fetch them; the flaky one is retried, the others fail with a reason.
    app.run_jobs().await;
    let statuses = || async {
        sqlx::query_as::<_, (String, String, Option<String>)>(
            "select url, status, error from catalog_import_images order by url",
        )
        .fetch_all(&app.pool)
        .await
        .unwrap()
    };
    let first = statuses().await;
    let find = |rows: &[(String, String, Option<String>)], name: &str| {
        rows.iter()
            .find(|r| r.0.ends_with(name))
            .cloned()
            .unwrap_or_else(|| panic!("{name} in {rows:?}"))
    };
    assert_eq!(find(&first, "scarf.png").1, "done");
    assert_eq!(find(&first, "kaftan.png").1, "done");
    assert_eq!(
        find(&first, "flaky.png").1,
        "queued",
        "503: tried again later"
    );
    let gone = find(&first, "gone.png");
    assert_eq!(gone.1, "failed");
    assert!(gone.2.unwrap().contains("404"));
    let text = find(&first, "notes.txt");
    assert_eq!(text.1, "failed");
    assert!(text.2.unwrap().contains("Not an image"));
    app.clock.advance(time::Duration::hours(1));
    app.run_jobs().await;
    assert_eq!(find(&statuses().await, "flaky.png").1, "done");
    let scarf_images = count(
        &app,
        "select count(*) from images i join products p on p.id = i.product_id where p.slug = 'adire-scarf'",
    )
    .await;
    assert_eq!(scarf_images, 2);
    // The gallery follows Image Position, not the rows' order (flaky.png is position 1).
    let gallery: Vec<String> = sqlx::query_scalar(
        "select x.url from images i join catalog_import_images x on x.image_id = i.id
         join products p on p.id = i.product_id where p.slug = 'adire-scarf'
         order by i.position",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        gallery,
        [format!("{images}/flaky.png"), format!("{images}/scarf.png")]
    );
    // Variant Image: M / Indigo shows the blue scarf (an image of the product, not a copy);
    // the others show none (M / Rust's "image" was a text file).
    let variant_images = || async {
        sqlx::query_as::<_, (Vec<String>, Option<String>)>(
            "select v.options, x.url from product_variants v join products p on p.id = v.product_id
             left join catalog_import_images x on x.image_id = v.image_id
             where p.slug = 'adire-scarf' order by v.position",
        )
        .fetch_all(&app.pool)
        .await
        .unwrap()
    };
    let blue = Some(format!("{images}/scarf.png"));
    let expected = vec![
        (vec!["S".to_string(), "Indigo".to_string()], None),
        (vec!["M".into(), "Indigo".into()], blue),
        (vec!["M".into(), "Rust".into()], None),
    ];
    assert_eq!(variant_images().await, expected);

    // The outcome page lists the failures with a retry.
    let (_, outcome) = json(app.call("catalog/import/preview", &[("id", &id)]).await).await;
    assert_eq!(outcome["confirmed"], true);
    assert_eq!(outcome["report"]["created"], 3);
    let failed: Vec<&Value> = outcome["images"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["status"] == "failed")
        .collect();
    assert_eq!(failed.len(), 2);
    let retry_id = failed[0]["id"].as_str().unwrap().to_string();
    let res = app
        .call("catalog/import/retry-image", &[("id", &retry_id)])
        .await;
    assert_eq!(res.status(), 200);
    let status: String =
        sqlx::query_scalar("select status from catalog_import_images where id = $1::uuid")
            .bind(&retry_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(status, "queued");
    app.run_jobs().await;

    // The same file again: updates, no new products, no duplicate images.
    let images_before = count(&app, "select count(*) from images").await;
    let id2 = uploaded(&app, "shopify", &file).await;
    let (_, preview) = json(app.call("catalog/import/preview", &[("id", &id2)]).await).await;
    assert!(
        preview["products"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["action"] == "update"),
        "{preview}"
    );
    let (_, report) = json(app.call("catalog/import/confirm", &[("id", &id2)]).await).await;
    assert_eq!(
        (report["created"].as_u64(), report["updated"].as_u64()),
        (Some(0), Some(3))
    );
    app.run_jobs().await;
    assert_eq!(count(&app, "select count(*) from products").await, 3);
    assert_eq!(
        count(&app, "select count(*) from product_variants").await,
        5
    );
    assert_eq!(
        count(&app, "select count(*) from images").await,
        images_before
    );
    // A variant image cleared by the merchant comes back with the file, at once (the image
    // is already here: no job, no copy).
    sqlx::query("update product_variants set image_id = null")
        .execute(&app.pool)
        .await
        .unwrap();
    let id3 = uploaded(&app, "shopify", &file).await;
    let (status, _) = json(app.call("catalog/import/confirm", &[("id", &id3)]).await).await;
    assert_eq!(status, 200);
    assert_eq!(variant_images().await, expected);

    // Another shop cannot see or confirm this import.
    let other = crate::helpers::client();
    let res = crate::helpers::call_with(
        &other,
        &app.url("/api/signup"),
        &crate::helpers::signup_form("Other Importer", "other.importer@example.com"),
    )
    .await;
    assert_eq!(res.status(), 200);
    for endpoint in ["catalog/import/preview", "catalog/import/confirm"] {
        let res = crate::helpers::call_with(
            &other,
            &app.url(&format!("/api/{endpoint}")),
            &[("id", &id)],
        )
        .await;
        assert_eq!(res.status(), 404, "{endpoint}");
    }
}

#[tokio::test]
async fn shopifys_newer_headers_and_bad_rows_by_line() {
    let app = spawn_app_with(Opts::default()).await;
    app.signup("New Header Owner").await;
    // The 2024 header names.
    let file = "URL handle,Title,Description,Vendor,Type,Tags,Published on online store,Status,SKU,Option1 name,Option1 value,Option2 name,Option2 value,Option3 name,Option3 value,Price,Compare-at price,Inventory tracker,Inventory quantity,Product image URL,Image position,Image alt text,Variant image URL\n\
                cap,Cap,<b>Warm</b>,V,Hats,,TRUE,active,CAP-S,Size,S,,,,,4000,,shopify,2,,,,\n\
                cap,,,,,,,,CAP-L,Size,L,,,,,$45.00,,shopify,2,,,,\n\
                ,,,,,,,,X,,,,,,,100,,,,,,,\n\
                cap,,,,,,,,CAP-S2,Size,S,,,,,4000,,,,,,,\n";
    let id = uploaded(&app, "shopify", file).await;
    let (_, preview) = json(app.call("catalog/import/preview", &[("id", &id)]).await).await;
    let errors: Vec<String> = preview["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{}: {}", e["line"], e["message"].as_str().unwrap()))
        .collect();
    assert!(
        errors.iter().any(|e| e.starts_with(
            "3: Variant Price: the price $45.00 is not in your shop's currency (NGN)"
        )),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.starts_with("4: Handle")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.starts_with("5: S appears twice")),
        "{errors:?}"
    );
    let (status, body) = json(app.call("catalog/import/confirm", &[("id", &id)]).await).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(count(&app, "select count(*) from products").await, 0);

    // Not a Shopify file at all.
    let id = uploaded(&app, "shopify", "name,cost\nx,1\n").await;
    let (_, preview) = json(app.call("catalog/import/preview", &[("id", &id)]).await).await;
    assert!(
        preview["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("does not look like a Shopify product export"),
        "{preview}"
    );
    // No file, or a file that is not text: back to the page with the reason.
    let res = upload(&app, "shopify", "").await;
    assert_eq!(res.status(), 303);
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/dashboard/import?import_error=Choose")
    );
}

#[tokio::test]
async fn a_woocommerce_export_with_variable_products_imports_and_reimports() {
    let images = image_server().await;
    let app = spawn_app_with(Opts {
        env: vec![("IMPORT_ALLOW_PRIVATE_URLS", "true".into())],
    })
    .await;
    app.signup("Woo Owner").await;
    // WooCommerce's exporter: a byte-order mark, `\n` in descriptions, lists joined by ", "
    // with `\,` inside a value, a formula guard, a variation with "any" colour, stock on the
    // parent, a sale price, and categories with `>` nesting.
    let file = format!(
        "\u{feff}ID,Type,SKU,Name,Published,\"Is featured?\",\"Visibility in catalog\",\"Short description\",Description,\"Tax status\",\"In stock?\",Stock,\"Sale price\",\"Regular price\",Categories,Tags,Images,Parent,\"Attribute 1 name\",\"Attribute 1 value(s)\",\"Attribute 1 visible\",\"Attribute 1 global\",\"Attribute 2 name\",\"Attribute 2 value(s)\",\"Attribute 2 visible\",\"Attribute 2 global\"\n\
         10,variable,HOODIE,Hoodie,1,0,visible,Warm,\"<p>Soft fleece.</p>\\n<p>Machine wash.</p>\",taxable,1,6,,,\"Clothing > Hoodies\",\"winter\",{images}/scarf.png,,Size,\"S, M\",1,1,Colour,\"Red\\, dark, Blue\",1,1\n\
         11,variation,HOODIE-S-RED,Hoodie - S,1,0,visible,,,taxable,1,4,,\"20,00\",,,,HOODIE,Size,S,,1,Colour,\"Red, dark\",,1\n\
         12,variation,HOODIE-M,Hoodie - M,1,0,visible,,,taxable,1,parent,18,20,,,{images}/kaftan.png,id:10,Size,M,,1,Colour,,,1\n\
         20,simple,'=MUG,Mug,0,0,visible,A mug,,taxable,0,,,9.5,\"Kitchen, Gifts\",,,,,,,,,,,\n\
         30,grouped,SET,Gift set,1,0,visible,,,taxable,1,,,,,,,,,,,,,,,\n"
    );
    let id = uploaded(&app, "woocommerce", &file).await;
    let (_, preview) = json(app.call("catalog/import/preview", &[("id", &id)]).await).await;
    let errors = preview["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{preview}");
    assert_eq!(errors[0]["line"], 6);
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("grouped products cannot be imported")
    );

    // An export from a WordPress in Spanish: its column names are translated. The merchant
    // is told how to get English ones.
    let id = uploaded(
        &app,
        "woocommerce",
        "ID,Tipo,SKU,Nombre,Publicado,Precio normal\n1,simple,M1,Taza,1,9.5\n",
    )
    .await;
    let (_, spanish) = json(app.call("catalog/import/preview", &[("id", &id)]).await).await;
    let message = spanish["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("does not look like a WooCommerce product export")
            && message.contains("Users → Profile → Language"),
        "{spanish}"
    );

    // Without the grouped product the file imports.
    let file = file.lines().take(5).collect::<Vec<_>>().join("\n") + "\n";
    let id = uploaded(&app, "woocommerce", &file).await;
    let (status, report) = json(app.call("catalog/import/confirm", &[("id", &id)]).await).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["created"], 2);
    #[allow(clippy::type_complexity)]
    let hoodie: Vec<(Vec<String>, Option<String>, i64, Option<i64>, bool, i32)> = sqlx::query_as(
        "select v.options, v.sku, v.price_minor, v.compare_at_minor, v.track_stock, v.stock
         from product_variants v join products p on p.id = v.product_id
         where p.slug = 'hoodie' order by v.position",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        hoodie,
        vec![
            // "20,00": a decimal comma.
            (
                vec!["S".into(), "Red, dark".into()],
                Some("HOODIE-S-RED".into()),
                2_000,
                None,
                true,
                4
            ),
            // Any colour: one variant per colour; on sale; stock from the parent.
            (
                vec!["M".into(), "Red, dark".into()],
                Some("HOODIE-M".into()),
                1_800,
                Some(2_000),
                true,
                6
            ),
            (
                vec!["M".into(), "Blue".into()],
                None,
                1_800,
                Some(2_000),
                true,
                6
            ),
        ]
    );
    let (description, categories): (String, String) = sqlx::query_as(
        "select p.description, string_agg(c.name, '|' order by c.name) from products p
         join product_categories pc on pc.product_id = p.id join categories c on c.id = pc.category_id
         where p.slug = 'hoodie' group by p.description",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(description, "Soft fleece.\n\nMachine wash.");
    // Each level of "Clothing > Hoodies", as WooCommerce's own category pages show them.
    assert_eq!(categories, "Clothing|Hoodies|winter");
    let mug: (Option<String>, i64, String, bool, i32) = sqlx::query_as(
        "select sku, price_minor, status, track_stock, stock from products where slug = 'mug'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        mug,
        (Some("=MUG".into()), 950, "draft".into(), true, 0),
        "out of stock, unpublished"
    );
    app.run_jobs().await;
    assert_eq!(
        count(
            &app,
            "select count(*) from catalog_import_images where status = 'done'"
        )
        .await,
        2
    );
    // The HOODIE-M variation's image: every variant it became shows it (any colour).
    let shown: Vec<(Vec<String>, Option<String>)> = sqlx::query_as(
        "select v.options, x.url from product_variants v join products p on p.id = v.product_id
         left join catalog_import_images x on x.image_id = v.image_id
         where p.slug = 'hoodie' order by v.position",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let kaftan = Some(format!("{images}/kaftan.png"));
    assert_eq!(
        shown,
        vec![
            (vec!["S".into(), "Red, dark".into()], None),
            (vec!["M".into(), "Red, dark".into()], kaftan.clone()),
            (vec!["M".into(), "Blue".into()], kaftan),
        ]
    );

    // Again: the same products, updated.
    let id = uploaded(&app, "woocommerce", &file).await;
    let (_, report) = json(app.call("catalog/import/confirm", &[("id", &id)]).await).await;
    assert_eq!(
        (report["created"].as_u64(), report["updated"].as_u64()),
        (Some(0), Some(2))
    );
    assert_eq!(
        count(&app, "select count(*) from product_variants").await,
        4
    );
}

#[tokio::test]
async fn images_on_private_addresses_are_refused_by_default() {
    let images = image_server().await;
    let app = spawn_app_with(Opts::default()).await;
    app.signup("Careful Owner").await;
    let file = format!(
        "Handle,Title,Variant Price,Image Src\n\
         lamp,Lamp,100,{images}/scarf.png\n\
         lamp,,,http://169.254.169.254/latest/meta-data.png\n\
         lamp,,,ftp://example.com/x.png\n"
    );
    let id = uploaded(&app, "shopify", &file).await;
    let (status, _) = json(app.call("catalog/import/confirm", &[("id", &id)]).await).await;
    assert_eq!(status, 200);
    app.run_jobs().await;
    let rows: Vec<(String, String, Option<String>)> =
        sqlx::query_as("select url, status, error from catalog_import_images order by position")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(rows.len(), 3);
    for (url, status, error) in &rows[..2] {
        assert_eq!(status, "failed", "{url}");
        assert!(
            error.as_deref().unwrap().starts_with("Refused"),
            "{url}: {error:?}"
        );
    }
    assert!(
        rows[2]
            .2
            .as_deref()
            .unwrap()
            .contains("Only http and https")
    );
    assert_eq!(count(&app, "select count(*) from images").await, 0);
}

/// A fake Cloudinary upload endpoint speaking its wire format: it records the signed fields it
/// received and answers like Cloudinary (public_id in the folder, version, size, format).
async fn fake_cloudinary_upload() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<Vec<(String, String)>>>>,
) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let router = axum::Router::new().route(
        "/v1_1/{cloud}/image/upload",
        axum::routing::post(move |mut form: axum::extract::Multipart| {
            let log = log.clone();
            async move {
                let mut fields = Vec::new();
                let mut file_len = 0;
                while let Some(field) = form.next_field().await.unwrap() {
                    let name = field.name().unwrap_or_default().to_string();
                    if name == "file" {
                        file_len = field.bytes().await.unwrap().len();
                    } else {
                        fields.push((name, field.text().await.unwrap()));
                    }
                }
                let folder = fields
                    .iter()
                    .find(|f| f.0 == "folder")
                    .map(|f| f.1.clone())
                    .unwrap_or_default();
                log.lock().unwrap().push(fields);
                axum::Json(serde_json::json!({
                    "public_id": format!("{folder}/imported1"), "version": 1712000000,
                    "width": 40, "height": 30, "bytes": file_len, "format": "png"
                }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}"), seen)
}

#[tokio::test]
async fn with_cloudinary_imported_images_are_uploaded_there_signed() {
    let images = image_server().await;
    let (cloudinary, seen) = fake_cloudinary_upload().await;
    let app = spawn_app_with(Opts {
        env: vec![
            ("IMPORT_ALLOW_PRIVATE_URLS", "true".into()),
            ("CLOUDINARY_URL", "cloudinary://key123:abcd@demo".into()),
            ("CLOUDINARY_API_BASE_URL", cloudinary),
        ],
    })
    .await;
    app.signup("Cloud Importer").await;
    let file = format!(
        "Handle,Title,Variant Price,Image Src\n\
         lamp,Lamp,100,{images}/scarf.png\n\
         lamp,,,{images}/notes.txt\n"
    );
    let id = uploaded(&app, "shopify", &file).await;
    let (status, _) = json(app.call("catalog/import/confirm", &[("id", &id)]).await).await;
    assert_eq!(status, 200);
    app.run_jobs().await;
    let shop_id: String = sqlx::query_scalar("select id::text from shops")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let stored: (String, String, Option<i64>, i32) =
        sqlx::query_as("select backend, storage_key, version, width from images")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        stored,
        (
            "cloudinary".into(),
            format!("shops/{shop_id}/products/imported1"),
            Some(1712000000),
            40
        )
    );
    // One upload (the text file was refused before reaching Cloudinary), signed with the
    // secret over folder and timestamp.
    let calls = seen.lock().unwrap().clone();
    assert_eq!(calls.len(), 1);
    let get = |k: &str| {
        calls[0]
            .iter()
            .find(|f| f.0 == k)
            .map(|f| f.1.clone())
            .unwrap()
    };
    assert_eq!(get("api_key"), "key123");
    let expected = app::media::ssr::sign_params(
        &[("folder", &get("folder")), ("timestamp", &get("timestamp"))],
        "abcd",
    );
    assert_eq!(get("signature"), expected);
    let failed: String =
        sqlx::query_scalar("select error from catalog_import_images where status = 'failed'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(failed.contains("Not an image"), "{failed}");
}

/// A WooCommerce file of `simple` products named `Item n` (SKU `ITEM-n`), with a variable
/// hoodie first whose variations come last, and the rows `extra` before them.
fn long_woo_file(simple: usize, extra: &str) -> String {
    let mut file = String::from(
        "ID,Type,SKU,Name,Published,Description,\"In stock?\",Stock,\"Sale price\",\"Regular price\",Categories,Images,Parent,\"Attribute 1 name\",\"Attribute 1 value(s)\"\n\
         1,variable,HOODIE,Hoodie,1,<p>Warm.</p>,1,,,,Clothing,,,Size,\"S, M\"\n",
    );
    for n in 0..simple {
        file.push_str(&format!(
            "{},simple,ITEM-{n},Item {n},1,Item number {n},1,5,,{}.00,Kitchen,,,,\n",
            100 + n,
            1000 + n
        ));
    }
    file.push_str(extra);
    file.push_str(
        "2,variation,HOODIE-S,Hoodie - S,1,,1,3,,20.00,,,HOODIE,Size,S\n\
         3,variation,HOODIE-M,Hoodie - M,1,,1,4,,22.00,,,id:1,Size,M\n",
    );
    file
}

#[tokio::test]
async fn a_file_of_many_batches_is_checked_and_written_as_one() {
    let app = spawn_app_with(Opts::default()).await;
    app.signup("Batch Owner").await;
    // 450 products are three batches. Problems that span batches are still found: a SKU used
    // again 400 products later, and a second "Item 3" gets its own address.
    let extra = "900,simple,ITEM-5,Item 3,1,Same SKU as item 5,1,1,,10.00,Kitchen,,,,\n";
    let id = uploaded(&app, "woocommerce", &long_woo_file(450, extra)).await;
    let (status, preview) = json(app.call("catalog/import/preview", &[("id", &id)]).await).await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["errors_total"], 1, "{preview}");
    assert_eq!(preview["errors"][0]["line"], 453, "{preview}");
    assert_eq!(
        preview["errors"][0]["message"],
        "sku: ITEM-5 appears more than once in the file."
    );
    let (status, body) = json(app.call("catalog/import/confirm", &[("id", &id)]).await).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(count(&app, "select count(*) from products").await, 0);

    let extra = "900,simple,ITEM-900,Item 3,1,Another item 3,1,1,,10.00,Kitchen,,,,\n";
    let id = uploaded(&app, "woocommerce", &long_woo_file(450, extra)).await;
    let (_, preview) = json(app.call("catalog/import/preview", &[("id", &id)]).await).await;
    assert_eq!(preview["errors"], Value::Array(vec![]), "{preview}");
    assert_eq!(preview["creates"], 452, "{preview}");
    assert_eq!(preview["updates"], 0);
    assert_eq!(preview["variants"], 453, "the hoodie has two");
    // The first 100 are listed, in the file's order; the counts cover the rest.
    let listed = preview["products"].as_array().unwrap();
    assert_eq!(listed.len(), 100);
    assert_eq!(listed[0]["slug"], "hoodie");
    assert_eq!(
        listed[0]["variants"], 2,
        "variations 450 lines below their product"
    );
    assert_eq!(listed[1]["slug"], "item-0");
    assert_eq!(
        preview["new_categories"],
        serde_json::json!(["Clothing", "Kitchen"])
    );

    let (status, report) = json(app.call("catalog/import/confirm", &[("id", &id)]).await).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["created"], 452);
    assert_eq!(count(&app, "select count(*) from products").await, 452);
    assert_eq!(
        count(&app, "select count(*) from product_variants").await,
        453
    );
    assert_eq!(
        count(&app, "select count(*) from categories").await,
        2,
        "a category named in every batch is created once"
    );
    assert_eq!(
        count(&app, "select count(*) from product_categories pc join categories c on c.id = pc.category_id where c.name = 'Kitchen'").await,
        451
    );
    let addresses: Vec<String> =
        sqlx::query_scalar("select slug from products where title = 'Item 3' order by slug")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(addresses, ["item-3", "item-3-2"]);
    // The file's records are gone once written; the report stays.
    let left: i64 =
        sqlx::query_scalar("select count(*) from catalog_import_rows where import_id = $1::uuid")
            .bind(&id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(left, 0);
    let (_, outcome) = json(app.call("catalog/import/preview", &[("id", &id)]).await).await;
    assert_eq!(outcome["report"]["created"], 452, "{outcome}");

    // The same file again updates every product, in batches too.
    let id = uploaded(&app, "woocommerce", &long_woo_file(450, extra)).await;
    let (_, report) = json(app.call("catalog/import/confirm", &[("id", &id)]).await).await;
    assert_eq!(report["updated"], 452, "{report}");
    assert_eq!(count(&app, "select count(*) from products").await, 452);
}

#[tokio::test]
async fn an_upload_stored_whole_by_the_earlier_version_still_previews_and_imports() {
    let app = spawn_app_with(Opts::default()).await;
    app.signup("Legacy Owner").await;
    let shop: uuid::Uuid = sqlx::query_scalar("select id from shops")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let id = uuid::Uuid::now_v7();
    sqlx::query(
        "insert into catalog_imports (id, shop_id, source, filename, body) values ($1, $2, 'shopify', 'old.csv', $3)",
    )
    .bind(id)
    .bind(shop)
    .bind("Handle,Title,Variant SKU,Variant Price\ncap,Cap,CAP-1,5000.00\n")
    .execute(&app.pool)
    .await
    .unwrap();
    let id = id.to_string();
    let (_, preview) = json(app.call("catalog/import/preview", &[("id", &id)]).await).await;
    assert_eq!(preview["creates"], 1, "{preview}");
    let (status, report) = json(app.call("catalog/import/confirm", &[("id", &id)]).await).await;
    assert_eq!((status, report["created"].clone()), (200, Value::from(1)));
    assert_eq!(
        count(
            &app,
            "select count(*) from catalog_imports where body is not null"
        )
        .await,
        0
    );
}
