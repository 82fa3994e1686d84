//! SRTP for SIP legs keyed with SDES (RFC 3711, keys from `a=crypto`, RFC 4568):
//! AES_CM_128_HMAC_SHA1_80 and _32 — session-key derivation from the master key and salt,
//! AES counter-mode encryption of the payload, HMAC-SHA1 authentication over the packet and
//! its rollover counter, rollover-counter estimation and a 64-packet replay window on receive.
//!
//! Owns: the packet transform. Never does: I/O, key exchange (SDP carries the keys), logging
//! key material (`Debug` of a context prints the suite only). RTCP's transform (SRTCP) is
//! `srtcp`, from the same master key.

use aws_lc_rs::cipher::{EncryptingKey, EncryptionContext, UnboundCipherKey, AES_128};
use aws_lc_rs::hmac;

/// Whether a leg over TLS uses SRTP: `mandatory` (RTP/SAVP: a peer that answers in clear is
/// refused), `optional` (keys offered in RTP/AVP; a clear answer is accepted) or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SrtpPolicy {
    Mandatory,
    Optional,
    Off,
}

impl SrtpPolicy {
    pub fn name(self) -> &'static str {
        match self {
            SrtpPolicy::Mandatory => "mandatory",
            SrtpPolicy::Optional => "optional",
            SrtpPolicy::Off => "off",
        }
    }

    /// From its name; None for anything else (`default`).
    pub fn parse(s: &str) -> Option<SrtpPolicy> {
        match s {
            "mandatory" => Some(SrtpPolicy::Mandatory),
            "optional" => Some(SrtpPolicy::Optional),
            "off" => Some(SrtpPolicy::Off),
            _ => None,
        }
    }

    /// What an outbound leg over TLS offers (see `sip::uac::Originate::srtp`).
    pub fn offer(self) -> Option<bool> {
        match self {
            SrtpPolicy::Mandatory => Some(true),
            SrtpPolicy::Optional => Some(false),
            SrtpPolicy::Off => None,
        }
    }
}

/// Master key (16) and master salt (14), as `inline:` carries them.
pub const MASTER_LEN: usize = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    AesCm128HmacSha1_80,
    AesCm128HmacSha1_32,
}

impl Suite {
    pub fn name(self) -> &'static str {
        match self {
            Suite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Suite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
        }
    }

    pub fn parse(s: &str) -> Option<Suite> {
        match s {
            "AES_CM_128_HMAC_SHA1_80" => Some(Suite::AesCm128HmacSha1_80),
            "AES_CM_128_HMAC_SHA1_32" => Some(Suite::AesCm128HmacSha1_32),
            _ => None,
        }
    }

    pub fn tag_len(self) -> usize {
        match self {
            Suite::AesCm128HmacSha1_80 => 10,
            Suite::AesCm128HmacSha1_32 => 4,
        }
    }
}

/// Keys for one direction of a leg (copied around with the media parameters).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SrtpKey {
    pub suite: Suite,
    pub master: [u8; MASTER_LEN],
}

impl std::fmt::Debug for SrtpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SrtpKey({})", self.suite.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SrtpError {
    #[error("packet too short")]
    Short,
    #[error("authentication failed")]
    Auth,
    #[error("replayed packet")]
    Replay,
    #[error("crypto failure")]
    Crypto,
}

/// One direction's session: ours to protect, or the peer's to unprotect.
pub struct SrtpContext {
    suite: Suite,
    cipher: EncryptingKey,
    auth: hmac::Key,
    salt: [u8; 14],
    /// Rollover counter and the highest sequence number seen (or sent).
    roc: u32,
    s_l: Option<u16>,
    /// Replay window: bit i set = index (highest - i) was received.
    window: u64,
}

impl std::fmt::Debug for SrtpContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SrtpContext({})", self.suite.name())
    }
}

/// AES-128 in counter mode over `data` with the 16-byte initial counter `iv`.
pub(super) fn ctr(key: &EncryptingKey, iv: [u8; 16], data: &mut [u8]) -> Result<(), SrtpError> {
    key.less_safe_encrypt(data, EncryptionContext::Iv128(iv.into()))
        .map(|_| ())
        .map_err(|_| SrtpError::Crypto)
}

fn aes_key(key: &[u8]) -> Result<EncryptingKey, SrtpError> {
    let k = UnboundCipherKey::new(&AES_128, key).map_err(|_| SrtpError::Crypto)?;
    EncryptingKey::ctr(k).map_err(|_| SrtpError::Crypto)
}

/// RFC 3711 §4.3.1 with key_derivation_rate 0: AES-CM(master key) over (label ‖ 0⁴⁸) XOR salt.
fn derive(
    master: &EncryptingKey,
    salt: &[u8; 14],
    label: u8,
    out: &mut [u8],
) -> Result<(), SrtpError> {
    let mut iv = [0u8; 16];
    iv[..14].copy_from_slice(salt);
    iv[7] ^= label;
    out.fill(0);
    ctr(master, iv, out)
}

