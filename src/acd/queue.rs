//! Queues and the calls waiting in them: a queue's definition as it applies in the current
//! season (skills, priority, closed, relaxation, announcements, max wait, overflow), its recent
//! handle times, and one waiting call (`Entry`) with its ordering key.
//!
//! Never decides who gets a call (`dispatch` does) and never reads the clock.

use std::collections::VecDeque;
use std::time::Duration;

use super::matching::{Interner, RelaxStep, Reqs};
use super::types::{CallId, Time};
use crate::dialplan::model::{Overflow, QueueDef, SkillReq};

/// Order of waiting calls, best first: (−effective priority, since, id). One total order for
/// every queue, so an agent serving several queues takes the highest-priority, then oldest,
/// caller among those it is eligible for; a callback keeps its original `since`.
pub(super) type Key = (i64, Time, CallId);

pub(super) fn dur_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A queue at run time. Queues are never forgotten: one dropped from the dial plan keeps its
/// last definition for the callers still in it (`in_plan = false`).
#[derive(Debug, Clone)]
pub(super) struct QueueRt {
    pub name: String,
    /// None: a queue a call or an agent named that no plan defined (no requirement but the
    /// language, priority 0, no limit).
    pub def: Option<QueueDef>,
    pub in_plan: bool,
    // Effective for the current season:
    pub skills: Vec<(usize, u8)>,
    pub priority: i32,
    pub closed: bool,
    pub relax: Vec<RelaxStep>,
    pub announce_ms: u64,
    pub max_wait_ms: Option<u64>,
    pub overflow: Overflow,
    /// Recent handle times (talk + wrap-up), oldest first, and their sum.
    aht: VecDeque<u64>,
    aht_sum: u64,
}

impl QueueRt {
    pub(super) fn new(name: &str) -> QueueRt {
        QueueRt {
            name: name.to_string(),
            def: None,
            in_plan: false,
            skills: Vec::new(),
            priority: 0,
            closed: false,
            relax: Vec::new(),
            announce_ms: 0,
            max_wait_ms: None,
            overflow: Overflow::Callback,
            aht: VecDeque::new(),
            aht_sum: 0,
        }
    }

    /// Recompute the effective settings for `season` (after a plan reload or a season change).
    pub(super) fn refresh(&mut self, season: Option<&str>, skills: &mut Interner) {
        let def = self.def.as_ref();
        let ov = def.and_then(|d| season.and_then(|s| d.seasons.get(s)));
        let reqs: &[SkillReq] = ov
            .and_then(|o| o.skills.as_deref())
            .or(def.map(|d| d.skills.as_slice()))
            .unwrap_or(&[]);
        self.skills = reqs
            .iter()
            .map(|r| (skills.intern(&r.skill), r.min_level.clamp(1, 5)))
            .collect();
        self.priority = ov
            .and_then(|o| o.priority)
            .unwrap_or(def.map_or(0, |d| d.priority));
        self.closed = ov.is_some_and(|o| o.closed);
        let mut relax: Vec<RelaxStep> = def
            .map(|d| d.relax.as_slice())
            .unwrap_or(&[])
            .iter()
            .map(|r| RelaxStep {
                after_ms: dur_ms(r.after),
                min_level: r.min_level,
                drop: r.drop_skills.iter().map(|s| skills.intern(s)).collect(),
            })
            .collect();
        // The loader checks the order; sorting (stable) makes "steps reached" a prefix anyway.
        relax.sort_by_key(|r| r.after_ms);
        self.relax = relax;
        self.announce_ms = def.map_or(0, |d| dur_ms(d.announce_every));
        self.max_wait_ms = def.and_then(|d| d.max_wait).map(dur_ms);
        // The documented default when `max_wait` is set and no overflow is given.
        self.overflow = def
            .and_then(|d| d.overflow.clone())
            .unwrap_or(Overflow::Callback);
    }

    /// Steps reached after waiting `waited` ms.
    pub(super) fn steps_reached(&self, waited: u64) -> usize {
        self.relax
            .iter()
            .take_while(|r| r.after_ms <= waited)
            .count()
    }

    pub(super) fn record_handle(&mut self, ms: u64, window: usize) {
        if window == 0 {
            return;
        }
        while self.aht.len() >= window {
            if let Some(old) = self.aht.pop_front() {
                self.aht_sum = self.aht_sum.saturating_sub(old);
            }
        }
        self.aht.push_back(ms);
        self.aht_sum = self.aht_sum.saturating_add(ms);
    }

    /// Mean of the recent handle times, or `default` before the first one.
    pub(super) fn aht_ms(&self, default: u64) -> u64 {
        match self.aht.len() {
            0 => default,
            n => self.aht_sum / n as u64,
        }
    }

    pub(super) fn aht_samples(&self) -> usize {
        self.aht.len()
    }
}

/// Where a call is in its life in the ACD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// In the queue (in `Acd::waiting`).
    Waiting,
    /// Offered to this agent slot (out of `waiting`, keeping its key).
    Offered(usize),
    /// Answered by this agent slot; kept until the call ends (a failed bridge requeues it).
    Connected(usize),
}

/// One call (or callback) in a queue.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub id: CallId,
    pub queue: usize,
    pub lang: usize,
    pub call_skills: Vec<(usize, u8)>,
    pub topic: Option<String>,
    pub priority: i32,
    pub since: Time,
    pub callback: Option<String>,
    /// Requirements before relaxation (for the proficiency score) and now.
    pub base: Reqs,
    pub reqs: Reqs,
    pub step: usize,
    pub phase: Phase,
    pub key: Key,
    pub next_announce: Option<Time>,
    /// Sent to overflow already (only `Overflow::Callback` keeps an entry): no more max wait
    /// or announcements.
    pub overflowed: bool,
    /// Agents that missed this call, and until when they are not offered it again.
    pub excluded: Vec<(usize, Time)>,
    /// The deadline this entry has in the timer set.
    pub timer: Option<Time>,
}

impl Entry {
    /// A live caller (not a callback): announced to, subject to max wait.
    pub(super) fn live(&self) -> bool {
        self.callback.is_none()
    }

    pub(super) fn is_excluded(&self, slot: usize, now: Time) -> bool {
        self.excluded
            .iter()
            .any(|&(s, until)| s == slot && until > now)
    }
}
