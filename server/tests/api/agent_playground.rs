//! "Try your agent": the merchant writes as a customer of their own shop. The message enters
//! the webhook inbox as Meta's delivery would and the whole pipeline answers it; the answers
//! are delivered to the playground, never sent to Meta (so it works on a number connected to
//! Meta too); the playground shows them with their buttons and why they were given. Also: a
//! server restart keeps simulator-connected shops working (the simulator takes their numbers
//! back).

use crate::agent::{agent_app, scarf};
use crate::helpers::{TestApp, call_with, json};
use crate::whatsapp::{connect_with, merchant_with_number, second_merchant, shop_of, sim};
use app::whatsapp::simulator::{CustomerSend, Simulator};
use serde_json::Value;

async fn playground(app: &TestApp, c: &reqwest::Client) -> Value {
    let res = call_with(c, &app.url("/api/agent/try/get"), &[]).await;
    assert_eq!(res.status(), 200);
    json(res).await
}

async fn say(app: &TestApp, form: &[(&str, &str)]) -> Value {
    let res = app.call("agent/try/say", form).await;
    assert_eq!(res.status(), 200, "say: {}", res.text().await.unwrap());
    app.run_jobs().await;
    playground(app, &app.client).await
}

fn last(p: &Value) -> &Value {
    p["messages"].as_array().unwrap().last().unwrap()
}

