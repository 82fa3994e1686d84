//! Dialog state (RFC 3261 §12): identifiers, CSeq in both directions, remote target and route
//! set; building in-dialog requests; and the UAS core's 2xx retransmission until the ACK
//! arrives (§13.3.1.4), which RFC 6026 leaves to us rather than to the transaction.
//!
//! No I/O and no clock here: deadlines go out, `now` comes in.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rsipstack::sip::{typed, Header, HeadersExt};
use thiserror::Error;

use super::builder::{self, MessageBuilder};
use super::flow::{Flow, TransportKind};
use super::message::{contact_uri, InRequest, InResponse, Method};
use super::random::Random;
use super::transaction::Timers;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DialogError {
    #[error("request has no usable Contact")]
    NoContact,
    #[error("request has no From tag")]
    NoFromTag,
    #[error("response has no To tag")]
    NoToTag,
}

#[derive(Debug, Clone)]
pub struct Dialog {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
    /// Our name-addr (no tag): From of our requests.
    pub local_uri: String,
    /// Peer's name-addr (no tag): To of our requests.
    pub remote_uri: String,
    local_seq: u32,
    /// Random per dialog: our in-dialog requests' branches are this plus method and CSeq.
    branch_base: u64,
    remote_seq: Option<u32>,
    pub remote_target: String,
    pub route_set: Vec<String>,
    /// The path the dialog was set up on; in-dialog requests reuse it when it makes sense.
    pub flow: Flow,
    /// Whether the peer asked for symmetric routing (rport): send to where it sends from.
    pub symmetric: bool,
}

fn strip_tag(name_addr: &str) -> String {
    // Remove ";tag=..." that follows the URI (after '>' when bracketed).
    let split_at = name_addr.rfind('>').map(|i| i + 1).unwrap_or(0);
    let (head, params) = name_addr.split_at(split_at);
    let kept: Vec<&str> = params
        .split(';')
        .filter(|p| !p.trim().to_ascii_lowercase().starts_with("tag="))
        .collect();
    format!("{head}{}", kept.join(";"))
}

/// What a UAC's INVITE said of itself, for the dialog its 2xx creates.
#[derive(Debug, Clone, Copy)]
pub struct UacIds<'a> {
    pub call_id: &'a str,
    pub local_tag: &'a str,
    /// Our name-addr (From, no tag) and the peer's (To, no tag).
    pub local_uri: &'a str,
    pub remote_uri: &'a str,
    pub invite_cseq: u32,
}

impl Dialog {
    /// The dialog a UAS creates when answering `invite` (§12.1.1).
    pub fn uas(
        invite: &InRequest,
        local_tag: String,
        flow: Flow,
        rng: &mut Random,
    ) -> Result<Dialog, DialogError> {
        let req = &invite.req;
        let remote_target = contact_uri(req).ok_or(DialogError::NoContact)?.to_string();
        let remote_tag = invite.ids.from_tag.clone().ok_or(DialogError::NoFromTag)?;
        let route_set = req
            .headers
            .iter()
            .filter_map(|h| match h {
                Header::RecordRoute(rr) => Some(rr.value().to_string()),
                _ => None,
            })
            .flat_map(|v| split_list(&v))
            .collect();
        let symmetric = req
            .via_header()
            .ok()
            .and_then(|v| v.first_value().ok())
            .and_then(|v| typed::Via::parse(v.value()).ok())
            .is_some_and(|v| v.rport().is_some());
        Ok(Dialog {
            call_id: invite.ids.call_id.clone(),
            local_tag,
            remote_tag,
            local_uri: req
                .to_header()
                .map(|h| strip_tag(h.value()))
                .unwrap_or_default(),
            remote_uri: req
                .from_header()
                .map(|h| strip_tag(h.value()))
                .unwrap_or_default(),
            local_seq: (rng.u32() & 0xffff) + 1,
            branch_base: rng.u64(),
            remote_seq: Some(invite.ids.cseq),
            remote_target,
            route_set,
            flow,
            symmetric,
        })
    }

