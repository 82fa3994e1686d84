//! The carrier trunks as the running server sees them: their settings (secrets resolved),
//! whether each answers and is registered (written by the SIP driver from its trunk clients,
//! read by call tasks choosing a trunk and by `/metrics`), and how a `trunk:NAME/NUMBER` dial
//! string becomes an INVITE toward the carrier — number format, caller presentation
//! (From / P-Asserted-Identity, privacy, and never a withheld number toward 911), credentials.
//!
//! Owns: those choices. Never does: SIP transactions or sockets (the driver and the call
//! task), call flow (the call core only ever sees a dial string).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::trunk::{from_carrier, to_carrier, CallerIdPolicy, TrunkConfig};
use crate::dialplan::model::normalize_number;
use crate::sip::auth_client::ClientCredentials;

pub struct TrunkState {
    pub cfg: TrunkConfig,
    pub reachable: AtomicBool,
    pub registered: AtomicBool,
}

/// Every trunk, in configuration order.
pub struct TrunkBoard {
    pub trunks: Vec<TrunkState>,
    emergency: Vec<String>,
}

/// A `trunk:` dial string that names no usable trunk or number; `dial` is the whole string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrunkDialError {
    #[error("`{dial}`: write trunk:NAME/NUMBER")]
    NoNumberPart { dial: String },
    #[error("`{dial}`: no [[trunk]] named `{name}`")]
    UnknownTrunk { dial: String, name: String },
    #[error("`{dial}`: no number")]
    EmptyNumber { dial: String },
}

/// An INVITE toward a carrier, ready for the SIP leg.
#[derive(Debug, Clone)]
pub struct TrunkLeg {
    pub trunk: String,
    pub request_uri: String,
    /// Where the INVITE goes without DNS (the outbound proxy, or the carrier's IP:port); None:
    /// the SIP driver looks the Request-URI's host up (RFC 3263).
    pub next_hop: Option<SocketAddr>,
    pub from_user: String,
    pub from_display: Option<String>,
    pub headers: Vec<(String, String)>,
    pub auth: Option<ClientCredentials>,
}

/// How a trunk's requests are written to travel (registration, keepalives and calls alike);
/// for a trunk with no transport set, the carrier's NAPTR records may still choose another
/// when its address is a host (the SIP driver then rewrites the top Via).
pub fn transport_of(cfg: &TrunkConfig) -> crate::sip::flow::TransportKind {
    use crate::sip::flow::TransportKind;
    match cfg.transport_name() {
        Some("tcp") => TransportKind::Tcp,
        Some("tls") => TransportKind::Tls,
        _ => TransportKind::Udp,
    }
}

/// Whether a carrier's answer means "try the next trunk" (it could not take the call) rather
/// than "the number is busy / does not exist".
pub fn fails_over(status: u16) -> bool {
    status == 408 || (500..600).contains(&status)
}

impl TrunkBoard {
    pub fn new(trunks: &[TrunkConfig], emergency_numbers: &[String]) -> TrunkBoard {
        TrunkBoard {
            trunks: trunks
                .iter()
                .map(|t| TrunkState {
                    cfg: t.clone(),
                    reachable: AtomicBool::new(true),
                    registered: AtomicBool::new(false),
                })
                .collect(),
            emergency: emergency_numbers
                .iter()
                .map(|n| normalize_number(n))
                .collect(),
        }
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.trunks.iter().position(|t| t.cfg.name == name)
    }

    /// `trunk:NAME/NUMBER` → the trunks to try in order and the number. None: not a trunk
    /// dial string; Err: one naming no trunk.
    pub fn parse_dial(&self, dial: &str) -> Option<Result<(Vec<usize>, String), TrunkDialError>> {
        let rest = dial.strip_prefix("trunk:")?;
        let dial = || dial.to_string();
        let Some((name, number)) = rest.split_once('/') else {
            return Some(Err(TrunkDialError::NoNumberPart { dial: dial() }));
        };
        let Some(first) = self.index(name) else {
            let name = name.to_string();
            return Some(Err(TrunkDialError::UnknownTrunk { dial: dial(), name }));
        };
        if number.is_empty() {
            return Some(Err(TrunkDialError::EmptyNumber { dial: dial() }));
        }
        Some(Ok((self.chain(first), number.to_string())))
    }

