-- Refresh tokens rotate on every use (issue 7). The token the browser held before the last
-- rotation is kept hashed: seeing it again after a short grace period means it was copied,
-- so the whole session is revoked. The grace period covers two tabs refreshing at once.
alter table sessions
    add column previous_token_hash bytea,
    add column rotated_at timestamptz;
create index sessions_previous_token_hash_idx on sessions (previous_token_hash)
    where previous_token_hash is not null;

-- A successful reset or password change spends every other outstanding reset link.
create index password_resets_open_idx on password_resets (merchant_id) where used_at is null;
