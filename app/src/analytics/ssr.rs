//! The page-view buffer. Requests hand views to a bounded channel with `try_send` (never
//! waiting); one task writes them in batches of up to 2,000, at least every second, in a single
//! INSERT that counts identical views of the same minute as one row (`views`), so the rows
//! follow the pages viewed, not the traffic. Graceful shutdown flushes what is buffered, so
//! views are lost only on a hard crash (or, counted and logged, when the buffer is full under
//! extreme load).

use crate::error::AppResult;
use sqlx::PgPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

const BUFFER: usize = 20_000;
const BATCH: usize = 2_000;

#[derive(Debug, Clone)]
pub struct PageView {
    pub shop_slug: String,
    pub path: String,
    pub product_slug: Option<String>,
    pub referrer_host: Option<String>,
    pub device: &'static str,
    pub is_bot: bool,
    pub at: OffsetDateTime,
}

impl PageView {
    /// The view a storefront GET records: shop and product from the path, the referrer's host
    /// only (where shoppers come from, no tracking), device class and bot flag from the agent.
    pub fn of_request(path: &str, headers: &axum::http::HeaderMap) -> PageView {
        let get = |name: axum::http::header::HeaderName| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
        };
        let agent = get(axum::http::header::USER_AGENT);
        let mut parts = path.trim_start_matches("/s/").split('/');
        let shop_slug = parts.next().unwrap_or_default().to_string();
        let product_slug = match (parts.next(), parts.next()) {
            (Some("p"), Some(p)) => Some(p.to_string()),
            _ => None,
        };
        let referrer_host = Some(get(axum::http::header::REFERER))
            .filter(|r| !r.is_empty())
            .and_then(|r| r.parse::<axum::http::Uri>().ok())
            .and_then(|u| u.host().map(str::to_owned));
        PageView {
            shop_slug,
            path: path.to_string(),
            product_slug,
            referrer_host,
            device: super::device_class(agent),
            is_bot: super::is_bot(agent),
            at: OffsetDateTime::now_utc(),
        }
    }
}

enum Message {
    View(PageView),
    Flush(oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct PageViews {
    tx: mpsc::Sender<Message>,
    dropped: Arc<AtomicU64>,
}

/// A batch is written at most this long after its first view arrived.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

impl PageViews {
    /// Starts the writer task; must be called inside a Tokio runtime.
    pub fn start(pool: PgPool) -> Self {
        Self::start_with(BUFFER, move |batch| {
            let pool = pool.clone();
            async move { write(&pool, batch).await }
        })
    }

    /// The buffer and writer with any sink for the batches (tests pass their own).
    fn start_with<S, F>(capacity: usize, sink: S) -> Self
    where
        S: FnMut(Vec<PageView>) -> F + Send + 'static,
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(capacity);
        tokio::spawn(writer(rx, sink));
        PageViews {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Never waits: a full buffer drops the view and counts it.
    pub fn record(&self, view: PageView) {
        if self.tx.try_send(Message::View(view)).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(dropped = n, "page-view buffer full; views dropped");
            }
        }
    }

    /// Views dropped so far because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Writes everything buffered so far (used at shutdown, and by tests).
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Message::Flush(ack)).await.is_ok() {
            let _ = done.await;
        }
    }
}

/// Collects views into batches. The first view of a batch sets its deadline, and later views
/// do not move it: under steady traffic (a view every few hundred milliseconds) a timer that
/// restarted with each view would never fire, and nothing would be written until 500 views
/// had piled up.
async fn writer<S, F>(mut rx: mpsc::Receiver<Message>, mut sink: S)
where
    S: FnMut(Vec<PageView>) -> F,
    F: std::future::Future<Output = ()>,
{
    let mut batch: Vec<PageView> = Vec::with_capacity(BATCH);
    let mut deadline: Option<tokio::time::Instant> = None;
    loop {
        let message = match deadline {
            Some(at) => tokio::select! {
                m = rx.recv() => Some(m),
                _ = tokio::time::sleep_until(at) => None,
            },
            None => Some(rx.recv().await),
        };
        let mut ack = None;
        match message {
            Some(Some(Message::View(v))) => {
                if batch.is_empty() {
                    deadline = Some(tokio::time::Instant::now() + FLUSH_EVERY);
                }
                batch.push(v);
                if batch.len() < BATCH {
                    continue;
                }
            }
            Some(Some(Message::Flush(a))) => ack = Some(a),
            Some(None) => {
                if !batch.is_empty() {
                    sink(std::mem::take(&mut batch)).await;
                }
                return;
            }
            // The batch's deadline passed.
            None => {}
        }
        if !batch.is_empty() {
            sink(std::mem::replace(&mut batch, Vec::with_capacity(BATCH))).await;
        }
        deadline = None;
        if let Some(a) = ack {
            let _ = a.send(());
        }
    }
}

async fn write(pool: &PgPool, batch: Vec<PageView>) {
    if let Err(e) = insert(pool, &batch).await {
        tracing::warn!(error = ?e, views = batch.len(), "page views could not be written");
    }
}

/// Identical views of the same minute, counted: what one row of `page_views` holds.
fn counted(batch: &[PageView]) -> Vec<(&PageView, OffsetDateTime, i32)> {
    let mut rows: Vec<(&PageView, OffsetDateTime, i32)> = Vec::new();
    let mut index: std::collections::HashMap<_, usize> = std::collections::HashMap::new();
    for v in batch {
        let minute =
            v.at.replace_second(0)
                .and_then(|t| t.replace_nanosecond(0))
                .unwrap_or(v.at);
        let key = (
            v.shop_slug.as_str(),
            v.path.as_str(),
            v.referrer_host.as_deref(),
            v.device,
            v.is_bot,
            minute,
        );
        match index.get(&key) {
            Some(&at) => rows[at].2 += 1,
            None => {
                index.insert(key, rows.len());
                rows.push((v, minute, 1));
            }
        }
    }
    rows
}

