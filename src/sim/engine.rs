//! The discrete-event simulator: a virtual clock, a binary heap of timed events (arrivals,
//! patience deadlines, agents answering after the ring, hang-ups, shift starts and ends,
//! season changes) merged with the ACD's own `poll_timeout`, feeding the very `acd::Acd` the
//! server runs and acting on its outputs as the server's call tasks do.
//!
//! Each call writes the same events the server logs (`call_started`, `queue_entered`,
//! `offered`, `agent_answered`, `queue_left`, `callback_requested`, `call_ended`,
//! `wrapup_ended`) and its row is derived by `report::cdr::summarize`, so every figure means
//! what it means in `centrale report`. Rows and agent state changes go to a [`Sink`].
//!
//! Owns: the caller and agent behaviour the ACD does not decide (when a call arrives, how long
//! the caller waits before hanging up, how long the agent takes to answer and to talk, taking
//! a callback offer, following an overflow to another queue node). Never does: routing (the
//! ACD), I/O, or reading the wall clock; the same scenario and seed give the same events.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::Arc;

mod callers;

use super::rng::{ms, Dist, Rng, Stream};
use super::scenario::{QueueRoute, Scenario};
use crate::acd::{Acd, AgentState, Announcement, CallId, CancelReason, Input, Output, Time};
use crate::dialplan::model::Overflow;
use crate::event::{AgentEvent, CallEvent, EventKind, WRAPUP_SEQ};
use crate::report::cdr::{summarize, CallRow};

/// Where finished calls and agent state changes go.
pub trait Sink {
    /// A call's row, once it is over (after the agent's wrap-up for an answered call).
    fn call(&mut self, row: CallRow);
    /// Every agent state change, in time order.
    fn agent(&mut self, change: AgentChange<'_>);
    /// Every call event as it is emitted, in time order across calls (`call` is the call's
    /// id: events after a call's first carry an empty one). For `report::waits`.
    fn event(&mut self, _call: &str, _event: &CallEvent) {}
}

/// One agent state change, borrowed (most sinks keep only a few of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentChange<'a> {
    pub agent: &'a str,
    pub at_ms: i64,
    pub state: AgentState,
    pub reason: Option<&'a str>,
}

impl AgentChange<'_> {
    /// As the event log stores it.
    pub fn to_event(&self) -> AgentEvent {
        AgentEvent {
            agent: self.agent.to_string(),
            at_ms: self.at_ms,
            state: self.state.as_str().to_string(),
            reason: self.reason.map(str::to_string),
        }
    }
}

/// Counts of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub arrivals: u64,
    pub offered: u64,
    pub rows: u64,
    pub callbacks_dialled: u64,
    /// Calls still open when the simulation stopped (their rows are not emitted).
    pub unfinished: u64,
    /// Heap events plus ACD deadlines processed.
    pub events: u64,
    /// Virtual time of the last event.
    pub end_ms: u64,
}

/// Events on the heap. Ordered by (time, insertion number), so ties keep insertion order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    /// A caller arrives in this slot.
    Arrival(u32),
    Abandon(CallId),
    Answer {
        call: CallId,
        token: u32,
    },
    TalkEnd {
        call: CallId,
        token: u32,
    },
    ShiftStart(u32),
    ShiftEnd(u32),
    Season(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Waiting,
    Ringing {
        agent: u32,
    },
    Talking {
        agent: u32,
    },
    WrapUp,
    /// The citizen asked to be called back and hung up; the ACD holds the entry.
    CallbackPending,
    Done,
}

struct Call {
    uid: String,
    events: Vec<CallEvent>,
    seq: u32,
    route: Arc<QueueRoute>,
    /// Talk time of this call, and the distribution a callback's talk is drawn from.
    talk_ms: u64,
    talk: Dist,
    phase: Phase,
    /// Invalidates scheduled answers and hang-ups of an offer that was withdrawn.
    token: u32,
    /// The caller is on the line waiting (patience applies).
    live: bool,
    /// This log is the agent's call back to the citizen.
    callback_leg: bool,
    /// Queues entered so far (overflow hops).
    hops: u8,
    /// When the caller would hang up (None: never).
    patience_at: Option<Time>,
}

