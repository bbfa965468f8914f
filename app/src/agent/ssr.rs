//! The agent's place in the message pipeline: every customer message queues a turn job due
//! after the gather window; the job that belongs to the burst's last message answers the
//! whole burst once. Answers are queued as outbound messages (the send job delivers them), in
//! a transaction that first re-checks that the agent still owns the conversation, so it never
//! talks over a person. Handover opens one escalation per conversation, tells the customer
//! once in their language, and alerts the merchant (their own WhatsApp number, email, and the
//! inbox's attention state).

use super::assistant::{self, Ctx, Data, Input, Session};
use super::{lang, llm};
use crate::error::{AppError, AppResult};
use crate::platform::jobs::{self, JobContext, JobError, NewJob, Registry};
use crate::state::AppState;
use crate::whatsapp::outbound::{self, Queued};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

pub const TURN: &str = "agent_turn";
pub const ALERT: &str = "agent_alert";
pub const HAND_BACK: &str = "agent_hand_back";

#[derive(Serialize, Deserialize)]
pub struct TurnJob {
    pub conversation_id: Uuid,
    pub message_id: Uuid,
}

#[derive(Serialize, Deserialize)]
pub struct HandBackJob {
    pub conversation_id: Uuid,
}

#[derive(Serialize, Deserialize)]
pub struct AlertJob {
    pub escalation_id: Uuid,
}

pub fn register_jobs(registry: &mut Registry) {
    registry.register(TURN, |ctx: JobContext, job: TurnJob| async move {
        turn(&ctx.state, &job).await.map_err(job_error)
    });
    registry.register(ALERT, |ctx: JobContext, job: AlertJob| async move {
        alert(&ctx.state, job.escalation_id)
            .await
            .map_err(job_error)
    });
    registry.register(HAND_BACK, |ctx: JobContext, job: HandBackJob| async move {
        hand_back_if_quiet(&ctx.state, job.conversation_id)
            .await
            .map_err(job_error)
    });
}

fn job_error(e: AppError) -> JobError {
    match e {
        AppError::Internal(e) => JobError::retry(e),
        other => JobError::permanent(anyhow::anyhow!("{other}")),
    }
}

/// Queues the agent's turn for a customer message, in the inbox processor's transaction. Due
/// after the gather window: a burst of messages is answered once, by its last message's job.
pub async fn queue_turn(
    state: &AppState,
    tx: &mut PgConnection,
    conversation_id: Uuid,
    message_id: Uuid,
) -> AppResult<()> {
    let at = state.clock.now() + time::Duration::milliseconds(state.config.agent.gather_ms as i64);
    jobs::enqueue(
        tx,
        NewJob::new(
            TURN,
            TurnJob {
                conversation_id,
                message_id,
            },
        )
        .idempotency_key(message_id.to_string())
        .run_at(at),
    )
    .await?;
    Ok(())
}

/// The first day of `now`'s month: the key of a month's token use.
pub fn month_of(now: OffsetDateTime) -> time::Date {
    now.date()
        .replace_day(1)
        .expect("every month has a first day")
}

/// The shop's monthly token budget: its own, else the server's default.
fn budget_of(state: &AppState, own: Option<i64>) -> i64 {
    own.or(state.config.agent.llm.as_ref().map(|l| l.monthly_tokens))
        .unwrap_or(0)
}

/// The settings page's view: the shop's choices (or the defaults), waiting handovers, and the
/// AI agent's use this month.
pub async fn settings(state: &AppState, shop_id: Uuid) -> AppResult<super::AgentSettings> {
    #[allow(clippy::type_complexity)]
    let own: Option<(String, String, Option<i64>, Option<i32>, String, Option<i64>, String)> = sqlx::query_as(
        "select mode, disclosure, escalate_above_minor, hand_back_after_minutes, facts, token_budget,
                tone
         from agent_settings where shop_id = $1",
    )
    .bind(shop_id)
    .fetch_optional(&state.pool)
    .await?;
    let (shop_name, currency): (String, String) =
        sqlx::query_as("select name, currency from shops where id = $1")
            .bind(shop_id)
            .fetch_one(&state.pool)
            .await?;
    let open_handovers: i64 = sqlx::query_scalar(
        "select count(*) from escalations where shop_id = $1 and resolved_at is null",
    )
    .bind(shop_id)
    .fetch_one(&state.pool)
    .await?;
    let usage: Option<(i64, i32, String, Option<OffsetDateTime>)> = sqlx::query_as(
        "select prompt_tokens + completion_tokens, fallbacks, last_failure, last_failure_at
         from agent_usage where shop_id = $1 and month = $2",
    )
    .bind(shop_id)
    .bind(month_of(state.clock.now()))
    .fetch_optional(&state.pool)
    .await?;
    let (mode, disclosure, above, hand_back, facts, token_budget, tone) =
        own.unwrap_or_else(|| {
            (
                state.config.agent.default_mode.clone(),
                String::new(),
                None,
                None,
                String::new(),
                None,
                "friendly".into(),
            )
        });
    let (tokens_used, fallbacks, last_failure, last_failure_at) = usage.unwrap_or_default();
    let hours = hours_of(&state.pool, shop_id).await?;
    let hours_now = match local_time(&state.pool, state.clock.now(), &hours.time_zone).await {
        Some((weekday, minute)) => {
            let open = hours.is_open(weekday, minute);
            let day = super::hours::WEEKDAYS
                .iter()
                .find(|(d, _)| *d == weekday)
                .map_or("", |(_, name)| *name);
            format!(
                "It is {day} {} in {}: {}; {}.",
                super::hours::hhmm(minute),
                hours.time_zone,
                if open {
                    "within your opening hours"
                } else {
                    "outside your opening hours"
                },
                if super::hours::answers(&hours.answers_when, open) {
                    "the agent answers"
                } else {
                    "the agent stays quiet and you answer"
                }
            )
        }
        None => String::new(),
    };
    Ok(super::AgentSettings {
        mode,
        ai_available: state.llm.is_some(),
        facts,
        tone,
        token_budget: token_budget.map(|b| b.to_string()).unwrap_or_default(),
        default_token_budget: budget_of(state, None),
        tokens_used,
        fallbacks: i64::from(fallbacks),
        last_failure: match last_failure_at {
            Some(at) if !last_failure.is_empty() => format!(
                "{} ({})",
                last_failure,
                crate::platform::zone::Zone::named(&hours.time_zone).readable(at)
            ),
            _ => String::new(),
        },
        disclosure,
        default_disclosure: lang::texts("en").disclosure.replace("{shop}", &shop_name),
        escalate_above: above
            .map(|m| crate::money::format_plain(m, &currency))
            .unwrap_or_default(),
        currency,
        hand_back_after: hand_back.map(|m| m.to_string()).unwrap_or_default(),
        open_handovers,
        answers_when: hours.answers_when.clone(),
        hours_days: hours.days.clone(),
        hours_open: super::hours::hhmm(hours.open),
        hours_close: super::hours::hhmm(hours.close),
        time_zone: hours.time_zone.clone(),
        hours_now,
        away_message: hours.away_message.clone(),
    })
}

