//! What both kinds of call leg share once their dialog exists: answering in-dialog requests
//! (BYE, re-INVITE for hold/resume/refresh with a correct SDP answer, INFO DTMF, OPTIONS, the
//! rest refused), retransmitting our 2xx to a re-INVITE until the ACK, reading a late answer
//! in the ACK, and sending our BYE. The caller's leg (`uas`) and the legs we originate to
//! agents and transfer targets (`uac`) each own one `InDialog`.
//!
//! Sans-IO: events and `now` in, `LegOutput`s out.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Instant;

use bytes::Bytes;

use super::builder::{self, ACCEPT, ALLOW, SUPPORTED};
use super::dialog::{Dialog, OkRetransmit, OkRetransmitOutput};
use super::endpoint::TxId;
use super::flow::{Flow, TransportKind};
use super::message::{content_type, InRequest, Method};
use super::sdp::{self, Negotiated, Origin, SdpError};
use super::transaction::Timers;

/// What a leg needs to know about us.
#[derive(Debug, Clone)]
pub struct LegConfig {
    /// Our sent-by for Via (`host:port` of the transport the leg uses).
    pub sent_by: String,
    pub media_ip: IpAddr,
    pub media_port: u16,
    pub timers: Timers,
    /// The shortest session-timer interval we run (RFC 4028 Min-SE), seconds.
    pub min_se: u32,
}

/// Why a leg ended (recorded in the call log as hang-up side and cause).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndCause {
    /// The peer sent BYE.
    RemoteBye,
    /// The caller cancelled before we answered.
    Cancelled,
    /// We hung up.
    LocalBye,
    /// We refused or redirected the call with this final status.
    Rejected(u16),
    /// Our 2xx was never acknowledged.
    NoAck,
    /// A late-offer ACK carried no usable answer.
    BadAck,
    /// A leg we originated failed before being answered (status, or 408 on timeout).
    Failed(u16),
    /// The peer stopped refreshing the session (RFC 4028): it is gone; we sent BYE.
    SessionExpired,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegOutput {
    Respond {
        tx: TxId,
        status: u16,
        bytes: Bytes,
    },
    /// A request in a client transaction; `dest` None means resolve `next_hop` first.
    Request {
        method: Method,
        branch: String,
        bytes: Bytes,
        dest: Option<Flow>,
        next_hop: String,
    },
    /// Bytes outside any transaction (the ACK of a 2xx we received).
    Stateless {
        bytes: Bytes,
        dest: Option<Flow>,
        next_hop: String,
    },
    /// A leg we originate is ringing.
    Ringing,
    /// A leg we originate was answered (its media follows as `Media`).
    Answered,
    /// Media parameters changed (answer given, hold, resume, late-offer ACK).
    Media(Negotiated),
    /// A digit from SIP INFO.
    Dtmf(char),
    /// The peer asks us to transfer the call (REFER, RFC 3515): the Refer-To URI's user part
    /// (a queue, a plan target, a number) — answered 202; progress goes back by NOTIFY.
    Refer(String),
    /// The peer asks us to connect the far end of this call to the far end of another of its
    /// calls (REFER with Replaces, RFC 3891: an attended transfer); the Call-ID that Replaces
    /// names — answered 202; progress goes back by NOTIFY.
    ReferReplaces(String),
    Ended(EndCause),
}

/// Why a request that would start or change a session cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub reason: String,
    /// Headers the refusal must carry (e.g. `Min-SE` on a 422).
    pub headers: Vec<(&'static str, String)>,
}

