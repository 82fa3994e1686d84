//! The opening calendar of a 311 centre: weekly hours, holidays, one-off
//! closures and named seasons, answered at an instant in the centre's time
//! zone ("are we open right now, and why?").
//!
//! Owns: the plain data the dial plan hands over (TOML parsing is done
//! elsewhere), the admin text form for weekly hours, validation with
//! messages an admin understands, and the open/closed decision.
//! Never does: I/O or reading the clock — `now` is always an argument —
//! and never panics on admin input: bad data is an `Err`, or a finding of
//! [`Calendar::validate`] for data assembled field by field.
//!
//! All rules are in local civil time, so "08:00" means 08:00 on the wall
//! clock whatever the UTC offset; on the fall-back night a civil hour occurs
//! twice and is open (or closed) both times, on the spring-forward night the
//! skipped hour simply never happens.

use std::fmt;
use std::str::FromStr;

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::holiday::{quebec_statutory, Holiday, HolidayRuleError};
use super::words::{
    check_month_day, fold, parse_month_day, parse_weekday, weekday_name, MonthDayError,
};

/// Time zone used when a dial plan names none.
pub const DEFAULT_TIME_ZONE: &str = "America/Toronto";

/// How far [`Calendar::next_open`] looks ahead, in days.
pub const NEXT_OPEN_SEARCH_DAYS: i16 = 31;

/// Anything wrong with calendar data; every message names the offending
/// item so an admin can find it in the dial plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("unknown time zone {0:?}: use an IANA name such as \"America/Toronto\"")]
    UnknownTimeZone(String),
    #[error("invalid opening hours: {line:?}: {reason}")]
    InvalidHoursLine { line: String, reason: HoursReason },
    #[error(
        "invalid opening hours: {} {interval}: the start must be before the end \
         (an interval cannot cross midnight: split it at 24:00)",
        weekday_name(*.weekday)
    )]
    IntervalBackwards {
        weekday: Weekday,
        interval: Interval,
    },
    #[error(
        "invalid opening hours: {day} {interval} overlaps {day} {other}",
        day = weekday_name(*.weekday)
    )]
    OverlappingIntervals {
        weekday: Weekday,
        interval: Interval,
        other: Interval,
    },
    #[error("invalid closure {name:?}: {reason}")]
    InvalidClosure { name: String, reason: ClosureReason },
    #[error("invalid season {name:?}: {reason}")]
    InvalidSeason { name: String, reason: SeasonReason },
    #[error("seasons {0:?} and {1:?} overlap: a date may belong to only one of them")]
    OverlappingSeasons(String, String),
    #[error("holiday {name:?}: {source}")]
    InvalidHoliday {
        name: String,
        source: HolidayRuleError,
    },
    #[error("two {kind}s are named {name:?}: names must be unique")]
    DuplicateName { kind: &'static str, name: String },
    #[error("a {kind} has an empty name")]
    EmptyName { kind: &'static str },
}

/// What is wrong with one line of weekly hours (`mon-fri 08:00-19:00`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoursReason {
    #[error("expected days then hours, as in \"mon-fri 08:00-19:00\" or \"lun-ven 8:30-20:30\"")]
    MissingDays,
    #[error("missing hours after the days, as in \"mon-fri 08:00-19:00\"")]
    MissingHours,
    #[error("no days given")]
    EmptyDayList,
    #[error(
        "{word:?} is not a day (use mon tue wed thu fri sat sun or lun mar mer jeu ven sam dim)"
    )]
    UnknownDay { word: String },
    #[error("expected a range like 08:00-19:00 (a start, \"-\", an end)")]
    NotARange,
    #[error("an interval cannot start at 24:00")]
    StartsAt24,
    #[error("{text:?} does not start with a time like 08:00 or 8h30")]
    NoTime { text: String },
    #[error("{text:?} is not a time of day (00:00 to 24:00)")]
    NoSuchTime { text: String },
}

/// What is wrong with a closure, besides its name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClosureReason {
    #[error("{last} is the last supported date")]
    PastLastDate { last: Date },
    #[error("it starts ({start}) at or after it ends ({end})")]
    Backwards { start: DateTime, end: DateTime },
}

/// What is wrong with a season, besides its name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeasonReason {
    #[error("{text:?} is not a range like 12-01..03-31")]
    NotARange { text: String },
    #[error(transparent)]
    MonthDay(#[from] MonthDayError),
    /// `bound` is "start" or "end".
    #[error("{bound}: {reason}")]
    BadBound {
        bound: &'static str,
        reason: MonthDayError,
    },
}

// ---------------------------------------------------------------------------
// Weekly hours

/// One open interval of a day in local civil time: `start` inclusive, `end`
/// exclusive. `end == None` means "until midnight" (24:00), which a
/// `jiff::civil::Time` cannot express.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub start: Time,
    pub end: Option<Time>,
}

impl Interval {
    pub fn contains(&self, time: Time) -> bool {
        time >= self.start
            && match self.end {
                Some(end) => time < end,
                None => true,
            }
    }

    /// Whether the two intervals share at least one instant (touching is fine).
    fn overlaps(&self, other: &Interval) -> bool {
        let before = |a: &Interval, b: &Interval| matches!(a.end, Some(end) if end <= b.start);
        !before(self, other) && !before(other, self)
    }
}

impl fmt::Display for Interval {
    /// `08:00–19:00` with an en dash, as shown to admins; `24:00` for `None`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}–{}", fmt_time(self.start), fmt_end(self.end))
    }
}

fn fmt_time(t: Time) -> String {
    if t.second() == 0 && t.subsec_nanosecond() == 0 {
        format!("{:02}:{:02}", t.hour(), t.minute())
    } else {
        format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
    }
}

fn fmt_end(end: Option<Time>) -> String {
    end.map_or_else(|| "24:00".to_string(), fmt_time)
}

fn day_index(weekday: Weekday) -> usize {
    // 0..=6, so the cast is lossless.
    weekday.to_monday_zero_offset() as usize
}

const WEEK: [Weekday; 7] = [
    Weekday::Monday,
    Weekday::Tuesday,
    Weekday::Wednesday,
    Weekday::Thursday,
    Weekday::Friday,
    Weekday::Saturday,
    Weekday::Sunday,
];

/// Opening hours for each weekday. Invariant (hence the private field):
/// each day's intervals are sorted, non-empty and non-overlapping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WeeklyHours {
    days: [Vec<Interval>; 7],
}

