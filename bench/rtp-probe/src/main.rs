//! rtp-probe: receive RTP from thousands of streams on one UDP port (or a range) and report,
//! for a fixed window, per-stream inter-arrival jitter |Δarrival − ptime| aggregated over all
//! streams (p50/p90/p99/p99.9/max), loss (sequence gaps), packets/s and stream count.
//!
//! Streams are told apart by (SSRC, source port): centrale sends each call's RTP from that
//! call's own socket, so every call's SDP can point at this one port.
//!
//! Arrival times come from the kernel (SO_TIMESTAMPNS). On loopback the kernel stamps a packet
//! when the sender's `sendto` hands it to the receive path, so the figure is the *sender's*
//! pacing jitter and does not depend on when this probe gets the CPU. The time the probe's
//! `recvmmsg` returned ("app" clock, one stamp per batch) is reported too: that is what a
//! receiving application scheduled on the same busy machine would see.
//!
//! Sender mode (bridged calls, bench/run-bridge.sh): `--send FILE` (repeatable) names files of
//! lines `RTPPORT <port> …` (SIPp `<log>` output); at `--send-at S` seconds after start the probe
//! reads them and, from one extra thread and one socket, sends a 20 ms PCMU packet (160-byte
//! payload) every 20 ms to 127.0.0.1:<port> for each line, in `sendmmsg` batches spread over the
//! 20 ms (one group per 1 ms slot), until the end of the window. Each payload starts with a
//! magic, the send time (CLOCK_REALTIME ns, taken just before the `sendmmsg` of its batch) and
//! the destination's index; the rest is µ-law silence. A receiving socket that gets such a
//! payload back (relayed unchanged through a PCMU↔PCMU bridge) records latency = kernel arrival
//! timestamp − send time (same clock, same machine), per receiving port and overall, and counts
//! it against what was sent (packets sent during the window minus its last `--send-tail` s).
//!
//! Usage: rtp-probe [--bind 127.0.0.1] [--port 40000] [--ports 1] [--rtcp] [--warmup 0]
//!                  [--duration 30] [--interval 0] [--ptime 20] [--min-packets 50]
//!                  [--json FILE] [--label TEXT] [--cpu N] [--rt] [--quiet]
//!                  [--send FILE]… [--send-at S] [--send-tail S] [--send-batch N]
//! Ends by itself after warm-up + duration.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io;
use std::mem;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const BATCH: usize = 64;
const PKT: usize = 2048;
const CMSG: usize = 256;
/// Histogram: 1 µs buckets up to 1 s; anything above is counted in the last bucket (max is exact).
const HBUCKETS: usize = 1_000_001;

struct Args {
    bind: Ipv4Addr,
    port: u16,
    ports: u16,
    rtcp: bool,
    warmup: f64,
    duration: f64,
    interval: f64,
    ptime_ms: u64,
    min_packets: u64,
    json: Option<String>,
    label: String,
    cpu: Option<usize>,
    rt: bool,
    quiet: bool,
    rcvbuf: usize,
    send: Vec<String>,
    send_at: f64,
    send_tail: f64,
    send_batch: usize,
}

/// First bytes of a payload the probe sent itself: magic, send time (ns), destination index.
const MAGIC: [u8; 4] = *b"c3BR";
const TAG_LEN: usize = 16;
/// Destinations the receiver keeps per-destination counts for.
const MAX_DESTS: usize = 1 << 16;

fn usage() -> ! {
    eprintln!(
        "usage: rtp-probe [--bind IP] [--port P] [--ports N] [--rtcp] [--warmup S] [--duration S] \
         [--interval S] [--ptime MS] [--min-packets N] [--json FILE] [--label TEXT] [--cpu N] [--rt] \
         [--rcvbuf BYTES] [--quiet] [--send FILE]... [--send-at S] [--send-tail S] [--send-batch N]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        bind: Ipv4Addr::LOCALHOST,
        port: 40000,
        ports: 1,
        rtcp: false,
        warmup: 0.0,
        duration: 30.0,
        interval: 0.0,
        ptime_ms: 20,
        min_packets: 50,
        json: None,
        label: String::new(),
        cpu: None,
        rt: false,
        quiet: false,
        rcvbuf: 64 << 20,
        send: Vec::new(),
        send_at: 0.0,
        send_tail: 1.0,
        send_batch: 32,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().unwrap_or_else(|| usage());
        match k.as_str() {
            "--bind" => a.bind = v().parse().unwrap_or_else(|_| usage()),
            "--port" => a.port = v().parse().unwrap_or_else(|_| usage()),
            "--ports" => a.ports = v().parse().unwrap_or_else(|_| usage()),
            "--rtcp" => a.rtcp = true,
            "--warmup" => a.warmup = v().parse().unwrap_or_else(|_| usage()),
            "--duration" => a.duration = v().parse().unwrap_or_else(|_| usage()),
            "--interval" => a.interval = v().parse().unwrap_or_else(|_| usage()),
            "--ptime" => a.ptime_ms = v().parse().unwrap_or_else(|_| usage()),
            "--min-packets" => a.min_packets = v().parse().unwrap_or_else(|_| usage()),
            "--json" => a.json = Some(v()),
            "--label" => a.label = v(),
            "--cpu" => a.cpu = Some(v().parse().unwrap_or_else(|_| usage())),
            "--rt" => a.rt = true,
            "--quiet" => a.quiet = true,
            "--rcvbuf" => a.rcvbuf = v().parse().unwrap_or_else(|_| usage()),
            "--send" => a.send.push(v()),
            "--send-at" => a.send_at = v().parse().unwrap_or_else(|_| usage()),
            "--send-tail" => a.send_tail = v().parse().unwrap_or_else(|_| usage()),
            "--send-batch" => a.send_batch = v().parse().unwrap_or_else(|_| usage()),
            "-h" | "--help" => usage(),
            _ => usage(),
        }
    }
    if a.ports == 0 || a.duration <= 0.0 || a.send_batch == 0 || a.send_batch > 1024 {
        usage()
    }
    if !a.bind.is_loopback() {
        eprintln!(
            "rtp-probe: refusing to bind a non-loopback address ({})",
            a.bind
        );
        std::process::exit(2)
    }
    a
}