/// Read the SDP offer of an INVITE, if it carries one (§13.3.1: none = late offer).
/// `secure`: it came over TLS, so SDES keys in it are acceptable (RFC 4568 §8.3: never over a
/// clear transport); an RTP/SAVP offer over a clear one is refused, keys offered best-effort
/// in RTP/AVP are ignored.
pub fn read_offer(req: &InRequest, secure: bool) -> Result<Option<Negotiated>, Refusal> {
    if req.req.body.is_empty() {
        return Ok(None);
    }
    match content_type(&req.req.headers).as_deref() {
        Some("application/sdp") | None => {}
        Some(other) => {
            return Err(Refusal {
                status: 415,
                reason: format!("unsupported body {other}"),
                headers: Vec::new(),
            })
        }
    }
    let sd = sdp::parse(&req.req.body).map_err(|e| Refusal {
        status: 400,
        reason: e.to_string(),
        headers: Vec::new(),
    })?;
    match sdp::negotiate_offer(&sd) {
        Ok(n) if !secure && n.srtp.as_ref().is_some_and(|s| s.savp) => Err(Refusal {
            status: 488,
            reason: "SRTP keys are only exchanged over TLS (sips: or transport=tls)".into(),
            headers: Vec::new(),
        }),
        Ok(mut n) => {
            if !secure {
                n.srtp = None;
            }
            Ok(Some(n))
        }
        Err(e @ (SdpError::NoCommonCodec | SdpError::NoAudio | SdpError::NoCommonCrypto)) => {
            Err(Refusal {
                status: 488,
                reason: e.to_string(),
                headers: Vec::new(),
            })
        }
        Err(e) => Err(Refusal {
            status: 400,
            reason: e.to_string(),
            headers: Vec::new(),
        }),
    }
}

fn is_dtmf(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D')
}

/// `application/dtmf-relay` body: "Signal=5\r\nDuration=160".
pub fn parse_dtmf_relay(body: &[u8]) -> Option<char> {
    let text = std::str::from_utf8(body).ok()?;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("signal") {
            return None;
        }
        let v = v.trim();
        let c = match v {
            "10" => '*',
            "11" => '#',
            _ => v.chars().next()?.to_ascii_uppercase(),
        };
        is_dtmf(c).then_some(c)
    })
}

/// Our Contact for a leg on this transport.
pub fn contact(sent_by: &str, transport: TransportKind) -> String {
    match transport {
        TransportKind::Udp => format!("<sip:centrale@{sent_by}>"),
        TransportKind::Tcp => format!("<sip:centrale@{sent_by};transport=tcp>"),
        TransportKind::Tls => format!("<sip:centrale@{sent_by};transport=tls>"),
    }
}

/// A confirmed dialog and the session on it.
#[derive(Debug)]
pub struct InDialog {
    pub dialog: Dialog,
    cfg: LegConfig,
    origin: Origin,
    /// Current media agreement.
    pub media: Option<Negotiated>,
    ok: Option<OkRetransmit>,
    /// CSeq and server transaction of the INVITE whose 2xx awaits an ACK.
    ok_cseq: u32,
    ok_tx: TxId,
    /// The pending 2xx carried our offer: the ACK must carry the answer.
    answer_in_ack: bool,
    ended: bool,
    /// A REFER accepted: its implicit subscription is live until a final NOTIFY.
    refer_pending: bool,
    /// The session timer the peer refreshes (RFC 4028), when one was negotiated.
    timer: Option<SessionTimer>,
}

/// Smallest session interval we run by default, seconds (RFC 4028's Min-SE default).
pub const MIN_SE: u32 = 90;

/// A negotiated session timer (RFC 4028). Refreshed by the peer (the UAC): if no refresh
/// (re-INVITE or UPDATE) arrives by `expires`, the peer is gone. Refreshed by us (the UAC
/// asked `refresher=uas`): we send UPDATE at half the interval (`refresh_at`); a refresh the
/// peer answers 408 or 481, or never answers, means it is gone.
#[derive(Debug, Clone, Copy)]
struct SessionTimer {
    expires: Instant,
    /// We refresh: the interval (s), when the next UPDATE goes, and whether one is out.
    ours: Option<(u32, Instant, bool)>,
}

