//! The database handle: one sqlx `Any` pool for `sqlite://…` or `postgres://…` URLs, and the
//! embedded migrations.
//!
//! Owns: URL normalisation (a SQLite file and its directory are created on first run, in WAL
//! mode), pool settings (short acquire timeout, so an unreachable server fails fast and the
//! writer spools to the journal), and applying `migrations/*.sql` at start. Never does: decide
//! what to write or when; that is `writer`'s job.

use std::borrow::Cow;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{install_default_drivers, AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Executor, SqlSafeStr};

use super::error::{Cause, Result, StoreError};
use super::rollup;
pub use super::sql::Backend;

/// Embedded migrations, applied in order. One directory serves both backends: the SQL uses
/// only BIGINT/TEXT, composite primary keys and `IF NOT EXISTS`.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("migrations/0001_init.sql")),
    (2, "rollup", include_str!("migrations/0002_rollup.sql")),
    (3, "caller", include_str!("migrations/0003_caller.sql")),
    (
        4,
        "transfers",
        include_str!("migrations/0004_transfers.sql"),
    ),
    (5, "console", include_str!("migrations/0005_console.sql")),
    (6, "storm", include_str!("migrations/0006_storm.sql")),
];

/// A pool and what it points at.
#[derive(Debug, Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
}

/// Longest wait for a pooled connection: past this the writer journals instead.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

impl Db {
    /// A pool that connects on first use (the server starts even when PostgreSQL is down).
    pub fn lazy(url: &str) -> Result<Db> {
        let (backend, opts, pool) = Db::options(url)?;
        Ok(Db {
            pool: pool.connect_lazy_with(opts),
            backend,
        })
    }

    /// Connect now and apply the migrations.
    pub async fn open(url: &str) -> Result<Db> {
        let (backend, opts, pool) = Db::options(url)?;
        let pool = pool.connect_with(opts).await.map_err(|source| {
            StoreError::Outage(Cause::Connect {
                url: redact(url),
                source,
            })
        })?;
        let db = Db { pool, backend };
        db.migrate().await?;
        Ok(db)
    }

    fn options(url: &str) -> Result<(Backend, AnyConnectOptions, AnyPoolOptions)> {
        install_default_drivers();
        let backend = Backend::of(url)?;
        let url = match backend {
            Backend::Sqlite => sqlite_url(url)?,
            Backend::Postgres => url.to_string(),
        };
        let opts = AnyConnectOptions::from_str(&url).map_err(|e| StoreError::Config {
            url: redact(&url),
            reason: e.to_string(),
        })?;
        let is_sqlite = backend == Backend::Sqlite;
        let pool = AnyPoolOptions::new()
            // SQLite has one writer anyway; readers share the WAL.
            .max_connections(if is_sqlite { 4 } else { 8 })
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if !is_sqlite {
                        // Report scans are short aggregates: JIT compilation costs more than it
                        // saves (≈ 0.3 s per query on a year of calls). Absent before PG 11.
                        let _ = conn.execute("SET jit = off").await;
                        // A year of 15-minute groups hashes in memory instead of sorting.
                        let _ = conn.execute("SET work_mem = '32MB'").await;
                    }
                    if is_sqlite {
                        // WAL: readers never block the writer; NORMAL sync is durable against
                        // a process crash (kill -9), which is what the journal design assumes.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        // 4 MiB page cache per connection (16 MiB for the pool at most). The
                        // writer's hot pages are the interior pages and right-hand edges of
                        // B-trees it appends to; a report reads each index page once per query,
                        // so a big cache only kept what the OS page cache keeps anyway, in the
                        // server's RSS (64 MiB × 4 made it grow with every call handled).
                        conn.execute("PRAGMA cache_size = -4096").await?;
                    }
                    Ok(())
                })
            });
        Ok((backend, opts, pool))
    }

    /// Apply the embedded migrations that are not applied yet.
    pub async fn migrate(&self) -> Result<()> {
        let migrations = MIGRATIONS
            .iter()
            .map(|(v, name, sql)| {
                Migration::new(
                    *v,
                    Cow::Borrowed(*name),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect();
        Migrator::with_migrations(migrations)
            .run(&self.pool)
            .await?;
        // Filling the report rollups from the calls already logged (a log older than them).
        rollup::backfill_if_missing(&self.pool).await
    }

    /// A transaction on a pooled connection. Not getting one is an outage whatever the server
    /// said (no data was sent yet), see `error`.
    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        self.pool.begin().await.map_err(StoreError::unavailable)
    }

    /// Refresh planner statistics. SQLite only skip-scans the breakdown index once it knows
    /// how few (queue, language, topic, agent) prefixes there are; a bounded ANALYZE samples
    /// 20 000 rows per index (≈ 0.6 s on a year of a large city). PostgreSQL's autovacuum does
    /// this by itself.
    pub async fn analyze(&self) -> Result<()> {
        if self.backend == Backend::Sqlite {
            let mut conn = self.pool.acquire().await.map_err(StoreError::unavailable)?;
            conn.execute("PRAGMA analysis_limit = 20000").await?;
            conn.execute("ANALYZE").await?;
        }
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// `sqlite://rel/path.db` → absolute-or-relative file URL with `mode=rwc`, creating the
/// directory; `sqlite::memory:` is passed through.
fn sqlite_url(url: &str) -> Result<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    if rest.starts_with(':') {
        return Ok(url.to_string());
    }
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if let Some(dir) = Path::new(path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::file("creating database directory", dir, e))?;
    }
    let query = match query {
        Some(q) if q.contains("mode=") => q.to_string(),
        Some(q) => format!("{q}&mode=rwc"),
        None => "mode=rwc".to_string(),
    };
    Ok(format!("sqlite://{path}?{query}"))
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls() {
        assert_eq!(
            sqlite_url("sqlite://centrale.db").unwrap(),
            "sqlite://centrale.db?mode=rwc"
        );
        assert_eq!(
            sqlite_url("sqlite:///var/lib/c.db?mode=ro").unwrap(),
            "sqlite:///var/lib/c.db?mode=ro"
        );
        assert_eq!(sqlite_url("sqlite::memory:").unwrap(), "sqlite::memory:");
        assert!(Backend::of("mysql://x").is_err());
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/d"),
            "postgres://u:***@h:5432/d"
        );
        assert_eq!(redact("postgres://u@h/d"), "postgres://u@h/d");
    }

    #[tokio::test]
    async fn sqlite_file_is_created_with_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/c.db");
        let db = Db::open(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        db.migrate().await.unwrap(); // twice is fine
        assert!(path.exists());
        db.close().await;
    }
}
