//! Report intervals in the centre's local time (America/Toronto): 15 minutes, hours, days,
//! ISO weeks, months and the seasons of a 311 year (hiver, printemps, été, automne).
//!
//! Owns: parsing `--from/--to` as local dates or datetimes, cutting `[from, to)` into labelled
//! intervals (DST days have 23 or 25 hourly intervals; an hour that occurs twice is two
//! intervals told apart by their UTC offset), and the common "slot" size the database groups
//! by so that every interval is a whole number of slots. Never does: I/O or reading the clock.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::Serialize;

/// The centre's time zone for reports.
pub const REPORT_TIME_ZONE: &str = "America/Toronto";

/// How a report is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    #[value(name = "15min")]
    #[serde(rename = "15min")]
    Min15,
    Hour,
    Day,
    Week,
    Month,
    Season,
}

impl Bucket {
    /// How an interval of this kind is named in titles.
    pub fn noun(self) -> &'static str {
        match self {
            Bucket::Min15 => "15 minutes",
            Bucket::Hour => "hour",
            Bucket::Day => "day",
            Bucket::Week => "week",
            Bucket::Month => "month",
            Bucket::Season => "season",
        }
    }
}

/// A season as dates of the year, `start` and `end` inclusive, `(month, day)`; it may wrap
/// over the new year (hiver 12-01..03-31). Same shape as `dialplan::calendar::Season`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeasonSpan {
    pub name: String,
    pub start: (i8, i8),
    pub end: (i8, i8),
}

/// The default seasons of a Québec 311 year.
pub fn default_seasons() -> Vec<SeasonSpan> {
    let s = |n: &str, start, end| SeasonSpan {
        name: n.into(),
        start,
        end,
    };
    vec![
        s("hiver", (12, 1), (3, 31)),
        s("printemps", (4, 1), (5, 31)),
        s("ete", (6, 1), (8, 31)),
        s("automne", (9, 1), (11, 30)),
    ]
}

/// One report interval, `[start_ms, end_ms)` in UTC epoch milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interval {
    pub label: String,
    pub start_ms: i64,
    pub end_ms: i64,
}

