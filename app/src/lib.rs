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
use leptos_router::{Lazy, SsrMode, path};

/// The pages behind lazy routes, in sections. In the browser each section's code is fetched
/// when one of its pages is first opened (the server preloads the chunks of the page it renders),
/// so the first download is the router, the dashboard's frame and what pages share; the build
/// cuts the chunks out (`.ci/site.sh`, `frontend/split`). On the server they render at once.
/// One split point per section rather than per page: the splitter makes a chunk for every set of
/// split points that share code, and 36 points made 715 chunks (over a hundred requests for a
/// page); a section's pages are also the ones a merchant opens one after another.
/// Storefront pages are lazy too: they load no WASM at all when opened from a link (the shell
/// gives them `/storefront.js` and no preloads), and in the SPA (reached from the dashboard's
/// links) their code is fetched when first opened.
mod pages {
    macro_rules! lazy_sections {
        ($($section:ident { $($route:ident => $page:path),* $(,)? })*) => {$(
            pub mod $section {
                use leptos::prelude::*;
                use leptos_router::LazyRoute;

                // The variants are the routes' names, whatever they share.
                #[allow(clippy::enum_variant_names)]
                #[derive(Clone, Copy)]
                enum Page {
                    $($route),*
                }

                /// The section's split point: every page of it is reached only through here.
                /// Named after the section (the split's name); `__preload_section` is what the
                /// macro makes to fetch its chunks.
                #[::leptos::lazy($section)]
                fn section(page: Page) -> AnyView {
                    match page {
                        $(Page::$route => untrack(|| $page().into_any()),)*
                    }
                }

                $(
                    pub struct $route;

                    impl LazyRoute for $route {
                        fn data() -> Self {
                            $route
                        }

                        async fn view(_this: Self) -> AnyView {
                            section(Page::$route).await
                        }

                        // Hydration renders the page synchronously after the router awaited
                        // this: without it the chunks are not there yet and the page does not
                        // match the server's HTML.
                        async fn preload() {
                            #[cfg(target_arch = "wasm32")]
                            __preload_section().await;
                        }
                    }
                )*
            }
            pub use $section::*;
        )*};
    }

    lazy_sections! {
        auth {
            Signup => crate::auth::ui::SignupPage,
            SignupSent => crate::auth::ui::SignupSentPage,
            SignupConfirm => crate::auth::ui::SignupConfirmPage,
            ConfirmEmail => crate::auth::ui::ConfirmEmailPage,
            EmailChanged => crate::auth::ui::EmailChangedPage,
            Login => crate::auth::ui::LoginPage,
            ForgotPassword => crate::auth::ui::ForgotPasswordPage,
            ResetPassword => crate::auth::ui::ResetPasswordPage,
        }
        public {
            Home => crate::home::HomePage,
            Privacy => crate::policy::PrivacyPage,
            Mailbox => crate::mail::ui::MailboxPage,
        }
        overview {
            Overview => crate::overview::ui::OverviewPage,
        }
        settings {
            Account => crate::auth::ui::AccountPage,
            ShopSettings => crate::shop::ui::ShopSettingsPage,
            WhatsAppChannel => crate::whatsapp::ui::ChannelPage,
        }
        catalog {
            Products => crate::catalog::ui::ProductsPage,
            NewProduct => crate::catalog::ui::NewProductPage,
            EditProduct => crate::catalog::ui::EditProductPage,
            Categories => crate::catalog::ui::CategoriesPage,
            ImportExport => crate::catalog::ui::ImportExportPage,
            ImportPreview => crate::catalog::ui::ImportPreviewPage,
        }
        sales {
            Orders => crate::orders::ui::OrdersPage,
            OrderDetail => crate::orders::ui::OrderDetailPage,
            Customers => crate::customers::ui::CustomersPage,
            CustomerDetail => crate::customers::ui::CustomerDetailPage,
        }
        inbox {
            Inbox => crate::conversations::ui::InboxPage,
            InboxPlaceholder => crate::conversations::ui::InboxPlaceholder,
            Thread => crate::conversations::ui::ThreadPage,
        }
        agent {
            Faq => crate::agent::ui::FaqPage,
            Try => crate::agent::ui::TryPage,
        }
        storefront {
            StoreHome => crate::storefront::ui::StoreHome,
            StoreCategory => crate::storefront::ui::StoreCategory,
            StoreProduct => crate::storefront::ui::StoreProduct,
            StoreSearch => crate::storefront::ui::StoreSearch,
            StoreCart => crate::storefront::ui::StoreCart,
            StoreOrderConfirmation => crate::storefront::ui::StoreOrderConfirmation,
        }
    }
}

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
                {head_start(css_href(&options))}
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

