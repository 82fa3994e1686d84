//! From call events to wait samples: every `announced` event becomes a [`Sample`] once the
//! call's queue stay ends — the estimate told, the inputs it used, the two baseline estimates
//! for the same moment, and what happened next (answered after how long, hung up, took a
//! callback, moved on).
//!
//! The wait an estimate is judged against is the wait the caller would have had by holding.
//! For an answered caller that is the wait that followed. For one who took a callback, their
//! turn is when an agent answered the callback (it keeps the caller's place; its call starts
//! "from" `callback:<the call>`). For one who hung up it is their *potential* wait: in the one
//! order a queue serves its callers, their turn came when the first caller who entered the
//! same queue after them was answered, or when an agent who answers that queue became free
//! with nobody to take (they would have had that agent) — whichever came first. Which queues
//! an agent answers is learnt from the log itself. Judging on answered callers alone would favour estimates that are too short: the
//! callers who would have waited longest are the ones who hang up.
//!
//! Fed the events of every call in time order (the simulator as it emits them, the store by
//! time), so that the Asterisk-style baseline — a running average of past hold times — sees
//! exactly the calls answered before each announcement. Owns no figure: `stats` sums samples.

use std::collections::{BTreeSet, HashMap};

use crate::event::{CallEvent, EventKind};

/// How the caller's queue stay ended after an announcement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// An agent answered: the actual wait from the announcement is known.
    Answered,
    /// The caller hung up while waiting.
    Abandoned,
    /// The caller asked to be called back (a flow-out: they stopped holding).
    Callback,
    /// Overflow to another node or target, closing, or the call ended otherwise.
    Other,
}

/// One announcement and what followed.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub queue: String,
    pub at_ms: i64,
    pub position: u32,
    /// Staffed agents able to take the call (the estimate's pool).
    pub agents: u32,
    /// Our estimate (None: no agent staffed, position only).
    pub estimate_ms: Option<u64>,
    /// Asterisk app_queue's: |smoothed hold time − time already waited|, ignoring position.
    pub asterisk_ms: u64,
    /// Position × AHT ÷ staffed agents (None without agents).
    pub naive_ms: Option<u64>,
    pub late: bool,
    pub outcome: Outcome,
    /// Announcement → leaving the queue (answered, hung up, callback, overflow).
    pub held_ms: u64,
    /// Announcement → served by holding: the actual wait of an answered caller, the potential
    /// wait of one who hung up or took a callback; None when unknown (moved on, or nobody
    /// behind them was answered before the log ends).
    pub wait_ms: Option<u64>,
}

#[derive(Debug, Default)]
struct Stay {
    queue: String,
    entered_ms: i64,
    /// Announcements waiting for the outcome.
    pending: Vec<Sample>,
}

/// Samples of a caller who left, waiting for their potential wait.
#[derive(Debug)]
struct Gone {
    entered_ms: i64,
    samples: Vec<Sample>,
}

/// Asterisk's per-queue hold time: a recursive "boxcar" filter, new = (3·old + hold) / 4,
/// updated when a caller is connected to an agent (hold = queue entry → connect), starting at
/// 0. Its announcement says |hold time − time this caller already waited|.
#[derive(Debug, Default, Clone, Copy)]
struct AsteriskHold {
    hold_s: f64,
}

impl AsteriskHold {
    fn connect(&mut self, hold_ms: i64) {
        self.hold_s = (3.0 * self.hold_s + hold_ms.max(0) as f64 / 1000.0) / 4.0;
    }
    fn say_ms(&self, waited_ms: i64) -> u64 {
        (self.hold_s * 1000.0 - waited_ms as f64).abs() as u64
    }
}

/// An agent that becomes available and is offered a call within this is not idle (the live
/// log stamps the two changes separately, a millisecond or so apart).
const IDLE_GRACE_MS: i64 = 1_000;

/// Streams call events into samples, handed to the closure given to `event` (and `finish`).
#[derive(Debug, Default)]
pub struct Tracker {
    stays: HashMap<String, Stay>,
    asterisk: HashMap<String, AsteriskHold>,
    /// Per queue, callers who left, in order of queue entry.
    gone: HashMap<String, Vec<Gone>>,
    /// Queues each agent has answered in.
    answers: HashMap<String, BTreeSet<String>>,
    /// Agents that became available at this time, unless they take a call at the same moment.
    idle: Vec<(String, i64)>,
    /// Samples of callers who took a callback, by their call; and callback calls → that call.
    called_back: HashMap<String, Vec<Sample>>,
    callback_of: HashMap<String, String>,
}

impl Tracker {
    pub fn new() -> Tracker {
        Tracker::default()
    }

