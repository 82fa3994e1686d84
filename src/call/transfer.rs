//! What an agent does with a caller they are talking to: hold (the caller hears music, the
//! bridge is opened) and blind transfers — to a queue (the caller keeps their language and
//! topic and is placed by that queue's rules; the agent goes to wrap-up at once) or to a plan
//! target (811, a neighbouring town, a partner: the agent waits on hold while it rings, is
//! released when it answers, and gets the caller back if it fails) or to a colleague by name
//! (the caller waits in the same queue for that agent alone, for a while; the agent goes to
//! wrap-up at once). The same inputs come from a SIP phone (REFER, re-INVITE hold) and from
//! the browser desktop.

use tracing::info;

use super::queue::Queued;
use super::{
    Call, Dial, LegCommand, LegId, MediaCommand, Originate, Phase, Role, CALLER, TRANSFER_MUSIC,
};
use crate::dialplan::model::QueueNode;
use crate::event::EventKind;

/// Why an agent's transfer was refused (the agent's phone is told 403).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransferRefused {
    #[error("not an agent of this call")]
    NotAnAgent,
    #[error("no caller to transfer")]
    NoCaller,
    #[error("a transfer is already under way")]
    AlreadyTransferring,
    #[error("no dial plan")]
    NoDialPlan,
    #[error("no queue, target or agent of that name")]
    UnknownName,
    #[error("no such queue")]
    NoSuchQueue,
    #[error("no such target")]
    NoSuchTarget,
    #[error("unresolved name")]
    Unresolved,
    #[error("no such agent")]
    NoSuchAgent,
    #[error("the agent is already on this call")]
    ToOneself,
    #[error("only a caller from a queue goes to a colleague")]
    NotFromAQueue,
}

/// Where an agent sends the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferTo {
    Queue(String),
    Target(String),
    /// A colleague, by agent id.
    Agent(String),
    /// A name or number as a phone gave it (REFER): a queue, a plan target, or the number of
    /// a plan target.
    Named(String),
}

impl TransferTo {
    fn label(&self) -> String {
        match self {
            TransferTo::Queue(q) => format!("queue:{q}"),
            TransferTo::Target(t) => format!("target:{t}"),
            TransferTo::Agent(a) => format!("agent:{a}"),
            TransferTo::Named(n) => n.clone(),
        }
    }
}

/// What a name from a phone means in this plan: a queue, a target, an agent's id, or a
/// target's number.
fn resolve(
    plan: &crate::dialplan::model::Plan,
    agents: &super::AgentDirectory,
    name: &str,
) -> Option<TransferTo> {
    if plan.queues.contains_key(name) {
        return Some(TransferTo::Queue(name.to_string()));
    }
    if plan.target(name).is_some() {
        return Some(TransferTo::Target(name.to_string()));
    }
    if agents.contains(name) {
        return Some(TransferTo::Agent(name.to_string()));
    }
    let n = crate::dialplan::model::normalize_number(name);
    plan.targets
        .values()
        .find(|t| crate::sip::leg::refer_to_user(&t.uri) == n)
        .map(|t| TransferTo::Target(t.name.clone()))
}

/// A transfer to a target that rings while the agent waits on hold.
#[derive(Debug, Clone)]
pub(super) struct Pending {
    pub agent_leg: LegId,
    pub agent: String,
    pub target_leg: LegId,
}

/// The token of the music a caller on hold hears.
const AGENT_HOLD: u64 = u64::MAX - 4;

impl Call {
    /// The agent bridged to the caller on `leg`, if that is what `leg` is.
    pub(super) fn bridged_agent(&self, leg: LegId) -> Option<String> {
        if !matches!(self.bridge, Some((CALLER, b)) if b == leg) {
            return None;
        }
        match self.legs.get(&leg).map(|l| &l.role) {
            Some(Role::Agent { agent, .. }) => Some(agent.clone()),
            _ => None,
        }
    }

    /// The agent's phone or desktop put the caller on hold (or took them off it).
    pub(super) fn agent_hold(&mut self, leg: LegId, held: bool) {
        if self.transfer.is_some() {
            return;
        }
        let on_hold = self.bridge.is_none() && self.held_by == Some(leg);
        if held && self.bridged_agent(leg).is_some() {
            self.bridge = None;
            self.held_by = Some(leg);
            self.media(MediaCommand::Unbridge { leg: CALLER });
            self.say(CALLER, &["hold_music"], AGENT_HOLD, true);
            self.emit(EventKind::Hold);
        } else if !held && on_hold {
            self.held_by = None;
            self.bridge(CALLER, leg);
            self.emit(EventKind::Resume);
        }
    }

