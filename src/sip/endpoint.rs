//! The transaction layer as one sans-IO object: it matches every message to its transaction
//! (RFC 3261 §17.1.3, §17.2.3), creates server transactions for new requests, answers
//! retransmissions from them, handles CANCEL (200 to the CANCEL, the TU sends 487), and keeps
//! all transaction deadlines in one heap.
//!
//! Feed it with `handle_incoming(msg, flow, now)` and `handle_timeout(now)`; drain it with
//! `poll_transmit()` and `poll_event()`; sleep until `poll_timeout()`. It never touches a socket
//! or a clock (quinn-proto's shape), so tests run it on virtual time.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::Instant;

use bytes::Bytes;

use super::builder;
use super::flow::{Flow, Transmit};
use super::message::{stamp_via, InRequest, InResponse, Incoming, Method};
use super::random::Random;
use super::transaction::{
    InviteClient, InviteServer, InviteServerState, NonInviteClient, NonInviteServer, Timers,
    TxOutput,
};

pub type TxId = u64;

/// What the endpoint tells the transaction user.
#[derive(Debug)]
pub enum Event {
    /// A new request with its server transaction (respond with `respond`).
    Request {
        tx: TxId,
        req: Box<InRequest>,
        flow: Flow,
    },
    /// An ACK that no transaction absorbed: the ACK for a 2xx, for the dialog.
    Ack { req: Box<InRequest>, flow: Flow },
    /// The INVITE of this transaction was cancelled (the CANCEL got its 200 already).
    Cancelled { invite_tx: TxId, call_id: String },
    /// A response to a request we sent.
    Response {
        tx: TxId,
        resp: Box<InResponse>,
        flow: Flow,
    },
    /// A 2xx to an INVITE whose transaction is gone (the TU re-ACKs it).
    StrayInviteOk { resp: Box<InResponse>, flow: Flow },
    /// Timer B/F (no answer to our request) or H (no ACK for our final response).
    TimedOut {
        tx: TxId,
        call_id: String,
        method: Method,
        server: bool,
    },
}

#[derive(Debug)]
enum Tx {
    InviteServer(InviteServer),
    NonInviteServer(NonInviteServer),
    InviteClient(InviteClient),
    NonInviteClient(NonInviteClient),
}

impl Tx {
    fn deadline(&self) -> Option<Instant> {
        match self {
            Tx::InviteServer(t) => t.deadline(),
            Tx::NonInviteServer(t) => t.deadline(),
            Tx::InviteClient(t) => t.deadline(),
            Tx::NonInviteClient(t) => t.deadline(),
        }
    }

    fn on_timer(&mut self, now: Instant) -> Vec<TxOutput> {
        match self {
            Tx::InviteServer(t) => t.on_timer(now),
            Tx::NonInviteServer(t) => t.on_timer(now),
            Tx::InviteClient(t) => t.on_timer(now),
            Tx::NonInviteClient(t) => t.on_timer(now),
        }
    }
}

#[derive(Debug)]
struct Entry {
    tx: Tx,
    /// Where responses (server) or retransmissions (client) go.
    peer: Flow,
    key: String,
    call_id: String,
    method: Method,
    scheduled: Option<Instant>,
}

/// Counters for the admin view and the benchmarks.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub requests: u64,
    pub retransmissions_absorbed: u64,
    pub timeouts: u64,
}

#[derive(Debug)]
pub struct Endpoint {
    timers: Timers,
    /// To-tags of the responses the endpoint writes itself (CANCEL's 200/481).
    rng: Random,
    next_id: TxId,
    by_key: HashMap<String, TxId>,
    entries: HashMap<TxId, Entry>,
    heap: BinaryHeap<Reverse<(Instant, TxId)>>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: Stats,
}

fn server_key(branch: &str, sent_by: &str, method: &Method) -> String {
    // ACK belongs to the INVITE transaction (§17.2.3).
    let m = match method {
        Method::Ack => Method::Invite,
        m => *m,
    };
    format!("s|{branch}|{sent_by}|{m}")
}

fn client_key(branch: &str, method: &Method) -> String {
    format!("c|{branch}|{method}")
}

