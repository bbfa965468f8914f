-- Customers and orders (issue 4, first part: the checkout and order-status core).
-- Prices and titles on order lines are copied from products at checkout: an order keeps what
-- the shopper agreed to even if the product changes or is deleted later.

create table customers (
    id         uuid primary key,
    shop_id    uuid not null references shops (id) on delete cascade,
    phone      text not null check (phone ~ '^\+[1-9][0-9]{7,14}$'),
    name       text not null,
    address    text not null default '',
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    -- A shopper is one customer per shop, recognised by WhatsApp number.
    unique (shop_id, phone),
    unique (shop_id, id)
);

alter table shops add column next_order_number integer not null default 1001;

create table orders (
    id              uuid primary key,
    shop_id         uuid not null references shops (id) on delete cascade,
    number          integer not null,
    customer_id     uuid not null,
    status          text not null default 'new'
                    check (status in ('new', 'confirmed', 'shipped', 'delivered', 'cancelled')),
    currency        text not null,
    total_minor     bigint not null check (total_minor >= 0),
    customer_name   text not null,
    phone           text not null,
    address         text not null,
    note            text not null default '',
    internal_note   text not null default '',
    -- A double submit of the same checkout carries the same key and finds this order.
    idempotency_key text not null,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    unique (shop_id, number),
    unique (shop_id, idempotency_key),
    unique (shop_id, id),
    foreign key (shop_id, customer_id) references customers (shop_id, id)
);
create index orders_shop_status_created_idx on orders (shop_id, status, created_at desc);

create table order_lines (
    id               bigint generated always as identity primary key,
    order_id         uuid not null references orders (id) on delete cascade,
    product_id       uuid references products (id) on delete set null,
    title            text not null,
    unit_price_minor bigint not null check (unit_price_minor >= 0),
    quantity         integer not null check (quantity between 1 and 999),
    line_total_minor bigint not null check (line_total_minor >= 0)
);
create index order_lines_order_idx on order_lines (order_id);
create index order_lines_product_idx on order_lines (product_id);

create table order_events (
    id          bigint generated always as identity primary key,
    order_id    uuid not null references orders (id) on delete cascade,
    from_status text,
    to_status   text not null,
    -- 'shopper' for the checkout, 'merchant' for dashboard changes (merchant_id says who).
    actor       text not null check (actor in ('shopper', 'merchant')),
    merchant_id uuid references merchants (id) on delete set null,
    created_at  timestamptz not null default now()
);
create index order_events_order_idx on order_events (order_id, id);
