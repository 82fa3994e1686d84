//! The report's formulas, as pure functions over call rows and agent state changes.
//!
//! Owns: [`Figures`] (the ratios derived from a tally: SL, ASA, AHT, abandonment, occupancy,
//! calls per agent-hour), agent staffed time from state changes, and breakdowns. The sums
//! they start from ([`Tally`], [`Params`], [`Dims`]) and the agent state classes are defined
//! in `cdr` (re-exported here), so the store can mirror them without importing the report.
//! Never does: I/O, SQL or formatting. `docs/metrics.md` states the same formulas in prose;
//! keep them in step.

use std::collections::BTreeMap;

use serde::Serialize;

use super::interval::Interval;
use crate::event::AgentEvent;
// Defined next to the call row (below the store, which sums rows the same way); part of the
// report's vocabulary, so named here too.
pub use crate::cdr::agent::{classify, StateClass, CALL_DRIVEN_STATES};
pub use crate::cdr::tally::{Dims, Params, Tally};

/// Agent time in an interval, from state changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AgentTime {
    /// Time in any state but logged out.
    pub staffed_ms: i64,
    /// Time paused (break, lunch, training…): staffed but not ready for calls.
    pub paused_ms: i64,
}

impl AgentTime {
    pub fn merge(&mut self, o: &AgentTime) {
        self.staffed_ms += o.staffed_ms;
        self.paused_ms += o.paused_ms;
    }
}

/// Staffed and paused time per interval and per agent over `[intervals[0].start, until)`.
/// `events` must be sorted by (agent, at_ms); an agent is logged out before its first event,
/// and keeps its last state until `until_ms` (the end of the report, or now).
pub fn agent_time(
    events: &[AgentEvent],
    intervals: &[Interval],
    until_ms: i64,
) -> (Vec<AgentTime>, BTreeMap<String, AgentTime>) {
    let mut per_iv = vec![AgentTime::default(); intervals.len()];
    let mut per_agent: BTreeMap<String, AgentTime> = BTreeMap::new();
    let mut i = 0;
    while i < events.len() {
        let agent = &events[i].agent;
        let mut j = i;
        while j < events.len() && events[j].agent == *agent {
            j += 1;
        }
        let mine = &events[i..j];
        let slot = per_agent.entry(agent.clone()).or_default();
        for (k, e) in mine.iter().enumerate() {
            let class = classify(&e.state);
            if class == StateClass::LoggedOut {
                continue;
            }
            let end = mine.get(k + 1).map_or(until_ms, |n| n.at_ms).min(until_ms);
            add_span(e.at_ms, end, class, intervals, &mut per_iv, slot);
        }
        i = j;
    }
    (per_iv, per_agent)
}

/// Spread `[start, end)` over the intervals it overlaps.
fn add_span(
    start: i64,
    end: i64,
    class: StateClass,
    intervals: &[Interval],
    per_iv: &mut [AgentTime],
    agent: &mut AgentTime,
) {
    if end <= start {
        return;
    }
    let mut k = intervals.partition_point(|iv| iv.end_ms <= start);
    while k < intervals.len() && intervals[k].start_ms < end {
        let iv = &intervals[k];
        let overlap = end.min(iv.end_ms) - start.max(iv.start_ms);
        if overlap > 0 {
            per_iv[k].staffed_ms += overlap;
            agent.staffed_ms += overlap;
            if class == StateClass::Paused {
                per_iv[k].paused_ms += overlap;
                agent.paused_ms += overlap;
            }
        }
        k += 1;
    }
}