async fn insert(pool: &PgPool, batch: &[PageView]) -> AppResult<()> {
    let mut slugs = Vec::new();
    let mut paths = Vec::new();
    let mut products = Vec::new();
    let mut referrers = Vec::new();
    let mut devices = Vec::new();
    let mut bots = Vec::new();
    let mut times = Vec::new();
    let mut counts = Vec::new();
    for (v, minute, n) in counted(batch) {
        slugs.push(v.shop_slug.clone());
        paths.push(v.path.clone());
        products.push(v.product_slug.clone());
        referrers.push(v.referrer_host.clone());
        devices.push(v.device.to_string());
        bots.push(v.is_bot);
        times.push(minute);
        counts.push(n);
    }
    // One statement for the whole batch; views of unknown shops fall out of the join.
    sqlx::query(
        "insert into page_views (shop_id, path, product_slug, referrer_host, device, is_bot, viewed_at, views)
         select s.id, v.path, v.product_slug, v.referrer_host, v.device, v.is_bot, v.viewed_at, v.views
         from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::timestamptz[], $8::int4[])
              with ordinality as v(shop_slug, path, product_slug, referrer_host, device, is_bot, viewed_at, views, ord)
         join shops s on s.slug = v.shop_slug
         order by v.ord",
    )
    .bind(&slugs)
    .bind(&paths)
    .bind(&products)
    .bind(&referrers)
    .bind(&devices)
    .bind(&bots)
    .bind(&times)
    .bind(&counts)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn record_event(
    conn: &mut sqlx::PgConnection,
    shop_id: uuid::Uuid,
    name: &'static str,
) -> AppResult<()> {
    sqlx::query("insert into usage_events (merchant_id, shop_id, name) select merchant_id, id, $2 from shops where id = $1")
        .bind(shop_id)
        .bind(name)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc::UnboundedReceiver;

    fn view(n: usize) -> PageView {
        PageView {
            shop_slug: "shop".into(),
            path: format!("/s/shop/p/{n}"),
            product_slug: None,
            referrer_host: None,
            device: "mobile",
            is_bot: false,
            at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    /// A buffer whose batches arrive on a channel the test reads.
    fn collecting(capacity: usize) -> (PageViews, UnboundedReceiver<Vec<PageView>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let views = PageViews::start_with(capacity, move |batch| {
            let _ = tx.send(batch);
            async {}
        });
        (views, rx)
    }

    /// Lets the writer task run everything it can at the current (paused) time.
    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn steady_traffic_is_written_within_a_second_of_the_first_view() {
        let (views, mut batches) = collecting(100);
        // A view every 300 ms, for 3 seconds.
        for n in 0..10 {
            views.record(view(n));
            settle().await;
            tokio::time::advance(Duration::from_millis(300)).await;
            settle().await;
        }
        let first = batches
            .try_recv()
            .expect("a batch was written under steady traffic");
        assert_eq!(
            first.len(),
            4,
            "views of the first second: 0, 300, 600, 900 ms"
        );
        let second = batches.try_recv().expect("and another one a second later");
        assert_eq!(
            second.len(),
            4,
            "1200 to 2100 ms: the second batch's own deadline"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_lone_view_waits_no_longer_than_a_second() {
        let (views, mut batches) = collecting(100);
        views.record(view(1));
        settle().await;
        tokio::time::advance(Duration::from_millis(900)).await;
        settle().await;
        assert!(batches.try_recv().is_err(), "not before its second is up");
        tokio::time::advance(Duration::from_millis(150)).await;
        settle().await;
        assert_eq!(batches.try_recv().unwrap().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn flush_writes_what_is_buffered_at_once() {
        let (views, mut batches) = collecting(100);
        for n in 0..3 {
            views.record(view(n));
        }
        views.flush().await;
        assert_eq!(
            batches.try_recv().unwrap().len(),
            3,
            "without waiting for the timer"
        );
    }

    #[test]
    fn identical_views_of_one_minute_are_one_row_with_their_count() {
        let at = |s: i64| OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(s);
        let views = [
            PageView {
                at: at(5),
                ..view(1)
            },
            PageView {
                at: at(59),
                ..view(1)
            },
            PageView {
                at: at(30),
                ..view(2)
            },
            PageView {
                at: at(61),
                ..view(1)
            },
            PageView {
                at: at(7),
                is_bot: true,
                ..view(1)
            },
            PageView {
                at: at(8),
                ..view(1)
            },
        ];
        let rows: Vec<(String, OffsetDateTime, bool, i32)> = counted(&views)
            .into_iter()
            .map(|(v, minute, n)| (v.path.clone(), minute, v.is_bot, n))
            .collect();
        let p = |n: u32| format!("/s/shop/p/{n}");
        assert_eq!(
            rows,
            vec![
                (p(1), at(0), false, 3),
                (p(2), at(0), false, 1),
                (p(1), at(60), false, 1),
                (p(1), at(0), true, 1),
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_buffer_drops_views_and_counts_them() {
        // A writer that never finishes a batch: the buffer behind it fills up.
        let (views_tx, _keep) = mpsc::unbounded_channel::<()>();
        let views = PageViews::start_with(2, move |_batch| {
            let _ = views_tx.send(());
            std::future::pending::<()>()
        });
        views.record(view(0));
        settle().await;
        tokio::time::advance(Duration::from_secs(2)).await;
        settle().await; // the writer is now stuck in its sink
        for n in 1..=5 {
            views.record(view(n));
        }
        assert_eq!(
            views.dropped(),
            3,
            "two fit in the buffer, three are dropped"
        );
    }
}
