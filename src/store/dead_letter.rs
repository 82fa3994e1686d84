//! The dead-letter file: records the database rejected (see `error`), set aside so that later
//! batches keep flowing, and kept so that nothing is silently dropped: an operator can read
//! why, fix the data or the database, and feed the records back (`centrale` never does by
//! itself).
//!
//! `dead-letter.jsonl` in the journal directory, one JSON object per line, appended and
//! fsync'd:
//! `{"at":"2027-01-15T13:04:05.123Z","reason":"database rejected the data: …","code":"23514",
//!   "records":[{…event::Record…}]}`
//! `at` is when the records were set aside (UTC), `reason` the error as logged, `code` the
//! database's own code when it gave one (SQLSTATE or SQLite extended result code), `records`
//! the rejected records in their journal form (usually one: the writer isolates the records a
//! batch was rejected for).
//!
//! Owns: that file's layout, appending + fsync, reading it back. Never does: decide what is
//! rejected (`writer`, `error`), or talk to the database. File I/O runs on the blocking pool.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{Result, StoreError};
use super::journal::blocking;
use crate::event::Record;

pub const DEAD_LETTER: &str = "dead-letter.jsonl";

/// One line of the dead-letter file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// RFC 3339, UTC.
    pub at: String,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub records: Vec<Record>,
}

impl Entry {
    /// Records set aside now for `error`.
    pub fn new(records: Vec<Record>, error: &StoreError) -> Entry {
        Entry {
            at: jiff::Timestamp::now().to_string(),
            reason: error.to_string(),
            code: error.code(),
            records,
        }
    }
}

/// The dead-letter file of a journal directory.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    path: PathBuf,
}

impl DeadLetter {
    pub fn in_dir(dir: &Path) -> DeadLetter {
        DeadLetter {
            path: dir.join(DEAD_LETTER),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append entries and fsync them.
    pub async fn append(&self, entries: &[Entry]) -> Result<()> {
        let mut buf = Vec::with_capacity(entries.len() * 400);
        for e in entries {
            serde_json::to_writer(&mut buf, e)?;
            buf.push(b'\n');
        }
        let path = self.path.clone();
        blocking("appending to", &self.path, move || {
            let write = || -> std::io::Result<()> {
                let mut f = OpenOptions::new().create(true).append(true).open(&path)?;
                f.write_all(&buf)?;
                f.sync_data()
            };
            write().map_err(|e| StoreError::file("appending to", &path, e))
        })
        .await
    }

    /// Every entry written so far (none if the file does not exist); a line that does not
    /// parse is skipped with a warning.
    pub fn read_all(&self) -> Result<Vec<Entry>> {
        let io = |e: std::io::Error| StoreError::file("reading", &self.path, e);
        let f = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(e)),
        };
        let mut out = Vec::new();
        for line in BufReader::new(f).lines() {
            let line = line.map_err(io)?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Entry>(&line) {
                Ok(e) => out.push(e),
                Err(e) => tracing::warn!(
                    file = %self.path.display(),
                    error = %e,
                    "skipping an unreadable dead-letter line"
                ),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{CallEvent, EventKind};

    #[tokio::test]
    async fn entries_round_trip_one_per_line() {
        let dir = tempfile::tempdir().unwrap();
        let dl = DeadLetter::in_dir(dir.path());
        assert!(dl.read_all().unwrap().is_empty());
        let rec = Record::Call(CallEvent {
            call: "c".into(),
            seq: 0,
            at_ms: 1,
            kind: EventKind::Answered,
        });
        let e = Entry::new(vec![rec.clone()], &StoreError::data("bad"));
        dl.append(&[e.clone(), e.clone()]).await.unwrap();
        let text = std::fs::read_to_string(dir.path().join(DEAD_LETTER)).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.starts_with("{\"at\":\""), "{text}");
        let back = dl.read_all().unwrap();
        assert_eq!(back, vec![e.clone(), e]);
        assert_eq!(back[0].records, vec![rec]);
        assert_eq!(back[0].reason, "database rejected the data: bad");
    }
}
