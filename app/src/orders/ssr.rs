//! Checkout and order status. Every checkout is one transaction: the product rows are locked
//! (in id order, so concurrent checkouts cannot deadlock), prices and titles are read from them,
//! tracked stock is checked and decremented under that lock, the order number is taken from the
//! shop row, and the idempotency key makes a repeated submit return the first order.

use super::{OrderEvent, OrderLine, OrderView, transition_allowed};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::money::format_money;
use crate::shop::normalize_phone;
use crate::state::AppState;
use std::collections::BTreeMap;
use time::format_description::well_known::Rfc3339;
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

/// name, phone (E.164), address, note, and quantity per product.
type ValidCheckout = (String, String, String, String, BTreeMap<Uuid, i32>);

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
    let key = input.idempotency_key.trim();
    if key.is_empty() || key.len() > 100 {
        errors.insert(
            "idempotency_key".into(),
            "This form has expired. Reload the page and try again.".into(),
        );
    }
    // Same product twice in one cart: add the quantities.
    let mut items = BTreeMap::new();
    for (id, qty) in &input.items {
        *items.entry(*id).or_insert(0) += *qty;
    }
    if items.is_empty() {
        errors.insert("items".into(), "Your cart is empty.".into());
    } else if items.values().any(|q| !(1..=99).contains(q)) {
        errors.insert(
            "items".into(),
            "Quantities must be between 1 and 99.".into(),
        );
    }
    if errors.is_empty() {
        Ok((name, phone, address, note, items))
    } else {
        Err(errors)
    }
}

#[derive(sqlx::FromRow)]
struct Locked {
    id: Uuid,
    title: String,
    price_minor: i64,
    track_stock: bool,
    stock: i32,
    status: String,
}

/// Places an order on the shop with this slug. Returns the order's id.
pub async fn place_order(
    state: &AppState,
    shop_slug: &str,
    input: CheckoutInput,
) -> AppResult<Uuid> {
    let (name, phone, address, note, items) = validate(&input).map_err(AppError::Validation)?;
    let key = input.idempotency_key.trim().to_string();
    let shop: Option<(Uuid, String)> =
        sqlx::query_as("select id, currency from shops where slug = $1")
            .bind(shop_slug)
            .fetch_optional(&state.pool)
            .await?;
    let (shop_id, currency) = shop.ok_or(AppError::NotFound)?;
    if let Some(id) = existing_order(state, shop_id, &key).await? {
        return Ok(id);
    }
    match try_place(
        state, shop_id, &currency, &key, &name, &phone, &address, &note, &items,
    )
    .await
    {
        // Lost a race with the same key: the other submit made the order.
        Err(AppError::Conflict(m)) if m == "duplicate" => existing_order(state, shop_id, &key)
            .await?
            .ok_or(AppError::NotFound),
        other => other,
    }
}

async fn existing_order(state: &AppState, shop_id: Uuid, key: &str) -> AppResult<Option<Uuid>> {
    Ok(
        sqlx::query_scalar("select id from orders where shop_id = $1 and idempotency_key = $2")
            .bind(shop_id)
            .bind(key)
            .fetch_optional(&state.pool)
            .await?,
    )
}

