//! Customers list and detail (with that customer's orders).

use super::api::{get_customer, list_customers};
use crate::orders::status_label;
use crate::ui::PageTitle;
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};
use uuid::Uuid;

#[component]
pub fn CustomersPage() -> impl IntoView {
    let query = use_query_map();
    let q = move || query.read().get("q").filter(|v| !v.is_empty());
    let list = Resource::new(q, list_customers);
    view! {
        <PageTitle title="Customers"/>
        <h1>"Customers"</h1>
        <form class="filters" method="get" action="/dashboard/customers" role="search">
            <div class="field">
                <label for="cq">"Search"</label>
                <input id="cq" type="search" name="q" value=move || q().unwrap_or_default() placeholder="Name or phone"/>
            </div>
            <button type="submit" class="button">"Search"</button>
        </form>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Err(e) => view! { <p class="notice error">{e.to_string()}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p class="empty">"No customers yet. They appear with their first order."</p> }.into_any(),
                    Ok(list) => view! {
                        <table class="table">
                            <thead><tr><th scope="col">"Customer"</th><th scope="col">"WhatsApp"</th><th scope="col">"Orders"</th><th scope="col">"Spent"</th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|c| view! {
                                    <tr>
                                        <td>
                                            <a href=format!("/dashboard/customers/{}", c.id)>{c.name}</a>
                                            {c.test.then(|| view! { " " <crate::orders::ui::TestBadge/> })}
                                        </td>
                                        <td>{c.phone}</td>
                                        <td>{c.orders}</td>
                                        <td data-testid="spent">
                                            {c.spent}
                                            {c.pending.map(|p| view! { <span class="muted">{format!(" + {p} awaiting confirmation")}</span> })}
                                        </td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn CustomerDetailPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").and_then(|v| v.parse::<Uuid>().ok());
    let customer = Resource::new(id, |id| async move {
        match id {
            Some(id) => get_customer(id).await,
            None => Err(crate::error::ApiError::NotFound),
        }
    });
    view! {
        <PageTitle title="Customer"/>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match customer.await {
                    Err(crate::error::ApiError::NotFound) => view! { <crate::ui::NotFound/> }.into_any(),
                    Err(e) => view! { <p class="notice error">{e.to_string()}</p> }.into_any(),
                    Ok(c) => view! {
                        <h1>{c.name.clone()}</h1>
                        <p><a href=crate::links::whatsapp_link(&c.phone, &format!("Hello {}!", c.name))>{c.phone.clone()}</a><br/>{c.address.clone()}</p>
                        <h2>"Orders"</h2>
                        <table class="table">
                            <tbody>
                                {c.orders.into_iter().map(|o| view! {
                                    <tr>
                                        <td>
                                            <a href=format!("/dashboard/orders/{}", o.id)>{format!("#{}", o.number)}</a>
                                            {o.test.then(|| view! { " " <crate::orders::ui::TestBadge/> })}
                                        </td>
                                        <td>{status_label(&o.status)}</td>
                                        <td>{o.total}</td>
                                        <td>{o.created_at.get(..10).unwrap_or_default().to_string()}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}
