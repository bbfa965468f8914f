//! Live inbox updates: one `LISTEN bizmaat_inbox` per process, fanned out to the open
//! dashboards of each shop over server-sent events. NOTIFY comes from whichever replica wrote
//! the change, so this works with several replicas. Without it, a reload shows everything.

use crate::auth::ssr::Session;
use crate::state::AppState;
use axum::Extension;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgListener;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// One change a dashboard may want to show.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InboxEvent {
    pub shop_id: Uuid,
    pub conversation_id: Uuid,
    pub kind: String,
}

/// An open stream ends after this long; the browser reconnects at once, which checks the
/// session again (a logged-out session stops receiving).
const STREAM_LIFETIME: Duration = Duration::from_secs(300);

#[derive(Clone)]
pub struct Live {
    tx: broadcast::Sender<InboxEvent>,
}

impl Default for Live {
    fn default() -> Self {
        Self::new()
    }
}

impl Live {
    pub fn new() -> Self {
        Live {
            tx: broadcast::channel(1024).0,
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<InboxEvent> {
        self.tx.subscribe()
    }

    /// Listens until cancelled, reconnecting after a lost connection.
    pub async fn run(self, pool: sqlx::PgPool, cancel: CancellationToken) {
        loop {
            let listener = async {
                let mut l = PgListener::connect_with(&pool).await?;
                l.listen(crate::whatsapp::inbound::INBOX_CHANNEL).await?;
                Ok::<_, sqlx::Error>(l)
            };
            let mut listener = tokio::select! {
                _ = cancel.cancelled() => return,
                l = listener => match l {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::warn!(error = %e, "inbox listener could not connect; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                },
            };
            loop {
                let n = tokio::select! {
                    _ = cancel.cancelled() => return,
                    n = listener.recv() => n,
                };
                match n {
                    Ok(n) => {
                        if let Ok(e) = serde_json::from_str::<InboxEvent>(n.payload()) {
                            // No receivers is fine: nobody has the inbox open.
                            let _ = self.tx.send(e);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "inbox listener lost its connection; reconnecting");
                        break;
                    }
                }
            }
        }
    }
}

/// `GET /dashboard/inbox/events`: this shop's inbox changes as server-sent events.
pub async fn events(
    State(state): State<AppState>,
    session: Option<Extension<Session>>,
) -> Response {
    let shop = match crate::request::route_shop(&state.pool, session).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let rx = state.live.subscribe();
    let deadline = tokio::time::Instant::now() + STREAM_LIFETIME;
    let stream = futures_util::stream::unfold(rx, move |mut rx| async move {
        loop {
            let next = tokio::time::timeout_at(deadline, rx.recv()).await;
            match next {
                Err(_) => return None,
                Ok(Ok(e)) if e.shop_id == shop.shop_id => {
                    let data =
                        serde_json::json!({"conversation_id": e.conversation_id, "kind": e.kind});
                    let event = Event::default().data(data.to_string());
                    return Some((Ok::<_, std::convert::Infallible>(event), rx));
                }
                Ok(Ok(_)) => continue,
                // Fell behind: tell the page to reload what it shows.
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                    let event = Event::default().data(r#"{"kind":"resync"}"#);
                    return Some((Ok(event), rx));
                }
                Ok(Err(broadcast::error::RecvError::Closed)) => return None,
            }
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
