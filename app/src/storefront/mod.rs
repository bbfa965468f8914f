//! The public storefront: server-rendered, readable without JavaScript, at most two SQL queries
//! per page (one for the shop, one for the page; none when the page's data is in memory).

pub mod api;
#[cfg(feature = "ssr")]
pub mod bytes;
#[cfg(feature = "ssr")]
pub mod cart;
#[cfg(feature = "ssr")]
pub mod render;
#[cfg(feature = "ssr")]
pub mod routes;
#[cfg(feature = "ssr")]
pub mod ssr;
pub mod ui;

use crate::media::ImageView;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Products per listing page.
pub const PAGE_SIZE: i64 = 24;
/// Highest listing page served (240,000 products); a page past the end is simply empty.
pub const MAX_PAGE: i64 = 10_000;
/// Characters of a search the storefront looks for; the rest is ignored.
pub const MAX_QUERY_CHARS: usize = 100;

/// The search text as the search runs it: trimmed, inner whitespace collapsed, cut to
/// [`MAX_QUERY_CHARS`]. The page cache keys on this too, so variants of one search share an
/// entry and a long query cannot make a large key.
pub fn normalize_search(q: &str) -> String {
    let mut out = String::new();
    for word in q.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
        if out.len() >= MAX_QUERY_CHARS * 4 {
            break;
        }
    }
    out.chars()
        .take(MAX_QUERY_CHARS)
        .collect::<String>()
        .trim_end()
        .to_string()
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StoreView {
    Home,
    Category(String),
    Product(String),
    Search(String),
}

/// Which storefront page is asked for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StoreRoute {
    pub shop: String,
    pub view: StoreView,
    pub page: i64,
}

impl StoreRoute {
    /// The route as the server serves it: search text normalised, page within 1..=[`MAX_PAGE`]
    /// (and always 1 for a product page, which has no pages).
    pub fn normalized(&self) -> StoreRoute {
        let (view, page) = match &self.view {
            StoreView::Search(q) => (StoreView::Search(normalize_search(q)), self.page),
            StoreView::Product(p) => (StoreView::Product(p.clone()), 1),
            other => (other.clone(), self.page),
        };
        StoreRoute {
            shop: self.shop.clone(),
            view,
            page: page.clamp(1, MAX_PAGE),
        }
    }

