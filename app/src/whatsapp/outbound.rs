//! The outbound path: every message is a row first (idempotency key, status `queued`), then a
//! `wa_send` job sends it. One send per row: the row is marked `sending` (committed) before the
//! call, and an attempt that finds it `sending` — an earlier attempt died without an answer —
//! does not send again; it waits for Meta's status webhook, which carries the row id back in
//! `biz_opaque_callback_data`, and otherwise reports the message as unconfirmed.

use super::graph::ErrorClass;
use super::inbound::{apply_statuses, notify};
use super::ssr::{account_for_shop, account_token, mark_needs_reconnect};
use crate::config::WhatsAppConfig;
use crate::error::{AppError, AppResult};
use crate::platform::jobs::{self, JobContext, JobError, KindOptions, NewJob, Registry};
use crate::state::AppState;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::PgConnection;
use std::num::NonZeroU32;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

pub const SEND: &str = "wa_send";
pub const MARK_READ: &str = "wa_mark_read";
/// How long an unanswered send waits for Meta's status webhook before it is reported as
/// unconfirmed (and never sent twice).
pub const CONFIRM_WAIT: time::Duration = time::Duration::minutes(3);

#[derive(Debug, Serialize, Deserialize)]
pub struct SendJob {
    pub message_id: Uuid,
}

pub fn register_jobs(registry: &mut Registry) {
    registry.register_with(
        SEND,
        KindOptions {
            lease: Duration::from_secs(60),
            backoff: Duration::from_secs(4),
            max_backoff: Duration::from_secs(600),
        },
        |ctx: JobContext, p: SendJob| async move { send(&ctx, p.message_id).await },
    );
    registry.register(MARK_READ, |ctx: JobContext, p: SendJob| async move {
        mark_read(&ctx.state, p.message_id).await
    });
}

/// Pacing of sends from this process: per number (Meta's throughput, 80/s or 20/s for
/// coexistence numbers) and per customer (Meta's pair rate limit, error 131056).
pub struct Pacer {
    cloud: DefaultKeyedRateLimiter<String>,
    coexistence: DefaultKeyedRateLimiter<String>,
    recipient: DefaultKeyedRateLimiter<String>,
}

impl Pacer {
    pub fn new(config: &WhatsAppConfig) -> Self {
        let per_second = |n: u32| Quota::per_second(NonZeroU32::new(n.max(1)).expect("at least 1"));
        let pair = Quota::with_period(Duration::from_millis(config.pair_period_ms.max(1)))
            .expect("a positive period")
            .allow_burst(NonZeroU32::new(config.pair_burst.max(1)).expect("at least 1"));
        Pacer {
            cloud: RateLimiter::keyed(per_second(config.messages_per_second)),
            coexistence: RateLimiter::keyed(per_second(config.messages_per_second.min(20))),
            recipient: RateLimiter::keyed(pair),
        }
    }

    /// How long to wait before this number may send again (zero: now, and the slot is taken).
    pub fn number_wait(&self, phone_number_id: &str, coexistence: bool) -> Duration {
        let limiter = if coexistence {
            &self.coexistence
        } else {
            &self.cloud
        };
        wait_of(limiter, phone_number_id)
    }

    pub fn recipient_wait(&self, phone_number_id: &str, recipient: &str) -> Duration {
        wait_of(&self.recipient, &format!("{phone_number_id}:{recipient}"))
    }
}

fn wait_of(limiter: &DefaultKeyedRateLimiter<String>, key: &str) -> Duration {
    use governor::clock::Clock as _;
    match limiter.check_key(&key.to_string()) {
        Ok(()) => Duration::ZERO,
        Err(not_until) => not_until.wait_time_from(governor::clock::DefaultClock::default().now()),
    }
}

/// A message to queue.
pub struct Queued<'a> {
    pub shop_id: Uuid,
    pub conversation_id: Uuid,
    /// merchant, agent or system.
    pub sent_by: &'a str,
    /// Meta's type: text, image, interactive, template…
    pub kind: &'a str,
    /// What the thread shows.
    pub body: &'a str,
    /// The message object Meta gets, without the recipient (added at send time).
    pub payload: Value,
    pub idempotency_key: &'a str,
    /// A file of ours (in `wa_media_files`) the send job uploads to Meta first; the payload's
    /// media object then gets the id Meta gives it.
    pub file: Option<QueuedFile>,
}

pub struct QueuedFile {
    pub id: Uuid,
    pub mime: String,
}

