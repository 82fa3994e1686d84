//! Recurring holidays of a dial plan: the rules an admin writes
//! ("easter+1", "first monday of september", "lundi avant 05-25"), the
//! civil date each rule falls on in a given year, weekend observance, and
//! Québec's statutory and usual municipal lists.
//!
//! Owns: rule evaluation, the admin text form (parser + canonical English
//! `Display`), Easter computation. Never does: I/O, clock reads or time-zone
//! math — everything here is a pure function of a year and civil dates; the
//! opening calendar (`calendar.rs`) decides what "today" is. Never panics on
//! admin input: bad rules are `Err` / `None`.

use std::fmt;
use std::str::FromStr;

use jiff::civil::{Date, Weekday};
use jiff::Span;

use super::words::{
    check_month_day, month_name, parse_month, parse_month_day, weekday_name, MonthDayError,
};
// Also named here by `sim::workload` (its own weekday words); new code uses `words` directly.
pub(crate) use super::words::{fold, parse_weekday};

/// A yearly rule giving at most one civil date per year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HolidayRule {
    /// Same month and day every year (`12-25`).
    Fixed { month: i8, day: i8 },
    /// The `n`-th `weekday` of `month`; `n` is 1..=5, or -1 for the last one.
    NthWeekday { month: i8, weekday: Weekday, n: i8 },
    /// The last `weekday` strictly before `month`-`day`
    /// (Journée nationale des patriotes: Monday before May 25).
    WeekdayBefore {
        month: i8,
        day: i8,
        weekday: Weekday,
    },
    /// Easter Sunday plus `days` (Good Friday -2, Easter Monday +1).
    EasterOffset { days: i16 },
}

/// A rule that could not be parsed or makes no sense; the message is meant
/// for the admin who wrote it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid holiday rule {input:?}: {reason}")]
pub struct HolidayRuleError {
    pub input: String,
    pub reason: HolidayRuleReason,
}

/// What is wrong with a holiday rule (or an observance), without the text it was read from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HolidayRuleReason {
    #[error("the rule is empty; {EXPECTED_FORMS}")]
    Empty,
    #[error("not understood; {EXPECTED_FORMS}")]
    NotUnderstood,
    #[error("{text:?} is not a date like 12-25, \"25 december\" or \"25 décembre\"")]
    NotADate { text: String },
    #[error(transparent)]
    MonthDay(#[from] MonthDayError),
    #[error("month {month} does not exist (months are 1 to 12)")]
    NoSuchMonth { month: i8 },
    #[error("{text:?} after easter is not an offset in days: write easter, easter+1 or easter-2")]
    NotAnEasterOffset { text: String },
    #[error("an Easter offset of {days} days is more than a year (at most ±{MAX_EASTER_OFFSET})")]
    EasterOffsetTooFar { days: i16 },
    #[error("a weekday must follow {ordinal:?}")]
    NoWeekday { ordinal: String },
    #[error("expected a month after the weekday, as in \"{ordinal_weekday} of september\"")]
    NoMonth { ordinal_weekday: String },
    #[error("occurrence {n} is not possible: use 1 to 5 (first to fifth) or last")]
    NoSuchOccurrence { n: i8 },
    #[error("after a weekday, expected \"before MM-DD\" (or \"avant MM-DD\"); {EXPECTED_FORMS}")]
    NotBefore,
    #[error("observance must be \"same\", \"sunday-to-monday\" or \"weekend-to-monday\"")]
    UnknownObservance,
}

/// Largest accepted Easter offset: anything beyond a year is surely a typo.
const MAX_EASTER_OFFSET: i16 = 365;

const EXPECTED_FORMS: &str = "expected e.g. \"12-25\", \"easter\", \"easter-2\", \
     \"first monday of september\", \"last monday of may\", \"monday before 05-25\" \
     (French: \"premier lundi de septembre\", \"lundi avant 05-25\")";

