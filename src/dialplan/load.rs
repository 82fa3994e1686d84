//! Loading a dial plan: every `*.toml` file of a plan directory, parsed with positions, merged
//! into one document, handed to `validate` and stamped with a version.
//!
//! Owns: reading the files (only `load_dir`/`plan_files` touch the file system, and only to
//! read), TOML syntax errors, unknown keys and wrong types (each with `file:line:column`),
//! merging split files (a name defined twice is an error at the second definition naming the
//! first), the `Diagnostic` type, the `PromptLookup` seam and the plan version string.
//! Never does: semantic checks (`validate`), network I/O, writing anything, panicking on file
//! contents. The only clock read is the load-time stamp in `Plan::version`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use toml::de::{DeString, DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

use super::model::{normalize_number, Plan};
use crate::media::prompt::{Catalog, Lang, PromptSet};

/// One problem in a plan, at a position an admin can jump to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based.
    pub line: usize,
    /// 1-based, counted in characters (not bytes).
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

impl std::error::Error for Diagnostic {}

/// What the validator needs to know about prompts: whether a recording exists.
pub trait PromptLookup {
    fn has(&self, id: &str, lang: Lang) -> bool;
    fn text(&self, id: &str, lang: Lang) -> Option<String>;
}

impl PromptLookup for PromptSet {
    fn has(&self, id: &str, lang: Lang) -> bool {
        self.get(id, lang).is_some()
    }

    fn text(&self, id: &str, lang: Lang) -> Option<String> {
        self.catalog().text(id, lang).map(str::to_owned)
    }
}

/// The catalogue alone (no audio decoded): enough for `centrale check` on a machine without the
/// WAV files; a missing WAV is then caught when the server loads the prompts.
impl PromptLookup for Catalog {
    fn has(&self, id: &str, lang: Lang) -> bool {
        self.text(id, lang).is_some()
    }

    fn text(&self, id: &str, lang: Lang) -> Option<String> {
        Catalog::text(self, id, lang).map(str::to_owned)
    }
}

/// A prompt list in memory, for tests and tools: `PromptList::both(&["goodbye"])`.
#[derive(Debug, Clone, Default)]
pub struct PromptList {
    texts: BTreeMap<(String, Lang), String>,
}

impl PromptList {
    /// Every id recorded in both languages.
    pub fn both(ids: &[&str]) -> PromptList {
        let mut list = PromptList::default();
        for id in ids {
            for lang in Lang::ALL {
                list = list.with(id, lang, id);
            }
        }
        list
    }

    /// Adds `id` in one language.
    pub fn with(mut self, id: &str, lang: Lang, text: &str) -> PromptList {
        self.texts.insert((id.to_string(), lang), text.to_string());
        self
    }
}

impl PromptLookup for PromptList {
    fn has(&self, id: &str, lang: Lang) -> bool {
        self.texts.contains_key(&(id.to_string(), lang))
    }

    fn text(&self, id: &str, lang: Lang) -> Option<String> {
        self.texts.get(&(id.to_string(), lang)).cloned()
    }
}

/// Reads and loads a plan directory: every `*.toml` file in it (not in subdirectories; names
/// starting with `.` are skipped, e.g. editor lock files), sorted by name.
pub fn load_dir(dir: &Path, prompts: &dyn PromptLookup) -> Result<Plan, Vec<Diagnostic>> {
    let files = plan_files(dir)?;
    load_files(&files, prompts)
}

/// The `(path, contents)` of every plan file of `dir`, sorted by name.
pub fn plan_files(dir: &Path) -> Result<Vec<(PathBuf, String)>, Vec<Diagnostic>> {
    let at_dir = |message: String| {
        vec![Diagnostic {
            file: dir.to_path_buf(),
            line: 1,
            column: 1,
            message,
        }]
    };
    let entries = std::fs::read_dir(dir)
        .map_err(|e| at_dir(format!("cannot read the plan directory: {e}")))?;
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| at_dir(format!("cannot list the plan directory: {e}")))?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let is_toml = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
        if is_toml && !name.starts_with('.') && path.is_file() {
            paths.push(path);
        }
    }
    if paths.is_empty() {
        return Err(at_dir("no *.toml file in the plan directory".into()));
    }
    paths.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    let mut files = Vec::with_capacity(paths.len());
    let mut errors = Vec::new();
    for path in paths {
        match std::fs::read(&path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => files.push((path, text)),
                Err(e) => {
                    let (line, column) = line_col(
                        &String::from_utf8_lossy(e.as_bytes()),
                        e.utf8_error().valid_up_to(),
                    );
                    errors.push(Diagnostic {
                        file: path,
                        line,
                        column,
                        message: "the file is not UTF-8 text: save it as UTF-8".into(),
                    });
                }
            },
            Err(e) => errors.push(Diagnostic {
                file: path,
                line: 1,
                column: 1,
                message: format!("cannot read: {e}"),
            }),
        }
    }
    if errors.is_empty() {
        Ok(files)
    } else {
        Err(errors)
    }
}

