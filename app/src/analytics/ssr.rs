//! The page-view buffer. Requests hand views to a bounded channel with `try_send` (never
//! waiting); one task writes them in batches of up to 500, at least every second, in a single
//! INSERT. Graceful shutdown flushes what is buffered, so views are lost only on a hard crash
//! (or, counted and logged, when the buffer is full under extreme load).

use crate::error::AppResult;
use sqlx::PgPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

const BUFFER: usize = 10_000;
const BATCH: usize = 500;

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

enum Message {
    View(PageView),
    Flush(oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct PageViews {
    tx: mpsc::Sender<Message>,
    dropped: Arc<AtomicU64>,
}

impl PageViews {
    /// Starts the writer task; must be called inside a Tokio runtime.
    pub fn start(pool: PgPool) -> Self {
        let (tx, rx) = mpsc::channel(BUFFER);
        tokio::spawn(writer(pool, rx));
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

    /// Writes everything buffered so far (used at shutdown, and by tests).
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Message::Flush(ack)).await.is_ok() {
            let _ = done.await;
        }
    }
}

async fn writer(pool: PgPool, mut rx: mpsc::Receiver<Message>) {
    let mut batch: Vec<PageView> = Vec::with_capacity(BATCH);
    loop {
        let message = tokio::time::timeout(Duration::from_secs(1), rx.recv()).await;
        let mut ack = None;
        match message {
            Ok(Some(Message::View(v))) => {
                batch.push(v);
                if batch.len() < BATCH {
                    continue;
                }
            }
            Ok(Some(Message::Flush(a))) => ack = Some(a),
            Ok(None) => {
                write(&pool, &mut batch).await;
                return;
            }
            Err(_) => {}
        }
        write(&pool, &mut batch).await;
        if let Some(a) = ack {
            let _ = a.send(());
        }
    }
}

async fn write(pool: &PgPool, batch: &mut Vec<PageView>) {
    if batch.is_empty() {
        return;
    }
    if let Err(e) = insert(pool, batch).await {
        tracing::warn!(error = ?e, views = batch.len(), "page views could not be written");
    }
    batch.clear();
}

async fn insert(pool: &PgPool, batch: &[PageView]) -> AppResult<()> {
    let mut slugs = Vec::new();
    let mut paths = Vec::new();
    let mut products = Vec::new();
    let mut referrers = Vec::new();
    let mut devices = Vec::new();
    let mut bots = Vec::new();
    let mut times = Vec::new();
    for v in batch {
        slugs.push(v.shop_slug.clone());
        paths.push(v.path.clone());
        products.push(v.product_slug.clone());
        referrers.push(v.referrer_host.clone());
        devices.push(v.device.to_string());
        bots.push(v.is_bot);
        times.push(v.at);
    }
    // One statement for the whole batch; views of unknown shops fall out of the join.
    sqlx::query(
        "insert into page_views (shop_id, path, product_slug, referrer_host, device, is_bot, viewed_at)
         select s.id, v.path, v.product_slug, v.referrer_host, v.device, v.is_bot, v.viewed_at
         from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::timestamptz[])
              with ordinality as v(shop_slug, path, product_slug, referrer_host, device, is_bot, viewed_at, ord)
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
    .execute(pool)
    .await?;
    Ok(())
}

/// Records a named feature event for the shop's merchant, inside the caller's transaction.
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
