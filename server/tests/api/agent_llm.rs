//! The AI agent through the whole pipeline, with an in-process OpenAI-compatible chat server
//! (`fakes::llm`) in place of the provider: tool calls in the real wire format, errors (429,
//! 5xx), hangs. What the customer sees is read from what the WhatsApp fake was sent; orders,
//! handovers, usage and traces from the database.

use crate::agent::{CUSTOMER, body, choices, one, says, scarf, sent_to, taps};
use crate::fakes::llm::{FakeLlm, Script, last_tool_result, text, tool};
use crate::helpers::{TestApp, call_with, json};
use crate::whatsapp::{
    contact, conversation_of, deliver, merchant_with_number, messages_doc, now_ts, queue_text,
    second_merchant, wa_app_with,
};
use app::platform::clock::Clock;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use uuid::Uuid;

/// An app whose shops' agent is the AI agent (the default with a model configured), talking
/// to `llm`, answering at once (no gather wait).
async fn llm_app(llm: &FakeLlm) -> TestApp {
    wa_app_with(
        vec![
            ("LLM_BASE_URL", llm.base_url.clone()),
            ("LLM_MODEL", "shop-model-1".into()),
            ("LLM_API_KEY", "sk-test-key".into()),
            ("LLM_TIMEOUT_SECS", "1".into()),
            ("LLM_RETRIES", "2".into()),
            // The channel tests' helper defaults to off; with a model the server's own
            // default is "ai" (config's unit tests).
            ("AGENT_DEFAULT_MODE", "ai".into()),
            ("AGENT_GATHER_MS", "0".into()),
            ("WHATSAPP_PAIR_BURST", "1000".into()),
        ],
        Clock::system(),
    )
    .await
}

/// The first product id a search tool result lists.
fn first_found(request: &Value) -> String {
    last_tool_result(request)["products"][0]["product_id"]
        .as_str()
        .expect("the search found a product")
        .to_string()
}

