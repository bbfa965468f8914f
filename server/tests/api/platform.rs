//! Cross-cutting behaviour: health, readiness, security headers, same-origin checks, 404s.

use crate::helpers::*;

#[tokio::test]
async fn healthz_and_readyz_answer() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await["status"], "ready");
}

#[tokio::test]
async fn readyz_reports_a_broken_database() {
    let config = app::config::Config::from_lookup(|k| match k {
        "DATABASE_URL" => Some("postgres://postgres@127.0.0.1:1/nothing".into()),
        "APP_ENV" => Some("development".into()),
        _ => None,
    })
    .unwrap();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_secs(1))
        .connect_lazy("postgres://postgres@127.0.0.1:1/nothing")
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = app::state::AppState::new(server::startup::leptos_options(&config), pool, config);
    serve(listener, state);
    let res = client()
        .get(format!("http://{addr}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(json(res).await["status"], "database unavailable");
    let res = client()
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the process itself is still alive");
}

#[tokio::test]
async fn readyz_reports_pending_migrations() {
    let app = spawn_app().await;
    sqlx::query(
        "delete from _sqlx_migrations where version = (select max(version) from _sqlx_migrations)",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    assert_eq!(app.get("/readyz").await.status(), 503);
}

#[tokio::test]
async fn pages_carry_security_headers_with_a_fresh_nonce() {
    let app = spawn_app().await;
    let res = app.get("/login").await;
    assert_eq!(res.status(), 200);
    let h = res.headers().clone();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "strict-origin-when-cross-origin");
    assert!(h.contains_key("x-request-id"));
    let csp = h["content-security-policy"].to_str().unwrap().to_owned();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("object-src 'none'"),
        "{csp}"
    );
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap()
        .to_owned();
    let html = res.text().await.unwrap();
    assert!(
        html.contains(&format!("nonce=\"{nonce}\"")),
        "inline scripts carry the CSP nonce"
    );
    let again = app.get("/login").await;
    assert!(
        !again.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains(&nonce),
        "a new nonce per response"
    );
}

#[tokio::test]
async fn cross_site_posts_to_server_functions_are_refused() {
    let app = spawn_app().await;
    app.signup("Csrf Target").await;
    let res = app
        .client
        .post(app.url("/api/logout-all"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = app
        .client
        .post(app.url("/api/account/profile"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("full_name", "Hacked"), ("business_name", "Hacked")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(
        app.me(&app.client).await.as_deref(),
        Some("csrf.target@example.com"),
        "still signed in"
    );
    let name: String = sqlx::query_scalar("select name from shops")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(name, "Test Traders");
    // The same request from our own origin goes through.
    let res = app
        .client
        .post(app.url("/api/account/profile"))
        .header("origin", app.base.clone())
        .form(&[("full_name", "Csrf Target"), ("business_name", "Renamed")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn unknown_pages_are_real_404s() {
    let app = spawn_app().await;
    let res = app.get("/no/such/page").await;
    assert_eq!(res.status(), 404);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("We could not find that page")
    );
}

#[tokio::test]
async fn privacy_policy_is_server_rendered_with_its_contact() {
    let app = spawn_app_with(Opts {
        env: vec![("PRIVACY_CONTACT_EMAIL", "dpo@shop.example".into())],
    })
    .await;
    let html = app.get("/privacy").await.text().await.unwrap();
    for needle in [
        "Privacy policy",
        app::policy::PRIVACY_POLICY_VERSION,
        "within 30 days",
        "Cloudinary",
        "OpenAI",
        "18 or older",
        "dpo@shop.example",
    ] {
        assert!(html.contains(needle), "missing {needle}");
    }
}

#[tokio::test]
async fn development_mailbox_exists_only_in_development() {
    let dev = spawn_app().await;
    assert_eq!(dev.call("dev/mailbox", &[]).await.status(), 200);
    let prod = spawn_app_with(Opts {
        env: vec![
            ("APP_ENV", "production".into()),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef".into()),
            // Asking for it in production stops the server at start-up (a config test).
            ("DEV_MAILBOX", "false".into()),
        ],
    })
    .await;
    assert_eq!(prod.call("dev/mailbox", &[]).await.status(), 404);
    assert_eq!(prod.get("/dev/mailbox").await.status(), 404);
}
