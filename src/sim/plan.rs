//! The planner: for every (season, weekday, half-hour) of a workload, the offered load and the
//! Erlang C agents on the phones for a service-level target (and the roster after shrinkage),
//! with the Erlang C and Erlang A predictions for that staffing — then the same staffing
//! simulated through the ACD, printed side by side. A what-if replaces the Erlang staffing by
//! a fixed headcount.
//!
//! Owns: bucketing the workload, the Erlang arithmetic per bucket (through `erlang`), per-slot
//! staffing, bucketing simulated calls and staffed time, and the plan's table/CSV/JSON.
//! Never does: I/O or read the clock (the caller passes the scenario, seed and a progress
//! callback).
//!
//! Conventions: the ring delay holds the agent and counts as queue wait in the reports, so the
//! Erlang service time is talk + wrap-up + mean ring and the Erlang threshold is T − mean ring;
//! predicted ASA adds the mean ring back. Service level and abandonment are in the report's
//! terms: short abandons (wait < τ) are taken out of the denominator.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::collect::StaffingLog;
use super::engine::{self, AgentChange, Sink};
use super::erlang::{self, Target};
use super::scenario::{agent_def, Scenario};
use super::workload::{weekday_key, Workload};
use crate::acd::agents::AgentDef;
use crate::report::cdr::CallRow;
use crate::report::interval::Interval;
use crate::report::metrics::{self, AgentTime, Figures, Params, Tally};

/// What to plan for.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanOptions {
    pub target: Target,
    /// τ, seconds.
    pub short_abandon_s: f64,
    /// Share of paid time off the phones (breaks, training, absence), 0..1.
    pub shrinkage: f64,
    /// What-if: this many agents on the phones whenever the centre is open and calls come.
    pub fixed_agents: Option<u32>,
    /// Only this season.
    pub season: Option<String>,
    /// Run the simulation (false: Erlang only).
    pub simulate: bool,
}

/// A service-level target that is not `percent/seconds` (e.g. `80/100`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a target like 80/100 (percent / seconds)")]
pub struct TargetError {
    pub text: String,
}

/// `80/100` → 80 % within 100 s.
pub fn parse_target(s: &str) -> Result<Target, TargetError> {
    let bad = || TargetError {
        text: s.to_string(),
    };
    let (p, t) = s.split_once('/').ok_or_else(bad)?;
    let p: f64 = p.trim().trim_end_matches('%').parse().map_err(|_| bad())?;
    let t: f64 = t.trim().trim_end_matches('s').parse().map_err(|_| bad())?;
    if !((0.0..=100.0).contains(&p) && t >= 0.0 && t.is_finite()) {
        return Err(bad());
    }
    Ok(Target {
        service_level: p / 100.0,
        threshold_s: t,
    })
}

/// Erlang C's view of a staffing.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ErlangC {
    pub p_wait_pct: f64,
    pub sl_pct: f64,
    pub asa_s: f64,
}

/// Erlang A's view (exponential patience).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ErlangA {
    pub sl_pct: f64,
    pub abandon_pct: f64,
    pub asa_s: f64,
}

/// One (season, weekday, half-hour).
#[derive(Debug, Clone, Serialize)]
pub struct Need {
    pub season: Option<String>,
    pub weekday: &'static str,
    /// Local start, `08:30`.
    pub time: String,
    /// Open days of this kind in the period.
    pub days: u32,
    /// Mean calls in the half-hour.
    pub calls: f64,
    /// Talk + wrap-up, seconds.
    pub aht_s: f64,
    /// Offered load A = λ × (AHT + mean ring).
    pub erlangs: f64,
    /// Erlang C agents on the phones for the target.
    pub erlang_agents: u32,
    /// Agents on the phones in this plan (the Erlang C figure, or the what-if).
    pub agents: u32,
    /// Agents to roster: ceil(agents / (1 − shrinkage)).
    pub roster: u32,
    pub erlang_c: ErlangC,
    pub erlang_a: Option<ErlangA>,
    /// The simulated figures of this bucket (every day of the kind pooled).
    pub sim: Option<Figures>,
    #[serde(skip)]
    key: (usize, usize, usize),
}

