//! Statistical and behavioural tests of the simulator: it reproduces Erlang C and Erlang A on
//! the cases those models describe, shows pooling and relaxation effects through the real
//! ACD, plans the textbook example, is deterministic, estimates a workload back from its own
//! call log, and runs the shipped workloads against the shipped dial plans.
//!
//! Every test has a fixed seed. The two statistical grids are one test each, with call counts
//! chosen so that sampling error is well inside the tolerance (see docs/staffing.md for the
//! numbers and for other seeds).

use std::path::Path;

use super::collect::{Collector, Keep};
use super::engine::{self, AgentChange, Sink};
use super::erlang;
use super::grid::mmn;
use super::plan::{self, PlanOptions};
use super::scenario::{self, Options, Scenario};
use super::workload::Workload;
use crate::report::cdr::CallRow;
use crate::report::metrics::{Params, Tally};

/// Tallies of calls that start in `[from, to)`, at two thresholds, plus the mean wait of
/// answered calls per batch (20 equal stretches of time) for a batch-means standard error.
struct Measure {
    from_ms: i64,
    to_ms: i64,
    at_zero: Tally,
    at_t: Tally,
    p0: Params,
    pt: Params,
    /// Per batch: (Σ wait of answered calls in ms, answered).
    batches: Vec<(f64, f64)>,
}

const BATCHES: usize = 20;

impl Measure {
    fn new(from_ms: i64, to_ms: i64, t_s: i64) -> Measure {
        let p = |t: i64| Params {
            short_abandon_ms: 0,
            threshold_ms: t * 1000,
            target_pct: 80.0,
        };
        Measure {
            from_ms,
            to_ms,
            at_zero: Tally::default(),
            at_t: Tally::default(),
            p0: p(0),
            pt: p(t_s),
            batches: vec![(0.0, 0.0); BATCHES],
        }
    }
    /// P(wait > 0): not answered at once (an abandon always waited: patience is continuous).
    fn p_wait(&self) -> f64 {
        1.0 - self.at_zero.answered_within as f64 / self.at_zero.offered as f64
    }
    fn sl(&self) -> f64 {
        self.at_t.answered_within as f64 / self.at_t.offered as f64
    }
    fn asa(&self) -> f64 {
        self.at_t.wait_answered_ms as f64 / 1000.0 / self.at_t.answered as f64
    }
    fn abandon(&self) -> f64 {
        self.at_t.abandoned as f64 / self.at_t.offered as f64
    }
    /// Batch-means standard error of the ASA, relative to `reference`.
    fn asa_se(&self, reference: f64) -> f64 {
        let v: Vec<f64> = self
            .batches
            .iter()
            .filter(|b| b.1 > 0.0)
            .map(|b| b.0 / 1000.0 / b.1)
            .collect();
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (var / n).sqrt() / reference
    }
}

impl Sink for Measure {
    fn call(&mut self, row: CallRow) {
        if row.start_ms >= self.from_ms && row.start_ms < self.to_ms && row.offered {
            self.at_zero.add(&row, &self.p0);
            self.at_t.add(&row, &self.pt);
            if row.answered {
                let span = (self.to_ms - self.from_ms).max(1) as f64;
                let k = (((row.start_ms - self.from_ms) as f64 / span) * BATCHES as f64) as usize;
                let b = &mut self.batches[k.min(BATCHES - 1)];
                b.0 += row.wait_ms.unwrap_or(0) as f64;
                b.1 += 1.0;
            }
        }
    }
    fn agent(&mut self, _: AgentChange<'_>) {}
}

fn scenario_of(w: &Workload) -> Scenario {
    match scenario::build(w, None, &Options::default()) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

/// Simulate `w` and measure after `warmup_h` hours.
fn measure(w: &Workload, seed: u64, warmup_h: u64, t_s: i64) -> Measure {
    let sc = scenario_of(w);
    // Calls of the last two hours may still be waiting when the agents' last shift ends.
    let to = (sc.end_ms - 2 * 3_600_000) as i64;
    let mut m = Measure::new((sc.start_ms + warmup_h * 3_600_000) as i64, to, t_s);
    engine::run(&sc, seed, &mut m, &mut |_| {});
    m
}

/// Run `f` over `items` on up to four threads; results in order.
fn parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(usize, &T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 4);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut out: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
    let slots = std::sync::Mutex::new(&mut out);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(item) = items.get(i) else {
                    break;
                };
                let r = f(i, item);
                if let Ok(mut v) = slots.lock() {
                    v[i] = Some(r);
                }
            });
        }
    });
    out.into_iter().flatten().collect()
}

