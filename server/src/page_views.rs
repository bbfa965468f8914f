//! Records storefront page views: successful HTML answers under `/s/`, after the response is
//! built, handed to the non-blocking buffer in `app::analytics`.

use app::analytics::ssr::PageView;
use app::analytics::{device_class, is_bot};
use app::state::AppState;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_TYPE, REFERER, USER_AGENT};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

pub async fn record(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let wanted = req.method() == Method::GET && path.starts_with("/s/") && !path.ends_with(".xml");
    let (agent, referrer) = {
        let headers = req.headers();
        let get = |name| {
            headers
                .get(name)
                .and_then(|v: &axum::http::HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        (get(USER_AGENT).unwrap_or_default(), get(REFERER))
    };
    let res = next.run(req).await;
    let html = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    // A 304 is a view too: the browser revalidated a page it shows again (the cached answer).
    let shown = res.status() == StatusCode::OK || res.status() == StatusCode::NOT_MODIFIED;
    if wanted && (html || res.status() == StatusCode::NOT_MODIFIED) && shown {
        let mut parts = path.trim_start_matches("/s/").split('/');
        let shop_slug = parts.next().unwrap_or_default().to_string();
        let product_slug = match (parts.next(), parts.next()) {
            (Some("p"), Some(p)) => Some(p.to_string()),
            _ => None,
        };
        // Only the host of the referrer: enough to see where shoppers come from, no tracking.
        let referrer_host = referrer
            .and_then(|r| r.parse::<axum::http::Uri>().ok())
            .and_then(|u| u.host().map(str::to_owned));
        state.page_views.record(PageView {
            shop_slug,
            path,
            product_slug,
            referrer_host,
            device: device_class(&agent),
            is_bot: is_bot(&agent),
            at: time::OffsetDateTime::now_utc(),
        });
    }
    res
}
