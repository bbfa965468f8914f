//! Reading Shopify's and WooCommerce's product CSV exports. Each is turned into rows of our own
//! catalog CSV (one per variant, grouped by slug; see `csv.rs`), so an import from another
//! platform is checked, previewed and written by exactly the code that imports our own files,
//! and its problems are reported with the line numbers of the merchant's file.
//!
//! Shopify renamed its columns in 2024 ("Handle" became "URL handle", "Variant SKU" became
//! "SKU", …); both sets are read. WooCommerce's exporter writes list cells joined by ", " with
//! "\," for a comma inside a value, `\n` for line breaks in descriptions, a byte-order mark, and
//! a leading `'` on values a spreadsheet would run as formulas.

use super::CSV_COLUMNS;
use super::RowError;
use std::collections::HashMap;

/// Which platform exported the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Shopify,
    WooCommerce,
}

impl Source {
    pub fn parse(text: &str) -> Option<Source> {
        match text {
            "shopify" => Some(Source::Shopify),
            "woocommerce" => Some(Source::WooCommerce),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Shopify => "shopify",
            Source::WooCommerce => "woocommerce",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Source::Shopify => "Shopify",
            Source::WooCommerce => "WooCommerce",
        }
    }
}

/// An image a product should get, by URL, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageRef {
    pub slug: String,
    pub url: String,
    pub alt: String,
    /// The option values of each variant that shows this image (Shopify's `Variant Image`,
    /// a WooCommerce variation's image); empty: a product image only.
    pub variants: Vec<Vec<String>>,
    /// Shopify's `Image Position`: the gallery's order (images without one follow, in the
    /// file's order).
    pub position: Option<u32>,
}

/// Adds an image to a product's list once per address (a later mention may add its alt text
/// or the variant that shows it), keeping the file's order.
fn add_image(
    images: &mut Vec<ImageRef>,
    slug: &str,
    url: String,
    alt: String,
    variant: Option<Vec<String>>,
) {
    if url.is_empty() {
        return;
    }
    let at = match images.iter().position(|i| i.slug == slug && i.url == url) {
        Some(at) => at,
        None => {
            images.push(ImageRef {
                slug: slug.to_string(),
                url,
                alt: String::new(),
                variants: Vec::new(),
                position: None,
            });
            images.len() - 1
        }
    };
    let image = &mut images[at];
    if image.alt.is_empty() {
        image.alt = alt;
    }
    if let Some(v) = variant.filter(|v| !v.is_empty())
        && !image.variants.contains(&v)
    {
        image.variants.push(v);
    }
}

/// A foreign file as our CSV: the text, the merchant's line for each of our lines (by our
/// physical line number), the images to fetch, and rows that could not be converted at all.
#[derive(Debug, Default)]
pub struct Converted {
    pub csv: String,
    lines: HashMap<u64, u64>,
    /// Our rows written (the header not counted).
    pub rows: usize,
    /// The product slugs and variant SKUs the rows name, to look up what the shop has.
    pub slugs: Vec<String>,
    pub skus: Vec<String>,
    pub images: Vec<ImageRef>,
    pub errors: Vec<RowError>,
}

impl Converted {
    /// Problems found on our rows, renumbered to the merchant's file.
    pub fn renumber(&self, errors: Vec<RowError>) -> Vec<RowError> {
        errors
            .into_iter()
            .map(|e| RowError {
                line: self.lines.get(&e.line).copied().unwrap_or(e.line),
                message: e.message,
            })
            .collect()
    }
}

/// One record of the merchant's file, as stored on upload.
pub struct Record {
    pub line: u64,
    pub cells: csv::StringRecord,
    /// WooCommerce: the product's address, numbered across the whole file.
    pub slug: Option<String>,
}

/// What the upload keeps beside each record so that a product's records can be read back
/// together, in the file's order, a batch at a time.
#[derive(Debug, Default, PartialEq)]
pub struct Staged {
    /// The product the record belongs to (Shopify's handle); None: a product of its own, or
    /// (for a WooCommerce variation) its parent's, found by `parent_ref`.
    pub group: Option<String>,
    /// The SKU this record gives a variant.
    pub sku: String,
    /// WooCommerce: how variations may name this product, the product they name, and the
    /// product's address made from its name (numbered across the file once all is stored).
    pub keys: Vec<String>,
    pub parent_ref: String,
    pub slug_base: String,
}

