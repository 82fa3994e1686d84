//! The engine with real sockets on loopback: prompts paced out, RFC 4733 digits heard, a bridge
//! relaying both ways with our SSRC and continuous numbering (and PCMU↔PCMA transcoding), a
//! recording taken, and the pacer taking the stream back after the bridge. Counts and contents
//! only: timing is measured by the benchmarks, never asserted here.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use super::*;
use crate::media::dtmf::rfc4733::encode_event;
use crate::media::prompt::{Lang, Prompt};
use crate::media::rtp::{self, HEADER_LEN, PACKET_LEN, PAYLOAD_LEN};

/// An engine with its own port range (tests run in parallel; `ports` tests use 41000–41104).
fn engine(first_port: u16) -> Arc<MediaEngine> {
    let ports = PortPool::new("127.0.0.1".parse().unwrap(), first_port, first_port + 98).unwrap();
    MediaEngine::start(
        1,
        Placement {
            pin: false,
            realtime: false,
        },
        ports,
        SymmetricRtp::Never,
        "127.0.0.1".parse().unwrap(),
    )
    .unwrap()
}

#[test]
fn a_pinned_shard_runs_on_one_cpu_only() {
    let ports = PortPool::new("127.0.0.1".parse().unwrap(), 41900, 41998).unwrap();
    let _engine = MediaEngine::start(
        1,
        Placement {
            pin: true,
            realtime: false,
        },
        ports,
        SymmetricRtp::Never,
        "127.0.0.1".parse().unwrap(),
    )
    .unwrap();
    // The other tests' engines are not pinned: a media thread allowed on one CPU is this one.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let pinned = std::fs::read_dir("/proc/self/task")
            .unwrap()
            .flatten()
            .any(|t| {
                let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
                let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
                comm.trim() == "media-0"
                    && status
                        .lines()
                        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                        .is_some_and(|l| l.trim().parse::<usize>().is_ok())
            });
        if pinned {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no media-0 thread pinned to one CPU"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn peer() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s
}

fn params(law: Law, to: &UdpSocket) -> MediaParams {
    MediaParams {
        law,
        payload_type: law.payload_type(),
        dtmf_pt: Some(101),
        remote_rtp: Some(to.local_addr().unwrap()),
        remote_rtcp: None,
        send: true,
        srtp: None,
    }
}

fn tone(frames: usize) -> Arc<Prompt> {
    let pcm: Vec<i16> = (0..frames * PAYLOAD_LEN)
        .map(|i| ((i as f32 * 0.3).sin() * 8000.0) as i16)
        .collect();
    Arc::new(Prompt::from_pcm("t", Lang::Fr, "tone", pcm))
}

fn recv_rtp(s: &UdpSocket) -> (u8, u16, u32, u32, Vec<u8>) {
    let mut buf = [0u8; 1500];
    loop {
        let n = s.recv(&mut buf).expect("an RTP packet");
        if let Some(v) = rtp::parse(&buf[..n]) {
            return (
                v.payload_type,
                v.seq,
                v.timestamp,
                v.ssrc,
                v.payload.to_vec(),
            );
        }
    }
}

fn events(rx: &mut UnboundedReceiver<MediaEvent>, want: usize) -> Vec<MediaEvent> {
    let mut got = Vec::new();
    for _ in 0..300 {
        while let Ok(e) = rx.try_recv() {
            got.push(e);
        }
        if got.len() >= want {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    got
}

fn send_rtp(from: &UdpSocket, to: u16, pt: u8, seq: u16, ts: u32, payload: &[u8]) {
    let mut buf = vec![0u8; HEADER_LEN + payload.len()];
    rtp::write_header(&mut buf, pt, false, seq, ts, 0x1234);
    buf[HEADER_LEN..].copy_from_slice(payload);
    from.send_to(&buf, ("127.0.0.1", to)).unwrap();
}

#[test]
fn prompt_is_paced_out_and_its_end_reported() {
    let e = engine(41300);
    let (tx, mut rx) = unbounded_channel();
    let listener = peer();
    let leg = e.open(0, tx, 3).unwrap();
    leg.apply(params(Law::Ulaw, &listener));
    leg.play(vec![tone(10)], 7, false);
    let mut seqs = Vec::new();
    for _ in 0..30 {
        let (pt, seq, _, _, payload) = recv_rtp(&listener);
        assert_eq!(pt, 0);
        assert_eq!(payload.len(), PAYLOAD_LEN);
        seqs.push(seq);
    }
    for w in seqs.windows(2) {
        assert_eq!(w[1], w[0].wrapping_add(1));
    }
    let ev = events(&mut rx, 1);
    assert_eq!(
        ev,
        vec![MediaEvent {
            leg: 3,
            kind: MediaEventKind::PlayFinished { token: 7 }
        }]
    );
    drop(leg);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(e.stats().streams, 0);
}

#[test]
fn rfc4733_digits_are_heard() {
    let e = engine(41400);
    let (tx, mut rx) = unbounded_channel();
    let phone = peer();
    let leg = e.open(0, tx, 1).unwrap();
    leg.apply(params(Law::Ulaw, &phone));
    std::thread::sleep(Duration::from_millis(20));
    let mut ev = [0u8; 4];
    for (i, end) in [false, false, true, true].into_iter().enumerate() {
        encode_event(5, end, 10, 160 * (i as u16 + 1), &mut ev);
        send_rtp(&phone, leg.local_port(), 101, 100 + i as u16, 8000, &ev);
    }
    let got = events(&mut rx, 1);
    assert_eq!(
        got[0].kind,
        MediaEventKind::Digit {
            digit: '5',
            source: "rfc4733"
        }
    );
}

#[test]
fn bridge_relays_both_ways_and_transcodes() {
    let e = engine(41500);
    let (tx, _rx) = unbounded_channel();
    let (caller, agent) = (peer(), peer());
    let a = e.open(0, tx.clone(), 0).unwrap();
    let b = e.open(0, tx, 1).unwrap();
    a.apply(params(Law::Ulaw, &caller));
    b.apply(params(Law::Alaw, &agent));
    assert!(a.bridge(&b));
    std::thread::sleep(Duration::from_millis(30));
    // Drain whatever the pacer sent before the bridge.
    caller
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    agent
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 1500];
    while caller.recv(&mut buf).is_ok() {}
    while agent.recv(&mut buf).is_ok() {}
    caller
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    agent
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();

    let pcm: Vec<i16> = (0..PAYLOAD_LEN)
        .map(|i| ((i as f32 * 0.2).sin() * 6000.0) as i16)
        .collect();
    let mut ulaw = [0u8; PAYLOAD_LEN];
    Law::Ulaw.encode(&pcm, &mut ulaw);
    let mut out = Vec::new();
    for k in 0..20u16 {
        send_rtp(&caller, a.local_port(), 0, 500 + k, 160 * k as u32, &ulaw);
        out.push(recv_rtp(&agent));
    }
    let ssrc = out[0].3;
    assert_ne!(ssrc, 0x1234, "the agent sees our SSRC, not the caller's");
    for (k, (pt, seq, ts, s, payload)) in out.iter().enumerate() {
        assert_eq!(*pt, 8, "PCMA towards the agent");
        assert_eq!(*s, ssrc);
        assert_eq!(*seq, out[0].1.wrapping_add(k as u16));
        assert_eq!(*ts, out[0].2.wrapping_add(160 * k as u32));
        let mut back = [0i16; PAYLOAD_LEN];
        Law::Alaw.decode(payload, &mut back);
        let mut want = [0i16; PAYLOAD_LEN];
        Law::Ulaw.decode(&ulaw, &mut want);
        for (x, y) in back.iter().zip(want.iter()) {
            assert!((x - y).abs() <= (y.abs() / 16).max(16), "{x} vs {y}");
        }
    }
    // And the other way, unchanged law.
    let mut alaw = [0u8; PAYLOAD_LEN];
    Law::Alaw.encode(&pcm, &mut alaw);
    send_rtp(&agent, b.local_port(), 8, 9, 0, &alaw);
    let (pt, _, _, _, payload) = recv_rtp(&caller);
    assert_eq!(pt, 0);
    assert_eq!(payload.len(), PAYLOAD_LEN);
    // The counters are published once per slot, after the packets go out.
    for _ in 0..100 {
        if e.stats().packets_relayed >= 21 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(e.stats().packets_relayed >= 21);

    // Unbridged: the pacer takes the stream back, continuing the numbering.
    a.unbridge();
    let last = out.last().unwrap().1;
    let (_, seq, _, s, _) = recv_rtp(&agent);
    assert_eq!(s, ssrc);
    assert_eq!(seq, last.wrapping_add(1));
}

#[test]
fn recording_comes_back_as_pcm() {
    let e = engine(41600);
    let (tx, mut rx) = unbounded_channel();
    let phone = peer();
    let leg = e.open(0, tx, 0).unwrap();
    leg.apply(params(Law::Ulaw, &phone));
    leg.record_start(10);
    std::thread::sleep(Duration::from_millis(20));
    let payload = [0x55u8; PAYLOAD_LEN];
    for k in 0..5u16 {
        send_rtp(&phone, leg.local_port(), 0, k, 160 * k as u32, &payload);
    }
    std::thread::sleep(Duration::from_millis(100));
    leg.record_stop();
    let got = events(&mut rx, 1);
    match &got[0].kind {
        MediaEventKind::Recorded { pcm } => {
            assert_eq!(pcm.len(), 5 * PAYLOAD_LEN);
            assert!(pcm
                .iter()
                .all(|&x| x == crate::media::g711::ulaw_decode(0x55)));
        }
        other => panic!("not a recording: {other:?}"),
    }
    let _ = PACKET_LEN;
}
