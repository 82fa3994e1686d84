//! One media shard: an OS thread that owns its legs' sockets and wakes on absolute 1 ms slots.
//! Each slot it applies control messages, drains every socket that has data (epoll, then one
//! `recvmmsg` per ready socket), relays bridged packets into their peer stream, produces the
//! prompt packets of the streams that own this slot of the 20 ms cycle, and sends the whole
//! slot's output with `sendmmsg`. So a relayed packet waits at most one slot, and the cost per
//! packet is its share of a few batched system calls: no task wake-up, no timer, no allocation.
//!
//! Why threads and not tokio: a tokio timer and task wake per packet (250 000 a second at 5 000
//! calls) cost more than the packet itself, and tokio's timer wheel has 1 ms granularity on
//! top of scheduling delay. A shard sleeps once per slot for all its streams.

use std::collections::HashMap;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use super::placement;
use super::stream::{NewStream, Stream};
use super::sys::{Epoll, RecvBatch, SendBatch};
use super::{MediaParams, ShardStats};
use crate::media::prompt::Prompt;

pub(super) const SLOTS: usize = 20;
const SLOT: Duration = Duration::from_millis(1);
/// Datagrams taken from one socket per `recvmmsg`, and rounds per socket per slot.
const RECV_BATCH: usize = 8;
const RECV_ROUNDS: usize = 4;
/// Datagrams one slot may queue before they are flushed early.
const SEND_BATCH: usize = 1024;

pub(super) enum Ctl {
    Add(u64, Box<NewStream>),
    Remove(u64),
    Params(u64, MediaParams),
    Play {
        id: u64,
        items: Vec<Arc<Prompt>>,
        token: u64,
        looping: bool,
    },
    Stop(u64),
    Bridge(u64, u64),
    Unbridge(u64),
    RecordStart(u64, u32),
    RecordStop(u64),
}

/// Counters kept locally and published once per slot (no shared cache line per packet).
#[derive(Default)]
struct Local {
    sent: u64,
    relayed: u64,
    received: u64,
    send_errors: u64,
    syscalls: u64,
}

impl Local {
    fn add(&mut self, sent: super::sys::Sent) {
        self.sent += sent.ok;
        self.send_errors += sent.errors;
        self.syscalls += sent.syscalls;
    }
}

pub(super) struct Shard {
    streams: Vec<Option<Stream>>,
    free: Vec<usize>,
    index: HashMap<u64, usize>,
    /// Slab indexes of the streams that own each slot of the 20 ms cycle. (Epoll tokens are
    /// index · 2, + 1 for the RTCP socket.)
    slots: [Vec<usize>; SLOTS],
    epoll: Epoll,
    recv: Box<RecvBatch<RECV_BATCH>>,
    send: SendBatch,
    ready: Vec<u64>,
    /// Browser packets waiting to be relayed (decrypted by their peer: owned payloads).
    relay: Vec<(super::stream::Relayed, Arc<[u8]>)>,
    stats: Arc<ShardStats>,
    local: Local,
}

impl Shard {
    pub fn new(stats: Arc<ShardStats>) -> std::io::Result<Shard> {
        Ok(Shard {
            streams: Vec::new(),
            free: Vec::new(),
            index: HashMap::new(),
            slots: Default::default(),
            epoll: Epoll::new(1024)?,
            recv: RecvBatch::new(),
            send: SendBatch::new(SEND_BATCH),
            ready: Vec::with_capacity(1024),
            relay: Vec::new(),
            stats,
            local: Local::default(),
        })
    }

    fn get(&mut self, id: u64) -> Option<&mut Stream> {
        let i = *self.index.get(&id)?;
        self.streams.get_mut(i).and_then(|s| s.as_mut())
    }

    fn apply(&mut self, c: Ctl, now: Instant) {
        match c {
            Ctl::Add(id, n) => self.add(id, *n, now),
            Ctl::Remove(id) => self.remove(id),
            Ctl::Params(id, p) => {
                if let Some(s) = self.get(id) {
                    s.apply(p);
                }
            }
            Ctl::Play {
                id,
                items,
                token,
                looping,
            } => {
                if let Some(s) = self.get(id) {
                    if s.peer.is_none() {
                        s.play(items, token, looping);
                    }
                }
            }
            Ctl::Stop(id) => {
                if let Some(s) = self.get(id) {
                    s.playlist = None;
                }
            }
            Ctl::Bridge(a, b) => {
                let (Some(&ia), Some(&ib)) = (self.index.get(&a), self.index.get(&b)) else {
                    debug!("bridge of a stream that is gone");
                    return;
                };
                if let Some(s) = self.streams.get_mut(ia).and_then(|s| s.as_mut()) {
                    s.bridge_to(ib);
                }
                if let Some(s) = self.streams.get_mut(ib).and_then(|s| s.as_mut()) {
                    s.bridge_to(ia);
                }
            }
            Ctl::Unbridge(id) => {
                let Some(&i) = self.index.get(&id) else {
                    return;
                };
                self.unbridge(i);
            }
            Ctl::RecordStart(id, max) => {
                if let Some(s) = self.get(id) {
                    s.record_start(max);
                }
            }
            Ctl::RecordStop(id) => {
                if let Some(s) = self.get(id) {
                    s.record_stop();
                }
            }
        }
    }

