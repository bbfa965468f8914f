-- One durable queue for all background work: email now; webhook processing, media downloads,
-- message sends, embeddings, exports and purges next. Workers claim rows with
-- `for update skip locked`, so any number of server replicas share it safely, and run the work
-- outside any transaction (see app/src/platform/jobs.rs).
create table jobs (
    id              uuid primary key,
    -- Chooses the handler; a replica claims only the kinds it has handlers for.
    kind            text not null,
    payload         jsonb not null default '{}'::jsonb,
    -- Idempotent enqueueing: a second job of the same kind with the same key is not created.
    -- Unique per kind rather than globally, so each capability picks keys (an outbox id, a
    -- WhatsApp message id) without coordinating with the others. Null means no key. A key is
    -- remembered as long as its row is kept (done jobs are purged after the retention period).
    idempotency_key text,
    state           text not null default 'queued'
                    check (state in ('queued', 'running', 'done', 'dead')),
    -- Null: due at once. Set for scheduled jobs and for retries (backoff). Compared with the
    -- application's clock, never the database's, so tests can move time.
    run_at          timestamptz,
    -- Attempts started; counted when a worker claims the job, so an attempt whose worker died
    -- counts too and a job that crashes its worker cannot loop forever.
    attempts        integer not null default 0,
    max_attempts    integer not null default 8 check (max_attempts > 0),
    last_error      text,
    -- The lease of a running job. A worker that dies mid-job leaves it 'running'; once this
    -- time passes, another worker claims it again.
    locked_until    timestamptz,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    finished_at     timestamptz,
    constraint jobs_kind_idempotency_key unique (kind, idempotency_key)
);
-- What the claim query scans: due queued jobs in order, and running jobs whose lease expired.
create index jobs_queued_idx on jobs ((coalesce(run_at, created_at))) where state = 'queued';
create index jobs_running_idx on jobs (locked_until) where state = 'running';
-- House-keeping deletes finished jobs after the retention period.
create index jobs_finished_idx on jobs (finished_at) where state in ('done', 'dead');

-- Email is delivered by `send_email` jobs now; the outbox stays as the record of each message
-- (the development mailbox reads it), and its own scheduling column goes.
-- `sensitive`: the body carries a secret (a password-reset link) and is blanked once sent.
alter table email_outbox add column sensitive boolean not null default false;
-- Mail still waiting when this runs gets its job, keyed by the outbox id like new mail.
insert into jobs (id, kind, payload, idempotency_key)
select id, 'send_email', jsonb_build_object('outbox_id', id), id::text
from email_outbox
where sent_at is null and dead_at is null;
drop index email_outbox_pending_idx;
alter table email_outbox drop column run_at;
-- The mailbox lists by creation time and house-keeping purges by it.
create index email_outbox_created_idx on email_outbox (created_at);
