//! The channel's services: the connected account (Embedded Signup, manual setup, reconnect,
//! disconnect, health), templates, and the pieces the inbound and outbound paths share
//! (signatures, tokens). Nothing third-party runs inside a database transaction.

use super::graph::{ErrorClass, Graph, GraphError};
use super::{
    AccountStatus, AccountView, ChannelAlert, ChannelView, EmbeddedSignupSettings, SignupResult,
    TemplateView,
};
use crate::config::WhatsAppConfig;
use crate::error::{AppError, AppResult};
use crate::platform::jobs::{self, JobContext, JobError, NewJob, Registry};
use crate::platform::secrets::{Secrets, last4};
use crate::state::AppState;
use hmac::{KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

pub const SYNC_TEMPLATES: &str = "wa_sync_templates";
pub const COEXISTENCE_SYNC: &str = "wa_coexistence_sync";

/// The channel's shared parts, one per process (in `AppState`).
pub struct WhatsApp {
    pub config: WhatsAppConfig,
    pub graph: Graph,
    pub secrets: Secrets,
    pub pacer: super::outbound::Pacer,
    /// The fake Meta, when `WHATSAPP_SIMULATOR=true`.
    pub simulator: Option<Arc<super::simulator::Simulator>>,
    /// Wakes this process's inbox processor when a delivery is committed (other replicas find
    /// it by polling; see `inbound::run_inbox`).
    pub inbox_wake: Arc<tokio::sync::Notify>,
}

impl WhatsApp {
    pub fn new(
        config: &crate::config::Config,
        http: &crate::platform::http::HttpSettings,
    ) -> AppResult<Self> {
        let wa = config.whatsapp.clone();
        let graph = Graph::new(
            crate::platform::http::HttpClient::new("whatsapp", http),
            &wa.graph_base_url,
            &wa.api_version,
        );
        let simulator = wa
            .simulator
            .then(|| Arc::new(super::simulator::Simulator::new(config)));
        Ok(WhatsApp {
            secrets: Secrets::new(wa.secrets_key.as_ref())?,
            pacer: super::outbound::Pacer::new(&wa),
            config: wa,
            graph,
            simulator,
            inbox_wake: Arc::new(tokio::sync::Notify::new()),
        })
    }
}

pub fn register_jobs(registry: &mut Registry) {
    super::inbound::register_jobs(registry);
    super::outbound::register_jobs(registry);
    registry.register(SYNC_TEMPLATES, |ctx: JobContext, p: ShopJob| async move {
        sync_templates(&ctx.state, p.shop_id).await
    });
    registry.register(COEXISTENCE_SYNC, |ctx: JobContext, p: ShopJob| async move {
        coexistence_sync(&ctx.state, p.shop_id).await
    });
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ShopJob {
    pub shop_id: Uuid,
}

// ------------------------------------------------------------------------------ signatures

/// `X-Hub-Signature-256: sha256=<hex>` over the raw body, compared in constant time.
pub fn signature_matches(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_sig) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// The header value Meta would send for `body` (the simulator and tests sign with it).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Constant-time comparison for verify tokens.
pub fn same_secret(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

// ------------------------------------------------------------------------------ accounts

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountRow {
    pub id: Uuid,
    pub shop_id: Uuid,
    pub onboarding: String,
    pub waba_id: String,
    pub phone_number_id: String,
    pub display_phone: String,
    pub verified_name: String,
    pub quality_rating: String,
    pub messaging_tier: String,
    pub status: String,
    pub status_reason: String,
    pub access_token_enc: Vec<u8>,
    pub token_last4: String,
    pub token_expires_at: Option<OffsetDateTime>,
    pub app_secret_enc: Option<Vec<u8>>,
    pub webhook_key: Option<String>,
    pub verify_token: Option<String>,
    pub pin_enc: Option<Vec<u8>>,
    pub last_webhook_at: Option<OffsetDateTime>,
    pub alert_phone: Option<String>,
    pub notify_order_updates: bool,
    pub history_progress: Option<i32>,
    pub history_declined: Option<String>,
}

const ACCOUNT_COLUMNS: &str = "id, shop_id, onboarding, waba_id, phone_number_id, display_phone,
    verified_name, quality_rating, messaging_tier, status, status_reason, access_token_enc,
    token_last4, token_expires_at, app_secret_enc, webhook_key, verify_token, pin_enc,
    last_webhook_at, alert_phone, notify_order_updates, history_progress, history_declined";

pub fn account_columns() -> &'static str {
    ACCOUNT_COLUMNS
}

impl AccountRow {
    pub fn is_coexistence(&self) -> bool {
        self.onboarding == "coexistence"
    }

    pub fn status(&self) -> AccountStatus {
        AccountStatus::parse(&self.status)
    }
}

fn aad(account_id: Uuid, field: &str) -> Vec<u8> {
    format!("wa_accounts:{account_id}:{field}").into_bytes()
}

pub fn account_token(state: &AppState, account: &AccountRow) -> AppResult<SecretString> {
    state
        .whatsapp
        .secrets
        .decrypt(&account.access_token_enc, &aad(account.id, "token"))
}

pub fn account_app_secret(
    state: &AppState,
    account: &AccountRow,
) -> AppResult<Option<SecretString>> {
    account
        .app_secret_enc
        .as_ref()
        .map(|enc| {
            state
                .whatsapp
                .secrets
                .decrypt(enc, &aad(account.id, "app_secret"))
        })
        .transpose()
}

pub async fn account_for_shop(pool: &PgPool, shop_id: Uuid) -> AppResult<Option<AccountRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {ACCOUNT_COLUMNS} from wa_accounts where shop_id = $1"
    )))
    .bind(shop_id)
    .fetch_optional(pool)
    .await?)
}