/// A season's (or the whole period's) summary.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub season: String,
    pub days: u32,
    pub calls_per_week: f64,
    pub peak_agents: u32,
    pub agent_hours_per_week: f64,
    pub roster_hours_per_week: f64,
    /// Call-weighted Erlang predictions.
    pub erlang_c_sl_pct: f64,
    pub erlang_a_sl_pct: Option<f64>,
    pub erlang_a_abandon_pct: Option<f64>,
    pub sim: Option<Figures>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub workload: String,
    pub target_pct: f64,
    pub threshold_s: f64,
    pub short_abandon_s: f64,
    pub shrinkage: f64,
    pub fixed_agents: Option<u32>,
    pub ring_mean_s: f64,
    pub patience_mean_s: Option<f64>,
    pub seed: u64,
    pub needs: Vec<Need>,
    pub seasons: Vec<Summary>,
    pub total: Summary,
}

/// Per-bucket sums over the period.
#[derive(Debug, Clone, Default)]
struct Acc {
    calls: f64,
    len_ms: f64,
    days: u32,
    aht_s: f64,
}

/// Erlang arithmetic for one bucket.
fn evaluate(
    calls: f64,
    len_s: f64,
    aht_s: f64,
    ring_s: f64,
    patience: Option<f64>,
    o: &PlanOptions,
) -> (f64, u32, u32, ErlangC, Option<ErlangA>) {
    let lambda = if len_s > 0.0 { calls / len_s } else { 0.0 };
    let service = aht_s + ring_s;
    let a = lambda * service;
    let t = (o.target.threshold_s - ring_s).max(0.0);
    let erl = erlang::agents_for(
        lambda,
        service,
        Target {
            service_level: o.target.service_level,
            threshold_s: t,
        },
    );
    let n = o.fixed_agents.unwrap_or(erl);
    let c = ErlangC {
        p_wait_pct: 100.0 * erlang::erlang_c(n, a),
        sl_pct: 100.0 * erlang::service_level(n, a, service, t),
        asa_s: erlang::asa(n, a, service) + ring_s,
    };
    let ea = patience.map(|p| {
        let e = erlang::erlang_a(n, lambda, 1.0 / service, 1.0 / p);
        let short = e.p_abandoned_within(o.short_abandon_s);
        let base = (1.0 - short).max(1e-12);
        ErlangA {
            sl_pct: 100.0 * e.p_answered_within(t) / base,
            abandon_pct: 100.0 * (e.p_abandon - short).max(0.0) / base,
            asa_s: e.mean_wait_served + ring_s,
        }
    });
    (a, erl, n, c, ea)
}

/// Agents the simulated plan copies: the workload's groups (by headcount), else everyone who
/// could take any call (every language and skill at 5).
pub fn templates(sc: &Scenario, w: &Workload, file: Option<&[AgentDef]>) -> Vec<(AgentDef, u32)> {
    if let Some(defs) = file {
        if !defs.is_empty() {
            return defs.iter().map(|d| (d.clone(), 1)).collect();
        }
    }
    let groups: Vec<(AgentDef, u32)> = w
        .agents
        .iter()
        .filter(|g| g.count > 0)
        .map(|g| {
            (
                agent_def(
                    &g.id,
                    g.skills.clone(),
                    g.queues.clone(),
                    g.wrapup_s,
                    Vec::new(),
                ),
                g.count,
            )
        })
        .collect();
    if !groups.is_empty() {
        return groups;
    }
    let mut skills = BTreeMap::new();
    for (l, _) in &w.languages {
        skills.insert(l.clone(), 5);
    }
    for q in &sc.queues {
        for s in q
            .skills
            .iter()
            .chain(q.seasons.values().flat_map(|o| o.skills.iter().flatten()))
        {
            skills.insert(s.skill.clone(), 5);
        }
    }
    for m in &sc.mixes {
        for (r, _) in &m.routes {
            for s in &r.skills {
                let name = s.rsplit_once(':').map_or(s.as_str(), |x| x.0);
                skills.insert(name.to_string(), 5);
            }
        }
    }
    vec![(
        agent_def("generalist", skills, Vec::new(), None, Vec::new()),
        1,
    )]
}

