//! Storefront data. A page costs at most two queries: the shop (with its categories, found by
//! its slug or an old slug), then the page's products; none when its data is in the
//! [`PageCache`], which a change to the shop empties of that shop's pages (see there).

use super::bytes::{ResponseCache, Stamp};
use super::{
    PAGE_SIZE, ProductCard, PublicCategory, PublicProduct, PublicShop, PublicVariant, StorePage,
    StoreRoute, StoreView,
};
use crate::error::{AppError, AppResult};
use crate::media::ssr::ImageRow;
use crate::money::{format_money, format_plain};
use crate::state::AppState;
use serde::Deserialize;
use sqlx::types::Json;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use uuid::Uuid;

/// In-process page data cache, bounded by entries and by (approximate) bytes. Eviction is
/// "second chance": entries leave in the order they came, except that one read since it was
/// last considered buys another round. That keeps popular pages without LRU bookkeeping on reads.
///
/// Entries are keyed by the page as served (the shop's current slug, the normalised route) and
/// stay valid while their shop's generation in the response cache ([`ResponseCache::stamp`])
/// has not moved and for at most [`super::bytes::MAX_AGE`]: the same freshness as the stored
/// responses (a change in this process is seen by the next request; elsewhere, through the
/// `shops` trigger's notification). So a page whose data is here costs no query at all, and is
/// rendered straight from it by [`super::render`] (see README, "Storefront speed").
pub struct PageCache {
    max_entries: usize,
    max_bytes: usize,
    inner: Mutex<CacheInner>,
}

type CacheKey = StoreRoute;

#[derive(Default)]
struct CacheInner {
    entries: HashMap<CacheKey, CacheEntry>,
    /// Keys in eviction order, with the generation of the entry they were queued for; a key
    /// whose entry was replaced or removed since is skipped when it comes up.
    order: VecDeque<(CacheKey, u64)>,
    bytes: usize,
    next_generation: u64,
}

struct CacheEntry {
    shop: Uuid,
    stamp: Stamp,
    stored: std::time::Instant,
    page: StorePage,
    bytes: usize,
    generation: u64,
    used: bool,
}

/// Roughly what an entry holds in memory: the page as JSON (its strings dominate) plus the key
/// (stored twice) and a fixed allowance for the map and queue slots.
fn entry_bytes(key: &CacheKey, page: &StorePage) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing to a counter cannot fail; if serialisation did, the page counts as its overhead.
    let _ = serde_json::to_writer(&mut count, page);
    let key_bytes = key.shop.len()
        + match &key.view {
            StoreView::Home => 0,
            StoreView::Category(s) | StoreView::Product(s) | StoreView::Search(s) => s.len(),
        };
    count.0 + 2 * key_bytes + 256
}

