//! HTTP routes for media: the local upload endpoint (multipart, so it works from a plain HTML
//! form) and the `/media` file service with year-long cache headers (every image id is new, so
//! a stored file never changes).

use crate::auth::ssr::Session;
use crate::error::{ApiError, AppError};
use crate::request::shop_session;
use crate::state::AppState;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::header::{ACCEPT, CACHE_CONTROL, LOCATION, REFERER, VARY};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use uuid::Uuid;

pub fn router(state: &AppState) -> Router<AppState> {
    let mut router = Router::new().route(
        "/api/media/upload",
        // 10 MB of image plus room for the other form fields.
        post(upload).layer(DefaultBodyLimit::max(
            super::ssr::MAX_UPLOAD_BYTES + 64 * 1024,
        )),
    );
    if let Some(dir) = state.media.local_dir() {
        let files = Router::new()
            .fallback_service(ServeDir::new(dir))
            .layer(axum::middleware::from_fn_with_state(
                dir.clone(),
                prefer_webp,
            ))
            .layer(SetResponseHeaderLayer::overriding(
                CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ));
        router = router.nest_service("/media", files);
    }
    router
}

/// Serves a variant's WebP in place of its JPEG to a browser whose `Accept` names WebP, when the
/// WebP exists (images stored before WebP may not have theirs yet). Chosen by `Accept` rather
/// than `<picture>` so that the markup, the cached storefront bytes and Open Graph tags keep one
/// URL per image; `Vary: Accept` keeps shared caches from handing the WebP to others.
async fn prefer_webp(
    State(dir): State<std::path::PathBuf>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(stem) = request.uri().path().strip_suffix(".jpg") else {
        return next.run(request).await;
    };
    let webp = format!("{stem}.webp");
    if accepts_webp(request.headers()) && is_plain_media_path(&webp) {
        let file = dir.join(webp.trim_start_matches('/'));
        if tokio::fs::try_exists(&file).await.unwrap_or(false) {
            let mut parts = request.uri().clone().into_parts();
            if let Ok(path) = webp.parse() {
                parts.path_and_query = Some(path);
                if let Ok(uri) = axum::http::Uri::from_parts(parts) {
                    *request.uri_mut() = uri;
                }
            }
        }
    }
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .append(VARY, HeaderValue::from_static("Accept"));
    response
}

fn accepts_webp(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            parts
                .next()
                .is_some_and(|t| t.eq_ignore_ascii_case("image/webp"))
                && !parts.any(|p| p.replace(' ', "") == "q=0" || p.starts_with("q=0.0"))
        })
}

/// The path is looked up on disk before `ServeDir` (which guards its own lookups) sees it, so
/// only `/<shop>/<image>/<variant>` made of plain characters is considered.
fn is_plain_media_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.contains("..")
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'.' | b'_'))
}

async fn upload(
    State(state): State<AppState>,
    session: Option<Extension<Session>>,
    headers: HeaderMap,
    multipart: Multipart,
) -> Response {
    let html = headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    let back = headers
        .get(REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.parse::<axum::http::Uri>().ok())
        .map(|u| u.path().to_string())
        .filter(|p| p.starts_with("/dashboard"))
        .unwrap_or_else(|| "/dashboard".into());
    let result = handle(&state, session.map(|s| s.0), multipart).await;
    match (result, html) {
        (Ok(view), false) => (StatusCode::CREATED, Json(view)).into_response(),
        (Err(e), false) => e.into_response(),
        (Ok(_), true) => redirect(&format!("{back}?uploaded=1")),
        (Err(e), true) => {
            let api: ApiError = e.into_api();
            let message = match &api {
                ApiError::Validation(fields) => {
                    fields.values().cloned().collect::<Vec<_>>().join(" ")
                }
                other => other.to_string(),
            };
            let encoded: String = form_urlencoded(&message);
            redirect(&format!("{back}?upload_error={encoded}"))
        }
    }
}

fn redirect(to: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(LOCATION, v);
    }
    res
}

