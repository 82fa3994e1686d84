//! The IVR interpreter: walks a call through a dial plan node by node. It hears digits,
//! "prompt finished" and timer expiries, and answers with actions — play these prompts, stop
//! playing, transfer, enqueue, record, hang up — plus the typed events the call log keeps.
//!
//! Sans-IO: `now` (monotonic for timers, wall clock for the calendar) comes in with every
//! input; the call task (live) and `dry_run` (admin tool) drive the very same code.
//!
//! Menus take digits while their prompt plays (barge-in); digits typed while nothing listens
//! are kept and consumed by the next menu (type-ahead).

pub mod dry_run;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;

use crate::dialplan::model::{
    CondContext, Menu, NodeId, NodeKind, Plan, PromptRef, QueueNode, Target,
};
use crate::media::prompt::Lang;

/// Steps through non-waiting nodes (goto, branch, language) allowed in a row before we call it
/// a loop. The validator rejects such loops; this is the last line of defence.
const MAX_STEPS: u32 = 200;

/// The two clocks the interpreter needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub mono: Instant,
    pub wall: Timestamp,
}

/// Who hears the storm message in force when the call starts (the top-level `storm` module): every
/// caller, right after the language choice; or callers about to enter one of `queues`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StormScope {
    pub all: bool,
    pub queues: Vec<String>,
}

/// The prompt id of the storm message (resolved by the call's driver at play time).
pub const STORM_PROMPT: &str = "storm";

/// A prompt resolved to a language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Say {
    pub id: String,
    pub lang: Lang,
}

