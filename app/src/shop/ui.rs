//! The shop settings page.

use super::api::{RemoveLogo, UpdateShopSettings, get_shop_settings};
use crate::money::CURRENCIES;
use crate::ui::{Field, FormError, PageTitle, TextArea, action_error, field_error};
use leptos::form::ActionForm;
use leptos::prelude::*;

#[component]
pub fn ShopSettingsPage() -> impl IntoView {
    let update = ServerAction::<UpdateShopSettings>::new();
    let remove_logo = ServerAction::<RemoveLogo>::new();
    // Only a save reloads the form; the logo changes on its own (below), so an upload or a
    // removal never throws away settings being typed.
    let settings = Resource::new(move || update.version().get(), |_| get_shop_settings());
    let err = action_error(update);
    let query = leptos_router::hooks::use_query_map();
    let upload_error = move || query.read().get("upload_error");
    // The upload form posts and comes back here (`?uploaded=1`): say that it worked.
    let uploaded = move || query.read().get("uploaded").is_some();
    let saved = Signal::derive(move || update.value().get().is_some_and(|r| r.is_ok()));
    view! {
        <PageTitle title="Shop settings"/>
        <h1>"Shop settings"</h1>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match settings.await {
                    Err(e) => view! { <p class="notice error">{e.to_string()}</p> }.into_any(),
                    Ok(s) => {
                        let current = s.currency.clone();
                        let logo = RwSignal::new(s.logo.clone());
                        Effect::new(move |_| {
                            if remove_logo.value().get().is_some_and(|r| r.is_ok()) {
                                logo.set(None);
                            }
                        });
                        let reload_logo = Callback::new(move |_| {
                            leptos::task::spawn_local(async move {
                                if let Ok(s) = get_shop_settings().await {
                                    logo.set(s.logo);
                                }
                            });
                        });
                        let url = s.storefront_url.clone();
                        view! {
                            <section class="card">
                                <h2>"Your storefront"</h2>
                                <div class="copy-row">
                                    <a href=format!("/s/{}", s.slug) data-testid="storefront-link">{url.clone()}</a>
                                    <CopyButton text=url/>
                                </div>
                            </section>
                            <section class="card">
                                <h2>"Logo"</h2>
                                {upload_error().map(|m| view! { <p class="notice error" role="alert">{m}</p> })}
                                {uploaded().then(|| view! { <p class="notice ok" role="status">"Logo uploaded."</p> })}
                                {move || logo.get().map(|l| view! {
                                    <img class="logo-preview" src=l.thumb_src alt=l.alt width="96" height="96"/>
                                    <ActionForm action=remove_logo>
                                        <crate::ui::ConfirmSubmit label="Remove logo" confirm="Yes, remove it"
                                            question="Remove your logo? The storefront shows your shop's name instead."/>
                                    </ActionForm>
                                })}
                                <crate::media::ui::ImageUpload product_id=None cloudinary=s.cloudinary label="Upload a logo"
                                    on_done=reload_logo in_place=true/>
                            </section>
                            <ActionForm action=update attr:class="form card" attr:novalidate=true>
                                <FormError error=Signal::derive(move || err.get().filter(|e| !matches!(e, crate::error::ApiError::Validation(_))))/>
                                <Show when=move || saved.get()>
                                    <div class="notice ok" role="status">"Settings saved."</div>
                                </Show>
                                <Field label="Shop name" name="name" value=s.name.clone() required=true error=field_error(err, "name")/>
                                <Field label="Storefront address" name="slug" value=s.slug.clone() required=true
                                    hint="Lowercase letters, digits and hyphens. Changing it keeps the old link working."
                                    error=field_error(err, "slug")/>
                                <TextArea label="Description" name="description" value=s.description.clone() error=field_error(err, "description")/>
                                <div class="field">
                                    <label for="f-currency">"Currency"</label>
                                    <select id="f-currency" name="currency">
                                        {CURRENCIES.iter().map(|c| view! {
                                            <option value=c.code selected=c.code == current>{format!("{} — {}", c.code, c.name)}</option>
                                        }).collect_view()}
                                    </select>
                                    <p class="field-error" role="alert">{move || field_error(err, "currency").get()}</p>
                                </div>
                                <TimeZoneField value=s.time_zone.clone() error=field_error(err, "time_zone")/>
                                <Field label="WhatsApp number" name="whatsapp_number" kind="tel" value=s.whatsapp_number.clone()
                                    hint="With the country code, like +234 801 234 5678." error=field_error(err, "whatsapp_number")/>
                                <Field label="Contact email" name="contact_email" kind="email" value=s.contact_email.clone() error=field_error(err, "contact_email")/>
                                <TextArea label="Address (optional)" name="address" value=s.address.clone() error=field_error(err, "address")/>
                                <div class="field check">
                                    <input type="checkbox" id="f-notify_new_orders" name="notify_new_orders" value="on" checked=s.notify_new_orders/>
                                    <label for="f-notify_new_orders">"Email me about each new order"</label>
                                </div>
                                <button type="submit" class="button primary">"Save settings"</button>
                            </ActionForm>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

/// Copies text to the clipboard once the page is interactive; the link beside it works anyway.
#[component]
pub fn CopyButton(text: String) -> impl IntoView {
    let (copied, set_copied) = signal(false);
    let on_click = move |_| {
        #[cfg(feature = "hydrate")]
        {
            if let Some(w) = web_sys::window() {
                let _ = w.navigator().clipboard().write_text(&text);
                set_copied.set(true);
                // The set-up checklist's "share your link" step; losing it only leaves the
                // step open until a visit arrives.
                leptos::task::spawn_local(async move {
                    let _ = crate::overview::api::mark_link_shared().await;
                });
            }
        }
        #[cfg(not(feature = "hydrate"))]
        {
            let _ = &text;
            set_copied.set(true);
        }
    };
    view! {
        <button type="button" class="button" on:click=on_click>
            {move || if copied.get() { "Copied" } else { "Copy link" }}
        </button>
    }
}

/// The shop's time zone by its IANA name, with common ones suggested. A blank field (the signup
/// form) is filled with the browser's zone once the page is interactive; without JavaScript it
/// stays blank and the shop starts on UTC.
#[component]
pub fn TimeZoneField(
    #[prop(into)] value: String,
    #[prop(into)] error: Signal<Option<String>>,
) -> impl IntoView {
    let input = NodeRef::<leptos::html::Input>::new();
    #[cfg(feature = "hydrate")]
    {
        let blank = value.trim().is_empty();
        Effect::new(move |_| {
            if let Some(el) = input.get()
                && blank
                && el.value().is_empty()
                && let Some(zone) = browser_zone()
            {
                el.set_value(&zone);
            }
        });
    }
    view! {
        <div class="field" class:has-error=move || error.get().is_some()>
            <label for="f-time_zone">"Time zone"</label>
            <p class="hint" id="f-time_zone-hint">
                "Dates and times in your dashboard, exports and emails use it, and your opening hours too. A name like Africa/Lagos."
            </p>
            <input id="f-time_zone" name="time_zone" list="f-shop-time-zones" value=value autocomplete="off"
                node_ref=input
                aria-invalid=move || if error.get().is_some() { "true" } else { "false" }
                aria-describedby=move || if error.get().is_some() { "f-time_zone-hint f-time_zone-error" } else { "f-time_zone-hint" }/>
            <datalist id="f-shop-time-zones">
                {crate::agent::hours::SUGGESTED_ZONES.into_iter().map(|z| view! { <option value=z></option> }).collect_view()}
            </datalist>
            <p class="field-error" id="f-time_zone-error" role="alert">{move || error.get()}</p>
        </div>
    }
}

/// The browser's own IANA zone (`Intl.DateTimeFormat().resolvedOptions().timeZone`).
#[cfg(feature = "hydrate")]
fn browser_zone() -> Option<String> {
    use web_sys::js_sys::{Array, Intl, Object, Reflect};
    let options = Intl::DateTimeFormat::new(&Array::new(), &Object::new()).resolved_options();
    Reflect::get(&options, &"timeZone".into())
        .ok()?
        .as_string()
        .filter(|z| !z.is_empty())
}
