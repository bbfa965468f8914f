//! The shopper's cart: a signed cookie per shop (so it works with JavaScript off and survives
//! reloads), holding only variant ids and quantities (a product without options has one
//! variant; for products from before variants, and new ones, its id is the product's). Prices are looked up at every render and
//! at checkout, never taken from the cookie.

use crate::error::{AppError, AppResult};
use crate::state::AppState;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, Key, SameSite, SignedCookieJar};
use secrecy::ExposeSecret;
use serde::Deserialize;
use uuid::Uuid;

pub const MAX_LINES: usize = 50;

fn key(state: &AppState) -> Key {
    // 64 bytes derived from the JWT secret (≥ 32 bytes, checked by Config) for this purpose only.
    use sha2::Digest;
    let digest = sha2::Sha512::digest(
        format!("bizmaat-cart:{}", state.config.jwt_secret.expose_secret()).as_bytes(),
    );
    Key::from(digest.as_slice())
}

fn cookie_name(shop: &str) -> String {
    format!("bz_cart_{}", shop.replace('-', "_"))
}

pub fn decode(text: &str) -> Vec<(Uuid, i32)> {
    text.split('|')
        .filter_map(|part| {
            let (id, qty) = part.split_once(':')?;
            Some((
                id.parse().ok()?,
                qty.parse::<i32>().ok().filter(|q| (1..=99).contains(q))?,
            ))
        })
        .take(MAX_LINES)
        .collect()
}

pub fn encode(items: &[(Uuid, i32)]) -> String {
    items
        .iter()
        .map(|(id, q)| format!("{id}:{q}"))
        .collect::<Vec<_>>()
        .join("|")
}

/// The cart for this shop from request headers (an unsigned or tampered cookie reads as empty).
pub fn read(state: &AppState, headers: &HeaderMap, shop: &str) -> Vec<(Uuid, i32)> {
    let jar = SignedCookieJar::from_headers(headers, key(state));
    jar.get(&cookie_name(shop))
        .map(|c| decode(c.value()))
        .unwrap_or_default()
}

/// `Set-Cookie` values that store (or, when empty, clear) the cart and its item count.
pub fn cookie_headers(
    state: &AppState,
    shop: &str,
    items: &[(Uuid, i32)],
) -> Vec<axum::http::HeaderValue> {
    let total: i32 = items.iter().map(|(_, q)| q).sum();
    let mut count = Cookie::new(super::count_cookie_name(shop), total.to_string());
    count.set_path("/");
    count.set_same_site(SameSite::Lax);
    count.set_secure(state.config.cookie_secure);
    if items.is_empty() {
        count.make_removal();
    } else {
        count.set_max_age(time::Duration::days(30));
    }
    let count = axum::http::HeaderValue::from_str(&count.to_string()).ok();
    cookie_header(state, shop, items)
        .into_iter()
        .chain(count)
        .collect()
}

fn cookie_header(
    state: &AppState,
    shop: &str,
    items: &[(Uuid, i32)],
) -> Option<axum::http::HeaderValue> {
    let mut cookie = Cookie::new(cookie_name(shop), encode(items));
    // Path=/ (the name already carries the shop): after hydration the cart page loads its data
    // from /api/…, and a cookie scoped to /s/<shop> never reached that request, so the cart
    // looked empty until a reload.
    cookie.set_path("/");
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_secure(state.config.cookie_secure);
    if items.is_empty() {
        cookie.make_removal();
    } else {
        cookie.set_max_age(time::Duration::days(30));
    }
    let jar = SignedCookieJar::new(key(state)).add(cookie);
    let res = jar.into_response();
    res.headers().get(axum::http::header::SET_COOKIE).cloned()
}

#[derive(Deserialize)]
pub struct CartForm {
    /// Adding: the product. Updating: the cart line (a variant id).
    product: Uuid,
    #[serde(default = "one")]
    quantity: i32,
    /// Adding: the variant chosen (by the picker with JavaScript, or a `?variant=` link)…
    #[serde(default)]
    variant: Option<String>,
    /// …or the option values chosen in the form without JavaScript.
    #[serde(default)]
    o1: Option<String>,
    #[serde(default)]
    o2: Option<String>,
    #[serde(default)]
    o3: Option<String>,
}

fn one() -> i32 {
    1
}

/// `POST /s/{shop}/cart/add`: adds to the quantity already in the cart.
pub async fn add(
    State(state): State<AppState>,
    Path(shop): Path<String>,
    headers: HeaderMap,
    Form(form): Form<CartForm>,
) -> Result<Response, AppError> {
    let variant = match choose_variant(&state, &shop, &form).await? {
        Ok(id) => id,
        Err(back) => return Ok(Redirect::to(&back).into_response()),
    };
    let mut items = read(&state, &headers, &shop);
    let current = items
        .iter()
        .find(|(id, _)| *id == variant)
        .map_or(0, |(_, q)| *q);
    change(
        &state,
        &shop,
        &mut items,
        variant,
        current + form.quantity.max(1),
    )
    .await
}

#[derive(sqlx::FromRow)]
struct Choice {
    id: Uuid,
    options: Vec<String>,
    enabled: bool,
    slug: String,
}

