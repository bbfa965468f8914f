//! Issue 7 §1–§2: safe defaults and abuse fixes — sessions that end at once, rotating refresh
//! tokens, cookie prefixes and cache headers, the development mailbox, login `next`, errors
//! from links, the Origin allow-list, account enumeration, markup in titles, timeouts and
//! load shedding.

use crate::helpers::*;
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn field_error(body: &Value, field: &str) -> Option<String> {
    body.get("fields")?.get(field)?.as_str().map(str::to_owned)
}

fn set_cookie_lines(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// Both session cookies, as a device that logged in holds them.
fn session_cookie_header(res: &reqwest::Response) -> String {
    format!(
        "bz_at={}; bz_rt={}",
        set_cookie(res, "bz_at").unwrap(),
        set_cookie(res, "bz_rt").unwrap()
    )
}

// ------------------------------------------------------------------ sessions

#[tokio::test]
async fn revoked_sessions_stop_working_at_once_not_when_the_access_token_expires() {
    let app = spawn_app().await;
    let email = app.signup("Instant Logout").await;
    // A second device holding a fresh, unexpired access token and its refresh token.
    let res = app.login_with(&client(), &email, PASSWORD).await;
    let phone = client_with_cookie(&session_cookie_header(&res));
    assert_eq!(app.me(&phone).await, Some(email.clone()));

    // Log out everywhere from the first device; the phone's access token has minutes left.
    assert_eq!(app.call("logout-all", &[]).await.status(), 200);
    let res = call_with(&phone, &app.url("/api/me"), &[]).await;
    assert_eq!(
        set_cookie(&res, "bz_at").as_deref(),
        Some(""),
        "the dead cookies are cleared"
    );
    assert_eq!(
        json(res).await,
        Value::Null,
        "the phone is signed out at once"
    );
    assert_eq!(
        app.get_with(&phone, "/dashboard").await.status(),
        303,
        "and the dashboard sends it to the login page"
    );
}

#[tokio::test]
async fn password_change_and_reset_end_other_devices_at_once() {
    let app = spawn_app().await;
    let email = app.signup("Two Devices").await;
    let tablet = client_with_cookie(&session_cookie_header(
        &app.login_with(&client(), &email, PASSWORD).await,
    ));
    let res = app
        .call(
            "account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "a second long secret"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.me(&tablet).await, None, "password change: tablet out");
    assert_eq!(
        app.me(&app.client).await,
        Some(email.clone()),
        "this device stays"
    );

    // A reset (from a link) ends every session, including one opened after the change.
    let laptop = client_with_cookie(&session_cookie_header(
        &app.login_with(&client(), &email, "a second long secret")
            .await,
    ));
    app.call("forgot-password", &[("email", &email)]).await;
    let token = token_after(&app.last_email_to(&email).await, "token=");
    let res = call_with(
        &client(),
        &app.url("/api/reset-password"),
        &[("token", &token), ("password", "a third long secret!")],
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.me(&laptop).await, None, "reset: laptop out");
    assert_eq!(
        app.me(&app.client).await,
        None,
        "reset: this device out too"
    );
}

fn token_after(body: &str, marker: &str) -> String {
    let start = body.find(marker).expect("the email holds a link") + marker.len();
    body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_replayed_one_ends_the_session() {
    let app = spawn_app().await;
    let email = app.signup("Rotating Owner").await;
    let first = set_cookie(&app.login_with(&client(), &email, PASSWORD).await, "bz_rt").unwrap();

    // The access token expired: the refresh token is exchanged for a new one.
    let res = call_with(
        &client_with_cookie(&format!("bz_rt={first}")),
        &app.url("/api/me"),
        &[],
    )
    .await;
    let second = set_cookie(&res, "bz_rt").expect("a new refresh token");
    assert!(!second.is_empty() && second != first, "the token rotated");
    assert_eq!(json(res).await["email"], email.as_str());

    // Another tab that refreshed with the same token a moment ago still gets in (grace).
    let res = call_with(
        &client_with_cookie(&format!("bz_rt={first}")),
        &app.url("/api/me"),
        &[],
    )
    .await;
    assert_eq!(
        json(res).await["email"],
        email.as_str(),
        "within the grace period"
    );

    // Long after, the replaced token comes back: someone copied it. The session ends for
    // everyone holding it, the rightful device included.
    sqlx::query("update sessions set rotated_at = now() - interval '10 minutes'")
        .execute(&app.pool)
        .await
        .unwrap();
    let thief = client_with_cookie(&format!("bz_rt={first}"));
    assert_eq!(app.me(&thief).await, None, "the replayed token is refused");
    let rightful = client_with_cookie(&format!("bz_rt={second}"));
    assert_eq!(
        app.me(&rightful).await,
        None,
        "and the session it belonged to is revoked"
    );
    let revoked: i64 = sqlx::query_scalar(
        "select count(*) from sessions where revoked_at is not null and previous_token_hash is not null",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(revoked, 1);
}

#[tokio::test]
async fn a_successful_reset_spends_every_other_reset_link() {
    let app = spawn_app().await;
    let email = app.signup("Many Links").await;
    app.call("forgot-password", &[("email", &email)]).await;
    let older = token_after(&app.last_email_to(&email).await, "token=");
    app.call("forgot-password", &[("email", &email)]).await;
    let newer = token_after(&app.last_email_to(&email).await, "token=");
    assert_ne!(older, newer);
    let reset = |token: String, password: &'static str| {
        let url = app.url("/api/reset-password");
        async move {
            call_with(
                &client(),
                &url,
                &[("token", &token), ("password", password)],
            )
            .await
        }
    };
    assert_eq!(reset(newer, "the newest long secret").await.status(), 200);
    let res = reset(older, "an attacker's password").await;
    assert_eq!(res.status(), 422, "the older link died with the reset");
    assert!(field_error(&json(res).await, "token").is_some());

    // A password change spends outstanding links too.
    let fresh = client();
    app.login_with(&fresh, &email, "the newest long secret")
        .await;
    app.call("forgot-password", &[("email", &email)]).await;
    let pending = token_after(&app.last_email_to(&email).await, "token=");
    let res = call_with(
        &fresh,
        &app.url("/api/account/password"),
        &[
            ("current_password", "the newest long secret"),
            ("new_password", "changed on the account page"),
        ],
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(reset(pending, "an attacker's password").await.status(), 422);
}

// ------------------------------------------------------------------ cookies and caching

#[tokio::test]
async fn secure_cookies_carry_the_host_prefix_and_every_flag() {
    let app = spawn_app_with(Opts {
        env: vec![
            ("APP_ENV", "production".into()),
            (
                "JWT_SECRET",
                "a-production-secret-of-at-least-32-chars".into(),
            ),
            ("PUBLIC_URL", "https://shop.example".into()),
            ("DEV_MAILBOX", "false".into()),
        ],
    })
    .await;
    let email = "secure.owner@example.com";
    let res = raw_call(
        &app.client,
        &app.url("/api/signup"),
        &signup_form("Secure Owner", email),
    )
    .await;
    assert_eq!(res.status(), 200);
    let token = token_after(&app.last_email_to(email).await, "token=");
    let res = raw_call(
        &client(),
        &app.url("/api/signup/confirm"),
        &[("token", &token)],
    )
    .await;
    assert_eq!(res.status(), 200);
    let lines = set_cookie_lines(&res);
    assert_eq!(lines.len(), 2, "{lines:?}");
    for (name, line) in ["__Host-bz_at=", "__Host-bz_rt="].iter().zip(&lines) {
        assert!(line.starts_with(name), "{line}");
        for flag in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
            assert!(line.contains(flag), "{flag} missing from {line}");
        }
        assert!(
            !line.contains("Domain"),
            "__Host- cookies carry no Domain: {line}"
        );
    }
    assert_eq!(res.headers()["cache-control"], "private, no-store");
    assert!(
        res.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
    // The prefixed cookie is the one the server reads back.
    let access = lines[0].split(';').next().unwrap().to_string();
    let device = client_with_cookie(&access);
    assert_eq!(app.me(&device).await.as_deref(), Some(email));
    let unprefixed = client_with_cookie(&access.replacen("__Host-", "", 1));
    assert_eq!(app.me(&unprefixed).await, None);
}

#[tokio::test]
async fn dashboard_and_cookie_responses_are_never_cached_and_storefront_sets_no_session() {
    let app = spawn_app().await;
    app.signup("Cache Owner").await;
    app.create_product(&[
        ("title", "Cached Cloth"),
        ("price", "10"),
        ("status", "active"),
    ])
    .await;
    for path in ["/dashboard", "/dashboard/products", "/dashboard/account"] {
        let res = app.get(path).await;
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(
            res.headers()["cache-control"],
            "private, no-store",
            "{path}"
        );
    }
    let res = app.call("me", &[]).await;
    assert_eq!(res.headers()["cache-control"], "private, no-store");

    // A signed-in merchant whose access token expired looks at the public shop: the page
    // must not renew (or clear) the session, so it carries no Set-Cookie and stays cacheable.
    let refresh_only = {
        let email = "cache.owner@example.com";
        let res = app.login_with(&client(), email, PASSWORD).await;
        client_with_cookie(&format!("bz_rt={}", set_cookie(&res, "bz_rt").unwrap()))
    };
    let slug = app.shop_slug().await;
    for path in [format!("/s/{slug}"), format!("/s/{slug}/p/cached-cloth")] {
        let res = app.get_with(&refresh_only, &path).await;
        assert_eq!(res.status(), 200, "{path}");
        assert!(set_cookie_lines(&res).is_empty(), "{path} set a cookie");
        assert!(
            res.headers()
                .get("cache-control")
                .is_none_or(|v| v != "private, no-store"),
            "{path}"
        );
    }
}

// ------------------------------------------------------------------ development mailbox

#[tokio::test]
async fn the_development_mailbox_exists_only_when_asked_for() {
    let off = spawn_app_with(Opts {
        env: vec![("DEV_MAILBOX", "false".into())],
    })
    .await;
    assert_eq!(off.get("/dev/mailbox").await.status(), 404);
    assert_eq!(off.call("dev/mailbox", &[]).await.status(), 404);

    let on = spawn_app().await;
    assert_eq!(on.get("/dev/mailbox").await.status(), 200);
    assert_eq!(on.call("dev/mailbox", &[]).await.status(), 200);
}

// ------------------------------------------------------------------ login `next`

#[tokio::test]
async fn login_next_never_leaves_the_site_and_never_breaks_the_redirect() {
    let app = spawn_app_with(Opts {
        env: vec![("RATE_LIMIT_LOGIN_PER_MINUTE", "100".into())],
    })
    .await;
    let email = app.signup("Next Owner").await;
    for next in [
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r\nSet-Cookie: planted=1",
        "/\\evil.example",
        "//evil.example",
        "https://evil.example/",
    ] {
        let res = call_with(
            &client(),
            &app.url("/api/login"),
            &[("email", &email), ("password", PASSWORD), ("next", next)],
        )
        .await;
        assert_eq!(res.status(), 200, "{next:?}");
        assert_eq!(res.headers()["location"], "/dashboard", "{next:?}");
    }
    // The same through the page a browser gets after a redirect to login (%09, %0A encoded).
    let res = app.get("/login?next=/%09/evil.example").await;
    assert_eq!(res.status(), 200);
    let res = app.get("/login?next=/%0A/evil.example").await;
    assert_eq!(res.status(), 200, "a newline in next is not a 500");
}

// ------------------------------------------------------------------ errors from links

#[tokio::test]
async fn a_crafted_error_link_cannot_put_text_on_the_login_page() {
    use base64::Engine;
    let app = spawn_app().await;
    let fake = serde_json::json!({
        "kind": "conflict",
        "error": "Your account is locked. Call +1 555 0100 now.",
        "detail": "Your account is locked. Call +1 555 0100 now."
    });
    let err = base64::engine::general_purpose::URL_SAFE.encode(fake.to_string());
    let page = app
        .get(&format!(
            "/login?__path=/api/login&__err={}",
            err.replace('=', "%3D")
        ))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !page.contains("Call +1 555 0100"),
        "the crafted text is not shown"
    );
    assert!(
        page.contains("the form was not completed"),
        "a generic message is"
    );
}

// ------------------------------------------------------------------ origin allow-list

#[tokio::test]
async fn mutating_requests_need_an_allowed_origin_not_a_matching_host() {
    let app = spawn_app_with(Opts {
        env: vec![("ALLOWED_ORIGINS", "http://admin.localhost:8080".into())],
    })
    .await;
    let post = |origin: &'static str, host: Option<String>| {
        let url = app.url("/api/forgot-password");
        async move {
            let mut req = client()
                .post(url)
                .header("origin", origin)
                .form(&[("email", "someone@example.com")]);
            if let Some(h) = host {
                req = req.header("host", h);
            }
            req.send().await.unwrap().status().as_u16()
        }
    };
    // DNS rebinding: the attacker's name resolves to us, so Host and Origin agree.
    assert_eq!(
        post("http://rebind.example:80", Some("rebind.example:80".into())).await,
        403
    );
    assert_eq!(post("http://admin.localhost:8080", None).await, 200);
    let ours = app.base.clone();
    let status = client()
        .post(app.url("/api/forgot-password"))
        .header("origin", ours)
        .form(&[("email", "someone@example.com")])
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
}

// ------------------------------------------------------------------ account enumeration

#[tokio::test]
async fn signup_answers_alike_for_new_and_registered_addresses() {
    let app = spawn_app().await;
    app.signup("Taken Person").await;
    let taken = raw_call(
        &client(),
        &app.url("/api/signup"),
        &signup_form("Someone Else", "TAKEN.PERSON@EXAMPLE.COM"),
    )
    .await;
    let fresh = raw_call(
        &client(),
        &app.url("/api/signup"),
        &signup_form("New Person", "new.person@example.com"),
    )
    .await;
    assert_eq!(taken.status(), fresh.status());
    assert_eq!(
        taken.headers().get("location"),
        fresh.headers().get("location")
    );
    assert_eq!(fresh.headers()["location"], "/signup/sent");
    assert!(set_cookie_lines(&taken).is_empty() && set_cookie_lines(&fresh).is_empty());
    assert_eq!(taken.text().await.unwrap(), fresh.text().await.unwrap());

    // The owner of the taken address hears about it; nothing is created for anyone yet.
    let note = app.last_email_to("taken.person@example.com").await;
    assert!(note.contains("already belongs to your account"), "{note}");
    let merchants: i64 = sqlx::query_scalar("select count(*) from merchants")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(merchants, 1, "the new person's account waits for the link");

    // The link creates the account and shop and signs in, once.
    let token = token_after(&app.last_email_to("new.person@example.com").await, "token=");
    let browser = client();
    let res = raw_call(
        &browser,
        &app.url("/api/signup/confirm"),
        &[("token", &token)],
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["location"], "/dashboard");
    assert_eq!(
        app.me(&browser).await.as_deref(),
        Some("new.person@example.com")
    );
    let again = raw_call(
        &client(),
        &app.url("/api/signup/confirm"),
        &[("token", &token)],
    )
    .await;
    assert_eq!(again.status(), 422);
    assert!(
        field_error(&json(again).await, "token")
            .unwrap()
            .contains("already used")
    );
}

#[tokio::test]
async fn an_expired_signup_link_creates_nothing() {
    let app = spawn_app().await;
    let res = raw_call(
        &client(),
        &app.url("/api/signup"),
        &signup_form("Late Person", "late.person@example.com"),
    )
    .await;
    assert_eq!(res.status(), 200);
    sqlx::query("update signup_requests set expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    let token = token_after(
        &app.last_email_to("late.person@example.com").await,
        "token=",
    );
    let res = raw_call(
        &client(),
        &app.url("/api/signup/confirm"),
        &[("token", &token)],
    )
    .await;
    assert_eq!(res.status(), 422);
    let merchants: i64 = sqlx::query_scalar("select count(*) from merchants")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(merchants, 0);
}

#[tokio::test]
async fn email_change_answers_alike_and_changes_only_from_the_new_inbox() {
    let app = spawn_app().await;
    let other = client();
    call_with(
        &other,
        &app.url("/api/signup"),
        &signup_form("Other Holder", "holder@example.com"),
    )
    .await;
    let me = app.signup("Mover Person").await;

    let app = &app;
    let ask = |address: &'static str| async move {
        app.call(
            "account/email",
            &[("email", address), ("current_password", PASSWORD)],
        )
        .await
    };
    let taken = ask("Holder@Example.com").await;
    let free = ask("moved.person@example.com").await;
    assert_eq!(taken.status(), 200);
    assert_eq!(free.status(), 200);
    let (taken, free) = (json(taken).await, json(free).await);
    assert_eq!(
        taken.as_str().unwrap().replace("holder@example.com", "X"),
        free.as_str()
            .unwrap()
            .replace("moved.person@example.com", "X"),
        "the same answer for a taken and a free address"
    );
    assert!(
        app.last_email_to("holder@example.com")
            .await
            .contains("already belongs to your account")
    );
    assert_eq!(
        app.me(&app.client).await,
        Some(me.clone()),
        "nothing changed yet"
    );

    let token = token_after(
        &app.last_email_to("moved.person@example.com").await,
        "token=",
    );
    let res = raw_call(
        &client(),
        &app.url("/api/account/email/confirm"),
        &[("token", &token)],
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        app.me(&app.client).await.as_deref(),
        Some("moved.person@example.com")
    );
    assert!(
        app.last_email_to(&me).await.contains("changed from"),
        "the old address is told"
    );
    assert_eq!(
        app.me(&other).await.as_deref(),
        Some("holder@example.com"),
        "the other account is untouched"
    );
}

#[tokio::test]
async fn password_checks_on_account_pages_are_limited_per_merchant() {
    let app = spawn_app().await;
    app.signup("Guessed Owner").await;
    let mut statuses = Vec::new();
    for i in 0..12 {
        let res = app
            .call(
                "account/email",
                &[
                    ("email", "x@example.com"),
                    ("current_password", &format!("guess number {i}")),
                ],
            )
            .await;
        statuses.push(res.status().as_u16());
    }
    assert!(statuses.starts_with(&[422, 422, 422]), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
}

// ------------------------------------------------------------------ titles

#[tokio::test]
async fn titles_are_escaped_in_the_server_html() {
    let app = spawn_app().await;
    app.signup("Title Owner").await;
    let evil = r#"</title><meta http-equiv="refresh" content="0;url=https://elsewhere.example">"#;
    app.create_product(&[("title", evil), ("price", "5"), ("status", "active")])
        .await;
    let slug = app.shop_slug().await;
    let product_slug: String = sqlx::query_scalar("select slug from products")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let q = "%3C%2Ftitle%3E%3Cmeta%20http-equiv%3D%22refresh%22%20content%3D%220%3Burl%3Dhttps%3A%2F%2Felsewhere.example%22%3E";
    for path in [
        format!("/s/{slug}/search?q={q}"),
        format!("/s/{slug}/p/{product_slug}"),
    ] {
        let html = app.get(&path).await.text().await.unwrap();
        let head = &html[..html.find("</head>").expect("a head")];
        assert!(
            !head.contains("<meta http-equiv"),
            "{path}: live markup in the head"
        );
        assert_eq!(head.matches("<title>").count(), 1, "{path}");
        assert!(
            head.contains("&lt;/title&gt;&lt;meta http-equiv="),
            "{path}: the title shows the text, escaped"
        );
    }
}

// ------------------------------------------------------------------ timeouts and load

/// Sends the head of a POST whose body never finishes; returns the open connection.
async fn trickle(app: &TestApp) -> tokio::net::TcpStream {
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/forgot-password HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nemail="
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

#[tokio::test]
async fn a_body_that_never_arrives_is_cut_off_with_408() {
    let app = spawn_app_with(Opts {
        env: vec![("REQUEST_TIMEOUT_SECS", "1".into())],
    })
    .await;
    let mut stream = trickle(&app).await;
    let mut answer = vec![0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut answer))
        .await
        .expect("the server answers instead of waiting forever")
        .unwrap();
    let status_line = String::from_utf8_lossy(&answer[..n]).to_string();
    assert!(status_line.starts_with("HTTP/1.1 408"), "{status_line}");
}

#[tokio::test]
async fn past_the_concurrency_limit_requests_are_turned_away_with_503() {
    let app = spawn_app_with(Opts {
        env: vec![
            ("MAX_CONCURRENT_REQUESTS", "1".into()),
            ("REQUEST_TIMEOUT_SECS", "30".into()),
        ],
    })
    .await;
    let held = trickle(&app).await;
    // Wait until the slow request holds the only slot (it is inside the handler).
    let mut statuses = Vec::new();
    for _ in 0..200 {
        let status = app.get("/healthz").await.status().as_u16();
        statuses.push(status);
        if status == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(statuses.last(), Some(&503), "{statuses:?}");
    drop(held);
    // With the slot free again, requests go through.
    let mut ok = false;
    for _ in 0..200 {
        if app.get("/healthz").await.status() == 200 {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(ok, "the slot is released when the slow client goes away");
}

/// A refused form sent by the page's script comes back as 200 with its real status in a header
/// (the browser's server-function client reads it back: `app::api_client`), so Chrome logs no
/// console error for a form the person only has to correct. Everything else still sees 422.
#[tokio::test]
async fn a_refused_form_from_the_pages_script_answers_200_with_its_status_in_a_header() {
    let app = spawn_app().await;
    let form = crate::helpers::signup_form("Script Caller", "not-an-email");
    let res = crate::helpers::client()
        .post(app.url("/api/signup"))
        .header("sec-fetch-dest", "empty")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-bizmaat-status"], "422");
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(body["fields"]["email"].as_str().is_some(), "{body}");

    // A plain form post (a navigation) and any other client: 422 as before.
    for dest in [Some("document"), None] {
        let mut req = crate::helpers::client().post(app.url("/api/signup"));
        if let Some(d) = dest {
            req = req.header("sec-fetch-dest", d);
        }
        let res = req.form(&form).send().await.unwrap();
        assert_eq!(res.status(), 422, "{dest:?}");
        assert!(res.headers().get("x-bizmaat-status").is_none());
    }
    // Only refused forms: a missing row is still a 404 to the script.
    let res = crate::helpers::client()
        .post(app.url("/api/orders/get"))
        .header("sec-fetch-dest", "empty")
        .form(&[("id", "00000000-0000-0000-0000-000000000000")])
        .send()
        .await
        .unwrap();
    assert_ne!(res.status(), 200);
    assert!(res.headers().get("x-bizmaat-status").is_none());
}
