//! Our side of digest authentication, when a carrier challenges us (RFC 3261 §22.2–22.3 with
//! RFC 7616/2617): read a `WWW-Authenticate` or `Proxy-Authenticate` challenge and write the
//! `Authorization` / `Proxy-Authorization` that answers it, for MD5 and SHA-256, with
//! `qop=auth` when offered and the RFC 2069 form when the carrier offers no qop.
//!
//! Owns: that arithmetic. Never does: I/O, logging (the password is an argument and nothing
//! here formats it), deciding whether to retry (the leg and the registration client do).

use super::digest::{self, parse_auth_params, Algorithm, DigestError};

/// A user name and password we authenticate with (a trunk's). `Debug` never prints the
/// password.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// The challenges of a 401/407 response, best first.
pub fn challenge_of(
    headers: &rsipstack::sip::Headers,
    status: u16,
) -> Result<Challenge, DigestError> {
    let name = challenge_header(status);
    pick(
        headers
            .iter()
            .filter(|h| h.name().eq_ignore_ascii_case(name))
            .map(|h| h.value()),
    )
}

/// A challenge we can answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub algorithm: Algorithm,
    pub opaque: Option<String>,
    /// `qop="auth"` offered (else the RFC 2069 response).
    pub qop_auth: bool,
    pub stale: bool,
}

/// Where the challenge came from: a 401 is answered with `Authorization`, a 407 with
/// `Proxy-Authorization`.
pub fn answer_header(status: u16) -> &'static str {
    if status == 407 {
        "Proxy-Authorization"
    } else {
        "Authorization"
    }
}

/// The header a 401 or 407 carries its challenges in.
pub fn challenge_header(status: u16) -> &'static str {
    if status == 407 {
        "Proxy-Authenticate"
    } else {
        "WWW-Authenticate"
    }
}

/// Parse one challenge value (`Digest realm="…", nonce="…", …`).
pub fn parse_challenge(value: &str) -> Result<Challenge, DigestError> {
    let value = value.trim_start();
    let scheme_end = value
        .find(|c: char| c.is_ascii_whitespace())
        .unwrap_or(value.len());
    if !value[..scheme_end].eq_ignore_ascii_case("Digest") {
        return Err(DigestError::NotDigest);
    }
    let params = parse_auth_params(&value[scheme_end..])?;
    let get = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let realm = get("realm").ok_or(DigestError::Missing("realm"))?;
    let nonce = get("nonce").ok_or(DigestError::Missing("nonce"))?;
    let algorithm = match get("algorithm") {
        Some(a) => Algorithm::parse(&a)?,
        None => Algorithm::Md5,
    };
    let qop_auth = match get("qop") {
        None => false,
        Some(q) => {
            let auth = q.split(',').any(|t| t.trim().eq_ignore_ascii_case("auth"));
            if !auth {
                return Err(DigestError::UnsupportedQop(q.chars().take(32).collect()));
            }
            true
        }
    };
    Ok(Challenge {
        realm,
        nonce,
        algorithm,
        opaque: get("opaque"),
        qop_auth,
        stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
    })
}

/// The best challenge among several values (a carrier may offer SHA-256 and MD5): the first
/// SHA-256 one, else the first we can parse.
pub fn pick<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Challenge, DigestError> {
    let mut first_err = None;
    let mut best: Option<Challenge> = None;
    for v in values {
        match parse_challenge(v) {
            Ok(c) if c.algorithm == Algorithm::Sha256 => return Ok(c),
            Ok(c) => {
                best.get_or_insert(c);
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    best.ok_or(first_err.unwrap_or(DigestError::Missing("challenge")))
}

/// The credentials answering `ch` for `method` on `uri`. `nc` counts our uses of this nonce;
/// `cnonce` is fresh randomness.
pub fn authorization(
    ch: &Challenge,
    user: &str,
    password: &str,
    method: &str,
    uri: &str,
    nc: u32,
    cnonce: &str,
) -> String {
    let alg = ch.algorithm;
    let ha1 = digest::ha1(alg, user, &ch.realm, password);
    let ha2 = alg.hex(format!("{method}:{uri}").as_bytes());
    let mut out = format!(
        "Digest username={}, realm={}, nonce={}, uri={}",
        digest::quote(user),
        digest::quote(&ch.realm),
        digest::quote(&ch.nonce),
        digest::quote(uri)
    );
    if ch.qop_auth {
        let nc = format!("{nc:08x}");
        let response = alg.hex(format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", ch.nonce).as_bytes());
        out.push_str(&format!(
            ", response=\"{response}\", algorithm={alg}, qop=auth, nc={nc}, cnonce={}",
            digest::quote(cnonce)
        ));
    } else {
        let response = alg.hex(format!("{ha1}:{}:{ha2}", ch.nonce).as_bytes());
        out.push_str(&format!(", response=\"{response}\", algorithm={alg}"));
    }
    if let Some(o) = &ch.opaque {
        out.push_str(&format!(", opaque={}", digest::quote(o)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_example_is_reproduced() {
        // RFC 2617 §3.5 (an HTTP example; the arithmetic is the same for SIP).
        let ch = parse_challenge(
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .unwrap();
        assert!(ch.qop_auth);
        let a = authorization(
            &ch,
            "Mufasa",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            1,
            "0a4f113b",
        );
        assert!(
            a.contains("response=\"6629fae49393a05397450978507c4ef1\""),
            "{a}"
        );
        assert!(a.contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""));
        assert!(a.contains("nc=00000001"));
    }

    #[test]
    fn our_registrar_accepts_what_we_write() {
        let ch = parse_challenge(
            &digest::challenge("centrale", "n0nce", false, &[Algorithm::Sha256])[0],
        )
        .unwrap();
        assert_eq!(ch.algorithm, Algorithm::Sha256);
        let a = authorization(&ch, "agent1", "pw", "REGISTER", "sip:centrale", 1, "c1");
        let cred = digest::parse_credentials(&a).unwrap();
        let ha1 = digest::ha1(Algorithm::Sha256, "agent1", "centrale", "pw");
        assert!(digest::verify(&cred, "REGISTER", &ha1));
    }

    #[test]
    fn no_qop_gives_the_rfc2069_form_and_bad_challenges_are_refused() {
        let ch = parse_challenge("Digest realm=\"carrier\", nonce=\"abc\"").unwrap();
        assert!(!ch.qop_auth);
        let a = authorization(&ch, "u", "p", "INVITE", "sip:911@carrier", 1, "x");
        let ha1 = digest::ha1(Algorithm::Md5, "u", "carrier", "p");
        let ha2 = Algorithm::Md5.hex(b"INVITE:sip:911@carrier");
        let expected = Algorithm::Md5.hex(format!("{ha1}:abc:{ha2}").as_bytes());
        assert!(a.contains(&expected));
        assert!(!a.contains("qop"));
        assert!(parse_challenge("Basic realm=\"x\"").is_err());
        assert!(parse_challenge("Digest realm=\"x\"").is_err());
        assert!(parse_challenge("Digest realm=\"x\", nonce=\"y\", qop=\"auth-int\"").is_err());
        assert!(parse_challenge("Digest realm=\"x\", nonce=\"y\", algorithm=MD5-sess").is_err());
        let best = pick([
            "Digest realm=\"x\", nonce=\"y\", algorithm=MD5",
            "Digest realm=\"x\", nonce=\"y\", algorithm=SHA-256",
        ])
        .unwrap();
        assert_eq!(best.algorithm, Algorithm::Sha256);
    }
}
