//! The durable job queue: every piece of background work (email now; webhook processing, media
//! downloads, message sends, embeddings, exports and purges next) is a row in `jobs`.
//!
//! Why hand-written rather than a crate: the queue is ~one table and three statements, and the
//! maintained options either need sqlx 0.8 (sqlxmq, underway), bring a second TLS stack
//! (apalis-postgres) or their own schema and runtime conventions (graphile_worker). We need
//! exactly: enqueue inside the caller's transaction, per-kind handlers, a lease so work runs
//! outside any transaction, a clock tests can move, and NOTIFY. That is smaller to own than to
//! adapt.
//!
//! How a job moves:
//! - [`enqueue`] inserts it in the caller's transaction (so it exists only if the change it
//!   reports commits) and sends `NOTIFY bizmaat_jobs`, which Postgres delivers on commit.
//! - A [`Runner`] claims due jobs with `for update skip locked` in a short transaction that sets
//!   `state = 'running'`, counts the attempt and takes a lease (`locked_until`), then commits.
//!   Several replicas can claim side by side; none waits for another's rows.
//! - The handler runs with no transaction or connection held, so a slow third party never ties
//!   up the pool. Its outcome is written afterwards: `done`; back to `queued` with exponential
//!   backoff and jitter; or `dead` with the last error (a permanent failure, or no attempts
//!   left). Those writes check the attempt number, so a worker that lost its lease cannot
//!   overwrite the outcome of the worker that took the job over.
//! - A worker that dies mid-job leaves the job `running`; once the lease passes, any runner
//!   claims it again (the lost attempt counts).
//!
//! Time rules (due, lease, backoff, purge) use the [`Clock`] passed in as a bound parameter,
//! never SQL `now()`, so tests can move time and see jobs become due.

use crate::error::{AppError, AppResult};
use crate::platform::clock::Clock;
use crate::state::AppState;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

/// The channel [`enqueue`] notifies and runners listen on.
pub const CHANNEL: &str = "bizmaat_jobs";

pub const DEFAULT_MAX_ATTEMPTS: i32 = 8;

/// Dead jobs stay this long for inspection before house-keeping deletes them.
pub const DEAD_JOB_RETENTION: time::Duration = time::Duration::days(30);

/// A job about to be enqueued.
#[derive(Debug, Clone)]
pub struct NewJob {
    kind: String,
    payload: Result<serde_json::Value, String>,
    idempotency_key: Option<String>,
    run_at: Option<OffsetDateTime>,
    max_attempts: i32,
}

impl NewJob {
    pub fn new(kind: &str, payload: impl Serialize) -> Self {
        NewJob {
            kind: kind.to_string(),
            payload: serde_json::to_value(payload).map_err(|e| e.to_string()),
            idempotency_key: None,
            run_at: None,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }

    /// At most one job of this kind carries this key (while its row is kept: done jobs are
    /// purged after the retention period); enqueueing it again returns the first job's id.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Not before this time (by the runner's clock). Without it, the job is due at once.
    pub fn run_at(mut self, at: OffsetDateTime) -> Self {
        self.run_at = Some(at);
        self
    }

    pub fn max_attempts(mut self, attempts: i32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }
}

/// Queues a job inside the caller's transaction (or on any connection) and wakes the runners
/// when it commits. With an idempotency key already used by a job of this kind, nothing is
/// added and that job's id is returned.
pub async fn enqueue(conn: &mut PgConnection, job: NewJob) -> AppResult<Uuid> {
    let payload = job.payload.map_err(|e| {
        AppError::Internal(anyhow::anyhow!("job {} payload is not JSON: {e}", job.kind))
    })?;
    let inserted: Option<Uuid> = sqlx::query_scalar(
        "insert into jobs (id, kind, payload, idempotency_key, run_at, max_attempts)
         values ($1, $2, $3, $4, $5, $6)
         on conflict (kind, idempotency_key) do nothing
         returning id",
    )
    .bind(Uuid::now_v7())
    .bind(&job.kind)
    .bind(&payload)
    .bind(&job.idempotency_key)
    .bind(job.run_at)
    .bind(job.max_attempts)
    .fetch_optional(&mut *conn)
    .await?;
    match inserted {
        Some(id) => {
            // Scheduled jobs are found by the poll when they fall due; waking everyone now
            // would only make them look and find nothing.
            if job.run_at.is_none() {
                sqlx::query("select pg_notify($1, $2)")
                    .bind(CHANNEL)
                    .bind(&job.kind)
                    .execute(&mut *conn)
                    .await?;
            }
            Ok(id)
        }
        None => {
            // The conflicting insert waited for the other transaction, so the row is visible.
            let id =
                sqlx::query_scalar("select id from jobs where kind = $1 and idempotency_key = $2")
                    .bind(&job.kind)
                    .bind(&job.idempotency_key)
                    .fetch_one(&mut *conn)
                    .await?;
            Ok(id)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Queued,
    Running,
    Done,
    Dead,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Dead => "dead",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "done" => JobState::Done,
            "dead" => JobState::Dead,
            _ => return None,
        })
    }
}

