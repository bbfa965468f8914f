-- Product variants (issue 10): up to three options per product (Size, Colour, …) and one
-- variant per enabled combination, each with its own SKU, price, stock and image. Every product
-- has at least one variant; a product without options has exactly one, with no option values.
--
-- The variant is what is sold: carts, checkout and order lines point at variants. The
-- product's own price/stock/SKU columns become a summary of its variants (the lowest enabled
-- price, the sum of tracked stock, …) kept by a trigger, so listings, sorting and search keep
-- reading one row per product and nothing that writes variants can forget to update it.

create table product_options (
    shop_id    uuid not null,
    product_id uuid not null,
    position   smallint not null check (position between 1 and 3),
    name       text not null check (length(name) between 1 and 40),
    choices    text[] not null check (cardinality(choices) between 1 and 100),
    primary key (product_id, position),
    foreign key (shop_id, product_id) references products (shop_id, id) on delete cascade
);

create table product_variants (
    id               uuid primary key,
    shop_id          uuid not null,
    product_id       uuid not null,
    -- One value per option, in option order; empty for the single variant of a product
    -- without options.
    options          text[] not null default '{}' check (cardinality(options) <= 3),
    sku              text check (sku is null or length(sku) between 1 and 64),
    price_minor      bigint not null check (price_minor >= 0),
    compare_at_minor bigint check (compare_at_minor is null or compare_at_minor > price_minor),
    track_stock      boolean not null default false,
    stock            integer not null default 0 check (stock >= 0),
    image_id         uuid,
    position         integer not null default 0,
    -- A disabled combination is not sold; the storefront marks it unavailable.
    enabled          boolean not null default true,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    unique (shop_id, id),
    unique (product_id, options),
    foreign key (shop_id, product_id) references products (shop_id, id) on delete cascade,
    -- The image must be one of this shop's; deleting it only clears the variant's choice.
    foreign key (shop_id, image_id) references images (shop_id, id) on delete set null (image_id)
);
create unique index product_variants_shop_sku_key on product_variants (shop_id, sku) where sku is not null;
create index product_variants_product_idx on product_variants (product_id, position);
create index product_variants_sku_trgm_idx on product_variants using gin (sku gin_trgm_ops);

alter table products
    add column price_max_minor bigint,
    add column variant_count   integer not null default 1;

-- Existing products keep working exactly as before: each gets one default variant carrying
-- its price, compare-at price, SKU and stock. Its id is the product's id, so carts saved in
-- cookies before this migration (which hold product ids) still find what they hold.
insert into product_variants (id, shop_id, product_id, sku, price_minor, compare_at_minor, track_stock, stock, created_at, updated_at)
select id, shop_id, id, sku, price_minor, compare_at_minor, track_stock, stock, created_at, updated_at
from products;
update products set price_max_minor = price_minor;

-- The summary. Statement-level with transition tables, so a bulk write (an import, a checkout
-- of many lines) refreshes each product once, not once per variant row.
create function refresh_product_summaries() returns trigger language plpgsql as $$
begin
    update products p set
        price_minor      = s.price_minor,
        compare_at_minor = s.compare_at_minor,
        price_max_minor  = s.price_max_minor,
        sku              = s.sku,
        track_stock      = s.track_stock,
        stock            = s.stock,
        variant_count    = s.variant_count
    from (
        select v.product_id,
               -- The cheapest sellable variant gives the "from" price and its compare-at price.
               (array_agg(v.price_minor order by not v.enabled, v.price_minor, v.position))[1] as price_minor,
               (array_agg(v.compare_at_minor order by not v.enabled, v.price_minor, v.position))[1] as compare_at_minor,
               max(v.price_minor) filter (where v.enabled) as price_max_minor,
               case when count(*) = 1 and max(cardinality(v.options)) = 0 then max(v.sku) end as sku,
               -- Sold out means every enabled variant is tracked and none has stock (a product
               -- whose variants are all disabled is sold out too).
               coalesce(bool_and(v.track_stock) filter (where v.enabled), true) as track_stock,
               least(coalesce(sum(v.stock) filter (where v.enabled and v.track_stock), 0), 2147483647)::integer as stock,
               (count(*) filter (where v.enabled))::integer as variant_count
        from product_variants v
        where v.product_id in (select product_id from changed_rows)
        group by v.product_id
    ) s
    where p.id = s.product_id;
    return null;
end $$;

create trigger product_variants_summary_insert after insert on product_variants
    referencing new table as changed_rows for each statement execute function refresh_product_summaries();
create trigger product_variants_summary_update after update on product_variants
    referencing new table as changed_rows for each statement execute function refresh_product_summaries();
create trigger product_variants_summary_delete after delete on product_variants
    referencing old table as changed_rows for each statement execute function refresh_product_summaries();

-- Order lines name the variant and keep a snapshot of what was sold, so later edits (or the
-- variant's deletion) never change a past order.
alter table order_lines
    add column variant_id    uuid references product_variants (id) on delete set null,
    add column variant_title text not null default '',
    add column sku           text;
update order_lines l set variant_id = l.product_id, sku = v.sku
from product_variants v where v.id = l.product_id;
create index order_lines_variant_idx on order_lines (variant_id);

-- SKUs are now unique across the shop's variants (product_variants_shop_sku_key); the
-- product's copy is only a summary and must not refuse what the variants allow.
drop index products_shop_sku_key;