/// Loads a plan from files already in memory (`(path, contents)`, in the order given; the path
/// is only used in diagnostics and the version hash). Returns every problem found, sorted by
/// file (in the order given) then position.
pub fn load_files(
    files: &[(PathBuf, String)],
    prompts: &dyn PromptLookup,
) -> Result<Plan, Vec<Diagnostic>> {
    if files.is_empty() {
        return Err(vec![Diagnostic {
            file: PathBuf::new(),
            line: 1,
            column: 1,
            message: "no plan file given".into(),
        }]);
    }
    let mut doc = Doc::default();
    let mut diags = Vec::new();
    let mut syntax = false;
    for (i, (_, src)) in files.iter().enumerate() {
        syntax |= !parse_file(i, src, files, &mut doc, &mut diags);
    }
    // A file that does not parse leaves holes everywhere (its nodes, its targets …): checking
    // the rest would only produce noise, so syntax errors are reported alone.
    let plan = if syntax {
        None
    } else {
        match super::validate::check(&doc, files, prompts) {
            Ok(plan) => Some(plan),
            Err(more) => {
                diags.extend(more);
                None
            }
        }
    };
    match plan {
        Some(mut plan) if diags.is_empty() => {
            plan.version = version(files, jiff::Timestamp::now());
            Ok(plan)
        }
        _ => Err(to_diagnostics(files, diags)),
    }
}

/// `<UTC time as %Y%m%dT%H%M%SZ>-<first 8 hex digits of SHA-256 over file names and contents>`.
pub fn version(files: &[(PathBuf, String)], at: jiff::Timestamp) -> String {
    let mut h = Sha256::new();
    for (path, src) in files {
        let name = path
            .file_name()
            .map_or_else(|| path.to_string_lossy(), |n| n.to_string_lossy());
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update((src.len() as u64).to_le_bytes());
        h.update(src.as_bytes());
    }
    let digest = h.finalize();
    let hash = hex::encode(digest.get(..4).unwrap_or_default());
    format!("{}-{hash}", at.strftime("%Y%m%dT%H%M%SZ"))
}

// ---------------------------------------------------------------------------
// Positions

/// A byte offset in one of the files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pos {
    pub file: usize,
    pub offset: usize,
}

/// A problem before conversion to line/column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Diag {
    pub pos: Pos,
    pub msg: String,
}

impl Diag {
    pub fn new(file: usize, span: &Range<usize>, msg: impl Into<String>) -> Diag {
        Diag {
            pos: Pos {
                file,
                offset: span.start,
            },
            msg: msg.into(),
        }
    }
}

fn to_diagnostics(files: &[(PathBuf, String)], mut diags: Vec<Diag>) -> Vec<Diagnostic> {
    diags.sort_by(|a, b| a.pos.cmp(&b.pos).then_with(|| a.msg.cmp(&b.msg)));
    diags.dedup();
    diags
        .into_iter()
        .map(|d| {
            let (file, src) = files
                .get(d.pos.file)
                .map_or((PathBuf::new(), ""), |(p, s)| (p.clone(), s.as_str()));
            let (line, column) = line_col(src, d.pos.offset);
            Diagnostic {
                file,
                line,
                column,
                message: d.msg,
            }
        })
        .collect()
}

/// 1-based line and column (in characters) of byte offset `at` (clamped to the text).
pub(crate) fn line_col(src: &str, at: usize) -> (usize, usize) {
    let mut at = at.min(src.len());
    while !src.is_char_boundary(at) {
        at -= 1;
    }
    let before = &src[..at];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, col)
}

/// `plan.toml:12`, for messages that point at another definition.
pub(crate) fn where_is(files: &[(PathBuf, String)], file: usize, offset: usize) -> String {
    match files.get(file) {
        Some((path, src)) => {
            let name = path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into(),
            );
            format!("{name}:{}", line_col(src, offset).0)
        }
        None => "?".into(),
    }
}

// ---------------------------------------------------------------------------
// The merged document, as written (strings not yet interpreted)

/// One named entry (`[nodes.accueil]`, `[targets.911]`, a `[numbers]` line, a `[[misdial]]`).
#[derive(Debug, Clone)]
pub(crate) struct Item<T> {
    pub name: String,
    pub file: usize,
    /// Where the name is written (the key).
    pub key: Range<usize>,
    /// Field name → span of the key, for "not a field of …" errors.
    pub keys: BTreeMap<String, Range<usize>>,
    pub raw: T,
}

