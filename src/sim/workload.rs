//! The workload file (`workloads/*.toml`): what traffic a centre gets and who answers it —
//! arrivals (a daily volume × an intraday half-hour profile × weekday, season and date
//! factors), the language and topic mix, handle time, patience, ring delay, wrap-up, the ACD's
//! ring timeout, and agent groups with skills and shifts. Parsing with `file:line:column`
//! errors (syntax, unknown keys, wrong types and every semantic check), into the validated
//! [`Workload`].
//!
//! Owns: the format and its validation. Never does: calendars, time zones or the dial plan
//! (`scenario` resolves those), I/O other than `Workload::load` reading the one file, or
//! panicking on file contents. The format is documented in `docs/staffing.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use jiff::civil::Date;
use serde::Deserialize;
use toml::Spanned;

use super::shift::weekday_index;
pub use super::shift::{
    parse_days, parse_hhmm, parse_shift, weekday_key, Shift, ShiftError, WeekdaysError,
};
use crate::dialplan::calendar::Season;
use crate::dialplan::holiday::{self, Holiday};

/// A problem in a workload file, at a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadError {
    pub path: PathBuf,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub message: String,
}

impl fmt::Display for WorkloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

impl std::error::Error for WorkloadError {}

/// The file a workload came from, to place errors found later (against the dial plan).
#[derive(Debug, Clone, Default)]
pub struct Source {
    pub path: PathBuf,
    text: String,
}

impl Source {
    pub fn new(path: &Path, text: &str) -> Source {
        Source {
            path: path.to_path_buf(),
            text: text.to_string(),
        }
    }

    /// An error at byte offset `span.start`.
    pub fn error(&self, span: &Range<usize>, message: impl Into<String>) -> WorkloadError {
        let offset = span.start.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        WorkloadError {
            path: self.path.clone(),
            line,
            column,
            message: message.into(),
        }
    }
}

/// Half-hours in a day.
pub const SLOTS_PER_DAY: usize = 48;

/// A factor for a named season (or a weekday, a date …), with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Named {
    pub name: String,
    pub value: f64,
    pub span: Range<usize>,
}

/// Arrivals on date d in half-hour k (local time):
/// `calls_per_day × weekday[wd(d)] × season[s(d)] × dates[d] × profile_wd[k] / Σ profile_wd`.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrivals {
    pub calls_per_day: f64,
    /// Per weekday (Monday first): the half-hour weights, normalised to sum 1 (all 0 for a
    /// day with no profile).
    pub profiles: [Vec<f64>; 7],
    /// Monday first.
    pub weekday: [f64; 7],
    /// Season → factor (a season not listed: 1).
    pub seasons: Vec<Named>,
    pub dates: BTreeMap<Date, f64>,
}

/// Where callers of a topic go, and how long they talk.
#[derive(Debug, Clone, PartialEq)]
pub struct Topic {
    pub name: String,
    pub share: f64,
    /// Season → share (instead of `share`).
    pub seasons: Vec<Named>,
    /// Queue; None: from the plan's queue node for this topic, else `general`.
    pub queue: Option<String>,
    /// The plan's queue node to take queue, skills and priority from.
    pub node: Option<(String, Range<usize>)>,
    pub skills: Vec<String>,
    pub priority: i32,
    pub talk_mean_s: Option<f64>,
    pub span: Range<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TalkDistribution {
    Exponential,
    LogNormal,
    Fixed,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Handling {
    /// Talk time (agent answer → hang-up, hold included), mean in seconds.
    pub talk_mean_s: f64,
    pub distribution: TalkDistribution,
    /// Coefficient of variation of a log-normal talk time.
    pub talk_cv: f64,
    /// Wrap-up after each call (the ACD applies it; an agent group's own `wrapup_s` wins).
    pub wrapup_s: u64,
    /// The agent answers after a delay uniform in [lo, hi] seconds.
    pub ring_s: (f64, f64),
    /// Mean of exponential patience; None: callers never hang up.
    pub patience_mean_s: Option<f64>,
    /// Share of callers offered a callback (queue overflow) who take it; the others keep
    /// waiting.
    pub callback_accept: f64,
}

impl Handling {
    /// Mean agent time per call excluding ring: talk + wrap-up.
    pub fn aht_s(&self, talk_mean_s: f64) -> f64 {
        talk_mean_s + self.wrapup_s as f64
    }
}

/// When agents work: shifts (members of a group take them in turn) on some weekdays.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub shifts: Vec<Shift>,
    /// Monday first.
    pub days: [bool; 7],
}

/// `count` identical agents.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentGroup {
    /// The agent's id, or the prefix of `id-01`, `id-02` … when `count` > 1.
    pub id: String,
    pub count: u32,
    pub skills: BTreeMap<String, u8>,
    pub queues: Vec<String>,
    pub wrapup_s: Option<u64>,
    pub seasons: Vec<String>,
    pub schedule: Schedule,
    pub span: Range<usize>,
}

