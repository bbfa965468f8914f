//! The shop assistant: the agent without a language model. A guided WhatsApp conversation —
//! a greeting with buttons, search answered with a list of products, a product's card with
//! its price and an Order button, the order's questions (quantity, name, address) checked one
//! by one, a summary to confirm, and "talk to a person" from anywhere. Every price and stock
//! level it says is read from the database and formatted here; it never makes one up.

use super::lang::{self, Texts};
use super::retrieval::{self, Found};
use crate::error::{AppError, AppResult};
use crate::money::format_money;
use crate::state::AppState;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

/// Finding nothing this many times in a row brings a person in.
const MISSES_BEFORE_PERSON: i32 = 3;
const MAX_QUANTITY: i32 = 99;

/// What the customer said this turn.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A reply button or list row they tapped: its id.
    Choice(String),
    Text(String),
}

/// One message the agent sends.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Text(String),
    /// Up to three reply buttons: (id, title).
    Buttons {
        body: String,
        buttons: Vec<(String, String)>,
    },
    /// A list of up to ten rows: (id, title, description).
    List {
        body: String,
        button: String,
        rows: Vec<(String, String, String)>,
    },
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

impl Reply {
    /// Meta's message object (WhatsApp's limits applied: body 1024 characters, button titles
    /// 20, list rows 24 and 72, ten rows).
    pub fn payload(&self) -> Value {
        match self {
            Reply::Text(body) => {
                json!({"type": "text", "text": {"body": clip(body, 4096), "preview_url": false}})
            }
            Reply::Buttons { body, buttons } => json!({
                "type": "interactive",
                "interactive": {
                    "type": "button",
                    "body": {"text": clip(body, 1024)},
                    "action": {"buttons": buttons.iter().take(3).map(|(id, title)| json!({
                        "type": "reply", "reply": {"id": id, "title": clip(title, 20)}
                    })).collect::<Vec<_>>()}
                }
            }),
            Reply::List { body, button, rows } => json!({
                "type": "interactive",
                "interactive": {
                    "type": "list",
                    "body": {"text": clip(body, 1024)},
                    "action": {
                        "button": clip(button, 20),
                        "sections": [{"title": clip(button, 24), "rows": rows.iter().take(10).map(|(id, title, description)| json!({
                            "id": id, "title": clip(title, 24), "description": clip(description, 72)
                        })).collect::<Vec<_>>()}]
                    }
                }
            }),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Reply::Text(_) => "text",
            _ => "interactive",
        }
    }

    /// What the thread shows: the text, and the choices offered.
    pub fn shown(&self) -> String {
        match self {
            Reply::Text(body) => body.clone(),
            Reply::Buttons { body, buttons } => format!(
                "{body}\n[{}]",
                buttons
                    .iter()
                    .map(|b| b.1.as_str())
                    .collect::<Vec<_>>()
                    .join("] [")
            ),
            Reply::List { body, rows, .. } => {
                let mut out = body.clone();
                for (_, title, description) in rows {
                    out.push_str(&format!("\n• {title} — {description}"));
                }
                out
            }
        }
    }

    fn prefix(&mut self, text: &str) {
        let body = match self {
            Reply::Text(b) => b,
            Reply::Buttons { body, .. } | Reply::List { body, .. } => body,
        };
        *body = format!("{text}\n\n{body}");
    }

    /// Adds a paragraph at the end (the handover after an order: one message per turn, because
    /// two messages queued together may reach the customer in either order).
    pub fn append(&mut self, text: &str) {
        let body = match self {
            Reply::Text(b) => b,
            Reply::Buttons { body, .. } | Reply::List { body, .. } => body,
        };
        *body = format!("{body}\n\n{text}");
    }
}

/// What the assistant remembers between turns of a conversation.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Data {
    pub variant_id: Option<Uuid>,
    pub quantity: Option<i32>,
    pub name: Option<String>,
    pub address: Option<String>,
    /// An order of several lines (the AI agent's `prepare_order`); empty for the assistant's
    /// one-product order, which is `variant_id` × `quantity`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<(Uuid, i32)>,
}