    /// The dialog a UAC creates from a 2xx (or 1xx with tag) to its INVITE (§12.1.2).
    pub fn uac(
        ours: UacIds<'_>,
        resp: &InResponse,
        flow: Flow,
        rng: &mut Random,
    ) -> Result<Dialog, DialogError> {
        let UacIds {
            call_id,
            local_tag,
            local_uri,
            remote_uri,
            invite_cseq,
        } = ours;
        let remote_tag = resp.ids.to_tag.clone().ok_or(DialogError::NoToTag)?;
        let remote_target = contact_uri(&resp.resp)
            .ok_or(DialogError::NoContact)?
            .to_string();
        let mut route_set: Vec<String> = resp
            .resp
            .headers
            .iter()
            .filter_map(|h| match h {
                Header::RecordRoute(rr) => Some(rr.value().to_string()),
                _ => None,
            })
            .flat_map(|v| split_list(&v))
            .collect();
        route_set.reverse();
        Ok(Dialog {
            call_id: call_id.to_string(),
            local_tag: local_tag.to_string(),
            remote_tag,
            local_uri: local_uri.to_string(),
            remote_uri: remote_uri.to_string(),
            local_seq: invite_cseq,
            branch_base: rng.u64(),
            remote_seq: None,
            remote_target,
            route_set,
            flow,
            symmetric: false,
        })
    }

    /// Check an in-dialog request's CSeq (§12.2.2): lower than the last one is out of order
    /// (answer 500). ACK and CANCEL carry the INVITE's number and are not checked.
    pub fn accept_remote_cseq(&mut self, req: &InRequest) -> Result<(), u16> {
        if matches!(req.req.method, Method::Ack | Method::Cancel) {
            return Ok(());
        }
        if let Some(last) = self.remote_seq {
            if req.ids.cseq <= last {
                return Err(500);
            }
        }
        self.remote_seq = Some(req.ids.cseq);
        // A re-INVITE may refresh the remote target (§12.2.2).
        if req.req.method == Method::Invite {
            if let Some(c) = contact_uri(&req.req) {
                self.remote_target = c.to_string();
            }
        }
        Ok(())
    }

    pub fn local_seq(&self) -> u32 {
        self.local_seq
    }

    /// Whether an in-dialog request belongs to this dialog (tags swapped on the remote side).
    pub fn matches(&self, call_id: &str, from_tag: Option<&str>, to_tag: Option<&str>) -> bool {
        self.call_id == call_id
            && from_tag == Some(self.remote_tag.as_str())
            && to_tag == Some(self.local_tag.as_str())
    }

    /// Start an in-dialog request (§12.2.1.1). `via` is our sent-by (`host:port`). Returns the
    /// builder (append headers/body) and its branch.
    pub fn request(&mut self, method: Method, via: &str) -> (MessageBuilder, String) {
        if method != Method::Ack {
            self.local_seq += 1;
        }
        self.request_with_seq(method, via, self.local_seq)
    }

    /// ACK for a 2xx we received (UAC): CSeq number of the INVITE, new branch (§13.2.2.4).
    pub fn ack(&self, invite_cseq: u32, via: &str) -> (MessageBuilder, String) {
        self.request_with_seq(Method::Ack, via, invite_cseq)
    }

    fn request_with_seq(&self, method: Method, via: &str, seq: u32) -> (MessageBuilder, String) {
        let branch = format!(
            "z9hG4bK{:016x}{}{seq:x}",
            self.branch_base,
            method.to_string().to_ascii_lowercase()
        );
        let (uri, routes) = self.request_uri_and_routes();
        let transport = self.flow.transport.via_token();
        let mut b = builder::request(&method.to_string(), &uri)
            .header(
                "Via",
                format_args!("SIP/2.0/{transport} {via};branch={branch};rport"),
            )
            .header("Max-Forwards", 70)
            .header(
                "From",
                format_args!("{};tag={}", self.local_uri, self.local_tag),
            )
            .header(
                "To",
                format_args!("{};tag={}", self.remote_uri, self.remote_tag),
            )
            .header("Call-ID", &self.call_id)
            .header("CSeq", format_args!("{seq} {method}"));
        for r in routes {
            b.push_header("Route", r);
        }
        (b, branch)
    }

    /// Request-URI and Route headers (§12.2.1.1): loose routing puts the remote target in the
    /// Request-URI; a strict first route takes its place.
    fn request_uri_and_routes(&self) -> (String, Vec<String>) {
        match self.route_set.first() {
            None => (self.remote_target.clone(), Vec::new()),
            Some(first) if first.contains(";lr") => {
                (self.remote_target.clone(), self.route_set.clone())
            }
            Some(first) => {
                let uri = first
                    .trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string();
                let mut routes: Vec<String> = self.route_set[1..].to_vec();
                routes.push(format!("<{}>", self.remote_target));
                (uri, routes)
            }
        }
    }

