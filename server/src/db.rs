use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::PgPoolOptions;
use std::time::Duration;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

pub async fn connect(config: &app::config::Config) -> anyhow::Result<PgPool> {
    let url = config.database_url.expose_secret();
    // A fresh machine has a server but not our database yet: create it rather than fail.
    // Errors here are ignored on purpose; the connect below reports the real problem.
    if let Ok(false) = sqlx::Postgres::database_exists(url).await
        && let Err(e) = sqlx::Postgres::create_database(url).await
    {
        tracing::warn!(error = %e, "could not create the database named by DATABASE_URL");
    }
    PgPoolOptions::new()
        .max_connections(config.database_max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .context("cannot connect to the database named by DATABASE_URL")
}

pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR
        .run(pool)
        .await
        .context("applying database migrations")
}
