//! The ACD's deadlines: at most one per agent (ring timeout or wrap-up end) and one per call
//! (the earliest of its next relaxation step, announcement, max wait and miss-exclusion end),
//! kept in one ordered set so `poll_timeout` is O(log n) and never returns a stale deadline.
//!
//! Knows nothing about what a deadline means; `dispatch` decides on firing.

use std::collections::BTreeSet;

use super::types::{CallId, Time};

/// Whose deadline. Ordered so that simultaneous deadlines fire in a fixed order: agents (by
/// slot) before calls (by id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum TimerKey {
    Agent(usize),
    Call(CallId),
}

#[derive(Debug, Clone, Default)]
pub(super) struct Timers {
    set: BTreeSet<(Time, TimerKey)>,
}

impl Timers {
    /// Move `key`'s deadline from `*slot` to `at` (None: no deadline). `slot` is the owner's
    /// record of its current deadline, so removal is exact.
    pub(super) fn set(&mut self, slot: &mut Option<Time>, key: TimerKey, at: Option<Time>) {
        if *slot == at {
            return;
        }
        if let Some(old) = slot.take() {
            self.set.remove(&(old, key));
        }
        if let Some(t) = at {
            self.set.insert((t, key));
        }
        *slot = at;
    }

    pub(super) fn next(&self) -> Option<Time> {
        self.set.first().map(|&(t, _)| t)
    }

    /// Remove and return the earliest deadline at or before `now`. The owner must clear its
    /// own record (`timer = None`) before acting.
    pub(super) fn pop_due(&mut self, now: Time) -> Option<(Time, TimerKey)> {
        let &(t, k) = self.set.first()?;
        if t > now {
            return None;
        }
        self.set.remove(&(t, k));
        Some((t, k))
    }

    #[cfg(test)]
    pub(super) fn contains(&self, t: Time, key: TimerKey) -> bool {
        self.set.contains(&(t, key))
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.set.len()
    }
}
