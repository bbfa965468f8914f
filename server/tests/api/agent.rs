//! The shop assistant (the agent without a language model) through the whole pipeline:
//! signed webhooks from the WhatsApp fake, the inbox processor, the agent's turn jobs, the
//! outbound queue and the fake's Graph API. What the customer sees is read from what the fake
//! was sent; orders and handovers from the database.

use crate::helpers::{TestApp, call_with, json};
use crate::whatsapp::{
    contact, conversation_of, deliver, merchant_with_number, messages_doc, now_ts, queue_text,
    second_merchant, sim, text, wa_app_with,
};
use app::platform::clock::Clock;
use app::whatsapp::simulator::SimNumber;
use serde_json::{Value, json};
use uuid::Uuid;

pub(crate) const CUSTOMER: &str = "2348035550001";

/// An app whose shops have the assistant on and answer at once (no gather wait).
pub(crate) async fn agent_app() -> TestApp {
    agent_app_on(Clock::system()).await
}

async fn agent_app_on(clock: Clock) -> TestApp {
    wa_app_with(
        vec![
            ("AGENT_DEFAULT_MODE", "assistant".into()),
            ("AGENT_GATHER_MS", "0".into()),
            // A whole order is more messages to one customer than Meta's pair limit lets
            // out at once; pacing has its own tests.
            ("WHATSAPP_PAIR_BURST", "1000".into()),
        ],
        clock,
    )
    .await
}

/// The customer sends these texts in one delivery; jobs run; returns what the agent sent
/// them since `seen` messages.
pub(crate) async fn says(app: &TestApp, number: &SimNumber, texts: &[&str]) -> Vec<Value> {
    let before = sent_to(app, CUSTOMER).len();
    let messages = texts
        .iter()
        .map(|t| {
            text(
                CUSTOMER,
                &format!("wamid.{}", Uuid::now_v7()),
                now_ts(app),
                t,
            )
        })
        .collect();
    deliver(
        app,
        &messages_doc(number, vec![contact(CUSTOMER, "Chidi")], messages),
    )
    .await;
    app.run_jobs().await;
    sent_to(app, CUSTOMER).split_off(before)
}

/// The customer taps a reply button or a list row with this id.
pub(crate) async fn taps(app: &TestApp, number: &SimNumber, id: &str) -> Vec<Value> {
    let before = sent_to(app, CUSTOMER).len();
    let kind = if id.starts_with("p:") || id.starts_with("v:") {
        json!({"type": "list_reply", "list_reply": {"id": id, "title": "x"}})
    } else {
        json!({"type": "button_reply", "button_reply": {"id": id, "title": "x"}})
    };
    let m = json!({"from": CUSTOMER, "id": format!("wamid.{}", Uuid::now_v7()),
        "timestamp": now_ts(app).to_string(), "type": "interactive", "interactive": kind});
    deliver(
        app,
        &messages_doc(number, vec![contact(CUSTOMER, "Chidi")], vec![m]),
    )
    .await;
    app.run_jobs().await;
    sent_to(app, CUSTOMER).split_off(before)
}

pub(crate) fn sent_to(app: &TestApp, to: &str) -> Vec<Value> {
    sim(app)
        .sent()
        .into_iter()
        .filter(|m| m.to == to)
        .map(|m| m.body)
        .collect()
}