impl WeeklyHours {
    /// Always closed.
    pub fn closed() -> WeeklyHours {
        WeeklyHours::default()
    }

    /// From `(weekday, start, end)` triples. An `end` of 00:00 means
    /// midnight at the end of that day (24:00), the only way a `Time` can
    /// say it. Rejects `start >= end` (an interval cannot cross midnight:
    /// split it) and overlapping intervals on the same day.
    pub fn new(intervals: Vec<(Weekday, Time, Time)>) -> Result<WeeklyHours, CalendarError> {
        WeeklyHours::from_intervals(intervals.into_iter().map(|(weekday, start, end)| {
            let end = (end != Time::midnight()).then_some(end);
            (weekday, Interval { start, end })
        }))
    }

    /// From explicit [`Interval`]s, with the same checks as [`WeeklyHours::new`].
    pub fn from_intervals(
        intervals: impl IntoIterator<Item = (Weekday, Interval)>,
    ) -> Result<WeeklyHours, CalendarError> {
        let mut hours = WeeklyHours::default();
        for (weekday, interval) in intervals {
            if matches!(interval.end, Some(end) if interval.start >= end) {
                return Err(CalendarError::IntervalBackwards { weekday, interval });
            }
            let day = &mut hours.days[day_index(weekday)];
            if let Some(other) = day.iter().find(|other| other.overlaps(&interval)) {
                return Err(CalendarError::OverlappingIntervals {
                    weekday,
                    interval,
                    other: *other,
                });
            }
            day.push(interval);
            day.sort_by_key(|i| i.start);
        }
        Ok(hours)
    }

    /// The same hours every day of the week.
    pub fn every_day(start: Time, end: Time) -> Result<WeeklyHours, CalendarError> {
        WeeklyHours::new(WEEK.iter().map(|&d| (d, start, end)).collect())
    }

    /// The same hours Monday to Friday, closed on weekends.
    pub fn weekdays(start: Time, end: Time) -> Result<WeeklyHours, CalendarError> {
        WeeklyHours::new(WEEK[..5].iter().map(|&d| (d, start, end)).collect())
    }

    /// Parses one admin line per item (see [`FromStr`] for the syntax);
    /// a TOML array of strings maps straight onto this.
    pub fn parse_lines<I, S>(lines: I) -> Result<WeeklyHours, CalendarError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut all = Vec::new();
        for line in lines {
            let line = line.as_ref();
            let parsed =
                parse_hours_line(line).map_err(|reason| CalendarError::InvalidHoursLine {
                    line: line.trim().to_string(),
                    reason,
                })?;
            all.extend(parsed);
        }
        WeeklyHours::from_intervals(all)
    }

    /// The intervals of one weekday, sorted.
    pub fn on(&self, weekday: Weekday) -> &[Interval] {
        &self.days[day_index(weekday)]
    }

    /// The interval containing `time` on `weekday`, if open then.
    pub fn interval_at(&self, weekday: Weekday, time: Time) -> Option<Interval> {
        self.on(weekday).iter().copied().find(|i| i.contains(time))
    }

    pub fn is_open(&self, weekday: Weekday, time: Time) -> bool {
        self.interval_at(weekday, time).is_some()
    }

    /// "08:00–12:00, 13:00–17:00", or "closed all day".
    fn describe_day(&self, weekday: Weekday) -> String {
        let day = self.on(weekday);
        if day.is_empty() {
            return "closed all day".to_string();
        }
        day.iter()
            .map(Interval::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Admin text form: items separated by `;` or new lines, each
/// `<days> <ranges>`:
/// - days: comma-separated days or day ranges, English or French, full or
///   abbreviated (`mon-fri`, `sat,sun`, `lun-ven`, `samedi`), ranges may
///   wrap (`fri-mon`); `daily` for all seven;
/// - ranges: `HH:MM-HH:MM`, several separated by commas or spaces; hours
///   may be written `8:30`, `08:30`, `8h30`, `8h` or `8`; `24:00` ends at
///   midnight; `closed` (or `fermé`) for none.
///
/// The whole text `closed` (or empty) means never open.
impl FromStr for WeeklyHours {
    type Err = CalendarError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        WeeklyHours::parse_lines(s.split([';', '\n']).filter(|l| !l.trim().is_empty()))
    }
}

impl fmt::Display for WeeklyHours {
    /// Canonical text form, read back by the parser: consecutive days with
    /// identical hours are grouped (`mon-fri 08:00-19:00; sat 09:00-12:00`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const ABBR: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let mut first = true;
        let mut i = 0;
        while i < 7 {
            let mut j = i;
            while j + 1 < 7 && self.days[j + 1] == self.days[i] {
                j += 1;
            }
            if !self.days[i].is_empty() {
                if !first {
                    f.write_str("; ")?;
                }
                first = false;
                match j - i {
                    0 => f.write_str(ABBR[i])?,
                    1 => write!(f, "{},{}", ABBR[i], ABBR[j])?,
                    _ => write!(f, "{}-{}", ABBR[i], ABBR[j])?,
                }
                for (k, interval) in self.days[i].iter().enumerate() {
                    let sep = if k == 0 { " " } else { "," };
                    let (start, end) = (fmt_time(interval.start), fmt_end(interval.end));
                    write!(f, "{sep}{start}-{end}")?;
                }
            }
            i = j + 1;
        }
        if first {
            f.write_str("closed")?;
        }
        Ok(())
    }
}

