//! Issue 12's carrier trunks against real peers: SIPp plays the carrier. centrale registers to
//! it and answers its challenges to REGISTER (RFC 2069 digest) and INVITE (qop=auth) — SIPp's
//! `verifyauth` checks both —, a 911 call goes out through the trunk carrying the citizen's
//! number even when they withheld it (the dial plan is broken: the emergency path does not need
//! it), a carrier that refuses with 503 hands the call to the failover trunk, and a call from
//! the carrier's address to a DID in E.164 reaches the plan entry of that number, and a trunk
//! whose keepalives go unanswered is marked down in `/metrics` and tried after its failover.
//! A trunk named by its domain alone is found through a real DNS server (dnsmasq): NAPTR, SRV,
//! then A; when the first SRV target refuses the connection, the next one gets the call.

mod common;

use std::time::Duration;

use common::*;

const TRUNK_USER: &str = "ville-qc";
const TRUNK_PASS: &str = "Tr0nc-s3cret!";

/// A caller dials 911; a SIPp gateway on `port` (the trunk that should get it) answers, talks
/// and hangs up, and the caller gets our BYE.
fn emergency_call_reaches(server: &Server, port: u16) {
    emergency_call_reaches_over(server, port, false)
}

/// The same, the gateway listening over TCP when `tcp`.
fn emergency_call_reaches_over(server: &Server, port: u16, tcp: bool) {
    let gw_sink = RtpSink::start();
    let mut gateway = Sipp::uas("gateway.xml", port, server.dir.path())
        .key("rtp_port", gw_sink.port)
        .key("ring_ms", 200)
        .key("talk_ms", 1500)
        .timeout(60);
    if tcp {
        gateway = gateway.tcp();
    }
    let gateway = gateway.spawn();
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

/// The INVITE of the call the TLS carrier received from `server`, whose BYE (the hangup) must
/// have come the same way. The test fails, with what the carrier did see and the server's log,
/// otherwise.
fn call_over_tls(carrier: std::thread::JoinHandle<Vec<String>>, server: &Server) -> String {
    let seen = carrier.join().expect("the carrier thread");
    assert!(
        seen.iter().any(|m| m.starts_with("BYE ")),
        "the hangup reached the carrier over TLS: {seen:?}"
    );
    seen.iter()
        .find(|m| m.starts_with("INVITE "))
        .cloned()
        .unwrap_or_else(|| panic!("no INVITE over TLS: {seen:?}\n{}", server.log_text()))
}

/// A carrier reached over SIP over TLS, played by the test: a TLS listener with its own
/// certificate (for 127.0.0.1), answering one INVITE with 200 and the BYE that follows.
/// Returns the messages it received, in order.
fn tls_carrier(
    listener: std::net::TcpListener,
    identity: centrale::tls::Identity,
) -> std::thread::JoinHandle<Vec<String>> {
    use std::io::{Read, Write};
    std::thread::spawn(move || {
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(identity.certs, identity.key)
            .unwrap();
        listener.set_nonblocking(true).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let tcp = loop {
            match listener.accept() {
                Ok((tcp, _)) => break tcp,
                Err(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(_) => return Vec::new(),
            }
        };
        tcp.set_nonblocking(false).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let conn = rustls::ServerConnection::new(std::sync::Arc::new(config)).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut seen = Vec::new();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            // One message: the head, then Content-Length bytes of body.
            let msg = loop {
                if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..end]).to_string();
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            (k.trim().eq_ignore_ascii_case("content-length") || k.trim() == "l")
                                .then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        let m = String::from_utf8_lossy(&buf[..end + 4 + len]).to_string();
                        buf.drain(..end + 4 + len);
                        break Some(m);
                    }
                }
                match tls.read(&mut chunk) {
                    Ok(0) | Err(_) => break None,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            };
            let Some(msg) = msg else { return seen };
            let method = msg.split_whitespace().next().unwrap_or("").to_string();
            seen.push(msg.clone());
            let header = |name: &str| -> Vec<String> {
                msg.lines()
                    .filter(|l| {
                        l.split_once(':')
                            .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case(name))
                    })
                    .map(str::to_string)
                    .collect()
            };
            let reply = |status: &str, to_tag: bool, body: &str| -> String {
                let mut r = format!("SIP/2.0 {status}\r\n");
                for l in header("via")
                    .into_iter()
                    .chain(header("from"))
                    .chain(header("call-id"))
                    .chain(header("cseq"))
                {
                    r.push_str(&l);
                    r.push_str("\r\n");
                }
                for l in header("to") {
                    r.push_str(&l);
                    if to_tag && !l.contains("tag=") {
                        r.push_str(";tag=carrier-tls");
                    }
                    r.push_str("\r\n");
                }
                r.push_str("Contact: <sip:carrier@127.0.0.1;transport=tls>\r\n");
                if !body.is_empty() {
                    r.push_str("Content-Type: application/sdp\r\n");
                }
                r.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
                r
            };
            let out = match method.as_str() {
                "INVITE" => reply(
                    "200 OK",
                    true,
                    "v=0\r\no=carrier 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                     m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n",
                ),
                "BYE" | "OPTIONS" => reply("200 OK", false, ""),
                _ => continue,
            };
            if tls.write_all(out.as_bytes()).is_err() {
                return seen;
            }
            let _ = tls.flush();
            if method == "BYE" {
                return seen;
            }
        }
    })
}

