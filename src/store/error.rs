//! The store's errors, typed by what the writer must do about them (pingora's habit: the error
//! says what failed, and so whether to try again).
//!
//! - [`StoreError::Outage`]: the database could not be reached or did not finish (connection
//!   refused or lost, pool timeout, I/O, TLS, a write slower than the writer allows, a server
//!   shutting down, out of resources or read-only after a fail-over, a serialization failure or
//!   deadlock, SQLite busy, locked, full or unreadable). The same write may succeed later:
//!   journal it and replay.
//! - [`StoreError::Rejected`]: the database answered and refused this data (a constraint, a bad
//!   value, a statement it will not run, a trigger that raises), or the data cannot be encoded
//!   or decoded. The same write would fail again: set it aside, never retry it.
//! - [`StoreError::Config`] (a database URL we cannot use) and [`StoreError::File`] (the
//!   journal, dead-letter file or database directory could not be read or written).
//!
//! Classification rules, for both backends: PostgreSQL by SQLSTATE class (08, 28, 3D, 40, 53,
//! 55P03, 57, 58, F0, XX and 25006 are outages; everything else the server answers — 22 data,
//! 23 constraints, 42 syntax or access, P0 raised by a trigger … — is a rejection); SQLite by
//! primary result code (BUSY, LOCKED, NOMEM, READONLY, INTERRUPT, IOERR, CORRUPT, FULL,
//! CANTOPEN, PROTOCOL, SCHEMA, NOTADB are outages; CONSTRAINT, MISMATCH, TOOBIG, ERROR, RANGE …
//! rejections). A failure to *begin* a transaction is always an outage (no data was sent yet:
//! a wrong password or a missing database must not condemn a batch), see
//! [`StoreError::unavailable`]. An error sqlx adds in a later version counts as an outage,
//! which is what every error was before this type existed: nothing is ever dropped for it.
//!
//! Owns: the error type and the classification. Never does: decide what to do about an error
//! (`writer`), log, or retry.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::error::DatabaseError;
use sqlx::migrate::MigrateError;

/// What the writer does about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Try again later: journal and replay.
    Outage,
    /// Do not try again: set the data aside.
    Rejected,
}

