-- The AI agent (issue 11 §1, §3, §6): the facts the merchant lets it use, a monthly token
-- budget per shop, what each month used, and a trace of every turn the agent answered.

alter table agent_settings drop constraint agent_settings_mode_check;
-- ai: the language model answers (the shop assistant stands in when it cannot).
alter table agent_settings add constraint agent_settings_mode_check
    check (mode in ('ai', 'assistant', 'off'));
alter table agent_settings
    -- Delivery, returns, payment, opening hours: what the model may tell customers.
    add column facts text not null default '' check (char_length(facts) <= 4000),
    -- Tokens a month; null: the server's default (LLM_MONTHLY_TOKENS).
    add column token_budget bigint check (token_budget >= 0);

create table agent_usage (
    shop_id           uuid not null references shops (id) on delete cascade,
    -- The first day of the month (UTC) the tokens were spent in.
    month             date not null,
    prompt_tokens     bigint not null default 0,
    completion_tokens bigint not null default 0,
    turns             integer not null default 0,
    -- Turns the shop assistant answered because the model could not (budget, provider).
    fallbacks         integer not null default 0,
    last_failure      text not null default '',
    last_failure_at   timestamptz,
    primary key (shop_id, month)
);

-- Why the agent answered as it did, per answered customer message (the thread's "why").
create table agent_traces (
    id              uuid primary key,
    shop_id         uuid not null,
    conversation_id uuid not null,
    -- The customer message the turn answered (the burst's last).
    message_id      uuid not null,
    -- llm, assistant, or fallback (the assistant standing in for the model, and why).
    engine          text not null,
    detail          jsonb not null default '{}'::jsonb,
    prompt_tokens   integer not null default 0,
    completion_tokens integer not null default 0,
    latency_ms      integer not null default 0,
    created_at      timestamptz not null default now(),
    foreign key (shop_id, conversation_id) references conversations (shop_id, id) on delete cascade
);
create unique index agent_traces_message_idx on agent_traces (message_id);
create index agent_traces_conversation_idx on agent_traces (shop_id, conversation_id, created_at);
