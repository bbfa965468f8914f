//! Storefront pages. Rendered on the server in full (title, meta tags, prices, structured data)
//! before any JavaScript runs; these routes use `SsrMode::Async` so `<head>` carries the page's
//! own tags. Links and the search form are plain HTML, so everything works without JavaScript.

use super::api::storefront_page;
use super::{ProductCard, PublicCategory, PublicProduct, PublicShop, StorePage};
use crate::error::ApiError;
use crate::links::{encode_query, whatsapp_link};
use crate::media::ImageView;
use crate::ui::{NotFound, SafeTitle};
use leptos::prelude::*;
use leptos_meta::{Link, Meta};
use leptos_router::hooks::{use_params_map, use_query_map};

#[component]
pub fn StoreHome() -> impl IntoView {
    view! { <StoreRouteView kind="home"/> }
}

#[component]
pub fn StoreCategory() -> impl IntoView {
    view! { <StoreRouteView kind="category"/> }
}

#[component]
pub fn StoreProduct() -> impl IntoView {
    view! { <StoreRouteView kind="product"/> }
}

#[component]
pub fn StoreSearch() -> impl IntoView {
    view! { <StoreRouteView kind="search"/> }
}

#[component]
fn StoreRouteView(kind: &'static str) -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let args = move || {
        let p = params.read();
        let q = query.read();
        let shop = p.get("slug").unwrap_or_default();
        let key = match kind {
            "category" => p.get("category"),
            "product" => p.get("product"),
            "search" => q.get("q"),
            _ => None,
        }
        .unwrap_or_default();
        let page = q
            .get("page")
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(1)
            .clamp(1, 10_000);
        (shop, key, page)
    };
    // An `AsyncDerived`, not a `Resource`: a resource's value is also written into the page as
    // JSON for hydration, and storefront pages are never hydrated (they load /storefront.js,
    // not the app); that JSON was half of a listing page. Like a resource, it runs once per
    // change of the route's parameters (a bare future in the closure below would run each
    // time the closure does: twice per server render).
    let data = AsyncDerived::new(move || {
        let (shop, key, page) = args();
        storefront_page(shop, kind.to_string(), key, page)
    });
    view! {
        <Suspense fallback=|| view! { <p class="page">"Loading…"</p> }>
            {move || {
                Suspend::new(async move {
                    match data.await {
                        Ok(StorePage::Listing { shop, category, query, products, page, pages, total }) => {
                            name_shop(shop.id);
                            view! { <Listing shop category query products page pages total/> }.into_any()
                        }
                        Ok(StorePage::Product { shop, product }) => {
                            name_shop(shop.id);
                            let choice = query.with_untracked(|q| {
                                VariantChoice::from_params(|k| q.get(k))
                            });
                            view! { <ProductView shop product choice/> }.into_any()
                        }
                        Ok(StorePage::Moved(to)) => view! { <Moved to/> }.into_any(),
                        Err(ApiError::NotFound) => view! { <NotFound/> }.into_any(),
                        Err(e) => view! { <main class="page" id="main"><p class="notice error">{e.to_string()}</p></main> }.into_any(),
                    }
                })
            }}
        </Suspense>
    }
}

/// Tells the response cache whose page this is, so a change to that shop drops it (the
/// header is removed before the answer leaves: see `storefront::bytes`).
fn name_shop(_shop: uuid::Uuid) {
    #[cfg(feature = "ssr")]
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>()
        && let Ok(v) = http::HeaderValue::from_str(&_shop.to_string())
    {
        res.insert_header(http::HeaderName::from_static(super::bytes::SHOP_HEADER), v);
    }
}

/// An old shop address: a permanent redirect on the server, a navigation in the browser.
#[component]
fn Moved(to: String) -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
            res.set_status(http::StatusCode::MOVED_PERMANENTLY);
            if let Ok(v) = http::HeaderValue::from_str(&to) {
                res.insert_header(http::header::LOCATION, v);
            }
        }
    }
    #[cfg(not(feature = "ssr"))]
    {
        let navigate = leptos_router::hooks::use_navigate();
        let target = to.clone();
        request_animation_frame(move || {
            navigate(
                &target,
                leptos_router::NavigateOptions {
                    replace: true,
                    ..Default::default()
                },
            )
        });
    }
    view! { <main class="page" id="main"><p>"This shop has moved to " <a href=to.clone()>{to.clone()}</a>"."</p></main> }
}

