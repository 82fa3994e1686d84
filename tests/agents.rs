//! Issue 4's proof with real softphones: baresip agents register with digest auth and log in by
//! feature code; SIPp callers go through the IVR to a queue; the right agent rings; audio flows
//! both ways through the bridge; hang-up on either side ends both legs; wrap-up delays the next
//! offer; an agent that does not answer is skipped and paused; bad credentials are refused and
//! a REGISTER flood from one address is throttled while another agent still registers. Every
//! call's rows in the log are checked.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use centrale::media::g711::Law;
use common::baresip::{tone_wav, AgentPhone, Baresip};
use common::*;

const OPEN: &str = "2027-04-16T10:00";
const DTMF: &str = "/usr/share/sip-tester";

fn dtmf(d: char) -> String {
    format!("{DTMF}/dtmf_2833_{d}.pcap")
}

/// Add an agent with the real CLI (password on stdin, stored as digests only).
fn add_agent(agents: &Path, id: &str, password: &str, skills: &str, wrapup: u64) {
    let cfg = agents.with_extension("cfg.toml");
    std::fs::write(
        &cfg,
        format!("[paths]\nagents = \"{}\"\n", agents.display()),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_centrale"))
        .arg("--config")
        .arg(&cfg)
        .args(["agent", "add", id, "--skills", skills, "--wrapup"])
        .arg(wrapup.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let text = std::fs::read_to_string(agents).unwrap();
    assert!(!text.contains(password), "no password on disk");
}

struct Centre {
    server: Server,
    dir: tempfile::TempDir,
}

fn centre(agents: &[(&str, &str, u64)], acd: &str) -> Centre {
    centre_with(agents, acd, "")
}

/// `sip_extra`: lines for the server's [sip] section.
fn centre_with(agents: &[(&str, &str, u64)], acd: &str, sip_extra: &str) -> Centre {
    let dir = tempfile::tempdir().unwrap();
    let agents_file = dir.path().join("agents.toml");
    for (id, skills, wrapup) in agents {
        add_agent(
            &agents_file,
            id,
            &format!("pw-{id}-secret"),
            skills,
            *wrapup,
        );
    }
    let mut opts = ServerOpts::plan("quebec");
    opts.clock = Some(OPEN.into());
    opts.agents = Some(agents_file);
    opts.extra_config = format!("[acd]\n{acd}\n");
    opts.sip_extra = sip_extra.to_string();
    Centre {
        server: Server::start(opts),
        dir,
    }
}

fn phone(c: &Centre, user: &str, answer: &str, voice_hz: u32) -> Baresip {
    let voice = tone_wav(c.dir.path(), voice_hz);
    let b = Baresip::start(
        c.dir.path(),
        c.server.sip_port,
        AgentPhone {
            user,
            password: &format!("pw-{user}-secret"),
            answer,
            voice: &voice,
        },
    );
    let log = &c.server;
    wait_until(20, || {
        log.log_text()
            .contains(&format!("agent registered agent={user}"))
    });
    // Log in with the feature code, from the phone itself.
    b.dial(&format!("sip:*1@127.0.0.1:{}", c.server.sip_port));
    wait_until(20, || {
        log.log_text()
            .contains(&format!("agent state agent={user} state=\"available\""))
    });
    b
}

fn wait_until(secs: u64, cond: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "condition not met in {secs} s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn caller_to_general_queue(c: &Centre, sink: &RtpSink, talk_ms: u64) -> SippHandle {
    let tone = root().join("tests/sipp/pcap/tone_800hz_ulaw.pcap");
    Sipp::new("call_queue_talk.xml", c.server.addr(), c.server.dir.path())
        .key("rtp_port", sink.port)
        .key("pre_ms", 1000)
        .key("pcap", dtmf('1'))
        .key("gap_ms", 1500)
        .key("pcap2", dtmf('0'))
        .key("talk_at_ms", 6000)
        .key("audio_pcap", tone.display())
        .key("talk_ms", talk_ms)
        .timeout(90)
        .spawn()
}

/// A French caller reaches the French-speaking agent (not the English one); both hear each
/// other; the caller hangs up and the agent's leg ends too; the log has the whole story.
#[test]
fn right_agent_rings_and_audio_flows_both_ways() {
    let c = centre(
        &[
            ("marie", "fr:5,en:2,general:3", 2),
            ("john", "en:5,general:3", 2),
        ],
        "ring_timeout = 10",
    );
    let marie = phone(&c, "marie", "auto", 1200);
    let john = phone(&c, "john", "auto", 1500);
    let sink = RtpSink::start();
    let caller = caller_to_general_queue(&c, &sink, 6000);
    caller.wait().assert_ok();
    assert!(
        marie.wait_event("CALL_CLOSED", Duration::from_secs(10)),
        "agent leg ended"
    );
    assert_eq!(
        john.count("CALL_ESTABLISHED"),
        0,
        "the English-only agent never rang"
    );
    assert_eq!(
        marie.count("CALL_ESTABLISHED"),
        1,
        "{:?}",
        marie.event_types()
    );
    // Agent → caller: the agent's 1200 Hz voice reached the caller after the bridge.
    let packets = sink.finish();
    let pcm = decode(&packets, Law::Ulaw);
    assert!(
        hz_present(&pcm, 1200.0),
        "agent's voice heard by the caller"
    );
    // Caller → agent: the caller's 800 Hz tone reached the agent's phone.
    let heard = marie.heard();
    assert!(
        hz_present(&heard, 800.0),
        "caller's voice heard by the agent"
    );
    // The log: one call row answered by marie in the general queue, events in order.
    let rows = wait_calls(&c.server.db_url, 1);
    let call = rows
        .iter()
        .find(|r| r.agent.as_deref() == Some("marie"))
        .unwrap_or_else(|| panic!("{rows:?}"));
    assert!(call.answered && call.offered && !call.abandoned);
    assert_eq!(call.queue.as_deref(), Some("general"));
    assert_eq!(call.language.as_deref(), Some("fr"));
    assert_eq!(call.hangup_side.as_deref(), Some("caller"));
    let names = event_names(&c.server.db_url, &call.call_id);
    let order = [
        "call_started",
        "answered",
        "language_chosen",
        "queue_entered",
        "offered",
        "agent_answered",
        "queue_left",
        "call_ended",
    ];
    let mut at = 0;
    for name in names.iter() {
        if at < order.len() && *name == order[at] {
            at += 1;
        }
    }
    assert_eq!(at, order.len(), "events in order: {names:?}");
    marie.stop();
    john.stop();
}

/// An agent's phone registered over SIP over TLS (the server's self-signed certificate,
/// trusted by the phone) with SRTP mandatory (`mediaenc=srtp-mand`, SDES keys) logs in with
/// its feature code, is offered a queued caller on its TLS connection, and the two hear each
/// other — the caller's leg plain RTP, the agent's SRTP: a capture of the agent's leg shows
/// neither voice in clear.
#[test]
fn agent_over_tls_with_srtp_takes_a_queued_call() {
    let tls_port = port_block(2);
    let c = centre_with(
        &[("marie", "fr:5,general:3", 2)],
        "ring_timeout = 10",
        &format!("tls = [\"127.0.0.1:{tls_port}\"]\n"),
    );
    let marie = tls_phone(&c, tls_port, true);
    let capture = Capture::start(c.dir.path(), marie.rtp_ports);
    let sink = RtpSink::start();
    caller_to_general_queue(&c, &sink, 6000).wait().assert_ok();
    assert!(marie.wait_event("CALL_CLOSED", Duration::from_secs(10)));
    assert!(
        marie.count("CALL_ESTABLISHED") >= 1,
        "{:?}\n{}\n{}",
        marie.event_types(),
        marie.log(),
        c.server.log_text()
    );
    let pcm = decode(&sink.finish(), Law::Ulaw);
    assert!(
        hz_present(&pcm, 1200.0),
        "agent's voice heard by the caller"
    );
    assert!(
        hz_present(&marie.heard(), 800.0),
        "caller heard by the agent"
    );
    // The agent's leg on the wire: RTP-shaped packets whose payloads carry neither voice.
    let payloads = capture.payloads();
    assert!(payloads.len() > 100, "{} packets captured", payloads.len());
    let mut wire = Vec::new();
    for p in &payloads {
        if p.len() > 12 + 10 {
            let body = &p[12..p.len() - 10];
            let mut pcm = vec![0i16; body.len()];
            Law::Ulaw.decode(body, &mut pcm);
            wire.extend(pcm);
        }
    }
    assert!(
        !hz_present(&wire, 800.0),
        "the caller's voice in clear on the agent leg"
    );
    assert!(
        !hz_present(&wire, 1200.0),
        "the agent's voice in clear on the agent leg"
    );
    let text = c.server.log_text();
    assert!(
        text.contains("agent registered agent=marie") && text.contains("transport=tls"),
        "{text}"
    );
    // RTCP travels as SRTCP: the phone's reports pass our check (and ours go out protected).
    assert!(
        text.contains("SRTCP: the peer's first report authenticated and decrypted"),
        "{text}\n{}",
        marie.log()
    );
    let rows = wait_calls(&c.server.db_url, 1);
    assert!(rows
        .iter()
        .any(|r| r.agent.as_deref() == Some("marie") && r.answered));
    marie.stop();
}

/// marie's baresip registered over TLS on `tls_port` (trusting the server's self-signed
/// certificate), with SRTP mandatory on its side or none at all, logged in and available.
fn tls_phone(c: &Centre, tls_port: u16, srtp: bool) -> Baresip {
    let cert = c.server.dir.path().join("tls/cert.pem");
    wait_until(20, || cert.exists());
    let voice = tone_wav(c.dir.path(), 1200);
    let marie = Baresip::start_tls(
        c.dir.path(),
        tls_port,
        &cert,
        srtp,
        AgentPhone {
            user: "marie",
            password: "pw-marie-secret",
            answer: "auto",
            voice: &voice,
        },
    );
    let log = &c.server;
    wait_until(20, || {
        log.log_text().contains("agent registered agent=marie")
    });
    marie.dial(&format!("sip:*1@127.0.0.1:{tls_port};transport=tls"));
    wait_until(20, || {
        log.log_text()
            .contains("agent state agent=marie state=\"available\"")
    });
    marie
}

/// tshark on the loopback for a port range, stopped when read.
struct Capture {
    child: std::process::Child,
    file: std::path::PathBuf,
}

impl Capture {
    fn start(dir: &Path, ports: (u16, u16)) -> Capture {
        let file = dir.join(format!("agent-{}.pcap", ports.0));
        let err = dir.join(format!("tshark-{}.log", ports.0));
        let child = Command::new("tshark")
            .args(["-i", "lo", "-q", "-f"])
            .arg(format!("udp and portrange {}-{}", ports.0, ports.1))
            .arg("-w")
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .expect("tshark (apt-get install tshark)");
        wait_until(20, || {
            std::fs::read_to_string(&err)
                .unwrap_or_default()
                .contains("Capturing on")
        });
        Capture { child, file }
    }

    /// The UDP payloads captured (stops the capture).
    fn payloads(mut self) -> Vec<Vec<u8>> {
        // SAFETY: kill(2) on our own child.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGINT);
        }
        let _ = self.child.wait();
        let out = Command::new("tshark")
            .arg("-r")
            .arg(&self.file)
            .args(["-T", "fields", "-e", "udp.payload"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| hex::decode(l.trim().replace(':', "")).ok())
            .collect()
    }
}

/// The agent hangs up: the caller gets a BYE. The agent's wrap-up (4 s) keeps the next caller
/// waiting even though the agent is the only one who could answer.
#[test]
fn agent_hangup_ends_both_legs_and_wrapup_delays_the_next_offer() {
    let c = centre(&[("marie", "fr:5,general:3", 4)], "ring_timeout = 10");
    let marie = phone(&c, "marie", "auto", 1200);
    let sink = RtpSink::start();
    let first = Sipp::new("call_two_digits.xml", c.server.addr(), c.server.dir.path())
        .key("rtp_port", sink.port)
        .key("pre_ms", 1000)
        .key("pcap", dtmf('1'))
        .key("gap_ms", 1500)
        .key("pcap2", dtmf('0'))
        .key("bye_timeout", 60000)
        .timeout(90)
        .spawn();
    assert!(marie.wait_event("CALL_ESTABLISHED", Duration::from_secs(30)));
    std::thread::sleep(Duration::from_secs(2));
    marie.hangup();
    first.wait().assert_ok();
    // A second caller right away waits for the wrap-up.
    let sink2 = RtpSink::start();
    let second = caller_to_general_queue(&c, &sink2, 2000);
    second.wait().assert_ok();
    let rows = wait_calls(&c.server.db_url, 2);
    let mut answered: Vec<_> = rows.iter().filter(|r| r.answered).collect();
    answered.sort_by_key(|r| r.start_ms);
    assert_eq!(answered.len(), 2, "{rows:?}");
    assert_eq!(answered[0].hangup_side.as_deref(), Some("agent"));
    let first_end = answered[0].end_ms.unwrap();
    let second_offer = db_events(&c.server.db_url, &answered[1].call_id)
        .into_iter()
        .find(|e| e.kind.name() == "offered")
        .map(|e| e.at_ms)
        .unwrap();
    assert!(
        second_offer - first_end >= 3_500,
        "offered {} ms after the agent's last call ended (wrap-up 4 s)",
        second_offer - first_end
    );
    // The wrap-up end is on the first call's record.
    wait_until(10, || {
        db_calls(&c.server.db_url)
            .iter()
            .any(|r| r.call_id == answered[0].call_id && r.wrapup_ms.is_some())
    });
    marie.stop();
}

/// The best agent does not answer: after the ring timeout the next one gets the call, and the
/// first is paused (max_misses = 1).
#[test]
fn unanswered_agent_is_skipped_and_paused() {
    let c = centre(
        &[
            ("marie", "fr:5,general:3", 2),
            ("paul", "fr:3,general:3", 2),
        ],
        "ring_timeout = 3\nmax_misses = 1",
    );
    let marie = phone(&c, "marie", "manual", 1200);
    let paul = phone(&c, "paul", "auto", 1500);
    let sink = RtpSink::start();
    let caller = caller_to_general_queue(&c, &sink, 5000);
    caller.wait().assert_ok();
    assert!(
        c.server
            .log_text()
            .contains("agent state agent=marie state=\"ringing\""),
        "marie rang first (higher proficiency)"
    );
    assert_eq!(marie.count("CALL_ESTABLISHED"), 0);
    assert_eq!(paul.count("CALL_ESTABLISHED"), 1);
    let log = c.server.log_text();
    assert!(
        log.contains("agent state agent=marie state=\"paused\" reason=Some(\"ring-no-answer\")"),
        "{log}"
    );
    let rows = wait_calls(&c.server.db_url, 1);
    let call = rows.iter().find(|r| r.answered).unwrap();
    assert_eq!(call.agent.as_deref(), Some("paul"));
    assert_eq!(call.ring_no_answer, 1);
    let names = event_names(&c.server.db_url, &call.call_id);
    let offered = names.iter().filter(|n| **n == "offered").count();
    assert_eq!(offered, 2, "{names:?}");
    assert!(names.contains(&"ring_no_answer"));
    marie.stop();
    paul.stop();
}

/// The admin API: an agent logs in, pauses, resumes and logs out over HTTP/JSON (as with
/// feature codes); the snapshot shows it; a bad plan pushed through reload is refused with its
/// position while the old one keeps serving; /metrics counts calls.
#[test]
fn admin_api_drives_agents_and_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let agents_file = dir.path().join("agents.toml");
    add_agent(
        &agents_file,
        "marie",
        "pw-marie-secret",
        "fr:5,general:3",
        2,
    );
    let plan = dir.path().join("plan");
    std::fs::create_dir(&plan).unwrap();
    let minimal = std::fs::read_to_string(root().join("dialplans/minimal/plan.toml")).unwrap();
    std::fs::write(plan.join("plan.toml"), &minimal).unwrap();
    let admin = port_block(2);
    let mut opts = ServerOpts::plan("minimal");
    opts.dialplan = plan.clone();
    opts.agents = Some(agents_file);
    opts.admin_port = Some(admin);
    let server = Server::start(opts);
    let voice = tone_wav(dir.path(), 1000);
    let marie = Baresip::start(
        dir.path(),
        server.sip_port,
        AgentPhone {
            user: "marie",
            password: "pw-marie-secret",
            answer: "auto",
            voice: &voice,
        },
    );
    wait_until(20, || {
        server.log_text().contains("agent registered agent=marie")
    });
    let state = || {
        let (code, body) = http(admin, "GET", "/api/agents", "");
        assert_eq!(code, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["agents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == "marie")
            .map(|a| a["state"].as_str().unwrap_or("").to_string())
            .unwrap()
    };
    assert_eq!(state(), "logged_out");
    for (action, expect) in [
        ("login", "available"),
        ("pause", "paused"),
        ("resume", "available"),
        ("logout", "logged_out"),
    ] {
        let (code, body) = http(admin, "POST", &format!("/api/agents/marie/{action}"), "{}");
        assert_eq!(code, 202, "{body}");
        wait_until(5, || state() == expect);
    }
    let (code, _) = http(admin, "POST", "/api/agents/marie/dance", "{}");
    assert_eq!(code, 404);
    // A broken plan pushed through the API: refused with file:line:column, old one serves.
    std::fs::write(
        plan.join("plan.toml"),
        minimal.replace("next = \"fin\"", "next = \"ailleurs\""),
    )
    .unwrap();
    let (code, body) = http(admin, "POST", "/api/reload", "");
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("plan.toml:"), "{body}");
    let (code, body) = http(admin, "GET", "/api/status", "");
    assert_eq!(code, 200);
    assert!(body.contains("\"plan_version\""), "{body}");
    let (code, body) = http(admin, "GET", "/metrics", "");
    assert_eq!(code, 200);
    assert!(body.contains("centrale_live_calls "), "{body}");
    // Even on loopback, nothing answers without a token; a wrong one is refused too.
    for path in ["/api/status", "/api/agents", "/metrics"] {
        assert_eq!(http_as(admin, "GET", path, "", None).0, 401, "{path}");
        assert_eq!(
            http_as(admin, "GET", path, "", Some("guess")).0,
            401,
            "{path}"
        );
    }
    let (code, _) = http_as(admin, "POST", "/api/agents/marie/login", "{}", None);
    assert_eq!(code, 401);
    // A console user's API token works with that user's role: a supervisor changes agent
    // states (audited under their name) but may not reload.
    cli(
        &server,
        &["user", "add", "sup", "--role", "supervisor"],
        "sup-password-2027\n",
    );
    let token = cli(&server, &["user", "token", "sup"], "");
    let token = token.trim();
    let (code, body) = http_as(admin, "POST", "/api/agents/marie/login", "{}", Some(token));
    assert_eq!(code, 202, "{body}");
    wait_until(5, || state() == "available");
    let (code, _) = http_as(admin, "POST", "/api/reload", "", Some(token));
    assert_eq!(code, 403);
    let log = server.log_text();
    assert!(
        log.contains("admin API change who=sup (API token) path=/api/agents/marie/login"),
        "{log}"
    );
    assert!(
        !log.contains(ADMIN_TOKEN) && !log.contains(token),
        "no token in the log"
    );
    marie.stop();
}

/// Waiting callers hear their position and the estimated wait in their language, with the
/// callback offer; pressing 1 keeps their place and ends the call with a confirmation. The
/// server then restarts: the callback, read back from the call log, keeps its place. When an
/// agent becomes free, the agent's phone rings first, then we call the citizen back through
/// the outbound route and bridge them.
#[test]
fn announcements_and_a_callback_that_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let agents_file = dir.path().join("agents.toml");
    add_agent(
        &agents_file,
        "marie",
        "pw-marie-secret",
        "fr:5,general:3",
        1,
    );
    let gw = port_block(8);
    let plan = plan_with_gateway("quebec", gw, dir.path());
    // Announce every 4 s instead of 45 so the test is short.
    let queues = std::fs::read_to_string(plan.join("queues.toml")).unwrap();
    std::fs::write(
        plan.join("queues.toml"),
        queues.replace("announce_every = 45", "announce_every = 4"),
    )
    .unwrap();
    let options = |database: Option<String>| {
        let mut opts = ServerOpts::plan("quebec");
        opts.dialplan = plan.clone();
        opts.clock = Some(OPEN.into());
        opts.agents = Some(agents_file.clone());
        opts.sip_extra = format!("outbound = \"sip:{{number}}@127.0.0.1:{gw}\"\n");
        opts.admin_port = Some(port_block(2));
        opts.database = database;
        // A citizen who does not answer is tried again 5 s later (10 minutes by default).
        opts.extra_config = "[callbacks]\nretry_after_s = 5\n".into();
        opts
    };
    let mut first = Server::start(options(None));
    // No agent yet: the caller waits, hears an announcement, presses 1.
    let server = &first;
    let sink = RtpSink::start();
    Sipp::new("call_three_digits.xml", server.addr(), server.dir.path())
        .key("rtp_port", sink.port)
        .key("pre_ms", 1000)
        .key("pcap", dtmf('1'))
        .key("gap_ms", 1500)
        .key("pcap2", dtmf('0'))
        .key("gap2_ms", 14000)
        .key("pcap3", dtmf('1'))
        .timeout(90)
        .run()
        .assert_ok();
    let packets = sink.finish();
    // Position 1 (nobody staffed: no estimate).
    assert_heard_whole(&packets, "queue_next", centrale::media::prompt::Lang::Fr);
    assert_heard_whole(
        &packets,
        "callback_offer",
        centrale::media::prompt::Lang::Fr,
    );
    assert_heard_whole(
        &packets,
        "callback_confirmed",
        centrale::media::prompt::Lang::Fr,
    );
    // The booking's reference number, read digit by digit before the confirmation.
    assert_heard_whole(
        &packets,
        "tracking_number",
        centrale::media::prompt::Lang::Fr,
    );
    let rows = wait_calls(&server.db_url, 1);
    assert_eq!(rows[0].outcome, "callback", "{rows:?}");
    assert!(
        rows[0].callback && !rows[0].abandoned,
        "a callback is a flow-out, not an abandon"
    );
    let names = event_names(&server.db_url, &rows[0].call_id);
    assert!(
        names.contains(&"announced") && names.contains(&"callback_requested"),
        "{names:?}"
    );
    // A restart (an upgrade, a crash): the callback owed is read back from the call log.
    let db_url = first.db_url.clone();
    first.stop();
    let opts = options(Some(db_url));
    let admin = opts.admin_port.unwrap();
    let server = Server::start(opts);
    wait_until(20, || {
        server
            .log_text()
            .contains("callback queued from the call log")
    });
    let voice = tone_wav(dir.path(), 1200);
    let marie = Baresip::start(
        dir.path(),
        server.sip_port,
        AgentPhone {
            user: "marie",
            password: "pw-marie-secret",
            answer: "auto",
            voice: &voice,
        },
    );
    wait_until(20, || {
        server.log_text().contains("agent registered agent=marie")
    });
    // The citizen's phone (a gateway standing in for the PSTN) is busy the first time…
    let busy = Sipp::uas("gateway_busy.xml", gw, server.dir.path())
        .timeout(60)
        .spawn();
    let (code, _) = http(admin, "POST", "/api/agents/marie/login", "{}");
    assert_eq!(code, 202);
    busy.wait().assert_ok();
    // …and answers when the callback is tried again.
    let gw_sink = RtpSink::start();
    let citizen = Sipp::uas("gateway.xml", gw, server.dir.path())
        .key("rtp_port", gw_sink.port)
        .key("ring_ms", 300)
        .key("talk_ms", 3000)
        .timeout(60)
        .spawn();
    let run = citizen.wait();
    run.assert_ok();
    assert!(run.logs.contains("DIALLED 5145550100"), "{}", run.logs);
    assert!(marie.wait_event("CALL_CLOSED", Duration::from_secs(20)));
    let rows = wait_calls(&server.db_url, 3);
    let mut attempts: Vec<&str> = rows
        .iter()
        .filter(|r| r.outcome.starts_with("callback:"))
        .map(|r| r.outcome.as_str())
        .collect();
    attempts.sort_unstable();
    assert_eq!(
        attempts,
        ["callback:completed", "callback:no-answer"],
        "{rows:?}"
    );
    let cb = rows
        .iter()
        .find(|r| r.outcome == "callback:completed")
        .unwrap_or_else(|| panic!("{rows:?}"));
    assert_eq!(cb.agent.as_deref(), Some("marie"));
    marie.stop();
}

/// Wrong password → 403 and no registration; unknown user → 403.
#[test]
fn bad_credentials_are_refused() {
    let c = centre(&[("marie", "fr:5,general:3", 2)], "");
    let voice = tone_wav(c.dir.path(), 1000);
    let imposter = Baresip::start(
        c.dir.path(),
        c.server.sip_port,
        AgentPhone {
            user: "marie",
            password: "not-her-password",
            answer: "auto",
            voice: &voice,
        },
    );
    std::thread::sleep(Duration::from_secs(3));
    assert!(imposter.log().contains("403"), "{}", imposter.log());
    assert!(!c.server.log_text().contains("agent registered"));
    imposter.stop();
    let run = Sipp::new("register.xml", c.server.addr(), c.server.dir.path())
        .key("user", "nobody")
        .key("password", "whatever")
        .key("expect", 403)
        .run();
    run.assert_ok();
}

/// A flood of bad REGISTERs from one address is throttled (503) while an agent elsewhere
/// registers normally.
#[test]
fn register_flood_is_throttled_while_another_agent_registers() {
    let c = centre(
        &[
            ("marie", "fr:5,general:3", 2),
            ("paul", "fr:4,general:3", 2),
        ],
        "",
    );
    let flood = Sipp::new("register_flood.xml", c.server.addr(), c.server.dir.path())
        .key("user", "marie")
        .key("password", "guessing")
        .arg("-i")
        .arg("127.0.0.3")
        .arg("-r")
        .arg("40")
        .calls(200)
        .timeout(30)
        .spawn();
    std::thread::sleep(Duration::from_secs(1));
    // Another agent, from another address, registers and logs in during the flood.
    let paul = phone(&c, "paul", "auto", 1200);
    let flood = flood.wait();
    assert!(
        flood.messages.contains("SIP/2.0 503"),
        "the flood was throttled"
    );
    assert!(!c.server.log_text().contains("agent registered agent=marie"));
    paul.stop();
}

/// Password guessing from eight addresses at once is throttled per address and per user
/// (503 with Retry-After, where a wrong password alone gets 403), while another agent registers
/// and logs in and an ordinary caller hears the greeting.
#[test]
fn register_floods_from_many_sources_are_throttled_while_agents_register_and_calls_flow() {
    let c = centre(
        &[
            ("marie", "fr:5,general:3", 2),
            ("paul", "fr:4,general:3", 2),
        ],
        "",
    );
    let floods: Vec<_> = (0..8)
        .map(|i| {
            Sipp::new("register_flood.xml", c.server.addr(), c.server.dir.path())
                .key("user", "marie")
                .key("password", format!("guess-{i}"))
                .arg("-i")
                .arg(&format!("127.0.0.{}", 11 + i))
                .arg("-r")
                .arg("40")
                .calls(200)
                .timeout(30)
                .spawn()
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let paul = phone(&c, "paul", "auto", 1200);
    let sink = RtpSink::start();
    Sipp::new("call_hangup.xml", c.server.addr(), c.server.dir.path())
        .key("rtp_port", sink.port)
        .key("pre_ms", 4000)
        .timeout(30)
        .run()
        .assert_ok();
    let packets = sink.finish();
    assert!(
        packets.len() > 150,
        "the greeting plays ({} packets)",
        packets.len()
    );
    for (i, f) in floods.into_iter().map(|f| f.wait()).enumerate() {
        assert!(
            f.messages.contains("SIP/2.0 503"),
            "address {i} was not throttled:\n{}",
            f.stdout
        );
    }
    let log = c.server.log_text();
    assert!(
        !log.contains("agent registered agent=marie"),
        "no guess succeeded"
    );
    assert!(!log.contains("panicked"), "{log}");
    paul.stop();
}

/// An agent's softphone transfers the caller (REFER, as its "transfer" command sends it) to
/// Info-Santé 811, named by its number: the gateway rings and answers, the caller hears it, the
/// agent is released; the call's row counts one transfer and keeps marie as the answering agent.
#[test]
fn agent_transfers_the_caller_to_811_with_refer() {
    let dir = tempfile::tempdir().unwrap();
    let agents_file = dir.path().join("agents.toml");
    add_agent(
        &agents_file,
        "marie",
        "pw-marie-secret",
        "fr:5,general:3",
        2,
    );
    let gw_port = port_block(8);
    let mut opts = ServerOpts::plan("quebec");
    opts.dialplan = plan_with_gateway("quebec", gw_port, dir.path());
    opts.clock = Some(OPEN.into());
    opts.agents = Some(agents_file);
    let c = Centre {
        server: Server::start(opts),
        dir,
    };
    let marie = phone(&c, "marie", "auto", 1200);
    let gw_sink = RtpSink::start();
    let gateway = Sipp::uas("gateway.xml", gw_port, c.server.dir.path())
        .key("rtp_port", gw_sink.port)
        .key("ring_ms", 300)
        .key("talk_ms", 5000)
        .spawn();
    let sink = RtpSink::start();
    let caller = caller_until_bye(&c.server, &sink);
    assert!(marie.wait_event("CALL_ESTABLISHED", Duration::from_secs(30)));
    std::thread::sleep(Duration::from_secs(2));
    marie.transfer(&format!("sip:811@127.0.0.1:{}", c.server.sip_port));
    let gw = gateway.wait();
    gw.assert_ok();
    assert!(gw.logs.contains("DIALLED 811"), "{}", gw.logs);
    caller.wait().assert_ok();
    assert!(
        marie.wait_event("CALL_CLOSED", Duration::from_secs(10)),
        "the agent was released"
    );
    // The caller heard the gateway's recording (A-law, transcoded to µ-law for them).
    let reference: Vec<i16> = pcap_payloads("/usr/share/sip-tester/g711a.pcap")
        .iter()
        .flat_map(|p| {
            let mut f = vec![0i16; p.len()];
            Law::Alaw.decode(p, &mut f);
            f
        })
        .collect();
    let reference = centrale::media::prompt::Prompt::from_pcm(
        "g711a",
        centrale::media::prompt::Lang::Fr,
        "",
        reference,
    );
    let heard = find_prompt(&sink.finish(), &reference, Law::Ulaw).expect("gateway audio");
    assert!(heard.correlation > 0.9, "{}", heard.correlation);
    let _ = gw_sink.finish();
    let rows = wait_calls(&c.server.db_url, 1);
    let row = rows
        .iter()
        .find(|r| r.transfers == 1)
        .unwrap_or_else(|| panic!("{rows:?}"));
    assert_eq!(row.agent.as_deref(), Some("marie"));
    assert_eq!(row.outcome, "transfer:811");
    assert!(row.talk_ms.is_some_and(|t| t > 1000), "{row:?}");
    marie.stop();
}

/// An agent transfers the caller to a colleague by agent id (REFER to `sip:paul@…`): paul —
/// who serves no French queue, so the ACD would never have offered him this caller — rings
/// at once, answers, and the caller hears him; marie is released to wrap-up; paul's hangup
/// ends the call, whose row counts one transfer and names paul as the agent who ended it.
#[test]
fn agent_transfers_the_caller_to_a_colleague_by_agent_id() {
    let c = centre(
        &[("marie", "fr:5,general:3", 2), ("paul", "en:5", 2)],
        "ring_timeout = 10",
    );
    let marie = phone(&c, "marie", "auto", 1200);
    let paul = phone(&c, "paul", "auto", 1500);
    let sink = RtpSink::start();
    let caller = caller_until_bye(&c.server, &sink);
    assert!(marie.wait_event("CALL_ESTABLISHED", Duration::from_secs(30)));
    assert_eq!(
        paul.count("CALL_ESTABLISHED"),
        0,
        "paul takes no French caller"
    );
    std::thread::sleep(Duration::from_secs(1));
    marie.transfer(&format!("sip:paul@127.0.0.1:{}", c.server.sip_port));
    assert!(
        paul.wait_event("CALL_ESTABLISHED", Duration::from_secs(20)),
        "{:?}",
        paul.event_types()
    );
    assert!(
        marie.wait_event("CALL_CLOSED", Duration::from_secs(10)),
        "marie was released"
    );
    std::thread::sleep(Duration::from_secs(3));
    paul.hangup();
    caller.wait().assert_ok();
    // The caller heard paul's 1500 Hz voice after marie's 1200 Hz one.
    let pcm = decode(&sink.finish(), Law::Ulaw);
    assert!(hz_present(&pcm, 1200.0), "marie heard by the caller");
    assert!(hz_present(&pcm, 1500.0), "paul heard by the caller");
    let log = c.server.log_text();
    assert!(
        log.contains("agent state agent=marie state=\"wrap_up\""),
        "{log}"
    );
    let rows = wait_calls(&c.server.db_url, 1);
    let row = rows
        .iter()
        .find(|r| r.transfers == 1)
        .unwrap_or_else(|| panic!("{rows:?}"));
    assert!(row.answered, "{row:?}");
    let names = event_names(&c.server.db_url, &row.call_id);
    assert!(
        names.iter().filter(|n| **n == "agent_answered").count() == 2,
        "{names:?}"
    );
    marie.stop();
    paul.stop();
}

/// Attended transfer from a desk phone on another SIP stack (PJSIP): marie answers the caller,
/// puts them on hold, calls paul by agent id (a consultation — paul's phone rings although he
/// serves no French queue), talks to him, then presses "transfer" (REFER with Replaces naming
/// the consultation). The caller hears marie, then paul; both of marie's calls end, NOTIFY
/// reports 200; marie wraps up; the call's row counts one transfer and two agent answers, and
/// the log has the consultation's steps.
#[test]
fn attended_transfer_from_a_pjsip_phone_hands_the_caller_to_the_colleague_consulted() {
    let c = centre(
        &[("marie", "fr:5,general:3", 2), ("paul", "en:5", 2)],
        "ring_timeout = 15",
    );
    let paul = phone(&c, "paul", "auto", 1500);
    let voice = tone_wav(c.dir.path(), 1200);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/pjsua_agent.py");
    let marie = Command::new("timeout")
        .args(["-k", "5", "120", "python3"])
        .arg(&script)
        .args(["--port", &c.server.sip_port.to_string()])
        .args(["--user", "marie", "--password", "pw-marie-secret"])
        .arg("--voice")
        .arg(&voice)
        .args(["--colleague", "paul", "--talk", "3", "--consult", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 with pjsua2 (pip install pjsua2-python)");
    wait_until(30, || {
        c.server
            .log_text()
            .contains("agent state agent=marie state=\"available\"")
    });
    let sink = RtpSink::start();
    let caller = caller_until_bye(&c.server, &sink);
    let out = marie.wait_with_output().expect("marie's phone");
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "marie's phone: {said}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("CONSULT_CONFIRMED") && said.contains("TRANSFER_STATUS 200"));
    assert!(
        paul.count("CALL_ESTABLISHED") >= 1,
        "{:?}",
        paul.event_types()
    );
    std::thread::sleep(Duration::from_secs(3));
    paul.hangup();
    caller.wait().assert_ok();
    let pcm = decode(&sink.finish(), Law::Ulaw);
    assert!(hz_present(&pcm, 1200.0), "marie heard by the caller");
    assert!(hz_present(&pcm, 1500.0), "paul heard by the caller");
    let log = c.server.log_text();
    assert!(log.contains("attended transfer"), "{log}");
    assert!(
        log.contains("agent state agent=marie state=\"wrap_up\""),
        "{log}"
    );
    assert_attended_transfer_logged(&c.server.db_url, "marie");
    paul.stop();
}

/// SRTP per agent: the server's policy is `mandatory`, but marie's desk phone does TLS without
/// SRTP, so her agents.toml entry says `srtp = "off"` (`agent add --srtp off`): she is called
/// over TLS in clear RTP and takes the caller, who hears her.
#[test]
fn an_agent_whose_phone_does_tls_without_srtp_is_called_in_clear_by_her_own_policy() {
    let tls_port = port_block(2);
    let c = centre_with(
        &[("marie", "fr:5,general:3", 2)],
        "ring_timeout = 10",
        &format!("tls = [\"127.0.0.1:{tls_port}\"]\n"),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_centrale"))
        .arg("--config")
        .arg(c.dir.path().join("agents.cfg.toml"))
        .args(["agent", "add", "marie", "--srtp", "off", "--keep-password"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(c.dir.path().join("agents.toml")).unwrap();
    assert!(text.contains("srtp = \"off\""), "{text}");
    let marie = tls_phone(&c, tls_port, false);
    let sink = RtpSink::start();
    caller_to_general_queue(&c, &sink, 4000).wait().assert_ok();
    assert!(
        marie.count("CALL_ESTABLISHED") >= 1,
        "{:?}\n{}",
        marie.event_types(),
        c.server.log_text()
    );
    let pcm = decode(&sink.finish(), Law::Ulaw);
    assert!(hz_present(&pcm, 1200.0), "marie heard by the caller");
    marie.stop();
}
