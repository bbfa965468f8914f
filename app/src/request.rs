//! What a server function may learn about its request: the session (set by the session
//! middleware), the client's IP and user agent, and a way to set cookies on the answer.

use crate::auth::ssr::Session;
use crate::error::{AppError, AppResult};
use axum::extract::ConnectInfo;
use http::HeaderValue;
use http::header::SET_COOKIE;
use http::request::Parts;
use leptos::prelude::use_context;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

fn parts() -> AppResult<Parts> {
    use_context::<Parts>()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("request parts missing from context")))
}

/// The merchant behind this request, or 401. The only source of tenant ids for dashboard data.
pub fn require_session() -> AppResult<Session> {
    parts()?
        .extensions
        .get::<Session>()
        .copied()
        .ok_or(AppError::Unauthorized)
}

pub fn optional_session() -> Option<Session> {
    use_context::<Parts>().and_then(|p| p.extensions.get::<Session>().copied())
}

/// The client address: the socket peer, or the last `X-Forwarded-For` hop when the operator
/// says one trusted proxy sets it (TRUST_PROXY_HEADERS). The last hop is the one our proxy
/// appended; earlier ones come from the client and could be forged to dodge rate limits.
pub fn client_ip(parts: &Parts, trust_proxy: bool) -> IpAddr {
    if trust_proxy {
        let forwarded = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse().ok());
        if let Some(ip) = forwarded {
            return ip;
        }
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

pub fn request_ip() -> AppResult<IpAddr> {
    let state = crate::state::use_state()?;
    Ok(client_ip(&parts()?, state.config.trust_proxy_headers))
}

pub fn user_agent() -> Option<String> {
    use_context::<Parts>().and_then(|p| {
        p.headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    })
}

pub fn set_cookies(cookies: impl IntoIterator<Item = HeaderValue>) {
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        for c in cookies {
            res.append_header(SET_COOKIE, c);
        }
    }
}

/// The signed-in merchant and their shop. The shop id comes from the session's merchant, never
/// from request input, so every dashboard query below is scoped to the caller's own shop.
#[derive(Debug, Clone, Copy)]
pub struct ShopSession {
    pub merchant_id: uuid::Uuid,
    pub shop_id: uuid::Uuid,
}

pub async fn require_shop(pool: &sqlx::PgPool) -> AppResult<ShopSession> {
    shop_session(pool, require_session()?).await
}

pub async fn shop_session(pool: &sqlx::PgPool, session: Session) -> AppResult<ShopSession> {
    // One shop per merchant today; the oldest is "the" shop until a shop switcher exists.
    let shop_id: Option<uuid::Uuid> = sqlx::query_scalar(
        "select id from shops where merchant_id = $1 order by created_at limit 1",
    )
    .bind(session.merchant_id)
    .fetch_optional(pool)
    .await?;
    let shop_id = shop_id.ok_or(AppError::Unauthorized)?;
    Ok(ShopSession {
        merchant_id: session.merchant_id,
        shop_id,
    })
}

/// For plain axum routes behind the session middleware: the caller's shop, or the response
/// to give (401 without a session).
pub async fn route_shop(
    pool: &sqlx::PgPool,
    session: Option<axum::Extension<Session>>,
) -> Result<ShopSession, axum::response::Response> {
    use axum::response::IntoResponse;
    let Some(axum::Extension(session)) = session else {
        return Err(axum::http::StatusCode::UNAUTHORIZED.into_response());
    };
    shop_session(pool, session)
        .await
        .map_err(IntoResponse::into_response)
}

/// A CSV file as a download that browsers and proxies must not cache.
pub fn csv_download(body: Vec<u8>, filename: &'static str) -> axum::response::Response {
    use axum::response::IntoResponse;
    let disposition = format!("attachment; filename=\"{filename}\"");
    (
        [
            (
                http::header::CONTENT_TYPE,
                "text/csv; charset=utf-8".to_string(),
            ),
            (http::header::CONTENT_DISPOSITION, disposition),
            (http::header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response()
}