/// What every page's `<head>` starts with (the storefront's own renderer uses it too).
#[cfg(feature = "ssr")]
pub(crate) fn head_start(css: String) -> impl IntoView {
    view! {
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <link rel="icon" href="/favicon.ico"/>
        <link rel="stylesheet" id="leptos" href=css/>
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
                <Route path=path!("") view={Lazy::<pages::Home>::new()}/>
                <Route path=path!("/signup") view={Lazy::<pages::Signup>::new()}/>
                <Route path=path!("/signup/sent") view={Lazy::<pages::SignupSent>::new()}/>
                <Route path=path!("/signup/confirm") view={Lazy::<pages::SignupConfirm>::new()}/>
                <Route path=path!("/account/confirm-email") view={Lazy::<pages::ConfirmEmail>::new()}/>
                <Route path=path!("/account/email-changed") view={Lazy::<pages::EmailChanged>::new()}/>
                <Route path=path!("/login") view={Lazy::<pages::Login>::new()}/>
                <Route path=path!("/forgot-password") view={Lazy::<pages::ForgotPassword>::new()}/>
                <Route path=path!("/reset-password") view={Lazy::<pages::ResetPassword>::new()}/>
                <Route path=path!("/privacy") view={Lazy::<pages::Privacy>::new()}/>
                <Route path=path!("/dev/mailbox") view={Lazy::<pages::Mailbox>::new()}/>
                <ParentRoute path=path!("/dashboard") view=dashboard::DashboardLayout>
                    <Route path=path!("") view={Lazy::<pages::Overview>::new()}/>
                    <Route path=path!("/account") view={Lazy::<pages::Account>::new()}/>
                    <Route path=path!("/settings") view={Lazy::<pages::ShopSettings>::new()}/>
                    <Route path=path!("/products") view={Lazy::<pages::Products>::new()}/>
                    <Route path=path!("/products/new") view={Lazy::<pages::NewProduct>::new()}/>
                    <Route path=path!("/products/:id") view={Lazy::<pages::EditProduct>::new()}/>
                    <Route path=path!("/categories") view={Lazy::<pages::Categories>::new()}/>
                    <Route path=path!("/import") view={Lazy::<pages::ImportExport>::new()}/>
                    <Route path=path!("/import/:id") view={Lazy::<pages::ImportPreview>::new()}/>
                    <Route path=path!("/orders") view={Lazy::<pages::Orders>::new()}/>
                    <Route path=path!("/orders/:id") view={Lazy::<pages::OrderDetail>::new()}/>
                    <Route path=path!("/customers") view={Lazy::<pages::Customers>::new()}/>
                    <Route path=path!("/customers/:id") view={Lazy::<pages::CustomerDetail>::new()}/>
                    // The list stays mounted while threads open beside it (one event stream).
                    <ParentRoute path=path!("/inbox") view={Lazy::<pages::Inbox>::new()}>
                        <Route path=path!("") view={Lazy::<pages::InboxPlaceholder>::new()}/>
                        <Route path=path!("/:id") view={Lazy::<pages::Thread>::new()}/>
                    </ParentRoute>
                    <Route path=path!("/answers") view={Lazy::<pages::Faq>::new()}/>
                    <Route path=path!("/try") view={Lazy::<pages::Try>::new()}/>
                    // Rendered completely before it is sent, so the Embedded Signup markup and its
                    // <script> are in the HTML itself (not streamed in later).
                    <Route path=path!("/channels/whatsapp") view={Lazy::<pages::WhatsAppChannel>::new()} ssr=SsrMode::Async/>
                </ParentRoute>
                // Storefront: rendered completely before the response starts, so <head> has
                // the page's title and meta tags and the status can be 404 or 301.
                <Route path=path!("/s/:slug") view={Lazy::<pages::StoreHome>::new()} ssr=SsrMode::Async/>
                <Route path=path!("/s/:slug/c/:category") view={Lazy::<pages::StoreCategory>::new()} ssr=SsrMode::Async/>
                <Route path=path!("/s/:slug/p/:product") view={Lazy::<pages::StoreProduct>::new()} ssr=SsrMode::Async/>
                <Route path=path!("/s/:slug/search") view={Lazy::<pages::StoreSearch>::new()} ssr=SsrMode::Async/>
                <Route path=path!("/s/:slug/cart") view={Lazy::<pages::StoreCart>::new()} ssr=SsrMode::Async/>
                <Route path=path!("/s/:slug/order/:id") view={Lazy::<pages::StoreOrderConfirmation>::new()} ssr=SsrMode::Async/>
            </Routes>
        </Router>
    }
}
