//! The inbound path. The webhook handler only verifies the signature and commits the raw body
//! before answering 200; everything else happens here: the inbox processor takes committed
//! deliveries in batches (every entry, change, message and status, deduplicated on Meta's ids),
//! and media downloads and orders follow as jobs.

use super::ssr::{AccountRow, account_by_phone_number_id, account_token, job_graph_error};
use crate::error::AppResult;
use crate::platform::jobs::{self, JobContext, JobError, KindOptions, NewJob, Registry};
use crate::state::AppState;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgConnection;
use std::collections::HashMap;
use std::time::Duration;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const FETCH_MEDIA: &str = "wa_fetch_media";
pub const WHATSAPP_ORDER: &str = "wa_order";
/// Postgres channel for live inbox updates (see `conversations::live`).
pub const INBOX_CHANNEL: &str = "bizmaat_inbox";
/// Meta refuses bigger deliveries; we refuse them too, before reading further.
pub const MAX_WEBHOOK_BYTES: usize = 3 * 1024 * 1024;
/// Customer media we copy (WhatsApp allows documents up to 100 MB; those stay on the phone).
pub const MAX_MEDIA_BYTES: usize = 16 * 1024 * 1024;
/// Deliveries processed per transaction at most. Under load a batch fills with whatever
/// arrived while the previous one ran, so one commit (and one flush of notifications) serves
/// many deliveries; when quiet, each delivery is processed as soon as it lands.
const INBOX_BATCH: i64 = 200;
/// How often the processor looks for deliveries it was not woken for (committed by another
/// replica, or retries falling due).
const INBOX_POLL: Duration = Duration::from_millis(250);
/// Tries of a delivery that keeps meeting database failures before it is written off (the raw
/// body stays for a replay).
const INBOX_MAX_ATTEMPTS: i32 = 20;

#[derive(Debug, Serialize, Deserialize)]
pub struct MessageJob {
    pub message_id: Uuid,
}

pub fn register_jobs(registry: &mut Registry) {
    // Meta's media URL lives 5 minutes and the media id about 7 days: retry quickly first.
    registry.register_with(
        FETCH_MEDIA,
        KindOptions {
            lease: Duration::from_secs(120),
            backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(1800),
        },
        |ctx: JobContext, p: MessageJob| async move { fetch_media(&ctx, p.message_id).await },
    );
    registry.register(WHATSAPP_ORDER, |ctx: JobContext, p: MessageJob| async move {
        whatsapp_order(&ctx.state, p.message_id).await
    });
}

/// Commits the raw body; only then may the caller answer 200. No NOTIFY here: PostgreSQL
/// serialises notifying commits, and this is the hottest insert of the product. This process's
/// processor is woken directly; other replicas poll.
pub async fn receive(state: &AppState, account_id: Option<Uuid>, body: &[u8]) -> AppResult<i64> {
    let id: i64 = sqlx::query_scalar(
        "insert into wa_webhook_events (account_id, body) values ($1, $2) returning id",
    )
    .bind(account_id)
    .bind(body)
    .fetch_one(&state.pool)
    .await?;
    state.whatsapp.inbox_wake.notify_one();
    Ok(id)
}

/// The inbox processor: runs until cancelled, processing deliveries whenever woken and every
/// [`INBOX_POLL`]. Several replicas may run it; each batch skips rows another has locked.
pub async fn run_inbox(state: AppState, cancel: CancellationToken) {
    tracing::info!("WhatsApp inbox processor started");
    loop {
        match process_inbox_batch(&state).await {
            // A full batch means more are probably waiting.
            Ok(n) if n as i64 >= INBOX_BATCH => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = ?e, "processing WhatsApp deliveries failed"),
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = state.whatsapp.inbox_wake.notified() => {}
            _ = tokio::time::sleep(INBOX_POLL) => {}
        }
    }
}

/// Processes deliveries until none is due by the app's clock (retries scheduled for later are
/// left); returns how many were handled. For tests and one-off tools.
pub async fn drain_inbox(state: &AppState) -> AppResult<usize> {
    let mut total = 0;
    loop {
        let n = process_inbox_batch(state).await?;
        if n == 0 {
            return Ok(total);
        }
        total += n;
    }
}

/// (id, account of the path it came in on, raw body, received at, attempts so far)
type StoredEvent = (i64, Option<Uuid>, Vec<u8>, OffsetDateTime, i32);

/// How a change is routed: (account of the path it came in on, phone number id, WABA id).
type RouteKey = (Option<Uuid>, Option<String>, Option<String>);

/// What processing one batch learns beyond its writes.
#[derive(Default)]
struct Batch {
    /// Accounts that received something (for "last webhook received").
    touched: Vec<Uuid>,
    /// Routing answers, so a batch of one number's deliveries looks the account up once.
    routes: HashMap<RouteKey, Option<AccountRow>>,
    /// Customers of the batch's senders, read in one query per shop before processing
    /// (`prefetch`), keyed by (shop, phone). A sender not found is created as before.
    customers: HashMap<(Uuid, String), KnownCustomer>,
    /// (shop, customer) → their conversation.
    conversations: HashMap<(Uuid, Uuid), Uuid>,
}

/// (id, phone, wa_id, bsuid, name) of a stored customer.
type KnownCustomer = (Uuid, Option<String>, Option<String>, Option<String>, String);

/// A WhatsApp id as the customer's phone number (`+` and 8–15 digits), when it is one.
fn phone_of(wa_id: &str) -> Option<String> {
    (wa_id.chars().all(|c| c.is_ascii_digit())
        && (8..=15).contains(&wa_id.len())
        && !wa_id.starts_with('0'))
    .then(|| format!("+{wa_id}"))
}

/// Whether a message brings something the stored customer lacks (only then is it written).
fn customer_news(
    known: &KnownCustomer,
    phone: Option<&str>,
    wa_id: Option<&str>,
    bsuid: Option<&str>,
    name: &str,
) -> bool {
    let (_, known_phone, known_wa_id, known_bsuid, known_name) = known;
    (known_phone.is_none() && phone.is_some())
        || (wa_id.is_some() && known_wa_id.as_deref() != wa_id)
        || (known_bsuid.is_none() && bsuid.is_some())
        || (known_name.is_empty() && !name.is_empty())
}

