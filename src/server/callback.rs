//! A callback's turn: the ACD chose an agent for a caller who asked to be called back (they
//! kept their place in line). We ring the agent first; when the agent answers, we call the
//! citizen through the outbound route (`[sip] outbound`, e.g. the PSTN gateway) and bridge the
//! two. The callback is a call of its own in the log, pointing at the original call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::{info, warn, Instrument};

use super::acd_task::{AcdCmd, ToQueued};
use super::call::legs::{BLeg, Purpose};
use super::sip_driver::{SipCmd, ToCall};
use super::Ctx;
use crate::acd::{CallId, Input, OfferFailure};
use crate::event::{new_call_uid, now_ms, CallLog, EventKind};
use crate::media::session::MediaInput;
use crate::sip::leg::{EndCause, LegOutput};
use crate::sip::uac::{Originate, UacState};

#[allow(clippy::too_many_arguments)]
pub fn spawn(
    ctx: Arc<Ctx>,
    call: CallId,
    agent: String,
    number: String,
    original: String,
    _next_seq: u32,
    queue: String,
    lang: String,
) {
    let span = tracing::info_span!("callback", %number, %agent);
    tokio::spawn(
        async move {
            run(ctx, call, agent, number, original, queue, lang).await;
        }
        .instrument(span),
    );
}

