//! `centrale seed`: realistic synthetic 311 traffic, written as events (and their `calls` rows,
//! derived with `cdr::summarize` like live ones), fast enough for a million calls.
//!
//! The model: an arrival curve over the day (peaks mid-morning and early afternoon), weekdays
//! heavier than weekends, monthly seasonality (snow in winter, potholes at the thaw, bulky
//! items and moves in spring and on July 1st) with a few snowstorm days staffed as normal days;
//! an IVR that serves, redirects (911, 811, partners) or queues; a FIFO queue simulated against
//! agents staffed per hour by a square-root rule, with exponential patience plus a share of
//! callers who hang up within seconds (short abandons), callbacks offered on long waits,
//! breaks, and every agent state change.
//!
//! Owns: the traffic model and bulk insertion. Never does: touch a live writer or journal, or
//! depend on the clock (the same `--seed` gives the same data).

use std::time::Instant;

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::ToSpan;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use super::cdr::{summarize, CallRow};
use super::interval;
use crate::event::{AgentEvent, CallEvent, EventKind};
use crate::store::{insert, Db};

/// `centrale seed`.
#[derive(Debug, Clone, clap::Args)]
pub struct SeedArgs {
    /// Database URL: sqlite://FILE or postgres://…
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://centrale.db")]
    pub database: String,
    /// How many calls to generate over the period.
    #[arg(long, default_value_t = 1_000_000)]
    pub calls: u64,
    /// First local day.
    #[arg(long, default_value = "2027-01-01")]
    pub from: String,
    /// Number of days.
    #[arg(long, default_value_t = 365)]
    pub days: u32,
    /// Random seed (same seed, same traffic).
    #[arg(long, default_value_t = 311)]
    pub seed: u64,
}

/// Relative volume by hour of the local day.
const HOUR_CURVE: [f64; 24] = [
    0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 1.5, 5.0, 8.0, 9.0, 8.5, 7.0, 7.5, 8.0, 7.0, 6.0, 4.5, 3.0,
    1.5, 1.0, 0.7, 0.4, 0.3,
];
/// Monday first.
const WEEKDAY: [f64; 7] = [1.15, 1.05, 1.0, 1.0, 0.95, 0.35, 0.25];
const MONTH: [f64; 12] = [
    1.2, 1.15, 1.1, 1.2, 1.15, 1.05, 1.1, 0.95, 0.9, 0.9, 0.95, 1.0,
];
const TOPICS: [(&str, &str); 8] = [
    ("encombrants", "collecte"),
    ("collecte", "collecte"),
    ("permis", "permis"),
    ("deneigement", "travaux-publics"),
    ("nids-de-poule", "travaux-publics"),
    ("eclairage", "travaux-publics"),
    ("taxes", "general"),
    ("information", "general"),
];
/// Share of IVR callers who go to a queue when open.
const QUEUE_SHARE: f64 = 0.83;
const MEAN_HANDLE_S: f64 = 300.0;

fn topic_weights(month: i8) -> [f64; 8] {
    let winter = matches!(month, 12 | 1 | 2 | 3);
    let thaw = matches!(month, 3..=5);
    let moving = matches!(month, 4..=7);
    [
        if moving { 4.0 } else { 2.0 },
        1.2,
        if moving { 1.8 } else { 0.8 },
        if winter { 3.0 } else { 0.05 },
        if thaw { 1.5 } else { 0.3 },
        0.4,
        if month == 2 || month == 6 { 1.0 } else { 0.3 },
        1.0,
    ]
}

fn pick(rng: &mut SmallRng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut x = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

fn exp(rng: &mut SmallRng, mean: f64) -> f64 {
    -mean * (1.0 - rng.random::<f64>()).ln()
}

fn open_hours(wd: Weekday) -> std::ops::Range<usize> {
    match wd {
        Weekday::Saturday | Weekday::Sunday => 9..17,
        _ => 8..19,
    }
}

/// One day of traffic: every call's events, their rows, and the agents' state changes.
#[derive(Debug, Default)]
pub struct Day {
    pub events: Vec<CallEvent>,
    pub rows: Vec<CallRow>,
    pub agents: Vec<AgentEvent>,
}

struct Calllog<'a> {
    call: String,
    seq: u32,
    out: &'a mut Vec<CallEvent>,
}

