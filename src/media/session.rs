//! One call's media: its RTP/RTCP sockets, its paced outgoing stream, and what arrives from the
//! caller — digits (RFC 4733 events, or in-band tones for callers without telephone-event),
//! receive statistics, periodic RTCP receiver reports, and symmetric-RTP latching.
//!
//! Knows no SIP: the call hands it a negotiated codec and addresses.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::net::UdpSocket;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use super::dtmf::{inband::InbandDetector, rfc4733::Rfc4733Receiver};
use super::g711::Law;
use super::pacer::{Pacer, PlayerEvent, StreamConfig, StreamHandle};
use super::ports::{PortLease, PortPool};
use super::prompt::Prompt;
use super::rtcp::{self, RecvStats};
use super::rtp;

const RR_INTERVAL: Duration = Duration::from_secs(5);

/// When to send RTP to where the caller's packets come from instead of the SDP address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SymmetricRtp {
    /// When packets come from another IP than the SDP says (a NAT rewrote it).
    #[default]
    Auto,
    /// Always follow the source of the caller's packets.
    Always,
    /// Trust the SDP.
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigitSource {
    Rfc4733,
    Inband,
    Info,
}

impl DigitSource {
    pub fn as_str(self) -> &'static str {
        match self {
            DigitSource::Rfc4733 => "rfc4733",
            DigitSource::Inband => "inband",
            DigitSource::Info => "info",
        }
    }
}

// `Relay` carries the packet inline on purpose: boxing it would allocate once per relayed
// packet (50 a second per direction per bridged call), copying 540 bytes on the stack does not.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaInput {
    Digit(char, DigitSource),
    PlayFinished(u64),
    /// In a bridge: a packet from this leg's peer, to relay to the other leg.
    Relay(RelayPacket),
    /// A packet was handled; nothing for the call.
    Nothing,
}

/// Largest RTP packet we relay (G.711 at 60 ms ptime is 492 bytes).
pub const RELAY_MAX: usize = 512;

/// One RTP packet on its way through a bridge (copied: the two legs' sessions live apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayPacket {
    pub payload: [u8; RELAY_MAX],
    pub len: usize,
    pub dtmf: bool,
    pub marker: bool,
    pub seq: u16,
    pub ts: u32,
    pub ssrc: u32,
    /// The law the payload is in (for transcoding when the legs differ).
    pub law: Law,
}

/// Rewriting state of the stream a bridge relays into (our SSRC, continuing the pacer's
/// sequence and timestamps so the far end sees one stream, not a new one).
#[derive(Debug, Clone, Copy)]
struct RelayOut {
    next_seq: u16,
    next_ts: u32,
    /// The source being relayed and where its numbering started for us.
    src: Option<(u32, u16, u32, u16, u32)>,
    last_seq: u16,
    last_ts: u32,
}

/// Negotiated parameters the media layer needs (no SIP types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaParams {
    pub law: Law,
    pub payload_type: u8,
    pub dtmf_pt: Option<u8>,
    pub remote_rtp: Option<SocketAddr>,
    pub remote_rtcp: Option<SocketAddr>,
    pub send: bool,
}

pub struct MediaSession {
    // Registered for read readiness only: the pacer sends on a clone of the RTP socket, and
    // tokio's UdpSocket would also ask epoll for write readiness, waking the reactor after
    // every packet the pacer sends (measured: a quarter of the server's CPU at 1 000 calls).
    rtp: AsyncFd<UdpSocket>,
    rtcp: AsyncFd<UdpSocket>,
    stream: StreamHandle,
    events: UnboundedReceiver<PlayerEvent>,
    params: Option<MediaParams>,
    sending_to: Option<SocketAddr>,
    symmetric: SymmetricRtp,
    rfc4733: Rfc4733Receiver,
    inband: InbandDetector,
    stats: RecvStats,
    ssrc: u32,
    epoch: Instant,
    next_rr: Instant,
    buf: Box<[u8; 2048]>,
    rtcp_buf: Box<[u8; 1500]>,
    rr: Vec<u8>,
    cname: String,
    local_port: u16,
    /// Bridged: inbound packets go to the other leg, outbound come from it.
    bridged: bool,
    relay: Option<RelayOut>,
    relayed: u64,
    /// Voice message being recorded (8 kHz PCM), with its size limit in samples.
    recording: Option<(Vec<i16>, usize)>,
    // Last: the port returns to the pool only after the sockets above are closed.
    _lease: PortLease,
}