/// Reads, for every shop a batch touches, the customers who sent its messages and their
/// conversations, creating the missing ones together: four queries per shop instead of two to
/// four per message, which was most of what a busy number's deliveries cost.
async fn prefetch(
    state: &AppState,
    tx: &mut PgConnection,
    docs: &[(Option<Uuid>, Value)],
    batch: &mut Batch,
) -> anyhow::Result<()> {
    // shop → (phone, wa_id, profile name, whether Meta sent a user id too)
    let mut wanted: HashMap<Uuid, Vec<(String, String, String, bool)>> = HashMap::new();
    for (path_account, doc) in docs {
        for entry in doc["entry"].as_array().into_iter().flatten() {
            for change in entry["changes"].as_array().into_iter().flatten() {
                if change["field"].as_str() != Some("messages") {
                    continue;
                }
                let value = &change["value"];
                let phone_number_id = value
                    .pointer("/metadata/phone_number_id")
                    .and_then(Value::as_str);
                let account = route(
                    state,
                    batch,
                    *path_account,
                    phone_number_id,
                    str_of(entry, "id"),
                )
                .await?;
                let Some(account) = account else { continue };
                let contacts = value["contacts"].as_array();
                let senders = value["messages"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|m| {
                        let wa_id = str_of(m, "from")?;
                        let contact = contacts
                            .into_iter()
                            .flatten()
                            .find(|c| str_of(c, "wa_id") == Some(wa_id));
                        let name = contact
                            .and_then(|c| c.pointer("/profile/name"))
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        let bsuid = str_of(m, "from_user_id").is_some()
                            || contact.is_some_and(|c| str_of(c, "user_id").is_some());
                        Some((
                            phone_of(wa_id)?,
                            wa_id.to_string(),
                            name.chars().take(100).collect(),
                            bsuid,
                        ))
                    });
                wanted.entry(account.shop_id).or_default().extend(senders);
            }
        }
    }
    for (shop_id, mut senders) in wanted {
        senders.sort();
        senders.dedup_by(|a, b| a.0 == b.0);
        let phones: Vec<String> = senders.iter().map(|s| s.0.clone()).collect();
        let mut found: Vec<KnownCustomer> = sqlx::query_as(
            "select id, phone, wa_id, bsuid, name from customers
             where shop_id = $1 and phone = any($2)",
        )
        .bind(shop_id)
        .bind(&phones)
        .fetch_all(&mut *tx)
        .await?;
        // New senders, created together. Those who came with a user id (BSUID) take the careful
        // path one by one, since that id may already belong to a customer without a number.
        let new: Vec<&(String, String, String, bool)> = senders
            .iter()
            .filter(|s| !s.3 && !found.iter().any(|c| c.1.as_deref() == Some(s.0.as_str())))
            .collect();
        if !new.is_empty() {
            let created: Vec<KnownCustomer> = sqlx::query_as(
                "insert into customers (id, shop_id, phone, wa_id, name)
                 select n.id, $1, n.phone, n.wa_id, n.name
                 from unnest($2::uuid[], $3::text[], $4::text[], $5::text[]) as n (id, phone, wa_id, name)
                 on conflict (shop_id, phone) do update set wa_id = coalesce(excluded.wa_id, customers.wa_id)
                 returning id, phone, wa_id, bsuid, name",
            )
            .bind(shop_id)
            .bind(new.iter().map(|_| Uuid::now_v7()).collect::<Vec<_>>())
            .bind(new.iter().map(|s| s.0.as_str()).collect::<Vec<_>>())
            .bind(new.iter().map(|s| s.1.as_str()).collect::<Vec<_>>())
            .bind(new.iter().map(|s| s.2.as_str()).collect::<Vec<_>>())
            .fetch_all(&mut *tx)
            .await?;
            found.extend(created);
        }
        let ids: Vec<Uuid> = found.iter().map(|c| c.0).collect();
        for c in found {
            if let Some(p) = c.1.clone() {
                batch.customers.insert((shop_id, p), c);
            }
        }
        // Their conversations, created where missing (the agent's when the shop's agent is
        // on: the customer started it), then read in one go.
        sqlx::query(
            "insert into conversations (id, shop_id, customer_id, mode)
             select n.id, $1, n.customer_id,
                    case when coalesce((select mode from agent_settings where shop_id = $1), $4) = 'off'
                         then 'human' else 'ai' end
             from unnest($2::uuid[], $3::uuid[]) as n (id, customer_id)
             on conflict (shop_id, customer_id) do nothing",
        )
        .bind(shop_id)
        .bind(ids.iter().map(|_| Uuid::now_v7()).collect::<Vec<_>>())
        .bind(&ids)
        .bind(&state.config.agent.default_mode)
        .execute(&mut *tx)
        .await?;
        let conversations: Vec<(Uuid, Uuid)> = sqlx::query_as(
            "select customer_id, id from conversations where shop_id = $1 and customer_id = any($2)",
        )
        .bind(shop_id)
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
        for (customer_id, id) in conversations {
            batch.conversations.insert((shop_id, customer_id), id);
        }
    }
    Ok(())
}

