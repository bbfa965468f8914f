//! HTTP routes of the channel that are not server functions: Meta's webhook (platform path and
//! per-account paths), the inbox's live events, stored attachments and document uploads (a
//! plain multipart form, like image uploads), and the simulator.
//!
//! The webhook does exactly three things before answering: checks the size, checks the
//! signature over the raw bytes, and commits them (with their processing job). No parsing and
//! no third-party call happens first.

use super::ssr::{account_app_secret, account_by_webhook_key, same_secret, signature_matches};
use crate::auth::ssr::Session;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use secrecy::ExposeSecret;
use serde::Deserialize;
use uuid::Uuid;

pub fn router(state: &AppState) -> Router<AppState> {
    let mut router = Router::new()
        .route(
            "/webhooks/whatsapp",
            get(verify_platform).post(receive_platform),
        )
        .route(
            "/webhooks/whatsapp/{key}",
            get(verify_account).post(receive_account),
        )
        .layer(DefaultBodyLimit::max(super::inbound::MAX_WEBHOOK_BYTES))
        .route(
            "/dashboard/inbox/events",
            get(crate::conversations::live::events),
        )
        .route("/dashboard/inbox/media/{id}", get(media_file))
        .route(
            "/dashboard/inbox/{id}/document",
            axum::routing::post(send_document).layer(DefaultBodyLimit::max(
                crate::conversations::ssr::MAX_DOCUMENT_BYTES + 64 * 1024,
            )),
        );
    if let Some(sim) = &state.whatsapp.simulator {
        router = router.merge(super::simulator::router(sim.clone()));
    }
    router
}

#[derive(Debug, Deserialize)]
pub struct Handshake {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// Meta's handshake: echo the challenge (as plain text) when the token matches.
fn handshake(q: &Handshake, expected: &str) -> Response {
    let ok = q.mode.as_deref() == Some("subscribe")
        && !expected.is_empty()
        && q.verify_token
            .as_deref()
            .is_some_and(|t| same_secret(t, expected));
    match (&q.challenge, ok) {
        (Some(c), true) if c.len() <= 128 => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            c.clone(),
        )
            .into_response(),
        _ => (StatusCode::FORBIDDEN, "verification failed").into_response(),
    }
}

async fn verify_platform(State(state): State<AppState>, Query(q): Query<Handshake>) -> Response {
    handshake(&q, state.whatsapp.config.verify_token.expose_secret())
}

async fn verify_account(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(q): Query<Handshake>,
) -> Response {
    match account_by_webhook_key(&state.pool, &key).await {
        Ok(Some(a)) => handshake(&q, a.verify_token.as_deref().unwrap_or_default()),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => e.into_response(),
    }
}

fn signature(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
}

fn unauthorized() -> Response {
    (StatusCode::UNAUTHORIZED, "invalid signature").into_response()
}

