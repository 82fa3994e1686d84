//! The condition language of `branch` rules, parsed into [`Condition`].
//!
//! Owns the grammar (documented in `docs/dialplans.md`) and its error messages for admins.
//! Never does I/O and never looks at calendars or prompts: whether `@centre` or
//! `season:hiver` exist in the plan is checked by `validate`.
//!
//! ```text
//! expr    := and_expr { ("or" | "ou" | "||") and_expr }
//! and_expr:= unary { ("and" | "et" | "&&") unary }
//! unary   := ("not" | "non" | "!") unary | "(" expr ")" | atom
//! atom    := open[@cal] | closed[@cal] | holiday[@cal] | closure[@cal]
//!          | season:<name>[@cal] | weekday:<days> | time:HH:MM-HH:MM
//!          | date:YYYY-MM-DD[..YYYY-MM-DD] | lang:fr|en | var:<name>=<value>
//! ```
//! Keywords are case-insensitive, accents optional; French synonyms: `ouvert`, `fermé`, `férié`,
//! `fermeture`, `saison:`, `jour:`, `heure:`, `langue:`. Precedence: not > and > or.

use jiff::civil::{Date, Time, Weekday};

use super::model::Condition;
use super::words::{fold, parse_weekday};
use crate::media::prompt::{Lang, ParseLangError};

/// Deepest nesting of parentheses and `not` accepted (a guard against pathological input).
const MAX_DEPTH: usize = 32;

const ATOMS: &str = "open, closed, holiday, closure (each optionally @calendar), season:<name>, \
     weekday:<days>, time:HH:MM-HH:MM, date:YYYY-MM-DD..YYYY-MM-DD, lang:fr|en, var:<name>=<value>";

/// Why a branch rule's `if` text is not a condition; each message is one sentence for the
/// admin (`centrale check` puts the file, line and column in front).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConditionError {
    #[error("the condition is empty; expected one of: {ATOMS}")]
    Empty,
    #[error("unbalanced `)`: no `(` opens it")]
    UnopenedParen,
    #[error("missing `)`")]
    UnclosedParen,
    #[error("the condition nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("the condition ends too early: a condition is missing after the last word")]
    EndsEarly,
    #[error("expected `and` or `or` before `{found}`")]
    MissingOperator { found: String },
    #[error("expected a condition, found `{found}`")]
    MissingCondition { found: String },
    #[error("unknown condition `{atom}`; expected one of: {ATOMS}")]
    Unknown { atom: String },
    #[error("`{word}@`: a calendar name must follow `@`")]
    NoCalendarName { word: String },
    #[error("`{atom}`: write `{word}@<calendar>` to name a calendar, not `{word}:`")]
    CalendarAfterColon { atom: String, word: String },
    #[error("`{atom}` needs a value after `:`, e.g. {example}")]
    NoValue { atom: String, example: &'static str },
    #[error("`{atom}`: a season name must follow `season:`")]
    NoSeasonName { atom: String },
    #[error("`{atom}`: {source}")]
    UnknownLanguage {
        atom: String,
        source: ParseLangError,
    },
    #[error("`{atom}`: expected var:<name>=<value>, the name in letters, digits and '_'")]
    BadVariable { atom: String },
    #[error("`{word}` is not a day: use mon..sun or lun..dim, e.g. weekday:sat,sun")]
    UnknownDay { word: String },
    #[error("weekday:{list}: an empty day between commas")]
    EmptyDay { list: String },
    #[error("time:{range}: expected time:HH:MM-HH:MM, e.g. time:12:00-13:00")]
    BadTime { range: String },
    #[error(
        "time:{range}: the start must be before the end (for a range past midnight, write \
         `time:22:00-24:00 or time:00:00-06:00`)"
    )]
    TimeBackwards { range: String },
    #[error("date:{range}: `{date}` is not a date like 2027-01-10")]
    BadDate { range: String, date: String },
    #[error("date:{range}: the first date is after the last")]
    DatesBackwards { range: String },
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    And,
    Or,
    Not,
    Atom(String),
}

/// Parses a branch rule's `if` text. The error is one sentence for the admin.
pub fn parse_condition(s: &str) -> Result<Condition, ConditionError> {
    let toks = tokenize(s);
    if toks.is_empty() {
        return Err(ConditionError::Empty);
    }
    let mut p = Parser { toks, at: 0 };
    let c = p.or(0)?;
    match p.toks.get(p.at) {
        None => Ok(c),
        Some(Tok::RParen) => Err(ConditionError::UnopenedParen),
        Some(t) => Err(ConditionError::MissingOperator {
            found: token_text(t),
        }),
    }
}

