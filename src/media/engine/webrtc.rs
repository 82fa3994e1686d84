//! One browser's WebRTC audio inside a media shard: str0m's sans-IO `Rtc` as an ICE-lite
//! answerer (DTLS-SRTP, PCMU/PCMA, RFC 4733 telephone-event at 8 kHz), fed the datagrams of
//! its socket and `now`, drained to its next timeout after every change. It hands the shard
//! the RTP it received (already decrypted) and takes the RTP the shard wants sent (our
//! numbering, extended to 64 bits for SRTP's rollover counter).
//!
//! Why str0m (not webrtc-rs): sans-IO, so it runs inside the media shard beside the call's
//! other leg with no runtime of its own (docs/architecture.md); its handshake times and cost
//! per bridged pair are measured by bench/run-webrtc.sh (docs/performance.md).
//!
//! Owns: the peer's protocol state. Never does: sockets, threads, call decisions.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use str0m::change::SdpOffer;
use str0m::format::{Codec, FormatParams};
use str0m::media::{Frequency, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpWrite, SeqNo};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};

use crate::media::g711::Law;

#[derive(Debug, thiserror::Error)]
pub enum WebRtcError {
    #[error("no DTLS certificate could be made")]
    NoCertificate,
    #[error("bad candidate address: {0}")]
    Candidate(String),
    #[error("the offer is not usable SDP: {0}")]
    Offer(String),
    #[error("the offer cannot be answered: {0}")]
    Answer(String),
}

/// What a peer tells the shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerEvent {
    /// DTLS done, SRTP keys in place: audio can flow (with these negotiated parameters).
    Connected {
        law: Law,
        payload_type: u8,
        dtmf_pt: Option<u8>,
    },
    /// The browser closed the connection, or stopped answering consent checks.
    Lost,
    /// An RTP packet from the browser.
    Rtp {
        pt: u8,
        marker: bool,
        seq: u16,
        ts: u32,
        ssrc: u32,
        payload: Arc<[u8]>,
    },
}

/// The process's DTLS certificate (browsers accept the same one on every connection; making
/// one costs a P-256 key and, the first time, AWS-LC's start-up — done once, at start).
fn certificate() -> Option<&'static str0m::config::DtlsCert> {
    static CERT: OnceLock<Option<str0m::config::DtlsCert>> = OnceLock::new();
    CERT.get_or_init(|| {
        let provider = str0m::crypto::from_feature_flags();
        provider.clone().install_process_default();
        provider.dtls_provider.generate_certificate()
    })
    .as_ref()
}

/// Make the certificate now (server start), not on the first call.
pub fn warm_up() -> bool {
    certificate().is_some()
}

fn config(cert: &str0m::config::DtlsCert) -> RtcConfig {
    let mut cfg = RtcConfig::new()
        .set_ice_lite(true)
        .set_rtp_mode(true)
        .set_dtls_cert(cert.clone())
        .clear_codecs()
        .enable_pcmu(true, false)
        .enable_pcma(true, false);
    cfg.codec_config().add_config(
        101.into(),
        None,
        Codec::Tele,
        Frequency::EIGHT_KHZ,
        None,
        FormatParams::default(),
    );
    cfg
}

pub struct WebRtcPeer {
    rtc: Rtc,
    /// Our host candidate (the advertised address and the socket's port): what the browser
    /// sends to, so what every `Receive` names as its destination.
    candidate: SocketAddr,
    mid: Option<Mid>,
    /// Extended sequence numbering of what we write, and the last 16-bit number it follows.
    ext_seq: u64,
    last_seq: Option<u16>,
    pub deadline: Instant,
    pub connected: bool,
    /// DTLS is up but the media section is not known yet (`MediaAdded` may come after).
    dtls_up: bool,
    pub lost: bool,
}

impl std::fmt::Debug for WebRtcPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "WebRtcPeer({}, connected {})",
            self.candidate, self.connected
        )
    }
}

