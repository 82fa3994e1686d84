//! The call log: every `event::Record` the engine emits ends up, exactly once and in order, in
//! the database (SQLite by default, PostgreSQL with `--database postgres://…`), through a
//! batching writer task and, when the database is down or slow, a local journal; records the
//! database refuses are set aside in a dead-letter file instead of holding up the rest.
//!
//! Files, leaves first: `error` (outage vs rejection), `sql` (backends and statement shapes),
//! `schema` (column lists, time keys, row decoding), `tally` (the SQL twin of `cdr::tally`),
//! `rollup` (per-hour and per-day sums for reports), `db` (pool, migrations), `insert`
//! (idempotent batch writes and the `calls` projection), `query` (reads), `recovery` (calls a
//! crash left open), `journal` (the spool files), `dead_letter` (rejected records), `history`
//! (a caller's recent calls, for the agent desktop), `writer`
//! (the task). Each imports only files listed before it. Never does: compute report figures
//! (`report`, which imports this module, never the reverse).

pub mod callbacks;
pub mod console;
pub mod db;
pub mod dead_letter;
pub mod error;
pub mod history;
pub mod insert;
pub mod journal;
pub mod query;
pub mod recovery;
pub mod rollup;
pub mod schema;
pub mod sql;
pub mod tally;
pub mod writer;

#[cfg(test)]
pub(crate) mod testdb;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::cdr::summarize;
use crate::config::Config;
use crate::event::{EventSink, Record};
pub use db::Db;
use dead_letter::DeadLetter;
pub use error::StoreError;
use insert::{group_by_call, load_events};
use journal::{blocking, Journal};
pub use sql::Backend;
pub use writer::{WriterConfig, WriterStats};

/// Where the writer writes.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub url: String,
    pub journal_dir: PathBuf,
    pub writer: WriterConfig,
    /// How long `start` waits for the database before handing out the sink anyway.
    pub startup_wait: Duration,
}

impl StoreOptions {
    pub fn from_config(cfg: &Config) -> StoreOptions {
        StoreOptions {
            url: cfg.database.url.clone(),
            journal_dir: cfg.paths.journal.clone(),
            writer: WriterConfig {
                batch: Duration::from_millis(cfg.database.batch_ms.max(1)),
                ..WriterConfig::default()
            },
            startup_wait: Duration::from_secs(10),
        }
    }
}

/// The running writer.
pub struct StoreTask {
    handle: tokio::task::JoinHandle<()>,
    stop: oneshot::Sender<()>,
    stats: Arc<WriterStats>,
    /// Whether start-up (migrations, journal replay, recovery) had finished when `start`
    /// returned; if not, the writer keeps trying and journals meanwhile.
    pub ready: bool,
}

impl StoreTask {
    /// Write everything received so far (to the database, or else to the journal) and close
    /// the pool.
    pub async fn finish(self) {
        let _ = self.stop.send(());
        if let Err(e) = self.handle.await {
            tracing::error!(error = %e, "event writer ended abnormally");
        }
    }

    pub fn stats(&self) -> Arc<WriterStats> {
        self.stats.clone()
    }
}

/// Start the writer for the configured database and journal.
pub async fn start(cfg: &Config) -> Result<(EventSink, StoreTask), StoreError> {
    start_with(StoreOptions::from_config(cfg)).await
}

/// Start the writer: the journal is opened (an earlier run's leftovers become the backlog),
/// the pool is created lazily, and the writer's start-up (migrations, backlog replay, recovery
/// of interrupted calls) is awaited up to `startup_wait`; past that the sink is handed out
/// anyway and records are journaled until the database answers.
pub async fn start_with(opts: StoreOptions) -> Result<(EventSink, StoreTask), StoreError> {
    let db = Db::lazy(&opts.url)?;
    let journal = {
        let dir = opts.journal_dir.clone();
        blocking("opening journal", &opts.journal_dir, move || {
            Journal::open(&dir)
        })
        .await?
    };
    let dead_letter = DeadLetter::in_dir(&opts.journal_dir);
    let stats = Arc::new(WriterStats::default());
    let (tx, rx) = mpsc::unbounded_channel::<Record>();
    let (stop_tx, stop_rx) = oneshot::channel();
    let (ready_tx, ready_rx) = oneshot::channel();
    let w = writer::Writer::new(db, journal, dead_letter, opts.writer.clone(), stats.clone());
    let handle = tokio::spawn(w.run(rx, stop_rx, ready_tx));
    let ready = matches!(
        tokio::time::timeout(opts.startup_wait, ready_rx).await,
        Ok(Ok(true))
    );
    if !ready {
        tracing::error!(
            database = %db::redact(&opts.url),
            "database not available at start: events are journaled until it answers"
        );
    }
    Ok((
        EventSink::new(tx),
        StoreTask {
            handle,
            stop: stop_tx,
            stats,
            ready,
        },
    ))
}

/// Direct access to the log, for tools and tests (the server writes through `start`).
#[derive(Debug, Clone)]
pub struct Store {
    pub db: Db,
}

impl Store {
    /// Connect and migrate.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        Ok(Store {
            db: Db::open(url).await?,
        })
    }

    /// Write records in one transaction (idempotent).
    pub async fn write(&self, records: &[Record]) -> Result<(), StoreError> {
        let mut tx = self.db.begin().await?;
        insert::apply(&mut tx, records).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Recompute every `calls` row from the events; returns how many calls were summarised.
    pub async fn rebuild_calls(&self) -> Result<u64, StoreError> {
        use sqlx::Row;
        let mut after = String::new();
        let mut n = 0u64;
        loop {
            let ids: Vec<String> = sqlx::query(
                "SELECT DISTINCT call_id FROM call_events WHERE call_id > $1 \
                 ORDER BY call_id LIMIT 1000",
            )
            .bind(after.as_str())
            .fetch_all(&self.db.pool)
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<Result<_, _>>()?;
            let Some(last) = ids.last() else {
                break;
            };
            after = last.clone();
            let mut tx = self.db.begin().await?;
            let rows: Vec<_> = group_by_call(load_events(&mut tx, &ids).await?)
                .iter()
                .map(|evs| summarize(evs))
                .collect();
            insert::upsert_calls(&mut tx, &rows).await?;
            tx.commit().await?;
            n += rows.len() as u64;
        }
        Ok(n)
    }

    /// Close calls left open by a crash (see `recovery`). The writer does this at start-up.
    pub async fn close_interrupted(&self) -> Result<Vec<String>, StoreError> {
        recovery::close_interrupted(&self.db).await
    }

    pub async fn close(&self) {
        self.db.close().await;
    }
}
