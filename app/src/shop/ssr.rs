//! Shop settings service. Every function takes the shop id from the caller's session.

use super::{MAX_OLD_SLUGS, ShopSettings, numbered_slug, slug_from_name, validate_slug};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::links::normalize_phone;
use crate::media::ssr::ImageRow;
use crate::state::AppState;
use sqlx::PgConnection;
use std::collections::HashSet;
use uuid::Uuid;

pub struct SettingsInput {
    pub name: String,
    pub slug: String,
    pub description: String,
    pub currency: String,
    /// Empty keeps the shop's zone.
    pub time_zone: String,
    pub whatsapp_number: String,
    pub contact_email: String,
    pub address: String,
    pub notify_new_orders: bool,
}

/// Every catalog or settings change calls this in its transaction; storefront caches key on it.
pub async fn bump_catalog_version(conn: &mut PgConnection, shop_id: Uuid) -> AppResult<()> {
    sqlx::query(
        "update shops set catalog_version = catalog_version + 1, updated_at = now() where id = $1",
    )
    .bind(shop_id)
    .execute(&mut *conn)
    .await?;
    // The response cache drops the shop's pages once this request is done (after the commit).
    crate::storefront::bytes::touched(shop_id);
    Ok(())
}

/// Serialises every change to who holds which address (signups and address changes) until the
/// caller's transaction ends. A shop's current address is guarded by a unique index, but an old
/// address lives in another table, and no index spans both: without this, a signup could take
/// an address in the instant a rename turns it into a redirect. Both are rare and their
/// transactions short, so one lock for all of them costs nothing noticeable.
async fn lock_addresses(conn: &mut PgConnection) -> AppResult<()> {
    // Any fixed number works; this one spells "SHOPSLUG" in ASCII.
    sqlx::query("select pg_advisory_xact_lock(6005690043282011463)")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Creates a new merchant's shop at the first free address made from its name: `name`, then
/// `name-2`, `name-3`, … skipping reserved addresses and any shop's current or old address.
/// One query reads the addresses in use; the unique index has the last word, and a clash with
/// a shop created meanwhile moves on to the next number.
pub async fn create_shop(
    conn: &mut PgConnection,
    merchant_id: Uuid,
    name: &str,
) -> AppResult<Uuid> {
    lock_addresses(conn).await?;
    let base = slug_from_name(name);
    let taken: HashSet<String> = sqlx::query_scalar(
        "select slug from shops where slug = $1 or slug like $2
         union all
         select old_slug from shop_slug_redirects where old_slug = $1 or old_slug like $2",
    )
    .bind(&base)
    // Slugs hold only a-z, 0-9 and hyphens, so nothing in `base` is a LIKE wildcard.
    .bind(format!("{base}-%"))
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    let shop_id = Uuid::now_v7();
    let mut clashes = 0;
    let candidates = std::iter::once(base.clone()).chain((2..).map(|n| numbered_slug(&base, n)));
    for slug in candidates {
        if taken.contains(&slug) || validate_slug(&slug).as_ref() != Ok(&slug) {
            continue;
        }
        let inserted = sqlx::query(
            "insert into shops (id, merchant_id, name, slug) values ($1, $2, $3, $4)
             on conflict (slug) do nothing",
        )
        .bind(shop_id)
        .bind(merchant_id)
        .bind(name)
        .bind(&slug)
        .execute(&mut *conn)
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(shop_id);
        }
        clashes += 1;
        if clashes == 20 {
            break;
        }
    }
    Err(AppError::Internal(anyhow::anyhow!(
        "no free shop address found for {base:?} after {clashes} clashes"
    )))
}

#[derive(sqlx::FromRow)]
struct SettingsRow {
    id: Uuid,
    name: String,
    slug: String,
    description: String,
    currency: String,
    time_zone: String,
    whatsapp_number: Option<String>,
    contact_email: Option<String>,
    address: Option<String>,
    notify_new_orders: bool,
    logo_id: Option<Uuid>,
    logo_backend: Option<String>,
    logo_key: Option<String>,
    logo_version: Option<i64>,
    logo_width: Option<i32>,
    logo_height: Option<i32>,
}

