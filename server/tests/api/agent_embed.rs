//! Semantic search with an in-process OpenAI-compatible embeddings server (`fakes::embeddings`):
//! vectors built by jobs, rebuilt when the catalog changes or the model does, fused into the
//! agent's search, kept per shop, and a search that still works when the embedder fails.

use crate::agent::{body, choices, one, says};
use crate::fakes::embeddings::FakeEmbeddings;
use crate::helpers::{TestApp, call_with};
use crate::whatsapp::{merchant_with_number, second_merchant, wa_app_with};
use app::platform::clock::Clock;
use std::time::Duration;

async fn embed_app(fake: &FakeEmbeddings) -> TestApp {
    wa_app_with(
        vec![
            ("EMBEDDINGS_BASE_URL", fake.base_url.clone()),
            ("EMBEDDINGS_MODEL", "test-e5-small".into()),
            ("EMBEDDINGS_TIMEOUT_MS", "300".into()),
            ("AGENT_DEFAULT_MODE", "assistant".into()),
            ("AGENT_GATHER_MS", "0".into()),
            ("WHATSAPP_PAIR_BURST", "1000".into()),
        ],
        Clock::system(),
    )
    .await
}

/// Five products, one per concept of the fake (no bangle yet).
async fn catalog(app: &TestApp) -> Vec<String> {
    let mut ids = Vec::new();
    for title in [
        "Leather Sandals",
        "Beaded Necklace",
        "Woven Tote",
        "Silk Scarf",
        "Shea Soap",
    ] {
        ids.push(
            app.create_product(&[("title", title), ("price", "1000"), ("status", "active")])
                .await,
        );
    }
    ids
}

async fn vectors(app: &TestApp, model: &str) -> i64 {
    sqlx::query_scalar("select count(*) from product_embeddings where model = $1")
        .bind(model)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn semantic_search_finds_what_the_words_miss_and_follows_catalog_changes() {
    let fake = FakeEmbeddings::start().await;
    let app = embed_app(&fake).await;
    let (number, _, _) = merchant_with_number(&app).await;
    let ids = catalog(&app).await;
    // Another shop's footwear never reaches this shop's customers.
    let (other, _) = second_merchant(&app, "Other").await;
    let res = call_with(
        &other,
        &app.url("/api/catalog/product/save"),
        &[
            ("title", "Golden Sandals"),
            ("price", "5"),
            ("status", "active"),
        ],
    )
    .await;
    assert_eq!(res.status(), 200);
    one(says(&app, &number, &["hi"]).await);

    // The first search finds no vectors yet: words only ("footwear" is in no title), and the
    // shop's vectors are queued and built.
    let reply = one(says(&app, &number, &["any footwear?"]).await);
    assert!(
        choices(&reply).iter().all(|c| !c.starts_with("p:")),
        "{reply}"
    );
    assert_eq!(vectors(&app, "test-e5-small").await, 5, "this shop's five");
    let inputs = fake.inputs();
    assert!(
        inputs.contains(&"passage: Leather Sandals\n".to_string()),
        "{inputs:?}"
    );

    // Now the embedder's match joins the search.
    let reply = one(says(&app, &number, &["any footwear?"]).await);
    assert_eq!(
        choices(&reply),
        [format!("p:{}", ids[0])],
        "{}",
        body(&reply)
    );
    assert!(!reply.to_string().contains("Golden"));
    assert!(
        fake.inputs().contains(&"query: any footwear?".to_string()),
        "e5's query prefix"
    );

    // A new product: the next search queues the rebuild, which embeds only what changed.
    let before = fake.inputs().len();
    let bangle = app
        .create_product(&[
            ("title", "Brass Bangle"),
            ("price", "900"),
            ("status", "active"),
        ])
        .await;
    says(&app, &number, &["something for my wrist"]).await;
    let passages: Vec<String> = fake.inputs()[before..]
        .iter()
        .filter(|i| i.starts_with("passage: "))
        .cloned()
        .collect();
    assert_eq!(passages, ["passage: Brass Bangle\n"]);
    let reply = one(says(&app, &number, &["something for my wrist"]).await);
    assert_eq!(choices(&reply), [format!("p:{bangle}")], "{}", body(&reply));

    // A renamed product is embedded again; an archived one leaves the search.
    let res = app
        .call(
            "catalog/product/save",
            &[
                ("id", &ids[0]),
                ("title", "Leather Slides"),
                ("price", "1000"),
                ("status", "archived"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    says(&app, &number, &["any footwear?"]).await;
    let reply = one(says(&app, &number, &["any footwear?"]).await);
    assert!(
        choices(&reply).iter().all(|c| !c.starts_with("p:")),
        "an archived product is never offered: {reply}"
    );
}

#[tokio::test]
async fn a_failing_or_slow_embedder_leaves_the_word_search_working() {
    let fake = FakeEmbeddings::start().await;
    let app = embed_app(&fake).await;
    let (number, _, _) = merchant_with_number(&app).await;
    let ids = catalog(&app).await;
    one(says(&app, &number, &["hi"]).await);
    says(&app, &number, &["footwear"]).await; // builds the vectors
    assert_eq!(vectors(&app, "test-e5-small").await, 5);

    fake.fail(true);
    let reply = one(says(&app, &number, &["sandals"]).await);
    assert_eq!(
        choices(&reply),
        [format!("p:{}", ids[0])],
        "found by its words"
    );
    let reply = one(says(&app, &number, &["footwear"]).await);
    assert!(
        choices(&reply).iter().all(|c| !c.starts_with("p:")),
        "{reply}"
    );

    fake.fail(false);
    fake.hang(Some(Duration::from_secs(3)));
    let started = std::time::Instant::now();
    let reply = one(says(&app, &number, &["beaded necklace"]).await);
    assert_eq!(choices(&reply), [format!("p:{}", ids[1])]);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the turn did not wait for the embedder: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn vectors_of_another_model_are_all_rebuilt_at_start_up() {
    let fake = FakeEmbeddings::start().await;
    let app = embed_app(&fake).await;
    let (_, shop, _) = merchant_with_number(&app).await;
    catalog(&app).await;
    // Vectors of another model, as a server configured before would have left them.
    assert_eq!(app::agent::embed::queue_stale(&app.state).await.unwrap(), 1);
    app.run_jobs().await;
    sqlx::query("update product_embeddings set model = 'old-model'")
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("update shop_embeddings set model = 'old-model'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(vectors(&app, "test-e5-small").await, 0);
    // A catalog change while it was down (a product saved unchanged moves the version).
    let id: String = sqlx::query_scalar("select id::text from products limit 1")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let res = app
        .call(
            "catalog/product/save",
            &[
                ("id", &id),
                ("title", "Leather Sandals"),
                ("price", "1000"),
                ("status", "active"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let before = fake.inputs().len();

    assert_eq!(app::agent::embed::queue_stale(&app.state).await.unwrap(), 1);
    app.run_jobs().await;
    assert_eq!(vectors(&app, "test-e5-small").await, 5);
    assert_eq!(
        fake.inputs().len() - before,
        5,
        "every product embedded again"
    );
    let (version, built): (i64, i64) = sqlx::query_as(
        "select s.catalog_version, e.catalog_version from shops s
         join shop_embeddings e on e.shop_id = s.id and e.model = 'test-e5-small' where s.id = $1",
    )
    .bind(shop)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(built, version);
    // Up to date: nothing more to queue.
    assert_eq!(app::agent::embed::queue_stale(&app.state).await.unwrap(), 0);
}
