//! The DNS wire format (RFC 1035 §4) for the four record types a SIP next hop needs: NAPTR
//! (RFC 3403), SRV (RFC 2782), A and AAAA (RFC 3596). Writes a query; reads a response's
//! header, skips its questions, reads its answers and additional records (names compressed or
//! not), and reports the TC flag so the caller can ask again over TCP.
//!
//! Owns: the bytes. Never does: I/O, and never panics on what it reads: a response comes from
//! the network, so every length and pointer is checked and a bad one is a `WireError`.

use std::net::{Ipv4Addr, Ipv6Addr};

use thiserror::Error;

/// The record types we ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordType {
    A,
    Aaaa,
    Srv,
    Naptr,
}

impl RecordType {
    pub fn code(self) -> u16 {
        match self {
            RecordType::A => 1,
            RecordType::Aaaa => 28,
            RecordType::Srv => 33,
            RecordType::Naptr => 35,
        }
    }
}

const CLASS_IN: u16 = 1;
const TYPE_CNAME: u16 = 5;
/// RFC 1035 §2.3.4.
const MAX_NAME: usize = 255;
const MAX_LABEL: usize = 63;
const HEADER: usize = 12;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WireError {
    #[error("`{0}` is not a domain name we can ask for")]
    BadQueryName(String),
    #[error("the packet ends inside {0}")]
    Short(&'static str),
    #[error("a name's compression pointer at byte {at} does not point backwards")]
    PointerLoop { at: usize },
    #[error("a name is longer than 255 bytes")]
    NameTooLong,
    #[error("label type {0:#04x} is not supported")]
    BadLabel(u8),
    #[error("a {rtype} record's data is {len} bytes, which does not fit its type")]
    BadRdata { rtype: u16, len: usize },
    #[error("not a response (QR is clear)")]
    NotAResponse,
}

/// RCODE (RFC 1035 §4.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    NoError,
    FormErr,
    ServFail,
    NxDomain,
    NotImp,
    Refused,
    Other(u8),
}