impl MediaSession {
    pub fn open(
        pool: &Arc<PortPool>,
        pacer: &Pacer,
        symmetric: SymmetricRtp,
    ) -> std::io::Result<MediaSession> {
        let pair = pool
            .lease()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::AddrInUse, e.to_string()))?;
        pair.rtp.set_nonblocking(true)?;
        pair.rtcp.set_nonblocking(true)?;
        let for_pacer = pair.rtp.try_clone()?;
        let ssrc = rand::random();
        let (ev_tx, events) = unbounded_channel();
        let stream = pacer.add(StreamConfig {
            socket: for_pacer,
            remote: None,
            law: Law::Ulaw,
            payload_type: 0,
            ssrc,
            events: ev_tx,
        });
        let now = Instant::now();
        Ok(MediaSession {
            rtp: readable_only(pair.rtp)?,
            rtcp: readable_only(pair.rtcp)?,
            stream,
            events,
            params: None,
            sending_to: None,
            symmetric,
            rfc4733: Rfc4733Receiver::new(),
            inband: InbandDetector::new(),
            stats: RecvStats::default(),
            ssrc,
            epoch: now,
            next_rr: now + RR_INTERVAL,
            buf: Box::new([0u8; 2048]),
            rtcp_buf: Box::new([0u8; 1500]),
            rr: Vec::with_capacity(64),
            cname: format!("centrale-{ssrc:08x}"),
            local_port: pair.lease.port,
            bridged: false,
            relay: None,
            relayed: 0,
            recording: None,
            _lease: pair.lease,
        })
    }

    pub fn local_port(&self) -> u16 {
        self.local_port
    }

    pub fn stats(&self) -> &RecvStats {
        &self.stats
    }

    /// Where our RTP goes now (after any latching).
    pub fn sending_to(&self) -> Option<SocketAddr> {
        self.sending_to
    }

    /// Apply (re)negotiated parameters: codec, destination, hold.
    pub fn apply(&mut self, p: MediaParams) {
        let previous = self.params.replace(p);
        if previous.map(|q| (q.law, q.payload_type)) != Some((p.law, p.payload_type)) {
            self.stream.set_codec(p.law, p.payload_type);
        }
        // A new SDP address wins over an earlier latch.
        if previous.map(|q| q.remote_rtp) != Some(p.remote_rtp) {
            self.sending_to = p.remote_rtp;
            self.stream.set_remote(p.remote_rtp);
        }
        self.stream.set_sending(p.send);
    }

    /// Play prompts in order; `token` comes back as `PlayFinished` unless interrupted.
    pub fn play(&self, items: Vec<Arc<Prompt>>, token: u64, looping: bool) {
        self.stream.play(items, token, looping);
    }

    pub fn stop(&self) {
        self.stream.stop();
    }

    /// Enter a bridge: the pacer stops, packets from the peer come out as `Relay`, and
    /// `send_relayed` writes the other leg's packets into our stream.
    pub fn bridge_start(&mut self) {
        if !self.bridged {
            self.bridged = true;
            self.stream.release();
        }
    }

    /// Leave the bridge: the pacer takes the stream back where the relay left it.
    pub fn bridge_stop(&mut self) {
        if !self.bridged {
            return;
        }
        self.bridged = false;
        match self.relay.take() {
            Some(r) => self.stream.resume(r.next_seq, r.next_ts),
            // Released never arrived: resume from a fresh point (the marker warns the peer).
            None => self.stream.resume(rand::random(), rand::random()),
        }
    }

    /// Start recording what the caller says (up to `max_seconds`).
    pub fn record_start(&mut self, max_seconds: u32) {
        let max = max_seconds as usize * 8000;
        self.recording = Some((Vec::with_capacity(max.min(8000 * 60)), max));
    }

    /// Stop recording and take the audio (8 kHz mono PCM).
    pub fn record_stop(&mut self) -> Vec<i16> {
        self.recording
            .take()
            .map(|(pcm, _)| pcm)
            .unwrap_or_default()
    }

    /// Packets relayed into this stream so far.
    pub fn relayed(&self) -> u64 {
        self.relayed
    }

    /// Write a packet from the other leg into our stream: our SSRC, continuing sequence and
    /// timestamps (the source's gaps and timing preserved), payload type and law mapped.
    pub fn send_relayed(&mut self, p: &RelayPacket) {
        let (Some(params), Some(dest), Some(relay)) =
            (self.params, self.sending_to, self.relay.as_mut())
        else {
            return;
        };
        if !params.send {
            return;
        }
        let pt = if p.dtmf {
            match params.dtmf_pt {
                Some(pt) => pt,
                // The peer takes no telephone-event: the digit is not relayed.
                None => return,
            }
        } else {
            params.payload_type
        };
        let mut marker = p.marker;
        let restart = match relay.src {
            Some((ssrc, _, _, _, _)) => ssrc != p.ssrc,
            None => true,
        };
        if restart {
            // A new source: continue our numbering from where we are.
            relay.src = Some((p.ssrc, p.seq, p.ts, relay.next_seq, relay.next_ts));
            marker = true;
        }
        let Some((_, seq0, ts0, out_seq0, out_ts0)) = relay.src else {
            return;
        };
        let seq = out_seq0.wrapping_add(p.seq.wrapping_sub(seq0));
        let ts = out_ts0.wrapping_add(p.ts.wrapping_sub(ts0));
        let mut buf = [0u8; rtp::HEADER_LEN + RELAY_MAX];
        rtp::write_header(&mut buf, pt, marker, seq, ts, self.ssrc);
        let len = p.len.min(RELAY_MAX);
        let body = &mut buf[rtp::HEADER_LEN..rtp::HEADER_LEN + len];
        if !p.dtmf && p.law != params.law {
            // Caller in A-law, agent in µ-law (or the reverse): transcode through PCM.
            let mut pcm = [0i16; RELAY_MAX];
            p.law.decode(&p.payload[..len], &mut pcm[..len]);
            params.law.encode(&pcm[..len], body);
        } else {
            body.copy_from_slice(&p.payload[..len]);
        }
        if self
            .rtp
            .get_ref()
            .send_to(&buf[..rtp::HEADER_LEN + len], dest)
            .is_ok()
        {
            self.relayed += 1;
        }
        // Track where we are for the next source or for handing back to the pacer.
        if seq.wrapping_sub(relay.last_seq) < 0x8000 || restart {
            relay.last_seq = seq;
            relay.last_ts = ts;
            relay.next_seq = seq.wrapping_add(1);
            relay.next_ts = ts.wrapping_add(rtp::PAYLOAD_LEN as u32);
        }
    }

    /// When the next RTCP report is due.
    pub fn deadline(&self) -> Instant {
        self.next_rr
    }

    /// Send an RTCP receiver report if one is due.
    pub fn on_timer(&mut self, now: Instant) {
        if now < self.next_rr {
            return;
        }
        self.next_rr = now + RR_INTERVAL;
        let Some(to) = self.params.and_then(|p| p.remote_rtcp) else {
            return;
        };
        let now_ms = (now - self.epoch).as_millis() as u64;
        self.stats
            .write_receiver_report(self.ssrc, &self.cname, now_ms, &mut self.rr);
        let _ = self.rtcp.get_ref().send_to(&self.rr, to);
    }

    /// Wait for the next thing that matters to the call. Cancel-safe.
    pub async fn next(&mut self) -> MediaInput {
        tokio::select! {
            ev = self.events.recv() => match ev {
                Some(PlayerEvent::Finished { token }) => MediaInput::PlayFinished(token),
                Some(PlayerEvent::Released { seq, ts }) => {
                    if self.bridged {
                        self.relay = Some(RelayOut {
                            next_seq: seq,
                            next_ts: ts,
                            src: None,
                            last_seq: seq.wrapping_sub(1),
                            last_ts: ts,
                        });
                    }
                    MediaInput::Nothing
                }
                // The pacer is gone (shutdown): park this branch.
                None => std::future::pending().await,
            },
            r = recv_from(&self.rtp, &mut self.buf[..]) => match r {
                Ok((n, from)) => self.on_rtp_port(n, from),
                Err(_) => MediaInput::Nothing,
            },
            r = recv_from(&self.rtcp, &mut self.rtcp_buf[..]) => match r {
                Ok((n, _)) => {
                    if let Some((_, ntp_middle)) = rtcp::parse_sender_report(&self.rtcp_buf[..n]) {
                        let now_ms = self.epoch.elapsed().as_millis() as u64;
                        self.stats.on_sender_report(ntp_middle, now_ms);
                    }
                    MediaInput::Nothing
                }
                Err(_) => MediaInput::Nothing,
            },
        }
    }

    fn on_rtcp(&mut self, n: usize) {
        if let Some((_, ntp_middle)) = rtcp::parse_sender_report(&self.buf[..n]) {
            let now_ms = self.epoch.elapsed().as_millis() as u64;
            self.stats.on_sender_report(ntp_middle, now_ms);
        }
    }

    fn on_rtp_port(&mut self, n: usize, from: SocketAddr) -> MediaInput {
        if rtp::is_rtcp(&self.buf[..n]) {
            // rtcp-mux peers send RTCP on the RTP port.
            self.on_rtcp(n);
            return MediaInput::Nothing;
        }
        let Some(params) = self.params else {
            return MediaInput::Nothing;
        };
        let Some(pkt) = rtp::parse(&self.buf[..n]) else {
            return MediaInput::Nothing;
        };
        let (pt, marker, seq, ts, ssrc) = (
            pkt.payload_type,
            pkt.marker,
            pkt.seq,
            pkt.timestamp,
            pkt.ssrc,
        );
        let payload_len = pkt.payload.len();
        let payload_at = pkt.payload.as_ptr() as usize - self.buf.as_ptr() as usize;
        let is_dtmf = params.dtmf_pt == Some(pt);
        if pt != params.payload_type && !is_dtmf {
            return MediaInput::Nothing;
        }
        self.latch(from, &params);
        if ssrc != self.stats.ssrc {
            // A new source (re-INVITE, another device): its events start afresh.
            self.rfc4733.reset();
            self.inband.reset();
        }
        let arrival = ((self.epoch.elapsed().as_micros() as u64 * 8 / 1000) & 0xffff_ffff) as u32;
        self.stats.on_packet(ssrc, seq, ts, arrival);
        let payload = &self.buf[payload_at..payload_at + payload_len];
        if self.bridged {
            if payload_len > RELAY_MAX {
                return MediaInput::Nothing;
            }
            let mut p = RelayPacket {
                payload: [0u8; RELAY_MAX],
                len: payload_len,
                dtmf: is_dtmf,
                marker,
                seq,
                ts,
                ssrc,
                law: params.law,
            };
            p.payload[..payload_len].copy_from_slice(payload);
            return MediaInput::Relay(p);
        }
        if is_dtmf {
            return match self.rfc4733.on_packet(ts, marker, payload) {
                Some(d) => MediaInput::Digit(d, DigitSource::Rfc4733),
                None => MediaInput::Nothing,
            };
        }
        let detect = params.dtmf_pt.is_none();
        if detect || self.recording.is_some() {
            let mut pcm = [0i16; RELAY_MAX];
            let len = payload_len.min(pcm.len());
            params.law.decode(&payload[..len], &mut pcm[..len]);
            if let Some((rec, max)) = self.recording.as_mut() {
                let room = max.saturating_sub(rec.len()).min(len);
                rec.extend_from_slice(&pcm[..room]);
            }
            if detect {
                if let Some(d) = self.inband.push(&pcm[..len]) {
                    return MediaInput::Digit(d, DigitSource::Inband);
                }
            }
        }
        MediaInput::Nothing
    }

    fn latch(&mut self, from: SocketAddr, params: &MediaParams) {
        if self.sending_to == Some(from) {
            return;
        }
        let follow = match self.symmetric {
            SymmetricRtp::Never => false,
            SymmetricRtp::Always => true,
            SymmetricRtp::Auto => match params.remote_rtp {
                None => true,
                Some(sdp) => sdp.ip() != from.ip() || sdp.ip().is_unspecified(),
            },
        };
        if follow && params.send {
            tracing::debug!(%from, "symmetric RTP: following the caller's source");
            self.sending_to = Some(from);
            self.stream.set_remote(Some(from));
        }
    }
}

/// Register a socket with the runtime for read readiness only.
fn readable_only(s: UdpSocket) -> std::io::Result<AsyncFd<UdpSocket>> {
    // SAFETY: the AsyncFd takes ownership of this open socket; its descriptor stays open and
    // the same until the AsyncFd drops it.
    unsafe { AsyncFd::register_with_interest(s, Interest::READABLE) }.map_err(std::io::Error::from)
}

/// Receive one datagram from a read-only registered socket. Cancel-safe: the only await is
/// the readiness wait.
async fn recv_from(
    fd: &AsyncFd<UdpSocket>,
    buf: &mut [u8],
) -> std::io::Result<(usize, SocketAddr)> {
    loop {
        let mut guard = fd.readable().await?;
        match guard.try_io(|s| s.get_ref().recv_from(buf)) {
            Ok(r) => return r,
            Err(_would_block) => continue,
        }
    }
}
