//! The inbox: conversation list on the left, the open thread on the right (one column on narrow
//! screens). The server renders both, so a reload shows everything without JavaScript; once
//! hydrated, an EventSource refetches them whenever something changes, and the composer works.

use super::api::{
    RetryMedia, RetryMessage, SetMode, get_conversation, list_conversations, send_message,
};
use super::{
    ConversationRow, ConversationView, CustomerOrder, InboxQuery, MediaView, MessageView, Outgoing,
    TemplateOption,
};
use crate::agent::api::FaqFromMessage;
use crate::catalog::ProductQuery;
use crate::error::ApiError;
use crate::links::encode_query;
use crate::ui::{FormError, PageTitle, action_error, field_error, general_error};
use crate::whatsapp::ui::CHANNEL_PAGE;
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_router::components::Outlet;
use leptos_router::hooks::{use_location, use_params_map, use_query_map};
use std::sync::Arc;
use uuid::Uuid;

const INBOX: &str = "/dashboard/inbox";

/// Counters that inbox data depends on. The dashboard shell provides them, so the unread badge
/// in its navigation refreshes together with the inbox.
#[derive(Clone, Copy)]
pub struct InboxLive {
    /// Bumped on every server-sent event (new message, status change, conversation change).
    pub events: RwSignal<u64>,
    /// The last event's JSON (`{"conversation_id", "kind"}`), for the handover notifications.
    pub last: RwSignal<Option<String>>,
    /// Bumped after an open thread has loaded, which marks its messages read.
    pub reads: RwSignal<u64>,
}

impl InboxLive {
    pub fn new() -> Self {
        Self {
            events: RwSignal::new(0),
            last: RwSignal::new(None),
            reads: RwSignal::new(0),
        }
    }

    /// The shell's counters, or fresh ones when the page is used outside the shell.
    pub fn get_or_provide() -> Self {
        use_context::<Self>().unwrap_or_else(|| {
            let live = Self::new();
            provide_context(live);
            live
        })
    }
}

impl Default for InboxLive {
    fn default() -> Self {
        Self::new()
    }
}

/// Opens the tab's one event stream (the dashboard shell calls it once, so the inbox and the
/// handover notifications share it: every stream holds one of the browser's six connections
/// to the server) and bumps `events` on every message. The browser reconnects a dropped
/// stream by itself; events sent in the gap are lost, so every open refetches too.
#[cfg(feature = "hydrate")]
pub fn listen(live: InboxLive) {
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;

    let Ok(source) = web_sys::EventSource::new("/dashboard/inbox/events") else {
        return;
    };
    let bump = move || live.events.update(|n| *n += 1);
    let on_message =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
            live.last.set(e.data().as_string());
            bump();
        });
    // Every open refetches, the first too: whatever changed between the page's own load and
    // the stream's first open (a customer's message processed in that second) sent no event
    // this tab could hear, and would otherwise stay missing until the next one (seen: the
    // end-to-end window test, a message sent just before the inbox opened never appeared).
    let on_open = Closure::<dyn FnMut()>::new(bump);
    source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    // The closures live as long as the stream; both go when the page does.
    let kept = StoredValue::new_local((source, on_message, on_open));
    on_cleanup(move || {
        kept.try_with_value(|(source, ..)| source.close());
    });
}