/// Percent-encodes a message for a query string (RFC 3986 unreserved characters kept).
pub fn form_urlencoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn handle(
    state: &AppState,
    session: Option<Session>,
    mut multipart: Multipart,
) -> Result<crate::media::ImageView, AppError> {
    let session = session.ok_or(AppError::Unauthorized)?;
    let shop = shop_session(&state.pool, session).await?;
    let mut purpose = String::from("product");
    let mut product_id: Option<Uuid> = None;
    let mut alt = String::new();
    let mut file: Option<Vec<u8>> = None;
    let bad_form = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::validation(
                "file",
                "That file is larger than 10 MB; images can be at most 10 MB.",
            )
        } else {
            AppError::validation(
                "file",
                format!(
                    "The upload did not arrive complete ({}). Try again.",
                    e.body_text()
                ),
            )
        }
    };
    while let Some(field) = multipart.next_field().await.map_err(bad_form)? {
        match field.name().unwrap_or_default() {
            "purpose" => purpose = field.text().await.map_err(bad_form)?,
            "product_id" => {
                let text = field.text().await.map_err(bad_form)?;
                product_id = Some(text.trim().parse().map_err(|_| AppError::NotFound)?);
            }
            "alt" => alt = field.text().await.map_err(bad_form)?,
            "file" => file = Some(field.bytes().await.map_err(bad_form)?.to_vec()),
            _ => {}
        }
    }
    let bytes =
        file.ok_or_else(|| AppError::validation("file", "Choose an image file to upload."))?;
    let is_logo = purpose == "logo";
    if !is_logo && product_id.is_none() {
        return Err(AppError::validation(
            "product_id",
            "Save the product before adding images.",
        ));
    }
    // Check the product first so a foreign id is a 404 before any work is done.
    if let Some(pid) = product_id {
        let ours: bool = sqlx::query_scalar(
            "select exists(select 1 from products where id = $1 and shop_id = $2)",
        )
        .bind(pid)
        .bind(shop.shop_id)
        .fetch_one(&state.pool)
        .await?;
        if !ours {
            return Err(AppError::NotFound);
        }
    }
    let stored = state.media.store_local(shop.shop_id, bytes).await?;
    let product_for_row = if is_logo { None } else { product_id };
    if let Err(e) =
        crate::media::images::insert_image(state, shop.shop_id, product_for_row, &stored, &alt)
            .await
    {
        let row = row_of(&stored, &alt);
        let _ = state.media.delete(&row).await;
        return Err(e);
    }
    if is_logo {
        crate::shop::ssr::set_logo(state, shop.shop_id, stored.id).await?;
    }
    tracing::info!(shop_id = %shop.shop_id, image_id = %stored.id, bytes = stored.bytes, "image stored");
    Ok(state.media.view(&row_of(&stored, &alt)))
}

fn row_of(stored: &super::ssr::StoredImage, alt: &str) -> super::ssr::ImageRow {
    super::ssr::ImageRow {
        id: stored.id,
        backend: stored.backend.to_string(),
        storage_key: stored.storage_key.clone(),
        version: stored.version,
        width: stored.width as i32,
        height: stored.height as i32,
        alt: alt.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn webp_is_chosen_only_when_the_browser_names_it() {
        // Chromium's and Firefox's image requests.
        assert!(accepts_webp(&accept(
            "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
        )));
        assert!(accepts_webp(&accept("image/webp,*/*")));
        assert!(!accepts_webp(&accept("image/*,*/*;q=0.8")));
        assert!(!accepts_webp(&accept("*/*")));
        assert!(!accepts_webp(&accept("image/webp;q=0, image/jpeg")));
        assert!(!accepts_webp(&HeaderMap::new()));
    }

    #[test]
    fn only_plain_paths_are_looked_up() {
        assert!(is_plain_media_path("/0193-ab/0193-cd/sq480.webp"));
        assert!(!is_plain_media_path("/../../etc/passwd.webp"));
        assert!(!is_plain_media_path("/a/%2e%2e/b.webp"));
        assert!(!is_plain_media_path("relative.webp"));
    }
}
