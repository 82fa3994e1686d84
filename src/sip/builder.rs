//! Writing SIP messages: responses that echo a request's dialog headers (RFC 3261 §8.2.6),
//! in-dialog and out-of-dialog requests, and last-resort error responses to requests that did
//! not parse. Messages are written straight into a byte buffer: no intermediate tree.
//!
//! No I/O and no state here.

use bytes::Bytes;
use rsipstack::sip::Header;

use super::message::Request;

pub const SERVER: &str = concat!("centrale/", env!("CARGO_PKG_VERSION"));
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER, REGISTER, UPDATE";
pub const ACCEPT: &str = "application/sdp, application/dtmf-relay, application/dtmf";
/// Option tags we implement beyond RFC 3261: session timers (RFC 4028, as the side the
/// peer refreshes toward). No 100rel or Replaces.
pub const SUPPORTED: &str = "timer";

/// Standard reason phrase for the status codes we send.
pub fn reason(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        420 => "Bad Extension",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        603 => "Decline",
        _ => match code / 100 {
            1 => "Progress",
            2 => "OK",
            3 => "Redirect",
            4 => "Client Error",
            5 => "Server Error",
            _ => "Global Failure",
        },
    }
}

/// A message being written. Headers go in order; `finish` appends Content-Length and the body.
#[derive(Debug)]
pub struct MessageBuilder {
    buf: Vec<u8>,
}

impl MessageBuilder {
    fn with_start_line(line: std::fmt::Arguments<'_>) -> Self {
        use std::io::Write;
        let mut buf = Vec::with_capacity(768);
        let _ = buf.write_fmt(line);
        buf.extend_from_slice(b"\r\n");
        MessageBuilder { buf }
    }

    pub fn header(mut self, name: &str, value: impl std::fmt::Display) -> Self {
        self.push_header(name, value);
        self
    }

    pub fn push_header(&mut self, name: &str, value: impl std::fmt::Display) {
        use std::io::Write;
        let _ = write!(self.buf, "{name}: {value}\r\n");
    }

    pub fn finish(self) -> Bytes {
        self.body(None, &[])
    }

    pub fn body(mut self, content_type: Option<&str>, body: &[u8]) -> Bytes {
        if let Some(ct) = content_type {
            self.push_header("Content-Type", ct);
        }
        self.push_header("Content-Length", body.len());
        self.buf.extend_from_slice(b"\r\n");
        self.buf.extend_from_slice(body);
        Bytes::from(self.buf)
    }
}

/// A response to `req`: Via (all, as stamped on arrival), From, To (with our tag added when
/// the request had none), Call-ID and CSeq echoed.
pub fn response(req: &Request, code: u16, to_tag: Option<&str>) -> MessageBuilder {
    let mut b = MessageBuilder::with_start_line(format_args!("SIP/2.0 {code} {}", reason(code)));
    for h in req.headers.iter() {
        match h {
            Header::Via(v) => b.push_header("Via", v.value()),
            Header::From(v) => b.push_header("From", v.value()),
            Header::CallId(v) => b.push_header("Call-ID", v.value()),
            Header::CSeq(v) => b.push_header("CSeq", v.value()),
            Header::To(v) => {
                let value = v.value();
                match to_tag {
                    Some(tag) if code != 100 && !has_tag(value) => {
                        b.push_header("To", format_args!("{value};tag={tag}"))
                    }
                    _ => b.push_header("To", value),
                }
            }
            _ => {}
        }
    }
    b.header("Server", SERVER)
}

/// Copy Record-Route into a dialog-creating response (RFC 3261 §12.1.1).
pub fn with_record_route(mut b: MessageBuilder, req: &Request) -> MessageBuilder {
    for h in req.headers.iter() {
        if let Header::RecordRoute(rr) = h {
            b.push_header("Record-Route", rr.value());
        }
    }
    b
}

/// Start a request line.
pub fn request(method: &str, uri: &str) -> MessageBuilder {
    MessageBuilder::with_start_line(format_args!("{method} {uri} SIP/2.0"))
}

fn has_tag(name_addr: &str) -> bool {
    // A tag parameter sits after the closing '>' (or anywhere when there is no '<').
    let params = match name_addr.rfind('>') {
        Some(i) => &name_addr[i..],
        None => name_addr,
    };
    params
        .split(';')
        .skip(1)
        .any(|p| p.trim().to_ascii_lowercase().starts_with("tag="))
}

