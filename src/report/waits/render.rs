//! `report --waits` and `simulate --waits` output: an aligned table, CSV (one row per line,
//! every figure a column) or JSON. Never computes a figure (`stats::Line` has them all).

use serde::Serialize;

use super::stats::{ErrorFigures, Line};
use crate::report::Format;

/// A rendered waits report: a title and its lines.
#[derive(Debug, Clone, Serialize)]
pub struct WaitsReport {
    pub title: String,
    /// Announcements still without an outcome when the log ended (not in any line).
    pub open: usize,
    pub lines: Vec<Line>,
}

fn o<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |x| x.to_string())
}

fn f1(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.1}"))
}

fn f0(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.0}"))
}

/// (header, value) of every column.
fn columns(l: &Line) -> Vec<(String, String)> {
    let mut c = vec![
        ("queue".to_string(), l.queue.clone()),
        ("load".into(), l.band.clone()),
        ("told".into(), l.announcements.to_string()),
        ("late".into(), l.late.to_string()),
        ("no_est".into(), l.no_estimate.to_string()),
        ("potential".into(), l.potential.to_string()),
        ("answered".into(), l.answered.to_string()),
        ("abandoned".into(), l.abandoned.to_string()),
        ("callback".into(), l.callbacks.to_string()),
        ("wait_med_s".into(), o(l.median_wait_s)),
    ];
    let est = |c: &mut Vec<(String, String)>, name: &str, e: &ErrorFigures, full: bool| {
        c.push((format!("{name}_bias_s"), f1(e.median_err_s)));
        if full {
            c.push((format!("{name}_mean_err_s"), f1(e.mean_err_s)));
        }
        c.push((format!("{name}_mdae_s"), f1(e.median_abs_s)));
        if full {
            c.push((format!("{name}_p90ae_s"), f0(e.p90_abs_s)));
        }
        c.push((format!("{name}_mdre_pct"), f0(e.median_rel_pct)));
        if full {
            c.push((format!("{name}_in30s_pct"), f0(e.within_30s_pct)));
        }
        c.push((format!("{name}_in25pct_pct"), f0(e.within_25pct_pct)));
    };
    est(&mut c, "ours", &l.ours, true);
    est(&mut c, "ast", &l.asterisk, false);
    est(&mut c, "naive", &l.naive, false);
    for t in &l.longer_than_told_pct {
        c.push((format!("over{}m_pct", t.minutes), f0(t.longer_pct)));
    }
    c
}

pub fn render(r: &WaitsReport, format: Format) -> anyhow::Result<String> {
    Ok(match format {
        Format::Json => serde_json::to_string_pretty(r)? + "\n",
        Format::Csv => csv(r),
        Format::Table | Format::Html | Format::Svg => table(r),
    })
}

fn csv(r: &WaitsReport) -> String {
    let mut out = String::new();
    let Some(first) = r.lines.first() else {
        return out;
    };
    let head: Vec<String> = columns(first).into_iter().map(|(h, _)| h).collect();
    out.push_str(&head.join(","));
    out.push('\n');
    for l in &r.lines {
        let vals: Vec<String> = columns(l)
            .into_iter()
            .map(|(_, v)| {
                if v.contains([',', '"']) {
                    format!("\"{}\"", v.replace('"', "\"\""))
                } else {
                    v
                }
            })
            .collect();
        out.push_str(&vals.join(","));
        out.push('\n');
    }
    out
}

fn table(r: &WaitsReport) -> String {
    let mut out = format!("{}\n", r.title);
    out.push_str(LEGEND);
    if r.open > 0 {
        out.push_str(&format!(
            "({} callers still waiting at the end of the log are not counted)\n",
            r.open
        ));
    }
    let Some(first) = r.lines.first() else {
        out.push_str("\nno announcement in this period\n");
        return out;
    };
    let mut rows: Vec<Vec<String>> = vec![columns(first).into_iter().map(|(h, _)| h).collect()];
    for l in &r.lines {
        rows.push(columns(l).into_iter().map(|(_, v)| v).collect());
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    out.push('\n');
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i < 2 {
                    format!("{c:<w$}", w = widths[i])
                } else {
                    format!("{c:>w$}", w = widths[i])
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// What the columns mean (also in docs/metrics.md).
pub const LEGEND: &str = "\
One line per queue and load band (load = position / staffed agents able to take the call),
per queue (all) and for every queue together ((all)). told = announcements. Each estimate is
judged against the wait the caller would have had by holding: the wait that followed for
answered callers; for one who hung up or took a callback (potential), the moment the first
caller who entered the same queue after them was answered (or an agent answering that queue
became free), and for a callback when an agent answered it. bias = median(estimate - actual)
(negative = optimistic), mean_err = its mean, mdae/p90ae = median / 90th percentile of |error|, mdre = median
|error| / actual (actual floored at 10 s), in30s / in25pct = share within 30 s / within
25 %. ours = centrale's estimate; ast = Asterisk's (smoothed past hold time minus time
waited, ignoring position); naive = position x AHT / agents. overNm = share of callers told
under N minutes who waited longer.
";
