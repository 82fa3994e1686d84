//! Legs the call originates, and bridging: an offer rings every contact of the agent (the first
//! to answer wins, the others are hung up), a transfer calls a plan target while the caller
//! hears music; an answered leg is bridged to the caller. A failed offer puts the caller back
//! in their place; a failed transfer continues at the plan's `on_failure`; a bridged agent leg
//! that breaks (not the agent hanging up) re-queues the caller.

use tracing::{debug, info};

use super::{
    Call, Contact, Dial, Leg, LegCommand, LegEnd, LegId, MediaCommand, OfferContext, Originate,
    Output, Phase, Role, CALLER, TRANSFER_MUSIC,
};
use crate::acd::{self, OfferFailure};
use crate::dialplan::model::Target;
use crate::event::EventKind;

/// How an agent's phone refused, for the ACD.
pub fn failure(status: u16) -> OfferFailure {
    match status {
        486 | 600 => OfferFailure::Busy,
        603 => OfferFailure::Declined,
        408 | 480 | 487 => OfferFailure::NoAnswer,
        _ => OfferFailure::Unreachable,
    }
}

impl Call {
    /// Ask the driver to place a leg; it reports back on `leg`.
    pub(super) fn new_leg(&mut self, role: Role, req: Originate) -> LegId {
        let leg = self.next_leg;
        self.next_leg += 1;
        self.legs.insert(
            leg,
            Leg {
                role,
                phase: Phase::Early,
            },
        );
        self.out.push_back(Output::Originate { leg, req });
        leg
    }

    /// Ring every contact of `agent` at once; the number of legs placed.
    pub(super) fn ring_agent(
        &mut self,
        agent: &str,
        queue: &str,
        contacts: Vec<Contact>,
        from: (String, Option<String>),
        headers: Vec<(String, String)>,
        context: Option<OfferContext>,
    ) -> usize {
        let n = contacts.len();
        let context = context.map(Box::new);
        for c in contacts {
            let req = Originate {
                dial: Dial::Contact(c),
                to: Some(format!("sip:{agent}@{}", self.cfg.realm)),
                from_user: from.0.clone(),
                from_display: from.1.clone(),
                headers: headers.clone(),
                context: context.clone(),
                agent: Some(agent.to_string()),
            };
            let role = Role::Agent {
                agent: agent.to_string(),
                queue: queue.to_string(),
            };
            self.new_leg(role, req);
        }
        n
    }

    pub(super) fn on_contacts(&mut self, agent: &str, contacts: Vec<Contact>) {
        if self.consult_wants(agent) {
            self.consult_contacts(agent, contacts);
            return;
        }
        if self.callback.is_some() {
            self.callback_contacts(agent, contacts);
            return;
        }
        let Some(q) = self.queued.as_ref() else {
            return;
        };
        // The offer may have been withdrawn while we looked the agent up.
        if q.done || q.offered.as_deref() != Some(agent) {
            return;
        }
        let queue = q.node.queue.clone();
        let headers = vec![
            ("X-Centrale-Context".into(), q.context(&self.caller)),
            ("X-Centrale-Call".into(), self.uid.clone()),
        ];
        let context = q.offer_context(&self.uid, &self.caller, self.caller_display.as_deref());
        let from = (self.caller.clone(), self.caller_display.clone());
        if self.ring_agent(agent, &queue, contacts, from, headers, Some(context)) == 0 {
            info!(%agent, "agent has no reachable phone");
            self.offer_failed(agent, OfferFailure::Unreachable, 480);
        }
    }

    pub(super) fn on_leg_ringing(&mut self, leg: LegId, role: &Role) {
        if let Some(l) = self.legs.get_mut(&leg) {
            if l.phase == Phase::Early {
                l.phase = Phase::Ringing;
            }
        }
        debug!(leg, "leg ringing");
        if let Role::Colleague { .. } = role {
            self.colleague_ringing();
        }
        if let Role::Agent { agent, .. } = role {
            if self.queued.is_some() {
                self.acd_input(acd::Input::Ringing {
                    call: self.acd_id,
                    agent: agent.clone(),
                });
            }
        }
    }

    pub(super) fn on_leg_answered(&mut self, leg: LegId, role: &Role) {
        if let Some(l) = self.legs.get_mut(&leg) {
            l.phase = Phase::Up;
        }
        match role {
            Role::Agent { agent, queue } => {
                // The first contact to answer wins; the others stop ringing.
                let others: Vec<LegId> = self
                    .legs
                    .iter()
                    .filter(|(&id, l)| {
                        id != leg && matches!(&l.role, Role::Agent { agent: a, .. } if a == agent)
                    })
                    .map(|(&id, _)| id)
                    .collect();
                for id in others {
                    self.command(id, LegCommand::Hangup);
                }
                if self.callback.is_some() {
                    self.callback_agent_answered(leg);
                    return;
                }
                info!(%agent, %queue, "agent answered: bridged");
                self.bridge_to_caller(leg);
                self.agent_answered(agent, queue);
            }
            Role::Target { name } => {
                info!(target = %name, "transfer answered: bridged");
                self.transfer_answered(leg);
                self.bridge_to_caller(leg);
                self.emit(EventKind::TransferAnswered {
                    target: name.clone(),
                });
                self.outcome = Some(format!("transfer:{name}"));
            }
            Role::Citizen => self.callback_citizen_answered(leg),
            Role::Colleague { .. } => self.colleague_answered(leg),
            Role::Caller | Role::Consulting { .. } => {}
        }
    }

    fn bridge_to_caller(&mut self, leg: LegId) {
        self.bridge(CALLER, leg);
    }