#[derive(Debug, Default)]
pub(crate) struct Doc {
    pub plan: Option<Item<RawPlan>>,
    /// `[plan]` was written but could not be read: do not also complain that it is missing.
    pub plan_broken: bool,
    pub numbers: Vec<Item<Spanned<String>>>,
    pub misdials: Vec<Item<RawMisdial>>,
    pub targets: Vec<Item<RawTarget>>,
    pub calendars: Vec<Item<RawCalendar>>,
    pub queues: Vec<Item<RawQueue>>,
    pub nodes: Vec<Item<RawNode>>,
    /// Names defined but unreadable (reported already): references to them are not errors.
    pub broken: Broken,
    /// Some entry could not be read (already reported): the node graph may have holes, so
    /// reachability and trap-loop checks are skipped.
    pub had_errors: bool,
    /// Where each name was first defined, to report duplicates across files.
    seen: HashMap<(&'static str, String), (usize, usize)>,
}

#[derive(Debug, Default)]
pub(crate) struct Broken {
    pub nodes: HashSet<String>,
    pub targets: HashSet<String>,
    pub queues: HashSet<String>,
    pub calendars: HashSet<String>,
}

pub(crate) type Strings = Vec<Spanned<String>>;
pub(crate) type Text = Spanned<String>;
pub(crate) type Int = Spanned<i64>;
pub(crate) type Flag = Spanned<bool>;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename = "plan table", deny_unknown_fields)]
pub(crate) struct RawPlan {
    pub name: Option<Text>,
    pub language: Option<Text>,
    pub calendar: Option<Text>,
    pub emergency: Option<Spanned<RawEmergency>>,
    pub menu_defaults: Option<Spanned<RawMenuDefaults>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(
    rename = "table like { digit = \"9\", target = \"911\" }",
    deny_unknown_fields
)]
pub(crate) struct RawEmergency {
    pub digit: Option<Text>,
    pub target: Option<Text>,
    pub prompts: Option<Strings>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename = "menu defaults table", deny_unknown_fields)]
pub(crate) struct RawMenuDefaults {
    pub timeout: Option<Int>,
    pub retries: Option<Int>,
    pub invalid: Option<Strings>,
    pub no_input: Option<Strings>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename = "misdial table", deny_unknown_fields)]
pub(crate) struct RawMisdial {
    pub numbers: Option<Spanned<Strings>>,
    pub target: Option<Text>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename = "target table", deny_unknown_fields)]
pub(crate) struct RawTarget {
    pub kind: Option<Text>,
    pub uri: Option<Text>,
    pub label: Option<Text>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename = "calendar table", deny_unknown_fields)]
pub(crate) struct RawCalendar {
    pub timezone: Option<Text>,
    /// A string or an array of strings.
    pub hours: Option<Spanned<toml::Value>>,
    pub holidays: Option<Strings>,
    pub extra_holidays: Option<Vec<Spanned<RawHoliday>>>,
    pub closures: Option<Vec<Spanned<RawClosure>>>,
    pub seasons: Option<BTreeMap<Text, Text>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename = "holiday table", deny_unknown_fields)]
pub(crate) struct RawHoliday {
    pub name: Option<Text>,
    pub rule: Option<Text>,
    pub observed: Option<Text>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename = "closure table", deny_unknown_fields)]
pub(crate) struct RawClosure {
    pub name: Option<Text>,
    /// Strings or TOML dates/date-times.
    pub from: Option<Spanned<toml::Value>>,
    pub to: Option<Spanned<toml::Value>>,
    pub date: Option<Spanned<toml::Value>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename = "queue table", deny_unknown_fields)]
pub(crate) struct RawQueue {
    pub skills: Option<Strings>,
    pub priority: Option<Int>,
    pub service_level: Option<Text>,
    pub relax: Option<Vec<Spanned<RawRelax>>>,
    pub hold: Option<Strings>,
    pub announce_every: Option<Int>,
    pub callback: Option<Flag>,
    pub callback_threshold: Option<Int>,
    pub resume_window: Option<Int>,
    pub resume_withheld: Option<Flag>,
    pub max_wait: Option<Int>,
    pub overflow: Option<Text>,
    pub calendar: Option<Text>,
    pub seasons: Option<BTreeMap<Text, Spanned<RawSeasonOverride>>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(
    rename = "relax step like { after = 60, min_level = 2 }",
    deny_unknown_fields
)]
pub(crate) struct RawRelax {
    pub after: Option<Int>,
    pub min_level: Option<Int>,
    pub drop: Option<Strings>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename = "season table", deny_unknown_fields)]
