//! Issue 3's proof against a running server: the shipped Québec plan during open hours, after
//! hours and on a holiday (messages in the caller's language), 911 redirected even with a
//! broken plan, the emergency escape, 811 and neighbouring-town transfers bridged to a SIPp
//! gateway with audio checked both ways, a failed transfer, invalid digits, hot reload, and the
//! `check` / `dry-run` commands.

mod common;

use std::process::Command;
use std::time::Duration;

use centrale::media::g711::Law;
use centrale::media::prompt::Lang;
use common::*;

const DTMF: &str = "/usr/share/sip-tester";

fn dtmf(d: char) -> String {
    format!("{DTMF}/dtmf_2833_{d}.pcap")
}

/// A weekday in spring, open (the plan's calendar: Mon–Fri 08:00–19:00, America/Toronto).
const OPEN: &str = "2027-04-16T10:00";
/// The same Friday after closing time.
const CLOSED: &str = "2027-04-16T19:05";
/// Easter Monday 2027: a Québec statutory holiday.
const HOLIDAY: &str = "2027-03-29T10:00";

fn quebec_at(clock: &str, gw_port: u16, plans: &tempfile::TempDir) -> Server {
    let mut opts = ServerOpts::plan("quebec");
    opts.dialplan = plan_with_gateway("quebec", gw_port, plans.path());
    opts.clock = Some(clock.into());
    opts.extra_config = format!("[emergency]\nuri = \"sip:911@127.0.0.1:{gw_port}\"\n");
    Server::start(opts)
}

/// Open hours: 1 (French) barges into the greeting, 0 typed during the spring notice is kept
/// for the main menu (type-ahead: its prompt never plays) and reaches the general queue.
#[test]
fn open_hours_language_then_typeahead_to_the_general_queue() {
    let plans = tempfile::tempdir().unwrap();
    let server = quebec_at(OPEN, port_block(2), &plans);
    let sink = RtpSink::start();
    let run = Sipp::new(
        "call_two_digits_hangup.xml",
        server.addr(),
        server.dir.path(),
    )
    .key("rtp_port", sink.port)
    .key("pre_ms", 1000)
    .key("pcap", dtmf('1'))
    .key("gap_ms", 1500)
    .key("pcap2", dtmf('0'))
    .key("talk_ms", 9000)
    .run();
    run.assert_ok();
    let packets = sink.finish();
    assert_stream_continuity(&packets);
    assert_heard_whole(&packets, "topic_general", Lang::Fr);
    assert_not_heard(&packets, "main_menu", Lang::Fr);
    assert_not_heard(&packets, "topic_general", Lang::En);
    let log = server.log_text();
    assert!(log.contains("queue:general"), "{log}");
    let row = assert_one_call_logged(&server.db_url, "queue:general");
    assert!(
        row.offered && !row.answered,
        "queued, nobody to answer: {row:?}"
    );
    assert_eq!(row.queue.as_deref(), Some("general"));
}

/// After hours: the closed message, in the language the caller chose.
#[test]
fn after_hours_closed_message_in_the_chosen_language() {
    let plans = tempfile::tempdir().unwrap();
    let server = quebec_at(CLOSED, port_block(2), &plans);
    let sink = RtpSink::start();
    Sipp::new("call_digit.xml", server.addr(), server.dir.path())
        .key("rtp_port", sink.port)
        .key("pre_ms", 1000)
        .key("pcap", dtmf('2'))
        .run()
        .assert_ok();
    let packets = sink.finish();
    assert_heard_whole(&packets, "closed", Lang::En);
    assert_not_heard(&packets, "closed", Lang::Fr);
    assert!(server.log_text().contains("outcome=after-hours"));
    let row = assert_one_call_logged(&server.db_url, "after-hours");
    assert_eq!(row.language.as_deref(), Some("en"));
}

/// Easter Monday: the holiday message (computed from Easter, not listed).
#[test]
fn holiday_message() {
    let plans = tempfile::tempdir().unwrap();
    let server = quebec_at(HOLIDAY, port_block(2), &plans);
    let sink = RtpSink::start();
    Sipp::new("call_digit.xml", server.addr(), server.dir.path())
        .key("rtp_port", sink.port)
        .key("pre_ms", 1000)
        .key("pcap", dtmf('1'))
        .run()
        .assert_ok();
    let packets = sink.finish();
    assert_heard_whole(&packets, "holiday_closed", Lang::Fr);
    assert_not_heard(&packets, "closed", Lang::Fr);
    assert_one_call_logged(&server.db_url, "after-hours");
}

