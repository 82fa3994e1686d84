//! Attended transfer: the agent who has the caller puts them on hold, talks to a colleague
//! first (the consultation), then hands the caller over — or does not, and gets the caller
//! back. From a SIP phone the consultation is the phone's own second call (its INVITE to the
//! colleague's id, delivered to this call by the driver) and the hand-over is its REFER with
//! Replaces (RFC 3891) naming that call; from the browser desktop they are three buttons
//! (consult, complete, cancel) on the agent's one leg.
//!
//! The colleague is asked of the ACD first (they must be free; they are then busy for it),
//! rung on every contact like an offer, and bridged to the agent's talking leg. Completing
//! bridges the caller to the colleague, who becomes the call's agent (`agent_transfer` to
//! `agent:<id>`, then their `agent_answered`, so talk time stays right); the first agent goes to
//! wrap-up. A colleague who is busy, does not answer or hangs up gives the caller back to the
//! agent (on a phone, still on hold until the agent resumes them).
//!
//! Owns: the consultation's state and events. Never does: SIP (Replaces is resolved to a leg
//! by the driver), ringing logic shared with offers (`legs`), the ACD's decision.

use tracing::{info, warn};

use super::transfer::TransferRefused;
use super::{Call, Contact, Dial, LegCommand, LegId, MediaCommand, Originate, Phase, Role, CALLER};
use crate::acd;
use crate::event::EventKind;

/// A consultation under way.
#[derive(Debug, Clone)]
pub(super) struct Consult {
    /// The agent who has the caller, and their leg with the caller.
    pub agent: String,
    pub agent_leg: LegId,
    /// The agent's leg that talks to the colleague: their phone's consultation call, or (a
    /// desktop) the same leg as `agent_leg`.
    pub talk_leg: LegId,
    /// The colleague, and the leg of theirs that answered.
    pub to: String,
    pub answered: Option<LegId>,
    /// The colleague's phones ring until then (the ring timeout of offers).
    pub ring_until: Option<std::time::Instant>,
    /// The ACD granted the colleague (they are busy for it until the consultation ends).
    pub granted: bool,
}

impl Consult {
    fn by_phone(&self) -> bool {
        self.talk_leg != self.agent_leg
    }
}

impl Call {
    /// The leg on which `agent` has this call's caller (bridged or on hold), if any.
    fn leg_with_caller(&self, agent: &str) -> Option<LegId> {
        let leg = match self.bridge {
            Some((CALLER, b)) => Some(b),
            _ => self.held_by,
        }?;
        match self.legs.get(&leg).map(|l| &l.role) {
            Some(Role::Agent { agent: a, .. }) if a == agent => Some(leg),
            _ => None,
        }
    }

    /// Who `agent` may consult: a known colleague, not themselves, one at a time.
    fn check_consult(&self, agent: &str, to: &str) -> Result<LegId, TransferRefused> {
        let leg = self
            .leg_with_caller(agent)
            .ok_or(TransferRefused::NoCaller)?;
        if self.consult.is_some() || self.transfer.is_some() {
            return Err(TransferRefused::AlreadyTransferring);
        }
        if !self.cfg.agents.contains(to) {
            return Err(TransferRefused::NoSuchAgent);
        }
        if to == agent {
            return Err(TransferRefused::ToOneself);
        }
        if self.queued.is_none() {
            return Err(TransferRefused::NotFromAQueue);
        }
        Ok(leg)
    }

    /// Agent `agent`'s phone calls colleague `to` while it has this call's caller: the leg its
    /// INVITE becomes (the driver opens it with this id), or why it is refused (403).
    pub fn consult_from_phone(
        &mut self,
        agent: &str,
        to: &str,
        now: crate::ivr::Now,
    ) -> Result<LegId, TransferRefused> {
        self.now = now;
        let agent_leg = self.check_consult(agent, to)?;
        let leg = self.next_leg;
        self.next_leg += 1;
        self.legs.insert(
            leg,
            super::Leg {
                role: Role::Consulting {
                    agent: agent.to_string(),
                },
                phase: Phase::Early,
            },
        );
        self.start_consult(agent, agent_leg, leg, to);
        Ok(leg)
    }

