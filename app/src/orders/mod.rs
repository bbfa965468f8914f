//! Orders: checkout (one transaction, prices from the database, atomic stock, idempotent) and
//! the merchant's status flow. The storefront cart and the dashboard pages build on this.

pub mod api;
#[cfg(feature = "ssr")]
pub mod ssr;
pub mod ui;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Statuses in their normal order; `cancelled` can be reached from any open status.
pub const STATUSES: &[&str] = &["new", "confirmed", "shipped", "delivered", "cancelled"];

/// Whether an order may move from `from` to `to`.
pub fn transition_allowed(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        ("new", "confirmed")
            | ("confirmed", "shipped")
            | ("shipped", "delivered")
            | ("new" | "confirmed" | "shipped", "cancelled")
    )
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderLine {
    pub product_id: Option<Uuid>,
    pub title: String,
    pub quantity: i32,
    pub unit_price: String,
    pub line_total: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderEvent {
    pub from_status: Option<String>,
    pub to_status: String,
    pub actor: String,
    pub at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderView {
    pub id: Uuid,
    pub number: i32,
    pub status: String,
    pub total: String,
    pub total_minor: i64,
    pub currency: String,
    pub customer_name: String,
    pub phone: String,
    pub address: String,
    pub note: String,
    pub internal_note: String,
    pub created_at: String,
    pub lines: Vec<OrderLine>,
    pub events: Vec<OrderEvent>,
    /// wa.me link to the shop with the order number prefilled (confirmation page).
    pub shop_whatsapp: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::transition_allowed;

    #[test]
    fn status_flow() {
        assert!(transition_allowed("new", "confirmed"));
        assert!(transition_allowed("confirmed", "shipped"));
        assert!(transition_allowed("shipped", "delivered"));
        assert!(transition_allowed("shipped", "cancelled"));
        assert!(!transition_allowed("new", "shipped"));
        assert!(!transition_allowed("delivered", "cancelled"));
        assert!(!transition_allowed("cancelled", "new"));
        assert!(!transition_allowed("confirmed", "confirmed"));
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OrderQuery {
    pub status: Option<String>,
    pub q: Option<String>,
    /// Inclusive dates, YYYY-MM-DD.
    pub from: Option<String>,
    pub to: Option<String>,
    pub page: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderSummary {
    pub id: Uuid,
    pub number: i32,
    pub status: String,
    pub customer_name: String,
    pub phone: String,
    pub total: String,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderList {
    pub items: Vec<OrderSummary>,
    pub total: i64,
    pub page: i64,
    pub pages: i64,
}

pub const ORDERS_PER_PAGE: i64 = 25;

pub fn status_label(status: &str) -> &'static str {
    match status {
        "new" => "New",
        "confirmed" => "Confirmed",
        "shipped" => "Shipped",
        "delivered" => "Delivered",
        "cancelled" => "Cancelled",
        _ => "Unknown",
    }
}

/// The statuses an order can move to next, with the button text for each.
pub fn next_steps(status: &str) -> Vec<(&'static str, &'static str)> {
    let mut steps = Vec::new();
    match status {
        "new" => steps.push(("confirmed", "Confirm")),
        "confirmed" => steps.push(("shipped", "Mark shipped")),
        "shipped" => steps.push(("delivered", "Mark delivered")),
        _ => {}
    }
    if transition_allowed(status, "cancelled") {
        steps.push(("cancelled", "Cancel order"));
    }
    steps
}