    /// An agent's state change (`agent_events`), in time order with the call events.
    pub fn agent(&mut self, agent: &str, state: &str, at_ms: i64, done: &mut dyn FnMut(Sample)) {
        self.settle(at_ms, done);
        // Available, then reserved at (about) the same moment: it took a waiting call.
        self.idle
            .retain(|(a, t)| !(a == agent && at_ms - *t <= IDLE_GRACE_MS));
        if state == "available" {
            self.idle.push((agent.to_string(), at_ms));
        }
    }

    /// Agents idle for longer than the grace: the callers who left the queues they answer had
    /// their turn when those agents became free.
    fn settle(&mut self, now: i64, done: &mut dyn FnMut(Sample)) {
        let due = |t: i64| t.saturating_add(IDLE_GRACE_MS) < now;
        if !self.idle.iter().any(|(_, t)| due(*t)) {
            return;
        }
        let (due, keep): (Vec<_>, Vec<_>) = self.idle.drain(..).partition(|(_, t)| due(*t));
        self.idle = keep;
        for (agent, t) in due {
            let Some(queues) = self.answers.get(&agent) else {
                continue;
            };
            for q in queues {
                if let Some(gone) = self.gone.get_mut(q) {
                    for g in gone.drain(..) {
                        for mut s in g.samples {
                            s.wait_ms = u64::try_from(t - s.at_ms).ok();
                            done(s);
                        }
                    }
                }
            }
        }
    }

    /// One event of call `call` (events of all calls in time order). Finished samples go to
    /// `done`.
    pub fn event(&mut self, call: &str, ev: &CallEvent, done: &mut dyn FnMut(Sample)) {
        let at = ev.at_ms;
        self.settle(at, done);
        match &ev.kind {
            EventKind::CallStarted { from, .. } => {
                if let Some(orig) = from.strip_prefix("callback:") {
                    if self.called_back.contains_key(orig) {
                        self.callback_of.insert(call.to_string(), orig.to_string());
                    }
                }
            }
            EventKind::QueueEntered { queue, .. } => {
                // A new stay (after an overflow hop the previous one was closed by queue_left).
                let stay = self.stays.entry(call.to_string()).or_default();
                flush(stay, Outcome::Other, at, done);
                stay.queue.clone_from(queue);
                stay.entered_ms = at;
            }
            EventKind::Announced {
                queue,
                position,
                estimate_s,
                agents,
                aht_s,
                late,
                ..
            } => {
                let Some(stay) = self.stays.get_mut(call) else {
                    return;
                };
                let hold = self.asterisk.get(queue).copied().unwrap_or_default();
                let naive = (*agents > 0)
                    .then(|| u64::from(*position) * u64::from(*aht_s) * 1000 / u64::from(*agents));
                stay.pending.push(Sample {
                    queue: queue.clone(),
                    at_ms: at,
                    position: *position,
                    agents: *agents,
                    estimate_ms: estimate_s.map(|s| u64::from(s) * 1000),
                    asterisk_ms: hold.say_ms(at - stay.entered_ms),
                    naive_ms: naive,
                    late: *late,
                    outcome: Outcome::Other,
                    held_ms: 0,
                    wait_ms: None,
                });
            }
            EventKind::AgentAnswered { queue, agent } => {
                if !self.answers.get(agent).is_some_and(|q| q.contains(queue)) {
                    self.answers
                        .entry(agent.clone())
                        .or_default()
                        .insert(queue.clone());
                }
                if let Some(orig) = self.callback_of.remove(call) {
                    // A callback's turn came: the agent answered it.
                    for mut s in self.called_back.remove(&orig).unwrap_or_default() {
                        s.wait_ms = u64::try_from(at - s.at_ms).ok();
                        done(s);
                    }
                }
                let Some(mut stay) = self.stays.remove(call) else {
                    return;
                };
                self.asterisk
                    .entry(queue.clone())
                    .or_default()
                    .connect(at - stay.entered_ms);
                // Callers of this queue who left before this one entered: their turn was now.
                if let Some(gone) = self.gone.get_mut(queue) {
                    let n = gone.partition_point(|g| g.entered_ms < stay.entered_ms);
                    for g in gone.drain(..n) {
                        for mut s in g.samples {
                            s.wait_ms = u64::try_from(at - s.at_ms).ok();
                            done(s);
                        }
                    }
                }
                flush(&mut stay, Outcome::Answered, at, done);
            }
            EventKind::CallbackRequested { .. } => {
                if let Some(mut stay) = self.stays.remove(call) {
                    let samples: Vec<Sample> = stay
                        .pending
                        .drain(..)
                        .map(|mut s| {
                            s.outcome = Outcome::Callback;
                            s.held_ms = u64::try_from(at - s.at_ms).unwrap_or(0);
                            s
                        })
                        .collect();
                    if !samples.is_empty() {
                        self.called_back.insert(call.to_string(), samples);
                    }
                }
            }
            EventKind::QueueLeft { reason, .. } => {
                let outcome = match reason.as_str() {
                    "abandoned" => Outcome::Abandoned,
                    "callback" => Outcome::Callback,
                    "answered" => return,
                    _ => Outcome::Other,
                };
                if let Some(stay) = self.stays.remove(call) {
                    self.left(stay, outcome, at, done);
                }
            }
            EventKind::CallEnded { side, .. } => {
                if let Some(stay) = self.stays.remove(call) {
                    let outcome = if side == "caller" {
                        Outcome::Abandoned
                    } else {
                        Outcome::Other
                    };
                    self.left(stay, outcome, at, done);
                }
            }
            _ => {}
        }
    }