impl PageCache {
    /// A limit of 0 turns the cache off.
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        PageCache {
            max_entries,
            max_bytes,
            inner: Mutex::new(CacheInner::default()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.max_entries > 0 && self.max_bytes > 0
    }

    /// Approximate bytes held now.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The page's data, if it is here and its shop has not changed since it was stored.
    /// `route` must be normalised ([`StoreRoute::normalized`]).
    pub fn get(&self, route: &StoreRoute, fresh: &ResponseCache) -> Option<StorePage> {
        self.get_with_time(route, fresh).map(|(page, _)| page)
    }

    /// [`PageCache::get`], with when the data was read (a response rendered from it is no
    /// younger than that: see `bytes::MAX_AGE`).
    pub fn get_with_time(
        &self,
        route: &StoreRoute,
        fresh: &ResponseCache,
    ) -> Option<(StorePage, std::time::Instant)> {
        let mut inner = self.lock();
        let entry = inner.entries.get_mut(route)?;
        if entry.stored.elapsed() < super::bytes::MAX_AGE && fresh.stamp(entry.shop) == entry.stamp
        {
            entry.used = true;
            return Some((entry.page.clone(), entry.stored));
        }
        // Outdated by a change to its shop: it will never be served again.
        let bytes = entry.bytes;
        inner.entries.remove(route);
        inner.bytes -= bytes;
        None
    }

    /// Keeps a page's data, unless something was invalidated since `seen` (read before the
    /// data was): it may predate a change whose notice has already come and gone.
    fn put(
        &self,
        route: StoreRoute,
        shop: Uuid,
        page: StorePage,
        seen: u64,
        fresh: &ResponseCache,
    ) {
        if !self.enabled() {
            return;
        }
        let key = route;
        let bytes = entry_bytes(&key, &page);
        if bytes > self.max_bytes {
            return;
        }
        // The stamp first, then the count: an invalidation that began before the stamp was
        // read has moved the count (`invalidate` moves it before the generation), so nothing
        // is stored; one that began after moves the generation past this stamp.
        let stamp = fresh.stamp(shop);
        if fresh.invalidation_count() != seen {
            return;
        }
        let mut inner = self.lock();
        let generation = inner.next_generation;
        inner.next_generation += 1;
        let entry = CacheEntry {
            shop,
            stamp,
            stored: std::time::Instant::now(),
            page,
            bytes,
            generation,
            used: false,
        };
        if let Some(old) = inner.entries.insert(key.clone(), entry) {
            inner.bytes -= old.bytes;
        }
        inner.bytes += bytes;
        inner.order.push_back((key, generation));
        while inner.bytes > self.max_bytes || inner.entries.len() > self.max_entries {
            let Some((key, generation)) = inner.order.pop_front() else {
                break;
            };
            let Some(entry) = inner.entries.get_mut(&key) else {
                continue;
            };
            if entry.generation != generation {
                continue;
            }
            if entry.used {
                entry.used = false;
                inner.order.push_back((key, generation));
                continue;
            }
            let bytes = entry.bytes;
            inner.entries.remove(&key);
            inner.bytes -= bytes;
        }
        // Replaced and removed entries leave stale keys behind; drop them before they pile up.
        if inner.order.len() > 2 * inner.entries.len() + 64 {
            let CacheInner { entries, order, .. } = &mut *inner;
            order.retain(|(k, g)| entries.get(k).is_some_and(|e| e.generation == *g));
        }
    }
}

#[derive(sqlx::FromRow)]
struct ShopRow {
    id: Uuid,
    name: String,
    slug: String,
    description: String,
    currency: String,
    whatsapp_number: Option<String>,
    logo: Option<Json<ImageJson>>,
    categories: Json<Vec<CategoryJson>>,
}

#[derive(Deserialize, Clone)]
struct ImageJson {
    id: Uuid,
    backend: String,
    storage_key: String,
    version: Option<i64>,
    width: i32,
    height: i32,
    alt: String,
}

impl ImageJson {
    fn row(self) -> ImageRow {
        ImageRow {
            id: self.id,
            backend: self.backend,
            storage_key: self.storage_key,
            version: self.version,
            width: self.width,
            height: self.height,
            alt: self.alt,
        }
    }
}

#[derive(Deserialize)]
struct CategoryJson {
    name: String,
    slug: String,
    product_count: i64,
}

/// Query 1: the shop by its slug or by one of its old slugs, with logo and categories.
async fn load_shop(state: &AppState, slug: &str) -> AppResult<Option<ShopRow>> {
    Ok(sqlx::query_as(
        "select s.id, s.name, s.slug, s.description, s.currency, s.whatsapp_number,
                (select json_build_object('id', i.id, 'backend', i.backend, 'storage_key', i.storage_key,
                        'version', i.version, 'width', i.width, 'height', i.height, 'alt', s.name || ' logo')
                   from images i where i.id = s.logo_image_id) as logo,
                coalesce((select json_agg(json_build_object('name', c.name, 'slug', c.slug, 'product_count', (
                            select count(*) from product_categories pc join products p on p.id = pc.product_id
                             where pc.category_id = c.id and p.status = 'active'))
                          order by c.position, c.name)
                   from categories c where c.shop_id = s.id), '[]') as categories
         from shops s
         where s.slug = $1
            or s.id = (select shop_id from shop_slug_redirects where old_slug = $1)
         order by (s.slug = $1) desc
         limit 1",
    )
    .bind(slug)
    .fetch_optional(&state.pool)
    .await?)
}

pub async fn load_page(state: &AppState, route: &StoreRoute) -> AppResult<StorePage> {
    // Everything below, the cache key included, sees the route as it will be served.
    let route = &route.normalized();
    let fresh = &state.storefront_responses;
    if let Some(page) = state.storefront_cache.get(route, fresh) {
        return Ok(page);
    }
    let seen = fresh.invalidation_count();
    let shop = load_shop(state, &route.shop)
        .await?
        .ok_or(AppError::NotFound)?;
    if shop.slug != route.shop {
        return Ok(StorePage::Moved(route.path_for(&shop.slug)));
    }
    let shop_id = shop.id;
    let public = PublicShop {
        id: shop.id,
        url: format!("{}/s/{}", state.config.public_url, shop.slug),
        name: shop.name,
        slug: shop.slug,
        description: shop.description,
        currency: shop.currency,
        whatsapp_number: shop.whatsapp_number,
        logo: shop.logo.map(|l| state.media.view(&l.0.row())),
        categories: shop
            .categories
            .0
            .into_iter()
            .map(|c| PublicCategory {
                name: c.name,
                slug: c.slug,
                product_count: c.product_count,
            })
            .collect(),
    };
    let page = match &route.view {
        StoreView::Product(slug) => load_product(state, public, slug).await?,
        StoreView::Home => load_listing(state, public, None, None, route.page).await?,
        StoreView::Category(c) => {
            let category = public
                .categories
                .iter()
                .find(|x| &x.slug == c)
                .cloned()
                .ok_or(AppError::NotFound)?;
            load_listing(state, public, Some(category), None, route.page).await?
        }
        StoreView::Search(q) => {
            load_listing(state, public, None, Some(q.clone()), route.page).await?
        }
    };
    state
        .storefront_cache
        .put(route.clone(), shop_id, page.clone(), seen, fresh);
    Ok(page)
}

/// One product of a listing page, or (all but `total` null) the one row a page past the end
/// still yields, so the count is known either way.
#[derive(sqlx::FromRow)]
struct CardRow {
    title: Option<String>,
    slug: Option<String>,
    price_minor: Option<i64>,
    price_max_minor: Option<i64>,
    compare_at_minor: Option<i64>,
    track_stock: Option<bool>,
    stock: Option<i32>,
    image: Option<Json<ImageJson>>,
    total: i64,
}

/// Query 2 for listings: active products of the shop, by category or search, one page.
/// Search is full-text plus trigram word similarity, so "scaf" still finds "scarf".
/// A page past the end shows the last page; that case alone costs one more query.
async fn load_listing(
    state: &AppState,
    shop: PublicShop,
    category: Option<PublicCategory>,
    query: Option<String>,
    page: i64,
) -> AppResult<StorePage> {
    let mut page = page.clamp(1, super::MAX_PAGE);
    let category_slug = category.as_ref().map(|c| c.slug.as_str());
    let q = query.as_deref().filter(|q| !q.is_empty());
    let mut rows = listing_rows(state, shop.id, category_slug, q, page).await?;
    let total = rows.first().map_or(0, |r| r.total);
    let pages = ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    if page > pages {
        page = pages;
        if total > 0 {
            rows = listing_rows(state, shop.id, category_slug, q, page).await?;
        }
    }
    let products = rows
        .into_iter()
        .filter_map(|r| {
            Some(ProductCard {
                title: r.title?,
                slug: r.slug?,
                price: {
                    let price = format_money(r.price_minor?, &shop.currency);
                    if r.price_max_minor
                        .is_some_and(|max| Some(max) > r.price_minor)
                    {
                        format!("From {price}")
                    } else {
                        price
                    }
                },
                compare_at: r.compare_at_minor.map(|c| format_money(c, &shop.currency)),
                sold_out: r.track_stock? && r.stock? <= 0,
                image: r.image.map(|i| state.media.view(&i.0.row())),
            })
        })
        .collect();
    Ok(StorePage::Listing {
        shop,
        category,
        query,
        products,
        page,
        pages,
        total,
    })
}

async fn listing_rows(
    state: &AppState,
    shop_id: Uuid,
    category_slug: Option<&str>,
    q: Option<&str>,
    page: i64,
) -> AppResult<Vec<CardRow>> {
    let Some(q) = q else {
        return browse_rows(state, shop_id, category_slug, page).await;
    };
    Ok(sqlx::query_as(
        "with matched as (
             select p.id, p.title, p.slug, p.price_minor, p.price_max_minor, p.compare_at_minor, p.track_stock, p.stock, p.created_at,
                    greatest(ts_rank(p.search, websearch_to_tsquery('simple', $3)),
                             word_similarity(lower($3), lower(p.title))) as rank
             from products p
             where p.shop_id = $1 and p.status = 'active'
               and ($2::text is null or exists (
                     select 1 from product_categories pc join categories c on c.id = pc.category_id
                      where pc.product_id = p.id and c.slug = $2 and c.shop_id = $1))
               and (p.search @@ websearch_to_tsquery('simple', $3)
                    or word_similarity(lower($3), lower(p.title)) >= 0.45)
         )
         select m.title, m.slug, m.price_minor, m.price_max_minor, m.compare_at_minor, m.track_stock, m.stock,
                (select json_build_object('id', i.id, 'backend', i.backend, 'storage_key', i.storage_key,
                        'version', i.version, 'width', i.width, 'height', i.height,
                        'alt', case when i.alt = '' then m.title else i.alt end)
                   from images i where i.product_id = m.id order by i.position, i.created_at limit 1) as image,
                c.total
         from (select count(*) as total from matched) c
         left join lateral (
             select * from matched order by rank desc, created_at desc, id limit $4 offset $5
         ) m on true
         order by m.rank desc, m.created_at desc, m.id",
    )
    .bind(shop_id)
    .bind(category_slug)
    .bind(q)
    .bind(PAGE_SIZE)
    .bind((page - 1) * PAGE_SIZE)
    .fetch_all(&state.pool)
    .await?)
}