/// Calls per day at occupancy `rho` with `n` agents and AHT 180 s.
fn days_for(n: u32, rho: f64, calls: f64) -> u32 {
    (calls / (rho * f64::from(n) / 180.0 * 86_400.0)).ceil() as u32 + 1
}

/// (N, occupancy, calls). Proportions (P(wait), SL) and ASA are held to ±2 pp / ±5 % at every
/// point. Waits are correlated over busy periods, so the mean wait needs far more calls than a
/// proportion — in heavy traffic its relative standard error is about √(8ρ/n)/(1 − ρ) (Whitt
/// 1989), and at low occupancy waits are rare: ±5 % at about three standard errors takes from
/// ~1 M calls (N = 5, ρ = 0.6) to ~10 M (N = 50, ρ = 0.85), 26.5 M in all (≈ 2 minutes of the
/// test suite on 2 cores, dev profile).
const GRID: [(u32, f64, f64); 6] = [
    (5, 0.60, 1_000_000.0),
    (5, 0.95, 5_000_000.0),
    (10, 0.80, 1_500_000.0),
    (20, 0.70, 4_000_000.0),
    (20, 0.90, 5_000_000.0),
    (50, 0.85, 10_000_000.0),
];

/// Seed of the first grid point (`SIM_GRID_SEED` overrides it to check other seeds).
fn grid_seed(default: u64) -> u64 {
    std::env::var("SIM_GRID_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// One Erlang C point: (report line, within ±2 pp / ±5 %).
fn erlang_c_point(i: usize, n: u32, rho: f64, calls: f64) -> (String, bool) {
    let (aht, t) = (180.0, 20);
    let w = mmn(n, rho, aht, None, days_for(n, rho, calls));
    let m = measure(&w, grid_seed(1000) + i as u64, 24, t);
    let a = rho * f64::from(n);
    let (pw, sl, asa) = (
        erlang::erlang_c(n, a),
        erlang::service_level(n, a, aht, t as f64),
        erlang::asa(n, a, aht),
    );
    let (err, se) = (m.asa() / asa - 1.0, m.asa_se(asa));
    let tol = 0.05;
    let line = format!(
        "N={n:2} rho={rho:.2} calls={:8}: P(wait) {:.4} vs {:.4}, SL20 {:.4} vs {:.4}, ASA {:.2} vs {:.2} ({:+.1} %, s.e. {:.1} %, tolerance {:.1} %)",
        m.at_t.offered,
        m.p_wait(),
        pw,
        m.sl(),
        sl,
        m.asa(),
        asa,
        100.0 * err,
        100.0 * se,
        100.0 * tol
    );
    let ok = (m.p_wait() - pw).abs() <= 0.02 && (m.sl() - sl).abs() <= 0.02 && err.abs() <= tol;
    (line, ok)
}

fn check(results: &[(String, bool)], what: &str) {
    for (line, _) in results {
        println!("{line}");
    }
    let bad: Vec<&str> = results
        .iter()
        .filter(|r| !r.1)
        .map(|r| r.0.as_str())
        .collect();
    assert!(bad.is_empty(), "outside {what}:\n{}", bad.join("\n"));
}

#[test]
fn reproduces_erlang_c_across_a_grid() {
    let r = parallel(&GRID, |i, &(n, rho, calls)| {
        erlang_c_point(i, n, rho, calls)
    });
    check(&r, "±2 pp / ±5 %");
}

/// (N, offered load / N, mean patience s, AHT s, calls).
const GRID_A: [(u32, f64, f64, f64, f64); 3] = [
    (10, 0.95, 120.0, 180.0, 150_000.0),
    (20, 1.10, 180.0, 240.0, 150_000.0),
    (50, 0.90, 60.0, 180.0, 200_000.0),
];

#[test]
fn reproduces_erlang_a_abandonment() {
    let results = parallel(&GRID_A, |i, &(n, rho, patience, aht, calls)| {
        let per_day = rho * f64::from(n) / aht * 86_400.0;
        let w = mmn(
            n,
            rho,
            aht,
            Some(patience),
            (calls / per_day).ceil() as u32 + 1,
        );
        let m = measure(&w, grid_seed(2000) + i as u64, 24, 20);
        let lambda = rho * f64::from(n) / aht;
        let e = erlang::erlang_a(n, lambda, 1.0 / aht, 1.0 / patience);
        let line = format!(
            "N={n} load={rho} patience={patience}: abandon {:.4} vs {:.4}, SL20 {:.4} vs {:.4} ({} calls)",
            m.abandon(),
            e.p_abandon,
            m.sl(),
            e.p_answered_within(20.0),
            m.at_t.offered
        );
        let ok = (m.abandon() - e.p_abandon).abs() <= 0.02
            && (m.sl() - e.p_answered_within(20.0)).abs() <= 0.02;
        (line, ok)
    });
    check(&results, "±2 pp");
}

/// Mean SL(T) (share of offered calls answered within `t_s`) of a scenario after a day.
fn sl_of(sc: &Scenario, seed: u64, t_s: i64) -> (f64, u64) {
    let to = (sc.end_ms - 2 * 3_600_000) as i64;
    let mut m = Measure::new((sc.start_ms + 24 * 3_600_000) as i64, to, t_s);
    engine::run(sc, seed, &mut m, &mut |_| {});
    (m.sl(), m.at_t.offered as u64)
}

fn parse(text: &str) -> Workload {
    match Workload::parse(text, Path::new("test.toml")) {
        Ok(w) => w,
        Err(e) => panic!("{e}"),
    }
}

/// 10 agents, ρ = 0.8, AHT 180 s, 80 % French / 20 % English callers.
fn languages(agents: &str) -> Workload {
    let profile = vec!["1"; 48].join(", ");
    parse(&format!(
        r#"
[workload]
start = "2027-06-07"
days = 12
[arrivals]
calls_per_day = 3840
profile = [{profile}]
[languages]
fr = 0.8
en = 0.2
[handling]
talk_mean_s = 180
wrapup_s = 0
ring_s = [0, 0]
{agents}
"#
    ))
}

#[test]
fn splitting_languages_costs_service_level() {
    let all = "shifts = [\"00:00-24:00\"]\ndays = \"all\"";
    let split = languages(&format!(
        "[[agents]]\nid = \"fr\"\ncount = 8\nskills = {{ fr = 3 }}\n{all}\n[[agents]]\nid = \"en\"\ncount = 2\nskills = {{ en = 3 }}\n{all}\n"
    ));
    let pooled = languages(&format!(
        "[[agents]]\nid = \"bi\"\ncount = 10\nskills = {{ fr = 3, en = 3 }}\n{all}\n"
    ));
    let (sl_split, n) = sl_of(&scenario_of(&split), 7, 20);
    let (sl_pool, _) = sl_of(&scenario_of(&pooled), 7, 20);
    // Erlang: one M/M/10 at A = 8 against an M/M/8 at 6.4 and an M/M/2 at 1.6.
    let a = 8.0;
    let pooled_erlang = erlang::service_level(10, a, 180.0, 20.0);
    let split_erlang = 0.8 * erlang::service_level(8, 0.8 * a, 180.0, 20.0)
        + 0.2 * erlang::service_level(2, 0.2 * a, 180.0, 20.0);
    println!("{n} calls: split {sl_split:.3} (Erlang {split_erlang:.3}), pooled {sl_pool:.3} (Erlang {pooled_erlang:.3})");
    assert!(
        sl_pool - sl_split > 0.08,
        "pooling should help: {sl_split} vs {sl_pool}"
    );
    assert!((sl_pool - pooled_erlang).abs() < 0.04);
    assert!((sl_split - split_erlang).abs() < 0.04);
}

/// Topic specialists (5 on topic a, 5 on topic b) or 10 generalists, ρ = 0.85, one queue;
/// `relax` drops the topic skill after 60 s.
fn topics(generalists: bool, relax: bool) -> Scenario {
    let profile = vec!["1"; 48].join(", ");
    let all = "shifts = [\"00:00-24:00\"]\ndays = \"all\"";
    let agents = if generalists {
        format!("[[agents]]\nid = \"g\"\ncount = 10\nskills = {{ fr = 3, a = 3, b = 3 }}\n{all}\n")
    } else {
        format!(
            "[[agents]]\nid = \"a\"\ncount = 5\nskills = {{ fr = 3, a = 3 }}\n{all}\n\
             [[agents]]\nid = \"b\"\ncount = 5\nskills = {{ fr = 3, b = 3 }}\n{all}\n"
        )
    };
    let w = parse(&format!(
        r#"
[workload]
start = "2027-06-07"
days = 8
[arrivals]
calls_per_day = 4080
profile = [{profile}]
[topics.a]
share = 0.5
queue = "q"
[topics.b]
share = 0.5
queue = "q"
[handling]
talk_mean_s = 180
wrapup_s = 0
ring_s = [0, 0]
{agents}
"#
    ));
    let mut sc = scenario_of(&w);
    use crate::dialplan::model::{QueueDef, Relax};
    use std::time::Duration;
    sc.queues = vec![QueueDef {
        name: "q".into(),
        skills: Vec::new(),
        priority: 0,
        sl_percent: 80,
        sl_seconds: 100,
        relax: if relax {
            vec![Relax {
                after: Duration::from_secs(60),
                min_level: None,
                drop_skills: vec!["a".into(), "b".into()],
            }]
        } else {
            Vec::new()
        },
        hold_prompts: Vec::new(),
        announce_every: Duration::ZERO,
        offer_callback: false,
        emergency_escape: false,
        knowledge: None,
        dispositions: vec![],
        callback_threshold: Duration::ZERO,
        resume_window: Duration::ZERO,
        resume_withheld: false,
        max_wait: None,
        overflow: None,
        seasons: Default::default(),
        calendar: None,
    }];
    sc
}

#[test]
fn relaxation_recovers_what_specialisation_loses() {
    let (general, n) = sl_of(&topics(true, false), 11, 100);
    let (special, _) = sl_of(&topics(false, false), 11, 100);
    let (relaxed, _) = sl_of(&topics(false, true), 11, 100);
    let a = 8.5;
    println!(
        "{n} calls, SL100: generalists {general:.3} (Erlang {:.3}), specialists {special:.3} (Erlang {:.3}), \
         specialists relaxed after 60 s {relaxed:.3}",
        erlang::service_level(10, a, 180.0, 100.0),
        erlang::service_level(5, a / 2.0, 180.0, 100.0)
    );
    assert!(general - special > 0.08, "pooling: {general} vs {special}");
    assert!(
        relaxed - special > 0.06,
        "relaxation helps: {special} → {relaxed}"
    );
    assert!(
        general - relaxed < 0.04,
        "and recovers most of it: {relaxed} vs {general}"
    );
}

#[test]
fn planner_matches_the_worked_example() {
    // 200 calls/h around the clock, AHT 280 s (talk only, no ring): 100 calls per half-hour.
    let profile = vec!["1"; 48].join(", ");
    let w = parse(&format!(
        r#"
[workload]
start = "2027-06-07"
days = 2
[arrivals]
calls_per_day = 4800
profile = [{profile}]
[handling]
talk_mean_s = 280
wrapup_s = 0
ring_s = [0, 0]
"#
    ));
    let sc = scenario_of(&w);
    let templates = plan::templates(&sc, &w, None);
    let opts = |target: &str, shrinkage: f64, simulate: bool| PlanOptions {
        target: plan::parse_target(target).unwrap_or_default(),
        short_abandon_s: 5.0,
        shrinkage,
        fixed_agents: None,
        season: None,
        simulate,
    };
    let p = plan::plan(
        sc.clone(),
        &w,
        &templates,
        &opts("80/100", 0.3, true),
        5,
        &mut |_| {},
    );
    // Two days, Monday and Tuesday, 48 half-hours each.
    assert_eq!(p.needs.len(), 96);
    for n in &p.needs {
        assert!((n.calls - 100.0).abs() < 1e-9, "{}", n.calls);
        assert!((n.erlangs - 200.0 * 280.0 / 3600.0).abs() < 1e-9);
        assert_eq!((n.erlang_agents, n.agents, n.roster), (18, 18, 26));
        // Hand values: 18 agents at A = 15.56 erlangs give 81.18 % within 100 s.
        assert!(
            (n.erlang_c.sl_pct - 81.1817).abs() < 1e-3,
            "{}",
            n.erlang_c.sl_pct
        );
    }
    let sim = p
        .total
        .sim
        .as_ref()
        .and_then(|f| f.service_level_pct)
        .unwrap_or(0.0);
    println!("simulated SL {sim:.1} % for Erlang's 81.2 %");
    assert!((sim - 81.18).abs() < 5.0, "{sim}");
    assert_eq!(p.total.peak_agents, 18);
    // 18 agents × 24 h a day, over the two days of this (one-week-long) "season".
    assert!((p.total.agent_hours_per_week - 18.0 * 48.0 / (2.0 / 7.0)).abs() < 1e-6);
    let fast = plan::plan(
        sc.clone(),
        &w,
        &templates,
        &opts("80/20", 0.0, false),
        5,
        &mut |_| {},
    );
    assert!(fast.needs.iter().all(|n| n.agents == 20 && n.roster == 20));
    assert!(fast
        .needs
        .iter()
        .all(|n| (n.erlang_c.sl_pct - 84.7340).abs() < 1e-3));
    assert!(fast.needs[0].sim.is_none());
    // The what-if: 17 agents fall short (62.1 % within 100 s).
    let what_if = PlanOptions {
        fixed_agents: Some(17),
        ..opts("80/100", 0.0, false)
    };
    let p17 = plan::plan(sc, &w, &templates, &what_if, 5, &mut |_| {});
    assert!(p17
        .needs
        .iter()
        .all(|n| n.agents == 17 && n.erlang_agents == 18));
    assert!((p17.needs[0].erlang_c.sl_pct - 62.0837).abs() < 1e-3);
}

fn report_text(
    w: &Workload,
    plan: Option<&crate::dialplan::model::Plan>,
    seed: u64,
    days: u32,
) -> String {
    let sc = match scenario::build(
        w,
        plan,
        &Options {
            days: Some(days),
            ..Options::default()
        },
    ) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let (r, _) = match super::cli::simulate_report(
        &sc,
        seed,
        crate::report::interval::Bucket::Day,
        Params::default(),
        &mut |_| {},
    ) {
        Ok(x) => x,
        Err(e) => panic!("{e}"),
    };
    match crate::report::render::render(&r, crate::report::Format::Csv) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    }
}

fn shipped(name: &str) -> (Workload, crate::dialplan::model::Plan) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let w = match Workload::load(&root.join(format!("workloads/{name}.toml"))) {
        Ok(w) => w,
        Err(e) => panic!("{e}"),
    };
    let p = match crate::dialplan::load::load_dir(
        &root.join(format!("dialplans/{name}")),
        &super::cli::NoPrompts,
    ) {
        Ok(p) => p,
        Err(e) => panic!("{e:?}"),
    };
    (w, p)
}

