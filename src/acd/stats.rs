//! What a queue has learnt from its recent calls, for wait estimates: handle times (their mean,
//! and how long a call already running is still likely to last), how fast waiting callers give
//! up, and how long an offered agent takes to answer.
//!
//! Owns the arithmetic of these running figures. Never reads the clock (samples come with the
//! times the ACD saw) and never decides anything.

use std::collections::VecDeque;

/// The last `cap` handle times (talk + wrap-up), in arrival order and sorted, with suffix sums
/// of the sorted ones so that a mean residual life costs one binary search.
#[derive(Debug, Clone, Default)]
pub(super) struct HandleTimes {
    recent: VecDeque<u64>,
    sorted: Vec<u64>,
    /// `suffix[i]` = Σ sorted[i..].
    suffix: Vec<u64>,
    sum: u64,
}

/// A residual life needs this many longer calls to be estimated from them.
const MIN_TAIL: usize = 5;

/// Cumulative probabilities at which `residual_quantiles` cuts the rest of a call.
pub const RESIDUAL_P: [f64; 6] = [0.1, 0.25, 0.5, 0.75, 0.9, 1.0];
/// A residual distribution needs this many longer calls.
const MIN_TAIL_QUANTILES: usize = 10;

impl HandleTimes {
    pub(super) fn push(&mut self, ms: u64, cap: usize) {
        if cap == 0 {
            return;
        }
        while self.recent.len() >= cap {
            if let Some(old) = self.recent.pop_front() {
                self.sum = self.sum.saturating_sub(old);
                if let Ok(i) = self.sorted.binary_search(&old) {
                    self.sorted.remove(i);
                }
            }
        }
        self.recent.push_back(ms);
        self.sum = self.sum.saturating_add(ms);
        let i = self.sorted.partition_point(|&x| x < ms);
        self.sorted.insert(i, ms);
        self.suffix.clear();
        self.suffix.resize(self.sorted.len() + 1, 0);
        for i in (0..self.sorted.len()).rev() {
            self.suffix[i] = self.suffix[i + 1].saturating_add(self.sorted[i]);
        }
    }

    pub(super) fn len(&self) -> usize {
        self.recent.len()
    }

    /// Mean, or None before the first sample.
    pub(super) fn mean(&self) -> Option<u64> {
        let n = self.recent.len() as u64;
        (n > 0).then(|| self.sum / n)
    }

    /// Expected rest of a call that has lasted `elapsed` ms and has at least `left` ms to go
    /// (the wrap-up that follows the talk): the mean excess over `elapsed` of the recent calls
    /// that lasted longer than `elapsed + left`. None when fewer than a handful did (the caller
    /// falls back on the mean: nothing is known about so long a call).
    ///
    /// For exponential handle times this is the mean whatever the elapsed time (memoryless);
    /// for the skewed times of real calls it first falls, then grows: a call that has run
    /// three times the mean is more likely a long case than about to end.
    pub(super) fn mean_residual(&self, elapsed: u64, left: u64) -> Option<u64> {
        let i = self
            .sorted
            .partition_point(|&x| x <= elapsed.saturating_add(left));
        let n = self.sorted.len() - i;
        if n < MIN_TAIL {
            return None;
        }
        let excess = self.suffix[i].saturating_sub(elapsed.saturating_mul(n as u64));
        Some(excess / n as u64)
    }
}

impl HandleTimes {
    /// How long a call that has lasted `elapsed` ms, with at least `left` ms still to go (its
    /// wrap-up: an agent still talking has the whole of it ahead), still runs, as residual
    /// times at the cumulative probabilities `RESIDUAL_P`, from the recent calls that lasted
    /// longer than `elapsed + left` (empirically: no assumed shape). None with fewer than a
    /// few such calls.
    ///
    /// This is what makes the first free moment right for real calls: an agent still talking
    /// is at least a wrap-up away from free, and a call that has just begun is unlikely to end
    /// in the next half-minute — which a memoryless model of the same mean would not see.
    pub(super) fn residual_quantiles(&self, elapsed: u64, left: u64) -> Option<[u64; 6]> {
        let i = self
            .sorted
            .partition_point(|&x| x <= elapsed.saturating_add(left));
        let tail = &self.sorted[i..];
        let n = tail.len();
        if n < MIN_TAIL_QUANTILES {
            return None;
        }
        let mut q = [0u64; 6];
        for (k, p) in RESIDUAL_P.iter().enumerate() {
            let idx = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
            q[k] = tail[idx].saturating_sub(elapsed);
        }
        Some(q)
    }
}

/// How often waiting callers leave the queue without being served (hang up, or overflow to
/// another node): departures per ms of waiting, the maximum-likelihood rate of exponential
/// patience (departures / total time waited, every caller's wait counted until they left,
/// whichever way). Exponentially weighted over about `SPAN` callers so it follows the day.
///
/// Counted from `SKIP_MS` into the wait: a caller who hangs up within seconds (a misdial, a
/// change of mind) says nothing about the callers already holding ahead of someone. And
/// `PRIOR_MS` of waiting without a departure is assumed, so that the first few hang-ups of
/// the day do not make the line look like it empties by itself.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Leaving {
    departures: f64,
    waited_ms: f64,
}

