//! RTP packets (RFC 3550 §5): writing our 12-byte header in place (no allocation per packet),
//! reading the peer's packets through rtp-rs, and telling RTP from RTCP on a shared port
//! (RFC 5761 §4: payload types 64–95 with the marker bit are RTCP packet types 192–223).
//!
//! No I/O here.

use rtp_rs::RtpReader;

pub const HEADER_LEN: usize = 12;
/// 20 ms of G.711 at 8 kHz.
pub const PAYLOAD_LEN: usize = 160;
pub const PACKET_LEN: usize = HEADER_LEN + PAYLOAD_LEN;

/// Write an RTP header (version 2, no padding, extension or CSRC) into `buf[..12]`.
#[inline]
pub fn write_header(buf: &mut [u8], pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32) {
    buf[0] = 0x80;
    buf[1] = (pt & 0x7f) | if marker { 0x80 } else { 0 };
    buf[2..4].copy_from_slice(&seq.to_be_bytes());
    buf[4..8].copy_from_slice(&ts.to_be_bytes());
    buf[8..12].copy_from_slice(&ssrc.to_be_bytes());
}

/// The fields of a received RTP packet we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpView<'a> {
    pub payload_type: u8,
    pub marker: bool,
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload: &'a [u8],
}

/// Parse an RTP packet; None for anything that is not valid RTP version 2.
pub fn parse(buf: &[u8]) -> Option<RtpView<'_>> {
    let r = RtpReader::new(buf).ok()?;
    Some(RtpView {
        payload_type: r.payload_type(),
        marker: r.mark(),
        seq: u16::from(r.sequence_number()),
        timestamp: r.timestamp(),
        ssrc: r.ssrc(),
        payload: r.payload(),
    })
}

/// Whether a packet on an RTP port is RTCP (RFC 5761 §4).
pub fn is_rtcp(buf: &[u8]) -> bool {
    buf.len() >= 8 && buf[0] >> 6 == 2 && (192..=223).contains(&buf[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let mut buf = [0u8; PACKET_LEN];
        write_header(&mut buf, 8, true, 65535, 0xdead_beef, 42);
        buf[HEADER_LEN..].fill(0xd5);
        let v = parse(&buf).unwrap();
        assert_eq!(
            (v.payload_type, v.marker, v.seq, v.timestamp, v.ssrc),
            (8, true, 65535, 0xdead_beef, 42)
        );
        assert_eq!(v.payload.len(), PAYLOAD_LEN);
        assert!(!is_rtcp(&buf));
    }

    #[test]
    fn rtcp_and_garbage() {
        // RR header: V=2, PT=201
        let rr = [0x80u8, 201, 0, 1, 0, 0, 0, 1];
        assert!(is_rtcp(&rr));
        assert!(parse(&[1, 2, 3]).is_none());
        assert!(
            parse(&[0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_none(),
            "version 1"
        );
    }
}