pub async fn account_by_phone_number_id(
    pool: &PgPool,
    phone_number_id: &str,
) -> AppResult<Option<AccountRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {ACCOUNT_COLUMNS} from wa_accounts where phone_number_id = $1"
    )))
    .bind(phone_number_id)
    .fetch_optional(pool)
    .await?)
}

pub async fn account_by_webhook_key(pool: &PgPool, key: &str) -> AppResult<Option<AccountRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {ACCOUNT_COLUMNS} from wa_accounts where webhook_key = $1"
    )))
    .bind(key)
    .fetch_optional(pool)
    .await?)
}

pub async fn channel_view(state: &AppState, shop_id: Uuid) -> AppResult<ChannelView> {
    let wa = &state.whatsapp.config;
    let embedded_signup = match (&wa.app_id, &wa.config_id) {
        (Some(app_id), Some(config_id)) => Some(EmbeddedSignupSettings {
            app_id: app_id.clone(),
            config_id: config_id.clone(),
            api_version: wa.api_version.clone(),
            extras: wa.es_extras.clone(),
            message_origin_host: wa.signup_origin_host.clone(),
            sdk_url: if wa.simulator {
                "/simulator/sdk.js".into()
            } else {
                "https://connect.facebook.net/en_US/sdk.js".into()
            },
        }),
        _ => None,
    };
    let account = match account_for_shop(&state.pool, shop_id).await? {
        None => None,
        Some(a) => {
            let now = state.clock.now();
            let templates = templates_for_shop(&state.pool, shop_id).await?;
            let zone = crate::platform::zone::of_shop(&state.pool, shop_id).await?;
            Some(AccountView {
                status: a.status(),
                status_reason: a.status_reason.clone(),
                onboarding: a.onboarding.clone(),
                display_phone: a.display_phone.clone(),
                verified_name: a.verified_name.clone(),
                quality_rating: a.quality_rating.clone(),
                messaging_tier: a.messaging_tier.clone(),
                waba_id: a.waba_id.clone(),
                phone_number_id: a.phone_number_id.clone(),
                token_last4: a.token_last4.clone(),
                token_expires_at: a.token_expires_at.map(|t| zone.rfc3339(t)),
                token_days_left: a.token_expires_at.map(|t| (t - now).whole_days()),
                last_webhook_at: a.last_webhook_at.map(|t| zone.rfc3339(t)),
                webhook_url: a
                    .webhook_key
                    .as_ref()
                    .map(|k| format!("{}/webhooks/whatsapp/{k}", state.config.public_url)),
                verify_token: a.verify_token.clone(),
                alert_phone: a.alert_phone.clone().unwrap_or_default(),
                notify_order_updates: a.notify_order_updates,
                history_progress: a.history_progress,
                history_declined: a.history_declined.clone(),
                templates,
            })
        }
    };
    let agent = match account {
        Some(_) => Some(crate::agent::ssr::settings(state, shop_id).await?),
        None => None,
    };
    Ok(ChannelView {
        embedded_signup,
        account,
        agent,
        platform_webhook_url: format!("{}/webhooks/whatsapp", state.config.public_url),
        simulator: wa.simulator,
    })
}

async fn templates_for_shop(pool: &PgPool, shop_id: Uuid) -> AppResult<Vec<TemplateView>> {
    let rows: Vec<(String, String, String, String, String, i32, String)> = sqlx::query_as(
        "select name, language, category, status, body_text, body_params, reason
         from wa_templates where shop_id = $1 order by name, language",
    )
    .bind(shop_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(name, language, category, status, body_text, body_params, reason)| TemplateView {
                name,
                language,
                category,
                status,
                body_text,
                body_params,
                reason,
            },
        )
        .collect())
}

/// What a connection stores, whichever way it was made.
struct NewAccount {
    onboarding: &'static str,
    waba_id: String,
    phone: super::graph::PhoneNumber,
    business_id: Option<String>,
    token: String,
    token_expires_at: Option<OffsetDateTime>,
    app_secret: Option<String>,
    pin: Option<String>,
}

