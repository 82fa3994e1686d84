//! SRTCP (RFC 3711 §3.4) for SIP legs keyed with SDES: the RTCP of an SRTP leg, from the same
//! master key (session keys derived with labels 3, 4 and 5). The compound packet's first
//! eight bytes (header and sender SSRC) stay clear; the rest is AES counter-mode encrypted;
//! the E flag and a 31-bit SRTCP index follow, then an 80-bit HMAC-SHA1 tag over all of it
//! (80 bits for both SDES suites: RFC 4568 §6.2.1). On receive: tag first, then a 64-packet
//! replay window on the index, then decryption.
//!
//! Owns: the RTCP packet transform. Never does: I/O, building or reading RTCP (`rtcp`), key
//! exchange, logging key material.

use aws_lc_rs::cipher::EncryptingKey;
use aws_lc_rs::hmac;

use super::srtp::{ct_eq, ctr, session_keys, SrtpError, SrtpKey};

/// SRTCP's authentication tag, whatever the suite.
pub const TAG_LEN: usize = 10;
/// The E flag and SRTCP index, then the tag: what protection adds to a packet.
pub const OVERHEAD: usize = 4 + TAG_LEN;
/// The SRTCP index is 31 bits.
const INDEX_MASK: u32 = 0x7fff_ffff;

/// One direction's SRTCP: ours to protect, or the peer's to unprotect.
pub struct SrtcpContext {
    cipher: EncryptingKey,
    auth: hmac::Key,
    salt: [u8; 14],
    /// The index of the next packet we send.
    next: u32,
    /// Highest index received, and the replay window below it (bit i: highest − i seen).
    highest: Option<u32>,
    window: u64,
}

impl std::fmt::Debug for SrtcpContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SrtcpContext")
    }
}

impl SrtcpContext {
    pub fn new(key: &SrtpKey) -> Result<SrtcpContext, SrtpError> {
        let (cipher, auth, salt) = session_keys(key, 3)?;
        Ok(SrtcpContext {
            cipher,
            auth,
            salt,
            next: 0,
            highest: None,
            window: 0,
        })
    }

