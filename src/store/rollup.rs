//! Rollups: `tally_hour` (sums per UTC hour, queue and IVR bucket) and `tally_dims` (sums per
//! UTC day, queue, language, topic, agent and IVR bucket) at the default thresholds, so a
//! report over a year reads ≈ 10⁵ rows instead of a million calls (docs/performance.md).
//!
//! They are one more projection of `calls`: whenever `insert::upsert_calls` writes call rows,
//! the hours and days those calls started in (before and after the write) are recomputed from
//! `calls` in the same transaction (delete, then `INSERT … SELECT … GROUP BY`). So there is
//! nothing to keep in step by hand: a journal replay, a recovery or `rebuild_calls` rewrites
//! the same rows, and a log that predates the tables is filled by the same statements at open
//! (`backfill_if_missing`).
//!
//! The maintenance statements are not kept prepared (`persistent(false)`): PostgreSQL would
//! switch a cached statement to a generic plan after five runs, and a generic plan made while
//! `calls` was small (or had no statistics) scans the whole table for a range of slots.
//!
//! Owns: the rollup keys, the thresholds they are computed at, their maintenance, and when a
//! report may use them. Never does: read them for a report (`query`).

use std::collections::BTreeSet;

use sqlx::{AnyConnection, AssertSqlSafe};

use super::error::{Result, StoreError};
use super::schema::{DAY_MS, HOUR_MS, SLOT_MS};
use super::tally::tally_columns;
use crate::cdr::ivr;
use crate::cdr::tally::Params;

const SLOTS_PER_HOUR: i64 = HOUR_MS / SLOT_MS;
const SLOTS_PER_DAY: i64 = DAY_MS / SLOT_MS;

/// τ and T the rollups are computed at: `Params::default()`.
pub const SHORT_ABANDON_MS: i64 = 5_000;
pub const THRESHOLD_MS: i64 = 100_000;

/// Whether the rollups hold the sums a report with these thresholds needs: the report did not
/// ask for the raw path (`use_rollup`), τ and T are the rollups', and the range starts after
/// 1970 (keys are SQL integer divisions, which truncate).
pub fn answers(use_rollup: bool, from_ms: i64, p: &Params) -> bool {
    use_rollup
        && p.short_abandon_ms == SHORT_ABANDON_MS
        && p.threshold_ms == THRESHOLD_MS
        && from_ms >= 0
}

/// `[lo, hi)` runs of consecutive keys.
fn runs(keys: &BTreeSet<i64>) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = Vec::new();
    for &k in keys {
        match out.last_mut() {
            Some((_, hi)) if *hi == k => *hi = k + 1,
            _ => out.push((k, k + 1)),
        }
    }
    out
}

fn params() -> Params {
    Params {
        short_abandon_ms: SHORT_ABANDON_MS,
        threshold_ms: THRESHOLD_MS,
        ..Params::default()
    }
}

/// Recompute the rollup rows of the hours and days holding these 15-minute slots (the slots
/// of the call rows just written, and the slots they had before).
pub async fn refresh(conn: &mut AnyConnection, slots: &BTreeSet<i64>) -> Result<()> {
    // Negative slots (calls before 1970) are never read from the rollups (see `answers`).
    let hours: BTreeSet<i64> = slots
        .iter()
        .filter(|s| **s >= 0)
        .map(|s| s / SLOTS_PER_HOUR)
        .collect();
    let days: BTreeSet<i64> = slots
        .iter()
        .filter(|s| **s >= 0)
        .map(|s| s / SLOTS_PER_DAY)
        .collect();
    for (lo, hi) in runs(&hours) {
        refresh_keys(conn, &HOURS, lo, hi).await?;
    }
    for (lo, hi) in runs(&days) {
        refresh_keys(conn, &DAYS, lo, hi).await?;
    }
    Ok(())
}

/// One rollup table: its key (a whole number of 15-minute slots) and its dimensions.
struct Rollup {
    table: &'static str,
    key: &'static str,
    slots_per_key: i64,
    dims: &'static str,
}

const HOURS: Rollup = Rollup {
    table: "tally_hour",
    key: "hour",
    slots_per_key: SLOTS_PER_HOUR,
    dims: "queue, ivr_outcome",
};

const DAYS: Rollup = Rollup {
    table: "tally_dims",
    key: "day",
    slots_per_key: SLOTS_PER_DAY,
    dims: "queue, language, topic, agent, ivr_outcome",
};