/// Inserts or replaces (reconnect) the shop's account. A number connected to another shop is
/// refused; one that shop disconnected is taken over.
async fn store_account(state: &AppState, shop_id: Uuid, new: NewAccount) -> AppResult<Uuid> {
    let secrets = &state.whatsapp.secrets;
    let mut tx = state.pool.begin().await?;
    let holder: Option<(Uuid, String)> = sqlx::query_as(
        "select shop_id, status from wa_accounts where phone_number_id = $1 for update",
    )
    .bind(&new.phone.id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((holder_shop, status)) = &holder
        && *holder_shop != shop_id
    {
        if status != "disconnected" {
            return Err(AppError::Conflict(
                "This WhatsApp number is connected to another shop on this server.".into(),
            ));
        }
        sqlx::query("delete from wa_accounts where phone_number_id = $1")
            .bind(&new.phone.id)
            .execute(&mut *tx)
            .await?;
    }
    let existing: Option<(Uuid, Option<String>, Option<String>)> = sqlx::query_as(
        "select id, webhook_key, verify_token from wa_accounts where shop_id = $1 for update",
    )
    .bind(shop_id)
    .fetch_optional(&mut *tx)
    .await?;
    let id = existing.as_ref().map(|e| e.0).unwrap_or_else(Uuid::now_v7);
    let token_enc = secrets.encrypt(&new.token, &aad(id, "token"))?;
    let app_secret_enc = new
        .app_secret
        .as_deref()
        .map(|s| secrets.encrypt(s, &aad(id, "app_secret")))
        .transpose()?;
    let pin_enc = new
        .pin
        .as_deref()
        .map(|p| secrets.encrypt(p, &aad(id, "pin")))
        .transpose()?;
    // Manual accounts keep their webhook path and verify token across reconnects, so the
    // merchant does not have to paste them into Meta again.
    let (webhook_key, verify_token): (Option<String>, Option<String>) =
        if new.onboarding == "manual" {
            (
                Some(
                    existing
                        .as_ref()
                        .and_then(|e| e.1.clone())
                        .unwrap_or_else(|| random_token(16)),
                ),
                Some(
                    existing
                        .as_ref()
                        .and_then(|e| e.2.clone())
                        .unwrap_or_else(|| random_token(24)),
                ),
            )
        } else {
            (None, None)
        };
    let now = state.clock.now();
    sqlx::query(
        "insert into wa_accounts (id, shop_id, onboarding, waba_id, phone_number_id, business_id,
             display_phone, verified_name, quality_rating, messaging_tier, status, status_reason,
             access_token_enc, token_last4, token_expires_at, app_secret_enc, webhook_key,
             verify_token, pin_enc, connected_at, reconnect_notified_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'connected', '', $11, $12, $13, $14, $15,
                 $16, $17, $18, null, $18)
         on conflict (id) do update set
             onboarding = excluded.onboarding, waba_id = excluded.waba_id,
             phone_number_id = excluded.phone_number_id, business_id = excluded.business_id,
             display_phone = excluded.display_phone, verified_name = excluded.verified_name,
             quality_rating = excluded.quality_rating, messaging_tier = excluded.messaging_tier,
             status = 'connected', status_reason = '',
             access_token_enc = excluded.access_token_enc, token_last4 = excluded.token_last4,
             token_expires_at = excluded.token_expires_at, app_secret_enc = excluded.app_secret_enc,
             webhook_key = excluded.webhook_key, verify_token = excluded.verify_token,
             pin_enc = coalesce(excluded.pin_enc, wa_accounts.pin_enc),
             connected_at = excluded.connected_at, reconnect_notified_at = null,
             updated_at = excluded.updated_at",
    )
    .bind(id)
    .bind(shop_id)
    .bind(new.onboarding)
    .bind(&new.waba_id)
    .bind(&new.phone.id)
    .bind(&new.business_id)
    .bind(&new.phone.display_phone_number)
    .bind(&new.phone.verified_name)
    .bind(&new.phone.quality_rating)
    .bind(&new.phone.messaging_limit_tier)
    .bind(&token_enc)
    .bind(last4(&new.token))
    .bind(new.token_expires_at)
    .bind(&app_secret_enc)
    .bind(&webhook_key)
    .bind(&verify_token)
    .bind(&pin_enc)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    jobs::enqueue(&mut tx, NewJob::new(SYNC_TEMPLATES, ShopJob { shop_id })).await?;
    tx.commit().await?;
    tracing::info!(%shop_id, onboarding = new.onboarding, "WhatsApp number connected");
    Ok(id)
}

