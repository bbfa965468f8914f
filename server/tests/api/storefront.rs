//! The public storefront: server-rendered HTML, SEO tags and structured data, drafts never
//! shown, at most two queries per page, and the cache following catalog edits.

use crate::helpers::{Opts, TestApp, client, png, spawn_app, spawn_app_with, upload};
use serde_json::Value;

async fn shop_with_products(app: &TestApp) -> (String, String) {
    app.signup("Store Owner").await;
    let settings = [
        ("name", "Ada Fabrics"),
        ("slug", "ada-fabrics"),
        ("description", "Hand-dyed adire & batik from Abeokuta."),
        ("currency", "NGN"),
        ("whatsapp_number", "+2348012345678"),
        ("contact_email", ""),
        ("address", ""),
    ];
    assert_eq!(
        app.call("shop/settings/update", &settings).await.status(),
        200
    );
    let cat: String = serde_json::from_str(
        &app.call("catalog/category/create", &[("name", "Scarves")])
            .await
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    let id = app
        .create_product(&[
            ("title", "Adire Indigo Scarf"),
            ("price", "12500"),
            ("compare_at_price", "15000"),
            ("status", "active"),
            ("sku", "ADI-1"),
            (
                "description",
                "Soft cotton <b>scarf</b>.\n\nHand-dyed in Abeokuta.",
            ),
            ("categories[]", &cat),
        ])
        .await;
    let res = upload(
        app,
        &app.client,
        &[
            ("purpose", "product"),
            ("product_id", &id),
            ("alt", "Blue scarf"),
        ],
        png(800, 800),
        "s.png",
    )
    .await;
    assert_eq!(res.status(), 201);
    app.create_product(&[
        ("title", "Secret Draft Wrap"),
        ("price", "999"),
        ("status", "draft"),
    ])
    .await;
    app.create_product(&[
        ("title", "Old Archived Bag"),
        ("price", "999"),
        ("status", "archived"),
    ])
    .await;
    app.create_product(&[
        ("title", "Sold Out Cap"),
        ("price", "2000"),
        ("status", "active"),
        ("track_stock", "on"),
        ("stock", "0"),
    ])
    .await;
    (id, cat)
}

fn json_ld(html: &str) -> Vec<Value> {
    html.split("<script type=\"application/ld+json\">")
        .skip(1)
        .map(|rest| {
            serde_json::from_str(rest.split("</script>").next().unwrap()).expect("valid JSON-LD")
        })
        .collect()
}

#[tokio::test]
async fn product_page_html_carries_seo_tags_and_structured_data() {
    let app = spawn_app().await;
    shop_with_products(&app).await;
    let shopper = client();
    let res = shopper
        .get(app.url("/s/ada-fabrics/p/adire-indigo-scarf"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    let head = html.split("</head>").next().unwrap();
    assert!(
        head.contains("<title>Adire Indigo Scarf · Ada Fabrics</title>"),
        "{head}"
    );
    assert!(head.contains(r#"<meta name="description" content="Soft cotton &lt;b&gt;scarf&lt;/b&gt;. Hand-dyed in Abeokuta.""#), "{head}");
    let canonical = format!("{}/s/ada-fabrics/p/adire-indigo-scarf", app.base);
    assert!(
        head.contains(&format!(r#"<link href="{canonical}" rel="canonical">"#)),
        "{head}"
    );
    assert!(
        head.contains(r#"<meta property="og:title" content="Adire Indigo Scarf · Ada Fabrics""#)
    );
    assert!(head.contains(r#"<meta property="og:type" content="product""#));
    assert!(
        head.contains(&format!(
            r#"<meta property="og:image" content="{}/media/"#,
            app.base
        )),
        "{head}"
    );
    assert!(head.contains(r#"<meta name="twitter:card" content="summary_large_image""#));
    // Prices and the description are in the first response; the description is text, not markup.
    assert!(html.contains("₦12,500.00"));
    assert!(html.contains("₦15,000.00"));
    assert!(html.contains("Soft cotton &lt;b&gt;scarf&lt;/b&gt;."));
    assert!(
        html.contains("https://wa.me/2348012345678?text="),
        "Ask on WhatsApp link"
    );
    assert!(
        html.contains(r#"width="800" height="800""#),
        "images carry their size"
    );
    assert!(html.contains("srcset="));

    let ld = json_ld(&html);
    let product = ld
        .iter()
        .find(|v| v["@type"] == "Product")
        .expect("Product JSON-LD");
    assert_eq!(product["name"], "Adire Indigo Scarf");
    assert_eq!(product["sku"], "ADI-1");
    assert_eq!(product["offers"]["@type"], "Offer");
    assert_eq!(product["offers"]["price"], "12500.00");
    assert_eq!(product["offers"]["priceCurrency"], "NGN");
    assert_eq!(
        product["offers"]["availability"],
        "https://schema.org/InStock"
    );
    let crumbs = ld
        .iter()
        .find(|v| v["@type"] == "BreadcrumbList")
        .expect("BreadcrumbList JSON-LD");
    let names: Vec<&str> = crumbs["itemListElement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Ada Fabrics", "Scarves", "Adire Indigo Scarf"]);
}

#[tokio::test]
async fn shop_home_category_and_search_pages_render_on_the_server() {
    let app = spawn_app().await;
    shop_with_products(&app).await;
    let shopper = client();
    let html = shopper
        .get(app.url("/s/ada-fabrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("<title>Ada Fabrics</title>"));
    assert!(html.contains("Adire Indigo Scarf"));
    assert!(html.contains("Sold out"), "sold-out badge");
    assert!(
        html.contains(r#"href="/s/ada-fabrics/c/scarves""#),
        "category navigation"
    );
    assert!(!html.contains("Secret Draft Wrap") && !html.contains("Old Archived Bag"));

    let html = shopper
        .get(app.url("/s/ada-fabrics/c/scarves"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("<title>Scarves · Ada Fabrics</title>"));
    assert!(html.contains("Adire Indigo Scarf") && !html.contains("Sold Out Cap"));

    // Typo tolerance: "scaf" and "indgo" still find the scarf.
    for q in ["scarf", "scaf", "indgo"] {
        let html = shopper
            .get(app.url(&format!("/s/ada-fabrics/search?q={q}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            html.contains(r#"href="/s/ada-fabrics/p/adire-indigo-scarf""#),
            "search for {q}"
        );
    }
    let html = shopper
        .get(app.url("/s/ada-fabrics/search?q=draft"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !html.contains("Secret Draft Wrap"),
        "drafts never appear in search"
    );
    assert!(html.contains("No products match"));
}

#[tokio::test]
async fn drafts_archived_and_unknown_pages_are_real_404s() {
    let app = spawn_app().await;
    shop_with_products(&app).await;
    let shopper = client();
    for path in [
        "/s/ada-fabrics/p/secret-draft-wrap",
        "/s/ada-fabrics/p/old-archived-bag",
        "/s/ada-fabrics/p/nothing-here",
        "/s/no-such-shop",
        "/s/ada-fabrics/c/no-such-category",
        "/s/no-such-shop/sitemap.xml",
    ] {
        let res = shopper.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 404, "{path}");
    }
    let html = shopper
        .get(app.url("/s/ada-fabrics/p/secret-draft-wrap"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Page not found") || html.contains("not found"),
        "a real 404 page"
    );
}

#[tokio::test]
async fn sitemaps_and_robots_list_only_public_pages() {
    let app = spawn_app().await;
    shop_with_products(&app).await;
    let res = app.get("/s/ada-fabrics/sitemap.xml").await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/xml")
    );
    let xml = res.text().await.unwrap();
    assert!(xml.contains(&format!(
        "<loc>{}/s/ada-fabrics/p/adire-indigo-scarf</loc>",
        app.base
    )));
    assert!(xml.contains(&format!("<loc>{}/s/ada-fabrics/c/scarves</loc>", app.base)));
    assert!(!xml.contains("secret-draft-wrap") && !xml.contains("old-archived-bag"));
    let index = app.get("/sitemap.xml").await.text().await.unwrap();
    assert!(index.contains(&format!(
        "<loc>{}/s/ada-fabrics/sitemap.xml</loc>",
        app.base
    )));
    let robots = app.get("/robots.txt").await.text().await.unwrap();
    assert!(robots.contains("Disallow: /dashboard"));
    assert!(robots.contains(&format!("Sitemap: {}/sitemap.xml", app.base)));
}

#[tokio::test]
async fn storefront_pages_use_at_most_two_queries_and_the_cache_follows_edits() {
    let app = spawn_app().await;
    let (id, _) = shop_with_products(&app).await;
    let shopper = client();
    for path in [
        "/s/ada-fabrics",
        "/s/ada-fabrics/c/scarves",
        "/s/ada-fabrics/p/adire-indigo-scarf",
        "/s/ada-fabrics/search?q=scarf",
    ] {
        let before = app.acquired();
        let res = shopper.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200);
        res.text().await.unwrap();
        let used = app.acquired() - before;
        assert!((1..=2).contains(&used), "{path} used {used} queries");
        // Cached: the whole answer, no query at all.
        let before = app.acquired();
        shopper
            .get(app.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(app.acquired() - before, 0, "{path} from cache");
    }

    let html = shopper
        .get(app.url("/s/ada-fabrics/p/adire-indigo-scarf"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("₦12,500.00"));
    let res = app
        .call(
            "catalog/product/save",
            &[
                ("id", &id),
                ("title", "Adire Indigo Scarf"),
                ("price", "9999"),
                ("status", "active"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let html = shopper
        .get(app.url("/s/ada-fabrics/p/adire-indigo-scarf"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("₦9,999.00"),
        "the edit shows on the next request"
    );
    assert!(!html.contains("₦12,500.00"));
}

#[tokio::test]
async fn any_page_number_is_served_never_an_error() {
    let app = spawn_app().await;
    shop_with_products(&app).await;
    let shopper = client();
    for path in [
        "/s/ada-fabrics?page=9223372036854775807",
        "/s/ada-fabrics?page=-9223372036854775808",
        "/s/ada-fabrics?page=abc",
        "/s/ada-fabrics/c/scarves?page=99999999999999999999",
        "/s/ada-fabrics/search?q=x&page=-1",
        "/s/ada-fabrics/search?q=scarf&page=9223372036854775807",
    ] {
        let res = shopper.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let html = res.text().await.unwrap();
        if !path.contains("q=x") {
            assert!(html.contains("Adire Indigo Scarf"), "{path}: the last page");
        }
    }
    // After hydration the page data comes from the server function, which anyone can call
    // with any number.
    for page in ["9223372036854775807", "-9223372036854775808", "0", "2"] {
        let res = shopper
            .post(app.url("/api/storefront/page"))
            .form(&[("shop", "ada-fabrics"), ("view", "home"), ("page", page)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "page={page}");
        let listing = &res.json::<Value>().await.unwrap()["Listing"];
        assert_eq!(
            (listing["page"].as_i64(), listing["pages"].as_i64()),
            (Some(1), Some(1)),
            "page={page}: past the end shows the last page"
        );
        assert_eq!(listing["products"].as_array().unwrap().len(), 2);
    }
    let res = shopper
        .post(app.url("/api/storefront/page"))
        .form(&[("shop", "ada-fabrics"), ("view", "home"), ("page", "abc")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        400,
        "a malformed number is the caller's mistake"
    );
}

#[tokio::test]
async fn searches_that_run_alike_share_one_cache_entry() {
    let app = spawn_app().await;
    shop_with_products(&app).await;
    let shopper = client();
    let long = "a".repeat(200);
    let pairs = [
        ("scarf", "%20%20scarf%20%20"),
        ("indigo+scarf", "indigo%20%20%09scarf"),
        // Only the first 100 characters are searched, so only they may key the cache.
        (&format!("{long}1") as &str, &format!("{long}2") as &str),
    ];
    for (first, variant) in pairs {
        let res = shopper
            .get(app.url(&format!("/s/ada-fabrics/search?q={first}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.text().await.unwrap();
        let before = app.acquired();
        let res = shopper
            .get(app.url(&format!("/s/ada-fabrics/search?q={variant}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.text().await.unwrap();
        assert_eq!(
            app.acquired() - before,
            0,
            "{variant} from the cache of {first}"
        );
    }
}

#[tokio::test]
async fn the_page_cache_keeps_within_its_byte_budget() {
    let app = spawn_app_with(Opts {
        env: vec![("STOREFRONT_CACHE_BYTES", "1000".into())],
    })
    .await;
    shop_with_products(&app).await;
    let shopper = client();
    for _ in 0..2 {
        let before = app.acquired();
        let res = shopper.get(app.url("/s/ada-fabrics")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        res.text().await.unwrap();
        assert_eq!(
            app.acquired() - before,
            2,
            "a page larger than the whole budget is never kept"
        );
    }
}

/// The scripts a page makes the browser run: (src, inline bytes) per executable `<script>`;
/// JSON and JSON-LD blocks are data, not scripts.
fn scripts(html: &str) -> Vec<(Option<String>, usize)> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find("<script") {
        rest = &rest[at..];
        let open_end = rest.find('>').expect("a closed tag");
        let open = &rest[..open_end];
        let close = rest.find("</script>").expect("a closing tag");
        let body = &rest[open_end + 1..close];
        if !open.contains("application/ld+json") && !open.contains("application/json") {
            let src = open
                .split("src=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .map(str::to_string);
            out.push((src, body.len()));
        }
        rest = &rest[close + "</script>".len()..];
    }
    out
}

#[tokio::test]
async fn storefront_pages_load_no_dashboard_bundle_and_stay_within_the_script_budget() {
    const BUDGET: usize = 100 * 1024;
    let app = spawn_app().await;
    shop_with_products(&app).await;
    let shopper = client();
    // The storefront's one script, as it ships (its raw size bounds what is sent compressed).
    let storefront_js = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../public/storefront.js"
    ))
    .expect("public/storefront.js")
    .len();
    for path in [
        "/s/ada-fabrics",
        "/s/ada-fabrics/c/scarves",
        "/s/ada-fabrics/p/adire-indigo-scarf",
        "/s/ada-fabrics/search?q=scarf",
        "/s/ada-fabrics/cart",
    ] {
        let res = shopper.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let html = res.text().await.unwrap();
        assert!(
            !html.contains(".wasm") && !html.contains("modulepreload"),
            "{path} loads the dashboard's WASM"
        );
        // Never hydrated, so the page's data is not written into it a second time as JSON
        // for hydration (it was half of a listing page). The cart still reads its own.
        if !path.ends_with("/cart") {
            assert!(
                !html.contains("__RESOLVED_RESOURCES[0]"),
                "{path} carries hydration data"
            );
        }
        let mut bytes = 0;
        for (src, inline) in scripts(&html) {
            match src.as_deref() {
                Some(app::STOREFRONT_JS) => bytes += storefront_js,
                Some(other) => panic!("{path} loads {other}"),
                None => bytes += inline,
            }
        }
        assert!(
            bytes <= BUDGET,
            "{path}: {bytes} bytes of script (budget {BUDGET})"
        );
        assert!(
            html.contains(&format!("src=\"{}\"", app::STOREFRONT_JS)),
            "{path} has its script"
        );
    }
    // The dashboard's pages still hydrate with the bundle (so the check above can fail).
    let html = shopper
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(".wasm") || html.contains("modulepreload"));
    assert!(!html.contains(app::STOREFRONT_JS));
}
