use super::OutboxMail;
use crate::config::Config;
use crate::error::AppResult;
use crate::platform::jobs::{self, JobContext, JobError, KindOptions, NewJob, Registry};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

/// The job kind that delivers one outbox row.
pub const SEND_EMAIL: &str = "send_email";
/// With the 30 s backoff doubling up to an hour, about four hours of trying.
const MAX_ATTEMPTS: i32 = 8;
/// What a secret-carrying email's body becomes once it has been handed to the mail server.
pub const REMOVED_AFTER_SENDING: &str = "(removed after sending: it contained a one-time link)";
/// …and once delivery has failed for good (the link expires anyway; no reason to keep it).
pub const REMOVED_UNDELIVERED: &str =
    "(removed: it contained a one-time link and could not be delivered)";

/// Queues an email. Call inside the transaction of the change it reports: the outbox row and
/// its `send_email` job exist only if that change commits.
pub async fn enqueue(
    conn: &mut sqlx::PgConnection,
    to: &str,
    subject: &str,
    body: &str,
) -> AppResult<Uuid> {
    queue(conn, to, subject, body, false).await
}

/// Like [`enqueue`], for email whose body carries a secret (a password-reset link): the body is
/// blanked once the mail server has accepted it, so the outbox does not keep live links.
pub async fn enqueue_secret(
    conn: &mut sqlx::PgConnection,
    to: &str,
    subject: &str,
    body: &str,
) -> AppResult<Uuid> {
    queue(conn, to, subject, body, true).await
}

async fn queue(
    conn: &mut sqlx::PgConnection,
    to: &str,
    subject: &str,
    body: &str,
    sensitive: bool,
) -> AppResult<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query(
        "insert into email_outbox (id, to_address, subject, body_text, sensitive)
         values ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(to)
    .bind(subject)
    .bind(body)
    .bind(sensitive)
    .execute(&mut *conn)
    .await?;
    jobs::enqueue(
        conn,
        NewJob::new(SEND_EMAIL, SendEmail { outbox_id: id })
            .idempotency_key(id.to_string())
            .max_attempts(MAX_ATTEMPTS),
    )
    .await?;
    Ok(id)
}

/// The payload of a `send_email` job: the message itself stays in the outbox, so the job row
/// never holds the body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendEmail {
    pub outbox_id: Uuid,
}

/// Newest first, for the development mailbox.
pub async fn recent(pool: &PgPool, limit: i64) -> AppResult<Vec<OutboxMail>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        id: Uuid,
        to_address: String,
        subject: String,
        body_text: String,
        created_at: time::OffsetDateTime,
        sent_at: Option<time::OffsetDateTime>,
        dead_at: Option<time::OffsetDateTime>,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "select id, to_address, subject, body_text, created_at, sent_at, dead_at
             from email_outbox order by created_at desc limit $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| OutboxMail {
            id: r.id,
            to_address: r.to_address,
            subject: r.subject,
            body_text: r.body_text,
            created_at: r.created_at.format(&Rfc3339).unwrap_or_default(),
            status: match (r.sent_at, r.dead_at) {
                (Some(_), _) => "sent".into(),
                (_, Some(_)) => "failed".into(),
                _ => "queued".into(),
            },
        })
        .collect())
}

/// Deletes outbox rows sent, failed or left unsent (no SMTP) before `cutoff`: the outbox is a
/// record of recent mail, not an archive of message bodies.
pub async fn purge(pool: &PgPool, cutoff: OffsetDateTime) -> AppResult<u64> {
    let done =
        sqlx::query("delete from email_outbox where coalesce(sent_at, dead_at, created_at) < $1")
            .bind(cutoff)
            .execute(pool)
            .await?;
    Ok(done.rows_affected())
}

