//! A workload estimated from the call log (`centrale plan --from-log --weeks N`), so a centre
//! plans from its own traffic: arrivals per half-hour per weekday, talk time (mean and spread),
//! wrap-up, patience, the language and topic mix, written as a commented workload file.
//!
//! Estimators (documented in `docs/staffing.md`):
//! * arrivals: offered calls (queue entries) counted by the local weekday and half-hour of
//!   their first queue entry, divided by the number of such weekdays in the window (holidays
//!   excluded when a calendar says so);
//! * talk: mean and coefficient of variation of answered calls' talk; log-normal with that cv;
//! * wrap-up: mean wrap-up of answered calls;
//! * patience (exponential, censored): mean = Σ queue waits of all offered callers
//!   / number of abandons — every caller waited at least their wait, abandons are the
//!   patience ends observed (the maximum-likelihood estimate for exponential patience with
//!   right-censoring); none when nobody abandoned;
//! * languages and topics: shares among offered calls; a topic's queue is the queue most of
//!   its calls went to (calls without a topic count under their queue's name).
//!
//! Owns: the estimators and the TOML they produce. Never does: I/O (the CLI reads the rows),
//! or guess seasons (the window is one season's traffic; say so in the file).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use super::workload::{weekday_key, SLOTS_PER_DAY};
use crate::report::cdr::CallRow;

/// What the estimate saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub offered: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub days: u32,
    pub mean_talk_s: f64,
    pub talk_cv: f64,
    pub wrapup_s: f64,
    pub patience_s: Option<f64>,
}

/// Why no workload could be estimated from the call log.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The window runs past the dates the calendar supports.
    #[error(transparent)]
    Window(#[from] jiff::Error),
    #[error("no offered call in the call log from {from} for {weeks} weeks")]
    NoOfferedCall { from: Date, weeks: u32 },
    #[error("no answered call with a talk time in the window")]
    NoAnsweredCall,
}

/// The window and what to write.
#[derive(Debug, Clone)]
pub struct Window {
    /// First local day (inclusive).
    pub from: Date,
    pub weeks: u32,
    /// Days of the plan that starts after the window.
    pub horizon_days: u32,
}

/// A name the workload format accepts ([a-z0-9_-], at most 64).
fn clean(s: &str) -> String {
    let mut out: String = s
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if out.is_empty() {
        out.push_str("general");
    }
    out
}

fn round(x: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (x * p).round() / p
}

