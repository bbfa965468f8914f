//! The job queue (`app::platform::jobs`), the email it delivers, the worker that owns it, and
//! the outbound HTTP client. Handlers registered here are small test kinds; everything else —
//! the queue, its SQL, the runner, the mail handler — is the app's own code on a real database.

use crate::fakes::smtp::FakeSmtp;
use crate::helpers::{Opts, TestApp, spawn_app, spawn_app_with, spawn_app_with_clock};
use app::platform::clock::Clock;
use app::platform::jobs::{
    self, Job, JobContext, JobError, JobState, KindOptions, NewJob, Registry, Runner, RunnerOptions,
};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

/// A runner for `app` whose registry also holds the handlers `add` registers.
fn runner_with(app: &TestApp, options: RunnerOptions, add: impl FnOnce(&mut Registry)) -> Runner {
    Runner::new(state_with(app, add), options)
}

fn state_with(app: &TestApp, add: impl FnOnce(&mut Registry)) -> app::state::AppState {
    let mut registry = (*app.state.jobs).clone();
    add(&mut registry);
    let mut state = app.state.clone();
    state.jobs = Arc::new(registry);
    state
}

async fn enqueue(app: &TestApp, job: NewJob) -> Uuid {
    let mut conn = app.pool.acquire().await.unwrap();
    jobs::enqueue(&mut conn, job).await.unwrap()
}

async fn job(app: &TestApp, id: Uuid) -> Job {
    jobs::get(&app.pool, id)
        .await
        .unwrap()
        .expect("the job exists")
}

/// Polls `check` every 10 ms until it holds; fails after `limit`.
async fn wait_for<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn manual_clock() -> Clock {
    Clock::manual(OffsetDateTime::now_utc())
}

/// Counts runs per payload number.
#[derive(Clone, Default)]
struct Tally(Arc<Mutex<HashMap<u32, usize>>>);

impl Tally {
    fn register(&self, registry: &mut Registry, kind: &str, work: Duration) {
        let tally = self.clone();
        registry.register(kind, move |_ctx: JobContext, n: u32| {
            let tally = tally.clone();
            async move {
                // Work takes a moment, so a second runner has time to grab the same row if
                // claiming were unsafe.
                tokio::time::sleep(work).await;
                *tally.0.lock().unwrap().entry(n).or_default() += 1;
                Ok(())
            }
        });
    }

