//! Read-only questions about the ACD: an agent's state, a caller's position and estimated
//! wait (inputs gathered here, formula in `ewt`), and the admin snapshot.
//!
//! Never changes state, so the admin API and statistics cannot disturb routing.

use super::engine::Acd;
use super::ewt;
use super::matching::{qualifies, relaxed, Reqs};
use super::queue::{Entry, Phase};
use super::types::{
    AgentSnapshot, AgentState, CallId, CallSnapshot, QueueSnapshot, Snapshot, Time,
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
            Phase::Waiting => Some(self.position_of(e)),
        }
    }

    fn position_of(&self, e: &Entry) -> u32 {
        let mine: Vec<usize> = self.staffed_for(e, &e.reqs).collect();
        let mut n: u32 = 1;
        for k in self.waiting.range(..e.key) {
            let Some(o) = self.calls.get(&k.2) else {
                continue;
            };
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
            }
        }
        n
    }

    /// Staffed agents (logged in, not paused) who could take `e` under requirements `reqs`,
    /// whatever they are doing now.
    fn staffed_for<'a>(&'a self, e: &'a Entry, reqs: &'a Reqs) -> impl Iterator<Item = usize> + 'a {
        self.agents
            .iter()
            .enumerate()
            .filter(move |(_, a)| a.staffed() && a.serves(e.queue) && qualifies(&a.levels, reqs))
            .map(|(s, _)| s)
    }

    /// Estimated wait from now, in ms (see `ewt::estimate`): position, the staffed eligible
    /// agents and when each is expected to free, and the queue's recent handle time. When no
    /// staffed agent qualifies yet, the first relaxation step that brings one is used and the
    /// estimate is at least the time until that step. None: nobody staffed could ever take it.
    pub fn estimated_wait_ms(&self, call: CallId, now: Time) -> Option<u64> {
        let e = self.calls.get(&call)?;
        match e.phase {
            Phase::Connected(_) => return None,
            Phase::Offered(_) => return Some(0),
            Phase::Waiting => {}
        }
        let q = self.queues.get(e.queue)?;
        let aht = q.aht_ms(self.cfg.default_aht_ms);
        let position = self.position_of(e);
        let mut frees: Vec<u64> = self
            .staffed_for(e, &e.reqs)
            .map(|s| self.time_to_free(s, now))
            .collect();
        let mut floor = 0;
        if frees.is_empty() {
            let waited = now.saturating_sub(e.since);
            for k in e.step + 1..=q.relax.len() {
                let r = relaxed(&e.base, q.relax[..k].iter());
                frees = self
                    .staffed_for(e, &r)
                    .map(|s| self.time_to_free(s, now))
                    .collect();
                if !frees.is_empty() {
                    floor = q.relax[k - 1].after_ms.saturating_sub(waited);
                    break;
                }
            }
        }
        ewt::estimate(&frees, position, aht).map(|w| w.max(floor))
    }

    /// When a staffed agent is expected to take its next call, from now: idle 0; ringing for
    /// another call, that call's whole handle time; on a call, the rest of the queue's mean
    /// handle time (at least a tenth of it: a long call is not about to end by definition);
    /// in wrap-up, the rest of the wrap-up.
    fn time_to_free(&self, slot: usize, now: Time) -> u64 {
        let Some(a) = self.agents.get(slot) else {
            return u64::MAX;
        };
        let default = self.cfg.default_aht_ms;
        let aht_of = |q: Option<usize>| {
            q.and_then(|q| self.queues.get(q))
                .map_or(default, |q| q.aht_ms(default))
        };
        match a.state {
            AgentState::Available => 0,
            AgentState::Reserved | AgentState::Ringing => {
                aht_of(a.call.and_then(|c| self.calls.get(&c)).map(|e| e.queue))
            }
            AgentState::OnCall => {
                let h = aht_of(a.handle_queue);
                h.saturating_sub(now.saturating_sub(a.handle_start))
                    .max(h / 10)
            }
            AgentState::WrapUp => a.wrap_until.saturating_sub(now),
            AgentState::LoggedOut | AgentState::Paused => u64::MAX,
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
