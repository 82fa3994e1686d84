//! The registrar for agents' softphones (RFC 3261 §10.3): digest authentication against the
//! agents' credentials (an `Accounts` lookup, through `digest`), bindings with expiry (several
//! per agent, each remembering the `Flow` it came in on, for NAT traversal), Call-ID/CSeq
//! ordering, and throttling of failed attempts per source address and per username (`throttle`).
//! Agents coming and going are queued as `RegistrarEvent`s for its owner to `poll_event`.
//!
//! Sans-IO: `&mut self`, owned by the SIP driver; time comes in as `now`, and the nonce secret
//! and randomness are given at construction. No locks, no channels, no files.
//! Never logs passwords, HA1s, digest responses or Authorization headers: usernames (sanitised),
//! addresses and reasons only. Routing calls to agents is the ACD's business.
//!
//! Choices (see docs/agents.md): a wrong password and an unknown user both get 403 after the
//! same work (a stand-in HA1 is hashed for unknown users); throttled requests get 503 with
//! Retry-After and cost no hashing; a source address and username pair that registered
//! successfully before is not held back by the per-username limit, so an attacker guessing
//! Marie's password from elsewhere cannot lock Marie's own phone out.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rsipstack::sip::{typed, uri::Scheme, Header};
use tracing::{debug, info, warn};

use super::builder;
use super::digest::{self, Algorithm, NonceCheck, NonceService};
use super::flow::Flow;
use super::message::{header_value, InRequest};
use super::random::Random;
use super::throttle::Buckets;

/// What the registrar needs to know of agents' accounts (implemented by the agents file).
pub trait Accounts: Send + Sync {
    /// The realm the stored digests were made for, if recorded.
    fn realm(&self) -> Option<&str>;
    /// The account a SIP username authenticates as: the agent's id and its HA1 for `alg`.
    fn account(&self, username: &str, alg: Algorithm) -> Option<(String, String)>;
    fn has_agent(&self, agent: &str) -> bool;
    fn is_empty(&self) -> bool;
}

/// Tunables; `Default` is what a 311 centre of 8–23 agents needs.
#[derive(Debug, Clone)]
pub struct RegistrarLimits {
    /// Binding lifetime when the REGISTER names none (RFC 3261 suggests 3600).
    pub default_expires: u32,
    /// Shorter non-zero requests get 423 Interval Too Brief.
    pub min_expires: u32,
    /// Longer requests are shortened to this (so a vanished phone is noticed within the hour).
    pub max_expires: u32,
    /// Bindings per agent; past this the one expiring soonest is dropped.
    pub max_contacts: usize,
    pub nonce_ttl: Duration,
    /// Offered in this order of preference (SHA-256 first, RFC 7616 §3.7). Drop SHA-256 if a
    /// phone model only ever reads the first challenge and does not know it.
    pub algorithms: Vec<Algorithm>,
    /// Failed authentications allowed per source address per minute (burst = the same). 0 = no
    /// limit. IPv6 addresses count per /64.
    pub ip_failures_per_min: u32,
    /// Failed authentications allowed per username per minute, from addresses the username has
    /// not registered from lately. 0 = no limit.
    pub user_failures_per_min: u32,
    /// 401 challenges per source address per minute (a whole office behind one NAT registers
    /// at once after a power cut: keep it well above the agent count). 0 = no limit.
    pub ip_challenges_per_min: u32,
    /// How long a successful (username, address) pair stays exempt from the per-username limit.
    pub trust_window: Duration,
}

