//! `centrale report` and `centrale seed`: call-centre figures per interval from the call log,
//! and a generator of realistic 311 traffic to try them on.
//!
//! Files: `cdr` (events → the `calls` row, re-exported from the crate's `cdr`), `interval`
//! (local-time buckets), `metrics` (the formulas), `render` (table, csv, json, html/svg chart),
//! `seed` (synthetic traffic), `waits` (how right the announced waits were: `report --waits`).
//! Never does: write the live log (`store`), or read the clock except to stop staffed time at
//! "now" for a report that reaches into the future.

pub mod cdr;
pub mod dispositions;
pub mod interval;
pub mod metrics;
pub mod render;
pub mod seed;
pub mod today;
pub mod waits;

#[cfg(test)]
mod db_tests;

use std::path::PathBuf;

use serde::Serialize;

use crate::store::query::{self, Range};
use crate::store::Db;
use interval::{Bucket, Interval};
use metrics::{AgentTime, Breakdowns, Figures, Params, Tally};
pub use seed::{run_seed, SeedArgs};

/// Every formula of the report, shown by `centrale report --help` (and in docs/metrics.md).
pub const FORMULAS: &str = "\
Formulas (a call counts in the interval where it STARTED; local time America/Toronto;
only ended calls count; durations from the call's events):
  Offered O        calls that entered a queue (IVR-only calls are not offered)
  Answered A       offered calls an agent answered
  Abandoned Ab     offered, never answered, and the caller hung up while queued;
                   callbacks, overflow and closing are flow-outs, not abandons
  Short Ab_s       abandons with queue wait < tau (--short-abandon, default 5 s)
  Abandoned (shown) = Ab - Ab_s        Abandon % = (Ab - Ab_s) / (O - Ab_s)
  Queue wait       first queue entry -> agent answer (ring time included, IVR time not);
                   for unanswered calls, first queue entry -> leaving the queue
  SL_T             answered with wait <= T / (O - Ab_s)   (T = --threshold, default 100 s;
                   target --target, default 80 %)
  ASA              sum of waits of answered calls / A
  Longest wait     max queue wait of any offered call
  AHT              sum (talk + wrap-up) / A; talk = agent answer -> call end (hold included),
                   wrap-up = call end -> wrapup_ended
  Agent-hours      time agents spent in any state but logged_out (all queues)
  Calls/agent-hour A / agent-hours
  Occupancy        handle / (handle + available idle) = sum(talk + wrap-up) /
                   (agent time - paused time)
  IVR outcomes     self-served (self-served, completed), after-hours, redirected to 911,
                   811 or other (redirect:*, transfer:*), callbacks, abandoned in IVR, queued
  Resumed place    a caller who hung up and called again within the queue's resume_window
                   is one caller: the later call's wait includes the time held before; the
                   earlier call is neither offered nor abandoned
A ratio with a zero denominator is shown as '-'.
--waits: each announcement's estimate against the wait the caller would have had by holding
(see docs/metrics.md): bias = median(estimate - actual), errors, shares within 30 s / 25 %,
next to Asterisk's smoothed hold time and position x AHT / agents, per queue and load band.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Table,
    Csv,
    Json,
    /// A page with the chart and the tables (no script, no external asset).
    Html,
    /// The chart alone.
    Svg,
}

/// `centrale report`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_long_help = FORMULAS)]
pub struct ReportArgs {
    /// Database URL: sqlite://FILE or postgres://…
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://centrale.db")]
    pub database: String,
    /// Start, local time: 2027-01-01 or 2027-01-01T08:00 (inclusive).
    #[arg(long)]
    pub from: String,
    /// End, local time: 2028-01-01 or 2027-01-01T19:00 (exclusive).
    #[arg(long)]
    pub to: String,
    /// Interval of each line (15min, hour, day, ISO week, month, season).
    #[arg(long, value_enum, default_value = "hour")]
    pub by: Bucket,
    /// Only calls whose (answering, else last) queue is this one.
    #[arg(long)]
    pub queue: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// tau, seconds: an abandon with a shorter queue wait is a short abandon, excluded from
    /// the abandons and from the SL and abandon-rate denominators.
    #[arg(long = "short-abandon", default_value_t = 5)]
    pub short_abandon_s: u64,
    /// T, seconds: answered within T counts towards the service level.
    #[arg(long = "threshold", default_value_t = 100)]
    pub threshold_s: u64,
    /// Target service level, percent (drawn on the chart).
    #[arg(long = "target", default_value_t = 80.0)]
    pub target_pct: f64,
    /// Write the output to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Sum every call instead of reading the per-hour and per-day rollups (same output,
    /// slower; for checking them). Non-default --short-abandon or --threshold, and intervals
    /// shorter than an hour, always read every call.
    #[arg(long = "no-rollup")]
    pub no_rollup: bool,
    /// Instead of the call figures: how right the announced waits were — each announcement's
    /// estimate against the wait that followed, per queue and load band, next to the
    /// Asterisk-style and position x AHT / agents baselines (table, csv or json).
    #[arg(long)]
    pub waits: bool,
    /// Instead of the call figures: the dispositions agents recorded after their calls, per
    /// queue and code (table, csv or json).
    #[arg(long)]
    pub dispositions: bool,
}