impl AgentGroup {
    /// The agents' ids.
    pub fn ids(&self) -> Vec<String> {
        if self.count == 1 {
            vec![self.id.clone()]
        } else {
            (1..=self.count)
                .map(|k| format!("{}-{k:02}", self.id))
                .collect()
        }
    }
}

/// A validated workload.
#[derive(Debug, Clone)]
pub struct Workload {
    pub name: String,
    pub start: Date,
    pub days: u32,
    pub seed: Option<u64>,
    /// Used when no dial plan is given (a plan's calendar wins).
    pub holidays: Vec<Holiday>,
    pub seasons: Vec<Season>,
    pub arrivals: Arrivals,
    pub languages: Vec<(String, f64)>,
    pub topics: Vec<Topic>,
    pub handling: Handling,
    pub ring_timeout_s: u64,
    pub max_misses: u32,
    /// Shifts of agents that come from an agents.toml (which has no schedules).
    pub schedule: Schedule,
    pub agents: Vec<AgentGroup>,
    pub source: Source,
}

// ----- raw file -----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    workload: RawHead,
    #[serde(default)]
    calendar: Option<RawCalendar>,
    arrivals: Spanned<RawArrivals>,
    #[serde(default)]
    languages: Option<Spanned<BTreeMap<Spanned<String>, Spanned<f64>>>>,
    #[serde(default)]
    topics: BTreeMap<Spanned<String>, Spanned<RawTopic>>,
    handling: Spanned<RawHandling>,
    #[serde(default)]
    acd: Option<RawAcd>,
    #[serde(default)]
    schedule: Option<RawSchedule>,
    #[serde(default)]
    agents: Vec<Spanned<RawGroup>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHead {
    #[serde(default)]
    name: Option<String>,
    start: Spanned<String>,
    days: Spanned<i64>,
    #[serde(default)]
    seed: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCalendar {
    #[serde(default)]
    holidays: Vec<Spanned<String>>,
    #[serde(default)]
    seasons: BTreeMap<Spanned<String>, Spanned<String>>,
}

type Factors = BTreeMap<Spanned<String>, Spanned<f64>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArrivals {
    calls_per_day: Spanned<f64>,
    #[serde(default)]
    profile_start: Option<Spanned<String>>,
    profile: Spanned<Vec<Spanned<f64>>>,
    #[serde(default)]
    profiles: BTreeMap<Spanned<String>, Spanned<Vec<Spanned<f64>>>>,
    #[serde(default)]
    weekdays: Option<Factors>,
    #[serde(default)]
    seasons: Factors,
    #[serde(default)]
    dates: Factors,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTopic {
    share: Spanned<f64>,
    #[serde(default)]
    seasons: Factors,
    #[serde(default)]
    queue: Option<Spanned<String>>,
    #[serde(default)]
    node: Option<Spanned<String>>,
    #[serde(default)]
    skills: Vec<Spanned<String>>,
    #[serde(default)]
    priority: i32,
    #[serde(default)]
    talk_mean_s: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHandling {
    talk_mean_s: Spanned<f64>,
    #[serde(default)]
    talk_distribution: Option<Spanned<String>>,
    #[serde(default)]
    talk_cv: Option<Spanned<f64>>,
    #[serde(default)]
    wrapup_s: Option<Spanned<i64>>,
    #[serde(default)]
    ring_s: Option<Spanned<Vec<f64>>>,
    #[serde(default)]
    patience_mean_s: Option<Spanned<f64>>,
    #[serde(default)]
    callback_accept: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAcd {
    #[serde(default)]
    ring_timeout_s: Option<Spanned<i64>>,
    #[serde(default)]
    max_misses: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    shifts: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    days: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    id: Spanned<String>,
    #[serde(default)]
    count: Option<Spanned<i64>>,
    skills: Spanned<BTreeMap<Spanned<String>, Spanned<i64>>>,
    #[serde(default)]
    queues: Vec<Spanned<String>>,
    #[serde(default)]
    wrapup_s: Option<Spanned<i64>>,
    #[serde(default)]
    seasons: Vec<Spanned<String>>,
    #[serde(default)]
    shifts: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    days: Option<Spanned<String>>,
}

/// Skill, queue, season and topic names: what agents.toml accepts.
fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-'))
}

impl Workload {
    /// Read and validate a workload file.
    pub fn load(path: &Path) -> Result<Workload, WorkloadError> {
        let text = std::fs::read_to_string(path).map_err(|e| WorkloadError {
            path: path.to_path_buf(),
            line: 1,
            column: 1,
            message: format!("cannot read: {e}"),
        })?;
        Workload::parse(&text, path)
    }

    /// Parse and validate file contents (`path` is for messages).
    pub fn parse(text: &str, path: &Path) -> Result<Workload, WorkloadError> {
        let src = Source::new(path, text);
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            src.error(&span, e.message().trim().to_string())
        })?;
        build(raw, src)
    }

    /// Total expected calls over the period before calendars and holidays (for messages).
    pub fn nominal_calls_per_week(&self) -> f64 {
        self.arrivals.calls_per_day * self.arrivals.weekday.iter().sum::<f64>()
    }
}

fn positive(src: &Source, v: &Spanned<f64>, what: &str) -> Result<f64, WorkloadError> {
    let x = *v.get_ref();
    if x.is_finite() && x > 0.0 {
        Ok(x)
    } else {
        Err(src.error(&v.span(), format!("{what} must be a number > 0")))
    }
}

fn non_negative(src: &Source, v: &Spanned<f64>, what: &str) -> Result<f64, WorkloadError> {
    let x = *v.get_ref();
    if x.is_finite() && x >= 0.0 {
        Ok(x)
    } else {
        Err(src.error(&v.span(), format!("{what} must be a number ≥ 0")))
    }
}

fn int_in(
    src: &Source,
    v: &Spanned<i64>,
    lo: i64,
    hi: i64,
    what: &str,
) -> Result<i64, WorkloadError> {
    let x = *v.get_ref();
    if (lo..=hi).contains(&x) {
        Ok(x)
    } else {
        Err(src.error(&v.span(), format!("{what} must be in {lo}..={hi}")))
    }
}

fn name(src: &Source, v: &Spanned<String>, what: &str) -> Result<String, WorkloadError> {
    if valid_name(v.get_ref()) {
        Ok(v.get_ref().clone())
    } else {
        Err(src.error(
            &v.span(),
            format!(
                "{what} {:?} must be 1-64 characters of a-z 0-9 _ -",
                v.get_ref()
            ),
        ))
    }
}

fn factors(src: &Source, f: &Factors, what: &str) -> Result<Vec<Named>, WorkloadError> {
    f.iter()
        .map(|(k, v)| {
            Ok(Named {
                name: name(src, k, what)?,
                value: non_negative(src, v, &format!("{what} factor"))?,
                span: k.span(),
            })
        })
        .collect()
}

fn profile(
    src: &Source,
    v: &Spanned<Vec<Spanned<f64>>>,
    start_slot: usize,
) -> Result<Vec<f64>, WorkloadError> {
    let mut out = vec![0.0; SLOTS_PER_DAY];
    if start_slot + v.get_ref().len() > SLOTS_PER_DAY {
        return Err(src.error(
            &v.span(),
            format!(
                "{} half-hours from profile_start run past midnight (at most {})",
                v.get_ref().len(),
                SLOTS_PER_DAY - start_slot
            ),
        ));
    }
    for (i, w) in v.get_ref().iter().enumerate() {
        out[start_slot + i] = non_negative(src, w, "a profile weight")?;
    }
    let sum: f64 = out.iter().sum();
    if sum > 0.0 {
        for x in &mut out {
            *x /= sum;
        }
    }
    Ok(out)
}

fn schedule(
    src: &Source,
    shifts: &Spanned<Vec<Spanned<String>>>,
    days: Option<&Spanned<String>>,
) -> Result<Schedule, WorkloadError> {
    if shifts.get_ref().is_empty() {
        return Err(src.error(&shifts.span(), "shifts must list at least one shift"));
    }
    let shifts = shifts
        .get_ref()
        .iter()
        .map(|s| parse_shift(s.get_ref()).map_err(|e| src.error(&s.span(), e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let days = match days {
        Some(d) => parse_days(d.get_ref()).map_err(|e| src.error(&d.span(), e.to_string()))?,
        None => [true, true, true, true, true, false, false],
    };
    Ok(Schedule { shifts, days })
}

fn build(raw: RawFile, src: Source) -> Result<Workload, WorkloadError> {
    let head = raw.workload;
    let start: Date = head
        .start
        .get_ref()
        .trim()
        .parse()
        .map_err(|_| src.error(&head.start.span(), "start must be a date like 2027-01-04"))?;
    let days = int_in(&src, &head.days, 1, 3660, "days")? as u32;
    let seed = match &head.seed {
        Some(s) => Some(int_in(&src, s, 0, i64::MAX, "seed")? as u64),
        None => None,
    };

    // Calendar (used without a dial plan).
    let mut holidays = Vec::new();
    let mut seasons = Vec::new();
    if let Some(cal) = &raw.calendar {
        for h in &cal.holidays {
            match h.get_ref().as_str() {
                "quebec" | "quebec-statutory" => holidays.extend(holiday::quebec_statutory()),
                "quebec-municipal" => holidays.extend(holiday::quebec_municipal_extra()),
                other => {
                    return Err(src.error(
                        &h.span(),
                        format!(
                            "unknown holiday set {other:?}: built-in sets are \"quebec\" and \"quebec-municipal\""
                        ),
                    ))
                }
            }
        }
        for (k, v) in &cal.seasons {
            let n = name(&src, k, "season")?;
            seasons.push(
                Season::parse(n, v.get_ref()).map_err(|e| src.error(&v.span(), e.to_string()))?,
            );
        }
    }

    // Arrivals.
    let a = raw.arrivals.get_ref();
    let calls_per_day = non_negative(&src, &a.calls_per_day, "calls_per_day")?;
    let start_slot = match &a.profile_start {
        Some(s) => {
            let m = parse_hhmm(s.get_ref())
                .filter(|m| m % 30 == 0 && *m < 24 * 60)
                .ok_or_else(|| {
                    src.error(
                        &s.span(),
                        "profile_start must be a half hour like \"08:00\" or \"08:30\"",
                    )
                })?;
            usize::from(m / 30)
        }
        None => 0,
    };
    let base = profile(&src, &a.profile, start_slot)?;
    if base.iter().all(|&x| x == 0.0) {
        return Err(src.error(&a.profile.span(), "profile has no positive weight"));
    }
    let mut profiles: [Vec<f64>; 7] = std::array::from_fn(|_| base.clone());
    for (k, v) in &a.profiles {
        let d = weekday_index(k.get_ref()).ok_or_else(|| {
            src.error(
                &k.span(),
                format!("{:?} is not a weekday (mon … sun)", k.get_ref()),
            )
        })?;
        profiles[d] = profile(&src, v, start_slot)?;
    }
    let weekday = match &a.weekdays {
        None => [1.0; 7],
        Some(f) => {
            let mut w = [0.0; 7];
            for (k, v) in f {
                let d = weekday_index(k.get_ref()).ok_or_else(|| {
                    src.error(
                        &k.span(),
                        format!("{:?} is not a weekday (mon … sun)", k.get_ref()),
                    )
                })?;
                w[d] = non_negative(&src, v, "a weekday factor")?;
            }
            w
        }
    };
    let mut dates = BTreeMap::new();
    for (k, v) in &a.dates {
        let d: Date = k.get_ref().trim().parse().map_err(|_| {
            src.error(
                &k.span(),
                format!("{:?} is not a date like 2027-01-18", k.get_ref()),
            )
        })?;
        dates.insert(d, non_negative(&src, v, "a date factor")?);
    }
    let arrivals = Arrivals {
        calls_per_day,
        profiles,
        weekday,
        seasons: factors(&src, &a.seasons, "season")?,
        dates,
    };

    // Mix.
    let languages = match &raw.languages {
        None => vec![("fr".to_string(), 1.0)],
        Some(l) => {
            let mut v = Vec::new();
            for (k, w) in l.get_ref() {
                v.push((
                    name(&src, k, "language")?,
                    non_negative(&src, w, "a language share")?,
                ));
            }
            if v.iter().all(|x| x.1 == 0.0) {
                return Err(src.error(&l.span(), "languages: at least one share must be > 0"));
            }
            v
        }
    };
    let mut topics = Vec::new();
    for (k, t) in &raw.topics {
        let r = t.get_ref();
        let mut skills = Vec::new();
        for s in &r.skills {
            let (n, lvl) = match s.get_ref().rsplit_once(':') {
                Some((n, l)) => (n, Some(l)),
                None => (s.get_ref().as_str(), None),
            };
            let ok = valid_name(n) && lvl.is_none_or(|l| matches!(l, "1" | "2" | "3" | "4" | "5"));
            if !ok {
                return Err(src.error(
                    &s.span(),
                    format!("skill {:?} must be \"name\" or \"name:1..5\"", s.get_ref()),
                ));
            }
            skills.push(s.get_ref().clone());
        }
        topics.push(Topic {
            name: name(&src, k, "topic")?,
            share: non_negative(&src, &r.share, "share")?,
            seasons: factors(&src, &r.seasons, "season")?,
            queue: match &r.queue {
                Some(q) => Some(name(&src, q, "queue")?),
                None => None,
            },
            node: r.node.as_ref().map(|n| (n.get_ref().clone(), n.span())),
            skills,
            priority: r.priority,
            talk_mean_s: match &r.talk_mean_s {
                Some(v) => Some(positive(&src, v, "talk_mean_s")?),
                None => None,
            },
            span: k.span(),
        });
    }

    // Handling.
    let h = raw.handling.get_ref();
    let distribution = match &h.talk_distribution {
        None => TalkDistribution::Exponential,
        Some(d) => match d.get_ref().as_str() {
            "exponential" => TalkDistribution::Exponential,
            "lognormal" | "log-normal" => TalkDistribution::LogNormal,
            "fixed" => TalkDistribution::Fixed,
            other => {
                return Err(src.error(
                    &d.span(),
                    format!(
                    "talk_distribution {other:?}: use \"exponential\", \"lognormal\" or \"fixed\""
                ),
                ))
            }
        },
    };
    let talk_cv = match &h.talk_cv {
        Some(v) => non_negative(&src, v, "talk_cv")?,
        None => 1.0,
    };
    if h.talk_cv.is_some() && distribution != TalkDistribution::LogNormal {
        if let Some(v) = &h.talk_cv {
            return Err(src.error(
                &v.span(),
                "talk_cv applies to talk_distribution = \"lognormal\" only",
            ));
        }
    }
    let ring_s = match &h.ring_s {
        None => (2.0, 4.0),
        Some(r) => match r.get_ref().as_slice() {
            [lo, hi] if lo.is_finite() && *lo >= 0.0 && hi >= lo && *hi < 3600.0 => (*lo, *hi),
            [x] if x.is_finite() && *x >= 0.0 && *x < 3600.0 => (*x, *x),
            _ => {
                return Err(src.error(
                    &r.span(),
                    "ring_s must be [min, max] seconds, 0 ≤ min ≤ max",
                ))
            }
        },
    };
    let patience_mean_s = match &h.patience_mean_s {
        Some(v) => Some(non_negative(&src, v, "patience_mean_s")?).filter(|&p| p > 0.0),
        None => None,
    };
    let callback_accept = match &h.callback_accept {
        Some(v) => {
            let x = non_negative(&src, v, "callback_accept")?;
            if x > 1.0 {
                return Err(src.error(&v.span(), "callback_accept is a share in 0..=1"));
            }
            x
        }
        None => 1.0,
    };
    let handling = Handling {
        talk_mean_s: positive(&src, &h.talk_mean_s, "talk_mean_s")?,
        distribution,
        talk_cv,
        wrapup_s: match &h.wrapup_s {
            Some(w) => int_in(&src, w, 0, 3600, "wrapup_s")? as u64,
            None => 0,
        },
        ring_s,
        patience_mean_s,
        callback_accept,
    };

    let (mut ring_timeout_s, mut max_misses) = (15, 2);
    if let Some(acd) = &raw.acd {
        if let Some(r) = &acd.ring_timeout_s {
            ring_timeout_s = int_in(&src, r, 1, 600, "ring_timeout_s")? as u64;
        }
        if let Some(m) = &acd.max_misses {
            max_misses = int_in(&src, m, 0, 100, "max_misses")? as u32;
        }
    }
    if let Some(r) = &h.ring_s {
        if handling.ring_s.1 >= ring_timeout_s as f64 {
            return Err(src.error(
                &r.span(),
                format!("ring_s must stay under the ACD ring timeout ({ring_timeout_s} s)"),
            ));
        }
    }

    let default_schedule = match &raw.schedule {
        Some(s) => schedule(&src, &s.shifts, s.days.as_ref())?,
        None => Schedule {
            shifts: vec![vec![(0, 24 * 60)]],
            days: [true; 7],
        },
    };

    let mut agents = Vec::new();
    let mut ids = BTreeSet::new();
    for g in &raw.agents {
        let r = g.get_ref();
        let id = r.id.get_ref().clone();
        let id_ok = !id.is_empty()
            && id.len() <= 60
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !id_ok {
            return Err(src.error(
                &r.id.span(),
                "agent id must be 1-60 characters of A-Z a-z 0-9 . _ -",
            ));
        }
        let count = match &r.count {
            Some(c) => int_in(&src, c, 0, 10_000, "count")? as u32,
            None => 1,
        };
        let mut skills = BTreeMap::new();
        for (k, v) in r.skills.get_ref() {
            skills.insert(
                name(&src, k, "skill")?,
                int_in(&src, v, 1, 5, "a proficiency")? as u8,
            );
        }
        if !languages.iter().any(|(l, _)| skills.contains_key(l)) {
            return Err(src.error(
                &r.skills.span(),
                format!(
                    "agents {id:?} speak none of the callers' languages ({}): give them a language skill",
                    languages.iter().map(|l| l.0.as_str()).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        let sched = match &r.shifts {
            Some(s) => schedule(&src, s, r.days.as_ref())?,
            None => {
                let mut d = default_schedule.clone();
                if let Some(days) = &r.days {
                    d.days = parse_days(days.get_ref())
                        .map_err(|e| src.error(&days.span(), e.to_string()))?;
                }
                d
            }
        };
        let group = AgentGroup {
            id,
            count,
            skills,
            queues: r
                .queues
                .iter()
                .map(|q| name(&src, q, "queue"))
                .collect::<Result<_, _>>()?,
            wrapup_s: match &r.wrapup_s {
                Some(w) => Some(int_in(&src, w, 0, 3600, "wrapup_s")? as u64),
                None => None,
            },
            seasons: r
                .seasons
                .iter()
                .map(|s| name(&src, s, "season"))
                .collect::<Result<_, _>>()?,
            schedule: sched,
            span: g.span(),
        };
        for i in group.ids() {
            if !ids.insert(i.clone()) {
                return Err(src.error(&r.id.span(), format!("agent id {i:?} is used twice")));
            }
        }
        agents.push(group);
    }

    Ok(Workload {
        name: head.name.unwrap_or_else(|| "workload".into()),
        start,
        days,
        seed,
        holidays,
        seasons,
        arrivals,
        languages,
        topics,
        handling,
        ring_timeout_s,
        max_misses,
        schedule: default_schedule,
        agents,
        source: src,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const MINIMAL: &str = r#"
[workload]
start = "2027-06-07"
days = 7

[arrivals]
calls_per_day = 100
profile_start = "08:00"
profile = [1, 2, 2, 1]

[handling]
talk_mean_s = 240
"#;

    fn parse(text: &str) -> Result<Workload, WorkloadError> {
        Workload::parse(text, Path::new("w.toml"))
    }

    #[test]
    fn minimal_file_and_defaults() {
        let w = parse(MINIMAL).unwrap();
        assert_eq!(w.days, 7);
        assert_eq!(w.languages, vec![("fr".to_string(), 1.0)]);
        assert_eq!(w.arrivals.weekday, [1.0; 7]);
        let p = &w.arrivals.profiles[0];
        assert_eq!(p[16], 1.0 / 6.0);
        assert_eq!(p[17], 2.0 / 6.0);
        assert_eq!(p[15], 0.0);
        assert_eq!(w.handling.distribution, TalkDistribution::Exponential);
        assert_eq!(w.handling.ring_s, (2.0, 4.0));
        assert_eq!(w.handling.patience_mean_s, None);
        assert_eq!(w.ring_timeout_s, 15);
    }

    #[test]
    fn errors_have_line_and_column() {
        let e = parse(&MINIMAL.replace("days = 7", "days = 0")).unwrap_err();
        assert_eq!((e.line, e.column), (4, 8), "{e}");
        assert!(
            e.to_string()
                .starts_with("w.toml:4:8: days must be in 1..=3660"),
            "{e}"
        );
        let e = parse(&MINIMAL.replace("profile = [1, 2, 2, 1]", "profile = [1, -2]")).unwrap_err();
        assert_eq!((e.line, e.column), (9, 15), "{e}");
        let e = parse(&format!("{MINIMAL}talk_distribution = \"gamma\"\n")).unwrap_err();
        assert_eq!((e.line, e.column), (13, 21), "{e}");
        // Unknown keys and wrong types are placed by the TOML parser.
        let e = parse(&MINIMAL.replace("talk_mean_s = 240", "talk_mean = 240")).unwrap_err();
        assert_eq!(e.line, 12, "{e}");
        assert!(e.message.contains("talk_mean"), "{e}");
        let e =
            parse(&MINIMAL.replace("calls_per_day = 100", "calls_per_day = \"many\"")).unwrap_err();
        assert_eq!(e.line, 7, "{e}");
        let e = parse(&format!(
            "{MINIMAL}\n[[agents]]\nid = \"a\"\nskills = {{ en = 3 }}\nshifts = [\"09:00-08:00\"]\n"
        ))
        .unwrap_err();
        assert_eq!((e.line, e.column), (16, 10), "{e}");
        assert!(e.message.contains("none of the callers' languages"), "{e}");
        let e = parse(&format!(
            "{MINIMAL}\n[[agents]]\nid = \"a\"\nskills = {{ fr = 3 }}\nshifts = [\"09:00-08:00\"]\n"
        ))
        .unwrap_err();
        assert_eq!((e.line, e.column), (17, 11), "{e}");
    }

    #[test]
    fn days_and_shifts() {
        assert_eq!(
            parse_days("mon-fri").unwrap(),
            [true, true, true, true, true, false, false]
        );
        assert_eq!(
            parse_days("sat-mon").unwrap(),
            [true, false, false, false, false, true, true]
        );
        assert_eq!(
            parse_days("lun, mer").unwrap(),
            [true, false, true, false, false, false, false]
        );
        assert!(parse_days("funday").is_err());
        assert_eq!(parse_shift("08:00-16:30").unwrap(), [(480, 990)]);
        assert_eq!(parse_shift("00:00-24:00").unwrap(), [(0, 1440)]);
        assert_eq!(
            parse_shift("08:00-10:00+10:15-12:00").unwrap(),
            [(480, 600), (615, 720)]
        );
        assert_eq!(
            parse_shift("08:00-10:00+09:00-12:00"),
            Err(ShiftError::OutOfOrder {
                stretch: "09:00-12:00".into()
            })
        );
        assert!(parse_shift("8h-16h").is_err());
        let w = parse(&format!(
            "{MINIMAL}\n[[agents]]\nid = \"poly\"\ncount = 3\nskills = {{ fr = 5 }}\nshifts = [\"08:00-16:00\", \"11:00-19:00\"]\ndays = \"mon-fri\"\n"
        ))
        .unwrap();
        assert_eq!(w.agents[0].ids(), ["poly-01", "poly-02", "poly-03"]);
        assert_eq!(
            w.agents[0].schedule.shifts,
            [vec![(480, 960)], vec![(660, 1140)]]
        );
    }
}
