//! The simulator: an in-process stand-in for Meta, so the channel works with no Meta account
//! (development, `make run`, tests). On by default in development only.
//!
//! - `/simulator/graph/…`: the Graph API endpoints the product calls (code exchange, phone
//!   numbers, subscribe, register, coexistence sync, messages, media, templates), with Meta's
//!   wire format and error envelopes. Errors can be injected (`/_sim/fail`, [`Simulator::fail_next`]).
//! - `/simulator/sdk.js` and `/simulator/signup`: a stand-in for Facebook's SDK and Embedded
//!   Signup popup that posts the same `WA_EMBEDDED_SIGNUP` messages (normal, coexistence,
//!   cancel, error) and hands back a code.
//! - `/simulator`: play a customer. Messages go to our own webhook signed with the platform app
//!   secret, exactly like Meta's, so the real verification and processing run.

use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A Graph number the simulator knows.
#[derive(Debug, Clone)]
pub struct SimNumber {
    pub id: String,
    pub waba_id: String,
    pub display: String,
    pub verified_name: String,
    pub pin: Option<String>,
    pub coexistence: bool,
}

/// A message the business sent through the fake.
#[derive(Debug, Clone)]
pub struct SentMessage {
    pub phone_number_id: String,
    pub to: String,
    pub wamid: String,
    pub body: Value,
    pub read: bool,
}

/// An error the fake answers with, for calls whose path ends with `path_suffix`.
#[derive(Debug, Clone)]
pub struct Failure {
    pub path_suffix: String,
    pub status: u16,
    pub code: i64,
    pub message: String,
    pub times: u32,
    /// Record the call (as if Meta accepted it), then never answer: a lost answer.
    pub accept_then_hang: bool,
}

#[derive(Default)]
struct SimState {
    /// code → (issued, waba id, used)
    codes: HashMap<String, (Instant, String, bool)>,
    /// token → waba id
    tokens: HashMap<String, String>,
    numbers: Vec<SimNumber>,
    subscribed: Vec<String>,
    sent: Vec<SentMessage>,
    read_marks: Vec<String>,
    /// Inbound wamids a typing indicator was shown for.
    typing: Vec<String>,
    smb_syncs: Vec<(String, String)>,
    templates: HashMap<String, Vec<Value>>,
    media: HashMap<String, (Vec<u8>, String, Instant)>,
    failures: VecDeque<Failure>,
    /// What customers typed, per (number, customer), for the simulator page.
    customer_log: Vec<(String, String, String, Value)>,
}

pub struct Simulator {
    state: Mutex<SimState>,
    app_id: String,
    app_secret: String,
    public_url: String,
    counter: AtomicU64,
    /// Post `sent` and `delivered` statuses after each accepted message (tests turn it off).
    pub auto_status: AtomicBool,
    http: reqwest::Client,
}

/// The system-user token, WABA and number that manual setup accepts in the simulator.
pub const MANUAL_TOKEN: &str = "EAAsimulator-manual-system-user-token";
pub const MANUAL_WABA: &str = "900100200";
pub const MANUAL_PHONE: &str = "900100201";
const CODE_TTL: Duration = Duration::from_secs(30);
const MEDIA_URL_TTL: Duration = Duration::from_secs(300);

fn graph_error(status: u16, code: i64, message: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        Json(json!({"error": {
            "message": format!("(#{code}) {message}"), "type": "OAuthException", "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": message},
            "fbtrace_id": "AsimulatorTrace"
        }})),
    )
        .into_response()
}

