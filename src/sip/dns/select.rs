//! RFC 3263 §4 and RFC 2782 choices, as pure functions: what a SIP URI asks of DNS, which
//! NAPTR services we can use and in what order, how SRV records are ordered (priority, then a
//! weighted random draw whose randomness the caller passes in), and which addresses a
//! response gives for a name (following CNAMEs).
//!
//! Owns: those choices. Never does: I/O, and draws no randomness of its own.

use std::net::{IpAddr, SocketAddr};

use super::wire::{same_name, Naptr, RData, Record, Srv};
use crate::sip::flow::TransportKind;

/// What a SIP URI says about how to reach it: RFC 3263's inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipTarget {
    /// The host part: a domain name or an IP literal (no brackets).
    pub host: String,
    pub port: Option<u16>,
    /// The `transport` parameter, when there is one.
    pub transport: Option<TransportKind>,
    /// A `sips:` URI: only TLS will do.
    pub secure: bool,
}

/// One place to send a request, in the order to try them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Candidate {
    pub addr: SocketAddr,
    pub transport: TransportKind,
}

impl SipTarget {
    /// `sip:user@host[:port][;transport=x]` (angle brackets allowed); None when it is not a
    /// `sip:` or `sips:` URI with a host.
    pub fn from_uri(uri: &str) -> Option<SipTarget> {
        let parsed: rsipstack::sip::Uri = uri
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .parse()
            .ok()?;
        let secure = match parsed.scheme {
            Some(rsipstack::sip::Scheme::Sips) => true,
            Some(rsipstack::sip::Scheme::Sip) => false,
            _ => return None,
        };
        let transport = parsed.params.iter().find_map(|p| match p {
            rsipstack::sip::Param::Transport(t) => Some(t.to_string().to_ascii_lowercase()),
            _ => None,
        });
        let transport = transport.map(|t| match t.as_str() {
            "tls" => TransportKind::Tls,
            _ if secure => TransportKind::Tls,
            "tcp" => TransportKind::Tcp,
            _ => TransportKind::Udp,
        });
        let host = match &parsed.host_with_port.host {
            rsipstack::sip::Host::IpAddr(ip) => ip.to_string(),
            rsipstack::sip::Host::Domain(d) => d.to_string(),
        };
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if host.is_empty() || host.contains(char::is_whitespace) {
            return None;
        }
        Some(SipTarget {
            host,
            port: parsed.host_with_port.port.map(|p| p.value()),
            transport,
            secure,
        })
    }

    /// The host when it is an IP literal (no DNS at all).
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    /// The transport used when DNS does not choose one (RFC 3263 §4.1: UDP for `sip:`, TLS
    /// for `sips:`).
    pub fn default_transport(&self) -> TransportKind {
        match (self.transport, self.secure) {
            (Some(t), _) => t,
            (None, true) => TransportKind::Tls,
            (None, false) => TransportKind::Udp,
        }
    }
}

/// The port of a transport when neither the URI nor SRV gives one.
pub fn default_port(transport: TransportKind) -> u16 {
    match transport {
        TransportKind::Tls => 5061,
        TransportKind::Udp | TransportKind::Tcp => 5060,
    }
}

/// The SRV name of SIP over `transport` at `domain` (RFC 3263 §4.2).
pub fn srv_name(domain: &str, transport: TransportKind) -> String {
    let domain = domain.trim_end_matches('.');
    match transport {
        TransportKind::Udp => format!("_sip._udp.{domain}"),
        TransportKind::Tcp => format!("_sip._tcp.{domain}"),
        TransportKind::Tls => format!("_sips._tcp.{domain}"),
    }
}

/// The transport of a NAPTR service field we support (RFC 3263 §4.1).
fn naptr_transport(service: &str) -> Option<TransportKind> {
    match service.to_ascii_uppercase().as_str() {
        "SIP+D2U" => Some(TransportKind::Udp),
        "SIP+D2T" => Some(TransportKind::Tcp),
        "SIPS+D2T" => Some(TransportKind::Tls),
        _ => None,
    }
}

/// The NAPTR records we can follow, best first: (transport, SRV name to ask next). Only
/// services we support (`SIP+D2U`, `SIP+D2T`, `SIPS+D2T`) over transports in `usable`; only
/// `SIPS+D2T` for a `sips:` URI; only terminal "S" records with a replacement (RFC 3403: a
/// regular expression is not used with SIP); by order, then preference.
pub fn naptr_services(
    records: &[Naptr],
    secure: bool,
    usable: &[TransportKind],
) -> Vec<(TransportKind, String)> {
    let mut chosen: Vec<&Naptr> = records
        .iter()
        .filter(|n| n.flags.eq_ignore_ascii_case("s"))
        .filter(|n| n.regexp.is_empty() && n.replacement != "." && !n.replacement.is_empty())
        .filter(|n| {
            naptr_transport(&n.service)
                .is_some_and(|t| usable.contains(&t) && (!secure || t == TransportKind::Tls))
        })
        .collect();
    chosen.sort_by_key(|n| (n.order, n.preference));
    let mut out: Vec<(TransportKind, String)> = Vec::new();
    for n in chosen {
        if let Some(t) = naptr_transport(&n.service) {
            let item = (t, n.replacement.clone());
            if !out.contains(&item) {
                out.push(item);
            }
        }
    }
    out
}