/// A token as messages quote it (`!` is shown as `not`).
fn token_text(t: &Tok) -> String {
    match t {
        Tok::LParen => "(".into(),
        Tok::RParen => ")".into(),
        Tok::And => "and".into(),
        Tok::Or => "or".into(),
        Tok::Not => "not".into(),
        Tok::Atom(a) => a.clone(),
    }
}

fn tokenize(s: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let flush = |cur: &mut String, out: &mut Vec<Tok>| {
        if cur.is_empty() {
            return;
        }
        // "weekday:sat, sun" → one atom: a word ending in ',' continues in the next one.
        if let Some(Tok::Atom(prev)) = out.last_mut() {
            if prev.ends_with(',') {
                prev.push_str(cur);
                cur.clear();
                return;
            }
        }
        let w = std::mem::take(cur);
        out.push(match fold(&w).as_str() {
            "and" | "et" | "&&" => Tok::And,
            "or" | "ou" | "||" => Tok::Or,
            "not" | "non" | "pas" => Tok::Not,
            _ => Tok::Atom(w),
        });
    };
    for c in s.chars() {
        match c {
            '(' | ')' | '!' => {
                flush(&mut cur, &mut out);
                out.push(match c {
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    _ => Tok::Not,
                });
            }
            c if c.is_whitespace() => flush(&mut cur, &mut out),
            c => cur.push(c),
        }
    }
    flush(&mut cur, &mut out);
    out
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    fn or(&mut self, depth: usize) -> Result<Condition, ConditionError> {
        let mut parts = vec![self.and(depth)?];
        while self.peek() == Some(&Tok::Or) {
            self.at += 1;
            parts.push(self.and(depth)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Condition::Any(parts)
        })
    }

    fn and(&mut self, depth: usize) -> Result<Condition, ConditionError> {
        let mut parts = vec![self.unary(depth)?];
        while self.peek() == Some(&Tok::And) {
            self.at += 1;
            parts.push(self.unary(depth)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Condition::All(parts)
        })
    }

    fn unary(&mut self, depth: usize) -> Result<Condition, ConditionError> {
        if depth > MAX_DEPTH {
            return Err(ConditionError::TooDeep);
        }
        let Some(tok) = self.toks.get(self.at).cloned() else {
            return Err(ConditionError::EndsEarly);
        };
        self.at += 1;
        match tok {
            Tok::Not => Ok(Condition::Not(Box::new(self.unary(depth + 1)?))),
            Tok::LParen => {
                let c = self.or(depth + 1)?;
                if self.peek() != Some(&Tok::RParen) {
                    return Err(ConditionError::UnclosedParen);
                }
                self.at += 1;
                Ok(c)
            }
            Tok::Atom(a) => parse_atom(&a),
            t => Err(ConditionError::MissingCondition {
                found: token_text(&t),
            }),
        }
    }
}

/// `word@calendar` → (word, Some(calendar)).
fn split_calendar(s: &str) -> Result<(&str, Option<String>), ConditionError> {
    match s.rsplit_once('@') {
        Some((w, cal)) if cal.trim().is_empty() => Err(ConditionError::NoCalendarName {
            word: w.to_string(),
        }),
        Some((w, cal)) => Ok((w, Some(cal.trim().to_string()))),
        None => Ok((s, None)),
    }
}

