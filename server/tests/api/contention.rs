//! Checkout of orders with several lines: concurrent carts holding the same two tracked
//! products in opposite order, the "only N left" answer, cancelling restocks every line, and the
//! orders CSV with one row per line and shopper text that needs CSV quoting.

use crate::helpers::{TestApp, call_with, client, spawn_app};
use serde_json::Value;

async fn tracked(app: &TestApp, title: &str, price: &str, stock: &str) -> String {
    app.create_product(&[
        ("title", title),
        ("price", price),
        ("status", "active"),
        ("track_stock", "on"),
        ("stock", stock),
    ])
    .await
}

/// A checkout form listing the lines in the order given (the order a shopper's cart has).
fn checkout_form<'a>(
    shop: &'a str,
    key: &'a str,
    lines: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("shop", shop),
        ("name", "Bola Ade"),
        ("phone", "+234 802 000 1111"),
        ("address", "5 Allen Avenue, Ikeja"),
        ("idempotency_key", key),
    ];
    for (product, quantity) in lines {
        form.push(("product[]", product));
        form.push(("quantity[]", quantity));
    }
    form
}

async fn checkout(app: &TestApp, form: &[(&str, &str)]) -> reqwest::Response {
    call_with(&client(), &app.url("/api/storefront/checkout"), form).await
}