/// The figures of one report line. Ratios are `None` when their denominator is zero.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    pub calls: i64,
    pub offered: i64,
    pub answered: i64,
    /// Ab − Ab_s: abandons that count.
    pub abandoned: i64,
    pub short_abandons: i64,
    /// Offered calls neither answered nor abandoned (callbacks, overflow, closed).
    pub flow_outs: i64,
    /// answered within T / (O − Ab_s), percent.
    pub service_level_pct: Option<f64>,
    /// (Ab − Ab_s) / (O − Ab_s), percent.
    pub abandon_pct: Option<f64>,
    /// Σ wait of answered / A, seconds.
    pub asa_s: Option<f64>,
    pub longest_wait_s: f64,
    /// Σ (talk + wrap-up) / A, seconds.
    pub aht_s: Option<f64>,
    pub agent_hours: Option<f64>,
    /// A / staffed agent-hours.
    pub calls_per_agent_hour: Option<f64>,
    /// handle / (staffed − paused), percent.
    pub occupancy_pct: Option<f64>,
    pub self_served: i64,
    pub after_hours: i64,
    pub redirected_911: i64,
    pub redirected_811: i64,
    pub redirected_other: i64,
    pub callbacks: i64,
    pub abandoned_in_ivr: i64,
    pub queued: i64,
}

fn ratio(n: f64, d: f64) -> Option<f64> {
    (d > 0.0).then(|| n / d)
}

impl Figures {
    /// `agents` is `None` for lines staffed time cannot be split by (queue, language, topic).
    pub fn new(t: &Tally, agents: Option<&AgentTime>) -> Figures {
        let base = (t.offered - t.short_abandoned) as f64;
        let ready_ms = agents.map(|a| (a.staffed_ms - a.paused_ms) as f64);
        let agent_hours = agents.map(|a| a.staffed_ms as f64 / 3_600_000.0);
        Figures {
            calls: t.calls,
            offered: t.offered,
            answered: t.answered,
            abandoned: t.abandoned - t.short_abandoned,
            short_abandons: t.short_abandoned,
            flow_outs: t.offered - t.answered - t.abandoned,
            service_level_pct: ratio(100.0 * t.answered_within as f64, base),
            abandon_pct: ratio(100.0 * (t.abandoned - t.short_abandoned) as f64, base),
            asa_s: ratio(t.wait_answered_ms as f64 / 1000.0, t.answered as f64),
            longest_wait_s: t.max_wait_ms as f64 / 1000.0,
            aht_s: ratio(t.handle_ms() as f64 / 1000.0, t.answered as f64),
            agent_hours,
            calls_per_agent_hour: agent_hours.and_then(|h| ratio(t.answered as f64, h)),
            occupancy_pct: ready_ms.and_then(|r| ratio(100.0 * t.handle_ms() as f64, r)),
            self_served: t.ivr[0],
            after_hours: t.ivr[1],
            redirected_911: t.ivr[2],
            redirected_811: t.ivr[3],
            redirected_other: t.ivr[4],
            callbacks: t.ivr[5],
            abandoned_in_ivr: t.ivr[6],
            queued: t.ivr[7],
        }
    }
}

/// Tallies per queue, language, topic and agent folded from tallies per dimension tuple.
#[derive(Debug, Default)]
pub struct Breakdowns {
    pub queue: BTreeMap<String, Tally>,
    pub language: BTreeMap<String, Tally>,
    pub topic: BTreeMap<String, Tally>,
    pub agent: BTreeMap<String, Tally>,
}

/// Key for a missing attribute (a call that chose no language, was never queued…).
pub const NONE_KEY: &str = "(none)";