/// When the agent answers and the shop's opening hours (the defaults when never saved).
pub struct Hours {
    pub answers_when: String,
    pub days: Vec<i16>,
    /// Minutes since midnight.
    pub open: u16,
    pub close: u16,
    pub time_zone: String,
    pub away_message: String,
}

impl Hours {
    pub fn is_open(&self, weekday: i16, minute: u16) -> bool {
        super::hours::is_open(&self.days, self.open, self.close, weekday, minute)
    }
}

fn minutes_of(t: time::Time) -> u16 {
    u16::from(t.hour()) * 60 + u16::from(t.minute())
}

pub async fn hours_of(pool: &sqlx::PgPool, shop_id: Uuid) -> AppResult<Hours> {
    #[allow(clippy::type_complexity)]
    let row: Option<(String, Vec<i16>, time::Time, time::Time, String, String)> = sqlx::query_as(
        "select coalesce(a.answers_when, 'always'), coalesce(a.hours_days, '{1,2,3,4,5}'),
                coalesce(a.hours_open, '09:00'), coalesce(a.hours_close, '17:00'), s.time_zone,
                coalesce(a.away_message, '')
         from shops s left join agent_settings a on a.shop_id = s.id where s.id = $1",
    )
    .bind(shop_id)
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        Some((answers_when, days, open, close, time_zone, away_message)) => Hours {
            answers_when,
            days,
            open: minutes_of(open),
            close: minutes_of(close),
            time_zone,
            away_message,
        },
        None => Hours {
            answers_when: "always".into(),
            days: vec![1, 2, 3, 4, 5],
            open: 9 * 60,
            close: 17 * 60,
            time_zone: "UTC".into(),
            away_message: String::new(),
        },
    })
}

/// The local ISO weekday and minute of the day at `at` in an IANA time zone, by PostgreSQL's
/// time zone database. `None` if the zone is unknown to it.
pub async fn local_time(pool: &sqlx::PgPool, at: OffsetDateTime, zone: &str) -> Option<(i16, u16)> {
    let row: Result<(i32, i32), _> = sqlx::query_as(
        "select extract(isodow from $1 at time zone $2)::int,
                (extract(hour from $1 at time zone $2) * 60 + extract(minute from $1 at time zone $2))::int",
    )
    .bind(at)
    .bind(zone)
    .fetch_one(pool)
    .await;
    let (weekday, minute) = row.ok()?;
    Some((i16::try_from(weekday).ok()?, u16::try_from(minute).ok()?))
}

/// Who speaks now by the shop's opening hours.
#[derive(Debug, PartialEq)]
pub enum Now {
    /// The agent answers.
    Agent,
    /// The agent is quiet and a person answers (the merchant's choice for this time).
    Person,
    /// The agent answers only during opening hours and the shop is closed: the away message,
    /// if the merchant wrote one.
    Away(String),
}

/// Whether the agent answers now: the merchant's choice against the shop's opening hours. An
/// unknown time zone (renamed in a later tz database) never silences the agent.
pub async fn answering_now(state: &AppState, shop_id: Uuid, now: OffsetDateTime) -> AppResult<Now> {
    let hours = hours_of(&state.pool, shop_id).await?;
    if hours.answers_when == "always" {
        return Ok(Now::Agent);
    }
    let Some((weekday, minute)) = local_time(&state.pool, now, &hours.time_zone).await else {
        return Ok(Now::Agent);
    };
    let open = hours.is_open(weekday, minute);
    Ok(if super::hours::answers(&hours.answers_when, open) {
        Now::Agent
    } else if hours.answers_when == "during_hours" && !open {
        Now::Away(hours.away_message)
    } else {
        Now::Person
    })
}

