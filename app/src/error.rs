//! Errors. `ApiError` is what the browser sees (it crosses the server-function boundary);
//! `AppError` (server only) is what services return, and it carries internal detail that is
//! logged and never sent.

use serde::{Deserialize, Serialize};
use server_fn::codec::JsonEncoding;
use server_fn::error::{FromServerFnError, ServerFnErrorErr};
use std::collections::BTreeMap;

/// Field name → message a merchant can act on.
pub type FieldErrors = BTreeMap<String, String>;

/// What the browser sees. On the wire it is always [`WireError`]'s one JSON shape, whether it
/// comes from a server function, an axum route or a middleware.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(into = "WireError", from = "WireError")]
pub enum ApiError {
    #[error("We could not find that.")]
    NotFound,
    #[error("Please log in to continue.")]
    Unauthorized,
    #[error("You are not allowed to do that.")]
    Forbidden,
    #[error("Please correct the highlighted fields.")]
    Validation(FieldErrors),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    RateLimited(String),
    /// Something broke on our side; the id lets support find the log line.
    #[error("Something went wrong on our side (reference {0}). Please try again.")]
    Internal(String),
    /// Transport problems (offline, bad response) reported by the server-function machinery.
    #[error("The request did not go through: {0}")]
    Request(String),
}

/// The one JSON shape of every error we answer with:
/// `{"kind": "validation", "error": "<a sentence for a person>", "fields": {…}, "detail": …}`.
/// `kind` is for programs, `error` for people; `fields` only on validation errors; `detail`
/// carries the variant's own text (the reference of an internal error, for instance).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireError {
    pub kind: String,
    pub error: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: FieldErrors,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl From<ApiError> for WireError {
    fn from(e: ApiError) -> Self {
        let error = e.to_string();
        let kind = e.kind().to_string();
        let (fields, detail) = match e {
            ApiError::Validation(fields) => (fields, None),
            ApiError::Conflict(d)
            | ApiError::RateLimited(d)
            | ApiError::Internal(d)
            | ApiError::Request(d) => (FieldErrors::new(), Some(d)),
            ApiError::NotFound | ApiError::Unauthorized | ApiError::Forbidden => {
                (FieldErrors::new(), None)
            }
        };
        WireError {
            kind,
            error,
            fields,
            detail,
        }
    }
}

impl From<WireError> for ApiError {
    fn from(w: WireError) -> Self {
        let detail = w.detail.unwrap_or(w.error);
        match w.kind.as_str() {
            "not_found" => ApiError::NotFound,
            "unauthorized" => ApiError::Unauthorized,
            "forbidden" => ApiError::Forbidden,
            "validation" => ApiError::Validation(w.fields),
            "conflict" => ApiError::Conflict(detail),
            "rate_limited" => ApiError::RateLimited(detail),
            "internal" => ApiError::Internal(detail),
            _ => ApiError::Request(detail),
        }
    }
}

impl ApiError {
    pub fn kind(&self) -> &'static str {
        match self {
            ApiError::NotFound => "not_found",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden => "forbidden",
            ApiError::Validation(_) => "validation",
            ApiError::Conflict(_) => "conflict",
            ApiError::RateLimited(_) => "rate_limited",
            ApiError::Internal(_) => "internal",
            ApiError::Request(_) => "request",
        }
    }

    /// Message for one form field, if validation failed on it.
    pub fn field(&self, name: &str) -> Option<String> {
        match self {
            ApiError::Validation(map) => map.get(name).cloned(),
            _ => None,
        }
    }

    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        let mut map = FieldErrors::new();
        map.insert(field.to_string(), message.into());
        ApiError::Validation(map)
    }

    pub fn status_code(&self) -> u16 {
        match self {
            ApiError::NotFound => 404,
            ApiError::Unauthorized => 401,
            ApiError::Forbidden => 403,
            ApiError::Validation(_) => 422,
            ApiError::Conflict(_) => 409,
            ApiError::RateLimited(_) => 429,
            ApiError::Internal(_) => 500,
            ApiError::Request(_) => 400,
        }
    }
}

impl FromServerFnError for ApiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        let api = match &value {
            // A form that lacks a field or carries garbage: say so instead of a bare 500.
            ServerFnErrorErr::Args(detail) | ServerFnErrorErr::Deserialization(detail) => {
                ApiError::Request(format!("the form was incomplete or malformed ({detail})"))
            }
            other => ApiError::Request(other.to_string()),
        };
        #[cfg(feature = "ssr")]
        server::set_server_fn_status(&api);
        api
    }
}

#[cfg(feature = "ssr")]
pub use server::AppError;