/// Inserts the message row and its send job in the caller's transaction. The same key gives
/// back the first row: a double submit sends once.
pub async fn queue(tx: &mut PgConnection, now: OffsetDateTime, m: Queued<'_>) -> AppResult<Uuid> {
    let id = Uuid::now_v7();
    let inserted: Option<Uuid> = sqlx::query_scalar(
        "insert into wa_messages (id, shop_id, conversation_id, direction, sent_by, kind, body,
             payload, status, sent_at, idempotency_key, media_file_id, media_mime, media_status)
         values ($1, $2, $3, 'out', $4, $5, $6, $7, 'queued', $8, $9, $10, $11,
             case when $10::uuid is null then null else 'stored' end)
         on conflict (shop_id, idempotency_key) do nothing
         returning id",
    )
    .bind(id)
    .bind(m.shop_id)
    .bind(m.conversation_id)
    .bind(m.sent_by)
    .bind(m.kind)
    .bind(m.body)
    .bind(&m.payload)
    .bind(now)
    .bind(m.idempotency_key)
    .bind(m.file.as_ref().map(|f| f.id))
    .bind(m.file.as_ref().map(|f| f.mime.clone()))
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = inserted else {
        let existing: Uuid = sqlx::query_scalar(
            "select id from wa_messages where shop_id = $1 and idempotency_key = $2",
        )
        .bind(m.shop_id)
        .bind(m.idempotency_key)
        .fetch_one(&mut *tx)
        .await?;
        return Ok(existing);
    };
    jobs::enqueue(
        tx,
        NewJob::new(SEND, SendJob { message_id: id })
            .idempotency_key(id.to_string())
            .max_attempts(12),
    )
    .await?;
    sqlx::query(
        "update conversations set last_message_at = greatest(last_message_at, $3), last_preview = $4,
             updated_at = now()
         where id = $1 and shop_id = $2",
    )
    .bind(m.conversation_id)
    .bind(m.shop_id)
    .bind(now)
    .bind(m.body.chars().take(140).collect::<String>())
    .execute(&mut *tx)
    .await?;
    notify(tx, m.shop_id, m.conversation_id, "message").await?;
    Ok(id)
}

#[derive(sqlx::FromRow)]
struct Outgoing {
    shop_id: Uuid,
    conversation_id: Uuid,
    kind: String,
    payload: Value,
    status: String,
    updated_at: OffsetDateTime,
    last_inbound_at: Option<OffsetDateTime>,
    wa_id: Option<String>,
    phone: Option<String>,
    bsuid: Option<String>,
    media_file_id: Option<Uuid>,
    /// Meta's id for our file, once uploaded (kept so a retry does not upload again).
    media_id: Option<String>,
    is_test: bool,
}

async fn set_failed(
    state: &AppState,
    m: &Outgoing,
    id: Uuid,
    code: Option<i64>,
    text: &str,
) -> Result<(), JobError> {
    let mut tx = state.pool.begin().await?;
    sqlx::query(
        "update wa_messages set status = 'failed', error_code = $2, error_text = $3, updated_at = now()
         where id = $1 and status in ('queued', 'sending')",
    )
    .bind(id)
    .bind(code.map(|c| c as i32))
    .bind(text)
    .execute(&mut *tx)
    .await?;
    notify(&mut tx, m.shop_id, m.conversation_id, "status").await?;
    tx.commit().await?;
    Ok(())
}

async fn set_status(
    state: &AppState,
    m: &Outgoing,
    id: Uuid,
    status: &str,
) -> Result<(), JobError> {
    sqlx::query("update wa_messages set status = $2, updated_at = now() where id = $1 and status in ('queued', 'sending')")
        .bind(id)
        .bind(status)
        .execute(&state.pool)
        .await?;
    let _ = m;
    Ok(())
}

