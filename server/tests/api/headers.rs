//! Response headers over every page type, the static files under `/pkg`, and the storefront
//! page cache: a CSP nonce on every inline script, compression when asked for, HSTS only with
//! an https `PUBLIC_URL`, a year of caching only for hashed assets, and cached storefront pages
//! that change with every kind of change that must show (or do not cache at all when told).

use crate::helpers::{
    Opts, TestApp, call_with, client, png, raw_call, signup_form, spawn_app, spawn_app_with,
    unserved_app, upload,
};
use app::platform::clock::Clock;
use std::sync::Arc;

/// A shop with a category, a product in it, an order and its customer; returns every page
/// path a browser can load, with the status each must answer.
async fn every_page(app: &TestApp) -> Vec<(String, u16)> {
    app.signup("Sweep Owner").await;
    let slug = app.shop_slug().await;
    let category: String = app
        .call("catalog/category/create", &[("name", "Lamps")])
        .await
        .json()
        .await
        .unwrap();
    let product = app
        .create_product(&[
            ("title", "Brass Lamp"),
            ("price", "4000"),
            ("status", "active"),
            ("categories[]", &category),
        ])
        .await;
    let res = call_with(
        &client(),
        &app.url("/api/storefront/checkout"),
        &[
            ("shop", slug.as_str()),
            ("name", "Bola Ade"),
            ("phone", "+234 802 000 1111"),
            ("address", "5 Allen Avenue"),
            ("idempotency_key", "sweep"),
            ("product[]", product.as_str()),
            ("quantity[]", "1"),
        ],
    )
    .await;
    assert_eq!(res.status(), 200);
    let order: String = res.json().await.unwrap();
    let customer: uuid::Uuid = sqlx::query_scalar("select id from customers")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let mut pages: Vec<(String, u16)> = [
        // Storefront.
        format!("/s/{slug}"),
        format!("/s/{slug}/c/lamps"),
        format!("/s/{slug}/p/brass-lamp"),
        format!("/s/{slug}/search?q=lamp"),
        format!("/s/{slug}/cart"),
        format!("/s/{slug}/order/{order}"),
        // Public pages.
        "/".into(),
        "/signup".into(),
        "/signup/sent".into(),
        "/signup/confirm?token=x".into(),
        "/login".into(),
        "/forgot-password".into(),
        "/reset-password?token=x".into(),
        "/account/confirm-email?token=x".into(),
        "/account/email-changed".into(),
        "/privacy".into(),
        "/dev/mailbox".into(),
        // Every dashboard route in app/src/lib.rs.
        "/dashboard".into(),
        "/dashboard/account".into(),
        "/dashboard/settings".into(),
        "/dashboard/products".into(),
        "/dashboard/products/new".into(),
        format!("/dashboard/products/{product}"),
        "/dashboard/categories".into(),
        "/dashboard/import".into(),
        "/dashboard/orders".into(),
        format!("/dashboard/orders/{order}"),
        "/dashboard/customers".into(),
        format!("/dashboard/customers/{customer}"),
    ]
    .into_iter()
    .map(|p| (p, 200))
    .collect();
    pages.push(("/no/such/page".into(), 404));
    pages.push((format!("/s/{slug}/p/no-such-product"), 404));
    pages
}

/// The nonce in a response's CSP header.
fn csp_nonce(res: &reqwest::Response, path: &str) -> String {
    let csp = res
        .headers()
        .get("content-security-policy")
        .unwrap_or_else(|| panic!("{path}: no CSP header"))
        .to_str()
        .unwrap();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap_or_else(|| panic!("{path}: no nonce in {csp}"));
    assert!(
        csp.contains(&format!("script-src 'self' 'nonce-{nonce}'")),
        "{path}: {csp}"
    );
    nonce.to_owned()
}

/// The opening tags of the inline scripts that a browser would run. JSON-LD blocks are data
/// (`application/ld+json`): browsers never execute them, so CSP does not apply to them.
fn inline_scripts(html: &str) -> Vec<&str> {
    html.match_indices("<script")
        .map(|(i, _)| &html[i..i + html[i..].find('>').unwrap() + 1])
        .filter(|tag| !tag.contains(" src=") && !tag.contains("application/ld+json"))
        .collect()
}

