//! From a workload (and optionally a dial plan and an agents.toml) to the concrete timeline the
//! engine runs: every local half-hour of the period with its expected calls, whether the centre
//! is open, the caller mix in force; season changes; the queues; and each agent's definition
//! and login spans.
//!
//! Owns: calendars (the plan's, else the workload's), local time and DST (half-hours are local;
//! a DST day's slots are 23 or 25 hours long in total), where each topic's callers queue (the
//! plan's queue node for the topic, with the same rule as the server: the topic is added to the
//! node's skills), and per-slot staffing for the planner. Never does: I/O, random draws or
//! routing (the engine and the ACD do).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use super::rng::Dist;
use super::workload::{Schedule, TalkDistribution, Workload, WorkloadError, SLOTS_PER_DAY};
use crate::acd::agents::AgentDef;
use crate::acd::AcdConfig;
use crate::dialplan::calendar::{Calendar, Season};
use crate::dialplan::model::{NodeId, NodeKind, Plan, QueueDef};
use crate::report::interval::{default_seasons, SeasonSpan};

/// Where a caller queues: the queue node's view (as the server builds `CallQueued`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRoute {
    pub queue: String,
    pub skills: Vec<String>,
    pub topic: Option<String>,
    pub priority: i32,
}

/// The callers of one season: languages and routes with their weights (cumulative).
#[derive(Debug, Clone)]
pub struct Mix {
    pub season: Option<String>,
    pub languages: Vec<String>,
    pub language_cum: Vec<f64>,
    pub routes: Vec<(Arc<QueueRoute>, Dist)>,
    pub route_cum: Vec<f64>,
}

impl Mix {
    /// Mean talk time over the routes, seconds.
    pub fn mean_talk_s(&self) -> f64 {
        let mut prev = 0.0;
        let mut sum = 0.0;
        for ((_, d), &c) in self.routes.iter().zip(&self.route_cum) {
            sum += (c - prev) * d.mean();
            prev = c;
        }
        if prev > 0.0 {
            sum / prev
        } else {
            0.0
        }
    }
}

/// One local day of the period.
#[derive(Debug, Clone)]
pub struct Day {
    pub date: Date,
    /// Monday = 0.
    pub weekday: usize,
    pub season: Option<String>,
    pub holiday: Option<String>,
    /// Index of its first slot; a day has `SLOTS_PER_DAY` slots.
    pub first_slot: usize,
}

/// One local half-hour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slot {
    pub start_ms: u64,
    /// Equal to `start_ms` for a half-hour a DST change skips.
    pub end_ms: u64,
    /// Expected arrivals.
    pub calls: f64,
    /// The centre is open (callers reach a queue); closed: they hear "closed" and hang up.
    pub open: bool,
    /// Index into `Scenario::mixes`.
    pub mix: usize,
}

/// Everything the engine needs, resolved.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub tz: TimeZone,
    pub days: Vec<Day>,
    pub slots: Vec<Slot>,
    pub start_ms: u64,
    pub end_ms: u64,
    pub mixes: Vec<Mix>,
    /// (when, season) at the period start and at every change.
    pub season_changes: Vec<(u64, Option<String>)>,
    pub season_spans: Vec<SeasonSpan>,
    pub queues: Vec<QueueDef>,
    /// The plan's queue nodes, for `Overflow::Node`.
    pub nodes: BTreeMap<NodeId, Arc<QueueRoute>>,
    pub plan_version: String,
    pub agents: Vec<AgentDef>,
    /// Per agent, sorted disjoint login spans `[start, end)`.
    pub shifts: Vec<Vec<(u64, u64)>>,
    pub ring_s: (f64, f64),
    pub patience_mean_s: Option<f64>,
    pub callback_accept: f64,
    pub acd: AcdConfig,
}

/// Changes to the workload for one run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Multiplies call volume and every agent group's count (round half up).
    pub scale: f64,
    pub start: Option<Date>,
    pub days: Option<u32>,
    /// Agents from an agents.toml instead of the workload's groups, on the workload's
    /// `[schedule]`.
    pub agents: Option<Vec<AgentDef>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            scale: 1.0,
            start: None,
            days: None,
            agents: None,
        }
    }
}