const SPAN: f64 = 500.0;
const SKIP_MS: u64 = 5_000;
const PRIOR_MS: f64 = 600_000.0;

impl Leaving {
    /// One caller stopped waiting after `waited_ms`; `departed`: without being served.
    pub(super) fn record(&mut self, waited_ms: u64, departed: bool) {
        let keep = 1.0 - 1.0 / SPAN;
        let counted = departed && waited_ms >= SKIP_MS;
        self.departures = self.departures * keep + f64::from(u8::from(counted));
        self.waited_ms = self.waited_ms * keep + waited_ms.saturating_sub(SKIP_MS) as f64;
    }

    /// Seed from history (e.g. rebuilt from the call log): `departures` in `waited_ms`.
    pub(super) fn seed(&mut self, departures: u64, waited_ms: u64, callers: u64) {
        // Scale totals down to the weight `SPAN` callers carry, keeping the rate.
        let scale = if callers as f64 > SPAN {
            SPAN / callers as f64
        } else {
            1.0
        };
        self.departures = departures as f64 * scale;
        self.waited_ms = waited_ms as f64 * scale;
    }

    /// Departures per ms per waiting caller; 0 before any departure.
    pub(super) fn rate(&self) -> f64 {
        if self.departures > 0.0 {
            self.departures / (self.waited_ms + PRIOR_MS)
        } else {
            0.0
        }
    }
}

/// Mean time from an offer to the agent's answer (the last part of every caller's wait).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct RingTime {
    mean_ms: f64,
    n: u32,
}

impl RingTime {
    pub(super) fn record(&mut self, ms: u64) {
        self.n = self.n.saturating_add(1);
        let w = 1.0 / f64::from(self.n.min(100));
        self.mean_ms += (ms as f64 - self.mean_ms) * w;
    }

    pub(super) fn mean_ms(&self) -> u64 {
        self.mean_ms.max(0.0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handle_times_keep_a_window_mean_and_residuals() {
        let mut h = HandleTimes::default();
        assert_eq!(h.mean(), None);
        for ms in [100, 200, 300, 400, 500, 600] {
            h.push(ms, 5);
        }
        assert_eq!(h.len(), 5, "the oldest (100) left the window");
        assert_eq!(h.mean(), Some(400));
        // Calls longer than 150: all five, mean excess 400 − 150.
        assert_eq!(h.mean_residual(150, 0), Some(250));
        // Longer than 450: only two calls: not enough to say.
        assert_eq!(h.mean_residual(450, 0), None);
        assert_eq!(h.mean_residual(0, 0), Some(400));
    }

    #[test]
    fn residual_quantiles_of_a_young_and_an_old_call() {
        let mut h = HandleTimes::default();
        for ms in (1..=100).map(|i| i * 10) {
            h.push(ms, 200);
        }
        // Lasted 0: the whole distribution.
        assert_eq!(
            h.residual_quantiles(0, 0),
            Some([100, 250, 500, 750, 900, 1000])
        );
        // Lasted 500: the 50 longer calls, minus 500.
        assert_eq!(
            h.residual_quantiles(500, 0),
            Some([50, 130, 250, 380, 450, 500])
        );
        assert_eq!(
            h.residual_quantiles(950, 0),
            None,
            "only 5 calls lasted longer"
        );
        // Lasted 400 and still talking with 100 of wrap-up to go: the calls over 500.
        assert_eq!(
            h.residual_quantiles(400, 100),
            Some([150, 230, 350, 480, 550, 600])
        );
    }

    #[test]
    fn residual_of_skewed_calls_grows_with_their_age() {
        // A few long calls among short ones: after the short ones would have ended, the
        // expected rest is longer than the mean.
        let mut h = HandleTimes::default();
        for i in 0..100 {
            h.push(if i % 10 == 0 { 1_000 } else { 100 }, 200);
        }
        let mean = h.mean().unwrap();
        assert_eq!(mean, 190);
        assert_eq!(h.mean_residual(150, 0), Some(850));
        assert!(h.mean_residual(150, 0).unwrap() > mean);
    }

    #[test]
    fn leaving_rate_is_departures_over_time_waited() {
        let mut l = Leaving::default();
        assert_eq!(l.rate(), 0.0);
        l.record(2_000, true);
        assert_eq!(l.rate(), 0.0, "a hang-up within seconds is not patience");
        l.record(305_000, true);
        l.record(405_000, false);
        // 1 departure in (300 + 400) s counted + 600 s assumed (older ones weigh a little
        // less).
        let r = l.rate();
        assert!((r * 1_300_000.0 - 1.0).abs() < 0.01, "{r}");
        let mut s = Leaving::default();
        s.seed(100, 20_000_000, 100);
        assert!((s.rate() - 100.0 / 20_600_000.0).abs() < 1e-12);
    }

    #[test]
    fn ring_time_is_a_running_mean() {
        let mut r = RingTime::default();
        assert_eq!(r.mean_ms(), 0);
        r.record(2_000);
        r.record(4_000);
        assert_eq!(r.mean_ms(), 3_000);
    }
}
