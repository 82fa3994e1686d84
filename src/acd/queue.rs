//! Queues and the calls waiting in them: a queue's definition as it applies in the current
//! season (skills, priority, closed, relaxation, announcements, callbacks, resume, max wait,
//! overflow), what it learnt from recent calls (`stats`), and one waiting call (`Entry`) with
//! its ordering key.
//!
//! Never decides who gets a call (`dispatch` does) and never reads the clock.

use std::time::Duration;

use super::matching::{Interner, RelaxStep, Reqs};
use super::stats::{HandleTimes, Leaving, RingTime};
use super::types::{CallId, Caller, Time};
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
    pub offer_callback: bool,
    pub callback_threshold_ms: u64,
    pub resume_window_ms: u64,
    pub resume_withheld: bool,
    /// Recent handle times (talk + wrap-up).
    pub handle: HandleTimes,
    /// Waiting callers leaving unserved.
    pub leaving: Leaving,
    /// Offer to answer.
    pub ring: RingTime,
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
            offer_callback: false,
            callback_threshold_ms: 0,
            resume_window_ms: 0,
            resume_withheld: false,
            handle: HandleTimes::default(),
            leaving: Leaving::default(),
            ring: RingTime::default(),
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
        self.offer_callback = def.is_some_and(|d| d.offer_callback);
        self.callback_threshold_ms = def.map_or(0, |d| dur_ms(d.callback_threshold));
        self.resume_window_ms = def.map_or(0, |d| dur_ms(d.resume_window));
        self.resume_withheld = def.is_some_and(|d| d.resume_withheld);
    }

    /// Steps reached after waiting `waited` ms.
    pub(super) fn steps_reached(&self, waited: u64) -> usize {
        self.relax
            .iter()
            .take_while(|r| r.after_ms <= waited)
            .count()
    }

    pub(super) fn record_handle(&mut self, ms: u64, window: usize) {
        self.handle.push(ms, window);
    }

    /// Mean of the recent handle times, or `default` before the first one.
    pub(super) fn aht_ms(&self, default: u64) -> u64 {
        self.handle.mean().unwrap_or(default)
    }

    pub(super) fn aht_samples(&self) -> usize {
        self.handle.len()
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
    /// When this call entered the queue (`since` is older for a callback or a resumed place).
    pub entered: Time,
    /// Time held on earlier calls whose place this one resumed.
    pub held_before_ms: u64,
    pub callback: Option<String>,
    pub caller: Option<Caller>,
    /// Requirements before relaxation (for the proficiency score) and now.
    pub base: Reqs,
    pub reqs: Reqs,
    pub step: usize,
    pub phase: Phase,
    pub key: Key,
    pub next_announce: Option<Time>,
    /// When the caller was last told an estimate, and the estimate (for `late`).
    pub told: Option<(Time, u64)>,
    /// The late announcement for the current `told` was made.
    pub late_done: bool,
    /// When the current offer was made (ring time).
    pub offered_at: Time,
    /// Sent to overflow already (only `Overflow::Callback` keeps an entry): no more max wait
    /// or announcements.
    pub overflowed: bool,
    /// Agents that missed this call, and until when they are not offered it again.
    pub excluded: Vec<(usize, Time)>,
    /// The deadline this entry has in the timer set.
    pub timer: Option<Time>,
    /// Directed to this agent slot until this time (an agent's transfer to a colleague).
    pub only: Option<(usize, Time)>,
}

/// How long a caller transferred to a named colleague waits for that colleague to be free
/// before the queue's own rules apply.
pub const DIRECTED_MS: u64 = 30_000;

impl Entry {
    /// A live caller (not a callback): announced to, subject to max wait.
    pub(super) fn live(&self) -> bool {
        self.callback.is_none()
    }

    /// The agent slot this call is still reserved for, if any.
    pub(super) fn directed(&self, now: Time) -> Option<usize> {
        self.only.filter(|&(_, until)| until > now).map(|(s, _)| s)
    }

    pub(super) fn is_excluded(&self, slot: usize, now: Time) -> bool {
        self.excluded
            .iter()
            .any(|&(s, until)| s == slot && until > now)
    }
}
