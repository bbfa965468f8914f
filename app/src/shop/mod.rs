//! Shop settings: name, address on the web (slug), description, logo, currency and contact details.

pub mod api;
pub mod examples;
#[cfg(feature = "ssr")]
pub mod ssr;
pub mod ui;

use crate::media::ImageView;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShopSettings {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub description: String,
    pub currency: String,
    /// IANA name; the dashboard's dates and times, exports and emails use it.
    pub time_zone: String,
    pub whatsapp_number: String,
    pub contact_email: String,
    pub address: String,
    pub logo: Option<ImageView>,
    /// Absolute storefront address, for the copy button.
    pub storefront_url: String,
    /// Email the owner for each new order.
    pub notify_new_orders: bool,
    /// Images upload straight to Cloudinary (true) or to this server.
    pub cloudinary: bool,
}

/// The one list of shop addresses nobody may take: they collide with our own paths (today or
/// as subdomains later) or would let a shop pass for us. Signup and the settings page both
/// check it (through [`validate_slug`]); so does any address with the word "bizmaat" in it.
pub const RESERVED_SLUGS: &[&str] = &[
    "about",
    "account",
    "admin",
    "api",
    "app",
    "assets",
    "auth",
    "billing",
    "bizmaat",
    "blog",
    "cart",
    "checkout",
    "dashboard",
    "dev",
    "docs",
    "edit",
    "email",
    "forgot-password",
    "healthz",
    "help",
    "login",
    "logout",
    "mail",
    "media",
    "new",
    "official",
    "payments",
    "pkg",
    "privacy",
    "readyz",
    "reset-password",
    "robots",
    "root",
    "s",
    "search",
    "security",
    "settings",
    "shop",
    "shops",
    "signup",
    "sitemap",
    "static",
    "status",
    "support",
    "system",
    "terms",
    "webhooks",
    "whatsapp",
    "www",
];

/// Length rules of a shop address, in characters (addresses are ASCII).
pub const SLUG_MIN_LEN: usize = 3;
pub const SLUG_MAX_LEN: usize = 48;
/// Old addresses a shop keeps redirecting from; renaming once more drops the oldest.
pub const MAX_OLD_SLUGS: i64 = 10;

pub fn is_reserved_slug(slug: &str) -> bool {
    RESERVED_SLUGS.contains(&slug) || slug.split('-').any(|part| part == "bizmaat")
}

/// A valid, unreserved address made from a business name ("Amina's Fabrics" → amina-s-fabrics).
/// Names too short or reserved get "-shop"; a name with nothing usable becomes "my-shop".
pub fn slug_from_name(name: &str) -> String {
    let mut slug = String::new();
    for ch in crate::catalog::ascii_for_address(name.trim())
        .chars()
        .flat_map(char::to_lowercase)
    {
        if ch.is_ascii_alphanumeric() {
            slug.push(ch);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = truncate_slug(&slug, SLUG_MAX_LEN);
    if validate_slug(&slug).is_ok() {
        return slug;
    }
    let with_suffix = format!("{}-shop", truncate_slug(&slug, SLUG_MAX_LEN - 5));
    if !slug.is_empty() && validate_slug(&with_suffix).is_ok() {
        with_suffix
    } else {
        "my-shop".into()
    }
}

/// `base-n` (n ≥ 2), shortening `base` so the whole stays within [`SLUG_MAX_LEN`].
pub fn numbered_slug(base: &str, n: u32) -> String {
    let suffix = format!("-{n}");
    format!(
        "{}{suffix}",
        truncate_slug(base, SLUG_MAX_LEN.saturating_sub(suffix.len()))
    )
}

/// At most `max` characters of an ASCII slug, never ending in a hyphen.
fn truncate_slug(slug: &str, max: usize) -> String {
    slug.get(..max.min(slug.len()))
        .unwrap_or(slug)
        .trim_matches('-')
        .to_string()
}

pub fn validate_slug(input: &str) -> Result<String, String> {
    let slug = input.trim().to_lowercase();
    if slug.len() < SLUG_MIN_LEN || slug.len() > SLUG_MAX_LEN {
        return Err("Use 3 to 48 characters.".into());
    }
    let shape_ok = slug.split('-').all(|part| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    });
    if !shape_ok {
        return Err(
            "Use lowercase letters, digits and single hyphens between words (like ada-fabrics)."
                .into(),
        );
    }
    if is_reserved_slug(&slug) {
        return Err("That address is reserved. Choose another.".into());
    }
    Ok(slug)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shop_addresses_keep_accented_names() {
        assert_eq!(slug_from_name("Café Lagos"), "cafe-lagos");
        assert_eq!(slug_from_name("Ñandú Artesanías"), "nandu-artesanias");
        assert_eq!(slug_from_name("Ñandú"), "nandu");
        assert_eq!(slug_from_name("Ñu"), "nu-shop");
    }

    #[test]
    fn slugs() {
        assert_eq!(validate_slug(" Ada-Fabrics "), Ok("ada-fabrics".into()));
        assert!(validate_slug("ab").is_err());
        assert!(validate_slug("ada--fabrics").is_err());
        assert!(validate_slug("ada_fabrics").is_err());
        assert!(validate_slug("-ada").is_err());
        assert!(validate_slug("dashboard").unwrap_err().contains("reserved"));
        assert!(
            validate_slug("bizmaat-support")
                .unwrap_err()
                .contains("reserved")
        );
        assert!(validate_slug("bizmaatfans").is_ok());
    }

    #[test]
    fn slugs_from_names_are_always_valid_and_free_of_reserved_words() {
        assert_eq!(
            slug_from_name("Amina's Fabrics & More!"),
            "amina-s-fabrics-more"
        );
        assert_eq!(slug_from_name("Café Lagos"), "cafe-lagos");
        assert_eq!(slug_from_name("Ab"), "ab-shop");
        assert_eq!(slug_from_name("Admin"), "admin-shop");
        assert_eq!(slug_from_name("Support"), "support-shop");
        assert_eq!(slug_from_name("  ---  "), "my-shop");
        assert_eq!(slug_from_name("Bizmaat Official"), "my-shop");
        assert_eq!(slug_from_name("S"), "s-shop");
        for name in [
            "x".repeat(80),
            format!("{} b", "a".repeat(46)),
            "Admin".into(),
            "Ab".into(),
            "日本".into(),
        ] {
            let slug = slug_from_name(&name);
            assert_eq!(validate_slug(&slug), Ok(slug.clone()), "{name}");
            for n in [2, 10, 99_999] {
                let numbered = numbered_slug(&slug, n);
                assert_eq!(validate_slug(&numbered), Ok(numbered.clone()), "{name} {n}");
            }
        }
        assert_eq!(
            numbered_slug(&"a".repeat(48), 2),
            format!("{}-2", "a".repeat(46))
        );
    }
}