/// 911 (and 9-1-1 typed after a 9 for an outside line) is redirected before answering.
#[test]
fn emergency_numbers_are_redirected() {
    let plans = tempfile::tempdir().unwrap();
    let gw = port_block(8);
    let server = quebec_at(CLOSED, gw, &plans);
    for number in ["911", "9911", "9-1-1"] {
        let run = Sipp::new("redirected.xml", server.addr(), server.dir.path())
            .key("service", number)
            .key("rtp_port", 9)
            .run();
        run.assert_ok();
        assert!(
            run.logs
                .contains(&format!("CONTACT sip:911@127.0.0.1:{gw}")),
            "{number}: {}",
            run.logs
        );
    }
    // 811 is the plan's misdial rule (a redirect too in the shipped plan).
    let run = Sipp::new("redirected.xml", server.addr(), server.dir.path())
        .key("service", "811")
        .key("rtp_port", 9)
        .run();
    run.assert_ok();
    assert!(run.logs.contains("CONTACT sip:811@"), "{}", run.logs);
}

/// The 911 path does not depend on the plan: with a plan that does not even parse, 911 is
/// still redirected and everything else gets 503.
#[test]
fn emergency_redirect_survives_a_broken_plan() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken");
    std::fs::create_dir(&broken).unwrap();
    std::fs::write(broken.join("plan.toml"), "[plan\nname = \"oops\"\n").unwrap();
    let gw = port_block(8);
    let mut opts = ServerOpts::plan("quebec");
    opts.dialplan = broken;
    opts.extra_config = format!("[emergency]\nuri = \"sip:911@127.0.0.1:{gw}\"\n");
    let server = Server::start(opts);
    let run = Sipp::new("redirected.xml", server.addr(), server.dir.path())
        .key("service", "911")
        .key("rtp_port", 9)
        .run();
    run.assert_ok();
    assert!(run.logs.contains("CONTACT sip:911@"), "{}", run.logs);
    let log = server.log_text();
    assert!(
        log.contains("plan.toml:1:"),
        "the error names file:line: {log}"
    );
    let row = assert_one_call_logged(&server.db_url, "redirect:911");
    assert_eq!(row.redirect_target.as_deref(), Some("911"));
}

/// Press 9 in a menu: the emergency prompt, then a bridged transfer to the 911 gateway — also
/// after hours, since the language menu comes before the calendar.
#[test]
fn emergency_escape_in_a_menu_transfers_to_911_even_when_closed() {
    let plans = tempfile::tempdir().unwrap();
    let gw_port = port_block(8);
    let server = quebec_at(CLOSED, gw_port, &plans);
    let gw_sink = RtpSink::start();
    let gateway = Sipp::uas("gateway.xml", gw_port, server.dir.path())
        .key("rtp_port", gw_sink.port)
        .key("ring_ms", 300)
        .key("talk_ms", 2000)
        .spawn();
    let sink = RtpSink::start();
    Sipp::new("call_digit.xml", server.addr(), server.dir.path())
        .key("rtp_port", sink.port)
        .key("pre_ms", 1000)
        .key("pcap", dtmf('9'))
        .run()
        .assert_ok();
    let gw = gateway.wait();
    gw.assert_ok();
    assert!(gw.logs.contains("DIALLED 911"), "{}", gw.logs);
    let packets = sink.finish();
    assert_heard_whole(&packets, "emergency_transfer", Lang::Fr);
    let log = server.log_text();
    assert!(log.contains("transfer answered"), "{log}");
    assert!(log.contains("outcome=transfer:911"), "{log}");
    let row = assert_one_call_logged(&server.db_url, "transfer:911");
    let names = event_names(&server.db_url, &row.call_id);
    assert!(
        names.contains(&"emergency_escape") && names.contains(&"transfer_answered"),
        "{names:?}"
    );
}

