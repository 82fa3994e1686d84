//! Basic RTCP (RFC 3550 §6): receive statistics for the caller's stream (loss, extended
//! highest sequence, interarrival jitter per §A.8) and the compound RR + SDES packet we send
//! every few seconds, so the peer (and an SBC in between) sees a live, measured stream.
//!
//! No I/O and no clock: arrival times come in as arguments.

/// Statistics about one received RTP source.
#[derive(Debug, Clone, Default)]
pub struct RecvStats {
    pub ssrc: u32,
    started: bool,
    base_seq: u32,
    max_seq: u16,
    cycles: u32,
    pub received: u64,
    expected_prior: u32,
    received_prior: u64,
    /// Interarrival jitter in timestamp units, scaled by 16 (§A.8).
    jitter_q4: u32,
    transit: Option<i64>,
    /// Middle 32 bits of the NTP timestamp of the last SR, and when it arrived (ms).
    last_sr: u32,
    last_sr_at_ms: Option<u64>,
}

impl RecvStats {
    /// Account for a packet: `arrival_ts` is the arrival time in RTP timestamp units.
    pub fn on_packet(&mut self, ssrc: u32, seq: u16, rtp_ts: u32, arrival_ts: u32) {
        if !self.started || ssrc != self.ssrc {
            *self = RecvStats {
                ssrc,
                started: true,
                base_seq: seq as u32,
                max_seq: seq,
                ..Default::default()
            };
        } else {
            let delta = seq.wrapping_sub(self.max_seq);
            if delta != 0 && delta < 0x8000 {
                if seq < self.max_seq {
                    self.cycles += 1 << 16;
                }
                self.max_seq = seq;
            }
        }
        self.received += 1;
        let transit = arrival_ts.wrapping_sub(rtp_ts) as i32 as i64;
        if let Some(prev) = self.transit {
            let d = (transit - prev).unsigned_abs() as u32;
            // J += (|D| - J) / 16, kept in Q4.
            self.jitter_q4 = self
                .jitter_q4
                .wrapping_add(d)
                .wrapping_sub((self.jitter_q4 + 8) >> 4);
        }
        self.transit = Some(transit);
    }

    pub fn on_sender_report(&mut self, ntp_middle: u32, now_ms: u64) {
        self.last_sr = ntp_middle;
        self.last_sr_at_ms = Some(now_ms);
    }

    pub fn extended_max(&self) -> u32 {
        self.cycles + self.max_seq as u32
    }

    pub fn expected(&self) -> u32 {
        self.extended_max()
            .wrapping_sub(self.base_seq)
            .wrapping_add(1)
    }

    pub fn lost(&self) -> i64 {
        self.expected() as i64 - self.received as i64
    }

    /// Jitter in milliseconds (8 kHz clock).
    pub fn jitter_ms(&self) -> f64 {
        (self.jitter_q4 >> 4) as f64 / 8.0
    }

    /// Write a compound RR + SDES(CNAME) packet about this source into `out`.
    pub fn write_receiver_report(
        &mut self,
        our_ssrc: u32,
        cname: &str,
        now_ms: u64,
        out: &mut Vec<u8>,
    ) {
        out.clear();
        let have_source = self.started;
        let rc = u8::from(have_source);
        let len_words = 1 + 6 * rc as u16; // length in 32-bit words minus one
        out.extend_from_slice(&[0x80 | rc, 201]);
        out.extend_from_slice(&len_words.to_be_bytes());
        out.extend_from_slice(&our_ssrc.to_be_bytes());
        if have_source {
            let expected = self.expected();
            let expected_interval = expected.wrapping_sub(self.expected_prior);
            let received_interval = self.received.wrapping_sub(self.received_prior) as u32;
            self.expected_prior = expected;
            self.received_prior = self.received;
            let lost_interval = expected_interval as i64 - received_interval as i64;
            let fraction = if expected_interval == 0 || lost_interval <= 0 {
                0u8
            } else {
                ((lost_interval << 8) / expected_interval as i64).min(255) as u8
            };
            let cumulative = self.lost().clamp(-(1 << 23), (1 << 23) - 1) as i32;
            out.extend_from_slice(&self.ssrc.to_be_bytes());
            out.push(fraction);
            out.extend_from_slice(&cumulative.to_be_bytes()[1..4]);
            out.extend_from_slice(&self.extended_max().to_be_bytes());
            out.extend_from_slice(&(self.jitter_q4 >> 4).to_be_bytes());
            out.extend_from_slice(&self.last_sr.to_be_bytes());
            let dlsr = self
                .last_sr_at_ms
                .map(|t| ((now_ms.saturating_sub(t)) * 65_536 / 1000) as u32)
                .unwrap_or(0);
            out.extend_from_slice(&dlsr.to_be_bytes());
        }
        // SDES with one CNAME item, padded to a 32-bit boundary.
        let name = &cname.as_bytes()[..cname.len().min(255)];
        let item_len = 2 + name.len();
        let chunk_len = 4 + item_len + 1; // ssrc + item + END
        let padded = chunk_len.div_ceil(4) * 4;
        let words = (4 + padded) / 4 - 1;
        out.extend_from_slice(&[0x81, 202]);
        out.extend_from_slice(&(words as u16).to_be_bytes());
        out.extend_from_slice(&our_ssrc.to_be_bytes());
        out.push(1);
        out.push(name.len() as u8);
        out.extend_from_slice(name);
        out.resize(out.len() + (padded - 4 - item_len), 0);
    }
}