impl Simulator {
    pub fn new(config: &crate::config::Config) -> Self {
        let wa = &config.whatsapp;
        let mut state = SimState::default();
        state.tokens.insert(MANUAL_TOKEN.into(), MANUAL_WABA.into());
        state.numbers.push(SimNumber {
            id: MANUAL_PHONE.into(),
            waba_id: MANUAL_WABA.into(),
            display: "+1 555 010 0201".into(),
            verified_name: "Self-hosted Test Shop".into(),
            pin: None,
            coexistence: false,
        });
        Simulator {
            state: Mutex::new(state),
            app_id: wa.app_id.clone().unwrap_or_default(),
            app_secret: wa
                .app_secret
                .as_ref()
                .map(|s| s.expose_secret().to_string())
                .unwrap_or_default(),
            public_url: config.public_url.clone(),
            counter: AtomicU64::new(1),
            auto_status: AtomicBool::new(true),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("an HTTP client builds"),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn next(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    pub fn new_wamid(&self) -> String {
        format!("wamid.SIM{:012}{}", self.next(), rand_suffix())
    }

    /// What Meta's popup would produce: a fresh WABA with one number, and a code for it.
    pub fn start_signup(&self, coexistence: bool) -> (String, SimNumber) {
        let n = self.next();
        let stamp = rand_suffix();
        let waba_id = format!("71{n:06}{}", &stamp[..4]);
        let number = SimNumber {
            id: format!("81{n:06}{}", &stamp[..4]),
            waba_id: waba_id.clone(),
            display: format!("+1 555 {:03} {:04}", 100 + n % 900, n % 10_000),
            verified_name: if coexistence {
                "My Shop (Business app)".into()
            } else {
                "My Shop".into()
            },
            pin: None,
            coexistence,
        };
        let code = format!("AQsim{n}{stamp}");
        let mut s = self.lock();
        s.codes
            .insert(code.clone(), (Instant::now(), waba_id, false));
        s.numbers.push(number.clone());
        (code, number)
    }

    /// A number and token this server handed out before it restarted (the fake keeps them in
    /// memory): taken back, so a shop connected to the simulator stays connected across
    /// restarts of `make run`.
    pub fn adopt(&self, number: SimNumber, token: String) {
        let mut s = self.lock();
        s.tokens.insert(token, number.waba_id.clone());
        if !s.numbers.iter().any(|n| n.id == number.id) {
            s.numbers.push(number);
        }
    }

    pub fn has_number(&self, phone_number_id: &str) -> bool {
        self.number_by_id(phone_number_id).is_some()
    }

    /// Whether a Graph API call with this token would be accepted for this number.
    pub fn accepts(&self, token: &str, phone_number_id: &str) -> bool {
        let s = self.lock();
        s.tokens.get(token).is_some_and(|waba| {
            s.numbers
                .iter()
                .any(|n| n.id == phone_number_id && &n.waba_id == waba)
        })
    }

    /// Meta's popup run again for a WABA that was connected before (reconnecting): a fresh code
    /// for the same account and numbers.
    pub fn reauthorize(&self, waba_id: &str) -> String {
        let code = format!("AQsim{}{}", self.next(), rand_suffix());
        self.lock()
            .codes
            .insert(code.clone(), (Instant::now(), waba_id.to_string(), false));
        code
    }

    /// Makes a code older than its 30-second life (tests of the expired-code path).
    pub fn expire_code(&self, code: &str) {
        if let Some(c) = self.lock().codes.get_mut(code) {
            c.0 = Instant::now() - CODE_TTL - Duration::from_secs(1);
        }
    }

    pub fn fail_next(&self, failure: Failure) {
        self.lock().failures.push_back(failure);
    }

    pub fn sent(&self) -> Vec<SentMessage> {
        self.lock().sent.clone()
    }

    pub fn typing(&self) -> Vec<String> {
        self.lock().typing.clone()
    }

    pub fn read_marks(&self) -> Vec<String> {
        self.lock().read_marks.clone()
    }

    pub fn smb_syncs(&self) -> Vec<(String, String)> {
        self.lock().smb_syncs.clone()
    }

    pub fn registered_pin(&self, phone_number_id: &str) -> Option<String> {
        self.lock()
            .numbers
            .iter()
            .find(|n| n.id == phone_number_id)
            .and_then(|n| n.pin.clone())
    }

    pub fn subscribed(&self) -> Vec<String> {
        self.lock().subscribed.clone()
    }

    /// Stores a file as Meta would hold a customer's upload; returns its media id.
    pub fn add_media(&self, bytes: Vec<u8>, mime: &str) -> String {
        let id = format!("{}{}", 5_000_000 + self.next(), &rand_suffix()[..3]);
        self.lock()
            .media
            .insert(id.clone(), (bytes, mime.to_string(), Instant::now()));
        id
    }

    /// A file uploaded to (or added to) the fake: its bytes and type.
    pub fn media(&self, id: &str) -> Option<(Vec<u8>, String)> {
        self.lock()
            .media
            .get(id)
            .map(|(bytes, mime, _)| (bytes.clone(), mime.clone()))
    }

    /// Makes a media URL handed out earlier stop working (Meta's 5-minute life).
    pub fn expire_media_urls(&self) {
        for m in self.lock().media.values_mut() {
            m.2 = Instant::now() - MEDIA_URL_TTL - Duration::from_secs(1);
        }
    }

    pub fn forget_media(&self, id: &str) {
        self.lock().media.remove(id);
    }

    fn take_failure(&self, path: &str) -> Option<Failure> {
        let mut s = self.lock();
        let i = s
            .failures
            .iter()
            .position(|f| path.ends_with(&f.path_suffix))?;
        let f = s.failures.get_mut(i)?;
        let out = f.clone();
        f.times = f.times.saturating_sub(1);
        if f.times == 0 {
            s.failures.remove(i);
        }
        Some(out)
    }

    fn token_waba(&self, headers: &HeaderMap) -> Option<String> {
        let token = headers
            .get(header::AUTHORIZATION)?
            .to_str()
            .ok()?
            .strip_prefix("Bearer ")?;
        self.lock().tokens.get(token).cloned()
    }

    fn number_of(&self, waba: &str, id: &str) -> Option<SimNumber> {
        self.lock()
            .numbers
            .iter()
            .find(|n| n.id == id && n.waba_id == waba)
            .cloned()
    }

    /// Signs and posts a webhook body to our own platform endpoint, like Meta.
    pub async fn deliver(&self, body: &Value) -> Result<u16, String> {
        let bytes = serde_json::to_vec(body).map_err(|e| e.to_string())?;
        let sig = super::ssr::sign(self.app_secret.as_bytes(), &bytes);
        let res = self
            .http
            .post(format!("{}/webhooks/whatsapp", self.public_url))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", sig)
            .body(bytes)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        Ok(res.status().as_u16())
    }

    /// A `messages` change as Meta batches it.
    pub fn envelope(number: &SimNumber, value: Value) -> Value {
        let mut value = value;
        if let Value::Object(m) = &mut value {
            m.insert("messaging_product".into(), json!("whatsapp"));
            m.insert(
                "metadata".into(),
                json!({"display_phone_number": number.display.chars().filter(char::is_ascii_digit).collect::<String>(), "phone_number_id": number.id}),
            );
        }
        json!({"object": "whatsapp_business_account", "entry": [{"id": number.waba_id, "changes": [{"field": "messages", "value": value}]}]})
    }

    fn number_by_id(&self, id: &str) -> Option<SimNumber> {
        self.lock().numbers.iter().find(|n| n.id == id).cloned()
    }

    async fn post_status(
        self: &Arc<Self>,
        number: &SimNumber,
        wamid: &str,
        to: &str,
        status: &str,
        opaque: Option<&str>,
    ) {
        let mut s = json!({"id": wamid, "status": status, "timestamp": now_secs().to_string(), "recipient_id": to,
            "pricing": {"billable": false, "pricing_model": "PMP", "category": "service"}});
        if let Some(o) = opaque {
            s["biz_opaque_callback_data"] = json!(o);
        }
        let body = Self::envelope(number, json!({"statuses": [s]}));
        if let Err(e) = self.deliver(&body).await {
            tracing::warn!(error = %e, "simulator could not deliver a status");
        }
    }
}

fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn rand_suffix() -> String {
    use rand::Rng;
    let n: u32 = rand::rng().random_range(0..100_000_000);
    format!("{n:08}")
}

type Sim = Extension<Arc<Simulator>>;

/// Gives the simulator back the numbers and tokens of shops connected through it before this
/// process started. Without it a restarted `make run` answered every send of the demo shop
/// with "session has expired" and marked its number as needing reconnection.
pub async fn restore(state: &AppState, sim: &Simulator) -> crate::error::AppResult<usize> {
    let accounts: Vec<super::ssr::AccountRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {} from wa_accounts where onboarding <> 'manual' and status <> 'disconnected'",
        super::ssr::account_columns()
    )))
    .fetch_all(&state.pool)
    .await?;
    let mut restored = 0;
    for a in accounts {
        let Ok(token) = super::ssr::account_token(state, &a) else {
            continue;
        };
        sim.adopt(
            SimNumber {
                id: a.phone_number_id.clone(),
                waba_id: a.waba_id.clone(),
                display: a.display_phone.clone(),
                verified_name: a.verified_name.clone(),
                pin: None,
                coexistence: a.is_coexistence(),
            },
            token.expose_secret().to_string(),
        );
        restored += 1;
    }
    Ok(restored)
}

