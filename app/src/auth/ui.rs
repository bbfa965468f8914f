//! Signup, login, password reset and account pages. Every form is a server-function form: it
//! posts as plain HTML before the WASM loads, and runs in place after.

use super::api::{
    ChangeEmail, ChangePassword, ConfirmEmailChange, ConfirmSignup, ForgotPassword, Login,
    LogoutAll, ResetPassword, Signup, UpdateProfile,
};
use super::{CurrentUser, MIN_PASSWORD_LEN};
use crate::ui::{
    CheckField, Field, FormError, FormOk, PageTitle, action_error, action_ok, field_error,
};
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

#[component]
pub fn SignupPage() -> impl IntoView {
    let action = ServerAction::<Signup>::new();
    let err = action_error(action);
    view! {
        <PageTitle title="Create your shop"/>
        <main class="page narrow" id="main">
            <h1>"Create your shop"</h1>
            <p class="muted">"Sell on WhatsApp with a storefront of your own. Free to start."</p>
            <ActionForm action=action attr:class="form" attr:novalidate=true>
                <FormError error=Signal::derive(move || err.get().filter(|e| !matches!(e, crate::error::ApiError::Validation(_))))/>
                <Field label="Full name" name="full_name" autocomplete="name" required=true error=field_error(err, "full_name")/>
                <Field label="Email" name="email" kind="email" autocomplete="email" required=true error=field_error(err, "email")/>
                <Field label="Business name" name="business_name" autocomplete="organization" required=true
                    hint="Shown on your storefront. You can change it later." error=field_error(err, "business_name")/>
                <div class="field" class:has-error=move || field_error(err, "currency").get().is_some()>
                    <label for="f-currency">"Currency"</label>
                    <p class="hint" id="f-currency-hint">"The currency your prices are in."</p>
                    <select id="f-currency" name="currency" required=true
                        aria-invalid=move || if field_error(err, "currency").get().is_some() { "true" } else { "false" }
                        aria-describedby=move || if field_error(err, "currency").get().is_some() { "f-currency-hint f-currency-error" } else { "f-currency-hint" }>
                        <option value="">"Choose your currency"</option>
                        {crate::money::CURRENCIES.iter().map(|c| view! {
                            <option value=c.code>{format!("{} — {}", c.code, c.name)}</option>
                        }).collect_view()}
                    </select>
                    <p class="field-error" id="f-currency-error" role="alert">{move || field_error(err, "currency").get()}</p>
                </div>
                <crate::shop::ui::TimeZoneField value=String::new() error=field_error(err, "time_zone")/>
                <Field label="Password" name="password" kind="password" autocomplete="new-password" required=true
                    hint=format!("At least {MIN_PASSWORD_LEN} characters. A short sentence works well.")
                    error=field_error(err, "password")/>
                <CheckField name="adult" error=field_error(err, "adult")>"I am 18 or older."</CheckField>
                <CheckField name="accept_policy" error=field_error(err, "accept_policy")>
                    "I have read and accept the " <a href="/privacy" target="_blank">"privacy policy"</a> "."
                </CheckField>
                <button type="submit" class="button primary" disabled=move || action.pending().get()>"Create my shop"</button>
            </ActionForm>
            <p>"Already have an account? " <a href="/login">"Log in"</a></p>
        </main>
    }
}

/// Where a signup lands: the same page whether or not the address already had an account.
#[component]
pub fn SignupSentPage() -> impl IntoView {
    view! {
        <PageTitle title="Check your inbox"/>
        <main class="page narrow" id="main">
            <h1>"Check your inbox"</h1>
            <p>"We sent an email to the address you gave. Open the link in it to confirm your address and open your shop."</p>
            <p class="muted">"No email after a few minutes? Look in your spam folder, or "<a href="/signup">"sign up again"</a>"."</p>
        </main>
    }
}

