//! What the ACD does on each input and deadline: routing inputs and deadlines, the agent state
//! machine's transitions, and matching (best agent for a call, best call for an agent). Calls
//! entering and leaving the queue are `calls`.
//!
//! Every path tolerates unknown ids, duplicates and inputs that do not fit the current state by
//! ignoring them. Nothing here panics or reads the clock; choosing an agent or a call does not
//! allocate (a call's requirements are rebuilt only when it enters, relaxes or is reloaded).

use std::cmp::Ordering;

use super::agent::Pending;
use super::engine::Acd;
use super::matching::{qualifies, score};
use super::queue::{Entry, Phase};
use super::timers::TimerKey;
use super::types::{AgentState, CallId, CancelReason, Input, OfferFailure, Output, Time};

/// How an offer (or a connected agent leg) ended without a normal hang-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failure {
    /// Ring timeout, NoAnswer, Busy, Declined: counts toward `max_misses`.
    Miss,
    /// The agent's phone cannot be reached: the agent is logged out.
    Unreachable,
    /// The bridge failed after answer: not the agent's miss.
    LegFailed,
}

impl Acd {
    /// Apply one input at `now`.
    pub fn handle(&mut self, input: Input, now: Time) {
        match input {
            Input::CallQueued {
                call,
                queue,
                lang,
                skills,
                topic,
                priority,
                since,
                callback,
                caller,
                agent,
            } => self.call_queued(
                call,
                &queue,
                &lang,
                &skills,
                topic,
                priority,
                (since, callback, caller, agent),
                now,
            ),
            Input::CallLeft { call } => self.call_left(call, now),
            Input::CallbackRequested { call, number } => self.callback_requested(call, number, now),
            Input::AgentLogin { agent } => {
                if let Some(s) = self.slot(&agent) {
                    self.login(s, now);
                }
            }
            Input::AgentLogout { agent } => {
                if let Some(s) = self.slot(&agent) {
                    self.agents[s].want_login = false;
                    self.agent_request(s, Pending::Logout("logout".into()), now);
                }
            }
            Input::AgentPause { agent, reason } => {
                if let Some(s) = self.slot(&agent) {
                    let reason = if reason.is_empty() {
                        "pause".to_string()
                    } else {
                        reason
                    };
                    self.agent_request(s, Pending::Pause(reason), now);
                }
            }
            Input::AgentResume { agent } => {
                if let Some(s) = self.slot(&agent) {
                    self.resume(s, now);
                }
            }
            Input::AgentRegistered { agent } => {
                if let Some(s) = self.slot(&agent) {
                    self.agents[s].registered = true;
                    let a = &self.agents[s];
                    if a.state == AgentState::LoggedOut && a.want_login {
                        self.login(s, now);
                    }
                }
            }
            Input::AgentUnregistered { agent } => {
                if let Some(s) = self.slot(&agent) {
                    self.agents[s].registered = false;
                    self.agents[s].want_login = false;
                    self.agent_request(s, Pending::Logout("unregistered".into()), now);
                }
            }
            Input::Ringing { call, agent } => {
                if let Some(s) = self.slot(&agent) {
                    let a = &self.agents[s];
                    if a.call == Some(call) && a.state == AgentState::Reserved {
                        self.agent_to(s, AgentState::Ringing, None, now);
                    }
                }
            }
            Input::Answered { call, agent } => {
                if let Some(s) = self.slot(&agent) {
                    self.answered(call, s, now);
                }
            }
            Input::OfferFailed {
                call,
                agent,
                reason,
            } => {
                if let Some(s) = self.slot(&agent) {
                    let a = &self.agents[s];
                    let holds = a.call == Some(call)
                        && matches!(
                            a.state,
                            AgentState::Reserved | AgentState::Ringing | AgentState::OnCall
                        );
                    if holds {
                        let kind = match reason {
                            OfferFailure::Unreachable => Failure::Unreachable,
                            _ if a.state == AgentState::OnCall => Failure::LegFailed,
                            _ => Failure::Miss,
                        };
                        self.fail_offer(s, call, kind, now);
                    }
                }
            }
            Input::CallEnded { call, agent } => {
                if let Some(s) = self.slot(&agent) {
                    self.call_ended(call, s, now);
                }
            }
            Input::ConsultStart { call, agent } => self.consult_start(call, &agent, now),
            Input::ConsultEnded { call, agent } => self.consult_ended(call, &agent, now),
            Input::ConsultCompleted { call, agent } => self.consult_completed(call, &agent, now),
            Input::WrapupDone { agent } => {
                if let Some(s) = self.slot(&agent) {
                    if self.agents[s].state == AgentState::WrapUp {
                        self.end_wrapup(s, now);
                    }
                }
            }
        }
        self.settle_undirected(now);
    }

