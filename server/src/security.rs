//! Security middleware: response headers with a per-request CSP nonce, the same-origin check
//! for mutating requests, and the dashboard guard.

use app::auth::ssr::Session;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use rand::RngCore;

/// The nonce of this response's CSP; the Leptos render picks it up for its inline scripts.
#[derive(Clone, Debug)]
pub struct CspNonce(pub String);

#[derive(Clone, Debug)]
pub struct SecurityConfig {
    pub hsts: bool,
    /// Where `cargo leptos watch` serves its live-reload websocket, in development only.
    pub dev_reload: Option<String>,
    /// Cloudinary's API origin when images are uploaded there straight from the browser.
    pub upload_origin: Option<String>,
    /// Origins whose pages may send mutating requests (PUBLIC_URL + ALLOWED_ORIGINS).
    pub allowed_origins: Vec<String>,
    /// Keys the cookie that vouches for an error shown from a `__err` link.
    pub error_key: Vec<u8>,
    /// Whether `/dev/mailbox` may be served at all (development + DEV_MAILBOX).
    pub dev_mailbox: bool,
}

pub async fn security_headers(
    State(cfg): State<std::sync::Arc<SecurityConfig>>,
    mut req: Request,
    next: Next,
) -> Response {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let nonce = base64::engine::general_purpose::STANDARD.encode(bytes);
    req.extensions_mut().insert(CspNonce(nonce.clone()));
    let path = req.uri().path().to_string();
    let mut res = next.run(req).await;
    let private = res.headers().contains_key(header::SET_COOKIE)
        || path == "/dashboard"
        || path.starts_with("/dashboard/")
        || path.starts_with("/api/")
        || path.starts_with("/dev/")
        || path.starts_with("/signup")
        || path.starts_with("/account/")
        || matches!(
            path.as_str(),
            "/login" | "/reset-password" | "/forgot-password"
        );
    let h = res.headers_mut();
    for (name, value) in page_headers(&cfg, &path, &nonce) {
        if let Some(name) = name {
            h.insert(name, value);
        }
    }
    // Anything that sets a cookie, or shows a merchant's data, must never be kept by a shared
    // cache (a proxy serving one merchant's dashboard, or session cookie, to another).
    if private {
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        );
    }
    res
}

/// The security headers of a page at `path` whose inline scripts carry `nonce`. The
/// storefront's own renderer (`app::storefront::render`) takes a storefront page's set from
/// here at start-up, so the pages it renders outside this layer carry the same headers.
pub fn page_headers(cfg: &SecurityConfig, path: &str, nonce: &str) -> HeaderMap {
    let mut connect = "'self'".to_string();
    for extra in [&cfg.dev_reload, &cfg.upload_origin].into_iter().flatten() {
        connect.push(' ');
        connect.push_str(extra);
    }
    // The WhatsApp channel page alone may load Facebook's SDK (Embedded Signup) and keep a
    // line to the popup it opens; every other page allows only our own scripts.
    let signup_page = path == "/dashboard/channels/whatsapp";
    let (script_extra, frame_src) = if signup_page {
        connect.push_str(" https://graph.facebook.com https://*.facebook.com");
        (
            " https://connect.facebook.net",
            "frame-src https://www.facebook.com https://web.facebook.com https://business.facebook.com; ",
        )
    } else {
        ("", "")
    };
    let csp = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'{script_extra}; style-src 'self'; \
         img-src 'self' data: https:; font-src 'self'; connect-src {connect}; {frame_src}object-src 'none'; \
         base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    );
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    h.insert(
        "cross-origin-opener-policy",
        // Embedded Signup's popup answers with postMessage to its opener.
        HeaderValue::from_static(if signup_page {
            "same-origin-allow-popups"
        } else if path == "/simulator/signup" {
            // Like Meta's popup: it must keep its line back to the page that opened it.
            "unsafe-none"
        } else {
            "same-origin"
        }),
    );
    if cfg.hsts {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    h
}

/// Mutating requests (server functions included) must come from a page of ours. Browsers send
/// `Origin` on cross-site POSTs; older ones send `Sec-Fetch-Site`. Requests with neither are
/// not from a browser form and carry no ambient cookies worth forging. Webhooks are exempt:
/// they are authenticated by signature instead.
pub async fn same_origin_only(
    State(cfg): State<std::sync::Arc<SecurityConfig>>,
    req: Request,
    next: Next,
) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if safe || req.uri().path().starts_with("/webhooks/") {
        return next.run(req).await;
    }
    if is_same_origin(req.headers(), &cfg.allowed_origins) {
        next.run(req).await
    } else {
        tracing::warn!(path = %req.uri().path(), "cross-site request refused");
        (
            StatusCode::FORBIDDEN,
            axum::Json(serde_json::json!({
                "kind": "forbidden",
                "error": "This request came from another website and was refused."
            })),
        )
            .into_response()
    }
}