/// 8 in the main menu: Info-Santé. The caller (µ-law) and the gateway (A-law) are bridged:
/// the caller's 800 Hz tone reaches the gateway, the gateway's recording reaches the caller.
#[test]
fn health_choice_is_bridged_to_811_with_audio_both_ways() {
    let plans = tempfile::tempdir().unwrap();
    let gw_port = port_block(8);
    let server = quebec_at(OPEN, gw_port, &plans);
    let gw_sink = RtpSink::start();
    let gateway = Sipp::uas("gateway.xml", gw_port, server.dir.path())
        .key("rtp_port", gw_sink.port)
        .key("ring_ms", 300)
        .key("talk_ms", 6000)
        .spawn();
    let sink = RtpSink::start();
    let tone = root().join("tests/sipp/pcap/tone_800hz_ulaw.pcap");
    Sipp::new("call_transfer.xml", server.addr(), server.dir.path())
        .key("rtp_port", sink.port)
        .key("pre_ms", 1000)
        .key("pcap", dtmf('1'))
        .key("gap_ms", 1500)
        .key("pcap2", dtmf('8'))
        .key("talk_at_ms", 7000)
        .key("relay_pcap", dtmf('5'))
        .key("audio_pcap", tone.display())
        .run()
        .assert_ok();
    let gw = gateway.wait();
    gw.assert_ok();
    assert!(gw.logs.contains("DIALLED 811"), "{}", gw.logs);
    let caller = sink.finish();
    let mut agent_side = gw_sink.finish();
    assert_heard_whole(&caller, "health_transfer", Lang::Fr);
    // The digit pressed while bridged reaches the far end as RFC 4733 events (event 5, the
    // gateway's payload type 101), not as audio.
    let events: Vec<_> = agent_side.iter().filter(|p| p.pt == 101).collect();
    assert!(
        !events.is_empty(),
        "no telephone-event relayed to the gateway"
    );
    assert!(
        events.iter().all(|p| p.payload.first() == Some(&5)),
        "relayed digit is 5: {:?}",
        events.iter().map(|p| p.payload.clone()).collect::<Vec<_>>()
    );
    assert!(
        events
            .iter()
            .any(|p| p.payload.get(1).is_some_and(|b| b & 0x80 != 0)),
        "the event's end packet was relayed"
    );
    agent_side.retain(|p| p.pt != 101);
    // Gateway side: A-law packets carrying the caller's 800 Hz tone.
    assert!(agent_side.iter().all(|p| p.pt == 8), "gateway leg is PCMA");
    let pcm = decode(&agent_side, Law::Alaw);
    assert!(
        dominant_hz(&pcm).is_some_and(|hz| (770.0..830.0).contains(&hz)),
        "the caller's tone crossed the bridge: {:?}",
        dominant_hz(&pcm)
    );
    // Caller side: after the transfer prompt, the gateway's A-law recording arrives as µ-law.
    let g711a = pcap_payloads("/usr/share/sip-tester/g711a.pcap");
    let reference: Vec<i16> = g711a
        .iter()
        .flat_map(|p| {
            let mut f = vec![0i16; p.len()];
            Law::Alaw.decode(p, &mut f);
            f
        })
        .collect();
    let reference = centrale::media::prompt::Prompt::from_pcm("g711a", Lang::Fr, "", reference);
    let heard = find_prompt(&caller, &reference, Law::Ulaw).expect("gateway audio at the caller");
    assert!(
        heard.correlation > 0.9,
        "gateway audio reached the caller (correlation {:.3})",
        heard.correlation
    );
    // Relayed packets continue the caller's stream: one SSRC throughout.
    let ssrcs: std::collections::HashSet<u32> = caller.iter().map(|p| p.ssrc).collect();
    assert_eq!(ssrcs.len(), 1);
    let log = server.log_text();
    assert!(log.contains("outcome=transfer:811"), "{log}");
    assert_one_call_logged(&server.db_url, "transfer:811");
}

