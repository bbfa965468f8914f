//! Finding a shop's products from what a customer wrote: PostgreSQL full-text matching
//! (any of the words, ranked by how many and where) and trigram word similarity (typos,
//! partial words), each ranked on its own and fused by reciprocal rank fusion. Always
//! filtered in SQL by shop and status, and by stock and price when the customer states them.
//! Embedding similarity joins the fusion when an embedder is configured (not yet built).

use crate::error::AppResult;
use sqlx::PgPool;
use uuid::Uuid;

/// Reciprocal rank fusion's constant: a product's score is the sum of 1 / (K + rank).
const RRF_K: f64 = 60.0;
/// Candidates each ranking contributes before fusing.
const CANDIDATES: i64 = 50;

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

pub async fn search(pool: &PgPool, shop_id: Uuid, q: &Query<'_>) -> AppResult<Vec<Found>> {
    let words = terms(q.text);
    if words.is_empty() {
        return Ok(Vec::new());
    }
    // Any of the words (`|`): a customer writes sentences, not keyword lists. Each word is
    // letters, digits and dashes only, quoted, so nothing in it is tsquery syntax.
    let any_word = words
        .iter()
        .map(|w| format!("'{w}':*"))
        .collect::<Vec<_>>()
        .join(" | ");
    Ok(sqlx::query_as(
        "with candidates as (
             select p.id, p.title, p.price_minor, p.price_max_minor, p.track_stock, p.stock,
                    p.search, lower(p.title) as ltitle
             from products p
             where p.shop_id = $1 and p.status = 'active'
               and (not $4 or not (p.track_stock and p.stock <= 0))
               and ($5::bigint is null or coalesce(p.price_max_minor, p.price_minor) >= $5)
               and ($6::bigint is null or p.price_minor <= $6)
         ),
         fts as (
             select id, row_number() over (order by ts_rank(search, to_tsquery('simple', $2)) desc, id) as r
             from candidates where search @@ to_tsquery('simple', $2)
             order by r limit $7
         ),
         trgm as (
             select id, row_number() over (order by s desc, id) as r
             from (select c.id, max(word_similarity(w, c.ltitle)) as s
                   from candidates c, unnest($3::text[]) w
                   group by c.id) t
             where s >= 0.5
             order by r limit $7
         ),
         sku as (
             select distinct v.product_id as id, 1 as r
             from product_variants v
             where v.shop_id = $1 and v.sku is not null and lower(v.sku) = any($3)
         ),
         fused as (
             select id, sum(1.0 / ($8 + r)) as score
             from (select id, r from fts union all select id, r from trgm
                   union all select id, r from sku) ranks
             group by id
         )
         select c.id, c.title, c.price_minor, c.price_max_minor,
                (c.track_stock and c.stock <= 0) as sold_out
         from fused f join candidates c on c.id = f.id
         order by f.score desc, c.title, c.id
         limit $9",
    )
    .bind(shop_id)
    .bind(any_word)
    .bind(&words)
    .bind(q.in_stock_only)
    .bind(q.min_price_minor)
    .bind(q.max_price_minor)
    .bind(CANDIDATES)
    .bind(RRF_K)
    .bind(q.limit.clamp(1, 50))
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