/// The away message, unless this conversation heard it in the last [`AWAY_EVERY_HOURS`]: a
/// customer who writes three times at night hears it once.
async fn say_away(
    state: &AppState,
    shop_id: Uuid,
    conversation_id: Uuid,
    message_id: Uuid,
    text: &str,
    now: OffsetDateTime,
) -> AppResult<()> {
    let mut tx = state.pool.begin().await?;
    // One turn at a time per conversation decides (the row lock), so two quick messages
    // cannot both send it.
    let mode: Option<String> =
        sqlx::query_scalar("select mode from conversations where id = $1 for update")
            .bind(conversation_id)
            .fetch_optional(&mut *tx)
            .await?;
    if mode.as_deref() != Some("ai") {
        return Ok(());
    }
    let recent: bool = sqlx::query_scalar(
        "select exists (select 1 from wa_messages where conversation_id = $1 and direction = 'out'
             and idempotency_key like 'away:%' and sent_at > $2)",
    )
    .bind(conversation_id)
    .bind(now - time::Duration::hours(super::AWAY_EVERY_HOURS))
    .fetch_one(&mut *tx)
    .await?;
    if recent {
        return Ok(());
    }
    let reply = assistant::Reply::Text(text.to_string());
    outbound::queue(
        &mut tx,
        now,
        Queued {
            shop_id,
            conversation_id,
            sent_by: "agent",
            kind: reply.kind(),
            body: &reply.shown(),
            payload: reply.payload(),
            idempotency_key: &format!("away:{message_id}"),
            file: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// What the opening-hours part of the settings form sends; `None` in `SettingsInput`: not on
/// the form, what is stored stays.
pub struct HoursInput<'a> {
    pub answers_when: &'a str,
    pub days: Vec<i16>,
    pub open: &'a str,
    pub close: &'a str,
    pub time_zone: &'a str,
    pub away_message: &'a str,
}

/// Checks the opening hours (and the away message) as typed.
async fn checked_hours(pool: &sqlx::PgPool, h: &HoursInput<'_>) -> AppResult<CheckedHours> {
    if !super::hours::ANSWERS_WHEN
        .iter()
        .any(|(v, _)| *v == h.answers_when)
    {
        return Err(AppError::validation(
            "answers_when",
            "Choose when the agent answers.",
        ));
    }
    let time_of = |field: &str, typed: &str| {
        super::hours::parse_hhmm(typed)
            .and_then(|m| time::Time::from_hms((m / 60) as u8, (m % 60) as u8, 0).ok())
            .ok_or_else(|| {
                AppError::validation(field, "Enter a time such as 09:00 (24-hour clock).")
            })
    };
    let open = time_of("hours_open", h.open)?;
    let close = time_of("hours_close", h.close)?;
    if open == close {
        return Err(AppError::validation(
            "hours_close",
            "Closing time must differ from opening time (a window past midnight, such as 18:00 to 02:00, is fine).",
        ));
    }
    let mut days: Vec<i16> = h
        .days
        .iter()
        .copied()
        .filter(|d| (1..=7).contains(d))
        .collect();
    days.sort_unstable();
    days.dedup();
    if days.is_empty() && h.answers_when != "always" {
        return Err(AppError::validation(
            "hours_days",
            "Tick the days your shop opens.",
        ));
    }
    let zone = crate::platform::zone::validate(pool, "time_zone", h.time_zone).await?;
    let away = h.away_message.trim();
    if away.chars().count() > 1000 {
        return Err(AppError::validation(
            "away_message",
            "Keep the away message under 1,000 characters.",
        ));
    }
    Ok(CheckedHours {
        answers_when: h.answers_when.to_string(),
        days,
        open,
        close,
        zone: zone.to_string(),
        away: away.to_string(),
    })
}

struct CheckedHours {
    answers_when: String,
    days: Vec<i16>,
    open: time::Time,
    close: time::Time,
    zone: String,
    away: String,
}

/// What the settings form sends, as typed.
pub struct SettingsInput<'a> {
    pub mode: &'a str,
    pub disclosure: &'a str,
    pub escalate_above: &'a str,
    pub hand_back_after: &'a str,
    /// `None`: not on the form (no model configured); what is stored stays.
    pub facts: Option<&'a str>,
    pub token_budget: Option<&'a str>,
    pub tone: Option<&'a str>,
    pub hours: Option<HoursInput<'a>>,
}