fn parse_atom(atom: &str) -> Result<Condition, ConditionError> {
    let (head, arg) = match atom.split_once(':') {
        Some((h, a)) => (h, Some(a)),
        None => (atom, None),
    };
    let (word, cal) = match arg {
        None => split_calendar(head)?,
        Some(_) => (head, None),
    };
    let key = fold(word);
    match (key.as_str(), arg) {
        ("open" | "ouvert", None) => Ok(Condition::Open(cal)),
        ("closed" | "ferme", None) => Ok(Condition::Closed(cal)),
        ("holiday" | "ferie", None) => Ok(Condition::Holiday(cal)),
        ("closure" | "fermeture", None) => Ok(Condition::Closure(cal)),
        ("season" | "saison", Some(a)) => {
            let (name, cal) = split_calendar(a)?;
            if name.trim().is_empty() {
                return Err(ConditionError::NoSeasonName {
                    atom: atom.to_string(),
                });
            }
            Ok(Condition::Season(name.trim().to_string(), cal))
        }
        ("weekday" | "weekdays" | "day" | "jour" | "jours", Some(a)) => parse_days(a),
        ("time" | "heure" | "heures", Some(a)) => parse_time_range(a),
        ("date" | "dates", Some(a)) => parse_date_range(a),
        ("lang" | "language" | "langue", Some(a)) => a
            .parse::<Lang>()
            .map(Condition::Lang)
            .map_err(|source| ConditionError::UnknownLanguage {
                atom: atom.to_string(),
                source,
            }),
        ("var" | "variable", Some(a)) => match a.split_once('=') {
            Some((k, v)) if is_var_name(k) && !v.is_empty() => {
                Ok(Condition::Var(k.to_string(), v.to_string()))
            }
            _ => Err(ConditionError::BadVariable {
                atom: atom.to_string(),
            }),
        },
        (
            "open" | "ouvert" | "closed" | "ferme" | "holiday" | "ferie" | "closure" | "fermeture",
            Some(_),
        ) => Err(ConditionError::CalendarAfterColon {
            atom: atom.to_string(),
            word: word.to_string(),
        }),
        (
            "season" | "saison" | "weekday" | "weekdays" | "day" | "jour" | "jours" | "time"
            | "heure" | "heures" | "date" | "dates" | "lang" | "language" | "langue" | "var"
            | "variable",
            None,
        ) => Err(ConditionError::NoValue {
            atom: atom.to_string(),
            example: example(&key),
        }),
        _ => Err(ConditionError::Unknown {
            atom: atom.to_string(),
        }),
    }
}

fn example(key: &str) -> &'static str {
    match key {
        "season" | "saison" => "season:hiver",
        "time" | "heure" | "heures" => "time:12:00-13:00",
        "date" | "dates" => "date:2027-01-10..2027-01-20",
        "lang" | "language" | "langue" => "lang:fr",
        "var" | "variable" => "var:choice=1",
        _ => "weekday:sat,sun",
    }
}

