//! Merchant accounts: signup, login, sessions, logout, password reset and change, rate limits.

use crate::helpers::*;
use serde_json::Value;

fn field_error(body: &Value, field: &str) -> Option<String> {
    body.get("fields")?.get(field)?.as_str().map(str::to_owned)
}

#[tokio::test]
async fn signup_creates_merchant_shop_and_session() {
    let app = spawn_app().await;
    let res = app
        .call("signup", &signup_form("Amina Yusuf", "Amina@Example.com"))
        .await;
    assert_eq!(res.status(), 200);
    assert!(set_cookie(&res, "bz_at").is_some_and(|v| !v.is_empty()));
    let cookie_line = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        cookie_line.contains("HttpOnly") && cookie_line.contains("SameSite=Lax"),
        "{cookie_line}"
    );
    // The session works at once, and the email was stored normalised.
    assert_eq!(
        app.me(&app.client).await.as_deref(),
        Some("amina@example.com")
    );

    let (version, adult_set, policy_set, shop_name, slug): (String, bool, bool, String, String) = sqlx::query_as(
        "select m.policy_version, m.adult_confirmed_at is not null, m.policy_accepted_at <= now(), s.name, s.slug
         from merchants m join shops s on s.merchant_id = m.id",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(version, app::policy::PRIVACY_POLICY_VERSION);
    assert!(adult_set && policy_set);
    assert_eq!(
        (shop_name.as_str(), slug.as_str()),
        ("Test Traders", "test-traders")
    );
    let hash: String = sqlx::query_scalar("select password_hash from merchants")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
}

#[tokio::test]
async fn signup_rejects_each_invalid_field_with_a_message() {
    let app = spawn_app().await;
    let cases: &[(&str, &str, &str)] = &[
        ("full_name", "", "Enter your full name."),
        (
            "email",
            "not-an-email",
            "Enter an email address like name@example.com.",
        ),
        ("business_name", "", "Enter your business name."),
        ("password", "short", "Use at least 10 characters."),
        (
            "password",
            "password123",
            "This password is too common and easy to guess. Choose another.",
        ),
        ("adult", "", "You must be 18 or older to use Bizmaat."),
        (
            "accept_policy",
            "",
            "Please read and accept the privacy policy.",
        ),
    ];
    for (field, value, message) in cases {
        let mut form = signup_form("Bad Field", "bad@example.com");
        form.retain(|(k, _)| k != field);
        if !value.is_empty() || !matches!(*field, "adult" | "accept_policy") {
            form.push((field, value));
        }
        let res = app.call("signup", &form).await;
        assert_eq!(res.status(), 422, "field {field}");
        let body = json(res).await;
        assert_eq!(
            field_error(&body, field).as_deref(),
            Some(*message),
            "field {field}: {body}"
        );
    }
    let count: i64 = sqlx::query_scalar("select count(*) from merchants")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 0, "nothing is stored from an invalid form");
}

// A signup with an address that has an account answers like any other signup: see
// hardening::signup_answers_alike_for_new_and_registered_addresses.

#[tokio::test]
async fn login_succeeds_and_failures_look_alike() {
    let app = spawn_app().await;
    let email = app.signup("Login Person").await;

    let fresh = client();
    let ok = app.login_with(&fresh, &email, PASSWORD).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(app.me(&fresh).await, Some(email.clone()));

    let wrong = app
        .login_with(&client(), &email, "not the password at all")
        .await;
    let unknown = app
        .login_with(&client(), "nobody@example.com", PASSWORD)
        .await;
    assert_eq!(wrong.status(), 422);
    assert_eq!(wrong.status(), unknown.status());
    assert_eq!(
        json(wrong).await,
        json(unknown).await,
        "wrong password and unknown email answer alike"
    );
}

#[tokio::test]
async fn an_expired_access_token_is_renewed_from_the_refresh_token() {
    let app = spawn_app().await;
    let res = app
        .call("signup", &signup_form("Refresh Me", "refresh@example.com"))
        .await;
    let refresh = set_cookie(&res, "bz_rt").unwrap();
    // A device that holds only the refresh cookie (its access token has expired).
    let device = client_with_cookie(&format!("bz_rt={refresh}"));
    let res = call_with(&device, &app.url("/api/me"), &[]).await;
    assert!(
        set_cookie(&res, "bz_at").is_some_and(|v| !v.is_empty()),
        "a new access token is issued"
    );
    let body = json(res).await;
    assert_eq!(body["email"], "refresh@example.com");

    // A made-up refresh token gives nothing and clears the cookies.
    let forged = client_with_cookie("bz_rt=forged-token");
    let res = call_with(&forged, &app.url("/api/me"), &[]).await;
    assert_eq!(set_cookie(&res, "bz_rt").as_deref(), Some(""));
    assert_eq!(json(res).await, Value::Null);
}

