//! A leg we originate (B2BUA B-leg): INVITE an agent's softphone or a transfer target (911/811
//! gateway, a neighbouring town, a partner), follow its responses (ringing, answer, failure),
//! ACK its 2xx (again for each retransmission), CANCEL it if the caller gives up first (only
//! after a provisional, §9.1), and — once answered — live the dialog through `leg::InDialog`.
//!
//! Sans-IO: events and `now` in, `LegOutput`s out. It knows nothing of the A-leg.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

use super::auth_client::{self, ClientCredentials};
use super::builder;
use super::dialog::{Dialog, UacIds};
use super::endpoint::TxId;
use super::flow::Flow;
use super::leg::{contact, EndCause, InDialog, LegConfig, LegOutput};
use super::message::{InRequest, InResponse, Method};
use super::random::Random;
use super::sdp::{self, Origin};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UacState {
    /// INVITE sent, no provisional yet.
    Calling,
    /// A provisional arrived (it rings).
    Ringing,
    Confirmed,
    /// Over for us (failed, cancelled, BYE sent or received).
    Ended,
}

/// Who we call and how.
#[derive(Debug, Clone)]
pub struct Originate {
    /// Request-URI: the agent's registered contact or the target's URI.
    pub request_uri: String,
    /// To: the address of record (`sip:agent7@centrale` or the target URI).
    pub to: String,
    /// From user and display name: the caller, so the agent's phone shows the citizen.
    pub from_user: String,
    pub from_display: Option<String>,
    /// Extra headers (e.g. the IVR context for the agent's softphone).
    pub headers: Vec<(String, String)>,
    /// Where to send the INVITE (a registered binding's flow) — None: resolve the URI.
    pub dest: Option<Flow>,
    /// Send in-dialog requests back along `dest` (agents behind NAT) rather than to Contact.
    pub symmetric: bool,
    /// Answer a 401/407 with these (a carrier trunk's); None: a challenge fails the leg.
    pub auth: Option<ClientCredentials>,
    /// Offer SRTP keys (only on a TLS flow): Some(true) required (RTP/SAVP), Some(false) best
    /// effort, None not at all.
    pub srtp: Option<bool>,
}

/// Challenges answered on one INVITE before we give up (a second one for the same realm
/// means the credentials are wrong, unless the carrier said the nonce was stale).
const MAX_CHALLENGES: u8 = 3;

#[derive(Debug)]
pub struct OutboundLeg {
    state: UacState,
    call_id: String,
    local_tag: String,
    from: String,
    to: String,
    cfg: LegConfig,
    req: Originate,
    branch: String,
    cseq: u32,
    origin: Origin,
    /// The ACK of our INVITE's 2xx, kept to answer retransmitted 2xx.
    ack: Option<(Bytes, Option<Flow>, String)>,
    session: Option<InDialog>,
    cancel_wanted: bool,
    invite_tx: Option<TxId>,
    /// The INVITE as first sent, without Via/CSeq/auth (for a re-sent, authenticated INVITE).
    template: Bytes,
    challenges: u8,
    last_challenge: u16,
    rng: Random,
    out: VecDeque<LegOutput>,
}

impl OutboundLeg {
    /// Build and queue the INVITE (with our SDP offer).
    /// `rng`: this leg's own randomness (Call-ID, tag, branches, SDP session).
    pub fn invite(
        req: Originate,
        cfg: LegConfig,
        local_host: &str,
        mut rng: Random,
    ) -> OutboundLeg {
        let call_id = format!("{}@{local_host}", rng.token());
        let local_tag = rng.token();
        let branch = rng.branch();
        let cseq = 1;
        let from = match &req.from_display {
            Some(d) => format!(
                "\"{}\" <sip:{}@{local_host}>",
                d.replace('"', "'"),
                req.from_user
            ),
            None => format!("<sip:{}@{local_host}>", req.from_user),
        };
        let to = format!("<{}>", req.to);
        let mut origin = Origin::new(u64::from(rng.u32()));
        if let Some(required) = req.srtp {
            origin.srtp_key = Some(super::uas::srtp_key(&mut rng));
            origin.srtp_required = required;
        }
        let offer = sdp::offer(
            &mut origin,
            cfg.media_ip,
            cfg.media_port,
            sdp::Direction::SendRecv,
        );
        let transport = req
            .dest
            .map(|f| f.transport)
            .unwrap_or(super::flow::TransportKind::Udp);
        let via = format!(
            "SIP/2.0/{} {};branch={branch};rport",
            transport.via_token(),
            cfg.sent_by
        );
        let bytes = invite_bytes(
            &req, &cfg, &via, &from, &local_tag, &to, &call_id, cseq, None, &offer,
        );
        let mut leg = OutboundLeg {
            state: UacState::Calling,
            call_id,
            local_tag,
            from,
            to,
            cfg,
            branch: branch.clone(),
            cseq,
            origin,
            ack: None,
            session: None,
            cancel_wanted: false,
            invite_tx: None,
            template: Bytes::from(offer.into_bytes()),
            challenges: 0,
            last_challenge: 0,
            rng,
            out: VecDeque::new(),
            req,
        };
        leg.out.push_back(LegOutput::Request {
            method: Method::Invite,
            branch,
            bytes,
            dest: leg.req.dest,
            next_hop: leg.req.request_uri.clone(),
        });
        leg
    }

    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    pub fn state(&self) -> UacState {
        self.state
    }