/// An error of the call log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be reached or did not finish: retry later.
    #[error("database unavailable: {0}")]
    Outage(Cause),
    /// The database refused this data, or the data cannot be encoded or decoded: never retry.
    #[error("database rejected the data: {0}")]
    Rejected(Cause),
    /// A database URL we cannot use.
    #[error("database URL {url}: {reason}")]
    Config { url: String, reason: String },
    /// A local file (journal, dead-letter file, SQLite directory) could not be used.
    #[error("{action} {}: {source}", path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What went wrong underneath an outage or a rejection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Cause {
    #[error(transparent)]
    Sql(sqlx::Error),
    /// Connecting to the database (the URL is given without its password).
    #[error("connecting to {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error(transparent)]
    Migrate(MigrateError),
    /// The writer's own deadline for a write.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// A record that cannot be encoded, or a stored row that cannot be decoded.
    #[error("{0}")]
    Data(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// A failure to start talking to the database (connect, acquire, `BEGIN`): an outage
    /// whatever the server said, since no data was sent yet.
    pub fn unavailable(e: sqlx::Error) -> StoreError {
        StoreError::Outage(Cause::Sql(e))
    }

    /// A write the writer gave up waiting for.
    pub fn timeout(after: Duration) -> StoreError {
        StoreError::Outage(Cause::Timeout(after))
    }

    /// Data that cannot be encoded or decoded.
    pub fn data(msg: impl Into<String>) -> StoreError {
        StoreError::Rejected(Cause::Data(msg.into()))
    }

    /// A local file that could not be used.
    pub fn file(action: &'static str, path: &Path, source: std::io::Error) -> StoreError {
        StoreError::File {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    /// Outage or rejection; `None` for configuration and local file errors, which are about
    /// neither the database nor the data.
    pub fn kind(&self) -> Option<Kind> {
        match self {
            StoreError::Outage(_) => Some(Kind::Outage),
            StoreError::Rejected(_) => Some(Kind::Rejected),
            StoreError::Config { .. } | StoreError::File { .. } => None,
        }
    }

    pub fn is_rejected(&self) -> bool {
        self.kind() == Some(Kind::Rejected)
    }

    /// The database's own error code: a SQLSTATE (PostgreSQL) or an extended result code
    /// (SQLite), when the database gave one.
    pub fn code(&self) -> Option<String> {
        let sql = match self {
            StoreError::Outage(Cause::Sql(e) | Cause::Connect { source: e, .. })
            | StoreError::Rejected(Cause::Sql(e) | Cause::Connect { source: e, .. }) => e,
            StoreError::Outage(Cause::Migrate(m)) | StoreError::Rejected(Cause::Migrate(m)) => {
                match m {
                    MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _) => e,
                    _ => return None,
                }
            }
            _ => return None,
        };
        match sql {
            sqlx::Error::Database(db) => db.code().map(Cow::into_owned),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> StoreError {
        match classify(&e) {
            Kind::Outage => StoreError::Outage(Cause::Sql(e)),
            Kind::Rejected => StoreError::Rejected(Cause::Sql(e)),
        }
    }
}

impl From<MigrateError> for StoreError {
    fn from(e: MigrateError) -> StoreError {
        let kind = match &e {
            MigrateError::Execute(s) | MigrateError::ExecuteMigration(s, _) => classify(s),
            // A history the embedded migrations do not match: trying again changes nothing.
            _ => Kind::Rejected,
        };
        match kind {
            Kind::Outage => StoreError::Outage(Cause::Migrate(e)),
            Kind::Rejected => StoreError::Rejected(Cause::Migrate(e)),
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> StoreError {
        StoreError::data(format!("JSON: {e}"))
    }
}

/// Outage or rejection, for an error of a statement or a commit (see the module header).
pub fn classify(e: &sqlx::Error) -> Kind {
    use sqlx::Error as E;
    match e {
        E::Database(db) => classify_database(db.as_ref()),
        E::RowNotFound
        | E::TypeNotFound { .. }
        | E::ColumnIndexOutOfBounds { .. }
        | E::ColumnNotFound(_)
        | E::ColumnDecode { .. }
        | E::Encode(_)
        | E::Decode(_)
        | E::AnyDriverError(_)
        | E::InvalidArgument(_) => Kind::Rejected,
        E::Migrate(m) => match m.as_ref() {
            MigrateError::Execute(s) | MigrateError::ExecuteMigration(s, _) => classify(s),
            _ => Kind::Rejected,
        },
        // Io, Tls, Protocol, PoolTimedOut, PoolClosed, WorkerCrashed, BeginFailed,
        // Configuration (found when connecting), and whatever a later sqlx adds.
        _ => Kind::Outage,
    }
}

fn classify_database(db: &dyn DatabaseError) -> Kind {
    let code = db.code();
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        // The extended result code, e.g. 2067 = SQLITE_CONSTRAINT_UNIQUE; its low byte is the
        // primary code.
        let extended = code.and_then(|c| c.parse::<i32>().ok()).unwrap_or(1);
        return sqlite_kind(extended);
    }
    match code {
        Some(state) => sqlstate_kind(&state),
        // A database error without a code: the server answered and refused.
        None => Kind::Rejected,
    }
}

/// SQLite, by primary result code (<https://www.sqlite.org/rescode.html>).
pub fn sqlite_kind(extended: i32) -> Kind {
    match extended & 0xff {
        // BUSY, LOCKED, NOMEM, READONLY, INTERRUPT, IOERR, CORRUPT, FULL, CANTOPEN, PROTOCOL,
        // SCHEMA, NOTADB
        5 | 6 | 7 | 8 | 9 | 10 | 11 | 13 | 14 | 15 | 17 | 26 => Kind::Outage,
        // ERROR (SQL error, RAISE in a trigger), CONSTRAINT, MISMATCH, TOOBIG, RANGE, …
        _ => Kind::Rejected,
    }
}

/// PostgreSQL, by SQLSTATE (<https://www.postgresql.org/docs/current/errcodes-appendix.html>).
pub fn sqlstate_kind(state: &str) -> Kind {
    if state == "55P03" || state == "25006" {
        // lock_not_available; read_only_sql_transaction (a standby after a fail-over)
        return Kind::Outage;
    }
    match state.get(..2).unwrap_or("") {
        // connection, authorization, missing database (connect time), transaction rollback
        // (serialization, deadlock), insufficient resources, operator intervention (shutdown,
        // cancel), system error (I/O), configuration file, internal error
        "08" | "28" | "3D" | "40" | "53" | "57" | "58" | "F0" | "XX" => Kind::Outage,
        // data exception (22), integrity constraint (23), syntax or access rule (42), raised
        // by PL/pgSQL (P0), and everything else the server answered with
        _ => Kind::Rejected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates() {
        for s in [
            "23505", "23514", "22P02", "22001", "42601", "42P01", "P0001", "21000",
        ] {
            assert_eq!(sqlstate_kind(s), Kind::Rejected, "{s}");
        }
        for s in [
            "08006", "08001", "57P01", "57P03", "57014", "53300", "40001", "40P01", "58030",
            "55P03", "25006", "XX000", "28P01", "3D000",
        ] {
            assert_eq!(sqlstate_kind(s), Kind::Outage, "{s}");
        }
    }

    #[test]
    fn sqlite_codes() {
        // BUSY, LOCKED, BUSY_SNAPSHOT, IOERR_WRITE, FULL, READONLY
        for c in [5, 6, 517, 778, 13, 8] {
            assert_eq!(sqlite_kind(c), Kind::Outage, "{c}");
        }
        // CONSTRAINT_CHECK, CONSTRAINT_UNIQUE, CONSTRAINT_NOTNULL, CONSTRAINT_TRIGGER, ERROR,
        // MISMATCH, TOOBIG
        for c in [275, 2067, 1299, 1811, 1, 20, 18] {
            assert_eq!(sqlite_kind(c), Kind::Rejected, "{c}");
        }
    }

    #[test]
    fn sqlx_errors_without_a_server_answer() {
        assert_eq!(classify(&sqlx::Error::PoolTimedOut), Kind::Outage);
        assert_eq!(classify(&sqlx::Error::PoolClosed), Kind::Outage);
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert_eq!(classify(&sqlx::Error::Io(io)), Kind::Outage);
        assert_eq!(classify(&sqlx::Error::RowNotFound), Kind::Rejected);
        let decode = sqlx::Error::Decode("bad".into());
        assert_eq!(classify(&decode), Kind::Rejected);
        assert!(StoreError::timeout(Duration::from_secs(2)).kind() == Some(Kind::Outage));
        assert!(StoreError::data("x").is_rejected());
        let e = StoreError::from(sqlx::Error::PoolTimedOut);
        assert_eq!(e.kind(), Some(Kind::Outage));
        assert_eq!(e.code(), None);
    }
}