#[tokio::test]
async fn every_page_type_has_a_csp_nonce_on_each_inline_script_compression_and_no_hsts_over_http() {
    let app = spawn_app().await;
    let pages = every_page(&app).await;
    for (path, status) in &pages {
        let res = app.get(path).await;
        assert_eq!(res.status().as_u16(), *status, "{path}");
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
        assert!(
            res.headers().get("strict-transport-security").is_none(),
            "{path}: HSTS over http would pin a development host to https"
        );
        // Storefront pages come from the response cache: their bytes are shared, so their CSP
        // names each inline script by hash instead of a nonce (storefront_cache.rs).
        let cached = res.headers().get("x-cache").is_some();
        let csp = res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        let nonce = (!cached).then(|| csp_nonce(&res, path));
        let html = res.text().await.unwrap();
        let scripts = inline_scripts(&html);
        assert!(
            !scripts.is_empty(),
            "{path}: the page hydrates with an inline script"
        );
        for tag in scripts {
            match &nonce {
                Some(nonce) => assert!(
                    tag.contains(&format!("nonce=\"{nonce}\"")),
                    "{path}: {tag} lacks this response's nonce {nonce}"
                ),
                None => {
                    let at = html.find(tag).unwrap() + tag.len();
                    let body = &html[at..at + html[at..].find("</script>").unwrap()];
                    let hash = base64::Engine::encode(
                        &base64::engine::general_purpose::STANDARD,
                        sha2::Digest::finalize(sha2::Digest::chain_update(
                            sha2::Sha256::default(),
                            body.as_bytes(),
                        )),
                    );
                    assert!(
                        csp.contains(&format!("'sha256-{hash}'")),
                        "{path}: {tag} is not allowed by {csp}"
                    );
                    assert!(!tag.contains("nonce="), "{path}: a shared nonce in {tag}");
                }
            }
        }

        for encoding in ["gzip", "br"] {
            let res = app
                .client
                .get(app.url(path))
                .header("accept-encoding", encoding)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status().as_u16(), *status, "{path} ({encoding})");
            assert_eq!(
                res.headers()
                    .get("content-encoding")
                    .map(|v| v.to_str().unwrap()),
                Some(encoding),
                "{path}"
            );
            assert!(
                res.headers().get("vary").is_some_and(|v| v
                    .to_str()
                    .unwrap()
                    .to_ascii_lowercase()
                    .contains("accept-encoding")),
                "{path}: caches must keep encodings apart"
            );
        }
    }
}

#[tokio::test]
async fn an_https_public_url_adds_hsts_to_pages_errors_health_checks_and_assets() {
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
    // A signed-in merchant (confirmed from the outbox: there is no development mailbox).
    let email = "hsts.owner@example.com";
    let res = raw_call(
        &client(),
        &app.url("/api/signup"),
        &signup_form("Hsts Owner", email),
    )
    .await;
    assert_eq!(res.status(), 200);
    let body = app.last_email_to(email).await;
    let start = body.find("token=").unwrap() + "token=".len();
    let token: String = body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let res = raw_call(
        &client(),
        &app.url("/api/signup/confirm"),
        &[("token", &token)],
    )
    .await;
    assert_eq!(res.status(), 200);
    // The production cookies are `Secure`, which a client only returns over https: hand the
    // access cookie over explicitly.
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|c| c.starts_with("__Host-bz_at="))
        .expect("an access cookie");
    let merchant = crate::helpers::client_with_cookie(&cookie);
    let slug = app.shop_slug().await;
    for (path, status) in [
        ("/".to_string(), 200),
        ("/privacy".into(), 200),
        ("/login".into(), 200),
        (format!("/s/{slug}"), 200),
        ("/dashboard".into(), 200),
        ("/no/such/page".into(), 404),
        ("/healthz".into(), 200),
        ("/pkg/missing.js".into(), 404),
    ] {
        let res = app.get_with(&merchant, &path).await;
        assert_eq!(res.status().as_u16(), status, "{path}");
        let hsts = res
            .headers()
            .get("strict-transport-security")
            .unwrap_or_else(|| panic!("{path}: no HSTS"))
            .to_str()
            .unwrap();
        let max_age: u64 = hsts
            .split(';')
            .find_map(|p| p.trim().strip_prefix("max-age="))
            .unwrap()
            .parse()
            .unwrap();
        assert!(max_age >= 15_552_000, "{path}: at least 180 days: {hsts}");
    }
}