pub fn router(sim: Arc<Simulator>) -> Router<AppState> {
    Router::new()
        .route(
            "/simulator/graph/{version}/oauth/access_token",
            get(exchange),
        )
        .route(
            "/simulator/graph/{version}/{id}",
            get(get_object).post(post_object),
        )
        .route(
            "/simulator/graph/{version}/{id}/phone_numbers",
            get(phone_numbers),
        )
        .route(
            "/simulator/graph/{version}/{id}/subscribed_apps",
            post(subscribe).get(list_subscriptions),
        )
        .route("/simulator/graph/{version}/{id}/register", post(register))
        .route(
            "/simulator/graph/{version}/{id}/smb_app_data",
            post(smb_app_data),
        )
        .route("/simulator/graph/{version}/{id}/messages", post(messages))
        .route(
            "/simulator/graph/{version}/{id}/media",
            post(upload_media).layer(axum::extract::DefaultBodyLimit::max(100 * 1024 * 1024)),
        )
        .route(
            "/simulator/graph/{version}/{id}/message_templates",
            get(list_templates).post(create_template),
        )
        .route("/simulator/graph/_media/{id}", get(download))
        .route("/simulator/graph/_sim/signup", post(sim_signup))
        .route("/simulator/graph/_sim/fail", post(sim_fail))
        .route("/simulator/graph/_sim/numbers", get(sim_numbers))
        .route("/simulator/graph/_sim/send", post(sim_send))
        .route("/simulator/graph/_sim/chat", get(sim_chat))
        .route(
            "/simulator/sdk.js",
            get(|| async { js(include_str!("simulator_assets/sdk.js")) }),
        )
        .route(
            "/simulator/signup.js",
            get(|| async { js(include_str!("simulator_assets/signup.js")) }),
        )
        .route(
            "/simulator/customer.js",
            get(|| async { js(include_str!("simulator_assets/customer.js")) }),
        )
        .route("/simulator/signup", get(signup_page))
        .route("/simulator", get(customer_page))
        .layer(Extension(sim))
}

fn js(source: &'static str) -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        source,
    )
        .into_response()
}

/// The simulated Graph call's failure, if one was injected for this path.
async fn injected(sim: &Simulator, path: &str) -> Option<Response> {
    let f = sim.take_failure(path)?;
    if f.accept_then_hang {
        return None;
    }
    Some(graph_error(f.status, f.code, &f.message))
}

#[derive(Deserialize)]
struct ExchangeQuery {
    client_id: Option<String>,
    client_secret: Option<String>,
    code: Option<String>,
}

async fn exchange(Extension(sim): Sim, Query(q): Query<ExchangeQuery>) -> Response {
    if let Some(r) = injected(&sim, "oauth/access_token").await {
        return r;
    }
    if q.client_id.as_deref() != Some(sim.app_id.as_str())
        || q.client_secret.as_deref() != Some(sim.app_secret.as_str())
    {
        return graph_error(400, 101, "Error validating client secret.");
    }
    let code = q.code.unwrap_or_default();
    let mut s = sim.lock();
    let Some((issued, waba, used)) = s.codes.get(&code).cloned() else {
        return graph_error(400, 100, "Invalid verification code format.");
    };
    if used {
        return graph_error(400, 100, "This authorization code has been used.");
    }
    if issued.elapsed() > CODE_TTL {
        return graph_error(400, 100, "This authorization code has expired.");
    }
    if let Some(c) = s.codes.get_mut(&code) {
        c.2 = true;
    }
    let token = format!("EAAsim{}{}", rand_suffix(), rand_suffix());
    s.tokens.insert(token.clone(), waba);
    // Meta's "60 expiration" configuration: about 60 days.
    Json(json!({"access_token": token, "token_type": "bearer", "expires_in": 5_184_000}))
        .into_response()
}

fn phone_json(n: &SimNumber) -> Value {
    json!({"id": n.id, "display_phone_number": n.display, "verified_name": n.verified_name,
           "quality_rating": "GREEN", "code_verification_status": "VERIFIED",
           "messaging_limit_tier": "TIER_1K", "platform_type": if n.pin.is_some() || n.coexistence { "CLOUD_API" } else { "NOT_APPLICABLE" }})
}