/// One job as stored, for inspection (tests, an admin view).
#[derive(Debug, Clone)]
pub struct Job {
    pub id: Uuid,
    pub kind: String,
    pub payload: serde_json::Value,
    pub idempotency_key: Option<String>,
    pub state: JobState,
    pub run_at: Option<OffsetDateTime>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub last_error: Option<String>,
    pub locked_until: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
}

#[derive(sqlx::FromRow)]
struct JobRow {
    id: Uuid,
    kind: String,
    payload: serde_json::Value,
    idempotency_key: Option<String>,
    state: String,
    run_at: Option<OffsetDateTime>,
    attempts: i32,
    max_attempts: i32,
    last_error: Option<String>,
    locked_until: Option<OffsetDateTime>,
    finished_at: Option<OffsetDateTime>,
}

pub async fn get(pool: &PgPool, id: Uuid) -> AppResult<Option<Job>> {
    let row: Option<JobRow> = sqlx::query_as(
        "select id, kind, payload, idempotency_key, state, run_at, attempts, max_attempts,
                last_error, locked_until, finished_at
         from jobs where id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.map(|r| {
        let state = JobState::parse(&r.state).ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!(
                "job {} has unknown state {}",
                r.id,
                r.state
            ))
        })?;
        Ok(Job {
            id: r.id,
            kind: r.kind,
            payload: r.payload,
            idempotency_key: r.idempotency_key,
            state,
            run_at: r.run_at,
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            last_error: r.last_error,
            locked_until: r.locked_until,
            finished_at: r.finished_at,
        })
    })
    .transpose()
}

/// Deletes done jobs finished before `now - keep`, and dead ones after [`DEAD_JOB_RETENTION`].
pub async fn purge(pool: &PgPool, now: OffsetDateTime, keep: time::Duration) -> AppResult<u64> {
    let done = sqlx::query(
        "delete from jobs
         where (state = 'done' and finished_at < $1) or (state = 'dead' and finished_at < $2)",
    )
    .bind(now - keep)
    .bind(now - DEAD_JOB_RETENTION)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Why a handler did not finish.
#[derive(Debug)]
pub enum JobError {
    /// Worth another attempt later (a timeout, a 4xx SMTP reply, a 503).
    Retry(anyhow::Error),
    /// No attempt will ever succeed (a rejected address, a malformed payload): dead at once.
    Permanent(anyhow::Error),
    /// Not a failure: run again after this wait without spending an attempt (pacing, a rate
    /// limit of our own, waiting for a confirmation to arrive).
    Later(Duration, String),
}

impl JobError {
    pub fn retry(e: impl Into<anyhow::Error>) -> Self {
        JobError::Retry(e.into())
    }

    pub fn permanent(e: impl Into<anyhow::Error>) -> Self {
        JobError::Permanent(e.into())
    }

    fn message(&self) -> String {
        match self {
            JobError::Retry(e) | JobError::Permanent(e) => format!("{e:#}"),
            JobError::Later(_, why) => why.clone(),
        }
    }
}

impl From<anyhow::Error> for JobError {
    fn from(e: anyhow::Error) -> Self {
        JobError::Retry(e)
    }
}

impl From<sqlx::Error> for JobError {
    fn from(e: sqlx::Error) -> Self {
        JobError::Retry(e.into())
    }
}

/// Our own services' errors: only internal ones (database, network) can clear up by waiting;
/// a validation or not-found answer will be the same next time.
impl From<AppError> for JobError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Internal(e) => JobError::Retry(e),
            AppError::RateLimited(m) => JobError::Retry(anyhow::anyhow!("rate limited: {m}")),
            other => JobError::Permanent(anyhow::anyhow!("{other}")),
        }
    }
}

