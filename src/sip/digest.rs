//! Digest access authentication as a SIP registrar uses it (RFC 7616 and RFC 2617 as profiled by
//! RFC 3261 §22.4 and RFC 8760): parsing `Authorization: Digest …` credentials, HA1 and response
//! computation for MD5 and SHA-256, stateless nonces with `nc` replay tracking, and the
//! `WWW-Authenticate` challenges.
//!
//! Pure: no I/O, no clock reads (callers pass `Instant`s) and no logging, so nothing secret can
//! reach a log from here. Deciding what to answer (401, 403, throttling) is the registrar's job.
//! The `-sess` algorithms, `userhash=true` and `qop=auth-int` are rejected: SIP phones do not
//! need them, and `-sess` would tie HA1 to the nonce so we could no longer verify from stored HA1.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use md5::Md5;
use sha2::{Digest as _, Sha256};
use thiserror::Error;

/// How long a nonce we issued stays usable (RFC 7616 leaves it to the server).
pub const DEFAULT_NONCE_TTL: Duration = Duration::from_secs(5 * 60);

/// Longest Authorization value we parse; a real one is ~400 bytes.
const MAX_CREDENTIALS_LEN: usize = 4096;

/// Nonces whose highest `nc` we remember at once. Only authenticated requests add one, so
/// this bounds memory without letting an attacker evict entries.
const MAX_TRACKED_NONCES: usize = 4096;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Deserialize, serde::Serialize,
)]
pub enum Algorithm {
    #[serde(rename = "sha-256", alias = "SHA-256")]
    /// Listed first so that sorting puts the stronger one first (RFC 7616 §3.7).
    Sha256,
    #[serde(rename = "md5", alias = "MD5")]
    Md5,
}

impl Algorithm {
    /// The token used in `algorithm=`.
    pub fn token(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Md5 => "MD5",
        }
    }

    /// Length of a digest in lower-case hex.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Md5 => 32,
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Algorithm, DigestError> {
        if s.eq_ignore_ascii_case("MD5") {
            Ok(Algorithm::Md5)
        } else if s.eq_ignore_ascii_case("SHA-256") {
            Ok(Algorithm::Sha256)
        } else {
            Err(DigestError::UnsupportedAlgorithm(short(s)))
        }
    }

    /// Lower-case hex digest of `data`.
    pub fn hex(self, data: &[u8]) -> String {
        match self {
            Algorithm::Md5 => hex::encode(Md5::digest(data)),
            Algorithm::Sha256 => hex::encode(Sha256::digest(data)),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.token())
    }
}

/// Why an Authorization value was not usable. Messages never quote the `response` or
/// anything else a client may have put a secret into by mistake.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DigestError {
    #[error("not a Digest authorization")]
    NotDigest,
    #[error("credentials too long")]
    TooLong,
    #[error("malformed credentials: {0}")]
    Syntax(&'static str),
    #[error("missing parameter {0}")]
    Missing(&'static str),
    #[error("repeated parameter {0}")]
    Duplicate(String),
    #[error("unsupported algorithm {0}")]
    UnsupportedAlgorithm(String),
    #[error("unsupported qop {0}")]
    UnsupportedQop(String),
    #[error("userhash is not supported")]
    UserHash,
    #[error("nc is not 8 hex digits")]
    BadNc,
}

/// Parsed `Authorization: Digest` credentials (qop=auth only).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    /// As sent (hex; compared case-insensitively).
    pub response: String,
    pub algorithm: Algorithm,
    /// Nonce count; the hash covers the text as sent, kept in `nc_text`.
    pub nc: u32,
    nc_text: String,
    pub cnonce: String,
    pub opaque: Option<String>,
}

impl Credentials {
    /// The `nc` value exactly as the client wrote it (what the response hashes).
    pub fn nc_text(&self) -> &str {
        &self.nc_text
    }
}

// Hand-written so that a `{:?}` in a log line can never print the response.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("realm", &self.realm)
            .field("uri", &self.uri)
            .field("algorithm", &self.algorithm)
            .field("nc", &self.nc)
            .finish_non_exhaustive()
    }
}

