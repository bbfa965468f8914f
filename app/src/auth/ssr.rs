//! Account services: password hashing, sessions (JWT access token + hashed refresh token),
//! signup, login, logout, password reset and account changes. Server functions in `api.rs`
//! are thin wrappers over these; integration tests reach them over HTTP.

use super::{
    CurrentUser, SignupInput, normalize_email, validate_email, validate_name, validate_password,
    validate_signup,
};
use crate::config::Config;
use crate::error::{AppError, AppResult, FieldErrors};
use crate::policy::PRIVACY_POLICY_VERSION;
use crate::state::AppState;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum_extra::extract::cookie::{Cookie, SameSite};
use base64::Engine;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http::HeaderValue;
use http::header::{COOKIE, SET_COOKIE};
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation, decode, encode};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use std::net::IpAddr;
use std::num::NonZeroU32;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

pub const ACCESS_COOKIE: &str = "bz_at";
pub const REFRESH_COOKIE: &str = "bz_rt";
const RESET_LINK_TTL_MINUTES: i64 = 60;

/// The authenticated identity of a request, put into request extensions by
/// [`session_middleware`]. Every dashboard query takes `merchant_id` from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    pub merchant_id: Uuid,
    pub session_id: Uuid,
}

// ---------------------------------------------------------------- passwords

fn argon2() -> Argon2<'static> {
    // OWASP's recommended argon2id setting: 19 MiB memory, 2 passes, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None).expect("static argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashing takes tens of milliseconds of CPU: it runs on the blocking pool, not the runtime.
pub async fn hash_password(password: SecretString) -> AppResult<String> {
    tokio::task::spawn_blocking(move || {
        argon2()
            .hash_password(password.expose_secret().as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))
    })
    .await
    .map_err(|e| anyhow::anyhow!(e))?
    .map_err(AppError::Internal)
}

/// Checks a password against a stored hash. With no hash (unknown email) it checks against a
/// fixed dummy so that both answers take the same time.
pub async fn verify_password(password: SecretString, hash: Option<String>) -> AppResult<bool> {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    tokio::task::spawn_blocking(move || {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| {
            DUMMY
                .get_or_init(|| {
                    argon2()
                        .hash_password(b"dummy password for timing")
                        .expect("hash")
                        .to_string()
                })
                .clone()
        });
        let ok = argon2()
            .verify_password(password.expose_secret().as_bytes(), hash.as_str())
            .is_ok();
        known && ok
    })
    .await
    .map_err(|e| AppError::Internal(anyhow::anyhow!(e)))
}

// ---------------------------------------------------------------- tokens

#[derive(Debug, Serialize, Deserialize)]
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

async fn create_session(
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

fn cookie(cfg: &Config, name: &'static str, value: String, max_age: Duration) -> HeaderValue {
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
            ACCESS_COOKIE,
            issued.access_token.clone(),
            Duration::seconds(cfg.access_token_ttl_secs),
        ),
        cookie(
            cfg,
            REFRESH_COOKIE,
            issued.refresh_token.clone(),
            Duration::days(cfg.refresh_token_ttl_days),
        ),
    ]
}