/// Recompute `r`'s rows for keys `[lo, hi)`.
async fn refresh_keys(conn: &mut AnyConnection, r: &Rollup, lo: i64, hi: i64) -> Result<()> {
    let Rollup {
        table,
        key,
        slots_per_key: per,
        dims,
    } = r;
    let sql = format!(
        "INSERT INTO {table} ({key}, {dims}, n, o, a, ab, sab, aw, wa, mw, tk, wu) \
         SELECT slot15 / {per}, {dims}, {} FROM calls \
         WHERE slot15 >= $1 AND slot15 < $2 AND ivr_outcome <> '{}' \
         GROUP BY slot15 / {per}, {dims}",
        tally_columns(&params()),
        ivr::IN_PROGRESS
    );
    sqlx::query(AssertSqlSafe(format!(
        "DELETE FROM {table} WHERE {key} >= $1 AND {key} < $2"
    )))
    .bind(lo)
    .bind(hi)
    .persistent(false)
    .execute(&mut *conn)
    .await?;
    sqlx::query(AssertSqlSafe(sql))
        .bind(lo * per)
        .bind(hi * per)
        .persistent(false)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Fill the rollups of a log that has ended calls but no rollup rows (a log written before
/// migration 0002), in one transaction so an interrupted fill starts over at the next open.
pub async fn backfill_if_missing(pool: &sqlx::AnyPool) -> Result<()> {
    let mut tx = pool.begin().await.map_err(StoreError::unavailable)?;
    let empty = sqlx::query("SELECT 1 FROM tally_hour LIMIT 1")
        .fetch_optional(&mut *tx)
        .await?
        .is_none();
    let logged = empty
        && sqlx::query(AssertSqlSafe(format!(
            "SELECT 1 FROM calls WHERE slot15 >= 0 AND ivr_outcome <> '{}' LIMIT 1",
            ivr::IN_PROGRESS
        )))
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
    if logged {
        rebuild(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Recompute both rollups entirely from `calls` (what the migration's backfill does, in Rust;
/// for repairs and tests: every write path keeps them up through `insert::upsert_calls`).
pub async fn rebuild(conn: &mut AnyConnection) -> Result<()> {
    use sqlx::Row;
    let row = sqlx::query("SELECT MIN(slot15), MAX(slot15) FROM calls")
        .fetch_one(&mut *conn)
        .await?;
    let (lo, hi): (Option<i64>, Option<i64>) = (row.try_get(0)?, row.try_get(1)?);
    sqlx::query("DELETE FROM tally_hour")
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM tally_dims")
        .execute(&mut *conn)
        .await?;
    if let (Some(lo), Some(hi)) = (lo, hi) {
        let lo = lo.max(0);
        if hi >= lo {
            for r in [&HOURS, &DAYS] {
                let per = r.slots_per_key;
                refresh_keys(conn, r, lo / per, hi / per + 1).await?;
            }
        }
    }
    Ok(())
}

/// Split `[from_ms, to_ms)` into the whole units of `unit_ms` inside it, as keys `[lo, hi)`,
/// and the ragged ends before and after them (each `None` when empty). `None` overall when no
/// whole unit fits.
pub type Split = ((i64, i64), Option<(i64, i64)>, Option<(i64, i64)>);

pub fn split(from_ms: i64, to_ms: i64, unit_ms: i64) -> Option<Split> {
    let lo = from_ms.div_euclid(unit_ms) + i64::from(from_ms.rem_euclid(unit_ms) != 0);
    let hi = to_ms.div_euclid(unit_ms);
    if lo >= hi {
        return None;
    }
    let head = (from_ms < lo * unit_ms).then_some((from_ms, lo * unit_ms));
    let tail = (hi * unit_ms < to_ms).then_some((hi * unit_ms, to_ms));
    Some(((lo, hi), head, tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_of_keys() {
        let k: BTreeSet<i64> = [3, 4, 5, 9, 11, 12].into_iter().collect();
        assert_eq!(runs(&k), [(3, 6), (9, 10), (11, 13)]);
        assert!(runs(&BTreeSet::new()).is_empty());
    }

    #[test]
    fn ranges_split_into_whole_units_and_ragged_ends() {
        let d = DAY_MS;
        // Local days in Toronto start at 04:00 or 05:00 UTC.
        let from = 10 * d + 5 * HOUR_MS;
        let to = 20 * d + 4 * HOUR_MS;
        assert_eq!(
            split(from, to, d),
            Some(((11, 20), Some((from, 11 * d)), Some((20 * d, to))))
        );
        assert_eq!(split(10 * d, 20 * d, d), Some(((10, 20), None, None)));
        assert_eq!(split(from, 11 * d + HOUR_MS, d), None);
        assert_eq!(split(from, from + 1, d), None);
    }

    #[test]
    fn default_thresholds_are_the_rollups() {
        let p = Params::default();
        assert_eq!(
            (p.short_abandon_ms, p.threshold_ms),
            (SHORT_ABANDON_MS, THRESHOLD_MS)
        );
    }
}