/// Opened from the signup email. A button rather than the link itself finishes the signup:
/// mail scanners open links on their own, and must not spend the token or get the session.
#[component]
pub fn SignupConfirmPage() -> impl IntoView {
    let action = ServerAction::<ConfirmSignup>::new();
    let err = action_error(action);
    let query = use_query_map();
    let token = move || query.read().get("token").unwrap_or_default();
    view! {
        <PageTitle title="Open your shop"/>
        <main class="page narrow" id="main">
            <h1>"Open your shop"</h1>
            <p>"Your email is confirmed as soon as you press the button."</p>
            <ActionForm action=action attr:class="form">
                {move || field_error(err, "token").get().map(|m| view! {
                    <div class="notice error" role="alert">{m}" "<a href="/signup">"Sign up"</a>" · "<a href="/login">"Log in"</a></div>
                })}
                <FormError error=Signal::derive(move || err.get().filter(|e| !matches!(e, crate::error::ApiError::Validation(_))))/>
                <input type="hidden" name="token" value=token/>
                <button type="submit" class="button primary" disabled=move || action.pending().get()>"Open my dashboard"</button>
            </ActionForm>
        </main>
    }
}

/// Opened from the email sent to a new login address.
#[component]
pub fn ConfirmEmailPage() -> impl IntoView {
    let action = ServerAction::<ConfirmEmailChange>::new();
    let err = action_error(action);
    let query = use_query_map();
    let token = move || query.read().get("token").unwrap_or_default();
    view! {
        <PageTitle title="Confirm your new email"/>
        <main class="page narrow" id="main">
            <h1>"Confirm your new email"</h1>
            <ActionForm action=action attr:class="form">
                {move || field_error(err, "token").get().map(|m| view! {
                    <div class="notice error" role="alert">{m}</div>
                })}
                <FormError error=Signal::derive(move || err.get().filter(|e| !matches!(e, crate::error::ApiError::Validation(_))))/>
                <input type="hidden" name="token" value=token/>
                <button type="submit" class="button primary" disabled=move || action.pending().get()>"Use this address to log in"</button>
            </ActionForm>
        </main>
    }
}