/// The text a person reads in a message (its body, whatever its type).
pub(crate) fn body(m: &Value) -> String {
    m.pointer("/text/body")
        .or_else(|| m.pointer("/interactive/body/text"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The ids of the buttons or list rows a message offers.
pub(crate) fn choices(m: &Value) -> Vec<String> {
    let buttons = m
        .pointer("/interactive/action/buttons")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|b| b.pointer("/reply/id").and_then(Value::as_str));
    let rows = m
        .pointer("/interactive/action/sections/0/rows")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r["id"].as_str());
    buttons.chain(rows).map(str::to_string).collect()
}

pub(crate) fn one(replies: Vec<Value>) -> Value {
    assert_eq!(replies.len(), 1, "one answer per turn: {replies:#?}");
    replies.into_iter().next().unwrap()
}

pub(crate) async fn scarf(app: &TestApp, stock: &str) -> (String, Uuid) {
    let id = app
        .create_product(&[
            ("title", "Adire Indigo Scarf"),
            ("price", "2,500"),
            ("sku", "ADI-9"),
            ("track_stock", "on"),
            ("stock", stock),
            ("status", "active"),
            ("description", "Hand-dyed cotton."),
        ])
        .await;
    app.create_product(&[
        ("title", "Leather Sandals"),
        ("price", "9000"),
        ("status", "active"),
    ])
    .await;
    let variant: Uuid =
        sqlx::query_scalar("select id from product_variants where product_id = $1::uuid")
            .bind(&id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    (id, variant)
}

#[tokio::test]
async fn the_assistant_takes_an_order_in_the_chat_from_a_search_to_its_number() {
    let app = agent_app().await;
    let (number, shop, _) = merchant_with_number(&app).await;
    let (product, variant) = scarf(&app, "5").await;

    // The first answer says it is automated, and offers the menu.
    let hello = one(says(&app, &number, &["Hi"]).await);
    assert!(
        body(&hello).contains("automated assistant"),
        "{}",
        body(&hello)
    );
    assert_eq!(choices(&hello), ["browse", "orders", "human"]);

    // A sentence finds the product; the price comes from the catalog.
    let found = one(says(&app, &number, &["do you have an indigo scarf?"]).await);
    assert!(!body(&found).contains("automated"), "said once");
    assert_eq!(choices(&found), [format!("p:{product}")]);
    let row = &found["interactive"]["action"]["sections"][0]["rows"][0];
    assert_eq!(row["title"], "Adire Indigo Scarf");
    assert_eq!(row["description"], "₦2,500.00");

    let card = one(taps(&app, &number, &format!("p:{product}")).await);
    assert!(body(&card).contains("₦2,500.00"), "{}", body(&card));
    assert!(body(&card).contains("In stock"));
    assert!(body(&card).contains("/p/adire-indigo-scarf"));
    assert_eq!(choices(&card)[0], format!("o:{variant}"));

    let ask = one(taps(&app, &number, &format!("o:{variant}")).await);
    assert!(body(&ask).contains("How many"), "{}", body(&ask));
    // Questions are checked: more than the stock, then not a number.
    let more = one(says(&app, &number, &["9"]).await);
    assert!(body(&more).contains("only 5 left"), "{}", body(&more));
    let bad = one(says(&app, &number, &["lots"]).await);
    assert!(body(&bad).contains("number from 1 to 99"), "{}", body(&bad));
    let name = one(says(&app, &number, &["2"]).await);
    assert_eq!(
        choices(&name),
        ["use_name"],
        "the WhatsApp profile name is offered"
    );
    let address = one(taps(&app, &number, "use_name").await);
    assert!(body(&address).contains("deliver"), "{}", body(&address));
    let short = one(says(&app, &number, &["here"]).await);
    assert!(body(&short).contains("full delivery address"));
    let summary = one(says(&app, &number, &["12 Marina Road, Lagos Island"]).await);
    let text = body(&summary);
    assert!(
        text.contains("2 × Adire Indigo Scarf — ₦2,500.00"),
        "{text}"
    );
    assert!(text.contains("Total: *₦5,000.00*"), "{text}");
    assert!(
        text.contains("Chidi, 12 Marina Road, Lagos Island"),
        "{text}"
    );
    assert_eq!(choices(&summary), ["confirm", "cancel"]);

    let done = one(taps(&app, &number, "confirm").await);
    assert!(
        body(&done).contains("order #1001 is placed"),
        "{}",
        body(&done)
    );
    assert!(body(&done).contains("₦5,000.00"));
    // The order is the storefront's kind: database price, stock taken, the chat's customer.
    let (total, name, address, phone): (i64, String, String, String) = sqlx::query_as(
        "select total_minor, customer_name, address, phone from orders where shop_id = $1",
    )
    .bind(shop)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        (total, name.as_str(), address.as_str(), phone.as_str()),
        (
            500000,
            "Chidi",
            "12 Marina Road, Lagos Island",
            "+2348035550001"
        )
    );
    let stock: i32 = sqlx::query_scalar("select stock from product_variants where id = $1")
        .bind(variant)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stock, 3);
    // The merchant's thread notes it; the customer can ask for their order's status.
    let note: i64 = sqlx::query_scalar(
        "select count(*) from wa_messages where shop_id = $1 and direction = 'note'
         and body like 'Order #1001 was placed%'",
    )
    .bind(shop)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(note, 1);
    let status = one(taps(&app, &number, "orders").await);
    assert!(
        body(&status).contains("#1001: ₦5,000.00 — received"),
        "{}",
        body(&status)
    );
    // Every agent message is marked as the agent's in the thread.
    let agent: i64 = sqlx::query_scalar(
        "select count(*) from wa_messages where shop_id = $1 and sent_by = 'agent'",
    )
    .bind(shop)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(agent, 12);
    // The overview counts the chat and the order it brought.
    let o = json(app.call("overview", &[]).await).await;
    assert_eq!(o["chat"]["agent_conversations"], 1, "{o}");
    assert_eq!(o["chat"]["assisted_orders"], 1);
    assert_eq!(o["chat"]["assisted_value"], "₦5,000.00");
    assert_eq!(o["chat"]["handovers"], 0);
    assert!(o["chat"]["median_first_response_secs"].is_i64(), "{o}");
}

