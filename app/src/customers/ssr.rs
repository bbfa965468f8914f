//! Customer queries, scoped by the session's shop.

use super::{CustomerDetail, CustomerSummary};
use crate::error::{AppError, AppResult};
use crate::money::format_money;
use crate::state::AppState;
use uuid::Uuid;

#[derive(sqlx::FromRow)]
struct SummaryRow {
    id: Uuid,
    name: String,
    phone: String,
    orders: i64,
    is_test: bool,
    /// Minor units: confirmed, shipped and delivered orders.
    spent: i64,
    /// Minor units: new orders, not confirmed yet.
    pending: i64,
    currency: String,
}

pub async fn list(
    state: &AppState,
    shop_id: Uuid,
    q: Option<&str>,
) -> AppResult<Vec<CustomerSummary>> {
    let q = q.map(str::trim).filter(|q| !q.is_empty());
    let rows: Vec<SummaryRow> = sqlx::query_as(
        "select c.id, c.name, c.phone,
                (select count(*) from orders o where o.customer_id = c.id) as orders,
                coalesce((select sum(o.total_minor) from orders o where o.customer_id = c.id
                          and o.status in ('confirmed', 'shipped', 'delivered')), 0)::bigint as spent,
                coalesce((select sum(o.total_minor) from orders o where o.customer_id = c.id
                          and o.status = 'new'), 0)::bigint as pending,
                s.currency, c.is_test
         from customers c join shops s on s.id = c.shop_id
         where c.shop_id = $1 and ($2::text is null or c.name ilike $3 or c.phone like $3)
         order by c.updated_at desc limit 200",
    )
    .bind(shop_id)
    .bind(q)
    .bind(q.map(crate::catalog::ssr::like_pattern))
    .fetch_all(&state.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| CustomerSummary {
            id: r.id,
            name: r.name,
            phone: r.phone,
            orders: r.orders,
            spent: format_money(r.spent, &r.currency),
            pending: (r.pending > 0).then(|| format_money(r.pending, &r.currency)),
            test: r.is_test,
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct CustomerRow {
    id: Uuid,
    name: String,
    phone: String,
    address: String,
}

#[derive(sqlx::FromRow)]
struct CustomerOrderRow {
    id: Uuid,
    number: i32,
    status: String,
    customer_name: String,
    phone: String,
    total_minor: i64,
    currency: String,
    created_at: time::OffsetDateTime,
    is_test: bool,
}

pub async fn get(state: &AppState, shop_id: Uuid, id: Uuid) -> AppResult<CustomerDetail> {
    let customer: CustomerRow = sqlx::query_as(
        "select id, name, phone, address from customers where id = $1 and shop_id = $2",
    )
    .bind(id)
    .bind(shop_id)
    .fetch_optional(&state.pool)
    .await?
    .ok_or(AppError::NotFound)?;
    let orders: Vec<CustomerOrderRow> = sqlx::query_as(
        "select id, number, status, customer_name, phone, total_minor, currency, created_at, is_test
         from orders where customer_id = $1 and shop_id = $2 order by created_at desc",
    )
    .bind(id)
    .bind(shop_id)
    .fetch_all(&state.pool)
    .await?;
    let zone = crate::platform::zone::of_shop(&state.pool, shop_id).await?;
    Ok(CustomerDetail {
        id: customer.id,
        name: customer.name,
        phone: customer.phone,
        address: customer.address,
        orders: orders
            .into_iter()
            .map(|o| crate::orders::OrderSummary {
                id: o.id,
                number: o.number,
                status: o.status,
                customer_name: o.customer_name,
                phone: o.phone,
                total: format_money(o.total_minor, &o.currency),
                created_at: zone.rfc3339(o.created_at),
                test: o.is_test,
            })
            .collect(),
    })
}
