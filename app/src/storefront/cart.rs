//! The shopper's cart: a signed cookie per shop (so it works with JavaScript off and survives
//! reloads), holding only product ids and quantities. Prices are looked up at every render and
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

/// `Set-Cookie` value that stores (or, when empty, clears) the cart.
pub fn cookie_header(
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
    product: Uuid,
    #[serde(default = "one")]
    quantity: i32,
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
    let mut items = read(&state, &headers, &shop);
    let current = items
        .iter()
        .find(|(id, _)| *id == form.product)
        .map_or(0, |(_, q)| *q);
    change(
        &state,
        &shop,
        &mut items,
        form.product,
        current + form.quantity.max(1),
    )
    .await
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
        // Only active products of this shop; the quantity is capped by tracked stock.
        let row: Option<(bool, i32)> = sqlx::query_as(
            "select p.track_stock, p.stock from products p join shops s on s.id = p.shop_id
             where s.slug = $1 and p.id = $2 and p.status = 'active'",
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
    if let Some(c) = cookie_header(state, shop, items) {
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
    let rows: Vec<(Uuid, String, String, i64, bool, i32, String)> = sqlx::query_as(
        "select p.id, p.title, p.slug, p.price_minor, p.track_stock, p.stock, s.currency
         from products p join shops s on s.id = p.shop_id
         where s.slug = $1 and p.id = any($2) and p.status = 'active'",
    )
    .bind(shop)
    .bind(&ids)
    .fetch_all(&state.pool)
    .await?;
    let currency = rows.first().map(|r| r.6.clone());
    let mut total = 0i64;
    let mut lines = Vec::new();
    for (id, qty) in items {
        if let Some((_, title, slug, price, track, stock, cur)) = rows.iter().find(|r| r.0 == *id) {
            let line_total = price * i64::from(*qty);
            total += line_total;
            lines.push(super::CartLine {
                product_id: *id,
                title: title.clone(),
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
