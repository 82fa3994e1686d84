//! The dial plan as written: the merged document that `load` builds from the TOML files and
//! `validate` turns into a `Plan` (entries with the byte spans of their keys and values, strings
//! not yet interpreted), and what both report through: positions, the admin-facing
//! `Diagnostic`, "did you mean" suggestions and the `PromptLookup` seam.
//!
//! Owns: the document types (`Doc`, `Item`, the `Raw*` tables and the node field list),
//! positions and their conversion to `file:line:column`, suggestions, the prompt seam.
//! Never does: read files or parse TOML (`load`), decide what a value means (`validate`), I/O
//! of any kind, panicking on plan contents.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

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

pub(crate) fn to_diagnostics(files: &[(PathBuf, String)], mut diags: Vec<Diag>) -> Vec<Diagnostic> {
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
    pub seen: HashMap<(&'static str, String), (usize, usize)>,
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
    /// Callers waiting here may press the plan's emergency digit.
    pub emergency: Option<Flag>,
    pub knowledge: Option<Spanned<RawLink>>,
    pub dispositions: Option<Strings>,
    pub max_wait: Option<Int>,
    pub overflow: Option<Text>,
    pub calendar: Option<Text>,
    pub seasons: Option<BTreeMap<Text, Spanned<RawSeasonOverride>>>,
}

/// A link like { label = "Info-Sésame : permis", url = "https://…" }.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    rename = "link like { label = \"…\", url = \"https://…\" }",
    deny_unknown_fields
)]
pub(crate) struct RawLink {
    pub label: Option<Text>,
    pub url: Option<Text>,
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
    pub knowledge: Option<Spanned<RawLink>>,
    /// The node in words ("Permis", "Anglais"): the caller's path as agents see it.
    pub label: Option<Text>,
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
    "knowledge",
    "label",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_counts_characters() {
        assert_eq!(line_col("é = 1\nàé x", 11), (2, 3));
        assert_eq!(line_col("abc", 99), (1, 4));
    }

    #[test]
    fn suggestions_allow_a_swap() {
        assert_eq!(
            suggest("nxet", ["next", "prompts"]),
            "; did you mean `next`?"
        );
        assert_eq!(suggest("zzz", ["next"]), "");
    }
}
