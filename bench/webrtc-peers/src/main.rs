//! Browser-like WebRTC agents for bench/run-webrtc.sh, made with str0m (the library the
//! server uses), with no browser: each agent signs in to centrale's desktop over HTTPS with its
//! id and password, opens the desktop's WebSocket, goes ready, and answers the calls it is
//! offered the way the page does — it makes the SDP offer (full ICE, controlling; DTLS
//! active), the server answers (ICE-lite) — then sends a 20 ms PCMU packet every 20 ms and
//! counts what arrives from the caller.
//!
//! Reports one JSON object on stdout: DTLS-SRTP handshake times (offer sent → str0m's
//! `Connected`: ICE checks plus the DTLS handshake), p50/p99/max over the agents that
//! connected; RTP received from the callers (packets, sequence gaps, the longest silence) and
//! sent. Loopback benchmarking only: the server's certificate is not verified.
//!
//!   webrtc-peers --url https://127.0.0.1:18443 --agents 200 --prefix bench --password P \
//!                --talk-s 60 --run-s 120 [--ready-file F]
//!
//! `--talk-s`: an answered call is left after this long (the caller normally hangs up first);
//! `--run-s`: every agent stops then, called or not.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::media::{Direction, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpWrite, SeqNo};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

type Error = Box<dyn std::error::Error + Send + Sync>;

struct Args {
    url: String,
    agents: usize,
    prefix: String,
    password: String,
    talk_s: u64,
    run_s: u64,
    ready_file: Option<String>,
}

fn args() -> Result<Args, Error> {
    let mut a = Args {
        url: String::new(),
        agents: 1,
        prefix: "bench".into(),
        password: String::new(),
        talk_s: 30,
        run_s: 600,
        ready_file: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().ok_or(format!("{k} needs a value"))?;
        match k.as_str() {
            "--url" => a.url = v,
            "--agents" => a.agents = v.parse()?,
            "--prefix" => a.prefix = v,
            "--password" => a.password = v,
            "--talk-s" => a.talk_s = v.parse()?,
            "--run-s" => a.run_s = v.parse()?,
            "--ready-file" => a.ready_file = Some(v),
            _ => return Err(format!("unknown option {k}").into()),
        }
    }
    if a.url.is_empty() || a.password.is_empty() {
        return Err("--url and --password are required".into());
    }
    Ok(a)
}

/// Accepts any certificate: a loopback bench against the server's self-signed pair.
#[derive(Debug)]
struct AnyCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn tls() -> Result<TlsConnector, Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(cfg)))
}

/// host:port of an https:// URL.
fn authority(url: &str) -> Result<String, Error> {
    Ok(url
        .strip_prefix("https://")
        .ok_or("the URL must be https://")?
        .trim_end_matches('/')
        .to_string())
}

