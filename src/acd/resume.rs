//! Abandoned-resume: a caller who hangs up while waiting keeps their place for the queue's
//! `resume_window`; calling again from the same number into the same queue within it gives
//! that place back (the original entry time, hence the same order among waiting callers), and
//! the time already held counts as wait. Also: who counts as "the same number" (`caller`).
//!
//! Owns the book of kept places. Never does I/O or logging: the ACD emits `Output::Resumed`
//! and its driver writes the events on both calls.

use super::engine::Acd;
use super::queue::Entry;
use super::types::{Caller, Output, Place, Time};

/// The caller of a SIP call as the resume book knows them: the digits of the From user part
/// (North-American numbers to 10 digits, so +1 514 555 0100 and 514-555-0100 match), withheld
/// when the display name asks for anonymity. None when the user part is not a number of at
/// least 7 digits (anonymous@anonymous.invalid, "unknown", "restricted"): such callers cannot
/// be recognised.
pub fn caller(from_user: &str, display: Option<&str>, log_id: &str) -> Option<Caller> {
    let mut digits: String = from_user.chars().filter(char::is_ascii_digit).collect();
    let letters = from_user.chars().filter(|c| c.is_alphabetic()).count();
    if letters > 0 || digits.len() < 7 {
        return None;
    }
    if digits.len() == 11 && digits.starts_with('1') {
        digits.remove(0);
    }
    const HIDDEN: [&str; 9] = [
        "anonymous",
        "anonyme",
        "private",
        "privé",
        "restricted",
        "withheld",
        "unknown",
        "inconnu",
        "confidentiel",
    ];
    let withheld = display.is_some_and(|d| {
        let d = d.trim().trim_matches('"').to_lowercase();
        HIDDEN.iter().any(|h| d.contains(h))
    });
    Some(Caller {
        number: digits,
        withheld,
        log_id: log_id.to_string(),
    })
}

impl Acd {
    /// A live caller left the queue by hanging up: keep their place if the queue resumes and
    /// the caller can be recognised.
    pub(super) fn keep_place(&mut self, e: &Entry, now: Time) {
        let Some(q) = self.queues.get(e.queue) else {
            return;
        };
        let Some(c) = &e.caller else {
            return;
        };
        if q.resume_window_ms == 0 || (c.withheld && !q.resume_withheld) || !e.live() {
            return;
        }
        self.places.retain(|_, p| p.until > now);
        let held = now
            .saturating_sub(e.entered)
            .saturating_add(e.held_before_ms);
        self.places.insert(
            (e.queue, c.number.clone()),
            Place {
                call: e.id,
                log_id: c.log_id.clone(),
                since: e.since,
                held_ms: held,
                until: now.saturating_add(q.resume_window_ms),
            },
        );
    }

    /// A live caller enters `e.queue`: if a place is kept for their number there, they take it
    /// (the older `since` and the time held before), and the driver is told.
    pub(super) fn resume_place(&mut self, e: &mut Entry, now: Time) {
        let Some(c) = &e.caller else {
            return;
        };
        if !e.live() {
            return;
        }
        let Some(q) = self.queues.get(e.queue) else {
            return;
        };
        if c.withheld && !q.resume_withheld {
            return;
        }
        self.places.retain(|_, p| p.until > now);
        let Some(p) = self.places.remove(&(e.queue, c.number.clone())) else {
            return;
        };
        e.since = e.since.min(p.since);
        e.held_before_ms = p.held_ms;
        self.out.push_back(Output::Resumed {
            call: e.id,
            log: c.log_id.clone(),
            from: p.call,
            from_log: p.log_id,
            held_ms: p.held_ms,
        });
    }

    /// Places kept now (admin snapshot, tests).
    pub fn kept_places(&self, now: Time) -> usize {
        self.places.values().filter(|p| p.until > now).count()
    }
}

#[cfg(test)]
mod tests {
    use super::caller;

    #[test]
    fn numbers_are_recognised_in_any_format() {
        let a = caller("+15145550100", None, "x").unwrap();
        let b = caller("514-555-0100", Some("Citizen"), "y").unwrap();
        assert_eq!(a.number, "5145550100");
        assert_eq!(a.number, b.number);
        assert!(!a.withheld);
        assert_eq!(b.log_id, "y");
        assert_eq!(caller("4185551234", None, "").unwrap().number, "4185551234");
    }

    #[test]
    fn anonymous_callers_are_not_recognised_and_withheld_ones_are_marked() {
        assert_eq!(caller("anonymous", None, "x"), None);
        assert_eq!(caller("restricted", Some("Restricted"), "x"), None);
        assert_eq!(caller("123", None, "x"), None);
        assert_eq!(caller("", None, "x"), None);
        let w = caller("5145550100", Some("\"Anonymous\""), "x").unwrap();
        assert!(w.withheld);
        assert!(
            caller("5145550100", Some("Appel privé"), "x")
                .unwrap()
                .withheld
        );
    }
}
