//! The WhatsApp channel against the in-process Graph fake (the simulator): the signed webhook,
//! its processing into customers, conversations, messages and statuses, media, orders, the
//! outbound queue (pacing, idempotency, Meta's errors), the 24-hour window, opt-outs, Embedded
//! Signup and manual setup, and tenancy. Webhooks are signed here over the exact bytes sent.

use crate::helpers::{TestApp, call_with, client, json, png};
use app::platform::clock::Clock;
use app::whatsapp::graph::describe_code;
use app::whatsapp::simulator::{
    Failure, MANUAL_PHONE, MANUAL_TOKEN, MANUAL_WABA, SimNumber, Simulator,
};
use app::whatsapp::ssr::{account_for_shop, account_token, sign};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

pub(crate) use crate::wa_support::*;
/// A customer's WhatsApp number (wa_id: digits, no plus).
const CUSTOMER: &str = "2348031234567";

// ------------------------------------------------------------------------------ helpers

async fn wa_app() -> TestApp {
    wa_app_with(Vec::new(), Clock::system()).await
}

/// A clock that moves only when told to, starting on a whole second (Postgres keeps
/// microseconds, so stored times then compare exactly).
fn manual_clock() -> Clock {
    Clock::manual(OffsetDateTime::now_utc().replace_nanosecond(0).unwrap())
}

fn fail(status: u16, code: i64, times: u32) -> Failure {
    Failure {
        path_suffix: "messages".into(),
        status,
        code,
        message: "Simulated error".into(),
        times,
        accept_then_hang: false,
    }
}

fn statuses_doc(number: &SimNumber, statuses: Vec<Value>) -> Value {
    Simulator::envelope(number, json!({"statuses": statuses}))
}

pub(crate) async fn deliver_and_process(app: &TestApp, doc: &Value) {
    deliver(app, doc).await;
    app.run_jobs().await;
}

/// The customer writes "hello" (opens the window); returns the conversation id.
async fn customer_writes(
    app: &TestApp,
    number: &SimNumber,
    shop: Uuid,
    from: &str,
    wamid: &str,
) -> Uuid {
    let doc = messages_doc(
        number,
        vec![contact(from, "Chidi")],
        vec![text(from, wamid, now_ts(app), "hello")],
    );
    deliver_and_process(app, &doc).await;
    conversation_of(app, shop, from).await
}

pub(crate) async fn send_text_with(
    app: &TestApp,
    c: &reqwest::Client,
    conversation: Uuid,
    body: &str,
    key: &str,
) -> reqwest::Response {
    post_json(
        app,
        c,
        "inbox/send",
        json!({"id": conversation, "message": {"type": "text", "body": body}, "idempotency_key": key}),
    )
    .await
}

/// Queues a text from the composer and returns the message id.
pub(crate) async fn queue_text(app: &TestApp, conversation: Uuid, body: &str, key: &str) -> Uuid {
    let res = send_text_with(app, &app.client, conversation, body, key).await;
    assert_eq!(
        res.status(),
        200,
        "inbox/send: {}",
        res.text().await.unwrap()
    );
    serde_json::from_value(json(res).await).expect("the message id")
}

#[derive(Debug, sqlx::FromRow)]
struct Msg {
    direction: String,
    sent_by: String,
    wamid: Option<String>,
    kind: String,
    body: String,
    status: String,
    error_code: Option<i32>,
    error_text: Option<String>,
    send_attempts: i32,
    media_status: Option<String>,
    media_file_id: Option<Uuid>,
    media_mime: Option<String>,
    media_error: Option<String>,
}

const MSG_COLUMNS: &str = "direction, sent_by, wamid, kind, body, status, error_code, error_text,
    send_attempts, media_status, media_file_id, media_mime, media_error";

async fn message(app: &TestApp, id: Uuid) -> Msg {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {MSG_COLUMNS} from wa_messages where id = $1"
    )))
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

async fn message_by_wamid(app: &TestApp, shop: Uuid, wamid: &str) -> Msg {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {MSG_COLUMNS} from wa_messages where shop_id = $1 and wamid = $2"
    )))
    .bind(shop)
    .bind(wamid)
    .fetch_one(&app.pool)
    .await
    .unwrap_or_else(|e| panic!("no message {wamid}: {e}"))
}

async fn message_id_by_wamid(app: &TestApp, shop: Uuid, wamid: &str) -> Uuid {
    sqlx::query_scalar("select id from wa_messages where shop_id = $1 and wamid = $2")
        .bind(shop)
        .bind(wamid)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn count(app: &TestApp, sql: &'static str, shop: Uuid) -> i64 {
    sqlx::query_scalar(sql)
        .bind(shop)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn count_all(app: &TestApp, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.pool).await.unwrap()
}

/// The send job of a message: (state, attempts, run_at, last_error).
async fn send_job(
    app: &TestApp,
    message_id: Uuid,
) -> (String, i32, Option<OffsetDateTime>, Option<String>) {
    sqlx::query_as(
        "select state, attempts, run_at, last_error from jobs
         where kind = 'wa_send' and payload->>'message_id' = $1::text
         order by created_at desc limit 1",
    )
    .bind(message_id)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

async fn get_conversation(app: &TestApp, c: &reqwest::Client, id: Uuid) -> reqwest::Response {
    call_with(c, &app.url("/api/inbox/get"), &[("id", &id.to_string())]).await
}

async fn conversation_view(app: &TestApp, id: Uuid) -> Value {
    let res = get_conversation(app, &app.client, id).await;
    assert_eq!(res.status(), 200);
    json(res).await
}

async fn field_error(res: reqwest::Response, field: &str) -> String {
    let status = res.status();
    let body = json(res).await;
    assert_eq!(status, 422, "expected a validation error, got {body}");
    body["fields"][field]
        .as_str()
        .unwrap_or_else(|| panic!("no message on {field}: {body}"))
        .to_string()
}

// ------------------------------------------------------------------------------ handshake, signature

#[tokio::test]
async fn the_webhook_handshake_echoes_the_challenge_only_for_the_right_token_and_mode() {
    let app = wa_app().await;
    let res = app
        .get(&format!(
            "/webhooks/whatsapp?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={VERIFY_TOKEN}"
        ))
        .await;
    assert_eq!(res.status(), 200);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    assert_eq!(res.text().await.unwrap(), "1158201444");

    let wrong_token = app
        .get("/webhooks/whatsapp?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=vibecoding")
        .await;
    assert_eq!(wrong_token.status(), 403);
    assert!(!wrong_token.text().await.unwrap().contains("1158201444"));
    let wrong_mode = app
        .get(&format!(
            "/webhooks/whatsapp?hub.mode=unsubscribe&hub.challenge=1158201444&hub.verify_token={VERIFY_TOKEN}"
        ))
        .await;
    assert_eq!(wrong_mode.status(), 403);
    let no_token = app
        .get("/webhooks/whatsapp?hub.mode=subscribe&hub.challenge=1158201444")
        .await;
    assert_eq!(no_token.status(), 403);
}

#[tokio::test]
async fn only_webhooks_signed_over_the_exact_bytes_received_are_stored() {
    let app = wa_app().await;
    let stored = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from wa_webhook_events")
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };
    let body = br#"{"object":"whatsapp_business_account","entry":[]}"#.to_vec();

    let good = post_signed(&app, "/webhooks/whatsapp", PLATFORM_SECRET, body.clone()).await;
    assert_eq!(good.status(), 200);
    assert_eq!(stored().await, 1);
    let raw: Vec<u8> = sqlx::query_scalar("select body from wa_webhook_events")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(raw, body, "the raw bytes are kept as received");

    let bad = post_signed(
        &app,
        "/webhooks/whatsapp",
        b"some-other-secret",
        body.clone(),
    )
    .await;
    assert_eq!(bad.status(), 401);
    assert_eq!(stored().await, 1);

    let missing = app
        .client
        .post(app.url("/webhooks/whatsapp"))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 401);
    let malformed = app
        .client
        .post(app.url("/webhooks/whatsapp"))
        .header("x-hub-signature-256", "sha256=not-hex")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 401);
    assert_eq!(stored().await, 1);

    // Meta signs the escaped form; the same JSON with literal characters is other bytes.
    let escaped =
        r#"{"object":"whatsapp_business_account","entry":[],"note":"\u00e4\u00f6\u00e5"}"#
            .as_bytes()
            .to_vec();
    let literal = r#"{"object":"whatsapp_business_account","entry":[],"note":"äöå"}"#
        .as_bytes()
        .to_vec();
    assert_eq!(
        serde_json::from_slice::<Value>(&escaped).unwrap(),
        serde_json::from_slice::<Value>(&literal).unwrap(),
        "the same document"
    );
    let reserialized = app
        .client
        .post(app.url("/webhooks/whatsapp"))
        .header("x-hub-signature-256", sign(PLATFORM_SECRET, &escaped))
        .body(literal)
        .send()
        .await
        .unwrap();
    assert_eq!(reserialized.status(), 401);
    assert_eq!(stored().await, 1);
    let as_signed = post_signed(&app, "/webhooks/whatsapp", PLATFORM_SECRET, escaped.clone()).await;
    assert_eq!(as_signed.status(), 200);
    assert_eq!(stored().await, 2);

    // Meta's deliveries are at most 3 MB: a big one is taken, a bigger one refused unread.
    let padded = |len: usize| {
        let head = br#"{"object":"whatsapp_business_account","entry":[],"pad":""#;
        let mut v = head.to_vec();
        v.resize(len - 2, b'x');
        v.extend_from_slice(b"\"}");
        v
    };
    let big = post_signed(
        &app,
        "/webhooks/whatsapp",
        PLATFORM_SECRET,
        padded(3 * 1024 * 1024 - 1024),
    )
    .await;
    assert_eq!(big.status(), 200, "a delivery under 3 MB is accepted");
    assert_eq!(stored().await, 3);
    let too_big = post_signed(
        &app,
        "/webhooks/whatsapp",
        PLATFORM_SECRET,
        padded(3 * 1024 * 1024 + 1),
    )
    .await;
    assert_eq!(too_big.status(), 413);
    assert_eq!(stored().await, 3);
}

// ------------------------------------------------------------------------------ processing

#[tokio::test]
async fn a_batched_delivery_stores_every_message_once_in_the_shop_that_owns_the_number() {
    let app = wa_app().await;
    let (a_number, a_shop, _) = merchant_with_number(&app).await;
    let (b_client, b_email) = second_merchant(&app, "Bola").await;
    let b_number = connect_with(&app, &b_client).await;
    let b_shop = shop_of(&app, &b_email).await;
    let ts = now_ts(&app);
    let other = "447700900123";
    let stranger = SimNumber {
        id: "999999999".into(),
        waba_id: "888888888".into(),
        display: "+1 555 000 0000".into(),
        verified_name: String::new(),
        pin: None,
        coexistence: false,
    };
    // Two entries; the first has two changes; one change for a number nobody here owns.
    let doc = json!({"object": "whatsapp_business_account", "entry": [
        {"id": a_number.waba_id, "changes": [
            {"field": "messages", "value": value(&a_number, json!({
                "contacts": [contact(CUSTOMER, "Chidi"), contact(other, "Olu")],
                "messages": [text(CUSTOMER, "wamid.A1", ts, "first to A"), text(other, "wamid.A2", ts + 1, "second to A")]}))},
            {"field": "messages", "value": value(&a_number, json!({
                "statuses": [{"id": "wamid.outA", "status": "delivered", "timestamp": ts.to_string(), "recipient_id": CUSTOMER}]}))}
        ]},
        {"id": b_number.waba_id, "changes": [
            {"field": "messages", "value": value(&b_number, json!({
                "contacts": [contact(CUSTOMER, "Chidi B")],
                "messages": [text(CUSTOMER, "wamid.B1", ts + 2, "first to B")],
                "statuses": [{"id": "wamid.outB", "status": "read", "timestamp": ts.to_string(), "recipient_id": CUSTOMER}]}))}
        ]},
        {"id": stranger.waba_id, "changes": [
            {"field": "messages", "value": value(&stranger, json!({
                "contacts": [contact(CUSTOMER, "Chidi")],
                "messages": [text(CUSTOMER, "wamid.X1", ts, "not for us")]}))}
        ]}
    ]});
    deliver(&app, &doc).await;
    let report = app.run_jobs().await;
    assert!(report.done >= 1, "{report:?}");

    let wamids = |shop: Uuid| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, String>(
                "select wamid from wa_messages where shop_id = $1 order by wamid",
            )
            .bind(shop)
            .fetch_all(&pool)
            .await
            .unwrap()
        }
    };
    assert_eq!(wamids(a_shop).await, vec!["wamid.A1", "wamid.A2"]);
    assert_eq!(wamids(b_shop).await, vec!["wamid.B1"]);
    let nowhere: i64 =
        sqlx::query_scalar("select count(*) from wa_messages where wamid = 'wamid.X1'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(nowhere, 0, "a number of no shop here is ignored");
    let statuses = |shop: Uuid| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, String>(
                "select wamid || ':' || status from wa_status_events where shop_id = $1",
            )
            .bind(shop)
            .fetch_all(&pool)
            .await
            .unwrap()
        }
    };
    assert_eq!(statuses(a_shop).await, vec!["wamid.outA:delivered"]);
    assert_eq!(statuses(b_shop).await, vec!["wamid.outB:read"]);
    let (processed, error): (Option<OffsetDateTime>, Option<String>) =
        sqlx::query_as("select processed_at, error from wa_webhook_events")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(processed.is_some());
    assert_eq!(error, None);

    // The same customer number is a separate customer in each shop; each inbox lists its own.
    let a_list = json(app.call("inbox/list", &[]).await).await;
    let names: Vec<&str> = a_list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["customer_name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(
        names.contains(&"Chidi") && names.contains(&"Olu"),
        "{names:?}"
    );
    let b_list = json(call_with(&b_client, &app.url("/api/inbox/list"), &[]).await).await;
    let b_rows = b_list.as_array().unwrap();
    assert_eq!(b_rows.len(), 1);
    assert_eq!(b_rows[0]["customer_name"], "Chidi B");
    assert_eq!(b_rows[0]["last_preview"], "first to B");
}