/// `Origin` must be one of ours exactly (scheme, host and port). It is never compared with the
/// request's own `Host` header: a DNS-rebinding page at evil.example sends
/// `Host: evil.example` and `Origin: http://evil.example`, which match each other.
fn is_same_origin(headers: &axum::http::HeaderMap, allowed: &[String]) -> bool {
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let origin = origin.trim_end_matches('/');
        return allowed.iter().any(|a| a.eq_ignore_ascii_case(origin));
    }
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some(site) => site == "same-origin" || site == "none",
        None => true,
    }
}

/// Signed-out visitors of dashboard pages go to the login page, which brings them back.
pub async fn dashboard_guard(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let is_dashboard = path == "/dashboard" || path.starts_with("/dashboard/");
    if is_dashboard && req.extensions().get::<Session>().is_none() {
        let wanted = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/dashboard");
        let next_param: String = url_encode(wanted);
        return Redirect::to(&format!("/login?next={next_param}")).into_response();
    }
    next.run(req).await
}

/// Name of the cookie that vouches for the error a form redirect put into the URL.
/// A refused form (422) asked for by a script in the browser answers 200 with the status in
/// `x-bizmaat-status`, which the browser's server-function client reads back
/// (`app::api_client`): Chrome logs every 4xx `fetch` answer as a console error, and a form the
/// person only has to correct is not one. Only script requests carry `Sec-Fetch-Dest: empty`
/// (Fetch Metadata); plain form posts, other clients and the tests still get 422.
/// Server functions are routed one by one (leptos_axum registers each path), so this is a
/// layer for the whole app that acts on `/api/` alone.
pub async fn quiet_validation(req: Request, next: Next) -> Response {
    let from_script = req.uri().path().starts_with("/api/")
        && req
            .headers()
            .get("sec-fetch-dest")
            .is_some_and(|v| v.as_bytes() == b"empty");
    let mut res = next.run(req).await;
    if from_script && res.status() == StatusCode::UNPROCESSABLE_ENTITY {
        *res.status_mut() = StatusCode::OK;
        res.headers_mut().insert(
            app::api_client::STATUS_HEADER,
            HeaderValue::from_static("422"),
        );
    }
    res
}

const FORM_ERROR_COOKIE: &str = "bz_fe";

