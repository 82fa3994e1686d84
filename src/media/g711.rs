//! G.711 µ-law (PCMU) and A-law (PCMA) sample conversion, bit-exact with
//! the ITU-T G.191 reference implementation.
//!
//! Owns only the per-sample companding maths and the slice helpers used per
//! RTP packet. No I/O, no allocation, no RTP framing and no resampling here:
//! callers hand in 8 kHz linear 16-bit PCM or G.711 bytes.

/// Companding law of a G.711 stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Law {
    /// µ-law, RTP static payload type 0 ("PCMU"), used in North America.
    Ulaw,
    /// A-law, RTP static payload type 8 ("PCMA"), used in Europe.
    Alaw,
}

impl Law {
    /// Static RTP payload type (RFC 3551).
    pub fn payload_type(self) -> u8 {
        match self {
            Law::Ulaw => 0,
            Law::Alaw => 8,
        }
    }

    /// SDP `a=rtpmap` encoding name.
    pub fn encoding_name(self) -> &'static str {
        match self {
            Law::Ulaw => "PCMU",
            Law::Alaw => "PCMA",
        }
    }

    /// Encodes `min(pcm.len(), out.len())` samples.
    pub fn encode(self, pcm: &[i16], out: &mut [u8]) {
        // Match once outside the loop so each arm is a tight, inlinable loop.
        match self {
            Law::Ulaw => {
                for (o, &s) in out.iter_mut().zip(pcm) {
                    *o = ulaw_encode(s);
                }
            }
            Law::Alaw => {
                for (o, &s) in out.iter_mut().zip(pcm) {
                    *o = alaw_encode(s);
                }
            }
        }
    }

    /// Decodes `min(g711.len(), out.len())` samples.
    pub fn decode(self, g711: &[u8], out: &mut [i16]) {
        let table = match self {
            Law::Ulaw => &ULAW_TO_LINEAR,
            Law::Alaw => &ALAW_TO_LINEAR,
        };
        for (o, &c) in out.iter_mut().zip(g711) {
            *o = table[usize::from(c)];
        }
    }

    /// Code word that decodes to (near) zero, for comfort/silence fill.
    pub fn silence(self) -> u8 {
        match self {
            Law::Ulaw => 0xFF,
            Law::Alaw => 0xD5,
        }
    }
}

/// Upper bound (inclusive) of each µ-law segment, on the biased 14-bit
/// magnitude.
const ULAW_SEG_END: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];
/// Upper bound (inclusive) of each A-law segment, on the 12-bit magnitude.
const ALAW_SEG_END: [i32; 8] = [0x0F, 0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF];
/// µ-law bias (33) in 14-bit units; makes the segments exactly doubling.
const ULAW_BIAS: i32 = 33;

/// Encodes one 16-bit sample to µ-law.
pub fn ulaw_encode(pcm: i16) -> u8 {
    // G.191 uses the ones' complement for negatives (so -1 maps like 0) and
    // only the 14 most significant bits.
    let (magnitude, sign) = if pcm < 0 {
        (i32::from(!pcm) >> 2, 0x00)
    } else {
        (i32::from(pcm) >> 2, 0x80)
    };
    let biased = (magnitude + ULAW_BIAS).min(0x1FFF);
    let mut seg = 0;
    while seg < 7 && biased > ULAW_SEG_END[seg] {
        seg += 1;
    }
    let mantissa = (biased >> (seg + 1)) & 0x0F;
    // µ-law transmits the inverted code word.
    let code = ((seg as i32) << 4) | mantissa;
    (!code as u8 & 0x7F) | sign
}

/// Encodes one 16-bit sample to A-law.
pub fn alaw_encode(pcm: i16) -> u8 {
    // A-law keeps 13 bits (sign + 12-bit magnitude), ones' complement too.
    let (magnitude, sign) = if pcm < 0 {
        (i32::from(!pcm) >> 4, 0x00)
    } else {
        (i32::from(pcm) >> 4, 0x80)
    };
    let mut seg = 0;
    while seg < 7 && magnitude > ALAW_SEG_END[seg] {
        seg += 1;
    }
    // Segments 0 and 1 share the same step size, hence the `seg - 1`.
    let mantissa = if seg == 0 {
        magnitude & 0x0F
    } else {
        (magnitude >> (seg - 1)) & 0x0F
    };
    let code = ((seg as i32) << 4) | mantissa;
    // Even bits are inverted on the wire (historically for line ones-density).
    (code as u8 | sign) ^ 0x55
}

/// Decodes one µ-law code word to 16-bit linear PCM.
pub fn ulaw_decode(code: u8) -> i16 {
    ULAW_TO_LINEAR[usize::from(code)]
}

/// Decodes one A-law code word to 16-bit linear PCM.
pub fn alaw_decode(code: u8) -> i16 {
    ALAW_TO_LINEAR[usize::from(code)]
}

const ULAW_TO_LINEAR: [i16; 256] = build_table(Law::Ulaw);
const ALAW_TO_LINEAR: [i16; 256] = build_table(Law::Alaw);

