-- Usage data (issue 4 §3, first part): storefront page views and named dashboard events.
-- No cookies and no personal data: a view keeps the path, the referring host, a coarse device
-- class and whether the user agent looks like a bot.

create table page_views (
    id            bigint generated always as identity primary key,
    shop_id       uuid not null references shops (id) on delete cascade,
    path          text not null,
    product_slug  text,
    referrer_host text,
    device        text not null check (device in ('mobile', 'tablet', 'desktop')),
    is_bot        boolean not null,
    viewed_at     timestamptz not null
);
create index page_views_shop_time_idx on page_views (shop_id, viewed_at);

create table usage_events (
    id          bigint generated always as identity primary key,
    merchant_id uuid not null references merchants (id) on delete cascade,
    shop_id     uuid references shops (id) on delete cascade,
    name        text not null check (name ~ '^[a-z][a-z0-9_]*$'),
    created_at  timestamptz not null default now()
);
create index usage_events_merchant_time_idx on usage_events (merchant_id, created_at);