/// `Session-Expires: 1800;refresher=uac` (compact `x`): the interval and whether the UAC was
/// named refresher (None: not said).
pub fn session_expires(req: &InRequest) -> Option<(u32, Option<bool>)> {
    let v = super::message::header_value(&req.req.headers, "Session-Expires")
        .or_else(|| super::message::header_value(&req.req.headers, "x"))?;
    let mut parts = v.split(';');
    let secs = parts.next()?.trim().parse::<u32>().ok()?;
    let mut refresher = None;
    for p in parts {
        if let Some((k, val)) = p.split_once('=') {
            if k.trim().eq_ignore_ascii_case("refresher") {
                refresher = Some(val.trim().eq_ignore_ascii_case("uac"));
            }
        }
    }
    Some((secs, refresher))
}

/// Whether the request's Supported (or compact `k`) lists an option tag.
/// Whether the request's Allow header lists `method` (RFC 3311 §5.1: UPDATE only to a peer
/// that said it accepts it).
fn allows(req: &InRequest, method: &str) -> bool {
    req.req.headers.iter().any(|h| {
        h.name().eq_ignore_ascii_case("Allow")
            && h.value()
                .split(',')
                .any(|m| m.trim().eq_ignore_ascii_case(method))
    })
}

pub(crate) fn supports(req: &InRequest, tag: &str) -> bool {
    req.req.headers.iter().any(|h| {
        (h.name().eq_ignore_ascii_case("Supported") || h.name().eq_ignore_ascii_case("k"))
            && h.value()
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(tag))
    })
}

impl InDialog {
    pub fn new(dialog: Dialog, cfg: LegConfig, origin: Origin, media: Option<Negotiated>) -> Self {
        InDialog {
            dialog,
            cfg,
            origin,
            media,
            ok: None,
            ok_cseq: 0,
            ok_tx: 0,
            answer_in_ack: false,
            ended: false,
            refer_pending: false,
            timer: None,
        }
    }

    /// The session timer for the INVITE (or refreshing UPDATE) we are about to accept: the
    /// header our 2xx carries (and whether to Require it). We take the timer when the UAC
    /// supports it: it refreshes (refresher=uac, or unsaid — we then choose the UAC), or, when
    /// it asks us to (refresher=uas) and accepts UPDATE, we do. Otherwise no timer.
    fn negotiate_timer(&mut self, req: &InRequest, now: Instant) -> Option<(String, bool)> {
        self.timer = None;
        let (secs, refresher) = session_expires(req)?;
        if !supports(req, "timer") {
            return None;
        }
        let interval = secs.max(self.cfg.min_se.max(1));
        let secs_from_now = |s: u32| now + std::time::Duration::from_secs(u64::from(s));
        if refresher == Some(false) {
            if !allows(req, "UPDATE") {
                return None;
            }
            self.timer = Some(SessionTimer {
                expires: secs_from_now(interval),
                ours: Some((interval, secs_from_now(interval / 2), false)),
            });
            return Some((format!("{interval};refresher=uas"), true));
        }
        // RFC 4028 §10: the side that does not refresh ends the session a little before the
        // interval runs out: min(32 s, interval / 3).
        let margin = (interval / 3).min(32);
        self.timer = Some(SessionTimer {
            expires: secs_from_now(interval - margin),
            ours: None,
        });
        Some((format!("{interval};refresher=uac"), true))
    }

    /// Our refreshing UPDATE was answered: 2xx renews the session; 408 and 481 say the peer
    /// is gone (RFC 4028 §10); anything else leaves the session up without a timer.
    pub fn on_refresh_response(&mut self, status: u16, now: Instant) -> Option<EndCause> {
        let t = self.timer.as_mut()?;
        let (interval, _, true) = t.ours? else {
            return None;
        };
        match status {
            200..=299 => {
                let at = |s: u32| now + std::time::Duration::from_secs(u64::from(s));
                t.expires = at(interval);
                t.ours = Some((interval, at(interval / 2), false));
                None
            }
            408 | 481 => {
                self.timer = None;
                Some(EndCause::SessionExpired)
            }
            100..=199 => None,
            _ => {
                self.timer = None;
                None
            }
        }
    }

