//! Accounts: signup confirmed from the inbox, login, password reset, profile, email and
//! password changes. Forms that take an email answer alike whether or not it has an account.

use super::passwords::{hash_password, verify_password};
use super::sessions::{IssuedSession, create_session, logout_everywhere, new_token, token_hash};
use crate::auth::{
    CurrentUser, SignupInput, normalize_email, validate_email, validate_name, validate_password,
    validate_signup,
};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::policy::PRIVACY_POLICY_VERSION;
use crate::state::AppState;
use sqlx::PgPool;
use std::net::IpAddr;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

const RESET_LINK_TTL_MINUTES: i64 = 60;

fn is_unique_violation(e: &sqlx::Error, constraint: &str) -> bool {
    crate::error::constraint_violation(e) == Some(constraint)
}

const SIGNUP_LINK_TTL_HOURS: i64 = 24;
const EMAIL_CHANGE_TTL_HOURS: i64 = 24;

/// Starts a signup. The answer is the same whether or not the address already has an account,
/// so the form cannot be used to find out who is a merchant here: a new address gets a link
/// that creates the account and shop; an address with an account gets an email saying so,
/// with links to log in or reset the password. The password is hashed in both cases so the
/// two take the same time.
#[tracing::instrument(skip_all)]
pub async fn request_signup(state: &AppState, input: SignupInput, ip: IpAddr) -> AppResult<()> {
    state.limits.check_signup(ip)?;
    let mut errors = validate_signup(&input);
    let time_zone = match input.time_zone.trim() {
        "" => crate::platform::zone::UTC.to_string(),
        zone => match crate::platform::zone::validate(&state.pool, "time_zone", zone).await {
            Ok(zone) => zone,
            Err(AppError::Validation(e)) => {
                errors.extend(e);
                String::new()
            }
            Err(e) => return Err(e),
        },
    };
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let email = normalize_email(&input.email);
    let hash = hash_password(input.password.clone().into()).await?;
    let existing: Option<String> =
        sqlx::query_scalar("select full_name from merchants where lower(email) = $1")
            .bind(&email)
            .fetch_optional(&state.pool)
            .await?;
    let base = &state.config.public_url;
    let mut tx = state.pool.begin().await?;
    if let Some(name) = existing {
        let body = format!(
            "Hello {name},\n\nSomeone (perhaps you) tried to create a new Bizmaat shop with this \
             email address. It already belongs to your account, so nothing was created.\n\n\
             Log in: {base}/login\nForgot your password? {base}/forgot-password\n\n\
             If this was not you, you can ignore this email.\n"
        );
        crate::mail::ssr::enqueue(&mut tx, &email, "You already have a Bizmaat account", &body)
            .await?;
    } else {
        let (token, token_hash) = new_token();
        sqlx::query(
            "insert into signup_requests
               (id, email, full_name, business_name, password_hash, adult_confirmed_at,
                policy_version, token_hash, expires_at, currency, time_zone)
             values ($1, $2, $3, $4, $5, now(), $6, $7, now() + make_interval(hours => $8), $9, $10)",
        )
        .bind(Uuid::now_v7())
        .bind(&email)
        .bind(input.full_name.trim())
        .bind(input.business_name.trim())
        .bind(&hash)
        .bind(PRIVACY_POLICY_VERSION)
        .bind(&token_hash)
        .bind(SIGNUP_LINK_TTL_HOURS as i32)
        .bind(input.currency.trim())
        .bind(&time_zone)
        .execute(&mut *tx)
        .await?;
        let body = format!(
            "Hello {},\n\nConfirm your email to open your new shop, {}:\n\n\
             {base}/signup/confirm?token={token}\n\n\
             The link works once, for {SIGNUP_LINK_TTL_HOURS} hours. If you did not sign up for \
             Bizmaat, ignore this email and nothing will be created.\n",
            input.full_name.trim(),
            input.business_name.trim()
        );
        crate::mail::ssr::enqueue_secret(
            &mut tx,
            &email,
            "Confirm your email to open your shop",
            &body,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub const BAD_SIGNUP_LINK: &str =
    "This confirmation link is invalid, expired or already used. Sign up again to get a new one.";
const EMAIL_TAKEN: &str =
    "An account with this email already exists. Log in or reset your password.";

/// Uses a signup link: creates the merchant and the shop, and logs the browser in.
#[tracing::instrument(skip_all)]
pub async fn confirm_signup(
    state: &AppState,
    token: &str,
    user_agent: Option<&str>,
) -> AppResult<IssuedSession> {
    #[derive(sqlx::FromRow)]
    struct Pending {
        email: String,
        full_name: String,
        business_name: String,
        password_hash: String,
        adult_confirmed_at: OffsetDateTime,
        policy_version: String,
        currency: Option<String>,
        time_zone: Option<String>,
    }
    let mut tx = state.pool.begin().await?;
    let pending: Option<Pending> = sqlx::query_as(
        "update signup_requests set used_at = now()
         where token_hash = $1 and used_at is null and expires_at > now()
         returning email, full_name, business_name, password_hash, adult_confirmed_at, policy_version,
                   currency, time_zone",
    )
    .bind(token_hash(token))
    .fetch_optional(&mut *tx)
    .await?;
    let Some(p) = pending else {
        return Err(AppError::validation("token", BAD_SIGNUP_LINK));
    };
    let merchant_id = Uuid::now_v7();
    let inserted = sqlx::query(
        "insert into merchants (id, full_name, email, password_hash, adult_confirmed_at, policy_version, policy_accepted_at)
         values ($1, $2, $3, $4, $5, $6, $5)",
    )
    .bind(merchant_id)
    .bind(&p.full_name)
    .bind(&p.email)
    .bind(&p.password_hash)
    .bind(p.adult_confirmed_at)
    .bind(&p.policy_version)
    .execute(&mut *tx)
    .await;
    match inserted {
        // Two confirmations racing for one email (or an account created meanwhile): the unique
        // index decides. Only the owner of the inbox can get here, so saying so reveals nothing.
        Err(e) if is_unique_violation(&e, "merchants_email_lower_key") => {
            return Err(AppError::validation("token", EMAIL_TAKEN));
        }
        other => other?,
    };
    let shop_id =
        crate::shop::ssr::create_shop(&mut tx, merchant_id, p.business_name.trim()).await?;
    // What the form chose (a request from before signup asked for them has neither).
    sqlx::query(
        "update shops set currency = coalesce($2, currency), time_zone = coalesce($3, time_zone)
         where id = $1",
    )
    .bind(shop_id)
    .bind(&p.currency)
    .bind(&p.time_zone)
    .execute(&mut *tx)
    .await?;
    let issued = create_session(&mut tx, &state.config, merchant_id, user_agent).await?;
    tx.commit().await?;
    tracing::info!(%merchant_id, "merchant signed up");
    Ok(issued)
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
pub async fn request_password_reset(state: &AppState, email: &str, ip: IpAddr) -> AppResult<()> {
    if let Err(message) = validate_email(email) {
        return Err(AppError::validation("email", message));
    }
    let email = normalize_email(email);
    state.limits.check_reset(ip, &email)?;
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
    crate::mail::ssr::enqueue_secret(&mut tx, &email, "Reset your Bizmaat password", &body).await?;
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
    spend_reset_links(&mut tx, merchant_id).await?;
    tx.commit().await?;
    Ok(())
}

/// Every outstanding reset link of the account stops working: after a reset or a password
/// change, an older link found in a mailbox must not undo it.
async fn spend_reset_links(conn: &mut sqlx::PgConnection, merchant_id: Uuid) -> AppResult<()> {
    sqlx::query(
        "update password_resets set used_at = now() where merchant_id = $1 and used_at is null",
    )
    .bind(merchant_id)
    .execute(&mut *conn)
    .await?;
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
    let shops: Vec<Uuid> = sqlx::query_scalar(
        "update shops set name = $2, updated_at = now() where merchant_id = $1 returning id",
    )
    .bind(merchant_id)
    .bind(business_name.trim())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    // The storefront shows the name: its cached pages go once this request is done, as after
    // any shop change made through the app (the `shops` trigger tells other processes).
    for shop in shops {
        crate::storefront::bytes::touched(shop);
    }
    Ok(())
}

/// Account pages ask for the current password before sensitive changes. A stolen session must
/// not be able to guess it at the speed of argon2, so attempts are limited per merchant.
async fn check_current_password(
    state: &AppState,
    merchant_id: Uuid,
    password: String,
) -> AppResult<()> {
    state.limits.check_password_attempt(merchant_id)?;
    let hash: Option<String> =
        sqlx::query_scalar("select password_hash from merchants where id = $1")
            .bind(merchant_id)
            .fetch_optional(&state.pool)
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

/// Asks to change the login email. The new address must confirm it; the answer is the same
/// whether or not another account uses that address (whose owner gets an email instead), so
/// this form cannot be used to find out who has an account either.
pub async fn request_email_change(
    state: &AppState,
    merchant_id: Uuid,
    new_email: &str,
    current_password: String,
) -> AppResult<String> {
    if let Err(m) = validate_email(new_email) {
        return Err(AppError::validation("email", m));
    }
    check_current_password(state, merchant_id, current_password).await?;
    let new_email = normalize_email(new_email);
    let (current, name): (String, String) =
        sqlx::query_as("select email, full_name from merchants where id = $1")
            .bind(merchant_id)
            .fetch_optional(&state.pool)
            .await?
            .ok_or(AppError::Unauthorized)?;
    if current == new_email {
        return Err(AppError::validation(
            "email",
            "That is already your email address.",
        ));
    }
    let taken: bool =
        sqlx::query_scalar("select exists(select 1 from merchants where lower(email) = $1)")
            .bind(&new_email)
            .fetch_one(&state.pool)
            .await?;
    let base = &state.config.public_url;
    let mut tx = state.pool.begin().await?;
    if taken {
        let body = format!(
            "Hello,\n\nSomeone asked to move another Bizmaat account to this email address. It \
             already belongs to your account, so nothing changed.\n\nLog in: {base}/login\n\n\
             If this was not you, you can ignore this email.\n"
        );
        crate::mail::ssr::enqueue(&mut tx, &new_email, "Your email address and Bizmaat", &body)
            .await?;
    } else {
        let (token, token_hash) = new_token();
        // One pending change at a time: a newer request replaces the older link.
        sqlx::query(
            "update email_changes set used_at = now() where merchant_id = $1 and used_at is null",
        )
        .bind(merchant_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "insert into email_changes (id, merchant_id, new_email, token_hash, expires_at)
             values ($1, $2, $3, $4, now() + make_interval(hours => $5))",
        )
        .bind(Uuid::now_v7())
        .bind(merchant_id)
        .bind(&new_email)
        .bind(&token_hash)
        .bind(EMAIL_CHANGE_TTL_HOURS as i32)
        .execute(&mut *tx)
        .await?;
        let body = format!(
            "Hello {name},\n\nOpen this link to make this address the login email of your Bizmaat \
             account:\n\n{base}/account/confirm-email?token={token}\n\nThe link works once, for \
             {EMAIL_CHANGE_TTL_HOURS} hours. Until then you keep logging in with {current}.\n"
        );
        crate::mail::ssr::enqueue_secret(
            &mut tx,
            &new_email,
            "Confirm your new Bizmaat email",
            &body,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(format!(
        "We sent a confirmation link to {new_email}. Your login email changes when you open it."
    ))
}

pub const BAD_EMAIL_LINK: &str = "This confirmation link is invalid, expired or already used. Ask for a new one on your account page.";

/// Uses an email-change link: the account's login email becomes the confirmed address, and the
/// old address is told (so a hijacked session cannot quietly take the account over).
pub async fn confirm_email_change(state: &AppState, token: &str) -> AppResult<()> {
    let mut tx = state.pool.begin().await?;
    let change: Option<(Uuid, String)> = sqlx::query_as(
        "update email_changes set used_at = now()
         where token_hash = $1 and used_at is null and expires_at > now()
         returning merchant_id, new_email",
    )
    .bind(token_hash(token))
    .fetch_optional(&mut *tx)
    .await?;
    let Some((merchant_id, new_email)) = change else {
        return Err(AppError::validation("token", BAD_EMAIL_LINK));
    };
    let old: String = sqlx::query_scalar("select email from merchants where id = $1")
        .bind(merchant_id)
        .fetch_one(&mut *tx)
        .await?;
    let updated = sqlx::query("update merchants set email = $2, updated_at = now() where id = $1")
        .bind(merchant_id)
        .bind(&new_email)
        .execute(&mut *tx)
        .await;
    match updated {
        // Taken by an account created since the request: only the inbox owner sees this.
        Err(e) if is_unique_violation(&e, "merchants_email_lower_key") => {
            return Err(AppError::validation(
                "token",
                "Another account now uses this email address.",
            ));
        }
        other => other?,
    };
    let body = format!(
        "Hello,\n\nThe login email of your Bizmaat account changed from {old} to {new_email}.\n\n\
         If you did not do this, write to {} at once: we can restore your account.\n",
        state.config.privacy_contact_email
    );
    crate::mail::ssr::enqueue(&mut tx, &old, "Your Bizmaat login email changed", &body).await?;
    tx.commit().await?;
    Ok(())
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
    check_current_password(state, merchant_id, current_password).await?;
    let hash = hash_password(new_password.into()).await?;
    let mut tx = state.pool.begin().await?;
    sqlx::query("update merchants set password_hash = $2, updated_at = now() where id = $1")
        .bind(merchant_id)
        .bind(hash)
        .execute(&mut *tx)
        .await?;
    logout_everywhere(&mut tx, merchant_id).await?;
    spend_reset_links(&mut tx, merchant_id).await?;
    let issued = create_session(&mut tx, &state.config, merchant_id, user_agent).await?;
    tx.commit().await?;
    Ok(issued)
}
