//! Account server functions: check, call the service, map errors. Each is reachable at
//! `/api/<endpoint>` and works from a plain HTML form as well as from script.

use super::CurrentUser;
use crate::error::ApiError;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use {
    super::ssr,
    crate::request::{request_ip, require_session, set_cookies, user_agent},
    crate::state::use_state,
};

#[server(endpoint = "signup", client = crate::api_client::ApiClient)]
pub async fn signup(
    full_name: String,
    email: String,
    business_name: String,
    password: String,
    adult: Option<String>,
    accept_policy: Option<String>,
    #[server(default)] currency: String,
    #[server(default)] time_zone: String,
) -> Result<(), ApiError> {
    let state = use_state()?;
    let input = super::SignupInput {
        full_name,
        email,
        business_name,
        currency,
        time_zone,
        password,
        adult,
        accept_policy,
    };
    ssr::request_signup(&state, input, request_ip()?).await?;
    leptos_axum::redirect("/signup/sent");
    Ok(())
}

/// The button on the page a signup link opens: creates the account and logs in. A page with a
/// button rather than the link itself, because mail scanners open links on their own.
#[server(endpoint = "signup/confirm", client = crate::api_client::ApiClient)]
pub async fn confirm_signup(token: String) -> Result<(), ApiError> {
    let state = use_state()?;
    let issued = ssr::confirm_signup(&state, &token, user_agent().as_deref()).await?;
    set_cookies(ssr::session_cookies(&state.config, &issued));
    leptos_axum::redirect("/dashboard");
    Ok(())
}

#[server(endpoint = "login", client = crate::api_client::ApiClient)]
pub async fn login(email: String, password: String, next: Option<String>) -> Result<(), ApiError> {
    let state = use_state()?;
    let issued = ssr::login(
        &state,
        &email,
        password,
        request_ip()?,
        user_agent().as_deref(),
    )
    .await?;
    set_cookies(ssr::session_cookies(&state.config, &issued));
    leptos_axum::redirect(&super::safe_next(next.as_deref()));
    Ok(())
}

#[server(endpoint = "logout", client = crate::api_client::ApiClient)]
pub async fn logout() -> Result<(), ApiError> {
    let state = use_state()?;
    if let Some(session) = crate::request::optional_session() {
        ssr::logout(&state.pool, session).await?;
    }
    set_cookies(ssr::clear_cookies(&state.config));
    leptos_axum::redirect("/login");
    Ok(())
}

#[server(endpoint = "logout-all", client = crate::api_client::ApiClient)]
pub async fn logout_all() -> Result<(), ApiError> {
    let state = use_state()?;
    let session = require_session()?;
    let mut conn = state
        .pool
        .acquire()
        .await
        .map_err(crate::error::AppError::from)?;
    ssr::logout_everywhere(&mut conn, session.merchant_id).await?;
    set_cookies(ssr::clear_cookies(&state.config));
    leptos_axum::redirect("/login");
    Ok(())
}

/// The signed-in merchant, or `None` when signed out (not an error: pages decide what to do).
#[server(endpoint = "me", client = crate::api_client::ApiClient)]
pub async fn get_current_user() -> Result<Option<CurrentUser>, ApiError> {
    let state = use_state()?;
    match crate::request::optional_session() {
        Some(session) => match ssr::current_user(&state.pool, session.merchant_id).await {
            Ok(user) => Ok(Some(user)),
            Err(crate::error::AppError::Unauthorized) => Ok(None),
            Err(e) => Err(e.into()),
        },
        None => Ok(None),
    }
}

#[server(endpoint = "forgot-password", client = crate::api_client::ApiClient)]
pub async fn forgot_password(email: String) -> Result<String, ApiError> {
    let state = use_state()?;
    ssr::request_password_reset(&state, &email, request_ip()?).await?;
    Ok(
        "If an account uses that email, a reset link is on its way. It works once, for one hour."
            .into(),
    )
}

#[server(endpoint = "reset-password", client = crate::api_client::ApiClient)]
pub async fn reset_password(token: String, password: String) -> Result<(), ApiError> {
    let state = use_state()?;
    ssr::reset_password(&state, &token, password).await?;
    set_cookies(ssr::clear_cookies(&state.config));
    leptos_axum::redirect("/login?reset=done");
    Ok(())
}

#[server(endpoint = "account/profile", client = crate::api_client::ApiClient)]
pub async fn update_profile(full_name: String, business_name: String) -> Result<String, ApiError> {
    let state = use_state()?;
    let session = require_session()?;
    ssr::update_profile(&state.pool, session.merchant_id, &full_name, &business_name).await?;
    Ok("Saved.".into())
}

#[server(endpoint = "account/email", client = crate::api_client::ApiClient)]
pub async fn change_email(email: String, current_password: String) -> Result<String, ApiError> {
    let state = use_state()?;
    let session = require_session()?;
    Ok(ssr::request_email_change(&state, session.merchant_id, &email, current_password).await?)
}

#[server(endpoint = "account/email/confirm", client = crate::api_client::ApiClient)]
pub async fn confirm_email_change(token: String) -> Result<(), ApiError> {
    let state = use_state()?;
    ssr::confirm_email_change(&state, &token).await?;
    leptos_axum::redirect("/account/email-changed");
    Ok(())
}

#[server(endpoint = "account/password", client = crate::api_client::ApiClient)]
pub async fn change_password(
    current_password: String,
    new_password: String,
) -> Result<String, ApiError> {
    let state = use_state()?;
    let session = require_session()?;
    let issued = ssr::change_password(
        &state,
        session.merchant_id,
        current_password,
        new_password,
        user_agent().as_deref(),
    )
    .await?;
    set_cookies(ssr::session_cookies(&state.config, &issued));
    Ok("Password changed. Every other device has been logged out.".into())
}
