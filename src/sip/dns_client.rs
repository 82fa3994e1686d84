//! Asking DNS servers, and RFC 3263 §4 for a SIP URI: where (addresses and ports) and how
//! (UDP, TCP, TLS) to send a request, in the order to try.
//!
//! A query goes over UDP to the configured servers (from a fresh socket on a random port,
//! with a random id), waits `TIMEOUT`, and is asked once more — of the next server when
//! there are several; an answer whose id or question differs is ignored, a truncated one is
//! asked again over TCP. The procedure: an IP literal is used as is, and so is a name the
//! hosts file gives (a local alias: no DNS); an explicit port means A/AAAA only; an explicit
//! transport means SRV for it, then A/AAAA; neither means NAPTR, then SRV for the services
//! chosen, then A/AAAA on the default port.
//!
//! Owns: the sockets to DNS servers, timeouts and retries, the order of the lookups. Never
//! does: reading bytes (`sip::dns::wire`) or choosing among records (`sip::dns::select`);
//! knows nothing of trunks or calls.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tracing::debug;

use super::dns::select::{self, default_port, Candidate, SipTarget, SrvPlan};
use super::dns::wire::{self, RData, Rcode, Record, RecordType, Response, WireError};
use super::flow::TransportKind;
use super::random::Random;

/// How long one attempt waits for its answer.
pub const TIMEOUT: Duration = Duration::from_secs(2);
/// Attempts per query: the first and one retry.
const ATTEMPTS: usize = 2;
/// A UDP answer is at most this long (we send no EDNS0, so servers keep to 512; some send
/// more anyway).
const MAX_UDP: usize = 4096;

#[derive(Debug, Error)]
pub enum LookupError {
    #[error("no DNS server configured")]
    NoServer,
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error("no answer from {0}")]
    Timeout(SocketAddr),
    #[error("{server} answered {rcode:?}")]
    Server { server: SocketAddr, rcode: Rcode },
    #[error("{server}: {error}")]
    Io {
        server: SocketAddr,
        error: std::io::Error,
    },
    #[error("{0} answered another question")]
    Mismatch(SocketAddr),
}

pub struct Resolver {
    servers: Vec<SocketAddr>,
    /// Read before DNS (the server's /etc/hosts); None in tests.
    hosts_file: Option<std::path::PathBuf>,
    timeout: Duration,
    /// Query ids and SRV draws.
    rng: Mutex<Random>,
}

impl Resolver {
    pub fn new(servers: Vec<SocketAddr>, rng: Random) -> Resolver {
        Resolver {
            servers,
            hosts_file: None,
            timeout: TIMEOUT,
            rng: Mutex::new(rng),
        }
    }

    /// Names in `path` (a hosts file) are taken from it, before any DNS query.
    pub fn with_hosts_file(mut self, path: impl Into<std::path::PathBuf>) -> Resolver {
        self.hosts_file = Some(path.into());
        self
    }

    /// The servers asked, in order.
    pub fn servers(&self) -> &[SocketAddr] {
        &self.servers
    }

    fn random(&self) -> u32 {
        self.rng.lock().unwrap_or_else(|p| p.into_inner()).u32()
    }

    /// Ask for `name`/`rtype`. NXDOMAIN is an answer (with no records), not an error.
    pub async fn query(&self, name: &str, rtype: RecordType) -> Result<Response, LookupError> {
        if self.servers.is_empty() {
            return Err(LookupError::NoServer);
        }
        let mut last = LookupError::NoServer;
        for attempt in 0..ATTEMPTS {
            let server = self.servers[attempt % self.servers.len()];
            let id = (self.random() & 0xFFFF) as u16;
            let packet = wire::query(id, name, rtype)?;
            let answer = match self.udp(server, &packet, id, name, rtype).await {
                Ok(r) if r.truncated => match self.tcp(server, &packet, id, name, rtype).await {
                    Ok(full) => full,
                    Err(e) => {
                        debug!(%name, error = %e, "truncated DNS answer and no TCP: using its part");
                        r
                    }
                },
                Ok(r) => r,
                Err(e) => {
                    debug!(%name, ?rtype, error = %e, attempt, "DNS query failed");
                    last = e;
                    continue;
                }
            };
            match answer.rcode {
                Rcode::NoError | Rcode::NxDomain => return Ok(answer),
                rcode => last = LookupError::Server { server, rcode },
            }
        }
        Err(last)
    }

