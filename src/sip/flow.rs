//! Where a message came from and where one goes: the transport, our local socket and the peer
//! address, plus the connection for stream transports (RFC 5923 reuse: we answer and send
//! in-dialog requests on the connection the peer opened).

use std::fmt;
use std::net::SocketAddr;

use bytes::Bytes;

use super::transaction::Reliability;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    Udp,
    Tcp,
    /// SIP over TLS (RFC 3261 §26.2): a stream like TCP, encrypted.
    Tls,
}

impl TransportKind {
    pub fn reliability(self) -> Reliability {
        match self {
            TransportKind::Udp => Reliability::Unreliable,
            TransportKind::Tcp | TransportKind::Tls => Reliability::Reliable,
        }
    }

    /// Token used in Via and in `transport=` URI parameters.
    pub fn via_token(self) -> &'static str {
        match self {
            TransportKind::Udp => "UDP",
            TransportKind::Tcp => "TCP",
            TransportKind::Tls => "TLS",
        }
    }

    /// A connection-oriented transport (answers and requests go back on the connection).
    pub fn is_stream(self) -> bool {
        self != TransportKind::Udp
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::Udp => "udp",
            TransportKind::Tcp => "tcp",
            TransportKind::Tls => "tls",
        })
    }
}

/// One path between us and a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flow {
    pub transport: TransportKind,
    /// Our listening address the message arrived on (picks the socket to answer from).
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// Stream connection id; 0 for datagrams or "open a new connection if needed".
    pub conn: u64,
}

impl Flow {
    /// The same path, aimed at another peer address (a UDP reply to the Via port, say).
    pub fn to(self, remote: SocketAddr) -> Flow {
        Flow { remote, ..self }
    }
}

/// Bytes to put on a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub flow: Flow,
    pub bytes: Bytes,
}