/// What a handler is given besides its payload.
#[derive(Clone)]
pub struct JobContext {
    pub state: AppState,
    pub id: Uuid,
    pub kind: String,
    /// 1 on the first run.
    pub attempt: i32,
    pub max_attempts: i32,
}

impl JobContext {
    pub fn pool(&self) -> &PgPool {
        &self.state.pool
    }

    pub fn clock(&self) -> &Clock {
        &self.state.clock
    }

    /// Whether a retryable failure now would make the job dead (handlers that keep their own
    /// record, like the email outbox, mark it failed then).
    pub fn is_last_attempt(&self) -> bool {
        self.attempt >= self.max_attempts
    }
}

/// Per-kind settings.
#[derive(Debug, Clone, Copy)]
pub struct KindOptions {
    /// How long a claimed job may run before another worker may take it over. The handler is
    /// stopped when it runs this long, so two workers never run one job at the same time.
    pub lease: Duration,
    /// The wait before the 2nd attempt; it doubles with each further failure, up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for KindOptions {
    fn default() -> Self {
        KindOptions {
            lease: Duration::from_secs(300),
            backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(3600),
        }
    }
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<(), JobError>> + Send>>;
type HandlerFn = Arc<dyn Fn(JobContext, serde_json::Value) -> BoxFuture + Send + Sync>;

#[derive(Clone)]
struct Handler {
    run: HandlerFn,
    options: KindOptions,
}

/// Job kind → handler. Built once at start-up (see `AppState::new`); each capability registers
/// its own kinds. A runner claims only kinds it has a handler for, so during a rolling deploy an
/// old replica leaves a new kind to the new ones.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<String, Handler>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `handler` for `kind` with default options. The payload is deserialized into
    /// `P`; one that does not fit makes the job dead at once.
    pub fn register<P, F, Fut>(&mut self, kind: &str, handler: F) -> &mut Self
    where
        P: DeserializeOwned + Send + 'static,
        F: Fn(JobContext, P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        self.register_with(kind, KindOptions::default(), handler)
    }

    pub fn register_with<P, F, Fut>(
        &mut self,
        kind: &str,
        options: KindOptions,
        handler: F,
    ) -> &mut Self
    where
        P: DeserializeOwned + Send + 'static,
        F: Fn(JobContext, P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let run: HandlerFn = Arc::new(move |ctx, payload| {
            let handler = handler.clone();
            Box::pin(async move {
                let payload: P = serde_json::from_value(payload).map_err(|e| {
                    JobError::Permanent(anyhow::anyhow!("the payload does not fit: {e}"))
                })?;
                handler(ctx, payload).await
            })
        });
        self.handlers
            .insert(kind.to_string(), Handler { run, options });
        self
    }

    pub fn kinds(&self) -> Vec<String> {
        let mut kinds: Vec<String> = self.handlers.keys().cloned().collect();
        kinds.sort();
        kinds
    }
}

#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// Jobs this runner runs at once.
    pub concurrency: usize,
    /// How often to look for due jobs when no notification came: scheduled jobs and retries
    /// falling due, expired leases, and notifications lost while the listener reconnected.
    pub poll_interval: Duration,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        RunnerOptions {
            concurrency: 4,
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// What happened to one claimed job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Retry,
    Dead,
    /// The lease ran out and another worker owns the job now; this result was dropped.
    LeaseLost,
}

/// Counts from [`Runner::run_until_idle`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunReport {
    pub done: usize,
    pub retried: usize,
    pub dead: usize,
    pub lease_lost: usize,
}

impl RunReport {
    pub fn ran(&self) -> usize {
        self.done + self.retried + self.dead + self.lease_lost
    }

    fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Done => self.done += 1,
            Outcome::Retry => self.retried += 1,
            Outcome::Dead => self.dead += 1,
            Outcome::LeaseLost => self.lease_lost += 1,
        }
    }
}

struct Claimed {
    id: Uuid,
    kind: String,
    payload: serde_json::Value,
    attempts: i32,
    max_attempts: i32,
}

/// Claims and runs jobs. Cheap to clone; every clone shares the state's pool and clock.
#[derive(Clone)]
pub struct Runner {
    state: AppState,
    options: RunnerOptions,
}

/// `run_until_idle` gives up after this many jobs: a handler that keeps enqueueing due work
/// would otherwise never let it return.
const IDLE_RUN_LIMIT: usize = 10_000;

