//! Shop settings, catalog, CSV and media, through the real server functions and routes.

use crate::helpers::{Opts, client, png, png_header_only, spawn_app, spawn_app_with, upload};
use serde_json::Value;

fn product<'a>(title: &'a str, price: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![("title", title), ("price", price), ("status", "active")]
}

async fn json(res: reqwest::Response) -> Value {
    let status = res.status();
    let text = res.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
}

#[tokio::test]
async fn shop_settings_are_validated_and_saved() {
    let app = spawn_app().await;
    app.signup("Settings Owner").await;
    let good = [
        ("name", "Ada Fabrics"),
        ("slug", "ada-fabrics"),
        ("description", "Hand-dyed adire from Abeokuta."),
        ("currency", "NGN"),
        ("whatsapp_number", "+234 801 234 5678"),
        ("contact_email", "Shop@Ada.example"),
        ("address", "12 Market Road, Abeokuta"),
    ];
    let res = app.call("shop/settings/update", &good).await;
    assert_eq!(res.status(), 200);
    let saved = json(res).await;
    assert_eq!(saved["whatsapp_number"], "+2348012345678");
    assert_eq!(saved["contact_email"], "shop@ada.example");
    assert!(
        saved["storefront_url"]
            .as_str()
            .unwrap()
            .ends_with("/s/ada-fabrics")
    );

    for (field, value) in [
        ("currency", "XXX"),
        ("whatsapp_number", "0801 234 5678"),
        ("slug", "dashboard"),
        ("slug", "Bad Slug"),
        ("contact_email", "nope"),
        ("name", " "),
    ] {
        let mut form = good.to_vec();
        form.retain(|(k, _)| *k != field);
        form.push((field, value));
        let res = app.call("shop/settings/update", &form).await;
        assert_eq!(res.status(), 422, "{field}={value}");
        let body = json(res).await;
        assert!(body["fields"][field].is_string(), "{field}: {body}");
    }
    let name: String = sqlx::query_scalar("select name from shops")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(name, "Ada Fabrics", "rejected forms change nothing");

    // Another shop's address is taken, and so is one of its old addresses.
    let other = client();
    crate::helpers::call_with(
        &other,
        &app.url("/api/signup"),
        &crate::helpers::signup_form("Other Owner", "other@example.com"),
    )
    .await;
    let mut form = good.to_vec();
    form.retain(|(k, _)| *k != "slug");
    form.push(("slug", "ada-fabrics"));
    let res = crate::helpers::call_with(&other, &app.url("/api/shop/settings/update"), &form).await;
    assert_eq!(res.status(), 422);
    assert!(
        json(res).await["fields"]["slug"]
            .as_str()
            .unwrap()
            .contains("already uses")
    );
}

