//! A call waiting for an agent: it is handed to the ACD, hears hold music, position and
//! estimated-wait announcements in its own language, may press 1 to be called back (keeping
//! its place), and follows the ACD's decisions — ring this agent, stop ringing, overflow.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use tokio::sync::mpsc;
use tracing::{debug, info};

use super::Call;
use crate::acd::{CallId, Input, OfferFailure};
use crate::dialplan::model::{Overflow, QueueDef, QueueNode};
use crate::event::EventKind;
use crate::media::prompt::Lang;
use crate::server::acd_task::{acd_now, AcdCmd, ToQueued};

/// Tokens for playlists the queue phase starts (the IVR's own tokens are small integers).
const HOLD: u64 = u64::MAX - 1;
const ANNOUNCE: u64 = u64::MAX - 2;
const CALLBACK_DONE: u64 = u64::MAX - 3;

static NEXT_ACD_ID: AtomicU64 = AtomicU64::new(1);

pub struct Queued {
    pub acd_id: CallId,
    pub rx: mpsc::UnboundedReceiver<ToQueued>,
    node: QueueNode,
    def: Option<QueueDef>,
    lang: Lang,
    path: Vec<String>,
    callback_number: Option<String>,
    /// The agent being offered the call (its phones ring).
    offered: Option<String>,
    /// Left the queue (answered, callback, overflow): no more ACD decisions apply.
    done: bool,
    /// An announcement is playing: the next one waits for its period rather than cut it.
    announcing: bool,
}

impl Call {
    pub(super) fn enqueue(
        &mut self,
        node: QueueNode,
        lang: Lang,
        path: Vec<String>,
        vars: HashMap<String, String>,
    ) {
        let def = self
            .ivr
            .as_ref()
            .and_then(|i| i.plan().queues.get(&node.queue).cloned());
        self.outcome = Some(format!("queue:{}", node.queue));
        let Some(acd) = self.ctx.acd.clone() else {
            // No ACD (no agents configured): the caller waits on music until they hang up.
            self.say(&["queue_wait".into(), "hold_music".into()], HOLD, true);
            return;
        };
        let acd_id = NEXT_ACD_ID.fetch_add(1, Ordering::Relaxed);
        let (to, rx) = mpsc::unbounded_channel();
        // The caller's own number for a callback, unless the plan collected another.
        let callback_number = vars
            .get("callback_number")
            .cloned()
            .or_else(|| Some(self.caller.clone()))
            .filter(|n| n.chars().filter(|c| c.is_ascii_digit()).count() >= 7);
        let mut skills = node.skills.clone();
        if let Some(t) = &node.topic {
            if !skills.contains(t) {
                skills.push(t.clone());
            }
        }
        let _ = acd.send(AcdCmd::Queue {
            input: Input::CallQueued {
                call: acd_id,
                queue: node.queue.clone(),
                lang: lang.to_string(),
                skills,
                topic: node.topic.clone(),
                priority: node.priority,
                since: acd_now(&self.ctx),
                callback: None,
                caller: crate::acd::resume::caller(
                    &self.caller,
                    self.caller_display.as_deref(),
                    &self.log.call,
                ),
            },
            to,
        });
        self.queued = Some(Queued {
            acd_id,
            rx,
            node,
            def,
            lang,
            path,
            callback_number,
            offered: None,
            done: false,
            announcing: false,
        });
        self.hold_music();
    }

