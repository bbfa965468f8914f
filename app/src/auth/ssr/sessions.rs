//! Sessions: a short-lived access token (HS256 JWT) and a rotating refresh token stored hashed,
//! the cookies that carry them, and the middleware that resolves who is calling.

use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum_extra::extract::cookie::{Cookie, SameSite};
use base64::Engine;
use http::HeaderValue;
use http::header::{COOKIE, SET_COOKIE};
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation, decode, encode};
use rand::RngCore;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

pub const ACCESS_COOKIE: &str = "bz_at";
pub const REFRESH_COOKIE: &str = "bz_rt";
/// Where cookies are `Secure`, their names carry the `__Host-` prefix: browsers then refuse
/// them unless they were set over HTTPS, by this exact host, for `Path=/` (no subdomain or
/// plain-HTTP page can plant or shadow a session).
const HOST_PREFIX: &str = "__Host-";
/// How long the refresh token replaced by the last rotation still counts (two tabs whose
/// access tokens expired together both refresh with the same token).
const ROTATION_GRACE_SECS: i64 = 30;

/// The access and refresh cookie names for this configuration.
pub fn cookie_names(cfg: &Config) -> (String, String) {
    let prefix = if cfg.cookie_secure { HOST_PREFIX } else { "" };
    (
        format!("{prefix}{ACCESS_COOKIE}"),
        format!("{prefix}{REFRESH_COOKIE}"),
    )
}

/// The authenticated identity of a request, put into request extensions by
/// [`session_middleware`]. Every dashboard query takes `merchant_id` from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    pub merchant_id: Uuid,
    pub session_id: Uuid,
}

// ---------------------------------------------------------------- tokens

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    sid: Uuid,
    iat: i64,
    exp: i64,
}

fn sign_access(cfg: &Config, session: Session) -> AppResult<String> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let claims = Claims {
        sub: session.merchant_id,
        sid: session.session_id,
        iat: now,
        exp: now + cfg.access_token_ttl_secs,
    };
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(cfg.jwt_secret.expose_secret().as_bytes()),
    )
    .map_err(|e| AppError::Internal(anyhow::anyhow!("signing access token: {e}")))
}

fn verify_access(cfg: &Config, token: &str) -> Option<Session> {
    let validation = Validation {
        leeway: 0,
        ..Validation::default()
    };
    decode::<Claims>(
        token,
        &DecodingKey::from_secret(cfg.jwt_secret.expose_secret().as_bytes()),
        &validation,
    )
    .ok()
    .map(|data| Session {
        merchant_id: data.claims.sub,
        session_id: data.claims.sid,
    })
}

/// A random 256-bit token for the browser and its SHA-256 for the database.
pub fn new_token() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = token_hash(&raw);
    (raw, hash)
}

pub fn token_hash(raw: &str) -> Vec<u8> {
    Sha256::digest(raw.as_bytes()).to_vec()
}

/// What a successful login hands to the browser.
pub struct IssuedSession {
    pub session: Session,
    pub access_token: String,
    pub refresh_token: String,
}

pub(super) async fn create_session(
    conn: &mut sqlx::PgConnection,
    cfg: &Config,
    merchant_id: Uuid,
    user_agent: Option<&str>,
) -> AppResult<IssuedSession> {
    let (refresh_token, hash) = new_token();
    let session = Session {
        merchant_id,
        session_id: Uuid::now_v7(),
    };
    let expires_at = OffsetDateTime::now_utc() + Duration::days(cfg.refresh_token_ttl_days);
    sqlx::query(
        "insert into sessions (id, merchant_id, token_hash, user_agent, expires_at)
         values ($1, $2, $3, $4, $5)",
    )
    .bind(session.session_id)
    .bind(merchant_id)
    .bind(&hash)
    .bind(user_agent.map(|ua| ua.chars().take(300).collect::<String>()))
    .bind(expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(IssuedSession {
        session,
        access_token: sign_access(cfg, session)?,
        refresh_token,
    })
}

// ---------------------------------------------------------------- cookies

fn cookie(cfg: &Config, refresh: bool, value: String, max_age: Duration) -> HeaderValue {
    let (access_name, refresh_name) = cookie_names(cfg);
    let name = if refresh { refresh_name } else { access_name };
    let c = Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .secure(cfg.cookie_secure)
        .same_site(SameSite::Lax)
        .max_age(max_age)
        .build();
    HeaderValue::from_str(&c.to_string()).expect("cookie values are base64 and header-safe")
}

pub fn session_cookies(cfg: &Config, issued: &IssuedSession) -> [HeaderValue; 2] {
    [
        cookie(
            cfg,
            false,
            issued.access_token.clone(),
            Duration::seconds(cfg.access_token_ttl_secs),
        ),
        cookie(
            cfg,
            true,
            issued.refresh_token.clone(),
            Duration::days(cfg.refresh_token_ttl_days),
        ),
    ]
}

pub fn clear_cookies(cfg: &Config) -> [HeaderValue; 2] {
    [
        cookie(cfg, false, String::new(), Duration::ZERO),
        cookie(cfg, true, String::new(), Duration::ZERO),
    ]
}

fn read_cookie<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty())
        .map(|(_, v)| v)
}