#[tokio::test]
async fn logout_revokes_the_refresh_token() {
    let app = spawn_app().await;
    let res = app
        .call("signup", &signup_form("Log Out", "logout@example.com"))
        .await;
    let refresh = set_cookie(&res, "bz_rt").unwrap();
    let res = app.call("logout", &[]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        set_cookie(&res, "bz_at").as_deref(),
        Some(""),
        "cookies are cleared"
    );
    assert_eq!(app.me(&app.client).await, None);
    let stolen = client_with_cookie(&format!("bz_rt={refresh}"));
    assert_eq!(
        app.me(&stolen).await,
        None,
        "the old refresh token no longer works"
    );
}

#[tokio::test]
async fn log_out_of_all_devices_ends_every_session() {
    let app = spawn_app().await;
    let email = app.signup("Many Devices").await;
    let phone = client();
    let res = app.login_with(&phone, &email, PASSWORD).await;
    let phone_refresh = set_cookie(&res, "bz_rt").unwrap();
    assert_eq!(app.me(&phone).await, Some(email.clone()));

    let res = app.call("logout-all", &[]).await;
    assert_eq!(res.status(), 200);
    let phone_later = client_with_cookie(&format!("bz_rt={phone_refresh}"));
    assert_eq!(app.me(&phone_later).await, None);
    let live: i64 = sqlx::query_scalar("select count(*) from sessions where revoked_at is null")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(live, 0);
}

