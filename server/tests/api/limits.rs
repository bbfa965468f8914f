//! Rate limits as a client meets them: password resets per network as well as per email, and
//! IPv6 clients counted per /64 (through `X-Forwarded-For` from a trusted proxy, the way
//! production sees them).

use crate::helpers::{Opts, client, spawn_app_with};
use serde_json::Value;

#[tokio::test]
async fn reset_emails_are_limited_per_network_across_addresses() {
    let app = spawn_app_with(Opts {
        env: vec![("RATE_LIMIT_PASSWORD_RESET_PER_HOUR", "2".into())],
    })
    .await;
    for email in ["one@example.com", "two@example.com"] {
        let res = app.call("forgot-password", &[("email", email)]).await;
        assert_eq!(res.status(), 200, "{email}");
    }
    // A third address from the same connection: one sender cannot mail everyone it knows.
    let res = app
        .call("forgot-password", &[("email", "three@example.com")])
        .await;
    assert_eq!(res.status(), 429);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("several reset links")
    );
}

#[tokio::test]
async fn ipv6_shoppers_are_counted_per_64() {
    let app = spawn_app_with(Opts {
        env: vec![
            ("RATE_LIMIT_CHECKOUT_PER_HOUR", "2".into()),
            ("TRUST_PROXY_HEADERS", "true".into()),
        ],
    })
    .await;
    app.signup("Six Owner").await;
    let slug = app.shop_slug().await;
    let product = app
        .create_product(&[("title", "Tea"), ("price", "100"), ("status", "active")])
        .await;
    let order = |ip: &'static str, key: &'static str| {
        let (url, slug, product) = (
            app.url("/api/storefront/checkout"),
            slug.clone(),
            product.clone(),
        );
        async move {
            client()
                .post(url)
                .header("x-forwarded-for", ip)
                .form(&[
                    ("shop", slug.as_str()),
                    ("name", "Ada"),
                    ("phone", "+2348020003333"),
                    ("address", "1 Road"),
                    ("idempotency_key", key),
                    ("product[]", product.as_str()),
                    ("quantity[]", "1"),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(order("2001:db8:1:2::1", "a").await, 200);
    assert_eq!(order("2001:db8:1:2::2", "b").await, 200);
    // A fresh address in the same /64 is the same shopper.
    assert_eq!(order("2001:db8:1:2:ffff::9", "c").await, 429);
    assert_eq!(order("2001:db8:1:3::1", "d").await, 200, "the next /64");
    // An IPv4 client reported as IPv4-mapped IPv6 is that IPv4 address.
    assert_eq!(order("198.51.100.7", "e").await, 200);
    assert_eq!(order("::ffff:198.51.100.7", "f").await, 200);
    assert_eq!(order("198.51.100.7", "g").await, 429);
}
