//! Overview numbers. Revenue is what the merchant has accepted: confirmed, shipped and delivered
//! orders; new orders are shown apart as pending until confirmed. Cancelled orders count
//! neither as orders nor as revenue; bot views are
//! stored but never counted here, nor is anything of the shop's own test customer ("Try your
//! agent"): its orders are listed, marked, but are not sales.

use super::{DayStat, Overview};
use crate::error::AppResult;
use crate::money::format_money;
use crate::state::AppState;
use uuid::Uuid;

pub async fn overview(state: &AppState, shop_id: Uuid) -> AppResult<Overview> {
    let currency = crate::catalog::ssr::shop_currency(&state.pool, shop_id).await?;
    // Days are the shop's days, midnight to midnight in its time zone.
    let zone = crate::platform::zone::of_shop(&state.pool, shop_id).await?;
    let (today, since): (time::Date, time::OffsetDateTime) = sqlx::query_as(
        "select (now() at time zone $1)::date,
                ((now() at time zone $1)::date - 29)::timestamp at time zone $1",
    )
    .bind(zone.name())
    .fetch_one(&state.pool)
    .await?;
    let days: Vec<(time::Date, i64, i64, i64)> = sqlx::query_as(
        "with d as (select $2::date - i as day,
                           ($2::date - i)::timestamp at time zone $3 as starts,
                           ($2::date - i + 1)::timestamp at time zone $3 as ends
                    from generate_series(0, 29) as i)
         select d.day,
                (select coalesce(sum(v.views), 0) from page_views v where v.shop_id = $1 and not v.is_bot
                    and v.viewed_at >= d.starts and v.viewed_at < d.ends)::bigint,
                (select count(*) from orders o where o.shop_id = $1 and o.status <> 'cancelled' and not o.is_test
                    and o.created_at >= d.starts and o.created_at < d.ends),
                (select coalesce(sum(o.total_minor), 0) from orders o where o.shop_id = $1
                    and o.status in ('confirmed', 'shipped', 'delivered') and not o.is_test
                    and o.created_at >= d.starts and o.created_at < d.ends)::bigint
         from d order by d.day",
    )
    .bind(shop_id)
    .bind(today)
    .bind(zone.name())
    .fetch_all(&state.pool)
    .await?;
    let days: Vec<DayStat> = days
        .into_iter()
        .map(|(date, views, orders, revenue_minor)| DayStat {
            date: date.to_string(),
            views,
            orders,
            revenue_minor,
        })
        .collect();
    let last = |n: usize, f: fn(&DayStat) -> i64| days.iter().rev().take(n).map(f).sum::<i64>();
    // A visit is a human view that arrived from outside the shop: no referrer, or another site's.
    let own_host = state
        .config
        .public_url
        .split("://")
        .nth(1)
        .unwrap_or_default()
        .split(['/', ':'])
        .next()
        .unwrap_or_default()
        .to_string();
    let visits_30: i64 = sqlx::query_scalar(
        "select coalesce(sum(views), 0)::bigint from page_views where shop_id = $1 and not is_bot and viewed_at >= $3
           and (referrer_host is null or referrer_host <> $2)",
    )
    .bind(shop_id)
    .bind(&own_host)
    .bind(since)
    .fetch_one(&state.pool)
    .await?;
    let top_viewed: Vec<(String, i64)> = sqlx::query_as(
        "select p.title, sum(v.views)::bigint from page_views v join products p on p.shop_id = v.shop_id and p.slug = v.product_slug
         where v.shop_id = $1 and not v.is_bot and v.viewed_at >= $2
         group by p.id, p.title order by 2 desc, p.title limit 5",
    )
    .bind(shop_id)
    .bind(since)
    .fetch_all(&state.pool)
    .await?;
    let top_ordered: Vec<(String, i64)> = sqlx::query_as(
        "select l.title, sum(l.quantity)::bigint from order_lines l join orders o on o.id = l.order_id
         where o.shop_id = $1 and o.status <> 'cancelled' and not o.is_test and o.created_at >= $2
         group by l.title order by 2 desc, l.title limit 5",
    )
    .bind(shop_id)
    .bind(since)
    .fetch_all(&state.pool)
    .await?;
    let new_orders = crate::orders::ssr::list_orders(
        state,
        shop_id,
        &crate::orders::OrderQuery {
            status: Some("new".into()),
            ..Default::default()
        },
    )
    .await?
    .items
    .into_iter()
    .take(5)
    .collect();
    let orders_30 = last(30, |d| d.orders);
    // Everything waiting for the merchant's confirmation, however old: it is not revenue yet.
    let (pending_orders, pending_minor): (i64, i64) = sqlx::query_as(
        "select count(*), coalesce(sum(total_minor), 0)::bigint from orders
         where shop_id = $1 and status = 'new' and not is_test",
    )
    .bind(shop_id)
    .fetch_one(&state.pool)
    .await?;
    let chat = chat_stats(state, shop_id, &currency, since).await?;
    let setup = setup(state, shop_id, &currency, &own_host).await?;
    Ok(Overview {
        time_zone: zone.name().to_string(),
        chat,
        views_7: last(7, |d| d.views),
        views_30: last(30, |d| d.views),
        orders_7: last(7, |d| d.orders),
        orders_30,
        revenue_7: format_money(last(7, |d| d.revenue_minor), &currency),
        revenue_30: format_money(last(30, |d| d.revenue_minor), &currency),
        pending_orders,
        pending: format_money(pending_minor, &currency),
        visits_30,
        conversion_30: (visits_30 > 0).then(|| orders_30 as f64 * 100.0 / visits_30 as f64),
        top_viewed,
        top_ordered,
        new_orders,
        days,
        setup,
    })
}

