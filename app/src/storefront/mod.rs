//! The public storefront: server-rendered, readable without JavaScript, at most two SQL queries
//! per page (one for the shop, one for the page; a cached page needs only the first).

pub mod api;
#[cfg(feature = "ssr")]
pub mod cart;
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
    /// The path of this page on a shop with the given slug.
    pub fn path_for(&self, shop_slug: &str) -> String {
        let base = format!("/s/{shop_slug}");
        let mut path = match &self.view {
            StoreView::Home => base,
            StoreView::Category(c) => format!("{base}/c/{c}"),
            StoreView::Product(p) => format!("{base}/p/{p}"),
            StoreView::Search(q) => format!("{base}/search?q={}", encode_query(q)),
        };
        if self.page > 1 {
            path.push(if path.contains('?') { '&' } else { '?' });
            path.push_str(&format!("page={}", self.page));
        }
        path
    }
}

pub fn encode_query(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
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
    pub product_id: Uuid,
    pub title: String,
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

/// wa.me link that opens a chat with the shop, with a prefilled message.
pub fn whatsapp_link(number: &str, text: &str) -> String {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    format!(
        "https://wa.me/{digits}?text={}",
        encode_query(text).replace('+', "%20")
    )
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
        assert_eq!(
            whatsapp_link("+234 801", "Hi! Is \"Adire\" in stock?"),
            "https://wa.me/234801?text=Hi%21%20Is%20%22Adire%22%20in%20stock%3F"
        );
    }
}
