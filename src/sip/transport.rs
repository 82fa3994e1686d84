//! SIP over UDP, TCP and TLS: sockets, TLS handshakes (bounded in number and time), stream
//! framing by Content-Length, keep-alive pongs, and a `send` that puts a `Transmit` on the
//! right socket or connection (a TLS peer is reached on the connection it opened). Everything received is
//! framed and parsed here (on the socket's task, so parsing spreads over cores) and handed to
//! the SIP driver as `Inbound`.
//!
//! No protocol decisions here: what to answer is the endpoint's and the driver's business.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::flow::{Flow, Transmit, TransportKind};
use super::framing::{frame_stream_from, FrameError, StreamFrame};
use super::message::{parse, parse_datagram, Incoming, ParseError};

/// A message (or a failure to read one) from the network.
pub use tokio_rustls::TlsAcceptor;

/// Stream listeners bound by `Transports::bind`, served by `Transports::start`.
pub struct Listeners {
    pub tcp: Vec<TcpListener>,
    pub tls: Vec<TcpListener>,
}

#[derive(Debug)]
pub struct Inbound {
    pub flow: Flow,
    pub msg: Received,
}

/// What came in on a flow. A message travels by value, as it did in a `Result`: boxing it
/// would add an allocation per message for the rare failure variants.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Received {
    Message(Incoming),
    Malformed(Rejected),
    /// A connection we opened to send on this flow could not be made (refused, timed out,
    /// a TLS certificate that does not check out): what we sent there never left.
    Unreachable,
}

impl From<Result<Incoming, Rejected>> for Received {
    fn from(r: Result<Incoming, Rejected>) -> Received {
        match r {
            Ok(m) => Received::Message(m),
            Err(e) => Received::Malformed(e),
        }
    }
}

/// Bytes that did not parse, kept so the driver can answer 400 and log once.
#[derive(Debug)]
pub struct Rejected {
    pub error: ParseError,
    pub raw: Bytes,
}

/// Socket buffers sized for bursts of thousands of calls a second (SIPp's advice too).
const SOCKET_BUFFER: usize = 4 * 1024 * 1024;
/// TCP connections with no traffic for this long are closed.
const TCP_IDLE: Duration = Duration::from_secs(15 * 60);
/// A TLS client gets this long to finish its handshake (a slow or silent one is dropped).
const TLS_HANDSHAKE: Duration = Duration::from_secs(10);
/// TLS handshakes in progress at once, at most, and from one address (a flood of half-open
/// handshakes from one place cannot take every file descriptor or the CPU from phones
/// elsewhere).
const TLS_PENDING: usize = 1024;
const TLS_PENDING_PER_IP: usize = 32;

pub struct Transports {
    udp: Vec<(SocketAddr, Arc<UdpSocket>)>,
    tcp_listen: Vec<SocketAddr>,
    tls_listen: Vec<SocketAddr>,
    conns: Mutex<Conns>,
    next_conn: AtomicU64,
    inbound: mpsc::Sender<Inbound>,
    /// TLS connections we may open, to carrier trunks only: each carrier's own verifier (its
    /// `tls_ca`) by the name it must prove, and the addresses known to be that carrier.
    tls_carriers: Mutex<TlsCarriers>,
}

#[derive(Default)]
struct TlsCarriers {
    by_name: HashMap<String, tokio_rustls::TlsConnector>,
    by_addr: HashMap<SocketAddr, (tokio_rustls::TlsConnector, String)>,
}

#[derive(Default)]
struct Conns {
    by_id: HashMap<u64, mpsc::Sender<Bytes>>,
    by_addr: HashMap<SocketAddr, u64>,
}

