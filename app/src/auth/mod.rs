//! Merchant accounts: signup (18+, policy accepted), login, logout, sessions, password reset,
//! account settings. Types and validation here are shared by the browser and the server.

pub mod api;
#[cfg(feature = "ssr")]
pub mod ssr;
pub mod ui;

use crate::error::FieldErrors;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const MIN_PASSWORD_LEN: usize = 10;
pub const MAX_PASSWORD_LEN: usize = 256;
pub const MAX_NAME_LEN: usize = 100;

/// The signed-in merchant and their shop, as the dashboard shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentUser {
    pub merchant_id: Uuid,
    pub full_name: String,
    pub email: String,
    pub shop_id: Uuid,
    pub shop_name: String,
    pub shop_slug: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SignupInput {
    pub full_name: String,
    pub email: String,
    pub business_name: String,
    /// The currency the shop's prices are in: chosen at signup, never silently defaulted.
    pub currency: String,
    /// The shop's IANA zone (the form fills in the browser's); blank means UTC.
    pub time_zone: String,
    pub password: String,
    /// HTML checkboxes send "on" when ticked and nothing otherwise.
    pub adult: Option<String>,
    pub accept_policy: Option<String>,
}

/// Lowercases and trims an email so that lookups ignore case and stray spaces.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A deliberately plain check: one `@`, something before it, a dotted domain after it, no
/// spaces. Whether the mailbox exists is proven by the reset email, not by a regex.
pub fn validate_email(email: &str) -> Result<(), String> {
    let email = email.trim();
    if email.is_empty() {
        return Err("Enter your email address.".into());
    }
    if email.len() > 254 {
        return Err("This email address is too long.".into());
    }
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if valid {
        Ok(())
    } else {
        Err("Enter an email address like name@example.com.".into())
    }
}

pub fn validate_name(value: &str, what: &str) -> Result<(), String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(format!("Enter your {what}."));
    }
    if value.chars().count() > MAX_NAME_LEN {
        return Err(format!(
            "Your {what} can be at most {MAX_NAME_LEN} characters."
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("Your {what} contains characters we cannot store."));
    }
    Ok(())
}

static COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

fn is_common_password(password: &str) -> bool {
    let lower = password.to_lowercase();
    COMMON_PASSWORDS.lines().any(|p| p.trim() == lower)
}

pub fn validate_password(password: &str, email: &str) -> Result<(), String> {
    let len = password.chars().count();
    if len < MIN_PASSWORD_LEN {
        return Err(format!("Use at least {MIN_PASSWORD_LEN} characters."));
    }
    if len > MAX_PASSWORD_LEN {
        return Err(format!("Use at most {MAX_PASSWORD_LEN} characters."));
    }
    if is_common_password(password) {
        return Err("This password is too common and easy to guess. Choose another.".into());
    }
    if !email.is_empty() && normalize_email(password) == normalize_email(email) {
        return Err("Your password must not be your email address.".into());
    }
    Ok(())
}

/// Every problem with a signup form, keyed by field name.
pub fn validate_signup(input: &SignupInput) -> FieldErrors {
    let mut errors = FieldErrors::new();
    let mut check = |field: &str, result: Result<(), String>| {
        if let Err(message) = result {
            errors.insert(field.to_string(), message);
        }
    };
    check("full_name", validate_name(&input.full_name, "full name"));
    check("email", validate_email(&input.email));
    check(
        "business_name",
        validate_name(&input.business_name, "business name"),
    );
    check(
        "currency",
        if crate::money::currency(input.currency.trim()).is_some() {
            Ok(())
        } else {
            Err("Choose the currency your prices are in.".into())
        },
    );
    check("password", validate_password(&input.password, &input.email));
    check(
        "adult",
        if input.adult.is_some() {
            Ok(())
        } else {
            Err("You must be 18 or older to use Bizmaat.".into())
        },
    );
    check(
        "accept_policy",
        if input.accept_policy.is_some() {
            Ok(())
        } else {
            Err("Please read and accept the privacy policy.".into())
        },
    );
    errors
}

/// Only a path on our own site may follow a login: never another host (open redirect).
/// Browsers drop tabs and newlines inside URLs and read `\` as `/`, so `/\t/evil.example`
/// would become `//evil.example`: any control character, whitespace or backslash refuses the
/// whole value, and so does anything that is not a plain absolute path. A newline would also
/// make the `Location` header invalid.
pub fn safe_next(next: Option<&str>) -> String {
    let fallback = "/dashboard".to_string();
    let Some(n) = next else { return fallback };
    let plain = n.len() <= 2000
        && n.starts_with('/')
        && !n.starts_with("//")
        && !n
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '\\');
    if plain { n.to_string() } else { fallback }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> SignupInput {
        SignupInput {
            full_name: "Amina Yusuf".into(),
            email: "amina@example.com".into(),
            business_name: "Amina Fabrics".into(),
            currency: "NGN".into(),
            time_zone: String::new(),
            password: "correct horse battery".into(),
            adult: Some("on".into()),
            accept_policy: Some("on".into()),
        }
    }

    #[test]
    fn a_complete_form_is_valid() {
        assert!(validate_signup(&valid()).is_empty());
    }

    #[test]
    fn each_field_is_checked() {
        type Breaks = Box<dyn Fn(&mut SignupInput)>;
        let cases: Vec<(&str, Breaks)> = vec![
            ("full_name", Box::new(|i| i.full_name = "  ".into())),
            ("email", Box::new(|i| i.email = "amina@".into())),
            (
                "business_name",
                Box::new(|i| i.business_name = "x".repeat(101)),
            ),
            ("currency", Box::new(|i| i.currency = String::new())),
            ("currency", Box::new(|i| i.currency = "XYZ".into())),
            ("password", Box::new(|i| i.password = "short".into())),
            ("password", Box::new(|i| i.password = "Password123".into())),
            ("adult", Box::new(|i| i.adult = None)),
            ("accept_policy", Box::new(|i| i.accept_policy = None)),
        ];
        for (field, change) in cases {
            let mut input = valid();
            change(&mut input);
            let errors = validate_signup(&input);
            assert_eq!(
                errors.keys().collect::<Vec<_>>(),
                vec![field],
                "field {field}"
            );
        }
    }

    #[test]
    fn emails() {
        for ok in ["a@b.co", "first.last+tag@sub.example.org", " A@B.CO "] {
            assert!(validate_email(ok).is_ok(), "{ok}");
        }
        for bad in ["", "ab.co", "a@b", "a@@b.co", "a b@c.co", "a@.co", "@b.co"] {
            assert!(validate_email(bad).is_err(), "{bad}");
        }
        assert_eq!(normalize_email(" Amina@Example.COM "), "amina@example.com");
    }

    #[test]
    fn next_is_always_local() {
        assert_eq!(safe_next(Some("/dashboard/account")), "/dashboard/account");
        assert_eq!(safe_next(Some("//evil.example")), "/dashboard");
        assert_eq!(safe_next(Some("https://evil.example")), "/dashboard");
        assert_eq!(safe_next(None), "/dashboard");
        for bad in [
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\nSet-Cookie: x=1",
            "/ /evil.example",
            "/\\evil.example",
            "/\u{a0}/evil.example",
            "/\u{0}",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/dashboard", "{bad:?}");
        }
        assert_eq!(
            safe_next(Some("/dashboard/orders?status=new&q=a%20b")),
            "/dashboard/orders?status=new&q=a%20b"
        );
    }
}
