//! One leg's media inside a shard: its sockets, the prompts it plays (one 20 ms packet in its
//! slot of the cycle), what arrives from the peer (receive statistics, RFC 4733 and in-band
//! digits, voice-message recording, symmetric-RTP latching, RTCP), and — when bridged — the
//! rewriting of the other leg's packets into this leg's stream (our SSRC, continuing sequence
//! numbers and timestamps, G.711 law transcoding).
//!
//! The wire is plain RTP (a SIP leg) or WebRTC (a browser: `webrtc`, SRTP through str0m);
//! everything above the wire is the same. No allocation on the plain RTP path; nothing here
//! blocks.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use super::sys::SendBatch;
use super::webrtc::{PeerEvent, WebRtcPeer};
use super::{MediaEvent, MediaEventKind, MediaParams, SymmetricRtp};
use crate::media::dtmf::{inband::InbandDetector, rfc4733::Rfc4733Receiver};
use crate::media::g711::Law;
use crate::media::ports::PortLease;
use crate::media::prompt::Prompt;
use crate::media::rtcp::{self, RecvStats};
use crate::media::rtp::{self, HEADER_LEN, PAYLOAD_LEN};
use crate::media::srtcp::{self, SrtcpContext};
use crate::media::srtp::SrtpContext;

const RR_INTERVAL: Duration = Duration::from_secs(5);
/// Largest payload relayed (G.711 at 60 ms ptime is 480 bytes).
pub const RELAY_MAX: usize = 512;

pub(super) struct Playlist {
    pub items: Vec<Arc<Prompt>>,
    pub item: usize,
    pub frame: usize,
    pub token: u64,
    pub looping: bool,
}

/// What a new stream is given.
pub struct NewStream {
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
    pub lease: PortLease,
    pub symmetric: SymmetricRtp,
    pub events: UnboundedSender<MediaEvent>,
    pub leg: u32,
    pub ssrc: u32,
    pub seq: u16,
    pub ts: u32,
    /// A browser's WebRTC peer (the wire is SRTP through it) instead of plain RTP.
    pub webrtc: Option<Box<WebRtcPeer>>,
}

/// A received packet's fields, copied out so the peer stream can be borrowed to relay it.
#[derive(Clone, Copy)]
pub(super) struct Relayed {
    pub dtmf: bool,
    pub marker: bool,
    pub seq: u16,
    pub ts: u32,
    pub ssrc: u32,
    pub law: Law,
}

pub(super) struct Stream {
    rtp: UdpSocket,
    rtcp: UdpSocket,
    pub leg: u32,
    events: UnboundedSender<MediaEvent>,
    pub slot: usize,
    ssrc: u32,
    /// Our outgoing numbering: the next packet's sequence number and timestamp.
    seq: u16,
    ts: u32,
    marker: bool,
    params: Option<MediaParams>,
    sending_to: Option<SocketAddr>,
    symmetric: SymmetricRtp,
    pub playlist: Option<Playlist>,
    silence: [u8; PAYLOAD_LEN],
    rfc4733: Rfc4733Receiver,
    inband: InbandDetector,
    stats: RecvStats,
    epoch: Instant,
    next_rr: Instant,
    rr: Vec<u8>,
    cname: String,
    /// Voice message being recorded (8 kHz PCM), with its size limit in samples.
    recording: Option<(Vec<i16>, usize)>,
    /// Bridged: packets from our peer are relayed into this stream (slab index of the peer).
    pub peer: Option<usize>,
    /// The relayed source and where its numbering started for us:
    /// (ssrc, first seq, first ts, our seq then, our ts then).
    relay_src: Option<(u32, u16, u32, u16, u32)>,
    webrtc: Option<Box<WebRtcPeer>>,
    /// SDES-SRTP on a SIP leg: (ours, to protect; the peer's, to unprotect).
    srtp: Option<Box<(SrtpContext, SrtpContext)>>,
    /// Its RTCP's: (ours, the peer's), from the same keys.
    srtcp: Option<Box<(SrtcpContext, SrtcpContext)>>,
    /// A report from the peer passed SRTCP (logged once).
    srtcp_seen: bool,
    /// The peer's events, reused between datagrams.
    peer_events: Vec<PeerEvent>,
    // Last: the port returns to the pool only after the sockets above are closed.
    _lease: PortLease,
}