#[cfg(feature = "ssr")]
mod server {
    use super::{ApiError, FieldErrors};
    use axum::response::{IntoResponse, Response};
    use http::StatusCode;

    /// The one error type of the server side.
    #[derive(Debug, thiserror::Error)]
    pub enum AppError {
        #[error("not found")]
        NotFound,
        #[error("unauthorized")]
        Unauthorized,
        #[error("forbidden")]
        Forbidden,
        #[error("validation failed: {0:?}")]
        Validation(FieldErrors),
        #[error("conflict: {0}")]
        Conflict(String),
        #[error("rate limited: {0}")]
        RateLimited(String),
        #[error(transparent)]
        Internal(#[from] anyhow::Error),
    }

    impl AppError {
        pub fn validation(field: &str, message: impl Into<String>) -> Self {
            let mut map = FieldErrors::new();
            map.insert(field.to_string(), message.into());
            AppError::Validation(map)
        }

        /// Turns the error into what the browser may see, logging internal detail once.
        pub fn into_api(self) -> ApiError {
            match self {
                AppError::NotFound => ApiError::NotFound,
                AppError::Unauthorized => ApiError::Unauthorized,
                AppError::Forbidden => ApiError::Forbidden,
                AppError::Validation(m) => ApiError::Validation(m),
                AppError::Conflict(m) => ApiError::Conflict(m),
                AppError::RateLimited(m) => ApiError::RateLimited(m),
                AppError::Internal(e) => {
                    let reference = uuid::Uuid::now_v7().simple().to_string()[20..].to_string();
                    tracing::error!(error = ?e, reference = %reference, "internal error");
                    ApiError::Internal(reference)
                }
            }
        }
    }

    /// The constraint a database error violated, if any, so callers can turn a known unique or
    /// check violation into a message for the person (and leave every other error internal).
    pub fn constraint_violation(e: &sqlx::Error) -> Option<&str> {
        match e {
            sqlx::Error::Database(db) => db.constraint(),
            _ => None,
        }
    }

    impl From<sqlx::Error> for AppError {
        fn from(e: sqlx::Error) -> Self {
            AppError::Internal(anyhow::Error::new(e))
        }
    }

    impl From<AppError> for ApiError {
        fn from(e: AppError) -> Self {
            let api = e.into_api();
            set_server_fn_status(&api);
            api
        }
    }

    /// Server functions answer with the real HTTP status (404, 422, 429, …) when called by
    /// script. A plain HTML form post must stay a 302 back to the form (server_fn puts the
    /// error into the URL for the page to show), so the status is left alone there.
    pub(super) fn set_server_fn_status(err: &ApiError) {
        use leptos::prelude::use_context;
        let (Some(parts), Some(res)) = (
            use_context::<http::request::Parts>(),
            use_context::<leptos_axum::ResponseOptions>(),
        ) else {
            return;
        };
        let html_form = parts
            .headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"));
        if !html_form
            && parts.uri.path().starts_with("/api/")
            && let Ok(code) = StatusCode::from_u16(err.status_code())
        {
            res.set_status(code);
        }
    }

    impl IntoResponse for AppError {
        fn into_response(self) -> Response {
            let api = self.into_api();
            let status = StatusCode::from_u16(api.status_code())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, axum::Json(api)).into_response()
        }
    }

    pub type AppResult<T> = Result<T, AppError>;
}

#[cfg(feature = "ssr")]
pub use server::AppResult;
#[cfg(feature = "ssr")]
pub use server::constraint_violation;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_one_json_shape_and_reads_back() {
        let cases = [
            ApiError::NotFound,
            ApiError::Unauthorized,
            ApiError::Forbidden,
            ApiError::validation("email", "Enter your email address."),
            ApiError::Conflict("That order changed.".into()),
            ApiError::RateLimited("Too many tries.".into()),
            ApiError::Internal("abc123".into()),
            ApiError::Request("offline".into()),
        ];
        for e in cases {
            let json = serde_json::to_value(&e).unwrap();
            assert_eq!(json["kind"], e.kind(), "{json}");
            assert_eq!(json["error"], e.to_string(), "{json}");
            let back: ApiError = serde_json::from_value(json.clone()).unwrap();
            assert_eq!(back, e, "{json}");
        }
        let v = serde_json::to_value(ApiError::validation("email", "Enter it.")).unwrap();
        assert_eq!(v["fields"]["email"], "Enter it.");
        assert!(
            serde_json::to_value(ApiError::NotFound)
                .unwrap()
                .get("fields")
                .is_none()
        );
    }
}
