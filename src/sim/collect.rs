//! Simulated calls and agent states → the figures of `centrale report`, through the report's
//! own code: each row is counted with `metrics::Tally::add` into its interval (by start time,
//! as the report does) and into the queue / language / topic / agent breakdowns; staffed time
//! comes from `metrics::agent_time`; `report::assemble` and `report::render` do the rest.
//!
//! Owns: streaming the rows into sums (a year of calls is never held in memory) and keeping
//! only the agent state changes that change staffing class. Never does: a formula of its own,
//! I/O, or formatting.

use std::collections::BTreeMap;

use super::engine::{AgentChange, Sink};
use crate::event::{AgentEvent, CallEvent};
use crate::report::cdr::CallRow;
use crate::report::interval::Interval;
use crate::report::metrics::{self, classify, Dims, Params, StateClass, Tally};
use crate::report::waits::{Accuracy, Sample, Tracker};
use crate::report::{self, Report, ReportArgs};

/// The report-shaped sums of a simulation over `[from, to)`.
#[derive(Debug)]
pub struct Collector {
    params: Params,
    intervals: Vec<Interval>,
    from_ms: i64,
    to_ms: i64,
    tallies: Vec<Tally>,
    dims: BTreeMap<Dims, Tally>,
    staffing: StaffingLog,
}

impl Collector {
    /// Intervals must be sorted and contiguous (as `report::interval::intervals` makes them).
    pub fn new(intervals: Vec<Interval>, params: Params) -> Collector {
        let from_ms = intervals.first().map_or(0, |i| i.start_ms);
        let to_ms = intervals.last().map_or(0, |i| i.end_ms);
        Collector {
            params,
            tallies: vec![Tally::default(); intervals.len()],
            intervals,
            from_ms,
            to_ms,
            dims: BTreeMap::new(),
            staffing: StaffingLog::default(),
        }
    }

    /// The report, as `centrale report` would build it from the same call log.
    pub fn report(self, meta: &ReportArgs) -> Report {
        let events = self.staffing.into_events();
        let (times, per_agent) = metrics::agent_time(&events, &self.intervals, self.to_ms);
        let dims: Vec<(Dims, Tally)> = self.dims.into_iter().collect();
        report::assemble(
            meta,
            &self.intervals,
            &self.tallies,
            &times,
            &per_agent,
            &dims,
            self.params,
        )
    }

    /// The sum over every interval (no staffed time).
    pub fn total(&self) -> Tally {
        let mut t = Tally::default();
        for x in &self.tallies {
            t.merge(x);
        }
        t
    }
}

impl Sink for Collector {
    fn call(&mut self, row: CallRow) {
        if row.start_ms < self.from_ms || row.start_ms >= self.to_ms {
            return;
        }
        if let Some(i) = report::interval::find(&self.intervals, row.start_ms) {
            self.tallies[i].add(&row, &self.params);
        }
        let key = Dims {
            queue: row.queue.clone(),
            language: row.language.clone(),
            topic: row.topic.clone(),
            agent: row.agent.clone(),
        };
        match self.dims.get_mut(&key) {
            Some(t) => t.add(&row, &self.params),
            None => {
                let mut t = Tally::default();
                t.add(&row, &self.params);
                self.dims.insert(key, t);
            }
        }
    }

    fn agent(&mut self, c: AgentChange<'_>) {
        self.staffing.push(&c);
    }
}

/// The agent state changes that change staffing class (logged out / paused / ready): all
/// `metrics::agent_time` needs, a handful per agent-day instead of several per call.
#[derive(Debug, Default)]
pub struct StaffingLog {
    events: Vec<AgentEvent>,
    last: BTreeMap<String, StateClass>,
}

impl StaffingLog {
    pub fn push(&mut self, c: &AgentChange<'_>) {
        let class = classify(c.state.as_str());
        match self.last.get_mut(c.agent) {
            Some(last) if *last == class => return,
            Some(last) => *last = class,
            None => {
                self.last.insert(c.agent.to_string(), class);
            }
        }
        self.events.push(c.to_event());
    }

    /// Sorted by (agent, time), as `metrics::agent_time` wants them.
    pub fn into_events(self) -> Vec<AgentEvent> {
        let mut events = self.events;
        events.sort_by(|a, b| a.agent.cmp(&b.agent).then(a.at_ms.cmp(&b.at_ms)));
        events
    }
}

/// A sink that keeps every row and agent event (tests, history round trips).
#[derive(Debug, Default)]
pub struct Keep {
    pub rows: Vec<CallRow>,
    pub agents: Vec<AgentEvent>,
}

impl Sink for Keep {
    fn call(&mut self, row: CallRow) {
        self.rows.push(row);
    }
    fn agent(&mut self, c: AgentChange<'_>) {
        self.agents.push(c.to_event());
    }
}

/// Announcements and the waits that followed, through `report::waits` (the code `report
/// --waits` runs on the live log): those made in `[from, to)` are summed; `also` sees every
/// sample (the wait grid adds its own reference estimate).
pub struct Waits<'a> {
    tracker: Tracker,
    pub accuracy: Accuracy,
    from_ms: i64,
    to_ms: i64,
    also: Option<&'a mut dyn FnMut(&Sample)>,
}

impl<'a> Waits<'a> {
    pub fn new(from_ms: i64, to_ms: i64) -> Waits<'a> {
        Waits {
            tracker: Tracker::new(),
            accuracy: Accuracy::default(),
            from_ms,
            to_ms,
            also: None,
        }
    }

    pub fn with(mut self, also: &'a mut dyn FnMut(&Sample)) -> Waits<'a> {
        self.also = Some(also);
        self
    }

    /// Callers still waiting (their announcements are not counted).
    pub fn open(&self) -> usize {
        self.tracker.open()
    }

    /// The run is over: sum the samples still waiting for a potential wait, without one.
    pub fn finish(&mut self) {
        self.sum(|t, done| t.finish(done));
    }
}

impl Waits<'_> {
    fn sum(&mut self, f: impl FnOnce(&mut Tracker, &mut dyn FnMut(Sample))) {
        let (from, to) = (self.from_ms, self.to_ms);
        let acc = &mut self.accuracy;
        let also = &mut self.also;
        f(&mut self.tracker, &mut |s| {
            if s.at_ms >= from && s.at_ms < to {
                acc.add(&s);
                if let Some(f) = also.as_mut() {
                    f(&s);
                }
            }
        });
    }
}

impl Sink for Waits<'_> {
    fn call(&mut self, _: CallRow) {}
    fn agent(&mut self, c: AgentChange<'_>) {
        self.sum(|t, done| t.agent(c.agent, c.state.as_str(), c.at_ms, done));
    }
    fn event(&mut self, call: &str, ev: &CallEvent) {
        self.sum(|t, done| t.event(call, ev, done));
    }
}

/// Sends everything to two sinks.
pub struct Tee<'a>(pub &'a mut dyn Sink, pub &'a mut dyn Sink);

impl Sink for Tee<'_> {
    fn call(&mut self, row: CallRow) {
        self.0.call(row.clone());
        self.1.call(row);
    }
    fn agent(&mut self, c: AgentChange<'_>) {
        self.0.agent(c);
        self.1.agent(c);
    }
    fn event(&mut self, call: &str, ev: &CallEvent) {
        self.0.event(call, ev);
        self.1.event(call, ev);
    }
}