/// A TLS carrier's certificate for `name` (written in `dir`, its CA for the trunk's
/// `tls_ca`), and a listener on a free loopback port for it.
fn carrier_cert(
    dir: &std::path::Path,
    name: &str,
) -> (
    std::path::PathBuf,
    centrale::tls::Identity,
    std::net::TcpListener,
    u16,
) {
    let (cert, key) = (dir.join("carrier.pem"), dir.join("carrier.key"));
    let identity = centrale::tls::load_or_generate(&cert, &key, &[name.to_string()])
        .expect("a certificate for the carrier");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (cert, identity, listener, port)
}

/// A server whose 911 goes to a TLS carrier on `port`, trusting the CA certificate `ca`, with
/// SRTP offered (optional: the carrier answers in clear).
fn tls_trunk_server(port: u16, ca: &std::path::Path) -> Server {
    let mut opts = ServerOpts::plan("quebec");
    opts.extra_config = format!(
        "[emergency]\nuri = \"trunk:carrier/911\"\n\
         [[trunk]]\nname = \"carrier\"\naddress = \"127.0.0.1:{port}\"\ntransport = \"tls\"\n\
         tls_ca = \"{}\"\nkeepalive_s = 0\nsrtp = \"optional\"\n",
        ca.display()
    );
    Server::start(opts)
}

/// A caller dials 911 and hangs up after 2 s.
fn call_911_and_hang_up(server: &Server) -> SippRun {
    Sipp::new("call_hangup.xml", server.addr(), server.dir.path())
        .key("service", "911")
        .key("rtp_port", 9)
        .key("pre_ms", 2000)
        .timeout(30)
        .run()
}

/// 911 through a carrier trunk over SIP over TLS: the server opens the TLS connection, checks
/// the carrier's certificate against the trunk's `tls_ca`, sends the INVITE (the citizen's
/// number in From and P-Asserted-Identity) and, when the caller hangs up, the BYE — all on
/// that connection. A carrier presenting a certificate the trunk does not trust gets nothing.
#[test]
fn emergency_call_over_a_tls_trunk_carries_the_callers_number() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, identity, listener, port) = carrier_cert(dir.path(), "127.0.0.1");
    let carrier = tls_carrier(listener, identity);
    let server = tls_trunk_server(port, &cert);
    call_911_and_hang_up(&server).assert_ok();
    let invite = call_over_tls(carrier, &server);
    assert!(invite.starts_with("INVITE sip:911@127.0.0.1:"), "{invite}");
    assert!(invite.contains("transport=tls"), "{invite}");
    assert!(invite.contains("Via: SIP/2.0/TLS"), "{invite}");
    // The trunk's SRTP policy (optional): keys offered in RTP/AVP over the TLS connection.
    assert!(
        invite.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:") && invite.contains("RTP/AVP"),
        "{invite}"
    );
    assert!(
        invite.contains("5145550100"),
        "the citizen's number: {invite}"
    );

    // The same trunk trusting another CA: the connection is refused, nothing is sent.
    let other = tempfile::tempdir().unwrap();
    let (ocert, okey) = (
        other.path().join("other.pem"),
        other.path().join("other.key"),
    );
    centrale::tls::load_or_generate(&ocert, &okey, &["127.0.0.1".to_string()]).unwrap();
    let identity =
        centrale::tls::load_or_generate(&cert, &dir.path().join("carrier.key"), &[]).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let carrier = tls_carrier(listener, identity);
    let server = tls_trunk_server(port, &ocert);
    let _ = call_911_and_hang_up(&server);
    let seen = carrier.join().expect("the carrier thread");
    assert!(seen.is_empty(), "an untrusted carrier got {seen:?}");
    assert!(
        server
            .log_text()
            .contains("TLS connection to the carrier failed"),
        "{}",
        server.log_text()
    );
}

/// dnsmasq serving `records`, or None (the test says why it is skipped) when it is missing.
/// A real dnsmasq serving `records`. Missing, the test fails (it would otherwise pass having
/// checked nothing): `scripts/test` installs it.
fn dns(records: &[String]) -> common::dnsmasq::Dnsmasq {
    common::dnsmasq::Dnsmasq::start(records)
        .expect("dnsmasq is not installed (apt-get install dnsmasq-base; scripts/test does)")
}

/// A server whose 911 goes to trunk `carrier` at `address` (more trunk settings in `extra`),
/// asking `dns` for it.
fn dns_trunk_server(dns: &common::dnsmasq::Dnsmasq, address: &str, extra: &str) -> Server {
    let mut opts = ServerOpts::plan("quebec");
    opts.sip_extra = format!("dns_servers = [\"{}\"]\n", dns.addr);
    opts.extra_config = format!(
        "[emergency]\nuri = \"trunk:carrier/911\"\n\
         [[trunk]]\nname = \"carrier\"\naddress = \"{address}\"\nkeepalive_s = 0\n{extra}"
    );
    Server::start(opts)
}