impl Stream {
    pub fn new(n: NewStream, slot: usize, now: Instant) -> Stream {
        Stream {
            rtp: n.rtp,
            rtcp: n.rtcp,
            leg: n.leg,
            events: n.events,
            slot,
            ssrc: n.ssrc,
            seq: n.seq,
            ts: n.ts,
            marker: true,
            params: None,
            sending_to: None,
            symmetric: n.symmetric,
            playlist: None,
            silence: [Law::Ulaw.silence(); PAYLOAD_LEN],
            rfc4733: Rfc4733Receiver::new(),
            inband: InbandDetector::new(),
            stats: RecvStats::default(),
            epoch: now,
            next_rr: now + RR_INTERVAL,
            rr: Vec::with_capacity(64),
            cname: format!("centrale-{:08x}", n.ssrc),
            recording: None,
            peer: None,
            relay_src: None,
            webrtc: n.webrtc,
            srtp: None,
            srtcp: None,
            srtcp_seen: false,
            peer_events: Vec::new(),
            _lease: n.lease,
        }
    }

    pub fn fds(&self) -> (RawFd, RawFd) {
        (self.rtp.as_raw_fd(), self.rtcp.as_raw_fd())
    }

    fn event(&self, kind: MediaEventKind) {
        let _ = self.events.send(MediaEvent {
            leg: self.leg,
            kind,
        });
    }

    /// Apply (re)negotiated parameters: codec, destination, hold.
    pub fn apply(&mut self, p: MediaParams) {
        let previous = self.params.replace(p);
        if previous.and_then(|q| q.srtp) != p.srtp {
            // New keys (or none): fresh contexts (their rollover counters start over).
            self.srtp = p.srtp.and_then(|(ours, theirs)| {
                Some(Box::new((
                    SrtpContext::new(&ours).ok()?,
                    SrtpContext::new(&theirs).ok()?,
                )))
            });
            self.srtcp = p.srtp.and_then(|(ours, theirs)| {
                Some(Box::new((
                    SrtcpContext::new(&ours).ok()?,
                    SrtcpContext::new(&theirs).ok()?,
                )))
            });
        }
        if previous.map(|q| q.law) != Some(p.law) {
            self.silence = [p.law.silence(); PAYLOAD_LEN];
        }
        // A new SDP address wins over an earlier latch.
        if previous.map(|q| q.remote_rtp) != Some(p.remote_rtp) {
            self.sending_to = p.remote_rtp;
            self.marker = true;
        }
    }

    pub fn play(&mut self, items: Vec<Arc<Prompt>>, token: u64, looping: bool) {
        if items.iter().all(|p| p.frames() == 0) {
            self.playlist = None;
            self.event(MediaEventKind::PlayFinished { token });
        } else {
            self.playlist = Some(Playlist {
                items,
                item: 0,
                frame: 0,
                token,
                looping,
            });
        }
    }

    pub fn record_start(&mut self, max_seconds: u32) {
        let max = max_seconds as usize * 8000;
        self.recording = Some((Vec::with_capacity(max.min(8000 * 60)), max));
    }

    pub fn record_stop(&mut self) {
        let pcm = self
            .recording
            .take()
            .map(|(pcm, _)| pcm)
            .unwrap_or_default();
        self.event(MediaEventKind::Recorded { pcm });
    }

    /// Entering a bridge: the pacer stops; relayed packets continue our numbering.
    pub fn bridge_to(&mut self, peer: usize) {
        self.peer = Some(peer);
        self.playlist = None;
        self.relay_src = None;
    }