pub(crate) struct RawSeasonOverride {
    pub skills: Option<Strings>,
    pub priority: Option<Int>,
    pub closed: Option<Flag>,
}

/// Every field any node type may have; `validate` checks which belong to the node's `type`.
/// (Deserialized flat because serde's tagged enums lose positions.)
#[derive(Debug, Clone, Deserialize)]
#[serde(rename = "node table", deny_unknown_fields)]
pub(crate) struct RawNode {
    #[serde(rename = "type")]
    pub kind: Option<Text>,
    pub prompts: Option<Strings>,
    pub next: Option<Text>,
    pub choices: Option<BTreeMap<Text, Text>>,
    pub timeout: Option<Int>,
    pub retries: Option<Int>,
    pub invalid: Option<Strings>,
    pub no_input: Option<Strings>,
    pub on_fail: Option<Text>,
    pub emergency: Option<Flag>,
    pub barge_in: Option<Flag>,
    pub language: Option<Text>,
    pub rules: Option<Vec<Spanned<RawRule>>>,
    #[serde(rename = "else")]
    pub otherwise: Option<Text>,
    pub queue: Option<Text>,
    pub skills: Option<Strings>,
    pub topic: Option<Text>,
    pub priority: Option<Int>,
    pub variable: Option<Text>,
    pub min_digits: Option<Int>,
    pub max_digits: Option<Int>,
    pub terminator: Option<Text>,
    pub confirm: Option<Flag>,
    pub max_seconds: Option<Int>,
    pub beep: Option<Flag>,
    pub target: Option<Text>,
    pub on_failure: Option<Text>,
    pub outcome: Option<Text>,
}

/// The field names of [`RawNode`], as written in TOML.
pub(crate) const NODE_FIELDS: &[&str] = &[
    "type",
    "prompts",
    "next",
    "choices",
    "timeout",
    "retries",
    "invalid",
    "no_input",
    "on_fail",
    "emergency",
    "barge_in",
    "language",
    "rules",
    "else",
    "queue",
    "skills",
    "topic",
    "priority",
    "variable",
    "min_digits",
    "max_digits",
    "terminator",
    "confirm",
    "max_seconds",
    "beep",
    "target",
    "on_failure",
    "outcome",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(
    rename = "rule like { if = \"holiday\", goto = \"ferie\" }",
    deny_unknown_fields
)]
pub(crate) struct RawRule {
    #[serde(rename = "if")]
    pub cond: Option<Text>,
    pub goto: Option<Text>,
}

const SECTIONS: &str = "plan, numbers, misdial, targets, calendars, queues, nodes";

/// Parses one file into `doc`. Returns false on a syntax error (nothing of the file is kept).
fn parse_file(
    file: usize,
    src: &str,
    files: &[(PathBuf, String)],
    doc: &mut Doc,
    diags: &mut Vec<Diag>,
) -> bool {
    let table = match DeTable::parse(src) {
        Ok(t) => t,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let mut msg = e.message().trim().to_string();
            if msg == "duplicate key" {
                if let Some(key) = src.get(span.clone()).filter(|k| !k.is_empty()) {
                    msg = format!("duplicate key: `{key}` is already defined above in this file");
                }
            }
            diags.push(Diag::new(file, &span, msg));
            return false;
        }
    };
    let mut p = FileParser {
        file,
        files,
        doc,
        diags,
    };
    for (key, value) in table.into_inner() {
        let kspan = key.span();
        let name = key.into_inner();
        match name.as_ref() {
            "plan" => p.plan(kspan, value),
            "numbers" => p.numbers(kspan, value),
            "misdial" => p.misdials(kspan, value),
            "targets" => {
                for (k, v) in p.entries("targets", &kspan, value) {
                    if let Some(item) = p.item::<RawTarget>("target", k, v, &[]) {
                        p.doc.targets.push(item);
                    }
                }
            }
            "calendars" => {
                for (k, v) in p.entries("calendars", &kspan, value) {
                    if let Some(item) = p.item::<RawCalendar>("calendar", k, v, &[]) {
                        p.doc.calendars.push(item);
                    }
                }
            }
            "queues" => {
                for (k, v) in p.entries("queues", &kspan, value) {
                    if let Some(item) = p.item::<RawQueue>("queue", k, v, &[]) {
                        p.doc.queues.push(item);
                    }
                }
            }
            "nodes" => {
                for (k, v) in p.entries("nodes", &kspan, value) {
                    if let Some(item) = p.item::<RawNode>("node", k, v, NODE_FIELDS) {
                        p.doc.nodes.push(item);
                    }
                }
            }
            other => {
                let hint = suggest(other, SECTIONS.split(", "));
                p.diags.push(Diag::new(
                    file,
                    &kspan,
                    format!("unknown section `{other}`{hint}; sections are: {SECTIONS}"),
                ));
            }
        }
    }
    true
}