/// One line of a report: an interval, the total, or one key of a breakdown.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_ms: Option<i64>,
    #[serde(flatten)]
    pub figures: Figures,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub from: String,
    pub to: String,
    pub by: Bucket,
    pub queue: Option<String>,
    pub time_zone: &'static str,
    pub params: Params,
    pub intervals: Vec<Line>,
    pub total: Line,
    pub by_queue: Vec<Line>,
    pub by_language: Vec<Line>,
    pub by_topic: Vec<Line>,
    pub by_agent: Vec<Line>,
}

/// How far before `--from` agent states are read to know who was already logged in.
const AGENT_LOOKBACK_MS: i64 = 24 * 3_600_000;

/// Compute a report from an open database.
pub async fn build(
    db: &Db,
    args: &ReportArgs,
    now_ms: i64,
    seasons: &[interval::SeasonSpan],
) -> anyhow::Result<Report> {
    let tz = interval::report_tz()?;
    let from = interval::parse_time(&args.from, &tz)?;
    let to = interval::parse_time(&args.to, &tz)?;
    let ivs = interval::intervals(from, to, args.by, &tz, seasons)?;
    let slot = interval::slot_ms(&ivs);
    let p = Params {
        short_abandon_ms: (args.short_abandon_s as i64).saturating_mul(1000),
        threshold_ms: (args.threshold_s as i64).saturating_mul(1000),
        target_pct: args.target_pct,
    };
    let range = Range {
        from_ms: from.as_millisecond(),
        to_ms: to.as_millisecond(),
        queue: args.queue.clone(),
        rollup: !args.no_rollup,
    };
    // Three independent reads, concurrently (WAL readers on SQLite, pool connections on PG).
    let (slots, dims, agents) = tokio::join!(
        query::tally_by_slot(db, &range, slot, &p),
        query::tally_by_dims(db, &range, &p),
        query::staffing_changes(db, range.from_ms - AGENT_LOOKBACK_MS, range.to_ms),
    );
    let (slots, dims, agents) = (slots?, dims?, agents?);
    let mut tallies = vec![Tally::default(); ivs.len()];
    for (s, t) in &slots {
        if let Some(i) = interval::find(&ivs, s.saturating_mul(slot)) {
            tallies[i].merge(t);
        }
    }
    // Staffed time runs to the end of the report, but not past now (an agent logged in now
    // is not staffed tomorrow), unless the log itself reaches further (seeded or simulated
    // traffic with a shifted clock).
    let latest = agents.iter().map(|e| e.at_ms).max().unwrap_or(i64::MIN);
    let until = range.to_ms.min(now_ms.max(latest).max(range.from_ms));
    let (times, per_agent) = metrics::agent_time(&agents, &ivs, until);
    Ok(assemble(args, &ivs, &tallies, &times, &per_agent, &dims, p))
}

