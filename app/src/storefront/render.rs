//! Storefront pages rendered straight from their data, outside the app's router (issue 12).
//!
//! When a page's data is already in memory (`ssr::PageCache`), the page needs no query, and
//! going through the full stack (request id, tracing, session, the Leptos router with its
//! ~40 routes, lazy route loading, `Suspense`, streaming, meta injection) would cost several
//! times the render itself: measured on two cores, about 0.8 ms of server CPU per page. The
//! response layer (`bytes::middleware`) calls [`document`] instead: the same components the
//! router renders ([`Listing`], [`ProductView`]), the same `<head>` as `crate::shell` gives a
//! storefront page, one `to_html`. Storefront pages are not hydrated (they load
//! `/storefront.js`), so nothing in the browser depends on the router's hydration markers,
//! which this render leaves out. Anything else (an old address, a missing page, an error)
//! still goes through the router, which knows how to answer it.
//!
//! The API test `storefront_render::a_page_rendered_from_memory_is_the_page_the_router_renders`
//! holds the two renders to the same HTML.

use super::StorePage;
use super::ui::{Listing, ProductView, VariantChoice};
use leptos::prelude::*;
use leptos::tachys::view::RenderHtml;
use uuid::Uuid;

/// The whole HTML document of a listing or product page, and its shop; `None` for anything
/// else (a moved shop answers a redirect, which the router's render gives).
pub async fn document(
    page: StorePage,
    choice: VariantChoice,
    css: String,
) -> Option<(Uuid, String)> {
    let (meta, meta_output) = leptos_meta::ServerMetaContext::new();
    let owner = Owner::new();
    let (shop, html) = owner.with(|| {
        provide_context(meta);
        leptos_meta::provide_meta_context();
        let (shop, body) = match page {
            StorePage::Listing {
                shop,
                category,
                query,
                products,
                page,
                pages,
                total,
            } => (
                shop.id,
                view! { <Listing shop category query products page pages total/> }.into_any(),
            ),
            StorePage::Product { shop, product } => (
                shop.id,
                view! { <ProductView shop product choice/> }.into_any(),
            ),
            StorePage::Moved(_) => return None,
        };
        let html = view! {
            <!DOCTYPE html>
            <html lang="en">
                <head>
                    {crate::head_start(css)}
                    <script src=crate::STOREFRONT_JS defer></script>
                    <leptos_meta::MetaTags/>
                </head>
                <body>
                    // As `crate::App` starts every page.
                    <a href="#main" class="skip">"Skip to content"</a>
                    {body}
                </body>
            </html>
        }
        .to_html();
        Some((shop, html))
    })?;
    // The title and meta tags the components registered go where `MetaTags` marked the head
    // (after a tick of Leptos' executor, which `leptos_axum` sets up with the route list).
    let chunks = meta_output
        .inject_meta_context(futures::stream::iter([html]))
        .await;
    let html = futures::StreamExt::collect::<Vec<String>>(chunks)
        .await
        .concat();
    drop(owner);
    Some((shop, html))
}

/// The page a request for `path?query` asks for, read as the router reads it (its query
/// values are decoded twice, and the last of a repeated name wins), with the product page's
/// variant choice; `None` for anything but a shop's home, category, product or search page,
/// and for percent-encoded path segments (left to the router, which knows how it decodes them).
pub fn requested(path: &str, query: Option<&str>) -> Option<(super::StoreRoute, VariantChoice)> {
    use super::{StoreRoute, StoreView};
    let rest = path.strip_prefix("/s/")?;
    if rest.contains('%') {
        return None;
    }
    let params: Vec<(String, String)> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .map(|(k, v)| {
                let v = percent_encoding::percent_decode_str(&v)
                    .decode_utf8_lossy()
                    .into_owned();
                (k.into_owned(), v)
            })
            .collect();
    let get = |name: &str| {
        params
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let (shop, view) = match segments.as_slice() {
        [shop] => (shop, StoreView::Home),
        [shop, "search"] => (shop, StoreView::Search(get("q").unwrap_or_default())),
        [shop, "c", name] if !name.is_empty() => (shop, StoreView::Category(name.to_string())),
        [shop, "p", name] if !name.is_empty() => (shop, StoreView::Product(name.to_string())),
        _ => return None,
    };
    if shop.is_empty() {
        return None;
    }
    let page = get("page")
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(1)
        .clamp(1, super::MAX_PAGE);
    let route = StoreRoute {
        shop: shop.to_string(),
        view,
        page,
    };
    Some((route, VariantChoice::from_params(get)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storefront::{StoreRoute, StoreView};

    fn route(shop: &str, view: StoreView, page: i64) -> StoreRoute {
        StoreRoute {
            shop: shop.into(),
            view,
            page,
        }
    }

    #[test]
    fn requests_are_read_as_the_router_reads_them() {
        let (r, c) = requested("/s/ada", None).unwrap();
        assert_eq!(r, route("ada", StoreView::Home, 1));
        assert_eq!(
            c,
            VariantChoice {
                values: vec![None, None, None],
                ..Default::default()
            }
        );
        let (r, _) = requested("/s/ada/c/scarves", Some("page=3&utm_source=wa")).unwrap();
        assert_eq!(r, route("ada", StoreView::Category("scarves".into()), 3));
        // `+` is a space and the value is decoded twice; the last `q` wins.
        let (r, _) = requested("/s/ada/search", Some("q=old&q=red+wax%2520print&page=0")).unwrap();
        assert_eq!(
            r,
            route("ada", StoreView::Search("red wax print".into()), 1)
        );
        let (r, c) = requested("/s/ada/p/scarf", Some("o1=Red&variant=v&error=Sold+out")).unwrap();
        assert_eq!(r, route("ada", StoreView::Product("scarf".into()), 1));
        assert_eq!(c.values, vec![Some("Red".into()), None, None]);
        assert_eq!(
            (c.variant.as_deref(), c.error.as_deref()),
            (Some("v"), Some("Sold out"))
        );
        for (path, query) in [
            ("/s/", None),
            ("/s/ada/cart", None),
            ("/s/ada/order/1", None),
            ("/s/ada/p/", None),
            ("/s/ada/c/a/b", None),
            ("/s/%61da", None),
            ("/dashboard", None),
        ] {
            assert!(requested(path, query).is_none(), "{path}");
        }
    }
}