    pub fn poll(&mut self) -> Option<LegOutput> {
        self.out.pop_front()
    }

    pub fn invite_created(&mut self, tx: TxId) {
        self.invite_tx = Some(tx);
    }

    pub fn media(&self) -> Option<&sdp::Negotiated> {
        self.session.as_ref().and_then(|s| s.media.as_ref())
    }

    /// The caller gave up (or another agent was chosen): stop this leg however far it got.
    pub fn cancel(&mut self) {
        match self.state {
            UacState::Calling => self.cancel_wanted = true,
            UacState::Ringing => self.send_cancel(),
            UacState::Confirmed => self.hangup(),
            UacState::Ended => {}
        }
    }

    /// Hang up an answered leg.
    /// Tell the peer how the transfer it asked for is going (NOTIFY with a sipfrag).
    pub fn notify_refer(&mut self, status: u16, _now: Instant) {
        if let Some(s) = self.session.as_mut() {
            s.notify_refer(status, &mut self.out);
        }
    }

    pub fn hangup(&mut self) {
        if self.state == UacState::Confirmed {
            if let Some(s) = self.session.as_mut() {
                s.bye(&mut self.out);
            }
            self.end(EndCause::LocalBye);
        } else {
            self.cancel();
        }
    }

    fn send_cancel(&mut self) {
        if self.cancel_wanted && self.state == UacState::Ended {
            return;
        }
        // §9.1: CANCEL copies the INVITE's Request-URI, Call-ID, From, To, CSeq number and
        // top Via (same branch).
        let transport = self
            .req
            .dest
            .map(|f| f.transport)
            .unwrap_or(super::flow::TransportKind::Udp);
        let bytes = builder::request("CANCEL", &self.req.request_uri)
            .header(
                "Via",
                format_args!(
                    "SIP/2.0/{} {};branch={};rport",
                    transport.via_token(),
                    self.cfg.sent_by,
                    self.branch
                ),
            )
            .header("Max-Forwards", 70)
            .header("From", format_args!("{};tag={}", self.from, self.local_tag))
            .header("To", &self.to)
            .header("Call-ID", &self.call_id)
            .header("CSeq", format_args!("{} CANCEL", self.cseq))
            .finish();
        self.out.push_back(LegOutput::Request {
            method: Method::Cancel,
            branch: self.branch.clone(),
            bytes,
            dest: self.req.dest,
            next_hop: self.req.request_uri.clone(),
        });
        self.cancel_wanted = true;
    }

    pub fn on_response(&mut self, resp: &InResponse, flow: Flow, now: Instant) {
        match resp.ids.cseq_method {
            Method::Invite => self.on_invite_response(resp, flow),
            Method::Bye if resp.status >= 200 => self.state = UacState::Ended,
            // Our session refresh (the phone asked us to refresh).
            Method::Update => {
                if let Some(s) = self.session.as_mut() {
                    if let Some(cause) = s.on_refresh_response(resp.status, now) {
                        s.bye(&mut self.out);
                        self.end(cause);
                    }
                }
            }
            _ => {}
        }
    }

    fn on_invite_response(&mut self, resp: &InResponse, flow: Flow) {
        match resp.status {
            100 => {}
            101..=199 => {
                if self.state == UacState::Calling {
                    self.state = UacState::Ringing;
                    if self.cancel_wanted {
                        self.send_cancel();
                    } else {
                        self.out.push_back(LegOutput::Ringing);
                    }
                }
            }
            200..=299 => self.on_ok(resp, flow),
            401 | 407 if self.answer_challenge(resp) => {}
            _ => {
                if matches!(self.state, UacState::Calling | UacState::Ringing) {
                    // The transaction ACKed the failure for us.
                    let status = if self.cancel_wanted { 487 } else { resp.status };
                    self.end(EndCause::Failed(status));
                }
            }
        }
    }

