//! The WhatsApp channel page: the number's health, connecting it (Embedded Signup or manual
//! setup), alert settings and message templates. Every change is a server-function form, so the
//! page works before the WASM loads; only Embedded Signup needs JavaScript (/whatsapp-signup.js).

use super::api::{
    CreateProductTemplates, Disconnect, ManualSetup, SaveChannelSettings, SyncTemplates,
    get_channel,
};
use super::{AccountStatus, AccountView, ChannelView, EmbeddedSignupSettings, TemplateView};
use crate::ui::{Field, FormError, PageTitle, action_error, field_error, general_error};
use leptos::form::ActionForm;
use leptos::prelude::*;

/// The address of this page. It is always reached by a full page load: it sends its own
/// Content-Security-Policy, which lets the Facebook SDK in.
pub const CHANNEL_PAGE: &str = "/dashboard/channels/whatsapp";

fn short_date(rfc3339: &str) -> String {
    rfc3339.get(..16).unwrap_or(rfc3339).replace('T', " ")
}

fn onboarding_label(mode: &str) -> String {
    match mode {
        "embedded" => "Embedded Signup".into(),
        "coexistence" => "Embedded Signup, with the WhatsApp Business app (coexistence)".into(),
        "manual" => "Manual setup (your own Meta app)".into(),
        other => other.replace('_', " "),
    }
}

fn or_unknown(value: &str) -> String {
    if value.is_empty() {
        "Unknown".into()
    } else {
        value.replace('_', " ")
    }
}