    /// Our refreshing UPDATE was never answered: the peer is gone.
    pub fn on_refresh_timeout(&mut self) -> Option<EndCause> {
        let t = self.timer?;
        matches!(t.ours, Some((_, _, true))).then(|| {
            self.timer = None;
            EndCause::SessionExpired
        })
    }

    /// Send the refreshing UPDATE (no body: the session's media do not change).
    fn refresh(&mut self, interval: u32, out: &mut VecDeque<LegOutput>) {
        let (b, branch) = self.dialog.request(Method::Update, &self.cfg.sent_by);
        let bytes = b
            .header("Session-Expires", format!("{interval};refresher=uac"))
            .header("Supported", SUPPORTED)
            .header("Contact", self.contact())
            .finish();
        out.push_back(LegOutput::Request {
            method: Method::Update,
            branch,
            bytes,
            dest: self.dialog.destination(),
            next_hop: self.dialog.next_hop(),
        });
    }

    pub fn local_tag(&self) -> &str {
        &self.dialog.local_tag
    }

    pub fn contact(&self) -> String {
        contact(&self.cfg.sent_by, self.dialog.flow.transport)
    }

    /// Whether a 2xx of ours still waits for its ACK.
    pub fn awaiting_ack(&self) -> bool {
        self.ok.is_some()
    }

    pub fn origin_mut(&mut self) -> &mut Origin {
        &mut self.origin
    }

    /// A 2xx to an INVITE with this SDP body: written, retransmitted until the ACK.
    pub fn send_ok(
        &mut self,
        tx: TxId,
        req: &InRequest,
        sdp: &str,
        answer_in_ack: bool,
        now: Instant,
        out: &mut VecDeque<LegOutput>,
    ) {
        let mut b = builder::with_record_route(
            builder::response(&req.req, 200, Some(&self.dialog.local_tag)),
            &req.req,
        )
        .header("Contact", self.contact())
        .header("Allow", ALLOW)
        .header("Supported", SUPPORTED);
        if let Some((se, require)) = self.negotiate_timer(req, now) {
            b.push_header("Session-Expires", &se);
            if require {
                b.push_header("Require", "timer");
            }
        }
        let bytes = b.body(Some("application/sdp"), sdp.as_bytes());
        self.ok_cseq = req.ids.cseq;
        self.ok_tx = tx;
        self.answer_in_ack = answer_in_ack;
        self.ok = Some(OkRetransmit::new(
            bytes.clone(),
            self.cfg.timers,
            self.dialog.flow.transport.reliability().is_reliable(),
            now,
        ));
        out.push_back(LegOutput::Respond {
            tx,
            status: 200,
            bytes,
        });
    }

    fn respond(
        &self,
        tx: TxId,
        req: &InRequest,
        status: u16,
        extra: &[(&str, String)],
        out: &mut VecDeque<LegOutput>,
    ) {
        let mut b = builder::response(&req.req, status, Some(&self.dialog.local_tag));
        for (n, v) in extra {
            b.push_header(n, v);
        }
        out.push_back(LegOutput::Respond {
            tx,
            status,
            bytes: b.finish(),
        });
    }

