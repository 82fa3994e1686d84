//! A call's SIP leg as the call core sees it: the sans-IO UAS (the caller) or UAC (an agent's
//! phone, a transfer target, a citizen called back) plus the leg's media. SIP messages routed
//! to the leg go in; what the leg wants sent goes to the SIP driver; what happened becomes a
//! `LegEvent` for the call core. Negotiated media parameters go straight to the leg's media.

use std::time::Instant;

use super::ctx::Ctx;
use super::messages::{SipCmd, ToCall};
use crate::call::{LegEnd, LegEvent};
use crate::media::engine::{MediaLeg, MediaParams};
use crate::sip::leg::{EndCause, LegOutput};
use crate::sip::sdp::Negotiated;
use crate::sip::uac::{OutboundLeg, UacState};
use crate::sip::uas::{InboundLeg, LegState};

pub enum SipLeg {
    In(InboundLeg),
    Out(OutboundLeg),
}

pub struct LegIo {
    pub sip: SipLeg,
    /// Dropped when the leg ends (its sockets close).
    pub media: Option<MediaLeg>,
    pub call_id: String,
    answered: bool,
    /// Whether we may send to the peer, as last negotiated (hold detection).
    sending: Option<bool>,
    ended: bool,
    /// The Call-ID a REFER with Replaces named, until the call driver maps it to a leg.
    pub replaces: Option<String>,
}

pub fn params(n: &Negotiated) -> MediaParams {
    MediaParams {
        law: n.law,
        payload_type: n.payload_type,
        dtmf_pt: n.dtmf_pt,
        remote_rtp: n.remote_rtp,
        remote_rtcp: n.remote_rtcp,
        send: n.may_send(),
        srtp: n.srtp.as_ref().map(|k| {
            let key = |master| crate::media::srtp::SrtpKey {
                suite: k.suite,
                master,
            };
            (key(k.local), key(k.remote))
        }),
    }
}

impl LegIo {
    pub fn new(sip: SipLeg, media: MediaLeg) -> LegIo {
        let call_id = match &sip {
            SipLeg::In(l) => l.call_id().to_string(),
            SipLeg::Out(l) => l.call_id().to_string(),
        };
        LegIo {
            sip,
            media: Some(media),
            call_id,
            answered: false,
            sending: None,
            ended: false,
            replaces: None,
        }
    }

    pub fn is_ended(&self) -> bool {
        self.ended
    }

    pub fn on_message(&mut self, m: ToCall, now: Instant) {
        match (&mut self.sip, m) {
            (SipLeg::In(l), ToCall::Request { tx, req, .. }) => l.on_request(tx, &req, now),
            (SipLeg::In(l), ToCall::Ack { req }) => l.on_ack(&req, now),
            (SipLeg::In(l), ToCall::Cancelled { .. }) => l.on_cancelled(now),
            (SipLeg::In(l), ToCall::Response { resp, .. }) => l.on_response(&resp, now),
            (SipLeg::In(l), ToCall::TimedOut { method, server, .. }) => {
                l.on_tx_timeout(method, server)
            }
            (SipLeg::Out(l), ToCall::Request { tx, req, .. }) => l.on_request(tx, &req, now),
            (SipLeg::Out(l), ToCall::Ack { req }) => l.on_ack(&req),
            (SipLeg::Out(l), ToCall::Response { resp, flow, .. }) => {
                l.on_response(&resp, flow, now)
            }
            (SipLeg::Out(l), ToCall::TimedOut { method, server, .. }) => {
                l.on_tx_timeout(method, server)
            }
            (SipLeg::Out(_), ToCall::Cancelled { .. })
            | (_, ToCall::Consult { .. })
            | (_, ToCall::Contacts { .. })
            | (_, ToCall::Desk { .. }) => {}
        }
    }

    pub fn deadline(&self) -> Option<Instant> {
        match &self.sip {
            SipLeg::In(l) => l.deadline(),
            SipLeg::Out(l) => l.deadline(),
        }
    }

