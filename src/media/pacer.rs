//! One pacer for many RTP streams. Each shard is an OS thread that wakes on absolute 1 ms
//! slots; every stream owns one slot of the 20 ms cycle, so each stream sends exactly one
//! packet per 20 ms whatever the load, and the load is spread across the cycle instead of
//! bursting on one tick. Calls control their stream through a channel (play, stop, hold,
//! re-target) and hear back when a playlist ends.
//!
//! Why threads and not tokio timers: a tokio sleep per packet costs a timer entry and a task
//! wake per packet (250 000 a second at 5 000 calls) and tokio's timer wheel has 1 ms
//! granularity on top of scheduling delay. A shard sleeps once per slot for all its streams.
//!
//! No allocation per packet: one stack buffer per shard, frames borrowed from shared prompts.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;
use tracing::{debug, warn};

use super::g711::Law;
use super::prompt::Prompt;
use super::rtp::{self, HEADER_LEN, PACKET_LEN, PAYLOAD_LEN};

const SLOTS: usize = 20;
const SLOT: Duration = Duration::from_millis(1);

/// What a stream tells its call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayerEvent {
    /// The playlist started with this token has played to its end.
    Finished { token: u64 },
    /// The pacer stopped sending this stream (a bridge relays into it now); the next packet
    /// should continue from these.
    Released { seq: u16, ts: u32 },
}

/// Counters shared with the admin view, the overload guard and the benchmarks.
#[derive(Debug, Default)]
pub struct PacerStats {
    pub streams: AtomicUsize,
    pub packets_sent: AtomicU64,
    pub send_errors: AtomicU64,
    /// Slots that started more than 2 ms late.
    pub late_slots: AtomicU64,
    /// Worst lateness seen in the last second, in µs (reset by `take_max_lag_us`).
    pub max_lag_us: AtomicU64,
    /// Time spent producing and sending packets, ns, summed over shards (admission control
    /// compares it with wall time: a pacer busy most of each slot is about to run late).
    pub busy_ns: AtomicU64,
    /// Number of shard threads.
    pub shards: AtomicUsize,
}

impl PacerStats {
    pub fn take_max_lag_us(&self) -> u64 {
        self.max_lag_us.swap(0, Ordering::Relaxed)
    }
}

/// Everything a new stream needs.
pub struct StreamConfig {
    /// A handle on the call's RTP socket (we send from it, so the peer sees one port).
    pub socket: UdpSocket,
    pub remote: Option<SocketAddr>,
    pub law: Law,
    pub payload_type: u8,
    pub ssrc: u32,
    pub events: UnboundedSender<PlayerEvent>,
}

enum Ctl {
    Add(u64, Box<StreamConfig>),
    Remove(u64),
    Play {
        id: u64,
        items: Vec<Arc<Prompt>>,
        token: u64,
        looping: bool,
    },
    Stop(u64),
    Remote(u64, Option<SocketAddr>),
    Codec(u64, Law, u8),
    Sending(u64, bool),
    Release(u64),
    Resume(u64, u16, u32),
}

pub struct Pacer {
    shards: Vec<mpsc::Sender<Ctl>>,
    next_id: AtomicU64,
    stats: Arc<PacerStats>,
}

impl Pacer {
    /// Start `threads` shards (at least one).
    pub fn start(threads: usize) -> std::io::Result<Arc<Pacer>> {
        let stats = Arc::new(PacerStats::default());
        stats.shards.store(threads.max(1), Ordering::Relaxed);
        let mut shards = Vec::new();
        for i in 0..threads.max(1) {
            let (tx, rx) = mpsc::channel();
            let st = stats.clone();
            std::thread::Builder::new()
                .name(format!("rtp-pacer-{i}"))
                .spawn(move || Shard::new(st).run(rx))?;
            shards.push(tx);
        }
        Ok(Arc::new(Pacer {
            shards,
            next_id: AtomicU64::new(1),
            stats,
        }))
    }

    pub fn stats(&self) -> &Arc<PacerStats> {
        &self.stats
    }

    /// Register a stream; it starts sending silence at once (continuous RTP keeps NAT
    /// bindings and jitter buffers steady between prompts).
    pub fn add(&self, cfg: StreamConfig) -> StreamHandle {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let shard = &self.shards[(id as usize) % self.shards.len()];
        let _ = shard.send(Ctl::Add(id, Box::new(cfg)));
        StreamHandle {
            id,
            ctl: shard.clone(),
        }
    }
}

