-- "Try your agent" (issue 11 §8): the merchant plays a customer of their own shop through the
-- WhatsApp simulator. One test customer per shop; "Start over" moves `since`, and the
-- playground shows the conversation from then on (what came before stays in the inbox).
create table agent_playground (
    shop_id uuid primary key references shops (id) on delete cascade,
    since   timestamptz not null default now()
);
