//! The SQL twin of `cdr::tally::Tally::add`: the `SELECT` lists that sum `calls` rows (or
//! rollup rows) into tallies, and the tallies read back. Rollup maintenance (`rollup`) and
//! report reads (`query`) both use it, so there is one text of each sum; a test on SQLite and
//! PostgreSQL holds it equal to the Rust.
//!
//! Owns: those expressions and their decoding. Never does: run a statement, or compute ratios.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::error::Result;
use super::schema::opt_i64;
use crate::cdr::ivr;
use crate::cdr::tally::{Params, Tally};

/// The `SELECT` list computing a `Tally`'s sums for rows grouped by `ivr_outcome` (the IVR
/// counts and callbacks come from the group), named `n, o, a, ab, sab, aw, wa, mw, tk, wu`. τ and
/// T are integers we computed, inlined so the same text works on both backends without casts.
/// Few aggregates per row is what makes a year of calls fast, hence no CASE per IVR bucket here.
pub fn tally_columns(p: &Params) -> String {
    let cols = [
        ("COUNT(*)".to_string(), "n"),
        ("SUM(offered)".into(), "o"),
        ("SUM(answered)".into(), "a"),
        ("SUM(abandoned)".into(), "ab"),
        (
            format!(
                "SUM(CASE WHEN abandoned = 1 AND wait_ms < {} THEN 1 ELSE 0 END)",
                p.short_abandon_ms
            ),
            "sab",
        ),
        (
            format!(
                "SUM(CASE WHEN answered = 1 AND wait_ms <= {} THEN 1 ELSE 0 END)",
                p.threshold_ms
            ),
            "aw",
        ),
        // NULLs (calls never queued or answered) are skipped by SUM and MAX.
        ("SUM(answered * wait_ms)".into(), "wa"),
        ("MAX(wait_ms)".into(), "mw"),
        ("SUM(talk_ms)".into(), "tk"),
        ("SUM(wrapup_ms)".into(), "wu"),
    ];
    // PostgreSQL sums BIGINT into NUMERIC, which the Any driver cannot decode (and which is
    // slower to sum again).
    cols.iter()
        .map(|(c, name)| format!("CAST({c} AS BIGINT) AS {name}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The outer `SELECT` list folding `tally_columns` rows (one per finer slot and IVR bucket)
/// into one row per coarser slot: the sums, then the calls of each IVR bucket in `ivr::ALL`
/// order (a CASE per bucket costs nothing here: these are thousands of rows, not a million).
pub fn folded_tally_columns() -> String {
    let mut cols: Vec<String> = ["n", "o", "a", "ab", "sab", "aw", "wa"]
        .iter()
        .map(|c| format!("CAST(SUM({c}) AS BIGINT)"))
        .collect();
    cols.push("CAST(MAX(mw) AS BIGINT)".into());
    cols.push("CAST(SUM(tk) AS BIGINT)".into());
    cols.push("CAST(SUM(wu) AS BIGINT)".into());
    for b in ivr::ALL {
        cols.push(format!(
            "CAST(SUM(CASE WHEN ivr_outcome = '{b}' THEN n ELSE 0 END) AS BIGINT)"
        ));
    }
    cols.join(", ")
}

/// A `Tally` from `folded_tally_columns` starting at column `first`.
pub fn folded_tally_from_row(row: &AnyRow, first: usize) -> Result<Tally> {
    let g = |i: usize| -> Result<i64> { Ok(opt_i64(row, first + i)?.unwrap_or(0)) };
    let mut ivr_counts = [0i64; 10];
    for (k, c) in ivr_counts.iter_mut().enumerate() {
        *c = g(10 + k)?;
    }
    let callback = ivr::ALL.iter().position(|b| *b == ivr::CALLBACK);
    Ok(Tally {
        calls: g(0)?,
        offered: g(1)?,
        answered: g(2)?,
        abandoned: g(3)?,
        short_abandoned: g(4)?,
        answered_within: g(5)?,
        wait_answered_ms: g(6)?,
        max_wait_ms: g(7)?,
        talk_ms: g(8)?,
        wrapup_ms: g(9)?,
        callbacks: callback.map_or(0, |k| ivr_counts[k]),
        ivr: ivr_counts,
    })
}

/// A `Tally` from `ivr_outcome` at column `first - 1` and the `tally_columns` from `first`;
/// `None` for calls still in progress (reports count ended calls only).
pub fn tally_from_row(row: &AnyRow, first: usize) -> Result<Option<Tally>> {
    let g = |i: usize| -> Result<i64> { Ok(opt_i64(row, first + i)?.unwrap_or(0)) };
    let bucket: String = row.try_get(first - 1)?;
    if bucket == ivr::IN_PROGRESS {
        return Ok(None);
    }
    let calls = g(0)?;
    let mut ivr_counts = [0i64; 10];
    if let Some(k) = ivr::ALL.iter().position(|b| *b == bucket) {
        ivr_counts[k] = calls;
    }
    Ok(Some(Tally {
        calls,
        offered: g(1)?,
        answered: g(2)?,
        abandoned: g(3)?,
        short_abandoned: g(4)?,
        answered_within: g(5)?,
        wait_answered_ms: g(6)?,
        max_wait_ms: g(7)?,
        talk_ms: g(8)?,
        wrapup_ms: g(9)?,
        callbacks: if bucket == ivr::CALLBACK { calls } else { 0 },
        ivr: ivr_counts,
    }))
}
