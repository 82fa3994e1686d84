//! Test harness shared by the integration tests: a real `centrale serve` process on loopback
//! ports of its own, SIPp runs, and an RTP sink that records what the server sends so tests
//! can check packets (count, sequence, timestamps, pacing) and audio (correlation with the
//! expected prompt).
#![allow(dead_code)]

pub mod baresip;
pub mod dnsmasq;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use centrale::media::g711::Law;
use centrale::media::prompt::{Lang, Prompt, PromptSet};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Ports for one test: every test gets its own block so tests can run in parallel.
pub fn port_block(size: u16) -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // Spread processes (test binaries run concurrently) by pid. Below the kernel's ephemeral
    // range (32768–60999 here): a port checked free there can be taken by any outgoing socket
    // before SIPp binds it (seen: SIPp's media port, "Address already in use").
    // A window of 4 000 ports per process: a test binary's tests (and a test that restarts its
    // server) take a few hundred each, and a block handed out twice — after the counter wraps —
    // collides with a port a running test has not bound yet (seen: a gateway's port).
    let base = 10000 + (std::process::id() % 5) as u16 * 4500;
    loop {
        let off = NEXT.fetch_add(size, Ordering::SeqCst) % 4000;
        let start = base + off;
        let free = (start..start + size).all(|p| {
            UdpSocket::bind(("127.0.0.1", p)).is_ok() && TcpListener::bind(("127.0.0.1", p)).is_ok()
        });
        if free {
            return start;
        }
    }
}

/// The shipped prompts, decoded once per test binary.
pub fn prompts() -> &'static PromptSet {
    static P: OnceLock<PromptSet> = OnceLock::new();
    P.get_or_init(|| PromptSet::load(&root().join("prompts")).expect("shipped prompts load"))
}

pub fn prompt(id: &str, lang: Lang) -> Arc<Prompt> {
    prompts()
        .get(id, lang)
        .unwrap_or_else(|| panic!("prompt {id} {lang} exists"))
}

/// Copy a shipped plan so its gateway targets (127.0.0.1:5070 in the shipped files) point at a
/// test's own SIPp gateway. Returns the copy's directory.
pub fn plan_with_gateway(name: &str, gateway_port: u16, dir: &Path) -> PathBuf {
    let src = root().join("dialplans").join(name);
    let dst = dir.join(format!("plan-{name}"));
    std::fs::create_dir_all(&dst).expect("plan dir");
    for e in std::fs::read_dir(&src).expect("read plan").flatten() {
        let text = std::fs::read_to_string(e.path()).expect("read plan file");
        let text = text.replace("127.0.0.1:5070", &format!("127.0.0.1:{gateway_port}"));
        std::fs::write(dst.join(e.file_name()), text).expect("write plan file");
    }
    dst
}

pub struct ServerOpts {
    pub dialplan: PathBuf,
    pub clock: Option<String>,
    /// Lines added to the [sip] section.
    pub sip_extra: String,
    /// Whole sections appended to the config.
    pub extra_config: String,
    pub database: Option<String>,
    /// agents.toml to use (default: an empty one in the server's directory).
    pub agents: Option<PathBuf>,
    /// Serve the admin API on this port (off by default).
    pub admin_port: Option<u16>,
    /// Serve the agent desktop (HTTPS) on a port of its own (off by default).
    pub web: bool,
    /// The prompt directory (default: the repository's; a test that uploads prompts uses a
    /// copy).
    pub prompts: Option<PathBuf>,
}

impl ServerOpts {
    pub fn plan(name: &str) -> ServerOpts {
        ServerOpts {
            dialplan: root().join("dialplans").join(name),
            clock: None,
            sip_extra: String::new(),
            extra_config: String::new(),
            database: None,
            agents: None,
            admin_port: None,
            web: false,
            prompts: None,
        }
    }
}