impl Call {
    /// Log an event (and show it to the sink). Only the first carries the call's id
    /// (`summarize` takes it from there), which spares an allocation per event.
    fn emit(&mut self, sink: &mut dyn Sink, at: Time, kind: EventKind) {
        self.events.push(CallEvent {
            call: if self.seq == 0 {
                self.uid.clone()
            } else {
                String::new()
            },
            seq: self.seq,
            at_ms: at as i64,
            kind,
        });
        self.seq += 1;
        if let Some(e) = self.events.last() {
            sink.event(&self.uid, e);
        }
    }
}

/// Arrivals of a piecewise-constant Poisson process over the scenario's slots (exact: the
/// exponential gap is memoryless, so it restarts at each slot boundary).
struct Arrivals {
    slot: usize,
    t: f64,
    rng: Rng,
}

impl Arrivals {
    fn next(&mut self, sc: &Scenario) -> Option<(Time, usize)> {
        loop {
            let s = sc.slots.get(self.slot)?;
            self.t = self.t.max(s.start_ms as f64);
            let len = s.end_ms.saturating_sub(s.start_ms) as f64;
            if s.calls > 0.0 && len > 0.0 {
                let gap = self.rng.exp(len / s.calls);
                if self.t + gap < s.end_ms as f64 {
                    self.t += gap;
                    return Some((self.t as Time, self.slot));
                }
            }
            self.slot += 1;
        }
    }
}

/// Hard limit after the last arrival: calls still waiting a day later are dropped.
const DRAIN_MS: u64 = 24 * 3_600_000;
/// A call that overflows more often than this leaves.
const MAX_HOPS: u8 = 4;

struct Engine<'a> {
    sc: &'a Scenario,
    acd: Acd,
    heap: BinaryHeap<Reverse<(Time, u64, Ev)>>,
    seq: u64,
    calls: HashMap<CallId, Call>,
    next_call: CallId,
    agent_ix: BTreeMap<String, u32>,
    /// Per agent: the call whose wrap-up is running (its row waits for the wrap-up's end).
    wrapping: Vec<Option<CallId>>,
    arrivals: Arrivals,
    mix_rng: Rng,
    talk_rng: Rng,
    patience_rng: Rng,
    ring_rng: Rng,
    callback_rng: Rng,
    stats: Stats,
    sink: &'a mut dyn Sink,
}

/// Run a scenario. `progress` is called now and then with the fraction of the period done.
pub fn run(sc: &Scenario, seed: u64, sink: &mut dyn Sink, progress: &mut dyn FnMut(f64)) -> Stats {
    let mut e = Engine {
        sc,
        acd: Acd::new(sc.acd.clone()),
        heap: BinaryHeap::new(),
        seq: 0,
        calls: HashMap::new(),
        next_call: 1,
        agent_ix: sc
            .agents
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id.clone(), i as u32))
            .collect(),
        wrapping: vec![None; sc.agents.len()],
        arrivals: Arrivals {
            slot: 0,
            t: 0.0,
            rng: Rng::stream(seed, Stream::Arrivals),
        },
        mix_rng: Rng::stream(seed, Stream::Mix),
        talk_rng: Rng::stream(seed, Stream::Talk),
        patience_rng: Rng::stream(seed, Stream::Patience),
        ring_rng: Rng::stream(seed, Stream::Ring),
        callback_rng: Rng::stream(seed, Stream::Callback),
        stats: Stats::default(),
        sink,
    };
    e.start();
    let span = sc.end_ms.saturating_sub(sc.start_ms).max(1) as f64;
    let stop = sc.end_ms.saturating_add(DRAIN_MS);
    let mut now = sc.start_ms;
    let mut last_report = 0u64;
    loop {
        let ev_at = e.heap.peek().map(|Reverse((t, _, _))| *t);
        let acd_at = e.acd.poll_timeout();
        // ACD deadlines first at equal times (a wrap-up that ends frees the agent for an
        // arrival at the same millisecond).
        let take_acd = match (acd_at, ev_at) {
            (Some(a), Some(b)) => a <= b,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        if take_acd {
            now = now.max(acd_at.unwrap_or(now));
            if now > stop {
                break;
            }
            e.acd.handle_timeout(now);
        } else {
            let Some(Reverse((t, _, ev))) = e.heap.pop() else {
                break;
            };
            now = now.max(t);
            if now > stop {
                break;
            }
            e.event(ev, now);
        }
        e.stats.events += 1;
        e.drain(now);
        if e.stats.arrivals >= last_report + 4096 {
            last_report = e.stats.arrivals;
            progress((now.saturating_sub(sc.start_ms)) as f64 / span);
        }
    }
    progress(1.0);
    e.stats.end_ms = now;
    e.stats.unfinished = e.calls.len() as u64;
    e.stats
}