/// Buckets, Erlang staffing, and (optionally) the simulation of that staffing.
pub fn plan(
    mut sc: Scenario,
    w: &Workload,
    templates: &[(AgentDef, u32)],
    o: &PlanOptions,
    seed: u64,
    progress: &mut dyn FnMut(f64),
) -> Plan {
    let ring_s = (sc.ring_s.0 + sc.ring_s.1) / 2.0;
    let patience = sc.patience_mean_s;
    let season_names: Vec<Option<String>> = sc.mixes.iter().map(|m| m.season.clone()).collect();
    // Accumulate (mix/season, weekday, slot) → expected calls.
    let mut acc: BTreeMap<(usize, usize, usize), Acc> = BTreeMap::new();
    let mut slot_key: Vec<Option<(usize, usize, usize)>> = vec![None; sc.slots.len()];
    let wanted = |d: &super::scenario::Day| o.season.is_none() || d.season == o.season;
    for d in &sc.days {
        if !wanted(d) {
            continue;
        }
        for k in 0..super::workload::SLOTS_PER_DAY {
            let i = d.first_slot + k;
            let s = sc.slots[i];
            if !s.open || s.end_ms <= s.start_ms {
                continue;
            }
            let key = (s.mix, d.weekday, k);
            let a = acc.entry(key).or_default();
            a.calls += s.calls;
            a.len_ms += (s.end_ms - s.start_ms) as f64;
            a.days += 1;
            a.aht_s = sc.mixes[s.mix].mean_talk_s() + w.handling.wrapup_s as f64;
            slot_key[i] = Some(key);
        }
    }
    acc.retain(|_, a| a.calls > 0.0);
    let mut needs: Vec<Need> = Vec::new();
    let mut index: BTreeMap<(usize, usize, usize), usize> = BTreeMap::new();
    for (key, a) in &acc {
        let (erlangs, erl, n, c, ea) =
            evaluate(a.calls, a.len_ms / 1000.0, a.aht_s, ring_s, patience, o);
        index.insert(*key, needs.len());
        needs.push(Need {
            season: season_names[key.0].clone(),
            weekday: weekday_key(key.1),
            time: format!("{:02}:{:02}", key.2 / 2, (key.2 % 2) * 30),
            days: a.days,
            calls: a.calls / f64::from(a.days.max(1)),
            aht_s: a.aht_s,
            erlangs,
            erlang_agents: erl,
            agents: n,
            roster: erlang::agents_with_shrinkage(n, o.shrinkage),
            erlang_c: c,
            erlang_a: ea,
            sim: None,
            key: *key,
        });
    }
    // Staff every slot with its bucket's agents; other slots (and other seasons) get none.
    let need_of: Vec<u32> = slot_key
        .iter()
        .map(|k| {
            k.and_then(|k| index.get(&k))
                .map_or(0, |&i| needs[i].agents)
        })
        .collect();
    let mut sims: Option<(Vec<Tally>, Vec<AgentTime>)> = None;
    if o.simulate {
        if o.season.is_some() {
            for (s, k) in sc.slots.iter_mut().zip(&slot_key) {
                if k.is_none() {
                    s.calls = 0.0;
                }
            }
        }
        sc.staff_per_slot(templates, &need_of);
        let mut sink = BucketSink::new(&sc, &slot_key, &index, o);
        engine::run(&sc, seed, &mut sink, progress);
        sims = Some(sink.finish(needs.len()));
    }
    if let Some((tallies, times)) = &sims {
        for (i, n) in needs.iter_mut().enumerate() {
            n.sim = Some(Figures::new(&tallies[i], Some(&times[i])));
        }
    }
    // Summaries.
    let slot_hours: Vec<f64> = sc
        .slots
        .iter()
        .map(|s| (s.end_ms - s.start_ms) as f64 / 3_600_000.0)
        .collect();
    let summarize = |label: String, pick: &dyn Fn(&Need) -> bool| -> Summary {
        let chosen: Vec<usize> = (0..needs.len()).filter(|&i| pick(&needs[i])).collect();
        let keys: std::collections::BTreeSet<(usize, usize, usize)> =
            chosen.iter().map(|&i| needs[i].key).collect();
        let mut days = std::collections::BTreeSet::new();
        let (mut calls, mut agent_h, mut roster_h) = (0.0, 0.0, 0.0);
        for (i, k) in slot_key.iter().enumerate() {
            if let Some(k) = k.filter(|k| keys.contains(k)) {
                let n = &needs[index[&k]];
                days.insert(i / super::workload::SLOTS_PER_DAY);
                calls += sc.slots[i].calls;
                agent_h += f64::from(n.agents) * slot_hours[i];
                roster_h += f64::from(n.roster) * slot_hours[i];
            }
        }
        let weeks = period_weeks(&sc, &keys, &season_names);
        let weight: f64 = chosen
            .iter()
            .map(|&i| needs[i].calls * f64::from(needs[i].days))
            .sum();
        let avg = |f: &dyn Fn(&Need) -> f64| {
            if weight > 0.0 {
                chosen
                    .iter()
                    .map(|&i| f(&needs[i]) * needs[i].calls * f64::from(needs[i].days))
                    .sum::<f64>()
                    / weight
            } else {
                0.0
            }
        };
        let sim = sims.as_ref().map(|(tallies, times)| {
            let mut t = Tally::default();
            let mut a = AgentTime::default();
            for &i in &chosen {
                t.merge(&tallies[i]);
                a.merge(&times[i]);
            }
            Figures::new(&t, Some(&a))
        });
        Summary {
            season: label,
            days: days.len() as u32,
            calls_per_week: calls / weeks,
            peak_agents: chosen.iter().map(|&i| needs[i].agents).max().unwrap_or(0),
            agent_hours_per_week: agent_h / weeks,
            roster_hours_per_week: roster_h / weeks,
            erlang_c_sl_pct: avg(&|n| n.erlang_c.sl_pct),
            erlang_a_sl_pct: patience.map(|_| avg(&|n| n.erlang_a.map_or(0.0, |e| e.sl_pct))),
            erlang_a_abandon_pct: patience
                .map(|_| avg(&|n| n.erlang_a.map_or(0.0, |e| e.abandon_pct))),
            sim,
        }
    };
    let mut seasons = Vec::new();
    for (m, name) in season_names.iter().enumerate() {
        if needs.iter().any(|n| n.key.0 == m) {
            let label = name.clone().unwrap_or_else(|| "(no season)".into());
            seasons.push(summarize(label, &|n: &Need| n.key.0 == m));
        }
    }
    let total = summarize("total".into(), &|_| true);
    Plan {
        workload: w.name.clone(),
        target_pct: 100.0 * o.target.service_level,
        threshold_s: o.target.threshold_s,
        short_abandon_s: o.short_abandon_s,
        shrinkage: o.shrinkage,
        fixed_agents: o.fixed_agents,
        ring_mean_s: ring_s,
        patience_mean_s: patience,
        seed,
        needs,
        seasons,
        total,
    }
}