/// Registers the `send_email` handler. Without a mailer (no `SMTP_URL`) the job completes and
/// the mail stays in the outbox unsent, readable at /dev/mailbox in development, instead of
/// failing until it is dead.
pub fn register_jobs(registry: &mut Registry, mailer: Option<Mailer>) {
    let mailer = mailer.map(Arc::new);
    registry.register_with(
        SEND_EMAIL,
        KindOptions {
            // lettre's own command timeout is 60 s; a full exchange fits well inside this.
            lease: Duration::from_secs(180),
            backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(3600),
        },
        move |ctx: JobContext, job: SendEmail| {
            let mailer = mailer.clone();
            async move { deliver(&ctx, mailer.as_deref(), job.outbox_id).await }
        },
    );
}

async fn deliver(ctx: &JobContext, mailer: Option<&Mailer>, id: Uuid) -> Result<(), JobError> {
    let row: Option<(String, String, String, Option<OffsetDateTime>)> = sqlx::query_as(
        "select to_address, subject, body_text, sent_at from email_outbox where id = $1",
    )
    .bind(id)
    .fetch_optional(ctx.pool())
    .await?;
    let Some((to, subject, body, sent_at)) = row else {
        tracing::info!(%id, "outbox row is gone (purged); nothing to send");
        return Ok(());
    };
    if sent_at.is_some() {
        return Ok(());
    }
    let Some(mailer) = mailer else {
        tracing::info!(%id, "SMTP_URL not set: the email stays in the outbox");
        return Ok(());
    };
    let now = ctx.clock().now();
    match mailer.send(&to, &subject, &body).await {
        Ok(()) => {
            sqlx::query(
                "update email_outbox
                 set sent_at = $2, attempts = attempts + 1, last_error = null,
                     body_text = case when sensitive then $3 else body_text end
                 where id = $1",
            )
            .bind(id)
            .bind(now)
            .bind(REMOVED_AFTER_SENDING)
            .execute(ctx.pool())
            .await?;
            Ok(())
        }
        Err(e) => {
            let dead = e.permanent || ctx.is_last_attempt();
            sqlx::query(
                "update email_outbox
                 set attempts = attempts + 1, last_error = $2,
                     dead_at = case when $3 then $4 end,
                     body_text = case when $3 and sensitive then $5 else body_text end
                 where id = $1",
            )
            .bind(id)
            .bind(e.error.to_string())
            .bind(dead)
            .bind(now)
            .bind(REMOVED_UNDELIVERED)
            .execute(ctx.pool())
            .await?;
            Err(if e.permanent {
                JobError::Permanent(e.error)
            } else {
                JobError::Retry(e.error)
            })
        }
    }
}

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

/// A failed send, and whether the server said never to try again (an SMTP 5xx reply, or an
/// address that cannot be written as one).
struct SendError {
    error: anyhow::Error,
    permanent: bool,
}

impl Mailer {
    /// `None` when SMTP is not configured: mail then stays in the outbox.
    pub fn from_config(cfg: &Config) -> anyhow::Result<Option<Self>> {
        let Some(url) = &cfg.smtp_url else {
            return Ok(None);
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
            .map_err(|e| anyhow::anyhow!("SMTP_URL is not a valid SMTP URL: {e}"))?
            .build();
        let from: Mailbox = cfg
            .mail_from
            .parse()
            .map_err(|e| anyhow::anyhow!("MAIL_FROM is not a valid address: {e}"))?;
        Ok(Some(Mailer { transport, from }))
    }

    async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), SendError> {
        let permanent = |e: anyhow::Error| SendError {
            error: e,
            permanent: true,
        };
        let to: Mailbox = to
            .parse()
            .map_err(|e| permanent(anyhow::anyhow!("bad recipient address: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .body(body.to_string())
            .map_err(|e| permanent(e.into()))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| SendError {
                // 4xx replies and connection trouble clear up; 5xx replies do not.
                permanent: e.is_permanent(),
                // lettre's message already includes its source; a chain would repeat it.
                error: anyhow::anyhow!("{e}"),
            })
    }
}