/// Parse an `Authorization` (or `Proxy-Authorization`) value.
pub fn parse_credentials(value: &str) -> Result<Credentials, DigestError> {
    if value.len() > MAX_CREDENTIALS_LEN {
        return Err(DigestError::TooLong);
    }
    let value = value.trim_start();
    let scheme_end = value
        .find(|c: char| c.is_ascii_whitespace())
        .unwrap_or(value.len());
    if !value[..scheme_end].eq_ignore_ascii_case("Digest") {
        return Err(DigestError::NotDigest);
    }
    let params = parse_auth_params(&value[scheme_end..])?;
    let get = |name: &'static str| -> Option<String> {
        params
            .iter()
            .position(|(n, _)| n == name)
            .map(|i| params[i].1.clone())
    };
    let required = |v: Option<String>, name: &'static str| v.ok_or(DigestError::Missing(name));
    let username = required(get("username"), "username")?;
    if get("username*").is_some() || get("userhash").is_some_and(|v| v != "false") {
        return Err(DigestError::UserHash);
    }
    let realm = required(get("realm"), "realm")?;
    let nonce = required(get("nonce"), "nonce")?;
    let uri = required(get("uri"), "uri")?;
    let response = required(get("response"), "response")?;
    let algorithm = match get("algorithm") {
        Some(a) => Algorithm::parse(&a)?,
        // RFC 7616 §3.4: absent means MD5.
        None => Algorithm::Md5,
    };
    // Without qop there is no nc/cnonce and so no replay protection: refuse (RFC 7616 §3.4
    // makes qop mandatory; our challenges always offer it).
    let qop = required(get("qop"), "qop")?;
    if !qop.eq_ignore_ascii_case("auth") {
        return Err(DigestError::UnsupportedQop(short(&qop)));
    }
    let nc_text = required(get("nc"), "nc")?;
    if nc_text.len() != 8 || !nc_text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(DigestError::BadNc);
    }
    let nc = u32::from_str_radix(&nc_text, 16).map_err(|_| DigestError::BadNc)?;
    let cnonce = required(get("cnonce"), "cnonce")?;
    if cnonce.is_empty() {
        return Err(DigestError::Missing("cnonce"));
    }
    let opaque = get("opaque");
    Ok(Credentials {
        username,
        realm,
        nonce,
        uri,
        response,
        algorithm,
        nc,
        nc_text,
        cnonce,
        opaque,
    })
}

/// `auth-param *( "," auth-param )` with names lower-cased and quoted-strings unescaped.
/// Empty list elements and spaces around `=` and `,` are tolerated (RFC 7230 §7).
pub(crate) fn parse_auth_params(s: &str) -> Result<Vec<(String, String)>, DigestError> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out: Vec<(String, String)> = Vec::new();
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && matches!(b[*i], b' ' | b'\t' | b'\r' | b'\n') {
            *i += 1;
        }
    };
    loop {
        // Separators (and empty elements) before the next parameter.
        while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\r' | b'\n' | b',') {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let start = i;
        while i < b.len() && is_tchar(b[i]) {
            i += 1;
        }
        if i == start {
            return Err(DigestError::Syntax("expected a parameter name"));
        }
        let name = s[start..i].to_ascii_lowercase();
        skip_ws(&mut i);
        if i >= b.len() || b[i] != b'=' {
            return Err(DigestError::Syntax("expected '=' after a parameter name"));
        }
        i += 1;
        skip_ws(&mut i);
        let value = if i < b.len() && b[i] == b'"' {
            i += 1;
            let mut v = Vec::new();
            loop {
                match b.get(i) {
                    None => return Err(DigestError::Syntax("unterminated quoted string")),
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => {
                        let Some(&c) = b.get(i + 1) else {
                            return Err(DigestError::Syntax("unterminated quoted string"));
                        };
                        v.push(c);
                        i += 2;
                    }
                    Some(&c) => {
                        v.push(c);
                        i += 1;
                    }
                }
            }
            // The input is UTF-8 and escapes only drop ASCII backslashes, so this holds.
            String::from_utf8(v).map_err(|_| DigestError::Syntax("invalid UTF-8"))?
        } else {
            let vs = i;
            while i < b.len() && is_tchar(b[i]) {
                i += 1;
            }
            if i == vs {
                return Err(DigestError::Syntax("expected a value"));
            }
            s[vs..i].to_string()
        };
        if out.iter().any(|(n, _)| *n == name) {
            return Err(DigestError::Duplicate(short(&name)));
        }
        out.push((name, value));
        skip_ws(&mut i);
        if i < b.len() && b[i] != b',' {
            return Err(DigestError::Syntax("expected ',' between parameters"));
        }
    }
    Ok(out)
}