#[allow(clippy::unnecessary_cast)] // time_t / c_long are not i64 everywhere
fn now_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the struct we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec as i64 * 1_000_000_000 + ts.tv_nsec as i64
}

fn setsockopt_int(fd: i32, level: i32, name: i32, val: i32) -> io::Result<()> {
    // SAFETY: passing a pointer to a live i32 and its size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &val as *const i32 as *const libc::c_void,
            mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn getsockopt_int(fd: i32, level: i32, name: i32) -> i32 {
    let mut val: i32 = 0;
    let mut len = mem::size_of::<i32>() as libc::socklen_t;
    // SAFETY: passing a pointer to a live i32 and its size.
    unsafe {
        libc::getsockopt(
            fd,
            level,
            name,
            &mut val as *mut i32 as *mut libc::c_void,
            &mut len,
        )
    };
    val
}

struct Hist {
    b: Vec<u64>,
    n: u64,
    max: u64,
    over_2ms: u64,
    over_10ms: u64,
}

impl Hist {
    fn new(size: usize) -> Hist {
        Hist {
            b: vec![0; size],
            n: 0,
            max: 0,
            over_2ms: 0,
            over_10ms: 0,
        }
    }
    fn add(&mut self, us: u64) {
        let i = (us as usize).min(self.b.len() - 1);
        self.b[i] += 1;
        self.n += 1;
        self.max = self.max.max(us);
        if us > 2_000 {
            self.over_2ms += 1;
        }
        if us > 10_000 {
            self.over_10ms += 1;
        }
    }
    fn pct(&self, p: f64) -> u64 {
        if self.n == 0 {
            return 0;
        }
        let want = ((self.n as f64) * p / 100.0).ceil().max(1.0) as u64;
        let mut acc = 0;
        for (i, c) in self.b.iter().enumerate() {
            acc += c;
            if acc >= want {
                return if i == self.b.len() - 1 {
                    self.max
                } else {
                    i as u64
                };
            }
        }
        self.max
    }
    fn clear(&mut self) {
        if self.n > 0 {
            self.b.iter_mut().for_each(|x| *x = 0);
        }
        self.n = 0;
        self.max = 0;
        self.over_2ms = 0;
        self.over_10ms = 0;
    }
    fn json(&self) -> String {
        format!(
            "{{\"samples\":{},\"p50_us\":{},\"p90_us\":{},\"p99_us\":{},\"p999_us\":{},\"max_us\":{},\"over_2ms\":{},\"over_10ms\":{}}}",
            self.n,
            self.pct(50.0),
            self.pct(90.0),
            self.pct(99.0),
            self.pct(99.9),
            self.max,
            self.over_2ms,
            self.over_10ms
        )
    }
    fn human(&self) -> String {
        format!(
            "p50 {} µs, p90 {} µs, p99 {} µs, p99.9 {} µs, max {} µs; >2 ms {} ({:.3}%), >10 ms {}",
            self.pct(50.0),
            self.pct(90.0),
            self.pct(99.0),
            self.pct(99.9),
            self.max,
            self.over_2ms,
            if self.n > 0 {
                100.0 * self.over_2ms as f64 / self.n as f64
            } else {
                0.0
            },
            self.over_10ms
        )
    }
}

#[derive(Default)]
struct Stream {
    last_ext: i64,
    last_k: i64,
    last_u: i64,
    last_ts: u32,
    transit: Option<f64>,
    j: f64,
    started: bool,
    in_window: u64,
    lost: u64,
    reordered: u64,
    max_jit_us: u64,
}

struct Interval {
    t: f64,
    streams: usize,
    packets: u64,
    lost: u64,
    hist: String,
}

struct Probe {
    ptime_ns: i64,
    t_start: i64,
    t_end: i64,
    streams: HashMap<u64, Stream>,
    hk: Hist,
    hu: Hist,
    hi: Hist,
    packets: u64,
    bytes: u64,
    rtcp: u64,
    not_rtp: u64,
    lost: u64,
    reordered: u64,
    dups: u64,
    i_packets: u64,
    i_lost: u64,
    i_streams: std::collections::HashSet<u64>,
    first_pkt: Option<i64>,
    /// Our own tagged payloads coming back (sender mode): counted when their send time is in
    /// [tag_from, tag_to).
    tag_from: i64,
    tag_to: i64,
    lat: Hist,
    lat_by_port: Vec<Hist>,
    tagged_rx: u64,
    tagged_rx_by_port: Vec<u64>,
    tagged_negative: u64,
    rx_per_dest: Vec<u32>,
}

impl Probe {
    fn on_tagged(&mut self, data: &[u8], tk: i64, port_idx: usize) {
        // Only a fixed 12-byte header is expected (neither we nor centrale write CSRCs or
        // extensions); the tag sits at the start of the payload.
        if data.len() < 12 + TAG_LEN || data[12..16] != MAGIC {
            return;
        }
        let sent = i64::from_be_bytes(data[16..24].try_into().unwrap());
        let idx = u32::from_be_bytes(data[24..28].try_into().unwrap()) as usize;
        if sent < self.tag_from || sent >= self.tag_to {
            return;
        }
        let d = tk - sent;
        if d < 0 {
            self.tagged_negative += 1;
        }
        let us = (d.max(0) / 1000) as u64;
        self.lat.add(us);
        if let Some(h) = self.lat_by_port.get_mut(port_idx) {
            h.add(us);
            self.tagged_rx_by_port[port_idx] += 1;
        }
        self.tagged_rx += 1;
        if idx < self.rx_per_dest.len() {
            self.rx_per_dest[idx] = self.rx_per_dest[idx].saturating_add(1);
        }
    }

    fn on_packet(
        &mut self,
        data: &[u8],
        src_port: u16,
        tk: i64,
        tu: i64,
        is_rtcp_port: bool,
        port_idx: usize,
    ) {
        self.first_pkt.get_or_insert(tk);
        if is_rtcp_port || data.len() < 12 || data[0] >> 6 != 2 || (200..=207).contains(&data[1]) {
            if tk >= self.t_start && tk < self.t_end {
                if is_rtcp_port || (data.len() >= 2 && (200..=207).contains(&data[1])) {
                    self.rtcp += 1;
                } else {
                    self.not_rtp += 1;
                }
            }
            return;
        }
        if self.tag_to > self.tag_from {
            self.on_tagged(data, tk, port_idx);
        }
        let seq = u16::from_be_bytes([data[2], data[3]]);
        let ts = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
        let ssrc = u32::from_be_bytes([data[8], data[9], data[10], data[11]]);
        let key = ((src_port as u64) << 32) | ssrc as u64;
        let in_window = tk >= self.t_start && tk < self.t_end;
        let s = self.streams.entry(key).or_default();
        if !s.started {
            s.started = true;
            s.last_ext = seq as i64;
            s.last_k = tk;
            s.last_u = tu;
            s.last_ts = ts;
            if in_window {
                s.in_window += 1;
                self.packets += 1;
                self.i_packets += 1;
                self.bytes += data.len() as u64;
                self.i_streams.insert(key);
            }
            return;
        }
        // Extend the sequence number around the last one seen.
        let last16 = (s.last_ext & 0xffff) as u16;
        let delta = seq.wrapping_sub(last16) as i16 as i64;
        let ext = s.last_ext + delta;
        // RFC 3550 interarrival jitter J, in timestamp units (8 kHz).
        let arrival_units = tk as f64 * 8000.0 / 1e9;
        let transit = arrival_units - ts as f64;
        if let Some(prev) = s.transit {
            // Handle 32-bit timestamp wrap in the difference.
            let mut d = transit - prev;
            let dts = ts.wrapping_sub(s.last_ts) as i32 as f64;
            let dts_raw = ts as f64 - s.last_ts as f64;
            d += dts_raw - dts;
            s.j += (d.abs() - s.j) / 16.0;
        }
        s.transit = Some(transit);
        s.last_ts = ts;
        if !in_window {
            if delta > 0 {
                s.last_ext = ext;
                s.last_k = tk;
                s.last_u = tu;
            }
            return;
        }
        s.in_window += 1;
        self.packets += 1;
        self.i_packets += 1;
        self.bytes += data.len() as u64;
        self.i_streams.insert(key);
        if delta == 0 {
            self.dups += 1;
            return;
        }
        if delta < 0 {
            // Late packet: it was counted lost when the gap appeared; take it back.
            s.reordered += 1;
            self.reordered += 1;
            if s.lost > 0 {
                s.lost -= 1;
                self.lost = self.lost.saturating_sub(1);
            }
            return;
        }
        if delta > 1 {
            let gap = (delta - 1) as u64;
            s.lost += gap;
            self.lost += gap;
            self.i_lost += gap;
        }
        let expect = self.ptime_ns * delta;
        let jk = ((tk - s.last_k) - expect).unsigned_abs() / 1000;
        let ju = ((tu - s.last_u) - expect).unsigned_abs() / 1000;
        s.max_jit_us = s.max_jit_us.max(jk);
        self.hk.add(jk);
        self.hu.add(ju);
        self.hi.add(jk);
        s.last_ext = ext;
        s.last_k = tk;
        s.last_u = tu;
    }
}

struct Sock {
    sock: UdpSocket,
    rtcp: bool,
    last_ovfl: u32,
    first_ovfl: Option<u32>,
}

fn open(bind: Ipv4Addr, port: u16, rcvbuf: usize, rtcp: bool) -> io::Result<Sock> {
    let sock = UdpSocket::bind(SocketAddrV4::new(bind, port))?;
    let fd = sock.as_raw_fd();
    let want = rcvbuf.min(i32::MAX as usize) as i32;
    // Root may exceed net.core.rmem_max; fall back to the ordinary option otherwise.
    if setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, want).is_err() {
        let _ = setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, want);
    }
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)?;
    let _ = setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RXQ_OVFL, 1);
    sock.set_nonblocking(true)?;
    Ok(Sock {
        sock,
        rtcp,
        last_ovfl: 0,
        first_ovfl: None,
    })
}

