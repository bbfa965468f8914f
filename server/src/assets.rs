//! Static files under the site root. With file hashing on (cargo-leptos `hash-files`), names
//! change whenever content does, so `/pkg` files are cached for a year; otherwise browsers
//! revalidate them on each load. Only files that exist get the long lifetime: a missing one (a
//! page of the next release asking a replica still on the old one) must not be remembered as
//! missing for a year, so errors are sent with `no-cache`.
//!
//! The scripts at the site root (`public/`: `/storefront.js`, `/whatsapp-signup.js`) keep their
//! names, so they are cached briefly; like `/pkg` they are sent from the brotli or gzip copies the
//! site build made, by `Accept-Encoding` (a build without copies is compressed on the fly).

use axum::Router;
use axum::http::header::{CACHE_CONTROL, VARY};
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
        .layer(vary_by_encoding())
}

/// `ServeDir` picks a precompressed copy by `Accept-Encoding` but does not say so; without
/// `Vary` a shared cache could hand a brotli copy to a client that cannot read it.
fn vary_by_encoding() -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(VARY, HeaderValue::from_static("Accept-Encoding"))
}

/// Files of `public/` that pages load, served with their precompressed copies.
pub const PUBLIC_SCRIPTS: &[&str] = &["/storefront.js", "/whatsapp-signup.js"];

pub fn public_scripts_service<S: Clone + Send + Sync + 'static>(
    options: &LeptosOptions,
) -> Router<S> {
    let files = ServeDir::new(options.site_root.to_string())
        .precompressed_br()
        .precompressed_gzip();
    let mut router = Router::new();
    for path in PUBLIC_SCRIPTS {
        router = router.route_service(path, files.clone());
    }
    router
        .layer(SetResponseHeaderLayer::overriding(
            CACHE_CONTROL,
            // A new release's script reaches a returning shopper within ten minutes; the pages it
            // works with are revalidated on every load anyway.
            HeaderValue::from_static("public, max-age=600"),
        ))
        .layer(vary_by_encoding())
}