/// A platform's header row, read once: which column holds what.
pub struct Columns {
    source: Source,
    index: HashMap<&'static str, usize>,
}

impl Columns {
    pub fn new(source: Source, headers: &csv::StringRecord) -> Self {
        let aliases = match source {
            Source::Shopify => SHOPIFY,
            Source::WooCommerce => WOO,
        };
        Columns {
            source,
            index: header_index(headers, aliases),
        }
    }

    /// Why this is not the platform's product export, if it is not.
    pub fn problem(&self) -> Option<String> {
        let (required, hint): (&[(&str, &str)], &str) = match self.source {
            Source::Shopify => (
                &[("handle", "Handle"), ("price", "Variant Price")],
                "In Shopify: Products → Export → \"CSV for Excel, Numbers, or other spreadsheet programs\".",
            ),
            Source::WooCommerce => (
                &[
                    ("type", "Type"),
                    ("name", "Name"),
                    ("regular", "Regular price"),
                ],
                "In WordPress: Products → Export, all columns. Its column names follow your WordPress language: if they are not in English, set Users → Profile → Language to English, export again, then set it back.",
            ),
        };
        let missing: Vec<&str> = required
            .iter()
            .filter(|(k, _)| !self.index.contains_key(k))
            .map(|(_, name)| *name)
            .collect();
        (!missing.is_empty()).then(|| {
            format!(
                "This does not look like a {} product export: it has no {} column. {hint}",
                self.source.name(),
                missing.join(", ")
            )
        })
    }

    pub fn staged(&self, record: &csv::StringRecord) -> Staged {
        let get = |k: &str| cell(record, &self.index, k);
        match self.source {
            Source::Shopify => {
                let handle = get("handle").to_lowercase();
                Staged {
                    group: (!handle.is_empty()).then_some(handle),
                    sku: get("sku"),
                    ..Staged::default()
                }
            }
            Source::WooCommerce => {
                let kind = get("type").to_lowercase();
                if kind.contains("variation") {
                    return Staged {
                        sku: get("sku"),
                        parent_ref: get("parent"),
                        ..Staged::default()
                    };
                }
                let id = get("id");
                let keys = [
                    get("sku"),
                    if id.is_empty() {
                        id
                    } else {
                        format!("id:{id}")
                    },
                ]
                .into_iter()
                .filter(|k| !k.is_empty())
                .collect();
                let sellable = kind.contains("simple") || kind.contains("variable");
                Staged {
                    // A variable product's SKU names the product, not a variant.
                    sku: if kind.contains("simple") {
                        get("sku")
                    } else {
                        String::new()
                    },
                    keys: if kind.contains("variable") {
                        keys
                    } else {
                        Vec::new()
                    },
                    slug_base: if sellable {
                        super::slugify(&get("name"), "product")
                    } else {
                        String::new()
                    },
                    ..Staged::default()
                }
            }
        }
    }

    /// Whole products of the file as rows of our catalog CSV.
    pub fn convert(&self, records: &[Record], currency: &str) -> Converted {
        match self.source {
            Source::Shopify => shopify(&self.index, records, currency),
            Source::WooCommerce => woocommerce(&self.index, records, currency),
        }
    }
}

/// One of our rows, by column name.
type Row = HashMap<&'static str, String>;

struct Writer {
    out: csv::Writer<Vec<u8>>,
    lines: HashMap<u64, u64>,
    next_line: u64,
    rows: usize,
    slugs: Vec<String>,
    skus: Vec<String>,
}

impl Writer {
    fn new() -> Self {
        let mut out = csv::Writer::from_writer(Vec::new());
        out.write_record(CSV_COLUMNS).expect("writing to memory");
        Writer {
            out,
            lines: HashMap::new(),
            next_line: 2,
            rows: 0,
            slugs: Vec::new(),
            skus: Vec::new(),
        }
    }

