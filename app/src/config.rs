//! Typed configuration, read once from the environment at start-up. Every variable is listed
//! with its default in README.md and `.env.example`; defaults let `make run` work with no
//! third-party account.

use secrecy::SecretString;
use std::net::{IpAddr, SocketAddr};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub app_env: AppEnv,
    pub host: IpAddr,
    pub port: u16,
    /// The address merchants and shoppers use; links in emails and canonical URLs start here.
    pub public_url: String,
    pub database_url: SecretString,
    pub database_max_connections: u32,
    pub jwt_secret: SecretString,
    pub access_token_ttl_secs: i64,
    pub refresh_token_ttl_days: i64,
    pub cookie_secure: bool,
    pub smtp_url: Option<SecretString>,
    pub mail_from: String,
    pub privacy_contact_email: String,
    pub login_attempts_per_minute: u32,
    pub signup_attempts_per_hour: u32,
    pub password_reset_requests_per_hour: u32,
    pub checkouts_per_hour: u32,
    pub trust_proxy_headers: bool,
    pub log_format: LogFormat,
    pub seed_demo: bool,
    pub media: MediaConfig,
    /// Storefront pages kept in memory (per shop, path and catalog version); 0 turns it off.
    pub storefront_cache_entries: usize,
}

/// Where product images live.
#[derive(Debug, Clone)]
pub enum MediaConfig {
    /// Files under this folder, served at /media.
    Local {
        dir: std::path::PathBuf,
    },
    Cloudinary(CloudinaryConfig),
}

#[derive(Debug, Clone)]
pub struct CloudinaryConfig {
    pub cloud_name: String,
    pub api_key: String,
    pub api_secret: SecretString,
    /// `https://api.cloudinary.com` unless tests point it at a fake.
    pub api_base_url: String,
    /// `https://res.cloudinary.com`.
    pub delivery_base_url: String,
}

/// A configuration problem, naming the variable so an operator can fix it.
#[derive(Debug, thiserror::Error)]
#[error("configuration error in {var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

const DEV_JWT_SECRET: &str = "development-only-secret-change-me-in-production-0123456789";

