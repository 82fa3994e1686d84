//! Message boundaries on the wire: where a SIP message's head ends, how long its body is, and
//! whether the bytes we hold are a whole message. UDP gives one message per datagram; TCP gives a
//! byte stream that must be cut by Content-Length (RFC 3261 §18.3).
//!
//! No parsing of header semantics beyond Content-Length, and no I/O: this only looks at bytes.

use thiserror::Error;

/// Largest head (start line + headers) we accept. Real INVITEs are under 4 KiB; anything near
/// this is an attack or a framing error on a stream.
pub const MAX_HEAD: usize = 16 * 1024;
/// Largest body we accept (SDP is a few hundred bytes; SIP INFO a few dozen).
pub const MAX_BODY: usize = 64 * 1024;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    #[error("message head exceeds {MAX_HEAD} bytes")]
    HeadTooLarge,
    #[error("no blank line ends the message head")]
    NoHeadEnd,
    #[error("invalid Content-Length: {0:?}")]
    BadContentLength(String),
    #[error("Content-Length says {declared} bytes but {available} arrived")]
    Truncated { declared: usize, available: usize },
    #[error("body exceeds {MAX_BODY} bytes")]
    BodyTooLarge,
    #[error("Content-Length is required on a stream transport")]
    MissingContentLength,
}

/// One message found in a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framed {
    /// Bytes of start line + headers, including the blank line.
    pub head_len: usize,
    /// Bytes of body that belong to this message.
    pub body_len: usize,
}

impl Framed {
    pub fn total(&self) -> usize {
        self.head_len + self.body_len
    }
}

/// What a stream buffer currently holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFrame {
    /// A whole message is at the start of the buffer.
    Message(Framed),
    /// Only CRLFs (RFC 5626 keep-alive ping "\r\n\r\n" or stray line ends): skip this many bytes.
    KeepAlive { len: usize, ping: bool },
    /// Need more bytes.
    Incomplete,
}

/// Index just past the blank line that ends the head, if present.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    head_end_from(buf, 0)
}

/// As `head_end`, searching from `from` (bytes before it are known to hold no head end; the
/// last three are looked at again, a terminator may straddle).
fn head_end_from(buf: &[u8], from: usize) -> Option<usize> {
    // Tolerate bare LF line ends (RFC 3261 §7.5 says implementations should accept them).
    let mut i = from.saturating_sub(3).min(buf.len());
    while i < buf.len() {
        if buf[i] == b'\n' {
            if buf.get(i + 1) == Some(&b'\n') {
                return Some(i + 2);
            }
            if buf.get(i + 1) == Some(&b'\r') && buf.get(i + 2) == Some(&b'\n') {
                return Some(i + 3);
            }
        }
        i += 1;
    }
    None
}

/// Content-Length declared in a head (long form or compact `l`), None when absent.
pub fn content_length(head: &[u8]) -> Result<Option<usize>, FrameError> {
    let mut found = None;
    for line in head.split(|&b| b == b'\n').skip(1) {
        let line = trim_ascii(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = trim_ascii(&line[..colon]);
        if name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l") {
            let value = trim_ascii(&line[colon + 1..]);
            let text = String::from_utf8_lossy(value).into_owned();
            if value.is_empty() || value.len() > 10 || !value.iter().all(u8::is_ascii_digit) {
                return Err(FrameError::BadContentLength(text));
            }
            let n: usize = text
                .parse()
                .map_err(|_| FrameError::BadContentLength(text.clone()))?;
            if found.is_some_and(|f| f != n) {
                return Err(FrameError::BadContentLength(text));
            }
            found = Some(n);
        }
    }
    if found.is_some_and(|n| n > MAX_BODY) {
        return Err(FrameError::BodyTooLarge);
    }
    Ok(found)
}

/// Frame a UDP datagram. Per RFC 3261 §18.3 a Content-Length larger than the datagram's body
/// is an error (400); a smaller one truncates the body; none means the rest of the datagram.
pub fn frame_datagram(buf: &[u8]) -> Result<Framed, FrameError> {
    let head_len = match head_end(buf) {
        Some(n) if n <= MAX_HEAD => n,
        Some(_) => return Err(FrameError::HeadTooLarge),
        None if buf.len() > MAX_HEAD => return Err(FrameError::HeadTooLarge),
        None => return Err(FrameError::NoHeadEnd),
    };
    let available = buf.len() - head_len;
    let body_len = match content_length(&buf[..head_len])? {
        Some(declared) if declared > available => {
            return Err(FrameError::Truncated {
                declared,
                available,
            })
        }
        Some(declared) => declared,
        None if available > MAX_BODY => return Err(FrameError::BodyTooLarge),
        None => available,
    };
    Ok(Framed { head_len, body_len })
}

/// Find the next message in a stream buffer (TCP). Leading CRLFs are keep-alives.
pub fn frame_stream(buf: &[u8]) -> Result<StreamFrame, FrameError> {
    frame_stream_from(buf, &mut 0)
}

