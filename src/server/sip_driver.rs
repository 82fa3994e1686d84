//! The task that drives the sans-IO SIP endpoint and registrar: messages in from the
//! transports, commands in from call tasks, timers; transmits out to the transports, events out
//! to the call task that owns the Call-ID, registrations out to the ACD. It also answers what
//! belongs to no call: REGISTER, OPTIONS pings, unknown dialogs (481), methods we do not serve
//! (405/501), malformed requests (400, logged once per peer), and new INVITEs when we are
//! overloaded or draining (503 + Retry-After). New calls go to the injected spawner.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::ctx::Ctx;
use super::messages::{AcdCmd, DeskHandle, NewCall, SipCmd, SpawnCall, ToCall};
use crate::acd::Input;
use crate::sip::builder::{self, ACCEPT, ALLOW, SUPPORTED};
use crate::sip::endpoint::{Endpoint, Event, TxId};
use crate::sip::flow::{Flow, Transmit};
use crate::sip::message::{InRequest, Method};
use crate::sip::random::Random;
use crate::sip::registrar::{Registrar, RegistrarEvent};
use crate::sip::transport::{Inbound, Received, Rejected};
use crate::sip::trunk_register::{TrunkClient, TrunkClientConfig};

mod next_hop;
use next_hop::{NextHops, Pending};

/// Per-call queue depth; a call task that falls this far behind loses messages (SIP
/// retransmits them).
const CALL_QUEUE: usize = 64;

pub struct Driver {
    ctx: Arc<Ctx>,
    endpoint: Endpoint,
    registrar: Option<Registrar>,
    /// Agents' signed-in desktops, by agent (the registrar keeps their phones).
    desks: HashMap<String, Vec<DeskHandle>>,
    /// Agents with at least one registered phone.
    phones: std::collections::HashSet<String>,
    spawn: SpawnCall,
    rng: Random,
    calls: HashMap<String, mpsc::Sender<ToCall>>,
    /// The agent each leg we placed to an agent's phone rings, by its Call-ID (an agent's
    /// consultation call goes to the call that has their caller).
    agent_legs: HashMap<String, String>,
    /// Addresses whose malformed messages were logged recently: (when, suppressed since).
    /// One line per address per minute, however many messages (a flood must not flood logs).
    noisy: HashMap<std::net::IpAddr, (Instant, u64)>,
    /// Our registration and keepalive toward each carrier trunk (index into `ctx.trunks`).
    trunk_clients: Vec<(usize, TrunkClient)>,
    /// New calls per source address that is neither a trunk nor an agent's phone.
    invite_limit: crate::sip::throttle::Buckets<std::net::IpAddr>,
    /// Next hops found in DNS: calls' pins and other candidates (`next_hop`).
    hops: NextHops,
}

impl Driver {
    pub fn new(
        ctx: Arc<Ctx>,
        registrar: Option<Registrar>,
        spawn: SpawnCall,
        mut rng: Random,
    ) -> Driver {
        let invite_limit =
            crate::sip::throttle::Buckets::new(ctx.cfg.limits.invites_per_source_per_min);
        Driver {
            endpoint: Endpoint::new(ctx.timers, rng.fork()),
            registrar,
            desks: HashMap::new(),
            phones: Default::default(),
            spawn,
            rng,
            ctx,
            calls: HashMap::new(),
            agent_legs: HashMap::new(),
            noisy: HashMap::new(),
            trunk_clients: Vec::new(),
            invite_limit,
            hops: NextHops::default(),
        }
    }

    /// Start registering to / pinging the carriers (call once the sockets are bound).
    fn start_trunks(&mut self) {
        let now = Instant::now();
        for (i, t) in self.ctx.trunks.trunks.iter().enumerate() {
            let cfg = &t.cfg;
            let transport = super::trunks::transport_of(cfg);
            let Some(local) = self.ctx.transports.local_for_outbound(transport) else {
                warn!(trunk = %cfg.name, "no {transport} socket for this trunk");
                continue;
            };
            let sent_by = self.ctx.sent_by(Flow {
                transport,
                local,
                remote: local,
                conn: 0,
            });
            let tp = cfg.uri_transport();
            let user = cfg.username.clone().unwrap_or_else(|| "centrale".into());
            let credentials = match (&cfg.username, &cfg.password) {
                (Some(u), Some(p)) => Some(crate::sip::auth_client::ClientCredentials {
                    user: u.clone(),
                    password: p.value().to_string(),
                }),
                _ => None,
            };
            let client = TrunkClient::new(
                TrunkClientConfig {
                    server_uri: format!("sip:{}{tp}", cfg.uri_host()),
                    aor: format!("sip:{user}@{}", cfg.domain()),
                    contact: format!("sip:{user}@{sent_by}{tp}"),
                    sent_by,
                    via_transport: transport.via_token(),
                    register: cfg.register,
                    expires: cfg.register_expires,
                    keepalive: Duration::from_secs(cfg.keepalive_s),
                    credentials,
                },
                self.rng.fork(),
                now,
            );
            info!(trunk = %cfg.name, address = %cfg.address, register = cfg.register, "carrier trunk");
            self.trunk_clients.push((i, client));
        }
    }