/// An agent definition for the simulator (no password digests: the ACD never reads them).
pub fn agent_def(
    id: &str,
    skills: BTreeMap<String, u8>,
    queues: Vec<String>,
    wrapup_s: Option<u64>,
    seasons: Vec<String>,
) -> AgentDef {
    AgentDef {
        id: id.to_string(),
        name: String::new(),
        username: id.to_string(),
        ha1_md5: String::new(),
        ha1_sha256: String::new(),
        skills,
        queues,
        wrapup_s,
        seasons,
        auto_answer: false,
        srtp: None,
    }
}

/// Epoch ms of local `date` + `minutes` (may be 1440: next midnight). DST gaps move forward.
pub fn local_ms(tz: &TimeZone, date: Date, minutes: u32) -> u64 {
    let dt = date
        .to_datetime(Time::midnight())
        .checked_add(i64::from(minutes).minutes())
        .unwrap_or(date.to_datetime(Time::midnight()));
    tz.to_ambiguous_zoned(dt)
        .compatible()
        .map(|z| z.timestamp().as_millisecond().max(0) as u64)
        .unwrap_or(0)
}

fn span_of(s: &Season) -> SeasonSpan {
    SeasonSpan {
        name: s.name.clone(),
        start: s.start,
        end: s.end,
    }
}

/// The same rule as the server's queue node: the node's skills plus its topic as a skill.
fn node_route(queue: &str, skills: &[String], topic: Option<&str>, priority: i32) -> QueueRoute {
    let mut skills = skills.to_vec();
    if let Some(t) = topic {
        if !skills.iter().any(|s| s == t) {
            skills.push(t.to_string());
        }
    }
    QueueRoute {
        queue: queue.to_string(),
        skills,
        topic: topic.map(str::to_string),
        priority,
    }
}

/// Queue nodes of the plan, and which of them a menu leads to directly.
fn plan_nodes(plan: &Plan) -> (BTreeMap<NodeId, QueueRoute>, BTreeSet<NodeId>) {
    let mut nodes = BTreeMap::new();
    let mut chosen = BTreeSet::new();
    for (id, n) in plan.nodes.iter().enumerate() {
        match &n.kind {
            NodeKind::Queue(q) => {
                nodes.insert(
                    id,
                    node_route(&q.queue, &q.skills, q.topic.as_deref(), q.priority),
                );
            }
            NodeKind::Menu(m) => chosen.extend(m.choices.values().copied()),
            _ => {}
        }
    }
    (nodes, chosen)
}