/// Serves `app` with its site files in `root` (`pkg/…` under it), with or without hashed file
/// names. Leptos reads these options from `LEPTOS_*` variables, which a test cannot set
/// without affecting every other test in the process, so they are set on the state instead.
async fn serve_site(root: &std::path::Path, hash_files: bool) -> TestApp {
    let (app, listener) = unserved_app(Opts::default(), Clock::system()).await;
    let mut state = app.state.clone();
    state.leptos_options.site_root = Arc::from(root.to_str().unwrap());
    state.leptos_options.hash_files = hash_files;
    crate::helpers::serve(listener, state);
    app
}

#[tokio::test]
async fn hashed_assets_are_cached_for_a_year_and_unhashed_ones_revalidate() {
    let root = std::env::temp_dir().join(format!("bizmaat-site-{}", uuid::Uuid::now_v7()));
    let pkg = root.join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    let js = "console.log('hydrate');\n".repeat(200);
    std::fs::write(pkg.join("bizmaat.0123456789abcdef0123.js"), &js).unwrap();
    // What cargo-leptos writes beside each file; ServeDir sends it as it is (the bytes below
    // stand in for a real gzip stream: nothing decompresses them on the way).
    let gz = b"\x1f\x8b precompressed stand-in".to_vec();
    std::fs::write(pkg.join("bizmaat.0123456789abcdef0123.js.gz"), &gz).unwrap();

    let hashed = serve_site(&root, true).await;
    let path = "/pkg/bizmaat.0123456789abcdef0123.js";
    let res = hashed.get(path).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(res.text().await.unwrap(), js);
    // The precompressed file is served to a browser that accepts it.
    let res = hashed
        .client
        .get(hashed.url(path))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-encoding"], "gzip");
    assert_eq!(res.headers()["vary"], "Accept-Encoding");
    assert_eq!(
        res.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(res.bytes().await.unwrap().as_ref(), gz.as_slice());
    // A file that is not there (a page of the next release asking an old replica) must not
    // be remembered as missing for a year.
    let res = hashed.get("/pkg/bizmaat.ffffffffffffffffffff.js").await;
    assert_eq!(res.status(), 404);
    assert_ne!(
        res.headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap()),
        Some("public, max-age=31536000, immutable"),
        "a 404 under /pkg is not cached for a year"
    );

    let plain = serve_site(&root, false).await;
    let res = plain.get(path).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-cache");
    std::fs::remove_dir_all(&root).ok();
}

// ------------------------------------------------------------------ storefront page cache

async fn page(app: &TestApp, path: &str) -> String {
    let res = client().get(app.url(path)).send().await.unwrap();
    assert_eq!(res.status(), 200, "{path}");
    res.text().await.unwrap()
}

