//! Overview page: numbers, two server-rendered SVG bar charts (they show without JavaScript),
//! top products and the orders waiting for action.

use super::api::get_overview;
use crate::auth::CurrentUser;
use crate::ui::PageTitle;
use leptos::prelude::*;

#[component]
pub fn OverviewPage() -> impl IntoView {
    let user = expect_context::<CurrentUser>();
    let data = Resource::new(|| (), |_| get_overview());
    view! {
        <PageTitle title="Overview"/>
        <h1>"Welcome, " {user.full_name.clone()}</h1>
        <p class="muted">"Storefront: " <a href=format!("/s/{}", user.shop_slug)>{format!("/s/{}", user.shop_slug)}</a></p>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <p class="notice error">{e.to_string()}</p> }.into_any(),
                    Ok(o) => {
                        let views: Vec<i64> = o.days.iter().map(|d| d.views).collect();
                        let orders: Vec<i64> = o.days.iter().map(|d| d.orders).collect();
                        let dates: Vec<String> = o.days.iter().map(|d| d.date.clone()).collect();
                        let conversion = o.conversion_30.map_or("—".to_string(), |c| format!("{c:.1}%"));
                        let setup = o.setup.clone();
                        let done = setup.iter().filter(|s| s.done).count();
                        let total = setup.len();
                        view! {
                            {(done < total).then(|| view! {
                                <section class="card setup" data-testid="setup" aria-labelledby="setup-title">
                                    <h2 id="setup-title">"Set up your shop"</h2>
                                    <p class="muted" data-testid="setup-progress">{format!("{done} of {total} done")}</p>
                                    <ol class="setup-steps">
                                        {setup.into_iter().map(|s| view! {
                                            <li class:done=s.done data-testid="setup-step">
                                                <span class="setup-mark" aria-hidden="true">{if s.done { "✓" } else { "○" }}</span>
                                                <span>
                                                    <a href=s.href.clone()>{s.label.clone()}</a>
                                                    {s.done.then(|| view! { <span class="visually-hidden">" (done)"</span> })}
                                                    <br/><span class="hint">{s.hint.clone()}</span>
                                                </span>
                                            </li>
                                        }).collect_view()}
                                    </ol>
                                </section>
                            })}
                            <section class="stats">
                                <Stat label="Views, 7 days" value=o.views_7.to_string() test_id="views-7"/>
                                <Stat label="Orders, 7 days" value=o.orders_7.to_string() test_id="orders-7"/>
                                <Stat label="Revenue, 7 days" value=o.revenue_7.clone() test_id="revenue-7"/>
                                <Stat label="Views, 30 days" value=o.views_30.to_string() test_id="views-30"/>
                                <Stat label="Orders, 30 days" value=o.orders_30.to_string() test_id="orders-30"/>
                                <Stat label="Revenue, 30 days" value=o.revenue_30.clone() test_id="revenue-30"/>
                                <Stat label="Conversion, 30 days" value=conversion test_id="conversion"/>
                                <Stat label=if o.pending_orders == 1 { "Awaiting your confirmation (1 order)".to_string() } else { format!("Awaiting your confirmation ({} orders)", o.pending_orders) }
                                    value=o.pending.clone() test_id="pending"/>
                            </section>
                            <h2>"WhatsApp, last 30 days"</h2>
                            <section class="stats" data-testid="chat-stats">
                                <Stat label="Chats the assistant answered" value=o.chat.agent_conversations.to_string() test_id="agent-conversations"/>
                                <Stat label="Handed to you" value=o.chat.handovers.to_string() test_id="handovers"/>
                                <Stat label="Orders taken in chat" value=o.chat.assisted_orders.to_string() test_id="assisted-orders"/>
                                <Stat label="Value of orders taken in chat" value=o.chat.assisted_value.clone() test_id="assisted-value"/>
                                <Stat label="Median first response" value=o.chat.median_first_response_secs.map_or("—".to_string(), duration_words) test_id="first-response"/>
                            </section>
                            <p class="hint">"Revenue counts the orders you have confirmed (and shipped or delivered); new orders are counted apart until you confirm them. Conversion is orders ÷ visits. A visit is a storefront page view that arrived from outside your shop (a link, a search, or typed in); views by search engines and link previews are not counted. Cancelled orders are left out."</p>
                            <p class="hint" data-testid="days-zone">{format!("Days run midnight to midnight, {} time.", o.time_zone)}</p>
                            <section class="card">
                                <h2>"Storefront views, last 30 days"</h2>
                                <BarChart values=views dates=dates.clone() label="Storefront views per day" unit="views"/>
                            </section>
                            <section class="card">
                                <h2>"Orders, last 30 days"</h2>
                                <BarChart values=orders dates=dates.clone() label="Orders per day" unit="orders"/>
                            </section>
                            <div class="row">
                                <section class="card">
                                    <h2>"Most viewed"</h2>
                                    <TopList items=o.top_viewed.clone() unit="views"/>
                                </section>
                                <section class="card">
                                    <h2>"Most ordered"</h2>
                                    <TopList items=o.top_ordered.clone() unit="sold"/>
                                </section>
                            </div>
                            <section class="card">
                                <h2>"New orders to confirm"</h2>
                                {if o.new_orders.is_empty() {
                                    view! { <p class="muted">"Nothing waiting."</p> }.into_any()
                                } else {
                                    view! {
                                        <ul>
                                            {o.new_orders.into_iter().map(|n| view! {
                                                <li><a href=format!("/dashboard/orders/{}", n.id)>{format!("#{}", n.number)}</a>{format!(" · {} · {}", n.customer_name, n.total)}</li>
                                            }).collect_view()}
                                        </ul>
                                    }.into_any()
                                }}
                            </section>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
fn Stat(#[prop(into)] label: String, value: String, test_id: &'static str) -> impl IntoView {
    let long = (value.chars().count() > 9).then_some("");
    view! {
        <div class="stat card">
            <p class="muted">{label}</p>
            // Long values (amounts) shrink with the tile; the CSP allows no inline styles, so
            // the length is a flag for the style sheet.
            <p class="stat-value" data-testid=test_id data-long=long>{value}</p>
        </div>
    }
}

#[component]
fn TopList(items: Vec<(String, i64)>, unit: &'static str) -> impl IntoView {
    if items.is_empty() {
        return view! { <p class="muted">"No data yet."</p> }.into_any();
    }
    view! {
        <ol>{items.into_iter().map(|(title, n)| view! { <li>{format!("{title} — {n} {unit}")}</li> }).collect_view()}</ol>
    }
    .into_any()
}

/// "2026-12-07" → "7 Dec" (the overview's days are dates without a year worth showing).
fn short_date(iso: &str) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut parts = iso.split('-').skip(1);
    let month = parts.next().and_then(|m| m.parse::<usize>().ok());
    let day = parts.next().and_then(|d| d.parse::<u32>().ok());
    match (month, day) {
        (Some(m @ 1..=12), Some(d)) => format!("{d} {}", MONTHS[m - 1]),
        _ => iso.to_string(),
    }
}

/// Bars scaled to the largest value, with the first and last day under them and each bar's
/// day and value as its title. For screen readers: a summary as the image's name, and the
/// day-by-day numbers as a table.
#[component]
fn BarChart(
    values: Vec<i64>,
    dates: Vec<String>,
    label: &'static str,
    unit: &'static str,
) -> impl IntoView {
    let (w, h) = (600.0_f64, 120.0_f64);
    let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    let slot = w / values.len().max(1) as f64;
    let total: i64 = values.iter().sum();
    let day = |i: usize| dates.get(i).map(|d| short_date(d)).unwrap_or_default();
    let (first, last) = (day(0), day(values.len().saturating_sub(1)));
    let busiest = values
        .iter()
        .enumerate()
        .filter(|(_, v)| **v > 0)
        .max_by_key(|(i, v)| (**v, std::cmp::Reverse(*i)))
        .map(|(i, v)| format!("; most on {} ({v})", day(i)))
        .unwrap_or_default();
    let bars = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let bh = (*v as f64 / max) * (h - 4.0);
            view! {
                <rect x=format!("{:.1}", i as f64 * slot + 1.0) y=format!("{:.1}", h - bh)
                    width=format!("{:.1}", (slot - 2.0).max(1.0)) height=format!("{:.1}", bh)>
                    <title>{format!("{}: {v} {unit}", day(i))}</title>
                </rect>
            }
        })
        .collect_view();
    let rows = values
        .iter()
        .enumerate()
        .map(|(i, v)| view! { <tr><th scope="row">{day(i)}</th><td>{*v}</td></tr> })
        .collect_view();
    view! {
        <svg class="chart" viewBox=format!("0 0 {w} {h}") role="img"
            aria-label=format!("{label}: {total} in 30 days, {first} to {last}{busiest}") preserveAspectRatio="none">
            {bars}
        </svg>
        <div class="chart-axis" aria-hidden="true"><span>{first}</span><span>{last}</span></div>
        <table class="visually-hidden">
            <caption>{label}</caption>
            <thead><tr><th scope="col">"Day"</th><th scope="col">{unit}</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
        <p class="muted">{format!("{total} {unit} in 30 days")}</p>
    }
}

/// "45 s", "3 min", "2 h 5 min".
fn duration_words(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", (s + 30) / 60),
        s => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::short_date;

    #[test]
    fn days_read_as_day_and_month() {
        assert_eq!(short_date("2026-12-07"), "7 Dec");
        assert_eq!(short_date("2026-01-31"), "31 Jan");
        assert_eq!(short_date("garbled"), "garbled");
        assert_eq!(short_date("2026-13-01"), "2026-13-01");
    }
}
