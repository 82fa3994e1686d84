//! The dial plan as the engine uses it: a validated, immutable graph of nodes (menus, prompts,
//! branches on the calendar, queues, transfers …), the numbers that enter it, the named exits
//! (911, 811, neighbouring towns, partners), calendars and queues. One `Plan` is one loaded
//! version; calls hold an `Arc<Plan>` and finish on the version they started with.
//!
//! No I/O here: `load` builds plans from files, `validate` checks them.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::Duration;

use jiff::civil::{Date, Time, Weekday};
use jiff::Timestamp;

use super::calendar::Calendar;
use crate::media::prompt::Lang;

pub type NodeId = usize;

/// A prompt as a node names it: `"goodbye"` plays in the call's language, `"en:goodbye"`
/// always in English (the bilingual greeting before the caller has chosen).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PromptRef {
    pub id: String,
    pub lang: Option<Lang>,
}

impl PromptRef {
    pub fn parse(s: &str) -> PromptRef {
        if let Some((l, id)) = s.split_once(':') {
            if let Ok(lang) = l.parse::<Lang>() {
                return PromptRef {
                    id: id.to_string(),
                    lang: Some(lang),
                };
            }
        }
        PromptRef {
            id: s.to_string(),
            lang: None,
        }
    }

    pub fn resolve(&self, call_lang: Lang) -> Lang {
        self.lang.unwrap_or(call_lang)
    }
}

impl fmt::Display for PromptRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.lang {
            Some(l) => write!(f, "{l}:{}", self.id),
            None => f.write_str(&self.id),
        }
    }
}

/// How an exit leaves the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// 302 Moved Temporarily with the target as Contact (only before answering; once a call
    /// is answered, a redirect becomes a transfer).
    Redirect,
    /// We stay in the call as a B2BUA and bridge the caller to the target.
    Transfer,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub kind: TargetKind,
    pub uri: String,
    pub label: String,
}

