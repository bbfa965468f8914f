//! Customer queries, scoped by the session's shop.

use super::{CustomerDetail, CustomerSummary};
use crate::error::{AppError, AppResult};
use crate::money::format_money;
use crate::state::AppState;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

pub async fn list(
    state: &AppState,
    shop_id: Uuid,
    q: Option<&str>,
) -> AppResult<Vec<CustomerSummary>> {
    let q = q.map(str::trim).filter(|q| !q.is_empty());
    let rows: Vec<(Uuid, String, String, i64, i64, String)> = sqlx::query_as(
        "select c.id, c.name, c.phone,
                (select count(*) from orders o where o.customer_id = c.id) as orders,
                coalesce((select sum(o.total_minor) from orders o where o.customer_id = c.id and o.status <> 'cancelled'), 0)::bigint as spent,
                s.currency
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
        .map(
            |(id, name, phone, orders, spent, currency)| CustomerSummary {
                id,
                name,
                phone,
                orders,
                spent: format_money(spent, &currency),
            },
        )
        .collect())
}

pub async fn get(state: &AppState, shop_id: Uuid, id: Uuid) -> AppResult<CustomerDetail> {
    let row: (Uuid, String, String, String) = sqlx::query_as(
        "select id, name, phone, address from customers where id = $1 and shop_id = $2",
    )
    .bind(id)
    .bind(shop_id)
    .fetch_optional(&state.pool)
    .await?
    .ok_or(AppError::NotFound)?;
    #[allow(clippy::type_complexity)]
    let orders: Vec<(
        Uuid,
        i32,
        String,
        String,
        String,
        i64,
        String,
        time::OffsetDateTime,
    )> = sqlx::query_as(
        "select id, number, status, customer_name, phone, total_minor, currency, created_at
         from orders where customer_id = $1 and shop_id = $2 order by created_at desc",
    )
    .bind(id)
    .bind(shop_id)
    .fetch_all(&state.pool)
    .await?;
    Ok(CustomerDetail {
        id: row.0,
        name: row.1,
        phone: row.2,
        address: row.3,
        orders: orders
            .into_iter()
            .map(
                |(id, number, status, customer_name, phone, total, currency, at)| {
                    crate::orders::OrderSummary {
                        id,
                        number,
                        status,
                        customer_name,
                        phone,
                        total: format_money(total, &currency),
                        created_at: at.format(&Rfc3339).unwrap_or_default(),
                    }
                },
            )
            .collect(),
    })
}