impl Calllog<'_> {
    fn emit(&mut self, at_ms: i64, kind: EventKind) {
        self.out.push(CallEvent {
            call: self.call.clone(),
            seq: self.seq,
            at_ms,
            kind,
        });
        self.seq += 1;
    }
}

/// Generate `n` calls on local day `date`; `storm` multiplies volume without extra staff.
pub fn generate_day(rng: &mut SmallRng, tz: &TimeZone, date: Date, n: usize, storm: f64) -> Day {
    let mut day = Day::default();
    let hour_start: Vec<i64> = (0..=24)
        .map(|h| {
            let d = if h == 24 {
                date.tomorrow().unwrap_or(date)
            } else {
                date
            };
            let dt = d.at(if h == 24 { 0 } else { h as i8 }, 0, 0, 0);
            tz.to_ambiguous_zoned(dt)
                .compatible()
                .map(|z| z.timestamp().as_millisecond())
                .unwrap_or(0)
        })
        .collect();
    let open = open_hours(date.weekday());
    let curve_total: f64 = HOUR_CURVE.iter().sum();
    // Staff for the expected (non-storm) volume: N = A + 0.8·√A + 1 (square-root staffing).
    let expected = n as f64 / storm;
    let staffing: Vec<usize> = (0..24)
        .map(|h| {
            if !open.contains(&h) {
                return 0;
            }
            let lambda = expected * HOUR_CURVE[h] / curve_total * QUEUE_SHARE;
            let a = lambda * MEAN_HANDLE_S / 3600.0;
            (a + 0.8 * a.sqrt() + 1.0).ceil() as usize
        })
        .collect();
    let n_agents = staffing.iter().copied().max().unwrap_or(0);
    let mut arrivals: Vec<(i64, usize)> = (0..n)
        .map(|_| {
            let h = pick(rng, &HOUR_CURVE);
            let len = hour_start[h + 1] - hour_start[h];
            (hour_start[h] + rng.random_range(0..len.max(1)), h)
        })
        .collect();
    arrivals.sort_unstable();
    let tw = topic_weights(date.month());
    let mut free_at = vec![0i64; n_agents];
    let mut break_at: Vec<Option<i64>> = (0..n_agents)
        .map(|i| {
            let first = (0..24).find(|h| staffing[*h] > i)?;
            Some(hour_start[first] + 2 * 3_600_000 + rng.random_range(0..3_600_000))
        })
        .collect();
    let mut activity: Vec<Vec<(i64, i64)>> = vec![Vec::new(); n_agents];
    for (t0, h) in arrivals {
        let id = format!("{t0:011x}-{:08x}", rng.random::<u32>());
        let mut log = Calllog {
            call: id,
            seq: 0,
            out: &mut day.events,
        };
        let first_event = log.out.len();
        log.emit(
            t0,
            EventKind::CallStarted {
                sip_call_id: format!("{:016x}@carrier", rng.random::<u64>()),
                from: format!("sip:+1418{:07}@carrier", rng.random_range(0..10_000_000)),
                to: "sip:311@centrale".into(),
                transport: "udp".into(),
                plan_version: "2027.1".into(),
            },
        );
        let mut t = t0 + rng.random_range(300..1500);
        log.emit(t, EventKind::Answered);
        let lang = if rng.random_bool(0.85) { "fr" } else { "en" };
        t += rng.random_range(3_000..8_000);
        log.emit(t, EventKind::LanguageChosen { lang: lang.into() });
        let r = rng.random::<f64>();
        let is_open = open.contains(&h) && staffing[h] > 0;
        let ivr_end = |o: &str| o.to_string();
        let outcome = if !is_open {
            if r < 0.75 {
                Some(ivr_end("after-hours"))
            } else if r < 0.85 {
                Some(ivr_end("self-served"))
            } else if r < 0.86 {
                Some(ivr_end("redirect:911"))
            } else if r < 0.92 {
                Some(ivr_end("transfer:811"))
            } else {
                Some(ivr_end("abandoned:ivr"))
            }
        } else if r < 0.005 {
            Some(ivr_end("redirect:911"))
        } else if r < 0.025 {
            Some(ivr_end("transfer:811"))
        } else if r < 0.04 {
            Some(ivr_end(if rng.random_bool(0.5) {
                "transfer:211"
            } else {
                "transfer:voisins"
            }))
        } else if r < 0.14 {
            Some(ivr_end("self-served"))
        } else if r < 1.0 - QUEUE_SHARE {
            Some(ivr_end("abandoned:ivr"))
        } else {
            None
        };
        let ti = pick(rng, &tw);
        let (topic, queue) = TOPICS[ti];
        t += rng.random_range(4_000..20_000);
        log.emit(
            t,
            EventKind::MenuChoice {
                node: "principal".into(),
                digit: ((ti % 6) + 1).to_string(),
                next: topic.into(),
            },
        );
        if let Some(o) = outcome {
            t += rng.random_range(5_000..60_000);
            if let Some(target) = o
                .strip_prefix("redirect:")
                .or_else(|| o.strip_prefix("transfer:"))
            {
                log.emit(
                    t - 1000,
                    EventKind::TransferStarted {
                        target: target.into(),
                        uri: format!("sip:{target}@pstn"),
                    },
                );
            }
            let side = if o.starts_with("abandoned") {
                "caller"
            } else {
                "system"
            };
            log.emit(
                t,
                EventKind::CallEnded {
                    outcome: o,
                    side: side.into(),
                    cause: "bye".into(),
                },
            );
        } else {
            let entry = t;
            log.emit(
                entry,
                EventKind::QueueEntered {
                    queue: queue.into(),
                    position: 1,
                    skills: vec![lang.into()],
                    topic: Some(topic.into()),
                    priority: 0,
                },
            );
            // The agent who frees up first among those on shift.
            let on = staffing[h].max(1).min(n_agents.max(1));
            for i in 0..on.min(n_agents) {
                if let Some(b) = break_at[i] {
                    if b <= entry.max(free_at[i]) {
                        let start = b.max(free_at[i]);
                        free_at[i] = start + 15 * 60_000;
                        day.agents.push(agent_ev(i, start, "paused", Some("break")));
                        day.agents.push(agent_ev(i, free_at[i], "available", None));
                        break_at[i] = None;
                    }
                }
            }
            let agent = (0..on.min(n_agents)).min_by_key(|i| free_at[*i]);
            let ring = rng.random_range(2_000..8_000);
            let answer_at = agent.map_or(i64::MAX, |a| entry.max(free_at[a]) + ring);
            let wait = answer_at.saturating_sub(entry);
            let patience = if rng.random_bool(0.07) {
                rng.random_range(500..4_900)
            } else {
                (exp(rng, 150.0) * 1000.0) as i64
            };
            let callback_after = rng.random_range(60_000..120_000);
            if wait > 240_000 && patience > callback_after && rng.random_bool(0.25) {
                let at = entry + callback_after;
                log.emit(
                    at,
                    EventKind::CallbackRequested {
                        queue: queue.into(),
                        number: "+14185550000".into(),
                    },
                );
                log.emit(
                    at,
                    EventKind::QueueLeft {
                        queue: queue.into(),
                        reason: "callback".into(),
                    },
                );
                log.emit(
                    at + 8_000,
                    EventKind::CallEnded {
                        outcome: format!("queue:{queue}"),
                        side: "caller".into(),
                        cause: "bye".into(),
                    },
                );
            } else if patience < wait {
                let at = entry + patience;
                log.emit(
                    at,
                    EventKind::QueueLeft {
                        queue: queue.into(),
                        reason: "abandoned".into(),
                    },
                );
                log.emit(
                    at,
                    EventKind::CallEnded {
                        outcome: format!("queue:{queue}"),
                        side: "caller".into(),
                        cause: "bye".into(),
                    },
                );
            } else if let Some(a) = agent {
                let name = agent_name(a);
                log.emit(
                    answer_at - ring,
                    EventKind::Offered {
                        queue: queue.into(),
                        agent: name.clone(),
                    },
                );
                log.emit(
                    answer_at,
                    EventKind::AgentAnswered {
                        queue: queue.into(),
                        agent: name.clone(),
                    },
                );
                log.emit(
                    answer_at,
                    EventKind::QueueLeft {
                        queue: queue.into(),
                        reason: "answered".into(),
                    },
                );
                let talk = ((60.0 + exp(rng, 200.0)) * 1000.0) as i64;
                let end = answer_at + talk;
                log.emit(
                    end,
                    EventKind::CallEnded {
                        outcome: "completed".into(),
                        side: if rng.random_bool(0.7) {
                            "caller"
                        } else {
                            "agent"
                        }
                        .into(),
                        cause: "bye".into(),
                    },
                );
                let wrap_end = end + rng.random_range(15_000..60_000);
                log.emit(wrap_end, EventKind::WrapupEnded { agent: name });
                free_at[a] = wrap_end;
                activity[a].push((answer_at - ring, wrap_end));
                day.agents
                    .push(agent_ev(a, answer_at - ring, "ringing", None));
                day.agents.push(agent_ev(a, answer_at, "on_call", None));
                day.agents.push(agent_ev(a, end, "wrap_up", None));
                day.agents.push(agent_ev(a, wrap_end, "available", None));
            }
        }
        day.rows.push(summarize(&day.events[first_event..]));
    }
    // Shifts: agent i works the hours where staffing > i, as contiguous runs.
    for (i, acts) in activity.iter().enumerate() {
        let mut h = 0;
        while h < 24 {
            if staffing[h] > i {
                let start = h;
                while h < 24 && staffing[h] > i {
                    h += 1;
                }
                let (from, to) = (hour_start[start], hour_start[h]);
                let last = acts
                    .iter()
                    .filter(|(s, _)| *s < to)
                    .map(|(_, e)| *e)
                    .max()
                    .unwrap_or(to);
                day.agents.push(agent_ev(i, from, "available", None));
                day.agents
                    .push(agent_ev(i, last.max(to) + 1, "logged_out", None));
            } else {
                h += 1;
            }
        }
    }
    day.agents
        .sort_by(|a, b| (&a.agent, a.at_ms).cmp(&(&b.agent, b.at_ms)));
    day.agents
        .dedup_by(|a, b| a.agent == b.agent && a.at_ms == b.at_ms && a.state == b.state);
    day
}