pub struct Server {
    pub child: Child,
    pub sip_port: u16,
    /// The agent desktop's HTTPS port, when `ServerOpts::web`.
    pub web_port: Option<u16>,
    pub rtp_range: (u16, u16),
    pub dir: tempfile::TempDir,
    pub db_url: String,
    pub log: PathBuf,
}

impl Server {
    pub fn start(opts: ServerOpts) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let sip_port = port_block(2);
        let rtp = port_block(40);
        let db_url = opts
            .database
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("calls.db").display()));
        let config = format!(
            "[sip]\nudp = [\"127.0.0.1:{sip_port}\"]\ntcp = [\"127.0.0.1:{sip_port}\"]\n{}{}\
             [media]\nrtp_min = {rtp}\nrtp_max = {}\nthreads = 1\n\
             [paths]\nprompts = \"{}\"\ndialplan = \"{}\"\nagents = \"{}\"\nrecordings = \"{}\"\njournal = \"{}\"\n\
             [database]\nurl = \"{db_url}\"\nbatch_ms = 50\n\
             [admin]\n{}\n\
             {}\n",
            opts.sip_extra,
            // SIP over TLS only where a test asks for it (the default port is shared).
            if opts.sip_extra.contains("tls =") { "" } else { "tls = []\n" },
            rtp + 39,
            opts.prompts
                .clone()
                .unwrap_or_else(|| root().join("prompts"))
                .display(),
            opts.dialplan.display(),
            opts.agents
                .clone()
                .unwrap_or_else(|| dir.path().join("agents.toml"))
                .display(),
            dir.path().join("recordings").display(),
            dir.path().join("journal").display(),
            opts.admin_port
                .map(|p| format!("listen = \"127.0.0.1:{p}\"\ntoken = \"{ADMIN_TOKEN}\""))
                .unwrap_or_default(),
            opts.extra_config,
        );
        let cfg_path = dir.path().join("centrale.toml");
        std::fs::write(&cfg_path, config).expect("write config");
        let log = dir.path().join("server.log");
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_centrale"));
        cmd.arg("--config")
            .arg(&cfg_path)
            .arg("--log")
            .arg("info,centrale=debug")
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(log_file);
        if let Some(c) = &opts.clock {
            cmd.arg("--clock").arg(c);
        }
        if opts.admin_port.is_none() {
            cmd.arg("--admin").arg("off");
        }
        let web_port = opts.web.then(|| port_block(1));
        match web_port {
            Some(p) => cmd.arg("--web").arg(format!("127.0.0.1:{p}")),
            None => cmd.arg("--web").arg("off"),
        };
        let mut child = cmd.spawn().expect("spawn centrale");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(l) if l.contains("centrale listening") => break,
                Ok(_) => {}
                Err(_) => {
                    if let Ok(Some(st)) = child.try_wait() {
                        panic!(
                            "server exited early ({st}): {}",
                            std::fs::read_to_string(&log).unwrap_or_default()
                        );
                    }
                    assert!(Instant::now() < deadline, "server did not start in 60 s");
                }
            }
        }
        Server {
            child,
            sip_port,
            web_port,
            rtp_range: (rtp, rtp + 39),
            dir,
            db_url,
            log,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.sip_port))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Send SIGTERM and wait (graceful: calls drain, the store flushes).
    pub fn stop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(40);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The result of a SIPp run.
#[derive(Debug)]
pub struct SippRun {
    pub ok: bool,
    pub stdout: String,
    pub errors: String,
    pub messages: String,
    /// `<log>` lines the scenario wrote.
    pub logs: String,
}

pub struct Sipp<'a> {
    scenario: String,
    /// None: SIPp waits for calls (UAS) on `local_port`.
    target: Option<SocketAddr>,
    local_port: Option<u16>,
    keys: Vec<(String, String)>,
    extra: Vec<String>,
    tcp: bool,
    timeout_s: u64,
    calls: u32,
    dir: &'a Path,
}