/// Paths that never need to know the merchant: public storefront pages (which must never set
/// a session cookie, so shared caches can keep them), static files and health checks. They
/// skip the session lookup entirely.
fn is_public_path(path: &str) -> bool {
    path.starts_with("/s/")
        || path.starts_with("/pkg/")
        || path.starts_with("/media/")
        // Meta's webhooks (authenticated by signature) and the simulator's fake Graph API.
        || path.starts_with("/webhooks/")
        || path.starts_with("/simulator/graph/")
        || matches!(
            path,
            "/healthz" | "/readyz" | "/favicon.ico" | "/robots.txt" | "/sitemap.xml"
        )
}

/// Resolves who is calling. A valid access token names a session, which must still be live in
/// the database (one primary-key lookup), so logout, "log out everywhere", a password change
/// or reset end it at once. An expired access token is renewed from the refresh token, which
/// rotates on every use.
pub async fn session_middleware(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    if is_public_path(req.uri().path()) {
        return next.run(req).await;
    }
    let cfg = &state.config;
    let (access_name, refresh_name) = cookie_names(cfg);
    let headers = req.headers();
    let mut set_cookies: Vec<HeaderValue> = Vec::new();
    let mut session = None;
    let mut try_refresh = true;
    if let Some(s) = read_cookie(headers, &access_name).and_then(|t| verify_access(cfg, t)) {
        match session_is_live(&state.pool, s).await {
            Ok(true) => session = Some(s),
            // Revoked: its refresh token is revoked with it, so the cookies are dead weight.
            Ok(false) => {
                set_cookies.extend(clear_cookies(cfg));
                try_refresh = false;
            }
            // A database hiccup must not log the merchant out; anonymous this once.
            Err(e) => {
                tracing::warn!(error = ?e, "could not check session");
                try_refresh = false;
            }
        }
    }
    if session.is_none()
        && try_refresh
        && let Some(raw) = read_cookie(headers, &refresh_name).map(str::to_owned)
    {
        match refresh(&state.pool, cfg, &raw).await {
            Ok(Refreshed::Rotated(issued)) => {
                session = Some(issued.session);
                set_cookies.extend(session_cookies(cfg, &issued));
            }
            Ok(Refreshed::Grace(s, access)) => {
                session = Some(s);
                set_cookies.push(cookie(
                    cfg,
                    false,
                    access,
                    Duration::seconds(cfg.access_token_ttl_secs),
                ));
            }
            Ok(Refreshed::Invalid) => set_cookies.extend(clear_cookies(cfg)),
            Err(e) => tracing::warn!(error = ?e, "could not refresh session"),
        }
    }
    if let Some(s) = session {
        req.extensions_mut().insert(s);
    }
    let mut res = next.run(req).await;
    for c in set_cookies {
        res.headers_mut().append(SET_COOKIE, c);
    }
    res
}

async fn session_is_live(pool: &PgPool, s: Session) -> AppResult<bool> {
    Ok(sqlx::query_scalar(
        "select exists(select 1 from sessions
                       where id = $1 and merchant_id = $2 and revoked_at is null and expires_at > now())",
    )
    .bind(s.session_id)
    .bind(s.merchant_id)
    .fetch_one(pool)
    .await?)
}

enum Refreshed {
    /// A new refresh token replaced the presented one.
    Rotated(IssuedSession),
    /// The token was replaced moments ago (a concurrent request): a new access token only.
    Grace(Session, String),
    Invalid,
}

