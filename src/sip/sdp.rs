//! SDP offer/answer for one audio stream (RFC 4566, RFC 3264): reading the peer's description,
//! choosing G.711 in the peer's order with RFC 4733 telephone-event, and writing our offer or
//! answer with the matching direction attribute (hold and resume by re-INVITE).
//!
//! No I/O and no state beyond the session version the dialog keeps.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use thiserror::Error;

use crate::media::g711::Law;
use crate::media::srtp::{self, Suite, MASTER_LEN};

/// The telephone-event payload type we offer when we are the offerer.
pub const OFFER_DTMF_PT: u8 = 101;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SdpError {
    #[error("SDP is not UTF-8")]
    NotText,
    #[error("SDP line {line}: {msg}")]
    Syntax { line: usize, msg: String },
    #[error("no audio stream offered")]
    NoAudio,
    #[error("no common codec: we support PCMU and PCMA")]
    NoCommonCodec,
    #[error(
        "RTP/SAVP without a usable a=crypto: we support AES_CM_128_HMAC_SHA1_80/32 without MKI"
    )]
    NoCommonCrypto,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    /// The direction an answerer uses for this offered direction (RFC 3264 §6.1).
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendRecv => Direction::SendRecv,
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            Direction::Inactive => Direction::Inactive,
        }
    }

    pub fn attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// Whether the side using this direction may send media.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether the side using this direction expects to receive media.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    pub pt: u8,
    pub encoding: String,
    pub clock: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    pub kind: String,
    pub port: u16,
    pub proto: String,
    pub formats: Vec<u8>,
    pub rtpmaps: Vec<RtpMap>,
    pub connection: Option<IpAddr>,
    pub direction: Option<Direction>,
    pub ptime: Option<u32>,
    pub rtcp_port: Option<u16>,
    pub rtcp_mux: bool,
    /// SDES keys offered or answered (RFC 4568), the usable ones only.
    pub crypto: Vec<Crypto>,
}

/// One usable `a=crypto` line.
#[derive(Clone, PartialEq, Eq)]
pub struct Crypto {
    pub tag: u32,
    pub suite: Suite,
    pub key: [u8; MASTER_LEN],
}

impl std::fmt::Debug for Crypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Crypto({} {})", self.tag, self.suite.name())
    }
}

/// `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:KEY[|lifetime]` — None for suites we lack,
/// MKIs, several keys, or session parameters.
fn parse_crypto(arg: &str) -> Option<Crypto> {
    let mut parts = arg.split_ascii_whitespace();
    let tag = parts.next()?.parse().ok()?;
    let suite = Suite::parse(parts.next()?)?;
    let params = parts.next()?;
    if parts.next().is_some() || params.contains(';') {
        return None;
    }
    let inline = params.strip_prefix("inline:")?;
    let mut fields = inline.split('|');
    let key = srtp::decode_inline(fields.next()?)?;
    // A lifetime may follow; an MKI ("1:4") we do not support.
    if fields.any(|f| f.contains(':')) {
        return None;
    }
    Some(Crypto { tag, suite, key })
}

