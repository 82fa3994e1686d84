//! `[[trunk]]`: a carrier's SIP trunk — where it is, how we authenticate to it (registration,
//! digest answers), how numbers are written toward it, how the caller's number is presented,
//! which addresses its inbound calls come from, and which trunk takes over when it fails.
//!
//! Owns: the settings and the pure number rules (E.164 in, the carrier's format out). Never
//! does: I/O; the running state (registered, reachable) lives with the SIP driver.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

use super::Secret;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    /// What dial plans and `[emergency]` call it: `trunk:NAME/911`.
    pub name: String,
    /// The carrier's SIP address: a host (SRV/NAPTR looked up, RFC 3263), `host:port` (its
    /// A/AAAA records), or `IP:port` (port 5060, 5061 over TLS, when omitted).
    pub address: String,
    /// `udp`, `tcp` or `tls` (SIP over TLS; the carrier's certificate must name `address`'s
    /// host — never an SRV target — and chain to `tls_ca`). Omitted: UDP, unless `address` is
    /// a host whose NAPTR records choose another transport.
    #[serde(default)]
    pub transport: Option<String>,
    /// PEM file of the CA certificates the carrier's TLS certificate is checked against
    /// (default: the system's bundle, /etc/ssl/certs/ca-certificates.crt).
    #[serde(default)]
    pub tls_ca: Option<std::path::PathBuf>,
    /// An outbound proxy (`IP:port`) every request to the carrier is sent through; the
    /// Request-URI still names `address`.
    #[serde(default)]
    pub proxy: Option<String>,
    /// Digest user name for registration and challenged INVITEs.
    #[serde(default)]
    pub username: Option<String>,
    /// Its password: `{ env = "CENTRALE_TRUNK_PASSWORD" }` or `{ file = "/run/secrets/trunk" }`
    /// (inline only for a quick test).
    #[serde(default)]
    pub password: Option<Secret>,
    /// The domain in our From and in REGISTER's To (default: the carrier's host).
    #[serde(default)]
    pub domain: Option<String>,
    /// Register to the carrier (DID delivery to us). Off: the carrier sends to our address.
    #[serde(default)]
    pub register: bool,
    /// Registration lifetime asked for, seconds.
    #[serde(default = "register_expires")]
    pub register_expires: u32,
    /// OPTIONS keepalive every this many seconds (0: none); a trunk that stops answering is
    /// marked down and its calls go to `failover`.
    #[serde(default = "keepalive_s")]
    pub keepalive_s: u64,
    /// The trunk that takes calls this one cannot (down, 408, 5xx).
    #[serde(default)]
    pub failover: Option<String>,
    /// How numbers are written toward the carrier: `e164` (+14185550111), `nanp11`
    /// (14185550111) or `nanp10` (4185550111). Short codes (911, 811…) are sent as dialled.
    #[serde(default)]
    pub format: NumberFormat,
    /// How the caller's number is presented: `from`, `pai` (P-Asserted-Identity) or `both`.
    #[serde(default)]
    pub caller_id: CallerIdPolicy,
    /// Addresses the carrier's calls come from (IP, or IP:port); empty: the trunk's own
    /// address. Calls from these are the carrier's: numbers are read as E.164.
    #[serde(default)]
    pub inbound: Vec<String>,
    /// SRTP (SDES) toward this carrier, over TLS only: `mandatory` (a carrier that answers in
    /// clear fails the call, and the failover trunk takes it), `optional` (keys offered, a
    /// clear answer accepted) or `off` (the default: few carriers do SDES).
    #[serde(default)]
    pub srtp: Option<super::SrtpPolicy>,
}

