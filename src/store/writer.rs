//! The writer task: the only consumer of the event channel. It gathers records into batches
//! (every `batch_ms`, or sooner at `max_batch` records) and writes each batch in one
//! transaction. What happens when that fails depends on why (`error::Kind`):
//!
//! - an **outage** (the database is down, slow past `slow`, busy …): the batch goes to the
//!   journal; from then on batches are appended behind it, and the journal is replayed in order
//!   whenever the database answers again, so the database sees records in the order calls
//!   emitted them. Inserts are idempotent, so a replay after a half-finished write (or a crash
//!   mid-replay) never duplicates anything.
//! - a **rejection** (the database refuses the data: a constraint, a bad value …): the batch is
//!   split in halves and retried, recursively, until every rejected part is one record; those
//!   records go to the dead-letter file (`dead_letter`), are logged once per batch and counted
//!   (`WriterStats::dead_lettered`), and everything else is written in order. A rejected
//!   record is never retried, so it can never hold up the records behind it. The same applies
//!   to journal replay.
//!
//! Start-up order: migrations → replay of what earlier runs left in the journal → recovery of
//! interrupted calls → this run's records. Until the database has answered once, this run's
//! records are journaled.
//!
//! Owns: batching, timeouts, retry pacing, isolating rejected records, shutdown flush. Never
//! does: block a call task (the channel is unbounded and this task is the only one touching
//! the database, the journal or the dead-letter file).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep, sleep_until, timeout, Instant};

use super::db::Db;
use super::dead_letter::{DeadLetter, Entry};
use super::error::{Result, StoreError};
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
    /// Failed or slow database writes (outages).
    pub failures: AtomicU64,
    /// Records the database rejected, set aside in the dead-letter file (exported as
    /// `centrale_store_dead_letter_total`).
    pub dead_lettered: AtomicU64,
}

