//! The shop's agent on WhatsApp (issue 11): it answers customers from the shop's catalog,
//! takes orders in the chat, and hands the conversation to the merchant when a person should
//! step in. Two engines share the pipeline (`ssr::turn`), the retrieval, the orders service
//! and the handover: the AI agent (`llm`, any OpenAI-compatible chat endpoint, its amounts
//! checked by `grounding`) and the shop assistant (`assistant`, guided messages with buttons
//! and lists, no language model), which also stands in whenever the model cannot answer.

#[cfg(feature = "ssr")]
pub mod lang;

pub mod api;
#[cfg(feature = "ssr")]
pub mod assistant;
#[cfg(feature = "ssr")]
pub mod embed;
#[cfg(feature = "ssr")]
pub mod faq;
#[cfg(feature = "ssr")]
pub mod grounding;
pub mod hours;
#[cfg(feature = "ssr")]
pub mod llm;
#[cfg(feature = "ssr")]
pub mod playground;
#[cfg(feature = "ssr")]
pub mod retrieval;
#[cfg(feature = "ssr")]
pub mod ssr;
pub mod ui;

use serde::{Deserialize, Serialize};

/// The shop's agent settings as the dashboard shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentSettings {
    /// ai, assistant or off.
    pub mode: String,
    /// Whether this server has a chat model (the "ai" mode is offered).
    pub ai_available: bool,
    /// What the merchant lets the AI agent tell customers (delivery, returns, payment, hours).
    pub facts: String,
    /// How the AI agent words its answers: friendly, formal or brief (`TONES`).
    pub tone: String,
    /// The shop's monthly token budget as typed; empty: the server's default.
    pub token_budget: String,
    pub default_token_budget: i64,
    /// Tokens used this month, and turns the assistant answered instead of the model.
    pub tokens_used: i64,
    pub fallbacks: i64,
    /// The model's last failure this month, if any, and when (RFC 3339).
    pub last_failure: String,
    /// The shop's own wording for the first answer; empty: `default_disclosure`.
    pub disclosure: String,
    pub default_disclosure: String,
    /// The rule "hand me orders above": the amount as the merchant typed it in the form's
    /// plain format ("500000.00"); empty: no rule.
    pub escalate_above: String,
    /// The shop's currency code, for the form's label.
    pub currency: String,
    /// Minutes without a reply from the person who took a conversation over before the
    /// assistant takes it back; empty: only by hand.
    pub hand_back_after: String,
    /// Conversations waiting for the merchant (an open handover).
    pub open_handovers: i64,
    /// When the agent answers: always, outside_hours or during_hours (`hours::ANSWERS_WHEN`).
    pub answers_when: String,
    /// Opening hours: ISO weekdays (1 = Monday), "HH:MM" opening and closing, IANA time zone.
    pub hours_days: Vec<i16>,
    pub hours_open: String,
    pub hours_close: String,
    pub time_zone: String,
    /// The shop's local time now and whether the agent answers at this moment, in words.
    pub hours_now: String,
    /// Sent to a customer who writes while the shop is closed and the agent answers only
    /// during opening hours (once per conversation per [`AWAY_EVERY_HOURS`]); empty: none.
    #[serde(default)]
    pub away_message: String,
}

/// The away message is said again to the same customer after this many hours at the least.
pub const AWAY_EVERY_HOURS: i64 = 12;

/// A saved answer: the agent answers questions like this one with this answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaqEntry {
    pub id: uuid::Uuid,
    pub question: String,
    pub answer: String,
    /// merchant, correction (an AI answer marked wrong) or chat (the merchant's reply in a chat).
    pub source: String,
    /// The conversation it came from, for a link.
    pub conversation_id: Option<uuid::Uuid>,
    pub updated_at: String,
}

/// Most saved answers a shop keeps: the model reads the relevant ones each turn.
pub const FAQ_LIMIT: i64 = 300;

/// The AI agent's tones: (value, what the settings form says).
pub const TONES: [(&str, &str); 3] = [
    ("friendly", "Friendly and warm"),
    ("formal", "Polite and formal"),
    ("brief", "Short and to the point"),
];

/// The hand-back timeouts the settings form offers, in minutes.
pub const HAND_BACK_CHOICES: [i32; 4] = [30, 60, 240, 1440];

/// "30 minutes", "1 hour", "4 hours".
pub fn minutes_words(minutes: i32) -> String {
    match minutes {
        60 => "1 hour".into(),
        m if m % 60 == 0 => format!("{} hours", m / 60),
        m => format!("{m} minutes"),
    }
}

/// "Try your agent": the merchant's test conversation with their own shop, as the playground
/// shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Playground {
    /// Why the playground cannot run here, in words the merchant can act on; `None`: ready.
    pub blocked: Option<String>,
    /// Where to go to fix it (connect WhatsApp, agent settings).
    pub fix_href: Option<String>,
    /// The shop's agent mode (ai, assistant, off).
    pub mode: String,
    /// The test customer's number, as the inbox shows it.
    pub customer: String,
    /// The test conversation in the inbox, once the first message arrived.
    pub conversation_id: Option<uuid::Uuid>,
    /// The conversation is with a person (taken over or handed over): the agent is quiet.
    pub with_person: bool,
    /// The customer spoke last and the agent will answer.
    pub waiting: bool,
    pub messages: Vec<PlaygroundMessage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlaygroundMessage {
    pub id: uuid::Uuid,
    /// The merchant playing the customer wrote it.
    pub from_customer: bool,
    /// agent, merchant, phone, system (outbound) or customer.
    pub sent_by: String,
    pub body: String,
    /// Lines under the body (a list row's description, an order's lines).
    pub details: Vec<String>,
    /// Reply buttons and list rows the customer can tap (on the latest answer only).
    pub choices: Vec<PlaygroundChoice>,
    /// The trace: why the agent answered so.
    pub why: Vec<String>,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlaygroundChoice {
    /// button or list.
    pub kind: String,
    pub id: String,
    pub title: String,
    /// A list row's second line (a product's price).
    pub description: String,
}