    fn counts(&self) -> HashMap<u32, usize> {
        self.0.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn a_claimed_job_runs_once_and_is_done() {
    let app = spawn_app().await;
    let tally = Tally::default();
    let runner = runner_with(&app, RunnerOptions::default(), |r| {
        tally.register(r, "test.count", Duration::ZERO)
    });
    let id = enqueue(&app, NewJob::new("test.count", 7)).await;
    let queued = job(&app, id).await;
    assert_eq!((queued.state, queued.attempts), (JobState::Queued, 0));

    let report = runner.run_until_idle().await.unwrap();
    assert_eq!(report.done, 1);
    let done = job(&app, id).await;
    assert_eq!(done.state, JobState::Done);
    assert_eq!(done.attempts, 1);
    assert!(done.finished_at.is_some() && done.locked_until.is_none());
    assert_eq!(tally.counts(), HashMap::from([(7, 1)]));

    // Done is done: nothing is due any more.
    assert_eq!(runner.run_until_idle().await.unwrap().ran(), 0);
    assert_eq!(tally.counts()[&7], 1);
}

#[tokio::test]
async fn runners_claim_only_kinds_they_have_handlers_for() {
    let app = spawn_app().await;
    let id = enqueue(&app, NewJob::new("test.unknown_kind", json!({}))).await;
    assert_eq!(app.run_jobs().await.ran(), 0);
    assert_eq!(job(&app, id).await.state, JobState::Queued);
}

#[tokio::test]
async fn failures_retry_with_growing_backoff_then_die_with_the_last_error() {
    let clock = manual_clock();
    let app = spawn_app_with_clock(Opts::default(), clock.clone()).await;
    let runner = runner_with(&app, RunnerOptions::default(), |r| {
        r.register_with(
            "test.flaky",
            KindOptions {
                backoff: Duration::from_secs(10),
                ..KindOptions::default()
            },
            |ctx: JobContext, _: serde_json::Value| async move {
                Err(JobError::retry(anyhow::anyhow!(
                    "upstream said no on attempt {}",
                    ctx.attempt
                )))
            },
        );
    });
    let id = enqueue(&app, NewJob::new("test.flaky", json!({})).max_attempts(3)).await;

    let report = runner.run_until_idle().await.unwrap();
    assert_eq!((report.retried, report.dead), (1, 0));
    let first = job(&app, id).await;
    assert_eq!((first.state, first.attempts), (JobState::Queued, 1));
    assert_eq!(
        first.last_error.as_deref(),
        Some("upstream said no on attempt 1")
    );
    let wait1 = first.run_at.expect("a retry is scheduled") - clock.now();
    assert!(
        (time::Duration::seconds(10)..=time::Duration::milliseconds(12_500)).contains(&wait1),
        "first backoff is 10 s plus jitter, got {wait1}"
    );

    // Not due before its time.
    assert_eq!(runner.run_until_idle().await.unwrap().ran(), 0);
    clock.advance(wait1 - time::Duration::seconds(1));
    assert_eq!(runner.run_until_idle().await.unwrap().ran(), 0);

    clock.advance(time::Duration::seconds(1));
    assert_eq!(runner.run_until_idle().await.unwrap().retried, 1);
    let second = job(&app, id).await;
    assert_eq!(second.attempts, 2);
    let wait2 = second.run_at.unwrap() - clock.now();
    assert!(
        (time::Duration::seconds(20)..=time::Duration::seconds(25)).contains(&wait2),
        "the backoff doubles, got {wait2}"
    );
    assert!(second.run_at.unwrap() > first.run_at.unwrap());

    clock.advance(wait2);
    let report = runner.run_until_idle().await.unwrap();
    assert_eq!((report.retried, report.dead), (0, 1));
    let dead = job(&app, id).await;
    assert_eq!((dead.state, dead.attempts), (JobState::Dead, 3));
    assert_eq!(
        dead.last_error.as_deref(),
        Some("upstream said no on attempt 3")
    );
    assert!(dead.finished_at.is_some());

    clock.advance(time::Duration::days(1));
    assert_eq!(
        runner.run_until_idle().await.unwrap().ran(),
        0,
        "dead stays dead"
    );
}

#[tokio::test]
async fn permanent_failures_and_unreadable_payloads_are_dead_at_once() {
    let app = spawn_app().await;
    let runner = runner_with(&app, RunnerOptions::default(), |r| {
        r.register(
            "test.refused",
            |_: JobContext, _: serde_json::Value| async {
                Err(JobError::permanent(anyhow::anyhow!("550 no such mailbox")))
            },
        );
        r.register("test.typed", |_: JobContext, _n: u32| async { Ok(()) });
    });
    let refused = enqueue(&app, NewJob::new("test.refused", json!({}))).await;
    let garbled = enqueue(&app, NewJob::new("test.typed", "not a number")).await;

    let report = runner.run_until_idle().await.unwrap();
    assert_eq!((report.dead, report.retried), (2, 0));
    let refused = job(&app, refused).await;
    assert_eq!((refused.state, refused.attempts), (JobState::Dead, 1));
    assert_eq!(refused.last_error.as_deref(), Some("550 no such mailbox"));
    let garbled = job(&app, garbled).await;
    assert_eq!(garbled.state, JobState::Dead);
    assert!(
        garbled
            .last_error
            .unwrap()
            .contains("the payload does not fit"),
    );
}

#[tokio::test]
async fn enqueueing_is_idempotent_per_kind_and_transactional() {
    let app = spawn_app().await;
    let first = enqueue(
        &app,
        NewJob::new("test.count", 1).idempotency_key("order-42"),
    )
    .await;
    let again = enqueue(
        &app,
        NewJob::new("test.count", 2).idempotency_key("order-42"),
    )
    .await;
    assert_eq!(first, again, "the same key returns the first job");
    assert_eq!(
        job(&app, first).await.payload,
        json!(1),
        "and leaves it as it was"
    );
    let other_kind = enqueue(
        &app,
        NewJob::new("test.other", 1).idempotency_key("order-42"),
    )
    .await;
    assert_ne!(first, other_kind, "keys are per kind");
    let unkeyed_a = enqueue(&app, NewJob::new("test.count", 3)).await;
    let unkeyed_b = enqueue(&app, NewJob::new("test.count", 3)).await;
    assert_ne!(
        unkeyed_a, unkeyed_b,
        "without a key, every enqueue is a job"
    );

    // Inside the caller's transaction: rolled back, the job never existed.
    let mut tx = app.pool.begin().await.unwrap();
    let ghost = jobs::enqueue(
        &mut tx,
        NewJob::new("test.count", 4).idempotency_key("ghost"),
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    assert!(jobs::get(&app.pool, ghost).await.unwrap().is_none());

    let count: i64 = sqlx::query_scalar("select count(*) from jobs")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 4);
}

#[tokio::test]
async fn scheduled_jobs_do_not_run_before_their_time() {
    let app = spawn_app_with_clock(Opts::default(), manual_clock()).await;
    let clock = &app.clock;
    let tally = Tally::default();
    let runner = runner_with(&app, RunnerOptions::default(), |r| {
        tally.register(r, "test.count", Duration::ZERO)
    });
    let at = clock.now() + time::Duration::hours(1);
    let id = enqueue(&app, NewJob::new("test.count", 1).run_at(at)).await;

    assert_eq!(runner.run_until_idle().await.unwrap().ran(), 0);
    clock.advance(time::Duration::minutes(59));
    assert_eq!(runner.run_until_idle().await.unwrap().ran(), 0);
    assert_eq!(job(&app, id).await.state, JobState::Queued);

    clock.advance(time::Duration::minutes(1));
    assert_eq!(runner.run_until_idle().await.unwrap().done, 1);
    assert_eq!(tally.counts(), HashMap::from([(1, 1)]));
}

#[tokio::test]
async fn two_racing_runners_never_run_one_job_twice() {
    let app = spawn_app().await;
    let tally = Tally::default();
    let options = RunnerOptions {
        concurrency: 4,
        ..RunnerOptions::default()
    };
    let register = |r: &mut Registry| tally.register(r, "test.count", Duration::from_millis(15));
    let a = runner_with(&app, options.clone(), register);
    let b = runner_with(&app, options, register);
    for n in 0..50u32 {
        enqueue(&app, NewJob::new("test.count", n)).await;
    }

    let (ra, rb) = tokio::join!(a.run_until_idle(), b.run_until_idle());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.done + rb.done, 50, "{ra:?} {rb:?}");
    assert!(
        ra.done > 0 && rb.done > 0,
        "both runners took part: {ra:?} {rb:?}"
    );
    let counts = tally.counts();
    assert_eq!(counts.len(), 50);
    assert!(
        counts.values().all(|c| *c == 1),
        "every job ran exactly once: {counts:?}"
    );
    let not_done: i64 = sqlx::query_scalar("select count(*) from jobs where state <> 'done'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(not_done, 0);
}

#[tokio::test]
async fn a_job_whose_worker_died_is_retried_once_its_lease_expires() {
    let clock = manual_clock();
    let app = spawn_app_with_clock(Opts::default(), clock.clone()).await;
    let lease = Duration::from_secs(60);
    let stuck = KindOptions {
        lease,
        ..KindOptions::default()
    };
    // The first worker hangs in the handler and is then killed (its task aborted): it never
    // records an outcome, as when a process dies mid-job.
    let crashing = runner_with(&app, RunnerOptions::default(), |r| {
        r.register_with("test.work", stuck, |_: JobContext, _: u32| {
            std::future::pending::<Result<(), JobError>>()
        });
    });
    let retried = enqueue(&app, NewJob::new("test.work", 1)).await;
    let last_try = enqueue(&app, NewJob::new("test.work", 2).max_attempts(1)).await;
    let worker = tokio::spawn(async move { crashing.run_until_idle().await });
    let app_ref = &app;
    wait_for(
        Duration::from_secs(10),
        "both jobs to be claimed",
        move || async move {
            job(app_ref, retried).await.state == JobState::Running
                && job(app_ref, last_try).await.state == JobState::Running
        },
    )
    .await;
    worker.abort();
    let _ = worker.await;

    let tally = Tally::default();
    let healthy = runner_with(&app, RunnerOptions::default(), |r| {
        tally.register(r, "test.work", Duration::ZERO)
    });
    // Still within the lease: the job may yet be running somewhere; nobody else takes it.
    assert_eq!(healthy.run_until_idle().await.unwrap().ran(), 0);
    assert_eq!(job(&app, retried).await.state, JobState::Running);

    clock.advance(time::Duration::try_from(lease).unwrap() + time::Duration::seconds(1));
    let report = healthy.run_until_idle().await.unwrap();
    assert_eq!(report.done, 1);
    let done = job(&app, retried).await;
    assert_eq!((done.state, done.attempts), (JobState::Done, 2));
    assert_eq!(tally.counts(), HashMap::from([(1, 1)]));
    // The other one had no attempts left: it is dead, saying why, and was not run again.
    let dead = job(&app, last_try).await;
    assert_eq!(dead.state, JobState::Dead);
    assert!(dead.last_error.unwrap().contains("lease expired"));
}

#[tokio::test]
async fn a_notification_wakes_a_waiting_runner_without_a_poll() {
    let app = spawn_app().await;
    let ran = Arc::new(tokio::sync::Notify::new());
    let release = Arc::new(tokio::sync::Semaphore::new(0));
    let (signal, gate) = (ran.clone(), release.clone());
    let runner = runner_with(
        &app,
        RunnerOptions {
            concurrency: 2,
            // Far longer than the test: only NOTIFY can get a job picked up.
            poll_interval: Duration::from_secs(3600),
        },
        move |r| {
            r.register("test.ping", move |_: JobContext, _: serde_json::Value| {
                let signal = signal.clone();
                async move {
                    signal.notify_one();
                    Ok(())
                }
            });
            r.register("test.block", move |_: JobContext, _: serde_json::Value| {
                let gate = gate.clone();
                async move {
                    let _permit = gate.acquire().await.unwrap();
                    Ok(())
                }
            });
        },
    );
    // A job that holds one slot until released: once it runs, the runner's first look is over,
    // and with no job finishing and no poll due, nothing but a notification can wake it.
    let blocker = enqueue(&app, NewJob::new("test.block", json!({}))).await;
    let cancel = tokio_util::sync::CancellationToken::new();
    let handle = runner.start(cancel.clone()).await.unwrap();
    let app_ref = &app;
    wait_for(
        Duration::from_secs(10),
        "the blocking job to start",
        move || async move { job(app_ref, blocker).await.state == JobState::Running },
    )
    .await;

    let mut tx = app.pool.begin().await.unwrap();
    let id = jobs::enqueue(&mut tx, NewJob::new("test.ping", json!({})))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), ran.notified())
        .await
        .expect("the runner was woken by NOTIFY, not a poll");
    wait_for(
        Duration::from_secs(5),
        "the job to be recorded done",
        move || async move { job(app_ref, id).await.state == JobState::Done },
    )
    .await;

