//! Checkout and order status. Every checkout is one transaction in three steps: lock and
//! check (the product rows are locked in id order, so concurrent checkouts cannot deadlock;
//! prices, titles and tracked stock are read under that lock), write (stock, customer, order,
//! lines, history) and notify (the owner's email through the outbox, the storefront cache).
//! The idempotency key makes a repeated submit of the same cart return the first order.

use super::{OrderEvent, OrderLine, OrderStatus, OrderView};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::links::normalize_phone;
use crate::money::format_money;
use crate::state::AppState;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use std::collections::{BTreeMap, BTreeSet};
use time::OffsetDateTime;
use uuid::Uuid;

pub struct CheckoutInput {
    pub name: String,
    pub phone: String,
    pub address: String,
    pub note: String,
    pub idempotency_key: String,
    /// (product id, quantity); prices never come from the browser.
    pub items: Vec<(Uuid, i32)>,
}

/// A checkout that passed validation.
struct ValidCheckout {
    name: String,
    /// E.164.
    phone: String,
    address: String,
    note: String,
    key: String,
    /// Quantity per product.
    items: BTreeMap<Uuid, i32>,
}

impl ValidCheckout {
    /// What a repeated submit must match to be answered with the order its key made: the lines,
    /// the quantities and everything the shopper typed. Each field is length-prefixed, so two
    /// different carts never encode alike.
    fn cart_hash(&self) -> Vec<u8> {
        let mut h = Sha256::new();
        h.update(b"checkout-v1");
        for field in [&self.name, &self.phone, &self.address, &self.note] {
            h.update((field.len() as u64).to_be_bytes());
            h.update(field.as_bytes());
        }
        h.update((self.items.len() as u64).to_be_bytes());
        for (id, qty) in &self.items {
            h.update(id.as_bytes());
            h.update(qty.to_be_bytes());
        }
        h.finalize().to_vec()
    }
}

/// Answer to a key that already made an order from another cart or for another customer.
pub const KEY_REUSED: &str = "This checkout form was already used for a different order. Reload the cart page and place your order again.";

/// Written into an order's history when [`release_stale_orders`] cancels it.
pub const RELEASED_NOTE: &str = "Cancelled automatically: it was not confirmed within the hold time, so its items went back on sale.";

fn validate(input: &CheckoutInput) -> Result<ValidCheckout, FieldErrors> {
    let mut errors = FieldErrors::new();
    let name = input.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        errors.insert("name".into(), "Enter your name.".into());
    }
    let phone = match normalize_phone(&input.phone) {
        Ok(Some(p)) => p,
        Ok(None) => {
            errors.insert(
                "phone".into(),
                "Enter your WhatsApp number so the shop can confirm the order.".into(),
            );
            String::new()
        }
        Err(m) => {
            errors.insert("phone".into(), m);
            String::new()
        }
    };
    let address = input.address.trim().to_string();
    if address.is_empty() || address.chars().count() > 500 {
        errors.insert("address".into(), "Enter the delivery address.".into());
    }
    let note = input.note.trim().chars().take(1000).collect::<String>();
    let key = input.idempotency_key.trim().to_string();
    if key.is_empty() || key.len() > 100 {
        errors.insert(
            "idempotency_key".into(),
            "This form has expired. Reload the page and try again.".into(),
        );
    }
    // Same product twice in one cart: add the quantities (saturating: the form is untrusted).
    let mut items = BTreeMap::new();
    for (id, qty) in &input.items {
        let total = items.entry(*id).or_insert(0i32);
        *total = total.saturating_add(*qty);
    }
    if items.is_empty() {
        errors.insert("items".into(), "Your cart is empty.".into());
    } else if input.items.iter().any(|(_, q)| *q < 1)
        || items.values().any(|q| !(1..=99).contains(q))
    {
        errors.insert(
            "items".into(),
            "Quantities must be between 1 and 99.".into(),
        );
    }
    if errors.is_empty() {
        Ok(ValidCheckout {
            name,
            phone,
            address,
            note,
            key,
            items,
        })
    } else {
        Err(errors)
    }
}

#[derive(sqlx::FromRow)]
struct CheckoutShop {
    id: Uuid,
    currency: String,
}

/// A variant locked for this checkout, with its product's title and status.
#[derive(sqlx::FromRow)]
struct LockedProduct {
    /// The variant's id (what the cart holds).
    id: Uuid,
    product_id: Uuid,
    product_title: String,
    options: Vec<String>,
    sku: Option<String>,
    price_minor: i64,
    track_stock: bool,
    stock: i32,
    status: String,
    enabled: bool,
}

impl LockedProduct {
    /// "Adire scarf (L / Indigo)", or the product's title when it has no options.
    fn title(&self) -> String {
        if self.options.is_empty() {
            self.product_title.clone()
        } else {
            format!(
                "{} ({})",
                self.product_title,
                crate::catalog::variant_title(&self.options)
            )
        }
    }
}

/// What the lock-and-check step found: the variants (in id order) and the order's total.
struct CheckedCart {
    products: Vec<LockedProduct>,
    total: i64,
}

