//! The dashboard overview: views, orders and revenue for the last 7 and 30 days, top products,
//! conversion, and the orders waiting for the merchant. Days are UTC days.

pub mod api;
#[cfg(feature = "ssr")]
pub mod ssr;
pub mod ui;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayStat {
    pub date: String,
    pub views: i64,
    pub orders: i64,
    pub revenue_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    /// The last 30 days, oldest first; bot views are not counted.
    pub days: Vec<DayStat>,
    /// The shop's IANA time zone: the days run midnight to midnight in it.
    pub time_zone: String,
    pub views_7: i64,
    pub views_30: i64,
    pub orders_7: i64,
    pub orders_30: i64,
    /// Confirmed, shipped and delivered orders' totals (new orders are `pending`).
    pub revenue_7: String,
    pub revenue_30: String,
    /// New orders waiting for confirmation (any age), and their total.
    pub pending_orders: i64,
    pub pending: String,
    /// Human visits arriving from outside the shop in 30 days (see `conversion_30`).
    pub visits_30: i64,
    /// Orders ÷ visits × 100, when there were visits.
    pub conversion_30: Option<f64>,
    pub top_viewed: Vec<(String, i64)>,
    pub top_ordered: Vec<(String, i64)>,
    pub new_orders: Vec<crate::orders::OrderSummary>,
    pub chat: ChatStats,
    /// The set-up checklist, in order; each step ticks itself off from what the shop has.
    pub setup: Vec<SetupStep>,
}

/// One step of setting up a shop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetupStep {
    pub label: String,
    /// What doing it looks like, or how it was noticed.
    pub hint: String,
    pub href: String,
    pub done: bool,
}

/// WhatsApp over the last 30 days: what the agent handled and what it handed over.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatStats {
    /// Conversations the agent answered in.
    pub agent_conversations: i64,
    pub handovers: i64,
    /// Orders placed in the chat with the agent, and their value (cancelled ones left out).
    pub assisted_orders: i64,
    pub assisted_value: String,
    /// Median time from a conversation's first customer message to the first answer (by the
    /// agent or a person), in seconds.
    pub median_first_response_secs: Option<i64>,
}
