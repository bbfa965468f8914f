//! `spawn_app()`: builds the real application with a fresh database cloned from a migrated
//! template, serves it on 127.0.0.1:0 and hands back a client that keeps cookies.

use app::config::Config;
use app::state::AppState;
use reqwest::header::{HeaderMap, HeaderValue};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::OnceCell;

pub const PASSWORD: &str = "a long enough secret";

fn server_url() -> String {
    let url = std::env::var("TEST_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    // Keep scheme, credentials, host and port; databases are chosen per test.
    match url.rfind('/') {
        Some(i) if i > "postgres://".len() => url[..i].to_string(),
        _ => url,
    }
}

static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// A database with every migration applied, created once per migration set and reused as the
/// template for each test's own database (copying it is much faster than migrating).
async fn template() -> &'static str {
    TEMPLATE
        .get_or_init(|| async {
            let checksum: String = server::db::MIGRATOR
                .iter()
                .map(|m| format!("{}{}", m.version, hex_short(&m.checksum)))
                .collect::<String>();
            let name = format!("bizmaat_tpl_{:016x}", fxhash(&checksum));
            let mut admin = PgConnection::connect(&format!("{}/postgres", server_url())).await.expect(
                "cannot reach PostgreSQL for tests: set TEST_DATABASE_URL (see README, Testing)",
            );
            // Several test processes may start at once: one builds the template, others wait.
            admin.execute("select pg_advisory_lock(74123)").await.unwrap();
            let exists: bool = sqlx::query_scalar("select exists(select 1 from pg_database where datname = $1)")
                .bind(&name)
                .fetch_one(&mut admin)
                .await
                .unwrap();
            if !exists {
                exec(&mut admin, format!(r#"create database "{name}_tmp""#)).await.ok();
                let pool = PgPool::connect(&format!("{}/{name}_tmp", server_url())).await.unwrap();
                server::db::migrate(&pool).await.expect("migrations apply to a fresh database");
                pool.close().await;
                exec(&mut admin, format!(r#"alter database "{name}_tmp" rename to "{name}""#)).await.unwrap();
            }
            admin.execute("select pg_advisory_unlock(74123)").await.unwrap();
            name
        })
        .await
}

fn hex_short(bytes: &[u8]) -> String {
    bytes.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

pub struct TestApp {
    pub base: String,
    pub pool: PgPool,
    pub client: reqwest::Client,
    /// Connections handed out by the app's pool. Each storefront query goes to the pool on its
    /// own, so the difference across one request is the number of queries it made.
    pub acquires: Arc<AtomicU64>,
    pub media_dir: std::path::PathBuf,
    pub page_views: app::analytics::ssr::PageViews,
    /// The app's own state (same pool, config, clock and job handlers as the server).
    pub state: AppState,
    /// The app's clock: manual when the app came from `spawn_app_with_clock`.
    pub clock: app::platform::clock::Clock,
    db_name: String,
    /// Dropped with the app, which stands the watchdog down (see `watchdog`).
    _watchdog: std::sync::mpsc::Sender<()>,
}

/// How long one test may hold its app before the whole run is stopped as hung.
const HUNG_AFTER: std::time::Duration = std::time::Duration::from_secs(300);

/// libtest has no per-test timeout: a test stuck on a lock or an endless loop would hold the
/// run until CI's own limit, and its name would never be printed. The watchdog names the test
/// (libtest names each test's thread after it), prints what its database sessions are
/// waiting on, and ends the run.
fn watchdog(db_name: String) -> std::sync::mpsc::Sender<()> {
    let test = std::thread::current()
        .name()
        .unwrap_or("an unnamed test")
        .to_string();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if rx.recv_timeout(HUNG_AFTER) != Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
            return;
        }
        eprintln!(
            "\n{test}: still running after {} s; stopping the test run as hung. Its database sessions:",
            HUNG_AFTER.as_secs()
        );
        let url = format!("{}/postgres", server_url());
        let sessions = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                let mut c = PgConnection::connect(&url).await.ok()?;
                sqlx::query_as::<
                    _,
                    (
                        Option<String>,
                        Option<String>,
                        Option<String>,
                        Option<String>,
                    ),
                >(
                    "select state, wait_event_type, wait_event, left(query, 300)
                     from pg_stat_activity where datname = $1",
                )
                .bind(&db_name)
                .fetch_all(&mut c)
                .await
                .ok()
            });
        for (state, wait_type, wait, query) in sessions.unwrap_or_default() {
            eprintln!("  {state:?} waiting on {wait_type:?}/{wait:?}: {query:?}");
        }
        std::process::exit(101);
    });
    tx
}