    /// A carrier asked who we are: send the INVITE again with credentials (new branch and
    /// CSeq, same dialog identifiers, §22.2). False when we cannot or should not.
    fn answer_challenge(&mut self, resp: &InResponse) -> bool {
        let Some(cred) = self.req.auth.clone() else {
            return false;
        };
        if self.cancel_wanted || self.challenges >= MAX_CHALLENGES {
            return false;
        }
        let Ok(ch) = auth_client::challenge_of(&resp.resp.headers, resp.status) else {
            return false;
        };
        // A repeated challenge that is not about a stale nonce: the password is wrong.
        if self.challenges > 0 && !ch.stale && resp.status == self.last_challenge {
            return false;
        }
        self.challenges += 1;
        self.last_challenge = resp.status;
        let value = auth_client::authorization(
            &ch,
            &cred.user,
            &cred.password,
            "INVITE",
            &self.req.request_uri,
            1,
            &self.rng.token(),
        );
        self.branch = self.rng.branch();
        self.cseq += 1;
        let transport = self
            .req
            .dest
            .map(|f| f.transport)
            .unwrap_or(super::flow::TransportKind::Udp);
        let via = format!(
            "SIP/2.0/{} {};branch={};rport",
            transport.via_token(),
            self.cfg.sent_by,
            self.branch
        );
        let offer = String::from_utf8_lossy(&self.template).into_owned();
        let bytes = invite_bytes(
            &self.req,
            &self.cfg,
            &via,
            &self.from,
            &self.local_tag,
            &self.to,
            &self.call_id,
            self.cseq,
            Some((auth_client::answer_header(resp.status), &value)),
            &offer,
        );
        self.out.push_back(LegOutput::Request {
            method: Method::Invite,
            branch: self.branch.clone(),
            bytes,
            dest: self.req.dest,
            next_hop: self.req.request_uri.clone(),
        });
        true
    }

    fn on_ok(&mut self, resp: &InResponse, flow: Flow) {
        if let Some((bytes, dest, next_hop)) = &self.ack {
            // A retransmitted 2xx: our ACK was lost (§13.2.2.4).
            self.out.push_back(LegOutput::Stateless {
                bytes: bytes.clone(),
                dest: *dest,
                next_hop: next_hop.clone(),
            });
            return;
        }
        let dflow = self.req.dest.unwrap_or(flow);
        let ours = UacIds {
            call_id: &self.call_id,
            local_tag: &self.local_tag,
            local_uri: &self.from,
            remote_uri: &self.to,
            invite_cseq: self.cseq,
        };
        let dialog = match Dialog::uac(ours, resp, dflow, &mut self.rng) {
            Ok(mut d) => {
                d.symmetric = self.req.symmetric;
                d
            }
            Err(_) => {
                // A 2xx we cannot use: still ACK it? Without a To tag or Contact there is no
                // dialog to ACK in; report failure and let the far end time out.
                self.end(EndCause::Failed(502));
                return;
            }
        };
        let answer = sdp::parse(&resp.resp.body).and_then(|sd| sdp::read_answer(&sd));
        let (ack_b, _) = dialog.ack(self.cseq, &self.cfg.sent_by);
        let ack = ack_b.finish();
        let dest = dialog.destination();
        let next_hop = dialog.next_hop();
        self.out.push_back(LegOutput::Stateless {
            bytes: ack.clone(),
            dest,
            next_hop: next_hop.clone(),
        });
        self.ack = Some((ack, dest, next_hop));
        let media = answer.ok().map(|mut n| {
            self.origin.complete(&mut n);
            n
        });
        // We required SRTP and the phone answered in clear: no call (its audio would be
        // unprotected).
        let media = media.filter(|n| self.req.srtp != Some(true) || n.srtp.is_some());
        let mut session = InDialog::new(
            dialog,
            self.cfg.clone(),
            std::mem::take(&mut self.origin),
            media.clone(),
        );
        if self.cancel_wanted || self.state == UacState::Ended {
            // Answered after we gave up (CANCEL crossed the 200): hang up at once.
            session.bye(&mut self.out);
            self.session = Some(session);
            self.end(EndCause::LocalBye);
            return;
        }
        let Some(media) = media else {
            // No usable answer: end it (§13.2.1).
            session.bye(&mut self.out);
            self.session = Some(session);
            self.end(EndCause::Failed(488));
            return;
        };
        self.session = Some(session);
        self.state = UacState::Confirmed;
        self.out.push_back(LegOutput::Answered);
        self.out.push_back(LegOutput::Media(media));
    }