impl Media {
    fn encoding_of(&self, pt: u8) -> Option<(String, u32)> {
        if let Some(m) = self.rtpmaps.iter().find(|m| m.pt == pt) {
            return Some((m.encoding.to_ascii_uppercase(), m.clock));
        }
        // Static payload types need no rtpmap (RFC 3551).
        match pt {
            0 => Some(("PCMU".into(), 8000)),
            8 => Some(("PCMA".into(), 8000)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    pub connection: Option<IpAddr>,
    pub direction: Option<Direction>,
    pub media: Vec<Media>,
}

pub fn parse(body: &[u8]) -> Result<SessionDescription, SdpError> {
    let text = std::str::from_utf8(body).map_err(|_| SdpError::NotText)?;
    let mut sd = SessionDescription {
        connection: None,
        direction: None,
        media: Vec::new(),
    };
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        if line.is_empty() {
            continue;
        }
        let err = |msg: &str| SdpError::Syntax {
            line: i + 1,
            msg: msg.to_string(),
        };
        let (kind, value) = line
            .split_once('=')
            .filter(|(k, _)| k.len() == 1)
            .ok_or_else(|| err("expected <type>=<value>"))?;
        match kind {
            "c" => {
                let addr = parse_connection(value).ok_or_else(|| err("bad c= line"))?;
                match sd.media.last_mut() {
                    Some(m) => m.connection = Some(addr),
                    None => sd.connection = Some(addr),
                }
            }
            "m" => {
                let mut parts = value.split_ascii_whitespace();
                let kind = parts.next().ok_or_else(|| err("m= without media"))?;
                let port = parts
                    .next()
                    .and_then(|p| p.split('/').next())
                    .and_then(|p| p.parse::<u16>().ok())
                    .ok_or_else(|| err("bad m= port"))?;
                let proto = parts.next().ok_or_else(|| err("m= without proto"))?;
                let formats = parts.filter_map(|f| f.parse::<u8>().ok()).collect();
                sd.media.push(Media {
                    kind: kind.to_string(),
                    port,
                    proto: proto.to_string(),
                    formats,
                    rtpmaps: Vec::new(),
                    connection: None,
                    direction: None,
                    ptime: None,
                    rtcp_port: None,
                    rtcp_mux: false,
                    crypto: Vec::new(),
                });
            }
            "a" => {
                let (name, arg) = value.split_once(':').unwrap_or((value, ""));
                let dir = match name {
                    "sendrecv" => Some(Direction::SendRecv),
                    "sendonly" => Some(Direction::SendOnly),
                    "recvonly" => Some(Direction::RecvOnly),
                    "inactive" => Some(Direction::Inactive),
                    _ => None,
                };
                match (sd.media.last_mut(), dir) {
                    (Some(m), Some(d)) => m.direction = Some(d),
                    (None, Some(d)) => sd.direction = Some(d),
                    (Some(m), None) => match name {
                        "rtpmap" => {
                            if let Some(map) = parse_rtpmap(arg) {
                                m.rtpmaps.push(map);
                            }
                        }
                        "ptime" => m.ptime = arg.trim().parse().ok(),
                        "rtcp" => {
                            m.rtcp_port = arg
                                .split_ascii_whitespace()
                                .next()
                                .and_then(|p| p.parse().ok())
                        }
                        "rtcp-mux" => m.rtcp_mux = true,
                        "crypto" => {
                            if let Some(c) = parse_crypto(arg) {
                                m.crypto.push(c);
                            }
                        }
                        _ => {}
                    },
                    (None, None) => {}
                }
            }
            _ => {}
        }
    }
    Ok(sd)
}

fn parse_connection(value: &str) -> Option<IpAddr> {
    let mut parts = value.split_ascii_whitespace();
    let (_net, _family, addr) = (parts.next()?, parts.next()?, parts.next()?);
    // Multicast "addr/ttl" forms: keep the address.
    addr.split('/').next()?.parse().ok()
}

fn parse_rtpmap(arg: &str) -> Option<RtpMap> {
    let (pt, rest) = arg.trim().split_once(char::is_whitespace)?;
    let mut enc = rest.trim().split('/');
    Some(RtpMap {
        pt: pt.parse().ok()?,
        encoding: enc.next()?.to_string(),
        clock: enc.next()?.parse().ok()?,
    })
}

/// The outcome of offer/answer for our single audio stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub law: Law,
    pub payload_type: u8,
    pub dtmf_pt: Option<u8>,
    /// Where the peer wants our RTP (None: on hold with 0.0.0.0, or port 0).
    pub remote_rtp: Option<SocketAddr>,
    pub remote_rtcp: Option<SocketAddr>,
    /// The direction attribute we use in our SDP.
    pub local_direction: Direction,
    /// Index of the audio m= line (the answer must keep m= lines in order).
    pub audio_index: usize,
    /// SRTP keyed by SDES on this leg.
    pub srtp: Option<SrtpNegotiated>,
}

/// The keys of an SRTP leg: the peer's (to decrypt what it sends) and ours (what we send
/// with, advertised in our SDP).
#[derive(Clone, PartialEq, Eq)]
pub struct SrtpNegotiated {
    pub tag: u32,
    pub suite: Suite,
    pub remote: [u8; MASTER_LEN],
    pub local: [u8; MASTER_LEN],
    /// The m= line's profile was RTP/SAVP (else RTP/AVP with keys: best effort).
    pub savp: bool,
}

impl std::fmt::Debug for SrtpNegotiated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Srtp({} {}, savp={})",
            self.tag,
            self.suite.name(),
            self.savp
        )
    }
}

