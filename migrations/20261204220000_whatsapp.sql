-- The WhatsApp channel (issue 9): a shop's connected number, the raw webhook inbox, the
-- conversations and messages the dashboard shows, status events, templates and inbound media.
-- Everything Meta sends is first committed raw to wa_webhook_events; the rest is derived from it
-- by jobs, so a bug in processing can be fixed and the events processed again.

-- A WhatsApp customer is the same customer as a storefront shopper (matched on the number).
-- Username (BSUID) contacts may have no phone number at all.
alter table customers alter column phone drop not null;
alter table customers
    add column wa_id text,
    -- Business-scoped user id (2026 usernames): the key when Meta sends no phone number.
    add column bsuid text,
    -- Marketing templates are suppressed; service replies and utility messages are not.
    add column marketing_opt_out boolean not null default false,
    add column marketing_opt_out_at timestamptz,
    add constraint customers_has_identity check (phone is not null or bsuid is not null);
create unique index customers_shop_bsuid_idx on customers (shop_id, bsuid) where bsuid is not null;

create table wa_accounts (
    id                  uuid primary key,
    -- One number per shop; reconnecting updates this row in place.
    shop_id             uuid not null unique references shops (id) on delete cascade,
    -- embedded: Embedded Signup with the platform app; coexistence: the same, with the WhatsApp
    -- Business app staying on the number; manual: the merchant's own Meta app.
    onboarding          text not null check (onboarding in ('embedded', 'coexistence', 'manual')),
    waba_id             text not null,
    -- Webhooks are routed by this id. Unique: a number belongs to one shop at a time.
    phone_number_id     text not null unique,
    business_id         text,
    display_phone       text not null default '',
    verified_name       text not null default '',
    quality_rating      text not null default '',
    messaging_tier      text not null default '',
    status              text not null default 'connected'
                        check (status in ('connected', 'needs_reconnect', 'disconnected')),
    -- Why the account is not connected, in words for the merchant (a 190 from Meta, a ban).
    status_reason       text not null default '',
    -- Business token, AES-256-GCM under SECRETS_KEY (nonce || ciphertext). Never shown again.
    access_token_enc    bytea not null,
    token_last4         text not null default '',
    -- Null: the token does not expire.
    token_expires_at    timestamptz,
    -- Manual setup only: the merchant app's secret (encrypted), the per-account webhook path
    -- key and its verify token.
    app_secret_enc      bytea,
    webhook_key         text unique,
    verify_token        text,
    -- The two-step verification PIN we registered the number with (encrypted).
    pin_enc             bytea,
    last_webhook_at     timestamptz,
    -- When we last emailed the merchant that the number needs reconnecting (once per episode).
    reconnect_notified_at timestamptz,
    -- A separate personal number for escalation alerts (a business cannot message itself).
    alert_phone         text,
    -- Tell customers on WhatsApp when their order's status changes.
    notify_order_updates boolean not null default false,
    connected_at        timestamptz not null default now(),
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now()
);

-- The raw inbox: the exact bytes Meta signed, committed before we answer 200.
create table wa_webhook_events (
    id           bigint generated always as identity primary key,
    -- Set when the event came in on a manual account's own path.
    account_id   uuid references wa_accounts (id) on delete set null,
    body         bytea not null,
    received_at  timestamptz not null default now(),
    processed_at timestamptz,
    error        text
);
create index wa_webhook_events_unprocessed_idx on wa_webhook_events (id) where processed_at is null;

create table conversations (
    id               uuid primary key,
    shop_id          uuid not null references shops (id) on delete cascade,
    customer_id      uuid not null,
    -- Who answers: the AI agent, or a person (after a handover, or when the merchant takes over).
    mode             text not null default 'human' check (mode in ('ai', 'human')),
    needs_attention  boolean not null default false,
    -- Meta's timestamp of the customer's latest message: the 24-hour window runs from it.
    last_inbound_at  timestamptz,
    last_message_at  timestamptz not null default now(),
    last_preview     text not null default '',
    unread_count     integer not null default 0,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    unique (shop_id, customer_id),
    unique (shop_id, id),
    foreign key (shop_id, customer_id) references customers (shop_id, id) on delete cascade
);
create index conversations_shop_recent_idx on conversations (shop_id, last_message_at desc);

create table wa_messages (
    id               uuid primary key,
    shop_id          uuid not null references shops (id) on delete cascade,
    conversation_id  uuid not null,
    direction        text not null check (direction in ('in', 'out', 'note')),
    -- customer; merchant (dashboard); phone (the merchant answering from the WhatsApp Business
    -- app, an echo); agent; system (opt-out notes and the like).
    sent_by          text not null check (sent_by in ('customer', 'merchant', 'phone', 'agent', 'system')),
    -- Meta's message id. Null only while an outbound message waits to be sent.
    wamid            text,
    -- Meta's type (text, image, …, unsupported) or a note.
    kind             text not null,
    -- The text a person reads in the thread (body, caption, button title…).
    body             text not null default '',
    -- The message object as Meta sent it (inbound) or as we send it (outbound).
    payload          jsonb not null default '{}'::jsonb,
    -- received (inbound); queued, sending, sent, delivered, read, failed (outbound).
    status           text not null,
    error_code       integer,
    error_text       text,
    -- Meta's time for inbound messages, our enqueue time for outbound ones.
    sent_at          timestamptz not null,
    reply_to         text,
    -- Outbound: one send per key, whatever retries and restarts happen.
    idempotency_key  text,
    send_attempts    integer not null default 0,
    -- Inbound media: Meta's media id, then our copy.
    media_id         text,
    media_status     text check (media_status in ('pending', 'stored', 'failed', 'expired')),
    media_file_id    uuid,
    media_mime       text,
    media_error      text,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    unique (shop_id, wamid),
    unique (shop_id, idempotency_key),
    foreign key (shop_id, conversation_id) references conversations (shop_id, id) on delete cascade
);
create index wa_messages_conversation_idx on wa_messages (conversation_id, sent_at, id);

-- Every status Meta reported, kept even when it arrives late or out of order; the message row
-- shows the furthest one.
create table wa_status_events (
    id           bigint generated always as identity primary key,
    shop_id      uuid not null references shops (id) on delete cascade,
    wamid        text not null,
    status       text not null,
    status_at    timestamptz not null,
    errors       jsonb,
    received_at  timestamptz not null default now(),
    unique (shop_id, wamid, status)
);

create table wa_templates (
    id            uuid primary key,
    shop_id       uuid not null references shops (id) on delete cascade,
    meta_id       text,
    name          text not null,
    language      text not null,
    category      text not null,
    status        text not null,
    -- Number of {{n}} parameters in the body: checked before sending (132000 otherwise).
    body_params   integer not null default 0,
    body_text     text not null default '',
    components    jsonb not null default '[]'::jsonb,
    reason        text not null default '',
    updated_at    timestamptz not null default now(),
    unique (shop_id, name, language)
);

-- Customer media copied from Meta (their URLs expire in minutes). Kept in the database rather
-- than the public /media folder or public Cloudinary URLs: it is private correspondence.
create table wa_media_files (
    id         uuid primary key,
    shop_id    uuid not null references shops (id) on delete cascade,
    mime       text not null,
    filename   text,
    bytes      bytea not null,
    created_at timestamptz not null default now()
);

-- Delivery statuses only move forward (a late "delivered" never hides "read").
create function wa_status_rank(s text) returns integer language sql immutable as $$
    select case s when 'queued' then 0 when 'sending' then 1 when 'sent' then 2
                  when 'delivered' then 3 when 'read' then 4 else -1 end
$$;
