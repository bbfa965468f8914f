use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use std::str::FromStr;
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
        .connect_with(connect_options(url)?)
        .await
        .context("cannot connect to the database named by DATABASE_URL")
}

/// The connection settings of a database URL, with one default of ours: a server on this
/// machine (a loopback address or a Unix socket) is spoken to without TLS unless the URL
/// (`sslmode=…`) or `PGSSLMODE` asks for it. sqlx, like libpq, defaults to `prefer`, and
/// Debian's PostgreSQL offers TLS, so every query on loopback was encrypted and decrypted on
/// both sides: a sixth of the server's CPU time on an uncached storefront page (perf, `make
/// bench`), and as much again inside PostgreSQL, to protect bytes that never leave the machine.
/// Remote servers keep the `prefer` default (set `sslmode=require` or stricter in production).
pub fn connect_options(url: &str) -> anyhow::Result<PgConnectOptions> {
    let options = PgConnectOptions::from_str(url).context("DATABASE_URL is not a valid URL")?;
    let named = url.split_once('?').is_some_and(|(_, q)| {
        q.split('&')
            .any(|p| p.starts_with("sslmode=") || p.starts_with("ssl-mode="))
    }) || std::env::var_os("PGSSLMODE").is_some();
    let host = options.get_host();
    let local = host.starts_with('/')
        || host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    Ok(if local && !named {
        options.ssl_mode(PgSslMode::Disable)
    } else {
        options
    })
}

pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR
        .run(pool)
        .await
        .context("applying database migrations")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(url: &str) -> PgSslMode {
        connect_options(url).unwrap().get_ssl_mode()
    }

    #[test]
    fn a_server_on_this_machine_is_spoken_to_without_tls_unless_asked() {
        // Only meaningful when the environment leaves the mode alone.
        if std::env::var_os("PGSSLMODE").is_some() {
            return;
        }
        for url in [
            "postgres://postgres@127.0.0.1:5432/db",
            "postgres://postgres@localhost/db",
            "postgres://postgres@[::1]:5432/db",
            "postgres://postgres@%2Fvar%2Frun%2Fpostgresql/db",
        ] {
            assert!(matches!(mode(url), PgSslMode::Disable), "{url}");
        }
        assert!(matches!(
            mode("postgres://u@db.example.com/db"),
            PgSslMode::Prefer
        ));
        assert!(matches!(
            mode("postgres://u@10.0.0.5/db"),
            PgSslMode::Prefer
        ));
        assert!(matches!(
            mode("postgres://u@127.0.0.1/db?sslmode=require"),
            PgSslMode::Require
        ));
        assert!(connect_options("not a url").is_err());
    }
}
