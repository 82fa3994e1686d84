//! Idempotent writes: a batch of records goes in one transaction as multi-row
//! `INSERT … ON CONFLICT DO NOTHING` (so a journal replay never duplicates), then the `calls`
//! rows of the calls the batch started, ended or wrapped up are recomputed from ALL their
//! stored events with `report::cdr::summarize` and upserted, and the rollups of the hours and
//! days those calls started in are recomputed from `calls` (`rollup`).
//!
//! Statement shapes are chosen for SQLite's sake (they cost PostgreSQL nothing): parameters are
//! anonymous `?` there, since sqlx binds a named or numbered one by asking SQLite its name, a
//! walk of the statement's parameter list (O(n²) per statement: it was 40 % of the server's
//! CPU at 1 000 calls/s); and multi-row statements have one of a few fixed row counts
//! (`ROW_LADDER`), so each connection prepares each shape once and its statement cache hits.
//! PostgreSQL keeps `$N`, which it requires.
//!
//! Owns: the SQL text of writes and the column list of `calls`. Never does: batching, timing,
//! journaling or retries (`writer`), or reads for reports (`query`).

use std::collections::BTreeSet;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};

use super::db::Backend;
use super::rollup;
use crate::event::{AgentEvent, CallEvent, EventKind, Record};
use crate::report::cdr::{summarize, CallRow};

/// Row counts of multi-row statements, largest first: a batch is cut greedily into these, so a
/// connection only ever prepares five shapes per table. The largest, 256 rows × 32 columns of
/// `calls`, is 8 192 parameters: under SQLite's 32 766 and PostgreSQL's 65 535.
pub const ROW_LADDER: [usize; 5] = [256, 64, 16, 4, 1];

/// `calls` columns in bind order (`report::cdr::CallRow` field order).
pub const CALL_COLUMNS: [&str; 31] = [
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
];

/// The derived grouping column of `calls` (not part of `CallRow`): `start_ms / SLOT_MS`.
pub const SLOT_COLUMN: &str = "slot15";
pub const SLOT_MS: i64 = 900_000;

/// `($1,$2,$3),($4,$5,$6)` (PostgreSQL) or `(?,?,?),(?,?,?)` (SQLite) for `rows` rows of
/// `cols` parameters.
pub fn placeholders(backend: Backend, rows: usize, cols: usize) -> String {
    let mut s = String::with_capacity(rows * (cols * 6 + 3));
    for r in 0..rows {
        if r > 0 {
            s.push(',');
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push(',');
            }
            push_mark(&mut s, backend, r * cols + c + 1);
        }
        s.push(')');
    }
    s
}

/// `$n` or `?` (SQLite binds anonymous parameters in order).
fn push_mark(s: &mut String, backend: Backend, n: usize) {
    match backend {
        Backend::Sqlite => s.push('?'),
        Backend::Postgres => {
            s.push('$');
            s.push_str(&n.to_string());
        }
    }
}

/// `items` cut greedily into slices whose lengths are all in `ROW_LADDER`.
pub fn ladder_chunks<T>(mut items: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        let n = ROW_LADDER.iter().copied().find(|n| *n <= items.len())?;
        let (head, rest) = items.split_at(n);
        items = rest;
        Some(head)
    })
}

/// Write a batch: events, agent events, then the affected `calls` rows. The caller owns the
/// transaction.
pub async fn apply(conn: &mut AnyConnection, records: &[Record]) -> anyhow::Result<()> {
    let mut calls = Vec::new();
    let mut agents = Vec::new();
    let mut touched = BTreeSet::new();
    for r in records {
        match r {
            Record::Call(e) => {
                if matches!(
                    e.kind,
                    EventKind::CallStarted { .. }
                        | EventKind::CallEnded { .. }
                        | EventKind::WrapupEnded { .. }
                        | EventKind::ResumedBy { .. }
                ) {
                    touched.insert(e.call.clone());
                }
                calls.push(e);
            }
            Record::Agent(a) => agents.push(a),
        }
    }
    insert_events(conn, &calls).await?;
    insert_agent_events(conn, &agents).await?;
    if !touched.is_empty() {
        let ids: Vec<String> = touched.into_iter().collect();
        let events = load_events(conn, &ids).await?;
        let rows: Vec<CallRow> = group_by_call(events)
            .iter()
            .map(|evs| summarize(evs))
            .collect();
        upsert_calls(conn, &rows).await?;
    }
    Ok(())
}

