//! Builds the application (router, middleware, state) and runs it. Tests call [`build_app`]
//! with their own configuration and database.

use crate::security::{self, CspNonce, SecurityConfig};
use app::config::Config;
use app::state::AppState;
use axum::Router;
use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{Request, State};
use axum::http::HeaderName;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::serve::ListenerExt;
use leptos::config::{Env, LeptosOptions};
use leptos::nonce::Nonce;
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list, handle_server_fns_with_context};
use std::sync::Arc;
use std::time::Duration;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::load_shed::LoadShedLayer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};
use tower_http::trace::TraceLayer;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

async fn overloaded(_: tower::BoxError) -> axum::response::Response {
    tracing::warn!("request refused: too many in flight");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(axum::http::header::RETRY_AFTER, "2")],
        axum::Json(serde_json::json!({
            "kind": "unavailable",
            "error": "We are very busy right now. Please try again in a moment."
        })),
    )
        .into_response()
}

pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic = %detail, "request handler panicked");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(serde_json::json!({
            "kind": "internal",
            "error": "Something went wrong on our side. Please try again."
        })),
    )
        .into_response()
}

/// Leptos settings from our own configuration, plus the LEPTOS_* variables cargo-leptos sets.
pub fn leptos_options(config: &Config) -> LeptosOptions {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    LeptosOptions::builder()
        .output_name(env("LEPTOS_OUTPUT_NAME").unwrap_or_else(|| {
            option_env!("LEPTOS_OUTPUT_NAME")
                .unwrap_or("bizmaat")
                .to_string()
        }))
        .site_root(env("LEPTOS_SITE_ROOT").unwrap_or_else(|| "target/site".into()))
        .site_pkg_dir(env("LEPTOS_SITE_PKG_DIR").unwrap_or_else(|| "pkg".into()))
        .site_addr(config.socket_addr())
        .reload_port(
            env("LEPTOS_RELOAD_PORT")
                .and_then(|p| p.parse().ok())
                .unwrap_or(3001),
        )
        .hash_files(env("LEPTOS_HASH_FILES").is_some_and(|v| v == "true"))
        .env(if config.is_development() {
            Env::DEV
        } else {
            Env::PROD
        })
        .build()
}

/// Everything a request handled by Leptos (page or server function) can read from context.
fn leptos_context(state: AppState) -> impl Fn() + Clone + Send + 'static {
    move || {
        provide_context(state.clone());
        let nonce = leptos::prelude::use_context::<axum::http::request::Parts>()
            .and_then(|p| p.extensions.get::<CspNonce>().cloned());
        if let Some(CspNonce(n)) = nonce {
            provide_context(Nonce::from_value(n));
        }
    }
}

async fn server_fn_handler(State(state): State<AppState>, req: Request<Body>) -> impl IntoResponse {
    handle_server_fns_with_context(leptos_context(state), req).await
}

