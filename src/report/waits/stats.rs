//! Sums of wait samples into the figures of `report --waits`, per queue and load band: how many
//! announcements, what followed, and for our estimate and each baseline the bias (median and
//! mean of estimate − actual), absolute error (median, p90), relative error, and shares within
//! ±30 s and ±25 %; and the share of callers told under N minutes who waited longer.
//!
//! Errors are measured against the wait each caller would have had by holding (`track`): the
//! actual wait of answered callers, the potential wait of those who hung up or took a
//! callback. A caller whose potential wait is unknown but who held longer than N minutes
//! before leaving did wait longer than told, and counts in "waited longer".
//! Quantiles come from histograms (0.1 s, 0.1 %), so a year of simulated calls sums in bounded
//! memory. Never does I/O or formatting.

use std::collections::BTreeMap;

use serde::Serialize;

use super::track::{Outcome, Sample};

/// Load bands: callers at or ahead of this one per staffed agent able to take the call
/// (position ÷ agents) — how loaded the line was for this caller when told.
pub const BANDS: [(&str, f64); 5] = [
    ("<=0.5", 0.5),
    ("0.5-1", 1.0),
    ("1-2", 2.0),
    ("2-4", 4.0),
    (">4", f64::INFINITY),
];

/// The label of the band of a sample; "no-agent" when nobody staffed could take the call.
pub fn band(position: u32, agents: u32) -> &'static str {
    if agents == 0 {
        return "no-agent";
    }
    let load = f64::from(position) / f64::from(agents);
    BANDS
        .iter()
        .find(|(_, hi)| load <= *hi)
        .map_or(">4", |(l, _)| *l)
}

/// "Told under N minutes" thresholds.
pub const TOLD_UNDER_MIN: [u32; 4] = [1, 2, 5, 10];

/// A count per integer key (tenths of seconds, or thousandths), for exact-enough quantiles.
#[derive(Debug, Clone, Default)]
struct Hist {
    counts: BTreeMap<i64, u64>,
    n: u64,
}

impl Hist {
    fn add(&mut self, k: i64) {
        *self.counts.entry(k).or_insert(0) += 1;
        self.n += 1;
    }
    fn merge(&mut self, o: &Hist) {
        for (k, c) in &o.counts {
            *self.counts.entry(*k).or_insert(0) += c;
        }
        self.n += o.n;
    }
    /// The q-quantile (nearest rank), None when empty.
    fn quantile(&self, q: f64) -> Option<i64> {
        if self.n == 0 {
            return None;
        }
        let rank = ((q * self.n as f64).ceil() as u64).clamp(1, self.n);
        let mut seen = 0;
        for (k, c) in &self.counts {
            seen += c;
            if seen >= rank {
                return Some(*k);
            }
        }
        self.counts.keys().next_back().copied()
    }
}

/// Errors of one estimator against the actual waits of answered callers.
#[derive(Debug, Clone, Default)]
pub struct Errors {
    n: u64,
    sum_err_ms: f64,
    err_ds: Hist,
    abs_ds: Hist,
    rel_milli: Hist,
    within_30s: u64,
    within_25pct: u64,
}

/// An actual wait shorter than this is taken as this in relative errors (an error of 2 s on
/// a 1 s wait is not "200 %" to anyone).
const REL_FLOOR_MS: f64 = 10_000.0;

impl Errors {
    /// One estimate against the wait that followed.
    pub fn add(&mut self, estimate_ms: u64, actual_ms: u64) {
        let err = estimate_ms as f64 - actual_ms as f64;
        self.n += 1;
        self.sum_err_ms += err;
        self.err_ds.add((err / 100.0).round() as i64);
        self.abs_ds.add((err.abs() / 100.0).round() as i64);
        let rel = err.abs() / (actual_ms as f64).max(REL_FLOOR_MS);
        self.rel_milli.add((rel * 1000.0).round() as i64);
        self.within_30s += u64::from(err.abs() <= 30_000.0);
        self.within_25pct += u64::from(err.abs() <= 0.25 * actual_ms as f64);
    }

    fn merge(&mut self, o: &Errors) {
        self.n += o.n;
        self.sum_err_ms += o.sum_err_ms;
        self.err_ds.merge(&o.err_ds);
        self.abs_ds.merge(&o.abs_ds);
        self.rel_milli.merge(&o.rel_milli);
        self.within_30s += o.within_30s;
        self.within_25pct += o.within_25pct;
    }