pub async fn load_settings(state: &AppState, shop_id: Uuid) -> AppResult<ShopSettings> {
    let row: SettingsRow = sqlx::query_as(
        "select s.id, s.name, s.slug, s.description, s.currency, s.time_zone, s.whatsapp_number, s.contact_email,
                s.address, s.notify_new_orders, i.id as logo_id, i.backend as logo_backend, i.storage_key as logo_key,
                i.version as logo_version, i.width as logo_width, i.height as logo_height
         from shops s left join images i on i.id = s.logo_image_id
         where s.id = $1",
    )
    .bind(shop_id)
    .fetch_optional(&state.pool)
    .await?
    .ok_or(AppError::NotFound)?;
    let logo = match (row.logo_id, row.logo_backend, row.logo_key) {
        (Some(id), Some(backend), Some(storage_key)) => Some(state.media.view(&ImageRow {
            id,
            backend,
            storage_key,
            version: row.logo_version,
            width: row.logo_width.unwrap_or(1),
            height: row.logo_height.unwrap_or(1),
            alt: format!("{} logo", row.name),
        })),
        _ => None,
    };
    Ok(ShopSettings {
        storefront_url: format!("{}/s/{}", state.config.public_url, row.slug),
        id: row.id,
        name: row.name,
        slug: row.slug,
        description: row.description,
        currency: row.currency,
        time_zone: row.time_zone,
        whatsapp_number: row.whatsapp_number.unwrap_or_default(),
        contact_email: row.contact_email.unwrap_or_default(),
        address: row.address.unwrap_or_default(),
        notify_new_orders: row.notify_new_orders,
        logo,
        cloudinary: state.media.is_cloudinary(),
    })
}