/// Options for a test app: extra configuration variables.
#[derive(Default)]
pub struct Opts {
    pub env: Vec<(&'static str, String)>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Opts::default()).await
}

/// Test output shows the app's errors (internal ones carry the cause). RUST_LOG adjusts it.
fn init_tracing() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}

pub async fn spawn_app_with(opts: Opts) -> TestApp {
    spawn_app_with_clock(opts, app::platform::clock::Clock::system()).await
}

/// A test app whose time rules (job backoff, leases, purges) follow `clock`, typically
/// `Clock::manual(..)` that the test advances.
pub async fn spawn_app_with_clock(opts: Opts, clock: app::platform::clock::Clock) -> TestApp {
    let (app, listener) = unserved_app(opts, clock).await;
    serve(listener, app.state.clone());
    app
}

/// The test app (database, configuration, state, client) and its bound listener, with nothing
/// serving on it yet: for tests that serve it themselves (`server::startup::serve_until`).
pub async fn unserved_app(
    opts: Opts,
    clock: app::platform::clock::Clock,
) -> (TestApp, tokio::net::TcpListener) {
    init_tracing();
    let template = template().await;
    let db_name = format!("bizmaat_test_{}", uuid::Uuid::now_v7().simple());
    let mut admin = PgConnection::connect(&format!("{}/postgres", server_url()))
        .await
        .unwrap();
    exec(
        &mut admin,
        format!(r#"create database "{db_name}" template "{template}""#),
    )
    .await
    .unwrap();
    admin.close().await.ok();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let media = std::env::temp_dir().join(format!("bizmaat-media-{db_name}"));
    let mut vars: HashMap<String, String> = HashMap::from([
        ("MEDIA_DIR".into(), media.display().to_string()),
        ("DATABASE_URL".into(), format!("{}/{db_name}", server_url())),
        ("PUBLIC_URL".into(), base.clone()),
        ("PORT".into(), addr.port().to_string()),
        ("APP_ENV".into(), "development".into()),
        // Signup confirmation links are read from it (see `call_with`).
        ("DEV_MAILBOX".into(), "true".into()),
        // Order tests place many orders from one address, shop and phone; the limits have their
        // own tests.
        ("RATE_LIMIT_CHECKOUT_PER_HOUR".into(), "1000".into()),
        (
            "RATE_LIMIT_CHECKOUT_PER_SHOP_PER_HOUR".into(),
            "1000".into(),
        ),
        (
            "RATE_LIMIT_CHECKOUT_PER_PHONE_PER_HOUR".into(),
            "1000".into(),
        ),
    ]);
    for (k, v) in opts.env {
        vars.insert(k.to_string(), v);
    }
    let config =
        Config::from_lookup(|k| vars.get(k).cloned()).expect("test configuration is valid");
    let acquires = Arc::new(AtomicU64::new(0));
    let (on_connect, on_acquire) = (acquires.clone(), acquires.clone());
    let pool = PgPoolOptions::new()
        .max_connections(5)
        .after_connect(move |_, _| {
            on_connect.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { Ok(()) })
        })
        .before_acquire(move |_, _| {
            on_acquire.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { Ok(true) })
        })
        .connect_with(server::db::connect_options(&vars["DATABASE_URL"]).unwrap())
        .await
        .unwrap();
    // Always this test's own folder: Drop removes it, so it must never be a shared one.
    let media_dir = media.clone();
    let mut state = AppState::new(
        server::startup::leptos_options(&config),
        pool.clone(),
        config.clone(),
    );
    state.clock = clock.clone();
    let page_views = state.page_views.clone();
    let app = TestApp {
        state,
        clock,
        page_views,
        base,
        pool,
        client: client(),
        acquires,
        media_dir,
        _watchdog: watchdog(db_name.clone()),
        db_name,
    };
    (app, listener)
}