    /// The URI our in-dialog requests are sent towards: first route, or the remote target.
    pub fn next_hop(&self) -> String {
        match self.route_set.first() {
            Some(r) => r
                .trim()
                .trim_start_matches('<')
                .split('>')
                .next()
                .unwrap_or_default()
                .to_string(),
            None => self.remote_target.clone(),
        }
    }

    /// Where to send an in-dialog request without DNS: the peer's source for symmetric or
    /// stream flows, else the next hop's numeric address. None means "resolve `next_hop()`".
    pub fn destination(&self) -> Option<Flow> {
        if self.symmetric || self.flow.transport.is_stream() {
            return Some(self.flow);
        }
        let (addr, transport) = uri_socket_addr(&self.next_hop())?;
        Some(Flow {
            transport,
            remote: addr,
            conn: 0,
            local: self.flow.local,
        })
    }
}

/// `sip:user@1.2.3.4:5062;transport=tcp` → (1.2.3.4:5062, Tcp). None for names (need DNS).
pub fn uri_socket_addr(uri: &str) -> Option<(SocketAddr, TransportKind)> {
    let parsed: rsipstack::sip::Uri = uri.parse().ok()?;
    let transport = parsed
        .params
        .iter()
        .find_map(|p| match p {
            rsipstack::sip::Param::Transport(t) => Some(t.to_string().to_ascii_lowercase()),
            _ => None,
        })
        .map(|t| match t.as_str() {
            "tcp" => TransportKind::Tcp,
            "tls" => TransportKind::Tls,
            _ => TransportKind::Udp,
        })
        .unwrap_or(if parsed.scheme == Some(rsipstack::sip::Scheme::Sips) {
            TransportKind::Tls
        } else {
            TransportKind::Udp
        });
    let ip = match parsed.host_with_port.host {
        rsipstack::sip::Host::IpAddr(ip) => ip,
        rsipstack::sip::Host::Domain(d) => d.to_string().parse().ok()?,
    };
    let port = parsed.host_with_port.port.map(|p| p.value()).unwrap_or(
        if transport == TransportKind::Tls {
            5061
        } else {
            5060
        },
    );
    Some((SocketAddr::new(ip, port), transport))
}

