//! `[calendars.<name>]`: time zone, weekly hours, holiday sets and rules, closures and
//! seasons, checked here with positions and then by `Calendar::validate` (overlaps, duplicate
//! names), whose findings are mapped back to the key or value that caused them.
//!
//! Owns: reading the calendar tables into `calendar::Calendar`. Never does: decide whether
//! the centre is open (`calendar`), I/O, clock reads, panicking on plan contents.

use std::collections::HashMap;
use std::ops::Range;

use jiff::civil::{Date, DateTime, Time};

use super::Checker;
use crate::dialplan::calendar::{Calendar, CalendarError, Closure, Season, WeeklyHours};
use crate::dialplan::document::{Item, RawCalendar, RawClosure, Text};
use crate::dialplan::holiday::{
    quebec_municipal_extra, quebec_statutory, Holiday, HolidayRule, Observed,
};

impl Checker<'_> {
    pub(super) fn calendar(&mut self, item: &Item<RawCalendar>) -> Option<Calendar> {
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
            Err(e) => {
                self.err(f, &v.span(), e.to_string());
                None
            }
        }
    }
}

/// A closure bound: a whole day or a local date-time.
enum When {
    Day(Date),
    At(DateTime),
}

/// A closure bound that is neither a local date nor a local date-time.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{text}` is not a local date or date-time like 2027-01-15 or 2027-01-15T12:00 (no time zone: the calendar's applies)"
)]
struct NotLocalDateTime {
    text: String,
}

/// `2027-01-15`, `2027-01-15T12:00` (or `2027-01-15 12:00`), as a string or a TOML local date(-time).
fn parse_when(v: &toml::Value) -> Result<When, NotLocalDateTime> {
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
    Err(NotLocalDateTime { text })
}
