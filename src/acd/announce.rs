//! What a waiting caller is told, and when: the first announcement as soon as the caller has
//! to wait, one every `announce_every`, and one more — with the callback offer — when the
//! caller has waited far past the wait they were first told. Decides whether an announcement
//! carries the callback offer (the estimate reaches the queue's `callback_threshold`, is
//! unknown, or the caller was let down). The estimate itself is `query::announcement`.
//!
//! Never plays anything (the server turns an `Announcement` into prompts with the top-level
//! `announce` module), never reads the clock.

use super::engine::Acd;
use super::queue::{Entry, Phase};
use super::types::{CallId, Output, Time};

/// A caller told E is "held far past it" once they have waited E plus half of E, and at least
/// 90 s more, since they were told.
pub(super) fn late_after(estimate_ms: u64) -> u64 {
    estimate_ms.saturating_add((estimate_ms / 2).max(90_000))
}

impl Acd {
    /// Announce position and wait to a waiting live caller (nothing otherwise). `late`: the
    /// extra announcement for a caller held far past the wait first told.
    pub(super) fn announce(&mut self, id: CallId, now: Time, late: bool) {
        let Some(mut info) = self.announcement(id, now) else {
            return;
        };
        let Some(e) = self.calls.get_mut(&id) else {
            return;
        };
        if e.phase != Phase::Waiting || !e.live() || e.overflowed {
            return;
        }
        if let (None, Some(w)) = (e.told, info.estimate_ms) {
            e.told = Some((now, w));
        }
        if late {
            e.late_done = true;
        }
        let Some(q) = self.queues.get(e.queue) else {
            return;
        };
        let long = info
            .estimate_ms
            .is_none_or(|w| w >= q.callback_threshold_ms);
        info.late = late;
        info.offer_callback = q.offer_callback && (long || e.late_done);
        self.out.push_back(Output::Announce { call: id, info });
    }

    /// When the caller counts as held far past the wait first told, if that is still to come
    /// (announcements on, a live caller waiting, told an estimate, not announced late yet).
    pub(super) fn late_deadline(&self, e: &Entry) -> Option<Time> {
        let q = self.queues.get(e.queue)?;
        if q.announce_ms == 0 || !e.live() || e.overflowed || e.late_done {
            return None;
        }
        let (at, told) = e.told?;
        Some(at.saturating_add(late_after(told)))
    }

    /// The caller's deadlines passed: the late announcement, else the periodic one.
    pub(super) fn announce_due(&mut self, id: CallId, now: Time) {
        let Some(e) = self.calls.get(&id) else {
            return;
        };
        let waiting_live = e.phase == Phase::Waiting && e.live() && !e.overflowed;
        let period = self.queues.get(e.queue).map_or(0, |q| q.announce_ms);
        let late = waiting_live && self.late_deadline(e).is_some_and(|t| t <= now);
        let periodic = e.next_announce.filter(|&n| n <= now);
        if late {
            self.announce(id, now, true);
        } else if periodic.is_some() && waiting_live && period > 0 {
            self.announce(id, now, false);
        }
        // A late announcement counts as the periodic one; periods missed (e.g. while an agent
        // was ringing) are skipped, not replayed.
        if let Some(n) = periodic.or(late.then_some(now)) {
            let next = (period > 0).then(|| {
                let base = if late { now } else { n };
                base.saturating_add(((now - base) / period + 1).saturating_mul(period))
            });
            if let Some(e) = self.calls.get_mut(&id) {
                e.next_announce = next;
            }
        }
    }

    /// When a live caller reaches the queue's max wait. It counts the time the caller
    /// actually held: on this call, plus on the earlier calls whose place it resumed.
    pub(super) fn max_wait_at(&self, e: &Entry) -> Option<Time> {
        let mw = self.queues.get(e.queue)?.max_wait_ms?;
        Some(
            e.entered
                .saturating_add(mw.saturating_sub(e.held_before_ms)),
        )
    }

    pub(super) fn overdue(&self, e: &Entry, now: Time) -> bool {
        self.max_wait_at(e).is_some_and(|t| now >= t)
    }
}

#[cfg(test)]
mod tests {
    use super::late_after;

    #[test]
    fn late_means_well_past_what_was_told() {
        assert_eq!(late_after(0), 90_000);
        assert_eq!(late_after(60_000), 150_000);
        assert_eq!(late_after(600_000), 900_000);
    }
}