async fn refresh(pool: &PgPool, cfg: &Config, raw: &str) -> AppResult<Refreshed> {
    let presented = token_hash(raw);
    let (new_raw, new_hash) = new_token();
    let rotated: Option<(Uuid, Uuid)> = sqlx::query_as(
        "update sessions
         set previous_token_hash = token_hash, token_hash = $2, rotated_at = now(), last_used_at = now()
         where token_hash = $1 and revoked_at is null and expires_at > now()
         returning id, merchant_id",
    )
    .bind(&presented)
    .bind(&new_hash)
    .fetch_optional(pool)
    .await?;
    if let Some((session_id, merchant_id)) = rotated {
        let session = Session {
            merchant_id,
            session_id,
        };
        return Ok(Refreshed::Rotated(IssuedSession {
            session,
            access_token: sign_access(cfg, session)?,
            refresh_token: new_raw,
        }));
    }
    // Not the current token: perhaps the one it replaced.
    #[derive(sqlx::FromRow)]
    struct Replaced {
        session_id: Uuid,
        merchant_id: Uuid,
        within_grace: bool,
        live: bool,
    }
    let previous: Option<Replaced> = sqlx::query_as(
        "select id as session_id, merchant_id,
                rotated_at > now() - make_interval(secs => $2) as within_grace,
                revoked_at is null and expires_at > now() as live
         from sessions where previous_token_hash = $1",
    )
    .bind(&presented)
    .bind(ROTATION_GRACE_SECS as f64)
    .fetch_optional(pool)
    .await?;
    match previous {
        Some(Replaced {
            session_id,
            merchant_id,
            within_grace: true,
            live: true,
        }) => {
            let session = Session {
                merchant_id,
                session_id,
            };
            Ok(Refreshed::Grace(session, sign_access(cfg, session)?))
        }
        Some(Replaced {
            session_id,
            merchant_id,
            within_grace: false,
            live: true,
        }) => {
            // A rotated token came back long after it was replaced: someone else holds a copy.
            // End the session for both holders; the merchant logs in again.
            sqlx::query("update sessions set revoked_at = now() where id = $1")
                .bind(session_id)
                .execute(pool)
                .await?;
            tracing::warn!(%merchant_id, %session_id, "reused refresh token: session revoked");
            Ok(Refreshed::Invalid)
        }
        _ => Ok(Refreshed::Invalid),
    }
}

pub async fn logout(pool: &PgPool, session: Session) -> AppResult<()> {
    sqlx::query("update sessions set revoked_at = now() where id = $1 and merchant_id = $2 and revoked_at is null")
        .bind(session.session_id)
        .bind(session.merchant_id)
        .execute(pool)
        .await?;
    Ok(())
}

pub async fn logout_everywhere(conn: &mut sqlx::PgConnection, merchant_id: Uuid) -> AppResult<u64> {
    let done = sqlx::query(
        "update sessions set revoked_at = now() where merchant_id = $1 and revoked_at is null",
    )
    .bind(merchant_id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(secret: &str) -> Config {
        let secret = secret.to_string();
        Config::from_lookup(move |k| match k {
            "DATABASE_URL" => Some("postgres://x".into()),
            "APP_ENV" => Some("development".into()),
            "JWT_SECRET" => Some(secret.clone()),
            _ => None,
        })
        .unwrap()
    }

    fn session() -> Session {
        Session {
            merchant_id: Uuid::now_v7(),
            session_id: Uuid::now_v7(),
        }
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    #[test]
    fn access_tokens_verify_only_with_our_key_alg_and_time() {
        let ours = config("our-secret-our-secret-our-secret-0123");
        let s = session();
        let good = sign_access(&ours, s).unwrap();
        assert_eq!(verify_access(&ours, &good), Some(s));

        // Signed with another key.
        let theirs = config("another-secret-another-secret-012345");
        let forged = sign_access(&theirs, s).unwrap();
        assert_eq!(verify_access(&ours, &forged), None, "another key");

        // Expired a second ago (no leeway).
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let claims = Claims {
            sub: s.merchant_id,
            sid: s.session_id,
            iat: now - 700,
            exp: now - 1,
        };
        let key = EncodingKey::from_secret(b"our-secret-our-secret-our-secret-0123");
        let expired = encode(&Header::default(), &claims, &key).unwrap();
        assert_eq!(verify_access(&ours, &expired), None, "expired");

        // alg "none": a header and claims with an empty signature.
        let header = b64(br#"{"alg":"none","typ":"JWT"}"#);
        let body = b64(serde_json::to_string(&Claims {
            exp: now + 600,
            ..claims
        })
        .unwrap()
        .as_bytes());
        assert_eq!(
            verify_access(&ours, &format!("{header}.{body}.")),
            None,
            "alg none"
        );
        // The same claims signed by us are fine: only the algorithm was wrong above.
        let fresh = Claims {
            sub: s.merchant_id,
            sid: s.session_id,
            iat: now,
            exp: now + 600,
        };
        let ok = encode(&Header::default(), &fresh, &key).unwrap();
        assert_eq!(verify_access(&ours, &ok), Some(s));
    }

    #[test]
    fn token_hash_matches_the_published_sha256_vector() {
        // FIPS 180-2, appendix B.1: SHA-256("abc").
        assert_eq!(
            hex::encode(token_hash("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn token_hash_is_sha256_of_the_raw_token() {
        let (raw, hash) = new_token();
        assert_eq!(hash, token_hash(&raw));
        assert_eq!(hash.len(), 32);
        assert_ne!(new_token().0, raw);
    }

    #[test]
    fn reads_one_cookie_among_many() {
        let mut h = http::HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("a=1; bz_at=xyz; bz_rt="));
        assert_eq!(read_cookie(&h, ACCESS_COOKIE), Some("xyz"));
        assert_eq!(read_cookie(&h, REFRESH_COOKIE), None);
    }
}