fn apply_priority(a: &Args) -> String {
    let mut notes = Vec::new();
    if let Some(cpu) = a.cpu {
        // SAFETY: cpu_set_t is plain data; the libc macros index within it.
        let ok = unsafe {
            let mut set: libc::cpu_set_t = mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, mem::size_of::<libc::cpu_set_t>(), &set) == 0
        };
        notes.push(if ok {
            format!("pinned to cpu {cpu}")
        } else {
            format!(
                "pinning to cpu {cpu} refused: {}",
                io::Error::last_os_error()
            )
        });
    }
    if a.rt {
        let p = libc::sched_param { sched_priority: 10 };
        // SAFETY: sched_setscheduler reads the struct we pass.
        let ok = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &p) == 0 };
        notes.push(if ok {
            "SCHED_FIFO 10".to_string()
        } else {
            format!("SCHED_FIFO refused: {}", io::Error::last_os_error())
        });
    }
    if notes.is_empty() {
        "normal priority, unpinned".into()
    } else {
        notes.join(", ")
    }
}

fn main() {
    let a = parse_args();
    let sched = apply_priority(&a);
    let mut socks = Vec::new();
    for i in 0..a.ports {
        let p = a.port + i * if a.rtcp { 2 } else { 1 };
        match open(a.bind, p, a.rcvbuf, false) {
            Ok(s) => socks.push(s),
            Err(e) => {
                eprintln!("rtp-probe: cannot bind {}:{}: {e}", a.bind, p);
                std::process::exit(1)
            }
        }
        if a.rtcp {
            match open(a.bind, p + 1, 4 << 20, true) {
                Ok(s) => socks.push(s),
                Err(e) => {
                    eprintln!("rtp-probe: cannot bind {}:{}: {e}", a.bind, p + 1);
                    std::process::exit(1)
                }
            }
        }
    }
    let rcvbuf_got = getsockopt_int(socks[0].sock.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF);
    let t0 = now_ns();
    let t_start = t0 + (a.warmup * 1e9) as i64;
    let t_end = t_start + (a.duration * 1e9) as i64;
    let mut pr = Probe {
        ptime_ns: a.ptime_ms as i64 * 1_000_000,
        t_start,
        t_end,
        streams: HashMap::with_capacity(16384),
        hk: Hist::new(HBUCKETS),
        hu: Hist::new(HBUCKETS),
        hi: Hist::new(HBUCKETS),
        packets: 0,
        bytes: 0,
        rtcp: 0,
        not_rtp: 0,
        lost: 0,
        reordered: 0,
        dups: 0,
        i_packets: 0,
        i_lost: 0,
        i_streams: Default::default(),
        first_pkt: None,
        tag_from: 0,
        tag_to: 0,
        lat: Hist::new(if a.send.is_empty() { 1 } else { HBUCKETS }),
        lat_by_port: (0..a.ports)
            .map(|_| Hist::new(if a.send.is_empty() { 1 } else { HBUCKETS }))
            .collect(),
        tagged_rx: 0,
        tagged_rx_by_port: vec![0; a.ports as usize],
        tagged_negative: 0,
        rx_per_dest: vec![0; if a.send.is_empty() { 0 } else { MAX_DESTS }],
    };
    // Sender mode: tagged packets sent in [window start, window end − tail) are counted both
    // ways (the tail lets the last ones arrive before the probe stops).
    let sender = if a.send.is_empty() {
        None
    } else {
        pr.tag_from = t_start;
        pr.tag_to = t_end - (a.send_tail * 1e9) as i64;
        let cfg = SendCfg {
            files: a.send.clone(),
            bind: a.bind,
            start_ns: t0 + (a.send_at * 1e9) as i64,
            end_ns: t_end,
            tag_from: pr.tag_from,
            tag_to: pr.tag_to,
            ptime_ms: a.ptime_ms,
            batch: a.send_batch,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        Some((
            std::thread::Builder::new()
                .name("rtp-probe-send".into())
                .spawn(move || run_sender(cfg, &st))
                .expect("spawn sender"),
            stop,
        ))
    };
    if !a.quiet {
        eprintln!(
            "rtp-probe: listening on {}:{}{} ({} port(s)), rcvbuf {} B, {}; warm-up {} s, window {} s",
            a.bind,
            a.port,
            if a.rtcp { " (+RTCP on odd ports)" } else { "" },
            a.ports,
            rcvbuf_got,
            sched,
            a.warmup,
            a.duration
        );
    }

    // recvmmsg buffers.
    let mut bufs = vec![[0u8; PKT]; BATCH];
    let mut ctrl = vec![[0u8; CMSG]; BATCH];
    let mut names: Vec<libc::sockaddr_in> = vec![unsafe { mem::zeroed() }; BATCH];
    let mut iovs: Vec<libc::iovec> = Vec::with_capacity(BATCH);
    for b in bufs.iter_mut() {
        iovs.push(libc::iovec {
            iov_base: b.as_mut_ptr() as *mut libc::c_void,
            iov_len: PKT,
        });
    }
    let mut msgs: Vec<libc::mmsghdr> = vec![unsafe { mem::zeroed() }; BATCH];

    let mut pfds: Vec<libc::pollfd> = socks
        .iter()
        .map(|s| libc::pollfd {
            fd: s.sock.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let mut intervals: Vec<Interval> = Vec::new();
    let iv_ns = (a.interval * 1e9) as i64;
    let mut next_iv = if iv_ns > 0 { t_start + iv_ns } else { i64::MAX };
    let mut batches: u64 = 0;
    let mut cpu_start: Option<(f64, i64)> = None;
    loop {
        let now = now_ns();
        if cpu_start.is_none() && now >= t_start {
            cpu_start = Some((self_cpu_s(), now));
        }
        if now >= next_iv {
            intervals.push(Interval {
                t: (next_iv - t_start) as f64 / 1e9,
                streams: pr.i_streams.len(),
                packets: pr.i_packets,
                lost: pr.i_lost,
                hist: pr.hi.json(),
            });
            if !a.quiet {
                eprintln!(
                    "  t={:>5.1}s streams {} pps {:.0} lost {} jitter {}",
                    (next_iv - t_start) as f64 / 1e9,
                    pr.i_streams.len(),
                    pr.i_packets as f64 / a.interval,
                    pr.i_lost,
                    pr.hi.human()
                );
            }
            pr.hi.clear();
            pr.i_packets = 0;
            pr.i_lost = 0;
            pr.i_streams.clear();
            next_iv += iv_ns;
        }
        if now >= t_end {
            break;
        }
        let wait_ms = (((t_end - now) / 1_000_000).clamp(1, 100)) as i32;
        // SAFETY: pfds is a live array of pollfd of the given length.
        let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, wait_ms) };
        if n <= 0 {
            continue;
        }
        for (si, pfd) in pfds.iter_mut().enumerate() {
            if pfd.revents & libc::POLLIN == 0 {
                continue;
            }
            pfd.revents = 0;
            let fd = socks[si].sock.as_raw_fd();
            // Drain this socket (bounded, so one busy socket does not starve the others).
            for _ in 0..64 {
                for i in 0..BATCH {
                    msgs[i].msg_hdr.msg_name = &mut names[i] as *mut _ as *mut libc::c_void;
                    msgs[i].msg_hdr.msg_namelen = mem::size_of::<libc::sockaddr_in>() as u32;
                    msgs[i].msg_hdr.msg_iov = &mut iovs[i];
                    msgs[i].msg_hdr.msg_iovlen = 1;
                    msgs[i].msg_hdr.msg_control = ctrl[i].as_mut_ptr() as *mut libc::c_void;
                    msgs[i].msg_hdr.msg_controllen = CMSG as _;
                    msgs[i].msg_hdr.msg_flags = 0;
                    msgs[i].msg_len = 0;
                }
                // SAFETY: every mmsghdr points at live buffers owned above.
                let got = unsafe {
                    libc::recvmmsg(
                        fd,
                        msgs.as_mut_ptr(),
                        BATCH as u32,
                        libc::MSG_DONTWAIT,
                        std::ptr::null_mut(),
                    )
                };
                if got <= 0 {
                    break;
                }
                batches += 1;
                let tu = now_ns();
                for i in 0..got as usize {
                    let len = msgs[i].msg_len as usize;
                    let mut tk = tu;
                    // SAFETY: walking the control buffer the kernel filled, with libc's macros.
                    unsafe {
                        let mh = &msgs[i].msg_hdr;
                        let mut c = libc::CMSG_FIRSTHDR(mh);
                        while !c.is_null() {
                            if (*c).cmsg_level == libc::SOL_SOCKET {
                                if (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                                    let t: libc::timespec =
                                        std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const _);
                                    tk = t.tv_sec as i64 * 1_000_000_000 + t.tv_nsec as i64;
                                } else if (*c).cmsg_type == libc::SO_RXQ_OVFL {
                                    let d: u32 =
                                        std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const _);
                                    let s = &mut socks[si];
                                    s.first_ovfl.get_or_insert(d);
                                    s.last_ovfl = s.last_ovfl.max(d);
                                }
                            }
                            c = libc::CMSG_NXTHDR(mh, c);
                        }
                    }
                    let src_port = u16::from_be(names[i].sin_port);
                    let port_idx = if a.rtcp { si / 2 } else { si };
                    pr.on_packet(&bufs[i][..len], src_port, tk, tu, socks[si].rtcp, port_idx);
                }
                if (got as usize) < BATCH {
                    break;
                }
            }
        }
    }
    let send_report = sender.map(|(h, stop)| {
        stop.store(true, Ordering::Relaxed);
        h.join().unwrap_or_default()
    });
    let (cpu0, w0) = cpu_start.unwrap_or((self_cpu_s(), t_start));
    let probe_cpu_pct = 100.0 * (self_cpu_s() - cpu0) / ((now_ns() - w0) as f64 / 1e9).max(1e-3);

    // Summary.
    let active: Vec<&Stream> = pr
        .streams
        .values()
        .filter(|s| s.in_window >= a.min_packets)
        .collect();
    let n_active = active.len();
    let seen = pr.streams.values().filter(|s| s.in_window > 0).count();
    let j_mean = if n_active > 0 {
        active.iter().map(|s| s.j).sum::<f64>() / n_active as f64 / 8.0
    } else {
        0.0
    };
    let j_max = active.iter().map(|s| s.j).fold(0.0, f64::max) / 8.0;
    let mut per_stream_max: Vec<u64> = active.iter().map(|s| s.max_jit_us).collect();
    per_stream_max.sort_unstable();
    let psm_median = per_stream_max
        .get(per_stream_max.len() / 2)
        .copied()
        .unwrap_or(0);
    let socket_drops: u64 = socks
        .iter()
        .map(|s| (s.last_ovfl - s.first_ovfl.unwrap_or(s.last_ovfl)) as u64)
        .sum();
    let pps = pr.packets as f64 / a.duration;
    let expected = pr.packets - pr.dups + pr.lost;
    let loss_pct = if expected > 0 {
        100.0 * pr.lost as f64 / expected as f64
    } else {
        0.0
    };

    let mut js = String::new();
    let _ = write!(
        js,
        "{{\"label\":{:?},\"port\":{},\"ports\":{},\"warmup_s\":{},\"window_s\":{},\"ptime_ms\":{},\"sched\":{:?},\
         \"rcvbuf\":{},\"streams\":{},\"streams_seen\":{},\"min_packets\":{},\"packets\":{},\"bytes\":{},\"pps\":{:.1},\
         \"pps_per_stream\":{:.2},\"rtcp_packets\":{},\"not_rtp\":{},\"lost\":{},\"loss_pct\":{:.5},\"reordered\":{},\
         \"duplicates\":{},\"socket_drops\":{},\"jitter_kernel\":{},\"jitter_app\":{},\"rfc3550_j_mean_ms\":{:.4},\
         \"rfc3550_j_max_ms\":{:.4},\"per_stream_max_jitter_median_us\":{},\"probe_cpu_pct\":{:.1},\"batches\":{},\"intervals\":[",
        a.label,
        a.port,
        a.ports,
        a.warmup,
        a.duration,
        a.ptime_ms,
        sched,
        rcvbuf_got,
        n_active,
        seen,
        a.min_packets,
        pr.packets,
        pr.bytes,
        pps,
        if n_active > 0 { pps / n_active as f64 } else { 0.0 },
        pr.rtcp,
        pr.not_rtp,
        pr.lost,
        loss_pct,
        pr.reordered,
        pr.dups,
        socket_drops,
        pr.hk.json(),
        pr.hu.json(),
        j_mean,
        j_max,
        psm_median,
        probe_cpu_pct,
        batches
    );
    for (i, iv) in intervals.iter().enumerate() {
        if i > 0 {
            js.push(',');
        }
        let _ = write!(
            js,
            "{{\"t\":{:.1},\"streams\":{},\"packets\":{},\"lost\":{},\"jitter_kernel\":{}}}",
            iv.t, iv.streams, iv.packets, iv.lost, iv.hist
        );
    }
    js.push(']');
    if let Some(r) = &send_report {
        let lost = r.sent_window.saturating_sub(pr.tagged_rx);
        let silent = pr.rx_per_dest[..r.dests.min(MAX_DESTS)]
            .iter()
            .filter(|&&c| c == 0)
            .count();
        let _ = write!(
            js,
            ",\"send\":{{\"dests\":{},\"files_ports\":{:?},\"sent_total\":{},\"sent_window\":{},\"received_window\":{},\
             \"lost\":{},\"loss_pct\":{:.5},\"dests_silent\":{},\"negative_latency\":{},\"errors\":{},\"slots\":{},\
             \"late_max_us\":{},\"late_over_1ms\":{},\"late_over_5ms\":{},\"sender_cpu_pct\":{:.1},\"batch\":{},\
             \"latency\":{},\"latency_by_port\":[",
            r.dests,
            r.per_file,
            r.sent_total,
            r.sent_window,
            pr.tagged_rx,
            lost,
            if r.sent_window > 0 { 100.0 * lost as f64 / r.sent_window as f64 } else { 0.0 },
            silent,
            pr.tagged_negative,
            r.errors,
            r.slots,
            r.late_max_us,
            r.late_over_1ms,
            r.late_over_5ms,
            r.cpu_pct,
            a.send_batch,
            pr.lat.json()
        );
        for (i, h) in pr.lat_by_port.iter().enumerate() {
            if i > 0 {
                js.push(',');
            }
            let _ = write!(
                js,
                "{{\"port\":{},\"received\":{},\"latency\":{}}}",
                a.port + i as u16 * if a.rtcp { 2 } else { 1 },
                pr.tagged_rx_by_port[i],
                h.json()
            );
        }
        js.push_str("]}");
        if !a.quiet {
            println!(
                "  sender: {} destinations {:?}, sent {} in the window, received {} ({} lost, {:.4}%), {} destinations silent; send errors {}, slots late max {} µs (>1 ms {}, >5 ms {}); sender CPU {:.1}%",
                r.dests, r.per_file, r.sent_window, pr.tagged_rx, lost,
                if r.sent_window > 0 { 100.0 * lost as f64 / r.sent_window as f64 } else { 0.0 },
                silent, r.errors, r.late_max_us, r.late_over_1ms, r.late_over_5ms, r.cpu_pct
            );
            println!(
                "  latency send→receive (kernel arrival − send stamp): {}",
                pr.lat.human()
            );
            for (i, h) in pr.lat_by_port.iter().enumerate() {
                println!(
                    "    at port {}: {}",
                    a.port + i as u16 * if a.rtcp { 2 } else { 1 },
                    h.human()
                );
            }
        }
    }
    js.push('}');
    if let Some(path) = &a.json {
        if let Err(e) = std::fs::write(path, format!("{js}\n")) {
            eprintln!("rtp-probe: cannot write {path}: {e}");
        }
    }
    if !a.quiet {
        println!(
            "rtp-probe{}: window {} s: streams {} (≥{} packets; {} seen), packets {} ({:.0}/s, {:.2}/s per stream), RTCP {}",
            if a.label.is_empty() { String::new() } else { format!(" [{}]", a.label) },
            a.duration,
            n_active,
            a.min_packets,
            seen,
            pr.packets,
            pps,
            if n_active > 0 { pps / n_active as f64 } else { 0.0 },
            pr.rtcp
        );
        println!(
            "  jitter |Δt−{} ms| (kernel arrival): {}",
            a.ptime_ms,
            pr.hk.human()
        );
        println!(
            "  jitter |Δt−{} ms| (probe app clock): {}",
            a.ptime_ms,
            pr.hu.human()
        );
        println!(
            "  loss {} of {} ({:.4}%), reordered {}, duplicates {}, socket drops {}; RFC 3550 J mean {:.3} ms, max {:.3} ms; probe CPU {:.1}%",
            pr.lost, expected, loss_pct, pr.reordered, pr.dups, socket_drops, j_mean, j_max, probe_cpu_pct
        );
    } else {
        println!("{js}");
    }
}