/// Errors shown from a `__err` query parameter (how a server function reports a failed plain
/// HTML form post: it redirects back with the error in the URL) must come from this browser's
/// own submission. Otherwise anyone could send a merchant a link to /login whose "error" says
/// whatever they like. When a server function redirects with `__err`, a short-lived cookie
/// holds a keyed hash of it; a page asked for with an `__err` the cookie does not vouch for
/// shows a generic message instead.
pub async fn form_error_guard(
    State(cfg): State<std::sync::Arc<SecurityConfig>>,
    mut req: Request,
    next: Next,
) -> Response {
    if req.method() == Method::GET
        && let Some(err) = query_value(req.uri().query(), "__err")
    {
        let vouched = req
            .headers()
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|p| p.trim().split_once('='))
            .any(|(k, v)| k == FORM_ERROR_COOKIE && v == error_mac(&cfg.error_key, err));
        if !vouched {
            let generic = generic_form_error();
            let path = req.uri().path().to_string();
            let query: String = req
                .uri()
                .query()
                .unwrap_or("")
                .split('&')
                .map(|pair| {
                    if pair.starts_with("__err=") {
                        format!("__err={generic}")
                    } else {
                        pair.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("&");
            if let Ok(uri) = format!("{path}?{query}").parse() {
                *req.uri_mut() = uri;
            }
        }
    }
    let mut res = next.run(req).await;
    if res.status().is_redirection()
        && let Some(location) = res
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
        && let Some(err) = query_value(location.split_once('?').map(|(_, q)| q), "__err")
    {
        let cookie = format!(
            "{FORM_ERROR_COOKIE}={}; Path=/; Max-Age=300; HttpOnly; SameSite=Lax",
            error_mac(&cfg.error_key, err)
        );
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

/// The raw (still percent-encoded) value of one query parameter.
fn query_value<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

fn error_mac(key: &[u8], value: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(key);
    h.update(b"\0form-error\0");
    h.update(value.as_bytes());
    hex::encode(&h.finalize()[..16])
}

/// `__err` for "please try again", encoded the way server functions encode errors.
fn generic_form_error() -> String {
    static GENERIC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    GENERIC
        .get_or_init(|| {
            let err = app::error::ApiError::Request(
                "the form was not completed. Please fill it in and send it again".into(),
            );
            let json = serde_json::to_vec(&err).unwrap_or_default();
            base64::engine::general_purpose::URL_SAFE.encode(json)
        })
        .replace('=', "%3D")
}

/// `/dev/mailbox` shows every account's email, reset links included: it exists only when
/// development mode and DEV_MAILBOX are both on, and only for a peer on this machine (the
/// socket address, never a forwarded header).
pub async fn dev_mailbox_guard(
    State(cfg): State<std::sync::Arc<SecurityConfig>>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    if path == "/dev/mailbox" || path.starts_with("/dev/mailbox/") || path == "/api/dev/mailbox" {
        let local = req
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .is_some_and(|c| c.0.ip().is_loopback());
        if !(cfg.dev_mailbox && local) {
            return (StatusCode::NOT_FOUND, "Not found").into_response();
        }
    }
    next.run(req).await
}

/// Percent-encodes a path for use as one query value. Hand-written: it is six lines and the
/// only place we need it on the server.
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn origin_must_be_on_the_allow_list() {
        let ours = vec!["https://shop.example".to_string()];
        let check = |pairs: &[(&'static str, &'static str)]| is_same_origin(&headers(pairs), &ours);
        assert!(check(&[
            ("host", "shop.example"),
            ("origin", "https://shop.example")
        ]));
        assert!(check(&[("host", "x"), ("origin", "https://SHOP.example")]));
        assert!(!check(&[
            ("host", "shop.example"),
            ("origin", "https://evil.example")
        ]));
        // DNS rebinding: Host and Origin agree with each other, but neither is ours.
        assert!(!check(&[
            ("host", "evil.example"),
            ("origin", "https://evil.example")
        ]));
        assert!(!check(&[
            ("host", "shop.example"),
            ("origin", "http://shop.example")
        ]));
        assert!(!check(&[
            ("host", "shop.example"),
            ("origin", "https://shop.example:8443")
        ]));
        assert!(!check(&[("host", "shop.example"), ("origin", "null")]));
        assert!(!check(&[
            ("host", "shop.example"),
            ("sec-fetch-site", "cross-site")
        ]));
        assert!(check(&[
            ("host", "shop.example"),
            ("sec-fetch-site", "same-origin")
        ]));
        assert!(check(&[("host", "shop.example")]));
    }

    #[tokio::test]
    async fn the_mailbox_answers_only_loopback_peers_and_only_when_enabled() {
        use axum::Router;
        use axum::body::Body;
        use axum::extract::ConnectInfo;
        use axum::routing::get;
        use std::net::SocketAddr;
        use tower::ServiceExt;
        let status = |enabled: bool, peer: &str, path: &str| {
            let cfg = std::sync::Arc::new(SecurityConfig {
                hsts: false,
                dev_reload: None,
                upload_origin: None,
                allowed_origins: vec![],
                error_key: vec![1],
                dev_mailbox: enabled,
            });
            let app: Router = Router::new()
                .route("/dev/mailbox", get(|| async { "mail" }))
                .route("/api/dev/mailbox", get(|| async { "mail" }))
                .route("/other", get(|| async { "other" }))
                .layer(axum::middleware::from_fn_with_state(cfg, dev_mailbox_guard));
            let mut req = Request::builder().uri(path).body(Body::empty()).unwrap();
            let peer: SocketAddr = peer.parse().unwrap();
            req.extensions_mut().insert(ConnectInfo(peer));
            async move { app.oneshot(req).await.unwrap().status().as_u16() }
        };
        assert_eq!(status(true, "127.0.0.1:5000", "/dev/mailbox").await, 200);
        assert_eq!(status(true, "[::1]:5000", "/api/dev/mailbox").await, 200);
        assert_eq!(status(true, "192.0.2.7:5000", "/dev/mailbox").await, 404);
        assert_eq!(
            status(true, "192.0.2.7:5000", "/api/dev/mailbox").await,
            404
        );
        assert_eq!(status(false, "127.0.0.1:5000", "/dev/mailbox").await, 404);
        assert_eq!(status(false, "192.0.2.7:5000", "/other").await, 200);
    }

    #[test]
    fn reads_raw_query_values() {
        assert_eq!(
            query_value(Some("a=1&__err=abc%3D&b"), "__err"),
            Some("abc%3D")
        );
        assert_eq!(query_value(Some("x__err=1"), "__err"), None);
        assert_eq!(query_value(None, "__err"), None);
        assert_ne!(error_mac(b"k1", "v"), error_mac(b"k2", "v"));
        assert_ne!(error_mac(b"k1", "v"), error_mac(b"k1", "w"));
    }

    #[test]
    fn encodes_next() {
        assert_eq!(
            url_encode("/dashboard/account?x=1&y=2"),
            "/dashboard/account%3Fx%3D1%26y%3D2"
        );
    }
}