#[tracing::instrument(skip(ctx))]
async fn send(ctx: &JobContext, message_id: Uuid) -> Result<(), JobError> {
    let state = &ctx.state;
    let now = state.clock.now();
    let m: Option<Outgoing> = sqlx::query_as(
        "select m.shop_id, m.conversation_id, m.kind, m.payload, m.status, m.updated_at,
                v.last_inbound_at, c.wa_id, c.phone, c.bsuid, m.media_file_id, m.media_id, c.is_test
         from wa_messages m
         join conversations v on v.id = m.conversation_id
         join customers c on c.id = v.customer_id
         where m.id = $1 and m.direction = 'out'",
    )
    .bind(message_id)
    .fetch_optional(&state.pool)
    .await?;
    let Some(m) = m else { return Ok(()) };
    match m.status.as_str() {
        "queued" => {}
        "sending" => {
            // An earlier attempt sent (or tried to) and got no answer: never send twice.
            if now - m.updated_at < CONFIRM_WAIT {
                return Err(JobError::Later(
                    Duration::from_secs(30),
                    "waiting for Meta to confirm an earlier attempt".into(),
                ));
            }
            set_failed(state, &m, message_id, None, "We could not confirm that this message reached WhatsApp. Check the chat on your phone, and retry if it is missing.").await?;
            return Ok(());
        }
        _ => return Ok(()),
    }
    if crate::agent::playground::is_playground_customer(m.shop_id, m.is_test, m.wa_id.as_deref()) {
        return deliver_to_playground(state, &m, message_id).await;
    }
    let Some(account) = account_for_shop(&state.pool, m.shop_id).await? else {
        set_failed(
            state,
            &m,
            message_id,
            None,
            "No WhatsApp number is connected.",
        )
        .await?;
        return Ok(());
    };
    if account.status != "connected" {
        set_failed(
            state,
            &m,
            message_id,
            None,
            "Your WhatsApp number needs reconnecting; the message was not sent.",
        )
        .await?;
        return Ok(());
    }
    // The 24-hour rule, checked here too: a message queued just before the window closed.
    let window_open = m
        .last_inbound_at
        .is_some_and(|t| now - t < time::Duration::seconds(crate::conversations::WINDOW_SECS));
    if m.kind != "template" && !window_open {
        set_failed(
            state,
            &m,
            message_id,
            Some(131047),
            super::graph::describe_code(131047).unwrap_or_default(),
        )
        .await?;
        return Ok(());
    }
    let recipient_key = m.wa_id.clone().or_else(|| {
        m.phone
            .as_ref()
            .map(|p| p.trim_start_matches('+').to_string())
    });
    let (to_field, to_value) = match (&recipient_key, &m.bsuid) {
        (Some(w), _) => ("to", w.clone()),
        (None, Some(b)) => ("recipient", b.clone()),
        (None, None) => {
            set_failed(
                state,
                &m,
                message_id,
                None,
                "This customer has no WhatsApp number.",
            )
            .await?;
            return Ok(());
        }
    };
    let wait = state
        .whatsapp
        .pacer
        .recipient_wait(&account.phone_number_id, &to_value);
    if !wait.is_zero() {
        return Err(JobError::Later(
            wait,
            "pacing messages to this customer".into(),
        ));
    }
    // Throughput per number: waits are milliseconds, so they are waited out here.
    for _ in 0..50 {
        let wait = state
            .whatsapp
            .pacer
            .number_wait(&account.phone_number_id, account.is_coexistence());
        if wait.is_zero() {
            break;
        }
        tokio::time::sleep(wait.min(Duration::from_millis(200))).await;
    }
    let token = account_token(state, &account)?;
    let mut body = m.payload.clone();
    if let Some(file_id) = m.media_file_id {
        let media_id = match &m.media_id {
            Some(id) => id.clone(),
            None => match upload(state, &token, &account.phone_number_id, m.shop_id, file_id).await
            {
                Ok(Some(id)) => {
                    sqlx::query("update wa_messages set media_id = $2, updated_at = updated_at where id = $1")
                        .bind(message_id)
                        .bind(&id)
                        .execute(&state.pool)
                        .await?;
                    id
                }
                Ok(None) => {
                    set_failed(
                        state,
                        &m,
                        message_id,
                        None,
                        "The file to send is no longer stored.",
                    )
                    .await?;
                    return Ok(());
                }
                Err(e) => {
                    return match e.class() {
                        ErrorClass::Unknown | ErrorClass::Throttled | ErrorClass::Transient
                            if !ctx.is_last_attempt() =>
                        {
                            Err(JobError::retry(e))
                        }
                        ErrorClass::Auth => {
                            mark_needs_reconnect(state, account.id, &e.plain_words()).await?;
                            set_failed(state, &m, message_id, e.code(), &e.plain_words()).await?;
                            Ok(())
                        }
                        _ => {
                            let words =
                                format!("WhatsApp did not accept the file: {}", e.plain_words());
                            set_failed(state, &m, message_id, e.code(), &words).await?;
                            Ok(())
                        }
                    };
                }
            },
        };
        if let Some(media) = body.get_mut(m.kind.as_str()).and_then(Value::as_object_mut) {
            media.insert("id".into(), json!(media_id));
        }
    }
    if let Value::Object(map) = &mut body {
        map.insert("messaging_product".into(), json!("whatsapp"));
        map.insert("recipient_type".into(), json!("individual"));
        map.insert(to_field.into(), json!(to_value));
        map.insert(
            "biz_opaque_callback_data".into(),
            json!(message_id.to_string()),
        );
    }
    // Committed before the call: if we die during it, the next attempt knows not to resend.
    let claimed = sqlx::query(
        "update wa_messages set status = 'sending', send_attempts = send_attempts + 1, updated_at = $2
         where id = $1 and status = 'queued'",
    )
    .bind(message_id)
    .bind(now)
    .execute(&state.pool)
    .await?;
    if claimed.rows_affected() != 1 {
        // Another attempt took the row since we read it: that one sends, not this one.
        return Ok(());
    }
    match state
        .whatsapp
        .graph
        .send_message(&token, &account.phone_number_id, &body)
        .await
    {
        Ok(wamid) => {
            let mut tx = state.pool.begin().await?;
            sqlx::query(
                "update wa_messages set wamid = coalesce(wamid, $2), status = case when status = 'sending' then 'sent' else status end,
                     error_code = null, error_text = null, updated_at = now()
                 where id = $1",
            )
            .bind(message_id)
            .bind(&wamid)
            .execute(&mut *tx)
            .await?;
            // Statuses that arrived before we knew the id.
            apply_statuses(&mut tx, m.shop_id, &wamid).await?;
            notify(&mut tx, m.shop_id, m.conversation_id, "status").await?;
            tx.commit().await?;
            Ok(())
        }
        Err(e) => match e.class() {
            ErrorClass::Unknown => Err(JobError::Later(
                Duration::from_secs(30),
                format!("no answer from Meta: {e}"),
            )),
            ErrorClass::Throttled | ErrorClass::Transient if !ctx.is_last_attempt() => {
                set_status(state, &m, message_id, "queued").await?;
                Err(JobError::retry(e))
            }
            ErrorClass::Auth => {
                mark_needs_reconnect(state, account.id, &e.plain_words()).await?;
                set_failed(state, &m, message_id, e.code(), &e.plain_words()).await?;
                Ok(())
            }
            _ => {
                set_failed(state, &m, message_id, e.code(), &e.plain_words()).await?;
                Ok(())
            }
        },
    }
}

