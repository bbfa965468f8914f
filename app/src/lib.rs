//! Bizmaat's Leptos app, compiled for the server (`ssr`) and for the browser (`hydrate`).
//! One folder per capability; see ARCHITECTURE.md in the team's shared notes and README.md.

#![recursion_limit = "256"]
// Server functions take one argument per form field, so long argument lists are the norm here.
#![allow(clippy::too_many_arguments)]

pub mod agent;
pub mod analytics;
pub mod api_client;
pub mod auth;
pub mod catalog;
pub mod conversations;
pub mod customers;
pub mod dashboard;
pub mod error;
pub mod home;
pub mod links;
pub mod mail;
pub mod media;
pub mod money;
pub mod orders;
pub mod overview;
pub mod policy;
pub mod shop;
pub mod storefront;
pub mod ui;
pub mod whatsapp;

#[cfg(feature = "ssr")]
pub mod config;
#[cfg(feature = "ssr")]
pub mod platform;
#[cfg(feature = "ssr")]
pub mod request;
#[cfg(feature = "ssr")]
pub mod state;

use leptos::prelude::*;
use leptos_meta::provide_meta_context;
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::{SsrMode, path};

/// The HTML document around the app (server only).
/// Storefront pages (`/s/…`) are not hydrated: they load `/storefront.js` (a few KB) instead of
/// the dashboard's WASM, and work without any script (issue 12; see README, "Storefront speed").
#[cfg(feature = "ssr")]
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let storefront = use_context::<http::request::Parts>()
        .is_some_and(|p| storefront::is_storefront_path(p.uri.path()));
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="/favicon.ico"/>
                <link rel="stylesheet" id="leptos" href=css_href(&options)/>
                {if storefront {
                    view! { <script src=STOREFRONT_JS defer></script> }.into_any()
                } else {
                    view! {
                        <AutoReload options=options.clone()/>
                        <HydrationScripts options/>
                    }
                    .into_any()
                }}
                <leptos_meta::MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The storefront's script (in `public/`).
#[cfg(feature = "ssr")]
pub const STOREFRONT_JS: &str = "/storefront.js";

/// The stylesheet's URL: with cargo-leptos `hash-files` the name carries the content hash
/// (listed in `hash.txt` beside the server binary), so it can be cached for a year.
#[cfg(feature = "ssr")]
pub(crate) fn css_href(options: &LeptosOptions) -> String {
    let mut name = options.output_name.to_string();
    if options.hash_files {
        static CSS_HASH: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
        let hash = CSS_HASH.get_or_init(|| {
            let exe = std::env::current_exe().ok()?;
            let text =
                std::fs::read_to_string(exe.parent()?.join(options.hash_file.as_ref())).ok()?;
            text.lines()
                .find_map(|l| l.trim().strip_prefix("css:").map(|h| h.trim().to_string()))
        });
        if let Some(h) = hash {
            name = format!("{name}.{h}");
        }
    }
    format!("/{}/{name}.css", options.site_pkg_dir)
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <a class="skip" href="#main">"Skip to content"</a>
        <Router>
            <Routes fallback=ui::NotFound>
                <Route path=path!("") view=home::HomePage/>
                <Route path=path!("/signup") view=auth::ui::SignupPage/>
                <Route path=path!("/signup/sent") view=auth::ui::SignupSentPage/>
                <Route path=path!("/signup/confirm") view=auth::ui::SignupConfirmPage/>
                <Route path=path!("/account/confirm-email") view=auth::ui::ConfirmEmailPage/>
                <Route path=path!("/account/email-changed") view=auth::ui::EmailChangedPage/>
                <Route path=path!("/login") view=auth::ui::LoginPage/>
                <Route path=path!("/forgot-password") view=auth::ui::ForgotPasswordPage/>
                <Route path=path!("/reset-password") view=auth::ui::ResetPasswordPage/>
                <Route path=path!("/privacy") view=policy::PrivacyPage/>
                <Route path=path!("/dev/mailbox") view=mail::ui::MailboxPage/>
                <ParentRoute path=path!("/dashboard") view=dashboard::DashboardLayout>
                    <Route path=path!("") view=overview::ui::OverviewPage/>
                    <Route path=path!("/account") view=auth::ui::AccountPage/>
                    <Route path=path!("/settings") view=shop::ui::ShopSettingsPage/>
                    <Route path=path!("/products") view=catalog::ui::ProductsPage/>
                    <Route path=path!("/products/new") view=catalog::ui::NewProductPage/>
                    <Route path=path!("/products/:id") view=catalog::ui::EditProductPage/>
                    <Route path=path!("/categories") view=catalog::ui::CategoriesPage/>
                    <Route path=path!("/import") view=catalog::ui::ImportExportPage/>
                    <Route path=path!("/import/:id") view=catalog::ui::ImportPreviewPage/>
                    <Route path=path!("/orders") view=orders::ui::OrdersPage/>
                    <Route path=path!("/orders/:id") view=orders::ui::OrderDetailPage/>
                    <Route path=path!("/customers") view=customers::ui::CustomersPage/>
                    <Route path=path!("/customers/:id") view=customers::ui::CustomerDetailPage/>
                    // The list stays mounted while threads open beside it (one event stream).
                    <ParentRoute path=path!("/inbox") view=conversations::ui::InboxPage>
                        <Route path=path!("") view=conversations::ui::InboxPlaceholder/>
                        <Route path=path!("/:id") view=conversations::ui::ThreadPage/>
                    </ParentRoute>
                    <Route path=path!("/answers") view=agent::ui::FaqPage/>
                    <Route path=path!("/try") view=agent::ui::TryPage/>
                    // Rendered completely before it is sent, so the Embedded Signup markup and its
                    // <script> are in the HTML itself (not streamed in later).
                    <Route path=path!("/channels/whatsapp") view=whatsapp::ui::ChannelPage ssr=SsrMode::Async/>
                </ParentRoute>
                // Storefront: rendered completely before the response starts, so <head> has
                // the page's title and meta tags and the status can be 404 or 301.
                <Route path=path!("/s/:slug") view=storefront::ui::StoreHome ssr=SsrMode::Async/>
                <Route path=path!("/s/:slug/c/:category") view=storefront::ui::StoreCategory ssr=SsrMode::Async/>
                <Route path=path!("/s/:slug/p/:product") view=storefront::ui::StoreProduct ssr=SsrMode::Async/>
                <Route path=path!("/s/:slug/search") view=storefront::ui::StoreSearch ssr=SsrMode::Async/>
                <Route path=path!("/s/:slug/cart") view=storefront::ui::StoreCart ssr=SsrMode::Async/>
                <Route path=path!("/s/:slug/order/:id") view=storefront::ui::StoreOrderConfirmation ssr=SsrMode::Async/>
            </Routes>
        </Router>
    }
}