struct PlacedOrder {
    id: Uuid,
    number: i32,
}

/// Who changed an order's status, as order history records it.
#[derive(Clone, Copy)]
enum Actor {
    Shopper,
    Merchant(Uuid),
    /// The server on its own (an unconfirmed order released after the hold time).
    System,
}

impl Actor {
    fn name(self) -> &'static str {
        match self {
            Actor::Shopper => "shopper",
            Actor::Merchant(_) => "merchant",
            Actor::System => "system",
        }
    }

    fn merchant_id(self) -> Option<Uuid> {
        match self {
            Actor::Merchant(id) => Some(id),
            Actor::Shopper | Actor::System => None,
        }
    }
}

/// Places an order on the shop with this slug. Returns the order's id.
#[tracing::instrument(skip_all, fields(shop = %shop_slug))]
pub async fn place_order(
    state: &AppState,
    shop_slug: &str,
    input: CheckoutInput,
) -> AppResult<Uuid> {
    let checkout = validate(&input).map_err(AppError::Validation)?;
    let shop: CheckoutShop = sqlx::query_as("select id, currency from shops where slug = $1")
        .bind(shop_slug)
        .fetch_optional(&state.pool)
        .await?
        .ok_or(AppError::NotFound)?;
    let hash = checkout.cart_hash();
    // A repeated submit makes nothing new, so it is answered before the limits count it.
    {
        let mut conn = state.pool.acquire().await?;
        if let Some(id) = earlier_order(&mut conn, shop.id, &checkout.key, &hash).await? {
            return Ok(id);
        }
    }
    state
        .limits
        .check_checkout_order(shop.id, &checkout.phone)?;
    let mut tx = state.pool.begin().await?;
    // Two submits with one key at the same moment: the second waits here until the first
    // commits, then finds its order instead of competing for the stock it just took.
    sqlx::query("select pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("checkout:{}:{}", shop.id, checkout.key))
        .execute(&mut *tx)
        .await?;
    if let Some(id) = earlier_order(&mut tx, shop.id, &checkout.key, &hash).await? {
        return Ok(id);
    }
    let cart = lock_and_check(&mut tx, shop.id, &checkout.items).await?;
    let placed = write_order(&mut tx, &shop, &checkout, &hash, &cart).await?;
    notify(&mut tx, &shop, &checkout, &cart, &placed).await?;
    tx.commit().await?;
    tracing::info!(shop_id = %shop.id, order_id = %placed.id, number = placed.number, "order placed");
    Ok(placed.id)
}

/// The order an earlier submit with this key made. The key alone is not enough: a different
/// cart or customer with a used key is refused (409) rather than shown someone else's order.
/// Orders from before cart hashes were stored match on the key, as they always did.
async fn earlier_order(
    conn: &mut PgConnection,
    shop_id: Uuid,
    key: &str,
    hash: &[u8],
) -> AppResult<Option<Uuid>> {
    let row: Option<(Uuid, Option<Vec<u8>>)> = sqlx::query_as(
        "select id, cart_hash from orders where shop_id = $1 and idempotency_key = $2",
    )
    .bind(shop_id)
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        None => Ok(None),
        Some((id, None)) => Ok(Some(id)),
        Some((id, Some(stored))) if stored == hash => Ok(Some(id)),
        Some(_) => Err(AppError::Conflict(KEY_REUSED.into())),
    }
}

/// Step 1: locks the cart's products of this shop and checks each can be sold in that
/// quantity. On any problem the transaction is dropped, so nothing is reserved.
async fn lock_and_check(
    tx: &mut PgConnection,
    shop_id: Uuid,
    items: &BTreeMap<Uuid, i32>,
) -> AppResult<CheckedCart> {
    let ids: Vec<Uuid> = items.keys().copied().collect();
    // Products first, then their variants, each in id order: every writer of variants locks in
    // this order (the variant summary trigger writes the product row), so none deadlock.
    sqlx::query(
        "select p.id from products p
         where p.shop_id = $1 and p.id in (select product_id from product_variants where shop_id = $1 and id = any($2))
         order by p.id for update",
    )
    .bind(shop_id)
    .bind(&ids)
    .execute(&mut *tx)
    .await?;
    let products: Vec<LockedProduct> = sqlx::query_as(
        "select v.id, v.product_id, p.title as product_title, v.options, v.sku, v.price_minor, v.track_stock,
                v.stock, p.status, v.enabled
         from product_variants v join products p on p.id = v.product_id
         where v.shop_id = $1 and v.id = any($2) order by v.id for update of v",
    )
    .bind(shop_id)
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    let mut problems = Vec::new();
    for (id, qty) in items {
        match products.iter().find(|p| p.id == *id) {
            None => problems.push(
                "An item in your cart is no longer sold here. Remove it and try again.".to_string(),
            ),
            Some(p) if p.status != "active" || !p.enabled => {
                problems.push(format!("{} is no longer available.", p.title()))
            }
            Some(p) if p.track_stock && p.stock <= 0 => {
                problems.push(format!("{} is sold out.", p.title()))
            }
            Some(p) if p.track_stock && p.stock < *qty => problems.push(format!(
                "Only {} of {} left; lower the quantity.",
                p.stock,
                p.title()
            )),
            Some(_) => {}
        }
    }
    if !problems.is_empty() {
        return Err(AppError::validation("items", problems.join(" ")));
    }
    let mut total: i64 = 0;
    for p in &products {
        total = p
            .price_minor
            .checked_mul(i64::from(items[&p.id]))
            .and_then(|line| total.checked_add(line))
            .ok_or_else(|| AppError::validation("items", "That order is too large."))?;
    }
    Ok(CheckedCart { products, total })
}