/// A call's grip on its stream; dropping it removes the stream.
pub struct StreamHandle {
    id: u64,
    ctl: mpsc::Sender<Ctl>,
}

impl StreamHandle {
    /// Replace whatever plays with this playlist; `token` comes back in `Finished`.
    pub fn play(&self, items: Vec<Arc<Prompt>>, token: u64, looping: bool) {
        let _ = self.ctl.send(Ctl::Play {
            id: self.id,
            items,
            token,
            looping,
        });
    }

    /// Stop playing (barge-in); the stream goes back to silence.
    pub fn stop(&self) {
        let _ = self.ctl.send(Ctl::Stop(self.id));
    }

    pub fn set_remote(&self, remote: Option<SocketAddr>) {
        let _ = self.ctl.send(Ctl::Remote(self.id, remote));
    }

    pub fn set_codec(&self, law: Law, payload_type: u8) {
        let _ = self.ctl.send(Ctl::Codec(self.id, law, payload_type));
    }

    /// Hold: stop sending (time still advances, so resuming keeps timestamps honest).
    pub fn set_sending(&self, on: bool) {
        let _ = self.ctl.send(Ctl::Sending(self.id, on));
    }

    /// Stop pacing this stream so a bridge can relay into it; answered by `Released`.
    pub fn release(&self) {
        let _ = self.ctl.send(Ctl::Release(self.id));
    }

    /// Take the stream back from a bridge, continuing its sequence and timestamps.
    pub fn resume(&self, seq: u16, ts: u32) {
        let _ = self.ctl.send(Ctl::Resume(self.id, seq, ts));
    }
}

impl Drop for StreamHandle {
    fn drop(&mut self) {
        let _ = self.ctl.send(Ctl::Remove(self.id));
    }
}

struct Playlist {
    items: Vec<Arc<Prompt>>,
    item: usize,
    frame: usize,
    token: u64,
    looping: bool,
}

struct Stream {
    cfg: StreamConfig,
    slot: usize,
    seq: u16,
    ts: u32,
    marker: bool,
    sending: bool,
    /// A bridge relays into this stream: the pacer keeps quiet.
    released: bool,
    playlist: Option<Playlist>,
    silence: [u8; PAYLOAD_LEN],
}

impl Stream {
    fn new(cfg: StreamConfig, slot: usize) -> Stream {
        let silence = [cfg.law.silence(); PAYLOAD_LEN];
        Stream {
            cfg,
            slot,
            seq: rand::random(),
            ts: rand::random(),
            marker: true,
            sending: true,
            released: false,
            playlist: None,
            silence,
        }
    }

    /// Produce this stream's packet for the current 20 ms and send it.
    fn emit(&mut self, buf: &mut [u8; PACKET_LEN], stats: &PacerStats) {
        if self.released {
            return;
        }
        let law = self.cfg.law;
        let mut finished = None;
        let payload: &[u8] = match &mut self.playlist {
            Some(p) => {
                let frame = p.items.get(p.item).map(|prompt| prompt.frame(law, p.frame));
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
                match frame {
                    Some(f) if f.len() == PAYLOAD_LEN => f,
                    _ => &self.silence,
                }
            }
            None => &self.silence,
        };
        buf[HEADER_LEN..].copy_from_slice(payload);
        if let Some(token) = finished {
            self.playlist = None;
            let _ = self.cfg.events.send(PlayerEvent::Finished { token });
        }
        self.ts = self.ts.wrapping_add(PAYLOAD_LEN as u32);
        let Some(remote) = self.cfg.remote.filter(|_| self.sending) else {
            // Not sending: the next packet sent starts a new talkspurt.
            self.marker = true;
            return;
        };
        rtp::write_header(
            buf,
            self.cfg.payload_type,
            self.marker,
            self.seq,
            self.ts,
            self.cfg.ssrc,
        );
        match self.cfg.socket.send_to(&buf[..], remote) {
            Ok(_) => {
                stats.packets_sent.fetch_add(1, Ordering::Relaxed);
                self.seq = self.seq.wrapping_add(1);
                self.marker = false;
            }
            // ICMP port unreachable from an earlier packet, or a full buffer: RTP is
            // loss-tolerant, keep pacing. (SIPp callers advertise ports nobody reads.)
            Err(_) => {
                stats.send_errors.fetch_add(1, Ordering::Relaxed);
                self.seq = self.seq.wrapping_add(1);
                self.marker = false;
            }
        }
    }
}