async fn get_object(
    Extension(sim): Sim,
    Path((_v, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = injected(&sim, &id).await {
        return r;
    }
    let Some(waba) = sim.token_waba(&headers) else {
        return graph_error(
            401,
            190,
            "Error validating access token: The session has been invalidated.",
        );
    };
    if let Some(n) = sim.number_of(&waba, &id) {
        return Json(phone_json(&n)).into_response();
    }
    let media = sim
        .lock()
        .media
        .get(&id)
        .map(|(b, m, _)| (b.len(), m.clone()));
    if let Some((len, mime)) = media {
        // A fresh 5-minute URL each time, like Meta's lookaside links.
        if let Some(m) = sim.lock().media.get_mut(&id) {
            m.2 = Instant::now();
        }
        return Json(json!({"url": format!("{}/simulator/graph/_media/{id}", sim.public_url), "mime_type": mime,
            "sha256": "", "file_size": len, "id": id, "messaging_product": "whatsapp"})).into_response();
    }
    graph_error(
        400,
        100,
        "Unsupported get request. Object does not exist or cannot be loaded due to missing permissions.",
    )
}

/// `POST /{phone_number_id}` (webhook overrides): accepted and ignored.
async fn post_object(Extension(sim): Sim, headers: HeaderMap) -> Response {
    if sim.token_waba(&headers).is_none() {
        return graph_error(401, 190, "Error validating access token.");
    }
    Json(json!({"success": true})).into_response()
}

async fn phone_numbers(
    Extension(sim): Sim,
    Path((_v, waba)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = injected(&sim, "phone_numbers").await {
        return r;
    }
    match sim.token_waba(&headers) {
        Some(w) if w == waba => {
            let data: Vec<Value> = sim
                .lock()
                .numbers
                .iter()
                .filter(|n| n.waba_id == waba)
                .map(phone_json)
                .collect();
            Json(json!({"data": data, "paging": {"cursors": {"before": "a", "after": "b"}}}))
                .into_response()
        }
        Some(_) => graph_error(
            400,
            100,
            "Unsupported get request. Object does not exist or cannot be loaded due to missing permissions.",
        ),
        None => graph_error(401, 190, "Error validating access token."),
    }
}

async fn subscribe(
    Extension(sim): Sim,
    Path((_v, waba)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = injected(&sim, "subscribed_apps").await {
        return r;
    }
    match sim.token_waba(&headers) {
        Some(w) if w == waba => {
            let mut s = sim.lock();
            if !s.subscribed.contains(&waba) {
                s.subscribed.push(waba);
            }
            Json(json!({"success": true})).into_response()
        }
        Some(_) => graph_error(400, 100, "Unsupported post request."),
        None => graph_error(401, 190, "Error validating access token."),
    }
}

async fn list_subscriptions(
    Extension(sim): Sim,
    Path((_v, waba)): Path<(String, String)>,
) -> Response {
    let subscribed = sim.lock().subscribed.contains(&waba);
    let data: Vec<Value> = if subscribed {
        vec![json!({"whatsapp_business_api_data": {"id": sim.app_id, "name": "Bizmaat"}})]
    } else {
        vec![]
    };
    Json(json!({"data": data})).into_response()
}

async fn register(
    Extension(sim): Sim,
    Path((_v, id)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = injected(&sim, "register").await {
        return r;
    }
    let Some(waba) = sim.token_waba(&headers) else {
        return graph_error(401, 190, "Error validating access token.");
    };
    let pin = body["pin"].as_str().unwrap_or_default().to_string();
    if pin.len() != 6 || !pin.chars().all(|c| c.is_ascii_digit()) {
        return graph_error(400, 100, "Param pin must be 6 digits.");
    }
    let mut s = sim.lock();
    let Some(n) = s
        .numbers
        .iter_mut()
        .find(|n| n.id == id && n.waba_id == waba)
    else {
        return graph_error(400, 100, "Unsupported post request.");
    };
    match &n.pin {
        Some(existing) if *existing != pin => {
            graph_error(400, 133005, "Two step verification PIN Mismatch")
        }
        _ => {
            n.pin = Some(pin);
            Json(json!({"success": true})).into_response()
        }
    }
}

async fn smb_app_data(
    Extension(sim): Sim,
    Path((_v, id)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if sim.token_waba(&headers).is_none() {
        return graph_error(401, 190, "Error validating access token.");
    }
    let sync = body["sync_type"].as_str().unwrap_or_default().to_string();
    let mut s = sim.lock();
    if s.smb_syncs.iter().any(|(p, t)| *p == id && *t == sync) {
        return graph_error(400, 100, "The sync was already requested for this number.");
    }
    s.smb_syncs.push((id.clone(), sync.clone()));
    drop(s);
    // Like Meta, the contacts and the chat history follow as webhooks a little later.
    if sim.auto_status.load(Ordering::Relaxed)
        && let Some(number) = sim.number_by_id(&id)
    {
        let sim = sim.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            for body in sim.coexistence_webhooks(&number, &sync) {
                if let Err(e) = sim.deliver(&body).await {
                    tracing::warn!(error = %e, "simulator could not deliver a coexistence sync");
                }
            }
        });
    }
    Json(json!({"success": true})).into_response()
}

impl Simulator {
    /// What Meta sends after `smb_app_data`: the app's contacts (`smb_app_state_sync`), or two
    /// chunks of chat history and the contents of a photo the history only had a placeholder
    /// for (`history`).
    pub fn coexistence_webhooks(&self, number: &SimNumber, sync: &str) -> Vec<Value> {
        let business: String = number
            .display
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        let change = |field: &str, value: Value| {
            let mut value = value;
            value["messaging_product"] = json!("whatsapp");
            value["metadata"] =
                json!({"display_phone_number": business, "phone_number_id": number.id});
            json!({"object": "whatsapp_business_account", "entry": [{"id": number.waba_id,
                "changes": [{"field": field, "value": value}]}]})
        };
        let now = now_secs();
        let ago = |hours: i64| (now - hours * 3600).to_string();
        let (amara, tunde) = ("2348031110001", "2348031110002");
        match sync {
            "smb_app_state_sync" => vec![change(
                "smb_app_state_sync",
                json!({"state_sync": [
                    {"type": "contact", "action": "add", "metadata": {"timestamp": now.to_string()},
                     "contact": {"full_name": "Amara Okafor", "first_name": "Amara", "phone_number": amara}},
                    {"type": "contact", "action": "add", "metadata": {"timestamp": now.to_string()},
                     "contact": {"full_name": "Tunde (wholesale)", "first_name": "Tunde", "phone_number": tunde}},
                ]}),
            )],
            "history" => {
                let photo = self.add_media(SAMPLE_PNG.to_vec(), "image/png");
                let placeholder = self.new_wamid();
                let msg = |from: &str, to: Option<&str>, hours: i64, text: &str, status: &str| {
                    let mut m = json!({"from": from, "id": self.new_wamid(), "timestamp": ago(hours),
                        "type": "text", "text": {"body": text}, "history_context": {"status": status}});
                    if let Some(to) = to {
                        m["to"] = json!(to);
                    }
                    m
                };
                vec![
                    change(
                        "history",
                        json!({"history": [{
                            "metadata": {"phase": 1, "chunk_order": 1, "progress": 50},
                            "threads": [{"id": amara, "messages": [
                                msg(amara, None, 50, "Do you still have the blue ankara dress in M?", "READ"),
                                msg(&business, Some(amara), 49, "Yes, one left. Shall I keep it for you?", "READ"),
                                msg(amara, None, 48, "Yes please, I'll order this week", "READ"),
                            ]}],
                        }]}),
                    ),
                    change(
                        "history",
                        json!({"history": [{
                            "metadata": {"phase": 2, "chunk_order": 2, "progress": 100},
                            "threads": [{"id": tunde, "messages": [
                                msg(tunde, None, 30 * 24, "Price for 20 pieces?", "READ"),
                                {"from": business, "to": tunde, "id": placeholder, "timestamp": ago(30 * 24 - 1),
                                 "type": "media_placeholder", "history_context": {"status": "DELIVERED"}},
                            ]}],
                        }]}),
                    ),
                    change(
                        "history",
                        json!({"messages": [{
                            "from": business, "to": tunde, "id": placeholder, "timestamp": ago(30 * 24 - 1),
                            "type": "image", "image": {"caption": "Our wholesale price list", "mime_type": "image/png", "id": photo},
                        }]}),
                    ),
                ]
            }
            _ => Vec::new(),
        }
    }
}

/// `POST /{phone-number-id}/media`: Meta's multipart upload (messaging_product, type, file).
async fn upload_media(
    Extension(sim): Sim,
    Path((_v, id)): Path<(String, String)>,
    headers: HeaderMap,
    mut form: axum::extract::Multipart,
) -> Response {
    if let Some(r) = injected(&sim, "media").await {
        return r;
    }
    let Some(waba) = sim.token_waba(&headers) else {
        return graph_error(401, 190, "Error validating access token.");
    };
    if sim.number_of(&waba, &id).is_none() {
        return graph_error(400, 100, "Unsupported post request.");
    }
    let (mut product, mut mime, mut file) = (String::new(), String::new(), None);
    while let Ok(Some(field)) = form.next_field().await {
        match field.name().unwrap_or_default() {
            "messaging_product" => product = field.text().await.unwrap_or_default(),
            "type" => mime = field.text().await.unwrap_or_default(),
            "file" => file = field.bytes().await.ok().map(|b| b.to_vec()),
            _ => {}
        }
    }
    if product != "whatsapp" {
        return graph_error(400, 100, "The parameter messaging_product is required.");
    }
    let Some(file) = file.filter(|f| !f.is_empty()) else {
        return graph_error(400, 100, "The parameter file is required.");
    };
    if mime.is_empty() {
        return graph_error(400, 100, "The parameter type is required.");
    }
    Json(json!({"id": sim.add_media(file, &mime)})).into_response()
}

async fn messages(
    Extension(sim): Sim,
    Path((_v, id)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let failure = sim.take_failure("messages");
    if let Some(f) = &failure
        && !f.accept_then_hang
    {
        return graph_error(f.status, f.code, &f.message);
    }
    let Some(waba) = sim.token_waba(&headers) else {
        return graph_error(
            401,
            190,
            "Error validating access token: Session has expired.",
        );
    };
    let Some(number) = sim.number_of(&waba, &id) else {
        return graph_error(400, 100, "Unsupported post request.");
    };
    if body["status"].as_str() == Some("read") {
        let wamid = body["message_id"].as_str().unwrap_or_default().to_string();
        let mut s = sim.lock();
        if body
            .pointer("/typing_indicator/type")
            .and_then(Value::as_str)
            == Some("text")
        {
            s.typing.push(wamid.clone());
        }
        s.read_marks.push(wamid);
        return Json(json!({"success": true})).into_response();
    }
    let to = body["to"]
        .as_str()
        .or(body["recipient"].as_str())
        .unwrap_or_default()
        .to_string();
    if to.is_empty() || body["type"].as_str().is_none() {
        return graph_error(400, 100, "The parameter to is required.");
    }
    if to.chars().filter(char::is_ascii_digit).collect::<String>()
        == number
            .display
            .chars()
            .filter(char::is_ascii_digit)
            .collect::<String>()
    {
        return graph_error(400, 131021, "Recipient cannot be sender.");
    }
    // Media by id must be an upload Meta knows (error 131053, as Meta answers).
    let kind = body["type"].as_str().unwrap_or_default();
    if let Some(media_id) = body.pointer(&format!("/{kind}/id")).and_then(Value::as_str)
        && !sim.lock().media.contains_key(media_id)
    {
        return graph_error(
            400,
            131053,
            "Media upload error: the media id is not valid.",
        );
    }
    let wamid = sim.new_wamid();
    sim.lock().sent.push(SentMessage {
        phone_number_id: id.clone(),
        to: to.clone(),
        wamid: wamid.clone(),
        body: body.clone(),
        read: false,
    });
    let opaque = body["biz_opaque_callback_data"]
        .as_str()
        .map(str::to_string);
    if sim.auto_status.load(Ordering::Relaxed) {
        let (sim2, number2, wamid2, to2) = (sim.clone(), number.clone(), wamid.clone(), to.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(150)).await;
            sim2.post_status(&number2, &wamid2, &to2, "sent", opaque.as_deref())
                .await;
            tokio::time::sleep(Duration::from_millis(150)).await;
            sim2.post_status(&number2, &wamid2, &to2, "delivered", opaque.as_deref())
                .await;
        });
    }
    if failure.is_some_and(|f| f.accept_then_hang) {
        // Accepted, but the answer never comes back.
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    Json(
        json!({"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": wamid, "message_status": "accepted"}]}),
    )
    .into_response()
}

async fn download(Extension(sim): Sim, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if let Some(r) = injected(&sim, "_media").await {
        return r;
    }
    if sim.token_waba(&headers).is_none() {
        return graph_error(401, 190, "Error validating access token.");
    }
    let m = sim.lock().media.get(&id).cloned();
    match m {
        Some((bytes, mime, issued)) if issued.elapsed() <= MEDIA_URL_TTL => {
            ([(header::CONTENT_TYPE, mime)], bytes).into_response()
        }
        Some(_) => (StatusCode::NOT_FOUND, "URL signature expired").into_response(),
        None => graph_error(404, 100, "Media not found."),
    }
}

async fn list_templates(
    Extension(sim): Sim,
    Path((_v, waba)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = injected(&sim, "message_templates").await {
        return r;
    }
    if sim.token_waba(&headers).as_deref() != Some(waba.as_str()) {
        return graph_error(401, 190, "Error validating access token.");
    }
    let data = sim.lock().templates.get(&waba).cloned().unwrap_or_default();
    Json(json!({"data": data})).into_response()
}

/// Templates are approved at once in the simulator (Meta takes minutes to hours).
async fn create_template(
    Extension(sim): Sim,
    Path((_v, waba)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = injected(&sim, "message_templates").await {
        return r;
    }
    if sim.token_waba(&headers).as_deref() != Some(waba.as_str()) {
        return graph_error(401, 190, "Error validating access token.");
    }
    let name = body["name"].as_str().unwrap_or_default().to_string();
    let language = body["language"].as_str().unwrap_or("en").to_string();
    let mut s = sim.lock();
    let list = s.templates.entry(waba).or_default();
    if list
        .iter()
        .any(|t| t["name"] == json!(name) && t["language"] == json!(language))
    {
        let mut r = graph_error(400, 100, "Content in this language already exists.");
        if let Ok(mut v) = serde_json::to_value(
            json!({"error": {"message": "(#100) Content in this language already exists", "type": "OAuthException", "code": 100, "error_subcode": 2388024, "fbtrace_id": "Asim"}}),
        ) {
            r = (StatusCode::BAD_REQUEST, Json(std::mem::take(&mut v))).into_response();
        }
        return r;
    }
    let id = format!("{}", 1_000_000 + sim.next());
    let mut t = body.clone();
    t["id"] = json!(id);
    t["status"] = json!("APPROVED");
    list.push(t);
    Json(json!({"id": id, "status": "APPROVED", "category": body["category"]})).into_response()
}

// ------------------------------------------------------------------------------ simulator control

#[derive(Deserialize)]
struct SignupRequest {
    #[serde(default)]
    mode: String,
}

async fn sim_signup(Extension(sim): Sim, Json(r): Json<SignupRequest>) -> Response {
    let coexistence = r.mode == "coexistence";
    let (code, number) = sim.start_signup(coexistence);
    Json(
        json!({"code": code, "waba_id": number.waba_id, "phone_number_id": number.id,
                "business_id": format!("6{}", &number.waba_id[1..])}),
    )
    .into_response()
}

#[derive(Deserialize)]
struct FailRequest {
    path_suffix: String,
    #[serde(default = "default_status")]
    status: u16,
    code: i64,
    #[serde(default)]
    message: String,
    #[serde(default = "one")]
    times: u32,
}

fn default_status() -> u16 {
    400
}

fn one() -> u32 {
    1
}

async fn sim_fail(Extension(sim): Sim, Json(f): Json<FailRequest>) -> Response {
    sim.fail_next(Failure {
        path_suffix: f.path_suffix,
        status: f.status,
        code: f.code,
        message: if f.message.is_empty() {
            "Simulated error".into()
        } else {
            f.message
        },
        times: f.times.max(1),
        accept_then_hang: false,
    });
    StatusCode::NO_CONTENT.into_response()
}

/// Numbers connected to a shop on this server through the simulator, for the customer page.
async fn sim_numbers(State(state): State<AppState>) -> Response {
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "select a.phone_number_id, a.display_phone, s.name, s.slug from wa_accounts a join shops s on s.id = a.shop_id
         where a.status = 'connected' and a.onboarding <> 'manual' order by a.connected_at desc limit 50",
    )
    .fetch_all(&state.pool)
    .await
    .unwrap_or_default();
    Json(rows.into_iter().map(|(id, display, shop, slug)| json!({"phone_number_id": id, "display": display, "shop": shop, "slug": slug})).collect::<Vec<_>>()).into_response()
}

/// A customer's message for the simulator to deliver as a signed webhook.
#[derive(Debug, Default, Deserialize)]
pub struct CustomerSend {
    pub phone_number_id: String,
    pub from: String,
    #[serde(default)]
    pub name: String,
    /// text, image, button, list, location, order, reaction
    pub kind: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub reply_to: Option<String>,
    /// Deliver the same message twice (Meta's at-least-once delivery).
    #[serde(default)]
    pub duplicate: bool,
    /// button and list: the id of the button or row tapped.
    #[serde(default)]
    pub reply_id: Option<String>,
    /// Date the message this many hours back (a customer whose 24-hour window has closed).
    #[serde(default)]
    pub age_hours: i64,
}

/// A tiny PNG (a green square) for "send a photo".
const SAMPLE_PNG: &[u8] = include_bytes!("simulator_assets/sample.png");

async fn sim_send(
    State(state): State<AppState>,
    Extension(sim): Sim,
    Json(r): Json<CustomerSend>,
) -> Response {
    match sim.customer_sends(&state.pool, r).await {
        Ok((wamid, status)) => {
            Json(json!({"wamid": wamid, "webhook_status": status})).into_response()
        }
        Err((status, error)) => (status, Json(json!({"error": error}))).into_response(),
    }
}

impl Simulator {
    /// A customer writes to a business number: the message Meta would deliver, signed and
    /// posted to our webhook. Returns its wamid and the webhook's HTTP status.
    pub async fn customer_sends(
        &self,
        pool: &sqlx::PgPool,
        r: CustomerSend,
    ) -> Result<(String, u16), (StatusCode, String)> {
        let sim = self;
        let Some(number) = sim.number_by_id(&r.phone_number_id) else {
            return Err((
                StatusCode::NOT_FOUND,
                "That business number is not in the simulator.".into(),
            ));
        };
        let from: String = r.from.chars().filter(char::is_ascii_digit).collect();
        if !(8..=15).contains(&from.len()) {
            return Err((
                StatusCode::BAD_REQUEST,
                "Enter the customer's number with country code, digits only.".into(),
            ));
        }
        let wamid = sim.new_wamid();
        let sent_at = now_secs() - r.age_hours.clamp(0, 24 * 30) * 3600;
        let mut m =
            json!({"from": from, "id": wamid, "timestamp": sent_at.to_string(), "type": r.kind});
        match r.kind.as_str() {
            "text" => m["text"] = json!({"body": r.text}),
            "image" => {
                let id = sim.add_media(SAMPLE_PNG.to_vec(), "image/png");
                m["image"] =
                    json!({"id": id, "mime_type": "image/png", "sha256": "", "caption": r.text});
            }
            // A tap on a reply button or a list row the business sent (`reply_id`), or a sample.
            "button" => {
                m["type"] = json!("interactive");
                m["interactive"] = json!({"type": "button_reply", "button_reply": {
                "id": r.reply_id.as_deref().unwrap_or("yes"),
                "title": if r.text.is_empty() { "Yes, please" } else { r.text.as_str() }}})
            }
            "list" => {
                m["type"] = json!("interactive");
                m["interactive"] = json!({"type": "list_reply", "list_reply": {
                "id": r.reply_id.as_deref().unwrap_or("size-m"),
                "title": if r.text.is_empty() { "Size M" } else { r.text.as_str() }}})
            }
            "location" => {
                m["location"] = json!({"latitude": 6.5244, "longitude": 3.3792, "name": "Customer's place", "address": "12 Admiralty Way, Lagos"})
            }
            "reaction" => {
                m["reaction"] =
                    json!({"message_id": r.reply_to.clone().unwrap_or_default(), "emoji": "👍"})
            }
            "order" => {
                let items: Vec<(Option<String>, String, i64)> = sqlx::query_as(
                "select p.sku, p.id::text, p.price_minor from products p join wa_accounts a on a.shop_id = p.shop_id
                 where a.phone_number_id = $1 and p.status = 'active' order by p.created_at limit 2",
            )
            .bind(&r.phone_number_id)
            .fetch_all(pool)
            .await
            .unwrap_or_default();
                let product_items: Vec<Value> = items
                .iter()
                .map(|(sku, id, price)| json!({"product_retailer_id": sku.clone().unwrap_or(id.clone()), "quantity": 1, "item_price": *price as f64 / 100.0, "currency": "USD"}))
                .collect();
                if product_items.is_empty() {
                    return Err((
                        StatusCode::BAD_REQUEST,
                        "The shop has no active products to order.".into(),
                    ));
                }
                m["order"] = json!({"catalog_id": "sim-catalog", "text": "", "product_items": product_items});
            }
            _ => m[r.kind.as_str()] = json!({}),
        }
        if let Some(reply_to) = r.reply_to.filter(|_| r.kind != "reaction") {
            m["context"] = json!({"from": number.display.chars().filter(char::is_ascii_digit).collect::<String>(), "id": reply_to});
        }
        let name = if r.name.trim().is_empty() {
            "Simulated customer".to_string()
        } else {
            r.name.trim().to_string()
        };
        let body = Simulator::envelope(
            &number,
            json!({"contacts": [{"profile": {"name": name}, "wa_id": from}], "messages": [m.clone()]}),
        );
        sim.lock()
            .customer_log
            .push((r.phone_number_id.clone(), from.clone(), wamid.clone(), m));
        let times = if r.duplicate { 2 } else { 1 };
        let mut status = 0;
        for _ in 0..times {
            status = sim
                .deliver(&body)
                .await
                .map_err(|e| (StatusCode::BAD_GATEWAY, e))?;
        }
        Ok((wamid, status))
    }
}

#[derive(Deserialize)]
struct ChatQuery {
    phone_number_id: String,
    customer: String,
}

/// The customer's phone: what they sent and what the business sent them. Opening it reads the
/// business's messages (Meta then reports `read`).
async fn sim_chat(Extension(sim): Sim, Query(q): Query<ChatQuery>) -> Response {
    let customer: String = q.customer.chars().filter(char::is_ascii_digit).collect();
    let Some(number) = sim.number_by_id(&q.phone_number_id) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "unknown number"})),
        )
            .into_response();
    };
    let (mut lines, to_read) = {
        let mut s = sim.lock();
        let mut lines: Vec<Value> = s
            .customer_log
            .iter()
            .filter(|(p, c, _, _)| *p == q.phone_number_id && *c == customer)
            .map(|(_, _, id, m)| json!({"from": "customer", "id": id, "message": m}))
            .collect();
        let mut to_read = Vec::new();
        for m in s
            .sent
            .iter_mut()
            .filter(|m| m.phone_number_id == q.phone_number_id && m.to == customer)
        {
            lines.push(json!({"from": "business", "id": m.wamid, "message": m.body}));
            if !m.read {
                m.read = true;
                to_read.push((
                    m.wamid.clone(),
                    m.body["biz_opaque_callback_data"]
                        .as_str()
                        .map(str::to_string),
                ));
            }
        }
        (lines, to_read)
    };
    lines.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    if !to_read.is_empty() {
        let sim2 = sim.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(400)).await;
            for (wamid, opaque) in to_read {
                sim2.post_status(&number, &wamid, &customer, "read", opaque.as_deref())
                    .await;
            }
        });
    }
    Json(json!({"messages": lines})).into_response()
}