pub async fn insert_events(conn: &mut AnyConnection, events: &[&CallEvent]) -> anyhow::Result<()> {
    let backend = Backend::of_connection(conn);
    for chunk in ladder_chunks(events) {
        let sql = format!(
            "INSERT INTO call_events (call_id, seq, at_ms, kind, data) VALUES {} \
             ON CONFLICT DO NOTHING",
            placeholders(backend, chunk.len(), 5)
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for e in chunk {
            q = q
                .bind(e.call.as_str())
                .bind(i64::from(e.seq))
                .bind(e.at_ms)
                .bind(e.kind.name())
                .bind(serde_json::to_string(&e.kind)?);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

pub async fn insert_agent_events(
    conn: &mut AnyConnection,
    events: &[&AgentEvent],
) -> anyhow::Result<()> {
    let backend = Backend::of_connection(conn);
    for chunk in ladder_chunks(events) {
        let sql = format!(
            "INSERT INTO agent_events (agent, at_ms, state, reason) VALUES {} \
             ON CONFLICT DO NOTHING",
            placeholders(backend, chunk.len(), 4)
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for e in chunk {
            q = q
                .bind(e.agent.as_str())
                .bind(e.at_ms)
                .bind(e.state.as_str())
                .bind(e.reason.as_deref());
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Insert or replace `calls` rows (each call at most once per call of this function), and
/// recompute the rollups of the hours and days these calls started in, before and after.
pub async fn upsert_calls(conn: &mut AnyConnection, rows: &[CallRow]) -> anyhow::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = rows.iter().map(|r| r.call_id.as_str()).collect();
    let mut slots = stored_slots(conn, &ids).await?;
    slots.extend(rows.iter().map(|r| r.start_ms.div_euclid(SLOT_MS)));
    write_calls(conn, rows).await?;
    rollup::refresh(conn, &slots).await
}

/// `IN (…)` lists are padded with their last item up to a ladder size, so each statement has
/// one of a few shapes (a repeated item in `IN` changes nothing): the size for `n` items.
fn in_list_size(n: usize) -> usize {
    ROW_LADDER
        .iter()
        .rev()
        .copied()
        .find(|k| *k >= n)
        .unwrap_or(n)
}

/// `$1,…,$n` or `?,…,?`.
fn in_list(backend: Backend, size: usize) -> String {
    let mut list = String::with_capacity(size * 5);
    for i in 1..=size {
        if i > 1 {
            list.push(',');
        }
        push_mark(&mut list, backend, i);
    }
    list
}

/// The 15-minute slots these calls' stored rows start in (calls not stored yet have none).
async fn stored_slots(conn: &mut AnyConnection, ids: &[&str]) -> anyhow::Result<BTreeSet<i64>> {
    let backend = Backend::of_connection(conn);
    let mut out = BTreeSet::new();
    for chunk in ids.chunks(ROW_LADDER[0]) {
        let size = in_list_size(chunk.len());
        let sql = format!(
            "SELECT DISTINCT {SLOT_COLUMN} FROM calls WHERE call_id IN ({})",
            in_list(backend, size)
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(*id);
        }
        if let Some(last) = chunk.last() {
            for _ in chunk.len()..size {
                q = q.bind(*last);
            }
        }
        // Planned for these ids each time: a generic plan cached while `calls` was small
        // scans the table (see `rollup`).
        for row in q.persistent(false).fetch_all(&mut *conn).await? {
            out.insert(row.try_get::<i64, _>(0)?);
        }
    }
    Ok(out)
}

/// The `calls` upsert proper.
async fn write_calls(conn: &mut AnyConnection, rows: &[CallRow]) -> anyhow::Result<()> {
    let backend = Backend::of_connection(conn);
    let columns: Vec<&str> = CALL_COLUMNS.iter().copied().chain([SLOT_COLUMN]).collect();
    let updates: Vec<String> = columns[1..]
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    for chunk in ladder_chunks(rows) {
        let sql = format!(
            "INSERT INTO calls ({}) VALUES {} ON CONFLICT (call_id) DO UPDATE SET {}",
            columns.join(", "),
            placeholders(backend, chunk.len(), columns.len()),
            updates.join(", ")
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for r in chunk {
            q = q
                .bind(r.call_id.as_str())
                .bind(r.sip_call_id.as_deref())
                .bind(r.from_uri.as_deref())
                .bind(r.to_uri.as_deref())
                .bind(r.entry.as_deref())
                .bind(r.plan_version.as_deref())
                .bind(r.start_ms)
                .bind(r.answer_ms)
                .bind(r.end_ms)
                .bind(r.language.as_deref())
                .bind(r.menu_path.as_deref())
                .bind(r.outcome.as_str())
                .bind(r.ivr_outcome.as_str())
                .bind(r.queue.as_deref())
                .bind(r.topic.as_deref())
                .bind(r.agent.as_deref())
                .bind(r.queued_ms)
                .bind(r.agent_answer_ms)
                .bind(i64::from(r.offered))
                .bind(i64::from(r.answered))
                .bind(i64::from(r.abandoned))
                .bind(i64::from(r.callback))
                .bind(r.wait_ms)
                .bind(r.talk_ms)
                .bind(r.wrapup_ms)
                .bind(r.ring_no_answer)
                .bind(r.redirect_target.as_deref())
                .bind(r.hangup_side.as_deref())
                .bind(r.hangup_cause.as_deref())
                .bind(r.last_ms)
                .bind(r.last_seq)
                .bind(r.start_ms.div_euclid(SLOT_MS));
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// All stored events of these calls, ordered by (call, seq).
pub async fn load_events(
    conn: &mut AnyConnection,
    ids: &[String],
) -> anyhow::Result<Vec<CallEvent>> {
    let backend = Backend::of_connection(conn);
    let mut out = Vec::new();
    for chunk in ids.chunks(ROW_LADDER[0]) {
        let size = in_list_size(chunk.len());
        let list = in_list(backend, size);
        let sql = format!(
            "SELECT call_id, seq, at_ms, data FROM call_events WHERE call_id IN ({list}) \
             ORDER BY call_id, seq"
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(id.as_str());
        }
        if let Some(last) = chunk.last() {
            for _ in chunk.len()..size {
                q = q.bind(last.as_str());
            }
        }
        for row in q.fetch_all(&mut *conn).await? {
            out.push(event_from_row(&row)?);
        }
    }
    Ok(out)
}

/// A `call_events` row (call_id, seq, at_ms, data) back into an event.
pub fn event_from_row(row: &AnyRow) -> anyhow::Result<CallEvent> {
    let seq: i64 = row.try_get(1)?;
    let data: String = row.try_get(3)?;
    Ok(CallEvent {
        call: row.try_get(0)?,
        seq: u32::try_from(seq)?,
        at_ms: row.try_get(2)?,
        kind: serde_json::from_str(&data)?,
    })
}

/// Split events sorted by call into one vector per call.
pub fn group_by_call(events: Vec<CallEvent>) -> Vec<Vec<CallEvent>> {
    let mut out: Vec<Vec<CallEvent>> = Vec::new();
    for e in events {
        match out.last_mut() {
            Some(cur) if cur[0].call == e.call => cur.push(e),
            _ => out.push(vec![e]),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_numbering() {
        assert_eq!(
            placeholders(Backend::Postgres, 2, 3),
            "($1,$2,$3),($4,$5,$6)"
        );
        assert_eq!(placeholders(Backend::Postgres, 1, 1), "($1)");
        assert_eq!(placeholders(Backend::Sqlite, 2, 2), "(?,?),(?,?)");
    }

    #[test]
    fn batches_are_cut_into_ladder_sizes() {
        let v: Vec<u32> = (0..2000).collect();
        let sizes: Vec<usize> = ladder_chunks(&v).map(<[u32]>::len).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 2000);
        assert!(sizes.iter().all(|n| ROW_LADDER.contains(n)));
        // 7 × 256 + 3 × 64 + 1 × 16
        assert_eq!(sizes.len(), 11);
        let seen: Vec<u32> = ladder_chunks(&v).flatten().copied().collect();
        assert_eq!(seen, v, "in order, nothing lost");
        assert_eq!(ladder_chunks::<u32>(&[]).count(), 0);
    }
}
