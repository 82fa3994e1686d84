//! The bodies of the fuzz targets (`fuzz/fuzz_targets/*`), here so that `cargo test` replays
//! the committed corpus through exactly the code libFuzzer drives (`tests/fuzz_corpus.rs`).
//! Each takes arbitrary bytes and must return without panicking, whatever they are.
//!
//! Owns: how bytes become inputs for each untrusted-input surface. Never does: I/O; the
//! virtual clock starts at a fixed instant and only moves forward.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::media::srtp::{SrtpContext, SrtpKey, Suite};
use crate::sip::digest::Algorithm;
use crate::sip::endpoint::Endpoint;
use crate::sip::flow::{Flow, TransportKind};
use crate::sip::framing::{frame_stream_from, Framed, StreamFrame};
use crate::sip::message::{parse, parse_datagram, Incoming};
use crate::sip::random::Random;
use crate::sip::registrar::{Accounts, Registrar, RegistrarLimits};

/// A target's body.
pub type Target = fn(&[u8]);

/// Every target, by name (the fuzz crate's binaries and the corpus directories).
pub const TARGETS: &[(&str, Target)] = &[
    ("sip_message", sip_message),
    ("sip_stream", sip_stream),
    ("sdp", sdp),
    ("digest", digest),
    ("rtp", rtp),
    ("sip_endpoint", sip_endpoint),
    ("dialplan", dialplan),
    ("desk_message", desk_message),
];

fn flow(transport: TransportKind) -> Flow {
    Flow {
        transport,
        local: std::net::SocketAddr::from(([127, 0, 0, 1], 5060)),
        remote: std::net::SocketAddr::from(([127, 0, 0, 1], 40000)),
        conn: 1,
    }
}

/// One datagram through the parser.
pub fn sip_message(data: &[u8]) {
    let _ = parse_datagram(data);
}

/// A TCP/TLS byte stream cut at arbitrary points (the first byte picks the chunk size),
/// framed and parsed as the transport does.
pub fn sip_stream(data: &[u8]) {
    let Some((&step, rest)) = data.split_first() else {
        return;
    };
    let step = usize::from(step).max(1);
    let mut buf: Vec<u8> = Vec::new();
    let mut scanned = 0;
    for chunk in rest.chunks(step) {
        buf.extend_from_slice(chunk);
        loop {
            match frame_stream_from(&buf, &mut scanned) {
                Ok(StreamFrame::Incomplete) => break,
                Ok(StreamFrame::KeepAlive { len, .. }) => {
                    scanned = 0;
                    buf.drain(..len.min(buf.len()));
                }
                Ok(StreamFrame::Message(f)) => {
                    scanned = 0;
                    let total = f.total().min(buf.len());
                    let _ = parse(
                        &buf[..total],
                        Framed {
                            head_len: f.head_len,
                            body_len: f.body_len,
                        },
                    );
                    buf.drain(..total);
                }
                Err(_) => return,
            }
        }
    }
}

/// An SDP body as an offer and as an answer.
pub fn sdp(data: &[u8]) {
    if let Ok(sd) = crate::sip::sdp::parse(data) {
        let _ = crate::sip::sdp::negotiate_offer(&sd);
        let _ = crate::sip::sdp::read_answer(&sd);
    }
}

/// Authorization and challenge values.
pub fn digest(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(c) = crate::sip::digest::parse_credentials(&text) {
        let ha1 = crate::sip::digest::ha1(c.algorithm, "u", "r", "p");
        let _ = crate::sip::digest::verify(&c, "REGISTER", &ha1);
    }
    if let Ok(ch) = crate::sip::auth_client::parse_challenge(&text) {
        let _ = crate::sip::auth_client::authorization(&ch, "u", "p", "INVITE", "sip:x", 1, "c");
    }
}

/// RTP, RTCP, RFC 4733 events and SRTP on received packets.
pub fn rtp(data: &[u8]) {
    if let Some(p) = crate::media::rtp::parse(data) {
        let mut ev = crate::media::dtmf::rfc4733::Rfc4733Receiver::new();
        let _ = ev.on_packet(p.timestamp, p.marker, p.payload);
    }
    let _ = crate::media::rtcp::parse_sender_report(data);
    let key = SrtpKey {
        suite: Suite::AesCm128HmacSha1_80,
        master: [7; crate::media::srtp::MASTER_LEN],
    };
    if let Ok(mut ctx) = SrtpContext::new(&key) {
        let mut buf = data.to_vec();
        let _ = ctx.unprotect(&mut buf);
    }
}

struct OneAgent;

impl Accounts for OneAgent {
    fn realm(&self) -> Option<&str> {
        Some("centrale")
    }
    fn account(&self, username: &str, alg: Algorithm) -> Option<(String, String)> {
        (username == "agent1").then(|| {
            (
                "agent1".to_string(),
                crate::sip::digest::ha1(alg, "agent1", "centrale", "pw"),
            )
        })
    }
    fn has_agent(&self, agent: &str) -> bool {
        agent == "agent1"
    }
    fn is_empty(&self) -> bool {
        false
    }
}

/// A sequence of messages (separated by NUL bytes) and clock steps through the transaction
/// layer, with REGISTERs also through the registrar: a random event sequence for both.
pub fn sip_endpoint(data: &[u8]) {
    let start = Instant::now();
    let mut now = start;
    let mut ep = Endpoint::new(Default::default(), Random::seeded(1));
    let mut reg = Registrar::new(
        "centrale",
        Arc::new(OneAgent),
        RegistrarLimits::default(),
        Random::seeded(2),
        start,
    );
    for (i, part) in data.split(|&b| b == 0).enumerate().take(64) {
        let transport = if i % 2 == 0 {
            TransportKind::Udp
        } else {
            TransportKind::Tcp
        };
        if let Ok(msg) = parse_datagram(part) {
            if let Incoming::Request(r) = &msg {
                if r.req.method == crate::sip::message::Method::Register {
                    let _ = reg.handle(r, flow(transport), now);
                    while reg.poll_event().is_some() {}
                }
            }
            ep.handle_incoming(msg, flow(transport), now);
        }
        // Each part also moves the clock (its length in hundreds of milliseconds).
        now += Duration::from_millis(100 * part.len() as u64 % 40_000);
        ep.handle_timeout(now);
        reg.expire(now);
        while ep.poll_transmit().is_some() {}
        while ep.poll_event().is_some() {}
    }
}

struct AnyPrompt;

impl crate::dialplan::document::PromptLookup for AnyPrompt {
    fn has(&self, _id: &str, _lang: crate::media::prompt::Lang) -> bool {
        true
    }
    fn text(&self, _id: &str, _lang: crate::media::prompt::Lang) -> Option<String> {
        None
    }
}

/// A dial plan file (UTF-8 or not) through the loader and validator.
pub fn dialplan(data: &[u8]) {
    let text = String::from_utf8_lossy(data).into_owned();
    let files = vec![(std::path::PathBuf::from("plan.toml"), text)];
    let _ = crate::dialplan::load::load_files(&files, &AnyPrompt);
}

/// What an agent's desktop sends on its WebSocket.
pub fn desk_message(data: &[u8]) {
    let _ = crate::web::desk::parse_page_message(&String::from_utf8_lossy(data));
}
