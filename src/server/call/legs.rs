//! Legs a call originates (B2BUA B-legs): a transfer to a dial-plan target, or an offer to an
//! agent — every registered phone of the agent rings; the first to answer is bridged, the
//! others are cancelled. Bridging hands both streams to the relay (SSRC/sequence/timestamps
//! rewritten, G.711 laws transcoded); the end of either side ends both.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::Call;
use crate::acd::{Input, OfferFailure};
use crate::dialplan::model::Target;
use crate::event::EventKind;
use crate::media::session::MediaSession;
use crate::server::acd_task::AcdCmd;
use crate::server::sip_driver::{SipCmd, ToCall};
use crate::server::Ctx;
use crate::sip::dialog::uri_socket_addr;
use crate::sip::flow::{Flow, TransportKind};
use crate::sip::leg::{EndCause, LegConfig, LegOutput};
use crate::sip::uac::{Originate, OutboundLeg, UacState};

/// Why we called this leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// A dial-plan exit (911, 811, a neighbouring town, a partner).
    Transfer { target: String },
    /// An agent chosen by the ACD.
    Agent { agent: String, queue: String },
}

pub struct BLeg {
    pub leg: OutboundLeg,
    pub media: MediaSession,
    pub purpose: Purpose,
}

/// Where to send an INVITE to a URI we may not need DNS for.
pub fn dest_for(ctx: &Ctx, uri: &str) -> Option<Flow> {
    let (remote, transport) = uri_socket_addr(uri)?;
    let local = ctx.transports.local_addr(transport)?;
    Some(Flow {
        transport,
        local,
        remote,
        conn: 0,
    })
}

impl BLeg {
    /// Open media and send the INVITE; the driver routes the new Call-ID to `me`.
    pub fn originate(
        ctx: &Arc<Ctx>,
        me: &mpsc::Sender<ToCall>,
        mut req: Originate,
        purpose: Purpose,
    ) -> std::io::Result<BLeg> {
        let media = MediaSession::open(&ctx.ports, &ctx.pacer, ctx.cfg.media.symmetric_rtp)?;
        if req.dest.is_none() {
            req.dest = dest_for(ctx, &req.request_uri);
        }
        let transport = req.dest.map(|f| f.transport).unwrap_or(TransportKind::Udp);
        let local = ctx
            .transports
            .local_addr(transport)
            .ok_or_else(|| std::io::Error::other("no SIP socket for the B-leg"))?;
        let flow = req.dest.unwrap_or(Flow {
            transport,
            local,
            remote: local,
            conn: 0,
        });
        let sent_by = ctx.sent_by(flow);
        let cfg = LegConfig {
            sent_by: sent_by.clone(),
            media_ip: ctx.media_ip(),
            media_port: media.local_port(),
            timers: ctx.timers,
        };
        let host = sent_by
            .rsplit_once(':')
            .map(|(h, _)| h.to_string())
            .unwrap_or(sent_by);
        let leg = OutboundLeg::invite(req, cfg, &host);
        let _ = ctx.sip.send(SipCmd::Bind {
            call_id: leg.call_id().to_string(),
            to: me.clone(),
        });
        Ok(BLeg {
            leg,
            media,
            purpose,
        })
    }

    pub fn call_id(&self) -> &str {
        self.leg.call_id()
    }
}

/// Put what a leg wants sent on its way (responses, requests in transactions, stateless ACKs);
/// other outputs are the caller's business.
pub(crate) fn send_leg_output(ctx: &Ctx, call_id: &str, out: LegOutput) {
    match out {
        LegOutput::Respond { tx, status, bytes } => {
            let _ = ctx.sip.send(SipCmd::Respond { tx, status, bytes });
        }
        LegOutput::Request {
            method,
            branch,
            bytes,
            dest,
            next_hop,
        } => {
            let _ = ctx.sip.send(SipCmd::Request {
                call_id: call_id.to_string(),
                method,
                branch,
                bytes,
                dest,
                next_hop,
                created: None,
            });
        }
        LegOutput::Stateless {
            bytes,
            dest,
            next_hop,
        } => {
            let _ = ctx.sip.send(SipCmd::Stateless {
                bytes,
                dest,
                next_hop,
            });
        }
        _ => {}
    }
}

