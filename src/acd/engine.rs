//! The ACD as one sans-IO state machine (`Acd`): its state, reconfiguration (dial plan, agents,
//! season), and the poll interface. Inputs are handled in `dispatch`, queries in `query`.
//!
//! Never reads the clock, never does I/O, never iterates a hash map: the same inputs at the
//! same times give the same outputs, in the server and in the simulator.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::agent::{Agent, Pending};
use super::matching::Interner;
use super::queue::{Entry, Key, QueueRt};
use super::timers::Timers;
use super::types::{AcdConfig, AgentState, CallId, Output, Places, QueueHistory, Time};
use crate::acd::agents::AgentDef;
use crate::dialplan::model::QueueDef;

/// A rule of the ACD's state that does not hold, described for the test that found it.
#[cfg(test)]
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct InvariantBroken(String);

/// The automatic call distributor. See `docs/acd.md` for the rules.
#[derive(Debug, Clone)]
pub struct Acd {
    pub(super) cfg: AcdConfig,
    pub(super) season: Option<String>,
    pub(super) skills: Interner,
    pub(super) queue_names: Interner,
    /// Indexed by interned queue id.
    pub(super) queues: Vec<QueueRt>,
    pub(super) agent_ids: BTreeMap<String, usize>,
    /// Slots are never reused, so a slot number is a stable agent handle.
    pub(super) agents: Vec<Agent>,
    /// Boxed: entries are large and B-tree nodes shift their values on insert and remove.
    pub(super) calls: BTreeMap<CallId, Box<Entry>>,
    /// Calls in `Phase::Waiting`, best first.
    pub(super) waiting: BTreeSet<Key>,
    pub(super) timers: Timers,
    pub(super) out: VecDeque<Output>,
    /// Places kept for callers who hung up (abandoned-resume).
    pub(super) places: Places,
    /// Callers directed to a colleague who just paused or signed out: offered by the queue's
    /// rules once the input that changed the colleague's state is done.
    pub(super) undirected: Vec<CallId>,
}

impl Acd {
    pub fn new(mut cfg: AcdConfig) -> Acd {
        cfg.ring_timeout_ms = cfg.ring_timeout_ms.max(1);
        Acd {
            cfg,
            season: None,
            skills: Interner::default(),
            queue_names: Interner::default(),
            queues: Vec::new(),
            agent_ids: BTreeMap::new(),
            agents: Vec::new(),
            calls: BTreeMap::new(),
            waiting: BTreeSet::new(),
            timers: Timers::default(),
            out: VecDeque::new(),
            places: Places::new(),
            undirected: Vec::new(),
        }
    }

    pub fn config(&self) -> &AcdConfig {
        &self.cfg
    }

    pub fn season(&self) -> Option<&str> {
        self.season.as_deref()
    }

    /// Load (or reload) the dial plan's queues. Waiting calls keep their place; a call in a
    /// queue that is no longer defined stays, served under that queue's last definition (a
    /// reload never drops or overflows a caller). Requirements, priorities and timers are
    /// recomputed, then every waiting call is matched again.
    pub fn set_queues(&mut self, queues: &[QueueDef], now: Time) {
        for q in &mut self.queues {
            q.in_plan = false;
        }
        for d in queues {
            let id = self.queue_id(&d.name);
            self.queues[id].def = Some(d.clone());
            self.queues[id].in_plan = true;
        }
        self.refresh_queues();
        self.recompute_calls(now);
        self.rematch_all(now);
    }

