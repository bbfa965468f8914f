-- Semantic search for the agent (issue 11 §1–2): one vector per product and embedding model,
-- as little-endian f32 bytes (no pgvector on these machines; similarity is computed in the
-- app over a per-shop cache). `source_hash` is the md5 of the text that was embedded, so a
-- product whose title or description changed is embedded again, and nothing else is.
create table product_embeddings (
    product_id  uuid not null references products (id) on delete cascade,
    shop_id     uuid not null references shops (id) on delete cascade,
    model       text not null,
    dims        integer not null check (dims > 0),
    vector      bytea not null check (octet_length(vector) = dims * 4),
    source_hash text not null,
    updated_at  timestamptz not null default now(),
    primary key (product_id, model)
);
create index product_embeddings_shop_idx on product_embeddings (shop_id, model);

-- The catalog version a shop's vectors were last brought up to, per model: a search that sees
-- an older one than the shop's catalog_version queues a rebuild, and the app's cache of the
-- shop's vectors is keyed by it.
create table shop_embeddings (
    shop_id         uuid not null references shops (id) on delete cascade,
    model           text not null,
    catalog_version bigint not null,
    products        integer not null default 0,
    updated_at      timestamptz not null default now(),
    primary key (shop_id, model)
);