impl Runner {
    /// Runs the handlers in `state.jobs` with `state.clock`.
    pub fn new(state: AppState, options: RunnerOptions) -> Self {
        Runner { state, options }
    }

    /// Claims and runs due jobs, batch after batch, until none is due; returns what happened.
    /// Retries scheduled for later are not waited for. Used by tests and one-off tools.
    pub async fn run_until_idle(&self) -> AppResult<RunReport> {
        let mut report = RunReport::default();
        let never = CancellationToken::new();
        loop {
            let claimed = self.claim(self.options.concurrency.max(1), &never).await?;
            if claimed.is_empty() {
                return Ok(report);
            }
            let mut running = JoinSet::new();
            for job in claimed {
                let runner = self.clone();
                running.spawn(async move { runner.execute(job).await });
            }
            while let Some(done) = running.join_next().await {
                report.add(done.map_err(|e| AppError::Internal(e.into()))?);
            }
            if report.ran() >= IDLE_RUN_LIMIT {
                return Err(AppError::Internal(anyhow::anyhow!(
                    "jobs kept falling due after {} runs",
                    report.ran()
                )));
            }
        }
    }

    /// Starts the runner in the background: it listens for notifications (established before
    /// this returns, so a job enqueued afterwards is never left for the poll), claims due jobs
    /// whenever woken or every `poll_interval`, and runs up to `concurrency` at once. When
    /// `cancel` fires it stops claiming and returns once the running jobs have finished.
    ///
    /// The listener keeps one connection of the pool for itself.
    pub async fn start(self, cancel: CancellationToken) -> AppResult<tokio::task::JoinHandle<()>> {
        let mut listener = PgListener::connect_with(&self.state.pool).await?;
        listener.listen(CHANNEL).await?;
        let wake = Arc::new(Notify::new());
        tokio::spawn(listen(listener, wake.clone(), cancel.clone()));
        Ok(tokio::spawn(self.run(wake, cancel)))
    }

