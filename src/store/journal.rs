//! The local journal: an append-only file of JSON lines (one `event::Record` per line) that
//! holds batches the database did not take because it was unavailable, fsync'd once per batch,
//! until they are replayed.
//!
//! Two files live in the journal directory: `spool.jsonl` for this run's batches, and
//! `backlog.jsonl` for what earlier runs left (moved there at open, so the start-up replay and
//! recovery see exactly the previous runs' records, never this run's). Records the database
//! refused go to a third file, `dead-letter.jsonl` (`dead_letter`), never here.
//!
//! Owns: file layout, appending + fsync, reading back in order from an offset, truncating once
//! drained. Never does: talk to the database or decide when to replay (`writer`). All file I/O
//! runs on the blocking pool, never on a runtime worker.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::error::{Result, StoreError};
use crate::event::Record;

pub const SPOOL: &str = "spool.jsonl";
pub const BACKLOG: &str = "backlog.jsonl";

/// One journal file and how far it has been replayed.
#[derive(Debug)]
pub struct Spool {
    path: PathBuf,
    /// Bytes already replayed into the database.
    offset: u64,
    /// Bytes written (as far as this process knows).
    len: u64,
}

/// Records read back from a spool, with where each one ends in the file.
#[derive(Debug, Default)]
pub struct Chunk {
    pub records: Vec<Record>,
    /// Offset of the chunk's first byte.
    pub start: u64,
    /// `ends[i]`: the offset just after record `i`'s line.
    pub ends: Vec<u64>,
    /// The offset after the whole chunk (lines skipped at its end included).
    pub next: u64,
}

impl Chunk {
    /// Where replay resumes once the first `n` records are done (all of them: `next`).
    pub fn offset_after(&self, n: usize) -> u64 {
        if n >= self.records.len() {
            self.next
        } else if n == 0 {
            self.start
        } else {
            self.ends.get(n - 1).copied().unwrap_or(self.start)
        }
    }
}

/// Runs blocking file work off the runtime; a panicked or cancelled task is an I/O error.
pub(super) async fn blocking<T: Send + 'static>(
    action: &'static str,
    path: &Path,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(StoreError::file(action, path, std::io::Error::other(e))),
    }
}

impl Spool {
    fn open(path: PathBuf) -> Result<Spool> {
        let len = match std::fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(StoreError::file("reading", &path, e)),
        };
        Ok(Spool {
            path,
            offset: 0,
            len,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records not replayed yet?
    pub fn pending(&self) -> bool {
        self.offset < self.len
    }

    /// Append records and fsync them.
    pub async fn append(&mut self, records: &[Record]) -> Result<()> {
        let mut buf = Vec::with_capacity(records.len() * 160);
        for r in records {
            serde_json::to_writer(&mut buf, r)?;
            buf.push(b'\n');
        }
        let path = self.path.clone();
        let n = buf.len() as u64;
        blocking("appending to", &self.path, move || {
            let write = || -> std::io::Result<()> {
                let mut f = OpenOptions::new().create(true).append(true).open(&path)?;
                f.write_all(&buf)?;
                f.sync_data()
            };
            write().map_err(|e| StoreError::file("appending to", &path, e))
        })
        .await?;
        self.len += n;
        Ok(())
    }

    /// Up to `max` records from the replay offset. A line that does not parse (a write torn by
    /// `kill -9`) is skipped with a warning.
    pub async fn read_chunk(&self, max: usize) -> Result<Chunk> {
        let path = self.path.clone();
        let offset = self.offset;
        blocking("reading", &self.path, move || {
            read_lines(&path, offset, max)
        })
        .await
    }

    /// Mark records up to `offset` as replayed; the file is emptied once all are.
    pub async fn advance(&mut self, offset: u64) -> Result<()> {
        self.offset = offset;
        if self.offset >= self.len {
            let path = self.path.clone();
            blocking("removing", &self.path, move || {
                match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        Err(StoreError::file("removing", &path, e))
                    }
                    _ => Ok(()),
                }
            })
            .await?;
            self.offset = 0;
            self.len = 0;
        }
        Ok(())
    }
}

