//! Dates and days as admins write them, in English or French, with or without accents: the
//! vocabulary that holiday rules (`holiday`) and opening hours and seasons (`calendar`) share.
//! Every word is folded (`fold`) before matching.
//!
//! Owns: folding, weekday and month names (both languages, usual abbreviations), `MM-DD`
//! month-days and their validation. Never does: I/O, clock reads, time-zone math, panicking on
//! admin input (bad text is `None` or an `Err` with a message for the admin).

use jiff::civil::{Date, Weekday};

/// Lower-cases, strips French accents and normalises dashes/apostrophes, so
/// "Février", "fevrier" and "FÉVRIER" (or "8:00–17:00") compare equal.
pub(crate) fn fold(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'à' | 'â' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' => 'i',
            'ô' | 'ö' => 'o',
            'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            '’' | '`' => '\'',
            '–' | '—' | '−' => '-',
            other => other,
        })
        .collect()
}

/// A weekday in English or French, full or abbreviated; expects folded text.
pub(crate) fn parse_weekday(word: &str) -> Option<Weekday> {
    Some(match word {
        "monday" | "mon" | "lundi" | "lun" => Weekday::Monday,
        "tuesday" | "tue" | "tues" | "mardi" | "mar" => Weekday::Tuesday,
        "wednesday" | "wed" | "mercredi" | "mer" => Weekday::Wednesday,
        "thursday" | "thu" | "thur" | "thurs" | "jeudi" | "jeu" => Weekday::Thursday,
        "friday" | "fri" | "vendredi" | "ven" => Weekday::Friday,
        "saturday" | "sat" | "samedi" | "sam" => Weekday::Saturday,
        "sunday" | "sun" | "dimanche" | "dim" => Weekday::Sunday,
        _ => return None,
    })
}

/// English name of a weekday, for messages.
pub(crate) fn weekday_name(weekday: Weekday) -> &'static str {
    match weekday {
        Weekday::Monday => "Monday",
        Weekday::Tuesday => "Tuesday",
        Weekday::Wednesday => "Wednesday",
        Weekday::Thursday => "Thursday",
        Weekday::Friday => "Friday",
        Weekday::Saturday => "Saturday",
        Weekday::Sunday => "Sunday",
    }
}

const MONTHS_EN: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// A month in English or French (full or usual abbreviation) or as a number;
/// expects folded text.
pub(crate) fn parse_month(word: &str) -> Option<i8> {
    let word = word.trim_end_matches('.');
    if let Ok(n) = word.parse::<i8>() {
        return (1..=12).contains(&n).then_some(n);
    }
    Some(match word {
        "january" | "jan" | "janvier" | "janv" => 1,
        "february" | "feb" | "fevrier" | "fevr" | "fev" => 2,
        "march" | "mar" | "mars" => 3,
        "april" | "apr" | "avril" | "avr" => 4,
        "may" | "mai" => 5,
        "june" | "jun" | "juin" => 6,
        "july" | "jul" | "juillet" | "juil" => 7,
        "august" | "aug" | "aout" => 8,
        "september" | "sep" | "sept" | "septembre" => 9,
        "october" | "oct" | "octobre" => 10,
        "november" | "nov" | "novembre" => 11,
        "december" | "dec" | "decembre" => 12,
        _ => return None,
    })
}

pub(crate) fn month_name(month: i8) -> Option<&'static str> {
    usize::try_from(month - 1)
        .ok()
        .and_then(|i| MONTHS_EN.get(i).copied())
}

/// A month-day that is not written `MM-DD` or names no day of the year.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MonthDayError {
    #[error("{text:?} is not a month-day date like 12-25 (MM-DD)")]
    NotMonthDay { text: String },
    #[error("month {month} does not exist (months are 01 to 12)")]
    NoSuchMonth { month: i8 },
    #[error("{} has no day {day} (it has {days} days)", month_title(*.month))]
    NoSuchDay { month: i8, day: i8, days: i8 },
}

/// "February" for 2, for messages (the number itself if it is no month).
fn month_title(month: i8) -> String {
    let Some(name) = month_name(month) else {
        return month.to_string();
    };
    let mut name = name.to_string();
    name[..1].make_ascii_uppercase();
    name
}

/// Month 1..=12 and a day that exists in that month in a leap year (Feb 29
/// is allowed: such a rule simply has no date in common years).
pub(crate) fn check_month_day(month: i8, day: i8) -> Result<(), MonthDayError> {
    if month_name(month).is_none() {
        return Err(MonthDayError::NoSuchMonth { month });
    }
    let days = Date::new(2000, month, 1).map_or(31, |d| d.days_in_month());
    if !(1..=days).contains(&day) {
        return Err(MonthDayError::NoSuchDay { month, day, days });
    }
    Ok(())
}

/// `MM-DD` (one or two digits each), validated; expects folded text.
pub(crate) fn parse_month_day(s: &str) -> Result<(i8, i8), MonthDayError> {
    let bad = || MonthDayError::NotMonthDay {
        text: s.to_string(),
    };
    let (m, d) = s.split_once('-').ok_or_else(bad)?;
    let num = |part: &str| -> Result<i8, MonthDayError> {
        if part.is_empty() || part.len() > 2 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        part.parse().map_err(|_| bad())
    };
    let (month, day) = (num(m)?, num(d)?);
    check_month_day(month, day)?;
    Ok((month, day))
}