pub struct Writer {
    db: Db,
    journal: Journal,
    dead_letter: DeadLetter,
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
    pub fn new(
        db: Db,
        journal: Journal,
        dead_letter: DeadLetter,
        cfg: WriterConfig,
        stats: Arc<WriterStats>,
    ) -> Writer {
        Writer {
            db,
            journal,
            dead_letter,
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
        let mut from = 0;
        if self.ready && !self.journal.spool.pending() && Instant::now() >= self.next_try {
            let out = write_isolating(&self.db, &batch, self.cfg.slow).await;
            self.stats
                .written
                .fetch_add(out.written as u64, Ordering::Relaxed);
            set_aside(&self.dead_letter, &self.stats, out.rejected).await;
            match out.outage {
                None => return,
                Some((at, e)) => {
                    self.failed(&e);
                    from = at;
                }
            }
        }
        let rest = batch.get(from..).unwrap_or_default();
        match self.journal.spool.append(rest).await {
            Ok(()) => {
                self.stats
                    .journaled
                    .fetch_add(rest.len() as u64, Ordering::Relaxed);
            }
            // Nowhere left to put them: say so loudly, keep serving calls.
            Err(e) => tracing::error!(error = %e, lost = rest.len(), "journal write failed"),
        }
        self.catch_up(self.cfg.slow).await;
    }

    fn failed(&mut self, e: &StoreError) {
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
        let migrated = match timeout(MIGRATE_TIMEOUT, self.db.migrate()).await {
            Ok(r) => r,
            Err(_) => Err(StoreError::timeout(MIGRATE_TIMEOUT)),
        };
        if let Err(e) = migrated {
            self.failed(&e);
            return false;
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
            // Refused, not unavailable: those calls stay open (the next start tries again);
            // this run's records must not wait for them.
            Err(e) if e.is_rejected() => {
                tracing::error!(error = %e, "closing interrupted calls was refused: they stay open");
            }
            Err(e) => {
                self.failed(&e);
                return false;
            }
        }
        self.ready = true;
        true
    }

    async fn drain_backlog(&mut self) -> Result<()> {
        while self.journal.backlog.pending() {
            replay_some(
                &self.db,
                &mut self.journal.backlog,
                &self.dead_letter,
                &self.stats,
                &self.cfg,
            )
            .await?;
        }
        Ok(())
    }

    /// Replay this run's spool for at most `budget`, unless the database was failing a moment
    /// ago. Stops at the first outage.
    async fn catch_up(&mut self, budget: Duration) {
        if Instant::now() < self.next_try {
            return;
        }
        if !self.try_init().await {
            return;
        }
        let until = Instant::now() + budget;
        while self.journal.spool.pending() && Instant::now() < until {
            let replayed = replay_some(
                &self.db,
                &mut self.journal.spool,
                &self.dead_letter,
                &self.stats,
                &self.cfg,
            )
            .await;
            if let Err(e) = replayed {
                self.failed(&e);
                return;
            }
        }
        if !self.journal.spool.pending() && self.stats.journaled.load(Ordering::Relaxed) > 0 {
            tracing::debug!("journal replayed");
        }
    }
}

/// One transaction, given up after `deadline`.
async fn write_once(db: &Db, records: &[Record], deadline: Duration) -> Result<()> {
    let work = async {
        let mut tx = db.begin().await?;
        insert::apply(&mut tx, records).await?;
        tx.commit().await?;
        Ok(())
    };
    match timeout(deadline, work).await {
        Ok(r) => r,
        Err(_) => Err(StoreError::timeout(deadline)),
    }
}

/// What became of records written by [`write_isolating`].
#[derive(Debug, Default)]
struct Outcome {
    /// Records written (or found already there).
    written: usize,
    /// Records the database refused on their own, in order, each with why.
    rejected: Vec<(Record, StoreError)>,
    /// An outage stopped the work at this index: records from there on are not written.
    outage: Option<(usize, StoreError)>,
}

/// Writes `records` in order: all in one transaction, and if the database rejects that, each
/// half in turn, recursively, so that only records rejected on their own are left out (one bad
/// record among n costs about 2·log₂ n extra transactions, and only when there is one).
/// Stops at the first outage.
async fn write_isolating(db: &Db, records: &[Record], deadline: Duration) -> Outcome {
    let mut out = Outcome::default();
    // Ranges still to write, the next one on top.
    let mut todo = vec![(0, records.len())];
    while let Some((lo, hi)) = todo.pop() {
        let Some(part) = records.get(lo..hi).filter(|p| !p.is_empty()) else {
            continue;
        };
        match write_once(db, part, deadline).await {
            Ok(()) => out.written += part.len(),
            Err(e) if e.is_rejected() && part.len() > 1 => {
                let mid = lo + part.len() / 2;
                todo.push((mid, hi));
                todo.push((lo, mid));
            }
            Err(e) if e.is_rejected() => {
                out.rejected.extend(part.first().cloned().map(|r| (r, e)));
            }
            Err(e) => {
                out.outage = Some((lo, e));
                break;
            }
        }
    }
    out
}

/// Put rejected records in the dead-letter file, log once and count them.
async fn set_aside(dead: &DeadLetter, stats: &WriterStats, rejected: Vec<(Record, StoreError)>) {
    let Some((_, first)) = rejected.first() else {
        return;
    };
    let n = rejected.len();
    tracing::error!(
        records = n,
        reason = %first,
        file = %dead.path().display(),
        "the database rejected records: set aside in the dead-letter file, not retried"
    );
    let entries: Vec<Entry> = rejected
        .into_iter()
        .map(|(r, e)| Entry::new(vec![r], &e))
        .collect();
    match dead.append(&entries).await {
        Ok(()) => {
            stats.dead_lettered.fetch_add(n as u64, Ordering::Relaxed);
        }
        // As for the journal: nowhere left to put them, say so loudly and keep going.
        Err(e) => tracing::error!(error = %e, lost = n, "dead-letter write failed"),
    }
}

/// Replay one chunk of `spool`. Written and rejected (set aside) records are done and the
/// spool moves past them; an outage stops at the first record not written, which the next
/// attempt starts from.
async fn replay_some(
    db: &Db,
    spool: &mut Spool,
    dead: &DeadLetter,
    stats: &WriterStats,
    cfg: &WriterConfig,
) -> Result<()> {
    let chunk = spool.read_chunk(cfg.replay_chunk).await?;
    // A replay chunk is bigger than a live batch: allow it more time.
    let out = write_isolating(db, &chunk.records, cfg.slow * 5).await;
    stats
        .replayed
        .fetch_add(out.written as u64, Ordering::Relaxed);
    set_aside(dead, stats, out.rejected).await;
    match out.outage {
        None => spool.advance(chunk.next).await,
        Some((at, e)) => {
            spool.advance(chunk.offset_after(at)).await?;
            Err(e)
        }
    }
}
