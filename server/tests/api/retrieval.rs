//! The agent's product search on a real catalog: a long question ranks the products that
//! match several of its words first (and still lists those matching one when few match two),
//! close spellings count as words, and filters hold.

use crate::helpers::{TestApp, spawn_app};
use app::agent::retrieval::{Query, search};
use uuid::Uuid;

async fn shop_with(app: &TestApp, titles: &[(&str, &str)]) -> Uuid {
    app.signup("Search Owner").await;
    for (title, price) in titles {
        app.create_product(&[("title", title), ("price", price), ("status", "active")])
            .await;
    }
    sqlx::query_scalar("select id from shops where slug = $1")
        .bind(app.shop_slug().await)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn titles(
    app: &TestApp,
    shop: Uuid,
    text: &str,
    limit: i64,
    max: Option<i64>,
) -> Vec<String> {
    search(
        &app.pool,
        shop,
        &Query {
            text,
            limit,
            max_price_minor: max,
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .into_iter()
    .map(|f| f.title)
    .collect()
}

#[tokio::test]
async fn a_long_question_ranks_products_matching_several_of_its_words_first() {
    let app = spawn_app().await;
    let shop = shop_with(
        &app,
        &[
            ("Golden Silk Scarf", "100"),
            ("Golden Beaded Earrings", "100"),
            ("Golden Cap", "100"),
            ("Beaded Bag", "100"),
            ("Woven Basket", "100"),
            ("Woven Wrapper", "300"),
            ("Red Earrings", "100"),
            ("Leather Sandals", "100"),
        ],
    )
    .await;
    let question = "golden beaded earrings or a woven wrapper for a wedding";
    let found = titles(&app, shop, question, 10, None).await;
    assert_eq!(
        found[..2],
        ["Golden Beaded Earrings", "Woven Wrapper"],
        "three words, then two: {found:?}"
    );
    // Two products match two words or more: a page of 10 is filled with those matching one.
    assert_eq!(found.len(), 7, "{found:?}");
    assert!(!found.contains(&"Leather Sandals".to_string()));
    // A page of two needs nothing else.
    assert_eq!(
        titles(&app, shop, question, 2, None).await,
        ["Golden Beaded Earrings", "Woven Wrapper"]
    );
    // The price limit holds for both rankings.
    let cheap = titles(&app, shop, question, 10, Some(20_000)).await;
    assert_eq!(cheap[0], "Golden Beaded Earrings");
    assert!(!cheap.contains(&"Woven Wrapper".to_string()), "{cheap:?}");

    // A misspelt word counts through its close spelling ("earings" → earrings).
    let found = titles(&app, shop, "golden beaded earings", 1, None).await;
    assert_eq!(found, ["Golden Beaded Earrings"]);
    // One or two words: any of them, the best first.
    let found = titles(&app, shop, "golden cap", 10, None).await;
    assert_eq!(found[0], "Golden Cap");
    assert_eq!(
        found.len(),
        3,
        "every golden product and the cap: {found:?}"
    );
}