pub fn random_token(bytes: usize) -> String {
    use base64::Engine as _;
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

fn random_pin() -> String {
    use rand::Rng;
    format!("{:06}", rand::rng().random_range(0..1_000_000))
}

const FINISH_EVENTS: [&str; 5] = [
    "FINISH",
    "FINISH_ONLY_WABA",
    "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING",
    "FINISH_OBO_MIGRATION",
    "FINISH_GRANT_ONLY_API_ACCESS",
];

fn valid_graph_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Finishes Embedded Signup on the server: exchange the code (at once — it lives 30 s), find
/// the number, subscribe our app, register the number (or start the coexistence syncs) and
/// store the account, replacing the token in place on a reconnect.
#[tracing::instrument(skip_all, fields(%shop_id, event = %input.event))]
pub async fn finish_embedded_signup(
    state: &AppState,
    shop_id: Uuid,
    input: SignupResult,
) -> AppResult<()> {
    let wa = &state.whatsapp;
    let (Some(app_id), Some(app_secret)) = (&wa.config.app_id, &wa.config.app_secret) else {
        return Err(AppError::validation(
            "signup",
            "Embedded Signup is not set up on this server. Use manual setup, or ask the operator to set META_APP_ID and META_APP_SECRET.",
        ));
    };
    match input.event.as_str() {
        e if FINISH_EVENTS.contains(&e) => {}
        "CANCEL" => {
            return Err(AppError::validation(
                "signup",
                "You closed the Facebook window before finishing. Nothing was connected; start again when you are ready.",
            ));
        }
        "ERROR" => {
            return Err(AppError::validation(
                "signup",
                "Facebook reported an error during sign-up. Nothing was connected; please try again.",
            ));
        }
        _ => {
            return Err(AppError::validation(
                "signup",
                "The sign-up did not finish. Please try again.",
            ));
        }
    }
    let code = input.code.trim();
    if code.is_empty() || code.len() > 1024 {
        return Err(AppError::validation(
            "signup",
            "Facebook did not give us a sign-in code. Please connect again.",
        ));
    }
    if !valid_graph_id(input.waba_id.trim()) {
        return Err(AppError::validation(
            "signup",
            "Facebook did not tell us which WhatsApp Business account you chose. Please connect again.",
        ));
    }
    let waba_id = input.waba_id.trim().to_string();
    let grant = wa
        .graph
        .exchange_code(app_id, app_secret, code)
        .await
        .map_err(|e| signup_error(&e, "exchanging the sign-in code"))?;
    let token: SecretString = grant.access_token.clone().into();
    let phone_id = input
        .phone_number_id
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string);
    if let Some(p) = &phone_id
        && !valid_graph_id(p)
    {
        return Err(AppError::validation(
            "signup",
            "The phone number id is not valid.",
        ));
    }
    // FINISH_ONLY_WABA and the coexistence finish carry only the WABA: look the number up.
    let numbers = wa
        .graph
        .phone_numbers(&token, &waba_id)
        .await
        .map_err(|e| signup_error(&e, "reading the WhatsApp account's numbers"))?;
    let phone = match &phone_id {
        Some(p) => numbers.iter().find(|n| &n.id == p).cloned(),
        None => numbers.first().cloned(),
    }
    .ok_or_else(|| {
        AppError::validation(
            "signup",
            "No phone number was found in the WhatsApp Business account you chose. Add a number in the sign-up window and try again.",
        )
    })?;
    let coexistence = input.event == "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING";
    wa.graph
        .subscribe_app(&token, &waba_id)
        .await
        .map_err(|e| signup_error(&e, "subscribing to the account's messages"))?;
    let pin = if coexistence {
        None
    } else {
        // Reconnecting reuses the PIN we registered with before (a different one is 133005).
        let previous = match account_for_shop(&state.pool, shop_id).await? {
            Some(a) if a.phone_number_id == phone.id => a
                .pin_enc
                .as_ref()
                .map(|p| wa.secrets.decrypt(p, &aad(a.id, "pin")))
                .transpose()?
                .map(|s| s.expose_secret().to_string()),
            _ => None,
        };
        let pin = previous.unwrap_or_else(random_pin);
        wa.graph
            .register(&token, &phone.id, &pin)
            .await
            .map_err(|e| signup_error(&e, "registering the number"))?;
        Some(pin)
    };
    let token_expires_at = grant
        .expires_in
        .filter(|s| *s > 0)
        .map(|s| state.clock.now() + time::Duration::seconds(s));
    store_account(
        state,
        shop_id,
        NewAccount {
            onboarding: if coexistence {
                "coexistence"
            } else {
                "embedded"
            },
            waba_id,
            phone,
            business_id: input.business_id.filter(|b| valid_graph_id(b)),
            token: grant.access_token,
            token_expires_at,
            app_secret: None,
            pin,
        },
    )
    .await?;
    if coexistence {
        // Contacts and chat history from the WhatsApp Business app (once each, within 24 h).
        let mut conn = state.pool.acquire().await?;
        jobs::enqueue(
            &mut conn,
            NewJob::new(COEXISTENCE_SYNC, ShopJob { shop_id })
                .idempotency_key(format!("{shop_id}:{}", state.clock.now().unix_timestamp())),
        )
        .await?;
    }
    Ok(())
}

fn signup_error(e: &GraphError, step: &str) -> AppError {
    tracing::warn!(error = %e, step, "Embedded Signup step failed");
    let message = match e {
        GraphError::Api { code: 100, .. } if step.starts_with("exchanging") => {
            "The sign-in code from Facebook expired or was already used (it lasts 30 seconds). Please connect again.".to_string()
        }
        GraphError::Api { code, .. } if super::graph::describe_code(*code).is_some() => {
            super::graph::describe_code(*code).unwrap_or_default().to_string()
        }
        GraphError::Transport(_) => format!("Meta did not answer while {step}. Please try again."),
        other => format!("Meta refused while {step}: {}", other.plain_words()),
    };
    AppError::validation("signup", message)
}

