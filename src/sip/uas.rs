//! The caller's leg as seen by the UAS core: answer (early or late offer), reject, redirect,
//! CANCEL, and — once answered — the dialog's life (`leg::InDialog`): in-dialog requests, 2xx
//! retransmission until the ACK (a call nobody ACKs ends with BYE), our BYE.
//!
//! Sans-IO: methods take the event and `now`; `poll()` yields what to send and what happened.
//! The call task owns one of these and moves bytes for it.

use std::collections::VecDeque;
use std::time::Instant;

use super::builder;
use super::dialog::Dialog;
use super::endpoint::TxId;
use super::flow::Flow;
use super::leg::{contact, read_offer, InDialog};
pub use super::leg::{parse_dtmf_relay, EndCause, LegConfig, LegOutput, Refusal};
use super::message::{InRequest, InResponse, Method};
use super::random::Random;
use super::sdp::{self, Negotiated, Origin};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegState {
    /// INVITE received, no final response yet.
    Early,
    /// 2xx sent, waiting for the ACK.
    Answered,
    Confirmed,
    /// We sent BYE: the call is over for us.
    Ending,
    Ended,
}

#[derive(Debug)]
pub struct InboundLeg {
    state: LegState,
    invite_tx: TxId,
    invite: InRequest,
    flow: Flow,
    cfg: LegConfig,
    local_tag: String,
    /// The caller's offer (None: late offer, we offer in our 2xx).
    offer: Option<Negotiated>,
    session: Option<InDialog>,
    /// Hang up as soon as the ACK arrives (§15: no BYE before the ACK).
    hangup_after_ack: bool,
    rng: Random,
    out: VecDeque<LegOutput>,
}

/// A fresh SRTP master key and salt for one leg.
pub fn srtp_key(rng: &mut Random) -> [u8; crate::media::srtp::MASTER_LEN] {
    let mut key = [0u8; crate::media::srtp::MASTER_LEN];
    key.copy_from_slice(&rng.bytes32()[..crate::media::srtp::MASTER_LEN]);
    key
}

impl InboundLeg {
    /// `rng`: this leg's own randomness (its tag, SDP session, dialog branches).
    pub fn new(
        invite_tx: TxId,
        invite: InRequest,
        flow: Flow,
        cfg: LegConfig,
        mut rng: Random,
    ) -> Result<InboundLeg, Refusal> {
        // RFC 4028 §8.1: a session interval below ours, from a UAC that does timers, gets 422
        // with our Min-SE (it retries with a larger one).
        if let Some((secs, _)) = super::leg::session_expires(&invite) {
            if secs < cfg.min_se && super::leg::supports(&invite, "timer") {
                return Err(Refusal {
                    status: 422,
                    reason: format!("session interval {secs} s is below our minimum"),
                    headers: vec![("Min-SE", cfg.min_se.to_string())],
                });
            }
        }
        let offer = read_offer(&invite, flow.transport == super::flow::TransportKind::Tls)?;
        Ok(InboundLeg {
            state: LegState::Early,
            invite_tx,
            local_tag: rng.token(),
            rng,
            invite,
            flow,
            cfg,
            offer,
            session: None,
            hangup_after_ack: false,
            out: VecDeque::new(),
        })
    }

    pub fn state(&self) -> LegState {
        self.state
    }

    pub fn invite(&self) -> &InRequest {
        &self.invite
    }

    pub fn call_id(&self) -> &str {
        &self.invite.ids.call_id
    }

    pub fn local_tag(&self) -> &str {
        &self.local_tag
    }

    pub fn media(&self) -> Option<&Negotiated> {
        self.session.as_ref().and_then(|s| s.media.as_ref())
    }

    pub fn is_ended(&self) -> bool {
        self.state == LegState::Ended
    }

    pub fn poll(&mut self) -> Option<LegOutput> {
        self.out.pop_front()
    }

    /// 180 Ringing (optional; we usually answer at once).
    pub fn ringing(&mut self, _now: Instant) {
        if self.state != LegState::Early {
            return;
        }
        let bytes = builder::with_record_route(
            builder::response(&self.invite.req, 180, Some(&self.local_tag)),
            &self.invite.req,
        )
        .header("Contact", contact(&self.cfg.sent_by, self.flow.transport))
        .finish();
        self.out.push_back(LegOutput::Respond {
            tx: self.invite_tx,
            status: 180,
            bytes,
        });
    }

    /// Answer with 200 and our SDP (answer to their offer, or our offer when they made none).
    pub fn answer(&mut self, now: Instant) {
        if self.state != LegState::Early {
            return;
        }
        let dialog = match Dialog::uas(
            &self.invite,
            self.local_tag.clone(),
            self.flow,
            &mut self.rng,
        ) {
            Ok(d) => d,
            Err(e) => {
                self.reject(400, &[("Warning", format!("399 centrale \"{e}\""))], now);
                return;
            }
        };
        let mut origin = Origin::new(u64::from(self.rng.u32()));
        if self.flow.transport == super::flow::TransportKind::Tls {
            // Over TLS we key SRTP when the caller does (and offer it when we offer).
            origin.srtp_key = Some(srtp_key(&mut self.rng));
            origin.srtp_required = true;
        }
        if let Some(n) = self.offer.as_mut() {
            origin.complete(n);
        }
        let (sdp, answer_in_ack) = match &self.offer {
            Some(n) => {
                self.out.push_back(LegOutput::Media(n.clone()));
                let s = sdp::answer(&mut origin, n, self.cfg.media_ip, self.cfg.media_port);
                (s, false)
            }
            None => {
                let s = sdp::offer(
                    &mut origin,
                    self.cfg.media_ip,
                    self.cfg.media_port,
                    sdp::Direction::SendRecv,
                );
                (s, true)
            }
        };
        let mut session = InDialog::new(dialog, self.cfg.clone(), origin, self.offer.clone());
        session.send_ok(
            self.invite_tx,
            &self.invite,
            &sdp,
            answer_in_ack,
            now,
            &mut self.out,
        );
        self.session = Some(session);
        self.state = LegState::Answered;
    }

