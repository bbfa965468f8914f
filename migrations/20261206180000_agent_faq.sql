-- Saved answers (the agent's FAQ, issue 11 §6–7): questions and answers the merchant wrote,
-- corrections of AI answers marked wrong, and replies the merchant typed in a chat, kept
-- with the message they came from. Each shop's entries serve only that shop.
create table agent_faq (
    id         uuid primary key,
    shop_id    uuid not null references shops (id) on delete cascade,
    question   text not null check (char_length(question) between 1 and 300),
    answer     text not null check (char_length(answer) between 1 and 1000),
    -- merchant: typed on the Saved answers page; correction: an AI answer marked wrong;
    -- chat: a reply the merchant typed in a conversation.
    source     text not null check (source in ('merchant', 'correction', 'chat')),
    message_id uuid references wa_messages (id) on delete set null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index agent_faq_shop_idx on agent_faq (shop_id, created_at desc);
-- One entry per message: saving the same message again edits its entry.
create unique index agent_faq_message_idx on agent_faq (message_id) where message_id is not null;
create index agent_faq_question_trgm_idx on agent_faq using gin (lower(question) gin_trgm_ops);