impl From<u8> for Rcode {
    fn from(v: u8) -> Rcode {
        match v {
            0 => Rcode::NoError,
            1 => Rcode::FormErr,
            2 => Rcode::ServFail,
            3 => Rcode::NxDomain,
            4 => Rcode::NotImp,
            5 => Rcode::Refused,
            n => Rcode::Other(n),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srv {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    /// The host to reach; "." means the service is not offered at this domain.
    pub target: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naptr {
    pub order: u16,
    pub preference: u16,
    pub flags: String,
    pub service: String,
    pub regexp: String,
    pub replacement: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Srv(Srv),
    Naptr(Naptr),
    Cname(String),
    /// A type we do not read (its code).
    Other(u16),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The owner name, without the final dot ("." for the root).
    pub name: String,
    pub ttl: u32,
    pub data: RData,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub id: u16,
    /// TC: the server had more than fits a datagram; ask again over TCP.
    pub truncated: bool,
    pub rcode: Rcode,
    /// The first question (name, type code), when there is one.
    pub question: Option<(String, u16)>,
    pub answers: Vec<Record>,
    pub additional: Vec<Record>,
}

impl Response {
    /// Whether this answers query `id` about `name`/`rtype` (RFC 5452 §9.1: the id and the
    /// question must match; names compare without case).
    pub fn answers_query(&self, id: u16, name: &str, rtype: RecordType) -> bool {
        self.id == id
            && self
                .question
                .as_ref()
                .is_some_and(|(n, t)| *t == rtype.code() && same_name(n, name))
    }
}

/// Two domain names are equal regardless of ASCII case and of a final dot.
pub fn same_name(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

/// A standard query for `name`/`rtype` with recursion desired (RD) and the id `id`.
pub fn query(id: u16, name: &str, rtype: RecordType) -> Result<Vec<u8>, WireError> {
    let bad = || WireError::BadQueryName(name.to_string());
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.is_empty() || trimmed.len() + 2 > MAX_NAME {
        return Err(bad());
    }
    let mut out = Vec::with_capacity(HEADER + trimmed.len() + 6);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
    out.extend_from_slice(&1u16.to_be_bytes()); // QDCOUNT
    out.extend_from_slice(&[0; 6]); // AN, NS, AR
    for label in trimmed.split('.') {
        if label.is_empty()
            || label.len() > MAX_LABEL
            || !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(bad());
        }
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out.extend_from_slice(&rtype.code().to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(out)
}

/// A cursor over a packet: every read is bounds-checked.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).ok_or(WireError::Short(what))?;
        let s = self.buf.get(self.pos..end).ok_or(WireError::Short(what))?;
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, WireError> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, WireError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, WireError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A possibly compressed name at the cursor; the cursor moves past its first form (the
    /// labels up to the end or the first pointer).
    fn name(&mut self) -> Result<String, WireError> {
        let (name, next) = read_name(self.buf, self.pos)?;
        self.pos = next;
        Ok(name)
    }

    /// A <character-string> (RFC 1035 §3.3): a length byte and that many bytes.
    fn text(&mut self) -> Result<String, WireError> {
        let n = self.u8("a character-string")? as usize;
        let b = self.take(n, "a character-string")?;
        Ok(String::from_utf8_lossy(b).into_owned())
    }
}

/// Read the name at `start` in `buf`: (the name without the final dot, where the name's
/// bytes at `start` end). Pointers must point strictly backwards — to bytes before the
/// pointer itself — so a chain of them always ends (a loop is an error, never a hang).
fn read_name(buf: &[u8], start: usize) -> Result<(String, usize), WireError> {
    let mut name = String::new();
    let mut wire_len = 1usize; // the root label
    let mut pos = start;
    let mut end = None;
    loop {
        let len = *buf.get(pos).ok_or(WireError::Short("a name"))?;
        match len & 0xC0 {
            0x00 if len == 0 => {
                let next = end.unwrap_or(pos + 1);
                if name.is_empty() {
                    name.push('.');
                }
                return Ok((name, next));
            }
            0x00 => {
                let n = len as usize;
                let label = buf
                    .get(pos + 1..pos + 1 + n)
                    .ok_or(WireError::Short("a label"))?;
                wire_len += n + 1;
                if wire_len > MAX_NAME {
                    return Err(WireError::NameTooLong);
                }
                if !name.is_empty() {
                    name.push('.');
                }
                push_label(&mut name, label);
                pos += 1 + n;
            }
            0xC0 => {
                let low = *buf.get(pos + 1).ok_or(WireError::Short("a pointer"))?;
                let target = (usize::from(len & 0x3F) << 8) | usize::from(low);
                if target >= pos {
                    return Err(WireError::PointerLoop { at: pos });
                }
                end.get_or_insert(pos + 2);
                pos = target;
            }
            _ => return Err(WireError::BadLabel(len)),
        }
    }
}

/// A label as text: printable ASCII as is, a dot, backslash or any other byte escaped
/// (RFC 4343 §2.1), so no label can pass for two.
fn push_label(out: &mut String, label: &[u8]) {
    for &b in label {
        match b {
            b'.' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x21..=0x7E => out.push(b as char),
            _ => out.push_str(&format!("\\{b:03}")),
        }
    }
}

/// Read a response. Records of types we do not read are kept as `RData::Other`; the
/// authority section is skipped.
pub fn parse(packet: &[u8]) -> Result<Response, WireError> {
    let mut r = Reader {
        buf: packet,
        pos: 0,
    };
    let id = r.u16("the header")?;
    let flags = r.u16("the header")?;
    let qd = r.u16("the header")?;
    let an = r.u16("the header")?;
    let ns = r.u16("the header")?;
    let ar = r.u16("the header")?;
    if flags & 0x8000 == 0 {
        return Err(WireError::NotAResponse);
    }
    let truncated = flags & 0x0200 != 0;
    let rcode = Rcode::from((flags & 0x000F) as u8);
    let mut question = None;
    for _ in 0..qd {
        let name = r.name()?;
        let qtype = r.u16("a question")?;
        let _class = r.u16("a question")?;
        question.get_or_insert((name, qtype));
    }
    let mut answers = Vec::new();
    let mut additional = Vec::new();
    // A truncated response may stop anywhere: keep the records read whole.
    'sections: for (section, count) in [an, ns, ar].into_iter().enumerate() {
        for _ in 0..count {
            let rec = match record(&mut r) {
                Ok(rec) => rec,
                Err(WireError::Short(_)) if truncated => break 'sections,
                Err(e) => return Err(e),
            };
            match section {
                0 => answers.push(rec),
                2 => additional.push(rec),
                _ => {}
            }
        }
    }
    Ok(Response {
        id,
        truncated,
        rcode,
        question,
        answers,
        additional,
    })
}

fn record(r: &mut Reader<'_>) -> Result<Record, WireError> {
    let name = r.name()?;
    let rtype = r.u16("a record")?;
    let _class = r.u16("a record")?;
    let ttl = r.u32("a record")?;
    let len = r.u16("a record")? as usize;
    let start = r.pos;
    let rdata = r.take(len, "a record's data")?;
    let bad = || WireError::BadRdata { rtype, len };
    let data = match rtype {
        1 => RData::A(Ipv4Addr::from(
            <[u8; 4]>::try_from(rdata).map_err(|_| bad())?,
        )),
        28 => RData::Aaaa(Ipv6Addr::from(
            <[u8; 16]>::try_from(rdata).map_err(|_| bad())?,
        )),
        33 | 35 | TYPE_CNAME => {
            // Names inside may point anywhere before them in the packet: read them with the
            // whole packet, then check they stayed inside this record's data.
            let mut d = Reader {
                buf: r
                    .buf
                    .get(..start + len)
                    .ok_or(WireError::Short("a record"))?,
                pos: start,
            };
            let data = match rtype {
                33 => RData::Srv(Srv {
                    priority: d.u16("an SRV record")?,
                    weight: d.u16("an SRV record")?,
                    port: d.u16("an SRV record")?,
                    target: d.name()?,
                }),
                35 => RData::Naptr(Naptr {
                    order: d.u16("a NAPTR record")?,
                    preference: d.u16("a NAPTR record")?,
                    flags: d.text()?,
                    service: d.text()?,
                    regexp: d.text()?,
                    replacement: d.name()?,
                }),
                _ => RData::Cname(d.name()?),
            };
            if d.pos != start + len {
                return Err(bad());
            }
            data
        }
        other => RData::Other(other),
    };
    Ok(Record { name, ttl, data })
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