    /// An in-dialog request from the peer.
    pub fn on_request(
        &mut self,
        tx: TxId,
        req: &InRequest,
        now: Instant,
        out: &mut VecDeque<LegOutput>,
    ) {
        if self.ended || req.ids.to_tag.as_deref() != Some(self.dialog.local_tag.as_str()) {
            self.respond(tx, req, 481, &[], out);
            return;
        }
        if let Err(status) = self.dialog.accept_remote_cseq(req) {
            self.respond(tx, req, status, &[], out);
            return;
        }
        match req.req.method {
            Method::Bye => {
                self.respond(tx, req, 200, &[], out);
                self.ok = None;
                self.ended = true;
                out.push_back(LegOutput::Ended(EndCause::RemoteBye));
            }
            Method::Invite => self.on_reinvite(tx, req, now, out),
            Method::Info => {
                let digit = match content_type(&req.req.headers).as_deref() {
                    Some("application/dtmf-relay") => parse_dtmf_relay(&req.req.body),
                    Some("application/dtmf") => std::str::from_utf8(&req.req.body)
                        .ok()
                        .and_then(|s| s.trim().chars().next())
                        .filter(|c| is_dtmf(*c)),
                    _ => None,
                };
                self.respond(tx, req, 200, &[], out);
                if let Some(d) = digit {
                    out.push_back(LegOutput::Dtmf(d));
                }
            }
            Method::Options => {
                let extra = [
                    ("Allow", ALLOW.to_string()),
                    ("Accept", ACCEPT.to_string()),
                    ("Supported", SUPPORTED.to_string()),
                ];
                self.respond(tx, req, 200, &extra, out);
            }
            Method::Refer => self.on_refer(tx, req, out),
            // Our NOTIFYs' subscriptions are implicit; a peer's NOTIFY for one of its own
            // REFERs (we send none) is simply acknowledged.
            Method::Notify => self.respond(tx, req, 200, &[], out),
            // A session refresh by UPDATE (RFC 4028 §7.4) without a new offer.
            Method::Update if req.req.body.is_empty() => {
                let mut extra = vec![("Supported", SUPPORTED.to_string())];
                if let Some((se, require)) = self.negotiate_timer(req, now) {
                    extra.push(("Session-Expires", se));
                    if require {
                        extra.push(("Require", "timer".into()));
                    }
                }
                self.respond(tx, req, 200, &extra, out);
            }
            Method::Update | Method::PRack => self.respond(tx, req, 501, &[], out),
            _ => self.respond(tx, req, 405, &[("Allow", ALLOW.to_string())], out),
        }
    }

    /// REFER (RFC 3515): one transfer at a time; the target is the Refer-To URI's user part,
    /// or — with Replaces (RFC 3891, an attended transfer) — the dialog it names.
    fn on_refer(&mut self, tx: TxId, req: &InRequest, out: &mut VecDeque<LegOutput>) {
        let refer_to = super::message::header_value(&req.req.headers, "Refer-To")
            .or_else(|| super::message::header_value(&req.req.headers, "r"));
        let Some(refer_to) = refer_to else {
            self.respond(
                tx,
                req,
                400,
                &[("Warning", "399 centrale \"no Refer-To\"".into())],
                out,
            );
            return;
        };
        let replaces = match replaces_call_id(refer_to) {
            Some(Ok(call_id)) => Some(call_id),
            Some(Err(())) => {
                self.respond(
                    tx,
                    req,
                    400,
                    &[("Warning", "399 centrale \"unusable Replaces\"".into())],
                    out,
                );
                return;
            }
            None => None,
        };
        let user = refer_to_user(refer_to);
        if replaces.is_none() && (user.is_empty() || user.len() > 64) {
            self.respond(
                tx,
                req,
                400,
                &[("Warning", "399 centrale \"unusable Refer-To\"".into())],
                out,
            );
            return;
        }
        if self.refer_pending {
            self.respond(tx, req, 491, &[], out);
            return;
        }
        self.refer_pending = true;
        self.respond(tx, req, 202, &[("Contact", self.contact())], out);
        out.push_back(match replaces {
            Some(call_id) => LegOutput::ReferReplaces(call_id),
            None => LegOutput::Refer(user),
        });
    }

    /// NOTIFY the progress of an accepted REFER (a sipfrag with the transfer's status); a
    /// final status ends the implicit subscription.
    pub fn notify_refer(&mut self, status: u16, out: &mut VecDeque<LegOutput>) {
        if !self.refer_pending || self.ended {
            return;
        }
        let last = status >= 200;
        if last {
            self.refer_pending = false;
        }
        let state = if last {
            "terminated;reason=noresource".to_string()
        } else {
            "active;expires=60".to_string()
        };
        let frag = format!("SIP/2.0 {status} {}\r\n", builder::reason(status));
        let (b, branch) = self.dialog.request(Method::Notify, &self.cfg.sent_by);
        let bytes = b
            .header("Event", "refer")
            .header("Subscription-State", state)
            .header("Contact", self.contact())
            .body(Some("message/sipfrag;version=2.0"), frag.as_bytes());
        out.push_back(LegOutput::Request {
            method: Method::Notify,
            branch,
            bytes,
            dest: self.dialog.destination(),
            next_hop: self.dialog.next_hop(),
        });
    }