/// Build the scenario. Errors point into the workload file (a season or node the plan does
/// not have …).
pub fn build(w: &Workload, plan: Option<&Plan>, opts: &Options) -> Result<Scenario, WorkloadError> {
    let src = &w.source;
    let calendar: Option<&Calendar> = plan.and_then(|p| p.calendar(None));
    let tz = calendar
        .map(|c| c.tz.clone())
        .unwrap_or_else(Calendar::default_time_zone);
    let seasons: Vec<Season> = match calendar {
        Some(c) if !c.seasons.is_empty() => c.seasons.clone(),
        _ if !w.seasons.is_empty() => w.seasons.clone(),
        _ => default_seasons()
            .into_iter()
            .map(|s| Season {
                name: s.name,
                start: s.start,
                end: s.end,
            })
            .collect(),
    };
    let known: BTreeSet<&str> = seasons.iter().map(|s| s.name.as_str()).collect();
    let check_season = |name: &str, span: &std::ops::Range<usize>| {
        if known.contains(name) {
            Ok(())
        } else {
            Err(src.error(
                span,
                format!(
                    "unknown season {name:?}: the {} has {}",
                    if calendar.is_some() {
                        "dial plan's calendar"
                    } else {
                        "workload"
                    },
                    known.iter().copied().collect::<Vec<_>>().join(", ")
                ),
            ))
        }
    };
    for f in &w.arrivals.seasons {
        check_season(&f.name, &f.span)?;
    }
    for t in &w.topics {
        for f in &t.seasons {
            check_season(&f.name, &f.span)?;
        }
    }
    for g in &w.agents {
        for s in &g.seasons {
            check_season(s, &g.span)?;
        }
    }

    // Routes.
    let (nodes, chosen) = plan.map(plan_nodes).unwrap_or_default();
    let talk = |mean: f64| match w.handling.distribution {
        TalkDistribution::Exponential => Dist::Exponential { mean },
        TalkDistribution::LogNormal => Dist::lognormal(mean, w.handling.talk_cv),
        TalkDistribution::Fixed => Dist::Fixed { mean },
    };
    let mut routes: Vec<(QueueRoute, Dist, &super::workload::Topic)> = Vec::new();
    for t in &w.topics {
        let from_node =
            match (&t.node, plan) {
                (Some((name, span)), Some(p)) => {
                    let id = p.node_id(name).ok_or_else(|| {
                        src.error(span, format!("the dial plan has no node {name:?}"))
                    })?;
                    Some(nodes.get(&id).cloned().ok_or_else(|| {
                        src.error(span, format!("node {name:?} is not a queue node"))
                    })?)
                }
                _ => None,
            };
        let route = match (from_node, &t.queue) {
            (Some(r), _) => r,
            (None, Some(q)) => node_route(q, &t.skills, Some(&t.name), t.priority),
            (None, None) => {
                // The plan's queue node for this topic, one a menu leads to first.
                let found = nodes
                    .iter()
                    .filter(|(_, r)| r.topic.as_deref() == Some(t.name.as_str()))
                    .min_by_key(|(id, _)| (!chosen.contains(*id), **id))
                    .map(|(_, r)| r.clone());
                match found {
                    Some(mut r) => {
                        for s in &t.skills {
                            if !r.skills.contains(s) {
                                r.skills.push(s.clone());
                            }
                        }
                        r.priority += t.priority;
                        r
                    }
                    None => node_route("general", &t.skills, Some(&t.name), t.priority),
                }
            }
        };
        if let Some(p) = plan {
            if !p.queues.contains_key(&route.queue) {
                return Err(src.error(
                    &t.span,
                    format!(
                        "topic {:?} goes to queue {:?}, which the dial plan does not define",
                        t.name, route.queue
                    ),
                ));
            }
        }
        routes.push((
            route,
            talk(t.talk_mean_s.unwrap_or(w.handling.talk_mean_s)),
            t,
        ));
    }

    // One mix per season, plus one for "no season".
    let mut season_names: Vec<Option<String>> =
        seasons.iter().map(|s| Some(s.name.clone())).collect();
    season_names.push(None);
    let lang_cum: Vec<f64> = w
        .languages
        .iter()
        .scan(0.0, |acc, (_, p)| {
            *acc += p;
            Some(*acc)
        })
        .collect();
    let mixes: Vec<Mix> = season_names
        .iter()
        .map(|season| {
            let (rs, cum) = if routes.is_empty() {
                let r = QueueRoute {
                    queue: "general".into(),
                    skills: Vec::new(),
                    topic: None,
                    priority: 0,
                };
                (vec![(Arc::new(r), talk(w.handling.talk_mean_s))], vec![1.0])
            } else {
                let mut acc = 0.0;
                let mut cum = Vec::new();
                for (_, _, t) in &routes {
                    let share = season
                        .as_ref()
                        .and_then(|s| t.seasons.iter().find(|f| &f.name == s))
                        .map_or(t.share, |f| f.value);
                    acc += share;
                    cum.push(acc);
                }
                (
                    routes
                        .iter()
                        .map(|(r, d, _)| (Arc::new(r.clone()), *d))
                        .collect(),
                    cum,
                )
            };
            Mix {
                season: season.clone(),
                languages: w.languages.iter().map(|l| l.0.clone()).collect(),
                language_cum: lang_cum.clone(),
                routes: rs,
                route_cum: cum,
            }
        })
        .collect();

    // Days and slots.
    let start = opts.start.unwrap_or(w.start);
    let ndays = opts.days.unwrap_or(w.days);
    let scale = if opts.scale.is_finite() && opts.scale >= 0.0 {
        opts.scale
    } else {
        1.0
    };
    let mut days = Vec::with_capacity(ndays as usize);
    let mut slots = Vec::with_capacity(ndays as usize * SLOTS_PER_DAY);
    let mut season_changes: Vec<(u64, Option<String>)> = Vec::new();
    let mut date = start;
    for i in 0..ndays {
        if i > 0 {
            date = date.checked_add(1.day()).map_err(|e| {
                src.error(&(0..0), format!("the period runs past the calendar: {e}"))
            })?;
        }
        let weekday = date.weekday().to_monday_zero_offset() as usize;
        let season = seasons
            .iter()
            .find(|s| s.contains(date))
            .map(|s| s.name.clone());
        let holiday = match calendar {
            Some(c) => c.holiday_on(date).map(|h| h.name.clone()),
            None => w
                .holidays
                .iter()
                .find(|h| {
                    [date.year().checked_sub(1), Some(date.year())]
                        .into_iter()
                        .flatten()
                        .any(|y| h.observed_date_in(y) == Some(date))
                })
                .map(|h| h.name.clone()),
        };
        let mix = season_names
            .iter()
            .position(|s| *s == season)
            .unwrap_or(season_names.len() - 1);
        let factor = w.arrivals.calls_per_day
            * scale
            * w.arrivals.weekday[weekday]
            * season
                .as_ref()
                .and_then(|s| w.arrivals.seasons.iter().find(|f| &f.name == s))
                .map_or(1.0, |f| f.value)
            * w.arrivals.dates.get(&date).copied().unwrap_or(1.0);
        let first_slot = slots.len();
        // Half-hour boundaries; a time a DST gap skips maps to the end of the gap (the
        // backward minimum), so skipped half-hours are empty and later ones keep their label.
        let mut b: Vec<u64> = (0..=SLOTS_PER_DAY)
            .map(|k| local_ms(&tz, date, (k * 30) as u32))
            .collect();
        for k in (0..SLOTS_PER_DAY).rev() {
            b[k] = b[k].min(b[k + 1]);
        }
        for k in 0..SLOTS_PER_DAY {
            let (s, e) = (b[k], b[k + 1]);
            let open = match calendar {
                Some(c) => {
                    e > s
                        && Timestamp::from_millisecond(s as i64)
                            .map(|t| c.status(t).open)
                            .unwrap_or(false)
                }
                None => holiday.is_none(),
            };
            slots.push(Slot {
                start_ms: s,
                end_ms: e,
                calls: if e > s {
                    factor * w.arrivals.profiles[weekday][k]
                } else {
                    0.0
                },
                open,
                mix,
            });
        }
        let day_start = slots[first_slot].start_ms;
        if season_changes.last().map(|(_, s)| s) != Some(&season) {
            season_changes.push((day_start, season.clone()));
        }
        days.push(Day {
            date,
            weekday,
            season,
            holiday,
            first_slot,
        });
    }
    let start_ms = slots.first().map_or(0, |s| s.start_ms);
    let end_ms = match days.last() {
        Some(d) => local_ms(&tz, d.date, 24 * 60),
        None => start_ms,
    };

    let mut sc = Scenario {
        name: w.name.clone(),
        tz,
        days,
        slots,
        start_ms,
        end_ms,
        mixes,
        season_changes,
        season_spans: seasons.iter().map(span_of).collect(),
        queues: plan
            .map(|p| p.queues.values().cloned().collect())
            .unwrap_or_default(),
        nodes: nodes.into_iter().map(|(k, v)| (k, Arc::new(v))).collect(),
        plan_version: plan.map_or_else(|| "sim".to_string(), |p| p.version.clone()),
        agents: Vec::new(),
        shifts: Vec::new(),
        ring_s: w.handling.ring_s,
        patience_mean_s: w.handling.patience_mean_s,
        callback_accept: w.handling.callback_accept,
        acd: AcdConfig {
            ring_timeout_ms: w.ring_timeout_s * 1000,
            max_misses: w.max_misses,
            default_wrapup_ms: w.handling.wrapup_s * 1000,
            default_aht_ms: ((w.handling.talk_mean_s + w.handling.wrapup_s as f64) * 1000.0) as u64,
            ..AcdConfig::default()
        },
    };

    // Agents on their shifts.
    match &opts.agents {
        Some(defs) => {
            for (i, d) in defs.iter().enumerate() {
                let spans = sc.shift_spans(&w.schedule, i, &d.seasons);
                sc.agents.push(d.clone());
                sc.shifts.push(spans);
            }
        }
        None => {
            for g in &w.agents {
                let n = (f64::from(g.count) * scale + 0.5).floor() as u32;
                let group = super::workload::AgentGroup {
                    count: n,
                    ..g.clone()
                };
                for (i, id) in group.ids().iter().enumerate() {
                    let spans = sc.shift_spans(&g.schedule, i, &g.seasons);
                    sc.agents.push(agent_def(
                        id,
                        g.skills.clone(),
                        g.queues.clone(),
                        g.wrapup_s,
                        g.seasons.clone(),
                    ));
                    sc.shifts.push(spans);
                }
            }
        }
    }
    Ok(sc)
}

