//! Calls an agent takes outside the queue: a colleague's consultation (an attended transfer's
//! first half: the agent who has the caller rings a free colleague), then the caller that
//! colleague is handed. The colleague is busy for the ACD from the moment the consultation
//! rings — no queue call is offered to them meanwhile — and becomes the agent of the caller
//! when the transfer completes, with their own talk and wrap-up.
//!
//! Owns: an agent's `direct` call and the inputs that move it. Never does: ringing, bridging,
//! logging call events (the call core does), or touching the caller's queue entry.

use super::agent::Direct;
use super::engine::Acd;
use super::types::{AgentState, CallId, Output, Time};

/// Why a colleague cannot be consulted.
pub const BUSY: &str = "busy";
pub const UNKNOWN: &str = "unknown";

impl Acd {
    /// Agent `agent` is asked to take a consultation for `call`: granted when they are free.
    pub(super) fn consult_start(&mut self, call: CallId, agent: &str, now: Time) {
        let slot = self.slot(agent);
        let refused = match slot {
            None => Some(UNKNOWN),
            Some(s) => {
                let a = &self.agents[s];
                (a.state != AgentState::Available || !a.offerable()).then_some(BUSY)
            }
        };
        if let (Some(slot), None) = (slot, refused) {
            self.agents[slot].direct = Some(Direct::Consult(call));
            self.agent_to(slot, AgentState::OnCall, Some("consult".into()), now);
        }
        self.out.push_back(Output::Consult {
            call,
            agent: agent.to_string(),
            refused,
        });
    }

    /// The consultation ended without a transfer: the colleague is free again.
    pub(super) fn consult_ended(&mut self, call: CallId, agent: &str, now: Time) {
        let Some(slot) = self.slot(agent) else {
            return;
        };
        if self.agents[slot].direct != Some(Direct::Consult(call)) {
            return;
        }
        self.agents[slot].direct = None;
        self.go_ready(slot, now);
        self.try_offer_agent(slot, now);
    }

    /// The transfer completed: the colleague now has the caller. Their handling of the call
    /// starts now and counts for the caller's queue.
    pub(super) fn consult_completed(&mut self, call: CallId, agent: &str, now: Time) {
        let Some(slot) = self.slot(agent) else {
            return;
        };
        if self.agents[slot].direct != Some(Direct::Consult(call)) {
            return;
        }
        let queue = self.calls.get(&call).map(|e| e.queue);
        self.agents[slot].direct = Some(Direct::Handed(call));
        self.agent_to(slot, AgentState::OnCall, None, now);
        let a = &mut self.agents[slot];
        a.handle_queue = queue;
        a.handle_start = now;
        a.misses = 0;
    }

    /// `CallEnded` for an agent's direct call: a consultation ends as such (the caller left
    /// during it), a handed caller's end starts wrap-up. False when `call` is not direct.
    pub(super) fn direct_call_ended(&mut self, call: CallId, slot: usize, now: Time) -> bool {
        match self.agents[slot].direct {
            Some(Direct::Consult(c)) if c == call => {
                let id = self.agents[slot].id.clone();
                self.consult_ended(call, &id, now);
                true
            }
            Some(Direct::Handed(c)) if c == call => {
                self.agents[slot].direct = None;
                self.wrap_up(slot, now);
                true
            }
            _ => false,
        }
    }
}