    fn add(&mut self, id: u64, n: NewStream, now: Instant) {
        // The least busy slot keeps the 20 ms cycle evenly loaded.
        let slot = (0..SLOTS).min_by_key(|&s| self.slots[s].len()).unwrap_or(0);
        let stream = Stream::new(n, slot, now);
        let (rtp, rtcp) = stream.fds();
        let i = match self.free.pop() {
            Some(i) => {
                self.streams[i] = Some(stream);
                i
            }
            None => {
                self.streams.push(Some(stream));
                self.streams.len() - 1
            }
        };
        if let Err(e) = self
            .epoll
            .add(rtp, (i as u64) << 1)
            .and_then(|_| self.epoll.add(rtcp, ((i as u64) << 1) | 1))
        {
            warn!(error = %e, "cannot watch an RTP socket");
        }
        self.index.insert(id, i);
        self.slots[slot].push(i);
        self.stats.streams.fetch_add(1, Ordering::Relaxed);
    }

    fn remove(&mut self, id: u64) {
        let Some(i) = self.index.remove(&id) else {
            return;
        };
        self.unbridge(i);
        if let Some(s) = self.streams.get_mut(i).and_then(|s| s.as_mut()) {
            s.close(&mut self.send, std::time::Instant::now());
        }
        if let Some(s) = self.streams.get_mut(i).and_then(|s| s.take()) {
            let (rtp, rtcp) = s.fds();
            self.epoll.delete(rtp);
            self.epoll.delete(rtcp);
            self.slots[s.slot].retain(|&x| x != i);
            self.free.push(i);
            self.stats.streams.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Stream `i` leaves its bridge, and so does its peer.
    fn unbridge(&mut self, i: usize) {
        let peer = self
            .streams
            .get_mut(i)
            .and_then(|s| s.as_mut())
            .and_then(|s| {
                let p = s.peer;
                s.unbridge();
                p
            });
        if let Some(p) = peer {
            if let Some(s) = self.streams.get_mut(p).and_then(|s| s.as_mut()) {
                if s.peer == Some(i) {
                    s.unbridge();
                }
            }
        }
    }

    /// Receive and relay what arrived on every ready socket.
    fn receive(&mut self, now: Instant) {
        self.ready.clear();
        self.ready.extend(self.epoll.wait(0).iter().map(|e| e.u64));
        for k in 0..self.ready.len() {
            let token = self.ready[k];
            let i = (token >> 1) as usize;
            let is_rtcp = token & 1 == 1;
            let Some(fd) = self.streams.get(i).and_then(|s| s.as_ref()).map(|s| {
                if is_rtcp {
                    s.fds().1
                } else {
                    s.fds().0
                }
            }) else {
                continue;
            };
            self.drain_socket(i, fd, is_rtcp, now);
        }
    }

    fn drain_socket(&mut self, i: usize, fd: RawFd, is_rtcp: bool, now: Instant) {
        let Shard {
            streams,
            recv,
            send,
            local,
            relay,
            ..
        } = self;
        for _ in 0..RECV_ROUNDS {
            let n = recv.recv(fd);
            local.syscalls += 1;
            local.received += n as u64;
            for k in 0..n {
                let Some((buf, from)) = recv.get_mut(k) else {
                    continue;
                };
                let Some(s) = streams.get_mut(i).and_then(|s| s.as_mut()) else {
                    return;
                };
                if is_rtcp {
                    s.on_rtcp(buf, now);
                    continue;
                }
                if s.is_webrtc() {
                    if send.is_full() {
                        local.add(send.flush());
                    }
                    s.on_webrtc_datagram(buf, from, now, send, relay);
                    let Some(peer) = s.peer else {
                        relay.clear();
                        continue;
                    };
                    if let Some(p) = streams.get_mut(peer).and_then(|s| s.as_mut()) {
                        for (pkt, payload) in relay.drain(..) {
                            if send.is_full() {
                                local.add(send.flush());
                            }
                            if p.relay_in(pkt, &payload, send, now) {
                                local.relayed += 1;
                            }
                        }
                    }
                    relay.clear();
                    continue;
                }
                let Some((pkt, range)) = s.on_rtp(buf, from, now) else {
                    continue;
                };
                let Some(peer) = s.peer else {
                    continue;
                };
                if let Some(p) = streams.get_mut(peer).and_then(|s| s.as_mut()) {
                    if send.is_full() {
                        local.add(send.flush());
                    }
                    if p.relay_in(pkt, &buf[range], send, now) {
                        local.relayed += 1;
                    }
                }
            }
            if n < RECV_BATCH {
                return;
            }
        }
    }

    /// The prompt packets of the streams that own this slot.
    fn pace(&mut self, slot: usize, now: Instant) {
        let Shard {
            streams,
            slots,
            send,
            local,
            ..
        } = self;
        for &i in &slots[slot] {
            if send.is_full() {
                local.add(send.flush());
            }
            if let Some(s) = streams.get_mut(i).and_then(|s| s.as_mut()) {
                s.emit(send, now);
            }
        }
    }

    fn publish(&mut self, busy: Duration) {
        let st = &self.stats;
        let l = std::mem::take(&mut self.local);
        st.packets_sent.fetch_add(l.sent, Ordering::Relaxed);
        st.packets_relayed.fetch_add(l.relayed, Ordering::Relaxed);
        st.packets_received.fetch_add(l.received, Ordering::Relaxed);
        st.send_errors.fetch_add(l.send_errors, Ordering::Relaxed);
        st.syscalls.fetch_add(l.syscalls, Ordering::Relaxed);
        st.busy_ns
            .fetch_add(busy.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Leave or re-enter the real-time class, as the guard says.
    fn change_class(&self, guard: &mut placement::RealtimeGuard, class: placement::Class) {
        // Back in the normal class, the nice value set at start applies again (the kernel keeps
        // it through the real-time spell).
        let ok = placement::set_realtime(class == placement::Class::Realtime).is_ok();
        guard.applied(class, ok);
        self.stats.realtime.store(guard.is_on(), Ordering::Relaxed);
        match (class, ok) {
            (placement::Class::Normal, true) => warn!(
                "media shard busy over {:.0} % of a second: leaving real-time scheduling so \
                 SIP handling keeps its share",
                placement::RealtimeGuard::LEAVE * 100.0
            ),
            (placement::Class::Realtime, true) => {
                info!("media shard has room again: back to real-time scheduling")
            }
            (_, false) => warn!(?class, "media shard could not change its scheduling class"),
        }
    }

    /// Run until every sender of `rx` is gone, pinned to `cpu` when one is given, in the
    /// real-time class when `realtime` and the kernel allows it.
    pub fn run(mut self, rx: mpsc::Receiver<Ctl>, cpu: Option<usize>, realtime: bool) {
        if let Some(cpu) = cpu {
            if let Err(e) = placement::pin_current_thread(cpu) {
                warn!(cpu, error = %e, "media shard not pinned to its CPU");
            }
        }
        placement::tune_current_thread();
        let granted = realtime
            && match placement::set_realtime(true) {
                Ok(()) => true,
                Err(e) => {
                    warn!(
                        error = %e,
                        "media shard at normal priority: real-time scheduling refused (run as \
                         root, or give CAP_SYS_NICE or LimitRTPRIO={})",
                        placement::RT_PRIORITY
                    );
                    false
                }
            };
        self.stats.realtime.store(granted, Ordering::Relaxed);
        let mut guard = placement::RealtimeGuard::new(granted, granted);
        let mut start = Instant::now();
        let mut tick: u64 = 0;
        loop {
            if self.index.is_empty() {
                // Idle: block until a call arrives, then re-anchor the clock.
                match rx.recv() {
                    Ok(c) => self.apply(c, Instant::now()),
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
                        warn!(lag_ms = lag / 1000, "media shard re-anchored after a stall");
                        start = now;
                        tick = 0;
                    }
                    break;
                }
                match rx.recv_timeout(due - now) {
                    Ok(c) => self.apply(c, now),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
            let started = Instant::now();
            while let Ok(c) = rx.try_recv() {
                self.apply(c, started);
            }
            self.receive(started);
            self.pace((tick % SLOTS as u64) as usize, started);
            self.local.add(self.send.flush());
            let busy = started.elapsed();
            self.publish(busy);
            if let Some(class) = guard.observe(busy, SLOT) {
                self.change_class(&mut guard, class);
            }
            tick += 1;
        }
    }
}
