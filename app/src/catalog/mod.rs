//! The catalog: products, categories, their images, CSV import and export.

pub mod api;
#[cfg(feature = "ssr")]
pub mod csv;
pub mod encoding;
#[cfg(feature = "ssr")]
pub mod foreign;
#[cfg(feature = "ssr")]
pub mod import;
#[cfg(feature = "ssr")]
pub mod ssr;
#[cfg(feature = "ssr")]
pub mod staged;
pub mod ui;

use crate::media::ImageView;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const STATUSES: &[(&str, &str)] = &[
    ("draft", "Draft"),
    ("active", "Active"),
    ("archived", "Archived"),
];

/// Where a product stands; stored as the lowercase name (`products.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProductStatus {
    Draft,
    Active,
    Archived,
}

impl ProductStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProductStatus::Draft => "draft",
            ProductStatus::Active => "active",
            ProductStatus::Archived => "archived",
        }
    }

    /// The status named by `text` (as stored, or as a merchant types it in a CSV).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "draft" => Some(ProductStatus::Draft),
            "active" => Some(ProductStatus::Active),
            "archived" => Some(ProductStatus::Archived),
            _ => None,
        }
    }
}

pub const SORTS: &[(&str, &str)] = &[
    ("newest", "Newest first"),
    ("oldest", "Oldest first"),
    ("title", "Title A–Z"),
    ("price_asc", "Price, low to high"),
    ("price_desc", "Price, high to low"),
    ("updated", "Recently edited"),
];

pub const PER_PAGE: i64 = 25;
/// Highest page number a list serves (250,000 products at 25 a page).
pub const MAX_PAGE: i64 = 10_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct Category {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub position: i32,
    pub product_count: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductRow {
    pub id: Uuid,
    pub title: String,
    pub slug: String,
    pub status: String,
    pub price: String,
    pub compare_at: Option<String>,
    pub sku: Option<String>,
    pub stock_label: String,
    pub thumb: Option<ImageView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductList {
    pub items: Vec<ProductRow>,
    pub total: i64,
    pub page: i64,
    pub pages: i64,
}

/// Filters of the product list, as they appear in the page's query string.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProductQuery {
    pub q: Option<String>,
    pub status: Option<String>,
    pub category: Option<Uuid>,
    pub sort: Option<String>,
    pub page: Option<i64>,
}

/// A product as the edit form shows it. Amounts are plain decimals in the shop currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductDetail {
    pub id: Uuid,
    pub title: String,
    pub slug: String,
    pub description: String,
    pub price: String,
    pub compare_at_price: String,
    pub sku: String,
    pub track_stock: bool,
    pub stock: i32,
    pub status: String,
    pub category_ids: Vec<Uuid>,
    pub images: Vec<ImageView>,
    pub currency: String,
    /// Images upload straight to Cloudinary (true) or to this server.
    pub cloudinary: bool,
    /// Up to [`MAX_OPTIONS`]; empty for a product sold in one form.
    pub options: Vec<ProductOption>,
    /// One per combination of option values (one, with no values, when there are no options).
    pub variants: Vec<VariantView>,
}

/// Options a product may have (Size, Colour, Material).
pub const MAX_OPTIONS: usize = 3;
/// Variants (combinations) a product may have.
pub const MAX_VARIANTS: usize = 100;

/// One option of a product and its values, in the order shoppers see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductOption {
    pub name: String,
    pub values: Vec<String>,
}

/// A variant as the dashboard's variant table shows it. Amounts are plain decimals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantView {
    pub id: Uuid,
    /// One value per option, in option order.
    pub options: Vec<String>,
    pub sku: String,
    pub price: String,
    pub compare_at_price: String,
    pub track_stock: bool,
    pub stock: i32,
    pub enabled: bool,
    pub image_id: Option<Uuid>,
    pub position: i32,
}

/// How a variant is named to people: its option values joined ("Large / Indigo"); empty for
/// the single variant of a product without options.
pub fn variant_title(options: &[String]) -> String {
    options.join(" / ")
}

/// Any text in ASCII for an address: "Café Lagos" → "Cafe Lagos", "Ñandú" → "Nandu",
/// "Москва" → "Moskva" (the `deunicode` crate's transliteration tables). Addresses are made on
/// the server; in the browser the text stays as it is (and non-ASCII letters are dropped).
pub fn ascii_for_address(text: &str) -> std::borrow::Cow<'_, str> {
    #[cfg(feature = "ssr")]
    {
        if text.is_ascii() {
            text.into()
        } else {
            deunicode::deunicode_with_tofu(text, "-").into()
        }
    }
    #[cfg(not(feature = "ssr"))]
    {
        text.into()
    }
}

