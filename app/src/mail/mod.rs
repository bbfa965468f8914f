//! Outgoing email: an outbox row written in the same transaction as what it reports, with a
//! `send_email` job (the platform job queue) that delivers it over SMTP when configured, and a
//! development mailbox page to read it without SMTP. Bodies carrying one-time links are
//! blanked once sent; old rows are purged by the worker's house-keeping.

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