    /// The path of this page on a shop with the given slug.
    pub fn path_for(&self, shop_slug: &str) -> String {
        let base = format!("/s/{shop_slug}");
        let mut path = match &self.view {
            StoreView::Home => base,
            StoreView::Category(c) => format!("{base}/c/{c}"),
            StoreView::Product(p) => format!("{base}/p/{p}"),
            StoreView::Search(q) => format!("{base}/search?q={}", crate::links::encode_query(q)),
        };
        if self.page > 1 {
            path.push(if path.contains('?') { '&' } else { '?' });
            path.push_str(&format!("page={}", self.page));
        }
        path
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublicCategory {
    pub name: String,
    pub slug: String,
    pub product_count: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublicShop {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub description: String,
    pub currency: String,
    pub whatsapp_number: Option<String>,
    pub logo: Option<ImageView>,
    /// Absolute URL of the shop's home page (canonical links, Open Graph).
    pub url: String,
    pub categories: Vec<PublicCategory>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductCard {
    pub title: String,
    pub slug: String,
    /// "₦12,500.00", or "From ₦9,000.00" when its variants' prices differ.
    pub price: String,
    pub compare_at: Option<String>,
    pub sold_out: bool,
    pub image: Option<ImageView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublicProduct {
    pub id: Uuid,
    pub title: String,
    pub slug: String,
    pub description: String,
    pub price: String,
    /// Plain decimal for structured data ("12500.00").
    pub price_plain: String,
    pub compare_at: Option<String>,
    pub sku: Option<String>,
    pub available: bool,
    /// Units left when stock is tracked; the quantity input stops there.
    pub max_quantity: Option<i32>,
    pub images: Vec<ImageView>,
    pub category: Option<PublicCategory>,
    /// Empty for a product sold in one form.
    pub options: Vec<crate::catalog::ProductOption>,
    /// Every variant, in the merchant's order (one, without option values, when there are no
    /// options). The page picks one from `?variant=` or `?o1=…&o2=…`.
    pub variants: Vec<PublicVariant>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublicVariant {
    pub id: Uuid,
    pub options: Vec<String>,
    pub sku: Option<String>,
    pub price: String,
    pub price_plain: String,
    pub compare_at: Option<String>,
    /// The merchant sells this combination (a disabled one is shown as unavailable).
    pub enabled: bool,
    /// Enabled and in stock (or not tracked).
    pub available: bool,
    pub max_quantity: Option<i32>,
    pub image: Option<ImageView>,
}

impl PublicProduct {
    /// The variant the page shows: the one named by `variant`, else the one matching the
    /// option values given (o1, o2, o3), else the first available, else the first.
    pub fn selected(
        &self,
        variant: Option<&str>,
        values: &[Option<String>],
    ) -> Option<&PublicVariant> {
        let by_id = variant
            .and_then(|v| v.parse::<Uuid>().ok())
            .and_then(|id| self.variants.iter().find(|v| v.id == id));
        let by_values = || {
            (!self.options.is_empty()
                && values.iter().take(self.options.len()).all(Option::is_some))
            .then(|| {
                self.variants.iter().find(|v| {
                    v.options
                        .iter()
                        .zip(values)
                        .all(|(o, want)| want.as_deref() == Some(o.as_str()))
                })
            })
            .flatten()
        };
        by_id
            .or_else(by_values)
            .or_else(|| self.variants.iter().find(|v| v.available))
            .or_else(|| self.variants.first())
    }

    /// The variant with these option values (one per option), if the merchant has it.
    pub fn variant_with(&self, values: &[String]) -> Option<&PublicVariant> {
        self.variants.iter().find(|v| v.options == values)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StorePage {
    Listing {
        shop: PublicShop,
        category: Option<PublicCategory>,
        query: Option<String>,
        products: Vec<ProductCard>,
        page: i64,
        pages: i64,
        total: i64,
    },
    Product {
        shop: PublicShop,
        product: PublicProduct,
    },
    /// The shop moved to a new address: where to go instead.
    Moved(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CartLine {
    /// The variant in the cart (for a product without options, its one variant).
    pub product_id: Uuid,
    pub title: String,
    /// "L / Indigo"; empty without options.
    pub variant_title: String,
    pub slug: String,
    pub quantity: i32,
    pub max_quantity: i32,
    pub unit_price: String,
    pub line_total: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CartView {
    pub lines: Vec<CartLine>,
    pub total: String,
    /// Fresh per render of the checkout form: a double submit of that form makes one order.
    pub idempotency_key: String,
}

/// Whether a path is a storefront page (served without the dashboard's WASM).
pub fn is_storefront_path(path: &str) -> bool {
    path.starts_with("/s/")
}

/// The cookie holding how many items a shop's cart has, for the header's count. Readable by
/// scripts on purpose (it says nothing but a number): storefront pages are cached and shared,
/// so the count cannot be in them, and `/storefront.js` shows it from here.
pub fn count_cookie_name(shop: &str) -> String {
    format!("bz_cart_n_{}", shop.replace('-', "_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_links() {
        let r = StoreRoute {
            shop: "x".into(),
            view: StoreView::Search("blue scarf".into()),
            page: 2,
        };
        assert_eq!(r.path_for("ada"), "/s/ada/search?q=blue+scarf&page=2");
        let r = StoreRoute {
            shop: "x".into(),
            view: StoreView::Category("wraps".into()),
            page: 1,
        };
        assert_eq!(r.path_for("ada"), "/s/ada/c/wraps");
    }

    #[test]
    fn routes_are_normalised_for_search_and_cache() {
        let route = |view, page| StoreRoute {
            shop: "ada".into(),
            view,
            page,
        };
        assert_eq!(route(StoreView::Home, i64::MAX).normalized().page, MAX_PAGE);
        assert_eq!(route(StoreView::Home, -1).normalized().page, 1);
        assert_eq!(
            route(StoreView::Product("x".into()), 7).normalized().page,
            1
        );
        let long = format!("  blue   {}", "a".repeat(300));
        let StoreView::Search(q) = route(StoreView::Search(long), 2).normalized().view else {
            panic!("still a search");
        };
        assert_eq!(q.chars().count(), MAX_QUERY_CHARS);
        assert!(q.starts_with("blue a"));
        assert_eq!(normalize_search(" indigo \t scarf "), "indigo scarf");
        assert_eq!(
            normalize_search(&"é".repeat(500)).chars().count(),
            MAX_QUERY_CHARS
        );
    }
}
