//! Outgoing email: an outbox table written in the same transaction as what it reports, a worker
//! that delivers it over SMTP when configured, and a development mailbox page to read it
//! without SMTP.

pub mod api;
#[cfg(feature = "ssr")]
pub mod ssr;
pub mod ui;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxMail {
    pub id: uuid::Uuid,
    pub to_address: String,
    pub subject: String,
    pub body_text: String,
    pub created_at: String,
    pub status: String,
}