/// The SRV names to ask when a domain has no usable NAPTR records (RFC 3263 §4.1: one per
/// transport we support; TLS only for a `sips:` URI).
pub fn fallback_services(
    domain: &str,
    secure: bool,
    usable: &[TransportKind],
) -> Vec<(TransportKind, String)> {
    [TransportKind::Udp, TransportKind::Tcp, TransportKind::Tls]
        .into_iter()
        .filter(|t| usable.contains(t) && (!secure || *t == TransportKind::Tls))
        .map(|t| (t, srv_name(domain, t)))
        .collect()
}

/// What an SRV answer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SrvPlan {
    /// No SRV records: use the domain's own addresses on the default port.
    NoRecords,
    /// The target "." (RFC 2782): the service is decidedly not offered here.
    NotOffered,
    /// The targets in the order to try them.
    Targets(Vec<Srv>),
}

/// Order SRV records as RFC 2782 says: lowest priority first; inside one priority, a
/// weighted random draw (zero weights first in the running sum, so they are picked rarely
/// but not never). `random` gives the draws.
pub fn order_srv(records: &[Srv], mut random: impl FnMut() -> u32) -> SrvPlan {
    if records.is_empty() {
        return SrvPlan::NoRecords;
    }
    let mut left: Vec<Srv> = records
        .iter()
        .filter(|s| s.target != "." && !s.target.is_empty())
        .cloned()
        .collect();
    if left.is_empty() {
        return SrvPlan::NotOffered;
    }
    left.sort_by_key(|s| (s.priority, s.weight != 0));
    let mut out = Vec::with_capacity(left.len());
    while let Some(first) = left.first() {
        let priority = first.priority;
        let end = left
            .iter()
            .position(|s| s.priority != priority)
            .unwrap_or(left.len());
        let mut group: Vec<Srv> = left.drain(..end).collect();
        while !group.is_empty() {
            let total: u64 = group.iter().map(|s| u64::from(s.weight)).sum();
            let pick = u64::from(random()) % (total + 1);
            let mut running = 0u64;
            let at = group
                .iter()
                .position(|s| {
                    running += u64::from(s.weight);
                    running >= pick
                })
                .unwrap_or(0);
            out.push(group.remove(at));
        }
    }
    SrvPlan::Targets(out)
}

/// The addresses `records` give for `name`, following CNAMEs (a few hops at most): IPv4
/// first, then IPv6, each in the order received, without repeats.
pub fn addresses(records: &[Record], name: &str) -> Vec<IpAddr> {
    let mut names = vec![name.to_string()];
    for _ in 0..8 {
        let alias = records.iter().find_map(|r| match &r.data {
            RData::Cname(to)
                if names.iter().any(|n| same_name(n, &r.name))
                    && !names.iter().any(|n| same_name(n, to)) =>
            {
                Some(to.clone())
            }
            _ => None,
        });
        match alias {
            Some(a) => names.push(a),
            None => break,
        }
    }
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for r in records {
        if !names.iter().any(|n| same_name(n, &r.name)) {
            continue;
        }
        match r.data {
            RData::A(ip) if !v4.contains(&IpAddr::V4(ip)) => v4.push(IpAddr::V4(ip)),
            RData::Aaaa(ip) if !v6.contains(&IpAddr::V6(ip)) => v6.push(IpAddr::V6(ip)),
            _ => {}
        }
    }
    v4.extend(v6);
    v4
}

/// The smallest TTL among `records`, seconds (None when there are none).
pub fn min_ttl(records: &[Record]) -> Option<u32> {
    records.iter().map(|r| r.ttl).min()
}

/// The addresses a hosts file (/etc/hosts) gives `name` (names compare without case).
pub fn hosts_file(text: &str, name: &str) -> Vec<IpAddr> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let ip = words.next()?.parse::<IpAddr>().ok()?;
            words.any(|w| same_name(w, name)).then_some(ip)
        })
        .collect()
}

/// `nameserver` lines of a resolv.conf, as addresses on port 53 (scoped IPv6 addresses and
/// anything unreadable are skipped).
pub fn nameservers(resolv_conf: &str) -> Vec<SocketAddr> {
    resolv_conf
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some("nameserver"))
                .then(|| words.next())
                .flatten()
        })
        .filter_map(|w| w.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

#[cfg(test)]
#[path = "select_tests.rs"]
mod tests;