    pub fn figures(&self) -> ErrorFigures {
        let pct = |x: u64| (self.n > 0).then(|| 100.0 * x as f64 / self.n as f64);
        let s = |h: &Hist, q| h.quantile(q).map(|d| d as f64 / 10.0);
        ErrorFigures {
            n: self.n,
            median_err_s: s(&self.err_ds, 0.5),
            mean_err_s: (self.n > 0).then(|| self.sum_err_ms / self.n as f64 / 1000.0),
            median_abs_s: s(&self.abs_ds, 0.5),
            p90_abs_s: s(&self.abs_ds, 0.9),
            median_rel_pct: self.rel_milli.quantile(0.5).map(|m| m as f64 / 10.0),
            within_30s_pct: pct(self.within_30s),
            within_25pct_pct: pct(self.within_25pct),
        }
    }
}

/// One estimator's figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ErrorFigures {
    /// Announcements judged (their wait by holding is known).
    pub n: u64,
    /// The bias: median of (estimate − actual), s; positive = pessimistic, negative =
    /// optimistic. Robust to the few callers whose turn came hours later.
    pub median_err_s: Option<f64>,
    /// Mean of (estimate − actual), s (dragged by those few).
    pub mean_err_s: Option<f64>,
    pub median_abs_s: Option<f64>,
    pub p90_abs_s: Option<f64>,
    /// Median of |estimate − actual| / max(actual, 10 s), percent.
    pub median_rel_pct: Option<f64>,
    pub within_30s_pct: Option<f64>,
    pub within_25pct_pct: Option<f64>,
}

/// The sums of one line (a queue and band, a queue, or everything).
#[derive(Debug, Clone, Default)]
pub struct Group {
    announcements: u64,
    late: u64,
    no_estimate: u64,
    /// Samples judged on a potential wait (the caller left).
    potential: u64,
    outcomes: [u64; 4],
    actual_s: Hist,
    ours: Errors,
    asterisk: Errors,
    naive: Errors,
    /// Per `TOLD_UNDER_MIN`: (told under N with a known outcome past N, of which waited ≥ N).
    told_under: [(u64, u64); 4],
}

impl Group {
    pub fn add(&mut self, s: &Sample) {
        self.announcements += 1;
        self.late += u64::from(s.late);
        let i = match s.outcome {
            Outcome::Answered => 0,
            Outcome::Abandoned => 1,
            Outcome::Callback => 2,
            Outcome::Other => 3,
        };
        self.outcomes[i] += 1;
        let Some(est) = s.estimate_ms else {
            self.no_estimate += 1;
            return;
        };
        if let Some(actual) = s.wait_ms {
            self.potential += u64::from(s.outcome != Outcome::Answered);
            self.actual_s.add((actual as f64 / 1000.0).round() as i64);
            self.ours.add(est, actual);
            self.asterisk.add(s.asterisk_ms, actual);
            if let Some(n) = s.naive_ms {
                self.naive.add(n, actual);
            }
        }
        for (k, &m) in TOLD_UNDER_MIN.iter().enumerate() {
            let limit = u64::from(m) * 60_000;
            if est >= limit {
                continue;
            }
            // Known wait: either way; unknown: only a caller who held past N is known longer.
            let longer = s.wait_ms.map_or(s.held_ms >= limit, |w| w >= limit);
            if s.wait_ms.is_some() || longer {
                self.told_under[k].0 += 1;
                self.told_under[k].1 += u64::from(longer);
            }
        }
    }

    pub fn merge(&mut self, o: &Group) {
        self.announcements += o.announcements;
        self.late += o.late;
        self.no_estimate += o.no_estimate;
        self.potential += o.potential;
        for (a, b) in self.outcomes.iter_mut().zip(o.outcomes) {
            *a += b;
        }
        self.actual_s.merge(&o.actual_s);
        self.ours.merge(&o.ours);
        self.asterisk.merge(&o.asterisk);
        self.naive.merge(&o.naive);
        for (a, b) in self.told_under.iter_mut().zip(o.told_under) {
            a.0 += b.0;
            a.1 += b.1;
        }
    }

