//! The resolver against a DNS server played in-process: answers written by hand from a table,
//! one forged answer ahead of the real one, a silent first server, a truncated answer.

use std::collections::HashMap;
use std::sync::Arc;

use super::*;
use TransportKind::{Tcp, Udp};

#[derive(Clone)]
enum Data {
    A([u8; 4]),
    Srv(u16, u16, u16, &'static str),
    Naptr(u16, u16, &'static str, &'static str),
}

fn name_bytes(name: &str, out: &mut Vec<u8>) {
    for l in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        out.push(l.len() as u8);
        out.extend_from_slice(l.as_bytes());
    }
    out.push(0);
}

/// A response to `query` with `records` (no compression), flags `flags`.
fn answer(query: &[u8], flags: u16, records: &[(&str, Data)]) -> Vec<u8> {
    let mut out = query[..2].to_vec();
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&[0, 1]);
    out.extend_from_slice(&(records.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&query[12..]);
    for (name, data) in records {
        name_bytes(name, &mut out);
        let (rtype, rdata) = match data {
            Data::A(ip) => (1u16, ip.to_vec()),
            Data::Srv(prio, weight, port, target) => {
                let mut d = [prio.to_be_bytes(), weight.to_be_bytes(), port.to_be_bytes()].concat();
                name_bytes(target, &mut d);
                (33, d)
            }
            Data::Naptr(order, pref, service, repl) => {
                let mut d = [order.to_be_bytes(), pref.to_be_bytes()].concat();
                for t in ["s", service, ""] {
                    d.push(t.len() as u8);
                    d.extend_from_slice(t.as_bytes());
                }
                name_bytes(repl, &mut d);
                (35, d)
            }
        };
        out.extend_from_slice(&rtype.to_be_bytes());
        out.extend_from_slice(&[0, 1, 0, 0, 0, 30]);
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(&rdata);
    }
    out
}

/// The question of a query: (name, type).
fn question(q: &[u8]) -> (String, u16) {
    let mut labels = Vec::new();
    let mut at = 12;
    while q[at] != 0 {
        let n = usize::from(q[at]);
        labels.push(String::from_utf8_lossy(&q[at + 1..at + 1 + n]).into_owned());
        at += 1 + n;
    }
    (labels.join("."), u16::from_be_bytes([q[at + 1], q[at + 2]]))
}

/// Records as served: (owner name, data).
type Records = Vec<(&'static str, Data)>;
type Zone = HashMap<(String, u16), Records>;

/// A UDP DNS server on loopback answering from `zone` (NXDOMAIN otherwise). `forge` first
/// sends an answer with the wrong id; `truncate` marks UDP answers TC and serves the full
/// one over TCP on the same port.
async fn server(zone: Zone, forge: bool, truncate: bool) -> SocketAddr {
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = udp.local_addr().unwrap();
    let zone = Arc::new(zone);
    let z = zone.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = udp.recv_from(&mut buf).await {
            let q = buf[..n].to_vec();
            let records = z.get(&question(&q)).cloned();
            let rcode = if records.is_some() { 0 } else { 3 };
            let records = records.unwrap_or_default();
            if forge {
                let mut wrong = q.clone();
                wrong[0] ^= 0x55;
                let _ = udp
                    .send_to(
                        &answer(&wrong, 0x8180, &[("x.test", Data::A([6, 6, 6, 6]))]),
                        from,
                    )
                    .await;
            }
            let flags = 0x8180 | rcode | if truncate { 0x0200 } else { 0 };
            let shown: &[(&str, Data)] = if truncate { &[] } else { &records };
            let _ = udp.send_to(&answer(&q, flags, shown), from).await;
        }
    });
    if truncate {
        let tcp = tokio::net::TcpListener::bind(addr).await.unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = tcp.accept().await {
                let mut len = [0u8; 2];
                s.read_exact(&mut len).await.unwrap();
                let mut q = vec![0u8; usize::from(u16::from_be_bytes(len))];
                s.read_exact(&mut q).await.unwrap();
                let records = zone.get(&question(&q)).cloned().unwrap_or_default();
                let a = answer(&q, 0x8180, &records);
                s.write_all(&(a.len() as u16).to_be_bytes()).await.unwrap();
                s.write_all(&a).await.unwrap();
            }
        });
    }
    addr
}

fn zone(entries: Vec<(&str, u16, Records)>) -> Zone {
    entries
        .into_iter()
        .map(|(n, t, r)| ((n.to_string(), t), r))
        .collect()
}

