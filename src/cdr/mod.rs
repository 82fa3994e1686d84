//! The call detail record: [`summarize`] is the ONE function that turns a call's events into
//! its `calls` row. The store writes its result when a call starts, ends or finishes wrap-up,
//! `Store::rebuild_calls` recomputes every row with it, and the seeder and the simulator use it
//! too, so no figure of a call is ever derived twice in two ways.
//!
//! This module sits just above `event` and below both `store` and `report`: the store projects
//! and sums rows with it, reports read them, and neither has to import the other for it.
//! Files: this one (events → row), `tally` (the additive sums over rows that a report computes
//! and the store's SQL mirrors), `agent` (agent states as staffing classes, and the state
//! lists the SQL filters on).
//!
//! Owns: the event semantics (what counts as queue wait, talk, wrap-up, an abandon, a callback
//! flow-out, which IVR outcome bucket a call falls into). Never does: I/O, SQL, clocks, or
//! thresholds that a report chooses (τ for short abandons and T for the service level are
//! applied by `Tally::add`, never baked into a row).

pub mod agent;
pub mod tally;

use serde::Serialize;

use crate::event::{CallEvent, EventKind};

/// Outcome written for a call whose `call_ended` has not been stored yet.
pub const IN_PROGRESS: &str = "in-progress";

/// IVR outcome buckets (the `ivr_outcome` column).
pub mod ivr {
    pub const SELF_SERVED: &str = "self-served";
    pub const AFTER_HOURS: &str = "after-hours";
    pub const REDIRECT_911: &str = "redirect-911";
    pub const REDIRECT_811: &str = "redirect-811";
    pub const REDIRECT_OTHER: &str = "redirect-other";
    pub const CALLBACK: &str = "callback";
    pub const ABANDONED_IVR: &str = "abandoned-ivr";
    pub const QUEUED: &str = "queued";
    pub const IN_PROGRESS: &str = "in-progress";
    pub const OTHER: &str = "other";
    /// Every bucket, in report column order.
    pub const ALL: [&str; 10] = [
        SELF_SERVED,
        AFTER_HOURS,
        REDIRECT_911,
        REDIRECT_811,
        REDIRECT_OTHER,
        CALLBACK,
        ABANDONED_IVR,
        QUEUED,
        IN_PROGRESS,
        OTHER,
    ];
}

/// One row of the `calls` table. Durations are milliseconds; flags are plain bools
/// (stored as 0/1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct CallRow {
    pub call_id: String,
    pub sip_call_id: Option<String>,
    pub from_uri: Option<String>,
    pub to_uri: Option<String>,
    /// The number dialled (user part of the To URI): which entry line the caller used.
    pub entry: Option<String>,
    pub plan_version: Option<String>,
    pub start_ms: i64,
    /// When we answered (2xx sent).
    pub answer_ms: Option<i64>,
    /// `None` while the call is in progress.
    pub end_ms: Option<i64>,
    pub language: Option<String>,
    /// Menu choices in order, `node:digit` joined by `/`.
    pub menu_path: Option<String>,
    pub outcome: String,
    pub ivr_outcome: String,
    /// The queue that answered the call, else the last queue it entered.
    pub queue: Option<String>,
    pub topic: Option<String>,
    pub agent: Option<String>,
    /// First queue entry: the queue wait starts here.
    pub queued_ms: Option<i64>,
    pub agent_answer_ms: Option<i64>,
    pub offered: bool,
    pub answered: bool,
    pub abandoned: bool,
    pub callback: bool,
    /// Queue wait (ring time included) until an agent answered, or until the caller left the
    /// queue (abandon, callback, overflow, end).
    pub wait_ms: Option<i64>,
    /// Agent answer to call end (hold included).
    pub talk_ms: Option<i64>,
    /// Call end to the agent's `wrapup_ended`.
    pub wrapup_ms: Option<i64>,
    pub ring_no_answer: i64,
    pub redirect_target: Option<String>,
    pub hangup_side: Option<String>,
    pub hangup_cause: Option<String>,
    /// Time of the last event (recovery closes interrupted calls here).
    pub last_ms: i64,
    pub last_seq: i64,
    /// How many times an agent sent the caller on (another queue, a plan target).
    pub transfers: i64,
}