    release.add_permits(1);
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .expect("the runner stops when cancelled")
        .unwrap();
    assert_eq!(job(&app, blocker).await.state, JobState::Done);
}

#[tokio::test]
async fn worker_shutdown_stops_claiming_and_lets_running_jobs_finish() {
    let app = spawn_app().await;
    let release = Arc::new(tokio::sync::Semaphore::new(0));
    let gate = release.clone();
    let quick_runs = Arc::new(AtomicUsize::new(0));
    let quick = quick_runs.clone();
    let state = state_with(&app, move |r| {
        r.register("test.slow", move |_: JobContext, _: serde_json::Value| {
            let gate = gate.clone();
            async move {
                let _permit = gate.acquire().await.unwrap();
                Ok(())
            }
        });
        r.register("test.quick", move |_: JobContext, _: serde_json::Value| {
            quick.fetch_add(1, Ordering::SeqCst);
            async { Ok(()) }
        });
    });
    let worker = server::worker::spawn(state).await.unwrap();
    let slow = enqueue(&app, NewJob::new("test.slow", json!({}))).await;
    let app_ref = &app;
    wait_for(
        Duration::from_secs(10),
        "the slow job to start",
        move || async move { job(app_ref, slow).await.state == JobState::Running },
    )
    .await;

    let cancel = worker.cancellation();
    let shutdown = tokio::spawn(worker.shutdown_within(Duration::from_secs(30)));
    cancel.cancelled().await;
    let late = enqueue(&app, NewJob::new("test.quick", json!({}))).await;
    assert!(
        !shutdown.is_finished(),
        "shutdown waits for the running job"
    );

    release.add_permits(1);
    tokio::time::timeout(Duration::from_secs(10), shutdown)
        .await
        .expect("shutdown finishes once the running job has")
        .unwrap();
    assert_eq!(job(&app, slow).await.state, JobState::Done);
    assert_eq!(
        job(&app, late).await.state,
        JobState::Queued,
        "not claimed after shutdown began"
    );
    assert_eq!(quick_runs.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn worker_shutdown_is_bounded_when_a_job_hangs() {
    let app = spawn_app().await;
    let state = state_with(&app, |r| {
        r.register("test.hang", |_: JobContext, _: serde_json::Value| {
            std::future::pending::<Result<(), JobError>>()
        });
    });
    let worker = server::worker::spawn(state).await.unwrap();
    let id = enqueue(&app, NewJob::new("test.hang", json!({}))).await;
    let app_ref = &app;
    wait_for(
        Duration::from_secs(10),
        "the job to start",
        move || async move { job(app_ref, id).await.state == JobState::Running },
    )
    .await;
    tokio::time::timeout(
        Duration::from_secs(10),
        worker.shutdown_within(Duration::from_millis(200)),
    )
    .await
    .expect("shutdown gives up on the hung job after its grace period");
    // Abandoned to its lease: another worker will take it over when the lease expires.
    let left = job(&app, id).await;
    assert_eq!(left.state, JobState::Running);
    assert!(left.locked_until.is_some());
}

// ---- email through the queue ----

async fn outbox_row(
    app: &TestApp,
    id: Uuid,
) -> (
    String,
    Option<OffsetDateTime>,
    Option<OffsetDateTime>,
    i32,
    Option<String>,
) {
    sqlx::query_as(
        "select body_text, sent_at, dead_at, attempts, last_error from email_outbox where id = $1",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

async fn queue_mail(app: &TestApp, to: &str, body: &str, secret: bool) -> Uuid {
    let mut tx = app.pool.begin().await.unwrap();
    let id = if secret {
        app::mail::ssr::enqueue_secret(&mut tx, to, "A secret", body).await
    } else {
        app::mail::ssr::enqueue(&mut tx, to, "Hello", body).await
    }
    .unwrap();
    tx.commit().await.unwrap();
    id
}

async fn mail_job(app: &TestApp, outbox_id: Uuid) -> Job {
    let id: Uuid = sqlx::query_scalar(
        "select id from jobs where kind = 'send_email' and idempotency_key = $1",
    )
    .bind(outbox_id.to_string())
    .fetch_one(&app.pool)
    .await
    .expect("each email has its send_email job");
    job(app, id).await
}

#[tokio::test]
async fn without_smtp_email_stays_queued_in_the_outbox() {
    let app = spawn_app().await;
    let id = queue_mail(&app, "someone@example.com", "Your order shipped", false).await;
    assert_eq!(mail_job(&app, id).await.state, JobState::Queued);

    let report = app.run_jobs().await;
    assert_eq!((report.done, report.retried, report.dead), (1, 0, 0));
    let (body, sent_at, dead_at, ..) = outbox_row(&app, id).await;
    assert_eq!(body, "Your order shipped");
    assert!(
        sent_at.is_none() && dead_at.is_none(),
        "not sent, not failed"
    );
    let mails = app::mail::ssr::recent(&app.pool, 10).await.unwrap();
    assert_eq!(mails[0].status, "queued");
    assert_eq!(app.run_jobs().await.ran(), 0, "and no job keeps retrying");
}

#[tokio::test]
async fn a_sent_reset_email_no_longer_holds_its_link() {
    let smtp = FakeSmtp::start().await;
    let app = spawn_app_with(Opts {
        env: vec![("SMTP_URL", smtp.url.clone())],
    })
    .await;
    let email = app.signup("Reset Person").await;
    app.run_jobs().await;
    let before = smtp.received().len();

    app.call("forgot-password", &[("email", &email)]).await;
    let (outbox_id, body): (Uuid, String) = sqlx::query_as(
        "select id, body_text from email_outbox where to_address = $1
         order by created_at desc limit 1",
    )
    .bind(&email)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(
        body.contains("/reset-password?token="),
        "queued with its link: {body}"
    );
    let ordinary = queue_mail(&app, &email, "Nothing secret here", false).await;

    let report = app.run_jobs().await;
    assert_eq!(report.done, 2);
    let received = smtp.received();
    assert_eq!(received.len(), before + 2);
    let reset = received
        .iter()
        .find(|m| m.data.contains("Subject: Reset your Bizmaat password"))
        .expect("the reset email reached the SMTP server");
    assert_eq!(reset.to, vec![email.clone()]);
    assert_eq!(reset.from, "no-reply@bizmaat.local", "from MAIL_FROM");
    assert!(
        reset.data.contains("reset-password?token="),
        "with its link"
    );

    let (body, sent_at, ..) = outbox_row(&app, outbox_id).await;
    assert!(sent_at.is_some());
    assert_eq!(body, app::mail::ssr::REMOVED_AFTER_SENDING);
    let (body, sent_at, ..) = outbox_row(&app, ordinary).await;
    assert!(sent_at.is_some());
    assert_eq!(
        body, "Nothing secret here",
        "only secret bodies are blanked"
    );
}

#[tokio::test]
async fn smtp_4xx_is_retried_with_backoff_and_5xx_is_dead_at_once() {
    let smtp = FakeSmtp::start().await;
    let clock = manual_clock();
    let app = spawn_app_with_clock(
        Opts {
            env: vec![("SMTP_URL", smtp.url.clone())],
        },
        clock.clone(),
    )
    .await;

    smtp.reject_next_rcpt(451);
    let later = queue_mail(&app, "greylisted@example.com", "Try me again", false).await;
    let report = app.run_jobs().await;
    assert_eq!((report.retried, report.dead), (1, 0));
    let (_, sent_at, dead_at, attempts, last_error) = outbox_row(&app, later).await;
    assert!(sent_at.is_none() && dead_at.is_none());
    assert_eq!(attempts, 1);
    assert!(last_error.unwrap().contains("451"));
    let job = mail_job(&app, later).await;
    assert_eq!((job.state, job.attempts), (JobState::Queued, 1));
    let wait = job.run_at.unwrap() - clock.now();
    assert!(wait >= time::Duration::seconds(30), "backs off: {wait}");
    assert_eq!(app.run_jobs().await.ran(), 0, "not before the backoff");

    clock.advance(wait);
    assert_eq!(app.run_jobs().await.done, 1);
    let (_, sent_at, ..) = outbox_row(&app, later).await;
    assert!(sent_at.is_some());
    assert_eq!(smtp.received().len(), 1);
    assert_eq!(smtp.rcpt_attempts(), 2);

    smtp.reject_next_rcpt(550);
    let never = queue_mail(&app, "nobody@example.com", "reset link inside", true).await;
    let report = app.run_jobs().await;
    assert_eq!((report.dead, report.retried), (1, 0));
    let (body, sent_at, dead_at, _, last_error) = outbox_row(&app, never).await;
    assert!(sent_at.is_none() && dead_at.is_some());
    assert!(last_error.unwrap().contains("550"));
    assert_eq!(body, app::mail::ssr::REMOVED_UNDELIVERED);
    let job = mail_job(&app, never).await;
    assert_eq!((job.state, job.attempts), (JobState::Dead, 1));
    assert_eq!(
        app::mail::ssr::recent(&app.pool, 1).await.unwrap()[0].status,
        "failed"
    );
    clock.advance(time::Duration::days(1));
    assert_eq!(app.run_jobs().await.ran(), 0);
    assert_eq!(smtp.rcpt_attempts(), 3);
}

#[tokio::test]
async fn sent_email_and_done_jobs_are_purged_after_the_retention_period() {
    let smtp = FakeSmtp::start().await;
    let clock = manual_clock();
    let app = spawn_app_with_clock(
        Opts {
            env: vec![
                ("SMTP_URL", smtp.url.clone()),
                ("DELIVERED_RETENTION_DAYS", "7".into()),
            ],
        },
        clock.clone(),
    )
    .await;
    let sent = queue_mail(&app, "keep@example.com", "hello", false).await;
    assert_eq!(app.run_jobs().await.done, 1);
    smtp.reject_next_rcpt(550);
    let failed = queue_mail(&app, "bounce@example.com", "hello", false).await;
    assert_eq!(app.run_jobs().await.dead, 1);
    let sent_job = mail_job(&app, sent).await.id;
    let dead_job = mail_job(&app, failed).await.id;
    assert_eq!(job(&app, dead_job).await.state, JobState::Dead);

    clock.advance(time::Duration::days(6));
    assert_eq!(server::worker::purge(&app.state).await.unwrap(), (0, 0));

    clock.advance(time::Duration::days(2));
    let (mail, jobs_purged) = server::worker::purge(&app.state).await.unwrap();
    assert_eq!((mail, jobs_purged), (2, 1));
    let left: i64 = sqlx::query_scalar("select count(*) from email_outbox")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    assert!(jobs::get(&app.pool, sent_job).await.unwrap().is_none());
    assert!(
        jobs::get(&app.pool, dead_job).await.unwrap().is_some(),
        "dead jobs are kept longer, for inspection"
    );
    clock.advance(jobs::DEAD_JOB_RETENTION);
    assert_eq!(server::worker::purge(&app.state).await.unwrap(), (0, 1));
}

// ---- outbound HTTP ----

/// A third party that fails `failures` times (with the given status), then answers 200, and
/// records the user agent it saw.
async fn flaky_service(failures: Vec<u16>) -> (String, Arc<AtomicUsize>, Arc<Mutex<Vec<String>>>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let agents = Arc::new(Mutex::new(Vec::new()));
    let (h, a) = (hits.clone(), agents.clone());
    let router = axum::Router::new().route(
        "/thing",
        axum::routing::get(move |headers: axum::http::HeaderMap| {
            let (h, a) = (h.clone(), a.clone());
            let failures = failures.clone();
            async move {
                let n = h.fetch_add(1, Ordering::SeqCst);
                a.lock().unwrap().push(
                    headers
                        .get("user-agent")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string(),
                );
                let status = failures.get(n).copied().unwrap_or(200);
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}"), hits, agents)
}

fn quick_retries() -> app::platform::http::RetryPolicy {
    app::platform::http::RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
    }
}

#[tokio::test]
async fn outbound_idempotent_calls_retry_on_5xx_and_429_but_not_4xx() {
    use app::platform::http::{HttpClient, HttpSettings};
    let client = HttpClient::new("test", &HttpSettings::default());

    let (base, hits, agents) = flaky_service(vec![503, 429]).await;
    let url = format!("{base}/thing?secret=x");
    let res = client
        .send_idempotent(client.get(&url), quick_retries())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    assert!(
        agents
            .lock()
            .unwrap()
            .iter()
            .all(|a| a.starts_with("Bizmaat/"))
    );

    // Bounded: a service that keeps failing gets `max_attempts` tries and its last answer.
    let (base, hits, _) = flaky_service(vec![502; 10]).await;
    let res = client
        .send_idempotent(client.get(&format!("{base}/thing")), quick_retries())
        .await
        .unwrap();
    assert_eq!(res.status(), 502);
    assert_eq!(hits.load(Ordering::SeqCst), 3);

    // A client error is an answer, not an outage; a plain send never repeats.
    let (base, hits, _) = flaky_service(vec![404, 503]).await;
    let res = client
        .send_idempotent(client.get(&format!("{base}/thing")), quick_retries())
        .await
        .unwrap();
    assert_eq!(
        (res.status().as_u16(), hits.load(Ordering::SeqCst)),
        (404, 1)
    );
    let res = client
        .send(client.get(&format!("{base}/thing")))
        .await
        .unwrap();
    assert_eq!(
        (res.status().as_u16(), hits.load(Ordering::SeqCst)),
        (503, 2)
    );
}

#[tokio::test]
async fn outbound_connection_failures_are_retried_and_reported_without_the_url() {
    use app::platform::http::{HttpClient, HttpSettings};
    // A port with nobody listening: connection refused on every attempt.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = HttpClient::new("test", &HttpSettings::default());
    let started = std::time::Instant::now();
    let err = client
        .send_idempotent(
            client.get(&format!("http://127.0.0.1:{port}/x?access_token=hunter2")),
            quick_retries(),
        )
        .await
        .unwrap_err();
    assert!(err.is_connect());
    assert!(
        err.url().is_none(),
        "errors carry no URL (it can hold tokens)"
    );
    assert!(!format!("{err:?}{err}").contains("hunter2"));
    // Two backoffs happened (5 ms and 10 ms at least).
    assert!(started.elapsed() >= Duration::from_millis(15));
}
