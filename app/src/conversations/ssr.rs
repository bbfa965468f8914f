//! The inbox's services. Every query is scoped by the shop from the session; another shop's
//! conversation is answered exactly like a missing one (404).

use super::{
    ConversationRow, ConversationView, CustomerOrder, InboxQuery, MediaView, MessageView, Outgoing,
    TemplateOption, WINDOW_SECS,
};
use crate::error::{AppError, AppResult};
use crate::platform::jobs::{self, NewJob};
use crate::state::AppState;
use crate::whatsapp::outbound::{self, Queued};
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

pub const MAX_TEXT: usize = 4096;

/// id, name, phone, preview, last message at, unread, mode, needs attention.
type ListRow = (
    Uuid,
    String,
    Option<String>,
    String,
    OffsetDateTime,
    i32,
    String,
    bool,
);

pub async fn list(
    state: &AppState,
    shop_id: Uuid,
    q: &InboxQuery,
) -> AppResult<Vec<ConversationRow>> {
    let zone = crate::platform::zone::of_shop(&state.pool, shop_id).await?;
    let search = q.q.trim();
    let pattern = format!(
        "%{}%",
        search
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let rows: Vec<ListRow> = sqlx::query_as(
        "select v.id, c.name, c.phone, v.last_preview, v.last_message_at, v.unread_count, v.mode,
                v.needs_attention
         from conversations v join customers c on c.id = v.customer_id and c.shop_id = v.shop_id
         where v.shop_id = $1
           and ($2 = '' or c.name ilike $3 or c.phone like $3 or v.last_preview ilike $3)
           and case $4
                 when 'unread' then v.unread_count > 0
                 when 'attention' then v.needs_attention
                 when 'ai' then v.mode = 'ai' and not v.needs_attention
                 when 'human' then v.mode = 'human'
                 else true end
         order by v.last_message_at desc, v.id desc
         limit 200",
    )
    .bind(shop_id)
    .bind(search)
    .bind(&pattern)
    .bind(q.filter.as_str())
    .fetch_all(&state.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, name, phone, preview, at, unread, mode, attention)| ConversationRow {
                id,
                customer_name: if name.is_empty() {
                    phone.clone().unwrap_or_else(|| "WhatsApp user".into())
                } else {
                    name
                },
                phone: phone.unwrap_or_default(),
                last_preview: preview,
                last_message_at: zone.rfc3339(at),
                unread,
                state: if attention { "attention".into() } else { mode },
            },
        )
        .collect())
}

#[derive(sqlx::FromRow)]
struct Header {
    id: Uuid,
    customer_id: Uuid,
    name: String,
    phone: Option<String>,
    marketing_opt_out: bool,
    mode: String,
    needs_attention: bool,
    last_inbound_at: Option<OffsetDateTime>,
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: Uuid,
    direction: String,
    sent_by: String,
    wamid: Option<String>,
    kind: String,
    body: String,
    payload: Value,
    status: String,
    error_text: Option<String>,
    sent_at: OffsetDateTime,
    media_status: Option<String>,
    media_file_id: Option<Uuid>,
    media_mime: Option<String>,
    media_error: Option<String>,
    trace_engine: Option<String>,
    trace_detail: Option<Value>,
    trace_tokens: Option<i32>,
    trace_latency_ms: Option<i32>,
    saved_answer: bool,
}

async fn header(state: &AppState, shop_id: Uuid, id: Uuid) -> AppResult<Header> {
    sqlx::query_as(
        "select v.id, v.customer_id, c.name, c.phone, c.marketing_opt_out, v.mode, v.needs_attention,
                v.last_inbound_at
         from conversations v join customers c on c.id = v.customer_id and c.shop_id = v.shop_id
         where v.id = $1 and v.shop_id = $2",
    )
    .bind(id)
    .bind(shop_id)
    .fetch_optional(&state.pool)
    .await?
    .ok_or(AppError::NotFound)
}