#[tokio::test]
async fn a_changed_slug_redirects_from_the_old_address() {
    let app = spawn_app().await;
    app.signup("Mover Owner").await;
    app.create_product(&product("Indigo Wrap", "5000")).await;
    let old = app.shop_slug().await;
    let res = app
        .call(
            "shop/settings/update",
            &[
                ("name", "Moved"),
                ("slug", "moved-shop"),
                ("description", ""),
                ("currency", "NGN"),
                ("whatsapp_number", ""),
                ("contact_email", ""),
                ("address", ""),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = app.get(&format!("/s/{old}/p/indigo-wrap")).await;
    assert_eq!(res.status(), 301);
    assert_eq!(res.headers()["location"], "/s/moved-shop/p/indigo-wrap");
    assert_eq!(app.get("/s/moved-shop/p/indigo-wrap").await.status(), 200);
}

#[tokio::test]
async fn products_are_created_listed_edited_archived_and_deleted() {
    let app = spawn_app().await;
    app.signup("Catalog Owner").await;
    let cat: String = json(
        app.call("catalog/category/create", &[("name", "Scarves")])
            .await,
    )
    .await
    .as_str()
    .unwrap()
    .into();
    let id = app
        .create_product(&[
            ("title", "Adire Indigo Scarf"),
            ("price", "12,500"),
            ("compare_at_price", "15000"),
            ("sku", "ADI-1"),
            ("track_stock", "on"),
            ("stock", "3"),
            ("status", "active"),
            ("description", "Soft cotton.\n\nHand-dyed."),
            ("categories[]", &cat),
        ])
        .await;
    for i in 0..3 {
        app.create_product(&product(&format!("Plain Wrap {i}"), "1000"))
            .await;
    }
    let detail = json(app.call("catalog/product", &[("id", &id)]).await).await;
    assert_eq!(detail["price"], "12500.00");
    assert_eq!(detail["compare_at_price"], "15000.00");
    assert_eq!(detail["slug"], "adire-indigo-scarf");
    assert_eq!(detail["category_ids"][0], cat.as_str());

    let list = json(
        app.call("catalog/products", &[("query[q]", "indigo")])
            .await,
    )
    .await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["price"], "₦12,500.00");
    let list = json(app.call("catalog/products", &[("query[q]", "ADI-1")]).await).await;
    assert_eq!(list["total"], 1, "search by SKU");
    let list = json(
        app.call("catalog/products", &[("query[category]", &cat)])
            .await,
    )
    .await;
    assert_eq!(list["total"], 1);
    let list = json(
        app.call("catalog/products", &[("query[sort]", "price_desc")])
            .await,
    )
    .await;
    assert_eq!(list["total"], 4);
    assert_eq!(list["items"][0]["title"], "Adire Indigo Scarf");
    let list = json(
        app.call("catalog/products", &[("query[sort]", "title")])
            .await,
    )
    .await;
    assert_eq!(list["items"][0]["title"], "Adire Indigo Scarf");

    let res = app
        .call(
            "catalog/product/save",
            &[
                ("id", &id),
                ("title", "Adire Scarf"),
                ("price", "13000"),
                ("status", "active"),
                ("slug", "adire-scarf"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let detail = json(app.call("catalog/product", &[("id", &id)]).await).await;
    assert_eq!(detail["title"], "Adire Scarf");
    assert_eq!(
        detail["category_ids"].as_array().unwrap().len(),
        0,
        "unticked categories are removed"
    );

    assert_eq!(
        app.call(
            "catalog/product/status",
            &[("id", &id), ("status", "archived")]
        )
        .await
        .status(),
        200
    );
    let list = json(
        app.call("catalog/products", &[("query[status]", "archived")])
            .await,
    )
    .await;
    assert_eq!(list["total"], 1);

    let version_before: i64 = sqlx::query_scalar("select catalog_version from shops")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        app.call("catalog/product/delete", &[("id", &id)])
            .await
            .status(),
        200
    );
    assert_eq!(
        app.call("catalog/product", &[("id", &id)]).await.status(),
        404
    );
    let version_after: i64 = sqlx::query_scalar("select catalog_version from shops")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(
        version_after > version_before,
        "every change bumps the catalog version"
    );
}

#[tokio::test]
async fn product_validation_explains_each_problem() {
    let app = spawn_app().await;
    app.signup("Strict Owner").await;
    app.create_product(&[
        ("title", "Taken"),
        ("price", "10"),
        ("status", "draft"),
        ("sku", "SKU-1"),
    ])
    .await;
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![("title", "A"), ("price", "-5"), ("status", "draft")],
            "price",
            "negative",
        ),
        (
            vec![
                ("title", "A"),
                ("price", "100"),
                ("compare_at_price", "90"),
                ("status", "draft"),
            ],
            "compare_at_price",
            "more than the price",
        ),
        (
            vec![("title", "Taken"), ("price", "10"), ("status", "draft")],
            "slug",
            "already uses",
        ),
        (
            vec![
                ("title", "B"),
                ("price", "10"),
                ("status", "draft"),
                ("sku", "SKU-1"),
            ],
            "sku",
            "already has",
        ),
        (
            vec![("title", ""), ("price", "10"), ("status", "draft")],
            "title",
            "title",
        ),
        (
            vec![("title", "C"), ("price", "abc"), ("status", "draft")],
            "price",
            "amount",
        ),
        (
            vec![
                ("title", "C"),
                ("price", "1"),
                ("status", "sold"),
                ("stock", "-1"),
            ],
            "status",
            "draft",
        ),
        (
            vec![
                ("title", "C"),
                ("price", "1"),
                ("status", "draft"),
                ("stock", "-1"),
            ],
            "stock",
            "0 or more",
        ),
    ];
    for (form, field, words) in cases {
        let res = app.call("catalog/product/save", &form).await;
        assert_eq!(res.status(), 422, "{form:?}");
        let body = json(res).await;
        let message = body["fields"][field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} in {body}"));
        assert!(message.contains(words), "{field}: {message}");
    }
    let count: i64 = sqlx::query_scalar("select count(*) from products")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn categories_are_created_renamed_reordered_and_deleted() {
    let app = spawn_app().await;
    app.signup("Category Owner").await;
    let mut ids = Vec::new();
    for name in ["Wraps", "Scarves", "Bags"] {
        ids.push(
            json(app.call("catalog/category/create", &[("name", name)]).await)
                .await
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(
        app.call("catalog/category/create", &[("name", "wraps")])
            .await
            .status(),
        422,
        "same name, other case"
    );
    assert_eq!(
        app.call(
            "catalog/category/rename",
            &[("id", &ids[0]), ("name", "Head Wraps")]
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        app.call(
            "catalog/category/move",
            &[("id", &ids[2]), ("direction", "up")]
        )
        .await
        .status(),
        200
    );
    let list = json(app.call("catalog/categories", &[]).await).await;
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Head Wraps", "Bags", "Scarves"]);
    assert_eq!(
        app.call("catalog/category/delete", &[("id", &ids[1])])
            .await
            .status(),
        200
    );
    let list = json(app.call("catalog/categories", &[]).await).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn another_shops_rows_answer_404_for_reading_editing_and_deleting() {
    let app = spawn_app().await;
    app.signup("Owner A").await;
    let product_a = app.create_product(&product("Secret Product", "100")).await;
    let cat_a: String = json(
        app.call("catalog/category/create", &[("name", "Secret")])
            .await,
    )
    .await
    .as_str()
    .unwrap()
    .into();
    let res = upload(
        &app,
        &app.client,
        &[("purpose", "product"), ("product_id", &product_a)],
        png(64, 64),
        "a.png",
    )
    .await;
    assert_eq!(res.status(), 201);
    let image_a = json(res).await["id"].as_str().unwrap().to_string();

    let b = client();
    crate::helpers::call_with(
        &b,
        &app.url("/api/signup"),
        &crate::helpers::signup_form("Owner B", "owner.b@example.com"),
    )
    .await;
    let call = |endpoint: &'static str, form: Vec<(&'static str, String)>| {
        let b = b.clone();
        let url = app.url(&format!("/api/{endpoint}"));
        async move { b.post(url).form(&form).send().await.unwrap() }
    };
    let own_b = {
        let res = call(
            "catalog/product/save",
            vec![
                ("title", "B's".into()),
                ("price", "1".into()),
                ("status", "draft".into()),
            ],
        )
        .await;
        serde_json::from_str::<String>(&res.text().await.unwrap()).unwrap()
    };
    let attempts: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("catalog/product", vec![("id", product_a.clone())]),
        (
            "catalog/product/save",
            vec![
                ("id", product_a.clone()),
                ("title", "Hijack".into()),
                ("price", "1".into()),
                ("status", "active".into()),
            ],
        ),
        (
            "catalog/product/status",
            vec![("id", product_a.clone()), ("status", "archived".into())],
        ),
        ("catalog/product/delete", vec![("id", product_a.clone())]),
        (
            "catalog/category/rename",
            vec![("id", cat_a.clone()), ("name", "Mine".into())],
        ),
        (
            "catalog/category/move",
            vec![("id", cat_a.clone()), ("direction", "up".into())],
        ),
        ("catalog/category/delete", vec![("id", cat_a.clone())]),
        (
            "catalog/image/alt",
            vec![("id", image_a.clone()), ("alt", "x".into())],
        ),
        (
            "catalog/image/move",
            vec![("id", image_a.clone()), ("direction", "up".into())],
        ),
        ("catalog/image/delete", vec![("id", image_a.clone())]),
        // B's own product, with A's category attached.
        (
            "catalog/product/save",
            vec![
                ("id", own_b.clone()),
                ("title", "B's".into()),
                ("price", "1".into()),
                ("status", "draft".into()),
                ("categories[]", cat_a.clone()),
            ],
        ),
    ];
    for (endpoint, form) in attempts {
        let res = call(endpoint, form.clone()).await;
        assert_eq!(res.status(), 404, "{endpoint} {form:?}");
    }
    let res = upload(
        &app,
        &b,
        &[("purpose", "product"), ("product_id", &product_a)],
        png(16, 16),
        "b.png",
    )
    .await;
    assert_eq!(res.status(), 404, "uploading to another shop's product");

    let (title, status): (String, String) =
        sqlx::query_as("select title, status from products where id = $1::uuid")
            .bind(&product_a)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        (title.as_str(), status.as_str()),
        ("Secret Product", "active"),
        "A's product is untouched"
    );
    let images: i64 = sqlx::query_scalar("select count(*) from images")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(images, 1);
    let cats: i64 = sqlx::query_scalar("select count(*) from product_categories")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(cats, 0);
}

#[tokio::test]
async fn csv_round_trip_and_all_or_nothing_import() {
    let app = spawn_app().await;
    app.signup("Csv Owner").await;
    app.create_product(&[
        ("title", "Existing Wrap"),
        ("price", "1000"),
        ("status", "active"),
        ("sku", "W-1"),
    ])
    .await;

    let bad = "sku,title,price,status,categories\n\
               W-1,Existing Wrap,1200,active,Wraps\n\
               N-1,New Bag,-3,active,Bags\n\
               N-2,,500,active,\n\
               N-3,Good Row,800,wrong,\n";
    let res = app.call("catalog/import", &[("csv", bad)]).await;
    assert_eq!(res.status(), 422);
    let message = json(res).await["fields"]["csv"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("Line 3: price"), "{message}");
    assert!(message.contains("Line 4: title"), "{message}");
    assert!(message.contains("Line 5: status"), "{message}");
    assert!(!message.contains("Line 2"), "{message}");
    let (count, price): (i64, i64) =
        sqlx::query_as("select count(*), max(price_minor) from products")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((count, price), (1, 100_000), "nothing changed");
    let cats: i64 = sqlx::query_scalar("select count(*) from categories")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(cats, 0);

    let good = "sku,title,price,compare_at_price,status,track_stock,stock,categories\n\
                W-1,Existing Wrap,1200,,active,true,4,Wraps\n\
                N-1,New Bag,3500.50,4000,active,false,,Bags|Wraps\n";
    let res = app.call("catalog/import", &[("csv", good)]).await;
    assert_eq!(res.status(), 200);
    let report = json(res).await;
    assert_eq!(
        (report["created"].as_u64(), report["updated"].as_u64()),
        (Some(1), Some(1))
    );

    let res = app.get("/dashboard/catalog/export.csv").await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("catalog.csv")
    );
    let csv = res.text().await.unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "sku,title,slug,description,price,compare_at_price,status,track_stock,stock,categories,\
         option1_name,option1_value,option2_name,option2_value,option3_name,option3_value,enabled"
    );
    assert_eq!(
        lines.next().unwrap(),
        "W-1,Existing Wrap,existing-wrap,,1200.00,,active,true,4,Wraps,,,,,,,true"
    );
    // Categories in their display order (Wraps was created first).
    assert_eq!(
        lines.next().unwrap(),
        "N-1,New Bag,new-bag,,3500.50,4000.00,active,false,0,Wraps|Bags,,,,,,,true"
    );

    // The export imports back unchanged.
    let res = app.call("catalog/import", &[("csv", &csv)]).await;
    assert_eq!(json(res).await["updated"], 2);
    assert_eq!(
        client()
            .get(app.url("/dashboard/catalog/export.csv"))
            .send()
            .await
            .unwrap()
            .status(),
        303,
        "signed out: to login"
    );
}

#[tokio::test]
async fn local_uploads_are_checked_reencoded_and_served_with_long_cache() {
    let app = spawn_app().await;
    app.signup("Media Owner").await;
    let id = app.create_product(&product("Photo Product", "100")).await;
    let fields = [
        ("purpose", "product"),
        ("product_id", id.as_str()),
        ("alt", "A red square"),
    ];

    let res = upload(
        &app,
        &app.client,
        &fields,
        b"%PDF-1.7 not an image".to_vec(),
        "doc.png",
    )
    .await;
    assert_eq!(res.status(), 422);
    assert!(
        json(res).await["fields"]["file"]
            .as_str()
            .unwrap()
            .contains("not an image")
    );

    let res = upload(
        &app,
        &app.client,
        &fields,
        vec![0u8; 10 * 1024 * 1024 + 1],
        "big.jpg",
    )
    .await;
    assert_eq!(res.status(), 422);
    assert!(
        json(res).await["fields"]["file"]
            .as_str()
            .unwrap()
            .contains("10 MB")
    );

    let res = upload(
        &app,
        &app.client,
        &fields,
        png_header_only(8000, 6000),
        "huge.png",
    )
    .await;
    assert_eq!(res.status(), 422);
    assert!(
        json(res).await["fields"]["file"]
            .as_str()
            .unwrap()
            .contains("40 megapixels")
    );

    let res = upload(&app, &app.client, &fields, png(900, 600), "ok.png").await;
    assert_eq!(res.status(), 201);
    let view = json(res).await;
    assert_eq!(
        (view["width"].as_u64(), view["height"].as_u64()),
        (Some(900), Some(600))
    );
    assert_eq!(view["alt"], "A red square");
    let src = view["src"].as_str().unwrap();
    let res = app.get(src).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let bytes = res.bytes().await.unwrap();
    assert_eq!(
        image::guess_format(&bytes).unwrap(),
        image::ImageFormat::Jpeg,
        "re-encoded"
    );
    assert!(view["srcset"].as_str().unwrap().contains("320w"));
    assert_eq!(
        app.get(view["og_url"].as_str().unwrap()).await.status(),
        200
    );

    // Without script the form posts back to the page, with the outcome in the query string.
    let form = reqwest::multipart::Form::new()
        .text("purpose", "product")
        .text("product_id", id.clone())
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"nope".to_vec()).file_name("x.png"),
        );
    let res = app
        .client
        .post(app.url("/api/media/upload"))
        .header("accept", "text/html")
        .header("referer", app.url(&format!("/dashboard/products/{id}")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with(&format!("/dashboard/products/{id}?upload_error=")),
        "{location}"
    );

    // A second image; reorder and describe them.
    let second = json(upload(&app, &app.client, &fields, png(400, 400), "two.png").await).await;
    let second_id = second["id"].as_str().unwrap();
    assert_eq!(
        app.call(
            "catalog/image/move",
            &[("id", second_id), ("direction", "up")]
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        app.call(
            "catalog/image/alt",
            &[("id", second_id), ("alt", "The back")]
        )
        .await
        .status(),
        200
    );
    let detail = json(app.call("catalog/product", &[("id", &id)]).await).await;
    assert_eq!(detail["images"][0]["id"], second_id);
    assert_eq!(detail["images"][0]["alt"], "The back");
    assert_eq!(detail["images"][1]["id"], view["id"]);

    // Deleting the image removes its files.
    let image_id = view["id"].as_str().unwrap();
    assert_eq!(
        app.call("catalog/image/delete", &[("id", image_id)])
            .await
            .status(),
        200
    );
    assert_eq!(app.get(src).await.status(), 404);
}

#[tokio::test]
async fn a_logo_upload_replaces_the_previous_logo() {
    let app = spawn_app().await;
    app.signup("Logo Owner").await;
    assert_eq!(
        upload(
            &app,
            &app.client,
            &[("purpose", "logo")],
            png(200, 200),
            "l1.png"
        )
        .await
        .status(),
        201
    );
    assert_eq!(
        upload(
            &app,
            &app.client,
            &[("purpose", "logo")],
            png(300, 300),
            "l2.png"
        )
        .await
        .status(),
        201
    );
    let settings = json(app.call("shop/settings", &[]).await).await;
    assert_eq!(settings["logo"]["width"], 300);
    let images: i64 = sqlx::query_scalar("select count(*) from images")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(images, 1, "the old logo is gone");
    assert_eq!(app.call("shop/logo/remove", &[]).await.status(), 200);
    assert!(json(app.call("shop/settings", &[]).await).await["logo"].is_null());
}

/// A fake Cloudinary that speaks its wire format: `destroy` answers {"result":"ok"} and records
/// what it was asked, so the test can check the request was signed.
async fn fake_cloudinary() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::routing::post;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    let router = axum::Router::new().route(
        "/v1_1/{cloud}/image/destroy",
        post(move |body: String| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push(body);
                axum::Json(serde_json::json!({"result": "ok"}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}"), seen)
}

#[tokio::test]
async fn cloudinary_uploads_are_signed_verified_and_destroyed() {
    let (base, seen) = fake_cloudinary().await;
    let app = spawn_app_with(Opts {
        env: vec![
            ("CLOUDINARY_URL", "cloudinary://key123:abcd@demo".into()),
            ("CLOUDINARY_API_BASE_URL", base.clone()),
        ],
    })
    .await;
    app.signup("Cloud Owner").await;
    let product_id = app.create_product(&product("Cloud Product", "100")).await;
    let shop_id: String = sqlx::query_scalar("select id::text from shops")
        .fetch_one(&app.pool)
        .await
        .unwrap();

    let signed = json(app.call("media/sign", &[]).await).await;
    let folder = format!("shops/{shop_id}/products");
    assert_eq!(signed["folder"], folder.as_str());
    assert_eq!(signed["api_key"], "key123");
    assert_eq!(
        signed["upload_url"],
        format!("{base}/v1_1/demo/image/upload")
    );
    let ts = signed["timestamp"].as_i64().unwrap().to_string();
    assert_eq!(
        signed["signature"],
        app::media::ssr::sign_params(
            &[
                ("folder", &folder),
                ("allowed_formats", "jpg,png,webp,gif"),
                ("timestamp", &ts)
            ],
            "abcd"
        )
    );

    let confirm = |public_id: String, signature: String| {
        let form = vec![
            ("product_id", product_id.clone()),
            ("public_id", public_id),
            ("version", "1712000000".to_string()),
            ("signature", signature),
            ("width", "800".into()),
            ("height", "600".into()),
            ("bytes", "12345".into()),
            ("format", "jpg".into()),
        ];
        let url = app.url("/api/media/confirm");
        let c = app.client.clone();
        async move { c.post(url).form(&form).send().await.unwrap() }
    };
    // Outside the shop's folder: refused even with Cloudinary's valid signature.
    let outside = "shops/someone-else/products/abc".to_string();
    let res = confirm(
        outside.clone(),
        app::media::ssr::response_signature(&outside, 1712000000, "abcd"),
    )
    .await;
    assert_eq!(res.status(), 422);
    // In the folder but not signed by Cloudinary: refused.
    let inside = format!("{folder}/abc");
    assert_eq!(confirm(inside.clone(), "0".repeat(40)).await.status(), 422);
    let res = confirm(
        inside.clone(),
        app::media::ssr::response_signature(&inside, 1712000000, "abcd"),
    )
    .await;
    assert_eq!(res.status(), 200);

    let detail = json(app.call("catalog/product", &[("id", &product_id)]).await).await;
    let image = &detail["images"][0];
    assert!(image["src"].as_str().unwrap().starts_with(&format!("https://res.cloudinary.com/demo/image/upload/c_limit,w_640,f_auto,q_auto/v1712000000/{inside}")));
    assert!(
        image["thumb_src"]
            .as_str()
            .unwrap()
            .contains("c_fill,w_480,h_480")
    );
    assert!(
        image["og_url"]
            .as_str()
            .unwrap()
            .contains("c_fill,w_1200,h_630")
    );

    assert_eq!(
        app.call(
            "catalog/image/delete",
            &[("id", image["id"].as_str().unwrap())]
        )
        .await
        .status(),
        200
    );
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    let form: std::collections::HashMap<String, String> = serde_urlencoded_pairs(&requests[0]);
    assert_eq!(form["public_id"], inside);
    assert_eq!(form["api_key"], "key123");
    assert_eq!(
        form["signature"],
        app::media::ssr::sign_params(
            &[("public_id", &inside), ("timestamp", &form["timestamp"])],
            "abcd"
        )
    );
}

fn serde_urlencoded_pairs(body: &str) -> std::collections::HashMap<String, String> {
    reqwest::Url::parse(&format!("http://x/?{body}"))
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

// ------------------------------------------------------------------ CSV limits and formulas

fn csv_rows(rows: usize, row: &str) -> String {
    let mut csv = String::from("title,price\n");
    for _ in 0..rows {
        csv.push_str(row);
        csv.push('\n');
    }
    csv
}

async fn csv_error(res: reqwest::Response) -> String {
    let status = res.status();
    let body = json(res).await;
    assert_eq!(status, 422, "{body}");
    body["fields"]["csv"]
        .as_str()
        .expect("a message on the csv field")
        .to_string()
}

async fn product_count(app: &crate::helpers::TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from products")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn ten_thousand_rows_with_one_title_import_with_distinct_slugs() {
    let app = spawn_app().await;
    app.signup("Bulk Owner").await;
    app.create_product(&product("Scarf", "100")).await;
    let res = app
        .call("catalog/import", &[("csv", &csv_rows(10_000, "Scarf,250"))])
        .await;
    let status = res.status();
    let report = json(res).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["created"], 10_000);
    let (count, distinct, highest): (i64, i64, bool) = sqlx::query_as(
        "select count(*), count(distinct slug), bool_or(slug = 'scarf-10001') from products",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((count, distinct, highest), (10_001, 10_001, true));
    let kept: String = sqlx::query_scalar("select slug from products where price_minor = 10000")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        kept, "scarf",
        "the product that was there keeps its address"
    );
}

#[tokio::test]
async fn imports_over_the_row_or_size_cap_are_refused_with_a_way_out() {
    let app = spawn_app().await;
    app.signup("Capped Owner").await;
    let res = app
        .call("catalog/import", &[("csv", &csv_rows(10_001, "Wrap,250"))])
        .await;
    let message = csv_error(res).await;
    assert!(
        message.contains("10,000") && message.contains("Split"),
        "{message}"
    );

    let big = format!(
        "title,price,description\nBig,1,{}\n",
        "x".repeat(5 * 1024 * 1024)
    );
    let message = csv_error(app.call("catalog/import", &[("csv", &big)]).await).await;
    assert!(
        message.contains("5.0 MB") && message.contains("at most 5 MB"),
        "{message}"
    );
    assert_eq!(product_count(&app).await, 0, "nothing imported");

    // Exactly at the cap is fine.
    let res = app
        .call("catalog/import", &[("csv", &csv_rows(10_000, "Wrap,250"))])
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(product_count(&app).await, 10_000);
}

#[tokio::test]
async fn a_bad_file_lists_its_first_hundred_problems_and_changes_nothing() {
    let app = spawn_app().await;
    app.signup("Messy Owner").await;
    let res = app
        .call("catalog/import", &[("csv", &csv_rows(500, "Wrap,-1"))])
        .await;
    let message = csv_error(res).await;
    assert!(message.contains("Line 2: price") && message.contains("Line 101: price"));
    assert!(!message.contains("Line 102:"), "{message}");
    assert!(message.contains("400 more problems"), "{message}");
    assert_eq!(product_count(&app).await, 0);
}

#[tokio::test]
async fn import_updates_many_products_at_once_even_when_they_swap_addresses() {
    let app = spawn_app().await;
    app.signup("Swap Owner").await;
    for (title, sku) in [("Red Wrap", "R"), ("Blue Wrap", "B"), ("Green Wrap", "G")] {
        app.create_product(&[
            ("title", title),
            ("price", "100"),
            ("status", "active"),
            ("sku", sku),
        ])
        .await;
    }
    let csv = "sku,title,slug,price,categories\n\
               R,Red Wrap,blue-wrap,150,Wraps|Red\n\
               B,Blue Wrap,red-wrap,150,wraps\n\
               G,Green Wrap Two,,175,\n\
               ,New Wrap,,80,Wraps\n";
    let res = app.call("catalog/import", &[("csv", csv)]).await;
    let status = res.status();
    let report = json(res).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (report["created"].as_u64(), report["updated"].as_u64()),
        (Some(1), Some(3))
    );
    let rows: Vec<(Option<String>, String, i64, i64)> = sqlx::query_as(
        "select p.sku, p.slug, p.price_minor, (select count(*) from product_categories pc where pc.product_id = p.id)
         from products p order by p.sku nulls last",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let expected: Vec<(Option<String>, String, i64, i64)> = vec![
        (Some("B".into()), "red-wrap".into(), 15_000, 1),
        // An existing product without a slug in the file keeps its address.
        (Some("G".into()), "green-wrap".into(), 17_500, 0),
        (Some("R".into()), "blue-wrap".into(), 15_000, 2),
        (None, "new-wrap".into(), 8_000, 1),
    ];
    assert_eq!(rows, expected);
    let categories: Vec<String> =
        sqlx::query_scalar("select name from categories order by position")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        categories,
        ["Wraps", "Red"],
        "one category per name, any case"
    );
}

#[tokio::test]
async fn catalog_export_neutralises_formulas_and_imports_back_unchanged() {
    let app = spawn_app().await;
    app.signup("Formula Owner").await;
    let title = "=HYPERLINK(\"http://evil.example\",\"Click\")";
    app.create_product(&[
        ("title", title),
        ("price", "100"),
        ("status", "active"),
        ("sku", "-5"),
        ("description", "@SUM(1+1)"),
    ])
    .await;
    app.create_product(&[
        ("title", "'=quoted on purpose"),
        ("price", "100"),
        ("status", "active"),
        ("sku", "Q"),
    ])
    .await;
    let csv = app
        .get("/dashboard/catalog/export.csv")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        csv.contains(r#"'-5,"'=HYPERLINK(""http://evil.example"",""Click"")",hyperlink-http-evil-example-click,'@SUM(1+1),"#),
        "{csv}"
    );
    assert!(csv.contains("Q,''=quoted on purpose,"), "{csv}");
    for line in csv.lines().skip(1) {
        for cell in line.split(',') {
            let cell = cell.trim_start_matches('"');
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "formula cell {cell:?} in {line}"
            );
        }
    }

    let res = app.call("catalog/import", &[("csv", &csv)]).await;
    assert_eq!(json(res).await["updated"], 2);
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("select sku, title, description from products order by sku")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        rows,
        [
            ("-5".to_string(), title.to_string(), "@SUM(1+1)".to_string()),
            ("Q".into(), "'=quoted on purpose".into(), "".into())
        ]
    );
}