#[component]
pub fn EmailChangedPage() -> impl IntoView {
    view! {
        <PageTitle title="Email changed"/>
        <main class="page narrow" id="main">
            <h1>"Email changed"</h1>
            <div class="notice ok" role="status">"From now on you log in with your new address."</div>
            <p><a href="/dashboard">"Go to your dashboard"</a></p>
        </main>
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let action = ServerAction::<Login>::new();
    let err = action_error(action);
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    let reset_done = move || query.read().get("reset").is_some();
    view! {
        <PageTitle title="Log in"/>
        <main class="page narrow" id="main">
            <h1>"Log in"</h1>
            <Show when=reset_done>
                <div class="notice ok" role="status">"Your password is changed. Log in with the new one."</div>
            </Show>
            <ActionForm action=action attr:class="form" attr:novalidate=true>
                <FormError error=Signal::derive(move || err.get().filter(|e| !matches!(e, crate::error::ApiError::Validation(_))))/>
                <input type="hidden" name="next" value=next/>
                <Field label="Email" name="email" kind="email" autocomplete="email" required=true error=field_error(err, "email")/>
                <Field label="Password" name="password" kind="password" autocomplete="current-password" required=true
                    error=field_error(err, "password")/>
                <button type="submit" class="button primary" disabled=move || action.pending().get()>"Log in"</button>
            </ActionForm>
            <p><a href="/forgot-password">"Forgot your password?"</a></p>
            <p>"New to Bizmaat? " <a href="/signup">"Create your shop"</a></p>
        </main>
    }
}

#[component]
pub fn ForgotPasswordPage() -> impl IntoView {
    let action = ServerAction::<ForgotPassword>::new();
    let err = action_error(action);
    view! {
        <PageTitle title="Reset your password"/>
        <main class="page narrow" id="main">
            <h1>"Reset your password"</h1>
            <p class="muted">"Enter the email of your account and we will send you a link to choose a new password."</p>
            <ActionForm action=action attr:class="form" attr:novalidate=true>
                <FormOk message=action_ok(action)/>
                <FormError error=Signal::derive(move || err.get().filter(|e| !matches!(e, crate::error::ApiError::Validation(_))))/>
                <Field label="Email" name="email" kind="email" autocomplete="email" required=true error=field_error(err, "email")/>
                <button type="submit" class="button primary" disabled=move || action.pending().get()>"Send reset link"</button>
            </ActionForm>
            <p><a href="/login">"Back to log in"</a></p>
        </main>
    }
}

#[component]
pub fn ResetPasswordPage() -> impl IntoView {
    let action = ServerAction::<ResetPassword>::new();
    let err = action_error(action);
    let query = use_query_map();
    let token = move || query.read().get("token").unwrap_or_default();
    view! {
        <PageTitle title="Choose a new password"/>
        <main class="page narrow" id="main">
            <h1>"Choose a new password"</h1>
            <ActionForm action=action attr:class="form" attr:novalidate=true>
                {move || field_error(err, "token").get().map(|m| view! {
                    <div class="notice error" role="alert">{m}" "<a href="/forgot-password">"Send a new link"</a></div>
                })}
                <FormError error=Signal::derive(move || err.get().filter(|e| !matches!(e, crate::error::ApiError::Validation(_))))/>
                <input type="hidden" name="token" value=token/>
                <Field label="New password" name="password" kind="password" autocomplete="new-password" required=true
                    hint=format!("At least {MIN_PASSWORD_LEN} characters.") error=field_error(err, "password")/>
                <button type="submit" class="button primary" disabled=move || action.pending().get()>"Set new password"</button>
            </ActionForm>
        </main>
    }
}

#[component]
pub fn AccountPage() -> impl IntoView {
    let user = expect_context::<CurrentUser>();
    let profile = ServerAction::<UpdateProfile>::new();
    let email = ServerAction::<ChangeEmail>::new();
    let password = ServerAction::<ChangePassword>::new();
    let logout_all = ServerAction::<LogoutAll>::new();
    let (pe, ee, pwe) = (
        action_error(profile),
        action_error(email),
        action_error(password),
    );
    // A changed password is not left in the form (for the next person at this screen, and for
    // password managers that would offer to save the old one).
    let password_form = NodeRef::<leptos::html::Form>::new();
    Effect::new(move |_| {
        if action_ok(password).get().is_some()
            && let Some(form) = password_form.get()
        {
            form.reset();
        }
    });
    view! {
        <PageTitle title="Account"/>
        <h1>"Account"</h1>
        <section class="card">
            <h2>"Profile"</h2>
            <ActionForm action=profile attr:class="form" attr:novalidate=true>
                <FormOk message=action_ok(profile)/>
                <Field label="Full name" name="full_name" value=user.full_name.clone() error=field_error(pe, "full_name")/>
                <Field label="Business name" name="business_name" value=user.shop_name.clone() error=field_error(pe, "business_name")/>
                <button type="submit" class="button">"Save profile"</button>
            </ActionForm>
        </section>
        <section class="card">
            <h2>"Email"</h2>
            <ActionForm action=email attr:class="form" attr:novalidate=true>
                <FormOk message=action_ok(email)/>
                <FormError error=Signal::derive(move || ee.get().filter(|e| !matches!(e, crate::error::ApiError::Validation(_))))/>
                <Field label="Email" name="email" kind="email" value=user.email.clone() error=field_error(ee, "email")/>
                <Field label="Current password" name="current_password" id="f-email-current-password" kind="password"
                    autocomplete="current-password" error=field_error(ee, "current_password")
                    hint="We send a link to the new address; the change happens when you open it."/>
                <button type="submit" class="button">"Change email"</button>
            </ActionForm>
        </section>
        <section class="card">
            <h2>"Password"</h2>
            <ActionForm action=password node_ref=password_form attr:class="form" attr:novalidate=true>
                <FormOk message=action_ok(password)/>
                <FormError error=Signal::derive(move || pwe.get().filter(|e| !matches!(e, crate::error::ApiError::Validation(_))))/>
                <Field label="Current password" name="current_password" id="f-password-current-password" kind="password"
                    autocomplete="current-password" error=field_error(pwe, "current_password")/>
                <Field label="New password" name="new_password" kind="password" autocomplete="new-password"
                    hint="Changing it logs out every other device." error=field_error(pwe, "new_password")/>
                <button type="submit" class="button">"Change password"</button>
            </ActionForm>
        </section>
        <section class="card">
            <h2>"Devices"</h2>
            <p>"Log out everywhere you are signed in, including this browser."</p>
            <ActionForm action=logout_all>
                <button type="submit" class="button danger">"Log out of all devices"</button>
            </ActionForm>
        </section>
    }
}
