//! A callback's turn: the ACD chose an agent for a caller who asked to be called back (they
//! kept their place in line). The agent is rung first, on all their contacts; when the agent
//! answers, the citizen is called through the outbound route and the two are bridged. A
//! callback is a call of its own in the log, pointing at the original call.

use std::sync::Arc;

use tracing::info;

use super::legs::failure;
use super::types::OfferContext;
use super::{
    AcdDecision, AcdRequest, Call, CallConfig, Contact, Dial, Leg, LegEnd, LegId, Originate, Phase,
    Role, TRANSFER_MUSIC,
};
use crate::acd::{self, OfferFailure};
use crate::event::EventKind;
use crate::ivr::Now;
use crate::media::prompt::Lang;

/// A callback to dial.
#[derive(Debug, Clone)]
pub struct CallbackSetup {
    /// This callback's own id in the log.
    pub uid: String,
    /// The ACD's id of the waiting entry (the original call's).
    pub acd_id: acd::CallId,
    pub agent: String,
    pub number: String,
    /// The log id of the call that asked for it.
    pub original: String,
    pub queue: String,
    pub lang: Lang,
    pub plan_version: String,
}

pub(super) struct Callback {
    pub agent: String,
    pub queue: String,
    pub number: String,
    pub lang: Lang,
    /// The reference number the caller heard when they booked it.
    pub tracking: String,
    /// The agent's leg that answered.
    pub agent_leg: Option<LegId>,
    pub citizen: Option<LegId>,
}

impl Call {
    /// Dial a callback: ask for the agent's contacts, then ring them.
    pub fn callback(cfg: Arc<CallConfig>, setup: CallbackSetup, now: Now) -> Call {
        let mut call = Call::new(cfg, setup.uid.clone(), setup.acd_id, now);
        call.caller = setup.number.clone();
        call.caller_display = Some("Rappel 311".into());
        call.callback = Some(Callback {
            agent: setup.agent.clone(),
            queue: setup.queue.clone(),
            number: setup.number.clone(),
            lang: setup.lang,
            tracking: super::tracking::number(&setup.original),
            agent_leg: None,
            citizen: None,
        });
        call.acd(AcdRequest::Route(setup.acd_id));
        call.emit(EventKind::CallStarted {
            sip_call_id: String::new(),
            from: format!("callback:{}", setup.original),
            to: setup.number,
            transport: "udp".into(),
            plan_version: setup.plan_version,
        });
        call.emit(EventKind::Offered {
            queue: setup.queue,
            agent: setup.agent.clone(),
        });
        call.out
            .push_back(super::Output::FindContacts { agent: setup.agent });
        call
    }

    pub(super) fn callback_contacts(&mut self, agent: &str, contacts: Vec<Contact>) {
        let Some(cb) = self.callback.as_ref() else {
            return;
        };
        if cb.agent != agent || cb.agent_leg.is_some() {
            return;
        }
        let (queue, number) = (cb.queue.clone(), cb.number.clone());
        let tracking = cb.tracking.clone();
        let headers = vec![(
            "X-Centrale-Context".into(),
            format!("callback={number}; queue={queue}"),
        )];
        let context = OfferContext {
            call: self.uid.clone(),
            caller: number.clone(),
            caller_name: None,
            language: cb.lang.to_string(),
            queue: queue.clone(),
            callback: Some(format!("{number} (réf. {tracking})")),
            ..OfferContext::default()
        };
        let from = (number, Some("Rappel 311".into()));
        if self.ring_agent(agent, &queue, contacts, from, headers, Some(context)) == 0 {
            self.acd_input(acd::Input::OfferFailed {
                call: self.acd_id,
                agent: agent.to_string(),
                reason: OfferFailure::Unreachable,
            });
            self.end_callback("callback:agent-unreachable", "system", "480");
        }
    }

    pub(super) fn callback_decision(&mut self, d: AcdDecision) {
        if let AcdDecision::CancelOffer { reason, .. } = d {
            let Some(cb) = self.callback.as_ref() else {
                return;
            };
            if cb.agent_leg.is_none() {
                let (queue, agent) = (cb.queue.clone(), cb.agent.clone());
                self.emit(EventKind::RingNoAnswer { queue, agent });
                self.end_callback("callback:agent-no-answer", "system", reason);
            }
        }
    }