    async fn run(self, wake: Arc<Notify>, cancel: CancellationToken) {
        let concurrency = self.options.concurrency.max(1);
        let mut running: JoinSet<Outcome> = JoinSet::new();
        tracing::info!(
            concurrency,
            kinds = ?self.state.jobs.kinds(),
            "job runner started"
        );
        loop {
            let free = concurrency - running.len();
            if free > 0 && !cancel.is_cancelled() {
                match self.claim(free, &cancel).await {
                    Ok(claimed) => {
                        for job in claimed {
                            let runner = self.clone();
                            running.spawn(async move { runner.execute(job).await });
                        }
                    }
                    Err(e) => tracing::warn!(error = ?e, "claiming jobs failed"),
                }
            }
            // A notification that arrives while claiming is kept by `Notify` (one permit), so
            // the next wait returns at once rather than missing it.
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                Some(_) = running.join_next(), if !running.is_empty() => {}
                _ = wake.notified() => {}
                _ = tokio::time::sleep(self.options.poll_interval) => {}
            }
        }
        let left = running.len();
        if left > 0 {
            tracing::info!(
                running = left,
                "job runner stopping: waiting for running jobs"
            );
        }
        while running.join_next().await.is_some() {}
        tracing::info!("job runner stopped");
    }

    /// Buries jobs whose worker died during their last attempt, then claims up to `limit` due
    /// jobs of the kinds this runner handles, in one short transaction.
    ///
    /// If shutdown began while the claim ran, the transaction is rolled back instead of
    /// committed: a job is only ever seen as running by others once this runner is sure to run
    /// it, and nothing enqueued after shutdown began is taken (its insert came after the check,
    /// so after the select).
    async fn claim(&self, limit: usize, cancel: &CancellationToken) -> AppResult<Vec<Claimed>> {
        let registry = &self.state.jobs;
        if registry.handlers.is_empty() {
            return Ok(Vec::new());
        }
        let (kinds, leases): (Vec<String>, Vec<f64>) = registry
            .handlers
            .iter()
            .map(|(k, h)| (k.clone(), h.options.lease.as_secs_f64()))
            .unzip();
        let now = self.state.clock.now();
        let mut tx = self.state.pool.begin().await?;
        sqlx::query(
            "update jobs
             set state = 'dead', locked_until = null, finished_at = $1, updated_at = $1,
                 last_error = 'the worker stopped during the last attempt (its lease expired)'
                     || coalesce(e'\\nbefore that: ' || last_error, '')
             where state = 'running' and locked_until <= $1 and attempts >= max_attempts
               and kind = any($2)",
        )
        .bind(now)
        .bind(&kinds)
        .execute(&mut *tx)
        .await?;
        let rows: Vec<(Uuid, String, serde_json::Value, i32, i32)> = sqlx::query_as(
            "with lease (kind, secs) as (select * from unnest($2::text[], $3::float8[])),
             due as (
                 select id from jobs
                 where kind = any($2)
                   and ((state = 'queued' and (run_at is null or run_at <= $1))
                        or (state = 'running' and locked_until <= $1))
                 order by coalesce(run_at, created_at)
                 limit $4
                 for update skip locked
             )
             update jobs j
             set state = 'running', attempts = j.attempts + 1, updated_at = $1,
                 locked_until = $1 + make_interval(secs => lease.secs)
             from due, lease
             where j.id = due.id and lease.kind = j.kind
             returning j.id, j.kind, j.payload, j.attempts, j.max_attempts",
        )
        .bind(now)
        .bind(&kinds)
        .bind(&leases)
        .bind(limit as i64)
        .fetch_all(&mut *tx)
        .await?;
        if cancel.is_cancelled() {
            tx.rollback().await?;
            return Ok(Vec::new());
        }
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .map(|(id, kind, payload, attempts, max_attempts)| Claimed {
                id,
                kind,
                payload,
                attempts,
                max_attempts,
            })
            .collect())
    }

    /// Runs one claimed job (no transaction or connection held) and records its outcome.
    async fn execute(&self, job: Claimed) -> Outcome {
        let span = tracing::info_span!(
            "job",
            kind = %job.kind,
            id = %job.id,
            attempt = job.attempts
        );
        let started = Instant::now();
        let Some(handler) = self.state.jobs.handlers.get(&job.kind).cloned() else {
            // Claimed only for registered kinds, so this means the registry changed under us.
            let missing = Err(JobError::Retry(anyhow::anyhow!(
                "no handler for {}",
                job.kind
            )));
            return self
                .record(&job, missing, KindOptions::default(), started)
                .instrument(span)
                .await;
        };
        let ctx = JobContext {
            state: self.state.clone(),
            id: job.id,
            kind: job.kind.clone(),
            attempt: job.attempts,
            max_attempts: job.max_attempts,
        };
        // Its own task, so a panic in the handler is an error for this job, not the runner.
        let work = (handler.run)(ctx, job.payload.clone()).instrument(span.clone());
        let task = AbortOnDrop(tokio::spawn(work));
        let result = match tokio::time::timeout(handler.options.lease, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => Err(JobError::Retry(anyhow::anyhow!(
                "the handler panicked: {e}"
            ))),
            Err(_) => Err(JobError::Retry(anyhow::anyhow!(
                "the handler ran longer than its lease ({:?}) and was stopped",
                handler.options.lease
            ))),
        };
        self.record(&job, result, handler.options, started)
            .instrument(span)
            .await
    }

    async fn record(
        &self,
        job: &Claimed,
        result: Result<(), JobError>,
        options: KindOptions,
        started: Instant,
    ) -> Outcome {
        let latency_ms = started.elapsed().as_millis() as u64;
        let now = self.state.clock.now();
        let (outcome, write) = match &result {
            Ok(()) => (
                Outcome::Done,
                sqlx::query(
                    "update jobs set state = 'done', finished_at = $2, updated_at = $2,
                         locked_until = null, last_error = null
                     where id = $1 and state = 'running' and attempts = $3",
                )
                .bind(job.id)
                .bind(now)
                .bind(job.attempts),
            ),
            Err(JobError::Later(wait, _)) => (
                Outcome::Retry,
                sqlx::query(
                    "update jobs set state = 'queued', run_at = $4, last_error = $5,
                         attempts = attempts - 1, locked_until = null, updated_at = $2
                     where id = $1 and state = 'running' and attempts = $3",
                )
                .bind(job.id)
                .bind(now)
                .bind(job.attempts)
                .bind(now + *wait)
                .bind(result.as_ref().err().map(JobError::message)),
            ),
            Err(JobError::Retry(_)) if job.attempts < job.max_attempts => {
                let run_at = now + retry_delay(job.attempts, &options);
                (
                    Outcome::Retry,
                    sqlx::query(
                        "update jobs set state = 'queued', run_at = $4, last_error = $5,
                             locked_until = null, updated_at = $2
                         where id = $1 and state = 'running' and attempts = $3",
                    )
                    .bind(job.id)
                    .bind(now)
                    .bind(job.attempts)
                    .bind(run_at)
                    .bind(result.as_ref().err().map(JobError::message)),
                )
            }
            Err(_) => (
                Outcome::Dead,
                sqlx::query(
                    "update jobs set state = 'dead', finished_at = $2, updated_at = $2,
                         locked_until = null, last_error = $4
                     where id = $1 and state = 'running' and attempts = $3",
                )
                .bind(job.id)
                .bind(now)
                .bind(job.attempts)
                .bind(result.as_ref().err().map(JobError::message)),
            ),
        };
        let outcome = match write.execute(&self.state.pool).await {
            Ok(r) if r.rows_affected() == 1 => outcome,
            Ok(_) => Outcome::LeaseLost,
            Err(e) => {
                // The lease will run out and the job will be claimed again.
                tracing::error!(kind = %job.kind, id = %job.id, error = ?e, "recording a job outcome failed");
                return Outcome::LeaseLost;
            }
        };
        let error = result.as_ref().err().map(JobError::message);
        match outcome {
            Outcome::Done => tracing::info!(
                kind = %job.kind, id = %job.id, attempt = job.attempts, latency_ms, outcome = "done",
                "job finished"
            ),
            Outcome::Retry => tracing::warn!(
                kind = %job.kind, id = %job.id, attempt = job.attempts, latency_ms, outcome = "retry",
                error = error.as_deref().unwrap_or(""), "job failed; will retry"
            ),
            Outcome::Dead => tracing::error!(
                kind = %job.kind, id = %job.id, attempt = job.attempts, latency_ms, outcome = "dead",
                error = error.as_deref().unwrap_or(""), "job failed for good"
            ),
            Outcome::LeaseLost => tracing::warn!(
                kind = %job.kind, id = %job.id, attempt = job.attempts, latency_ms,
                outcome = "lease_lost", "job outlived its lease; another worker owns it now"
            ),
        }
        outcome
    }
}