/// 7: the neighbouring town's number, through the gateway.
#[test]
fn neighbouring_town_transfer() {
    let plans = tempfile::tempdir().unwrap();
    let gw_port = port_block(8);
    let server = quebec_at(OPEN, gw_port, &plans);
    let gw_sink = RtpSink::start();
    let gateway = Sipp::uas("gateway.xml", gw_port, server.dir.path())
        .key("rtp_port", gw_sink.port)
        .key("ring_ms", 200)
        .key("talk_ms", 1500)
        .spawn();
    let sink = RtpSink::start();
    Sipp::new("call_two_digits.xml", server.addr(), server.dir.path())
        .key("rtp_port", sink.port)
        .key("pre_ms", 1000)
        .key("pcap", dtmf('2'))
        .key("gap_ms", 1500)
        .key("pcap2", dtmf('7'))
        .run()
        .assert_ok();
    let gw = gateway.wait();
    gw.assert_ok();
    assert!(gw.logs.contains("DIALLED +14188720000"), "{}", gw.logs);
    let packets = sink.finish();
    assert_heard_whole(&packets, "neighbour_transfer", Lang::En);
    assert!(server
        .log_text()
        .contains("outcome=transfer:lancienne-lorette"));
    assert_one_call_logged(&server.db_url, "transfer:lancienne-lorette");
}

/// The target refuses: "transfer failed", then back to the main menu.
#[test]
fn failed_transfer_returns_to_the_menu() {
    let plans = tempfile::tempdir().unwrap();
    let gw_port = port_block(8);
    let server = quebec_at(OPEN, gw_port, &plans);
    let gateway = Sipp::uas("gateway_busy.xml", gw_port, server.dir.path()).spawn();
    let sink = RtpSink::start();
    Sipp::new(
        "call_two_digits_hangup.xml",
        server.addr(),
        server.dir.path(),
    )
    .key("rtp_port", sink.port)
    .key("pre_ms", 1000)
    .key("pcap", dtmf('1'))
    .key("gap_ms", 1500)
    .key("pcap2", dtmf('7'))
    .key("talk_ms", 14000)
    .run()
    .assert_ok();
    gateway.wait().assert_ok();
    let packets = sink.finish();
    let fail = assert_heard_whole(&packets, "transfer_failed", Lang::Fr);
    // The caller hangs up during the (long) menu: look for its first seconds, frame for frame.
    let menu = prompt("main_menu", Lang::Fr);
    let again = (fail.start + fail.frames..packets.len().saturating_sub(100))
        .find(|&i| (0..100).all(|k| packets[i + k].payload == menu.frame(Law::Ulaw, k)));
    assert!(
        again.is_some(),
        "the main menu plays again after the failure"
    );
    let log = server.log_text();
    assert!(log.contains("transfer failed"), "{log}");
    let row = assert_one_call_logged(&server.db_url, "abandoned:ivr");
    assert!(event_names(&server.db_url, &row.call_id).contains(&"transfer_failed"));
}

/// An invalid digit in the main menu: "invalid" and the menu again; then 0 works.
#[test]
fn invalid_digit_in_the_main_menu() {
    let plans = tempfile::tempdir().unwrap();
    let server = quebec_at(OPEN, port_block(2), &plans);
    let sink = RtpSink::start();
    Sipp::new(
        "call_three_digits_hangup.xml",
        server.addr(),
        server.dir.path(),
    )
    .key("rtp_port", sink.port)
    .key("pre_ms", 1000)
    .key("pcap", dtmf('1'))
    .key("gap_ms", 1500)
    .key("pcap2", dtmf('6'))
    .key("gap2_ms", 6000)
    .key("pcap3", dtmf('0'))
    .key("talk_ms", 8000)
    .run()
    .assert_ok();
    let packets = sink.finish();
    assert_heard_whole(&packets, "invalid", Lang::Fr);
    assert_heard_whole(&packets, "topic_general", Lang::Fr);
    assert_one_call_logged(&server.db_url, "queue:general");
}