pub async fn save_settings(
    state: &AppState,
    shop_id: Uuid,
    input: SettingsInput<'_>,
) -> AppResult<()> {
    let SettingsInput {
        mode,
        disclosure,
        escalate_above,
        hand_back_after,
        facts,
        token_budget,
        tone,
        hours,
    } = input;
    let hours = match &hours {
        Some(h) => Some(checked_hours(&state.pool, h).await?),
        None => None,
    };
    if tone.is_some_and(|t| !super::TONES.iter().any(|(v, _)| *v == t)) {
        return Err(AppError::validation(
            "tone",
            "Choose one of the listed tones.",
        ));
    }
    let hand_back = match hand_back_after.trim() {
        "" => None,
        typed => match typed.parse::<i32>() {
            Ok(m) if super::HAND_BACK_CHOICES.contains(&m) => Some(m),
            _ => {
                return Err(AppError::validation(
                    "hand_back_after",
                    "Choose one of the listed times, or never.",
                ));
            }
        },
    };
    match mode {
        "assistant" | "off" => {}
        "ai" if state.llm.is_some() => {}
        "ai" => {
            return Err(AppError::validation(
                "mode",
                "This server has no AI model configured (LLM_BASE_URL): choose the shop assistant, or ask whoever runs it to add one.",
            ));
        }
        _ => {
            return Err(AppError::validation(
                "mode",
                "Choose who answers new conversations.",
            ));
        }
    }
    let facts = facts.map(str::trim);
    if facts.is_some_and(|f| f.chars().count() > 4000) {
        return Err(AppError::validation(
            "facts",
            "Keep the shop facts under 4,000 characters.",
        ));
    }
    let set_budget = token_budget.is_some();
    let token_budget = match token_budget
        .unwrap_or_default()
        .trim()
        .replace([',', ' ', '_'], "")
        .as_str()
    {
        "" => None,
        typed => match typed.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                return Err(AppError::validation(
                    "token_budget",
                    "Enter a whole number of tokens (for example 2000000), 0 to pause the AI agent, or leave it empty for the default.",
                ));
            }
        },
    };
    let disclosure = disclosure.trim();
    if disclosure.chars().count() > 500 {
        return Err(AppError::validation(
            "disclosure",
            "Keep the introduction under 500 characters.",
        ));
    }
    let above = match escalate_above.trim() {
        "" => None,
        typed => {
            let currency: String = sqlx::query_scalar("select currency from shops where id = $1")
                .bind(shop_id)
                .fetch_one(&state.pool)
                .await?;
            match crate::money::parse_money(typed, &currency) {
                Ok(0) => {
                    return Err(AppError::validation(
                        "escalate_above",
                        "Enter an amount above zero, or leave it empty for no rule.",
                    ));
                }
                Ok(minor) => Some(minor),
                Err(message) => return Err(AppError::validation("escalate_above", message)),
            }
        }
    };
    let mut tx = state.pool.begin().await?;
    sqlx::query(
        "insert into agent_settings (shop_id, mode, disclosure, escalate_above_minor,
             hand_back_after_minutes, facts, token_budget, tone)
         values ($1, $2, $3, $4, $5, coalesce($6, ''), $7, coalesce($9, 'friendly'))
         on conflict (shop_id) do update set mode = excluded.mode,
             disclosure = excluded.disclosure,
             escalate_above_minor = excluded.escalate_above_minor,
             hand_back_after_minutes = excluded.hand_back_after_minutes,
             facts = coalesce($6, agent_settings.facts),
             token_budget = case when $8 then excluded.token_budget else agent_settings.token_budget end,
             tone = coalesce($9, agent_settings.tone),
             updated_at = now()",
    )
    .bind(shop_id)
    .bind(mode)
    .bind(disclosure)
    .bind(above)
    .bind(hand_back)
    .bind(facts)
    .bind(token_budget)
    .bind(set_budget)
    .bind(tone)
    .execute(&mut *tx)
    .await?;
    if let Some(h) = hours {
        sqlx::query(
            "update agent_settings set answers_when = $2, hours_days = $3, hours_open = $4,
                 hours_close = $5, away_message = $6
             where shop_id = $1",
        )
        .bind(shop_id)
        .bind(h.answers_when)
        .bind(h.days)
        .bind(h.open)
        .bind(h.close)
        .bind(h.away)
        .execute(&mut *tx)
        .await?;
        // The hours' zone is the shop's own (the same one its dates are shown in).
        sqlx::query("update shops set time_zone = $2 where id = $1")
            .bind(shop_id)
            .bind(h.zone)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct TurnRow {
    shop_id: Uuid,
    mode: String,
    customer_id: Uuid,
    last_inbound_at: Option<OffsetDateTime>,
    customer_name: String,
    customer_phone: Option<String>,
    shop_name: String,
    shop_slug: String,
    currency: String,
    agent_mode: Option<String>,
    disclosure: Option<String>,
    escalate_above_minor: Option<i64>,
    facts: Option<String>,
    token_budget: Option<i64>,
    tone: Option<String>,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    step: String,
    data: sqlx::types::Json<Data>,
    language: String,
    greeted: bool,
    misses: i32,
    answered_at: Option<OffsetDateTime>,
    answered_id: Option<Uuid>,
}

/// One turn: the customer messages not answered yet, answered once.
pub async fn turn(state: &AppState, job: &TurnJob) -> AppResult<()> {
    let Some(row) = sqlx::query_as::<_, TurnRow>(
        "select v.shop_id, v.mode, v.customer_id, v.last_inbound_at, c.name as customer_name,
                c.phone as customer_phone, s.name as shop_name, s.slug as shop_slug, s.currency,
                a.mode as agent_mode, a.disclosure, a.escalate_above_minor, a.facts, a.token_budget,
                a.tone
         from conversations v
         join customers c on c.id = v.customer_id and c.shop_id = v.shop_id
         join shops s on s.id = v.shop_id
         left join agent_settings a on a.shop_id = v.shop_id
         where v.id = $1",
    )
    .bind(job.conversation_id)
    .fetch_optional(&state.pool)
    .await?
    else {
        return Ok(());
    };
    let agent_mode = row
        .agent_mode
        .clone()
        .unwrap_or_else(|| state.config.agent.default_mode.clone());
    if row.mode != "ai" || agent_mode == "off" {
        return Ok(());
    }
    // Outside the 24-hour window the agent sends no free text.
    let now = state.clock.now();
    if crate::conversations::ssr::window_secs_left(now, row.last_inbound_at) <= 0 {
        return Ok(());
    }
    // The merchant's hours: outside them (or inside, as they chose) a person answers; while
    // the shop is closed, the away message may answer for them.
    match answering_now(state, row.shop_id, now).await? {
        Now::Agent => {}
        Now::Person => return Ok(()),
        Now::Away(text) if text.is_empty() => return Ok(()),
        Now::Away(text) => {
            return say_away(
                state,
                row.shop_id,
                job.conversation_id,
                job.message_id,
                &text,
                now,
            )
            .await;
        }
    }
    // The burst's last message answers it; earlier messages' jobs stand down.
    let latest: Option<Uuid> = sqlx::query_scalar(
        "select id from wa_messages
         where conversation_id = $1 and direction = 'in' and sent_by = 'customer'
         order by sent_at desc, id desc limit 1",
    )
    .bind(job.conversation_id)
    .fetch_optional(&state.pool)
    .await?;
    if latest != Some(job.message_id) {
        return Ok(());
    }
    sqlx::query(
        "insert into agent_sessions (conversation_id, shop_id) values ($1, $2)
         on conflict (conversation_id) do nothing",
    )
    .bind(job.conversation_id)
    .bind(row.shop_id)
    .execute(&state.pool)
    .await?;
    let stored: SessionRow = sqlx::query_as(
        "select step, data, language, greeted, misses, answered_at, answered_id
         from agent_sessions where conversation_id = $1",
    )
    .bind(job.conversation_id)
    .fetch_one(&state.pool)
    .await?;
    let unanswered: Vec<(Uuid, String, Value, String, OffsetDateTime)> = sqlx::query_as(
        "select id, kind, payload, body, sent_at from wa_messages
         where conversation_id = $1 and direction = 'in' and sent_by = 'customer'
           and ($2::timestamptz is null or (sent_at, id) > ($2, $3))
         order by sent_at, id",
    )
    .bind(job.conversation_id)
    .bind(stored.answered_at)
    .bind(stored.answered_id.unwrap_or_default())
    .fetch_all(&state.pool)
    .await?;
    let Some(last) = unanswered.last() else {
        return Ok(());
    };
    let (last_id, last_at) = (last.0, last.4);
    let input = input_of(&unanswered);
    let text = match &input {
        Some(Input::Text(t)) => t.clone(),
        _ => String::new(),
    };
    let language = lang::detect(&text)
        .map(str::to_string)
        .unwrap_or(stored.language);
    let lang_code: &'static str = lang::LANGUAGES
        .into_iter()
        .find(|l| *l == language)
        .unwrap_or("en");
    let ctx = Ctx {
        state,
        shop_id: row.shop_id,
        shop_name: row.shop_name.clone(),
        shop_slug: row.shop_slug.clone(),
        currency: row.currency.clone(),
        customer_id: row.customer_id,
        customer_name: row.customer_name.clone(),
        customer_phone: row.customer_phone.clone(),
        lang: lang_code,
        disclosure: row.disclosure.clone().unwrap_or_default(),
        escalate_above_minor: row.escalate_above_minor,
        turn_key: format!("agent:{last_id}"),
    };
    let mut session = Session {
        step: stored.step,
        data: stored.data.0,
        greeted: stored.greeted,
        misses: stored.misses,
    };
    let first_unanswered_at = unanswered.first().map_or(last_at, |m| m.4);
    let engine = Engine::choose(state, &agent_mode, &session, input.as_ref());
    let (mut outcome, mut trace) = match (engine, &input) {
        (Engine::Llm, Some(Input::Text(text))) => {
            llm_turn(
                state,
                &ctx,
                &mut session,
                job.conversation_id,
                first_unanswered_at,
                last_id,
                text,
                &row,
            )
            .await?
        }
        (_, Some(input)) => (
            assistant::respond(&ctx, &mut session, input).await?,
            TraceRow::assistant(),
        ),
        // Only media, reactions and the like: nothing to answer.
        (_, None) => (assistant::Outcome::default(), TraceRow::assistant()),
    };

    if let Some(question) = &outcome.faq {
        trace.detail["faq"] = serde_json::json!(question);
    }

    // A handover after an answer (the merchant's order rule) travels in that answer's message.
    let announce_in_reply = outcome.escalate.is_some() && !outcome.replies.is_empty();
    if let Some(last) = outcome.replies.last_mut().filter(|_| announce_in_reply) {
        last.append(&handover_text(lang_code, &row.shop_name));
    }

    let mut tx = state.pool.begin().await?;
    // Ownership, re-checked right before sending: a person who replied meanwhile keeps it.
    let still_ours: Option<String> =
        sqlx::query_scalar("select mode from conversations where id = $1 for update")
            .bind(job.conversation_id)
            .fetch_optional(&mut *tx)
            .await?;
    if still_ours.as_deref() != Some("ai") {
        return Ok(());
    }
    for (i, reply) in outcome.replies.iter().enumerate() {
        outbound::queue(
            &mut tx,
            now,
            Queued {
                shop_id: row.shop_id,
                conversation_id: job.conversation_id,
                sent_by: "agent",
                kind: reply.kind(),
                body: &reply.shown(),
                payload: reply.payload(),
                idempotency_key: &format!("agent:{last_id}:{i}"),
                file: None,
            },
        )
        .await?;
    }
    sqlx::query(
        "update agent_sessions set step = $2, data = $3, language = $4, greeted = $5, misses = $6,
             answered_at = $7, answered_id = $8, updated_at = now()
         where conversation_id = $1",
    )
    .bind(job.conversation_id)
    .bind(&session.step)
    .bind(sqlx::types::Json(&session.data))
    .bind(lang_code)
    .bind(session.greeted)
    .bind(session.misses)
    .bind(last_at)
    .bind(last_id)
    .execute(&mut *tx)
    .await?;
    if let Some((number_id, number)) = outcome.order {
        crate::whatsapp::inbound::insert_note(
            &mut tx,
            row.shop_id,
            job.conversation_id,
            &format!("Order #{number} was placed in this chat with the shop assistant."),
        )
        .await
        .map_err(AppError::Internal)?;
        tracing::info!(order = %number_id, "order placed by the shop assistant");
    }
    if let Some((reason, summary)) = &outcome.escalate {
        escalate(
            state,
            &mut tx,
            row.shop_id,
            job.conversation_id,
            reason,
            summary,
            lang_code,
            &format!("agent:{last_id}"),
            !announce_in_reply,
        )
        .await?;
    }
    if let Some(note) = &trace.note {
        note_once_an_hour(&mut tx, now, row.shop_id, job.conversation_id, note).await?;
    }
    if input.is_some() {
        sqlx::query(
            "insert into agent_traces (id, shop_id, conversation_id, message_id, engine, detail,
                 prompt_tokens, completion_tokens, latency_ms)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             on conflict (message_id) do nothing",
        )
        .bind(Uuid::now_v7())
        .bind(row.shop_id)
        .bind(job.conversation_id)
        .bind(last_id)
        .bind(trace.engine)
        .bind(&trace.detail)
        .bind(trace.prompt_tokens as i32)
        .bind(trace.completion_tokens as i32)
        .bind(trace.latency_ms as i32)
        .execute(&mut *tx)
        .await?;
    }
    crate::whatsapp::inbound::notify(&mut tx, row.shop_id, job.conversation_id, "message").await?;
    tx.commit().await?;
    Ok(())
}