struct FileParser<'a> {
    file: usize,
    files: &'a [(PathBuf, String)],
    doc: &'a mut Doc,
    diags: &'a mut Vec<Diag>,
}

impl FileParser<'_> {
    fn err(&mut self, span: &Range<usize>, msg: impl Into<String>) {
        self.doc.had_errors = true;
        self.diags.push(Diag::new(self.file, span, msg));
    }

    fn toml_err(&mut self, fallback: &Range<usize>, e: toml::de::Error) {
        let span = e.span().unwrap_or_else(|| fallback.clone());
        let msg = friendly(e.message().trim());
        self.err(&span, msg);
    }

    /// Records the first definition of `name`; false (and an error) for a later one.
    fn first_definition(&mut self, kind: &'static str, name: &str, span: &Range<usize>) -> bool {
        let key = (kind, name.to_string());
        if let Some(&(file, offset)) = self.doc.seen.get(&key) {
            let first = where_is(self.files, file, offset);
            let what = if kind == "plan" {
                "[plan] is defined twice".to_string()
            } else {
                format!("{kind} `{name}` is defined twice")
            };
            self.err(span, format!("{what}: first defined at {first}"));
            return false;
        }
        self.doc.seen.insert(key, (self.file, span.start));
        true
    }

    fn entries<'i>(
        &mut self,
        section: &str,
        kspan: &Range<usize>,
        value: Spanned<DeValue<'i>>,
    ) -> Vec<(Spanned<DeString<'i>>, Spanned<DeValue<'i>>)> {
        let span = value.span();
        match value.into_inner() {
            DeValue::Table(t) => t.into_iter().collect(),
            other => {
                let at = if span.is_empty() { kspan } else { &span };
                let msg = format!(
                    "`{section}` must be a table of named entries, like [{section}.name], not a {}",
                    other.type_str()
                );
                self.err(at, msg);
                Vec::new()
            }
        }
    }

    /// Deserializes one named entry; on failure reports and marks the name as broken.
    fn item<T: DeserializeOwned>(
        &mut self,
        kind: &'static str,
        key: Spanned<DeString<'_>>,
        value: Spanned<DeValue<'_>>,
        known_fields: &[&str],
    ) -> Option<Item<T>> {
        let key_span = key.span();
        let name = key.into_inner().into_owned();
        if !self.first_definition(kind, &name, &key_span) {
            return None;
        }
        let keys = keys_of(&value);
        let mut ok = true;
        if !value.get_ref().is_table() {
            let msg = format!(
                "{kind} `{name}` must be a table (fields in braces or under a [header]), not a {}",
                value.get_ref().type_str()
            );
            let span = value.span();
            self.err(&span, msg);
            ok = false;
        }
        // Our own unknown-field check for nodes: serde's message would list all 28 fields.
        if !known_fields.is_empty() {
            for (k, span) in &keys {
                if !known_fields.contains(&k.as_str()) {
                    let hint = suggest(k, known_fields.iter().copied());
                    self.err(
                        span,
                        format!("unknown field `{k}` in {kind} `{name}`{hint}"),
                    );
                    ok = false;
                }
            }
        }
        let raw = if ok {
            let span = value.span();
            match T::deserialize(ValueDeserializer::from(value)) {
                Ok(raw) => Some(raw),
                Err(e) => {
                    self.toml_err(&span, e);
                    None
                }
            }
        } else {
            None
        };
        match raw {
            Some(raw) => Some(Item {
                name,
                file: self.file,
                key: key_span,
                keys,
                raw,
            }),
            None => {
                let broken = &mut self.doc.broken;
                match kind {
                    "node" => broken.nodes.insert(name),
                    "target" => broken.targets.insert(name),
                    "queue" => broken.queues.insert(name),
                    "calendar" => broken.calendars.insert(name),
                    _ => false,
                };
                None
            }
        }
    }

    fn plan(&mut self, kspan: Range<usize>, value: Spanned<DeValue<'_>>) {
        if !self.first_definition("plan", "", &kspan) {
            return;
        }
        let keys = keys_of(&value);
        let span = value.span();
        if !value.get_ref().is_table() {
            self.err(
                &span,
                "`plan` must be a table: write [plan] and its fields below it",
            );
            self.doc.plan_broken = true;
            return;
        }
        match RawPlan::deserialize(ValueDeserializer::from(value)) {
            Ok(raw) => {
                self.doc.plan = Some(Item {
                    name: String::new(),
                    file: self.file,
                    key: kspan,
                    keys,
                    raw,
                })
            }
            Err(e) => {
                self.toml_err(&span, e);
                self.doc.plan_broken = true;
            }
        }
    }

    fn numbers(&mut self, kspan: Range<usize>, value: Spanned<DeValue<'_>>) {
        for (k, v) in self.entries("numbers", &kspan, value) {
            let key_span = k.span();
            let number = k.into_inner().into_owned();
            if !self.first_definition("number", &normalize_number(&number), &key_span) {
                continue;
            }
            let span = v.span();
            match Text::deserialize(ValueDeserializer::from(v)) {
                Ok(target) => self.doc.numbers.push(Item {
                    name: number,
                    file: self.file,
                    key: key_span,
                    keys: BTreeMap::new(),
                    raw: target,
                }),
                Err(e) => self.toml_err(&span, e),
            }
        }
    }

    fn misdials(&mut self, kspan: Range<usize>, value: Spanned<DeValue<'_>>) {
        let DeValue::Array(items) = value.into_inner() else {
            self.err(
                &kspan,
                "`misdial` must be a list of tables: write [[misdial]] before each one",
            );
            return;
        };
        for v in items {
            let vspan = v.span();
            let keys = keys_of(&v);
            match RawMisdial::deserialize(ValueDeserializer::from(v)) {
                Ok(raw) => self.doc.misdials.push(Item {
                    name: String::new(),
                    file: self.file,
                    key: vspan,
                    keys,
                    raw,
                }),
                Err(e) => self.toml_err(&vspan, e),
            }
        }
    }
}

