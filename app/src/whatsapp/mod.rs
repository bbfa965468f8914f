//! The WhatsApp channel: connecting a number (Embedded Signup or manual setup), the signed
//! webhook and its processing, sending through the outbound queue, templates, and the simulator
//! that stands in for Meta when there is no Meta account (development, `make run`, tests).
//!
//! One inbound path and one outbound path:
//! webhook → `wa_webhook_events` (raw, committed; the table is the inbound queue) → the inbox
//! processor, many deliveries per transaction → customers, conversations, messages, statuses →
//! NOTIFY; follow-up work (media downloads, orders) as jobs. Outbound message row → job
//! `wa_send` → Graph API.

pub mod api;
#[cfg(feature = "ssr")]
pub mod graph;
#[cfg(feature = "ssr")]
pub mod inbound;
#[cfg(feature = "ssr")]
pub mod outbound;
#[cfg(feature = "ssr")]
pub mod routes;
#[cfg(feature = "ssr")]
pub mod simulator;
#[cfg(feature = "ssr")]
pub mod ssr;
pub mod ui;

use serde::{Deserialize, Serialize};

/// The channel page's view of the shop's number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelView {
    /// Whether this server can run Embedded Signup (a Meta app, or the simulator).
    pub embedded_signup: Option<EmbeddedSignupSettings>,
    pub account: Option<AccountView>,
    /// Where webhooks of Embedded Signup numbers arrive (the platform app's callback).
    pub platform_webhook_url: String,
    pub simulator: bool,
    /// The shop assistant's settings, shown with a connected account. Loaded with the page
    /// rather than by the card itself: a resource created inside this page's `Transition`
    /// rendered the card's form twice after hydration now and then.
    pub agent: Option<crate::agent::AgentSettings>,
}

/// What the browser needs to launch Embedded Signup (nothing secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddedSignupSettings {
    pub app_id: String,
    pub config_id: String,
    pub api_version: String,
    /// JSON object passed to `FB.login` as `extras`.
    pub extras: String,
    /// `WA_EMBEDDED_SIGNUP` messages are accepted only from this origin's host (or subdomains).
    pub message_origin_host: String,
    /// The Facebook JS SDK, or the simulator's stand-in.
    pub sdk_url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountView {
    pub status: AccountStatus,
    pub status_reason: String,
    pub onboarding: String,
    pub display_phone: String,
    pub verified_name: String,
    pub quality_rating: String,
    pub messaging_tier: String,
    pub waba_id: String,
    pub phone_number_id: String,
    pub token_last4: String,
    /// RFC 3339, or none when the token does not expire.
    pub token_expires_at: Option<String>,
    /// Days until the token expires (negative once expired).
    pub token_days_left: Option<i64>,
    pub last_webhook_at: Option<String>,
    /// Manual accounts: their own webhook path and verify token, to paste into Meta's dashboard.
    pub webhook_url: Option<String>,
    pub verify_token: Option<String>,
    pub alert_phone: String,
    pub notify_order_updates: bool,
    /// Coexistence: how much of the WhatsApp Business app's chat history has arrived (Meta's
    /// percentage), or why it will not (the merchant turned history sharing off).
    pub history_progress: Option<i32>,
    pub history_declined: Option<String>,
    pub templates: Vec<TemplateView>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    Connected,
    NeedsReconnect,
    Disconnected,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Connected => "connected",
            AccountStatus::NeedsReconnect => "needs_reconnect",
            AccountStatus::Disconnected => "disconnected",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "connected" => AccountStatus::Connected,
            "needs_reconnect" => AccountStatus::NeedsReconnect,
            _ => AccountStatus::Disconnected,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            AccountStatus::Connected => "Connected",
            AccountStatus::NeedsReconnect => "Needs reconnecting",
            AccountStatus::Disconnected => "Disconnected",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateView {
    pub name: String,
    pub language: String,
    pub category: String,
    pub status: String,
    pub body_text: String,
    pub body_params: i32,
    pub reason: String,
}

/// What the Embedded Signup page posts once it has both the code and the session event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SignupResult {
    pub code: String,
    /// The `event` of the `WA_EMBEDDED_SIGNUP` message (FINISH, FINISH_ONLY_WABA,
    /// FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING, …).
    pub event: String,
    pub waba_id: String,
    #[serde(default)]
    pub phone_number_id: Option<String>,
    #[serde(default)]
    pub business_id: Option<String>,
}

/// The banner across the dashboard when the number needs attention.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelAlert {
    pub message: String,
}

/// Templates the product itself needs (created from the channel page, UTILITY category).
pub const ESCALATION_TEMPLATE: &str = "bizmaat_needs_you";
pub const ORDER_UPDATE_TEMPLATE: &str = "bizmaat_order_update";