/// One pacer thread's streams: a slab indexed from the slot lists (no hashing per packet);
/// the id map is only used by control messages.
struct Shard {
    streams: Vec<Option<Stream>>,
    free: Vec<usize>,
    index: HashMap<u64, usize>,
    slots: [Vec<usize>; SLOTS],
    stats: Arc<PacerStats>,
}

impl Shard {
    fn new(stats: Arc<PacerStats>) -> Shard {
        Shard {
            streams: Vec::new(),
            free: Vec::new(),
            index: HashMap::new(),
            slots: Default::default(),
            stats,
        }
    }

    fn get(&mut self, id: u64) -> Option<&mut Stream> {
        let i = *self.index.get(&id)?;
        self.streams.get_mut(i).and_then(|s| s.as_mut())
    }

    fn apply(&mut self, c: Ctl) {
        match c {
            Ctl::Add(id, cfg) => {
                // The least busy slot keeps the 20 ms cycle evenly loaded.
                let slot = (0..SLOTS).min_by_key(|&s| self.slots[s].len()).unwrap_or(0);
                let stream = Some(Stream::new(*cfg, slot));
                let i = match self.free.pop() {
                    Some(i) => {
                        self.streams[i] = stream;
                        i
                    }
                    None => {
                        self.streams.push(stream);
                        self.streams.len() - 1
                    }
                };
                self.index.insert(id, i);
                self.slots[slot].push(i);
                self.stats.streams.fetch_add(1, Ordering::Relaxed);
            }
            Ctl::Remove(id) => {
                if let Some(i) = self.index.remove(&id) {
                    if let Some(s) = self.streams.get_mut(i).and_then(|s| s.take()) {
                        self.slots[s.slot].retain(|&x| x != i);
                        self.free.push(i);
                        self.stats.streams.fetch_sub(1, Ordering::Relaxed);
                    }
                }
            }
            Ctl::Play {
                id,
                items,
                token,
                looping,
            } => {
                if let Some(s) = self.get(id) {
                    if items.iter().all(|p| p.frames() == 0) {
                        s.playlist = None;
                        let _ = s.cfg.events.send(PlayerEvent::Finished { token });
                    } else {
                        s.playlist = Some(Playlist {
                            items,
                            item: 0,
                            frame: 0,
                            token,
                            looping,
                        });
                    }
                }
            }
            Ctl::Stop(id) => {
                if let Some(s) = self.get(id) {
                    s.playlist = None;
                }
            }
            Ctl::Remote(id, remote) => {
                if let Some(s) = self.get(id) {
                    if s.cfg.remote != remote {
                        debug!(?remote, "RTP destination changed");
                        s.cfg.remote = remote;
                        s.marker = true;
                    }
                }
            }
            Ctl::Codec(id, law, pt) => {
                if let Some(s) = self.get(id) {
                    s.cfg.law = law;
                    s.cfg.payload_type = pt;
                    s.silence = [law.silence(); PAYLOAD_LEN];
                }
            }
            Ctl::Sending(id, on) => {
                if let Some(s) = self.get(id) {
                    s.sending = on;
                }
            }
            Ctl::Release(id) => {
                if let Some(s) = self.get(id) {
                    s.released = true;
                    s.playlist = None;
                    let _ = s.cfg.events.send(PlayerEvent::Released {
                        seq: s.seq,
                        ts: s.ts.wrapping_add(PAYLOAD_LEN as u32),
                    });
                }
            }
            Ctl::Resume(id, seq, ts) => {
                if let Some(s) = self.get(id) {
                    s.released = false;
                    s.seq = seq;
                    s.ts = ts;
                    s.marker = true;
                }
            }
        }
    }