/// Title, description, canonical URL, Open Graph and Twitter tags.
#[component]
fn Seo(
    title: String,
    description: String,
    canonical: String,
    image: Option<String>,
    #[prop(optional)] og_type: Option<&'static str>,
) -> impl IntoView {
    let description: String = description
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(160)
        .collect();
    let card = if image.is_some() {
        "summary_large_image"
    } else {
        "summary"
    };
    view! {
        <SafeTitle text=title.clone()/>
        <Meta name="description" content=description.clone()/>
        <Link rel="canonical" href=canonical.clone()/>
        <Meta property="og:type" content=og_type.unwrap_or("website")/>
        <Meta property="og:title" content=title.clone()/>
        <Meta property="og:description" content=description.clone()/>
        <Meta property="og:url" content=canonical/>
        {image.clone().map(|i| view! { <Meta property="og:image" content=i/> })}
        <Meta name="twitter:card" content=card/>
        <Meta name="twitter:title" content=title/>
        <Meta name="twitter:description" content=description/>
        {image.map(|i| view! { <Meta name="twitter:image" content=i/> })}
    }
}

/// Structured data. `<` is escaped so the JSON can never close the script element.
#[component]
fn JsonLd(value: serde_json::Value) -> impl IntoView {
    let json = value.to_string().replace('<', "\\u003c");
    view! { <script type="application/ld+json" inner_html=json></script> }
}

fn absolute(base: &str, url: &str) -> String {
    if url.starts_with("http://") || url.starts_with("https://") {
        url.to_string()
    } else {
        // base is "<public>/s/<slug>"; keep only "<scheme>://<host>"
        let origin = base.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
        format!("{origin}{url}")
    }
}

#[component]
fn StoreShell(shop: PublicShop, children: Children) -> impl IntoView {
    let home = format!("/s/{}", shop.slug);
    let search_action = format!("/s/{}/search", shop.slug);
    let wa = shop
        .whatsapp_number
        .clone()
        .map(|n| whatsapp_link(&n, &format!("Hello {}! I have a question.", shop.name)));
    let categories: Vec<PublicCategory> = shop
        .categories
        .iter()
        .filter(|c| c.product_count > 0)
        .cloned()
        .collect();
    view! {
        <div class="store">
            <header class="store-header">
                <a class="store-brand" href=home.clone()>
                    {shop.logo.clone().map(|l| view! {
                        <img class="store-logo" src=l.thumb_src srcset=l.thumb_srcset sizes="48px" width="48" height="48" alt=""/>
                    })}
                    <span class="store-name">{shop.name.clone()}</span>
                </a>
                // The count is per visitor, so it is not in the page (cached pages are shared):
                // /storefront.js fills it from the cart's count cookie.
                <a class="store-cart-link" href=format!("{home}/cart")
                    data-cart-cookie=super::count_cookie_name(&shop.slug)>
                    "Cart"<span class="store-cart-count" aria-hidden="true" hidden></span>
                </a>
                <form class="store-search" method="get" action=search_action role="search">
                    <label class="visually-hidden" for="store-q">"Search products"</label>
                    <input id="store-q" type="search" name="q" placeholder="Search products"/>
                    <button type="submit" class="button">"Search"</button>
                </form>
            </header>
            {(!categories.is_empty()).then(|| view! {
                <nav class="store-nav" aria-label="Categories">
                    <a href=home.clone()>"All"</a>
                    {categories.into_iter().map(|c| view! { <a href=format!("{home}/c/{}", c.slug)>{c.name}</a> }).collect_view()}
                </nav>
            })}
            <main id="main" class="store-main">{children()}</main>
            <footer class="store-footer">
                {wa.map(|href| view! { <a class="button whatsapp" href=href rel="noopener">"Chat on WhatsApp"</a> })}
                <p class="muted">"© " {shop.name.clone()} " · Powered by " <a href="/">"Bizmaat"</a></p>
            </footer>
        </div>
    }
}