/// As `frame_stream` for a buffer that grows read by read: `scanned` remembers how far the
/// head's end was searched for in vain, so a client sending one byte at a time costs linear,
/// not quadratic, work. Reset it to 0 when bytes are taken from the front of the buffer.
pub fn frame_stream_from(buf: &[u8], scanned: &mut usize) -> Result<StreamFrame, FrameError> {
    let crlfs = buf
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    if crlfs > 0 {
        let ping = buf.starts_with(b"\r\n\r\n");
        // A ping is exactly a double CRLF; otherwise skip whatever line ends lead.
        let len = if ping { 4 } else { crlfs };
        return Ok(StreamFrame::KeepAlive { len, ping });
    }
    let head_len = match head_end_from(buf, *scanned) {
        Some(n) if n <= MAX_HEAD => n,
        Some(_) => return Err(FrameError::HeadTooLarge),
        None if buf.len() > MAX_HEAD => return Err(FrameError::HeadTooLarge),
        None => {
            *scanned = buf.len();
            return Ok(StreamFrame::Incomplete);
        }
    };
    let body_len = content_length(&buf[..head_len])?.ok_or(FrameError::MissingContentLength)?;
    if buf.len() < head_len + body_len {
        return Ok(StreamFrame::Incomplete);
    }
    Ok(StreamFrame::Message(Framed { head_len, body_len }))
}

pub(crate) fn trim_ascii(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if first.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if last.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &[u8] =
        b"INVITE sip:311@h SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nl: 4\r\n\r\nabcd";

    #[test]
    fn a_stream_fed_byte_by_byte_frames_the_same_with_the_scan_remembered() {
        for term in [&b"\r\n\r\n"[..], &b"\n\n"[..]] {
            let msg = [&b"OPTIONS sip:h SIP/2.0\r\nl: 0"[..], term].concat();
            let mut scanned = 0;
            for n in 1..msg.len() {
                assert_eq!(
                    frame_stream_from(&msg[..n], &mut scanned),
                    Ok(StreamFrame::Incomplete)
                );
            }
            let Ok(StreamFrame::Message(f)) = frame_stream_from(&msg, &mut scanned) else {
                panic!("framed");
            };
            assert_eq!(f.head_len, msg.len());
        }
    }

    #[test]
    fn datagram_with_compact_content_length() {
        let f = frame_datagram(INVITE).unwrap();
        assert_eq!(f.body_len, 4);
        assert_eq!(f.total(), INVITE.len());
    }

    #[test]
    fn datagram_body_shorter_than_declared_is_an_error() {
        let msg = b"INVITE sip:a@b SIP/2.0\r\nContent-Length: 10\r\n\r\nabc";
        assert_eq!(
            frame_datagram(msg),
            Err(FrameError::Truncated {
                declared: 10,
                available: 3
            })
        );
    }

    #[test]
    fn datagram_extra_bytes_are_ignored() {
        let msg = b"INVITE sip:a@b SIP/2.0\r\nContent-Length: 2\r\n\r\nabcdef";
        assert_eq!(frame_datagram(msg).unwrap().body_len, 2);
    }

    #[test]
    fn bad_content_length_values() {
        for v in ["-1", "abc", "1e3", "", "99999999999"] {
            let msg = format!("INVITE sip:a@b SIP/2.0\r\nContent-Length: {v}\r\n\r\n");
            assert!(
                matches!(
                    frame_datagram(msg.as_bytes()),
                    Err(FrameError::BadContentLength(_))
                ),
                "{v}"
            );
        }
        let two = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 0\r\nl: 3\r\n\r\nabc";
        assert!(frame_datagram(two).is_err());
    }

    #[test]
    fn missing_blank_line_and_huge_head() {
        assert_eq!(
            frame_datagram(b"INVITE sip:a@b SIP/2.0\r\nVia: x\r\n"),
            Err(FrameError::NoHeadEnd)
        );
        let mut huge = b"INVITE sip:a@b SIP/2.0\r\nX: ".to_vec();
        huge.extend(std::iter::repeat_n(b'a', MAX_HEAD + 10));
        huge.extend_from_slice(b"\r\n\r\n");
        assert_eq!(frame_datagram(&huge), Err(FrameError::HeadTooLarge));
    }

    #[test]
    fn stream_partial_reads_and_pipelining() {
        let mut two = INVITE.to_vec();
        two.extend_from_slice(INVITE);
        for cut in 0..INVITE.len() {
            assert_eq!(
                frame_stream(&INVITE[..cut]).unwrap(),
                StreamFrame::Incomplete,
                "{cut}"
            );
        }
        match frame_stream(&two).unwrap() {
            StreamFrame::Message(f) => assert_eq!(f.total(), INVITE.len()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn stream_keepalive_and_missing_length() {
        assert_eq!(
            frame_stream(b"\r\n\r\nINVITE").unwrap(),
            StreamFrame::KeepAlive { len: 4, ping: true }
        );
        assert_eq!(
            frame_stream(b"\r\nX").unwrap(),
            StreamFrame::KeepAlive {
                len: 2,
                ping: false
            }
        );
        assert_eq!(
            frame_stream(b"OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\n"),
            Err(FrameError::MissingContentLength)
        );
    }

    #[test]
    fn bare_lf_heads() {
        let msg = b"OPTIONS sip:a@b SIP/2.0\nContent-Length: 0\n\n";
        assert_eq!(frame_datagram(msg).unwrap().head_len, msg.len());
    }
}
