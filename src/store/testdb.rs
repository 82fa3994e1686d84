//! Databases for tests: SQLite on a temporary file, and PostgreSQL at `$DATABASE_URL` in a
//! database created for the test and dropped after it (tests that need PostgreSQL say so and
//! pass vacuously when `DATABASE_URL` is unset; `scripts/test` sets it). Used by the store's
//! tests and the report's tests against a database.

use sqlx::{Connection, Executor};

use crate::cdr::tests::Script;
use crate::event::Record;

/// A database for one test.
pub(crate) struct TestDb {
    pub url: String,
    /// PostgreSQL: admin URL and database name to drop.
    pg: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("log.db").display());
        TestDb {
            url,
            pg: None,
            _dir: Some(dir),
        }
    }

    pub async fn postgres() -> Option<TestDb> {
        let admin = std::env::var("DATABASE_URL").ok()?;
        if !admin.starts_with("postgres") {
            return None;
        }
        sqlx::any::install_default_drivers();
        let name = format!(
            "centrale_t_{}_{:08x}",
            std::process::id(),
            rand::random::<u32>()
        );
        let mut c = sqlx::AnyConnection::connect(&admin).await.unwrap();
        c.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .unwrap();
        c.close().await.unwrap();
        Some(TestDb {
            url: with_database(&admin, &name),
            pg: Some((admin, name)),
            _dir: None,
        })
    }

    pub async fn drop_db(self) {
        if let Some((admin, name)) = &self.pg {
            let mut c = sqlx::AnyConnection::connect(admin).await.unwrap();
            c.execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .await
            .unwrap();
        }
    }
}

/// The same URL pointing at another database.
fn with_database(url: &str, name: &str) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    format!("{}/{name}{query}", &base[..host_end])
}

/// SQLite always, PostgreSQL when `DATABASE_URL` names one.
pub(crate) async fn backends() -> Vec<TestDb> {
    let mut v = vec![TestDb::sqlite()];
    match TestDb::postgres().await {
        Some(pg) => v.push(pg),
        None => eprintln!("DATABASE_URL unset: PostgreSQL half of the test skipped"),
    }
    v
}

/// The events of these scripted calls, as records.
pub(crate) fn calls_of(scripts: &[Script]) -> Vec<Record> {
    scripts
        .iter()
        .flat_map(|s| s.events.iter().cloned().map(Record::Call))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_for_tests() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/test?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}