/// How an agent's phone refused, for the ACD.
pub(crate) fn failure(status: u16) -> OfferFailure {
    match status {
        486 | 600 => OfferFailure::Busy,
        603 => OfferFailure::Declined,
        408 | 480 | 487 => OfferFailure::NoAnswer,
        _ => OfferFailure::Unreachable,
    }
}

impl Call {
    /// Drain every B-leg's outputs; true if anything moved.
    pub(super) fn pump_legs(&mut self) -> bool {
        let mut progressed = false;
        let mut i = 0;
        while i < self.legs.len() {
            let Some(out) = self.legs[i].leg.poll() else {
                i += 1;
                continue;
            };
            progressed = true;
            match out {
                LegOutput::Ringing => self.on_leg_ringing(i),
                LegOutput::Answered => self.on_leg_answered(i),
                LegOutput::Media(n) => self.legs[i].media.apply(super::params(&n)),
                LegOutput::Dtmf(_) => {}
                LegOutput::Ended(cause) => {
                    self.on_bleg_ended(i, cause);
                    // The leg was removed: do not advance.
                }
                other => {
                    let id = self.legs[i].call_id().to_string();
                    self.send_sip(&id, other);
                }
            }
        }
        progressed
    }

    fn on_leg_ringing(&mut self, i: usize) {
        debug!(leg = self.legs[i].call_id(), "B-leg ringing");
        if let Purpose::Agent { agent, .. } = &self.legs[i].purpose {
            if let Some(q) = &self.queued {
                self.acd(Input::Ringing {
                    call: q.acd_id,
                    agent: agent.clone(),
                });
            }
        }
    }

    fn on_leg_answered(&mut self, i: usize) {
        // The first phone to answer wins; the others stop ringing.
        let winner = self.legs.remove(i);
        for mut other in std::mem::take(&mut self.legs) {
            other.leg.cancel();
            self.retire(&mut other);
        }
        self.legs.push(winner);
        self.bridged = true;
        self.media.stop();
        self.media.bridge_start();
        self.legs[0].media.bridge_start();
        match self.legs[0].purpose.clone() {
            Purpose::Transfer { target } => {
                info!(%target, "transfer answered: bridged");
                self.log.emit(EventKind::TransferAnswered {
                    target: target.clone(),
                });
                self.outcome = Some(format!("transfer:{target}"));
            }
            Purpose::Agent { agent, queue } => {
                info!(%agent, %queue, "agent answered: bridged");
                self.agent_answered(&agent, &queue);
            }
        }
    }

    /// Flush what a finished or cancelled leg still has to send, and stop routing to it.
    fn retire(&mut self, b: &mut BLeg) {
        while let Some(out) = b.leg.poll() {
            self.send_sip(b.call_id(), out);
        }
        b.media.bridge_stop();
        // Keep the Call-ID bound while a CANCEL/BYE may still draw answers; the driver drops
        // the route when this call ends.
    }

    fn on_bleg_ended(&mut self, i: usize, cause: EndCause) {
        let mut b = self.legs.remove(i);
        self.retire(&mut b);
        let was_bridged = self.bridged && i == 0;
        if was_bridged {
            self.bridged = false;
            self.media.bridge_stop();
        }
        match b.purpose.clone() {
            Purpose::Transfer { target } => {
                if was_bridged {
                    if cause == EndCause::RemoteBye {
                        info!(%target, "transfer target hung up");
                        self.side = "transfer";
                    }
                    self.leg.hangup(Instant::now());
                } else {
                    let status = match cause {
                        EndCause::Failed(s) => s,
                        _ => 500,
                    };
                    info!(%target, status, "transfer failed");
                    self.log.emit(EventKind::TransferFailed { target, status });
                    self.media.stop();
                    let now = self.now();
                    if let Some(ivr) = self.ivr.as_mut() {
                        ivr.on_transfer_failed(now);
                    }
                }
            }
            Purpose::Agent { agent, .. } => {
                if was_bridged {
                    if cause == EndCause::RemoteBye {
                        info!(%agent, "agent hung up");
                        self.side = "agent";
                    }
                    self.agent_call_ended(&agent);
                    self.leg.hangup(Instant::now());
                } else if !self.legs.iter().any(|l| l.purpose == b.purpose) {
                    // The last phone of this offer gave up: tell the ACD why.
                    let status = match cause {
                        EndCause::Failed(s) => s,
                        _ => 487,
                    };
                    self.offer_failed(&agent, failure(status), status);
                }
            }
        }
    }