/// Step 2: takes the stock, records the customer, the order, its lines and its first status.
async fn write_order(
    tx: &mut PgConnection,
    shop: &CheckoutShop,
    checkout: &ValidCheckout,
    hash: &[u8],
    cart: &CheckedCart,
) -> AppResult<PlacedOrder> {
    let items = &checkout.items;
    // One statement for every tracked line (the rows are already locked).
    let (tracked_ids, tracked_qty): (Vec<Uuid>, Vec<i32>) = cart
        .products
        .iter()
        .filter(|p| p.track_stock)
        .map(|p| (p.id, items[&p.id]))
        .unzip();
    sqlx::query(
        "update product_variants v set stock = v.stock - t.qty, updated_at = now()
         from unnest($1::uuid[], $2::int[]) as t(id, qty) where v.id = t.id",
    )
    .bind(&tracked_ids)
    .bind(&tracked_qty)
    .execute(&mut *tx)
    .await?;
    // Anyone can type any number at checkout, so a checkout never replaces the name or address
    // a customer already has; it only fills them in when empty. The order keeps what was typed.
    let (customer_id, is_test): (Uuid, bool) = sqlx::query_as(
        "insert into customers (id, shop_id, phone, name, address) values ($1, $2, $3, $4, $5)
         on conflict (shop_id, phone) do update set
             name = case when customers.name = '' then excluded.name else customers.name end,
             address = case when customers.address = '' then excluded.address else customers.address end,
             updated_at = now()
         returning id, is_test",
    )
    .bind(Uuid::now_v7())
    .bind(shop.id)
    .bind(&checkout.phone)
    .bind(&checkout.name)
    .bind(&checkout.address)
    .fetch_one(&mut *tx)
    .await?;
    let number: i32 = sqlx::query_scalar(
        "update shops set next_order_number = next_order_number + 1 where id = $1 returning next_order_number - 1",
    )
    .bind(shop.id)
    .fetch_one(&mut *tx)
    .await?;
    let order_id = Uuid::now_v7();
    let inserted = sqlx::query(
        "insert into orders (id, shop_id, number, customer_id, currency, total_minor, customer_name, phone, address, note, idempotency_key, cart_hash, is_test)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(order_id)
    .bind(shop.id)
    .bind(number)
    .bind(customer_id)
    .bind(&shop.currency)
    .bind(cart.total)
    .bind(&checkout.name)
    .bind(&checkout.phone)
    .bind(&checkout.address)
    .bind(&checkout.note)
    .bind(&checkout.key)
    .bind(hash)
    // A test customer's orders are test orders (see the "Try your agent" playground).
    .bind(is_test)
    .execute(&mut *tx)
    .await;
    if let Err(e) = inserted {
        // The advisory lock above serialises one key's submits, so this is a last line only.
        return Err(match crate::error::constraint_violation(&e) {
            Some("orders_shop_id_idempotency_key_key") => AppError::Conflict(
                "This order was just placed from another window. Reload the page to see it.".into(),
            ),
            _ => e.into(),
        });
    }
    // All lines in one statement, priced from the locked rows. Each keeps a snapshot of the
    // product and variant titles, SKU and price, so later edits never change this order.
    let ids: Vec<Uuid> = cart.products.iter().map(|p| p.id).collect();
    let product_ids: Vec<Uuid> = cart.products.iter().map(|p| p.product_id).collect();
    let titles: Vec<&str> = cart
        .products
        .iter()
        .map(|p| p.product_title.as_str())
        .collect();
    let variant_titles: Vec<String> = cart
        .products
        .iter()
        .map(|p| crate::catalog::variant_title(&p.options))
        .collect();
    let skus: Vec<Option<String>> = cart.products.iter().map(|p| p.sku.clone()).collect();
    let prices: Vec<i64> = cart.products.iter().map(|p| p.price_minor).collect();
    let qtys: Vec<i32> = cart.products.iter().map(|p| items[&p.id]).collect();
    sqlx::query(
        "insert into order_lines (order_id, variant_id, product_id, title, variant_title, sku, unit_price_minor, quantity, line_total_minor)
         select $1, t.id, t.product_id, t.title, t.variant_title, t.sku, t.price, t.qty, t.price * t.qty
         from unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::int[])
              with ordinality as t(id, product_id, title, variant_title, sku, price, qty, ord)
         order by t.ord",
    )
    .bind(order_id)
    .bind(&ids)
    .bind(&product_ids)
    .bind(&titles)
    .bind(&variant_titles)
    .bind(&skus)
    .bind(&prices)
    .bind(&qtys)
    .execute(&mut *tx)
    .await?;
    record_transitions(
        tx,
        &[order_id],
        None,
        OrderStatus::New,
        Actor::Shopper,
        None,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(PlacedOrder {
        id: order_id,
        number,
    })
}

/// Step 3: the owner's email (through the outbox, so it is sent exactly when the order exists)
/// and a new catalog version, so cached storefront pages stop showing the old stock.
async fn notify(
    tx: &mut PgConnection,
    shop: &CheckoutShop,
    checkout: &ValidCheckout,
    cart: &CheckedCart,
    placed: &PlacedOrder,
) -> AppResult<()> {
    notify_merchant(tx, shop, checkout, cart, placed).await?;
    crate::shop::ssr::bump_catalog_version(tx, shop.id).await
}

/// Puts the tracked stock of these orders' lines back (cancelling, by the merchant or by the
/// hold-time sweep). Quantities are summed per variant first: one `update … from` applies only
/// one joined row per variant. Products are locked first, in id order, as checkout does.
async fn restock(conn: &mut PgConnection, order_ids: &[Uuid]) -> AppResult<()> {
    sqlx::query(
        "select p.id from products p
         where p.id in (select v.product_id from order_lines l join product_variants v on v.id = l.variant_id
                        where l.order_id = any($1))
         order by p.id for update",
    )
    .bind(order_ids)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "update product_variants v set stock = v.stock + t.qty, updated_at = now()
         from (select l.variant_id, o.shop_id, sum(l.quantity)::int as qty
               from order_lines l join orders o on o.id = l.order_id
               where l.order_id = any($1) and l.variant_id is not null
               group by l.variant_id, o.shop_id) t
         where v.id = t.variant_id and v.shop_id = t.shop_id and v.track_stock",
    )
    .bind(order_ids)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Takes a reopened order's tracked stock again, all or nothing: refused, naming the line, when
/// a product no longer has enough. Products are locked first, in id order, as checkout does.
async fn take_stock_again(conn: &mut PgConnection, order_id: Uuid) -> AppResult<()> {
    sqlx::query(
        "select p.id from products p
         where p.id in (select v.product_id from order_lines l join product_variants v on v.id = l.variant_id
                        where l.order_id = $1)
         order by p.id for update",
    )
    .bind(order_id)
    .execute(&mut *conn)
    .await?;
    let short: Option<(String, i32)> = sqlx::query_as(
        "select l.title, v.stock from product_variants v
         join (select variant_id, min(title) as title, sum(quantity)::int as qty
               from order_lines where order_id = $1 and variant_id is not null
               group by variant_id) l on l.variant_id = v.id
         where v.track_stock and v.stock < l.qty
         order by l.title limit 1",
    )
    .bind(order_id)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some((title, stock)) = short {
        return Err(AppError::validation(
            "status",
            format!(
                "Only {} of {title} left in stock, so this order cannot be reopened. Add stock or place a new order.",
                stock.max(0)
            ),
        ));
    }
    sqlx::query(
        "update product_variants v set stock = v.stock - l.qty, updated_at = now()
         from (select variant_id, sum(quantity)::int as qty from order_lines
               where order_id = $1 and variant_id is not null group by variant_id) l
         where v.id = l.variant_id and v.track_stock",
    )
    .bind(order_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One history entry per order for the same change.
async fn record_transitions(
    conn: &mut PgConnection,
    order_ids: &[Uuid],
    from: Option<OrderStatus>,
    to: OrderStatus,
    actor: Actor,
    note: Option<&str>,
    at: OffsetDateTime,
) -> AppResult<()> {
    sqlx::query(
        "insert into order_events (order_id, from_status, to_status, actor, merchant_id, note, created_at)
         select t.id, $2, $3, $4, $5, $6, $7 from unnest($1::uuid[]) with ordinality as t(id, ord)
         order by t.ord",
    )
    .bind(order_ids)
    .bind(from.map(OrderStatus::as_str))
    .bind(to.as_str())
    .bind(actor.name())
    .bind(actor.merchant_id())
    .bind(note)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// What the merchant says with a status change.
#[derive(Debug, Clone, Copy, Default)]
pub struct StatusNote<'a> {
    /// Why (cancelling): written into the order's history and, when told, to the customer.
    pub reason: &'a str,
    /// Tell the customer on WhatsApp (when the shop sends order updates there).
    pub notify: bool,
}

/// Moves an order along its status flow; cancelling puts tracked stock back, and reopening a
/// cancelled order (within [`super::REOPEN_DAYS`]) takes it again, or is refused in words
/// when the stock is no longer there.
pub async fn set_status(
    state: &AppState,
    shop_id: Uuid,
    merchant_id: Uuid,
    order_id: Uuid,
    to: &str,
    note: StatusNote<'_>,
) -> AppResult<()> {
    if note.reason.chars().count() > 500 {
        return Err(AppError::validation(
            "reason",
            "Keep the reason under 500 characters.",
        ));
    }
    let to = OrderStatus::parse(to).ok_or_else(|| {
        AppError::validation(
            "status",
            "Choose confirmed, shipped, delivered or cancelled.",
        )
    })?;
    let mut tx = state.pool.begin().await?;
    let from: String =
        sqlx::query_scalar("select status from orders where id = $1 and shop_id = $2 for update")
            .bind(order_id)
            .bind(shop_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(AppError::NotFound)?;
    let from = OrderStatus::parse(&from).ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!(
            "order {order_id} has unknown status {from:?}"
        ))
    })?;
    if !from.can_become(to) {
        return Err(AppError::validation(
            "status",
            format!("An order that is {from} cannot become {to}."),
        ));
    }
    let now = state.clock.now();
    // Counted from the cancellation itself (an internal note edited since must not restart it).
    let cancelled_at: Option<OffsetDateTime> = if from == OrderStatus::Cancelled {
        sqlx::query_scalar(
            "select max(created_at) from order_events where order_id = $1 and to_status = 'cancelled'",
        )
        .bind(order_id)
        .fetch_one(&mut *tx)
        .await?
    } else {
        None
    };
    if cancelled_at.is_some_and(|at| now - at > time::Duration::days(super::REOPEN_DAYS)) {
        return Err(AppError::validation(
            "status",
            format!(
                "This order was cancelled more than {} days ago, so it cannot be reopened. Place a new order instead.",
                super::REOPEN_DAYS
            ),
        ));
    }
    sqlx::query("update orders set status = $2, updated_at = $3 where id = $1")
        .bind(order_id)
        .bind(to.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
    if to == OrderStatus::Cancelled {
        restock(&mut tx, &[order_id]).await?;
        crate::shop::ssr::bump_catalog_version(&mut tx, shop_id).await?;
    }
    if from == OrderStatus::Cancelled {
        take_stock_again(&mut tx, order_id).await?;
        crate::shop::ssr::bump_catalog_version(&mut tx, shop_id).await?;
    }
    let history_note = match (to, note.reason.is_empty()) {
        (OrderStatus::Cancelled, false) => Some(format!("Reason: {}", note.reason)),
        (OrderStatus::New, _) if from == OrderStatus::Cancelled => {
            Some("Reopened; its items were taken from stock again.".to_string())
        }
        _ => None,
    };
    record_transitions(
        &mut tx,
        &[order_id],
        Some(from),
        to,
        Actor::Merchant(merchant_id),
        history_note.as_deref(),
        now,
    )
    .await?;
    crate::analytics::ssr::record_event(&mut tx, shop_id, "order_status_changed").await?;
    // Queued with the change (a row and a job, nothing sent here), when the shop asked for it.
    if note.notify {
        let reason =
            (to == OrderStatus::Cancelled && !note.reason.is_empty()).then_some(note.reason);
        crate::whatsapp::ssr::notify_order_status(
            state,
            &mut tx,
            shop_id,
            order_id,
            to.label(),
            reason,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct StaleOrder {
    id: Uuid,
    shop_id: Uuid,
}

/// Cancels unconfirmed (`new`) orders older than `max_age` at `now` that hold tracked stock,
/// and puts that stock back, so fake or forgotten orders cannot keep products sold out. Orders
/// holding no tracked stock are left for the merchant: cancelling them would free nothing.
/// Each release is written into the order's history with [`RELEASED_NOTE`]. Works in batches
/// and skips orders a merchant is changing at that moment (they are locked), so several
/// replicas may run it at once. Returns how many orders were released.
pub async fn release_stale_orders(
    pool: &PgPool,
    now: OffsetDateTime,
    max_age: time::Duration,
) -> AppResult<u64> {
    const BATCH: usize = 200;
    let cutoff = now - max_age;
    let mut released = 0u64;
    loop {
        let mut tx = pool.begin().await?;
        let stale: Vec<StaleOrder> = sqlx::query_as(
            "select o.id, o.shop_id from orders o
             where o.status = 'new' and o.created_at < $1
               and exists (select 1 from order_lines l join product_variants v on v.id = l.variant_id
                           where l.order_id = o.id and v.track_stock)
             order by o.created_at
             limit $2
             for update of o skip locked",
        )
        .bind(cutoff)
        .bind(BATCH as i64)
        .fetch_all(&mut *tx)
        .await?;
        if stale.is_empty() {
            break;
        }
        let ids: Vec<Uuid> = stale.iter().map(|o| o.id).collect();
        sqlx::query(
            "update orders set status = 'cancelled', updated_at = $2 where id = any($1) and status = 'new'",
        )
        .bind(&ids)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        restock(&mut tx, &ids).await?;
        record_transitions(
            &mut tx,
            &ids,
            Some(OrderStatus::New),
            OrderStatus::Cancelled,
            Actor::System,
            Some(RELEASED_NOTE),
            now,
        )
        .await?;
        let shops: BTreeSet<Uuid> = stale.iter().map(|o| o.shop_id).collect();
        for shop_id in shops {
            crate::shop::ssr::bump_catalog_version(&mut tx, shop_id).await?;
        }
        tx.commit().await?;
        released += ids.len() as u64;
        if ids.len() < BATCH {
            break;
        }
    }
    if released > 0 {
        tracing::info!(released, "released unconfirmed orders past the hold time");
    }
    Ok(released)
}

/// The sweep as the worker runs it: the hold from `ORDER_HOLD_HOURS` (0 turns it off), the
/// time from the app's clock.
pub async fn release_held_stock(state: &AppState) -> AppResult<u64> {
    match state.config.order_hold_hours {
        0 => Ok(0),
        hours => {
            release_stale_orders(
                &state.pool,
                state.clock.now(),
                time::Duration::hours(i64::from(hours)),
            )
            .await
        }
    }
}

#[derive(sqlx::FromRow)]
struct OrderRow {
    id: Uuid,
    number: i32,
    status: String,
    total_minor: i64,
    currency: String,
    customer_name: String,
    phone: String,
    address: String,
    note: String,
    internal_note: String,
    created_at: OffsetDateTime,
    shop_whatsapp: Option<String>,
    is_test: bool,
    time_zone: String,
}

#[derive(sqlx::FromRow)]
struct LineRow {
    product_id: Option<Uuid>,
    title: String,
    variant_title: String,
    sku: Option<String>,
    quantity: i32,
    unit_price_minor: i64,
    line_total_minor: i64,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    from_status: Option<String>,
    to_status: String,
    actor: String,
    note: Option<String>,
    created_at: OffsetDateTime,
}

/// One order of this shop, with lines and status history.
pub async fn get_order(state: &AppState, shop_id: Uuid, order_id: Uuid) -> AppResult<OrderView> {
    let o: OrderRow = sqlx::query_as(
        "select o.id, o.number, o.status, o.total_minor, o.currency, o.customer_name, o.phone, o.address, o.note,
                o.internal_note, o.created_at, s.whatsapp_number as shop_whatsapp, o.is_test,
                s.time_zone
         from orders o join shops s on s.id = o.shop_id where o.id = $1 and o.shop_id = $2",
    )
    .bind(order_id)
    .bind(shop_id)
    .fetch_optional(&state.pool)
    .await?
    .ok_or(AppError::NotFound)?;
    let lines: Vec<LineRow> = sqlx::query_as(
        "select product_id, title, variant_title, sku, quantity, unit_price_minor, line_total_minor
         from order_lines where order_id = $1 order by id",
    )
    .bind(order_id)
    .fetch_all(&state.pool)
    .await?;
    let events: Vec<EventRow> = sqlx::query_as(
        "select from_status, to_status, actor, note, created_at from order_events where order_id = $1 order by id",
    )
    .bind(order_id)
    .fetch_all(&state.pool)
    .await?;
    let zone = crate::platform::zone::Zone::named(&o.time_zone);
    let whatsapp = o
        .shop_whatsapp
        .map(|n| crate::links::whatsapp_link(&n, &format!("Hello! About my order #{}", o.number)));
    Ok(OrderView {
        id: o.id,
        number: o.number,
        status: o.status,
        total: format_money(o.total_minor, &o.currency),
        total_minor: o.total_minor,
        currency: o.currency.clone(),
        customer_name: o.customer_name,
        phone: o.phone,
        address: o.address,
        note: o.note,
        internal_note: o.internal_note,
        created_at: zone.rfc3339(o.created_at),
        time_zone: zone.name().to_string(),
        test: o.is_test,
        lines: lines
            .into_iter()
            .map(|l| OrderLine {
                product_id: l.product_id,
                title: l.title,
                variant_title: l.variant_title,
                sku: l.sku,
                quantity: l.quantity,
                unit_price: format_money(l.unit_price_minor, &o.currency),
                line_total: format_money(l.line_total_minor, &o.currency),
            })
            .collect(),
        events: events
            .into_iter()
            .map(|e| OrderEvent {
                from_status: e.from_status,
                to_status: e.to_status,
                actor: e.actor,
                at: zone.rfc3339(e.created_at),
                note: e.note,
            })
            .collect(),
        shop_whatsapp: whatsapp,
    })
}

fn parse_date(text: Option<&str>, field: &str) -> AppResult<Option<time::Date>> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => time::Date::parse(t, time::macros::format_description!("[year]-[month]-[day]"))
            .map(Some)
            .map_err(|_| AppError::validation(field, "Use a date like 2026-11-25.")),
    }
}

#[derive(sqlx::FromRow)]
struct ListRow {
    id: Uuid,
    number: i32,
    status: String,
    customer_name: String,
    phone: String,
    total_minor: i64,
    currency: String,
    created_at: OffsetDateTime,
    is_test: bool,
    /// Matching orders on all pages (a window count).
    total: i64,
}

pub async fn list_orders(
    state: &AppState,
    shop_id: Uuid,
    query: &super::OrderQuery,
) -> AppResult<super::OrderList> {
    // Clamped so the offset cannot overflow; a page past the end is simply empty.
    let page = query.page.unwrap_or(1).clamp(1, super::MAX_PAGE);
    let per_page = super::ORDERS_PER_PAGE;
    let status = query
        .status
        .as_deref()
        .and_then(OrderStatus::parse)
        .map(OrderStatus::as_str);
    let q = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let number: Option<i32> = q.and_then(|q| q.trim_start_matches('#').parse().ok());
    let digits: Option<String> = q
        .map(|q| q.chars().filter(char::is_ascii_digit).collect::<String>())
        .filter(|d| d.len() >= 4);
    let from = parse_date(query.from.as_deref(), "from")?;
    let to = parse_date(query.to.as_deref(), "to")?;
    let zone = crate::platform::zone::of_shop(&state.pool, shop_id).await?;
    // The dates are the shop's days: from its midnight to its next.
    let rows: Vec<ListRow> = sqlx::query_as(
        "select o.id, o.number, o.status, o.customer_name, o.phone, o.total_minor, o.currency, o.created_at,
                o.is_test, count(*) over () as total
         from orders o
         where o.shop_id = $1
           and ($2::text is null or o.status = $2)
           and ($3::text is null or o.number = $4 or o.customer_name ilike $5 or ($6::text is not null and o.phone like '%' || $6 || '%'))
           and ($7::date is null or o.created_at >= ($7::date)::timestamp at time zone $11)
           and ($8::date is null or o.created_at < ($8::date + 1)::timestamp at time zone $11)
         order by o.created_at desc, o.number desc
         limit $9 offset $10",
    )
    .bind(shop_id)
    .bind(status)
    .bind(q)
    .bind(number)
    .bind(q.map(crate::catalog::ssr::like_pattern))
    .bind(digits)
    .bind(from)
    .bind(to)
    .bind(per_page)
    .bind((page - 1) * per_page)
    .bind(zone.name())
    .fetch_all(&state.pool)
    .await?;
    let total = rows.first().map_or(0, |r| r.total);
    Ok(super::OrderList {
        items: rows
            .into_iter()
            .map(|r| super::OrderSummary {
                id: r.id,
                number: r.number,
                status: r.status,
                customer_name: r.customer_name,
                phone: r.phone,
                total: format_money(r.total_minor, &r.currency),
                created_at: zone.rfc3339(r.created_at),
                test: r.is_test,
            })
            .collect(),
        time_zone: zone.name().to_string(),
        total,
        page,
        pages: ((total + per_page - 1) / per_page).max(1),
    })
}

pub async fn new_order_count(state: &AppState, shop_id: Uuid) -> AppResult<i64> {
    Ok(sqlx::query_scalar(
        "select count(*) from orders where shop_id = $1 and status = $2 and not is_test",
    )
    .bind(shop_id)
    .bind(OrderStatus::New.as_str())
    .fetch_one(&state.pool)
    .await?)
}

pub async fn set_internal_note(
    state: &AppState,
    shop_id: Uuid,
    order_id: Uuid,
    note: &str,
) -> AppResult<()> {
    let note: String = note.trim().chars().take(2000).collect();
    let done = sqlx::query(
        "update orders set internal_note = $3, updated_at = now() where id = $1 and shop_id = $2",
    )
    .bind(order_id)
    .bind(shop_id)
    .bind(note)
    .execute(&state.pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    Ok(())
}

/// Queues the new-order email to the shop's owner (unless switched off in settings).
async fn notify_merchant(
    tx: &mut PgConnection,
    shop: &CheckoutShop,
    checkout: &ValidCheckout,
    cart: &CheckedCart,
    placed: &PlacedOrder,
) -> AppResult<()> {
    let owner: Option<(String, String, String)> = sqlx::query_as(
        "select m.email, s.name, s.time_zone from shops s join merchants m on m.id = s.merchant_id where s.id = $1 and s.notify_new_orders",
    )
    .bind(shop.id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((email, shop_name, zone)) = owner else {
        return Ok(());
    };
    let currency = shop.currency.as_str();
    let items = &checkout.items;
    let lines = cart
        .products
        .iter()
        .map(|p| {
            format!(
                "  {} × {} — {}",
                items[&p.id],
                p.title(),
                format_money(p.price_minor * i64::from(items[&p.id]), currency)
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let number = placed.number;
    let body = format!(
        "New order #{number} for {shop_name}\nPlaced {}\n\n{lines}\n\nTotal (cash on delivery): {}\n\nCustomer: {}\nWhatsApp: {}\nDeliver to: {}\n{}\nOpen your dashboard to confirm it.",
        crate::platform::zone::Zone::named(&zone).readable(OffsetDateTime::now_utc()),
        format_money(cart.total, currency),
        checkout.name,
        checkout.phone,
        checkout.address,
        if checkout.note.is_empty() {
            String::new()
        } else {
            format!("Note: {}\n", checkout.note)
        }
    );
    crate::mail::ssr::enqueue(tx, &email, &format!("New order #{number}"), &body).await?;
    Ok(())
}

/// One order line with its order, as the CSV export writes it.
#[derive(sqlx::FromRow)]
struct ExportRow {
    number: i32,
    created_at: OffsetDateTime,
    status: String,
    customer_name: String,
    phone: String,
    address: String,
    note: String,
    title: String,
    quantity: i32,
    unit_price_minor: i64,
    total_minor: i64,
    currency: String,
}

/// `GET /dashboard/orders/export.csv`: every order line of the signed-in merchant's shop.
pub async fn export_route(
    axum::extract::State(state): axum::extract::State<AppState>,
    session: Option<axum::Extension<crate::auth::ssr::Session>>,
) -> Result<axum::response::Response, AppError> {
    let session = session.ok_or(AppError::Unauthorized)?.0;
    let shop = crate::request::shop_session(&state.pool, session).await?;
    let rows: Vec<ExportRow> = sqlx::query_as(
        "select o.number, o.created_at, o.status, o.customer_name, o.phone, o.address, o.note,
                l.title || case when l.variant_title <> '' then ' (' || l.variant_title || ')' else '' end as title,
                l.quantity,
                l.unit_price_minor, o.total_minor, o.currency
         from orders o join order_lines l on l.order_id = o.id
         where o.shop_id = $1 order by o.number, l.id",
    )
    .bind(shop.shop_id)
    .fetch_all(&state.pool)
    .await?;
    let internal = |e: csv::Error| AppError::Internal(anyhow::anyhow!("writing CSV: {e}"));
    let zone = crate::platform::zone::of_shop(&state.pool, shop.shop_id).await?;
    // The column names the zone; each time also carries its offset, so nothing is ambiguous.
    let placed_at = format!("placed_at ({})", zone.name());
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record([
        "number",
        placed_at.as_str(),
        "status",
        "customer",
        "phone",
        "address",
        "note",
        "product",
        "quantity",
        "unit_price",
        "order_total",
        "currency",
    ])
    .map_err(internal)?;
    for r in rows {
        let cells = [
            r.number.to_string(),
            zone.rfc3339(r.created_at),
            r.status,
            r.customer_name,
            r.phone,
            r.address,
            r.note,
            r.title,
            r.quantity.to_string(),
            crate::money::format_plain(r.unit_price_minor, &r.currency),
            crate::money::format_plain(r.total_minor, &r.currency),
            r.currency,
        ];
        // Shoppers typed the name, address and note: none may run as a spreadsheet formula.
        // The phone column (E.164, "+234…") gets the same quote, which keeps it text, so
        // spreadsheets neither compute it nor show it as 2.34802E+12 (README, "Orders").
        out.write_record(
            cells
                .iter()
                .map(|c| crate::platform::csv::neutralise(c).into_owned()),
        )
        .map_err(internal)?;
    }
    let body = out
        .into_inner()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("writing CSV: {e}")))?;
    Ok(crate::request::csv_download(body, "orders.csv"))
}

/// An order from a WhatsApp cart (an `order` message). Variants are matched by the catalog's
/// retailer id (our SKU, or the variant or product id) and priced from the database like any checkout;
/// the message's prices are ignored. The message id is the idempotency key. Returns the
/// order number.
pub async fn place_whatsapp_order(
    state: &AppState,
    shop_id: Uuid,
    key: &str,
    name: &str,
    phone: &str,
    items: &[(String, i64)],
) -> AppResult<i32> {
    let slug: String = sqlx::query_scalar("select slug from shops where id = $1")
        .bind(shop_id)
        .fetch_optional(&state.pool)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut lines = Vec::new();
    for (retailer_id, qty) in items {
        let id: Option<Uuid> = sqlx::query_scalar(
            "select id from product_variants where shop_id = $1 and (sku = $2 or id::text = $2)
             union all
             -- a product sold in one form, named by its product id
             (select v.id from product_variants v where v.shop_id = $1 and v.product_id::text = $2
              and v.options = '{}')
             limit 1",
        )
        .bind(shop_id)
        .bind(retailer_id)
        .fetch_optional(&state.pool)
        .await?;
        let id = id.ok_or_else(|| {
            AppError::validation(
                "items",
                format!("The cart has an item ({retailer_id}) that is not in this shop's catalog."),
            )
        })?;
        lines.push((id, i32::try_from(*qty).unwrap_or(i32::MAX)));
    }
    let input = CheckoutInput {
        name: if name.trim().is_empty() {
            "WhatsApp customer".into()
        } else {
            name.to_string()
        },
        phone: phone.to_string(),
        address: "To be confirmed on WhatsApp".into(),
        note: "Ordered from a WhatsApp cart.".into(),
        idempotency_key: key.to_string(),
        items: lines,
    };
    let id = place_order(state, &slug, input).await?;
    let number: i32 = sqlx::query_scalar("select number from orders where id = $1")
        .bind(id)
        .fetch_one(&state.pool)
        .await?;
    Ok(number)
}