    /// Act on every deadline at or before `now` (ring timeouts, wrap-up ends, relaxation
    /// steps, announcements, max waits, miss exclusions), earliest first.
    pub fn handle_timeout(&mut self, now: Time) {
        // Every handler leaves its owner with no deadline or one after `now`, so this ends.
        while let Some((_, key)) = self.timers.pop_due(now) {
            match key {
                TimerKey::Agent(slot) => {
                    if let Some(a) = self.agents.get_mut(slot) {
                        a.timer = None;
                        self.agent_timer(slot, now);
                    }
                }
                TimerKey::Call(id) => {
                    if let Some(e) = self.calls.get_mut(&id) {
                        e.timer = None;
                        self.call_timer(id, now);
                    }
                }
            }
        }
        self.settle_undirected(now);
    }

    pub(super) fn slot(&self, agent: &str) -> Option<usize> {
        self.agent_ids.get(agent).copied()
    }

    // ----- matching -----

    /// Best available agent for a waiting call: eligible, not excluded; highest proficiency
    /// score, then longest idle, then smallest id.
    fn best_agent_for(&self, e: &Entry, now: Time) -> Option<usize> {
        if let Some(slot) = e.directed(now) {
            let a = self.agents.get(slot)?;
            let free = a.state == AgentState::Available && a.offerable();
            return (free && !e.is_excluded(slot, now)).then_some(slot);
        }
        let mut best: Option<(usize, (u8, u32, u8))> = None;
        for (slot, a) in self.agents.iter().enumerate() {
            if a.state != AgentState::Available
                || !a.offerable()
                || !a.serves(e.queue)
                || !qualifies(&a.levels, &e.reqs)
                || e.is_excluded(slot, now)
            {
                continue;
            }
            let sc = score(&a.levels, &e.base);
            let better = match best {
                None => true,
                Some((b, bsc)) => {
                    let bb = &self.agents[b];
                    sc.cmp(&bsc)
                        .then(bb.idle_since.cmp(&a.idle_since))
                        .then(bb.id.cmp(&a.id))
                        == Ordering::Greater
                }
            };
            if better {
                best = Some((slot, sc));
            }
        }
        best.map(|(s, _)| s)
    }

    /// Best waiting call for an agent: the first in the global order (priority, then oldest)
    /// that the agent is eligible for and has not just missed — before them, a caller a
    /// colleague transferred to this agent by name.
    fn best_call_for(&self, slot: usize, now: Time) -> Option<CallId> {
        let a = self.agents.get(slot)?;
        let waiting = || self.waiting.iter().filter_map(|k| self.calls.get(&k.2));
        waiting()
            .find(|e| e.directed(now) == Some(slot) && !e.is_excluded(slot, now))
            .or_else(|| {
                waiting().find(|e| {
                    e.directed(now).is_none()
                        && a.serves(e.queue)
                        && qualifies(&a.levels, &e.reqs)
                        && !e.is_excluded(slot, now)
                })
            })
            .map(|e| e.id)
    }

    pub(super) fn try_offer_call(&mut self, id: CallId, now: Time) {
        let Some(e) = self.calls.get(&id) else {
            return;
        };
        if e.phase != Phase::Waiting {
            return;
        }
        if let Some(slot) = self.best_agent_for(e, now) {
            self.make_offer(id, slot, now);
        }
    }

    pub(super) fn try_offer_agent(&mut self, slot: usize, now: Time) {
        let Some(a) = self.agents.get(slot) else {
            return;
        };
        if a.state != AgentState::Available || !a.offerable() {
            return;
        }
        if let Some(id) = self.best_call_for(slot, now) {
            self.make_offer(id, slot, now);
        }
    }

    fn make_offer(&mut self, id: CallId, slot: usize, now: Time) {
        let Some(e) = self.calls.get_mut(&id) else {
            return;
        };
        self.waiting.remove(&e.key);
        e.phase = Phase::Offered(slot);
        e.offered_at = now;
        let callback = e.callback.clone();
        self.agent_to(slot, AgentState::Reserved, None, now);
        let a = &mut self.agents[slot];
        a.call = Some(id);
        let at = now.saturating_add(self.cfg.ring_timeout_ms);
        self.timers
            .set(&mut a.timer, TimerKey::Agent(slot), Some(at));
        let agent = a.id.clone();
        self.out.push_back(match callback {
            Some(number) => Output::DialCallback {
                call: id,
                agent,
                number,
            },
            None => Output::Offer { call: id, agent },
        });
        self.reschedule_call(id);
    }

    pub(super) fn cancel_offer(&mut self, call: CallId, slot: usize, reason: CancelReason) {
        self.out.push_back(Output::CancelOffer {
            call,
            agent: self.agents[slot].id.clone(),
            reason,
        });
    }

    // ----- agents -----