impl<'a> Sipp<'a> {
    pub fn new(scenario: &str, target: SocketAddr, dir: &'a Path) -> Sipp<'a> {
        Sipp {
            scenario: scenario.to_string(),
            target: Some(target),
            local_port: None,
            keys: vec![
                ("service".into(), "311".into()),
                ("bye_timeout".into(), "30000".into()),
            ],
            extra: Vec::new(),
            tcp: false,
            timeout_s: 60,
            calls: 1,
            dir,
        }
    }

    /// SIPp as a server (a transfer gateway, an agent) listening on `port`.
    pub fn uas(scenario: &str, port: u16, dir: &'a Path) -> Sipp<'a> {
        let mut s = Sipp::new(scenario, SocketAddr::from(([127, 0, 0, 1], 0)), dir);
        s.target = None;
        s.local_port = Some(port);
        s
    }

    pub fn key(mut self, k: &str, v: impl ToString) -> Self {
        self.keys.retain(|(x, _)| x != k);
        self.keys.push((k.to_string(), v.to_string()));
        self
    }

    pub fn arg(mut self, a: &str) -> Self {
        self.extra.push(a.to_string());
        self
    }

    pub fn tcp(mut self) -> Self {
        self.tcp = true;
        self
    }

    pub fn timeout(mut self, s: u64) -> Self {
        self.timeout_s = s;
        self
    }

    pub fn calls(mut self, n: u32) -> Self {
        self.calls = n;
        self
    }

    pub fn run(self) -> SippRun {
        self.spawn().wait()
    }

    /// Start SIPp and return at once (to run a gateway or a second caller alongside).
    pub fn spawn(self) -> SippHandle {
        let local_port = self.local_port.unwrap_or_else(|| port_block(8));
        // SIPp substitutes -key values in message text but not in attributes such as
        // <pause milliseconds> or timeout=, so substitute our keys in the scenario ourselves.
        let stem = self.scenario.trim_end_matches(".xml");
        let mut text = std::fs::read_to_string(root().join("tests/sipp").join(&self.scenario))
            .expect("read scenario");
        for (k, v) in &self.keys {
            text = text.replace(&format!("[{k}]"), v);
        }
        let scenario = self.dir.join(format!("{stem}-{local_port}.xml"));
        std::fs::write(&scenario, text).expect("write scenario");
        let err_file = self.dir.join(format!("{stem}-{local_port}-errors.log"));
        let msg_file = self.dir.join(format!("{stem}-{local_port}-messages.log"));
        let log_file = self.dir.join(format!("{stem}-{local_port}-logs.log"));
        let mut cmd = Command::new("timeout");
        cmd.args(["-k", "5", "-s", "INT", &self.timeout_s.to_string(), "sipp"])
            .arg("-sf")
            .arg(&scenario);
        if let Some(t) = self.target {
            cmd.arg(t.to_string());
        }
        cmd.args(["-i", "127.0.0.1", "-p", &local_port.to_string()])
            .args(["-mp", &(local_port + 2).to_string()])
            .args(["-m", &self.calls.to_string()])
            .args(["-nostdin", "-trace_err", "-trace_msg", "-trace_logs"])
            .arg("-error_file")
            .arg(&err_file)
            .arg("-message_file")
            .arg(&msg_file)
            .arg("-log_file")
            .arg(&log_file)
            .args(["-buff_size", "4194304"]);
        if self.target.is_some() {
            cmd.args(["-l", &self.calls.to_string()]);
        }
        if self.tcp {
            cmd.args(["-t", "t1"]);
        }
        cmd.args(&self.extra);
        cmd.current_dir(self.dir);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let child = cmd.spawn().expect("run sipp (apt-get install sip-tester)");
        SippHandle {
            child,
            err_file,
            msg_file,
            log_file,
        }
    }
}

pub struct SippHandle {
    child: Child,
    err_file: PathBuf,
    msg_file: PathBuf,
    log_file: PathBuf,
}

impl SippHandle {
    pub fn wait(self) -> SippRun {
        let out = self.child.wait_with_output().expect("sipp output");
        SippRun {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
            errors: std::fs::read_to_string(&self.err_file).unwrap_or_default(),
            messages: std::fs::read_to_string(&self.msg_file).unwrap_or_default(),
            logs: std::fs::read_to_string(&self.log_file).unwrap_or_default(),
        }
    }
}

impl SippRun {
    pub fn assert_ok(&self) {
        assert!(
            self.ok,
            "sipp failed\n--- errors ---\n{}\n--- messages ---\n{}\n--- output ---\n{}",
            self.errors, self.messages, self.stdout
        );
    }
}

/// One received RTP packet.
#[derive(Debug, Clone)]
pub struct Packet {
    pub at: Instant,
    pub pt: u8,
    pub marker: bool,
    pub seq: u16,
    pub ts: u32,
    pub ssrc: u32,
    pub payload: Vec<u8>,
}

/// Receives RTP on a port in the background.
pub struct RtpSink {
    pub port: u16,
    packets: Arc<Mutex<Vec<Packet>>>,
    /// RTCP packets that arrived on port + 1.
    rtcp: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RtpSink {
    pub fn start() -> RtpSink {
        let port = port_block(2);
        let sock = UdpSocket::bind(("127.0.0.1", port)).expect("bind sink");
        sock.set_read_timeout(Some(Duration::from_millis(50))).ok();
        let packets = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let rtcp = Arc::new(Mutex::new(Vec::new()));
        let rtcp_sock = UdpSocket::bind(("127.0.0.1", port + 1)).expect("bind rtcp sink");
        rtcp_sock
            .set_read_timeout(Some(Duration::from_millis(50)))
            .ok();
        let (r, s2) = (rtcp.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !s2.load(Ordering::Relaxed) {
                if let Ok(n) = rtcp_sock.recv(&mut buf) {
                    r.lock().unwrap().push(buf[..n].to_vec());
                }
            }
        });
        let (p, s) = (packets.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !s.load(Ordering::Relaxed) {
                if let Ok(n) = sock.recv(&mut buf) {
                    if let Some(v) = centrale::media::rtp::parse(&buf[..n]) {
                        p.lock().unwrap().push(Packet {
                            at: Instant::now(),
                            pt: v.payload_type,
                            marker: v.marker,
                            seq: v.seq,
                            ts: v.timestamp,
                            ssrc: v.ssrc,
                            payload: v.payload.to_vec(),
                        });
                    }
                }
            }
        });
        RtpSink {
            port,
            packets,
            rtcp,
            stop,
            thread: Some(thread),
        }
    }

    pub fn packets(&self) -> Vec<Packet> {
        self.packets.lock().unwrap().clone()
    }

    pub fn rtcp(&self) -> Vec<Vec<u8>> {
        self.rtcp.lock().unwrap().clone()
    }

    pub fn finish(mut self) -> Vec<Packet> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.packets()
    }
}