/// Query 2 for the home page and categories (no search words), newest first. Written apart
/// from the search query so that PostgreSQL counts from the index and reads only one page of
/// rows in index order, instead of materialising every active product to rank them all alike
/// (the shop home at 500 products: about half the database time of an uncached page).
async fn browse_rows(
    state: &AppState,
    shop_id: Uuid,
    category_slug: Option<&str>,
    page: i64,
) -> AppResult<Vec<CardRow>> {
    Ok(sqlx::query_as(
        "select m.title, m.slug, m.price_minor, m.price_max_minor, m.compare_at_minor, m.track_stock, m.stock,
                (select json_build_object('id', i.id, 'backend', i.backend, 'storage_key', i.storage_key,
                        'version', i.version, 'width', i.width, 'height', i.height,
                        'alt', case when i.alt = '' then m.title else i.alt end)
                   from images i where i.product_id = m.id order by i.position, i.created_at limit 1) as image,
                c.total
         from (select count(*) as total from products p
                where p.shop_id = $1 and p.status = 'active'
                  and ($2::text is null or exists (
                        select 1 from product_categories pc join categories c on c.id = pc.category_id
                         where pc.product_id = p.id and c.slug = $2 and c.shop_id = $1))) c
         left join lateral (
             select p.id, p.title, p.slug, p.price_minor, p.price_max_minor, p.compare_at_minor, p.track_stock, p.stock, p.created_at
             from products p
             where p.shop_id = $1 and p.status = 'active'
               and ($2::text is null or exists (
                     select 1 from product_categories pc join categories c on c.id = pc.category_id
                      where pc.product_id = p.id and c.slug = $2 and c.shop_id = $1))
             order by p.created_at desc, p.id
             limit $3 offset $4
         ) m on true
         order by m.created_at desc, m.id",
    )
    .bind(shop_id)
    .bind(category_slug)
    .bind(PAGE_SIZE)
    .bind((page - 1) * PAGE_SIZE)
    .fetch_all(&state.pool)
    .await?)
}

