//! Static files under the site root. With file hashing on (cargo-leptos `hash-files`), names
//! change whenever content does, so `/pkg` files are cached for a year; otherwise browsers
//! revalidate them on each load.

use axum::Router;
use axum::http::HeaderValue;
use axum::http::header::CACHE_CONTROL;
use leptos::config::LeptosOptions;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

pub fn pkg_service<S: Clone + Send + Sync + 'static>(options: &LeptosOptions) -> Router<S> {
    let dir = format!("{}/{}", options.site_root, options.site_pkg_dir);
    let cache = if options.hash_files {
        HeaderValue::from_static("public, max-age=31536000, immutable")
    } else {
        HeaderValue::from_static("no-cache")
    };
    Router::new()
        .fallback_service(ServeDir::new(dir).precompressed_br().precompressed_gzip())
        .layer(SetResponseHeaderLayer::overriding(CACHE_CONTROL, cache))
}
