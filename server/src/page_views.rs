//! Records storefront page views: successful HTML answers under `/s/`, after the response is
//! built, handed to the non-blocking buffer in `app::analytics`. (Pages answered from the
//! response cache are recorded by the cache's layer, which answers before this one runs.)

use app::analytics::ssr::PageView;
use app::state::AppState;
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

pub async fn record(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let wanted = req.method() == Method::GET && path.starts_with("/s/") && !path.ends_with(".xml");
    let view = wanted.then(|| PageView::of_request(&path, req.headers()));
    let res = next.run(req).await;
    let html = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if let Some(view) = view
        && html
        && res.status() == StatusCode::OK
    {
        state.page_views.record(view);
    }
    res
}
