//! HTTP routes for media: the local upload endpoint (multipart, so it works from a plain HTML
//! form) and the `/media` file service with year-long cache headers (every image id is new, so
//! a stored file never changes).

use crate::auth::ssr::Session;
use crate::error::{ApiError, AppError};
use crate::request::shop_session;
use crate::state::AppState;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::header::{ACCEPT, CACHE_CONTROL, LOCATION, REFERER};
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
        router = router.nest_service(
            "/media",
            tower::ServiceBuilder::new()
                .layer(SetResponseHeaderLayer::overriding(
                    CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=31536000, immutable"),
                ))
                .service(ServeDir::new(dir)),
        );
    }
    router
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