    /// The agent on `leg` sends the caller elsewhere.
    pub fn agent_transfer(&mut self, leg: LegId, to: TransferTo) -> Result<(), TransferRefused> {
        let bridged = self.bridged_agent(leg);
        let held = self.held_by == Some(leg);
        let agent = match (bridged, held) {
            (Some(a), _) => a,
            (None, true) => match self.legs.get(&leg).map(|l| &l.role) {
                Some(Role::Agent { agent, .. }) => agent.clone(),
                _ => return Err(TransferRefused::NotAnAgent),
            },
            (None, false) => return Err(TransferRefused::NoCaller),
        };
        if self.transfer.is_some() {
            return Err(TransferRefused::AlreadyTransferring);
        }
        let plan = self.plan.clone().ok_or(TransferRefused::NoDialPlan)?;
        let to = match to {
            TransferTo::Named(n) => {
                resolve(&plan, &self.cfg.agents, &n).ok_or(TransferRefused::UnknownName)?
            }
            other => other,
        };
        match &to {
            TransferTo::Queue(q) if !plan.queues.contains_key(q) => {
                return Err(TransferRefused::NoSuchQueue)
            }
            TransferTo::Target(t) if plan.target(t).is_none() => {
                return Err(TransferRefused::NoSuchTarget)
            }
            TransferTo::Agent(a) if !self.cfg.agents.contains(a) => {
                return Err(TransferRefused::NoSuchAgent)
            }
            TransferTo::Agent(a) if *a == agent => return Err(TransferRefused::ToOneself),
            TransferTo::Agent(_) if self.queued.is_none() => {
                return Err(TransferRefused::NotFromAQueue)
            }
            _ => {}
        }
        info!(%agent, to = %to.label(), "agent transfer");
        self.emit(EventKind::AgentTransfer {
            agent: agent.clone(),
            to: to.label(),
        });
        self.bridge = None;
        self.held_by = None;
        self.media(MediaCommand::Unbridge { leg: CALLER });
        match to {
            TransferTo::Queue(q) => {
                self.command(leg, LegCommand::Notify { status: 200 });
                self.release_agent(leg, &agent);
                self.requeue(&q);
            }
            TransferTo::Agent(to) => {
                self.command(leg, LegCommand::Notify { status: 200 });
                self.release_agent(leg, &agent);
                if let Some(q) = self.queued.as_ref().map(|q| q.node.queue.clone()) {
                    self.directed = Some(to);
                    self.requeue(&q);
                }
            }
            TransferTo::Named(_) => return Err(TransferRefused::Unresolved),
            TransferTo::Target(name) => {
                let Some(t) = plan.target(&name).cloned() else {
                    return Err(TransferRefused::NoSuchTarget);
                };
                self.emit(EventKind::TransferStarted {
                    target: t.name.clone(),
                    uri: t.uri.clone(),
                });
                let req = Originate {
                    dial: Dial::Uri(if t.uri.is_empty() {
                        self.cfg.emergency_uri.clone()
                    } else {
                        t.uri.clone()
                    }),
                    to: None,
                    from_user: self.caller.clone(),
                    from_display: self.caller_display.clone(),
                    headers: vec![("X-Centrale-Call".into(), self.uid.clone())],
                    context: None,
                    agent: None,
                };
                let target_leg = self.new_leg(Role::Target { name: t.name }, req);
                self.transfer = Some(Pending {
                    agent_leg: leg,
                    agent,
                    target_leg,
                });
                self.command(leg, LegCommand::Notify { status: 100 });
                self.say(CALLER, &["hold_music"], TRANSFER_MUSIC, true);
            }
        }
        Ok(())
    }

    /// The agent is done with this caller: their leg ends, they go to wrap-up.
    pub(super) fn release_agent(&mut self, leg: LegId, agent: &str) {
        self.agent_call_ended(agent);
        self.command(leg, LegCommand::Hangup);
    }

    /// Into another queue, keeping the caller's language, topic and path.
    fn requeue(&mut self, queue: &str) {
        let Some(old) = self.queued.take() else {
            return;
        };
        let Queued {
            node,
            lang,
            path,
            callback_number,
            ..
        } = old;
        let node = QueueNode {
            queue: queue.to_string(),
            skills: Vec::new(),
            topic: node.topic,
            priority: node.priority,
            prompts: Vec::new(),
            knowledge: node.knowledge,
        };
        let mut vars = std::collections::HashMap::new();
        if let Some(n) = callback_number {
            vars.insert("callback_number".to_string(), n);
        }
        self.enqueue(node, lang, path, vars);
    }

    /// The target of an agent's transfer answered: the caller talks to it; the agent is done.
    pub(super) fn transfer_answered(&mut self, target_leg: LegId) -> bool {
        let Some(p) = self.transfer.clone().filter(|p| p.target_leg == target_leg) else {
            return false;
        };
        self.transfer = None;
        self.command(p.agent_leg, LegCommand::Notify { status: 200 });
        if self
            .legs
            .get(&p.agent_leg)
            .is_some_and(|l| l.phase != Phase::Ending)
        {
            self.release_agent(p.agent_leg, &p.agent);
        } else {
            self.agent_call_ended(&p.agent);
        }
        if let Some(q) = self.queued.as_mut() {
            q.done = true;
        }
        true
    }

    /// The target of an agent's transfer failed: the caller goes back to the agent (or, if
    /// the agent already left, back to the front of their queue).
    pub(super) fn transfer_failed(&mut self, target_leg: LegId, status: u16) -> bool {
        let Some(p) = self.transfer.clone().filter(|p| p.target_leg == target_leg) else {
            return false;
        };
        self.transfer = None;
        self.media(MediaCommand::Stop { leg: CALLER });
        let agent_up = self
            .legs
            .get(&p.agent_leg)
            .is_some_and(|l| l.phase == Phase::Up);
        if agent_up {
            info!(agent = %p.agent, status, "transfer failed: back to the agent");
            self.command(p.agent_leg, LegCommand::Notify { status });
            self.bridge(CALLER, p.agent_leg);
        } else {
            info!(agent = %p.agent, status, "transfer failed and the agent is gone: back to the queue");
            self.agent_call_ended(&p.agent);
            if let Some(q) = self.queued.as_ref().map(|q| q.node.queue.clone()) {
                self.requeue(&q);
            }
        }
        true
    }
}
