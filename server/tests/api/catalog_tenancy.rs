//! Catalog export tenancy: each merchant's `/dashboard/catalog/export.csv` holds that shop's
//! products and categories, and nothing of another shop's.

use crate::helpers::{TestApp, call_with, client, signup_form, spawn_app};

/// (title, categories) of every row in a catalog export, as a CSV reader sees them.
async fn exported(app: &TestApp, merchant: &reqwest::Client) -> Vec<(String, String)> {
    let res = merchant
        .get(app.url("/dashboard/catalog/export.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (title, categories) = (col("title"), col("categories"));
    let mut rows: Vec<(String, String)> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[title].to_owned(), r[categories].to_owned())
        })
        .collect();
    rows.sort();
    rows
}

#[tokio::test]
async fn a_merchants_catalog_export_leaves_out_other_shops_products() {
    let app = spawn_app().await;
    // Merchant A: products in every status, one in a category.
    app.signup("Shop A Owner").await;
    let a_category: String = app
        .call("catalog/category/create", &[("name", "A Secrets")])
        .await
        .json()
        .await
        .unwrap();
    app.create_product(&[
        ("title", "A Active Lamp"),
        ("price", "100"),
        ("status", "active"),
        ("categories[]", &a_category),
    ])
    .await;
    app.create_product(&[
        ("title", "A Draft Rug"),
        ("price", "100"),
        ("status", "draft"),
    ])
    .await;
    app.create_product(&[
        ("title", "A Old Vase"),
        ("price", "100"),
        ("status", "archived"),
    ])
    .await;

    // Merchant B, in another browser.
    let b = client();
    let res = call_with(
        &b,
        &app.url("/api/signup"),
        &signup_form("Shop B Owner", "shop.b.owner@example.com"),
    )
    .await;
    assert_eq!(res.status(), 200);
    let b_category: String = call_with(
        &b,
        &app.url("/api/catalog/category/create"),
        &[("name", "B Shelf")],
    )
    .await
    .json()
    .await
    .unwrap();
    let res = call_with(
        &b,
        &app.url("/api/catalog/product/save"),
        &[
            ("title", "B Only Chair"),
            ("price", "250"),
            ("status", "draft"),
            ("categories[]", &b_category),
        ],
    )
    .await;
    assert_eq!(res.status(), 200);

    assert_eq!(
        exported(&app, &b).await,
        [("B Only Chair".to_string(), "B Shelf".to_string())]
    );
    assert_eq!(
        exported(&app, &app.client).await,
        [
            ("A Active Lamp".to_string(), "A Secrets".to_string()),
            ("A Draft Rug".into(), "".into()),
            ("A Old Vase".into(), "".into()),
        ]
    );
    let products: i64 = sqlx::query_scalar("select count(*) from products")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(products, 4, "both shops' products exist side by side");
}
