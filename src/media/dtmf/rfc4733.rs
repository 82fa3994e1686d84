//! RFC 4733 telephone-event (RTP "named events") DTMF receiver, plus the
//! 4-byte event encoder used by tests and relays.
//!
//! Owns only the per-packet event logic: turning a stream of event packets
//! into exactly one digit per key press. No I/O, no RTP header parsing, no
//! jitter buffer and no clock here: the caller passes the RTP timestamp,
//! marker bit and payload of each telephone-event packet.

/// E bit of the second payload byte: last packets of an event.
const END_BIT: u8 = 0x80;
/// Volume occupies the low six bits (0..=63, in -dBm0).
const VOLUME_MASK: u8 = 0x3F;
/// Longest duration one packet can express; longer presses are split into
/// segments (RFC 4733 §2.5.1.3).
const MAX_SEGMENT: u32 = 0xFFFF;
/// Packets whose timestamp is at most this many ticks *before* the current
/// event belong to an older event (late or reordered) and are ignored.
/// Anything further back is taken as a timestamp discontinuity (e.g. a
/// re-INVITE to another media source) and starts a new event. Two maximal
/// segments comfortably cover any real reordering.
const MAX_LATE: u32 = 2 * MAX_SEGMENT;

/// Maps an RFC 4733 DTMF event code to its key.
pub fn event_to_char(event: u8) -> Option<char> {
    match event {
        0..=9 => Some(char::from(b'0' + event)),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + event - 12)),
        _ => None,
    }
}