fn inbox_query(q: &str, filter: &str) -> String {
    let mut parts = Vec::new();
    if !q.is_empty() {
        parts.push(format!("q={}", encode_query(q)));
    }
    if !filter.is_empty() {
        parts.push(format!("filter={}", encode_query(filter)));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// "5 Dec 14:03" from an RFC 3339 time. Taken from the text as it is (no time zone
/// conversion), so the server and the browser render the same thing.
fn compact_time(rfc3339: &str) -> String {
    let part =
        |range: std::ops::Range<usize>| rfc3339.get(range).and_then(|s| s.parse::<usize>().ok());
    match (part(5..7), part(8..10), rfc3339.get(11..16)) {
        (Some(month @ 1..=12), Some(day), Some(hm)) => format!("{day} {} {hm}", MONTHS[month - 1]),
        _ => rfc3339.to_string(),
    }
}

fn state_label(state: &str) -> &'static str {
    match state {
        "ai" => "Assistant",
        "human" => "You",
        "attention" => "Needs you",
        _ => "Open",
    }
}

fn error_text(e: &ApiError) -> String {
    match e {
        ApiError::Validation(fields) if !fields.is_empty() => {
            fields.values().cloned().collect::<Vec<_>>().join(" ")
        }
        e => e.to_string(),
    }
}

/// The list (always) and, through the outlet, the open thread or a placeholder.
#[component]
pub fn InboxPage() -> impl IntoView {
    let live = InboxLive::get_or_provide();
    let query = use_query_map();
    let filters = Memo::new(move |_| {
        let q = query.read();
        InboxQuery {
            q: q.get("q").unwrap_or_default().trim().to_string(),
            filter: q.get("filter").unwrap_or_default(),
        }
    });
    let location = use_location();
    let active = Memo::new(move |_| {
        location.pathname.with(|p| {
            p.strip_prefix(INBOX)
                .and_then(|rest| rest.strip_prefix('/'))
                .and_then(|id| id.parse::<Uuid>().ok())
        })
    });
    let list = Resource::new(
        move || (filters.get(), live.events.get(), live.reads.get()),
        |(q, ..)| list_conversations(q),
    );
    // The event stream is the dashboard shell's (one per tab), which bumps `live.events`.
    view! {
        <PageTitle title="Inbox"/>
        <div class="inbox" class:has-thread=move || active.get().is_some()>
            <section class="inbox-list" aria-labelledby="inbox-title">
                <h1 id="inbox-title">"Inbox"</h1>
                <InboxFilters filters action=Signal::derive(move || location.pathname.get())/>
                <Transition fallback=|| view! { <p>"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        let filtered = filters.with_untracked(|f| !f.q.is_empty() || !f.filter.is_empty());
                        match list.await {
                            Err(e) => view! { <p class="notice error">{e.to_string()}</p> }.into_any(),
                            Ok(rows) if rows.is_empty() && filtered => view! {
                                <p class="empty">"No conversations match."</p>
                            }.into_any(),
                            Ok(rows) if rows.is_empty() => view! {
                                <p class="empty">"No conversations yet. When a customer writes to your WhatsApp number, it appears here."</p>
                            }.into_any(),
                            Ok(rows) => view! {
                                <ul class="conversations">
                                    {rows.into_iter().map(|row| view! { <ConversationItem row filters active/> }).collect_view()}
                                </ul>
                            }.into_any(),
                        }
                    })}
                </Transition>
            </section>
            <div class="inbox-thread">
                <Outlet/>
            </div>
        </div>
    }
}

/// A plain GET form: it works without JavaScript and leaves the filters in the address.
#[component]
fn InboxFilters(filters: Memo<InboxQuery>, action: Signal<String>) -> impl IntoView {
    const FILTERS: [(&str, &str); 5] = [
        ("", "All"),
        ("unread", "Unread"),
        ("attention", "Needs you"),
        ("ai", "Assistant answering"),
        ("human", "You answering"),
    ];
    view! {
        <form class="filters inbox-filters" method="get" action=move || action.get() role="search">
            <div class="field">
                <label for="inbox-q">"Search"</label>
                <input id="inbox-q" type="search" name="q" value=move || filters.with(|f| f.q.clone())
                    placeholder="Name, phone or message"/>
            </div>
            <div class="field">
                <label for="inbox-filter">"Show"</label>
                <select id="inbox-filter" name="filter">
                    {FILTERS.into_iter().map(|(value, label)| view! {
                        <option value=value selected=move || filters.with(|f| f.filter == value)>{label}</option>
                    }).collect_view()}
                </select>
            </div>
            <button type="submit" class="button">"Apply"</button>
        </form>
    }
}

#[component]
fn ConversationItem(
    row: ConversationRow,
    filters: Memo<InboxQuery>,
    active: Memo<Option<Uuid>>,
) -> impl IntoView {
    let id = row.id;
    let is_active = move || active.get() == Some(id);
    let href = move || filters.with(|f| format!("{INBOX}/{id}{}", inbox_query(&f.q, &f.filter)));
    // Without a name the phone number stands in for it, once.
    let (name, phone) = if row.customer_name.trim().is_empty() {
        (row.phone, None)
    } else {
        (row.customer_name, Some(row.phone))
    };
    let unread = row.unread;
    view! {
        <li>
            <a class="conv-row" class:active=is_active class:unread={move || unread > 0 && !is_active()}
                href=href aria-current=move || is_active().then_some("page") data-testid="conversation-row">
                <span class="conv-top">
                    <strong class="conv-name">{name}</strong>
                    <time datetime=row.last_message_at.clone()>{compact_time(&row.last_message_at)}</time>
                </span>
                {phone.map(|p| view! { <span class="conv-phone">{p}</span> })}
                <span class="conv-bottom">
                    <span class="conv-preview">{row.last_preview}</span>
                    <span class=format!("badge state-{}", row.state)>{state_label(&row.state)}</span>
                    // The open conversation is being read right now: no badge for it.
                    {move || (unread > 0 && !is_active()).then(|| view! {
                        <span class="badge count" data-testid="unread" aria-label=format!("{unread} unread")>{unread}</span>
                    })}
                </span>
            </a>
        </li>
    }
}