#[tokio::test]
async fn orders_export_neutralises_shopper_text_and_keeps_phones_as_text() {
    let app = spawn_app().await;
    app.signup("Orders Csv Owner").await;
    let slug = app.shop_slug().await;
    let id = app.create_product(&product("Wrap", "1500")).await;
    let form = [
        ("shop", slug.as_str()),
        ("name", "=cmd|' /C calc'!A0"),
        ("phone", "+234 802 000 1111"),
        ("address", "@Allen Avenue"),
        ("note", "-1+1"),
        ("idempotency_key", "csv-key"),
        ("product[]", id.as_str()),
        ("quantity[]", "1"),
    ];
    let res =
        crate::helpers::call_with(&client(), &app.url("/api/storefront/checkout"), &form).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let csv = app
        .get("/dashboard/orders/export.csv")
        .await
        .text()
        .await
        .unwrap();
    let row = csv.lines().nth(1).expect("one order line");
    assert!(
        row.contains(",'=cmd|' /C calc'!A0,'+2348020001111,'@Allen Avenue,'-1+1,Wrap,1,"),
        "{row}"
    );
}

// ------------------------------------------------------------------ product list paging

#[tokio::test]
async fn the_product_list_clamps_any_page_number() {
    let app = spawn_app().await;
    app.signup("Paging Owner").await;
    app.create_product(&product("Only Wrap", "100")).await;
    for page in ["9223372036854775807", "-9223372036854775808", "0"] {
        let res = app.call("catalog/products", &[("query[page]", page)]).await;
        let status = res.status();
        let body = json(res).await;
        assert_eq!(status, 200, "page={page}: {body}");
        assert!(body["page"].as_i64().unwrap() >= 1, "{body}");
    }
}

