//! The public privacy policy. Its version is recorded at signup; changing the text means
//! raising the version so merchants can be told.

use crate::error::ApiError;
use crate::ui::PageTitle;
use leptos::prelude::*;

pub const PRIVACY_POLICY_VERSION: &str = "2026-11-25";

/// Where people write about their data; set by PRIVACY_CONTACT_EMAIL.
#[server(endpoint = "privacy-contact", client = crate::api_client::ApiClient)]
pub async fn privacy_contact() -> Result<String, ApiError> {
    Ok(crate::state::use_state()?
        .config
        .privacy_contact_email
        .clone())
}

#[component]
pub fn PrivacyPage() -> impl IntoView {
    let contact = Resource::new(|| (), |_| privacy_contact());
    let contact_view = move || {
        Suspend::new(async move {
            let email = contact
                .await
                .unwrap_or_else(|_| "our support address".into());
            view! { <a href=format!("mailto:{email}")>{email.clone()}</a> }
        })
    };
    view! {
        <PageTitle title="Privacy policy"/>
        <main class="page prose" id="main">
            <h1>"Privacy policy"</h1>
            <p class="muted">"Version " {PRIVACY_POLICY_VERSION}</p>
            <p>"Bizmaat helps small businesses sell over WhatsApp: a shop, a storefront, and an assistant that answers customers. This page says, in plain words, what we keep about you and your customers, why, who helps us, and what you can ask of us."</p>

            <h2>"What we collect"</h2>
            <ul>
                <li><strong>"Your account and business: "</strong>"your name, email, a hash of your password (never the password itself), your business name, and when you confirmed you are 18 or older and accepted this policy."</li>
                <li><strong>"Your store set-up: "</strong>"shop name, address, contact details, currency, products, prices, categories and settings."</li>
                <li><strong>"WhatsApp Business credentials: "</strong>"the identifiers and access token of the WhatsApp Business number you connect. Tokens are encrypted before we store them."</li>
                <li><strong>"Customer messages: "</strong>"messages your customers send to your WhatsApp number, and our replies. The AI assistant reads them to answer from your catalogue."</li>
                <li><strong>"Product images "</strong>"that you upload."</li>
                <li><strong>"Usage data: "</strong>"which storefront pages are viewed (without cookies or tracking scripts), and which dashboard features you use, so we can show you your numbers and improve the product."</li>
            </ul>

            <h2>"Why we use it"</h2>
            <p>"To run your shop and storefront, to deliver and answer WhatsApp messages for you, to take and show orders, to keep your account secure (for example login limits and password reset emails), and to tell you about important changes. We send marketing email only if you have not opted out, and you can opt out at any time."</p>

            <h2>"Who helps us"</h2>
            <ul>
                <li><strong>"Meta (WhatsApp Cloud API)"</strong>" carries messages between your customers and your WhatsApp number."</li>
                <li><strong>"OpenAI"</strong>" (or another AI service the operator configures) processes customer messages to draft answers."</li>
                <li><strong>"Cloudinary"</strong>" stores and resizes product images, when the operator enables it."</li>
                <li><strong>"PostgreSQL hosting"</strong>" stores the database, with the hosting provider the operator of this Bizmaat installation chooses."</li>
            </ul>
            <p>"We give these services only what they need for their part of the work, and we do not sell personal data."</p>

            <h2>"Your customers' data"</h2>
            <p>"For the personal data of your customers (names, phone numbers, messages, orders) you are the controller and we process it on your behalf, only to provide the service to you. You are responsible for telling your customers how you use their data."</p>

            <h2>"Security"</h2>
            <p>"Passwords are stored as strong one-way hashes (argon2id). Sessions use short-lived tokens in secure cookies, and you can log out of every device at once. Third-party tokens are encrypted at rest. Traffic should be served over HTTPS."</p>

            <h2>"How long we keep it"</h2>
            <p>"We keep your data while your account is open. When you delete your account, deletion of your data, including your customers' data and images, completes within 30 days. Backups age out on the same schedule."</p>

            <h2>"Your rights"</h2>
            <p>"You can ask for a copy of your data, correct it, delete it, and opt out of marketing. Most of this you can do yourself in the dashboard; for anything else, write to us and we answer within 30 days."</p>

            <h2>"Adults only"</h2>
            <p>"Bizmaat is for people who are 18 or older. We do not knowingly hold accounts of anyone younger and will delete them when we learn of them."</p>

            <h2>"Changes"</h2>
            <p>"When this policy changes we raise its version, show a notice in the dashboard and email account holders about important changes before they take effect."</p>

            <h2>"Contact"</h2>
            <p>"Questions or requests about your data: " <Suspense fallback=|| "…">{contact_view}</Suspense></p>
        </main>
    }
}