/// RFC 7230 token characters, plus '/' which some clients leave unquoted in `uri=`.
fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~/:@".contains(&c)
}

/// A client-supplied token shortened for error messages.
fn short(s: &str) -> String {
    s.chars()
        .take(32)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

/// HA1 = H(username ":" realm ":" password), lower-case hex.
pub fn ha1(algorithm: Algorithm, user: &str, realm: &str, password: &str) -> String {
    algorithm.hex(format!("{user}:{realm}:{password}").as_bytes())
}

/// The response a client knowing `ha1` must send for `method` (qop=auth, RFC 7616 §3.4.1).
pub fn expected_response(cred: &Credentials, method: &str, ha1: &str) -> String {
    response_for(
        cred.algorithm,
        ha1,
        method,
        &cred.uri,
        &cred.nonce,
        &cred.nc_text,
        &cred.cnonce,
    )
}

fn response_for(
    alg: Algorithm,
    ha1: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    nc: &str,
    cnonce: &str,
) -> String {
    let ha2 = alg.hex(format!("{method}:{uri}").as_bytes());
    alg.hex(format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}").as_bytes())
}

/// Whether the credentials' response matches `ha1`, compared in constant time.
pub fn verify(cred: &Credentials, method: &str, ha1: &str) -> bool {
    let expected = expected_response(cred, method, ha1);
    let got = cred.response.to_ascii_lowercase();
    ct_eq(expected.as_bytes(), got.as_bytes())
}

/// Constant-time equality (the length is not secret: it follows from the algorithm).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `Authorization` value a client would send (for tests, and for our own outbound
/// authentication to trunks later).
#[allow(clippy::too_many_arguments)]
pub fn client_authorization(
    algorithm: Algorithm,
    user: &str,
    realm: &str,
    password: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    nc: u32,
    cnonce: &str,
) -> String {
    let ha1 = ha1(algorithm, user, realm, password);
    let nc = format!("{nc:08x}");
    let response = response_for(algorithm, &ha1, method, uri, nonce, &nc, cnonce);
    format!(
        "Digest username={}, realm={}, nonce={}, uri={}, response=\"{response}\", \
         algorithm={algorithm}, qop=auth, nc={nc}, cnonce={}",
        quote(user),
        quote(realm),
        quote(nonce),
        quote(uri),
        quote(cnonce)
    )
}

/// A quoted-string with `"` and `\` escaped.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        // CR/LF would split the header: drop them.
        if c != '\r' && c != '\n' {
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// One `WWW-Authenticate` value per algorithm, all with the same nonce and qop="auth", in the
/// order given: the server's preference (RFC 7616 §3.7), configurable because some phones only
/// read the first and some reject a challenge naming an algorithm they lack.
pub fn challenge(realm: &str, nonce: &str, stale: bool, algorithms: &[Algorithm]) -> Vec<String> {
    let mut algs: Vec<Algorithm> = Vec::new();
    for a in algorithms {
        if !algs.contains(a) {
            algs.push(*a);
        }
    }
    algs.into_iter()
        .map(|a| {
            let stale = if stale { ", stale=true" } else { "" };
            format!(
                "Digest realm={}, nonce=\"{nonce}\", algorithm={a}, qop=\"auth\"{stale}",
                quote(realm)
            )
        })
        .collect()
}

/// What a nonce turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    Valid,
    /// Ours, but too old (or evicted from the nc table): the client should retry with a
    /// fresh one, `stale=true`.
    Stale,
    /// Not issued by this process (forged, mangled, or from before a restart).
    Forged,
}

/// Stateless nonces: `hex(issued_ms) hex(random) hex(HMAC-SHA-256(secret, both)[..16])`, so
/// checking one needs no table; only the highest `nc` per used nonce is remembered.
pub struct NonceService {
    secret: [u8; 32],
    epoch: Instant,
    ttl: Duration,
    /// nonce → (issued ms, highest nc accepted).
    seen: HashMap<String, (u64, u32)>,
    /// Nonces issued at or before this (ms) that are not in `seen` were evicted: stale.
    floor_ms: Option<u64>,
    capacity: usize,
}

impl fmt::Debug for NonceService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonceService")
            .field("ttl", &self.ttl)
            .field("tracked", &self.seen.len())
            .finish_non_exhaustive()
    }
}

