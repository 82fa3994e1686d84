//! Closing calls that a crash left open. At start-up (after the journal backlog is replayed,
//! before any event of this run is written) every call whose row has no end gets a synthetic
//! `call_ended { outcome: "interrupted", side: "system", cause: "restart" }` at the time of
//! its last stored event, written through the normal idempotent path so its row is recomputed.
//!
//! Owns: finding open calls and the synthetic event. Never does: run while this process has
//! calls of its own in the database (the writer guarantees the ordering).

use sqlx::Row;

use super::db::Db;
use super::error::Result;
use super::insert::{apply, group_by_call, load_events};
use crate::event::{CallEvent, EventKind, Record};

pub const INTERRUPTED: &str = "interrupted";

/// Close every open call; returns their ids.
pub async fn close_interrupted(db: &Db) -> Result<Vec<String>> {
    let ids: Vec<String> = sqlx::query("SELECT call_id FROM calls WHERE end_ms IS NULL")
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?;
    for chunk in ids.chunks(500) {
        let mut tx = db.begin().await?;
        let events = load_events(&mut tx, chunk).await?;
        let closing: Vec<Record> = group_by_call(events)
            .iter()
            .filter_map(|evs| closing_event(evs).map(Record::Call))
            .collect();
        apply(&mut tx, &closing).await?;
        tx.commit().await?;
    }
    if !ids.is_empty() {
        tracing::warn!(
            count = ids.len(),
            "closed calls left open by an earlier run as interrupted"
        );
    }
    Ok(ids)
}

/// The synthetic end of an open call (`None` if it has ended after all).
pub fn closing_event(events: &[CallEvent]) -> Option<CallEvent> {
    if events
        .iter()
        .any(|e| matches!(e.kind, EventKind::CallEnded { .. }))
    {
        return None;
    }
    let last = events.iter().max_by_key(|e| e.seq)?;
    Some(CallEvent {
        call: last.call.clone(),
        seq: last.seq + 1,
        at_ms: events.iter().map(|e| e.at_ms).max().unwrap_or(last.at_ms),
        kind: EventKind::CallEnded {
            outcome: INTERRUPTED.into(),
            side: "system".into(),
            cause: "restart".into(),
        },
    })
}
