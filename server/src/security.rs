//! Security middleware: response headers with a per-request CSP nonce, the same-origin check
//! for mutating requests, and the dashboard guard.

use app::auth::ssr::Session;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
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
    let mut res = next.run(req).await;
    let mut connect = "'self'".to_string();
    for extra in [&cfg.dev_reload, &cfg.upload_origin].into_iter().flatten() {
        connect.push(' ');
        connect.push_str(extra);
    }
    let csp = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data: https:; font-src 'self'; connect-src {connect}; object-src 'none'; \
         base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    );
    let h = res.headers_mut();
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
        HeaderValue::from_static("same-origin"),
    );
    if cfg.hsts {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    res
}

/// Mutating requests (server functions included) must come from a page of ours. Browsers send
/// `Origin` on cross-site POSTs; older ones send `Sec-Fetch-Site`. Requests with neither are
/// not from a browser form and carry no ambient cookies worth forging. Webhooks are exempt:
/// they are authenticated by signature instead.
pub async fn same_origin_only(req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if safe || req.uri().path().starts_with("/webhooks/") {
        return next.run(req).await;
    }
    if is_same_origin(req.headers()) {
        next.run(req).await
    } else {
        tracing::warn!(path = %req.uri().path(), "cross-site request refused");
        (
            StatusCode::FORBIDDEN,
            axum::Json(serde_json::json!({ "error": "This request came from another website and was refused." })),
        )
            .into_response()
    }
}

fn is_same_origin(headers: &axum::http::HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let origin_host = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        return matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h));
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
    fn origin_must_match_host() {
        assert!(is_same_origin(&headers(&[
            ("host", "shop.example"),
            ("origin", "https://shop.example")
        ])));
        assert!(!is_same_origin(&headers(&[
            ("host", "shop.example"),
            ("origin", "https://evil.example")
        ])));
        assert!(!is_same_origin(&headers(&[
            ("host", "shop.example"),
            ("origin", "null")
        ])));
        assert!(!is_same_origin(&headers(&[
            ("host", "shop.example"),
            ("sec-fetch-site", "cross-site")
        ])));
        assert!(is_same_origin(&headers(&[
            ("host", "shop.example"),
            ("sec-fetch-site", "same-origin")
        ])));
        assert!(is_same_origin(&headers(&[("host", "shop.example")])));
    }

    #[test]
    fn encodes_next() {
        assert_eq!(
            url_encode("/dashboard/account?x=1&y=2"),
            "/dashboard/account%3Fx%3D1%26y%3D2"
        );
    }
}