impl Transports {
    /// Bind every listening socket; fails if any address is taken.
    /// Bind every socket; the listeners come back as (TCP, TLS) to be started by `start`.
    pub async fn bind(
        udp: &[SocketAddr],
        tcp: &[SocketAddr],
        tls: &[SocketAddr],
        inbound: mpsc::Sender<Inbound>,
    ) -> std::io::Result<(Arc<Transports>, Listeners)> {
        let mut udp_socks = Vec::new();
        for addr in udp {
            let s = socket2::Socket::new(
                socket2::Domain::for_address(*addr),
                socket2::Type::DGRAM,
                Some(socket2::Protocol::UDP),
            )?;
            // Best effort: the kernel caps these at net.core.*mem_max.
            let _ = s.set_recv_buffer_size(SOCKET_BUFFER);
            let _ = s.set_send_buffer_size(SOCKET_BUFFER);
            s.set_nonblocking(true)?;
            s.bind(&(*addr).into())?;
            let sock = UdpSocket::from_std(s.into())?;
            let local = sock.local_addr()?;
            udp_socks.push((local, Arc::new(sock)));
        }
        let mut listeners = Vec::new();
        let mut tcp_listen = Vec::new();
        for addr in tcp {
            let l = TcpListener::bind(addr).await?;
            tcp_listen.push(l.local_addr()?);
            listeners.push(l);
        }
        let mut tls_listeners = Vec::new();
        let mut tls_listen = Vec::new();
        for addr in tls {
            let l = TcpListener::bind(addr).await?;
            tls_listen.push(l.local_addr()?);
            tls_listeners.push(l);
        }
        Ok((
            Arc::new(Transports {
                udp: udp_socks,
                tcp_listen,
                tls_listen,
                conns: Mutex::new(Conns::default()),
                next_conn: AtomicU64::new(1),
                inbound,
                tls_carriers: Mutex::new(TlsCarriers::default()),
            }),
            Listeners {
                tcp: listeners,
                tls: tls_listeners,
            },
        ))
    }

    /// A carrier we may open TLS connections to: it must prove `name` (a DNS name or an IP)
    /// with a certificate `config` trusts; `addr` when its address is already known.
    pub fn add_tls_carrier(
        &self,
        name: &str,
        config: Arc<rustls::ClientConfig>,
        addr: Option<SocketAddr>,
    ) {
        let connector = tokio_rustls::TlsConnector::from(config);
        let mut c = self.tls_carriers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(a) = addr {
            c.by_addr.insert(a, (connector.clone(), name.to_string()));
        }
        c.by_name.insert(name.to_string(), connector);
    }

    /// `name` resolved to `addr`: if it is a TLS carrier's, connections there are its.
    pub fn resolved_tls(&self, name: &str, addr: SocketAddr) {
        let mut c = self.tls_carriers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(connector) = c.by_name.get(name).cloned() {
            c.by_addr.insert(addr, (connector, name.to_string()));
        }
    }

    /// Whether we may open TLS connections to the carrier that must prove `name`.
    pub fn is_tls_carrier(&self, name: &str) -> bool {
        self.tls_carriers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .by_name
            .contains_key(name)
    }

    pub fn udp_addrs(&self) -> Vec<SocketAddr> {
        self.udp.iter().map(|(a, _)| *a).collect()
    }

    pub fn tcp_addrs(&self) -> Vec<SocketAddr> {
        self.tcp_listen.clone()
    }

    pub fn tls_addrs(&self) -> Vec<SocketAddr> {
        self.tls_listen.clone()
    }

    /// Our local address for a transport (first listener), used for Via and Contact.
    pub fn local_addr(&self, kind: TransportKind) -> Option<SocketAddr> {
        match kind {
            TransportKind::Udp => self.udp.first().map(|(a, _)| *a),
            TransportKind::Tcp => self.tcp_listen.first().copied(),
            TransportKind::Tls => self.tls_listen.first().copied(),
        }
    }

    /// Our address for a request we send on `kind`: its listener's, or — for a TLS connection
    /// we open ourselves (to a carrier), which needs no TLS listener — our TCP address.
    pub fn local_for_outbound(&self, kind: TransportKind) -> Option<SocketAddr> {
        self.local_addr(kind).or_else(|| {
            (kind == TransportKind::Tls)
                .then(|| self.local_addr(TransportKind::Tcp))
                .flatten()
        })
    }