    fn row(&mut self, source_line: u64, row: &Row) {
        self.lines.insert(self.next_line, source_line);
        self.rows += 1;
        for (key, list) in [("slug", &mut self.slugs), ("sku", &mut self.skus)] {
            match row.get(key) {
                Some(v) if !v.is_empty() && list.last() != Some(v) => list.push(v.clone()),
                _ => {}
            }
        }
        let cells: Vec<String> = CSV_COLUMNS
            .iter()
            .map(|c| {
                let cell = row.get(c).cloned().unwrap_or_default();
                // Our reader removes a formula guard; give one to text that needs it so a
                // title like "-50% scarf" reads back as typed.
                crate::platform::csv::neutralise(&cell).into_owned()
            })
            .collect();
        self.next_line += 1 + cells
            .iter()
            .map(|c| c.matches('\n').count() as u64)
            .sum::<u64>();
        self.out.write_record(&cells).expect("writing to memory");
    }

    fn finish(self, images: Vec<ImageRef>, errors: Vec<RowError>) -> Converted {
        let bytes = self.out.into_inner().unwrap_or_default();
        Converted {
            csv: String::from_utf8(bytes).unwrap_or_default(),
            lines: self.lines,
            rows: self.rows,
            slugs: self.slugs,
            skus: self.skus,
            images,
            errors,
        }
    }
}

/// HTML as our plain text: markup removed (nothing of it survives), paragraphs and line breaks
/// kept, entities decoded.
pub fn html_to_text(html: &str) -> String {
    if !html.contains('<') && !html.contains('&') {
        return html.trim().to_string();
    }
    // Wide enough that no line is wrapped; html2text drops scripts and styles with the tags.
    let text = html2text::config::plain_no_decorate()
        .string_from_read(html.as_bytes(), 10_000)
        .unwrap_or_default();
    let mut out = String::new();
    let mut blank = 0;
    for line in text.lines().map(str::trim_end) {
        if line.trim().is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(line);
    }
    out
}

/// A price cell in the shop's currency, as our importer reads it, or why it is not one.
/// Another currency's symbol or code is refused by name; a comma before the last one or two
/// digits with no point ("12,50", as many European stores write) is a decimal comma.
pub fn price(cell: &str, currency: &str) -> Result<String, String> {
    let cell = cell.trim();
    if cell.is_empty() {
        return Ok(String::new());
    }
    let own_symbol = crate::money::currency(currency).map_or("", |c| c.symbol.trim());
    let mut rest = cell
        .trim_start_matches(currency)
        .trim_end_matches(currency)
        .to_string();
    if !own_symbol.is_empty() {
        rest = rest.replace(own_symbol, "");
    }
    let foreign: String = rest
        .chars()
        .filter(|c| !(c.is_ascii_digit() || matches!(c, '.' | ',' | ' ' | '\u{a0}' | '\'')))
        .collect();
    if !foreign.trim().is_empty() {
        return Err(format!(
            "the price {cell} is not in your shop's currency ({currency}). Convert the file's prices to {currency} first, or change the shop's currency in Settings."
        ));
    }
    let digits = rest.replace([' ', '\u{a0}', '\''], "");
    let decimal_comma = !digits.contains('.')
        && digits
            .rsplit_once(',')
            .is_some_and(|(_, tail)| (1..=2).contains(&tail.len()));
    Ok(if decimal_comma {
        let (head, tail) = digits.rsplit_once(',').expect("checked");
        format!("{}.{tail}", head.replace(',', ""))
    } else {
        digits
    })
}

/// Header names, lowercased with spaces collapsed, mapped to what they mean.
fn header_index(
    headers: &csv::StringRecord,
    aliases: &[(&'static str, &[&str])],
) -> HashMap<&'static str, usize> {
    let mut index = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        let h = h.trim_start_matches('\u{feff}').trim().to_lowercase();
        let h = h.split_whitespace().collect::<Vec<_>>().join(" ");
        for (key, names) in aliases {
            if names.contains(&h.as_str()) {
                index.entry(*key).or_insert(i);
            }
        }
    }
    index
}