    /// The agent's desktop (leg `leg`) consults colleague `to`.
    pub(super) fn consult_from_desk(&mut self, leg: LegId, to: &str) {
        let agent = match self.legs.get(&leg).map(|l| &l.role) {
            Some(Role::Agent { agent, .. }) => agent.clone(),
            _ => return self.command(leg, LegCommand::Notify { status: 403 }),
        };
        match self.check_consult(&agent, to) {
            Ok(l) if l == leg => self.start_consult(&agent, leg, leg, to),
            Ok(_) => self.command(leg, LegCommand::Notify { status: 403 }),
            Err(why) => {
                warn!(%agent, %to, %why, "consultation refused");
                self.command(leg, LegCommand::Notify { status: 403 });
            }
        }
    }

    fn start_consult(&mut self, agent: &str, agent_leg: LegId, talk_leg: LegId, to: &str) {
        info!(%agent, %to, "consultation");
        self.emit(EventKind::Consult {
            agent: agent.to_string(),
            to: to.to_string(),
        });
        // The caller waits on hold (a phone has usually put them there already).
        if self.bridge.is_some() {
            self.agent_hold(agent_leg, true);
        }
        self.consult = Some(Consult {
            agent: agent.to_string(),
            agent_leg,
            talk_leg,
            to: to.to_string(),
            answered: None,
            ring_until: None,
            granted: false,
        });
        if self.cfg.acd {
            self.acd_input(acd::Input::ConsultStart {
                call: self.acd_id,
                agent: to.to_string(),
            });
        } else {
            self.consult_granted(to, None);
        }
    }

    /// The ACD's answer about the colleague.
    pub(super) fn consult_granted(&mut self, to: &str, refused: Option<&'static str>) {
        let Some(c) = self.consult.as_mut().filter(|c| c.to == to && !c.granted) else {
            if refused.is_none() {
                // Granted for a consultation that is already over: free the colleague.
                self.acd_input(acd::Input::ConsultEnded {
                    call: self.acd_id,
                    agent: to.to_string(),
                });
            }
            return;
        };
        match refused {
            None => {
                c.granted = true;
                self.out.push_back(super::Output::FindContacts {
                    agent: to.to_string(),
                });
            }
            Some(why) => {
                info!(%to, why, "colleague cannot be consulted");
                self.consult_over(&format!("refused:{why}"), 486);
            }
        }
    }

    /// Whether these are the contacts of the colleague being consulted.
    pub(super) fn consult_wants(&self, agent: &str) -> bool {
        self.consult
            .as_ref()
            .is_some_and(|c| c.to == agent && c.granted)
    }

    /// Where the colleague can be reached: ring them all (once).
    pub(super) fn consult_contacts(&mut self, agent: &str, contacts: Vec<Contact>) {
        let Some(c) = self.consult.clone().filter(|_| self.consult_wants(agent)) else {
            return;
        };
        if self.colleague_legs().next().is_some() {
            return;
        }
        // The colleague's screen pop: the caller, and who consults them about it.
        let context = self.queued.as_ref().map(|q| {
            let mut ctx = q.offer_context(&self.uid, &self.caller, self.caller_display.as_deref());
            ctx.consult_from = Some(c.agent.clone());
            Box::new(ctx)
        });
        if contacts.is_empty() {
            info!(to = %agent, "colleague has no reachable phone");
            self.consult_over("failed:480", 480);
            return;
        }
        let until = self.now.mono + self.cfg.ring_timeout;
        if let Some(c) = self.consult.as_mut() {
            c.ring_until = Some(until);
        }
        for contact in contacts {
            let req = Originate {
                dial: Dial::Contact(contact),
                to: Some(format!("sip:{agent}@{}", self.cfg.realm)),
                from_user: c.agent.clone(),
                from_display: Some(format!("{} ({})", c.agent, self.caller)),
                headers: vec![("X-Centrale-Call".into(), self.uid.clone())],
                context: context.clone(),
                // Their phone's own consultation later reaches this call (once they have
                // the caller); the leg gets their SRTP policy.
                agent: Some(agent.to_string()),
            };
            self.new_leg(
                Role::Colleague {
                    agent: agent.to_string(),
                },
                req,
            );
        }
    }