#[derive(Debug, Clone)]
pub struct ManualSetup {
    pub phone_number_id: String,
    pub waba_id: String,
    pub access_token: String,
    pub app_secret: String,
}

/// Manual setup with the merchant's own Meta app: the ids and token are checked against the
/// Graph API before anything is saved.
#[tracing::instrument(skip_all, fields(%shop_id))]
pub async fn manual_setup(state: &AppState, shop_id: Uuid, input: ManualSetup) -> AppResult<()> {
    let phone_number_id = input.phone_number_id.trim().to_string();
    let waba_id = input.waba_id.trim().to_string();
    let token = input.access_token.trim().to_string();
    let app_secret = input.app_secret.trim().to_string();
    let mut fields = std::collections::BTreeMap::new();
    if !valid_graph_id(&phone_number_id) || !phone_number_id.chars().all(|c| c.is_ascii_digit()) {
        fields.insert("phone_number_id".into(), "Enter the phone number ID from WhatsApp Manager (digits only), not the phone number itself.".into());
    }
    if !valid_graph_id(&waba_id) || !waba_id.chars().all(|c| c.is_ascii_digit()) {
        fields.insert(
            "waba_id".into(),
            "Enter the WhatsApp Business account ID (digits only).".into(),
        );
    }
    if token.len() < 20 || token.len() > 1024 || token.chars().any(char::is_whitespace) {
        fields.insert(
            "access_token".into(),
            "Paste the whole system-user access token.".into(),
        );
    }
    if app_secret.len() < 16
        || app_secret.len() > 128
        || app_secret.chars().any(char::is_whitespace)
    {
        fields.insert(
            "app_secret".into(),
            "Paste your app's secret (App settings → Basic → App secret).".into(),
        );
    }
    if !fields.is_empty() {
        return Err(AppError::Validation(fields));
    }
    let secret: SecretString = token.clone().into();
    let graph = &state.whatsapp.graph;
    let phone = graph
        .phone_number(&secret, &phone_number_id)
        .await
        .map_err(|e| manual_error(&e, "phone_number_id"))?;
    let numbers = graph
        .phone_numbers(&secret, &waba_id)
        .await
        .map_err(|e| manual_error(&e, "waba_id"))?;
    if !numbers.iter().any(|n| n.id == phone.id) {
        return Err(AppError::validation(
            "waba_id",
            "This phone number is not in that WhatsApp Business account. Check both IDs in WhatsApp Manager.",
        ));
    }
    graph
        .subscribe_app(&secret, &waba_id)
        .await
        .map_err(|e| manual_error(&e, "access_token"))?;
    store_account(
        state,
        shop_id,
        NewAccount {
            onboarding: "manual",
            waba_id,
            phone,
            business_id: None,
            token,
            token_expires_at: None,
            app_secret: Some(app_secret),
            pin: None,
        },
    )
    .await?;
    Ok(())
}

fn manual_error(e: &GraphError, field: &str) -> AppError {
    tracing::info!(error = %e, field, "manual WhatsApp setup refused by Meta");
    let message = match e.class() {
        ErrorClass::Auth => "Meta refused this token. Create a system-user token with whatsapp_business_messaging and whatsapp_business_management permissions.".to_string(),
        ErrorClass::Unknown | ErrorClass::Transient | ErrorClass::Throttled => {
            "Meta did not answer. Nothing was saved; please try again in a minute.".to_string()
        }
        ErrorClass::Terminal => match field {
            "phone_number_id" => "Meta does not know this phone number ID for this token.".to_string(),
            "waba_id" => "Meta does not know this WhatsApp Business account ID for this token.".to_string(),
            _ => format!("Meta refused: {}", e.plain_words()),
        },
    };
    let field = if e.class() == ErrorClass::Auth {
        "access_token"
    } else {
        field
    };
    AppError::validation(field, message)
}