/// The lines of an agent answer's "why this answer".
fn why(r: &MessageRow) -> Vec<String> {
    let (Some(engine), Some(detail)) = (&r.trace_engine, &r.trace_detail) else {
        return Vec::new();
    };
    let mut lines = vec![match engine.as_str() {
        "llm" => "Written by the AI agent.".to_string(),
        "fallback" => format!(
            "The shop assistant answered because the AI agent could not: {}.",
            detail["reason"].as_str().unwrap_or("unknown")
        ),
        _ => "Written by the shop assistant (no language model).".to_string(),
    }];
    if let Some(question) = detail["faq"].as_str() {
        lines.push(format!(
            "Answered with your saved answer to \"{question}\"."
        ));
    }
    let model = if engine == "fallback" {
        &detail["model"]
    } else {
        detail
    };
    for tool in model["tools"].as_array().into_iter().flatten() {
        let name = tool["name"].as_str().unwrap_or("?");
        let args = tool["arguments"].to_string();
        let result = &tool["result"];
        let found = match (result["products"].as_array(), result["error"].as_str()) {
            (Some(p), _) => format!(
                "{} found{}",
                p.len(),
                p.iter()
                    .filter_map(|x| x["title"].as_str())
                    .take(5)
                    .map(|t| format!(" · {t}"))
                    .collect::<String>()
            ),
            (None, Some(e)) => format!("refused: {e}"),
            _ => result
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| "answered".into()),
        };
        lines.push(format!("Tool {name} {args}: {found}"));
    }
    if let Some(bad) = model["ungrounded"].as_array().filter(|b| !b.is_empty()) {
        let bad: Vec<&str> = bad.iter().filter_map(Value::as_str).collect();
        lines.push(format!(
            "Held back amounts no tool gave: {}{}",
            bad.join(", "),
            if model["replaced"] == true {
                "; the shop assistant's answer was sent instead"
            } else {
                ""
            }
        ));
    }
    if r.trace_tokens.unwrap_or(0) > 0 {
        lines.push(format!(
            "{} tokens · {} ms",
            r.trace_tokens.unwrap_or(0),
            r.trace_latency_ms.unwrap_or(0)
        ));
    }
    lines
}

pub fn window_secs_left(now: OffsetDateTime, last_inbound: Option<OffsetDateTime>) -> i64 {
    last_inbound
        .map(|t| WINDOW_SECS - (now - t).whole_seconds())
        .unwrap_or(0)
        .clamp(0, WINDOW_SECS)
}