    fn trunk_deadline(&self) -> Option<Instant> {
        self.trunk_clients
            .iter()
            .filter_map(|(_, c)| c.poll_timeout())
            .min()
    }

    /// Send what the trunk clients want sent, and publish their status (only after a trunk
    /// client acted: a timer of its own, a response or a timeout of one of its requests).
    fn flush_trunks(&mut self) {
        let now = Instant::now();
        let mut sends = Vec::new();
        for (i, c) in self.trunk_clients.iter_mut() {
            while let Some(s) = c.poll_transmit() {
                sends.push((*i, s));
            }
            let st = c.status();
            let board = &self.ctx.trunks.trunks[*i];
            let was = board.reachable.swap(st.reachable, Ordering::Relaxed);
            if was != st.reachable {
                if st.reachable {
                    info!(trunk = %board.cfg.name, "carrier answers again");
                } else {
                    warn!(trunk = %board.cfg.name, "carrier does not answer: its calls go to the failover trunk");
                }
            }
            let reg = board.registered.swap(st.registered, Ordering::Relaxed);
            if reg != st.registered {
                info!(trunk = %board.cfg.name, registered = st.registered, failures = st.failures, "carrier registration");
            }
        }
        for (i, s) in sends {
            let cfg = &self.ctx.trunks.trunks[i].cfg;
            let transport = super::trunks::transport_of(cfg);
            let remote = cfg.next_hop_addr();
            let local = self.ctx.transports.local_for_outbound(transport);
            match (remote, local) {
                (Some(remote), Some(local)) => {
                    let dest = Flow {
                        transport,
                        local,
                        remote,
                        conn: 0,
                    };
                    self.endpoint
                        .send_request(s.method, &s.branch, &s.call_id, s.bytes, dest, now);
                }
                _ => {
                    let next_hop = format!("sip:{}{}", cfg.uri_host(), cfg.uri_transport());
                    self.resolve(Pending {
                        call_id: s.call_id,
                        method: Some(s.method),
                        branch: s.branch,
                        bytes: s.bytes,
                        next_hop,
                    });
                }
            }
        }
    }