fn is_var_name(k: &str) -> bool {
    !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `sat,sun`, `mon-fri`, `lun-ven,sam`; ranges may wrap (`fri-mon`).
fn parse_days(list: &str) -> Result<Condition, ConditionError> {
    const WEEK: [Weekday; 7] = [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
        Weekday::Sunday,
    ];
    let day = |w: &str| {
        parse_weekday(fold(w).trim()).ok_or_else(|| ConditionError::UnknownDay {
            word: w.to_string(),
        })
    };
    let mut days: Vec<Weekday> = Vec::new();
    for part in list.split(',').map(str::trim) {
        if part.is_empty() {
            return Err(ConditionError::EmptyDay {
                list: list.to_string(),
            });
        }
        match part.split_once('-') {
            None => days.push(day(part)?),
            Some((a, b)) => {
                let (a, b) = (day(a)?, day(b)?);
                let mut i = a.to_monday_zero_offset();
                let end = b.to_monday_zero_offset();
                loop {
                    days.push(WEEK[usize::try_from(i).unwrap_or(0) % 7]);
                    if i == end {
                        break;
                    }
                    i = (i + 1) % 7;
                }
            }
        }
    }
    let mut uniq: Vec<Weekday> = Vec::new();
    for d in days {
        if !uniq.contains(&d) {
            uniq.push(d);
        }
    }
    uniq.sort_by_key(|d| d.to_monday_zero_offset());
    Ok(Condition::Weekday(uniq))
}

/// `HH:MM`, `H:MM`, `8h30`, `8h`; `24:00` means the end of the day.
fn parse_clock(s: &str, is_end: bool) -> Option<Time> {
    let s = s.trim();
    let (h, m) = match s.split_once([':', 'h', 'H']) {
        Some((h, "")) => (h, "0"),
        Some((h, m)) => (h, m),
        None => (s, "0"),
    };
    let digits = |x: &str| !x.is_empty() && x.len() <= 2 && x.bytes().all(|b| b.is_ascii_digit());
    if !digits(h) || !digits(m) {
        return None;
    }
    let (h, m): (i8, i8) = (h.parse().ok()?, m.parse().ok()?);
    if is_end && h == 24 && m == 0 {
        return Some(Time::MAX);
    }
    Time::new(h, m, 0, 0).ok()
}

fn parse_time_range(r: &str) -> Result<Condition, ConditionError> {
    let bad = || ConditionError::BadTime {
        range: r.to_string(),
    };
    let (a, b) = r.split_once('-').ok_or_else(bad)?;
    let start = parse_clock(a, false).ok_or_else(bad)?;
    let end = parse_clock(b, true).ok_or_else(bad)?;
    if start >= end {
        return Err(ConditionError::TimeBackwards {
            range: r.to_string(),
        });
    }
    Ok(Condition::TimeOfDay(start, end))
}

fn parse_date_range(r: &str) -> Result<Condition, ConditionError> {
    let parse = |d: &str| {
        d.trim()
            .parse::<Date>()
            .map_err(|_| ConditionError::BadDate {
                range: r.to_string(),
                date: d.trim().to_string(),
            })
    };
    let (a, b) = match r.split_once("..") {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => {
            let d = parse(r)?;
            (d, d)
        }
    };
    if a > b {
        return Err(ConditionError::DatesBackwards {
            range: r.to_string(),
        });
    }
    Ok(Condition::DateRange(a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: i8, m: i8) -> Time {
        Time::constant(h, m, 0, 0)
    }

    #[test]
    fn atoms() {
        assert_eq!(parse_condition("open"), Ok(Condition::Open(None)));
        assert_eq!(
            parse_condition("closed@centre"),
            Ok(Condition::Closed(Some("centre".into())))
        );
        assert_eq!(parse_condition("Férié"), Ok(Condition::Holiday(None)));
        assert_eq!(parse_condition("fermé"), Ok(Condition::Closed(None)));
        assert_eq!(parse_condition("closure"), Ok(Condition::Closure(None)));
        assert_eq!(
            parse_condition("saison:hiver@centre"),
            Ok(Condition::Season("hiver".into(), Some("centre".into())))
        );
        assert_eq!(
            parse_condition("weekday:sat,sun"),
            Ok(Condition::Weekday(vec![Weekday::Saturday, Weekday::Sunday]))
        );
        assert_eq!(
            parse_condition("weekday:sam, dim"),
            Ok(Condition::Weekday(vec![Weekday::Saturday, Weekday::Sunday]))
        );
        assert_eq!(
            parse_condition("jour:ven-lun"),
            Ok(Condition::Weekday(vec![
                Weekday::Monday,
                Weekday::Friday,
                Weekday::Saturday,
                Weekday::Sunday
            ]))
        );
        assert_eq!(
            parse_condition("time:12:00-13:00"),
            Ok(Condition::TimeOfDay(t(12, 0), t(13, 0)))
        );
        assert_eq!(
            parse_condition("heure:8h30-24:00"),
            Ok(Condition::TimeOfDay(t(8, 30), Time::MAX))
        );
        assert_eq!(
            parse_condition("date:2027-01-10..2027-01-20"),
            Ok(Condition::DateRange(
                Date::constant(2027, 1, 10),
                Date::constant(2027, 1, 20)
            ))
        );
        assert_eq!(parse_condition("lang:en"), Ok(Condition::Lang(Lang::En)));
        assert_eq!(
            parse_condition("var:choice=1"),
            Ok(Condition::Var("choice".into(), "1".into()))
        );
    }

    #[test]
    fn precedence_not_and_or() {
        let c = parse_condition("not holiday and open or lang:en");
        assert_eq!(
            c,
            Ok(Condition::Any(vec![
                Condition::All(vec![
                    Condition::Not(Box::new(Condition::Holiday(None))),
                    Condition::Open(None)
                ]),
                Condition::Lang(Lang::En)
            ]))
        );
        let c = parse_condition("not (holiday or closed) et !season:ete");
        assert_eq!(
            c,
            Ok(Condition::All(vec![
                Condition::Not(Box::new(Condition::Any(vec![
                    Condition::Holiday(None),
                    Condition::Closed(None)
                ]))),
                Condition::Not(Box::new(Condition::Season("ete".into(), None)))
            ]))
        );
        let c = parse_condition("a or b");
        assert!(c.is_err());
    }

    #[test]
    fn errors() {
        for bad in [
            "",
            "opne",
            "open and",
            "(open",
            "open)",
            "open closed",
            "time:13:00-12:00",
            "time:25:00-26:00",
            "date:2027-02-30",
            "date:2027-02-03..2027-02-01",
            "weekday:funday",
            "lang:de",
            "var:=x",
            "season:",
            "open:centre",
            "closed@",
            "season",
        ] {
            assert!(parse_condition(bad).is_err(), "{bad:?} should fail");
        }
        let deep = format!("{}open{}", "(".repeat(100), ")".repeat(100));
        assert!(parse_condition(&deep).is_err());
        let nots = "not ".repeat(100) + "open";
        assert_eq!(parse_condition(&nots), Err(ConditionError::TooDeep));
        assert_eq!(parse_condition("open)"), Err(ConditionError::UnopenedParen));
        // The admin reads the same sentence as before the errors were typed.
        assert_eq!(
            parse_condition("open !").unwrap_err().to_string(),
            "expected `and` or `or` before `not`"
        );
    }
}