    /// RFC 3711 §4.1.1's counter for `ssrc` and SRTCP `index`.
    fn iv(&self, ssrc: u32, index: u32) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv[..14].copy_from_slice(&self.salt);
        for (i, b) in ssrc.to_be_bytes().iter().enumerate() {
            iv[4 + i] ^= b;
        }
        for (i, b) in index.to_be_bytes().iter().enumerate() {
            iv[10 + i] ^= b;
        }
        iv
    }

    /// Encrypt and authenticate the RTCP compound packet in `buf[..len]` in place; the new
    /// length. `buf` must have `OVERHEAD` bytes of room after it.
    pub fn protect(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        if len < 8 || buf.len() < len + OVERHEAD {
            return Err(SrtpError::Short);
        }
        let index = self.next;
        self.next = (self.next + 1) & INDEX_MASK;
        let ssrc = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        let iv = self.iv(ssrc, index);
        ctr(&self.cipher, iv, &mut buf[8..len])?;
        buf[len..len + 4].copy_from_slice(&(index | 0x8000_0000).to_be_bytes());
        let tag = hmac::sign(&self.auth, &buf[..len + 4]);
        buf[len + 4..len + OVERHEAD].copy_from_slice(&tag.as_ref()[..TAG_LEN]);
        Ok(len + OVERHEAD)
    }

    /// Check and decrypt the SRTCP packet in `buf` in place; the RTCP packet's length.
    pub fn unprotect(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        if buf.len() < 8 + OVERHEAD {
            return Err(SrtpError::Short);
        }
        let len = buf.len() - OVERHEAD;
        let tail = &buf[len..len + 4];
        let word = u32::from_be_bytes([tail[0], tail[1], tail[2], tail[3]]);
        let (encrypted, index) = (word & 0x8000_0000 != 0, word & INDEX_MASK);
        let expected = hmac::sign(&self.auth, &buf[..len + 4]);
        if !ct_eq(&expected.as_ref()[..TAG_LEN], &buf[len + 4..]) {
            return Err(SrtpError::Auth);
        }
        if let Some(h) = self.highest {
            if index <= h {
                let age = h - index;
                if age >= 64 || self.window & (1 << age) != 0 {
                    return Err(SrtpError::Replay);
                }
            }
        }
        if encrypted {
            let ssrc = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
            let iv = self.iv(ssrc, index);
            ctr(&self.cipher, iv, &mut buf[8..len])?;
        }
        match self.highest {
            Some(h) if index <= h => self.window |= 1 << (h - index),
            Some(h) => {
                let shift = index - h;
                self.window = if shift >= 64 { 0 } else { self.window << shift };
                self.window |= 1;
                self.highest = Some(index);
            }
            None => {
                self.window = 1;
                self.highest = Some(index);
            }
        }
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::srtp::{Suite, MASTER_LEN};

    fn pair() -> (SrtcpContext, SrtcpContext) {
        let mut master = [0u8; MASTER_LEN];
        for (i, b) in master.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(11).wrapping_add(3);
        }
        let key = SrtpKey {
            suite: Suite::AesCm128HmacSha1_32,
            master,
        };
        (
            SrtcpContext::new(&key).unwrap(),
            SrtcpContext::new(&key).unwrap(),
        )
    }

    /// A receiver report (RFC 3550 §6.4.2) with one report block, and an SDES CNAME.
    fn report() -> Vec<u8> {
        let mut p = vec![0x81, 201, 0, 7, 0xca, 0xfe, 0xba, 0xbe];
        p.extend_from_slice(&[0x11; 24]);
        p.extend_from_slice(&[0x81, 202, 0, 3, 0xca, 0xfe, 0xba, 0xbe, 1, 4]);
        p.extend_from_slice(b"abcd\0\0");
        p
    }

    #[test]
    fn reports_round_trip_and_forged_or_replayed_ones_are_refused() {
        let (mut ours, mut theirs) = pair();
        let clear = report();
        let mut sent = Vec::new();
        for _ in 0..3 {
            let mut buf = clear.clone();
            buf.resize(clear.len() + OVERHEAD, 0);
            let n = ours.protect(&mut buf, clear.len()).unwrap();
            assert_eq!(n, clear.len() + OVERHEAD);
            assert_eq!(buf[..8], clear[..8], "header and sender SSRC stay clear");
            assert_ne!(buf[8..clear.len()], clear[8..], "the rest is encrypted");
            assert!(buf[clear.len()] & 0x80 != 0, "E flag");
            sent.push(buf);
        }
        // Out of order is fine; each once.
        for i in [1usize, 0, 2] {
            let mut b = sent[i].clone();
            let n = theirs.unprotect(&mut b).unwrap();
            assert_eq!(b[..n], clear[..]);
        }
        let mut again = sent[1].clone();
        assert!(matches!(
            theirs.unprotect(&mut again),
            Err(SrtpError::Replay)
        ));
        // One bit changed anywhere: refused before anything is decrypted.
        for pos in [0, 9, clear.len() + 1, clear.len() + OVERHEAD - 1] {
            let mut b = sent[2].clone();
            b[pos] ^= 0x04;
            assert!(
                matches!(theirs.unprotect(&mut b), Err(SrtpError::Auth)),
                "{pos}"
            );
        }
        let mut short = vec![0u8; 8 + OVERHEAD - 1];
        assert!(matches!(
            theirs.unprotect(&mut short),
            Err(SrtpError::Short)
        ));
        // Clear RTCP on an SRTCP leg does not authenticate.
        let mut clear_rr = clear.clone();
        assert!(theirs.unprotect(&mut clear_rr).is_err());
    }
}