// ------------------------------------------------------------------ shop addresses

fn settings_form(slug: &str) -> Vec<(&str, &str)> {
    vec![
        ("name", "Renamed"),
        ("slug", slug),
        ("description", ""),
        ("currency", "NGN"),
        ("whatsapp_number", ""),
        ("contact_email", ""),
        ("address", ""),
    ]
}

async fn shop_slugs(app: &crate::helpers::TestApp) -> Vec<String> {
    sqlx::query_scalar("select slug from shops order by created_at")
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_new_shop_never_takes_another_shops_old_address() {
    let app = spawn_app().await;
    app.signup("First Owner").await;
    let old = app.shop_slug().await;
    assert_eq!(old, "test-traders");
    app.create_product(&product("Indigo Wrap", "5000")).await;
    let res = app
        .call("shop/settings/update", &settings_form("first-moved"))
        .await;
    assert_eq!(res.status(), 200);

    // Same business name: the old address is still the first shop's.
    app.signup("Second Owner").await;
    assert_eq!(shop_slugs(&app).await, ["first-moved", "test-traders-2"]);
    let res = client()
        .get(app.url("/s/test-traders/p/indigo-wrap"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 301);
    assert_eq!(res.headers()["location"], "/s/first-moved/p/indigo-wrap");

    // Nor can the settings page hand it over.
    let res = app
        .call("shop/settings/update", &settings_form("test-traders"))
        .await;
    assert_eq!(res.status(), 422);
    assert!(
        json(res).await["fields"]["slug"]
            .as_str()
            .unwrap()
            .contains("already uses")
    );
}

#[tokio::test]
async fn shop_addresses_follow_the_reserved_list_and_length_rules() {
    let app = spawn_app().await;
    app.signup("Rules Owner").await;
    let merchant: uuid::Uuid = sqlx::query_scalar("select id from merchants")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let mut made = Vec::new();
    for name in [
        "Admin",
        "Ab",
        "Bizmaat Support",
        "Dashboard",
        &"Long ".repeat(18),
    ] {
        let mut tx = app.pool.begin().await.unwrap();
        let id = app::shop::ssr::create_shop(&mut tx, merchant, name.trim())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let slug: String = sqlx::query_scalar("select slug from shops where id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        made.push(slug);
    }
    assert_eq!(
        made[..4],
        ["admin-shop", "ab-shop", "my-shop", "dashboard-shop"]
    );
    assert!(
        made[4].len() <= 48 && made[4].starts_with("long-long"),
        "{}",
        made[4]
    );

    for slug in ["www", "bizmaat-help", "help", "ab", &"a".repeat(49)] {
        let res = app.call("shop/settings/update", &settings_form(slug)).await;
        assert_eq!(res.status(), 422, "{slug}");
        assert!(json(res).await["fields"]["slug"].is_string(), "{slug}");
    }
}

#[tokio::test]
async fn concurrent_signups_with_one_name_get_distinct_addresses() {
    let app = spawn_app().await;
    app.signup("Race Owner").await;
    let merchant: uuid::Uuid = sqlx::query_scalar("select id from merchants")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let pool = app.pool.clone();
            tokio::spawn(async move {
                let mut tx = pool.begin().await.map_err(|e| e.to_string())?;
                let id = app::shop::ssr::create_shop(&mut tx, merchant, "Race Shop")
                    .await
                    .map_err(|e| e.to_string())?;
                tx.commit().await.map_err(|e| e.to_string())?;
                Ok::<_, String>(id)
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().expect("every signup gets a shop");
    }
    let mut slugs: Vec<String> =
        sqlx::query_scalar("select slug from shops where name = 'Race Shop'")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    slugs.sort();
    let mut expected: Vec<String> = (2..=8).map(|n| format!("race-shop-{n}")).collect();
    expected.push("race-shop".into());
    expected.sort();
    assert_eq!(slugs, expected);
}

#[tokio::test]
async fn a_shop_keeps_its_ten_newest_old_addresses() {
    let app = spawn_app().await;
    app.signup("Hoarder Owner").await;
    for i in 1..=12 {
        let slug = format!("hoard-{i}");
        let res = app
            .call("shop/settings/update", &settings_form(&slug))
            .await;
        assert_eq!(res.status(), 200, "{slug}");
    }
    let old: Vec<String> = sqlx::query_scalar(
        "select old_slug from shop_slug_redirects order by created_at, old_slug",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let expected: Vec<String> = (2..=11).map(|i| format!("hoard-{i}")).collect();
    assert_eq!(old, expected, "test-traders and hoard-1 were let go");
    assert_eq!(app.get("/s/hoard-1").await.status(), 404);
    assert_eq!(app.get("/s/hoard-2").await.status(), 301);
    // Taking back one of its own old addresses is fine.
    let res = app
        .call("shop/settings/update", &settings_form("hoard-5"))
        .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn addresses_transliterate_names_instead_of_dropping_letters() {
    let app = spawn_app().await;
    // The business name becomes the shop's address at signup.
    let mut form = crate::helpers::signup_form("Ada Obi", "ada.obi@example.com");
    form.retain(|(k, _)| *k != "business_name");
    form.push(("business_name", "Café Lagos"));
    let res = crate::helpers::call_with(&app.client, &app.url("/api/signup"), &form).await;
    assert_eq!(res.status(), 200);
    let slug: String = sqlx::query_scalar("select slug from shops where name = 'Café Lagos'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(slug, "cafe-lagos");
    let id = app
        .create_product(&[
            ("title", "Ñandú Bolso Café"),
            ("price", "1000"),
            ("status", "active"),
        ])
        .await;
    let slug: String = sqlx::query_scalar("select slug from products where id = $1::uuid")
        .bind(&id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(slug, "nandu-bolso-cafe");
    let res = app
        .call("catalog/category/create", &[("name", "Sandálias")])
        .await;
    assert_eq!(res.status(), 200);
    let slug: String = sqlx::query_scalar("select slug from categories where name = 'Sandálias'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(slug, "sandalias");
}