/// The session keys of one stream from the master key (RFC 3711 §4.3): cipher, authentication
/// and salt, with labels `first`, `first + 1`, `first + 2` (0 for SRTP, 3 for SRTCP).
pub(super) fn session_keys(
    key: &SrtpKey,
    first: u8,
) -> Result<(EncryptingKey, hmac::Key, [u8; 14]), SrtpError> {
    let master = aes_key(&key.master[..16])?;
    let mut msalt = [0u8; 14];
    msalt.copy_from_slice(&key.master[16..]);
    let mut k = [0u8; 16];
    let mut a = [0u8; 20];
    let mut s = [0u8; 14];
    derive(&master, &msalt, first, &mut k)?;
    derive(&master, &msalt, first + 1, &mut a)?;
    derive(&master, &msalt, first + 2, &mut s)?;
    let auth = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &a);
    Ok((aes_key(&k)?, auth, s))
}

/// Length of the RTP header (fixed part, CSRCs, extension).
fn header_len(pkt: &[u8]) -> Option<usize> {
    if pkt.len() < 12 || pkt[0] >> 6 != 2 {
        return None;
    }
    let cc = usize::from(pkt[0] & 0x0f);
    let mut len = 12 + 4 * cc;
    if pkt[0] & 0x10 != 0 {
        let ext = pkt.get(len + 2..len + 4)?;
        len += 4 + 4 * usize::from(u16::from_be_bytes([ext[0], ext[1]]));
    }
    (len <= pkt.len()).then_some(len)
}

impl SrtpContext {
    pub fn new(key: &SrtpKey) -> Result<SrtpContext, SrtpError> {
        let (cipher, auth, salt) = session_keys(key, 0)?;
        Ok(SrtpContext {
            suite: key.suite,
            cipher,
            auth,
            salt,
            roc: 0,
            s_l: None,
            window: 0,
        })
    }

    fn iv(&self, ssrc: u32, index: u64) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv[..14].copy_from_slice(&self.salt);
        for (i, b) in ssrc.to_be_bytes().iter().enumerate() {
            iv[4 + i] ^= b;
        }
        for (i, b) in index.to_be_bytes()[2..].iter().enumerate() {
            iv[8 + i] ^= b;
        }
        iv
    }

    fn tag(&self, authenticated: &[u8], roc: u32) -> hmac::Tag {
        let mut c = hmac::Context::with_key(&self.auth);
        c.update(authenticated);
        c.update(&roc.to_be_bytes());
        c.sign()
    }

    /// Encrypt and authenticate the RTP packet in `buf[..len]` in place; the new length (the
    /// tag appended). `buf` must have room for the tag.
    pub fn protect(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let hl = header_len(&buf[..len]).ok_or(SrtpError::Short)?;
        let tag_len = self.suite.tag_len();
        if buf.len() < len + tag_len {
            return Err(SrtpError::Short);
        }
        let seq = u16::from_be_bytes([buf[2], buf[3]]);
        let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
        // Our own numbering: a wrap of the sequence number moves the rollover counter.
        if let Some(last) = self.s_l {
            if seq < last && last - seq > 0x8000 {
                self.roc = self.roc.wrapping_add(1);
            }
        }
        if self.s_l.is_none_or(|last| seq.wrapping_sub(last) < 0x8000) {
            self.s_l = Some(seq);
        }
        let index = (u64::from(self.roc) << 16) | u64::from(seq);
        let iv = self.iv(ssrc, index);
        ctr(&self.cipher, iv, &mut buf[hl..len])?;
        let tag = self.tag(&buf[..len], self.roc);
        buf[len..len + tag_len].copy_from_slice(&tag.as_ref()[..tag_len]);
        Ok(len + tag_len)
    }

    /// Check and decrypt the SRTP packet in `buf` in place; the RTP packet's length.
    pub fn unprotect(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        let tag_len = self.suite.tag_len();
        if buf.len() < 12 + tag_len {
            return Err(SrtpError::Short);
        }
        let len = buf.len() - tag_len;
        let hl = header_len(&buf[..len]).ok_or(SrtpError::Short)?;
        let seq = u16::from_be_bytes([buf[2], buf[3]]);
        let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
        // RFC 3711 Appendix A: the rollover counter this packet most likely used.
        let v = match self.s_l {
            None => self.roc,
            Some(s_l) if s_l < 0x8000 => {
                if seq > s_l && seq - s_l > 0x8000 {
                    self.roc.wrapping_sub(1)
                } else {
                    self.roc
                }
            }
            Some(s_l) => {
                if s_l - 0x8000 > seq {
                    self.roc.wrapping_add(1)
                } else {
                    self.roc
                }
            }
        };
        let index = (u64::from(v) << 16) | u64::from(seq);
        let highest = self.s_l.map(|s| (u64::from(self.roc) << 16) | u64::from(s));
        if let Some(h) = highest {
            if index <= h {
                let age = h - index;
                if age >= 64 || self.window & (1 << age) != 0 {
                    return Err(SrtpError::Replay);
                }
            }
        }
        let expected = self.tag(&buf[..len], v);
        let got = &buf[len..];
        if !ct_eq(&expected.as_ref()[..tag_len], got) {
            return Err(SrtpError::Auth);
        }
        let iv = self.iv(ssrc, index);
        ctr(&self.cipher, iv, &mut buf[hl..len])?;
        // Accepted: move the window.
        match highest {
            Some(h) if index <= h => self.window |= 1 << (h - index),
            Some(h) => {
                let shift = index - h;
                self.window = if shift >= 64 { 0 } else { self.window << shift };
                self.window |= 1;
                self.roc = v;
                self.s_l = Some(seq);
            }
            None => {
                self.window = 1;
                self.roc = v;
                self.s_l = Some(seq);
            }
        }
        Ok(len)
    }
}