/// `address = "carrier.test"`, no port, no transport: the server asks the carrier's NAPTR
/// records (SIP over UDP at `_sip._udp.carrier.test`), that SRV record (sip1, on the
/// carrier's port) and sip1's address — and the 911 call reaches the carrier there, not at
/// carrier.test's own address on 5060.
#[test]
fn a_trunk_named_by_its_domain_is_reached_through_naptr_and_srv() {
    let carrier_port = port_block(8);
    let dns = dns(&[
        "--naptr-record=carrier.test,10,50,s,SIP+D2U,,_sip._udp.carrier.test".into(),
        "--naptr-record=carrier.test,20,50,s,SIP+D2T,,_sip._tcp.carrier.test".into(),
        format!("--srv-host=_sip._udp.carrier.test,sip1.carrier.test,{carrier_port},10,60"),
        "--host-record=sip1.carrier.test,127.0.0.1".into(),
        "--host-record=carrier.test,127.0.0.2".into(),
    ]);
    let server = dns_trunk_server(&dns, "carrier.test", "");
    emergency_call_reaches(&server, carrier_port);
    let log = server.log_text();
    assert!(
        log.contains(&format!("127.0.0.1:{carrier_port}/udp")),
        "the SRV target was resolved: {log}"
    );
    let queries = dns.log_text();
    for asked in [
        "query[NAPTR] carrier.test",
        "query[SRV] _sip._udp.carrier.test",
    ] {
        assert!(queries.contains(asked), "{asked}: {queries}");
    }
}

/// SRV with two priorities over TCP: nobody listens on the first target's port (the
/// connection is refused), so the INVITE goes to the second at once — and the call is
/// completed there.
#[test]
fn when_the_first_srv_target_refuses_the_connection_the_next_gets_the_call() {
    let dead = port_block(8);
    let live = port_block(8);
    let dns = dns(&[
        format!("--srv-host=_sip._tcp.two.test,dead.two.test,{dead},10,10"),
        format!("--srv-host=_sip._tcp.two.test,live.two.test,{live},20,10"),
        "--host-record=dead.two.test,127.0.0.1".into(),
        "--host-record=live.two.test,127.0.0.1".into(),
    ]);
    let server = dns_trunk_server(&dns, "two.test", "transport = \"tcp\"\n");
    emergency_call_reaches_over(&server, live, true);
    let log = server.log_text();
    assert!(
        log.contains("trying the next") && log.contains(&format!("failed=127.0.0.1:{dead}")),
        "{log}"
    );
    assert!(
        !log.contains("trying the next trunk"),
        "the same trunk took the call: {log}"
    );
}

/// A TLS trunk named by its domain: SRV `_sips._tcp.carrier.test` points at sip1.carrier.test,
/// but the certificate we require is the domain's (RFC 5922 §4): the carrier's names
/// carrier.test (and not sip1), and the call goes through.
#[test]
fn a_tls_trunk_found_through_srv_must_prove_its_domain_not_the_srv_target() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, identity, listener, port) = carrier_cert(dir.path(), "carrier.test");
    let dns = dns(&[
        format!("--srv-host=_sips._tcp.carrier.test,sip1.carrier.test,{port},10,10"),
        "--host-record=sip1.carrier.test,127.0.0.1".into(),
    ]);
    let carrier = tls_carrier(listener, identity);
    let server = dns_trunk_server(
        &dns,
        "carrier.test",
        &format!("transport = \"tls\"\ntls_ca = \"{}\"\n", cert.display()),
    );
    call_911_and_hang_up(&server).assert_ok();
    let invite = call_over_tls(carrier, &server);
    assert!(
        invite.starts_with("INVITE sip:911@carrier.test;transport=tls SIP/2.0"),
        "{invite}"
    );
    assert!(invite.contains("Via: SIP/2.0/TLS"), "{invite}");
}

/// A trunk whose domain DNS does not know: the call is not left waiting for an INVITE that
/// never left — it goes to the failover trunk at once.
#[test]
fn a_trunk_whose_domain_does_not_resolve_hands_the_call_to_its_failover() {
    let backup = port_block(8);
    let dns = dns(&["--host-record=other.test,127.0.0.1".into()]);
    let server = dns_trunk_server(
        &dns,
        "nowhere.test",
        &format!(
            "failover = \"backup\"\n\
             [[trunk]]\nname = \"backup\"\naddress = \"127.0.0.1:{backup}\"\nkeepalive_s = 0\n"
        ),
    );
    let started = std::time::Instant::now();
    emergency_call_reaches(&server, backup);
    let log = server.log_text();
    assert!(log.contains("cannot resolve"), "{log}");
    assert!(log.contains("trying the next trunk"), "{log}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "no wait for a timer: {:?}",
        started.elapsed()
    );
}
