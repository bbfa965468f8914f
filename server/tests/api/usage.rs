//! Usage data: storefront views are buffered and written in batches; bots are flagged; named
//! events are recorded with the change they describe.

use crate::helpers::{client, spawn_app};

#[tokio::test]
async fn storefront_views_are_recorded_in_batches_and_bots_are_flagged() {
    let app = spawn_app().await;
    app.signup("Views Owner").await;
    app.create_product(&[
        ("title", "Blue Cap"),
        ("price", "100"),
        ("status", "active"),
    ])
    .await;
    let slug = app.shop_slug().await;
    let phone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 Safari/604.1";
    let shopper = client();
    for path in [
        format!("/s/{slug}"),
        format!("/s/{slug}/p/blue-cap"),
        format!("/s/{slug}/p/blue-cap"),
    ] {
        let res = shopper
            .get(app.url(&path))
            .header("user-agent", phone)
            .header("referer", "https://www.instagram.com/some/post")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let res = shopper
        .get(app.url(&format!("/s/{slug}/p/blue-cap")))
        .header("user-agent", "Googlebot/2.1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // Not views: a 404, the dashboard, a sitemap.
    shopper
        .get(app.url(&format!("/s/{slug}/p/nothing")))
        .header("user-agent", phone)
        .send()
        .await
        .unwrap();
    app.get("/dashboard").await;
    shopper
        .get(app.url(&format!("/s/{slug}/sitemap.xml")))
        .send()
        .await
        .unwrap();

    // Nothing is written while the response is served; the batch lands on flush (or within 1 s).
    app.page_views.flush().await;
    // Identical views of one minute share a row (`views` counts them): read them summed.
    type View = (String, Option<String>, Option<String>, String, bool, i64);
    let rows: Vec<View> = sqlx::query_as(
        "select path, product_slug, referrer_host, device, is_bot, sum(views)::bigint
         from page_views group by 1, 2, 3, 4, 5 order by min(id)",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(
        rows[0],
        (
            format!("/s/{slug}"),
            None,
            Some("www.instagram.com".into()),
            "mobile".into(),
            false,
            1
        )
    );
    assert_eq!(rows[1].1.as_deref(), Some("blue-cap"));
    assert_eq!(rows[1].5, 2, "the phone viewed the cap twice");
    assert!(rows[2].4, "Googlebot is flagged as a bot");
    let humans: i64 =
        sqlx::query_scalar("select sum(views)::bigint from page_views where not is_bot")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(humans, 3);
}

#[tokio::test]
async fn dashboard_changes_are_recorded_as_named_events() {
    let app = spawn_app().await;
    app.signup("Events Owner").await;
    let id = app
        .create_product(&[("title", "Cap"), ("price", "100"), ("status", "draft")])
        .await;
    app.call(
        "catalog/product/save",
        &[
            ("id", &id),
            ("title", "Cap 2"),
            ("price", "100"),
            ("status", "draft"),
        ],
    )
    .await;
    app.call("catalog/import", &[("csv", "title,price\nImported,5\n")])
        .await;
    let names: Vec<String> = sqlx::query_scalar("select name from usage_events order by id")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        names,
        ["product_created", "product_updated", "catalog_csv_imported"]
    );
    let merchants: i64 = sqlx::query_scalar("select count(distinct merchant_id) from usage_events")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(merchants, 1);
}