impl Engine<'_> {
    fn push(&mut self, at: Time, ev: Ev) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, ev)));
    }

    fn start(&mut self) {
        let sc = self.sc;
        let t0 = sc.start_ms;
        self.acd.set_queues(&sc.queues, t0);
        self.acd.set_agents(&sc.agents, t0);
        for (i, (at, _)) in sc.season_changes.iter().enumerate() {
            self.push((*at).max(t0), Ev::Season(i as u32));
        }
        for (a, spans) in sc.shifts.iter().enumerate() {
            for &(s, e) in spans {
                self.push(s, Ev::ShiftStart(a as u32));
                self.push(e, Ev::ShiftEnd(a as u32));
            }
        }
        if let Some((t, slot)) = self.arrivals.next(sc) {
            self.push(t, Ev::Arrival(slot as u32));
        }
        self.drain(t0);
    }

    fn agent_name(&self, a: u32) -> String {
        self.sc.agents[a as usize].id.clone()
    }

    fn event(&mut self, ev: Ev, now: Time) {
        match ev {
            Ev::Arrival(slot) => self.arrival(slot as usize, now),
            Ev::Abandon(call) => self.abandon(call, now),
            Ev::Answer { call, token } => self.answer(call, token, now),
            Ev::TalkEnd { call, token } => self.talk_end(call, token, now),
            Ev::ShiftStart(a) => {
                let agent = self.agent_name(a);
                self.acd.handle(
                    Input::AgentRegistered {
                        agent: agent.clone(),
                    },
                    now,
                );
                self.acd.handle(Input::AgentLogin { agent }, now);
            }
            Ev::ShiftEnd(a) => {
                let agent = self.agent_name(a);
                self.acd.handle(
                    Input::AgentLogout {
                        agent: agent.clone(),
                    },
                    now,
                );
                self.acd.handle(Input::AgentUnregistered { agent }, now);
            }
            Ev::Season(i) => {
                let season = self.sc.season_changes[i as usize].1.as_deref();
                self.acd.set_season(season, now);
            }
        }
    }

    fn arrival(&mut self, slot: usize, now: Time) {
        let sc = self.sc;
        let Some(slot) = sc.slots.get(slot) else {
            return;
        };
        if let Some((t, next)) = self.arrivals.next(sc) {
            self.push(t, Ev::Arrival(next as u32));
        }
        self.stats.arrivals += 1;
        // Every caller draws the same numbers whatever happens to them (common random numbers).
        let mix = &sc.mixes[slot.mix];
        let lang = mix.languages[self.mix_rng.pick(&mix.language_cum)].clone();
        let (route, talk) = &mix.routes[self.mix_rng.pick(&mix.route_cum)];
        let talk_ms = ms(talk.sample(&mut self.talk_rng)).max(1);
        let patience = sc.patience_mean_s.map(|m| ms(self.patience_rng.exp(m)));
        let id = self.next_call;
        self.next_call += 1;
        let mut call = Call {
            uid: format!("sim-{id:09}"),
            events: Vec::with_capacity(10),
            seq: 0,
            route: route.clone(),
            talk_ms,
            talk: *talk,
            phase: Phase::Waiting,
            token: 0,
            live: true,
            callback_leg: false,
            hops: 0,
            patience_at: patience.map(|p| now.saturating_add(p)),
        };
        call.emit(
            &mut *self.sink,
            now,
            EventKind::CallStarted {
                sip_call_id: String::new(),
                from: String::new(),
                to: "sip:311@sim".into(),
                transport: "sim".into(),
                plan_version: sc.plan_version.clone(),
            },
        );
        call.emit(&mut *self.sink, now, EventKind::Answered);
        call.emit(
            &mut *self.sink,
            now,
            EventKind::LanguageChosen { lang: lang.clone() },
        );
        if !slot.open {
            call.emit(
                &mut *self.sink,
                now,
                EventKind::CallEnded {
                    outcome: "after-hours".into(),
                    side: "system".into(),
                    cause: "normal".into(),
                },
            );
            self.emit_row(&mut call);
            return;
        }
        self.stats.offered += 1;
        self.calls.insert(id, call);
        self.enqueue(id, lang, now);
        if let Some(p) = patience {
            self.push(now.saturating_add(p), Ev::Abandon(id));
        }
    }

    /// Queue the call on its route (as the server's queue node does).
    fn enqueue(&mut self, id: CallId, lang: String, now: Time) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        c.hops += 1;
        c.phase = Phase::Waiting;
        let r = c.route.clone();
        c.emit(
            &mut *self.sink,
            now,
            EventKind::QueueEntered {
                queue: r.queue.clone(),
                position: 0,
                skills: r.skills.clone(),
                topic: r.topic.clone(),
                priority: r.priority,
            },
        );
        self.acd.handle(
            Input::CallQueued {
                call: id,
                queue: r.queue.clone(),
                lang,
                skills: r.skills.clone(),
                topic: r.topic.clone(),
                priority: r.priority,
                since: now,
                callback: None,
                caller: None,
                agent: None,
            },
            now,
        );
    }

    fn emit_row(&mut self, call: &mut Call) {
        let row = summarize(&call.events);
        call.events.clear();
        self.stats.rows += 1;
        self.sink.call(row);
    }

    /// Emit the row of a call that is over and forget it (unless a callback is pending).
    fn finish(&mut self, id: CallId, pending_callback: bool) {
        if let Some(mut c) = self.calls.remove(&id) {
            self.emit_row(&mut c);
            if pending_callback {
                c.phase = Phase::CallbackPending;
                self.calls.insert(id, c);
            }
        }
    }

    fn end_call(&mut self, id: CallId, now: Time, outcome: String, side: &str) {
        if let Some(c) = self.calls.get_mut(&id) {
            c.emit(
                &mut *self.sink,
                now,
                EventKind::CallEnded {
                    outcome,
                    side: side.into(),
                    cause: "normal".into(),
                },
            );
            c.phase = Phase::Done;
            c.live = false;
        }
    }

    fn abandon(&mut self, id: CallId, now: Time) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if !c.live || !matches!(c.phase, Phase::Waiting | Phase::Ringing { .. }) {
            return;
        }
        let queue = c.route.queue.clone();
        c.emit(
            &mut *self.sink,
            now,
            EventKind::QueueLeft {
                queue: queue.clone(),
                reason: "abandoned".into(),
            },
        );
        c.token += 1;
        self.end_call(id, now, format!("queue:{queue}"), "caller");
        self.acd.handle(Input::CallLeft { call: id }, now);
        self.finish(id, false);
    }

    fn answer(&mut self, id: CallId, token: u32, now: Time) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let Phase::Ringing { agent } = c.phase else {
            return;
        };
        if c.token != token {
            return;
        }
        let name = self.sc.agents[agent as usize].id.clone();
        let queue = c.route.queue.clone();
        c.emit(
            &mut *self.sink,
            now,
            EventKind::AgentAnswered {
                queue: queue.clone(),
                agent: name.clone(),
            },
        );
        if !c.callback_leg {
            c.emit(
                &mut *self.sink,
                now,
                EventKind::QueueLeft {
                    queue,
                    reason: "answered".into(),
                },
            );
        }
        c.phase = Phase::Talking { agent };
        c.live = false;
        let end = now.saturating_add(c.talk_ms);
        let token = c.token;
        self.acd.handle(
            Input::Answered {
                call: id,
                agent: name,
            },
            now,
        );
        self.push(end, Ev::TalkEnd { call: id, token });
    }

    fn talk_end(&mut self, id: CallId, token: u32, now: Time) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let Phase::Talking { agent } = c.phase else {
            return;
        };
        if c.token != token {
            return;
        }
        let outcome = if c.callback_leg {
            "callback".to_string()
        } else {
            format!("queue:{}", c.route.queue)
        };
        c.emit(
            &mut *self.sink,
            now,
            EventKind::CallEnded {
                outcome,
                side: "caller".into(),
                cause: "normal".into(),
            },
        );
        c.phase = Phase::WrapUp;
        self.wrapping[agent as usize] = Some(id);
        let name = self.sc.agents[agent as usize].id.clone();
        self.acd.handle(
            Input::CallEnded {
                call: id,
                agent: name,
            },
            now,
        );
    }

    /// Act on every ACD output.
    fn drain(&mut self, now: Time) {
        while let Some(out) = self.acd.poll() {
            match out {
                Output::Offer { call, agent } => self.offered(call, &agent, now, false),
                Output::DialCallback { call, agent, .. } => self.offered(call, &agent, now, true),
                Output::CancelOffer {
                    call,
                    agent,
                    reason,
                } => self.cancelled(call, agent, reason, now),
                Output::Announce { call, info } => self.announced(call, &info, now),
                // Simulated callers never call again after hanging up: no place to resume.
                Output::Resumed { .. } => {}
                // Simulated agents do not consult colleagues.
                Output::Consult { .. } => {}
                Output::Overflow { call, to } => self.overflow(call, to, now),
                Output::AgentState {
                    agent,
                    state,
                    reason,
                } => {
                    if state != AgentState::WrapUp {
                        let ix = self.agent_ix.get(&agent).copied();
                        if let Some(call) = ix.and_then(|i| self.wrapping[i as usize].take()) {
                            if let Some(c) = self.calls.get_mut(&call) {
                                c.events.push(CallEvent {
                                    call: String::new(),
                                    seq: WRAPUP_SEQ,
                                    at_ms: now as i64,
                                    kind: EventKind::WrapupEnded {
                                        agent: agent.clone(),
                                    },
                                });
                                c.phase = Phase::Done;
                            }
                            self.finish(call, false);
                        }
                    }
                    self.sink.agent(AgentChange {
                        agent: &agent,
                        at_ms: now as i64,
                        state,
                        reason: reason.as_deref(),
                    });
                }
            }
        }
    }

    fn offered(&mut self, id: CallId, agent: &str, now: Time, callback: bool) {
        let Some(&ix) = self.agent_ix.get(agent) else {
            return;
        };
        let ring = ms(self.ring_rng.between(self.sc.ring_s.0, self.sc.ring_s.1));
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if callback {
            // The agent calls the citizen back: a call of its own in the log.
            c.callback_leg = true;
            c.uid = format!("{}-cb", c.uid.trim_end_matches("-cb"));
            c.events.clear();
            c.seq = 0;
            c.talk_ms = ms(c.talk.sample(&mut self.callback_rng)).max(1);
            // As the server writes it: the callback points at the call that asked for it.
            let from = format!("callback:{}", c.uid.trim_end_matches("-cb"));
            c.emit(
                &mut *self.sink,
                now,
                EventKind::CallStarted {
                    sip_call_id: String::new(),
                    from,
                    to: "sip:callback@sim".into(),
                    transport: "sim".into(),
                    plan_version: self.sc.plan_version.clone(),
                },
            );
            self.stats.callbacks_dialled += 1;
        }
        c.token += 1;
        c.phase = Phase::Ringing { agent: ix };
        c.emit(
            &mut *self.sink,
            now,
            EventKind::Offered {
                queue: c.route.queue.clone(),
                agent: agent.to_string(),
            },
        );
        let token = c.token;
        self.push(now.saturating_add(ring), Ev::Answer { call: id, token });
    }

    fn cancelled(&mut self, id: CallId, agent: String, reason: CancelReason, now: Time) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if !matches!(c.phase, Phase::Ringing { .. }) {
            return;
        }
        c.token += 1;
        if reason == CancelReason::RingTimeout {
            c.emit(
                &mut *self.sink,
                now,
                EventKind::RingNoAnswer {
                    queue: c.route.queue.clone(),
                    agent,
                },
            );
        }
        if c.callback_leg {
            // The ACD offers the callback again; this attempt leaves no row.
            c.events.clear();
            c.phase = Phase::CallbackPending;
        } else {
            c.phase = Phase::Waiting;
        }
    }
}