pub async fn update_settings(
    state: &AppState,
    shop_id: Uuid,
    input: SettingsInput,
) -> AppResult<ShopSettings> {
    let mut errors = FieldErrors::new();
    let name = input.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        errors.insert(
            "name".into(),
            "Enter a shop name of up to 100 characters.".into(),
        );
    }
    // Address rules apply to a new address; a shop keeps the one it has even if it was made
    // under older rules.
    let current_slug: String = sqlx::query_scalar("select slug from shops where id = $1")
        .bind(shop_id)
        .fetch_optional(&state.pool)
        .await?
        .ok_or(AppError::NotFound)?;
    let wanted = input.slug.trim().to_lowercase();
    let slug = if wanted == current_slug {
        Some(wanted)
    } else {
        validate_slug(&wanted)
            .map_err(|m| errors.insert("slug".into(), m))
            .ok()
    };
    let description = input.description.trim().to_string();
    if description.chars().count() > 2000 {
        errors.insert(
            "description".into(),
            "Keep the description under 2,000 characters.".into(),
        );
    }
    let currency = input.currency.trim().to_uppercase();
    if crate::money::currency(&currency).is_none() {
        errors.insert("currency".into(), "Choose a currency from the list.".into());
    }
    let time_zone = input.time_zone.trim().to_string();
    if !time_zone.is_empty() {
        match crate::platform::zone::validate(&state.pool, "time_zone", &time_zone).await {
            Ok(_) => {}
            Err(AppError::Validation(e)) => errors.extend(e),
            Err(e) => return Err(e),
        }
    }
    let phone = normalize_phone(&input.whatsapp_number)
        .map_err(|m| errors.insert("whatsapp_number".into(), m))
        .ok()
        .flatten();
    let contact_email = input.contact_email.trim().to_lowercase();
    if !contact_email.is_empty()
        && let Err(m) = crate::auth::validate_email(&contact_email)
    {
        errors.insert("contact_email".into(), m);
    }
    let address = input.address.trim().to_string();
    if address.chars().count() > 500 {
        errors.insert(
            "address".into(),
            "Keep the address under 500 characters.".into(),
        );
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let slug = slug.expect("validated");

    let mut tx = state.pool.begin().await?;
    lock_addresses(&mut tx).await?;
    let old_slug: String = sqlx::query_scalar("select slug from shops where id = $1 for update")
        .bind(shop_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(AppError::NotFound)?;
    if slug != old_slug {
        // Renamed by another request since the check above: the new address gets the rules too.
        validate_slug(&slug).map_err(|m| AppError::validation("slug", m))?;
        // Taken by another shop, now or as one of its old addresses.
        let taken: bool = sqlx::query_scalar(
            "select exists(select 1 from shops where slug = $1 and id <> $2)
                 or exists(select 1 from shop_slug_redirects where old_slug = $1 and shop_id <> $2)",
        )
        .bind(&slug)
        .bind(shop_id)
        .fetch_one(&mut *tx)
        .await?;
        if taken {
            return Err(AppError::validation(
                "slug",
                "Another shop already uses that address. Choose another.",
            ));
        }
        sqlx::query("delete from shop_slug_redirects where old_slug = $1 and shop_id = $2")
            .bind(&slug)
            .bind(shop_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("insert into shop_slug_redirects (old_slug, shop_id) values ($1, $2) on conflict (old_slug) do nothing")
            .bind(&old_slug)
            .bind(shop_id)
            .execute(&mut *tx)
            .await?;
        // A shop cannot hoard addresses by renaming over and over: the oldest ones go free.
        sqlx::query(
            "delete from shop_slug_redirects
             where shop_id = $1
               and old_slug not in (select old_slug from shop_slug_redirects where shop_id = $1
                                    order by created_at desc, old_slug limit $2)",
        )
        .bind(shop_id)
        .bind(MAX_OLD_SLUGS)
        .execute(&mut *tx)
        .await?;
    }
    let result = sqlx::query(
        "update shops set name = $2, slug = $3, description = $4, currency = $5, whatsapp_number = $6,
                contact_email = nullif($7, ''), address = nullif($8, ''), notify_new_orders = $9,
                time_zone = coalesce(nullif($10, ''), time_zone), updated_at = now()
         where id = $1",
    )
    .bind(shop_id)
    .bind(&name)
    .bind(&slug)
    .bind(&description)
    .bind(&currency)
    .bind(&phone)
    .bind(&contact_email)
    .bind(&address)
    .bind(input.notify_new_orders)
    .bind(&time_zone)
    .execute(&mut *tx)
    .await;
    match result {
        Err(sqlx::Error::Database(db)) if db.constraint() == Some("shops_slug_key") => {
            return Err(AppError::validation(
                "slug",
                "Another shop already uses that address. Choose another.",
            ));
        }
        other => {
            other?;
        }
    }
    bump_catalog_version(&mut tx, shop_id).await?;
    // The set-up checklist's first step: the merchant has looked at name and currency.
    crate::analytics::ssr::record_event(&mut tx, shop_id, "shop_settings_saved").await?;
    tx.commit().await?;
    tracing::info!(%shop_id, "shop settings updated");
    load_settings(state, shop_id).await
}

/// Makes an image (already stored for this shop) the logo, deleting the previous logo.
pub async fn set_logo(state: &AppState, shop_id: Uuid, image_id: Uuid) -> AppResult<()> {
    let mut tx = state.pool.begin().await?;
    let old: Option<ImageRow> = sqlx::query_as(
        "select i.id, i.backend, i.storage_key, i.version, i.width, i.height, i.alt
         from shops s join images i on i.id = s.logo_image_id where s.id = $1",
    )
    .bind(shop_id)
    .fetch_optional(&mut *tx)
    .await?;
    let updated = sqlx::query(
        "update shops set logo_image_id = $2
         where id = $1 and exists(select 1 from images where id = $2 and shop_id = $1 and product_id is null)",
    )
    .bind(shop_id)
    .bind(image_id)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    if let Some(old) = &old {
        sqlx::query("delete from images where id = $1 and shop_id = $2")
            .bind(old.id)
            .bind(shop_id)
            .execute(&mut *tx)
            .await?;
    }
    bump_catalog_version(&mut tx, shop_id).await?;
    tx.commit().await?;
    if let Some(old) = old
        && let Err(e) = state.media.delete(&old).await
    {
        tracing::warn!(error = ?e, image_id = %old.id, "old logo could not be removed from storage");
    }
    Ok(())
}

pub async fn remove_logo(state: &AppState, shop_id: Uuid) -> AppResult<()> {
    let mut tx = state.pool.begin().await?;
    let old: Option<ImageRow> = sqlx::query_as(
        "select i.id, i.backend, i.storage_key, i.version, i.width, i.height, i.alt
         from shops s join images i on i.id = s.logo_image_id where s.id = $1",
    )
    .bind(shop_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(old) = old else { return Ok(()) };
    sqlx::query("update shops set logo_image_id = null where id = $1")
        .bind(shop_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("delete from images where id = $1 and shop_id = $2")
        .bind(old.id)
        .bind(shop_id)
        .execute(&mut *tx)
        .await?;
    bump_catalog_version(&mut tx, shop_id).await?;
    tx.commit().await?;
    state.media.delete(&old).await
}