    /// Refuse or redirect the call before answering (`extra` adds e.g. Contact or Retry-After).
    pub fn reject(&mut self, status: u16, extra: &[(&str, String)], _now: Instant) {
        if self.state != LegState::Early {
            return;
        }
        let mut b = builder::response(&self.invite.req, status, Some(&self.local_tag));
        for (name, value) in extra {
            b.push_header(name, value);
        }
        self.out.push_back(LegOutput::Respond {
            tx: self.invite_tx,
            status,
            bytes: b.finish(),
        });
        self.end(EndCause::Rejected(status));
    }

    /// We want the call over: BYE when confirmed, 480 before answering, and after the ACK
    /// when our 2xx has not been acknowledged yet.
    /// Tell the peer how the transfer it asked for is going (NOTIFY with a sipfrag).
    pub fn notify_refer(&mut self, status: u16, _now: Instant) {
        if let Some(s) = self.session.as_mut() {
            s.notify_refer(status, &mut self.out);
        }
    }

    pub fn hangup(&mut self, now: Instant) {
        match self.state {
            LegState::Early => self.reject(480, &[], now),
            LegState::Answered => self.hangup_after_ack = true,
            LegState::Confirmed => self.send_bye(EndCause::LocalBye),
            LegState::Ending | LegState::Ended => {}
        }
    }

    /// Send BYE. The call is over for us from here: the cause is reported now, and the BYE's
    /// own transaction (retransmissions, the 200) lives on in the endpoint without us.
    fn send_bye(&mut self, cause: EndCause) {
        if let Some(s) = self.session.as_mut() {
            s.bye(&mut self.out);
        }
        self.state = LegState::Ending;
        self.out.push_back(LegOutput::Ended(cause));
    }

    pub fn on_cancelled(&mut self, _now: Instant) {
        if self.state == LegState::Early {
            let bytes = builder::response(&self.invite.req, 487, Some(&self.local_tag)).finish();
            self.out.push_back(LegOutput::Respond {
                tx: self.invite_tx,
                status: 487,
                bytes,
            });
            self.end(EndCause::Cancelled);
        }
    }

    pub fn on_ack(&mut self, ack: &InRequest, _now: Instant) {
        let Some(s) = self.session.as_mut() else {
            return;
        };
        if !s.on_ack(ack, &mut self.out) {
            // §13.2.1: an offer in our 2xx must be answered in the ACK.
            if self.state == LegState::Answered {
                self.state = LegState::Confirmed;
            }
            self.send_bye(EndCause::BadAck);
            return;
        }
        if self.state == LegState::Answered && !s.awaiting_ack() {
            self.state = LegState::Confirmed;
            if self.hangup_after_ack {
                self.send_bye(EndCause::LocalBye);
            }
        }
    }

    pub fn on_request(&mut self, tx: TxId, req: &InRequest, now: Instant) {
        if matches!(self.state, LegState::Ending | LegState::Ended) {
            let bytes = builder::response(&req.req, 481, Some(&self.local_tag)).finish();
            self.out.push_back(LegOutput::Respond {
                tx,
                status: 481,
                bytes,
            });
            return;
        }
        let Some(s) = self.session.as_mut() else {
            // Nothing but CANCEL (handled by the endpoint) is valid before we answer.
            let bytes = builder::response(&req.req, 481, Some(&self.local_tag)).finish();
            self.out.push_back(LegOutput::Respond {
                tx,
                status: 481,
                bytes,
            });
            return;
        };
        s.on_request(tx, req, now, &mut self.out);
        if s.is_ended() && req.req.method == Method::Bye {
            self.state = LegState::Ended;
        }
    }

    /// A response to a request we sent on this leg (our BYE): the leg is fully over.
    pub fn on_response(&mut self, resp: &InResponse, now: Instant) {
        match resp.ids.cseq_method {
            Method::Bye if resp.status >= 200 => self.state = LegState::Ended,
            // Our session refresh (we are the refresher).
            Method::Update => {
                let end = self
                    .session
                    .as_mut()
                    .and_then(|s| s.on_refresh_response(resp.status, now));
                if let Some(cause) = end {
                    self.send_bye(cause);
                }
            }
            _ => {}
        }
    }

    /// A transaction of this leg timed out (`server`: one of ours answering the caller).
    pub fn on_tx_timeout(&mut self, method: Method, server: bool) {
        match (method, server) {
            (Method::Bye, false) => self.state = LegState::Ended,
            (Method::Update, false) => {
                if let Some(cause) = self.session.as_mut().and_then(|s| s.on_refresh_timeout()) {
                    self.send_bye(cause);
                }
            }
            _ => {}
        }
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.session.as_ref().and_then(|s| s.deadline())
    }

    pub fn on_timer(&mut self, now: Instant) {
        let Some(s) = self.session.as_mut() else {
            return;
        };
        // §13.3.1.4: no ACK within 64·T1 → confirm and end with BYE; RFC 4028: no refresh.
        if let Some(cause) = s.on_timer(now, &mut self.out) {
            self.send_bye(cause);
        }
    }