impl Endpoint {
    pub fn new(timers: Timers, rng: Random) -> Self {
        Endpoint {
            timers,
            rng,
            next_id: 0,
            by_key: HashMap::new(),
            entries: HashMap::new(),
            heap: BinaryHeap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    pub fn timers(&self) -> Timers {
        self.timers
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Live transactions (all kinds).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&mut self) -> Option<Instant> {
        // Drop heap entries whose transaction is gone or was rescheduled.
        while let Some(Reverse((at, id))) = self.heap.peek().copied() {
            match self.entries.get(&id) {
                Some(e) if e.scheduled == Some(at) => return Some(at),
                _ => {
                    self.heap.pop();
                }
            }
        }
        None
    }

    /// Queue bytes that belong to no transaction (the ACK of a 2xx, a stateless reply).
    pub fn send_stateless(&mut self, flow: Flow, bytes: Bytes) {
        self.transmits.push_back(Transmit { flow, bytes });
    }

    pub fn handle_incoming(&mut self, msg: Incoming, flow: Flow, now: Instant) {
        match msg {
            Incoming::Request(req) => self.on_request(req, flow, now),
            Incoming::Response(resp) => self.on_response(resp, flow, now),
        }
    }

    fn on_request(&mut self, mut req: InRequest, flow: Flow, now: Instant) {
        let reply_to = stamp_via(&mut req.req, flow.remote);
        let peer = match flow.transport {
            super::flow::TransportKind::Udp => flow.to(reply_to),
            _ => flow,
        };
        let method = req.req.method;
        let key = server_key(&req.ids.branch, &req.ids.sent_by, &method);
        if let Some(&id) = self.by_key.get(&key) {
            self.on_matched_request(id, req, flow, method, now);
            return;
        }
        match method {
            Method::Ack => {
                self.events.push_back(Event::Ack {
                    req: Box::new(req),
                    flow,
                });
            }
            Method::Cancel => self.on_cancel(req, key, peer, now),
            _ => {
                self.stats.requests += 1;
                let reliability = flow.transport.reliability();
                let tx = if method == Method::Invite {
                    Tx::InviteServer(InviteServer::new(reliability, self.timers))
                } else {
                    Tx::NonInviteServer(NonInviteServer::new(reliability, self.timers))
                };
                let id = self.insert(tx, peer, key, req.ids.call_id.clone(), method);
                if method == Method::Invite {
                    // Answer at once so the caller's timer A stops (§17.2.1 allows the TU to
                    // wait 200 ms; we never gain by waiting).
                    let trying = builder::response(&req.req, 100, None).finish();
                    self.respond(id, 100, trying, now);
                }
                self.events.push_back(Event::Request {
                    tx: id,
                    req: Box::new(req),
                    flow,
                });
            }
        }
    }

    fn on_matched_request(
        &mut self,
        id: TxId,
        req: InRequest,
        flow: Flow,
        method: Method,
        now: Instant,
    ) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        let replay = match (&mut entry.tx, method) {
            (Tx::InviteServer(t), Method::Ack) => {
                if !t.on_ack(now) {
                    // An ACK for a 2xx that reused the INVITE's branch (RFC 2543 peers):
                    // it belongs to the dialog.
                    if t.state() == InviteServerState::Accepted {
                        self.events.push_back(Event::Ack {
                            req: Box::new(req),
                            flow,
                        });
                    }
                }
                None
            }
            (Tx::InviteServer(t), _) => t.on_retransmission(),
            (Tx::NonInviteServer(t), _) => t.on_retransmission(),
            _ => None,
        };
        if method != Method::Ack {
            self.stats.retransmissions_absorbed += 1;
        }
        let peer = entry.peer;
        if let Some(bytes) = replay {
            self.transmits.push_back(Transmit { flow: peer, bytes });
        }
        self.reschedule(id);
    }

    fn on_cancel(&mut self, req: InRequest, key: String, peer: Flow, now: Instant) {
        let invite_key = server_key(&req.ids.branch, &req.ids.sent_by, &Method::Invite);
        let invite = self.by_key.get(&invite_key).copied();
        let tx = Tx::NonInviteServer(NonInviteServer::new(
            peer.transport.reliability(),
            self.timers,
        ));
        let id = self.insert(tx, peer, key, req.ids.call_id.clone(), Method::Cancel);
        let pending = invite.and_then(|inv| match self.entries.get(&inv).map(|e| &e.tx) {
            Some(Tx::InviteServer(t)) => Some((inv, t.state() == InviteServerState::Proceeding)),
            _ => None,
        });
        // §9.2: 200 for a CANCEL that matched, 481 otherwise. The To tag of the 200 should be
        // the one the INVITE's responses carry; a CANCEL's To has none and peers ignore it.
        let status = if pending.is_some() { 200 } else { 481 };
        let resp = builder::response(&req.req, status, Some(&self.rng.token())).finish();
        self.respond(id, status, resp, now);
        if let Some((invite_tx, true)) = pending {
            self.events.push_back(Event::Cancelled {
                invite_tx,
                call_id: req.ids.call_id,
            });
        }
    }

    fn on_response(&mut self, resp: InResponse, flow: Flow, now: Instant) {
        let key = client_key(&resp.ids.branch, &resp.ids.cseq_method);
        let Some(&id) = self.by_key.get(&key) else {
            if resp.ids.cseq_method == Method::Invite && (200..300).contains(&resp.status) {
                self.events.push_back(Event::StrayInviteOk {
                    resp: Box::new(resp),
                    flow,
                });
            }
            return;
        };
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        let peer = entry.peer;
        let (pass_up, transmit) = match &mut entry.tx {
            Tx::InviteClient(t) => {
                let request = t.request().clone();
                let r = t.on_response(resp.status, now, || non_2xx_ack(&request, &resp));
                (r.pass_up, r.transmit)
            }
            Tx::NonInviteClient(t) => (t.on_response(resp.status, now), None),
            _ => (false, None),
        };
        if let Some(bytes) = transmit {
            self.transmits.push_back(Transmit { flow: peer, bytes });
        }
        if pass_up {
            self.events.push_back(Event::Response {
                tx: id,
                resp: Box::new(resp),
                flow,
            });
        }
        self.reschedule(id);
    }

    /// Send a response on server transaction `tx`. Returns false if the transaction is gone
    /// or its state forbids this response.
    pub fn respond(&mut self, tx: TxId, status: u16, bytes: Bytes, now: Instant) -> bool {
        let Some(entry) = self.entries.get_mut(&tx) else {
            return false;
        };
        let out = match &mut entry.tx {
            Tx::InviteServer(t) => t.respond(status, bytes, now),
            Tx::NonInviteServer(t) => t.respond(status, bytes, now),
            _ => None,
        };
        let sent = out.is_some();
        if let Some(bytes) = out {
            self.transmits.push_back(Transmit {
                flow: entry.peer,
                bytes,
            });
        }
        self.reschedule(tx);
        sent
    }

    /// Start a client transaction for a request we built (`branch` is its top Via branch).
    pub fn send_request(
        &mut self,
        method: Method,
        branch: &str,
        call_id: &str,
        bytes: Bytes,
        flow: Flow,
        now: Instant,
    ) -> TxId {
        let reliability = flow.transport.reliability();
        let tx = if method == Method::Invite {
            Tx::InviteClient(InviteClient::new(
                bytes.clone(),
                reliability,
                self.timers,
                now,
            ))
        } else {
            Tx::NonInviteClient(NonInviteClient::new(
                bytes.clone(),
                reliability,
                self.timers,
                now,
            ))
        };
        let id = self.insert(
            tx,
            flow,
            client_key(branch, &method),
            call_id.to_string(),
            method,
        );
        self.transmits.push_back(Transmit { flow, bytes });
        id
    }

    /// A connection for `flow` could not be made: the client transactions that were to use it
    /// end now with `TimedOut` (the TU's 408/503 path, e.g. a trunk's failover), rather than
    /// after Timer B/F (RFC 3261 §8.1.3.1).
    pub fn transport_failed(&mut self, flow: Flow) {
        let dead: Vec<TxId> = self
            .entries
            .iter()
            .filter(|(_, e)| {
                matches!(e.tx, Tx::InviteClient(_) | Tx::NonInviteClient(_))
                    && e.peer.remote == flow.remote
                    && e.peer.transport == flow.transport
            })
            .map(|(id, _)| *id)
            .collect();
        for id in dead {
            if let Some(e) = self.entries.remove(&id) {
                self.by_key.remove(&e.key);
                self.stats.timeouts += 1;
                self.events.push_back(Event::TimedOut {
                    tx: id,
                    call_id: e.call_id,
                    method: e.method,
                    server: false,
                });
            }
        }
    }

    /// Drop client transaction `tx` with no event: the driver sends its request elsewhere
    /// (the next DNS candidate after a connection that could not be made). False when it is
    /// not a client transaction in progress.
    pub fn abandon(&mut self, tx: TxId) -> bool {
        match self.entries.get(&tx).map(|e| &e.tx) {
            Some(Tx::InviteClient(_) | Tx::NonInviteClient(_)) => {}
            _ => return false,
        }
        if let Some(e) = self.entries.remove(&tx) {
            self.by_key.remove(&e.key);
        }
        true
    }

    /// State of a server INVITE transaction, for the TU (e.g. to know if 487 is still due).
    pub fn invite_server_state(&self, tx: TxId) -> Option<InviteServerState> {
        match self.entries.get(&tx).map(|e| &e.tx) {
            Some(Tx::InviteServer(t)) => Some(t.state()),
            _ => None,
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, id))) = self.heap.peek().copied() {
            if at > now {
                break;
            }
            self.heap.pop();
            let Some(entry) = self.entries.get_mut(&id) else {
                continue;
            };
            if entry.scheduled != Some(at) {
                continue;
            }
            entry.scheduled = None;
            let peer = entry.peer;
            let mut terminated = false;
            for out in entry.tx.on_timer(now) {
                match out {
                    TxOutput::Transmit(bytes) => {
                        self.transmits.push_back(Transmit { flow: peer, bytes })
                    }
                    TxOutput::TimedOut => {
                        self.stats.timeouts += 1;
                        self.events.push_back(Event::TimedOut {
                            tx: id,
                            call_id: entry.call_id.clone(),
                            method: entry.method,
                            server: matches!(
                                entry.tx,
                                Tx::InviteServer(_) | Tx::NonInviteServer(_)
                            ),
                        });
                    }
                    TxOutput::Terminated => terminated = true,
                }
            }
            if terminated {
                self.remove(id);
            } else {
                self.reschedule(id);
            }
        }
    }

    fn insert(&mut self, tx: Tx, peer: Flow, key: String, call_id: String, method: Method) -> TxId {
        self.next_id += 1;
        let id = self.next_id;
        self.by_key.insert(key.clone(), id);
        self.entries.insert(
            id,
            Entry {
                tx,
                peer,
                key,
                call_id,
                method,
                scheduled: None,
            },
        );
        self.reschedule(id);
        id
    }

    fn remove(&mut self, id: TxId) {
        if let Some(e) = self.entries.remove(&id) {
            if self.by_key.get(&e.key) == Some(&id) {
                self.by_key.remove(&e.key);
            }
        }
    }

    fn reschedule(&mut self, id: TxId) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        let next = entry.tx.deadline();
        if next != entry.scheduled {
            entry.scheduled = next;
            if let Some(at) = next {
                self.heap.push(Reverse((at, id)));
            }
        }
    }
}