/// Merge sorted spans that touch or overlap.
fn merge(mut spans: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    spans.retain(|s| s.1 > s.0);
    spans.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(spans.len());
    for s in spans {
        match out.last_mut() {
            Some(last) if s.0 <= last.1 => last.1 = last.1.max(s.1),
            _ => out.push(s),
        }
    }
    out
}

impl Scenario {
    /// Login spans of member `index` of a group on `schedule`: its shift (members take the
    /// shifts in turn) on scheduled weekdays, except holidays and days outside its seasons.
    pub fn shift_spans(
        &self,
        schedule: &Schedule,
        index: usize,
        seasons: &[String],
    ) -> Vec<(u64, u64)> {
        let Some(shift) = schedule.shifts.get(index % schedule.shifts.len().max(1)) else {
            return Vec::new();
        };
        let spans = self
            .days
            .iter()
            .filter(|d| schedule.days[d.weekday] && d.holiday.is_none())
            .filter(|d| {
                seasons.is_empty() || d.season.as_ref().is_some_and(|s| seasons.contains(s))
            })
            .flat_map(|d| {
                shift.iter().map(move |&(a, b)| {
                    (
                        local_ms(&self.tz, d.date, u32::from(a)),
                        local_ms(&self.tz, d.date, u32::from(b)),
                    )
                })
            })
            .collect();
        merge(spans)
    }

