//! Our client side toward one carrier trunk: registration (REGISTER with digest answers,
//! refreshed before it expires, backed off when refused or unanswered) and the OPTIONS
//! keepalive that says whether the carrier answers at all.
//!
//! Sans-IO: `handle_timeout(now)`, `on_response`, `on_timeout` in; `poll_transmit` (requests
//! to send, each with its Call-ID and branch for the transaction layer) and `status()` out.
//! Owns: when to send what, and what the carrier's answers mean for the trunk. Never does:
//! sockets, DNS, logging of credentials (they are only an argument to `auth_client`).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::auth_client::{self, ClientCredentials};
use super::builder;
use super::message::{header_value, InResponse, Method};
use super::random::Random;

/// Backoff after a refused or unanswered REGISTER: doubles from here up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_secs(15);
const MAX_BACKOFF: Duration = Duration::from_secs(600);

#[derive(Debug, Clone)]
pub struct TrunkClientConfig {
    /// `sip:carrier.example:5060` (REGISTER's Request-URI; OPTIONS go there too).
    pub server_uri: String,
    /// Our address of record there: `sip:user@domain`.
    pub aor: String,
    /// Our Contact: `sip:user@our-host:port`.
    pub contact: String,
    /// Our Via sent-by and its transport token (`UDP`, `TCP`).
    pub sent_by: String,
    pub via_transport: &'static str,
    pub register: bool,
    pub expires: u32,
    /// 0: no keepalive.
    pub keepalive: Duration,
    pub credentials: Option<ClientCredentials>,
}

/// A request to send now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Send {
    pub method: Method,
    pub call_id: String,
    pub branch: String,
    pub bytes: Bytes,
}

/// What the trunk looks like from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Status {
    /// The carrier answered our last OPTIONS or REGISTER (any response counts).
    pub reachable: bool,
    pub registered: bool,
    /// REGISTERs refused or unanswered in a row.
    pub failures: u32,
}

#[derive(Debug)]
pub struct TrunkClient {
    cfg: TrunkClientConfig,
    rng: Random,
    reg_call_id: String,
    opt_call_id: String,
    tag: String,
    cseq: u32,
    /// The branch of the REGISTER in flight, if any.
    reg_pending: Option<String>,
    /// Challenges answered for the REGISTER in flight.
    reg_challenges: u8,
    next_register: Option<Instant>,
    next_options: Option<Instant>,
    opt_pending: bool,
    status: Status,
    out: VecDeque<Send>,
}

impl TrunkClient {
    /// Starts at once: the first REGISTER (or OPTIONS) goes out on the first `handle_timeout`.
    pub fn new(cfg: TrunkClientConfig, mut rng: Random, now: Instant) -> TrunkClient {
        let host = cfg
            .sent_by
            .rsplit_once(':')
            .map(|(h, _)| h.to_string())
            .unwrap_or_else(|| cfg.sent_by.clone());
        TrunkClient {
            reg_call_id: format!("{}@{host}", rng.token()),
            opt_call_id: format!("{}@{host}", rng.token()),
            tag: rng.token(),
            cseq: 0,
            reg_pending: None,
            reg_challenges: 0,
            next_register: cfg.register.then_some(now),
            next_options: (!cfg.keepalive.is_zero()).then_some(now),
            opt_pending: false,
            status: Status {
                reachable: true,
                ..Status::default()
            },
            out: VecDeque::new(),
            cfg,
            rng,
        }
    }

    pub fn status(&self) -> Status {
        self.status
    }

    /// Whether `call_id` is one of ours.
    pub fn owns(&self, call_id: &str) -> bool {
        call_id == self.reg_call_id || call_id == self.opt_call_id
    }