/// The set-up checklist: shop details and currency looked at (settings saved once), a logo, a
/// first product, WhatsApp connected, the storefront link shared (copied from the dashboard, or
/// a visit arrived from outside the shop).
async fn setup(
    state: &AppState,
    shop_id: Uuid,
    currency: &str,
    own_host: &str,
) -> AppResult<Vec<super::SetupStep>> {
    let (details, logo, product, whatsapp, shared, slug): (bool, bool, bool, bool, bool, String) =
        sqlx::query_as(
            "select exists(select 1 from usage_events where shop_id = $1 and name = 'shop_settings_saved'),
                    s.logo_image_id is not null,
                    exists(select 1 from products where shop_id = $1),
                    exists(select 1 from wa_accounts where shop_id = $1 and status = 'connected'),
                    exists(select 1 from usage_events where shop_id = $1 and name = 'storefront_link_shared')
                      or exists(select 1 from page_views where shop_id = $1 and not is_bot
                                and (referrer_host is null or referrer_host <> $2)),
                    s.slug
             from shops s where s.id = $1",
        )
        .bind(shop_id)
        .bind(own_host)
        .fetch_one(&state.pool)
        .await?;
    let step = |label: String, hint: &str, href: &str, done: bool| super::SetupStep {
        label,
        hint: hint.to_string(),
        href: href.to_string(),
        done,
    };
    Ok(vec![
        step(
            format!("Check your shop's name and currency ({currency})"),
            "Prices are shown and charged in this currency; choose it before adding products.",
            "/dashboard/settings",
            details,
        ),
        step(
            "Add your logo".into(),
            "It heads your storefront and the links you share.",
            "/dashboard/settings",
            logo,
        ),
        step(
            "Add your first product".into(),
            "A title, a price and a photo are enough to start.",
            "/dashboard/products/new",
            product,
        ),
        step(
            "Connect your WhatsApp number".into(),
            "Customers' messages arrive in your inbox and the assistant answers them.",
            "/dashboard/channels/whatsapp",
            whatsapp,
        ),
        step(
            "Share your storefront link".into(),
            "Copy it from Shop settings, or send it to a customer; it ticks itself off once someone opens it.",
            &format!("/s/{slug}"),
            shared,
        ),
    ])
}

/// The agent's numbers for the last 30 days (the overview's WhatsApp tiles).
async fn chat_stats(
    state: &AppState,
    shop_id: Uuid,
    currency: &str,
    since: time::OffsetDateTime,
) -> AppResult<super::ChatStats> {
    let (agent_conversations, handovers, assisted_orders, assisted_minor): (i64, i64, i64, i64) =
        sqlx::query_as(
            "with tests as (
                 select v.id from conversations v join customers c on c.id = v.customer_id
                 where v.shop_id = $1 and c.is_test)
             select
                 (select count(distinct conversation_id) from wa_messages
                   where shop_id = $1 and sent_by = 'agent' and sent_at >= $2
                     and conversation_id not in (select id from tests)),
                 (select count(*) from escalations where shop_id = $1 and opened_at >= $2
                     and conversation_id not in (select id from tests)),
                 (select count(*) from orders where shop_id = $1 and idempotency_key like 'agent:%'
                   and status <> 'cancelled' and not is_test and created_at >= $2),
                 (select coalesce(sum(total_minor), 0)::bigint from orders
                   where shop_id = $1 and idempotency_key like 'agent:%'
                   and status <> 'cancelled' and not is_test and created_at >= $2)",
        )
        .bind(shop_id)
        .bind(since)
        .fetch_one(&state.pool)
        .await?;
    // Each conversation's first customer message in the period, and the first answer after it.
    let median: Option<f64> = sqlx::query_scalar(
        "select percentile_cont(0.5) within group (order by extract(epoch from r.at - i.at))
         from (select conversation_id, min(sent_at) as at from wa_messages
               where shop_id = $1 and direction = 'in' and sent_by = 'customer'
                 and sent_at >= $2
                 and conversation_id not in (
                     select v.id from conversations v join customers c on c.id = v.customer_id
                     where v.shop_id = $1 and c.is_test)
               group by conversation_id) i
         cross join lateral (
             select min(o.sent_at) as at from wa_messages o
             where o.conversation_id = i.conversation_id and o.direction = 'out'
               and o.sent_by in ('agent', 'merchant', 'phone') and o.sent_at >= i.at) r
         where r.at is not null",
    )
    .bind(shop_id)
    .bind(since)
    .fetch_one(&state.pool)
    .await?;
    Ok(super::ChatStats {
        agent_conversations,
        handovers,
        assisted_orders,
        assisted_value: format_money(assisted_minor, currency),
        median_first_response_secs: median.map(|m| m.round() as i64),
    })
}