impl HolidayRule {
    /// The date this rule falls on in `year`, or `None` when it has none
    /// (Feb 29 in a common year, a 5th Monday the month lacks, an invalid
    /// rule, Easter before the Gregorian calendar of 1583).
    pub fn date_in(&self, year: i16) -> Option<Date> {
        match *self {
            HolidayRule::Fixed { month, day } => Date::new(year, month, day).ok(),
            HolidayRule::NthWeekday { month, weekday, n } => {
                if !(n == -1 || (1..=5).contains(&n)) {
                    return None;
                }
                Date::new(year, month, 1)
                    .ok()?
                    .nth_weekday_of_month(n, weekday)
                    .ok()
            }
            HolidayRule::WeekdayBefore {
                month,
                day,
                weekday,
            } => {
                let anchor = Date::new(year, month, day).ok()?;
                // Strictly before: if the anchor is itself that weekday, go back a full week.
                let back = (anchor.weekday().to_monday_zero_offset()
                    - weekday.to_monday_zero_offset())
                .rem_euclid(7);
                let back = if back == 0 { 7 } else { back };
                anchor.checked_add(Span::new().days(-i64::from(back))).ok()
            }
            HolidayRule::EasterOffset { days } => {
                check_easter_offset(days).ok()?;
                let span = Span::new().try_days(days).ok()?;
                easter_sunday(year)?.checked_add(span).ok()
            }
        }
    }

    /// Checks a rule built in code (the parser already does this).
    pub fn validate(&self) -> Result<(), HolidayRuleError> {
        let reason = match *self {
            HolidayRule::Fixed { month, day } | HolidayRule::WeekdayBefore { month, day, .. } => {
                check_month_day(month, day)
                    .err()
                    .map(HolidayRuleReason::from)
            }
            HolidayRule::NthWeekday { month, n, .. } => {
                if !(1..=12).contains(&month) {
                    Some(HolidayRuleReason::NoSuchMonth { month })
                } else if !(n == -1 || (1..=5).contains(&n)) {
                    Some(HolidayRuleReason::NoSuchOccurrence { n })
                } else {
                    None
                }
            }
            HolidayRule::EasterOffset { days } => check_easter_offset(days).err(),
        };
        match reason {
            None => Ok(()),
            Some(reason) => Err(HolidayRuleError {
                input: self.to_string(),
                reason,
            }),
        }
    }
}

fn check_easter_offset(days: i16) -> Result<(), HolidayRuleReason> {
    // unsigned_abs: i16::MIN.abs() would overflow.
    if days.unsigned_abs() > MAX_EASTER_OFFSET.unsigned_abs() {
        return Err(HolidayRuleReason::EasterOffsetTooFar { days });
    }
    Ok(())
}

/// Easter Sunday (Gregorian) by the Anonymous Gregorian algorithm
/// (Meeus/Jones/Butcher); `None` before 1583, where the rule does not apply.
pub fn easter_sunday(year: i16) -> Option<Date> {
    if year < 1583 {
        return None;
    }
    let y = i32::from(year);
    let a = y % 19;
    let b = y / 100;
    let c = y % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let n = h + l - 7 * m + 114;
    let month = i8::try_from(n / 31).ok()?;
    let day = i8::try_from(n % 31 + 1).ok()?;
    Date::new(year, month, day).ok()
}

/// Whether a holiday falling on a weekend is observed on the next Monday.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Observed {
    /// Always on the rule's date.
    #[default]
    Same,
    /// Sunday moves to Monday (Québec: Fête nationale, Fête du Canada).
    SundayToMonday,
    /// Saturday and Sunday both move to Monday.
    WeekendToMonday,
}

impl fmt::Display for Observed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Observed::Same => "same",
            Observed::SundayToMonday => "sunday-to-monday",
            Observed::WeekendToMonday => "weekend-to-monday",
        })
    }
}

impl FromStr for Observed {
    type Err = HolidayRuleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match fold(s).trim() {
            "same" | "none" | "" => Ok(Observed::Same),
            "sunday-to-monday" | "sunday" => Ok(Observed::SundayToMonday),
            "weekend-to-monday" | "weekend" => Ok(Observed::WeekendToMonday),
            _ => Err(HolidayRuleError {
                input: s.trim().to_string(),
                reason: HolidayRuleReason::UnknownObservance,
            }),
        }
    }
}

/// A named holiday.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holiday {
    pub name: String,
    pub rule: HolidayRule,
    pub observed: Observed,
}

impl Holiday {
    pub fn new(name: impl Into<String>, rule: HolidayRule, observed: Observed) -> Holiday {
        Holiday {
            name: name.into(),
            rule,
            observed,
        }
    }

