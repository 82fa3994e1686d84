//! The small notations of workload files: `HH:MM`, shifts (`08:00-12:00,13:00-17:00`),
//! weekday ranges (`mon-fri,sun`) and the weekday keys (Monday first).

use crate::dialplan::holiday;

/// One agent shift: its stretches on the phones, in local minutes from midnight, `[start,
/// end)`, in order (breaks and lunch are the gaps: `08:00-10:00+10:15-12:00+13:00-16:00`).
pub type Shift = Vec<(u16, u16)>;

/// Weekday keys in files (Monday first).
pub(super) const WEEKDAY_KEYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// `HH:MM` → minutes from midnight; `24:00` is allowed as an end.
pub fn parse_hhmm(s: &str) -> Option<u16> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    if h > 24 || m > 59 || (h == 24 && m != 0) || h.checked_mul(60).is_none() {
        return None;
    }
    Some(h * 60 + m)
}

/// Why a shift is not a list of stretches in order; `stretch` is the one at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShiftError {
    #[error("{stretch:?} is not a stretch like \"08:00-16:00\" (join stretches with +)")]
    NotAStretch { stretch: String },
    #[error("{stretch:?} ends before it starts (a shift cannot cross midnight: split it)")]
    EndsBeforeStart { stretch: String },
    #[error(
        "{stretch:?} starts before the previous stretch ends (stretches go in order, with a gap)"
    )]
    OutOfOrder { stretch: String },
}

/// A part of a weekday list that is neither a weekday nor a range of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{part:?} is not a weekday or a range like mon-fri")]
pub struct WeekdaysError {
    pub part: String,
}

/// `08:00-16:00`, or with breaks `08:00-10:00+10:15-12:00+13:00-16:00` → minutes.
pub fn parse_shift(s: &str) -> Result<Shift, ShiftError> {
    let mut out: Shift = Vec::new();
    for part in s.split('+') {
        let stretch = || part.to_string();
        let bad = || ShiftError::NotAStretch { stretch: stretch() };
        let (a, b) = part.split_once('-').ok_or_else(bad)?;
        let (a, b) = (
            parse_hhmm(a).ok_or_else(bad)?,
            parse_hhmm(b).ok_or_else(bad)?,
        );
        if a >= b {
            return Err(ShiftError::EndsBeforeStart { stretch: stretch() });
        }
        if out.last().is_some_and(|l| a <= l.1) {
            return Err(ShiftError::OutOfOrder { stretch: stretch() });
        }
        out.push((a, b));
    }
    Ok(out)
}

pub(super) fn weekday_index(word: &str) -> Option<usize> {
    let w = holiday::fold(word.trim());
    holiday::parse_weekday(&w).map(|d| d.to_monday_zero_offset() as usize)
}

/// `mon-fri`, `mon,wed,fri`, `sat-sun`, `lun-ven`, `all` → Monday-first flags.
pub fn parse_days(s: &str) -> Result<[bool; 7], WeekdaysError> {
    let mut days = [false; 7];
    let t = s.trim().to_lowercase();
    if matches!(t.as_str(), "all" | "every day" | "daily" | "tous") {
        return Ok([true; 7]);
    }
    for part in t.split(',') {
        let part = part.trim();
        let bad = || WeekdaysError {
            part: part.to_string(),
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (
                    weekday_index(a).ok_or_else(bad)?,
                    weekday_index(b).ok_or_else(bad)?,
                );
                let mut d = a;
                loop {
                    days[d] = true;
                    if d == b {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => days[weekday_index(part).ok_or_else(bad)?] = true,
        }
    }
    Ok(days)
}

/// Weekday keys in files (Monday first).
pub fn weekday_key(i: usize) -> &'static str {
    WEEKDAY_KEYS[i % 7]
}