/// The variant an add-to-cart form means: the one it names, or the one with the option values
/// it sends, or the product's only variant. `Err` is where to send the shopper instead (back to
/// the product page, saying what to choose).
async fn choose_variant(
    state: &AppState,
    shop: &str,
    form: &CartForm,
) -> AppResult<Result<Uuid, String>> {
    let variants: Vec<Choice> = sqlx::query_as(
        "select v.id, v.options, v.enabled, p.slug from product_variants v
         join products p on p.id = v.product_id join shops s on s.id = p.shop_id
         where s.slug = $1 and p.id = $2 and p.status = 'active'
         order by v.position, v.created_at, v.id",
    )
    .bind(shop)
    .bind(form.product)
    .fetch_all(&state.pool)
    .await?;
    let Some(first) = variants.first() else {
        return Err(AppError::NotFound);
    };
    let page = format!("/s/{shop}/p/{}", first.slug);
    let named = form
        .variant
        .as_deref()
        .filter(|v| !v.is_empty())
        .map(|v| v.parse::<Uuid>().map_err(|_| AppError::NotFound))
        .transpose()?;
    let values: Vec<String> = [&form.o1, &form.o2, &form.o3]
        .into_iter()
        .map_while(|v| v.clone().filter(|v| !v.is_empty()))
        .collect();
    let found = match named {
        Some(id) => variants.iter().find(|v| v.id == id),
        None if first.options.is_empty() => Some(first),
        None if values.len() < first.options.len() => {
            return Ok(Err(format!("{page}?error=choose")));
        }
        None => variants.iter().find(|v| v.options == values),
    };
    match found {
        Some(v) if v.enabled => Ok(Ok(v.id)),
        Some(v) => Ok(Err(format!("{page}?variant={}&error=unavailable", v.id))),
        None if named.is_some() => Err(AppError::NotFound),
        None => {
            let mut back = format!("{page}?error=unavailable");
            for (i, v) in values.iter().enumerate() {
                back.push_str(&format!("&o{}={}", i + 1, crate::links::encode_query(v)));
            }
            Ok(Err(back))
        }
    }
}

/// `POST /s/{shop}/cart/update`: sets the quantity; 0 removes the line.
pub async fn update(
    State(state): State<AppState>,
    Path(shop): Path<String>,
    headers: HeaderMap,
    Form(form): Form<CartForm>,
) -> Result<Response, AppError> {
    let mut items = read(&state, &headers, &shop);
    change(
        &state,
        &shop,
        &mut items,
        form.product,
        form.quantity.max(0),
    )
    .await
}

async fn change(
    state: &AppState,
    shop: &str,
    items: &mut Vec<(Uuid, i32)>,
    product: Uuid,
    quantity: i32,
) -> Result<Response, AppError> {
    let back = format!("/s/{shop}/cart");
    if quantity > 0 {
        // Only enabled variants of active products of this shop; the quantity is capped by
        // tracked stock.
        let row: Option<(bool, i32)> = sqlx::query_as(
            "select v.track_stock, v.stock from product_variants v
             join products p on p.id = v.product_id join shops s on s.id = p.shop_id
             where s.slug = $1 and v.id = $2 and p.status = 'active' and v.enabled",
        )
        .bind(shop)
        .bind(product)
        .fetch_optional(&state.pool)
        .await?;
        let (track, stock) = row.ok_or(AppError::NotFound)?;
        let capped = if track { quantity.min(stock) } else { quantity }.min(99);
        if capped <= 0 {
            return Ok(Redirect::to(&format!("{back}?error=sold_out")).into_response());
        }
        if let Some(line) = items.iter_mut().find(|(id, _)| *id == product) {
            line.1 = capped;
        } else if items.len() < MAX_LINES {
            items.push((product, capped));
        }
    } else {
        items.retain(|(id, _)| *id != product);
    }
    let mut res = Redirect::to(&back).into_response();
    for c in cookie_headers(state, shop, items) {
        res.headers_mut().append(axum::http::header::SET_COOKIE, c);
    }
    Ok(res)
}

pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/s/{shop}/cart/add", axum::routing::post(add))
        .route("/s/{shop}/cart/update", axum::routing::post(update))
}

/// Cart lines priced from the database, for the cart page.
pub async fn priced(
    state: &AppState,
    shop: &str,
    items: &[(Uuid, i32)],
) -> AppResult<super::CartView> {
    let ids: Vec<Uuid> = items.iter().map(|(id, _)| *id).collect();
    #[allow(clippy::type_complexity)]
    let rows: Vec<(Uuid, String, String, i64, bool, i32, String, Vec<String>)> = sqlx::query_as(
        "select v.id, p.title, p.slug, v.price_minor, v.track_stock, v.stock, s.currency, v.options
         from product_variants v join products p on p.id = v.product_id join shops s on s.id = p.shop_id
         where s.slug = $1 and v.id = any($2) and p.status = 'active' and v.enabled",
    )
    .bind(shop)
    .bind(&ids)
    .fetch_all(&state.pool)
    .await?;
    let currency = rows.first().map(|r| r.6.clone());
    let mut total = 0i64;
    let mut lines = Vec::new();
    for (id, qty) in items {
        if let Some((_, title, slug, price, track, stock, cur, options)) =
            rows.iter().find(|r| r.0 == *id)
        {
            let line_total = price * i64::from(*qty);
            total += line_total;
            lines.push(super::CartLine {
                product_id: *id,
                title: if options.is_empty() {
                    title.clone()
                } else {
                    format!("{title} ({})", crate::catalog::variant_title(options))
                },
                variant_title: crate::catalog::variant_title(options),
                slug: slug.clone(),
                quantity: *qty,
                max_quantity: if *track { (*stock).clamp(0, 99) } else { 99 },
                unit_price: crate::money::format_money(*price, cur),
                line_total: crate::money::format_money(line_total, cur),
            });
        }
    }
    Ok(super::CartView {
        total: currency
            .as_deref()
            .map(|c| crate::money::format_money(total, c))
            .unwrap_or_default(),
        lines,
        idempotency_key: Uuid::now_v7().to_string(),
    })
}