impl Target {
    /// The call-log outcome for leaving through this target (e.g. `redirect:911`).
    pub fn outcome(&self, answered: bool) -> String {
        match (self.kind, answered) {
            (TargetKind::Redirect, false) => format!("redirect:{}", self.name),
            _ => format!("transfer:{}", self.name),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Misdial {
    pub numbers: Vec<String>,
    pub target: String,
}

/// The "emergency? press 9" escape, declared once, active in every menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emergency {
    pub digit: char,
    pub target: String,
    pub prompts: Vec<PromptRef>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Menu {
    pub prompts: Vec<PromptRef>,
    pub choices: BTreeMap<char, NodeId>,
    /// Wait for a digit this long after the prompt ends.
    pub timeout: Duration,
    /// Re-prompts after an invalid digit or silence, before `on_fail`.
    pub retries: u32,
    pub invalid: Vec<PromptRef>,
    pub no_input: Vec<PromptRef>,
    pub on_fail: NodeId,
    /// Whether the plan's emergency digit works here.
    pub emergency: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueueNode {
    pub queue: String,
    /// Skills the caller needs on top of the queue's own (the caller's language is implied).
    pub skills: Vec<String>,
    pub topic: Option<String>,
    pub priority: i32,
    pub prompts: Vec<PromptRef>,
    /// The city's information page agents open for this topic (label, address).
    pub knowledge: Option<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Collect {
    pub variable: String,
    pub prompts: Vec<PromptRef>,
    pub min_digits: usize,
    pub max_digits: usize,
    pub terminator: Option<char>,
    /// Time allowed for the first digit, and between digits.
    pub timeout: Duration,
    /// Read the digits back and ask 1 = correct / 2 = re-enter.
    pub confirm: bool,
    pub retries: u32,
    pub next: NodeId,
    pub on_fail: NodeId,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub prompts: Vec<PromptRef>,
    pub max_seconds: u32,
    pub beep: bool,
    pub next: NodeId,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Play {
        prompts: Vec<PromptRef>,
        next: NodeId,
        barge_in: bool,
    },
    Menu(Menu),
    Language {
        lang: Lang,
        next: NodeId,
    },
    Branch {
        rules: Vec<(Condition, NodeId)>,
        otherwise: NodeId,
    },
    Queue(QueueNode),
    Collect(Collect),
    Record(Record),
    Transfer {
        target: String,
        prompts: Vec<PromptRef>,
        on_failure: Option<NodeId>,
    },
    Hangup {
        prompts: Vec<PromptRef>,
        outcome: String,
    },
    Goto {
        next: NodeId,
    },
}

impl NodeKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            NodeKind::Play { .. } => "play",
            NodeKind::Menu(_) => "menu",
            NodeKind::Language { .. } => "language",
            NodeKind::Branch { .. } => "branch",
            NodeKind::Queue(_) => "queue",
            NodeKind::Collect(_) => "collect",
            NodeKind::Record(_) => "record",
            NodeKind::Transfer { .. } => "transfer",
            NodeKind::Hangup { .. } => "hangup",
            NodeKind::Goto { .. } => "goto",
        }
    }

    /// Nodes this one can lead to.
    pub fn successors(&self) -> Vec<NodeId> {
        match self {
            NodeKind::Play { next, .. }
            | NodeKind::Language { next, .. }
            | NodeKind::Goto { next } => vec![*next],
            NodeKind::Menu(m) => m
                .choices
                .values()
                .copied()
                .chain(std::iter::once(m.on_fail))
                .collect(),
            NodeKind::Branch { rules, otherwise } => rules
                .iter()
                .map(|(_, n)| *n)
                .chain(std::iter::once(*otherwise))
                .collect(),
            NodeKind::Collect(c) => vec![c.next, c.on_fail],
            NodeKind::Record(r) => vec![r.next],
            NodeKind::Transfer { on_failure, .. } => on_failure.iter().copied().collect(),
            NodeKind::Queue(_) | NodeKind::Hangup { .. } => vec![],
        }
    }

    /// Whether the caller can act here (a loop through such a node is not a trap).
    pub fn waits_for_caller(&self) -> bool {
        matches!(
            self,
            NodeKind::Menu(_) | NodeKind::Collect(_) | NodeKind::Record(_)
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    pub kind: NodeKind,
    /// The node in words for agents ("Permis"); None: made from the name.
    pub label: Option<String>,
}

impl Node {
    /// The node in words: its label, else its name made readable ("q_permis" → "Permis"),
    /// else, for a language node, the language.
    pub fn words(&self) -> String {
        if let Some(l) = &self.label {
            return l.clone();
        }
        if let NodeKind::Language { lang, .. } = &self.kind {
            return match lang {
                Lang::Fr => "Français".into(),
                Lang::En => "English".into(),
            };
        }
        let base = self
            .name
            .strip_prefix("q_")
            .or_else(|| self.name.strip_prefix("menu_"))
            .unwrap_or(&self.name)
            .replace('_', " ");
        let mut c = base.chars();
        match c.next() {
            Some(f) => f.to_uppercase().chain(c).collect(),
            None => base,
        }
    }
}

/// A condition a `branch` node tests.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Open per the calendar (hours, minus holidays and closures).
    Open(Option<String>),
    Closed(Option<String>),
    Holiday(Option<String>),
    Closure(Option<String>),
    Season(String, Option<String>),
    Weekday(Vec<Weekday>),
    /// Local time of day in [start, end).
    TimeOfDay(Time, Time),
    /// Local date in [first, last] inclusive.
    DateRange(Date, Date),
    Lang(Lang),
    /// A variable set by a `collect` node equals a value.
    Var(String, String),
    Not(Box<Condition>),
    All(Vec<Condition>),
    Any(Vec<Condition>),
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = |c: &Option<String>| c.as_ref().map(|c| format!("@{c}")).unwrap_or_default();
        match self {
            Condition::Open(c) => write!(f, "open{}", at(c)),
            Condition::Closed(c) => write!(f, "closed{}", at(c)),
            Condition::Holiday(c) => write!(f, "holiday{}", at(c)),
            Condition::Closure(c) => write!(f, "closure{}", at(c)),
            Condition::Season(s, c) => write!(f, "season:{s}{}", at(c)),
            Condition::Weekday(days) => {
                let names: Vec<String> = days
                    .iter()
                    .map(|d| format!("{d:?}").to_ascii_lowercase()[..3].to_string())
                    .collect();
                write!(f, "weekday:{}", names.join(","))
            }
            Condition::TimeOfDay(a, b) => {
                write!(f, "time:{}-{}", a.strftime("%H:%M"), b.strftime("%H:%M"))
            }
            Condition::DateRange(a, b) => write!(f, "date:{a}..{b}"),
            Condition::Lang(l) => write!(f, "lang:{l}"),
            Condition::Var(k, v) => write!(f, "var:{k}={v}"),
            Condition::Not(c) => write!(f, "not {c}"),
            Condition::All(cs) => {
                let parts: Vec<String> = cs.iter().map(|c| format!("({c})")).collect();
                f.write_str(&parts.join(" and "))
            }
            Condition::Any(cs) => {
                let parts: Vec<String> = cs.iter().map(|c| format!("({c})")).collect();
                f.write_str(&parts.join(" or "))
            }
        }
    }
}

/// What a condition is evaluated against.
pub struct CondContext<'a> {
    pub plan: &'a Plan,
    pub at: Timestamp,
    pub lang: Lang,
    pub vars: &'a HashMap<String, String>,
}

impl Condition {
    /// Evaluate, with a short explanation for dry runs and the call log.
    pub fn eval(&self, ctx: &CondContext<'_>) -> (bool, String) {
        let cal = |name: &Option<String>| ctx.plan.calendar(name.as_deref());
        match self {
            Condition::Open(c) | Condition::Closed(c) => {
                let Some(cal) = cal(c) else {
                    return (false, "no calendar".into());
                };
                let st = cal.status(ctx.at);
                let want_open = matches!(self, Condition::Open(_));
                (st.open == want_open, st.reason)
            }
            Condition::Holiday(c) => match cal(c) {
                Some(cal) => {
                    let st = cal.status(ctx.at);
                    match st.holiday {
                        Some(h) => (true, format!("holiday {h}")),
                        None => (false, "not a holiday".into()),
                    }
                }
                None => (false, "no calendar".into()),
            },
            Condition::Closure(c) => match cal(c) {
                Some(cal) => {
                    let st = cal.status(ctx.at);
                    match st.closure {
                        Some(h) => (true, format!("closure {h}")),
                        None => (false, "no closure".into()),
                    }
                }
                None => (false, "no calendar".into()),
            },
            Condition::Season(s, c) => match cal(c) {
                Some(cal) => {
                    let st = cal.status(ctx.at);
                    let yes = st.seasons.iter().any(|x| x == s);
                    let now = if st.seasons.is_empty() {
                        "no season".to_string()
                    } else {
                        format!("season {}", st.seasons.join(","))
                    };
                    (yes, now)
                }
                None => (false, "no calendar".into()),
            },
            Condition::Weekday(days) => {
                let local = ctx.plan.local(ctx.at);
                let wd = local.weekday();
                (days.contains(&wd), format!("{wd:?}"))
            }
            Condition::TimeOfDay(a, b) => {
                let t = ctx.plan.local(ctx.at).time();
                (
                    t >= *a && t < *b,
                    format!("local time {}", t.strftime("%H:%M")),
                )
            }
            Condition::DateRange(a, b) => {
                let d = ctx.plan.local(ctx.at).date();
                (d >= *a && d <= *b, format!("local date {d}"))
            }
            Condition::Lang(l) => (ctx.lang == *l, format!("language {}", ctx.lang)),
            Condition::Var(k, v) => {
                let cur = ctx.vars.get(k);
                (
                    cur == Some(v),
                    format!("{k}={}", cur.map(String::as_str).unwrap_or("(unset)")),
                )
            }
            Condition::Not(c) => {
                let (b, why) = c.eval(ctx);
                (!b, why)
            }
            Condition::All(cs) => {
                let mut whys = Vec::new();
                for c in cs {
                    let (b, why) = c.eval(ctx);
                    whys.push(why);
                    if !b {
                        return (false, whys.join("; "));
                    }
                }
                (true, whys.join("; "))
            }
            Condition::Any(cs) => {
                let mut whys = Vec::new();
                for c in cs {
                    let (b, why) = c.eval(ctx);
                    whys.push(why);
                    if b {
                        return (true, whys.join("; "));
                    }
                }
                (false, whys.join("; "))
            }
        }
    }
}

/// A skill a queue requires, with a minimum proficiency (1–5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkillReq {
    pub skill: String,
    pub min_level: u8,
}