    pub async fn run(
        mut self,
        mut inbound: mpsc::Receiver<Inbound>,
        mut cmds: mpsc::UnboundedReceiver<SipCmd>,
    ) {
        let mut stats_tick = tokio::time::interval(Duration::from_secs(1));
        self.start_trunks();
        loop {
            let deadline = match (self.endpoint.poll_timeout(), self.trunk_deadline()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
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
                    let now = Instant::now();
                    self.endpoint.handle_timeout(now);
                    if self.trunk_deadline().is_some_and(|d| d <= now) {
                        for (_, c) in self.trunk_clients.iter_mut() {
                            c.handle_timeout(now);
                        }
                        self.flush_trunks();
                    }
                }
                _ = stats_tick.tick() => {
                    // Expired registrations log their agents out.
                    if let Some(r) = self.registrar.as_mut() {
                        r.expire(Instant::now());
                    }
                    self.forward_registrations();
                    self.tidy_next_hops();
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
            Received::Message(msg) => self.endpoint.handle_incoming(msg, m.flow, Instant::now()),
            Received::Malformed(r) => self.on_malformed(r, m.flow),
            Received::Unreachable => {
                // Requests with another DNS candidate go there; the rest fail now.
                self.next_candidate(m.flow);
                self.endpoint.transport_failed(m.flow);
            }
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
        if let Some(bytes) =
            builder::raw_error_response(&r.raw, status, &r.error.to_string(), &self.rng.token())
        {
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
            } => match dest {
                Some(dest) => {
                    self.endpoint
                        .send_request(method, &branch, &call_id, bytes, dest, now);
                }
                None => self.resolve(Pending {
                    call_id,
                    method: Some(method),
                    branch,
                    bytes,
                    next_hop,
                }),
            },
            SipCmd::Resolved(r) => self.send_resolved(r),
            SipCmd::Unresolvable { call_id, method } => self.unresolvable(call_id, method),
            SipCmd::Stateless {
                bytes,
                dest: Some(flow),
                ..
            } => self.endpoint.send_stateless(flow, bytes),
            SipCmd::Stateless {
                bytes,
                dest: None,
                next_hop,
            } => self.resolve(Pending {
                call_id: String::new(),
                method: None,
                branch: String::new(),
                bytes,
                next_hop,
            }),
            SipCmd::Bind { call_id, to, agent } => {
                if let Some(agent) = agent {
                    self.agent_legs.insert(call_id.clone(), agent);
                }
                self.calls.insert(call_id, to);
            }
            SipCmd::Unbind { call_id } => {
                self.calls.remove(&call_id);
                self.agent_legs.remove(&call_id);
                self.unpin(&call_id);
            }
            SipCmd::Contacts { agent, reply } => {
                let bindings = self
                    .registrar
                    .as_ref()
                    .map(|r| r.contacts(&agent))
                    .unwrap_or_default();
                let desks = self.desks.get(&agent).cloned().unwrap_or_default();
                let _ = reply.try_send(ToCall::Contacts {
                    agent,
                    bindings,
                    desks,
                });
            }
            SipCmd::DeskOnline(desk) => {
                let agent = desk.agent.clone();
                let was = self.reachable(&agent);
                self.desks.entry(agent.clone()).or_default().push(desk);
                self.presence_changed(&agent, was);
            }
            SipCmd::DeskOffline { session, tx, pause } => {
                let gone = |d: &DeskHandle| d.session == session && d.tx.same_channel(&tx);
                let agents: Vec<String> = self
                    .desks
                    .iter()
                    .filter(|(_, v)| v.iter().any(gone))
                    .map(|(a, _)| a.clone())
                    .collect();
                for agent in agents {
                    let was = self.reachable(&agent);
                    if let Some(v) = self.desks.get_mut(&agent) {
                        v.retain(|d| !gone(d));
                        if v.is_empty() {
                            self.desks.remove(&agent);
                        }
                    }
                    if pause && !self.desks.contains_key(&agent) {
                        self.ctx.acd(AcdCmd::Input(crate::acd::Input::AgentPause {
                            agent: agent.clone(),
                            reason: "disconnected".into(),
                        }));
                    }
                    self.presence_changed(&agent, was);
                }
            }
            SipCmd::Accounts(accounts) => {
                if let Some(r) = self.registrar.as_mut() {
                    r.set_accounts(accounts);
                }
                self.forward_registrations();
            }
        }
    }

    /// Whether the agent can be reached at all (a phone or a desktop).
    fn reachable(&self, agent: &str) -> bool {
        self.phones.contains(agent) || self.desks.contains_key(agent)
    }

    /// Tell the ACD when an agent becomes reachable or stops being (one agent state, however
    /// many phones and desktops).
    fn presence_changed(&mut self, agent: &str, was: bool) {
        let now = self.reachable(agent);
        let input = match (was, now) {
            (false, true) => Input::AgentRegistered {
                agent: agent.to_string(),
            },
            (true, false) => Input::AgentUnregistered {
                agent: agent.to_string(),
            },
            _ => return,
        };
        self.ctx.acd(AcdCmd::Input(input));
    }

    /// Phones that registered or went away.
    fn forward_registrations(&mut self) {
        let mut events = Vec::new();
        if let Some(r) = self.registrar.as_mut() {
            while let Some(e) = r.poll_event() {
                events.push(e);
            }
        }
        for e in events {
            match e {
                RegistrarEvent::Registered { agent } => {
                    let was = self.reachable(&agent);
                    self.phones.insert(agent.clone());
                    self.presence_changed(&agent, was);
                }
                RegistrarEvent::Unregistered { agent, .. } => {
                    let was = self.reachable(&agent);
                    self.phones.remove(&agent);
                    self.presence_changed(&agent, was);
                }
            }
        }
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
                    let _ = c.try_send(ToCall::Cancelled { call_id });
                }
            }
            Event::Response { tx, resp, flow } => {
                self.hop_settled(tx);
                if let Some(c) = self.calls.get(&resp.ids.call_id) {
                    let _ = c.try_send(ToCall::Response { tx, resp, flow });
                } else if let Some((_, t)) = self
                    .trunk_clients
                    .iter_mut()
                    .find(|(_, t)| t.owns(&resp.ids.call_id))
                {
                    t.on_response(&resp, Instant::now());
                    self.flush_trunks();
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
                tx,
                call_id,
                method,
                server,
            } => {
                self.hop_settled(tx);
                self.ctx.stats.tx_timeouts.fetch_add(1, Ordering::Relaxed);
                if let Some((_, t)) = self
                    .trunk_clients
                    .iter_mut()
                    .find(|(_, t)| t.owns(&call_id))
                {
                    t.on_timeout(&call_id, method, Instant::now());
                    self.flush_trunks();
                }
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
        let mut b = builder::response(&req.req, status, Some(&self.rng.token()));
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
                    .filter(|t| {
                        !t.is_empty()
                            && !SUPPORTED
                                .split(',')
                                .any(|ours| ours.trim().eq_ignore_ascii_case(t))
                    })
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
            Method::Register => match self.registrar.as_mut() {
                Some(r) => {
                    let now = Instant::now();
                    let (status, bytes) = r.handle(&req, flow, now);
                    self.endpoint.respond(tx, status, bytes, now);
                    self.forward_registrations();
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

    fn new_call(&mut self, tx: TxId, mut req: Box<InRequest>, flow: Flow) {
        // A feature code is accepted only from a registered phone's own address.
        let agent_phone = self
            .registrar
            .as_ref()
            .and_then(|r| r.agent_at(flow.remote));
        if agent_phone.is_none() && self.source_flooding(&req, flow) {
            return self.respond_throttled(tx, &req, flow);
        }
        if let Some(agent) = agent_phone.as_deref() {
            match self.consultation(agent, tx, req, flow) {
                Ok(()) => return,
                Err(r) => req = r,
            }
        }
        if let Some(reason) = self.ctx.overload_reason() {
            self.ctx.stats.shed.fetch_add(1, Ordering::Relaxed);
            debug!(call_id = %req.ids.call_id, reason, "shedding new call");
            let retry = self.ctx.cfg.limits.retry_after.to_string();
            self.respond(tx, &req, 503, &[("Retry-After", retry)]);
            return;
        }
        let (to_call, rx) = mpsc::channel(CALL_QUEUE);
        self.calls.insert(req.ids.call_id.clone(), to_call.clone());
        (self.spawn)(NewCall {
            tx,
            invite: req,
            flow,
            agent_phone,
            rx,
            me: to_call,
        });
    }
}

impl Driver {
    /// An agent's phone dials a colleague's id while we have a call of theirs: the INVITE is
    /// that call's consultation. Anything else comes back to be an ordinary new call.
    fn consultation(
        &mut self,
        agent: &str,
        tx: TxId,
        req: Box<InRequest>,
        flow: Flow,
    ) -> Result<(), Box<InRequest>> {
        let dialled = crate::sip::message::dialled_user(&req.req.uri);
        if !self.ctx.call.agents.contains(&dialled) {
            return Err(req);
        }
        // Only on a new INVITE from an agent's phone to an agent's id: a scan of the few
        // legs ringing or bridged to agents, never per message.
        let Some(call) = self
            .agent_legs
            .iter()
            .filter(|(_, a)| a.as_str() == agent)
            .find_map(|(id, _)| self.calls.get(id))
            .cloned()
        else {
            return Err(req);
        };
        let call_id = req.ids.call_id.clone();
        debug!(%call_id, %agent, to = %dialled, "consultation call");
        let msg = ToCall::Consult {
            tx,
            req,
            flow,
            agent: agent.to_string(),
        };
        match call.try_send(msg) {
            Ok(()) => {
                self.calls.insert(call_id, call);
                Ok(())
            }
            Err(
                mpsc::error::TrySendError::Full(ToCall::Consult { req, .. })
                | mpsc::error::TrySendError::Closed(ToCall::Consult { req, .. }),
            ) => Err(req),
            Err(_) => Ok(()),
        }
    }

    /// Whether this new call's source is over its allowance (and, if not, count it). Carrier
    /// trunks and calls to an emergency number are never limited.
    fn source_flooding(&mut self, req: &InRequest, flow: Flow) -> bool {
        if self.ctx.trunks.source(flow.remote).is_some() {
            return false;
        }
        let called = crate::dialplan::model::normalize_number(&crate::sip::message::dialled_user(
            &req.req.uri,
        ));
        if self
            .ctx
            .cfg
            .emergency
            .numbers
            .iter()
            .any(|n| crate::dialplan::model::normalize_number(n) == called)
        {
            return false;
        }
        let now = Instant::now();
        let ip = flow.remote.ip();
        if self.invite_limit.wait(&ip, now).is_some() {
            return true;
        }
        if self.invite_limit.take(ip, now) {
            warn!(source = %ip, "new calls from this address throttled (limits.invites_per_source_per_min)");
        }
        false
    }

    fn respond_throttled(&mut self, tx: TxId, req: &InRequest, flow: Flow) {
        self.ctx
            .stats
            .invites_throttled
            .fetch_add(1, Ordering::Relaxed);
        let wait = self
            .invite_limit
            .wait(&flow.remote.ip(), Instant::now())
            .unwrap_or(1);
        debug!(call_id = %req.ids.call_id, source = %flow.remote, "new call throttled");
        self.respond(tx, req, 503, &[("Retry-After", wait.to_string())]);
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

pub fn log_started(udp: &[SocketAddr], tcp: &[SocketAddr], tls: &[SocketAddr]) {
    info!(?udp, ?tcp, ?tls, "SIP listening");
}