fn read_lines(path: &Path, offset: u64, max: usize) -> Result<Chunk> {
    let io = |e: std::io::Error| StoreError::file("reading", path, e);
    let mut chunk = Chunk {
        start: offset,
        next: offset,
        ..Chunk::default()
    };
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(chunk),
        Err(e) => return Err(io(e)),
    };
    f.seek(SeekFrom::Start(offset)).map_err(io)?;
    let mut reader = BufReader::new(f);
    let mut pos = offset;
    let mut line = String::new();
    while chunk.records.len() < max {
        line.clear();
        let n = reader.read_line(&mut line).map_err(io)?;
        if n == 0 {
            break;
        }
        pos += n as u64;
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        match serde_json::from_str::<Record>(text) {
            Ok(r) => {
                chunk.records.push(r);
                chunk.ends.push(pos);
            }
            Err(e) => tracing::warn!(
                file = %path.display(),
                at = pos - n as u64,
                error = %e,
                "skipping a torn journal line"
            ),
        }
    }
    chunk.next = pos;
    Ok(chunk)
}

/// The journal directory: this run's spool and earlier runs' backlog.
#[derive(Debug)]
pub struct Journal {
    pub spool: Spool,
    pub backlog: Spool,
}

impl Journal {
    /// Open `dir` (created if missing). A spool left by an earlier run is appended to the
    /// backlog, so this run starts with an empty spool.
    pub fn open(dir: &Path) -> Result<Journal> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::file("creating journal directory", dir, e))?;
        let spool = dir.join(SPOOL);
        let backlog = dir.join(BACKLOG);
        if std::fs::metadata(&spool)
            .map(|m| m.len() > 0)
            .unwrap_or(false)
        {
            let carry = || -> std::io::Result<()> {
                let mut src = File::open(&spool)?;
                let mut dst = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&backlog)?;
                // A torn last line must not glue onto the next record.
                dst.write_all(b"\n")?;
                std::io::copy(&mut src, &mut dst)?;
                dst.sync_data()?;
                std::fs::remove_file(&spool)
            };
            carry().map_err(|e| StoreError::file("moving the spool to", &backlog, e))?;
        }
        Ok(Journal {
            spool: Spool::open(spool)?,
            backlog: Spool::open(backlog)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{AgentEvent, CallEvent, EventKind};

    fn rec(i: u32) -> Record {
        Record::Call(CallEvent {
            call: "c".into(),
            seq: i,
            at_ms: i64::from(i),
            kind: EventKind::Answered,
        })
    }

    #[tokio::test]
    async fn append_read_advance_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path()).unwrap();
        assert!(!j.spool.pending());
        let agent = Record::Agent(AgentEvent {
            agent: "a1".into(),
            at_ms: 5,
            state: "available".into(),
            reason: None,
        });
        j.spool
            .append(&[rec(0), rec(1), agent.clone()])
            .await
            .unwrap();
        j.spool.append(&[rec(2)]).await.unwrap();
        assert!(j.spool.pending());
        let a = j.spool.read_chunk(2).await.unwrap();
        assert_eq!(a.records, vec![rec(0), rec(1)]);
        // Half a chunk done: the next read starts at its second record.
        j.spool.advance(a.offset_after(1)).await.unwrap();
        let again = j.spool.read_chunk(1).await.unwrap();
        assert_eq!(again.records, vec![rec(1)]);
        j.spool.advance(a.offset_after(2)).await.unwrap();
        let b = j.spool.read_chunk(10).await.unwrap();
        assert_eq!(b.records, vec![agent, rec(2)]);
        j.spool.advance(b.next).await.unwrap();
        assert!(!j.spool.pending());
        assert!(!dir.path().join(SPOOL).exists(), "drained spool is removed");
    }

    #[tokio::test]
    async fn leftover_spool_becomes_backlog_and_torn_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut j = Journal::open(dir.path()).unwrap();
            j.spool.append(&[rec(0), rec(1)]).await.unwrap();
        }
        // kill -9 in the middle of a write
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join(SPOOL))
            .unwrap();
        f.write_all(br#"{"call":"c","seq":2,"at"#).unwrap();
        drop(f);
        let mut j = Journal::open(dir.path()).unwrap();
        assert!(!j.spool.pending());
        assert!(j.backlog.pending());
        j.spool.append(&[rec(9)]).await.unwrap();
        let b = j.backlog.read_chunk(100).await.unwrap();
        assert_eq!(b.records, vec![rec(0), rec(1)]);
        j.backlog.advance(b.next).await.unwrap();
        assert!(!j.backlog.pending());
        let s = j.spool.read_chunk(100).await.unwrap();
        assert_eq!(s.records, vec![rec(9)]);
    }
}
