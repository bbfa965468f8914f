//! Storefront data. A page costs at most two queries: the shop (with its categories, found by
//! its slug or an old slug), then the page's products. Pages are cached in memory keyed by shop,
//! route and catalog version, so a catalog edit (which bumps the version) shows on the next
//! request, and a cached page costs only the first query.

use super::{
    PAGE_SIZE, ProductCard, PublicCategory, PublicProduct, PublicShop, StorePage, StoreRoute,
    StoreView,
};
use crate::error::{AppError, AppResult};
use crate::media::ssr::ImageRow;
use crate::money::{format_money, format_plain};
use crate::state::AppState;
use serde::Deserialize;
use sqlx::types::Json;
use std::collections::HashMap;
use std::sync::Mutex;
use uuid::Uuid;

/// In-process page cache. Bounded: when full it is emptied wholesale, which is crude but keeps
/// memory fixed with no eviction bookkeeping on the hot path.
pub struct PageCache {
    capacity: usize,
    entries: Mutex<HashMap<(Uuid, StoreRoute), (i64, StorePage)>>,
}

impl PageCache {
    pub fn new(capacity: usize) -> Self {
        PageCache {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, shop: Uuid, route: &StoreRoute, version: i64) -> Option<StorePage> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(&(shop, route.clone()))
            .filter(|(v, _)| *v == version)
            .map(|(_, p)| p.clone())
    }

    fn put(&self, shop: Uuid, route: StoreRoute, version: i64, page: StorePage) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity {
            entries.clear();
        }
        entries.insert((shop, route), (version, page));
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
    catalog_version: i64,
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
        "select s.id, s.name, s.slug, s.description, s.currency, s.whatsapp_number, s.catalog_version,
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
    let shop = load_shop(state, &route.shop)
        .await?
        .ok_or(AppError::NotFound)?;
    if shop.slug != route.shop {
        return Ok(StorePage::Moved(route.path_for(&shop.slug)));
    }
    if let Some(page) = state
        .storefront_cache
        .get(shop.id, route, shop.catalog_version)
    {
        return Ok(page);
    }
    let version = shop.catalog_version;
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
            let q = q.trim().chars().take(100).collect::<String>();
            load_listing(state, public, None, Some(q), route.page).await?
        }
    };
    state
        .storefront_cache
        .put(shop_id, route.clone(), version, page.clone());
    Ok(page)
}

#[derive(sqlx::FromRow)]
struct CardRow {
    title: String,
    slug: String,
    price_minor: i64,
    compare_at_minor: Option<i64>,
    track_stock: bool,
    stock: i32,
    image: Option<Json<ImageJson>>,
    total: i64,
}

/// Query 2 for listings: active products of the shop, by category or search, one page.
/// Search is full-text plus trigram word similarity, so "scaf" still finds "scarf".
async fn load_listing(
    state: &AppState,
    shop: PublicShop,
    category: Option<PublicCategory>,
    query: Option<String>,
    page: i64,
) -> AppResult<StorePage> {
    let page = page.max(1);
    let q = query.as_deref().filter(|q| !q.is_empty());
    let rows: Vec<CardRow> = sqlx::query_as(
        "select p.title, p.slug, p.price_minor, p.compare_at_minor, p.track_stock, p.stock,
                (select json_build_object('id', i.id, 'backend', i.backend, 'storage_key', i.storage_key,
                        'version', i.version, 'width', i.width, 'height', i.height,
                        'alt', case when i.alt = '' then p.title else i.alt end)
                   from images i where i.product_id = p.id order by i.position, i.created_at limit 1) as image,
                count(*) over () as total
         from products p
         where p.shop_id = $1 and p.status = 'active'
           and ($2::text is null or exists (
                 select 1 from product_categories pc join categories c on c.id = pc.category_id
                  where pc.product_id = p.id and c.slug = $2 and c.shop_id = $1))
           and ($3::text is null
                or p.search @@ websearch_to_tsquery('simple', $3)
                or word_similarity(lower($3), lower(p.title)) >= 0.45)
         order by case when $3::text is null then 0
                       else greatest(ts_rank(p.search, websearch_to_tsquery('simple', $3)),
                                     word_similarity(lower($3), lower(p.title))) end desc,
                  p.created_at desc, p.id
         limit $4 offset $5",
    )
    .bind(shop.id)
    .bind(category.as_ref().map(|c| c.slug.clone()))
    .bind(q)
    .bind(PAGE_SIZE)
    .bind((page - 1) * PAGE_SIZE)
    .fetch_all(&state.pool)
    .await?;
    let total = rows.first().map_or(0, |r| r.total);
    let products = rows
        .into_iter()
        .map(|r| ProductCard {
            title: r.title,
            slug: r.slug,
            price: format_money(r.price_minor, &shop.currency),
            compare_at: r.compare_at_minor.map(|c| format_money(c, &shop.currency)),
            sold_out: r.track_stock && r.stock <= 0,
            image: r.image.map(|i| state.media.view(&i.0.row())),
        })
        .collect();
    Ok(StorePage::Listing {
        shop,
        category,
        query,
        products,
        page,
        pages: ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1),
        total,
    })
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
                  where pc.product_id = p.id order by c.position, c.name limit 1) as category_slug
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
    let product = PublicProduct {
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
        images: row
            .images
            .0
            .into_iter()
            .map(|i| state.media.view(&i.row()))
            .collect(),
        category,
    };
    Ok(StorePage::Product { shop, product })
}
