//! The background worker: delivers queued email and keeps the rate-limit maps small. Work lives
//! in Postgres tables, so a crash loses nothing and several replicas can share it.

use app::mail::ssr::Mailer;
use app::state::AppState;
use std::time::Duration;
use tokio::task::JoinHandle;

pub fn spawn(state: AppState) -> anyhow::Result<JoinHandle<()>> {
    let mailer = Mailer::from_config(&state.config)?;
    if mailer.is_none() {
        tracing::info!(
            "SMTP_URL not set: email stays in the outbox (see /dev/mailbox in development)"
        );
    }
    Ok(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        let mut n: u64 = 0;
        loop {
            tick.tick().await;
            n += 1;
            if let Some(m) = &mailer
                && let Err(e) = m.deliver_batch(&state.pool, 20).await
            {
                tracing::warn!(error = ?e, "email worker round failed");
            }
            if n.is_multiple_of(30) {
                state.limits.prune();
            }
        }
    }))
}