/// The playground's customer is the merchant in the dashboard, not a phone: the answer is
/// delivered where they read it, with no call to Meta (whose answer for a fictional number
/// would be an error), so "Try your agent" works on a server connected to Meta as well.
async fn deliver_to_playground(
    state: &AppState,
    m: &Outgoing,
    message_id: Uuid,
) -> Result<(), JobError> {
    let mut tx = state.pool.begin().await?;
    let delivered = sqlx::query(
        "update wa_messages set wamid = coalesce(wamid, $2), status = 'delivered',
             send_attempts = send_attempts + 1, error_code = null, error_text = null, updated_at = $3
         where id = $1 and status = 'queued'",
    )
    .bind(message_id)
    .bind(crate::agent::playground::new_wamid())
    .bind(state.clock.now())
    .execute(&mut *tx)
    .await?;
    if delivered.rows_affected() == 1 {
        notify(&mut tx, m.shop_id, m.conversation_id, "status").await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Uploads one of the shop's stored files to Meta; None when the file is gone.
async fn upload(
    state: &AppState,
    token: &secrecy::SecretString,
    phone_number_id: &str,
    shop_id: Uuid,
    file_id: Uuid,
) -> Result<Option<String>, super::graph::GraphError> {
    let file: Option<(String, Option<String>, Vec<u8>)> = sqlx::query_as(
        "select mime, filename, bytes from wa_media_files where id = $1 and shop_id = $2",
    )
    .bind(file_id)
    .bind(shop_id)
    .fetch_optional(&state.pool)
    .await
    .map_err(|e| super::graph::GraphError::Transport(format!("reading the file: {e}")))?;
    let Some((mime, filename, bytes)) = file else {
        return Ok(None);
    };
    let name = filename.unwrap_or_else(|| "file".into());
    state
        .whatsapp
        .graph
        .upload_media(token, phone_number_id, bytes, &mime, &name)
        .await
        .map(Some)
}

/// The thread's "Retry" on a failed message: a new send job for the same row.
pub async fn retry(state: &AppState, shop_id: Uuid, message_id: Uuid) -> AppResult<()> {
    let mut tx = state.pool.begin().await?;
    let row: Option<(Uuid, i32)> = sqlx::query_as(
        "update wa_messages set status = 'queued', error_code = null, error_text = null, updated_at = now()
         where id = $1 and shop_id = $2 and direction = 'out' and status = 'failed' and sent_by <> 'phone'
         returning conversation_id, send_attempts",
    )
    .bind(message_id)
    .bind(shop_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((conversation_id, attempts)) = row else {
        return Err(AppError::NotFound);
    };
    jobs::enqueue(
        &mut tx,
        NewJob::new(SEND, SendJob { message_id })
            .idempotency_key(format!("{message_id}:retry:{attempts}:{}", Uuid::now_v7()))
            .max_attempts(12),
    )
    .await?;
    notify(&mut tx, shop_id, conversation_id, "status").await?;
    tx.commit().await?;
    Ok(())
}

async fn mark_read(state: &AppState, message_id: Uuid) -> Result<(), JobError> {
    let row: Option<(Uuid, Option<String>)> =
        sqlx::query_as("select shop_id, wamid from wa_messages where id = $1 and direction = 'in'")
            .bind(message_id)
            .fetch_optional(&state.pool)
            .await?;
    let Some((shop_id, Some(wamid))) = row else {
        return Ok(());
    };
    if crate::agent::playground::is_playground_wamid(&wamid) {
        return Ok(());
    }
    let Some(account) = account_for_shop(&state.pool, shop_id).await? else {
        return Ok(());
    };
    if account.status != "connected" {
        return Ok(());
    }
    let token = account_token(state, &account)?;
    match state
        .whatsapp
        .graph
        .mark_read(&token, &account.phone_number_id, &wamid)
        .await
    {
        Ok(()) => Ok(()),
        Err(e) => Err(super::ssr::job_graph_error(state, &account, e).await),
    }
}

/// Shows the customer that an answer is being written (the AI agent's turn takes seconds).
/// Best effort: a failure only loses the indicator, so it is logged, never retried.
pub async fn show_typing(state: &AppState, message_id: Uuid) {
    let shown = async {
        let row: Option<(Uuid, Option<String>)> = sqlx::query_as(
            "select shop_id, wamid from wa_messages where id = $1 and direction = 'in'",
        )
        .bind(message_id)
        .fetch_optional(&state.pool)
        .await?;
        let Some((shop_id, Some(wamid))) = row else {
            return Ok(());
        };
        if crate::agent::playground::is_playground_wamid(&wamid) {
            return Ok(());
        }
        let Some(account) = account_for_shop(&state.pool, shop_id).await? else {
            return Ok(());
        };
        if account.status != "connected" {
            return Ok(());
        }
        let token = account_token(state, &account)
            .map_err(|e| anyhow::anyhow!("the number's token: {e:?}"))?;
        state
            .whatsapp
            .graph
            .typing(&token, &account.phone_number_id, &wamid)
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))
    };
    let result: anyhow::Result<()> = shown.await;
    if let Err(e) = result {
        tracing::warn!(error = %e, "the typing indicator could not be shown");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(burst: u32, period_ms: u64) -> WhatsAppConfig {
        WhatsAppConfig {
            simulator: true,
            app_id: None,
            app_secret: None,
            config_id: None,
            es_extras: "{}".into(),
            api_version: "v25.0".into(),
            graph_base_url: "http://127.0.0.1:1".into(),
            verify_token: "t".to_string().into(),
            secrets_key: None,
            signup_origin_host: "localhost".into(),
            messages_per_second: 80,
            pair_burst: burst,
            pair_period_ms: period_ms,
            token_warning_days: 7,
        }
    }

    #[test]
    fn paces_each_customer_after_a_burst_but_not_other_customers() {
        let p = Pacer::new(&config(3, 6000));
        for _ in 0..3 {
            assert!(p.recipient_wait("n1", "111").is_zero());
        }
        let wait = p.recipient_wait("n1", "111");
        assert!(
            wait > Duration::from_secs(4) && wait <= Duration::from_secs(6),
            "{wait:?}"
        );
        assert!(
            p.recipient_wait("n1", "222").is_zero(),
            "another customer is not held back"
        );
        assert!(
            p.recipient_wait("n2", "111").is_zero(),
            "another number is not held back"
        );
    }

    #[test]
    fn coexistence_numbers_get_20_per_second() {
        let p = Pacer::new(&config(3, 6000));
        let sent = (0..100)
            .filter(|_| p.number_wait("c", true).is_zero())
            .count();
        assert_eq!(sent, 20);
        let sent = (0..100)
            .filter(|_| p.number_wait("k", false).is_zero())
            .count();
        assert_eq!(sent, 80);
    }
}