#[component]
pub(crate) fn Listing(
    shop: PublicShop,
    category: Option<PublicCategory>,
    query: Option<String>,
    products: Vec<ProductCard>,
    page: i64,
    pages: i64,
    total: i64,
) -> impl IntoView {
    let home = format!("/s/{}", shop.slug);
    let (heading, path, canonical_path) = match (&category, &query) {
        (Some(c), _) => (
            c.name.clone(),
            format!("{home}/c/{}", c.slug),
            format!("/c/{}", c.slug),
        ),
        (None, Some(q)) => (
            format!("Results for “{q}”"),
            format!("{home}/search?q={}", encode_query(q)),
            format!("/search?q={}", encode_query(q)),
        ),
        (None, None) => (shop.name.clone(), home.clone(), String::new()),
    };
    let page_suffix = if page > 1 {
        format!(" – page {page}")
    } else {
        String::new()
    };
    let title = match (&category, &query) {
        (None, None) => format!("{}{page_suffix}", shop.name),
        _ => format!("{heading}{page_suffix} · {}", shop.name),
    };
    let description = if shop.description.is_empty() {
        format!("Shop {} online and order on WhatsApp.", shop.name)
    } else {
        shop.description.clone()
    };
    let mut canonical = format!("{}{canonical_path}", shop.url);
    if page > 1 {
        canonical.push(if canonical.contains('?') { '&' } else { '?' });
        canonical.push_str(&format!("page={page}"));
    }
    let og_image = products
        .iter()
        .find_map(|p| p.image.as_ref())
        .or(shop.logo.as_ref())
        .map(|i| absolute(&shop.url, &i.og_url));
    let mut crumbs = vec![
        serde_json::json!({"@type": "ListItem", "position": 1, "name": shop.name, "item": shop.url}),
    ];
    if let Some(c) = &category {
        crumbs.push(serde_json::json!({"@type": "ListItem", "position": 2, "name": c.name, "item": format!("{}/c/{}", shop.url, c.slug)}));
    }
    let breadcrumbs = serde_json::json!({"@context": "https://schema.org", "@type": "BreadcrumbList", "itemListElement": crumbs});
    let is_home = category.is_none() && query.is_none();
    let empty_message = if query.is_some() {
        "No products match your search. Try another word."
    } else {
        "No products here yet."
    };
    let prev = (page > 1).then(|| with_page(&path, page - 1));
    let next = (page < pages).then(|| with_page(&path, page + 1));
    view! {
        <Seo title description=description.clone() canonical image=og_image/>
        <JsonLd value=breadcrumbs/>
        <StoreShell shop=shop.clone()>
            <section class="store-intro">
                <h1>{heading}</h1>
                {is_home.then(|| view! { <p class="lead">{shop.description.clone()}</p> })}
                {(!is_home).then(|| view! { <p class="muted">{format!("{total} product{}", if total == 1 { "" } else { "s" })}</p> })}
            </section>
            {if products.is_empty() {
                view! { <p class="empty">{empty_message}</p> }.into_any()
            } else {
                view! {
                    <ul class="product-grid">
                        // The first row (four cards on a wide screen) is never lazy; the first two,
                        // a phone's first row and its largest paint, are fetched first.
                        {products.into_iter().enumerate().map(|(i, p)| view! { <Card home=home.clone() product=p eager={i < 4} first={i < 2}/> }).collect_view()}
                    </ul>
                }.into_any()
            }}
            <crate::ui::Pagination page pages prev next/>
        </StoreShell>
    }
}

fn with_page(path: &str, page: i64) -> String {
    if page <= 1 {
        return path.to_string();
    }
    format!(
        "{path}{}page={page}",
        if path.contains('?') { '&' } else { '?' }
    )
}

#[component]
fn Card(home: String, product: ProductCard, eager: bool, first: bool) -> impl IntoView {
    let href = format!("{home}/p/{}", product.slug);
    view! {
        <li class="product-card">
            <a href=href>
                <div class="product-card-image">
                    {match product.image {
                        Some(img) => view! { <GridImage img eager first/> }.into_any(),
                        None => view! { <div class="no-image" aria-hidden="true"></div> }.into_any(),
                    }}
                    {product.sold_out.then(|| view! { <span class="badge sold-out">"Sold out"</span> })}
                </div>
                <h2 class="product-card-title">{product.title}</h2>
                <p class="price">
                    <span class="now">{product.price}</span>
                    {product.compare_at.map(|c| view! { " " <s class="was"><span class="visually-hidden">"Was "</span>{c}</s> })}
                </p>
            </a>
        </li>
    }
}

#[component]
fn GridImage(img: ImageView, eager: bool, first: bool) -> impl IntoView {
    let side = crate::media::THUMB_DISPLAY;
    view! {
        <img src=img.thumb_src srcset=img.thumb_srcset
            sizes="(min-width: 64rem) 240px, (min-width: 40rem) 30vw, 46vw"
            width=side height=side alt=img.alt
            loading=if eager { "eager" } else { "lazy" }
            fetchpriority=if first { "high" } else { "auto" } decoding="async"/>
    }
}

/// What a product page's address says about the variant to show (`?variant=`, `?o1=…`) and
/// the add-to-cart message (`?error=`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VariantChoice {
    pub variant: Option<String>,
    pub values: Vec<Option<String>>,
    pub error: Option<String>,
}

impl VariantChoice {
    pub fn from_params(get: impl Fn(&str) -> Option<String>) -> Self {
        VariantChoice {
            variant: get("variant"),
            values: ["o1", "o2", "o3"].iter().map(|k| get(k)).collect(),
            error: get("error"),
        }
    }
}

