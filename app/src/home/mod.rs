//! The public landing page.

use crate::ui::PageTitle;
use leptos::prelude::*;
use leptos_meta::Meta;

#[component]
pub fn HomePage() -> impl IntoView {
    view! {
        <PageTitle title="Sell on WhatsApp"/>
        <Meta name="description" content="Bizmaat gives small merchants a fast storefront and an AI assistant that answers customers on WhatsApp from their catalogue."/>
        <main class="page hero" id="main">
            <h1>"Your shop, on WhatsApp."</h1>
            <p class="lead">"A fast storefront search engines can read, and an assistant that answers your customers on WhatsApp from your own catalogue, takes orders, and calls you in when a human should step in."</p>
            <p class="actions">
                <a class="button primary" href="/signup">"Create your shop"</a>
                <a class="button" href="/login">"Log in"</a>
            </p>
            <p class="muted"><a href="/privacy">"Privacy policy"</a></p>
        </main>
    }
}