fn agent_name(i: usize) -> String {
    format!("a{:03}", i + 1)
}

fn agent_ev(i: usize, at_ms: i64, state: &str, reason: Option<&str>) -> AgentEvent {
    AgentEvent {
        agent: agent_name(i),
        at_ms,
        state: state.into(),
        reason: reason.map(Into::into),
    }
}

/// Calls per day for `total` calls over `days` days from `first`, with storm multipliers.
pub fn daily_volumes(
    rng: &mut SmallRng,
    first: Date,
    days: u32,
    total: u64,
) -> Vec<(Date, usize, f64)> {
    let mut plan = Vec::new();
    let mut d = first;
    for _ in 0..days {
        let winter = matches!(d.month(), 12 | 1 | 2 | 3);
        let storm = if winter && rng.random_bool(0.04) {
            2.2
        } else {
            1.0
        };
        let w = WEEKDAY[d.weekday().to_monday_zero_offset() as usize]
            * MONTH[(d.month() - 1) as usize]
            * storm;
        plan.push((d, w, storm));
        d = d.checked_add(1.day()).unwrap_or(d);
    }
    let sum: f64 = plan.iter().map(|p| p.1).sum();
    let mut carry = 0.0;
    let mut out: Vec<(Date, usize, f64)> = plan
        .into_iter()
        .map(|(d, w, storm)| {
            let exact = total as f64 * w / sum + carry;
            let n = exact.floor();
            carry = exact - n;
            (d, n as usize, storm)
        })
        .collect();
    // Rounding leftovers go to the last day, so the total is exact.
    let given: usize = out.iter().map(|p| p.1).sum();
    if let Some(last) = out.last_mut() {
        last.1 += (total as usize).saturating_sub(given);
    }
    out
}

