//! The merchant's order pages: list with filters and the order detail with its status flow.

use super::api::{SetInternalNote, SetOrderStatus, get_order, list_orders};
use super::{OrderQuery, OrderStatus, next_steps, status_label};
use crate::ui::{FormError, PageTitle, action_error};
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};
use uuid::Uuid;

fn short_date(rfc3339: &str) -> String {
    rfc3339.get(..16).unwrap_or(rfc3339).replace('T', " ")
}

#[component]
pub fn OrdersPage() -> impl IntoView {
    let query = use_query_map();
    let filters = move || {
        let q = query.read();
        OrderQuery {
            status: q.get("status").filter(|v| !v.is_empty()),
            q: q.get("q").filter(|v| !v.is_empty()),
            from: q.get("from").filter(|v| !v.is_empty()),
            to: q.get("to").filter(|v| !v.is_empty()),
            page: q.get("page").and_then(|v| v.parse().ok()),
        }
    };
    let orders = Resource::new(filters, list_orders);
    let page_link = move |page: i64| {
        let f = filters();
        let mut parts = vec![format!("page={page}")];
        for (k, v) in [
            ("status", f.status),
            ("q", f.q),
            ("from", f.from),
            ("to", f.to),
        ] {
            if let Some(v) = v {
                parts.push(format!("{k}={}", crate::links::encode_query(&v)));
            }
        }
        format!("/dashboard/orders?{}", parts.join("&"))
    };
    view! {
        <PageTitle title="Orders"/>
        <div class="page-head">
            <h1>"Orders"</h1>
            <a class="button" href="/dashboard/orders/export.csv" download="orders.csv">"Export CSV"</a>
        </div>
        <form class="filters" method="get" action="/dashboard/orders" role="search">
            <div class="field">
                <label for="oq">"Search"</label>
                <input id="oq" type="search" name="q" value=move || filters().q.unwrap_or_default() placeholder="Number, name or phone"/>
            </div>
            <div class="field">
                <label for="ostatus">"Status"</label>
                <select id="ostatus" name="status">
                    <option value="">"All"</option>
                    {OrderStatus::ALL.iter().map(|s| view! { <option value=s.as_str() selected=move || filters().status.as_deref() == Some(s.as_str())>{s.label()}</option> }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="ofrom">"From"</label>
                <input id="ofrom" type="date" name="from" value=move || filters().from.unwrap_or_default()/>
            </div>
            <div class="field">
                <label for="oto">"To"</label>
                <input id="oto" type="date" name="to" value=move || filters().to.unwrap_or_default()/>
            </div>
            <button type="submit" class="button">"Apply"</button>
        </form>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match orders.await {
                    Err(e) => view! { <p class="notice error">{e.to_string()}</p> }.into_any(),
                    Ok(list) if list.items.is_empty() => {
                        let f = filters();
                        if f.q.is_none() && f.status.is_none() && f.from.is_none() && f.to.is_none() {
                            view! {
                                <div class="empty" data-testid="orders-empty">
                                    <p><strong>"No orders yet."</strong></p>
                                    <p>"Orders from your storefront and from WhatsApp chats land here. Share your shop's link with customers to get the first one."</p>
                                    <p><a class="button" href="/dashboard">"Get your shop link"</a></p>
                                </div>
                            }.into_any()
                        } else {
                            view! {
                                <p class="empty" data-testid="orders-empty">"No orders match these filters. "
                                    <a href="/dashboard/orders">"Show all orders"</a></p>
                            }.into_any()
                        }
                    }
                    Ok(list) => {
                        let (page, pages) = (list.page, list.pages);
                        view! {
                            <table class="table">
                                <thead><tr><th scope="col">"Order"</th><th scope="col">"Customer"</th><th scope="col">"Status"</th><th scope="col">"Total"</th><th scope="col">"Placed" <span class="muted" data-testid="orders-zone">{format!("({})", list.time_zone)}</span></th></tr></thead>
                                <tbody>
                                    {list.items.into_iter().map(|o| view! {
                                        <tr>
                                            <td>
                                                <a href=format!("/dashboard/orders/{}", o.id)>{format!("#{}", o.number)}</a>
                                                {o.test.then(|| view! { " " <TestBadge/> })}
                                            </td>
                                            <td>{o.customer_name}<br/><span class="muted">{o.phone}</span></td>
                                            <td><span class=format!("badge order-{}", o.status)>{status_label(&o.status)}</span></td>
                                            <td>{o.total}</td>
                                            <td>{short_date(&o.created_at)}</td>
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

/// Moves whenever this tab changes an order's status, so counts elsewhere on the page (the
/// navigation's new-orders badge) fetch again. Provided by the dashboard shell.
#[derive(Clone, Copy)]
pub struct OrdersChanged(pub RwSignal<u32>);

#[component]
pub fn OrderDetailPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").and_then(|v| v.parse::<Uuid>().ok());
    let status = ServerAction::<SetOrderStatus>::new();
    if let Some(changed) = use_context::<OrdersChanged>() {
        Effect::new(move |_| {
            if status.version().get() > 0 {
                changed.0.update(|n| *n += 1);
            }
        });
    }
    let note = ServerAction::<SetInternalNote>::new();
    let order = Resource::new(
        move || (id(), status.version().get(), note.version().get()),
        |(id, ..)| async move {
            match id {
                Some(id) => get_order(id).await,
                None => Err(crate::error::ApiError::NotFound),
            }
        },
    );
    let status_err = action_error(status);
    view! {
        <PageTitle title="Order"/>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match order.await {
                    Err(crate::error::ApiError::NotFound) => view! { <crate::ui::NotFound/> }.into_any(),
                    Err(e) => view! { <p class="notice error">{e.to_string()}</p> }.into_any(),
                    Ok(o) => {
                        let oid = o.id.to_string();
                        let steps = next_steps(&o.status);
                        let note_id = oid.clone();
                        view! {
                            <div class="page-head">
                                <h1>{format!("Order #{}", o.number)}</h1>
                                <span class=format!("badge order-{}", o.status) data-testid="order-status">{status_label(&o.status)}</span>
                                {o.test.then(|| view! { <TestBadge/> })}
                            </div>
                            {o.test.then(|| view! {
                                <p class="notice" data-testid="test-order-note">
                                    "You placed this order yourself in Try your agent. It holds stock like any order, "
                                    "and your numbers leave it out. Cancel it to put the stock back."
                                </p>
                            })}
                            <FormError error=status_err/>
                            <div class="actions">
                                {steps.into_iter().map(|(to, label)| {
                                    let oid = oid.clone();
                                    view! {
                                        <ActionForm action=status>
                                            <input type="hidden" name="id" value=oid/>
                                            <input type="hidden" name="status" value=to/>
                                            {if to == "cancelled" {
                                                view! {
                                                    <div class="field">
                                                        <label for="f-cancel-reason">"Reason for cancelling (optional)"</label>
                                                        <input id="f-cancel-reason" name="reason" maxlength="500"
                                                            aria-describedby="f-cancel-reason-hint"/>
                                                        <p class="hint" id="f-cancel-reason-hint">"Kept in the order's history, and told to the customer with the cancellation."</p>
                                                    </div>
                                                    <input type="hidden" name="notify_shown" value="1"/>
                                                    <div class="field check">
                                                        <input type="checkbox" id="f-cancel-notify" name="notify" value="on" checked=true/>
                                                        <label for="f-cancel-notify">"Tell the customer on WhatsApp (when your order updates are on)"</label>
                                                    </div>
                                                    <crate::ui::ConfirmSubmit label=label confirm="Yes, cancel it"
                                                        question="Cancel this order? Its items go back into stock. You can reopen it within 7 days."/>
                                                }.into_any()
                                            } else if to == "new" {
                                                view! {
                                                    <button type="submit" class="button">{label}</button>
                                                    <p class="hint">{format!("Takes its items from stock again. Possible for {} days after cancelling.", super::REOPEN_DAYS)}</p>
                                                }.into_any()
                                            } else {
                                                view! { <button type="submit" class="button primary">{label}</button> }.into_any()
                                            }}
                                        </ActionForm>
                                    }
                                }).collect_view()}
                            </div>
                            <section class="card">
                                <h2>"Items"</h2>
                                <table class="table">
                                    <tbody>
                                        {o.lines.iter().map(|l| view! {
                                            <tr><td>{format!("{} × {}", l.quantity, l.name())}{l.sku.clone().map(|s| view! { <br/><span class="muted">{format!("SKU {s}")}</span> })}</td><td>{l.unit_price.clone()}</td><td>{l.line_total.clone()}</td></tr>
                                        }).collect_view()}
                                    </tbody>
                                    <tfoot><tr><th scope="row" colspan="2">"Total (cash on delivery)"</th><td>{o.total.clone()}</td></tr></tfoot>
                                </table>
                            </section>
                            <section class="card">
                                <h2>"Customer"</h2>
                                <p>{o.customer_name.clone()}<br/><a href=crate::links::whatsapp_link(&o.phone, &format!("Hello {}! About your order #{}", o.customer_name, o.number))>{o.phone.clone()}</a><br/>{o.address.clone()}</p>
                                {(!o.note.is_empty()).then(|| view! { <p><strong>"Note: "</strong>{o.note.clone()}</p> })}
                            </section>
                            <section class="card">
                                <h2>"Internal note"</h2>
                                <ActionForm action=note attr:class="form">
                                    <input type="hidden" name="id" value=note_id/>
                                    <label class="visually-hidden" for="internal-note">"Internal note"</label>
                                    <textarea id="internal-note" name="internal_note" rows="3">{o.internal_note.clone()}</textarea>
                                    <button type="submit" class="button">"Save note"</button>
                                </ActionForm>
                            </section>
                            <section class="card">
                                <h2>"History"</h2>
                                <p class="hint" data-testid="order-zone">{format!("Placed {}. Times are {} time.", short_date(&o.created_at), o.time_zone)}</p>
                                <ol class="timeline">
                                    {o.events.iter().map(|e| view! {
                                        <li>
                                            {format!("{} · {} by {}", short_date(&e.at), status_label(&e.to_status), match e.actor.as_str() {
                                                "shopper" => "the customer",
                                                "system" => "Bizmaat",
                                                _ => "you",
                                            })}
                                            {e.note.clone().map(|n| view! { <br/><span class="muted">{n}</span> })}
                                        </li>
                                    }).collect_view()}
                                </ol>
                            </section>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

/// Orders and customers of the shop's own "Try your agent" conversations: real rows, but not
/// sales, so every number leaves them out and every list says so.
#[component]
pub fn TestBadge() -> impl IntoView {
    view! {
        <span class="badge test" data-testid="test-badge"
            title="From Try your agent: not counted in your numbers">"Test"</span>
    }
}
