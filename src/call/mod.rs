//! One call's life as a sans-IO state machine, in the style of quinn-proto and str0m: the
//! driver feeds `handle(input, now)` and `handle_timeout(now)`, and drains `poll()` for what to
//! do (leg and media commands, ACD requests, call-log events) and `poll_timeout()` for when to
//! come back. It covers every flow: routing a new call (emergencies first), the IVR, waiting in
//! a queue with announcements and the callback offer, offering to an agent on all their
//! contacts (the first answer wins), bridging, transfers to plan targets, voicemail, agents'
//! feature codes, callbacks (the agent first, then the citizen), and draining at shutdown.
//!
//! Owns: the call's decisions and its event log entries. Never does: sockets, SIP messages,
//! timers, files, SQL, reading the clock or drawing random numbers — legs are an interface
//! (`LegId` + `LegEvent`/`LegCommand`), time comes in as `Now`.
//!
//! Files: this one (state, inputs, the caller's leg, ending), `route` (where a new call goes),
//! `flow` (the IVR's actions), `queue` (waiting for an agent), `legs` (originated legs: agent
//! offers, transfers, bridging), `callback`, `record`, `feature`.

mod callback;
mod consult;
mod feature;
mod flow;
pub mod fraud;
mod legs;
mod queue;
mod record;
mod route;
#[cfg(test)]
mod tests;
pub mod tracking;
mod transfer;
pub mod types;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use crate::acd;
use crate::dialplan::model::Plan;
use crate::event::EventKind;
use crate::ivr::{Ivr, Now, Say};
use crate::media::prompt::Lang;
pub use callback::CallbackSetup;
pub use route::Inbound;
pub use transfer::{TransferRefused, TransferTo};
pub use types::*;

/// Settings every call shares (from `centrale.toml`).
#[derive(Debug, Clone)]
pub struct CallConfig {
    /// Called numbers that go straight to `emergency_uri` (checked before any plan).
    pub emergency_numbers: Vec<String>,
    pub emergency_uri: String,
    /// Ring this long before answering.
    pub answer_delay: Duration,
    /// A call still up after this is ended.
    pub max_duration: Duration,
    /// Agents' address-of-record domain (`sip:agent@realm`).
    pub realm: String,
    /// Where callbacks to citizens go; `{number}` is replaced.
    pub outbound: String,
    /// The ACD runs (agents configured): queued callers wait for it.
    pub acd: bool,
    /// Area codes a callback may go to (empty: any ordinary North-American number).
    pub callback_area_codes: Vec<String>,
    /// Callbacks per number per 24 hours, and the book shared by every call.
    pub callback_per_day: u32,
    pub callback_cap: Arc<fraud::CallbackCap>,
    /// The agents of agents.toml, for transfers to a colleague by name.
    pub agents: Arc<AgentDirectory>,
    /// A colleague consulted is rung this long (the ACD's ring timeout for offers).
    pub ring_timeout: Duration,
}

/// Where a leg is in its life, as far as the call cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Placed (or, for the caller, received), not answered.
    Early,
    Ringing,
    Up,
    /// We asked it to end; only its end still matters.
    Ending,
}

#[derive(Debug, Clone)]
struct Leg {
    role: Role,
    phase: Phase,
}

/// What an answered call does first.
#[derive(Debug, Clone)]
enum Start {
    Ivr(usize),
    Transfer(crate::dialplan::model::Target),
    Feature(String),
}

/// Playlist tokens the call starts itself (the IVR's own tokens are small integers).
const TRANSFER_MUSIC: u64 = u64::MAX;
const HOLD: u64 = u64::MAX - 1;
const ANNOUNCE: u64 = u64::MAX - 2;
const CALLBACK_DONE: u64 = u64::MAX - 3;
const FEATURE_DONE: u64 = u64::MAX - 10;

/// How long a hung-up call waits for its voice message to be saved before it logs its end.
const RECORDING_SAVE: Duration = Duration::from_secs(5);

