//! The agent's settings card (on the WhatsApp page): who answers new conversations, and the
//! words the assistant introduces itself with, and when an order calls the merchant in.
//!
//! The settings come with the channel page's own resource, which `save` refreshes: the card
//! has no resource or `Transition` of its own, because one nested inside the page's
//! `Transition` sometimes hydrated into two copies of the form.

use super::api::{
    DeleteFaq, PlaygroundSay, PlaygroundStartOver, SaveAgentSettings, SaveFaq, get_playground,
    list_faq,
};
use super::hours::{ANSWERS_WHEN, SUGGESTED_ZONES, WEEKDAYS};
use super::{
    AgentSettings, FaqEntry, HAND_BACK_CHOICES, Playground, PlaygroundChoice, PlaygroundMessage,
    TONES, minutes_words,
};
use crate::ui::{FormError, PageTitle, action_error, field_error, general_error};
use leptos::prelude::*;

#[component]
pub fn AgentSettingsCard(
    settings: AgentSettings,
    save: ServerAction<SaveAgentSettings>,
) -> impl IntoView {
    let s = settings;
    let err = action_error(save);
    let saved = Signal::derive(move || save.value().get().is_some_and(|r| r.is_ok()));
    view! {
        <section class="card" aria-labelledby="agent-title" data-testid="agent-settings">
            <h2 id="agent-title">"Shop assistant"</h2>
            <p class="muted">"The assistant answers customers from your catalog, takes orders in the chat and calls you in when a customer asks for a person. Any reply of yours pauses it in that conversation."</p>
            {(s.open_handovers > 0).then(|| view! {
                <p class="notice" data-testid="open-handovers">
                    {format!("{} conversation(s) are waiting for you. ", s.open_handovers)}
                    <a href="/dashboard/inbox?filter=attention">"Open them"</a>
                </p>
            })}
            <ActionForm action=save attr:class="form" attr:novalidate=true>
                <FormError error=general_error(err)/>
                <Show when=move || saved.get()>
                    <div class="notice ok" role="status">"Assistant settings saved."</div>
                </Show>
                <fieldset class="field">
                    <legend>"New conversations"</legend>
                    {s.ai_available.then(|| view! {
                        <label class="check">
                            <input type="radio" name="mode" value="ai" checked=s.mode == "ai"/>
                            " The AI agent answers first (the assistant stands in if it cannot)"
                        </label>
                    })}
                    <label class="check">
                        <input type="radio" name="mode" value="assistant" checked=s.mode == "assistant"/>
                        " The assistant answers first"
                    </label>
                    <label class="check">
                        <input type="radio" name="mode" value="off" checked=s.mode == "off"/>
                        " I answer everything myself"
                    </label>
                    <p class="field-error" role="alert">{move || field_error(err, "mode").get()}</p>
                </fieldset>
                <fieldset class="field hours" data-testid="agent-hours">
                    <legend>"Opening hours"</legend>
                    <label for="f-answers-when">"When it answers"</label>
                    <select id="f-answers-when" name="answers_when">
                        {ANSWERS_WHEN.into_iter().map(|(value, label)| {
                            let selected = s.answers_when == value;
                            view! { <option value=value selected=selected>{label}</option> }
                        }).collect_view()}
                    </select>
                    <p class="field-error" role="alert">{move || field_error(err, "answers_when").get()}</p>
                    <div class="hours-days">
                        {WEEKDAYS.into_iter().map(|(day, name)| {
                            let checked = s.hours_days.contains(&day);
                            view! {
                                <label class="check">
                                    <input type="checkbox" name=format!("day_{day}") checked=checked/>
                                    {format!(" {name}")}
                                </label>
                            }
                        }).collect_view()}
                    </div>
                    <p class="field-error" role="alert">{move || field_error(err, "hours_days").get()}</p>
                    <div class="hours-times">
                        <label>"Opens " <input type="time" name="hours_open" value=s.hours_open.clone()/></label>
                        <label>"Closes " <input type="time" name="hours_close" value=s.hours_close.clone()/></label>
                        <label>"Time zone (your shop's, as in Shop settings) "
                            <input name="time_zone" list="f-time-zones" value=s.time_zone.clone() autocomplete="off"/>
                        </label>
                        <datalist id="f-time-zones">
                            {SUGGESTED_ZONES.into_iter().map(|z| view! { <option value=z></option> }).collect_view()}
                        </datalist>
                    </div>
                    <p class="field-error" role="alert">{move || field_error(err, "hours_open").get()}</p>
                    <p class="field-error" role="alert">{move || field_error(err, "hours_close").get()}</p>
                    <p class="field-error" role="alert">{move || field_error(err, "time_zone").get()}</p>
                    <p class="hint" data-testid="hours-now">{s.hours_now.clone()}</p>
                    <label for="f-away-message">"Away message"</label>
                    <textarea id="f-away-message" name="away_message" rows="2" maxlength="1000"
                        aria-describedby="f-away-message-hint"
                        placeholder="Thanks for your message! We are closed now and reply when we open.">
                        {s.away_message.clone()}
                    </textarea>
                    <p class="hint" id="f-away-message-hint">
                        "When the agent answers only during opening hours, a customer who writes while you are closed gets this, once every 12 hours. Leave it empty to send nothing."
                    </p>
                    <p class="field-error" role="alert">{move || field_error(err, "away_message").get()}</p>
                </fieldset>
                <div class="field">
                    <label for="f-disclosure">"How the assistant introduces itself"</label>
                    <textarea id="f-disclosure" name="disclosure" rows="3" maxlength="500"
                        aria-describedby="f-disclosure-hint"
                        placeholder=s.default_disclosure.clone()>{s.disclosure.clone()}</textarea>
                    <p class="hint" id="f-disclosure-hint">"Its first answer in a conversation starts with this, so customers know they are talking to an automated assistant. Leave empty for the wording shown, in the customer's language."</p>
                    <p class="field-error" role="alert">{move || field_error(err, "disclosure").get()}</p>
                </div>
                <div class="field">
                    <label for="f-escalate-above">{format!("Call me in for orders above ({})", s.currency)}</label>
                    <input id="f-escalate-above" name="escalate_above" inputmode="decimal"
                        aria-describedby="f-escalate-above-hint" value=s.escalate_above.clone()/>
                    <p class="hint" id="f-escalate-above-hint">"An order in the chat above this total is placed, and then the conversation is handed to you with an alert, so you can follow up in person. Leave empty for no rule."</p>
                    <p class="field-error" role="alert">{move || field_error(err, "escalate_above").get()}</p>
                </div>
                <div class="field">
                    <label for="f-hand-back">"Give the chat back to the assistant"</label>
                    <select id="f-hand-back" name="hand_back_after" aria-describedby="f-hand-back-hint">
                        <option value="" selected=s.hand_back_after.is_empty()>"Never: I hand it back myself"</option>
                        {HAND_BACK_CHOICES.into_iter().map(|m| {
                            let value = m.to_string();
                            let selected = s.hand_back_after == value;
                            view! { <option value=value selected=selected>{format!("After {} without my reply", minutes_words(m))}</option> }
                        }).collect_view()}
                    </select>
                    <p class="hint" id="f-hand-back-hint">"When you have replied in a conversation, the assistant stays out of it. With a time here, it takes the conversation back once you have written nothing for that long."</p>
                    <p class="field-error" role="alert">{move || field_error(err, "hand_back_after").get()}</p>
                </div>
                {s.ai_available.then(|| {
                    let used = format!(
                        "Used this month: {} tokens{}",
                        s.tokens_used,
                        if s.fallbacks > 0 { format!("; the assistant stood in {} time(s)", s.fallbacks) } else { String::new() }
                    );
                    let failure = (!s.last_failure.is_empty()).then(|| format!("Last problem: {}", s.last_failure));
                    let tone = s.tone.clone();
                    view! {
                        <div class="field">
                            <label for="f-tone">"How the AI agent writes"</label>
                            <select id="f-tone" name="tone">
                                {TONES.into_iter().map(|(value, label)| {
                                    let selected = tone == value;
                                    view! { <option value=value selected=selected>{label}</option> }
                                }).collect_view()}
                            </select>
                            <p class="field-error" role="alert">{move || field_error(err, "tone").get()}</p>
                        </div>
                        <div class="field">
                            <label for="f-facts">"What the AI agent may tell customers"</label>
                            <textarea id="f-facts" name="facts" rows="5" maxlength="4000" aria-describedby="f-facts-hint">{s.facts.clone()}</textarea>
                            <p class="hint" id="f-facts-hint">"Delivery areas and times, returns, payment methods, opening hours. It uses only these facts and your catalog, and offers a person for anything else."</p>
                            <p class="field-error" role="alert">{move || field_error(err, "facts").get()}</p>
                        </div>
                        <div class="field">
                            <label for="f-token-budget">"Monthly AI budget (tokens)"</label>
                            <input id="f-token-budget" name="token_budget" inputmode="numeric"
                                aria-describedby="f-token-budget-hint" value=s.token_budget.clone()
                                placeholder=s.default_token_budget.to_string()/>
                            <p class="hint" id="f-token-budget-hint" data-testid="ai-usage">
                                {used}". When the budget is spent, the shop assistant answers until the next month. Empty: the server's default."
                            </p>
                            {failure.map(|f| view! { <p class="notice">{f}</p> })}
                            <p class="field-error" role="alert">{move || field_error(err, "token_budget").get()}</p>
                        </div>
                    }
                })}
                <button type="submit" class="button primary" disabled=move || save.pending().get()>"Save assistant settings"</button>
            </ActionForm>
        </section>
    }
}

