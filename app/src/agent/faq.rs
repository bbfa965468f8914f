//! Saved answers (the agent's FAQ): what the merchant wrote down, what they corrected when an AI
//! answer was wrong, and replies they typed in a chat and kept. The shop assistant answers a
//! question that closely matches a saved one with its answer; the AI agent reads the relevant
//! ones through its `shop_info` tool. Every query is scoped by the shop from the session.

use super::FaqEntry;
use crate::error::{AppError, AppResult};
use sqlx::{FromRow, PgPool};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

/// How close (trigram similarity of the whole question) a customer's message must be to a
/// saved question for the shop assistant to answer with it: "do you deliver to abuja?" and
/// "Do you deliver to Abuja" are 0.9, "how much is delivery to abuja" 0.5, while "do you have
/// red scarves" and "do you deliver on sundays" stay under 0.35.
pub const ANSWER_SIMILARITY: f32 = 0.45;

/// Shops with this few entries give the model all of them; bigger ones the closest.
const ALL_BELOW: i64 = 15;

#[derive(FromRow)]
struct Row {
    id: Uuid,
    question: String,
    answer: String,
    source: String,
    conversation_id: Option<Uuid>,
    updated_at: OffsetDateTime,
}

impl From<Row> for FaqEntry {
    fn from(r: Row) -> Self {
        FaqEntry {
            id: r.id,
            question: r.question,
            answer: r.answer,
            source: r.source,
            conversation_id: r.conversation_id,
            updated_at: r.updated_at.format(&Rfc3339).unwrap_or_default(),
        }
    }
}

/// The entry's columns and the conversation it came from, then the rest of the query: a
/// `&'static str`, so sqlx sees plain SQL with no runtime formatting.
macro_rules! select {
    ($rest:literal) => {
        concat!(
            "select f.id, f.question, f.answer, f.source, m.conversation_id, f.updated_at
             from agent_faq f
             left join wa_messages m on m.id = f.message_id and m.shop_id = f.shop_id ",
            $rest
        )
    };
}

