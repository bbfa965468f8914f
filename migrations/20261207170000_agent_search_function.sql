-- The agent's product search (issue 11 §2) as one function call: the statement used to run
-- inside `begin read only; set local plan_cache_mode = force_generic_plan; set local
-- enable_seqscan = off; … commit`, four round trips and two pool checkouts per search. A
-- function's SET clauses apply those two settings to its own statements only, and PL/pgSQL
-- keeps each statement's plan for the session: one round trip, one generic plan.
--
-- Why the settings (measured at 10,000 products, `make bench`): planning anew for each search
-- cost about 1 ms, as much as running it, and the words only change which index entries are
-- read, never the shape of a good plan (GIN index, top-N sort, primary-key probes). Without
-- sequential scans off, a generic plan priced a tsquery match per row far below its cost and
-- matched the whole products table for common words (14 ms against about 1 ms by the index).
-- Each tsquery is parsed once per search: `(select to_tsquery(…))` is computed once, where
-- written plainly a generic plan parsed it again for every row ranked.
--
-- The words' queries come from `agent::retrieval::tsqueries`: `any_word` (any of the words, as
-- prefixes) and `two_words` (at least two of them, when the shop knows two or more; null
-- otherwise).
create function agent_search(
    p_shop uuid,
    p_any_word text,
    p_words text[],
    p_in_stock boolean,
    p_min_price bigint,
    p_max_price bigint,
    p_candidates bigint,
    p_rrf_k double precision,
    p_limit bigint,
    p_semantic uuid[],
    p_two_words text
) returns table (
    id uuid,
    title text,
    price_minor bigint,
    price_max_minor bigint,
    sold_out boolean
)
language plpgsql stable
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $$
#variable_conflict use_column
begin
    return query
    with strong as (
        -- At least two of the words; the best few by rank, a top-N sort.
        select p.id, ts_rank(p.search, (select to_tsquery('simple', p_any_word))) as rank
        from products p
        where p_two_words is not null and p.shop_id = p_shop and p.status = 'active'
          and p.search @@ (select to_tsquery('simple', p_two_words))
          and (not p_in_stock or not (p.track_stock and p.stock <= 0))
          and (p_min_price is null or coalesce(p.price_max_minor, p.price_minor) >= p_min_price)
          and (p_max_price is null or p.price_minor <= p_max_price)
        order by rank desc, p.id
        limit p_candidates
    ),
    weak as (
        -- Any of the words: always for one word, and for more when fewer than a page of
        -- products match two of them (planned, but not run, otherwise).
        select p.id, ts_rank(p.search, (select to_tsquery('simple', p_any_word))) as rank
        from products p
        where (p_two_words is null or (select count(*) from strong) < p_limit)
          and p.shop_id = p_shop and p.status = 'active'
          and p.search @@ (select to_tsquery('simple', p_any_word))
          and (not p_in_stock or not (p.track_stock and p.stock <= 0))
          and (p_min_price is null or coalesce(p.price_max_minor, p.price_minor) >= p_min_price)
          and (p_max_price is null or p.price_minor <= p_max_price)
        order by rank desc, p.id
        limit p_candidates
    ),
    fts as (
        select b.id, row_number() over (order by b.rank desc, b.id) as r
        from (select m.id, max(m.rank) as rank
              from (select s.id, s.rank from strong s union all select w.id, w.rank from weak w) m
              group by m.id order by rank desc, m.id limit p_candidates) b
    ),
    sku as (
        select distinct v.product_id as id, 1 as r
        from product_variants v
        where v.shop_id = p_shop and v.sku is not null and lower(v.sku) = any(p_words)
    ),
    sem as (
        select s.id, s.r from unnest(p_semantic) with ordinality as s (id, r)
    ),
    fused as (
        select k.id, sum(1.0 / (p_rrf_k + k.r)) as score
        from (select f.id, f.r from fts f union all select k2.id, k2.r from sku k2
              union all select e.id, e.r from sem e) k
        group by k.id
    )
    select p.id, p.title, p.price_minor, p.price_max_minor,
           (p.track_stock and p.stock <= 0)
    from fused f
    -- One primary-key probe per fused product (at most a few dozen): joined plainly, the
    -- planner guessed more and read the whole products table.
    cross join lateral (
        select * from products p
        where p.id = f.id and p.shop_id = p_shop and p.status = 'active'
          and (not p_in_stock or not (p.track_stock and p.stock <= 0))
          and (p_min_price is null or coalesce(p.price_max_minor, p.price_minor) >= p_min_price)
          and (p_max_price is null or p.price_minor <= p_max_price)
        limit 1) p
    order by f.score desc, p.title, p.id
    limit p_limit;
end
$$;