/// Saved answers (dashboard → Saved answers): the questions customers ask and the answers the
/// agent gives to them. Entries also arrive from the inbox, where the merchant corrects an AI
/// answer or keeps one of their own replies.
#[component]
pub fn FaqPage() -> impl IntoView {
    let add = ServerAction::<SaveFaq>::new();
    let delete = ServerAction::<DeleteFaq>::new();
    // Bumped by an entry's own edit form when it saves.
    let edits = RwSignal::new(0usize);
    let list = Resource::new(
        move || (add.version().get(), delete.version().get(), edits.get()),
        |_| list_faq(),
    );
    let add_err = action_error(add);
    let added = Signal::derive(move || add.value().get().is_some_and(|r| r.is_ok()));
    let delete_err = action_error(delete);
    view! {
        <PageTitle title="Saved answers"/>
        <h1>"Saved answers"</h1>
        <p class="muted">"Questions your customers ask and the answers you want them to get. The shop assistant answers a question like one of these with your answer; the AI agent reads them before it answers. In the inbox, you can correct an automated answer or keep one of your own replies, and it lands here."</p>
        <section class="card" aria-labelledby="faq-add-title">
            <h2 id="faq-add-title">"Add an answer"</h2>
            <ActionForm action=add attr:class="form" attr:novalidate=true>
                <FormError error=general_error(add_err)/>
                <Show when=move || added.get()>
                    <div class="notice ok" role="status">"Answer saved."</div>
                </Show>
                <div class="field">
                    <label for="faq-q">"When a customer asks"</label>
                    <input id="faq-q" name="question" maxlength="300" placeholder="Do you deliver outside the city?"/>
                    <p class="field-error" role="alert">{move || field_error(add_err, "question").get()}</p>
                </div>
                <div class="field">
                    <label for="faq-a">"The agent answers"</label>
                    <textarea id="faq-a" name="answer" rows="3" maxlength="1000"></textarea>
                    <p class="field-error" role="alert">{move || field_error(add_err, "answer").get()}</p>
                </div>
                <button type="submit" class="button primary" disabled=move || add.pending().get()>"Save answer"</button>
            </ActionForm>
        </section>
        <FormError error=delete_err/>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Err(e) => view! { <p class="notice error">{e.to_string()}</p> }.into_any(),
                    Ok(entries) if entries.is_empty() => view! {
                        <p class="empty" data-testid="faq-empty">"No saved answers yet. Start with what customers ask most: delivery areas and times, returns, payment methods, opening hours."</p>
                    }.into_any(),
                    Ok(entries) => view! {
                        <ul class="faq-list" data-testid="faq-list">
                            {entries.into_iter().map(|e| view! { <FaqItem entry=e delete edits/> }).collect_view()}
                        </ul>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

fn source_label(source: &str) -> &'static str {
    match source {
        "correction" => "Your correction of an automated answer",
        "chat" => "Your reply in a chat",
        _ => "Written here",
    }
}

#[component]
fn FaqItem(
    entry: FaqEntry,
    delete: ServerAction<DeleteFaq>,
    edits: RwSignal<usize>,
) -> impl IntoView {
    let e = entry;
    let save = ServerAction::<SaveFaq>::new();
    let err = action_error(save);
    Effect::new(move |_| {
        if save.value().get().is_some_and(|r| r.is_ok()) {
            edits.update(|n| *n += 1);
        }
    });
    let qid = format!("faq-q-{}", e.id);
    let aid = format!("faq-a-{}", e.id);
    view! {
        <li class="card faq-item" data-testid="faq-item">
            <p class="faq-question"><strong>{e.question.clone()}</strong></p>
            <p class="faq-answer">{e.answer.clone()}</p>
            <p class="muted small">
                {source_label(&e.source)}
                {e.conversation_id.map(|c| view! { " · " <a href=format!("/dashboard/inbox/{c}")>"Open the chat"</a> })}
            </p>
            <details>
                <summary>"Edit"</summary>
                <ActionForm action=save attr:class="form" attr:novalidate=true>
                    <input type="hidden" name="id" value=e.id.to_string()/>
                    <FormError error=general_error(err)/>
                    <div class="field">
                        <label for=qid.clone()>"When a customer asks"</label>
                        <input id=qid name="question" maxlength="300" value=e.question.clone()/>
                        <p class="field-error" role="alert">{move || field_error(err, "question").get()}</p>
                    </div>
                    <div class="field">
                        <label for=aid.clone()>"The agent answers"</label>
                        <textarea id=aid name="answer" rows="3" maxlength="1000">{e.answer.clone()}</textarea>
                        <p class="field-error" role="alert">{move || field_error(err, "answer").get()}</p>
                    </div>
                    <button type="submit" class="button small primary" disabled=move || save.pending().get()>"Save changes"</button>
                </ActionForm>
            </details>
            <ActionForm action=delete>
                <input type="hidden" name="id" value=e.id.to_string()/>
                <button type="submit" class="button small danger" disabled=move || delete.pending().get()>"Delete"</button>
            </ActionForm>
        </li>
    }
}

/// "Try your agent": the merchant writes as a customer of their own shop and sees the answers
/// with why each was given. The conversation refreshes on the dashboard's event stream.
#[component]
pub fn TryPage() -> impl IntoView {
    let live = crate::conversations::ui::InboxLive::get_or_provide();
    let say = ServerAction::<PlaygroundSay>::new();
    let restart = ServerAction::<PlaygroundStartOver>::new();
    let chat = Resource::new(
        move || {
            (
                live.events.get(),
                say.version().get(),
                restart.version().get(),
            )
        },
        |_| get_playground(),
    );
    let draft = RwSignal::new(String::new());
    // The composer needs the WASM and a ready playground; the server renders neither.
    let ready = RwSignal::new(false);
    Effect::new(move |_| {
        if let Some(Ok(p)) = chat.get() {
            ready.set(p.blocked.is_none());
        }
    });
    // The text last sent; once it is through, the box clears unless the merchant typed on.
    let sent = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        if let Some(Ok(())) = say.value().get()
            && let Some(text) = sent.get_untracked()
        {
            draft.update(|d| {
                if *d == text {
                    d.clear();
                }
            });
            sent.set(None);
        }
    });
    let err = action_error(say);
    let restart_err = action_error(restart);
    let send = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = draft.get_untracked();
        if text.trim().is_empty() || say.pending().get_untracked() {
            return;
        }
        sent.set(Some(text.clone()));
        say.dispatch(PlaygroundSay {
            kind: None,
            text,
            reply_id: None,
        });
    };
    view! {
        <PageTitle title="Try your agent"/>
        <h1>"Try your agent"</h1>
        <p class="muted">"Write to your shop as a customer would. Your messages take a real customer's path — WhatsApp webhook, inbox, agent, reply — and every answer shows why it was given. Orders you place here are real orders from the test customer; cancel them in Orders."</p>
        <section class="card try" aria-labelledby="try-title">
            <div class="try-head">
                <h2 id="try-title">"Your test chat"</h2>
                <button type="button" class="button small" data-testid="start-over"
                    disabled=move || restart.pending().get() || !ready.get()
                    on:click=move |_| { restart.dispatch(PlaygroundStartOver {}); }>
                    "Start over"
                </button>
            </div>
            <FormError error=restart_err/>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match chat.await {
                        Err(e) => view! { <p class="notice error">{e.to_string()}</p> }.into_any(),
                        Ok(p) => view! { <TryChat playground=p say/> }.into_any(),
                    }
                })}
            </Transition>
            <Show when=move || ready.get()>
                <form class="try-compose" on:submit=send>
                    <FormError error=general_error(err)/>
                    <label for="try-text" class="visually-hidden">"Message"</label>
                    <input id="try-text" autocomplete="off" maxlength="4096"
                        placeholder="Hello! Do you have this in blue?"
                        prop:value=move || draft.get()
                        on:input=move |ev| draft.set(event_target_value(&ev))/>
                    <button type="submit" class="button primary" disabled=move || say.pending().get()>"Send"</button>
                    <p class="field-error" role="alert">{move || field_error(err, "text").get()}</p>
                </form>
            </Show>
        </section>
    }
}