fn keys_of(value: &Spanned<DeValue<'_>>) -> BTreeMap<String, Range<usize>> {
    value
        .get_ref()
        .as_table()
        .map(|t| {
            t.iter()
                .map(|(k, _)| (k.get_ref().to_string(), k.span()))
                .collect()
        })
        .unwrap_or_default()
}

/// `; did you mean `x`?` when one of `candidates` is close to `word`, else "".
pub(crate) fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    let limit = (word.chars().count() / 3).clamp(1, 3);
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| format!("; did you mean `{c}`?"))
        .unwrap_or_default()
}

/// Edit distance counting a swap of two neighbours as one edit ("nxet" → "next").
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        for j in 0..=b.len() {
            d[i * w + j] = if i == 0 {
                j
            } else if j == 0 {
                i
            } else {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                let mut v = (d[(i - 1) * w + j - 1] + cost)
                    .min(d[(i - 1) * w + j] + 1)
                    .min(d[i * w + j - 1] + 1);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    v = v.min(d[(i - 2) * w + j - 2] + 1);
                }
                v
            };
        }
    }
    d[a.len() * w + b.len()]
}

/// serde's type names in words an admin knows.
fn friendly(msg: &str) -> String {
    msg.replace("expected i64", "expected a whole number")
        .replace("expected a sequence", "expected a list like [\"a\", \"b\"]")
        .replace(
            "expected a map",
            "expected a table like { key = \"value\" }",
        )
        .replace("expected a boolean", "expected true or false")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[(&str, &str)]) -> Vec<(PathBuf, String)> {
        list.iter()
            .map(|(n, s)| (PathBuf::from(n), s.to_string()))
            .collect()
    }

    fn prompts() -> PromptList {
        PromptList::both(&["goodbye", "invalid", "no_input", "choose_language"])
    }

    const OK: &str = r#"
[plan]
name = "Test"

[numbers]
"311" = "fin"