    fn on_reinvite(
        &mut self,
        tx: TxId,
        req: &InRequest,
        now: Instant,
        out: &mut VecDeque<LegOutput>,
    ) {
        let secure = self.dialog.flow.transport == super::flow::TransportKind::Tls;
        let offer = match read_offer(req, secure) {
            Ok(o) => o,
            Err(r) => {
                let warning = format!("399 centrale \"{}\"", r.reason.replace('"', "'"));
                self.respond(tx, req, r.status, &[("Warning", warning)], out);
                return;
            }
        };
        let (sdp, answer_in_ack) = match offer {
            Some(mut n) => {
                self.origin.complete(&mut n);
                self.media = Some(n.clone());
                out.push_back(LegOutput::Media(n.clone()));
                let s = sdp::answer(&mut self.origin, &n, self.cfg.media_ip, self.cfg.media_port);
                (s, false)
            }
            None => {
                // Re-INVITE without SDP: we offer, the ACK answers (§14.2).
                let dir = self
                    .media
                    .as_ref()
                    .map(|m| m.local_direction)
                    .unwrap_or(sdp::Direction::SendRecv);
                let s = sdp::offer(
                    &mut self.origin,
                    self.cfg.media_ip,
                    self.cfg.media_port,
                    dir,
                );
                (s, true)
            }
        };
        self.send_ok(tx, req, &sdp, answer_in_ack, now, out);
    }

    /// The ACK for a 2xx of ours. Returns false if a late-offer ACK lacked its answer (the
    /// caller must then end the call, §13.2.1).
    pub fn on_ack(&mut self, ack: &InRequest, out: &mut VecDeque<LegOutput>) -> bool {
        if self.ok.is_none() || ack.ids.cseq != self.ok_cseq {
            return true;
        }
        self.ok = None;
        if !std::mem::take(&mut self.answer_in_ack) {
            return true;
        }
        let answer = (!ack.req.body.is_empty())
            .then(|| sdp::parse(&ack.req.body).and_then(|sd| sdp::read_answer(&sd)));
        match answer {
            Some(Ok(mut n)) => {
                self.origin.complete(&mut n);
                self.media = Some(n.clone());
                out.push_back(LegOutput::Media(n));
                true
            }
            _ => false,
        }
    }

