//! Finding a shop's products from what a customer wrote: PostgreSQL full-text matching (any
//! of the words as prefixes, ranked by how many and where), with words that start no title
//! word respelled from the shop's word list by trigram similarity (typos, other languages'
//! forms), and exact variant SKUs; the rankings are fused by reciprocal rank fusion. A
//! question of two or more words the shop knows ranks the products matching at least two
//! of them, and falls back to any word only when those are too few. Always
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
    // Joining words: as prefixes they match every "orange" and "organic" ("or") or "ouro"
    // ("ou"), and in the two-of-them query they paired with every real word.
    "or", "an", "at", "on", "are", "does", "ou", "et", "ni", "mais", "pero", "mas", "also",
    "también", "também", "aussi",
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

/// One of the customer's words as the shop's titles know it.
#[derive(Debug, Clone, PartialEq)]
struct Word {
    word: String,
    /// The title words it starts ("sandal" → "sandals"), shortest first; empty when none.
    starts: Vec<String>,
    /// Close spellings of a word that starts none ("sandalias" → "sandals").
    close: Vec<String>,
}

/// Title words a customer's word may stand for: a handful, the shortest (closest) first.
const STARTS_PER_WORD: i64 = 6;

/// How the shop's titles know each word: the title words it starts, or only close
/// spellings. One query: a prefix probe per word, and a trigram-index probe of the shop's word
/// list for the words that start none.
async fn vocabulary(
    conn: &mut sqlx::PgConnection,
    shop_id: Uuid,
    words: &[String],
) -> AppResult<Vec<Word>> {
    let rows: Vec<(String, Vec<String>, Vec<String>)> = sqlx::query_as(
        "select t.w, k.starts,
                case when cardinality(k.starts) > 0 then '{}'::text[] else array(
                    select word from product_words
                    where shop_id = $1 and word % t.w and similarity(word, t.w) >= $3
                    order by similarity(word, t.w) desc, word
                    limit 2) end
         from unnest($2::text[]) with ordinality as t(w, n)
         cross join lateral (
             select array(select x.word from product_words x
                          where x.shop_id = $1 and x.word like t.w || '%'
                          order by char_length(x.word), x.word
                          limit $4) as starts) k
         order by t.n",
    )
    .bind(shop_id)
    .bind(words)
    .bind(RESPELL_SIMILARITY)
    .bind(STARTS_PER_WORD)
    .fetch_all(&mut *conn)
    .await?;
    // Title words are the database's lexemes: keep those our own rule would give a customer,
    // so each is safe inside a quoted tsquery term.
    let safe = |w: &String| w.chars().all(|c| c.is_alphanumeric() || c == '-');
    Ok(rows
        .into_iter()
        .map(|(word, starts, close)| Word {
            starts: starts.into_iter().filter(safe).collect(),
            close: close
                .into_iter()
                .filter(|w| safe(w) && !words.contains(w))
                .collect(),
            word,
        })
        .collect())
}

/// The full-text queries for the customer's words: any of them (each as a prefix, with its
/// close spellings), and — when two or more of them mean something to the shop — at least
/// two of those. A sentence of common words ("golden beaded earrings or a woven wrapper")
/// matches half a catalog by any word; ranking all of those is what made long questions slow,
/// and the products that match two or more words are the ones worth ranking. The "two of
/// them" query names the exact title words each word stands for rather than prefixes: the
/// index answers exact words from their lists directly, while a prefix makes it collect every
/// match of the prefix first (measured: twice the time on a 10-pair query). Each word is
/// letters, digits and dashes only, quoted, so nothing in it is tsquery syntax.
fn tsqueries(words: &[Word]) -> (String, Option<String>) {
    let prefix = |w: &str| format!("'{w}':*");
    let exact = |w: &str| format!("'{w}'");
    let any = words
        .iter()
        .flat_map(|w| std::iter::once(&w.word).chain(&w.close))
        .map(|w| prefix(w))
        .collect::<Vec<_>>()
        .join(" | ");
    let concepts: Vec<String> = words
        .iter()
        .filter_map(|w| {
            let forms = if w.starts.is_empty() {
                &w.close
            } else {
                &w.starts
            };
            match forms.as_slice() {
                [] => None,
                [one] => Some(exact(one)),
                many => Some(format!(
                    "({})",
                    many.iter()
                        .map(|c| exact(c))
                        .collect::<Vec<_>>()
                        .join(" | ")
                )),
            }
        })
        .collect();
    if concepts.len() < 2 {
        return (any, None);
    }
    let mut pairs = Vec::new();
    for (i, a) in concepts.iter().enumerate() {
        for b in &concepts[i + 1..] {
            pairs.push(format!("({a} & {b})"));
        }
    }
    (any, Some(pairs.join(" | ")))
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
    // One connection for both statements: a checkout from the pool is a round trip of its own.
    let mut conn = pool.acquire().await?;
    let vocabulary = if words.is_empty() {
        Vec::new()
    } else {
        vocabulary(&mut conn, shop_id, &words).await?
    };
    let (any_word, two_words) = tsqueries(&vocabulary);
    // One round trip: the search is a PL/pgSQL function (migration `agent_search_function`),
    // which keeps one generic plan per connection and runs with sequential scans off — why
    // both, measured, is written beside it.
    let found = sqlx::query_as(
        "select id, title, price_minor, price_max_minor, sold_out
         from agent_search($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
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
    .bind(q.semantic)
    .bind(two_words)
    .fetch_all(&mut *conn)
    .await?;
    Ok(found)
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
        assert_eq!(
            terms("golden earrings or a woven wrapper, ou pulseira"),
            ["golden", "earrings", "woven", "wrapper", "pulseira"]
        );
        assert!(terms("?").is_empty());
    }

    fn word(w: &str, starts: &[&str], close: &[&str]) -> Word {
        Word {
            word: w.into(),
            starts: starts.iter().map(|c| c.to_string()).collect(),
            close: close.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn two_or_more_words_the_shop_knows_ask_for_two_of_them() {
        // One word: any product with it (as a prefix).
        let (any, two) = tsqueries(&[word("red", &["red"], &[])]);
        assert_eq!(any, "'red':*");
        assert_eq!(two, None);
        // Two known words: both, by the exact title words they start.
        let (any, two) = tsqueries(&[
            word("red", &["red", "reddish"], &[]),
            word("bag", &["bags"], &[]),
        ]);
        assert_eq!(any, "'red':* | 'bag':*");
        assert_eq!(two.as_deref(), Some("(('red' | 'reddish') & 'bags')"));
        // A word the shop does not know counts only through its close spellings.
        let (any, two) = tsqueries(&[
            word("red", &["red"], &[]),
            word("wedding", &[], &[]),
            word("sandalias", &[], &["sandals", "sandal"]),
            word("leather", &["leather"], &[]),
        ]);
        assert_eq!(
            any,
            "'red':* | 'wedding':* | 'sandalias':* | 'sandals':* | 'sandal':* | 'leather':*"
        );
        assert_eq!(
            two.as_deref(),
            Some(
                "('red' & ('sandals' | 'sandal')) | ('red' & 'leather') | \
                 (('sandals' | 'sandal') & 'leather')"
            )
        );
        // One known word and one unknown: any of them again.
        let (_, two) = tsqueries(&[word("red", &["red"], &[]), word("wedding", &[], &[])]);
        assert_eq!(two, None);
    }
}