fn register_expires() -> u32 {
    600
}
fn keepalive_s() -> u64 {
    30
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NumberFormat {
    #[default]
    E164,
    Nanp11,
    Nanp10,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CallerIdPolicy {
    From,
    Pai,
    #[default]
    Both,
}

/// The 10 digits of a North-American number written any common way (+1…, 1…, with
/// separators), or None.
pub fn nanp10(number: &str) -> Option<String> {
    let t = number.trim();
    if t.starts_with('+') && !t.starts_with("+1") {
        return None;
    }
    let mut d: String = t.chars().filter(char::is_ascii_digit).collect();
    if d.len() == 11 && d.starts_with('1') {
        d.remove(0);
    }
    (d.len() == 10
        && t.chars()
            .all(|c| c.is_ascii_digit() || "+-(). ".contains(c)))
    .then_some(d)
}

/// A number as the carrier wants it: short codes and non-NANP numbers unchanged.
pub fn to_carrier(number: &str, format: NumberFormat) -> String {
    match nanp10(number) {
        None => number.trim().to_string(),
        Some(d) => match format {
            NumberFormat::E164 => format!("+1{d}"),
            NumberFormat::Nanp11 => format!("1{d}"),
            NumberFormat::Nanp10 => d,
        },
    }
}

/// A number as the carrier sent it, written E.164 when it is North-American.
pub fn from_carrier(number: &str) -> String {
    match nanp10(number) {
        Some(d) => format!("+1{d}"),
        None => number.trim().to_string(),
    }
}

impl TrunkConfig {
    /// Whether a message from `addr` comes from this carrier: one of `inbound`, or — when that
    /// list is empty — the trunk's own address (the registrar that delivers our DIDs).
    pub fn is_source(&self, addr: SocketAddr) -> bool {
        if self.inbound.is_empty() {
            let (host, _) = self.host_port();
            let proxy = self.proxy_addr().map(|p| p.ip());
            return host.parse::<IpAddr>().is_ok_and(|ip| ip == addr.ip())
                || proxy == Some(addr.ip());
        }
        self.inbound.iter().any(|s| {
            if let Ok(a) = s.parse::<SocketAddr>() {
                a == addr
            } else if let Ok(ip) = s.parse::<IpAddr>() {
                ip == addr.ip()
            } else {
                false
            }
        })
    }

    /// `host` and `port` of `address` (no port: a host to look up with SRV, or an IP on the
    /// default port).
    pub fn host_port(&self) -> (String, Option<u16>) {
        let a = self.address.trim();
        if let Ok(sa) = a.parse::<SocketAddr>() {
            return (sa.ip().to_string(), Some(sa.port()));
        }
        match a.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => match p.parse() {
                Ok(port) => (h.to_string(), Some(port)),
                Err(_) => (a.to_string(), None),
            },
            _ => (
                a.trim_start_matches('[').trim_end_matches(']').to_string(),
                None,
            ),
        }
    }

    /// `address` as the host part of a SIP URI: `host`, `host:port`, `[v6]:port`.
    pub fn uri_host(&self) -> String {
        let (host, port) = self.host_port();
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        };
        match port {
            Some(p) => format!("{host}:{p}"),
            None => host,
        }
    }

    /// The transport set for this trunk (None: UDP or what the carrier's DNS says).
    pub fn transport_name(&self) -> Option<&str> {
        self.transport.as_deref().map(str::trim)
    }

    /// Whether this trunk is reached over SIP over TLS.
    pub fn is_tls(&self) -> bool {
        self.transport_name() == Some("tls")
    }

    /// The `transport` URI parameter for this trunk: none when it is not set (DNS may
    /// choose, RFC 3263), else the transport set.
    pub fn uri_transport(&self) -> &'static str {
        match self.transport_name() {
            Some("udp") => ";transport=udp",
            Some("tcp") => ";transport=tcp",
            Some("tls") => ";transport=tls",
            _ => "",
        }
    }

    /// The CA bundle a TLS trunk's certificate is checked against.
    pub fn tls_ca_file(&self) -> std::path::PathBuf {
        self.tls_ca
            .clone()
            .unwrap_or_else(|| "/etc/ssl/certs/ca-certificates.crt".into())
    }

    /// The outbound proxy's address, if one is set (and valid).
    pub fn proxy_addr(&self) -> Option<SocketAddr> {
        self.proxy.as_deref()?.trim().parse().ok()
    }

    /// Where requests to the carrier are sent when no DNS is needed: the proxy, or the
    /// address when it is an `IP:port`.
    pub fn next_hop_addr(&self) -> Option<SocketAddr> {
        self.proxy_addr()
            .or_else(|| self.address.trim().parse().ok())
    }

    /// The domain we write in From/To toward it.
    pub fn domain(&self) -> String {
        self.domain.clone().unwrap_or_else(|| self.host_port().0)
    }

    /// What is wrong with this trunk's settings, if anything.
    pub fn problems(&self, all: &[TrunkConfig]) -> Vec<String> {
        let mut p = Vec::new();
        let n = &self.name;
        if self.srtp.is_some_and(|s| s != super::SrtpPolicy::Off)
            && self.transport.as_deref() != Some("tls")
        {
            p.push(format!(
                "trunk `{n}`: srtp needs transport = \"tls\" (keys never travel in clear)"
            ));
        }
        if n.is_empty()
            || !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            p.push(format!(
                "trunk name `{n}`: use letters, digits, '-', '_' or '.'"
            ));
        }
        if all.iter().filter(|t| t.name == *n).count() > 1 {
            p.push(format!("trunk `{n}` is defined twice"));
        }
        if !matches!(self.transport_name(), None | Some("udp" | "tcp" | "tls")) {
            p.push(format!("trunk `{n}`: transport must be udp, tcp or tls"));
        }
        if self
            .proxy
            .as_deref()
            .is_some_and(|p| p.trim().parse::<SocketAddr>().is_err())
        {
            p.push(format!("trunk `{n}`: proxy must be an IP:port"));
        }
        if self.address.trim().is_empty() {
            p.push(format!("trunk `{n}`: address is empty"));
        }
        if self.register && (self.username.is_none() || self.password.is_none()) {
            p.push(format!(
                "trunk `{n}`: register = true needs username and password"
            ));
        }
        if let Some(f) = &self.failover {
            if f == n || !all.iter().any(|t| &t.name == f) {
                p.push(format!(
                    "trunk `{n}`: failover `{f}` is not another [[trunk]]"
                ));
            }
        }
        for s in &self.inbound {
            if s.parse::<SocketAddr>().is_err() && s.parse::<IpAddr>().is_err() {
                p.push(format!(
                    "trunk `{n}`: inbound `{s}` is not an IP or IP:port"
                ));
            }
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_and_out() {
        assert_eq!(nanp10("+1 418 555-0111").as_deref(), Some("4185550111"));
        assert_eq!(nanp10("14185550111").as_deref(), Some("4185550111"));
        assert_eq!(nanp10("+33 1 23 45 67 89"), None);
        assert_eq!(nanp10("911"), None);
        assert_eq!(to_carrier("4185550111", NumberFormat::E164), "+14185550111");
        assert_eq!(
            to_carrier("+14185550111", NumberFormat::Nanp10),
            "4185550111"
        );
        assert_eq!(
            to_carrier("418-555-0111", NumberFormat::Nanp11),
            "14185550111"
        );
        assert_eq!(to_carrier("911", NumberFormat::E164), "911");
        assert_eq!(from_carrier("14185550111"), "+14185550111");
        assert_eq!(from_carrier("811"), "811");
    }

    #[test]
    fn settings_are_checked() {
        let t: Vec<TrunkConfig> = toml::from_str::<std::collections::BTreeMap<String, Vec<TrunkConfig>>>(
            "[[trunk]]\nname = \"a\"\naddress = \"127.0.0.1:5090\"\nfailover = \"b\"\nregister = true\ninbound = [\"127.0.0.1\", \"x\"]\n",
        )
        .unwrap()
        .remove("trunk")
        .unwrap();
        let p = t[0].problems(&t).join("\n");
        assert!(p.contains("failover `b`"), "{p}");
        assert!(p.contains("needs username"), "{p}");
        assert!(p.contains("inbound `x`"), "{p}");
        assert_eq!(t[0].host_port(), ("127.0.0.1".into(), Some(5090)));
        assert_eq!(t[0].uri_host(), "127.0.0.1:5090");
        let mut named = t[0].clone();
        named.address = "carrier.test".into();
        assert_eq!(named.host_port(), ("carrier.test".into(), None));
        assert_eq!(
            (named.uri_host(), named.uri_transport()),
            ("carrier.test".into(), "")
        );
        named.address = "[2001:db8::5]:5062".into();
        named.transport = Some("tcp".into());
        assert_eq!(named.uri_host(), "[2001:db8::5]:5062");
        assert_eq!(named.uri_transport(), ";transport=tcp");
        assert!(t[0].is_source("127.0.0.1:7000".parse().unwrap()));
        let mut own = t[0].clone();
        own.inbound.clear();
        assert!(own.is_source("127.0.0.1:5090".parse().unwrap()));
        assert!(!own.is_source("192.0.2.1:5060".parse().unwrap()));
    }
}