/// Maps a key to its RFC 4733 event code (letters in either case).
pub fn char_to_event(key: char) -> Option<u8> {
    match key {
        '0'..='9' => Some(key as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(key as u8 - b'A' + 12),
        'a'..='d' => Some(key as u8 - b'a' + 12),
        _ => None,
    }
}

/// Writes one event block: event code, E bit, volume (-dBm0, clamped to
/// six bits) and duration in timestamp units, big-endian.
pub fn encode_event(event: u8, end: bool, volume: u8, duration: u16, out: &mut [u8; 4]) {
    out[0] = event;
    let end_bit = if end { END_BIT } else { 0 };
    out[1] = end_bit | volume.min(VOLUME_MASK);
    out[2..4].copy_from_slice(&duration.to_be_bytes());
}

/// The event currently (or last) being received, identified by the RTP
/// timestamp of its start, which every packet of the event repeats.
#[derive(Clone, Copy, Debug)]
struct Current {
    timestamp: u32,
    event: u8,
    ended: bool,
    duration: u32,
}

/// Turns telephone-event packets into one digit per key press.
#[derive(Debug, Default)]
pub struct Rfc4733Receiver {
    current: Option<Current>,
}

impl Rfc4733Receiver {
    /// Receiver with no event seen yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets the current event; call on SSRC change.
    pub fn reset(&mut self) {
        self.current = None;
    }

    /// Feeds one telephone-event packet. Returns the key on the first packet
    /// seen of a new event (so barge-in is immediate), `None` otherwise.
    ///
    /// Events are told apart by RTP timestamp rather than by the marker bit
    /// or E bit, because any of those packets may be lost or reordered; the
    /// marker only tells a fresh press from the next segment of a press
    /// longer than 0xFFFF ticks. Only the first 4-byte block is read;
    /// redundant blocks that may follow describe older events.
    pub fn on_packet(&mut self, rtp_timestamp: u32, marker: bool, payload: &[u8]) -> Option<char> {
        let [event, flags, d0, d1, ..] = *payload else {
            return None;
        };
        let end = flags & END_BIT != 0;
        let duration = u32::from(u16::from_be_bytes([d0, d1]));

        if let Some(cur) = self.current.as_mut() {
            if rtp_timestamp == cur.timestamp {
                // Update, retransmission or end of the event already reported.
                cur.ended |= end;
                cur.duration = cur.duration.max(duration);
                return None;
            }
            let behind = cur.timestamp.wrapping_sub(rtp_timestamp);
            // A marked start of another key after the current one ended is a new press even
            // if its timestamp is lower: replayed captures (SIPp's pcaps) keep the timestamps
            // they were recorded with, and senders restart their clock on a new SSRC.
            let new_press = marker && cur.ended && event != cur.event;
            if behind <= MAX_LATE && !new_press {
                // Late packet of an older event (wrapping arithmetic keeps
                // this right across the 32-bit timestamp wrap).
                return None;
            }
            let ahead = rtp_timestamp.wrapping_sub(cur.timestamp);
            let contiguous = ahead == MAX_SEGMENT || ahead == cur.duration;
            if !marker && !cur.ended && event == cur.event && contiguous {
                // Next segment of a key held longer than one segment.
                *cur = Current {
                    timestamp: rtp_timestamp,
                    event,
                    ended: end,
                    duration,
                };
                return None;
            }
        }

        self.current = Some(Current {
            timestamp: rtp_timestamp,
            event,
            ended: end,
            duration,
        });
        event_to_char(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replayed_capture_with_an_older_timestamp_is_a_new_press() {
        let mut r = Rfc4733Receiver::new();
        let mut got = Vec::new();
        for (ts, marker, b) in press(2, 23_200, 5).into_iter().chain(press(1, 13_280, 5)) {
            if let Some(d) = r.on_packet(ts, marker, &b) {
                got.push(d);
            }
        }
        assert_eq!(got, vec!['2', '1']);
    }

    fn block(event: u8, end: bool, duration: u16) -> [u8; 4] {
        let mut out = [0u8; 4];
        encode_event(event, end, 10, duration, &mut out);
        out
    }

    /// RFC 4733 §2.3 sender behaviour: marker on the first packet, growing
    /// duration every 20 ms, E bit on the last three (same duration).
    fn press(event: u8, ts: u32, updates: u16) -> Vec<(u32, bool, [u8; 4])> {
        let mut packets: Vec<_> = (1..=updates)
            .map(|i| (ts, i == 1, block(event, false, i * 160)))
            .collect();
        for _ in 0..3 {
            packets.push((ts, false, block(event, true, (updates + 1) * 160)));
        }
        packets
    }

    fn feed(rx: &mut Rfc4733Receiver, packets: &[(u32, bool, [u8; 4])]) -> String {
        packets
            .iter()
            .filter_map(|(ts, m, p)| rx.on_packet(*ts, *m, p))
            .collect()
    }

    #[test]
    fn standard_sequence_gives_one_digit_on_first_packet() {
        let mut rx = Rfc4733Receiver::new();
        let packets = press(5, 1000, 6);
        assert_eq!(
            rx.on_packet(packets[0].0, packets[0].1, &packets[0].2),
            Some('5')
        );
        assert_eq!(feed(&mut rx, &packets[1..]), "");
    }

    #[test]
    fn retransmissions_are_ignored() {
        let mut rx = Rfc4733Receiver::new();
        let packets: Vec<_> = press(9, 4242, 4).into_iter().flat_map(|p| [p, p]).collect();
        assert_eq!(feed(&mut rx, &packets), "9");
    }

    #[test]
    fn lost_first_packet_still_reported_once() {
        let mut rx = Rfc4733Receiver::new();
        let packets = press(11, 8000, 5);
        assert_eq!(feed(&mut rx, &packets[2..]), "#");
        // Even only the end packets: still one digit.
        let mut rx = Rfc4733Receiver::new();
        assert_eq!(feed(&mut rx, &packets[5..]), "#");
    }

    #[test]
    fn same_digit_twice_counts_twice() {
        let mut rx = Rfc4733Receiver::new();
        let mut packets = press(7, 1000, 5);
        packets.extend(press(7, 2600, 5));
        assert_eq!(feed(&mut rx, &packets), "77");
    }

    #[test]
    fn late_packets_of_previous_event_are_ignored() {
        let mut rx = Rfc4733Receiver::new();
        let first = press(1, 1000, 5);
        let second = press(2, 2760, 5);
        let mut packets = first[..5].to_vec();
        packets.push(second[0]);
        // Reordered: the end packets of '1' arrive after '2' started.
        packets.extend_from_slice(&first[5..]);
        packets.extend_from_slice(&second[1..]);
        packets.push(first[7]);
        assert_eq!(feed(&mut rx, &packets), "12");
    }

    #[test]
    fn timestamp_wraparound() {
        let mut rx = Rfc4733Receiver::new();
        let before = press(3, u32::MAX - 500, 4);
        let after = press(4, 700, 4);
        let mut packets = before.clone();
        packets.extend_from_slice(&after[..2]);
        packets.push(before[6]);
        packets.extend_from_slice(&after[2..]);
        assert_eq!(feed(&mut rx, &packets), "34");
    }

    #[test]
    fn large_backward_jump_is_a_new_stream_not_a_late_packet() {
        let mut rx = Rfc4733Receiver::new();
        let mut packets = press(6, 3_000_000, 3);
        packets.extend(press(6, 1_000, 3));
        assert_eq!(feed(&mut rx, &packets), "66");
    }

    #[test]
    fn long_press_split_into_segments_is_one_digit() {
        let mut rx = Rfc4733Receiver::new();
        let ts = 50_000u32;
        let mut packets = vec![
            (ts, true, block(0, false, 160)),
            (ts, false, block(0, false, 0xFFFF)),
        ];
        let next = ts + MAX_SEGMENT;
        packets.push((next, false, block(0, false, 160)));
        packets.push((next, false, block(0, true, 4000)));
        assert_eq!(feed(&mut rx, &packets), "0");
        // A fresh press (marker set) right after is a new digit.
        assert_eq!(feed(&mut rx, &press(0, next + 8000, 3)), "0");
    }

    #[test]
    fn malformed_and_non_digit_payloads() {
        let mut rx = Rfc4733Receiver::new();
        assert_eq!(rx.on_packet(1, true, &[]), None);
        assert_eq!(rx.on_packet(1, true, &[5, 0, 1]), None);
        // Flash (16) is a valid event but not a digit, and is not re-read.
        assert_eq!(feed(&mut rx, &press(16, 100, 3)), "");
        // The short packets above did not poison the state.
        assert_eq!(rx.on_packet(5_000, true, &block(5, false, 160)), Some('5'));
    }

    #[test]
    fn only_first_block_is_read() {
        let mut rx = Rfc4733Receiver::new();
        let mut payload = [0u8; 8];
        payload[..4].copy_from_slice(&block(12, false, 320));
        payload[4..].copy_from_slice(&block(3, true, 800));
        assert_eq!(rx.on_packet(9000, false, &payload), Some('A'));
    }

    #[test]
    fn reset_forgets_the_current_event() {
        let mut rx = Rfc4733Receiver::new();
        let p = block(8, false, 160);
        assert_eq!(rx.on_packet(10, true, &p), Some('8'));
        rx.reset();
        assert_eq!(rx.on_packet(10, true, &p), Some('8'));
    }

    #[test]
    fn char_mapping_round_trips() {
        let keys = "0123456789*#ABCD";
        for (code, key) in keys.chars().enumerate() {
            assert_eq!(event_to_char(code as u8), Some(key));
            assert_eq!(char_to_event(key), Some(code as u8));
        }
        assert_eq!(char_to_event('b'), Some(13));
        assert_eq!(event_to_char(16), None);
        assert_eq!(event_to_char(255), None);
        assert_eq!(char_to_event('E'), None);
        assert_eq!(char_to_event('x'), None);
    }

    #[test]
    fn encoder_layout() {
        let mut out = [0u8; 4];
        encode_event(11, true, 10, 0x1234, &mut out);
        assert_eq!(out, [11, 0x8A, 0x12, 0x34]);
        encode_event(1, false, 200, 160, &mut out);
        assert_eq!(out, [1, 0x3F, 0x00, 0xA0]);
    }
}