/// The workload file for `rows` (calls of the window), and what it saw.
pub fn estimate(
    rows: &[CallRow],
    window: &Window,
    tz: &TimeZone,
    holidays: &dyn Fn(Date) -> bool,
) -> Result<(String, Seen), HistoryError> {
    let days_total = window.weeks.saturating_mul(7);
    let end = window.from.checked_add((days_total as i64).days())?;
    // Weekday occurrences in the window, holidays excluded.
    let mut n_days = [0u32; 7];
    let mut d = window.from;
    let mut counted = 0;
    while d < end {
        if !holidays(d) {
            n_days[d.weekday().to_monday_zero_offset() as usize] += 1;
            counted += 1;
        }
        d = d.checked_add(1.day())?;
    }
    let mut counts = [[0f64; SLOTS_PER_DAY]; 7];
    let (mut offered, mut answered, mut abandoned) = (0u64, 0u64, 0u64);
    let (mut talk_sum, mut talk_sq, mut talk_n) = (0.0, 0.0, 0u64);
    let (mut wrap_sum, mut wrap_n) = (0.0, 0u64);
    let mut wait_sum = 0.0;
    let mut langs: BTreeMap<String, u64> = BTreeMap::new();
    // topic → (calls, queue → calls, Σ talk, talk samples)
    let mut topics: BTreeMap<String, (u64, BTreeMap<String, u64>, f64, u64)> = BTreeMap::new();
    for r in rows {
        let (true, Some(q)) = (r.offered, r.queued_ms) else {
            continue;
        };
        if r.end_ms.is_none() {
            continue;
        }
        let Ok(ts) = Timestamp::from_millisecond(q) else {
            continue;
        };
        let local = ts.to_zoned(tz.clone());
        let date = local.date();
        if date < window.from || date >= end || holidays(date) {
            continue;
        }
        let wd = date.weekday().to_monday_zero_offset() as usize;
        let slot = local.hour() as usize * 2 + usize::from(local.minute() >= 30);
        counts[wd][slot] += 1.0;
        offered += 1;
        wait_sum += r.wait_ms.unwrap_or(0).max(0) as f64 / 1000.0;
        abandoned += u64::from(r.abandoned);
        *langs
            .entry(clean(r.language.as_deref().unwrap_or("fr")))
            .or_default() += 1;
        let key = clean(
            r.topic
                .as_deref()
                .or(r.queue.as_deref())
                .unwrap_or("general"),
        );
        let t = topics.entry(key).or_default();
        t.0 += 1;
        *t.1.entry(clean(r.queue.as_deref().unwrap_or("general")))
            .or_default() += 1;
        if r.answered {
            answered += 1;
            if let Some(talk) = r.talk_ms {
                let x = talk.max(0) as f64 / 1000.0;
                talk_sum += x;
                talk_sq += x * x;
                talk_n += 1;
                t.2 += x;
                t.3 += 1;
            }
            if let Some(w) = r.wrapup_ms {
                wrap_sum += w.max(0) as f64 / 1000.0;
                wrap_n += 1;
            }
        }
    }
    if offered == 0 {
        return Err(HistoryError::NoOfferedCall {
            from: window.from,
            weeks: window.weeks,
        });
    }
    if talk_n == 0 {
        return Err(HistoryError::NoAnsweredCall);
    }
    let mean_talk = talk_sum / talk_n as f64;
    let var = (talk_sq / talk_n as f64 - mean_talk * mean_talk).max(0.0);
    let cv = if mean_talk > 0.0 {
        var.sqrt() / mean_talk
    } else {
        0.0
    };
    let wrapup = if wrap_n > 0 {
        wrap_sum / wrap_n as f64
    } else {
        0.0
    };
    let patience = (abandoned > 0).then(|| wait_sum / abandoned as f64);

    // Per weekday: mean calls per half-hour.
    let mut per_day = [0f64; 7];
    let mut mean = [[0f64; SLOTS_PER_DAY]; 7];
    for wd in 0..7 {
        if n_days[wd] > 0 {
            for k in 0..SLOTS_PER_DAY {
                mean[wd][k] = counts[wd][k] / f64::from(n_days[wd]);
            }
            per_day[wd] = mean[wd].iter().sum();
        }
    }
    let busy: Vec<usize> = (0..7).filter(|&d| per_day[d] > 0.0).collect();
    let calls_per_day = busy.iter().map(|&d| per_day[d]).sum::<f64>() / busy.len().max(1) as f64;
    let first = (0..SLOTS_PER_DAY)
        .find(|&k| busy.iter().any(|&d| mean[d][k] > 0.0))
        .unwrap_or(0);
    let last = (0..SLOTS_PER_DAY)
        .rev()
        .find(|&k| busy.iter().any(|&d| mean[d][k] > 0.0))
        .unwrap_or(first);
    let row = |v: &[f64]| -> String {
        v[first..=last]
            .iter()
            .map(|x| format!("{}", round(*x, 2)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut all = [0f64; SLOTS_PER_DAY];
    for &d in &busy {
        for k in 0..SLOTS_PER_DAY {
            all[k] += mean[d][k];
        }
    }

    let start = end;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# Workload estimated from the call log by `centrale plan --from-log`."
    );
    let _ = writeln!(
        t,
        "# Window: {} .. {} ({} weeks, {counted} days counted, holidays excluded); {offered} offered calls,",
        window.from, end, window.weeks
    );
    let _ = writeln!(t, "# {answered} answered, {abandoned} abandoned.");
    let _ = writeln!(t, "# Estimators (docs/staffing.md):");
    let _ = writeln!(
        t,
        "#   arrivals = offered calls per local weekday and half-hour / number of such weekdays;"
    );
    let _ = writeln!(
        t,
        "#   talk = mean and cv of answered calls' talk (log-normal); wrap-up = mean wrap-up;"
    );
    let _ = writeln!(
        t,
        "#   patience = sum of queue waits of all offered callers / abandons (exponential,"
    );
    let _ = writeln!(
        t,
        "#   censored maximum likelihood); shares = among offered calls."
    );
    let _ = writeln!(
        t,
        "# The window is one stretch of the year: no season factors are guessed. The ring delay"
    );
    let _ = writeln!(
        t,
        "# is not in the call rows (default 2-4 s). Add [[agents]] or pass --agents-file.\n"
    );
    let _ = writeln!(t, "[workload]");
    let _ = writeln!(
        t,
        "name = \"from the call log, {} + {} weeks\"",
        window.from, window.weeks
    );
    let _ = writeln!(t, "start = \"{start}\"");
    let _ = writeln!(t, "days = {}\n", window.horizon_days.max(1));
    let _ = writeln!(t, "[arrivals]");
    let _ = writeln!(t, "calls_per_day = {}", round(calls_per_day, 2));
    let _ = writeln!(
        t,
        "profile_start = \"{:02}:{:02}\"",
        first / 2,
        (first % 2) * 30
    );
    let _ = writeln!(t, "profile = [{}]", row(&all));
    let _ = writeln!(t, "[arrivals.weekdays]");
    for &d in &busy {
        let _ = writeln!(
            t,
            "{} = {}",
            weekday_key(d),
            round(per_day[d] / calls_per_day, 4)
        );
    }
    let _ = writeln!(t, "[arrivals.profiles]");
    for &d in &busy {
        let _ = writeln!(t, "{} = [{}]", weekday_key(d), row(&mean[d]));
    }
    let _ = writeln!(t, "\n[languages]");
    for (l, n) in &langs {
        let _ = writeln!(t, "{l} = {}", round(*n as f64 / offered as f64, 4));
    }
    for (name, (n, queues, tsum, tn)) in &topics {
        let queue = queues
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map_or("general", |q| q.0.as_str());
        let _ = writeln!(t, "\n[topics.{name}]");
        let _ = writeln!(t, "share = {}", round(*n as f64 / offered as f64, 4));
        let _ = writeln!(t, "queue = \"{queue}\"");
        if *tn >= 30 {
            let _ = writeln!(t, "talk_mean_s = {}", round(tsum / *tn as f64, 1));
        }
    }
    let _ = writeln!(t, "\n[handling]");
    let _ = writeln!(t, "talk_mean_s = {}", round(mean_talk.max(1.0), 1));
    let _ = writeln!(t, "talk_distribution = \"lognormal\"");
    let _ = writeln!(t, "talk_cv = {}", round(cv, 3));
    let _ = writeln!(t, "wrapup_s = {}", wrapup.round() as i64);
    if let Some(p) = patience {
        let _ = writeln!(t, "patience_mean_s = {}", round(p, 1));
    } else {
        let _ = writeln!(t, "# nobody abandoned in the window: no patience model");
    }
    Ok((
        t,
        Seen {
            offered,
            answered,
            abandoned,
            days: counted,
            mean_talk_s: mean_talk,
            talk_cv: cv,
            wrapup_s: wrapup,
            patience_s: patience,
        },
    ))
}