impl Negotiated {
    /// Whether we may send RTP now.
    pub fn may_send(&self) -> bool {
        self.remote_rtp.is_some() && self.local_direction.sends()
    }
}

/// Choose our answer to an offer: the first PCMU/PCMA in the peer's order.
pub fn negotiate_offer(offer: &SessionDescription) -> Result<Negotiated, SdpError> {
    select(offer, true)
}

/// Read the answer to our offer (late offer in our 200, or our INVITE to an agent).
pub fn read_answer(answer: &SessionDescription) -> Result<Negotiated, SdpError> {
    select(answer, false)
}

fn select(sd: &SessionDescription, is_offer: bool) -> Result<Negotiated, SdpError> {
    let (audio_index, m) = sd
        .media
        .iter()
        .enumerate()
        .find(|(_, m)| m.kind == "audio" && m.port != 0)
        .ok_or(SdpError::NoAudio)?;
    let mut chosen = None;
    let mut dtmf_pt = None;
    for &pt in &m.formats {
        match m.encoding_of(pt) {
            Some((enc, 8000)) if enc == "PCMU" && chosen.is_none() => {
                chosen = Some((Law::Ulaw, pt))
            }
            Some((enc, 8000)) if enc == "PCMA" && chosen.is_none() => {
                chosen = Some((Law::Alaw, pt))
            }
            Some((enc, 8000)) if enc == "TELEPHONE-EVENT" && dtmf_pt.is_none() => {
                dtmf_pt = Some(pt)
            }
            _ => {}
        }
    }
    let (law, payload_type) = chosen.ok_or(SdpError::NoCommonCodec)?;
    let savp = m.proto.to_ascii_uppercase().contains("SAVP");
    // An offer's first usable key; an answer's key for the tag we offered (1).
    let crypto = if is_offer {
        m.crypto.first()
    } else {
        m.crypto.iter().find(|c| c.tag == 1)
    };
    if savp && crypto.is_none() {
        return Err(SdpError::NoCommonCrypto);
    }
    let srtp = crypto.map(|c| SrtpNegotiated {
        tag: c.tag,
        suite: c.suite,
        remote: c.key,
        local: [0; MASTER_LEN],
        savp,
    });
    let peer_direction = m.direction.or(sd.direction).unwrap_or(Direction::SendRecv);
    let ip = m.connection.or(sd.connection);
    let held = matches!(ip, Some(IpAddr::V4(v4)) if v4 == Ipv4Addr::UNSPECIFIED);
    let remote_rtp = match ip {
        Some(ip) if !held => Some(SocketAddr::new(ip, m.port)),
        _ => None,
    };
    let remote_rtcp = remote_rtp.map(|a| {
        let port = if m.rtcp_mux {
            a.port()
        } else {
            m.rtcp_port.unwrap_or(a.port().wrapping_add(1))
        };
        SocketAddr::new(a.ip(), port)
    });
    let local_direction = if is_offer {
        // RFC 3264 §8.4: c=0.0.0.0 is the old way to say "don't send to me".
        if held && peer_direction == Direction::SendRecv {
            Direction::RecvOnly
        } else {
            peer_direction.answer()
        }
    } else {
        // As offerer we offered sendrecv; the answer's direction limits us.
        match peer_direction {
            Direction::SendRecv => Direction::SendRecv,
            Direction::RecvOnly => Direction::SendOnly,
            Direction::SendOnly => Direction::RecvOnly,
            Direction::Inactive => Direction::Inactive,
        }
    };
    Ok(Negotiated {
        law,
        payload_type,
        dtmf_pt,
        remote_rtp,
        remote_rtcp,
        local_direction,
        audio_index,
        srtp,
    })
}

