//! Callbacks still owed, read back from the call log at start-up: calls that ended as
//! `callback` (the caller kept their place and hung up), with their number, language and
//! topic, and what the callback calls pointing at them (`from` = `callback:<call>`) became.
//! The log is the one record: no separate table of callbacks is kept.

use sqlx::Row;

use super::error::Result;
use super::query;
use super::Db;
use crate::event::EventKind;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookedCallback {
    /// The log id of the call that asked for it.
    pub call: String,
    /// When the caller asked (ms): the callback keeps that place in the queue.
    pub requested_ms: i64,
    pub queue: String,
    pub language: String,
    pub topic: Option<String>,
    pub number: String,
    /// The callback calls made for it so far: outcome (`callback:completed`, …) and end (None
    /// while one is in progress).
    pub attempts: Vec<(String, Option<i64>)>,
}

/// Callbacks asked for since `since_ms`, oldest first.
pub async fn booked_since(db: &Db, since_ms: i64) -> Result<Vec<BookedCallback>> {
    let rows = sqlx::query(
        "SELECT call_id, start_ms, queue, language, topic FROM calls \
         WHERE outcome = 'callback' AND start_ms >= $1 ORDER BY start_ms",
    )
    .bind(since_ms)
    .fetch_all(&db.pool)
    .await?;
    let mut out = Vec::new();
    for r in rows {
        let call: String = r.try_get(0)?;
        let start_ms: i64 = r.try_get(1)?;
        let queue: Option<String> = r.try_get(2)?;
        let language: Option<String> = r.try_get(3)?;
        let topic: Option<String> = r.try_get(4)?;
        let events = query::events(db, &call).await?;
        if events
            .iter()
            .any(|e| matches!(e.kind, EventKind::CallbackCancelled { .. }))
        {
            continue;
        }
        let Some((at, q, number)) = events.iter().find_map(|e| match &e.kind {
            EventKind::CallbackRequested { queue, number } => {
                Some((e.at_ms, queue.clone(), number.clone()))
            }
            _ => None,
        }) else {
            continue;
        };
        let attempts =
            sqlx::query("SELECT outcome, end_ms FROM calls WHERE from_uri = $1 ORDER BY start_ms")
                .bind(format!("callback:{call}"))
                .fetch_all(&db.pool)
                .await?
                .iter()
                .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<Option<i64>, _>(1)?)))
                .collect::<std::result::Result<Vec<_>, sqlx::Error>>()?;
        out.push(BookedCallback {
            call,
            requested_ms: at.max(start_ms),
            queue: queue.unwrap_or(q),
            language: language.unwrap_or_else(|| "fr".into()),
            topic,
            number,
            attempts,
        });
    }
    Ok(out)
}