/// Takes up to [`INBOX_BATCH`] due deliveries and processes them in one transaction. If any of
/// them fails, that transaction is rolled back and each delivery of the batch is processed on
/// its own, so one bad delivery costs only itself. Returns how many deliveries were handled.
pub async fn process_inbox_batch(state: &AppState) -> AppResult<usize> {
    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    let events: Vec<StoredEvent> = sqlx::query_as(
        "select id, account_id, body, received_at, attempts from wa_webhook_events
         where processed_at is null and (retry_at is null or retry_at <= $1)
         order by id
         limit $2
         for update skip locked",
    )
    .bind(now)
    .bind(INBOX_BATCH)
    .fetch_all(&mut *tx)
    .await?;
    if events.is_empty() {
        return Ok(0);
    }
    let mut batch = Batch::default();
    let mut failed = false;
    let mut docs = Vec::with_capacity(events.len());
    for (_, path_account, body, _, _) in &events {
        match parse_body(body) {
            Ok(doc) => docs.push((*path_account, doc)),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    if !failed && let Err(e) = prefetch(state, &mut tx, &docs, &mut batch).await {
        tracing::debug!(error = %e, "reading the batch's customers failed: processing one by one");
        failed = true;
    }
    if !failed {
        for (path_account, doc) in &docs {
            if let Err(e) = process_document(state, &mut tx, *path_account, doc, &mut batch).await {
                tracing::debug!(error = %e, "a delivery of the batch failed: processing one by one");
                failed = true;
                break;
            }
        }
    }
    if failed {
        tx.rollback().await?;
        for event in &events {
            process_alone(state, event.0).await?;
        }
        return Ok(events.len());
    }
    let ids: Vec<i64> = events.iter().map(|e| e.0).collect();
    sqlx::query(
        "update wa_webhook_events set processed_at = $2, error = null, retry_at = null
         where id = any($1)",
    )
    .bind(&ids)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let newest = events.iter().map(|e| e.3).max().unwrap_or(now);
    touch_accounts(state, &batch.touched, newest).await?;
    Ok(events.len())
}

/// One delivery in its own transaction (the slow path after a batch failed): a database
/// failure schedules another try; anything else is recorded on the delivery, with nothing of
/// it half-done, so the raw event stays for a fix and a replay.
async fn process_alone(state: &AppState, event_id: i64) -> AppResult<()> {
    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    let row: Option<StoredEvent> = sqlx::query_as(
        "select id, account_id, body, received_at, attempts from wa_webhook_events
         where id = $1 and processed_at is null
         for update skip locked",
    )
    .bind(event_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((_, path_account, body, received_at, attempts)) = row else {
        return Ok(());
    };
    let mut batch = Batch::default();
    let outcome = process_body(state, &mut tx, path_account, &body, &mut batch).await;
    let error = match outcome {
        Ok(()) => None,
        Err(e) => {
            tx.rollback().await?;
            tx = state.pool.begin().await?;
            let attempts = attempts + 1;
            if is_transient(&e) && attempts < INBOX_MAX_ATTEMPTS {
                // 2 s, 4 s, 8 s… up to 5 minutes: a restart or failover has time to finish.
                let wait = 2i64.saturating_pow(attempts.min(9) as u32).min(300);
                tracing::warn!(event_id, attempts, error = %e, "webhook delivery will be tried again");
                sqlx::query(
                    "update wa_webhook_events set attempts = $2, retry_at = $3, error = null
                     where id = $1",
                )
                .bind(event_id)
                .bind(attempts)
                .bind(now + time::Duration::seconds(wait))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                return Ok(());
            }
            tracing::warn!(event_id, error = %e, "webhook delivery could not be processed");
            Some(format!("{e:#}"))
        }
    };
    sqlx::query(
        "update wa_webhook_events set processed_at = $2, error = $3, retry_at = null
         where id = $1",
    )
    .bind(event_id)
    .bind(now)
    .bind(&error)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    touch_accounts(state, &batch.touched, received_at).await
}

/// "Last webhook received", outside the processing transaction and at most every few seconds:
/// inside it, the account row's lock made one number's deliveries queue behind each other.
async fn touch_accounts(state: &AppState, accounts: &[Uuid], at: OffsetDateTime) -> AppResult<()> {
    if accounts.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "update wa_accounts set last_webhook_at = $2
         where id = any($1)
           and (last_webhook_at is null or last_webhook_at < $2 - interval '5 seconds')",
    )
    .bind(accounts)
    .bind(at)
    .execute(&state.pool)
    .await?;
    Ok(())
}

fn parse_body(body: &[u8]) -> anyhow::Result<Value> {
    let mut doc =
        serde_json::from_slice::<Value>(body).map_err(|e| anyhow::anyhow!("not JSON: {e}"))?;
    // PostgreSQL text and jsonb cannot hold NUL; one such character must not cost the whole
    // delivery.
    strip_nul(&mut doc);
    Ok(doc)
}

async fn process_body(
    state: &AppState,
    tx: &mut PgConnection,
    path_account: Option<Uuid>,
    body: &[u8],
    batch: &mut Batch,
) -> anyhow::Result<()> {
    let doc = parse_body(body)?;
    process_document(state, tx, path_account, &doc, batch).await
}

/// Sends a live-update notice (delivered when the caller's transaction commits).
pub async fn notify(
    conn: &mut PgConnection,
    shop_id: Uuid,
    conversation_id: Uuid,
    kind: &str,
) -> AppResult<()> {
    let payload = serde_json::json!({
        "shop_id": shop_id, "conversation_id": conversation_id, "kind": kind,
    });
    sqlx::query("select pg_notify($1, $2)")
        .bind(INBOX_CHANNEL)
        .bind(payload.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// Meta's `timestamp`: a string of Unix seconds (a number is accepted too).
fn meta_time(v: &Value) -> Option<OffsetDateTime> {
    let secs = match v {
        Value::String(s) => s.parse::<i64>().ok()?,
        Value::Number(n) => n.as_i64()?,
        _ => return None,
    };
    OffsetDateTime::from_unix_timestamp(secs).ok()
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Removes NUL characters from every string (keys included) of a delivery.
fn strip_nul(v: &mut Value) {
    match v {
        Value::String(s) if s.contains('\0') => *s = s.replace('\0', ""),
        Value::Array(items) => items.iter_mut().for_each(strip_nul),
        Value::Object(map) => {
            if map.keys().any(|k| k.contains('\0')) {
                let cleaned: serde_json::Map<String, Value> = std::mem::take(map)
                    .into_iter()
                    .map(|(k, v)| (k.replace('\0', ""), v))
                    .collect();
                *map = cleaned;
            }
            map.values_mut().for_each(strip_nul);
        }
        _ => {}
    }
}

/// Status ranks: a later status never goes back to an earlier one; `failed` is final.
pub fn status_rank(status: &str) -> i32 {
    match status {
        "queued" => 0,
        "sending" => 1,
        "sent" => 2,
        "delivered" => 3,
        "read" | "played" => 4,
        _ => -1,
    }
}

/// A database error, met directly or through one of our services (`jobs::enqueue`, `notify`
/// and the like answer `AppError::Internal`): the event is tried again rather than written off.
fn is_transient(e: &anyhow::Error) -> bool {
    e.downcast_ref::<sqlx::Error>().is_some()
        || matches!(
            e.downcast_ref::<crate::error::AppError>(),
            Some(crate::error::AppError::Internal(_))
        )
}

/// Which accounts a delivery may touch: the one whose path it came in on (manual setup, signed
/// with that app's secret), or the platform app's numbers (signed with the platform secret).
async fn route(
    state: &AppState,
    batch: &mut Batch,
    path_account: Option<Uuid>,
    phone_number_id: Option<&str>,
    waba_id: Option<&str>,
) -> anyhow::Result<Option<AccountRow>> {
    let key = (
        path_account,
        phone_number_id.map(str::to_string),
        waba_id.map(str::to_string),
    );
    if let Some(known) = batch.routes.get(&key) {
        return Ok(known.clone());
    }
    let account = match (phone_number_id, waba_id) {
        (Some(p), _) => account_by_phone_number_id(&state.pool, p).await?,
        (None, Some(w)) => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "select {} from wa_accounts where waba_id = $1 order by (status = 'connected') desc limit 1",
                super::ssr::account_columns()
            )))
            .bind(w)
            .fetch_optional(&state.pool)
            .await?
        }
        (None, None) => None,
    };
    let account = account.filter(|a| match path_account {
        Some(id) => a.id == id,
        None => a.onboarding != "manual",
    });
    batch.routes.insert(key, account.clone());
    Ok(account)
}

async fn process_document(
    state: &AppState,
    tx: &mut PgConnection,
    path_account: Option<Uuid>,
    doc: &Value,
    batch: &mut Batch,
) -> anyhow::Result<()> {
    let entries = doc["entry"].as_array().cloned().unwrap_or_default();
    for entry in &entries {
        let waba_id = str_of(entry, "id");
        for change in entry["changes"].as_array().into_iter().flatten() {
            let field = change["field"].as_str().unwrap_or_default();
            let value = &change["value"];
            let phone_number_id = value
                .pointer("/metadata/phone_number_id")
                .and_then(Value::as_str);
            let Some(account) = route(state, batch, path_account, phone_number_id, waba_id).await?
            else {
                tracing::info!(
                    field,
                    ?phone_number_id,
                    "webhook change for no account of ours: ignored"
                );
                continue;
            };
            if !batch.touched.contains(&account.id) {
                batch.touched.push(account.id);
            }
            if account.status == "disconnected" {
                continue;
            }
            match field {
                "messages" => {
                    let contacts = value["contacts"].as_array().cloned().unwrap_or_default();
                    for m in value["messages"].as_array().into_iter().flatten() {
                        inbound_message(state, tx, &account, &contacts, m, batch).await?;
                    }
                    for s in value["statuses"].as_array().into_iter().flatten() {
                        status_update(tx, &account, s).await?;
                    }
                    for e in value["errors"].as_array().into_iter().flatten() {
                        tracing::warn!(code = ?e["code"], title = ?e["title"], "WhatsApp reported an error");
                    }
                }
                "smb_message_echoes" => {
                    for m in value["message_echoes"].as_array().into_iter().flatten() {
                        echo_message(tx, &account, m).await?;
                    }
                }
                "history" => history(tx, &account, value).await?,
                "smb_app_state_sync" => state_sync(tx, &account, value).await?,
                "message_template_status_update" => template_status(tx, &account, value).await?,
                "account_update" => account_update(tx, &account, value).await?,
                "phone_number_quality_update" => {
                    sqlx::query(
                        "update wa_accounts set quality_rating = coalesce($2, quality_rating),
                             messaging_tier = coalesce($3, messaging_tier), updated_at = now()
                         where id = $1",
                    )
                    .bind(account.id)
                    .bind(str_of(value, "event"))
                    .bind(str_of(value, "current_limit"))
                    .execute(&mut *tx)
                    .await?;
                }
                "user_preferences" => {
                    for p in value["user_preferences"].as_array().into_iter().flatten() {
                        if p["category"].as_str() == Some("marketing_messages") {
                            let stop = p["value"].as_str() == Some("stop");
                            if let Some(wa_id) = str_of(p, "wa_id") {
                                set_opt_out_by_wa_id(tx, account.shop_id, wa_id, stop).await?;
                            }
                        }
                    }
                }
                other => {
                    tracing::debug!(field = other, "webhook field kept raw, not processed");
                }
            }
        }
    }
    Ok(())
}

/// The customer behind a message: by WhatsApp number, or by BSUID when Meta sends no number.
pub(crate) async fn upsert_customer(
    tx: &mut PgConnection,
    shop_id: Uuid,
    wa_id: Option<&str>,
    bsuid: Option<&str>,
    name: &str,
) -> anyhow::Result<Option<Uuid>> {
    let phone = wa_id.and_then(phone_of);
    let name: String = name.chars().take(100).collect();
    let existing: Option<KnownCustomer> = match (&phone, bsuid) {
        (Some(p), _) => sqlx::query_as(
            "select id, phone, wa_id, bsuid, name from customers where shop_id = $1 and phone = $2",
        )
        .bind(shop_id)
        .bind(p)
        .fetch_optional(&mut *tx)
        .await?,
        _ => None,
    };
    let existing = match (existing, bsuid) {
        (Some(e), _) => Some(e),
        (None, Some(b)) => sqlx::query_as(
            "select id, phone, wa_id, bsuid, name from customers where shop_id = $1 and bsuid = $2",
        )
        .bind(shop_id)
        .bind(b)
        .fetch_optional(&mut *tx)
        .await?,
        (None, None) => None,
    };
    if let Some(known) = existing {
        let id = known.0;
        // A returning customer usually brings nothing new: no write (and no row lock) then.
        if !customer_news(&known, phone.as_deref(), wa_id, bsuid, &name) {
            return Ok(Some(id));
        }
        sqlx::query(
            "update customers set
                 phone = coalesce(phone, $3),
                 wa_id = coalesce($4, wa_id),
                 -- A user id already on another customer (a username contact first seen
                 -- without a number) stays there: customers are never merged here.
                 bsuid = coalesce(bsuid, (select $5::text where not exists (
                     select 1 from customers o where o.shop_id = $2 and o.bsuid = $5))),
                 name = case when name = '' then $6 else name end,
                 updated_at = now()
             where id = $1 and shop_id = $2",
        )
        .bind(id)
        .bind(shop_id)
        .bind(&phone)
        .bind(wa_id)
        .bind(bsuid)
        .bind(&name)
        .execute(&mut *tx)
        .await?;
        return Ok(Some(id));
    }
    if phone.is_none() && bsuid.is_none() {
        return Ok(None);
    }
    let id: Uuid = sqlx::query_scalar(
        "insert into customers (id, shop_id, phone, name, wa_id, bsuid)
         values ($1, $2, $3, $4, $5, $6)
         on conflict (shop_id, phone) do update set wa_id = coalesce(excluded.wa_id, customers.wa_id)
         returning id",
    )
    .bind(Uuid::now_v7())
    .bind(shop_id)
    .bind(&phone)
    .bind(&name)
    .bind(wa_id)
    .bind(bsuid)
    .fetch_one(&mut *tx)
    .await?;
    Ok(Some(id))
}

/// The shop's one conversation with this customer, created on first contact (a person
/// answers it).
pub async fn conversation_for(
    tx: &mut PgConnection,
    shop_id: Uuid,
    customer_id: Uuid,
) -> anyhow::Result<Uuid> {
    conversation_started(tx, shop_id, customer_id, None).await
}

/// Like [`conversation_for`]; a conversation the customer starts is the agent's when the
/// shop's agent is on (its setting, else `agent_default`, the server's).
async fn conversation_started(
    tx: &mut PgConnection,
    shop_id: Uuid,
    customer_id: Uuid,
    agent_default: Option<&str>,
) -> anyhow::Result<Uuid> {
    // Read first: the conversation nearly always exists, and an upsert would write a new row
    // version for every message.
    let known: Option<Uuid> =
        sqlx::query_scalar("select id from conversations where shop_id = $1 and customer_id = $2")
            .bind(shop_id)
            .bind(customer_id)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(id) = known {
        return Ok(id);
    }
    Ok(sqlx::query_scalar(
        "insert into conversations (id, shop_id, customer_id, mode)
         values ($1, $2, $3, case when $4::text is null then 'human'
             when coalesce((select mode from agent_settings where shop_id = $2), $4) = 'off' then 'human'
             else 'ai' end)
         on conflict (shop_id, customer_id) do update set updated_at = now()
         returning id",
    )
    .bind(Uuid::now_v7())
    .bind(shop_id)
    .bind(customer_id)
    .bind(agent_default)
    .fetch_one(&mut *tx)
    .await?)
}

/// What a person reads for a message, plus extra lines (location, contacts, order lines…).
pub fn describe(kind: &str, m: &Value) -> (String, Vec<String>) {
    let part = &m[kind];
    let mut details = Vec::new();
    let caption = |fallback: &str| {
        str_of(part, "caption")
            .map(str::to_string)
            .unwrap_or_else(|| fallback.to_string())
    };
    let body = match kind {
        "text" => part["body"].as_str().unwrap_or_default().to_string(),
        "image" => caption("Photo"),
        "video" => caption("Video"),
        "sticker" => "Sticker".into(),
        "audio" => {
            if part["voice"].as_bool() == Some(true) {
                "Voice message".into()
            } else {
                "Audio".into()
            }
        }
        "document" => {
            if let Some(f) = str_of(part, "filename") {
                details.push(f.to_string());
            }
            caption(str_of(part, "filename").unwrap_or("Document"))
        }
        "location" => {
            let (lat, lng) = (part["latitude"].as_f64(), part["longitude"].as_f64());
            if let Some(a) = str_of(part, "address") {
                details.push(a.to_string());
            }
            if let (Some(lat), Some(lng)) = (lat, lng) {
                details.push(format!("{lat:.5}, {lng:.5}"));
            }
            str_of(part, "name").unwrap_or("Location").to_string()
        }
        "contacts" => {
            for c in m["contacts"].as_array().into_iter().flatten() {
                let name = c
                    .pointer("/name/formatted_name")
                    .and_then(Value::as_str)
                    .unwrap_or("Contact");
                let phones: Vec<&str> = c["phones"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["phone"].as_str())
                    .collect();
                details.push(format!("{name} {}", phones.join(", ")).trim().to_string());
            }
            "Shared contact".into()
        }
        "interactive" => {
            let t = part["type"].as_str().unwrap_or_default();
            match t {
                "button_reply" => part
                    .pointer("/button_reply/title")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .into(),
                "list_reply" => {
                    if let Some(d) = part
                        .pointer("/list_reply/description")
                        .and_then(Value::as_str)
                    {
                        details.push(d.to_string());
                    }
                    part.pointer("/list_reply/title")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .into()
                }
                "nfm_reply" => part
                    .pointer("/nfm_reply/body")
                    .and_then(Value::as_str)
                    .unwrap_or("Form sent")
                    .into(),
                _ => "Interactive reply".into(),
            }
        }
        "button" => part["text"].as_str().unwrap_or_default().to_string(),
        "order" => {
            let items = part["product_items"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for i in &items {
                details.push(format!(
                    "{} × {} ({} {})",
                    i["quantity"].as_f64().unwrap_or(0.0),
                    i["product_retailer_id"].as_str().unwrap_or("?"),
                    i["item_price"].as_f64().unwrap_or(0.0),
                    i["currency"].as_str().unwrap_or("")
                ));
            }
            str_of(part, "text")
                .map(str::to_string)
                .unwrap_or_else(|| format!("Order ({} items)", items.len()))
        }
        "reaction" => part["emoji"].as_str().unwrap_or_default().to_string(),
        "system" => part["body"]
            .as_str()
            .unwrap_or("System message")
            .to_string(),
        _ => {
            let title = m
                .pointer("/errors/0/title")
                .and_then(Value::as_str)
                .unwrap_or("This kind of message is not supported");
            details.push(title.to_string());
            "Unsupported message".into()
        }
    };
    if let Some(r) = m.get("referral").filter(|r| r.is_object()) {
        details.push(format!(
            "From an ad: {}",
            str_of(r, "headline")
                .or(str_of(r, "body"))
                .unwrap_or("(no headline)")
        ));
    }
    if let Some(p) = m
        .pointer("/context/referred_product/product_retailer_id")
        .and_then(Value::as_str)
    {
        details.push(format!("About product {p}"));
    }
    (body, details)
}

const MEDIA_KINDS: [&str; 5] = ["image", "video", "audio", "document", "sticker"];

fn opt_keyword(kind: &str, m: &Value) -> Option<bool> {
    let text = match kind {
        "text" => m.pointer("/text/body").and_then(Value::as_str),
        "button" => m
            .pointer("/button/payload")
            .and_then(Value::as_str)
            .or(m.pointer("/button/text").and_then(Value::as_str)),
        "interactive" => m
            .pointer("/interactive/button_reply/id")
            .and_then(Value::as_str),
        _ => None,
    }?;
    match text.trim().to_ascii_uppercase().as_str() {
        "STOP" | "UNSUBSCRIBE" | "STOP PROMOTIONS" => Some(true),
        "START" | "SUBSCRIBE" | "RESUME" => Some(false),
        _ => None,
    }
}

async fn inbound_message(
    state: &AppState,
    tx: &mut PgConnection,
    account: &AccountRow,
    contacts: &[Value],
    m: &Value,
    batch: &mut Batch,
) -> anyhow::Result<()> {
    let Some(wamid) = str_of(m, "id") else {
        tracing::warn!("inbound message without an id: skipped");
        return Ok(());
    };
    let wa_id = str_of(m, "from");
    let bsuid = str_of(m, "from_user_id");
    let contact = contacts.iter().find(|c| {
        (wa_id.is_some() && str_of(c, "wa_id") == wa_id)
            || (bsuid.is_some() && str_of(c, "user_id") == bsuid)
    });
    let bsuid = bsuid.or_else(|| contact.and_then(|c| str_of(c, "user_id")));
    let name = contact
        .and_then(|c| c.pointer("/profile/name").and_then(Value::as_str))
        .unwrap_or_default();
    let shop_id = account.shop_id;
    let phone = wa_id.and_then(phone_of);
    let key = phone.clone().map(|p| (shop_id, p));
    let known = key.as_ref().and_then(|k| batch.customers.get(k));
    let customer_id = match known {
        // The batch read this customer already and the message brings nothing new.
        Some(k) if !customer_news(k, phone.as_deref(), wa_id, bsuid, name) => k.0,
        _ => {
            let Some(id) = upsert_customer(tx, shop_id, wa_id, bsuid, name).await? else {
                tracing::warn!(
                    wamid,
                    "inbound message with neither a number nor a user id: skipped"
                );
                return Ok(());
            };
            if let Some(k) = key {
                let name: String = name.chars().take(100).collect();
                batch.customers.insert(
                    k,
                    (
                        id,
                        phone.clone(),
                        wa_id.map(str::to_string),
                        bsuid.map(str::to_string),
                        name,
                    ),
                );
            }
            id
        }
    };
    let conversation_id = match batch.conversations.get(&(shop_id, customer_id)) {
        Some(id) => *id,
        None => {
            let id = conversation_started(
                tx,
                shop_id,
                customer_id,
                Some(&state.config.agent.default_mode),
            )
            .await?;
            batch.conversations.insert((shop_id, customer_id), id);
            id
        }
    };
    let kind = m["type"].as_str().unwrap_or("unsupported");
    let (body, _) = describe(kind, m);
    let sent_at = meta_time(&m["timestamp"]).unwrap_or_else(|| state.clock.now());
    let media_id = MEDIA_KINDS
        .contains(&kind)
        .then(|| m.pointer(&format!("/{kind}/id")).and_then(Value::as_str))
        .flatten();
    let mime = MEDIA_KINDS
        .contains(&kind)
        .then(|| {
            m.pointer(&format!("/{kind}/mime_type"))
                .and_then(Value::as_str)
        })
        .flatten();
    let message_id = Uuid::now_v7();
    let preview = if kind == "reaction" {
        format!("Reacted {body}")
    } else {
        body.clone()
    };
    let live = serde_json::json!({
        "shop_id": account.shop_id, "conversation_id": conversation_id, "kind": "message",
    });
    // One statement for the hottest path (a round trip each was most of its cost): the message,
    // unless Meta delivered it before; then, only if it is new, the conversation's counters
    // and the live notice.
    let inserted: Option<Uuid> = sqlx::query_scalar(
        "with message as (
             insert into wa_messages (id, shop_id, conversation_id, direction, sent_by, wamid,
                 kind, body, payload, status, sent_at, reply_to, media_id, media_status, media_mime)
             values ($1, $2, $3, 'in', 'customer', $4, $5, $6, $7, 'received', $8, $9, $10, $11,
                 $12)
             on conflict (shop_id, wamid) do nothing
             returning id
         ),
         conversation as (
             update conversations set
                 last_inbound_at = greatest(last_inbound_at, $8),
                 last_message_at = greatest(last_message_at, $8),
                 last_preview = $13,
                 unread_count = unread_count + 1,
                 updated_at = now()
             where id = $3 and shop_id = $2 and exists (select 1 from message)
         )
         -- In the select list, so it is evaluated once per new message and never otherwise.
         select id, pg_notify($14, $15)::text from message",
    )
    .bind(message_id)
    .bind(account.shop_id)
    .bind(conversation_id)
    .bind(wamid)
    .bind(kind)
    .bind(&body)
    .bind(m)
    .bind(sent_at)
    .bind(m.pointer("/context/id").and_then(Value::as_str))
    .bind(media_id)
    .bind(media_id.map(|_| "pending"))
    .bind(mime)
    .bind(preview.chars().take(140).collect::<String>())
    .bind(INBOX_CHANNEL)
    .bind(live.to_string())
    .fetch_optional(&mut *tx)
    .await?;
    if inserted.is_none() {
        // A repeated delivery: already stored, nothing more to do.
        return Ok(());
    }
    if let Some(stop) = opt_keyword(kind, m) {
        set_opt_out(tx, account.shop_id, customer_id, conversation_id, stop).await?;
    }
    if media_id.is_some() {
        jobs::enqueue(
            tx,
            NewJob::new(FETCH_MEDIA, MessageJob { message_id })
                .idempotency_key(message_id.to_string())
                .max_attempts(10),
        )
        .await?;
    }
    let cart_code = kind == "text" && crate::links::parse_cart_code(&body).is_some();
    if kind == "order" || cart_code {
        jobs::enqueue(
            tx,
            NewJob::new(WHATSAPP_ORDER, MessageJob { message_id })
                .idempotency_key(message_id.to_string()),
        )
        .await?;
    } else if matches!(kind, "text" | "interactive" | "button") && opt_keyword(kind, m).is_none() {
        // The agent answers (if it owns the conversation when the turn runs).
        crate::agent::ssr::queue_turn(state, tx, conversation_id, message_id).await?;
    }
    Ok(())
}

async fn set_opt_out_by_wa_id(
    tx: &mut PgConnection,
    shop_id: Uuid,
    wa_id: &str,
    stop: bool,
) -> anyhow::Result<()> {
    let found: Option<(Uuid, Option<Uuid>)> = sqlx::query_as(
        "select c.id, v.id from customers c
         left join conversations v on v.customer_id = c.id and v.shop_id = c.shop_id
         where c.shop_id = $1 and (c.wa_id = $2 or c.phone = '+' || $2)",
    )
    .bind(shop_id)
    .bind(wa_id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((customer_id, conversation)) = found {
        let conversation_id = match conversation {
            Some(c) => c,
            None => conversation_for(tx, shop_id, customer_id).await?,
        };
        set_opt_out(tx, shop_id, customer_id, conversation_id, stop).await?;
    }
    Ok(())
}

/// STOP / START: marketing templates are suppressed (service replies are not); the thread shows
/// a note.
async fn set_opt_out(
    tx: &mut PgConnection,
    shop_id: Uuid,
    customer_id: Uuid,
    conversation_id: Uuid,
    stop: bool,
) -> anyhow::Result<()> {
    let changed = sqlx::query(
        "update customers set marketing_opt_out = $3,
             marketing_opt_out_at = case when $3 then now() else null end, updated_at = now()
         where id = $1 and shop_id = $2 and marketing_opt_out <> $3",
    )
    .bind(customer_id)
    .bind(shop_id)
    .bind(stop)
    .execute(&mut *tx)
    .await?;
    if changed.rows_affected() > 0 {
        let note = if stop {
            "The customer opted out of marketing messages (STOP)."
        } else {
            "The customer opted back in to marketing messages (START)."
        };
        insert_note(tx, shop_id, conversation_id, note).await?;
    }
    Ok(())
}

pub async fn insert_note(
    tx: &mut PgConnection,
    shop_id: Uuid,
    conversation_id: Uuid,
    note: &str,
) -> anyhow::Result<()> {
    sqlx::query(
        "insert into wa_messages (id, shop_id, conversation_id, direction, sent_by, kind, body, status, sent_at)
         values ($1, $2, $3, 'note', 'system', 'note', $4, 'received', now())",
    )
    .bind(Uuid::now_v7())
    .bind(shop_id)
    .bind(conversation_id)
    .bind(note)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The merchant answered from the WhatsApp Business app (coexistence): stored as their own
/// outbound message, and the conversation goes to a person (the agent steps back).
async fn echo_message(
    tx: &mut PgConnection,
    account: &AccountRow,
    m: &Value,
) -> anyhow::Result<()> {
    let Some(wamid) = str_of(m, "id") else {
        return Ok(());
    };
    let to = str_of(m, "to");
    let to_user = str_of(m, "to_user_id");
    let Some(customer_id) = upsert_customer(tx, account.shop_id, to, to_user, "").await? else {
        return Ok(());
    };
    let conversation_id = conversation_for(tx, account.shop_id, customer_id).await?;
    let kind = m["type"].as_str().unwrap_or("unsupported");
    let (body, _) = describe(kind, m);
    let sent_at = meta_time(&m["timestamp"]).unwrap_or_else(OffsetDateTime::now_utc);
    let inserted: Option<Uuid> = sqlx::query_scalar(
        "insert into wa_messages (id, shop_id, conversation_id, direction, sent_by, wamid, kind,
             body, payload, status, sent_at)
         values ($1, $2, $3, 'out', 'phone', $4, $5, $6, $7, 'sent', $8)
         on conflict (shop_id, wamid) do nothing
         returning id",
    )
    .bind(Uuid::now_v7())
    .bind(account.shop_id)
    .bind(conversation_id)
    .bind(wamid)
    .bind(kind)
    .bind(&body)
    .bind(m)
    .bind(sent_at)
    .fetch_optional(&mut *tx)
    .await?;
    if inserted.is_some() {
        sqlx::query(
            "update conversations set mode = 'human', last_message_at = greatest(last_message_at, $3),
                 last_preview = $4, updated_at = now()
             where id = $1 and shop_id = $2",
        )
        .bind(conversation_id)
        .bind(account.shop_id)
        .bind(sent_at)
        .bind(body.chars().take(140).collect::<String>())
        .execute(&mut *tx)
        .await?;
        // The person's message starts the shop's hand-back timeout, if it has one.
        crate::agent::ssr::take_over(tx, sent_at, account.shop_id, conversation_id)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        notify(tx, account.shop_id, conversation_id, "message").await?;
    }
    Ok(())
}

/// The digits of a phone number as Meta writes it in different places ("+1 555-0100",
/// "15550100").
fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// Coexistence chat history: the WhatsApp Business app's last six months, sent by Meta after
/// onboarding in chunks (in any order) and phases. Each message is stored as it was (the
/// customer's as received, the merchant's as sent from the phone), deduplicated on its id like
/// every other message, without unread counts, orders or opt-outs: it all happened before
/// Bizmaat was connected. A `messages` array in a history change carries the contents of an
/// earlier `media_placeholder`.
async fn history(tx: &mut PgConnection, account: &AccountRow, value: &Value) -> anyhow::Result<()> {
    let business = value
        .pointer("/metadata/display_phone_number")
        .and_then(Value::as_str)
        .map(digits)
        .unwrap_or_else(|| digits(&account.display_phone));
    for item in value["history"].as_array().into_iter().flatten() {
        if let Some(e) = item["errors"].as_array().and_then(|e| e.first()) {
            let why = e
                .pointer("/error_data/details")
                .and_then(Value::as_str)
                .or_else(|| str_of(e, "title"))
                .or_else(|| str_of(e, "message"))
                .unwrap_or("history sharing is turned off");
            tracing::info!(account = %account.id, code = ?e["code"], "chat history declined");
            sqlx::query(
                "update wa_accounts set history_declined = $2, updated_at = now() where id = $1",
            )
            .bind(account.id)
            .bind(why.chars().take(300).collect::<String>())
            .execute(&mut *tx)
            .await?;
            continue;
        }
        for thread in item["threads"].as_array().into_iter().flatten() {
            let Some(customer) = str_of(thread, "id") else {
                continue;
            };
            for m in thread["messages"].as_array().into_iter().flatten() {
                history_message(tx, account, customer, &business, m).await?;
            }
        }
        if let Some(progress) = item.pointer("/metadata/progress").and_then(Value::as_i64) {
            // Chunks arrive out of order: progress only moves forward.
            sqlx::query(
                "update wa_accounts set history_declined = null, updated_at = now(),
                     history_progress = greatest(coalesce(history_progress, 0), $2)
                 where id = $1",
            )
            .bind(account.id)
            .bind(progress.clamp(0, 100) as i32)
            .execute(&mut *tx)
            .await?;
        }
    }
    for m in value["messages"].as_array().into_iter().flatten() {
        let from = str_of(m, "from").unwrap_or_default();
        let customer = if digits(from) == business {
            str_of(m, "to")
        } else {
            Some(from)
        };
        if let Some(customer) = customer {
            history_message(tx, account, customer, &business, m).await?;
        }
    }
    Ok(())
}

async fn history_message(
    tx: &mut PgConnection,
    account: &AccountRow,
    customer_wa_id: &str,
    business: &str,
    m: &Value,
) -> anyhow::Result<()> {
    let Some(wamid) = str_of(m, "id") else {
        return Ok(());
    };
    let Some(customer_id) =
        upsert_customer(tx, account.shop_id, Some(customer_wa_id), None, "").await?
    else {
        return Ok(());
    };
    let outbound = str_of(m, "from").is_some_and(|f| digits(f) == business);
    let kind = m["type"].as_str().unwrap_or("unsupported");
    let body = if kind == "media_placeholder" {
        "Photo, video or file (sent before Bizmaat was connected)".to_string()
    } else {
        describe(kind, m).0
    };
    let sent_at = meta_time(&m["timestamp"]).unwrap_or_else(OffsetDateTime::now_utc);
    let status = if outbound {
        match m.pointer("/history_context/status").and_then(Value::as_str) {
            // A played voice note counts as read, as in wa_status_rank.
            Some("READ") | Some("PLAYED") => "read",
            Some("DELIVERED") => "delivered",
            Some("ERROR") => "failed",
            _ => "sent",
        }
    } else {
        "received"
    };
    let media_id = MEDIA_KINDS
        .contains(&kind)
        .then(|| m.pointer(&format!("/{kind}/id")).and_then(Value::as_str))
        .flatten();
    let mime = media_id
        .and_then(|_| m.pointer(&format!("/{kind}/mime_type")))
        .and_then(Value::as_str);
    // A conversation first met in the history is as recent as its messages, not as now.
    sqlx::query(
        "insert into conversations (id, shop_id, customer_id, last_message_at)
         values ($1, $2, $3, $4)
         on conflict (shop_id, customer_id) do nothing",
    )
    .bind(Uuid::now_v7())
    .bind(account.shop_id)
    .bind(customer_id)
    .bind(sent_at)
    .execute(&mut *tx)
    .await?;
    let conversation_id = conversation_for(tx, account.shop_id, customer_id).await?;
    // New, or the contents of a placeholder stored earlier; anything else is a redelivery.
    let stored: Option<Uuid> = sqlx::query_scalar(
        "insert into wa_messages as w (id, shop_id, conversation_id, direction, sent_by, wamid,
             kind, body, payload, status, sent_at, media_id, media_status, media_mime)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
         on conflict (shop_id, wamid) do update set
             kind = excluded.kind, body = excluded.body, payload = excluded.payload,
             media_id = excluded.media_id, media_status = excluded.media_status,
             media_mime = excluded.media_mime, updated_at = now()
         where w.kind = 'media_placeholder' and excluded.kind <> 'media_placeholder'
         returning id",
    )
    .bind(Uuid::now_v7())
    .bind(account.shop_id)
    .bind(conversation_id)
    .bind(if outbound { "out" } else { "in" })
    .bind(if outbound { "phone" } else { "customer" })
    .bind(wamid)
    .bind(kind)
    .bind(&body)
    .bind(m)
    .bind(status)
    .bind(sent_at)
    .bind(media_id)
    .bind(media_id.map(|_| "pending"))
    .bind(mime)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(message_id) = stored else {
        return Ok(());
    };
    sqlx::query(
        "update conversations set
             last_preview = case when $3 >= last_message_at then $4 else last_preview end,
             last_message_at = greatest(last_message_at, $3),
             last_inbound_at = case when $5 then greatest(last_inbound_at, $3) else last_inbound_at end,
             updated_at = now()
         where id = $1 and shop_id = $2",
    )
    .bind(conversation_id)
    .bind(account.shop_id)
    .bind(sent_at)
    .bind(body.chars().take(140).collect::<String>())
    .bind(!outbound)
    .execute(&mut *tx)
    .await?;
    if media_id.is_some() {
        jobs::enqueue(
            tx,
            NewJob::new(FETCH_MEDIA, MessageJob { message_id })
                .idempotency_key(message_id.to_string())
                .max_attempts(10),
        )
        .await?;
    }
    notify(tx, account.shop_id, conversation_id, "message").await?;
    Ok(())
}

/// Coexistence contacts: the merchant's WhatsApp Business app address book. A contact added or
/// edited there becomes (or renames) the shop's customer with that number, since the name the
/// merchant gave is the one they know; a removed contact stays a customer (orders and
/// conversations may hang on it).
async fn state_sync(
    tx: &mut PgConnection,
    account: &AccountRow,
    value: &Value,
) -> anyhow::Result<()> {
    for item in value["state_sync"].as_array().into_iter().flatten() {
        if item["type"].as_str() != Some("contact") || item["action"].as_str() != Some("add") {
            continue;
        }
        let contact = &item["contact"];
        let Some(number) = str_of(contact, "phone_number") else {
            continue;
        };
        let name: String = str_of(contact, "full_name")
            .or_else(|| str_of(contact, "first_name"))
            .unwrap_or_default()
            .chars()
            .take(100)
            .collect();
        let Some(customer_id) =
            upsert_customer(tx, account.shop_id, Some(&digits(number)), None, &name).await?
        else {
            continue;
        };
        if !name.is_empty() {
            sqlx::query("update customers set name = $3, updated_at = now() where id = $1 and shop_id = $2 and name <> $3")
                .bind(customer_id)
                .bind(account.shop_id)
                .bind(&name)
                .execute(&mut *tx)
                .await?;
        }
    }
    Ok(())
}

/// Every status is kept as an event; the message shows the furthest one (`failed` is final).
async fn status_update(
    tx: &mut PgConnection,
    account: &AccountRow,
    s: &Value,
) -> anyhow::Result<()> {
    let (Some(wamid), Some(status)) = (str_of(s, "id"), str_of(s, "status")) else {
        return Ok(());
    };
    let at = meta_time(&s["timestamp"]).unwrap_or_else(OffsetDateTime::now_utc);
    let errors = s.get("errors").filter(|e| e.is_array()).cloned();
    sqlx::query(
        "insert into wa_status_events (shop_id, wamid, status, status_at, errors)
         values ($1, $2, $3, $4, $5) on conflict (shop_id, wamid, status) do nothing",
    )
    .bind(account.shop_id)
    .bind(wamid)
    .bind(status)
    .bind(at)
    .bind(&errors)
    .execute(&mut *tx)
    .await?;
    // A send whose answer we never got is recognised by the id we attached to it.
    if let Some(ours) = str_of(s, "biz_opaque_callback_data").and_then(|v| Uuid::parse_str(v).ok())
    {
        sqlx::query(
            "update wa_messages set wamid = $3, updated_at = now()
             where id = $1 and shop_id = $2 and wamid is null",
        )
        .bind(ours)
        .bind(account.shop_id)
        .bind(wamid)
        .execute(&mut *tx)
        .await?;
    }
    if let Some(conversation_id) = apply_statuses(tx, account.shop_id, wamid).await? {
        notify(tx, account.shop_id, conversation_id, "status").await?;
    }
    Ok(())
}

/// Recomputes a message's status from its status events. Returns its conversation when the
/// message is ours.
pub async fn apply_statuses(
    tx: &mut PgConnection,
    shop_id: Uuid,
    wamid: &str,
) -> anyhow::Result<Option<Uuid>> {
    let events: Vec<(String, Option<Value>)> = sqlx::query_as(
        "select status, errors from wa_status_events where shop_id = $1 and wamid = $2",
    )
    .bind(shop_id)
    .bind(wamid)
    .fetch_all(&mut *tx)
    .await?;
    let failed = events.iter().find(|(s, _)| s == "failed");
    let best = events
        .iter()
        .map(|(s, _)| s.as_str())
        .filter(|s| status_rank(s) >= 0)
        .max_by_key(|s| status_rank(s));
    let (status, code, text) = match (failed, best) {
        (Some((_, errors)), _) => {
            let e = errors
                .as_ref()
                .and_then(|e| e.get(0))
                .cloned()
                .unwrap_or(Value::Null);
            let code = e["code"].as_i64();
            let text = code
                .and_then(super::graph::describe_code)
                .map(str::to_string)
                .or_else(|| {
                    e.pointer("/error_data/details")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .or_else(|| e["title"].as_str().map(str::to_string))
                .unwrap_or_else(|| "WhatsApp could not deliver this message.".into());
            ("failed", code.map(|c| c as i32), Some(text))
        }
        (None, Some(s)) => (if s == "played" { "read" } else { s }, None, None),
        (None, None) => return Ok(None),
    };
    let row: Option<(Uuid,)> = sqlx::query_as(
        "update wa_messages set status = $3, error_code = coalesce($4, error_code),
             error_text = coalesce($5, error_text), updated_at = now()
         where shop_id = $1 and wamid = $2 and direction = 'out'
           and status <> 'failed'
           and ($3 = 'failed' or wa_status_rank(status) < wa_status_rank($3))
         returning conversation_id",
    )
    .bind(shop_id)
    .bind(wamid)
    .bind(status)
    .bind(code)
    .bind(&text)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(row.map(|r| r.0))
}

async fn template_status(
    tx: &mut PgConnection,
    account: &AccountRow,
    v: &Value,
) -> anyhow::Result<()> {
    let (Some(name), Some(event)) = (str_of(v, "message_template_name"), str_of(v, "event")) else {
        return Ok(());
    };
    let language = str_of(v, "message_template_language").unwrap_or("en");
    sqlx::query(
        "insert into wa_templates (id, shop_id, meta_id, name, language, category, status, reason)
         values ($1, $2, $3, $4, $5, coalesce($6, ''), $7, coalesce($8, ''))
         on conflict (shop_id, name, language) do update set
             status = excluded.status, reason = excluded.reason,
             meta_id = coalesce(excluded.meta_id, wa_templates.meta_id), updated_at = now()",
    )
    .bind(Uuid::now_v7())
    .bind(account.shop_id)
    .bind(
        v["message_template_id"]
            .as_i64()
            .map(|i| i.to_string())
            .or(str_of(v, "message_template_id").map(str::to_string)),
    )
    .bind(name)
    .bind(language)
    .bind(str_of(v, "message_template_category"))
    .bind(event)
    .bind(str_of(v, "reason").filter(|r| *r != "NONE"))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Bans, restrictions and disconnections, shown on the channel page.
async fn account_update(
    tx: &mut PgConnection,
    account: &AccountRow,
    v: &Value,
) -> anyhow::Result<()> {
    let event = str_of(v, "event").unwrap_or_default();
    let (status, reason) = match event {
        "ACCOUNT_BANNED" | "DISABLED_UPDATE" => (
            "disconnected",
            "Meta disabled this WhatsApp Business account. Check WhatsApp Manager for the reason and how to appeal.",
        ),
        "PARTNER_REMOVED" | "ACCOUNT_DELETED" | "PARTNER_APP_UNINSTALLED" => (
            "disconnected",
            "The WhatsApp Business account was disconnected from Bizmaat in Meta's settings.",
        ),
        "ACCOUNT_RESTRICTION" => (
            "connected",
            "Meta restricted this account: some messages to new customers may not be sent for a while.",
        ),
        "ACCOUNT_VIOLATION" => (
            "connected",
            "Meta reported a policy violation on this account.",
        ),
        _ => return Ok(()),
    };
    sqlx::query(
        "update wa_accounts set status = $2, status_reason = $3, updated_at = now() where id = $1",
    )
    .bind(account.id)
    .bind(status)
    .bind(reason)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

// ------------------------------------------------------------------------------ media

/// shop, media id, media status, sent at, conversation.
type MediaRow = (Uuid, Option<String>, Option<String>, OffsetDateTime, Uuid);

async fn fetch_media(ctx: &JobContext, message_id: Uuid) -> Result<(), JobError> {
    let state = &ctx.state;
    let row: Option<MediaRow> = sqlx::query_as(
        // The media id lives ~7 days from when Meta gave it to us: the message's time, or, for
        // chat history imported later, when we stored it.
        "select shop_id, media_id, media_status, greatest(sent_at, created_at), conversation_id
         from wa_messages where id = $1",
    )
    .bind(message_id)
    .fetch_optional(&state.pool)
    .await?;
    let Some((shop_id, Some(media_id), status, sent_at, conversation_id)) = row else {
        return Ok(());
    };
    if status.as_deref() == Some("stored") {
        return Ok(());
    }
    let fail = |status: &'static str, text: String| {
        let pool = state.pool.clone();
        async move {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "update wa_messages set media_status = $2, media_error = $3, updated_at = now() where id = $1",
            )
            .bind(message_id)
            .bind(status)
            .bind(text)
            .execute(&mut *tx)
            .await?;
            notify(&mut tx, shop_id, conversation_id, "message")
                .await
                .map_err(|e| JobError::retry(anyhow::anyhow!("{e}")))?;
            tx.commit().await?;
            Ok::<(), JobError>(())
        }
    };
    // Meta keeps inbound media about 7 days.
    if state.clock.now() - sent_at > time::Duration::days(7) {
        fail(
            "expired",
            "WhatsApp no longer has this file (kept 7 days).".into(),
        )
        .await?;
        return Ok(());
    }
    let Some(account) = super::ssr::account_for_shop(&state.pool, shop_id).await? else {
        return Ok(());
    };
    let token = account_token(state, &account)?;
    let graph = &state.whatsapp.graph;
    let result = async {
        let info = graph.media_info(&token, &media_id).await?;
        graph
            .download(&token, &info.url, MAX_MEDIA_BYTES)
            .await
            .map(|(b, m)| (b, m, info.mime_type))
    }
    .await;
    match result {
        Ok((bytes, header_mime, meta_mime)) => {
            let mime = if meta_mime.is_empty() {
                header_mime
            } else {
                meta_mime
            };
            let file_id = Uuid::now_v7();
            let mut tx = state.pool.begin().await?;
            sqlx::query(
                "insert into wa_media_files (id, shop_id, mime, bytes) values ($1, $2, $3, $4)",
            )
            .bind(file_id)
            .bind(shop_id)
            .bind(&mime)
            .bind(&bytes)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "update wa_messages set media_status = 'stored', media_file_id = $2, media_mime = $3,
                     media_error = null, updated_at = now()
                 where id = $1",
            )
            .bind(message_id)
            .bind(file_id)
            .bind(&mime)
            .execute(&mut *tx)
            .await?;
            notify(&mut tx, shop_id, conversation_id, "message").await?;
            tx.commit().await?;
            Ok(())
        }
        Err(e) => {
            let too_big = matches!(&e, super::graph::GraphError::Decode { message, .. } if message.contains("larger"));
            if too_big {
                fail(
                    "failed",
                    "The file is larger than 16 MB; open it on the phone.".into(),
                )
                .await?;
                return Ok(());
            }
            let job_err = job_graph_error(state, &account, e.clone()).await;
            if matches!(job_err, JobError::Permanent(_)) || ctx.is_last_attempt() {
                fail(
                    "failed",
                    format!("The file could not be downloaded: {}", e.plain_words()),
                )
                .await?;
            }
            Err(job_err)
        }
    }
}

/// Asks for the attachment again (the thread's "Try again").
pub async fn retry_media(state: &AppState, shop_id: Uuid, message_id: Uuid) -> AppResult<()> {
    let mut tx = state.pool.begin().await?;
    let found: Option<(Uuid, OffsetDateTime)> = sqlx::query_as(
        "update wa_messages set media_status = 'pending', media_error = null, updated_at = now()
         where id = $1 and shop_id = $2 and media_id is not null and media_status in ('failed', 'pending')
         returning conversation_id, sent_at",
    )
    .bind(message_id)
    .bind(shop_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((conversation_id, _)) = found else {
        return Err(crate::error::AppError::NotFound);
    };
    jobs::enqueue(
        &mut tx,
        NewJob::new(FETCH_MEDIA, MessageJob { message_id })
            .idempotency_key(format!("{message_id}:{}", Uuid::now_v7()))
            .max_attempts(3),
    )
    .await?;
    notify(&mut tx, shop_id, conversation_id, "message").await?;
    tx.commit().await?;
    Ok(())
}

// ------------------------------------------------------------------------------ orders

/// A WhatsApp cart becomes an order through the orders service: products are matched by their
/// SKU or id (the catalog's retailer id) and priced from our database, never from the message.
async fn whatsapp_order(state: &AppState, message_id: Uuid) -> Result<(), JobError> {
    let row: Option<(Uuid, Uuid, Value, Option<String>, String)> = sqlx::query_as(
        "select m.shop_id, m.conversation_id, m.payload, c.phone, c.name
         from wa_messages m
         join conversations v on v.id = m.conversation_id
         join customers c on c.id = v.customer_id
         where m.id = $1",
    )
    .bind(message_id)
    .fetch_optional(&state.pool)
    .await?;
    let Some((shop_id, conversation_id, payload, phone, name)) = row else {
        return Ok(());
    };
    // A storefront "Order on WhatsApp" message carries its cart as a code (product ids).
    let from_code = payload
        .pointer("/text/body")
        .and_then(Value::as_str)
        .and_then(crate::links::parse_cart_code)
        .map(|items| {
            items
                .into_iter()
                .map(|(id, q)| (id.to_string(), q))
                .collect::<Vec<_>>()
        });
    let items: Vec<(String, i64)> = from_code.unwrap_or_else(|| {
        payload
            .pointer("/order/product_items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|i| {
                Some((
                    i["product_retailer_id"].as_str()?.to_string(),
                    i["quantity"]
                        .as_f64()
                        .map(|q| q as i64)
                        .or(i["quantity"].as_str().and_then(|q| q.parse().ok()))?,
                ))
            })
            .collect()
    });
    let outcome = crate::orders::ssr::place_whatsapp_order(
        state,
        shop_id,
        &format!("wa:{message_id}"),
        &name,
        phone.as_deref().unwrap_or_default(),
        &items,
    )
    .await;
    let note = match outcome {
        Ok(number) => format!("Order #{number} was created from this WhatsApp cart."),
        Err(crate::error::AppError::Internal(e)) => return Err(JobError::retry(e)),
        Err(e) => format!(
            "This WhatsApp cart could not become an order: {}",
            in_words(&e)
        ),
    };
    let mut tx = state.pool.begin().await?;
    insert_note(&mut tx, shop_id, conversation_id, &note).await?;
    notify(&mut tx, shop_id, conversation_id, "message").await?;
    tx.commit().await?;
    Ok(())
}

/// An order refusal as the merchant reads it (not the error's debug form).
fn in_words(e: &crate::error::AppError) -> String {
    use crate::error::AppError;
    match e {
        AppError::Validation(fields) => fields.values().cloned().collect::<Vec<_>>().join(" "),
        AppError::Conflict(m) | AppError::RateLimited(m) => m.clone(),
        AppError::NotFound => "the shop was not found.".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn describes_every_kind_a_person_reads() {
        let (b, _) = describe("text", &json!({"text": {"body": "Hi"}}));
        assert_eq!(b, "Hi");
        let (b, d) = describe(
            "location",
            &json!({"location": {"latitude": 6.5, "longitude": 3.3, "name": "Shop", "address": "1 Road"}}),
        );
        assert_eq!(b, "Shop");
        assert!(d.contains(&"1 Road".to_string()));
        let (b, _) = describe(
            "interactive",
            &json!({"interactive": {"type": "list_reply", "list_reply": {"id": "x", "title": "Red"}}}),
        );
        assert_eq!(b, "Red");
        let (b, d) = describe(
            "order",
            &json!({"order": {"product_items": [{"product_retailer_id": "sku1", "quantity": 2, "item_price": 7.99, "currency": "USD"}]}}),
        );
        assert_eq!(b, "Order (1 items)");
        assert!(d[0].contains("sku1"));
        let (b, d) = describe(
            "hologram",
            &json!({"errors": [{"code": 131051, "title": "Message type unknown"}]}),
        );
        assert_eq!(b, "Unsupported message");
        assert_eq!(d, vec!["Message type unknown".to_string()]);
    }

    #[test]
    fn nul_characters_are_removed_everywhere() {
        let mut v = json!({"a\u{0}b": ["x\u{0}y", {"t": "\u{0}"}], "n": 1});
        strip_nul(&mut v);
        assert_eq!(v, json!({"ab": ["xy", {"t": ""}], "n": 1}));
    }

    #[test]
    fn status_ranks_only_move_forward() {
        assert!(status_rank("read") > status_rank("delivered"));
        assert!(status_rank("delivered") > status_rank("sent"));
        assert_eq!(status_rank("played"), status_rank("read"));
        assert_eq!(status_rank("weird"), -1);
    }

    #[test]
    fn recognises_stop_and_start() {
        assert_eq!(
            opt_keyword("text", &json!({"text": {"body": " stop "}})),
            Some(true)
        );
        assert_eq!(
            opt_keyword("text", &json!({"text": {"body": "START"}})),
            Some(false)
        );
        assert_eq!(
            opt_keyword(
                "button",
                &json!({"button": {"payload": "Unsubscribe", "text": "Unsubscribe"}})
            ),
            Some(true)
        );
        assert_eq!(
            opt_keyword("text", &json!({"text": {"body": "please stop by"}})),
            None
        );
    }
}