fn cell(record: &csv::StringRecord, index: &HashMap<&'static str, usize>, key: &str) -> String {
    index
        .get(key)
        .and_then(|i| record.get(*i))
        .map(|c| {
            crate::platform::csv::unneutralise(c.trim())
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}

fn category_cell(names: impl IntoIterator<Item = String>) -> String {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        // `|` separates our categories; a name holding one keeps it as a slash.
        let n = n.trim().replace('|', "/");
        if !n.is_empty() && !out.iter().any(|o| o.eq_ignore_ascii_case(&n)) {
            out.push(n);
        }
    }
    out.join("|")
}

fn set(row: &mut Row, key: &'static str, value: impl Into<String>) {
    row.insert(key, value.into());
}

const SHOPIFY: &[(&str, &[&str])] = &[
    ("handle", &["handle", "url handle"]),
    ("title", &["title"]),
    ("body", &["body (html)", "description"]),
    ("vendor", &["vendor"]),
    ("type", &["type", "product type"]),
    ("tags", &["tags"]),
    ("published", &["published", "published on online store"]),
    ("status", &["status"]),
    ("o1n", &["option1 name"]),
    ("o1v", &["option1 value"]),
    ("o2n", &["option2 name"]),
    ("o2v", &["option2 value"]),
    ("o3n", &["option3 name"]),
    ("o3v", &["option3 value"]),
    ("sku", &["variant sku", "sku"]),
    ("price", &["variant price", "price"]),
    (
        "compare",
        &[
            "variant compare at price",
            "compare-at price",
            "compare at price",
        ],
    ),
    ("qty", &["variant inventory qty", "inventory quantity"]),
    (
        "tracker",
        &["variant inventory tracker", "inventory tracker"],
    ),
    ("image", &["image src", "product image url"]),
    ("image_position", &["image position"]),
    ("image_alt", &["image alt text"]),
    ("variant_image", &["variant image", "variant image url"]),
];

/// Shopify's product CSV: rows grouped by handle; the first row of a product carries its
/// title, description, type, tags and status and its first variant; later rows are further
/// variants or images only. "Title" / "Default Title" is Shopify's way of saying "no options".
/// `records` are whole products (every row of each handle).
fn shopify(index: &HashMap<&'static str, usize>, records: &[Record], currency: &str) -> Converted {
    let mut writer = Writer::new();
    let mut images = Vec::new();
    let mut errors = Vec::new();
    // Handle → (title, option names) of the product's first row.
    let mut products: HashMap<String, (String, Vec<String>)> = HashMap::new();
    for Record { line, cells, .. } in records {
        let line = *line;
        let get = |k: &str| cell(cells, index, k);
        let handle = get("handle").to_lowercase();
        if handle.is_empty() {
            if cells.iter().any(|c| !c.trim().is_empty()) {
                errors.push(RowError {
                    line,
                    message: "Handle: every row needs its product's handle.".into(),
                });
            }
            continue;
        }
        let image = get("image");
        add_image(&mut images, &handle, image.clone(), get("image_alt"), None);
        if let Ok(position) = get("image_position").parse::<u32>()
            && let Some(i) = images
                .iter_mut()
                .find(|i| i.slug == handle && i.url == image)
        {
            i.position.get_or_insert(position);
        }
        let is_variant =
            !get("o1v").is_empty() || !get("sku").is_empty() || !get("price").is_empty();
        if !is_variant {
            continue; // an image-only row
        }
        let first = !products.contains_key(&handle);
        let mut row = Row::new();
        set(&mut row, "slug", handle.clone());
        if first {
            let title = get("title");
            let status = match get("status").to_lowercase().as_str() {
                "active" => "active",
                "archived" => "archived",
                "draft" | "unlisted" => "draft",
                _ => match get("published").to_lowercase().as_str() {
                    "true" => "active",
                    _ => "draft",
                },
            };
            set(&mut row, "title", title.clone());
            set(&mut row, "description", html_to_text(&get("body")));
            set(&mut row, "status", status);
            let tags = get("tags");
            set(
                &mut row,
                "categories",
                category_cell(
                    std::iter::once(get("type")).chain(tags.split(',').map(str::to_string)),
                ),
            );
            let mut names = Vec::new();
            for i in 1..=3 {
                let name = get(&format!("o{i}n"));
                if !name.is_empty() {
                    names.push(name);
                }
            }
            products.insert(handle.clone(), (title, names));
        }
        let (_, names) = &products[&handle];
        // One option called Title with the value "Default Title": no options.
        let no_options = names.len() == 1
            && names[0].eq_ignore_ascii_case("title")
            && get("o1v").eq_ignore_ascii_case("default title");
        if !no_options {
            for (i, name) in names.iter().enumerate() {
                let key: [&'static str; 2] = match i {
                    0 => ["option1_name", "option1_value"],
                    1 => ["option2_name", "option2_value"],
                    _ => ["option3_name", "option3_value"],
                };
                set(&mut row, key[0], name.clone());
                set(&mut row, key[1], get(&format!("o{}v", i + 1)));
            }
        }
        // The variant's own picture: an image of the product that this variant shows.
        let values: Vec<String> = if no_options {
            Vec::new()
        } else {
            (1..=names.len()).map(|i| get(&format!("o{i}v"))).collect()
        };
        add_image(
            &mut images,
            &handle,
            get("variant_image"),
            String::new(),
            Some(values),
        );
        set(&mut row, "sku", get("sku"));
        for (ours, theirs) in [("price", "price"), ("compare_at_price", "compare")] {
            match price(&get(theirs), currency) {
                Ok(p) => set(&mut row, ours, p),
                Err(m) => {
                    errors.push(RowError {
                        line,
                        message: format!(
                            "{}: {m}",
                            if theirs == "price" {
                                "Variant Price"
                            } else {
                                "Variant Compare At Price"
                            }
                        ),
                    });
                }
            }
        }
        // Shopify leaves the compare-at price equal to (or below) the price when there is no sale.
        if row
            .get("compare_at_price")
            .zip(row.get("price"))
            .is_some_and(|(c, p)| c.parse::<f64>().ok() <= p.parse::<f64>().ok())
        {
            set(&mut row, "compare_at_price", "");
        }
        let tracked = get("tracker").eq_ignore_ascii_case("shopify");
        set(&mut row, "track_stock", tracked.to_string());
        let qty = get("qty");
        // Shopify allows selling below zero; we count from zero.
        let qty = qty
            .parse::<i64>()
            .map(|n| n.max(0).to_string())
            .unwrap_or(qty);
        set(&mut row, "stock", if tracked { qty } else { String::new() });
        writer.row(line, &row);
    }
    // Each product's images by their position; products stay in the file's order.
    let mut first: HashMap<String, usize> = HashMap::new();
    for (n, i) in images.iter().enumerate() {
        first.entry(i.slug.clone()).or_insert(n);
    }
    images.sort_by_key(|i| (first[&i.slug], i.position.unwrap_or(u32::MAX)));
    writer.finish(images, errors)
}

const WOO: &[(&str, &[&str])] = &[
    ("id", &["id"]),
    ("type", &["type"]),
    ("sku", &["sku"]),
    ("name", &["name"]),
    ("published", &["published"]),
    ("short", &["short description"]),
    ("description", &["description"]),
    ("in_stock", &["in stock?"]),
    ("stock", &["stock"]),
    ("sale", &["sale price"]),
    ("regular", &["regular price"]),
    ("categories", &["categories"]),
    ("tags", &["tags"]),
    ("images", &["images"]),
    ("parent", &["parent"]),
    ("a1n", &["attribute 1 name"]),
    ("a1v", &["attribute 1 value(s)"]),
    ("a2n", &["attribute 2 name"]),
    ("a2v", &["attribute 2 value(s)"]),
    ("a3n", &["attribute 3 name"]),
    ("a3v", &["attribute 3 value(s)"]),
];

/// A WooCommerce list cell: values joined by ", ", with "\," for a comma inside one.
pub fn woo_list(cell: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = cell.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&',') => {
                current.push(',');
                chars.next();
            }
            ',' => {
                out.push(current.trim().to_string());
                current.clear();
            }
            _ => current.push(c),
        }
    }
    out.push(current.trim().to_string());
    out.retain(|v| !v.is_empty());
    out
}

