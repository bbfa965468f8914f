-- Shopify's "Variant Image": the option values of each variant that shows an imported image,
-- as a JSON list of value lists (["Red","S"]). When the image arrives, those variants of the
-- product point at it; a variant the merchant deleted or renamed meanwhile is simply not found.
alter table catalog_import_images add column variants jsonb not null default '[]'::jsonb;
-- Re-imports look images up by product and address (no duplicates, variants to link).
create index catalog_import_images_product_idx on catalog_import_images (product_id, url);
