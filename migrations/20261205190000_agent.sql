-- The shop's agent on WhatsApp (issue 11): its settings, where it is in each conversation,
-- and handovers to the merchant.

-- No row: the server's default (AGENT_DEFAULT_MODE).
create table agent_settings (
    shop_id     uuid primary key references shops (id) on delete cascade,
    -- assistant: the guided assistant (no language model); off: a person answers everything.
    mode        text not null check (mode in ('assistant', 'off')),
    -- The first answer in a conversation says it is automated; empty: the built-in wording.
    disclosure  text not null default '',
    -- The merchant's rule: an order in the chat above this total (minor units) is handed to
    -- them after it is placed. Null: no rule.
    escalate_above_minor bigint check (escalate_above_minor > 0),
    updated_at  timestamptz not null default now()
);

-- Where the agent is in a conversation, and the last customer message it answered.
create table agent_sessions (
    conversation_id uuid primary key,
    shop_id         uuid not null,
    -- idle, quantity, name, address, confirm (the assistant's order questions).
    step            text not null default 'idle',
    -- What the order questions gathered so far (variant, quantity, name, address).
    data            jsonb not null default '{}'::jsonb,
    language        text not null default 'en',
    greeted         boolean not null default false,
    answered_at     timestamptz,
    answered_id     uuid,
    -- Answers in a row that found nothing: after a few, a person is asked in.
    misses          integer not null default 0,
    updated_at      timestamptz not null default now(),
    foreign key (shop_id, conversation_id) references conversations (shop_id, id) on delete cascade
);

-- A conversation handed to the merchant. At most one open per conversation: a second request
-- while one is open neither alerts again nor repeats the message to the customer.
create table escalations (
    id              uuid primary key,
    shop_id         uuid not null,
    conversation_id uuid not null,
    -- customer_asked, not_understood, merchant_rule, agent.
    reason          text not null,
    summary         text not null default '',
    opened_at       timestamptz not null default now(),
    resolved_at     timestamptz,
    -- How the merchant's phone was told: text (inside the window of the alert number),
    -- template (outside it), none (no alert number), or why it could not be.
    alert           text not null default '',
    foreign key (shop_id, conversation_id) references conversations (shop_id, id) on delete cascade
);
create unique index escalations_one_open_idx on escalations (conversation_id) where resolved_at is null;
create index escalations_shop_idx on escalations (shop_id, opened_at desc);