/// Checks on a received stream: one SSRC, consecutive sequence numbers, timestamps advancing
/// by 160 per packet, and the median inter-arrival near 20 ms. Returns the median in ms.
pub fn assert_stream_continuity(packets: &[Packet]) -> f64 {
    assert!(packets.len() > 10, "too few RTP packets: {}", packets.len());
    let ssrc = packets[0].ssrc;
    for w in packets.windows(2) {
        assert_eq!(w[1].ssrc, ssrc, "one SSRC per call");
        assert_eq!(
            w[1].seq,
            w[0].seq.wrapping_add(1),
            "sequence continuity at {}",
            w[0].seq
        );
        assert_eq!(
            w[1].ts,
            w[0].ts.wrapping_add(160),
            "timestamp continuity at seq {}",
            w[0].seq
        );
        assert_eq!(w[1].payload.len(), 160);
    }
    assert!(packets[0].marker, "first packet carries the marker bit");
    let mut gaps: Vec<f64> = packets
        .windows(2)
        .map(|w| (w[1].at - w[0].at).as_secs_f64() * 1000.0)
        .collect();
    gaps.sort_by(|a, b| a.total_cmp(b));
    let median = gaps[gaps.len() / 2];
    // Not a timing assertion (benchmarks measure that): a stream sent in bursts or at the
    // wrong packet size would be far off.
    assert!(
        (15.0..25.0).contains(&median),
        "median inter-arrival {median:.2} ms"
    );
    median
}

