//! Token buckets for throttling failed attempts (REGISTER today, web sign-ins next): per key
//! (a source address, a username), `per_min` tokens refilled continuously; each failure takes
//! one; an empty bucket means "wait this long". Bounded memory: full buckets are forgotten and,
//! past `MAX_BUCKETS` keys, the least suspicious is evicted. Time comes in as `now`.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Instant;

/// Source addresses and usernames tracked per limiter; fully refilled entries go first.
const MAX_BUCKETS: usize = 10_000;

/// Token buckets: `per_min` tokens, refilled continuously; a failure takes one.
pub struct Buckets<K> {
    per_min: u32,
    map: HashMap<K, (f64, Instant)>,
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    pub fn new(per_min: u32) -> Self {
        Buckets {
            per_min,
            map: HashMap::new(),
        }
    }

    fn level(&self, (tokens, at): (f64, Instant), now: Instant) -> f64 {
        let refill =
            now.saturating_duration_since(at).as_secs_f64() * f64::from(self.per_min) / 60.0;
        (tokens + refill).min(f64::from(self.per_min))
    }

    /// Seconds until the next attempt is allowed, or None when it is allowed now.
    pub fn wait(&self, k: &K, now: Instant) -> Option<u64> {
        if self.per_min == 0 {
            return None;
        }
        let level = self.level(*self.map.get(k)?, now);
        if level >= 1.0 {
            return None;
        }
        let secs = (1.0 - level) * 60.0 / f64::from(self.per_min);
        // Rounded up and at least 1: Retry-After is whole seconds.
        Some((secs.ceil() as u64).max(1))
    }

    /// Take a token; true when this emptied the bucket (worth one log line).
    pub fn take(&mut self, k: K, now: Instant) -> bool {
        if self.per_min == 0 {
            return false;
        }
        if !self.map.contains_key(&k) && self.map.len() >= MAX_BUCKETS {
            self.prune(now);
            if self.map.len() >= MAX_BUCKETS {
                // Evict the least suspicious (fullest) entry rather than refuse to count.
                let fullest = self
                    .map
                    .iter()
                    .max_by(|a, b| self.level(*a.1, now).total_cmp(&self.level(*b.1, now)))
                    .map(|(k, _)| k.clone());
                if let Some(f) = fullest {
                    self.map.remove(&f);
                }
            }
        }
        let full = (f64::from(self.per_min), now);
        let level = self.level(self.map.get(&k).copied().unwrap_or(full), now);
        let after = (level - 1.0).max(0.0);
        self.map.insert(k, (after, now));
        level >= 1.0 && after < 1.0
    }

    /// Forget buckets that are full again (they hold no information).
    pub fn prune(&mut self, now: Instant) {
        let full = f64::from(self.per_min);
        let per_min = self.per_min;
        self.map.retain(|_, (tokens, at)| {
            let refill =
                now.saturating_duration_since(*at).as_secs_f64() * f64::from(per_min) / 60.0;
            *tokens + refill < full
        });
    }
}