/// Split a comma-separated header list, respecting <...> and quotes.
fn split_list(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut quoted = false;
    let mut cur = String::new();
    for c in value.chars() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                out.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// The UAS core's retransmission of a 2xx until the ACK (§13.3.1.4): T1, doubling to T2; after
/// 64·T1 without an ACK the dialog is confirmed and immediately ended with a BYE.
#[derive(Debug, Clone)]
pub struct OkRetransmit {
    response: Bytes,
    interval: Duration,
    t2: Duration,
    next: Instant,
    give_up: Instant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OkRetransmitOutput {
    Resend(Bytes),
    GiveUp,
}

impl OkRetransmit {
    pub fn new(response: Bytes, timers: Timers, reliable: bool, now: Instant) -> Self {
        OkRetransmit {
            response,
            interval: timers.t1,
            t2: timers.t2,
            // Over TCP nothing is resent, but the ACK is still awaited for 64·T1.
            next: if reliable {
                now + timers.t1x64()
            } else {
                now + timers.t1
            },
            give_up: now + timers.t1x64(),
        }
    }

    pub fn response(&self) -> &Bytes {
        &self.response
    }

    pub fn deadline(&self) -> Instant {
        self.next.min(self.give_up)
    }

    pub fn on_timer(&mut self, now: Instant) -> Option<OkRetransmitOutput> {
        if now >= self.give_up {
            return Some(OkRetransmitOutput::GiveUp);
        }
        if now >= self.next {
            self.interval = (self.interval * 2).min(self.t2);
            self.next += self.interval;
            return Some(OkRetransmitOutput::Resend(self.response.clone()));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::{parse_datagram, Incoming};

    fn flow() -> Flow {
        Flow {
            transport: TransportKind::Udp,
            local: "127.0.0.1:5060".parse().unwrap(),
            remote: "127.0.0.1:5062".parse().unwrap(),
            conn: 0,
        }
    }

    fn invite(extra: &str) -> InRequest {
        let raw = format!(
            "INVITE sip:311@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK1\r\n\
             Record-Route: <sip:p1;lr>, <sip:p2;lr>\r\nFrom: \"Citizen\" <sip:c@h>;tag=abc\r\n\
             To: <sip:311@h>\r\nCall-ID: d1\r\nCSeq: 10 INVITE\r\nContact: <sip:c@127.0.0.1:5062>\r\n{extra}\
             Content-Length: 0\r\n\r\n"
        );
        match parse_datagram(raw.as_bytes()).unwrap() {
            Incoming::Request(r) => r,
            _ => unreachable!(),
        }
    }

    #[test]
    fn uas_dialog_builds_bye_with_route_set() {
        let mut d = Dialog::uas(&invite(""), "me".into(), flow(), &mut Random::seeded(1)).unwrap();
        assert_eq!(d.remote_target, "sip:c@127.0.0.1:5062");
        assert_eq!(d.route_set, vec!["<sip:p1;lr>", "<sip:p2;lr>"]);
        let seq0 = d.local_seq();
        let (b, branch) = d.request(Method::Bye, "127.0.0.1:5060");
        let bye = String::from_utf8(b.finish().to_vec()).unwrap();
        assert!(bye.starts_with("BYE sip:c@127.0.0.1:5062 SIP/2.0\r\n"));
        assert!(bye.contains(&format!("branch={branch}")));
        assert!(bye.contains("From: <sip:311@h>;tag=me\r\n"));
        assert!(bye.contains("To: \"Citizen\" <sip:c@h>;tag=abc\r\n"));
        assert!(bye.contains(&format!("CSeq: {} BYE", seq0 + 1)));
        assert!(bye.contains("Route: <sip:p1;lr>\r\nRoute: <sip:p2;lr>\r\n"));
        assert!(parse_datagram(bye.as_bytes()).is_ok());
        assert_eq!(d.next_hop(), "sip:p1;lr");
    }

    #[test]
    fn cseq_must_increase() {
        let mut d = Dialog::uas(&invite(""), "me".into(), flow(), &mut Random::seeded(1)).unwrap();
        let mut bye = invite("");
        bye.req.method = Method::Bye;
        bye.ids.cseq = 10;
        assert_eq!(d.accept_remote_cseq(&bye), Err(500));
        bye.ids.cseq = 11;
        assert_eq!(d.accept_remote_cseq(&bye), Ok(()));
    }

    #[test]
    fn destination_without_routes_is_contact_or_source() {
        let raw = invite("")
            .req
            .to_string()
            .replace("Record-Route: <sip:p1;lr>, <sip:p2;lr>\r\n", "");
        let Incoming::Request(r) = parse_datagram(raw.as_bytes()).unwrap() else {
            panic!()
        };
        let d = Dialog::uas(&r, "me".into(), flow(), &mut Random::seeded(1)).unwrap();
        assert_eq!(
            d.destination().unwrap().remote,
            "127.0.0.1:5062".parse().unwrap()
        );
        assert_eq!(
            uri_socket_addr("sip:a@10.1.1.1;transport=tcp"),
            Some(("10.1.1.1:5060".parse().unwrap(), TransportKind::Tcp))
        );
        assert_eq!(uri_socket_addr("sip:a@example.org"), None);
    }

    #[test]
    fn no_contact_is_an_error() {
        let raw = invite("")
            .req
            .to_string()
            .replace("Contact: <sip:c@127.0.0.1:5062>\r\n", "");
        let Incoming::Request(r) = parse_datagram(raw.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(
            Dialog::uas(&r, "me".into(), flow(), &mut Random::seeded(1)).unwrap_err(),
            DialogError::NoContact
        );
    }

    #[test]
    fn ok_retransmit_schedule_then_give_up() {
        let t0 = Instant::now();
        let mut r = OkRetransmit::new(Bytes::from_static(b"200"), Timers::default(), false, t0);
        let mut at = Vec::new();
        let mut now;
        loop {
            now = r.deadline();
            match r.on_timer(now) {
                Some(OkRetransmitOutput::Resend(_)) => at.push((now - t0).as_millis()),
                Some(OkRetransmitOutput::GiveUp) => break,
                None => {}
            }
        }
        assert_eq!(
            at,
            vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
        );
        assert_eq!(now - t0, Duration::from_secs(32));
    }

    #[test]
    fn strip_tag_keeps_other_params() {
        assert_eq!(strip_tag("<sip:a@b>;tag=1;x=2"), "<sip:a@b>;x=2");
        assert_eq!(
            strip_tag("\"A\" <sip:a@b;tag=inside>"),
            "\"A\" <sip:a@b;tag=inside>"
        );
    }
}