    async fn udp(
        &self,
        server: SocketAddr,
        packet: &[u8],
        id: u16,
        name: &str,
        rtype: RecordType,
    ) -> Result<Response, LookupError> {
        let io = |error| LookupError::Io { server, error };
        let any: IpAddr = if server.is_ipv4() {
            Ipv4Addr::UNSPECIFIED.into()
        } else {
            Ipv6Addr::UNSPECIFIED.into()
        };
        let sock = UdpSocket::bind((any, 0)).await.map_err(io)?;
        // Connected: the kernel drops datagrams from anyone but the server.
        sock.connect(server).await.map_err(io)?;
        sock.send(packet).await.map_err(io)?;
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut buf = vec![0u8; MAX_UDP];
        loop {
            let n = match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
                Err(_) => return Err(LookupError::Timeout(server)),
                Ok(r) => r.map_err(io)?,
            };
            match buf.get(..n).map(wire::parse) {
                Some(Ok(r)) if r.answers_query(id, name, rtype) => return Ok(r),
                // Not the answer to this question (late, forged or broken): keep waiting.
                other => debug!(%server, ?other, "DNS datagram ignored"),
            }
        }
    }

    /// The same question over TCP (RFC 7766), for an answer too long for a datagram.
    async fn tcp(
        &self,
        server: SocketAddr,
        packet: &[u8],
        id: u16,
        name: &str,
        rtype: RecordType,
    ) -> Result<Response, LookupError> {
        let io = |error| LookupError::Io { server, error };
        let exchange = async {
            let mut s = TcpStream::connect(server).await.map_err(io)?;
            let len = u16::try_from(packet.len()).unwrap_or(u16::MAX);
            let mut framed = len.to_be_bytes().to_vec();
            framed.extend_from_slice(packet);
            s.write_all(&framed).await.map_err(io)?;
            let mut len = [0u8; 2];
            s.read_exact(&mut len).await.map_err(io)?;
            let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
            s.read_exact(&mut body).await.map_err(io)?;
            let r = wire::parse(&body)?;
            if r.answers_query(id, name, rtype) {
                Ok(r)
            } else {
                Err(LookupError::Mismatch(server))
            }
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or(Err(LookupError::Timeout(server)))
    }

    /// The records of a query, or none when it failed (logged).
    async fn ask(&self, name: &str, rtype: RecordType) -> Option<Response> {
        match self.query(name, rtype).await {
            Ok(r) => Some(r),
            Err(e) => {
                debug!(%name, ?rtype, error = %e, "no DNS answer");
                None
            }
        }
    }

    /// Where to send a request for `target` (RFC 3263 §4), best first. `usable`: the
    /// transports we can send on to it (NAPTR and SRV choices are limited to them). Empty:
    /// DNS knows no way there.
    pub async fn locate(&self, target: &SipTarget, usable: &[TransportKind]) -> Vec<Candidate> {
        let transport = target.default_transport();
        if let Some(ip) = target.ip() {
            let port = target.port.unwrap_or(default_port(transport));
            return vec![Candidate {
                addr: SocketAddr::new(ip, port),
                transport,
            }];
        }
        let host = target.host.as_str();
        if let Some(path) = &self.hosts_file {
            let text = tokio::fs::read_to_string(path).await.unwrap_or_default();
            let port = target.port.unwrap_or(default_port(transport));
            let local: Vec<Candidate> = select::hosts_file(&text, host)
                .into_iter()
                .map(|ip| Candidate {
                    addr: SocketAddr::new(ip, port),
                    transport,
                })
                .collect();
            if !local.is_empty() {
                return local;
            }
        }
        if let Some(port) = target.port {
            return self.hosts(host, port, transport, &[]).await;
        }
        let services = match target.transport {
            Some(t) => vec![(t, select::srv_name(host, t))],
            None => {
                let naptr: Vec<wire::Naptr> = self
                    .ask(host, RecordType::Naptr)
                    .await
                    .map(|r| {
                        r.answers
                            .into_iter()
                            .filter_map(|a| match a.data {
                                RData::Naptr(n) => Some(n),
                                _ => None,
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let chosen = select::naptr_services(&naptr, target.secure, usable);
                if chosen.is_empty() {
                    select::fallback_services(host, target.secure, usable)
                } else {
                    chosen
                }
            }
        };
        let answers = futures_util::future::join_all(
            services
                .iter()
                .map(|(_, name)| self.ask(name, RecordType::Srv)),
        )
        .await;
        let mut out = Vec::new();
        let mut srv_seen = false;
        for ((t, _), answer) in services.iter().zip(answers) {
            let Some(answer) = answer else { continue };
            let records: Vec<wire::Srv> = answer
                .answers
                .iter()
                .filter_map(|a| match &a.data {
                    RData::Srv(s) => Some(s.clone()),
                    _ => None,
                })
                .collect();
            let plan = {
                let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
                select::order_srv(&records, || rng.u32())
            };
            match plan {
                SrvPlan::NoRecords => {}
                SrvPlan::NotOffered => srv_seen = true,
                SrvPlan::Targets(list) => {
                    srv_seen = true;
                    for s in list {
                        for c in self.hosts(&s.target, s.port, *t, &answer.additional).await {
                            if !out.contains(&c) {
                                out.push(c);
                            }
                        }
                    }
                }
            }
        }
        if out.is_empty() && !srv_seen {
            return self
                .hosts(host, default_port(transport), transport, &[])
                .await;
        }
        out
    }

    /// `name`'s addresses on `port`: from `known` (an SRV answer's additional records) when
    /// it has them, else from A and AAAA queries.
    async fn hosts(
        &self,
        name: &str,
        port: u16,
        transport: TransportKind,
        known: &[Record],
    ) -> Vec<Candidate> {
        let mut ips = select::addresses(known, name);
        if ips.is_empty() {
            let (a, aaaa) = tokio::join!(
                self.ask(name, RecordType::A),
                self.ask(name, RecordType::Aaaa)
            );
            let records: Vec<Record> = a.into_iter().chain(aaaa).flat_map(|r| r.answers).collect();
            ips = select::addresses(&records, name);
        }
        ips.into_iter()
            .map(|ip| Candidate {
                addr: SocketAddr::new(ip, port),
                transport,
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "dns_client_tests.rs"]
mod tests;