/// The same request with its top Via naming `transport` and `sent_by`, when DNS chose another
/// transport than the one it was written for (RFC 3263: NAPTR and SRV pick the transport after
/// the message exists). None when the Via already names `transport` or there is no Via.
pub fn via_for_transport(
    bytes: &[u8],
    transport: super::flow::TransportKind,
    sent_by: &str,
) -> Option<Bytes> {
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let mut at = bytes.iter().position(|&b| b == b'\n')? + 1;
    while at < head_end {
        let end = bytes[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(head_end, |e| at + e);
        let line = &bytes[at..end];
        let colon = line.iter().position(|&b| b == b':')?;
        let name = std::str::from_utf8(&line[..colon]).ok()?.trim();
        if name.eq_ignore_ascii_case("via") || name.eq_ignore_ascii_case("v") {
            let value_start = at + colon + 1;
            let value = std::str::from_utf8(&bytes[value_start..end]).ok()?;
            let lead = value.len() - value.trim_start().len();
            let value = value.trim_start();
            // `SIP/2.0/UDP host:port` up to the first parameter or the next Via of the line.
            let proto_end = value.find([';', ',', '\r']).unwrap_or(value.len());
            let proto = value[..proto_end].split_whitespace().next()?;
            if proto
                .rsplit('/')
                .next()
                .is_some_and(|t| t.eq_ignore_ascii_case(transport.via_token()))
            {
                return None;
            }
            let mut out = Vec::with_capacity(bytes.len() + 8);
            out.extend_from_slice(&bytes[..value_start + lead]);
            out.extend_from_slice(
                format!("SIP/2.0/{} {sent_by}", transport.via_token()).as_bytes(),
            );
            out.extend_from_slice(&bytes[value_start + lead + proto_end..]);
            return Some(Bytes::from(out));
        }
        at = end + 1;
    }
    None
}

/// Last-resort response to a request that did not parse: echo whatever Via/From/To/Call-ID/
/// CSeq lines can be found. None when it is not a request or has no Via (nowhere to answer).
pub fn raw_error_response(buf: &[u8], code: u16, detail: &str, tag: &str) -> Option<Bytes> {
    let text = String::from_utf8_lossy(buf);
    let mut lines = text.split('\n').map(|l| l.trim_end_matches('\r'));
    let start = lines.next()?;
    if start.starts_with("SIP/") || start.trim().is_empty() {
        return None;
    }
    let mut b = MessageBuilder::with_start_line(format_args!("SIP/2.0 {code} {}", reason(code)));
    let mut have_via = false;
    for line in lines {
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        let long = match name.trim().to_ascii_lowercase().as_str() {
            "via" | "v" => {
                have_via = true;
                "Via"
            }
            "from" | "f" => "From",
            "call-id" | "i" => "Call-ID",
            "cseq" => "CSeq",
            "to" | "t" => {
                if has_tag(value) {
                    b.push_header("To", value);
                } else {
                    b.push_header("To", format_args!("{value};tag={tag}"));
                }
                continue;
            }
            _ => continue,
        };
        b.push_header(long, value);
    }
    if !have_via {
        return None;
    }
    let warning = detail.replace(['"', '\r', '\n'], "'");
    Some(
        b.header("Server", SERVER)
            .header("Warning", format_args!("399 centrale \"{warning}\""))
            .finish(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::{parse_datagram, Incoming};

    fn invite() -> Request {
        let raw = b"INVITE sip:311@h SIP/2.0\r\nVia: SIP/2.0/UDP a:5062;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP p;branch=z9hG4bK0\r\nRecord-Route: <sip:p;lr>\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:311@h>\r\nCall-ID: x\r\nCSeq: 5 INVITE\r\nContent-Length: 0\r\n\r\n";
        match parse_datagram(raw).unwrap() {
            Incoming::Request(r) => r.req,
            _ => unreachable!(),
        }
    }

    #[test]
    fn response_echoes_and_tags() {
        let r = with_record_route(response(&invite(), 200, Some("me")), &invite()).finish();
        let s = std::str::from_utf8(&r).unwrap();
        assert!(s.starts_with("SIP/2.0 200 OK\r\n"));
        assert!(s.contains(
            "Via: SIP/2.0/UDP a:5062;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP p;branch=z9hG4bK0\r\n"
        ));
        assert!(s.contains("To: <sip:311@h>;tag=me\r\n"));
        assert!(s.contains("Record-Route: <sip:p;lr>\r\n"));
        assert!(s.ends_with("Content-Length: 0\r\n\r\n"));
        // the result parses back
        assert!(parse_datagram(&r).is_ok());
    }

    #[test]
    fn trying_has_no_tag_and_existing_tag_is_kept() {
        let s = response(&invite(), 100, Some("me")).finish();
        assert!(std::str::from_utf8(&s)
            .unwrap()
            .contains("To: <sip:311@h>\r\n"));
        assert!(has_tag("<sip:a@b>;tag=1"));
        assert!(!has_tag("<sip:a@b;tag=1>"));
        assert!(has_tag("sip:a@b;tag=1"));
    }

    #[test]
    fn raw_error_needs_a_request_with_via() {
        let bad = b"INVITE sip:a SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\ni: c\r\nt: <sip:b>\r\nContent-Length: zz\r\n\r\n";
        let r = raw_error_response(bad, 400, "bad \"length\"", "t0").unwrap();
        let s = std::str::from_utf8(&r).unwrap();
        assert!(s.starts_with("SIP/2.0 400 Bad Request\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"));
        assert!(s.contains("To: <sip:b>;tag="));
        assert!(s.contains("Warning: 399 centrale \"bad 'length'\""));
        assert!(raw_error_response(b"garbage", 400, "x", "t0").is_none());
        assert!(raw_error_response(b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n", 400, "x", "t0").is_none());
    }

    #[test]
    fn a_via_is_rewritten_for_the_transport_dns_chose() {
        use crate::sip::flow::TransportKind;
        let req = b"INVITE sip:911@carrier.test SIP/2.0\r\nMax-Forwards: 70\r\nv:  SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1;rport\r\nVia: SIP/2.0/UDP p;branch=z9hG4bK0\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:911@carrier.test>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 4\r\n\r\nVia:";
        let out = via_for_transport(req, TransportKind::Tcp, "127.0.0.1:5070").unwrap();
        let s = std::str::from_utf8(&out).unwrap();
        assert!(
            s.contains(
                "\r\nv:  SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK1;rport\r\nVia: SIP/2.0/UDP p;"
            ),
            "{s}"
        );
        assert!(s.ends_with("\r\n\r\nVia:"));
        assert!(parse_datagram(&out).is_ok());
        assert!(via_for_transport(req, TransportKind::Udp, "x:1").is_none());
        assert!(via_for_transport(
            b"INVITE sip:a SIP/2.0\r\nTo: <sip:a>\r\n\r\n",
            TransportKind::Tcp,
            "x:1"
        )
        .is_none());
    }
}