pub fn clear_cookies(cfg: &Config) -> [HeaderValue; 2] {
    [
        cookie(cfg, ACCESS_COOKIE, String::new(), Duration::ZERO),
        cookie(cfg, REFRESH_COOKIE, String::new(), Duration::ZERO),
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

/// Resolves who is calling. A valid access token is enough (no database read); an expired one
/// is renewed from the refresh token, which must name a live, unrevoked session.
pub async fn session_middleware(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let cfg = &state.config;
    let headers = req.headers();
    let mut set_cookies: Vec<HeaderValue> = Vec::new();
    let mut session = read_cookie(headers, ACCESS_COOKIE).and_then(|t| verify_access(cfg, t));
    if session.is_none()
        && let Some(raw) = read_cookie(headers, REFRESH_COOKIE).map(str::to_owned)
    {
        {
            match refresh(&state.pool, cfg, &raw).await {
                Ok(Some((s, access))) => {
                    set_cookies.push(cookie(
                        cfg,
                        ACCESS_COOKIE,
                        access,
                        Duration::seconds(cfg.access_token_ttl_secs),
                    ));
                    session = Some(s);
                }
                Ok(None) => set_cookies.extend(clear_cookies(cfg)),
                // A database hiccup must not log the merchant out: treat as anonymous this once.
                Err(e) => tracing::warn!(error = ?e, "could not refresh session"),
            }
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

async fn refresh(pool: &PgPool, cfg: &Config, raw: &str) -> AppResult<Option<(Session, String)>> {
    let row: Option<(Uuid, Uuid)> = sqlx::query_as(
        "update sessions set last_used_at = now()
         where token_hash = $1 and revoked_at is null and expires_at > now()
         returning id, merchant_id",
    )
    .bind(token_hash(raw))
    .fetch_optional(pool)
    .await?;
    match row {
        Some((session_id, merchant_id)) => {
            let session = Session {
                merchant_id,
                session_id,
            };
            Ok(Some((session, sign_access(cfg, session)?)))
        }
        None => Ok(None),
    }
}

// ---------------------------------------------------------------- rate limits

/// In-process limits keyed by IP or email. With several replicas each keeps its own count,
/// which still bounds guessing to (replicas × limit); a shared store can replace it later.
pub struct RateLimits {
    login_ip: DefaultKeyedRateLimiter<String>,
    login_email: DefaultKeyedRateLimiter<String>,
    signup_ip: DefaultKeyedRateLimiter<String>,
    reset_email: DefaultKeyedRateLimiter<String>,
    checkout_ip: DefaultKeyedRateLimiter<String>,
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).expect("max(1) is non-zero")
}

impl RateLimits {
    pub fn new(cfg: &Config) -> Self {
        let per_min = nz(cfg.login_attempts_per_minute);
        RateLimits {
            login_ip: RateLimiter::keyed(Quota::per_minute(per_min).allow_burst(per_min)),
            // An email is attacked from many IPs: half the per-IP allowance, at least 3.
            login_email: RateLimiter::keyed(Quota::per_minute(nz((cfg.login_attempts_per_minute
                / 2)
            .max(3)))),
            signup_ip: RateLimiter::keyed(Quota::per_hour(nz(cfg.signup_attempts_per_hour))),
            reset_email: RateLimiter::keyed(Quota::per_hour(nz(
                cfg.password_reset_requests_per_hour
            ))),
            checkout_ip: RateLimiter::keyed(Quota::per_hour(nz(cfg.checkouts_per_hour))),
        }
    }

    pub fn check_login(&self, ip: IpAddr, email: &str) -> AppResult<()> {
        if self.login_ip.check_key(&ip.to_string()).is_err()
            || self.login_email.check_key(&email.to_string()).is_err()
        {
            return Err(AppError::RateLimited(
                "Too many login attempts. Please wait a minute and try again.".into(),
            ));
        }
        Ok(())
    }

    pub fn check_signup(&self, ip: IpAddr) -> AppResult<()> {
        self.signup_ip.check_key(&ip.to_string()).map_err(|_| {
            AppError::RateLimited(
                "Too many sign-ups from your network. Please try again in an hour.".into(),
            )
        })
    }

    pub fn check_reset(&self, email: &str) -> AppResult<()> {
        self.reset_email.check_key(&email.to_string()).map_err(|_| {
            AppError::RateLimited(
                "We already sent several reset links. Please check your inbox or try again later."
                    .into(),
            )
        })
    }

    /// Forgets idle keys so the maps do not grow without bound.
    /// Orders per shopper IP, so a script cannot drain a shop's stock with fake orders.
    pub fn check_checkout(&self, ip: IpAddr) -> AppResult<()> {
        self.checkout_ip.check_key(&ip.to_string()).map_err(|_| {
            AppError::RateLimited("Too many orders from your connection. Please wait a while, or message the shop on WhatsApp.".into())
        })
    }

    pub fn prune(&self) {
        self.checkout_ip.retain_recent();
        self.login_ip.retain_recent();
        self.login_email.retain_recent();
        self.signup_ip.retain_recent();
        self.reset_email.retain_recent();
    }
}

// ---------------------------------------------------------------- accounts

/// Turns a business name into a storefront slug: lowercase ASCII words joined by hyphens.
pub fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for ch in name.trim().chars().flat_map(char::to_lowercase) {
        if ch.is_ascii_alphanumeric() {
            slug.push(ch);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_end_matches('-').chars().take(48).collect();
    let slug = slug.trim_end_matches('-').to_string();
    if slug.is_empty() { "shop".into() } else { slug }
}

async fn unique_slug(conn: &mut sqlx::PgConnection, base: &str) -> AppResult<String> {
    let taken: Vec<String> =
        sqlx::query_scalar("select slug from shops where slug = $1 or slug like $1 || '-%'")
            .bind(base)
            .fetch_all(&mut *conn)
            .await?;
    if !taken.iter().any(|s| s == base) {
        return Ok(base.to_string());
    }
    let n = (2..)
        .find(|n| !taken.contains(&format!("{base}-{n}")))
        .expect("an unused suffix exists");
    Ok(format!("{base}-{n}"))
}

fn is_unique_violation(e: &sqlx::Error, constraint: &str) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.constraint() == Some(constraint))
}

const EMAIL_TAKEN: &str =
    "An account with this email already exists. Log in or reset your password.";

#[tracing::instrument(skip_all, fields(email = %normalize_email(&input.email)))]
pub async fn signup(
    state: &AppState,
    input: SignupInput,
    ip: IpAddr,
    user_agent: Option<&str>,
) -> AppResult<IssuedSession> {
    state.limits.check_signup(ip)?;
    let errors = validate_signup(&input);
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let email = normalize_email(&input.email);
    let exists: bool =
        sqlx::query_scalar("select exists(select 1 from merchants where lower(email) = $1)")
            .bind(&email)
            .fetch_one(&state.pool)
            .await?;
    if exists {
        return Err(AppError::validation("email", EMAIL_TAKEN));
    }
    let hash = hash_password(input.password.clone().into()).await?;
    let mut tx = state.pool.begin().await?;
    let merchant_id = Uuid::now_v7();
    let now = OffsetDateTime::now_utc();
    let inserted = sqlx::query(
        "insert into merchants (id, full_name, email, password_hash, adult_confirmed_at, policy_version, policy_accepted_at)
         values ($1, $2, $3, $4, $5, $6, $5)",
    )
    .bind(merchant_id)
    .bind(input.full_name.trim())
    .bind(&email)
    .bind(&hash)
    .bind(now)
    .bind(PRIVACY_POLICY_VERSION)
    .execute(&mut *tx)
    .await;
    match inserted {
        // Two sign-ups racing for one email: the unique index decides, the loser gets the form error.
        Err(e) if is_unique_violation(&e, "merchants_email_lower_key") => {
            return Err(AppError::validation("email", EMAIL_TAKEN));
        }
        other => other?,
    };
    create_shop(&mut tx, merchant_id, input.business_name.trim()).await?;
    let issued = create_session(&mut tx, &state.config, merchant_id, user_agent).await?;
    tx.commit().await?;
    tracing::info!(%merchant_id, "merchant signed up");
    Ok(issued)
}

pub async fn create_shop(
    conn: &mut sqlx::PgConnection,
    merchant_id: Uuid,
    name: &str,
) -> AppResult<Uuid> {
    let slug = unique_slug(conn, &slugify(name)).await?;
    let shop_id = Uuid::now_v7();
    sqlx::query("insert into shops (id, merchant_id, name, slug) values ($1, $2, $3, $4)")
        .bind(shop_id)
        .bind(merchant_id)
        .bind(name)
        .bind(&slug)
        .execute(&mut *conn)
        .await?;
    Ok(shop_id)
}

pub const BAD_LOGIN: &str =
    "That email and password do not match an account. Check both and try again.";

#[tracing::instrument(skip_all)]
pub async fn login(
    state: &AppState,
    email: &str,
    password: String,
    ip: IpAddr,
    user_agent: Option<&str>,
) -> AppResult<IssuedSession> {
    let email = normalize_email(email);
    state.limits.check_login(ip, &email)?;
    let row: Option<(Uuid, String)> =
        sqlx::query_as("select id, password_hash from merchants where lower(email) = $1")
            .bind(&email)
            .fetch_optional(&state.pool)
            .await?;
    let (id, hash) = row
        .map(|(id, h)| (Some(id), Some(h)))
        .unwrap_or((None, None));
    // Same message and same work for an unknown email and a wrong password.
    if !verify_password(password.into(), hash).await? {
        return Err(AppError::validation("password", BAD_LOGIN));
    }
    let id = id.expect("verified implies known");
    let mut conn = state.pool.acquire().await?;
    let issued = create_session(&mut conn, &state.config, id, user_agent).await?;
    tracing::info!(merchant_id = %id, "merchant logged in");
    Ok(issued)
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

pub async fn current_user(pool: &PgPool, merchant_id: Uuid) -> AppResult<CurrentUser> {
    let row: Option<(Uuid, String, String, Uuid, String, String)> = sqlx::query_as(
        "select m.id, m.full_name, m.email, s.id, s.name, s.slug
         from merchants m
         join shops s on s.merchant_id = m.id
         where m.id = $1
         order by s.created_at
         limit 1",
    )
    .bind(merchant_id)
    .fetch_optional(pool)
    .await?;
    let (merchant_id, full_name, email, shop_id, shop_name, shop_slug) =
        row.ok_or(AppError::Unauthorized)?;
    Ok(CurrentUser {
        merchant_id,
        full_name,
        email,
        shop_id,
        shop_name,
        shop_slug,
    })
}

// ---------------------------------------------------------------- password reset

/// Always succeeds from the caller's view, so the form does not reveal who has an account.
#[tracing::instrument(skip_all)]
pub async fn request_password_reset(state: &AppState, email: &str) -> AppResult<()> {
    if let Err(message) = validate_email(email) {
        return Err(AppError::validation("email", message));
    }
    let email = normalize_email(email);
    state.limits.check_reset(&email)?;
    let merchant: Option<(Uuid, String)> =
        sqlx::query_as("select id, full_name from merchants where lower(email) = $1")
            .bind(&email)
            .fetch_optional(&state.pool)
            .await?;
    let Some((merchant_id, name)) = merchant else {
        tracing::info!("password reset asked for an unknown email");
        return Ok(());
    };
    let (token, hash) = new_token();
    let mut tx = state.pool.begin().await?;
    sqlx::query("insert into password_resets (id, merchant_id, token_hash, expires_at) values ($1, $2, $3, $4)")
        .bind(Uuid::now_v7())
        .bind(merchant_id)
        .bind(&hash)
        .bind(OffsetDateTime::now_utc() + Duration::minutes(RESET_LINK_TTL_MINUTES))
        .execute(&mut *tx)
        .await?;
    let link = format!("{}/reset-password?token={token}", state.config.public_url);
    let body = format!(
        "Hello {name},\n\nSomeone (hopefully you) asked to reset the password of your Bizmaat account.\n\
         Open this link within {RESET_LINK_TTL_MINUTES} minutes to choose a new password:\n\n{link}\n\n\
         The link works once. If you did not ask for this, ignore this email; your password stays as it is.\n"
    );
    crate::mail::ssr::enqueue(&mut tx, &email, "Reset your Bizmaat password", &body).await?;
    tx.commit().await?;
    Ok(())
}

pub const BAD_RESET_LINK: &str =
    "This reset link is invalid, expired or already used. Ask for a new one.";

/// Sets a new password from a reset link. The link is spent atomically, so a second use fails,
/// and every session of the account is revoked.
#[tracing::instrument(skip_all)]
pub async fn reset_password(state: &AppState, token: &str, password: String) -> AppResult<()> {
    let mut tx = state.pool.begin().await?;
    let merchant: Option<(Uuid, String)> = sqlx::query_as(
        "update password_resets r set used_at = now()
         from merchants m
         where r.token_hash = $1 and r.used_at is null and r.expires_at > now() and m.id = r.merchant_id
         returning m.id, m.email",
    )
    .bind(token_hash(token))
    .fetch_optional(&mut *tx)
    .await?;
    let Some((merchant_id, email)) = merchant else {
        return Err(AppError::validation("token", BAD_RESET_LINK));
    };
    if let Err(message) = validate_password(&password, &email) {
        return Err(AppError::validation("password", message));
    }
    let hash = hash_password(password.into()).await?;
    sqlx::query("update merchants set password_hash = $2, updated_at = now() where id = $1")
        .bind(merchant_id)
        .bind(hash)
        .execute(&mut *tx)
        .await?;
    logout_everywhere(&mut tx, merchant_id).await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------- account settings

pub async fn update_profile(
    pool: &PgPool,
    merchant_id: Uuid,
    full_name: &str,
    business_name: &str,
) -> AppResult<()> {
    let mut errors = FieldErrors::new();
    if let Err(m) = validate_name(full_name, "full name") {
        errors.insert("full_name".into(), m);
    }
    if let Err(m) = validate_name(business_name, "business name") {
        errors.insert("business_name".into(), m);
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let mut tx = pool.begin().await?;
    sqlx::query("update merchants set full_name = $2, updated_at = now() where id = $1")
        .bind(merchant_id)
        .bind(full_name.trim())
        .execute(&mut *tx)
        .await?;
    sqlx::query("update shops set name = $2, updated_at = now() where merchant_id = $1")
        .bind(merchant_id)
        .bind(business_name.trim())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

async fn check_current_password(
    pool: &PgPool,
    merchant_id: Uuid,
    password: String,
) -> AppResult<()> {
    let hash: Option<String> =
        sqlx::query_scalar("select password_hash from merchants where id = $1")
            .bind(merchant_id)
            .fetch_optional(pool)
            .await?;
    if hash.is_none() {
        return Err(AppError::Unauthorized);
    }
    if !verify_password(password.into(), hash).await? {
        return Err(AppError::validation(
            "current_password",
            "Your current password is not right.",
        ));
    }
    Ok(())
}

pub async fn change_email(
    pool: &PgPool,
    merchant_id: Uuid,
    new_email: &str,
    current_password: String,
) -> AppResult<()> {
    if let Err(m) = validate_email(new_email) {
        return Err(AppError::validation("email", m));
    }
    check_current_password(pool, merchant_id, current_password).await?;
    let updated = sqlx::query("update merchants set email = $2, updated_at = now() where id = $1")
        .bind(merchant_id)
        .bind(normalize_email(new_email))
        .execute(pool)
        .await;
    match updated {
        Err(e) if is_unique_violation(&e, "merchants_email_lower_key") => Err(
            AppError::validation("email", "Another account already uses this email."),
        ),
        other => other.map(|_| ()).map_err(Into::into),
    }
}

/// Changes the password, revokes every session (all devices are logged out) and opens a fresh
/// one for the device that made the change.
pub async fn change_password(
    state: &AppState,
    merchant_id: Uuid,
    current_password: String,
    new_password: String,
    user_agent: Option<&str>,
) -> AppResult<IssuedSession> {
    let email: String = sqlx::query_scalar("select email from merchants where id = $1")
        .bind(merchant_id)
        .fetch_optional(&state.pool)
        .await?
        .ok_or(AppError::Unauthorized)?;
    if let Err(m) = validate_password(&new_password, &email) {
        return Err(AppError::validation("new_password", m));
    }
    check_current_password(&state.pool, merchant_id, current_password).await?;
    let hash = hash_password(new_password.into()).await?;
    let mut tx = state.pool.begin().await?;
    sqlx::query("update merchants set password_hash = $2, updated_at = now() where id = $1")
        .bind(merchant_id)
        .bind(hash)
        .execute(&mut *tx)
        .await?;
    logout_everywhere(&mut tx, merchant_id).await?;
    let issued = create_session(&mut tx, &state.config, merchant_id, user_agent).await?;
    tx.commit().await?;
    Ok(issued)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slugify("Amina's Fabrics & More!"), "amina-s-fabrics-more");
        assert_eq!(slugify("  ---  "), "shop");
        assert_eq!(slugify("Café Lagos"), "caf-lagos");
        assert!(slugify(&"x".repeat(80)).len() <= 48);
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
