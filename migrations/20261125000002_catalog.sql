-- Shop settings, catalog (categories, products, images) and the storefront's indexes (issue 3).
-- Money is integer minor units (kobo, cents) in the shop's currency; never floats.

-- pg_trgm gives the storefront search its typo tolerance. It is a trusted extension, so the
-- database owner may create it without superuser rights.
create extension if not exists pg_trgm;

alter table shops
    add column description     text not null default '' check (length(description) <= 2000),
    add column currency        text not null default 'NGN' check (currency ~ '^[A-Z]{3}$'),
    add column whatsapp_number text check (whatsapp_number ~ '^\+[1-9][0-9]{7,14}$'),
    add column contact_email   text,
    add column address         text,
    add column logo_image_id   uuid,
    -- Bumped by every catalog or settings change; storefront caches (and later the AI agent's
    -- product index) key on it, so an edit shows on the very next request.
    add column catalog_version bigint not null default 1;

-- Old slugs keep working: the storefront answers them with a permanent redirect.
create table shop_slug_redirects (
    old_slug   text primary key,
    shop_id    uuid not null references shops (id) on delete cascade,
    created_at timestamptz not null default now()
);
create index shop_slug_redirects_shop_idx on shop_slug_redirects (shop_id);

create table categories (
    id         uuid primary key,
    shop_id    uuid not null references shops (id) on delete cascade,
    name       text not null check (length(name) between 1 and 80),
    slug       text not null check (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    position   integer not null default 0,
    created_at timestamptz not null default now(),
    unique (shop_id, slug),
    -- lets product_categories prove a category belongs to the product's shop
    unique (shop_id, id)
);

create table products (
    id               uuid primary key,
    shop_id          uuid not null references shops (id) on delete cascade,
    title            text not null check (length(title) between 1 and 200),
    slug             text not null check (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    description      text not null default '',
    price_minor      bigint not null check (price_minor >= 0),
    compare_at_minor bigint check (compare_at_minor is null or compare_at_minor > price_minor),
    sku              text,
    track_stock      boolean not null default false,
    stock            integer not null default 0 check (stock >= 0),
    status           text not null default 'draft' check (status in ('draft', 'active', 'archived')),
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    search           tsvector generated always as (
        setweight(to_tsvector('simple', title), 'A') ||
        setweight(to_tsvector('simple', coalesce(sku, '')), 'A') ||
        setweight(to_tsvector('simple', description), 'B')
    ) stored,
    unique (shop_id, slug),
    unique (shop_id, id)
);
create unique index products_shop_sku_key on products (shop_id, sku) where sku is not null;
create index products_shop_status_created_idx on products (shop_id, status, created_at desc);
create index products_search_idx on products using gin (search);
create index products_title_trgm_idx on products using gin (title gin_trgm_ops);

create table product_categories (
    shop_id     uuid not null,
    product_id  uuid not null,
    category_id uuid not null,
    primary key (product_id, category_id),
    foreign key (shop_id, product_id) references products (shop_id, id) on delete cascade,
    foreign key (shop_id, category_id) references categories (shop_id, id) on delete cascade
);
create index product_categories_category_idx on product_categories (category_id);

-- One row per stored image, whichever backend holds it. `storage_key` is the Cloudinary
-- public_id or the local folder name. Product images carry their order and alt text.
create table images (
    id          uuid primary key,
    shop_id     uuid not null references shops (id) on delete cascade,
    product_id  uuid,
    backend     text not null check (backend in ('local', 'cloudinary')),
    storage_key text not null,
    version     bigint,
    width       integer not null check (width > 0),
    height      integer not null check (height > 0),
    bytes       bigint not null check (bytes >= 0),
    format      text not null,
    alt         text not null default '',
    position    integer not null default 0,
    created_at  timestamptz not null default now(),
    unique (shop_id, id),
    foreign key (shop_id, product_id) references products (shop_id, id) on delete cascade
);
create index images_product_idx on images (product_id, position);

alter table shops add constraint shops_logo_fk
    foreign key (logo_image_id) references images (id) on delete set null;
