//! `[nodes.<name>]`: which fields each node type accepts, and one method per type (play,
//! menu, language, branch and its conditions, queue, collect, record, transfer, hangup, goto)
//! turning the flat raw table into a `model::NodeKind`.
//!
//! Owns: the node rules (required fields, keys, menu timeout paths, the emergency digit in
//! menus). Never does: graph checks over several nodes (`graph`), I/O, clock reads, panicking
//! on plan contents.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use super::{
    is_name, single_key, Checker, DEFAULT_INVALID_PROMPT, DEFAULT_MENU_RETRIES,
    DEFAULT_MENU_TIMEOUT_SECS, DEFAULT_NO_INPUT_PROMPT,
};
use crate::dialplan::condition::parse_condition;
use crate::dialplan::document::{suggest, Item, RawNode};
use crate::dialplan::model::{Collect, Condition, Menu, NodeKind, QueueNode, Record};
use crate::media::prompt::Lang;

const NODE_TYPES: &str =
    "play, menu, language, branch, queue, collect, record, transfer, hangup, goto";

/// The fields each node type accepts (`type` aside).
fn fields_of(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "play" => &["prompts", "next", "barge_in"],
        "menu" => &[
            "prompts",
            "choices",
            "timeout",
            "retries",
            "invalid",
            "no_input",
            "on_fail",
            "emergency",
        ],
        "language" => &["language", "next"],
        "branch" => &["rules", "else"],
        "queue" => &[
            "queue",
            "skills",
            "topic",
            "priority",
            "prompts",
            "knowledge",
        ],
        "collect" => &[
            "variable",
            "prompts",
            "min_digits",
            "max_digits",
            "terminator",
            "timeout",
            "confirm",
            "retries",
            "next",
            "on_fail",
        ],
        "record" => &["prompts", "max_seconds", "beep", "next"],
        "transfer" => &["target", "prompts", "on_failure"],
        "hangup" => &["prompts", "outcome"],
        "goto" => &["next"],
        _ => return None,
    })
}

