-- Webhook deliveries are processed straight from wa_webhook_events, many per transaction, by
-- the inbox processor (one job row and one NOTIFY per delivery made PostgreSQL serialise ~2,000
-- commits a second at 320 deliveries/s). A delivery that meets a passing database failure is
-- tried again after retry_at; attempts counts those tries.
alter table wa_webhook_events
    add column attempts integer not null default 0,
    add column retry_at timestamptz;

-- Jobs of the former per-delivery kind: the processor finds their events unprocessed anyway.
delete from jobs where kind = 'wa_process_webhook';

-- Coexistence: the chat history Meta sends after onboarding (`history` webhooks), shown on the
-- channel page. history_progress is Meta's overall percentage (100: complete); history_declined
-- holds Meta's words when the merchant turned history sharing off in the app.
alter table wa_accounts
    add column history_progress integer,
    add column history_declined text;