    /// Leaving the bridge: the pacer continues where the relay left off (a new talkspurt).
    pub fn unbridge(&mut self) {
        self.peer = None;
        self.relay_src = None;
        self.marker = true;
    }

    /// Whether packets can go out now (a destination, not on hold; a browser connected).
    fn can_send(&self) -> bool {
        let sending = self.params.is_some_and(|p| p.send);
        match &self.webrtc {
            Some(w) => sending && w.connected && !w.lost,
            None => sending && self.sending_to.is_some(),
        }
    }

    /// This stream's packet for the current 20 ms (a prompt frame or silence), and an RTCP
    /// receiver report when one is due. A browser's peer gets its timers run here too.
    pub fn emit(&mut self, out: &mut SendBatch, now: Instant) {
        if self.webrtc.is_some() {
            self.peer_timeout(out, now);
        } else if now >= self.next_rr {
            self.send_rr(out, now);
        }
        if self.peer.is_some() || out.is_full() {
            return;
        }
        let law = self.params.map(|p| p.law).unwrap_or(Law::Ulaw);
        let mut finished = None;
        let mut frame = [0u8; PAYLOAD_LEN];
        match &mut self.playlist {
            Some(p) => {
                let f = p.items.get(p.item).map(|prompt| prompt.frame(law, p.frame));
                p.frame += 1;
                if p.items
                    .get(p.item)
                    .is_none_or(|prompt| p.frame >= prompt.frames())
                {
                    p.frame = 0;
                    p.item += 1;
                    if p.item >= p.items.len() {
                        if p.looping {
                            p.item = 0;
                        } else {
                            finished = Some(p.token);
                        }
                    }
                }
                match f {
                    Some(f) if f.len() == PAYLOAD_LEN => frame.copy_from_slice(f),
                    _ => frame = self.silence,
                }
            }
            None => frame = self.silence,
        }
        if let Some(token) = finished {
            self.playlist = None;
            self.event(MediaEventKind::PlayFinished { token });
        }
        let ts = self.ts;
        self.ts = self.ts.wrapping_add(PAYLOAD_LEN as u32);
        let Some(params) = self.params.filter(|_| self.can_send()) else {
            // Not sending: the next packet sent starts a new talkspurt.
            self.marker = true;
            return;
        };
        let (seq, marker) = (self.seq, self.marker);
        self.transmit(out, params.payload_type, marker, seq, ts, &frame, now);
        self.seq = self.seq.wrapping_add(1);
        self.marker = false;
    }

    /// Put one RTP packet on the wire: our header in place (plain RTP), or through the
    /// browser's peer (SRTP).
    #[allow(clippy::too_many_arguments)]
    fn transmit(
        &mut self,
        out: &mut SendBatch,
        pt: u8,
        marker: bool,
        seq: u16,
        ts: u32,
        payload: &[u8],
        now: Instant,
    ) {
        let fd = self.rtp.as_raw_fd();
        match self.webrtc.as_mut() {
            None => {
                let Some(dest) = self.sending_to else {
                    return;
                };
                // Room for an SRTP tag at the end.
                let len = payload.len().min(1500 - HEADER_LEN - 16);
                let buf = out.slot();
                rtp::write_header(buf, pt, marker, seq, ts, self.ssrc);
                buf[HEADER_LEN..HEADER_LEN + len].copy_from_slice(&payload[..len]);
                let mut n = HEADER_LEN + len;
                if let Some(s) = self.srtp.as_mut() {
                    match s.0.protect(buf, n) {
                        Ok(m) => n = m,
                        Err(_) => return,
                    }
                }
                out.push(fd, n, dest);
            }
            Some(peer) => {
                let mut events = std::mem::take(&mut self.peer_events);
                let mut send = |to: SocketAddr, bytes: &[u8]| push_datagram(out, fd, to, bytes);
                peer.write(pt, marker, seq, ts, payload, now, &mut send, &mut events);
                self.peer_events = events;
                self.on_peer_events(now);
            }
        }
    }

