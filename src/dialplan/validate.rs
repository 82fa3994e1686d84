//! Semantic checks of a dial plan, and its conversion from the document as written
//! (`load::Doc`, strings with positions) into the engine's model (`model::Plan`).
//!
//! Owns every rule that needs more than one value to decide: references (nodes, targets,
//! queues, calendars, prompts), menu keys and the emergency digit, timeout paths, loops without
//! an exit, unreachable nodes, calendars (hours, holidays, closures, overlapping seasons), queue
//! definitions and conditions. Every error carries the position of the offending value or key,
//! and all of them are returned, not just the first.
//! Never does I/O (prompts are asked through `PromptLookup`), never reads the clock, never
//! panics on plan contents.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use jiff::civil::{Date, DateTime, Time};

use super::calendar::{Calendar, CalendarError, Closure, Season, WeeklyHours};
use super::condition::parse_condition;
use super::holiday::{quebec_municipal_extra, quebec_statutory, Holiday, HolidayRule, Observed};
use super::load::{
    suggest, where_is, Diag, Doc, Int, Item, PromptLookup, RawCalendar, RawClosure, RawNode,
    RawQueue, Strings, Text,
};
use super::model::{
    normalize_number, Collect, Condition, Emergency, Menu, Misdial, Node, NodeId, NodeKind,
    Overflow, Plan, PromptRef, QueueDef, QueueNode, Record, Relax, SeasonOverride, SkillReq,
    Target, TargetKind,
};
use crate::media::prompt::Lang;