#[tokio::test]
async fn a_burst_of_messages_gets_one_answer_in_the_customers_language() {
    let app = agent_app().await;
    let (number, _, _) = merchant_with_number(&app).await;
    scarf(&app, "5").await;
    // Three quick messages: one answer, to all of them.
    let replies = says(&app, &number, &["Hola", "busco", "sandalias de cuero"]).await;
    let reply = one(replies);
    assert!(
        body(&reply).contains("Soy el asistente automático"),
        "{}",
        body(&reply)
    );
    // "sandalias" is close enough to "Sandals" to find them; the answer is in Spanish.
    assert!(
        body(&reply).contains("Esto es lo que encontré para"),
        "{}",
        body(&reply)
    );
    let row = &reply["interactive"]["action"]["sections"][0]["rows"][0];
    assert_eq!(row["title"], "Leather Sandals");
    assert_eq!(row["description"], "₦9,000.00");
    // Too short to tell the language: the conversation's stays. Nothing found: the menu.
    let none = one(says(&app, &number, &["cámara digital"]).await);
    assert!(body(&none).contains("No encontré nada"), "{}", body(&none));
    let buttons: Vec<&str> = none["interactive"]["action"]["buttons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["reply"]["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        buttons,
        ["Ver productos", "Mi pedido", "Hablar con alguien"]
    );
    // A customer who switches language is answered in the new one.
    let pt = one(says(&app, &number, &["Olá"]).await);
    assert!(body(&pt).contains("O que você gostaria"), "{}", body(&pt));
    let fr = one(says(&app, &number, &["Bonjour"]).await);
    assert!(body(&fr).contains("Que souhaitez-vous"), "{}", body(&fr));
}