    fn send_rr(&mut self, out: &mut SendBatch, now: Instant) {
        self.next_rr = now + RR_INTERVAL;
        if self.srtp.is_some() && self.srtcp.is_none() {
            // Nothing in clear on an encrypted leg.
            return;
        }
        let Some(to) = self.params.and_then(|p| p.remote_rtcp) else {
            return;
        };
        if out.is_full() {
            return;
        }
        let now_ms = (now - self.epoch).as_millis() as u64;
        self.stats
            .write_receiver_report(self.ssrc, &self.cname, now_ms, &mut self.rr);
        let mut n = self.rr.len().min(1500 - srtcp::OVERHEAD);
        let slot = out.slot();
        slot[..n].copy_from_slice(&self.rr[..n]);
        if let Some(c) = self.srtcp.as_mut() {
            match c.0.protect(&mut slot[..n + srtcp::OVERHEAD], n) {
                Ok(len) => n = len,
                Err(_) => return,
            }
        }
        out.push(self.rtcp.as_raw_fd(), n, to);
    }

    /// A datagram on the RTCP port (or RTCP muxed on the RTP port).
    pub fn on_rtcp(&mut self, buf: &mut [u8], now: Instant) {
        let buf = match (self.srtp.is_some(), self.srtcp.as_mut()) {
            (false, _) => buf,
            // Forged, replayed or clear reports on an SRTP leg are dropped.
            (true, Some(c)) => match c.1.unprotect(buf) {
                Ok(n) => {
                    if !self.srtcp_seen {
                        self.srtcp_seen = true;
                        tracing::info!(
                            "SRTCP: the peer's first report authenticated and decrypted"
                        );
                    }
                    &buf[..n]
                }
                Err(_) => return,
            },
            (true, None) => return,
        };
        if let Some((_, ntp_middle)) = rtcp::parse_sender_report(buf) {
            let now_ms = (now - self.epoch).as_millis() as u64;
            self.stats.on_sender_report(ntp_middle, now_ms);
        }
    }

    /// A datagram on the RTP port. When bridged, what to relay into the peer (the payload is
    /// `buf[range]`).
    pub fn on_rtp(
        &mut self,
        buf: &mut [u8],
        from: SocketAddr,
        now: Instant,
    ) -> Option<(Relayed, std::ops::Range<usize>)> {
        if rtp::is_rtcp(buf) {
            self.on_rtcp(buf, now);
            return None;
        }
        let len = match self.srtp.as_mut() {
            // Forged, replayed or clear packets on an SRTP leg are dropped.
            Some(s) => s.1.unprotect(buf).ok()?,
            None => buf.len(),
        };
        let buf = &buf[..len];
        let params = self.params?;
        let pkt = rtp::parse(buf)?;
        let (pt, marker, seq, ts, ssrc) = (
            pkt.payload_type,
            pkt.marker,
            pkt.seq,
            pkt.timestamp,
            pkt.ssrc,
        );
        let len = pkt.payload.len();
        let at = pkt.payload.as_ptr() as usize - buf.as_ptr() as usize;
        if pt != params.payload_type && params.dtmf_pt != Some(pt) {
            return None;
        }
        self.latch(from, &params);
        let r = self.on_packet(pt, marker, seq, ts, ssrc, &buf[at..at + len], now)?;
        Some((r, at..at + len))
    }