/// Which engine answers a turn.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Engine {
    Llm,
    Assistant,
}

impl Engine {
    /// The model answers what customers write, in the shop's "ai" mode. Taps on our own
    /// buttons and lists, the order questions and their confirmation stay with the
    /// assistant (they are answers to its questions, priced from the database), and so does
    /// a request for a person: that handover must work whatever the model would do.
    fn choose(
        state: &AppState,
        agent_mode: &str,
        session: &Session,
        input: Option<&Input>,
    ) -> Engine {
        match input {
            Some(Input::Text(text))
                if agent_mode == "ai"
                    && state.llm.is_some()
                    && session.step == "idle"
                    && !lang::asks_for_person(text) =>
            {
                Engine::Llm
            }
            _ => Engine::Assistant,
        }
    }
}

/// What the thread's "why this answer" shows for a turn.
struct TraceRow {
    engine: &'static str,
    detail: Value,
    prompt_tokens: i64,
    completion_tokens: i64,
    latency_ms: i64,
    /// A note for the merchant in the thread (the assistant stood in for the model).
    note: Option<String>,
}

impl TraceRow {
    fn assistant() -> Self {
        TraceRow {
            engine: "assistant",
            detail: serde_json::json!({}),
            prompt_tokens: 0,
            completion_tokens: 0,
            latency_ms: 0,
            note: None,
        }
    }
}

