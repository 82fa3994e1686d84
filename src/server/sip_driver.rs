//! The task that drives the sans-IO SIP endpoint: messages in from the transports, commands in
//! from call tasks, timers; transmits out to the transports, events out to the call task that
//! owns the Call-ID. It also answers what belongs to no call: OPTIONS pings, unknown dialogs
//! (481), methods we do not serve (405/501), malformed requests (400, logged once per peer), and
//! new INVITEs when we are overloaded (503 + Retry-After).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::{call, Ctx};
use crate::sip::builder::{self, ACCEPT, ALLOW, SUPPORTED};
use crate::sip::endpoint::{Endpoint, Event, TxId};
use crate::sip::flow::{Flow, Transmit};
use crate::sip::message::{InRequest, InResponse, Method};
use crate::sip::transport::{Inbound, Rejected};

/// What the driver hands to a call task.
#[derive(Debug)]
pub enum ToCall {
    Request {
        tx: TxId,
        req: Box<InRequest>,
        flow: Flow,
    },
    Ack {
        req: Box<InRequest>,
    },
    Cancelled,
    Response {
        tx: TxId,
        resp: Box<InResponse>,
        flow: Flow,
    },
    TimedOut {
        method: Method,
        server: bool,
        call_id: String,
    },
}

/// What a call task asks of the driver.
#[derive(Debug)]
pub enum SipCmd {
    Respond {
        tx: TxId,
        status: u16,
        bytes: Bytes,
    },
    /// Start a client transaction. `dest` None: resolve `next_hop` (a SIP URI) first.
    Request {
        call_id: String,
        method: Method,
        branch: String,
        bytes: Bytes,
        dest: Option<Flow>,
        next_hop: String,
        /// Told the transaction id once created (B-legs need it to CANCEL).
        created: Option<tokio::sync::oneshot::Sender<TxId>>,
    },
    /// Bytes outside any transaction (the ACK of a 2xx); `dest` None: resolve `next_hop`.
    Stateless {
        bytes: Bytes,
        dest: Option<Flow>,
        next_hop: String,
    },
    /// Route messages with this Call-ID to a call task (our B-legs).
    Bind {
        call_id: String,
        to: mpsc::Sender<ToCall>,
    },
    Unbind {
        call_id: String,
    },
    /// A resolved request comes back to be sent.
    Resolved {
        call_id: String,
        method: Method,
        branch: String,
        bytes: Bytes,
        dest: Flow,
        created: Option<tokio::sync::oneshot::Sender<TxId>>,
    },
}

/// Per-call queue depth; a call task that falls this far behind loses messages (SIP
/// retransmits them).
const CALL_QUEUE: usize = 64;

pub struct Driver {
    ctx: Arc<Ctx>,
    endpoint: Endpoint,
    calls: HashMap<String, mpsc::Sender<ToCall>>,
    /// Addresses whose malformed messages were logged recently: (when, suppressed since).
    /// One line per address per minute, however many messages (a flood must not flood logs).
    noisy: HashMap<std::net::IpAddr, (Instant, u64)>,
}

impl Driver {
    pub fn new(ctx: Arc<Ctx>) -> Driver {
        Driver {
            endpoint: Endpoint::new(ctx.timers),
            ctx,
            calls: HashMap::new(),
            noisy: HashMap::new(),
        }
    }