    fn hold_music(&mut self) {
        let ids = self
            .queued
            .as_ref()
            .and_then(|q| q.def.as_ref())
            .map(|d| {
                d.hold_prompts
                    .iter()
                    .map(|p| p.id.clone())
                    .collect::<Vec<_>>()
            })
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| vec!["hold_music".into()]);
        self.say(&ids, HOLD, true);
    }

    pub(super) fn on_acd(&mut self, msg: ToQueued) {
        let Some(q) = self.queued.as_mut() else {
            return;
        };
        if q.done && !matches!(msg, ToQueued::CancelOffer { .. }) {
            return;
        }
        match msg {
            ToQueued::Position(position) => {
                let ev = EventKind::QueueEntered {
                    queue: q.node.queue.clone(),
                    position,
                    skills: q.node.skills.clone(),
                    topic: q.node.topic.clone(),
                    priority: q.node.priority,
                };
                self.log.emit(ev);
            }
            ToQueued::Offer { agent } => {
                let queue = q.node.queue.clone();
                let context = format!(
                    "lang={}; queue={}; topic={}; path={}; caller={}",
                    q.lang,
                    queue,
                    q.node.topic.as_deref().unwrap_or("-"),
                    q.path.join(","),
                    self.caller
                );
                q.offered = Some(agent.clone());
                self.log.emit(EventKind::Offered {
                    queue: queue.clone(),
                    agent: agent.clone(),
                });
                if self.ring_agent(&agent, &queue, context) == 0 {
                    info!(%agent, "agent has no registered phone");
                    self.offer_failed(&agent, OfferFailure::Unreachable, 480);
                }
            }
            ToQueued::CancelOffer { agent, reason } => {
                let queue = q.node.queue.clone();
                if q.offered.as_deref() == Some(agent.as_str()) {
                    q.offered = None;
                }
                debug!(%agent, reason, "offer cancelled");
                self.stop_ringing(&agent);
                if reason == "ring-timeout" {
                    self.log.emit(EventKind::RingNoAnswer { queue, agent });
                }
            }
            ToQueued::Announce(info) => self.announce(info),
            ToQueued::Resumed { from, held_ms } => {
                let held_s = u32::try_from(held_ms / 1000).unwrap_or(u32::MAX);
                let queue = q.node.queue.clone();
                self.log.emit(EventKind::QueueResumed {
                    queue,
                    from,
                    held_s,
                });
            }
            ToQueued::Overflow(to) => self.overflow(to),
        }
    }

    /// Position, wait and maybe the callback offer, in the caller's language; the playlist
    /// and the logged event come from `crate::announce`.
    fn announce(&mut self, info: crate::acd::Announcement) {
        let Some(q) = self.queued.as_ref() else {
            return;
        };
        if q.offered.is_some() || self.bridged || q.announcing {
            return;
        }
        let offer_callback = info.offer_callback
            && q.def.as_ref().is_some_and(|d| d.offer_callback)
            && q.callback_number.is_some();
        let ids = crate::announce::prompts(q.lang, &info, offer_callback);
        let ev = crate::announce::event(&q.node.queue, &info, offer_callback);
        self.log.emit(ev);
        if let Some(q) = self.queued.as_mut() {
            q.announcing = true;
        }
        self.say(&ids, ANNOUNCE, false);
    }

    pub(super) fn queued_play_finished(&mut self, token: u64) {
        match token {
            ANNOUNCE => {
                if let Some(q) = self.queued.as_mut() {
                    q.announcing = false;
                }
                self.hold_music();
            }
            CALLBACK_DONE => {
                self.side = "system";
                self.leg.hangup(Instant::now());
            }
            _ => {}
        }
    }

    pub(super) fn queued_digit(&mut self, d: char) {
        let Some(q) = self.queued.as_ref() else {
            return;
        };
        let offer_callback =
            q.def.as_ref().is_some_and(|d| d.offer_callback) && q.callback_number.is_some();
        if d == '1' && offer_callback && !q.done && !self.bridged {
            self.request_callback();
        }
    }

    /// Keep the caller's place and call them back: confirmation, then hang up.
    fn request_callback(&mut self) {
        let Some(q) = self.queued.as_mut() else {
            return;
        };
        let Some(number) = q.callback_number.clone() else {
            return;
        };
        q.done = true;
        let queue = q.node.queue.clone();
        let lang = q.lang;
        let acd_id = q.acd_id;
        let agent = q.offered.take();
        if let Some(agent) = agent {
            self.stop_ringing(&agent);
        }
        if let Some(acd) = &self.ctx.acd {
            let _ = acd.send(AcdCmd::CallbackLog {
                call: acd_id,
                uid: self.log.call.clone(),
                next_seq: 0,
                queue: queue.clone(),
                lang: lang.to_string(),
            });
            let _ = acd.send(AcdCmd::Forget(acd_id));
        }
        self.acd(Input::CallbackRequested {
            call: acd_id,
            number: number.clone(),
        });
        info!(%number, %queue, "callback requested");
        self.log.emit(EventKind::CallbackRequested {
            queue: queue.clone(),
            number,
        });
        self.log.emit(EventKind::QueueLeft {
            queue,
            reason: "callback".into(),
        });
        self.outcome = Some("callback".into());
        self.say(&["callback_confirmed".into()], CALLBACK_DONE, false);
    }

    fn overflow(&mut self, to: Overflow) {
        match to {
            Overflow::Callback => {
                if self
                    .queued
                    .as_ref()
                    .is_some_and(|q| q.callback_number.is_some())
                {
                    self.say(&["queue_overflow".into()], ANNOUNCE, false);
                    self.request_callback();
                } else {
                    // No number to call back: keep waiting rather than drop the caller.
                    debug!("overflow to callback without a number: the caller keeps waiting");
                }
            }
            Overflow::Node(node) => {
                self.leave_queue("overflow");
                let now = self.now();
                if let Some(ivr) = self.ivr.as_mut() {
                    ivr.resume_at(node, now);
                }
            }
            Overflow::Target(name) => {
                self.leave_queue("overflow");
                let target = self
                    .ivr
                    .as_ref()
                    .and_then(|i| i.plan().target(&name).cloned());
                if let Some(t) = target {
                    self.start_transfer(t);
                }
            }
        }
    }

    /// The caller leaves the queue without an agent (`reason`: abandoned, overflow …).
    pub(super) fn leave_queue(&mut self, reason: &str) {
        let Some(q) = self.queued.take() else {
            return;
        };
        if let Some(acd) = &self.ctx.acd {
            let _ = acd.send(AcdCmd::Forget(q.acd_id));
        }
        if q.done {
            return;
        }
        if let Some(agent) = &q.offered {
            self.stop_ringing(agent);
        }
        self.acd(Input::CallLeft { call: q.acd_id });
        self.log.emit(EventKind::QueueLeft {
            queue: q.node.queue.clone(),
            reason: reason.to_string(),
        });
    }

    /// An agent's phone answered: bridged; the queue wait is over.
    pub(super) fn agent_answered(&mut self, agent: &str, queue: &str) {
        let Some(q) = self.queued.as_mut() else {
            return;
        };
        q.done = true;
        q.offered = None;
        let acd_id = q.acd_id;
        self.acd(Input::Answered {
            call: acd_id,
            agent: agent.to_string(),
        });
        self.log.emit(EventKind::AgentAnswered {
            queue: queue.to_string(),
            agent: agent.to_string(),
        });
        self.log.emit(EventKind::QueueLeft {
            queue: queue.to_string(),
            reason: "answered".into(),
        });
        self.outcome = Some(format!("queue:{queue}"));
    }

    /// The bridged agent call is over: the agent wraps up (the wrap-up's end is logged on this
    /// call by the ACD task, after the call itself is gone).
    pub(super) fn agent_call_ended(&mut self, agent: &str) {
        let Some(q) = self.queued.as_ref() else {
            return;
        };
        let acd_id = q.acd_id;
        if let Some(acd) = &self.ctx.acd {
            let _ = acd.send(AcdCmd::WrapupLog {
                agent: agent.to_string(),
                uid: self.log.call.clone(),
                next_seq: crate::event::WRAPUP_SEQ,
            });
        }
        self.acd(Input::CallEnded {
            call: acd_id,
            agent: agent.to_string(),
        });
    }

    /// The offer failed before an answer: the caller keeps their place.
    pub(super) fn offer_failed(&mut self, agent: &str, reason: OfferFailure, status: u16) {
        let Some(q) = self.queued.as_mut() else {
            return;
        };
        if q.offered.as_deref() == Some(agent) {
            q.offered = None;
        }
        let (acd_id, queue) = (q.acd_id, q.node.queue.clone());
        debug!(%agent, status, ?reason, "offer failed");
        if reason == OfferFailure::NoAnswer {
            self.log.emit(EventKind::RingNoAnswer {
                queue,
                agent: agent.to_string(),
            });
        }
        self.acd(Input::OfferFailed {
            call: acd_id,
            agent: agent.to_string(),
            reason,
        });
        self.hold_music();
    }
}
