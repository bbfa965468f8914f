//! Customers: one per shop and WhatsApp number, created or updated at checkout. The WhatsApp
//! conversations will attach to these rows later.

pub mod api;
#[cfg(feature = "ssr")]
pub mod ssr;
pub mod ui;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerSummary {
    pub id: Uuid,
    pub name: String,
    pub phone: String,
    pub orders: i64,
    /// Confirmed, shipped and delivered orders.
    pub spent: String,
    /// New orders' total, when there are any (not counted as spent until confirmed).
    #[serde(default)]
    pub pending: Option<String>,
    /// The shop's own test customer ("Try your agent").
    #[serde(default)]
    pub test: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerDetail {
    pub id: Uuid,
    pub name: String,
    pub phone: String,
    pub address: String,
    pub orders: Vec<crate::orders::OrderSummary>,
}