    /// An RTP packet from the peer, whatever the wire: statistics, digits, recording, in-band
    /// detection; when bridged, what to relay.
    #[allow(clippy::too_many_arguments)]
    fn on_packet(
        &mut self,
        pt: u8,
        marker: bool,
        seq: u16,
        ts: u32,
        ssrc: u32,
        payload: &[u8],
        now: Instant,
    ) -> Option<Relayed> {
        let params = self.params?;
        let dtmf = params.dtmf_pt == Some(pt);
        if pt != params.payload_type && !dtmf {
            return None;
        }
        let len = payload.len();
        if ssrc != self.stats.ssrc {
            // A new source (re-INVITE, another device): its events start afresh.
            self.rfc4733.reset();
            self.inband.reset();
        }
        let arrival = (((now - self.epoch).as_micros() as u64 * 8 / 1000) & 0xffff_ffff) as u32;
        self.stats.on_packet(ssrc, seq, ts, arrival);
        if dtmf {
            if let Some(d) = self.rfc4733.on_packet(ts, marker, payload) {
                self.event(MediaEventKind::Digit {
                    digit: d,
                    source: "rfc4733",
                });
            }
        }
        if self.peer.is_some() {
            if len > RELAY_MAX {
                return None;
            }
            return Some(Relayed {
                dtmf,
                marker,
                seq,
                ts,
                ssrc,
                law: params.law,
            });
        }
        let detect = params.dtmf_pt.is_none();
        if !dtmf && (detect || self.recording.is_some()) {
            let mut pcm = [0i16; RELAY_MAX];
            let len = len.min(pcm.len());
            params.law.decode(&payload[..len], &mut pcm[..len]);
            if let Some((rec, max)) = self.recording.as_mut() {
                let room = max.saturating_sub(rec.len()).min(len);
                rec.extend_from_slice(&pcm[..room]);
            }
            if detect {
                if let Some(d) = self.inband.push(&pcm[..len]) {
                    self.event(MediaEventKind::Digit {
                        digit: d,
                        source: "inband",
                    });
                }
            }
        }
        None
    }

    /// Write a packet from the bridged peer into our stream: our SSRC, continuing sequence
    /// numbers and timestamps (the source's gaps and timing preserved), payload type and law
    /// mapped. True if a packet was sent.
    pub fn relay_in(
        &mut self,
        p: Relayed,
        payload: &[u8],
        out: &mut SendBatch,
        now: Instant,
    ) -> bool {
        let Some(params) = self.params.filter(|_| self.can_send()) else {
            return false;
        };
        if out.is_full() {
            return false;
        }
        let pt = if p.dtmf {
            match params.dtmf_pt {
                Some(pt) => pt,
                // The peer takes no telephone-event: the digit is not relayed.
                None => return false,
            }
        } else {
            params.payload_type
        };
        let mut marker = p.marker;
        let restart = self.relay_src.is_none_or(|(ssrc, ..)| ssrc != p.ssrc);
        if restart {
            // A new source: continue our numbering from where we are.
            self.relay_src = Some((p.ssrc, p.seq, p.ts, self.seq, self.ts));
            marker = true;
        }
        let Some((_, seq0, ts0, out_seq0, out_ts0)) = self.relay_src else {
            return false;
        };
        let seq = out_seq0.wrapping_add(p.seq.wrapping_sub(seq0));
        let ts = out_ts0.wrapping_add(p.ts.wrapping_sub(ts0));
        let len = payload.len().min(RELAY_MAX);
        let mut body = [0u8; RELAY_MAX];
        if !p.dtmf && p.law != params.law {
            // Caller in A-law, agent in µ-law (or the reverse): transcode through PCM.
            let mut pcm = [0i16; RELAY_MAX];
            p.law.decode(&payload[..len], &mut pcm[..len]);
            params.law.encode(&pcm[..len], &mut body[..len]);
        } else {
            body[..len].copy_from_slice(&payload[..len]);
        }
        self.transmit(out, pt, marker, seq, ts, &body[..len], now);
        // Where we are, for the next source or for handing back to the pacer.
        if seq.wrapping_sub(self.seq) < 0x8000 || restart {
            // One G.711 byte is one sample; an event's timestamp is its start.
            let advance = if p.dtmf { PAYLOAD_LEN } else { len };
            self.seq = seq.wrapping_add(1);
            self.ts = ts.wrapping_add(advance as u32);
        }
        true
    }