fn choice_ids(m: &Value) -> Vec<String> {
    m["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_merchant_orders_from_their_own_shop_in_the_playground_and_sees_why() {
    let app = agent_app().await;
    let email = app.signup("Ada Merchant").await;

    // Before a number is connected the playground says what to do, and sending is refused.
    let p = playground(&app, &app.client).await;
    assert!(
        p["blocked"]
            .as_str()
            .unwrap()
            .contains("Connect WhatsApp first"),
        "{p}"
    );
    assert_eq!(p["fix_href"], "/dashboard/channels/whatsapp");
    let res = app.call("agent/try/say", &[("text", "Hi")]).await;
    assert_eq!(res.status(), 409);
    assert!(json(res).await.to_string().contains("Connect WhatsApp"));

    connect_with(&app, &app.client).await;
    let (product, variant) = scarf(&app, "5").await;
    let p = playground(&app, &app.client).await;
    assert!(p["blocked"].is_null(), "{p}");
    assert_eq!(p["messages"], serde_json::json!([]));

    // An empty message gets a sentence, not an error page.
    let res = app.call("agent/try/say", &[("text", "  ")]).await;
    assert_eq!(res.status(), 422);
    assert!(json(res).await.to_string().contains("Write a message"));

    // Hello: the greeting with its buttons, and why it was given.
    let p = say(&app, &[("text", "Hi")]).await;
    let messages = p["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{p:#}");
    assert_eq!(messages[0]["from_customer"], true);
    assert_eq!(messages[0]["body"], "Hi");
    let hello = last(&p);
    assert_eq!(hello["sent_by"], "agent");
    assert!(
        hello["body"]
            .as_str()
            .unwrap()
            .contains("automated assistant")
    );
    assert_eq!(choice_ids(hello), ["browse", "orders", "human"]);
    assert!(
        hello["why"][0].as_str().unwrap().contains("shop assistant"),
        "{hello}"
    );
    assert_eq!(p["waiting"], false);
    // It is a real conversation of the shop, with the test customer.
    let shop = shop_of(&app, &email).await;
    let name: String = sqlx::query_scalar(
        "select c.name from customers c join conversations v on v.customer_id = c.id
         where v.id = $1::uuid and v.shop_id = $2",
    )
    .bind(p["conversation_id"].as_str().unwrap())
    .bind(shop)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(name, "You (trying the agent)");

    // A search answers with a list row; only the latest answer keeps its buttons.
    let p = say(&app, &[("text", "indigo scarf")]).await;
    let found = last(&p);
    assert_eq!(choice_ids(found), [format!("p:{product}")]);
    assert_eq!(found["choices"][0]["kind"], "list");
    assert_eq!(found["choices"][0]["description"], "₦2,500.00");
    let n = p["messages"].as_array().unwrap().len();
    assert_eq!(p["messages"][n - 3]["choices"], serde_json::json!([]));

    // Taps and answers, as the customer: the card, the order's questions, the confirmation.
    let row = format!("p:{product}");
    let p = say(
        &app,
        &[("kind", "list"), ("reply_id", &row), ("text", "Scarf")],
    )
    .await;
    assert!(last(&p)["body"].as_str().unwrap().contains("₦2,500.00"));
    let order = format!("o:{variant}");
    assert_eq!(choice_ids(last(&p))[0], order);
    let p = say(
        &app,
        &[("kind", "button"), ("reply_id", &order), ("text", "Order")],
    )
    .await;
    assert!(last(&p)["body"].as_str().unwrap().contains("How many"));
    let p = say(&app, &[("text", "2")]).await;
    assert_eq!(choice_ids(last(&p)), ["use_name"]);
    say(
        &app,
        &[("kind", "button"), ("reply_id", "use_name"), ("text", "Me")],
    )
    .await;
    let p = say(&app, &[("text", "12 Marina Road, Lagos Island")]).await;
    assert!(
        last(&p)["body"]
            .as_str()
            .unwrap()
            .contains("Total: *₦5,000.00*")
    );
    let p = say(
        &app,
        &[
            ("kind", "button"),
            ("reply_id", "confirm"),
            ("text", "Confirm"),
        ],
    )
    .await;
    assert!(
        last(&p)["body"]
            .as_str()
            .unwrap()
            .contains("order #1001 is placed"),
        "{}",
        last(&p)
    );
    let total: i64 = sqlx::query_scalar("select total_minor from orders where shop_id = $1")
        .bind(shop)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(total, 500_000);
    // It is a test order: listed and marked, but not a sale, so no number counts it (a real
    // customer's agent order does count: agent.rs).
    let list = json(app.call("orders/list", &[]).await).await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["test"], true, "{list}");
    let one = json(
        app.call(
            "orders/get",
            &[("id", list["items"][0]["id"].as_str().unwrap())],
        )
        .await,
    )
    .await;
    assert_eq!(one["test"], true);
    assert_eq!(json(app.call("orders/new-count", &[]).await).await, 0);
    let customers = json(app.call("customers/list", &[]).await).await;
    assert_eq!(customers[0]["name"], "You (trying the agent)");
    assert_eq!(customers[0]["test"], true);
    let o = json(app.call("overview", &[]).await).await;
    assert_eq!(o["orders_30"], 0, "{o}");
    assert_eq!(o["revenue_30"], "₦0.00");
    assert_eq!(o["top_ordered"], serde_json::json!([]));
    assert_eq!(o["chat"]["agent_conversations"], 0);
    assert_eq!(o["chat"]["assisted_orders"], 0);
    assert!(o["chat"]["median_first_response_secs"].is_null(), "{o}");

    // Asking for a person hands the conversation over; the playground says the agent is quiet.
    let p = say(
        &app,
        &[
            ("kind", "button"),
            ("reply_id", "human"),
            ("text", "Talk to a person"),
        ],
    )
    .await;
    assert_eq!(p["with_person"], true, "{p:#}");

    // Start over: an empty chat, the handover closed, and the greeting again.
    let res = app.call("agent/try/start-over", &[]).await;
    assert_eq!(res.status(), 200);
    let p = playground(&app, &app.client).await;
    assert_eq!(p["messages"], serde_json::json!([]));
    assert_eq!(p["with_person"], false);
    let open: i64 = sqlx::query_scalar(
        "select count(*) from escalations where shop_id = $1 and resolved_at is null",
    )
    .bind(shop)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(open, 0);
    let p = say(&app, &[("text", "Hello again")]).await;
    assert_eq!(p["messages"].as_array().unwrap().len(), 2, "{p:#}");
    assert!(
        last(&p)["body"]
            .as_str()
            .unwrap()
            .contains("automated assistant")
    );

    // Nothing of it went to Meta (here the simulator's Graph API): no message, typing
    // indicator or read mark for the test customer; every answer is delivered in place.
    let test_number = app::agent::playground::customer_number(shop);
    assert!(sim(&app).sent().iter().all(|m| m.to != test_number));
    assert_eq!(sim(&app).typing(), Vec::<String>::new());
    assert_eq!(sim(&app).read_marks(), Vec::<String>::new());
    let undelivered: i64 = sqlx::query_scalar(
        "select count(*) from wa_messages where shop_id = $1 and direction = 'out' and status <> 'delivered'",
    )
    .bind(shop)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(undelivered, 0);

    // Another merchant's playground is their own: not connected, none of these messages.
    let (other, _) = second_merchant(&app, "Bola").await;
    let theirs = playground(&app, &other).await;
    assert!(
        theirs["blocked"]
            .as_str()
            .unwrap()
            .contains("Connect WhatsApp")
    );
    assert_eq!(theirs["messages"], serde_json::json!([]));
    assert!(theirs["conversation_id"].is_null());
}

