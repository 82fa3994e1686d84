//! Calls in and out of the queue: a call entering (with its resumed place), leaving, turning
//! into a callback, its requirements and ordering key as it waits (relaxation, season), its
//! one deadline (relaxation step, miss exclusion, max wait, announcements), overflow.
//!
//! Who gets a call is `dispatch` (matching); what a waiting caller is told is `announce`. Like
//! them, never panics, reads the clock or does I/O.

use super::engine::Acd;
use super::matching::{base_reqs, parse_skill, relaxed, Reqs};
use super::queue::{Entry, Phase, DIRECTED_MS};
use super::timers::TimerKey;
use super::types::{AgentState, CallId, Caller, CancelReason, Output, Time};
use crate::dialplan::model::Overflow;

impl Acd {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn call_queued(
        &mut self,
        call: CallId,
        queue: &str,
        lang: &str,
        skills: &[String],
        topic: Option<String>,
        priority: i32,
        (since, callback, caller, agent): (Time, Option<String>, Option<Caller>, Option<String>),
        now: Time,
    ) {
        if self.calls.contains_key(&call) {
            return; // duplicate: the first one holds the place
        }
        let qid = self.queue_id(queue);
        let lang = self.skills.intern(lang);
        let call_skills: Vec<(usize, u8)> = skills
            .iter()
            .map(|s| {
                let (name, lvl) = parse_skill(s);
                (self.skills.intern(name), lvl)
            })
            .collect();
        let mut overflowed = false;
        if self.queues[qid].closed {
            let to = self.queues[qid].overflow.clone();
            self.out.push_back(Output::Overflow {
                call,
                to: to.clone(),
            });
            if to != Overflow::Callback {
                return;
            }
            // A callback overflow keeps the place the caller would have had.
            overflowed = true;
        }
        let mut entry = Entry {
            id: call,
            queue: qid,
            lang,
            call_skills,
            topic,
            priority,
            since,
            entered: since,
            held_before_ms: 0,
            callback,
            caller,
            base: Reqs::default(),
            reqs: Reqs::default(),
            step: 0,
            phase: Phase::Waiting,
            key: (0, since, call),
            next_announce: None,
            told: None,
            late_done: false,
            offered_at: now,
            overflowed,
            excluded: Vec::new(),
            timer: None,
            only: None,
        };
        // A transfer to a signed-out colleague is an ordinary queued call.
        entry.only = agent
            .and_then(|a| self.slot(&a))
            .filter(|&s| {
                self.agents
                    .get(s)
                    .is_some_and(|a| a.state != AgentState::LoggedOut)
            })
            .map(|s| (s, now.saturating_add(DIRECTED_MS)));
        self.resume_place(&mut entry, now);
        entry.key = (0, entry.since, call);
        self.calls.insert(call, Box::new(entry));
        self.refresh_entry(call, now);
        self.settle_call(call, now);
        // First announcement at once if the caller has to wait, then every period.
        let Some(e) = self.calls.get(&call) else {
            return;
        };
        let period = self.queues[e.queue].announce_ms;
        if e.phase == Phase::Waiting && e.live() && !e.overflowed && period > 0 {
            self.announce(call, now, false);
            if let Some(e) = self.calls.get_mut(&call) {
                e.next_announce = Some(now.saturating_add(period));
            }
            self.reschedule_call(call);
        }
    }

    pub(super) fn call_left(&mut self, call: CallId, now: Time) {
        let Some(e) = self.calls.get(&call) else {
            return;
        };
        match e.phase {
            Phase::Waiting => {
                if let Some(e) = self.take_call(call) {
                    self.left_unserved(&e, now, true);
                }
            }
            Phase::Offered(slot) => {
                self.cancel_offer(call, slot, CancelReason::CallerLeft);
                if let Some(e) = self.take_call(call) {
                    self.left_unserved(&e, now, true);
                }
                self.go_ready(slot, now);
                self.try_offer_agent(slot, now);
            }
            Phase::Connected(slot) => self.call_ended(call, slot, now),
        }
    }

    /// A live caller left the queue without an agent (hung up, or overflowed away): count the
    /// departure for the queue's patience, and keep the place of one who hung up.
    fn left_unserved(&mut self, e: &Entry, now: Time, hung_up: bool) {
        if !e.live() {
            return;
        }
        if let Some(q) = self.queues.get_mut(e.queue) {
            q.leaving.record(now.saturating_sub(e.entered), true);
        }
        if hung_up {
            self.keep_place(e, now);
        }
    }

    pub(super) fn callback_requested(&mut self, call: CallId, number: String, now: Time) {
        let Some(e) = self.calls.get_mut(&call) else {
            return;
        };
        if matches!(e.phase, Phase::Connected(_)) {
            return;
        }
        // Same entry, same key: the place is kept. A callback is never announced to and
        // never times out.
        if e.live() {
            let waited = now.saturating_sub(e.entered);
            if let Some(q) = self.queues.get_mut(e.queue) {
                q.leaving.record(waited, false);
            }
        }
        e.callback = Some(number);
        e.next_announce = None;
        if let Phase::Offered(slot) = e.phase {
            self.cancel_offer(call, slot, CancelReason::CallbackRequested);
            self.go_ready(slot, now);
            self.requeue(call, None, now);
            self.settle_call(call, now);
            self.try_offer_agent(slot, now);
        } else {
            self.reschedule_call(call);
        }
    }

