//! "Try your agent" (issue 11 §8): the merchant writes as a customer of their own shop. Each
//! message goes through the WhatsApp simulator as a signed webhook, so it takes a real
//! customer's path — webhook, inbox, burst gathering, the agent's turn, the outbound queue and
//! the simulated Graph API — and the answers come back with their traces. Orders placed here
//! are real orders of the shop, from the test customer, marked as tests: lists show them with a
//! "Test" badge and the shop's numbers (overview, the Orders badge) leave them out.
//!
//! It needs a connected number (the inbound pipeline routes by it) but neither Meta nor the
//! simulator: the message is committed to the webhook inbox as a delivery from the number's
//! own WhatsApp Business Account would be, and answers to the test customer are delivered to
//! the playground instead of being sent (`whatsapp::outbound`). So it works the same on a
//! development server and on one connected to Meta, and nothing reaches a phone.

use super::{Playground, PlaygroundChoice, PlaygroundMessage};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use serde_json::{Value, json};
use uuid::Uuid;

/// The name the test customer has in the inbox.
pub const CUSTOMER_NAME: &str = "You (trying the agent)";

/// The shop's test customer: a +1 555 number (the range kept for fiction), fixed per shop so
/// the test conversation stays one thread in the inbox.
pub fn customer_number(shop_id: Uuid) -> String {
    let bytes = shop_id.as_bytes();
    let mut tail = [0u8; 8];
    tail.copy_from_slice(&bytes[8..16]);
    format!("1555{:08}", u64::from_be_bytes(tail) % 100_000_000)
}

/// Inbound wamids of the playground's messages, and the ids its answers get instead of Meta's.
const WAMID_PREFIX: &str = "wamid.TRY";

pub fn new_wamid() -> String {
    format!("{WAMID_PREFIX}{}", Uuid::now_v7().simple())
}

/// A message the playground made (nothing to mark read or to type into at Meta).
pub fn is_playground_wamid(wamid: &str) -> bool {
    wamid.starts_with(WAMID_PREFIX)
}

/// Whether a customer is this shop's playground customer: marked as a test customer *and*
/// on the shop's fictional number (an imported test customer with a real number still gets
/// real messages).
pub fn is_playground_customer(shop_id: Uuid, is_test: bool, wa_id: Option<&str>) -> bool {
    is_test && wa_id == Some(customer_number(shop_id).as_str())
}

/// The shop's connected number, or why the playground cannot run (and where to fix it).
async fn readiness(
    state: &AppState,
    shop_id: Uuid,
) -> AppResult<Result<crate::whatsapp::ssr::AccountRow, (String, Option<String>)>> {
    let account = crate::whatsapp::ssr::account_for_shop(&state.pool, shop_id).await?;
    match account {
        Some(a) if a.status == "connected" => Ok(Ok(a)),
        Some(_) => Ok(Err((
            "Your WhatsApp number needs reconnecting before you can try the agent.".into(),
            Some("/dashboard/channels/whatsapp".into()),
        ))),
        None => Ok(Err((
            "Connect WhatsApp first: the agent answers on your number, and the playground writes to it as a customer would."
                .into(),
            Some("/dashboard/channels/whatsapp".into()),
        ))),
    }
}

/// The test conversation: its id and who answers it (ai or human).
async fn conversation(state: &AppState, shop_id: Uuid) -> AppResult<Option<(Uuid, String)>> {
    Ok(sqlx::query_as(
        "select v.id, v.mode from conversations v
         join customers c on c.id = v.customer_id and c.shop_id = v.shop_id
         where v.shop_id = $1 and c.wa_id = $2",
    )
    .bind(shop_id)
    .bind(customer_number(shop_id))
    .fetch_optional(&state.pool)
    .await?)
}

/// The reply buttons or list rows of an interactive message, and its text.
fn interactive(payload: &Value) -> Option<(String, Vec<PlaygroundChoice>)> {
    let i = payload.get("interactive")?;
    let body = i.pointer("/body/text")?.as_str()?.to_string();
    let action = &i["action"];
    let mut choices = Vec::new();
    for b in action["buttons"].as_array().into_iter().flatten() {
        choices.push(PlaygroundChoice {
            kind: "button".into(),
            id: b.pointer("/reply/id").and_then(Value::as_str)?.to_string(),
            title: b
                .pointer("/reply/title")
                .and_then(Value::as_str)?
                .to_string(),
            description: String::new(),
        });
    }
    for s in action["sections"].as_array().into_iter().flatten() {
        for r in s["rows"].as_array().into_iter().flatten() {
            choices.push(PlaygroundChoice {
                kind: "list".into(),
                id: r["id"].as_str()?.to_string(),
                title: r["title"].as_str()?.to_string(),
                description: r["description"].as_str().unwrap_or_default().to_string(),
            });
        }
    }
    Some((body, choices))
}