pub async fn list(pool: &PgPool, shop_id: Uuid) -> AppResult<Vec<FaqEntry>> {
    let rows: Vec<Row> = sqlx::query_as(select!(
        "where f.shop_id = $1 order by f.updated_at desc, f.id"
    ))
    .bind(shop_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// The question and answer, trimmed and checked, or the message a merchant can act on.
fn checked(question: &str, answer: &str) -> AppResult<(String, String)> {
    let question = question.trim().to_string();
    let answer = answer.trim().to_string();
    let mut errors = Vec::new();
    match question.chars().count() {
        0 => errors.push(("question", "Write the question as a customer would ask it.")),
        n if n > 300 => errors.push(("question", "Keep the question under 300 characters.")),
        _ => {}
    }
    match answer.chars().count() {
        0 => errors.push(("answer", "Write the answer the agent should give.")),
        n if n > 1000 => errors.push(("answer", "Keep the answer under 1,000 characters.")),
        _ => {}
    }
    if errors.is_empty() {
        Ok((question, answer))
    } else {
        let mut map = crate::error::FieldErrors::new();
        for (field, message) in errors {
            map.entry(field.to_string())
                .or_insert_with(|| message.to_string());
        }
        Err(AppError::Validation(map))
    }
}

async fn check_room(pool: &PgPool, shop_id: Uuid) -> AppResult<()> {
    let count: i64 = sqlx::query_scalar("select count(*) from agent_faq where shop_id = $1")
        .bind(shop_id)
        .fetch_one(pool)
        .await?;
    if count >= super::FAQ_LIMIT {
        return Err(AppError::validation(
            "question",
            format!(
                "A shop keeps up to {} saved answers: delete ones you no longer need first.",
                super::FAQ_LIMIT
            ),
        ));
    }
    Ok(())
}

/// Adds an entry (`id` None) or changes one of this shop's; another shop's id is not found.
pub async fn save(
    pool: &PgPool,
    shop_id: Uuid,
    id: Option<Uuid>,
    question: &str,
    answer: &str,
) -> AppResult<Uuid> {
    let (question, answer) = checked(question, answer)?;
    match id {
        Some(id) => {
            let done = sqlx::query(
                "update agent_faq set question = $3, answer = $4, updated_at = now()
                 where id = $1 and shop_id = $2",
            )
            .bind(id)
            .bind(shop_id)
            .bind(&question)
            .bind(&answer)
            .execute(pool)
            .await?;
            if done.rows_affected() == 0 {
                return Err(AppError::NotFound);
            }
            Ok(id)
        }
        None => {
            check_room(pool, shop_id).await?;
            let id = Uuid::now_v7();
            sqlx::query(
                "insert into agent_faq (id, shop_id, question, answer, source)
                 values ($1, $2, $3, $4, 'merchant')",
            )
            .bind(id)
            .bind(shop_id)
            .bind(&question)
            .bind(&answer)
            .execute(pool)
            .await?;
            Ok(id)
        }
    }
}

pub async fn delete(pool: &PgPool, shop_id: Uuid, id: Uuid) -> AppResult<()> {
    let done = sqlx::query("delete from agent_faq where id = $1 and shop_id = $2")
        .bind(id)
        .bind(shop_id)
        .execute(pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    Ok(())
}

/// Learning from the merchant: an agent's answer marked wrong with the right one written
/// (a correction), or a reply the merchant typed kept as a saved answer. Saving the same
/// message again edits its entry, so a double submit keeps one.
pub async fn from_message(
    pool: &PgPool,
    shop_id: Uuid,
    message_id: Uuid,
    question: &str,
    answer: &str,
) -> AppResult<Uuid> {
    let (question, answer) = checked(question, answer)?;
    let sent_by: Option<String> = sqlx::query_scalar(
        "select sent_by from wa_messages where id = $1 and shop_id = $2 and direction = 'out'",
    )
    .bind(message_id)
    .bind(shop_id)
    .fetch_optional(pool)
    .await?;
    let source = match sent_by.as_deref() {
        None => return Err(AppError::NotFound),
        Some("agent") => "correction",
        Some("merchant" | "phone") => "chat",
        Some(_) => {
            return Err(AppError::validation(
                "answer",
                "Only the agent's answers and your own replies can become saved answers.",
            ));
        }
    };
    let existing: Option<Uuid> =
        sqlx::query_scalar("select id from agent_faq where message_id = $1 and shop_id = $2")
            .bind(message_id)
            .bind(shop_id)
            .fetch_optional(pool)
            .await?;
    if existing.is_none() {
        check_room(pool, shop_id).await?;
    }
    let id: Uuid = sqlx::query_scalar(
        "insert into agent_faq (id, shop_id, question, answer, source, message_id)
         values ($1, $2, $3, $4, $5, $6)
         on conflict (message_id) where message_id is not null
         do update set question = excluded.question, answer = excluded.answer,
                       updated_at = now()
         returning id",
    )
    .bind(Uuid::now_v7())
    .bind(shop_id)
    .bind(&question)
    .bind(&answer)
    .bind(source)
    .bind(message_id)
    .fetch_one(pool)
    .await?;
    tracing::info!(%shop_id, %message_id, source, "saved answer from a message");
    Ok(id)
}

/// The saved answer the shop assistant gives to `text`, when one question is close enough.
pub async fn best_match(pool: &PgPool, shop_id: Uuid, text: &str) -> AppResult<Option<FaqEntry>> {
    let row: Option<Row> = sqlx::query_as(select!(
        "where f.shop_id = $1 and similarity(lower(f.question), lower($2)) >= $3
         order by similarity(lower(f.question), lower($2)) desc, f.updated_at desc limit 1"
    ))
    .bind(shop_id)
    .bind(text.trim())
    .bind(ANSWER_SIMILARITY)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(Into::into))
}

/// The entries the AI agent reads for a question: all of a small shop's, otherwise the closest
/// by the question's words (or the newest when it gave none).
pub async fn relevant(
    pool: &PgPool,
    shop_id: Uuid,
    question: &str,
    limit: i64,
) -> AppResult<Vec<FaqEntry>> {
    let count: i64 = sqlx::query_scalar("select count(*) from agent_faq where shop_id = $1")
        .bind(shop_id)
        .fetch_one(pool)
        .await?;
    let rows: Vec<Row> = if count < ALL_BELOW || question.trim().is_empty() {
        sqlx::query_as(select!(
            "where f.shop_id = $1 order by f.updated_at desc limit $2"
        ))
        .bind(shop_id)
        .bind(limit.max(ALL_BELOW))
        .fetch_all(pool)
        .await?
    } else {
        sqlx::query_as(select!(
            "where f.shop_id = $1
             order by greatest(word_similarity(lower($2), lower(f.question)),
                               word_similarity(lower($2), lower(f.answer))) desc,
                      f.updated_at desc
             limit $3"
        ))
        .bind(shop_id)
        .bind(question.trim())
        .bind(limit)
        .fetch_all(pool)
        .await?
    };
    Ok(rows.into_iter().map(Into::into).collect())
}