pub async fn get(
    state: &AppState,
    shop_id: Uuid,
    id: Uuid,
    mark_read: bool,
) -> AppResult<ConversationView> {
    let h = header(state, shop_id, id).await?;
    let zone = crate::platform::zone::of_shop(&state.pool, shop_id).await?;
    let rows: Vec<MessageRow> = sqlx::query_as(
        "select m.id, m.direction, m.sent_by, m.wamid, m.kind, m.body, m.payload, m.status,
                m.error_text, m.sent_at, m.media_status, m.media_file_id, m.media_mime,
                m.media_error, t.engine as trace_engine, t.detail as trace_detail,
                t.prompt_tokens + t.completion_tokens as trace_tokens,
                t.latency_ms as trace_latency_ms,
                exists (select 1 from agent_faq f where f.message_id = m.id and f.shop_id = m.shop_id)
                    as saved_answer
         from wa_messages m
         -- An agent answer's key is agent:<the customer message it answered>:<n>; its first
         -- message carries the turn's trace.
         left join agent_traces t on m.sent_by = 'agent' and m.idempotency_key like 'agent:%:0'
              and t.shop_id = m.shop_id and t.conversation_id = m.conversation_id
              and t.message_id::text = split_part(m.idempotency_key, ':', 2)
         where m.conversation_id = $1 and m.shop_id = $2
         order by m.sent_at, m.id",
    )
    .bind(id)
    .bind(shop_id)
    .fetch_all(&state.pool)
    .await?;
    // Reactions are shown on the message they react to, not as messages of their own.
    let mut reactions = std::collections::HashMap::new();
    for r in rows.iter().filter(|r| r.kind == "reaction") {
        if let Some(target) = r
            .payload
            .pointer("/reaction/message_id")
            .and_then(Value::as_str)
        {
            let emoji = r.body.clone();
            if emoji.is_empty() {
                reactions.remove(target);
            } else {
                reactions.insert(target.to_string(), emoji);
            }
        }
    }
    // The customer's last words before each answer: the question a saved answer starts from.
    let mut asked = String::new();
    let messages = rows
        .iter()
        .filter(|r| r.kind != "reaction")
        .map(|r| {
            if r.direction == "in" && !r.body.trim().is_empty() {
                asked = r.body.trim().chars().take(300).collect();
            }
            let learnable = r.direction == "out"
                && matches!(r.sent_by.as_str(), "agent" | "merchant" | "phone")
                && !r.body.trim().is_empty();
            let known = crate::whatsapp::inbound::describe(&r.kind, &r.payload);
            let details = if r.direction == "in" {
                known.1
            } else {
                Vec::new()
            };
            MessageView {
                id: r.id,
                direction: r.direction.clone(),
                sent_by: r.sent_by.clone(),
                kind: r.kind.clone(),
                body: r.body.clone(),
                sent_at: zone.rfc3339(r.sent_at),
                status: r.status.clone(),
                error: r.error_text.clone(),
                media: r.media_status.as_ref().map(|s| MediaView {
                    status: s.clone(),
                    url: r
                        .media_file_id
                        .map(|f| format!("/dashboard/inbox/media/{f}")),
                    mime: r.media_mime.clone().unwrap_or_default(),
                    filename: r
                        .payload
                        .pointer("/document/filename")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    error: r.media_error.clone(),
                }),
                details,
                reaction: r.wamid.as_ref().and_then(|w| reactions.get(w).cloned()),
                can_retry: r.direction == "out" && r.status == "failed" && r.sent_by != "phone",
                why: why(r),
                question: if learnable {
                    asked.clone()
                } else {
                    String::new()
                },
                can_save_answer: learnable,
                saved_answer: r.saved_answer,
            }
        })
        .collect();
    let orders: Vec<(Uuid, i32, String, i64, String, OffsetDateTime)> = sqlx::query_as(
        "select id, number, status, total_minor, currency, created_at from orders
         where shop_id = $1 and customer_id = $2 order by created_at desc limit 20",
    )
    .bind(shop_id)
    .bind(h.customer_id)
    .fetch_all(&state.pool)
    .await?;
    let templates: Vec<(String, String, String, i32)> = sqlx::query_as(
        "select name, language, body_text, body_params from wa_templates
         where shop_id = $1 and status = 'APPROVED' order by name, language",
    )
    .bind(shop_id)
    .fetch_all(&state.pool)
    .await?;
    let channel_connected: bool = sqlx::query_scalar(
        "select exists (select 1 from wa_accounts where shop_id = $1 and status = 'connected')",
    )
    .bind(shop_id)
    .fetch_one(&state.pool)
    .await?;
    if mark_read {
        mark_conversation_read(state, shop_id, id).await?;
    }
    Ok(ConversationView {
        id: h.id,
        customer_id: h.customer_id,
        customer_name: if h.name.is_empty() {
            h.phone.clone().unwrap_or_else(|| "WhatsApp user".into())
        } else {
            h.name
        },
        phone: h.phone.unwrap_or_default(),
        marketing_opt_out: h.marketing_opt_out,
        state: if h.needs_attention {
            "attention".into()
        } else {
            h.mode
        },
        window_secs_left: window_secs_left(state.clock.now(), h.last_inbound_at),
        messages,
        orders: orders
            .into_iter()
            .map(|(id, number, status, total, currency, at)| CustomerOrder {
                id,
                number,
                status,
                total: crate::money::format_money(total, &currency),
                created_at: zone.rfc3339(at),
            })
            .collect(),
        templates: templates
            .into_iter()
            .map(|(name, language, body_text, body_params)| TemplateOption {
                name,
                language,
                body_text,
                body_params,
            })
            .collect(),
        channel_connected,
    })
}