struct Callback {
    ctx: Arc<Ctx>,
    call: CallId,
    agent: String,
    queue: String,
    number: String,
    log: CallLog,
    me: mpsc::Sender<ToCall>,
    agent_legs: Vec<BLeg>,
    citizen: Option<BLeg>,
    answered_by_agent: bool,
    bridged: bool,
    done: Option<(String, &'static str)>,
}

async fn run(
    ctx: Arc<Ctx>,
    call: CallId,
    agent: String,
    number: String,
    original: String,
    queue: String,
    _lang: String,
) {
    let (me, mut rx) = mpsc::channel(64);
    let (to, mut acd_rx) = mpsc::unbounded_channel::<ToQueued>();
    if let Some(acd) = &ctx.acd {
        let _ = acd.send(AcdCmd::Route { call, to });
    }
    let uid = new_call_uid(now_ms());
    let mut log = CallLog::new(uid, ctx.events.clone());
    log.emit(EventKind::CallStarted {
        sip_call_id: String::new(),
        from: format!("callback:{original}"),
        to: number.clone(),
        transport: "udp".into(),
        plan_version: ctx
            .plans
            .current()
            .map(|p| p.version.clone())
            .unwrap_or_default(),
    });
    log.emit(EventKind::Offered {
        queue: queue.clone(),
        agent: agent.clone(),
    });
    let mut cb = Callback {
        ctx: ctx.clone(),
        call,
        agent,
        queue,
        number,
        log,
        me,
        agent_legs: Vec::new(),
        citizen: None,
        answered_by_agent: false,
        bridged: false,
        done: None,
    };
    cb.ring_agent();
    let deadline_max = Instant::now() + Duration::from_secs(ctx.cfg.limits.max_call_seconds);
    while cb.done.is_none() {
        cb.pump();
        if cb.done.is_some() {
            break;
        }
        let Callback {
            agent_legs,
            citizen,
            bridged,
            ..
        } = &mut cb;
        let agent_media = async {
            match agent_legs.first_mut().filter(|_| *bridged) {
                Some(b) => b.media.next().await,
                None => std::future::pending().await,
            }
        };
        let citizen_media = async {
            match citizen.as_mut().filter(|_| *bridged) {
                Some(b) => b.media.next().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            m = rx.recv() => match m {
                Some(m) => cb.on_sip(m),
                None => break,
            },
            m = acd_rx.recv() => if let Some(ToQueued::CancelOffer { reason, .. }) = m {
                if !cb.answered_by_agent {
                    cb.log.emit(EventKind::RingNoAnswer { queue: cb.queue.clone(), agent: cb.agent.clone() });
                    cb.finish("callback:agent-no-answer", "system", reason);
                }
            },
            input = agent_media => if let (MediaInput::Relay(p), Some(c)) = (input, cb.citizen.as_mut()) {
                c.media.send_relayed(&p);
            },
            input = citizen_media => if let (MediaInput::Relay(p), Some(a)) = (input, cb.agent_legs.first_mut()) {
                a.media.send_relayed(&p);
            },
            _ = tokio::time::sleep_until(deadline_max.into()) => cb.finish("ended:max-duration", "system", "timeout"),
        }
    }
    cb.pump();
    cb.teardown();
    if let Some(acd) = &ctx.acd {
        let _ = acd.send(AcdCmd::Forget(cb.call));
    }
}

impl Callback {
    fn ring_agent(&mut self) {
        let contacts = self
            .ctx
            .registrar
            .as_ref()
            .map(|r| r.contacts(&self.agent))
            .unwrap_or_default();
        for c in contacts.into_iter().take(4) {
            let req = Originate {
                request_uri: c.uri.clone(),
                to: format!("sip:{}@{}", self.agent, self.ctx.cfg.sip.realm),
                from_user: self.number.clone(),
                from_display: Some("Rappel 311".into()),
                headers: vec![(
                    "X-Centrale-Context".into(),
                    format!("callback={}; queue={}", self.number, self.queue),
                )],
                dest: Some(c.flow),
                symmetric: true,
            };
            let purpose = Purpose::Agent {
                agent: self.agent.clone(),
                queue: self.queue.clone(),
            };
            match BLeg::originate(&self.ctx, &self.me, req, purpose) {
                Ok(b) => self.agent_legs.push(b),
                Err(e) => warn!(error = %e, "cannot ring the agent for a callback"),
            }
        }
        if self.agent_legs.is_empty() {
            self.acd(Input::OfferFailed {
                call: self.call,
                agent: self.agent.clone(),
                reason: OfferFailure::Unreachable,
            });
            self.finish("callback:agent-unreachable", "system", "480");
        }
    }

    fn call_citizen(&mut self) {
        let uri = self.ctx.cfg.sip.outbound.replace("{number}", &self.number);
        let req = Originate {
            request_uri: uri.clone(),
            to: uri,
            from_user: "311".into(),
            from_display: Some("Ville 311".into()),
            headers: vec![("X-Centrale-Call".into(), self.log.call.clone())],
            dest: None,
            symmetric: false,
        };
        match BLeg::originate(
            &self.ctx,
            &self.me,
            req,
            Purpose::Transfer {
                target: "callback".into(),
            },
        ) {
            Ok(b) => {
                if let (Some(a), Some(m)) = (
                    self.agent_legs.first(),
                    self.ctx
                        .prompts
                        .get("hold_music", crate::media::prompt::Lang::Fr),
                ) {
                    a.media.play(vec![m], u64::MAX, true);
                }
                self.citizen = Some(b);
            }
            Err(e) => {
                warn!(error = %e, "cannot call the citizen back");
                self.finish("callback:failed", "system", "503");
            }
        }
    }

    fn acd(&self, input: Input) {
        if let Some(acd) = &self.ctx.acd {
            let _ = acd.send(AcdCmd::Input(input));
        }
    }

    fn on_sip(&mut self, m: ToCall) {
        let now = Instant::now();
        let call_id = match &m {
            ToCall::Request { req, .. } | ToCall::Ack { req } => req.ids.call_id.clone(),
            ToCall::Response { resp, .. } => resp.ids.call_id.clone(),
            ToCall::TimedOut { call_id, .. } => call_id.clone(),
            ToCall::Cancelled => return,
        };
        let leg = self
            .agent_legs
            .iter_mut()
            .chain(self.citizen.as_mut())
            .find(|b| b.call_id() == call_id);
        let Some(b) = leg else {
            return;
        };
        match m {
            ToCall::Request { tx, req, .. } => b.leg.on_request(tx, &req, now),
            ToCall::Ack { req } => b.leg.on_ack(&req),
            ToCall::Response { resp, flow, .. } => b.leg.on_response(&resp, flow, now),
            ToCall::TimedOut { method, server, .. } => b.leg.on_tx_timeout(method, server),
            ToCall::Cancelled => {}
        }
    }

    fn send(&self, call_id: &str, out: LegOutput) {
        super::call::legs::send_leg_output(&self.ctx, call_id, out);
    }

    fn pump(&mut self) {
        loop {
            let mut progressed = false;
            let mut i = 0;
            while i < self.agent_legs.len() {
                let Some(out) = self.agent_legs[i].leg.poll() else {
                    i += 1;
                    continue;
                };
                progressed = true;
                match out {
                    LegOutput::Answered => {
                        let winner = self.agent_legs.remove(i);
                        for mut other in std::mem::take(&mut self.agent_legs) {
                            other.leg.cancel();
                            while let Some(o) = other.leg.poll() {
                                self.send(other.call_id(), o);
                            }
                        }
                        self.agent_legs.push(winner);
                        self.answered_by_agent = true;
                        self.acd(Input::Answered {
                            call: self.call,
                            agent: self.agent.clone(),
                        });
                        self.log.emit(EventKind::AgentAnswered {
                            queue: self.queue.clone(),
                            agent: self.agent.clone(),
                        });
                        info!("agent answered the callback: calling the citizen");
                        self.call_citizen();
                        i = self.agent_legs.len();
                    }
                    LegOutput::Media(n) => {
                        self.agent_legs[i].media.apply(super::call::params(&n));
                    }
                    LegOutput::Ended(cause) => {
                        let b = self.agent_legs.remove(i);
                        if self.answered_by_agent {
                            let side = if cause == EndCause::RemoteBye {
                                "agent"
                            } else {
                                "system"
                            };
                            self.finish("callback:completed", side, "bye");
                        } else if self.agent_legs.is_empty() {
                            let status = match cause {
                                EndCause::Failed(s) => s,
                                _ => 487,
                            };
                            let reason = super::call::legs::failure(status);
                            self.acd(Input::OfferFailed {
                                call: self.call,
                                agent: self.agent.clone(),
                                reason,
                            });
                            self.finish("callback:agent-no-answer", "system", "offer-failed");
                        }
                        drop(b);
                    }
                    other => {
                        let id = self.agent_legs[i].call_id().to_string();
                        self.send(&id, other);
                    }
                }
            }
            while let Some(out) = self.citizen.as_mut().and_then(|c| c.leg.poll()) {
                progressed = true;
                match out {
                    LegOutput::Answered => {
                        self.bridged = true;
                        if let Some(a) = self.agent_legs.first_mut() {
                            a.media.stop();
                            a.media.bridge_start();
                        }
                        if let Some(c) = self.citizen.as_mut() {
                            c.media.bridge_start();
                        }
                        self.log.emit(EventKind::TransferAnswered {
                            target: "callback".into(),
                        });
                    }
                    LegOutput::Media(n) => {
                        if let Some(c) = self.citizen.as_mut() {
                            c.media.apply(super::call::params(&n));
                        }
                    }
                    LegOutput::Ended(cause) => {
                        if self.bridged {
                            let side = if cause == EndCause::RemoteBye {
                                "caller"
                            } else {
                                "system"
                            };
                            self.finish("callback:completed", side, "bye");
                        } else {
                            let status = match cause {
                                EndCause::Failed(s) => s,
                                _ => 500,
                            };
                            self.log.emit(EventKind::TransferFailed {
                                target: "callback".into(),
                                status,
                            });
                            self.finish("callback:no-answer", "system", "citizen-no-answer");
                        }
                    }
                    other => {
                        let id = self
                            .citizen
                            .as_ref()
                            .map(|c| c.call_id().to_string())
                            .unwrap_or_default();
                        self.send(&id, other);
                    }
                }
            }
            if !progressed {
                return;
            }
        }
    }

    fn finish(&mut self, outcome: &str, side: &'static str, cause: &str) {
        if self.done.is_none() {
            self.done = Some((outcome.to_string(), side));
            self.log.emit(EventKind::CallEnded {
                outcome: outcome.to_string(),
                side: side.to_string(),
                cause: cause.to_string(),
            });
            info!(outcome, "callback ended");
        }
    }

    fn teardown(&mut self) {
        let agent_connected = self.answered_by_agent;
        let mut legs: Vec<BLeg> = std::mem::take(&mut self.agent_legs);
        legs.extend(self.citizen.take());
        for mut b in legs {
            if b.leg.state() != UacState::Ended {
                b.leg.cancel();
            }
            b.media.bridge_stop();
            while let Some(o) = b.leg.poll() {
                self.send(b.call_id(), o);
            }
            let _ = self.ctx.sip.send(SipCmd::Unbind {
                call_id: b.call_id().to_string(),
            });
        }
        if agent_connected {
            if let Some(acd) = &self.ctx.acd {
                let _ = acd.send(AcdCmd::WrapupLog {
                    agent: self.agent.clone(),
                    uid: self.log.call.clone(),
                    next_seq: crate::event::WRAPUP_SEQ,
                });
            }
            self.acd(Input::CallEnded {
                call: self.call,
                agent: self.agent.clone(),
            });
        }
    }
}
