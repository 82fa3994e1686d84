//! A caller's recent calls, for the agent desktop's screen pop: when, about what, how it ended,
//! who took it and the disposition they chose. Read from `calls` (by the caller index of
//! migration 0003) and the `disposition` events.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::Row;

use super::Db;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PastCall {
    pub call: String,
    pub start_ms: i64,
    pub queue: Option<String>,
    pub topic: Option<String>,
    pub outcome: String,
    pub agent: Option<String>,
    pub disposition: Option<String>,
    pub note: Option<String>,
}

/// Up to `limit` calls from `caller` since `since_ms`, newest first, leaving out `except`.
pub async fn recent_calls(
    db: &Db,
    caller: &str,
    since_ms: i64,
    except: &str,
    limit: i64,
) -> Result<Vec<PastCall>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT call_id, start_ms, queue, topic, outcome, agent FROM calls \
         WHERE from_uri = $1 AND start_ms >= $2 AND call_id <> $3 \
         ORDER BY start_ms DESC LIMIT $4",
    )
    .bind(caller)
    .bind(since_ms)
    .bind(except)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    let mut calls: Vec<PastCall> = rows
        .iter()
        .map(|r| {
            Ok(PastCall {
                call: r.try_get(0)?,
                start_ms: r.try_get(1)?,
                queue: r.try_get(2)?,
                topic: r.try_get(3)?,
                outcome: r.try_get(4)?,
                agent: r.try_get(5)?,
                disposition: None,
                note: None,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    let mut by_call: HashMap<String, usize> = HashMap::new();
    for (i, c) in calls.iter().enumerate() {
        by_call.insert(c.call.clone(), i);
    }
    for c in calls.clone() {
        let rows = sqlx::query(
            "SELECT data FROM call_events WHERE call_id = $1 AND kind = 'disposition' \
             ORDER BY seq DESC LIMIT 1",
        )
        .bind(&c.call)
        .fetch_all(&db.pool)
        .await?;
        if let Some(row) = rows.first() {
            let data: String = row.try_get(0)?;
            if let Ok(crate::event::EventKind::Disposition { code, note, .. }) =
                serde_json::from_str(&data)
            {
                if let Some(&i) = by_call.get(&c.call) {
                    calls[i].disposition = Some(code);
                    calls[i].note = Some(note).filter(|n| !n.is_empty());
                }
            }
        }
    }
    Ok(calls)
}

/// The dispositions agents recorded for calls started in `[from_ms, to_ms)`: (queue, code),
/// the last one of each call (an agent may correct theirs).
pub async fn dispositions(
    db: &Db,
    from_ms: i64,
    to_ms: i64,
    queue: Option<&str>,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT c.call_id, c.queue, e.data FROM call_events e JOIN calls c ON c.call_id = e.call_id \
         WHERE e.kind = 'disposition' AND c.start_ms >= $1 AND c.start_ms < $2 \
         ORDER BY c.call_id, e.seq",
    )
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(&db.pool)
    .await?;
    let mut last: std::collections::BTreeMap<String, (String, String)> = Default::default();
    for r in rows {
        let call: String = r.try_get(0)?;
        let q: Option<String> = r.try_get(1)?;
        let data: String = r.try_get(2)?;
        let q = q.unwrap_or_else(|| "(none)".into());
        if queue.is_some_and(|want| want != q) {
            continue;
        }
        if let Ok(crate::event::EventKind::Disposition { code, .. }) = serde_json::from_str(&data) {
            last.insert(call, (q, code));
        }
    }
    Ok(last.into_values().collect())
}