    pub async fn run(
        mut self,
        mut inbound: mpsc::Receiver<Inbound>,
        mut cmds: mpsc::UnboundedReceiver<SipCmd>,
    ) {
        let mut stats_tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            let deadline = self.endpoint.poll_timeout();
            tokio::select! {
                biased;
                // Commands first: they finish calls already up (respond, BYE) before new work.
                c = cmds.recv() => match c {
                    Some(c) => {
                        self.on_cmd(c);
                        // Drain a batch without re-entering select.
                        for _ in 0..256 {
                            match cmds.try_recv() {
                                Ok(c) => self.on_cmd(c),
                                Err(_) => break,
                            }
                        }
                    }
                    None => return,
                },
                m = inbound.recv() => match m {
                    Some(m) => {
                        self.on_inbound(m);
                        for _ in 0..256 {
                            match inbound.try_recv() {
                                Ok(m) => self.on_inbound(m),
                                Err(_) => break,
                            }
                        }
                    }
                    None => return,
                },
                _ = sleep_until(deadline) => {
                    self.endpoint.handle_timeout(Instant::now());
                }
                _ = stats_tick.tick() => {
                    self.ctx.stats.transactions.store(self.endpoint.len(), Ordering::Relaxed);
                    self.ctx.stats.inbound_backlog.store(
                        inbound.max_capacity() - inbound.capacity(),
                        Ordering::Relaxed,
                    );
                }
            }
            self.flush();
        }
    }

    fn flush(&mut self) {
        while let Some(t) = self.endpoint.poll_transmit() {
            self.ctx.transports.send(t);
        }
        while let Some(ev) = self.endpoint.poll_event() {
            self.dispatch(ev);
        }
        // Dispatch may have responded; send those too.
        while let Some(t) = self.endpoint.poll_transmit() {
            self.ctx.transports.send(t);
        }
    }

    fn on_inbound(&mut self, m: Inbound) {
        match m.msg {
            Ok(msg) => self.endpoint.handle_incoming(msg, m.flow, Instant::now()),
            Err(r) => self.on_malformed(r, m.flow),
        }
    }

    fn on_malformed(&mut self, r: Rejected, flow: Flow) {
        self.ctx.stats.malformed.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        match self.noisy.get_mut(&flow.remote.ip()) {
            Some((at, suppressed)) if now.duration_since(*at) < Duration::from_secs(60) => {
                *suppressed += 1;
            }
            entry => {
                let suppressed = entry.map(|e| e.1).unwrap_or(0);
                warn!(peer = %flow.remote, error = %r.error, suppressed, "malformed SIP message (one line per address per minute)");
                self.noisy.insert(flow.remote.ip(), (now, 0));
            }
        }
        if self.noisy.len() > 10_000 {
            self.noisy.clear();
        }
        let status = r.error.status();
        if let Some(bytes) = builder::raw_error_response(&r.raw, status, &r.error.to_string()) {
            // Answer to where it came from (Via may be the broken part).
            self.ctx.transports.send(Transmit { flow, bytes });
        }
    }

    fn on_cmd(&mut self, c: SipCmd) {
        let now = Instant::now();
        match c {
            SipCmd::Respond { tx, status, bytes } => {
                self.endpoint.respond(tx, status, bytes, now);
            }
            SipCmd::Request {
                call_id,
                method,
                branch,
                bytes,
                dest,
                next_hop,
                created,
            } => match dest {
                Some(dest) => {
                    let id = self
                        .endpoint
                        .send_request(method, &branch, &call_id, bytes, dest, now);
                    if let Some(c) = created {
                        let _ = c.send(id);
                    }
                }
                None => self.resolve(call_id, Some(method), branch, bytes, next_hop, created),
            },
            SipCmd::Resolved {
                call_id,
                method,
                branch,
                bytes,
                dest,
                created,
            } => {
                let id = self
                    .endpoint
                    .send_request(method, &branch, &call_id, bytes, dest, now);
                if let Some(c) = created {
                    let _ = c.send(id);
                }
            }
            SipCmd::Stateless {
                bytes,
                dest: Some(flow),
                ..
            } => self.endpoint.send_stateless(flow, bytes),
            SipCmd::Stateless {
                bytes,
                dest: None,
                next_hop,
            } => self.resolve(String::new(), None, String::new(), bytes, next_hop, None),
            SipCmd::Bind { call_id, to } => {
                self.calls.insert(call_id, to);
            }
            SipCmd::Unbind { call_id } => {
                self.calls.remove(&call_id);
            }
        }
    }

    /// Resolve a SIP URI host with DNS off the driver task, then come back as `Resolved`.
    fn resolve(
        &self,
        call_id: String,
        method: Option<Method>,
        branch: String,
        bytes: Bytes,
        next_hop: String,
        created: Option<tokio::sync::oneshot::Sender<TxId>>,
    ) {
        let ctx = self.ctx.clone();
        tokio::spawn(async move {
            let Some((host, port, transport)) = crate::sip::dialog::uri_host_port(&next_hop) else {
                warn!(%next_hop, "cannot send: unusable URI");
                return;
            };
            let addr = match tokio::net::lookup_host((host.as_str(), port)).await {
                Ok(mut addrs) => addrs.next(),
                Err(e) => {
                    warn!(%next_hop, error = %e, "cannot resolve");
                    None
                }
            };
            let Some(remote) = addr else {
                return;
            };
            let local = ctx
                .transports
                .local_addr(transport)
                .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
            let dest = Flow {
                transport,
                local,
                remote,
                conn: 0,
            };
            let cmd = match method {
                Some(method) => SipCmd::Resolved {
                    call_id,
                    method,
                    branch,
                    bytes,
                    dest,
                    created,
                },
                None => SipCmd::Stateless {
                    bytes,
                    dest: Some(dest),
                    next_hop: String::new(),
                },
            };
            let _ = ctx.sip.send(cmd);
        });
    }

    fn dispatch(&mut self, ev: Event) {
        match ev {
            Event::Request { tx, req, flow } => self.on_request(tx, req, flow),
            Event::Ack { req, .. } => {
                if let Some(c) = self.calls.get(&req.ids.call_id) {
                    let _ = c.try_send(ToCall::Ack { req });
                }
            }
            Event::Cancelled { call_id, .. } => {
                if let Some(c) = self.calls.get(&call_id) {
                    let _ = c.try_send(ToCall::Cancelled);
                }
            }
            Event::Response { tx, resp, flow } => {
                if let Some(c) = self.calls.get(&resp.ids.call_id) {
                    let _ = c.try_send(ToCall::Response { tx, resp, flow });
                }
            }
            Event::StrayInviteOk { resp, flow } => {
                // The call that sent this INVITE is gone: ACK and BYE it so the far end
                // does not hold a half-open call (§13.2.2.4).
                debug!(call_id = %resp.ids.call_id, "2xx for a finished INVITE");
                if let Some(c) = self.calls.get(&resp.ids.call_id) {
                    let _ = c.try_send(ToCall::Response { tx: 0, resp, flow });
                }
            }
            Event::TimedOut {
                call_id,
                method,
                server,
                ..
            } => {
                self.ctx.stats.tx_timeouts.fetch_add(1, Ordering::Relaxed);
                if let Some(c) = self.calls.get(&call_id) {
                    let _ = c.try_send(ToCall::TimedOut {
                        method,
                        server,
                        call_id,
                    });
                }
            }
        }
    }

    fn respond(&mut self, tx: TxId, req: &InRequest, status: u16, extra: &[(&str, String)]) {
        let mut b = builder::response(&req.req, status, Some(&builder::token()));
        for (n, v) in extra {
            b.push_header(n, v);
        }
        self.endpoint
            .respond(tx, status, b.finish(), Instant::now());
    }

    fn on_request(&mut self, tx: TxId, req: Box<InRequest>, flow: Flow) {
        let method = req.req.method;
        // §8.2.2: loops and extensions we do not implement are refused before anything else.
        if method != Method::Ack && method != Method::Cancel {
            let hops = crate::sip::message::header_value(&req.req.headers, "Max-Forwards")
                .and_then(|v| v.trim().parse::<u32>().ok());
            if hops == Some(0) && method != Method::Options {
                self.respond(tx, &req, 483, &[]);
                return;
            }
            if let Some(required) = crate::sip::message::header_value(&req.req.headers, "Require") {
                let unknown: Vec<&str> = required
                    .split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .collect();
                if !unknown.is_empty() {
                    self.respond(tx, &req, 420, &[("Unsupported", unknown.join(", "))]);
                    return;
                }
            }
        }
        if let Some(c) = self.calls.get(&req.ids.call_id) {
            match c.try_send(ToCall::Request { tx, req, flow }) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    // The caller retransmits; the call task catches up.
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(ToCall::Request { req, .. })) => {
                    self.calls.remove(&req.ids.call_id);
                    self.respond(tx, &req, 481, &[]);
                    return;
                }
                Err(_) => return,
            }
        }
        let in_dialog = req.ids.to_tag.is_some();
        match method {
            Method::Invite if !in_dialog => self.new_call(tx, req, flow),
            Method::Options => {
                let extra = [
                    ("Allow", ALLOW.to_string()),
                    ("Accept", ACCEPT.to_string()),
                    ("Supported", SUPPORTED.to_string()),
                ];
                self.respond(tx, &req, 200, &extra);
            }
            Method::Register => match self.ctx.registrar.clone() {
                Some(r) => {
                    let now = Instant::now();
                    let (status, bytes) = r.handle(&req, flow, now);
                    self.endpoint.respond(tx, status, bytes, now);
                }
                None => self.respond(tx, &req, 501, &[]),
            },
            _ if in_dialog => self.respond(tx, &req, 481, &[]),
            Method::Bye | Method::Info | Method::Update | Method::PRack | Method::Invite => {
                self.respond(tx, &req, 481, &[])
            }
            _ => self.respond(tx, &req, 405, &[("Allow", ALLOW.to_string())]),
        }
    }

    fn new_call(&mut self, tx: TxId, req: Box<InRequest>, flow: Flow) {
        if let Some(reason) = self.ctx.overload_reason() {
            self.ctx.stats.shed.fetch_add(1, Ordering::Relaxed);
            debug!(call_id = %req.ids.call_id, reason, "shedding new call");
            let retry = self.ctx.cfg.limits.retry_after.to_string();
            self.respond(tx, &req, 503, &[("Retry-After", retry)]);
            return;
        }
        let (to_call, rx) = mpsc::channel(CALL_QUEUE);
        self.calls.insert(req.ids.call_id.clone(), to_call.clone());
        call::spawn(self.ctx.clone(), tx, req, flow, rx, to_call);
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

pub fn log_started(udp: &[SocketAddr], tcp: &[SocketAddr]) {
    info!(?udp, ?tcp, "SIP listening");
}