pub fn serve(listener: tokio::net::TcpListener, state: AppState) {
    let router = server::startup::build_app(state);
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
}

/// A browser-like client: keeps cookies, does not follow redirects (tests look at them).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        // A request the app never answers fails its test instead of hanging it.
        .timeout(std::time::Duration::from_secs(120))
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.media_dir);
        let name = self.db_name.clone();
        let url = format!("{}/postgres", server_url());
        // Drop runs outside async: a short-lived thread with its own runtime removes the database.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut c) = PgConnection::connect(&url).await {
                    let _ = exec(
                        &mut c,
                        format!(r#"drop database if exists "{name}" with (force)"#),
                    )
                    .await;
                }
            });
        })
        .join()
        .ok();
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// GET with another client (another browser or device).
    pub async fn get_with(&self, client: &reqwest::Client, path: &str) -> reqwest::Response {
        client.get(self.url(path)).send().await.unwrap()
    }

    /// Calls a server function the way the hydrated app does (form-encoded, JSON answer).
    pub async fn call(&self, endpoint: &str, form: &[(&str, &str)]) -> reqwest::Response {
        call_with(&self.client, &self.url(&format!("/api/{endpoint}")), form).await
    }

    /// Signs up a merchant with this app's client; returns the email used.
    pub async fn signup(&self, name: &str) -> String {
        let email = format!("{}@example.com", name.to_lowercase().replace(' ', "."));
        let res = self.call("signup", &signup_form(name, &email)).await;
        assert_eq!(
            res.status(),
            200,
            "signup failed: {}",
            res.text().await.unwrap()
        );
        email
    }

    pub async fn login_with(
        &self,
        client: &reqwest::Client,
        email: &str,
        password: &str,
    ) -> reqwest::Response {
        call_with(
            client,
            &self.url("/api/login"),
            &[("email", email), ("password", password)],
        )
        .await
    }

    /// The signed-in merchant's email as `/api/me` reports it, or None when signed out.
    pub async fn me(&self, client: &reqwest::Client) -> Option<String> {
        let res = call_with(client, &self.url("/api/me"), &[]).await;
        assert_eq!(res.status(), 200);
        let body: serde_json::Value = res.json().await.unwrap();
        body.get("email")
            .and_then(|e| e.as_str())
            .map(str::to_owned)
    }

    /// The newest email in the outbox to this address.
    pub async fn last_email_to(&self, to: &str) -> String {
        sqlx::query_scalar("select body_text from email_outbox where to_address = $1 order by created_at desc limit 1")
            .bind(to)
            .fetch_one(&self.pool)
            .await
            .expect("an email was queued")
    }
}

/// Posts a form to a server function. Signing up takes two steps (the form, then the link in
/// the confirmation email); most tests just need a signed-in merchant, so a successful
/// `/api/signup` here also opens the emailed link — through the development mailbox and the
/// real confirmation endpoint — and answers with the confirmation's response. Tests of the
/// signup steps themselves use `raw_call`.
pub async fn call_with(
    client: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let res = raw_call(client, url, form).await;
    let Some(base) = url.strip_suffix("/api/signup") else {
        return res;
    };
    if res.status() != 200 {
        return res;
    }
    let email = form
        .iter()
        .find(|(k, _)| *k == "email")
        .map(|(_, v)| v.trim().to_lowercase())
        .expect("a signup form has an email");
    let token = confirmation_token(client, base, &email, "token=")
        .await
        .unwrap_or_else(|| panic!("no signup confirmation email to {email}"));
    raw_call(
        client,
        &format!("{base}/api/signup/confirm"),
        &[("token", &token)],
    )
    .await
}

/// A plain form post to a server function.
pub async fn raw_call(
    client: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    client.post(url).form(form).send().await.unwrap()
}