pub fn build_app(state: AppState) -> Router {
    let options = state.leptos_options.clone();
    let routes = generate_route_list(app::App);
    let security = Arc::new(SecurityConfig {
        hsts: state.config.public_url.starts_with("https://"),
        dev_reload: (options.env == Env::DEV)
            .then(|| format!("ws://{}:{}", state.config.host, options.reload_port)),
        upload_origin: match &state.config.media {
            app::config::MediaConfig::Cloudinary(c) => Some(c.api_base_url.clone()),
            app::config::MediaConfig::Local { .. } => None,
        },
        allowed_origins: state.config.allowed_origins.clone(),
        error_key: {
            use secrecy::ExposeSecret;
            state.config.jwt_secret.expose_secret().as_bytes().to_vec()
        },
        dev_mailbox: state.config.is_development() && state.config.dev_mailbox,
    });
    let request_timeout = Duration::from_secs(state.config.request_timeout_secs.max(1));
    let max_concurrent = state.config.max_concurrent_requests;
    let shell_options = options.clone();
    let fallback_options = options.clone();
    // Both caches (data and responses) follow the shops' change notifications.
    if state.config.storefront_cache_bytes > 0 && state.config.storefront_cache_entries > 0 {
        tokio::spawn(app::storefront::bytes::listen(
            state.pool.clone(),
            state.storefront_responses.clone(),
        ));
    }

    // Storefront pages rendered in front of the layers (from data in memory) carry the headers
    // those layers would give them; their CSP names scripts by hash, so no nonce here.
    let front =
        app::storefront::bytes::Front::new(&state, security::page_headers(&security, "/s/", ""));
    let routes = Router::new()
        .route("/healthz", get(crate::health::healthz))
        .route("/readyz", get(crate::health::readyz))
        .merge(app::media::routes::router(&state))
        .merge(app::storefront::routes::router())
        .merge(app::storefront::cart::router())
        .merge(app::whatsapp::routes::router(&state))
        .route("/dashboard/catalog/export.csv", get(app::catalog::csv::export_route))
        .route(
            "/dashboard/import/upload",
            axum::routing::post(app::catalog::import::upload_route).layer(
                axum::extract::DefaultBodyLimit::max(app::catalog::import::MAX_FILE_BYTES + 64 * 1024),
            ),
        )
        .route("/dashboard/orders/export.csv", get(app::orders::ssr::export_route))
        .route("/api/{*fn_name}", get(server_fn_handler).post(server_fn_handler))
        .leptos_routes_with_context(&state, routes, leptos_context(state.clone()), move || {
            app::shell(shell_options.clone())
        })
        .nest_service("/pkg", crate::assets::pkg_service::<()>(&options))
        .merge(crate::assets::public_scripts_service::<AppState>(&options))
        .fallback(leptos_axum::file_and_error_handler_with_context::<AppState, _>(leptos_context(state.clone()), move |_| {
            app::shell(fallback_options.clone())
        }))
        // Layers run outside-in from the bottom: request id, tracing, panic catcher,
        // concurrency limit, timeouts, compression, headers, mailbox guard, origin check,
        // form-error guard, session, dashboard guard, quiet refusals, then the route.
        .layer(middleware::from_fn(app::catalog::csv::import_body_limit))
        .layer(middleware::from_fn(security::quiet_validation))
        .layer(middleware::from_fn(security::dashboard_guard))
        .layer(middleware::from_fn_with_state(state.clone(), app::auth::ssr::session_middleware))
        .layer(middleware::from_fn_with_state(state.clone(), crate::page_views::record))
        .layer(middleware::from_fn_with_state(security.clone(), security::form_error_guard))
        .layer(middleware::from_fn_with_state(security.clone(), security::same_origin_only))
        .layer(middleware::from_fn_with_state(security.clone(), security::dev_mailbox_guard))
        .layer(middleware::from_fn_with_state(security, security::security_headers))
        // A body that trickles in (a slow upload) is cut off, and so is a whole request that
        // takes too long; both answer 408 instead of holding a connection and a task forever.
        .layer(RequestBodyTimeoutLayer::new(request_timeout))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, request_timeout))
        // Past this many requests in flight, new ones are turned away at once with a 503 rather
        // than queue without bound in front of the database pool and the cores.
        .layer(
            tower::ServiceBuilder::new()
                .layer(HandleErrorLayer::new(overloaded))
                .layer(LoadShedLayer::new())
                .layer(GlobalConcurrencyLimitLayer::new(max_concurrent)),
        )
        // A panic in a handler becomes a logged 500 for that request, not a dropped connection.
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<Body>| {
            let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state);
    // In front of routing and of every layer above: a cached storefront page is answered
    // before any of them runs (see `storefront::bytes`), with the headers they gave the render
    // it keeps. A layer on the router itself would clone the whole stack of layers inside it
    // on every request (axum's `from_fn` does); in front, it clones the router (one `Arc`).
    // Compression is outside it: the cache's answers come with their coding and pass
    // untouched; whatever it does not keep (404s, the dashboard, the API) is compressed here
    // by the client's own Accept-Encoding (the cache hides that header from the render).
    let front = tower::ServiceBuilder::new()
        .layer(CompressionLayer::new())
        .layer(middleware::from_fn_with_state(
            front,
            app::storefront::bytes::middleware,
        ))
        .service(routes);
    Router::new().fallback_service(front)
}