/// This process's user+system CPU seconds.
fn self_cpu_s() -> f64 {
    // SAFETY: getrusage writes into the struct we pass.
    unsafe {
        let mut ru: libc::rusage = mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru.ru_utime.tv_sec as f64
            + ru.ru_utime.tv_usec as f64 / 1e6
            + ru.ru_stime.tv_sec as f64
            + ru.ru_stime.tv_usec as f64 / 1e6
    }
}

// --- sender mode ---------------------------------------------------------------------------

struct SendCfg {
    files: Vec<String>,
    bind: Ipv4Addr,
    /// CLOCK_REALTIME ns at which to read the files and start sending.
    start_ns: i64,
    end_ns: i64,
    tag_from: i64,
    tag_to: i64,
    ptime_ms: u64,
    batch: usize,
}

#[derive(Default)]
struct SendReport {
    dests: usize,
    per_file: Vec<usize>,
    sent_total: u64,
    sent_window: u64,
    errors: u64,
    slots: u64,
    late_max_us: u64,
    late_over_1ms: u64,
    late_over_5ms: u64,
    cpu_pct: f64,
}

/// Ports from lines `… RTPPORT <port> …` (SIPp `<log>` output), in file order.
fn read_ports(path: &str) -> Vec<u16> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let at = l.find("RTPPORT ")?;
            l[at + 8..].split_whitespace().next()?.parse::<u16>().ok()
        })
        .filter(|&p| p != 0)
        .collect()
}