struct WooProduct {
    line: u64,
    slug: String,
    row: Row,
    options: Vec<(String, Vec<String>)>,
    stock: String,
}

/// WooCommerce's product CSV: simple products are one row; a variable product's row lists its
/// attributes and every value, and each variation is a row whose `Parent` names it (by SKU or
/// `id:N`) with one value per attribute (empty: any value, which becomes every value).
/// `records` are whole products: a variable product with every variation naming it.
fn woocommerce(
    index: &HashMap<&'static str, usize>,
    records: &[Record],
    currency: &str,
) -> Converted {
    let mut errors = Vec::new();
    let mut images = Vec::new();
    let mut parents: Vec<WooProduct> = Vec::new();
    let mut by_ref: HashMap<String, usize> = HashMap::new();
    let mut variations: Vec<(u64, &csv::StringRecord)> = Vec::new();
    // Products in the file's order; a variable one is written once its variations are known.
    let mut order: Vec<WooSlot> = Vec::new();
    let mut out = Writer::new();
    for record in records {
        let line = record.line;
        let get = |k: &str| cell(&record.cells, index, k);
        let kind = get("type").to_lowercase();
        if kind.contains("variation") {
            variations.push((line, &record.cells));
            continue;
        }
        if !kind.contains("simple") && !kind.contains("variable") {
            errors.push(RowError {
                line,
                message: format!(
                    "Type: {} products cannot be imported; simple and variable products and their variations can.",
                    if kind.is_empty() { "untyped" } else { kind.as_str() }
                ),
            });
            continue;
        }
        let name = get("name");
        // Numbered across the whole file when it was stored (a second "Scarf" is scarf-2).
        let slug = record
            .slug
            .clone()
            .unwrap_or_else(|| super::slugify(&name, "product"));
        let mut row = Row::new();
        set(&mut row, "slug", slug.clone());
        set(&mut row, "title", name);
        let description = {
            let long = get("description");
            let text = if long.is_empty() { get("short") } else { long };
            html_to_text(&text.replace("\\n", "\n"))
        };
        set(&mut row, "description", description);
        set(
            &mut row,
            "status",
            if get("published") == "1" {
                "active"
            } else {
                "draft"
            },
        );
        // "Clothing > Hoodies": our categories are flat, so the product goes in each level.
        // That is what WooCommerce's own shop shows: a category's page lists the products of
        // its subcategories too, so hoodies are found under Clothing as well as Hoodies.
        let categories = woo_list(&get("categories"))
            .into_iter()
            .flat_map(|c| {
                c.split('>')
                    .map(|level| level.trim().to_string())
                    .collect::<Vec<_>>()
            })
            .chain(woo_list(&get("tags")));
        set(&mut row, "categories", category_cell(categories));
        for url in woo_list(&get("images")) {
            add_image(&mut images, &slug, url, String::new(), None);
        }
        let stock = woo_stock(&get("stock"), &get("in_stock"));
        if kind.contains("variable") {
            let mut options = Vec::new();
            for i in 1..=3 {
                let name = get(&format!("a{i}n"));
                if !name.is_empty() {
                    options.push((name, woo_list(&get(&format!("a{i}v")))));
                }
            }
            if options.is_empty() {
                errors.push(RowError {
                    line,
                    message: "Attribute 1 name: a variable product needs its attributes and their values.".into(),
                });
                continue;
            }
            for key in [get("sku"), format!("id:{}", get("id"))] {
                if !key.is_empty() && key != "id:" {
                    by_ref.insert(key, parents.len());
                }
            }
            set(&mut row, "sku", String::new());
            order.push(WooSlot::Variable(parents.len()));
            parents.push(WooProduct {
                line,
                slug,
                row,
                options,
                stock: stock.unwrap_or_default(),
            });
        } else {
            set(&mut row, "sku", get("sku"));
            if let Some(e) = woo_prices(&mut row, &get("regular"), &get("sale"), currency) {
                errors.push(RowError { line, message: e });
            }
            match stock {
                Some(n) => {
                    set(&mut row, "track_stock", "true");
                    set(&mut row, "stock", n);
                }
                None => set(&mut row, "track_stock", "false"),
            }
            order.push(WooSlot::Simple(line, row));
        }
    }
    // Variations, under their parents, in the parents' order.
    let mut children: Vec<Vec<(u64, Row)>> = parents.iter().map(|_| Vec::new()).collect();
    for (line, record) in &variations {
        let get = |k: &str| cell(record, index, k);
        let parent_ref = get("parent");
        let Some(&at) = by_ref.get(&parent_ref) else {
            errors.push(RowError {
                line: *line,
                message: format!(
                    "Parent: no variable product in this file has the SKU or id {parent_ref}."
                ),
            });
            continue;
        };
        let parent = &parents[at];
        let mut base = Row::new();
        set(&mut base, "slug", parent.slug.clone());
        set(&mut base, "sku", get("sku"));
        if let Some(e) = woo_prices(&mut base, &get("regular"), &get("sale"), currency) {
            errors.push(RowError {
                line: *line,
                message: e,
            });
            continue;
        }
        let stock = match get("stock").to_lowercase().as_str() {
            // Stock managed on the parent: each variation starts from the parent's count.
            "parent" => Some(parent.stock.clone()).filter(|s| !s.is_empty()),
            other => woo_stock(other, &get("in_stock")),
        };
        match stock {
            Some(n) => {
                set(&mut base, "track_stock", "true");
                set(&mut base, "stock", n);
            }
            None => set(&mut base, "track_stock", "false"),
        }
        let variation_images = woo_list(&get("images"));
        // One value per attribute, by name; an empty one means "any", so every value.
        let mut values_by_name: HashMap<String, String> = HashMap::new();
        for i in 1..=3 {
            let name = get(&format!("a{i}n"));
            if !name.is_empty() {
                values_by_name.insert(name.to_lowercase(), get(&format!("a{i}v")));
            }
        }
        let mut combos: Vec<Vec<String>> = vec![Vec::new()];
        for (name, all) in &parent.options {
            let chosen = values_by_name
                .get(&name.to_lowercase())
                .cloned()
                .unwrap_or_default();
            let choices = if chosen.is_empty() {
                all.clone()
            } else {
                vec![chosen]
            };
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    choices.iter().map(move |v| {
                        let mut next = c.clone();
                        next.push(v.clone());
                        next
                    })
                })
                .collect();
        }
        // A variation's image (WooCommerce keeps one) is shown by each variant it became.
        for (n, url) in variation_images.into_iter().enumerate() {
            if n == 0 {
                for combo in &combos {
                    add_image(
                        &mut images,
                        &parent.slug,
                        url.clone(),
                        String::new(),
                        Some(combo.clone()),
                    );
                }
            } else {
                add_image(&mut images, &parent.slug, url, String::new(), None);
            }
        }
        for (n, combo) in combos.into_iter().enumerate() {
            let mut row = base.clone();
            if n > 0 {
                // "Any" expanded: one SKU cannot name several variants.
                row.insert("sku", String::new());
            }
            for (i, ((name, _), value)) in parent.options.iter().zip(combo).enumerate() {
                let key: [&'static str; 2] = match i {
                    0 => ["option1_name", "option1_value"],
                    1 => ["option2_name", "option2_value"],
                    _ => ["option3_name", "option3_value"],
                };
                set(&mut row, key[0], name.clone());
                set(&mut row, key[1], value);
            }
            children[at].push((*line, row));
        }
    }
    let mut children: Vec<Option<Vec<(u64, Row)>>> = children.into_iter().map(Some).collect();
    for slot in order {
        let at = match slot {
            WooSlot::Simple(line, row) => {
                out.row(line, &row);
                continue;
            }
            WooSlot::Variable(at) => at,
        };
        let (parent, rows) = (&parents[at], children[at].take().unwrap_or_default());
        if rows.is_empty() {
            errors.push(RowError {
                line: parent.line,
                message: format!(
                    "{}: a variable product with no variations in the file cannot be sold; export its variations too.",
                    parent.row.get("title").cloned().unwrap_or_default()
                ),
            });
            continue;
        }
        for (i, (line, mut row)) in rows.into_iter().enumerate() {
            if i == 0 {
                for key in ["title", "description", "status", "categories"] {
                    row.insert(key, parent.row.get(key).cloned().unwrap_or_default());
                }
            }
            out.row(line, &row);
        }
    }
    out.finish(images, errors)
}