pub async fn view(state: &AppState, shop_id: Uuid) -> AppResult<Playground> {
    let mode = super::ssr::settings(state, shop_id).await?.mode;
    let customer = format!("+{}", customer_number(shop_id));
    let mut out = Playground {
        blocked: None,
        fix_href: None,
        mode: mode.clone(),
        customer,
        conversation_id: None,
        with_person: false,
        waiting: false,
        messages: Vec::new(),
    };
    if let Err((why, href)) = readiness(state, shop_id).await? {
        out.blocked = Some(why);
        out.fix_href = href;
        return Ok(out);
    }
    let Some((id, conversation_mode)) = conversation(state, shop_id).await? else {
        return Ok(out);
    };
    out.conversation_id = Some(id);
    out.with_person = conversation_mode == "human";
    let thread = crate::conversations::ssr::get(state, shop_id, id, true).await?;
    // Since the last "Start over", by when we stored each message (Meta's timestamps are whole
    // seconds, so a message sent right after starting over could look older than the start).
    let shown: Vec<(Uuid, String, Value)> = sqlx::query_as(
        "select m.id, m.kind, m.payload from wa_messages m
         where m.conversation_id = $1 and m.shop_id = $2
           and m.created_at >= coalesce(
               (select since from agent_playground where shop_id = $2), '-infinity')",
    )
    .bind(id)
    .bind(shop_id)
    .fetch_all(&state.pool)
    .await?;
    let shown: std::collections::HashMap<Uuid, (String, Value)> = shown
        .into_iter()
        .map(|(id, kind, payload)| (id, (kind, payload)))
        .collect();
    for m in thread.messages {
        let Some((kind, payload)) = shown.get(&m.id) else {
            continue;
        };
        if m.direction == "note" {
            continue;
        }
        let from_customer = m.direction == "in";
        let (body, choices) = match (m.direction == "out" && kind == "interactive")
            .then(|| interactive(payload))
            .flatten()
        {
            Some((body, choices)) => (body, choices),
            None => (m.body.clone(), Vec::new()),
        };
        out.messages.push(PlaygroundMessage {
            id: m.id,
            from_customer,
            sent_by: if from_customer {
                "customer".into()
            } else {
                m.sent_by.clone()
            },
            body,
            details: m.details,
            choices,
            why: m.why,
            status: m.status,
        });
    }
    // Only the latest answer's buttons can be tapped, as on the customer's phone in practice.
    let last = out.messages.len().saturating_sub(1);
    for m in out.messages.iter_mut().take(last) {
        m.choices.clear();
    }
    out.waiting =
        out.messages.last().is_some_and(|m| m.from_customer) && !out.with_person && mode != "off";
    Ok(out)
}

/// What the merchant, as the customer, sends: text, or a tap on a button or list row.
pub struct Say<'a> {
    pub kind: &'a str,
    pub text: &'a str,
    pub reply_id: Option<&'a str>,
}

pub async fn say(state: &AppState, shop_id: Uuid, s: Say<'_>) -> AppResult<()> {
    let text = s.text.trim();
    match s.kind {
        "text" if text.is_empty() => {
            return Err(AppError::validation(
                "text",
                "Write a message, as a customer would.",
            ));
        }
        "text" if text.chars().count() > 4096 => {
            return Err(AppError::validation(
                "text",
                "WhatsApp messages are at most 4,096 characters.",
            ));
        }
        "text" => {}
        "button" | "list" if s.reply_id.is_some_and(|r| !r.is_empty() && r.len() <= 256) => {}
        _ => {
            return Err(AppError::validation(
                "text",
                "That is not something a customer can send.",
            ));
        }
    }
    let account = match readiness(state, shop_id).await? {
        Ok(account) => account,
        Err((why, _)) => return Err(AppError::Conflict(why)),
    };
    sqlx::query(
        "insert into agent_playground (shop_id, since) values ($1, $2) on conflict do nothing",
    )
    .bind(shop_id)
    .bind(state.clock.now())
    .execute(&state.pool)
    .await?;
    // The test customer exists, marked, before its first message: the inbox then finds it by
    // number, and its orders are test orders that the shop's numbers leave out.
    sqlx::query(
        "insert into customers (id, shop_id, phone, wa_id, name, is_test) values ($1, $2, $3, $4, $5, true)
         on conflict (shop_id, phone) do update set is_test = true, wa_id = excluded.wa_id",
    )
    .bind(Uuid::now_v7())
    .bind(shop_id)
    .bind(format!("+{}", customer_number(shop_id)))
    .bind(customer_number(shop_id))
    .bind(CUSTOMER_NAME)
    .execute(&state.pool)
    .await?;
    let body = delivery(
        &account,
        &customer_number(shop_id),
        state.clock.now().unix_timestamp(),
        &s,
    );
    // The same door as Meta's webhook: committed to the inbox, then processed by the pipeline.
    crate::whatsapp::inbound::receive(state, Some(account.id), body.to_string().as_bytes()).await?;
    Ok(())
}