impl NonceService {
    /// A service whose nonces are signed with `secret` (drawn at start: nonces from an
    /// earlier process are `Forged`).
    pub fn with_secret(secret: [u8; 32], ttl: Duration, epoch: Instant) -> NonceService {
        NonceService {
            secret,
            epoch,
            ttl,
            seen: HashMap::new(),
            floor_ms: None,
            capacity: MAX_TRACKED_NONCES,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn ms(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    fn mac(&self, body: &str) -> String {
        hex::encode(&hmac_sha256(&self.secret, body.as_bytes())[..16])
    }

    /// A new nonce (64 lower-case hex characters); `salt` is fresh randomness.
    pub fn issue(&self, now: Instant, salt: u64) -> String {
        let body = format!("{:016x}{salt:016x}", self.ms(now));
        let mac = self.mac(&body);
        body + &mac
    }

    /// Challenges carrying a fresh nonce.
    pub fn challenge(
        &self,
        realm: &str,
        stale: bool,
        algorithms: &[Algorithm],
        now: Instant,
        salt: u64,
    ) -> Vec<String> {
        challenge(realm, &self.issue(now, salt), stale, algorithms)
    }

    /// Authenticity and age of a nonce (no `nc` check: see `use_nc`).
    pub fn check(&self, nonce: &str, now: Instant) -> NonceCheck {
        let Some(issued) = self.authentic(nonce) else {
            return NonceCheck::Forged;
        };
        let now_ms = self.ms(now);
        if issued > now_ms {
            // Our clock is monotonic: a nonce from the future was minted by someone else.
            return NonceCheck::Forged;
        }
        if Duration::from_millis(now_ms - issued) > self.ttl {
            return NonceCheck::Stale;
        }
        if !self.seen.contains_key(nonce) && self.floor_ms.is_some_and(|f| issued <= f) {
            return NonceCheck::Stale;
        }
        NonceCheck::Valid
    }

    /// The issue time of a nonce we minted, or None.
    fn authentic(&self, nonce: &str) -> Option<u64> {
        if nonce.len() != 64 || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let (body, mac) = nonce.split_at(32);
        if !ct_eq(self.mac(body).as_bytes(), mac.as_bytes()) {
            return None;
        }
        u64::from_str_radix(&body[..16], 16).ok()
    }

    /// Record `nc` for a valid nonce, after the response was verified. False when the nonce is
    /// not valid or `nc` does not exceed the highest one seen (a replay), or is 0.
    pub fn use_nc(&mut self, nonce: &str, nc: u32, now: Instant) -> bool {
        if self.check(nonce, now) != NonceCheck::Valid {
            return false;
        }
        if let Some((_, last)) = self.seen.get_mut(nonce) {
            if nc <= *last {
                return false;
            }
            *last = nc;
            return true;
        }
        if nc == 0 {
            return false;
        }
        let Some(issued) = self.authentic(nonce) else {
            return false;
        };
        if self.seen.len() >= self.capacity {
            self.prune(now);
        }
        if self.seen.len() >= self.capacity {
            // Evict the oldest; from now on anything that old and untracked is stale, so
            // eviction can never re-open a replay.
            if let Some((k, (t, _))) = self
                .seen
                .iter()
                .min_by_key(|(_, (t, _))| *t)
                .map(|(k, v)| (k.clone(), *v))
            {
                self.seen.remove(&k);
                self.floor_ms = Some(self.floor_ms.map_or(t, |f| f.max(t)));
            }
            if self.floor_ms.is_some_and(|f| issued <= f) {
                return false;
            }
        }
        self.seen.insert(nonce.to_string(), (issued, nc));
        true
    }

    /// Forget expired nonces (their `nc` no longer matters: they are stale anyway).
    pub fn prune(&mut self, now: Instant) {
        let now_ms = self.ms(now);
        let ttl = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        self.seen
            .retain(|_, (issued, _)| now_ms.saturating_sub(*issued) <= ttl);
    }

    /// A stand-in HA1 for a username we do not know, so that an unknown user costs the same
    /// work as a known one (no enumeration by timing).
    pub fn dummy_ha1(&self, algorithm: Algorithm, username: &str) -> String {
        let k = hmac_sha256(&self.secret, format!("no-such-user:{username}").as_bytes());
        algorithm.hex(&k)
    }

    #[cfg(test)]
    fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
    }
}

/// HMAC-SHA-256 (RFC 2104); written out because the `hmac` crate is not a dependency.
fn hmac_sha256(key: &[u8; 32], msg: &[u8]) -> [u8; 32] {
    let mut ipad = [0x36u8; 64];
    let mut opad = [0x5cu8; 64];
    for (i, k) in key.iter().enumerate() {
        ipad[i] ^= k;
        opad[i] ^= k;
    }
    let inner = Sha256::new()
        .chain_update(ipad)
        .chain_update(msg)
        .finalize();
    let outer = Sha256::new()
        .chain_update(opad)
        .chain_update(inner)
        .finalize();
    let mut out = [0u8; 32];
    out.copy_from_slice(&outer);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC2617: &str = "Digest username=\"Mufasa\",\r\n realm=\"testrealm@host.com\",\r\n \
        nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\",\r\n uri=\"/dir/index.html\",\r\n qop=auth,\r\n \
        nc=00000001,\r\n cnonce=\"0a4f113b\",\r\n response=\"6629fae49393a05397450978507c4ef1\",\r\n \
        opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";

    fn rfc7616(alg: &str, response: &str) -> String {
        format!(
            "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", uri=\"/dir/index.html\", \
             algorithm={alg}, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", nc=00000001, \
             cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", qop=auth, \
             response=\"{response}\", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
        )
    }

    #[test]
    fn rfc2617_example() {
        let c = parse_credentials(RFC2617).unwrap();
        assert_eq!(c.username, "Mufasa");
        assert_eq!(c.realm, "testrealm@host.com");
        assert_eq!(c.algorithm, Algorithm::Md5);
        assert_eq!(c.nc, 1);
        assert_eq!(
            c.opaque.as_deref(),
            Some("5ccc069c403ebaf9f0171e9517f40e41")
        );
        let h = ha1(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
        );
        assert_eq!(
            expected_response(&c, "GET", &h),
            "6629fae49393a05397450978507c4ef1"
        );
        assert!(verify(&c, "GET", &h));
        assert!(!verify(&c, "POST", &h));
        let wrong = ha1(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle of Life",
        );
        assert!(!verify(&c, "GET", &wrong));
    }

    #[test]
    fn rfc7616_examples() {
        for (alg, a, expected) in [
            (
                "SHA-256",
                Algorithm::Sha256,
                "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
            ),
            ("MD5", Algorithm::Md5, "8ca523f5e9506fed4657c9700eebdbec"),
        ] {
            let c = parse_credentials(&rfc7616(alg, expected)).unwrap();
            assert_eq!(c.algorithm, a);
            let h = ha1(a, "Mufasa", "http-auth@example.org", "Circle of Life");
            assert_eq!(expected_response(&c, "GET", &h), expected, "{alg}");
            assert!(verify(&c, "GET", &h));
            // Upper-case hex from the client is the same response.
            let upper = parse_credentials(&rfc7616(alg, &expected.to_uppercase())).unwrap();
            assert!(verify(&upper, "GET", &h));
        }
    }

    #[test]
    fn client_authorization_round_trips() {
        let v = client_authorization(
            Algorithm::Sha256,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
            "GET",
            "/dir/index.html",
            "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            1,
            "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        );
        let c = parse_credentials(&v).unwrap();
        assert_eq!(
            c.response,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn nc_is_hex_u32() {
        let v = |nc: &str| {
            format!("Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"sip:r\", response=\"x\", qop=auth, nc={nc}, cnonce=\"c\"")
        };
        assert_eq!(parse_credentials(&v("0000000a")).unwrap().nc, 10);
        assert_eq!(parse_credentials(&v("0000000A")).unwrap().nc, 10);
        assert_eq!(
            parse_credentials(&v("0000000A")).unwrap().nc_text(),
            "0000000A"
        );
        assert_eq!(parse_credentials(&v("ffffffff")).unwrap().nc, u32::MAX);
        assert_eq!(parse_credentials(&v("\"00000100\"")).unwrap().nc, 256);
        for bad in ["1", "000000001", "0000000g", "-0000001"] {
            assert_eq!(parse_credentials(&v(bad)), Err(DigestError::BadNc), "{bad}");
        }
    }

    #[test]
    fn syntax_tolerance_and_errors() {
        let c = parse_credentials(
            "digest  USERNAME = \"a\\\"b\\\\c\" ,, Realm=\"r\",nonce=\"n\" , uri=sip:r, \
             response=\"x\", ALGORITHM=\"sha-256\", qop=\"auth\", nc=00000001, cnonce=\"c\", \
             unknown=whatever",
        )
        .unwrap();
        assert_eq!(c.username, "a\"b\\c");
        assert_eq!(c.uri, "sip:r");
        assert_eq!(c.algorithm, Algorithm::Sha256);
        let base = "username=\"a\", realm=\"r\", nonce=\"n\", uri=\"u\", response=\"x\", nc=00000001, cnonce=\"c\"";
        assert_eq!(
            parse_credentials(&format!("Basic {base}")),
            Err(DigestError::NotDigest)
        );
        assert_eq!(
            parse_credentials(&format!("Digest {base}")),
            Err(DigestError::Missing("qop"))
        );
        assert!(matches!(
            parse_credentials(&format!("Digest {base}, qop=auth-int")),
            Err(DigestError::UnsupportedQop(_))
        ));
        assert!(matches!(
            parse_credentials(&format!("Digest {base}, qop=auth, algorithm=MD5-sess")),
            Err(DigestError::UnsupportedAlgorithm(_))
        ));
        assert!(matches!(
            parse_credentials(&format!("Digest {base}, qop=auth, realm=\"s\"")),
            Err(DigestError::Duplicate(_))
        ));
        assert_eq!(
            parse_credentials(&format!("Digest {base}, qop=auth, userhash=true")),
            Err(DigestError::UserHash)
        );
        assert!(parse_credentials("Digest username=\"a").is_err());
        assert!(parse_credentials("Digest username").is_err());
        assert!(parse_credentials("Digest username=\"a\" realm=\"r\"").is_err());
        assert!(parse_credentials("Digest =x").is_err());
        assert!(parse_credentials("").is_err());
        assert_eq!(
            parse_credentials(&format!("Digest username=\"{}\"", "a".repeat(5000))),
            Err(DigestError::TooLong)
        );
        // Debug never shows the response.
        let c = parse_credentials(RFC2617).unwrap();
        assert!(!format!("{c:?}").contains("6629fae4"));
    }

    #[test]
    fn challenges_in_the_configured_order() {
        let ch = challenge(
            "centrale",
            "abc",
            false,
            &[Algorithm::Sha256, Algorithm::Md5, Algorithm::Sha256],
        );
        assert_eq!(
            ch,
            vec![
                "Digest realm=\"centrale\", nonce=\"abc\", algorithm=SHA-256, qop=\"auth\"",
                "Digest realm=\"centrale\", nonce=\"abc\", algorithm=MD5, qop=\"auth\"",
            ]
        );
        let st = challenge("a\"b", "n", true, &[Algorithm::Md5]);
        assert_eq!(
            st,
            vec!["Digest realm=\"a\\\"b\", nonce=\"n\", algorithm=MD5, qop=\"auth\", stale=true"]
        );
    }

    fn salt() -> u64 {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    fn svc() -> (NonceService, Instant) {
        let t0 = Instant::now();
        (
            NonceService::with_secret([7; 32], DEFAULT_NONCE_TTL, t0),
            t0,
        )
    }

    #[test]
    fn nonce_lifecycle() {
        let (mut s, t0) = svc();
        let n = s.issue(t0, salt());
        assert_eq!(n.len(), 64);
        assert_ne!(n, s.issue(t0, salt()));
        assert_eq!(
            s.check(&n, t0 + Duration::from_secs(299)),
            NonceCheck::Valid
        );
        assert_eq!(
            s.check(&n, t0 + Duration::from_secs(301)),
            NonceCheck::Stale
        );
        // nc must increase.
        let t = t0 + Duration::from_secs(1);
        assert!(s.use_nc(&n, 1, t));
        assert!(!s.use_nc(&n, 1, t), "replayed nc");
        assert!(s.use_nc(&n, 2, t));
        assert!(!s.use_nc(&n, 1, t), "nc going back");
        assert!(s.use_nc(&n, 0x10, t));
        assert!(!s.use_nc(&n, 0x11, t0 + Duration::from_secs(301)), "stale");
        let fresh = s.issue(t, salt());
        assert!(!s.use_nc(&fresh, 0, t), "nc 0");
    }

    #[test]
    fn forged_nonces() {
        let (s, t0) = svc();
        let n = s.issue(t0, salt());
        // Flip one hex digit of the timestamp: MAC fails.
        let mut forged = n.clone().into_bytes();
        forged[15] = if forged[15] == b'0' { b'1' } else { b'0' };
        let forged = String::from_utf8(forged).unwrap();
        assert_eq!(s.check(&forged, t0), NonceCheck::Forged);
        assert_eq!(
            s.check("dcd98b7102dd2f0e8b11d0f600bfb0c093", t0),
            NonceCheck::Forged
        );
        assert_eq!(s.check("", t0), NonceCheck::Forged);
        assert_eq!(s.check(&"z".repeat(64), t0), NonceCheck::Forged);
        // Another process (another secret) did not issue ours.
        let other = NonceService::with_secret([8; 32], DEFAULT_NONCE_TTL, t0);
        assert_eq!(other.check(&n, t0), NonceCheck::Forged);
        // A nonce minted "in the future" relative to our epoch is not ours either.
        let late = NonceService::with_secret([7; 32], DEFAULT_NONCE_TTL, t0);
        let future = late.issue(t0 + Duration::from_secs(60), salt());
        assert_eq!(s.check(&future, t0), NonceCheck::Forged);
    }

    #[test]
    fn eviction_never_reopens_replay() {
        let (mut s, t0) = svc();
        s.set_capacity(2);
        let a = s.issue(t0, salt());
        let b = s.issue(t0 + Duration::from_millis(10), salt());
        let c = s.issue(t0 + Duration::from_millis(20), salt());
        let t = t0 + Duration::from_secs(1);
        assert!(s.use_nc(&a, 1, t));
        assert!(s.use_nc(&b, 1, t));
        assert!(s.use_nc(&c, 1, t)); // evicts a
        assert_eq!(s.check(&a, t), NonceCheck::Stale);
        assert!(!s.use_nc(&a, 1, t));
        assert!(!s.use_nc(&a, 2, t));
        assert!(s.use_nc(&c, 2, t));
    }

    #[test]
    fn dummy_ha1_has_the_right_shape() {
        let (s, _) = svc();
        assert_eq!(s.dummy_ha1(Algorithm::Md5, "x").len(), 32);
        assert_eq!(s.dummy_ha1(Algorithm::Sha256, "x").len(), 64);
        assert_ne!(
            s.dummy_ha1(Algorithm::Md5, "x"),
            s.dummy_ha1(Algorithm::Md5, "y")
        );
    }

    #[test]
    fn hmac_matches_rfc4231_case_1() {
        // RFC 4231 test case 1 uses a 20-byte key; ours is fixed at 32, so check against a
        // zero-padded key, which HMAC treats identically.
        let mut key = [0u8; 32];
        key[..20].copy_from_slice(&[0x0b; 20]);
        assert_eq!(
            hex::encode(hmac_sha256(&key, b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }
}