/// Weeks the buckets' seasons span in the period (days of those seasons / 7), at least 1/7.
fn period_weeks(
    sc: &Scenario,
    keys: &std::collections::BTreeSet<(usize, usize, usize)>,
    season_names: &[Option<String>],
) -> f64 {
    let mixes: std::collections::BTreeSet<usize> = keys.iter().map(|k| k.0).collect();
    let days = sc
        .days
        .iter()
        .filter(|d| {
            mixes
                .iter()
                .any(|&m| season_names.get(m).is_some_and(|s| *s == d.season))
        })
        .count();
    (days.max(1) as f64) / 7.0
}

/// Simulated calls and staffed time per bucket.
struct BucketSink {
    slot_end: Vec<u64>,
    slot_bucket: Vec<Option<usize>>,
    params: Params,
    tallies: Vec<Tally>,
    intervals: Vec<Interval>,
    staffing: StaffingLog,
    to_ms: i64,
}

impl BucketSink {
    fn new(
        sc: &Scenario,
        slot_key: &[Option<(usize, usize, usize)>],
        index: &BTreeMap<(usize, usize, usize), usize>,
        o: &PlanOptions,
    ) -> BucketSink {
        BucketSink {
            slot_end: sc.slots.iter().map(|s| s.end_ms).collect(),
            slot_bucket: slot_key
                .iter()
                .map(|k| k.and_then(|k| index.get(&k).copied()))
                .collect(),
            params: Params {
                short_abandon_ms: (o.short_abandon_s * 1000.0) as i64,
                threshold_ms: (o.target.threshold_s * 1000.0) as i64,
                target_pct: 100.0 * o.target.service_level,
            },
            tallies: vec![Tally::default(); index.len()],
            intervals: sc
                .slots
                .iter()
                .map(|s| Interval {
                    label: String::new(),
                    start_ms: s.start_ms as i64,
                    end_ms: s.end_ms as i64,
                })
                .collect(),
            staffing: StaffingLog::default(),
            to_ms: sc.end_ms as i64,
        }
    }