/// ACK for a non-2xx final (§17.1.1.3): same Request-URI, Call-ID, From, CSeq number and top
/// Via as the INVITE, the To of the response, and the INVITE's Route headers.
fn non_2xx_ack(invite: &Bytes, resp: &InResponse) -> Bytes {
    let text = String::from_utf8_lossy(invite);
    let mut lines = text.split("\r\n");
    let uri = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("sip:invalid");
    let mut b = builder::request("ACK", uri);
    let mut via_done = false;
    for line in lines {
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "via" if !via_done => {
                via_done = true;
                b.push_header("Via", value);
            }
            "from" => b.push_header("From", value),
            "call-id" => b.push_header("Call-ID", value),
            "route" => b.push_header("Route", value),
            "max-forwards" => b.push_header("Max-Forwards", value),
            _ => {}
        }
    }
    if let Some(to) = super::message::header_value(&resp.resp.headers, "To") {
        b.push_header("To", to);
    }
    b.header("CSeq", format_args!("{} ACK", resp.ids.cseq))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::flow::TransportKind;
    use crate::sip::message::parse_datagram;
    use std::time::Duration;

    fn flow() -> Flow {
        Flow {
            transport: TransportKind::Udp,
            local: "127.0.0.1:5060".parse().unwrap(),
            remote: "127.0.0.1:5062".parse().unwrap(),
            conn: 0,
        }
    }

    fn msg(method: &str, branch: &str, cseq: u32, to_tag: &str) -> Incoming {
        let raw = format!(
            "{method} sip:311@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch={branch}\r\n\
             From: <sip:a@h>;tag=1\r\nTo: <sip:311@h>{to_tag}\r\nCall-ID: c1\r\nCSeq: {cseq} {method}\r\n\
             Content-Length: 0\r\n\r\n"
        );
        parse_datagram(raw.as_bytes()).unwrap()
    }

    fn drain(ep: &mut Endpoint) -> (Vec<String>, Vec<Event>) {
        let mut t = Vec::new();
        while let Some(x) = ep.poll_transmit() {
            let s = String::from_utf8_lossy(&x.bytes).to_string();
            t.push(s.lines().next().unwrap_or_default().to_string());
        }
        let mut e = Vec::new();
        while let Some(x) = ep.poll_event() {
            e.push(x);
        }
        (t, e)
    }

    #[test]
    fn retransmitted_invite_never_makes_a_second_request() {
        let t0 = Instant::now();
        let mut ep = Endpoint::new(Timers::default(), Random::seeded(9));
        ep.handle_incoming(msg("INVITE", "z9hG4bKa", 1, ""), flow(), t0);
        let (tx, ev) = drain(&mut ep);
        assert_eq!(tx, vec!["SIP/2.0 100 Trying"]);
        assert_eq!(ev.len(), 1);
        let Event::Request { tx: id, .. } = &ev[0] else {
            panic!()
        };
        ep.handle_incoming(msg("INVITE", "z9hG4bKa", 1, ""), flow(), t0);
        let (tx, ev) = drain(&mut ep);
        assert_eq!(tx, vec!["SIP/2.0 100 Trying"], "100 replayed");
        assert!(ev.is_empty());
        assert!(ep.respond(*id, 200, Bytes::from_static(b"SIP/2.0 200 OK\r\n"), t0));
        drain(&mut ep);
        ep.handle_incoming(msg("INVITE", "z9hG4bKa", 1, ""), flow(), t0);
        let (tx, ev) = drain(&mut ep);
        assert!(tx.is_empty() && ev.is_empty(), "absorbed in Accepted");
        assert_eq!(ep.stats().retransmissions_absorbed, 2);
        // the 2xx ACK (new branch) goes to the TU
        ep.handle_incoming(msg("ACK", "z9hG4bKb", 1, ";tag=x"), flow(), t0);
        let (_, ev) = drain(&mut ep);
        assert!(matches!(ev[..], [Event::Ack { .. }]));
        // timer L ends the transaction
        assert_eq!(ep.poll_timeout(), Some(t0 + Duration::from_secs(32)));
        ep.handle_timeout(t0 + Duration::from_secs(32));
        assert!(ep.is_empty());
    }

    #[test]
    fn cancel_gets_200_and_tu_is_told_then_487_is_acked() {
        let t0 = Instant::now();
        let mut ep = Endpoint::new(Timers::default(), Random::seeded(9));
        ep.handle_incoming(msg("INVITE", "z9hG4bKa", 1, ""), flow(), t0);
        let (_, ev) = drain(&mut ep);
        let Event::Request { tx: id, .. } = &ev[0] else {
            panic!()
        };
        ep.handle_incoming(msg("CANCEL", "z9hG4bKa", 1, ""), flow(), t0);
        let (tx, ev) = drain(&mut ep);
        assert_eq!(tx, vec!["SIP/2.0 200 OK"]);
        assert!(matches!(ev[..], [Event::Cancelled { invite_tx, .. }] if invite_tx == *id));
        assert!(ep.respond(*id, 487, Bytes::from_static(b"SIP/2.0 487 x\r\n"), t0));
        // retransmitted CANCEL → same 200
        ep.handle_incoming(msg("CANCEL", "z9hG4bKa", 1, ""), flow(), t0);
        let (tx, ev) = drain(&mut ep);
        assert_eq!(tx, vec!["SIP/2.0 487 x", "SIP/2.0 200 OK"]);
        assert!(ev.is_empty());
        // ACK for the 487 uses the INVITE's branch and is absorbed
        ep.handle_incoming(msg("ACK", "z9hG4bKa", 1, ";tag=x"), flow(), t0);
        let (tx, ev) = drain(&mut ep);
        assert!(tx.is_empty() && ev.is_empty());
        assert_eq!(
            ep.invite_server_state(*id),
            Some(InviteServerState::Confirmed)
        );
    }

    #[test]
    fn unmatched_cancel_gets_481() {
        let t0 = Instant::now();
        let mut ep = Endpoint::new(Timers::default(), Random::seeded(9));
        ep.handle_incoming(msg("CANCEL", "z9hG4bKzz", 1, ""), flow(), t0);
        let (tx, ev) = drain(&mut ep);
        assert_eq!(tx, vec!["SIP/2.0 481 Call/Transaction Does Not Exist"]);
        assert!(ev.is_empty());
    }

    #[test]
    fn client_bye_retransmits_and_times_out() {
        let t0 = Instant::now();
        let mut ep = Endpoint::new(Timers::default(), Random::seeded(9));
        let id = ep.send_request(
            Method::Bye,
            "z9hG4bKout",
            "c1",
            Bytes::from_static(b"BYE sip:a SIP/2.0\r\n"),
            flow(),
            t0,
        );
        let (tx, _) = drain(&mut ep);
        assert_eq!(tx.len(), 1);
        let mut now = t0;
        let mut sends = 0;
        let mut timed_out = false;
        while let Some(at) = ep.poll_timeout() {
            now = at;
            ep.handle_timeout(now);
            let (tx, ev) = drain(&mut ep);
            sends += tx.len();
            timed_out |= ev
                .iter()
                .any(|e| matches!(e, Event::TimedOut { tx, .. } if *tx == id));
        }
        assert_eq!(sends, 10);
        assert!(timed_out);
        assert_eq!(now - t0, Duration::from_secs(32));
        assert!(ep.is_empty());
    }

    #[test]
    fn response_matches_client_transaction() {
        let t0 = Instant::now();
        let mut ep = Endpoint::new(Timers::default(), Random::seeded(9));
        let id = ep.send_request(
            Method::Bye,
            "z9hG4bKout",
            "c1",
            Bytes::from_static(b"BYE sip:a SIP/2.0\r\n"),
            flow(),
            t0,
        );
        drain(&mut ep);
        let raw = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKout\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: c1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n";
        ep.handle_incoming(parse_datagram(raw.as_bytes()).unwrap(), flow(), t0);
        let (_, ev) = drain(&mut ep);
        assert!(matches!(ev[..], [Event::Response { tx, .. }] if tx == id));
        ep.handle_incoming(parse_datagram(raw.as_bytes()).unwrap(), flow(), t0);
        assert!(drain(&mut ep).1.is_empty(), "retransmitted 200 absorbed");
    }

    #[test]
    fn non_2xx_ack_is_built_from_the_invite() {
        let t0 = Instant::now();
        let mut ep = Endpoint::new(Timers::default(), Random::seeded(9));
        let invite = Bytes::from_static(
            b"INVITE sip:agent@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKi\r\nMax-Forwards: 70\r\nFrom: <sip:311@h>;tag=me\r\nTo: <sip:agent@h>\r\nCall-ID: c2\r\nCSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n",
        );
        ep.send_request(Method::Invite, "z9hG4bKi", "c2", invite, flow(), t0);
        drain(&mut ep);
        let raw = "SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKi\r\nFrom: <sip:311@h>;tag=me\r\nTo: <sip:agent@h>;tag=ag\r\nCall-ID: c2\r\nCSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n";
        ep.handle_incoming(parse_datagram(raw.as_bytes()).unwrap(), flow(), t0);
        let mut acks = Vec::new();
        while let Some(t) = ep.poll_transmit() {
            acks.push(String::from_utf8(t.bytes.to_vec()).unwrap());
        }
        assert_eq!(acks.len(), 1);
        let ack = &acks[0];
        assert!(ack.starts_with("ACK sip:agent@10.0.0.2 SIP/2.0\r\n"));
        assert!(ack.contains("branch=z9hG4bKi"));
        assert!(ack.contains("To: <sip:agent@h>;tag=ag"));
        assert!(ack.contains("CSeq: 7 ACK"));
        assert!(parse_datagram(ack.as_bytes()).is_ok());
    }
}
