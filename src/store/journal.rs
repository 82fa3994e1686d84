//! The local journal: an append-only file of JSON lines (one `event::Record` per line) that
//! holds batches the database did not take, fsync'd once per batch, until they are replayed.
//!
//! Two files live in the journal directory: `spool.jsonl` for this run's batches, and
//! `backlog.jsonl` for what earlier runs left (moved there at open, so the start-up replay and
//! recovery see exactly the previous runs' records, never this run's).
//!
//! Owns: file layout, appending + fsync, reading back in order from an offset, truncating once
//! drained. Never does: talk to the database or decide when to replay (`writer`). All file I/O
//! runs on the blocking pool, never on a runtime worker.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

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

impl Spool {
    fn open(path: PathBuf) -> anyhow::Result<Spool> {
        let len = match std::fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
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
    pub async fn append(&mut self, records: &[Record]) -> anyhow::Result<()> {
        let mut buf = Vec::with_capacity(records.len() * 160);
        for r in records {
            serde_json::to_writer(&mut buf, r)?;
            buf.push(b'\n');
        }
        let path = self.path.clone();
        let n = buf.len() as u64;
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let mut f = OpenOptions::new().create(true).append(true).open(&path)?;
            f.write_all(&buf)?;
            f.sync_data()?;
            Ok(())
        })
        .await??;
        self.len += n;
        Ok(())
    }

    /// Up to `max` records from the replay offset, and the offset after them. A line that does
    /// not parse (a write torn by `kill -9`) is skipped with a warning.
    pub async fn read_chunk(&self, max: usize) -> anyhow::Result<(Vec<Record>, u64)> {
        let path = self.path.clone();
        let offset = self.offset;
        tokio::task::spawn_blocking(move || read_lines(&path, offset, max)).await?
    }

    /// Mark records up to `offset` as replayed; the file is emptied once all are.
    pub async fn advance(&mut self, offset: u64) -> anyhow::Result<()> {
        self.offset = offset;
        if self.offset >= self.len {
            let path = self.path.clone();
            tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
                    _ => Ok(()),
                }
            })
            .await??;
            self.offset = 0;
            self.len = 0;
        }
        Ok(())
    }
}

fn read_lines(path: &Path, offset: u64, max: usize) -> anyhow::Result<(Vec<Record>, u64)> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((vec![], offset)),
        Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
    };
    f.seek(SeekFrom::Start(offset))?;
    let mut reader = BufReader::new(f);
    let mut out = Vec::new();
    let mut pos = offset;
    let mut line = String::new();
    while out.len() < max {
        line.clear();
        let n = reader.read_line(&mut line)?;
        if n == 0 {
            break;
        }
        pos += n as u64;
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        match serde_json::from_str::<Record>(text) {
            Ok(r) => out.push(r),
            Err(e) => tracing::warn!(
                file = %path.display(),
                at = pos - n as u64,
                error = %e,
                "skipping a torn journal line"
            ),
        }
    }
    Ok((out, pos))
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
    pub fn open(dir: &Path) -> anyhow::Result<Journal> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating journal directory {}", dir.display()))?;
        let spool = dir.join(SPOOL);
        let backlog = dir.join(BACKLOG);
        if std::fs::metadata(&spool)
            .map(|m| m.len() > 0)
            .unwrap_or(false)
        {
            let mut src = File::open(&spool)?;
            let mut dst = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&backlog)?;
            // A torn last line must not glue onto the next record.
            dst.write_all(b"\n")?;
            std::io::copy(&mut src, &mut dst)?;
            dst.sync_data()?;
            std::fs::remove_file(&spool)?;
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
        let (a, off) = j.spool.read_chunk(2).await.unwrap();
        assert_eq!(a, vec![rec(0), rec(1)]);
        j.spool.advance(off).await.unwrap();
        let (b, off) = j.spool.read_chunk(10).await.unwrap();
        assert_eq!(b, vec![agent, rec(2)]);
        j.spool.advance(off).await.unwrap();
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
        let (b, off) = j.backlog.read_chunk(100).await.unwrap();
        assert_eq!(b, vec![rec(0), rec(1)]);
        j.backlog.advance(off).await.unwrap();
        assert!(!j.backlog.pending());
        let (s, _) = j.spool.read_chunk(100).await.unwrap();
        assert_eq!(s, vec![rec(9)]);
    }
}