    /// The day the centre is actually closed for this year's occurrence.
    /// May land in `year + 1` (Dec 31 on a Saturday with `WeekendToMonday`).
    pub fn observed_date_in(&self, year: i16) -> Option<Date> {
        let date = self.rule.date_in(year)?;
        let shift = match (self.observed, date.weekday()) {
            (Observed::SundayToMonday | Observed::WeekendToMonday, Weekday::Sunday) => 1,
            (Observed::WeekendToMonday, Weekday::Saturday) => 2,
            _ => 0,
        };
        date.checked_add(Span::new().days(shift)).ok()
    }
}

fn fixed(name: &str, month: i8, day: i8) -> Holiday {
    Holiday::new(name, HolidayRule::Fixed { month, day }, Observed::Same)
}

/// Québec statutory holidays (Loi sur les normes du travail, Loi sur la
/// fête nationale), in calendar order.
pub fn quebec_statutory() -> Vec<Holiday> {
    vec![
        fixed("Jour de l'An", 1, 1),
        Holiday::new(
            "Vendredi saint",
            HolidayRule::EasterOffset { days: -2 },
            Observed::Same,
        ),
        Holiday::new(
            "Lundi de Pâques",
            HolidayRule::EasterOffset { days: 1 },
            Observed::Same,
        ),
        Holiday::new(
            "Journée nationale des patriotes",
            HolidayRule::WeekdayBefore {
                month: 5,
                day: 25,
                weekday: Weekday::Monday,
            },
            Observed::Same,
        ),
        Holiday::new(
            "Fête nationale du Québec",
            HolidayRule::Fixed { month: 6, day: 24 },
            Observed::SundayToMonday,
        ),
        Holiday::new(
            "Fête du Canada",
            HolidayRule::Fixed { month: 7, day: 1 },
            Observed::SundayToMonday,
        ),
        Holiday::new(
            "Fête du Travail",
            HolidayRule::NthWeekday {
                month: 9,
                weekday: Weekday::Monday,
                n: 1,
            },
            Observed::Same,
        ),
        Holiday::new(
            "Action de grâce",
            HolidayRule::NthWeekday {
                month: 10,
                weekday: Weekday::Monday,
                n: 2,
            },
            Observed::Same,
        ),
        fixed("Noël", 12, 25),
    ]
}

/// Days many Québec cities add to the statutory list.
pub fn quebec_municipal_extra() -> Vec<Holiday> {
    vec![
        fixed("Lendemain du jour de l'An", 1, 2),
        fixed("Veille de Noël", 12, 24),
        fixed("Lendemain de Noël", 12, 26),
        fixed("Veille du jour de l'An", 12, 31),
    ]
}

// ---------------------------------------------------------------------------
// Text form (the shared words are in `words`).

fn parse_ordinal(word: &str) -> Option<i8> {
    Some(match word {
        "first" | "1st" | "premier" | "premiere" | "1er" | "1re" | "1e" => 1,
        "second" | "2nd" | "deuxieme" | "seconde" | "2e" | "2eme" | "2ieme" => 2,
        "third" | "3rd" | "troisieme" | "3e" | "3eme" | "3ieme" => 3,
        "fourth" | "4th" | "quatrieme" | "4e" | "4eme" | "4ieme" => 4,
        "fifth" | "5th" | "cinquieme" | "5e" | "5eme" | "5ieme" => 5,
        "last" | "dernier" | "derniere" => -1,
        _ => return None,
    })
}

/// A date as `MM-DD`, `24 juin` or `june 24`.
fn parse_date_words(words: &[&str]) -> Result<(i8, i8), HolidayRuleReason> {
    let (month, day) = match words {
        [md] => return Ok(parse_month_day(md)?),
        [a, b] => match (a.parse::<i8>(), b.parse::<i8>()) {
            (Ok(day), Err(_)) => (parse_month(b), day),
            (Err(_), Ok(day)) => (parse_month(a), day),
            _ => (None, 0),
        },
        _ => (None, 0),
    };
    let Some(month) = month else {
        return Err(HolidayRuleReason::NotADate {
            text: words.join(" "),
        });
    };
    check_month_day(month, day)?;
    Ok((month, day))
}

