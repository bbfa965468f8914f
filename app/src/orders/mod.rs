//! Orders: checkout (one transaction, prices from the database, atomic stock, idempotent) and
//! the merchant's status flow. The storefront cart and the dashboard pages build on this.

pub mod api;
#[cfg(feature = "ssr")]
pub mod ssr;
pub mod ui;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where an order stands. Stored and sent as its lowercase name (`new`, `confirmed`, …), the
/// values the `orders.status` check constraint allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    New,
    Confirmed,
    Shipped,
    Delivered,
    Cancelled,
}

impl OrderStatus {
    /// In their normal order; `Cancelled` can be reached from any open status.
    pub const ALL: [OrderStatus; 5] = [
        OrderStatus::New,
        OrderStatus::Confirmed,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::New => "new",
            OrderStatus::Confirmed => "confirmed",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            OrderStatus::New => "New",
            OrderStatus::Confirmed => "Confirmed",
            OrderStatus::Shipped => "Shipped",
            OrderStatus::Delivered => "Delivered",
            OrderStatus::Cancelled => "Cancelled",
        }
    }

    /// Whether an order may move from this status to `to`.
    pub fn can_become(self, to: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, to),
            (New, Confirmed)
                | (Confirmed, Shipped)
                | (Shipped, Delivered)
                | (New | Confirmed | Shipped, Cancelled)
                // Reopening a cancellation made by mistake (within `REOPEN_DAYS`, with stock).
                | (Cancelled, New)
        )
    }

    /// The statuses an order can move to next, with the button text for each.
    pub fn next_steps(self) -> Vec<(OrderStatus, &'static str)> {
        let mut steps = Vec::new();
        match self {
            OrderStatus::New => steps.push((OrderStatus::Confirmed, "Confirm")),
            OrderStatus::Confirmed => steps.push((OrderStatus::Shipped, "Mark shipped")),
            OrderStatus::Shipped => steps.push((OrderStatus::Delivered, "Mark delivered")),
            OrderStatus::Cancelled => steps.push((OrderStatus::New, "Reopen order")),
            OrderStatus::Delivered => {}
        }
        if self.can_become(OrderStatus::Cancelled) {
            steps.push((OrderStatus::Cancelled, "Cancel order"));
        }
        steps
    }
}

impl std::fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How long after its cancellation an order can be reopened (a mistake is noticed soon; later,
/// a new order is the honest record).
pub const REOPEN_DAYS: i64 = 7;

/// Whether an order may move from `from` to `to` (status names as stored); unknown names never.
pub fn transition_allowed(from: &str, to: &str) -> bool {
    match (OrderStatus::parse(from), OrderStatus::parse(to)) {
        (Some(from), Some(to)) => from.can_become(to),
        _ => false,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderLine {
    pub product_id: Option<Uuid>,
    /// The product's title when ordered.
    pub title: String,
    /// The variant's option values when ordered ("L / Indigo"); empty without options.
    pub variant_title: String,
    pub sku: Option<String>,
    pub quantity: i32,
    pub unit_price: String,
    pub line_total: String,
}

impl OrderLine {
    /// "Adire scarf (L / Indigo)", or the title alone for a product without options.
    pub fn name(&self) -> String {
        if self.variant_title.is_empty() {
            self.title.clone()
        } else {
            format!("{} ({})", self.title, self.variant_title)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderEvent {
    pub from_status: Option<String>,
    pub to_status: String,
    /// `shopper`, `merchant` or `system` (released automatically).
    pub actor: String,
    pub at: String,
    /// Why the change happened, when the system made it.
    #[serde(default)]
    pub note: Option<String>,
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
    /// In the shop's time zone, with its offset.
    pub created_at: String,
    /// The shop's IANA time zone, named beside the times.
    pub time_zone: String,
    pub lines: Vec<OrderLine>,
    pub events: Vec<OrderEvent>,
    /// wa.me link to the shop with the order number prefilled (confirmation page).
    pub shop_whatsapp: Option<String>,
    /// Placed by the shop's own test customer ("Try your agent").
    #[serde(default)]
    pub test: bool,
}

#[cfg(test)]
mod tests {
    use super::{OrderStatus, next_steps, status_label, transition_allowed};

    #[test]
    fn status_names_round_trip() {
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert_eq!(OrderStatus::parse("New"), None);
        assert_eq!(status_label("shipped"), "Shipped");
        assert_eq!(status_label("lost"), "Unknown");
        assert_eq!(
            next_steps("new"),
            [("confirmed", "Confirm"), ("cancelled", "Cancel order")]
        );
        assert!(next_steps("delivered").is_empty());
        assert_eq!(next_steps("cancelled"), [("new", "Reopen order")]);
    }

    #[test]
    fn status_flow() {
        assert!(transition_allowed("new", "confirmed"));
        assert!(transition_allowed("confirmed", "shipped"));
        assert!(transition_allowed("shipped", "delivered"));
        assert!(transition_allowed("shipped", "cancelled"));
        assert!(!transition_allowed("new", "shipped"));
        assert!(!transition_allowed("delivered", "cancelled"));
        // Reopening a cancellation made by mistake (the server also checks the time limit).
        assert!(transition_allowed("cancelled", "new"));
        assert!(!transition_allowed("cancelled", "confirmed"));
        assert!(!transition_allowed("confirmed", "confirmed"));
        assert!(!transition_allowed("new", "lost"));
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
    /// Placed by the shop's own test customer ("Try your agent"): listed, marked, never counted.
    #[serde(default)]
    pub test: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderList {
    pub items: Vec<OrderSummary>,
    /// The shop's IANA time zone: the list's times and the date filter are in it.
    pub time_zone: String,
    pub total: i64,
    pub page: i64,
    pub pages: i64,
}

/// Highest page number a list query accepts; higher ones are clamped to it.
pub const MAX_PAGE: i64 = 10_000;
pub const ORDERS_PER_PAGE: i64 = 25;

/// The label of a stored status name.
pub fn status_label(status: &str) -> &'static str {
    OrderStatus::parse(status).map_or("Unknown", OrderStatus::label)
}

/// The next steps (status name, button text) for a stored status name.
pub fn next_steps(status: &str) -> Vec<(&'static str, &'static str)> {
    OrderStatus::parse(status)
        .map(|s| {
            s.next_steps()
                .into_iter()
                .map(|(to, label)| (to.as_str(), label))
                .collect()
        })
        .unwrap_or_default()
}