impl WebRtcPeer {
    /// Answer a browser's offer: the peer, and the SDP answer to send back.
    pub fn answer(
        offer: &str,
        candidate: SocketAddr,
        now: Instant,
    ) -> Result<(WebRtcPeer, String), WebRtcError> {
        let cert = certificate().ok_or(WebRtcError::NoCertificate)?;
        let mut rtc = config(cert).build(now);
        let cand =
            Candidate::host(candidate, "udp").map_err(|e| WebRtcError::Candidate(e.to_string()))?;
        rtc.add_local_candidate(cand);
        let offer =
            SdpOffer::from_sdp_string(offer).map_err(|e| WebRtcError::Offer(e.to_string()))?;
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| WebRtcError::Answer(e.to_string()))?;
        let mut peer = WebRtcPeer {
            rtc,
            candidate,
            mid: None,
            ext_seq: 0,
            last_seq: None,
            deadline: now,
            connected: false,
            dtls_up: false,
            lost: false,
        };
        // Nothing to send yet (ICE-lite waits for the browser), but drain as the API requires.
        peer.drain(now, &mut |_, _| {}, &mut Vec::new());
        Ok((peer, answer.to_sdp_string()))
    }

    /// A datagram that arrived on the peer's socket.
    pub fn receive(
        &mut self,
        buf: &[u8],
        from: SocketAddr,
        now: Instant,
        out: &mut dyn FnMut(SocketAddr, &[u8]),
        events: &mut Vec<PeerEvent>,
    ) {
        if self.lost {
            return;
        }
        let Ok(r) = Receive::new(Protocol::Udp, from, self.candidate, buf) else {
            return;
        };
        if self.rtc.handle_input(Input::Receive(now, r)).is_err() {
            // Not for us, or not valid (garbage, a bad SRTP tag): dropped, nothing changes.
            return;
        }
        self.drain(now, out, events);
    }

    /// The peer's own timers (ICE consent, DTLS retransmissions, RTCP reports).
    pub fn on_timeout(
        &mut self,
        now: Instant,
        out: &mut dyn FnMut(SocketAddr, &[u8]),
        events: &mut Vec<PeerEvent>,
    ) {
        if self.lost || now < self.deadline {
            return;
        }
        if self.rtc.handle_input(Input::Timeout(now)).is_ok() {
            self.drain(now, out, events);
        }
    }

    /// Send one RTP packet to the browser (encrypted here; out through `out`).
    #[allow(clippy::too_many_arguments)]
    pub fn write(
        &mut self,
        pt: u8,
        marker: bool,
        seq: u16,
        ts: u32,
        payload: &[u8],
        now: Instant,
        out: &mut dyn FnMut(SocketAddr, &[u8]),
        events: &mut Vec<PeerEvent>,
    ) {
        if !self.connected || self.lost {
            return;
        }
        let Some(mid) = self.mid else {
            return;
        };
        // Extend our 16-bit numbering (the relay keeps the source's gaps) to 64 bits. The
        // first packet's rollover counter must be 0 (the browser assumes it): the stream's
        // numbering starts below 2^15, leaving room for a reordered packet before it.
        self.ext_seq = match self.last_seq {
            None => u64::from(seq),
            Some(last) => {
                let delta = i64::from(seq.wrapping_sub(last) as i16);
                (self.ext_seq as i64 + delta).max(1) as u64
            }
        };
        self.last_seq = Some(seq);
        let mut api = self.rtc.direct_api();
        let Some(tx) = api.stream_tx_by_mid(mid, None) else {
            return;
        };
        tx.write_rtp(
            RtpWrite::new(
                pt.into(),
                SeqNo::from(self.ext_seq),
                ts,
                now,
                Arc::<[u8]>::from(payload),
            )
            .marker(marker),
        );
        self.drain(now, out, events);
    }

    /// Everything str0m wants done after a change, until its next deadline. A deadline that
    /// is already due (a packet just written sits in its pacer) is honoured at once.
    fn drain(
        &mut self,
        now: Instant,
        out: &mut dyn FnMut(SocketAddr, &[u8]),
        events: &mut Vec<PeerEvent>,
    ) {
        for _ in 0..256 {
            let o = match self.rtc.poll_output() {
                Ok(o) => o,
                Err(_) => {
                    self.lost = true;
                    events.push(PeerEvent::Lost);
                    return;
                }
            };
            match o {
                Output::Timeout(at) if at <= now => {
                    if self.rtc.handle_input(Input::Timeout(now)).is_err() {
                        return;
                    }
                }
                Output::Timeout(at) => {
                    self.deadline = at;
                    return;
                }
                Output::Transmit(t) => out(t.destination, &t.contents),
                Output::Event(e) => self.on_event(e, events),
            }
        }
    }

    fn on_event(&mut self, e: Event, events: &mut Vec<PeerEvent>) {
        match e {
            Event::MediaAdded(m) => {
                self.mid = Some(m.mid);
                self.maybe_connected(events);
            }
            Event::Connected => {
                self.dtls_up = true;
                self.maybe_connected(events);
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) | Event::Closed
                if !self.lost =>
            {
                self.lost = true;
                events.push(PeerEvent::Lost);
            }
            Event::RtpPacket(p) => events.push(PeerEvent::Rtp {
                pt: *p.header.payload_type,
                marker: p.header.marker,
                seq: p.header.sequence_number,
                ts: p.header.timestamp,
                ssrc: *p.header.ssrc,
                payload: p.payload,
            }),
            _ => {}
        }
    }

    /// Connected once DTLS is up and the audio section is known.
    fn maybe_connected(&mut self, events: &mut Vec<PeerEvent>) {
        if self.connected || !self.dtls_up || self.mid.is_none() {
            return;
        }
        let (law, pt, dtmf) = self.negotiated();
        self.connected = true;
        events.push(PeerEvent::Connected {
            law,
            payload_type: pt,
            dtmf_pt: dtmf,
        });
    }

    /// The G.711 law and payload types the browser agreed to: PCMU if it took it, else PCMA;
    /// telephone-event at 8 kHz under the browser's own number.
    fn negotiated(&self) -> (Law, u8, Option<u8>) {
        let remote: Vec<u8> = self
            .mid
            .and_then(|m| self.rtc.media(m))
            .map(|m| m.remote_pts().iter().map(|p| **p).collect())
            .unwrap_or_default();
        let (law, pt) = if remote.is_empty() || remote.contains(&0) {
            (Law::Ulaw, 0)
        } else {
            (Law::Alaw, 8)
        };
        let dtmf = self
            .rtc
            .codec_config()
            .find(|p| {
                p.spec().codec == Codec::Tele
                    && p.spec().clock_rate == Frequency::EIGHT_KHZ
                    && (remote.is_empty() || remote.contains(&*p.pt()))
            })
            .map(|p| *p.pt());
        (law, pt, dtmf)
    }

    /// Close politely (RTCP BYE, DTLS close_notify) when the leg ends.
    pub fn close(&mut self, now: Instant, out: &mut dyn FnMut(SocketAddr, &[u8])) {
        if self.lost {
            return;
        }
        self.lost = true;
        if self.rtc.close().is_err() {
            self.rtc.disconnect();
            return;
        }
        for _ in 0..64 {
            match self.rtc.poll_output() {
                Ok(Output::Transmit(t)) => out(t.destination, &t.contents),
                Ok(Output::Event(_)) => {}
                Ok(Output::Timeout(at)) if at <= now && self.rtc.is_alive() => {
                    if self.rtc.handle_input(Input::Timeout(now)).is_err() {
                        break;
                    }
                }
                _ => break,
            }
        }
        self.rtc.disconnect();
    }
}