#[tokio::test]
async fn asking_for_a_person_hands_over_once_alerts_the_merchant_and_stops_the_agent() {
    let app = agent_app().await;
    let (number, shop, email) = merchant_with_number(&app).await;
    sqlx::query("update wa_accounts set alert_phone = '+2348099990000' where shop_id = $1")
        .bind(shop)
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query(
        "insert into wa_templates (id, shop_id, meta_id, name, language, category, status, body_text, body_params)
         values ($1, $2, 'tpl-1', 'bizmaat_needs_you', 'en', 'UTILITY', 'APPROVED',
                 'A customer needs you on WhatsApp: {{1}}. Open your Bizmaat inbox to reply.', 1)",
    )
    .bind(Uuid::now_v7())
    .bind(shop)
    .execute(&app.pool)
    .await
    .unwrap();

    let handover = one(says(&app, &number, &["Quiero hablar con una persona"]).await);
    assert!(
        body(&handover).contains("Le pedí a una persona"),
        "in Spanish: {}",
        body(&handover)
    );
    let conversation = conversation_of(&app, shop, CUSTOMER).await;
    let (mode, attention): (String, bool) =
        sqlx::query_as("select mode, needs_attention from conversations where id = $1")
            .bind(conversation)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((mode.as_str(), attention), ("human", true));
    // The merchant's own number gets the approved alert template (it never wrote to the
    // business, so its window is closed), and an email links to the conversation.
    let alert = one(sent_to(&app, "2348099990000"));
    assert_eq!(alert["type"], "template", "{alert}");
    assert_eq!(alert["template"]["name"], "bizmaat_needs_you");
    assert_eq!(
        alert["template"]["components"][0]["parameters"][0]["text"],
        "Chidi (+2348035550001)"
    );
    let mail = app.last_email_to(&email).await;
    assert!(
        mail.contains(&format!("/dashboard/inbox/{conversation}")),
        "{mail}"
    );

    // While a person has it, the agent is silent, and asking again opens nothing new.
    assert!(says(&app, &number, &["hello?"]).await.is_empty());
    assert!(says(&app, &number, &["human please"]).await.is_empty());
    let open: i64 = sqlx::query_scalar(
        "select count(*) from escalations where conversation_id = $1 and resolved_at is null",
    )
    .bind(conversation)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(open, 1);
    assert_eq!(sent_to(&app, "2348099990000").len(), 1, "one alert");

    // Handed back with one click: the escalation closes and the assistant answers again.
    let id = conversation.to_string();
    let res = app
        .call("inbox/mode", &[("id", id.as_str()), ("mode", "ai")])
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let again = one(says(&app, &number, &["menu"]).await);
    assert_eq!(choices(&again), ["browse", "orders", "human"]);
    // The button works as well as the words, and opens a new escalation (in the language
    // the customer last wrote in: "menu" alone does not change it).
    let handover = one(taps(&app, &number, "human").await);
    assert!(
        body(&handover).contains("Le pedí a una persona"),
        "{}",
        body(&handover)
    );
    let all: i64 =
        sqlx::query_scalar("select count(*) from escalations where conversation_id = $1")
            .bind(conversation)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(all, 2);
}

#[tokio::test]
async fn a_reply_from_the_merchant_stops_a_turn_that_was_about_to_answer() {
    let app = agent_app().await;
    let (number, shop, _) = merchant_with_number(&app).await;
    // The customer's message is stored and its turn queued, but the turn has not run yet.
    let doc = messages_doc(
        &number,
        vec![contact(CUSTOMER, "Chidi")],
        vec![text(CUSTOMER, "wamid.first", now_ts(&app), "hi")],
    );
    deliver(&app, &doc).await;
    app::whatsapp::inbound::drain_inbox(&app.state)
        .await
        .unwrap();
    let conversation = conversation_of(&app, shop, CUSTOMER).await;
    // The merchant answers from the dashboard first.
    queue_text(&app, conversation, "Hello Chidi, Ada here.", "k1").await;
    app.run_jobs().await;
    let sent = sent_to(&app, CUSTOMER);
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(body(&sent[0]), "Hello Chidi, Ada here.");
    let by_agent: i64 = sqlx::query_scalar(
        "select count(*) from wa_messages where conversation_id = $1 and sent_by = 'agent'",
    )
    .bind(conversation)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(by_agent, 0);
}

#[tokio::test]
async fn the_assistant_never_shows_another_shops_product_or_order() {
    let app = agent_app().await;
    let (number, _, _) = merchant_with_number(&app).await;
    // Another shop's product, made by another merchant.
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
    assert_eq!(res.status(), 200);
    let theirs: String = res.json().await.unwrap();
    let their_variant: Uuid =
        sqlx::query_scalar("select id from product_variants where product_id = $1::uuid")
            .bind(&theirs)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    scarf(&app, "5").await;
    one(says(&app, &number, &["hi"]).await);
    // Searching, or tapping ids crafted from the other shop's rows, reaches nothing of it.
    let search = one(says(&app, &number, &["secret bag"]).await);
    assert!(!body(&search).contains("Secret"), "{}", body(&search));
    for id in [format!("p:{theirs}"), format!("o:{their_variant}")] {
        let reply = one(taps(&app, &number, &id).await);
        assert!(!reply.to_string().contains("Secret"), "{reply}");
        assert_eq!(choices(&reply), ["browse", "orders", "human"], "the menu");
    }
}