    /// An in-dialog request from the far end (BYE, re-INVITE, INFO …).
    pub fn on_request(&mut self, tx: TxId, req: &InRequest, now: Instant) {
        let Some(s) = self.session.as_mut() else {
            let bytes = builder::response(&req.req, 481, Some(&self.local_tag)).finish();
            self.out.push_back(LegOutput::Respond {
                tx,
                status: 481,
                bytes,
            });
            return;
        };
        s.on_request(tx, req, now, &mut self.out);
        if s.is_ended() {
            self.state = UacState::Ended;
        }
    }

    pub fn on_ack(&mut self, ack: &InRequest) {
        if let Some(s) = self.session.as_mut() {
            if !s.on_ack(ack, &mut self.out) {
                s.bye(&mut self.out);
                self.end(EndCause::BadAck);
            }
        }
    }

    pub fn on_tx_timeout(&mut self, method: Method, server: bool) {
        match (method, server) {
            (Method::Invite, false) if self.state != UacState::Confirmed => {
                self.end(EndCause::Failed(408));
            }
            (Method::Bye, false) => self.state = UacState::Ended,
            (Method::Update, false) => {
                if let Some(s) = self.session.as_mut() {
                    if let Some(cause) = s.on_refresh_timeout() {
                        s.bye(&mut self.out);
                        self.end(cause);
                    }
                }
            }
            _ => {}
        }
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.session.as_ref().and_then(|s| s.deadline())
    }

    pub fn on_timer(&mut self, now: Instant) {
        if let Some(s) = self.session.as_mut() {
            if let Some(cause) = s.on_timer(now, &mut self.out) {
                s.bye(&mut self.out);
                self.end(cause);
            }
        }
    }

    fn end(&mut self, cause: EndCause) {
        if self.state != UacState::Ended {
            self.state = UacState::Ended;
            self.out.push_back(LegOutput::Ended(cause));
        }
    }
}

