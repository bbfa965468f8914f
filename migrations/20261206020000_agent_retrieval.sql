-- The agent's retrieval (issue 11), fast at 10,000 products.
--
-- Spelling tolerance: every word of a shop's product titles, once. A customer's word that
-- starts no title word is looked up here by trigram similarity ("sandalias" → "sandals") and
-- the close words join the full-text query. Comparing against this short list, not against
-- every title, keeps a search to a few milliseconds however big the catalog is. Words are
-- never removed: a word no longer in any title only adds a term that matches nothing.
create table product_words (
    shop_id uuid not null references shops (id) on delete cascade,
    word    text not null,
    primary key (shop_id, word)
);
create index product_words_trgm_idx on product_words using gin (word gin_trgm_ops);

create function add_product_words() returns trigger language plpgsql as $$
begin
    insert into product_words (shop_id, word)
    select new.shop_id, w
    from unnest(tsvector_to_array(to_tsvector('simple', new.title))) as w
    where char_length(w) >= 3 and w !~ '^[0-9]+$'
    on conflict do nothing;
    return null;
end
$$;

-- Row by row, and only when a title is written: stock and price updates never fire it.
create trigger products_words_title
    after insert or update of title on products
    for each row execute function add_product_words();

insert into product_words (shop_id, word)
select distinct p.shop_id, w
from products p, unnest(tsvector_to_array(to_tsvector('simple', p.title))) as w
where char_length(w) >= 3 and w !~ '^[0-9]+$'
on conflict do nothing;

-- The customer's word as a SKU, case-insensitively, in one index probe.
create index product_variants_lower_sku_idx on product_variants (shop_id, lower(sku))
    where sku is not null;
