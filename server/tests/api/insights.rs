//! Customers pages and the dashboard overview, against seeded data.

use crate::helpers::{TestApp, call_with, client, signup_form, spawn_app};
use serde_json::Value;

async fn order(
    app: &TestApp,
    slug: &str,
    key: &str,
    name: &str,
    phone: &str,
    product: &str,
    qty: &str,
) -> String {
    let form = vec![
        ("shop", slug),
        ("name", name),
        ("phone", phone),
        ("address", "Somewhere 1"),
        ("idempotency_key", key),
        ("product[]", product),
        ("quantity[]", qty),
    ];
    let res = call_with(&client(), &app.url("/api/storefront/checkout"), &form).await;
    assert_eq!(res.status(), 200);
    res.json::<String>().await.unwrap()
}

async fn json(res: reqwest::Response) -> Value {
    res.json().await.unwrap()
}

#[tokio::test]
async fn customers_are_listed_with_their_orders_and_scoped_to_the_shop() {
    let app = spawn_app().await;
    app.signup("Cust Owner").await;
    let slug = app.shop_slug().await;
    let p = app
        .create_product(&[("title", "Soap"), ("price", "500"), ("status", "active")])
        .await;
    order(&app, &slug, "1", "Ngozi", "+2348030000001", &p, "2").await;
    order(&app, &slug, "2", "Ngozi A.", "+2348030000001", &p, "1").await;
    order(&app, &slug, "3", "Femi", "+2348030000002", &p, "1").await;

    let list = json(app.call("customers/list", &[]).await).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    let ngozi = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["phone"] == "+2348030000001")
        .unwrap();
    assert_eq!(
        ngozi["name"], "Ngozi",
        "found by phone number; a checkout never renames a known customer"
    );
    assert_eq!(ngozi["orders"], 2);
    // Spent is what the merchant confirmed; new orders are shown apart.
    assert_eq!(ngozi["spent"], "₦0.00");
    assert_eq!(ngozi["pending"], "₦1,500.00");
    let first: String = sqlx::query_scalar(
        "select id::text from orders where customer_name = 'Ngozi' order by created_at limit 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let res = app
        .call("orders/status", &[("id", &first), ("status", "confirmed")])
        .await;
    assert_eq!(res.status(), 200);
    let list = json(app.call("customers/list", &[]).await).await;
    let ngozi = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["phone"] == "+2348030000001")
        .unwrap();
    assert_eq!(ngozi["spent"], "₦1,000.00");
    assert_eq!(ngozi["pending"], "₦500.00");
    let femi = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Femi")
        .unwrap();
    assert_eq!(femi["spent"], "₦0.00");
    assert_eq!(femi["pending"], "₦500.00");
    let found = json(app.call("customers/list", &[("q", "femi")]).await).await;
    assert_eq!(found.as_array().unwrap().len(), 1);

    let id = ngozi["id"].as_str().unwrap();
    let detail = json(app.call("customers/get", &[("id", id)]).await).await;
    assert_eq!(detail["orders"].as_array().unwrap().len(), 2);

    let b = client();
    call_with(
        &b,
        &app.url("/api/signup"),
        &signup_form("Cust Snoop", "cust.snoop@example.com"),
    )
    .await;
    assert_eq!(
        call_with(&b, &app.url("/api/customers/get"), &[("id", id)])
            .await
            .status(),
        404
    );
    let theirs: Value = call_with(&b, &app.url("/api/customers/list"), &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs.as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn overview_numbers_match_the_seeded_views_and_orders() {
    let app = spawn_app().await;
    app.signup("Stats Owner").await;
    let slug = app.shop_slug().await;
    let cap = app
        .create_product(&[("title", "Cap"), ("price", "1000"), ("status", "active")])
        .await;
    let mug = app
        .create_product(&[("title", "Mug"), ("price", "250"), ("status", "active")])
        .await;
    let shop_id: uuid::Uuid = sqlx::query_scalar("select id from shops")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    // Views: today 3 human (2 from outside, 1 internal navigation) + 2 bots; 10 days ago 4 human
    // external; 40 days ago 5 (outside the window).
    sqlx::query(
        "insert into page_views (shop_id, path, product_slug, referrer_host, device, is_bot, viewed_at, views)
         select $1, '/s/x/p/cap', 'cap', null, 'mobile', false, now(), 1 from generate_series(1, 2)
         union all select $1, '/s/x/p/mug', 'mug', '127.0.0.1', 'mobile', false, now(), 1
         union all select $1, '/s/x/p/mug', 'mug', null, 'desktop', true, now(), 2
         -- four identical views of one minute: one row counting them
         union all select $1, '/s/x', null, 'www.instagram.com', 'mobile', false, now() - interval '10 days', 4
         union all select $1, '/s/x', null, null, 'mobile', false, now() - interval '40 days', 1 from generate_series(1, 5)",
    )
    .bind(shop_id)
    .execute(&app.pool)
    .await
    .unwrap();
    // Orders: two today (one confirmed, one cancelled), one 10 days ago (still new).
    let today = order(&app, &slug, "a", "A", "+2348040000001", &cap, "2").await;
    app.call("orders/status", &[("id", &today), ("status", "confirmed")])
        .await;
    let cancelled = order(&app, &slug, "b", "B", "+2348040000002", &mug, "4").await;
    app.call(
        "orders/status",
        &[("id", &cancelled), ("status", "cancelled")],
    )
    .await;
    let old = order(&app, &slug, "c", "C", "+2348040000003", &mug, "1").await;
    sqlx::query("update orders set created_at = now() - interval '10 days' where id = $1::uuid")
        .bind(&old)
        .execute(&app.pool)
        .await
        .unwrap();

    let o = json(app.call("overview", &[]).await).await;
    assert_eq!(o["views_7"], 3, "bots are not counted");
    assert_eq!(o["views_30"], 7);
    assert_eq!(o["orders_7"], 1, "cancelled orders are not counted");
    assert_eq!(o["orders_30"], 2);
    // Revenue is what was confirmed; the new order of 10 days ago waits apart.
    assert_eq!(o["revenue_7"], "₦2,000.00");
    assert_eq!(o["revenue_30"], "₦2,000.00");
    assert_eq!(o["pending_orders"], 1);
    assert_eq!(o["pending"], "₦250.00");
    assert_eq!(o["days"][29]["revenue_minor"], 200_000);
    assert_eq!(o["visits_30"], 6, "internal navigation is not a visit");
    let conversion = o["conversion_30"].as_f64().unwrap();
    assert!(
        (conversion - 2.0 * 100.0 / 6.0).abs() < 1e-9,
        "{conversion}"
    );
    assert_eq!(o["days"].as_array().unwrap().len(), 30);
    assert_eq!(o["days"][29]["views"], 3);
    assert_eq!(o["top_viewed"][0], serde_json::json!(["Cap", 2]));
    assert_eq!(o["top_ordered"][0], serde_json::json!(["Cap", 2]));
    assert_eq!(o["new_orders"].as_array().unwrap().len(), 1);

    let html = app.get("/dashboard").await.text().await.unwrap();
    assert!(
        html.contains(r#"data-testid="revenue-30" class="stat-value">₦2,000.00<"#),
        "the overview renders on the server"
    );
    assert!(
        html.contains(r#"data-testid="pending" class="stat-value">₦250.00<"#),
        "{html}"
    );
    assert!(html.contains("Awaiting your confirmation (1 order)"));
    // Charts are server-rendered SVG with a summary naming their days, each bar's day as its
    // title, and the numbers as a table.
    let days = o["days"].as_array().unwrap();
    let short = |iso: &str| {
        let d = time::Date::parse(
            iso,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .unwrap();
        format!("{} {}", d.day(), &d.month().to_string()[..3])
    };
    let (first, busiest, last) = (
        short(days[0]["date"].as_str().unwrap()),
        short(days[19]["date"].as_str().unwrap()),
        short(days[29]["date"].as_str().unwrap()),
    );
    assert!(
        html.contains(&format!(
            r#"aria-label="Storefront views per day: 7 in 30 days, {first} to {last}; most on {busiest} (4)""#
        )),
        "{html}"
    );
    assert!(html.contains(&format!("<title>{last}: 3 views</title>")));
    assert!(html.contains(&format!(r#"<th scope="row">{last}</th><td>3</td>"#)));
}

#[tokio::test]
async fn the_set_up_checklist_ticks_itself_off_from_what_the_shop_has() {
    let app = spawn_app().await;
    app.signup("Setup Owner").await;
    let done = |o: &Value| -> Vec<bool> {
        o["setup"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["done"].as_bool().unwrap())
            .collect()
    };
    let o = json(app.call("overview", &[]).await).await;
    assert_eq!(done(&o), [false, false, false, false, false], "{o}");
    assert!(
        o["setup"][0]["label"]
            .as_str()
            .unwrap()
            .contains("currency (NGN)"),
        "the currency is named in the first step: {o}"
    );
    assert_eq!(o["setup"][2]["href"], "/dashboard/products/new");

    // Settings saved (name and currency looked at), a first product, the link copied.
    let slug = app.shop_slug().await;
    let res = app
        .call(
            "shop/settings/update",
            &[
                ("name", "Setup Shop"),
                ("slug", &slug),
                ("description", ""),
                ("currency", "GHS"),
                ("whatsapp_number", ""),
                ("contact_email", ""),
                ("address", ""),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    app.create_product(&[
        ("title", "Kente Strip"),
        ("price", "80"),
        ("status", "draft"),
    ])
    .await;
    let o = json(app.call("overview", &[]).await).await;
    assert_eq!(done(&o), [true, false, true, false, false]);
    assert!(o["setup"][0]["label"].as_str().unwrap().contains("(GHS)"));
    assert_eq!(app.call("overview/link-shared", &[]).await.status(), 200);
    let o = json(app.call("overview", &[]).await).await;
    assert_eq!(done(&o), [true, false, true, false, true]);

    // Another shop's checklist is its own.
    let other = client();
    call_with(
        &other,
        &app.url("/api/signup"),
        &signup_form("Setup Other", "setup.other@example.com"),
    )
    .await;
    let theirs: Value = call_with(&other, &app.url("/api/overview"), &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(done(&theirs), [false, false, false, false, false]);
}