    pub fn on_timer(&mut self, now: Instant) {
        match &mut self.sip {
            SipLeg::In(l) => l.on_timer(now),
            SipLeg::Out(l) => l.on_timer(now),
        }
    }

    /// End the leg however far it got (BYE, CANCEL, or a final error before answering).
    pub fn hangup(&mut self, now: Instant) {
        match &mut self.sip {
            SipLeg::In(l) => l.hangup(now),
            SipLeg::Out(l) => {
                if l.state() != UacState::Ended {
                    l.cancel();
                }
            }
        }
    }

    pub fn answer(&mut self, now: Instant) {
        if let SipLeg::In(l) = &mut self.sip {
            l.answer(now);
        }
    }

    pub fn ring(&mut self, now: Instant) {
        if let SipLeg::In(l) = &mut self.sip {
            l.ringing(now);
        }
    }

    /// How a transfer this leg asked for (REFER) is going: a NOTIFY with a sipfrag.
    pub fn refer_progress(&mut self, status: u16, now: Instant) {
        match &mut self.sip {
            SipLeg::In(l) => l.notify_refer(status, now),
            SipLeg::Out(l) => l.notify_refer(status, now),
        }
    }

    pub fn reject(&mut self, status: u16, headers: &[(&str, String)], now: Instant) {
        if let SipLeg::In(l) = &mut self.sip {
            if l.state() == LegState::Early {
                l.reject(status, headers, now);
            }
        }
    }

    /// Send what the leg wants sent; push what happened for the call core.
    pub fn drain(&mut self, ctx: &Ctx, events: &mut Vec<LegEvent>) -> bool {
        let mut moved = false;
        loop {
            let out = match &mut self.sip {
                SipLeg::In(l) => l.poll(),
                SipLeg::Out(l) => l.poll(),
            };
            let Some(out) = out else {
                return moved;
            };
            moved = true;
            match out {
                LegOutput::Media(n) => {
                    if let Some(m) = &self.media {
                        m.apply(params(&n));
                    }
                    let now_sending = n.may_send();
                    if let Some(was) = self.sending.replace(now_sending) {
                        if was != now_sending {
                            events.push(LegEvent::Held(!now_sending));
                        }
                    }
                }
                LegOutput::Dtmf(d) => events.push(LegEvent::Digit {
                    digit: d,
                    source: "info",
                }),
                LegOutput::Refer(user) => {
                    events.push(LegEvent::Transfer(crate::call::TransferTo::Named(user)))
                }
                LegOutput::ReferReplaces(call_id) => {
                    self.replaces = Some(call_id);
                    events.push(LegEvent::ConsultComplete {
                        other: None,
                        replaces: true,
                    });
                }
                LegOutput::Ringing => events.push(LegEvent::Ringing),
                LegOutput::Answered => {
                    self.answered = true;
                    events.push(LegEvent::Answered);
                }
                LegOutput::Ended(cause) => {
                    self.ended = true;
                    self.media = None;
                    events.push(match cause {
                        EndCause::Failed(status) => LegEvent::Failed { status },
                        EndCause::RemoteBye => LegEvent::Ended(LegEnd::Bye),
                        EndCause::Cancelled => LegEvent::Ended(LegEnd::Cancel),
                        EndCause::LocalBye => LegEvent::Ended(LegEnd::Local),
                        EndCause::Rejected(s) => LegEvent::Ended(LegEnd::Rejected(s)),
                        EndCause::NoAck => LegEvent::Ended(LegEnd::NoAck),
                        EndCause::SessionExpired => LegEvent::Ended(LegEnd::SessionExpired),
                        EndCause::BadAck => LegEvent::Ended(LegEnd::BadAck),
                    });
                }
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
                        call_id: self.call_id.clone(),
                        method,
                        branch,
                        bytes,
                        dest,
                        next_hop,
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
            }
        }
    }
}