/// What the right pane shows when no conversation is open (hidden on narrow screens).
#[component]
pub fn InboxPlaceholder() -> impl IntoView {
    view! { <p class="inbox-placeholder muted">"Choose a conversation to read it and reply."</p> }
}

#[component]
pub fn ThreadPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id").and_then(|v| v.parse::<Uuid>().ok()));
    // One `Thread` per conversation: switching conversations starts with a fresh composer.
    move || match id.get() {
        Some(id) => view! { <Thread id/> }.into_any(),
        None => view! { <crate::ui::NotFound/> }.into_any(),
    }
}

/// The composer's state. It lives outside the thread's view, which is rebuilt on every live
/// update, so a draft survives new messages arriving.
#[derive(Clone, Copy)]
struct Composer {
    /// The conversation it writes to.
    id: Uuid,
    draft: RwSignal<String>,
    product: RwSignal<String>,
    product_q: RwSignal<String>,
    /// The product list loads once the merchant opens "Send a product".
    want_products: RwSignal<bool>,
    template: RwSignal<String>,
    params: RwSignal<Vec<String>>,
    photo: RwSignal<String>,
    caption: RwSignal<String>,
    /// The shop's photos load once the merchant opens "Send a photo".
    want_photos: RwSignal<bool>,
    send: Action<Outgoing, Result<Uuid, ApiError>>,
    /// Sending needs the WASM; until it has loaded the buttons stay disabled.
    hydrated: RwSignal<bool>,
}

fn fresh_key() -> String {
    Uuid::now_v7().to_string()
}

impl Composer {
    fn new(id: Uuid) -> Self {
        let draft = RwSignal::new(String::new());
        let product = RwSignal::new(String::new());
        let template = RwSignal::new(String::new());
        let params = RwSignal::new(Vec::new());
        let photo = RwSignal::new(String::new());
        let caption = RwSignal::new(String::new());
        // One idempotency key per message being composed, per kind of message: a double click
        // or a retry after a lost answer sends it once.
        let text_key = RwSignal::new(fresh_key());
        let product_key = RwSignal::new(fresh_key());
        let template_key = RwSignal::new(fresh_key());
        let photo_key = RwSignal::new(fresh_key());
        let key_of = move |m: &Outgoing| match m {
            Outgoing::Product { .. } => product_key,
            Outgoing::Template { .. } => template_key,
            Outgoing::Image { .. } => photo_key,
            Outgoing::Text { .. } => text_key,
        };
        let send = Action::new(move |message: &Outgoing| {
            let message = message.clone();
            let key = key_of(&message);
            let idempotency_key = key.get_untracked();
            async move {
                let result = send_message(id, message.clone(), idempotency_key).await;
                match &result {
                    Ok(_) => {
                        key.set(fresh_key());
                        match message {
                            // Only clear what was sent: the merchant may have typed on meanwhile.
                            Outgoing::Text { body } => draft.update(|d| {
                                if *d == body {
                                    d.clear();
                                }
                            }),
                            Outgoing::Product { .. } => product.set(String::new()),
                            Outgoing::Template { .. } => {
                                template.set(String::new());
                                params.set(Vec::new());
                            }
                            Outgoing::Image { .. } => {
                                photo.set(String::new());
                                caption.set(String::new());
                            }
                        }
                    }
                    // Nothing was queued and the merchant has to change the message: a new one.
                    Err(ApiError::Validation(_)) => key.set(fresh_key()),
                    // Otherwise the request may have gone through: sending again must not repeat it.
                    Err(_) => {}
                }
                result
            }
        });
        Self {
            id,
            draft,
            product,
            product_q: RwSignal::new(String::new()),
            want_products: RwSignal::new(false),
            template,
            params,
            photo,
            caption,
            want_photos: RwSignal::new(false),
            send,
            hydrated: RwSignal::new(false),
        }
    }

    fn can_send(self) -> bool {
        self.hydrated.get() && !self.send.pending().get()
    }

    fn can_send_now(self) -> bool {
        self.hydrated.get_untracked() && !self.send.pending().get_untracked()
    }
}

/// Active products as (id, "title · price"), for "Send a product".
type Products = Resource<Result<Vec<(Uuid, String)>, ApiError>>;

#[derive(Clone, Copy)]
struct ThreadActions {
    mode: ServerAction<SetMode>,
    retry: ServerAction<RetryMessage>,
    retry_media: ServerAction<RetryMedia>,
}