    pub fn poll_transmit(&mut self) -> Option<Send> {
        self.out.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.next_register, self.next_options) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.next_register.is_some_and(|t| t <= now) {
            self.next_register = None;
            self.reg_challenges = 0;
            self.send_register(None);
        }
        if self.next_options.is_some_and(|t| t <= now) {
            self.next_options = Some(now + self.cfg.keepalive);
            if !self.opt_pending {
                self.send_options();
            }
        }
    }

    fn next_cseq(&mut self) -> u32 {
        self.cseq += 1;
        self.cseq
    }

    fn via(&mut self) -> (String, String) {
        let branch = self.rng.branch();
        (
            format!(
                "SIP/2.0/{} {};branch={branch};rport",
                self.cfg.via_transport, self.cfg.sent_by
            ),
            branch,
        )
    }

    fn send_register(&mut self, auth: Option<(&str, String)>) {
        let (via, branch) = self.via();
        let cseq = self.next_cseq();
        let mut b = builder::request("REGISTER", &self.cfg.server_uri)
            .header("Via", via)
            .header("Max-Forwards", 70)
            .header("From", format_args!("<{}>;tag={}", self.cfg.aor, self.tag))
            .header("To", format_args!("<{}>", self.cfg.aor))
            .header("Call-ID", &self.reg_call_id)
            .header("CSeq", format_args!("{cseq} REGISTER"))
            .header("Contact", format_args!("<{}>", self.cfg.contact))
            .header("Expires", self.cfg.expires)
            .header("Allow", builder::ALLOW)
            .header("User-Agent", builder::SERVER);
        if let Some((name, value)) = auth {
            b.push_header(name, &value);
        }
        self.reg_pending = Some(branch.clone());
        self.out.push_back(Send {
            method: Method::Register,
            call_id: self.reg_call_id.clone(),
            branch,
            bytes: b.finish(),
        });
    }

    fn send_options(&mut self) {
        let (via, branch) = self.via();
        let cseq = self.next_cseq();
        let bytes = builder::request("OPTIONS", &self.cfg.server_uri)
            .header("Via", via)
            .header("Max-Forwards", 70)
            .header("From", format_args!("<{}>;tag={}", self.cfg.aor, self.tag))
            .header("To", format_args!("<{}>", self.cfg.server_uri))
            .header("Call-ID", &self.opt_call_id)
            .header("CSeq", format_args!("{cseq} OPTIONS"))
            .header("Accept", "application/sdp")
            .header("User-Agent", builder::SERVER)
            .finish();
        self.opt_pending = true;
        self.out.push_back(Send {
            method: Method::Options,
            call_id: self.opt_call_id.clone(),
            branch,
            bytes,
        });
    }

    pub fn on_response(&mut self, resp: &InResponse, now: Instant) {
        if resp.status < 200 {
            return;
        }
        // Any final answer shows the carrier is there.
        self.status.reachable = true;
        match resp.ids.cseq_method {
            Method::Options => self.opt_pending = false,
            Method::Register if resp.ids.call_id == self.reg_call_id => {
                self.on_register_response(resp, now)
            }
            _ => {}
        }
    }

    fn on_register_response(&mut self, resp: &InResponse, now: Instant) {
        if self.reg_pending.is_none() {
            return;
        }
        self.reg_pending = None;
        match resp.status {
            200..=299 => {
                let granted = granted_expires(resp, &self.cfg.contact).unwrap_or(self.cfg.expires);
                self.status.registered = granted > 0;
                self.status.failures = 0;
                // Refresh at three quarters of the lifetime (at least 5 s ahead).
                let refresh = (u64::from(granted) * 3 / 4).max(5);
                self.next_register = Some(now + Duration::from_secs(refresh));
            }
            401 | 407 if self.reg_challenges < 2 => {
                let answered = self.cfg.credentials.clone().and_then(|cred| {
                    let ch = auth_client::challenge_of(&resp.resp.headers, resp.status).ok()?;
                    // A second challenge that is not about a stale nonce: wrong credentials.
                    if self.reg_challenges > 0 && !ch.stale {
                        return None;
                    }
                    Some(auth_client::authorization(
                        &ch,
                        &cred.user,
                        &cred.password,
                        "REGISTER",
                        &self.cfg.server_uri,
                        1,
                        &self.rng.token(),
                    ))
                });
                match answered {
                    Some(value) => {
                        self.reg_challenges += 1;
                        self.send_register(Some((auth_client::answer_header(resp.status), value)));
                    }
                    None => self.register_failed(now, None),
                }
            }
            423 => {
                // Interval too brief: take the carrier's minimum.
                let min = header_value(&resp.resp.headers, "Min-Expires")
                    .and_then(|v| v.trim().parse::<u32>().ok());
                match min {
                    Some(m) if m > self.cfg.expires => {
                        self.cfg.expires = m;
                        self.next_register = Some(now);
                    }
                    _ => self.register_failed(now, None),
                }
            }
            _ => {
                let retry = header_value(&resp.resp.headers, "Retry-After")
                    .and_then(|v| v.split(';').next()?.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                self.register_failed(now, retry)
            }
        }
    }

    fn register_failed(&mut self, now: Instant, retry_after: Option<Duration>) {
        self.status.registered = false;
        self.status.failures += 1;
        let exp = FIRST_BACKOFF
            .saturating_mul(1 << self.status.failures.saturating_sub(1).min(8))
            .min(MAX_BACKOFF);
        // Up to a quarter of jitter so a fleet does not retry in step.
        let jitter = exp.mul_f64(f64::from(self.rng.u32() % 1000) / 4000.0);
        let wait = retry_after.map_or(exp + jitter, |r| r.max(FIRST_BACKOFF));
        self.next_register = Some(now + wait);
    }

    /// A request of ours was never answered (transaction timeout).
    pub fn on_timeout(&mut self, call_id: &str, method: Method, now: Instant) {
        if !self.owns(call_id) {
            return;
        }
        self.status.reachable = false;
        match method {
            Method::Options => self.opt_pending = false,
            Method::Register => {
                self.reg_pending = None;
                self.register_failed(now, None);
            }
            _ => {}
        }
    }
}