impl Breakdowns {
    pub fn fold(rows: &[(Dims, Tally)]) -> Breakdowns {
        let mut b = Breakdowns::default();
        let key = |o: &Option<String>| o.clone().unwrap_or_else(|| NONE_KEY.to_string());
        for (d, t) in rows {
            b.queue.entry(key(&d.queue)).or_default().merge(t);
            b.language.entry(key(&d.language)).or_default().merge(t);
            b.topic.entry(key(&d.topic)).or_default().merge(t);
            b.agent.entry(key(&d.agent)).or_default().merge(t);
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cdr::tests::{answered_call, Script};
    use crate::cdr::CallRow;
    use crate::event::EventKind;
    use crate::report::interval::{intervals, parse_time, report_tz, Bucket};

    fn p() -> Params {
        Params {
            short_abandon_ms: 5_000,
            threshold_ms: 20_000,
            target_pct: 80.0,
        }
    }

    fn abandon(call: &str, t0: i64, wait_s: f64) -> Script {
        Script::new(call, t0)
            .started()
            .queued(10.0, "general")
            .left(10.0 + wait_s, "general", "abandoned")
            .ended(10.0 + wait_s, "queue:general", "caller")
    }

    fn callback(call: &str, t0: i64) -> Script {
        Script::new(call, t0)
            .started()
            .queued(10.0, "general")
            .at(
                100.0,
                EventKind::CallbackRequested {
                    queue: "general".into(),
                    number: "1".into(),
                },
            )
            .left(100.0, "general", "callback")
            .ended(105.0, "queue:general", "caller")
    }

    fn self_served(call: &str, t0: i64) -> Script {
        Script::new(call, t0)
            .started()
            .ended(40.0, "self-served", "caller")
    }

    /// 10 calls with known answers:
    /// - 4 answered: waits 10, 20, 30, 60 s (2 within T = 20 s); talk 240 s, wrap-up 30 s each
    /// - 3 abandons: waits 2 s and 4 s (short, under τ = 5 s) and 45 s
    /// - 1 callback (flow-out) after 90 s
    /// - 2 self-served in the IVR (never offered)
    fn known_set() -> Vec<CallRow> {
        let mut rows = vec![];
        for (i, w) in [10.0, 20.0, 30.0, 60.0].into_iter().enumerate() {
            rows.push(answered_call(&format!("a{i}"), 0, w).row());
        }
        for (i, w) in [2.0, 4.0, 45.0].into_iter().enumerate() {
            rows.push(abandon(&format!("b{i}"), 0, w).row());
        }
        rows.push(callback("cb", 0).row());
        rows.push(self_served("s0", 0).row());
        rows.push(self_served("s1", 0).row());
        rows
    }

    #[test]
    fn known_answers() {
        let mut t = Tally::default();
        for r in known_set() {
            t.add(&r, &p());
        }
        assert_eq!(t.calls, 10);
        assert_eq!(t.offered, 8);
        assert_eq!(t.answered, 4);
        assert_eq!(t.abandoned, 3);
        assert_eq!(t.short_abandoned, 2);
        assert_eq!(t.answered_within, 2);
        assert_eq!(t.callbacks, 1);
        let staffed = AgentTime {
            staffed_ms: 2 * 3_600_000,
            paused_ms: 1_800_000,
        };
        let f = Figures::new(&t, Some(&staffed));
        // O − Ab_s = 8 − 2 = 6
        assert_eq!(f.service_level_pct, Some(100.0 * 2.0 / 6.0));
        assert_eq!(f.abandoned, 1);
        assert_eq!(f.abandon_pct, Some(100.0 / 6.0));
        assert_eq!(
            f.flow_outs, 1,
            "the callback leaves the queue without abandoning"
        );
        assert_eq!(f.asa_s, Some(30.0)); // (10+20+30+60)/4
        assert_eq!(f.longest_wait_s, 90.0); // the callback waited 90 s
        assert_eq!(f.aht_s, Some(270.0));
        assert_eq!(f.agent_hours, Some(2.0));
        assert_eq!(f.calls_per_agent_hour, Some(2.0));
        // handle 4 × 270 s = 1080 s over ready 1.5 h = 5400 s
        assert_eq!(f.occupancy_pct, Some(20.0));
        assert_eq!(f.self_served, 2);
        assert_eq!(f.callbacks, 1);
        assert_eq!(f.queued, 7);
    }

    #[test]
    fn tau_and_t_move_the_figures() {
        let mut t = Tally::default();
        let q = Params {
            short_abandon_ms: 0,
            threshold_ms: 60_000,
            ..p()
        };
        for r in known_set() {
            t.add(&r, &q);
        }
        let f = Figures::new(&t, None);
        assert_eq!(f.short_abandons, 0);
        assert_eq!(f.service_level_pct, Some(50.0)); // 4 / 8
        assert_eq!(f.abandon_pct, Some(100.0 * 3.0 / 8.0));
        assert_eq!(f.occupancy_pct, None);
    }

    #[test]
    fn empty_tally_has_no_ratios() {
        let f = Figures::new(&Tally::default(), Some(&AgentTime::default()));
        assert_eq!(f.service_level_pct, None);
        assert_eq!(f.asa_s, None);
        assert_eq!(f.aht_s, None);
        assert_eq!(f.calls_per_agent_hour, None);
        assert_eq!(f.occupancy_pct, None);
    }

    #[test]
    fn merge_equals_adding_all() {
        let rows = known_set();
        let mut all = Tally::default();
        let (mut a, mut b) = (Tally::default(), Tally::default());
        for (i, r) in rows.iter().enumerate() {
            all.add(r, &p());
            if i % 2 == 0 { &mut a } else { &mut b }.add(r, &p());
        }
        a.merge(&b);
        assert_eq!(a, all);
    }

    #[test]
    fn in_progress_calls_are_not_counted() {
        let mut t = Tally::default();
        t.add(&Script::new("x", 0).started().row(), &p());
        assert_eq!(t, Tally::default());
    }

    fn ev(agent: &str, at_ms: i64, state: &str) -> AgentEvent {
        AgentEvent {
            agent: agent.into(),
            at_ms,
            state: state.into(),
            reason: None,
        }
    }

    #[test]
    fn staffed_time_spans_interval_edges() {
        let tz = report_tz().unwrap();
        let from = parse_time("2027-06-01 08:00", &tz)
            .unwrap()
            .as_millisecond();
        let to = parse_time("2027-06-01 11:00", &tz)
            .unwrap()
            .as_millisecond();
        let ivs = intervals(
            jiff::Timestamp::from_millisecond(from).unwrap(),
            jiff::Timestamp::from_millisecond(to).unwrap(),
            Bucket::Hour,
            &tz,
            &[],
        )
        .unwrap();
        let m = 60_000;
        // a1: logs in 08:30, pauses 09:50–10:10, on a call 10:20, logs out 10:45.
        // a2: logged in since before the report, still in at the end.
        let evs = vec![
            ev("a1", from + 30 * m, "available"),
            ev("a1", from + 110 * m, "paused"),
            ev("a1", from + 130 * m, "available"),
            ev("a1", from + 140 * m, "on_call"),
            ev("a1", from + 165 * m, "logged_out"),
            ev("a2", from - 60 * m, "available"),
        ];
        let (per_iv, per_agent) = agent_time(&evs, &ivs, to);
        let h = 60 * m;
        assert_eq!(per_agent["a1"].staffed_ms, 135 * m);
        assert_eq!(per_agent["a1"].paused_ms, 20 * m);
        assert_eq!(per_agent["a2"].staffed_ms, 3 * h);
        assert_eq!(per_iv[0].staffed_ms, 30 * m + h);
        assert_eq!(per_iv[1].staffed_ms, 2 * h);
        assert_eq!(per_iv[1].paused_ms, 10 * m);
        assert_eq!(per_iv[2].staffed_ms, 45 * m + h);
        assert_eq!(per_iv[2].paused_ms, 10 * m);
    }

    #[test]
    fn breakdowns_fold_dimensions() {
        let d = |q: &str, a: Option<&str>| Dims {
            queue: Some(q.into()),
            language: Some("fr".into()),
            topic: None,
            agent: a.map(Into::into),
        };
        let t = |n| Tally {
            calls: n,
            ..Tally::default()
        };
        let b = Breakdowns::fold(&[
            (d("general", Some("a1")), t(2)),
            (d("general", None), t(3)),
            (d("permis", Some("a1")), t(5)),
        ]);
        assert_eq!(b.queue["general"].calls, 5);
        assert_eq!(b.language["fr"].calls, 10);
        assert_eq!(b.topic[NONE_KEY].calls, 10);
        assert_eq!(b.agent["a1"].calls, 7);
    }
}
