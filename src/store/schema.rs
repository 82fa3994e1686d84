//! The tables as Rust sees them: the column order of `calls` (`cdr::CallRow`'s field order),
//! the time keys rows are grouped by (15-minute slots, UTC hours and days), and rows decoded
//! back into events and call rows.
//!
//! The tables themselves are created by `migrations/*.sql` (applied by `db`). Owns: column
//! lists, key widths and row decoding. Never does: run a statement.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::error::{Result, StoreError};
use crate::cdr::CallRow;
use crate::event::CallEvent;

/// `calls` columns in bind order (`cdr::CallRow` field order).
pub const CALL_COLUMNS: [&str; 32] = [
    "call_id",
    "sip_call_id",
    "from_uri",
    "to_uri",
    "entry",
    "plan_version",
    "start_ms",
    "answer_ms",
    "end_ms",
    "language",
    "menu_path",
    "outcome",
    "ivr_outcome",
    "queue",
    "topic",
    "agent",
    "queued_ms",
    "agent_answer_ms",
    "offered",
    "answered",
    "abandoned",
    "callback",
    "wait_ms",
    "talk_ms",
    "wrapup_ms",
    "ring_no_answer",
    "redirect_target",
    "hangup_side",
    "hangup_cause",
    "last_ms",
    "last_seq",
    "transfers",
];

/// The derived grouping column of `calls` (not part of `CallRow`): `start_ms / SLOT_MS`.
pub const SLOT_COLUMN: &str = "slot15";
pub const SLOT_MS: i64 = 900_000;

/// `tally_hour.hour` = `start_ms / HOUR_MS` = `slot15 / 4`.
pub const HOUR_MS: i64 = 3_600_000;
/// `tally_dims.day` = `start_ms / DAY_MS` = `slot15 / 96` (a UTC day).
pub const DAY_MS: i64 = 86_400_000;

pub fn opt_i64(row: &AnyRow, i: usize) -> Result<Option<i64>> {
    Ok(row.try_get::<Option<i64>, _>(i)?)
}

pub fn opt_str(row: &AnyRow, i: usize) -> Result<Option<String>> {
    Ok(row.try_get::<Option<String>, _>(i)?)
}

/// A `calls` row selected with `CALL_COLUMNS`.
pub fn call_from_row(row: &AnyRow) -> Result<CallRow> {
    let flag = |i: usize| -> Result<bool> { Ok(row.try_get::<i64, _>(i)? != 0) };
    Ok(CallRow {
        call_id: row.try_get(0)?,
        sip_call_id: opt_str(row, 1)?,
        from_uri: opt_str(row, 2)?,
        to_uri: opt_str(row, 3)?,
        entry: opt_str(row, 4)?,
        plan_version: opt_str(row, 5)?,
        start_ms: row.try_get(6)?,
        answer_ms: opt_i64(row, 7)?,
        end_ms: opt_i64(row, 8)?,
        language: opt_str(row, 9)?,
        menu_path: opt_str(row, 10)?,
        outcome: row.try_get(11)?,
        ivr_outcome: row.try_get(12)?,
        queue: opt_str(row, 13)?,
        topic: opt_str(row, 14)?,
        agent: opt_str(row, 15)?,
        queued_ms: opt_i64(row, 16)?,
        agent_answer_ms: opt_i64(row, 17)?,
        offered: flag(18)?,
        answered: flag(19)?,
        abandoned: flag(20)?,
        callback: flag(21)?,
        wait_ms: opt_i64(row, 22)?,
        talk_ms: opt_i64(row, 23)?,
        wrapup_ms: opt_i64(row, 24)?,
        ring_no_answer: row.try_get(25)?,
        redirect_target: opt_str(row, 26)?,
        hangup_side: opt_str(row, 27)?,
        hangup_cause: opt_str(row, 28)?,
        last_ms: row.try_get(29)?,
        last_seq: row.try_get(30)?,
        transfers: row.try_get(31)?,
    })
}

/// A `call_events` row (call_id, seq, at_ms, data) back into an event.
pub fn event_from_row(row: &AnyRow) -> Result<CallEvent> {
    let seq: i64 = row.try_get(1)?;
    let data: String = row.try_get(3)?;
    Ok(CallEvent {
        call: row.try_get(0)?,
        seq: u32::try_from(seq)
            .map_err(|_| StoreError::data(format!("event seq {seq} out of range")))?,
        at_ms: row.try_get(2)?,
        kind: serde_json::from_str(&data)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_whole_slots() {
        assert_eq!(HOUR_MS % SLOT_MS, 0);
        assert_eq!(DAY_MS % HOUR_MS, 0);
        assert_eq!(CALL_COLUMNS.len(), 32);
    }
}