/// Connects, migrates, seeds (when SEED_DEMO=true), binds `HOST:PORT` and serves (see
/// [`serve_until`]) until `shutdown` completes — [`shutdown_signal`] in production.
pub async fn run(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let pool = crate::db::connect(&config).await?;
    crate::db::migrate(&pool).await?;
    let seed = config.seed_demo;
    if seed {
        crate::seed::seed_demo(&pool).await?;
    }
    let options = leptos_options(&config);
    let addr = config.socket_addr();
    let public_url = config.public_url.clone();
    let state = AppState::new(options, pool, config);
    let restored = match state.whatsapp.simulator.clone() {
        Some(sim) => app::whatsapp::simulator::restore(&state, &sim).await?,
        None => 0,
    };
    if restored > 0 {
        tracing::info!(
            restored,
            "the WhatsApp simulator took back the numbers it had connected"
        );
    }
    if seed {
        crate::seed::seed_demo_catalog(&state).await?;
    }
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!("Bizmaat is serving on {public_url} (listening on {addr})");
    if seed {
        // Needs the server up: the simulator and the webhook are endpoints of this server.
        let state = state.clone();
        tokio::spawn(async move {
            if let Err(e) = crate::seed::seed_demo_whatsapp(&state).await {
                tracing::warn!(error = %e, "seeding the demo WhatsApp conversations failed");
            }
        });
    }
    serve_until(state, listener, shutdown).await
}

/// Starts the worker and serves the app on `listener` until `shutdown` completes; then stops
/// accepting connections, lets in-flight requests finish, writes buffered page views and stops
/// the worker (no new jobs are claimed, running ones get a bounded time), and only then
/// returns. Tests call it with a listener on port 0 and a signal of their own.
pub async fn serve_until(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Shops whose vectors are missing or stale (a new embedder or model, catalog changes made
    // while the server was down) are queued before the worker starts taking jobs.
    match app::agent::embed::queue_stale(&state).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(shops = n, "queued semantic search vectors to build"),
        Err(e) => tracing::warn!(error = %e, "could not queue semantic search vectors"),
    }
    if let Some(dir) = state.media.local_dir() {
        // Images stored by an older version get their WebP and new square sizes (background).
        tokio::spawn(app::media::ssr::complete_all_variants(dir.clone()));
    }
    let worker = crate::worker::spawn(state.clone()).await?;
    let page_views = state.page_views.clone();
    let app = build_app(state);
    // Without TCP_NODELAY a page larger than one segment ends in a small write that waits for
    // the client's delayed ACK: about 40 ms added to some answers (seen as the p99 of the cached
    // home page at half rate in `make bench`). nginx sets it too.
    let listener = listener.tap_io(tune_connection);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    // Buffered page views are written before the process ends.
    page_views.flush().await;
    // No new jobs are claimed; running ones get a bounded time to finish.
    worker.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// Applied to every accepted connection (see [`serve_until`]).
fn tune_connection(tcp: &mut tokio::net::TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY");
    }
}

/// Completes on Ctrl-C or SIGTERM: the shutdown signal `main` passes to [`run`].
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    #[tokio::test]
    async fn accepted_connections_send_small_writes_at_once() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::net::TcpStream::connect(addr);
        let (accepted, _client) = tokio::join!(listener.accept(), client);
        let (mut tcp, _) = accepted.unwrap();
        assert!(
            !tcp.nodelay().unwrap(),
            "off by default, so the test can fail"
        );
        tune_connection(&mut tcp);
        assert!(tcp.nodelay().unwrap());
    }

    #[tokio::test]
    async fn a_panicking_handler_becomes_a_500_with_a_readable_body() {
        let app: Router = Router::new()
            .route(
                "/boom",
                get(|| async {
                    if true {
                        panic!("handler bug");
                    }
                    "unreachable"
                }),
            )
            .layer(CatchPanicLayer::custom(panic_response));
        let res = app
            .oneshot(Request::builder().uri("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(res.into_body(), 10_000).await.unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("Please try again"), "{text}");
        assert!(
            !text.contains("handler bug"),
            "panic details stay in the log"
        );
    }
}