impl Config {
    /// Reads the process environment (after `.env`, loaded by the binary).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Builds the configuration from any lookup, so tests can pass their own values.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| {
            get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };

        let app_env = match get("APP_ENV").as_deref() {
            None | Some("development") => AppEnv::Development,
            Some("production") => AppEnv::Production,
            Some(other) => {
                return Err(err(
                    "APP_ENV",
                    format!("expected development or production, got {other:?}"),
                ));
            }
        };
        let host: IpAddr = parse(&get, "HOST", "127.0.0.1")?;
        let port: u16 = parse(&get, "PORT", "3000")?;
        let public_url = get("PUBLIC_URL")
            .unwrap_or_else(|| format!("http://{}", SocketAddr::new(host, port)))
            .trim_end_matches('/')
            .to_string();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(err(
                "PUBLIC_URL",
                "must start with http:// or https://".into(),
            ));
        }
        let database_url = get("DATABASE_URL").ok_or_else(|| {
            err(
                "DATABASE_URL",
                "is not set (e.g. postgres://postgres@127.0.0.1:5432/bizmaat)".into(),
            )
        })?;
        let jwt_secret = match (get("JWT_SECRET"), app_env) {
            (Some(s), _) if s.len() < 32 => {
                return Err(err("JWT_SECRET", "must be at least 32 characters".into()));
            }
            (Some(s), _) => s,
            (None, AppEnv::Development) => DEV_JWT_SECRET.to_string(),
            (None, AppEnv::Production) => {
                return Err(err("JWT_SECRET", "is required in production".into()));
            }
        };
        // Browsers only accept `Secure` cookies over HTTPS, except on the loopback address, where
        // our test client would drop them: so the flag is relaxed only for http://127.0.0.1 / localhost.
        let loopback_http = public_url.starts_with("http://127.0.0.1")
            || public_url.starts_with("http://localhost");
        let cookie_secure = match get("COOKIE_SECURE").as_deref() {
            None => !loopback_http,
            Some("true") => true,
            Some("false") if loopback_http || app_env == AppEnv::Development => false,
            Some("false") => {
                return Err(err(
                    "COOKIE_SECURE",
                    "may be false only for a loopback PUBLIC_URL or in development".into(),
                ));
            }
            Some(other) => {
                return Err(err(
                    "COOKIE_SECURE",
                    format!("expected true or false, got {other:?}"),
                ));
            }
        };
        let log_format = match get("LOG_FORMAT").as_deref() {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(err(
                    "LOG_FORMAT",
                    format!("expected pretty or json, got {other:?}"),
                ));
            }
        };
        Ok(Config {
            app_env,
            host,
            port,
            public_url,
            database_url: database_url.into(),
            database_max_connections: parse(&get, "DATABASE_MAX_CONNECTIONS", "10")?,
            jwt_secret: jwt_secret.into(),
            access_token_ttl_secs: parse(&get, "ACCESS_TOKEN_TTL_SECS", "600")?,
            refresh_token_ttl_days: parse(&get, "REFRESH_TOKEN_TTL_DAYS", "30")?,
            cookie_secure,
            smtp_url: get("SMTP_URL").map(Into::into),
            mail_from: get("MAIL_FROM")
                .unwrap_or_else(|| "Bizmaat <no-reply@bizmaat.local>".into()),
            privacy_contact_email: get("PRIVACY_CONTACT_EMAIL")
                .unwrap_or_else(|| "privacy@bizmaat.example".into()),
            login_attempts_per_minute: parse(&get, "RATE_LIMIT_LOGIN_PER_MINUTE", "10")?,
            signup_attempts_per_hour: parse(&get, "RATE_LIMIT_SIGNUP_PER_HOUR", "20")?,
            password_reset_requests_per_hour: parse(
                &get,
                "RATE_LIMIT_PASSWORD_RESET_PER_HOUR",
                "5",
            )?,
            checkouts_per_hour: parse(&get, "RATE_LIMIT_CHECKOUT_PER_HOUR", "20")?,
            trust_proxy_headers: parse(&get, "TRUST_PROXY_HEADERS", "false")?,
            log_format,
            seed_demo: parse(&get, "SEED_DEMO", "false")?,
            media: media_config(&get)?,
            storefront_cache_entries: parse(&get, "STOREFRONT_CACHE_ENTRIES", "2000")?,
        })
    }

    pub fn is_development(&self) -> bool {
        self.app_env == AppEnv::Development
    }

    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }
}

/// Cloudinary when `CLOUDINARY_URL` (cloudinary://key:secret@cloud) or the three
/// `CLOUDINARY_*` parts are set; local files otherwise.
fn media_config(get: &impl Fn(&str) -> Option<String>) -> Result<MediaConfig, ConfigError> {
    let api_base_url = get("CLOUDINARY_API_BASE_URL")
        .unwrap_or_else(|| "https://api.cloudinary.com".into())
        .trim_end_matches('/')
        .to_string();
    let delivery_base_url = get("CLOUDINARY_DELIVERY_BASE_URL")
        .unwrap_or_else(|| "https://res.cloudinary.com".into())
        .trim_end_matches('/')
        .to_string();
    let parts = if let Some(url) = get("CLOUDINARY_URL") {
        let rest = url.strip_prefix("cloudinary://").ok_or_else(|| {
            err(
                "CLOUDINARY_URL",
                "expected cloudinary://API_KEY:API_SECRET@CLOUD_NAME".into(),
            )
        })?;
        let (creds, cloud) = rest.rsplit_once('@').ok_or_else(|| {
            err(
                "CLOUDINARY_URL",
                "expected cloudinary://API_KEY:API_SECRET@CLOUD_NAME".into(),
            )
        })?;
        let (key, secret) = creds.split_once(':').ok_or_else(|| {
            err(
                "CLOUDINARY_URL",
                "expected cloudinary://API_KEY:API_SECRET@CLOUD_NAME".into(),
            )
        })?;
        Some((cloud.to_string(), key.to_string(), secret.to_string()))
    } else {
        match (
            get("CLOUDINARY_CLOUD_NAME"),
            get("CLOUDINARY_API_KEY"),
            get("CLOUDINARY_API_SECRET"),
        ) {
            (Some(c), Some(k), Some(s)) => Some((c, k, s)),
            (None, None, None) => None,
            _ => {
                return Err(err(
                    "CLOUDINARY_CLOUD_NAME",
                    "set all three of CLOUDINARY_CLOUD_NAME, CLOUDINARY_API_KEY and CLOUDINARY_API_SECRET, or none".into(),
                ));
            }
        }
    };
    Ok(match parts {
        Some((cloud_name, api_key, api_secret)) => MediaConfig::Cloudinary(CloudinaryConfig {
            cloud_name,
            api_key,
            api_secret: api_secret.into(),
            api_base_url,
            delivery_base_url,
        }),
        None => MediaConfig::Local {
            dir: get("MEDIA_DIR")
                .unwrap_or_else(|| ".data/media".into())
                .into(),
        },
    })
}