    /// A caller left the queue unanswered: their samples wait for their potential wait (hung
    /// up) or go out now without one (moved on).
    fn left(&mut self, mut stay: Stay, outcome: Outcome, at: i64, done: &mut dyn FnMut(Sample)) {
        if outcome != Outcome::Abandoned || stay.pending.is_empty() {
            flush(&mut stay, outcome, at, done);
            return;
        }
        let samples: Vec<Sample> = stay
            .pending
            .drain(..)
            .map(|mut s| {
                s.outcome = outcome;
                s.held_ms = u64::try_from(at - s.at_ms).unwrap_or(0);
                s
            })
            .collect();
        let gone = self.gone.entry(stay.queue).or_default();
        let i = gone.partition_point(|g| g.entered_ms <= stay.entered_ms);
        gone.insert(
            i,
            Gone {
                entered_ms: stay.entered_ms,
                samples,
            },
        );
    }

    /// The log ends: samples still waiting for a potential wait go out without one.
    pub fn finish(&mut self, done: &mut dyn FnMut(Sample)) {
        self.settle(i64::MAX, done);
        for (_, samples) in self.called_back.drain() {
            samples.into_iter().for_each(&mut *done);
        }
        self.callback_of.clear();
        for (_, gone) in self.gone.drain() {
            for g in gone {
                g.samples.into_iter().for_each(&mut *done);
            }
        }
    }

    /// Calls still in a queue (their announcements have no outcome yet).
    pub fn open(&self) -> usize {
        self.stays.len()
    }
}