/// A senior waits too long in the small city's queue: the overflow takes a voice message,
/// which ends with '#' and is saved as a WAV file the coordinator can play.
#[test]
fn queue_overflow_to_voicemail_records_the_caller() {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan_with_gateway("trois-rivieres", port_block(2), dir.path());
    let queues = std::fs::read_to_string(plan.join("queues.toml")).unwrap();
    std::fs::write(
        plan.join("queues.toml"),
        queues.replace("max_wait = 600", "max_wait = 3"),
    )
    .unwrap();
    let mut opts = ServerOpts::plan("trois-rivieres");
    opts.dialplan = plan;
    opts.clock = Some(OPEN.into());
    opts.web = true;
    let server = Server::start(opts);
    let sink = RtpSink::start();
    let tone = root().join("tests/sipp/pcap/tone_800hz_ulaw.pcap");
    Sipp::new("call_voicemail.xml", server.addr(), server.dir.path())
        .key("rtp_port", sink.port)
        .key("pre_ms", 1000)
        .key("pcap", dtmf('1'))
        .key("gap_ms", 1500)
        .key("pcap2", dtmf('3'))
        .key("talk_at_ms", 15000)
        .key("audio_pcap", tone.display())
        // SIPp plays captures in the background: '#' after the 4 s tone has played.
        .key("gap2_ms", 5000)
        .key("pcap3", format!("{DTMF}/dtmf_2833_pound.pcap"))
        .timeout(90)
        .run()
        .assert_ok();
    let packets = sink.finish();
    assert_heard_whole(&packets, "queue_overflow", Lang::Fr);
    assert_heard_whole(&packets, "record_done", Lang::Fr);
    let row = assert_one_call_logged(&server.db_url, "voicemail");
    let events = db_events(&server.db_url, &row.call_id);
    let file = events
        .iter()
        .find_map(|e| match &e.kind {
            centrale::event::EventKind::Recorded { file, .. } => Some(file.clone()),
            _ => None,
        })
        .expect("a recorded event");
    let pcm = centrale::media::prompt::decode_file(std::path::Path::new(&file)).unwrap();
    assert!(
        pcm.len() > 8000 * 3,
        "several seconds recorded: {}",
        pcm.len()
    );
    assert!(
        dominant_hz(&pcm).is_some_and(|hz| (770.0..830.0).contains(&hz)),
        "the caller's tone is in the message: {:?}",
        dominant_hz(&pcm)
    );
    // The coordinator, in the console: the message is listed, plays, and is marked handled.
    cli(
        &server,
        &["user", "add", "coord", "--role", "supervisor"],
        "messages-2027-coord\n",
    );
    let token = cli(&server, &["user", "token", "coord"], "");
    let auth = format!("Authorization: Bearer {token}");
    let base = format!("https://127.0.0.1:{}", server.web_port.unwrap());
    let get = |path: &str| {
        let out = Command::new("curl")
            .args([
                "-k",
                "-s",
                "--max-time",
                "20",
                "-H",
                &auth,
                "-w",
                "\n%{http_code}",
            ])
            .arg(format!("{base}{path}"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let list = get("/api/voicemails");
    assert!(list.ends_with("200"), "{list}");
    assert!(
        list.contains(&row.call_id) && list.contains("\"handled_by\":null"),
        "{list}"
    );
    assert!(list.contains("5145550100"), "{list}");
    let audio = Command::new("curl")
        .args(["-k", "-s", "--max-time", "20", "-H", &auth, "-o"])
        .arg(server.dir.path().join("heard.wav"))
        .args(["-w", "%{http_code}"])
        .arg(format!("{base}/api/voicemails/{}/audio", row.call_id))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&audio.stdout), "200");
    let heard = centrale::media::prompt::decode_file(&server.dir.path().join("heard.wav")).unwrap();
    assert_eq!(heard.len(), pcm.len(), "the same message");
    let done = Command::new("curl")
        .args([
            "-k",
            "-s",
            "--max-time",
            "20",
            "-X",
            "POST",
            "-H",
            &auth,
            "-w",
            "\n%{http_code}",
        ])
        .arg(format!("{base}/api/voicemails/{}/handled", row.call_id))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&done.stdout).ends_with("200"));
    let mut handled = false;
    for _ in 0..50 {
        if get("/api/voicemails").contains("\"handled_by\":\"coord\"") {
            handled = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(handled, "handled, from the log");
}

/// Hot reload: a call in progress keeps its plan version; a new call gets the new plan; an
/// invalid plan is rejected and the last good one keeps serving.
#[test]
fn reload_keeps_running_calls_and_rejects_bad_plans() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan");
    std::fs::create_dir(&plan).unwrap();
    let original = std::fs::read_to_string(root().join("dialplans/minimal/plan.toml")).unwrap();
    std::fs::write(plan.join("plan.toml"), &original).unwrap();
    let mut opts = ServerOpts::plan("minimal");
    opts.dialplan = plan.clone();
    let server = Server::start(opts);
    // A long call: it listens to the greeting and its re-prompts (~50 s) under version 1.
    let long_sink = RtpSink::start();
    let long_call = Sipp::new("call_listen.xml", server.addr(), server.dir.path())
        .key("rtp_port", long_sink.port)
        .key("bye_timeout", 120_000)
        .timeout(150)
        .spawn();
    std::thread::sleep(Duration::from_secs(3));
    // Version 2: the confirmation says goodbye instead (another prompt).
    let v2 = original.replace(
        "prompts = [\"language_confirmed\"]",
        "prompts = [\"goodbye\"]",
    );
    assert_ne!(v2, original);
    std::fs::write(plan.join("plan.toml"), &v2).unwrap();
    wait_for(|| server.log_text().matches("dial plan loaded").count() >= 2);
    // A new call gets version 2.
    let sink = RtpSink::start();
    Sipp::new("call_digit.xml", server.addr(), server.dir.path())
        .key("rtp_port", sink.port)
        .key("pre_ms", 1000)
        .key("pcap", dtmf('1'))
        .run()
        .assert_ok();
    let packets = sink.finish();
    assert_heard_whole(&packets, "goodbye", Lang::Fr);
    assert_not_heard(&packets, "language_confirmed", Lang::Fr);
    // An invalid plan is rejected with its position; the server keeps serving version 2.
    std::fs::write(
        plan.join("plan.toml"),
        v2.replace("next = \"fin\"", "next = \"nowhere\""),
    )
    .unwrap();
    wait_for(|| server.log_text().contains("dial plan rejected"));
    let log = server.log_text();
    assert!(log.contains("plan.toml:"), "{log}");
    // SIGHUP forces a reload even when no file changed: validated again, rejected again.
    let rejected = log.matches("dial plan rejected").count();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    wait_for(|| server.log_text().matches("dial plan rejected").count() > rejected);
    assert!(server
        .log_text()
        .contains("SIGHUP: reloading the dial plan"));
    let sink = RtpSink::start();
    Sipp::new("call_digit.xml", server.addr(), server.dir.path())
        .key("rtp_port", sink.port)
        .key("pre_ms", 1000)
        .key("pcap", dtmf('2'))
        .run()
        .assert_ok();
    assert_heard_whole(&sink.finish(), "goodbye", Lang::En);
    // The long call finished on version 1: the French confirmation, not "goodbye".
    long_call.wait().assert_ok();
    let long = long_sink.finish();
    assert_heard_whole(&long, "language_confirmed", Lang::Fr);
    assert_not_heard(&long, "goodbye", Lang::Fr);
    // Each call records the plan version it ran on.
    let rows = wait_calls(&server.db_url, 3);
    let versions: Vec<_> = rows
        .iter()
        .map(|r| r.plan_version.clone().unwrap_or_default())
        .collect();
    assert_ne!(
        versions[0], versions[1],
        "the long call kept version 1: {versions:?}"
    );
    assert_eq!(
        versions[1], versions[2],
        "the rejected plan never served: {versions:?}"
    );
}

