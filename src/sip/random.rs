//! The one source of randomness of the SIP layer: tags, branches, Call-IDs, nonces, SDP session
//! ids and initial CSeqs. Seeded once from the operating system in the server, from a fixed
//! seed in tests — so a test can replay exact bytes. A ChaCha generator: unpredictable to a
//! peer as long as its seed is (RFC 3261 §19.3 wants tags with 32 random bits at least).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Debug)]
pub struct Random(StdRng);

impl Random {
    /// Seeded from the operating system.
    pub fn from_os() -> Random {
        Random(StdRng::from_seed(rand::random()))
    }

    /// A fixed sequence (tests, replays).
    pub fn seeded(seed: u64) -> Random {
        Random(StdRng::seed_from_u64(seed))
    }

    /// An independent source for a part that keeps its own (a leg, a registrar).
    pub fn fork(&mut self) -> Random {
        Random(StdRng::from_seed(self.bytes32()))
    }

    pub fn u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    pub fn u32(&mut self) -> u32 {
        self.0.next_u32()
    }

    pub fn bytes32(&mut self) -> [u8; 32] {
        let mut b = [0u8; 32];
        self.0.fill_bytes(&mut b);
        b
    }

    /// A tag or Call-ID part: 16 hex digits (64 random bits).
    pub fn token(&mut self) -> String {
        format!("{:016x}", self.u64())
    }

    /// A branch with the RFC 3261 magic cookie.
    pub fn branch(&mut self) -> String {
        format!("z9hG4bK{:016x}", self.u64())
    }
}

#[cfg(test)]
mod tests {
    use super::Random;

    #[test]
    fn a_seed_replays_and_forks_differ() {
        let (mut a, mut b) = (Random::seeded(7), Random::seeded(7));
        assert_eq!(a.token(), b.token());
        assert_eq!(a.branch(), b.branch());
        let mut f = a.fork();
        assert_ne!(f.token(), a.token());
        assert!(b.branch().starts_with("z9hG4bK"));
    }
}
