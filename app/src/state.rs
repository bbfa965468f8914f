//! Shared server state: one value handed to axum (via `FromRef`) and to server functions (via
//! Leptos context), so every test can build its own app with no globals.

use crate::config::Config;
use crate::error::AppError;
use crate::platform::limits::RateLimits;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use sqlx::PgPool;
use std::sync::Arc;

#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub pool: PgPool,
    pub config: Arc<Config>,
    pub limits: Arc<RateLimits>,
    pub media: Arc<crate::media::ssr::Media>,
    pub storefront_cache: Arc<crate::storefront::ssr::PageCache>,
    /// Whole storefront answers as bytes (`storefront::bytes`), bounded like the data cache.
    pub storefront_responses: Arc<crate::storefront::bytes::ResponseCache>,
    pub page_views: crate::analytics::ssr::PageViews,
    /// The time source for time rules (job backoff, leases, purges); tests swap in a manual one.
    pub clock: crate::platform::clock::Clock,
    /// Job kind → handler, for the job runners (see `platform::jobs`).
    pub jobs: Arc<crate::platform::jobs::Registry>,
    /// The WhatsApp channel: Graph client, secrets, pacing, simulator.
    pub whatsapp: Arc<crate::whatsapp::ssr::WhatsApp>,
    /// Live inbox updates (fed by the worker's LISTEN).
    pub live: crate::conversations::live::Live,
    /// The AI agent's chat provider, when one is configured.
    pub llm: Option<crate::agent::llm::Llm>,
    /// The embedder for the agent's semantic search, when one is configured.
    pub embedder: Option<Arc<crate::agent::embed::Embedder>>,
}

impl AppState {
    pub fn new(leptos_options: LeptosOptions, pool: PgPool, config: Config) -> Self {
        let limits = Arc::new(RateLimits::new(&config));
        let http = crate::platform::http::HttpSettings::from_config(&config);
        let media = Arc::new(crate::media::ssr::Media::new(
            config.media.clone(),
            crate::platform::http::HttpClient::new("cloudinary", &http),
        ));
        let mut jobs = crate::platform::jobs::Registry::new();
        crate::mail::ssr::register_jobs(
            &mut jobs,
            crate::mail::ssr::Mailer::from_config(&config)
                .expect("SMTP_URL and MAIL_FROM were checked when the configuration was read"),
        );
        crate::whatsapp::ssr::register_jobs(&mut jobs);
        crate::catalog::import::register_jobs(&mut jobs);
        crate::agent::ssr::register_jobs(&mut jobs);
        crate::agent::embed::register_jobs(&mut jobs);
        let whatsapp = Arc::new(
            crate::whatsapp::ssr::WhatsApp::new(&config, &http)
                .expect("SECRETS_KEY was checked when the configuration was read"),
        );
        let storefront_cache = Arc::new(crate::storefront::ssr::PageCache::new(
            config.storefront_cache_entries,
            config.storefront_cache_bytes,
        ));
        let storefront_responses = Arc::new(crate::storefront::bytes::ResponseCache::new(
            if config.storefront_response_cache {
                config.storefront_cache_entries
            } else {
                0
            },
            config.storefront_cache_bytes,
        ));
        let page_views = crate::analytics::ssr::PageViews::start(pool.clone());
        let llm = config.agent.llm.as_ref().map(|c| {
            crate::agent::llm::Llm::new(c).expect("the chat provider's HTTP client builds")
        });
        let embedder = config
            .agent
            .embeddings
            .as_ref()
            .map(|c| Arc::new(crate::agent::embed::Embedder::new(c, &http)));
        AppState {
            llm,
            embedder,
            page_views,
            leptos_options,
            pool,
            config: Arc::new(config),
            limits,
            media,
            storefront_cache,
            storefront_responses,
            clock: crate::platform::clock::Clock::system(),
            jobs: Arc::new(jobs),
            whatsapp,
            live: crate::conversations::live::Live::new(),
        }
    }
}

/// The state inside a server function or SSR render.
pub fn use_state() -> Result<AppState, AppError> {
    leptos::prelude::use_context::<AppState>()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("AppState missing from Leptos context")))
}