    pub(super) fn bridge(&mut self, a: LegId, b: LegId) {
        self.media(MediaCommand::Stop { leg: a });
        self.media(MediaCommand::Bridge { a, b });
        self.bridge = Some((a, b));
    }

    /// An originated leg failed (`failed`: before answering) or ended.
    pub(super) fn on_leg_gone(
        &mut self,
        leg: LegId,
        l: &Leg,
        failed: Option<u16>,
        end: Option<LegEnd>,
    ) {
        self.legs.remove(&leg);
        let was_bridged = matches!(self.bridge, Some((a, b)) if a == leg || b == leg);
        if was_bridged {
            if let Some((a, b)) = self.bridge.take() {
                let other = if a == leg { b } else { a };
                self.media(MediaCommand::Unbridge { leg: other });
            }
        }
        if self.callback.is_some() {
            self.callback_leg_gone(l, was_bridged, failed, end);
            return;
        }
        match &l.role {
            Role::Colleague { .. } => self.colleague_gone(leg, failed),
            Role::Consulting { .. } => self.consult_cancelled(leg),
            Role::Target { name } => {
                if was_bridged {
                    if end == Some(LegEnd::Bye) {
                        info!(target = %name, "transfer target hung up");
                        self.side = "transfer";
                    }
                    self.hang_up_caller();
                } else {
                    let status = failed.unwrap_or(500);
                    info!(target = %name, status, "transfer failed");
                    self.emit(EventKind::TransferFailed {
                        target: name.clone(),
                        status,
                    });
                    if self.transfer_failed(leg, status) {
                        return;
                    }
                    self.media(MediaCommand::Stop { leg: CALLER });
                    if let Some(ivr) = self.ivr.as_mut() {
                        ivr.on_transfer_failed(self.now);
                        self.pump_ivr();
                    }
                }
            }
            Role::Agent { agent, .. } => {
                if self.transfer.as_ref().is_some_and(|p| p.agent_leg == leg) {
                    // The agent hung up after handing the caller on (a blind transfer): the
                    // transfer goes on; its end releases the agent.
                    return;
                }
                let was_bridged = was_bridged || self.held_by == Some(leg);
                if self.held_by == Some(leg) {
                    self.held_by = None;
                }
                if was_bridged {
                    match end {
                        Some(LegEnd::Bye) | Some(LegEnd::Local) | None => {
                            if end == Some(LegEnd::Bye) {
                                info!(%agent, "agent hung up");
                                self.side = "agent";
                            }
                            self.agent_call_ended(agent);
                            self.hang_up_caller();
                        }
                        Some(_) => self.agent_leg_broke(agent),
                    }
                } else if !self.rings(agent) {
                    // The last contact of this offer gave up: tell the ACD why.
                    let status = failed.unwrap_or(487);
                    self.offer_failed(agent, failure(status), status);
                }
            }
            Role::Citizen | Role::Caller => {}
        }
    }

    /// Whether some contact of `agent` still rings for this call.
    pub(super) fn rings(&self, agent: &str) -> bool {
        self.legs.values().any(|l| {
            matches!(l.phase, Phase::Early | Phase::Ringing)
                && matches!(&l.role, Role::Agent { agent: a, .. } if a == agent)
        })
    }

    /// Stop ringing an agent (ring timeout, the ACD changed its mind, the caller left).
    pub(super) fn stop_ringing(&mut self, agent: &str) {
        let ringing: Vec<LegId> = self
            .legs
            .iter()
            .filter(|(_, l)| {
                l.phase != Phase::Up
                    && matches!(&l.role, Role::Agent { agent: a, .. } if a == agent)
            })
            .map(|(&id, _)| id)
            .collect();
        for id in ringing {
            self.command(id, LegCommand::Hangup);
        }
    }

    /// The caller is gone: stop every leg we started.
    pub(super) fn end_legs(&mut self) {
        self.consult_abandon();
        if self.callback.is_none() {
            // The agent talking to the caller (bridged, holding them, or transferring them).
            let with_caller = self
                .bridge
                .map(|(_, b)| b)
                .or(self.held_by)
                .or(self.transfer.as_ref().map(|p| p.agent_leg));
            let agent = with_caller.and_then(|b| match self.legs.get(&b) {
                Some(Leg {
                    role: Role::Agent { agent, .. },
                    ..
                }) => Some(agent.clone()),
                _ => self.transfer.as_ref().map(|p| p.agent.clone()),
            });
            if let Some(agent) = agent {
                self.agent_call_ended(&agent);
            }
            self.held_by = None;
            self.transfer = None;
        }
        let others: Vec<LegId> = self.legs.keys().copied().filter(|&l| l != CALLER).collect();
        for id in others {
            self.command(id, LegCommand::Hangup);
        }
        self.bridge = None;
    }

    /// A dial-plan exit: the caller hears music while the target rings.
    pub(super) fn start_transfer(&mut self, target: Target) {
        // The emergency exit falls back to the server's own 911 route if the plan has none.
        let uri = if target.uri.is_empty() {
            self.cfg.emergency_uri.clone()
        } else {
            target.uri.clone()
        };
        self.emit(EventKind::TransferStarted {
            target: target.name.clone(),
            uri: uri.clone(),
        });
        // The caller's number goes with the call: 911 must be able to call back.
        let req = Originate {
            dial: Dial::Uri(uri),
            to: None,
            from_user: self.caller.clone(),
            from_display: self.caller_display.clone(),
            headers: vec![("X-Centrale-Call".into(), self.uid.clone())],
            context: None,
            agent: None,
        };
        self.new_leg(Role::Target { name: target.name }, req);
        self.say(CALLER, &["hold_music"], TRANSFER_MUSIC, true);
    }
}