    /// `first`, then its failover, and so on (no trunk twice); trunks answering their
    /// keepalive before those that do not (all are still tried: an emergency call must not be
    /// dropped on a stale mark).
    fn chain(&self, first: usize) -> Vec<usize> {
        let mut order = vec![first];
        let mut at = first;
        while let Some(next) = self.trunks[at]
            .cfg
            .failover
            .as_deref()
            .and_then(|n| self.index(n))
        {
            if order.contains(&next) {
                break;
            }
            order.push(next);
            at = next;
        }
        let (mut up, down): (Vec<usize>, Vec<usize>) = order
            .into_iter()
            .partition(|&i| self.trunks[i].reachable.load(Ordering::Relaxed));
        up.extend(down);
        up
    }

    pub fn name(&self, i: usize) -> &str {
        &self.trunks[i].cfg.name
    }

    /// The trunk a message from `addr` comes from.
    pub fn source(&self, addr: SocketAddr) -> Option<&TrunkConfig> {
        self.trunks
            .iter()
            .map(|t| &t.cfg)
            .find(|t| t.is_source(addr))
    }

    fn is_emergency(&self, number: &str) -> bool {
        let n = normalize_number(number);
        self.emergency.contains(&n)
    }

    /// The INVITE's addressing for `number` through trunk `i`, presenting `caller`.
    pub fn leg(
        &self,
        i: usize,
        number: &str,
        caller: &str,
        caller_display: Option<&str>,
        mut headers: Vec<(String, String)>,
    ) -> TrunkLeg {
        let t = &self.trunks[i].cfg;
        let transport = t.uri_transport();
        let dialled = to_carrier(number, t.format);
        let request_uri = format!("sip:{dialled}@{}{transport}", t.uri_host());
        let domain = t.domain();
        let digits: String = caller
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '+')
            .collect();
        let presented = (!digits.is_empty()).then(|| to_carrier(&from_carrier(&digits), t.format));
        let withheld = presented.is_none()
            || caller.to_ascii_lowercase().contains("anonymous")
            || caller_display.is_some_and(|d| {
                let d = d.to_ascii_lowercase();
                d.contains("anonymous") || d.contains("anonyme") || d.contains("private")
            });
        let account = t.username.clone().unwrap_or_else(|| "centrale".into());
        let pai = |n: &str| format!("<sip:{n}@{domain}>");
        let (from_user, from_display) = if self.is_emergency(number) {
            // 911 always gets the citizen's number, whatever they asked for (the emergency
            // centre must be able to call back), in From and P-Asserted-Identity.
            let n = presented.clone().unwrap_or(account);
            headers.push(("P-Asserted-Identity".into(), pai(&n)));
            (n, None)
        } else if withheld {
            if let Some(n) = &presented {
                headers.push(("P-Asserted-Identity".into(), pai(n)));
            }
            headers.push(("Privacy".into(), "id".into()));
            ("anonymous".to_string(), Some("Anonymous".to_string()))
        } else {
            let n = presented.clone().unwrap_or_default();
            match t.caller_id {
                CallerIdPolicy::From => (n, caller_display.map(str::to_string)),
                CallerIdPolicy::Pai => {
                    headers.push(("P-Asserted-Identity".into(), pai(&n)));
                    (account, None)
                }
                CallerIdPolicy::Both => {
                    headers.push(("P-Asserted-Identity".into(), pai(&n)));
                    (n, caller_display.map(str::to_string))
                }
            }
        };
        let auth = match (&t.username, &t.password) {
            (Some(user), Some(p)) => Some(ClientCredentials {
                user: user.clone(),
                password: p.value().to_string(),
            }),
            _ => None,
        };
        TrunkLeg {
            trunk: t.name.clone(),
            next_hop: t.next_hop_addr(),
            request_uri,
            from_user,
            from_display,
            headers,
            auth,
        }
    }

    /// `/metrics` lines.
    pub fn metrics(&self, out: &mut String) {
        if self.trunks.is_empty() {
            return;
        }
        out.push_str("# HELP centrale_trunk_up Whether the carrier answers (keepalive or registration).\n# TYPE centrale_trunk_up gauge\n");
        for t in &self.trunks {
            let up = u8::from(t.reachable.load(Ordering::Relaxed));
            out.push_str(&format!(
                "centrale_trunk_up{{trunk=\"{}\"}} {up}\n",
                t.cfg.name
            ));
        }
        out.push_str("# HELP centrale_trunk_registered Whether our registration at the carrier is in force.\n# TYPE centrale_trunk_registered gauge\n");
        for t in &self.trunks {
            let r = u8::from(t.registered.load(Ordering::Relaxed));
            out.push_str(&format!(
                "centrale_trunk_registered{{trunk=\"{}\"}} {r}\n",
                t.cfg.name
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn board() -> TrunkBoard {
        let mut cfg: std::collections::BTreeMap<String, Vec<TrunkConfig>> = toml::from_str(
            "[[trunk]]\nname = \"main\"\naddress = \"127.0.0.1:5090\"\nusername = \"ville\"\npassword = \"pw\"\nfailover = \"backup\"\n\
             [[trunk]]\nname = \"backup\"\naddress = \"carrier.example\"\ntransport = \"tcp\"\nformat = \"nanp10\"\ncaller_id = \"pai\"\nfailover = \"main\"\n",
        )
        .unwrap();
        let mut t = cfg.remove("trunk").unwrap();
        t[0].password = Some(Secret::Inline("pw".into()));
        TrunkBoard::new(&t, &["911".into()])
    }

    #[test]
    fn dial_strings_and_failover_order() {
        let b = board();
        assert!(b.parse_dial("sip:811@x").is_none());
        assert_eq!(
            b.parse_dial("trunk:main/811").unwrap().unwrap(),
            (vec![0, 1], "811".into())
        );
        assert_eq!(
            b.parse_dial("trunk:backup/811").unwrap().unwrap().0,
            vec![1, 0]
        );
        assert_eq!(
            b.parse_dial("trunk:nope/811"),
            Some(Err(TrunkDialError::UnknownTrunk {
                dial: "trunk:nope/811".into(),
                name: "nope".into()
            }))
        );
        b.trunks[0].reachable.store(false, Ordering::Relaxed);
        assert_eq!(
            b.parse_dial("trunk:main/811").unwrap().unwrap().0,
            vec![1, 0]
        );
    }

    #[test]
    fn caller_presentation() {
        let b = board();
        let l = b.leg(0, "4185550199", "5145550100", Some("Marie"), vec![]);
        assert_eq!(l.request_uri, "sip:+14185550199@127.0.0.1:5090");
        assert_eq!(l.from_user, "+15145550100");
        assert!(l.headers.contains(&(
            "P-Asserted-Identity".into(),
            "<sip:+15145550100@127.0.0.1>".into()
        )));
        assert!(l.auth.is_some());
        let l = b.leg(1, "+14185550199", "+15145550100", None, vec![]);
        assert_eq!(
            l.request_uri,
            "sip:4185550199@carrier.example;transport=tcp"
        );
        assert_eq!(l.from_user, "centrale", "pai policy: From is the account");
        assert!(l.auth.is_none());
        // Withheld: anonymous From, the number only in PAI with Privacy: id …
        let l = b.leg(0, "811", "5145550100", Some("Anonymous"), vec![]);
        assert_eq!(l.from_user, "anonymous");
        assert!(l.headers.contains(&("Privacy".into(), "id".into())));
        // … but never toward 911.
        let l = b.leg(0, "911", "5145550100", Some("Anonymous"), vec![]);
        assert_eq!(l.from_user, "+15145550100");
        assert!(!l.headers.iter().any(|(n, _)| n == "Privacy"));
        assert!(l
            .headers
            .iter()
            .any(|(n, v)| n == "P-Asserted-Identity" && v.contains("+15145550100")));
        assert!(fails_over(503) && fails_over(408) && !fails_over(486) && !fails_over(404));
    }
}