fn parse_easter(joined: &str) -> Option<Result<i16, HolidayRuleReason>> {
    let rest = joined
        .strip_prefix("easter")
        .or_else(|| joined.strip_prefix("paques"))?;
    if rest.is_empty() {
        return Some(Ok(0));
    }
    let bad = || HolidayRuleReason::NotAnEasterOffset {
        text: rest.to_string(),
    };
    let (sign, digits) = match rest.as_bytes()[0] {
        b'+' => (1, &rest[1..]),
        b'-' => (-1, &rest[1..]),
        _ => return Some(Err(bad())),
    };
    if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Err(bad()));
    }
    let days = sign * digits.parse::<i16>().unwrap_or(i16::MAX);
    Some(check_easter_offset(days).map(|()| days))
}

fn parse_rule_words(words: &[&str]) -> Result<HolidayRule, HolidayRuleReason> {
    // Common names are cheap to accept and spare admins the arithmetic.
    let alias = match words.join(" ").as_str() {
        "good friday" | "vendredi saint" => Some(-2),
        "easter sunday" | "dimanche de paques" => Some(0),
        "easter monday" | "lundi de paques" => Some(1),
        _ => None,
    };
    if let Some(days) = alias {
        return Ok(HolidayRule::EasterOffset { days });
    }
    if let Some(days) = parse_easter(&words.concat()) {
        return days.map(|days| HolidayRule::EasterOffset { days });
    }
    if let Some(rest) = words
        .split_first()
        .filter(|(w, _)| matches!(**w, "fixed" | "fixe"))
        .map(|(_, rest)| rest)
    {
        let (month, day) = parse_date_words(rest)?;
        return Ok(HolidayRule::Fixed { month, day });
    }
    if (words.len() <= 2 && words[0].starts_with(|c: char| c.is_ascii_digit()))
        || (words.len() == 2 && parse_month(words[0]).is_some())
    {
        let (month, day) = parse_date_words(words)?;
        return Ok(HolidayRule::Fixed { month, day });
    }
    if let Some(n) = parse_ordinal(words[0]) {
        let weekday = words.get(1).and_then(|w| parse_weekday(w)).ok_or_else(|| {
            HolidayRuleReason::NoWeekday {
                ordinal: words[0].to_string(),
            }
        })?;
        let rest: Vec<&str> = words[2..]
            .iter()
            .copied()
            .filter(|w| !matches!(*w, "of" | "in" | "de" | "d" | "du" | "en" | "mois"))
            .collect();
        let month = match rest.as_slice() {
            [m] => parse_month(m),
            _ => None,
        }
        .ok_or_else(|| HolidayRuleReason::NoMonth {
            ordinal_weekday: words[..2].join(" "),
        })?;
        return Ok(HolidayRule::NthWeekday { month, weekday, n });
    }
    if let Some(weekday) = parse_weekday(words[0]) {
        if !matches!(words.get(1), Some(&("before" | "avant"))) {
            return Err(HolidayRuleReason::NotBefore);
        }
        let rest = match &words[2..] {
            [first, rest @ ..] if matches!(*first, "le" | "the") => rest,
            rest => rest,
        };
        let (month, day) = parse_date_words(rest)?;
        return Ok(HolidayRule::WeekdayBefore {
            month,
            day,
            weekday,
        });
    }
    Err(HolidayRuleReason::NotUnderstood)
}

impl FromStr for HolidayRule {
    type Err = HolidayRuleError;

    /// Case-insensitive, English or French, accents optional: `12-25`,
    /// `fixed 12-25`, `25 décembre`, `easter`, `easter-2`, `good friday`,
    /// `first monday of september`, `deuxième lundi d'octobre`,
    /// `monday before 05-25`, `lundi avant le 25 mai`.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason: HolidayRuleReason| HolidayRuleError {
            input: input.trim().to_string(),
            reason,
        };
        // "d'octobre" → "d octobre": the elided "de" becomes a plain word.
        let folded = fold(input).replace('\'', " ");
        let words: Vec<&str> = folded.split_whitespace().collect();
        if words.is_empty() {
            return Err(err(HolidayRuleReason::Empty));
        }
        let rule = parse_rule_words(&words).map_err(err)?;
        rule.validate().map_err(|e| err(e.reason))?;
        Ok(rule)
    }
}