    /// The agent answered: now call the citizen; the agent hears music meanwhile.
    pub(super) fn callback_agent_answered(&mut self, leg: LegId) {
        let Some(cb) = self.callback.as_mut() else {
            return;
        };
        cb.agent_leg = Some(leg);
        let (agent, queue, number) = (cb.agent.clone(), cb.queue.clone(), cb.number.clone());
        self.acd_input(acd::Input::Answered {
            call: self.acd_id,
            agent: agent.clone(),
        });
        self.emit(EventKind::AgentAnswered { queue, agent });
        info!("agent answered the callback: calling the citizen");
        let uri = self.cfg.outbound.replace("{number}", &number);
        let req = Originate {
            dial: Dial::Uri(uri),
            to: None,
            from_user: "311".into(),
            from_display: Some("Ville 311".into()),
            headers: vec![("X-Centrale-Call".into(), self.uid.clone())],
            context: None,
            agent: None,
        };
        let citizen = self.new_leg(Role::Citizen, req);
        if let Some(cb) = self.callback.as_mut() {
            cb.citizen = Some(citizen);
        }
        self.say(leg, &["hold_music"], TRANSFER_MUSIC, true);
    }

    pub(super) fn callback_citizen_answered(&mut self, leg: LegId) {
        let Some(agent_leg) = self.callback.as_ref().and_then(|c| c.agent_leg) else {
            return;
        };
        self.bridge(agent_leg, leg);
        self.emit(EventKind::TransferAnswered {
            target: "callback".into(),
        });
    }

    pub(super) fn callback_leg_gone(
        &mut self,
        l: &Leg,
        was_bridged: bool,
        failed: Option<u16>,
        end: Option<LegEnd>,
    ) {
        let Some(cb) = self.callback.as_ref() else {
            return;
        };
        let answered = cb.agent_leg.is_some();
        match &l.role {
            Role::Agent { agent, .. } => {
                if answered && l.phase == Phase::Up {
                    let side = if end == Some(LegEnd::Bye) {
                        "agent"
                    } else {
                        "system"
                    };
                    self.end_callback("callback:completed", side, "bye");
                } else if !answered && !self.rings(agent) {
                    let status = failed.unwrap_or(487);
                    self.acd_input(acd::Input::OfferFailed {
                        call: self.acd_id,
                        agent: agent.clone(),
                        reason: failure(status),
                    });
                    self.end_callback("callback:agent-no-answer", "system", "offer-failed");
                }
            }
            Role::Citizen => {
                if was_bridged {
                    let side = if end == Some(LegEnd::Bye) {
                        "caller"
                    } else {
                        "system"
                    };
                    self.end_callback("callback:completed", side, "bye");
                } else {
                    let status = failed.unwrap_or(500);
                    self.emit(EventKind::TransferFailed {
                        target: "callback".into(),
                        status,
                    });
                    self.end_callback("callback:no-answer", "system", "citizen-no-answer");
                }
            }
            // Callbacks have no consultations (no queued caller to consult about).
            Role::Caller
            | Role::Target { .. }
            | Role::Consulting { .. }
            | Role::Colleague { .. } => {}
        }
    }

    fn end_callback(&mut self, outcome: &str, side: &'static str, cause: &str) {
        self.outcome = Some(outcome.to_string());
        self.side = side;
        self.cause = cause.to_string();
        self.finish();
    }

    /// The callback is over: the agent who took it wraps up; the ACD forgets the entry.
    pub(super) fn callback_teardown(&mut self) {
        let Some(cb) = self.callback.as_ref() else {
            return;
        };
        let agent = cb.agent.clone();
        if cb.agent_leg.is_some() {
            self.acd(AcdRequest::WrapupLog {
                agent: agent.clone(),
                uid: self.uid.clone(),
            });
            self.acd_input(acd::Input::CallEnded {
                call: self.acd_id,
                agent,
            });
        }
        self.acd(AcdRequest::Forget(self.acd_id));
    }
}