/// The AI agent's turn, or the assistant's when the model cannot answer (the monthly budget
/// is spent, or the provider failed after its retries). Tokens are counted either way.
#[allow(clippy::too_many_arguments)]
async fn llm_turn(
    state: &AppState,
    ctx: &Ctx<'_>,
    session: &mut Session,
    conversation_id: Uuid,
    before: OffsetDateTime,
    answering: Uuid,
    text: &str,
    row: &TurnRow,
) -> AppResult<(assistant::Outcome, TraceRow)> {
    let Some(llm) = state.llm.as_ref() else {
        return Ok((
            assistant::respond(ctx, session, &Input::Text(text.to_string())).await?,
            TraceRow::assistant(),
        ));
    };
    let month = month_of(state.clock.now());
    let budget = budget_of(state, row.token_budget);
    let used: i64 = sqlx::query_scalar(
        "select coalesce(sum(prompt_tokens + completion_tokens), 0)::bigint from agent_usage
         where shop_id = $1 and month = $2",
    )
    .bind(ctx.shop_id)
    .bind(month)
    .fetch_one(&state.pool)
    .await?;
    let (reason, note, trace) = if used >= budget {
        (
            "budget".to_string(),
            format!(
                "The AI agent's budget for this month ({budget} tokens) is used up, so the shop assistant is answering. You can raise it in the assistant settings on the WhatsApp page."
            ),
            llm::Trace::default(),
        )
    } else {
        outbound::show_typing(state, answering).await;
        let history = history(state, conversation_id, before).await?;
        let shop = llm::ShopWords {
            facts: row.facts.as_deref().unwrap_or_default(),
            tone: row.tone.as_deref().unwrap_or("friendly"),
        };
        match llm::respond(llm, ctx, session, &history, text, &shop).await {
            Ok(turn) => {
                record_usage(state, ctx.shop_id, month, &turn.trace, None).await?;
                let mut outcome = turn.outcome;
                assistant::disclose(ctx, session, &mut outcome);
                return Ok((
                    outcome,
                    TraceRow {
                        engine: "llm",
                        detail: serde_json::to_value(&turn.trace).unwrap_or_default(),
                        prompt_tokens: turn.trace.prompt_tokens,
                        completion_tokens: turn.trace.completion_tokens,
                        latency_ms: turn.trace.latency_ms,
                        note: None,
                    },
                ));
            }
            Err(llm::TurnError::App(e)) => return Err(e),
            Err(llm::TurnError::Unavailable(e, trace)) => {
                tracing::warn!(error = %e, shop = %ctx.shop_id, "the AI agent could not answer; the shop assistant does");
                let reason = e.to_string();
                (
                    reason.clone(),
                    format!(
                        "The AI agent could not answer ({}), so the shop assistant did.",
                        reason.chars().take(200).collect::<String>()
                    ),
                    trace,
                )
            }
        }
    };
    record_usage(state, ctx.shop_id, month, &trace, Some(&reason)).await?;
    let outcome = assistant::respond(ctx, session, &Input::Text(text.to_string())).await?;
    Ok((
        outcome,
        TraceRow {
            engine: "fallback",
            detail: serde_json::json!({"reason": reason, "model": trace}),
            prompt_tokens: trace.prompt_tokens,
            completion_tokens: trace.completion_tokens,
            latency_ms: trace.latency_ms,
            note: Some(note),
        },
    ))
}

/// The conversation before this burst, oldest first, as chat roles: what the customer wrote
/// (`user`) and what the shop sent, by the agent or a person (`assistant`).
async fn history(
    state: &AppState,
    conversation_id: Uuid,
    before: OffsetDateTime,
) -> AppResult<Vec<(String, String)>> {
    let mut rows: Vec<(String, String)> = sqlx::query_as(
        "select direction, body from wa_messages
         where conversation_id = $1 and direction in ('in', 'out') and body <> ''
           and sent_at < $2
         order by sent_at desc, id desc limit 12",
    )
    .bind(conversation_id)
    .bind(before)
    .fetch_all(&state.pool)
    .await?;
    rows.reverse();
    Ok(rows
        .into_iter()
        .map(|(direction, body)| {
            let role = if direction == "in" {
                "user"
            } else {
                "assistant"
            };
            (role.to_string(), body.chars().take(1000).collect())
        })
        .collect())
}

/// Adds a turn's tokens to the shop's month; `failure`: the assistant stood in, and why.
async fn record_usage(
    state: &AppState,
    shop_id: Uuid,
    month: time::Date,
    trace: &llm::Trace,
    failure: Option<&str>,
) -> AppResult<()> {
    sqlx::query(
        "insert into agent_usage as u (shop_id, month, prompt_tokens, completion_tokens, turns,
             fallbacks, last_failure, last_failure_at)
         values ($1, $2, $3, $4, 1, $5, coalesce($6, ''), case when $6 is null then null else now() end)
         on conflict (shop_id, month) do update set
             prompt_tokens = u.prompt_tokens + excluded.prompt_tokens,
             completion_tokens = u.completion_tokens + excluded.completion_tokens,
             turns = u.turns + 1,
             fallbacks = u.fallbacks + excluded.fallbacks,
             last_failure = coalesce($6, u.last_failure),
             last_failure_at = coalesce(excluded.last_failure_at, u.last_failure_at)",
    )
    .bind(shop_id)
    .bind(month)
    .bind(trace.prompt_tokens)
    .bind(trace.completion_tokens)
    .bind(i32::from(failure.is_some()))
    .bind(failure)
    .execute(&state.pool)
    .await?;
    Ok(())
}

/// A note for the merchant in the thread, unless the same one was written in the last hour
/// (a long outage must not bury the conversation in notes).
async fn note_once_an_hour(
    tx: &mut PgConnection,
    now: OffsetDateTime,
    shop_id: Uuid,
    conversation_id: Uuid,
    note: &str,
) -> AppResult<()> {
    let recent: bool = sqlx::query_scalar(
        "select exists(select 1 from wa_messages where conversation_id = $1 and kind = 'note'
             and body = $2 and sent_at > $3)",
    )
    .bind(conversation_id)
    .bind(note)
    .bind(now - time::Duration::hours(1))
    .fetch_one(&mut *tx)
    .await?;
    if !recent {
        crate::whatsapp::inbound::insert_note(tx, shop_id, conversation_id, note)
            .await
            .map_err(AppError::Internal)?;
    }
    Ok(())
}

/// What the customer said in this burst: the last tap wins (it is an answer to our last
/// message); otherwise their texts, joined.
fn input_of(messages: &[(Uuid, String, Value, String, OffsetDateTime)]) -> Option<Input> {
    let mut texts = Vec::new();
    let mut choice = None;
    for (_, kind, payload, body, _) in messages {
        match kind.as_str() {
            "interactive" => {
                let id = payload
                    .pointer("/interactive/button_reply/id")
                    .or_else(|| payload.pointer("/interactive/list_reply/id"))
                    .and_then(Value::as_str);
                if let Some(id) = id {
                    choice = Some(id.to_string());
                    texts.clear();
                }
            }
            "button" => {
                // A template's quick-reply button: its payload, else its text.
                let id = payload
                    .pointer("/button/payload")
                    .or_else(|| payload.pointer("/button/text"))
                    .and_then(Value::as_str);
                if let Some(id) = id {
                    texts.push(id.to_string());
                }
            }
            "text" => texts.push(body.clone()),
            _ => {}
        }
    }
    if !texts.is_empty() {
        Some(Input::Text(texts.join("\n")))
    } else {
        choice.map(Input::Choice)
    }
}