/// Session-level identity of the SDP we send in one dialog (`o=` line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub session_id: u64,
    pub version: u64,
    /// Body of the last SDP we sent, without the o= line, to decide on a version bump.
    last_body: Option<String>,
    /// Our SRTP master key and salt on this leg (legs over TLS only); None: no SRTP.
    pub srtp_key: Option<[u8; MASTER_LEN]>,
    /// When we offer: SRTP required (RTP/SAVP) or best effort (RTP/AVP with a key).
    pub srtp_required: bool,
}

impl Origin {
    /// `session_id`: a random number (RFC 4566 §5.2 suggests an NTP timestamp; any unique
    /// number does).
    pub fn new(session_id: u64) -> Self {
        Origin {
            session_id,
            version: session_id,
            last_body: None,
            srtp_key: None,
            srtp_required: false,
        }
    }

    /// Put our key into what was negotiated (or drop SRTP when this leg has none).
    pub fn complete(&self, n: &mut Negotiated) {
        match (self.srtp_key, n.srtp.as_mut()) {
            (Some(k), Some(s)) => s.local = k,
            _ => n.srtp = None,
        }
    }

    /// Render a description, bumping the version only when its content changed (RFC 3264 §8).
    fn render(&mut self, ip: IpAddr, rest: String) -> String {
        if self.last_body.as_ref().is_some_and(|b| *b != rest) {
            self.version += 1;
        }
        let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
        let out = format!(
            "v=0\r\no=centrale {} {} IN {family} {ip}\r\n{rest}",
            self.session_id, self.version
        );
        self.last_body = Some(rest);
        out
    }
}

impl Default for Origin {
    /// A placeholder (taken and replaced, never sent).
    fn default() -> Self {
        Self::new(0)
    }
}

/// The SRTP part of a body: its profile, and the crypto line.
struct Keys {
    savp: bool,
    tag: u32,
    suite: Suite,
    key: [u8; MASTER_LEN],
}

fn body(
    ip: IpAddr,
    port: u16,
    codecs: &[(u8, &str)],
    dtmf_pt: Option<u8>,
    direction: Direction,
    leading_rejected: usize,
    keys: Option<Keys>,
) -> String {
    let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
    let mut s = format!("s=centrale\r\nc=IN {family} {ip}\r\nt=0 0\r\n");
    // Keep m= line positions: earlier non-audio streams are rejected with port 0.
    for _ in 0..leading_rejected {
        s.push_str("m=video 0 RTP/AVP 0\r\n");
    }
    let mut fmts: Vec<String> = codecs.iter().map(|(pt, _)| pt.to_string()).collect();
    if let Some(pt) = dtmf_pt {
        fmts.push(pt.to_string());
    }
    let proto = if keys.as_ref().is_some_and(|k| k.savp) {
        "RTP/SAVP"
    } else {
        "RTP/AVP"
    };
    s.push_str(&format!("m=audio {port} {proto} {}\r\n", fmts.join(" ")));
    if let Some(k) = &keys {
        s.push_str(&format!(
            "a=crypto:{} {} inline:{}\r\n",
            k.tag,
            k.suite.name(),
            srtp::encode_inline(&k.key)
        ));
    }
    for (pt, name) in codecs {
        s.push_str(&format!("a=rtpmap:{pt} {name}/8000\r\n"));
    }
    if let Some(pt) = dtmf_pt {
        s.push_str(&format!(
            "a=rtpmap:{pt} telephone-event/8000\r\na=fmtp:{pt} 0-15\r\n"
        ));
    }
    s.push_str(&format!("a=ptime:20\r\na={}\r\n", direction.attribute()));
    s
}

/// Our answer to a negotiated offer.
pub fn answer(origin: &mut Origin, n: &Negotiated, ip: IpAddr, port: u16) -> String {
    let rest = body(
        ip,
        port,
        &[(n.payload_type, n.law.encoding_name())],
        n.dtmf_pt,
        n.local_direction,
        n.audio_index,
        match (&n.srtp, origin.srtp_key) {
            (Some(sn), Some(key)) => Some(Keys {
                savp: sn.savp,
                tag: sn.tag,
                suite: sn.suite,
                key,
            }),
            _ => None,
        },
    );
    origin.render(ip, rest)
}