#[allow(clippy::unnecessary_cast)]
fn clock_ns(clock: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the struct we pass.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as i64 * 1_000_000_000 + ts.tv_nsec as i64
}

fn sleep_until_mono(ns: i64) {
    let ts = libc::timespec {
        tv_sec: (ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (ns % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: absolute sleep on the monotonic clock with a valid timespec.
    while unsafe {
        libc::clock_nanosleep(
            libc::CLOCK_MONOTONIC,
            libc::TIMER_ABSTIME,
            &ts,
            std::ptr::null_mut(),
        )
    } == libc::EINTR
    {}
}

const RTP_LEN: usize = 12 + 160;

fn run_sender(cfg: SendCfg, stop: &AtomicBool) -> SendReport {
    let mut rep = SendReport::default();
    // Wait for the start (realtime target mapped onto the monotonic clock).
    let mono_start = clock_ns(libc::CLOCK_MONOTONIC) + (cfg.start_ns - now_ns()).max(0);
    sleep_until_mono(mono_start);
    let mut dests: Vec<u16> = Vec::new();
    for f in &cfg.files {
        let p = read_ports(f);
        rep.per_file.push(p.len());
        dests.extend(p);
    }
    rep.dests = dests.len();
    if dests.is_empty() {
        eprintln!("rtp-probe: sender: no RTPPORT lines in {:?}", cfg.files);
        return rep;
    }
    let sock = match UdpSocket::bind(SocketAddrV4::new(cfg.bind, 0)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rtp-probe: sender: cannot bind: {e}");
            return rep;
        }
    };
    let fd = sock.as_raw_fd();
    let _ = setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, 8 << 20);
    let addrs: Vec<libc::sockaddr_in> = dests
        .iter()
        .map(|&p| {
            // SAFETY: sockaddr_in is plain data.
            let mut sa: libc::sockaddr_in = unsafe { mem::zeroed() };
            sa.sin_family = libc::AF_INET as libc::sa_family_t;
            sa.sin_port = p.to_be();
            sa.sin_addr.s_addr = u32::from(cfg.bind).to_be();
            sa
        })
        .collect();
    let n = dests.len();
    let mut seq: Vec<u16> = (0..n).map(|i| (i as u16).wrapping_mul(7919)).collect();
    let mut ts: Vec<u32> = (0..n).map(|i| (i as u32).wrapping_mul(104_729)).collect();
    // One group of destinations per 1 ms slot, so the 20 ms are evenly loaded.
    let groups = cfg.ptime_ms.max(1) as usize;
    let batch = cfg.batch;
    let mut pkts = vec![[0xffu8; RTP_LEN]; batch];
    let mut iovs: Vec<libc::iovec> = pkts
        .iter_mut()
        .map(|p| libc::iovec {
            iov_base: p.as_mut_ptr() as *mut libc::c_void,
            iov_len: RTP_LEN,
        })
        .collect();
    // SAFETY: mmsghdr is plain data; pointers are set before each call.
    let mut msgs: Vec<libc::mmsghdr> = vec![unsafe { mem::zeroed() }; batch];
    let mut names: Vec<libc::sockaddr_in> = vec![addrs[0]; batch];
    let cpu0 = clock_ns(libc::CLOCK_THREAD_CPUTIME_ID);
    let w0 = clock_ns(libc::CLOCK_MONOTONIC);
    let mut slot: u64 = 0;
    let mut late_max: i64 = 0;
    while !stop.load(Ordering::Relaxed) && now_ns() < cfg.end_ns {
        let due = mono_start + slot as i64 * 1_000_000;
        sleep_until_mono(due);
        let late = clock_ns(libc::CLOCK_MONOTONIC) - due;
        late_max = late_max.max(late);
        if late > 1_000_000 {
            rep.late_over_1ms += 1;
        }
        if late > 5_000_000 {
            rep.late_over_5ms += 1;
        }
        let g = (slot % groups as u64) as usize;
        let mut idx: Vec<usize> = Vec::with_capacity(batch);
        let mut i = g;
        while i < n {
            idx.clear();
            while i < n && idx.len() < batch {
                idx.push(i);
                i += groups;
            }
            let stamp = now_ns();
            for (k, &d) in idx.iter().enumerate() {
                let p = &mut pkts[k];
                p[0] = 0x80;
                p[1] = 0; // PCMU, no marker
                p[2..4].copy_from_slice(&seq[d].to_be_bytes());
                p[4..8].copy_from_slice(&ts[d].to_be_bytes());
                p[8..12].copy_from_slice(&(0x5eed_0000u32 ^ d as u32).to_be_bytes());
                p[12..16].copy_from_slice(&MAGIC);
                p[16..24].copy_from_slice(&stamp.to_be_bytes());
                p[24..28].copy_from_slice(&(d as u32).to_be_bytes());
                seq[d] = seq[d].wrapping_add(1);
                ts[d] = ts[d].wrapping_add(160);
                names[k] = addrs[d];
                let m = &mut msgs[k];
                m.msg_hdr.msg_name = &mut names[k] as *mut _ as *mut libc::c_void;
                m.msg_hdr.msg_namelen = mem::size_of::<libc::sockaddr_in>() as u32;
                m.msg_hdr.msg_iov = &mut iovs[k];
                m.msg_hdr.msg_iovlen = 1;
                m.msg_hdr.msg_control = std::ptr::null_mut();
                m.msg_hdr.msg_controllen = 0;
                m.msg_hdr.msg_flags = 0;
                m.msg_len = 0;
            }
            let mut off = 0;
            while off < idx.len() {
                // SAFETY: msgs[off..len] point at live buffers and addresses owned above.
                let r = unsafe {
                    libc::sendmmsg(fd, msgs[off..].as_mut_ptr(), (idx.len() - off) as u32, 0)
                };
                if r <= 0 {
                    // Skip the message that failed (the destination counts it as lost).
                    rep.errors += 1;
                    off += 1;
                    continue;
                }
                let r = r as usize;
                rep.sent_total += r as u64;
                if stamp >= cfg.tag_from && stamp < cfg.tag_to {
                    rep.sent_window += r as u64;
                }
                off += r;
            }
        }
        slot += 1;
        // Far behind (the machine stalled): skip ahead rather than bursting the backlog.
        let now = clock_ns(libc::CLOCK_MONOTONIC);
        let behind = (now - (mono_start + slot as i64 * 1_000_000)) / 1_000_000;
        if behind > 100 {
            slot += behind as u64 / groups as u64 * groups as u64;
        }
    }
    rep.slots = slot;
    rep.late_max_us = (late_max.max(0) / 1000) as u64;
    let wall = (clock_ns(libc::CLOCK_MONOTONIC) - w0) as f64;
    rep.cpu_pct = 100.0 * (clock_ns(libc::CLOCK_THREAD_CPUTIME_ID) - cpu0) as f64 / wall.max(1.0);
    rep
}