#[component]
pub(crate) fn ProductView(
    shop: PublicShop,
    product: PublicProduct,
    choice: VariantChoice,
) -> impl IntoView {
    let home = format!("/s/{}", shop.slug);
    let canonical = format!("{}/p/{}", shop.url, product.slug);
    let page_path = format!("{home}/p/{}", product.slug);
    let title = format!("{} · {}", product.title, shop.name);
    let description = if product.description.is_empty() {
        format!(
            "{} for {} at {}. Order on WhatsApp.",
            product.title, product.price, shop.name
        )
    } else {
        product.description.clone()
    };
    let og_image = product
        .images
        .first()
        .or(shop.logo.as_ref())
        .map(|i| absolute(&shop.url, &i.og_url));
    let ld = product_ld(&shop, &product, &canonical, &description);
    let mut crumbs = vec![
        serde_json::json!({"@type": "ListItem", "position": 1, "name": shop.name, "item": shop.url}),
    ];
    if let Some(c) = &product.category {
        crumbs.push(serde_json::json!({"@type": "ListItem", "position": 2, "name": c.name, "item": format!("{}/c/{}", shop.url, c.slug)}));
    }
    crumbs.push(serde_json::json!({"@type": "ListItem", "position": crumbs.len() + 1, "name": product.title, "item": canonical}));
    let breadcrumbs = serde_json::json!({"@context": "https://schema.org", "@type": "BreadcrumbList", "itemListElement": crumbs});
    let ask = shop.whatsapp_number.clone().map(|n| {
        whatsapp_link(
            &n,
            &format!(
                "Hello {}! I'm interested in \"{}\" ({}): {canonical}",
                shop.name, product.title, product.price
            ),
        )
    });
    let paragraphs = paragraphs(&product.description);

    // The chosen variant: from `?variant=` or `?o1=…` on the server (and on first render in
    // the browser), then from the selects as the shopper changes them.
    let initial = product
        .selected(choice.variant.as_deref(), &choice.values)
        .map(|v| v.options.clone())
        .unwrap_or_default();
    let error = choice.error;
    let chosen = RwSignal::new(initial);
    let product = StoredValue::new(product);
    let current = move || {
        product.with_value(|p| {
            let values = chosen.get();
            p.variant_with(&values).cloned()
        })
    };
    let has_options = product.with_value(|p| !p.options.is_empty());
    let price =
        move || current().map_or_else(|| product.with_value(|p| p.price.clone()), |v| v.price);
    let compare_at = move || {
        if has_options {
            current().and_then(|v| v.compare_at)
        } else {
            product.with_value(|p| p.compare_at.clone())
        }
    };
    let available = move || current().is_some_and(|v| v.available);
    let stock_text = move || match current() {
        None => "Not available in this combination",
        Some(v) if !v.enabled => "Not available in this combination",
        Some(v) if v.available => "In stock",
        Some(_) => "Sold out",
    };
    let max = move || {
        current()
            .and_then(|v| v.max_quantity)
            .unwrap_or(99)
            .clamp(1, 99)
    };
    // The variant's own image leads the gallery when it has one.
    let images = move || {
        product.with_value(|p| {
            let mut images = p.images.clone();
            if let Some(img) = current().and_then(|v| v.image)
                && let Some(at) = images.iter().position(|i| i.src == img.src)
            {
                let lead = images.remove(at);
                images.insert(0, lead);
            }
            images
        })
    };
    let pick = move |index: usize, value: String| {
        chosen.update(|c| {
            if let Some(slot) = c.get_mut(index) {
                *slot = value;
            }
        });
        #[cfg(feature = "hydrate")]
        if let Some(v) = current() {
            // A shareable address for the choice, without a new history entry or a reload.
            if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
                let _ = history.replace_state_with_url(
                    &wasm_bindgen::JsValue::NULL,
                    "",
                    Some(&format!("?variant={}", v.id)),
                );
            }
        }
    };
    let error_text = error.map(|e| match e.as_str() {
        "choose" => "Choose an option for each of the choices below, then add to cart.",
        _ => "That combination is not available. Choose another.",
    });
    let cart_action = format!("{home}/cart/add");
    // Without JavaScript the selects change nothing until the form is sent, so the button
    // stays enabled and the server answers an unavailable choice; once the page is live it
    // follows the choice.
    let live = RwSignal::new(false);
    Effect::new(move |_| live.set(true));
    let sellable = product.with_value(|p| !p.options.is_empty() || p.available);
    // What /storefront.js needs to follow the chosen options on a page without the WASM.
    let variants_data = has_options.then(|| {
        product.with_value(|p| {
            let list: Vec<serde_json::Value> = p
                .variants
                .iter()
                .map(|v| {
                    serde_json::json!({
                        "id": v.id, "options": v.options, "price": v.price,
                        "compare_at": v.compare_at, "enabled": v.enabled,
                        "available": v.available, "max_quantity": v.max_quantity,
                        "image": v.image.as_ref().map(|i| i.src.clone()),
                    })
                })
                .collect();
            serde_json::Value::Array(list).to_string()
        })
    });
    let product_id = product.with_value(|p| p.id.to_string());
    view! {
        <Seo title description canonical=canonical.clone() image=og_image og_type="product"/>
        <Meta property="product:price:amount" content=product.with_value(|p| p.price_plain.clone())/>
        <Meta property="product:price:currency" content=shop.currency.clone()/>
        <JsonLd value=ld/>
        <JsonLd value=breadcrumbs/>
        <StoreShell shop=shop.clone()>
            <nav class="breadcrumbs" aria-label="Breadcrumb">
                <a href=home.clone()>{shop.name.clone()}</a>
                {product.with_value(|p| p.category.clone()).map(|c| view! { " / " <a href=format!("{home}/c/{}", c.slug)>{c.name}</a> })}
            </nav>
            <article class="product">
                <div class="gallery">
                    {move || {
                        let images = images();
                        if images.is_empty() {
                            view! { <div class="no-image large" aria-hidden="true"></div> }.into_any()
                        } else {
                            images.into_iter().enumerate().map(|(i, img)| view! {
                                <img src=img.src.clone() srcset=img.srcset.clone()
                                    sizes="(min-width: 64rem) 560px, 100vw"
                                    width=img.width height=img.height alt=img.alt.clone()
                                    loading=if i == 0 { "eager" } else { "lazy" }
                                    fetchpriority=if i == 0 { "high" } else { "auto" } decoding="async"/>
                            }).collect_view().into_any()
                        }
                    }}
                </div>
                <div class="product-info">
                    <h1>{product.with_value(|p| p.title.clone())}</h1>
                    <p class="price large">
                        <span class="now" data-testid="price">{price}</span>
                        {move || compare_at().map(|c| view! { " " <s class="was"><span class="visually-hidden">"Was "</span>{c}</s> })}
                    </p>
                    <p class=move || if available() { "stock in" } else { "stock out" } data-testid="stock" aria-live="polite">
                        {stock_text}
                    </p>
                    {error_text.map(|m| view! { <p class="notice error" role="alert">{m}</p> })}
                    <Show when=move || sellable>
                    <form class="add-to-cart" method="post" action=cart_action.clone() data-variants=variants_data.clone()>
                        <input type="hidden" name="product" value=product_id.clone()/>
                        {product.with_value(|p| p.options.clone()).into_iter().enumerate().map(|(i, option)| {
                            let id = format!("option-{}", i + 1);
                            let name = format!("o{}", i + 1);
                            view! {
                                <div class="field option">
                                    <label for=id.clone()>{option.name.clone()}</label>
                                    <select id=id name=name
                                        on:change=move |ev| pick(i, event_target_value(&ev))>
                                        {option.values.into_iter().map(|value| {
                                            let v = value.clone();
                                            let selected = move || chosen.with(|c| c.get(i) == Some(&v));
                                            let v = value.clone();
                                            let label = move || {
                                                let mut combo = chosen.get();
                                                if let Some(slot) = combo.get_mut(i) {
                                                    *slot = v.clone();
                                                }
                                                let mark = product.with_value(|p| match p.variant_with(&combo) {
                                                    Some(x) if x.available => "",
                                                    Some(x) if x.enabled => " (sold out)",
                                                    _ => " (unavailable)",
                                                });
                                                format!("{v}{mark}")
                                            };
                                            view! { <option value=value selected=selected>{label}</option> }
                                        }).collect_view()}
                                    </select>
                                </div>
                            }
                        }).collect_view()}
                        <div class="field">
                            <label for="qty">"Quantity"</label>
                            <input id="qty" type="number" name="quantity" value="1" min="1" max=max/>
                        </div>
                        <button type="submit" class="button primary" disabled=move || live.get() && !available()>"Add to cart"</button>
                    </form>
                    </Show>
                    {has_options.then(|| view! { <VariantTable product=product.get_value() page=page_path.clone()/> })}
                    {ask.map(|href| view! { <a class="button whatsapp" href=href rel="noopener">"Ask on WhatsApp"</a> })}
                    <div class="description">
                        {paragraphs.into_iter().map(|lines| view! {
                            <p>{lines.into_iter().enumerate().map(|(i, l)| view! { {(i > 0).then(|| view! { <br/> })} {l} }).collect_view()}</p>
                        }).collect_view()}
                    </div>
                </div>
            </article>
        </StoreShell>
    }
}