#[allow(clippy::too_many_arguments)]
async fn try_place(
    state: &AppState,
    shop_id: Uuid,
    currency: &str,
    key: &str,
    name: &str,
    phone: &str,
    address: &str,
    note: &str,
    items: &BTreeMap<Uuid, i32>,
) -> AppResult<Uuid> {
    let ids: Vec<Uuid> = items.keys().copied().collect();
    let mut tx = state.pool.begin().await?;
    // Two submits with one key at the same moment: the second waits here until the first
    // commits, then finds its order instead of competing for the stock it just took.
    sqlx::query("select pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("checkout:{shop_id}:{key}"))
        .execute(&mut *tx)
        .await?;
    let earlier: Option<Uuid> =
        sqlx::query_scalar("select id from orders where shop_id = $1 and idempotency_key = $2")
            .bind(shop_id)
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(id) = earlier {
        return Ok(id);
    }
    let products: Vec<Locked> = sqlx::query_as(
        "select id, title, price_minor, track_stock, stock, status from products
         where shop_id = $1 and id = any($2) order by id for update",
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
            Some(p) if p.status != "active" => {
                problems.push(format!("{} is no longer available.", p.title))
            }
            Some(p) if p.track_stock && p.stock <= 0 => {
                problems.push(format!("{} is sold out.", p.title))
            }
            Some(p) if p.track_stock && p.stock < *qty => problems.push(format!(
                "Only {} of {} left; lower the quantity.",
                p.stock, p.title
            )),
            Some(_) => {}
        }
    }
    if !problems.is_empty() {
        // Dropping the transaction rolls back: nothing is reserved.
        return Err(AppError::validation("items", problems.join(" ")));
    }
    let mut total: i64 = 0;
    for p in &products {
        let qty = i64::from(items[&p.id]);
        total = total
            .checked_add(p.price_minor * qty)
            .ok_or_else(|| AppError::validation("items", "That order is too large."))?;
    }
    // One statement for every tracked line (the rows are already locked above).
    let (tracked_ids, tracked_qty): (Vec<Uuid>, Vec<i32>) = products
        .iter()
        .filter(|p| p.track_stock)
        .map(|p| (p.id, items[&p.id]))
        .unzip();
    sqlx::query(
        "update products p set stock = p.stock - t.qty, updated_at = now()
         from unnest($1::uuid[], $2::int[]) as t(id, qty) where p.id = t.id",
    )
    .bind(&tracked_ids)
    .bind(&tracked_qty)
    .execute(&mut *tx)
    .await?;
    let customer_id: Uuid = sqlx::query_scalar(
        "insert into customers (id, shop_id, phone, name, address) values ($1, $2, $3, $4, $5)
         on conflict (shop_id, phone) do update set name = excluded.name, address = excluded.address, updated_at = now()
         returning id",
    )
    .bind(Uuid::now_v7())
    .bind(shop_id)
    .bind(phone)
    .bind(name)
    .bind(address)
    .fetch_one(&mut *tx)
    .await?;
    let number: i32 = sqlx::query_scalar(
        "update shops set next_order_number = next_order_number + 1 where id = $1 returning next_order_number - 1",
    )
    .bind(shop_id)
    .fetch_one(&mut *tx)
    .await?;
    let order_id = Uuid::now_v7();
    let inserted = sqlx::query(
        "insert into orders (id, shop_id, number, customer_id, currency, total_minor, customer_name, phone, address, note, idempotency_key)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(order_id)
    .bind(shop_id)
    .bind(number)
    .bind(customer_id)
    .bind(currency)
    .bind(total)
    .bind(name)
    .bind(phone)
    .bind(address)
    .bind(note)
    .bind(key)
    .execute(&mut *tx)
    .await;
    match inserted {
        Err(sqlx::Error::Database(db))
            if db.constraint() == Some("orders_shop_id_idempotency_key_key") =>
        {
            return Err(AppError::Conflict("duplicate".into()));
        }
        other => {
            other?;
        }
    }
    // All lines in one statement, priced from the locked rows.
    let ids: Vec<Uuid> = products.iter().map(|p| p.id).collect();
    let titles: Vec<&str> = products.iter().map(|p| p.title.as_str()).collect();
    let prices: Vec<i64> = products.iter().map(|p| p.price_minor).collect();
    let qtys: Vec<i32> = products.iter().map(|p| items[&p.id]).collect();
    sqlx::query(
        "insert into order_lines (order_id, product_id, title, unit_price_minor, quantity, line_total_minor)
         select $1, t.id, t.title, t.price, t.qty, t.price * t.qty
         from unnest($2::uuid[], $3::text[], $4::bigint[], $5::int[]) with ordinality as t(id, title, price, qty, ord)
         order by t.ord",
    )
    .bind(order_id)
    .bind(&ids)
    .bind(&titles)
    .bind(&prices)
    .bind(&qtys)
    .execute(&mut *tx)
    .await?;
    sqlx::query("insert into order_events (order_id, from_status, to_status, actor) values ($1, null, 'new', 'shopper')")
        .bind(order_id)
        .execute(&mut *tx)
        .await?;
    notify_merchant(
        &mut tx, shop_id, number, total, currency, name, phone, address, note, &products, items,
    )
    .await?;
    // Stock changed: storefront pages showing it must not be served from cache.
    crate::shop::ssr::bump_catalog_version(&mut tx, shop_id).await?;
    tx.commit().await?;
    tracing::info!(%shop_id, %order_id, number, "order placed");
    Ok(order_id)
}

/// Moves an order along its status flow; cancelling puts tracked stock back.
pub async fn set_status(
    state: &AppState,
    shop_id: Uuid,
    merchant_id: Uuid,
    order_id: Uuid,
    to: &str,
) -> AppResult<()> {
    let mut tx = state.pool.begin().await?;
    let from: String =
        sqlx::query_scalar("select status from orders where id = $1 and shop_id = $2 for update")
            .bind(order_id)
            .bind(shop_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(AppError::NotFound)?;
    if !transition_allowed(&from, to) {
        return Err(AppError::validation(
            "status",
            format!("An order that is {from} cannot become {to}."),
        ));
    }
    sqlx::query("update orders set status = $2, updated_at = now() where id = $1")
        .bind(order_id)
        .bind(to)
        .execute(&mut *tx)
        .await?;
    if to == "cancelled" {
        sqlx::query(
            "update products p set stock = p.stock + l.quantity, updated_at = now()
             from order_lines l where l.order_id = $1 and p.id = l.product_id and p.track_stock and p.shop_id = $2",
        )
        .bind(order_id)
        .bind(shop_id)
        .execute(&mut *tx)
        .await?;
        crate::shop::ssr::bump_catalog_version(&mut tx, shop_id).await?;
    }
    sqlx::query("insert into order_events (order_id, from_status, to_status, actor, merchant_id) values ($1, $2, $3, 'merchant', $4)")
        .bind(order_id)
        .bind(&from)
        .bind(to)
        .bind(merchant_id)
        .execute(&mut *tx)
        .await?;
    crate::analytics::ssr::record_event(&mut tx, shop_id, "order_status_changed").await?;
    tx.commit().await?;
    Ok(())
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
    created_at: time::OffsetDateTime,
    shop_whatsapp: Option<String>,
}

/// One order of this shop, with lines and status history.
pub async fn get_order(state: &AppState, shop_id: Uuid, order_id: Uuid) -> AppResult<OrderView> {
    let o: OrderRow = sqlx::query_as(
        "select o.id, o.number, o.status, o.total_minor, o.currency, o.customer_name, o.phone, o.address, o.note,
                o.internal_note, o.created_at, s.whatsapp_number as shop_whatsapp
         from orders o join shops s on s.id = o.shop_id where o.id = $1 and o.shop_id = $2",
    )
    .bind(order_id)
    .bind(shop_id)
    .fetch_optional(&state.pool)
    .await?
    .ok_or(AppError::NotFound)?;
    let lines: Vec<(Option<Uuid>, String, i32, i64, i64)> = sqlx::query_as(
        "select product_id, title, quantity, unit_price_minor, line_total_minor from order_lines where order_id = $1 order by id",
    )
    .bind(order_id)
    .fetch_all(&state.pool)
    .await?;
    let events: Vec<(Option<String>, String, String, time::OffsetDateTime)> =
        sqlx::query_as("select from_status, to_status, actor, created_at from order_events where order_id = $1 order by id")
            .bind(order_id)
            .fetch_all(&state.pool)
            .await?;
    let whatsapp = o.shop_whatsapp.map(|n| {
        crate::storefront::whatsapp_link(&n, &format!("Hello! About my order #{}", o.number))
    });
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
        created_at: o.created_at.format(&Rfc3339).unwrap_or_default(),
        lines: lines
            .into_iter()
            .map(|(product_id, title, quantity, unit, total)| OrderLine {
                product_id,
                title,
                quantity,
                unit_price: format_money(unit, &o.currency),
                line_total: format_money(total, &o.currency),
            })
            .collect(),
        events: events
            .into_iter()
            .map(|(from_status, to_status, actor, at)| OrderEvent {
                from_status,
                to_status,
                actor,
                at: at.format(&Rfc3339).unwrap_or_default(),
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

pub async fn list_orders(
    state: &AppState,
    shop_id: Uuid,
    query: &super::OrderQuery,
) -> AppResult<super::OrderList> {
    let page = query.page.unwrap_or(1).max(1);
    let per_page = super::ORDERS_PER_PAGE;
    let status = query
        .status
        .as_deref()
        .filter(|s| super::STATUSES.contains(s));
    let q = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let number: Option<i32> = q.and_then(|q| q.trim_start_matches('#').parse().ok());
    let digits: Option<String> = q
        .map(|q| q.chars().filter(char::is_ascii_digit).collect::<String>())
        .filter(|d| d.len() >= 4);
    let from = parse_date(query.from.as_deref(), "from")?;
    let to = parse_date(query.to.as_deref(), "to")?;
    #[allow(clippy::type_complexity)]
    let rows: Vec<(Uuid, i32, String, String, String, i64, String, time::OffsetDateTime, i64)> = sqlx::query_as(
        "select o.id, o.number, o.status, o.customer_name, o.phone, o.total_minor, o.currency, o.created_at,
                count(*) over () as total
         from orders o
         where o.shop_id = $1
           and ($2::text is null or o.status = $2)
           and ($3::text is null or o.number = $4 or o.customer_name ilike $5 or ($6::text is not null and o.phone like '%' || $6 || '%'))
           and ($7::date is null or o.created_at >= $7::date)
           and ($8::date is null or o.created_at < $8::date + 1)
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
    .fetch_all(&state.pool)
    .await?;
    let total = rows.first().map_or(0, |r| r.8);
    Ok(super::OrderList {
        items: rows
            .into_iter()
            .map(
                |(id, number, status, customer_name, phone, total, currency, created, _)| {
                    super::OrderSummary {
                        id,
                        number,
                        status,
                        customer_name,
                        phone,
                        total: format_money(total, &currency),
                        created_at: created.format(&Rfc3339).unwrap_or_default(),
                    }
                },
            )
            .collect(),
        total,
        page,
        pages: ((total + per_page - 1) / per_page).max(1),
    })
}

pub async fn new_order_count(state: &AppState, shop_id: Uuid) -> AppResult<i64> {
    Ok(
        sqlx::query_scalar("select count(*) from orders where shop_id = $1 and status = 'new'")
            .bind(shop_id)
            .fetch_one(&state.pool)
            .await?,
    )
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

/// Queues the new-order email to the shop's owner (unless switched off in settings). It goes
/// through the outbox in the order's own transaction, so it is sent exactly when the order exists.
#[allow(clippy::too_many_arguments)]
async fn notify_merchant(
    tx: &mut sqlx::PgConnection,
    shop_id: Uuid,
    number: i32,
    total: i64,
    currency: &str,
    name: &str,
    phone: &str,
    address: &str,
    note: &str,
    products: &[Locked],
    items: &BTreeMap<Uuid, i32>,
) -> AppResult<()> {
    let owner: Option<(String, String)> = sqlx::query_as(
        "select m.email, s.name from shops s join merchants m on m.id = s.merchant_id where s.id = $1 and s.notify_new_orders",
    )
    .bind(shop_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((email, shop_name)) = owner else {
        return Ok(());
    };
    let lines = products
        .iter()
        .map(|p| {
            format!(
                "  {} × {} — {}",
                items[&p.id],
                p.title,
                format_money(p.price_minor * i64::from(items[&p.id]), currency)
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let body = format!(
        "New order #{number} for {shop_name}\n\n{lines}\n\nTotal (cash on delivery): {}\n\nCustomer: {name}\nWhatsApp: {phone}\nDeliver to: {address}\n{}\nOpen your dashboard to confirm it.",
        format_money(total, currency),
        if note.is_empty() {
            String::new()
        } else {
            format!("Note: {note}\n")
        }
    );
    crate::mail::ssr::enqueue(tx, &email, &format!("New order #{number}"), &body).await?;
    Ok(())
}

/// `GET /dashboard/orders/export.csv`: every order line of the signed-in merchant's shop.
pub async fn export_route(
    axum::extract::State(state): axum::extract::State<AppState>,
    session: Option<axum::Extension<crate::auth::ssr::Session>>,
) -> Result<axum::response::Response, AppError> {
    let session = session.ok_or(AppError::Unauthorized)?.0;
    let shop = crate::request::shop_session(&state.pool, session).await?;
    #[allow(clippy::type_complexity)]
    let rows: Vec<(i32, time::OffsetDateTime, String, String, String, String, String, String, i32, i64, i64, String)> = sqlx::query_as(
        "select o.number, o.created_at, o.status, o.customer_name, o.phone, o.address, o.note, l.title, l.quantity,
                l.unit_price_minor, o.total_minor, o.currency
         from orders o join order_lines l on l.order_id = o.id
         where o.shop_id = $1 order by o.number, l.id",
    )
    .bind(shop.shop_id)
    .fetch_all(&state.pool)
    .await?;
    let internal = |e: csv::Error| AppError::Internal(anyhow::anyhow!("writing CSV: {e}"));
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record([
        "number",
        "placed_at",
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
    for (number, at, status, customer, phone, address, note, title, qty, unit, total, currency) in
        rows
    {
        out.write_record([
            number.to_string(),
            at.format(&Rfc3339).unwrap_or_default(),
            status,
            customer,
            phone,
            address,
            note,
            title,
            qty.to_string(),
            crate::money::format_plain(unit, &currency),
            crate::money::format_plain(total, &currency),
            currency,
        ])
        .map_err(internal)?;
    }
    let body = out
        .into_inner()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("writing CSV: {e}")))?;
    Ok(crate::request::csv_download(body, "orders.csv"))
}