/// Changes the product's price behind the app's back (no catalog version bump), the way only
/// a cached page would not show.
async fn set_price_in_sql(app: &TestApp, minor: i64) {
    // The variant holds the price; the product row's copy follows it.
    sqlx::query("update product_variants set price_minor = $1")
        .bind(minor)
        .execute(&app.pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn cached_storefront_pages_change_with_settings_logo_and_the_last_unit_sold() {
    let app = spawn_app().await;
    app.signup("Cache Sweep Owner").await;
    let slug = app.shop_slug().await;
    let product = app
        .create_product(&[
            ("title", "Last Lantern"),
            ("price", "5000"),
            ("status", "active"),
            ("track_stock", "on"),
            ("stock", "1"),
        ])
        .await;
    let home = format!("/s/{slug}");
    let item = format!("/s/{slug}/p/last-lantern");
    let html = page(&app, &home).await;
    assert!(html.contains("Test Traders") && !html.contains("store-logo"));
    let html = page(&app, &item).await;
    assert!(html.contains("In stock") && html.contains("₦5,000.00"));

    // The pages are cached: a change made behind the app's back does not show.
    set_price_in_sql(&app, 111_100).await;
    assert!(
        page(&app, &item).await.contains("₦5,000.00"),
        "served from the cache"
    );

    // 1. Settings: the new shop name shows at once.
    let mut settings: serde_json::Value =
        app.call("shop/settings", &[]).await.json().await.unwrap();
    settings["name"] = "Lantern House".into();
    let field = |k: &str| settings[k].as_str().unwrap_or_default().to_owned();
    let form: Vec<(&str, String)> = [
        "name",
        "slug",
        "description",
        "currency",
        "whatsapp_number",
        "contact_email",
        "address",
    ]
    .into_iter()
    .map(|k| (k, field(k)))
    .collect();
    let res = app
        .call(
            "shop/settings/update",
            &form
                .iter()
                .map(|(k, v)| (*k, v.as_str()))
                .collect::<Vec<_>>(),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let html = page(&app, &home).await;
    assert!(
        html.contains("Lantern House") && !html.contains("Test Traders"),
        "settings"
    );
    assert!(
        page(&app, &item).await.contains("₦1,111.00"),
        "the whole shop refreshed"
    );

    // 2. Logo: the storefront header shows it at once.
    set_price_in_sql(&app, 222_200).await;
    let res = upload(
        &app,
        &app.client,
        &[("purpose", "logo")],
        png(100, 100),
        "logo.png",
    )
    .await;
    assert_eq!(res.status(), 201);
    assert!(page(&app, &home).await.contains("store-logo"), "logo");
    assert!(page(&app, &item).await.contains("₦2,222.00"));

    // 3. A checkout that sells the last unit: the product shows as sold out at once.
    let res = call_with(
        &client(),
        &app.url("/api/storefront/checkout"),
        &[
            ("shop", slug.as_str()),
            ("name", "Bola Ade"),
            ("phone", "+234 802 000 1111"),
            ("address", "5 Allen Avenue"),
            ("idempotency_key", "last-unit"),
            ("product[]", product.as_str()),
            ("quantity[]", "1"),
        ],
    )
    .await;
    assert_eq!(res.status(), 200);
    let html = page(&app, &item).await;
    assert!(
        html.contains("Sold out") && !html.contains("In stock"),
        "checkout"
    );
    assert!(
        page(&app, &home).await.contains("Sold out"),
        "the listing too"
    );
}

#[tokio::test]
async fn storefront_cache_entries_zero_turns_the_page_cache_off() {
    let off = spawn_app_with(Opts {
        env: vec![("STOREFRONT_CACHE_ENTRIES", "0".into())],
    })
    .await;
    let on = spawn_app().await;
    for app in [&off, &on] {
        app.signup("Uncached Owner").await;
        app.create_product(&[
            ("title", "Plain Pot"),
            ("price", "700"),
            ("status", "active"),
        ])
        .await;
    }
    for (app, cached) in [(&off, false), (&on, true)] {
        let path = format!("/s/{}/p/plain-pot", app.shop_slug().await);
        assert!(page(app, &path).await.contains("₦700.00"));
        set_price_in_sql(app, 90_000).await;
        let html = page(app, &path).await;
        assert_eq!(
            html.contains("₦700.00"),
            cached,
            "cached: {cached} (the old price shows only from a cache)"
        );
        assert_eq!(html.contains("₦900.00"), !cached);
        let entries = app.state.storefront_cache.len();
        assert_eq!(entries > 0, cached, "entries kept: {entries}");
    }
}

#[tokio::test]
async fn the_storefront_script_is_sent_from_its_precompressed_copies() {
    let root = std::env::temp_dir().join(format!("bizmaat-site-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&root).unwrap();
    let js = "document.querySelector('form');\n".repeat(100);
    std::fs::write(root.join("storefront.js"), &js).unwrap();
    // Stand-ins for the site build's copies: sent as they are, never compressed again.
    let br = b"brotli stand-in".to_vec();
    let gz = b"\x1f\x8b gzip stand-in".to_vec();
    std::fs::write(root.join("storefront.js.br"), &br).unwrap();
    std::fs::write(root.join("storefront.js.gz"), &gz).unwrap();
    let app = serve_site(&root, true).await;
    for (accept, coding, body) in [
        ("br, gzip", Some("br"), br.clone()),
        ("gzip", Some("gzip"), gz.clone()),
        ("identity", None, js.clone().into_bytes()),
    ] {
        let res = app
            .client
            .get(app.url(app::STOREFRONT_JS))
            .header("accept-encoding", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{accept}");
        assert_eq!(
            res.headers()
                .get("content-encoding")
                .map(|v| v.to_str().unwrap()),
            coding,
            "{accept}"
        );
        let vary = res.headers().get("vary").map(|v| v.to_str().unwrap());
        assert!(
            vary.is_some_and(|v| v.to_ascii_lowercase().contains("accept-encoding")),
            "{accept}: Vary {vary:?}"
        );
        assert_eq!(res.headers()["cache-control"], "public, max-age=600");
        assert_eq!(
            res.bytes().await.unwrap().as_ref(),
            body.as_slice(),
            "{accept}"
        );
    }
    let _ = std::fs::remove_dir_all(&root);
}