fn flush(stay: &mut Stay, outcome: Outcome, at: i64, done: &mut dyn FnMut(Sample)) {
    for mut s in stay.pending.drain(..) {
        s.outcome = outcome;
        s.held_ms = u64::try_from(at - s.at_ms).unwrap_or(0);
        s.wait_ms = (outcome == Outcome::Answered).then_some(s.held_ms);
        done(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cdr::tests::Script;

    fn announced(position: u32, estimate_s: Option<u32>, agents: u32) -> EventKind {
        EventKind::Announced {
            queue: "general".into(),
            position,
            estimate_s,
            agents,
            agents_later: 0,
            aht_s: 300,
            first_free_s: 0,
            patience_s: None,
            callback_offered: false,
            late: false,
        }
    }

    fn run(scripts: &[Script]) -> Vec<Sample> {
        let mut evs: Vec<&CallEvent> = scripts.iter().flat_map(|s| &s.events).collect();
        evs.sort_by_key(|e| (e.at_ms, e.seq));
        let mut t = Tracker::new();
        let mut out = Vec::new();
        for e in evs {
            t.event(&e.call, e, &mut |s| out.push(s));
        }
        assert_eq!(t.open(), 0);
        t.finish(&mut |s| out.push(s));
        out
    }

    #[test]
    fn each_announcement_meets_what_followed() {
        // c1: told 120 s at entry (position 2 of 2 agents), answered 100 s later; told again
        // 45 s in, answered 55 s after that.
        let c1 = Script::new("c1", 0)
            .started()
            .queued(10.0, "general")
            .at(10.0, announced(2, Some(120), 2))
            .at(55.0, announced(1, Some(60), 2))
            .agent(110.0, "general", "a1")
            .left(110.0, "general", "answered")
            .ended(300.0, "completed", "caller");
        // c2: told 600 s, hung up after 200 s; c3: no agent, position only, took a callback.
        let c2 = Script::new("c2", 1_000)
            .started()
            .queued(0.0, "general")
            .at(0.0, announced(5, Some(600), 2))
            .ended(200.0, "queue:general", "caller");
        let c3 = Script::new("c3", 2_000)
            .started()
            .queued(0.0, "general")
            .at(0.0, announced(1, None, 0))
            .at(
                30.0,
                EventKind::CallbackRequested {
                    queue: "general".into(),
                    number: "5145550100".into(),
                },
            )
            .left(30.0, "general", "callback")
            .ended(31.0, "callback", "system");
        let s = run(&[c1, c2, c3]);
        assert_eq!(s.len(), 4);
        let first = s.iter().find(|x| x.at_ms == 10_000).unwrap();
        assert_eq!(first.outcome, Outcome::Answered);
        assert_eq!((first.held_ms, first.wait_ms), (100_000, Some(100_000)));
        assert_eq!(first.estimate_ms, Some(120_000));
        assert_eq!(first.naive_ms, Some(2 * 300_000 / 2));
        let second = s.iter().find(|x| x.at_ms == 55_000).unwrap();
        assert_eq!(second.wait_ms, Some(55_000));
        // c2 hung up and nobody who came after it was answered: no potential wait.
        let c2s = s.iter().find(|x| x.at_ms == 1_000).unwrap();
        assert_eq!(
            (c2s.outcome, c2s.held_ms, c2s.wait_ms),
            (Outcome::Abandoned, 200_000, None)
        );
        let c3s = s.iter().find(|x| x.at_ms == 2_000).unwrap();
        assert_eq!(
            (c3s.outcome, c3s.estimate_ms, c3s.naive_ms),
            (Outcome::Callback, None, None)
        );
    }

    #[test]
    fn asterisk_baseline_smooths_past_holds_and_ignores_position() {
        // Two callers answered after 100 s each: hold time 0 → 25 → 43.75 s. A third caller
        // told at position 9 after waiting 10 s hears |43.75 − 10| = 33.75 s.
        let held = |id: &str, t0: i64| {
            Script::new(id, t0)
                .started()
                .queued(0.0, "general")
                .agent(100.0, "general", "a1")
                .ended(200.0, "completed", "caller")
        };
        let third = Script::new("c3", 300_000)
            .started()
            .queued(0.0, "general")
            .at(10.0, announced(9, Some(500), 1))
            .agent(400.0, "general", "a1")
            .ended(500.0, "completed", "caller");
        let s = run(&[held("c1", 0), held("c2", 100_000), third]);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].asterisk_ms, 33_750);
        assert_eq!(s[0].wait_ms, Some(390_000));
    }

    #[test]
    fn a_caller_who_hangs_up_is_judged_on_their_turn() {
        // c1 enters at 0, told 300 s, hangs up at 60 s; c2 enters at 10 s and is answered at
        // 250 s: c1's turn came then, a potential wait of 250 s. c3, answered before, entered
        // before c1 and says nothing about it.
        let c3 = Script::new("c3", -5_000)
            .started()
            .queued(0.0, "general")
            .agent(20.0, "general", "a1")
            .ended(100.0, "completed", "caller");
        let c1 = Script::new("c1", 0)
            .started()
            .queued(0.0, "general")
            .at(0.0, announced(2, Some(300), 1))
            .left(60.0, "general", "abandoned")
            .ended(60.0, "queue:general", "caller");
        let c2 = Script::new("c2", 10_000)
            .started()
            .queued(0.0, "general")
            .agent(240.0, "general", "a1")
            .ended(300.0, "completed", "caller");
        let s = run(&[c3.clone_script(), c1.clone_script(), c2]);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].outcome, Outcome::Abandoned);
        assert_eq!((s[0].held_ms, s[0].wait_ms), (60_000, Some(250_000)));

        // Without c2: a1 (who answers this queue) became free at 190 s with nobody to take;
        // c1 would have had it then. At 150 s and 180 s a1 freed but took a call at once
        // (within a millisecond in a live log): not idle.
        let mut t = Tracker::new();
        let mut out = Vec::new();
        let mut evs: Vec<&CallEvent> = c3.events.iter().chain(&c1.events).collect();
        evs.sort_by_key(|e| e.at_ms);
        for e in evs {
            t.event(&e.call, e, &mut |s| out.push(s));
        }
        t.agent("a1", "available", 150_000, &mut |s| out.push(s));
        t.agent("a1", "reserved", 150_000, &mut |s| out.push(s));
        t.agent("a1", "available", 180_000, &mut |s| out.push(s));
        t.agent("a1", "reserved", 180_001, &mut |s| out.push(s));
        t.agent("a1", "available", 190_000, &mut |s| out.push(s));
        assert!(out.is_empty(), "idle only once time moves on");
        t.finish(&mut |s| out.push(s));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].wait_ms, Some(190_000));
    }
}