impl Interval {
    pub fn hours(&self) -> f64 {
        (self.end_ms - self.start_ms) as f64 / 3_600_000.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IntervalError {
    #[error("cannot read {0:?} as a date (2027-01-01) or a datetime (2027-01-01T08:30)")]
    BadTime(String),
    #[error("--from must be before --to")]
    Empty,
    #[error("time zone: {0}")]
    Tz(String),
    #[error("too many intervals ({0}); use a coarser --by")]
    TooMany(usize),
}

/// Most intervals a report may have (a year of 15-minute intervals is 35 040).
pub const MAX_INTERVALS: usize = 200_000;

pub fn report_tz() -> Result<TimeZone, IntervalError> {
    TimeZone::get(REPORT_TIME_ZONE).map_err(|e| IntervalError::Tz(e.to_string()))
}

/// `2027-01-01` (local midnight), `2027-01-01T08:30[:00]` or `2027-01-01 08:30` (local), or an
/// RFC 3339 instant with an offset (`2027-01-01T13:30:00Z`).
pub fn parse_time(s: &str, tz: &TimeZone) -> Result<Timestamp, IntervalError> {
    let s = s.trim();
    let bad = || IntervalError::BadTime(s.to_string());
    if let Ok(ts) = s.parse::<Timestamp>() {
        return Ok(ts);
    }
    // A datetime first: jiff also reads a datetime as a `Date` (dropping the time).
    let civil: DateTime = if let Ok(dt) = s.replacen(' ', "T", 1).parse::<DateTime>() {
        dt
    } else {
        s.parse::<Date>()
            .map_err(|_| bad())?
            .to_datetime(jiff::civil::Time::midnight())
    };
    // A wall-clock time skipped by DST moves forward, a repeated one takes the first (as jiff's
    // "compatible" rule, the same as RFC 5545).
    Ok(tz
        .to_ambiguous_zoned(civil)
        .compatible()
        .map_err(|_| bad())?
        .timestamp())
}

/// Cut `[from, to)` into intervals; the first and last are clipped to the range.
pub fn intervals(
    from: Timestamp,
    to: Timestamp,
    by: Bucket,
    tz: &TimeZone,
    seasons: &[SeasonSpan],
) -> Result<Vec<Interval>, IntervalError> {
    if from >= to {
        return Err(IntervalError::Empty);
    }
    let (f, t) = (from.as_millisecond(), to.as_millisecond());
    let mut out = Vec::new();
    match by {
        Bucket::Min15 | Bucket::Hour => {
            let step_min: i64 = if by == Bucket::Hour { 60 } else { 15 };
            // Floor in local time; offsets that are not whole quarter hours still work since
            // the floor is done on the civil clock.
            let z = from.to_zoned(tz.clone());
            let minute = (i64::from(z.minute()) / step_min * step_min) as i8;
            let floor = z
                .with()
                .minute(minute)
                .second(0)
                .subsec_nanosecond(0)
                .build()
                .map_err(|e| IntervalError::Tz(e.to_string()))?;
            let mut start = floor.timestamp().as_millisecond();
            let step = step_min * 60_000;
            while start < t {
                let end = start + step;
                let label = Timestamp::from_millisecond(start)
                    .map_err(|e| IntervalError::Tz(e.to_string()))?
                    .to_zoned(tz.clone())
                    .strftime("%Y-%m-%d %H:%M%:z")
                    .to_string();
                out.push(Interval {
                    label,
                    start_ms: start.max(f),
                    end_ms: end.min(t),
                });
                if out.len() > MAX_INTERVALS {
                    return Err(IntervalError::TooMany(out.len()));
                }
                start = end;
            }
        }
        Bucket::Day | Bucket::Week | Bucket::Month | Bucket::Season => {
            let first = from.to_zoned(tz.clone()).date();
            // `to` is exclusive: the last day is the one holding the instant just before it.
            let last = Timestamp::from_millisecond(t - 1)
                .map_err(|e| IntervalError::Tz(e.to_string()))?
                .to_zoned(tz.clone())
                .date();
            let mut d = first;
            let mut current: Option<(String, i64)> = None;
            loop {
                let label = day_label(d, by, seasons);
                let day_start = local_midnight(d, tz)?;
                match &current {
                    Some((l, _)) if *l == label => {}
                    _ => {
                        if let Some((l, s)) = current.take() {
                            out.push(Interval {
                                label: l,
                                start_ms: s.max(f),
                                end_ms: day_start.min(t),
                            });
                        }
                        current = Some((label, day_start));
                    }
                }
                if d >= last {
                    break;
                }
                d = d
                    .checked_add(1.day())
                    .map_err(|e| IntervalError::Tz(e.to_string()))?;
            }
            if let Some((l, s)) = current {
                out.push(Interval {
                    label: l,
                    start_ms: s.max(f),
                    end_ms: t,
                });
            }
        }
    }
    Ok(out)
}

fn local_midnight(d: Date, tz: &TimeZone) -> Result<i64, IntervalError> {
    Ok(d.to_zoned(tz.clone())
        .map_err(|e| IntervalError::Tz(e.to_string()))?
        .timestamp()
        .as_millisecond())
}

/// The label of the interval of kind `by` holding local date `d`; consecutive days with the
/// same label form one interval.
fn day_label(d: Date, by: Bucket, seasons: &[SeasonSpan]) -> String {
    match by {
        Bucket::Week => {
            let w = d.iso_week_date();
            format!("{:04}-W{:02}", w.year(), w.week())
        }
        Bucket::Month => format!("{:04}-{:02}", d.year(), d.month()),
        Bucket::Season => season_label(d, seasons),
        _ => d.to_string(),
    }
}

/// `ete 2027`, or `hiver 2026-2027` for a season over the new year; `hors-saison` for a date
/// no season holds.
pub fn season_label(d: Date, seasons: &[SeasonSpan]) -> String {
    let md = (d.month(), d.day());
    for s in seasons {
        let wraps = s.start > s.end;
        let inside = if wraps {
            md >= s.start || md <= s.end
        } else {
            md >= s.start && md <= s.end
        };
        if inside {
            return if wraps {
                let y0 = if md >= s.start {
                    d.year()
                } else {
                    d.year() - 1
                };
                format!("{} {}-{}", s.name, y0, y0 + 1)
            } else {
                format!("{} {}", s.name, d.year())
            };
        }
    }
    format!("hors-saison {}", d.year())
}

/// The largest grouping step (ms) that divides every interval edge: the database sums per
/// slot and the report folds slots into intervals, exactly.
pub fn slot_ms(ivs: &[Interval]) -> i64 {
    const STEPS: [i64; 5] = [3_600_000, 900_000, 60_000, 1_000, 1];
    STEPS
        .into_iter()
        .find(|g| {
            ivs.iter()
                .all(|i| i.start_ms.rem_euclid(*g) == 0 && i.end_ms.rem_euclid(*g) == 0)
        })
        .unwrap_or(1)
}

/// Index of the interval holding instant `ms`, if any (intervals are sorted and contiguous).
pub fn find(ivs: &[Interval], ms: i64) -> Option<usize> {
    let i = ivs.partition_point(|iv| iv.end_ms <= ms);
    (i < ivs.len() && ivs[i].start_ms <= ms).then_some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tz() -> TimeZone {
        report_tz().unwrap()
    }

    fn cut(from: &str, to: &str, by: Bucket) -> Vec<Interval> {
        let z = tz();
        intervals(
            parse_time(from, &z).unwrap(),
            parse_time(to, &z).unwrap(),
            by,
            &z,
            &default_seasons(),
        )
        .unwrap()
    }

    #[test]
    fn dates_are_local_midnight() {
        let z = tz();
        let t = parse_time("2027-01-15", &z).unwrap();
        assert_eq!(t.to_string(), "2027-01-15T05:00:00Z");
        let t = parse_time("2027-07-15 08:30", &z).unwrap();
        assert_eq!(t.to_string(), "2027-07-15T12:30:00Z");
        let t = parse_time("2027-07-15T12:30:00Z", &z).unwrap();
        assert_eq!(t.to_string(), "2027-07-15T12:30:00Z");
        assert!(parse_time("15/07/2027", &z).is_err());
    }

    #[test]
    fn dst_days_have_23_and_25_hours() {
        // 2027: DST starts Sunday March 14, ends Sunday November 7.
        let spring = cut("2027-03-14", "2027-03-15", Bucket::Hour);
        assert_eq!(spring.len(), 23);
        assert!(spring.iter().all(|i| i.end_ms - i.start_ms == 3_600_000));
        assert!(!spring.iter().any(|i| i.label.starts_with("2027-03-14 02:")));
        let fall = cut("2027-11-07", "2027-11-08", Bucket::Hour);
        assert_eq!(fall.len(), 25);
        let ones: Vec<_> = fall
            .iter()
            .filter(|i| i.label.starts_with("2027-11-07 01:00"))
            .map(|i| i.label.as_str())
            .collect();
        assert_eq!(ones, ["2027-11-07 01:00-04:00", "2027-11-07 01:00-05:00"]);
        let days = cut("2027-03-13", "2027-03-16", Bucket::Day);
        let hours: Vec<f64> = days.iter().map(|d| d.hours()).collect();
        assert_eq!(hours, [24.0, 23.0, 24.0]);
        assert_eq!(
            cut("2027-11-07", "2027-11-08", Bucket::Day)[0].hours(),
            25.0
        );
        assert_eq!(cut("2027-11-07", "2027-11-08", Bucket::Min15).len(), 100);
    }

    #[test]
    fn weeks_months_seasons() {
        let w = cut("2027-01-01", "2027-01-12", Bucket::Week);
        let labels: Vec<_> = w.iter().map(|i| i.label.as_str()).collect();
        // Jan 1 2027 is a Friday, in ISO week 2026-W53.
        assert_eq!(labels, ["2026-W53", "2027-W01", "2027-W02"]);
        assert_eq!(w[1].hours(), 7.0 * 24.0);
        let m = cut("2027-01-01", "2028-01-01", Bucket::Month);
        assert_eq!(m.len(), 12);
        assert_eq!(m[2].label, "2027-03");
        assert_eq!(m[2].hours(), 31.0 * 24.0 - 1.0);
        let s = cut("2027-01-01", "2028-01-01", Bucket::Season);
        let labels: Vec<_> = s.iter().map(|i| i.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "hiver 2026-2027",
                "printemps 2027",
                "ete 2027",
                "automne 2027",
                "hiver 2027-2028"
            ]
        );
        let z = tz();
        assert_eq!(
            s[1].start_ms,
            parse_time("2027-04-01", &z).unwrap().as_millisecond()
        );
    }

    #[test]
    fn clipped_edges_and_slots() {
        let h = cut("2027-06-01 08:30", "2027-06-01 10:15", Bucket::Hour);
        assert_eq!(h.len(), 3);
        assert_eq!(h[0].label, "2027-06-01 08:00-04:00");
        assert_eq!(h[0].end_ms - h[0].start_ms, 30 * 60_000);
        assert_eq!(slot_ms(&h), 900_000);
        let d = cut("2027-01-01", "2027-02-01", Bucket::Day);
        assert_eq!(slot_ms(&d), 3_600_000);
        assert_eq!(find(&d, d[3].start_ms), Some(3));
        assert_eq!(find(&d, d[3].start_ms - 1), Some(2));
        assert_eq!(find(&d, d[30].end_ms), None);
    }
}
