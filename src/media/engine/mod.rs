//! The media engine: a few shard threads (one per core) that own every leg's RTP/RTCP sockets,
//! pace prompts, detect digits, record, and relay bridged audio between the two legs of a call
//! in batches (`shard`, `stream`, `sys`). Calls hold a `MediaLeg` per leg — a handle that sends
//! control messages to the leg's shard — and hear back on one channel per call
//! (`MediaEvent`: digits, playlists finished, recordings).
//!
//! A call's legs all live on the same shard (`pick_shard`), so a bridge never crosses threads.
//! Knows no SIP: a call hands it negotiated parameters (`MediaParams`).

mod placement;
pub use placement::Placement;
mod shard;
mod stream;
pub mod sys;
pub mod webrtc;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};

use tokio::sync::mpsc::UnboundedSender;
use tracing::info;

use super::g711::Law;
use super::ports::PortPool;
use super::prompt::Prompt;
use shard::{Ctl, Shard};
use stream::NewStream;
pub use stream::RELAY_MAX;

/// When to send RTP to where the peer's packets come from instead of the SDP address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SymmetricRtp {
    /// When packets come from another IP than the SDP says (a NAT rewrote it).
    #[default]
    Auto,
    /// Always follow the source of the peer's packets.
    Always,
    /// Trust the SDP.
    Never,
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
    /// SDES-SRTP on a SIP leg: (our key, to protect what we send; the peer's, to check and
    /// decrypt what it sends).
    pub srtp: Option<(crate::media::srtp::SrtpKey, crate::media::srtp::SrtpKey)>,
}

/// What a leg's media tells its call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaEvent {
    /// The call's own number for the leg (given at `open`).
    pub leg: u32,
    pub kind: MediaEventKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEventKind {
    Digit {
        digit: char,
        source: &'static str,
    },
    PlayFinished {
        token: u64,
    },
    /// What was recorded between `record_start` and `record_stop` (8 kHz PCM).
    Recorded {
        pcm: Vec<i16>,
    },
    /// A browser leg's audio is up (DTLS done, SRTP keys in place).
    Connected,
    /// A browser leg's connection is gone (closed, or consent checks unanswered).
    Lost,
}

/// One shard's counters (its own cache lines; published once per 1 ms slot).
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct ShardStats {
    pub streams: AtomicUsize,
    pub packets_sent: AtomicU64,
    pub packets_relayed: AtomicU64,
    pub packets_received: AtomicU64,
    pub send_errors: AtomicU64,
    /// recvmmsg + sendmmsg calls.
    pub syscalls: AtomicU64,
    /// Slots that started more than 2 ms late.
    pub late_slots: AtomicU64,
    /// Worst lateness since last read, µs (reset by `take_max_lag_us`).
    pub max_lag_us: AtomicU64,
    /// Time spent receiving, relaying, producing and sending, ns.
    pub busy_ns: AtomicU64,
    /// In the real-time scheduling class now (`placement::RealtimeGuard`).
    pub realtime: AtomicBool,
}

/// The sum over shards.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EngineStats {
    pub shards: usize,
    pub streams: usize,
    pub packets_sent: u64,
    pub packets_relayed: u64,
    pub packets_received: u64,
    pub send_errors: u64,
    pub syscalls: u64,
    pub late_slots: u64,
    pub busy_ns: u64,
    /// Shards in the real-time scheduling class now.
    pub realtime_shards: usize,
}

pub struct MediaEngine {
    shards: Vec<mpsc::Sender<Ctl>>,
    stats: Vec<Arc<ShardStats>>,
    next_id: AtomicU64,
    next_shard: AtomicUsize,
    ports: Arc<PortPool>,
    symmetric: SymmetricRtp,
    /// The address browsers are told to send to (the advertised one, or the bound one).
    public_ip: std::net::IpAddr,
}

impl MediaEngine {
    /// Start `threads` shards (at least one), placed as `placement` says: each pinned to a CPU
    /// of its own when the process may use enough CPUs, real-time when allowed.
    pub fn start(
        threads: usize,
        placement: Placement,
        ports: Arc<PortPool>,
        symmetric: SymmetricRtp,
        public_ip: std::net::IpAddr,
    ) -> std::io::Result<Arc<MediaEngine>> {
        let mut shards = Vec::new();
        let mut stats = Vec::new();
        let threads = threads.max(1);
        let cpus = if placement.pin {
            placement::plan(&placement::allowed_cpus(), threads)
        } else {
            vec![None; threads]
        };
        match (placement.pin, cpus.iter().flatten().count()) {
            (false, _) => info!(threads, "media shards not pinned (pin_threads = false)"),
            (true, 0) => info!(
                threads,
                "media shards not pinned: fewer CPUs allowed than shards"
            ),
            (true, _) => {
                info!(cpus = ?cpus.iter().flatten().collect::<Vec<_>>(), "media shards pinned, one per CPU")
            }
        }
        for (i, cpu) in cpus.into_iter().enumerate() {
            let (tx, rx) = mpsc::channel();
            let st = Arc::new(ShardStats::default());
            let shard = Shard::new(st.clone())?;
            std::thread::Builder::new()
                .name(format!("media-{i}"))
                .spawn(move || shard.run(rx, cpu, placement.realtime))?;
            shards.push(tx);
            stats.push(st);
        }
        Ok(Arc::new(MediaEngine {
            shards,
            stats,
            next_id: AtomicU64::new(1),
            next_shard: AtomicUsize::new(0),
            ports,
            symmetric,
            public_ip,
        }))
    }

    /// The shard for a new call (round robin); all its legs go there.
    pub fn pick_shard(&self) -> usize {
        self.next_shard.fetch_add(1, Ordering::Relaxed) % self.shards.len()
    }