impl Checker<'_> {
    pub(super) fn node(&mut self, item: &Item<RawNode>) -> Option<NodeKind> {
        let f = item.file;
        let r = &item.raw;
        let Some(kind) = &r.kind else {
            self.err(
                f,
                &item.key,
                format!(
                    "node `{}` has no `type`: add type = \"menu\" (or {NODE_TYPES})",
                    item.name
                ),
            );
            return None;
        };
        let k = kind.get_ref().trim();
        let Some(allowed) = fields_of(k) else {
            let hint = suggest(k, NODE_TYPES.split(", "));
            self.err(
                f,
                &kind.span(),
                format!("unknown node type `{k}`{hint}; types are: {NODE_TYPES}"),
            );
            return None;
        };
        for (field, span) in &item.keys {
            // Every node may have a label (its name in words, for agents' screen pops).
            if field != "type" && field != "label" && !allowed.contains(&field.as_str()) {
                self.err(
                    f,
                    span,
                    format!(
                        "`{field}` is not a field of a {k} node (a {k} node has: {})",
                        allowed.join(", ")
                    ),
                );
            }
        }
        match k {
            "play" => {
                let prompts = self.prompt_list(f, &r.prompts);
                if r.prompts.as_ref().is_none_or(Vec::is_empty) {
                    self.err(
                        f,
                        &item.key,
                        format!("play node `{}` needs `prompts`", item.name),
                    );
                }
                let next = self.need_node(item, &r.next, "next", k);
                Some(NodeKind::Play {
                    prompts,
                    next: next?,
                    barge_in: r.barge_in.as_ref().is_some_and(|b| *b.get_ref()),
                })
            }
            "menu" => self.menu(item).map(NodeKind::Menu),
            "language" => {
                let lang = match &r.language {
                    None => {
                        self.err(
                            f,
                            &item.key,
                            format!(
                                "language node `{}` needs `language` (\"fr\" or \"en\")",
                                item.name
                            ),
                        );
                        None
                    }
                    Some(l) => match l.get_ref().parse::<Lang>() {
                        Ok(l) => Some(l),
                        Err(e) => {
                            self.err(f, &l.span(), e.to_string());
                            None
                        }
                    },
                };
                let next = self.need_node(item, &r.next, "next", k);
                Some(NodeKind::Language {
                    lang: lang?,
                    next: next?,
                })
            }
            "branch" => self.branch(item),
            "queue" => self.queue_node(item),
            "collect" => self.collect(item).map(NodeKind::Collect),
            "record" => {
                let prompts = self.prompt_list(f, &r.prompts);
                let max_seconds = self.uint(f, &r.max_seconds, 120u32, 1, 3600, "max_seconds");
                let next = self.need_node(item, &r.next, "next", k);
                Some(NodeKind::Record(Record {
                    prompts,
                    max_seconds,
                    beep: r.beep.as_ref().is_none_or(|b| *b.get_ref()),
                    next: next?,
                }))
            }
            "transfer" => {
                let target = match &r.target {
                    None => {
                        self.err(
                            f,
                            &item.key,
                            format!("transfer node `{}` has no target: add target = \"<name from [targets]>\"", item.name),
                        );
                        None
                    }
                    Some(t) => self.target_ref(f, t),
                };
                let prompts = self.prompt_list(f, &r.prompts);
                let on_failure = match &r.on_failure {
                    Some(n) => Some(self.node_ref(f, n, "on_failure")?),
                    None => None,
                };
                Some(NodeKind::Transfer {
                    target: target?,
                    prompts,
                    on_failure,
                })
            }
            "hangup" => {
                let prompts = self.prompt_list(f, &r.prompts);
                let outcome = match &r.outcome {
                    None => "completed".to_string(),
                    Some(o) => {
                        let t = o.get_ref().trim();
                        if !is_name(t) {
                            self.err(
                                f,
                                &o.span(),
                                "`outcome` must be a short word like \"self-served\"",
                            );
                        }
                        t.to_string()
                    }
                };
                Some(NodeKind::Hangup { prompts, outcome })
            }
            "goto" => {
                let next = self.need_node(item, &r.next, "next", k);
                Some(NodeKind::Goto { next: next? })
            }
            _ => None,
        }
    }

    fn menu(&mut self, item: &Item<RawNode>) -> Option<Menu> {
        let f = item.file;
        let r = &item.raw;
        let name = &item.name;
        let prompts = self.prompt_list(f, &r.prompts);
        if r.prompts.as_ref().is_none_or(Vec::is_empty) {
            self.err(
                f,
                &item.key,
                format!(
                    "menu `{name}` needs `prompts` (what the caller hears before pressing a key)"
                ),
            );
        }
        let timeout = match &r.timeout {
            Some(t) => {
                let x = *t.get_ref();
                if (1..=60).contains(&x) {
                    u64::try_from(x).unwrap_or(DEFAULT_MENU_TIMEOUT_SECS)
                } else {
                    self.err(
                        f,
                        &t.span(),
                        format!("menu `{name}` has no timeout path: `timeout` must be 1 to 60 seconds, not {x}"),
                    );
                    DEFAULT_MENU_TIMEOUT_SECS
                }
            }
            None => self.defaults.timeout.unwrap_or(DEFAULT_MENU_TIMEOUT_SECS),
        };
        let retries = match &r.retries {
            Some(_) => self.uint(f, &r.retries, DEFAULT_MENU_RETRIES, 0, 9, "retries"),
            None => self.defaults.retries.unwrap_or(DEFAULT_MENU_RETRIES),
        };
        let (d_invalid, d_no_input) = (
            self.defaults.invalid.clone(),
            self.defaults.no_input.clone(),
        );
        let invalid = match (&r.invalid, d_invalid) {
            (Some(_), _) => self.prompt_list(f, &r.invalid),
            (None, Some(d)) => d,
            (None, None) => self.builtin_prompt(f, &item.key, DEFAULT_INVALID_PROMPT, "invalid"),
        };
        let no_input = match (&r.no_input, d_no_input) {
            (Some(_), _) => self.prompt_list(f, &r.no_input),
            (None, Some(d)) => d,
            (None, None) => self.builtin_prompt(f, &item.key, DEFAULT_NO_INPUT_PROMPT, "no_input"),
        };
        let emergency = r.emergency.as_ref().is_none_or(|e| *e.get_ref());
        let mut choices = BTreeMap::new();
        let mut complete = true;
        match &r.choices {
            Some(map) if !map.is_empty() => {
                for (k, v) in map {
                    let key = single_key(k.get_ref());
                    match key {
                        None => self.err(
                            f,
                            &k.span(),
                            format!("menu choice `{}` is not a phone key: use one of 0-9, * or #", k.get_ref()),
                        ),
                        Some(c) if emergency && Some(c) == self.emergency_digit => self.err(
                            f,
                            &k.span(),
                            format!("`{c}` is the plan's emergency digit ([plan] emergency): use another key, or set emergency = false in this menu"),
                        ),
                        Some(_) => {}
                    }
                    match (key, self.node_ref(f, v, "choices")) {
                        (Some(c), Some(id)) => {
                            choices.insert(c, id);
                        }
                        _ => complete = false,
                    }
                }
            }
            _ => {
                self.err(
                    f,
                    &item.key,
                    format!(
                        "menu `{name}` needs `choices`, e.g. choices = {{ \"1\" = \"francais\" }}"
                    ),
                );
                complete = false;
            }
        }
        let on_fail = match &r.on_fail {
            Some(n) => self.node_ref(f, n, "on_fail"),
            None => {
                self.graph_ok = false;
                self.err(
                    f,
                    &item.key,
                    format!("menu `{name}` has no timeout path: add on_fail = \"<node>\", where callers go after {retries} re-prompt(s) without a valid key"),
                );
                None
            }
        };
        if !complete {
            return None;
        }
        Some(Menu {
            prompts,
            choices,
            timeout: Duration::from_secs(timeout),
            retries,
            invalid,
            no_input,
            on_fail: on_fail?,
            emergency,
        })
    }

    fn branch(&mut self, item: &Item<RawNode>) -> Option<NodeKind> {
        let f = item.file;
        let r = &item.raw;
        let mut rules = Vec::new();
        let mut complete = true;
        if r.rules.as_ref().is_none_or(Vec::is_empty) {
            self.err(
                f,
                &item.key,
                format!("branch node `{}` needs `rules`, e.g. rules = [ {{ if = \"holiday\", goto = \"ferie\" }} ]", item.name),
            );
        }
        for rule in r.rules.iter().flatten() {
            let raw = rule.get_ref();
            let cond = match &raw.cond {
                None => {
                    self.err(f, &rule.span(), "a rule needs `if`, e.g. if = \"closed\"");
                    None
                }
                Some(c) => match parse_condition(c.get_ref()) {
                    Ok(cond) => {
                        self.check_condition(f, &c.span(), &cond);
                        Some(cond)
                    }
                    Err(m) => {
                        self.err(f, &c.span(), format!("bad condition: {m}"));
                        None
                    }
                },
            };
            let goto = match &raw.goto {
                None => {
                    self.graph_ok = false;
                    self.err(
                        f,
                        &rule.span(),
                        "a rule needs `goto`, the node to go to when `if` holds",
                    );
                    None
                }
                Some(g) => self.node_ref(f, g, "rules"),
            };
            match (cond, goto) {
                (Some(c), Some(g)) => rules.push((c, g)),
                _ => complete = false,
            }
        }
        let otherwise = self.need_node(item, &r.otherwise, "else", "branch");
        if !complete {
            return None;
        }
        Some(NodeKind::Branch {
            rules,
            otherwise: otherwise?,
        })
    }

    fn check_condition(&mut self, f: usize, span: &Range<usize>, c: &Condition) {
        match c {
            Condition::Open(cal)
            | Condition::Closed(cal)
            | Condition::Holiday(cal)
            | Condition::Closure(cal) => {
                self.calendar_for(f, span, cal.as_deref());
            }
            Condition::Season(s, cal) => self.season_exists(f, span, s, cal.as_deref()),
            Condition::Not(x) => self.check_condition(f, span, x),
            Condition::All(xs) | Condition::Any(xs) => {
                for x in xs {
                    self.check_condition(f, span, x);
                }
            }
            Condition::Weekday(_)
            | Condition::TimeOfDay(..)
            | Condition::DateRange(..)
            | Condition::Lang(_)
            | Condition::Var(..) => {}
        }
    }

    fn queue_node(&mut self, item: &Item<RawNode>) -> Option<NodeKind> {
        let f = item.file;
        let r = &item.raw;
        let queue = match &r.queue {
            None => {
                self.err(
                    f,
                    &item.key,
                    format!(
                        "queue node `{}` needs `queue` (a name from [queues])",
                        item.name
                    ),
                );
                None
            }
            Some(q) => {
                let n = q.get_ref().trim();
                if self.queue_names.contains(n) {
                    Some(n.to_string())
                } else {
                    if !self.doc.broken.queues.contains(n) {
                        let hint = suggest(n, self.queue_names.iter().map(String::as_str));
                        self.err(
                            f,
                            &q.span(),
                            format!(
                                "unknown queue `{n}`{hint}: queues are defined as [queues.<name>]"
                            ),
                        );
                    }
                    None
                }
            }
        };
        let skills: Vec<String> = r
            .skills
            .iter()
            .flatten()
            .filter(|s| self.skill(f, s).is_some())
            .map(|s| s.get_ref().trim().to_string())
            .collect();
        let priority = self.uint(f, &r.priority, 0i32, -100, 100, "priority");
        let prompts = self.prompt_list(f, &r.prompts);
        let knowledge = self.link(f, &r.knowledge);
        Some(NodeKind::Queue(QueueNode {
            queue: queue?,
            skills,
            topic: r.topic.as_ref().map(|t| t.get_ref().trim().to_string()),
            priority,
            prompts,
            knowledge,
        }))
    }

    fn collect(&mut self, item: &Item<RawNode>) -> Option<Collect> {
        let f = item.file;
        let r = &item.raw;
        let variable = match &r.variable {
            None => {
                self.err(
                    f,
                    &item.key,
                    format!(
                        "collect node `{}` needs `variable`, the name the digits are stored under",
                        item.name
                    ),
                );
                None
            }
            Some(v) => {
                let t = v.get_ref().trim();
                if t.is_empty() || !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    self.err(
                        f,
                        &v.span(),
                        "a variable name uses letters, digits and '_' only",
                    );
                    None
                } else {
                    Some(t.to_string())
                }
            }
        };
        let prompts = self.prompt_list(f, &r.prompts);
        let min_digits: usize = self.uint(f, &r.min_digits, 1, 1, 32, "min_digits");
        let max_digits: usize = self.uint(f, &r.max_digits, 20, 1, 32, "max_digits");
        if min_digits > max_digits {
            let at = r
                .max_digits
                .as_ref()
                .map_or_else(|| item.key.clone(), |m| m.span());
            self.err(
                f,
                &at,
                format!("max_digits ({max_digits}) is below min_digits ({min_digits})"),
            );
        }
        let terminator = match &r.terminator {
            None => Some('#'),
            Some(t) if t.get_ref().is_empty() => None,
            Some(t) => match single_key(t.get_ref()) {
                Some(c @ ('*' | '#')) => Some(c),
                _ => {
                    self.err(
                        f,
                        &t.span(),
                        "`terminator` must be \"#\", \"*\" or \"\" (none)",
                    );
                    None
                }
            },
        };
        let timeout: u64 = self.uint(f, &r.timeout, 5, 1, 60, "timeout");
        let retries: u32 = self.uint(f, &r.retries, 2, 0, 9, "retries");
        let next = self.need_node(item, &r.next, "next", "collect");
        let on_fail = self.need_node(item, &r.on_fail, "on_fail", "collect");
        Some(Collect {
            variable: variable?,
            prompts,
            min_digits,
            max_digits,
            terminator,
            timeout: Duration::from_secs(timeout),
            confirm: r.confirm.as_ref().is_some_and(|c| *c.get_ref()),
            retries,
            next: next?,
            on_fail: on_fail?,
        })
    }
}