#[tokio::test]
async fn an_order_above_the_merchants_amount_is_placed_and_then_handed_to_them() {
    let app = agent_app().await;
    let (number, shop, _) = merchant_with_number(&app).await;
    let (_, variant) = scarf(&app, "5").await;

    // The rule is set on the settings card; an amount that is not one is refused by name and
    // changes nothing.
    let bad = app
        .call(
            "agent/settings",
            &[("mode", "assistant"), ("escalate_above", "lots")],
        )
        .await;
    assert_eq!(bad.status(), 422);
    let bad = bad.text().await.unwrap();
    assert!(bad.contains("escalate_above"), "{bad}");
    assert!(bad.contains("Enter an amount"), "{bad}");
    let s = json(app.call("agent/settings/get", &[]).await).await;
    assert_eq!(s["escalate_above"], "", "{s}");
    let ok = app
        .call(
            "agent/settings",
            &[("mode", "assistant"), ("escalate_above", "₦4,000")],
        )
        .await;
    assert_eq!(ok.status(), 200, "{}", ok.text().await.unwrap());
    let s = json(app.call("agent/settings/get", &[]).await).await;
    assert_eq!(s["escalate_above"], "4000.00", "{s}");
    assert_eq!(s["currency"], "NGN");

    // One order at or below the amount: placed, and the assistant keeps the chat.
    let order = |qty: &'static str| {
        let app = &app;
        let number = &number;
        async move {
            one(taps(app, number, &format!("o:{variant}")).await);
            one(says(app, number, &[qty]).await);
            one(taps(app, number, "use_name").await);
            one(says(app, number, &["12 Marina Road, Lagos Island"]).await);
            taps(app, number, "confirm").await
        }
    };
    one(says(&app, &number, &["Hi"]).await);
    let small = one(order("1").await);
    assert!(
        body(&small).contains("order #1001 is placed"),
        "{}",
        body(&small)
    );
    let open: i64 = sqlx::query_scalar("select count(*) from escalations where shop_id = $1")
        .bind(shop)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(open, 0);

    // Above it: the order is placed all the same, then a person is called in.
    // One message: two queued together could reach the customer in either order.
    let big = one(order("2").await);
    let said = body(&big);
    let placed = said.find("order #1002 is placed").expect(&said);
    let asked = said.find("asked a person").expect(&said);
    assert!(placed < asked, "the confirmation comes first: {said}");
    let (reason, summary): (String, String) =
        sqlx::query_as("select reason, summary from escalations where shop_id = $1")
            .bind(shop)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(reason, "merchant_rule");
    assert!(
        summary.contains("Order #1002 for ₦5,000.00 is above your ₦4,000.00 rule"),
        "{summary}"
    );
    let conversation = conversation_of(&app, shop, CUSTOMER).await;
    let mode: String = sqlx::query_scalar("select mode from conversations where id = $1")
        .bind(conversation)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(mode, "human");
    let orders: i64 = sqlx::query_scalar("select count(*) from orders where shop_id = $1")
        .bind(shop)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(orders, 2);
}