    /// The one place agent states change: emits the event, keeps the ring/wrap-up timer only
    /// while it applies, records a handle-time sample when wrap-up ends for any reason.
    pub(super) fn agent_to(
        &mut self,
        slot: usize,
        state: AgentState,
        reason: Option<String>,
        now: Time,
    ) {
        let Some(a) = self.agents.get_mut(slot) else {
            return;
        };
        let old = a.state;
        if old == AgentState::WrapUp && state != AgentState::WrapUp {
            if let Some(q) = a.handle_queue.take() {
                let ms = now.saturating_sub(a.handle_start);
                if let Some(q) = self.queues.get_mut(q) {
                    q.record_handle(ms, self.cfg.aht_window);
                }
            }
        }
        let keep_timer = a.ringing() && matches!(state, AgentState::Reserved | AgentState::Ringing);
        if !keep_timer {
            self.timers.set(&mut a.timer, TimerKey::Agent(slot), None);
        }
        if !matches!(
            state,
            AgentState::Reserved | AgentState::Ringing | AgentState::OnCall
        ) {
            a.call = None;
            a.direct = None;
        }
        if !matches!(state, AgentState::OnCall | AgentState::WrapUp) {
            a.pending = None;
            a.handle_queue = None;
        }
        if state == AgentState::Available && old != AgentState::Available {
            a.idle_since = now;
        }
        if state == AgentState::LoggedOut {
            a.misses = 0;
        }
        if matches!(state, AgentState::LoggedOut | AgentState::Paused) {
            // Callers waiting for this agent by name go back to the queue's rules.
            for (id, e) in self.calls.iter_mut() {
                if e.only.is_some_and(|(s, _)| s == slot) {
                    e.only = None;
                    self.undirected.push(*id);
                }
            }
        }
        let Some(a) = self.agents.get_mut(slot) else {
            return;
        };
        a.want_login = false;
        if state != old || a.reason != reason {
            a.state = state;
            a.since = now;
            a.reason.clone_from(&reason);
            self.out.push_back(Output::AgentState {
                agent: a.id.clone(),
                state,
                reason,
            });
        }
    }

    fn login(&mut self, slot: usize, now: Time) {
        let a = &mut self.agents[slot];
        if !a.active {
            return;
        }
        match a.state {
            AgentState::LoggedOut if !a.scheduled => {
                self.agent_to(
                    slot,
                    AgentState::LoggedOut,
                    Some("not-scheduled".into()),
                    now,
                );
            }
            AgentState::LoggedOut if a.registered => {
                a.misses = 0;
                self.agent_to(slot, AgentState::Available, None, now);
                self.try_offer_agent(slot, now);
            }
            // Logs in when the phone registers: never "available but gone".
            AgentState::LoggedOut => a.want_login = true,
            // Logging in again cancels a logout waiting for the end of the call.
            AgentState::OnCall | AgentState::WrapUp
                if matches!(a.pending, Some(Pending::Logout(_))) && a.offerable() =>
            {
                a.pending = None;
            }
            _ => {}
        }
    }

    fn resume(&mut self, slot: usize, now: Time) {
        let a = &mut self.agents[slot];
        match a.state {
            AgentState::Paused if a.offerable() => {
                a.misses = 0;
                self.agent_to(slot, AgentState::Available, None, now);
                self.try_offer_agent(slot, now);
            }
            AgentState::OnCall | AgentState::WrapUp
                if matches!(a.pending, Some(Pending::Pause(_))) =>
            {
                a.pending = None;
            }
            _ => {}
        }
    }

    /// Pause or log out: at once, cancelling an offer that is ringing; after the call (and its
    /// wrap-up) for an agent on a call; the latest request wins.
    pub(super) fn agent_request(&mut self, slot: usize, req: Pending, now: Time) {
        let Some(a) = self.agents.get_mut(slot) else {
            return;
        };
        match a.state {
            AgentState::LoggedOut => {}
            AgentState::OnCall => a.pending = Some(req),
            AgentState::Reserved | AgentState::Ringing => {
                let call = a.call;
                if let Some(c) = call {
                    self.cancel_offer(c, slot, CancelReason::AgentUnavailable);
                }
                self.apply_request(slot, req, now);
                if let Some(c) = call {
                    self.requeue(c, None, now);
                    self.settle_call(c, now);
                }
            }
            AgentState::Available | AgentState::Paused | AgentState::WrapUp => {
                self.apply_request(slot, req, now)
            }
        }
    }

    fn apply_request(&mut self, slot: usize, req: Pending, now: Time) {
        match req {
            Pending::Pause(r) => self.agent_to(slot, AgentState::Paused, Some(r), now),
            Pending::Logout(r) => self.agent_to(slot, AgentState::LoggedOut, Some(r), now),
        }
    }

