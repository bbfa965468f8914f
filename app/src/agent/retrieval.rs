//! Finding a shop's products from what a customer wrote: PostgreSQL full-text matching (any
//! of the words as prefixes, ranked by how many and where), with words that start no title
//! word respelled from the shop's word list by trigram similarity (typos, other languages'
//! forms), and exact variant SKUs; the rankings are fused by reciprocal rank fusion. Always
//! filtered in SQL by shop and status, and by stock and price when the customer states them.
//! Embedding similarity joins the fusion when an embedder is configured (`embed`).
//! Every step is an index probe, so a search stays in milliseconds at 10,000 products
//! (`make bench`).

use crate::error::AppResult;
use crate::state::AppState;
use sqlx::PgPool;
use uuid::Uuid;

/// Reciprocal rank fusion's constant: a product's score is the sum of 1 / (K + rank).
const RRF_K: f64 = 60.0;
/// Candidates each ranking contributes before fusing.
const CANDIDATES: i64 = 50;
/// How close (trigram similarity) a title word must be to a customer's word to be searched
/// for as well: "sandalias" and "sandals" are 0.5, "red" and "bed" 0.14.
const RESPELL_SIMILARITY: f32 = 0.45;

/// Words that say nothing about a product, in the languages the agent speaks.
const STOP: &[&str] = &[
    "the", "and", "you", "your", "have", "has", "any", "for", "with", "want", "need", "looking",
    "some", "can", "get", "buy", "please", "show", "what", "how", "much", "price", "cost",
    "quiero", "tienen", "tienes", "busco", "una", "uno", "los", "las", "con", "para", "que", "por",
    "del", "cuanto", "cuánto", "você", "vocês", "tem", "quero", "uma", "procuro", "com", "avez",
    "vous", "des", "une", "cherche", "pour", "les", "est", "voudrais", "combien", "is", "me", "of",
    "to", "in", "de", "la", "el", "en", "le", "du", "da", "do", "um", "un", "hi", "hello", "hola",
    "olá", "oi", "bonjour",
];

/// A product search: the customer's words and what they said about stock and price.
#[derive(Debug, Default, Clone)]
pub struct Query<'a> {
    pub text: &'a str,
    pub in_stock_only: bool,
    pub min_price_minor: Option<i64>,
    pub max_price_minor: Option<i64>,
    pub limit: i64,
    /// Products the embedder found, best first (`embed::semantic`); empty without one.
    pub semantic: &'a [Uuid],
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Found {
    pub id: Uuid,
    pub title: String,
    pub price_minor: i64,
    pub price_max_minor: Option<i64>,
    pub sold_out: bool,
}

/// The words worth searching for: lowercased, without punctuation and filler words.
pub fn terms(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric() && c != '-')
        .map(|w| w.trim_matches('-').to_lowercase())
        .filter(|w| w.chars().count() >= 2 && !STOP.contains(&w.as_str()))
        .collect();
    out.dedup();
    out.truncate(12);
    out
}

/// Close spellings of the words that start none of the shop's title words: ("sandalias",
/// "sandals"). Each word is one trigram-index probe of the shop's word list.
async fn respellings(pool: &PgPool, shop_id: Uuid, words: &[String]) -> AppResult<Vec<String>> {
    let close: Vec<String> = sqlx::query_scalar(
        "select f.word
         from unnest($2::text[]) as t(w)
         cross join lateral (
             select word from product_words
             where shop_id = $1 and word % t.w and similarity(word, t.w) >= $3
             order by similarity(word, t.w) desc, word
             limit 2) f
         where not exists (select 1 from product_words x
                           where x.shop_id = $1 and x.word like t.w || '%')",
    )
    .bind(shop_id)
    .bind(words)
    .bind(RESPELL_SIMILARITY)
    .fetch_all(pool)
    .await?;
    // Title words are the database's lexemes: keep those our own rule would give a customer,
    // so each is safe inside a quoted tsquery term.
    Ok(close
        .into_iter()
        .filter(|w| w.chars().all(|c| c.is_alphanumeric() || c == '-') && !words.contains(w))
        .collect())
}

/// The agent's search: the embedder's matches (when there is one) fused with the words'.
pub async fn find(state: &AppState, shop_id: Uuid, q: &Query<'_>) -> AppResult<Vec<Found>> {
    let semantic = super::embed::semantic(state, shop_id, q.text).await;
    search(
        &state.pool,
        shop_id,
        &Query {
            semantic: &semantic,
            ..q.clone()
        },
    )
    .await
}