    fn run(mut self, rx: mpsc::Receiver<Ctl>) {
        set_timer_slack();
        let mut buf = [0u8; PACKET_LEN];
        let mut start = Instant::now();
        let mut tick: u64 = 0;
        loop {
            if self.index.is_empty() {
                // Idle: block until a call arrives, then re-anchor the clock.
                match rx.recv() {
                    Ok(c) => self.apply(c),
                    Err(_) => return,
                }
                start = Instant::now();
                tick = 0;
                continue;
            }
            let due = start + SLOT * (tick as u32);
            // Wait for the slot, handling control messages as they come.
            loop {
                let now = Instant::now();
                if now >= due {
                    let lag = (now - due).as_micros() as u64;
                    if lag > 2_000 {
                        self.stats.late_slots.fetch_add(1, Ordering::Relaxed);
                    }
                    self.stats.max_lag_us.fetch_max(lag, Ordering::Relaxed);
                    if lag > 1_000_000 {
                        // Suspended or starved for a second: do not replay a backlog of
                        // packets in a burst, re-anchor instead.
                        warn!(lag_ms = lag / 1000, "RTP pacer re-anchored after a stall");
                        start = now;
                        tick = 0;
                    }
                    break;
                }
                match rx.recv_timeout(due - now) {
                    Ok(c) => self.apply(c),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
            while let Ok(c) = rx.try_recv() {
                self.apply(c);
            }
            let slot = (tick % SLOTS as u64) as usize;
            let started = Instant::now();
            let Shard {
                streams,
                slots,
                stats,
                ..
            } = &mut self;
            for &i in &slots[slot] {
                if let Some(s) = streams.get_mut(i).and_then(|s| s.as_mut()) {
                    s.emit(&mut buf, stats);
                }
            }
            self.stats
                .busy_ns
                .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
            tick += 1;
        }
    }
}

/// Ask the kernel for 1 µs timer slack on this thread (default 50 µs) so slot wake-ups are
/// punctual, and for a better scheduling share (5 nice levels above the process: relative, so
/// a server started under `nice -n -10` keeps its pacer ahead of its own other threads) so a
/// busy machine delays the pacer last. Not a real-time class: a saturated real-time pacer
/// would starve SIP handling, and with it the shedding of new calls. Both are best effort
/// (refused without privileges).
fn set_timer_slack() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes an unsigned long and affects only the calling thread;
    // getpriority/setpriority on our own thread id read and change only this thread's nice
    // value; errno is thread-local.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        // getpriority may return -1 as a valid nice value: errno tells an error apart.
        *libc::__errno_location() = 0;
        let base = libc::getpriority(libc::PRIO_PROCESS, tid);
        if base != -1 || *libc::__errno_location() == 0 {
            libc::setpriority(libc::PRIO_PROCESS, tid, (base - 5).max(-20));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::prompt::{Lang, Prompt};

    fn tone_prompt(frames: usize) -> Arc<Prompt> {
        let pcm: Vec<i16> = (0..frames * PAYLOAD_LEN)
            .map(|i| ((i as f32 * 0.3).sin() * 8000.0) as i16)
            .collect();
        Arc::new(Prompt::from_pcm("t", Lang::Fr, "tone", pcm))
    }

    #[test]
    fn stream_sends_paced_packets_and_reports_the_end() {
        let rx_sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx_sock
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let tx_sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx_sock.set_nonblocking(true).unwrap();
        let pacer = Pacer::start(1).unwrap();
        let (ev_tx, mut ev_rx) = tokio::sync::mpsc::unbounded_channel();
        let h = pacer.add(StreamConfig {
            socket: tx_sock,
            remote: Some(rx_sock.local_addr().unwrap()),
            law: Law::Ulaw,
            payload_type: 0,
            ssrc: 99,
            events: ev_tx,
        });
        h.play(vec![tone_prompt(10)], 7, false);
        let mut buf = [0u8; 2048];
        let mut seqs = Vec::new();
        let mut times = Vec::new();
        for _ in 0..30 {
            let n = rx_sock.recv(&mut buf).unwrap();
            let v = rtp::parse(&buf[..n]).unwrap();
            assert_eq!(v.ssrc, 99);
            seqs.push(v.seq);
            times.push(Instant::now());
        }
        for w in seqs.windows(2) {
            assert_eq!(w[1], w[0].wrapping_add(1));
        }
        let span = *times.last().unwrap() - times[0];
        // 29 intervals of 20 ms; generous bounds (shared machine), the benchmark measures.
        assert!(span > Duration::from_millis(400) && span < Duration::from_millis(1500));
        assert_eq!(ev_rx.try_recv(), Ok(PlayerEvent::Finished { token: 7 }));
        drop(h);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(pacer.stats().streams.load(Ordering::Relaxed), 0);
    }
}