    /// Leave a call or wrap-up: apply a pending request, else become available (an agent that
    /// can no longer take calls is logged out instead).
    pub(super) fn go_ready(&mut self, slot: usize, now: Time) {
        let a = &mut self.agents[slot];
        let pending = a.pending.take();
        if !a.offerable() {
            let why = match pending {
                Some(Pending::Logout(r)) => r,
                _ if !a.active => "removed".into(),
                _ if !a.registered => "unregistered".into(),
                _ => "not-scheduled".into(),
            };
            self.agent_to(slot, AgentState::LoggedOut, Some(why), now);
            return;
        }
        match pending {
            Some(req) => self.apply_request(slot, req, now),
            None => self.agent_to(slot, AgentState::Available, None, now),
        }
    }

    fn answered(&mut self, call: CallId, slot: usize, now: Time) {
        let a = &self.agents[slot];
        if a.call != Some(call) || !a.ringing() {
            return; // not this agent's offer (or CancelOffer already sent)
        }
        let Some(e) = self.calls.get_mut(&call) else {
            return;
        };
        e.phase = Phase::Connected(slot);
        let q = e.queue;
        self.timers.set(&mut e.timer, TimerKey::Call(call), None);
        if e.live() {
            let (waited, ring) = (
                now.saturating_sub(e.entered),
                now.saturating_sub(e.offered_at),
            );
            if let Some(qr) = self.queues.get_mut(q) {
                qr.leaving.record(waited, false);
                qr.ring.record(ring);
            }
        }
        self.agent_to(slot, AgentState::OnCall, None, now);
        let a = &mut self.agents[slot];
        a.misses = 0;
        a.handle_queue = Some(q);
        a.handle_start = now;
    }

    /// The offer (or the agent leg) failed: the call goes back to its place, the agent is
    /// kept off it for one ring timeout, and the agent is logged out (unreachable), paused
    /// (too many misses) or made available again.
    fn fail_offer(&mut self, slot: usize, call: CallId, kind: Failure, now: Time) {
        // A colleague who does not take a transferred caller hands them to the queue.
        if let Some(e) = self.calls.get_mut(&call) {
            e.only = None;
        }
        let exclude = (kind != Failure::Unreachable).then_some(slot);
        self.requeue(call, exclude, now);
        match kind {
            Failure::Unreachable => {
                self.agent_to(slot, AgentState::LoggedOut, Some("unreachable".into()), now)
            }
            Failure::LegFailed => self.go_ready(slot, now),
            Failure::Miss => {
                let a = &mut self.agents[slot];
                a.misses = a.misses.saturating_add(1);
                if self.cfg.max_misses > 0 && a.misses >= self.cfg.max_misses {
                    self.agent_to(slot, AgentState::Paused, Some("ring-no-answer".into()), now);
                } else {
                    self.go_ready(slot, now);
                }
            }
        }
        self.settle_call(call, now);
        self.try_offer_agent(slot, now);
    }

    pub(super) fn call_ended(&mut self, call: CallId, slot: usize, now: Time) {
        if self.direct_call_ended(call, slot, now) {
            return;
        }
        let a = &self.agents[slot];
        if a.call != Some(call)
            || !matches!(
                a.state,
                AgentState::Reserved | AgentState::Ringing | AgentState::OnCall
            )
        {
            return;
        }
        if a.state != AgentState::OnCall {
            // Ended without an Answered we saw: count it as answered now.
            let q = self.calls.get(&call).map(|e| e.queue);
            let a = &mut self.agents[slot];
            a.handle_queue = q;
            a.handle_start = now;
            a.misses = 0;
        }
        self.remove_call(call);
        self.wrap_up(slot, now);
    }

    /// Talk is over: wrap-up for the agent's time (or straight on when it has none).
    pub(super) fn wrap_up(&mut self, slot: usize, now: Time) {
        let wrap = self.agents[slot]
            .wrapup_ms
            .unwrap_or(self.cfg.default_wrapup_ms);
        self.agent_to(slot, AgentState::WrapUp, None, now);
        if wrap == 0 {
            self.end_wrapup(slot, now);
        } else {
            let a = &mut self.agents[slot];
            a.wrap_until = now.saturating_add(wrap);
            self.timers
                .set(&mut a.timer, TimerKey::Agent(slot), Some(a.wrap_until));
        }
    }

    fn end_wrapup(&mut self, slot: usize, now: Time) {
        self.go_ready(slot, now);
        self.try_offer_agent(slot, now);
    }

    fn agent_timer(&mut self, slot: usize, now: Time) {
        let a = &self.agents[slot];
        match a.state {
            AgentState::Reserved | AgentState::Ringing => {
                if let Some(call) = a.call {
                    self.cancel_offer(call, slot, CancelReason::RingTimeout);
                    self.fail_offer(slot, call, Failure::Miss, now);
                }
            }
            AgentState::WrapUp => self.end_wrapup(slot, now),
            _ => {}
        }
    }
}