async fn count(app: &TestApp, sql: &'static str, conversation: Uuid) -> i64 {
    sqlx::query_scalar(sql)
        .bind(conversation)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_ai_agent_searches_and_shows_products_priced_by_the_catalog() {
    let llm = FakeLlm::start().await;
    let app = llm_app(&llm).await;
    let (number, shop, _) = merchant_with_number(&app).await;
    let (product, _) = scarf(&app, "5").await;
    llm.then(tool("search_products", json!({"query": "indigo scarf"})))
        .then_with(|req| {
            let id = first_found(req);
            tool(
                "show_products",
                json!({"product_ids": [id], "message": "Here is our indigo scarf:"}),
            )
        });

    let list = one(says(&app, &number, &["Do you have indigo scarves?"]).await);
    assert!(
        body(&list).contains("automated"),
        "disclosed: {}",
        body(&list)
    );
    assert!(body(&list).contains("Here is our indigo scarf:"));
    assert_eq!(choices(&list), [format!("p:{product}")]);
    let row = &list["interactive"]["action"]["sections"][0]["rows"][0];
    assert_eq!(row["description"], "₦2,500.00", "the price is ours");

    // "Typing…" showed on the customer's message while the model worked.
    assert_eq!(crate::whatsapp::sim(&app).typing().len(), 1);

    // What the model was given: this shop, the customer's language, the tools, our key.
    let requests = llm.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0]["model"], "shop-model-1");
    let system = requests[0]["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("Answer in English"), "{system}");
    let tools: Vec<&str> = requests[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    for name in [
        "search_products",
        "get_product",
        "prepare_order",
        "escalate",
    ] {
        assert!(tools.contains(&name), "{tools:?}");
    }
    let found = last_tool_result(&requests[1]);
    assert_eq!(found["products"][0]["price"], "₦2,500.00");

    // The turn's trace and the month's tokens (the fake charges 150 a call).
    let conversation = conversation_of(&app, shop, CUSTOMER).await;
    let (engine, detail): (String, Value) =
        sqlx::query_as("select engine, detail from agent_traces where conversation_id = $1")
            .bind(conversation)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(engine, "llm");
    assert_eq!(detail["tools"][0]["name"], "search_products");
    assert_eq!(detail["calls"], 2);
    // The thread says why: the engine, the tool and what it found, the tokens.
    let thread = json(
        app.call("inbox/get", &[("id", &conversation.to_string())])
            .await,
    )
    .await;
    let answer = thread["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["sent_by"] == "agent")
        .unwrap();
    let why: Vec<&str> = answer["why"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(why[0], "Written by the AI agent.");
    assert!(
        why[1].starts_with("Tool search_products")
            && why[1].contains("1 found · Adire Indigo Scarf"),
        "{why:?}"
    );
    assert_eq!(why.last().unwrap().split(" · ").next(), Some("300 tokens"));
    let s = json(app.call("agent/settings/get", &[]).await).await;
    assert_eq!(s["mode"], "ai", "{s}");
    assert_eq!(s["ai_available"], true, "{s}");
    assert_eq!(s["tokens_used"], 300, "{s}");
}

#[tokio::test]
async fn an_invented_price_is_sent_back_once_and_then_replaced_by_the_catalogs_answer() {
    let llm = FakeLlm::start().await;
    let app = llm_app(&llm).await;
    let (number, shop, _) = merchant_with_number(&app).await;
    scarf(&app, "5").await;

    // Grounded: the amount is the tool's, so the model's words go out as written.
    llm.then(tool("search_products", json!({"query": "scarf"})))
        .then(text(
            "Yes! The Adire Indigo Scarf is ₦2,500.00 and in stock.",
        ));
    let ok = one(says(&app, &number, &["How much is the indigo scarf?"]).await);
    assert!(
        body(&ok).ends_with("Yes! The Adire Indigo Scarf is ₦2,500.00 and in stock."),
        "{}",
        body(&ok)
    );

    // Invented twice: told once what was wrong, then replaced by the assistant's answer.
    llm.then(tool("search_products", json!({"query": "scarf"})))
        .then(text("Today only ₦2,000.00!"))
        .then(text("Special price 1,999 naira, 40 left"));
    let replaced = one(says(&app, &number, &["indigo scarf"]).await);
    let shown = replaced.to_string();
    assert!(
        !shown.contains("2,000") && !shown.contains("1,999"),
        "{shown}"
    );
    assert_eq!(
        replaced["interactive"]["action"]["sections"][0]["rows"][0]["description"], "₦2,500.00",
        "the catalog's own answer: {shown}"
    );
    let requests = llm.requests();
    let correction = requests.last().unwrap()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["role"] == "system")
        .unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(correction.contains("2,000.00"), "{correction}");
    assert_eq!(llm.unused(), 0);

    let conversation = conversation_of(&app, shop, CUSTOMER).await;
    let detail: Value = sqlx::query_scalar(
        "select detail from agent_traces where conversation_id = $1 order by created_at desc limit 1",
    )
    .bind(conversation)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(detail["replaced"], true);
    assert_eq!(detail["ungrounded"], json!(["2,000.00", "1,999", "40"]));
}

#[tokio::test]
async fn the_ai_agent_prepares_an_order_the_customer_confirms_and_the_orders_service_places() {
    let llm = FakeLlm::start().await;
    let app = llm_app(&llm).await;
    let (number, shop, _) = merchant_with_number(&app).await;
    let (product, variant) = scarf(&app, "5").await;

    let v = variant.to_string();
    llm.then(tool("get_product", json!({"product_id": product})))
        .then_with(move |req| {
            let result = last_tool_result(req);
            assert_eq!(result["variants"][0]["price"], "₦2,500.00");
            assert_eq!(result["variants"][0]["in_stock"], 5);
            // Too many first: the tool says why, and the model asks again for fewer.
            tool(
                "prepare_order",
                json!({"variant_id": v, "quantity": 9, "name": "Chidi Okafor",
                       "address": "12 Marina Road, Lagos Island"}),
            )
        })
        .then_with(move |req| {
            assert_eq!(
                last_tool_result(req)["error"],
                "only 5 of Adire Indigo Scarf in stock"
            );
            tool(
                "prepare_order",
                json!({"variant_id": variant, "quantity": 2, "name": "Chidi Okafor",
                       "address": "12 Marina Road, Lagos Island"}),
            )
        });
    let summary = one(says(
        &app,
        &number,
        &["I want 2 indigo scarves, I'm Chidi Okafor, 12 Marina Road, Lagos Island"],
    )
    .await);
    let text = body(&summary);
    assert!(text.contains("Total: *₦5,000.00*"), "{text}");
    assert_eq!(choices(&summary), ["confirm", "cancel"]);

    let placed = one(taps(&app, &number, "confirm").await);
    assert!(body(&placed).contains("is placed"), "{}", body(&placed));
    let (total, name, stock): (i64, String, i32) = sqlx::query_as(
        "select o.total_minor, o.customer_name, v.stock from orders o, product_variants v
         where o.shop_id = $1 and v.id = $2",
    )
    .bind(shop)
    .bind(variant)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((total, name.as_str(), stock), (500_000, "Chidi Okafor", 3));
    assert_eq!(llm.requests().len(), 3, "the tap is the assistant's");
}

#[tokio::test]
async fn the_ai_agent_takes_an_order_of_several_products_in_one_summary() {
    let llm = FakeLlm::start().await;
    let app = llm_app(&llm).await;
    let (number, shop, _) = merchant_with_number(&app).await;
    let (_, scarf_variant) = scarf(&app, "5").await;
    let sandals: Uuid = sqlx::query_scalar(
        "select v.id from product_variants v join products p on p.id = v.product_id
         where p.shop_id = $1 and p.title = 'Leather Sandals'",
    )
    .bind(shop)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let (s, l) = (scarf_variant.to_string(), sandals.to_string());
    // The same scarf named twice is one line of two; more than the stock is refused per line.
    llm.then(tool(
        "prepare_order",
        json!({"items": [{"variant_id": s, "quantity": 4}, {"variant_id": l, "quantity": 1},
                         {"variant_id": s, "quantity": 2}],
               "name": "Chidi Okafor", "address": "12 Marina Road, Lagos Island"}),
    ))
    .then_with(move |req| {
        assert_eq!(
            last_tool_result(req)["error"],
            "only 5 of Adire Indigo Scarf in stock"
        );
        tool(
            "prepare_order",
            json!({"items": [{"variant_id": s, "quantity": 1}, {"variant_id": l, "quantity": 1},
                             {"variant_id": s, "quantity": 1}],
                   "name": "Chidi Okafor", "address": "12 Marina Road, Lagos Island"}),
        )
    });
    let summary = one(says(
        &app,
        &number,
        &["Two indigo scarves and the leather sandals please. Chidi Okafor, 12 Marina Road, Lagos Island"],
    )
    .await);
    let text = body(&summary);
    assert!(
        text.contains("2 × Adire Indigo Scarf — ₦2,500.00"),
        "{text}"
    );
    assert!(text.contains("1 × Leather Sandals — ₦9,000.00"), "{text}");
    assert!(text.contains("Total: *₦14,000.00*"), "{text}");
    assert_eq!(choices(&summary), ["confirm", "cancel"]);
    assert_eq!(llm.unused(), 0);

    let placed = one(taps(&app, &number, "confirm").await);
    assert!(body(&placed).contains("is placed"), "{}", body(&placed));
    let lines: Vec<(Uuid, i32, i64)> = sqlx::query_as(
        "select i.variant_id, i.quantity, o.total_minor from order_lines i
         join orders o on o.id = i.order_id where o.shop_id = $1 order by i.quantity desc",
    )
    .bind(shop)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        lines,
        [(scarf_variant, 2, 1_400_000), (sandals, 1, 1_400_000)]
    );
}

#[tokio::test]
async fn the_ai_agents_tools_never_reach_another_shops_products() {
    let llm = FakeLlm::start().await;
    let app = llm_app(&llm).await;
    let (number, _, _) = merchant_with_number(&app).await;
    scarf(&app, "5").await;
    let (other, _) = second_merchant(&app, "Other").await;
    let res = call_with(
        &other,
        &app.url("/api/catalog/product/save"),
        &[
            ("title", "Secret Other Shop Bag"),
            ("price", "100"),
            ("status", "active"),
        ],
    )
    .await;
    let theirs: String = res.json().await.unwrap();
    let their_variant: Uuid =
        sqlx::query_scalar("select id from product_variants where product_id = $1::uuid")
            .bind(&theirs)
            .fetch_one(&app.pool)
            .await
            .unwrap();

    let t = theirs.clone();
    llm.then(tool("get_product", json!({"product_id": theirs})))
        .then_with(move |req| {
            assert_eq!(
                last_tool_result(req)["error"],
                "no product of this shop has that id"
            );
            tool(
                "prepare_order",
                json!({"variant_id": their_variant, "quantity": 1, "name": "Chidi",
                       "address": "12 Marina Road, Lagos"}),
            )
        })
        .then_with(move |req| {
            assert!(
                last_tool_result(req)["error"]
                    .as_str()
                    .unwrap()
                    .contains("no available variant"),
            );
            tool("show_products", json!({"product_ids": [t]}))
        })
        .then_with(|req| {
            assert!(last_tool_result(req)["error"].is_string());
            tool("search_products", json!({"query": "secret bag"}))
        })
        .then_with(|req| {
            assert_eq!(last_tool_result(req)["products"], json!([]));
            text("Sorry, we don't sell that bag.")
        });
    let reply = one(says(&app, &number, &["the secret bag please"]).await);
    assert!(!reply.to_string().contains("Secret"), "{reply}");
    assert_eq!(
        llm.unused(),
        0,
        "every scripted step ran (their asserts passed)"
    );
    let orders: i64 = sqlx::query_scalar("select count(*) from orders")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(orders, 0);
}

#[tokio::test]
async fn provider_errors_are_retried_and_an_outage_hands_the_turn_to_the_assistant() {
    let llm = FakeLlm::start().await;
    let app = llm_app(&llm).await;
    let (number, shop, _) = merchant_with_number(&app).await;
    scarf(&app, "5").await;

    // 429 and 500, then an answer: retried within the turn.
    llm.then(Script::Error(429, "Rate limit reached for requests"))
        .then(Script::Error(500, "The server had an error"))
        .then(text("Hello! What are you looking for today?"));
    let hi = one(says(&app, &number, &["Good morning"]).await);
    assert!(body(&hi).contains("What are you looking for today?"));
    assert_eq!(llm.requests().len(), 3);

    // Down for every retry: the shop assistant answers, and the merchant is told.
    for _ in 0..3 {
        llm.then(Script::Error(503, "Service unavailable"));
    }
    let down = one(says(&app, &number, &["indigo scarf"]).await);
    assert_eq!(
        down["interactive"]["action"]["sections"][0]["rows"][0]["description"], "₦2,500.00",
        "the assistant's search answer"
    );
    // Hung: the request times out (LLM_TIMEOUT_SECS=1), with the same outcome.
    for _ in 0..3 {
        llm.then(Script::Hang(Duration::from_secs(4)));
    }
    let hung = one(says(&app, &number, &["sandals"]).await);
    assert!(hung.to_string().contains("Leather Sandals"), "{hung}");
    assert_eq!(llm.unused(), 0);

    let conversation = conversation_of(&app, shop, CUSTOMER).await;
    let notes = count(
        &app,
        "select count(*) from wa_messages where conversation_id = $1 and kind = 'note'
           and body like 'The AI agent could not answer%'",
        conversation,
    )
    .await;
    assert!(notes >= 1, "the merchant sees why in the thread");
    let fallbacks = count(
        &app,
        "select count(*) from agent_traces where conversation_id = $1 and engine = 'fallback'",
        conversation,
    )
    .await;
    assert_eq!(fallbacks, 2);
    let thread = json(
        app.call("inbox/get", &[("id", &conversation.to_string())])
            .await,
    )
    .await;
    let stood_in = thread["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["sent_by"] == "agent")
        .nth(1)
        .unwrap()["why"][0]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        stood_in.starts_with("The shop assistant answered because the AI agent could not"),
        "{stood_in}"
    );
    let s = json(app.call("agent/settings/get", &[]).await).await;
    assert_eq!(s["fallbacks"], 2, "{s}");
    assert!(s["last_failure"].as_str().unwrap().len() > 5, "{s}");
}

#[tokio::test]
async fn a_spent_monthly_budget_hands_turns_to_the_assistant_until_it_is_raised() {
    let llm = FakeLlm::start().await;
    let app = llm_app(&llm).await;
    let (number, shop, _) = merchant_with_number(&app).await;
    scarf(&app, "5").await;
    let saved = app
        .call(
            "agent/settings",
            &[
                ("mode", "ai"),
                ("facts", "Delivery in Lagos takes 2 days."),
                ("token_budget", "100"),
            ],
        )
        .await;
    assert_eq!(saved.status(), 200, "{}", saved.text().await.unwrap());
    let bad = app
        .call(
            "agent/settings",
            &[("mode", "ai"), ("token_budget", "lots")],
        )
        .await;
    assert_eq!(bad.status(), 422);
    assert!(bad.text().await.unwrap().contains("whole number of tokens"));

    // The first turn spends 150 of the 100 tokens; the shop's facts were in its prompt.
    llm.then(text("Hello! Delivery in Lagos takes 2 days."));
    one(says(&app, &number, &["hello, how long is delivery?"]).await);
    let system = llm.requests()[0]["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        system.contains("Delivery in Lagos takes 2 days."),
        "{system}"
    );

    // Spent: no call to the model, the assistant answers, the thread says why.
    let next = one(says(&app, &number, &["indigo scarf"]).await);
    assert_eq!(llm.requests().len(), 1);
    assert!(next.to_string().contains("Adire Indigo Scarf"), "{next}");
    let conversation = conversation_of(&app, shop, CUSTOMER).await;
    let notes = count(
        &app,
        "select count(*) from wa_messages where conversation_id = $1 and kind = 'note'
           and body like '%budget for this month%'",
        conversation,
    )
    .await;
    assert_eq!(notes, 1);

    // Raised: the model answers again. Facts and budget saved with the form are kept.
    let raised = app
        .call(
            "agent/settings",
            &[
                ("mode", "ai"),
                ("facts", "Delivery in Lagos takes 2 days."),
                ("token_budget", "1,000,000"),
            ],
        )
        .await;
    assert_eq!(raised.status(), 200);
    llm.then(text("Anything else I can find for you?"));
    let back = one(says(&app, &number, &["thanks"]).await);
    assert!(body(&back).contains("Anything else"), "{}", body(&back));
    let s = json(app.call("agent/settings/get", &[]).await).await;
    assert_eq!(s["token_budget"], "1000000", "{s}");
    assert_eq!(s["facts"], "Delivery in Lagos takes 2 days.");
}

#[tokio::test]
async fn the_escalate_tool_hands_over_once_and_the_model_is_not_asked_again() {
    let llm = FakeLlm::start().await;
    let app = llm_app(&llm).await;
    let (number, shop, _) = merchant_with_number(&app).await;
    llm.then(tool(
        "escalate",
        json!({"reason": "complaint", "summary": "Order arrived damaged; wants a refund."}),
    ));
    let handover = one(says(&app, &number, &["My order arrived damaged!!"]).await);
    assert!(!body(&handover).is_empty());
    let conversation = conversation_of(&app, shop, CUSTOMER).await;
    let (reason, summary): (String, String) =
        sqlx::query_as("select reason, summary from escalations where conversation_id = $1")
            .bind(conversation)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(reason, "agent_tool");
    assert!(summary.contains("damaged"));

    // The person has it now: more messages reach neither the model nor the customer.
    let after = says(&app, &number, &["hello??"]).await;
    assert!(after.is_empty(), "{after:#?}");
    assert_eq!(llm.requests().len(), 1);
}

#[tokio::test]
async fn a_merchant_reply_while_the_model_thinks_stops_its_answer() {
    let llm = FakeLlm::start().await;
    let app = llm_app(&llm).await;
    let (number, shop, _) = merchant_with_number(&app).await;
    let (arrived, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    llm.then(Script::Gate {
        arrived: arrived.clone(),
        release: release.clone(),
        then: Box::new(text("Hi! I'm the shop's assistant.")),
    });
    let doc = messages_doc(
        &number,
        vec![contact(CUSTOMER, "Chidi")],
        vec![crate::whatsapp::text(
            CUSTOMER,
            "wamid.gate1",
            now_ts(&app),
            "hello",
        )],
    );
    deliver(&app, &doc).await;
    let merchant = async {
        arrived.notified().await;
        let conversation = conversation_of(&app, shop, CUSTOMER).await;
        queue_text(&app, conversation, "Ada here, how can I help?", "gate-k1").await;
        release.notify_one();
    };
    tokio::time::timeout(Duration::from_secs(60), async {
        tokio::join!(app.run_jobs(), merchant)
    })
    .await
    .expect("the turn finished");
    app.run_jobs().await;
    let sent: Vec<String> = sent_to(&app, CUSTOMER).iter().map(body).collect();
    assert_eq!(
        sent,
        ["Ada here, how can I help?"],
        "the agent stayed quiet"
    );
}

#[tokio::test]
async fn the_merchants_tone_shapes_the_prompt_and_is_checked() {
    let llm = FakeLlm::start().await;
    let app = llm_app(&llm).await;
    let (number, _, _) = merchant_with_number(&app).await;
    let res = app
        .call("agent/settings", &[("mode", "ai"), ("tone", "shouty")])
        .await;
    assert_eq!(res.status(), 422);
    assert!(
        json(res)
            .await
            .to_string()
            .contains("Choose one of the listed tones.")
    );
    let s = json(app.call("agent/settings/get", &[]).await).await;
    assert_eq!(s["tone"], "friendly", "the default, nothing stored");

    let res = app
        .call("agent/settings", &[("mode", "ai"), ("tone", "formal")])
        .await;
    assert_eq!(res.status(), 200);
    // Saved without the field (a form without the AI fields): the tone stays.
    let res = app.call("agent/settings", &[("mode", "ai")]).await;
    assert_eq!(res.status(), 200);
    let s = json(app.call("agent/settings/get", &[]).await).await;
    assert_eq!(s["tone"], "formal");

    llm.then(text("Good afternoon. How may I help you?"));
    one(says(&app, &number, &["Hello there, I have a question"]).await);
    let system = llm.requests()[0]["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(system.contains("politely and formally"), "{system}");
    assert!(!system.contains("warmly"), "{system}");
}
