//! Reads: call rows, a call's events, agent state changes, and the grouped sums reports are
//! built from (with `tally`'s SQL twin of `cdr::tally::Tally::add`, from the rollups where
//! they answer exactly).
//!
//! Owns: the SQL text of reads and the choice between rollups and raw rows. Never does:
//! ratios, intervals or formatting (`report`).

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::db::Db;
use super::error::Result;
use super::rollup;
use super::schema::{
    call_from_row, event_from_row, opt_i64, opt_str, CALL_COLUMNS, DAY_MS, HOUR_MS, SLOT_COLUMN,
    SLOT_MS,
};
use super::tally::{folded_tally_columns, folded_tally_from_row, tally_columns, tally_from_row};
use crate::cdr::agent::{CALL_DRIVEN_STATES, STAFFING_STATES};
use crate::cdr::tally::{Dims, Params, Tally};
use crate::cdr::{ivr, CallRow};
use crate::event::{AgentEvent, CallEvent};

/// Calls that started in `[from_ms, to_ms)`, by start time then id.
pub async fn calls(db: &Db, from_ms: i64, to_ms: i64) -> Result<Vec<CallRow>> {
    let sql = format!(
        "SELECT {} FROM calls WHERE start_ms >= $1 AND start_ms < $2 ORDER BY start_ms, call_id",
        CALL_COLUMNS.join(", ")
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(call_from_row)
        .collect()
}

/// The events of the calls that started in `[from_ms, to_ms)`, in time order (then call, seq):
/// what `report::waits` replays. Reads the calls through their 15-minute slot (indexed) and
/// each call's events by its key.
pub async fn events_of_calls(db: &Db, from_ms: i64, to_ms: i64) -> Result<Vec<CallEvent>> {
    let sql = format!(
        "SELECT e.call_id, e.seq, e.at_ms, e.data FROM calls c \
         JOIN call_events e ON e.call_id = c.call_id \
         WHERE c.{SLOT_COLUMN} >= $1 AND c.{SLOT_COLUMN} < $2 AND c.start_ms >= $3 AND c.start_ms < $4 \
         ORDER BY e.at_ms, e.call_id, e.seq"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(from_ms.div_euclid(SLOT_MS))
        .bind(to_ms.div_euclid(SLOT_MS) + 1)
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(event_from_row)
        .collect()
}

/// Every call row, by id.
pub async fn all_calls(db: &Db) -> Result<Vec<CallRow>> {
    let sql = format!(
        "SELECT {} FROM calls ORDER BY call_id",
        CALL_COLUMNS.join(", ")
    );
    sqlx::query(AssertSqlSafe(sql))
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(call_from_row)
        .collect()
}

pub async fn call(db: &Db, call_id: &str) -> Result<Option<CallRow>> {
    let sql = format!(
        "SELECT {} FROM calls WHERE call_id = $1",
        CALL_COLUMNS.join(", ")
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(call_id)
        .fetch_optional(&db.pool)
        .await?
        .as_ref()
        .map(call_from_row)
        .transpose()
}

/// A call's events in order.
pub async fn events(db: &Db, call_id: &str) -> Result<Vec<CallEvent>> {
    sqlx::query("SELECT call_id, seq, at_ms, data FROM call_events WHERE call_id = $1 ORDER BY seq")
        .bind(call_id)
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(event_from_row)
        .collect()
}

/// Number of stored call events (tests: nothing lost, nothing duplicated).
pub async fn count_events(db: &Db) -> Result<i64> {
    Ok(sqlx::query("SELECT COUNT(*) FROM call_events")
        .fetch_one(&db.pool)
        .await?
        .try_get(0)?)
}

/// Agent state changes in `[from_ms, to_ms)`, sorted by (agent, at_ms). With `skip_call_driven`
/// the states that only ever follow a ready state are left out (staffed time does not need
/// them, and they are most of the rows).
pub async fn agent_events(
    db: &Db,
    from_ms: i64,
    to_ms: i64,
    skip_call_driven: bool,
) -> Result<Vec<AgentEvent>> {
    let filter = if skip_call_driven {
        let list: Vec<String> = CALL_DRIVEN_STATES
            .iter()
            .map(|s| format!("'{s}'"))
            .collect();
        format!(" AND state NOT IN ({})", list.join(","))
    } else {
        String::new()
    };
    let sql = format!(
        "SELECT agent, at_ms, state, reason FROM agent_events \
         WHERE at_ms >= $1 AND at_ms < $2{filter} ORDER BY agent, at_ms"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(AgentEvent {
                agent: r.try_get(0)?,
                at_ms: r.try_get(1)?,
                state: r.try_get(2)?,
                reason: opt_str(r, 3)?,
            })
        })
        .collect()
}

/// Agents becoming available or reserved in `[from_ms, to_ms)`, in time order (what
/// `report::waits` needs to see an agent idle; read through the (state, at_ms) index).
pub async fn availability(db: &Db, from_ms: i64, to_ms: i64) -> Result<Vec<AgentEvent>> {
    sqlx::query(
        "SELECT agent, at_ms, state, reason FROM agent_events \
         WHERE state IN ('available', 'reserved') AND at_ms >= $1 AND at_ms < $2 \
         ORDER BY at_ms, agent, state",
    )
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|r| {
        Ok(AgentEvent {
            agent: r.try_get(0)?,
            at_ms: r.try_get(1)?,
            state: r.try_get(2)?,
            reason: opt_str(r, 3)?,
        })
    })
    .collect()
}

/// The changes of staffing class (logged out / paused / ready) of every agent over
/// `[from_ms, to_ms)`, as synthetic state changes sorted by (agent, at_ms), without reading
/// the per-call states that make up most of `agent_events`: the log-outs and pauses (index on
/// `state, at_ms`), the change that follows each (primary key seek), and each agent's first
/// event ever. Feed to `metrics::agent_time`. An agent with no log-out or pause in the window
/// is not seen.
pub async fn staffing_changes(db: &Db, from_ms: i64, to_ms: i64) -> Result<Vec<AgentEvent>> {
    let list: Vec<String> = STAFFING_STATES.iter().map(|s| format!("'{s}'")).collect();
    let sql = format!(
        "SELECT e.agent, e.at_ms, e.state, \
         (SELECT MIN(n.at_ms) FROM agent_events n WHERE n.agent = e.agent AND n.at_ms > e.at_ms) \
         FROM agent_events e WHERE e.state IN ({}) AND e.at_ms >= $1 AND e.at_ms < $2 \
         ORDER BY e.agent, e.at_ms",
        list.join(",")
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&db.pool)
        .await?;
    let mut changes: Vec<(String, i64, String, Option<i64>)> = Vec::with_capacity(rows.len());
    for r in &rows {
        changes.push((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, opt_i64(r, 3)?));
    }
    let mut out = Vec::with_capacity(changes.len() * 2);
    let ready = |agent: &str, at_ms: i64| AgentEvent {
        agent: agent.to_string(),
        at_ms,
        state: "available".into(),
        reason: None,
    };
    let mut i = 0;
    while i < changes.len() {
        let agent = changes[i].0.clone();
        let mut j = i;
        while j < changes.len() && changes[j].0 == agent {
            j += 1;
        }
        let first_ever: Option<i64> =
            sqlx::query("SELECT MIN(at_ms) FROM agent_events WHERE agent = $1")
                .bind(agent.as_str())
                .fetch_one(&db.pool)
                .await?
                .try_get(0)?;
        // Before its first log-out or pause the agent was ready (you log out or pause from a
        // ready state), since its first event ever or the window start.
        let start = from_ms.max(first_ever.unwrap_or(from_ms));
        if start < changes[i].1 {
            out.push(ready(&agent, start));
        }
        for k in i..j {
            let (_, at, state, next) = &changes[k];
            out.push(AgentEvent {
                agent: agent.clone(),
                at_ms: *at,
                state: state.clone(),
                reason: None,
            });
            // What follows is ready, unless it is itself a log-out or pause we hold.
            if let Some(nx) = next {
                let held = changes
                    .get(k + 1)
                    .is_some_and(|c| c.0 == agent && c.1 == *nx);
                if !held && *nx < to_ms {
                    out.push(ready(&agent, *nx));
                }
            }
        }
        i = j;
    }
    Ok(out)
}

/// Which calls a report sums.
#[derive(Debug, Clone)]
pub struct Range {
    pub from_ms: i64,
    pub to_ms: i64,
    pub queue: Option<String>,
    /// Whether the rollups may answer (where they can exactly; see `rollup::answers`). False
    /// reads every call, as `report --no-rollup` does.
    pub rollup: bool,
}

/// The WHERE clause. The slot bounds let the covering indexes (which start with `slot15`)
/// range-scan; `start_ms` is tested only when an edge falls inside a slot. Calls in progress
/// are left out by their IVR bucket, not here. Binds: $1 from, $2 to, [$3 queue].
fn range_filter(r: &Range) -> String {
    let lo = r.from_ms.div_euclid(SLOT_MS);
    let hi = (r.to_ms - 1).div_euclid(SLOT_MS);
    let queue = if r.queue.is_some() {
        "queue = $3 AND "
    } else {
        ""
    };
    let mut w = format!("{queue}slot15 >= {lo} AND slot15 <= {hi}");
    // Both backends want every bind used: compare with them even when they are slot edges.
    if r.from_ms % SLOT_MS != 0 || r.to_ms % SLOT_MS != 0 {
        w.push_str(" AND start_ms >= $1 AND start_ms < $2");
    } else {
        w.push_str(" AND $1 <= $2");
    }
    w
}

/// Tallies of ended calls per slot (`start_ms / slot_ms`), one per slot.
pub async fn tally_by_slot(
    db: &Db,
    r: &Range,
    slot_ms: i64,
    p: &Params,
) -> Result<Vec<(i64, Tally)>> {
    let slot_ms = slot_ms.max(1);
    if rollup::answers(r.rollup, r.from_ms, p)
        && slot_ms % HOUR_MS == 0
        && r.from_ms % HOUR_MS == 0
        && r.to_ms % HOUR_MS == 0
    {
        return tally_by_slot_rollup(db, r, slot_ms / HOUR_MS).await;
    }
    // Two steps. Inside, the sums per stored 15-minute slot and IVR bucket: that is the order
    // of the covering indexes (`slot15, ivr_outcome, …`, after `queue` for one queue), so both
    // backends aggregate while they scan, with no sort or hash of a million rows. Outside, those
    // few rows are folded into the report's slot with the IVR buckets side by side, so one row
    // per slot comes back (each row costs ≈ 2–8 µs through sqlx's SQLite driver). Odd edges
    // (a report from 10:07) group by the expression instead: slower but exact.
    let (inner, outer) = if slot_ms % SLOT_MS == 0 {
        let outer = match slot_ms / SLOT_MS {
            1 => "k".to_string(),
            d => format!("k / {d}"),
        };
        (SLOT_COLUMN.to_string(), outer)
    } else {
        (format!("start_ms / {slot_ms}"), "k".to_string())
    };
    let sql = format!(
        "SELECT {outer} AS slot, {} FROM (\
         SELECT {inner} AS k, ivr_outcome, {} FROM calls WHERE {} GROUP BY {inner}, ivr_outcome\
         ) s WHERE ivr_outcome <> '{}' GROUP BY {outer}",
        folded_tally_columns(),
        tally_columns(p),
        range_filter(r),
        ivr::IN_PROGRESS,
    );
    let mut q = sqlx::query(AssertSqlSafe(sql))
        .bind(r.from_ms)
        .bind(r.to_ms);
    if let Some(queue) = &r.queue {
        q = q.bind(queue.as_str());
    }
    let mut out = Vec::new();
    for row in q.fetch_all(&db.pool).await? {
        let slot: i64 = row.try_get(0)?;
        out.push((slot, folded_tally_from_row(&row, 1)?));
    }
    Ok(out)
}

/// `tally_by_slot` from `tally_hour`: `r` is whole hours, a slot is `hours` hours.
async fn tally_by_slot_rollup(db: &Db, r: &Range, hours: i64) -> Result<Vec<(i64, Tally)>> {
    let slot = match hours {
        1 => "hour".to_string(),
        d => format!("hour / {d}"),
    };
    let queue = if r.queue.is_some() {
        " AND queue = $3"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {slot} AS slot, {} FROM tally_hour WHERE hour >= $1 AND hour < $2{queue} \
         GROUP BY {slot}",
        folded_tally_columns()
    );
    let mut q = sqlx::query(AssertSqlSafe(sql))
        .bind(r.from_ms / HOUR_MS)
        .bind(r.to_ms / HOUR_MS);
    if let Some(queue) = &r.queue {
        q = q.bind(queue.as_str());
    }
    let mut out = Vec::new();
    for row in q.fetch_all(&db.pool).await? {
        let slot: i64 = row.try_get(0)?;
        out.push((slot, folded_tally_from_row(&row, 1)?));
    }
    Ok(out)
}

/// Tallies of ended calls per (queue, language, topic, agent). With the rollups: the whole UTC
/// days of the range from `tally_dims`, its ragged ends (a local midnight is 04:00 or 05:00
/// UTC) from `calls`; the rows of the parts are folded together by the report.
pub async fn tally_by_dims(db: &Db, r: &Range, p: &Params) -> Result<Vec<(Dims, Tally)>> {
    if rollup::answers(r.rollup, r.from_ms, p) {
        if let Some(((lo, hi), head, tail)) = rollup::split(r.from_ms, r.to_ms, DAY_MS) {
            let part = |edge: Option<(i64, i64)>| async move {
                match edge {
                    Some((from_ms, to_ms)) => {
                        let sub = Range {
                            from_ms,
                            to_ms,
                            queue: r.queue.clone(),
                            rollup: false,
                        };
                        tally_by_dims_raw(db, &sub, p).await
                    }
                    None => Ok(Vec::new()),
                }
            };
            let (mut out, head, tail) =
                tokio::try_join!(tally_by_dims_rollup(db, r, lo, hi), part(head), part(tail))?;
            out.extend(head);
            out.extend(tail);
            return Ok(out);
        }
    }
    tally_by_dims_raw(db, r, p).await
}

/// Past this many days, `tally_by_dims_rollup` scans the whole breakdown index (≈ 0.1 s per
/// year of history on SQLite) rather than sorting the range's rows (≈ 0.3 s per year).
const LONG_RANGE_DAYS: i64 = 31;

/// `tally_by_dims` over UTC days `[lo, hi)` from `tally_dims`.
async fn tally_by_dims_rollup(db: &Db, r: &Range, lo: i64, hi: i64) -> Result<Vec<(Dims, Tally)>> {
    let sums: Vec<String> = ["n", "o", "a", "ab", "sab", "aw", "wa", "mw", "tk", "wu"]
        .iter()
        .map(|c| {
            let f = if *c == "mw" { "MAX" } else { "SUM" };
            format!("CAST({f}({c}) AS BIGINT) AS {c}")
        })
        .collect();
    let queue = if r.queue.is_some() {
        " AND queue = $3"
    } else {
        ""
    };
    // Over a long range, `+day` (not indexable) steers SQLite to the covering index in GROUP BY
    // order (`tally_dims_group`), read whole without a sort; over a few days the `day` index
    // and a small sort are cheaper. PostgreSQL hashes either way.
    let day = if hi - lo > LONG_RANGE_DAYS {
        "+day"
    } else {
        "day"
    };
    let sql = format!(
        "SELECT queue, language, topic, agent, ivr_outcome, {} FROM tally_dims \
         WHERE {day} >= $1 AND {day} < $2{queue} \
         GROUP BY queue, language, topic, agent, ivr_outcome",
        sums.join(", ")
    );
    let mut q = sqlx::query(AssertSqlSafe(sql)).bind(lo).bind(hi);
    if let Some(queue) = &r.queue {
        q = q.bind(queue.as_str());
    }
    dims_rows(q.fetch_all(&db.pool).await?)
}

/// `(Dims, Tally)` from rows of queue, language, topic, agent, IVR bucket and the sums.
fn dims_rows(rows: Vec<AnyRow>) -> Result<Vec<(Dims, Tally)>> {
    let mut out = Vec::new();
    for row in rows {
        let dims = Dims {
            queue: opt_str(&row, 0)?,
            language: opt_str(&row, 1)?,
            topic: opt_str(&row, 2)?,
            agent: opt_str(&row, 3)?,
        };
        if let Some(t) = tally_from_row(&row, 5)? {
            out.push((dims, t));
        }
    }
    Ok(out)
}

/// `tally_by_dims` from every call of the range.
async fn tally_by_dims_raw(db: &Db, r: &Range, p: &Params) -> Result<Vec<(Dims, Tally)>> {
    let sql = format!(
        "SELECT queue, language, topic, agent, ivr_outcome, {} FROM calls WHERE {} \
         GROUP BY queue, language, topic, agent, ivr_outcome",
        tally_columns(p),
        range_filter(r)
    );
    let mut q = sqlx::query(AssertSqlSafe(sql))
        .bind(r.from_ms)
        .bind(r.to_ms);
    if let Some(queue) = &r.queue {
        q = q.bind(queue.as_str());
    }
    dims_rows(q.fetch_all(&db.pool).await?)
}
