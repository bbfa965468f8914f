use super::OutboxMail;
use crate::error::ApiError;
use leptos::prelude::*;

/// The development mailbox: only when APP_ENV=development; otherwise it does not exist (404).
#[server(endpoint = "dev/mailbox", client = crate::api_client::ApiClient)]
pub async fn dev_mailbox() -> Result<Vec<OutboxMail>, ApiError> {
    use crate::error::AppError;
    let state = crate::state::use_state()?;
    // It shows every tenant's email (reset links included): development, asked for, and only
    // to this machine. The socket peer decides, never X-Forwarded-For.
    let peer_is_local = leptos::prelude::use_context::<http::request::Parts>()
        .and_then(|p| {
            p.extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip().is_loopback())
        })
        .unwrap_or(false);
    if !(state.config.is_development() && state.config.dev_mailbox && peer_is_local) {
        return Err(AppError::NotFound.into());
    }
    Ok(super::ssr::recent(&state.pool, 50).await?)
}