impl Default for RegistrarLimits {
    fn default() -> Self {
        RegistrarLimits {
            default_expires: 3600,
            min_expires: 60,
            max_expires: 3600,
            max_contacts: 10,
            nonce_ttl: digest::DEFAULT_NONCE_TTL,
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
            ip_failures_per_min: 10,
            user_failures_per_min: 5,
            ip_challenges_per_min: 120,
            trust_window: Duration::from_secs(24 * 3600),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnregisterReason {
    /// The last binding ran out without a refresh.
    Expired,
    /// The phone removed its bindings (Expires: 0 or `Contact: *`).
    Removed,
    /// The agent was removed from agents.toml.
    Deleted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrarEvent {
    /// The agent went from no binding to at least one (refreshes are not reported).
    Registered { agent: String },
    /// The agent's last binding went away.
    Unregistered {
        agent: String,
        reason: UnregisterReason,
    },
}

/// One registered contact of an agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    /// The Contact URI as the phone sent it (what an INVITE's Request-URI will be).
    pub uri: String,
    /// Where the REGISTER came from: for a contact behind NAT, INVITEs go down this flow
    /// (`flow.remote` is the packet's source address and port).
    pub flow: Flow,
    pub expires_at: Instant,
    pub q: Option<f32>,
    pub call_id: String,
    pub cseq: u32,
    /// URI compared case-insensitively (RFC 3261 §10.3 step 6, simplified).
    key: String,
}

/// The registrar; see the module documentation.
pub struct Registrar {
    realm: String,
    limits: RegistrarLimits,
    events: VecDeque<RegistrarEvent>,
    rng: Random,
    inner: Inner,
}

struct Inner {
    accounts: Arc<dyn Accounts>,
    nonces: NonceService,
    /// agent id → bindings.
    bindings: HashMap<String, Vec<Binding>>,
    ip_failures: Buckets<IpAddr>,
    user_failures: Buckets<String>,
    ip_challenges: Buckets<IpAddr>,
    /// username → addresses it registered from, with when.
    trusted: HashMap<String, Vec<(IpAddr, Instant)>>,
}

/// What to answer.
enum Outcome {
    Ok(Vec<(String, u64)>),
    Challenge(Vec<String>),
    Forbidden,
    Throttled(u64),
    TooBrief(u32),
    Status(u16),
}

const MAX_TRUSTED_PER_USER: usize = 16;

impl Registrar {
    /// `rng` draws the nonce secret and every nonce and tag; `now` anchors nonce ages.
    pub fn new(
        realm: impl Into<String>,
        accounts: Arc<dyn Accounts>,
        limits: RegistrarLimits,
        mut rng: Random,
        now: Instant,
    ) -> Registrar {
        let realm = realm.into();
        warn_realm(&realm, &*accounts);
        let secret = rng.bytes32();
        let inner = Inner {
            accounts,
            nonces: NonceService::with_secret(secret, limits.nonce_ttl, now),
            bindings: HashMap::new(),
            ip_failures: Buckets::new(limits.ip_failures_per_min),
            user_failures: Buckets::new(limits.user_failures_per_min),
            ip_challenges: Buckets::new(limits.ip_challenges_per_min),
            trusted: HashMap::new(),
        };
        Registrar {
            realm,
            limits,
            events: VecDeque::new(),
            rng,
            inner,
        }
    }

    /// Agents who came or went since the last call (registered, unregistered).
    pub fn poll_event(&mut self) -> Option<RegistrarEvent> {
        self.events.pop_front()
    }

    fn emit(&mut self, events: Vec<RegistrarEvent>) {
        self.events.extend(events);
    }

    /// Answer a REGISTER: the status and the whole response.
    pub fn handle(&mut self, req: &InRequest, flow: Flow, now: Instant) -> (u16, Bytes) {
        let mut events = Vec::new();
        let outcome = self.inner.register(
            &self.realm,
            &self.limits,
            req,
            flow,
            now,
            &mut events,
            &mut self.rng,
        );
        self.emit(events);
        let code = match &outcome {
            Outcome::Ok(_) => 200,
            Outcome::Challenge(_) => 401,
            Outcome::Forbidden => 403,
            Outcome::Throttled(_) => 503,
            Outcome::TooBrief(_) => 423,
            Outcome::Status(c) => *c,
        };
        let mut m = builder::response(&req.req, code, Some(&self.rng.token()));
        match outcome {
            Outcome::Ok(list) => {
                for (uri, secs) in list {
                    m.push_header("Contact", format_args!("<{uri}>;expires={secs}"));
                }
            }
            Outcome::Challenge(values) => {
                for v in values {
                    m.push_header("WWW-Authenticate", v);
                }
            }
            Outcome::Throttled(secs) => m.push_header("Retry-After", secs),
            Outcome::TooBrief(min) => m.push_header("Min-Expires", min),
            Outcome::Forbidden | Outcome::Status(_) => {}
        }
        (code, m.finish())
    }

    /// Current bindings of an agent, preferred first (highest q, then most recently refreshed).
    pub fn contacts(&self, agent_id: &str) -> Vec<Binding> {
        let mut v = self
            .inner
            .bindings
            .get(agent_id)
            .cloned()
            .unwrap_or_default();
        v.sort_by(|a, b| {
            let (qa, qb) = (a.q.unwrap_or(1.0), b.q.unwrap_or(1.0));
            qb.total_cmp(&qa).then(b.expires_at.cmp(&a.expires_at))
        });
        v
    }

    /// Ids of agents with at least one binding.
    /// The agent whose phone registered from this address (feature codes are accepted from
    /// a registered phone's own address: the binding proves who dials).
    pub fn agent_at(&self, addr: std::net::SocketAddr) -> Option<String> {
        self.inner
            .bindings
            .iter()
            .find(|(_, list)| list.iter().any(|b| b.flow.remote == addr))
            .map(|(agent, _)| agent.clone())
    }

    pub fn registered_agents(&self) -> Vec<String> {
        let mut v: Vec<String> = self.inner.bindings.keys().cloned().collect();
        v.sort();
        v
    }

    /// Drop bindings that ran out (call every second); their agents' `Unregistered` events
    /// are queued.
    pub fn expire(&mut self, now: Instant) {
        let mut events = Vec::new();
        let ids: Vec<String> = self.inner.bindings.keys().cloned().collect();
        for id in ids {
            self.inner.expire_agent(&id, now, &mut events);
        }
        self.inner.housekeeping(&self.limits, now);
        self.emit(events);
    }

    /// Swap in reloaded credentials. Agents no longer in them lose their bindings at once
    /// (`Unregistered { reason: Deleted }`); others keep theirs until they expire.
    pub fn set_accounts(&mut self, accounts: Arc<dyn Accounts>) {
        warn_realm(&self.realm, &*accounts);
        let mut events = Vec::new();
        let g = &mut self.inner;
        let gone: Vec<String> = g
            .bindings
            .keys()
            .filter(|id| !accounts.has_agent(id))
            .cloned()
            .collect();
        for id in gone {
            g.bindings.remove(&id);
            info!(agent = %id, "agent removed from agents.toml: registrations dropped");
            events.push(RegistrarEvent::Unregistered {
                agent: id,
                reason: UnregisterReason::Deleted,
            });
        }
        g.trusted
            .retain(|u, _| accounts.account(u, Algorithm::Md5).is_some());
        g.accounts = accounts;
        self.emit(events);
    }
}

fn warn_realm(realm: &str, file: &dyn Accounts) {
    if let Some(r) = file.realm() {
        if r != realm && !file.is_empty() {
            warn!(file_realm = %r, realm, "agents.toml digests were made for another realm: no agent can register");
        }
    }
}

impl Inner {
    #[allow(clippy::too_many_arguments)]
    fn register(
        &mut self,
        realm: &str,
        limits: &RegistrarLimits,
        req: &InRequest,
        flow: Flow,
        now: Instant,
        events: &mut Vec<RegistrarEvent>,
        rng: &mut Random,
    ) -> Outcome {
        let ip = ip_key(flow.remote.ip());
        let aor_user = match aor_user(req) {
            Ok(u) => u,
            Err(code) => return Outcome::Status(code),
        };
        let values: Vec<&str> = req
            .req
            .headers
            .iter()
            .filter_map(|h| match h {
                Header::Authorization(a) => Some(a.value()),
                _ => None,
            })
            .collect();
        if values.is_empty() {
            debug!(source = %flow.remote, aor = %safe(&aor_user), "REGISTER without credentials: challenging");
            return self.challenge(realm, limits, ip, false, now, rng);
        }
        let cred = match pick(&values, realm) {
            Picked::Ours(c) => c,
            Picked::OtherRealm => {
                debug!(source = %flow.remote, "credentials for another realm: challenging");
                return self.challenge(realm, limits, ip, false, now, rng);
            }
            Picked::Bad(e) => {
                if let Some(wait) = self.ip_failures.wait(&ip, now) {
                    return Outcome::Throttled(wait);
                }
                self.fail(ip, None, now, &e.to_string(), None);
                return self.challenge(realm, limits, ip, false, now, rng);
            }
        };
        let user = cred.username.clone();
        let trusted = self.is_trusted(&user, ip, limits, now);
        let wait_ip = self.ip_failures.wait(&ip, now);
        let wait_user = if trusted {
            None
        } else {
            self.user_failures.wait(&user_key(&user), now)
        };
        if let Some(wait) = wait_ip.max(wait_user) {
            debug!(source = %flow.remote, username = %safe(&user), "REGISTER throttled");
            return Outcome::Throttled(wait);
        }

        // The same work whether or not the user exists: nonce check, a stand-in HA1 always
        // derived, one response computed and compared in constant time.
        let nonce = self.nonces.check(&cred.nonce, now);
        let dummy = self.nonces.dummy_ha1(cred.algorithm, &user);
        let agent = self.accounts.account(&user, cred.algorithm);
        let ha1 = agent.as_ref().map_or(dummy.as_str(), |(_, h)| h.as_str());
        let good = digest::verify(&cred, "REGISTER", ha1);
        let known = agent.is_some();
        let Some(agent) = agent.filter(|_| good) else {
            let reason = if !known {
                "unknown user"
            } else {
                "wrong password"
            };
            self.fail(ip, Some(&user), now, reason, Some(trusted));
            return Outcome::Forbidden;
        };
        if nonce != NonceCheck::Valid {
            // Right password, old (or pre-restart) nonce: RFC 7616 §3.3 stale=true, so the
            // phone retries at once without asking anyone for the password.
            debug!(username = %safe(&user), ?nonce, "stale nonce");
            return self.challenge(realm, limits, ip, true, now, rng);
        }
        if !self.nonces.use_nc(&cred.nonce, cred.nc, now) {
            // A replay, or a phone that reuses nc: a fresh nonce sorts out the honest one.
            debug!(username = %safe(&user), nc = cred.nc, "nc not increasing: new nonce");
            return self.challenge(realm, limits, ip, true, now, rng);
        }
        if user != aor_user {
            self.fail(
                ip,
                Some(&user),
                now,
                "authenticated as another agent's username",
                Some(trusted),
            );
            return Outcome::Forbidden;
        }
        self.trust(&user, ip, now);
        let agent_id = agent.0;
        self.update_bindings(limits, &agent_id, &user, req, flow, now, events)
    }

    fn challenge(
        &mut self,
        realm: &str,
        limits: &RegistrarLimits,
        ip: IpAddr,
        stale: bool,
        now: Instant,
        rng: &mut Random,
    ) -> Outcome {
        if let Some(wait) = self.ip_challenges.wait(&ip, now) {
            return Outcome::Throttled(wait);
        }
        if self.ip_challenges.take(ip, now) {
            warn!(source = %ip, "too many REGISTER challenges from this address: throttling");
        }
        Outcome::Challenge(
            self.nonces
                .challenge(realm, stale, &limits.algorithms, now, rng.u64()),
        )
    }

    /// Count a failure; `trusted` Some(true) spares the per-username bucket.
    fn fail(
        &mut self,
        ip: IpAddr,
        user: Option<&str>,
        now: Instant,
        reason: &str,
        trusted: Option<bool>,
    ) {
        warn!(source = %ip, username = %user.map(safe).unwrap_or_default(), reason, "REGISTER refused");
        if self.ip_failures.take(ip, now) {
            warn!(source = %ip, "too many failed REGISTERs from this address: throttling");
        }
        if let (Some(u), Some(false)) = (user, trusted) {
            if self.user_failures.take(user_key(u), now) {
                warn!(username = %safe(u), "too many failed REGISTERs for this username: throttling");
            }
        }
    }

    fn is_trusted(&self, user: &str, ip: IpAddr, limits: &RegistrarLimits, now: Instant) -> bool {
        self.trusted.get(user).is_some_and(|v| {
            v.iter()
                .any(|(a, t)| *a == ip && now.saturating_duration_since(*t) < limits.trust_window)
        })
    }

    fn trust(&mut self, user: &str, ip: IpAddr, now: Instant) {
        let v = self.trusted.entry(user.to_string()).or_default();
        match v.iter_mut().find(|(a, _)| *a == ip) {
            Some(e) => e.1 = now,
            None => {
                if v.len() >= MAX_TRUSTED_PER_USER {
                    v.sort_by_key(|(_, t)| std::cmp::Reverse(*t));
                    v.truncate(MAX_TRUSTED_PER_USER - 1);
                }
                v.push((ip, now));
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn update_bindings(
        &mut self,
        limits: &RegistrarLimits,
        agent_id: &str,
        user: &str,
        req: &InRequest,
        flow: Flow,
        now: Instant,
        events: &mut Vec<RegistrarEvent>,
    ) -> Outcome {
        let header_expires = match header_value(&req.req.headers, "Expires") {
            None => None,
            // RFC 3261 §20.19: delta-seconds; huge values are simply clamped later.
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) => Some(u32::try_from(n).unwrap_or(u32::MAX)),
                Err(_) => return Outcome::Status(400),
            },
        };
        let values: Vec<&str> = req
            .req
            .headers
            .iter()
            .filter_map(|h| match h {
                Header::Contact(c) => Some(c.value()),
                _ => None,
            })
            .collect();
        self.expire_agent(agent_id, now, events);
        let current = self.bindings.get(agent_id).cloned().unwrap_or_default();
        let was_registered = !current.is_empty();
        let call_id = req.ids.call_id.as_str();
        let cseq = req.ids.cseq;

        if values.is_empty() {
            // A query (§10.3 step 6 with no Contact): list what is there.
            return Outcome::Ok(listing(&current, now));
        }
        if values.iter().any(|v| v.trim() == "*") {
            if values.len() != 1 || header_expires != Some(0) {
                return Outcome::Status(400);
            }
            if current
                .iter()
                .any(|b| b.call_id == call_id && cseq <= b.cseq)
            {
                return Outcome::Status(500);
            }
            self.bindings.remove(agent_id);
            if was_registered {
                info!(agent = %agent_id, username = %safe(user), "agent unregistered (Contact: *)");
                events.push(RegistrarEvent::Unregistered {
                    agent: agent_id.to_string(),
                    reason: UnregisterReason::Removed,
                });
            }
            return Outcome::Ok(Vec::new());
        }

        let mut contacts = Vec::new();
        for v in values {
            match typed::Contact::parse_header_list(v) {
                Ok(list) => contacts.extend(list),
                Err(_) => return Outcome::Status(400),
            }
        }
        if contacts.len() > limits.max_contacts {
            return Outcome::Forbidden;
        }
        let mut ops = Vec::with_capacity(contacts.len());
        for c in contacts {
            if !matches!(c.uri.scheme, Some(Scheme::Sip) | Some(Scheme::Sips)) {
                return Outcome::Status(400);
            }
            let secs = c
                .expires()
                .or(header_expires)
                .unwrap_or(limits.default_expires);
            if secs != 0 && secs < limits.min_expires {
                return Outcome::TooBrief(limits.min_expires);
            }
            ops.push((c, secs.min(limits.max_expires)));
        }

        // All-or-nothing (§10.3 step 7): work on a copy, commit at the end.
        let mut next = current;
        let mut touched: HashSet<String> = HashSet::new();
        for (c, secs) in ops {
            let uri = c.uri.to_string();
            let key = uri.to_ascii_lowercase();
            let q = c.q().filter(|q| (0.0..=1.0).contains(q));
            let pos = next.iter().position(|b| b.key == key);
            if let Some(i) = pos {
                let b = &next[i];
                // Same Call-ID and not a newer CSeq: an old request overtook a newer one.
                if !touched.contains(&key) && b.call_id == call_id && cseq <= b.cseq {
                    return Outcome::Status(500);
                }
            }
            let binding = Binding {
                uri,
                flow,
                expires_at: now + Duration::from_secs(u64::from(secs)),
                q,
                call_id: call_id.to_string(),
                cseq,
                key: key.clone(),
            };
            match (pos, secs) {
                (Some(i), 0) => {
                    next.remove(i);
                }
                (Some(i), _) => next[i] = binding,
                (None, 0) => {}
                (None, _) => next.push(binding),
            }
            touched.insert(key);
        }
        while next.len() > limits.max_contacts {
            // Keep the freshest: a phone that moved between networks leaves stale contacts.
            let Some(oldest) = next
                .iter()
                .enumerate()
                .min_by_key(|(_, b)| b.expires_at)
                .map(|(i, _)| i)
            else {
                break;
            };
            next.remove(oldest);
        }

        let list = listing(&next, now);
        let now_registered = !next.is_empty();
        if now_registered {
            self.bindings.insert(agent_id.to_string(), next);
        } else {
            self.bindings.remove(agent_id);
        }
        match (was_registered, now_registered) {
            (false, true) => {
                info!(agent = %agent_id, username = %safe(user), source = %flow.remote, transport = %flow.transport, "agent registered");
                events.push(RegistrarEvent::Registered {
                    agent: agent_id.to_string(),
                });
            }
            (true, false) => {
                info!(agent = %agent_id, username = %safe(user), "agent unregistered");
                events.push(RegistrarEvent::Unregistered {
                    agent: agent_id.to_string(),
                    reason: UnregisterReason::Removed,
                });
            }
            _ => debug!(agent = %agent_id, contacts = list.len(), "registration refreshed"),
        }
        Outcome::Ok(list)
    }

    fn expire_agent(&mut self, agent_id: &str, now: Instant, events: &mut Vec<RegistrarEvent>) {
        let Some(v) = self.bindings.get_mut(agent_id) else {
            return;
        };
        v.retain(|b| b.expires_at > now);
        if v.is_empty() {
            self.bindings.remove(agent_id);
            info!(agent = %agent_id, "agent registration expired");
            events.push(RegistrarEvent::Unregistered {
                agent: agent_id.to_string(),
                reason: UnregisterReason::Expired,
            });
        }
    }

    fn housekeeping(&mut self, limits: &RegistrarLimits, now: Instant) {
        self.nonces.prune(now);
        self.ip_failures.prune(now);
        self.user_failures.prune(now);
        self.ip_challenges.prune(now);
        self.trusted.retain(|_, v| {
            v.retain(|(_, t)| now.saturating_duration_since(*t) < limits.trust_window);
            !v.is_empty()
        });
    }
}

/// Contacts with their remaining seconds (rounded up: never advertise 0 for a live one).
fn listing(bindings: &[Binding], now: Instant) -> Vec<(String, u64)> {
    bindings
        .iter()
        .filter(|b| b.expires_at > now)
        .map(|b| {
            let left = b.expires_at.saturating_duration_since(now);
            let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            (b.uri.clone(), secs)
        })
        .collect()
}

/// The user part of the To URI (the AOR), or the status to answer.
fn aor_user(req: &InRequest) -> Result<String, u16> {
    let to = header_value(&req.req.headers, "To").ok_or(400u16)?;
    let to = typed::To::parse(to).map_err(|_| 400u16)?;
    if !matches!(to.uri.scheme, Some(Scheme::Sip) | Some(Scheme::Sips)) {
        return Err(404);
    }
    match to.uri.user() {
        Some(u) if !u.is_empty() => Ok(u.to_string()),
        _ => Err(404),
    }
}

enum Picked {
    Ours(digest::Credentials),
    OtherRealm,
    Bad(digest::DigestError),
}

/// The Authorization value for our realm among those sent (a phone may carry others').
fn pick(values: &[&str], realm: &str) -> Picked {
    let mut other = false;
    let mut first_err = None;
    for v in values {
        match digest::parse_credentials(v) {
            Ok(c) if c.realm == realm => return Picked::Ours(c),
            Ok(_) => other = true,
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    match first_err {
        Some(e) if !other => Picked::Bad(e),
        _ => Picked::OtherRealm,
    }
}

/// The address a limiter counts: IPv6 per /64 (one host usually owns a whole /64),
/// IPv4-mapped IPv6 as IPv4.
fn ip_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// The per-username limiter's key: no valid username is longer than 64 characters, so longer
/// ones are cut (an attacker's megabyte usernames cost no memory).
fn user_key(u: &str) -> String {
    u.chars().take(64).collect()
}

/// A client-supplied name made safe for a log line.
fn safe(s: &str) -> String {
    s.chars()
        .take(64)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use crate::acd::agents::{AgentDef, AgentsFile};
    use crate::sip::flow::TransportKind;
    use crate::sip::message::{parse_datagram, Incoming};

    const REALM: &str = "centrale";

    struct T {
        reg: Registrar,
        t0: Instant,
    }

    fn setup() -> T {
        let mut file = AgentsFile {
            realm: Some(REALM.into()),
            agents: vec![],
        };
        file.add_or_update(AgentDef::new("marie", None, REALM, "pw-marie-1"))
            .unwrap();
        file.add_or_update(AgentDef::new("luc", Some("1002"), REALM, "pw-luc-22"))
            .unwrap();
        let t0 = Instant::now();
        let reg = Registrar::new(
            REALM,
            Arc::new(file),
            RegistrarLimits::default(),
            Random::seeded(1),
            t0,
        );
        T { reg, t0 }
    }

    fn flow(src: &str) -> Flow {
        Flow {
            transport: TransportKind::Udp,
            local: "192.0.2.1:5060".parse().unwrap(),
            remote: src.parse::<SocketAddr>().unwrap(),
            conn: 0,
        }
    }

    /// A REGISTER as a phone writes it; `extra` holds whole header lines.
    fn register(user: &str, call_id: &str, cseq: u32, extra: &str) -> InRequest {
        let raw = format!(
            "REGISTER sip:centrale.example SIP/2.0\r\n\
             Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK{call_id}{cseq};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{user}@centrale.example>;tag=ft{cseq}\r\n\
             To: <sip:{user}@centrale.example>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} REGISTER\r\n\
             {extra}Content-Length: 0\r\n\r\n"
        );
        match parse_datagram(raw.as_bytes()) {
            Ok(Incoming::Request(r)) => r,
            other => panic!("test REGISTER did not parse: {other:?}"),
        }
    }

    fn text(b: &Bytes) -> String {
        String::from_utf8(b.to_vec()).unwrap()
    }

    /// `(nonce, stale)` of the first challenge, and the algorithms offered in order.
    fn challenge_of(resp: &str) -> (String, bool, Vec<String>) {
        let mut nonce = String::new();
        let mut stale = false;
        let mut algs = Vec::new();
        for l in resp.lines().filter(|l| l.starts_with("WWW-Authenticate:")) {
            let n = l
                .split("nonce=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            nonce = n.to_string();
            stale |= l.contains("stale=true");
            algs.push(
                l.split("algorithm=")
                    .nth(1)
                    .unwrap()
                    .split(',')
                    .next()
                    .unwrap()
                    .to_string(),
            );
        }
        (nonce, stale, algs)
    }

    fn auth(alg: Algorithm, user: &str, pw: &str, nonce: &str, nc: u32) -> String {
        format!(
            "Authorization: {}\r\n",
            digest::client_authorization(
                alg,
                user,
                REALM,
                pw,
                "REGISTER",
                "sip:centrale.example",
                nonce,
                nc,
                "cn0nce"
            )
        )
    }

    const CONTACT: &str = "Contact: <sip:marie@10.0.0.5:5062;ob>\r\n";

    /// Challenge then authenticate: the final status and response.
    fn full(
        reg: &mut Registrar,
        alg: Algorithm,
        user: &str,
        pw: &str,
        src: &str,
        extra: &str,
        now: Instant,
    ) -> (u16, String) {
        let (c, r) = reg.handle(&register(user, "c1", 1, extra), flow(src), now);
        assert_eq!(c, 401, "{}", text(&r));
        let (nonce, stale, _) = challenge_of(&text(&r));
        assert!(!stale);
        let extra = format!("{extra}{}", auth(alg, user, pw, &nonce, 1));
        let (c, r) = reg.handle(&register(user, "c1", 2, &extra), flow(src), now);
        (c, text(&r))
    }

    fn events(t: &mut T) -> Vec<RegistrarEvent> {
        let mut v = Vec::new();
        while let Some(e) = t.reg.poll_event() {
            v.push(e);
        }
        v
    }

    #[test]
    fn challenge_offers_sha256_then_md5() {
        let mut t = setup();
        let (c, r) = t.reg.handle(
            &register("marie", "c", 1, CONTACT),
            flow("203.0.113.5:5062"),
            t.t0,
        );
        assert_eq!(c, 401);
        let r = text(&r);
        let (nonce, stale, algs) = challenge_of(&r);
        assert_eq!(algs, vec!["SHA-256", "MD5"]);
        assert_eq!(nonce.len(), 64);
        assert!(!stale);
        assert!(r.contains("qop=\"auth\""), "{r}");
        assert!(r.contains("To: <sip:marie@centrale.example>;tag="), "{r}");
        assert!(r.contains("CSeq: 1 REGISTER"), "{r}");
    }

    #[test]
    fn register_md5_and_sha256() {
        let mut t = setup();
        for (alg, user, pw) in [
            (Algorithm::Sha256, "marie", "pw-marie-1"),
            (Algorithm::Md5, "1002", "pw-luc-22"),
        ] {
            let contact = format!("Contact: <sip:{user}@10.0.0.5:5062>;expires=600\r\n");
            let (c, r) = full(
                &mut t.reg,
                alg,
                user,
                pw,
                "203.0.113.5:5062",
                &contact,
                t.t0,
            );
            assert_eq!(c, 200, "{r}");
            assert!(
                r.contains(&format!(
                    "Contact: <sip:{user}@10.0.0.5:5062>;expires=600\r\n"
                )),
                "{r}"
            );
        }
        assert_eq!(
            events(&mut t),
            vec![
                RegistrarEvent::Registered {
                    agent: "marie".into()
                },
                RegistrarEvent::Registered {
                    agent: "luc".into()
                },
            ]
        );
        let b = t.reg.contacts("luc");
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].uri, "sip:1002@10.0.0.5:5062");
        assert_eq!(b[0].flow.remote, "203.0.113.5:5062".parse().unwrap());
        assert_eq!(b[0].expires_at, t.t0 + Duration::from_secs(600));
        assert_eq!(t.reg.registered_agents(), vec!["luc", "marie"]);
    }

    #[test]
    fn wrong_password_and_unknown_user_get_403() {
        let mut t = setup();
        let (c, r) = full(
            &mut t.reg,
            Algorithm::Sha256,
            "marie",
            "guess",
            "203.0.113.5:5062",
            CONTACT,
            t.t0,
        );
        assert_eq!(c, 403, "{r}");
        assert!(!r.contains("WWW-Authenticate"));
        let (c, _) = full(
            &mut t.reg,
            Algorithm::Md5,
            "nobody",
            "guess",
            "203.0.113.5:5062",
            CONTACT,
            t.t0,
        );
        assert_eq!(c, 403);
        assert!(t.reg.contacts("marie").is_empty());
        assert!(events(&mut t).is_empty());
    }

    #[test]
    fn authenticating_as_someone_else_is_refused() {
        let mut t = setup();
        // Luc's credentials, Marie's AOR.
        let (c, r) = t.reg.handle(
            &register("marie", "c", 1, CONTACT),
            flow("203.0.113.5:5062"),
            t.t0,
        );
        assert_eq!(c, 401);
        let (nonce, _, _) = challenge_of(&text(&r));
        let extra = format!(
            "{CONTACT}{}",
            auth(Algorithm::Md5, "1002", "pw-luc-22", &nonce, 1)
        );
        let (c, _) = t.reg.handle(
            &register("marie", "c", 2, &extra),
            flow("203.0.113.5:5062"),
            t.t0,
        );
        assert_eq!(c, 403);
        assert!(t.reg.contacts("marie").is_empty());
    }

    #[test]
    fn stale_nonce_gets_stale_true() {
        let mut t = setup();
        let src = "203.0.113.5:5062";
        let (_, r) = t
            .reg
            .handle(&register("marie", "c", 1, CONTACT), flow(src), t.t0);
        let (nonce, _, _) = challenge_of(&text(&r));
        let late = t.t0 + Duration::from_secs(6 * 60);
        let extra = format!(
            "{CONTACT}{}",
            auth(Algorithm::Sha256, "marie", "pw-marie-1", &nonce, 1)
        );
        let (c, r) = t
            .reg
            .handle(&register("marie", "c", 2, &extra), flow(src), late);
        assert_eq!(c, 401);
        let (fresh, stale, _) = challenge_of(&text(&r));
        assert!(stale);
        // Stale with a wrong password is just wrong.
        let extra = format!(
            "{CONTACT}{}",
            auth(Algorithm::Sha256, "marie", "nope", &nonce, 1)
        );
        let (c, _) = t
            .reg
            .handle(&register("marie", "c", 3, &extra), flow(src), late);
        assert_eq!(c, 403);
        // A nonce from a previous process with the right password: stale too (after a restart).
        let foreign = "0".repeat(64);
        let extra = format!(
            "{CONTACT}{}",
            auth(Algorithm::Sha256, "marie", "pw-marie-1", &foreign, 1)
        );
        let (c, r) = t
            .reg
            .handle(&register("marie", "c", 4, &extra), flow(src), late);
        assert_eq!(c, 401);
        assert!(challenge_of(&text(&r)).1);
        let extra = format!(
            "{CONTACT}{}",
            auth(Algorithm::Sha256, "marie", "pw-marie-1", &fresh, 1)
        );
        let (c, _) = t
            .reg
            .handle(&register("marie", "c", 5, &extra), flow(src), late);
        assert_eq!(c, 200);
    }

    #[test]
    fn replayed_nc_is_rechallenged_and_next_nc_works() {
        let mut t = setup();
        let src = "203.0.113.5:5062";
        let (_, r) = t
            .reg
            .handle(&register("marie", "c", 1, CONTACT), flow(src), t.t0);
        let (nonce, _, _) = challenge_of(&text(&r));
        let a1 = format!(
            "{CONTACT}{}",
            auth(Algorithm::Md5, "marie", "pw-marie-1", &nonce, 1)
        );
        assert_eq!(
            t.reg
                .handle(&register("marie", "c", 2, &a1), flow(src), t.t0)
                .0,
            200
        );
        // The same request replayed (even with a new CSeq the digest is the same): no.
        let (c, r) = t
            .reg
            .handle(&register("marie", "c", 3, &a1), flow(src), t.t0);
        assert_eq!(c, 401);
        assert!(challenge_of(&text(&r)).1);
        let a2 = format!(
            "{CONTACT}{}",
            auth(Algorithm::Md5, "marie", "pw-marie-1", &nonce, 2)
        );
        assert_eq!(
            t.reg
                .handle(&register("marie", "c", 4, &a2), flow(src), t.t0)
                .0,
            200
        );
    }

    /// Register with fresh credentials for `user` (challenge + answer) at `now`.
    #[allow(clippy::too_many_arguments)]
    fn reg_at(
        reg: &mut Registrar,
        user: &str,
        pw: &str,
        call_id: &str,
        cseq: u32,
        extra: &str,
        now: Instant,
        src: &str,
    ) -> (u16, String) {
        let (_, r) = reg.handle(&register(user, call_id, cseq, ""), flow(src), now);
        let (nonce, _, _) = challenge_of(&text(&r));
        let extra = format!("{extra}{}", auth(Algorithm::Sha256, user, pw, &nonce, 1));
        let (c, r) = reg.handle(&register(user, call_id, cseq + 1, &extra), flow(src), now);
        (c, text(&r))
    }

    #[test]
    fn bindings_expire_with_an_event() {
        let mut t = setup();
        let src = "203.0.113.5:5062";
        let (c, r) = reg_at(
            &mut t.reg,
            "marie",
            "pw-marie-1",
            "c",
            1,
            &format!("{CONTACT}Expires: 120\r\n"),
            t.t0,
            src,
        );
        assert_eq!(c, 200);
        assert!(r.contains(";expires=120"), "{r}");
        assert_eq!(events(&mut t).len(), 1, "registered");
        t.reg.expire(t.t0 + Duration::from_secs(119));
        assert!(events(&mut t).is_empty());
        t.reg.expire(t.t0 + Duration::from_secs(120));
        let ev = events(&mut t);
        let want = vec![RegistrarEvent::Unregistered {
            agent: "marie".into(),
            reason: UnregisterReason::Expired,
        }];
        assert_eq!(ev, want);
        assert!(t.reg.contacts("marie").is_empty());
    }

    #[test]
    fn several_contacts_and_star_removal() {
        let mut t = setup();
        let a = "203.0.113.5:5062";
        let desk = "Contact: <sip:marie@10.0.0.5:5062>;expires=3600;q=0.5\r\n";
        assert_eq!(
            reg_at(&mut t.reg, "marie", "pw-marie-1", "desk", 1, desk, t.t0, a).0,
            200
        );
        // A second phone (another Call-ID), two contacts in one header; max-expires clamps.
        let cell = "Contact: <sip:marie@198.51.100.7:40000>;expires=7200, <sip:marie@[2001:db8::7]:5060>\r\n";
        let later = t.t0 + Duration::from_secs(10);
        let (c, r) = reg_at(
            &mut t.reg,
            "marie",
            "pw-marie-1",
            "cell",
            1,
            cell,
            later,
            "198.51.100.7:40000",
        );
        assert_eq!(c, 200, "{r}");
        assert_eq!(r.matches("Contact:").count(), 3, "{r}");
        assert!(
            r.contains("Contact: <sip:marie@10.0.0.5:5062>;expires=3590\r\n"),
            "{r}"
        );
        assert!(
            r.contains("Contact: <sip:marie@198.51.100.7:40000>;expires=3600\r\n"),
            "{r}"
        );
        let b = t.reg.contacts("marie");
        assert_eq!(b.len(), 3);
        assert_eq!(b.last().unwrap().q, Some(0.5), "lowest q last");
        assert_eq!(b[0].flow.remote, "198.51.100.7:40000".parse().unwrap());

        // One contact removed with expires=0.
        let rm = "Contact: <sip:marie@10.0.0.5:5062>;expires=0\r\n";
        let (c, r) = reg_at(&mut t.reg, "marie", "pw-marie-1", "desk", 3, rm, later, a);
        assert_eq!(c, 200);
        assert_eq!(r.matches("Contact:").count(), 2, "{r}");

        // `*` needs Expires: 0 …
        let (c, _) = reg_at(
            &mut t.reg,
            "marie",
            "pw-marie-1",
            "x",
            1,
            "Contact: *\r\n",
            later,
            a,
        );
        assert_eq!(c, 400);
        // … and then removes everything.
        let (c, r) = reg_at(
            &mut t.reg,
            "marie",
            "pw-marie-1",
            "x",
            3,
            "Contact: *\r\nExpires: 0\r\n",
            later,
            a,
        );
        assert_eq!(c, 200);
        assert!(!r.contains("Contact:"), "{r}");
        assert!(t.reg.contacts("marie").is_empty());
        assert_eq!(
            events(&mut t),
            vec![
                RegistrarEvent::Registered {
                    agent: "marie".into()
                },
                RegistrarEvent::Unregistered {
                    agent: "marie".into(),
                    reason: UnregisterReason::Removed
                },
            ]
        );
    }

    #[test]
    fn query_and_cseq_ordering() {
        let mut t = setup();
        let a = "203.0.113.5:5062";
        assert_eq!(
            reg_at(&mut t.reg, "marie", "pw-marie-1", "c", 10, CONTACT, t.t0, a).0,
            200
        );
        // A query (no Contact) lists the binding.
        let (c, r) = reg_at(&mut t.reg, "marie", "pw-marie-1", "q", 1, "", t.t0, a);
        assert_eq!(c, 200);
        assert!(
            r.contains("Contact: <sip:marie@10.0.0.5:5062;ob>;expires=3600"),
            "{r}"
        );
        // Same Call-ID, older CSeq: refused, binding unchanged.
        let (c, _) = reg_at(
            &mut t.reg,
            "marie",
            "pw-marie-1",
            "c",
            5,
            "Contact: <sip:marie@10.0.0.5:5062;ob>;expires=0\r\n",
            t.t0,
            a,
        );
        assert_eq!(c, 500);
        assert_eq!(t.reg.contacts("marie").len(), 1);
    }

    #[test]
    fn min_expires() {
        let mut t = setup();
        let (c, r) = reg_at(
            &mut t.reg,
            "marie",
            "pw-marie-1",
            "c",
            1,
            &format!("{CONTACT}Expires: 30\r\n"),
            t.t0,
            "203.0.113.5:5062",
        );
        assert_eq!(c, 423);
        assert!(r.contains("Min-Expires: 60\r\n"), "{r}");
        assert!(t.reg.contacts("marie").is_empty());
        let (c, _) = reg_at(
            &mut t.reg,
            "marie",
            "pw-marie-1",
            "c",
            3,
            &format!("{CONTACT}Expires: soon\r\n"),
            t.t0,
            "203.0.113.5:5062",
        );
        assert_eq!(c, 400);
    }

    #[test]
    fn flood_from_one_address_does_not_stop_another() {
        let mut t = setup();
        let bad = "198.51.100.66:5060";
        let mut codes = Vec::new();
        for i in 0..40 {
            // Each attempt with a fresh nonce, random usernames and passwords.
            let user = format!("u{}", i % 7);
            let (c, r) = t.reg.handle(&register(&user, "f", 1, ""), flow(bad), t.t0);
            if c == 503 {
                codes.push(c);
                continue;
            }
            let (nonce, _, _) = challenge_of(&text(&r));
            let extra = auth(Algorithm::Md5, &user, "guess", &nonce, 1);
            let (c, r) = t
                .reg
                .handle(&register(&user, "f", 2, &extra), flow(bad), t.t0);
            if c == 503 {
                assert!(text(&r).contains("Retry-After: "), "{}", text(&r));
            }
            codes.push(c);
        }
        assert_eq!(codes.iter().filter(|&&c| c == 403).count(), 10, "{codes:?}");
        assert!(codes[10..].iter().all(|&c| c == 503), "{codes:?}");
        // Meanwhile Marie, at home, registers fine.
        let (c, _) = full(
            &mut t.reg,
            Algorithm::Sha256,
            "marie",
            "pw-marie-1",
            "203.0.113.5:5062",
            CONTACT,
            t.t0,
        );
        assert_eq!(c, 200);
        // The flooder gets another try once the bucket refills (10/min: one every 6 s).
        let later = t.t0 + Duration::from_secs(7);
        let (c, _) = t.reg.handle(&register("u1", "f", 3, ""), flow(bad), later);
        assert_eq!(c, 401);
        // An unauthenticated flood is bounded as well.
        let mut last = 0;
        for _ in 0..200 {
            last = t
                .reg
                .handle(&register("x", "g", 1, ""), flow("198.51.100.67:5060"), t.t0)
                .0;
        }
        assert_eq!(last, 503);
        assert_eq!(
            t.reg
                .handle(&register("x", "g", 1, ""), flow("198.51.100.68:5060"), t.t0)
                .0,
            401
        );
    }

    #[test]
    fn per_username_throttle_spares_the_agents_own_phone() {
        let mut t = setup();
        let home = "203.0.113.5:5062";
        assert_eq!(
            full(
                &mut t.reg,
                Algorithm::Sha256,
                "marie",
                "pw-marie-1",
                home,
                CONTACT,
                t.t0
            )
            .0,
            200
        );
        // A botnet guesses Marie's password, one attempt per address.
        let mut codes = Vec::new();
        for i in 0..8 {
            let src = format!("198.51.100.{}:5060", 10 + i);
            let (c, r) = t
                .reg
                .handle(&register("marie", "b", 1, ""), flow(&src), t.t0);
            if c != 401 {
                codes.push(c);
                continue;
            }
            let (nonce, _, _) = challenge_of(&text(&r));
            let extra = auth(Algorithm::Sha256, "marie", "guess", &nonce, 1);
            codes.push(
                t.reg
                    .handle(&register("marie", "b", 2, &extra), flow(&src), t.t0)
                    .0,
            );
        }
        assert_eq!(codes, vec![403, 403, 403, 403, 403, 503, 503, 503]);
        // Even the right password from a new address waits …
        let (c, _) = full(
            &mut t.reg,
            Algorithm::Sha256,
            "marie",
            "pw-marie-1",
            "192.0.2.99:5060",
            CONTACT,
            t.t0,
        );
        assert_eq!(c, 503);
        // … but Marie's phone at home, where she registered before, refreshes fine.
        let (c, _) = reg_at(
            &mut t.reg,
            "marie",
            "pw-marie-1",
            "c1",
            3,
            CONTACT,
            t.t0,
            home,
        );
        assert_eq!(c, 200);
        // Other usernames are unaffected.
        let (c, _) = full(
            &mut t.reg,
            Algorithm::Md5,
            "1002",
            "pw-luc-22",
            "192.0.2.99:5060",
            "Contact: <sip:1002@192.0.2.99>\r\n",
            t.t0,
        );
        assert_eq!(c, 200);
    }

    #[test]
    fn garbage_credentials_count_as_failures() {
        let mut t = setup();
        let src = "198.51.100.66:5060";
        let mut codes = Vec::new();
        for i in 0..12 {
            let extra = "Authorization: Digest username=\"marie\", realm=\"centrale\"\r\n";
            codes.push(
                t.reg
                    .handle(&register("marie", "g", i + 1, extra), flow(src), t.t0)
                    .0,
            );
        }
        assert_eq!(codes.iter().filter(|&&c| c == 401).count(), 10, "{codes:?}");
        assert_eq!(codes[11], 503);
    }

    #[test]
    fn removing_an_agent_drops_its_bindings() {
        let mut t = setup();
        assert_eq!(
            reg_at(
                &mut t.reg,
                "marie",
                "pw-marie-1",
                "c",
                1,
                CONTACT,
                t.t0,
                "203.0.113.5:5062"
            )
            .0,
            200
        );
        let mut file = AgentsFile {
            realm: Some(REALM.into()),
            agents: vec![],
        };
        file.add_or_update(AgentDef::new("luc", Some("1002"), REALM, "pw-luc-22"))
            .unwrap();
        events(&mut t);
        t.reg.set_accounts(Arc::new(file));
        let ev = events(&mut t);
        assert_eq!(
            ev,
            vec![RegistrarEvent::Unregistered {
                agent: "marie".into(),
                reason: UnregisterReason::Deleted
            }]
        );
        assert!(t.reg.contacts("marie").is_empty());
        let (c, _) = reg_at(
            &mut t.reg,
            "marie",
            "pw-marie-1",
            "c",
            3,
            CONTACT,
            t.t0,
            "203.0.113.5:5062",
        );
        assert_eq!(c, 403);
    }

    #[test]
    fn to_without_user_is_404() {
        let mut t = setup();
        let raw = "REGISTER sip:centrale.example SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKx\r\n\
                   From: <sip:centrale.example>;tag=1\r\nTo: <sip:centrale.example>\r\nCall-ID: c\r\n\
                   CSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n";
        let Ok(Incoming::Request(r)) = parse_datagram(raw.as_bytes()) else {
            panic!("parse")
        };
        assert_eq!(t.reg.handle(&r, flow("203.0.113.5:5062"), t.t0).0, 404);
    }

    #[test]
    fn shareable_between_tasks() {
        fn send_sync<X: Send + Sync>() {}
        send_sync::<Registrar>();
    }

    #[test]
    fn ipv6_counts_per_prefix() {
        assert_eq!(
            ip_key("2001:db8:1:2:aaaa::1".parse().unwrap()),
            "2001:db8:1:2::".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            ip_key("::ffff:192.0.2.1".parse().unwrap()),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
    }
}
