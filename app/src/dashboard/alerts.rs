//! Browser notifications while the dashboard is open (issue 11 §5): when a conversation is
//! handed to the merchant, the tab shows a system notification that opens it. The merchant
//! allows it once per browser with the header's button. It listens to the shell's one event
//! stream (`InboxLive`), so it costs no connection of its own. Nothing here renders on the
//! server: the button appears after hydration, when the browser can say whether it may notify.

use crate::conversations::ui::InboxLive;
use leptos::prelude::*;

/// The header's "Alert me in this browser" button, and the notifications it allows.
#[component]
pub fn HandoverAlerts(live: InboxLive) -> impl IntoView {
    // "default" (not asked yet), "granted", "denied", or "" before hydration and where the
    // browser has no notifications.
    let permission = RwSignal::new(String::new());
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| permission.set(browser::permission()));
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(data) = live.last.get() {
            browser::notify_on(&data);
        }
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = live;
    let ask = move |_| {
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            permission.set(browser::ask().await);
        });
    };
    // Always one element (empty until hydration): the server and the browser agree on the
    // markup, and the button is filled in afterwards.
    view! {
        <span class="alerts">
            {move || (permission.get() == "default").then(|| view! {
                <button type="button" class="link alerts-ask" data-testid="alerts-ask" on:click=ask>
                    "Alert me in this browser"
                </button>
            })}
        </span>
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    use web_sys::{Notification, NotificationOptions, NotificationPermission};

    fn name(p: NotificationPermission) -> String {
        match p {
            NotificationPermission::Granted => "granted",
            NotificationPermission::Denied => "denied",
            _ => "default",
        }
        .to_string()
    }

    /// Browsers without the Notification API (some in-app browsers) throw on any use of it.
    fn supported() -> bool {
        web_sys::window().is_some_and(|w| {
            web_sys::js_sys::Reflect::has(&w, &"Notification".into()).unwrap_or(false)
        })
    }

    pub fn permission() -> String {
        if supported() {
            name(Notification::permission())
        } else {
            String::new()
        }
    }

    pub async fn ask() -> String {
        if !supported() {
            return String::new();
        }
        let Ok(promise) = Notification::request_permission() else {
            return permission();
        };
        let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
        permission()
    }

    /// A notification for a `handover` event, when the merchant allowed them.
    pub fn notify_on(data: &str) {
        let Ok(event) = serde_json::from_str::<serde_json::Value>(data) else {
            return;
        };
        if event["kind"] != "handover"
            || !supported()
            || Notification::permission() != NotificationPermission::Granted
        {
            return;
        }
        let conversation = event["conversation_id"].as_str().unwrap_or_default();
        let options = NotificationOptions::new();
        options.set_body("A customer asked for a person. Open the chat to answer.");
        // One notification per conversation, however many tabs are open.
        options.set_tag(conversation);
        let Ok(note) = Notification::new_with_options("A customer is waiting for you", &options)
        else {
            return;
        };
        let href = format!("/dashboard/inbox/{conversation}");
        let on_click = Closure::<dyn FnMut()>::new(move || {
            if let Some(window) = web_sys::window() {
                let _ = window.focus();
                let _ = window.location().set_href(&href);
            }
        });
        note.set_onclick(Some(on_click.as_ref().unchecked_ref()));
        // Lives as long as the notification can be clicked: until the page goes.
        on_click.forget();
    }
}