#[component]
fn Thread(id: Uuid) -> impl IntoView {
    let live = InboxLive::get_or_provide();
    let actions = ThreadActions {
        mode: ServerAction::new(),
        retry: ServerAction::new(),
        retry_media: ServerAction::new(),
    };
    let composer = Composer::new(id);
    let thread = Resource::new(
        move || {
            (
                live.events.get(),
                actions.mode.version().get(),
                actions.retry.version().get(),
                actions.retry_media.version().get(),
                composer.send.version().get(),
            )
        },
        move |_| get_conversation(id, true),
    );
    let products: Products = Resource::new(
        move || (composer.want_products.get(), composer.product_q.get()),
        |(want, q)| async move {
            if !want {
                return Ok(Vec::new());
            }
            let list = crate::catalog::api::list_products(ProductQuery {
                q: Some(q).filter(|q| !q.trim().is_empty()),
                status: Some("active".into()),
                sort: Some("title".into()),
                ..Default::default()
            })
            .await?;
            Ok(list
                .items
                .into_iter()
                .map(|p| (p.id, format!("{} · {}", p.title, p.price)))
                .collect())
        },
    );
    Effect::new(move |_| composer.hydrated.set(true));
    // Loading the thread marked it read: the list and the navigation badge are now stale.
    Effect::new(move |_| {
        if let Some(Ok(_)) = thread.get() {
            live.reads.update(|n| *n += 1);
        }
    });
    view! {
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match thread.await {
                    Err(ApiError::NotFound) => view! { <crate::ui::NotFound/> }.into_any(),
                    Err(e) => view! { <p class="notice error">{e.to_string()}</p> }.into_any(),
                    Ok(c) => view! { <ThreadView conversation=c actions composer products/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn ThreadView(
    conversation: ConversationView,
    actions: ThreadActions,
    composer: Composer,
    products: Products,
) -> impl IntoView {
    let c = conversation;
    let name = if c.customer_name.trim().is_empty() {
        c.phone.clone()
    } else {
        c.customer_name.clone()
    };
    let retry_err = action_error(actions.retry);
    let media_err = action_error(actions.retry_media);
    let mode_err = action_error(actions.mode);
    let title = format!("{name} · Inbox");
    view! {
        <PageTitle title/>
        <div class="thread-layout">
            <section class="thread" aria-labelledby="thread-title">
                <header class="thread-head">
                    <a class="thread-back" href=INBOX>"← All conversations"</a>
                    <div class="thread-who">
                        <h2 id="thread-title">{name}</h2>
                        <p class="muted">
                            {c.phone.clone()} " · "
                            <a href=format!("/dashboard/customers/{}", c.customer_id)>"Customer profile"</a>
                        </p>
                        {c.marketing_opt_out.then(|| view! {
                            <span class="badge tag" data-testid="opt-out">"opted out of marketing"</span>
                        })}
                    </div>
                    <ModeToggle id=c.id state=c.state.clone() action=actions.mode/>
                </header>
                <FormError error=mode_err/>
                <FormError error=retry_err/>
                <FormError error=media_err/>
                // Reversed flex: the scroll position starts at the newest message, with no script.
                <div class="thread-scroll" tabindex="0" aria-label="Messages">
                    <ol class="messages">
                        {c.messages.into_iter().map(|m| view! { <Message message=m actions/> }).collect_view()}
                    </ol>
                </div>
                <ComposerView
                    connected=c.channel_connected
                    window_secs_left=c.window_secs_left
                    templates=c.templates
                    composer
                    products
                />
            </section>
            <CustomerOrders orders=c.orders/>
        </div>
    }
}

#[component]
fn ModeToggle(id: Uuid, state: String, action: ServerAction<SetMode>) -> impl IntoView {
    let choices: &[(&str, &str)] = match state.as_str() {
        "ai" => &[("human", "Answer yourself")],
        "human" => &[("ai", "Let the assistant answer")],
        _ => &[
            ("human", "Answer yourself"),
            ("ai", "Let the assistant answer"),
        ],
    };
    view! {
        <div class="mode-toggle">
            <span class=format!("badge state-{state}") data-testid="mode">{state_label(&state)}</span>
            {choices.iter().map(|(mode, label)| view! {
                <ActionForm action>
                    <input type="hidden" name="id" value=id.to_string()/>
                    <input type="hidden" name="mode" value=*mode/>
                    <button type="submit" class="button" disabled=move || action.pending().get()>{*label}</button>
                </ActionForm>
            }).collect_view()}
        </div>
    }
}

fn sender_label(sent_by: &str) -> Option<&'static str> {
    match sent_by {
        "agent" => Some("Automated"),
        "merchant" => Some("You"),
        // Typed on the WhatsApp Business app (a coexistence echo).
        "phone" => Some("You, from the phone"),
        "system" => Some("Bizmaat"),
        _ => None,
    }
}

#[component]
fn Message(message: MessageView, actions: ThreadActions) -> impl IntoView {
    let m = message;
    let outbound = m.direction == "out";
    let sender = (outbound || m.direction == "note")
        .then(|| sender_label(&m.sent_by))
        .flatten();
    view! {
        <li class=format!("msg {}", m.direction) data-status=m.status.clone() data-kind=m.kind.clone() data-testid="message">
            {m.media.map(|media| view! { <Media media message_id=m.id inbound=m.direction == "in" action=actions.retry_media/> })}
            {(!m.body.is_empty()).then(|| view! { <p class="msg-body">{m.body.clone()}</p> })}
            {(!m.details.is_empty()).then(|| view! {
                <ul class="msg-details">{m.details.into_iter().map(|d| view! { <li>{d}</li> }).collect_view()}</ul>
            })}
            <p class="msg-meta">
                {sender.map(|s| view! { <span class="msg-sender">{s}</span> })}
                <time datetime=m.sent_at.clone()>{compact_time(&m.sent_at)}</time>
                {outbound.then(|| view! { <Ticks status=m.status.clone()/> })}
            </p>
            {(!m.why.is_empty()).then(|| view! {
                <details class="msg-why" data-testid="why">
                    <summary>"Why this answer"</summary>
                    <ul>{m.why.into_iter().map(|line| view! { <li>{line}</li> }).collect_view()}</ul>
                </details>
            })}
            {m.can_save_answer.then(|| view! {
                <LearnAnswer
                    message_id=m.id
                    by_agent=m.sent_by == "agent"
                    question=m.question.clone()
                    body=m.body.clone()
                    saved=m.saved_answer
                />
            })}
            {m.reaction.map(|r| {
                let label = format!("Reaction {r}");
                view! { <span class="msg-reaction" aria-label=label>{r}</span> }
            })}
            {(outbound && m.status == "failed").then(|| view! {
                <p class="msg-error">{m.error.clone().unwrap_or_else(|| "This message could not be sent.".into())}</p>
                {m.can_retry.then(|| view! {
                    <ActionForm action=actions.retry>
                        <input type="hidden" name="id" value=m.id.to_string()/>
                        <button type="submit" class="button small" disabled=move || actions.retry.pending().get()>"Retry"</button>
                    </ActionForm>
                })}
            })}
        </li>
    }
}

/// Learning from the merchant: an agent's answer marked wrong with the right one written, or
/// one of the merchant's own replies kept, becomes a saved answer the agent uses from then on.
/// Each message has its own action, so an error shows beside the form it belongs to.
#[component]
fn LearnAnswer(
    message_id: Uuid,
    by_agent: bool,
    question: String,
    body: String,
    saved: bool,
) -> impl IntoView {
    let action = ServerAction::<FaqFromMessage>::new();
    let err = action_error(action);
    // A memo, so a failed save (which changes the value but not this) keeps what was typed.
    let done = Memo::new(move |_| saved || action.value().get().is_some_and(|r| r.is_ok()));
    let (summary, answer) = if by_agent {
        ("Wrong answer? Write the right one", String::new())
    } else {
        ("Save as an answer for the agent", body)
    };
    let qid = format!("learn-q-{message_id}");
    let aid = format!("learn-a-{message_id}");
    move || {
        if done.get() {
            return view! {
                <p class="msg-learned" data-testid="saved-answer">
                    "Saved: the agent answers this from now on. "
                    <a href="/dashboard/answers">"Saved answers"</a>
                </p>
            }
            .into_any();
        }
        let (qid, aid, question, answer) =
            (qid.clone(), aid.clone(), question.clone(), answer.clone());
        view! {
            <details class="msg-learn" data-testid="learn">
                <summary>{summary}</summary>
                <ActionForm action attr:class="form">
                    <input type="hidden" name="message_id" value=message_id.to_string()/>
                    <FormError error=general_error(err)/>
                    <div class="field">
                        <label for=qid.clone()>"When a customer asks"</label>
                        <input id=qid name="question" value=question maxlength="300"/>
                        <p class="field-error" role="alert">{move || field_error(err, "question").get()}</p>
                    </div>
                    <div class="field">
                        <label for=aid.clone()>"The agent answers"</label>
                        <textarea id=aid name="answer" rows="3" maxlength="1000">{answer}</textarea>
                        <p class="field-error" role="alert">{move || field_error(err, "answer").get()}</p>
                    </div>
                    <button type="submit" class="button small primary" disabled=move || action.pending().get()>"Save answer"</button>
                </ActionForm>
            </details>
        }
        .into_any()
    }
}

#[component]
fn Ticks(status: String) -> impl IntoView {
    let (glyph, class) = match status.as_str() {
        "sent" => ("✓", "ticks"),
        "delivered" => ("✓✓", "ticks"),
        "read" => ("✓✓", "ticks read"),
        "failed" => ("!", "ticks failed"),
        _ => ("🕓", "ticks"),
    };
    view! { <span class=class data-testid="ticks" aria-label=status.clone() title=status>{glyph}</span> }
}

#[component]
fn Media(
    media: MediaView,
    message_id: Uuid,
    /// Only the customer's attachments are downloaded from Meta, so only those can be retried.
    inbound: bool,
    action: ServerAction<RetryMedia>,
) -> impl IntoView {
    let MediaView {
        status,
        url,
        mime,
        filename,
        error,
    } = media;
    match (status.as_str(), url) {
        ("stored", Some(url)) => {
            if mime.starts_with("image/") {
                let alt = filename.unwrap_or_else(|| "Image".into());
                let href = url.clone();
                view! { <a class="msg-media" href=href rel="external"><img src=url alt=alt loading="lazy"/></a> }.into_any()
            } else if mime.starts_with("audio/") {
                view! { <audio class="msg-media" controls preload="none" src=url></audio> }.into_any()
            } else if mime.starts_with("video/") {
                view! { <video class="msg-media" controls preload="metadata" src=url></video> }.into_any()
            } else {
                let label = filename.clone().unwrap_or_else(|| "the attachment".into());
                view! {
                    <p class="msg-media"><a href=url rel="external" download=filename.unwrap_or_default()>{format!("Download {label}")}</a></p>
                }.into_any()
            }
        }
        ("failed", _) => view! {
            <div class="msg-media">
                <p class="msg-error">{error.unwrap_or_else(|| "The attachment could not be downloaded.".into())}</p>
                {inbound.then(|| view! {
                    <ActionForm action>
                        <input type="hidden" name="id" value=message_id.to_string()/>
                        <button type="submit" class="button small" disabled=move || action.pending().get()>"Try again"</button>
                    </ActionForm>
                })}
            </div>
        }.into_any(),
        ("expired", _) => view! {
            <p class="msg-media msg-error">{error.unwrap_or_else(|| "The attachment is no longer available from WhatsApp.".into())}</p>
        }.into_any(),
        _ => view! { <p class="msg-media muted">"Downloading the attachment…"</p> }.into_any(),
    }
}

#[component]
fn CustomerOrders(orders: Vec<CustomerOrder>) -> impl IntoView {
    view! {
        <aside class="thread-aside card" aria-labelledby="thread-orders-title">
            <h3 id="thread-orders-title">"Orders"</h3>
            {if orders.is_empty() {
                view! { <p class="muted">"No orders yet."</p> }.into_any()
            } else {
                view! {
                    <ul class="order-list" data-testid="customer-orders">
                        {orders.into_iter().map(|o| view! {
                            <li>
                                <a href=format!("/dashboard/orders/{}", o.id)>{format!("#{}", o.number)}</a>
                                " "<span class=format!("badge order-{}", o.status)>{crate::orders::status_label(&o.status)}</span>
                                <br/>{o.total}" · "<span class="muted">{o.created_at.get(..10).unwrap_or_default().to_string()}</span>
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </aside>
    }
}

const QUICK_REPLIES: [&str; 4] = [
    "Thanks for your order!",
    "Yes, it is available.",
    "We deliver in 2–3 days.",
    "Let me check and get back to you.",
];

#[component]
fn ComposerView(
    connected: bool,
    window_secs_left: i64,
    templates: Vec<TemplateOption>,
    composer: Composer,
    products: Products,
) -> impl IntoView {
    let error = Signal::derive(move || composer.send.value().get().and_then(Result::err));
    let body = if !connected {
        view! {
            <p class="composer-off" data-testid="composer">
                "Connect a WhatsApp number to reply. "
                <a href=CHANNEL_PAGE rel="external">"Set up WhatsApp"</a>
            </p>
        }
        .into_any()
    } else if window_secs_left > 0 {
        view! {
            <TextComposer window_secs_left composer/>
            <ProductSender composer products/>
            <PhotoSender composer/>
            <DocumentSender conversation=composer.id/>
        }
        .into_any()
    } else {
        view! { <TemplateComposer templates composer/> }.into_any()
    };
    view! {
        <div class="composer-area">
            {body}
            <div role="alert" class="composer-error">{move || error.get().map(|e| view! { <p class="notice error">{error_text(&e)}</p> })}</div>
        </div>
    }
}

#[component]
fn TextComposer(window_secs_left: i64, composer: Composer) -> impl IntoView {
    let (hours, minutes) = (window_secs_left / 3600, window_secs_left % 3600 / 60);
    let draft = composer.draft;
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = draft.get_untracked();
        if !body.trim().is_empty() && composer.can_send_now() {
            composer.send.dispatch(Outgoing::Text { body });
        }
    };
    view! {
        <form class="composer" data-testid="composer" on:submit=on_submit>
            <p class="window open" data-testid="window">{format!("Window open: {hours}h {minutes}m left")}</p>
            <div class="quick-replies" role="group" aria-label="Quick replies">
                {QUICK_REPLIES.into_iter().map(|text| view! {
                    <button type="button" class="chip" on:click=move |_| draft.update(|d| {
                        if !d.trim().is_empty() {
                            d.push(' ');
                        }
                        d.push_str(text);
                    })>{text}</button>
                }).collect_view()}
            </div>
            <div class="field">
                <label for="composer-body">"Message"</label>
                <textarea id="composer-body" name="body" rows="3" maxlength="4096"
                    prop:value=move || draft.get()
                    on:input=move |ev| draft.set(event_target_value(&ev))></textarea>
            </div>
            <button type="submit" class="button primary"
                disabled=move || !composer.can_send() || draft.with(|d| d.trim().is_empty())>
                {move || if composer.send.pending().get() { "Sending…" } else { "Send" }}
            </button>
        </form>
    }
}

#[component]
fn ProductSender(composer: Composer, products: Products) -> impl IntoView {
    let product = composer.product;
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Ok(product_id) = product.get_untracked().parse::<Uuid>() else {
            return;
        };
        if composer.can_send_now() {
            composer.send.dispatch(Outgoing::Product { product_id });
        }
    };
    view! {
        <details class="composer-product">
            <summary on:click=move |_| composer.want_products.set(true)>"Send a product"</summary>
            <form class="inline-form" on:submit=on_submit>
                <div class="field">
                    <label for="composer-product-q">"Find"</label>
                    <input id="composer-product-q" type="search" placeholder="Product name"
                        prop:value=move || composer.product_q.get()
                        on:change=move |ev| composer.product_q.set(event_target_value(&ev))/>
                </div>
                <div class="field">
                    <label for="composer-product">"Product"</label>
                    <select id="composer-product" name="product_id" on:change=move |ev| product.set(event_target_value(&ev))>
                        <option value="">"Choose a product…"</option>
                        {move || products.get().map(|r| match r {
                            Ok(items) => items.into_iter().map(|(id, label)| {
                                let value = id.to_string();
                                let selected = value.clone();
                                view! {
                                    <option value=value selected=move || product.with(|v| *v == selected)>{label}</option>
                                }
                            }).collect_view().into_any(),
                            Err(e) => view! { <option value="" disabled=true>{e.to_string()}</option> }.into_any(),
                        })}
                    </select>
                </div>
                <button type="submit" class="button"
                    disabled=move || !composer.can_send() || product.with(String::is_empty)>"Send product"</button>
            </form>
        </details>
    }
}

/// "Send a photo": one of the shop's images, with an optional caption.
#[component]
fn PhotoSender(composer: Composer) -> impl IntoView {
    let photos = Resource::new(
        move || composer.want_photos.get(),
        |want| async move {
            if want {
                super::api::shop_photos().await
            } else {
                Ok(Vec::new())
            }
        },
    );
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Ok(image_id) = composer.photo.get_untracked().parse::<Uuid>() else {
            return;
        };
        if composer.can_send_now() {
            composer.send.dispatch(Outgoing::Image {
                image_id,
                caption: composer.caption.get_untracked(),
            });
        }
    };
    view! {
        <details class="composer-photo">
            <summary on:click=move |_| composer.want_photos.set(true)>"Send a photo"</summary>
            <form class="stack" on:submit=on_submit>
                <fieldset class="photo-grid">
                    <legend>"Your shop's photos"</legend>
                    <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                        {move || photos.get().map(|r| match r {
                            Ok(list) if list.is_empty() => view! {
                                <p class="muted">"No photos yet: add images to your products first."</p>
                            }.into_any(),
                            Ok(list) => list.into_iter().map(|p| {
                                let value = p.id.to_string();
                                let checked = value.clone();
                                view! {
                                    <label class="photo-choice">
                                        <input type="radio" name="photo" value=value.clone()
                                            prop:checked=move || composer.photo.with(|v| *v == checked)
                                            on:change=move |_| composer.photo.set(value.clone())/>
                                        <img src=p.thumb_url alt="" width="72" height="72" loading="lazy"/>
                                        <span class="visually-hidden">{p.label}</span>
                                    </label>
                                }
                            }).collect_view().into_any(),
                            Err(e) => view! { <p class="notice error">{e.to_string()}</p> }.into_any(),
                        })}
                    </Suspense>
                </fieldset>
                <div class="field">
                    <label for="composer-caption">"Caption (optional)"</label>
                    <input id="composer-caption" maxlength="1024"
                        prop:value=move || composer.caption.get()
                        on:input=move |ev| composer.caption.set(event_target_value(&ev))/>
                </div>
                <button type="submit" class="button"
                    disabled=move || !composer.can_send() || composer.photo.with(String::is_empty)>"Send photo"</button>
            </form>
        </details>
    }
}

/// A document from the merchant's computer. A plain multipart form (the server answers with
/// the thread again), so it works before the WASM has loaded.
#[component]
fn DocumentSender(conversation: Uuid) -> impl IntoView {
    let query = use_query_map();
    let error = move || query.read().get("document_error");
    // One key per form shown: a double submit of the same form sends once.
    let key = fresh_key();
    view! {
        <details class="composer-document" open=move || error().is_some()>
            <summary>"Send a document"</summary>
            <form class="stack" method="post" enctype="multipart/form-data"
                action=format!("/dashboard/inbox/{conversation}/document")>
                <input type="hidden" name="idempotency_key" value=key/>
                <div class="field">
                    <label for="composer-document">"File"</label>
                    <p class="hint">"PDF, Word, Excel, PowerPoint or plain text, up to 16 MB."</p>
                    <input id="composer-document" type="file" name="file" required
                        accept=".pdf,.txt,.doc,.docx,.xls,.xlsx,.ppt,.pptx"/>
                </div>
                <div class="field">
                    <label for="composer-document-caption">"Caption (optional)"</label>
                    <input id="composer-document-caption" name="caption" maxlength="1024"/>
                </div>
                {move || error().map(|m| view! { <p class="notice error" role="alert" data-testid="document-error">{m}</p> })}
                <button type="submit" class="button">"Send document"</button>
            </form>
        </details>
    }
}

fn template_key(t: &TemplateOption) -> String {
    format!("{}:{}", t.name, t.language)
}

#[component]
fn TemplateComposer(templates: Vec<TemplateOption>, composer: Composer) -> impl IntoView {
    let closed = view! {
        <p class="window closed" data-testid="window">"The 24-hour window is closed. You can only send an approved template."</p>
    };
    if templates.is_empty() {
        return view! {
            <div class="composer" data-testid="composer">
                {closed}
                <p>"There are no approved templates yet. "
                    <a href=CHANNEL_PAGE rel="external">"Create or sync them on the WhatsApp page"</a>"."</p>
            </div>
        }
        .into_any();
    }
    let templates = Arc::new(templates);
    let (chosen, params) = (composer.template, composer.params);
    let current = {
        let templates = Arc::clone(&templates);
        move || chosen.with(|k| templates.iter().find(|t| template_key(t) == *k).cloned())
    };
    let on_change = {
        let templates = Arc::clone(&templates);
        move |ev: leptos::ev::Event| {
            let key = event_target_value(&ev);
            let count = templates
                .iter()
                .find(|t| template_key(t) == key)
                .map_or(0, |t| t.body_params.clamp(0, 20) as usize);
            params.set(vec![String::new(); count]);
            chosen.set(key);
        }
    };
    let on_submit = {
        let current = current.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let Some(t) = current() else { return };
            let mut values = params.get_untracked();
            values.resize(t.body_params.clamp(0, 20) as usize, String::new());
            if composer.can_send_now() {
                composer.send.dispatch(Outgoing::Template {
                    name: t.name,
                    language: t.language,
                    params: values,
                });
            }
        }
    };
    let has_choice = {
        let current = current.clone();
        move || current().is_some()
    };
    view! {
        <form class="composer" data-testid="composer" on:submit=on_submit>
            {closed}
            <div class="field">
                <label for="composer-template">"Template"</label>
                <select id="composer-template" name="template" on:change=on_change>
                    <option value="">"Choose a template…"</option>
                    {templates.iter().map(|t| {
                        let key = template_key(t);
                        let selected = key.clone();
                        view! {
                            <option value=key selected=move || chosen.with(|c| *c == selected)>
                                {format!("{} ({})", t.name, t.language)}
                            </option>
                        }
                    }).collect_view()}
                </select>
            </div>
            {move || current().map(|t| {
                let count = t.body_params.clamp(0, 20) as usize;
                view! {
                    <blockquote class="template-body">{t.body_text}</blockquote>
                    {(0..count).map(|i| {
                        let id = format!("composer-param-{i}");
                        view! {
                            <div class="field">
                                <label for=id.clone()>{format!("Value for {{{{{}}}}}", i + 1)}</label>
                                <input id=id type="text" required=true
                                    prop:value=move || params.with(|p| p.get(i).cloned().unwrap_or_default())
                                    on:input=move |ev| {
                                        let value = event_target_value(&ev);
                                        params.update(|p| {
                                            if p.len() <= i {
                                                p.resize(i + 1, String::new());
                                            }
                                            p[i] = value;
                                        });
                                    }/>
                            </div>
                        }
                    }).collect_view()}
                }
            })}
            <button type="submit" class="button primary" disabled=move || !composer.can_send() || !has_choice()>
                {move || if composer.send.pending().get() { "Sending…" } else { "Send template" }}
            </button>
        </form>
    }
    .into_any()
}
