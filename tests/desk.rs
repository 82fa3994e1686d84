//! The agent desktop in a real headless Chromium (tests/browser/desk.py, Playwright over the
//! DevTools protocol, the system's Chromium; the fake microphone plays a 1200 Hz tone): an agent
//! signs in with the password of their SIP phone and goes ready; a SIPp caller goes through the
//! IVR to the queue; the page rings with the screen pop; the agent answers; audio flows both
//! ways over WebRTC (DTLS-SRTP, G.711) bridged to the caller's plain RTP — the caller hears the
//! agent's tone, the page's getStats() counts the caller's packets; the caller hangs up; the
//! agent records a disposition, which the call log keeps and the next call from that number
//! shows in its history. A tab closed while it rings sends the caller back to the queue, where
//! a softphone agent takes the call.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use centrale::media::g711::Law;
use centrale::media::prompt::Lang;
use common::baresip::{tone_wav, AgentPhone, Baresip};
use common::*;
use serde_json::Value;

const OPEN: &str = "2027-04-16T10:00";
const DTMF: &str = "/usr/share/sip-tester";

fn dtmf(d: char) -> String {
    format!("{DTMF}/dtmf_2833_{d}.pcap")
}

fn add_agent(agents: &Path, id: &str, password: &str, skills: &str) {
    let cfg = agents.with_extension("cfg.toml");
    std::fs::write(
        &cfg,
        format!("[paths]\nagents = \"{}\"\n", agents.display()),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_centrale"))
        .arg("--config")
        .arg(&cfg)
        .args(["agent", "add", id, "--skills", skills, "--wrapup", "30"])
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
    assert!(child.wait_with_output().unwrap().status.success());
}

struct Centre {
    server: Server,
    dir: tempfile::TempDir,
}

fn centre(agents: &[(&str, &str)]) -> Centre {
    let dir = tempfile::tempdir().unwrap();
    let agents_file = dir.path().join("agents.toml");
    for (id, skills) in agents {
        add_agent(&agents_file, id, &format!("pw-{id}-secret"), skills);
    }
    let mut opts = ServerOpts::plan("quebec");
    opts.clock = Some(OPEN.into());
    opts.agents = Some(agents_file);
    opts.extra_config = "[acd]\nring_timeout = 20\n".into();
    opts.web = true;
    Centre {
        server: Server::start(opts),
        dir,
    }
}

/// The agent at the browser: its JSON steps as they come.
struct Desk {
    child: Child,
    out: BufReader<ChildStdout>,
    steps: Vec<Value>,
}

impl Desk {
    fn start(c: &Centre, agent: &str, extra: &[&str]) -> Desk {
        let voice = wav_48k(c.dir.path(), 1200);
        let url = format!(
            "https://127.0.0.1:{}/agent",
            c.server.web_port.expect("web port")
        );
        let mut child = Command::new("timeout")
            .args(["-k", "5", "120", "python3"])
            .arg(root().join("tests/browser/desk.py"))
            .args(["--url", &url, "--user", agent])
            .args(["--password", &format!("pw-{agent}-secret")])
            .arg("--voice")
            .arg(&voice)
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 with playwright (scripts/test installs it)");
        let out = BufReader::new(child.stdout.take().unwrap());
        Desk {
            child,
            out,
            steps: Vec::new(),
        }
    }

    /// The next step named `name` (panics on an error step or the end of the script).
    fn wait(&mut self, name: &str) -> Value {
        loop {
            let mut line = String::new();
            let n = self.out.read_line(&mut line).unwrap_or(0);
            assert!(
                n > 0,
                "the desk script ended before `{name}`: {:?}",
                self.steps
            );
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            self.steps.push(v.clone());
            assert_ne!(v["step"], "error", "desk script failed: {v}");
            if v["step"] == name {
                return v;
            }
        }
    }

    fn finish(mut self) {
        let _ = self.child.wait();
    }
}

/// Chromium's fake microphone wants a WAV it can loop: 48 kHz mono, a steady tone.
fn wav_48k(dir: &Path, hz: u32) -> PathBuf {
    let path = dir.join(format!("voice{hz}.wav"));
    let status = Command::new("sox")
        .args(["-n", "-r", "48000", "-c", "1", "-b", "16"])
        .arg(&path)
        .args(["synth", "120", "sine", &hz.to_string(), "gain", "-6"])
        .status()
        .expect("sox");
    assert!(status.success());
    path
}

/// Wait (at most `secs`) until the server's log says `what`.
fn wait_log(c: &Centre, what: &str, secs: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while !c.server.log_text().contains(what) {
        assert!(
            std::time::Instant::now() < deadline,
            "not in the log: {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn caller(c: &Centre, sink: &RtpSink, talk_ms: u64) -> SippHandle {
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
        .timeout(120)
        .spawn()
}

#[test]
fn browser_agent_answers_with_webrtc_audio_and_records_a_disposition() {
    let c = centre(&[("marie", "fr:5,en:3,general:3")]);
    let mut desk = Desk::start(
        &c,
        "marie",
        &[
            "--talk-s",
            "5",
            "--disposition",
            "information donnée",
            "--note",
            "collecte du mardi",
            "--rings",
            "2",
        ],
    );
    desk.wait("ready");
    let sink = RtpSink::start();
    let call = caller(&c, &sink, 12_000);
    let ring = desk.wait("ringing");
    let pop = &ring["pop"];
    assert_eq!(pop["caller"], "5145550100", "{pop}");
    assert_eq!(pop["language_code"], "fr", "{pop}");
    assert!(
        pop["queue"].as_str().unwrap_or("").contains("general"),
        "{pop}"
    );
    // The IVR path in words, the knowledge link of the queue, from the plan.
    assert_eq!(
        pop["path"].as_str().unwrap_or(""),
        "Français → Agent (question générale)",
        "{pop}"
    );
    assert!(
        pop["knowledge_href"]
            .as_str()
            .unwrap_or("")
            .starts_with("https://"),
        "{pop}"
    );
    desk.wait("talking");
    let stats = desk.wait("stats");
    call.wait().assert_ok();
    let s = &stats["stats"];
    assert!(
        s["inbound"].as_u64().unwrap_or(0) > 50,
        "page received the caller: {s}\n{}",
        c.server
            .log_text()
            .lines()
            .filter(|l| l.contains("webrtc") || l.contains("media") || l.contains("WARN"))
            .take(40)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        s["energy"].as_f64().unwrap_or(0.0) > 0.0,
        "and heard something: {s}"
    );
    assert!(
        s["outbound"].as_u64().unwrap_or(0) > 50,
        "page sent audio: {s}"
    );
    assert_eq!(s["codec"], "audio/PCMU", "{s}");
    desk.wait("done");
    // The caller heard the agent's 1200 Hz voice through the bridge.
    let pcm = decode(&sink.finish(), Law::Ulaw);
    assert!(
        hz_present(&pcm, 1200.0),
        "the agent's voice reached the caller"
    );
    // The log: answered by marie, and the disposition on the call's record.
    let rows = wait_calls(&c.server.db_url, 1);
    let row = rows
        .iter()
        .find(|r| r.agent.as_deref() == Some("marie"))
        .unwrap_or_else(|| panic!("{rows:?}"));
    assert!(row.answered, "{row:?}");
    let mut disposed = false;
    for _ in 0..50 {
        disposed = db_events(&c.server.db_url, &row.call_id).iter().any(|e| {
            matches!(&e.kind, centrale::event::EventKind::Disposition { code, note, agent }
                if code == "information donnée" && note == "collecte du mardi" && agent == "marie")
        });
        if disposed {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(disposed, "disposition logged");
    // Counted by `centrale report --dispositions` (a range wide enough for any hour of the run).
    let report = centrale_cli(&[
        "report",
        "--dispositions",
        "--database",
        &c.server.db_url,
        "--from",
        "2000-01-01",
        "--to",
        "2100-01-01",
        "--format",
        "csv",
    ]);
    assert!(
        report.contains("general,\"information donnée\",1,100"),
        "{report}"
    );
    // The same number calls again: the screen pop shows the first call and its disposition.
    let sink2 = RtpSink::start();
    let again = caller(&c, &sink2, 4_000);
    let ring = desk.wait("ringing");
    let history = ring["pop"]["history"].as_str().unwrap_or("").to_string();
    assert!(history.contains("information donnée"), "history: {history}");
    assert!(history.contains("collecte du mardi"), "history: {history}");
    desk.wait("done");
    again.wait().assert_ok();
    desk.finish();
}

/// Bad input against the desktop: malformed, unknown and out-of-place messages on its socket
/// each get an error reply and leave the socket and the agent as they were; an oversized one
/// closes that socket (and, as a dropped socket does, pauses the agent); a page of another
/// origin and a browser with a forged session cookie cannot open the socket, and the forged
/// cookie gets the sign-in page. Afterwards the same agent takes a call, and garbage sent to
/// its media port (random bytes, bad STUN, stray DTLS, RTP-looking noise) does not stop the
/// audio.
#[test]
fn bad_input_on_the_desktop_is_refused_and_the_agent_keeps_working() {
    let c = centre(&[("marie", "fr:5,en:3,general:3")]);
    let mut desk = Desk::start(&c, "marie", &["--abuse", "--talk-s", "4"]);
    let abuse = desk.wait("abuse");
    let replies = abuse["replies"].as_array().cloned().unwrap_or_default();
    let errors = replies
        .iter()
        .filter(|r| r.as_str().unwrap_or("").contains("\"error\""))
        .count();
    assert!(
        errors >= 4,
        "malformed messages answered with errors: {abuse}"
    );
    assert_eq!(abuse["openAfterBad"], true, "{abuse}");
    assert_eq!(abuse["state_after_bad"], "available", "{abuse}");
    assert_eq!(abuse["closedAfterHuge"], true, "{abuse}");
    assert_eq!(abuse["cross_origin"], "refused", "{abuse}");
    assert_eq!(abuse["forged_sees_signin"], true, "{abuse}");
    assert_eq!(abuse["forged_socket"], "refused", "{abuse}");
    desk.wait("ready");
    let sink = RtpSink::start();
    let call = caller(&c, &sink, 12_000);
    // Garbage on the browser leg's media port while it talks: random bytes, a STUN binding
    // request with a bad integrity, a DTLS record that is not a handshake, RTP-looking noise.
    let talking = desk.wait("talking");
    let port = talking["media_port"]
        .as_u64()
        .expect("the leg's media port") as u16;
    let noise = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut stun = vec![0x00, 0x01, 0x00, 0x18, 0x21, 0x12, 0xa4, 0x42];
    stun.extend_from_slice(&[7u8; 12]);
    stun.extend_from_slice(&[0x00, 0x08, 0x00, 0x14]);
    stun.extend_from_slice(&[0xee; 20]);
    let dtls = [0x17, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 9, 0, 4, 1, 2, 3, 4];
    let mut rtp = vec![0x80, 0x00, 0x12, 0x34];
    rtp.extend_from_slice(&[0x55; 172]);
    for i in 0..200u32 {
        let random: Vec<u8> = (0..(i % 300)).map(|k| (k * 31 + i * 7) as u8).collect();
        for d in [&random[..], &stun[..], &dtls[..], &rtp[..]] {
            let _ = noise.send_to(d, ("127.0.0.1", port));
        }
    }
    let stats = desk.wait("stats");
    call.wait().assert_ok();
    desk.wait("done");
    desk.finish();
    assert!(
        stats["stats"]["inbound"].as_u64().unwrap_or(0) > 120,
        "audio kept reaching the browser through the garbage: {stats}"
    );
    assert!(!c.server.log_text().contains("panicked"));
}

/// A tab closed while the call rings: the caller goes back to the front of the queue and the
/// other agent (a softphone) takes the call.
#[test]
fn a_tab_closed_while_ringing_sends_the_caller_to_the_other_agent() {
    let c = centre(&[("marie", "fr:5,general:3"), ("luc", "fr:5,general:3")]);
    let mut desk = Desk::start(&c, "marie", &["--close-on-ring"]);
    desk.wait("ready");
    let sink = RtpSink::start();
    let call = caller(&c, &sink, 6_000);
    desk.wait("ringing");
    desk.wait("closed");
    // Luc's softphone logs in only now: marie was the only one to offer to at first.
    let luc = softphone_luc(&c);
    assert!(
        luc.wait_event("CALL_ESTABLISHED", Duration::from_secs(40)),
        "the caller was offered to luc"
    );
    call.wait().assert_ok();
    let rows = wait_calls(&c.server.db_url, 1);
    let row = rows
        .iter()
        .find(|r| r.agent.as_deref() == Some("luc"))
        .unwrap_or_else(|| panic!("{rows:?}"));
    assert!(row.answered);
    desk.finish();
    luc.stop();
}

/// From the desktop: the agent presses 5 on the keypad (RFC 4733 from the browser, relayed to
/// the caller as telephone-event), puts the caller on hold (the caller hears the hold music)
/// and takes them back, then transfers them to Info-Santé 811: the gateway gets the call with
/// the caller's number, the agent goes to wrap-up.
#[test]
fn browser_agent_keypad_hold_and_transfer_to_811() {
    let dir = tempfile::tempdir().unwrap();
    let agents_file = dir.path().join("agents.toml");
    add_agent(&agents_file, "marie", "pw-marie-secret", "fr:5,general:3");
    let gw_port = port_block(8);
    let mut opts = ServerOpts::plan("quebec");
    opts.dialplan = plan_with_gateway("quebec", gw_port, dir.path());
    opts.clock = Some(OPEN.into());
    opts.agents = Some(agents_file);
    opts.web = true;
    let c = Centre {
        server: Server::start(opts),
        dir,
    };
    let gw_sink = RtpSink::start();
    let gateway = Sipp::uas("gateway.xml", gw_port, c.server.dir.path())
        .key("rtp_port", gw_sink.port)
        .key("ring_ms", 300)
        .key("talk_ms", 3000)
        .spawn();
    let mut desk = Desk::start(
        &c,
        "marie",
        &[
            "--keys",
            "5",
            "--hold-s",
            "3",
            "--talk-s",
            "1",
            "--transfer",
            "target:811",
            "--disposition",
            "transféré",
        ],
    );
    desk.wait("ready");
    let sink = RtpSink::start();
    let caller = caller_until_bye(&c.server, &sink);
    desk.wait("ringing");
    desk.wait("talking");
    desk.wait("held");
    desk.wait("resumed");
    desk.wait("transferred");
    desk.wait("done");
    let gw = gateway.wait();
    gw.assert_ok();
    assert!(gw.logs.contains("DIALLED 811"), "{}", gw.logs);
    caller.wait().assert_ok();
    let packets = sink.finish();
    // The keypad's 5 reached the caller as telephone-event (the caller's PT 101).
    let events: Vec<_> = packets.iter().filter(|p| p.pt == 101).collect();
    assert!(
        !events.is_empty(),
        "no telephone-event relayed to the caller"
    );
    assert!(events.iter().all(|p| p.payload.first() == Some(&5)));
    // The caller heard the hold music while on hold.
    let audio: Vec<_> = packets.into_iter().filter(|p| p.pt == 0).collect();
    assert!(find_prompt(&audio, &prompt("hold_music", Lang::Fr), Law::Ulaw).is_some());
    let _ = gw_sink.finish();
    let rows = wait_calls(&c.server.db_url, 1);
    let row = rows
        .iter()
        .find(|r| r.transfers == 1)
        .unwrap_or_else(|| panic!("{rows:?}"));
    assert_eq!(row.agent.as_deref(), Some("marie"));
    assert_eq!(row.outcome, "transfer:811");
    desk.finish();
}

/// luc on a baresip softphone that answers by itself with a 1500 Hz voice, logged in (by
/// feature code) and available.
fn softphone_luc(c: &Centre) -> Baresip {
    let voice = tone_wav(c.dir.path(), 1500);
    let luc = Baresip::start(
        c.dir.path(),
        c.server.sip_port,
        AgentPhone {
            user: "luc",
            password: "pw-luc-secret",
            answer: "auto",
            voice: &voice,
        },
    );
    wait_log(c, "agent registered agent=luc", 20);
    luc.dial(&format!("sip:*1@127.0.0.1:{}", c.server.sip_port));
    wait_log(c, "agent state agent=luc state=\"available\"", 20);
    luc
}

/// A softphone agent and a browser agent in one queue: luc, idle longest (ready first), gets
/// the caller over marie; luc transfers the caller to marie by agent id (REFER); marie's
/// desktop answers by itself (`auto_answer` in agents.toml, set with `agent add
/// --auto-answer on`), lists luc among its transfer choices, and the caller hears marie's
/// voice over WebRTC; marie hangs up and records a disposition.
#[test]
fn softphone_idle_longest_takes_the_call_and_transfers_it_to_a_browser_that_answers_itself() {
    let c = centre(&[("marie", "fr:5,general:3"), ("luc", "fr:5,general:3")]);
    let cfg = c.dir.path().join("agents.cfg.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_centrale"))
        .arg("--config")
        .arg(&cfg)
        .args([
            "agent",
            "add",
            "marie",
            "--auto-answer",
            "on",
            "--keep-password",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let luc = softphone_luc(&c);
    let mut desk = Desk::start(
        &c,
        "marie",
        &[
            "--auto",
            "--hangup",
            "--talk-s",
            "3",
            "--disposition",
            "transféré",
        ],
    );
    desk.wait("ready");
    let sink = RtpSink::start();
    let caller = caller_until_bye(&c.server, &sink);
    assert!(
        luc.wait_event("CALL_ESTABLISHED", Duration::from_secs(30)),
        "luc, idle longest, takes the caller"
    );
    std::thread::sleep(Duration::from_secs(1));
    luc.transfer(&format!("sip:marie@127.0.0.1:{}", c.server.sip_port));
    let talking = desk.wait("talking");
    let options: Vec<&str> = talking["transfer_options"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(options.contains(&"agent:luc"), "{talking}");
    assert!(!options.contains(&"agent:marie"), "{talking}");
    desk.wait("done");
    caller.wait().assert_ok();
    assert!(
        luc.wait_event("CALL_CLOSED", Duration::from_secs(10)),
        "luc was released"
    );
    let pcm = decode(&sink.finish(), Law::Ulaw);
    assert!(hz_present(&pcm, 1500.0), "luc heard by the caller");
    assert!(hz_present(&pcm, 1200.0), "marie heard by the caller");
    let rows = wait_calls(&c.server.db_url, 1);
    let row = rows
        .iter()
        .find(|r| r.transfers == 1)
        .unwrap_or_else(|| panic!("{rows:?}"));
    let names = event_names(&c.server.db_url, &row.call_id);
    assert_eq!(
        names.iter().filter(|n| **n == "agent_answered").count(),
        2,
        "{names:?}"
    );
    desk.finish();
    luc.stop();
}

/// A session that expires while the desktop is open: the server closes the agent's socket
/// (the agent is paused, so no caller is offered to a desk that is gone), the page finds its
/// session gone and shows the sign-in form with the reason; the old cookie opens nothing.
#[test]
fn an_expired_session_closes_the_desktop_and_shows_the_sign_in_page() {
    let dir = tempfile::tempdir().unwrap();
    let agents_file = dir.path().join("agents.toml");
    add_agent(&agents_file, "marie", "pw-marie-secret", "fr:5,general:3");
    let mut opts = ServerOpts::plan("quebec");
    opts.clock = Some(OPEN.into());
    opts.agents = Some(agents_file);
    opts.web = true;
    // Six seconds: time to sign in and go ready, then it lapses.
    opts.extra_config = "[web]\nsession_minutes = 0.1\n".into();
    let c = Centre {
        server: Server::start(opts),
        dir,
    };
    let mut desk = Desk::start(&c, "marie", &["--expect-expiry"]);
    desk.wait("ready");
    let expired = desk.wait("expired");
    assert!(
        expired["url"]
            .as_str()
            .unwrap_or("")
            .contains("error=expired"),
        "{expired}"
    );
    assert!(
        expired["notice"].as_str().unwrap_or("").contains("expir"),
        "{expired}"
    );
    let session = desk.wait("session");
    assert_eq!(session["status"], 401, "{session}");
    desk.finish();
    let log = c.server.log_text();
    assert!(log.contains("desktop disconnected"), "{log}");
    assert!(
        log.contains("agent state agent=marie state=\"paused\""),
        "{log}"
    );
}

/// Attended transfer from the desktop: marie (browser, ready first, so idle longest) takes the
/// caller, presses "Consult first" with luc (a softphone) chosen — the caller hears hold music
/// meanwhile — and once luc answered and they talked, "Transfer to colleague": the caller hears
/// marie, then luc; marie's desktop goes to wrap-up; luc's hangup ends the call.
#[test]
fn a_browser_agent_consults_a_softphone_colleague_then_hands_the_caller_over() {
    let c = centre(&[("marie", "fr:5,general:3"), ("luc", "en:5")]);
    let mut desk = Desk::start(
        &c,
        "marie",
        &[
            "--talk-s",
            "3",
            "--consult",
            "luc",
            "--consult-s",
            "2",
            "--disposition",
            "transféré",
        ],
    );
    desk.wait("ready");
    let luc = softphone_luc(&c);
    let sink = RtpSink::start();
    let caller = caller_until_bye(&c.server, &sink);
    desk.wait("talking");
    let consulted = desk.wait("consulted");
    assert!(
        consulted["notice"]
            .as_str()
            .is_some_and(|n| n.contains("consultation") || n.contains("Consult")),
        "{consulted}"
    );
    desk.wait("transferred");
    desk.wait("done");
    wait_log(&c, "attended transfer", 10);
    std::thread::sleep(Duration::from_secs(3));
    luc.hangup();
    caller.wait().assert_ok();
    let pcm = decode(&sink.finish(), Law::Ulaw);
    assert!(hz_present(&pcm, 1200.0), "marie heard by the caller");
    assert!(hz_present(&pcm, 1500.0), "luc heard by the caller");
    assert_attended_transfer_logged(&c.server.db_url, "marie");
    desk.finish();
    luc.stop();
}
