//! The writer task: the only consumer of the event channel. It gathers records into batches
//! (every `batch_ms`, or sooner at `max_batch` records) and writes each batch in one
//! transaction. A batch the database refuses, or takes longer than `slow` to take, goes to the
//! journal instead; from then on batches are appended behind it, and the journal is replayed
//! in order whenever the database answers again, so the database sees records in the order
//! calls emitted them. Inserts are idempotent, so a replay after a half-finished write (or a
//! crash mid-replay) never duplicates anything.
//!
//! Start-up order: migrations → replay of what earlier runs left in the journal → recovery of
//! interrupted calls → this run's records. Until the database has answered once, this run's
//! records are journaled.
//!
//! Owns: batching, timeouts, retry pacing, shutdown flush. Never does: block a call task (the
//! channel is unbounded and this task is the only one touching the database or the journal).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep, sleep_until, timeout, Instant};

use super::db::Db;
use super::journal::{Journal, Spool};
use super::{insert, recovery};
use crate::event::Record;

#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Longest a record waits in memory before its batch is written (what `kill -9` may lose).
    pub batch: Duration,
    pub max_batch: usize,
    /// A write taking longer than this is given up and journaled.
    pub slow: Duration,
    /// Pause between attempts while the database is down.
    pub retry: Duration,
    /// Records per transaction when replaying the journal.
    pub replay_chunk: usize,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            batch: Duration::from_millis(200),
            max_batch: 2000,
            slow: Duration::from_secs(2),
            retry: Duration::from_secs(1),
            replay_chunk: 5000,
        }
    }
}

/// Counters for tests, logs and the admin API.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Records written straight to the database.
    pub written: AtomicU64,
    /// Records sent to the journal.
    pub journaled: AtomicU64,
    /// Records replayed from the journal into the database.
    pub replayed: AtomicU64,
    /// Calls closed as interrupted at start-up.
    pub recovered: AtomicU64,
    /// Failed or slow database writes.
    pub failures: AtomicU64,
}

pub struct Writer {
    db: Db,
    journal: Journal,
    cfg: WriterConfig,
    stats: Arc<WriterStats>,
    /// Migrated, backlog replayed, interrupted calls closed.
    ready: bool,
    next_try: Instant,
    last_analyze: Instant,
}

/// How often planner statistics are refreshed while running (the first time a minute after
/// start, when idle, so start-up is not delayed).
const ANALYZE_EVERY: Duration = Duration::from_secs(3600);
const ANALYZE_FIRST: Duration = Duration::from_secs(60);
/// Longest the migrations may take. Generous: a migration that fills a new table from the
/// existing log (0002's rollups: 5–6 s for a year of a large city) must finish at its first
/// attempt, since a timeout rolls it back and the next attempt starts over. An unreachable
/// database still fails fast (the pool's acquire timeout); meanwhile records wait in memory.
const MIGRATE_TIMEOUT: Duration = Duration::from_secs(300);

impl Writer {
    pub fn new(db: Db, journal: Journal, cfg: WriterConfig, stats: Arc<WriterStats>) -> Writer {
        Writer {
            db,
            journal,
            cfg,
            stats,
            ready: false,
            next_try: Instant::now(),
            // Due ANALYZE_FIRST after start.
            last_analyze: Instant::now()
                .checked_sub(ANALYZE_EVERY - ANALYZE_FIRST)
                .unwrap_or_else(Instant::now),
        }
    }