    pub fn figures(&self, queue: &str, band: &str) -> Line {
        Line {
            queue: queue.to_string(),
            band: band.to_string(),
            announcements: self.announcements,
            late: self.late,
            no_estimate: self.no_estimate,
            potential: self.potential,
            answered: self.outcomes[0],
            abandoned: self.outcomes[1],
            callbacks: self.outcomes[2],
            other: self.outcomes[3],
            median_wait_s: self.actual_s.quantile(0.5).map(|x| x.max(0) as u64),
            ours: self.ours.figures(),
            asterisk: self.asterisk.figures(),
            naive: self.naive.figures(),
            longer_than_told_pct: TOLD_UNDER_MIN
                .iter()
                .zip(self.told_under)
                .map(|(&m, (n, longer))| ToldUnder {
                    minutes: m,
                    told: n,
                    longer_pct: (n > 0).then(|| 100.0 * longer as f64 / n as f64),
                })
                .collect(),
        }
    }
}

/// "Told under N minutes, waited longer".
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ToldUnder {
    pub minutes: u32,
    /// Announcements under N minutes whose outcome past N is known.
    pub told: u64,
    pub longer_pct: Option<f64>,
}

/// One line of `report --waits`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    pub queue: String,
    pub band: String,
    pub announcements: u64,
    /// Extra announcements to callers held far past the wait first told.
    pub late: u64,
    /// Announcements with no estimate (nobody staffed could take the call).
    pub no_estimate: u64,
    /// Of those judged, how many on a potential wait (the caller hung up or took a callback,
    /// and a caller who came after them was answered).
    pub potential: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub callbacks: u64,
    pub other: u64,
    /// Median wait from the announcement (actual or potential) of the callers judged.
    pub median_wait_s: Option<u64>,
    pub ours: ErrorFigures,
    /// Asterisk app_queue's smoothed hold time (ignores position and staffing).
    pub asterisk: ErrorFigures,
    /// Position × AHT ÷ agents.
    pub naive: ErrorFigures,
    pub longer_than_told_pct: Vec<ToldUnder>,
}

/// Samples summed per (queue, band); lines per queue and band, per queue, and in total.
#[derive(Debug, Clone, Default)]
pub struct Accuracy {
    groups: BTreeMap<(String, &'static str), Group>,
}

/// Band order in output.
fn band_rank(b: &str) -> usize {
    BANDS
        .iter()
        .position(|(l, _)| *l == b)
        .unwrap_or(BANDS.len())
}

impl Accuracy {
    pub fn add(&mut self, s: &Sample) {
        let key = (s.queue.clone(), band(s.position, s.agents));
        self.groups.entry(key).or_default().add(s);
    }

    pub fn merge(&mut self, o: &Accuracy) {
        for (k, g) in &o.groups {
            self.groups.entry(k.clone()).or_default().merge(g);
        }
    }

    /// Every line: per queue its bands then "all", then every queue together ("(all)").
    pub fn lines(&self) -> Vec<Line> {
        let mut out = Vec::new();
        let mut total = Group::default();
        let mut bands: BTreeMap<usize, (&str, Group)> = BTreeMap::new();
        let mut queues: BTreeMap<&str, Vec<(&str, &Group)>> = BTreeMap::new();
        for ((q, b), g) in &self.groups {
            queues.entry(q.as_str()).or_default().push((b, g));
        }
        for (q, mut gs) in queues {
            gs.sort_by_key(|(b, _)| band_rank(b));
            let mut all = Group::default();
            for (b, g) in gs {
                out.push(g.figures(q, b));
                all.merge(g);
                bands
                    .entry(band_rank(b))
                    .or_insert_with(|| (b, Group::default()))
                    .1
                    .merge(g);
            }
            out.push(all.figures(q, "all"));
            total.merge(&all);
        }
        for (_, (b, g)) in bands {
            out.push(g.figures("(all)", b));
        }
        out.push(total.figures("(all)", "all"));
        out
    }