async fn store(state: &AppState, account: Option<Uuid>, body: &[u8]) -> Response {
    match super::inbound::receive(state, account, body).await {
        Ok(_) => StatusCode::OK.into_response(),
        // Not committed, so not acknowledged: Meta delivers it again.
        Err(e) => {
            tracing::error!(error = %e, "webhook body could not be stored");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

async fn receive_platform(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(secret) = &state.whatsapp.config.app_secret else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !signature_matches(
        secret.expose_secret().as_bytes(),
        &body,
        signature(&headers),
    ) {
        tracing::warn!("webhook with a bad or missing signature refused");
        return unauthorized();
    }
    store(&state, None, &body).await
}

async fn receive_account(
    State(state): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let account = match account_by_webhook_key(&state.pool, &key).await {
        Ok(Some(a)) => a,
        Ok(None) => return StatusCode::NOT_FOUND.into_response(),
        Err(e) => return e.into_response(),
    };
    let secret = match account_app_secret(&state, &account) {
        Ok(Some(s)) => s,
        Ok(None) => return StatusCode::NOT_FOUND.into_response(),
        Err(e) => return e.into_response(),
    };
    if !signature_matches(
        secret.expose_secret().as_bytes(),
        &body,
        signature(&headers),
    ) {
        tracing::warn!(account = %account.id, "webhook with a bad or missing signature refused");
        return unauthorized();
    }
    store(&state, Some(account.id), &body).await
}

/// A customer's attachment, to the shop it was sent to only. Types a browser could run (HTML,
/// SVG, PDF viewers' scripts…) are served as downloads, never inline.
async fn media_file(
    State(state): State<AppState>,
    session: Option<Extension<Session>>,
    Path(id): Path<Uuid>,
) -> Response {
    let shop = match crate::request::route_shop(&state.pool, session).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    match crate::conversations::ssr::media_file(&state, shop.shop_id, id).await {
        Ok((mime, bytes)) => {
            let inline = matches!(
                mime.as_str(),
                "image/jpeg" | "image/png" | "image/webp" | "image/gif"
            ) || mime.starts_with("audio/")
                || mime.starts_with("video/");
            let content_type = if inline {
                mime.as_str()
            } else {
                "application/octet-stream"
            };
            let mut res = bytes.into_response();
            let h = res.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_str(content_type)
                    .unwrap_or(HeaderValue::from_static("application/octet-stream")),
            );
            h.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static(if inline { "inline" } else { "attachment" }),
            );
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=86400"),
            );
            res
        }
        Err(e) => e.into_response(),
    }
}

/// `POST /dashboard/inbox/{id}/document` (multipart: file, caption, idempotency_key). A browser
/// form is sent back to the thread (303), with the reason in `document_error` when refused;
/// other clients get the message id (201) or the error as JSON.
async fn send_document(
    State(state): State<AppState>,
    session: Option<Extension<Session>>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    multipart: axum::extract::Multipart,
) -> Response {
    let html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    let shop = match crate::request::route_shop(&state.pool, session).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let result = async {
        let doc = read_document_form(multipart).await?;
        crate::conversations::ssr::send_document(&state, shop.shop_id, id, doc).await
    }
    .await;
    let back = format!("/dashboard/inbox/{id}");
    match (result, html) {
        (Ok(message_id), false) => (StatusCode::CREATED, axum::Json(message_id)).into_response(),
        (Err(e), false) => e.into_response(),
        (Ok(_), true) => see_other(&back),
        // Another shop's conversation stays a plain 404, form or not.
        (Err(crate::error::AppError::NotFound), true) => StatusCode::NOT_FOUND.into_response(),
        (Err(e), true) => {
            let message = match e.into_api() {
                crate::error::ApiError::Validation(fields) => {
                    fields.values().cloned().collect::<Vec<_>>().join(" ")
                }
                other => other.to_string(),
            };
            let encoded = crate::media::routes::form_urlencoded(&message);
            see_other(&format!("{back}?document_error={encoded}"))
        }
    }
}

async fn read_document_form(
    mut multipart: axum::extract::Multipart,
) -> Result<crate::conversations::ssr::DocumentUpload, crate::error::AppError> {
    use crate::error::AppError;
    let bad_form = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::validation(
                "file",
                "That file is larger than 16 MB. Send a smaller file, or a link to it.",
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
    let mut doc = crate::conversations::ssr::DocumentUpload {
        filename: String::new(),
        bytes: Vec::new(),
        caption: String::new(),
        idempotency_key: String::new(),
    };
    while let Some(field) = multipart.next_field().await.map_err(bad_form)? {
        match field.name().unwrap_or_default() {
            "caption" => doc.caption = field.text().await.map_err(bad_form)?,
            "idempotency_key" => doc.idempotency_key = field.text().await.map_err(bad_form)?,
            "file" => {
                doc.filename = field.file_name().unwrap_or_default().to_string();
                doc.bytes = field.bytes().await.map_err(bad_form)?.to_vec();
            }
            _ => {}
        }
    }
    Ok(doc)
}

fn see_other(to: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}
