//! Read-only questions about the ACD: an agent's state, a caller's position and estimated
//! wait (inputs gathered here, formula in `ewt`), and the admin snapshot.
//!
//! Never changes state, so the admin API and statistics cannot disturb routing.

use super::engine::Acd;
use super::ewt;
use super::matching::{qualifies, relaxed, Reqs};
use super::queue::{Entry, Phase};
use super::types::{
    AgentSnapshot, AgentState, Announcement, CallId, CallSnapshot, QueueSnapshot, Snapshot, Time,
};

impl Acd {
    pub fn agent_state(&self, agent: &str) -> Option<AgentState> {
        let &slot = self.agent_ids.get(agent)?;
        self.agents.get(slot).map(|a| a.state)
    }

    /// 1-based position among the waiting calls that compete with this one: those ahead of it
    /// in the order (priority, then oldest) that at least one staffed agent able to take this
    /// call could take instead. With no such agent staffed, the calls ahead in its own queue.
    /// A call ringing an agent is 1; a connected or unknown call has none.
    pub fn position(&self, call: CallId) -> Option<u32> {
        let e = self.calls.get(&call)?;
        match e.phase {
            Phase::Connected(_) => None,
            Phase::Offered(_) => Some(1),
            Phase::Waiting => Some(self.ahead_of(e).0.saturating_add(1)),
        }
    }

    /// Competing calls ahead of `e`, and how many of them are live callers (not callbacks).
    fn ahead_of(&self, e: &Entry) -> (u32, u32) {
        let mine: Vec<usize> = self.staffed_for(e, &e.reqs).collect();
        let (mut n, mut live) = (0u32, 0u32);
        for k in self.waiting.range(..e.key) {
            let Some(o) = self.calls.get(&k.2) else {
                continue;
            };
            if o.only.is_some() {
                continue; // waits for one named agent, not for this queue's
            }
            let competes = if mine.is_empty() {
                o.queue == e.queue
            } else {
                mine.iter().any(|&s| {
                    let a = &self.agents[s];
                    a.serves(o.queue) && qualifies(&a.levels, &o.reqs)
                })
            };
            if competes {
                n = n.saturating_add(1);
                if o.live() {
                    live = live.saturating_add(1);
                }
            }
        }
        (n, live)
    }

