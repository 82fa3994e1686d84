//! `centrale report --dispositions`: what agents recorded after their calls (the desktop's
//! wrap-up), counted per queue and code for the calls of the range, from the call log.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::{interval, Format, ReportArgs};
use crate::store::Db;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    pub queue: String,
    pub disposition: String,
    pub calls: u64,
    /// Of the queue's calls with a disposition, percent.
    pub share_pct: u64,
}

/// Count the dispositions per (queue, code), largest first within each queue.
pub fn count(rows: &[(String, String)]) -> Vec<Line> {
    let mut by: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut per_queue: BTreeMap<String, u64> = BTreeMap::new();
    for (q, code) in rows {
        *by.entry((q.clone(), code.clone())).or_default() += 1;
        *per_queue.entry(q.clone()).or_default() += 1;
    }
    let mut lines: Vec<Line> = by
        .into_iter()
        .map(|((queue, disposition), calls)| {
            let total = per_queue.get(&queue).copied().unwrap_or(1).max(1);
            Line {
                share_pct: (calls * 100 + total / 2) / total,
                queue,
                disposition,
                calls,
            }
        })
        .collect();
    lines.sort_by(|a, b| a.queue.cmp(&b.queue).then(b.calls.cmp(&a.calls)));
    lines
}

pub async fn run(args: &ReportArgs) -> anyhow::Result<String> {
    let tz = interval::report_tz()?;
    let from = interval::parse_time(&args.from, &tz)?.as_millisecond();
    let to = interval::parse_time(&args.to, &tz)?.as_millisecond();
    let db = Db::open(&args.database).await?;
    let rows = crate::store::history::dispositions(&db, from, to, args.queue.as_deref()).await;
    db.close().await;
    let lines = count(&rows?);
    render(
        &lines,
        &format!("dispositions {} .. {}", args.from, args.to),
        args.format,
    )
}

pub fn render(lines: &[Line], title: &str, format: Format) -> anyhow::Result<String> {
    let mut out = String::new();
    match format {
        Format::Json => out = serde_json::to_string_pretty(lines)? + "\n",
        Format::Csv => {
            out.push_str("queue,disposition,calls,share_pct\n");
            for l in lines {
                let code = l.disposition.replace('"', "\"\"");
                let _ = writeln!(out, "{},\"{code}\",{},{}", l.queue, l.calls, l.share_pct);
            }
        }
        _ => {
            let _ = writeln!(out, "{title}\n");
            let _ = writeln!(
                out,
                "{:<16} {:<32} {:>6} {:>6}",
                "queue", "disposition", "calls", "%"
            );
            for l in lines {
                let _ = writeln!(
                    out,
                    "{:<16} {:<32} {:>6} {:>5}%",
                    l.queue, l.disposition, l.calls, l.share_pct
                );
            }
            if lines.is_empty() {
                out.push_str("(no disposition recorded in this range)\n");
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_queue_and_code_largest_first() {
        let rows = vec![
            ("general".to_string(), "information donnée".to_string()),
            ("general".to_string(), "requête ouverte".to_string()),
            ("general".to_string(), "information donnée".to_string()),
            ("permis".to_string(), "transféré".to_string()),
        ];
        let lines = count(&rows);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].disposition, "information donnée");
        assert_eq!((lines[0].calls, lines[0].share_pct), (2, 67));
        assert_eq!(lines[2].queue, "permis");
        let csv = render(&lines, "t", Format::Csv).unwrap();
        assert!(csv.contains("general,\"information donnée\",2,67"), "{csv}");
    }
}