    /// Staff per slot for the planner: `need[slot]` agents on the phones, taken from the
    /// front of a pool of `templates` copies (interleaved in proportion to `weights`, so any
    /// prefix has the same mix). Copies keep skills, queues and wrap-up, not seasons (the
    /// need already depends on the season).
    pub fn staff_per_slot(&mut self, templates: &[(AgentDef, u32)], need: &[u32]) {
        let max = need.iter().copied().max().unwrap_or(0) as usize;
        let order = interleave(&templates.iter().map(|t| t.1).collect::<Vec<_>>(), max);
        self.agents.clear();
        self.shifts.clear();
        for (i, &t) in order.iter().enumerate() {
            let d = &templates[t].0;
            self.agents.push(agent_def(
                &format!("plan-{:03}", i + 1),
                d.skills.clone(),
                d.queues.clone(),
                d.wrapup_s,
                Vec::new(),
            ));
            let spans = self
                .slots
                .iter()
                .zip(need)
                .filter(|(_, &n)| n as usize > i)
                .map(|(s, _)| (s.start_ms, s.end_ms))
                .collect();
            self.shifts.push(merge(spans));
        }
    }
}

/// `n` template indices in proportion to `counts`, so that every prefix is close to the
/// proportion (each copy k of template j sits at (k + ½)/c_j; cycles when n > Σc).
pub fn interleave(counts: &[u32], n: usize) -> Vec<usize> {
    let total: u32 = counts.iter().sum();
    if total == 0 || n == 0 {
        return Vec::new();
    }
    let mut keys: Vec<(f64, usize)> = Vec::with_capacity(total as usize);
    for (j, &c) in counts.iter().enumerate() {
        for k in 0..c {
            keys.push(((f64::from(k) + 0.5) / f64::from(c), j));
        }
    }
    keys.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    keys.iter().map(|k| k.1).cycle().take(n).collect()
}