// ------------------------------------------------------------------------------ pages

fn page(state: &AppState, title: &str, body: &str, script: &str) -> Response {
    let css = crate::css_href(&state.leptos_options);
    Html(format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><link rel=\"stylesheet\" href=\"{css}\"></head><body class=\"simulator\">{body}\
         <script src=\"{script}\"></script></body></html>"
    ))
    .into_response()
}

/// The stand-in for Meta's Embedded Signup popup.
async fn signup_page(State(state): State<AppState>) -> Response {
    page(
        &state,
        "Simulated Embedded Signup",
        "<main class=\"page narrow\"><h1>Connect WhatsApp (simulator)</h1>\
         <p>This window stands in for Facebook's Embedded Signup. Nothing here talks to Meta.</p>\
         <p><button type=\"button\" disabled class=\"button primary\" data-mode=\"FINISH\">Connect a new number</button></p>\
         <p><button type=\"button\" disabled class=\"button\" data-mode=\"FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING\">Keep using the WhatsApp Business app (coexistence)</button></p>\
         <p><button type=\"button\" disabled class=\"button\" data-mode=\"FINISH_ONLY_WABA\">Finish without choosing a number</button></p>\
         <p><button type=\"button\" disabled class=\"button\" data-mode=\"CANCEL\">Cancel</button> \
         <button type=\"button\" disabled class=\"button\" data-mode=\"ERROR\">Simulate an error</button></p>\
         <p id=\"sim-status\" role=\"status\"></p></main>",
        "/simulator/signup.js",
    )
}