    /// Run until `stop` fires or every sender is gone, then flush and close the pool.
    /// `ready` is told whether start-up against the database succeeded.
    pub async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Record>,
        mut stop: oneshot::Receiver<()>,
        ready: oneshot::Sender<bool>,
    ) {
        let ok = self.try_init().await;
        let _ = ready.send(ok);
        loop {
            let (batch, stopping) = self.collect(&mut rx, &mut stop).await;
            if !batch.is_empty() {
                self.handle(batch).await;
            } else {
                self.catch_up(self.cfg.slow).await;
                if self.ready && self.last_analyze.elapsed() >= ANALYZE_EVERY {
                    self.last_analyze = Instant::now();
                    if let Err(e) = self.db.analyze().await {
                        tracing::warn!(error = %e, "refreshing planner statistics failed");
                    }
                }
            }
            if stopping {
                break;
            }
        }
        // Whatever is still queued (senders may outlive the stop request).
        let mut rest = Vec::new();
        while let Ok(r) = rx.try_recv() {
            rest.push(r);
            if rest.len() >= self.cfg.max_batch {
                self.handle(std::mem::take(&mut rest)).await;
            }
        }
        if !rest.is_empty() {
            self.handle(rest).await;
        }
        // One last bounded attempt; anything left stays journaled for the next start.
        self.next_try = Instant::now();
        self.catch_up(Duration::from_secs(5)).await;
        self.db.close().await;
    }

    /// Wait for a first record (or an idle tick, so retries happen without traffic), then
    /// gather more until the batch interval ends or the batch is full.
    async fn collect(
        &mut self,
        rx: &mut mpsc::UnboundedReceiver<Record>,
        stop: &mut oneshot::Receiver<()>,
    ) -> (Vec<Record>, bool) {
        let mut batch = Vec::new();
        tokio::select! {
            r = rx.recv() => match r {
                Some(r) => batch.push(r),
                None => return (batch, true),
            },
            _ = &mut *stop => return (batch, true),
            _ = sleep(self.cfg.batch.max(Duration::from_millis(100))) => return (batch, false),
        }
        let deadline = Instant::now() + self.cfg.batch;
        while batch.len() < self.cfg.max_batch {
            tokio::select! {
                biased;
                r = rx.recv() => match r {
                    Some(r) => batch.push(r),
                    None => return (batch, true),
                },
                _ = sleep_until(deadline) => break,
                _ = &mut *stop => return (batch, true),
            }
        }
        (batch, false)
    }

    async fn handle(&mut self, batch: Vec<Record>) {
        if self.ready && !self.journal.spool.pending() && Instant::now() >= self.next_try {
            match self.write(&batch).await {
                Ok(()) => {
                    self.stats
                        .written
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    return;
                }
                Err(e) => self.failed(&e),
            }
        }
        match self.journal.spool.append(&batch).await {
            Ok(()) => {
                self.stats
                    .journaled
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
            // Nowhere left to put them: say so loudly, keep serving calls.
            Err(e) => tracing::error!(error = %e, lost = batch.len(), "journal write failed"),
        }
        self.catch_up(self.cfg.slow).await;
    }

    /// One transaction, given up after `slow`.
    async fn write(&self, records: &[Record]) -> anyhow::Result<()> {
        let pool = &self.db.pool;
        let work = async {
            let mut tx = pool.begin().await?;
            insert::apply(&mut tx, records).await?;
            tx.commit().await?;
            anyhow::Ok(())
        };
        match timeout(self.cfg.slow, work).await {
            Ok(r) => r,
            Err(_) => anyhow::bail!("database write took longer than {:?}", self.cfg.slow),
        }
    }

    fn failed(&mut self, e: &anyhow::Error) {
        self.stats.failures.fetch_add(1, Ordering::Relaxed);
        if self.next_try <= Instant::now() {
            tracing::warn!(error = %e, "database unavailable: journaling events");
        }
        self.next_try = Instant::now() + self.cfg.retry;
    }

    /// Start-up work against the database; false (and retried later) if it does not answer.
    async fn try_init(&mut self) -> bool {
        if self.ready {
            return true;
        }
        let migrated = timeout(MIGRATE_TIMEOUT, self.db.migrate()).await;
        match migrated {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                self.failed(&e);
                return false;
            }
            Err(_) => {
                self.failed(&anyhow::anyhow!("migrations timed out"));
                return false;
            }
        }
        if let Err(e) = self.drain_backlog().await {
            self.failed(&e);
            return false;
        }
        match recovery::close_interrupted(&self.db).await {
            Ok(ids) => {
                self.stats
                    .recovered
                    .fetch_add(ids.len() as u64, Ordering::Relaxed);
            }
            Err(e) => {
                self.failed(&e);
                return false;
            }
        }
        self.ready = true;
        true
    }

    async fn drain_backlog(&mut self) -> anyhow::Result<()> {
        while self.journal.backlog.pending() {
            let chunk = self.cfg.replay_chunk;
            let n = replay_some(&self.db, &mut self.journal.backlog, chunk, &self.cfg).await?;
            self.stats.replayed.fetch_add(n, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Replay this run's spool for at most `budget`, unless the database was failing a moment
    /// ago. Stops at the first failure.
    async fn catch_up(&mut self, budget: Duration) {
        if Instant::now() < self.next_try {
            return;
        }
        if !self.try_init().await {
            return;
        }
        let until = Instant::now() + budget;
        while self.journal.spool.pending() && Instant::now() < until {
            let chunk = self.cfg.replay_chunk;
            match replay_some(&self.db, &mut self.journal.spool, chunk, &self.cfg).await {
                Ok(n) => {
                    self.stats.replayed.fetch_add(n, Ordering::Relaxed);
                }
                Err(e) => {
                    self.failed(&e);
                    return;
                }
            }
        }
        if !self.journal.spool.pending() && self.stats.journaled.load(Ordering::Relaxed) > 0 {
            tracing::debug!("journal replayed");
        }
    }
}

/// Replay one chunk of `spool` in one transaction; returns how many records it held.
async fn replay_some(
    db: &Db,
    spool: &mut Spool,
    max: usize,
    cfg: &WriterConfig,
) -> anyhow::Result<u64> {
    let (records, next) = spool.read_chunk(max).await?;
    if !records.is_empty() {
        let work = async {
            let mut tx = db.pool.begin().await?;
            insert::apply(&mut tx, &records).await?;
            tx.commit().await?;
            anyhow::Ok(())
        };
        // A replay chunk is bigger than a live batch: allow it more time.
        match timeout(cfg.slow * 5, work).await {
            Ok(r) => r?,
            Err(_) => anyhow::bail!("journal replay timed out"),
        }
    }
    spool.advance(next).await?;
    Ok(records.len() as u64)
}