impl fmt::Display for HolidayRule {
    /// The canonical English form, which the parser reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            HolidayRule::Fixed { month, day } => write!(f, "{month:02}-{day:02}"),
            HolidayRule::NthWeekday { month, weekday, n } => {
                match n {
                    1 => f.write_str("first")?,
                    2 => f.write_str("second")?,
                    3 => f.write_str("third")?,
                    4 => f.write_str("fourth")?,
                    5 => f.write_str("fifth")?,
                    -1 => f.write_str("last")?,
                    n => write!(f, "{n}th")?,
                }
                write!(f, " {} of ", weekday_name(weekday).to_lowercase())?;
                match month_name(month) {
                    Some(name) => f.write_str(name),
                    None => write!(f, "{month}"),
                }
            }
            HolidayRule::WeekdayBefore {
                month,
                day,
                weekday,
            } => write!(
                f,
                "{} before {month:02}-{day:02}",
                weekday_name(weekday).to_lowercase()
            ),
            HolidayRule::EasterOffset { days: 0 } => f.write_str("easter"),
            HolidayRule::EasterOffset { days } => write!(f, "easter{days:+}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn easter_2024_to_2035() {
        let expected = [
            (2024, 3, 31),
            (2025, 4, 20),
            (2026, 4, 5),
            (2027, 3, 28),
            (2028, 4, 16),
            (2029, 4, 1),
            (2030, 4, 21),
            (2031, 4, 13),
            (2032, 3, 28),
            (2033, 4, 17),
            (2034, 4, 9),
            (2035, 3, 25),
        ];
        for (y, m, d) in expected {
            let easter = easter_sunday(y).unwrap();
            assert_eq!(easter, date(y, m, d), "Easter {y}");
            assert_eq!(easter.weekday(), Weekday::Sunday, "Easter {y}");
        }
        assert_eq!(easter_sunday(1500), None);
        assert_eq!(
            easter_sunday(9999).map(|d| d.weekday()),
            Some(Weekday::Sunday)
        );
    }

    /// Hand-checked from each year's Jan 1 weekday (2025 Wed, 2026 Thu,
    /// 2027 Fri, 2028 Sat leap, 2029 Mon, 2030 Tue) and Easter; the weekday
    /// of every date is asserted too so a typo in the table cannot hide.
    /// A year and its nine statutory dates (month, day, expected weekday).
    type YearTable = (i16, [(i8, i8, Weekday); 9]);

    #[test]
    fn quebec_statutory_2025_to_2030() {
        use Weekday::*;
        #[rustfmt::skip]
        let table: [YearTable; 6] = [
            (2025, [(1, 1, Wednesday), (4, 18, Friday), (4, 21, Monday), (5, 19, Monday),
                    (6, 24, Tuesday), (7, 1, Tuesday), (9, 1, Monday), (10, 13, Monday), (12, 25, Thursday)]),
            (2026, [(1, 1, Thursday), (4, 3, Friday), (4, 6, Monday), (5, 18, Monday),
                    (6, 24, Wednesday), (7, 1, Wednesday), (9, 7, Monday), (10, 12, Monday), (12, 25, Friday)]),
            (2027, [(1, 1, Friday), (3, 26, Friday), (3, 29, Monday), (5, 24, Monday),
                    (6, 24, Thursday), (7, 1, Thursday), (9, 6, Monday), (10, 11, Monday), (12, 25, Saturday)]),
            (2028, [(1, 1, Saturday), (4, 14, Friday), (4, 17, Monday), (5, 22, Monday),
                    (6, 24, Saturday), (7, 1, Saturday), (9, 4, Monday), (10, 9, Monday), (12, 25, Monday)]),
            // June 24 and July 1 2029 are Sundays: observed on Monday the 25th / 2nd.
            (2029, [(1, 1, Monday), (3, 30, Friday), (4, 2, Monday), (5, 21, Monday),
                    (6, 25, Monday), (7, 2, Monday), (9, 3, Monday), (10, 8, Monday), (12, 25, Tuesday)]),
            (2030, [(1, 1, Tuesday), (4, 19, Friday), (4, 22, Monday), (5, 20, Monday),
                    (6, 24, Monday), (7, 1, Monday), (9, 2, Monday), (10, 14, Monday), (12, 25, Wednesday)]),
        ];
        let holidays = quebec_statutory();
        assert_eq!(holidays.len(), 9);
        for (year, expected) in table {
            for (holiday, (m, d, wd)) in holidays.iter().zip(expected) {
                let want = date(year, m, d);
                assert_eq!(want.weekday(), wd, "table typo: {want}");
                assert_eq!(
                    holiday.observed_date_in(year),
                    Some(want),
                    "{} {year}",
                    holiday.name
                );
            }
        }
        // The rule date itself stays the Sunday; only observance moves.
        assert_eq!(holidays[5].rule.date_in(2029), Some(date(2029, 7, 1)));
    }