pub async fn search(pool: &PgPool, shop_id: Uuid, q: &Query<'_>) -> AppResult<Vec<Found>> {
    let words = terms(q.text);
    if words.is_empty() && q.semantic.is_empty() {
        return Ok(Vec::new());
    }
    let mut any = words.clone();
    if !words.is_empty() {
        any.extend(respellings(pool, shop_id, &words).await?);
    }
    // Any of the words (`|`), each as a prefix: a customer writes sentences, not keyword
    // lists. Each word is letters, digits and dashes only, quoted, so nothing in it is
    // tsquery syntax.
    let any_word = any
        .iter()
        .map(|w| format!("'{w}':*"))
        .collect::<Vec<_>>()
        .join(" | ");
    // Unprepared: each search is planned with its own words and filters (a cached generic plan
    // cannot tell a word that matches three products from one that matches thousands).
    Ok(sqlx::query_as(
        "with fts as (
             -- The best few by rank first (a top-N sort), numbered after: numbering every
             -- match of a common word would sort them all.
             select id, row_number() over (order by rank desc, id) as r
             from (select p.id, ts_rank(p.search, to_tsquery('simple', $2)) as rank
                   from products p
                   where p.shop_id = $1 and p.status = 'active'
                     and p.search @@ to_tsquery('simple', $2)
                     and (not $4 or not (p.track_stock and p.stock <= 0))
                     and ($5::bigint is null or coalesce(p.price_max_minor, p.price_minor) >= $5)
                     and ($6::bigint is null or p.price_minor <= $6)
                   order by rank desc, p.id
                   limit $7) best
         ),
         sku as (
             select distinct v.product_id as id, 1 as r
             from product_variants v
             where v.shop_id = $1 and v.sku is not null and lower(v.sku) = any($3)
         ),
         sem as (
             select id, r from unnest($10::uuid[]) with ordinality as s (id, r)
         ),
         fused as (
             select id, sum(1.0 / ($8 + r)) as score
             from (select id, r from fts union all select id, r from sku
                   union all select id, r from sem) ranks
             group by id
         )
         select p.id, p.title, p.price_minor, p.price_max_minor,
                (p.track_stock and p.stock <= 0) as sold_out
         from fused f join products p on p.id = f.id
         where p.shop_id = $1 and p.status = 'active'
           and (not $4 or not (p.track_stock and p.stock <= 0))
           and ($5::bigint is null or coalesce(p.price_max_minor, p.price_minor) >= $5)
           and ($6::bigint is null or p.price_minor <= $6)
         order by f.score desc, p.title, p.id
         limit $9",
    )
    .persistent(false)
    .bind(shop_id)
    .bind(any_word)
    .bind(&words)
    .bind(q.in_stock_only)
    .bind(q.min_price_minor)
    .bind(q.max_price_minor)
    .bind(CANDIDATES)
    .bind(RRF_K)
    .bind(q.limit.clamp(1, 50))
    .bind(q.semantic)
    .fetch_all(pool)
    .await?)
}

/// The shop's products to browse when the customer has not searched: newest first.
pub async fn newest(pool: &PgPool, shop_id: Uuid, limit: i64) -> AppResult<Vec<Found>> {
    Ok(sqlx::query_as(
        "select id, title, price_minor, price_max_minor, (track_stock and stock <= 0) as sold_out
         from products where shop_id = $1 and status = 'active'
         order by (track_stock and stock <= 0), created_at desc, id limit $2",
    )
    .bind(shop_id)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// These products of the shop, active ones only, in the order given (the AI agent's list).
pub async fn by_ids(pool: &PgPool, shop_id: Uuid, ids: &[Uuid]) -> AppResult<Vec<Found>> {
    Ok(sqlx::query_as(
        "select p.id, p.title, p.price_minor, p.price_max_minor,
                (p.track_stock and p.stock <= 0) as sold_out
         from unnest($2::uuid[]) with ordinality as wanted (id, n)
         join products p on p.id = wanted.id
         where p.shop_id = $1 and p.status = 'active'
         order by wanted.n",
    )
    .bind(shop_id)
    .bind(ids)
    .fetch_all(pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filler_words_and_punctuation_are_left_out() {
        assert_eq!(
            terms("Do you have the RED scarf?? ¿Tienen bufandas?"),
            ["red", "scarf", "bufandas"]
        );
        assert_eq!(terms("it's 'x' | !"), ["it"]);
        assert!(terms("?").is_empty());
    }
}