impl Data {
    /// The order's lines: variant and quantity.
    fn order_lines(&self) -> Vec<(Uuid, i32)> {
        if !self.lines.is_empty() {
            return self.lines.clone();
        }
        match (self.variant_id, self.quantity) {
            (Some(v), Some(q)) => vec![(v, q)],
            _ => Vec::new(),
        }
    }
}

/// Lines one order may have in the chat (a longer list is a job for the storefront's cart).
pub const MAX_LINES: usize = 10;

#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub step: String,
    pub data: Data,
    pub greeted: bool,
    pub misses: i32,
}

/// The conversation a turn belongs to, as the server knows it (never from the customer).
pub struct Ctx<'a> {
    pub state: &'a AppState,
    pub shop_id: Uuid,
    pub shop_name: String,
    pub shop_slug: String,
    pub currency: String,
    pub customer_id: Uuid,
    pub customer_name: String,
    pub customer_phone: Option<String>,
    pub lang: &'static str,
    /// The shop's own disclosure wording; empty: the built-in one.
    pub disclosure: String,
    /// The merchant's rule: orders above this total are handed to them once placed.
    pub escalate_above_minor: Option<i64>,
    /// Makes this turn's order idempotent (a retried job never orders twice).
    pub turn_key: String,
}

impl Ctx<'_> {
    pub(super) fn t(&self) -> &'static Texts {
        lang::texts(self.lang)
    }
    pub(super) fn money(&self, minor: i64) -> String {
        format_money(minor, &self.currency)
    }
}