/// Derive a call's row from its events (any order: they are sorted by `seq`). An empty slice
/// gives a default row with an empty id.
pub fn summarize(events: &[CallEvent]) -> CallRow {
    let mut evs: Vec<&CallEvent> = events.iter().collect();
    evs.sort_by_key(|e| e.seq);
    let mut row = CallRow {
        outcome: IN_PROGRESS.into(),
        ..CallRow::default()
    };
    let Some(first) = evs.first() else {
        return row;
    };
    row.call_id = first.call.clone();
    row.start_ms = first.at_ms;
    let mut menu: Vec<String> = Vec::new();
    // The queue the caller is in now, and how the last stay in a queue ended.
    let mut last_left: Option<(i64, String)> = None;
    let mut in_queue_since_last_entry = false;
    let mut callback_at: Option<i64> = None;
    let mut wrapup_at: Option<i64> = None;
    // Abandoned-resume: time held on the earlier call(s) this one resumed; this call's place
    // taken back by a later call.
    let mut held_before: i64 = 0;
    let mut resumed_by = false;
    // Agent talk in segments: an agent's answer to their transfer (to a queue: at once; to a
    // target: when it answers). Waiting again in a queue is not talk.
    let mut talk_from: Option<i64> = None;
    let mut talk_total: i64 = 0;
    let mut target_pending = false;
    for e in &evs {
        row.last_ms = row.last_ms.max(e.at_ms);
        row.last_seq = row.last_seq.max(i64::from(e.seq));
        match &e.kind {
            EventKind::CallStarted {
                sip_call_id,
                from,
                to,
                plan_version,
                ..
            } => {
                row.start_ms = e.at_ms;
                row.sip_call_id = Some(sip_call_id.clone());
                row.from_uri = Some(from.clone());
                row.to_uri = Some(to.clone());
                row.entry = entry_number(to);
                row.plan_version = Some(plan_version.clone());
            }
            EventKind::Answered => {
                row.answer_ms.get_or_insert(e.at_ms);
            }
            EventKind::LanguageChosen { lang } => row.language = Some(lang.clone()),
            EventKind::MenuChoice { node, digit, .. } => menu.push(format!("{node}:{digit}")),
            EventKind::QueueEntered { queue, topic, .. } => {
                row.offered = true;
                row.queued_ms.get_or_insert(e.at_ms);
                if row.agent.is_none() {
                    row.queue = Some(queue.clone());
                }
                if topic.is_some() {
                    row.topic = topic.clone();
                }
                in_queue_since_last_entry = true;
                last_left = None;
            }
            EventKind::RingNoAnswer { .. } => row.ring_no_answer += 1,
            // The first agent answer counts for the row (a later one follows a transfer);
            // every agent's talk counts towards talk time.
            EventKind::AgentAnswered { queue, agent } => {
                if row.agent.is_none() {
                    row.answered = true;
                    row.agent = Some(agent.clone());
                    row.queue = Some(queue.clone());
                    row.agent_answer_ms = Some(e.at_ms);
                }
                talk_from.get_or_insert(e.at_ms);
            }
            EventKind::AgentTransfer { to, .. } => {
                row.transfers += 1;
                if to.starts_with("target:") {
                    target_pending = true;
                } else if let Some(s) = talk_from.take() {
                    talk_total += (e.at_ms - s).max(0);
                }
            }
            EventKind::TransferAnswered { .. } if target_pending => {
                target_pending = false;
                if let Some(s) = talk_from.take() {
                    talk_total += (e.at_ms - s).max(0);
                }
            }
            EventKind::TransferFailed { .. } => target_pending = false,
            EventKind::QueueLeft { reason, .. } => {
                in_queue_since_last_entry = false;
                last_left = Some((e.at_ms, reason.clone()));
            }
            EventKind::CallbackRequested { .. } => {
                row.callback = true;
                callback_at.get_or_insert(e.at_ms);
            }
            EventKind::Redirected { target, .. } | EventKind::TransferStarted { target, .. } => {
                row.redirect_target = Some(target.clone());
            }
            EventKind::WrapupEnded { .. } => wrapup_at = Some(e.at_ms),
            EventKind::QueueResumed { held_s, .. } => {
                held_before = held_before.max(i64::from(*held_s) * 1000);
            }
            EventKind::ResumedBy { .. } => resumed_by = true,
            EventKind::CallEnded {
                outcome,
                side,
                cause,
            } => {
                row.end_ms = Some(e.at_ms);
                row.outcome = outcome.clone();
                row.hangup_side = Some(side.clone());
                row.hangup_cause = Some(cause.clone());
            }
            _ => {}
        }
    }
    if !menu.is_empty() {
        row.menu_path = Some(menu.join("/"));
    }
    if let Some(q) = row.queued_ms {
        if let Some(a) = row.agent_answer_ms {
            row.wait_ms = Some((a - q).max(0) + held_before);
        } else {
            // Left the queue: the queue_left time, else the callback request, else the end.
            let left = last_left
                .as_ref()
                .map(|(t, _)| *t)
                .or(callback_at)
                .or(row.end_ms)
                .unwrap_or(row.last_ms);
            row.wait_ms = Some((left - q).max(0) + held_before);
            let caller_hung_up_in_queue =
                in_queue_since_last_entry && row.hangup_side.as_deref() == Some("caller");
            let left_abandoned = matches!(&last_left, Some((_, r)) if r == "abandoned");
            row.abandoned = !row.callback && (left_abandoned || caller_hung_up_in_queue);
        }
    }
    if resumed_by && !row.answered && !row.callback {
        // Counted on the call that took the place back: one caller, at most one abandon.
        row.offered = false;
        row.abandoned = false;
        row.wait_ms = None;
    }
    if let (Some(_), Some(end)) = (row.agent_answer_ms, row.end_ms) {
        if let Some(s) = talk_from.take() {
            talk_total += (end - s).max(0);
        }
        row.talk_ms = Some(talk_total);
    }
    if let (Some(w), Some(end)) = (wrapup_at, row.end_ms) {
        row.wrapup_ms = Some((w - end).max(0));
    }
    row.ivr_outcome = ivr_bucket(&row).to_string();
    row
}

