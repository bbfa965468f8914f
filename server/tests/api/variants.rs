//! Product variants: migration of single-price products, options and their combinations, the
//! variant table, the product summary, the storefront picker without JavaScript, structured
//! data, checkout per variant under concurrency, and order snapshots that later edits never
//! change.

use crate::helpers::{TestApp, call_with, client, signup_form, spawn_app};
use serde_json::Value;
use sqlx::Connection;
use uuid::Uuid;

async fn shop(app: &TestApp) -> String {
    app.signup("Variant Owner").await;
    app.shop_slug().await
}

async fn json(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}")),
    )
}

async fn set_options(app: &TestApp, product: &str, options: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![("id", product)];
    for (name, values) in options {
        form.push(("option_name[]", name));
        form.push(("option_values[]", values));
    }
    json(app.call("catalog/product/options", &form).await).await
}

#[derive(Debug, sqlx::FromRow, PartialEq)]
struct Variant {
    id: Uuid,
    options: Vec<String>,
    sku: Option<String>,
    price_minor: i64,
    track_stock: bool,
    stock: i32,
    enabled: bool,
}

async fn variants(app: &TestApp, product: &str) -> Vec<Variant> {
    sqlx::query_as(
        "select id, options, sku, price_minor, track_stock, stock, enabled from product_variants
         where product_id = $1::uuid order by position",
    )
    .bind(product)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

/// A product "Adire scarf" with Size S, M and Colour Indigo, Red: four variants, priced
/// 5000, 5500, 6000, 6500 in table order, each with 2 in stock (tracked) and a SKU.
async fn scarf(app: &TestApp) -> (String, Vec<Variant>) {
    let id = app
        .create_product(&[
            ("title", "Adire scarf"),
            ("price", "5000"),
            ("status", "active"),
            ("sku", "SCARF"),
            ("track_stock", "on"),
            ("stock", "2"),
        ])
        .await;
    let (status, body) =
        set_options(app, &id, &[("Size", "S, M"), ("Colour", "Indigo, Red")]).await;
    assert_eq!(status, 200, "{body}");
    let vs = variants(app, &id).await;
    let ids: Vec<String> = vs.iter().map(|v| v.id.to_string()).collect();
    let mut form: Vec<(&str, String)> = vec![("id", id.clone())];
    for (i, v) in ids.iter().enumerate() {
        form.push(("variant[]", v.clone()));
        form.push(("sku[]", format!("SCARF-{i}")));
        form.push(("price[]", (5000 + 500 * i).to_string()));
        form.push(("compare_at_price[]", String::new()));
        form.push(("stock[]", "2".into()));
        form.push(("position[]", (i + 1).to_string()));
        form.push(("image[]", String::new()));
        form.push(("track[]", v.clone()));
        form.push(("enabled[]", v.clone()));
    }
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = json(app.call("catalog/product/variants", &form).await).await;
    assert_eq!(status, 200, "{body}");
    let vs = variants(app, &id).await;
    (id, vs)
}

#[tokio::test]
async fn single_price_products_migrate_to_one_variant_without_loss() {
    // A database migrated up to just before variants, holding a product and an order line.
    let url = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let base = &url[..url.rfind('/').unwrap()];
    let name = format!("bizmaat_migration_{}", Uuid::now_v7().simple());
    let mut admin = sqlx::PgConnection::connect(&format!("{base}/postgres"))
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(r#"create database "{name}""#)))
        .execute(&mut admin)
        .await
        .unwrap();
    let pool = sqlx::PgPool::connect(&format!("{base}/{name}"))
        .await
        .unwrap();
    let mut before = sqlx::migrate::Migrator {
        migrations: server::db::MIGRATOR.migrations.clone(),
        ..sqlx::migrate::Migrator::DEFAULT
    };
    let variants_version = 20261205080000;
    before.migrations = std::borrow::Cow::Owned(
        before
            .migrations
            .iter()
            .filter(|m| m.version < variants_version)
            .cloned()
            .collect(),
    );
    before.run(&pool).await.unwrap();
    sqlx::raw_sql(
        "insert into merchants (id, full_name, email, password_hash, adult_confirmed_at, policy_version, policy_accepted_at)
             values ('00000000-0000-0000-0000-000000000001', 'Ada', 'ada@example.com', 'x', now(), '1', now());
         insert into shops (id, merchant_id, name, slug)
             values ('00000000-0000-0000-0000-000000000002', '00000000-0000-0000-0000-000000000001', 'Ada', 'ada');
         insert into products (id, shop_id, title, slug, price_minor, compare_at_minor, sku, track_stock, stock, status)
             values ('00000000-0000-0000-0000-000000000003', '00000000-0000-0000-0000-000000000002', 'Cap', 'cap',
                     150000, 200000, 'CAP-1', true, 7, 'active'),
                    ('00000000-0000-0000-0000-000000000004', '00000000-0000-0000-0000-000000000002', 'Bag', 'bag',
                     99, null, null, false, 0, 'draft');
         insert into customers (id, shop_id, phone, name) values
             ('00000000-0000-0000-0000-000000000005', '00000000-0000-0000-0000-000000000002', '+2348020001111', 'Bola');
         insert into orders (id, shop_id, number, customer_id, currency, total_minor, customer_name, phone, address, idempotency_key)
             values ('00000000-0000-0000-0000-000000000006', '00000000-0000-0000-0000-000000000002', 1001,
                     '00000000-0000-0000-0000-000000000005', 'NGN', 300000, 'Bola', '+2348020001111', 'x', 'k');
         insert into order_lines (order_id, product_id, title, unit_price_minor, quantity, line_total_minor)
             values ('00000000-0000-0000-0000-000000000006', '00000000-0000-0000-0000-000000000003', 'Cap', 150000, 2, 300000);",
    )
    .execute(&pool)
    .await
    .unwrap();

    server::db::MIGRATOR.run(&pool).await.unwrap();

    #[allow(clippy::type_complexity)]
    let rows: Vec<(Uuid, Uuid, Vec<String>, Option<String>, i64, Option<i64>, bool, i32, bool)> =
        sqlx::query_as(
            "select id, product_id, options, sku, price_minor, compare_at_minor, track_stock, stock, enabled
             from product_variants order by id",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
    let cap = Uuid::from_u128(3);
    let bag = Uuid::from_u128(4);
    assert_eq!(
        rows,
        vec![
            (
                cap,
                cap,
                vec![],
                Some("CAP-1".into()),
                150000,
                Some(200000),
                true,
                7,
                true
            ),
            (bag, bag, vec![], None, 99, None, false, 0, true),
        ],
        "one variant per product, same id, everything carried over"
    );
    #[allow(clippy::type_complexity)]
    let products: Vec<(i64, Option<i64>, Option<String>, bool, i32, i32)> = sqlx::query_as(
        "select price_minor, price_max_minor, sku, track_stock, stock, variant_count from products order by id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        products,
        vec![
            (150000, Some(150000), Some("CAP-1".into()), true, 7, 1),
            (99, Some(99), None, false, 0, 1)
        ]
    );
    let line: (Option<Uuid>, String, Option<String>) =
        sqlx::query_as("select variant_id, variant_title, sku from order_lines")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(line, (Some(cap), String::new(), Some("CAP-1".into())));
    pool.close().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        r#"drop database "{name}" with (force)"#
    )))
    .execute(&mut admin)
    .await
    .unwrap();
}