fn wait_for(cond: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "condition not met in 20 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn centrale(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_centrale"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn check_accepts_the_shipped_plans_and_points_at_errors() {
    let (ok, out) = centrale(&["check", "dialplans"]);
    assert!(ok, "{out}");
    assert_eq!(out.matches(": ok").count(), 3, "{out}");
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join("dialplans/minimal/plan.toml"))
        .unwrap()
        .replace(
            "prompts = [\"language_confirmed\"]",
            "prompts = [\"no_such_prompt\"]",
        );
    std::fs::write(dir.path().join("plan.toml"), text).unwrap();
    let (ok, out) = centrale(&["check", dir.path().to_str().unwrap()]);
    assert!(!ok);
    let line = out
        .lines()
        .find(|l| l.contains("no_such_prompt"))
        .expect(&out);
    // file:line:column: message
    let mut parts = line.splitn(4, ':');
    assert!(parts.next().unwrap().ends_with("plan.toml"));
    assert!(parts.next().unwrap().parse::<usize>().is_ok(), "{line}");
    assert!(parts.next().unwrap().parse::<usize>().is_ok(), "{line}");
}

#[test]
fn dry_run_tells_the_path_of_a_call() {
    let dry = |at: &str, digits: &str| {
        let (ok, out) = centrale(&[
            "dry-run",
            "--dialplan",
            "dialplans/quebec",
            "--at",
            at,
            "--to",
            "311",
            "--digits",
            digits,
        ]);
        assert!(ok, "{out}");
        out
    };
    // The example: Saturday 18:59 (closed), English, then 3.
    let out = dry("2027-04-17T18:59", "2,3");
    assert!(out.contains("▶ en:choose_language"), "{out}");
    assert!(out.contains("if closed: yes"), "{out}");
    assert!(out.contains("▶ en:closed —"), "{out}");
    assert!(out.contains("outcome: after-hours"), "{out}");
    // Easter Monday names the holiday.
    let out = dry(HOLIDAY, "1");
    assert!(out.contains("Lundi de Pâques"), "{out}");
    // Open, winter: the winter notice, then 0 reaches the general queue.
    let out = dry("2027-01-12T10:00", "1,0");
    assert!(out.contains("▶ fr:winter_notice"), "{out}");
    assert!(out.contains("→ queue general"), "{out}");
    assert!(out.contains("outcome: queue:general"), "{out}");
    // 8 → Info-Santé, 9 → emergency, 911 dialled → redirect.
    assert!(dry(OPEN, "1,8").contains("outcome: transfer:811"));
    let out = dry(OPEN, "1,9");
    assert!(
        out.contains("emergency escape") && out.contains("outcome: transfer:911"),
        "{out}"
    );
    let (_, out) = centrale(&[
        "dry-run",
        "--dialplan",
        "dialplans/quebec",
        "--at",
        OPEN,
        "--to",
        "911",
    ]);
    assert!(out.contains("outcome: redirect:911"), "{out}");
}