fn err(var: &'static str, message: String) -> ConfigError {
    ConfigError { var, message }
}

fn parse<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: &str,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    let raw = get(var).unwrap_or_else(|| default.to_string());
    raw.parse()
        .map_err(|e| err(var, format!("cannot read {raw:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_work_for_local_development() {
        let c = cfg(&[("DATABASE_URL", "postgres://x")]).unwrap();
        assert_eq!(c.public_url, "http://127.0.0.1:3000");
        assert!(!c.cookie_secure, "loopback http relaxes Secure");
        assert_eq!(c.jwt_secret.expose_secret(), DEV_JWT_SECRET);
    }

    #[test]
    fn media_backend_follows_cloudinary_settings() {
        let local = cfg(&[("DATABASE_URL", "x")]).unwrap();
        assert!(matches!(local.media, MediaConfig::Local { .. }));
        let c = cfg(&[
            ("DATABASE_URL", "x"),
            ("CLOUDINARY_URL", "cloudinary://key:se:cret@demo"),
        ])
        .unwrap();
        match c.media {
            MediaConfig::Cloudinary(c) => {
                assert_eq!((c.cloud_name.as_str(), c.api_key.as_str()), ("demo", "key"));
                assert_eq!(
                    secrecy::ExposeSecret::expose_secret(&c.api_secret),
                    "se:cret"
                );
            }
            other => panic!("expected Cloudinary, got {other:?}"),
        }
        let partial = cfg(&[("DATABASE_URL", "x"), ("CLOUDINARY_API_KEY", "k")]).unwrap_err();
        assert_eq!(partial.var, "CLOUDINARY_CLOUD_NAME");
        assert_eq!(
            cfg(&[("DATABASE_URL", "x"), ("CLOUDINARY_URL", "http://x")])
                .unwrap_err()
                .var,
            "CLOUDINARY_URL"
        );
    }

    #[test]
    fn errors_name_the_variable() {
        assert_eq!(cfg(&[]).unwrap_err().var, "DATABASE_URL");
        assert_eq!(
            cfg(&[("DATABASE_URL", "x"), ("PORT", "abc")])
                .unwrap_err()
                .var,
            "PORT"
        );
        let prod = cfg(&[("DATABASE_URL", "x"), ("APP_ENV", "production")]).unwrap_err();
        assert_eq!(prod.var, "JWT_SECRET");
        assert_eq!(
            cfg(&[("DATABASE_URL", "x"), ("JWT_SECRET", "short")])
                .unwrap_err()
                .var,
            "JWT_SECRET"
        );
    }

    #[test]
    fn https_public_url_forces_secure_cookies() {
        let c = cfg(&[
            ("DATABASE_URL", "x"),
            ("PUBLIC_URL", "https://shop.example/"),
        ])
        .unwrap();
        assert!(c.cookie_secure);
        assert_eq!(c.public_url, "https://shop.example");
        let e = cfg(&[
            ("DATABASE_URL", "x"),
            ("APP_ENV", "production"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("PUBLIC_URL", "https://shop.example"),
            ("COOKIE_SECURE", "false"),
        ])
        .unwrap_err();
        assert_eq!(e.var, "COOKIE_SECURE");
    }
}
