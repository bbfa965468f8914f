-- The storefront's response cache (issue 12) keeps whole pages in memory and must hear of every
-- change to a shop's storefront, wherever it is made (the app, its jobs, psql). Catalog edits,
-- orders (stock) and settings all update the shop row (catalog_version at least), so one
-- trigger there is enough. NOTIFY is delivered at commit, never for a rolled-back change.
create function storefront_changed() returns trigger language plpgsql as $$
begin
    if tg_op = 'DELETE' then
        perform pg_notify('bz_storefront', old.id::text);
    else
        perform pg_notify('bz_storefront', new.id::text);
    end if;
    return null;
end
$$;

create trigger shops_storefront_changed
    after update or delete on shops
    for each row execute function storefront_changed();