/// Menu defaults when neither the menu nor `[plan.menu_defaults]` says otherwise.
pub const DEFAULT_MENU_TIMEOUT_SECS: u64 = 5;
pub const DEFAULT_MENU_RETRIES: u32 = 2;
pub const DEFAULT_INVALID_PROMPT: &str = "invalid";
pub const DEFAULT_NO_INPUT_PROMPT: &str = "no_input";
/// A queue with `callback = true` offers it once the estimated wait reaches 2 minutes.
pub const DEFAULT_CALLBACK_THRESHOLD_S: u64 = 120;

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
        "queue" => &["queue", "skills", "topic", "priority", "prompts"],
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
            nodes.push(Node {
                name: item.name.clone(),
                kind,
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

    // -- plan ------------------------------------------------------------------------------

    fn emergency(&mut self, p: &Item<super::load::RawPlan>) -> Option<Emergency> {
        let e = p.raw.emergency.as_ref()?;
        let f = p.file;
        let raw = e.get_ref();
        let digit = match &raw.digit {
            None => {
                self.err(
                    f,
                    &e.span(),
                    "the emergency escape needs a `digit`, e.g. digit = \"9\"",
                );
                None
            }
            Some(d) => {
                let k = single_key(d.get_ref());
                if k.is_none() {
                    self.err(
                        f,
                        &d.span(),
                        format!(
                            "emergency digit `{}` is not one phone key (0-9, * or #)",
                            d.get_ref()
                        ),
                    );
                }
                k
            }
        };
        let target = match &raw.target {
            None => {
                self.err(
                    f,
                    &e.span(),
                    "the emergency escape has no target: add target = \"911\" (a name from [targets])",
                );
                None
            }
            Some(t) => self.target_ref(f, t),
        };
        let prompts = self.prompt_list(f, &raw.prompts);
        // Menus are checked against the digit even if the escape itself has errors.
        self.emergency_digit = digit;
        Some(Emergency {
            digit: digit?,
            target: target?,
            prompts,
        })
    }

    fn menu_defaults(&mut self, p: &Item<super::load::RawPlan>) {
        let Some(d) = &p.raw.menu_defaults else {
            return;
        };
        let f = p.file;
        let d = d.get_ref();
        if d.timeout.is_some() {
            self.defaults.timeout =
                Some(self.uint(f, &d.timeout, DEFAULT_MENU_TIMEOUT_SECS, 1, 60, "timeout"));
        }
        if d.retries.is_some() {
            self.defaults.retries =
                Some(self.uint(f, &d.retries, DEFAULT_MENU_RETRIES, 0, 9, "retries"));
        }
        if d.invalid.is_some() {
            self.defaults.invalid = Some(self.prompt_list(f, &d.invalid));
        }
        if d.no_input.is_some() {
            self.defaults.no_input = Some(self.prompt_list(f, &d.no_input));
        }
    }

    fn target(&mut self, item: &Item<super::load::RawTarget>) -> Option<Target> {
        let f = item.file;
        let r = &item.raw;
        let kind = match &r.kind {
            None => Some(TargetKind::Transfer),
            Some(k) => match k.get_ref().trim() {
                "redirect" => Some(TargetKind::Redirect),
                "transfer" => Some(TargetKind::Transfer),
                other => {
                    self.err(
                        f,
                        &k.span(),
                        format!("unknown target kind `{other}`: use \"redirect\" (302 before answering) or \"transfer\" (we bridge the call)"),
                    );
                    None
                }
            },
        };
        let uri = match &r.uri {
            None => {
                self.err(
                    f,
                    &item.key,
                    format!(
                        "target `{}` has no `uri`, e.g. uri = \"sip:911@gateway.example\"",
                        item.name
                    ),
                );
                None
            }
            Some(u) => {
                let text = u.get_ref().trim();
                let lower = text.to_ascii_lowercase();
                let ok = ["sip:", "sips:", "tel:"]
                    .iter()
                    .any(|s| lower.starts_with(s) && lower.len() > s.len())
                    && !text.contains(char::is_whitespace);
                if !ok {
                    self.err(
                        f,
                        &u.span(),
                        format!("`{text}` is not a SIP or tel URI: write e.g. sip:811@gateway.example or tel:+18115550000"),
                    );
                }
                ok.then(|| text.to_string())
            }
        };
        let label = r
            .label
            .as_ref()
            .map_or_else(|| item.name.clone(), |l| l.get_ref().trim().to_string());
        Some(Target {
            name: item.name.clone(),
            kind: kind?,
            uri: uri?,
            label,
        })
    }

    fn numbers(&mut self) -> BTreeMap<String, NodeId> {
        let mut out = BTreeMap::new();
        let doc = self.doc;
        for item in &doc.numbers {
            let n = normalize_number(&item.name);
            if !is_dialable(&n) {
                self.err(
                    item.file,
                    &item.key,
                    format!(
                        "`{}` is not a dialable number: use digits (spaces and dashes are ignored), \
                         * and #, an optional leading +, or \"s\" for any other number",
                        item.name
                    ),
                );
            }
            if let Some(id) = self.node_ref(item.file, &item.raw, "numbers") {
                out.insert(n, id);
            }
        }
        out
    }

    fn misdials(&mut self) -> Vec<Misdial> {
        let doc = self.doc;
        let entries: HashSet<String> = doc
            .numbers
            .iter()
            .map(|i| normalize_number(&i.name))
            .collect();
        let mut seen: HashMap<String, (usize, usize)> = HashMap::new();
        let mut out = Vec::new();
        for item in &doc.misdials {
            let f = item.file;
            let mut numbers = Vec::new();
            match &item.raw.numbers {
                Some(list) if !list.get_ref().is_empty() => {
                    for n in list.get_ref() {
                        let norm = normalize_number(n.get_ref());
                        if !is_dialable(&norm) || norm == "s" {
                            self.err(
                                f,
                                &n.span(),
                                format!("`{}` is not a dialable number", n.get_ref()),
                            );
                            continue;
                        }
                        if entries.contains(&norm) {
                            self.err(
                                f,
                                &n.span(),
                                format!("`{norm}` is both a misdial and an entry in [numbers]: misdials are checked first, so the entry would never be used"),
                            );
                        }
                        if let Some(&(pf, po)) = seen.get(&norm) {
                            let first = where_is(self.files, pf, po);
                            self.err(
                                f,
                                &n.span(),
                                format!("`{norm}` is already a misdial at {first}"),
                            );
                        } else {
                            seen.insert(norm.clone(), (f, n.span().start));
                        }
                        numbers.push(norm);
                    }
                }
                Some(list) => self.err(f, &list.span(), "`numbers` is empty"),
                None => self.err(
                    f,
                    &item.key,
                    "a misdial needs `numbers`, e.g. numbers = [\"911\", \"9911\"]",
                ),
            }
            let target = match &item.raw.target {
                None => {
                    self.err(
                        f,
                        &item.key,
                        "a misdial without a target: add target = \"<name from [targets]>\"",
                    );
                    None
                }
                Some(t) => self.target_ref(f, t),
            };
            if let Some(target) = target {
                out.push(Misdial { numbers, target });
            }
        }
        out
    }

    // -- calendars -------------------------------------------------------------------------

    fn calendar(&mut self, item: &Item<RawCalendar>) -> Option<Calendar> {
        let f = item.file;
        let r = &item.raw;
        let mut ok = true;
        let tz = match &r.timezone {
            None => Calendar::default_time_zone(),
            Some(t) => match Calendar::time_zone(t.get_ref()) {
                Ok(tz) => tz,
                Err(e) => {
                    self.err(f, &t.span(), e.to_string());
                    ok = false;
                    Calendar::default_time_zone()
                }
            },
        };
        let hours = match &r.hours {
            None => {
                self.err(
                    f,
                    &item.key,
                    format!(
                        "calendar `{}` needs `hours`, e.g. hours = \"lun-ven 08:00-19:00\"",
                        item.name
                    ),
                );
                None
            }
            Some(h) => {
                let parsed = match h.get_ref() {
                    toml::Value::String(s) => Some(s.parse::<WeeklyHours>()),
                    toml::Value::Array(a) => a
                        .iter()
                        .map(|v| v.as_str())
                        .collect::<Option<Vec<&str>>>()
                        .map(WeeklyHours::parse_lines),
                    _ => None,
                };
                match parsed {
                    Some(Ok(w)) => Some(w),
                    Some(Err(e)) => {
                        self.err(f, &h.span(), e.to_string());
                        None
                    }
                    None => {
                        self.err(
                            f,
                            &h.span(),
                            "`hours` must be text or a list of text, e.g. [\"lun-ven 08:00-19:00\"]",
                        );
                        None
                    }
                }
            }
        };
        let mut holidays: Vec<Holiday> = Vec::new();
        let mut holiday_at: HashMap<String, Range<usize>> = HashMap::new();
        for s in r.holidays.iter().flatten() {
            let set = s.get_ref().trim().to_lowercase().replace('é', "e");
            let list = match set.as_str() {
                "quebec" | "quebec-statutory" => quebec_statutory(),
                "quebec-municipal" => quebec_municipal_extra(),
                other => {
                    self.err(
                        f,
                        &s.span(),
                        format!("unknown holiday set `{other}`: built-in sets are \"quebec\" (statutory) and \"quebec-municipal\" (Jan 2, Dec 24, Dec 26, Dec 31); add others with extra_holidays"),
                    );
                    ok = false;
                    continue;
                }
            };
            for h in list {
                holiday_at.insert(h.name.clone(), s.span());
                holidays.push(h);
            }
        }
        for h in r.extra_holidays.iter().flatten() {
            let raw = h.get_ref();
            let Some(name) = &raw.name else {
                self.err(f, &h.span(), "a holiday needs a `name`");
                ok = false;
                continue;
            };
            let Some(rule) = &raw.rule else {
                self.err(
                    f,
                    &h.span(),
                    "a holiday needs a `rule`, e.g. rule = \"3e lundi de juin\"",
                );
                ok = false;
                continue;
            };
            let rule_v = match rule.get_ref().parse::<HolidayRule>() {
                Ok(r) => r,
                Err(e) => {
                    self.err(f, &rule.span(), e.to_string());
                    ok = false;
                    continue;
                }
            };
            let observed = match &raw.observed {
                None => Observed::Same,
                Some(o) => match o.get_ref().parse::<Observed>() {
                    Ok(o) => o,
                    Err(e) => {
                        self.err(f, &o.span(), e.to_string());
                        ok = false;
                        continue;
                    }
                },
            };
            let n = name.get_ref().trim().to_string();
            holiday_at.insert(n.clone(), name.span());
            holidays.push(Holiday::new(n, rule_v, observed));
        }
        let mut closures = Vec::new();
        for c in r.closures.iter().flatten() {
            match self.closure(f, c.get_ref(), &c.span()) {
                Some(cl) => closures.push(cl),
                None => ok = false,
            }
        }
        let mut seasons = Vec::new();
        let mut season_at: HashMap<String, Range<usize>> = HashMap::new();
        let mut entries: Vec<(&Text, &Text)> = r.seasons.iter().flatten().collect();
        entries.sort_by_key(|(k, _)| k.span().start);
        for (k, v) in entries {
            match Season::parse(k.get_ref().trim(), v.get_ref()) {
                Ok(s) => {
                    season_at.insert(s.name.clone(), k.span());
                    seasons.push(s);
                }
                Err(e) => {
                    self.err(f, &v.span(), e.to_string());
                    ok = false;
                }
            }
        }
        let cal = Calendar::new(tz, hours?)
            .with_holidays(holidays)
            .with_closures(closures)
            .with_seasons(seasons);
        if let Err(errors) = cal.validate() {
            for e in errors {
                let span = match &e {
                    CalendarError::OverlappingSeasons(_, b) => season_at.get(b),
                    CalendarError::DuplicateName { name, .. } => {
                        season_at.get(name).or_else(|| holiday_at.get(name))
                    }
                    CalendarError::InvalidHoliday { name, .. } => holiday_at.get(name),
                    _ => None,
                }
                .cloned()
                .unwrap_or_else(|| item.key.clone());
                self.err(f, &span, e.to_string());
                ok = false;
            }
        }
        ok.then_some(cal)
    }

    fn closure(&mut self, f: usize, c: &RawClosure, span: &Range<usize>) -> Option<Closure> {
        let name = match &c.name {
            Some(n) => n.get_ref().trim().to_string(),
            None => {
                self.err(f, span, "a closure needs a `name`");
                return None;
            }
        };
        let date = c.date.as_ref().map(|d| (self.when(f, d), d.span()));
        let from = c.from.as_ref().map(|v| self.when(f, v));
        let to = c.to.as_ref().map(|v| self.when(f, v));
        let made = match (date, from, to) {
            (Some((d, d_span)), None, None) => match d? {
                When::Day(d) => Closure::whole_day(&name, d),
                When::At(_) => {
                    self.err(
                        f,
                        &d_span,
                        "`date` is a whole day: write 2027-01-15, or use from/to for hours",
                    );
                    return None;
                }
            },
            (None, Some(a), Some(b)) => {
                let midnight = Time::midnight();
                match (a?, b?) {
                    (When::Day(a), When::Day(b)) => Closure::days(&name, a, b),
                    (When::At(a), When::At(b)) => Closure::new(&name, a, b),
                    (When::Day(a), When::At(b)) => Closure::new(&name, a.to_datetime(midnight), b),
                    (When::At(a), When::Day(b)) => match b.tomorrow() {
                        Ok(end) => Closure::new(&name, a, end.to_datetime(midnight)),
                        Err(_) => Closure::new(&name, a, b.to_datetime(midnight)),
                    },
                }
            }
            _ => {
                self.err(
                    f,
                    span,
                    format!(
                        "closure `{name}`: give either date = \"2027-01-15\" or both from and to"
                    ),
                );
                return None;
            }
        };
        match made {
            Ok(c) => Some(c),
            Err(e) => {
                self.err(f, span, e.to_string());
                None
            }
        }
    }

    fn when(&mut self, f: usize, v: &toml::Spanned<toml::Value>) -> Option<When> {
        match parse_when(v.get_ref()) {
            Ok(w) => Some(w),
            Err(m) => {
                self.err(f, &v.span(), m);
                None
            }
        }
    }

    // -- queues ----------------------------------------------------------------------------

    fn skill(&mut self, f: usize, s: &Text) -> Option<SkillReq> {
        let text = s.get_ref().trim();
        let (name, level) = match text.split_once(':') {
            Some((n, l)) => (
                n.trim(),
                l.trim().parse::<u8>().ok().filter(|l| (1..=5).contains(l)),
            ),
            None => (text, Some(1)),
        };
        match level {
            Some(min_level) if is_name(name) => Some(SkillReq {
                skill: name.to_string(),
                min_level,
            }),
            _ => {
                self.err(
                    f,
                    &s.span(),
                    format!("`{text}` is not a skill: write name or name:level, level 1 to 5 (e.g. permis:2)"),
                );
                None
            }
        }
    }

    fn skills(&mut self, f: usize, v: &Option<Strings>) -> Vec<SkillReq> {
        v.iter()
            .flatten()
            .filter_map(|s| self.skill(f, s))
            .collect()
    }

    fn queue(&mut self, item: &Item<RawQueue>) -> Option<QueueDef> {
        let f = item.file;
        let r = &item.raw;
        let name = item.name.clone();
        let mut ok = true;
        let skills = self.skills(f, &r.skills);
        let priority = self.uint(f, &r.priority, 0i32, -100, 100, "priority");
        let (sl_percent, sl_seconds) = match &r.service_level {
            None => (80, 100),
            Some(s) => {
                let parsed = s.get_ref().split_once('/').and_then(|(p, t)| {
                    let p = p.trim().trim_end_matches('%').parse::<u8>().ok()?;
                    let t = t.trim().trim_end_matches('s').trim().parse::<u32>().ok()?;
                    ((1..=100).contains(&p) && (1..=3600).contains(&t)).then_some((p, t))
                });
                parsed.unwrap_or_else(|| {
                    self.err(
                        f,
                        &s.span(),
                        format!("`{}` is not a service level: write percent/seconds, e.g. \"80/100\" (80 % answered within 100 s)", s.get_ref()),
                    );
                    ok = false;
                    (80, 100)
                })
            }
        };
        let mut relax = Vec::new();
        let mut last_after = 0;
        for step in r.relax.iter().flatten() {
            let raw = step.get_ref();
            let Some(after_v) = &raw.after else {
                self.err(
                    f,
                    &step.span(),
                    "a relax step needs `after` (seconds in queue)",
                );
                ok = false;
                continue;
            };
            let after: u64 = self.uint(f, &raw.after, 0, 1, 86_400, "after");
            if after <= last_after {
                self.err(
                    f,
                    &after_v.span(),
                    "relax steps must be in increasing order of `after`",
                );
                ok = false;
            }
            last_after = after;
            let min_level = raw
                .min_level
                .as_ref()
                .map(|_| self.uint(f, &raw.min_level, 1u8, 1, 5, "min_level"));
            let mut drop_skills = Vec::new();
            for d in raw.drop.iter().flatten() {
                let s = d.get_ref().trim();
                if s.parse::<Lang>().is_ok() && s.len() == 2 {
                    self.err(f, &d.span(), "the caller's language is never dropped");
                    ok = false;
                } else if !is_name(s) {
                    self.err(f, &d.span(), format!("`{s}` is not a skill name"));
                    ok = false;
                } else {
                    drop_skills.push(s.to_string());
                }
            }
            if min_level.is_none() && raw.drop.is_none() {
                self.err(
                    f,
                    &step.span(),
                    "this relax step changes nothing: give min_level and/or drop",
                );
                ok = false;
            }
            relax.push(Relax {
                after: Duration::from_secs(after),
                min_level,
                drop_skills,
            });
        }
        let hold_prompts = self.prompt_list(f, &r.hold);
        let announce_every =
            Duration::from_secs(self.uint(f, &r.announce_every, 0u64, 0, 3600, "announce_every"));
        let offer_callback = r.callback.as_ref().is_some_and(|c| *c.get_ref());
        let callback_threshold = Duration::from_secs(self.uint(
            f,
            &r.callback_threshold,
            DEFAULT_CALLBACK_THRESHOLD_S,
            0,
            86_400,
            "callback_threshold",
        ));
        let resume_window =
            Duration::from_secs(self.uint(f, &r.resume_window, 0u64, 0, 86_400, "resume_window"));
        let resume_withheld = r.resume_withheld.as_ref().is_some_and(|c| *c.get_ref());
        let max_wait = r
            .max_wait
            .as_ref()
            .map(|_| Duration::from_secs(self.uint(f, &r.max_wait, 900u64, 1, 86_400, "max_wait")));
        let overflow = match &r.overflow {
            None => max_wait.map(|_| Overflow::Callback),
            Some(o) => {
                let text = o.get_ref().trim();
                if text == "callback" {
                    Some(Overflow::Callback)
                } else if let Some(n) = text.strip_prefix("node:") {
                    let t = toml::Spanned::new(o.span(), n.trim().to_string());
                    let id = self.node_ref(f, &t, "overflow");
                    if let Some(id) = id {
                        self.queue_overflow.insert(name.clone(), id);
                    }
                    id.map(Overflow::Node)
                } else if let Some(t) = text.strip_prefix("target:") {
                    let t = toml::Spanned::new(o.span(), t.trim().to_string());
                    self.target_ref(f, &t).map(Overflow::Target)
                } else {
                    self.err(
                        f,
                        &o.span(),
                        format!("`{text}` is not an overflow: write \"callback\", \"node:<name>\" or \"target:<name>\""),
                    );
                    ok = false;
                    None
                }
            }
        };
        let calendar = r.calendar.as_ref().and_then(|c| {
            let n = c.get_ref().trim().to_string();
            self.known_calendar(f, &c.span(), &n).then_some(n)
        });
        let mut seasons = BTreeMap::new();
        for (k, v) in r.seasons.iter().flatten() {
            let season = k.get_ref().trim().to_string();
            self.season_exists(f, &k.span(), &season, calendar.as_deref());
            let raw = v.get_ref();
            let closed = raw.closed.as_ref().is_some_and(|c| *c.get_ref());
            if closed && r.overflow.is_none() {
                let at = raw.closed.as_ref().map_or_else(|| k.span(), |c| c.span());
                self.err(
                    f,
                    &at,
                    format!("queue `{name}` is closed in season `{season}` but has no `overflow`: callers would have nowhere to go"),
                );
                ok = false;
            }
            let skills = raw.skills.as_ref().map(|_| self.skills(f, &raw.skills));
            let priority = raw
                .priority
                .as_ref()
                .map(|_| self.uint(f, &raw.priority, 0i32, -100, 100, "priority"));
            seasons.insert(
                season,
                SeasonOverride {
                    skills,
                    priority,
                    closed,
                },
            );
        }
        ok.then_some(QueueDef {
            name,
            skills,
            priority,
            sl_percent,
            sl_seconds,
            relax,
            hold_prompts,
            announce_every,
            offer_callback,
            callback_threshold,
            resume_window,
            resume_withheld,
            max_wait,
            overflow,
            seasons,
            calendar,
        })
    }

    // -- nodes -----------------------------------------------------------------------------

    fn node(&mut self, item: &Item<RawNode>) -> Option<NodeKind> {
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
            if field != "type" && !allowed.contains(&field.as_str()) {
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
        Some(NodeKind::Queue(QueueNode {
            queue: queue?,
            skills,
            topic: r.topic.as_ref().map(|t| t.get_ref().trim().to_string()),
            priority,
            prompts,
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

    // -- graph -----------------------------------------------------------------------------

    fn graph(
        &mut self,
        nodes: &[Node],
        positions: &[(usize, Range<usize>)],
        numbers: &BTreeMap<String, NodeId>,
    ) {
        let mut succ: Vec<Vec<NodeId>> = nodes.iter().map(|n| n.kind.successors()).collect();
        for (i, n) in nodes.iter().enumerate() {
            if let NodeKind::Queue(q) = &n.kind {
                if let (Some(&o), Some(s)) = (self.queue_overflow.get(&q.queue), succ.get_mut(i)) {
                    s.push(o);
                }
            }
        }
        for s in &mut succ {
            s.retain(|&x| x < nodes.len());
            s.sort_unstable();
            s.dedup();
        }
        let at = |i: usize| positions.get(i).cloned().unwrap_or((0, 0..0));
        let name = |i: usize| nodes.get(i).map_or("?", |n| n.name.as_str());

        // 1. A cycle through nodes that never wait for the caller spins forever.
        let passes = |i: usize| {
            nodes.get(i).is_some_and(|n| {
                matches!(
                    n.kind,
                    NodeKind::Play { .. }
                        | NodeKind::Goto { .. }
                        | NodeKind::Language { .. }
                        | NodeKind::Branch { .. }
                )
            })
        };
        let fast: Vec<Vec<NodeId>> = succ
            .iter()
            .enumerate()
            .map(|(i, s)| {
                if passes(i) {
                    s.iter().copied().filter(|&j| passes(j)).collect()
                } else {
                    Vec::new()
                }
            })
            .collect();
        for comp in sccs(&fast) {
            if !is_cycle(&comp, &fast) {
                continue;
            }
            let start = comp.iter().copied().min().unwrap_or(0);
            let path = cycle_path(start, &comp, &fast);
            let shown: Vec<&str> = path.iter().map(|&i| name(i)).collect();
            let (file, span) = at(start);
            self.err(
                file,
                &span,
                format!(
                    "loop without an exit: {} → {} never waits for the caller (add a menu, or end a path with a hangup, transfer or queue)",
                    shown.join(" → "),
                    name(start)
                ),
            );
        }

        if !self.graph_ok {
            return;
        }

        // 2. A set of nodes callers can never leave (only by hanging up themselves).
        for comp in sccs(&succ) {
            if !is_cycle(&comp, &succ) || comp.iter().all(|&i| passes(i)) {
                continue;
            }
            let inside: HashSet<NodeId> = comp.iter().copied().collect();
            let leaves = comp
                .iter()
                .any(|&i| succ[i].iter().any(|j| !inside.contains(j)));
            let ends = comp.iter().any(|&i| {
                matches!(
                    nodes[i].kind,
                    NodeKind::Transfer { .. } | NodeKind::Queue(_) | NodeKind::Hangup { .. }
                )
            });
            if leaves || ends {
                continue;
            }
            let mut members = comp.clone();
            members.sort_unstable();
            let names: Vec<&str> = members.iter().map(|&i| name(i)).collect();
            let (file, span) = at(members[0]);
            self.err(
                file,
                &span,
                format!(
                    "loop without an exit: callers can never leave {} except by hanging up (give one of them a choice or on_fail leading to a hangup, transfer or queue)",
                    names.join(", ")
                ),
            );
        }

        // 3. Unreachable nodes.
        if numbers.is_empty() {
            return;
        }
        let mut seen = vec![false; nodes.len()];
        let mut todo: VecDeque<NodeId> = numbers.values().copied().collect();
        while let Some(i) = todo.pop_front() {
            if i < seen.len() && !seen[i] {
                seen[i] = true;
                todo.extend(succ[i].iter().copied());
            }
        }
        for (i, reached) in seen.iter().enumerate() {
            if !reached {
                let (file, span) = at(i);
                self.err(
                    file,
                    &span,
                    format!(
                        "node `{}` is unreachable: no entry number in [numbers] and no other node leads to it",
                        name(i)
                    ),
                );
            }
        }
    }
}

/// A closure bound: a whole day or a local date-time.
enum When {
    Day(Date),
    At(DateTime),
}

/// `2027-01-15`, `2027-01-15T12:00` (or `2027-01-15 12:00`), as a string or a TOML local date(-time).
fn parse_when(v: &toml::Value) -> Result<When, String> {
    let text = match v {
        toml::Value::String(s) => s.trim().to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        _ => String::new(),
    };
    if text.len() > 10 {
        if let Ok(dt) = text.parse::<DateTime>() {
            return Ok(When::At(dt));
        }
    } else if let Ok(d) = text.parse::<Date>() {
        return Ok(When::Day(d));
    }
    Err(format!(
        "`{text}` is not a local date or date-time like 2027-01-15 or 2027-01-15T12:00 (no time zone: the calendar's applies)"
    ))
}

/// A strongly connected component that holds a cycle (more than one node, or a self-loop).
fn is_cycle(comp: &[NodeId], succ: &[Vec<NodeId>]) -> bool {
    comp.len() > 1 || comp.iter().any(|&i| succ[i].contains(&i))
}

/// The nodes of a cycle through `start` inside `comp`, starting with `start`.
fn cycle_path(start: NodeId, comp: &[NodeId], succ: &[Vec<NodeId>]) -> Vec<NodeId> {
    let inside: HashSet<NodeId> = comp.iter().copied().collect();
    let mut parent: HashMap<NodeId, NodeId> = HashMap::new();
    let mut todo = VecDeque::from([start]);
    while let Some(v) = todo.pop_front() {
        for &w in &succ[v] {
            if w == start {
                let mut path = vec![v];
                let mut cur = v;
                while cur != start {
                    match parent.get(&cur) {
                        Some(&p) => {
                            path.push(p);
                            cur = p;
                        }
                        None => break,
                    }
                }
                path.reverse();
                return path;
            }
            if inside.contains(&w) && w != start && !parent.contains_key(&w) {
                parent.insert(w, v);
                todo.push_back(w);
            }
        }
    }
    vec![start]
}

/// Tarjan's strongly connected components, iteratively (plans come from files: no recursion
/// depth to exhaust).
fn sccs(succ: &[Vec<NodeId>]) -> Vec<Vec<NodeId>> {
    const NONE: usize = usize::MAX;
    let n = succ.len();
    let mut index = vec![NONE; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut out = Vec::new();
    let mut next = 0;
    for root in 0..n {
        if index[root] != NONE {
            continue;
        }
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        let mut call: Vec<(usize, usize)> = vec![(root, 0)];
        while let Some(top) = call.len().checked_sub(1) {
            let (v, i) = call[top];
            if let Some(&w) = succ[v].get(i) {
                call[top].1 += 1;
                if index[w] == NONE {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    call.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
            } else {
                call.pop();
                if let Some(&(p, _)) = call.last() {
                    low[p] = low[p].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut comp = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        comp.push(w);
                        if w == v {
                            break;
                        }
                    }
                    out.push(comp);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::super::load::{load_files, PromptList};
    use super::super::model::{NodeKind, Plan};
    use crate::media::prompt::Lang;

    /// A valid plan; each test changes one thing. Line numbers are 1-based:
    /// 1 [plan] · 4 emergency · 7 "311" · 9 [targets.911] · 13 [calendars.c] · 16 [nodes.m]
    /// 18 prompts · 19 choices · 20 on_fail · 22 [nodes.bye]; appended text starts at line 24.
    const BASE: &str = r#"[plan]
name = "T"
calendar = "c"
emergency = { digit = "9", target = "911" }

[numbers]
"311" = "m"

[targets.911]
kind = "redirect"
uri = "sip:911@x"

[calendars.c]
hours = "mon-fri 08:00-17:00"

[nodes.m]
type = "menu"
prompts = ["hello"]
choices = { "1" = "bye" }
on_fail = "bye"

[nodes.bye]
type = "hangup"
"#;

    fn prompts() -> PromptList {
        PromptList::both(&["hello", "invalid", "no_input", "goodbye"]).with(
            "fr_only",
            Lang::Fr,
            "Bonjour",
        )
    }

    fn load(src: &str) -> Result<Plan, Vec<String>> {
        load_files(&[(PathBuf::from("p.toml"), src.to_string())], &prompts())
            .map_err(|d| d.iter().map(ToString::to_string).collect())
    }

    fn errs(src: &str) -> Vec<String> {
        match load(src) {
            Ok(_) => Vec::new(),
            Err(e) => e,
        }
    }

    fn with(extra: &str) -> String {
        format!("{BASE}\n{extra}")
    }

    fn edit(from: &str, to: &str) -> String {
        assert!(BASE.contains(from), "{from:?} not in BASE");
        BASE.replacen(from, to, 1)
    }

    #[test]
    fn base_is_valid() {
        let plan = match load(BASE) {
            Ok(p) => p,
            Err(e) => panic!("{e:?}"),
        };
        let Some(NodeKind::Menu(m)) = plan
            .node_id("m")
            .and_then(|i| plan.node(i))
            .map(|n| &n.kind)
        else {
            panic!("m is not a menu")
        };
        assert_eq!(m.timeout.as_secs(), super::DEFAULT_MENU_TIMEOUT_SECS);
        assert_eq!(m.retries, super::DEFAULT_MENU_RETRIES);
        assert_eq!(m.invalid[0].id, "invalid");
        assert!(m.emergency);
    }

    #[test]
    fn unknown_prompt() {
        assert_eq!(
            errs(&edit(r#"["hello"]"#, r#"["helo"]"#)),
            ["p.toml:18:12: unknown prompt `helo`: it is not in prompts/prompts.toml"]
        );
    }

    #[test]
    fn prompt_in_one_language_only() {
        assert_eq!(
            errs(&edit(r#"["hello"]"#, r#"["hello", "fr_only"]"#)),
            ["p.toml:18:21: prompt fr_only has no English recording: prompts/en/fr_only.wav"]
        );
        // Pinned to the language it exists in: fine.
        assert_eq!(
            errs(&edit(r#"["hello"]"#, r#"["fr:fr_only"]"#)),
            Vec::<String>::new()
        );
        assert_eq!(
            errs(&edit(r#"["hello"]"#, r#"["en:fr_only"]"#)),
            ["p.toml:18:12: prompt fr_only has no English recording: prompts/en/fr_only.wav"]
        );
    }

    #[test]
    fn unknown_node_references() {
        assert_eq!(
            errs(&edit(r#""1" = "bye""#, r#""1" = "bey""#)),
            ["p.toml:19:19: unknown node `bey` in `choices`; did you mean `bye`?"]
        );
        assert_eq!(
            errs(&edit(r#""311" = "m""#, r#""311" = "menu""#)),
            ["p.toml:7:9: unknown node `menu` in `numbers`"]
        );
        let src = with(
            r#"[nodes.b]
type = "branch"
rules = [ { if = "open", goto = "nowhere" } ]
else = "nothing"

[nodes.t]
type = "transfer"
target = "911"
on_failure = "void"

[nodes.g]
type = "goto"
next = "limbo"
"#,
        );
        let src = src.replace(
            r#""311" = "m""#,
            "\"311\" = \"m\"\n\"1\" = \"b\"\n\"2\" = \"t\"\n\"3\" = \"g\"",
        );
        assert_eq!(
            errs(&src),
            [
                "p.toml:30:33: unknown node `nowhere` in `rules`",
                "p.toml:31:8: unknown node `nothing` in `else`",
                "p.toml:36:14: unknown node `void` in `on_failure`",
                "p.toml:40:8: unknown node `limbo` in `next`",
            ]
        );
    }

    #[test]
    fn unknown_overflow_node() {
        let src = with(
            "[queues.q]\nskills = [\"general\"]\nmax_wait = 60\noverflow = \"node:ailleurs\"\n",
        );
        assert_eq!(
            errs(&src),
            ["p.toml:28:12: unknown node `ailleurs` in `overflow`"]
        );
    }

    #[test]
    fn unreachable_node() {
        assert_eq!(
            errs(&with("[nodes.orphan]\ntype = \"hangup\"\n")),
            ["p.toml:25:8: node `orphan` is unreachable: no entry number in [numbers] and no other node leads to it"]
        );
    }

    #[test]
    fn menu_without_timeout_path() {
        assert_eq!(
            errs(&edit("on_fail = \"bye\"\n", "")),
            ["p.toml:16:8: menu `m` has no timeout path: add on_fail = \"<node>\", where callers go after 2 re-prompt(s) without a valid key"]
        );
        assert_eq!(
            errs(&edit("on_fail = \"bye\"\n", "on_fail = \"bye\"\ntimeout = 0\n")),
            ["p.toml:21:11: menu `m` has no timeout path: `timeout` must be 1 to 60 seconds, not 0"]
        );
    }

    #[test]
    fn loop_that_never_waits() {
        let src = with("[nodes.a]\ntype = \"goto\"\nnext = \"b\"\n\n[nodes.b]\ntype = \"play\"\nprompts = [\"hello\"]\nnext = \"a\"\n")
            .replace("\"311\" = \"m\"", "\"311\" = \"m\"\n\"312\" = \"a\"");
        assert_eq!(
            errs(&src),
            ["p.toml:26:8: loop without an exit: a → b → a never waits for the caller (add a menu, or end a path with a hangup, transfer or queue)"]
        );
    }

    #[test]
    fn loop_callers_cannot_leave() {
        let src = with(
            "[nodes.m2]\ntype = \"menu\"\nprompts = [\"hello\"]\nchoices = { \"1\" = \"m3\" }\non_fail = \"m3\"\n\n\
             [nodes.m3]\ntype = \"menu\"\nprompts = [\"hello\"]\nchoices = { \"1\" = \"m2\" }\non_fail = \"m2\"\n",
        )
        .replace("\"311\" = \"m\"", "\"311\" = \"m\"\n\"312\" = \"m2\"");
        assert_eq!(
            errs(&src),
            ["p.toml:26:8: loop without an exit: callers can never leave m2, m3 except by hanging up (give one of them a choice or on_fail leading to a hangup, transfer or queue)"]
        );
    }

    #[test]
    fn overlapping_seasons() {
        let src = edit(
            "hours = \"mon-fri 08:00-17:00\"\n",
            "hours = \"mon-fri 08:00-17:00\"\nseasons = { hiver = \"12-01..03-31\", printemps = \"03-15..05-31\" }\n",
        );
        assert_eq!(
            errs(&src),
            ["p.toml:15:37: seasons \"hiver\" and \"printemps\" overlap: a date may belong to only one of them"]
        );
    }

    #[test]
    fn exits_without_target_or_uri() {
        // A transfer node without a target.
        let src = with("[nodes.t]\ntype = \"transfer\"\n")
            .replace("\"311\" = \"m\"", "\"311\" = \"m\"\n\"1\" = \"t\"");
        assert_eq!(
            errs(&src),
            ["p.toml:26:8: transfer node `t` has no target: add target = \"<name from [targets]>\""]
        );
        // A misdial without a target.
        assert_eq!(
            errs(&with("[[misdial]]\nnumbers = [\"911\"]\n")),
            ["p.toml:25:1: a misdial without a target: add target = \"<name from [targets]>\""]
        );
        // The emergency escape without a target.
        assert_eq!(
            errs(&edit(", target = \"911\" }", " }")),
            ["p.toml:4:13: the emergency escape has no target: add target = \"911\" (a name from [targets])"]
        );
        // A target without uri.
        assert_eq!(
            errs(&edit("uri = \"sip:911@x\"\n", "")),
            ["p.toml:9:10: target `911` has no `uri`, e.g. uri = \"sip:911@gateway.example\""]
        );
        assert_eq!(
            errs(&edit("uri = \"sip:911@x\"", "uri = \"911\"")),
            ["p.toml:11:7: `911` is not a SIP or tel URI: write e.g. sip:811@gateway.example or tel:+18115550000"]
        );
    }

    #[test]
    fn unknown_target() {
        assert_eq!(
            errs(&edit("target = \"911\" }", "target = \"912\" }")),
            ["p.toml:4:37: unknown target `912`; did you mean `911`?: targets are defined as [targets.<name>]"]
        );
    }

    #[test]
    fn menu_digit_is_the_emergency_digit() {
        assert_eq!(
            errs(&edit(r#""1" = "bye""#, r#""9" = "bye""#)),
            ["p.toml:19:13: `9` is the plan's emergency digit ([plan] emergency): use another key, or set emergency = false in this menu"]
        );
        // Allowed where the escape is switched off.
        assert_eq!(
            errs(&edit(
                r#""1" = "bye" }"#,
                "\"9\" = \"bye\" }\nemergency = false"
            )),
            Vec::<String>::new()
        );
    }

    #[test]
    fn keys_must_be_phone_keys() {
        assert_eq!(
            errs(&edit(r#""1" = "bye""#, r#""12" = "bye""#)),
            ["p.toml:19:13: menu choice `12` is not a phone key: use one of 0-9, * or #"]
        );
        assert_eq!(
            errs(&edit("digit = \"9\"", "digit = \"x\"")),
            ["p.toml:4:23: emergency digit `x` is not one phone key (0-9, * or #)"]
        );
    }

    #[test]
    fn unknown_queue() {
        let src = with("[nodes.q]\ntype = \"queue\"\nqueue = \"generale\"\n\n[queues.general]\n")
            .replace("\"311\" = \"m\"", "\"311\" = \"m\"\n\"1\" = \"q\"");
        assert_eq!(
            errs(&src),
            ["p.toml:28:9: unknown queue `generale`; did you mean `general`?: queues are defined as [queues.<name>]"]
        );
    }

    #[test]
    fn unknown_calendar() {
        assert_eq!(
            errs(&edit("calendar = \"c\"", "calendar = \"centre\"")),
            ["p.toml:3:12: unknown calendar `centre`: calendars are defined as [calendars.<name>]"]
        );
        let src = with("[nodes.b]\ntype = \"branch\"\nrules = [ { if = \"open@hdv\", goto = \"m\" } ]\nelse = \"m\"\n")
            .replace("\"311\" = \"m\"", "\"311\" = \"b\"");
        assert_eq!(
            errs(&src),
            ["p.toml:27:18: unknown calendar `hdv`: calendars are defined as [calendars.<name>]"]
        );
    }

    #[test]
    fn bad_condition() {
        let src = with("[nodes.b]\ntype = \"branch\"\nrules = [ { if = \"holiday and\", goto = \"m\" } ]\nelse = \"m\"\n")
            .replace("\"311\" = \"m\"", "\"311\" = \"b\"");
        assert_eq!(
            errs(&src),
            ["p.toml:27:18: bad condition: the condition ends too early: a condition is missing after the last word"]
        );
        let src = src.replace("holiday and", "season:ete");
        assert_eq!(
            errs(&src),
            ["p.toml:27:18: season `ete` is not in calendar `c` (it has none)"]
        );
    }

    #[test]
    fn entry_number_not_dialable() {
        assert_eq!(
            errs(&edit(r#""311" = "m""#, "\"311\" = \"m\"\n\"info\" = \"m\"")),
            ["p.toml:8:1: `info` is not a dialable number: use digits (spaces and dashes are ignored), * and #, an optional leading +, or \"s\" for any other number"]
        );
    }

    #[test]
    fn field_of_another_node_type() {
        let src = edit(
            "[nodes.bye]\ntype = \"hangup\"\n",
            "[nodes.bye]\ntype = \"hangup\"\nchoices = { \"1\" = \"m\" }\n",
        );
        assert_eq!(
            errs(&src),
            ["p.toml:24:1: `choices` is not a field of a hangup node (a hangup node has: prompts, outcome)"]
        );
    }

    #[test]
    fn unknown_node_type() {
        assert_eq!(
            errs(&edit("type = \"hangup\"", "type = \"hangpu\"")),
            ["p.toml:23:8: unknown node type `hangpu`; did you mean `hangup`?; types are: play, menu, language, branch, queue, collect, record, transfer, hangup, goto"]
        );
    }

    #[test]
    fn every_error_is_reported_in_order() {
        let src = edit(r#"["hello"]"#, r#"["helo"]"#)
            .replace("uri = \"sip:911@x\"", "uri = \"x\"")
            .replace(r#""1" = "bye""#, r#""1" = "bye", "9" = "bye""#);
        let e = errs(&src);
        let lines: Vec<&str> = e
            .iter()
            .map(|s| s.split(": ").next().unwrap_or(""))
            .collect();
        assert_eq!(lines, ["p.toml:11:7", "p.toml:18:12", "p.toml:19:26"]);
    }

    #[test]
    fn a_structural_error_does_not_cascade() {
        // The entry number is unreadable: its node is not reported unreachable, nor the plan
        // as having no entry number.
        assert_eq!(
            errs(&edit(r#""311" = "m""#, r#""311" = 5"#)),
            ["p.toml:7:9: invalid type: integer `5`, expected a string"]
        );
        // A node with an unknown field: references to it are not "unknown node".
        assert_eq!(
            errs(&edit("type = \"hangup\"", "type = \"hangup\"\nbyebye = 1")),
            ["p.toml:24:1: unknown field `byebye` in node `bye`"]
        );
    }

    #[test]
    fn calendar_details() {
        let cal = |extra: &str| {
            edit(
                "hours = \"mon-fri 08:00-17:00\"\n",
                &format!("hours = \"mon-fri 08:00-17:00\"\n{extra}\n"),
            )
        };
        assert_eq!(
            errs(&cal("holidays = [\"quebek\"]")),
            ["p.toml:15:13: unknown holiday set `quebek`: built-in sets are \"quebec\" (statutory) and \"quebec-municipal\" (Jan 2, Dec 24, Dec 26, Dec 31); add others with extra_holidays"]
        );
        assert_eq!(
            errs(&cal("extra_holidays = [ { name = \"Fête\", rule = \"3e lundi de juin\", observed = \"same\" } ]")),
            Vec::<String>::new()
        );
        let e = errs(&cal(
            "extra_holidays = [ { name = \"Fête\", rule = \"3e lundo de juin\" } ]",
        ));
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("p.toml:15:44: invalid holiday rule"),
            "{e:?}"
        );
        assert_eq!(
            errs(&cal("closures = [ { name = \"Tempête\", from = \"2027-01-15T12:00\", to = \"2027-01-16T08:00\" }, { name = \"Panne\", date = 2027-03-03 } ]")),
            Vec::<String>::new()
        );
        let e = errs(&cal("closures = [ { name = \"Tempête\", from = \"2027-01-16T12:00\", to = \"2027-01-15\" } ]"));
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with("p.toml:15:14: invalid closure"), "{e:?}");
        let e = errs(&edit(
            "hours = \"mon-fri 08:00-17:00\"",
            "hours = \"mon-fri 08:00-37:00\"",
        ));
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("p.toml:14:9: invalid opening hours"),
            "{e:?}"
        );
    }

    #[test]
    fn queue_details() {
        let q = |body: &str| with(&format!("[queues.q]\n{body}\n"));
        assert_eq!(
            errs(&q("service_level = \"80%\"")),
            ["p.toml:26:17: `80%` is not a service level: write percent/seconds, e.g. \"80/100\" (80 % answered within 100 s)"]
        );
        assert_eq!(
            errs(&q("skills = [\"permis:9\"]")),
            ["p.toml:26:11: `permis:9` is not a skill: write name or name:level, level 1 to 5 (e.g. permis:2)"]
        );
        assert_eq!(
            errs(&q(
                "relax = [ { after = 120, min_level = 2 }, { after = 60, drop = [\"fr\"] } ]"
            )),
            [
                "p.toml:26:53: relax steps must be in increasing order of `after`",
                "p.toml:26:65: the caller's language is never dropped",
            ]
        );
        assert_eq!(
            errs(&q("[queues.q.seasons.ete]\nclosed = true")),
            [
                "p.toml:26:19: season `ete` is not in calendar `c` (it has none)",
                "p.toml:27:10: queue `q` is closed in season `ete` but has no `overflow`: callers would have nowhere to go",
            ]
        );
        // Callback offer threshold and abandoned-resume: defaults, values, bounds.
        use std::time::Duration;
        let plan = |body: &str| match load(&q(body)) {
            Ok(p) => p.queues["q"].clone(),
            Err(e) => panic!("{e:?}"),
        };
        let d = plan("");
        assert_eq!(
            (d.callback_threshold, d.resume_window, d.resume_withheld),
            (Duration::from_secs(120), Duration::ZERO, false)
        );
        let r = plan(
            "callback_threshold = 300
resume_window = 600
resume_withheld = true",
        );
        assert_eq!(
            (r.callback_threshold, r.resume_window, r.resume_withheld),
            (Duration::from_secs(300), Duration::from_secs(600), true)
        );
        assert_eq!(errs(&q("resume_window = -1")).len(), 1);
    }
}
