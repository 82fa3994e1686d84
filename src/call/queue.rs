//! A caller waiting for an agent: handed to the ACD, hears the queue's hold prompts, position
//! and estimated-wait announcements in their language, may press 1 to be called back (keeping
//! their place) or the plan's emergency digit where the queue allows it, and follows the ACD's
//! decisions — ring this agent, stop ringing, overflow.

use std::collections::HashMap;

use tracing::{debug, info};

use super::{
    fraud, AcdDecision, AcdRequest, Call, MediaCommand, Output, ANNOUNCE, CALLBACK_DONE, CALLER,
    HOLD,
};
use crate::acd::{self, OfferFailure};
use crate::dialplan::model::{Overflow, QueueDef, QueueNode};
use crate::event::EventKind;
use crate::media::prompt::Lang;

pub(super) struct Queued {
    pub node: QueueNode,
    pub def: Option<QueueDef>,
    pub lang: Lang,
    pub path: Vec<String>,
    /// The caller's way through the plan in words, for agents' screen pops.
    pub words: Vec<String>,
    pub callback_number: Option<String>,
    /// The agent being offered the call (their phones ring).
    pub offered: Option<String>,
    /// Left the queue (answered, callback): no more ACD decisions apply.
    pub done: bool,
    /// An announcement is playing: the next one waits rather than cut it.
    pub announcing: bool,
    /// When the caller entered the queue (ms since the epoch).
    pub since_ms: i64,
}

impl Queued {
    fn offers_callback(&self) -> bool {
        self.def.as_ref().is_some_and(|d| d.offer_callback) && self.callback_number.is_some()
    }

    /// What an agent's desktop shows about this caller.
    pub fn offer_context(
        &self,
        uid: &str,
        caller: &str,
        caller_name: Option<&str>,
    ) -> super::OfferContext {
        let def = self.def.as_ref();
        super::OfferContext {
            call: uid.to_string(),
            caller: caller.to_string(),
            caller_name: caller_name.map(str::to_string),
            language: self.lang.to_string(),
            queue: self.node.queue.clone(),
            topic: self.node.topic.clone(),
            path: self.words.clone(),
            queued_at_ms: self.since_ms,
            callback: None,
            knowledge: self
                .node
                .knowledge
                .clone()
                .or_else(|| def.and_then(|d| d.knowledge.clone())),
            dispositions: def.map(|d| d.dispositions.clone()).unwrap_or_default(),
            consult_from: None,
        }
    }