    /// Open a leg's media on `shard`: a port pair, a stream that sends silence until told
    /// where and what; its events come on `events` tagged with `leg`.
    pub fn open(
        &self,
        shard: usize,
        events: UnboundedSender<MediaEvent>,
        leg: u32,
    ) -> std::io::Result<MediaLeg> {
        self.open_with(shard, events, leg, None).map(|(m, _)| m)
    }

    /// Open a browser leg's media: answer its WebRTC offer (ICE-lite on our port); the SDP
    /// answer goes back to the browser. `Connected` comes once DTLS is done.
    pub fn open_webrtc(
        &self,
        shard: usize,
        events: UnboundedSender<MediaEvent>,
        leg: u32,
        offer: &str,
    ) -> std::io::Result<(MediaLeg, String)> {
        let (m, answer) = self.open_with(shard, events, leg, Some(offer))?;
        Ok((m, answer.unwrap_or_default()))
    }

    fn open_with(
        &self,
        shard: usize,
        events: UnboundedSender<MediaEvent>,
        leg: u32,
        offer: Option<&str>,
    ) -> std::io::Result<(MediaLeg, Option<String>)> {
        let pair = self
            .ports
            .lease()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::AddrInUse, e.to_string()))?;
        pair.rtp.set_nonblocking(true)?;
        pair.rtcp.set_nonblocking(true)?;
        let port = pair.lease.port;
        let (webrtc, answer) = match offer {
            None => (None, None),
            Some(offer) => {
                let candidate = SocketAddr::new(self.public_ip, port);
                let (peer, answer) =
                    webrtc::WebRtcPeer::answer(offer, candidate, std::time::Instant::now())
                        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
                (Some(Box::new(peer)), Some(answer))
            }
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let ctl = self.shards[shard % self.shards.len()].clone();
        let n = NewStream {
            rtp: pair.rtp,
            rtcp: pair.rtcp,
            lease: pair.lease,
            symmetric: self.symmetric,
            events,
            leg,
            ssrc: rand::random(),
            // Below 2^15 so a browser's SRTP rollover counter starts at zero.
            seq: rand::random::<u16>() & 0x7fff,
            ts: rand::random(),
            webrtc,
        };
        let _ = ctl.send(Ctl::Add(id, Box::new(n)));
        Ok((
            MediaLeg {
                id,
                shard: shard % self.shards.len(),
                ctl,
                port,
            },
            answer,
        ))
    }

    pub fn stats(&self) -> EngineStats {
        let mut s = EngineStats {
            shards: self.stats.len(),
            ..Default::default()
        };
        for st in &self.stats {
            s.streams += st.streams.load(Ordering::Relaxed);
            s.packets_sent += st.packets_sent.load(Ordering::Relaxed);
            s.packets_relayed += st.packets_relayed.load(Ordering::Relaxed);
            s.packets_received += st.packets_received.load(Ordering::Relaxed);
            s.send_errors += st.send_errors.load(Ordering::Relaxed);
            s.syscalls += st.syscalls.load(Ordering::Relaxed);
            s.late_slots += st.late_slots.load(Ordering::Relaxed);
            s.busy_ns += st.busy_ns.load(Ordering::Relaxed);
            s.realtime_shards += st.realtime.load(Ordering::Relaxed) as usize;
        }
        s
    }

    /// The worst slot lateness of any shard since the last call, µs.
    pub fn take_max_lag_us(&self) -> u64 {
        self.stats
            .iter()
            .map(|s| s.max_lag_us.swap(0, Ordering::Relaxed))
            .max()
            .unwrap_or(0)
    }
}

/// A call's grip on one leg's media; dropping it closes the sockets.
pub struct MediaLeg {
    id: u64,
    shard: usize,
    ctl: mpsc::Sender<Ctl>,
    port: u16,
}

impl MediaLeg {
    pub fn local_port(&self) -> u16 {
        self.port
    }

    pub fn shard(&self) -> usize {
        self.shard
    }

    /// Apply (re)negotiated parameters: codec, destination, hold.
    pub fn apply(&self, p: MediaParams) {
        let _ = self.ctl.send(Ctl::Params(self.id, p));
    }

    /// Replace whatever plays with this playlist; `token` comes back as `PlayFinished`.
    pub fn play(&self, items: Vec<Arc<Prompt>>, token: u64, looping: bool) {
        let _ = self.ctl.send(Ctl::Play {
            id: self.id,
            items,
            token,
            looping,
        });
    }

    /// Stop playing (barge-in); the leg hears silence.
    pub fn stop(&self) {
        let _ = self.ctl.send(Ctl::Stop(self.id));
    }

    /// Relay audio and DTMF between this leg and `other` (same shard) until `unbridge`.
    pub fn bridge(&self, other: &MediaLeg) -> bool {
        if other.shard != self.shard {
            tracing::warn!("cannot bridge legs on two media shards");
            return false;
        }
        let _ = self.ctl.send(Ctl::Bridge(self.id, other.id));
        true
    }

    /// Leave the bridge (both sides); each goes back to silence.
    pub fn unbridge(&self) {
        let _ = self.ctl.send(Ctl::Unbridge(self.id));
    }

    pub fn record_start(&self, max_seconds: u32) {
        let _ = self.ctl.send(Ctl::RecordStart(self.id, max_seconds));
    }

    /// Stop recording; the audio comes back as `Recorded`.
    pub fn record_stop(&self) {
        let _ = self.ctl.send(Ctl::RecordStop(self.id));
    }
}

impl Drop for MediaLeg {
    fn drop(&mut self) {
        let _ = self.ctl.send(Ctl::Remove(self.id));
    }
}

#[cfg(test)]
mod tests;