/// The strongest frequency in a signal (zero crossings of the loudest second, good enough
/// for a steady tone).
fn dominant_hz(pcm: &[i16]) -> Option<f64> {
    let window = 8000.min(pcm.len());
    let (start, _) = (0..pcm.len().saturating_sub(window))
        .step_by(800)
        .map(|s| {
            (
                s,
                pcm[s..s + window]
                    .iter()
                    .map(|&x| (x as f64).powi(2))
                    .sum::<f64>(),
            )
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    let w = &pcm[start..start + window];
    let crossings = w.windows(2).filter(|p| (p[0] < 0) != (p[1] < 0)).count();
    Some(crossings as f64 / 2.0 / (window as f64 / 8000.0))
}

/// Shutdown is a broadcast, not a silent drop: a caller waiting in a queue when SIGTERM comes
/// keeps waiting through the drain time, then gets our BYE, and the call log says why.
#[test]
fn shutdown_hangs_up_a_waiting_caller_after_the_drain_time() {
    let plans = tempfile::tempdir().unwrap();
    let mut opts = ServerOpts::plan("quebec");
    let gw = port_block(2);
    opts.dialplan = plan_with_gateway("quebec", gw, plans.path());
    opts.clock = Some(OPEN.into());
    opts.extra_config =
        format!("[emergency]\nuri = \"sip:911@127.0.0.1:{gw}\"\n[limits]\ndrain_seconds = 3\n");
    let mut server = Server::start(opts);
    let sink = RtpSink::start();
    let call = Sipp::new("call_two_digits.xml", server.addr(), server.dir.path())
        .key("rtp_port", sink.port)
        .key("pre_ms", 1000)
        .key("pcap", dtmf('1'))
        .key("gap_ms", 1500)
        .key("pcap2", dtmf('0'))
        .key("bye_timeout", 30000)
        .spawn();
    // In the queue (hold music, after the topic's prompt) by now.
    std::thread::sleep(Duration::from_millis(10_000));
    let stopped = std::time::Instant::now();
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(server.child.id() as i32, libc::SIGTERM);
    }
    call.wait().assert_ok();
    let status = server.child.wait().unwrap();
    assert!(status.success(), "clean exit: {status}");
    // The BYE came after the drain time, not at once (no timing bound above it is asserted).
    assert!(stopped.elapsed() >= Duration::from_secs(3));
    let _ = sink.finish();
    let row = assert_one_call_logged(&server.db_url, "ended:shutdown");
    assert_eq!(row.queue.as_deref(), Some("general"));
    assert!(!row.answered, "{row:?}");
}