/// The webhook delivery Meta would make for this message from the test customer.
fn delivery(
    account: &crate::whatsapp::ssr::AccountRow,
    from: &str,
    sent_at: i64,
    s: &Say<'_>,
) -> Value {
    let mut m = json!({"from": from, "id": new_wamid(), "timestamp": sent_at.to_string()});
    let reply = || json!({"id": s.reply_id.unwrap_or_default(), "title": s.text.trim()});
    match s.kind {
        "button" => {
            m["type"] = json!("interactive");
            m["interactive"] = json!({"type": "button_reply", "button_reply": reply()});
        }
        "list" => {
            m["type"] = json!("interactive");
            m["interactive"] = json!({"type": "list_reply", "list_reply": reply()});
        }
        _ => {
            m["type"] = json!("text");
            m["text"] = json!({"body": s.text.trim()});
        }
    }
    let display: String = account
        .display_phone
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    json!({"object": "whatsapp_business_account", "entry": [{"id": account.waba_id, "changes": [{
        "field": "messages",
        "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": display, "phone_number_id": account.phone_number_id},
            "contacts": [{"profile": {"name": CUSTOMER_NAME}, "wa_id": from}],
            "messages": [m]
        }
    }]}]})
}

/// A fresh start: the playground shows the conversation from now on, the agent forgets where
/// it was (an order half asked, the greeting), and a handover is closed and handed back.
pub async fn start_over(state: &AppState, shop_id: Uuid) -> AppResult<()> {
    sqlx::query(
        "insert into agent_playground (shop_id) values ($1)
         on conflict (shop_id) do update set since = now()",
    )
    .bind(shop_id)
    .execute(&state.pool)
    .await?;
    if let Some((id, _)) = conversation(state, shop_id).await? {
        sqlx::query("delete from agent_sessions where conversation_id = $1 and shop_id = $2")
            .bind(id)
            .bind(shop_id)
            .execute(&state.pool)
            .await?;
        crate::conversations::ssr::set_mode(state, shop_id, id, "ai").await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_test_customer_has_a_fictional_number_of_its_own_per_shop() {
        let a = customer_number(Uuid::now_v7());
        let b = customer_number(Uuid::now_v7());
        assert_eq!(a.len(), 12);
        assert!(a.starts_with("1555") && a.chars().all(|c| c.is_ascii_digit()));
        assert_ne!(a, b);
        let shop = Uuid::now_v7();
        assert_eq!(customer_number(shop), customer_number(shop));
    }

    #[test]
    fn reads_buttons_and_list_rows_from_an_interactive_message() {
        let (body, choices) = interactive(&json!({"type": "interactive", "interactive": {
            "type": "button", "body": {"text": "Hi"},
            "action": {"buttons": [{"type": "reply", "reply": {"id": "browse", "title": "Browse"}}]}
        }}))
        .unwrap();
        assert_eq!(body, "Hi");
        assert_eq!(
            (choices[0].kind.as_str(), choices[0].id.as_str()),
            ("button", "browse")
        );
        let (_, rows) = interactive(
            &json!({"interactive": {"type": "list", "body": {"text": "Found"},
            "action": {"button": "Products", "sections": [{"title": "Products", "rows": [
                {"id": "p:1", "title": "Scarf", "description": "₦4,500.00"}]}]}}}),
        )
        .unwrap();
        assert_eq!(rows[0].kind, "list");
        assert_eq!(rows[0].description, "₦4,500.00");
        assert!(interactive(&json!({"type": "text", "text": {"body": "x"}})).is_none());
    }
}
