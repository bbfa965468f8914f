//! Whole storefront answers kept as bytes (issue 12): served pre-compressed with an ETag and a
//! CSP of their own, dropped by a change to their shop on the next request, and by a change
//! made outside the app (psql) through PostgreSQL's notifications.

use crate::helpers::{Opts, TestApp, client, spawn_app, spawn_app_with};
use base64::Engine;
use sha2::{Digest, Sha256};

async fn shop(app: &TestApp) -> (String, String) {
    app.signup("Cache Owner").await;
    let id = app
        .create_product(&[
            ("title", "Kente Stole"),
            ("price", "4000"),
            ("status", "active"),
        ])
        .await;
    (app.shop_slug().await, id)
}

/// The merchant saves the shop's product at a new price, through the app.
async fn reprice(app: &TestApp, id: &str, price: &str) {
    let res = app
        .call(
            "catalog/product/save",
            &[
                ("id", id),
                ("title", "Kente Stole"),
                ("price", price),
                ("status", "active"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
}

async fn get(
    c: &reqwest::Client,
    app: &TestApp,
    path: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = c.get(app.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

fn header_of(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// The `'sha256-…'` sources an HTML page needs for its inline scripts.
fn inline_hashes(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find("<script") {
        rest = &rest[at..];
        let open_end = rest.find('>').unwrap();
        let close = rest.find("</script>").unwrap();
        if !rest[..open_end].contains(" src=") {
            let digest = Sha256::digest(&rest.as_bytes()[open_end + 1..close]);
            out.push(format!(
                "'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(digest)
            ));
        }
        rest = &rest[close + 9..];
    }
    out
}

#[tokio::test]
async fn a_cached_page_is_served_compressed_with_an_etag_and_a_csp_that_fits_it() {
    let app = spawn_app().await;
    let (slug, _) = shop(&app).await;
    let path = format!("/s/{slug}/p/kente-stole");
    let shopper = client();

    let first = get(&shopper, &app, &path, &[]).await;
    assert_eq!(first.status(), 200);
    assert_eq!(header_of(&first, "x-cache"), "miss");
    assert_eq!(
        header_of(&first, "x-bizmaat-shop"),
        "",
        "internal header removed"
    );
    let first_csp = header_of(&first, "content-security-policy");
    let first_html = first.text().await.unwrap();

    let before = app.acquired();
    let res = get(&shopper, &app, &path, &[]).await;
    assert_eq!(header_of(&res, "x-cache"), "hit");
    let vary = header_of(&res, "vary");
    assert!(vary.contains("Accept-Encoding"), "{vary}");
    assert!(
        header_of(&res, "cache-control").contains("stale-while-revalidate"),
        "a CDN may keep it briefly"
    );
    let etag = header_of(&res, "etag");
    assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");
    let csp = header_of(&res, "content-security-policy");
    let html = res.text().await.unwrap();
    assert_eq!(app.acquired() - before, 0, "a cached page costs no query");
    assert_eq!(html, first_html, "the same bytes");
    assert!(html.contains("₦4,000.00"));

    // Strict CSP without a nonce: exactly the inline scripts of these bytes, by hash, and
    // no visitor's nonce left in the page.
    assert_eq!(csp, first_csp);
    assert!(!csp.contains("nonce-"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(
        !html.contains("nonce="),
        "no nonce is shared between visitors"
    );
    let needed = inline_hashes(&html);
    for h in &needed {
        assert!(csp.contains(h.as_str()), "{h} missing from {csp}");
    }
    let script_src = csp
        .split(';')
        .find(|d| d.trim().starts_with("script-src"))
        .unwrap();
    assert_eq!(
        script_src.matches("'sha256-").count(),
        needed.len(),
        "{script_src}"
    );

    // Pre-compressed for whoever accepts it, and the entity tag names the coding.
    let br = get(&shopper, &app, &path, &[("accept-encoding", "gzip, br")]).await;
    assert_eq!(header_of(&br, "content-encoding"), "br");
    assert!(header_of(&br, "etag").ends_with("-br\""));
    let compressed = br.bytes().await.unwrap();
    let mut plain = Vec::new();
    brotli::BrotliDecompress(&mut &compressed[..], &mut plain).unwrap();
    assert_eq!(String::from_utf8(plain).unwrap(), html);
    let gz = get(&shopper, &app, &path, &[("accept-encoding", "gzip")]).await;
    assert_eq!(header_of(&gz, "content-encoding"), "gzip");

    // A browser that has it already: 304, no body, and it still counts as a view.
    let again = get(&shopper, &app, &path, &[("if-none-match", &etag)]).await;
    assert_eq!(again.status(), 304);
    assert_eq!(header_of(&again, "etag"), etag);
    assert!(again.bytes().await.unwrap().is_empty());
    let other = get(&shopper, &app, &path, &[("if-none-match", "\"nope\"")]).await;
    assert_eq!(other.status(), 200);

    // Pages that differ per visitor are never kept, and keep their nonce.
    let cart = get(&shopper, &app, &format!("/s/{slug}/cart"), &[]).await;
    assert_eq!(header_of(&cart, "x-cache"), "");
    assert!(header_of(&cart, "content-security-policy").contains("'nonce-"));
    // Parameters the page does not read share the entry (links shared with utm_source).
    let shared = get(&shopper, &app, &format!("{path}?utm_source=whatsapp"), &[]).await;
    assert_eq!(header_of(&shared, "x-cache"), "hit");
}

#[tokio::test]
async fn a_catalog_change_shows_on_the_next_request() {
    let app = spawn_app().await;
    let (slug, id) = shop(&app).await;
    let shopper = client();
    let home = format!("/s/{slug}");
    let product = format!("/s/{slug}/p/kente-stole");
    for path in [&home, &product] {
        get(&shopper, &app, path, &[]).await.text().await.unwrap();
        assert_eq!(
            header_of(&get(&shopper, &app, path, &[]).await, "x-cache"),
            "hit"
        );
    }
    reprice(&app, &id, "4500").await;
    for path in [&home, &product] {
        let res = get(&shopper, &app, path, &[]).await;
        assert_eq!(header_of(&res, "x-cache"), "miss", "{path}");
        let html = res.text().await.unwrap();
        assert!(html.contains("₦4,500.00"), "{path}: the new price");
        assert!(!html.contains("₦4,000.00"), "{path}");
    }

    // Another shop's pages stay cached through this shop's edits.
    let other = client();
    let form = crate::helpers::signup_form("Second Owner", "second.cache@example.com");
    let res = crate::helpers::call_with(&other, &app.url("/api/signup"), &form).await;
    assert_eq!(res.status(), 200);
    let res = crate::helpers::call_with(
        &other,
        &app.url("/api/catalog/product/save"),
        &[
            ("title", "Batik Wrap"),
            ("price", "900"),
            ("status", "active"),
        ],
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let other_slug = app.shop_slug().await;
    assert_ne!(other_slug, slug);
    let theirs = format!("/s/{other_slug}");
    get(&shopper, &app, &theirs, &[])
        .await
        .text()
        .await
        .unwrap();
    reprice(&app, &id, "4600").await;
    assert_eq!(
        header_of(&get(&shopper, &app, &theirs, &[]).await, "x-cache"),
        "hit"
    );
}

#[tokio::test]
async fn a_change_made_outside_the_app_reaches_the_cache_through_postgresql() {
    let app = spawn_app().await;
    let (slug, _) = shop(&app).await;
    let shopper = client();
    let home = format!("/s/{slug}");
    get(&shopper, &app, &home, &[]).await.text().await.unwrap();
    assert_eq!(
        header_of(&get(&shopper, &app, &home, &[]).await, "x-cache"),
        "hit"
    );
    rename_in_psql(&app, &slug, "Renamed By Hand").await;
}

/// Renames the shop as an operator would in psql (the app does not see the statement, only its
/// NOTIFY) and waits, bounded, for its home page to show the new name: the notification arrives
/// on its own connection, asynchronously.
async fn rename_in_psql(app: &TestApp, slug: &str, name: &str) {
    sqlx::query(
        "update shops set name = $2, catalog_version = catalog_version + 1 where slug = $1",
    )
    .bind(slug)
    .bind(name)
    .execute(&app.pool)
    .await
    .unwrap();
    let (shopper, home) = (client(), format!("/s/{slug}"));
    let mut html = String::new();
    for _ in 0..100 {
        html = get(&shopper, app, &home, &[]).await.text().await.unwrap();
        if html.contains(name) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(html.contains(name), "the page follows the change");
}

#[tokio::test]
async fn visitors_arriving_together_on_an_uncached_page_share_one_render() {
    let app = spawn_app().await;
    let (slug, _) = shop(&app).await;
    // The cache empties once when its PostgreSQL notification line comes up, and a render
    // that sees that does not store: wait for the line, so only this test's burst is seen.
    for _ in 0..100 {
        let listening: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity where datname = current_database() and query ilike 'listen%'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        if listening > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let shopper = client();
    let home = format!("/s/{slug}");
    get(&shopper, &app, &home, &[]).await.text().await.unwrap();
    assert_eq!(
        header_of(&get(&shopper, &app, &home, &[]).await, "x-cache"),
        "hit",
        "the cache stores"
    );

    let path = format!("/s/{slug}/p/kente-stole");
    let before = app.acquired();
    let answers = futures_util::future::join_all((0..16).map(|_| {
        let (shopper, app, path) = (&shopper, &app, &path);
        async move {
            let res = get(shopper, app, path, &[]).await;
            let state = header_of(&res, "x-cache");
            (res.status(), state, res.text().await.unwrap())
        }
    }))
    .await;
    let misses = answers.iter().filter(|(_, s, _)| s == "miss").count();
    assert_eq!(
        misses,
        1,
        "one render for the whole burst: {:?}",
        answers.iter().map(|a| &a.1).collect::<Vec<_>>()
    );
    for (status, _, html) in &answers {
        assert_eq!(*status, 200);
        assert_eq!(html, &answers[0].2, "every visitor gets the same page");
        assert!(html.contains("Kente Stole"));
    }
    // One render's two queries (with room for a page-view write or a job poll landing in
    // the burst), not sixteen renders' thirty-two.
    let taken = app.acquired() - before;
    assert!(taken < 8, "{taken} connections taken");
}

/// The page without Leptos' hydration markers and comments, and without the resource
/// bookkeeping scripts its streaming render appends after `</html>`: the router's render
/// carries them, the render from memory leaves them out (storefront pages are never hydrated).
fn without_markers(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html.find("</html>").map_or(html, |end| &html[..end + 7]);
    loop {
        let comment = rest.find("<!--");
        let empty = rest.find("<!>");
        match (comment, empty) {
            (Some(c), e) if e.is_none_or(|e| c < e) => {
                out.push_str(&rest[..c]);
                let end = rest[c..].find("-->").expect("comment closes");
                rest = &rest[c + end + 3..];
            }
            (_, Some(e)) => {
                out.push_str(&rest[..e]);
                rest = &rest[e + 3..];
            }
            _ => break,
        }
    }
    out.push_str(rest);
    out
}

#[tokio::test]
async fn a_page_rendered_from_memory_is_the_page_the_router_renders() {
    // Responses not kept: every answer is a render, the first of each page through the router
    // (its data is read then), the next ones here from that data.
    let app = spawn_app_with(Opts {
        env: vec![("STOREFRONT_RESPONSE_CACHE", "false".into())],
    })
    .await;
    let (slug, id) = shop(&app).await;
    let res = app
        .call(
            "catalog/product/options",
            &[
                ("id", id.as_str()),
                ("option_name[]", "Colour"),
                ("option_values[]", "Indigo, Red"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let shopper = client();
    let shop_id: uuid::Uuid = sqlx::query_scalar("select id from shops where slug = $1")
        .bind(&slug)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let product = format!("/s/{slug}/p/kente-stole");
    for path in [
        format!("/s/{slug}"),
        format!("/s/{slug}?page=7"),
        format!("/s/{slug}/search?q=kente+stole"),
        format!("/s/{slug}/search?q=nothing-like-it"),
        product.clone(),
        format!("{product}?o1=Red"),
        format!("{product}?o1=Red&error=Only+2+left"),
    ] {
        // As a change to the shop would: its pages' data goes, so the next request reads it
        // through the router (variants of one page share its data).
        app.state.storefront_responses.invalidate(shop_id);
        let routed = get(&shopper, &app, &path, &[]).await;
        assert_eq!(routed.status(), 200, "{path}");
        let before = app.acquired();
        let direct = get(&shopper, &app, &path, &[]).await;
        assert_eq!(direct.status(), 200, "{path}");
        assert_eq!(
            (header_of(&routed, "x-cache"), header_of(&direct, "x-cache")),
            (String::new(), "off".to_string()),
            "{path}: the first through the router, the next from memory"
        );
        for name in [
            "content-type",
            "x-content-type-options",
            "x-frame-options",
            "referrer-policy",
            "permissions-policy",
            "cross-origin-opener-policy",
            "cache-control",
        ] {
            assert_eq!(
                header_of(&direct, name),
                header_of(&routed, name),
                "{path}: {name}"
            );
        }
        let csp = header_of(&direct, "content-security-policy");
        let routed_csp = header_of(&routed, "content-security-policy");
        let routed_html = routed.text().await.unwrap();
        let html = direct.text().await.unwrap();
        assert_eq!(app.acquired() - before, 0, "{path}: no query");
        assert_eq!(
            without_markers(&html),
            without_markers(&routed_html),
            "{path}"
        );
        assert!(html.contains("<title>"), "{path}: the head's own tags");
        // The same policy, inline scripts by hash instead of a nonce.
        assert!(
            !csp.contains("nonce-") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        for hash in inline_hashes(&html) {
            assert!(csp.contains(&hash), "{path}: {hash} in {csp}");
        }
        let strip = |c: &str| {
            c.split("; ")
                .filter(|d| !d.starts_with("script-src"))
                .collect::<Vec<_>>()
                .join("; ")
        };
        assert_eq!(strip(&csp), strip(&routed_csp), "{path}");
    }
}

#[tokio::test]
async fn a_change_reaches_pages_rendered_from_memory() {
    let app = spawn_app_with(Opts {
        env: vec![("STOREFRONT_RESPONSE_CACHE", "false".into())],
    })
    .await;
    let (slug, id) = shop(&app).await;
    let shopper = client();
    let home = format!("/s/{slug}");
    for _ in 0..2 {
        get(&shopper, &app, &home, &[]).await.text().await.unwrap();
    }
    assert_eq!(
        header_of(&get(&shopper, &app, &home, &[]).await, "x-cache"),
        "off"
    );
    // Through the app: the next request.
    reprice(&app, &id, "4500").await;
    let html = get(&shopper, &app, &home, &[]).await.text().await.unwrap();
    assert!(
        html.contains("₦4,500.00") && !html.contains("₦4,000.00"),
        "the new price"
    );
    // Outside the app (psql): through the shops trigger's notification.
    rename_in_psql(&app, &slug, "Renamed In Psql").await;
}