    /// A browser leg's datagram: through its peer; what it decrypts is handled like any RTP,
    /// and what is to be relayed is queued in `relay` for the shard.
    pub fn on_webrtc_datagram(
        &mut self,
        buf: &[u8],
        from: SocketAddr,
        now: Instant,
        out: &mut SendBatch,
        relay: &mut Vec<(Relayed, Arc<[u8]>)>,
    ) {
        let fd = self.rtp.as_raw_fd();
        let Some(peer) = self.webrtc.as_mut() else {
            return;
        };
        let mut events = std::mem::take(&mut self.peer_events);
        let mut send = |to: SocketAddr, bytes: &[u8]| push_datagram(out, fd, to, bytes);
        peer.receive(buf, from, now, &mut send, &mut events);
        self.peer_events = events;
        let events = std::mem::take(&mut self.peer_events);
        for e in &events {
            if let PeerEvent::Rtp {
                pt,
                marker,
                seq,
                ts,
                ssrc,
                payload,
            } = e
            {
                if let Some(r) = self.on_packet(*pt, *marker, *seq, *ts, *ssrc, payload, now) {
                    relay.push((r, payload.clone()));
                }
            }
        }
        self.peer_events = events;
        self.on_peer_events(now);
    }

    /// The browser peer's timers.
    fn peer_timeout(&mut self, out: &mut SendBatch, now: Instant) {
        let fd = self.rtp.as_raw_fd();
        let Some(peer) = self.webrtc.as_mut() else {
            return;
        };
        if now < peer.deadline {
            return;
        }
        let mut events = std::mem::take(&mut self.peer_events);
        let mut send = |to: SocketAddr, bytes: &[u8]| push_datagram(out, fd, to, bytes);
        peer.on_timeout(now, &mut send, &mut events);
        self.peer_events = events;
        self.on_peer_events(now);
    }

    /// Connection changes of the browser peer, for the call; RTP was handled by the caller.
    fn on_peer_events(&mut self, _now: Instant) {
        let events = std::mem::take(&mut self.peer_events);
        for e in &events {
            match e {
                PeerEvent::Connected {
                    law,
                    payload_type,
                    dtmf_pt,
                } => {
                    self.params = Some(MediaParams {
                        law: *law,
                        payload_type: *payload_type,
                        dtmf_pt: *dtmf_pt,
                        remote_rtp: None,
                        remote_rtcp: None,
                        send: true,
                        srtp: None,
                    });
                    self.silence = [law.silence(); PAYLOAD_LEN];
                    self.marker = true;
                    self.event(MediaEventKind::Connected);
                }
                PeerEvent::Lost => self.event(MediaEventKind::Lost),
                PeerEvent::Rtp { .. } => {}
            }
        }
        self.peer_events = events;
        self.peer_events.clear();
    }

    /// Close a browser's peer politely (the leg is going away).
    pub fn close(&mut self, out: &mut SendBatch, now: Instant) {
        let fd = self.rtp.as_raw_fd();
        if let Some(peer) = self.webrtc.as_mut() {
            let mut send = |to: SocketAddr, bytes: &[u8]| push_datagram(out, fd, to, bytes);
            peer.close(now, &mut send);
        }
    }

    pub fn is_webrtc(&self) -> bool {
        self.webrtc.is_some()
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
            self.marker = true;
        }
    }
}

/// Queue one datagram (a browser peer's output) in the shard's batch.
fn push_datagram(out: &mut SendBatch, fd: RawFd, to: SocketAddr, bytes: &[u8]) {
    if out.is_full() || bytes.len() > 1500 {
        return;
    }
    out.slot()[..bytes.len()].copy_from_slice(bytes);
    out.push(fd, bytes.len(), to);
}