fn carrier() -> Zone {
    zone(vec![
        (
            "carrier.test",
            35,
            vec![
                (
                    "carrier.test",
                    Data::Naptr(20, 1, "SIP+D2U", "_sip._udp.carrier.test"),
                ),
                (
                    "carrier.test",
                    Data::Naptr(10, 1, "SIP+D2T", "_sip._tcp.carrier.test"),
                ),
            ],
        ),
        (
            "_sip._tcp.carrier.test",
            33,
            vec![
                (
                    "_sip._tcp.carrier.test",
                    Data::Srv(20, 0, 5082, "b.carrier.test"),
                ),
                (
                    "_sip._tcp.carrier.test",
                    Data::Srv(10, 0, 5080, "a.carrier.test"),
                ),
            ],
        ),
        (
            "_sip._udp.carrier.test",
            33,
            vec![(
                "_sip._udp.carrier.test",
                Data::Srv(1, 0, 5070, "a.carrier.test"),
            )],
        ),
        (
            "a.carrier.test",
            1,
            vec![("a.carrier.test", Data::A([127, 0, 0, 1]))],
        ),
        (
            "b.carrier.test",
            1,
            vec![("b.carrier.test", Data::A([127, 0, 0, 2]))],
        ),
        (
            "carrier.test",
            1,
            vec![("carrier.test", Data::A([127, 0, 0, 9]))],
        ),
        (
            "_sip._udp.none.test",
            33,
            vec![("_sip._udp.none.test", Data::Srv(0, 0, 0, "."))],
        ),
        (
            "plain.test",
            1,
            vec![("plain.test", Data::A([127, 0, 0, 3]))],
        ),
    ])
}

fn c(addr: &str, transport: TransportKind) -> Candidate {
    Candidate {
        addr: addr.parse().unwrap(),
        transport,
    }
}

async fn locate(r: &Resolver, uri: &str) -> Vec<Candidate> {
    r.locate(&SipTarget::from_uri(uri).unwrap(), &[Udp, Tcp])
        .await
}

#[tokio::test]
async fn the_rfc_3263_steps_follow_the_uri() {
    let dns = server(carrier(), false, false).await;
    let r = Resolver::new(vec![dns], Random::seeded(1));
    // Neither port nor transport: NAPTR (TCP first by order), SRV by priority, then UDP.
    assert_eq!(
        locate(&r, "sip:911@carrier.test").await,
        [
            c("127.0.0.1:5080", Tcp),
            c("127.0.0.2:5082", Tcp),
            c("127.0.0.1:5070", Udp)
        ]
    );
    // An explicit transport: its SRV only.
    assert_eq!(
        locate(&r, "sip:911@carrier.test;transport=udp").await,
        [c("127.0.0.1:5070", Udp)]
    );
    // An explicit port: A records only.
    assert_eq!(
        locate(&r, "sip:911@carrier.test:5999").await,
        [c("127.0.0.9:5999", Udp)]
    );
    // No NAPTR, no SRV: the domain's address on the default port.
    assert_eq!(
        locate(&r, "sip:plain.test").await,
        [c("127.0.0.3:5060", Udp)]
    );
    // SRV target ".": not offered, and no fallback to the domain's address.
    assert!(locate(&r, "sip:none.test;transport=udp").await.is_empty());
    // Nothing at all.
    assert!(locate(&r, "sip:nowhere.test").await.is_empty());
    // A name in the hosts file: no DNS.
    let hosts = std::env::temp_dir().join(format!("centrale-hosts-{}", std::process::id()));
    std::fs::write(&hosts, "127.0.0.7 gw.local\n").unwrap();
    let with_hosts = Resolver::new(vec![dns], Random::seeded(1)).with_hosts_file(&hosts);
    assert_eq!(
        locate(&with_hosts, "sip:811@gw.local").await,
        [c("127.0.0.7:5060", Udp)]
    );
    assert_eq!(
        locate(&with_hosts, "sip:911@carrier.test:5999").await,
        [c("127.0.0.9:5999", Udp)]
    );
    let _ = std::fs::remove_file(&hosts);
    // An IP literal: no DNS.
    assert_eq!(
        locate(&r, "sip:911@192.0.2.7;transport=tcp").await,
        [c("192.0.2.7:5060", Tcp)]
    );
}

#[tokio::test]
async fn forged_answers_are_ignored_and_a_silent_server_is_retried_on_the_next() {
    let dns = server(carrier(), true, false).await;
    // Nobody answers here (a bound socket that never reads).
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut r = Resolver::new(vec![silent.local_addr().unwrap(), dns], Random::seeded(2));
    r.timeout = Duration::from_millis(300);
    let t0 = std::time::Instant::now();
    assert_eq!(
        locate(&r, "sip:plain.test:5060").await,
        [c("127.0.0.3:5060", Udp)]
    );
    assert!(t0.elapsed() >= Duration::from_millis(300));
    // Both attempts go to silent servers: a timeout, reported as such.
    let r2 = Resolver {
        servers: vec![silent.local_addr().unwrap()],
        hosts_file: None,
        timeout: Duration::from_millis(100),
        rng: Mutex::new(Random::seeded(3)),
    };
    assert!(matches!(
        r2.query("plain.test", RecordType::A).await,
        Err(LookupError::Timeout(_))
    ));
    assert!(matches!(
        Resolver::new(vec![], Random::seeded(4))
            .query("plain.test", RecordType::A)
            .await,
        Err(LookupError::NoServer)
    ));
}

#[tokio::test]
async fn a_truncated_answer_is_asked_again_over_tcp() {
    let dns = server(carrier(), false, true).await;
    let r = Resolver::new(vec![dns], Random::seeded(5));
    let a = r
        .query("_sip._tcp.carrier.test", RecordType::Srv)
        .await
        .unwrap();
    assert!(!a.truncated);
    assert_eq!(a.answers.len(), 2);
}
