//! Checkout and order status: database prices, no overselling under concurrency, idempotent
//! submits, unavailable products refused, tenancy, the status flow and restocking.

use crate::helpers::{Opts, TestApp, call_with, client, signup_form, spawn_app, spawn_app_with};
use serde_json::Value;

async fn shop(app: &TestApp) -> String {
    app.signup("Order Owner").await;
    app.shop_slug().await
}

fn checkout_form<'a>(
    shop: &'a str,
    key: &'a str,
    items: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("shop", shop),
        ("name", "Bola Ade"),
        ("phone", "+234 802 000 1111"),
        ("address", "5 Allen Avenue, Ikeja"),
        ("note", "Call before delivery"),
        ("idempotency_key", key),
    ];
    for (product, qty) in items {
        form.push(("product[]", product));
        form.push(("quantity[]", qty));
    }
    form
}

async fn checkout(app: &TestApp, form: &[(&str, &str)]) -> reqwest::Response {
    call_with(&client(), &app.url("/api/storefront/checkout"), form).await
}

async fn body(res: reqwest::Response) -> Value {
    let text = res.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

#[tokio::test]
async fn checkout_takes_prices_from_the_database_and_numbers_orders() {
    let app = spawn_app().await;
    let slug = shop(&app).await;
    let cap = app
        .create_product(&[("title", "Cap"), ("price", "1000"), ("status", "active")])
        .await;
    let bag = app
        .create_product(&[("title", "Bag"), ("price", "2500.50"), ("status", "active")])
        .await;
    let mut form = checkout_form(&slug, "key-1", &[(&cap, "2"), (&bag, "1")]);
    // Whatever the browser claims a price is, it is not read.
    form.push(("price", "1"));
    form.push(("total", "1"));
    let res = checkout(&app, &form).await;
    assert_eq!(res.status(), 200);
    let id: String = serde_json::from_value(body(res).await).unwrap();

    let (number, total, status): (i32, i64, String) =
        sqlx::query_as("select number, total_minor, status from orders where id = $1::uuid")
            .bind(&id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        (number, total, status.as_str()),
        (1001, 2 * 100_000 + 250_050, "new")
    );
    let order = body(app.call("orders/get", &[("id", &id)]).await).await;
    assert_eq!(order["total"], "₦4,500.50");
    assert_eq!(order["lines"].as_array().unwrap().len(), 2);
    assert_eq!(order["phone"], "+2348020001111");
    assert_eq!(order["events"][0]["to_status"], "new");

    let res = checkout(&app, &checkout_form(&slug, "key-2", &[(&cap, "1")])).await;
    let second: String = serde_json::from_value(body(res).await).unwrap();
    let n: i32 = sqlx::query_scalar("select number from orders where id = $1::uuid")
        .bind(&second)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(n, 1002);
    let customers: i64 = sqlx::query_scalar("select count(*) from customers")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(customers, 1, "the same phone is the same customer");
}

#[tokio::test]
async fn twenty_concurrent_checkouts_for_five_units_sell_exactly_five() {
    let app = spawn_app().await;
    let slug = shop(&app).await;
    let id = app
        .create_product(&[
            ("title", "Last Five"),
            ("price", "100"),
            ("status", "active"),
            ("track_stock", "on"),
            ("stock", "5"),
        ])
        .await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let url = app.url("/api/storefront/checkout");
        let (slug, id) = (slug.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            let key = format!("concurrent-{i}");
            let form = checkout_form(&slug, &key, &[(&id, "1")]);
            call_with(&client(), &url, &form).await.status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 422).count(),
        15,
        "{statuses:?}"
    );
    let stock: i32 = sqlx::query_scalar("select stock from products where id = $1::uuid")
        .bind(&id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stock, 0);
    let orders: i64 = sqlx::query_scalar("select count(*) from orders")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(orders, 5);
    let res = checkout(&app, &checkout_form(&slug, "late", &[(&id, "1")])).await;
    assert_eq!(res.status(), 422);
    assert!(
        body(res).await["fields"]["items"]
            .as_str()
            .unwrap()
            .contains("Last Five is sold out")
    );
}

#[tokio::test]
async fn a_double_submit_with_one_key_makes_one_order() {
    let app = spawn_app().await;
    let slug = shop(&app).await;
    let id = app
        .create_product(&[
            ("title", "Once"),
            ("price", "100"),
            ("status", "active"),
            ("track_stock", "on"),
            ("stock", "3"),
        ])
        .await;
    let form = checkout_form(&slug, "same-key", &[(&id, "2")]);
    let (a, b) = tokio::join!(checkout(&app, &form), checkout(&app, &form));
    let (a, b) = (body(a).await, body(b).await);
    assert_eq!(a, b, "both submits answer with the same order");
    let again = body(checkout(&app, &form).await).await;
    assert_eq!(again, a);
    let orders: i64 = sqlx::query_scalar("select count(*) from orders")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(orders, 1);
    let stock: i32 = sqlx::query_scalar("select stock from products where id = $1::uuid")
        .bind(&id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stock, 1, "stock taken once");
}