/// Hands the conversation to the merchant. At most one open escalation per conversation: a
/// second call while one is open does nothing (no second message, no second alert). Returns
/// whether this call opened it.
#[allow(clippy::too_many_arguments)]
pub async fn escalate(
    state: &AppState,
    tx: &mut PgConnection,
    shop_id: Uuid,
    conversation_id: Uuid,
    reason: &str,
    summary: &str,
    lang_code: &str,
    key: &str,
    // false: the caller's own answer already tells the customer (same words).
    announce: bool,
) -> AppResult<bool> {
    let id = Uuid::now_v7();
    let opened: Option<Uuid> = sqlx::query_scalar(
        "insert into escalations (id, shop_id, conversation_id, reason, summary)
         values ($1, $2, $3, $4, $5)
         on conflict (conversation_id) where resolved_at is null do nothing
         returning id",
    )
    .bind(id)
    .bind(shop_id)
    .bind(conversation_id)
    .bind(reason)
    .bind(summary)
    .fetch_optional(&mut *tx)
    .await?;
    if opened.is_none() {
        return Ok(false);
    }
    sqlx::query(
        "update conversations set mode = 'human', needs_attention = true, updated_at = now()
         where id = $1 and shop_id = $2",
    )
    .bind(conversation_id)
    .bind(shop_id)
    .execute(&mut *tx)
    .await?;
    // Open dashboards raise a browser notification on this event (sent when this commits).
    crate::whatsapp::inbound::notify(tx, shop_id, conversation_id, "handover").await?;
    if announce {
        let shop_name: String = sqlx::query_scalar("select name from shops where id = $1")
            .bind(shop_id)
            .fetch_one(&mut *tx)
            .await?;
        let text = handover_text(lang_code, &shop_name);
        outbound::queue(
            tx,
            state.clock.now(),
            Queued {
                shop_id,
                conversation_id,
                sent_by: "agent",
                kind: "text",
                body: &text,
                payload: serde_json::json!({"type": "text", "text": {"body": text}}),
                idempotency_key: &format!("{key}:handover"),
                file: None,
            },
        )
        .await?;
    }
    crate::whatsapp::inbound::insert_note(
        tx,
        shop_id,
        conversation_id,
        &format!("Handed to you ({}). {summary}", reason_words(reason)),
    )
    .await
    .map_err(AppError::Internal)?;
    jobs::enqueue(
        tx,
        NewJob::new(ALERT, AlertJob { escalation_id: id }).idempotency_key(id.to_string()),
    )
    .await?;
    Ok(true)
}

/// What the customer is told when a person is asked in, in their language.
fn handover_text(lang_code: &str, shop_name: &str) -> String {
    lang::texts(lang_code).handover.replace("{shop}", shop_name)
}

fn reason_words(reason: &str) -> &'static str {
    match reason {
        "customer_asked" => "the customer asked for a person",
        "not_understood" => "the assistant could not help",
        "merchant_rule" => "one of your rules",
        "agent_tool" => "the AI agent judged a person should answer",
        _ => "the agent asked for you",
    }
}

#[derive(sqlx::FromRow)]
struct AlertRow {
    shop_id: Uuid,
    conversation_id: Uuid,
    reason: String,
    alert_phone: Option<String>,
    name: String,
    phone: Option<String>,
    email: String,
}