/// Decode a run of packets to PCM.
pub fn decode(packets: &[Packet], law: Law) -> Vec<i16> {
    let mut pcm = Vec::with_capacity(packets.len() * 160);
    for p in packets {
        let mut f = vec![0i16; p.payload.len()];
        law.decode(&p.payload, &mut f);
        pcm.extend_from_slice(&f);
    }
    pcm
}

/// Where a prompt was heard: the frame index it starts at, how many of its frames arrived
/// intact in a row, and the normalised correlation between what arrived and the prompt.
#[derive(Debug, Clone, Copy)]
pub struct Heard {
    pub start: usize,
    pub frames: usize,
    pub correlation: f64,
}

/// Find `prompt` in the stream: best frame-aligned normalised correlation of the decoded audio
/// with the prompt's audio, plus the run of byte-identical frames from there.
pub fn find_prompt(packets: &[Packet], prompt: &Prompt, law: Law) -> Option<Heard> {
    let pcm = decode(packets, law);
    let reference: Vec<f64> = prompt.pcm.iter().map(|&s| s as f64).collect();
    let ref_energy: f64 = reference.iter().map(|x| x * x).sum();
    if ref_energy == 0.0 || pcm.len() < 160 {
        return None;
    }
    // Sample offset of each packet (relayed packets may carry 10–60 ms).
    let offsets: Vec<usize> = packets
        .iter()
        .scan(0usize, |acc, p| {
            let at = *acc;
            *acc += p.payload.len();
            Some(at)
        })
        .collect();
    let mut best: Option<Heard> = None;
    for start in 0..packets.len() {
        let off = offsets[start];
        if off >= pcm.len() {
            break;
        }
        let n = reference.len().min(pcm.len() - off);
        if n < reference.len() / 2 {
            break;
        }
        let seg = &pcm[off..off + n];
        let dot: f64 = seg
            .iter()
            .zip(&reference)
            .map(|(&a, &b)| a as f64 * b)
            .sum();
        let e: f64 = seg.iter().map(|&a| (a as f64) * (a as f64)).sum();
        let refe: f64 = reference[..n].iter().map(|x| x * x).sum();
        if e == 0.0 {
            continue;
        }
        let corr = dot / (e.sqrt() * refe.sqrt());
        if best.is_none_or(|b| corr > b.correlation) {
            let mut frames = 0;
            while frames < prompt.frames()
                && start + frames < packets.len()
                && packets[start + frames].payload == prompt.frame(law, frames)
            {
                frames += 1;
            }
            best = Some(Heard {
                start,
                frames,
                correlation: corr,
            });
        }
    }
    best
}

/// Assert a prompt was played whole: strong correlation and every frame present.
pub fn assert_heard_whole(packets: &[Packet], id: &str, lang: Lang) -> Heard {
    let p = prompt(id, lang);
    let h = find_prompt(packets, &p, Law::Ulaw).unwrap_or_else(|| panic!("{lang}:{id} not found"));
    assert!(
        h.correlation > 0.95,
        "{lang}:{id} correlation {:.3}",
        h.correlation
    );
    assert_eq!(
        h.frames,
        p.frames(),
        "{lang}:{id}: {} of {} frames arrived intact in a row",
        h.frames,
        p.frames()
    );
    h
}

