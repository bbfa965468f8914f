//! The demo merchant and shop that `make run` shows a newcomer. Idempotent: running it again
//! changes nothing.

use sqlx::PgPool;
use uuid::Uuid;

pub const DEMO_EMAIL: &str = "demo@bizmaat.local";
pub const DEMO_PASSWORD: &str = "demo-shop-2026";
pub const DEMO_SHOP_NAME: &str = "Lagos Looms";

pub async fn seed_demo(pool: &PgPool) -> anyhow::Result<()> {
    let exists: bool =
        sqlx::query_scalar("select exists(select 1 from merchants where lower(email) = $1)")
            .bind(DEMO_EMAIL)
            .fetch_one(pool)
            .await?;
    if exists {
        tracing::info!("demo shop already present");
    } else {
        let hash = app::auth::ssr::hash_password(DEMO_PASSWORD.to_string().into())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut tx = pool.begin().await?;
        let merchant_id = Uuid::now_v7();
        sqlx::query(
            "insert into merchants (id, full_name, email, password_hash, adult_confirmed_at, policy_version, policy_accepted_at)
             values ($1, 'Demo Merchant', $2, $3, now(), $4, now())",
        )
        .bind(merchant_id)
        .bind(DEMO_EMAIL)
        .bind(hash)
        .bind(app::policy::PRIVACY_POLICY_VERSION)
        .execute(&mut *tx)
        .await?;
        app::auth::ssr::create_shop(&mut tx, merchant_id, DEMO_SHOP_NAME)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        tx.commit().await?;
        tracing::info!("demo shop created");
    }
    println!("\n  Demo login: {DEMO_EMAIL} / {DEMO_PASSWORD}\n");
    Ok(())
}