fn parse_hours_line(line: &str) -> Result<Vec<(Weekday, Interval)>, HoursReason> {
    let folded = fold(line);
    let words: Vec<&str> = folded.split_whitespace().collect();
    if matches!(words.as_slice(), ["closed" | "ferme"]) {
        return Ok(Vec::new());
    }
    // Days are everything before the first word starting with a digit, so
    // "mon - fri 8:00 - 12:00" parses as well as "mon-fri 8:00-12:00".
    let split = words
        .iter()
        .position(|w| w.starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or(words.len());
    let (day_words, range_words) = words.split_at(split);
    if day_words.is_empty() {
        return Err(HoursReason::MissingDays);
    }
    let days = parse_days(&day_words.concat())?;
    if range_words.is_empty() {
        if matches!(day_words.last(), Some(&("closed" | "ferme"))) {
            return Ok(Vec::new());
        }
        return Err(HoursReason::MissingHours);
    }
    let ranges = parse_ranges(&range_words.concat())?;
    Ok(days
        .iter()
        .flat_map(|&d| ranges.iter().map(move |&r| (d, r)))
        .collect())
}

fn parse_days(spec: &str) -> Result<Vec<Weekday>, HoursReason> {
    // "closed" after days ("sun closed") is folded into the spec by concat.
    let spec = spec
        .strip_suffix("closed")
        .or_else(|| spec.strip_suffix("ferme"))
        .unwrap_or(spec);
    if matches!(spec, "daily" | "everyday") {
        return Ok(WEEK.to_vec());
    }
    let day = |w: &str| {
        parse_weekday(w).ok_or_else(|| HoursReason::UnknownDay {
            word: w.to_string(),
        })
    };
    let mut days = Vec::new();
    for item in spec.split(',').filter(|s| !s.is_empty()) {
        match item.split_once('-') {
            None => days.push(day(item)?),
            Some((from, to)) => {
                let (from, to) = (day(from)?, day(to)?);
                let mut d = from;
                days.push(d);
                while d != to {
                    d = d.next();
                    days.push(d);
                }
            }
        }
    }
    if days.is_empty() {
        return Err(HoursReason::EmptyDayList);
    }
    Ok(days)
}

/// Ranges like "08:00-12:00,13:00-17:00" (spaces already removed).
fn parse_ranges(spec: &str) -> Result<Vec<Interval>, HoursReason> {
    let mut rest = spec;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (start, r) = parse_clock(rest)?;
        let r = r.strip_prefix('-').ok_or(HoursReason::NotARange)?;
        let (end, r) = parse_clock(r)?;
        let start = start.ok_or(HoursReason::StartsAt24)?;
        out.push(Interval { start, end });
        rest = r.strip_prefix(',').unwrap_or(r);
    }
    Ok(out)
}

/// One clock time at the front of `s`: `H`, `HH`, `H:MM`, `HHhMM`, `Hh`,
/// optionally `:SS`; returns `None` for 24:00 and the unparsed rest.
fn parse_clock(s: &str) -> Result<(Option<Time>, &str), HoursReason> {
    fn digits(s: &str, max: usize) -> (&str, &str) {
        let n = s.bytes().take(max).take_while(u8::is_ascii_digit).count();
        s.split_at(n)
    }
    let bad = || HoursReason::NoTime {
        text: s.to_string(),
    };
    let (h, mut rest) = digits(s, 2);
    if h.is_empty() {
        return Err(bad());
    }
    let hour: i8 = h.parse().map_err(|_| bad())?;
    let (mut minute, mut second) = (0i8, 0i8);
    if let Some(r) = rest.strip_prefix([':', 'h']) {
        let (m, r) = digits(r, 2);
        rest = r;
        if m.len() == 2 {
            minute = m.parse().map_err(|_| bad())?;
            if let Some(r) = rest.strip_prefix(':') {
                let (sec, r) = digits(r, 2);
                if sec.len() != 2 {
                    return Err(bad());
                }
                second = sec.parse().map_err(|_| bad())?;
                rest = r;
            }
        } else if !m.is_empty() || s.as_bytes().get(h.len()) == Some(&b':') {
            // "8:5" or "8:" — only the French "8h" may omit minutes.
            return Err(bad());
        }
    }
    if hour == 24 && minute == 0 && second == 0 {
        return Ok((None, rest));
    }
    let time = Time::new(hour, minute, second, 0).map_err(|_| HoursReason::NoSuchTime {
        text: s[..s.len() - rest.len()].to_string(),
    })?;
    Ok((Some(time), rest))
}

// ---------------------------------------------------------------------------
// Closures and seasons

/// A one-off closure (storm, system migration) in local civil time:
/// `start` inclusive, `end` exclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closure {
    pub name: String,
    pub start: DateTime,
    pub end: DateTime,
}

impl Closure {
    pub fn new(
        name: impl Into<String>,
        start: DateTime,
        end: DateTime,
    ) -> Result<Closure, CalendarError> {
        let closure = Closure {
            name: name.into(),
            start,
            end,
        };
        closure.validate()?;
        Ok(closure)
    }

    /// Closed all of `date`, midnight to midnight.
    pub fn whole_day(name: impl Into<String>, date: Date) -> Result<Closure, CalendarError> {
        Closure::days(name, date, date)
    }

    /// Closed from `first` 00:00 through the end of `last` (inclusive).
    pub fn days(
        name: impl Into<String>,
        first: Date,
        last: Date,
    ) -> Result<Closure, CalendarError> {
        let name = name.into();
        let end = last.tomorrow().map_err(|_| CalendarError::InvalidClosure {
            name: name.clone(),
            reason: ClosureReason::PastLastDate { last },
        })?;
        Closure::new(
            name,
            first.to_datetime(Time::midnight()),
            end.to_datetime(Time::midnight()),
        )
    }

    pub fn contains(&self, local: DateTime) -> bool {
        self.start <= local && local < self.end
    }

    pub fn validate(&self) -> Result<(), CalendarError> {
        if self.name.trim().is_empty() {
            return Err(CalendarError::EmptyName { kind: "closure" });
        }
        if self.start >= self.end {
            return Err(CalendarError::InvalidClosure {
                name: self.name.clone(),
                reason: ClosureReason::Backwards {
                    start: self.start,
                    end: self.end,
                },
            });
        }
        Ok(())
    }
}

/// A named yearly date range, both ends inclusive, as (month, day). When
/// `start` is after `end` the season wraps the new year (winter 12-01..03-31).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Season {
    pub name: String,
    pub start: (i8, i8),
    pub end: (i8, i8),
}

impl Season {
    pub fn new(
        name: impl Into<String>,
        start: (i8, i8),
        end: (i8, i8),
    ) -> Result<Season, CalendarError> {
        let season = Season {
            name: name.into(),
            start,
            end,
        };
        season.validate()?;
        Ok(season)
    }

    /// From admin text `MM-DD..MM-DD`, e.g. `12-01..03-31`.
    pub fn parse(name: impl Into<String>, range: &str) -> Result<Season, CalendarError> {
        let name = name.into();
        let err = |reason: SeasonReason| CalendarError::InvalidSeason {
            name: name.clone(),
            reason,
        };
        let folded = fold(range).replace(char::is_whitespace, "");
        let (a, b) = folded.split_once("..").ok_or_else(|| {
            err(SeasonReason::NotARange {
                text: range.trim().to_string(),
            })
        })?;
        let start = parse_month_day(a).map_err(|e| err(e.into()))?;
        let end = parse_month_day(b).map_err(|e| err(e.into()))?;
        Season::new(name, start, end)
    }