/// `backoff × 2^(attempt-1)`, capped, plus up to 25% at random so that jobs which failed together
/// (a third party was down) do not all come back at the same instant. Always at least the
/// previous attempt's wait, so the schedule only grows.
pub fn retry_delay(attempt: i32, options: &KindOptions) -> time::Duration {
    let exp = u32::try_from(attempt.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let base = options
        .backoff
        .saturating_mul(2u32.saturating_pow(exp))
        .min(options.max_backoff);
    let jittered = base.mul_f64(1.0 + rand::random_range(0.0..0.25));
    time::Duration::try_from(jittered).unwrap_or(time::Duration::HOUR)
}

/// Forwards notifications to the runner as wake-ups. Any trouble (the connection dropped and
/// was re-established, so notifications may have been missed) also wakes it, to look at once.
async fn listen(mut listener: PgListener, wake: Arc<Notify>, cancel: CancellationToken) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            received = listener.try_recv() => match received {
                Ok(Some(_)) => wake.notify_one(),
                Ok(None) => {
                    tracing::warn!("job notifications: connection lost and re-established");
                    wake.notify_one();
                }
                Err(e) => {
                    tracing::warn!(error = ?e, "job notifications: listening failed; polling meanwhile");
                    wake.notify_one();
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
    }
}

/// A handler task that is stopped when its runner is (shutdown past the grace period, or the
/// lease timeout), rather than left running unseen.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_grow_with_bounded_jitter_and_a_cap() {
        let o = KindOptions {
            lease: Duration::from_secs(60),
            backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(100),
        };
        for _ in 0..50 {
            let d1 = retry_delay(1, &o);
            let d2 = retry_delay(2, &o);
            let d3 = retry_delay(3, &o);
            assert!(
                (time::Duration::seconds(10)..=time::Duration::milliseconds(12_500)).contains(&d1)
            );
            assert!((time::Duration::seconds(20)..=time::Duration::seconds(25)).contains(&d2));
            assert!(d3 >= d2);
            assert!(retry_delay(40, &o) <= time::Duration::seconds(125));
        }
    }

    #[test]
    fn job_states_round_trip() {
        for s in [
            JobState::Queued,
            JobState::Running,
            JobState::Done,
            JobState::Dead,
        ] {
            assert_eq!(JobState::parse(s.as_str()), Some(s));
        }
        assert_eq!(JobState::parse("lost"), None);
    }
}
