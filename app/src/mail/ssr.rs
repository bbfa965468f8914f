use super::OutboxMail;
use crate::config::Config;
use crate::error::AppResult;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use sqlx::PgPool;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

const MAX_ATTEMPTS: i32 = 8;

/// Queues an email. Call inside the transaction of the change it reports.
pub async fn enqueue(
    conn: &mut sqlx::PgConnection,
    to: &str,
    subject: &str,
    body: &str,
) -> AppResult<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query(
        "insert into email_outbox (id, to_address, subject, body_text) values ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(to)
    .bind(subject)
    .bind(body)
    .execute(&mut *conn)
    .await?;
    Ok(id)
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

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
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

    /// Sends up to `batch` queued emails. Rows are claimed with `for update skip locked`, so
    /// several replicas never send the same one; failures back off exponentially and give up
    /// after a few attempts (the row stays for inspection).
    pub async fn deliver_batch(&self, pool: &PgPool, batch: i64) -> AppResult<usize> {
        let mut tx = pool.begin().await?;
        let rows: Vec<(Uuid, String, String, String, i32)> = sqlx::query_as(
            "select id, to_address, subject, body_text, attempts from email_outbox
             where sent_at is null and dead_at is null and run_at <= now()
             order by run_at limit $1 for update skip locked",
        )
        .bind(batch)
        .fetch_all(&mut *tx)
        .await?;
        let count = rows.len();
        for (id, to, subject, body, attempts) in rows {
            match self.send(&to, &subject, &body).await {
                Ok(()) => {
                    sqlx::query("update email_outbox set sent_at = now(), attempts = attempts + 1 where id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                Err(e) => {
                    tracing::warn!(%id, error = %e, "email delivery failed");
                    sqlx::query(
                        "update email_outbox set attempts = attempts + 1, last_error = $2,
                             run_at = now() + make_interval(secs => 30 * power(2, attempts)),
                             dead_at = case when attempts + 1 >= $3 then now() end
                         where id = $1",
                    )
                    .bind(id)
                    .bind(e.to_string())
                    .bind(MAX_ATTEMPTS)
                    .execute(&mut *tx)
                    .await?;
                    let _ = attempts;
                }
            }
        }
        tx.commit().await?;
        Ok(count)
    }

    async fn send(&self, to: &str, subject: &str, body: &str) -> anyhow::Result<()> {
        let message = Message::builder()
            .from(self.from.clone())
            .to(to.parse()?)
            .subject(subject)
            .body(body.to_string())?;
        self.transport.send(message).await?;
        Ok(())
    }
}