    /// Whether `date` falls in this season (any year).
    pub fn contains(&self, date: Date) -> bool {
        let md = (date.month(), date.day());
        if self.start <= self.end {
            self.start <= md && md <= self.end
        } else {
            md >= self.start || md <= self.end
        }
    }

    pub fn validate(&self) -> Result<(), CalendarError> {
        if self.name.trim().is_empty() {
            return Err(CalendarError::EmptyName { kind: "season" });
        }
        for (bound, (m, d)) in [("start", self.start), ("end", self.end)] {
            check_month_day(m, d).map_err(|reason| CalendarError::InvalidSeason {
                name: self.name.clone(),
                reason: SeasonReason::BadBound { bound, reason },
            })?;
        }
        Ok(())
    }
}

impl fmt::Display for Season {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ((sm, sd), (em, ed)) = (self.start, self.end);
        write!(f, "{} {sm:02}-{sd:02}..{em:02}-{ed:02}", self.name)
    }
}

// ---------------------------------------------------------------------------
// Calendar

/// Everything that decides whether the centre is open.
#[derive(Debug, Clone)]
pub struct Calendar {
    pub tz: TimeZone,
    pub hours: WeeklyHours,
    pub holidays: Vec<Holiday>,
    pub closures: Vec<Closure>,
    pub seasons: Vec<Season>,
}

/// The answer to "are we open at this instant?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Wall-clock time at the centre.
    pub local: DateTime,
    pub weekday: Weekday,
    pub open: bool,
    /// Name of the holiday observed on this local date, if any.
    pub holiday: Option<String>,
    /// Name of the closure covering this instant, if any.
    pub closure: Option<String>,
    /// Every season containing the local date, in declaration order.
    pub seasons: Vec<String>,
    /// One line for admins, e.g. "open: Monday 08:00–19:00",
    /// "closed: holiday Lundi de Pâques",
    /// "closed: outside hours (Monday 08:00–19:00)".
    pub reason: String,
}

impl Calendar {
    /// A calendar with hours only; add the rest with the `with_*` methods
    /// or by setting the public fields.
    pub fn new(tz: TimeZone, hours: WeeklyHours) -> Calendar {
        Calendar {
            tz,
            hours,
            holidays: Vec::new(),
            closures: Vec::new(),
            seasons: Vec::new(),
        }
    }

    pub fn with_holidays(mut self, holidays: Vec<Holiday>) -> Calendar {
        self.holidays = holidays;
        self
    }

    pub fn with_closures(mut self, closures: Vec<Closure>) -> Calendar {
        self.closures = closures;
        self
    }

    pub fn with_seasons(mut self, seasons: Vec<Season>) -> Calendar {
        self.seasons = seasons;
        self
    }

    /// An IANA time zone from the bundled tzdb (no system zoneinfo needed).
    pub fn time_zone(name: &str) -> Result<TimeZone, CalendarError> {
        TimeZone::get(name.trim()).map_err(|_| CalendarError::UnknownTimeZone(name.to_string()))
    }

    /// [`DEFAULT_TIME_ZONE`]. The bundled tzdb always has it; the POSIX
    /// fallback (Toronto's rules since 2007) only exists so this can never
    /// panic.
    pub fn default_time_zone() -> TimeZone {
        Calendar::time_zone(DEFAULT_TIME_ZONE)
            .or_else(|_| TimeZone::posix("EST5EDT,M3.2.0,M11.1.0"))
            .unwrap_or(TimeZone::UTC)
    }

