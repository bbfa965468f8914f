//! Catalog service: products and categories, one file each (product images live in media/). Every query is
//! scoped by the shop id from the caller's session; a row of another shop is indistinguishable
//! from a missing one (404). Everything is re-exported here, so callers write
//! `catalog::ssr::save_product` whichever file it lives in.

mod categories;
mod products;
pub mod variants;

pub use categories::*;
pub use products::*;

use crate::error::{AppError, AppResult};
use sqlx::PgPool;
use uuid::Uuid;

pub async fn shop_currency(pool: &PgPool, shop_id: Uuid) -> AppResult<String> {
    sqlx::query_scalar("select currency from shops where id = $1")
        .bind(shop_id)
        .fetch_optional(pool)
        .await?
        .ok_or(AppError::NotFound)
}

/// Escapes LIKE wildcards so a search for "50%" means fifty percent.
pub fn like_pattern(q: &str) -> String {
    let escaped = q
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Moves `ids[index]` one place earlier (`up`) or later; false when it is already at that end.
pub fn swap_with_neighbour(ids: &mut [Uuid], index: usize, up: bool) -> bool {
    let other = if up {
        index.checked_sub(1)
    } else {
        Some(index + 1).filter(|i| *i < ids.len())
    };
    match other {
        Some(other) => {
            ids.swap(index, other);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::swap_with_neighbour;
    use uuid::Uuid;

    #[test]
    fn moves_one_place_and_stops_at_the_ends() {
        let (a, b, c) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let mut ids = vec![a, b, c];
        assert!(swap_with_neighbour(&mut ids, 2, true));
        assert_eq!(ids, [a, c, b]);
        assert!(!swap_with_neighbour(&mut ids, 0, true));
        assert!(!swap_with_neighbour(&mut ids, 2, false));
        assert!(swap_with_neighbour(&mut ids, 0, false));
        assert_eq!(ids, [c, a, b]);
    }
}