/// Runs at compile time: the tables are baked into the binary.
const fn build_table(law: Law) -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = match law {
            Law::Ulaw => ulaw_expand(i as u8),
            Law::Alaw => alaw_expand(i as u8),
        };
        i += 1;
    }
    table
}

/// G.191 µ-law expansion: reconstruct the middle of the decision interval.
const fn ulaw_expand(code: u8) -> i16 {
    let u = !code;
    let exponent = ((u >> 4) & 0x07) as i32;
    let mantissa = (u & 0x0F) as i32;
    // 0x84 is the bias (33) scaled from 14-bit to 16-bit units.
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// G.191 A-law expansion: reconstruct the middle of the decision interval.
const fn alaw_expand(code: u8) -> i16 {
    let a = code ^ 0x55;
    let exponent = ((a >> 4) & 0x07) as i32;
    let mut mantissa = (a & 0x0F) as i32;
    if exponent > 0 {
        // Implicit leading one above segment 0.
        mantissa += 16;
    }
    let mut magnitude = (mantissa << 4) + 8;
    if exponent > 1 {
        magnitude <<= exponent - 1;
    }
    if a & 0x80 != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_values() {
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
        // Well-known entries of the classic ulaw2linear/alaw2linear tables.
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(ulaw_decode(0x01), -31100);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0x7F), 0);
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(alaw_decode(0x00), -5504);
        assert_eq!(alaw_decode(0x01), -5248);
        assert_eq!(alaw_decode(0x80), 5504);
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xAA), 32256);
        assert_eq!(alaw_decode(0x2A), -32256);
        // µ-law digital milliwatt (G.711 table 5): a 1 kHz sine at 0 dBm0.
        let dmw = [0x1E, 0x0B, 0x0B, 0x1E, 0x9E, 0x8B, 0x8B, 0x9E];
        let mut pcm = [0i16; 8];
        Law::Ulaw.decode(&dmw, &mut pcm);
        assert_eq!(
            pcm,
            [-8828, -20860, -20860, -8828, 8828, 20860, 20860, 8828]
        );
    }

    fn check_round_trip(encode: fn(i16) -> u8, decode: fn(u8) -> i16, max_level: i32) {
        let mut previous = i32::MIN;
        for x in i16::MIN..=i16::MAX {
            let x32 = i32::from(x);
            let y = i32::from(decode(encode(x)));
            // Half a quantisation step is |x|/32 at most (about 1/64 of the
            // segment span), plus the fixed step of the lowest segments.
            let bound = if x32.abs() <= max_level {
                8 + x32.abs() / 32
            } else {
                x32.abs() - max_level + 8
            };
            assert!((y - x32).abs() <= bound, "x={x} y={y} bound={bound}");
            assert!(y >= previous, "not monotonic at {x}");
            assert!(y == 0 || (y > 0) == (x32 >= 0), "sign flip at {x}");
            previous = y;
        }
    }

    #[test]
    fn ulaw_round_trip_whole_range() {
        check_round_trip(ulaw_encode, ulaw_decode, 32124);
    }

    #[test]
    fn alaw_round_trip_whole_range() {
        check_round_trip(alaw_encode, alaw_decode, 32256);
    }

    #[test]
    fn decode_encode_decode_is_stable_for_all_codes() {
        for c in 0..=255u8 {
            let u = ulaw_decode(c);
            assert_eq!(ulaw_decode(ulaw_encode(u)), u, "ulaw code {c:#04x}");
            let a = alaw_decode(c);
            assert_eq!(alaw_decode(alaw_encode(a)), a, "alaw code {c:#04x}");
            // Every code except µ-law's negative zero survives exactly.
            if c != 0x7F {
                assert_eq!(ulaw_encode(u), c);
            }
            assert_eq!(alaw_encode(a), c);
        }
    }

    #[test]
    fn law_metadata_and_silence() {
        assert_eq!(Law::Ulaw.payload_type(), 0);
        assert_eq!(Law::Alaw.payload_type(), 8);
        assert_eq!(Law::Ulaw.encoding_name(), "PCMU");
        assert_eq!(Law::Alaw.encoding_name(), "PCMA");
        assert_eq!(Law::Ulaw.silence(), ulaw_encode(0));
        assert_eq!(Law::Alaw.silence(), alaw_encode(0));
        assert!(alaw_decode(Law::Alaw.silence()).abs() <= 8);
        assert_eq!(ulaw_decode(Law::Ulaw.silence()), 0);
    }

    #[test]
    fn slice_helpers_process_the_shorter_length() {
        let pcm = [0i16, 1000, -1000, 32000, -32000];
        for law in [Law::Ulaw, Law::Alaw] {
            let mut coded = [0u8; 3];
            law.encode(&pcm, &mut coded);
            let mut back = [7i16; 5];
            law.decode(&coded, &mut back);
            for i in 0..3 {
                assert!((i32::from(back[i]) - i32::from(pcm[i])).abs() <= 40);
            }
            assert_eq!(&back[3..], &[7, 7], "{law:?} wrote past the input");
        }
    }
}