enum WooSlot {
    Simple(u64, Row),
    Variable(usize),
}

/// WooCommerce's stock: a number when managed; otherwise "In stock?" 0 means none left.
fn woo_stock(stock: &str, in_stock: &str) -> Option<String> {
    match stock.trim().parse::<i64>() {
        Ok(n) => Some(n.max(0).to_string()),
        Err(_) if in_stock.trim() == "0" => Some("0".into()),
        Err(_) => None,
    }
}

/// Regular and sale price: on sale, the sale price is the price and the regular one the
/// compare-at price.
fn woo_prices(row: &mut Row, regular: &str, sale: &str, currency: &str) -> Option<String> {
    let regular = match price(regular, currency) {
        Ok(p) => p,
        Err(m) => return Some(format!("Regular price: {m}")),
    };
    let sale = match price(sale, currency) {
        Ok(p) => p,
        Err(m) => return Some(format!("Sale price: {m}")),
    };
    let on_sale = !sale.is_empty() && sale.parse::<f64>().ok() < regular.parse::<f64>().ok();
    if on_sale {
        set(row, "price", sale);
        set(row, "compare_at_price", regular);
    } else {
        set(row, "price", regular);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_becomes_plain_text_with_paragraphs() {
        let text = html_to_text(
            "<p>Soft <strong>cotton</strong> &amp; indigo.</p><script>alert(1)</script><p>Wash cold.<br>Dry flat.</p>",
        );
        assert!(!text.contains('<'), "{text}");
        assert!(text.contains("Soft cotton & indigo."), "{text}");
        assert!(text.contains("Wash cold.\nDry flat."), "{text}");
        assert!(!text.contains("alert"), "{text}");
        assert_eq!(html_to_text("plain words"), "plain words");
    }

    #[test]
    fn prices_in_the_shop_currency_or_refused_by_name() {
        assert_eq!(price("12500.00", "NGN").unwrap(), "12500.00");
        assert_eq!(price("₦12,500.00", "NGN").unwrap(), "12,500.00");
        assert_eq!(price("12,50", "EUR").unwrap(), "12.50");
        assert_eq!(price("1.234,50", "EUR").unwrap(), "1.234,50");
        assert_eq!(price("", "NGN").unwrap(), "");
        let e = price("$12.00", "NGN").unwrap_err();
        assert!(e.contains("not in your shop's currency (NGN)"), "{e}");
        assert!(price("12.00 USD", "NGN").is_err());
        assert!(price("12.00 USD", "USD").is_ok());
    }

    #[test]
    fn woo_lists_split_on_commas_but_not_escaped_ones() {
        assert_eq!(woo_list("S, M, L"), ["S", "M", "L"]);
        assert_eq!(woo_list("Red\\, dark, Blue"), ["Red, dark", "Blue"]);
        assert!(woo_list("").is_empty());
    }

    #[test]
    fn an_image_is_listed_once_per_product_with_every_variant_that_shows_it() {
        let mut images = Vec::new();
        add_image(
            &mut images,
            "scarf",
            "u/1".into(),
            "".into(),
            Some(vec!["M".into()]),
        );
        add_image(&mut images, "scarf", "u/1".into(), "Blue".into(), None);
        add_image(
            &mut images,
            "scarf",
            "u/1".into(),
            "".into(),
            Some(vec!["L".into()]),
        );
        add_image(
            &mut images,
            "scarf",
            "u/1".into(),
            "".into(),
            Some(vec!["M".into()]),
        );
        // Another product may use the same address: it gets its own copy.
        add_image(
            &mut images,
            "cap",
            "u/1".into(),
            "".into(),
            Some(Vec::new()),
        );
        add_image(&mut images, "cap", "".into(), "".into(), None);
        assert_eq!(
            images,
            vec![
                ImageRef {
                    slug: "scarf".into(),
                    url: "u/1".into(),
                    alt: "Blue".into(),
                    variants: vec![vec!["M".into()], vec!["L".into()]],
                    position: None,
                },
                ImageRef {
                    slug: "cap".into(),
                    url: "u/1".into(),
                    alt: "".into(),
                    variants: Vec::new(),
                    position: None,
                },
            ]
        );
    }
}