/// `centrale seed`: generate and insert; returns a summary line.
pub async fn run_seed(args: SeedArgs) -> anyhow::Result<String> {
    let tz = interval::report_tz()?;
    let first: Date = args
        .from
        .parse()
        .map_err(|e| anyhow::anyhow!("--from {:?}: {e}", args.from))?;
    let db = Db::open(&args.database).await?;
    let started = Instant::now();
    let mut rng = SmallRng::seed_from_u64(args.seed);
    let plan = daily_volumes(&mut rng, first, args.days, args.calls);
    let (mut calls, mut events, mut agents) = (0usize, 0usize, 0usize);
    for (date, n, storm) in plan {
        let day = generate_day(&mut rng, &tz, date, n, storm);
        let mut tx = db.pool.begin().await?;
        let evs: Vec<&CallEvent> = day.events.iter().collect();
        insert::insert_events(&mut tx, &evs).await?;
        let ags: Vec<&AgentEvent> = day.agents.iter().collect();
        insert::insert_agent_events(&mut tx, &ags).await?;
        insert::upsert_calls(&mut tx, &day.rows).await?;
        tx.commit().await?;
        calls += day.rows.len();
        events += day.events.len();
        agents += day.agents.len();
    }
    db.analyze().await?;
    db.close().await;
    Ok(format!(
        "seeded {calls} calls ({events} call events, {agents} agent events) from {first} over {} days in {:.1} s\n",
        args.days,
        started.elapsed().as_secs_f64()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::metrics::{Figures, Params, Tally};

    #[test]
    fn a_weekday_looks_like_a_311_day() {
        let tz = interval::report_tz().unwrap();
        let mut rng = SmallRng::seed_from_u64(1);
        let date: Date = "2027-03-09".parse().unwrap(); // a Tuesday
        let day = generate_day(&mut rng, &tz, date, 3000, 1.0);
        assert_eq!(day.rows.len(), 3000);
        let p = Params::default();
        let mut t = Tally::default();
        for r in &day.rows {
            t.add(r, &p);
        }
        let f = Figures::new(&t, None);
        let sl = f.service_level_pct.unwrap();
        assert!((40.0..=100.0).contains(&sl), "SL {sl}");
        assert!(f.short_abandons > 0 && f.abandoned > 0 && f.callbacks < f.offered);
        let aht = f.aht_s.unwrap();
        assert!((200.0..400.0).contains(&aht), "AHT {aht}");
        assert!(f.after_hours > 0 && f.self_served > 0 && f.redirected_811 > 0);
        // Every call summarised from its own events, every event ordered.
        for w in day.events.windows(2) {
            if w[0].call == w[1].call {
                assert_eq!(w[1].seq, w[0].seq + 1);
            }
        }
        // Agents never take two calls at once: on_call/available alternate.
        let mut ends = std::collections::HashMap::new();
        for e in &day.agents {
            if e.state == "ringing" {
                let last = ends.get(&e.agent).copied().unwrap_or(i64::MIN);
                assert!(e.at_ms >= last, "{} overlaps", e.agent);
            }
            if e.state == "available" {
                ends.insert(e.agent.clone(), e.at_ms);
            }
        }
    }

    #[test]
    fn volumes_add_up() {
        let mut rng = SmallRng::seed_from_u64(2);
        let plan = daily_volumes(&mut rng, "2027-01-01".parse().unwrap(), 365, 1_000_000);
        let total: usize = plan.iter().map(|p| p.1).sum();
        assert_eq!(total, 1_000_000);
        let sat = plan
            .iter()
            .find(|p| p.0.weekday() == Weekday::Saturday)
            .unwrap();
        let mon = plan
            .iter()
            .find(|p| p.0.weekday() == Weekday::Monday)
            .unwrap();
        assert!(sat.1 < mon.1);
    }
}