    fn finish(self, n: usize) -> (Vec<Tally>, Vec<AgentTime>) {
        let events = self.staffing.into_events();
        let (per_slot, _) = metrics::agent_time(&events, &self.intervals, self.to_ms);
        let mut times = vec![AgentTime::default(); n];
        for (t, b) in per_slot.iter().zip(&self.slot_bucket) {
            if let Some(b) = b {
                times[*b].merge(t);
            }
        }
        (self.tallies, times)
    }
}

impl Sink for BucketSink {
    fn call(&mut self, row: CallRow) {
        let t = row.start_ms.max(0) as u64;
        let i = self.slot_end.partition_point(|&e| e <= t);
        if let Some(Some(b)) = self.slot_bucket.get(i) {
            self.tallies[*b].add(&row, &self.params);
        }
    }

    fn agent(&mut self, c: AgentChange<'_>) {
        self.staffing.push(&c);
    }
}

// ----- output -----

fn f1(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.1}")
    } else {
        "inf".into()
    }
}

fn o1(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), f1)
}

const COLUMNS: [&str; 14] = [
    "time", "calls", "aht_s", "erlangs", "agents", "roster", "erlC_sl", "erlC_asa", "erlA_sl",
    "erlA_ab", "sim_sl", "sim_ab", "sim_asa", "sim_occ",
];

fn need_cells(n: &Need) -> Vec<String> {
    let s = n.sim.as_ref();
    vec![
        n.time.clone(),
        f1(n.calls),
        f1(n.aht_s),
        format!("{:.2}", n.erlangs),
        n.agents.to_string(),
        n.roster.to_string(),
        f1(n.erlang_c.sl_pct),
        f1(n.erlang_c.asa_s),
        o1(n.erlang_a.map(|e| e.sl_pct)),
        o1(n.erlang_a.map(|e| e.abandon_pct)),
        o1(s.and_then(|f| f.service_level_pct)),
        o1(s.and_then(|f| f.abandon_pct)),
        o1(s.and_then(|f| f.asa_s)),
        o1(s.and_then(|f| f.occupancy_pct)),
    ]
}