#[tokio::test]
async fn password_change_revokes_other_sessions_and_keeps_this_one() {
    let app = spawn_app().await;
    let email = app.signup("Change Pass").await;
    let laptop = client();
    let res = app.login_with(&laptop, &email, PASSWORD).await;
    let laptop_refresh = set_cookie(&res, "bz_rt").unwrap();

    let res = app
        .call(
            "account/password",
            &[
                ("current_password", "wrong password here"),
                ("new_password", "brand new secret 42"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(field_error(&json(res).await, "current_password").is_some());

    let res = app
        .call(
            "account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "brand new secret 42"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        app.me(&app.client).await,
        Some(email.clone()),
        "this device stays signed in"
    );
    let laptop_later = client_with_cookie(&format!("bz_rt={laptop_refresh}"));
    assert_eq!(
        app.me(&laptop_later).await,
        None,
        "other devices are logged out"
    );
    assert_eq!(
        app.login_with(&client(), &email, PASSWORD).await.status(),
        422
    );
    assert_eq!(
        app.login_with(&client(), &email, "brand new secret 42")
            .await
            .status(),
        200
    );
}

fn reset_token(email_body: &str) -> String {
    let link = email_body
        .lines()
        .find(|l| l.contains("/reset-password?token="))
        .expect("the email holds a link");
    link.trim().split("token=").nth(1).unwrap().to_string()
}

#[tokio::test]
async fn reset_link_works_once() {
    let app = spawn_app().await;
    let email = app.signup("Forgot Me").await;
    let res = app
        .call("forgot-password", &[("email", "FORGOT.ME@example.com")])
        .await;
    assert_eq!(res.status(), 200);
    let body = app.last_email_to(&email).await;
    assert!(body.contains(&app.base), "the link points at PUBLIC_URL");
    let token = reset_token(&body);

    let res = app
        .call(
            "reset-password",
            &[("token", &token), ("password", "a fresh long secret")],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        app.me(&app.client).await,
        None,
        "resetting logs out every session"
    );
    assert_eq!(
        app.login_with(&client(), &email, "a fresh long secret")
            .await
            .status(),
        200
    );

    let again = app
        .call(
            "reset-password",
            &[("token", &token), ("password", "another long secret")],
        )
        .await;
    assert_eq!(again.status(), 422);
    assert!(field_error(&json(again).await, "token").is_some());
    assert_eq!(
        app.login_with(&client(), &email, "another long secret")
            .await
            .status(),
        422
    );
}

#[tokio::test]
async fn reset_link_expires() {
    let app = spawn_app().await;
    let email = app.signup("Slow Reader").await;
    app.call("forgot-password", &[("email", &email)]).await;
    let token = reset_token(&app.last_email_to(&email).await);
    sqlx::query("update password_resets set expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    let res = app
        .call(
            "reset-password",
            &[("token", &token), ("password", "a fresh long secret")],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(
        field_error(&json(res).await, "token")
            .unwrap()
            .contains("expired")
    );
}

#[tokio::test]
async fn forgot_password_does_not_reveal_accounts() {
    let app = spawn_app().await;
    app.signup("Known Person").await;
    let known = json(
        app.call("forgot-password", &[("email", "known.person@example.com")])
            .await,
    )
    .await;
    let unknown = json(
        app.call("forgot-password", &[("email", "stranger@example.com")])
            .await,
    )
    .await;
    assert_eq!(known, unknown);
    let queued: i64 =
        sqlx::query_scalar("select count(*) from email_outbox where subject like 'Reset%'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(queued, 1, "only the real account gets an email");
}

#[tokio::test]
async fn login_is_rate_limited_with_429() {
    let app = spawn_app_with(Opts {
        env: vec![("RATE_LIMIT_LOGIN_PER_MINUTE", "4".into())],
    })
    .await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        // Different emails, one IP: the per-IP limit applies.
        let res = app
            .login_with(
                &client(),
                &format!("guess{i}@example.com"),
                "wrong password guess",
            )
            .await;
        statuses.push(res.status().as_u16());
        if res.status() == 429 {
            let body = json(res).await;
            assert!(
                body["error"]
                    .as_str()
                    .unwrap()
                    .contains("Too many login attempts"),
                "{body}"
            );
        }
    }
    assert_eq!(statuses, vec![422, 422, 422, 422, 429, 429]);
}

#[tokio::test]
async fn signup_is_rate_limited_with_429() {
    let app = spawn_app_with(Opts {
        env: vec![("RATE_LIMIT_SIGNUP_PER_HOUR", "2".into())],
    })
    .await;
    let statuses: Vec<u16> = futures_statuses(&app, 3).await;
    assert_eq!(statuses, vec![200, 200, 429]);
}

async fn futures_statuses(app: &TestApp, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for i in 0..n {
        let email = format!("burst{i}@example.com");
        let res = call_with(
            &client(),
            &app.url("/api/signup"),
            &signup_form("Burst Person", &email),
        )
        .await;
        out.push(res.status().as_u16());
    }
    out
}

#[tokio::test]
async fn account_profile_and_email_changes() {
    let app = spawn_app().await;
    app.signup("Profile Owner").await;
    let res = app
        .call(
            "account/profile",
            &[
                ("full_name", "Profile Renamed"),
                ("business_name", "New Name Ltd"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .call(
            "account/profile",
            &[("full_name", ""), ("business_name", "x")],
        )
        .await;
    assert_eq!(res.status(), 422);
    let name: String = sqlx::query_scalar("select name from shops")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(name, "New Name Ltd", "a rejected form changes nothing");

    let res = app
        .call(
            "account/email",
            &[
                ("email", "moved@example.com"),
                ("current_password", "not my password"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    let res = app
        .call(
            "account/email",
            &[
                ("email", "Moved@Example.com"),
                ("current_password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    // The change waits for the link sent to the new address.
    assert_eq!(
        app.me(&app.client).await.as_deref(),
        Some("profile.owner@example.com")
    );
    let token = confirmation_token(&app.client, &app.base, "moved@example.com", "token=")
        .await
        .expect("a confirmation email to the new address");
    let res = raw_call(
        &client(),
        &app.url("/api/account/email/confirm"),
        &[("token", &token)],
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        app.me(&app.client).await.as_deref(),
        Some("moved@example.com")
    );
}

#[tokio::test]
async fn account_functions_need_a_session() {
    let app = spawn_app().await;
    let calls: [(&str, &[(&str, &str)]); 4] = [
        (
            "account/profile",
            &[("full_name", "x"), ("business_name", "y")],
        ),
        (
            "account/email",
            &[("email", "a@example.com"), ("current_password", "x")],
        ),
        (
            "account/password",
            &[("current_password", "x"), ("new_password", "y")],
        ),
        ("logout-all", &[]),
    ];
    for (endpoint, form) in calls {
        let res = app.call(endpoint, form).await;
        assert_eq!(res.status(), 401, "{endpoint}");
    }
    // A form missing its fields is a client mistake with a readable reason, not a 500.
    let res = app.call("account/email", &[]).await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("incomplete"));
}

#[tokio::test]
async fn dashboard_redirects_to_login_and_back() {
    let app = spawn_app().await;
    let res = app.get("/dashboard/account").await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/login?next=/dashboard/account");

    app.signup("Dash Owner").await;
    let res = app.get("/dashboard").await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("Test Traders"),
        "the header shows the shop name"
    );

    // Logging in with `next` sends the merchant where they wanted to go.
    let other = client();
    let res = call_with(
        &other,
        &app.url("/api/login"),
        &[
            ("email", "dash.owner@example.com"),
            ("password", PASSWORD),
            ("next", "/dashboard/account"),
        ],
    )
    .await;
    assert_eq!(res.headers()["location"], "/dashboard/account");
    let res = call_with(
        &client(),
        &app.url("/api/login"),
        &[
            ("email", "dash.owner@example.com"),
            ("password", PASSWORD),
            ("next", "https://evil.example/"),
        ],
    )
    .await;
    assert_eq!(res.headers()["location"], "/dashboard", "no open redirect");
}

#[tokio::test]
async fn forms_work_without_javascript() {
    let app = spawn_app().await;
    app.signup("No Script").await;
    let browser = client();
    // A plain HTML form post: the browser accepts HTML and follows a 302.
    let bad = browser
        .post(app.url("/api/login"))
        .header("accept", "text/html")
        .header("referer", app.url("/login"))
        .form(&[
            ("email", "no.script@example.com"),
            ("password", "wrong password!!"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 302);
    let back = bad.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        back.starts_with(&app.url("/login?")) && back.contains("__err="),
        "{back}"
    );
    let page = browser
        .get(&back)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("do not match an account"),
        "the error shows on the re-rendered form"
    );

    let good = browser
        .post(app.url("/api/login"))
        .header("accept", "text/html")
        .header("referer", app.url("/login"))
        .form(&[("email", "no.script@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(good.status(), 302);
    assert_eq!(good.headers()["location"], "/dashboard");
}
