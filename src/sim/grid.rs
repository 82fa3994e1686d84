//! `centrale wait-grid`: the announced wait against what callers then waited, on a grid of
//! M/M/N+M queues (N agents, Poisson arrivals, exponential handle times and patience), through
//! the real ACD and the same `report::waits` figures as `report --waits`, next to the two
//! baselines and to the best any estimate can do there.
//!
//! The reference ("ideal") is the exact expected wait of an M/M/N+M caller at position k with
//! every agent busy, Σ_{j<k} 1/(Nμ + jγ), from the true μ and γ: no estimate knows more, so
//! its error is the floor that randomness alone sets (a position-1 caller waits an
//! exponential time whatever anyone says).
//!
//! Owns the grid's workloads and its table. Never does I/O but returning text (`cli` writes).

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::collect::Waits;
use super::engine;
use super::scenario::{self, Options, Scenario};
use super::workload::Workload;
use crate::dialplan::model::QueueDef;
use crate::report::waits::stats::{ErrorFigures, Errors, Line};
use crate::report::waits::Sample;

/// `centrale wait-grid`.
#[derive(Debug, Clone, clap::Args)]
pub struct GridArgs {
    /// Agents at each point.
    #[arg(long, value_delimiter = ',', default_value = "5,20,50")]
    pub agents: Vec<u32>,
    /// Offered load per agent (arrival rate × AHT / N), before abandonment.
    #[arg(long, value_delimiter = ',', default_value = "0.7,0.8,0.9,0.95")]
    pub occupancy: Vec<f64>,
    /// Mean patience, seconds.
    #[arg(long, value_delimiter = ',', default_value = "60,180,300")]
    pub patience: Vec<f64>,
    /// Mean handle time, seconds.
    #[arg(long, default_value_t = 240.0)]
    pub aht: f64,
    /// Offered calls per point (after a day of warm-up).
    #[arg(long, default_value_t = 100_000)]
    pub calls: u32,
    /// Announcement period, seconds (the first is made on entry).
    #[arg(long, default_value_t = 45)]
    pub announce_every: u64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// table or csv.
    #[arg(long, default_value = "table")]
    pub format: String,
}

/// One grid point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    pub agents: u32,
    pub occupancy: f64,
    pub patience_s: f64,
    pub aht_s: f64,
}

/// A point's figures.
#[derive(Debug, Clone, Serialize)]
pub struct PointResult {
    pub point: Point,
    pub offered: u64,
    /// Every announcement made in the measured period, all bands.
    pub total: Line,
    /// The ideal estimate's errors on the same samples.
    pub ideal: ErrorFigures,
}

/// An M/M/N+M workload: one queue, `n` identical agents on 24/7, Poisson arrivals at offered
/// load `rho` per agent, exponential handle time `aht` s (no wrap-up, no ring), exponential
/// patience of mean `patience` s (None: callers never hang up).
pub fn mmn(n: u32, rho: f64, aht: f64, patience: Option<f64>, days: u32) -> Workload {
    let per_day = rho * f64::from(n) / aht * 86_400.0;
    let profile = vec!["1"; 48].join(", ");
    let patience = patience.map_or(String::new(), |p| format!("patience_mean_s = {p}\n"));
    let text = format!(
        r#"
[workload]
name = "M/M/{n}"
start = "2027-06-07"
days = {days}
[arrivals]
calls_per_day = {per_day}
profile = [{profile}]
[handling]
talk_mean_s = {aht}
talk_distribution = "exponential"
wrapup_s = 0
ring_s = [0, 0]
callback_accept = 0
{patience}
[[agents]]
id = "a"
count = {n}
skills = {{ fr = 1 }}
shifts = ["00:00-24:00"]
days = "all"
"#
    );
    match Workload::parse(&text, Path::new("mmn.toml")) {
        Ok(w) => w,
        Err(e) => panic!("the M/M/N workload is well formed: {e}"),
    }
}

/// The one queue of the grid, announcing every `every`.
pub fn announcing_queue(every: Duration) -> QueueDef {
    QueueDef {
        name: "general".into(),
        skills: Vec::new(),
        priority: 0,
        sl_percent: 80,
        sl_seconds: 100,
        relax: Vec::new(),
        hold_prompts: Vec::new(),
        announce_every: every,
        offer_callback: false,
        callback_threshold: Duration::ZERO,
        resume_window: Duration::ZERO,
        resume_withheld: false,
        emergency_escape: false,
        knowledge: None,
        dispositions: vec![],
        max_wait: None,
        overflow: None,
        seasons: Default::default(),
        calendar: None,
    }
}

/// The exact expected wait at position `k` of M/M/N+M with every agent busy.
pub fn ideal_ms(k: u32, p: &Point) -> u64 {
    let mu = 1.0 / (p.aht_s * 1000.0);
    let gamma = 1.0 / (p.patience_s * 1000.0);
    let n = f64::from(p.agents);
    let w: f64 = (0..k.max(1))
        .map(|j| 1.0 / (n * mu + f64::from(j) * gamma))
        .sum();
    w as u64
}