    fn end(&mut self, cause: EndCause) {
        if self.state != LegState::Ended {
            self.state = LegState::Ended;
            self.out.push_back(LegOutput::Ended(cause));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::time::{Duration, Instant};

    use bytes::Bytes;

    use crate::sip::flow::{Flow, TransportKind};
    use crate::sip::message::{parse_datagram, InRequest, InResponse, Incoming, Method};
    use crate::sip::sdp::Direction;
    use crate::sip::transaction::Timers;

    const INVITE_TX: u64 = 1;
    const CALL_ID: &str = "call-1@192.0.2.10";

    fn cfg() -> LegConfig {
        LegConfig {
            sent_by: "192.0.2.1:5060".into(),
            media_ip: "192.0.2.1".parse().unwrap(),
            media_port: 30000,
            timers: Timers::default(),
            min_se: crate::sip::leg::MIN_SE,
        }
    }

    fn flow(transport: TransportKind) -> Flow {
        Flow {
            transport,
            local: "192.0.2.1:5060".parse().unwrap(),
            remote: "192.0.2.10:5062".parse().unwrap(),
            conn: 0,
        }
    }

    /// The caller's SDP: PCMU, PCMA and telephone-event with this direction.
    fn sdp(ip: &str, dir: &str) -> String {
        format!(
            "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
             m=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na={dir}\r\n"
        )
    }

    /// A request from the caller, as the endpoint hands it over.
    fn request(
        method: &str,
        cseq: u32,
        to_tag: Option<&str>,
        extra: &str,
        body: Option<(&str, &str)>,
    ) -> InRequest {
        let uri = if to_tag.is_some() {
            "sip:centrale@192.0.2.1:5060"
        } else {
            "sip:311@192.0.2.1"
        };
        let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
        let (ctype, body) = match body {
            Some((ct, b)) => (format!("Content-Type: {ct}\r\n"), b),
            None => (String::new(), ""),
        };
        let raw = format!(
            "{method} {uri} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK{method}{cseq};rport\r\n\
             Max-Forwards: 70\r\n\
             From: \"Citizen\" <sip:citizen@192.0.2.10>;tag=caller1\r\n\
             To: <sip:311@192.0.2.1>{to_tag}\r\n\
             Call-ID: {CALL_ID}\r\n\
             CSeq: {cseq} {method}\r\n\
             Contact: <sip:citizen@192.0.2.10:5062>\r\n\
             {extra}{ctype}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        match parse_datagram(raw.as_bytes()).unwrap() {
            Incoming::Request(r) => r,
            Incoming::Response(_) => unreachable!(),
        }
    }

    fn invite(body: Option<&str>) -> InRequest {
        request("INVITE", 1, None, "", body.map(|b| ("application/sdp", b)))
    }

    fn early_leg(body: Option<&str>, transport: TransportKind) -> InboundLeg {
        InboundLeg::new(
            INVITE_TX,
            invite(body),
            flow(transport),
            cfg(),
            Random::seeded(2),
        )
        .unwrap()
    }

    fn drain(leg: &mut InboundLeg) -> Vec<LegOutput> {
        std::iter::from_fn(|| leg.poll()).collect()
    }

    fn parse_response(bytes: &Bytes) -> InResponse {
        match parse_datagram(bytes).unwrap() {
            Incoming::Response(r) => r,
            Incoming::Request(_) => panic!("not a response"),
        }
    }

    fn parse_request(bytes: &Bytes) -> InRequest {
        match parse_datagram(bytes).unwrap() {
            Incoming::Request(r) => r,
            Incoming::Response(_) => panic!("not a request"),
        }
    }

    fn text(bytes: &Bytes) -> String {
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    fn sdp_body(bytes: &Bytes) -> String {
        let t = text(bytes);
        t.split_once("\r\n\r\n").unwrap().1.to_string()
    }

    /// The responses among `out`, as (tx, status, parsed), checking the status agrees.
    fn responses(out: &[LegOutput]) -> Vec<(u64, u16, InResponse, Bytes)> {
        out.iter()
            .filter_map(|o| match o {
                LegOutput::Respond { tx, status, bytes } => {
                    let r = parse_response(bytes);
                    assert_eq!(r.status, *status);
                    Some((*tx, *status, r, bytes.clone()))
                }
                _ => None,
            })
            .collect()
    }

    fn statuses(out: &[LegOutput]) -> Vec<u16> {
        responses(out).iter().map(|r| r.1).collect()
    }

    fn ended(out: &[LegOutput]) -> Vec<EndCause> {
        out.iter()
            .filter_map(|o| match o {
                LegOutput::Ended(c) => Some(c.clone()),
                _ => None,
            })
            .collect()
    }

    fn media(out: &[LegOutput]) -> Vec<crate::sip::sdp::Negotiated> {
        out.iter()
            .filter_map(|o| match o {
                LegOutput::Media(n) => Some(n.clone()),
                _ => None,
            })
            .collect()
    }

    /// The BYEs among `out`, parsed.
    fn byes(out: &[LegOutput]) -> Vec<InRequest> {
        out.iter()
            .filter_map(|o| match o {
                LegOutput::Request {
                    method: Method::Bye,
                    bytes,
                    branch,
                    ..
                } => {
                    let r = parse_request(bytes);
                    assert_eq!(&r.ids.branch, branch);
                    Some(r)
                }
                _ => None,
            })
            .collect()
    }

    /// A leg answered at `t0` (early offer) and acknowledged.
    fn confirmed(t0: Instant) -> InboundLeg {
        let mut leg = early_leg(Some(&sdp("192.0.2.10", "sendrecv")), TransportKind::Udp);
        leg.answer(t0);
        drain(&mut leg);
        let tag = leg.local_tag().to_string();
        leg.on_ack(&request("ACK", 1, Some(&tag), "", None), t0);
        assert_eq!(leg.state(), LegState::Confirmed);
        assert!(drain(&mut leg).is_empty());
        leg
    }

    #[test]
    fn refusals_before_a_leg_exists() {
        let refuse = |req: InRequest| {
            InboundLeg::new(
                INVITE_TX,
                req,
                flow(TransportKind::Udp),
                cfg(),
                Random::seeded(2),
            )
            .map(|_| ())
            .unwrap_err()
            .status
        };
        let g729 = "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
                    m=audio 40000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n";
        assert_eq!(refuse(invite(Some(g729))), 488);
        let video = "v=0\r\nc=IN IP4 192.0.2.10\r\nm=video 40002 RTP/AVP 96\r\n";
        assert_eq!(refuse(invite(Some(video))), 488);
        let json = request("INVITE", 1, None, "", Some(("application/json", "{}")));
        assert_eq!(refuse(json), 415);
        assert_eq!(refuse(invite(Some("this is not SDP\r\n"))), 400);
        // No body: a late offer, accepted.
        assert!(InboundLeg::new(
            INVITE_TX,
            invite(None),
            flow(TransportKind::Udp),
            cfg(),
            Random::seeded(2)
        )
        .is_ok());
    }

    #[test]
    fn ringing_then_answer_with_sdp_answer() {
        let t0 = Instant::now();
        let mut leg = early_leg(Some(&sdp("192.0.2.10", "sendrecv")), TransportKind::Udp);
        assert_eq!(leg.state(), LegState::Early);
        assert_eq!(leg.call_id(), CALL_ID);
        leg.ringing(t0);
        let out = drain(&mut leg);
        let [(tx, 180, r, bytes)] = &responses(&out)[..] else {
            panic!("{out:?}")
        };
        assert_eq!(*tx, INVITE_TX);
        assert_eq!(r.ids.to_tag.as_deref(), Some(leg.local_tag()));
        assert!(text(bytes).contains("Contact: <sip:centrale@192.0.2.1:5060>\r\n"));

        leg.answer(t0);
        let out = drain(&mut leg);
        // The media is known before the 200 goes out.
        assert!(matches!(out[0], LegOutput::Media(_)));
        let n = &media(&out)[0];
        assert_eq!(n.payload_type, 0);
        assert_eq!(n.dtmf_pt, Some(101));
        assert_eq!(n.remote_rtp, Some("192.0.2.10:40000".parse().unwrap()));
        assert_eq!(n.local_direction, Direction::SendRecv);
        let [(INVITE_TX, 200, r, bytes)] = &responses(&out)[..] else {
            panic!("{out:?}")
        };
        assert_eq!(r.ids.to_tag.as_deref(), Some(leg.local_tag()));
        assert_eq!(r.ids.cseq, 1);
        let t = text(bytes);
        assert!(t.contains("Content-Type: application/sdp\r\n"), "{t}");
        assert!(
            t.contains("Contact: <sip:centrale@192.0.2.1:5060>\r\n"),
            "{t}"
        );
        let body = sdp_body(bytes);
        assert!(body.contains("c=IN IP4 192.0.2.1\r\n"), "{body}");
        assert!(body.contains("m=audio 30000 RTP/AVP 0 101\r\n"), "{body}");
        assert!(body.contains("a=sendrecv\r\n"), "{body}");
        assert_eq!(leg.state(), LegState::Answered);
        assert_eq!(leg.media(), Some(n));
        // Answering or ringing twice does nothing.
        leg.answer(t0);
        leg.ringing(t0);
        assert!(drain(&mut leg).is_empty());
        // The ACK confirms and stops the 2xx retransmissions.
        assert!(leg.deadline().is_some());
        let tag = leg.local_tag().to_string();
        leg.on_ack(&request("ACK", 1, Some(&tag), "", None), t0);
        assert_eq!(leg.state(), LegState::Confirmed);
        assert_eq!(leg.deadline(), None);
    }

    #[test]
    fn late_offer_takes_the_answer_from_the_ack() {
        let t0 = Instant::now();
        let mut leg = early_leg(None, TransportKind::Udp);
        leg.answer(t0);
        let out = drain(&mut leg);
        assert!(media(&out).is_empty(), "no media before the answer");
        let [(_, 200, _, bytes)] = &responses(&out)[..] else {
            panic!("{out:?}")
        };
        let offer = sdp_body(bytes);
        assert!(
            offer.contains("m=audio 30000 RTP/AVP 0 8 101\r\n"),
            "{offer}"
        );
        assert!(offer.contains("a=sendrecv\r\n"), "{offer}");
        assert_eq!(leg.media(), None);
        let tag = leg.local_tag().to_string();
        let answer = sdp("192.0.2.10", "sendrecv").replace("0 8 101", "8 101");
        let ack = request("ACK", 1, Some(&tag), "", Some(("application/sdp", &answer)));
        leg.on_ack(&ack, t0);
        let out = drain(&mut leg);
        let [LegOutput::Media(n)] = &out[..] else {
            panic!("{out:?}")
        };
        assert_eq!(n.payload_type, 8);
        assert_eq!(leg.state(), LegState::Confirmed);
        assert_eq!(leg.media(), Some(n));
    }

    #[test]
    fn late_offer_ack_without_answer_ends_the_call() {
        let t0 = Instant::now();
        let mut leg = early_leg(None, TransportKind::Udp);
        leg.answer(t0);
        drain(&mut leg);
        let tag = leg.local_tag().to_string();
        leg.on_ack(&request("ACK", 1, Some(&tag), "", None), t0);
        let out = drain(&mut leg);
        assert_eq!(byes(&out).len(), 1);
        assert_eq!(ended(&out), [EndCause::BadAck]);
        assert_eq!(leg.state(), LegState::Ending);
    }

    #[test]
    fn reject_cancel_and_hangup_before_answer() {
        let t0 = Instant::now();
        let mut leg = early_leg(None, TransportKind::Udp);
        leg.reject(
            302,
            &[("Contact", "<sip:911@127.0.0.1:5070>".to_string())],
            t0,
        );
        let out = drain(&mut leg);
        let [(INVITE_TX, 302, r, bytes)] = &responses(&out)[..] else {
            panic!("{out:?}")
        };
        assert_eq!(r.ids.to_tag.as_deref(), Some(leg.local_tag()));
        assert!(text(bytes).contains("Contact: <sip:911@127.0.0.1:5070>\r\n"));
        assert_eq!(ended(&out), [EndCause::Rejected(302)]);
        assert!(leg.is_ended());
        leg.answer(t0);
        leg.on_cancelled(t0);
        assert!(drain(&mut leg).is_empty());

        let mut leg = early_leg(None, TransportKind::Udp);
        leg.on_cancelled(t0);
        let out = drain(&mut leg);
        assert_eq!(statuses(&out), [487]);
        assert_eq!(ended(&out), [EndCause::Cancelled]);

        let mut leg = early_leg(None, TransportKind::Udp);
        leg.hangup(t0);
        let out = drain(&mut leg);
        assert_eq!(statuses(&out), [480]);
        assert_eq!(ended(&out), [EndCause::Rejected(480)]);
    }

    #[test]
    fn cancel_after_answer_is_ignored() {
        let t0 = Instant::now();
        let mut leg = early_leg(Some(&sdp("192.0.2.10", "sendrecv")), TransportKind::Udp);
        leg.answer(t0);
        drain(&mut leg);
        leg.on_cancelled(t0);
        assert!(drain(&mut leg).is_empty());
        assert_eq!(leg.state(), LegState::Answered);
    }

    #[test]
    fn answer_without_contact_is_refused() {
        let t0 = Instant::now();
        let raw = invite(Some(&sdp("192.0.2.10", "sendrecv")))
            .req
            .to_string()
            .replace("Contact: <sip:citizen@192.0.2.10:5062>\r\n", "");
        let Incoming::Request(inv) = parse_datagram(raw.as_bytes()).unwrap() else {
            panic!()
        };
        let mut leg = InboundLeg::new(
            INVITE_TX,
            inv,
            flow(TransportKind::Udp),
            cfg(),
            Random::seeded(2),
        )
        .unwrap();
        leg.answer(t0);
        let out = drain(&mut leg);
        assert_eq!(statuses(&out), [400]);
        assert_eq!(ended(&out), [EndCause::Rejected(400)]);
    }

    #[test]
    fn remote_bye_ends_the_call() {
        let t0 = Instant::now();
        let mut leg = confirmed(t0);
        let tag = leg.local_tag().to_string();
        leg.on_request(7, &request("BYE", 2, Some(&tag), "", None), t0);
        let out = drain(&mut leg);
        let [(7, 200, r, _)] = &responses(&out)[..] else {
            panic!("{out:?}")
        };
        assert_eq!(r.ids.cseq_method, Method::Bye);
        assert_eq!(ended(&out), [EndCause::RemoteBye]);
        assert!(leg.is_ended());
        // The dialog is gone.
        leg.on_request(8, &request("INFO", 3, Some(&tag), "", None), t0);
        assert_eq!(statuses(&drain(&mut leg)), [481]);
        leg.hangup(t0);
        assert!(drain(&mut leg).is_empty());
    }

    #[test]
    fn hold_and_resume_by_reinvite() {
        let t0 = Instant::now();
        let mut leg = confirmed(t0);
        let tag = leg.local_tag().to_string();
        let hold = sdp("192.0.2.10", "sendonly");
        leg.on_request(
            5,
            &request(
                "INVITE",
                2,
                Some(&tag),
                "",
                Some(("application/sdp", &hold)),
            ),
            t0,
        );
        let out = drain(&mut leg);
        let [n] = &media(&out)[..] else {
            panic!("{out:?}")
        };
        assert_eq!(n.local_direction, Direction::RecvOnly);
        assert!(!n.may_send());
        let [(5, 200, r, bytes)] = &responses(&out)[..] else {
            panic!("{out:?}")
        };
        assert_eq!(r.ids.to_tag.as_deref(), Some(tag.as_str()));
        assert_eq!(r.ids.cseq, 2);
        let held = sdp_body(bytes);
        assert!(held.contains("a=recvonly\r\n"), "{held}");
        // Its 2xx is retransmitted on the re-INVITE's transaction until the ACK.
        let deadline = leg.deadline().expect("2xx retransmission");
        leg.on_timer(deadline);
        let out = drain(&mut leg);
        assert!(matches!(
            &out[..],
            [LegOutput::Respond {
                tx: 5,
                status: 200,
                ..
            }]
        ));
        leg.on_ack(&request("ACK", 2, Some(&tag), "", None), deadline);
        assert_eq!(leg.deadline(), None);
        assert_eq!(leg.state(), LegState::Confirmed);

        // Old-style hold (c=0.0.0.0) is also answered recvonly.
        leg.on_request(
            6,
            &request(
                "INVITE",
                3,
                Some(&tag),
                "",
                Some(("application/sdp", &sdp("0.0.0.0", "sendrecv"))),
            ),
            t0,
        );
        let out = drain(&mut leg);
        assert_eq!(media(&out)[0].local_direction, Direction::RecvOnly);
        assert_eq!(media(&out)[0].remote_rtp, None);
        leg.on_ack(&request("ACK", 3, Some(&tag), "", None), t0);

        leg.on_request(
            9,
            &request(
                "INVITE",
                4,
                Some(&tag),
                "",
                Some(("application/sdp", &sdp("192.0.2.10", "sendrecv"))),
            ),
            t0,
        );
        let out = drain(&mut leg);
        assert_eq!(media(&out)[0].local_direction, Direction::SendRecv);
        let resumed = sdp_body(&responses(&out)[0].3);
        assert!(resumed.contains("a=sendrecv\r\n"), "{resumed}");
        // The session version of o= grows as the description changes.
        let version = |s: &str| -> u64 {
            let o = s.lines().find(|l| l.starts_with("o=")).unwrap();
            o.split_whitespace().nth(2).unwrap().parse().unwrap()
        };
        assert!(version(&resumed) > version(&held), "{held}\n{resumed}");
        assert_eq!(leg.media().unwrap().local_direction, Direction::SendRecv);
    }

    #[test]
    fn reinvite_with_a_bad_offer_keeps_the_call() {
        let t0 = Instant::now();
        let mut leg = confirmed(t0);
        let tag = leg.local_tag().to_string();
        let g729 = sdp("192.0.2.10", "sendrecv")
            .replace("0 8 101", "18")
            .replace("a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n", "");
        leg.on_request(
            4,
            &request(
                "INVITE",
                2,
                Some(&tag),
                "",
                Some(("application/sdp", &g729)),
            ),
            t0,
        );
        let out = drain(&mut leg);
        assert_eq!(statuses(&out), [488]);
        assert!(text(&responses(&out)[0].3).contains("Warning: 399 centrale"));
        assert!(ended(&out).is_empty());
        assert_eq!(leg.state(), LegState::Confirmed);
        assert_eq!(leg.media().unwrap().payload_type, 0);
    }

    #[test]
    fn reinvite_without_sdp_gets_our_offer_and_the_ack_answers() {
        let t0 = Instant::now();
        let mut leg = confirmed(t0);
        let tag = leg.local_tag().to_string();
        leg.on_request(3, &request("INVITE", 2, Some(&tag), "", None), t0);
        let out = drain(&mut leg);
        assert!(media(&out).is_empty());
        let [(3, 200, _, bytes)] = &responses(&out)[..] else {
            panic!("{out:?}")
        };
        let offer = sdp_body(bytes);
        assert!(
            offer.contains("m=audio 30000 RTP/AVP 0 8 101\r\n"),
            "{offer}"
        );
        assert!(offer.contains("a=sendrecv\r\n"), "{offer}");
        let answer = sdp("192.0.2.20", "sendrecv").replace("0 8 101", "8 101");
        leg.on_ack(
            &request("ACK", 2, Some(&tag), "", Some(("application/sdp", &answer))),
            t0,
        );
        let out = drain(&mut leg);
        let [LegOutput::Media(n)] = &out[..] else {
            panic!("{out:?}")
        };
        assert_eq!(n.payload_type, 8);
        assert_eq!(n.remote_rtp, Some("192.0.2.20:40000".parse().unwrap()));
        assert_eq!(leg.state(), LegState::Confirmed);

        // The same with an ACK that has no answer: the call ends.
        leg.on_request(4, &request("INVITE", 3, Some(&tag), "", None), t0);
        drain(&mut leg);
        leg.on_ack(&request("ACK", 3, Some(&tag), "", None), t0);
        let out = drain(&mut leg);
        assert_eq!(byes(&out).len(), 1);
        assert_eq!(ended(&out), [EndCause::BadAck]);
    }

    #[test]
    fn info_dtmf_options_and_refused_methods() {
        let t0 = Instant::now();
        let mut leg = confirmed(t0);
        let tag = leg.local_tag().to_string();
        let mut cseq = 1;
        let mut send = |leg: &mut InboundLeg, method: &str, body: Option<(&str, &str)>| {
            cseq += 1;
            leg.on_request(
                cseq as u64,
                &request(method, cseq, Some(&tag), "", body),
                t0,
            );
            drain(leg)
        };
        let relay = Some(("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n"));
        let out = send(&mut leg, "INFO", relay);
        assert_eq!(statuses(&out), [200]);
        assert_eq!(out.last(), Some(&LegOutput::Dtmf('5')));
        let out = send(
            &mut leg,
            "INFO",
            Some(("application/dtmf-relay", "Signal=11\r\n")),
        );
        assert_eq!(out.last(), Some(&LegOutput::Dtmf('#')));
        let out = send(&mut leg, "INFO", Some(("application/dtmf", "*")));
        assert_eq!(out.last(), Some(&LegOutput::Dtmf('*')));
        // Other INFO bodies (e.g. a media-control XML) are acknowledged, no digit.
        let out = send(&mut leg, "INFO", Some(("application/xml", "<x/>")));
        assert_eq!(statuses(&out), [200]);
        assert_eq!(out.len(), 1);

        let out = send(&mut leg, "OPTIONS", None);
        let t = text(&responses(&out)[0].3);
        assert_eq!(statuses(&out), [200]);
        assert!(
            t.contains("Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER"),
            "{t}"
        );
        // UPDATE refreshes the session (RFC 4028); one carrying a new offer is not supported.
        assert_eq!(statuses(&send(&mut leg, "UPDATE", None)), [200]);
        assert_eq!(
            statuses(&send(
                &mut leg,
                "UPDATE",
                Some(("application/sdp", "v=0\r\n"))
            )),
            [501]
        );
        assert_eq!(statuses(&send(&mut leg, "PRACK", None)), [501]);
        // A REFER without Refer-To is malformed (RFC 3515 §2.4.1); a good one is tested in leg.rs.
        let out = send(&mut leg, "REFER", None);
        assert_eq!(statuses(&out), [400]);
        for m in ["MESSAGE", "SUBSCRIBE"] {
            let out = send(&mut leg, m, None);
            assert_eq!(statuses(&out), [405], "{m}");
            assert!(text(&responses(&out)[0].3).contains("Allow: "), "{m}");
        }
        assert_eq!(leg.state(), LegState::Confirmed);
    }

    #[test]
    fn wrong_tag_and_old_cseq_are_refused() {
        let t0 = Instant::now();
        let mut leg = confirmed(t0);
        let tag = leg.local_tag().to_string();
        leg.on_request(2, &request("BYE", 2, Some("not-ours"), "", None), t0);
        let out = drain(&mut leg);
        assert_eq!(statuses(&out), [481]);
        assert!(ended(&out).is_empty());
        leg.on_request(3, &request("OPTIONS", 5, Some(&tag), "", None), t0);
        assert_eq!(statuses(&drain(&mut leg)), [200]);
        // Equal and lower CSeq: out of order.
        for cseq in [5, 4] {
            leg.on_request(4, &request("BYE", cseq, Some(&tag), "", None), t0);
            let out = drain(&mut leg);
            assert_eq!(statuses(&out), [500], "CSeq {cseq}");
            assert!(ended(&out).is_empty());
        }
        assert_eq!(leg.state(), LegState::Confirmed);
        // A request before we answered has no dialog.
        let mut early = early_leg(None, TransportKind::Udp);
        let early_tag = early.local_tag().to_string();
        early.on_request(2, &request("BYE", 2, Some(&early_tag), "", None), t0);
        assert_eq!(statuses(&drain(&mut early)), [481]);
    }

    /// RFC 4028: a caller that supports session timers refreshes; when the refreshes stop,
    /// we end the call a little before the interval runs out.
    /// An inbound leg for an INVITE with these extra headers (session timers) and an offer.
    fn leg_asking(headers: &str, seed: u64) -> InboundLeg {
        let sdp = sdp("192.0.2.10", "sendrecv");
        let inv = request("INVITE", 1, None, headers, Some(("application/sdp", &sdp)));
        InboundLeg::new(
            INVITE_TX,
            inv,
            flow(TransportKind::Udp),
            cfg(),
            Random::seeded(seed),
        )
        .unwrap()
    }

    #[test]
    fn a_session_that_is_no_longer_refreshed_is_ended() {
        let t0 = Instant::now();
        let mut leg = leg_asking("Supported: timer\r\nSession-Expires: 120\r\n", 2);
        leg.answer(t0);
        let ok = text(&responses(&drain(&mut leg))[0].3);
        assert!(ok.contains("Session-Expires: 120;refresher=uac"), "{ok}");
        assert!(ok.contains("Require: timer"), "{ok}");
        let tag = leg.local_tag().to_string();
        leg.on_ack(&request("ACK", 1, Some(&tag), "", None), t0);
        // 120 s less min(32, 120/3) = 88 s.
        assert_eq!(leg.deadline(), Some(t0 + Duration::from_secs(88)));
        // A refresh by UPDATE at 60 s restarts the interval.
        let t1 = t0 + Duration::from_secs(60);
        leg.on_request(
            7,
            &request(
                "UPDATE",
                2,
                Some(&tag),
                "Supported: timer\r\nSession-Expires: 120;refresher=uac\r\n",
                None,
            ),
            t1,
        );
        let out = drain(&mut leg);
        assert_eq!(statuses(&out), [200]);
        assert!(text(&responses(&out)[0].3).contains("Session-Expires: 120;refresher=uac"));
        assert_eq!(leg.deadline(), Some(t1 + Duration::from_secs(88)));
        leg.on_timer(t1 + Duration::from_secs(87));
        assert!(drain(&mut leg).is_empty());
        // Then silence: BYE, ended as session-expired.
        leg.on_timer(t1 + Duration::from_secs(88));
        let out = drain(&mut leg);
        assert_eq!(byes(&out).len(), 1, "{out:?}");
        assert_eq!(ended(&out), [EndCause::SessionExpired]);
        // Too short an interval: 422 with our Min-SE.
        let short = request(
            "INVITE",
            1,
            None,
            "Supported: timer\r\nSession-Expires: 30\r\n",
            None,
        );
        let Err(r) = InboundLeg::new(
            INVITE_TX,
            short,
            flow(TransportKind::Udp),
            cfg(),
            Random::seeded(2),
        ) else {
            panic!("a 30 s session interval is refused");
        };
        assert_eq!(r.status, 422);
        assert_eq!(r.headers, vec![("Min-SE", "90".to_string())]);
        // A caller without timer support gets no timer.
        let mut plain = early_leg(Some(&sdp("192.0.2.10", "sendrecv")), TransportKind::Udp);
        plain.answer(t0);
        let ok = text(&responses(&drain(&mut plain))[0].3);
        assert!(!ok.contains("Session-Expires"), "{ok}");
    }

    /// The caller asks us to refresh (refresher=uas) and accepts UPDATE: we send UPDATE at half
    /// the interval; a 2xx renews, a 481 (the caller's side lost the dialog) ends the call.
    #[test]
    fn we_refresh_the_session_when_the_caller_asks_us_to() {
        let t0 = Instant::now();
        let mut leg = leg_asking("Supported: timer\r\nSession-Expires: 120;refresher=uas\r\nAllow: INVITE, ACK, BYE, UPDATE\r\n", 2);
        leg.answer(t0);
        let ok = text(&responses(&drain(&mut leg))[0].3);
        assert!(ok.contains("Session-Expires: 120;refresher=uas"), "{ok}");
        assert!(ok.contains("Require: timer"), "{ok}");
        let tag = leg.local_tag().to_string();
        leg.on_ack(&request("ACK", 1, Some(&tag), "", None), t0);
        assert_eq!(leg.deadline(), Some(t0 + Duration::from_secs(60)));
        let update_at = |leg: &mut InboundLeg, t: Instant| -> (String, u32) {
            leg.on_timer(t);
            let out = drain(leg);
            out.iter()
                .find_map(|o| match o {
                    LegOutput::Request {
                        method: Method::Update,
                        bytes,
                        ..
                    } => {
                        let txt = text(bytes);
                        let cseq = txt
                            .lines()
                            .find_map(|l| l.strip_prefix("CSeq: "))
                            .and_then(|v| v.split(' ').next())
                            .and_then(|n| n.parse().ok())
                            .unwrap_or(0);
                        Some((txt, cseq))
                    }
                    _ => None,
                })
                .unwrap_or_else(|| panic!("no UPDATE at {t:?}: {out:?}"))
        };
        let answer = |leg: &mut InboundLeg, status: u16, cseq: u32, t: Instant| {
            let r = format!(
                "SIP/2.0 {status} X\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKu\r\n\
                 From: <sip:311@192.0.2.1>;tag={tag}\r\nTo: \"Citizen\" <sip:citizen@192.0.2.10>;tag=caller1\r\n\
                 Call-ID: {CALL_ID}\r\nCSeq: {cseq} UPDATE\r\nSession-Expires: 120;refresher=uac\r\n\
                 Content-Length: 0\r\n\r\n"
            );
            let Incoming::Response(resp) = parse_datagram(r.as_bytes()).unwrap() else {
                panic!()
            };
            leg.on_response(&resp, t);
        };
        leg.on_timer(t0 + Duration::from_secs(59));
        assert!(drain(&mut leg).is_empty());
        let t1 = t0 + Duration::from_secs(60);
        let (update, cseq) = update_at(&mut leg, t1);
        assert!(update.starts_with("UPDATE sip:"), "{update}");
        assert!(
            update.contains("Session-Expires: 120;refresher=uac"),
            "{update}"
        );
        assert!(!update.contains("application/sdp"), "{update}");
        answer(&mut leg, 200, cseq, t1);
        assert!(drain(&mut leg).is_empty());
        assert_eq!(leg.deadline(), Some(t1 + Duration::from_secs(60)));
        let t2 = t1 + Duration::from_secs(60);
        let (_, cseq2) = update_at(&mut leg, t2);
        assert!(cseq2 > cseq);
        answer(&mut leg, 481, cseq2, t2);
        let out = drain(&mut leg);
        assert_eq!(byes(&out).len(), 1, "{out:?}");
        assert_eq!(ended(&out), [EndCause::SessionExpired]);
        // A caller that asks us to refresh but does not accept UPDATE gets no timer.
        let mut plain = leg_asking(
            "Supported: timer\r\nSession-Expires: 120;refresher=uas\r\nAllow: INVITE, ACK, BYE\r\n",
            3,
        );
        plain.answer(t0);
        let ok = text(&responses(&drain(&mut plain))[0].3);
        assert!(!ok.contains("Session-Expires"), "{ok}");
    }

    #[test]
    fn unacknowledged_2xx_is_resent_then_the_call_ends() {
        let t0 = Instant::now();
        let mut leg = early_leg(Some(&sdp("192.0.2.10", "sendrecv")), TransportKind::Udp);
        leg.answer(t0);
        let first = responses(&drain(&mut leg))[0].3.clone();
        // Nothing before the first deadline.
        leg.on_timer(t0 + Duration::from_millis(499));
        assert!(drain(&mut leg).is_empty());
        let mut resent_at = Vec::new();
        let mut last = t0;
        let out = loop {
            let deadline = leg.deadline().expect("a deadline while unacknowledged");
            assert!(deadline > last);
            last = deadline;
            leg.on_timer(deadline);
            let out = drain(&mut leg);
            match &out[..] {
                [LegOutput::Respond {
                    tx: INVITE_TX,
                    status: 200,
                    bytes,
                }] => {
                    assert_eq!(*bytes, first, "the very same 2xx");
                    resent_at.push((deadline - t0).as_millis());
                }
                _ => break out,
            }
        };
        // T1 doubling up to T2 (RFC 3261 §13.3.1.4), give-up at 64·T1.
        assert_eq!(
            resent_at,
            [500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
        );
        assert_eq!(last - t0, Duration::from_secs(32));
        let [bye] = &byes(&out)[..] else {
            panic!("{out:?}")
        };
        assert_eq!(bye.req.uri.to_string(), "sip:citizen@192.0.2.10:5062");
        assert_eq!(bye.ids.call_id, CALL_ID);
        assert_eq!(bye.ids.from_tag.as_deref(), Some(leg.local_tag()));
        assert_eq!(bye.ids.to_tag.as_deref(), Some("caller1"));
        assert_eq!(ended(&out), [EndCause::NoAck]);
        assert_eq!(leg.state(), LegState::Ending);
        assert_eq!(leg.deadline(), None);
        // A late ACK changes nothing.
        let tag = leg.local_tag().to_string();
        leg.on_ack(&request("ACK", 1, Some(&tag), "", None), last);
        assert!(drain(&mut leg).is_empty());
    }

    #[test]
    fn over_tcp_the_2xx_is_not_resent_but_the_ack_is_awaited() {
        let t0 = Instant::now();
        let mut leg = early_leg(Some(&sdp("192.0.2.10", "sendrecv")), TransportKind::Tcp);
        leg.answer(t0);
        let out = drain(&mut leg);
        assert!(text(&responses(&out)[0].3)
            .contains("Contact: <sip:centrale@192.0.2.1:5060;transport=tcp>"));
        assert_eq!(leg.deadline(), Some(t0 + Duration::from_secs(32)));
        leg.on_timer(t0 + Duration::from_secs(32));
        let out = drain(&mut leg);
        assert_eq!(statuses(&out), Vec::<u16>::new());
        assert_eq!(byes(&out).len(), 1);
        assert_eq!(ended(&out), [EndCause::NoAck]);
    }

    #[test]
    fn hangup_before_the_ack_waits_for_it() {
        let t0 = Instant::now();
        let mut leg = early_leg(Some(&sdp("192.0.2.10", "sendrecv")), TransportKind::Udp);
        leg.answer(t0);
        drain(&mut leg);
        leg.hangup(t0);
        // RFC 3261 §15: no BYE before the ACK; the 2xx keeps being resent meanwhile.
        assert!(drain(&mut leg).is_empty());
        assert_eq!(leg.state(), LegState::Answered);
        let d = leg.deadline().unwrap();
        leg.on_timer(d);
        assert_eq!(statuses(&drain(&mut leg)), [200]);
        let tag = leg.local_tag().to_string();
        // An ACK for another CSeq is not ours.
        leg.on_ack(&request("ACK", 7, Some(&tag), "", None), d);
        assert!(drain(&mut leg).is_empty());
        leg.on_ack(&request("ACK", 1, Some(&tag), "", None), d);
        let out = drain(&mut leg);
        assert_eq!(byes(&out).len(), 1);
        assert_eq!(ended(&out), [EndCause::LocalBye]);
        assert_eq!(leg.state(), LegState::Ending);
    }

    #[test]
    fn hangup_when_confirmed_sends_bye_and_its_answer_ends_the_leg() {
        let t0 = Instant::now();
        let mut leg = confirmed(t0);
        let tag = leg.local_tag().to_string();
        leg.on_request(2, &request("OPTIONS", 2, Some(&tag), "", None), t0);
        drain(&mut leg);
        leg.hangup(t0);
        let out = drain(&mut leg);
        let [bye] = &byes(&out)[..] else {
            panic!("{out:?}")
        };
        assert!(matches!(
            &out[0],
            LegOutput::Request { dest: Some(f), next_hop, .. }
                if f.remote == "192.0.2.10:5062".parse().unwrap()
                    && next_hop == "sip:citizen@192.0.2.10:5062"
        ));
        assert_eq!(bye.ids.cseq_method, Method::Bye);
        assert!(text(&bye_bytes(&out)).contains("Reason: SIP;cause=200"));
        assert_eq!(ended(&out), [EndCause::LocalBye]);
        assert_eq!(leg.state(), LegState::Ending);
        // Twice: nothing more.
        leg.hangup(t0);
        assert!(drain(&mut leg).is_empty());
        // Requests crossing our BYE: the dialog is over.
        leg.on_request(3, &request("INFO", 3, Some(&tag), "", None), t0);
        assert_eq!(statuses(&drain(&mut leg)), [481]);
        // The 200 to our BYE.
        let ok = format!(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch={}\r\n\
             From: <sip:311@192.0.2.1>;tag={tag}\r\nTo: \"Citizen\" <sip:citizen@192.0.2.10>;tag=caller1\r\n\
             Call-ID: {CALL_ID}\r\nCSeq: {} BYE\r\nContent-Length: 0\r\n\r\n",
            bye.ids.branch, bye.ids.cseq
        );
        let Incoming::Response(resp) = parse_datagram(ok.as_bytes()).unwrap() else {
            panic!()
        };
        leg.on_response(&resp, t0);
        assert!(leg.is_ended());
    }

    fn bye_bytes(out: &[LegOutput]) -> Bytes {
        out.iter()
            .find_map(|o| match o {
                LegOutput::Request {
                    method: Method::Bye,
                    bytes,
                    ..
                } => Some(bytes.clone()),
                _ => None,
            })
            .unwrap()
    }

    #[test]
    fn bye_timeout_ends_the_leg() {
        let t0 = Instant::now();
        let mut leg = confirmed(t0);
        leg.hangup(t0);
        drain(&mut leg);
        leg.on_tx_timeout(Method::Bye, true);
        assert_eq!(leg.state(), LegState::Ending);
        leg.on_tx_timeout(Method::Bye, false);
        assert!(leg.is_ended());
    }

    #[test]
    fn dtmf_relay_bodies() {
        assert_eq!(parse_dtmf_relay(b"Signal=5\r\nDuration=160"), Some('5'));
        assert_eq!(parse_dtmf_relay(b"signal = 10\nDuration=100"), Some('*'));
        assert_eq!(parse_dtmf_relay(b"Signal=11"), Some('#'));
        assert_eq!(parse_dtmf_relay(b"Signal=b"), Some('B'));
        assert_eq!(parse_dtmf_relay(b"Duration=160\r\nSignal=#"), Some('#'));
        assert_eq!(parse_dtmf_relay(b"Signal=x"), None);
        assert_eq!(parse_dtmf_relay(b"Duration=160"), None);
    }
}