#[tokio::test]
async fn every_kind_of_inbound_message_is_stored_and_none_is_dropped() {
    let app = wa_app().await;
    let (number, shop, _) = merchant_with_number(&app).await;
    let s = sim(&app);
    let ts = now_ts(&app);
    let media = |kind: &str, mime: &str, extra: Value| {
        let id = s.add_media(format!("{kind} bytes").into_bytes(), mime);
        let mut part = json!({"id": id, "mime_type": mime, "sha256": "abc"});
        if let (Value::Object(p), Value::Object(e)) = (&mut part, extra) {
            p.extend(e);
        }
        part
    };
    let m = |id: &str, kind: &str, part: Value| {
        let mut v = json!({"from": CUSTOMER, "id": id, "timestamp": ts.to_string(), "type": kind});
        v[kind] = part;
        v
    };
    let mut messages = vec![
        text(CUSTOMER, "wamid.text", ts, "Does it come in another color?"),
        m(
            "wamid.image",
            "image",
            media("image", "image/jpeg", json!({"caption": "This one"})),
        ),
        m(
            "wamid.audio",
            "audio",
            media("audio", "audio/ogg", json!({"voice": true})),
        ),
        m(
            "wamid.video",
            "video",
            media("video", "video/mp4", json!({})),
        ),
        m(
            "wamid.document",
            "document",
            media(
                "document",
                "application/pdf",
                json!({"filename": "invoice.pdf"}),
            ),
        ),
        m(
            "wamid.sticker",
            "sticker",
            media("sticker", "image/webp", json!({"animated": false})),
        ),
        m(
            "wamid.location",
            "location",
            json!({"latitude": 6.5244, "longitude": 3.3792, "name": "Yaba Market", "address": "Herbert Macaulay Way"}),
        ),
        m(
            "wamid.button_reply",
            "interactive",
            json!({"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes, please"}}),
        ),
        m(
            "wamid.list_reply",
            "interactive",
            json!({"type": "list_reply", "list_reply": {"id": "m", "title": "Size M", "description": "Medium"}}),
        ),
        m(
            "wamid.nfm_reply",
            "interactive",
            json!({"type": "nfm_reply", "nfm_reply": {"name": "flow", "body": "Sent", "response_json": "{\"size\":\"M\"}"}}),
        ),
        m(
            "wamid.button",
            "button",
            json!({"payload": "More info", "text": "More info"}),
        ),
        m(
            "wamid.order",
            "order",
            json!({"catalog_id": "194836987003835", "text": "", "product_items": [
            {"product_retailer_id": "not-ours", "quantity": 2, "item_price": 7.99, "currency": "USD"}]}),
        ),
        m(
            "wamid.reaction",
            "reaction",
            json!({"message_id": "wamid.text", "emoji": "👍"}),
        ),
        m(
            "wamid.system",
            "system",
            json!({"body": "Chidi changed their phone number", "wa_id": "2348039999999", "type": "user_changed_number"}),
        ),
        json!({"from": CUSTOMER, "id": "wamid.unsupported", "timestamp": ts.to_string(), "type": "unsupported",
               "errors": [{"code": 131051, "title": "Message type unknown", "message": "Message type unknown",
                           "error_data": {"details": "Message type is currently not supported."}}]}),
        json!({"from": CUSTOMER, "id": "wamid.hologram", "timestamp": ts.to_string(), "type": "hologram", "hologram": {"beam": 3}}),
    ];
    messages.push(m(
        "wamid.contacts",
        "contacts",
        json!([{"name": {"formatted_name": "Ngozi Okafor", "first_name": "Ngozi"},
                "phones": [{"phone": "+234 803 555 0101", "type": "CELL"}]}]),
    ));
    let total = messages.len() as i64;
    deliver_and_process(
        &app,
        &messages_doc(&number, vec![contact(CUSTOMER, "Chidi")], messages),
    )
    .await;

    let kinds: Vec<(String, String)> = sqlx::query_as(
        "select wamid, kind from wa_messages where shop_id = $1 and direction = 'in' order by wamid",
    )
    .bind(shop)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(kinds.len() as i64, total, "{kinds:?}");
    let kind_of = |w: &str| {
        kinds
            .iter()
            .find(|(id, _)| id == w)
            .map(|(_, k)| k.as_str())
            .unwrap()
    };
    assert_eq!(kind_of("wamid.hologram"), "hologram");
    assert_eq!(kind_of("wamid.unsupported"), "unsupported");
    assert_eq!(kind_of("wamid.button_reply"), "interactive");
    // Every attachment was copied.
    let media_states: Vec<(String, Option<String>)> = sqlx::query_as(
        "select kind, media_status from wa_messages where shop_id = $1 and media_id is not null order by kind",
    )
    .bind(shop)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(media_states.len(), 5);
    assert!(
        media_states
            .iter()
            .all(|(_, s)| s.as_deref() == Some("stored")),
        "{media_states:?}"
    );

    let conversation = conversation_of(&app, shop, CUSTOMER).await;
    let view = conversation_view(&app, conversation).await;
    let shown = view["messages"].as_array().unwrap();
    let by_kind_body = |kind: &str, body: &str| {
        shown
            .iter()
            .find(|m| m["kind"] == kind && m["body"] == body)
            .unwrap_or_else(|| panic!("no {kind} message reading {body:?} in {shown:#?}"))
    };
    let hologram = by_kind_body("hologram", "Unsupported message");
    assert_eq!(hologram["direction"], "in");
    by_kind_body("unsupported", "Unsupported message");
    by_kind_body("interactive", "Yes, please");
    by_kind_body("interactive", "Size M");
    by_kind_body("interactive", "Sent");
    by_kind_body("button", "More info");
    by_kind_body("location", "Yaba Market");
    by_kind_body("system", "Chidi changed their phone number");
    by_kind_body("image", "This one");
    by_kind_body("audio", "Voice message");
    by_kind_body("document", "invoice.pdf");
    by_kind_body("sticker", "Sticker");
    by_kind_body("video", "Video");
    let contacts = by_kind_body("contacts", "Shared contact");
    assert!(
        contacts["details"][0]
            .as_str()
            .unwrap()
            .contains("Ngozi Okafor")
    );
    by_kind_body("order", "Order (1 items)");
    // The reaction is shown on the message it reacts to.
    let reacted = by_kind_body("text", "Does it come in another color?");
    assert_eq!(reacted["reaction"], "👍");
    assert!(shown.iter().all(|m| m["kind"] != "reaction"));
    // The cart named a product this shop does not have: a note says so in words, no order.
    let notes: Vec<&str> = shown
        .iter()
        .filter(|m| m["direction"] == "note")
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        notes,
        vec![
            "This WhatsApp cart could not become an order: The cart has an item (not-ours) that is not in this shop's catalog."
        ]
    );
    assert_eq!(
        count(&app, "select count(*) from orders where shop_id = $1", shop).await,
        0
    );
}

#[tokio::test]
async fn the_same_delivery_twice_makes_one_message_and_one_unread() {
    let app = wa_app().await;
    let (number, shop, _) = merchant_with_number(&app).await;
    let doc = messages_doc(
        &number,
        vec![contact(CUSTOMER, "Chidi")],
        vec![text(CUSTOMER, "wamid.dup", now_ts(&app), "hi")],
    );
    deliver(&app, &doc).await;
    deliver(&app, &doc).await;
    app.run_jobs().await;
    // A retry after it was processed changes nothing either.
    deliver_and_process(&app, &doc).await;
    assert_eq!(
        count_all(
            &app,
            "select count(*) from wa_webhook_events where processed_at is not null"
        )
        .await,
        3
    );
    assert_eq!(
        count(
            &app,
            "select count(*) from wa_messages where shop_id = $1",
            shop
        )
        .await,
        1
    );
    let conversation = conversation_of(&app, shop, CUSTOMER).await;
    let unread: i32 = sqlx::query_scalar("select unread_count from conversations where id = $1")
        .bind(conversation)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(unread, 1);
    let list = json(app.call("inbox/list", &[]).await).await;
    assert_eq!(list[0]["unread"], 1);

    // Opening the thread reads it, here and (through a job) on the customer's phone.
    let res = call_with(
        &app.client,
        &app.url("/api/inbox/get"),
        &[("id", &conversation.to_string()), ("mark_read", "true")],
    )
    .await;
    assert_eq!(res.status(), 200);
    app.run_jobs().await;
    assert_eq!(
        json(app.call("inbox/list", &[]).await).await[0]["unread"],
        0
    );
    assert_eq!(sim(&app).read_marks(), vec!["wamid.dup".to_string()]);
}

#[tokio::test]
async fn late_statuses_never_move_a_message_back_and_failed_is_final() {
    let app = wa_app().await;
    let (number, shop, _) = merchant_with_number(&app).await;
    let conversation = customer_writes(&app, &number, shop, CUSTOMER, "wamid.in1").await;
    let id = queue_text(&app, conversation, "It does, in red.", "k1").await;
    app.run_jobs().await;
    let sent = sim(&app).sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, CUSTOMER);
    assert_eq!(sent[0].body["text"]["body"], "It does, in red.");
    assert_eq!(sent[0].body["biz_opaque_callback_data"], id.to_string());
    let m = message(&app, id).await;
    assert_eq!(m.wamid.as_deref(), Some(sent[0].wamid.as_str()));
    assert_eq!(m.status, "sent");
    let wamid = sent[0].wamid.clone();
    let ts = now_ts(&app);
    let status = |s: &str, at: i64| json!({"id": wamid, "status": s, "timestamp": at.to_string(), "recipient_id": CUSTOMER});

    for (s, at) in [("read", ts + 30), ("delivered", ts + 20), ("sent", ts + 10)] {
        deliver_and_process(&app, &statuses_doc(&number, vec![status(s, at)])).await;
        assert_eq!(message(&app, id).await.status, "read", "after a late {s}");
    }
    let mut kept: Vec<String> =
        sqlx::query_scalar("select status from wa_status_events where wamid = $1")
            .bind(&wamid)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    kept.sort();
    assert_eq!(kept, vec!["delivered", "read", "sent"]);

    let mut failed = status("failed", ts + 40);
    failed["errors"] = json!([{"code": 131026, "title": "Message undeliverable", "message": "Message undeliverable",
                               "error_data": {"details": "Message Undeliverable."}}]);
    deliver_and_process(&app, &statuses_doc(&number, vec![failed])).await;
    let m = message(&app, id).await;
    assert_eq!(m.status, "failed");
    assert_eq!(m.error_code, Some(131026));
    assert_eq!(m.error_text.as_deref(), describe_code(131026));
    // Nothing after failed changes it.
    deliver_and_process(
        &app,
        &statuses_doc(&number, vec![status("played", ts + 50)]),
    )
    .await;
    assert_eq!(message(&app, id).await.status, "failed");
    let view = conversation_view(&app, conversation).await;
    let shown = view["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id.to_string())
        .unwrap()
        .clone();
    assert_eq!(shown["status"], "failed");
    assert_eq!(shown["error"], describe_code(131026).unwrap());
    assert_eq!(shown["can_retry"], true);
}