/// Play a customer of a connected shop.
async fn customer_page(State(state): State<AppState>) -> Response {
    page(
        &state,
        "WhatsApp customer simulator",
        "<main class=\"page sim-customer\"><h1>Customer simulator</h1>\
         <p>Write to a shop's WhatsApp number as a customer would. Messages reach Bizmaat as signed webhooks, exactly like Meta's.</p>\
         <form id=\"sim-form\" class=\"stack\">\
           <label>Business number <select id=\"sim-number\" name=\"number\"></select></label>\
           <label>Your WhatsApp number <input id=\"sim-from\" name=\"from\" value=\"2348031234567\" inputmode=\"numeric\"></label>\
           <label>Your name <input id=\"sim-name\" name=\"name\" value=\"Ada Customer\"></label>\
         </form>\
         <ol id=\"sim-chat\" class=\"sim-chat\" aria-live=\"polite\"></ol>\
         <form id=\"sim-compose\" class=\"sim-compose\">\
           <label for=\"sim-text\">Message</label><input id=\"sim-text\" name=\"text\" autocomplete=\"off\">\
           <button type=\"submit\" class=\"button primary\">Send</button>\
         </form>\
         <p class=\"sim-actions\">\
           <button type=\"button\" class=\"button\" data-kind=\"image\">Send a photo</button>\
           <button type=\"button\" class=\"button\" data-kind=\"button\">Tap a reply button</button>\
           <button type=\"button\" class=\"button\" data-kind=\"list\">Pick from a list</button>\
           <button type=\"button\" class=\"button\" data-kind=\"location\">Share location</button>\
           <button type=\"button\" class=\"button\" data-kind=\"order\">Place a WhatsApp order</button>\
           <button type=\"button\" class=\"button\" data-kind=\"text\" data-duplicate=\"1\">Send \"Hello\" twice (duplicate delivery)</button>\
           <button type=\"button\" class=\"button\" data-kind=\"text\" data-text=\"STOP\">Send STOP</button>\
         </p><p id=\"sim-error\" role=\"alert\"></p></main>",
        "/simulator/customer.js",
    )
}
