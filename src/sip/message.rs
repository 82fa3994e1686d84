//! Parsed SIP messages and the few typed facts every layer needs (Call-ID, CSeq, top-Via branch,
//! tags). Parsing is done by the maintained rsip fork inside rsipstack (`rsipstack::sip`); this
//! module frames first (our Content-Length rules), checks the mandatory headers of RFC 3261
//! §8.1.1, and caches the identifiers so transaction matching never re-parses a header.
//!
//! No I/O and no state here.

use std::net::{IpAddr, SocketAddr};

use rsipstack::sip::{prelude::*, typed, SipMessage};
pub use rsipstack::sip::{Header, Method, Request, Response, Uri};
use thiserror::Error;

use super::framing::{self, FrameError, Framed};

/// Magic cookie that marks an RFC 3261 branch (§8.1.1.7).
pub const BRANCH_COOKIE: &str = "z9hG4bK";

#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("unparseable message: {0}")]
    Syntax(String),
    #[error("missing mandatory header {0}")]
    Missing(&'static str),
    #[error("invalid {0} header: {1}")]
    Invalid(&'static str, String),
    #[error("unknown method {0}")]
    UnknownMethod(String),
    #[error("unsupported SIP version {0}")]
    Version(String),
    #[error("CSeq method {cseq} does not match request method {method}")]
    CSeqMismatch { method: String, cseq: String },
}

impl ParseError {
    /// The status a request that failed this way gets (RFC 3261 §8.2, §18.3), when one is due.
    pub fn status(&self) -> u16 {
        match self {
            ParseError::UnknownMethod(_) => 501,
            ParseError::Version(_) => 505,
            ParseError::Frame(FrameError::BodyTooLarge) => 413,
            _ => 400,
        }
    }
}

/// Identifiers cached from a message's headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ids {
    pub call_id: String,
    pub cseq: u32,
    pub cseq_method: Method,
    /// Branch of the top Via.
    pub branch: String,
    /// sent-by of the top Via (`host[:port]`), part of the transaction key.
    pub sent_by: String,
    pub from_tag: Option<String>,
    pub to_tag: Option<String>,
}

#[derive(Debug, Clone)]
pub struct InRequest {
    pub req: Request,
    pub ids: Ids,
}

#[derive(Debug, Clone)]
pub struct InResponse {
    pub resp: Response,
    pub ids: Ids,
    pub status: u16,
}

#[derive(Debug, Clone)]
pub enum Incoming {
    Request(InRequest),
    Response(InResponse),
}

impl Incoming {
    pub fn ids(&self) -> &Ids {
        match self {
            Incoming::Request(r) => &r.ids,
            Incoming::Response(r) => &r.ids,
        }
    }
}

const KNOWN_METHODS: &[&str] = &[
    "ACK",
    "BYE",
    "CANCEL",
    "INFO",
    "INVITE",
    "MESSAGE",
    "NOTIFY",
    "OPTIONS",
    "PRACK",
    "PUBLISH",
    "REFER",
    "REGISTER",
    "SUBSCRIBE",
    "UPDATE",
];

/// Parse one framed message (`buf` holds exactly it, or more: `framed` says where it ends).
pub fn parse(buf: &[u8], framed: Framed) -> Result<Incoming, ParseError> {
    let buf = &buf[..framed.total()];
    check_start_line(buf)?;
    let msg = rsipstack::sip::parser::parse_message(buf)
        .map_err(|e| ParseError::Syntax(e.to_string()))?;
    match msg {
        SipMessage::Request(req) => {
            let ids = ids_of(&req)?;
            if ids.cseq_method != req.method {
                return Err(ParseError::CSeqMismatch {
                    method: req.method.to_string(),
                    cseq: ids.cseq_method.to_string(),
                });
            }
            Ok(Incoming::Request(InRequest { req, ids }))
        }
        SipMessage::Response(resp) => {
            let ids = ids_of(&resp)?;
            let status = resp.status_code.code();
            if !(100..700).contains(&status) {
                return Err(ParseError::Syntax(format!("status code {status}")));
            }
            Ok(Incoming::Response(InResponse { resp, ids, status }))
        }
    }
}

/// Frame and parse a datagram in one step.
pub fn parse_datagram(buf: &[u8]) -> Result<Incoming, ParseError> {
    let framed = framing::frame_datagram(buf)?;
    parse(buf, framed)
}

fn check_start_line(buf: &[u8]) -> Result<(), ParseError> {
    let end = buf
        .iter()
        .position(|&b| b == b'\n')
        .ok_or(FrameError::NoHeadEnd)?;
    let line = std::str::from_utf8(framing::trim_ascii(&buf[..end]))
        .map_err(|_| ParseError::Syntax("start line is not UTF-8".into()))?;
    if let Some(rest) = line.strip_prefix("SIP/") {
        if !rest.starts_with("2.0 ") {
            return Err(ParseError::Version(format!("SIP/{rest}")));
        }
        return Ok(());
    }
    let mut parts = line.split_ascii_whitespace();
    let method = parts.next().unwrap_or_default();
    let uri = parts.next();
    let version = parts.next();
    if uri.is_none() || version.is_none() || parts.next().is_some() {
        return Err(ParseError::Syntax(format!("bad request line {line:?}")));
    }
    if !method
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
    {
        return Err(ParseError::Syntax(format!("bad method token {method:?}")));
    }
    if !KNOWN_METHODS.contains(&method) {
        return Err(ParseError::UnknownMethod(method.to_string()));
    }
    if version != Some("SIP/2.0") {
        return Err(ParseError::Version(version.unwrap_or_default().to_string()));
    }
    Ok(())
}