/// Tells the merchant a customer needs them: on their personal WhatsApp number (free text
/// when that number wrote to the business in the last 24 hours, else the approved alert
/// template) and by email. What was possible is recorded on the escalation.
async fn alert(state: &AppState, escalation_id: Uuid) -> AppResult<()> {
    let row: Option<AlertRow> = sqlx::query_as(
        "select e.shop_id, e.conversation_id, e.reason, a.alert_phone,
                    c.name, c.phone, m.email
             from escalations e
             join conversations v on v.id = e.conversation_id
             join customers c on c.id = v.customer_id
             join shops s on s.id = e.shop_id
             join merchants m on m.id = s.merchant_id
             left join wa_accounts a on a.shop_id = e.shop_id and a.status = 'connected'
             where e.id = $1",
    )
    .bind(escalation_id)
    .fetch_optional(&state.pool)
    .await?;
    let Some(AlertRow {
        shop_id,
        conversation_id,
        reason,
        alert_phone,
        name,
        phone,
        email,
    }) = row
    else {
        return Ok(());
    };
    let who = match (name.trim(), phone.as_deref()) {
        ("", Some(p)) => p.to_string(),
        (n, Some(p)) => format!("{n} ({p})"),
        (n, None) => n.to_string(),
    };
    let link = format!(
        "{}/dashboard/inbox/{conversation_id}",
        state.config.public_url
    );
    let mut tx = state.pool.begin().await?;
    crate::mail::ssr::enqueue(
        &mut tx,
        &email,
        &format!("A customer needs you on WhatsApp: {who}"),
        &format!(
            "{who} needs a person ({}).\n\nThe assistant has stopped answering this conversation. Reply here: {link}\n\nWhen you are done, hand it back to the assistant from the conversation.",
            reason_words(&reason)
        ),
    )
    .await?;
    let outcome = match alert_phone.filter(|p| !p.trim().is_empty()) {
        None => "none".to_string(),
        Some(number) => {
            alert_on_whatsapp(state, &mut tx, shop_id, escalation_id, &number, &who, &link).await?
        }
    };
    sqlx::query("update escalations set alert = $2 where id = $1")
        .bind(escalation_id)
        .bind(&outcome)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

async fn alert_on_whatsapp(
    state: &AppState,
    tx: &mut PgConnection,
    shop_id: Uuid,
    escalation_id: Uuid,
    number: &str,
    who: &str,
    link: &str,
) -> AppResult<String> {
    let wa_id: String = number.chars().filter(char::is_ascii_digit).collect();
    // The merchant's own number is a contact of the business number like any other.
    let Some(customer_id) =
        crate::whatsapp::inbound::upsert_customer(tx, shop_id, Some(&wa_id), None, "Shop alerts")
            .await
            .map_err(AppError::Internal)?
    else {
        return Ok("the alert number is not a phone number".into());
    };
    let conversation_id = crate::whatsapp::inbound::conversation_for(tx, shop_id, customer_id)
        .await
        .map_err(AppError::Internal)?;
    // The alert conversation is the merchant's: the agent never answers it.
    let last_inbound: Option<OffsetDateTime> = sqlx::query_scalar(
        "update conversations set mode = 'human' where id = $1 returning last_inbound_at",
    )
    .bind(conversation_id)
    .fetch_one(&mut *tx)
    .await?;
    let now = state.clock.now();
    let text = format!("A customer needs you on WhatsApp: {who}. Reply here: {link}");
    let (kind, payload, outcome) = if crate::conversations::ssr::window_secs_left(now, last_inbound)
        > 0
    {
        (
            "text",
            serde_json::json!({"type": "text", "text": {"body": text, "preview_url": false}}),
            "text",
        )
    } else {
        let language: Option<String> = sqlx::query_scalar(
                "select language from wa_templates
                 where shop_id = $1 and name = $2 and status = 'APPROVED' and body_params = 1 limit 1",
            )
            .bind(shop_id)
            .bind(crate::whatsapp::ESCALATION_TEMPLATE)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(language) = language else {
            return Ok("the alert template is not approved yet".into());
        };
        (
            "template",
            serde_json::json!({"type": "template", "template": {
                "name": crate::whatsapp::ESCALATION_TEMPLATE, "language": {"code": language},
                "components": [{"type": "body", "parameters": [{"type": "text", "text": who}]}]
            }}),
            "template",
        )
    };
    outbound::queue(
        tx,
        now,
        Queued {
            shop_id,
            conversation_id,
            sent_by: "system",
            kind,
            body: &text,
            payload,
            idempotency_key: &format!("alert:{escalation_id}"),
            file: None,
        },
    )
    .await?;
    Ok(outcome.to_string())
}

/// The merchant hands the conversation back to the agent: the open escalation is resolved.
pub async fn hand_back(
    tx: &mut PgConnection,
    shop_id: Uuid,
    conversation_id: Uuid,
) -> AppResult<()> {
    sqlx::query(
        "update escalations set resolved_at = now()
         where shop_id = $1 and conversation_id = $2 and resolved_at is null",
    )
    .bind(shop_id)
    .bind(conversation_id)
    .execute(&mut *tx)
    .await?;
    // The next message starts afresh: no half-asked order questions from before, and what the
    // customer wrote while a person had the chat was the person's to answer.
    sqlx::query(
        "insert into agent_sessions (conversation_id, shop_id, answered_at, answered_id)
         select $1, $2, m.sent_at, m.id from (select null) x
         left join lateral (
             select sent_at, id from wa_messages
             where conversation_id = $1 and direction = 'in' and sent_by = 'customer'
             order by sent_at desc, id desc limit 1) m on true
         on conflict (conversation_id) do update set step = 'idle', data = '{}', misses = 0,
             answered_at = excluded.answered_at, answered_id = excluded.answered_id,
             updated_at = now()",
    )
    .bind(conversation_id)
    .bind(shop_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A person answered (from the dashboard or the WhatsApp Business app) at `at`: the agent
/// stops in this conversation until handed back — by hand, or, when the shop set a timeout,
/// by a job that runs that long after this message and hands back if the person has written
/// nothing since.
pub async fn take_over(
    tx: &mut PgConnection,
    at: OffsetDateTime,
    shop_id: Uuid,
    conversation_id: Uuid,
) -> AppResult<()> {
    sqlx::query(
        "update conversations set mode = 'human', updated_at = now()
         where id = $1 and shop_id = $2 and mode = 'ai'",
    )
    .bind(conversation_id)
    .bind(shop_id)
    .execute(&mut *tx)
    .await?;
    let minutes: Option<i32> =
        sqlx::query_scalar("select hand_back_after_minutes from agent_settings where shop_id = $1")
            .bind(shop_id)
            .fetch_optional(&mut *tx)
            .await?
            .flatten();
    if let Some(minutes) = minutes {
        let due = at + time::Duration::minutes(i64::from(minutes));
        jobs::enqueue(
            tx,
            NewJob::new(HAND_BACK, HandBackJob { conversation_id })
                // One check per person message (the last one decides).
                .idempotency_key(format!("{conversation_id}:{}", at.unix_timestamp_nanos()))
                .run_at(due),
        )
        .await?;
    }
    Ok(())
}

/// The hand-back timeout's check: the conversation goes back to the assistant only if a
/// person still has it and their last message is at least the shop's timeout old (a later
/// message has its own check). A conversation no person has written in yet (an open request
/// for a person) is never handed back by time.
pub async fn hand_back_if_quiet(state: &AppState, conversation_id: Uuid) -> AppResult<()> {
    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    let row: Option<(Uuid, String, Option<i32>, Option<OffsetDateTime>)> = sqlx::query_as(
        "select v.shop_id, v.mode, a.hand_back_after_minutes,
                (select max(m.sent_at) from wa_messages m
                  where m.conversation_id = v.id and m.direction = 'out'
                    and m.sent_by in ('merchant', 'phone')) as last_person
         from conversations v
         left join agent_settings a on a.shop_id = v.shop_id
         where v.id = $1
         for update of v",
    )
    .bind(conversation_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((shop_id, mode, Some(minutes), Some(last_person))) = row else {
        return Ok(());
    };
    if mode != "human" || now - last_person < time::Duration::minutes(i64::from(minutes)) {
        return Ok(());
    }
    sqlx::query(
        "update conversations set mode = 'ai', needs_attention = false, updated_at = now()
         where id = $1 and shop_id = $2",
    )
    .bind(conversation_id)
    .bind(shop_id)
    .execute(&mut *tx)
    .await?;
    hand_back(&mut tx, shop_id, conversation_id).await?;
    crate::whatsapp::inbound::insert_note(
        &mut tx,
        shop_id,
        conversation_id,
        &format!(
            "Handed back to the assistant after {} without a reply from you.",
            super::minutes_words(minutes)
        ),
    )
    .await
    .map_err(AppError::Internal)?;
    crate::whatsapp::inbound::notify(&mut tx, shop_id, conversation_id, "conversation").await?;
    tx.commit().await?;
    tracing::info!(%conversation_id, minutes, "conversation handed back to the assistant by timeout");
    Ok(())
}