    /// Start the receive loops. Returns immediately.
    /// Serve the sockets. TLS listeners need `tls` (the server certificate); without it they
    /// are closed.
    pub fn start(self: &Arc<Self>, listeners: Listeners, tls: Option<TlsAcceptor>) {
        for (local, sock) in &self.udp {
            tokio::spawn(udp_loop(self.clone(), *local, sock.clone()));
        }
        for l in listeners.tcp {
            tokio::spawn(accept_loop(self.clone(), l));
        }
        if let Some(acceptor) = tls {
            let pending = Arc::new(tokio::sync::Semaphore::new(TLS_PENDING));
            for l in listeners.tls {
                tokio::spawn(accept_tls_loop(
                    self.clone(),
                    l,
                    acceptor.clone(),
                    pending.clone(),
                ));
            }
        }
    }

    /// Put bytes on the wire. Never blocks: a full socket drops the datagram (UDP peers and
    /// our transactions retransmit), a full connection queue drops the connection.
    pub fn send(self: &Arc<Self>, t: Transmit) {
        match t.flow.transport {
            TransportKind::Udp => {
                let sock = self
                    .udp
                    .iter()
                    .find(|(a, _)| *a == t.flow.local)
                    .or_else(|| self.udp.first())
                    .map(|(_, s)| s.clone());
                let Some(sock) = sock else {
                    warn!("no UDP socket to send from");
                    return;
                };
                match sock.try_send_to(&t.bytes, t.flow.remote) {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        // Rare: the send buffer is full. Let the runtime wait for space.
                        tokio::spawn(async move {
                            let _ = sock.send_to(&t.bytes, t.flow.remote).await;
                        });
                    }
                    Err(e) => debug!(to = %t.flow.remote, error = %e, "UDP send failed"),
                }
            }
            TransportKind::Tcp | TransportKind::Tls => self.send_stream(t),
        }
    }

    fn send_stream(self: &Arc<Self>, t: Transmit) {
        let existing = {
            let conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
            let id = if t.flow.conn != 0 && conns.by_id.contains_key(&t.flow.conn) {
                Some(t.flow.conn)
            } else {
                conns.by_addr.get(&t.flow.remote).copied()
            };
            id.and_then(|id| conns.by_id.get(&id).cloned())
        };
        match existing {
            Some(tx) => {
                if tx.try_send(t.bytes).is_err() {
                    debug!(to = %t.flow.remote, "TCP connection queue full or closed");
                }
            }
            None if t.flow.transport == TransportKind::Tls => {
                // A phone is reached over the connection it opened; we open TLS connections
                // only toward carrier trunks configured for it (`add_tls_carrier`).
                let carrier = self
                    .tls_carriers
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .by_addr
                    .get(&t.flow.remote)
                    .cloned();
                let me = self.clone();
                let Some((connector, name)) = carrier else {
                    debug!(to = %t.flow.remote, "no TLS connection to this peer");
                    tokio::spawn(async move { me.unreachable(t.flow).await });
                    return;
                };
                tokio::spawn(async move { me.connect_tls(connector, name, t).await });
            }
            None => {
                let me = self.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(
                        Duration::from_secs(5),
                        TcpStream::connect(t.flow.remote),
                    )
                    .await
                    {
                        Ok(Ok(stream)) => {
                            let local = me.local_addr(TransportKind::Tcp).unwrap_or(t.flow.local);
                            let _ = stream.set_nodelay(true);
                            let tx = me.register_stream(
                                stream,
                                TransportKind::Tcp,
                                local,
                                t.flow.remote,
                            );
                            let _ = tx.try_send(t.bytes);
                        }
                        _ => {
                            debug!(to = %t.flow.remote, "TCP connect failed");
                            me.unreachable(t.flow).await;
                        }
                    }
                });
            }
        }
    }

    /// Open a TLS connection to a carrier, verify it presents `name`, then send `t` on it.
    async fn connect_tls(
        self: Arc<Self>,
        connector: tokio_rustls::TlsConnector,
        name: String,
        t: Transmit,
    ) {
        let Ok(server_name) = rustls::pki_types::ServerName::try_from(name.clone()) else {
            warn!(to = %t.flow.remote, %name, "not a usable TLS server name");
            return;
        };
        let open = async {
            let tcp = TcpStream::connect(t.flow.remote).await?;
            let _ = tcp.set_nodelay(true);
            connector.connect(server_name, tcp).await
        };
        match tokio::time::timeout(TLS_HANDSHAKE, open).await {
            Ok(Ok(stream)) => {
                let local = stream.get_ref().0.local_addr().unwrap_or(t.flow.local);
                let tx = self.register_stream(stream, TransportKind::Tls, local, t.flow.remote);
                let _ = tx.try_send(t.bytes);
            }
            Ok(Err(e)) => {
                warn!(to = %t.flow.remote, %name, error = %e, "TLS connection to the carrier failed");
                self.unreachable(t.flow).await;
            }
            Err(_) => {
                warn!(to = %t.flow.remote, %name, "TLS connection to the carrier timed out");
                self.unreachable(t.flow).await;
            }
        }
    }

    /// Tell the driver that nothing sent on `flow` got out (RFC 3261 §8.1.3.1: its
    /// transactions fail now, as with a 503, instead of waiting for their timers).
    async fn unreachable(&self, flow: Flow) {
        let _ = self
            .inbound
            .send(Inbound {
                flow,
                msg: Received::Unreachable,
            })
            .await;
    }

    fn register_stream<S>(
        self: &Arc<Self>,
        stream: S,
        transport: TransportKind,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> mpsc::Sender<Bytes>
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel::<Bytes>(256);
        {
            let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
            conns.by_id.insert(id, tx.clone());
            conns.by_addr.insert(remote, id);
        }
        let (reader, writer) = tokio::io::split(stream);
        let flow = Flow {
            transport,
            local,
            remote,
            conn: id,
        };
        tokio::spawn(write_loop(writer, rx));
        tokio::spawn(read_loop(self.clone(), reader, flow, tx.clone()));
        tx
    }

    fn forget(&self, id: u64, remote: SocketAddr) {
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        conns.by_id.remove(&id);
        if conns.by_addr.get(&remote) == Some(&id) {
            conns.by_addr.remove(&remote);
        }
    }

    /// Open TCP connections (for the admin view and leak checks).
    pub fn tcp_connections(&self) -> usize {
        self.conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .by_id
            .len()
    }
}