    /// Recompute a call's requirements (queue skills for the season, relaxation steps reached)
    /// and ordering key. Returns whether the requirements changed.
    pub(super) fn refresh_entry(&mut self, id: CallId, now: Time) -> bool {
        let Some(e) = self.calls.get_mut(&id) else {
            return false;
        };
        let Some(q) = self.queues.get(e.queue) else {
            return false;
        };
        let base = base_reqs(e.lang, &q.skills, &e.call_skills);
        let step = q.steps_reached(now.saturating_sub(e.since));
        let reqs = relaxed(&base, q.relax[..step].iter());
        let changed = reqs != e.reqs || step != e.step;
        e.base = base;
        e.reqs = reqs;
        e.step = step;
        let key = (
            -(i64::from(q.priority) + i64::from(e.priority)),
            e.since,
            id,
        );
        if e.phase == Phase::Waiting {
            self.waiting.remove(&e.key);
            self.waiting.insert(key);
        }
        e.key = key;
        if q.announce_ms == 0 || !e.live() || e.overflowed {
            e.next_announce = None;
        } else if e.next_announce.is_none() {
            e.next_announce = Some(now.saturating_add(q.announce_ms));
        }
        changed
    }

    /// Put a call's deadline at the earliest of: its next relaxation step, the end of a miss
    /// exclusion, and — while it waits as a live caller — max wait and the next announcement.
    pub(super) fn reschedule_call(&mut self, id: CallId) {
        let Some(e) = self.calls.get(&id) else {
            return;
        };
        let at = match (e.phase, self.queues.get(e.queue)) {
            (Phase::Connected(_), _) | (_, None) => None,
            (phase, Some(q)) => {
                let mut at: Option<Time> = None;
                let mut consider = |t: Time| at = Some(at.map_or(t, |a: Time| a.min(t)));
                if let Some(st) = q.relax.get(e.step) {
                    consider(e.since.saturating_add(st.after_ms));
                }
                for &(_, until) in &e.excluded {
                    consider(until);
                }
                if let Some((_, until)) = e.only {
                    consider(until);
                }
                if phase == Phase::Waiting && e.live() && !e.overflowed {
                    if let Some(t) = self.max_wait_at(e) {
                        consider(t);
                    }
                    if let Some(n) = e.next_announce {
                        consider(n);
                    }
                    if let Some(t) = self.late_deadline(e) {
                        consider(t);
                    }
                }
                at
            }
        };
        let Some(e) = self.calls.get_mut(&id) else {
            return;
        };
        self.timers.set(&mut e.timer, TimerKey::Call(id), at);
    }

    pub(super) fn call_timer(&mut self, id: CallId, now: Time) {
        let Some(e) = self.calls.get_mut(&id) else {
            return;
        };
        if matches!(e.phase, Phase::Connected(_)) {
            return;
        }
        let before = e.excluded.len();
        e.excluded.retain(|&(_, until)| until > now);
        let undirected = e.only.is_some_and(|(_, until)| until <= now);
        if undirected {
            e.only = None;
        }
        let pruned = e.excluded.len() != before || undirected;
        let relaxed = self.refresh_entry(id, now);
        if relaxed || pruned {
            self.try_offer_call(id, now);
        }
        let Some(e) = self.calls.get(&id) else {
            return;
        };
        let waiting_live = e.phase == Phase::Waiting && e.live() && !e.overflowed;
        if waiting_live && self.overdue(e, now) {
            self.overflow(id, now);
            return;
        }
        self.announce_due(id, now);
        self.reschedule_call(id);
    }

    /// Max wait reached (or a closed queue): the caller leaves, except with a callback
    /// overflow, where the entry keeps its place until the server reports the caller's choice.
    fn overflow(&mut self, id: CallId, now: Time) {
        let Some(e) = self.calls.get_mut(&id) else {
            return;
        };
        let to = self
            .queues
            .get(e.queue)
            .map_or(Overflow::Callback, |q| q.overflow.clone());
        self.out.push_back(Output::Overflow {
            call: id,
            to: to.clone(),
        });
        if to == Overflow::Callback {
            e.overflowed = true;
            e.next_announce = None;
            self.reschedule_call(id);
        } else if let Some(e) = self.take_call(id) {
            self.left_unserved(&e, now, false);
        }
    }

    pub(super) fn remove_call(&mut self, id: CallId) {
        self.take_call(id);
    }

    /// Remove a call from the ACD and hand back its entry.
    fn take_call(&mut self, id: CallId) -> Option<Box<Entry>> {
        let mut e = self.calls.remove(&id)?;
        if e.phase == Phase::Waiting {
            self.waiting.remove(&e.key);
        }
        self.timers.set(&mut e.timer, TimerKey::Call(id), None);
        Some(e)
    }

    /// Back in the queue at its own place (its key never changed), optionally not offered to
    /// `exclude` for one ring timeout.
    pub(super) fn requeue(&mut self, id: CallId, exclude: Option<usize>, now: Time) {
        let Some(e) = self.calls.get_mut(&id) else {
            return;
        };
        if e.phase != Phase::Waiting {
            e.phase = Phase::Waiting;
            self.waiting.insert(e.key);
        }
        if let Some(s) = exclude {
            e.excluded.retain(|&(x, _)| x != s);
            e.excluded
                .push((s, now.saturating_add(self.cfg.ring_timeout_ms)));
        }
    }

    /// Offer, by the queue's rules, the callers whose named colleague paused or signed out.
    pub(super) fn settle_undirected(&mut self, now: Time) {
        for id in std::mem::take(&mut self.undirected) {
            self.try_offer_call(id, now);
            self.reschedule_call(id);
        }
    }

    /// After a call (re)enters the queue: offer it, else overflow it if its time is up.
    pub(super) fn settle_call(&mut self, id: CallId, now: Time) {
        self.try_offer_call(id, now);
        if let Some(e) = self.calls.get(&id) {
            if e.phase == Phase::Waiting && e.live() && !e.overflowed && self.overdue(e, now) {
                self.overflow(id, now);
                return;
            }
        }
        self.reschedule_call(id);
    }
}
