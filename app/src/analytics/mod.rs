//! Usage data: storefront page views (buffered, written in batches, never blocking a response)
//! and named feature events per merchant (written in the same transaction as the change).

#[cfg(feature = "ssr")]
pub mod ssr;

/// Coarse device class from a user agent.
pub fn device_class(user_agent: &str) -> &'static str {
    let ua = user_agent.to_ascii_lowercase();
    if ua.contains("ipad") || ua.contains("tablet") {
        "tablet"
    } else if ua.contains("mobi") || ua.contains("iphone") || ua.contains("android") {
        "mobile"
    } else {
        "desktop"
    }
}

/// Crawlers, link-preview fetchers and scripts. Their views are stored but flagged, so charts
/// can leave them out.
pub fn is_bot(user_agent: &str) -> bool {
    let ua = user_agent.to_ascii_lowercase();
    ua.is_empty()
        || [
            "bot",
            "crawl",
            "spider",
            "slurp",
            "facebookexternalhit",
            "whatsapp",
            "preview",
            "curl",
            "wget",
            "python-requests",
            "headless",
            "lighthouse",
            "monitor",
        ]
        .iter()
        .any(|needle| ua.contains(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_user_agents() {
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148";
        assert_eq!(device_class(iphone), "mobile");
        assert_eq!(device_class("Mozilla/5.0 (iPad; CPU OS 17_0)"), "tablet");
        assert_eq!(
            device_class("Mozilla/5.0 (X11; Linux x86_64) Chrome/120"),
            "desktop"
        );
        assert!(!is_bot(iphone));
        assert!(is_bot("Googlebot/2.1 (+http://www.google.com/bot.html)"));
        assert!(is_bot("WhatsApp/2.23.20.0"));
        assert!(is_bot(""));
    }
}