    /// The caller is gone: stop every leg we started.
    pub(super) fn end_legs(&mut self) {
        let bridged_agent = match self.legs.first().map(|b| &b.purpose) {
            Some(Purpose::Agent { agent, .. }) if self.bridged => Some(agent.clone()),
            _ => None,
        };
        for mut b in std::mem::take(&mut self.legs) {
            if b.leg.state() != UacState::Ended {
                b.leg.cancel();
            }
            self.retire(&mut b);
        }
        if let Some(agent) = bridged_agent {
            self.agent_call_ended(&agent);
        }
        self.bridged = false;
        self.media.bridge_stop();
    }

    /// A dial-plan exit: the caller hears music while the target rings.
    pub(super) fn start_transfer(&mut self, target: Target) {
        // The emergency exit falls back to the server's own 911 route if the plan has none.
        let uri = if target.uri.is_empty() {
            self.ctx.cfg.emergency.uri.clone()
        } else {
            target.uri.clone()
        };
        self.log.emit(EventKind::TransferStarted {
            target: target.name.clone(),
            uri: uri.clone(),
        });
        let req = Originate {
            request_uri: uri.clone(),
            to: uri,
            from_user: self.caller.clone(),
            from_display: self.caller_display.clone(),
            headers: vec![("X-Centrale-Call".into(), self.log.call.clone())],
            dest: None,
            symmetric: false,
        };
        let purpose = Purpose::Transfer {
            target: target.name.clone(),
        };
        match BLeg::originate(&self.ctx, &self.me, req, purpose) {
            Ok(b) => {
                self.say(&["hold_music".to_string()], u64::MAX, true);
                self.legs.push(b);
            }
            Err(e) => {
                warn!(error = %e, target = %target.name, "cannot place the transfer");
                self.log.emit(EventKind::TransferFailed {
                    target: target.name.clone(),
                    status: 503,
                });
                let now = self.now();
                if let Some(ivr) = self.ivr.as_mut() {
                    ivr.on_transfer_failed(now);
                }
            }
        }
    }

    /// Ring every registered phone of `agent` with the call's context in a header.
    pub(super) fn ring_agent(&mut self, agent: &str, queue: &str, context: String) -> usize {
        let contacts = self
            .ctx
            .registrar
            .as_ref()
            .map(|r| r.contacts(agent))
            .unwrap_or_default();
        let mut placed = 0;
        for c in contacts.into_iter().take(4) {
            let req = Originate {
                request_uri: c.uri.clone(),
                to: format!("sip:{agent}@{}", self.ctx.cfg.sip.realm),
                from_user: self.caller.clone(),
                from_display: self.caller_display.clone(),
                headers: vec![
                    ("X-Centrale-Context".into(), context.clone()),
                    ("X-Centrale-Call".into(), self.log.call.clone()),
                ],
                // Down the flow the phone registered from (NAT-safe), answering there too.
                dest: Some(c.flow),
                symmetric: true,
            };
            let purpose = Purpose::Agent {
                agent: agent.to_string(),
                queue: queue.to_string(),
            };
            match BLeg::originate(&self.ctx, &self.me, req, purpose) {
                Ok(b) => {
                    self.legs.push(b);
                    placed += 1;
                }
                Err(e) => warn!(error = %e, %agent, "cannot ring the agent"),
            }
        }
        placed
    }

    /// Stop ringing an agent (ring timeout or the ACD changed its mind).
    pub(super) fn stop_ringing(&mut self, agent: &str) {
        let mut keep = Vec::new();
        for mut b in std::mem::take(&mut self.legs) {
            let mine = matches!(&b.purpose, Purpose::Agent { agent: a, .. } if a == agent);
            if mine && b.leg.state() != UacState::Confirmed {
                b.leg.cancel();
                self.retire(&mut b);
            } else {
                keep.push(b);
            }
        }
        self.legs = keep;
    }

    pub(super) fn acd(&self, input: Input) {
        if let Some(acd) = &self.ctx.acd {
            let _ = acd.send(AcdCmd::Input(input));
        }
    }
}