pub struct Call {
    cfg: Arc<CallConfig>,
    /// Our id for the call (the log's key).
    uid: String,
    /// The ACD's id for this call (and for a callback it dials).
    acd_id: acd::CallId,
    /// The citizen's number and name, shown to agents and presented on transfers.
    caller: String,
    caller_display: Option<String>,
    /// The agent whose registered phone dials (feature codes are theirs).
    agent_phone: Option<String>,
    plan: Option<Arc<Plan>>,
    /// The storm message this call may hear (handed to its IVR).
    storm: Option<crate::ivr::StormScope>,
    legs: BTreeMap<LegId, Leg>,
    next_leg: LegId,
    ivr: Option<Ivr>,
    queued: Option<queue::Queued>,
    callback: Option<callback::Callback>,
    /// The two legs whose audio is relayed into each other.
    bridge: Option<(LegId, LegId)>,
    /// The agent leg that put the caller on hold (the bridge is open meanwhile).
    held_by: Option<LegId>,
    /// An agent's transfer to a plan target, ringing.
    transfer: Option<transfer::Pending>,
    /// An agent's consultation of a colleague (attended transfer), under way.
    consult: Option<consult::Consult>,
    /// The colleague the next queueing is directed to (an agent's transfer by name).
    directed: Option<String>,
    /// Recording the caller until this time.
    recording: Option<Instant>,
    /// A recording was stopped; its `Recorded` has not come back yet.
    recording_saving: bool,
    outcome: Option<String>,
    side: &'static str,
    cause: String,
    answered: bool,
    /// Ringing before we answer: when, and what then.
    pending: Option<(Instant, Start)>,
    deadline_max: Instant,
    drain_until: Option<Instant>,
    /// The caller is gone; we wait (until then) for the voice message to be saved.
    finishing: Option<Instant>,
    ended: bool,
    /// The time of the input being handled.
    now: Now,
    out: VecDeque<Output>,
}

impl Call {
    fn new(cfg: Arc<CallConfig>, uid: String, acd_id: acd::CallId, now: Now) -> Call {
        let deadline_max = now.mono + cfg.max_duration;
        Call {
            cfg,
            uid,
            acd_id,
            caller: String::new(),
            caller_display: None,
            agent_phone: None,
            plan: None,
            storm: None,
            legs: BTreeMap::new(),
            next_leg: CALLER + 1,
            ivr: None,
            queued: None,
            callback: None,
            bridge: None,
            held_by: None,
            transfer: None,
            consult: None,
            directed: None,
            recording: None,
            recording_saving: false,
            outcome: None,
            side: "caller",
            cause: String::new(),
            answered: false,
            pending: None,
            deadline_max,
            drain_until: None,
            finishing: None,
            ended: false,
            now,
            out: VecDeque::new(),
        }
    }

    /// Our id for this call.
    pub fn uid(&self) -> &str {
        &self.uid
    }

    /// The caller's language (the plan's default, or French, until they choose).
    pub fn language(&self) -> Lang {
        if let Some(cb) = &self.callback {
            return cb.lang;
        }
        self.ivr
            .as_ref()
            .map(|i| i.language())
            .or(self.plan.as_ref().map(|p| p.default_language))
            .unwrap_or(Lang::Fr)
    }

