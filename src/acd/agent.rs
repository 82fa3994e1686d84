//! One agent at run time: its definition in interned form (skill levels, queues served,
//! wrap-up, seasons) and its state (one state across every queue), with what the state
//! machine needs to remember (the call it holds, missed offers, a pause or logout requested
//! during a call, when it became idle).
//!
//! Transitions are made by `dispatch`, which emits the events; this file never emits anything.

use super::matching::Interner;
use super::types::{AgentState, CallId, Time};
use crate::acd::agents::AgentDef;

/// A call an agent has outside the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Direct {
    /// Consulted by a colleague about `CallId` (the colleague still has the caller).
    Consult(CallId),
    /// Handed the caller of `CallId` by the colleague who consulted them.
    Handed(CallId),
}

/// A request that waits for the end of the current call (and its wrap-up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Pending {
    Pause(String),
    Logout(String),
}

#[derive(Debug, Clone)]
pub(super) struct Agent {
    pub id: String,
    /// In the current `agents.toml` (a removed agent keeps its slot, logged out).
    pub active: bool,
    /// Level per interned skill id (0: none).
    pub levels: Vec<u8>,
    /// Interned queue ids served; None: every queue.
    pub queues: Option<Vec<usize>>,
    pub seasons: Vec<String>,
    pub wrapup_ms: Option<u64>,
    /// Scheduled in the current season: only scheduled agents may be logged in.
    pub scheduled: bool,
    /// The SIP registrar has a binding for the agent's phone.
    pub registered: bool,
    /// Asked to log in before the phone registered: logs in when it does.
    pub want_login: bool,
    pub state: AgentState,
    pub reason: Option<String>,
    /// Last state change.
    pub since: Time,
    /// Became Available (longest idle = smallest).
    pub idle_since: Time,
    /// The call offered or connected (Reserved, Ringing, OnCall).
    pub call: Option<CallId>,
    /// A call taken outside the queue (a colleague's consultation, then the caller handed).
    pub direct: Option<Direct>,
    /// Consecutive missed offers.
    pub misses: u32,
    pub pending: Option<Pending>,
    /// Queue of the call being handled and when it was answered, until wrap-up ends (one
    /// handle-time sample per answered call).
    pub handle_queue: Option<usize>,
    pub handle_start: Time,
    pub wrap_until: Time,
    /// The deadline this agent has in the timer set (ring timeout or wrap-up end).
    pub timer: Option<Time>,
}

impl Agent {
    pub(super) fn new(id: &str, now: Time) -> Agent {
        Agent {
            id: id.to_string(),
            active: false,
            levels: Vec::new(),
            queues: None,
            seasons: Vec::new(),
            wrapup_ms: None,
            scheduled: true,
            registered: false,
            want_login: false,
            state: AgentState::LoggedOut,
            reason: None,
            since: now,
            idle_since: now,
            call: None,
            direct: None,
            misses: 0,
            pending: None,
            handle_queue: None,
            handle_start: now,
            wrap_until: now,
            timer: None,
        }
    }

    /// Take a (re)loaded definition; run-time state is kept. Skills and queues must have been
    /// interned by the caller (so that `levels` covers every skill any agent has).
    pub(super) fn apply_def(&mut self, def: &AgentDef, skills: &Interner, queues: &Interner) {
        self.active = true;
        self.levels = vec![0; skills.len()];
        for (name, &lvl) in &def.skills {
            if let Some(id) = skills.get(name) {
                self.levels[id] = lvl.min(5);
            }
        }
        self.queues = if def.queues.is_empty() {
            None
        } else {
            let mut q: Vec<usize> = def.queues.iter().filter_map(|n| queues.get(n)).collect();
            q.sort_unstable();
            q.dedup();
            Some(q)
        };
        self.seasons = def.seasons.clone();
        self.wrapup_ms = def.wrapup_s.map(|s| s.saturating_mul(1000));
    }

    /// Same rule as `AgentDef::in_season`.
    pub(super) fn in_season(&self, season: Option<&str>) -> bool {
        self.seasons.is_empty() || season.is_some_and(|s| self.seasons.iter().any(|x| x == s))
    }

    pub(super) fn serves(&self, queue: usize) -> bool {
        match &self.queues {
            None => true,
            Some(q) => q.binary_search(&queue).is_ok(),
        }
    }

    /// May be offered calls at all (state aside).
    pub(super) fn offerable(&self) -> bool {
        self.active && self.registered && self.scheduled
    }

    /// Counts as staff for position and wait estimates: logged in and not paused.
    pub(super) fn staffed(&self) -> bool {
        self.offerable() && !matches!(self.state, AgentState::LoggedOut | AgentState::Paused)
    }

    /// Holds a call offer (ring timer running).
    pub(super) fn ringing(&self) -> bool {
        matches!(self.state, AgentState::Reserved | AgentState::Ringing)
    }
}
