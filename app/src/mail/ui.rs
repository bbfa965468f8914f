use super::api::dev_mailbox;
use crate::ui::{Linkify, PageTitle};
use leptos::prelude::*;

/// Lists queued email so the password-reset flow works on a laptop without SMTP.
#[component]
pub fn MailboxPage() -> impl IntoView {
    let mails = Resource::new(|| (), |_| dev_mailbox());
    view! {
        <PageTitle title="Development mailbox"/>
        <main class="page narrow" id="main">
            <h1>"Development mailbox"</h1>
            <p class="muted">"Email that Bizmaat would send. Shown only in development mode."</p>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || mails.get().map(|r| match r {
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p>"No email yet."</p> }.into_any(),
                    Ok(list) => view! {
                        <ul class="mailbox">
                            {list.into_iter().map(|m| view! {
                                <li class="card mail">
                                    <p class="muted">{format!("To {} · {} · {}", m.to_address, m.created_at, m.status)}</p>
                                    <h2>{m.subject}</h2>
                                    <Linkify text=m.body_text/>
                                </li>
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                })}
            </Suspense>
        </main>
    }
}