#[component]
pub fn ChannelPage() -> impl IntoView {
    let manual = ServerAction::<ManualSetup>::new();
    let disconnect = ServerAction::<Disconnect>::new();
    let settings = ServerAction::<SaveChannelSettings>::new();
    let sync = ServerAction::<SyncTemplates>::new();
    let create = ServerAction::<CreateProductTemplates>::new();
    let agent = ServerAction::<crate::agent::api::SaveAgentSettings>::new();
    let channel = Resource::new(
        move || {
            (
                manual.version().get(),
                disconnect.version().get(),
                settings.version().get(),
                sync.version().get(),
                create.version().get(),
                agent.version().get(),
            )
        },
        |_| get_channel(),
    );
    let actions = ChannelActions {
        manual,
        disconnect,
        settings,
        sync,
        create,
        agent,
    };
    view! {
        <PageTitle title="WhatsApp"/>
        <h1>"WhatsApp"</h1>
        // Transition, not Suspense: after a form the old content stays until the new arrives.
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match channel.await {
                    Err(e) => view! { <p class="notice error">{e.to_string()}</p> }.into_any(),
                    Ok(c) => view! { <Channel channel=c actions/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[derive(Clone, Copy)]
struct ChannelActions {
    manual: ServerAction<ManualSetup>,
    disconnect: ServerAction<Disconnect>,
    settings: ServerAction<SaveChannelSettings>,
    sync: ServerAction<SyncTemplates>,
    create: ServerAction<CreateProductTemplates>,
    agent: ServerAction<crate::agent::api::SaveAgentSettings>,
}

#[component]
fn Channel(channel: ChannelView, actions: ChannelActions) -> impl IntoView {
    let ChannelView {
        embedded_signup,
        account,
        platform_webhook_url,
        simulator,
        agent,
    } = channel;
    let needs_connecting = account
        .as_ref()
        .is_none_or(|a| a.status != AccountStatus::Connected);
    let has_account = account.is_some();
    let signup_available = embedded_signup.is_some();
    view! {
        {account.clone().map(|a| view! { <AccountCard account=a disconnect=actions.disconnect/> })}
        {match (needs_connecting, embedded_signup) {
            (true, Some(settings)) => Some(view! { <EmbeddedSignup settings simulator reconnect=has_account/> }),
            _ => None,
        }}
        {(!has_account && !signup_available).then(|| view! {
            <p class="notice">"Connect your WhatsApp Business number with your own Meta app below."</p>
        })}
        <ManualSetupForm action=actions.manual open=!signup_available && needs_connecting/>
        {account.map(|a| view! {
            <WebhookInfo account=a.clone() platform_webhook_url=platform_webhook_url.clone()/>
            <SettingsForm account=a.clone() action=actions.settings/>
            {agent.clone().map(|s| view! { <crate::agent::ui::AgentSettingsCard settings=s save=actions.agent/> })}
            <Templates templates=a.templates sync=actions.sync create=actions.create/>
        })}
    }
}

#[component]
fn AccountCard(account: AccountView, disconnect: ServerAction<Disconnect>) -> impl IntoView {
    let status = account.status;
    let err = action_error(disconnect);
    view! {
        <section class="card wa-account" aria-labelledby="wa-account-title">
            <div class="page-head">
                <h2 id="wa-account-title">
                    {if account.display_phone.is_empty() { "Your number".to_string() } else { account.display_phone.clone() }}
                </h2>
                <span class=format!("badge wa-{}", status.as_str()) data-testid="wa-status">{status.label()}</span>
            </div>
            {(!account.status_reason.is_empty()).then(|| view! {
                <p class=if status == AccountStatus::Connected { "muted" } else { "notice error" }>{account.status_reason.clone()}</p>
            })}
            <dl class="facts">
                <dt>"Verified name"</dt><dd>{or_unknown(&account.verified_name)}</dd>
                <dt>"Quality rating"</dt><dd>{or_unknown(&account.quality_rating)}</dd>
                <dt>"Messaging tier"</dt><dd>{or_unknown(&account.messaging_tier)}</dd>
                <dt>"Connected with"</dt><dd>{onboarding_label(&account.onboarding)}</dd>
                {(account.onboarding == "coexistence").then(|| view! {
                    <dt>"Chat history from the app"</dt>
                    <dd data-testid="wa-history">{history_label(account.history_progress, account.history_declined.as_deref())}</dd>
                })}
                <dt>"Access token"</dt><dd><code>{format!("…{}", account.token_last4)}</code></dd>
                <dt>"Token expiry"</dt><dd><TokenExpiry days_left=account.token_days_left expires_at=account.token_expires_at.clone()/></dd>
                <dt>"Last webhook received"</dt>
                <dd data-testid="last-webhook">{account.last_webhook_at.as_deref().map_or_else(|| "No webhook received yet".to_string(), short_date)}</dd>
                <dt>"Phone number ID"</dt><dd><code>{account.phone_number_id.clone()}</code></dd>
                <dt>"WhatsApp Business account ID"</dt><dd><code>{account.waba_id.clone()}</code></dd>
            </dl>
            {(status != AccountStatus::Disconnected).then(|| view! {
                // A <details> asks "are you sure?" without any JavaScript.
                <details class="confirm">
                    <summary class="button">"Disconnect this number…"</summary>
                    <p>"Bizmaat will stop receiving and sending WhatsApp messages for this number until you connect it again. Your conversations stay here."</p>
                    <FormError error=err/>
                    <ActionForm action=disconnect>
                        <button type="submit" class="button danger">"Yes, disconnect"</button>
                    </ActionForm>
                </details>
            })}
        </section>
    }
}

/// Where the WhatsApp Business app's chat history stands (coexistence numbers).
fn history_label(progress: Option<i32>, declined: Option<&str>) -> String {
    match (declined, progress) {
        (Some(why), _) => format!(
            "Not shared: {why}. Conversations start from when you connected; turn on chat history sharing in the WhatsApp Business app and reconnect to bring earlier chats in."
        ),
        (None, Some(p)) if p >= 100 => "Imported (the last 6 months)".to_string(),
        (None, Some(p)) => format!("Importing… {p}%"),
        (None, None) => "Waiting for WhatsApp to send it (usually within minutes)".to_string(),
    }
}

#[component]
fn TokenExpiry(days_left: Option<i64>, expires_at: Option<String>) -> impl IntoView {
    let on = expires_at
        .as_deref()
        .map(|d| format!(" ({})", short_date(d)))
        .unwrap_or_default();
    match days_left {
        None => view! { <span data-testid="token-expiry">"Does not expire"</span> }.into_any(),
        Some(d) if d < 0 => view! {
            <strong class="warning-text" data-testid="token-expiry">"Expired" {on}</strong>
            <p class="notice error" role="alert">"The access token has expired: WhatsApp messages cannot be sent or received. Reconnect the number."</p>
        }.into_any(),
        Some(d) => {
            let text = match d {
                0 => "Expires today".to_string(),
                1 => "Expires in 1 day".to_string(),
                d => format!("Expires in {d} days"),
            };
            if d <= 7 {
                view! {
                    <strong class="warning-text" data-testid="token-expiry">{text} {on}</strong>
                    <p class="notice error" role="alert">"The access token expires soon. Reconnect the number before then, or messages will stop."</p>
                }.into_any()
            } else {
                view! { <span data-testid="token-expiry">{text} {on}</span> }.into_any()
            }
        }
    }
}

/// The markup /whatsapp-signup.js drives: it reads the data attributes, runs the signup flow,
/// posts the result and reloads the page.
#[component]
fn EmbeddedSignup(
    settings: EmbeddedSignupSettings,
    simulator: bool,
    reconnect: bool,
) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="wa-signup-title">
            <h2 id="wa-signup-title">"Embedded Signup"</h2>
            <p>"Log in with Facebook, choose or create your WhatsApp Business account and number, and Bizmaat sets up the rest."</p>
            {simulator.then(|| view! {
                <p class="notice" data-testid="simulator-note">
                    "This server runs the WhatsApp simulator: no Meta account is needed. "
                    <a href="/simulator" rel="external">"Open the customer simulator"</a>
                </p>
            })}
            <section
                id="wa-embedded-signup"
                data-app-id=settings.app_id
                data-config-id=settings.config_id
                data-api-version=settings.api_version
                data-extras=settings.extras
                data-origin-host=settings.message_origin_host
                data-sdk-url=settings.sdk_url
            >
                <button type="button" id="wa-connect" class="button primary">
                    {if reconnect { "Reconnect WhatsApp" } else { "Connect WhatsApp" }}
                </button>
                <p id="wa-signup-status" role="status" aria-live="polite"></p>
            </section>
            <script src="/whatsapp-signup.js" defer></script>
        </section>
    }
}

#[component]
fn ManualSetupForm(action: ServerAction<ManualSetup>, open: bool) -> impl IntoView {
    let err = action_error(action);
    let done = Signal::derive(move || action.value().get().is_some_and(|r| r.is_ok()));
    view! {
        <details class="card" open=open>
            <summary><h2 class="summary-title">"Manual setup"</h2></summary>
            <p>"Use your own Meta app: copy these from the WhatsApp section of Meta's App Dashboard. Bizmaat checks them with Meta before saving."</p>
            <ActionForm action attr:class="form" attr:novalidate=true>
                <FormError error=general_error(err)/>
                <Show when=move || done.get()>
                    <div class="notice ok" role="status">"Number connected."</div>
                </Show>
                <Field label="Phone number ID" name="phone_number_id" required=true
                    hint="WhatsApp → API Setup: the “Phone number ID” under your number (digits only)."
                    error=field_error(err, "phone_number_id")/>
                <Field label="WhatsApp Business account ID" name="waba_id" required=true
                    hint="WhatsApp → API Setup: the “WhatsApp Business Account ID” (digits only)."
                    error=field_error(err, "waba_id")/>
                <Field label="Access token" name="access_token" kind="password" autocomplete="off" required=true
                    hint="A permanent token of a system user with whatsapp_business_messaging and whatsapp_business_management. Stored encrypted."
                    error=field_error(err, "access_token")/>
                <Field label="App secret" name="app_secret" kind="password" autocomplete="off" required=true
                    hint="App settings → Basic → App secret. Used to check that webhooks really come from Meta."
                    error=field_error(err, "app_secret")/>
                <button type="submit" class="button primary" disabled=move || action.pending().get()>"Save and check"</button>
            </ActionForm>
        </details>
    }
}

#[component]
fn WebhookInfo(account: AccountView, platform_webhook_url: String) -> impl IntoView {
    match (account.webhook_url, account.verify_token) {
        (Some(url), Some(token)) => view! {
            <section class="card" aria-labelledby="wa-webhook-title">
                <h2 id="wa-webhook-title">"Webhook"</h2>
                <p>"In Meta's App Dashboard, open WhatsApp → Configuration → Webhook, paste these two values, then subscribe to the "<code>"messages"</code>" field."</p>
                <dl class="facts">
                    <dt>"Callback URL"</dt><dd><code class="copy" data-testid="webhook-url">{url}</code></dd>
                    <dt>"Verify token"</dt><dd><code class="copy" data-testid="verify-token">{token}</code></dd>
                </dl>
            </section>
        }.into_any(),
        _ => view! {
            <section class="card" aria-labelledby="wa-webhook-title">
                <h2 id="wa-webhook-title">"Webhook"</h2>
                <p class="muted">"Nothing to do: numbers connected with Embedded Signup send their messages to Bizmaat's own webhook ("<code>{platform_webhook_url}</code>") automatically."</p>
            </section>
        }.into_any(),
    }
}

#[component]
fn SettingsForm(account: AccountView, action: ServerAction<SaveChannelSettings>) -> impl IntoView {
    let err = action_error(action);
    let saved = Signal::derive(move || action.value().get().is_some_and(|r| r.is_ok()));
    view! {
        <section class="card" aria-labelledby="wa-settings-title">
            <h2 id="wa-settings-title">"Alerts and notifications"</h2>
            <ActionForm action attr:class="form" attr:novalidate=true>
                <FormError error=general_error(err)/>
                <Show when=move || saved.get()>
                    <div class="notice ok" role="status">"Settings saved."</div>
                </Show>
                <Field label="Your personal WhatsApp number for alerts" name="alert_phone" kind="tel"
                    value=account.alert_phone.clone()
                    hint="Bizmaat messages you here when a customer needs you. With the country code; it must differ from the business number."
                    error=field_error(err, "alert_phone")/>
                <div class="field check">
                    // `value="true"`: the server function reads this field as a bool.
                    <input type="checkbox" id="f-notify_order_updates" name="notify_order_updates" value="true"
                        checked=account.notify_order_updates/>
                    <label for="f-notify_order_updates">"Tell customers on WhatsApp when their order status changes"</label>
                    <p class="field-error" role="alert">{move || field_error(err, "notify_order_updates").get()}</p>
                </div>
                <button type="submit" class="button primary" disabled=move || action.pending().get()>"Save settings"</button>
            </ActionForm>
        </section>
    }
}

#[component]
fn Templates(
    templates: Vec<TemplateView>,
    sync: ServerAction<SyncTemplates>,
    create: ServerAction<CreateProductTemplates>,
) -> impl IntoView {
    let sync_err = action_error(sync);
    let create_err = action_error(create);
    let sync_ok = Signal::derive(move || sync.value().get().is_some_and(|r| r.is_ok()));
    let create_ok = Signal::derive(move || create.value().get().is_some_and(|r| r.is_ok()));
    view! {
        <section class="card" aria-labelledby="wa-templates-title">
            <h2 id="wa-templates-title">"Message templates"</h2>
            <p class="muted">"Outside the 24-hour window after a customer's last message, WhatsApp only allows templates that Meta has approved."</p>
            <div class="actions">
                <ActionForm action=sync>
                    <button type="submit" class="button" disabled=move || sync.pending().get()>"Sync from Meta"</button>
                </ActionForm>
                <ActionForm action=create>
                    <button type="submit" class="button" disabled=move || create.pending().get()>"Create the templates Bizmaat needs"</button>
                </ActionForm>
            </div>
            <FormError error=sync_err/>
            <FormError error=create_err/>
            <Show when=move || sync_ok.get()>
                <div class="notice ok" role="status">"Sync requested. Reload the page in a moment to see the templates."</div>
            </Show>
            <Show when=move || create_ok.get()>
                <div class="notice ok" role="status">"Templates submitted to Meta for approval. Approval usually takes minutes, sometimes a day."</div>
            </Show>
            {if templates.is_empty() {
                view! { <p class="empty">"No templates yet."</p> }.into_any()
            } else {
                view! {
                    <div class="table-scroll">
                        <table class="table" data-testid="templates">
                            <thead><tr>
                                <th scope="col">"Name"</th><th scope="col">"Language"</th><th scope="col">"Category"</th>
                                <th scope="col">"Status"</th><th scope="col">"Text"</th><th scope="col">"Reason"</th>
                            </tr></thead>
                            <tbody>
                                {templates.into_iter().map(|t| view! {
                                    <tr>
                                        <td><code>{t.name}</code></td>
                                        <td>{t.language}</td>
                                        <td>{t.category.to_lowercase()}</td>
                                        <td><span class=format!("badge tpl-{}", t.status.to_lowercase())>{t.status.to_lowercase()}</span></td>
                                        <td class="pre-wrap">{t.body_text}</td>
                                        <td>{t.reason}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
    }
}
