//! Issue 13's proof with real peers: SIPp callers wait for a baresip agent who is busy; they
//! hear their position and estimated wait (the prompts `centrale::announce` derives from the
//! logged `announced` event are found, whole, in the audio each caller received), with the
//! callback offer; a caller who hangs up and calls again from the same number gets their place
//! back and is counted once; and `centrale report --waits` on the resulting log counts exactly
//! the announcements and outcomes the log holds.
//!
//! No timing is asserted: the test waits for events, and reads what the log says happened.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use centrale::acd::Announcement;
use centrale::event::{CallEvent, EventKind};
use centrale::media::prompt::Lang;
use common::baresip::{tone_wav, AgentPhone, Baresip};
use common::*;

const OPEN: &str = "2027-04-16T10:00";

fn dtmf(d: char) -> String {
    format!("/usr/share/sip-tester/dtmf_2833_{d}.pcap")
}

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
    assert!(child.wait_with_output().unwrap().status.success());
}

fn wait_until(secs: u64, what: &str, cond: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not in {secs} s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A French caller to the general queue (1, then 0) who hangs up `hangup_ms` after the 0.
fn caller(server: &Server, sink: &RtpSink, hangup_ms: u64) -> SippHandle {
    let tone = root().join("tests/sipp/pcap/tone_800hz_ulaw.pcap");
    Sipp::new("call_queue_talk.xml", server.addr(), server.dir.path())
        .key("rtp_port", sink.port)
        .key("pre_ms", 1000)
        .key("pcap", dtmf('1'))
        .key("gap_ms", 1500)
        .key("pcap2", dtmf('0'))
        .key("talk_at_ms", hangup_ms.saturating_sub(1000))
        .key("audio_pcap", tone.display())
        .key("talk_ms", 1000)
        .timeout(hangup_ms / 1000 + 60)
        .spawn()
}

/// The announcement an `announced` event describes.
fn announcement(ev: &CallEvent) -> Option<(Announcement, bool)> {
    match &ev.kind {
        EventKind::Announced {
            position,
            estimate_s,
            late,
            callback_offered,
            ..
        } => Some((
            Announcement {
                position: *position,
                estimate_ms: estimate_s.map(|s| u64::from(s) * 1000),
                late: *late,
                ..Announcement::default()
            },
            *callback_offered,
        )),
        _ => None,
    }
}

/// Every prompt of the call's first announcement was heard whole by the caller.
fn first_announcement_heard(url: &str, call: &str, packets: &[Packet]) -> Announcement {
    let events = db_events(url, call);
    let (a, offered) = events
        .iter()
        .find_map(announcement)
        .unwrap_or_else(|| panic!("no announcement logged for {call}"));
    let ids = centrale::announce::prompts(Lang::Fr, &a, offered);
    assert!(
        offered,
        "a wait of minutes comes with the callback offer: {a:?}"
    );
    assert!(ids.iter().any(|i| i.starts_with("num_")), "{ids:?}");
    for id in &ids {
        assert_heard_whole(packets, id, Lang::Fr);
    }
    a
}

fn events_named(url: &str, call: &str, name: &str) -> usize {
    event_names(url, call)
        .iter()
        .filter(|n| **n == name)
        .count()
}

#[test]
fn announced_waits_are_heard_logged_and_judged() {
    let dir = tempfile::tempdir().unwrap();
    let agents_file = dir.path().join("agents.toml");
    add_agent(
        &agents_file,
        "marie",
        "pw-marie-secret",
        "fr:5,general:3",
        2,
    );
    // The shipped Québec plan, announcing every 4 s instead of 45 so the test is short.
    let plan = dir.path().join("plan");
    std::fs::create_dir(&plan).unwrap();
    for f in std::fs::read_dir(root().join("dialplans/quebec")).unwrap() {
        let f = f.unwrap();
        let text = std::fs::read_to_string(f.path()).unwrap();
        std::fs::write(
            plan.join(f.file_name()),
            text.replace("announce_every = 45", "announce_every = 4"),
        )
        .unwrap();
    }
    let mut opts = ServerOpts::plan("quebec");
    opts.dialplan = plan;
    opts.clock = Some(OPEN.into());
    opts.agents = Some(agents_file);
    let server = Server::start(opts);
    let url = server.db_url.clone();
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
    wait_until(20, "registered", || {
        server.log_text().contains("agent registered agent=marie")
    });
    marie.dial(&format!("sip:*1@127.0.0.1:{}", server.sip_port));
    wait_until(20, "logged in", || {
        server
            .log_text()
            .contains("agent state agent=marie state=\"available\"")
    });

    // A reaches marie at once and keeps her 35 s.
    let (sa, sb, sc, sd) = (
        RtpSink::start(),
        RtpSink::start(),
        RtpSink::start(),
        RtpSink::start(),
    );
    let a = caller(&server, &sa, 38_000);
    assert!(marie.wait_event("CALL_ESTABLISHED", Duration::from_secs(30)));
    // B waits first in line; C second, and hangs up before marie is free.
    let b = caller(&server, &sb, 50_000);
    wait_until(20, "B queued", || wait_queued(&url, 2));
    let c = caller(&server, &sc, 20_000);
    c.wait().assert_ok();
    // C calls again from the same number: their place back, behind B.
    let d = caller(&server, &sd, 45_000);
    a.wait().assert_ok();
    b.wait().assert_ok();
    d.wait().assert_ok();
    let rows = wait_calls(&url, 4);
    let mut rows: Vec<_> = rows.into_iter().filter(|r| r.end_ms.is_some()).collect();
    rows.sort_by_key(|r| r.start_ms);
    assert_eq!(rows.len(), 4, "{rows:#?}");
    let (ra, rb, rc, rd) = (&rows[0], &rows[1], &rows[2], &rows[3]);

    // Heard and logged: B first in line, C second; position and wait in French.
    let heard_b = first_announcement_heard(&url, &rb.call_id, &sb.finish());
    assert_eq!(heard_b.position, 1);
    let heard_c = first_announcement_heard(&url, &rc.call_id, &sc.finish());
    assert_eq!(heard_c.position, 2);
    assert!(
        heard_c.estimate_ms > heard_b.estimate_ms,
        "{heard_c:?} {heard_b:?}"
    );
    let logged = db_events(&url, &rc.call_id);
    let inputs = logged.iter().find_map(|e| match &e.kind {
        EventKind::Announced { agents, aht_s, .. } => Some((*agents, *aht_s)),
        _ => None,
    });
    assert_eq!(
        inputs,
        Some((1, 300)),
        "one agent staffed, no handle time yet"
    );

    // Resumed: D took C's place back; C is not an abandon and not a second caller.
    let resumed = db_events(&url, &rd.call_id)
        .into_iter()
        .find_map(|e| match e.kind {
            EventKind::QueueResumed { from, .. } => Some(from),
            _ => None,
        });
    assert_eq!(resumed.as_deref(), Some(rc.call_id.as_str()));
    wait_until(10, "C's row updated", || {
        db_calls(&url)
            .iter()
            .any(|r| r.call_id == rc.call_id && !r.offered)
    });
    let rc = db_calls(&url)
        .into_iter()
        .find(|r| r.call_id == rc.call_id)
        .unwrap();
    assert!(!rc.abandoned && !rc.offered, "{rc:?}");
    assert!(ra.answered && rb.answered && rd.answered, "{rows:#?}");
    // D's wait counts the time C held before hanging up.
    let own = rd.agent_answer_ms.zip(rd.queued_ms).map(|(a, q)| a - q);
    assert!(rd.wait_ms > own.map(|w| w + 5_000), "{rd:?}");
    for r in [ra, rb, &rc, rd] {
        assert_events_well_formed(&url, &r.call_id);
    }

    // report --waits counts what the log holds.
    let told = |call: &str| events_named(&url, call, "announced") as u64;
    let (tb, tc, td) = (told(&rb.call_id), told(&rc.call_id), told(&rd.call_id));
    assert_eq!(told(&ra.call_id), 0, "A was answered at once");
    assert!(tb >= 1 && tc >= 1 && td >= 1);
    let today = jiff::Zoned::now().date();
    let day = |d: jiff::civil::Date| d.to_string();
    let out = centrale_cli(&[
        "report",
        "--waits",
        "--database",
        &url,
        "--from",
        &day(today.yesterday().unwrap()),
        "--to",
        &day(today.tomorrow().unwrap().tomorrow().unwrap()),
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let total = v["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["queue"] == "(all)" && l["band"] == "all")
        .unwrap_or_else(|| panic!("{out}"));
    let n = |k: &str| total[k].as_u64().unwrap_or(u64::MAX);
    assert_eq!(n("announcements"), tb + tc + td, "{total}");
    assert_eq!(n("answered"), tb + td, "{total}");
    assert_eq!(n("abandoned"), tc, "{total}");
    // C's turn came (when a caller behind was answered): every announcement is judged.
    assert_eq!(total["ours"]["n"].as_u64(), Some(tb + tc + td), "{total}");
    assert_eq!(n("potential"), tc, "{total}");
    marie.stop();
}

/// Calls that entered a queue so far (from their events: a call's row is written as it
/// starts and ends).
fn wait_queued(url: &str, n: usize) -> bool {
    db_calls(url)
        .iter()
        .filter(|r| events_named(url, &r.call_id, "queue_entered") > 0)
        .count()
        >= n
}