async fn udp_loop(t: Arc<Transports>, local: SocketAddr, sock: Arc<UdpSocket>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, remote) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            // ICMP errors surface here on Linux; they concern some earlier send, not us.
            Err(e) => {
                debug!(error = %e, "UDP receive error");
                continue;
            }
        };
        let data = &buf[..n];
        // Lone CRLFs are keep-alives (RFC 5626 §3.5.1 is for streams; UDP peers send them too).
        if data.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let msg = parse_datagram(data).map_err(|error| Rejected {
            error,
            raw: Bytes::copy_from_slice(data),
        });
        let flow = Flow {
            transport: TransportKind::Udp,
            local,
            remote,
            conn: 0,
        };
        let msg = msg.into();
        if t.inbound.send(Inbound { flow, msg }).await.is_err() {
            return;
        }
    }
}

async fn accept_loop(t: Arc<Transports>, listener: TcpListener) {
    let local = match listener.local_addr() {
        Ok(a) => a,
        Err(_) => return,
    };
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                let _ = stream.set_nodelay(true);
                t.register_stream(stream, TransportKind::Tcp, local, remote);
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                warn!(error = %e, "TCP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn accept_tls_loop(
    t: Arc<Transports>,
    listener: TcpListener,
    acceptor: TlsAcceptor,
    pending: Arc<tokio::sync::Semaphore>,
) {
    let local = match listener.local_addr() {
        Ok(a) => a,
        Err(_) => return,
    };
    let per_ip: Arc<Mutex<HashMap<std::net::IpAddr, usize>>> = Arc::default();
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                // Too many handshakes under way: drop this one rather than queue it.
                let Ok(permit) = pending.clone().try_acquire_owned() else {
                    debug!(peer = %remote, "TLS handshakes saturated: connection dropped");
                    continue;
                };
                {
                    let mut by_ip = per_ip.lock().unwrap_or_else(|p| p.into_inner());
                    let n = by_ip.entry(remote.ip()).or_insert(0);
                    if *n >= TLS_PENDING_PER_IP {
                        debug!(peer = %remote, "too many TLS handshakes from this address");
                        continue;
                    }
                    *n += 1;
                }
                let per_ip = per_ip.clone();
                let _ = stream.set_nodelay(true);
                let t = t.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let shake = tokio::time::timeout(TLS_HANDSHAKE, acceptor.accept(stream)).await;
                    drop(permit);
                    {
                        let mut by_ip = per_ip.lock().unwrap_or_else(|p| p.into_inner());
                        if let Some(n) = by_ip.get_mut(&remote.ip()) {
                            *n -= 1;
                            if *n == 0 {
                                by_ip.remove(&remote.ip());
                            }
                        }
                    }
                    match shake {
                        Ok(Ok(tls)) => {
                            t.register_stream(tls, TransportKind::Tls, local, remote);
                        }
                        Ok(Err(e)) => debug!(peer = %remote, error = %e, "TLS handshake failed"),
                        Err(_) => debug!(peer = %remote, "TLS handshake too slow: dropped"),
                    }
                });
            }
            Err(e) => {
                warn!(error = %e, "TLS accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn write_loop<W: AsyncWrite>(w: W, mut rx: mpsc::Receiver<Bytes>) {
    tokio::pin!(w);
    while let Some(b) = rx.recv().await {
        if w.write_all(&b).await.is_err() {
            break;
        }
    }
    let _ = w.shutdown().await;
}

async fn read_loop<R: AsyncRead>(
    t: Arc<Transports>,
    r: R,
    flow: Flow,
    writer: mpsc::Sender<Bytes>,
) {
    tokio::pin!(r);
    let mut buf = BytesMut::with_capacity(8192);
    // How far the head's end was searched for in vain (a slow client costs linear work).
    let mut scanned = 0usize;
    'conn: loop {
        let read = tokio::time::timeout(TCP_IDLE, r.read_buf(&mut buf)).await;
        match read {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(_)) => {}
        }
        loop {
            match frame_stream_from(&buf, &mut scanned) {
                Ok(StreamFrame::Incomplete) => break,
                Ok(StreamFrame::KeepAlive { len, ping }) => {
                    scanned = 0;
                    buf.advance(len);
                    if ping {
                        let _ = writer.try_send(Bytes::from_static(b"\r\n"));
                    }
                }
                Ok(StreamFrame::Message(framed)) => {
                    scanned = 0;
                    let raw = buf.split_to(framed.total()).freeze();
                    let msg = parse(
                        &raw,
                        super::framing::Framed {
                            head_len: framed.head_len,
                            body_len: framed.body_len,
                        },
                    )
                    .map_err(|error| Rejected {
                        error,
                        raw: raw.clone(),
                    });
                    let msg = msg.into();
                    if t.inbound.send(Inbound { flow, msg }).await.is_err() {
                        break 'conn;
                    }
                }
                Err(error) => {
                    // A stream that lost its framing cannot be resynchronised: answer what
                    // we can and close it (RFC 3261 §18.3).
                    let raw = buf.split().freeze();
                    let _ = t
                        .inbound
                        .send(Inbound {
                            flow,
                            msg: Received::Malformed(Rejected {
                                error: ParseError::Frame(error.clone()),
                                raw,
                            }),
                        })
                        .await;
                    if matches!(error, FrameError::HeadTooLarge | FrameError::BodyTooLarge) {
                        debug!(peer = %flow.remote, "closing TCP connection after framing error");
                    }
                    // Give the writer a moment to flush the error response.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    break 'conn;
                }
            }
        }
    }
    t.forget(flow.conn, flow.remote);
}