/// Our offer: PCMU, PCMA and telephone-event.
pub fn offer(origin: &mut Origin, ip: IpAddr, port: u16, direction: Direction) -> String {
    let rest = body(
        ip,
        port,
        &[(0, "PCMU"), (8, "PCMA")],
        Some(OFFER_DTMF_PT),
        direction,
        0,
        origin.srtp_key.map(|key| Keys {
            savp: origin.srtp_required,
            tag: 1,
            suite: Suite::AesCm128HmacSha1_80,
            key,
        }),
    );
    origin.render(ip, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIPP: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-11,16\r\n";

    #[test]
    fn caller_order_is_kept() {
        let n = negotiate_offer(&parse(SIPP.as_bytes()).unwrap()).unwrap();
        assert_eq!(n.law, Law::Alaw);
        assert_eq!(n.payload_type, 8);
        assert_eq!(n.dtmf_pt, Some(101));
        assert_eq!(n.remote_rtp, Some("127.0.0.1:6000".parse().unwrap()));
        assert_eq!(n.remote_rtcp, Some("127.0.0.1:6001".parse().unwrap()));
        assert_eq!(n.local_direction, Direction::SendRecv);
        let ulaw_first = SIPP.replace("RTP/AVP 8 0 101", "RTP/AVP 0 8");
        let n = negotiate_offer(&parse(ulaw_first.as_bytes()).unwrap()).unwrap();
        assert_eq!(n.law, Law::Ulaw);
        assert_eq!(n.dtmf_pt, None);
    }

    #[test]
    fn no_common_codec() {
        let g729 = SIPP.replace("RTP/AVP 8 0 101", "RTP/AVP 18 101");
        assert_eq!(
            negotiate_offer(&parse(g729.as_bytes()).unwrap()),
            Err(SdpError::NoCommonCodec)
        );
        let video = "v=0\r\nc=IN IP4 1.2.3.4\r\nm=video 5000 RTP/AVP 96\r\n";
        assert_eq!(
            negotiate_offer(&parse(video.as_bytes()).unwrap()),
            Err(SdpError::NoAudio)
        );
    }

    #[test]
    fn hold_and_resume_directions() {
        let hold = format!("{SIPP}a=sendonly\r\n");
        let n = negotiate_offer(&parse(hold.as_bytes()).unwrap()).unwrap();
        assert_eq!(n.local_direction, Direction::RecvOnly);
        assert!(!n.may_send());
        let old_hold = SIPP.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0");
        let n = negotiate_offer(&parse(old_hold.as_bytes()).unwrap()).unwrap();
        assert_eq!(n.remote_rtp, None);
        assert!(!n.may_send());
        let inactive = format!("{SIPP}a=inactive\r\n");
        let n = negotiate_offer(&parse(inactive.as_bytes()).unwrap()).unwrap();
        assert_eq!(n.local_direction, Direction::Inactive);
        let n = negotiate_offer(&parse(SIPP.as_bytes()).unwrap()).unwrap();
        assert!(n.may_send());
    }

    #[test]
    fn answer_mirrors_choice_and_versions_bump_only_on_change() {
        let n = negotiate_offer(&parse(SIPP.as_bytes()).unwrap()).unwrap();
        let mut o = Origin::new(42);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let a1 = answer(&mut o, &n, ip, 20000);
        assert!(a1.contains("m=audio 20000 RTP/AVP 8 101\r\n"));
        assert!(a1.contains("a=rtpmap:8 PCMA/8000\r\n"));
        assert!(a1.contains("a=rtpmap:101 telephone-event/8000\r\n"));
        assert!(a1.contains("a=sendrecv\r\n"));
        let v1 = o.version;
        answer(&mut o, &n, ip, 20000);
        assert_eq!(o.version, v1, "same answer, same version");
        let mut held = n.clone();
        held.local_direction = Direction::RecvOnly;
        let a2 = answer(&mut o, &held, ip, 20000);
        assert_eq!(o.version, v1 + 1);
        assert!(a2.contains("a=recvonly"));
        // our answer parses and reads back as an answer
        let back = read_answer(&parse(a1.as_bytes()).unwrap()).unwrap();
        assert_eq!(back.law, Law::Alaw);
    }

    #[test]
    fn offer_lists_both_laws_and_events() {
        let mut o = Origin::new(42);
        let s = offer(
            &mut o,
            "127.0.0.1".parse().unwrap(),
            30000,
            Direction::SendRecv,
        );
        let n = negotiate_offer(&parse(s.as_bytes()).unwrap()).unwrap();
        assert_eq!((n.law, n.dtmf_pt), (Law::Ulaw, Some(101)));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse(b"\xff\xfe").is_err());
        assert!(parse(b"v=0\r\nthis is not sdp\r\n").is_err());
        assert!(parse(b"v=0\r\nm=audio notaport RTP/AVP 0\r\n").is_err());
    }

    const SAVP: &str = "v=0\r\no=b 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/SAVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:AAAA\r\na=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:WVNfX19XRV9MT1ZFX1RIRV9TUlRQX0tFWVNfX19f|2^20|1:4\r\na=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19XRV9MT1ZFX1RIRV9TUlRQX0tFWVNfX19f|2^31\r\n";

    #[test]
    fn sdes_offer_is_read_and_answered_with_our_key() {
        let n = negotiate_offer(&parse(SAVP.as_bytes()).unwrap()).unwrap();
        let srtp = n.srtp.clone().expect("keys");
        // The AES-256 and MKI lines are skipped; tag 3 is ours to answer.
        assert_eq!(srtp.tag, 3);
        assert_eq!(srtp.suite, Suite::AesCm128HmacSha1_80);
        assert_eq!(&srtp.remote[..], b"YS___WE_LOVE_THE_SRTP_KEYS____");
        assert!(srtp.savp);
        let mut origin = Origin::new(7);
        origin.srtp_key = Some([7; MASTER_LEN]);
        let mut n = n;
        origin.complete(&mut n);
        assert_eq!(n.srtp.as_ref().unwrap().local, [7; MASTER_LEN]);
        let a = answer(&mut origin, &n, "127.0.0.1".parse().unwrap(), 30000);
        assert!(a.contains("m=audio 30000 RTP/SAVP 0 101"), "{a}");
        assert!(a.contains(&format!(
            "a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:{}",
            srtp::encode_inline(&[7; MASTER_LEN])
        )));
        // Our offer (best effort: RTP/AVP with a key; required: RTP/SAVP) and its answer.
        let o = offer(
            &mut origin,
            "127.0.0.1".parse().unwrap(),
            30000,
            Direction::SendRecv,
        );
        assert!(o.contains("m=audio 30000 RTP/AVP") && o.contains("a=crypto:1 "));
        origin.srtp_required = true;
        let o = offer(
            &mut origin,
            "127.0.0.1".parse().unwrap(),
            30000,
            Direction::SendRecv,
        );
        assert!(o.contains("RTP/SAVP") && o.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"));
        let ans = SAVP.replace("a=crypto:3", "a=crypto:1");
        let r = read_answer(&parse(ans.as_bytes()).unwrap()).unwrap();
        assert_eq!(r.srtp.unwrap().tag, 1);
        // RTP/SAVP with no key we can use: refused.
        let none = SAVP.replace(
            "a=crypto:3 AES_CM_128_HMAC_SHA1_80",
            "a=crypto:3 F8_128_HMAC_SHA1_80",
        );
        assert_eq!(
            negotiate_offer(&parse(none.as_bytes()).unwrap()),
            Err(SdpError::NoCommonCrypto)
        );
        // A leg with no key of its own drops SRTP.
        let mut n2 = negotiate_offer(&parse(SAVP.as_bytes()).unwrap()).unwrap();
        Origin::new(1).complete(&mut n2);
        assert!(n2.srtp.is_none());
    }
}