#[tokio::test]
async fn a_username_contact_without_a_phone_number_keeps_one_conversation() {
    let app = wa_app().await;
    let (number, shop, _) = merchant_with_number(&app).await;
    let bsuid = "US.13491208655302741918";
    let says = |wamid: &str, body: &str| json!({"from_user_id": bsuid, "id": wamid, "timestamp": now_ts(&app).to_string(), "type": "text", "text": {"body": body}});
    let contacts =
        vec![json!({"profile": {"name": "Uma", "username": "uma.styles"}, "user_id": bsuid})];
    deliver_and_process(
        &app,
        &messages_doc(&number, contacts.clone(), vec![says("wamid.u1", "hi")]),
    )
    .await;
    deliver_and_process(
        &app,
        &messages_doc(&number, contacts, vec![says("wamid.u2", "still there?")]),
    )
    .await;

    // phone, wa_id, bsuid, name
    type Customer = (Option<String>, Option<String>, Option<String>, String);
    let customers: Vec<Customer> =
        sqlx::query_as("select phone, wa_id, bsuid, name from customers where shop_id = $1")
            .bind(shop)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        customers,
        vec![(None, None, Some(bsuid.to_string()), "Uma".to_string())]
    );
    let conversations: Vec<Uuid> =
        sqlx::query_scalar("select id from conversations where shop_id = $1")
            .bind(shop)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(conversations.len(), 1);
    assert_eq!(
        count(
            &app,
            "select count(*) from wa_messages where shop_id = $1",
            shop
        )
        .await,
        2
    );
    let view = conversation_view(&app, conversations[0]).await;
    assert_eq!(view["customer_name"], "Uma");
    assert_eq!(view["phone"], "");

    // A reply goes to the user id (Meta's `recipient`), there being no number to write to.
    queue_text(&app, conversations[0], "Hello Uma", "u-reply").await;
    app.run_jobs().await;
    let sent = sim(&app).sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body["recipient"], bsuid);
    assert!(sent[0].body.get("to").is_none(), "{}", sent[0].body);
}