    pub fn deadline(&self) -> Option<Instant> {
        let ok = self.ok.as_ref().map(|o| o.deadline());
        let timer = self
            .timer
            .map(|t| match t.ours {
                Some((_, at, false)) => at.min(t.expires),
                _ => t.expires,
            })
            .filter(|_| !self.ended);
        match (ok, timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Retransmit our 2xx and watch the session timer; why the leg must end (the caller then
    /// sends BYE): our 2xx never acknowledged, or the session not refreshed in time.
    pub fn on_timer(&mut self, now: Instant, out: &mut VecDeque<LegOutput>) -> Option<EndCause> {
        if self.timer.is_some_and(|t| now >= t.expires) && !self.ended {
            self.timer = None;
            return Some(EndCause::SessionExpired);
        }
        if let Some(t) = self.timer.as_mut().filter(|_| !self.ended) {
            if let Some((interval, at, false)) = t.ours {
                if now >= at {
                    t.ours = Some((interval, at, true));
                    self.refresh(interval, out);
                }
            }
        }
        self.on_ok_timer(now, out).then_some(EndCause::NoAck)
    }

    fn on_ok_timer(&mut self, now: Instant, out: &mut VecDeque<LegOutput>) -> bool {
        let Some(ok) = self.ok.as_mut() else {
            return false;
        };
        match ok.on_timer(now) {
            Some(OkRetransmitOutput::Resend(bytes)) => {
                // The INVITE's server transaction is in Accepted and passes 2xx through.
                out.push_back(LegOutput::Respond {
                    tx: self.ok_tx,
                    status: 200,
                    bytes,
                });
                false
            }
            Some(OkRetransmitOutput::GiveUp) => {
                self.ok = None;
                true
            }
            None => false,
        }
    }

    /// Send BYE (the BYE's own transaction lives on in the endpoint; the leg is over for us).
    pub fn bye(&mut self, out: &mut VecDeque<LegOutput>) {
        if self.ended {
            return;
        }
        self.ended = true;
        self.ok = None;
        let (b, branch) = self.dialog.request(Method::Bye, &self.cfg.sent_by);
        let bytes = b
            .header("Reason", "SIP;cause=200;text=\"Call completed\"")
            .finish();
        out.push_back(LegOutput::Request {
            method: Method::Bye,
            branch,
            bytes,
            dest: self.dialog.destination(),
            next_hop: self.dialog.next_hop(),
        });
    }

    pub fn is_ended(&self) -> bool {
        self.ended
    }
}

/// The Call-ID a Refer-To URI's `Replaces` header names (`<sip:luc@h?Replaces=abc%40h%3Bto-tag
/// %3D1%3Bfrom-tag%3D2>`): None without one, Err when it is there but unusable.
pub fn replaces_call_id(value: &str) -> Option<Result<String, ()>> {
    let headers = value.split_once('?')?.1;
    let headers = headers.split('>').next().unwrap_or("");
    let raw = headers.split('&').find_map(|h| {
        let (name, v) = h.split_once('=')?;
        name.trim().eq_ignore_ascii_case("replaces").then_some(v)
    })?;
    let decoded = percent_decode(raw).ok_or(());
    Some(decoded.and_then(|d| {
        let call_id = d.split(';').next().unwrap_or("").trim().to_string();
        if call_id.is_empty() || call_id.len() > 256 || call_id.contains(char::is_whitespace) {
            Err(())
        } else {
            Ok(call_id)
        }
    }))
}

/// `%XX` escapes decoded (RFC 3986); None when one is malformed or the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The user part of a Refer-To value (`<sip:811@host;transport=udp>`, `sip:permis@host`,
/// `tel:+14185550100`): what the transfer names.
pub fn refer_to_user(value: &str) -> String {
    let lower = value.to_ascii_lowercase();
    let start = ["sips:", "sip:", "tel:"]
        .iter()
        .filter_map(|s| lower.find(s).map(|i| i + s.len()))
        .min();
    let Some(start) = start else {
        return String::new();
    };
    let rest = &value[start..];
    let uri = rest.split(['>', ';', '?']).next().unwrap_or("");
    uri.split('@').next().unwrap_or("").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_names_the_dialog_of_an_attended_transfer() {
        let v =
            "<sip:luc@10.0.0.1?Replaces=abc%40pc1%3Bto-tag%3D12%3Bfrom-tag%3D34&Require=replaces>";
        assert_eq!(replaces_call_id(v), Some(Ok("abc@pc1".to_string())));
        // Case-insensitive name, no other header, no angle brackets.
        let v = "sip:10.0.0.1?replaces=xyz%3Bfrom-tag%3D1";
        assert_eq!(replaces_call_id(v), Some(Ok("xyz".to_string())));
        // None without Replaces (a blind transfer); Err when it cannot be read.
        assert_eq!(replaces_call_id("<sip:811@h;transport=udp>"), None);
        assert_eq!(replaces_call_id("<sip:h?Replaces=%zz>"), Some(Err(())));
        assert_eq!(
            replaces_call_id("<sip:h?Replaces=%3Bto-tag%3D1>"),
            Some(Err(()))
        );
        assert_eq!(replaces_call_id("<sip:h?Replaces=a%20b>"), Some(Err(())));
        assert_eq!(replaces_call_id("<sip:h?Replaces=%E2%82>"), Some(Err(())));
    }
}
