-- Imports from Shopify and WooCommerce (issue 10). The merchant's file is kept until it is
-- confirmed, so the preview and the import read exactly the same bytes, and an import is
-- written once however often "Import" is pressed.
create table catalog_imports (
    id           uuid primary key,
    shop_id      uuid not null references shops (id) on delete cascade,
    source       text not null check (source in ('shopify', 'woocommerce')),
    filename     text not null default '',
    body         text not null,
    created_at   timestamptz not null default now(),
    confirmed_at timestamptz,
    -- {created, updated} once written.
    report       jsonb,
    unique (shop_id, id)
);
create index catalog_imports_shop_idx on catalog_imports (shop_id, created_at desc);

-- One image a confirmed import fetches by URL (a job each, with retries).
create table catalog_import_images (
    id         uuid primary key,
    import_id  uuid not null,
    shop_id    uuid not null,
    product_id uuid not null,
    url        text not null,
    alt        text not null default '',
    position   integer not null,
    status     text not null default 'queued' check (status in ('queued', 'done', 'failed')),
    error      text,
    image_id   uuid references images (id) on delete set null,
    updated_at timestamptz not null default now(),
    foreign key (shop_id, import_id) references catalog_imports (shop_id, id) on delete cascade,
    foreign key (shop_id, product_id) references products (shop_id, id) on delete cascade
);
create index catalog_import_images_import_idx on catalog_import_images (import_id, position);
