-- Checkout hardening (issue 7).

-- A reused idempotency key must come with the same cart and customer (SHA-256 of the lines,
-- quantities and what the shopper typed): the key alone would let a different cart fetch an
-- existing order. Orders placed before this column existed have no hash and keep answering by
-- key, as they did.
alter table orders add column cart_hash bytea;

-- Unconfirmed orders that hold stock are released by the server after ORDER_HOLD_HOURS: the
-- history records that as the 'system', with a note saying why.
alter table order_events drop constraint order_events_actor_check;
alter table order_events add constraint order_events_actor_check
    check (actor in ('shopper', 'merchant', 'system'));
alter table order_events add column note text;

-- The release sweep looks for old unconfirmed orders across all shops.
create index orders_new_created_idx on orders (created_at) where status = 'new';