    /// The call has logged its end; nothing more will come out once `poll` is drained.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    pub fn poll(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// The next time `handle_timeout` must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.ended {
            return None;
        }
        [
            self.ivr.as_ref().and_then(|i| i.deadline()),
            self.pending.as_ref().map(|p| p.0),
            self.consult.as_ref().and_then(|c| c.ring_until),
            self.recording,
            self.drain_until,
            self.finishing,
            Some(self.deadline_max),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub fn handle(&mut self, input: Input, now: Now) {
        if self.ended {
            return;
        }
        self.now = now;
        match input {
            Input::Leg { leg, event } => self.on_leg(leg, event),
            Input::Acd(d) => self.on_acd(d),
            Input::Contacts { agent, contacts } => self.on_contacts(&agent, contacts),
            Input::Shutdown { drain_until } => {
                self.drain_until = Some(drain_until.min(self.deadline_max));
            }
        }
    }

    pub fn handle_timeout(&mut self, now: Now) {
        if self.ended {
            return;
        }
        self.now = now;
        if self.finishing.is_some_and(|t| t <= now.mono) {
            warn!("voice message not saved in time; ending the call without it");
            self.recording_saving = false;
            self.finishing = None;
            self.complete();
            return;
        }
        if now.mono >= self.deadline_max {
            warn!("call exceeded the maximum duration; ending it");
            self.end_call("ended:max-duration", "timeout");
            return;
        }
        if self.drain_until.is_some_and(|t| t <= now.mono) {
            info!("shutting down: ending the call");
            self.drain_until = None;
            self.end_call("ended:shutdown", "shutdown");
            return;
        }
        if self.pending.as_ref().is_some_and(|p| p.0 <= now.mono) {
            if let Some((_, start)) = self.pending.take() {
                if self.caller_phase() == Some(Phase::Early) {
                    self.start(start);
                }
            }
        }
        if self.recording.is_some_and(|t| t <= now.mono) {
            self.record_stop();
        }
        self.consult_timeout();
        if let Some(ivr) = self.ivr.as_mut() {
            if ivr.deadline().is_some_and(|d| d <= now.mono) {
                ivr.on_timer(now);
                self.pump_ivr();
            }
        }
    }

    // ---- outputs ----

    fn emit(&mut self, kind: EventKind) {
        self.out.push_back(Output::Event(kind));
    }

    fn acd(&mut self, r: AcdRequest) {
        if self.cfg.acd {
            self.out.push_back(Output::Acd(r));
        }
    }

    fn acd_input(&mut self, i: acd::Input) {
        self.acd(AcdRequest::Input(i));
    }

    fn media(&mut self, m: MediaCommand) {
        self.out.push_back(Output::Media(m));
    }

    fn command(&mut self, leg: LegId, cmd: LegCommand) {
        match cmd {
            LegCommand::Hangup => match self.legs.get_mut(&leg) {
                Some(l) if l.phase != Phase::Ending => l.phase = Phase::Ending,
                _ => return,
            },
            // A refusal ends the leg too (the caller's may have no entry yet).
            LegCommand::Reject { .. } => {
                if let Some(l) = self.legs.get_mut(&leg) {
                    l.phase = Phase::Ending;
                }
            }
            _ => {}
        }
        self.out.push_back(Output::Leg { leg, cmd });
    }

    /// Play prompts by id in the caller's language.
    fn say(&mut self, leg: LegId, ids: &[&str], token: u64, looping: bool) {
        let lang = self.language();
        let prompts = ids
            .iter()
            .map(|id| Say {
                id: id.to_string(),
                lang,
            })
            .collect();
        self.media(MediaCommand::Play {
            leg,
            prompts,
            token,
            looping,
        });
    }

    // ---- the caller's leg ----

    fn caller_phase(&self) -> Option<Phase> {
        self.legs.get(&CALLER).map(|l| l.phase)
    }

    fn start(&mut self, start: Start) {
        self.answer();
        match start {
            Start::Ivr(node) => {
                if let Some(plan) = self.plan.clone() {
                    let mut ivr = Ivr::new(plan);
                    ivr.set_storm(self.storm.take());
                    ivr.start(node, self.now);
                    self.ivr = Some(ivr);
                    self.pump_ivr();
                }
            }
            Start::Transfer(target) => {
                // A misdial with a transfer target: answered, then bridged like a menu transfer.
                if let Some(plan) = self.plan.clone() {
                    self.ivr = Some(Ivr::new(plan));
                }
                self.start_transfer(target);
            }
            Start::Feature(code) => self.feature_code(&code),
        }
    }

    fn answer(&mut self) {
        if let Some(l) = self.legs.get_mut(&CALLER) {
            l.phase = Phase::Up;
        }
        self.out.push_back(Output::Leg {
            leg: CALLER,
            cmd: LegCommand::Answer,
        });
        self.answered = true;
        self.emit(EventKind::Answered);
    }

    fn on_leg(&mut self, leg: LegId, event: LegEvent) {
        if let LegEvent::Recorded { file, seconds } = event {
            // It may come back after the caller hung up (the message is saved last).
            self.on_recorded(file, seconds);
            return;
        }
        let Some(l) = self.legs.get(&leg).cloned() else {
            return;
        };
        if leg == CALLER {
            self.on_caller_leg(event);
            return;
        }
        // A leg we already let go of only reports its end.
        if l.phase == Phase::Ending {
            if matches!(event, LegEvent::Ended(_) | LegEvent::Failed { .. }) {
                self.legs.remove(&leg);
            }
            return;
        }
        match event {
            LegEvent::Ringing => self.on_leg_ringing(leg, &l.role),
            LegEvent::Answered => self.on_leg_answered(leg, &l.role),
            LegEvent::Failed { status } => self.on_leg_gone(leg, &l, Some(status), None),
            LegEvent::Ended(end) => self.on_leg_gone(leg, &l, None, Some(end)),
            LegEvent::Held(held) => {
                if matches!(l.role, Role::Agent { .. }) && self.consult.is_none() {
                    self.agent_hold(leg, held);
                }
            }
            LegEvent::Consult(to) => self.consult_from_desk(leg, &to),
            LegEvent::ConsultComplete { other, replaces } => {
                self.consult_complete(leg, other, replaces)
            }
            LegEvent::ConsultCancel => self.consult_cancelled(leg),
            LegEvent::Transfer(to) => {
                if let Err(why) = self.agent_transfer(leg, to) {
                    warn!(leg, %why, "transfer refused");
                    self.command(leg, LegCommand::Notify { status: 403 });
                }
            }
            // Agents' and targets' digits are relayed by the bridge, not interpreted.
            LegEvent::Digit { .. }
            | LegEvent::PlayFinished { .. }
            | LegEvent::Refused { .. }
            | LegEvent::Recorded { .. } => {}
        }
    }

    fn on_caller_leg(&mut self, event: LegEvent) {
        match event {
            LegEvent::Ended(end) => self.on_caller_ended(end),
            LegEvent::Refused { status, outcome } => {
                self.legs.remove(&CALLER);
                self.outcome = Some(outcome.to_string());
                self.side = "system";
                self.cause = status.to_string();
                self.finish();
            }
            LegEvent::Digit { digit, source } => self.on_digit(digit, source),
            LegEvent::PlayFinished { token } => self.on_play_finished(token),
            LegEvent::Held(held) => self.emit(if held {
                EventKind::Hold
            } else {
                EventKind::Resume
            }),
            // The caller's leg is not one we originate.
            LegEvent::Ringing
            | LegEvent::Answered
            | LegEvent::Failed { .. }
            | LegEvent::Recorded { .. }
            | LegEvent::Transfer(_)
            | LegEvent::Consult(_)
            | LegEvent::ConsultComplete { .. }
            | LegEvent::ConsultCancel => {}
        }
    }

    fn on_caller_ended(&mut self, end: LegEnd) {
        let (side, text) = match end {
            LegEnd::Bye => ("caller", "bye".to_string()),
            LegEnd::Cancel => ("caller", "cancel".to_string()),
            LegEnd::Local => ("system", "bye".to_string()),
            LegEnd::Rejected(s) => ("system", s.to_string()),
            LegEnd::NoAck => ("system", "no-ack".to_string()),
            LegEnd::BadAck => ("system", "bad-ack".to_string()),
            LegEnd::Lost => ("system", "lost".to_string()),
            LegEnd::SessionExpired => ("system", "session-expired".to_string()),
        };
        // The caller leaving decides the side; otherwise whoever set it (agent, transfer).
        if side == "caller" || self.side == "caller" {
            self.side = side;
        }
        self.cause = text;
        if end == LegEnd::NoAck {
            self.outcome.get_or_insert_with(|| "failed:no-ack".into());
        }
        self.legs.remove(&CALLER);
        self.finish();
    }

    fn on_digit(&mut self, d: char, source: &'static str) {
        debug!(digit = %d, source, "digit");
        self.emit(EventKind::Digit {
            digit: d.to_string(),
            source: source.to_string(),
        });
        if self.recording.is_some() || self.recording_saving {
            if d == '#' {
                self.record_stop();
            }
            return;
        }
        if self.queued.is_some() {
            self.queued_digit(d);
            return;
        }
        if let Some(ivr) = self.ivr.as_mut() {
            ivr.on_digit(d, self.now);
            self.pump_ivr();
        }
    }

    fn on_play_finished(&mut self, token: u64) {
        match token {
            FEATURE_DONE => {
                self.outcome = Some("feature-code".into());
                self.side = "system";
                self.hang_up_caller();
            }
            CALLBACK_DONE => {
                self.side = "system";
                self.hang_up_caller();
            }
            ANNOUNCE | HOLD => self.queued_play_finished(token),
            TRANSFER_MUSIC => {}
            _ if self.queued.is_some() => {}
            _ => {
                if let Some(ivr) = self.ivr.as_mut() {
                    ivr.on_play_finished(token, self.now);
                    self.pump_ivr();
                }
            }
        }
    }

    /// End the caller's leg; its end finishes the call (a local end counts as the system's
    /// unless someone else — the agent, the transfer target — was named already).
    fn hang_up_caller(&mut self) {
        if self.legs.contains_key(&CALLER) {
            self.command(CALLER, LegCommand::Hangup);
        } else {
            self.finish();
        }
    }

    /// End the call for a reason of the system's own (max duration, shutdown). A caller still
    /// waiting in a queue leaves it for that reason, not as an abandon.
    fn end_call(&mut self, outcome: &str, cause: &str) {
        let waiting = self.queued.as_ref().is_some_and(|q| !q.done);
        if self.outcome.is_none() || self.callback.is_some() || waiting {
            self.outcome = Some(outcome.to_string());
        }
        if waiting {
            self.leave_queue(cause);
        }
        self.cause = cause.to_string();
        self.side = "system";
        if self.callback.is_some() {
            self.finish();
        } else {
            self.hang_up_caller();
        }
    }

    /// The call is over for the caller: end every other leg, leave the queue, save a voice
    /// message being recorded, then log the end.
    fn finish(&mut self) {
        if self.finishing.is_some() || self.ended {
            return;
        }
        self.end_legs();
        self.leave_queue("abandoned");
        self.pending = None;
        self.record_stop();
        if self.recording_saving {
            // The end is logged once the message is saved (or after RECORDING_SAVE).
            self.finishing = Some(self.now.mono + RECORDING_SAVE);
            return;
        }
        self.complete();
    }

    fn complete(&mut self) {
        if self.ended {
            return;
        }
        if let Some(ivr) = self.ivr.as_mut() {
            // Nothing the interpreter still wants matters now.
            while ivr.poll().is_some() {}
        }
        self.callback_teardown();
        let outcome = self.outcome.take().unwrap_or_else(|| {
            if self.answered {
                "abandoned:ivr".to_string()
            } else {
                "abandoned:before-answer".to_string()
            }
        });
        let side = self.side;
        let cause = std::mem::take(&mut self.cause);
        info!(%outcome, side, "call ended");
        self.emit(EventKind::CallEnded {
            outcome,
            side: side.to_string(),
            cause,
        });
        self.ended = true;
        self.out.push_back(Output::Ended);
    }
}
