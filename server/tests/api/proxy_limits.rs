//! Rate limits keyed by email, met from many networks, and the client address as a trusted
//! proxy reports it (`TRUST_PROXY_HEADERS=true`): the last `X-Forwarded-For` hop, which the
//! proxy appended, never an earlier one the client wrote itself. Different networks come from
//! `X-Forwarded-For` values, the way production sees them behind the proxy.

use crate::helpers::{Opts, TestApp, client, spawn_app_with};
use serde_json::Value;

async fn post_from(
    app: &TestApp,
    forwarded_for: &str,
    endpoint: &str,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let res = client()
        .post(app.url(&format!("/api/{endpoint}")))
        .header("x-forwarded-for", forwarded_for)
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn reset_links_for_one_email_are_limited_across_networks() {
    let app = spawn_app_with(Opts {
        env: vec![
            ("RATE_LIMIT_PASSWORD_RESET_PER_HOUR", "2".into()),
            ("TRUST_PROXY_HEADERS", "true".into()),
        ],
    })
    .await;
    let email = app.signup("Flooded Inbox").await;
    let mut statuses = Vec::new();
    // Each request from a network that has not asked before; the address in any spelling.
    for (i, spelling) in [email.clone(), email.to_uppercase(), format!(" {email} ")]
        .iter()
        .enumerate()
    {
        let ip = format!("198.51.100.{}", i + 1);
        let (status, body) = post_from(&app, &ip, "forgot-password", &[("email", spelling)]).await;
        if status == 429 {
            assert_eq!(body["kind"], "rate_limited", "{body}");
            let message = body["error"].as_str().unwrap_or_default();
            assert!(message.contains("several reset links"), "{body}");
        }
        statuses.push(status);
    }
    assert_eq!(
        statuses,
        [200, 200, 429],
        "the inbox is limited, not the networks"
    );
    let links: i64 = sqlx::query_scalar("select count(*) from password_resets")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(links, 2);
    // Another address from yet another network is not affected.
    let (status, _) = post_from(
        &app,
        "198.51.100.9",
        "forgot-password",
        &[("email", "someone.else@example.com")],
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn login_attempts_on_one_email_are_limited_across_networks() {
    // 10 per minute per network; an email gets half of that (5) from all networks together.
    let app = spawn_app_with(Opts {
        env: vec![
            ("RATE_LIMIT_LOGIN_PER_MINUTE", "10".into()),
            ("TRUST_PROXY_HEADERS", "true".into()),
        ],
    })
    .await;
    let email = app.signup("Targeted Owner").await;
    let mut statuses = Vec::new();
    for i in 1..=6 {
        let ip = format!("203.0.113.{i}");
        let form = [
            ("email", email.as_str()),
            ("password", "a wrong guess here"),
        ];
        statuses.push(post_from(&app, &ip, "login", &form).await.0);
    }
    assert_eq!(
        statuses,
        [422, 422, 422, 422, 422, 429],
        "one guess per network"
    );
    // The networks themselves are not limited: they may still log in to other accounts.
    let (status, _) = post_from(
        &app,
        "203.0.113.1",
        "login",
        &[
            ("email", "other@example.com"),
            ("password", "a wrong guess here"),
        ],
    )
    .await;
    assert_eq!(status, 422, "the per-network allowance is not spent");
}

#[tokio::test]
async fn a_forged_first_forwarded_hop_does_not_dodge_the_limit() {
    let app = spawn_app_with(Opts {
        env: vec![
            ("RATE_LIMIT_PASSWORD_RESET_PER_HOUR", "2".into()),
            ("TRUST_PROXY_HEADERS", "true".into()),
        ],
    })
    .await;
    // The client writes a fresh first hop each time; the proxy appends the real address.
    let mut statuses = Vec::new();
    for i in 1..=3 {
        let forwarded = format!("10.9.8.{i}, 192.0.2.50");
        let email = format!("person{i}@example.com");
        let (status, _) =
            post_from(&app, &forwarded, "forgot-password", &[("email", &email)]).await;
        statuses.push(status);
    }
    assert_eq!(statuses, [200, 200, 429], "counted by the last hop");
    // A different client behind the same proxy (another last hop) is not affected.
    let (status, _) = post_from(
        &app,
        "10.9.8.1, 192.0.2.51",
        "forgot-password",
        &[("email", "person9@example.com")],
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn forwarded_headers_are_ignored_unless_the_proxy_is_trusted() {
    let app = spawn_app_with(Opts {
        env: vec![("RATE_LIMIT_PASSWORD_RESET_PER_HOUR", "2".into())],
    })
    .await;
    let mut statuses = Vec::new();
    for i in 1..=3 {
        // Without a trusted proxy these are the client's own words: the socket address counts.
        let forwarded = format!("192.0.2.{i}");
        let email = format!("person{i}@example.com");
        let (status, _) =
            post_from(&app, &forwarded, "forgot-password", &[("email", &email)]).await;
        statuses.push(status);
    }
    assert_eq!(statuses, [200, 200, 429]);
}
