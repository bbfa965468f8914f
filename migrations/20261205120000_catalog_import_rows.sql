-- Imports read in batches (issue 10: memory proportional to one batch, not the file). The
-- uploaded export is kept as its records, one row each, instead of one text holding the whole
-- file: the upload is parsed as it streams in, and the preview and the import read the records
-- back a batch of products at a time. Records of one product are found by `grp` (Shopify's
-- handle; a WooCommerce variation is given its parent's group), and `first_seq` orders the
-- products as the file does.
alter table catalog_imports alter column body drop not null;
alter table catalog_imports add column headers text[];

create table catalog_import_rows (
    import_id  uuid not null references catalog_imports (id) on delete cascade,
    seq        integer not null,
    -- The record's line in the merchant's file (for error messages).
    line       bigint not null,
    cells      text[] not null,
    grp        text,
    first_seq  integer,
    -- The SKU this record gives a variant, for finding duplicates across the whole file.
    sku        text not null default '',
    -- WooCommerce: how variations may name this product (its SKU, "id:N"), the parent a
    -- variation names, the product's address made from its name, and the numbered one.
    keys       text[] not null default '{}',
    parent_ref text not null default '',
    slug_base  text not null default '',
    slug       text,
    -- A record the CSV reader could not read.
    error      text,
    primary key (import_id, seq)
);
create index catalog_import_rows_group_idx on catalog_import_rows (import_id, first_seq, seq);
create index catalog_import_rows_sku_idx on catalog_import_rows (import_id, sku) where sku <> '';
