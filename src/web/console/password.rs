//! Console passwords: Argon2id with the crate's default parameters (19 MiB, 2 passes), a
//! 128-bit random salt, stored as a PHC string. Verification does the same work for an unknown
//! user (against a fixed dummy hash), so timing does not tell which names exist.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// The shortest password a console user may have.
pub const MIN_LEN: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("a password has at least {MIN_LEN} characters")]
    TooShort,
    #[error("hashing failed: {0}")]
    Hash(String),
}

pub fn hash(password: &str, salt: [u8; 16]) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_LEN {
        return Err(PasswordError::TooShort);
    }
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches `stored` (a PHC string); `None` (no such user) costs the same.
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    const DUMMY: &str =
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$8dKz4NRZ0VZXm6nKq2s0ZtF9c8v0aBXyq5Hn3oQwX0s";
    let phc = stored.unwrap_or(DUMMY);
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    ok && stored.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_short_passwords_are_refused() {
        let h = hash("déneigement-2027", [7; 16]).unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("déneigement-2027", Some(&h)));
        assert!(!verify("déneigement-2028", Some(&h)));
        assert!(!verify("déneigement-2027", None));
        assert!(!verify("x", Some("not a hash")));
        assert!(matches!(
            hash("short", [0; 16]),
            Err(PasswordError::TooShort)
        ));
    }
}