/// Simulate one point: a day of warm-up, then `calls` offered calls measured.
pub fn run_point(p: &Point, calls: u32, every: Duration, seed: u64) -> PointResult {
    let per_day = p.occupancy * f64::from(p.agents) / p.aht_s * 86_400.0;
    let days = (f64::from(calls) / per_day).ceil() as u32 + 2;
    let w = mmn(p.agents, p.occupancy, p.aht_s, Some(p.patience_s), days);
    let mut sc: Scenario = match scenario::build(&w, None, &Options::default()) {
        Ok(s) => s,
        Err(e) => panic!("the M/M/N scenario builds: {e}"),
    };
    sc.queues = vec![announcing_queue(every)];
    let from = (sc.start_ms + 86_400_000) as i64;
    let to = (sc.end_ms - 3_600_000) as i64;
    let mut ideal = Errors::default();
    let mut see = |s: &Sample| {
        if let (Some(wait), Some(_)) = (s.wait_ms, s.estimate_ms) {
            ideal.add(ideal_ms(s.position, p), wait);
        }
    };
    let mut waits = Waits::new(from, to).with(&mut see);
    let stats = engine::run(&sc, seed, &mut waits, &mut |_| {});
    waits.finish();
    let total = waits.accuracy.total();
    PointResult {
        point: *p,
        offered: stats.offered,
        total,
        ideal: ideal.figures(),
    }
}

/// Every point of the grid, on up to two threads; results in grid order.
pub fn run(args: &GridArgs) -> Vec<PointResult> {
    let mut points = Vec::new();
    for &agents in &args.agents {
        for &occupancy in &args.occupancy {
            for &patience_s in &args.patience {
                points.push(Point {
                    agents,
                    occupancy,
                    patience_s,
                    aht_s: args.aht,
                });
            }
        }
    }
    let every = Duration::from_secs(args.announce_every);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let out = std::sync::Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(2));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(p) = points.get(i) else {
                    break;
                };
                let r = run_point(p, args.calls, every, args.seed + i as u64);
                if let Ok(mut v) = out.lock() {
                    v.push((i, r));
                }
            });
        }
    });
    let mut v = out.into_inner().unwrap_or_default();
    v.sort_by_key(|x| x.0);
    v.into_iter().map(|x| x.1).collect()
}

fn f(v: Option<f64>, d: usize) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.d$}"))
}

fn u(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |x| x.to_string())
}

fn d(v: Option<f64>) -> String {
    f(v, 1)
}

/// The grid as a table (or CSV): per point, our estimate, the baselines and the ideal.
pub fn render(results: &[PointResult], csv: bool) -> String {
    let head = [
        "N",
        "occ",
        "patience_s",
        "told",
        "judged",
        "aband_pct",
        "wait_med_s",
        "ours_mdae_s",
        "ours_mdre_pct",
        "ours_bias_s",
        "ours_mean_err_s",
        "ours_in25pct",
        "ast_mdae_s",
        "ast_bias_s",
        "ast_in25pct",
        "naive_mdae_s",
        "naive_bias_s",
        "naive_in25pct",
        "ideal_mdae_s",
        "ideal_mdre_pct",
        "ideal_bias_s",
        "ideal_mean_err_s",
        "over2m_pct",
    ];
    let mut rows: Vec<Vec<String>> = vec![head.iter().map(|s| s.to_string()).collect()];
    for r in results {
        let t = &r.total;
        let ab = if t.announcements > 0 {
            Some(100.0 * t.abandoned as f64 / t.announcements as f64)
        } else {
            None
        };
        rows.push(vec![
            r.point.agents.to_string(),
            format!("{:.2}", r.point.occupancy),
            format!("{:.0}", r.point.patience_s),
            t.announcements.to_string(),
            t.ours.n.to_string(),
            f(ab, 1),
            u(t.median_wait_s),
            d(t.ours.median_abs_s),
            f(t.ours.median_rel_pct, 0),
            d(t.ours.median_err_s),
            d(t.ours.mean_err_s),
            f(t.ours.within_25pct_pct, 0),
            d(t.asterisk.median_abs_s),
            d(t.asterisk.median_err_s),
            f(t.asterisk.within_25pct_pct, 0),
            d(t.naive.median_abs_s),
            d(t.naive.median_err_s),
            f(t.naive.within_25pct_pct, 0),
            d(r.ideal.median_abs_s),
            f(r.ideal.median_rel_pct, 0),
            d(r.ideal.median_err_s),
            d(r.ideal.mean_err_s),
            f(t.longer_than_told_pct.get(1).and_then(|x| x.longer_pct), 0),
        ]);
    }
    if csv {
        return rows.iter().map(|r| r.join(",") + "\n").collect();
    }
    let widths: Vec<usize> = (0..head.len())
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::from(LEGEND);
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:>w$}"))
            .collect();
        out.push_str(&cells.join("  "));
        out.push('\n');
    }
    out
}

const LEGEND: &str = "\
centrale wait-grid: M/M/N+M (exponential handle time and patience), one announcing queue; per
point, every announcement after a day of warm-up against the wait the caller would have had by
holding (judged: answered callers, and those who hung up once a caller behind them was
answered; see report --waits). mdae = median |estimate - actual| (s), mdre = its median
relative to the actual wait (%), bias = median(estimate - actual) (s, negative =
optimistic), mean_err = its mean, in25pct = share within 25 %.
ours = centrale; ast = Asterisk (smoothed hold time); naive = position x AHT / agents; ideal =
the exact M/M/N+M expectation from the true rates (the floor randomness sets). aband = share
of announcements followed by a hang-up; over2m = told under 2 min, waited longer (%).

";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ideal_is_erlang_a_sum() {
        let p = Point {
            agents: 10,
            occupancy: 0.9,
            patience_s: 120.0,
            aht_s: 300.0,
        };
        assert_eq!(ideal_ms(1, &p), 30_000);
        let two = 30_000.0 + 1.0 / (10.0 / 300_000.0 + 1.0 / 120_000.0);
        assert_eq!(ideal_ms(2, &p), two as u64);
    }
}