/// Opening a thread: unread goes to zero, and the customer sees blue ticks (a job marks the
/// latest message read on WhatsApp, which covers the ones before it).
async fn mark_conversation_read(state: &AppState, shop_id: Uuid, id: Uuid) -> AppResult<()> {
    let mut tx = state.pool.begin().await?;
    let had_unread: Option<i32> = sqlx::query_scalar(
        "update conversations v set unread_count = 0
         from (select unread_count from conversations where id = $1 and shop_id = $2 for update) old
         where v.id = $1 and v.shop_id = $2
         returning old.unread_count",
    )
    .bind(id)
    .bind(shop_id)
    .fetch_optional(&mut *tx)
    .await?;
    if had_unread.unwrap_or(0) > 0 {
        let latest: Option<Uuid> = sqlx::query_scalar(
            "select id from wa_messages where conversation_id = $1 and shop_id = $2
               and direction = 'in' and wamid is not null
             order by sent_at desc, id desc limit 1",
        )
        .bind(id)
        .bind(shop_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(message_id) = latest {
            jobs::enqueue(
                &mut tx,
                NewJob::new(outbound::MARK_READ, outbound::SendJob { message_id })
                    .idempotency_key(message_id.to_string())
                    .max_attempts(3),
            )
            .await?;
        }
        crate::whatsapp::inbound::notify(&mut tx, shop_id, id, "conversation").await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Queues a message from the composer. Free text only while the 24-hour window is open;
/// templates are checked against their approved parameter count before anything is queued.
pub async fn send(
    state: &AppState,
    shop_id: Uuid,
    id: Uuid,
    message: Outgoing,
    idempotency_key: &str,
) -> AppResult<Uuid> {
    let key = idempotency_key.trim();
    if key.is_empty() || key.len() > 100 {
        return Err(AppError::validation(
            "message",
            "This form has expired. Reload the page and try again.",
        ));
    }
    let h = header(state, shop_id, id).await?;
    let connected: bool = sqlx::query_scalar(
        "select exists (select 1 from wa_accounts where shop_id = $1 and status = 'connected')",
    )
    .bind(shop_id)
    .fetch_one(&state.pool)
    .await?;
    if !connected {
        return Err(AppError::validation(
            "message",
            "Connect your WhatsApp number (or reconnect it) before replying.",
        ));
    }
    let window_open = window_secs_left(state.clock.now(), h.last_inbound_at) > 0;
    let closed = || {
        AppError::validation(
            "message",
            "More than 24 hours have passed since the customer's last message. WhatsApp only allows an approved template now.",
        )
    };
    let (kind, body, payload) = match message {
        Outgoing::Text { body } => {
            let text = body.trim();
            if text.is_empty() {
                return Err(AppError::validation("message", "Write a message first."));
            }
            if text.chars().count() > MAX_TEXT {
                return Err(AppError::validation(
                    "message",
                    "A WhatsApp message can be at most 4096 characters.",
                ));
            }
            if !window_open {
                return Err(closed());
            }
            (
                "text",
                text.to_string(),
                json!({"type": "text", "text": {"body": text, "preview_url": false}}),
            )
        }
        Outgoing::Product { product_id } => {
            if !window_open {
                return Err(closed());
            }
            let p = crate::catalog::ssr::product_card(state, shop_id, product_id)
                .await?
                .ok_or_else(|| {
                    AppError::validation("message", "That product is not in your catalog.")
                })?;
            let caption = format!("{}\n{}\n{}", p.title, p.price, p.url);
            let payload = match &p.image_url {
                Some(img) => json!({"type": "image", "image": {"link": img, "caption": caption}}),
                None => json!({"type": "text", "text": {"body": caption, "preview_url": true}}),
            };
            (
                if p.image_url.is_some() {
                    "image"
                } else {
                    "text"
                },
                caption,
                payload,
            )
        }
        Outgoing::Image { image_id, caption } => {
            if !window_open {
                return Err(closed());
            }
            let url = crate::catalog::ssr::image_url(state, shop_id, image_id)
                .await?
                .ok_or_else(|| {
                    AppError::validation("message", "That image is not in your media.")
                })?;
            let caption: String = caption.trim().chars().take(1024).collect();
            let shown = if caption.is_empty() {
                "Photo".to_string()
            } else {
                caption.clone()
            };
            (
                "image",
                shown,
                json!({"type": "image", "image": {"link": url, "caption": caption}}),
            )
        }
        Outgoing::Template {
            name,
            language,
            params,
        } => {
            let t: Option<(i32, String, String)> = sqlx::query_as(
                "select body_params, body_text, category from wa_templates
                 where shop_id = $1 and name = $2 and language = $3 and status = 'APPROVED'",
            )
            .bind(shop_id)
            .bind(&name)
            .bind(&language)
            .fetch_optional(&state.pool)
            .await?;
            let (count, text, category) = t.ok_or_else(|| {
                AppError::validation("message", "That template is not approved on WhatsApp (sync templates on the WhatsApp page).")
            })?;
            // STOP means no marketing; service and utility messages still go.
            if h.marketing_opt_out && category.eq_ignore_ascii_case("MARKETING") {
                return Err(AppError::validation(
                    "message",
                    "This customer opted out of marketing messages (they sent STOP). Use a utility template or wait for them to write.",
                ));
            }
            let params: Vec<String> = params.into_iter().map(|p| p.trim().to_string()).collect();
            if params.len() != count as usize || params.iter().any(String::is_empty) {
                return Err(AppError::validation(
                    "message",
                    format!(
                        "This template needs {count} value(s), one for each {{{{n}}}} in its text."
                    ),
                ));
            }
            let mut shown = text.clone();
            for (i, p) in params.iter().enumerate() {
                shown = shown.replace(&format!("{{{{{}}}}}", i + 1), p);
            }
            let parameters: Vec<Value> = params
                .iter()
                .map(|p| json!({"type": "text", "text": p}))
                .collect();
            let mut components = Vec::new();
            if !parameters.is_empty() {
                components.push(json!({"type": "body", "parameters": parameters}));
            }
            (
                "template",
                shown,
                json!({"type": "template", "template": {"name": name, "language": {"code": language}, "components": components}}),
            )
        }
    };
    let mut tx = state.pool.begin().await?;
    let message_id = outbound::queue(
        &mut tx,
        state.clock.now(),
        Queued {
            shop_id,
            conversation_id: id,
            sent_by: "merchant",
            kind,
            body: &body,
            payload,
            idempotency_key: key,
            file: None,
        },
    )
    .await?;
    // A person answered: the agent stops here until the merchant hands the chat back.
    crate::agent::ssr::take_over(&mut tx, state.clock.now(), shop_id, id).await?;
    tx.commit().await?;
    Ok(message_id)
}

/// A document the merchant attaches in the composer.
pub struct DocumentUpload {
    pub filename: String,
    pub bytes: Vec<u8>,
    pub caption: String,
    pub idempotency_key: String,
}

/// The files WhatsApp delivers as documents, by extension (browsers label Office files
/// inconsistently), with the type we declare to Meta.
const DOCUMENT_TYPES: [(&str, &str); 8] = [
    ("pdf", "application/pdf"),
    ("txt", "text/plain"),
    ("doc", "application/msword"),
    (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    ("xls", "application/vnd.ms-excel"),
    (
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    ("ppt", "application/vnd.ms-powerpoint"),
    (
        "pptx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ),
];

/// Largest document we keep and send (WhatsApp takes up to 100 MB; a copy lives in our
/// database until the message is deleted with the conversation).
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;

/// Queues a document from the composer: the file is stored with the message row, and the send
/// job uploads it to Meta before sending. Free-form, so only inside the 24-hour window.
pub async fn send_document(
    state: &AppState,
    shop_id: Uuid,
    id: Uuid,
    doc: DocumentUpload,
) -> AppResult<Uuid> {
    let key = doc.idempotency_key.trim();
    if key.is_empty() || key.len() > 100 {
        return Err(AppError::validation(
            "file",
            "This form has expired. Reload the page and try again.",
        ));
    }
    let h = header(state, shop_id, id).await?;
    // The same key again (a double submit, a resent form): the first message, nothing stored twice.
    let existing: Option<Uuid> = sqlx::query_scalar(
        "select id from wa_messages where shop_id = $1 and conversation_id = $2 and idempotency_key = $3",
    )
    .bind(shop_id)
    .bind(id)
    .bind(key)
    .fetch_optional(&state.pool)
    .await?;
    if let Some(existing) = existing {
        return Ok(existing);
    }
    let connected: bool = sqlx::query_scalar(
        "select exists (select 1 from wa_accounts where shop_id = $1 and status = 'connected')",
    )
    .bind(shop_id)
    .fetch_one(&state.pool)
    .await?;
    if !connected {
        return Err(AppError::validation(
            "file",
            "Connect your WhatsApp number (or reconnect it) before replying.",
        ));
    }
    if window_secs_left(state.clock.now(), h.last_inbound_at) <= 0 {
        return Err(AppError::validation(
            "file",
            "More than 24 hours have passed since the customer's last message. WhatsApp only allows an approved template now.",
        ));
    }
    // Browsers on Windows send the whole path; only the name is the customer's business.
    let name: String = doc
        .filename
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    if name.is_empty() || doc.bytes.is_empty() {
        return Err(AppError::validation("file", "Choose a file to send."));
    }
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let Some((_, mime)) = DOCUMENT_TYPES.iter().find(|(e, _)| *e == ext) else {
        let picture = matches!(
            ext.as_str(),
            "jpg" | "jpeg" | "png" | "webp" | "gif" | "heic"
        );
        return Err(AppError::validation(
            "file",
            if picture {
                "That is a picture: use \"Send a photo\" with one of your shop's photos, or save it as a PDF to send it as a document."
            } else {
                "WhatsApp sends PDF, Word, Excel, PowerPoint and plain-text files as documents. Save the file in one of those formats and try again."
            },
        ));
    };
    if doc.bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(AppError::validation(
            "file",
            "That file is larger than 16 MB. Send a smaller file, or a link to it.",
        ));
    }
    if ext == "pdf" && !doc.bytes.starts_with(b"%PDF") {
        return Err(AppError::validation(
            "file",
            "That file is named .pdf but is not a PDF. Export it as PDF again and retry.",
        ));
    }
    let caption: String = doc.caption.trim().chars().take(1024).collect();
    let mut document = json!({"filename": name});
    if !caption.is_empty() {
        document["caption"] = json!(caption);
    }
    let shown = if caption.is_empty() {
        name.clone()
    } else {
        caption.clone()
    };
    let file_id = Uuid::now_v7();
    let mut tx = state.pool.begin().await?;
    sqlx::query(
        "insert into wa_media_files (id, shop_id, mime, filename, bytes) values ($1, $2, $3, $4, $5)",
    )
    .bind(file_id)
    .bind(shop_id)
    .bind(mime)
    .bind(&name)
    .bind(&doc.bytes)
    .execute(&mut *tx)
    .await?;
    let message_id = outbound::queue(
        &mut tx,
        state.clock.now(),
        Queued {
            shop_id,
            conversation_id: id,
            sent_by: "merchant",
            kind: "document",
            body: &shown,
            payload: json!({"type": "document", "document": document}),
            idempotency_key: key,
            file: Some(outbound::QueuedFile {
                id: file_id,
                mime: mime.to_string(),
            }),
        },
    )
    .await?;
    crate::agent::ssr::take_over(&mut tx, state.clock.now(), shop_id, id).await?;
    tx.commit().await?;
    tracing::info!(%shop_id, conversation = %id, bytes = doc.bytes.len(), "document queued");
    Ok(message_id)
}

pub async fn retry(state: &AppState, shop_id: Uuid, message_id: Uuid) -> AppResult<()> {
    outbound::retry(state, shop_id, message_id).await
}

pub async fn retry_media(state: &AppState, shop_id: Uuid, message_id: Uuid) -> AppResult<()> {
    crate::whatsapp::inbound::retry_media(state, shop_id, message_id).await
}

pub async fn set_mode(state: &AppState, shop_id: Uuid, id: Uuid, mode: &str) -> AppResult<()> {
    if !matches!(mode, "ai" | "human") {
        return Err(AppError::validation(
            "mode",
            "Choose the AI agent or a person.",
        ));
    }
    let mut tx = state.pool.begin().await?;
    let done = sqlx::query(
        "update conversations set mode = $3, needs_attention = false, updated_at = now()
         where id = $1 and shop_id = $2",
    )
    .bind(id)
    .bind(shop_id)
    .bind(mode)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    if mode == "ai" {
        crate::agent::ssr::hand_back(&mut tx, shop_id, id).await?;
    }
    crate::whatsapp::inbound::notify(&mut tx, shop_id, id, "conversation").await?;
    tx.commit().await?;
    Ok(())
}

pub async fn unread_count(state: &AppState, shop_id: Uuid) -> AppResult<i64> {
    Ok(sqlx::query_scalar(
        "select count(*) from conversations where shop_id = $1 and unread_count > 0",
    )
    .bind(shop_id)
    .fetch_one(&state.pool)
    .await?)
}

/// A stored customer attachment, for `/dashboard/inbox/media/{id}` (the shop's own only).
pub async fn media_file(state: &AppState, shop_id: Uuid, id: Uuid) -> AppResult<(String, Vec<u8>)> {
    sqlx::query_as("select mime, bytes from wa_media_files where id = $1 and shop_id = $2")
        .bind(id)
        .bind(shop_id)
        .fetch_optional(&state.pool)
        .await?
        .ok_or(AppError::NotFound)
}

/// The shop's product images (newest 48) as thumbnails, for "Send a photo".
pub async fn shop_photos(state: &AppState, shop_id: Uuid) -> AppResult<Vec<super::ShopPhoto>> {
    let rows: Vec<(crate::media::ssr::ImageRow, Option<String>)> = sqlx::query_as::<
        _,
        (
            Uuid,
            String,
            String,
            Option<i64>,
            i32,
            i32,
            String,
            Option<String>,
        ),
    >(
        "select i.id, i.backend, i.storage_key, i.version, i.width, i.height, i.alt, p.title
         from images i left join products p on p.id = i.product_id and p.shop_id = i.shop_id
         where i.shop_id = $1 order by i.id desc limit 48",
    )
    .bind(shop_id)
    .fetch_all(&state.pool)
    .await?
    .into_iter()
    .map(
        |(id, backend, storage_key, version, width, height, alt, title)| {
            (
                crate::media::ssr::ImageRow {
                    id,
                    backend,
                    storage_key,
                    version,
                    width,
                    height,
                    alt,
                },
                title,
            )
        },
    )
    .collect();
    Ok(rows
        .into_iter()
        .map(|(row, title)| {
            let view = state.media.view(&row);
            super::ShopPhoto {
                id: row.id,
                thumb_url: view.thumb_src,
                label: title.unwrap_or_else(|| {
                    if row.alt.is_empty() {
                        "Shop image".into()
                    } else {
                        row.alt.clone()
                    }
                }),
            }
        })
        .collect())
}