    /// Staffed agents (logged in, not paused) who could take `e` under requirements `reqs`,
    /// whatever they are doing now — except those who asked to pause or log out after their
    /// call (end of shift, lunch): they will not take another.
    fn staffed_for<'a>(&'a self, e: &'a Entry, reqs: &'a Reqs) -> impl Iterator<Item = usize> + 'a {
        self.agents
            .iter()
            .enumerate()
            .filter(move |(_, a)| {
                a.staffed()
                    && a.pending.is_none()
                    && a.serves(e.queue)
                    && qualifies(&a.levels, reqs)
            })
            .map(|(s, _)| s)
    }

    /// Estimated wait from now, in ms (see `announcement`).
    pub fn estimated_wait_ms(&self, call: CallId, now: Time) -> Option<u64> {
        self.announcement(call, now).and_then(|a| a.estimate_ms)
    }

    /// Position and estimated wait, with the inputs the estimate used (`ewt::estimate`): the
    /// staffed eligible agents and when each is expected to free, the agents that later
    /// relaxation steps add (from the time of their step), the calls ahead and how many are
    /// live, the queue's recent handle time, patience and ring time. `offer_callback` and
    /// `late` are left false (the announcement schedule sets them). None for a call that is
    /// not waiting (connected, or unknown); a call being rung is at position 1 with no wait.
    pub fn announcement(&self, call: CallId, now: Time) -> Option<Announcement> {
        let e = self.calls.get(&call)?;
        match e.phase {
            Phase::Connected(_) => return None,
            Phase::Offered(_) => {
                return Some(Announcement {
                    position: 1,
                    estimate_ms: Some(0),
                    ..Announcement::default()
                })
            }
            Phase::Waiting => {}
        }
        let q = self.queues.get(e.queue)?;
        let aht = q.aht_ms(self.cfg.default_aht_ms);
        let (ahead, ahead_live) = self.ahead_of(e);
        let mut pool: Vec<usize> = self.staffed_for(e, &e.reqs).collect();
        let mut agents: Vec<ewt::Agent> = pool
            .iter()
            .map(|&s| ewt::Agent {
                from_ms: 0,
                free: self.time_to_free(s, now),
            })
            .collect();
        let now_count = agents.len();
        let waited = now.saturating_sub(e.since);
        for k in e.step + 1..=q.relax.len() {
            let r = relaxed(&e.base, q.relax[..k].iter());
            let from_ms = q.relax[k - 1].after_ms.saturating_sub(waited);
            let more: Vec<usize> = self
                .staffed_for(e, &r)
                .filter(|s| !pool.contains(s))
                .collect();
            for s in more {
                pool.push(s);
                agents.push(ewt::Agent {
                    from_ms,
                    free: self.time_to_free(s, now),
                });
            }
        }
        let leave_rate = q.leaving.rate();
        let est = ewt::estimate(&ewt::Inputs {
            ahead,
            ahead_live,
            agents: &agents,
            aht_ms: aht,
            leave_rate,
            ring_ms: q.ring.mean_ms(),
        });
        Some(Announcement {
            position: ahead.saturating_add(1),
            estimate_ms: est.map(|x| x.wait_ms),
            agents: u32::try_from(now_count).unwrap_or(u32::MAX),
            agents_later: u32::try_from(agents.len() - now_count).unwrap_or(u32::MAX),
            aht_ms: aht,
            first_free_ms: est.map_or(0, |x| x.first_free_ms),
            patience_ms: (leave_rate > 0.0).then(|| (1.0 / leave_rate).min(1e15) as u64),
            offer_callback: false,
            late: false,
        })
    }

    /// When a staffed agent is expected to take its next call, from now: idle now; in
    /// wrap-up, at its end; on a call, after the rest of a call that has lasted this long
    /// (its distribution from the queue's recent handle times; with few calls that long, its
    /// mean, else the queue's mean); ringing for another call, after a whole call.
    fn time_to_free(&self, slot: usize, now: Time) -> ewt::Free {
        let Some(a) = self.agents.get(slot) else {
            return ewt::Free::Mean(u64::MAX);
        };
        let default = self.cfg.default_aht_ms;
        let queue_of = |q: Option<usize>| q.and_then(|q| self.queues.get(q));
        match a.state {
            AgentState::Available => ewt::Free::At(0),
            AgentState::Reserved | AgentState::Ringing => {
                let q = queue_of(a.call.and_then(|c| self.calls.get(&c)).map(|e| e.queue));
                match q.and_then(|q| q.handle.residual_quantiles(0, 0)) {
                    Some(r) => ewt::Free::Quantiles(r),
                    None => ewt::Free::Mean(q.map_or(default, |q| q.aht_ms(default))),
                }
            }
            AgentState::OnCall => {
                let elapsed = now.saturating_sub(a.handle_start);
                // Still talking: the whole wrap-up is ahead.
                let wrap = a.wrapup_ms.unwrap_or(self.cfg.default_wrapup_ms);
                let q = queue_of(a.handle_queue);
                if let Some(r) = q.and_then(|q| q.handle.residual_quantiles(elapsed, wrap)) {
                    return ewt::Free::Quantiles(r);
                }
                let rest = q.and_then(|q| q.handle.mean_residual(elapsed, wrap));
                let mean = q.map_or(default, |q| q.aht_ms(default));
                ewt::Free::Mean(rest.unwrap_or(mean).max(1))
            }
            AgentState::WrapUp => ewt::Free::At(a.wrap_until.saturating_sub(now)),
            AgentState::LoggedOut | AgentState::Paused => ewt::Free::Mean(u64::MAX),
        }
    }

    /// Queues (in the plan, or holding callers), their waiting and ringing calls best first,
    /// and every agent in the file (plus removed ones still logged in), by name.
    pub fn snapshot(&self, now: Time) -> Snapshot {
        let mut entries: Vec<&Entry> = self
            .calls
            .values()
            .map(|e| &**e)
            .filter(|e| !matches!(e.phase, Phase::Connected(_)))
            .collect();
        entries.sort_by_key(|e| e.key);
        let mut order: Vec<usize> = (0..self.queues.len()).collect();
        order.sort_by(|&a, &b| self.queues[a].name.cmp(&self.queues[b].name));
        let mut queues = Vec::new();
        for qid in order {
            let q = &self.queues[qid];
            let calls: Vec<CallSnapshot> = entries
                .iter()
                .filter(|e| e.queue == qid)
                .map(|e| CallSnapshot {
                    call: e.id,
                    waited_ms: now.saturating_sub(e.since),
                    priority: -e.key.0,
                    lang: self.skills.name(e.lang).to_string(),
                    topic: e.topic.clone(),
                    callback: e.callback.is_some(),
                    callback_number: e.callback.clone(),
                    relax_step: e.step,
                    offered_to: match e.phase {
                        Phase::Offered(s) => self.agents.get(s).map(|a| a.id.clone()),
                        _ => None,
                    },
                })
                .collect();
            if !q.in_plan && calls.is_empty() {
                continue;
            }
            let staffed = self
                .agents
                .iter()
                .filter(|a| a.staffed() && a.serves(qid))
                .count();
            queues.push(QueueSnapshot {
                name: q.name.clone(),
                in_plan: q.in_plan,
                priority: q.priority,
                closed: q.closed,
                aht_ms: q.aht_ms(self.cfg.default_aht_ms),
                aht_samples: q.aht_samples(),
                staffed: u32::try_from(staffed).unwrap_or(u32::MAX),
                calls,
            });
        }
        let agents = self
            .agent_ids
            .values()
            .filter_map(|&s| self.agents.get(s))
            .filter(|a| a.active || a.state != AgentState::LoggedOut)
            .map(|a| AgentSnapshot {
                id: a.id.clone(),
                state: a.state,
                reason: a.reason.clone(),
                since: a.since,
                call: a.call,
                registered: a.registered,
                scheduled: a.scheduled,
                misses: a.misses,
            })
            .collect();
        Snapshot {
            at: now,
            season: self.season.clone(),
            queues,
            agents,
        }
    }
}