    #[test]
    fn patriotes_when_may_25_is_monday() {
        // May 25 2026 is a Monday: "strictly before" gives the week before.
        assert_eq!(date(2026, 5, 25).weekday(), Weekday::Monday);
        let rule: HolidayRule = "monday before 05-25".parse().unwrap();
        assert_eq!(rule.date_in(2026), Some(date(2026, 5, 18)));
    }

    #[test]
    fn municipal_extra_dates() {
        let got: Vec<_> = quebec_municipal_extra()
            .iter()
            .map(|h| h.observed_date_in(2026).unwrap())
            .collect();
        assert_eq!(
            got,
            [
                date(2026, 1, 2),
                date(2026, 12, 24),
                date(2026, 12, 26),
                date(2026, 12, 31)
            ]
        );
    }

    #[test]
    fn observance_shifts() {
        let h = |observed| Holiday::new("x", HolidayRule::Fixed { month: 12, day: 31 }, observed);
        // Dec 31 2022 is a Saturday, Dec 31 2023 a Sunday.
        assert_eq!(
            h(Observed::Same).observed_date_in(2022),
            Some(date(2022, 12, 31))
        );
        assert_eq!(
            h(Observed::SundayToMonday).observed_date_in(2022),
            Some(date(2022, 12, 31))
        );
        assert_eq!(
            h(Observed::WeekendToMonday).observed_date_in(2022),
            Some(date(2023, 1, 2))
        );
        assert_eq!(
            h(Observed::SundayToMonday).observed_date_in(2023),
            Some(date(2024, 1, 1))
        );
        assert_eq!("Weekend".parse::<Observed>(), Ok(Observed::WeekendToMonday));
        assert!("monday".parse::<Observed>().is_err());
    }

    #[test]
    fn absent_dates_are_none() {
        let feb29 = HolidayRule::Fixed { month: 2, day: 29 };
        assert_eq!(feb29.date_in(2027), None);
        assert_eq!(feb29.date_in(2028), Some(date(2028, 2, 29)));
        // September 2026 has four Tuesdays... and five? Sep 1 2026 is a Tuesday: 1, 8, 15, 22, 29.
        let fifth_tue = HolidayRule::NthWeekday {
            month: 9,
            weekday: Weekday::Tuesday,
            n: 5,
        };
        assert_eq!(fifth_tue.date_in(2026), Some(date(2026, 9, 29)));
        let fifth_mon = HolidayRule::NthWeekday {
            month: 9,
            weekday: Weekday::Monday,
            n: 5,
        };
        assert_eq!(fifth_mon.date_in(2026), None);
        // Invalid rules built in code never panic.
        assert_eq!(HolidayRule::Fixed { month: 13, day: 1 }.date_in(2026), None);
        let bad_n = HolidayRule::NthWeekday {
            month: 1,
            weekday: Weekday::Monday,
            n: 0,
        };
        assert_eq!(bad_n.date_in(2026), None);
        assert!(bad_n.validate().is_err());
        assert_eq!(
            HolidayRule::EasterOffset { days: i16::MIN }.date_in(2026),
            None
        );
        assert_eq!(
            HolidayRule::Fixed { month: 1, day: 1 }.date_in(i16::MAX),
            None
        );
    }