#[tokio::test]
async fn the_playground_works_on_a_number_connected_to_meta_and_sends_it_nothing() {
    let app = agent_app().await;
    let (number, shop, _) = merchant_with_number(&app).await;
    scarf(&app, "5").await;
    // The number now belongs to Meta for real: the simulator does not know it, so any Graph
    // call for it (send, typing, read mark) would fail.
    sqlx::query(
        "update wa_accounts set phone_number_id = 'meta-' || phone_number_id where shop_id = $1",
    )
    .bind(shop)
    .execute(&app.pool)
    .await
    .unwrap();
    assert!(!sim(&app).has_number(&format!("meta-{}", number.id)));

    let p = say(&app, &[("text", "Hi")]).await;
    assert!(p["blocked"].is_null(), "{p}");
    let hello = last(&p);
    assert_eq!(hello["sent_by"], "agent", "{p:#}");
    assert_eq!(hello["status"], "delivered");
    assert_eq!(choice_ids(hello), ["browse", "orders", "human"]);
    let p = say(&app, &[("text", "indigo scarf")]).await;
    assert_eq!(last(&p)["choices"][0]["description"], "₦2,500.00", "{p:#}");
    assert!(sim(&app).sent().is_empty());

    // A disconnected number stops it, with the way to fix it.
    sqlx::query("update wa_accounts set status = 'needs_reconnect' where shop_id = $1")
        .bind(shop)
        .execute(&app.pool)
        .await
        .unwrap();
    let p = playground(&app, &app.client).await;
    assert!(
        p["blocked"].as_str().unwrap().contains("reconnecting"),
        "{p}"
    );
    assert_eq!(p["fix_href"], "/dashboard/channels/whatsapp");
    assert_eq!(
        app.call("agent/try/say", &[("text", "Hi")]).await.status(),
        409
    );
}

#[tokio::test]
async fn a_restarted_server_s_simulator_takes_back_the_numbers_it_connected() {
    let app = agent_app().await;
    let (number, shop, _) = merchant_with_number(&app).await;
    let account = app::whatsapp::ssr::account_for_shop(&app.pool, shop)
        .await
        .unwrap()
        .unwrap();
    let token = app::whatsapp::ssr::account_token(&app.state, &account).unwrap();
    use secrecy::ExposeSecret;
    assert!(sim(&app).accepts(token.expose_secret(), &number.id));

    // A new process: a fresh simulator knows nothing, until it restores from the database.
    let fresh = Simulator::new(&app.state.config);
    assert!(!fresh.accepts(token.expose_secret(), &number.id));
    assert!(!fresh.has_number(&number.id));
    let restored = app::whatsapp::simulator::restore(&app.state, &fresh)
        .await
        .unwrap();
    assert_eq!(restored, 1);
    assert!(fresh.accepts(token.expose_secret(), &number.id));
    // And a customer can write to the number again.
    let sent = fresh
        .customer_sends(
            &app.pool,
            CustomerSend {
                phone_number_id: number.id.clone(),
                from: "2348035550009".into(),
                kind: "text".into(),
                text: "Still there?".into(),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(sent.map(|(_, status)| status), Ok(200));
}