    fn colleague_legs(&self) -> impl Iterator<Item = LegId> + '_ {
        self.legs
            .iter()
            .filter(|(_, l)| matches!(l.role, Role::Colleague { .. }))
            .map(|(&id, _)| id)
    }

    pub(super) fn colleague_ringing(&mut self) {
        if let Some(c) = self.consult.as_ref().filter(|c| c.answered.is_none()) {
            let (talk, phone) = (c.talk_leg, c.by_phone());
            if phone {
                self.command(talk, LegCommand::Ring);
            } else {
                self.command(talk, LegCommand::Notify { status: 180 });
            }
        }
    }

    /// A contact of the colleague answered: the other contacts stop, the two agents talk.
    pub(super) fn colleague_answered(&mut self, leg: LegId) {
        let Some(c) = self.consult.as_mut().filter(|c| c.answered.is_none()) else {
            self.command(leg, LegCommand::Hangup);
            return;
        };
        c.answered = Some(leg);
        c.ring_until = None;
        let (talk, to, phone) = (c.talk_leg, c.to.clone(), c.by_phone());
        let others: Vec<LegId> = self.colleague_legs().filter(|&l| l != leg).collect();
        for l in others {
            self.command(l, LegCommand::Hangup);
        }
        info!(%to, "colleague answered the consultation");
        self.emit(EventKind::ConsultAnswered { to });
        if phone {
            if let Some(l) = self.legs.get_mut(&talk) {
                l.phase = Phase::Up;
            }
            self.command(talk, LegCommand::Answer);
        } else {
            self.command(talk, LegCommand::Notify { status: 200 });
        }
        self.media(MediaCommand::Stop { leg: talk });
        self.media(MediaCommand::Bridge { a: talk, b: leg });
    }

    /// A colleague's leg failed or ended.
    pub(super) fn colleague_gone(&mut self, leg: LegId, failed: Option<u16>) {
        let Some(c) = self.consult.as_ref() else {
            return;
        };
        if c.answered == Some(leg) {
            info!(to = %c.to, "colleague left the consultation");
            self.consult_over("hung-up", 0);
        } else if c.answered.is_none() && self.colleague_legs().next().is_none() {
            let status = failed.unwrap_or(480);
            info!(to = %c.to, status, "consultation failed");
            self.consult_over(&format!("failed:{status}"), status);
        }
    }

    /// The colleague did not answer within the ring timeout: the consultation fails (408).
    pub(super) fn consult_timeout(&mut self) {
        let due = self
            .consult
            .as_ref()
            .and_then(|c| c.ring_until)
            .is_some_and(|t| t <= self.now.mono);
        if due {
            info!("the colleague did not answer the consultation in time");
            self.consult_over("failed:408", 408);
        }
    }

    /// The agent's phone hung up its consultation call (or cancelled it while it rang), or the
    /// desktop's cancel button.
    pub(super) fn consult_cancelled(&mut self, leg: LegId) {
        if self
            .consult
            .as_ref()
            .is_some_and(|c| c.talk_leg == leg || c.agent_leg == leg)
        {
            info!("consultation cancelled by the agent");
            self.consult_over("cancelled", 0);
        }
    }

    /// The consultation is over without a transfer: the colleague is let go, and the caller
    /// is the agent's again (a desktop takes them off hold; a phone resumes them itself).
    /// `status`: what the agent's phone is told if its call was never answered.
    fn consult_over(&mut self, result: &str, status: u16) {
        let Some(c) = self.consult.take() else {
            return;
        };
        self.emit(EventKind::ConsultEnded {
            to: c.to.clone(),
            result: result.to_string(),
        });
        if c.granted && self.cfg.acd {
            self.acd_input(acd::Input::ConsultEnded {
                call: self.acd_id,
                agent: c.to.clone(),
            });
        }
        let legs: Vec<LegId> = self.colleague_legs().collect();
        for l in legs {
            self.command(l, LegCommand::Hangup);
        }
        if c.by_phone() {
            let talk_up = self.legs.get(&c.talk_leg).map(|l| l.phase);
            match talk_up {
                Some(Phase::Up) => self.command(c.talk_leg, LegCommand::Hangup),
                Some(Phase::Early | Phase::Ringing) => {
                    let status = if status == 0 { 487 } else { status };
                    let cmd = LegCommand::Reject {
                        status,
                        headers: vec![],
                    };
                    self.command(c.talk_leg, cmd);
                }
                _ => {}
            }
        } else if self
            .legs
            .get(&c.agent_leg)
            .is_some_and(|l| l.phase == Phase::Up)
        {
            self.media(MediaCommand::Unbridge { leg: c.agent_leg });
            if result != "cancelled" {
                // The page learns the caller is back (487: the colleague left).
                let status = if status == 0 { 487 } else { status };
                self.command(c.agent_leg, LegCommand::Notify { status });
            }
            self.agent_hold(c.agent_leg, false);
        }
    }

    /// The agent hands the caller to the colleague they consulted. `leg`: where the request
    /// came from; `replaces`: it is a phone's REFER with Replaces, naming `other` (None: no
    /// leg of this call); otherwise the desktop's button.
    pub(super) fn consult_complete(&mut self, leg: LegId, other: Option<LegId>, replaces: bool) {
        let Some(c) = self.consult.clone() else {
            return self.command(leg, LegCommand::Notify { status: 481 });
        };
        let pair = if replaces {
            other.is_some_and(|o| {
                let p = [leg, o];
                p == [c.agent_leg, c.talk_leg] || p == [c.talk_leg, c.agent_leg]
            })
        } else {
            leg == c.agent_leg && !c.by_phone()
        };
        if !pair {
            warn!(leg, ?other, "transfer names no consultation of this call");
            return self.command(leg, LegCommand::Notify { status: 481 });
        }
        let Some(colleague_leg) = c.answered else {
            // The colleague has not answered yet: talk first (a blind transfer is the other
            // button).
            return self.command(leg, LegCommand::Notify { status: 491 });
        };
        self.consult = None;
        let queue = self
            .queued
            .as_ref()
            .map(|q| q.node.queue.clone())
            .unwrap_or_default();
        info!(agent = %c.agent, to = %c.to, "attended transfer: the colleague has the caller");
        self.emit(EventKind::ConsultEnded {
            to: c.to.clone(),
            result: "transferred".into(),
        });
        self.emit(EventKind::AgentTransfer {
            agent: c.agent.clone(),
            to: format!("agent:{}", c.to),
        });
        if self.cfg.acd {
            self.acd_input(acd::Input::ConsultCompleted {
                call: self.acd_id,
                agent: c.to.clone(),
            });
        }
        // The colleague's leg is the call's agent leg from now on.
        if let Some(l) = self.legs.get_mut(&colleague_leg) {
            l.role = Role::Agent {
                agent: c.to.clone(),
                queue: queue.clone(),
            };
        }
        self.media(MediaCommand::Unbridge { leg: colleague_leg });
        self.held_by = None;
        self.bridge(CALLER, colleague_leg);
        self.emit(EventKind::AgentAnswered {
            queue,
            agent: c.to.clone(),
        });
        self.command(leg, LegCommand::Notify { status: 200 });
        self.release_agent(c.agent_leg, &c.agent);
        if c.by_phone() {
            self.command(c.talk_leg, LegCommand::Hangup);
        }
    }

    /// The caller left (or the call ends) during a consultation: the colleague is let go.
    pub(super) fn consult_abandon(&mut self) {
        if let Some(c) = self.consult.take() {
            self.emit(EventKind::ConsultEnded {
                to: c.to.clone(),
                result: "caller-left".into(),
            });
            if c.granted && self.cfg.acd {
                self.acd_input(acd::Input::ConsultEnded {
                    call: self.acd_id,
                    agent: c.to,
                });
            }
        }
    }
}