/// Constant-time comparison of two tags.
pub(super) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `inline:` key material: base64 of master key ‖ master salt.
pub fn decode_inline(b64: &str) -> Option<[u8; MASTER_LEN]> {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    raw.try_into().ok()
}

pub fn encode_inline(master: &[u8; MASTER_LEN]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(master)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    #[test]
    fn rfc3711_key_derivation_vectors() {
        // RFC 3711 Appendix B.3.
        let master = aes_key(&unhex("E1F97A0D3E018BE0D64FA32C06DE4139")).unwrap();
        let salt: [u8; 14] = unhex("0EC675AD498AFEEBB6960B3AABE6").try_into().unwrap();
        let mut k = [0u8; 16];
        derive(&master, &salt, 0, &mut k).unwrap();
        assert_eq!(k.to_vec(), unhex("C61E7A93744F39EE10734AFE3FF7A087"));
        let mut s = [0u8; 14];
        derive(&master, &salt, 2, &mut s).unwrap();
        assert_eq!(s.to_vec(), unhex("30CBBC08863D8C85D49DB34A9AE1"));
        let mut a = [0u8; 20];
        derive(&master, &salt, 1, &mut a).unwrap();
        assert_eq!(
            a.to_vec(),
            unhex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4")
        );
    }

    fn packet(seq: u16, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 160, 0xde, 0xad, 0xbe, 0xef];
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    fn pair(suite: Suite) -> (SrtpContext, SrtpContext) {
        let mut master = [0u8; MASTER_LEN];
        for (i, b) in master.iter_mut().enumerate() {
            *b = i as u8 * 7 + 1;
        }
        let key = SrtpKey { suite, master };
        (
            SrtpContext::new(&key).unwrap(),
            SrtpContext::new(&key).unwrap(),
        )
    }

    #[test]
    fn round_trip_through_a_sequence_wrap_with_tamper_and_replay_refused() {
        for suite in [Suite::AesCm128HmacSha1_80, Suite::AesCm128HmacSha1_32] {
            let (mut tx, mut rx) = pair(suite);
            let voice = [0x55u8; 160];
            for seq in (65_500u16..=65_535).chain(0..40) {
                let mut buf = packet(seq, &voice);
                let len = buf.len();
                buf.resize(len + 16, 0);
                let n = tx.protect(&mut buf, len).unwrap();
                assert_eq!(n, len + suite.tag_len());
                assert_ne!(&buf[12..len], &voice[..], "payload encrypted");
                let mut wire = buf[..n].to_vec();
                let m = rx.unprotect(&mut wire).unwrap();
                assert_eq!(&wire[..m], &packet(seq, &voice)[..], "seq {seq}");
                if seq == 10 {
                    let mut again = buf[..n].to_vec();
                    assert_eq!(rx.unprotect(&mut again), Err(SrtpError::Replay));
                    let mut bad = buf[..n].to_vec();
                    bad[20] ^= 1;
                    // A changed byte fails authentication (checked before the replay bit
                    // could be set by it).
                    bad[3] = bad[3].wrapping_add(1);
                    assert!(rx.unprotect(&mut bad).is_err());
                }
            }
            assert_eq!(tx.roc, 1);
            assert_eq!(rx.roc, 1);
        }
    }

    #[test]
    fn inline_keys_round_trip_and_bad_ones_are_refused() {
        let m = [9u8; MASTER_LEN];
        assert_eq!(decode_inline(&encode_inline(&m)), Some(m));
        assert_eq!(decode_inline("c2hvcnQ="), None);
        assert_eq!(decode_inline("not base64!"), None);
        assert!(format!(
            "{:?}",
            SrtpKey {
                suite: Suite::AesCm128HmacSha1_80,
                master: m
            }
        )
        .contains("AES_CM"));
    }
}