const SUMMARY_COLUMNS: [&str; 13] = [
    "season",
    "days",
    "calls/wk",
    "peak",
    "agent_h/wk",
    "roster_h/wk",
    "erlC_sl",
    "erlA_sl",
    "erlA_ab",
    "sim_sl",
    "sim_ab",
    "sim_asa",
    "sim_occ",
];

fn summary_cells(s: &Summary) -> Vec<String> {
    let f = s.sim.as_ref();
    vec![
        s.season.clone(),
        s.days.to_string(),
        format!("{:.0}", s.calls_per_week),
        s.peak_agents.to_string(),
        format!("{:.0}", s.agent_hours_per_week),
        format!("{:.0}", s.roster_hours_per_week),
        f1(s.erlang_c_sl_pct),
        o1(s.erlang_a_sl_pct),
        o1(s.erlang_a_abandon_pct),
        o1(f.and_then(|f| f.service_level_pct)),
        o1(f.and_then(|f| f.abandon_pct)),
        o1(f.and_then(|f| f.asa_s)),
        o1(f.and_then(|f| f.occupancy_pct)),
    ]
}

fn table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let mut all: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    all.extend(rows.iter().cloned());
    let widths: Vec<usize> = (0..header.len())
        .map(|i| all.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in all {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 0 {
                    format!("{c:<w$}", w = widths[i])
                } else {
                    format!("{c:>w$}", w = widths[i])
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
}

impl Plan {
    pub fn title(&self) -> String {
        let staffing = match self.fixed_agents {
            Some(n) => format!("what-if: {n} agents on the phones"),
            None => "Erlang C staffing".to_string(),
        };
        format!(
            "centrale plan — {}: target {} % within {} s, shrinkage {} %, {staffing}, seed {}",
            self.workload,
            self.target_pct,
            self.threshold_s,
            100.0 * self.shrinkage,
            self.seed
        )
    }

    pub fn to_table(&self) -> String {
        let mut out = self.title();
        out.push('\n');
        let _ = writeln!(
            out,
            "calls = mean per half-hour; agents = on the phones (roster = with shrinkage); erlC/erlA = \
             Erlang C/A prediction for that staffing; sim = simulated through the ACD \
             (SL and abandonment exclude abandons under {} s; ring {:.1} s counts as handle and wait)",
            self.short_abandon_s, self.ring_mean_s
        );
        let mut groups: Vec<(String, Vec<Vec<String>>)> = Vec::new();
        for n in &self.needs {
            let label = format!(
                "{} — {}",
                n.season.as_deref().unwrap_or("(no season)"),
                n.weekday
            );
            match groups.last_mut() {
                Some((l, rows)) if *l == label => rows.push(need_cells(n)),
                _ => groups.push((label, vec![need_cells(n)])),
            }
        }
        for (label, rows) in groups {
            let _ = writeln!(out, "\n{label}");
            table(&mut out, &COLUMNS, &rows);
        }
        out.push_str("\nsummary\n");
        let mut rows: Vec<Vec<String>> = self.seasons.iter().map(summary_cells).collect();
        rows.push(summary_cells(&self.total));
        table(&mut out, &SUMMARY_COLUMNS, &rows);
        out
    }

    pub fn to_csv(&self) -> String {
        let mut out = format!("season,weekday,{},erlang_agents,days\n", COLUMNS.join(","));
        for n in &self.needs {
            let _ = writeln!(
                out,
                "{},{},{},{},{}",
                n.season.as_deref().unwrap_or(""),
                n.weekday,
                need_cells(n).join(","),
                n.erlang_agents,
                n.days
            );
        }
        out
    }

    pub fn to_json(&self) -> anyhow::Result<String> {
        Ok(serde_json::to_string_pretty(self)? + "\n")
    }
}