/// The kinds of callers of this scenario no agent could ever take (see `acd::coverage`), one
/// line each.
pub fn coverage_gaps(sc: &Scenario) -> Vec<String> {
    let mut demands = Vec::new();
    for m in &sc.mixes {
        for lang in &m.languages {
            for (r, _) in &m.routes {
                demands.push(crate::acd::coverage::Demand {
                    queue: r.queue.clone(),
                    lang: lang.clone(),
                    skills: r.skills.clone(),
                    topic: r.topic.clone(),
                    season: m.season.clone(),
                });
            }
        }
    }
    let seasons = demands.iter().map(|d| d.season.clone()).collect();
    let gaps = crate::acd::coverage::unservable(&sc.queues, &sc.agents, &demands);
    crate::acd::coverage::describe(&gaps, &seasons)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::workload::Workload;
    use std::path::Path;

    #[test]
    fn slots_follow_local_time_and_dst() {
        let w = Workload::parse(
            r#"
[workload]
start = "2027-03-13"
days = 3
[arrivals]
calls_per_day = 480
profile = [1]
profile_start = "00:00"
[arrivals.profiles]
sun = [0, 0, 0, 0, 0, 0, 1]
[handling]
talk_mean_s = 200
[[agents]]
id = "a"
skills = { fr = 1 }
shifts = ["08:00-16:00"]
days = "all"
"#,
            Path::new("w.toml"),
        )
        .unwrap();
        let sc = build(&w, None, &Options::default()).unwrap();
        assert_eq!(sc.slots.len(), 3 * SLOTS_PER_DAY);
        // Sunday 2027-03-14: 02:00–03:00 does not exist; the 03:00 half-hour is its own slot.
        let sunday = &sc.days[1];
        assert_eq!(sunday.weekday, 6);
        for k in [4, 5] {
            let s = &sc.slots[sunday.first_slot + k];
            assert_eq!(s.end_ms, s.start_ms, "02:00-03:00 is skipped");
        }
        let s = &sc.slots[sunday.first_slot + 6];
        assert_eq!(s.end_ms - s.start_ms, 1_800_000);
        let total: f64 = sc.slots.iter().map(|s| s.calls).sum();
        assert!((total - 3.0 * 480.0).abs() < 1e-9);
        assert_eq!(sc.slots[sunday.first_slot + 6].calls, 480.0);
        assert_eq!(sc.end_ms - sc.start_ms, (3 * 24 - 1) * 3_600_000);
        assert_eq!(sc.season_changes, vec![(sc.start_ms, Some("hiver".into()))]);
        // 8-hour shifts on 3 days, in local time.
        assert_eq!(sc.shifts[0].len(), 3);
        assert!(sc.shifts[0].iter().all(|(a, b)| b - a == 8 * 3_600_000));
    }

    #[test]
    fn interleaving_keeps_proportions_in_every_prefix() {
        let o = interleave(&[8, 2], 10);
        assert_eq!(o.iter().filter(|&&j| j == 1).count(), 2);
        assert_eq!(&o[..5].iter().filter(|&&j| j == 1).count(), &1);
        assert_eq!(interleave(&[1], 3), vec![0, 0, 0]);
        assert!(interleave(&[], 3).is_empty());
        assert_eq!(merge(vec![(5, 7), (0, 2), (2, 5), (9, 9)]), vec![(0, 7)]);
    }
}
