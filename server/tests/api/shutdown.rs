//! Graceful shutdown of the real server: `server::startup::run` takes its shutdown signal as a
//! parameter and hands over to `serve_until`, which these tests call with a listener on port 0
//! and a signal of their own. After the signal: requests already in flight still get their real
//! answer, the page views they caused are in the database before `serve_until` returns, and the
//! worker lets its running job finish but claims nothing new.

use crate::helpers::{Opts, TestApp, unserved_app};
use app::platform::clock::Clock;
use app::platform::jobs::{self, JobContext, JobState, NewJob};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, oneshot};
use uuid::Uuid;

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

async fn job_state(app: &TestApp, id: Uuid) -> JobState {
    jobs::get(&app.pool, id)
        .await
        .unwrap()
        .expect("the job exists")
        .state
}

async fn enqueue(app: &TestApp, job: NewJob) -> Uuid {
    let mut conn = app.pool.acquire().await.unwrap();
    jobs::enqueue(&mut conn, job).await.unwrap()
}

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_string()
}

/// Everything the socket sends until the server closes it.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer))
        .await
        .expect("the server answers and closes the connection")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn shutdown_finishes_requests_in_flight_writes_their_page_views_and_stops_the_worker() {
    // One job at a time, so the held job below fills the worker's only slot.
    let (app, listener) = unserved_app(
        Opts {
            env: vec![("JOB_CONCURRENCY", "1".into())],
        },
        Clock::system(),
    )
    .await;
    let release = Arc::new(Semaphore::new(0));
    let quick_runs = Arc::new(AtomicUsize::new(0));
    let mut registry = (*app.state.jobs).clone();
    let gate = release.clone();
    registry.register("test.held", move |_: JobContext, _: serde_json::Value| {
        let gate = gate.clone();
        async move {
            let _permit = gate.acquire().await.unwrap();
            Ok(())
        }
    });
    let counter = quick_runs.clone();
    registry.register("test.quick", move |_: JobContext, _: serde_json::Value| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Ok(()) }
    });
    let mut state = app.state.clone();
    state.jobs = Arc::new(registry);
    let (stop, stopped) = oneshot::channel::<()>();
    let mut server = tokio::spawn(server::startup::serve_until(state, listener, async {
        let _ = stopped.await;
    }));

    let email = app.signup("Closing Owner").await;
    let slug = app.shop_slug().await;
    app.create_product(&[
        ("title", "Last Light Lamp"),
        ("price", "100"),
        ("status", "active"),
    ])
    .await;
    let held = enqueue(&app, NewJob::new("test.held", serde_json::json!({}))).await;
    let app_ref = &app;
    wait_for(
        Duration::from_secs(10),
        "the held job to start",
        || async move { job_state(app_ref, held).await == JobState::Running },
    )
    .await;

    // In flight 1: a reset request whose body is still on its way. `Expect: 100-continue`
    // makes the server say when the handler starts reading the body, so the request is
    // known to be inside the app before the signal.
    let body = format!("email={}", email.replace('@', "%40"));
    let mut slow = TcpStream::connect(addr(&app)).await.unwrap();
    let head = format!(
        "POST /api/forgot-password HTTP/1.1\r\nHost: {}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Expect: 100-continue\r\n\r\n",
        addr(&app),
        body.len()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    let mut interim = [0u8; 25];
    tokio::time::timeout(Duration::from_secs(10), slow.read_exact(&mut interim))
        .await
        .expect("the server starts reading the body")
        .unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");

    // In flight 2: a storefront page whose query waits on a lock the test holds.
    let mut lock = app.pool.begin().await.unwrap();
    sqlx::query("lock table products in access exclusive mode")
        .execute(&mut *lock)
        .await
        .unwrap();
    let page_path = format!("/s/{slug}/p/last-light-lamp");
    let page = tokio::spawn(reqwest::get(app.url(&page_path)));
    wait_for(
        Duration::from_secs(10),
        "the page's query to wait on the lock",
        || async move {
            sqlx::query_scalar::<_, i64>(
                "select count(*) from pg_stat_activity
                 where datname = current_database() and wait_event_type = 'Lock'",
            )
            .fetch_one(&app_ref.pool)
            .await
            .unwrap()
                == 1
        },
    )
    .await;

    stop.send(()).unwrap();
    // Shutdown has begun once the listener is gone: new connections are refused.
    let address = addr(&app);
    wait_for(
        Duration::from_secs(10),
        "new connections to be refused",
        || {
            let address = address.clone();
            async move { TcpStream::connect(address).await.is_err() }
        },
    )
    .await;

    // The body trickles in over about a second, then the request gets its real answer.
    for chunk in body.as_bytes().chunks(body.len().div_ceil(5)) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        slow.write_all(chunk).await.unwrap();
    }
    let answer = read_to_close(&mut slow).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("a reset link is on its way"), "{answer}");
    assert!(
        app.last_email_to(&email)
            .await
            .contains("/reset-password?token="),
        "and the reset link was queued"
    );

    lock.rollback().await.unwrap();
    let res = page.await.unwrap().expect("the page request completes");
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Last Light Lamp"));

    // The server has stopped serving and written the views; the worker now waits for the
    // held job, so `serve_until` has not returned. A job queued now is never claimed.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut server)
            .await
            .is_err(),
        "serve_until waits for the running job"
    );
    let late = enqueue(&app, NewJob::new("test.quick", serde_json::json!({}))).await;
    release.add_permits(1);
    tokio::time::timeout(Duration::from_secs(15), &mut server)
        .await
        .expect("serve_until returns once the running job has finished")
        .unwrap()
        .unwrap();

    // Checked right after the return: the view of the page answered during shutdown was
    // buffered (the writer's own timer is a second away) and the shutdown flush wrote it.
    let views: i64 = sqlx::query_scalar(
        "select coalesce(sum(views), 0)::bigint from page_views where path = $1",
    )
    .bind(&page_path)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        views, 1,
        "the buffered page view was written before the return"
    );
    assert_eq!(job_state(&app, held).await, JobState::Done);
    assert_eq!(
        job_state(&app, late).await,
        JobState::Queued,
        "nothing is claimed after shutdown began, even with a slot free"
    );
    assert_eq!(quick_runs.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn run_serves_until_the_signal_it_is_given() {
    let (app, listener) = unserved_app(Opts::default(), Clock::system()).await;
    // `run` binds HOST:PORT itself: free the test's port (PORT is set to it) for it.
    drop(listener);
    let (stop, stopped) = oneshot::channel::<()>();
    let config = (*app.state.config).clone();
    let mut server = tokio::spawn(server::startup::run(config, async {
        let _ = stopped.await;
    }));
    let url = app.url("/healthz");
    wait_for(Duration::from_secs(20), "the server to answer", || {
        let url = url.clone();
        async move {
            reqwest::get(url)
                .await
                .is_ok_and(|r| r.status() == reqwest::StatusCode::OK)
        }
    })
    .await;
    assert!(!server.is_finished());
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), &mut server)
        .await
        .expect("run returns after its signal")
        .unwrap()
        .unwrap();
    assert!(
        reqwest::get(app.url("/healthz")).await.is_err(),
        "nothing listens any more"
    );
}