/// If `buf` is a compound packet starting with a Sender Report, the SR's sender SSRC and the
/// middle 32 bits of its NTP timestamp.
pub fn parse_sender_report(buf: &[u8]) -> Option<(u32, u32)> {
    if buf.len() < 28 || buf[0] >> 6 != 2 || buf[1] != 200 {
        return None;
    }
    let ssrc = u32::from_be_bytes(buf[4..8].try_into().ok()?);
    let ntp_middle = u32::from_be_bytes(buf[10..14].try_into().ok()?);
    Some((ssrc, ntp_middle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_and_wraparound() {
        let mut s = RecvStats::default();
        let mut ts = 0u32;
        for seq in (65530u16..=65535).chain(0..10) {
            if seq == 3 {
                continue; // lost
            }
            s.on_packet(7, seq, ts, ts);
            ts = ts.wrapping_add(160);
        }
        assert_eq!(s.expected(), 16);
        assert_eq!(s.received, 15);
        assert_eq!(s.lost(), 1);
        assert_eq!(s.extended_max(), 65536 + 9);
    }

    #[test]
    fn jitter_grows_with_irregular_arrival() {
        let mut s = RecvStats::default();
        for i in 0..100u32 {
            let wobble = if i % 2 == 0 { 0 } else { 80 }; // ±10 ms
            s.on_packet(1, i as u16, i * 160, i * 160 + wobble);
        }
        assert!(
            s.jitter_ms() > 5.0 && s.jitter_ms() < 11.0,
            "{}",
            s.jitter_ms()
        );
        let mut steady = RecvStats::default();
        for i in 0..100u32 {
            steady.on_packet(1, i as u16, i * 160, i * 160 + 5);
        }
        assert_eq!(steady.jitter_ms(), 0.0);
    }

    #[test]
    fn receiver_report_layout() {
        let mut s = RecvStats::default();
        for i in 0..50u32 {
            s.on_packet(0xabcd, i as u16, i * 160, i * 160);
        }
        let mut out = Vec::new();
        s.write_receiver_report(0x1234, "centrale@host", 0, &mut out);
        assert_eq!(out.len() % 4, 0);
        assert_eq!(out[1], 201);
        let rr_len = (u16::from_be_bytes([out[2], out[3]]) as usize + 1) * 4;
        assert_eq!(rr_len, 32);
        assert_eq!(&out[8..12], &0xabcdu32.to_be_bytes());
        assert_eq!(out[rr_len + 1], 202);
        let sdes_len = (u16::from_be_bytes([out[rr_len + 2], out[rr_len + 3]]) as usize + 1) * 4;
        assert_eq!(rr_len + sdes_len, out.len());
        assert!(crate::media::rtp::is_rtcp(&out));
    }

    #[test]
    fn sender_report_fields() {
        let mut sr = vec![0x80, 200, 0, 6];
        sr.extend_from_slice(&9u32.to_be_bytes());
        sr.extend_from_slice(&[0, 0, 0x12, 0x34, 0x56, 0x78, 0, 0]);
        sr.extend_from_slice(&[0u8; 12]);
        assert_eq!(parse_sender_report(&sr), Some((9, 0x1234_5678)));
        assert_eq!(parse_sender_report(&[0x80, 201, 0, 1]), None);
    }
}
