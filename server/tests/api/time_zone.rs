//! The shop's time zone (issue 13): chosen at signup with the currency, and used by every date
//! the merchant reads — the orders list and its date filter, an order's history, the CSV
//! export, the new-order email, the overview's days — each saying which zone it is in.

use crate::helpers::{TestApp, client, json, raw_call, signup_form, spawn_app};
use serde_json::Value;

async fn settings(app: &TestApp) -> Value {
    json(app.call("shop/settings", &[]).await).await
}

async fn set_zone(app: &TestApp, zone: &str) -> reqwest::Response {
    let s = settings(app).await;
    app.call(
        "shop/settings/update",
        &[
            ("name", s["name"].as_str().unwrap()),
            ("slug", s["slug"].as_str().unwrap()),
            ("description", ""),
            ("currency", s["currency"].as_str().unwrap()),
            ("whatsapp_number", ""),
            ("contact_email", ""),
            ("address", ""),
            ("notify_new_orders", "on"),
            ("time_zone", zone),
        ],
    )
    .await
}

#[tokio::test]
async fn signup_asks_for_the_currency_and_keeps_the_zone_it_was_given() {
    let app = spawn_app().await;
    // No currency: refused beside the field, not defaulted.
    let mut form = signup_form("Zone Owner", "zone.owner@example.com");
    form.retain(|(k, _)| *k != "currency");
    let res = raw_call(&client(), &app.url("/api/signup"), &form).await;
    assert_eq!(res.status(), 422);
    let v = json(res).await;
    assert_eq!(
        v["fields"]["currency"],
        "Choose the currency your prices are in."
    );
    // A zone nobody has is refused too.
    let mut form = signup_form("Zone Owner", "zone.owner@example.com");
    form.push(("time_zone", "Lagos"));
    let res = raw_call(&client(), &app.url("/api/signup"), &form).await;
    assert_eq!(res.status(), 422);
    assert!(
        json(res).await["fields"]["time_zone"]
            .as_str()
            .unwrap()
            .contains("Africa/Lagos")
    );

    let mut form = signup_form("Zone Owner", "zone.owner@example.com");
    form.retain(|(k, _)| *k != "currency");
    form.push(("currency", "KES"));
    form.push(("time_zone", "Africa/Nairobi"));
    let res = app.call("signup", &form).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let s = settings(&app).await;
    assert_eq!(s["currency"], "KES");
    assert_eq!(s["time_zone"], "Africa/Nairobi");
}

#[tokio::test]
async fn the_dashboard_reads_times_and_days_in_the_shops_zone() {
    let app = spawn_app().await;
    app.signup("Lagos Owner").await;
    let slug = app.shop_slug().await;
    assert_eq!(settings(&app).await["time_zone"], "UTC");
    let res = set_zone(&app, "Mars/Olympus").await;
    assert_eq!(res.status(), 422);
    assert_eq!(settings(&app).await["time_zone"], "UTC");
    let res = set_zone(&app, "Africa/Lagos").await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());

    let id = app
        .create_product(&[("title", "Lamp"), ("price", "1000"), ("status", "active")])
        .await;
    let place = |key: &'static str| {
        let (app, slug, id) = (&app, slug.clone(), id.clone());
        async move {
            let res = raw_call(
                &client(),
                &app.url("/api/storefront/checkout"),
                &[
                    ("shop", slug.as_str()),
                    ("name", "Bola Ade"),
                    ("phone", "+234 802 000 1111"),
                    ("address", "5 Allen Avenue, Ikeja"),
                    ("note", ""),
                    ("idempotency_key", key),
                    ("product[]", id.as_str()),
                    ("quantity[]", "1"),
                ],
            )
            .await;
            assert_eq!(res.status(), 200);
            serde_json::from_value::<String>(json(res).await).unwrap()
        }
    };
    let late = place("late").await;
    // The new-order email says when, in the shop's zone.
    let mail = app.last_email_to("lagos.owner@example.com").await;
    assert!(mail.contains("(Africa/Lagos)"), "{mail}");

    // Half past eleven at night in UTC is half past midnight the next day in Lagos. A day long
    // past: the overview below counts the last 30 days, and a date near the run's own (as
    // 2026-12-08 was, run around midnight in Lagos that day) would count there too.
    sqlx::query("update orders set created_at = '2025-03-09 23:30:00+00' where id = $1::uuid")
        .bind(&late)
        .execute(&app.pool)
        .await
        .unwrap();
    let list = json(app.call("orders/list", &[]).await).await;
    assert_eq!(list["time_zone"], "Africa/Lagos");
    assert_eq!(list["items"][0]["created_at"], "2025-03-10T00:30:00+01:00");
    let order = json(app.call("orders/get", &[("id", &late)]).await).await;
    assert_eq!(order["created_at"], "2025-03-10T00:30:00+01:00");
    assert_eq!(order["time_zone"], "Africa/Lagos");
    // The date filter is the shop's days too.
    let on = |day: &'static str| {
        let app = &app;
        async move {
            json(
                app.call("orders/list", &[("query[from]", day), ("query[to]", day)])
                    .await,
            )
            .await["items"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(on("2025-03-10").await, 1);
    assert_eq!(on("2025-03-09").await, 0);
    // The export names the zone in its header and gives each time with its offset.
    let csv = app
        .get("/dashboard/orders/export.csv")
        .await
        .text()
        .await
        .unwrap();
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("number,placed_at (Africa/Lagos),status,")
    );
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("1001,2025-03-10T00:30:00+01:00,")
    );

    // The overview's days run midnight to midnight in Lagos: an order at ten past midnight
    // there (still yesterday in UTC) counts for today.
    let today = place("today").await;
    app.call("orders/status", &[("id", &today), ("status", "confirmed")])
        .await;
    sqlx::query(
        "update orders set created_at =
             date_trunc('day', now() at time zone 'Africa/Lagos') at time zone 'Africa/Lagos'
             + interval '10 minutes'
         where id = $1::uuid",
    )
    .bind(&today)
    .execute(&app.pool)
    .await
    .unwrap();
    let local_today: time::Date =
        sqlx::query_scalar("select (now() at time zone 'Africa/Lagos')::date")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let o = json(app.call("overview", &[]).await).await;
    assert_eq!(o["time_zone"], "Africa/Lagos");
    let days = o["days"].as_array().unwrap();
    let last = days.last().unwrap();
    assert_eq!(last["date"], local_today.to_string());
    assert_eq!(last["orders"], 1, "{days:?}");
}
