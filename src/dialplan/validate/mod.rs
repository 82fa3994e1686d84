//! Semantic checks of a dial plan, and its conversion from the document as written
//! (`document::Doc`, strings with positions) into the engine's model (`model::Plan`).
//!
//! Owns every rule that needs more than one value to decide: references (nodes, targets,
//! queues, calendars, prompts), menu keys and the emergency digit, timeout paths, loops without
//! an exit, unreachable nodes, calendars (hours, holidays, closures, overlapping seasons), queue
//! definitions and conditions. Every error carries the position of the offending value or key,
//! and all of them are returned, not just the first.
//! Never does I/O (prompts are asked through `PromptLookup`), never reads the clock, never
//! panics on plan contents.
//!
//! Files, by part of a plan: this one holds the checker, the order of the checks (`run`) and
//! the lookups every part shares (references, prompts, bounded numbers); `plan` the `[plan]`
//! table, targets, entry numbers and misdials; `calendars`; `queues`; `nodes` (one method per
//! node type); `graph` (loops and reachability over the finished nodes).

mod calendars;
mod graph;
mod nodes;
mod plan;
mod queues;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::path::PathBuf;

use super::calendar::Calendar;
use super::document::{suggest, Diag, Doc, Int, Item, PromptLookup, RawNode, Strings, Text};
use super::model::{Node, NodeId, NodeKind, Plan, PromptRef};
use crate::media::prompt::Lang;

/// Menu defaults when neither the menu nor `[plan.menu_defaults]` says otherwise.
pub const DEFAULT_MENU_TIMEOUT_SECS: u64 = 5;
pub const DEFAULT_MENU_RETRIES: u32 = 2;
pub const DEFAULT_INVALID_PROMPT: &str = "invalid";
pub const DEFAULT_NO_INPUT_PROMPT: &str = "no_input";
/// A queue with `callback = true` offers it once the estimated wait reaches 2 minutes.
pub const DEFAULT_CALLBACK_THRESHOLD_S: u64 = 120;

/// Checks the merged document and builds the plan (its `version` is left empty for `load`).
pub(crate) fn check(
    doc: &Doc,
    files: &[(PathBuf, String)],
    prompts: &dyn PromptLookup,
) -> Result<Plan, Vec<Diag>> {
    let mut ck = Checker {
        doc,
        files,
        prompts,
        diags: Vec::new(),
        graph_ok: !doc.had_errors,
        node_ids: HashMap::new(),
        calendars: BTreeMap::new(),
        default_calendar: None,
        target_names: HashSet::new(),
        queue_names: HashSet::new(),
        queue_overflow: HashMap::new(),
        emergency_digit: None,
        defaults: MenuDefaults::default(),
        bad_calendars: HashSet::new(),
        bad_targets: HashSet::new(),
    };
    let plan = ck.run();
    match plan {
        Some(plan) if ck.diags.is_empty() => Ok(plan),
        _ => Err(ck.diags),
    }
}

#[derive(Default)]
struct MenuDefaults {
    timeout: Option<u64>,
    retries: Option<u32>,
    invalid: Option<Vec<PromptRef>>,
    no_input: Option<Vec<PromptRef>>,
}

struct Checker<'a> {
    doc: &'a Doc,
    files: &'a [(PathBuf, String)],
    prompts: &'a dyn PromptLookup,
    diags: Vec<Diag>,
    /// False once a node or a reference could not be resolved: reachability and loop checks on
    /// a graph with holes would only report consequences of errors already reported.
    graph_ok: bool,
    node_ids: HashMap<String, NodeId>,
    calendars: BTreeMap<String, Calendar>,
    default_calendar: Option<String>,
    target_names: HashSet<String>,
    queue_names: HashSet<String>,
    /// Queue name → its `node:` overflow (an edge of the graph from every node using the queue).
    queue_overflow: HashMap<String, NodeId>,
    emergency_digit: Option<char>,
    defaults: MenuDefaults,
    /// Calendars and targets that were written but had errors (already reported): references
    /// to them are not reported again.
    bad_calendars: HashSet<String>,
    bad_targets: HashSet<String>,
}