#[component]
fn TryChat(playground: Playground, say: ServerAction<PlaygroundSay>) -> impl IntoView {
    let p = playground;
    if let Some(why) = p.blocked {
        return view! {
            <div class="notice" data-testid="try-blocked">
                <p>{why}</p>
                {p.fix_href.map(|href| view! { <p><a class="button primary" href=href>"Set it up"</a></p> })}
            </div>
        }
        .into_any();
    }
    let off = p.mode == "off";
    view! {
        <p class="muted">
            "You write as " <strong>{p.customer.clone()}</strong> "."
            {p.conversation_id.map(|id| view! {
                " " <a href=format!("/dashboard/inbox/{id}")>"See it in the inbox"</a>
            })}
        </p>
        {off.then(|| view! {
            <p class="notice" data-testid="try-off">
                "Your agent is off: a person answers every conversation, so nothing will answer here. "
                <a href="/dashboard/channels/whatsapp">"Turn it on in the agent settings"</a>
            </p>
        })}
        {p.with_person.then(|| view! {
            <p class="notice" data-testid="try-with-person">"This conversation is with a person now (taken over or handed over), so the agent stays quiet. Start over to hand it back."</p>
        })}
        <div class="thread-scroll" tabindex="0" aria-label="Test chat">
            <ol class="messages">
                {p.messages.is_empty().then(|| view! {
                    <li class="msg note">"Say hello, ask for a product, or try to order."</li>
                })}
                {p.messages.into_iter().map(|m| view! { <TryMessage message=m say/> }).collect_view()}
                {p.waiting.then(|| view! {
                    <li class="msg in typing" data-testid="try-typing" aria-live="polite">"The agent is writing…"</li>
                })}
            </ol>
        </div>
    }
    .into_any()
}