/// Lowercase ASCII words joined by hyphens, at most 80 characters; letters from other scripts
/// are transliterated first.
pub fn slugify(text: &str, fallback: &str) -> String {
    let mut slug = String::new();
    for ch in ascii_for_address(text.trim())
        .chars()
        .flat_map(char::to_lowercase)
    {
        if ch.is_ascii_alphanumeric() {
            slug.push(ch);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug: String = slug.chars().take(80).collect();
    let slug = slug.trim_matches('-').to_string();
    if slug.is_empty() {
        fallback.to_string()
    } else {
        slug
    }
}

pub fn is_valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= 80
        && slug.split('-').all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_transliterate_names_in_every_language() {
        assert_eq!(slugify("Café Lagos", "x"), "cafe-lagos");
        assert_eq!(slugify("Ñandú", "x"), "nandu");
        assert_eq!(slugify("São Paulo Sandálias", "x"), "sao-paulo-sandalias");
        assert_eq!(slugify("Москва", "x"), "moskva");
        // Emoji have names in its tables; what it cannot spell is dropped.
        assert_eq!(slugify("Crème brûlée 🍮", "x"), "creme-brulee-custard");
        assert_eq!(slugify("\u{E000}\u{E001}", "x"), "x");
    }

    #[test]
    fn slugs_from_titles() {
        assert_eq!(
            slugify("  Adire Indigo Scarf (Large) ", "x"),
            "adire-indigo-scarf-large"
        );
        assert_eq!(slugify("Ñandú!!", "product"), "nandu");
        assert_eq!(slugify("***", "product"), "product");
        assert_eq!(variant_title(&["L".into(), "Indigo".into()]), "L / Indigo");
        assert_eq!(variant_title(&[]), "");
        assert!(is_valid_slug("adire-scarf-2"));
        assert!(!is_valid_slug("Adire"));
        assert!(!is_valid_slug("a--b"));
    }

    #[test]
    fn statuses_round_trip_and_match_the_form_options() {
        for (key, _) in STATUSES {
            let status = ProductStatus::parse(key).expect("every option parses");
            assert_eq!(status.as_str(), *key);
        }
        assert_eq!(
            ProductStatus::parse(" Active "),
            Some(ProductStatus::Active)
        );
        assert_eq!(ProductStatus::parse("deleted"), None);
    }
}

/// Columns of the catalog CSV, in order. Documented in README ("Catalog CSV").
pub const CSV_COLUMNS: &[&str] = &[
    "sku",
    "title",
    "slug",
    "description",
    "price",
    "compare_at_price",
    "status",
    "track_stock",
    "stock",
    "categories",
    "option1_name",
    "option1_value",
    "option2_name",
    "option2_value",
    "option3_name",
    "option3_value",
    "enabled",
];

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImportReport {
    pub created: usize,
    pub updated: usize,
}

/// One product as a checked import would write it, for a preview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedProduct {
    pub title: String,
    pub slug: String,
    /// "create" or "update".
    pub action: String,
    pub variants: usize,
    /// The lowest variant price, formatted.
    pub price: String,
}

/// An uploaded Shopify or WooCommerce file: its preview before it is confirmed, its result and
/// image downloads after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportPreview {
    pub id: Uuid,
    /// "Shopify" or "WooCommerce".
    pub source: String,
    pub filename: String,
    pub confirmed: bool,
    /// The first products the import would write (a long file lists the first 100), in the
    /// file's order; the counts below are for the whole file.
    pub products: Vec<PlannedProduct>,
    pub creates: usize,
    pub updates: usize,
    pub variants: usize,
    pub new_categories: Vec<String>,
    /// The first problems by line (at most 500); `errors_total` counts them all.
    pub errors: Vec<RowError>,
    pub errors_total: usize,
    pub images_planned: usize,
    pub report: Option<ImportReport>,
    /// After confirming: the images being fetched (failed ones first, at most 500), and counts.
    pub images: Vec<ImportImage>,
    pub images_total: usize,
    pub images_done: usize,
    pub images_failed: usize,
}

/// One image a confirmed import fetches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportImage {
    pub id: Uuid,
    pub product: String,
    pub url: String,
    /// "queued", "done" or "failed".
    pub status: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowError {
    pub line: u64,
    pub message: String,
}