/// Assert a prompt was not played (beyond chance similarity).
pub fn assert_not_heard(packets: &[Packet], id: &str, lang: Lang) {
    let p = prompt(id, lang);
    if let Some(h) = find_prompt(packets, &p, Law::Ulaw) {
        assert!(
            h.frames < p.frames() / 2,
            "{lang}:{id} was played ({} frames, correlation {:.3})",
            h.frames,
            h.correlation
        );
    }
}

/// The call log, read with the server's own store code (SQLite or PostgreSQL).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

pub fn db_calls(url: &str) -> Vec<centrale::report::cdr::CallRow> {
    block_on(async {
        let db = centrale::store::db::Db::open(url).await.unwrap();
        let rows = centrale::store::query::all_calls(&db).await.unwrap();
        db.close().await;
        rows
    })
}

pub fn db_events(url: &str, call: &str) -> Vec<centrale::event::CallEvent> {
    block_on(async {
        let db = centrale::store::db::Db::open(url).await.unwrap();
        let ev = centrale::store::query::events(&db, call).await.unwrap();
        db.close().await;
        ev
    })
}

/// Event names of a call, in order.
pub fn event_names(url: &str, call: &str) -> Vec<&'static str> {
    db_events(url, call).iter().map(|e| e.kind.name()).collect()
}

/// Wait until the log holds `n` finished citizen calls (agents' feature-code calls aside; the
/// writer batches every 50 ms in tests). Returns those calls, oldest first.
pub fn wait_calls(url: &str, n: usize) -> Vec<centrale::report::cdr::CallRow> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut rows: Vec<_> = db_calls(url)
            .into_iter()
            .filter(|r| !r.entry.as_deref().unwrap_or("").starts_with('*'))
            .collect();
        rows.sort_by_key(|r| r.start_ms);
        if rows.iter().filter(|r| r.end_ms.is_some()).count() >= n {
            return rows;
        }
        assert!(
            Instant::now() < deadline,
            "{} finished calls expected, have {rows:?}",
            n
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A bare HTTP/1.1 request to the admin API: (status, body).
/// The `[admin] token` of every test server with an admin listener.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// A request to the local admin listener with the test servers' `[admin] token`.
pub fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    http_as(port, method, path, body, Some(ADMIN_TOKEN))
}