/// A relaxation step: after `after` in queue, requirements loosen (the caller keeps their place).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relax {
    pub after: Duration,
    /// Lower every required proficiency to at most this.
    pub min_level: Option<u8>,
    /// Stop requiring these skills (the caller's language is never dropped).
    pub drop_skills: Vec<String>,
}

/// What happens to a caller who waited `max_wait`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overflow {
    /// Continue in the plan at this node (e.g. a voicemail `record` node).
    Node(NodeId),
    /// Leave through a named target.
    Target(String),
    /// Offer a callback and end the call keeping the caller's place.
    Callback,
}

/// Season-specific changes to a queue (winter snow line, summer staffing).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SeasonOverride {
    pub skills: Option<Vec<SkillReq>>,
    pub priority: Option<i32>,
    /// The queue is closed this season: callers go to `overflow`.
    pub closed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDef {
    pub name: String,
    pub skills: Vec<SkillReq>,
    pub priority: i32,
    /// Service-level target: `sl_percent` % answered within `sl_seconds`.
    pub sl_percent: u8,
    pub sl_seconds: u32,
    pub relax: Vec<Relax>,
    pub hold_prompts: Vec<PromptRef>,
    /// Position/estimated-wait announcement period (0 = never).
    pub announce_every: Duration,
    /// Offer "press 1 to be called back" with the announcements.
    pub offer_callback: bool,
    /// Callers waiting here may press the plan's emergency digit (announced in the hold
    /// prompts): they leave the queue for the emergency target, as from a menu.
    pub emergency_escape: bool,
    /// The information page agents open for this queue's calls (label, address).
    pub knowledge: Option<(String, String)>,
    /// What an agent records after a call from this queue ("information given" …).
    pub dispositions: Vec<String>,
    /// Offer it when the estimated wait is at least this (or unknown), and again to a caller
    /// held far past the wait they were told; pressing 1 works whenever `offer_callback`.
    pub callback_threshold: Duration,
    /// A caller who hung up while waiting and calls again from the same number within this
    /// window gets their place back (abandoned-resume); zero turns it off.
    pub resume_window: Duration,
    /// Also recognise callers whose number is withheld (anonymous presentation).
    pub resume_withheld: bool,
    pub max_wait: Option<Duration>,
    pub overflow: Option<Overflow>,
    pub seasons: BTreeMap<String, SeasonOverride>,
    /// Calendar whose seasons apply (None: the plan's default).
    pub calendar: Option<String>,
}

