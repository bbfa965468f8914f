//! The inbox: one conversation per customer, its thread, the composer and live updates. Reads
//! what the WhatsApp channel stores; sends through its outbound queue.

pub mod api;
#[cfg(feature = "ssr")]
pub mod live;
#[cfg(feature = "ssr")]
pub mod ssr;
pub mod ui;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The customer-service window: free-form messages only within 24 hours of the customer's last
/// message (by Meta's timestamps).
pub const WINDOW_SECS: i64 = 24 * 3600;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct InboxQuery {
    #[serde(default)]
    pub q: String,
    /// "", "unread", "attention", "ai", "human".
    #[serde(default)]
    pub filter: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationRow {
    pub id: Uuid,
    pub customer_name: String,
    pub phone: String,
    pub last_preview: String,
    pub last_message_at: String,
    pub unread: i32,
    /// "ai", "human" or "attention".
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationView {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub customer_name: String,
    pub phone: String,
    pub marketing_opt_out: bool,
    pub state: String,
    /// Seconds left in the 24-hour window; 0 when closed (or never opened).
    pub window_secs_left: i64,
    pub messages: Vec<MessageView>,
    pub orders: Vec<CustomerOrder>,
    /// Approved templates that can be sent when the window is closed.
    pub templates: Vec<TemplateOption>,
    pub channel_connected: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageView {
    pub id: Uuid,
    /// "in", "out" or "note".
    pub direction: String,
    pub sent_by: String,
    pub kind: String,
    pub body: String,
    pub sent_at: String,
    /// Outbound: queued, sending, sent, delivered, read, failed. Inbound: received.
    pub status: String,
    /// Plain words for a failure, from Meta's error code.
    pub error: Option<String>,
    pub media: Option<MediaView>,
    /// Extra lines shown under the body (location, contacts, order lines, list/button choices).
    pub details: Vec<String>,
    /// A reaction from the customer to this message.
    pub reaction: Option<String>,
    pub can_retry: bool,
    /// On the first message of an agent's answer: why it answered so (engine, tools called
    /// and what they found, tokens, latency, amounts it was not allowed to state).
    pub why: Vec<String>,
    /// The agent's answers and the merchant's replies can become saved answers: the
    /// customer's message before it (the question to prefill), and whether it already is one.
    pub can_save_answer: bool,
    pub question: String,
    pub saved_answer: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaView {
    /// pending, stored, failed, expired.
    pub status: String,
    pub url: Option<String>,
    pub mime: String,
    pub filename: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerOrder {
    pub id: Uuid,
    pub number: i32,
    pub status: String,
    pub total: String,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateOption {
    pub name: String,
    pub language: String,
    pub body_text: String,
    pub body_params: i32,
}

/// One of the shop's images the composer can send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShopPhoto {
    pub id: Uuid,
    pub thumb_url: String,
    /// The product it belongs to (or its alt text).
    pub label: String,
}

/// The composer's choices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Outgoing {
    Text {
        body: String,
    },
    /// A product card: image, title and price read from the database, link to its page.
    Product {
        product_id: Uuid,
    },
    /// One of the shop's product images, with an optional caption.
    Image {
        image_id: Uuid,
        caption: String,
    },
    Template {
        name: String,
        language: String,
        params: Vec<String>,
    },
}
