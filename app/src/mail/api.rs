use super::OutboxMail;
use crate::error::ApiError;
use leptos::prelude::*;

/// The development mailbox: only when APP_ENV=development; otherwise it does not exist (404).
#[server(endpoint = "dev/mailbox")]
pub async fn dev_mailbox() -> Result<Vec<OutboxMail>, ApiError> {
    use crate::error::AppError;
    let state = crate::state::use_state()?;
    if !state.config.is_development() {
        return Err(AppError::NotFound.into());
    }
    Ok(super::ssr::recent(&state.pool, 50).await?)
}
