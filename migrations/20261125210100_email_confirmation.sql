-- Signup and email changes are confirmed from the inbox (issue 7: account enumeration).
-- Both forms answer the same whether or not an address already has an account; the owner of
-- an address that is taken gets an email saying so instead. Tokens are stored hashed, like
-- sessions and reset links.

-- A signup waiting for its confirmation link. The merchant and shop are created only when the
-- link is used, so an unconfirmed address never blocks its real owner.
create table signup_requests (
    id                  uuid primary key,
    email               text not null check (length(email) between 3 and 254),
    full_name           text not null,
    business_name       text not null,
    password_hash       text not null,
    -- What the person confirmed on the form, carried over to the account.
    adult_confirmed_at  timestamptz not null,
    policy_version      text not null,
    token_hash          bytea not null unique,
    created_at          timestamptz not null default now(),
    expires_at          timestamptz not null,
    used_at             timestamptz
);
create index signup_requests_expires_idx on signup_requests (expires_at) where used_at is null;

-- A change of login email waiting for confirmation from the new address.
create table email_changes (
    id           uuid primary key,
    merchant_id  uuid not null references merchants (id) on delete cascade,
    new_email    text not null check (length(new_email) between 3 and 254),
    token_hash   bytea not null unique,
    created_at   timestamptz not null default now(),
    expires_at   timestamptz not null,
    used_at      timestamptz
);
create index email_changes_merchant_idx on email_changes (merchant_id) where used_at is null;
