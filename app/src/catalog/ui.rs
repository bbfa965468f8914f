//! Catalog pages of the dashboard: product list, product form, categories, CSV import/export.
//! Filters are a plain GET form and every change is a server-function form, so the pages work
//! before the WASM loads.

use super::api::{
    ConfirmImport, CreateCategory, DeleteCategory, DeleteProduct, ImportCatalog, MoveCategory,
    RenameCategory, RetryImportImage, SaveProduct, SaveProductOptions, SaveProductVariants,
    SetProductStatus, get_product, import_preview, list_categories, list_products,
};
use super::{Category, ProductDetail, ProductQuery, SORTS, STATUSES};
use crate::media::api::{DeleteImage, MoveImage, UpdateImageAlt};
use crate::ui::{Field, FormError, PageTitle, TextArea, action_error, field_error};
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};
use uuid::Uuid;

fn status_label(status: &str) -> &'static str {
    STATUSES
        .iter()
        .find(|(k, _)| *k == status)
        .map_or("Unknown", |(_, l)| l)
}

#[component]
pub fn ProductsPage() -> impl IntoView {
    let query = use_query_map();
    let filters = move || {
        let q = query.read();
        ProductQuery {
            q: q.get("q").filter(|v| !v.is_empty()),
            status: q.get("status").filter(|v| !v.is_empty()),
            category: q.get("category").and_then(|v| v.parse().ok()),
            sort: q.get("sort").filter(|v| !v.is_empty()),
            page: q.get("page").and_then(|v| v.parse().ok()),
        }
    };
    let products = Resource::new(filters, list_products);
    let categories = Resource::new(|| (), |_| list_categories());
    let page_link = move |page: i64| {
        let f = filters();
        let mut parts = vec![format!("page={page}")];
        for (k, v) in [
            ("q", f.q),
            ("status", f.status),
            ("category", f.category.map(|c| c.to_string())),
            ("sort", f.sort),
        ] {
            if let Some(v) = v {
                parts.push(format!("{k}={}", crate::links::encode_query(&v)));
            }
        }
        format!("/dashboard/products?{}", parts.join("&"))
    };
    view! {
        <PageTitle title="Products"/>
        <div class="page-head">
            <h1>"Products"</h1>
            <a class="button primary" href="/dashboard/products/new">"New product"</a>
        </div>
        <form class="filters" method="get" action="/dashboard/products" role="search">
            <div class="field">
                <label for="pq">"Search"</label>
                <input id="pq" type="search" name="q" value=move || filters().q.unwrap_or_default() placeholder="Title or SKU"/>
            </div>
            <div class="field">
                <label for="pstatus">"Status"</label>
                <select id="pstatus" name="status">
                    <option value="">"All"</option>
                    {STATUSES.iter().map(|(k, l)| view! { <option value=*k selected=move || filters().status.as_deref() == Some(*k)>{*l}</option> }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="pcat">"Category"</label>
                <select id="pcat" name="category">
                    <option value="">"All"</option>
                    <Suspense>
                        {move || categories.get().and_then(Result::ok).map(|list| list.into_iter().map(|c| {
                            let id = c.id;
                            view! { <option value=c.id.to_string() selected=move || filters().category == Some(id)>{c.name}</option> }
                        }).collect_view())}
                    </Suspense>
                </select>
            </div>
            <div class="field">
                <label for="psort">"Sort"</label>
                <select id="psort" name="sort">
                    {SORTS.iter().map(|(k, l)| view! { <option value=*k selected=move || filters().sort.as_deref() == Some(*k)>{*l}</option> }).collect_view()}
                </select>
            </div>
            <button type="submit" class="button">"Apply"</button>
        </form>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match products.await {
                    Err(e) => view! { <p class="notice error">{e.to_string()}</p> }.into_any(),
                    // A new shop and a search that found nothing need different next steps.
                    Ok(list) if list.items.is_empty() => {
                        let f = filters();
                        if f.q.is_none() && f.status.is_none() && f.category.is_none() {
                            view! {
                                <div class="empty" data-testid="products-empty">
                                    <p><strong>"Your shop has no products yet."</strong></p>
                                    <p>"Add your first product with its price and photos, or bring a whole catalog from a spreadsheet, Shopify or WooCommerce."</p>
                                    <p>
                                        <a class="button primary" href="/dashboard/products/new">"Add your first product"</a>" "
                                        <a class="button" href="/dashboard/import">"Import products"</a>
                                    </p>
                                </div>
                            }.into_any()
                        } else {
                            view! {
                                <p class="empty" data-testid="products-empty">"No products match these filters. "
                                    <a href="/dashboard/products">"Show all products"</a></p>
                            }.into_any()
                        }
                    }
                    Ok(list) => {
                        let (page, pages, total) = (list.page, list.pages, list.total);
                        view! {
                            <p class="muted">{format!("{total} product{}", if total == 1 { "" } else { "s" })}</p>
                            <table class="table">
                                <thead><tr><th scope="col">"Product"</th><th scope="col">"Status"</th><th scope="col">"Price"</th><th scope="col">"Stock"</th></tr></thead>
                                <tbody>
                                    {list.items.into_iter().map(|p| view! {
                                        <tr>
                                            <td class="product-cell">
                                                {p.thumb.map(|t| view! { <img src=t.thumb_src alt="" width="40" height="40" loading="lazy"/> })}
                                                <a href=format!("/dashboard/products/{}", p.id)>{p.title}</a>
                                                {p.sku.map(|s| view! { <span class="muted">" · " {s}</span> })}
                                            </td>
                                            <td><span class=format!("badge status-{}", p.status)>{status_label(&p.status)}</span></td>
                                            <td>{p.price}{p.compare_at.map(|c| view! { " " <s class="muted">{c}</s> })}</td>
                                            <td>{p.stock_label}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                            <crate::ui::Pagination page pages
                                prev=(page > 1).then(|| page_link(page - 1)) next=(page < pages).then(|| page_link(page + 1))/>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn NewProductPage() -> impl IntoView {
    // Images chosen on an earlier, unsaved new-product page are not this product's.
    #[cfg(feature = "hydrate")]
    new_images::set(Vec::new());
    let categories = Resource::new(|| (), |_| list_categories());
    let shop = Resource::new(|| (), |_| crate::shop::api::get_shop_settings());
    view! {
        <PageTitle title="New product"/>
        <h1>"New product"</h1>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                let cats = categories.await.unwrap_or_default();
                let currency = shop.await.ok().map(|s| s.currency);
                view! { <ProductForm product=None categories=cats currency/> }
            })}
        </Suspense>
    }
}

#[component]
pub fn EditProductPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.read().get("id").and_then(|v| v.parse::<Uuid>().ok());
    let alt = ServerAction::<UpdateImageAlt>::new();
    let mover = ServerAction::<MoveImage>::new();
    let remove = ServerAction::<DeleteImage>::new();
    let status = ServerAction::<SetProductStatus>::new();
    let delete = ServerAction::<DeleteProduct>::new();
    let options = ServerAction::<SaveProductOptions>::new();
    let variants = ServerAction::<SaveProductVariants>::new();
    let product = Resource::new(
        move || {
            (
                id(),
                alt.version().get(),
                mover.version().get(),
                remove.version().get(),
                status.version().get(),
                options.version().get(),
                variants.version().get(),
            )
        },
        |(id, ..)| async move {
            match id {
                Some(id) => get_product(id).await,
                None => Err(crate::error::ApiError::NotFound),
            }
        },
    );
    let categories = Resource::new(|| (), |_| list_categories());
    let upload_error = move || query.read().get("upload_error");
    let uploaded = move || query.read().get("uploaded").is_some();
    // Just created with images chosen on the new-product page: they go up now, one by one.
    let created = query.read_untracked().get("created").is_some();
    let new_images_status = RwSignal::new(None::<Result<String, String>>);
    view! {
        <PageTitle title="Edit product"/>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                let cats = categories.await.unwrap_or_default();
                match product.await {
                    Err(crate::error::ApiError::NotFound) => view! { <crate::ui::NotFound/> }.into_any(),
                    Err(e) => view! { <p class="notice error">{e.to_string()}</p> }.into_any(),
                    Ok(p) => {
                        #[cfg(feature = "hydrate")]
                        if created {
                            new_images::upload(p.id, p.cloudinary, new_images_status, alt.version());
                        }
                        #[cfg(not(feature = "hydrate"))]
                        let _ = created;
                        let pid = p.id.to_string();
                        let (pid1, pid2) = (pid.clone(), pid.clone());
                        let publish_to = if p.status == "active" { ("archived", "Archive") } else { ("active", "Publish") };
                        view! {
                            <div class="page-head">
                                <h1>{p.title.clone()}</h1>
                                <span class=format!("badge status-{}", p.status) data-testid="product-status">{status_label(&p.status)}</span>
                            </div>
                            <div class="actions">
                                <ActionForm action=status>
                                    <input type="hidden" name="id" value=pid1/>
                                    <input type="hidden" name="status" value=publish_to.0/>
                                    <button type="submit" class="button">{publish_to.1}</button>
                                </ActionForm>
                                <ActionForm action=delete>
                                    <input type="hidden" name="id" value=pid2/>
                                    <crate::ui::ConfirmSubmit label="Delete product" confirm="Yes, delete it"
                                        question="Delete this product? It leaves your shop and the storefront; past orders keep their copy."/>
                                </ActionForm>
                            </div>
                            <ProductForm product=Some(p.clone()) categories=cats currency=None/>
                            <OptionsForm product=p.clone() action=options/>
                            {(!p.options.is_empty()).then(|| view! { <VariantsForm product=p.clone() action=variants/> })}
                            <section class="card">
                                <h2>"Images"</h2>
                                {upload_error().map(|m| view! { <p class="notice error" role="alert">{m}</p> })}
                                {uploaded().then(|| view! { <p class="notice ok" role="status">"Image uploaded."</p> })}
                                {move || new_images_status.get().map(|s| match s {
                                    Ok(m) => view! { <p class="notice ok" role="status" data-testid="new-images-status">{m}</p> }.into_any(),
                                    Err(m) => view! { <p class="notice error" role="alert" data-testid="new-images-status">{m}</p> }.into_any(),
                                })}
                                <ul class="image-list">
                                    {p.images.clone().into_iter().map(|img| view! { <ImageRowForms img alt mover remove/> }).collect_view()}
                                </ul>
                                <crate::media::ui::ImageUpload product_id=Some(p.id) cloudinary=p.cloudinary label="Add an image"
                                    on_done=Callback::new(move |_| alt.version().update(|v| *v += 1))/>
                            </section>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
fn ProductForm(
    product: Option<ProductDetail>,
    categories: Vec<Category>,
    /// The shop's currency for a new product (an existing one carries its own).
    currency: Option<String>,
) -> impl IntoView {
    let save = ServerAction::<SaveProduct>::new();
    let err = action_error(save);
    let saved = Signal::derive(move || save.value().get().is_some_and(|r| r.is_ok()));
    let p = product.clone();
    let value = move |f: fn(&ProductDetail) -> String| p.as_ref().map(f).unwrap_or_default();
    let status = product
        .as_ref()
        .map_or_else(|| "draft".to_string(), |p| p.status.clone());
    let selected: Vec<Uuid> = product
        .as_ref()
        .map(|p| p.category_ids.clone())
        .unwrap_or_default();
    let track = product.as_ref().is_some_and(|p| p.track_stock);
    let currency = product.as_ref().map(|p| p.currency.clone()).or(currency);
    // Entering a stock number means the merchant counts it: tick "Track stock" (they can
    // untick it again); an existing product's choice is left alone until the number changes.
    let track_ref = NodeRef::<leptos::html::Input>::new();
    let stock_typed = move |ev: leptos::ev::Event| {
        let typed = event_target_value(&ev);
        if !typed.trim().is_empty()
            && let Some(track) = track_ref.get()
        {
            track.set_checked(true);
        }
    };
    // With options, price, SKU and stock belong to each variant (the table below).
    let one_form = product.as_ref().is_none_or(|p| p.options.is_empty());
    // A new product's images are held in the page until it is saved (they need its id), then
    // the product's page uploads them. The input has no name: the form never sends the files.
    let chosen = RwSignal::new(String::new());
    let images_chosen = move |ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let files: Vec<web_sys::File> = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
                .and_then(|i| i.files())
                .map(|list| (0..list.length()).filter_map(|i| list.get(i)).collect())
                .unwrap_or_default();
            chosen.set(match files.len() {
                0 => String::new(),
                n => format!(
                    "{} to upload when you save: {}",
                    if n == 1 {
                        "1 image".to_string()
                    } else {
                        format!("{n} images")
                    },
                    files
                        .iter()
                        .map(|f| f.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
            new_images::set(files);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (ev, chosen);
    };
    view! {
        <ActionForm action=save attr:class="form card" attr:novalidate=true>
            <FormError error=Signal::derive(move || err.get().filter(|e| !matches!(e, crate::error::ApiError::Validation(_))))/>
            <Show when=move || saved.get()>
                <div class="notice ok" role="status">"Product saved."</div>
            </Show>
            {product.as_ref().map(|p| view! { <input type="hidden" name="id" value=p.id.to_string()/> })}
            <Field label="Title" name="title" value=value(|p| p.title.clone()) required=true error=field_error(err, "title")/>
            <Field label="URL slug" name="slug" value=value(|p| p.slug.clone()) hint="Leave empty to make one from the title."
                error=field_error(err, "slug")/>
            <TextArea label="Description" name="description" value=value(|p| p.description.clone())
                hint="Plain text. Leave a blank line between paragraphs." error=field_error(err, "description")/>
            {if one_form {
                view! {
            <div class="row">
                <Field label=currency.clone().map_or("Price".to_string(), |c| format!("Price ({c})")) name="price"
                    value=value(|p| p.price.clone()) required=true error=field_error(err, "price")/>
                <Field label="Compare-at price" name="compare_at_price" value=value(|p| p.compare_at_price.clone())
                    hint="The old price, shown crossed out. Optional." error=field_error(err, "compare_at_price")/>
            </div>
            <div class="row">
                <Field label="SKU" name="sku" value=value(|p| p.sku.clone()) error=field_error(err, "sku")/>
                <div on:input=stock_typed>
                    <Field label="Stock" name="stock" kind="number" value=value(|p| p.stock.to_string()) error=field_error(err, "stock")/>
                </div>
            </div>
            <div class="field check">
                <input type="checkbox" id="f-track_stock" name="track_stock" value="on" checked=track node_ref=track_ref/>
                <label for="f-track_stock">"Track stock (sold out at 0)"</label>
            </div>
                }.into_any()
            } else {
                view! { <p class="hint">"This product has options: set prices, SKUs and stock per variant in the table below."</p> }.into_any()
            }}
            <div class="field">
                <label for="f-status">"Status"</label>
                <select id="f-status" name="status" aria-describedby="f-status-hint">
                    {STATUSES.iter().map(|(k, l)| view! { <option value=*k selected=status == *k>{*l}</option> }).collect_view()}
                </select>
                <p class="hint" id="f-status-hint">"Only active products appear in your storefront and to the WhatsApp agent. Drafts are kept here until you make them active; archived products are hidden but keep their orders."</p>
            </div>
            <fieldset class="field">
                <legend>"Categories"</legend>
                {if categories.is_empty() {
                    view! { <p class="hint">"No categories yet. " <a href="/dashboard/categories">"Create one"</a>"."</p> }.into_any()
                } else {
                    categories.into_iter().map(|c| {
                        let id = format!("cat-{}", c.id);
                        view! {
                            <div class="field check">
                                <input type="checkbox" id=id.clone() name="categories[]" value=c.id.to_string() checked=selected.contains(&c.id)/>
                                <label for=id>{c.name}</label>
                            </div>
                        }
                    }).collect_view().into_any()
                }}
            </fieldset>
            {product.is_none().then(|| view! {
                <div class="field">
                    <label for="f-new-images">"Images (optional)"</label>
                    <p class="hint" id="f-new-images-hint">
                        "JPEG, PNG, WebP or GIF, up to 10 MB each. They are uploaded when you save; describe each one on the product's page."
                    </p>
                    <input id="f-new-images" type="file" multiple=true accept="image/jpeg,image/png,image/webp,image/gif"
                        aria-describedby="f-new-images-hint" on:change=images_chosen/>
                    <p class="hint" role="status" data-testid="new-images">{move || chosen.get()}</p>
                </div>
            })}
            <button type="submit" class="button primary">"Save product"</button>
        </ActionForm>
    }
}

/// Images chosen on the new-product page, waiting for the product to exist. They live in the
/// page's memory (files cannot be put in a URL or storage), so they survive the move to the
/// product's page that saving makes, and nothing else: a reload forgets them.
#[cfg(feature = "hydrate")]
mod new_images {
    use leptos::prelude::*;
    use std::cell::RefCell;
    use uuid::Uuid;

    thread_local! {
        static HELD: RefCell<Vec<web_sys::File>> = const { RefCell::new(Vec::new()) };
    }

    pub fn set(files: Vec<web_sys::File>) {
        HELD.with(|h| *h.borrow_mut() = files);
    }

    /// Uploads what is held (once: it is taken) to the product just created, saying how it
    /// went, and bumps `refresh` at the end so the list shows them.
    pub fn upload(
        product_id: Uuid,
        cloudinary: bool,
        status: RwSignal<Option<Result<String, String>>>,
        refresh: RwSignal<usize>,
    ) {
        let files = HELD.with(|h| std::mem::take(&mut *h.borrow_mut()));
        if files.is_empty() {
            return;
        }
        let total = files.len();
        status.set(Some(Ok(format!(
            "Uploading {total} image{}…",
            plural(total)
        ))));
        leptos::task::spawn_local(async move {
            let mut failed = Vec::new();
            for file in files {
                let name = file.name();
                if let Err(e) =
                    crate::media::ui::browser::upload_to_product(cloudinary, file, product_id).await
                {
                    failed.push(format!("{name}: {e}"));
                }
            }
            let done = total - failed.len();
            // One reload of the product once all are in (a reload per image could finish out
            // of order and show an older list).
            if done > 0 {
                refresh.update(|v| *v += 1);
            }
            status.set(Some(if failed.is_empty() {
                Ok(format!("{done} image{} uploaded.", plural(done)))
            } else {
                Err(format!(
                    "{done} of {total} images uploaded. Not uploaded — {}. Add them again below.",
                    failed.join("; ")
                ))
            }));
        });
    }

    fn plural(n: usize) -> &'static str {
        if n == 1 { "" } else { "s" }
    }
}

/// Up to three options, one row each: a name and its values separated by commas. Saving
/// makes one variant per combination (existing combinations keep their data).
#[component]
fn OptionsForm(product: ProductDetail, action: ServerAction<SaveProductOptions>) -> impl IntoView {
    let err = action_error(action);
    let saved = Signal::derive(move || action.value().get().is_some_and(|r| r.is_ok()));
    let mut rows = product.options.clone();
    rows.resize(
        super::MAX_OPTIONS,
        super::ProductOption {
            name: String::new(),
            values: Vec::new(),
        },
    );
    view! {
        <section class="card" aria-labelledby="options-heading">
            <h2 id="options-heading">"Options"</h2>
            <p class="hint">"Sell this product in several forms, like sizes or colours: up to 3 options and 100 combinations. Leave every row empty for a product sold in one form."</p>
            <ActionForm action=action attr:class="form" attr:novalidate=true>
                <FormError error=Signal::derive(move || err.get().filter(|e| !matches!(e, crate::error::ApiError::Validation(_))))/>
                {move || field_error(err, "options").get().map(|m| view! { <p class="notice error" role="alert">{m}</p> })}
                <Show when=move || saved.get()>
                    <div class="notice ok" role="status">"Options saved; the variants below follow them."</div>
                </Show>
                <input type="hidden" name="id" value=product.id.to_string()/>
                {rows.into_iter().enumerate().map(|(i, o)| {
                    let name_id = format!("option-name-{i}");
                    let values_id = format!("option-values-{i}");
                    let name_err = Signal::derive(move || err.get().and_then(|e| e.field(&format!("option.{i}.name"))));
                    let values_err = Signal::derive(move || err.get().and_then(|e| e.field(&format!("option.{i}.values"))));
                    view! {
                        <div class="row">
                            <div class="field">
                                <label for=name_id.clone()>{format!("Option {} name", i + 1)}</label>
                                <input id=name_id name="option_name[]" value=o.name.clone() placeholder=if i == 0 { "Size" } else { "" }/>
                                {move || name_err.get().map(|m| view! { <p class="field-error" role="alert">{m}</p> })}
                            </div>
                            <div class="field">
                                <label for=values_id.clone()>{format!("Option {} values", i + 1)}</label>
                                <input id=values_id name="option_values[]" value=o.values.join(", ") placeholder=if i == 0 { "S, M, L" } else { "" }/>
                                {move || values_err.get().map(|m| view! { <p class="field-error" role="alert">{m}</p> })}
                            </div>
                        </div>
                    }
                }).collect_view()}
                <button type="submit" class="button">"Save options"</button>
            </ActionForm>
        </section>
    }
}

/// Every variant in one table: SKU, price, compare-at price, stock, image, sold or not, and
/// order; "Set all" fills every price or stock at once.
#[component]
fn VariantsForm(
    product: ProductDetail,
    action: ServerAction<SaveProductVariants>,
) -> impl IntoView {
    let err = action_error(action);
    let saved = Signal::derive(move || action.value().get().is_some_and(|r| r.is_ok()));
    let images = product.images.clone();
    let currency = product.currency.clone();
    view! {
        <section class="card" aria-labelledby="variants-heading">
            <h2 id="variants-heading">"Variants"</h2>
            <ActionForm action=action attr:class="form" attr:novalidate=true>
                <FormError error=Signal::derive(move || err.get().filter(|e| !matches!(e, crate::error::ApiError::Validation(_))))/>
                {move || {
                    // One summary at the top, so a problem in row 60 is not missed.
                    err.get().and_then(|e| match e {
                        crate::error::ApiError::Validation(fields) if !fields.is_empty() => Some(fields),
                        _ => None,
                    }).map(|fields| view! {
                        <div class="notice error" role="alert">
                            <p>"Nothing was saved. Fix these and save again:"</p>
                            <ul>{fields.into_iter().map(|(k, m)| {
                                let row = k.split('.').nth(1).and_then(|n| n.parse::<usize>().ok()).map(|n| format!("Row {}: ", n + 1)).unwrap_or_default();
                                view! { <li>{format!("{row}{m}")}</li> }
                            }).collect_view()}</ul>
                        </div>
                    })
                }}
                <Show when=move || saved.get()>
                    <div class="notice ok" role="status">"Variants saved."</div>
                </Show>
                <input type="hidden" name="id" value=product.id.to_string()/>
                <div class="row">
                    <Field label=format!("Set every price to ({currency})") name="bulk_price" hint="Optional: fills every row's price." error=field_error(err, "bulk_price")/>
                    <Field label="Set every stock to" name="bulk_stock" kind="number" hint="Optional: fills every row's stock and tracks it." error=field_error(err, "bulk_stock")/>
                </div>
                <div class="table-scroll">
                <table class="table variant-table">
                    <thead><tr>
                        <th scope="col">"Variant"</th><th scope="col">"Sold"</th><th scope="col">"SKU"</th>
                        <th scope="col">{format!("Price ({currency})")}</th><th scope="col">"Compare-at"</th>
                        <th scope="col">"Track"</th><th scope="col">"Stock"</th><th scope="col">"Image"</th><th scope="col">"Order"</th>
                    </tr></thead>
                    <tbody>
                        {product.variants.into_iter().enumerate().map(|(i, v)| {
                            let name = super::variant_title(&v.options);
                            let vid = v.id.to_string();
                            let label = |what: &str| format!("{what} of {name}");
                            let images = images.clone();
                            view! {
                                <tr>
                                    <th scope="row">{name.clone()}<input type="hidden" name="variant[]" value=vid.clone()/></th>
                                    <td><input type="checkbox" name="enabled[]" value=vid.clone() checked=v.enabled aria-label=label("Sell")/></td>
                                    <td><input name="sku[]" value=v.sku.clone() size="10" aria-label=label("SKU")/></td>
                                    <td><input name="price[]" value=v.price.clone() size="8" inputmode="decimal" aria-label=label("Price")/></td>
                                    <td><input name="compare_at_price[]" value=v.compare_at_price.clone() size="8" inputmode="decimal" aria-label=label("Compare-at price")/></td>
                                    <td><input type="checkbox" name="track[]" value=vid.clone() checked=v.track_stock aria-label=label("Track stock")/></td>
                                    <td><input name="stock[]" type="number" min="0" value=v.stock.to_string() size="5" aria-label=label("Stock")/></td>
                                    <td>
                                        <select name="image[]" aria-label=label("Image")>
                                            <option value="" selected=v.image_id.is_none()>"Product images"</option>
                                            {images.into_iter().enumerate().map(|(n, img)| {
                                                let chosen = v.image_id.map(|x| x.to_string()) == Some(img.id.to_string());
                                                view! { <option value=img.id.to_string() selected=chosen>{format!("Image {}", n + 1)}</option> }
                                            }).collect_view()}
                                        </select>
                                    </td>
                                    <td><input name="position[]" type="number" value=(i + 1).to_string() size="3" aria-label=label("Order")/></td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
                </div>
                <p class="hint">"Untick Sold for a combination you don't offer: shoppers see it as unavailable. Change the Order numbers to reorder."</p>
                <button type="submit" class="button primary">"Save variants"</button>
            </ActionForm>
        </section>
    }
}

#[component]
pub fn CategoriesPage() -> impl IntoView {
    let create = ServerAction::<CreateCategory>::new();
    let rename = ServerAction::<RenameCategory>::new();
    let mover = ServerAction::<MoveCategory>::new();
    let delete = ServerAction::<DeleteCategory>::new();
    let list = Resource::new(
        move || {
            (
                create.version().get(),
                rename.version().get(),
                mover.version().get(),
                delete.version().get(),
            )
        },
        |_| list_categories(),
    );
    let create_err = action_error(create);
    let rename_err = action_error(rename);
    view! {
        <PageTitle title="Categories"/>
        <h1>"Categories"</h1>
        <ActionForm action=create attr:class="form card inline-form">
            <Field label="New category" name="name" error=field_error(create_err, "name")/>
            <button type="submit" class="button primary">"Add category"</button>
        </ActionForm>
        <FormError error=Signal::derive(move || rename_err.get())/>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Err(e) => view! { <p class="notice error">{e.to_string()}</p> }.into_any(),
                    Ok(cats) if cats.is_empty() => view! { <p class="empty">"No categories yet."</p> }.into_any(),
                    Ok(cats) => view! {
                        <ul class="category-list">
                            {cats.into_iter().map(|c| view! { <CategoryRow c rename mover delete/> }).collect_view()}
                        </ul>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn ImportExportPage() -> impl IntoView {
    let import = ServerAction::<ImportCatalog>::new();
    let err = action_error(import);
    // A file chosen or dropped is read into the paste box (its encoding detected), so the
    // merchant sees what will be imported and can still correct it before importing.
    let csv_box = NodeRef::<leptos::html::Textarea>::new();
    let (file_note, set_file_note) = signal(None::<String>);
    #[cfg(feature = "hydrate")]
    let read_file = move |file: web_sys::File| {
        leptos::task::spawn_local(async move {
            let name = file.name();
            let bytes = match wasm_bindgen_futures::JsFuture::from(file.array_buffer()).await {
                Ok(buffer) => web_sys::js_sys::Uint8Array::new(&buffer).to_vec(),
                Err(_) => {
                    set_file_note.set(Some(format!("{name} could not be read.")));
                    return;
                }
            };
            let (text, encoding) = super::encoding::decode(&bytes);
            if let Some(area) = csv_box.get() {
                area.set_value(&text);
            }
            let rows = match text.lines().count().saturating_sub(1) {
                1 => "1 row".to_string(),
                n => format!("{n} rows"),
            };
            set_file_note.set(Some(format!(
                "Read {name} ({encoding}, {rows}). Check it below, then import."
            )));
        });
    };
    let on_file = move |ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            if let Some(file) = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
                .and_then(|i| i.files())
                .and_then(|f| f.get(0))
            {
                read_file(file);
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (ev, set_file_note);
    };
    let on_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        #[cfg(feature = "hydrate")]
        if let Some(file) = ev
            .data_transfer()
            .and_then(|d| d.files())
            .and_then(|f| f.get(0))
        {
            read_file(file);
        }
    };
    let query = use_query_map();
    let upload_error = move || query.read().get("import_error");
    view! {
        <PageTitle title="Import and export"/>
        <h1>"Import and export"</h1>
        <section class="card" aria-labelledby="foreign-heading">
            <h2 id="foreign-heading">"Move your catalog from Shopify or WooCommerce"</h2>
            <p>"Upload the product export as it is: products, variants, prices, stock, categories and images come across. "
               "You see what will be created or updated before anything is written; importing the same file again updates instead of duplicating."</p>
            <ul class="hint">
                <li>"Shopify: Products → Export → all products, \"CSV for Excel, Numbers, or other spreadsheet programs\"."</li>
                <li>"WooCommerce: Products → Export → all columns, all product types (in English)."</li>
            </ul>
            {move || upload_error().map(|m| view! { <p class="notice error" role="alert">{m}</p> })}
            <form class="form" method="post" action="/dashboard/import/upload" enctype="multipart/form-data">
                <fieldset class="field">
                    <legend>"The file comes from"</legend>
                    <div class="field check">
                        <input type="radio" id="source-shopify" name="source" value="shopify" checked=true/>
                        <label for="source-shopify">"Shopify"</label>
                    </div>
                    <div class="field check">
                        <input type="radio" id="source-woocommerce" name="source" value="woocommerce"/>
                        <label for="source-woocommerce">"WooCommerce"</label>
                    </div>
                </fieldset>
                <div class="field">
                    <label for="f-import-file">"Product export (.csv)"</label>
                    <input id="f-import-file" type="file" name="file" accept=".csv,text/csv" required/>
                </div>
                <button type="submit" class="button primary">"Upload and preview"</button>
            </form>
        </section>
        <section class="card">
            <h2>"Export"</h2>
            <p>"Download every product as a CSV file you can open in a spreadsheet."</p>
            <a class="button" href="/dashboard/catalog/export.csv" download="catalog.csv">"Download CSV"</a>
        </section>
        <section class="card">
            <h2>"Import"</h2>
            <p>"Columns: " <code>{super::CSV_COLUMNS.join(",")}</code>
               ". Rows whose SKU matches a product update it; other rows create products. "
               "Categories are separated by | and created when new. If any row has a problem, nothing is imported. "
               "One import takes up to 10,000 rows (5 MB): import a bigger catalog in parts."</p>
            <ActionForm action=import attr:class="form">
                {move || import.value().get().and_then(Result::ok).map(|r| view! {
                    <div class="notice ok" role="status">{format!("Imported: {} created, {} updated.", r.created, r.updated)}</div>
                })}
                <FormError error=Signal::derive(move || err.get().filter(|e| !matches!(e, crate::error::ApiError::Validation(_))))/>
                {move || field_error(err, "csv").get().map(|m| view! { <pre class="notice error" role="alert">{m}</pre> })}
                <div class="field">
                    <label for="f-csv-file">"Choose a CSV file"</label>
                    <input id="f-csv-file" type="file" accept=".csv,text/csv,text/plain" on:change=on_file
                        aria-describedby="f-csv-file-hint"/>
                    <p class="hint" id="f-csv-file-hint">"UTF-8 or what Excel saves (Windows-1252, Unicode text). Or drop the file on the box below."</p>
                    {move || file_note.get().map(|m| view! { <p class="notice ok" role="status" data-testid="csv-file-note">{m}</p> })}
                </div>
                <div class="field">
                    <label for="f-csv">"Paste the CSV here"</label>
                    <textarea id="f-csv" name="csv" rows="10" required node_ref=csv_box
                        on:dragover=|ev: leptos::ev::DragEvent| ev.prevent_default() on:drop=on_drop></textarea>
                </div>
                <button type="submit" class="button primary">"Import"</button>
            </ActionForm>
        </section>
    }
}

/// An uploaded export: what it would do (nothing written yet) and the button that does it;
/// once imported, what it did and how its images are coming along.
#[component]
pub fn ImportPreviewPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").and_then(|v| v.parse::<Uuid>().ok());
    let confirm = ServerAction::<ConfirmImport>::new();
    let retry = ServerAction::<RetryImportImage>::new();
    let tick = RwSignal::new(0u32);
    let preview = Resource::new(
        move || {
            (
                id(),
                confirm.version().get(),
                retry.version().get(),
                tick.get(),
            )
        },
        |(id, ..)| async move {
            match id {
                Some(id) => import_preview(id).await,
                None => Err(crate::error::ApiError::NotFound),
            }
        },
    );
    // While images are still being fetched, look again every two seconds.
    #[cfg(feature = "hydrate")]
    {
        let handle = set_interval_with_handle(
            move || {
                let waiting = preview
                    .get_untracked()
                    .and_then(Result::ok)
                    .is_some_and(|p| p.images_done + p.images_failed < p.images_total);
                if waiting {
                    tick.update(|t| *t += 1);
                }
            },
            std::time::Duration::from_secs(2),
        );
        if let Ok(handle) = handle {
            on_cleanup(move || handle.clear());
        }
    }
    let err = action_error(confirm);
    view! {
        <PageTitle title="Import preview"/>
        <p><a href="/dashboard/import">"← Import and export"</a></p>
        <Suspense fallback=|| view! { <p>"Reading the file…"</p> }>
            {move || Suspend::new(async move {
                match preview.await {
                    Err(crate::error::ApiError::NotFound) => view! { <crate::ui::NotFound/> }.into_any(),
                    Err(e) => view! { <p class="notice error">{e.to_string()}</p> }.into_any(),
                    Ok(p) if p.confirmed => view! { <ImportOutcome p retry/> }.into_any(),
                    Ok(p) => {
                        let (creates, updates, variants) = (p.creates, p.updates, p.variants);
                        let count = creates + updates;
                        let unlisted = count.saturating_sub(p.products.len());
                        let pid = p.id.to_string();
                        view! {
                            <h1>{format!("Preview: {} import", p.source)}</h1>
                            <p class="muted">{p.filename.clone()}</p>
                            {if p.errors.is_empty() {
                                view! {
                                    <div class="notice ok" role="status" data-testid="import-summary">
                                        {format!("Nothing has been written yet. Importing will create {creates} and update {updates} products ({variants} variants), and fetch {} images.", p.images_planned)}
                                    </div>
                                    {(!p.new_categories.is_empty()).then(|| view! {
                                        <p>{format!("New categories: {}.", p.new_categories.join(", "))}</p>
                                    })}
                                    <ActionForm action=confirm attr:class="form">
                                        <FormError error=Signal::derive(move || err.get().filter(|e| !matches!(e, crate::error::ApiError::Validation(_))))/>
                                        {move || field_error(err, "file").get().map(|m| view! { <pre class="notice error" role="alert">{m}</pre> })}
                                        <input type="hidden" name="id" value=pid/>
                                        <button type="submit" class="button primary">{format!("Import {count} products")}</button>
                                    </ActionForm>
                                    <div class="table-scroll">
                                    <table class="table">
                                        <thead><tr><th scope="col">"Product"</th><th scope="col">"Action"</th><th scope="col">"Variants"</th><th scope="col">"From"</th></tr></thead>
                                        <tbody>
                                            {p.products.into_iter().map(|x| view! {
                                                <tr>
                                                    <td>{x.title}<br/><span class="muted">{x.slug}</span></td>
                                                    <td>{if x.action == "create" { "Create" } else { "Update" }}</td>
                                                    <td>{x.variants}</td>
                                                    <td>{x.price}</td>
                                                </tr>
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                    </div>
                                    {(unlisted > 0).then(|| view! {
                                        <p class="muted">{format!("…and {unlisted} more products.")}</p>
                                    })}
                                }.into_any()
                            } else {
                                view! {
                                    <div class="notice error" role="alert" data-testid="import-errors">
                                        <p>{format!("Nothing can be imported until these {} problems are fixed in the file; then upload it again.", p.errors_total)}</p>
                                        <ul>
                                            {p.errors.iter().map(|e| view! { <li>{format!("Line {}: {}", e.line, e.message)}</li> }).collect_view()}
                                        </ul>
                                        {(p.errors_total > p.errors.len()).then(|| view! {
                                            <p>{format!("The first {} are listed.", p.errors.len())}</p>
                                        })}
                                    </div>
                                }.into_any()
                            }}
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
fn ImportOutcome(p: super::ImportPreview, retry: ServerAction<RetryImportImage>) -> impl IntoView {
    let report = p.report.clone();
    let (done, failed, total) = (p.images_done, p.images_failed, p.images_total);
    view! {
        <h1>{format!("{} import", p.source)}</h1>
        {report.map(|r| view! {
            <div class="notice ok" role="status" data-testid="import-report">
                {format!("Imported: {} created, {} updated.", r.created, r.updated)}
                " " <a href="/dashboard/products">"See your products"</a>
            </div>
        })}
        <section class="card" aria-labelledby="images-heading">
            <h2 id="images-heading">"Images"</h2>
            <p data-testid="image-progress">{format!("{done} of {total} images fetched, {failed} failed.")}</p>
            {(failed > 0).then(|| view! {
                <ul class="image-failures">
                    {p.images.into_iter().filter(|i| i.status == "failed").map(|i| {
                        let iid = i.id.to_string();
                        view! {
                            <li>
                                <strong>{i.product}</strong>": " <span class="muted">{i.url}</span>
                                <br/>{i.error.unwrap_or_default()}
                                <ActionForm action=retry attr:class="inline-form">
                                    <input type="hidden" name="id" value=iid/>
                                    <button type="submit" class="button">"Retry"</button>
                                </ActionForm>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            })}
        </section>
    }
}

#[component]
fn ImageRowForms(
    img: crate::media::ImageView,
    alt: ServerAction<UpdateImageAlt>,
    mover: ServerAction<MoveImage>,
    remove: ServerAction<DeleteImage>,
) -> impl IntoView {
    let iid = img.id.to_string();
    let (a, b, c, d) = (iid.clone(), iid.clone(), iid.clone(), iid.clone());
    let input_id = format!("alt-{iid}");
    view! {
        <li>
            <img src=img.thumb_src.clone() alt=img.alt.clone() width="96" height="96"/>
            <ActionForm action=alt attr:class="inline-form">
                <input type="hidden" name="id" value=a/>
                <label for=input_id.clone()>"Description (alt text)"</label>
                <input id=input_id name="alt" value=img.alt.clone()/>
                <button type="submit" class="button">"Save"</button>
            </ActionForm>
            <ActionForm action=mover>
                <input type="hidden" name="id" value=b/>
                <input type="hidden" name="direction" value="up"/>
                <button type="submit" class="button" aria-label="Move earlier">"↑"</button>
            </ActionForm>
            <ActionForm action=mover>
                <input type="hidden" name="id" value=c/>
                <input type="hidden" name="direction" value="down"/>
                <button type="submit" class="button" aria-label="Move later">"↓"</button>
            </ActionForm>
            <ActionForm action=remove>
                <input type="hidden" name="id" value=d/>
                <crate::ui::ConfirmSubmit label="Remove" confirm="Yes, remove it" aria_label="Remove this image"
                    question="Remove this image from the product?"/>
            </ActionForm>
        </li>
    }
}

#[component]
fn CategoryRow(
    c: Category,
    rename: ServerAction<RenameCategory>,
    mover: ServerAction<MoveCategory>,
    delete: ServerAction<DeleteCategory>,
) -> impl IntoView {
    let cid = c.id.to_string();
    let (a, b, cc, d) = (cid.clone(), cid.clone(), cid.clone(), cid.clone());
    let input_id = format!("cat-{cid}");
    let (up, down, del) = (
        format!("Move {} up", c.name),
        format!("Move {} down", c.name),
        format!("Delete {}", c.name),
    );
    let ask = format!(
        "Delete the category {}? Its products stay in your shop.",
        c.name
    );
    let count = format!(
        "{} product{}",
        c.product_count,
        if c.product_count == 1 { "" } else { "s" }
    );
    view! {
        <li class="card category-row">
            <ActionForm action=rename attr:class="inline-form">
                <input type="hidden" name="id" value=a/>
                <label class="visually-hidden" for=input_id.clone()>"Name"</label>
                <input id=input_id name="name" value=c.name.clone()/>
                <button type="submit" class="button">"Rename"</button>
            </ActionForm>
            <span class="muted">{count}</span>
            <ActionForm action=mover>
                <input type="hidden" name="id" value=b/>
                <input type="hidden" name="direction" value="up"/>
                <button type="submit" class="button" aria-label=up>"↑"</button>
            </ActionForm>
            <ActionForm action=mover>
                <input type="hidden" name="id" value=cc/>
                <input type="hidden" name="direction" value="down"/>
                <button type="submit" class="button" aria-label=down>"↓"</button>
            </ActionForm>
            <ActionForm action=delete>
                <input type="hidden" name="id" value=d/>
                <crate::ui::ConfirmSubmit label="Delete" confirm="Yes, delete it" aria_label=del
                    question=ask/>
            </ActionForm>
        </li>
    }
}