    #[test]
    fn parse_accepted_forms() {
        use HolidayRule::*;
        let cases: &[(&str, HolidayRule)] = &[
            ("01-01", Fixed { month: 1, day: 1 }),
            ("fixed 01-01", Fixed { month: 1, day: 1 }),
            ("  Fixed 7-1 ", Fixed { month: 7, day: 1 }),
            ("24 juin", Fixed { month: 6, day: 24 }),
            ("December 25", Fixed { month: 12, day: 25 }),
            ("fixe 25 décembre", Fixed { month: 12, day: 25 }),
            ("easter", EasterOffset { days: 0 }),
            ("Pâques", EasterOffset { days: 0 }),
            ("easter-2", EasterOffset { days: -2 }),
            ("easter+1", EasterOffset { days: 1 }),
            ("easter + 39", EasterOffset { days: 39 }),
            ("paques-2", EasterOffset { days: -2 }),
            ("Good Friday", EasterOffset { days: -2 }),
            ("lundi de Pâques", EasterOffset { days: 1 }),
            (
                "first monday of september",
                NthWeekday {
                    month: 9,
                    weekday: Weekday::Monday,
                    n: 1,
                },
            ),
            (
                "2nd Monday of October",
                NthWeekday {
                    month: 10,
                    weekday: Weekday::Monday,
                    n: 2,
                },
            ),
            (
                "last monday of may",
                NthWeekday {
                    month: 5,
                    weekday: Weekday::Monday,
                    n: -1,
                },
            ),
            (
                "premier lundi de septembre",
                NthWeekday {
                    month: 9,
                    weekday: Weekday::Monday,
                    n: 1,
                },
            ),
            (
                "1er lundi de septembre",
                NthWeekday {
                    month: 9,
                    weekday: Weekday::Monday,
                    n: 1,
                },
            ),
            (
                "deuxième lundi d'octobre",
                NthWeekday {
                    month: 10,
                    weekday: Weekday::Monday,
                    n: 2,
                },
            ),
            (
                "2e lundi d’octobre",
                NthWeekday {
                    month: 10,
                    weekday: Weekday::Monday,
                    n: 2,
                },
            ),
            (
                "dernier vendredi du mois de mai",
                NthWeekday {
                    month: 5,
                    weekday: Weekday::Friday,
                    n: -1,
                },
            ),
            (
                "monday before 05-25",
                WeekdayBefore {
                    month: 5,
                    day: 25,
                    weekday: Weekday::Monday,
                },
            ),
            (
                "Lundi avant 05-25",
                WeekdayBefore {
                    month: 5,
                    day: 25,
                    weekday: Weekday::Monday,
                },
            ),
            (
                "lundi avant le 25 mai",
                WeekdayBefore {
                    month: 5,
                    day: 25,
                    weekday: Weekday::Monday,
                },
            ),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<HolidayRule>().as_ref(), Ok(want), "{text:?}");
        }
    }

    #[test]
    fn display_round_trips() {
        let mut rules: Vec<HolidayRule> = quebec_statutory().into_iter().map(|h| h.rule).collect();
        rules.push(HolidayRule::EasterOffset { days: -46 });
        rules.push(HolidayRule::NthWeekday {
            month: 5,
            weekday: Weekday::Monday,
            n: -1,
        });
        for rule in rules {
            let text = rule.to_string();
            assert_eq!(text.parse::<HolidayRule>(), Ok(rule), "{text:?}");
        }
        let shown: Vec<String> = quebec_statutory()
            .iter()
            .map(|h| h.rule.to_string())
            .collect();
        assert_eq!(
            shown,
            [
                "01-01",
                "easter-2",
                "easter+1",
                "monday before 05-25",
                "06-24",
                "07-01",
                "first monday of september",
                "second monday of october",
                "12-25"
            ]
        );
    }

    #[test]
    fn parse_errors_are_clear() {
        let reason = |s: &str| s.parse::<HolidayRule>().unwrap_err().to_string();
        assert!(reason("").contains("empty"));
        assert!(
            reason("02-30").contains("February has no day 30"),
            "{}",
            reason("02-30")
        );
        assert!(reason("13-01").contains("month 13 does not exist"));
        assert!(reason("fixed").contains("not a date"));
        assert!(reason("easter*2").contains("offset"));
        assert!(reason("easter+400").contains("more than a year"));
        assert!(reason("sixth monday of may").contains("not understood"));
        assert!(reason("first funday of may").contains("weekday must follow"));
        assert!(reason("first monday of").contains("expected a month"));
        assert!(reason("first monday of smarch").contains("expected a month"));
        assert!(reason("monday after 05-25").contains("before MM-DD"));
        assert!(reason("monday before 5-32").contains("May has no day 32"));
        assert!(reason("christmas").contains("not understood"));
        // The error names what the admin wrote.
        assert!(reason(" 02-30 ").starts_with("invalid holiday rule \"02-30\""));
        assert_eq!(
            "02-30".parse::<HolidayRule>().unwrap_err().reason,
            HolidayRuleReason::MonthDay(MonthDayError::NoSuchDay {
                month: 2,
                day: 30,
                days: 29
            })
        );
        // Feb 29 is a legal (leap-year-only) rule.
        assert!("02-29".parse::<HolidayRule>().is_ok());
    }
}