#[tokio::test]
async fn a_quiet_takeover_goes_back_to_the_assistant_after_the_shops_timeout() {
    let clock = Clock::manual(
        time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap(),
    );
    let app = agent_app_on(clock.clone()).await;
    let (number, shop, _) = merchant_with_number(&app).await;
    scarf(&app, "5").await;
    let minutes = |m: i64| time::Duration::minutes(m);

    // Only the offered times are taken.
    let bad = app
        .call(
            "agent/settings",
            &[("mode", "assistant"), ("hand_back_after", "7")],
        )
        .await;
    assert_eq!(bad.status(), 422);
    assert!(bad.text().await.unwrap().contains("hand_back_after"));
    let ok = app
        .call(
            "agent/settings",
            &[("mode", "assistant"), ("hand_back_after", "30")],
        )
        .await;
    assert_eq!(ok.status(), 200, "{}", ok.text().await.unwrap());
    let s = json(app.call("agent/settings/get", &[]).await).await;
    assert_eq!(s["hand_back_after"], "30", "{s}");

    one(says(&app, &number, &["Hi"]).await);
    let conversation = conversation_of(&app, shop, CUSTOMER).await;
    let mode = || async {
        sqlx::query_scalar::<_, String>("select mode from conversations where id = $1")
            .bind(conversation)
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };
    // The merchant steps in at minute 0; the customer answers them, and the assistant stays out.
    queue_text(&app, conversation, "Hello, Ada here.", "k1").await;
    app.run_jobs().await;
    clock.advance(minutes(10));
    let quiet = says(&app, &number, &["Thanks, can you hold one for me?"]).await;
    assert!(quiet.is_empty(), "{quiet:#?}");
    // Minute 25: not yet. The merchant writes again, which restarts the wait.
    clock.advance(minutes(15));
    app.run_jobs().await;
    assert_eq!(mode().await, "human");
    queue_text(&app, conversation, "Held until Friday.", "k2").await;
    // Minute 35: the first message's check runs and finds a newer message: still the person's.
    clock.advance(minutes(10));
    app.run_jobs().await;
    assert_eq!(mode().await, "human");
    // Minute 56: thirty minutes after the last message, the assistant has it again.
    clock.advance(minutes(21));
    app.run_jobs().await;
    assert_eq!(mode().await, "ai");
    let note: i64 = sqlx::query_scalar(
        "select count(*) from wa_messages where conversation_id = $1 and direction = 'note'
         and body = 'Handed back to the assistant after 30 minutes without a reply from you.'",
    )
    .bind(conversation)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(note, 1);
    // What the customer wrote to the person stays the person's; the next message is answered.
    let next = one(says(&app, &number, &["indigo scarf"]).await);
    assert!(body(&next).contains("indigo scarf"), "{}", body(&next));
    assert_eq!(
        next["interactive"]["action"]["sections"][0]["rows"][0]["title"],
        "Adire Indigo Scarf"
    );
}