#[test]
fn same_seed_same_output() {
    let (w, p) = shipped("trois-rivieres");
    let a = report_text(&w, Some(&p), 42, 5);
    let b = report_text(&w, Some(&p), 42, 5);
    let c = report_text(&w, Some(&p), 43, 5);
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn shipped_workloads_run_on_their_plans() {
    for name in ["quebec", "trois-rivieres"] {
        let (w, p) = shipped(name);
        // A winter week (with a storm day in Québec's), then a summer week.
        for start in ["2027-01-18", "2027-07-05"] {
            let sc = match scenario::build(
                &w,
                Some(&p),
                &Options {
                    start: start.parse().ok(),
                    days: Some(7),
                    ..Options::default()
                },
            ) {
                Ok(s) => s,
                Err(e) => panic!("{e}"),
            };
            let mut keep = Keep::default();
            let stats = engine::run(&sc, 1, &mut keep, &mut |_| {});
            let offered = keep.rows.iter().filter(|r| r.offered).count();
            // Answered while holding, or called back (a caller told a long wait who would
            // not have held takes the callback offer).
            let answered = keep.rows.iter().filter(|r| r.answered).count();
            let by_queue = |q: &str| {
                keep.rows
                    .iter()
                    .filter(|r| r.queue.as_deref() == Some(q))
                    .count()
            };
            println!(
                "{name} from {start}: {} calls, {offered} offered, {answered} answered, general {}, {:?}",
                stats.arrivals,
                by_queue("general"),
                stats
            );
            assert!(
                offered > 1000 && answered as f64 > 0.7 * offered as f64,
                "{name} {start}"
            );
            // Weekends are closed: a call then is after-hours, never offered.
            let weekend = |ms: i64| {
                jiff::Timestamp::from_millisecond(ms)
                    .map(|t| t.to_zoned(sc.tz.clone()).weekday().to_monday_zero_offset() >= 5)
                    .unwrap_or(false)
            };
            assert!(keep
                .rows
                .iter()
                .all(|r| !(r.offered && weekend(r.start_ms))));
            assert!(stats.unfinished < 5, "{stats:?}");
        }
    }
}

#[test]
fn agents_from_an_agents_file_work_the_default_schedule() {
    let (w, p) = shipped("trois-rivieres");
    let defs: Vec<_> = (1..=8)
        .map(|i| {
            scenario::agent_def(
                &format!("a{i}"),
                [
                    ("fr", 3),
                    ("en", 2),
                    ("general", 3),
                    ("aines", 2),
                    ("aide-alimentaire", 1),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
                Vec::new(),
                None,
                Vec::new(),
            )
        })
        .collect();
    let opts = Options {
        days: Some(7),
        agents: Some(defs),
        ..Options::default()
    };
    let sc = match scenario::build(&w, Some(&p), &opts) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(sc.agents.len(), 8);
    // Five weekdays of 08:30–16:30 (the first week of January has no holiday after the 4th).
    // The workload's [schedule]: four stretches a day (two breaks, lunch).
    assert!(sc.shifts.iter().all(|s| s.len() == 5 * 4));
    let mut col = Collector::new(
        crate::report::interval::intervals(
            jiff::Timestamp::from_millisecond(sc.start_ms as i64).unwrap_or_default(),
            jiff::Timestamp::from_millisecond(sc.end_ms as i64).unwrap_or_default(),
            crate::report::interval::Bucket::Week,
            &sc.tz,
            &sc.season_spans,
        )
        .unwrap_or_default(),
        Params::default(),
    );
    engine::run(&sc, 3, &mut col, &mut |_| {});
    let t = col.total();
    assert!(t.answered > 1500, "{t:?}");
}

#[test]
fn history_estimates_its_own_workload_back() {
    // Two weeks of known traffic with patience: the estimate must find it again.
    let profile = "2, 4, 4, 3, 2, 3, 4, 3, 2, 1";
    let w = parse(&format!(
        r#"
[workload]
start = "2027-05-03"
days = 14
[arrivals]
calls_per_day = 600
profile_start = "09:00"
profile = [{profile}]
[arrivals.weekdays]
mon = 1.2
tue = 1.0
wed = 1.0
thu = 1.0
fri = 0.8
[languages]
fr = 0.75
en = 0.25
[topics.permis]
share = 0.3
queue = "general"
[topics.collectes]
share = 0.7
queue = "general"
[handling]
talk_mean_s = 200
talk_distribution = "lognormal"
talk_cv = 0.6
wrapup_s = 20
patience_mean_s = 120
[[agents]]
id = "a"
count = 8
skills = {{ fr = 3, en = 3, permis = 3, collectes = 3 }}
shifts = ["09:00-14:00"]
"#
    ));
    let sc = scenario_of(&w);
    let mut keep = Keep::default();
    engine::run(&sc, 9, &mut keep, &mut |_| {});
    let window = super::history::Window {
        from: w.start,
        weeks: 2,
        horizon_days: 7,
    };
    let (text, seen) = match super::history::estimate(&keep.rows, &window, &sc.tz, &|_| false) {
        Ok(x) => x,
        Err(e) => panic!("{e}"),
    };
    println!("{text}\n{seen:?}");
    let back = parse(&text);
    let rel = |a: f64, b: f64| (a / b - 1.0).abs();
    let monday = back.arrivals.calls_per_day * back.arrivals.weekday[0];
    assert!(rel(monday, 720.0) < 0.05, "{monday}");
    assert!(
        rel(
            back.arrivals.calls_per_day * back.arrivals.weekday[4],
            480.0
        ) < 0.06
    );
    assert_eq!(back.arrivals.weekday[5], 0.0);
    assert!(rel(back.handling.talk_mean_s, 200.0) < 0.03);
    assert!((back.handling.talk_cv - 0.6).abs() < 0.05);
    assert_eq!(back.handling.wrapup_s, 20);
    // Patience is censored by answers: the estimator must still find the mean.
    let p = back.handling.patience_mean_s.unwrap_or(0.0);
    assert!(rel(p, 120.0) < 0.12, "patience {p}");
    let en = back
        .languages
        .iter()
        .find(|l| l.0 == "en")
        .map_or(0.0, |l| l.1);
    assert!((en - 0.25).abs() < 0.02);
    let permis = back
        .topics
        .iter()
        .find(|t| t.name == "permis")
        .map_or(0.0, |t| t.share);
    assert!((permis - 0.3).abs() < 0.02);
    // The profile's shape survives: 10:00 is twice 09:00.
    let p = &back.arrivals.profiles[1];
    assert!(rel(p[20] / p[18], 2.0) < 0.15, "{} {}", p[18], p[20]);
}

/// The wait estimate on the simulator: a part of the M/M/N+M grid, a shipped workload, and
/// the same figures from the simulated log written to a database.
mod waits;
