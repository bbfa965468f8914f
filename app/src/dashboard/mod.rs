//! The dashboard shell: header with the shop name and account menu, navigation, and the guard
//! that sends signed-out visitors to the login page (and back afterwards).

use crate::auth::CurrentUser;
use crate::auth::api::{Logout, get_current_user};
use crate::conversations::ui::InboxLive;
use crate::whatsapp::ui::CHANNEL_PAGE;
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_router::components::{A, Outlet, Redirect};
use leptos_router::hooks::use_location;

mod alerts;

#[component]
pub fn DashboardLayout() -> impl IntoView {
    let user = Resource::new(|| (), |_| get_current_user());
    let location = use_location();
    view! {
        <Suspense fallback=|| view! { <p class="page">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match user.await {
                    Ok(Some(u)) => {
                        provide_context(u.clone());
                        view! { <Shell user=u/> }.into_any()
                    }
                    Ok(None) => {
                        let next = location.pathname.get_untracked();
                        view! { <Redirect path=format!("/login?next={next}")/> }.into_any()
                    }
                    Err(e) => view! { <main class="page"><p class="notice error">{e.to_string()}</p></main> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Shell(user: CurrentUser) -> impl IntoView {
    let logout = ServerAction::<Logout>::new();
    let storefront = format!("/s/{}", user.shop_slug);
    let live = InboxLive::new();
    provide_context(live);
    provide_context(crate::orders::ui::OrdersChanged(RwSignal::new(0)));
    // The tab's one event stream, for the inbox, the badges and the handover notifications.
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        crate::conversations::ui::listen(live);
    });
    let location = use_location();
    let on_channel_page = move || (location.pathname.get() == CHANNEL_PAGE).then_some("page");
    view! {
        <header class="dash-header">
            <a class="brand" href="/dashboard">"Bizmaat"</a>
            <span class="shop-name" data-testid="shop-name">{user.shop_name.clone()}</span>
            <alerts::HandoverAlerts live/>
            <details class="account-menu">
                // The name shown is the start of the name read out (WCAG "label in name"): a
                // voice-control user says what they see.
                <summary>{user.full_name.clone()}<span class="visually-hidden">", account menu"</span></summary>
                <div class="menu">
                    <p class="muted">{user.email.clone()}</p>
                    <a href="/dashboard/account">"Account"</a>
                    <ActionForm action=logout>
                        <button type="submit" class="link">"Log out"</button>
                    </ActionForm>
                </div>
            </details>
        </header>
        <div class="dash">
            <nav class="dash-nav" aria-label="Dashboard">
                <A href="/dashboard" exact=true>"Overview"</A>
                <A href="/dashboard/inbox">"Inbox" <UnreadConversationsBadge/></A>
                <A href="/dashboard/orders">"Orders" <NewOrdersBadge/></A>
                <A href="/dashboard/customers">"Customers"</A>
                <A href="/dashboard/products">"Products"</A>
                <A href="/dashboard/categories">"Categories"</A>
                <A href="/dashboard/import">"Import / export"</A>
                // A full page load: the channel page sends its own Content-Security-Policy (it
                // loads the Facebook SDK), which a client-side navigation would not pick up.
                <a href=CHANNEL_PAGE rel="external" aria-current=on_channel_page>"WhatsApp"</a>
                <A href="/dashboard/try">"Try your agent"</A>
                <A href="/dashboard/answers">"Saved answers"</A>
                <A href="/dashboard/settings">"Shop settings"</A>
                <A href="/dashboard/account">"Account"</A>
                // A full page load: storefront pages are served without the dashboard's WASM.
                <a href=storefront rel="external">"View storefront"</a>
            </nav>
            <main class="dash-main" id="main">
                <ChannelBanner/>
                <Outlet/>
            </main>
        </div>
    }
}

/// The count of new orders beside "Orders" in the navigation. It is fetched again on every
/// page change, when this tab changes an order's status, and on the inbox's live events, so it
/// stays right while the merchant moves around (the old number shows until the new arrives).
#[component]
fn NewOrdersBadge() -> impl IntoView {
    let live = use_context::<InboxLive>().unwrap_or_default();
    let changed = use_context::<crate::orders::ui::OrdersChanged>();
    let location = leptos_router::hooks::use_location();
    // Dashboard pages only: on the way out (log out) the shell is still here for a moment,
    // and a count fetched then would be refused.
    let page = Memo::new(move |prev: Option<&String>| {
        let path = location.pathname.get();
        if path.starts_with("/dashboard") {
            path
        } else {
            prev.cloned().unwrap_or_default()
        }
    });
    let count = Resource::new(
        move || (page.get(), changed.map(|c| c.0.get()), live.events.get()),
        |_| crate::orders::api::new_order_count(),
    );
    view! {
        <Transition>
            {move || count.get().and_then(Result::ok).filter(|n| *n > 0).map(|n| view! {
                <span class="badge count" data-testid="new-orders" aria-label=format!("{n} new")>{n}</span>
            })}
        </Transition>
    }
}

/// The count of conversations with unread messages beside "Inbox". It refreshes with the inbox's
/// live updates while the inbox is open.
#[component]
fn UnreadConversationsBadge() -> impl IntoView {
    let live = use_context::<InboxLive>().unwrap_or_default();
    let count = Resource::new(
        move || (live.events.get(), live.reads.get()),
        |_| crate::conversations::api::unread_count(),
    );
    view! {
        <Transition>
            {move || count.get().and_then(Result::ok).filter(|n| *n > 0).map(|n| view! {
                <span class="badge count" data-testid="inbox-unread" aria-label=format!("{n} unread")>{n}</span>
            })}
        </Transition>
    }
}

/// Across the top of every dashboard page while the WhatsApp number needs attention.
#[component]
fn ChannelBanner() -> impl IntoView {
    let alert = Resource::new(|| (), |_| crate::whatsapp::api::channel_alert());
    view! {
        <Suspense>
            {move || alert.get().and_then(Result::ok).flatten().map(|a| view! {
                <div class="banner warning" role="alert" data-testid="channel-alert">
                    {a.message}" "<a href=CHANNEL_PAGE rel="external">"Reconnect"</a>
                </div>
            })}
        </Suspense>
    }
}
