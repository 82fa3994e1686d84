//! Toll-fraud and harassment guards for the calls the city places on a citizen's behalf
//! (callbacks): anyone who reaches the SIP port can put any number in From, so the number a
//! callback would dial is checked before a callback is even offered.
//!
//! - Only North-American numbers (10 digits, `+1`/`1` prefix accepted), with a real area code
//!   and exchange: never international, premium (900, 976), N11 (911, 411…) or 0/1-leading
//!   codes; optionally only the city's area codes.
//! - A withheld caller (anonymous, privacy asked) is not offered a callback.
//! - At most `per_number_per_day` callbacks for one number in 24 hours (shared by all calls).
//!
//! Owns: those rules. Never does: I/O; the clock is passed in.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// Why a number may not be called back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    NotNorthAmerican,
    Special,
    Premium,
    OutsideArea,
    Withheld,
}

/// The 10-digit number a callback may dial for `number` (as the caller presented it).
pub fn callable(
    number: &str,
    display: Option<&str>,
    area_codes: &[String],
) -> Result<String, Refused> {
    if display.is_some_and(|d| {
        let d = d.to_ascii_lowercase();
        d.contains("anonymous")
            || d.contains("anonyme")
            || d.contains("private")
            || d.contains("restricted")
    }) {
        return Err(Refused::Withheld);
    }
    let trimmed = number.trim();
    if trimmed.chars().any(|c| c.is_ascii_alphabetic()) {
        return Err(Refused::Withheld);
    }
    if trimmed.starts_with("011") || (trimmed.starts_with('+') && !trimmed.starts_with("+1")) {
        return Err(Refused::NotNorthAmerican);
    }
    let mut digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    if digits.len() == 11 && digits.starts_with('1') {
        digits.remove(0);
    }
    if digits.len() != 10 {
        return Err(Refused::NotNorthAmerican);
    }
    let b = digits.as_bytes();
    let (npa, nxx) = (&digits[..3], &digits[3..6]);
    // NANP: area code and exchange start with 2–9; N11 codes are services, not subscribers.
    if b[0] < b'2' || b[3] < b'2' || &npa[1..] == "11" || &nxx[1..] == "11" {
        return Err(Refused::Special);
    }
    if npa == "900" || npa == "976" || nxx == "976" {
        return Err(Refused::Premium);
    }
    if !area_codes.is_empty() && !area_codes.iter().any(|a| a == npa) {
        return Err(Refused::OutsideArea);
    }
    Ok(digits)
}

/// Callbacks booked per number over the last 24 hours, shared by every call.
#[derive(Debug, Default)]
pub struct CallbackCap {
    booked: Mutex<HashMap<String, VecDeque<i64>>>,
}

impl CallbackCap {
    fn count(map: &mut HashMap<String, VecDeque<i64>>, number: &str, now_ms: i64) -> usize {
        let Some(q) = map.get_mut(number) else {
            return 0;
        };
        while q.front().is_some_and(|&t| t <= now_ms - DAY_MS) {
            q.pop_front();
        }
        q.len()
    }

    /// Whether one more may be booked now.
    pub fn allows(&self, number: &str, now_ms: i64, cap: u32) -> bool {
        let mut map = self.booked.lock().unwrap_or_else(|e| e.into_inner());
        Self::count(&mut map, number, now_ms) < cap as usize
    }

    /// Book one if the cap allows it.
    pub fn take(&self, number: &str, now_ms: i64, cap: u32) -> bool {
        let mut map = self.booked.lock().unwrap_or_else(|e| e.into_inner());
        if Self::count(&mut map, number, now_ms) >= cap as usize {
            return false;
        }
        map.entry(number.to_string()).or_default().push_back(now_ms);
        // Keep the table small: numbers with nothing in the last day go.
        if map.len() > 10_000 {
            map.retain(|_, q| q.back().is_some_and(|&t| t > now_ms - DAY_MS));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ordinary_north_american_numbers_are_called_back() {
        let none: Vec<String> = Vec::new();
        assert_eq!(
            callable("4185550123", None, &none).as_deref(),
            Ok("4185550123")
        );
        assert_eq!(
            callable("+1 (418) 641-6411", None, &none).as_deref(),
            Ok("4186416411")
        );
        assert_eq!(
            callable("14186416411", None, &none).as_deref(),
            Ok("4186416411")
        );
        assert_eq!(
            callable("+33142765000", None, &none),
            Err(Refused::NotNorthAmerican)
        );
        assert_eq!(
            callable("011442071234567", None, &none),
            Err(Refused::NotNorthAmerican)
        );
        assert_eq!(callable("9005551234", None, &none), Err(Refused::Premium));
        assert_eq!(callable("4189761234", None, &none), Err(Refused::Premium));
        assert_eq!(callable("911", None, &none), Err(Refused::NotNorthAmerican));
        assert_eq!(callable("4189115555", None, &none), Err(Refused::Special));
        assert_eq!(callable("4111234567", None, &none), Err(Refused::Special));
        assert_eq!(callable("1234567890", None, &none), Err(Refused::Special));
        assert_eq!(callable("anonymous", None, &none), Err(Refused::Withheld));
        assert_eq!(
            callable("4186416411", Some("Anonymous"), &none),
            Err(Refused::Withheld)
        );
        let quebec = vec!["418".to_string(), "581".to_string()];
        assert!(callable("5816416411", None, &quebec).is_ok());
        assert_eq!(
            callable("5146416411", None, &quebec),
            Err(Refused::OutsideArea)
        );
    }

    #[test]
    fn a_number_gets_at_most_its_callbacks_per_day() {
        let cap = CallbackCap::default();
        let t0 = 1_800_000_000_000;
        assert!(cap.take("4186416411", t0, 2));
        assert!(cap.take("4186416411", t0 + 1000, 2));
        assert!(!cap.allows("4186416411", t0 + 2000, 2));
        assert!(!cap.take("4186416411", t0 + 2000, 2));
        assert!(cap.allows("4186416412", t0 + 2000, 2), "another number");
        assert!(cap.take("4186416411", t0 + DAY_MS + 1, 2), "a day later");
    }
}
