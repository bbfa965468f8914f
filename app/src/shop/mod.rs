//! Shop settings: name, address on the web (slug), description, logo, currency and contact details.

pub mod api;
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

/// Slugs that would collide with our own paths or mislead shoppers.
pub const RESERVED_SLUGS: &[&str] = &[
    "admin",
    "api",
    "app",
    "assets",
    "account",
    "about",
    "bizmaat",
    "blog",
    "cart",
    "checkout",
    "dashboard",
    "dev",
    "docs",
    "edit",
    "help",
    "login",
    "logout",
    "media",
    "new",
    "official",
    "pkg",
    "privacy",
    "robots",
    "s",
    "search",
    "settings",
    "shop",
    "shops",
    "signup",
    "sitemap",
    "static",
    "status",
    "support",
    "terms",
    "webhooks",
    "whatsapp",
    "www",
];

pub fn validate_slug(input: &str) -> Result<String, String> {
    let slug = input.trim().to_lowercase();
    if slug.len() < 3 || slug.len() > 48 {
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
    if RESERVED_SLUGS.contains(&slug.as_str()) {
        return Err("That address is reserved. Choose another.".into());
    }
    Ok(slug)
}

/// Normalises a WhatsApp number to E.164 ("+2348012345678"); spaces, dashes and brackets are
/// allowed in the input. `Ok(None)` for an empty field.
pub fn normalize_phone(input: &str) -> Result<Option<String>, String> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    let compact: String = trimmed
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
        .collect();
    let digits = compact
        .strip_prefix('+')
        .or_else(|| compact.strip_prefix("00"));
    let message =
        "Enter the number in international format with the country code, like +234 801 234 5678.";
    let Some(digits) = digits else {
        return Err(message.into());
    };
    if !(8..=15).contains(&digits.len())
        || !digits.chars().all(|c| c.is_ascii_digit())
        || digits.starts_with('0')
    {
        return Err(message.into());
    }
    Ok(Some(format!("+{digits}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(validate_slug(" Ada-Fabrics "), Ok("ada-fabrics".into()));
        assert!(validate_slug("ab").is_err());
        assert!(validate_slug("ada--fabrics").is_err());
        assert!(validate_slug("ada_fabrics").is_err());
        assert!(validate_slug("-ada").is_err());
        assert!(validate_slug("dashboard").unwrap_err().contains("reserved"));
    }

    #[test]
    fn phones() {
        assert_eq!(
            normalize_phone("+234 801 234 5678"),
            Ok(Some("+2348012345678".into()))
        );
        assert_eq!(
            normalize_phone("00447700900123"),
            Ok(Some("+447700900123".into()))
        );
        assert_eq!(normalize_phone("  "), Ok(None));
        assert!(normalize_phone("08012345678").is_err());
        assert!(normalize_phone("+0123456789").is_err());
        assert!(normalize_phone("+234abc").is_err());
        assert!(normalize_phone("+1234567").is_err());
    }
}