/// The token of the newest link (after `marker`, e.g. `token=`) in an email to `to`, read from
/// the development mailbox the way a developer would.
pub async fn confirmation_token(
    client: &reqwest::Client,
    base: &str,
    to: &str,
    marker: &str,
) -> Option<String> {
    let res = raw_call(client, &format!("{base}/api/dev/mailbox"), &[]).await;
    assert_eq!(
        res.status(),
        200,
        "the test app serves the development mailbox"
    );
    let mails: serde_json::Value = res.json().await.unwrap();
    mails.as_array()?.iter().find_map(|m| {
        if m["to_address"].as_str()? != to {
            return None;
        }
        let body = m["body_text"].as_str()?;
        let start = body.find(marker)? + marker.len();
        let token: String = body[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        (!token.is_empty()).then_some(token)
    })
}

pub fn signup_form<'a>(name: &'a str, email: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("full_name", name),
        ("email", email),
        ("business_name", "Test Traders"),
        ("currency", "NGN"),
        ("password", PASSWORD),
        ("adult", "on"),
        ("accept_policy", "on"),
    ]
}

/// The value of one cookie set by a response.
pub fn set_cookie(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            c.split(';')
                .next()?
                .strip_prefix(&format!("{name}="))
                .map(str::to_owned)
        })
}

/// A client that presents only the given cookie header (like a device that kept just that).
pub fn client_with_cookie(cookie: &str) -> reqwest::Client {
    let mut headers = HeaderMap::new();
    headers.insert("cookie", HeaderValue::from_str(cookie).unwrap());
    reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub async fn json(res: reqwest::Response) -> serde_json::Value {
    let text = res.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// Runs one administrative statement built at run time (database names cannot be bound).
async fn exec(conn: &mut PgConnection, sql: String) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(conn)
        .await
        .map(|_| ())
}

impl TestApp {
    /// Creates a product through the server function; returns its id.
    pub async fn create_product(&self, form: &[(&str, &str)]) -> String {
        let res = self.call("catalog/product/save", form).await;
        let status = res.status();
        let body = res.text().await.unwrap();
        assert_eq!(status, 200, "creating a product failed: {body}");
        serde_json::from_str::<String>(&body).expect("the new id")
    }

    pub async fn shop_slug(&self) -> String {
        sqlx::query_scalar("select slug from shops order by created_at desc limit 1")
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    /// Runs background jobs the way the worker does (claim, run, record) until none is due by
    /// the app's clock; retries scheduled for later are left. The app has no worker of its own,
    /// so tests decide when jobs run.
    /// WhatsApp deliveries waiting in the inbox are processed first, the way the worker's
    /// inbox processor does, and again after jobs ran (a send to the simulator can bring
    /// status webhooks back).
    pub async fn run_jobs(&self) -> app::platform::jobs::RunReport {
        let mut report = app::platform::jobs::RunReport::default();
        loop {
            app::whatsapp::inbound::drain_inbox(&self.state)
                .await
                .expect("processing WhatsApp deliveries");
            let ran = app::platform::jobs::Runner::new(self.state.clone(), Default::default())
                .run_until_idle()
                .await
                .expect("running jobs");
            if ran.ran() == 0 {
                return report;
            }
            report.done += ran.done;
            report.retried += ran.retried;
            report.dead += ran.dead;
            report.lease_lost += ran.lease_lost;
        }
    }

    /// Queries made while running `f` (see `acquires`).
    pub fn acquired(&self) -> u64 {
        self.acquires.load(Ordering::SeqCst)
    }
}

/// A small PNG of one colour.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(width, height, image::Rgb([200, 80, 40]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A PNG whose header claims these dimensions, with no pixel data: enough for the size check,
/// which must refuse it before decoding anything.
pub fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(b"IHDR");
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend_from_slice(&13u32.to_be_bytes());
    out.extend_from_slice(&ihdr);
    out.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    // An empty IDAT ends the header section, as in a real file; no IEND: the data never comes.
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(b"IDAT");
    out.extend_from_slice(&crc32(b"IDAT").to_be_bytes());
    out
}

/// PNG's chunk checksum (CRC-32, ISO-HDLC), for hand-made image headers.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for b in data {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Uploads an image file the way the dashboard's form does (script flavour: JSON answer).
pub async fn upload(
    app: &TestApp,
    client: &reqwest::Client,
    fields: &[(&str, &str)],
    file: Vec<u8>,
    name: &str,
) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    form = form.part(
        "file",
        reqwest::multipart::Part::bytes(file).file_name(name.to_string()),
    );
    client
        .post(app.url("/api/media/upload"))
        .multipart(form)
        .send()
        .await
        .unwrap()
}