    /// Load (or reload) `agents.toml`. Agents that remain keep their state (a reload never
    /// interrupts a call); new agents start logged out; removed agents are logged out
    /// (`removed`) — after their current call if they are on one.
    pub fn set_agents(&mut self, agents: &[AgentDef], now: Time) {
        for d in agents {
            for s in d.skills.keys() {
                self.skills.intern(s);
            }
            for q in &d.queues {
                self.queue_id(q);
            }
        }
        let season = self.season.clone();
        let mut seen = BTreeSet::new();
        for d in agents {
            let slot = match self.agent_ids.get(&d.id) {
                Some(&s) => s,
                None => {
                    let s = self.agents.len();
                    self.agents.push(Agent::new(&d.id, now));
                    self.agent_ids.insert(d.id.clone(), s);
                    s
                }
            };
            let a = &mut self.agents[slot];
            a.apply_def(d, &self.skills, &self.queue_names);
            a.scheduled = a.in_season(season.as_deref());
            seen.insert(slot);
        }
        for slot in 0..self.agents.len() {
            if self.agents[slot].active && !seen.contains(&slot) {
                self.agents[slot].active = false;
                self.agent_request(slot, Pending::Logout("removed".into()), now);
            }
        }
        self.unschedule(now);
        self.rematch_all(now);
        self.settle_undirected(now);
    }

    /// The dial-plan calendar's season changed (None: no named season now). Queue overrides
    /// (skills, priority, closed) switch; agents not scheduled in the new season are logged out
    /// (`not-scheduled`, after their call). Callers already waiting in a queue that closes stay
    /// (they have waited already); new callers there overflow.
    pub fn set_season(&mut self, season: Option<&str>, now: Time) {
        if self.season.as_deref() == season {
            return;
        }
        self.season = season.map(str::to_string);
        self.refresh_queues();
        self.recompute_calls(now);
        for a in &mut self.agents {
            a.scheduled = a.in_season(season);
        }
        self.unschedule(now);
        self.rematch_all(now);
    }

    /// What each queue learnt before a restart (rebuilt from the call log), so the first
    /// callers after it hear an estimate from the centre's own handle times and patience
    /// rather than the defaults. Only queues that have seen no call since start take it.
    pub fn restore(&mut self, history: &[QueueHistory]) {
        let window = self.cfg.aht_window;
        for h in history {
            let id = self.queue_id(&h.queue);
            let q = &mut self.queues[id];
            if q.aht_samples() == 0 {
                for &ms in h.handle_ms.iter().rev().take(window).rev() {
                    q.record_handle(ms, window);
                }
            }
            if q.leaving.rate() == 0.0 {
                q.leaving.seed(h.departures, h.waited_ms, h.callers);
            }
        }
    }