fn is_key(c: char) -> bool {
    c.is_ascii_digit() || c == '*' || c == '#'
}

/// One phone key written as a string (`"9"`, `"#"`).
fn single_key(s: &str) -> Option<char> {
    let mut it = s.trim().chars();
    match (it.next(), it.next()) {
        (Some(c), None) if is_key(c) => Some(c),
        _ => None,
    }
}

/// A normalized called number: `s` (any number), or digits, `*`, `#` with an optional leading +.
fn is_dialable(n: &str) -> bool {
    if n == "s" {
        return true;
    }
    match n.strip_prefix('+') {
        Some(rest) => !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit()),
        None => !n.is_empty() && n.chars().all(is_key),
    }
}

fn lang_name(l: Lang) -> &'static str {
    match l {
        Lang::Fr => "French",
        Lang::En => "English",
    }
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

impl Checker<'_> {
    fn err(&mut self, file: usize, span: &Range<usize>, msg: impl Into<String>) {
        self.diags.push(Diag::new(file, span, msg));
    }

    fn run(&mut self) -> Option<Plan> {
        let doc = self.doc;
        let plan_item = doc.plan.as_ref();
        if plan_item.is_none() && !doc.plan_broken {
            self.err(
                0,
                &(0..0),
                "no [plan] section: one file of the plan must start with [plan] and name = \"…\"",
            );
        }

        // Calendars first: conditions and queues refer to them.
        for item in &doc.calendars {
            match self.calendar(item) {
                Some(cal) => {
                    self.calendars.insert(item.name.clone(), cal);
                }
                None => {
                    self.bad_calendars.insert(item.name.clone());
                }
            }
        }

        let mut name = String::new();
        let mut language = Lang::Fr;
        if let Some(p) = plan_item {
            let f = p.file;
            match &p.raw.name {
                Some(n) if !n.get_ref().trim().is_empty() => name = n.get_ref().trim().to_string(),
                Some(n) => self.err(f, &n.span(), "the plan's `name` is empty"),
                None => self.err(f, &p.key, "[plan] needs a name: name = \"Ville — 311\""),
            }
            if let Some(l) = &p.raw.language {
                match l.get_ref().parse::<Lang>() {
                    Ok(l) => language = l,
                    Err(e) => self.err(f, &l.span(), e.to_string()),
                }
            }
            if let Some(c) = &p.raw.calendar {
                let c_name = c.get_ref().trim().to_string();
                if self.known_calendar(f, &c.span(), &c_name) {
                    self.default_calendar = Some(c_name);
                }
            }
        }

        let mut targets = BTreeMap::new();
        for item in &doc.targets {
            match self.target(item) {
                Some(t) => {
                    self.target_names.insert(t.name.clone());
                    targets.insert(t.name.clone(), t);
                }
                None => {
                    self.bad_targets.insert(item.name.clone());
                }
            }
        }

        let emergency = plan_item.and_then(|p| self.emergency(p));
        if let Some(p) = plan_item {
            self.menu_defaults(p);
        }

        // Node ids in the order the nodes are written (file, then position).
        let mut order: Vec<&Item<RawNode>> = doc.nodes.iter().collect();
        order.sort_by_key(|i| (i.file, i.key.start));
        for (id, item) in order.iter().enumerate() {
            self.node_ids.insert(item.name.clone(), id);
        }
        for item in &doc.queues {
            self.queue_names.insert(item.name.clone());
        }

        let mut queues = BTreeMap::new();
        for item in &doc.queues {
            if let Some(q) = self.queue(item) {
                queues.insert(q.name.clone(), q);
            }
        }

        let mut nodes = Vec::with_capacity(order.len());
        for item in &order {
            let kind = self.node(item).unwrap_or_else(|| {
                self.graph_ok = false;
                NodeKind::Hangup {
                    prompts: Vec::new(),
                    outcome: String::new(),
                }
            });
            let label = item
                .raw
                .label
                .as_ref()
                .map(|l| l.get_ref().trim().to_string())
                .filter(|l| !l.is_empty());
            nodes.push(Node {
                name: item.name.clone(),
                kind,
                label,
            });
        }

        let numbers = self.numbers();
        let misdials = self.misdials();
        if numbers.is_empty() && doc.numbers.is_empty() && !doc.had_errors {
            if let Some(p) = plan_item {
                self.err(
                    p.file,
                    &p.key,
                    "the plan has no entry number: add [numbers] with e.g. \"311\" = \"<node>\"",
                );
            }
        }

        let positions: Vec<(usize, Range<usize>)> =
            order.iter().map(|i| (i.file, i.key.clone())).collect();
        self.graph(&nodes, &positions, &numbers);

        let node_ids = self.node_ids.clone();
        Some(Plan {
            version: String::new(),
            name,
            default_language: language,
            numbers,
            misdials,
            targets,
            calendars: std::mem::take(&mut self.calendars),
            default_calendar: self.default_calendar.clone(),
            emergency,
            queues,
            nodes,
            node_ids,
        })
    }

    // -- references ------------------------------------------------------------------------

    fn node_ref(&mut self, file: usize, s: &Text, field: &str) -> Option<NodeId> {
        let name = s.get_ref().trim();
        if let Some(&id) = self.node_ids.get(name) {
            return Some(id);
        }
        self.graph_ok = false;
        if !self.doc.broken.nodes.contains(name) {
            let hint = suggest(name, self.node_ids.keys().map(String::as_str));
            self.err(
                file,
                &s.span(),
                format!("unknown node `{name}` in `{field}`{hint}"),
            );
        }
        None
    }

    /// A required node reference of a node.
    fn need_node(
        &mut self,
        item: &Item<RawNode>,
        v: &Option<Text>,
        field: &str,
        kind: &str,
    ) -> Option<NodeId> {
        match v {
            Some(v) => self.node_ref(item.file, v, field),
            None => {
                self.graph_ok = false;
                self.err(
                    item.file,
                    &item.key,
                    format!("{kind} node `{}` needs `{field}`", item.name),
                );
                None
            }
        }
    }

    fn target_ref(&mut self, file: usize, s: &Text) -> Option<String> {
        let name = s.get_ref().trim();
        if self.target_names.contains(name) {
            return Some(name.to_string());
        }
        if !self.doc.broken.targets.contains(name) && !self.bad_targets.contains(name) {
            let hint = suggest(name, self.target_names.iter().map(String::as_str));
            self.err(
                file,
                &s.span(),
                format!("unknown target `{name}`{hint}: targets are defined as [targets.<name>]"),
            );
        }
        None
    }

    /// Whether calendar `name` exists (an error if not, unless it was unreadable).
    fn known_calendar(&mut self, file: usize, span: &Range<usize>, name: &str) -> bool {
        if self.calendars.contains_key(name) {
            return true;
        }
        if !self.doc.broken.calendars.contains(name) && !self.bad_calendars.contains(name) {
            let hint = suggest(name, self.calendars.keys().map(String::as_str));
            self.err(
                file,
                span,
                format!(
                    "unknown calendar `{name}`{hint}: calendars are defined as [calendars.<name>]"
                ),
            );
        }
        false
    }

    /// The calendar `name` designates (None: the plan's default), as (name, season names).
    fn calendar_for(
        &mut self,
        file: usize,
        span: &Range<usize>,
        name: Option<&str>,
    ) -> Option<(String, Vec<String>)> {
        let name = match name {
            Some(n) => {
                if !self.known_calendar(file, span, n) {
                    return None;
                }
                n.to_string()
            }
            None => match self
                .default_calendar
                .clone()
                .or_else(|| self.calendars.keys().next().cloned())
            {
                Some(n) => n,
                None => {
                    if self.doc.calendars.is_empty() && self.doc.broken.calendars.is_empty() {
                        self.err(
                            file,
                            span,
                            "this needs a calendar and the plan defines none: add [calendars.<name>]",
                        );
                    }
                    return None;
                }
            },
        };
        let seasons = self
            .calendars
            .get(&name)
            .map(|c| c.seasons.iter().map(|s| s.name.clone()).collect())
            .unwrap_or_default();
        Some((name, seasons))
    }

    fn season_exists(&mut self, file: usize, span: &Range<usize>, season: &str, cal: Option<&str>) {
        if let Some((cal, seasons)) = self.calendar_for(file, span, cal) {
            if !seasons.iter().any(|s| s == season) {
                let list = if seasons.is_empty() {
                    "it has none".to_string()
                } else {
                    format!("its seasons: {}", seasons.join(", "))
                };
                let hint = suggest(season, seasons.iter().map(String::as_str));
                self.err(
                    file,
                    span,
                    format!("season `{season}` is not in calendar `{cal}`{hint} ({list})"),
                );
            }
        }
    }

    // -- prompts ---------------------------------------------------------------------------

    fn prompt(&mut self, file: usize, s: &Text) -> Option<PromptRef> {
        let text = s.get_ref().trim();
        let r = PromptRef::parse(text);
        if r.lang.is_none() {
            if let Some((prefix, _)) = text.split_once(':') {
                self.err(
                    file,
                    &s.span(),
                    format!("`{prefix}:` is not a language: pin a prompt with fr: or en:"),
                );
                return None;
            }
        }
        if r.id.is_empty() {
            self.err(file, &s.span(), "empty prompt name");
            return None;
        }
        let have: Vec<Lang> = Lang::ALL
            .into_iter()
            .filter(|&l| self.prompts.has(&r.id, l))
            .collect();
        if have.is_empty() {
            self.err(
                file,
                &s.span(),
                format!(
                    "unknown prompt `{}`: it is not in prompts/prompts.toml",
                    r.id
                ),
            );
            return None;
        }
        let need = match r.lang {
            Some(l) => vec![l],
            None => Lang::ALL.to_vec(),
        };
        for l in need {
            if !have.contains(&l) {
                self.err(
                    file,
                    &s.span(),
                    format!(
                        "prompt {} has no {} recording: prompts/{l}/{}.wav",
                        r.id,
                        lang_name(l),
                        r.id
                    ),
                );
            }
        }
        Some(r)
    }

    fn prompt_list(&mut self, file: usize, v: &Option<Strings>) -> Vec<PromptRef> {
        v.iter()
            .flatten()
            .filter_map(|s| self.prompt(file, s))
            .collect()
    }

    /// A built-in default prompt, reported at `span` if it is not recorded.
    fn builtin_prompt(
        &mut self,
        file: usize,
        span: &Range<usize>,
        id: &str,
        field: &str,
    ) -> Vec<PromptRef> {
        for l in Lang::ALL {
            if !self.prompts.has(id, l) {
                self.err(
                    file,
                    span,
                    format!(
                        "the default `{field}` prompt {id} has no {} recording: prompts/{l}/{id}.wav \
                         (set `{field}` in this menu or in [plan.menu_defaults])",
                        lang_name(l)
                    ),
                );
            }
        }
        vec![PromptRef {
            id: id.to_string(),
            lang: None,
        }]
    }

    // -- numbers ---------------------------------------------------------------------------

    fn int(
        &mut self,
        file: usize,
        v: &Option<Int>,
        default: i64,
        min: i64,
        max: i64,
        field: &str,
    ) -> i64 {
        match v {
            None => default,
            Some(s) => {
                let x = *s.get_ref();
                if x < min || x > max {
                    self.err(
                        file,
                        &s.span(),
                        format!("`{field}` must be between {min} and {max}, not {x}"),
                    );
                    default
                } else {
                    x
                }
            }
        }
    }

    fn uint<T: TryFrom<i64> + Copy>(
        &mut self,
        file: usize,
        v: &Option<Int>,
        default: T,
        min: i64,
        max: i64,
        field: &str,
    ) -> T {
        match v {
            None => default,
            Some(_) => {
                let x = self.int(file, v, min, min, max, field);
                T::try_from(x).unwrap_or(default)
            }
        }
    }
}