/// A report from interval tallies, staffed time and breakdown tallies (`build` reads them
/// from the database; the simulator sums its own calls with the same `metrics`). Only
/// `args.from`, `to`, `by` and `queue` are read (for the title).
pub fn assemble(
    args: &ReportArgs,
    ivs: &[Interval],
    tallies: &[Tally],
    times: &[AgentTime],
    per_agent: &std::collections::BTreeMap<String, AgentTime>,
    dims: &[(metrics::Dims, Tally)],
    p: Params,
) -> Report {
    let mut total = Tally::default();
    let mut total_time = AgentTime::default();
    let mut lines = Vec::with_capacity(ivs.len());
    for ((iv, t), a) in ivs.iter().zip(tallies).zip(times) {
        total.merge(t);
        total_time.merge(a);
        lines.push(Line {
            key: iv.label.clone(),
            start_ms: Some(iv.start_ms),
            end_ms: Some(iv.end_ms),
            figures: Figures::new(t, Some(a)),
        });
    }
    let b = Breakdowns::fold(dims);
    let plain = |m: &std::collections::BTreeMap<String, Tally>| -> Vec<Line> {
        m.iter()
            .map(|(k, t)| Line {
                key: k.clone(),
                start_ms: None,
                end_ms: None,
                figures: Figures::new(t, None),
            })
            .collect()
    };
    // Agents: those who answered calls and those who were only logged in.
    let mut agent_keys: std::collections::BTreeSet<&String> = b.agent.keys().collect();
    agent_keys.extend(per_agent.keys());
    let none = Tally::default();
    let by_agent = agent_keys
        .into_iter()
        .map(|k| Line {
            key: k.clone(),
            start_ms: None,
            end_ms: None,
            figures: Figures::new(b.agent.get(k).unwrap_or(&none), per_agent.get(k)),
        })
        .collect();
    Report {
        from: args.from.clone(),
        to: args.to.clone(),
        by: args.by,
        queue: args.queue.clone(),
        time_zone: interval::REPORT_TIME_ZONE,
        params: p,
        intervals: lines,
        total: Line {
            key: "total".into(),
            start_ms: ivs.first().map(|i| i.start_ms),
            end_ms: ivs.last().map(|i| i.end_ms),
            figures: Figures::new(&total, Some(&total_time)),
        },
        by_queue: plain(&b.queue),
        by_language: plain(&b.language),
        by_topic: plain(&b.topic),
        by_agent,
    }
}

/// `centrale report --waits`: the wait-accuracy report of the call log.
async fn run_waits(args: &ReportArgs) -> anyhow::Result<String> {
    let tz = interval::report_tz()?;
    let from = interval::parse_time(&args.from, &tz)?.as_millisecond();
    let to = interval::parse_time(&args.to, &tz)?.as_millisecond();
    let db = Db::open(&args.database).await?;
    let built = waits::build(&db, from, to, args.queue.as_deref()).await;
    db.close().await;
    let (acc, open) = built?;
    let report = waits::WaitsReport {
        title: format!(
            "centrale report --waits {} .. {}{} ({})",
            args.from,
            args.to,
            args.queue
                .as_ref()
                .map(|q| format!(", queue {q}"))
                .unwrap_or_default(),
            interval::REPORT_TIME_ZONE
        ),
        open,
        lines: acc.lines(),
    };
    waits::render::render(&report, args.format)
}

/// `centrale report`: the rendered report (or, with `--out`, a line saying where it went).
pub async fn run_report(args: ReportArgs) -> anyhow::Result<String> {
    if args.waits || args.dispositions {
        let text = if args.waits {
            run_waits(&args).await?
        } else {
            dispositions::run(&args).await?
        };
        return match &args.out {
            Some(path) => {
                std::fs::write(path, &text)?;
                Ok(format!("report written to {}\n", path.display()))
            }
            None => Ok(text),
        };
    }
    let db = Db::open(&args.database).await?;
    let report = build(
        &db,
        &args,
        crate::event::now_ms(),
        &interval::default_seasons(),
    )
    .await;
    db.close().await;
    let text = render::render(&report?, args.format)?;
    match &args.out {
        Some(path) => {
            std::fs::write(path, &text)?;
            Ok(format!("report written to {}\n", path.display()))
        }
        None => Ok(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        report: ReportArgs,
    }

    #[test]
    fn help_states_every_formula() {
        let help = Cli::command().render_long_help().to_string();
        for needle in [
            "SL_T",
            "(O - Ab_s)",
            "ASA",
            "AHT",
            "Occupancy",
            "Calls/agent-hour",
            "short-abandon",
        ] {
            assert!(help.contains(needle), "{needle} missing from --help");
        }
        let a = Cli::try_parse_from([
            "x",
            "--from",
            "2027-01-01",
            "--to",
            "2027-02-01",
            "--by",
            "15min",
            "--format",
            "csv",
        ])
        .unwrap()
        .report;
        assert_eq!(a.by, Bucket::Min15);
        assert_eq!(a.short_abandon_s, 5);
    }
}