async fn placed(res: reqwest::Response) -> String {
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

async fn items_error(res: reqwest::Response) -> String {
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    body["fields"]["items"]
        .as_str()
        .unwrap_or_else(|| panic!("no items error: {body}"))
        .to_owned()
}

async fn stock(app: &TestApp, id: &str) -> i32 {
    sqlx::query_scalar("select stock from products where id = $1::uuid")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn carts_with_two_products_in_opposite_order_neither_deadlock_nor_oversell() {
    let app = spawn_app().await;
    app.signup("Busy Owner").await;
    let slug = app.shop_slug().await;
    let cap = tracked(&app, "Cap", "1000", "9").await;
    let bag = tracked(&app, "Bag", "2500", "6").await;

    // 24 checkouts at once, half listing Cap then Bag, half Bag then Cap, each one of both:
    // the bags allow exactly 6 orders.
    let mut tasks = Vec::new();
    for i in 0..24 {
        let (url, slug) = (app.url("/api/storefront/checkout"), slug.clone());
        let lines = if i % 2 == 0 {
            [(cap.clone(), "1"), (bag.clone(), "1")]
        } else {
            [(bag.clone(), "1"), (cap.clone(), "1")]
        };
        tasks.push(tokio::spawn(async move {
            let key = format!("opposite-{i}");
            let lines: Vec<(&str, &str)> = lines.iter().map(|(p, q)| (p.as_str(), *q)).collect();
            let res = call_with(&client(), &url, &checkout_form(&slug, &key, &lines)).await;
            (res.status().as_u16(), res.text().await.unwrap())
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    // A deadlock would surface as a 500 (PostgreSQL aborts one of the transactions).
    for (status, text) in &answers {
        assert!(
            *status == 200 || (*status == 422 && text.contains("Bag is sold out")),
            "{status}: {text}"
        );
    }
    let sold = answers.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(sold, 6, "as many orders as there were bags");
    assert_eq!(stock(&app, &bag).await, 0, "never below zero");
    assert_eq!(
        stock(&app, &cap).await,
        3,
        "a cap went with each bag, no more"
    );
    let (orders, lines): (i64, i64) = sqlx::query_as(
        "select count(distinct o.id), count(l.*) from orders o join order_lines l on l.order_id = o.id",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((orders, lines), (6, 12), "each order has both lines");
}

#[tokio::test]
async fn asking_for_more_than_is_left_names_what_is_left_and_takes_nothing() {
    let app = spawn_app().await;
    app.signup("Scarce Owner").await;
    let slug = app.shop_slug().await;
    let cap = tracked(&app, "Cap", "1000", "2").await;
    let bag = tracked(&app, "Bag", "2500", "5").await;

    let res = checkout(
        &app,
        &checkout_form(&slug, "greedy", &[(&bag, "4"), (&cap, "3")]),
    )
    .await;
    let message = items_error(res).await;
    assert!(
        message.contains("Only 2 of Cap left; lower the quantity."),
        "{message}"
    );
    assert!(!message.contains("Bag"), "the bag line is fine: {message}");
    assert_eq!(
        (stock(&app, &cap).await, stock(&app, &bag).await),
        (2, 5),
        "nothing taken"
    );

    // Both lines short: both are named.
    let res = checkout(
        &app,
        &checkout_form(&slug, "greedier", &[(&bag, "6"), (&cap, "3")]),
    )
    .await;
    let message = items_error(res).await;
    assert!(message.contains("Only 2 of Cap left"), "{message}");
    assert!(message.contains("Only 5 of Bag left"), "{message}");

    // Exactly what is left is sold, after which the product is sold out.
    placed(
        checkout(
            &app,
            &checkout_form(&slug, "exact", &[(&bag, "5"), (&cap, "2")]),
        )
        .await,
    )
    .await;
    assert_eq!((stock(&app, &cap).await, stock(&app, &bag).await), (0, 0));
    let res = checkout(&app, &checkout_form(&slug, "late", &[(&cap, "1")])).await;
    assert!(items_error(res).await.contains("Cap is sold out"));
    let orders: i64 = sqlx::query_scalar("select count(*) from orders")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(orders, 1);
}

#[tokio::test]
async fn cancelling_an_order_with_two_tracked_lines_restocks_both() {
    let app = spawn_app().await;
    app.signup("Restock Owner").await;
    let slug = app.shop_slug().await;
    let cap = tracked(&app, "Cap", "1000", "10").await;
    let bag = tracked(&app, "Bag", "2500", "10").await;
    // An untracked product on the same order stays untracked.
    let tea = app
        .create_product(&[("title", "Tea"), ("price", "300"), ("status", "active")])
        .await;
    let order = placed(
        checkout(
            &app,
            &checkout_form(&slug, "two-lines", &[(&cap, "2"), (&tea, "4"), (&bag, "3")]),
        )
        .await,
    )
    .await;
    let other = placed(checkout(&app, &checkout_form(&slug, "other", &[(&bag, "1")])).await).await;
    assert_eq!((stock(&app, &cap).await, stock(&app, &bag).await), (8, 6));

    let res = app
        .call("orders/status", &[("id", &order), ("status", "cancelled")])
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert_eq!(
        (stock(&app, &cap).await, stock(&app, &bag).await),
        (10, 9),
        "both lines back; the other order keeps its bag"
    );
    let (tea_tracked, tea_stock): (bool, i32) =
        sqlx::query_as("select track_stock, stock from products where id = $1::uuid")
            .bind(&tea)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((tea_tracked, tea_stock), (false, 0));
    let status: String = sqlx::query_scalar("select status from orders where id = $1::uuid")
        .bind(&other)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(status, "new");
}

#[tokio::test]
async fn the_orders_csv_has_a_row_per_line_with_commas_quotes_and_newlines_intact() {
    let app = spawn_app().await;
    app.signup("Csv Lines Owner").await;
    let slug = app.shop_slug().await;
    let scarf_title = "Scarf, \"Indigo\"\nlong";
    let scarf = tracked(&app, scarf_title, "1500", "5").await;
    let mat = app
        .create_product(&[("title", "Mat"), ("price", "200.50"), ("status", "active")])
        .await;
    let name = "Ada \"Mama\" Obi, Jr.";
    let address = "Flat 2,\n5 Allen Avenue\r\nIkeja";
    let note = "Ring twice, \"please\"";
    let mut form = vec![
        ("shop", slug.as_str()),
        ("name", name),
        ("phone", "+234 802 000 1111"),
        ("address", address),
        ("note", note),
        ("idempotency_key", "csv-lines"),
    ];
    for (product, quantity) in [(scarf.as_str(), "2"), (mat.as_str(), "3")] {
        form.push(("product[]", product));
        form.push(("quantity[]", quantity));
    }
    placed(checkout(&app, &form).await).await;
    placed(checkout(&app, &checkout_form(&slug, "plain", &[(&mat, "1")])).await).await;

    let res = app.get("/dashboard/orders/export.csv").await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3, "one row per order line: {text}");
    for row in &rows {
        assert_eq!(row.len(), header.len(), "{row:?}");
    }
    // The two-line order (#1001) comes first, lines in the order they were stored.
    let first: Vec<(&str, &str, &str)> = rows[..2]
        .iter()
        .map(|r| (&r[col("number")], &r[col("product")], &r[col("quantity")]))
        .collect();
    let mut lines = first.clone();
    lines.sort_by_key(|(_, product, _)| *product);
    assert_eq!(
        lines,
        [("1001", "Mat", "3"), ("1001", scarf_title, "2")],
        "{text}"
    );
    for row in &rows[..2] {
        assert_eq!(&row[col("customer")], name);
        // The address was stored as typed, CRLF included; the CSV field carries it unchanged.
        assert_eq!(&row[col("address")], address);
        assert_eq!(&row[col("note")], note);
        assert_eq!(&row[col("phone")], "'+2348020001111");
    }
    assert_eq!(
        (&rows[2][col("number")], &rows[2][col("product")]),
        ("1002", "Mat")
    );
}
