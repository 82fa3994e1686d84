//! Sums over call rows: [`Tally`] holds additive counts and durations (and one max) that a
//! database computes with `GROUP BY` and a report merges across slots; [`Params`] are the
//! thresholds a report chooses (τ, T); [`Dims`] the attributes a breakdown groups by.
//!
//! `Tally::add` is the definition; the store's SQL (`store::schema::tally_columns`) is its
//! twin, and a test on SQLite and PostgreSQL holds them equal. Never does: I/O, SQL, ratios or
//! formatting (`report::metrics`).

use serde::Serialize;

use super::{ivr, CallRow};

/// Thresholds a report chooses.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Params {
    /// τ: an abandon with a queue wait strictly under this is a short abandon.
    pub short_abandon_ms: i64,
    /// T: answered with a queue wait of at most this counts towards the service level.
    pub threshold_ms: i64,
    /// Target service level, percent (drawn on charts, flagged in tables).
    pub target_pct: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            short_abandon_ms: 5_000,
            threshold_ms: 100_000,
            target_pct: 80.0,
        }
    }
}

/// Sums over ended calls. Every field is additive (or a max), so tallies of slots merge into
/// tallies of intervals exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Calls that started (IVR included).
    pub calls: i64,
    /// O: calls that entered a queue.
    pub offered: i64,
    /// A: calls an agent answered.
    pub answered: i64,
    /// Ab: all abandons in queue (short ones included).
    pub abandoned: i64,
    /// Ab_s: abandons with wait < τ.
    pub short_abandoned: i64,
    /// Answered with wait ≤ T.
    pub answered_within: i64,
    /// Σ queue wait of answered calls.
    pub wait_answered_ms: i64,
    /// Longest queue wait of any offered call (answered or not).
    pub max_wait_ms: i64,
    /// Σ talk of answered calls.
    pub talk_ms: i64,
    /// Σ wrap-up of answered calls.
    pub wrapup_ms: i64,
    /// Calls that asked for a callback (a flow-out).
    pub callbacks: i64,
    /// Calls per IVR outcome bucket, in `cdr::ivr::ALL` order.
    pub ivr: [i64; 10],
}

impl Tally {
    /// Count one row; rows of calls still in progress are left out, as in the SQL.
    pub fn add(&mut self, r: &CallRow, p: &Params) {
        if r.end_ms.is_none() {
            return;
        }
        let wait = r.wait_ms.unwrap_or(0);
        self.calls += 1;
        self.offered += i64::from(r.offered);
        self.answered += i64::from(r.answered);
        self.abandoned += i64::from(r.abandoned);
        self.short_abandoned += i64::from(r.abandoned && wait < p.short_abandon_ms);
        self.answered_within += i64::from(r.answered && wait <= p.threshold_ms);
        if r.answered {
            self.wait_answered_ms += wait;
        }
        self.max_wait_ms = self.max_wait_ms.max(r.wait_ms.unwrap_or(0));
        self.talk_ms += r.talk_ms.unwrap_or(0);
        self.wrapup_ms += r.wrapup_ms.unwrap_or(0);
        self.callbacks += i64::from(r.callback);
        if let Some(i) = ivr::ALL.iter().position(|b| *b == r.ivr_outcome) {
            self.ivr[i] += 1;
        }
    }

    pub fn merge(&mut self, o: &Tally) {
        self.calls += o.calls;
        self.offered += o.offered;
        self.answered += o.answered;
        self.abandoned += o.abandoned;
        self.short_abandoned += o.short_abandoned;
        self.answered_within += o.answered_within;
        self.wait_answered_ms += o.wait_answered_ms;
        self.max_wait_ms = self.max_wait_ms.max(o.max_wait_ms);
        self.talk_ms += o.talk_ms;
        self.wrapup_ms += o.wrapup_ms;
        self.callbacks += o.callbacks;
        for (a, b) in self.ivr.iter_mut().zip(o.ivr) {
            *a += b;
        }
    }

    /// Handle time: talk (hold included) + wrap-up.
    pub fn handle_ms(&self) -> i64 {
        self.talk_ms + self.wrapup_ms
    }
}

/// Which attribute a breakdown groups by.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dims {
    pub queue: Option<String>,
    pub language: Option<String>,
    pub topic: Option<String>,
    pub agent: Option<String>,
}
