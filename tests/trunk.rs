//! Issue 12's carrier trunks against real peers: SIPp plays the carrier. centrale registers to
//! it and answers its challenges to REGISTER (RFC 2069 digest) and INVITE (qop=auth) — SIPp's
//! `verifyauth` checks both —, a 911 call goes out through the trunk carrying the citizen's
//! number even when they withheld it (the dial plan is broken: the emergency path does not need
//! it), a carrier that refuses with 503 hands the call to the failover trunk, and a call from
//! the carrier's address to a DID in E.164 reaches the plan entry of that number, and a trunk
//! whose keepalives go unanswered is marked down in `/metrics` and tried after its failover.

mod common;

use std::time::Duration;

use common::*;

const TRUNK_USER: &str = "ville-qc";
const TRUNK_PASS: &str = "Tr0nc-s3cret!";

/// A caller dials 911; a SIPp gateway on `port` (the trunk that should get it) answers, talks
/// and hangs up, and the caller gets our BYE.
fn emergency_call_reaches(server: &Server, port: u16) {
    let gw_sink = RtpSink::start();
    let gateway = Sipp::uas("gateway.xml", port, server.dir.path())
        .key("rtp_port", gw_sink.port)
        .key("ring_ms", 200)
        .key("talk_ms", 1500)
        .timeout(60)
        .spawn();
    Sipp::new("call_listen.xml", server.addr(), server.dir.path())
        .key("service", "911")
        .key("rtp_port", 9)
        .key("bye_timeout", 20000)
        .run()
        .assert_ok();
    let g = gateway.wait();
    g.assert_ok();
    assert!(g.logs.contains("DIALLED 911"), "{}", g.logs);
}

/// 911 through a trunk that challenges everything, reached through its outbound proxy (the
/// carrier's name does not even resolve), from a caller who asked for privacy, with a dial
/// plan that does not even parse.
#[test]
fn emergency_call_authenticates_to_the_carrier_and_carries_the_callers_number() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken");
    std::fs::create_dir(&broken).unwrap();
    std::fs::write(broken.join("plan.toml"), "[plan\nname = \"oops\"\n").unwrap();
    let secret = dir.path().join("trunk-password");
    std::fs::write(&secret, format!("{TRUNK_PASS}\n")).unwrap();
    let carrier_port = port_block(8);
    let mut opts = ServerOpts::plan("quebec");
    opts.dialplan = broken;
    opts.extra_config = format!(
        "[emergency]\nuri = \"trunk:carrier/911\"\n\
         [[trunk]]\nname = \"carrier\"\naddress = \"sip.carrier.invalid:5060\"\n\
         proxy = \"127.0.0.1:{carrier_port}\"\n\
         username = \"{TRUNK_USER}\"\npassword = {{ file = \"{}\" }}\n\
         register = true\nregister_expires = 3600\nkeepalive_s = 0\n",
        secret.display()
    );
    let work = tempfile::tempdir().unwrap();
    // Two "calls" for SIPp: our registration, then the 911 call.
    let carrier = Sipp::uas("carrier.xml", carrier_port, work.path())
        .key("trunk_user", TRUNK_USER)
        .key("trunk_pass", TRUNK_PASS)
        .key("rtp_port", 9)
        .calls(2)
        .timeout(60)
        .spawn();
    let server = Server::start(opts);
    // The registration goes out at start; give it a moment before the emergency call.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !server.log_text().contains("carrier registration") {
        assert!(
            std::time::Instant::now() < deadline,
            "no registration: {}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let caller = Sipp::new("call_private.xml", server.addr(), server.dir.path())
        .key("service", "911")
        .key("rtp_port", 9)
        .key("pre_ms", 3000)
        .run();
    caller.assert_ok();
    let c = carrier.wait();
    c.assert_ok();
    assert!(c.logs.contains("REGISTERED"), "{}", c.logs);
    assert!(!c.logs.contains("BAD"), "{}", c.logs);
    assert!(
        c.logs
            .contains("DIALLED 911 PAI +15145550100 FROM +15145550100"),
        "911 gets the citizen's number in PAI and From despite Privacy: id\n{}",
        c.logs
    );
    assert!(!c.messages.contains("Privacy: id"), "{}", c.messages);
    let log = server.log_text();
    assert!(log.contains("registered=true"), "{log}");
    assert!(
        !log.contains(TRUNK_PASS),
        "the trunk password reached the log"
    );
    let row = assert_one_call_logged(&server.db_url, "transfer:911");
    // The caller came from the carrier's proxy address (no `inbound` list): read as E.164.
    assert_eq!(row.from_uri.as_deref(), Some("+15145550100"));
}