#[component]
fn TryMessage(message: PlaygroundMessage, say: ServerAction<PlaygroundSay>) -> impl IntoView {
    let m = message;
    // The merchant is the customer here: their messages sit on the right, like on a phone.
    let side = if m.from_customer { "out" } else { "in" };
    let who = match m.sent_by.as_str() {
        "customer" => "You, as the customer",
        "agent" => "Your agent",
        "merchant" | "phone" => "You, as the shop",
        _ => "Bizmaat",
    };
    view! {
        <li class=format!("msg {side}") data-testid="try-message" data-from=if m.from_customer { "customer" } else { "shop" }>
            {(!m.body.is_empty()).then(|| view! { <p class="msg-body">{m.body.clone()}</p> })}
            {(!m.details.is_empty()).then(|| view! {
                <ul class="msg-details">{m.details.into_iter().map(|d| view! { <li>{d}</li> }).collect_view()}</ul>
            })}
            {(!m.choices.is_empty()).then(|| view! {
                <div class="try-choices">
                    {m.choices.into_iter().map(|c| view! { <TryChoice choice=c say/> }).collect_view()}
                </div>
            })}
            <p class="msg-meta"><span class="msg-sender">{who}</span></p>
            {(!m.why.is_empty()).then(|| view! {
                <details class="msg-why" data-testid="why" open>
                    <summary>"Why this answer"</summary>
                    <ul>{m.why.into_iter().map(|line| view! { <li>{line}</li> }).collect_view()}</ul>
                </details>
            })}
        </li>
    }
}

#[component]
fn TryChoice(choice: PlaygroundChoice, say: ServerAction<PlaygroundSay>) -> impl IntoView {
    let c = choice;
    let label = if c.description.is_empty() {
        c.title.clone()
    } else {
        format!("{} — {}", c.title, c.description)
    };
    view! {
        <button type="button" class="button small" data-testid="try-choice"
            disabled=move || say.pending().get()
            on:click=move |_| {
                say.dispatch(PlaygroundSay {
                    kind: Some(c.kind.clone()),
                    text: c.title.clone(),
                    reply_id: Some(c.id.clone()),
                });
            }>
            {label}
        </button>
    }
}
