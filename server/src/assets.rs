//! Static files under the site root. With file hashing on (cargo-leptos `hash-files`), names
//! change whenever content does, so `/pkg` files are cached for a year; otherwise browsers
//! revalidate them on each load. Only files that exist get the long lifetime: a missing one (a
//! page of the next release asking a replica still on the old one) must not be remembered as
//! missing for a year, so errors are sent with `no-cache`.

use axum::Router;
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderValue, StatusCode};
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
    let revalidate = HeaderValue::from_static("no-cache");
    Router::new()
        .fallback_service(ServeDir::new(dir).precompressed_br().precompressed_gzip())
        .layer(SetResponseHeaderLayer::overriding(
            CACHE_CONTROL,
            move |res: &axum::response::Response| {
                let found = res.status().is_success() || res.status() == StatusCode::NOT_MODIFIED;
                Some(if found {
                    cache.clone()
                } else {
                    revalidate.clone()
                })
            },
        ))
}