[nodes.fin]
type = "hangup"
prompts = ["goodbye"]
"#;

    fn errors(list: &[(&str, &str)]) -> Vec<String> {
        match load_files(&files(list), &prompts()) {
            Ok(_) => Vec::new(),
            Err(d) => d.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn minimal_document_loads_and_has_a_version() {
        let plan = load_files(&files(&[("plan.toml", OK)]), &prompts());
        let plan = match plan {
            Ok(p) => p,
            Err(d) => panic!("{d:?}"),
        };
        assert_eq!(plan.name, "Test");
        let (stamp, hash) = plan.version.split_once('-').unwrap_or(("", ""));
        assert_eq!(stamp.len(), 16, "{}", plan.version);
        assert!(stamp.ends_with('Z'));
        assert_eq!(hash.len(), 8);
    }

    #[test]
    fn version_hashes_names_and_contents() {
        let at = jiff::Timestamp::from_second(1_800_000_000).unwrap_or_default();
        let a = version(&files(&[("a.toml", "x = 1")]), at);
        let b = version(&files(&[("b.toml", "x = 1")]), at);
        let c = version(&files(&[("a.toml", "x = 2")]), at);
        assert!(a.starts_with("20270115T080000Z-"), "{a}");
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, version(&files(&[("a.toml", "x = 1")]), at));
    }

    #[test]
    fn syntax_error_position() {
        let src = "[plan]\nname = \"Test\"\nlanguage = fr\n";
        let e = errors(&[("plan.toml", src)]);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("plan.toml:3:12: "), "{e:?}");
    }

    #[test]
    fn duplicate_key_in_one_file() {
        let src = format!("{OK}\n[nodes.fin]\ntype = \"goto\"\n");
        assert_eq!(
            errors(&[("plan.toml", &src)]),
            ["plan.toml:12:8: duplicate key: `fin` is already defined above in this file"]
        );
    }

    #[test]
    fn unknown_field_position() {
        let src = format!("{OK}\n[nodes.x]\ntype = \"goto\"\nnxet = \"fin\"\n");
        let e = errors(&[("plan.toml", &src)]);
        assert_eq!(
            e,
            vec!["plan.toml:14:1: unknown field `nxet` in node `x`; did you mean `next`?"]
        );
        let src = OK.replace("name = \"Test\"", "name = \"Test\"\nlangage = \"fr\"");
        let e = errors(&[("plan.toml", &src)]);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("plan.toml:4:1: unknown field `langage`"),
            "{e:?}"
        );
    }

    #[test]
    fn wrong_type_position() {
        let src = format!("{OK}\n[nodes.x]\ntype = \"menu\"\ntimeout = \"5\"\n");
        let e = errors(&[("plan.toml", &src)]);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(
            e[0],
            "plan.toml:14:11: invalid type: string \"5\", expected a whole number"
        );
    }

    #[test]
    fn unknown_section_position() {
        let src = format!("{OK}\n[node.x]\ntype = \"goto\"\n");
        let e = errors(&[("plan.toml", &src)]);
        assert_eq!(
            e,
            vec![
                "plan.toml:12:2: unknown section `node`; did you mean `nodes`?; sections are: \
                  plan, numbers, misdial, targets, calendars, queues, nodes"
            ]
        );
    }

    #[test]
    fn duplicate_across_files_points_at_second_and_names_first() {
        let second = "\n\n[nodes.fin]\ntype = \"hangup\"\n";
        let e = errors(&[("a.toml", OK), ("b.toml", second)]);
        assert_eq!(
            e,
            vec!["b.toml:3:8: node `fin` is defined twice: first defined at a.toml:8"]
        );
        let e = errors(&[("a.toml", OK), ("b.toml", "[plan]\nname = \"x\"\n")]);
        assert_eq!(
            e,
            vec!["b.toml:1:2: [plan] is defined twice: first defined at a.toml:2"]
        );
        let e = errors(&[
            ("a.toml", OK),
            ("b.toml", "[numbers]\n\"3-1-1\" = \"fin\"\n"),
        ]);
        assert_eq!(
            e,
            vec!["b.toml:2:1: number `311` is defined twice: first defined at a.toml:6"]
        );
    }

    #[test]
    fn diagnostics_sorted_by_file_then_line() {
        let a = "[plan]\nname = \"T\"\n[numbers]\n\"311\" = \"nowhere\"\n";
        let b = "[nodes.x]\ntype = \"goto\"\nnext = \"ailleurs\"\n";
        let d = match load_files(&files(&[("a.toml", a), ("b.toml", b)]), &prompts()) {
            Err(d) => d,
            Ok(_) => panic!("should fail"),
        };
        let at: Vec<(String, usize)> = d
            .iter()
            .map(|d| (d.file.display().to_string(), d.line))
            .collect();
        let mut sorted = at.clone();
        sorted.sort();
        assert_eq!(at, sorted);
        assert!(d.len() >= 2, "{d:?}");
    }

    /// The repository root: this file's path works both in the main crate (`file!()` relative
    /// to it) and in a scratch crate that includes this file by absolute `#[path]`.
    fn repo_root() -> PathBuf {
        let this = Path::new(file!());
        let here = if this.is_absolute() {
            this.to_path_buf()
        } else {
            Path::new(env!("CARGO_MANIFEST_DIR")).join(this)
        };
        here.ancestors()
            .nth(3)
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    }

    fn real_prompts() -> &'static PromptSet {
        static SET: std::sync::OnceLock<PromptSet> = std::sync::OnceLock::new();
        SET.get_or_init(|| match PromptSet::load(&repo_root().join("prompts")) {
            Ok(set) => set,
            Err(e) => panic!("{e}"),
        })
    }

    /// A shipped plan loads with zero diagnostics against the real prompts.
    fn shipped(name: &str) -> Plan {
        let dir = repo_root().join("dialplans").join(name);
        match load_dir(&dir, real_prompts()) {
            Ok(plan) => plan,
            Err(d) => {
                let all: Vec<String> = d.iter().map(ToString::to_string).collect();
                panic!("{} diagnostics:\n{}", all.len(), all.join("\n"))
            }
        }
    }

    #[test]
    fn shipped_minimal_loads() {
        use super::super::model::{NodeKind, Route};
        let plan = shipped("minimal");
        let Route::Entry(id) = plan.route("311") else {
            panic!("311 does not enter the plan")
        };
        assert!(matches!(
            plan.node(id).map(|n| &n.kind),
            Some(NodeKind::Menu(_))
        ));
        assert!(matches!(plan.route("9-1-1"), Route::Exit(t) if t.name == "911"));
        assert!(matches!(plan.route("5551234"), Route::Entry(i) if i == id));
    }

    #[test]
    fn shipped_quebec_loads() {
        use super::super::model::{NodeKind, Route};
        let plan = shipped("quebec");
        for n in ["311", "4185550111", "+14185550111"] {
            assert!(matches!(plan.route(n), Route::Entry(_)), "{n}");
        }
        for (n, t) in [
            ("911", "911"),
            ("9911", "911"),
            ("811", "811"),
            ("211", "211"),
            ("511", "511"),
        ] {
            assert!(
                matches!(plan.route(n), Route::Exit(x) if x.name == t),
                "{n}"
            );
        }
        assert_zero_reaches_general(&plan);
        let snow = plan.queues.get("deneigement");
        assert!(snow.is_some_and(|q| q.seasons.get("ete").is_some_and(|s| s.closed)));
        let Some(id) = plan.node_id("info_deneigement") else {
            panic!("no info_deneigement")
        };
        assert!(matches!(plan.route("418-555-0122"), Route::Entry(i) if i == id));
        assert!(matches!(
            plan.node(id).map(|n| &n.kind),
            Some(NodeKind::Hangup { outcome, .. }) if outcome == "self-served"
        ));
    }

    #[test]
    fn shipped_trois_rivieres_loads() {
        use super::super::model::Route;
        let plan = shipped("trois-rivieres");
        assert!(matches!(plan.route("811"), Route::Exit(t) if t.name == "811"));
        assert_zero_reaches_general(&plan);
    }

    /// 0 in `menu_principal` leads (through nodes that do not wait) to the `general` queue.
    fn assert_zero_reaches_general(plan: &Plan) {
        use super::super::model::NodeKind;
        let menu = plan
            .node_id("menu_principal")
            .and_then(|i| plan.node(i))
            .map(|n| &n.kind);
        let Some(NodeKind::Menu(m)) = menu else {
            panic!("no menu_principal menu")
        };
        let mut at = m.choices.get(&'0').copied();
        for _ in 0..10 {
            match at.and_then(|i| plan.node(i)).map(|n| &n.kind) {
                Some(NodeKind::Queue(q)) => {
                    assert_eq!(q.queue, "general");
                    return;
                }
                Some(NodeKind::Goto { next } | NodeKind::Play { next, .. }) => at = Some(*next),
                other => panic!("0 leads to {other:?}"),
            }
        }
        panic!("0 does not reach a queue");
    }

    #[test]
    fn column_counts_characters() {
        assert_eq!(line_col("é = 1\nàé x", 11), (2, 3));
        assert_eq!(line_col("abc", 99), (1, 4));
    }

    #[test]
    fn load_dir_reads_sorted_toml_files_only() {
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        };
        let write = |name: &str, text: &str| {
            if let Err(e) = std::fs::write(dir.path().join(name), text) {
                panic!("{e}");
            }
        };
        write("b.toml", "[nodes.fin]\ntype = \"hangup\"\n");
        write(
            "a.toml",
            "[plan]\nname = \"T\"\n[numbers]\n\"311\" = \"fin\"\n",
        );
        write("notes.txt", "not toml");
        write(".#a.toml", "garbage [");
        let plan = load_dir(dir.path(), &prompts());
        assert!(plan.is_ok(), "{plan:?}");
        let empty = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        };
        let e = load_dir(empty.path(), &prompts());
        assert!(matches!(e, Err(ref d) if d[0].message.contains("no *.toml")));
    }
}