fn ids_of<M: HeadersExt>(msg: &M) -> Result<Ids, ParseError> {
    let call_id = msg
        .call_id_header()
        .map_err(|_| ParseError::Missing("Call-ID"))?
        .value()
        .trim()
        .to_string();
    if call_id.is_empty() {
        return Err(ParseError::Invalid("Call-ID", "empty".into()));
    }
    let cseq_raw = msg.cseq_header().map_err(|_| ParseError::Missing("CSeq"))?;
    let cseq = typed::CSeq::parse(cseq_raw.value())
        .map_err(|e| ParseError::Invalid("CSeq", e.to_string()))?;
    let via = msg
        .via_header()
        .map_err(|_| ParseError::Missing("Via"))?
        .first_value()
        .map_err(|e| ParseError::Invalid("Via", e.to_string()))?;
    let via =
        typed::Via::parse(via.value()).map_err(|e| ParseError::Invalid("Via", e.to_string()))?;
    let branch = via
        .branch()
        .map(|b| b.to_string())
        .ok_or_else(|| ParseError::Invalid("Via", "no branch parameter".into()))?;
    let from = msg.from_header().map_err(|_| ParseError::Missing("From"))?;
    check_name_addr("From", from.value())?;
    let from =
        typed::From::parse(from.value()).map_err(|e| ParseError::Invalid("From", e.to_string()))?;
    let to = msg.to_header().map_err(|_| ParseError::Missing("To"))?;
    check_name_addr("To", to.value())?;
    if let Ok(contact) = msg.contact_header() {
        check_name_addr("Contact", contact.value())?;
    }
    let to = typed::To::parse(to.value()).map_err(|e| ParseError::Invalid("To", e.to_string()))?;
    Ok(Ids {
        call_id,
        cseq: cseq.seq,
        cseq_method: cseq.method,
        branch,
        sent_by: via.sent_by().to_string(),
        from_tag: from.tag().map(|t| t.to_string()),
        to_tag: to.tag().map(|t| t.to_string()),
    })
}

/// RFC 3261 §25.1 name-addr syntax, the parts the parser lets through (RFC 4475 §3.1.2.1 and
/// §3.1.2.14): quotes must close (a backslash escapes inside them), and `<` / `>` outside quotes
/// must pair up, one address each.
fn check_name_addr(header: &'static str, value: &str) -> Result<(), ParseError> {
    let (mut quoted, mut escaped, mut depth) = (false, false, 0i32);
    for c in value.chars() {
        if quoted {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => quoted = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            '<' if depth == 0 => depth = 1,
            '>' if depth == 1 => depth = 0,
            '<' | '>' => {
                return Err(ParseError::Invalid(header, format!("stray {c:?}")));
            }
            _ => {}
        }
    }
    if quoted {
        return Err(ParseError::Invalid(
            header,
            "unterminated quoted string".into(),
        ));
    }
    if depth != 0 {
        return Err(ParseError::Invalid(header, "unclosed <".into()));
    }
    Ok(())
}

/// RFC 3261 §18.2.1 and RFC 3581: stamp the top Via with where the request really came from,
/// so responses (and our logs) follow the packet's real path through NATs.
/// Returns the address responses must go to over an unreliable transport.
pub fn stamp_via(req: &mut Request, source: SocketAddr) -> SocketAddr {
    let mut reply_to = source;
    let Some(Header::Via(via)) = req.headers.iter_mut().find(|h| matches!(h, Header::Via(_)))
    else {
        return reply_to;
    };
    let _ = via.update_first_value(|first| {
        let mut v = typed::Via::parse(first.value())?;
        let sent_by_ip: Option<IpAddr> = match &v.uri.host_with_port.host {
            rsipstack::sip::Host::IpAddr(ip) => Some(*ip),
            rsipstack::sip::Host::Domain(_) => None,
        };
        let rport_requested = matches!(v.rport(), Some(None));
        if sent_by_ip != Some(source.ip()) || rport_requested {
            v = v.with_received(rsipstack::sip::param::Received::new(
                source.ip().to_string(),
            ));
        }
        if rport_requested {
            v = v.with_rport(Some(source.port()));
        } else {
            // No rport: RFC 3261 says reply to the received address on the sent-by port.
            let port = v.uri.host_with_port.port.map(|p| p.value()).unwrap_or(5060);
            reply_to = SocketAddr::new(source.ip(), port);
        }
        Ok(rsipstack::sip::headers::untyped::Via::new(v.to_string()))
    });
    reply_to
}

