//! Web sessions: who is signed in (an agent, or a console user with a role), until when, and
//! the CSRF token every change must carry. Tokens are 256 random bits, kept only here (in
//! memory: a restart signs everyone out, which is what a security-minded admin expects), sent
//! as an HttpOnly, Secure, SameSite=Strict cookie. Sign-in attempts are throttled per source
//! address and per username with the registrar's token buckets.
//!
//! Owns: the session table and the throttles. Never does: password checks (`signin`), HTTP.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::sip::random::Random;
use crate::sip::throttle::Buckets;

pub const COOKIE: &str = "centrale_session";

/// Who a session belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Agent { id: String, name: String },
    User { name: String, role: Role },
}

/// Console roles: supervisors see everything and change agent states, storm messages and
/// callbacks; admins also edit plans, prompts, agents and users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Supervisor,
    Admin,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub token: String,
    pub who: Principal,
    pub csrf: String,
    pub expires: Instant,
    /// A number for this sign-in (desk registrations, logs), never the token.
    pub id: u64,
}

struct Table {
    by_token: HashMap<String, Session>,
    rng: Random,
    next_id: u64,
    ip_failures: Buckets<IpAddr>,
    user_failures: Buckets<String>,
}

pub struct Sessions {
    ttl: Duration,
    table: Mutex<Table>,
}

impl Sessions {
    /// Sessions living `ttl` from sign-in; `ip_per_min`/`user_per_min` failed sign-ins allowed.
    pub fn new(ttl: Duration, ip_per_min: u32, user_per_min: u32, rng: Random) -> Sessions {
        Sessions {
            ttl,
            table: Mutex::new(Table {
                by_token: HashMap::new(),
                rng,
                next_id: 1,
                ip_failures: Buckets::new(ip_per_min),
                user_failures: Buckets::new(user_per_min),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Seconds to wait before another sign-in from this address or for this username.
    pub fn throttled(&self, ip: IpAddr, user: &str, now: Instant) -> Option<u64> {
        let t = self.lock();
        let user = user.chars().take(64).collect::<String>();
        t.ip_failures
            .wait(&ip, now)
            .max(t.user_failures.wait(&user, now))
    }

    pub fn failed(&self, ip: IpAddr, user: &str, now: Instant) {
        let mut t = self.lock();
        let user = user.chars().take(64).collect::<String>();
        t.ip_failures.take(ip, now);
        t.user_failures.take(user, now);
    }

    pub fn create(&self, who: Principal, now: Instant) -> Session {
        let mut t = self.lock();
        let token = hex::encode(t.rng.bytes32());
        let csrf = hex::encode(t.rng.bytes32());
        let id = t.next_id;
        t.next_id += 1;
        let s = Session {
            token: token.clone(),
            who,
            csrf,
            expires: now + self.ttl,
            id,
        };
        // Expired sessions go when new ones come (no timer needed).
        t.by_token.retain(|_, s| s.expires > now);
        t.by_token.insert(token, s.clone());
        s
    }

    pub fn get(&self, token: &str, now: Instant) -> Option<Session> {
        let t = self.lock();
        t.by_token.get(token).filter(|s| s.expires > now).cloned()
    }

    pub fn remove(&self, token: &str) {
        self.lock().by_token.remove(token);
    }

    /// End every session of this principal (an agent removed, a user's password reset).
    pub fn remove_all(&self, who: &Principal) {
        self.lock().by_token.retain(|_, s| &s.who != who);
    }
}

/// `Set-Cookie` for a new session (Secure: the listener is HTTPS only).
pub fn set_cookie(s: &Session, ttl: Duration) -> String {
    format!(
        "{COOKIE}={}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={}",
        s.token,
        ttl.as_secs()
    )
}

pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0")
}

/// The session token in a `Cookie` header.
pub fn token_from(cookie_header: &str) -> Option<&str> {
    cookie_header
        .split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_and_throttle() {
        let s = Sessions::new(Duration::from_secs(60), 2, 2, Random::seeded(1));
        let t0 = Instant::now();
        let who = Principal::Agent {
            id: "marie".into(),
            name: String::new(),
        };
        let a = s.create(who.clone(), t0);
        assert_eq!(a.token.len(), 64);
        assert_eq!(s.get(&a.token, t0).map(|x| x.who), Some(who.clone()));
        assert!(s.get(&a.token, t0 + Duration::from_secs(61)).is_none());
        assert!(s.get("nope", t0).is_none());
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        assert!(s.throttled(ip, "marie", t0).is_none());
        s.failed(ip, "marie", t0);
        s.failed(ip, "marie", t0);
        assert!(s.throttled(ip, "marie", t0).is_some());
        assert!(s
            .throttled("198.51.100.1".parse().unwrap(), "luc", t0)
            .is_none());
        assert_eq!(token_from("a=b; centrale_session=abc; c=d"), Some("abc"));
        assert!(
            set_cookie(&a, Duration::from_secs(60)).contains("HttpOnly; Secure; SameSite=Strict")
        );
    }
}