    /// The all-queues, all-bands line.
    pub fn total(&self) -> Line {
        let mut total = Group::default();
        for g in self.groups.values() {
            total.merge(g);
        }
        total.figures("(all)", "all")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(est: Option<u64>, outcome: Outcome, held_s: u64) -> Sample {
        Sample {
            queue: "general".into(),
            at_ms: 0,
            position: 2,
            agents: 4,
            estimate_ms: est.map(|s| s * 1000),
            asterisk_ms: 0,
            naive_ms: Some(150_000),
            late: false,
            outcome,
            held_ms: held_s * 1000,
            wait_ms: (outcome == Outcome::Answered).then_some(held_s * 1000),
        }
    }

    #[test]
    fn known_answers() {
        let mut a = Accuracy::default();
        // Told 60, 100, 200, 300 s; waited 50, 100, 260, 300 s.
        for (est, act) in [(60, 50), (100, 100), (200, 260), (300, 300)] {
            a.add(&sample(Some(est), Outcome::Answered, act));
        }
        // Told 90 s, hung up after 150 s (waited longer than 1 min, unknown error);
        // told 30 s, hung up after 20 s (unknown for 1 min); no estimate.
        a.add(&sample(Some(90), Outcome::Abandoned, 150));
        a.add(&sample(Some(30), Outcome::Abandoned, 20));
        a.add(&sample(None, Outcome::Answered, 10));
        // Told 100 s, took a callback after 40 s; its turn came 100 s after it was told.
        let mut cb = sample(Some(100), Outcome::Callback, 40);
        cb.wait_ms = Some(100_000);
        a.add(&cb);
        let t = a.total();
        assert_eq!(t.announcements, 8);
        assert_eq!(
            (t.answered, t.abandoned, t.callbacks, t.no_estimate),
            (5, 2, 1, 1)
        );
        assert_eq!(t.potential, 1);
        // The callback's error is 0: drop it to check the answered ones.
        let t = {
            let mut b = Accuracy::default();
            for (est, act) in [(60, 50), (100, 100), (200, 260), (300, 300)] {
                b.add(&sample(Some(est), Outcome::Answered, act));
            }
            b.add(&sample(Some(90), Outcome::Abandoned, 150));
            b.add(&sample(Some(30), Outcome::Abandoned, 20));
            b.total()
        };
        let o = t.ours;
        assert_eq!(o.n, 4);
        // Errors +10, 0, −60, 0: mean −12.5 s, median 0; |e| 0, 0, 10, 60 → median 0, p90 60.
        assert_eq!(o.mean_err_s, Some(-12.5));
        assert_eq!(o.median_err_s, Some(0.0));
        assert_eq!(o.median_abs_s, Some(0.0));
        assert_eq!(o.p90_abs_s, Some(60.0));
        assert_eq!(o.within_30s_pct, Some(75.0));
        // ±25 %: 10/50 yes, 0 yes, 60/260 yes (23 %), 0 yes.
        assert_eq!(o.within_25pct_pct, Some(100.0));
        assert_eq!(t.median_wait_s, Some(100));
        // Told under 2 min: 60 (waited 50), 100 (100), 90 (left after 150: longer), 30 (left
        // after 20: unknown) → 1 of 3.
        let two = t.longer_than_told_pct[1];
        assert_eq!((two.minutes, two.told), (2, 3));
        assert!((two.longer_pct.unwrap() - 100.0 / 3.0).abs() < 1e-9);
        // Naive 150 s each: errors 100, 50, −110, −150.
        assert_eq!(t.naive.mean_err_s, Some(-27.5));
    }

    #[test]
    fn bands_and_lines() {
        assert_eq!(band(1, 4), "<=0.5");
        assert_eq!(band(4, 4), "0.5-1");
        assert_eq!(band(5, 4), "1-2");
        assert_eq!(band(17, 4), ">4");
        assert_eq!(band(1, 0), "no-agent");
        let mut a = Accuracy::default();
        a.add(&sample(Some(60), Outcome::Answered, 60));
        let mut other = sample(Some(60), Outcome::Answered, 90);
        other.queue = "permis".into();
        other.position = 17;
        a.add(&other);
        let keys: Vec<(String, String)> =
            a.lines().into_iter().map(|l| (l.queue, l.band)).collect();
        let want = [
            ("general", "<=0.5"),
            ("general", "all"),
            ("permis", ">4"),
            ("permis", "all"),
            ("(all)", "<=0.5"),
            ("(all)", ">4"),
            ("(all)", "all"),
        ];
        assert_eq!(
            keys,
            want.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<Vec<_>>()
        );
    }
}