    /// The context an agent's phone (or desktop) is given with the offer.
    pub fn context(&self, caller: &str) -> String {
        format!(
            "lang={}; queue={}; topic={}; path={}; caller={}",
            self.lang,
            self.node.queue,
            self.node.topic.as_deref().unwrap_or("-"),
            self.path.join(","),
            caller
        )
    }
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
            .plan
            .as_ref()
            .and_then(|p| p.queues.get(&node.queue).cloned());
        self.outcome = Some(format!("queue:{}", node.queue));
        if !self.cfg.acd {
            // No ACD (no agents configured): the caller waits on music until they hang up.
            self.say(CALLER, &["queue_wait", "hold_music"], HOLD, true);
            return;
        }
        // The caller's own number for a callback, unless the plan collected another; only a
        // number the city may call (`fraud`), never a withheld caller, and not past the cap.
        let collected = vars.get("callback_number").cloned();
        let display = if collected.is_some() {
            None
        } else {
            self.caller_display.as_deref()
        };
        let now_ms = self.now.wall.as_millisecond();
        let callback_number = collected
            .or_else(|| Some(self.caller.clone()))
            .and_then(
                |n| match fraud::callable(&n, display, &self.cfg.callback_area_codes) {
                    Ok(n) => Some(n),
                    Err(why) => {
                        debug!(number = %n, ?why, "no callback offered to this number");
                        None
                    }
                },
            )
            .filter(|n| {
                self.cfg
                    .callback_cap
                    .allows(n, now_ms, self.cfg.callback_per_day)
            });
        let mut skills = node.skills.clone();
        if let Some(t) = &node.topic {
            if !skills.contains(t) {
                skills.push(t.clone());
            }
        }
        let directed = self.directed.take();
        self.acd(AcdRequest::Queue(acd::Input::CallQueued {
            call: self.acd_id,
            queue: node.queue.clone(),
            lang: lang.to_string(),
            skills,
            topic: node.topic.clone(),
            priority: node.priority,
            since: self.acd_now(),
            callback: None,
            caller: acd::resume::caller(&self.caller, self.caller_display.as_deref(), &self.uid),
            agent: directed,
        }));
        let mut words = self
            .ivr
            .as_ref()
            .map(|i| i.trail().to_vec())
            .unwrap_or_default();
        if let Some(w) = self
            .ivr
            .as_ref()
            .and_then(|i| i.current_node().map(str::to_string))
            .and_then(|n| {
                let plan = self.plan.as_ref()?;
                let id = *plan.node_ids.get(&n)?;
                plan.node(id).map(|node| node.words())
            })
        {
            if words.last() != Some(&w) {
                words.push(w);
            }
        }
        self.queued = Some(Queued {
            node,
            def,
            lang,
            path,
            words,
            callback_number,
            offered: None,
            done: false,
            announcing: false,
            since_ms: self.now.wall.as_millisecond(),
        });
        self.hold_music();
    }

    /// Milliseconds on the wall clock: the ACD's time.
    pub(super) fn acd_now(&self) -> acd::Time {
        self.now.wall.as_millisecond().max(0) as u64
    }

    pub(super) fn hold_music(&mut self) {
        let ids: Vec<String> = self
            .queued
            .as_ref()
            .and_then(|q| q.def.as_ref())
            .map(|d| d.hold_prompts.iter().map(|p| p.id.clone()).collect())
            .filter(|v: &Vec<String>| !v.is_empty())
            .unwrap_or_else(|| vec!["hold_music".into()]);
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        self.say(CALLER, &ids, HOLD, true);
    }

    pub(super) fn on_acd(&mut self, d: AcdDecision) {
        if let AcdDecision::Consult { agent, refused } = d {
            self.consult_granted(&agent, refused);
            return;
        }
        if self.callback.is_some() {
            self.callback_decision(d);
            return;
        }
        let Some(q) = self.queued.as_mut() else {
            return;
        };
        if q.done && !matches!(d, AcdDecision::CancelOffer { .. }) {
            return;
        }
        match d {
            AcdDecision::Position(position) => {
                let ev = EventKind::QueueEntered {
                    queue: q.node.queue.clone(),
                    position,
                    skills: q.node.skills.clone(),
                    topic: q.node.topic.clone(),
                    priority: q.node.priority,
                };
                self.emit(ev);
            }
            AcdDecision::Offer { agent } => {
                let queue = q.node.queue.clone();
                q.offered = Some(agent.clone());
                self.emit(EventKind::Offered {
                    queue,
                    agent: agent.clone(),
                });
                self.out.push_back(Output::FindContacts { agent });
            }
            AcdDecision::CancelOffer { agent, reason } => {
                let queue = q.node.queue.clone();
                if q.offered.as_deref() == Some(agent.as_str()) {
                    q.offered = None;
                }
                debug!(%agent, reason, "offer cancelled");
                self.stop_ringing(&agent);
                if reason == "ring-timeout" {
                    self.emit(EventKind::RingNoAnswer { queue, agent });
                }
            }
            AcdDecision::Announce(info) => self.announce(info),
            AcdDecision::Resumed { from, held_ms } => {
                let held_s = u32::try_from(held_ms / 1000).unwrap_or(u32::MAX);
                let queue = q.node.queue.clone();
                self.emit(EventKind::QueueResumed {
                    queue,
                    from,
                    held_s,
                });
            }
            AcdDecision::Overflow(to) => self.overflow(to),
            AcdDecision::Consult { .. } => {}
        }
    }

    /// Position, wait and maybe the callback offer, in the caller's language; the playlist
    /// and the logged event come from `crate::announce`.
    fn announce(&mut self, info: acd::Announcement) {
        let Some(q) = self.queued.as_ref() else {
            return;
        };
        if q.offered.is_some() || self.bridge.is_some() || q.announcing {
            return;
        }
        let offer_callback = info.offer_callback && q.offers_callback();
        let ids = crate::announce::prompts(q.lang, &info, offer_callback);
        let ev = crate::announce::event(&q.node.queue, &info, offer_callback);
        self.emit(ev);
        if let Some(q) = self.queued.as_mut() {
            q.announcing = true;
        }
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        self.say(CALLER, &ids, ANNOUNCE, false);
    }

    pub(super) fn queued_play_finished(&mut self, token: u64) {
        if token == ANNOUNCE {
            if let Some(q) = self.queued.as_mut() {
                q.announcing = false;
            }
            if self.bridge.is_none() && self.queued.as_ref().is_some_and(|q| !q.done) {
                self.hold_music();
            }
        }
    }

    pub(super) fn queued_digit(&mut self, d: char) {
        let Some(q) = self.queued.as_ref() else {
            return;
        };
        if q.done || self.bridge.is_some() {
            return;
        }
        let escape = q.def.as_ref().is_some_and(|d| d.emergency_escape);
        let emergency_digit = self
            .plan
            .as_ref()
            .and_then(|p| p.emergency.as_ref())
            .map(|e| e.digit);
        if escape && emergency_digit == Some(d) {
            self.queue_emergency_escape();
        } else if d == '1' && q.offers_callback() {
            self.request_callback(&["callback_confirmed"]);
        }
    }

    /// The plan's emergency digit, pressed while waiting: out of the queue, straight to 911.
    fn queue_emergency_escape(&mut self) {
        info!("emergency escape from the queue");
        self.leave_queue("emergency");
        if let Some(ivr) = self.ivr.as_mut() {
            ivr.emergency_escape(self.now);
            self.pump_ivr();
        }
    }

    /// Keep the caller's place and call them back: confirmation, then hang up.
    fn request_callback(&mut self, prompts: &[&str]) {
        let Some(q) = self.queued.as_mut() else {
            return;
        };
        let Some(number) = q.callback_number.clone() else {
            return;
        };
        if !self.cfg.callback_cap.take(
            &number,
            self.now.wall.as_millisecond(),
            self.cfg.callback_per_day,
        ) {
            // The cap was reached since the offer (another call from the same number).
            debug!(%number, "callback cap reached: the caller keeps waiting");
            return;
        }
        q.done = true;
        let queue = q.node.queue.clone();
        let lang = q.lang;
        let agent = q.offered.take();
        if let Some(agent) = agent {
            self.stop_ringing(&agent);
        }
        self.acd(AcdRequest::CallbackLog {
            call: self.acd_id,
            uid: self.uid.clone(),
            queue: queue.clone(),
            lang: lang.to_string(),
        });
        self.acd(AcdRequest::Forget(self.acd_id));
        self.acd_input(acd::Input::CallbackRequested {
            call: self.acd_id,
            number: number.clone(),
        });
        info!(%number, %queue, "callback requested");
        self.emit(EventKind::CallbackRequested {
            queue: queue.clone(),
            number,
        });
        self.emit(EventKind::QueueLeft {
            queue,
            reason: "callback".into(),
        });
        self.outcome = Some("callback".into());
        // "Your reference number is 4 8 1 5 1 6", then the confirmation.
        let tracking = super::tracking::prompts(&self.uid);
        let mut say: Vec<&str> = tracking.iter().map(String::as_str).collect();
        say.extend_from_slice(prompts);
        self.say(CALLER, &say, CALLBACK_DONE, false);
    }

    fn overflow(&mut self, to: Overflow) {
        match to {
            Overflow::Callback => {
                if self
                    .queued
                    .as_ref()
                    .is_some_and(|q| q.callback_number.is_some())
                {
                    self.request_callback(&["queue_overflow", "callback_confirmed"]);
                } else {
                    // No number to call back: keep waiting rather than drop the caller.
                    debug!("overflow to callback without a number: the caller keeps waiting");
                }
            }
            Overflow::Node(node) => {
                self.leave_queue("overflow");
                self.media(MediaCommand::Stop { leg: CALLER });
                if let Some(ivr) = self.ivr.as_mut() {
                    ivr.resume_at(node, self.now);
                    self.pump_ivr();
                }
            }
            Overflow::Target(name) => {
                self.leave_queue("overflow");
                let target = self.plan.as_ref().and_then(|p| p.target(&name).cloned());
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
        self.acd(AcdRequest::Forget(self.acd_id));
        if q.done {
            return;
        }
        if let Some(agent) = &q.offered {
            self.stop_ringing(agent);
        }
        self.acd_input(acd::Input::CallLeft { call: self.acd_id });
        self.emit(EventKind::QueueLeft {
            queue: q.node.queue.clone(),
            reason: reason.to_string(),
        });
    }

    /// An agent answered: bridged; the queue wait is over.
    pub(super) fn agent_answered(&mut self, agent: &str, queue: &str) {
        let Some(q) = self.queued.as_mut() else {
            return;
        };
        q.done = true;
        q.offered = None;
        self.acd_input(acd::Input::Answered {
            call: self.acd_id,
            agent: agent.to_string(),
        });
        self.emit(EventKind::AgentAnswered {
            queue: queue.to_string(),
            agent: agent.to_string(),
        });
        self.emit(EventKind::QueueLeft {
            queue: queue.to_string(),
            reason: "answered".into(),
        });
        self.outcome = Some(format!("queue:{queue}"));
    }

    /// The bridged agent call is over: the agent wraps up (the wrap-up's end is logged on this
    /// call by the ACD's driver, after the call itself is gone).
    pub(super) fn agent_call_ended(&mut self, agent: &str) {
        if self.queued.is_none() {
            return;
        }
        self.acd(AcdRequest::WrapupLog {
            agent: agent.to_string(),
            uid: self.uid.clone(),
        });
        self.acd_input(acd::Input::CallEnded {
            call: self.acd_id,
            agent: agent.to_string(),
        });
    }

    /// The agent's leg broke during the call (not the agent hanging up): the caller goes back
    /// to their place in the queue rather than being cut off.
    pub(super) fn agent_leg_broke(&mut self, agent: &str) {
        let Some(q) = self.queued.as_mut() else {
            return;
        };
        q.done = false;
        q.offered = None;
        info!(%agent, "agent leg failed during the call: the caller goes back to the queue");
        self.acd_input(acd::Input::OfferFailed {
            call: self.acd_id,
            agent: agent.to_string(),
            reason: OfferFailure::Unreachable,
        });
        self.hold_music();
    }

    /// The offer failed before an answer: the caller keeps their place.
    pub(super) fn offer_failed(&mut self, agent: &str, reason: OfferFailure, status: u16) {
        let Some(q) = self.queued.as_mut() else {
            return;
        };
        if q.offered.as_deref() == Some(agent) {
            q.offered = None;
        }
        let queue = q.node.queue.clone();
        debug!(%agent, status, ?reason, "offer failed");
        if reason == OfferFailure::NoAnswer {
            self.emit(EventKind::RingNoAnswer {
                queue,
                agent: agent.to_string(),
            });
        }
        self.acd_input(acd::Input::OfferFailed {
            call: self.acd_id,
            agent: agent.to_string(),
            reason,
        });
        self.hold_music();
    }
}