/// Every variant with its price and availability, each a link to its own address: shoppers
/// without JavaScript choose here as well, and every price the structured data names is on
/// the page.
#[component]
fn VariantTable(product: PublicProduct, page: String) -> impl IntoView {
    view! {
        <table class="table variants">
            <caption>"All options"</caption>
            <thead><tr><th scope="col">"Option"</th><th scope="col">"Price"</th><th scope="col">"Availability"</th></tr></thead>
            <tbody>
                {product.variants.into_iter().map(|v| {
                    let name = crate::catalog::variant_title(&v.options);
                    view! {
                        <tr>
                            <td><a href=format!("{page}?variant={}", v.id)>{name}</a></td>
                            <td>{v.price}</td>
                            <td>{if v.available { "In stock" } else if v.enabled { "Sold out" } else { "Unavailable" }}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// Structured data: a `Product` with one `Offer`, or for a product with options a
/// `ProductGroup` whose `hasVariant` lists each variant with its own `Offer`.
fn product_ld(
    shop: &PublicShop,
    product: &PublicProduct,
    canonical: &str,
    description: &str,
) -> serde_json::Value {
    let availability = |available: bool| {
        if available {
            "https://schema.org/InStock"
        } else {
            "https://schema.org/OutOfStock"
        }
    };
    let images: Vec<String> = product
        .images
        .iter()
        .map(|i| absolute(&shop.url, &i.src))
        .collect();
    if product.options.is_empty() {
        let mut ld = serde_json::json!({
            "@context": "https://schema.org",
            "@type": "Product",
            "name": product.title,
            "description": description,
            "image": images,
            "url": canonical,
            "brand": {"@type": "Brand", "name": shop.name},
            "offers": {
                "@type": "Offer",
                "price": product.price_plain,
                "priceCurrency": shop.currency,
                "availability": availability(product.available),
                "url": canonical,
                "seller": {"@type": "Organization", "name": shop.name}
            }
        });
        if let Some(sku) = &product.sku {
            ld["sku"] = serde_json::Value::String(sku.clone());
        }
        return ld;
    }
    // schema.org names the common ones; any other option is still listed by its name.
    let property = |name: &str| match name.to_lowercase().as_str() {
        "size" => "https://schema.org/size".to_string(),
        "color" | "colour" => "https://schema.org/color".to_string(),
        "material" => "https://schema.org/material".to_string(),
        "pattern" => "https://schema.org/pattern".to_string(),
        _ => name.to_string(),
    };
    let variants: Vec<serde_json::Value> = product
        .variants
        .iter()
        .filter(|v| v.enabled)
        .map(|v| {
            let url = format!("{canonical}?variant={}", v.id);
            let mut item = serde_json::json!({
                "@type": "Product",
                "name": format!("{} ({})", product.title, crate::catalog::variant_title(&v.options)),
                "url": url,
                "offers": {
                    "@type": "Offer",
                    "price": v.price_plain,
                    "priceCurrency": shop.currency,
                    "availability": availability(v.available),
                    "url": url,
                }
            });
            for (option, value) in product.options.iter().zip(&v.options) {
                let key = match property(&option.name).as_str() {
                    "https://schema.org/size" => "size",
                    "https://schema.org/color" => "color",
                    "https://schema.org/material" => "material",
                    "https://schema.org/pattern" => "pattern",
                    _ => continue,
                };
                item[key] = serde_json::Value::String(value.clone());
            }
            if let Some(sku) = &v.sku {
                item["sku"] = serde_json::Value::String(sku.clone());
            }
            if let Some(img) = &v.image {
                item["image"] = serde_json::Value::String(absolute(&shop.url, &img.src));
            }
            item
        })
        .collect();
    serde_json::json!({
        "@context": "https://schema.org",
        "@type": "ProductGroup",
        "name": product.title,
        "description": description,
        "image": images,
        "url": canonical,
        "productGroupID": product.id.to_string(),
        "brand": {"@type": "Brand", "name": shop.name},
        "variesBy": product.options.iter().map(|o| property(&o.name)).collect::<Vec<_>>(),
        "hasVariant": variants,
    })
}

/// Plain text with line breaks: blank lines separate paragraphs, single newlines break lines.
/// Rendered as text nodes, so nothing in a description can become markup.
fn paragraphs(text: &str) -> Vec<Vec<String>> {
    text.replace("\r\n", "\n")
        .split("\n\n")
        .map(|p| {
            p.lines()
                .map(str::trim_end)
                .filter(|l| !l.trim().is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|p| !p.is_empty())
        .collect()
}

/// The cart and checkout form. Quantities change through plain form posts; checkout is a
/// server-function form. Payment is cash on delivery for now, and the page says so.
#[component]
pub fn StoreCart() -> impl IntoView {
    let params = use_params_map();
    let shop_slug = move || params.read().get("slug").unwrap_or_default();
    let shop = Resource::new(shop_slug, |s| {
        storefront_page(s, "home".into(), String::new(), 1)
    });
    let cart = Resource::new(shop_slug, super::api::cart_page);
    let query = leptos_router::hooks::use_query_map();
    let sold_out = move || query.read().get("error").is_some();
    view! {
        <Suspense fallback=|| view! { <p class="page">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let (shop, cart) = (shop.await, cart.await);
                match (shop, cart) {
                    (Ok(StorePage::Listing { shop, .. }), Ok(cart)) => view! {
                        <SafeTitle text=format!("Cart · {}", shop.name)/>
                        <Meta name="robots" content="noindex"/>
                        <StoreShell shop=shop.clone()>
                            <h1>"Your cart"</h1>
                            {sold_out().then(|| view! { <p class="notice error" role="alert">"That product is sold out."</p> })}
                            <CartBody shop cart/>
                        </StoreShell>
                    }.into_any(),
                    (Err(ApiError::NotFound), _) | (_, Err(ApiError::NotFound)) => view! { <NotFound/> }.into_any(),
                    (Err(e), _) | (_, Err(e)) => view! { <main class="page" id="main"><p class="notice error">{e.to_string()}</p></main> }.into_any(),
                    _ => view! { <NotFound/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn CartBody(shop: PublicShop, cart: super::CartView) -> impl IntoView {
    use crate::ui::{Field, FormError, TextArea, action_error, field_error};
    let home = format!("/s/{}", shop.slug);
    if cart.lines.is_empty() {
        return view! { <p class="empty">"Your cart is empty. " <a href=home>"Browse the shop"</a></p> }.into_any();
    }
    let checkout = ServerAction::<crate::orders::api::Checkout>::new();
    let err = action_error(checkout);
    let lines = cart.lines.clone();
    let examples = crate::shop::examples::for_currency(&shop.currency);
    // The same cart as a WhatsApp message: it ends with a code the shop's inbox turns into an
    // order (priced from the catalog, like the form below).
    let order_on_whatsapp = shop.whatsapp_number.clone().map(|n| {
        let mut text = format!("Hello {}! I would like to order:\n", shop.name);
        for l in &cart.lines {
            text.push_str(&format!("{} × {}\n", l.quantity, l.title));
        }
        let items: Vec<(uuid::Uuid, i32)> = cart
            .lines
            .iter()
            .map(|l| (l.product_id, l.quantity))
            .collect();
        text.push_str(&crate::links::cart_code(&items));
        whatsapp_link(&n, &text)
    });
    view! {
        <table class="table cart">
            <thead><tr><th scope="col">"Product"</th><th scope="col">"Quantity"</th><th scope="col">"Total"</th></tr></thead>
            <tbody>
                {cart.lines.into_iter().map(|l| {
                    let pid = l.product_id.to_string();
                    let qty_id = format!("qty-{pid}");
                    view! {
                        <tr>
                            <td><a href=format!("{home}/p/{}", l.slug)>{l.title.clone()}</a><br/><span class="muted">{l.unit_price}</span></td>
                            <td>
                                <form class="inline-form" method="post" action=format!("{home}/cart/update")>
                                    <input type="hidden" name="product" value=pid.clone()/>
                                    <label class="visually-hidden" for=qty_id.clone()>{format!("Quantity of {}", l.title)}</label>
                                    <input id=qty_id type="number" name="quantity" value=l.quantity min="0" max=l.max_quantity/>
                                    <button type="submit" class="button">"Update"</button>
                                </form>
                                <form method="post" action=format!("{home}/cart/update")>
                                    <input type="hidden" name="product" value=pid/>
                                    <input type="hidden" name="quantity" value="0"/>
                                    <button type="submit" class="link">{format!("Remove {}", l.title)}</button>
                                </form>
                            </td>
                            <td>{l.line_total}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
            <tfoot><tr><th scope="row" colspan="2">"Total"</th><td data-testid="cart-total">{cart.total.clone()}</td></tr></tfoot>
        </table>
        {order_on_whatsapp.map(|href| view! {
            <p><a class="button whatsapp" href=href rel="noopener">"Order on WhatsApp instead"</a></p>
        })}
        <section class="card">
            <h2>"Delivery details"</h2>
            <p class="notice ok">"Payment: cash on delivery. The shop confirms your order on WhatsApp before sending it."</p>
            // Posts as a plain form; /storefront.js sends it with fetch instead, so a mistake
            // is shown beside its field without losing what the shopper typed.
            <ActionForm action=checkout attr:class="form" attr:novalidate=true attr:data-enhance="checkout">
                <FormError error=Signal::derive(move || err.get().filter(|e| !matches!(e, ApiError::Validation(_))))/>
                {move || field_error(err, "items").get().map(|m| view! { <p class="notice error" role="alert">{m}</p> })}
                <input type="hidden" name="shop" value=shop.slug.clone()/>
                <input type="hidden" name="idempotency_key" value=cart.idempotency_key.clone()/>
                {lines.into_iter().map(|l| view! {
                    <input type="hidden" name="product[]" value=l.product_id.to_string()/>
                    <input type="hidden" name="quantity[]" value=l.quantity.to_string()/>
                }).collect_view()}
                <Field label="Your name" name="name" autocomplete="name" required=true error=field_error(err, "name")/>
                <Field label="WhatsApp number" name="phone" kind="tel" autocomplete="tel" required=true
                    hint=format!("With the country code, like {}.", examples.phone) error=field_error(err, "phone")/>
                <TextArea label="Delivery address" name="address" hint=format!("Street, number and town, like {}.", examples.address)
                    error=field_error(err, "address")/>
                <TextArea label="Note for the shop (optional)" name="note" error=field_error(err, "note")/>
                <button type="submit" class="button primary" disabled=move || checkout.pending().get()>"Place order"</button>
            </ActionForm>
        </section>
    }
    .into_any()
}

/// What the shopper sees after ordering: the number, what happens next, the lines and the
/// delivery details.
fn confirmation(o: crate::orders::OrderView, home: String) -> impl IntoView {
    view! {
        <p><a href=home>"← Back to the shop"</a></p>
        <h1>"Thank you! Order " <span data-testid="order-number">{format!("#{}", o.number)}</span></h1>
        <p>"The shop will confirm it on WhatsApp. Payment is cash on delivery."</p>
        <section class="card" aria-labelledby="next-title">
            <h2 id="next-title">"What happens next"</h2>
            <ol>
                <li>"The shop checks your order and confirms it with you on WhatsApp, at the number you gave."</li>
                <li>"You agree the delivery there."</li>
                <li>"You pay in cash when the order arrives."</li>
            </ol>
        </section>
        <table class="table">
            <tbody>
                {o.lines.iter().map(|l| view! {
                    <tr><td>{format!("{} × {}", l.quantity, l.name())}</td><td>{l.line_total.clone()}</td></tr>
                }).collect_view()}
            </tbody>
            <tfoot><tr><th scope="row">"Total"</th><td data-testid="order-total">{o.total.clone()}</td></tr></tfoot>
        </table>
        <section class="card">
            <h2>"Delivery"</h2>
            <p>{o.customer_name.clone()}<br/>{o.phone.clone()}<br/>{o.address.clone()}</p>
            {(!o.note.is_empty()).then(|| view! { <p class="muted">{o.note.clone()}</p> })}
        </section>
        {o.shop_whatsapp.clone().map(|href| view! {
            <a class="button whatsapp" href=href rel="noopener">"Message the shop about this order"</a>
        })}
    }
}

#[component]
pub fn StoreOrderConfirmation() -> impl IntoView {
    let params = use_params_map();
    let args = move || {
        let p = params.read();
        (
            p.get("slug").unwrap_or_default(),
            p.get("id").and_then(|i| i.parse::<uuid::Uuid>().ok()),
        )
    };
    let order = Resource::new(args, |(shop, id)| async move {
        match id {
            Some(id) => super::api::order_confirmation(shop, id).await,
            None => Err(ApiError::NotFound),
        }
    });
    let slug = move || params.read().get("slug").unwrap_or_default();
    // The shop's header on the confirmation too: the shopper is still in the shop.
    let shop = Resource::new(slug, |s| {
        storefront_page(s, "home".into(), String::new(), 1)
    });
    view! {
        <Suspense fallback=|| view! { <p class="page">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let home = format!("/s/{}", slug());
                match (order.await, shop.await) {
                    (Ok(o), Ok(StorePage::Listing { shop, .. })) => view! {
                        <SafeTitle text=format!("Order #{} · {}", o.number, shop.name)/>
                        <Meta name="robots" content="noindex"/>
                        <StoreShell shop>
                            <div class="narrow">{confirmation(o, home)}</div>
                        </StoreShell>
                    }.into_any(),
                    (Ok(o), _) => view! {
                        <SafeTitle text=format!("Order #{}", o.number)/>
                        <Meta name="robots" content="noindex"/>
                        <main class="page narrow" id="main">{confirmation(o, home)}</main>
                    }.into_any(),
                    (Err(_), _) => view! { <NotFound/> }.into_any(),
                }
            })}
        </Suspense>
    }
}
