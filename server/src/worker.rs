//! The one owner of background tasks: the job runner (everything that leaves the process), the
//! WhatsApp inbox processor, the live-inbox listener and the periodic house-keeping. They share a cancellation token, so shutdown
//! stops them together: no new job is claimed, running jobs get a bounded time to finish, and
//! whatever is still running after that is abandoned to its lease (another replica, or this one
//! after a restart, claims it again).

use app::platform::jobs::{self, Runner, RunnerOptions};
use app::state::AppState;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long shutdown waits for running jobs. Kept under the 30 s most orchestrators allow
/// between SIGTERM and SIGKILL, minus what the HTTP server needs to drain.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(60);

pub struct Worker {
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

/// Starts the job runner (listening for new jobs before it returns) and the house-keeping.
pub async fn spawn(state: AppState) -> anyhow::Result<Worker> {
    if state.config.smtp_url.is_none() {
        tracing::info!(
            "SMTP_URL not set: email stays in the outbox (see /dev/mailbox in development)"
        );
    }
    let cancel = CancellationToken::new();
    let runner = Runner::new(
        state.clone(),
        RunnerOptions {
            concurrency: state.config.job_concurrency,
            ..RunnerOptions::default()
        },
    );
    let runner = runner
        .start(cancel.clone())
        .await
        .map_err(|e| anyhow::anyhow!("starting the job runner failed: {e:?}"))?;
    let live = tokio::spawn(state.live.clone().run(state.pool.clone(), cancel.clone()));
    let inbox = tokio::spawn(app::whatsapp::inbound::run_inbox(
        state.clone(),
        cancel.clone(),
    ));
    let housekeeping = tokio::spawn(housekeeping(state, cancel.clone()));
    Ok(Worker {
        cancel,
        tasks: vec![runner, live, inbox, housekeeping],
    })
}

impl Worker {
    /// Stops claiming, lets running jobs finish for up to [`SHUTDOWN_GRACE`], then returns.
    pub async fn shutdown(self) {
        self.shutdown_within(SHUTDOWN_GRACE).await;
    }

    pub async fn shutdown_within(self, grace: Duration) {
        self.cancel.cancel();
        let deadline = tokio::time::Instant::now() + grace;
        for mut task in self.tasks {
            match tokio::time::timeout_at(deadline, &mut task).await {
                Ok(Err(e)) if e.is_panic() => {
                    tracing::error!(error = %e, "a background task had panicked")
                }
                Ok(_) => {}
                Err(_) => {
                    tracing::warn!(
                        ?grace,
                        "background work still running after the grace period: abandoned to its lease"
                    );
                    // Aborting the runner drops its running jobs (their handler tasks abort too).
                    task.abort();
                    let _ = task.await;
                }
            }
        }
    }

    /// A token that is cancelled when shutdown begins.
    pub fn cancellation(&self) -> CancellationToken {
        self.cancel.clone()
    }
}

/// Keeps in-memory rate-limit maps small, deletes old mail and finished jobs, and releases
/// the stock of unconfirmed orders past their hold time. Every replica
/// does this; the deletes are idempotent, so doing it twice costs nothing.
async fn housekeeping(state: AppState, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(HOUSEKEEPING_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        state.limits.prune();
        if let Err(e) = purge(&state).await {
            tracing::warn!(error = ?e, "house-keeping purge failed");
        }
        // Unconfirmed orders holding stock past ORDER_HOLD_HOURS give it back.
        if let Err(e) = app::orders::ssr::release_held_stock(&state).await {
            tracing::warn!(error = ?e, "releasing unconfirmed orders failed");
        }
        // WhatsApp tokens about to expire: "needs reconnect", banner and email.
        if let Err(e) = app::whatsapp::ssr::check_token_expiry(&state).await {
            tracing::warn!(error = ?e, "checking WhatsApp token expiry failed");
        }
    }
}

/// Deletes sent email and finished jobs older than `DELIVERED_RETENTION_DAYS`.
pub async fn purge(state: &AppState) -> app::error::AppResult<(u64, u64)> {
    let keep = time::Duration::days(state.config.delivered_retention_days);
    let now = state.clock.now();
    let mail = app::mail::ssr::purge(&state.pool, now - keep).await?;
    let jobs = jobs::purge(&state.pool, now, keep).await?;
    if mail + jobs > 0 {
        tracing::info!(mail, jobs, "house-keeping: purged old email and jobs");
    }
    Ok((mail, jobs))
}