/// One loaded, validated version of a dial plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Identifies this version on every call record (load time + content hash).
    pub version: String,
    pub name: String,
    pub default_language: Lang,
    pub numbers: BTreeMap<String, NodeId>,
    pub misdials: Vec<Misdial>,
    pub targets: BTreeMap<String, Target>,
    pub calendars: BTreeMap<String, Calendar>,
    pub default_calendar: Option<String>,
    pub emergency: Option<Emergency>,
    pub queues: BTreeMap<String, QueueDef>,
    pub nodes: Vec<Node>,
    pub node_ids: HashMap<String, NodeId>,
}

impl Plan {
    pub fn node(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(id)
    }

    pub fn node_id(&self, name: &str) -> Option<NodeId> {
        self.node_ids.get(name).copied()
    }

    pub fn calendar(&self, name: Option<&str>) -> Option<&Calendar> {
        match name {
            Some(n) => self.calendars.get(n),
            None => self
                .default_calendar
                .as_deref()
                .and_then(|n| self.calendars.get(n))
                .or_else(|| self.calendars.values().next()),
        }
    }

    /// Local civil time in the default calendar's zone (America/Toronto without one).
    pub fn local(&self, at: Timestamp) -> jiff::civil::DateTime {
        let tz = self
            .calendar(None)
            .map(|c| c.tz.clone())
            .unwrap_or_else(Calendar::default_time_zone);
        at.to_zoned(tz).datetime()
    }

    /// Where a called number leads: a misdial exit first (emergencies before anything else),
    /// then an entry node, then the catch-all entry `"s"` if the plan has one.
    pub fn route(&self, dialled: &str) -> Route<'_> {
        let n = normalize_number(dialled);
        for m in &self.misdials {
            if m.numbers.iter().any(|x| normalize_number(x) == n) {
                if let Some(t) = self.targets.get(&m.target) {
                    return Route::Exit(t);
                }
            }
        }
        match self.numbers.get(&n).or_else(|| self.numbers.get("s")) {
            Some(&id) => Route::Entry(id),
            None => Route::Unknown,
        }
    }

    pub fn target(&self, name: &str) -> Option<&Target> {
        self.targets.get(name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Route<'a> {
    Entry(NodeId),
    Exit(&'a Target),
    Unknown,
}

/// Called numbers compare without separators: `9-1-1` = `911`, `+1 418 641-6411` =
/// `+14186416411`.
pub fn normalize_number(n: &str) -> String {
    n.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '*' | '#'))
        .collect()
}