/// Disconnecting stops sending and ignores the number's webhooks; history stays.
pub async fn disconnect(state: &AppState, shop_id: Uuid) -> AppResult<()> {
    let done = sqlx::query(
        "update wa_accounts set status = 'disconnected', status_reason = 'Disconnected by you.',
             updated_at = $2
         where shop_id = $1",
    )
    .bind(shop_id)
    .bind(state.clock.now())
    .execute(&state.pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    Ok(())
}

pub async fn save_settings(
    state: &AppState,
    shop_id: Uuid,
    alert_phone: &str,
    notify_order_updates: bool,
) -> AppResult<()> {
    let Some(account) = account_for_shop(&state.pool, shop_id).await? else {
        return Err(AppError::NotFound);
    };
    let alert = alert_phone.trim();
    let alert = if alert.is_empty() {
        None
    } else {
        let normalized = crate::links::normalize_phone(alert)
            .map_err(|m| AppError::validation("alert_phone", m))?
            .ok_or_else(|| {
                AppError::validation(
                    "alert_phone",
                    "Enter the number with its country code, like +234 803 123 4567.",
                )
            })?;
        let digits: String = normalized.chars().filter(char::is_ascii_digit).collect();
        let business: String = account
            .display_phone
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        if !business.is_empty() && digits == business {
            return Err(AppError::validation(
                "alert_phone",
                "Use a different number from the shop's WhatsApp number: WhatsApp cannot send a message from a number to itself.",
            ));
        }
        Some(normalized)
    };
    sqlx::query(
        "update wa_accounts set alert_phone = $2, notify_order_updates = $3, updated_at = now()
         where shop_id = $1",
    )
    .bind(shop_id)
    .bind(alert)
    .bind(notify_order_updates)
    .execute(&state.pool)
    .await?;
    Ok(())
}

/// Moves the account to "needs reconnect" (a 190 from Meta, a ban, a token near expiry) and
/// emails the merchant once per episode.
pub async fn mark_needs_reconnect(
    state: &AppState,
    account_id: Uuid,
    reason: &str,
) -> AppResult<()> {
    let mut tx = state.pool.begin().await?;
    let row: Option<(Uuid, Option<OffsetDateTime>, String)> = sqlx::query_as(
        "update wa_accounts set status = 'needs_reconnect', status_reason = $2, updated_at = now()
         where id = $1 and status <> 'disconnected'
         returning shop_id, reconnect_notified_at, display_phone",
    )
    .bind(account_id)
    .bind(reason)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((shop_id, None, display_phone)) = row {
        let email: Option<String> = sqlx::query_scalar(
            "select m.email from merchants m join shops s on s.merchant_id = m.id where s.id = $1",
        )
        .bind(shop_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(email) = email {
            let body = format!(
                "Your WhatsApp number {display_phone} needs to be reconnected to Bizmaat.\n\n{reason}\n\nUntil you reconnect it, messages to your customers cannot be sent. Reconnect here: {}/dashboard/channels/whatsapp\n",
                state.config.public_url
            );
            crate::mail::ssr::enqueue(&mut tx, &email, "Reconnect your WhatsApp number", &body)
                .await?;
        }
        sqlx::query("update wa_accounts set reconnect_notified_at = $2 where id = $1")
            .bind(account_id)
            .bind(state.clock.now())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// House-keeping: tokens that expire within the warning period need a reconnect.
pub async fn check_token_expiry(state: &AppState) -> AppResult<()> {
    let soon = state.clock.now() + time::Duration::days(state.whatsapp.config.token_warning_days);
    let due: Vec<(Uuid, OffsetDateTime)> = sqlx::query_as(
        "select id, token_expires_at from wa_accounts
         where status = 'connected' and token_expires_at is not null and token_expires_at < $1",
    )
    .bind(soon)
    .fetch_all(&state.pool)
    .await?;
    for (id, at) in due {
        let date = at.date();
        mark_needs_reconnect(
            state,
            id,
            &format!("The connection to WhatsApp expires on {date}. Reconnect the number to keep receiving and sending messages."),
        )
        .await?;
    }
    Ok(())
}

pub async fn channel_alert(state: &AppState, shop_id: Uuid) -> AppResult<Option<ChannelAlert>> {
    let row: Option<(String, String)> = sqlx::query_as(
        "select status, status_reason from wa_accounts where shop_id = $1 and status = 'needs_reconnect'",
    )
    .bind(shop_id)
    .fetch_optional(&state.pool)
    .await?;
    Ok(row.map(|(_, reason)| ChannelAlert {
        message: if reason.is_empty() {
            "Your WhatsApp number needs to be reconnected.".into()
        } else {
            format!("Your WhatsApp number needs to be reconnected. {reason}")
        },
    }))
}

// ------------------------------------------------------------------------------ templates

pub async fn request_template_sync(state: &AppState, shop_id: Uuid) -> AppResult<()> {
    if account_for_shop(&state.pool, shop_id).await?.is_none() {
        return Err(AppError::NotFound);
    }
    let mut conn = state.pool.acquire().await?;
    jobs::enqueue(&mut conn, NewJob::new(SYNC_TEMPLATES, ShopJob { shop_id })).await?;
    Ok(())
}

/// Counts the `{{n}}` placeholders of a template body.
pub fn count_params(body: &str) -> i32 {
    let mut max = 0;
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        rest = &rest[start + 2..];
        if let Some(end) = rest.find("}}") {
            if let Ok(n) = rest[..end].trim().parse::<i32>() {
                max = max.max(n);
            }
            rest = &rest[end + 2..];
        } else {
            break;
        }
    }
    max
}

fn template_body(components: &[serde_json::Value]) -> String {
    components
        .iter()
        .find(|c| {
            c["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("body"))
        })
        .and_then(|c| c["text"].as_str())
        .unwrap_or_default()
        .to_string()
}

pub async fn upsert_template(
    pool: &PgPool,
    shop_id: Uuid,
    t: &super::graph::TemplateInfo,
) -> AppResult<()> {
    let body = template_body(&t.components);
    sqlx::query(
        "insert into wa_templates (id, shop_id, meta_id, name, language, category, status,
             body_params, body_text, components, reason, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now())
         on conflict (shop_id, name, language) do update set
             meta_id = excluded.meta_id, category = excluded.category, status = excluded.status,
             body_params = excluded.body_params, body_text = excluded.body_text,
             components = excluded.components, reason = excluded.reason, updated_at = now()",
    )
    .bind(Uuid::now_v7())
    .bind(shop_id)
    .bind(&t.id)
    .bind(&t.name)
    .bind(&t.language)
    .bind(&t.category)
    .bind(&t.status)
    .bind(count_params(&body))
    .bind(&body)
    .bind(serde_json::Value::Array(t.components.clone()))
    .bind(
        t.rejected_reason
            .clone()
            .filter(|r| r != "NONE")
            .unwrap_or_default(),
    )
    .execute(pool)
    .await?;
    Ok(())
}

async fn usable_account(
    state: &AppState,
    shop_id: Uuid,
) -> Result<(AccountRow, SecretString), JobError> {
    let account = account_for_shop(&state.pool, shop_id)
        .await?
        .ok_or_else(|| JobError::permanent(anyhow::anyhow!("no WhatsApp account")))?;
    if account.status() != AccountStatus::Connected {
        return Err(JobError::permanent(anyhow::anyhow!(
            "the account is {}",
            account.status
        )));
    }
    let token = account_token(state, &account)?;
    Ok((account, token))
}

/// Handles a Graph failure inside a job: reconnect on auth errors, retry on transient ones.
pub async fn job_graph_error(state: &AppState, account: &AccountRow, e: GraphError) -> JobError {
    match e.class() {
        ErrorClass::Auth => {
            if let Err(err) = mark_needs_reconnect(state, account.id, &e.plain_words()).await {
                return JobError::retry(anyhow::anyhow!("{err}"));
            }
            JobError::permanent(e)
        }
        ErrorClass::Terminal => JobError::permanent(e),
        _ => JobError::retry(e),
    }
}

async fn sync_templates(state: &AppState, shop_id: Uuid) -> Result<(), JobError> {
    let (account, token) = usable_account(state, shop_id).await?;
    let templates = match state
        .whatsapp
        .graph
        .list_templates(&token, &account.waba_id)
        .await
    {
        Ok(t) => t,
        Err(e) => return Err(job_graph_error(state, &account, e).await),
    };
    for t in &templates {
        upsert_template(&state.pool, shop_id, t).await?;
    }
    Ok(())
}

/// The UTILITY templates the product uses: the escalation alert to the merchant and order
/// updates to customers.
pub fn product_templates() -> Vec<serde_json::Value> {
    vec![
        serde_json::json!({
            "name": super::ESCALATION_TEMPLATE, "language": "en", "category": "UTILITY",
            "components": [{"type": "BODY",
                "text": "A customer needs you on WhatsApp: {{1}}. Open your Bizmaat inbox to reply.",
                "example": {"body_text": [["Ada (+234 803 000 0000)"]]}}]
        }),
        serde_json::json!({
            "name": super::ORDER_UPDATE_TEMPLATE, "language": "en", "category": "UTILITY",
            "components": [{"type": "BODY",
                "text": "Your order {{1}} is now {{2}}. Thank you for shopping with {{3}}.",
                "example": {"body_text": [["#1001", "shipped", "Ada's Shop"]]}}]
        }),
    ]
}

pub async fn create_product_templates(state: &AppState, shop_id: Uuid) -> AppResult<()> {
    let Some(account) = account_for_shop(&state.pool, shop_id).await? else {
        return Err(AppError::NotFound);
    };
    if account.status() != AccountStatus::Connected {
        return Err(AppError::validation(
            "templates",
            "Reconnect the WhatsApp number first.",
        ));
    }
    let token = account_token(state, &account)?;
    for t in product_templates() {
        let name = t["name"].as_str().unwrap_or_default().to_string();
        match state
            .whatsapp
            .graph
            .create_template(&token, &account.waba_id, &t)
            .await
        {
            Ok((id, status)) => {
                let info = super::graph::TemplateInfo {
                    id,
                    name,
                    language: t["language"].as_str().unwrap_or("en").into(),
                    category: "UTILITY".into(),
                    status,
                    components: t["components"].as_array().cloned().unwrap_or_default(),
                    rejected_reason: None,
                };
                upsert_template(&state.pool, shop_id, &info).await?;
            }
            // Already submitted earlier: the sync below brings its status.
            Err(GraphError::Api {
                code: 100,
                subcode: Some(2388023 | 2388024),
                ..
            }) => {}
            Err(e) => {
                if e.class() == ErrorClass::Auth {
                    mark_needs_reconnect(state, account.id, &e.plain_words()).await?;
                }
                return Err(AppError::validation("templates", e.plain_words()));
            }
        }
    }
    request_template_sync(state, shop_id).await
}

async fn coexistence_sync(state: &AppState, shop_id: Uuid) -> Result<(), JobError> {
    let (account, token) = usable_account(state, shop_id).await?;
    for sync in ["smb_app_state_sync", "history"] {
        if let Err(e) = state
            .whatsapp
            .graph
            .smb_app_data(&token, &account.phone_number_id, sync)
            .await
        {
            // Each sync works once; "already done" is not worth retrying.
            if e.class() == ErrorClass::Terminal {
                tracing::warn!(error = %e, sync, "coexistence sync refused");
                continue;
            }
            return Err(job_graph_error(state, &account, e).await);
        }
    }
    Ok(())
}

/// Tells the customer on WhatsApp that their order's status changed, when the shop turned
/// this on: free text inside the 24-hour window, the approved order-update template outside
/// it, and nothing (a note in the thread says why) when neither is possible. Runs in the
/// caller's transaction: only rows and a job are written.
pub async fn notify_order_status(
    state: &AppState,
    tx: &mut sqlx::PgConnection,
    shop_id: Uuid,
    order_id: Uuid,
    status_label: &str,
    // Why (a cancellation's reason), told inside the window; the template has no place for it.
    reason: Option<&str>,
) -> AppResult<()> {
    let enabled: Option<bool> = sqlx::query_scalar(
        "select notify_order_updates from wa_accounts where shop_id = $1 and status = 'connected'",
    )
    .bind(shop_id)
    .fetch_optional(&mut *tx)
    .await?;
    if enabled != Some(true) {
        return Ok(());
    }
    let (number, customer_id, shop_name): (i32, Uuid, String) = sqlx::query_as(
        "select o.number, o.customer_id, s.name from orders o join shops s on s.id = o.shop_id
         where o.id = $1 and o.shop_id = $2",
    )
    .bind(order_id)
    .bind(shop_id)
    .fetch_one(&mut *tx)
    .await?;
    let conversation_id = super::inbound::conversation_for(tx, shop_id, customer_id)
        .await
        .map_err(AppError::Internal)?;
    let last_inbound: Option<OffsetDateTime> =
        sqlx::query_scalar("select last_inbound_at from conversations where id = $1")
            .bind(conversation_id)
            .fetch_one(&mut *tx)
            .await?;
    let now = state.clock.now();
    let open = crate::conversations::ssr::window_secs_left(now, last_inbound) > 0;
    let status = status_label.to_lowercase();
    let order_ref = format!("#{number}");
    let (kind, body, payload) = if open {
        let because = reason
            .map(|r| format!(" Reason: {}.", r.trim_end_matches('.')))
            .unwrap_or_default();
        let text = format!(
            "Your order {order_ref} is now {status}.{because} Thank you for shopping with {shop_name}."
        );
        (
            "text",
            text.clone(),
            serde_json::json!({"type": "text", "text": {"body": text}}),
        )
    } else {
        let approved: Option<(String, i32)> = sqlx::query_as(
            "select language, body_params from wa_templates
             where shop_id = $1 and name = $2 and status = 'APPROVED' limit 1",
        )
        .bind(shop_id)
        .bind(super::ORDER_UPDATE_TEMPLATE)
        .fetch_optional(&mut *tx)
        .await?;
        match approved {
            Some((language, 3)) => {
                let params = [order_ref.clone(), status.clone(), shop_name.clone()];
                let text = format!(
                    "Your order {order_ref} is now {status}. Thank you for shopping with {shop_name}."
                );
                (
                    "template",
                    text,
                    serde_json::json!({"type": "template", "template": {
                        "name": super::ORDER_UPDATE_TEMPLATE, "language": {"code": language},
                        "components": [{"type": "body", "parameters": params.iter().map(|p| serde_json::json!({"type": "text", "text": p})).collect::<Vec<_>>()}]
                    }}),
                )
            }
            _ => {
                super::inbound::insert_note(
                    tx,
                    shop_id,
                    conversation_id,
                    &format!("Order {order_ref} is now {status}; the customer was not told on WhatsApp because the 24-hour window is closed and the order-update template is not approved yet."),
                )
                .await
                .map_err(AppError::Internal)?;
                return Ok(());
            }
        }
    };
    super::outbound::queue(
        tx,
        now,
        super::outbound::Queued {
            shop_id,
            conversation_id,
            sent_by: "system",
            kind,
            body: &body,
            payload,
            idempotency_key: &format!("order-status:{order_id}:{status}"),
            file: None,
        },
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_reference_vectors() {
        // HMAC-SHA256 published vectors (WhatsApp reference §2).
        let header = sign(b"secret", b"test");
        assert_eq!(
            header,
            "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914"
        );
        let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
        assert!(signature_matches(
            b"test_app_secret",
            body,
            Some("sha256=dec6a680679a968e7e0319355b23599cbfc54502c0784668e9618baa0c633756")
        ));
        assert!(!signature_matches(
            b"other",
            body,
            Some(&sign(b"test_app_secret", body))
        ));
        assert!(!signature_matches(b"test_app_secret", body, None));
        assert!(!signature_matches(
            b"test_app_secret",
            body,
            Some("sha256=zz")
        ));
        assert!(!signature_matches(
            b"test_app_secret",
            body,
            Some("dec6a680")
        ));
    }

    #[test]
    fn counts_template_parameters() {
        assert_eq!(count_params("Hi {{1}}, order {{2}} is {{3}}."), 3);
        assert_eq!(count_params("No parameters"), 0);
        assert_eq!(count_params("{{2}} before {{1}}"), 2);
    }
}
