//! WhatsApp test support shared by the API tests and `make eval`: an app with the simulator
//! (the in-process Graph fake), merchants connecting numbers through Embedded Signup, and
//! customers' messages delivered as Meta-signed webhooks over the exact bytes sent.

use crate::helpers::{Opts, TestApp, call_with, client, signup_form, spawn_app_with_clock};
use app::platform::clock::Clock;
use app::whatsapp::simulator::{SimNumber, Simulator};
use app::whatsapp::ssr::sign;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use uuid::Uuid;

/// The platform app's secret and verify token in development (the simulator's Meta app).
pub(crate) const PLATFORM_SECRET: &[u8] = b"simulator-app-secret";
pub(crate) const VERIFY_TOKEN: &str = "bizmaat-dev-verify-token";

pub(crate) fn sim(app: &TestApp) -> &Arc<Simulator> {
    app.state
        .whatsapp
        .simulator
        .as_ref()
        .expect("APP_ENV=development turns the simulator on")
}

/// A test app with the fake's automatic status webhooks off (statuses come only from the test).
pub(crate) async fn wa_app_with(mut env: Vec<(&'static str, String)>, clock: Clock) -> TestApp {
    // These tests are about the channel: a person answers, unless a test turns the agent on
    // (the agent's own tests are in `agent.rs`).
    if !env.iter().any(|(k, _)| *k == "AGENT_DEFAULT_MODE") {
        env.push(("AGENT_DEFAULT_MODE", "off".into()));
    }
    let app = spawn_app_with_clock(Opts { env }, clock).await;
    sim(&app).auto_status.store(false, Ordering::SeqCst);
    app
}

pub(crate) fn now_ts(app: &TestApp) -> i64 {
    app.clock.now().unix_timestamp()
}

pub(crate) fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// Posts a JSON body to a server function that takes JSON.
pub(crate) async fn post_json(
    app: &TestApp,
    client: &reqwest::Client,
    endpoint: &str,
    body: Value,
) -> reqwest::Response {
    client
        .post(app.url(&format!("/api/{endpoint}")))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// A second merchant on its own client (cookies).
pub(crate) async fn second_merchant(app: &TestApp, name: &str) -> (reqwest::Client, String) {
    let c = client();
    let email = format!("{}@example.com", name.to_lowercase());
    let res = call_with(&c, &app.url("/api/signup"), &signup_form(name, &email)).await;
    assert_eq!(res.status(), 200, "signup: {}", res.text().await.unwrap());
    (c, email)
}

pub(crate) async fn shop_of(app: &TestApp, email: &str) -> Uuid {
    sqlx::query_scalar(
        "select s.id from shops s join merchants m on m.id = s.merchant_id where m.email = $1",
    )
    .bind(email)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

pub(crate) fn signup_body(code: &str, event: &str, waba: &str, phone: Option<&str>) -> Value {
    json!({"result": {"code": code, "event": event, "waba_id": waba, "phone_number_id": phone,
                      "business_id": "61000000001"}})
}

/// Connects the client's shop to a fresh number through Embedded Signup against the fake.
pub(crate) async fn connect_with(app: &TestApp, c: &reqwest::Client) -> SimNumber {
    let (code, number) = sim(app).start_signup(false);
    let res = post_json(
        app,
        c,
        "whatsapp/embedded-signup",
        signup_body(&code, "FINISH", &number.waba_id, Some(&number.id)),
    )
    .await;
    assert_eq!(
        res.status(),
        200,
        "embedded signup: {}",
        res.text().await.unwrap()
    );
    number
}

/// Signs up a merchant on `app.client` and connects a number; returns (number, shop id, email).
pub(crate) async fn merchant_with_number(app: &TestApp) -> (SimNumber, Uuid, String) {
    let email = app.signup("Ada Merchant").await;
    let number = connect_with(app, &app.client).await;
    let shop = shop_of(app, &email).await;
    (number, shop, email)
}

pub(crate) fn metadata(number: &SimNumber) -> Value {
    json!({"display_phone_number": digits(&number.display), "phone_number_id": number.id})
}

pub(crate) fn value(number: &SimNumber, mut v: Value) -> Value {
    v["messaging_product"] = json!("whatsapp");
    v["metadata"] = metadata(number);
    v
}

pub(crate) fn contact(wa_id: &str, name: &str) -> Value {
    json!({"profile": {"name": name}, "wa_id": wa_id})
}

pub(crate) fn text(from: &str, wamid: &str, ts: i64, body: &str) -> Value {
    json!({"from": from, "id": wamid, "timestamp": ts.to_string(), "type": "text", "text": {"body": body}})
}

/// A `messages` delivery with these contacts and messages for one number.
pub(crate) fn messages_doc(
    number: &SimNumber,
    contacts: Vec<Value>,
    messages: Vec<Value>,
) -> Value {
    Simulator::envelope(number, json!({"contacts": contacts, "messages": messages}))
}

pub(crate) async fn post_signed(
    app: &TestApp,
    path: &str,
    secret: &[u8],
    bytes: Vec<u8>,
) -> reqwest::Response {
    let sig = sign(secret, &bytes);
    app.client
        .post(app.url(path))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sig)
        .body(bytes)
        .send()
        .await
        .unwrap()
}

/// Delivers a document to the platform webhook, signed like Meta, and expects 200.
pub(crate) async fn deliver(app: &TestApp, doc: &Value) {
    let res = post_signed(
        app,
        "/webhooks/whatsapp",
        PLATFORM_SECRET,
        serde_json::to_vec(doc).unwrap(),
    )
    .await;
    assert_eq!(
        res.status(),
        200,
        "webhook refused: {}",
        res.text().await.unwrap()
    );
}

pub(crate) async fn conversation_of(app: &TestApp, shop: Uuid, wa_id: &str) -> Uuid {
    sqlx::query_scalar(
        "select v.id from conversations v join customers c on c.id = v.customer_id
         where v.shop_id = $1 and c.phone = '+' || $2",
    )
    .bind(shop)
    .bind(wa_id)
    .fetch_one(&app.pool)
    .await
    .expect("a conversation with this customer")
}