/// The lifetime the registrar granted our contact (its `expires` parameter, else `Expires`).
fn granted_expires(resp: &InResponse, contact: &str) -> Option<u32> {
    let ours = resp
        .resp
        .headers
        .iter()
        .filter(|h| h.name().eq_ignore_ascii_case("Contact"))
        .flat_map(|h| h.value().split(','))
        .find(|c| c.contains(contact) || c.contains(contact.trim_start_matches("sip:")));
    if let Some(c) = ours {
        for p in c.split(';').skip(1) {
            if let Some(v) = p.trim().strip_prefix("expires=") {
                if let Ok(n) = v.trim().parse() {
                    return Some(n);
                }
            }
        }
    }
    header_value(&resp.resp.headers, "Expires").and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::digest;
    use crate::sip::message::{parse_datagram, Incoming};

    fn client(register: bool) -> (TrunkClient, Instant) {
        let now = Instant::now();
        let cfg = TrunkClientConfig {
            server_uri: "sip:127.0.0.1:5090".into(),
            aor: "sip:ville@carrier".into(),
            contact: "sip:ville@127.0.0.1:5060".into(),
            sent_by: "127.0.0.1:5060".into(),
            via_transport: "UDP",
            register,
            expires: 600,
            keepalive: Duration::from_secs(30),
            credentials: Some(ClientCredentials {
                user: "ville".into(),
                password: "s3cret".into(),
            }),
        };
        (TrunkClient::new(cfg, Random::seeded(9), now), now)
    }

    fn reply(to: &Send, status: u16, extra: &str) -> InResponse {
        let text = String::from_utf8_lossy(&to.bytes).into_owned();
        let cseq = text
            .lines()
            .find_map(|l| l.strip_prefix("CSeq: "))
            .unwrap()
            .to_string();
        let raw = format!(
            "SIP/2.0 {status} X\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch={}\r\nFrom: <sip:ville@carrier>;tag=a\r\nTo: <sip:ville@carrier>;tag=b\r\nCall-ID: {}\r\nCSeq: {cseq}\r\n{extra}Content-Length: 0\r\n\r\n",
            to.branch, to.call_id
        );
        match parse_datagram(raw.as_bytes()).unwrap() {
            Incoming::Response(r) => r,
            _ => unreachable!(),
        }
    }

    fn sends(c: &mut TrunkClient) -> Vec<Send> {
        std::iter::from_fn(|| c.poll_transmit()).collect()
    }

    #[test]
    fn registers_with_digest_and_refreshes_before_expiry() {
        let (mut c, now) = client(true);
        c.handle_timeout(now);
        let s = sends(&mut c);
        let reg = s
            .iter()
            .find(|s| s.method == Method::Register)
            .unwrap()
            .clone();
        assert!(s.iter().any(|s| s.method == Method::Options));
        let challenge = digest::challenge("carrier", "n1", false, &[digest::Algorithm::Md5]);
        c.on_response(
            &reply(
                &reg,
                401,
                &format!("WWW-Authenticate: {}\r\n", challenge[0]),
            ),
            now,
        );
        let again = sends(&mut c);
        assert_eq!(again.len(), 1);
        let text = String::from_utf8_lossy(&again[0].bytes).into_owned();
        let auth = text
            .lines()
            .find_map(|l| l.strip_prefix("Authorization: "))
            .expect("credentials");
        let cred = digest::parse_credentials(auth).unwrap();
        let ha1 = digest::ha1(digest::Algorithm::Md5, "ville", "carrier", "s3cret");
        assert!(digest::verify(&cred, "REGISTER", &ha1));
        assert!(!text.contains("s3cret"));
        c.on_response(
            &reply(
                &again[0],
                200,
                "Contact: <sip:ville@127.0.0.1:5060>;expires=120\r\n",
            ),
            now,
        );
        assert!(c.status().registered);
        assert_eq!(c.poll_timeout(), Some(now + Duration::from_secs(30)));
        c.handle_timeout(now + Duration::from_secs(30));
        sends(&mut c);
        // 3/4 of 120 s.
        assert_eq!(c.next_register, Some(now + Duration::from_secs(90)));
    }

    #[test]
    fn wrong_password_and_silence_back_off() {
        let (mut c, now) = client(true);
        c.handle_timeout(now);
        let reg = sends(&mut c)
            .into_iter()
            .find(|s| s.method == Method::Register)
            .unwrap();
        let ch = digest::challenge("carrier", "n1", false, &[digest::Algorithm::Md5]);
        let hdr = format!("WWW-Authenticate: {}\r\n", ch[0]);
        c.on_response(&reply(&reg, 401, &hdr), now);
        let second = sends(&mut c).remove(0);
        c.on_response(&reply(&second, 401, &hdr), now);
        assert!(
            sends(&mut c).is_empty(),
            "a second plain challenge is not answered"
        );
        assert_eq!(c.status().failures, 1);
        assert!(!c.status().registered);
        let t = c.next_register.unwrap();
        assert!(t >= now + FIRST_BACKOFF && t <= now + FIRST_BACKOFF.mul_f64(1.25));
        // The retry is not answered at all: unreachable, backoff doubles.
        c.handle_timeout(t);
        let reg = sends(&mut c)
            .into_iter()
            .find(|s| s.method == Method::Register)
            .unwrap();
        c.on_timeout(&reg.call_id, Method::Register, t);
        assert!(!c.status().reachable);
        assert_eq!(c.status().failures, 2);
        assert!(c.next_register.unwrap() >= t + FIRST_BACKOFF * 2);
    }

    #[test]
    fn options_keepalive_marks_reachability() {
        let (mut c, now) = client(false);
        c.handle_timeout(now);
        let s = sends(&mut c);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].method, Method::Options);
        c.on_timeout(
            &s[0].call_id,
            Method::Options,
            now + Duration::from_secs(32),
        );
        assert!(!c.status().reachable);
        c.handle_timeout(now + Duration::from_secs(60));
        let s = sends(&mut c);
        c.on_response(&reply(&s[0], 404, ""), now + Duration::from_secs(61));
        assert!(
            c.status().reachable,
            "any answer means the carrier is there"
        );
    }
}