/// A request to the local admin listener with this bearer token, or none.
pub fn http_as(
    port: u16,
    method: &str,
    path: &str,
    body: &str,
    token: Option<&str>,
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("admin API");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The log of a server that took exactly one citizen call: its row, with events numbered from 0
/// without gaps, opening with `call_started` and closing with `call_ended`, and the outcome
/// expected.
pub fn assert_one_call_logged(url: &str, outcome: &str) -> centrale::report::cdr::CallRow {
    let rows = wait_calls(url, 1);
    assert_eq!(rows.len(), 1, "one call row: {rows:?}");
    let row = rows.into_iter().next().unwrap();
    assert_eq!(row.outcome, outcome, "{row:?}");
    assert_events_well_formed(url, &row.call_id);
    row
}

pub fn assert_events_well_formed(url: &str, call: &str) {
    let events = db_events(url, call);
    let seqs: Vec<u32> = events
        .iter()
        .map(|e| e.seq)
        .filter(|&s| s != centrale::event::WRAPUP_SEQ && s != centrale::event::RESUMED_SEQ)
        .collect();
    assert_eq!(
        seqs,
        (0..seqs.len() as u32).collect::<Vec<_>>(),
        "events in order, no gap"
    );
    assert_eq!(events.first().map(|e| e.kind.name()), Some("call_started"));
    let last = events
        .iter()
        .rev()
        .find(|e| e.seq != centrale::event::WRAPUP_SEQ && e.seq != centrale::event::RESUMED_SEQ)
        .map(|e| e.kind.name());
    assert_eq!(last, Some("call_ended"));
}

/// Runs the `centrale` binary (not a server) in the repository root, without the caller's
/// `DATABASE_URL`; panics with its stderr when it fails, else returns its stdout.
pub fn centrale_cli(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_centrale"))
        .current_dir(root())
        .args(args)
        .env_remove("DATABASE_URL")
        .env("CENTRALE_LOG", "warn")
        .output()
        .expect("run centrale");
    assert!(
        out.status.success(),
        "centrale {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether a frequency carries a good share of the signal somewhere (Goertzel over 100 ms
/// windows).
pub fn hz_present(pcm: &[i16], hz: f64) -> bool {
    let n = 800;
    let k = (0.5 + n as f64 * hz / 8000.0).floor();
    let w = 2.0 * std::f64::consts::PI * k / n as f64;
    let coeff = 2.0 * w.cos();
    pcm.chunks(n).filter(|c| c.len() == n).any(|c| {
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        let mut energy = 0.0;
        for &x in c {
            let x = x as f64;
            energy += x * x;
            let s0 = x + coeff * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
        energy > 1e6 && power / (energy * n as f64 / 2.0) > 0.5
    })
}

/// Payloads of the RTP packets in a pcap (Ethernet/IPv4/UDP/RTP, no extensions).
pub fn pcap_payloads(path: &str) -> Vec<Vec<u8>> {
    let data = std::fs::read(path).unwrap();
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= data.len() {
        let incl = u32::from_le_bytes(data[off + 8..off + 12].try_into().unwrap()) as usize;
        let pkt = &data[off + 16..off + 16 + incl];
        off += 16 + incl;
        if pkt.len() > 14 + 20 + 8 + 12 {
            out.push(pkt[14 + 20 + 8 + 12..].to_vec());
        }
    }
    out
}

/// Runs a `centrale` command against a running server's database (user and token
/// management), with `stdin`; its trimmed stdout.
pub fn cli(server: &Server, args: &[&str], stdin: &str) -> String {
    use std::io::Write;
    let cfg = server.dir.path().join("cli.toml");
    std::fs::write(&cfg, format!("[database]\nurl = \"{}\"\n", server.db_url)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_centrale"))
        .arg("--config")
        .arg(&cfg)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "centrale {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The one finished call was handed on after a consultation (attended transfer): its row names
/// `first` as the agent who answered and counts one transfer; its log has the consultation's
/// steps and both agents' answers.
pub fn assert_attended_transfer_logged(url: &str, first: &str) {
    let rows = wait_calls(url, 1);
    let row = rows
        .iter()
        .find(|r| r.transfers == 1)
        .unwrap_or_else(|| panic!("{rows:?}"));
    assert!(row.answered, "{row:?}");
    assert_eq!(row.agent.as_deref(), Some(first), "{row:?}");
    let names = event_names(url, &row.call_id);
    for step in [
        "consult",
        "consult_answered",
        "consult_ended",
        "agent_transfer",
    ] {
        assert!(names.contains(&step), "{step}: {names:?}");
    }
    let answers = names.iter().filter(|n| **n == "agent_answered").count();
    assert_eq!(answers, 2, "{names:?}");
}

/// A caller who presses 1 (French) then 0 (an agent) and stays until we hang up.
pub fn caller_until_bye(server: &Server, sink: &RtpSink) -> SippHandle {
    let dtmf = |d: char| format!("/usr/share/sip-tester/dtmf_2833_{d}.pcap");
    Sipp::new("call_two_digits.xml", server.addr(), server.dir.path())
        .key("rtp_port", sink.port)
        .key("pre_ms", 1000)
        .key("pcap", dtmf('1'))
        .key("gap_ms", 1500)
        .key("pcap2", dtmf('0'))
        .key("bye_timeout", 60000)
        .timeout(120)
        .spawn()
}
