//! Today's figures per queue, from local midnight to now: the wallboard's and `/metrics`'
//! service level and abandon rate. The same tallies and formulas as `centrale report` (one
//! event log, no second count), each queue judged against its own service-level threshold.
//!
//! Owns: choosing today's range and the per-queue threshold. Never does: cache or serve.

use std::collections::BTreeMap;

use super::interval::report_tz;
use super::metrics::{Breakdowns, Figures, Params};
use crate::store::query::{self, Range};
use crate::store::Db;

/// Per queue: its figures since local midnight (ended calls only).
pub async fn today(
    db: &Db,
    now_ms: i64,
    short_abandon_ms: i64,
    thresholds_s: &BTreeMap<String, u32>,
) -> anyhow::Result<BTreeMap<String, Figures>> {
    let tz = report_tz()?;
    let now = jiff::Timestamp::from_millisecond(now_ms)?;
    let midnight = now.to_zoned(tz).start_of_day()?.timestamp();
    let range = Range {
        from_ms: midnight.as_millisecond(),
        to_ms: now_ms + 1,
        queue: None,
        rollup: true,
    };
    let mut distinct: Vec<u32> = thresholds_s.values().copied().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.is_empty() {
        distinct.push(100);
    }
    let mut out = BTreeMap::new();
    for t in distinct {
        let p = Params {
            short_abandon_ms,
            threshold_ms: i64::from(t) * 1000,
            target_pct: 80.0,
        };
        let rows = query::tally_by_dims(db, &range, &p).await?;
        for (queue, tally) in Breakdowns::fold(&rows).queue {
            if thresholds_s.get(&queue).copied().unwrap_or(100) == t {
                out.insert(queue, Figures::new(&tally, None));
            }
        }
    }
    Ok(out)
}