async fn connect(
    tls: &TlsConnector,
    host: &str,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Error> {
    let tcp = TcpStream::connect(host).await?;
    tcp.set_nodelay(true)?;
    let name = rustls::pki_types::ServerName::try_from("localhost")?;
    Ok(tls.connect(name, tcp).await?)
}

/// Sign in as the desktop's form does; the session cookie.
async fn sign_in(
    tls: &TlsConnector,
    host: &str,
    user: &str,
    password: &str,
) -> Result<String, Error> {
    let mut s = connect(tls, host).await?;
    let body = format!("username={user}&password={password}");
    let req = format!(
        "POST /agent/signin HTTP/1.1\r\nHost: {host}\r\nOrigin: https://{host}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp).await;
    let text = String::from_utf8_lossy(&resp);
    text.lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .find_map(|l| {
            let v = l.split_once(':')?.1.trim();
            let c = v.split(';').next()?;
            c.starts_with("centrale_session=").then(|| c.to_string())
        })
        .ok_or_else(|| format!("{user}: no session: {}", text.lines().next().unwrap_or("")).into())
}

/// What one agent measured.
#[derive(Default)]
struct Tally {
    handshake_ms: Option<f64>,
    calls: u32,
    received: u64,
    gaps: u64,
    longest_silence_ms: f64,
    sent: u64,
    error: Option<String>,
}

struct Peer {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    mid: Mid,
    pending: Option<SdpPendingOffer>,
    offered_at: Instant,
    connected: bool,
    seq: u64,
    ts: u32,
    last_rx: Option<(u16, Instant)>,
}

impl Peer {
    async fn new() -> Result<(Peer, String), Error> {
        let socket = UdpSocket::bind("127.0.0.1:0").await?;
        let local = socket.local_addr()?;
        let mut rtc = RtcConfig::new()
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_pcmu(true, false)
            .build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp")?);
        let mut api = rtc.sdp_api();
        let mid = api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        let (offer, pending) = api.apply().ok_or("no offer")?;
        Ok((
            Peer {
                rtc,
                socket,
                local,
                mid,
                pending: Some(pending),
                offered_at: Instant::now(),
                connected: false,
                seq: 1,
                ts: 0,
                last_rx: None,
            },
            offer.to_sdp_string(),
        ))
    }

    fn accept(&mut self, sdp: &str) -> Result<(), Error> {
        let pending = self.pending.take().ok_or("answer twice")?;
        let answer = SdpAnswer::from_sdp_string(sdp)?;
        self.rtc.sdp_api().accept_answer(pending, answer)?;
        Ok(())
    }

    /// Run str0m until its next deadline; datagrams out, events counted.
    async fn drain(&mut self, tally: &mut Tally) -> Result<Instant, Error> {
        loop {
            match self.rtc.poll_output()? {
                Output::Timeout(t) => return Ok(t),
                Output::Transmit(t) => {
                    let _ = self.socket.send_to(&t.contents, t.destination).await;
                }
                Output::Event(e) => match e {
                    Event::Connected => {
                        self.connected = true;
                        tally.handshake_ms = Some(self.offered_at.elapsed().as_secs_f64() * 1000.0);
                    }
                    Event::RtpPacket(p) => {
                        let now = Instant::now();
                        let seq = p.header.sequence_number;
                        if let Some((last, at)) = self.last_rx {
                            let step = seq.wrapping_sub(last);
                            if step > 1 && step < 3000 {
                                tally.gaps += u64::from(step - 1);
                            }
                            let gap = now.duration_since(at).as_secs_f64() * 1000.0;
                            tally.longest_silence_ms = tally.longest_silence_ms.max(gap);
                        }
                        self.last_rx = Some((seq, now));
                        tally.received += 1;
                    }
                    Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                        return Err("ICE disconnected".into());
                    }
                    _ => {}
                },
            }
        }
    }

    /// One 20 ms PCMU frame (a quiet constant: content does not matter to the relay).
    fn send_frame(&mut self) {
        let mut api = self.rtc.direct_api();
        let Some(tx) = api.stream_tx_by_mid(self.mid, None) else {
            return;
        };
        tx.write_rtp(RtpWrite::new(
            0.into(),
            SeqNo::from(self.seq),
            self.ts,
            Instant::now(),
            Arc::<[u8]>::from(&[0xffu8; 160][..]),
        ));
        self.seq += 1;
        self.ts = self.ts.wrapping_add(160);
    }
}

/// One agent: sign in, ready, answer one call and talk until it ends or `talk` passes.
async fn agent(
    tls: TlsConnector,
    host: String,
    user: String,
    password: String,
    (talk, stop_at): (Duration, Instant),
    ready: tokio::sync::mpsc::Sender<()>,
) -> Tally {
    let mut tally = Tally::default();
    let run = agent_run(
        &tls,
        &host,
        &user,
        &password,
        (talk, stop_at),
        ready,
        &mut tally,
    );
    if let Err(e) = run.await {
        tally.error = Some(format!("{user}: {e}"));
    }
    tally
}

async fn agent_run(
    tls: &TlsConnector,
    host: &str,
    user: &str,
    password: &str,
    (talk, stop_at): (Duration, Instant),
    ready: tokio::sync::mpsc::Sender<()>,
    tally: &mut Tally,
) -> Result<(), Error> {
    let cookie = sign_in(tls, host, user, password).await?;
    let stream = connect(tls, host).await?;
    let mut req = format!("wss://{host}/agent/ws").into_client_request()?;
    req.headers_mut().insert("cookie", cookie.parse()?);
    req.headers_mut()
        .insert("origin", format!("https://{host}").parse()?);
    let (mut ws, _) = tokio_tungstenite::client_async(req, stream).await?;
    ws.send(Message::Text(json!({"type": "ready"}).to_string().into()))
        .await?;
    let mut said_ready = false;
    let mut peer: Option<Peer> = None;
    let mut leg = String::new();
    let mut until: Option<Instant> = None;
    let mut deadline = Instant::now() + Duration::from_secs(3600);
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut buf = vec![0u8; 2048];
    loop {
        if until.is_some_and(|u| Instant::now() >= u) || Instant::now() >= stop_at {
            return Ok(());
        }
        let sleep = tokio::time::sleep_until(deadline.min(stop_at).into());
        tokio::select! {
            m = ws.next() => {
                let Some(m) = m else { return Ok(()) };
                let Message::Text(t) = m? else { continue };
                let v: Value = serde_json::from_str(&t)?;
                match v["type"].as_str().unwrap_or("") {
                    "state" if v["state"] == "available" && !said_ready => {
                        said_ready = true;
                        let _ = ready.send(()).await;
                    }
                    "offer" if peer.is_none() => {
                        leg = v["leg"].as_str().unwrap_or("").to_string();
                        let (p, sdp) = Peer::new().await?;
                        peer = Some(p);
                        tally.calls += 1;
                        ws.send(Message::Text(
                            json!({"type": "answer", "leg": leg, "sdp": sdp}).to_string().into(),
                        ))
                        .await?;
                    }
                    "sdp" if v["leg"] == leg.as_str() => {
                        if let Some(p) = peer.as_mut() {
                            p.accept(v["sdp"].as_str().unwrap_or(""))?;
                            deadline = p.drain(tally).await?;
                            until = Some(Instant::now() + talk);
                        }
                    }
                    "ended" if v["leg"] == leg.as_str() => return Ok(()),
                    _ => {}
                }
            }
            r = async {
                match peer.as_ref() {
                    Some(p) => p.socket.recv_from(&mut buf).await,
                    None => std::future::pending().await,
                }
            } => {
                let (n, from) = r?;
                if let Some(p) = peer.as_mut() {
                    let Some(data) = buf.get(..n) else { continue };
                    if let Ok(rx) = Receive::new(Protocol::Udp, from, p.local, data) {
                        p.rtc.handle_input(Input::Receive(Instant::now(), rx))?;
                        deadline = p.drain(tally).await?;
                    }
                }
            }
            _ = sleep => {
                if Instant::now() >= stop_at {
                    return Ok(());
                }
                if let Some(p) = peer.as_mut() {
                    p.rtc.handle_input(Input::Timeout(Instant::now()))?;
                    deadline = p.drain(tally).await?;
                } else {
                    deadline = Instant::now() + Duration::from_secs(3600);
                }
            }
            _ = tick.tick() => {
                if let Some(p) = peer.as_mut().filter(|p| p.connected) {
                    p.send_frame();
                    tally.sent += 1;
                    deadline = p.drain(tally).await?;
                }
            }
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted.get(i.min(sorted.len() - 1)).copied()
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let a = args()?;
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let tls = tls()?;
    let host = authority(&a.url)?;
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(a.agents.max(1));
    let mut tasks = Vec::with_capacity(a.agents);
    for i in 0..a.agents {
        let user = format!("{}{i:04}", a.prefix);
        tasks.push(tokio::spawn(agent(
            tls.clone(),
            host.clone(),
            user,
            a.password.clone(),
            (
                Duration::from_secs(a.talk_s),
                Instant::now() + Duration::from_secs(a.run_s),
            ),
            ready_tx.clone(),
        )));
        // Sign-ins spread a little (a shift starting, not one instant).
        if i % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    drop(ready_tx);
    let started = Instant::now();
    let mut n_ready = 0;
    while n_ready < a.agents {
        match tokio::time::timeout(Duration::from_secs(60), ready_rx.recv()).await {
            Ok(Some(())) => n_ready += 1,
            _ => break,
        }
    }
    eprintln!(
        "webrtc-peers: {n_ready}/{} agents ready in {:.1} s",
        a.agents,
        started.elapsed().as_secs_f64()
    );
    if let Some(f) = &a.ready_file {
        std::fs::write(f, format!("{n_ready}\n"))?;
    }
    let mut tallies = Vec::with_capacity(a.agents);
    for t in tasks {
        tallies.push(t.await.unwrap_or_else(|e| Tally {
            error: Some(e.to_string()),
            ..Tally::default()
        }));
    }
    let mut hs: Vec<f64> = tallies.iter().filter_map(|t| t.handshake_ms).collect();
    hs.sort_by(f64::total_cmp);
    let errors: Vec<&String> = tallies.iter().filter_map(|t| t.error.as_ref()).collect();
    let out = json!({
        "agents": a.agents,
        "ready": n_ready,
        "calls": tallies.iter().map(|t| u64::from(t.calls)).sum::<u64>(),
        "connected": hs.len(),
        "handshake_ms": {
            "p50": percentile(&hs, 50.0),
            "p99": percentile(&hs, 99.0),
            "max": hs.last(),
        },
        "rtp_received": tallies.iter().map(|t| t.received).sum::<u64>(),
        "rtp_gaps": tallies.iter().map(|t| t.gaps).sum::<u64>(),
        "longest_silence_ms": tallies.iter().map(|t| t.longest_silence_ms).fold(0.0, f64::max),
        "rtp_sent": tallies.iter().map(|t| t.sent).sum::<u64>(),
        "errors": errors.len(),
        "first_errors": errors.iter().take(5).collect::<Vec<_>>(),
    });
    println!("{out}");
    Ok(())
}