    /// The next deadline: call `handle_timeout` at (or after) it.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.timers.next()
    }

    /// The next decision or event, in the order they were made.
    pub fn poll(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    // ----- internals shared by dispatch and reconfiguration -----

    pub(super) fn queue_id(&mut self, name: &str) -> usize {
        let id = self.queue_names.intern(name);
        if id == self.queues.len() {
            let mut q = QueueRt::new(name);
            q.refresh(self.season.as_deref(), &mut self.skills);
            self.queues.push(q);
        }
        id
    }

    fn refresh_queues(&mut self) {
        let season = self.season.as_deref();
        for q in &mut self.queues {
            q.refresh(season, &mut self.skills);
        }
    }

    /// Log out agents that are no longer scheduled (or already logged in when they should not).
    fn unschedule(&mut self, now: Time) {
        for slot in 0..self.agents.len() {
            let a = &self.agents[slot];
            if !a.scheduled && a.active && a.state != AgentState::LoggedOut {
                self.agent_request(slot, Pending::Logout("not-scheduled".into()), now);
            }
        }
    }

    fn recompute_calls(&mut self, now: Time) {
        let ids: Vec<CallId> = self.calls.keys().copied().collect();
        for id in ids {
            self.refresh_entry(id, now);
            self.reschedule_call(id);
        }
    }

    /// Offer every waiting call, best first, to its best available agent.
    pub(super) fn rematch_all(&mut self, now: Time) {
        let ids: Vec<CallId> = self.waiting.iter().map(|k| k.2).collect();
        for id in ids {
            self.try_offer_call(id, now);
        }
    }

    /// Consistency of the whole state; Err names the first broken rule.
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) -> Result<(), InvariantBroken> {
        use super::queue::Phase;
        use super::timers::TimerKey;
        for (slot, a) in self.agents.iter().enumerate() {
            let holds = matches!(
                a.state,
                AgentState::Reserved | AgentState::Ringing | AgentState::OnCall
            );
            if holds != (a.call.is_some() || a.direct.is_some()) {
                return Err(InvariantBroken(format!(
                    "agent {} {:?} call {:?}",
                    a.id, a.state, a.call
                )));
            }
            if let Some(c) = a.call {
                let e = self.calls.get(&c).ok_or_else(|| {
                    InvariantBroken(format!("agent {} holds gone call {c}", a.id))
                })?;
                let ok = match e.phase {
                    Phase::Offered(s) => s == slot && a.ringing(),
                    Phase::Connected(s) => s == slot && a.state == AgentState::OnCall,
                    Phase::Waiting => false,
                };
                if !ok {
                    return Err(InvariantBroken(format!(
                        "agent {} / call {c} {:?}",
                        a.id, e.phase
                    )));
                }
            }
            if a.direct.is_some() && (a.call.is_some() || a.state != AgentState::OnCall) {
                return Err(InvariantBroken(format!(
                    "agent {} {:?} direct {:?} call {:?}",
                    a.id, a.state, a.direct, a.call
                )));
            }
            let want_timer = a.ringing() || a.state == AgentState::WrapUp;
            if want_timer != a.timer.is_some() {
                return Err(InvariantBroken(format!(
                    "agent {} {:?} timer {:?}",
                    a.id, a.state, a.timer
                )));
            }
            if let Some(t) = a.timer {
                if !self.timers.contains(t, TimerKey::Agent(slot)) {
                    return Err(InvariantBroken(format!("agent {} timer not in set", a.id)));
                }
            }
            let in_call = matches!(a.state, AgentState::OnCall | AgentState::WrapUp);
            // A logout for an agent on a call waits for the call (and wrap-up) to end.
            if a.state != AgentState::LoggedOut && !in_call && !a.offerable() {
                return Err(InvariantBroken(format!(
                    "agent {} {:?} but not offerable",
                    a.id, a.state
                )));
            }
            if !in_call && a.pending.is_some() {
                return Err(InvariantBroken(format!(
                    "agent {} pending outside a call",
                    a.id
                )));
            }
        }
        let mut timers = self.agents.iter().filter(|a| a.timer.is_some()).count();
        let mut waiting = 0;
        for (&id, e) in &self.calls {
            if e.id != id || e.key.2 != id {
                return Err(InvariantBroken(format!("call {id} ids")));
            }
            let in_set = self.waiting.contains(&e.key);
            match e.phase {
                Phase::Waiting => {
                    waiting += 1;
                    if !in_set {
                        return Err(InvariantBroken(format!("waiting call {id} not in the set")));
                    }
                }
                Phase::Offered(s) | Phase::Connected(s) => {
                    if in_set {
                        return Err(InvariantBroken(format!(
                            "call {id} {:?} still waiting",
                            e.phase
                        )));
                    }
                    if self.agents.get(s).and_then(|a| a.call) != Some(id) {
                        return Err(InvariantBroken(format!(
                            "call {id} {:?} not held by its agent",
                            e.phase
                        )));
                    }
                }
            }
            if let Some(t) = e.timer {
                timers += 1;
                if !self.timers.contains(t, TimerKey::Call(id)) {
                    return Err(InvariantBroken(format!("call {id} timer not in set")));
                }
            }
        }
        if waiting != self.waiting.len() {
            return Err(InvariantBroken("waiting set has stale keys".into()));
        }
        if timers != self.timers.len() {
            return Err(InvariantBroken(format!(
                "{} timers, {timers} owners",
                self.timers.len()
            )));
        }
        Ok(())
    }
}