#[tokio::test]
async fn a_username_contact_who_later_shows_their_number_loses_no_message() {
    let app = wa_app().await;
    let (number, shop, _) = merchant_with_number(&app).await;
    let bsuid = "US.55501208655302741918";
    let ts = now_ts(&app);
    // Known by number first (no user id then), then by user id alone, then by both.
    deliver_and_process(
        &app,
        &messages_doc(
            &number,
            vec![contact(CUSTOMER, "Chidi")],
            vec![text(CUSTOMER, "wamid.p1", ts, "by number")],
        ),
    )
    .await;
    deliver_and_process(
        &app,
        &messages_doc(
            &number,
            vec![json!({"profile": {"name": "Chidi"}, "user_id": bsuid})],
            vec![json!({"from_user_id": bsuid, "id": "wamid.p2", "timestamp": ts.to_string(), "type": "text", "text": {"body": "by user id"}})],
        ),
    )
    .await;
    deliver_and_process(
        &app,
        &messages_doc(
            &number,
            vec![json!({"profile": {"name": "Chidi"}, "wa_id": CUSTOMER, "user_id": bsuid})],
            vec![json!({"from": CUSTOMER, "from_user_id": bsuid, "id": "wamid.p3", "timestamp": ts.to_string(), "type": "text", "text": {"body": "by both"}})],
        ),
    )
    .await;
    // Each delivery was processed, none is left retrying or written off.
    let outcomes: Vec<(bool, Option<String>)> =
        sqlx::query_as("select processed_at is not null, error from wa_webhook_events order by id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(outcomes, vec![(true, None), (true, None), (true, None)]);
    let m = message_by_wamid(&app, shop, "wamid.p3").await;
    assert_eq!(m.body, "by both");
    assert_eq!(
        count(
            &app,
            "select count(*) from wa_messages where shop_id = $1",
            shop
        )
        .await,
        3
    );
}

#[tokio::test]
async fn a_reply_from_the_business_app_is_stored_as_the_merchants_and_hands_the_chat_to_a_person() {
    let app = wa_app().await;
    let (number, shop, _) = merchant_with_number(&app).await;
    let conversation = customer_writes(&app, &number, shop, CUSTOMER, "wamid.in1").await;
    let res = app
        .call(
            "inbox/mode",
            &[("id", &conversation.to_string()), ("mode", "ai")],
        )
        .await;
    assert_eq!(res.status(), 200);
    let mode = || async {
        sqlx::query_scalar::<_, String>("select mode from conversations where id = $1")
            .bind(conversation)
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };
    assert_eq!(mode().await, "ai");

    let echo = json!({"object": "whatsapp_business_account", "entry": [{"id": number.waba_id, "changes": [{
        "field": "smb_message_echoes", "value": value(&number, json!({"message_echoes": [{
            "from": digits(&number.display), "to": CUSTOMER, "id": "wamid.echo1",
            "timestamp": now_ts(&app).to_string(), "type": "text", "text": {"body": "On my way with your order"}}]}))}]}]});
    deliver_and_process(&app, &echo).await;
    deliver_and_process(&app, &echo).await;
    let m = message_by_wamid(&app, shop, "wamid.echo1").await;
    assert_eq!(
        (m.direction.as_str(), m.sent_by.as_str(), m.kind.as_str()),
        ("out", "phone", "text")
    );
    assert_eq!(m.body, "On my way with your order");
    assert_eq!(m.status, "sent");
    assert_eq!(mode().await, "human");
    assert_eq!(
        count(
            &app,
            "select count(*) from wa_messages where shop_id = $1 and direction = 'out'",
            shop
        )
        .await,
        1
    );
    let view = conversation_view(&app, conversation).await;
    let shown = view["messages"].as_array().unwrap();
    assert!(
        shown
            .iter()
            .any(|m| m["sent_by"] == "phone" && m["body"] == "On my way with your order")
    );
    assert_eq!(view["state"], "human");
}

#[tokio::test]
async fn a_template_status_update_changes_the_stored_template() {
    let app = wa_app().await;
    let (number, shop, _) = merchant_with_number(&app).await;
    let res = app.call("whatsapp/templates/create", &[]).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    app.run_jobs().await;
    let template = || async {
        sqlx::query_as::<_, (String, String, Option<String>)>(
            "select status, reason, meta_id from wa_templates where shop_id = $1 and name = 'bizmaat_order_update' and language = 'en'",
        )
        .bind(shop)
        .fetch_one(&app.pool)
        .await
        .unwrap()
    };
    let (status, _, meta_id) = template().await;
    assert_eq!(status, "APPROVED");
    let meta_id: i64 = meta_id.unwrap().parse().unwrap();

    let update = |event: &str, reason: &str| {
        json!({"object": "whatsapp_business_account", "entry": [{"id": number.waba_id, "time": now_ts(&app), "changes": [{
            "field": "message_template_status_update", "value": {
                "event": event, "message_template_id": meta_id, "message_template_name": "bizmaat_order_update",
                "message_template_language": "en", "reason": reason}}]}]})
    };
    deliver_and_process(&app, &update("REJECTED", "INCORRECT_CATEGORY")).await;
    let (status, reason, _) = template().await;
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("REJECTED", "INCORRECT_CATEGORY")
    );
    let channel = json(app.call("whatsapp/channel", &[]).await).await;
    let shown = channel["account"]["templates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "bizmaat_order_update")
        .unwrap()
        .clone();
    assert_eq!(shown["status"], "REJECTED");
    deliver_and_process(&app, &update("APPROVED", "NONE")).await;
    assert_eq!(template().await.0, "APPROVED");
    assert_eq!(template().await.1, "");
}

// ------------------------------------------------------------------------------ media

async fn image_message(app: &TestApp, number: &SimNumber, wamid: &str, media_id: &str) {
    let m = json!({"from": CUSTOMER, "id": wamid, "timestamp": now_ts(app).to_string(), "type": "image",
                   "image": {"id": media_id, "mime_type": "image/png", "sha256": "x", "caption": "Like this"}});
    deliver(
        app,
        &messages_doc(number, vec![contact(CUSTOMER, "Chidi")], vec![m]),
    )
    .await;
}

#[tokio::test]
async fn customer_photos_are_copied_and_shown_only_to_their_shop() {
    let app = wa_app().await;
    let (number, shop, _) = merchant_with_number(&app).await;
    let bytes = png(8, 8);
    let media_id = sim(&app).add_media(bytes.clone(), "image/png");
    image_message(&app, &number, "wamid.img", &media_id).await;
    app.run_jobs().await;
    let m = message_by_wamid(&app, shop, "wamid.img").await;
    assert_eq!(m.media_status.as_deref(), Some("stored"));
    assert_eq!(m.media_mime.as_deref(), Some("image/png"));
    assert_eq!(m.body, "Like this");
    let file = m.media_file_id.expect("a stored copy");

    let view = conversation_view(&app, conversation_of(&app, shop, CUSTOMER).await).await;
    let url = view["messages"][0]["media"]["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(url, format!("/dashboard/inbox/media/{file}"));
    let res = app.get(&url).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/png");
    assert_eq!(res.bytes().await.unwrap().to_vec(), bytes);

    let (other, _) = second_merchant(&app, "Bola").await;
    let res = app.get_with(&other, &url).await;
    assert_eq!(res.status(), 404);
    let anonymous = app.get_with(&client(), &url).await;
    assert_ne!(anonymous.status(), 200);
    assert_ne!(anonymous.bytes().await.unwrap().to_vec(), bytes);
}

#[tokio::test]
async fn a_failed_download_is_retried_and_a_lost_file_can_be_asked_for_again() {
    let app = wa_app_with(Vec::new(), manual_clock()).await;
    let (number, shop, _) = merchant_with_number(&app).await;
    let s = sim(&app);

    // Meta's download answers 500 (three times: the client's own quick retries too).
    let media_id = s.add_media(png(4, 4), "image/png");
    s.fail_next(Failure {
        path_suffix: "_media".into(),
        status: 500,
        times: 3,
        ..fail(500, 2, 3)
    });
    image_message(&app, &number, "wamid.retry", &media_id).await;
    app.run_jobs().await;
    assert_eq!(
        message_by_wamid(&app, shop, "wamid.retry")
            .await
            .media_status
            .as_deref(),
        Some("pending")
    );
    let (state, attempts): (String, i32) =
        sqlx::query_as("select state, attempts from jobs where kind = 'wa_fetch_media'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        (state.as_str(), attempts),
        ("queued", 1),
        "retried later, not dead"
    );
    assert_eq!(app.run_jobs().await.ran(), 0, "not due yet");
    app.clock.advance(time::Duration::minutes(1));
    app.run_jobs().await;
    let m = message_by_wamid(&app, shop, "wamid.retry").await;
    assert_eq!(m.media_status.as_deref(), Some("stored"));
    assert_eq!(m.media_error, None);

    // Meta no longer has the file: failed with a message; "try again" queues it again.
    let gone = s.add_media(png(4, 4), "image/png");
    s.forget_media(&gone);
    image_message(&app, &number, "wamid.gone", &gone).await;
    app.run_jobs().await;
    let m = message_by_wamid(&app, shop, "wamid.gone").await;
    assert_eq!(m.media_status.as_deref(), Some("failed"));
    assert!(
        m.media_error
            .as_deref()
            .unwrap()
            .contains("could not be downloaded"),
        "{:?}",
        m.media_error
    );
    let id = message_id_by_wamid(&app, shop, "wamid.gone").await;
    let (other, _) = second_merchant(&app, "Bola").await;
    let res = call_with(
        &other,
        &app.url("/api/inbox/media-retry"),
        &[("id", &id.to_string())],
    )
    .await;
    assert_eq!(res.status(), 404, "another shop cannot touch it");
    let res = app
        .call("inbox/media-retry", &[("id", &id.to_string())])
        .await;
    assert_eq!(res.status(), 200);
    let m = message(&app, id).await;
    assert_eq!(m.media_status.as_deref(), Some("pending"));
    assert_eq!(m.media_error, None);
    let queued: i64 = sqlx::query_scalar(
        "select count(*) from jobs where kind = 'wa_fetch_media' and state = 'queued' and payload->>'message_id' = $1::text",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(queued, 1);
    app.run_jobs().await;
    assert_eq!(
        message(&app, id).await.media_status.as_deref(),
        Some("failed"),
        "still gone at Meta"
    );
}

// ------------------------------------------------------------------------------ outbound

#[tokio::test]
async fn a_send_whose_answer_was_lost_is_never_sent_twice_and_is_matched_by_its_status() {
    let app = wa_app_with(vec![("HTTP_TIMEOUT_SECS", "1".into())], manual_clock()).await;
    let (number, shop, _) = merchant_with_number(&app).await;
    let conversation = customer_writes(&app, &number, shop, CUSTOMER, "wamid.in1").await;
    let s = sim(&app);
    let hang = || Failure {
        accept_then_hang: true,
        ..fail(200, 0, 1)
    };

    s.fail_next(hang());
    let id = queue_text(&app, conversation, "Your order is ready", "crash-1").await;
    app.run_jobs().await;
    assert_eq!(s.sent().len(), 1, "Meta got the message");
    let m = message(&app, id).await;
    assert_eq!(
        (m.status.as_str(), m.wamid.as_deref(), m.send_attempts),
        ("sending", None, 1)
    );
    let (state, attempts, _, _) = send_job(&app, id).await;
    assert_eq!(
        (state.as_str(), attempts),
        ("queued", 0),
        "waiting, no attempt spent"
    );

    app.clock.advance(time::Duration::minutes(1));
    app.run_jobs().await;
    assert_eq!(s.sent().len(), 1, "not sent again");
    assert_eq!(message(&app, id).await.status, "sending");

    // Meta's status webhook carries our id back: the message gets its wamid and status.
    let wamid = s.sent()[0].wamid.clone();
    let status = json!({"id": wamid, "status": "delivered", "timestamp": now_ts(&app).to_string(),
                        "recipient_id": CUSTOMER, "biz_opaque_callback_data": id.to_string()});
    deliver_and_process(&app, &statuses_doc(&number, vec![status])).await;
    let m = message(&app, id).await;
    assert_eq!(
        (m.status.as_str(), m.wamid.as_deref()),
        ("delivered", Some(wamid.as_str()))
    );
    app.clock.advance(time::Duration::minutes(5));
    app.run_jobs().await;
    assert_eq!(message(&app, id).await.status, "delivered");
    assert_eq!(s.sent().len(), 1);
    assert_eq!(send_job(&app, id).await.0, "done");

    // No status ever comes: after the wait the message is reported unconfirmed, not resent.
    s.fail_next(hang());
    let id2 = queue_text(&app, conversation, "Are you there?", "crash-2").await;
    app.run_jobs().await;
    assert_eq!(s.sent().len(), 2);
    app.clock.advance(time::Duration::minutes(2));
    app.run_jobs().await;
    assert_eq!(message(&app, id2).await.status, "sending");
    app.clock.advance(time::Duration::minutes(2));
    app.run_jobs().await;
    let m = message(&app, id2).await;
    assert_eq!(m.status, "failed");
    assert!(
        m.error_text
            .as_deref()
            .unwrap()
            .contains("could not confirm"),
        "{:?}",
        m.error_text
    );
    assert_eq!(s.sent().len(), 2, "never sent twice");
}

#[tokio::test]
async fn a_double_submitted_message_is_queued_and_sent_once() {
    let app = wa_app().await;
    let (number, shop, _) = merchant_with_number(&app).await;
    let conversation = customer_writes(&app, &number, shop, CUSTOMER, "wamid.in1").await;
    let first = queue_text(&app, conversation, "Thanks!", "same-key").await;
    let second = queue_text(&app, conversation, "Thanks!", "same-key").await;
    assert_eq!(first, second);
    app.run_jobs().await;
    assert_eq!(
        count(
            &app,
            "select count(*) from wa_messages where shop_id = $1 and direction = 'out'",
            shop
        )
        .await,
        1
    );
    assert_eq!(sim(&app).sent().len(), 1);
    // The same key after it was sent still sends nothing new.
    assert_eq!(
        queue_text(&app, conversation, "Thanks!", "same-key").await,
        first
    );
    app.run_jobs().await;
    assert_eq!(sim(&app).sent().len(), 1);
}

#[tokio::test]
async fn messages_to_one_customer_are_paced_without_spending_attempts() {
    // Two at once, then one a minute: the test is over long before the third is due.
    let app = wa_app_with(
        vec![
            ("WHATSAPP_PAIR_BURST", "2".into()),
            ("WHATSAPP_PAIR_PERIOD_MS", "60000".into()),
        ],
        Clock::system(),
    )
    .await;
    let (number, shop, _) = merchant_with_number(&app).await;
    let conversation = customer_writes(&app, &number, shop, CUSTOMER, "wamid.in1").await;
    let ids = [
        queue_text(&app, conversation, "one", "p1").await,
        queue_text(&app, conversation, "two", "p2").await,
        queue_text(&app, conversation, "three", "p3").await,
    ];
    app.run_jobs().await;
    assert_eq!(sim(&app).sent().len(), 2);
    let mut waiting = Vec::new();
    for id in ids {
        let m = message(&app, id).await;
        match m.status.as_str() {
            "sent" => {}
            "queued" => waiting.push(id),
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(waiting.len(), 1, "one message waits its turn");
    let (state, attempts, run_at, last_error) = send_job(&app, waiting[0]).await;
    assert_eq!((state.as_str(), attempts), ("queued", 0));
    assert!(
        run_at.unwrap() > OffsetDateTime::now_utc(),
        "rescheduled for later"
    );
    assert!(last_error.unwrap().contains("pacing"));
    assert_eq!(message(&app, waiting[0]).await.send_attempts, 0);

    // Another customer is not held back.
    let other = "447700900123";
    let second = customer_writes(&app, &number, shop, other, "wamid.in2").await;
    queue_text(&app, second, "hello you", "p4").await;
    app.run_jobs().await;
    let sent = sim(&app).sent();
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[2].to, other);
}

#[tokio::test]
async fn meta_refusals_that_retrying_cannot_fix_fail_the_message_in_plain_words() {
    let app = wa_app_with(vec![("WHATSAPP_PAIR_BURST", "100".into())], Clock::system()).await;
    let (number, shop, _) = merchant_with_number(&app).await;
    let conversation = customer_writes(&app, &number, shop, CUSTOMER, "wamid.in1").await;
    let s = sim(&app);
    for code in [131047, 131026, 131021, 132000] {
        s.fail_next(fail(400, code, 1));
        let id = queue_text(
            &app,
            conversation,
            &format!("try {code}"),
            &format!("t{code}"),
        )
        .await;
        app.run_jobs().await;
        let m = message(&app, id).await;
        assert_eq!(m.status, "failed", "{code}");
        assert_eq!(m.error_code, Some(code as i32));
        assert_eq!(m.error_text.as_deref(), describe_code(code), "{code}");
        assert_eq!(m.send_attempts, 1, "{code}: Meta was asked once");
        assert_eq!(send_job(&app, id).await.0, "done", "{code}: not retried");
    }
    assert!(s.sent().is_empty());
    let status: String = sqlx::query_scalar("select status from wa_accounts where shop_id = $1")
        .bind(shop)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(status, "connected");
}

#[tokio::test]
async fn an_expired_token_fails_the_message_and_asks_the_merchant_to_reconnect() {
    let app = wa_app().await;
    let (number, shop, email) = merchant_with_number(&app).await;
    let conversation = customer_writes(&app, &number, shop, CUSTOMER, "wamid.in1").await;
    assert_eq!(
        json(app.call("whatsapp/alert", &[]).await).await,
        Value::Null
    );
    sim(&app).fail_next(fail(401, 190, 1));
    let id = queue_text(&app, conversation, "hello", "t190").await;
    app.run_jobs().await;
    let m = message(&app, id).await;
    assert_eq!(m.status, "failed");
    assert_eq!(m.error_text.as_deref(), describe_code(190));
    let (status, reason): (String, String) =
        sqlx::query_as("select status, status_reason from wa_accounts where shop_id = $1")
            .bind(shop)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(status, "needs_reconnect");
    assert_eq!(reason, describe_code(190).unwrap());
    let subjects: Vec<String> = sqlx::query_scalar(
        "select subject from email_outbox where to_address = $1 and subject like '%WhatsApp%'",
    )
    .bind(&email)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(subjects, vec!["Reconnect your WhatsApp number".to_string()]);
    assert!(
        app.last_email_to(&email)
            .await
            .contains("/dashboard/channels/whatsapp")
    );
    let alert = json(app.call("whatsapp/alert", &[]).await).await;
    assert!(
        alert["message"]
            .as_str()
            .unwrap()
            .contains("needs to be reconnected"),
        "{alert}"
    );
    // Another refusal in the same episode (a media download) sends no second email.
    let media_id = sim(&app).add_media(png(4, 4), "image/png");
    sim(&app).fail_next(Failure {
        path_suffix: media_id.clone(),
        ..fail(401, 190, 1)
    });
    image_message(&app, &number, "wamid.img190", &media_id).await;
    app.run_jobs().await;
    let m = message_by_wamid(&app, shop, "wamid.img190").await;
    assert_eq!(m.media_status.as_deref(), Some("failed"));
    assert!(m.media_error.unwrap().contains(describe_code(190).unwrap()));
    let emails: i64 = sqlx::query_scalar(
        "select count(*) from email_outbox where to_address = $1 and subject like '%WhatsApp%'",
    )
    .bind(&email)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(emails, 1, "one email per episode");
    // Nothing more is sent until the number is reconnected.
    let res = send_text_with(&app, &app.client, conversation, "again", "t190b").await;
    assert!(field_error(res, "message").await.contains("reconnect"));
    assert!(sim(&app).sent().is_empty());
}

#[tokio::test]
async fn throttling_and_server_errors_put_the_message_back_in_the_queue() {
    let app = wa_app_with(vec![("WHATSAPP_PAIR_BURST", "100".into())], manual_clock()).await;
    let (number, shop, _) = merchant_with_number(&app).await;
    let conversation = customer_writes(&app, &number, shop, CUSTOMER, "wamid.in1").await;
    let s = sim(&app);
    for (status, code) in [(400, 130429), (503, 999_999), (400, 131056)] {
        s.fail_next(fail(status, code, 1));
        let id = queue_text(
            &app,
            conversation,
            &format!("busy {code}"),
            &format!("r{code}"),
        )
        .await;
        let before = s.sent().len();
        app.run_jobs().await;
        let m = message(&app, id).await;
        assert_eq!(m.status, "queued", "{code}: back in the queue, not failed");
        assert_eq!(m.send_attempts, 1);
        let (state, attempts, run_at, _) = send_job(&app, id).await;
        assert_eq!(
            (state.as_str(), attempts),
            ("queued", 1),
            "{code}: a retry is scheduled"
        );
        assert!(run_at.unwrap() > app.clock.now());
        assert_eq!(s.sent().len(), before);
        app.clock.advance(time::Duration::minutes(20));
        app.run_jobs().await;
        let m = message(&app, id).await;
        assert_eq!(m.status, "sent", "{code}: sent on the retry");
        assert_eq!(s.sent().len(), before + 1);
        assert_eq!(
            s.sent().last().unwrap().body["text"]["body"],
            format!("busy {code}")
        );
    }
}

#[tokio::test]
async fn free_text_needs_the_24_hour_window_but_an_approved_template_does_not() {
    let app = wa_app_with(Vec::new(), manual_clock()).await;
    let (number, shop, _) = merchant_with_number(&app).await;
    let conversation = customer_writes(&app, &number, shop, CUSTOMER, "wamid.in1").await;
    let res = app.call("whatsapp/templates/create", &[]).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    app.run_jobs().await;

    // 23 hours later: still open.
    app.clock.advance(time::Duration::hours(23));
    let view = conversation_view(&app, conversation).await;
    assert_eq!(view["window_secs_left"], 3600);
    let late = queue_text(&app, conversation, "Still here", "w1").await;
    // The job runs after the window closed: checked again at send time.
    app.clock.advance(time::Duration::hours(2));
    app.run_jobs().await;
    let m = message(&app, late).await;
    assert_eq!(m.status, "failed");
    assert_eq!(m.error_code, Some(131047));
    assert!(sim(&app).sent().is_empty());

    // Past 24 hours the composer refuses text, and nothing is queued.
    let outbound = count(
        &app,
        "select count(*) from wa_messages where shop_id = $1 and direction = 'out'",
        shop,
    )
    .await;
    let res = send_text_with(&app, &app.client, conversation, "Hello?", "w2").await;
    assert!(field_error(res, "message").await.contains("24 hours"));
    assert_eq!(
        count(
            &app,
            "select count(*) from wa_messages where shop_id = $1 and direction = 'out'",
            shop
        )
        .await,
        outbound
    );
    assert_eq!(
        conversation_view(&app, conversation).await["window_secs_left"],
        0
    );

    let template = |params: Vec<&str>, key: &str| {
        json!({"id": conversation, "idempotency_key": key, "message": {"type": "template",
               "name": "bizmaat_order_update", "language": "en", "params": params}})
    };
    let res = post_json(
        &app,
        &app.client,
        "inbox/send",
        template(vec!["#1001", "shipped"], "w3"),
    )
    .await;
    assert!(field_error(res, "message").await.contains('3'));
    let res = post_json(
        &app,
        &app.client,
        "inbox/send",
        template(vec!["#1001", "shipped", "Test Traders"], "w4"),
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let id: Uuid = serde_json::from_value(json(res).await).unwrap();
    app.run_jobs().await;
    assert_eq!(message(&app, id).await.status, "sent");
    assert_eq!(
        message(&app, id).await.body,
        "Your order #1001 is now shipped. Thank you for shopping with Test Traders."
    );
    let sent = sim(&app).sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body["type"], "template");
    assert_eq!(sent[0].body["template"]["name"], "bizmaat_order_update");
    assert_eq!(
        sent[0].body["template"]["components"][0]["parameters"][2]["text"],
        "Test Traders"
    );
    let res = post_json(
        &app,
        &app.client,
        "inbox/send",
        json!({"id": conversation, "idempotency_key": "w5", "message": {"type": "template",
               "name": "never_made", "language": "en", "params": []}}),
    )
    .await;
    assert!(field_error(res, "message").await.contains("not approved"));
}

#[tokio::test]
async fn stop_and_start_switch_marketing_off_and_on_with_a_note_in_the_thread() {
    let app = wa_app().await;
    let (number, shop, _) = merchant_with_number(&app).await;
    let opted_out = || async {
        sqlx::query_scalar::<_, bool>(
            "select marketing_opt_out from customers where shop_id = $1 and phone = '+' || $2",
        )
        .bind(shop)
        .bind(CUSTOMER)
        .fetch_one(&app.pool)
        .await
        .unwrap()
    };
    let says = |wamid: &str, body: &str| {
        messages_doc(
            &number,
            vec![contact(CUSTOMER, "Chidi")],
            vec![text(CUSTOMER, wamid, now_ts(&app), body)],
        )
    };
    deliver_and_process(&app, &says("wamid.s0", "please stop by the shop")).await;
    assert!(!opted_out().await);
    deliver_and_process(&app, &says("wamid.s1", "STOP")).await;
    assert!(opted_out().await);
    let conversation = conversation_of(&app, shop, CUSTOMER).await;
    let notes = || async {
        let view = conversation_view(&app, conversation).await;
        view["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["direction"] == "note")
            .map(|m| m["body"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let n = notes().await;
    assert_eq!(n.len(), 1);
    assert!(n[0].contains("opted out"), "{n:?}");
    assert_eq!(
        conversation_view(&app, conversation).await["marketing_opt_out"],
        true
    );

    deliver_and_process(&app, &says("wamid.s2", "start")).await;
    assert!(!opted_out().await);
    let n = notes().await;
    assert_eq!(n.len(), 2);
    assert!(n[1].contains("opted back in"), "{n:?}");

    // Meta's own preference update (the customer tapped "Stop promotions").
    let prefs = json!({"object": "whatsapp_business_account", "entry": [{"id": number.waba_id, "changes": [{
        "field": "user_preferences", "value": value(&number, json!({"contacts": [contact(CUSTOMER, "Chidi")],
            "user_preferences": [{"wa_id": CUSTOMER, "detail": "User requested to stop marketing messages",
                                  "category": "marketing_messages", "value": "stop", "timestamp": now_ts(&app)}]}))}]}]});
    deliver_and_process(&app, &prefs).await;
    assert!(opted_out().await);
    assert_eq!(notes().await.len(), 3);

    // Opted out: a marketing template is refused; a utility one still goes.
    for (name, category) in [("spring_sale", "MARKETING"), ("delivery_note", "UTILITY")] {
        sqlx::query(
            "insert into wa_templates (id, shop_id, name, language, category, status, body_params, body_text)
             values ($1, $2, $3, 'en', $4, 'APPROVED', 0, 'Hello from the shop')",
        )
        .bind(Uuid::now_v7())
        .bind(shop)
        .bind(name)
        .bind(category)
        .execute(&app.pool)
        .await
        .unwrap();
    }
    let send = |name: &'static str| {
        post_json(
            &app,
            &app.client,
            "inbox/send",
            json!({"id": conversation, "message": {"type": "template", "name": name, "language": "en", "params": []},
                   "idempotency_key": format!("k-{name}")}),
        )
    };
    let refused = send("spring_sale").await;
    assert_eq!(refused.status(), 422);
    assert!(
        json(refused).await["fields"]["message"]
            .as_str()
            .unwrap()
            .contains("opted out")
    );
    assert_eq!(send("delivery_note").await.status(), 200);
    let queued: i64 = sqlx::query_scalar(
        "select count(*) from wa_messages where conversation_id = $1 and kind = 'template'",
    )
    .bind(conversation)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(queued, 1, "only the utility template was queued");
}

#[tokio::test]
async fn one_shop_cannot_read_or_write_another_shops_conversations() {
    let app = wa_app().await;
    let (number, shop, _) = merchant_with_number(&app).await;
    let media_id = sim(&app).add_media(png(4, 4), "image/png");
    let conversation = customer_writes(&app, &number, shop, CUSTOMER, "wamid.in1").await;
    image_message(&app, &number, "wamid.img", &media_id).await;
    app.run_jobs().await;
    let file = message_by_wamid(&app, shop, "wamid.img")
        .await
        .media_file_id
        .unwrap();
    sim(&app).fail_next(fail(400, 131026, 1));
    let failed = queue_text(&app, conversation, "A's reply", "a1").await;
    app.run_jobs().await;
    assert_eq!(message(&app, failed).await.status, "failed");
    assert_eq!(
        get_conversation(&app, &app.client, conversation)
            .await
            .status(),
        200
    );

    let (b, _) = second_merchant(&app, "Bola").await;
    connect_with(&app, &b).await;
    assert_eq!(get_conversation(&app, &b, conversation).await.status(), 404);
    let res = send_text_with(&app, &b, conversation, "hijack", "b1").await;
    assert_eq!(res.status(), 404);
    let res = call_with(
        &b,
        &app.url("/api/inbox/mode"),
        &[("id", &conversation.to_string()), ("mode", "ai")],
    )
    .await;
    assert_eq!(res.status(), 404);
    let res = call_with(
        &b,
        &app.url("/api/inbox/retry"),
        &[("id", &failed.to_string())],
    )
    .await;
    assert_eq!(res.status(), 404);
    assert_eq!(message(&app, failed).await.status, "failed");
    let list = json(call_with(&b, &app.url("/api/inbox/list"), &[]).await).await;
    assert_eq!(list, json!([]));
    assert_eq!(
        app.get_with(&b, &format!("/dashboard/inbox/media/{file}"))
            .await
            .status(),
        404
    );
    assert_eq!(
        count_all(
            &app,
            "select count(*) from wa_messages where body = 'hijack'"
        )
        .await,
        0
    );
    assert!(sim(&app).sent().is_empty());
    assert_eq!(
        sqlx::query_scalar::<_, String>("select mode from conversations where id = $1")
            .bind(conversation)
            .fetch_one(&app.pool)
            .await
            .unwrap(),
        "human"
    );

    // The owner can do what the other shop could not.
    let res = app
        .call("inbox/retry", &[("id", &failed.to_string())])
        .await;
    assert_eq!(res.status(), 200);
    app.run_jobs().await;
    assert_eq!(message(&app, failed).await.status, "sent");
    let media = app.get(&format!("/dashboard/inbox/media/{file}")).await;
    assert_eq!(media.status(), 200);
}

// ------------------------------------------------------------------------------ connecting

async fn account_row(app: &TestApp, shop: Uuid) -> app::whatsapp::ssr::AccountRow {
    account_for_shop(&app.pool, shop)
        .await
        .unwrap()
        .expect("an account")
}

#[tokio::test]
async fn embedded_signup_stores_an_encrypted_token_registers_and_subscribes_the_number() {
    let app = wa_app().await;
    let (number, shop, _) = merchant_with_number(&app).await;
    let a = account_row(&app, shop).await;
    assert_eq!(
        (a.status.as_str(), a.onboarding.as_str()),
        ("connected", "embedded")
    );
    assert_eq!(
        (a.waba_id.as_str(), a.phone_number_id.as_str()),
        (number.waba_id.as_str(), number.id.as_str())
    );
    assert_eq!(a.display_phone, number.display);
    let token = account_token(&app.state, &a)
        .unwrap()
        .expose_secret()
        .to_string();
    assert!(token.starts_with("EAA"), "the token Meta issued");
    assert!(
        !a.access_token_enc
            .windows(token.len())
            .any(|w| w == token.as_bytes()),
        "the token is not stored in the clear"
    );
    assert_eq!(a.token_last4, token[token.len() - 4..]);
    let days = (a.token_expires_at.expect("Meta's token expires") - OffsetDateTime::now_utc())
        .whole_days();
    assert!((59..=60).contains(&days), "{days}");
    let pin = sim(&app)
        .registered_pin(&number.id)
        .expect("the number was registered");
    let stored_pin = app
        .state
        .whatsapp
        .secrets
        .decrypt(
            a.pin_enc.as_ref().unwrap(),
            format!("wa_accounts:{}:pin", a.id).as_bytes(),
        )
        .unwrap();
    assert_eq!(stored_pin.expose_secret(), pin);
    assert!(sim(&app).subscribed().contains(&number.waba_id));
    let channel = app
        .call("whatsapp/channel", &[])
        .await
        .text()
        .await
        .unwrap();
    assert!(!channel.contains(&token), "the token is never shown again");
    let channel: Value = serde_json::from_str(&channel).unwrap();
    assert_eq!(channel["account"]["status"], "connected");
    assert_eq!(channel["account"]["token_last4"], token[token.len() - 4..]);

    // A code works once.
    let again = sim(&app).reauthorize(&number.waba_id);
    let res = post_json(
        &app,
        &app.client,
        "whatsapp/embedded-signup",
        signup_body(&again, "FINISH", &number.waba_id, Some(&number.id)),
    )
    .await;
    assert_eq!(res.status(), 200);
    let res = post_json(
        &app,
        &app.client,
        "whatsapp/embedded-signup",
        signup_body(&again, "FINISH", &number.waba_id, Some(&number.id)),
    )
    .await;
    assert!(field_error(res, "signup").await.contains("already used"));
}

#[tokio::test]
async fn coexistence_signup_skips_registration_and_asks_for_the_business_apps_history() {
    let app = wa_app().await;
    let email = app.signup("Ada Merchant").await;
    let shop = shop_of(&app, &email).await;
    let (code, number) = sim(&app).start_signup(true);
    let res = post_json(
        &app,
        &app.client,
        "whatsapp/embedded-signup",
        signup_body(
            &code,
            "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING",
            &number.waba_id,
            None,
        ),
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let a = account_row(&app, shop).await;
    assert_eq!(a.onboarding, "coexistence");
    assert_eq!(a.phone_number_id, number.id);
    assert!(a.pin_enc.is_none());
    assert_eq!(sim(&app).registered_pin(&number.id), None, "not registered");
    assert!(sim(&app).subscribed().contains(&number.waba_id));
    assert!(sim(&app).smb_syncs().is_empty());
    app.run_jobs().await;
    assert_eq!(
        sim(&app).smb_syncs(),
        vec![
            (number.id.clone(), "smb_app_state_sync".to_string()),
            (number.id.clone(), "history".to_string())
        ]
    );
}

#[tokio::test]
async fn a_signup_that_skipped_the_number_finds_it_in_the_account() {
    let app = wa_app().await;
    let email = app.signup("Ada Merchant").await;
    let shop = shop_of(&app, &email).await;
    let (code, number) = sim(&app).start_signup(false);
    let res = post_json(
        &app,
        &app.client,
        "whatsapp/embedded-signup",
        signup_body(&code, "FINISH_ONLY_WABA", &number.waba_id, None),
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let a = account_row(&app, shop).await;
    assert_eq!(
        (a.phone_number_id.as_str(), a.onboarding.as_str()),
        (number.id.as_str(), "embedded")
    );
    assert!(sim(&app).registered_pin(&number.id).is_some());
}

#[tokio::test]
async fn an_expired_code_a_cancelled_or_failed_signup_connects_nothing() {
    let app = wa_app().await;
    let email = app.signup("Ada Merchant").await;
    let shop = shop_of(&app, &email).await;
    let accounts = || {
        count(
            &app,
            "select count(*) from wa_accounts where shop_id = $1",
            shop,
        )
    };

    let (code, number) = sim(&app).start_signup(false);
    sim(&app).expire_code(&code);
    let res = post_json(
        &app,
        &app.client,
        "whatsapp/embedded-signup",
        signup_body(&code, "FINISH", &number.waba_id, Some(&number.id)),
    )
    .await;
    let message = field_error(res, "signup").await;
    assert!(
        message.contains("expired") && message.contains("30 seconds"),
        "{message}"
    );
    assert_eq!(accounts().await, 0);
    assert_eq!(sim(&app).registered_pin(&number.id), None);

    let (code, number) = sim(&app).start_signup(false);
    let cancel = json!({"result": {"code": "", "event": "CANCEL", "waba_id": ""}});
    let res = post_json(&app, &app.client, "whatsapp/embedded-signup", cancel).await;
    assert!(
        field_error(res, "signup")
            .await
            .contains("closed the Facebook window")
    );
    let error = json!({"result": {"code": code, "event": "ERROR", "waba_id": number.waba_id}});
    let res = post_json(&app, &app.client, "whatsapp/embedded-signup", error).await;
    assert!(
        field_error(res, "signup")
            .await
            .contains("reported an error")
    );
    assert_eq!(accounts().await, 0);
    // The code was never spent: the signup can still finish.
    let res = post_json(
        &app,
        &app.client,
        "whatsapp/embedded-signup",
        signup_body(&code, "FINISH", &number.waba_id, Some(&number.id)),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(accounts().await, 1);
}

#[tokio::test]
async fn reconnecting_replaces_the_token_in_place_and_keeps_the_pin() {
    let app = wa_app().await;
    let (number, shop, _) = merchant_with_number(&app).await;
    let before = account_row(&app, shop).await;
    let old_token = account_token(&app.state, &before)
        .unwrap()
        .expose_secret()
        .to_string();
    let pin = sim(&app).registered_pin(&number.id).unwrap();
    sqlx::query("update wa_accounts set status = 'needs_reconnect', status_reason = 'expired' where shop_id = $1")
        .bind(shop)
        .execute(&app.pool)
        .await
        .unwrap();

    let code = sim(&app).reauthorize(&number.waba_id);
    let res = post_json(
        &app,
        &app.client,
        "whatsapp/embedded-signup",
        signup_body(&code, "FINISH", &number.waba_id, Some(&number.id)),
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let after = account_row(&app, shop).await;
    assert_eq!(after.id, before.id, "the same account row");
    assert_eq!(
        (after.status.as_str(), after.status_reason.as_str()),
        ("connected", "")
    );
    let new_token = account_token(&app.state, &after)
        .unwrap()
        .expose_secret()
        .to_string();
    assert_ne!(new_token, old_token);
    assert_eq!(after.token_last4, new_token[new_token.len() - 4..]);
    assert_eq!(
        sim(&app).registered_pin(&number.id).unwrap(),
        pin,
        "registered again with the same PIN"
    );
    assert_eq!(count_all(&app, "select count(*) from wa_accounts").await, 1);
}

fn manual_number() -> SimNumber {
    SimNumber {
        id: MANUAL_PHONE.into(),
        waba_id: MANUAL_WABA.into(),
        display: "+1 555 010 0201".into(),
        verified_name: String::new(),
        pin: None,
        coexistence: false,
    }
}

#[tokio::test]
async fn manual_setup_gets_its_own_webhook_path_signed_with_the_merchants_app_secret() {
    let app = wa_app().await;
    let email = app.signup("Ada Merchant").await;
    let shop = shop_of(&app, &email).await;
    let app_secret = "0123456789abcdef0123456789abcdef";
    let form = |phone: &'static str, token: &'static str| {
        vec![
            ("phone_number_id", phone),
            ("waba_id", MANUAL_WABA),
            ("access_token", token),
            ("app_secret", app_secret),
        ]
    };
    let res = app
        .call(
            "whatsapp/manual-setup",
            &form(MANUAL_PHONE, "EAAnot-a-token-meta-knows-about"),
        )
        .await;
    assert!(field_error(res, "access_token").await.contains("token"));
    let res = app
        .call("whatsapp/manual-setup", &form("123456789012", MANUAL_TOKEN))
        .await;
    assert!(
        field_error(res, "phone_number_id")
            .await
            .contains("phone number ID")
    );
    assert_eq!(
        count(
            &app,
            "select count(*) from wa_accounts where shop_id = $1",
            shop
        )
        .await,
        0
    );

    let res = app
        .call("whatsapp/manual-setup", &form(MANUAL_PHONE, MANUAL_TOKEN))
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let a = account_row(&app, shop).await;
    assert_eq!(
        (a.onboarding.as_str(), a.status.as_str()),
        ("manual", "connected")
    );
    let key = a.webhook_key.clone().expect("its own webhook path");
    let verify = a.verify_token.clone().expect("its own verify token");
    let secret_enc = a.app_secret_enc.clone().unwrap();
    assert!(
        !secret_enc
            .windows(app_secret.len())
            .any(|w| w == app_secret.as_bytes())
    );
    let channel = json(app.call("whatsapp/channel", &[]).await).await;
    assert_eq!(
        channel["account"]["webhook_url"],
        format!("{}/webhooks/whatsapp/{key}", app.base)
    );
    assert_eq!(channel["account"]["verify_token"], verify.as_str());

    let path = format!("/webhooks/whatsapp/{key}");
    let res = app
        .get(&format!(
            "{path}?hub.mode=subscribe&hub.challenge=424242&hub.verify_token={verify}"
        ))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "424242");
    let res = app
        .get(&format!(
            "{path}?hub.mode=subscribe&hub.challenge=424242&hub.verify_token={VERIFY_TOKEN}"
        ))
        .await;
    assert_eq!(
        res.status(),
        403,
        "the platform token is not this account's"
    );
    assert_eq!(
        app.get(
            "/webhooks/whatsapp/no-such-key?hub.mode=subscribe&hub.challenge=1&hub.verify_token=x"
        )
        .await
        .status(),
        404
    );

    let number = manual_number();
    let doc = |wamid: &str| {
        serde_json::to_vec(&messages_doc(
            &number,
            vec![contact(CUSTOMER, "Chidi")],
            vec![text(CUSTOMER, wamid, now_ts(&app), "manual hello")],
        ))
        .unwrap()
    };
    let res = post_signed(&app, &path, PLATFORM_SECRET, doc("wamid.m0")).await;
    assert_eq!(res.status(), 401, "signed with the platform secret");
    let res = post_signed(&app, &path, app_secret.as_bytes(), doc("wamid.m1")).await;
    assert_eq!(res.status(), 200);
    // The platform path does not accept deliveries for a manual number either.
    let res = post_signed(&app, "/webhooks/whatsapp", PLATFORM_SECRET, doc("wamid.m2")).await;
    assert_eq!(res.status(), 200);
    app.run_jobs().await;
    let stored: Vec<String> =
        sqlx::query_scalar("select wamid from wa_messages where shop_id = $1")
            .bind(shop)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(stored, vec!["wamid.m1".to_string()]);
    assert_eq!(
        message_by_wamid(&app, shop, "wamid.m1").await.body,
        "manual hello"
    );
}

// ------------------------------------------------------------------------------ orders

#[tokio::test]
async fn a_whatsapp_cart_becomes_an_order_at_the_shops_own_prices() {
    let app = wa_app().await;
    let (number, shop, _) = merchant_with_number(&app).await;
    let product = app
        .create_product(&[
            ("title", "Ankara tote"),
            ("price", "12.50"),
            ("sku", "di9ozbzfi4"),
            ("status", "active"),
        ])
        .await;
    let order = json!({"from": CUSTOMER, "id": "wamid.order1", "timestamp": now_ts(&app).to_string(), "type": "order",
        "order": {"catalog_id": "194836987003835", "text": "", "product_items": [
            {"product_retailer_id": "di9ozbzfi4", "quantity": 2, "item_price": 0.01, "currency": "NGN"}]}});
    let doc = messages_doc(&number, vec![contact(CUSTOMER, "Chidi")], vec![order]);
    deliver_and_process(&app, &doc).await;
    deliver_and_process(&app, &doc).await;

    let orders: Vec<(Uuid, i32, i64, String, String)> = sqlx::query_as(
        "select o.id, o.number, o.total_minor, o.phone, c.phone from orders o join customers c on c.id = o.customer_id
         where o.shop_id = $1",
    )
    .bind(shop)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        orders.len(),
        1,
        "one order, however often Meta delivers the cart"
    );
    let (order_id, order_number, total, phone, customer_phone) = orders[0].clone();
    assert_eq!(total, 2500, "priced from the database, not the message");
    assert_eq!(phone, format!("+{CUSTOMER}"));
    assert_eq!(
        customer_phone,
        format!("+{CUSTOMER}"),
        "the WhatsApp customer's order"
    );
    let line: (Option<Uuid>, i64, i32) = sqlx::query_as(
        "select product_id, unit_price_minor, quantity from order_lines where order_id = $1",
    )
    .bind(order_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(line, (Some(product.parse().unwrap()), 1250, 2));

    let view = conversation_view(&app, conversation_of(&app, shop, CUSTOMER).await).await;
    let notes: Vec<&str> = view["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == "note")
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        notes,
        vec![format!("Order #{order_number} was created from this WhatsApp cart.").as_str()]
    );
    assert_eq!(view["orders"][0]["number"], order_number);
}

#[tokio::test]
async fn an_order_on_whatsapp_message_from_the_storefront_cart_becomes_an_order() {
    let app = wa_app().await;
    let (number, shop, _) = merchant_with_number(&app).await;
    let product: Uuid = app
        .create_product(&[
            ("title", "Aso oke cap"),
            ("price", "40.00"),
            ("status", "active"),
        ])
        .await
        .parse()
        .unwrap();
    // What the cart page's "Order on WhatsApp" link pre-fills; the customer could edit the
    // text, but prices always come from the catalog.
    let text = format!(
        "Hello! I would like to order:\n3 × Aso oke cap (₦1)\n{}",
        app::links::cart_code(&[(product, 3)])
    );
    let message = json!({"from": CUSTOMER, "id": "wamid.cartcode1", "timestamp": now_ts(&app).to_string(),
        "type": "text", "text": {"body": text}});
    let doc = messages_doc(&number, vec![contact(CUSTOMER, "Bola")], vec![message]);
    deliver_and_process(&app, &doc).await;
    deliver_and_process(&app, &doc).await;
    let orders: Vec<(i64, String)> =
        sqlx::query_as("select total_minor, phone from orders where shop_id = $1")
            .bind(shop)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        orders,
        vec![(12_000, format!("+{CUSTOMER}"))],
        "3 × 40.00 from the database, once"
    );

    // An ordinary message that merely mentions ordering makes no order.
    let plain = json!({"from": CUSTOMER, "id": "wamid.cartcode2", "timestamp": now_ts(&app).to_string(),
        "type": "text", "text": {"body": "Order code: BZ1-nonsense"}});
    deliver_and_process(
        &app,
        &messages_doc(&number, vec![contact(CUSTOMER, "Bola")], vec![plain]),
    )
    .await;
    let count: i64 = sqlx::query_scalar("select count(*) from orders where shop_id = $1")
        .bind(shop)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn the_composer_sends_a_product_card_and_a_shop_photo_as_public_jpeg_links() {
    let app = wa_app().await;
    let (number, shop, _) = merchant_with_number(&app).await;
    let product = app
        .create_product(&[
            ("title", "Kente stole"),
            ("price", "75.00"),
            ("status", "active"),
        ])
        .await;
    let res = crate::helpers::upload(
        &app,
        &app.client,
        &[("purpose", "product"), ("product_id", product.as_str())],
        png(64, 64),
        "stole.png",
    )
    .await;
    assert!(res.status().is_success(), "upload: {}", res.status());
    let now = now_ts(&app);
    deliver_and_process(
        &app,
        &messages_doc(
            &number,
            vec![contact(CUSTOMER, "Efe")],
            vec![text(CUSTOMER, "wamid.photo1", now, "Pictures please")],
        ),
    )
    .await;
    let conversation = conversation_of(&app, shop, CUSTOMER).await;

    let photos = json(app.call("inbox/photos", &[]).await).await;
    let photos = photos.as_array().expect("a list");
    assert_eq!(photos.len(), 1);
    assert_eq!(photos[0]["label"], "Kente stole");
    let image_id = photos[0]["id"].as_str().unwrap().to_string();

    for (key, message) in [
        (
            "k-product",
            json!({"type": "product", "product_id": product}),
        ),
        (
            "k-photo",
            json!({"type": "image", "image_id": image_id, "caption": "Folded"}),
        ),
    ] {
        let res = post_json(
            &app,
            &app.client,
            "inbox/send",
            json!({"id": conversation, "message": message, "idempotency_key": key}),
        )
        .await;
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    }
    app.run_jobs().await;
    let sent = sim(&app).sent();
    assert_eq!(sent.len(), 2);
    let base = app.base.clone();
    for m in &sent {
        assert_eq!(m.body["type"], "image");
        let link = m.body["image"]["link"].as_str().unwrap();
        assert!(
            link.starts_with(&base) && link.ends_with(".jpg"),
            "a public JPEG: {link}"
        );
    }
    // The two jobs may run in either order.
    let captions: Vec<&str> = sent
        .iter()
        .map(|m| m.body["image"]["caption"].as_str().unwrap())
        .collect();
    let card = captions
        .iter()
        .find(|c| c.contains("Kente stole"))
        .expect("the product card");
    assert!(card.contains("75"), "price from the database: {card}");
    assert!(
        card.contains("/p/kente-stole"),
        "links to the storefront page: {card}"
    );
    assert!(captions.contains(&"Folded"), "{captions:?}");

    // Another shop's image is not one of ours: refused, nothing queued.
    let (other, _) = second_merchant(&app, "Other").await;
    let res = post_json(&app, &other, "inbox/send",
        json!({"id": conversation, "message": {"type": "image", "image_id": image_id, "caption": ""}, "idempotency_key": "x"})).await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn the_channel_page_shows_when_the_last_webhook_arrived() {
    let app = wa_app().await;
    let (number, _, _) = merchant_with_number(&app).await;
    let channel = json(app.call("whatsapp/channel", &[]).await).await;
    assert_eq!(channel["account"]["last_webhook_at"], Value::Null);
    let doc = messages_doc(
        &number,
        vec![contact(CUSTOMER, "Ngozi")],
        vec![text(CUSTOMER, "wamid.lw1", now_ts(&app), "Hi")],
    );
    deliver_and_process(&app, &doc).await;
    let channel = json(app.call("whatsapp/channel", &[]).await).await;
    let at = channel["account"]["last_webhook_at"]
        .as_str()
        .expect("set after a delivery");
    let at = OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).unwrap();
    assert!(
        (OffsetDateTime::now_utc() - at).abs() < time::Duration::minutes(1),
        "{at}"
    );
}

// ------------------------------------------------------------------------------ robustness

#[tokio::test]
async fn a_database_failure_while_processing_leaves_the_delivery_for_another_try() {
    let app = wa_app_with(Vec::new(), manual_clock()).await;
    let (number, shop, _) = merchant_with_number(&app).await;
    // Queueing the media job fails once, inside the processing transaction.
    sqlx::raw_sql(
        "create function fail_media_jobs() returns trigger language plpgsql as $$
         begin
             if new.kind = 'wa_fetch_media' then raise exception 'simulated outage'; end if;
             return new;
         end $$;
         create trigger fail_media_jobs before insert on jobs for each row execute function fail_media_jobs();",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let media_id = sim(&app).add_media(png(4, 4), "image/png");
    image_message(&app, &number, "wamid.outage", &media_id).await;
    app.run_jobs().await;
    let (processed, error): (Option<OffsetDateTime>, Option<String>) =
        sqlx::query_as("select processed_at, error from wa_webhook_events")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        (processed, error),
        (None, None),
        "not written off as unprocessable"
    );
    assert_eq!(
        count(
            &app,
            "select count(*) from wa_messages where shop_id = $1",
            shop
        )
        .await,
        0
    );

    sqlx::raw_sql("drop trigger fail_media_jobs on jobs")
        .execute(&app.pool)
        .await
        .unwrap();
    app.clock.advance(time::Duration::minutes(5));
    app.run_jobs().await;
    let m = message_by_wamid(&app, shop, "wamid.outage").await;
    assert_eq!(m.media_status.as_deref(), Some("stored"));
}

#[tokio::test]
async fn a_token_close_to_expiry_asks_for_a_reconnect_once() {
    let app = wa_app_with(Vec::new(), manual_clock()).await;
    let (_, shop, email) = merchant_with_number(&app).await;
    let reconnect_emails = || async {
        sqlx::query_scalar::<_, i64>(
            "select count(*) from email_outbox where to_address = $1 and subject like '%WhatsApp%'",
        )
        .bind(&email)
        .fetch_one(&app.pool)
        .await
        .unwrap()
    };
    let status = || async {
        sqlx::query_scalar::<_, String>("select status from wa_accounts where shop_id = $1")
            .bind(shop)
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };
    // 50 days in, 10 are left: nothing yet.
    app.clock.advance(time::Duration::days(50));
    app::whatsapp::ssr::check_token_expiry(&app.state)
        .await
        .unwrap();
    assert_eq!(status().await, "connected");
    assert_eq!(reconnect_emails().await, 0);
    // 54 days in, 6 are left: inside the 7-day warning.
    app.clock.advance(time::Duration::days(4));
    let channel = json(app.call("whatsapp/channel", &[]).await).await;
    assert_eq!(channel["account"]["token_days_left"], 6);
    app::whatsapp::ssr::check_token_expiry(&app.state)
        .await
        .unwrap();
    app::whatsapp::ssr::check_token_expiry(&app.state)
        .await
        .unwrap();
    assert_eq!(status().await, "needs_reconnect");
    assert_eq!(reconnect_emails().await, 1);
    let alert = json(app.call("whatsapp/alert", &[]).await).await;
    assert!(
        alert["message"].as_str().unwrap().contains("expires on"),
        "{alert}"
    );
}

#[tokio::test]
async fn an_account_meta_disabled_stops_taking_and_sending_messages() {
    let app = wa_app().await;
    let (number, shop, _) = merchant_with_number(&app).await;
    let conversation = customer_writes(&app, &number, shop, CUSTOMER, "wamid.in1").await;
    let update = json!({"object": "whatsapp_business_account", "entry": [{"id": number.waba_id, "changes": [{
        "field": "account_update", "value": {"phone_number": digits(&number.display), "event": "DISABLED_UPDATE",
            "ban_info": {"waba_ban_state": "DISABLE", "waba_ban_date": "2026-12-04"}}}]}]});
    deliver_and_process(&app, &update).await;
    let channel = json(app.call("whatsapp/channel", &[]).await).await;
    assert_eq!(channel["account"]["status"], "disconnected");
    assert!(
        channel["account"]["status_reason"]
            .as_str()
            .unwrap()
            .contains("disabled")
    );
    let res = send_text_with(&app, &app.client, conversation, "hello?", "d1").await;
    assert!(field_error(res, "message").await.contains("Connect"));
    let doc = messages_doc(
        &number,
        vec![contact(CUSTOMER, "Chidi")],
        vec![text(CUSTOMER, "wamid.after", now_ts(&app), "anyone?")],
    );
    deliver_and_process(&app, &doc).await;
    assert_eq!(
        count(
            &app,
            "select count(*) from wa_messages where shop_id = $1",
            shop
        )
        .await,
        1,
        "ignored while disconnected"
    );
}

/// Reads server-sent events from `res` for up to `wait`; returns the `data:` lines.
async fn sse_data(res: &mut reqwest::Response, wait: std::time::Duration) -> Vec<String> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    let mut buf = String::new();
    while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(deadline, res.chunk()).await {
        buf.push_str(&String::from_utf8_lossy(&chunk));
        out.extend(
            buf.lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| d.trim().to_string()),
        );
        buf.clear();
        if !out.is_empty() {
            break;
        }
    }
    out
}

#[tokio::test]
async fn live_inbox_events_reach_only_the_shop_they_belong_to() {
    let app = wa_app().await;
    let cancel = tokio_util::sync::CancellationToken::new();
    tokio::spawn(app.state.live.clone().run(app.pool.clone(), cancel.clone()));
    let (number, shop, _) = merchant_with_number(&app).await;
    let (b, _) = second_merchant(&app, "Bola").await;
    let mut mine = app.get("/dashboard/inbox/events").await;
    assert_eq!(mine.status(), 200);
    assert!(
        mine.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut theirs = app.get_with(&b, "/dashboard/inbox/events").await;
    assert_eq!(theirs.status(), 200);
    // The listener connects in the background: deliver until an event arrives.
    let mut seen = Vec::new();
    for i in 0..20 {
        let doc = messages_doc(
            &number,
            vec![contact(CUSTOMER, "Chidi")],
            vec![text(
                CUSTOMER,
                &format!("wamid.live{i}"),
                now_ts(&app),
                "live",
            )],
        );
        deliver_and_process(&app, &doc).await;
        seen = sse_data(&mut mine, std::time::Duration::from_millis(500)).await;
        if !seen.is_empty() {
            break;
        }
    }
    assert!(
        !seen.is_empty(),
        "no live event reached the shop's open inbox"
    );
    let conversation = conversation_of(&app, shop, CUSTOMER).await;
    let event: Value = serde_json::from_str(&seen[0]).expect("an event for this shop");
    assert_eq!(event["conversation_id"], conversation.to_string());
    assert_eq!(event["kind"], "message");
    assert!(
        sse_data(&mut theirs, std::time::Duration::from_millis(800))
            .await
            .is_empty(),
        "nothing for another shop"
    );
    let anonymous = app.get_with(&client(), "/dashboard/inbox/events").await;
    assert_ne!(anonymous.status(), 200);
    cancel.cancel();
}

// ------------------------------------------------------------------------------ coexistence

/// Connects a coexistence number (the WhatsApp Business app stays on it) and runs the sync
/// requests; returns (number, shop).
async fn coexistence_merchant(app: &TestApp) -> (SimNumber, Uuid) {
    let email = app.signup("Ada Merchant").await;
    let shop = shop_of(app, &email).await;
    let (code, number) = sim(app).start_signup(true);
    let res = post_json(
        app,
        &app.client,
        "whatsapp/embedded-signup",
        signup_body(
            &code,
            "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING",
            &number.waba_id,
            Some(&number.id),
        ),
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    app.run_jobs().await;
    (number, shop)
}

/// (direction, sent_by, kind, body, status) of a conversation's messages, oldest first.
async fn thread_rows(
    app: &TestApp,
    conversation: Uuid,
) -> Vec<(String, String, String, String, String)> {
    sqlx::query_as(
        "select direction, sent_by, kind, body, status from wa_messages
         where conversation_id = $1 order by sent_at, id",
    )
    .bind(conversation)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn the_business_apps_contacts_and_chat_history_become_customers_and_past_messages() {
    let app = wa_app().await;
    let (number, shop) = coexistence_merchant(&app).await;
    let channel = json(app.call("whatsapp/channel", &[]).await).await;
    assert_eq!(channel["account"]["history_progress"], Value::Null);

    let contacts = sim(&app).coexistence_webhooks(&number, "smb_app_state_sync");
    let history = sim(&app).coexistence_webhooks(&number, "history");
    assert_eq!(history.len(), 3, "two chunks and one media follow-up");
    // Meta sends chunks in any order, and the photo's contents may come before its placeholder.
    for doc in history.iter().rev() {
        deliver(&app, doc).await;
    }
    app.run_jobs().await;
    for doc in &contacts {
        deliver(&app, doc).await;
    }
    app.run_jobs().await;

    // Address-book names, on the same customer rows as storefront orders.
    let names: Vec<(String, Option<String>)> =
        sqlx::query_as("select name, phone from customers where shop_id = $1 order by phone")
            .bind(shop)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        names,
        vec![
            (
                "Amara Okafor".to_string(),
                Some("+2348031110001".to_string())
            ),
            (
                "Tunde (wholesale)".to_string(),
                Some("+2348031110002".to_string())
            ),
        ]
    );

    // Amara's chat, in order: hers as received, the merchant's from the phone with its ticks.
    let amara = conversation_of(&app, shop, "2348031110001").await;
    let rows = thread_rows(&app, amara).await;
    let short: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| (r.0.as_str(), r.1.as_str(), r.4.as_str()))
        .collect();
    assert_eq!(
        short,
        vec![
            ("in", "customer", "received"),
            ("out", "phone", "read"),
            ("in", "customer", "received")
        ]
    );
    assert_eq!(rows[0].3, "Do you still have the blue ankara dress in M?");
    let (unread, last_message_at, last_inbound_at, preview): (i32, OffsetDateTime, Option<OffsetDateTime>, String) =
        sqlx::query_as(
            "select unread_count, last_message_at, last_inbound_at, last_preview from conversations where id = $1",
        )
        .bind(amara)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(unread, 0, "history is not new mail");
    let hours_ago = (OffsetDateTime::now_utc() - last_message_at).whole_hours();
    assert!(
        (47..=48).contains(&hours_ago),
        "as recent as its last message: {hours_ago} h"
    );
    assert_eq!(last_inbound_at, Some(last_message_at));
    assert_eq!(preview, "Yes please, I'll order this week");

    // The photo the history only had a placeholder for: its contents, copied like any photo.
    let tunde = conversation_of(&app, shop, "2348031110002").await;
    let rows = thread_rows(&app, tunde).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[1].0.as_str(), rows[1].2.as_str(), rows[1].3.as_str()),
        ("out", "image", "Our wholesale price list")
    );
    let media: Option<String> = sqlx::query_scalar(
        "select media_status from wa_messages where conversation_id = $1 and kind = 'image'",
    )
    .bind(tunde)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(media.as_deref(), Some("stored"));

    let channel = json(app.call("whatsapp/channel", &[]).await).await;
    assert_eq!(channel["account"]["history_progress"], 100);

    // Meta redelivering the whole history adds nothing.
    let before = count(
        &app,
        "select count(*) from wa_messages where shop_id = $1",
        shop,
    )
    .await;
    for doc in history.iter().chain(&contacts) {
        deliver(&app, doc).await;
    }
    app.run_jobs().await;
    assert_eq!(
        count(
            &app,
            "select count(*) from wa_messages where shop_id = $1",
            shop
        )
        .await,
        before
    );
    assert_eq!(before, 5);
}

#[tokio::test]
async fn a_merchant_who_keeps_the_chat_history_private_is_told_why_it_is_missing() {
    let app = wa_app().await;
    let (number, shop) = coexistence_merchant(&app).await;
    let declined = json!({"object": "whatsapp_business_account", "entry": [{"id": number.waba_id,
    "changes": [{"field": "history", "value": value(&number, json!({"history": [{"errors": [{
        "code": 2593109,
        "title": "History sync is turned off by the business from the WhatsApp Business App",
        "message": "History sync is turned off by the business from the WhatsApp Business App",
        "error_data": {"details": "History sharing is turned off by the business"}
    }]}]}))}]}]});
    deliver_and_process(&app, &declined).await;
    let channel = json(app.call("whatsapp/channel", &[]).await).await;
    assert_eq!(
        channel["account"]["history_declined"],
        "History sharing is turned off by the business"
    );
    assert_eq!(
        count(
            &app,
            "select count(*) from wa_messages where shop_id = $1",
            shop
        )
        .await,
        0
    );
    let (processed, error): (Option<OffsetDateTime>, Option<String>) = sqlx::query_as(
        "select processed_at, error from wa_webhook_events order by id desc limit 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(processed.is_some());
    assert_eq!(error, None);
}

// ------------------------------------------------------------------------------ documents

const PDF: &[u8] =
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";

async fn post_document(
    app: &TestApp,
    c: &reqwest::Client,
    conversation: Uuid,
    filename: &str,
    bytes: &[u8],
    key: &str,
    html: bool,
) -> reqwest::Response {
    let form = reqwest::multipart::Form::new()
        .text("idempotency_key", key.to_string())
        .text("caption", "Our price list")
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes.to_vec()).file_name(filename.to_string()),
        );
    let mut req = c
        .post(app.url(&format!("/dashboard/inbox/{conversation}/document")))
        .multipart(form);
    if html {
        req = req.header("accept", "text/html");
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn a_document_from_the_composer_is_uploaded_to_whatsapp_and_sent_once() {
    let app = wa_app_with(Vec::new(), manual_clock()).await;
    let (number, shop, _) = merchant_with_number(&app).await;
    let conversation = customer_writes(&app, &number, shop, CUSTOMER, "wamid.doc-in").await;

    // From the browser form: back to the thread.
    let res = post_document(
        &app,
        &app.client,
        conversation,
        "C:\\Users\\ada\\price-list.pdf",
        PDF,
        "d1",
        true,
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        res.headers()["location"].to_str().unwrap(),
        format!("/dashboard/inbox/{conversation}")
    );
    // The same form submitted again: one message, one stored file.
    let again = post_document(
        &app,
        &app.client,
        conversation,
        "price-list.pdf",
        PDF,
        "d1",
        false,
    )
    .await;
    assert_eq!(again.status(), 201);
    let id: Uuid = serde_json::from_value(json(again).await).unwrap();
    assert_eq!(
        count(
            &app,
            "select count(*) from wa_media_files where shop_id = $1",
            shop
        )
        .await,
        1
    );
    let m = message(&app, id).await;
    assert_eq!(
        (m.kind.as_str(), m.status.as_str(), m.body.as_str()),
        ("document", "queued", "Our price list")
    );

    // Meta's upload fails once with a server error: the message waits, then goes.
    sim(&app).fail_next(Failure {
        path_suffix: "media".into(),
        ..fail(500, 1, 1)
    });
    app.run_jobs().await;
    assert_eq!(message(&app, id).await.status, "queued");
    assert!(sim(&app).sent().is_empty());
    app.clock.advance(time::Duration::minutes(10));
    app.run_jobs().await;
    let m = message(&app, id).await;
    assert_eq!(m.status, "sent");
    let sent = sim(&app).sent();
    assert_eq!(sent.len(), 1, "sent once");
    let doc = &sent[0].body["document"];
    assert_eq!(
        doc["filename"], "price-list.pdf",
        "the name without the path"
    );
    assert_eq!(doc["caption"], "Our price list");
    let (bytes, mime) = sim(&app)
        .media(doc["id"].as_str().expect("sent by the uploaded id"))
        .expect("uploaded to Meta");
    assert_eq!((bytes.as_slice(), mime.as_str()), (PDF, "application/pdf"));

    // The thread shows it with a link to the file, for this shop only.
    let view = conversation_view(&app, conversation).await;
    let shown = view["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(shown["kind"], "document");
    assert_eq!(shown["media"]["filename"], "price-list.pdf");
    let url = shown["media"]["url"].as_str().unwrap().to_string();
    let file = app.client.get(app.url(&url)).send().await.unwrap();
    assert_eq!(file.status(), 200);
    assert_eq!(file.bytes().await.unwrap().as_ref(), PDF);
    let (other, _) = second_merchant(&app, "Bola").await;
    assert_eq!(other.get(app.url(&url)).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn documents_whatsapp_would_refuse_are_refused_in_plain_words() {
    let app = wa_app_with(Vec::new(), manual_clock()).await;
    let (number, shop, _) = merchant_with_number(&app).await;
    let conversation = customer_writes(&app, &number, shop, CUSTOMER, "wamid.doc-in").await;

    let exe = post_document(
        &app,
        &app.client,
        conversation,
        "setup.exe",
        b"MZ\x90\x00",
        "r1",
        true,
    )
    .await;
    assert_eq!(exe.status(), 303);
    let to = exe.headers()["location"].to_str().unwrap().to_string();
    assert!(
        to.starts_with(&format!("/dashboard/inbox/{conversation}?document_error=")),
        "{to}"
    );
    assert!(to.contains("PDF%2C%20Word"), "{to}");
    assert!(
        !to.contains("photo"),
        "an .exe is not told to send a photo: {to}"
    );
    let photo = post_document(
        &app,
        &app.client,
        conversation,
        "dress.JPG",
        b"\xff\xd8\xff",
        "r6",
        false,
    )
    .await;
    assert!(field_error(photo, "file").await.contains("Send a photo"));
    let fake = post_document(
        &app,
        &app.client,
        conversation,
        "invoice.pdf",
        b"<html>",
        "r2",
        false,
    )
    .await;
    assert_eq!(fake.status(), 422);
    assert!(field_error(fake, "file").await.contains("not a PDF"));
    let empty = post_document(
        &app,
        &app.client,
        conversation,
        "empty.pdf",
        b"",
        "r3",
        false,
    )
    .await;
    assert!(field_error(empty, "file").await.contains("Choose a file"));

    // Another shop's conversation: not found, and nothing stored.
    let (other, _) = second_merchant(&app, "Bola").await;
    let foreign = post_document(&app, &other, conversation, "list.pdf", PDF, "r4", true).await;
    assert_eq!(foreign.status(), 404);

    // After 24 hours only a template may go.
    app.clock.advance(time::Duration::hours(25));
    let late = post_document(
        &app,
        &app.client,
        conversation,
        "list.pdf",
        PDF,
        "r5",
        false,
    )
    .await;
    assert!(field_error(late, "file").await.contains("24 hours"));
    assert_eq!(
        count(
            &app,
            "select count(*) from wa_media_files where shop_id = $1",
            shop
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &app,
            "select count(*) from wa_messages where shop_id = $1 and direction = 'out'",
            shop
        )
        .await,
        0
    );
}

#[tokio::test]
async fn one_unreadable_delivery_in_a_batch_costs_only_itself() {
    let app = wa_app().await;
    let (number, shop, _) = merchant_with_number(&app).await;
    let ts = now_ts(&app);
    let good = |i: usize| {
        messages_doc(
            &number,
            vec![contact(CUSTOMER, "Chidi")],
            vec![text(
                CUSTOMER,
                &format!("wamid.batch{i}"),
                ts,
                &format!("message {i}"),
            )],
        )
    };
    // All committed before any is processed, so they are taken as one batch.
    for i in 0..5 {
        deliver(&app, &good(i)).await;
    }
    let garbage = post_signed(
        &app,
        "/webhooks/whatsapp",
        PLATFORM_SECRET,
        b"{\"entry\": [tru".to_vec(),
    )
    .await;
    assert_eq!(garbage.status(), 200, "stored raw, judged later");
    for i in 5..10 {
        deliver(&app, &good(i)).await;
    }
    let handled = app::whatsapp::inbound::drain_inbox(&app.state)
        .await
        .unwrap();
    assert_eq!(handled, 11);
    assert_eq!(
        count(
            &app,
            "select count(*) from wa_messages where shop_id = $1",
            shop
        )
        .await,
        10,
        "every good delivery around the bad one is stored"
    );
    let outcomes: Vec<(bool, Option<String>)> =
        sqlx::query_as("select processed_at is not null, error from wa_webhook_events order by id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(outcomes.len(), 11);
    assert!(outcomes.iter().all(|(done, _)| *done), "none left behind");
    let errors: Vec<&str> = outcomes.iter().filter_map(|(_, e)| e.as_deref()).collect();
    assert_eq!(errors.len(), 1);
    assert!(errors[0].contains("not JSON"), "{}", errors[0]);
    let unread: i32 =
        sqlx::query_scalar("select unread_count from conversations where shop_id = $1")
            .bind(shop)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(unread, 10);
}