/// Header value by name (long or compact form), for headers we read as plain text.
pub fn header_value<'a>(headers: &'a rsipstack::sip::Headers, name: &str) -> Option<&'a str> {
    headers.iter().find_map(|h| {
        if h.name().eq_ignore_ascii_case(name) {
            Some(h.value())
        } else {
            None
        }
    })
}

/// Content-Type of a message without parameters, lower-cased.
pub fn content_type(headers: &rsipstack::sip::Headers) -> Option<String> {
    header_value(headers, "Content-Type").map(|v| {
        v.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    })
}

/// A URI's user part, with visual separators removed (`9-1-1`, `+1 418 ...`).
pub fn dialled_user(uri: &Uri) -> String {
    uri.user()
        .unwrap_or_default()
        .chars()
        .filter(|c| !matches!(c, '-' | '.' | ' ' | '(' | ')'))
        .collect()
}

/// The parsed Contact URI of a message, if any.
pub fn contact_uri<M: HeadersExt>(msg: &M) -> Option<Uri> {
    let c = msg.contact_header().ok()?;
    typed::Contact::parse(c.value()).ok().map(|c| c.uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(extra: &str) -> Vec<u8> {
        format!(
            "INVITE sip:311@127.0.0.1 SIP/2.0\r\nv: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKabc;rport\r\n\
             f: <sip:alice@h>;tag=77\r\nt: <sip:311@h>\r\ni: call-1\r\nCSeq: 1 INVITE\r\n\
             m: <sip:alice@10.0.0.1:5062>\r\n{extra}l: 0\r\n\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn compact_headers_give_ids() {
        let Incoming::Request(r) = parse_datagram(&req("")).unwrap() else {
            panic!()
        };
        assert_eq!(r.ids.call_id, "call-1");
        assert_eq!(r.ids.branch, "z9hG4bKabc");
        assert_eq!(r.ids.sent_by, "10.0.0.1:5062");
        assert_eq!(r.ids.from_tag.as_deref(), Some("77"));
        assert_eq!(r.ids.to_tag, None);
        assert_eq!(r.ids.cseq, 1);
        assert_eq!(
            contact_uri(&r.req).unwrap().to_string(),
            "sip:alice@10.0.0.1:5062"
        );
    }

    #[test]
    fn folded_header_is_joined() {
        let Incoming::Request(r) = parse_datagram(&req("Subject: snow\r\n  removal\r\n")).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            header_value(&r.req.headers, "subject"),
            Some("snow removal")
        );
    }

    #[test]
    fn missing_mandatory_headers() {
        let no_callid = String::from_utf8(req(""))
            .unwrap()
            .replace("i: call-1\r\n", "");
        assert_eq!(
            parse_datagram(no_callid.as_bytes()).unwrap_err(),
            ParseError::Missing("Call-ID")
        );
        let no_branch = String::from_utf8(req(""))
            .unwrap()
            .replace(";branch=z9hG4bKabc", "");
        assert!(matches!(
            parse_datagram(no_branch.as_bytes()),
            Err(ParseError::Invalid("Via", _))
        ));
    }

    #[test]
    fn unknown_method_and_version() {
        let m = b"FOO sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(parse_datagram(m).unwrap_err().status(), 501);
        let v = b"OPTIONS sip:a@b SIP/3.0\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(parse_datagram(v).unwrap_err().status(), 505);
        let g = b"\x00\x01garbage\xff\r\n\r\n";
        assert_eq!(parse_datagram(g).unwrap_err().status(), 400);
    }

    #[test]
    fn cseq_method_must_match() {
        let bad = String::from_utf8(req(""))
            .unwrap()
            .replace("CSeq: 1 INVITE", "CSeq: 1 BYE");
        assert!(matches!(
            parse_datagram(bad.as_bytes()),
            Err(ParseError::CSeqMismatch { .. })
        ));
    }

    #[test]
    fn via_gets_received_and_rport() {
        let Incoming::Request(mut r) = parse_datagram(&req("")).unwrap() else {
            panic!()
        };
        let src: SocketAddr = "192.0.2.9:40000".parse().unwrap();
        assert_eq!(stamp_via(&mut r.req, src), src);
        let via = r.req.via_header().unwrap().value().to_string();
        assert!(via.contains("received=192.0.2.9"), "{via}");
        assert!(via.contains("rport=40000"), "{via}");
    }

    #[test]
    fn via_without_rport_replies_to_sent_by_port() {
        let raw = String::from_utf8(req("")).unwrap().replace(";rport", "");
        let Incoming::Request(mut r) = parse_datagram(raw.as_bytes()).unwrap() else {
            panic!()
        };
        let src: SocketAddr = "10.0.0.1:40000".parse().unwrap();
        assert_eq!(stamp_via(&mut r.req, src), "10.0.0.1:5062".parse().unwrap());
    }

    #[test]
    fn dialled_user_strips_separators() {
        let u: Uri = "sip:9-1-1@h".parse().unwrap();
        assert_eq!(dialled_user(&u), "911");
    }
}