    /// Every problem in the data, for an admin validator: invalid holiday
    /// rules, empty or duplicate names, backwards closures, impossible
    /// season dates, overlapping seasons.
    pub fn validate(&self) -> Result<(), Vec<CalendarError>> {
        let mut errors = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for h in &self.holidays {
            if h.name.trim().is_empty() {
                errors.push(CalendarError::EmptyName { kind: "holiday" });
            } else if !seen.insert(h.name.as_str()) {
                errors.push(CalendarError::DuplicateName {
                    kind: "holiday",
                    name: h.name.clone(),
                });
            }
            if let Err(source) = h.rule.validate() {
                errors.push(CalendarError::InvalidHoliday {
                    name: h.name.clone(),
                    source,
                });
            }
        }
        errors.extend(self.closures.iter().filter_map(|c| c.validate().err()));
        let mut seen = std::collections::HashSet::new();
        for s in &self.seasons {
            match s.validate() {
                Err(e) => errors.push(e),
                Ok(()) if !seen.insert(s.name.as_str()) => {
                    errors.push(CalendarError::DuplicateName {
                        kind: "season",
                        name: s.name.clone(),
                    })
                }
                Ok(()) => {}
            }
        }
        errors.extend(
            self.overlapping_seasons()
                .into_iter()
                .map(|(a, b)| CalendarError::OverlappingSeasons(a, b)),
        );
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The holiday observed on `date`, if any. Looks at the previous year's
    /// rules too: a Dec 31 holiday may be observed on Jan 2.
    pub fn holiday_on(&self, date: Date) -> Option<&Holiday> {
        let years = [date.year().checked_sub(1), Some(date.year())];
        self.holidays.iter().find(|h| {
            years
                .iter()
                .flatten()
                .any(|&y| h.observed_date_in(y) == Some(date))
        })
    }

    /// The closure covering the local civil time `local`, if any.
    pub fn closure_at(&self, local: DateTime) -> Option<&Closure> {
        self.closures.iter().find(|c| c.contains(local))
    }

    pub fn status(&self, at: Timestamp) -> Status {
        let local = self.tz.to_datetime(at);
        let weekday = local.weekday();
        let holiday = self.holiday_on(local.date()).map(|h| h.name.clone());
        let closure = self.closure_at(local);
        let interval = self.hours.interval_at(weekday, local.time());
        let day = weekday_name(weekday);
        let (open, reason) = match (&holiday, closure, interval) {
            (Some(name), _, _) => (false, format!("closed: holiday {name}")),
            (None, Some(c), _) => (
                false,
                format!(
                    "closed: closure {} (until {})",
                    c.name,
                    c.end.strftime("%Y-%m-%d %H:%M")
                ),
            ),
            (None, None, Some(i)) => (true, format!("open: {day} {i}")),
            (None, None, None) => (
                false,
                format!(
                    "closed: outside hours ({day} {})",
                    self.hours.describe_day(weekday)
                ),
            ),
        };
        Status {
            local,
            weekday,
            open,
            holiday,
            closure: closure.map(|c| c.name.clone()),
            seasons: self
                .seasons
                .iter()
                .filter(|s| s.contains(local.date()))
                .map(|s| s.name.clone())
                .collect(),
            reason,
        }
    }

    /// Whether the local date at `at` is in the season called `name`
    /// (false for an unknown name).
    pub fn in_season(&self, name: &str, at: Timestamp) -> bool {
        let date = self.tz.to_datetime(at).date();
        self.seasons
            .iter()
            .any(|s| s.name == name && s.contains(date))
    }

    /// Observed holiday dates falling in `year`, sorted by date then name.
    pub fn holidays_in(&self, year: i16) -> Vec<(Date, String)> {
        let mut out: Vec<(Date, String)> = self
            .holidays
            .iter()
            .flat_map(|h| {
                [year.checked_sub(1), Some(year)]
                    .into_iter()
                    .flatten()
                    .filter_map(|y| h.observed_date_in(y))
                    .filter(|d| d.year() == year)
                    .map(|d| (d, h.name.clone()))
            })
            .collect();
        out.sort();
        out
    }

    /// The first instant at or after `at` when the centre is open: `at`
    /// itself if open now, `None` if closed for the next
    /// [`NEXT_OPEN_SEARCH_DAYS`] days.
    pub fn next_open(&self, at: Timestamp) -> Option<Timestamp> {
        if self.status(at).open {
            return Some(at);
        }
        // The centre can only open at an interval start or a closure end
        // (holidays end at midnight, itself an interval start if open then)
        // or a DST transition.
        // Each civil candidate is tried at both offsets around a DST change
        // and `status` has the final word, so skipped or repeated wall-clock
        // hours need no special case.
        let first = self.tz.to_datetime(at).date();
        let last = first
            .checked_add(jiff::Span::new().days(NEXT_OPEN_SEARCH_DAYS))
            .unwrap_or(Date::MAX);
        let mut civil: Vec<DateTime> = Vec::new();
        let mut day = first;
        loop {
            civil.extend(
                self.hours
                    .on(day.weekday())
                    .iter()
                    .map(|i| day.to_datetime(i.start)),
            );
            match day.tomorrow() {
                Ok(next) if next <= last => day = next,
                _ => break,
            }
        }
        civil.extend(
            self.closures
                .iter()
                .map(|c| c.end)
                .filter(|end| (first..=last).contains(&end.date())),
        );
        let mut candidates: Vec<Timestamp> = civil
            .into_iter()
            .flat_map(|dt| {
                let ambiguous = self.tz.to_ambiguous_timestamp(dt);
                [ambiguous.earlier().ok(), ambiguous.later().ok()]
            })
            .flatten()
            .filter(|&ts| ts > at)
            .collect();
        // A start inside the skipped spring hour opens when clocks jump.
        let horizon = at
            .as_second()
            .saturating_add(i64::from(NEXT_OPEN_SEARCH_DAYS + 1) * 86_400);
        candidates.extend(
            self.tz
                .following(at)
                .map(|t| t.timestamp())
                .take_while(|t| t.as_second() <= horizon),
        );
        candidates.sort();
        candidates.dedup();
        candidates.into_iter().find(|&ts| self.status(ts).open)
    }

    /// Pairs of seasons sharing at least one day, by name, in declaration
    /// order. Checked over every day of a leap year so Feb 29 counts.
    pub fn overlapping_seasons(&self) -> Vec<(String, String)> {
        let leap_year: Vec<Date> = {
            let mut days = Vec::with_capacity(366);
            let mut d = Date::constant(2028, 1, 1);
            while d.year() == 2028 {
                days.push(d);
                match d.tomorrow() {
                    Ok(next) => d = next,
                    Err(_) => break,
                }
            }
            days
        };
        let mut out = Vec::new();
        for (i, a) in self.seasons.iter().enumerate() {
            for b in &self.seasons[i + 1..] {
                if leap_year.iter().any(|&d| a.contains(d) && b.contains(d)) {
                    out.push((a.name.clone(), b.name.clone()));
                }
            }
        }
        out
    }
}

/// Québec's four seasons as the shipped plans name them.
pub fn quebec_seasons() -> Vec<Season> {
    vec![
        Season {
            name: "hiver".to_string(),
            start: (12, 1),
            end: (3, 31),
        },
        Season {
            name: "printemps".to_string(),
            start: (4, 1),
            end: (5, 31),
        },
        Season {
            name: "ete".to_string(),
            start: (6, 1),
            end: (8, 31),
        },
        Season {
            name: "automne".to_string(),
            start: (9, 1),
            end: (11, 30),
        },
    ]
}

/// America/Toronto, Monday to Friday 08:00–19:00, Québec statutory
/// holidays, the four Québec seasons, no closures.
pub fn quebec_default() -> Calendar {
    let hours = WeeklyHours::from_intervals(WEEK[..5].iter().map(|&d| {
        (
            d,
            Interval {
                start: Time::constant(8, 0, 0, 0),
                end: Some(Time::constant(19, 0, 0, 0)),
            },
        )
    }))
    .unwrap_or_default(); // cannot fail: one valid interval per day
    Calendar::new(Calendar::default_time_zone(), hours)
        .with_holidays(quebec_statutory())
        .with_seasons(quebec_seasons())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::{date, time};

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// An instant given as Toronto wall-clock time (must be unambiguous).
    fn local(cal: &Calendar, y: i16, mo: i8, d: i8, h: i8, mi: i8, s: i8) -> Timestamp {
        cal.tz.to_timestamp(date(y, mo, d).at(h, mi, s, 0)).unwrap()
    }

    #[test]
    fn time_zones() {
        assert_eq!(
            Calendar::time_zone("America/Toronto").unwrap().iana_name(),
            Some("America/Toronto")
        );
        assert_eq!(
            Calendar::default_time_zone().iana_name(),
            Some("America/Toronto")
        );
        let err = Calendar::time_zone("America/Quebec").unwrap_err();
        assert!(err
            .to_string()
            .contains("unknown time zone \"America/Quebec\""));
    }

    #[test]
    fn weekday_edges_on_a_normal_day() {
        let cal = quebec_default();
        // Tuesday 2026-03-03 (EST, UTC-5).
        let at = |h, m, s| cal.status(local(&cal, 2026, 3, 3, h, m, s));
        assert!(!at(7, 59, 59).open);
        assert!(at(8, 0, 0).open);
        assert!(at(18, 59, 59).open);
        assert!(!at(19, 0, 0).open);
        assert_eq!(at(8, 0, 0).reason, "open: Tuesday 08:00–19:00");
        assert_eq!(
            at(19, 0, 0).reason,
            "closed: outside hours (Tuesday 08:00–19:00)"
        );
        assert_eq!(at(12, 0, 0).local, date(2026, 3, 3).at(12, 0, 0, 0));
        // Saturday: no hours at all.
        let sat = cal.status(local(&cal, 2026, 3, 7, 12, 0, 0));
        assert!(!sat.open);
        assert_eq!(sat.weekday, Weekday::Saturday);
        assert_eq!(
            sat.reason,
            "closed: outside hours (Saturday closed all day)"
        );
    }

    #[test]
    fn weekday_after_dst_changes_follows_wall_clock() {
        let cal = quebec_default();
        // Mon Mar 2 2026 is EST (UTC-5), Mon Mar 9 is EDT (UTC-4).
        assert!(!cal.status(ts("2026-03-02T12:59:59Z")).open);
        assert!(cal.status(ts("2026-03-02T13:00:00Z")).open);
        assert!(!cal.status(ts("2026-03-09T11:59:59Z")).open);
        assert!(cal.status(ts("2026-03-09T12:00:00Z")).open);
        assert!(cal.status(ts("2026-03-09T22:59:59Z")).open);
        assert!(!cal.status(ts("2026-03-09T23:00:00Z")).open);
        // Mon Oct 26 2026 is EDT, Mon Nov 2 is EST again.
        assert!(cal.status(ts("2026-10-26T12:00:00Z")).open);
        assert!(!cal.status(ts("2026-11-02T12:59:59Z")).open);
        assert!(cal.status(ts("2026-11-02T13:00:00Z")).open);
    }

    fn night_shift() -> Calendar {
        // Sunday 01:00–04:00 covers the 02:00 change on both DST Sundays.
        let hours: WeeklyHours = "sun 01:00-04:00; mon-fri 08:00-19:00".parse().unwrap();
        Calendar::new(Calendar::default_time_zone(), hours)
    }

    #[test]
    fn spring_forward_sunday_2026_03_08() {
        let cal = night_shift();
        let open = |s| cal.status(ts(s)).open;
        assert!(!open("2026-03-08T05:59:59Z")); // 00:59:59 EST
        assert!(open("2026-03-08T06:00:00Z")); // 01:00 EST
        assert!(open("2026-03-08T06:59:59Z")); // 01:59:59 EST
        assert!(open("2026-03-08T07:00:00Z")); // 03:00 EDT (02:xx never happens)
        assert_eq!(
            cal.status(ts("2026-03-08T07:00:00Z")).local,
            date(2026, 3, 8).at(3, 0, 0, 0)
        );
        assert!(open("2026-03-08T07:59:59Z")); // 03:59:59 EDT
        assert!(!open("2026-03-08T08:00:00Z")); // 04:00 EDT
    }

    #[test]
    fn fall_back_sunday_2026_11_01() {
        let cal = night_shift();
        let open = |s| cal.status(ts(s)).open;
        assert!(!open("2026-11-01T04:59:59Z")); // 00:59:59 EDT
        assert!(open("2026-11-01T05:00:00Z")); // 01:00 EDT
        assert!(open("2026-11-01T05:59:59Z")); // 01:59:59 EDT
        assert!(open("2026-11-01T06:00:00Z")); // 01:00 EST, the repeated hour
        assert!(open("2026-11-01T08:59:59Z")); // 03:59:59 EST
        assert!(!open("2026-11-01T09:00:00Z")); // 04:00 EST
        assert_eq!(
            cal.status(ts("2026-11-01T06:30:00Z")).reason,
            "open: Sunday 01:00–04:00"
        );
    }

    #[test]
    fn holiday_closes_with_its_name() {
        let cal = quebec_default();
        let st = cal.status(local(&cal, 2027, 3, 29, 10, 0, 0));
        assert!(!st.open);
        assert_eq!(st.weekday, Weekday::Monday);
        assert_eq!(st.holiday.as_deref(), Some("Lundi de Pâques"));
        assert_eq!(st.reason, "closed: holiday Lundi de Pâques");
        // The Tuesday after is a normal day.
        assert!(cal.status(local(&cal, 2027, 3, 30, 10, 0, 0)).open);
    }

    #[test]
    fn observed_canada_day_2029() {
        let mut cal = quebec_default();
        cal.hours = WeeklyHours::every_day(time(8, 0, 0, 0), time(19, 0, 0, 0)).unwrap();
        // July 1 2029 is a Sunday: open that day, closed Monday July 2.
        assert_eq!(date(2029, 7, 1).weekday(), Weekday::Sunday);
        let sunday = cal.status(local(&cal, 2029, 7, 1, 10, 0, 0));
        assert!(sunday.open, "{}", sunday.reason);
        let monday = cal.status(local(&cal, 2029, 7, 2, 10, 0, 0));
        assert!(!monday.open);
        assert_eq!(monday.reason, "closed: holiday Fête du Canada");
        assert!(cal
            .holidays_in(2029)
            .contains(&(date(2029, 7, 2), "Fête du Canada".to_string())));
    }

    #[test]
    fn closure_is_half_open() {
        let storm = Closure::new(
            "Tempête",
            date(2026, 1, 15).at(12, 0, 0, 0),
            date(2026, 1, 16).at(10, 0, 0, 0),
        )
        .unwrap();
        let cal = quebec_default().with_closures(vec![storm]);
        let st = |d, h, m| cal.status(local(&cal, 2026, 1, d, h, m, 0));
        assert!(st(15, 11, 59).open);
        let closed = st(15, 12, 0);
        assert!(!closed.open);
        assert_eq!(closed.closure.as_deref(), Some("Tempête"));
        assert_eq!(
            closed.reason,
            "closed: closure Tempête (until 2026-01-16 10:00)"
        );
        assert!(!st(16, 9, 59).open);
        assert!(st(16, 10, 0).open);
        // Whole-day closures and the errors an admin sees.
        let day = Closure::whole_day("Migration", date(2026, 2, 2)).unwrap();
        assert_eq!(day.end, date(2026, 2, 3).at(0, 0, 0, 0));
        let backwards = Closure::new("x", date(2026, 1, 2).into(), date(2026, 1, 1).into());
        assert!(backwards
            .unwrap_err()
            .to_string()
            .contains("at or after it ends"));
        assert!(Closure::whole_day("end", Date::MAX).is_err());
    }

    #[test]
    fn season_edges_and_wrap() {
        let cal = quebec_default();
        let seasons = |y, m, d, h, mi| cal.status(local(&cal, y, m, d, h, mi, 0)).seasons;
        assert_eq!(seasons(2026, 3, 31, 23, 59), ["hiver"]);
        assert_eq!(seasons(2026, 4, 1, 0, 0), ["printemps"]);
        assert_eq!(seasons(2026, 12, 31, 12, 0), ["hiver"]);
        assert_eq!(seasons(2027, 1, 1, 0, 0), ["hiver"]);
        assert_eq!(seasons(2028, 2, 29, 12, 0), ["hiver"]);
        assert_eq!(seasons(2026, 11, 30, 23, 59), ["automne"]);
        assert_eq!(seasons(2026, 12, 1, 0, 0), ["hiver"]);
        assert_eq!(seasons(2026, 8, 31, 23, 59), ["ete"]);
        assert!(cal.in_season("hiver", local(&cal, 2027, 1, 1, 0, 0, 0)));
        assert!(!cal.in_season("ete", local(&cal, 2027, 1, 1, 0, 0, 0)));
        assert!(!cal.in_season("nope", local(&cal, 2027, 1, 1, 0, 0, 0)));
        // Local date decides: 2027-01-01 03:00Z is still Dec 31 in Toronto.
        assert!(cal.in_season("hiver", ts("2027-01-01T03:00:00Z")));
        assert_eq!(cal.status(ts("2027-01-01T03:00:00Z")).local.year(), 2026);
        assert!(cal.overlapping_seasons().is_empty());
        assert_eq!(cal.validate(), Ok(()));
    }

    #[test]
    fn overlapping_seasons_reported() {
        let mut cal = quebec_default();
        cal.seasons
            .push(Season::parse("fêtes", "12-20..01-05").unwrap());
        cal.seasons
            .push(Season::parse("leap", "02-29..02-29").unwrap());
        cal.seasons
            .push(Season::parse("juin", "06-01 .. 06-30").unwrap());
        assert_eq!(
            cal.overlapping_seasons(),
            [
                ("hiver".to_string(), "fêtes".to_string()),
                ("hiver".to_string(), "leap".to_string()),
                ("ete".to_string(), "juin".to_string()),
            ]
        );
        let errors = cal.validate().unwrap_err();
        assert_eq!(errors.len(), 3);
        assert!(errors[0]
            .to_string()
            .contains("\"hiver\" and \"fêtes\" overlap"));
        // Adjacent seasons do not overlap.
        let cal = quebec_default().with_seasons(vec![
            Season::parse("a", "01-01..06-30").unwrap(),
            Season::parse("b", "07-01..12-31").unwrap(),
        ]);
        assert!(cal.overlapping_seasons().is_empty());
    }

    #[test]
    fn season_errors() {
        let msg = |r: &str| Season::parse("s", r).unwrap_err().to_string();
        assert!(msg("12-01").contains("not a range"));
        assert!(msg("02-30..03-01").contains("February has no day 30"));
        assert!(msg("01-01..13-01").contains("month 13"));
        assert!(Season::new("", (1, 1), (2, 1)).is_err());
    }

    #[test]
    fn validate_reports_everything() {
        use crate::dialplan::holiday::{HolidayRule, Observed};
        let mut cal = quebec_default();
        cal.holidays.push(Holiday::new(
            "Noël",
            HolidayRule::Fixed { month: 12, day: 25 },
            Observed::Same,
        ));
        cal.holidays.push(Holiday::new(
            "Bad",
            HolidayRule::Fixed { month: 2, day: 30 },
            Observed::Same,
        ));
        cal.closures.push(Closure {
            name: "Oops".into(),
            start: date(2026, 1, 2).into(),
            end: date(2026, 1, 2).into(),
        });
        cal.seasons.push(Season {
            name: "hiver".into(),
            start: (1, 1),
            end: (1, 32),
        });
        let errors: Vec<String> = cal
            .validate()
            .unwrap_err()
            .iter()
            .map(|e| e.to_string())
            .collect();
        // The extra "hiver" also overlaps the real one (January).
        assert_eq!(errors.len(), 5, "{errors:#?}");
        assert!(errors[0].contains("two holidays are named \"Noël\""));
        assert!(errors[1].contains("February has no day 30"));
        assert!(errors[2].contains("invalid closure \"Oops\""));
        assert!(errors[3].contains("January has no day 32"));
        assert!(errors[4].contains("overlap"));
        // Invalid data still never panics when evaluated.
        // (Friday Jan 2 10:00: the empty closure and Feb 30 close nothing.)
        let st = cal.status(ts("2026-01-02T15:00:00Z"));
        assert!(st.open, "{}", st.reason);
        let _ = cal.holidays_in(2026);
        let _ = cal.overlapping_seasons();
    }

    #[test]
    fn holidays_in_is_sorted_and_observed() {
        let cal = quebec_default();
        let h2029 = cal.holidays_in(2029);
        assert_eq!(h2029.len(), 9);
        assert_eq!(h2029[0], (date(2029, 1, 1), "Jour de l'An".to_string()));
        assert!(h2029.windows(2).all(|w| w[0] <= w[1]));
        assert!(h2029.contains(&(date(2029, 6, 25), "Fête nationale du Québec".to_string())));
        // A Dec 31 holiday shifted into January belongs to the new year.
        use crate::dialplan::holiday::{HolidayRule, Observed};
        let cal = cal.with_holidays(vec![Holiday::new(
            "Veille",
            HolidayRule::Fixed { month: 12, day: 31 },
            Observed::WeekendToMonday,
        )]);
        // Dec 31 2022 was a Saturday.
        assert!(cal.holidays_in(2022).is_empty());
        assert_eq!(
            cal.holidays_in(2023),
            [(date(2023, 1, 2), "Veille".to_string())]
        );
        assert_eq!(
            cal.holiday_on(date(2023, 1, 2)).map(|h| h.name.as_str()),
            Some("Veille")
        );
    }

    #[test]
    fn next_open_over_long_weekends() {
        let cal = quebec_default();
        // Friday before Easter 2027 is Good Friday (Mar 26), Monday Mar 29 is
        // Easter Monday: closed Thursday 19:00 until Tuesday 08:00 EDT.
        let thu_evening = local(&cal, 2027, 3, 25, 19, 0, 0);
        assert_eq!(cal.next_open(thu_evening), Some(ts("2027-03-30T12:00:00Z")));
        // Patriotes 2026 (Mon May 18): Friday evening to Tuesday.
        let fri_evening = local(&cal, 2026, 5, 15, 20, 0, 0);
        assert_eq!(
            cal.next_open(fri_evening),
            Some(local(&cal, 2026, 5, 19, 8, 0, 0))
        );
        // Already open: now.
        let open = local(&cal, 2026, 5, 19, 9, 0, 0);
        assert_eq!(cal.next_open(open), Some(open));
        // A closure ending mid-morning reopens at its end.
        let cal = quebec_default().with_closures(vec![Closure::new(
            "Panne",
            date(2026, 5, 19).at(0, 0, 0, 0),
            date(2026, 5, 19).at(10, 30, 0, 0),
        )
        .unwrap()]);
        assert_eq!(
            cal.next_open(fri_evening),
            Some(local(&cal, 2026, 5, 19, 10, 30, 0))
        );
        // Never open: None rather than an endless search.
        let shut = Calendar::new(Calendar::default_time_zone(), WeeklyHours::closed());
        assert_eq!(shut.next_open(fri_evening), None);
    }

    #[test]
    fn next_open_across_dst() {
        // Opening in the skipped hour: 02:30 on Mar 8 2026 never happens,
        // the centre opens when clocks jump to 03:00 EDT.
        let hours: WeeklyHours = "sun 02:30-05:00".parse().unwrap();
        let cal = Calendar::new(Calendar::default_time_zone(), hours);
        assert_eq!(
            cal.next_open(ts("2026-03-08T05:00:00Z")),
            Some(ts("2026-03-08T07:00:00Z"))
        );
        // Fall back: once the first 01:30 (EDT) has passed and closed
        // again, the repeated 01:30 (EST) is the next opening.
        let hours: WeeklyHours = "sun 01:30-01:45".parse().unwrap();
        let cal = Calendar::new(Calendar::default_time_zone(), hours);
        // 01:50 EDT (05:50Z) is closed; next is 01:30 EST = 06:30Z.
        assert_eq!(
            cal.next_open(ts("2026-11-01T05:50:00Z")),
            Some(ts("2026-11-01T06:30:00Z"))
        );
    }

    #[test]
    fn hours_text_forms() {
        let parse = |s: &str| s.parse::<WeeklyHours>();
        let h = parse("mon-fri 08:00-19:00; sat,sun 09:00-17:00").unwrap();
        assert_eq!(h.to_string(), "mon-fri 08:00-19:00; sat,sun 09:00-17:00");
        let fr = parse("lun-ven 8:30-20:30").unwrap();
        assert_eq!(fr.to_string(), "mon-fri 08:30-20:30");
        assert_eq!(parse("Lundi-Vendredi 8h30-20h30").unwrap(), fr);
        assert_eq!(parse("LUN - VEN 8:30 – 20:30").unwrap(), fr);
        let split = parse("mon-fri 08:00-12:00, 13:00-17:00\nsam 9h-12h").unwrap();
        assert_eq!(
            split.to_string(),
            "mon-fri 08:00-12:00,13:00-17:00; sat 09:00-12:00"
        );
        assert_eq!(split.on(Weekday::Monday).len(), 2);
        assert!(!split.is_open(Weekday::Monday, time(12, 30, 0, 0)));
        let wrap = parse("fri-mon 22:00-24:00").unwrap();
        assert_eq!(wrap.to_string(), "mon 22:00-24:00; fri-sun 22:00-24:00");
        assert!(wrap.is_open(Weekday::Sunday, time(23, 59, 59, 999_999_999)));
        assert_eq!(
            parse("daily 0-24").unwrap().to_string(),
            "mon-sun 00:00-24:00"
        );
        assert_eq!(parse("").unwrap(), WeeklyHours::closed());
        assert_eq!(parse("closed").unwrap(), WeeklyHours::closed());
        assert_eq!(WeeklyHours::closed().to_string(), "closed");
        assert_eq!(parse("sun fermé").unwrap(), WeeklyHours::closed());
        // Every parsed form round-trips through Display.
        for text in [
            "mon-fri 08:00-19:00; sat,sun 09:00-17:00",
            "mon 00:00-24:00; wed 08:00:30-09:00",
        ] {
            let h = parse(text).unwrap();
            assert_eq!(parse(&h.to_string()).unwrap(), h, "{text}");
        }
        let lines = WeeklyHours::parse_lines(["lun-ven 8:00-19:00", "sam 9:00-12:00"]).unwrap();
        assert!(lines.is_open(Weekday::Saturday, time(9, 0, 0, 0)));
    }

    #[test]
    fn hours_errors_are_clear() {
        let msg = |s: &str| s.parse::<WeeklyHours>().unwrap_err().to_string();
        assert!(msg("mon-fri 19:00-08:00").contains("start must be before the end"));
        assert!(msg("mon 08:00-12:00; mon 11:00-13:00")
            .contains("Monday 11:00–13:00 overlaps Monday 08:00–12:00"));
        assert!(msg("mon-fri 08:00-12:00,11:00-13:00").contains("overlaps"));
        assert!(msg("funday 08:00-12:00").contains("\"funday\" is not a day"));
        assert!(msg("08:00-12:00").contains("expected days then hours"));
        assert!(msg("mon").contains("missing hours"));
        assert!(msg("mon 25:00-26:00").contains("not a time of day"));
        assert!(msg("mon 08:61-09:00").contains("not a time of day"));
        assert!(msg("mon 08:00").contains("expected a range"));
        assert!(msg("mon 8:5-9").contains("does not start with a time"));
        assert!(msg("mon 24:00-24:00").contains("cannot start at 24:00"));
        assert!(msg("mon 08:00-19:00; bad").contains("\"bad\""));
        // Touching intervals are fine.
        assert!("mon 08:00-12:00,12:00-17:00".parse::<WeeklyHours>().is_ok());
        // Programmatic construction: 00:00 as an end means 24:00.
        let h =
            WeeklyHours::new(vec![(Weekday::Monday, time(20, 0, 0, 0), Time::midnight())]).unwrap();
        assert_eq!(h.on(Weekday::Monday)[0].end, None);
        let err = WeeklyHours::new(vec![(Weekday::Monday, time(9, 0, 0, 0), time(9, 0, 0, 0))]);
        assert!(err.is_err());
    }
}