#[tokio::test]
async fn drafts_archived_and_foreign_products_cannot_be_ordered() {
    let app = spawn_app().await;
    let slug = shop(&app).await;
    let ok = app
        .create_product(&[
            ("title", "Fine"),
            ("price", "100"),
            ("status", "active"),
            ("track_stock", "on"),
            ("stock", "9"),
        ])
        .await;
    let draft = app
        .create_product(&[
            ("title", "Draft Hat"),
            ("price", "100"),
            ("status", "draft"),
        ])
        .await;
    let archived = app
        .create_product(&[
            ("title", "Old Hat"),
            ("price", "100"),
            ("status", "archived"),
        ])
        .await;
    for (other, words) in [
        (&draft, "Draft Hat is no longer available"),
        (&archived, "Old Hat is no longer available"),
    ] {
        let res = checkout(
            &app,
            &checkout_form(&slug, other, &[(&ok, "1"), (other, "1")]),
        )
        .await;
        assert_eq!(res.status(), 422);
        assert!(
            body(res).await["fields"]["items"]
                .as_str()
                .unwrap()
                .contains(words)
        );
    }
    // Another shop's product through this shop's checkout.
    let other_owner = client();
    call_with(
        &other_owner,
        &app.url("/api/signup"),
        &signup_form("Other Shop", "other.shop@example.com"),
    )
    .await;
    let res = call_with(
        &other_owner,
        &app.url("/api/catalog/product/save"),
        &[("title", "Theirs"), ("price", "1"), ("status", "active")],
    )
    .await;
    let theirs: String = serde_json::from_value(body(res).await).unwrap();
    let res = checkout(&app, &checkout_form(&slug, "foreign", &[(&theirs, "1")])).await;
    assert_eq!(res.status(), 422);

    let stock: i32 = sqlx::query_scalar("select stock from products where id = $1::uuid")
        .bind(&ok)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stock, 9, "a refused checkout reserves nothing");
    let orders: i64 = sqlx::query_scalar("select count(*) from orders")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(orders, 0);

    let res = checkout(
        &app,
        &checkout_form(&slug, "bad-phone", &[(&ok, "1")])
            .into_iter()
            .map(|(k, v)| if k == "phone" { (k, "0802") } else { (k, v) })
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(res.status(), 422);
    assert!(body(res).await["fields"]["phone"].is_string());
    assert_eq!(
        checkout(&app, &checkout_form("no-such-shop", "x", &[(&ok, "1")]))
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn status_flow_is_enforced_and_cancel_restocks() {
    let app = spawn_app().await;
    let slug = shop(&app).await;
    let id = app
        .create_product(&[
            ("title", "Mat"),
            ("price", "100"),
            ("status", "active"),
            ("track_stock", "on"),
            ("stock", "5"),
        ])
        .await;
    let first: String = serde_json::from_value(
        body(checkout(&app, &checkout_form(&slug, "o1", &[(&id, "2")])).await).await,
    )
    .unwrap();
    let second: String = serde_json::from_value(
        body(checkout(&app, &checkout_form(&slug, "o2", &[(&id, "1")])).await).await,
    )
    .unwrap();
    let stock = || async {
        sqlx::query_scalar::<_, i32>("select stock from products where id = $1::uuid")
            .bind(&id)
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };
    assert_eq!(stock().await, 2);

    async fn set(app: &TestApp, order: &str, to: &str) -> reqwest::Response {
        app.call("orders/status", &[("id", order), ("status", to)])
            .await
    }
    let res = set(&app, &first, "shipped").await;
    assert_eq!(res.status(), 422);
    assert!(
        body(res).await["fields"]["status"]
            .as_str()
            .unwrap()
            .contains("new cannot become shipped")
    );
    for to in ["confirmed", "shipped", "delivered"] {
        assert_eq!(set(&app, &first, to).await.status(), 200, "{to}");
    }
    assert_eq!(
        set(&app, &first, "cancelled").await.status(),
        422,
        "a delivered order stays delivered"
    );
    assert_eq!(stock().await, 2);

    assert_eq!(set(&app, &second, "confirmed").await.status(), 200);
    assert_eq!(set(&app, &second, "cancelled").await.status(), 200);
    assert_eq!(stock().await, 3, "cancelling puts the unit back");
    assert_eq!(
        set(&app, &second, "cancelled").await.status(),
        422,
        "cancelling twice does not restock twice"
    );
    assert_eq!(stock().await, 3);

    let order = body(app.call("orders/get", &[("id", &first)]).await).await;
    let flow: Vec<&str> = order["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["to_status"].as_str().unwrap())
        .collect();
    assert_eq!(flow, ["new", "confirmed", "shipped", "delivered"]);
    assert_eq!(order["events"][1]["actor"], "merchant");
}

#[tokio::test]
async fn another_shops_orders_answer_404() {
    let app = spawn_app().await;
    let slug = shop(&app).await;
    let id = app
        .create_product(&[("title", "Mine"), ("price", "100"), ("status", "active")])
        .await;
    let order: String = serde_json::from_value(
        body(checkout(&app, &checkout_form(&slug, "k", &[(&id, "1")])).await).await,
    )
    .unwrap();
    let b = client();
    call_with(
        &b,
        &app.url("/api/signup"),
        &signup_form("Nosy Owner", "nosy@example.com"),
    )
    .await;
    assert_eq!(
        call_with(&b, &app.url("/api/orders/get"), &[("id", &order)])
            .await
            .status(),
        404
    );
    assert_eq!(
        call_with(
            &b,
            &app.url("/api/orders/status"),
            &[("id", &order), ("status", "confirmed")]
        )
        .await
        .status(),
        404
    );
    let status: String = sqlx::query_scalar("select status from orders")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(status, "new");
    assert_eq!(
        call_with(&client(), &app.url("/api/orders/get"), &[("id", &order)])
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn a_shopper_orders_with_plain_forms_through_the_signed_cookie_cart() {
    let app = spawn_app().await;
    let slug = shop(&app).await;
    app.call(
        "shop/settings/update",
        &[
            ("name", "Cart Shop"),
            ("slug", &slug),
            ("description", ""),
            ("currency", "NGN"),
            ("whatsapp_number", "+2348011112222"),
            ("contact_email", ""),
            ("address", ""),
        ],
    )
    .await;
    let cap = app
        .create_product(&[
            ("title", "Cap"),
            ("price", "1000"),
            ("status", "active"),
            ("track_stock", "on"),
            ("stock", "3"),
        ])
        .await;
    let bag = app
        .create_product(&[("title", "Bag"), ("price", "2500"), ("status", "active")])
        .await;
    let shopper = client();
    let post = |path: String, form: Vec<(&'static str, String)>| {
        let shopper = shopper.clone();
        let url = app.url(&path);
        async move {
            shopper
                .post(url)
                .header("accept", "text/html")
                .form(&form)
                .send()
                .await
                .unwrap()
        }
    };
    let res = post(
        format!("/s/{slug}/cart/add"),
        vec![("product", cap.clone()), ("quantity", "2".into())],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], format!("/s/{slug}/cart"));
    // Beside the signed cart, a script-readable cookie with just the item count (for the
    // header of cached pages, which cannot carry it).
    let count_cookie = |res: &reqwest::Response| {
        res.headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .find(|c| c.starts_with(&format!("bz_cart_n_{}=", slug.replace('-', "_"))))
            .unwrap_or_else(|| panic!("no count cookie in {:?}", res.headers()))
    };
    let counted = count_cookie(&res);
    assert!(counted.contains("=2;"), "{counted}");
    assert!(!counted.to_lowercase().contains("httponly"), "{counted}");
    let res = post(
        format!("/s/{slug}/cart/add"),
        vec![("product", bag.clone())],
    )
    .await;
    assert!(count_cookie(&res).contains("=3;"));
    // More than the stock is capped at the stock.
    post(
        format!("/s/{slug}/cart/update"),
        vec![("product", cap.clone()), ("quantity", "9".into())],
    )
    .await;
    let html = shopper
        .get(app.url(&format!("/s/{slug}/cart")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("₦5,500.00"), "3 caps + 1 bag: {html}");
    post(
        format!("/s/{slug}/cart/update"),
        vec![("product", cap.clone()), ("quantity", "1".into())],
    )
    .await;
    let html = shopper
        .get(app.url(&format!("/s/{slug}/cart")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("₦3,500.00"));
    // Another shop's cart cookie, or a forged one, is an empty cart.
    let forged = client()
        .get(app.url(&format!("/s/{slug}/cart")))
        .header(
            "cookie",
            format!("bz_cart_{}={cap}:5", slug.replace('-', "_")),
        )
        .send()
        .await
        .unwrap();
    assert!(forged.text().await.unwrap().contains("Your cart is empty"));

    let key = html
        .split("name=\"idempotency_key\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let res = post(
        "/api/storefront/checkout".into(),
        vec![
            ("shop", slug.clone()),
            ("name", "Bola".into()),
            ("phone", "+2348020001111".into()),
            ("address", "5 Allen Avenue".into()),
            ("idempotency_key", key),
            ("product[]", cap.clone()),
            ("quantity[]", "1".into()),
            ("product[]", bag.clone()),
            ("quantity[]", "1".into()),
        ],
    )
    .await;
    assert_eq!(res.status(), 302, "{:?}", res.headers());
    let location = res.headers()["location"].to_str().unwrap().to_string();
    let orders: i64 = sqlx::query_scalar("select count(*) from orders")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(orders, 1, "{:?}", res.headers());
    assert!(
        location.starts_with(&format!("/s/{slug}/order/")),
        "{location} {:?}",
        res.headers()
    );
    let html = shopper
        .get(app.url(&location))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("#1001") && html.contains("₦3,500.00"),
        "{html}"
    );
    assert!(
        html.contains("https://wa.me/2348011112222?text=Hello%21%20About%20my%20order%20%231001")
    );
    let html = shopper
        .get(app.url(&format!("/s/{slug}/cart")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Your cart is empty"),
        "the cart is emptied after ordering"
    );
    let stock: i32 = sqlx::query_scalar("select stock from products where id = $1::uuid")
        .bind(&cap)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stock, 2);
}

#[tokio::test]
async fn merchants_list_search_annotate_and_export_orders_and_get_an_email() {
    let app = spawn_app().await;
    let slug = shop(&app).await;
    let id = app
        .create_product(&[("title", "Wrap"), ("price", "1500"), ("status", "active")])
        .await;
    let mut orders = Vec::new();
    for (i, (name, phone)) in [
        ("Ada Obi", "+2348020000001"),
        ("Bayo Ojo", "+2348020000002"),
        ("Chi Eze", "+2348020000003"),
    ]
    .iter()
    .enumerate()
    {
        let key = format!("k{i}");
        let mut form = checkout_form(&slug, &key, &[(&id, "1")]);
        form.retain(|(k, _)| !matches!(*k, "name" | "phone"));
        form.push(("name", name));
        form.push(("phone", phone));
        let res = checkout(&app, &form).await;
        orders.push(serde_json::from_value::<String>(body(res).await).unwrap());
    }
    // The owner was emailed about each order, through the outbox.
    let mails: Vec<String> = sqlx::query_scalar("select subject from email_outbox where to_address = 'order.owner@example.com' and subject like 'New order%' order by created_at")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        mails,
        ["New order #1001", "New order #1002", "New order #1003"]
    );
    assert!(
        app.last_email_to("order.owner@example.com")
            .await
            .contains("Chi Eze")
    );

    assert_eq!(body(app.call("orders/new-count", &[]).await).await, 3);
    app.call(
        "orders/status",
        &[("id", &orders[0]), ("status", "confirmed")],
    )
    .await;
    assert_eq!(body(app.call("orders/new-count", &[]).await).await, 2);

    let list = body(app.call("orders/list", &[]).await).await;
    assert_eq!(list["total"], 3);
    assert_eq!(list["items"][0]["number"], 1003, "newest first");
    for (q, expected) in [("#1002", 1002), ("bayo", 1002), ("0000003", 1003)] {
        let list = body(app.call("orders/list", &[("query[q]", q)]).await).await;
        assert_eq!(list["total"], 1, "{q}");
        assert_eq!(list["items"][0]["number"], expected, "{q}");
    }
    let list = body(
        app.call("orders/list", &[("query[status]", "confirmed")])
            .await,
    )
    .await;
    assert_eq!(list["items"][0]["number"], 1001);
    let today = time::OffsetDateTime::now_utc().date().to_string();
    let list = body(
        app.call(
            "orders/list",
            &[("query[from]", &today), ("query[to]", &today)],
        )
        .await,
    )
    .await;
    assert_eq!(list["total"], 3);
    let list = body(
        app.call("orders/list", &[("query[to]", "2020-01-01")])
            .await,
    )
    .await;
    assert_eq!(list["total"], 0);
    assert_eq!(
        app.call("orders/list", &[("query[from]", "yesterday")])
            .await
            .status(),
        422
    );

    assert_eq!(
        app.call(
            "orders/note",
            &[("id", &orders[1]), ("internal_note", "Deliver after 5pm")]
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        body(app.call("orders/get", &[("id", &orders[1])]).await).await["internal_note"],
        "Deliver after 5pm"
    );

    let csv = app
        .get("/dashboard/orders/export.csv")
        .await
        .text()
        .await
        .unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "number,placed_at (UTC),status,customer,phone,address,note,product,quantity,unit_price,order_total,currency"
    );
    assert!(lines.next().unwrap().starts_with("1001,"));
    assert_eq!(csv.lines().count(), 4);

    // Another merchant sees none of it.
    let b = client();
    call_with(
        &b,
        &app.url("/api/signup"),
        &signup_form("List Snoop", "list.snoop@example.com"),
    )
    .await;
    let list: Value = call_with(&b, &app.url("/api/orders/list"), &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 0);
    assert_eq!(
        call_with(
            &b,
            &app.url("/api/orders/note"),
            &[("id", &orders[1]), ("internal_note", "x")]
        )
        .await
        .status(),
        404
    );
    let csv = b
        .get(app.url("/dashboard/orders/export.csv"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 1);

    // Switched off: no email for the next order.
    let res = app
        .call(
            "shop/settings/update",
            &[
                ("name", "Quiet"),
                ("slug", &slug),
                ("description", ""),
                ("currency", "NGN"),
                ("whatsapp_number", ""),
                ("contact_email", ""),
                ("address", ""),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    checkout(&app, &checkout_form(&slug, "quiet", &[(&id, "1")])).await;
    let count: i64 =
        sqlx::query_scalar("select count(*) from email_outbox where subject like 'New order%'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(count, 3);
}

#[tokio::test]
async fn checkouts_are_rate_limited_per_ip() {
    let app = spawn_app_with(Opts {
        env: vec![("RATE_LIMIT_CHECKOUT_PER_HOUR", "2".into())],
    })
    .await;
    let slug = shop(&app).await;
    let id = app
        .create_product(&[("title", "Tea"), ("price", "100"), ("status", "active")])
        .await;
    for key in ["a", "b"] {
        assert_eq!(
            checkout(&app, &checkout_form(&slug, key, &[(&id, "1")]))
                .await
                .status(),
            200
        );
    }
    let res = checkout(&app, &checkout_form(&slug, "c", &[(&id, "1")])).await;
    assert_eq!(res.status(), 429);
    assert!(
        body(res).await["error"]
            .as_str()
            .unwrap()
            .contains("Too many orders")
    );
    let orders: i64 = sqlx::query_scalar("select count(*) from orders")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(orders, 2);
}

/// The id a successful checkout answers with.
async fn placed(res: reqwest::Response) -> String {
    assert_eq!(res.status(), 200, "checkout failed");
    serde_json::from_value(body(res).await).unwrap()
}

fn with_field<'a>(
    mut form: Vec<(&'a str, &'a str)>,
    key: &'a str,
    value: &'a str,
) -> Vec<(&'a str, &'a str)> {
    form.retain(|(k, _)| *k != key);
    form.push((key, value));
    form
}

#[tokio::test]
async fn checkouts_are_rate_limited_per_phone_and_per_shop() {
    let app = spawn_app_with(Opts {
        env: vec![
            ("RATE_LIMIT_CHECKOUT_PER_PHONE_PER_HOUR", "2".into()),
            ("RATE_LIMIT_CHECKOUT_PER_SHOP_PER_HOUR", "4".into()),
        ],
    })
    .await;
    let slug = shop(&app).await;
    let id = app
        .create_product(&[("title", "Tea"), ("price", "100"), ("status", "active")])
        .await;
    // One number: two orders, then refused, from the same connection or any other.
    for key in ["p1", "p2"] {
        placed(checkout(&app, &checkout_form(&slug, key, &[(&id, "1")])).await).await;
    }
    let res = checkout(&app, &checkout_form(&slug, "p3", &[(&id, "1")])).await;
    assert_eq!(res.status(), 429);
    assert!(
        body(res).await["error"]
            .as_str()
            .unwrap()
            .contains("Too many orders for this WhatsApp number"),
    );
    // A repeated submit of an order already placed is not a new order: it still answers.
    let again = checkout(&app, &checkout_form(&slug, "p1", &[(&id, "1")])).await;
    assert_eq!(again.status(), 200);

    // Other numbers: the shop takes four orders an hour in all (two are already in).
    for (key, phone) in [("q1", "+2348020000101"), ("q2", "+2348020000102")] {
        let form = with_field(checkout_form(&slug, key, &[(&id, "1")]), "phone", phone);
        placed(checkout(&app, &form).await).await;
    }
    let form = with_field(
        checkout_form(&slug, "q3", &[(&id, "1")]),
        "phone",
        "+2348020000103",
    );
    let res = checkout(&app, &form).await;
    assert_eq!(res.status(), 429);
    assert!(
        body(res).await["error"]
            .as_str()
            .unwrap()
            .contains("This shop is receiving more orders than usual")
    );
    let orders: i64 = sqlx::query_scalar("select count(*) from orders")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(orders, 4);

    // Another shop is counted on its own.
    let other = client();
    call_with(
        &other,
        &app.url("/api/signup"),
        &signup_form("Second Shop", "second.shop@example.com"),
    )
    .await;
    let res = call_with(
        &other,
        &app.url("/api/catalog/product/save"),
        &[("title", "Rice"), ("price", "100"), ("status", "active")],
    )
    .await;
    let rice: String = serde_json::from_value(body(res).await).unwrap();
    let other_slug = app.shop_slug().await;
    assert_ne!(other_slug, slug);
    let form = with_field(
        checkout_form(&other_slug, "r1", &[(&rice, "1")]),
        "phone",
        "+2348020000104",
    );
    placed(checkout(&app, &form).await).await;
}

#[tokio::test]
async fn a_checkout_never_overwrites_a_known_customers_name_or_address() {
    let app = spawn_app().await;
    let slug = shop(&app).await;
    let id = app
        .create_product(&[("title", "Soap"), ("price", "100"), ("status", "active")])
        .await;
    placed(checkout(&app, &checkout_form(&slug, "first", &[(&id, "1")])).await).await;
    // Someone else types the same number with another name and address.
    let form = checkout_form(&slug, "second", &[(&id, "1")]);
    let form = with_field(form, "name", "Mallory");
    let form = with_field(form, "address", "1 Elsewhere Road");
    let second = placed(checkout(&app, &form).await).await;
    let (name, address): (String, String) =
        sqlx::query_as("select name, address from customers where phone = '+2348020001111'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        (name.as_str(), address.as_str()),
        ("Bola Ade", "5 Allen Avenue, Ikeja")
    );
    // The order itself keeps what was typed, for the merchant to judge.
    let order = body(app.call("orders/get", &[("id", &second)]).await).await;
    assert_eq!(order["customer_name"], "Mallory");
    assert_eq!(order["address"], "1 Elsewhere Road");

    // An empty field (a customer known only by number) is filled in.
    sqlx::query("update customers set name = '', address = ''")
        .execute(&app.pool)
        .await
        .unwrap();
    let form = with_field(
        checkout_form(&slug, "third", &[(&id, "1")]),
        "name",
        "Bola A.",
    );
    placed(checkout(&app, &form).await).await;
    let (name, address): (String, String) = sqlx::query_as("select name, address from customers")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        (name.as_str(), address.as_str()),
        ("Bola A.", "5 Allen Avenue, Ikeja")
    );
}

#[tokio::test]
async fn a_reused_idempotency_key_with_another_cart_is_refused() {
    let app = spawn_app().await;
    let slug = shop(&app).await;
    let cap = app
        .create_product(&[
            ("title", "Cap"),
            ("price", "100"),
            ("status", "active"),
            ("track_stock", "on"),
            ("stock", "10"),
        ])
        .await;
    let bag = app
        .create_product(&[("title", "Bag"), ("price", "100"), ("status", "active")])
        .await;
    let first = placed(checkout(&app, &checkout_form(&slug, "shared", &[(&cap, "1")])).await).await;
    let other_carts = [
        checkout_form(&slug, "shared", &[(&cap, "2")]),
        checkout_form(&slug, "shared", &[(&cap, "1"), (&bag, "1")]),
        checkout_form(&slug, "shared", &[(&bag, "1")]),
        with_field(
            checkout_form(&slug, "shared", &[(&cap, "1")]),
            "phone",
            "+2348020009999",
        ),
        with_field(
            checkout_form(&slug, "shared", &[(&cap, "1")]),
            "address",
            "Somewhere else",
        ),
    ];
    for form in &other_carts {
        let res = checkout(&app, form).await;
        assert_eq!(res.status(), 409, "{form:?}");
        let text = res.text().await.unwrap();
        assert!(
            text.contains("already used for a different order"),
            "{text}"
        );
        assert!(
            !text.contains(&first),
            "the first order's id is not revealed"
        );
    }
    // The same cart again is the same order, as before.
    let again = placed(checkout(&app, &checkout_form(&slug, "shared", &[(&cap, "1")])).await).await;
    assert_eq!(again, first);
    let (orders, stock): (i64, i32) = sqlx::query_as(
        "select (select count(*) from orders), (select stock from products where id = $1::uuid)",
    )
    .bind(&cap)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((orders, stock), (1, 9));
    // The key is per shop form: a new key orders the other cart normally.
    placed(checkout(&app, &checkout_form(&slug, "fresh", &[(&cap, "2")])).await).await;
}

#[tokio::test]
async fn unconfirmed_orders_holding_stock_are_released_after_the_hold() {
    let start = time::OffsetDateTime::now_utc();
    let clock = app::platform::clock::Clock::manual(start);
    let app = crate::helpers::spawn_app_with_clock(
        Opts {
            env: vec![("ORDER_HOLD_HOURS", "72".into())],
        },
        clock.clone(),
    )
    .await;
    let slug = shop(&app).await;
    let tracked = app
        .create_product(&[
            ("title", "Scarf"),
            ("price", "100"),
            ("status", "active"),
            ("track_stock", "on"),
            ("stock", "5"),
        ])
        .await;
    let untracked = app
        .create_product(&[("title", "Print"), ("price", "100"), ("status", "active")])
        .await;
    let held = placed(
        checkout(
            &app,
            &checkout_form(&slug, "held", &[(&tracked, "2"), (&untracked, "1")]),
        )
        .await,
    )
    .await;
    let confirmed =
        placed(checkout(&app, &checkout_form(&slug, "kept", &[(&tracked, "1")])).await).await;
    let no_stock =
        placed(checkout(&app, &checkout_form(&slug, "free", &[(&untracked, "1")])).await).await;
    assert_eq!(
        app.call(
            "orders/status",
            &[("id", &confirmed), ("status", "confirmed")]
        )
        .await
        .status(),
        200
    );
    let state = || async {
        let stock: i32 = sqlx::query_scalar("select stock from products where id = $1::uuid")
            .bind(&tracked)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        let statuses: Vec<(String, String)> =
            sqlx::query_as("select id::text, status from orders order by number")
                .fetch_all(&app.pool)
                .await
                .unwrap();
        (stock, statuses)
    };
    let version = || async {
        sqlx::query_scalar::<_, i64>("select catalog_version::bigint from shops where slug = $1")
            .bind(&slug)
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };
    assert_eq!(state().await.0, 2);

    // Within the hold nothing happens.
    let hold = time::Duration::hours(72);
    let released =
        app::orders::ssr::release_stale_orders(&app.pool, start + time::Duration::hours(71), hold)
            .await
            .unwrap();
    assert_eq!(released, 0);
    assert_eq!(state().await.0, 2);

    // After it, through the worker's entry point and the app's clock.
    let before = version().await;
    clock.advance(time::Duration::hours(73));
    assert_eq!(
        app::orders::ssr::release_held_stock(&app.state)
            .await
            .unwrap(),
        1
    );
    let (stock, statuses) = state().await;
    assert_eq!(
        stock, 4,
        "the held order's two scarves are back; the confirmed one's is not"
    );
    let status_of = |id: &str| {
        statuses
            .iter()
            .find(|(o, _)| o == id)
            .map(|(_, s)| s.clone())
            .unwrap()
    };
    assert_eq!(status_of(&held), "cancelled");
    assert_eq!(status_of(&confirmed), "confirmed");
    assert_eq!(
        status_of(&no_stock),
        "new",
        "an order holding no stock is left to the merchant"
    );
    assert!(
        version().await > before,
        "cached storefront pages stop showing the old stock"
    );
    let order = body(app.call("orders/get", &[("id", &held)]).await).await;
    let last = order["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["to_status"], "cancelled");
    assert_eq!(last["actor"], "system");
    assert_eq!(last["note"], app::orders::ssr::RELEASED_NOTE);

    // Running again changes nothing: stock is put back once.
    assert_eq!(
        app::orders::ssr::release_held_stock(&app.state)
            .await
            .unwrap(),
        0
    );
    assert_eq!(state().await.0, 4);
    // And the merchant cannot cancel it a second time.
    assert_eq!(
        app.call("orders/status", &[("id", &held), ("status", "cancelled")])
            .await
            .status(),
        422
    );
    assert_eq!(state().await.0, 4);
}

#[tokio::test]
async fn order_hold_zero_keeps_unconfirmed_orders() {
    let clock = app::platform::clock::Clock::manual(time::OffsetDateTime::now_utc());
    let app = crate::helpers::spawn_app_with_clock(
        Opts {
            env: vec![("ORDER_HOLD_HOURS", "0".into())],
        },
        clock.clone(),
    )
    .await;
    let slug = shop(&app).await;
    let id = app
        .create_product(&[
            ("title", "Vase"),
            ("price", "100"),
            ("status", "active"),
            ("track_stock", "on"),
            ("stock", "1"),
        ])
        .await;
    placed(checkout(&app, &checkout_form(&slug, "k", &[(&id, "1")])).await).await;
    clock.advance(time::Duration::days(365));
    assert_eq!(
        app::orders::ssr::release_held_stock(&app.state)
            .await
            .unwrap(),
        0
    );
    let status: String = sqlx::query_scalar("select status from orders")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(status, "new");
}

#[tokio::test]
async fn order_list_pages_far_past_the_end_are_clamped_not_a_500() {
    let app = spawn_app().await;
    app.signup("Paging Owner").await;
    for page in ["9223372036854775807", "-5", "0"] {
        let res = app.call("orders/list", &[("query[page]", page)]).await;
        assert_eq!(res.status(), 200, "page {page}");
        let list = body(res).await;
        assert_eq!(list["total"], 0, "page {page}");
    }
    let res = app.get("/dashboard/orders?page=9223372036854775807").await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn the_checkout_form_gives_examples_from_the_shops_country() {
    let app = spawn_app().await;
    let slug = shop(&app).await;
    let settings = |currency: &'static str| {
        vec![
            ("name", "Nairobi Crafts"),
            ("slug", slug.as_str()),
            ("description", ""),
            ("currency", currency),
            ("whatsapp_number", ""),
            ("contact_email", ""),
            ("address", ""),
        ]
    };
    assert_eq!(
        app.call("shop/settings/update", &settings("KES"))
            .await
            .status(),
        200
    );
    let basket = app
        .create_product(&[
            ("title", "Kiondo Basket"),
            ("price", "1500"),
            ("status", "active"),
        ])
        .await;
    let shopper = client();
    shopper
        .post(app.url(&format!("/s/{slug}/cart/add")))
        .header("accept", "text/html")
        .form(&[("product", basket.as_str())])
        .send()
        .await
        .unwrap();
    let cart = |shopper: reqwest::Client| {
        let url = app.url(&format!("/s/{slug}/cart"));
        async move { shopper.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let html = cart(shopper.clone()).await;
    assert!(html.contains("like +254 712 345 678."), "{html}");
    assert!(html.contains("like Kimathi Street 20, Nairobi."));
    assert!(
        !html.contains("+234"),
        "no Nigerian example in a Kenyan shop"
    );
    // The address hint is read with its field.
    assert!(html.contains(r#"aria-describedby="f-address-hint f-address-error""#));
    // A shop in naira gets Nigerian examples.
    app.call("shop/settings/update", &settings("NGN")).await;
    let html = cart(shopper).await;
    assert!(html.contains("like +234 801 234 5678."), "{html}");
}

#[tokio::test]
async fn a_cancellation_keeps_its_reason_and_can_be_reopened_within_a_week_with_stock() {
    let app = spawn_app().await;
    let slug = shop(&app).await;
    let id = app
        .create_product(&[
            ("title", "Mat"),
            ("price", "100"),
            ("status", "active"),
            ("track_stock", "on"),
            ("stock", "3"),
        ])
        .await;
    let place = |key: &'static str, qty: &'static str| {
        let (app, slug, id) = (&app, slug.clone(), id.clone());
        async move {
            let res = checkout(app, &checkout_form(&slug, key, &[(&id, qty)])).await;
            serde_json::from_value::<String>(body(res).await).unwrap()
        }
    };
    let stock = || async {
        sqlx::query_scalar::<_, i32>("select stock from products where id = $1::uuid")
            .bind(&id)
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };
    let order = place("r1", "2").await;
    assert_eq!(stock().await, 1);

    // Cancelled with a reason: in the history, stock back.
    let res = app
        .call(
            "orders/status",
            &[
                ("id", &order),
                ("status", "cancelled"),
                ("reason", "  Customer changed their mind. "),
                ("notify_shown", "1"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert_eq!(stock().await, 3);
    let view = body(app.call("orders/get", &[("id", &order)]).await).await;
    assert_eq!(view["status"], "cancelled");
    let events = view["events"].as_array().unwrap();
    assert_eq!(
        events.last().unwrap()["note"],
        "Reason: Customer changed their mind."
    );
    // An overlong reason is refused in words, and changes nothing.
    let other = place("r2", "1").await;
    let res = app
        .call(
            "orders/status",
            &[
                ("id", &other),
                ("status", "cancelled"),
                ("reason", &"x".repeat(501)),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(
        body(res).await["fields"]["reason"]
            .as_str()
            .unwrap()
            .contains("500")
    );
    assert_eq!(stock().await, 2);

    // Reopened by mistake-fixers: new again, its items taken from stock again.
    let reopen = |order: String| {
        let app = &app;
        async move {
            app.call("orders/status", &[("id", &order), ("status", "new")])
                .await
        }
    };
    let res = reopen(order.clone()).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert_eq!(stock().await, 0);
    let view = body(app.call("orders/get", &[("id", &order)]).await).await;
    assert_eq!(view["status"], "new");
    assert!(
        view["events"].as_array().unwrap().last().unwrap()["note"]
            .as_str()
            .unwrap()
            .contains("Reopened")
    );

    // Not when the stock went meanwhile: the reason names the product; nothing changes.
    app.call("orders/status", &[("id", &order), ("status", "cancelled")])
        .await;
    assert_eq!(stock().await, 2);
    place("r3", "1").await;
    assert_eq!(stock().await, 1);
    let res = reopen(order.clone()).await;
    assert_eq!(res.status(), 422);
    assert!(
        body(res).await["fields"]["status"]
            .as_str()
            .unwrap()
            .contains("Only 1 of Mat left in stock")
    );
    assert_eq!(stock().await, 1);
    let status: String = sqlx::query_scalar("select status from orders where id = $1::uuid")
        .bind(&order)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(status, "cancelled");

    // Nor a week after the cancellation.
    sqlx::query("update product_variants set stock = 10 where product_id = $1::uuid")
        .bind(&id)
        .execute(&app.pool)
        .await
        .unwrap();
    // An internal note written since does not restart the week: it counts from the cancellation.
    sqlx::query(
        "update order_events set created_at = now() - interval '8 days'
         where order_id = $1::uuid and to_status = 'cancelled'",
    )
    .bind(&order)
    .execute(&app.pool)
    .await
    .unwrap();
    let res = app
        .call(
            "orders/note",
            &[
                ("id", order.as_str()),
                ("internal_note", "Called the customer"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = reopen(order.clone()).await;
    assert_eq!(res.status(), 422);
    assert!(
        body(res).await["fields"]["status"]
            .as_str()
            .unwrap()
            .contains("more than 7 days ago")
    );
}