/// The IVR outcome bucket of a summarised call.
/// A call still in progress is `in-progress` whatever it did so far, so reports (which count
/// ended calls only) can drop it by its bucket.
fn ivr_bucket(row: &CallRow) -> &'static str {
    if row.end_ms.is_none() {
        return ivr::IN_PROGRESS;
    }
    if row.callback {
        return ivr::CALLBACK;
    }
    if row.offered {
        return ivr::QUEUED;
    }
    let o = row.outcome.as_str();
    match o {
        "self-served" | "completed" => return ivr::SELF_SERVED,
        "after-hours" => return ivr::AFTER_HOURS,
        "abandoned:ivr" | "abandoned:before-answer" => return ivr::ABANDONED_IVR,
        _ => {}
    }
    let target = o
        .strip_prefix("redirect:")
        .or_else(|| o.strip_prefix("transfer:"));
    match target {
        Some("911") => ivr::REDIRECT_911,
        Some("811") => ivr::REDIRECT_811,
        Some(_) => ivr::REDIRECT_OTHER,
        None => ivr::OTHER,
    }
}

/// `sip:311@ville.quebec.qc.ca;user=phone` → `311`.
fn entry_number(to: &str) -> Option<String> {
    let s = to.trim().trim_start_matches('<');
    let s = ["sips:", "sip:", "tel:"]
        .iter()
        .find_map(|p| s.strip_prefix(p))
        .unwrap_or(s);
    let user = s.split(['@', ';', '>']).next().unwrap_or("").trim();
    (!user.is_empty()).then(|| user.to_string())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a call's events with seconds offsets from `t0`.
    pub struct Script {
        pub call: String,
        pub t0: i64,
        pub events: Vec<CallEvent>,
    }

    impl Script {
        pub fn new(call: &str, t0: i64) -> Script {
            Script {
                call: call.into(),
                t0,
                events: Vec::new(),
            }
        }
        pub fn at(mut self, s: f64, kind: EventKind) -> Script {
            let seq = self.events.len() as u32;
            self.events.push(CallEvent {
                call: self.call.clone(),
                seq,
                at_ms: self.t0 + (s * 1000.0) as i64,
                kind,
            });
            self
        }
        pub fn started(self) -> Script {
            self.at(
                0.0,
                EventKind::CallStarted {
                    sip_call_id: "sip-1".into(),
                    from: "sip:4185551234@pbx".into(),
                    to: "sip:311@ville.qc.ca".into(),
                    transport: "udp".into(),
                    plan_version: "v1".into(),
                },
            )
        }
        pub fn queued(self, s: f64, queue: &str) -> Script {
            self.at(
                s,
                EventKind::QueueEntered {
                    queue: queue.into(),
                    position: 1,
                    skills: vec![],
                    topic: Some("collecte".into()),
                    priority: 0,
                },
            )
        }
        pub fn agent(self, s: f64, queue: &str, agent: &str) -> Script {
            self.at(
                s,
                EventKind::AgentAnswered {
                    queue: queue.into(),
                    agent: agent.into(),
                },
            )
        }
        pub fn left(self, s: f64, queue: &str, reason: &str) -> Script {
            self.at(
                s,
                EventKind::QueueLeft {
                    queue: queue.into(),
                    reason: reason.into(),
                },
            )
        }
        pub fn ended(self, s: f64, outcome: &str, side: &str) -> Script {
            self.at(
                s,
                EventKind::CallEnded {
                    outcome: outcome.into(),
                    side: side.into(),
                    cause: "bye".into(),
                },
            )
        }
        pub fn wrapup(self, s: f64, agent: &str) -> Script {
            self.at(
                s,
                EventKind::WrapupEnded {
                    agent: agent.into(),
                },
            )
        }
        pub fn row(&self) -> CallRow {
            summarize(&self.events)
        }
        pub fn clone_script(&self) -> Script {
            Script {
                call: self.call.clone(),
                t0: self.t0,
                events: self.events.clone(),
            }
        }
    }

    /// An answered call: IVR 20 s, queue 20 s → ring 10 s → agent, talk 240 s, wrap-up 30 s.
    pub fn answered_call(call: &str, t0: i64, wait_s: f64) -> Script {
        Script::new(call, t0)
            .started()
            .at(0.5, EventKind::Answered)
            .at(3.0, EventKind::LanguageChosen { lang: "fr".into() })
            .queued(20.0, "general")
            .at(
                20.0 + wait_s - 2.0,
                EventKind::Offered {
                    queue: "general".into(),
                    agent: "a1".into(),
                },
            )
            .agent(20.0 + wait_s, "general", "a1")
            .left(20.0 + wait_s, "general", "answered")
            .ended(20.0 + wait_s + 240.0, "completed", "caller")
            .wrapup(20.0 + wait_s + 270.0, "a1")
    }

    #[test]
    fn answered_call_has_wait_talk_and_wrapup() {
        let r = answered_call("c1", 1_000_000, 30.0).row();
        assert_eq!(r.call_id, "c1");
        assert_eq!(r.entry.as_deref(), Some("311"));
        assert_eq!(r.language.as_deref(), Some("fr"));
        assert!(r.offered && r.answered && !r.abandoned && !r.callback);
        assert_eq!(r.queued_ms, Some(1_020_000));
        assert_eq!(r.wait_ms, Some(30_000));
        assert_eq!(r.talk_ms, Some(240_000));
        assert_eq!(r.wrapup_ms, Some(30_000));
        assert_eq!(r.agent.as_deref(), Some("a1"));
        assert_eq!(r.topic.as_deref(), Some("collecte"));
        assert_eq!(r.ivr_outcome, ivr::QUEUED);
        assert_eq!(r.outcome, "completed");
        assert_eq!(r.end_ms, Some(1_290_000));
    }

    #[test]
    fn ring_no_answer_time_counts_as_wait() {
        let r = Script::new("c", 0)
            .started()
            .queued(10.0, "general")
            .at(
                12.0,
                EventKind::Offered {
                    queue: "general".into(),
                    agent: "a1".into(),
                },
            )
            .at(
                27.0,
                EventKind::RingNoAnswer {
                    queue: "general".into(),
                    agent: "a1".into(),
                },
            )
            .agent(35.0, "general", "a2")
            .ended(100.0, "completed", "agent")
            .row();
        assert_eq!(r.wait_ms, Some(25_000));
        assert_eq!(r.ring_no_answer, 1);
        assert_eq!(r.agent.as_deref(), Some("a2"));
        assert_eq!(r.talk_ms, Some(65_000));
        assert_eq!(r.wrapup_ms, None, "wrap-up not ended yet");
    }

    #[test]
    fn caller_hanging_up_in_queue_is_an_abandon() {
        let with_left = Script::new("c", 0)
            .started()
            .queued(10.0, "general")
            .left(13.0, "general", "abandoned")
            .ended(13.0, "queue:general", "caller")
            .row();
        assert!(with_left.abandoned && !with_left.answered);
        assert_eq!(with_left.wait_ms, Some(3_000));
        // The ACD may not emit queue_left: the caller hanging up while queued is enough.
        let without = Script::new("c", 0)
            .started()
            .queued(10.0, "general")
            .ended(70.0, "queue:general", "caller")
            .row();
        assert!(without.abandoned);
        assert_eq!(without.wait_ms, Some(60_000));
    }

    #[test]
    fn callback_is_a_flow_out_not_an_abandon() {
        let r = Script::new("c", 0)
            .started()
            .queued(10.0, "general")
            .at(
                70.0,
                EventKind::CallbackRequested {
                    queue: "general".into(),
                    number: "4185551234".into(),
                },
            )
            .left(70.0, "general", "callback")
            .ended(80.0, "queue:general", "caller")
            .row();
        assert!(r.offered && r.callback && !r.abandoned && !r.answered);
        assert_eq!(r.wait_ms, Some(60_000));
        assert_eq!(r.ivr_outcome, ivr::CALLBACK);
    }

    #[test]
    fn overflow_then_system_end_is_a_flow_out() {
        let r = Script::new("c", 0)
            .started()
            .queued(10.0, "general")
            .left(600.0, "general", "overflow")
            .ended(601.0, "transfer:voicemail", "system")
            .row();
        assert!(r.offered && !r.abandoned && !r.answered);
        assert_eq!(r.wait_ms, Some(590_000));
    }

    #[test]
    fn requeue_keeps_the_first_entry_as_wait_start() {
        let r = Script::new("c", 0)
            .started()
            .queued(10.0, "general")
            .left(40.0, "general", "overflow")
            .queued(40.0, "permis")
            .agent(100.0, "permis", "a7")
            .ended(200.0, "completed", "caller")
            .row();
        assert_eq!(r.wait_ms, Some(90_000));
        assert_eq!(r.queue.as_deref(), Some("permis"));
    }

    #[test]
    fn ivr_buckets() {
        let end = |o: &str| {
            Script::new("c", 0)
                .started()
                .ended(5.0, o, "system")
                .row()
                .ivr_outcome
        };
        assert_eq!(end("self-served"), ivr::SELF_SERVED);
        assert_eq!(end("completed"), ivr::SELF_SERVED);
        assert_eq!(end("after-hours"), ivr::AFTER_HOURS);
        assert_eq!(end("redirect:911"), ivr::REDIRECT_911);
        assert_eq!(end("transfer:811"), ivr::REDIRECT_811);
        assert_eq!(end("transfer:laval"), ivr::REDIRECT_OTHER);
        assert_eq!(end("abandoned:ivr"), ivr::ABANDONED_IVR);
        assert_eq!(end("abandoned:before-answer"), ivr::ABANDONED_IVR);
        assert_eq!(end("rejected:busy"), ivr::OTHER);
        assert_eq!(end("interrupted"), ivr::OTHER);
        let open = Script::new("c", 0).started().row();
        assert_eq!(open.ivr_outcome, ivr::IN_PROGRESS);
        assert_eq!(open.outcome, IN_PROGRESS);
        assert_eq!(open.end_ms, None);
    }

    #[test]
    fn a_resumed_place_is_one_caller_and_at_most_one_abandon() {
        // Call 1: waited 60 s, hung up; a later call took its place back.
        let first = Script::new("c1", 0)
            .started()
            .queued(10.0, "general")
            .left(70.0, "general", "abandoned")
            .ended(70.0, "queue:general", "caller")
            .at(400.0, EventKind::ResumedBy { by: "c2".into() })
            .row();
        assert!(!first.offered && !first.abandoned, "{first:?}");
        assert_eq!(first.wait_ms, None, "its wait is counted on c2");
        assert_eq!(first.ivr_outcome, ivr::OTHER);
        // Call 2: resumed with 60 s held, answered 30 s later: a 90 s wait.
        let second = Script::new("c2", 300_000)
            .started()
            .queued(10.0, "general")
            .at(
                10.0,
                EventKind::QueueResumed {
                    queue: "general".into(),
                    from: "c1".into(),
                    held_s: 60,
                },
            )
            .agent(40.0, "general", "a1")
            .ended(100.0, "completed", "caller")
            .row();
        assert!(second.offered && second.answered);
        assert_eq!(second.wait_ms, Some(90_000));
        // Call 2 abandons too: one abandon in all, with the whole time held.
        let again = Script::new("c2", 300_000)
            .started()
            .queued(10.0, "general")
            .at(
                10.0,
                EventKind::QueueResumed {
                    queue: "general".into(),
                    from: "c1".into(),
                    held_s: 60,
                },
            )
            .left(20.0, "general", "abandoned")
            .ended(20.0, "queue:general", "caller")
            .row();
        assert!(again.abandoned && again.offered);
        assert_eq!(again.wait_ms, Some(70_000));
    }

    #[test]
    fn talk_time_stays_right_across_agent_transfers() {
        // a1 answers at 40 s, sends the caller to another queue at 100 s; a2 answers at 130 s;
        // the caller hangs up at 190 s: talk is 60 + 60 s, not the 150 s since the first answer.
        let r = Script::new("t1", 0)
            .started()
            .queued(10.0, "general")
            .agent(40.0, "general", "a1")
            .at(
                100.0,
                EventKind::AgentTransfer {
                    agent: "a1".into(),
                    to: "queue:permis".into(),
                },
            )
            .queued(100.0, "permis")
            .agent(130.0, "permis", "a2")
            .ended(190.0, "queue:permis", "caller")
            .row();
        assert_eq!(r.transfers, 1);
        assert_eq!(r.agent.as_deref(), Some("a1"));
        assert_eq!(r.talk_ms, Some(120_000));
        assert_eq!(r.wait_ms, Some(30_000), "the first wait");
        // To a target: the agent is busy until the target answers, then the call is theirs.
        let r = Script::new("t2", 0)
            .started()
            .queued(10.0, "general")
            .agent(40.0, "general", "a1")
            .at(
                100.0,
                EventKind::AgentTransfer {
                    agent: "a1".into(),
                    to: "target:811".into(),
                },
            )
            .at(
                110.0,
                EventKind::TransferAnswered {
                    target: "811".into(),
                },
            )
            .ended(400.0, "transfer:811", "caller")
            .row();
        assert_eq!(r.transfers, 1);
        assert_eq!(r.talk_ms, Some(70_000));
    }

    #[test]
    fn order_of_input_does_not_matter() {
        let s = answered_call("c1", 0, 12.0);
        let mut rev = s.events.clone();
        rev.reverse();
        assert_eq!(summarize(&rev), s.row());
    }

    #[test]
    fn entry_numbers() {
        assert_eq!(entry_number("sip:311@x").as_deref(), Some("311"));
        assert_eq!(
            entry_number("<sip:+18193311311@x;user=phone>").as_deref(),
            Some("+18193311311")
        );
        assert_eq!(entry_number("tel:311").as_deref(), Some("311"));
        assert_eq!(entry_number(""), None);
    }
}
