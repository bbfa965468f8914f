//! Shared server state: one value handed to axum (via `FromRef`) and to server functions (via
//! Leptos context), so every test can build its own app with no globals.

use crate::auth::ssr::RateLimits;
use crate::config::Config;
use crate::error::AppError;
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
    pub page_views: crate::analytics::ssr::PageViews,
}

impl AppState {
    pub fn new(leptos_options: LeptosOptions, pool: PgPool, config: Config) -> Self {
        let limits = Arc::new(RateLimits::new(&config));
        let media = Arc::new(crate::media::ssr::Media::new(config.media.clone()));
        let storefront_cache = Arc::new(crate::storefront::ssr::PageCache::new(
            config.storefront_cache_entries,
        ));
        let page_views = crate::analytics::ssr::PageViews::start(pool.clone());
        AppState {
            page_views,
            leptos_options,
            pool,
            config: Arc::new(config),
            limits,
            media,
            storefront_cache,
        }
    }
}

/// The state inside a server function or SSR render.
pub fn use_state() -> Result<AppState, AppError> {
    leptos::prelude::use_context::<AppState>()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("AppState missing from Leptos context")))
}