#[tokio::test]
async fn options_make_combinations_that_keep_what_existing_variants_had() {
    let app = spawn_app().await;
    shop(&app).await;
    let id = app
        .create_product(&[
            ("title", "Cap"),
            ("price", "1000"),
            ("status", "active"),
            ("sku", "CAP"),
            ("track_stock", "on"),
            ("stock", "5"),
        ])
        .await;
    let single = variants(&app, &id).await;
    assert_eq!(single.len(), 1);
    assert_eq!(
        single[0].id.to_string(),
        id,
        "a new product's variant shares its id"
    );

    let (status, body) = set_options(&app, &id, &[("Size", "S, M"), ("Colour", "Red, Blue")]).await;
    assert_eq!(status, 200, "{body}");
    let vs = variants(&app, &id).await;
    let combos: Vec<Vec<String>> = vs.iter().map(|v| v.options.clone()).collect();
    assert_eq!(
        combos,
        [["S", "Red"], ["S", "Blue"], ["M", "Red"], ["M", "Blue"]]
    );
    // The product's one variant became the first combination, SKU and stock included; the
    // others start at its price with no stock.
    assert_eq!(vs[0].id.to_string(), id);
    assert_eq!((vs[0].sku.as_deref(), vs[0].stock), (Some("CAP"), 5));
    assert!(
        vs[1..]
            .iter()
            .all(|v| v.price_minor == 100_000 && v.stock == 0 && v.sku.is_none() && v.track_stock)
    );
    let blue_m = vs[3].id;

    // Adding a value keeps every existing combination (same id) and adds the new ones.
    let (status, _) = set_options(&app, &id, &[("Size", "S, M, L"), ("Colour", "Red, Blue")]).await;
    assert_eq!(status, 200);
    let vs = variants(&app, &id).await;
    assert_eq!(vs.len(), 6);
    assert_eq!(vs[3].id, blue_m);
    assert_eq!(vs[0].stock, 5);

    // Refusals: nothing changes.
    for (options, field, words) in [
        (vec![("Size", "S, s")], "option.0.values", "listed twice"),
        (
            vec![("Size", "S"), ("size", "M")],
            "option.1.name",
            "already an option",
        ),
        (vec![("Size", "")], "option.0.values", "at least one value"),
        (vec![("", "Red")], "option.0.name", "Name this option"),
        (
            vec![("A", "1"), ("B", "1"), ("C", "1"), ("D", "1")],
            "options",
            "at most 3 options",
        ),
        (
            vec![("A", "1,2,3,4,5"), ("B", "1,2,3,4,5"), ("C", "1,2,3,4,5")],
            "options",
            "125 combinations",
        ),
    ] {
        let (status, body) = set_options(&app, &id, &options).await;
        assert_eq!(status, 422, "{options:?}: {body}");
        let message = body["fields"][field].as_str().unwrap_or_default();
        assert!(message.contains(words), "{options:?}: {body}");
    }
    assert_eq!(variants(&app, &id).await.len(), 6);

    // No options again: one variant, the product's original one, with its SKU and stock.
    let (status, _) = set_options(&app, &id, &[]).await;
    assert_eq!(status, 200);
    let vs = variants(&app, &id).await;
    assert_eq!(vs.len(), 1);
    assert_eq!(vs[0].id.to_string(), id);
    assert_eq!((vs[0].options.len(), vs[0].stock), (0, 5));
    // …and the product form edits it again.
    let res = app
        .call(
            "catalog/product/save",
            &[
                ("id", &id),
                ("title", "Cap"),
                ("price", "1200"),
                ("status", "active"),
                ("sku", "CAP"),
                ("track_stock", "on"),
                ("stock", "9"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let vs = variants(&app, &id).await;
    assert_eq!((vs[0].price_minor, vs[0].stock), (120_000, 9));
}

#[tokio::test]
async fn the_variant_table_saves_rows_checks_them_and_keeps_the_product_summary() {
    let app = spawn_app().await;
    shop(&app).await;
    let (id, vs) = scarf(&app).await;
    let prices: Vec<i64> = vs.iter().map(|v| v.price_minor).collect();
    assert_eq!(prices, [500_000, 550_000, 600_000, 650_000]);
    let summary = || async {
        sqlx::query_as::<_, (i64, Option<i64>, Option<String>, bool, i32, i32)>(
            "select price_minor, price_max_minor, sku, track_stock, stock, variant_count from products where id = $1::uuid",
        )
        .bind(&id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
    };
    assert_eq!(summary().await, (500_000, Some(650_000), None, true, 8, 4));

    // The dashboard shows the options and variants; search finds the product by a variant SKU.
    let (_, detail) = json(app.call("catalog/product", &[("id", &id)]).await).await;
    assert_eq!(detail["options"][1]["name"], "Colour");
    assert_eq!(detail["variants"][2]["sku"], "SCARF-2");
    assert_eq!(detail["variants"][2]["price"], "6000.00");
    let (_, found) = json(
        app.call("catalog/products", &[("query[q]", "SCARF-3")])
            .await,
    )
    .await;
    assert_eq!(found["total"], 1, "{found}");

    // Bulk price and stock, the cheapest variant disabled, rows reordered.
    let ids: Vec<String> = vs.iter().map(|v| v.id.to_string()).collect();
    let mut form: Vec<(&str, String)> = vec![
        ("id", id.clone()),
        ("bulk_price", "7000".into()),
        ("bulk_stock", "3".into()),
    ];
    for (i, v) in ids.iter().enumerate() {
        form.push(("variant[]", v.clone()));
        form.push(("sku[]", format!("SCARF-{i}")));
        form.push(("price[]", "1".into()));
        form.push(("compare_at_price[]", String::new()));
        form.push(("stock[]", "0".into()));
        form.push(("position[]", (4 - i).to_string()));
        form.push(("image[]", String::new()));
        if i != 0 {
            form.push(("enabled[]", v.clone()));
        }
    }
    let f: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = json(app.call("catalog/product/variants", &f).await).await;
    assert_eq!(status, 200, "{body}");
    let after = variants(&app, &id).await;
    assert_eq!(after[0].id, vs[3].id, "reordered by the numbers typed");
    assert!(
        after
            .iter()
            .all(|v| v.price_minor == 700_000 && v.stock == 3)
    );
    assert!(!after.iter().find(|v| v.id == vs[0].id).unwrap().enabled);
    assert_eq!(summary().await, (700_000, Some(700_000), None, true, 9, 3));

    // A bad row: nothing saved, the row named.
    let mut bad = form.clone();
    bad.retain(|(k, _)| !k.starts_with("bulk"));
    let at = bad.iter().position(|(k, _)| *k == "price[]").unwrap();
    bad[at].1 = "twelve".into();
    let sku_at = bad.iter().rposition(|(k, _)| *k == "sku[]").unwrap();
    bad[sku_at].1 = "SCARF-0".into();
    let f: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = json(app.call("catalog/product/variants", &f).await).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["fields"]["variant.0.price"].is_string(), "{body}");
    assert!(
        body["fields"]["variant.3.sku"]
            .as_str()
            .unwrap()
            .contains("two variants")
    );
    assert_eq!(variants(&app, &id).await, after);

    // A SKU another product has is refused with the field named.
    app.create_product(&[
        ("title", "Other"),
        ("price", "1"),
        ("sku", "TAKEN"),
        ("status", "draft"),
    ])
    .await;
    let mut taken = form.clone();
    taken.retain(|(k, _)| !k.starts_with("bulk"));
    let at = taken.iter().position(|(k, _)| *k == "sku[]").unwrap();
    taken[at].1 = "TAKEN".into();
    let f: Vec<(&str, &str)> = taken.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = json(app.call("catalog/product/variants", &f).await).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["fields"]["sku"].as_str().unwrap().contains("already"));

    // Another shop's merchant: 404 for the product, its options and its variants.
    let other = client();
    let res = call_with(
        &other,
        &app.url("/api/signup"),
        &signup_form("Intruder", "intruder@example.com"),
    )
    .await;
    assert_eq!(res.status(), 200);
    let res = call_with(
        &other,
        &app.url("/api/catalog/product/options"),
        &[
            ("id", &id),
            ("option_name[]", "Size"),
            ("option_values[]", "XL"),
        ],
    )
    .await;
    assert_eq!(res.status(), 404);
    let res = call_with(&other, &app.url("/api/catalog/product/variants"), &f).await;
    assert_eq!(res.status(), 404);
    let res = call_with(&other, &app.url("/api/catalog/product"), &[("id", &id)]).await;
    assert_eq!(res.status(), 404);
    assert_eq!(variants(&app, &id).await.len(), 4);
}

/// Reads a page as a browser without JavaScript would.
async fn page(app: &TestApp, shopper: &reqwest::Client, path: &str) -> String {
    let res = shopper.get(app.url(path)).send().await.unwrap();
    assert_eq!(res.status(), 200, "{path}");
    res.text().await.unwrap()
}

fn price_shown(html: &str) -> &str {
    let at = html
        .find("data-testid=\"price\"")
        .unwrap_or_else(|| panic!("a price: {html}"));
    let start = at + html[at..].find('>').unwrap() + 1;
    &html[start..start + html[start..].find('<').unwrap()]
}

fn product_ld(html: &str) -> Value {
    html.split("<script type=\"application/ld+json\"")
        .skip(1)
        .filter_map(|s| {
            let start = s.find('>')? + 1;
            let end = s.find("</script>")?;
            serde_json::from_str::<Value>(&s[start..end]).ok()
        })
        .find(|v| v["@type"] != "BreadcrumbList")
        .expect("product structured data")
}

#[tokio::test]
async fn the_storefront_picker_works_without_javascript_and_describes_the_group() {
    let app = spawn_app().await;
    let slug = shop(&app).await;
    let (id, vs) = scarf(&app).await;
    // M / Red is not sold; S / Red is sold out.
    sqlx::query("update product_variants set enabled = false where id = $1")
        .bind(vs[3].id)
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("update product_variants set stock = 0 where id = $1")
        .bind(vs[1].id)
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("update shops set catalog_version = catalog_version + 1")
        .execute(&app.pool)
        .await
        .unwrap();
    let shopper = client();
    let path = format!("/s/{slug}/p/adire-scarf");
    let html = page(&app, &shopper, &path).await;
    // Selects for each option, unavailable choices marked, the first available chosen.
    assert!(
        html.contains(r#"<select id="option-1" name="o1""#),
        "{html}"
    );
    assert!(html.contains(r#"<select id="option-2" name="o2""#));
    assert!(html.contains(">Red (sold out)<"), "{html}");
    assert_eq!(price_shown(&html), "₦5,000.00");
    // Each variant's own address shows its price and stock.
    let html_m = page(&app, &shopper, &format!("{path}?variant={}", vs[2].id)).await;
    assert_eq!(price_shown(&html_m), "₦6,000.00");
    assert!(html_m.contains(">Red (unavailable)<"), "{html_m}");
    let html_sold = page(&app, &shopper, &format!("{path}?o1=S&o2=Red")).await;
    assert_eq!(price_shown(&html_sold), "₦5,500.00");
    assert!(html_sold.contains(">Sold out<"));

    // Structured data: a ProductGroup whose variants each carry an Offer; every price in it
    // is visible on the page.
    let ld = product_ld(&html);
    assert_eq!(ld["@type"], "ProductGroup", "{ld}");
    assert_eq!(ld["productGroupID"], id);
    assert_eq!(ld["variesBy"][0], "https://schema.org/size");
    assert_eq!(ld["variesBy"][1], "https://schema.org/color");
    let offers = ld["hasVariant"].as_array().unwrap();
    assert_eq!(offers.len(), 3, "the disabled combination is not offered");
    assert_eq!(
        offers[1]["offers"]["availability"],
        "https://schema.org/OutOfStock"
    );
    assert_eq!(offers[0]["size"], "S");
    assert_eq!(offers[0]["color"], "Indigo");
    assert_eq!(offers[0]["sku"], "SCARF-0");
    for offer in offers {
        let plain = offer["offers"]["price"].as_str().unwrap();
        let amount: f64 = plain.parse().unwrap();
        let shown = format!("₦{}.00", format_thousands(amount as i64));
        assert!(html.contains(&shown), "{plain} ({shown}) is on the page");
    }

    // Adding from the form without JavaScript: the selects' values name the variant.
    let add = |form: Vec<(&'static str, String)>| {
        let shopper = shopper.clone();
        let url = app.url(&format!("/s/{slug}/cart/add"));
        async move { shopper.post(url).form(&form).send().await.unwrap() }
    };
    let res = add(vec![
        ("product", id.clone()),
        ("o1", "M".into()),
        ("o2", "Indigo".into()),
        ("quantity", "2".into()),
    ])
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], format!("/s/{slug}/cart"));
    let cart = page(&app, &shopper, &format!("/s/{slug}/cart")).await;
    assert!(cart.contains("Adire scarf (M / Indigo)"), "{cart}");
    assert!(cart.contains("₦12,000.00"), "2 × 6,000: {cart}");
    // A combination not sold, or no choice at all: back to the page, saying why.
    let res = add(vec![
        ("product", id.clone()),
        ("o1", "M".into()),
        ("o2", "Red".into()),
    ])
    .await;
    let to = res.headers()["location"].to_str().unwrap().to_string();
    assert!(
        to.starts_with(&path) && to.contains("error=unavailable"),
        "{to}"
    );
    let back = page(&app, &shopper, &to).await;
    assert!(back.contains("That combination is not available"), "{back}");
    let res = add(vec![("product", id.clone())]).await;
    let to = res.headers()["location"].to_str().unwrap().to_string();
    assert!(to.ends_with("error=choose"), "{to}");
    // Sold out: the cart says so and holds nothing more.
    let res = add(vec![
        ("product", id.clone()),
        ("variant", vs[1].id.to_string()),
    ])
    .await;
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .contains("error=sold_out")
    );
    // A variant of another product cannot be added through this one.
    let cap = app
        .create_product(&[("title", "Cap"), ("price", "1000"), ("status", "active")])
        .await;
    let res = add(vec![("product", cap), ("variant", vs[0].id.to_string())]).await;
    assert_eq!(res.status(), 404);

    // Listings show the lowest price as "From".
    let home = page(&app, &shopper, &format!("/s/{slug}")).await;
    assert!(home.contains("From ₦5,000.00"), "{home}");
}

fn format_thousands(n: i64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn checkout_form<'a>(
    shop: &'a str,
    key: &'a str,
    variant: &'a str,
    qty: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("shop", shop),
        ("name", "Bola Ade"),
        ("phone", "+234 802 000 1111"),
        ("address", "5 Allen Avenue, Ikeja"),
        ("idempotency_key", key),
        ("product[]", variant),
        ("quantity[]", qty),
    ]
}

#[tokio::test]
async fn concurrent_checkouts_take_stock_per_variant_and_never_oversell() {
    let app = spawn_app().await;
    let slug = shop(&app).await;
    let (id, vs) = scarf(&app).await;
    let target = vs[2].id.to_string();
    let keys: Vec<String> = (0..6).map(|i| format!("race-{i}")).collect();
    let url = app.url("/api/storefront/checkout");
    let tasks: Vec<_> = keys
        .iter()
        .map(|key| {
            let form: Vec<(String, String)> = checkout_form(&slug, key, &target, "1")
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let url = url.clone();
            tokio::spawn(async move {
                let f: Vec<(&str, &str)> =
                    form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                call_with(&client(), &url, &f).await.status().as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 422).count(),
        4,
        "{statuses:?}"
    );
    let after = variants(&app, &id).await;
    let stocks: Vec<i32> = after.iter().map(|v| v.stock).collect();
    assert_eq!(stocks, [2, 2, 0, 2], "only that variant's stock moved");
    let total: i32 = sqlx::query_scalar("select stock from products where id = $1::uuid")
        .bind(&id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(total, 6, "the product's summary follows");

    // The refusal names the variant.
    let res = call_with(&client(), &url, &checkout_form(&slug, "late", &target, "1")).await;
    let (_, body) = json(res).await;
    assert!(
        body["fields"]["items"]
            .as_str()
            .unwrap()
            .contains("Adire scarf (M / Indigo) is sold out"),
        "{body}"
    );
    // A disabled variant cannot be bought.
    sqlx::query("update product_variants set enabled = false where id = $1")
        .bind(vs[0].id)
        .execute(&app.pool)
        .await
        .unwrap();
    let res = call_with(
        &client(),
        &url,
        &checkout_form(&slug, "off", &vs[0].id.to_string(), "1"),
    )
    .await;
    let (status, body) = json(res).await;
    assert_eq!(status, 422);
    assert!(
        body["fields"]["items"]
            .as_str()
            .unwrap()
            .contains("no longer available")
    );

    // Cancelling puts the stock back on the variant it came from.
    let order: String = sqlx::query_scalar(
        "select id::text from orders where idempotency_key like 'race-%' limit 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let res = app
        .call("orders/status", &[("id", &order), ("status", "cancelled")])
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let stocks: Vec<i32> = variants(&app, &id).await.iter().map(|v| v.stock).collect();
    assert_eq!(stocks, [2, 2, 1, 2]);
}

#[tokio::test]
async fn order_lines_keep_their_snapshot_whatever_changes_later() {
    let app = spawn_app().await;
    let slug = shop(&app).await;
    let (id, vs) = scarf(&app).await;
    let variant = vs[1].id.to_string();
    let res = call_with(
        &client(),
        &app.url("/api/storefront/checkout"),
        &checkout_form(&slug, "snap", &variant, "2"),
    )
    .await;
    let (status, order) = json(res).await;
    assert_eq!(status, 200, "{order}");
    let order = order.as_str().unwrap().to_string();
    let before = json(app.call("orders/get", &[("id", &order)]).await)
        .await
        .1;
    assert_eq!(before["lines"][0]["title"], "Adire scarf");
    assert_eq!(before["lines"][0]["variant_title"], "S / Red");
    assert_eq!(before["lines"][0]["sku"], "SCARF-1");
    assert_eq!(before["lines"][0]["unit_price"], "₦5,500.00");

    // Rename the product, reprice and re-SKU the variant, then drop the colour entirely.
    let res = app
        .call(
            "catalog/product/save",
            &[("id", &id), ("title", "Renamed"), ("status", "active")],
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    sqlx::query("update product_variants set price_minor = 1, sku = 'NEW' where id = $1")
        .bind(vs[1].id)
        .execute(&app.pool)
        .await
        .unwrap();
    let (status, _) = set_options(&app, &id, &[("Size", "S, M")]).await;
    assert_eq!(status, 200);
    assert!(
        variants(&app, &id).await.iter().all(|v| v.id != vs[1].id),
        "the sold variant is gone"
    );
    let after = json(app.call("orders/get", &[("id", &order)]).await)
        .await
        .1;
    assert_eq!(after["lines"], before["lines"]);
    assert_eq!(after["total"], "₦11,000.00");
    let csv = app
        .get("/dashboard/orders/export.csv")
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.contains("Adire scarf (S / Red)"), "{csv}");
}

async fn export(app: &TestApp) -> String {
    let res = app.get("/dashboard/catalog/export.csv").await;
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

async fn import(app: &TestApp, csv: &str) -> (u16, Value) {
    json(app.call("catalog/import", &[("csv", csv)]).await).await
}

#[tokio::test]
async fn the_catalog_csv_carries_variants_and_round_trips_exactly() {
    let app = spawn_app().await;
    shop(&app).await;
    let (id, vs) = scarf(&app).await;
    sqlx::query("update product_variants set enabled = false where id = $1")
        .bind(vs[3].id)
        .execute(&app.pool)
        .await
        .unwrap();
    app.create_product(&[("title", "Bowl"), ("price", "900"), ("status", "active")])
        .await;
    let csv = export(&app).await;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 4 + 1, "{csv}");
    assert_eq!(
        lines[1],
        "SCARF-0,Adire scarf,adire-scarf,,5000.00,,active,true,2,,Size,S,Colour,Indigo,,,true"
    );
    assert_eq!(
        lines[4],
        "SCARF-3,Adire scarf,adire-scarf,,6500.00,,active,true,2,,Size,M,Colour,Red,,,false"
    );
    assert_eq!(lines[5], ",Bowl,bowl,,900.00,,active,false,0,,,,,,,,true");

    // Importing the export changes nothing: same variants (same ids), same export.
    let (status, report) = import(&app, &csv).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (report["created"].as_u64(), report["updated"].as_u64()),
        (Some(0), Some(2))
    );
    assert_eq!(variants(&app, &id).await, vs_with_disabled(&vs, 3));
    assert_eq!(export(&app).await, csv);

    // Edited in a spreadsheet: a new size, a price change, one combination dropped; product
    // columns left empty on the further rows.
    let edited = "slug,title,sku,price,status,track_stock,stock,option1_name,option1_value,option2_name,option2_value\n\
                  adire-scarf,Adire scarf,SCARF-0,5100,active,true,2,Size,S,Colour,Indigo\n\
                  adire-scarf,,SCARF-1,5500,,true,2,Size,S,Colour,Red\n\
                  adire-scarf,,SCARF-2,6000,,true,2,Size,M,Colour,Indigo\n\
                  adire-scarf,,SCARF-L,7000,,true,1,Size,L,Colour,Indigo\n\
                  kaftan,Kaftan,K-S,9000,active,false,,Size,S,,\n\
                  kaftan,,K-M,9000,,false,,Size,M,,\n";
    let (status, report) = import(&app, edited).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (report["created"].as_u64(), report["updated"].as_u64()),
        (Some(1), Some(1))
    );
    let after = variants(&app, &id).await;
    let combos: Vec<String> = after.iter().map(|v| v.options.join("/")).collect();
    assert_eq!(combos, ["S/Indigo", "S/Red", "M/Indigo", "L/Indigo"]);
    assert_eq!(after[0].id, vs[0].id, "kept variants keep their ids");
    assert_eq!(after[0].price_minor, 510_000);
    assert_eq!(after[3].sku.as_deref(), Some("SCARF-L"));
    let options: Vec<(String, Vec<String>)> = sqlx::query_as(
        "select name, choices from product_options where product_id = $1::uuid order by position",
    )
    .bind(&id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        options,
        [
            (
                "Size".to_string(),
                vec!["S".to_string(), "M".into(), "L".into()]
            ),
            (
                "Colour".to_string(),
                vec!["Indigo".to_string(), "Red".into()]
            ),
        ]
    );
    let kaftan: i64 = sqlx::query_scalar(
        "select count(*) from product_variants v join products p on p.id = v.product_id where p.slug = 'kaftan'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(kaftan, 2);

    // Bad variant rows: all named, nothing changes.
    let before = export(&app).await;
    let bad = "slug,title,sku,price,option1_name,option1_value,option2_name,option2_value\n\
               adire-scarf,Adire scarf,,5000,Size,S,Colour,Indigo\n\
               adire-scarf,,,5000,Size,S,Colour,Indigo\n\
               adire-scarf,,,5000,Colour,Red,,\n\
               ,Cap,,100,Size,S,,\n\
               cap,Cap,,100,,S,,\n";
    let (status, body) = import(&app, bad).await;
    assert_eq!(status, 422, "{body}");
    let message = body["fields"]["csv"].as_str().unwrap();
    assert!(
        message.contains("Line 3: S / Indigo appears twice"),
        "{message}"
    );
    assert!(
        message.contains("Line 4: options: adire-scarf has the options Size, Colour"),
        "{message}"
    );
    assert!(message.contains("Line 5: slug"), "{message}");
    assert!(message.contains("Line 6: option1_name"), "{message}");
    assert_eq!(export(&app).await, before);
}

fn vs_with_disabled(vs: &[Variant], at: usize) -> Vec<Variant> {
    vs.iter()
        .enumerate()
        .map(|(i, v)| Variant {
            id: v.id,
            options: v.options.clone(),
            sku: v.sku.clone(),
            price_minor: v.price_minor,
            track_stock: v.track_stock,
            stock: v.stock,
            enabled: v.enabled && i != at,
        })
        .collect()
}