/// The answer to one turn: messages to send and, maybe, a handover to the merchant.
#[derive(Debug, Default)]
pub struct Outcome {
    pub replies: Vec<Reply>,
    /// (reason, summary) when a person should take over.
    pub escalate: Option<(&'static str, String)>,
    /// An order placed this turn: (id, number).
    pub order: Option<(Uuid, i32)>,
    /// The saved question whose answer this turn gave (for the trace).
    pub faq: Option<String>,
}

pub async fn respond(ctx: &Ctx<'_>, session: &mut Session, input: &Input) -> AppResult<Outcome> {
    let mut out = answer(ctx, session, input).await?;
    disclose(ctx, session, &mut out);
    Ok(out)
}

/// What the assistant answers to `text`: the safe deterministic answer the AI agent falls
/// back to when its own could not be grounded.
pub(super) async fn respond_plain(
    ctx: &Ctx<'_>,
    session: &mut Session,
    text: &str,
) -> AppResult<Outcome> {
    answer(ctx, session, &Input::Text(text.to_string())).await
}

/// The first answer of a conversation says it comes from an automated assistant (whichever
/// engine wrote it).
pub(super) fn disclose(ctx: &Ctx<'_>, session: &mut Session, out: &mut Outcome) {
    // A handover is one message (the escalation sends it); the person who answers next is
    // not automated, so there is nothing to disclose yet.
    if session.greeted || out.escalate.is_some() {
        return;
    }
    let disclosure = if ctx.disclosure.trim().is_empty() {
        ctx.t().disclosure.replace("{shop}", &ctx.shop_name)
    } else {
        ctx.disclosure.trim().to_string()
    };
    match out.replies.first_mut() {
        Some(first) => first.prefix(&disclosure),
        None => out.replies.push(Reply::Text(disclosure)),
    }
    session.greeted = true;
}

/// An order the AI agent gathered in conversation, checked as the assistant checks each
/// answer: `Ok` is the summary to confirm (the session waits for Confirm, exactly as after the
/// assistant's own questions); `Err` tells the model what is wrong. The same variant twice is
/// one line with the quantities added.
pub(super) async fn draft(
    ctx: &Ctx<'_>,
    session: &mut Session,
    items: &[(Uuid, i64)],
    name: &str,
    address: &str,
) -> AppResult<Result<Reply, String>> {
    let mut lines: Vec<(Uuid, i64)> = Vec::new();
    for (variant_id, quantity) in items {
        match lines.iter_mut().find(|(v, _)| v == variant_id) {
            Some((_, q)) => *q = q.saturating_add(*quantity),
            None => lines.push((*variant_id, *quantity)),
        }
    }
    if lines.is_empty() {
        return Ok(Err(
            "give at least one item: a variant_id and a quantity".into()
        ));
    }
    if lines.len() > MAX_LINES {
        return Ok(Err(format!(
            "at most {MAX_LINES} different items per order in the chat"
        )));
    }
    let mut checked = Vec::with_capacity(lines.len());
    for (variant_id, quantity) in lines {
        let Some((title, v)) = variant(ctx, variant_id).await? else {
            return Ok(Err(format!(
                "no available variant of this shop has the id {variant_id}; use get_product"
            )));
        };
        let qty = match i32::try_from(quantity) {
            Ok(q) if (1..=MAX_QUANTITY).contains(&q) => q,
            _ => {
                return Ok(Err(format!(
                    "quantity of {title} must be 1 to {MAX_QUANTITY}"
                )));
            }
        };
        if v.track_stock && v.stock < qty {
            return Ok(Err(if v.stock <= 0 {
                format!("{title} is sold out")
            } else {
                format!("only {} of {title} in stock", v.stock)
            }));
        }
        checked.push((variant_id, qty));
    }
    let name = name.trim();
    if !(2..=100).contains(&name.chars().count()) || !name.chars().any(char::is_alphabetic) {
        return Ok(Err("ask the customer for their name".into()));
    }
    let address = address.trim();
    if !(8..=500).contains(&address.chars().count()) || !address.chars().any(char::is_alphabetic) {
        return Ok(Err("ask the customer for a full delivery address".into()));
    }
    session.step = "confirm".into();
    let (first, qty) = checked[0];
    session.data = Data {
        variant_id: Some(first),
        quantity: Some(qty),
        name: Some(name.to_string()),
        address: Some(address.to_string()),
        lines: if checked.len() > 1 {
            checked
        } else {
            Vec::new()
        },
    };
    Ok(Ok(summary(ctx, session).await?))
}

async fn answer(ctx: &Ctx<'_>, session: &mut Session, input: &Input) -> AppResult<Outcome> {
    let t = ctx.t();
    let person = |summary: String| Outcome {
        replies: Vec::new(),
        escalate: Some(("customer_asked", summary)),
        ..Default::default()
    };
    match input {
        Input::Choice(id) if id == "human" => {
            return Ok(person("The customer tapped \"Talk to a person\".".into()));
        }
        Input::Text(text) if lang::asks_for_person(text) => {
            return Ok(person(format!(
                "The customer asked for a person: \"{}\"",
                clip(text, 200)
            )));
        }
        _ => {}
    }
    let replies = match input {
        Input::Choice(id) => match id.split_once(':') {
            Some(("p", pid)) => match pid.parse() {
                Ok(pid) => product(ctx, pid).await?,
                Err(_) => vec![menu(ctx)],
            },
            Some(("v" | "o", vid)) => match vid.parse() {
                Ok(vid) => start_order(ctx, session, vid).await?,
                Err(_) => vec![menu(ctx)],
            },
            _ => match id.as_str() {
                "browse" => browse(ctx).await?,
                "orders" => my_orders(ctx).await?,
                "use_name" if session.step == "name" => {
                    let name = ctx.customer_name.trim().to_string();
                    take_name(ctx, session, &name)
                }
                "confirm" if session.step == "confirm" => return place(ctx, session).await,
                "cancel" => {
                    reset(session);
                    vec![Reply::Buttons {
                        body: t.cancelled.into(),
                        buttons: menu_buttons(t),
                    }]
                }
                _ => vec![menu(ctx)],
            },
        },
        Input::Text(text) => {
            let text = text.trim();
            match session.step.as_str() {
                "quantity" => take_quantity(ctx, session, text).await?,
                "name" => take_name(ctx, session, text),
                "address" => take_address(ctx, session, text).await?,
                "confirm" => match lang::yes_no(text) {
                    Some(true) => return place(ctx, session).await,
                    Some(false) => {
                        reset(session);
                        vec![Reply::Buttons {
                            body: t.cancelled.into(),
                            buttons: menu_buttons(t),
                        }]
                    }
                    None => vec![summary(ctx, session).await?],
                },
                _ if lang::is_greeting(text) => vec![menu(ctx)],
                _ => {
                    // A question the merchant saved an answer for is answered with it.
                    if let Some(entry) =
                        super::faq::best_match(&ctx.state.pool, ctx.shop_id, text).await?
                    {
                        session.misses = 0;
                        return Ok(Outcome {
                            replies: vec![Reply::Buttons {
                                body: entry.answer,
                                buttons: menu_buttons(t),
                            }],
                            faq: Some(entry.question),
                            ..Default::default()
                        });
                    }
                    let found = retrieval::find(
                        ctx.state,
                        ctx.shop_id,
                        &retrieval::Query {
                            text,
                            limit: 10,
                            ..Default::default()
                        },
                    )
                    .await?;
                    if found.is_empty() {
                        session.misses += 1;
                        if session.misses >= MISSES_BEFORE_PERSON {
                            session.misses = 0;
                            return Ok(Outcome {
                                replies: Vec::new(),
                                escalate: Some((
                                    "not_understood",
                                    format!(
                                        "The assistant found nothing {MISSES_BEFORE_PERSON} times in a row; last: \"{}\"",
                                        clip(text, 200)
                                    ),
                                )),
                                ..Default::default()
                            });
                        }
                        vec![Reply::Buttons {
                            body: t.nothing_found.replace("{query}", &clip(text, 60)),
                            buttons: menu_buttons(t),
                        }]
                    } else {
                        session.misses = 0;
                        vec![product_list(
                            ctx,
                            t.found.replace("{query}", &clip(text, 60)),
                            &found,
                        )]
                    }
                }
            }
        }
    };
    Ok(Outcome {
        replies,
        ..Default::default()
    })
}

fn reset(session: &mut Session) {
    session.step = "idle".into();
    session.data = Data::default();
}

fn menu_buttons(t: &Texts) -> Vec<(String, String)> {
    vec![
        ("browse".into(), t.browse.into()),
        ("orders".into(), t.my_order.into()),
        ("human".into(), t.person.into()),
    ]
}

fn menu(ctx: &Ctx<'_>) -> Reply {
    Reply::Buttons {
        body: ctx.t().greeting.into(),
        buttons: menu_buttons(ctx.t()),
    }
}

fn price_range(ctx: &Ctx<'_>, f: &Found) -> String {
    match f.price_max_minor {
        Some(max) if max > f.price_minor => {
            format!("{} – {}", ctx.money(f.price_minor), ctx.money(max))
        }
        _ => ctx.money(f.price_minor),
    }
}

pub(super) fn product_list(ctx: &Ctx<'_>, body: String, found: &[Found]) -> Reply {
    let t = ctx.t();
    Reply::List {
        body,
        button: t.products_button.into(),
        rows: found
            .iter()
            .take(10)
            .map(|f| {
                let mut description = price_range(ctx, f);
                if f.sold_out {
                    description.push_str(&format!(" · {}", t.sold_out));
                }
                (format!("p:{}", f.id), f.title.clone(), description)
            })
            .collect(),
    }
}

async fn browse(ctx: &Ctx<'_>) -> AppResult<Vec<Reply>> {
    let found = retrieval::newest(&ctx.state.pool, ctx.shop_id, 10).await?;
    if found.is_empty() {
        return Ok(vec![Reply::Buttons {
            body: ctx.t().no_products.into(),
            buttons: vec![("human".into(), ctx.t().person.into())],
        }]);
    }
    Ok(vec![product_list(ctx, ctx.t().here_are.into(), &found)])
}

#[derive(sqlx::FromRow)]
struct VariantRow {
    id: Uuid,
    options: Vec<String>,
    price_minor: i64,
    track_stock: bool,
    stock: i32,
}

impl VariantRow {
    fn available(&self) -> bool {
        !self.track_stock || self.stock > 0
    }
}

/// A product's card: its price, stock and address, and how to order it (one button, or a
/// list of its variants).
pub(super) async fn product(ctx: &Ctx<'_>, product_id: Uuid) -> AppResult<Vec<Reply>> {
    let t = ctx.t();
    let Some(card) = crate::catalog::ssr::product_card(ctx.state, ctx.shop_id, product_id).await?
    else {
        return Ok(vec![menu(ctx)]);
    };
    let variants: Vec<VariantRow> = sqlx::query_as(
        "select id, options, price_minor, track_stock, stock from product_variants
         where shop_id = $1 and product_id = $2 and enabled
         order by position, created_at, id limit 10",
    )
    .bind(ctx.shop_id)
    .bind(product_id)
    .fetch_all(&ctx.state.pool)
    .await?;
    let Some(first) = variants.first() else {
        return Ok(vec![menu(ctx)]);
    };
    if variants.len() == 1 {
        let available = first.available();
        let mut buttons = Vec::new();
        if available {
            buttons.push((format!("o:{}", first.id), t.order_button.to_string()));
        }
        buttons.push(("browse".into(), t.browse.into()));
        buttons.push(("human".into(), t.person.into()));
        return Ok(vec![Reply::Buttons {
            body: format!(
                "*{}*\n{}\n{}\n{}",
                card.title,
                ctx.money(first.price_minor),
                if available { t.in_stock } else { t.sold_out },
                card.url
            ),
            buttons,
        }]);
    }
    let min = variants.iter().map(|v| v.price_minor).min().unwrap_or(0);
    let max = variants.iter().map(|v| v.price_minor).max().unwrap_or(0);
    let range = if max > min {
        format!("{} – {}", ctx.money(min), ctx.money(max))
    } else {
        ctx.money(min)
    };
    Ok(vec![Reply::List {
        body: format!(
            "*{}*\n{range}\n{}\n\n{}",
            card.title, card.url, t.choose_option
        ),
        button: t.options_button.into(),
        rows: variants
            .iter()
            .map(|v| {
                let mut description = ctx.money(v.price_minor);
                if !v.available() {
                    description.push_str(&format!(" · {}", t.sold_out));
                }
                (format!("v:{}", v.id), v.options.join(" / "), description)
            })
            .collect(),
    }])
}

/// A variant of this shop with its product's title and its own options.
async fn variant(ctx: &Ctx<'_>, variant_id: Uuid) -> AppResult<Option<(String, VariantRow)>> {
    let row: Option<(String, Uuid, Vec<String>, i64, bool, i32)> = sqlx::query_as(
        "select p.title, v.id, v.options, v.price_minor, v.track_stock, v.stock
         from product_variants v join products p on p.id = v.product_id
         where v.id = $1 and v.shop_id = $2 and v.enabled and p.status = 'active'",
    )
    .bind(variant_id)
    .bind(ctx.shop_id)
    .fetch_optional(&ctx.state.pool)
    .await?;
    Ok(
        row.map(|(title, id, options, price_minor, track_stock, stock)| {
            let title = if options.is_empty() {
                title
            } else {
                format!("{title} ({})", options.join(" / "))
            };
            (
                title,
                VariantRow {
                    id,
                    options,
                    price_minor,
                    track_stock,
                    stock,
                },
            )
        }),
    )
}

async fn start_order(
    ctx: &Ctx<'_>,
    session: &mut Session,
    variant_id: Uuid,
) -> AppResult<Vec<Reply>> {
    let t = ctx.t();
    let Some((title, v)) = variant(ctx, variant_id).await? else {
        return Ok(vec![menu(ctx)]);
    };
    if !v.available() {
        return Ok(vec![Reply::Buttons {
            body: t.sold_out_choose_other.into(),
            buttons: menu_buttons(t),
        }]);
    }
    session.step = "quantity".into();
    session.data = Data {
        variant_id: Some(v.id),
        ..Data::default()
    };
    Ok(vec![Reply::Text(format!(
        "*{title}*: {}\n{}",
        ctx.money(v.price_minor),
        t.how_many
    ))])
}

async fn take_quantity(ctx: &Ctx<'_>, session: &mut Session, text: &str) -> AppResult<Vec<Reply>> {
    let t = ctx.t();
    let Some(variant_id) = session.data.variant_id else {
        reset(session);
        return Ok(vec![menu(ctx)]);
    };
    let qty = match text.trim().parse::<i32>() {
        Ok(n) if (1..=MAX_QUANTITY).contains(&n) => n,
        _ => return Ok(vec![Reply::Text(t.bad_quantity.into())]),
    };
    let Some((_, v)) = variant(ctx, variant_id).await? else {
        reset(session);
        return Ok(vec![menu(ctx)]);
    };
    if v.track_stock && v.stock < qty {
        if v.stock <= 0 {
            reset(session);
            return Ok(vec![Reply::Buttons {
                body: t.sold_out_choose_other.into(),
                buttons: menu_buttons(t),
            }]);
        }
        return Ok(vec![Reply::Text(
            t.only_left.replace("{n}", &v.stock.to_string()),
        )]);
    }
    session.data.quantity = Some(qty);
    session.step = "name".into();
    let name = ctx.customer_name.trim();
    Ok(vec![if (2..=100).contains(&name.chars().count()) {
        Reply::Buttons {
            body: t.your_name.into(),
            buttons: vec![("use_name".into(), clip(name, 20))],
        }
    } else {
        Reply::Text(t.your_name.into())
    }])
}

fn take_name(ctx: &Ctx<'_>, session: &mut Session, text: &str) -> Vec<Reply> {
    let t = ctx.t();
    let name = text.trim();
    if !(2..=100).contains(&name.chars().count()) || !name.chars().any(char::is_alphabetic) {
        return vec![Reply::Text(t.bad_name.into())];
    }
    session.data.name = Some(name.to_string());
    session.step = "address".into();
    vec![Reply::Text(t.your_address.into())]
}

async fn take_address(ctx: &Ctx<'_>, session: &mut Session, text: &str) -> AppResult<Vec<Reply>> {
    let address = text.trim();
    if !(8..=500).contains(&address.chars().count()) || !address.chars().any(char::is_alphabetic) {
        return Ok(vec![Reply::Text(ctx.t().bad_address.into())]);
    }
    session.data.address = Some(address.to_string());
    session.step = "confirm".into();
    Ok(vec![summary(ctx, session).await?])
}

/// The order to confirm, priced from the database now.
async fn summary(ctx: &Ctx<'_>, session: &mut Session) -> AppResult<Reply> {
    let t = ctx.t();
    let lines = session.data.order_lines();
    if lines.is_empty() {
        reset(session);
        return Ok(menu(ctx));
    }
    let mut body = t.summary.to_string();
    let mut total = 0i64;
    for (variant_id, qty) in lines {
        let Some((title, v)) = variant(ctx, variant_id).await? else {
            reset(session);
            return Ok(menu(ctx));
        };
        total += v.price_minor * i64::from(qty);
        body.push_str(&format!("\n{qty} × {title} — {}", ctx.money(v.price_minor)));
    }
    Ok(Reply::Buttons {
        body: format!(
            "{body}\n{}: *{}*\n{}: {}, {}",
            t.total,
            ctx.money(total),
            t.deliver_to,
            session.data.name.as_deref().unwrap_or_default(),
            session.data.address.as_deref().unwrap_or_default(),
        ),
        buttons: vec![
            ("confirm".into(), t.confirm.into()),
            ("cancel".into(), t.cancel.into()),
        ],
    })
}

/// Places the order through the same service as the storefront's checkout (database prices,
/// stock taken atomically, one order per key).
async fn place(ctx: &Ctx<'_>, session: &mut Session) -> AppResult<Outcome> {
    let t = ctx.t();
    let lines = session.data.order_lines();
    let (false, Some(name), Some(address)) = (
        lines.is_empty(),
        session.data.name.clone(),
        session.data.address.clone(),
    ) else {
        reset(session);
        return Ok(Outcome {
            replies: vec![menu(ctx)],
            ..Default::default()
        });
    };
    let placed = crate::orders::ssr::place_order(
        ctx.state,
        &ctx.shop_slug,
        crate::orders::ssr::CheckoutInput {
            name,
            phone: ctx.customer_phone.clone().unwrap_or_default(),
            address,
            note: "Ordered in the WhatsApp chat with the shop assistant.".into(),
            idempotency_key: ctx.turn_key.clone(),
            items: lines,
        },
    )
    .await;
    let id = match placed {
        Ok(id) => id,
        Err(AppError::Internal(e)) => return Err(AppError::Internal(e)),
        Err(e) => {
            let reason = match &e {
                AppError::Validation(fields) => {
                    fields.values().cloned().collect::<Vec<_>>().join(" ")
                }
                AppError::Conflict(m) | AppError::RateLimited(m) => m.clone(),
                other => other.to_string(),
            };
            reset(session);
            return Ok(Outcome {
                replies: vec![Reply::Buttons {
                    body: t.order_failed.replace("{reason}", &reason),
                    buttons: menu_buttons(t),
                }],
                ..Default::default()
            });
        }
    };
    let (number, total): (i32, i64) =
        sqlx::query_as("select number, total_minor from orders where id = $1 and shop_id = $2")
            .bind(id)
            .bind(ctx.shop_id)
            .fetch_one(&ctx.state.pool)
            .await?;
    reset(session);
    // The order stands (the sale is not lost); above the merchant's amount a person follows
    // it up, as they asked.
    let escalate = ctx
        .escalate_above_minor
        .filter(|above| total > *above)
        .map(|above| {
            (
                "merchant_rule",
                format!(
                    "Order #{number} for {} is above your {} rule: please follow it up with the customer.",
                    ctx.money(total),
                    ctx.money(above)
                ),
            )
        });
    Ok(Outcome {
        replies: vec![Reply::Text(format!(
            "{}\n{}: *{}*",
            t.confirmed.replace("{number}", &number.to_string()),
            t.total,
            ctx.money(total)
        ))],
        escalate,
        order: Some((id, number)),
        faq: None,
    })
}

/// The customer's own latest orders: found by the conversation's customer, never by anything
/// the customer typed.
async fn my_orders(ctx: &Ctx<'_>) -> AppResult<Vec<Reply>> {
    let t = ctx.t();
    let orders: Vec<(i32, String, i64)> = sqlx::query_as(
        "select number, status, total_minor from orders
         where shop_id = $1 and customer_id = $2 order by created_at desc limit 3",
    )
    .bind(ctx.shop_id)
    .bind(ctx.customer_id)
    .fetch_all(&ctx.state.pool)
    .await?;
    if orders.is_empty() {
        return Ok(vec![Reply::Buttons {
            body: t.no_orders.into(),
            buttons: menu_buttons(t),
        }]);
    }
    let mut body = t.your_orders.to_string();
    for (number, status, total) in orders {
        body.push_str(&format!(
            "\n#{number}: {} — {}",
            ctx.money(total),
            lang::status_word(t, &status)
        ));
    }
    Ok(vec![Reply::Buttons {
        body,
        buttons: menu_buttons(t),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_keep_within_whatsapps_limits() {
        let long = "x".repeat(3000);
        let reply = Reply::List {
            body: long.clone(),
            button: "A very long button title indeed".into(),
            rows: (0..15)
                .map(|i| (format!("p:{i}"), long.clone(), long.clone()))
                .collect(),
        };
        let p = reply.payload();
        assert_eq!(
            p["interactive"]["body"]["text"]
                .as_str()
                .unwrap()
                .chars()
                .count(),
            1024
        );
        let rows = p["interactive"]["action"]["sections"][0]["rows"]
            .as_array()
            .unwrap();
        assert_eq!(rows.len(), 10);
        assert_eq!(rows[0]["title"].as_str().unwrap().chars().count(), 24);
        assert_eq!(rows[0]["description"].as_str().unwrap().chars().count(), 72);
        assert_eq!(
            p["interactive"]["action"]["button"]
                .as_str()
                .unwrap()
                .chars()
                .count(),
            20
        );
        let buttons = Reply::Buttons {
            body: "b".into(),
            buttons: (0..5).map(|i| (i.to_string(), "t".into())).collect(),
        };
        assert_eq!(
            buttons.payload()["interactive"]["action"]["buttons"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
    }
}