/// The first trunk refuses (503): the call goes out on its failover. A call from the
/// carrier's address to the 311 line's DID written 1-418-…, which the plan lists only as
/// "418 555-0111" and "+1 418 555-0111", reaches the 311 entry.
#[test]
fn a_refusing_trunk_fails_over_and_a_did_from_the_carrier_reaches_its_entry() {
    let primary = port_block(8);
    let backup = port_block(8);
    let mut opts = ServerOpts::plan("quebec");
    opts.clock = Some("2027-04-16T10:00".into());
    opts.extra_config = format!(
        "[emergency]\nuri = \"trunk:primary/911\"\n\
         [[trunk]]\nname = \"primary\"\naddress = \"127.0.0.1:{primary}\"\nfailover = \"backup\"\nkeepalive_s = 0\ninbound = [\"127.0.0.1\"]\n\
         [[trunk]]\nname = \"backup\"\naddress = \"127.0.0.1:{backup}\"\nformat = \"nanp11\"\nkeepalive_s = 0\n"
    );
    let server = Server::start(opts);
    let refusing = Sipp::uas("carrier_busy.xml", primary, server.dir.path())
        .timeout(60)
        .spawn();
    emergency_call_reaches(&server, backup);
    let r = refusing.wait();
    r.assert_ok();
    assert!(r.logs.contains("REFUSED 911"), "{}", r.logs);
    assert!(
        server.log_text().contains("trying the next trunk"),
        "{}",
        server.log_text()
    );
    // Inbound from the carrier: its DID in 11-digit form selects the 311 entry.
    let sink = RtpSink::start();
    Sipp::new("call_hangup.xml", server.addr(), server.dir.path())
        .key("service", "14185550111")
        .key("rtp_port", sink.port)
        .key("pre_ms", 4000)
        .run()
        .assert_ok();
    let packets = sink.finish();
    assert!(
        packets.len() > 100,
        "the 311 greeting plays ({} packets)",
        packets.len()
    );
    let rows = wait_calls(&server.db_url, 2);
    let did = rows
        .iter()
        .find(|r| r.to_uri.as_deref().unwrap_or("").contains("4185550111"))
        .expect("the DID call is logged");
    assert_eq!(did.to_uri.as_deref(), Some("+14185550111"));
    assert_eq!(did.from_uri.as_deref(), Some("+15145550100"));
    // It entered the 311 flow (and hung up during it), not refused as an unknown number.
    assert_eq!(did.outcome, "abandoned:ivr", "{did:?}");
}

/// A trunk whose carrier stops answering its OPTIONS keepalive is marked down (`/metrics`
/// says so) and calls go to its failover first, without waiting for the dead one to time out.
#[test]
fn a_trunk_that_stops_answering_keepalives_is_marked_down_and_skipped() {
    // Nobody listens on `dead`: its OPTIONS time out (64·T1 with T1 = 50 ms).
    let dead = port_block(8);
    let backup = port_block(8);
    let mut opts = ServerOpts::plan("quebec");
    opts.sip_extra = "t1_ms = 50\n".into();
    opts.admin_port = Some(port_block(2));
    opts.extra_config = format!(
        "[emergency]\nuri = \"trunk:primary/911\"\n\
         [[trunk]]\nname = \"primary\"\naddress = \"127.0.0.1:{dead}\"\nfailover = \"backup\"\nkeepalive_s = 1\ninbound = [\"192.0.2.1\"]\n\
         [[trunk]]\nname = \"backup\"\naddress = \"127.0.0.1:{backup}\"\nkeepalive_s = 0\ninbound = [\"192.0.2.2\"]\n"
    );
    let admin = opts.admin_port.unwrap();
    let server = Server::start(opts);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, metrics) = http(admin, "GET", "/metrics", "");
        if metrics.contains("centrale_trunk_up{trunk=\"primary\"} 0") {
            assert!(
                metrics.contains("centrale_trunk_up{trunk=\"backup\"} 1"),
                "{metrics}"
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{metrics}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(server.log_text().contains("carrier does not answer"));
    emergency_call_reaches(&server, backup);
    assert!(
        !server.log_text().contains("trying the next trunk"),
        "the backup was tried first, not after a failure"
    );
}