#[derive(sqlx::FromRow)]
struct ProductRowDb {
    id: Uuid,
    title: String,
    slug: String,
    description: String,
    price_minor: i64,
    compare_at_minor: Option<i64>,
    sku: Option<String>,
    track_stock: bool,
    stock: i32,
    images: Json<Vec<ImageJson>>,
    category_slug: Option<String>,
    options: Json<Vec<OptionJson>>,
    variants: Json<Vec<VariantJson>>,
}

#[derive(Deserialize)]
struct OptionJson {
    name: String,
    values: Vec<String>,
}

#[derive(Deserialize)]
struct VariantJson {
    id: Uuid,
    options: Vec<String>,
    sku: Option<String>,
    price_minor: i64,
    compare_at_minor: Option<i64>,
    track_stock: bool,
    stock: i32,
    enabled: bool,
    image_id: Option<Uuid>,
}

/// Query 2 for a product page: the active product with its images and first category.
async fn load_product(state: &AppState, shop: PublicShop, slug: &str) -> AppResult<StorePage> {
    let row: ProductRowDb = sqlx::query_as(
        "select p.id, p.title, p.slug, p.description, p.price_minor, p.compare_at_minor, p.sku, p.track_stock, p.stock,
                coalesce((select json_agg(json_build_object('id', i.id, 'backend', i.backend,
                                 'storage_key', i.storage_key, 'version', i.version, 'width', i.width,
                                 'height', i.height, 'alt', case when i.alt = '' then p.title else i.alt end)
                          order by i.position, i.created_at)
                   from images i where i.product_id = p.id), '[]') as images,
                (select c.slug from product_categories pc join categories c on c.id = pc.category_id
                  where pc.product_id = p.id order by c.position, c.name limit 1) as category_slug,
                coalesce((select json_agg(json_build_object('name', o.name, 'values', o.choices) order by o.position)
                   from product_options o where o.product_id = p.id), '[]') as options,
                coalesce((select json_agg(json_build_object('id', v.id, 'options', v.options, 'sku', v.sku,
                                 'price_minor', v.price_minor, 'compare_at_minor', v.compare_at_minor,
                                 'track_stock', v.track_stock, 'stock', v.stock, 'enabled', v.enabled,
                                 'image_id', v.image_id)
                          order by v.position, v.created_at, v.id)
                   from product_variants v where v.product_id = p.id), '[]') as variants
         from products p
         where p.shop_id = $1 and p.slug = $2 and p.status = 'active'",
    )
    .bind(shop.id)
    .bind(slug)
    .fetch_optional(&state.pool)
    .await?
    .ok_or(AppError::NotFound)?;
    let category = row
        .category_slug
        .and_then(|s| shop.categories.iter().find(|c| c.slug == s).cloned());
    let available = !row.track_stock || row.stock > 0;
    let images: Vec<crate::media::ImageView> = row
        .images
        .0
        .iter()
        .map(|i| state.media.view(&i.clone().row()))
        .collect();
    let image_ids: Vec<Uuid> = row.images.0.iter().map(|i| i.id).collect();
    let currency = shop.currency.clone();
    let variants = row
        .variants
        .0
        .into_iter()
        .map(|v| PublicVariant {
            id: v.id,
            options: v.options,
            sku: v.sku,
            price: format_money(v.price_minor, &currency),
            price_plain: format_plain(v.price_minor, &currency),
            compare_at: v.compare_at_minor.map(|c| format_money(c, &currency)),
            enabled: v.enabled,
            available: v.enabled && (!v.track_stock || v.stock > 0),
            max_quantity: v.track_stock.then_some(v.stock.max(0)),
            image: v
                .image_id
                .and_then(|id| image_ids.iter().position(|i| *i == id))
                .map(|i| images[i].clone()),
        })
        .collect();
    let product = PublicProduct {
        options: row
            .options
            .0
            .into_iter()
            .map(|o| crate::catalog::ProductOption {
                name: o.name,
                values: o.values,
            })
            .collect(),
        variants,
        id: row.id,
        title: row.title,
        slug: row.slug,
        description: row.description,
        price: format_money(row.price_minor, &shop.currency),
        price_plain: format_plain(row.price_minor, &shop.currency),
        compare_at: row
            .compare_at_minor
            .map(|c| format_money(c, &shop.currency)),
        sku: row.sku,
        available,
        max_quantity: row.track_stock.then_some(row.stock.max(0)),
        images,
        category,
    };
    Ok(StorePage::Product { shop, product })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(name: &str) -> StoreRoute {
        StoreRoute {
            shop: "ada".into(),
            view: StoreView::Category(name.into()),
            page: 1,
        }
    }

    /// A page whose JSON is about `bytes` long.
    fn page(bytes: usize) -> StorePage {
        StorePage::Moved("x".repeat(bytes))
    }

    fn put(cache: &PageCache, fresh: &ResponseCache, shop: Uuid, name: &str, page: StorePage) {
        let seen = fresh.invalidation_count();
        cache.put(route(name), shop, page, seen, fresh);
    }

    #[test]
    fn the_byte_budget_holds_whatever_is_put_in() {
        let shop = Uuid::from_u128(1);
        let fresh = ResponseCache::new(0, 0);
        let one = entry_bytes(&route("c0"), &page(10_000));
        // Room for three such pages (names differ in length by a byte or two), not four.
        let budget = one * 3 + 50;
        let cache = PageCache::new(1_000, budget);
        for i in 0..50 {
            put(&cache, &fresh, shop, &format!("c{i}"), page(10_000));
            assert!(cache.bytes() <= budget, "over budget after {i}");
        }
        assert_eq!(cache.len(), 3);
        assert!(cache.get(&route("c49"), &fresh).is_some(), "newest kept");
        assert!(cache.get(&route("c0"), &fresh).is_none(), "oldest gone");
        // A page larger than the whole budget is served but never kept.
        put(&cache, &fresh, shop, "huge", page(one * 4));
        assert!(cache.get(&route("huge"), &fresh).is_none());
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn a_page_read_since_it_came_outlives_one_that_was_not() {
        let shop = Uuid::from_u128(1);
        let fresh = ResponseCache::new(0, 0);
        let one = entry_bytes(&route("a"), &page(1_000));
        let cache = PageCache::new(1_000, one * 3 + 50);
        for name in ["a", "b", "c"] {
            put(&cache, &fresh, shop, name, page(1_000));
        }
        assert!(cache.get(&route("a"), &fresh).is_some());
        put(&cache, &fresh, shop, "d", page(1_000));
        assert!(cache.get(&route("a"), &fresh).is_some(), "read: kept");
        assert!(
            cache.get(&route("b"), &fresh).is_none(),
            "unread and oldest: evicted"
        );
        assert!(cache.get(&route("d"), &fresh).is_some());
    }

    #[test]
    fn entries_limit_zero_limits_and_outdated_pages() {
        let (ada, bo) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let fresh = ResponseCache::new(0, 0);
        let cache = PageCache::new(2, usize::MAX);
        for name in ["a", "b", "c"] {
            put(&cache, &fresh, ada, name, page(10));
        }
        assert_eq!(cache.len(), 2);
        // Another shop's change leaves this shop's pages alone; its own change drops them.
        fresh.invalidate(bo);
        assert!(cache.get(&route("c"), &fresh).is_some());
        fresh.invalidate(ada);
        assert!(cache.get(&route("c"), &fresh).is_none());
        assert_eq!(cache.len(), 1);
        let before = cache.bytes();
        put(&cache, &fresh, ada, "b", page(10));
        assert_eq!(
            cache.bytes(),
            before,
            "replacing an entry does not count it twice"
        );
        for off in [PageCache::new(0, 1 << 20), PageCache::new(10, 0)] {
            put(&off, &fresh, ada, "a", page(10));
            assert!(off.is_empty());
        }
    }

    #[test]
    fn data_read_before_a_change_is_not_kept_and_a_lost_notice_line_drops_everything() {
        let (ada, bo) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let fresh = ResponseCache::new(0, 0);
        let cache = PageCache::new(10, usize::MAX);
        // Read, then the shop changed, then stored: it would show the old data.
        let seen = fresh.invalidation_count();
        fresh.invalidate(bo);
        cache.put(route("a"), ada, page(10), seen, &fresh);
        assert!(cache.is_empty(), "a page read before a change is not kept");
        // Pages of a shop never invalidated before still go when notifications may be lost.
        put(&cache, &fresh, ada, "a", page(10));
        assert!(cache.get(&route("a"), &fresh).is_some());
        fresh.clear();
        assert!(cache.get(&route("a"), &fresh).is_none());
    }
}
