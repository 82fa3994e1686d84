//! Tracking (reference) numbers: six digits a caller hears when a callback is booked, that the
//! agent's screen pop and the console show, so a citizen who calls about it can be found.
//! Derived from the call's log id (SHA-256, first 20 bits, printed in decimal), so nothing is
//! stored twice: the log id is the record.

use sha2::{Digest, Sha256};

/// The reference number of the call logged as `uid`.
pub fn number(uid: &str) -> String {
    let h = Sha256::digest(uid.as_bytes());
    let n = ((u32::from(h[0]) << 16) | (u32::from(h[1]) << 8) | u32::from(h[2])) % 1_000_000;
    format!("{n:06}")
}

/// What the caller hears: "your reference number is" then each digit.
pub fn prompts(uid: &str) -> Vec<String> {
    std::iter::once("tracking_number".to_string())
        .chain(number(uid).chars().map(|d| format!("num_{d}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_digits_the_same_for_a_call_and_read_one_by_one() {
        let n = number("1a24b48249a-8b164e48");
        assert_eq!(n.len(), 6);
        assert!(n.chars().all(|c| c.is_ascii_digit()));
        assert_eq!(n, number("1a24b48249a-8b164e48"));
        assert_ne!(n, number("1a24b48249a-8b164e49"));
        let p = prompts("x");
        assert_eq!(p.len(), 7);
        assert_eq!(p[0], "tracking_number");
        assert!(p[1..].iter().all(|s| s.starts_with("num_")));
    }
}