/// What happened, for the call log and dry runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IvrEvent {
    NodeEntered {
        node: String,
        kind: &'static str,
    },
    PromptPlayed {
        prompt: String,
        lang: Lang,
    },
    MenuChoice {
        node: String,
        digit: char,
        next: String,
    },
    MenuInvalid {
        node: String,
        digit: char,
    },
    MenuTimeout {
        node: String,
    },
    LanguageChosen {
        lang: Lang,
    },
    BranchTaken {
        node: String,
        condition: String,
        taken: bool,
        reason: String,
    },
    EmergencyEscape {
        node: String,
    },
    Collected {
        variable: String,
        digits: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Play {
        token: u64,
        prompts: Vec<Say>,
        barge_in: bool,
    },
    StopPlay,
    Event(IvrEvent),
    /// Bridge the caller to a target; answer `on_transfer_failed` if it cannot be reached.
    Transfer {
        target: Target,
    },
    /// Hand the caller to the ACD.
    Enqueue {
        queue: QueueNode,
        lang: Lang,
        path: Vec<String>,
        vars: HashMap<String, String>,
    },
    /// Record the caller for up to `max_seconds` (ends early on '#'); answer `on_record_done`.
    Record {
        max_seconds: u32,
    },
    Hangup {
        outcome: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Wait {
    Idle,
    /// A play node (or a node's intro prompts) is playing; `then` runs when it ends.
    Playing {
        then: Then,
        barge_in: bool,
    },
    /// A menu prompt is playing (digits barge in) or we wait for the digit.
    Menu {
        attempt: u32,
        listening: bool,
    },
    Collect(CollectState),
    Recording {
        next: NodeId,
    },
    Transferring {
        on_failure: Option<NodeId>,
    },
    Queued,
    Done,
}

#[derive(Debug, Clone, PartialEq)]
enum Then {
    Goto(NodeId),
    Enqueue(QueueNode),
    Transfer(Target, Option<NodeId>),
    Record { max_seconds: u32, next: NodeId },
    Hangup(String),
}

#[derive(Debug, Clone, PartialEq)]
struct CollectState {
    attempt: u32,
    digits: String,
    /// Reading back, waiting for 1 (correct) or 2 (re-enter).
    confirming: bool,
    listening: bool,
}

pub struct Ivr {
    plan: Arc<Plan>,
    lang: Lang,
    node: Option<NodeId>,
    wait: Wait,
    typeahead: VecDeque<char>,
    vars: HashMap<String, String>,
    path: Vec<String>,
    /// The caller's way in words: the language chosen, then each menu choice's destination.
    trail: Vec<String>,
    /// The storm message this call may hear, until it has heard it.
    storm: Option<StormScope>,
    token: u64,
    deadline: Option<Instant>,
    out: VecDeque<Action>,
}

impl Ivr {
    pub fn new(plan: Arc<Plan>) -> Ivr {
        let lang = plan.default_language;
        Ivr {
            plan,
            lang,
            node: None,
            wait: Wait::Idle,
            typeahead: VecDeque::new(),
            vars: HashMap::new(),
            path: Vec::new(),
            trail: Vec::new(),
            storm: None,
            token: 0,
            deadline: None,
            out: VecDeque::new(),
        }
    }

    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }

    pub fn language(&self) -> Lang {
        self.lang
    }

    pub fn vars(&self) -> &HashMap<String, String> {
        &self.vars
    }

    /// Digits chosen in menus so far (the caller's path, shown to the agent).
    pub fn path(&self) -> &[String] {
        &self.path
    }

    /// Set before `start`: the storm message in force for this call.
    pub fn set_storm(&mut self, scope: Option<StormScope>) {
        self.storm = scope;
    }

    /// The caller's way through the plan in words ("Français → Permis").
    pub fn trail(&self) -> &[String] {
        &self.trail
    }

    pub fn current_node(&self) -> Option<&str> {
        self.node
            .and_then(|n| self.plan.node(n))
            .map(|n| n.name.as_str())
    }

    pub fn is_done(&self) -> bool {
        matches!(self.wait, Wait::Done | Wait::Queued)
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    pub fn poll(&mut self) -> Option<Action> {
        self.out.pop_front()
    }

    /// Enter the plan at `entry`.
    pub fn start(&mut self, entry: NodeId, now: Now) {
        self.goto(entry, now);
    }

    /// Continue at a node after the call left the interpreter (queue overflow to voicemail).
    pub fn resume_at(&mut self, node: NodeId, now: Now) {
        self.goto(node, now);
    }

    pub fn on_digit(&mut self, d: char, now: Now) {
        match self.wait.clone() {
            Wait::Menu { attempt, listening } => {
                if !listening {
                    self.out.push_back(Action::StopPlay);
                }
                self.menu_digit(d, attempt, now);
            }
            Wait::Collect(mut st) => {
                if !st.listening {
                    self.out.push_back(Action::StopPlay);
                    st.listening = true;
                }
                self.collect_digit(d, st, now);
            }
            Wait::Playing { then, barge_in } => {
                self.typeahead.push_back(d);
                if barge_in {
                    self.out.push_back(Action::StopPlay);
                    self.then(then, now);
                }
            }
            Wait::Recording { next } => {
                // '#' ends a recording early (as the prompt says).
                if d == '#' {
                    self.wait = Wait::Idle;
                    self.goto(next, now);
                }
            }
            Wait::Idle => self.typeahead.push_back(d),
            Wait::Transferring { .. } | Wait::Queued | Wait::Done => {}
        }
    }

    pub fn on_play_finished(&mut self, token: u64, now: Now) {
        if token != self.token {
            return; // a playlist we already stopped
        }
        match self.wait.clone() {
            Wait::Playing { then, .. } => self.then(then, now),
            Wait::Menu {
                attempt,
                listening: false,
            } => {
                self.wait = Wait::Menu {
                    attempt,
                    listening: true,
                };
                let timeout = self.menu().map(|m| m.timeout).unwrap_or(Duration::ZERO);
                self.deadline = Some(now.mono + timeout);
            }
            Wait::Collect(mut st) if !st.listening => {
                st.listening = true;
                self.deadline = Some(now.mono + self.collect_timeout());
                self.wait = Wait::Collect(st);
            }
            _ => {}
        }
    }

    pub fn on_timer(&mut self, now: Now) {
        match self.deadline {
            Some(d) if d <= now.mono => self.deadline = None,
            _ => return,
        }
        match self.wait.clone() {
            Wait::Menu {
                attempt,
                listening: true,
            } => {
                let Some(node) = self.node_name() else {
                    return;
                };
                self.out
                    .push_back(Action::Event(IvrEvent::MenuTimeout { node }));
                self.menu_retry(attempt, true, now);
            }
            Wait::Collect(st) if st.listening => self.collect_timeout_hit(st, now),
            _ => {}
        }
    }

    pub fn on_transfer_failed(&mut self, now: Now) {
        if let Wait::Transferring { on_failure } = self.wait.clone() {
            match on_failure {
                Some(n) => self.goto(n, now),
                None => self.finish(Action::Hangup {
                    outcome: "transfer-failed".into(),
                }),
            }
        }
    }

    /// The plan's emergency digit pressed outside a menu (a queue that allows it): the same
    /// escape as in a menu — logged, the emergency prompts, then the transfer.
    pub fn emergency_escape(&mut self, now: Now) -> bool {
        let Some(em) = self.plan.emergency.clone() else {
            return false;
        };
        let node = self.node_name().unwrap_or_default();
        self.out
            .push_back(Action::Event(IvrEvent::EmergencyEscape { node }));
        self.typeahead.clear();
        self.deadline = None;
        self.emergency(&em.target, &em.prompts, now);
        true
    }

    pub fn on_record_done(&mut self, now: Now) {
        if let Wait::Recording { next } = self.wait.clone() {
            self.wait = Wait::Idle;
            self.goto(next, now);
        }
    }

    // ---- internals ----

    fn node_name(&self) -> Option<String> {
        self.current_node().map(str::to_string)
    }

    fn menu(&self) -> Option<&Menu> {
        match self.node.and_then(|n| self.plan.node(n)).map(|n| &n.kind) {
            Some(NodeKind::Menu(m)) => Some(m),
            _ => None,
        }
    }

    fn say(&self, prompts: &[PromptRef]) -> Vec<Say> {
        prompts
            .iter()
            .map(|p| Say {
                id: p.id.clone(),
                lang: p.resolve(self.lang),
            })
            .collect()
    }

    fn play(&mut self, prompts: Vec<Say>, barge_in: bool) {
        self.token += 1;
        for p in &prompts {
            self.out.push_back(Action::Event(IvrEvent::PromptPlayed {
                prompt: p.id.clone(),
                lang: p.lang,
            }));
        }
        self.out.push_back(Action::Play {
            token: self.token,
            prompts,
            barge_in,
        });
    }

    fn finish(&mut self, action: Action) {
        self.deadline = None;
        self.wait = Wait::Done;
        self.out.push_back(action);
    }

    fn then(&mut self, then: Then, now: Now) {
        self.wait = Wait::Idle;
        match then {
            Then::Goto(n) => self.goto(n, now),
            Then::Enqueue(q) => {
                self.wait = Wait::Queued;
                self.out.push_back(Action::Enqueue {
                    queue: q,
                    lang: self.lang,
                    path: self.path.clone(),
                    vars: self.vars.clone(),
                });
            }
            Then::Transfer(t, on_failure) => {
                self.wait = Wait::Transferring { on_failure };
                self.out.push_back(Action::Transfer { target: t });
            }
            Then::Record { max_seconds, next } => {
                self.wait = Wait::Recording { next };
                self.out.push_back(Action::Record { max_seconds });
            }
            Then::Hangup(outcome) => self.finish(Action::Hangup { outcome }),
        }
    }

    /// Play intro prompts (if any), then do `then`.
    fn intro_then(&mut self, prompts: &[PromptRef], barge_in: bool, then: Then, now: Now) {
        if prompts.is_empty() {
            self.then(then, now);
        } else {
            let say = self.say(prompts);
            self.play(say, barge_in);
            self.wait = Wait::Playing { then, barge_in };
        }
    }

    fn goto(&mut self, start: NodeId, now: Now) {
        let plan = self.plan.clone();
        let mut id = start;
        for _ in 0..MAX_STEPS {
            let Some(node) = plan.node(id) else {
                self.finish(Action::Hangup {
                    outcome: "error:unknown-node".into(),
                });
                return;
            };
            self.node = Some(id);
            self.deadline = None;
            self.out.push_back(Action::Event(IvrEvent::NodeEntered {
                node: node.name.clone(),
                kind: node.kind.type_name(),
            }));
            match &node.kind {
                NodeKind::Goto { next } => id = *next,
                NodeKind::Language { lang, next } => {
                    self.lang = *lang;
                    self.trail.push(node.words());
                    self.out
                        .push_back(Action::Event(IvrEvent::LanguageChosen { lang: *lang }));
                    if self.storm.as_ref().is_some_and(|s| s.all) {
                        self.storm = None;
                        let say = vec![Say {
                            id: STORM_PROMPT.into(),
                            lang: self.lang,
                        }];
                        self.play(say, false);
                        self.wait = Wait::Playing {
                            then: Then::Goto(*next),
                            barge_in: false,
                        };
                        return;
                    }
                    id = *next;
                }
                NodeKind::Branch { rules, otherwise } => {
                    let ctx = CondContext {
                        plan: &plan,
                        at: now.wall,
                        lang: self.lang,
                        vars: &self.vars,
                    };
                    let mut chosen = *otherwise;
                    for (cond, next) in rules {
                        let (taken, reason) = cond.eval(&ctx);
                        self.out.push_back(Action::Event(IvrEvent::BranchTaken {
                            node: node.name.clone(),
                            condition: cond.to_string(),
                            taken,
                            reason,
                        }));
                        if taken {
                            chosen = *next;
                            break;
                        }
                    }
                    id = chosen;
                }
                NodeKind::Play {
                    prompts,
                    next,
                    barge_in,
                } => {
                    if prompts.is_empty() {
                        id = *next;
                        continue;
                    }
                    self.intro_then(prompts, *barge_in, Then::Goto(*next), now);
                    return;
                }
                NodeKind::Menu(m) => {
                    self.wait = Wait::Menu {
                        attempt: 0,
                        listening: false,
                    };
                    if let Some(d) = self.typeahead.pop_front() {
                        // The caller already answered this menu: act without prompting.
                        self.wait = Wait::Menu {
                            attempt: 0,
                            listening: true,
                        };
                        self.menu_digit(d, 0, now);
                    } else {
                        let say = self.say(&m.prompts);
                        self.play(say, true);
                    }
                    return;
                }
                NodeKind::Collect(c) => {
                    let st = CollectState {
                        attempt: 0,
                        digits: String::new(),
                        confirming: false,
                        listening: false,
                    };
                    let say = self.say(&c.prompts);
                    self.wait = Wait::Collect(st.clone());
                    if self.typeahead.is_empty() {
                        self.play(say, true);
                    } else {
                        let mut st = st;
                        st.listening = true;
                        while let Some(d) = self.typeahead.pop_front() {
                            self.collect_digit(d, st.clone(), now);
                            match &self.wait {
                                Wait::Collect(s) => st = s.clone(),
                                _ => break,
                            }
                        }
                    }
                    return;
                }
                NodeKind::Record(r) => {
                    let mut prompts = r.prompts.clone();
                    if r.beep {
                        prompts.push(PromptRef {
                            id: "beep".into(),
                            lang: None,
                        });
                    }
                    let then = Then::Record {
                        max_seconds: r.max_seconds,
                        next: r.next,
                    };
                    self.intro_then(&prompts, false, then, now);
                    return;
                }
                NodeKind::Queue(q) => {
                    if self
                        .storm
                        .as_ref()
                        .is_some_and(|s| s.queues.contains(&q.queue))
                    {
                        self.storm = None;
                        let mut say = vec![Say {
                            id: STORM_PROMPT.into(),
                            lang: self.lang,
                        }];
                        say.extend(self.say(&q.prompts));
                        self.play(say, false);
                        self.wait = Wait::Playing {
                            then: Then::Enqueue(q.clone()),
                            barge_in: false,
                        };
                        return;
                    }
                    self.intro_then(&q.prompts, false, Then::Enqueue(q.clone()), now);
                    return;
                }
                NodeKind::Transfer {
                    target,
                    prompts,
                    on_failure,
                } => {
                    let Some(t) = plan.target(target).cloned() else {
                        self.finish(Action::Hangup {
                            outcome: format!("error:unknown-target:{target}"),
                        });
                        return;
                    };
                    self.intro_then(prompts, false, Then::Transfer(t, *on_failure), now);
                    return;
                }
                NodeKind::Hangup { prompts, outcome } => {
                    self.intro_then(prompts, false, Then::Hangup(outcome.clone()), now);
                    return;
                }
            }
        }
        self.finish(Action::Hangup {
            outcome: "error:loop".into(),
        });
    }

    fn menu_digit(&mut self, d: char, attempt: u32, now: Now) {
        let Some(m) = self.menu().cloned() else {
            return;
        };
        let node = self.node_name().unwrap_or_default();
        self.deadline = None;
        if let Some(em) = self
            .plan
            .emergency
            .clone()
            .filter(|e| m.emergency && e.digit == d)
        {
            self.out
                .push_back(Action::Event(IvrEvent::EmergencyEscape { node }));
            self.typeahead.clear();
            self.emergency(&em.target, &em.prompts, now);
            return;
        }
        match m.choices.get(&d) {
            Some(&next) => {
                let next_name = self
                    .plan
                    .node(next)
                    .map(|n| n.name.clone())
                    .unwrap_or_default();
                self.out.push_back(Action::Event(IvrEvent::MenuChoice {
                    node,
                    digit: d,
                    next: next_name,
                }));
                self.path.push(d.to_string());
                // A language node says its own word when the call passes it.
                if let Some(n) = self
                    .plan
                    .node(next)
                    .filter(|n| !matches!(n.kind, NodeKind::Language { .. }))
                {
                    self.trail.push(n.words());
                }
                self.goto(next, now);
            }
            None => {
                self.out
                    .push_back(Action::Event(IvrEvent::MenuInvalid { node, digit: d }));
                // What else was typed ahead was meant for a menu the caller is not in.
                self.typeahead.clear();
                self.menu_retry(attempt, false, now);
            }
        }
    }

    fn menu_retry(&mut self, attempt: u32, timed_out: bool, now: Now) {
        let Some(m) = self.menu().cloned() else {
            return;
        };
        let attempt = attempt + 1;
        if attempt > m.retries {
            self.goto(m.on_fail, now);
            return;
        }
        let mut prompts = if timed_out {
            m.no_input.clone()
        } else {
            m.invalid.clone()
        };
        prompts.extend(m.prompts.iter().cloned());
        let say = self.say(&prompts);
        self.wait = Wait::Menu {
            attempt,
            listening: false,
        };
        self.play(say, true);
    }

    /// The emergency escape: straight to the target, whatever else is configured.
    fn emergency(&mut self, target: &str, prompts: &[PromptRef], now: Now) {
        let t = self.plan.target(target).cloned().unwrap_or_else(|| Target {
            name: target.to_string(),
            kind: crate::dialplan::model::TargetKind::Transfer,
            uri: String::new(),
            label: target.to_string(),
        });
        self.intro_then(prompts, false, Then::Transfer(t, None), now);
    }

    fn collect_def(&self) -> Option<crate::dialplan::model::Collect> {
        match self.node.and_then(|n| self.plan.node(n)).map(|n| &n.kind) {
            Some(NodeKind::Collect(c)) => Some(c.clone()),
            _ => None,
        }
    }

    fn collect_timeout(&self) -> Duration {
        self.collect_def()
            .map(|c| c.timeout)
            .unwrap_or(Duration::from_secs(5))
    }

    fn collect_digit(&mut self, d: char, mut st: CollectState, now: Now) {
        let Some(c) = self.collect_def() else {
            return;
        };
        if st.confirming {
            match d {
                '1' => {
                    self.vars.insert(c.variable.clone(), st.digits.clone());
                    self.out.push_back(Action::Event(IvrEvent::Collected {
                        variable: c.variable.clone(),
                        digits: st.digits.clone(),
                    }));
                    self.wait = Wait::Idle;
                    self.goto(c.next, now);
                }
                // 2 = re-enter, as the read-back offers: a choice, not an invalid key.
                '2' => self.collect_restart(st, false, now),
                _ => self.collect_restart(st, true, now),
            }
            return;
        }
        let terminated = c.terminator == Some(d);
        if !terminated {
            if d.is_ascii_digit() {
                st.digits.push(d);
            } else {
                // '*' clears what was typed (a common IVR convention).
                st.digits.clear();
            }
        }
        if terminated || st.digits.len() >= c.max_digits {
            self.collect_complete(st, now);
        } else {
            self.deadline = Some(now.mono + c.timeout);
            self.wait = Wait::Collect(st);
        }
    }

    fn collect_timeout_hit(&mut self, st: CollectState, now: Now) {
        if st.confirming {
            self.collect_restart(st, true, now);
        } else {
            self.collect_complete(st, now);
        }
    }

    fn collect_complete(&mut self, mut st: CollectState, now: Now) {
        let Some(c) = self.collect_def() else {
            return;
        };
        self.deadline = None;
        if st.digits.len() < c.min_digits {
            self.collect_restart(st, true, now);
            return;
        }
        if !c.confirm {
            self.vars.insert(c.variable.clone(), st.digits.clone());
            self.out.push_back(Action::Event(IvrEvent::Collected {
                variable: c.variable.clone(),
                digits: st.digits.clone(),
            }));
            self.wait = Wait::Idle;
            self.goto(c.next, now);
            return;
        }
        let mut prompts = vec![Say {
            id: "callback_you_entered".into(),
            lang: self.lang,
        }];
        prompts.extend(st.digits.chars().map(|ch| Say {
            id: format!("num_{ch}"),
            lang: self.lang,
        }));
        prompts.push(Say {
            id: "confirm_or_retry".into(),
            lang: self.lang,
        });
        st.confirming = true;
        st.listening = false;
        self.wait = Wait::Collect(st);
        self.play(prompts, true);
    }

    /// Ask for the digits again (`invalid`: after a bad entry, say so first).
    fn collect_restart(&mut self, st: CollectState, invalid: bool, now: Now) {
        let Some(c) = self.collect_def() else {
            return;
        };
        let attempt = st.attempt + 1;
        if attempt > c.retries {
            self.wait = Wait::Idle;
            self.goto(c.on_fail, now);
            return;
        }
        let mut prompts = Vec::new();
        if invalid {
            prompts.push(PromptRef {
                id: "invalid".into(),
                lang: None,
            });
        }
        prompts.extend(c.prompts.iter().cloned());
        let say = self.say(&prompts);
        self.wait = Wait::Collect(CollectState {
            attempt,
            digits: String::new(),
            confirming: false,
            listening: false,
        });
        self.play(say, true);
    }
}

#[cfg(test)]
mod tests;
