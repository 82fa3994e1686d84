//! Idempotent writes: a batch of records goes in one transaction as multi-row
//! `INSERT … ON CONFLICT DO NOTHING` (so a journal replay never duplicates), then the `calls`
//! rows of the calls the batch started, ended or wrapped up are recomputed from ALL their
//! stored events with `cdr::summarize` and upserted, and the rollups of the hours and days
//! those calls started in are recomputed from `calls` (`rollup`). Statement shapes come from
//! `sql` (why they are what they are is explained there).
//!
//! Owns: the SQL text of writes. Never does: batching, timing, journaling or retries
//! (`writer`), or reads for reports (`query`).

use std::collections::BTreeSet;

use sqlx::{AnyConnection, AssertSqlSafe, Row};

use super::error::Result;
use super::rollup;
use super::schema::{event_from_row, CALL_COLUMNS, SLOT_COLUMN, SLOT_MS};
use super::sql::{in_list, in_list_size, ladder_chunks, placeholders, Backend, ROW_LADDER};
use crate::cdr::{summarize, CallRow};
use crate::event::{AgentEvent, CallEvent, EventKind, Record};

/// Write a batch: events, agent events, then the affected `calls` rows. The caller owns the
/// transaction.
pub async fn apply(conn: &mut AnyConnection, records: &[Record]) -> Result<()> {
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

pub async fn insert_events(conn: &mut AnyConnection, events: &[&CallEvent]) -> Result<()> {
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

pub async fn insert_agent_events(conn: &mut AnyConnection, events: &[&AgentEvent]) -> Result<()> {
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
pub async fn upsert_calls(conn: &mut AnyConnection, rows: &[CallRow]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = rows.iter().map(|r| r.call_id.as_str()).collect();
    let mut slots = stored_slots(conn, &ids).await?;
    slots.extend(rows.iter().map(|r| r.start_ms.div_euclid(SLOT_MS)));
    write_calls(conn, rows).await?;
    rollup::refresh(conn, &slots).await
}

/// The 15-minute slots these calls' stored rows start in (calls not stored yet have none).
async fn stored_slots(conn: &mut AnyConnection, ids: &[&str]) -> Result<BTreeSet<i64>> {
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
async fn write_calls(conn: &mut AnyConnection, rows: &[CallRow]) -> Result<()> {
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
                .bind(r.transfers)
                .bind(r.start_ms.div_euclid(SLOT_MS));
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// All stored events of these calls, ordered by (call, seq).
pub async fn load_events(conn: &mut AnyConnection, ids: &[String]) -> Result<Vec<CallEvent>> {
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