/// An INVITE with our offer (`auth`: the credentials header answering a challenge).
#[allow(clippy::too_many_arguments)]
fn invite_bytes(
    req: &Originate,
    cfg: &LegConfig,
    via: &str,
    from: &str,
    local_tag: &str,
    to: &str,
    call_id: &str,
    cseq: u32,
    auth: Option<(&str, &str)>,
    offer: &str,
) -> Bytes {
    let transport = req
        .dest
        .map(|f| f.transport)
        .unwrap_or(super::flow::TransportKind::Udp);
    let mut b = builder::request("INVITE", &req.request_uri)
        .header("Via", via)
        .header("Max-Forwards", 70)
        .header("From", format_args!("{from};tag={local_tag}"))
        .header("To", to)
        .header("Call-ID", call_id)
        .header("CSeq", format_args!("{cseq} INVITE"))
        .header("Contact", contact(&cfg.sent_by, transport))
        .header("Allow", builder::ALLOW)
        .header("User-Agent", builder::SERVER);
    if let Some((name, value)) = auth {
        b.push_header(name, value);
    }
    for (n, v) in &req.headers {
        b.push_header(n, v);
    }
    b.body(Some("application/sdp"), offer.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::flow::TransportKind;
    use crate::sip::message::{parse_datagram, Incoming};
    use crate::sip::transaction::Timers;

    fn flow() -> Flow {
        Flow {
            transport: TransportKind::Udp,
            local: "127.0.0.1:5060".parse().unwrap(),
            remote: "127.0.0.1:6000".parse().unwrap(),
            conn: 0,
        }
    }

    fn leg() -> OutboundLeg {
        let cfg = LegConfig {
            sent_by: "127.0.0.1:5060".into(),
            media_ip: "127.0.0.1".parse().unwrap(),
            media_port: 30000,
            timers: Timers::default(),
            min_se: crate::sip::leg::MIN_SE,
        };
        let req = Originate {
            request_uri: "sip:marie@127.0.0.1:6000".into(),
            to: "sip:marie@centrale".into(),
            from_user: "5145550100".into(),
            from_display: Some("Citizen".into()),
            headers: vec![("X-Centrale-Context".into(), "lang=fr".into())],
            dest: Some(flow()),
            symmetric: true,
            auth: None,
            srtp: None,
        };
        OutboundLeg::invite(req, cfg, "127.0.0.1", Random::seeded(3))
    }

    fn outputs(l: &mut OutboundLeg) -> Vec<LegOutput> {
        std::iter::from_fn(|| l.poll()).collect()
    }

    fn text(o: &LegOutput) -> String {
        match o {
            LegOutput::Request { bytes, .. } | LegOutput::Stateless { bytes, .. } => {
                String::from_utf8_lossy(bytes).into_owned()
            }
            other => format!("{other:?}"),
        }
    }

    fn response(l: &OutboundLeg, status: u16, to_tag: &str, sdp: bool) -> InResponse {
        let body = if sdp {
            "v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        } else {
            ""
        };
        let raw = format!(
            "SIP/2.0 {status} X\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch={}\r\nFrom: <sip:5145550100@127.0.0.1>;tag={}\r\nTo: <sip:marie@centrale>{to_tag}\r\nCall-ID: {}\r\nCSeq: 1 INVITE\r\nContact: <sip:marie@127.0.0.1:6000>\r\n{}Content-Length: {}\r\n\r\n{body}",
            l.branch,
            l.local_tag,
            l.call_id,
            if sdp { "Content-Type: application/sdp\r\n" } else { "" },
            body.len()
        );
        match parse_datagram(raw.as_bytes()).unwrap() {
            Incoming::Response(r) => r,
            _ => unreachable!(),
        }
    }

    #[test]
    fn invite_carries_offer_context_and_caller() {
        let mut l = leg();
        let out = outputs(&mut l);
        assert_eq!(out.len(), 1);
        let inv = text(&out[0]);
        assert!(inv.starts_with("INVITE sip:marie@127.0.0.1:6000 SIP/2.0\r\n"));
        assert!(inv.contains("From: \"Citizen\" <sip:5145550100@127.0.0.1>;tag="));
        assert!(inv.contains("X-Centrale-Context: lang=fr"));
        assert!(inv.contains("m=audio 30000 RTP/AVP 0 8 101"));
        assert!(parse_datagram(inv.as_bytes()).is_ok());
    }

    #[test]
    fn cancel_waits_for_a_provisional() {
        let mut l = leg();
        outputs(&mut l);
        l.cancel();
        assert!(
            outputs(&mut l).is_empty(),
            "no CANCEL before a provisional (§9.1)"
        );
        let now = Instant::now();
        l.on_response(&response(&l, 180, ";tag=x", false), flow(), now);
        let out = outputs(&mut l);
        assert_eq!(out.len(), 1, "{out:?}");
        let cancel = text(&out[0]);
        assert!(cancel.starts_with("CANCEL sip:marie@127.0.0.1:6000 SIP/2.0"));
        assert!(cancel.contains(&format!("branch={}", l.branch)));
        assert!(cancel.contains("CSeq: 1 CANCEL"));
        l.on_response(&response(&l, 487, ";tag=x", false), flow(), now);
        assert_eq!(
            outputs(&mut l),
            vec![LegOutput::Ended(EndCause::Failed(487))]
        );
    }

    #[test]
    fn answer_is_acked_and_a_retransmitted_2xx_acked_again() {
        let mut l = leg();
        outputs(&mut l);
        let now = Instant::now();
        let ok = response(&l, 200, ";tag=agent", true);
        l.on_response(&ok, flow(), now);
        let out = outputs(&mut l);
        assert!(text(&out[0]).starts_with("ACK sip:marie@127.0.0.1:6000 SIP/2.0"));
        assert!(text(&out[0]).contains("CSeq: 1 ACK"));
        assert_eq!(out[1], LegOutput::Answered);
        assert!(matches!(out[2], LegOutput::Media(_)));
        assert_eq!(l.state(), UacState::Confirmed);
        l.on_response(&ok, flow(), now);
        let again = outputs(&mut l);
        assert_eq!(again.len(), 1);
        assert!(text(&again[0]).starts_with("ACK "));
        l.hangup();
        let out = outputs(&mut l);
        assert!(text(&out[0]).starts_with("BYE sip:marie@127.0.0.1:6000 SIP/2.0"));
        assert_eq!(out[1], LegOutput::Ended(EndCause::LocalBye));
    }

    #[test]
    fn answer_after_cancel_is_acked_then_hung_up() {
        let mut l = leg();
        outputs(&mut l);
        let now = Instant::now();
        l.on_response(&response(&l, 180, ";tag=agent", false), flow(), now);
        outputs(&mut l);
        l.cancel();
        outputs(&mut l);
        // The 200 crossed our CANCEL.
        l.on_response(&response(&l, 200, ";tag=agent", true), flow(), now);
        let out: Vec<String> = outputs(&mut l).iter().map(text).collect();
        assert!(out[0].starts_with("ACK "), "{out:?}");
        assert!(out[1].starts_with("BYE "), "{out:?}");
        assert_eq!(l.state(), UacState::Ended);
    }

    fn challenged(l: &OutboundLeg, status: u16, header: &str, value: &str) -> InResponse {
        let raw = format!(
            "SIP/2.0 {status} X\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch={}\r\nFrom: <sip:5145550100@127.0.0.1>;tag={}\r\nTo: <sip:marie@centrale>;tag=c\r\nCall-ID: {}\r\nCSeq: {} INVITE\r\n{header}: {value}\r\nContent-Length: 0\r\n\r\n",
            l.branch, l.local_tag, l.call_id, l.cseq
        );
        match parse_datagram(raw.as_bytes()).unwrap() {
            Incoming::Response(r) => r,
            _ => unreachable!(),
        }
    }

    #[test]
    fn a_proxy_challenge_is_answered_once_with_the_trunks_credentials() {
        use crate::sip::digest;
        let mut l = leg();
        l.req.auth = Some(ClientCredentials {
            user: "ville".into(),
            password: "s3cret".into(),
        });
        let first = text(&outputs(&mut l)[0]);
        let branch1 = l.branch.clone();
        let ch = "Digest realm=\"carrier\", nonce=\"n1\", qop=\"auth\", algorithm=MD5";
        let now = Instant::now();
        l.on_response(&challenged(&l, 407, "Proxy-Authenticate", ch), flow(), now);
        let out = outputs(&mut l);
        assert_eq!(out.len(), 1, "{out:?}");
        let again = text(&out[0]);
        assert!(again.starts_with("INVITE sip:marie@127.0.0.1:6000 SIP/2.0"));
        assert!(again.contains("CSeq: 2 INVITE"));
        assert_ne!(l.branch, branch1, "a new transaction");
        let call_id = |t: &str| {
            t.lines()
                .find(|x| x.starts_with("Call-ID:"))
                .map(str::to_string)
        };
        assert_eq!(call_id(&again), call_id(&first), "same dialog identifiers");
        assert!(again.contains("X-Centrale-Context: lang=fr"));
        assert!(again.contains("m=audio 30000"), "the offer again");
        assert!(!again.contains("s3cret"));
        let auth = again
            .lines()
            .find_map(|x| x.strip_prefix("Proxy-Authorization: "))
            .expect("Proxy-Authorization");
        let cred = digest::parse_credentials(auth).unwrap();
        let ha1 = digest::ha1(digest::Algorithm::Md5, "ville", "carrier", "s3cret");
        assert!(digest::verify(&cred, "INVITE", &ha1));
        // Challenged again with a fresh (not stale) nonce: the password is wrong; give up.
        let ch2 = "Digest realm=\"carrier\", nonce=\"n2\", qop=\"auth\"";
        l.on_response(&challenged(&l, 407, "Proxy-Authenticate", ch2), flow(), now);
        assert_eq!(
            outputs(&mut l),
            vec![LegOutput::Ended(EndCause::Failed(407))]
        );
        // Without credentials a challenge simply fails the leg.
        let mut l = leg();
        outputs(&mut l);
        l.on_response(&challenged(&l, 401, "WWW-Authenticate", ch), flow(), now);
        assert_eq!(
            outputs(&mut l),
            vec![LegOutput::Ended(EndCause::Failed(401))]
        );
    }

    #[test]
    fn busy_and_timeout_fail_the_leg() {
        let mut l = leg();
        outputs(&mut l);
        l.on_response(&response(&l, 486, ";tag=x", false), flow(), Instant::now());
        assert_eq!(
            outputs(&mut l),
            vec![LegOutput::Ended(EndCause::Failed(486))]
        );
        let mut l = leg();
        outputs(&mut l);
        l.on_tx_timeout(Method::Invite, false);
        assert_eq!(
            outputs(&mut l),
            vec![LegOutput::Ended(EndCause::Failed(408))]
        );
    }
}