#[tokio::test]
async fn outside_opening_hours_only_the_agent_stays_quiet_while_the_shop_is_open() {
    // Wednesday 2 December 2026, 10:00 in Lagos (09:00 UTC).
    let clock = Clock::manual(time::macros::datetime!(2026-12-02 09:00 UTC));
    let app = agent_app_on(clock.clone()).await;
    let (number, _, _) = merchant_with_number(&app).await;
    let hours =
        |when: &'static str, open: &'static str, close: &'static str, zone: &'static str| {
            vec![
                ("mode", "assistant"),
                ("answers_when", when),
                ("day_1", "on"),
                ("day_2", "on"),
                ("day_3", "on"),
                ("day_4", "on"),
                ("day_5", "on"),
                ("hours_open", open),
                ("hours_close", close),
                ("time_zone", zone),
            ]
        };

    // What a person can get wrong is named field by field.
    for (form, field) in [
        (
            hours("outside_hours", "09:00", "17:00", "Mars/Olympus"),
            "time_zone",
        ),
        (
            hours("outside_hours", "25:00", "17:00", "Africa/Lagos"),
            "hours_open",
        ),
        (
            hours("outside_hours", "09:00", "09:00", "Africa/Lagos"),
            "hours_close",
        ),
        (
            hours("sometimes", "09:00", "17:00", "Africa/Lagos"),
            "answers_when",
        ),
        (
            vec![
                ("mode", "assistant"),
                ("answers_when", "outside_hours"),
                ("hours_open", "09:00"),
                ("hours_close", "17:00"),
                ("time_zone", "Africa/Lagos"),
            ],
            "hours_days",
        ),
    ] {
        let res = app.call("agent/settings", &form).await;
        assert_eq!(res.status(), 422, "{field}");
        assert!(res.text().await.unwrap().contains(field), "{field}");
    }

    let ok = app
        .call(
            "agent/settings",
            &hours("outside_hours", "09:00", "17:00", "Africa/Lagos"),
        )
        .await;
    assert_eq!(ok.status(), 200, "{}", ok.text().await.unwrap());
    let s = json(app.call("agent/settings/get", &[]).await).await;
    assert_eq!(s["answers_when"], "outside_hours");
    assert_eq!(s["hours_days"], json!([1, 2, 3, 4, 5]));
    assert_eq!(
        (s["hours_open"].as_str(), s["hours_close"].as_str()),
        (Some("09:00"), Some("17:00"))
    );
    assert_eq!(
        s["hours_now"],
        "It is Wed 10:00 in Africa/Lagos: within your opening hours; the agent stays quiet and you answer."
    );

    // Open: the merchant answers, the agent says nothing.
    assert_eq!(
        says(&app, &number, &["Hi, are you open?"]).await,
        Vec::<Value>::new()
    );

    // 20:00 in Lagos: closed, and the agent answers.
    clock.set(time::macros::datetime!(2026-12-02 19:00 UTC));
    let evening = one(says(&app, &number, &["Hello?"]).await);
    assert!(
        body(&evening).contains("automated assistant"),
        "{}",
        body(&evening)
    );

    // "Only during opening hours": now closed, so quiet; Thursday noon open; Saturday closed.
    let ok = app
        .call(
            "agent/settings",
            &hours("during_hours", "09:00", "17:00", "Africa/Lagos"),
        )
        .await;
    assert_eq!(ok.status(), 200);
    assert_eq!(
        says(&app, &number, &["Still there?"]).await,
        Vec::<Value>::new()
    );
    clock.set(time::macros::datetime!(2026-12-03 11:00 UTC));
    assert_eq!(says(&app, &number, &["Thursday!"]).await.len(), 1);
    clock.set(time::macros::datetime!(2026-12-05 11:00 UTC));
    assert_eq!(
        says(&app, &number, &["Saturday?"]).await,
        Vec::<Value>::new()
    );

    // A form without the hours (an older page) keeps them.
    let ok = app.call("agent/settings", &[("mode", "assistant")]).await;
    assert_eq!(ok.status(), 200);
    let s = json(app.call("agent/settings/get", &[]).await).await;
    assert_eq!(s["answers_when"], "during_hours");
    assert_eq!(s["time_zone"], "Africa/Lagos");
    assert_eq!(s["away_message"], "");

    // An away message: while the shop is closed, a customer who writes hears it once, not
    // after every message; half a day later it may be said again; when open the agent answers.
    let too_long = "x".repeat(1001);
    let mut form = hours("during_hours", "09:00", "17:00", "Africa/Lagos");
    form.push(("away_message", &too_long));
    let res = app.call("agent/settings", &form).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("away_message"));
    let away = "Thanks for writing! We are closed now and answer from 9:00, Monday to Friday.";
    let mut form = hours("during_hours", "09:00", "17:00", "Africa/Lagos");
    form.push(("away_message", away));
    assert_eq!(app.call("agent/settings", &form).await.status(), 200);
    let s = json(app.call("agent/settings/get", &[]).await).await;
    assert_eq!(s["away_message"], away);
    // Saturday 12:00 in Lagos: closed.
    let first = one(says(&app, &number, &["Do you deliver on Sunday?"]).await);
    assert_eq!(body(&first), away);
    assert_eq!(
        says(&app, &number, &["Hello??"]).await,
        Vec::<Value>::new(),
        "once, not after every message"
    );
    clock.set(time::macros::datetime!(2026-12-06 01:00 UTC));
    assert_eq!(body(&one(says(&app, &number, &["Sunday now"]).await)), away);
    // Monday 10:00 in Lagos: open, and the agent (not the away message) answers.
    clock.set(time::macros::datetime!(2026-12-07 09:00 UTC));
    let open = one(says(&app, &number, &["indigo scarf"]).await);
    assert_ne!(body(&open), away);
    // Who sent it is on record, like any automated message.
    let by: Vec<String> =
        sqlx::query_scalar("select distinct sent_by from wa_messages where body = $1")
            .bind(away)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(by, ["agent"]);
}
