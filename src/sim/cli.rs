//! `centrale simulate` and `centrale plan`: arguments, reading the workload, dial plan,
//! agents.toml and call log, the progress line on stderr, and writing the output.
//!
//! Owns: every file, database and terminal access of the staffing tools, and the wall-clock
//! reads (elapsed time on stderr, "today" as the default end of a `--from-log` window). Never
//! does: simulation or arithmetic (`engine`, `plan`, `collect`), so the output for a given
//! seed never depends on the machine.

use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use jiff::civil::Date;
use jiff::ToSpan;

use super::collect::{Collector, Waits};
use super::engine;
use super::history;
use super::plan::{self, PlanOptions};
use super::scenario::{self, Options, Scenario};
use super::workload::Workload;
use crate::acd::agents::{AgentDef, AgentsFile};
use crate::dialplan::load::{load_dir, PromptLookup};
use crate::dialplan::model::Plan;
use crate::media::prompt::Lang;
use crate::report::interval::{self, Bucket};
use crate::report::metrics::Params;
use crate::report::{render, Format, ReportArgs};

/// `centrale simulate`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// Workload file (see workloads/ and docs/staffing.md).
    #[arg(long)]
    pub workload: PathBuf,
    /// Agents from this agents.toml instead of the workload's [[agents]], working the
    /// workload's [schedule].
    #[arg(long)]
    pub agents: Option<PathBuf>,
    /// Dial plan directory: its queues (skills, relaxation, overflow, seasons), calendar
    /// (hours, holidays, seasons) and queue nodes per topic.
    #[arg(long)]
    pub plan: Option<PathBuf>,
    /// Random seed (default: the workload's, else 1). Same seed, same output.
    #[arg(long)]
    pub seed: Option<u64>,
    /// First day (default: the workload's start).
    #[arg(long)]
    pub start: Option<String>,
    /// Number of days (default: the workload's).
    #[arg(long)]
    pub days: Option<u32>,
    /// Multiply call volume and every agent group's headcount (size a bigger centre).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Interval of each line (15min, hour, day, ISO week, month, season).
    #[arg(long, value_enum, default_value = "day")]
    pub by: Bucket,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// tau, seconds: abandons with a shorter wait are short abandons (as `centrale report`).
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
    /// No progress line on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// Instead of the call figures: how right the announced waits were (the figures of
    /// `centrale report --waits`, computed by the same code on the simulated call log).
    #[arg(long)]
    pub waits: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    Table,
    Csv,
    Json,
}

/// `centrale plan`.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// Workload file (or --from-log).
    #[arg(long, required_unless_present = "from_log")]
    pub workload: Option<PathBuf>,
    /// Build the workload from the call log instead (--weeks of history before --until).
    #[arg(long, conflicts_with = "workload")]
    pub from_log: bool,
    /// Weeks of history for --from-log (1 to 520: ten years).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=520))]
    pub weeks: u32,
    /// End of the --from-log window, a local date (exclusive; default today).
    #[arg(long)]
    pub until: Option<String>,
    /// Days to plan after the --from-log window.
    #[arg(long, default_value_t = 28)]
    pub horizon: u32,
    /// Database URL for --from-log: sqlite://FILE or postgres://…
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://centrale.db")]
    pub database: String,
    /// Also write the workload built by --from-log to this file.
    #[arg(long)]
    pub write_workload: Option<PathBuf>,
    /// Service-level goal: percent / seconds.
    #[arg(long, default_value = "80/100")]
    pub target: String,
    /// Share of paid time off the phones (0.3 = 30 %): roster = ceil(agents / (1 - s)).
    #[arg(long, default_value_t = 0.0)]
    pub shrinkage: f64,
    /// What-if: this many agents on the phones whenever the centre is open.
    #[arg(long)]
    pub agents: Option<u32>,
    /// Agent skills for the simulated plan from this agents.toml (default: the workload's
    /// groups, else generalists).
    #[arg(long)]
    pub agents_file: Option<PathBuf>,
    /// Only this season (e.g. ete).
    #[arg(long)]
    pub season: Option<String>,
    /// Dial plan directory (queues, calendar, queue nodes).
    #[arg(long)]
    pub plan: Option<PathBuf>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// tau, seconds (short abandons).
    #[arg(long = "short-abandon", default_value_t = 5)]
    pub short_abandon_s: u64,
    /// Erlang only: skip the simulation.
    #[arg(long)]
    pub no_sim: bool,
    #[arg(long, value_enum, default_value = "table")]
    pub format: PlanFormat,
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, short)]
    pub quiet: bool,
}

/// The simulator plays no prompt: every prompt "exists" for plan validation.
pub(crate) struct NoPrompts;

impl PromptLookup for NoPrompts {
    fn has(&self, _: &str, _: Lang) -> bool {
        true
    }
    fn text(&self, _: &str, _: Lang) -> Option<String> {
        None
    }
}

fn load_plan(dir: Option<&Path>) -> anyhow::Result<Option<Plan>> {
    let Some(dir) = dir else {
        return Ok(None);
    };
    match load_dir(dir, &NoPrompts) {
        Ok(p) => Ok(Some(p)),
        Err(diags) => {
            let lines: Vec<String> = diags.iter().map(ToString::to_string).collect();
            bail!(
                "{}\n{} has {} error(s)",
                lines.join("\n"),
                dir.display(),
                diags.len()
            )
        }
    }
}

fn load_agents(path: Option<&Path>) -> anyhow::Result<Option<Vec<AgentDef>>> {
    let Some(p) = path else {
        return Ok(None);
    };
    if !p.exists() {
        bail!("{}: no such agents file", p.display());
    }
    Ok(Some(AgentsFile::load(p)?.agents))
}

fn parse_date(s: &str) -> anyhow::Result<Date> {
    s.trim()
        .parse()
        .with_context(|| format!("{s:?} is not a date like 2027-01-04"))
}

/// A carriage-return percentage on stderr, only on a terminal.
struct Progress {
    on: bool,
    last: i64,
    label: String,
}

impl Progress {
    fn new(quiet: bool, label: &str) -> Progress {
        Progress {
            on: !quiet && std::io::stderr().is_terminal(),
            last: -1,
            label: label.to_string(),
        }
    }

    fn update(&mut self, frac: f64) {
        let pct = (frac.clamp(0.0, 1.0) * 100.0).floor() as i64;
        if self.on && pct != self.last {
            self.last = pct;
            let mut e = std::io::stderr();
            let _ = write!(e, "\r{}: {pct:3}%", self.label);
            let _ = e.flush();
        }
    }

    fn done(&self, message: &str) {
        if self.on {
            eprintln!("\r{}: {message}", self.label);
        }
    }
}

fn write_out(out: Option<&Path>, text: String) -> anyhow::Result<String> {
    match out {
        Some(path) => {
            std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
            Ok(format!("written to {}\n", path.display()))
        }
        None => Ok(text),
    }
}

/// Local date string of an epoch ms in the report's zone.
fn local_label(ms: u64, tz: &jiff::tz::TimeZone) -> String {
    jiff::Timestamp::from_millisecond(ms as i64)
        .map(|t| {
            t.to_zoned(tz.clone())
                .strftime("%Y-%m-%dT%H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

/// Simulate a built scenario into a report.
pub fn simulate_report(
    sc: &Scenario,
    seed: u64,
    by: Bucket,
    params: Params,
    progress: &mut dyn FnMut(f64),
) -> anyhow::Result<(crate::report::Report, engine::Stats)> {
    let tz = interval::report_tz()?;
    let from = jiff::Timestamp::from_millisecond(sc.start_ms as i64)?;
    let to = jiff::Timestamp::from_millisecond(sc.end_ms as i64)?;
    let ivs = interval::intervals(from, to, by, &tz, &sc.season_spans)?;
    let mut col = Collector::new(ivs, params);
    let stats = engine::run(sc, seed, &mut col, progress);
    let meta = ReportArgs {
        database: String::new(),
        from: local_label(sc.start_ms, &tz),
        to: local_label(sc.end_ms, &tz),
        by,
        queue: None,
        format: Format::Table,
        short_abandon_s: (params.short_abandon_ms / 1000) as u64,
        threshold_s: (params.threshold_ms / 1000) as u64,
        target_pct: params.target_pct,
        out: None,
        no_rollup: false,
        waits: false,
        dispositions: false,
    };
    Ok((col.report(&meta), stats))
}

/// Simulate a built scenario into the wait-accuracy report (announcements made from the
/// scenario's start to its end).
pub fn simulate_waits(
    sc: &Scenario,
    seed: u64,
    title: String,
    progress: &mut dyn FnMut(f64),
) -> (crate::report::waits::WaitsReport, engine::Stats) {
    let mut waits = Waits::new(sc.start_ms as i64, sc.end_ms as i64);
    let stats = engine::run(sc, seed, &mut waits, progress);
    waits.finish();
    let report = crate::report::waits::WaitsReport {
        title,
        open: waits.open(),
        lines: waits.accuracy.lines(),
    };
    (report, stats)
}

/// `centrale wait-grid`.
pub fn run_wait_grid(args: super::grid::GridArgs) -> anyhow::Result<String> {
    if !matches!(args.format.as_str(), "table" | "csv") {
        bail!("--format is table or csv");
    }
    if args.occupancy.iter().any(|o| !(o.is_finite() && *o > 0.0))
        || args.patience.iter().any(|p| !(p.is_finite() && *p > 0.0))
        || args.agents.contains(&0)
        || !(args.aht.is_finite() && args.aht > 0.0)
    {
        bail!("agents, occupancy, patience and AHT must be > 0");
    }
    let results = super::grid::run(&args);
    Ok(super::grid::render(&results, args.format == "csv"))
}

/// `centrale simulate`: the report of the simulated traffic (or where it was written).
pub fn run_simulate(args: SimulateArgs) -> anyhow::Result<String> {
    let w = Workload::load(&args.workload)?;
    let plan = load_plan(args.plan.as_deref())?;
    let opts = Options {
        scale: args.scale,
        start: args.start.as_deref().map(parse_date).transpose()?,
        days: args.days,
        agents: load_agents(args.agents.as_deref())?,
    };
    if !(args.scale.is_finite() && args.scale > 0.0) {
        bail!("--scale must be > 0");
    }
    let sc = scenario::build(&w, plan.as_ref(), &opts)?;
    let gaps = scenario::coverage_gaps(&sc);
    for g in &gaps {
        eprintln!(
            "WARNING: no agent can ever take callers of {g}: they will wait until they give up"
        );
    }
    let seed = args.seed.or(w.seed).unwrap_or(1);
    let params = Params {
        short_abandon_ms: (args.short_abandon_s as i64).saturating_mul(1000),
        threshold_ms: (args.threshold_s as i64).saturating_mul(1000),
        target_pct: args.target_pct,
    };
    let mut bar = Progress::new(args.quiet, &format!("simulating {}", w.name));
    let started = Instant::now();
    if args.waits {
        let title = format!(
            "centrale simulate --waits — {}: {} days from {}, seed {seed}",
            w.name,
            sc.days.len(),
            sc.days
                .first()
                .map(|d| d.date.to_string())
                .unwrap_or_default()
        );
        let (report, _) = simulate_waits(&sc, seed, title, &mut |f| bar.update(f));
        bar.done(&format!("done in {:.2} s", started.elapsed().as_secs_f64()));
        return write_out(
            args.out.as_deref(),
            crate::report::waits::render::render(&report, args.format)?,
        );
    }
    let (report, stats) = simulate_report(&sc, seed, args.by, params, &mut |f| bar.update(f))?;
    let secs = started.elapsed().as_secs_f64();
    bar.done(&format!(
        "{} calls in {secs:.2} s ({:.0} calls/s)",
        stats.arrivals,
        stats.arrivals as f64 / secs.max(1e-9)
    ));
    let mut text = String::new();
    if args.format == Format::Table {
        for g in &gaps {
            text.push_str(&format!(
                "WARNING: no agent can ever take callers of {g} (they are the unfinished calls)\n"
            ));
        }
        text.push_str(&format!(
            "centrale simulate — {}: {} days from {}, seed {seed}, {} agents{}; {} calls ({} offered, \
             {} callbacks dialled, {} unfinished)\n",
            w.name,
            sc.days.len(),
            sc.days.first().map(|d| d.date.to_string()).unwrap_or_default(),
            sc.agents.len(),
            args.plan
                .as_ref()
                .map(|p| format!(", plan {}", p.display()))
                .unwrap_or_default(),
            stats.arrivals,
            stats.offered,
            stats.callbacks_dialled,
            stats.unfinished
        ));
    }
    text.push_str(&render::render(&report, args.format)?);
    write_out(args.out.as_deref(), text)
}

/// `centrale plan`: agents per half-hour and season, Erlang next to the simulation.
pub async fn run_plan(args: PlanArgs) -> anyhow::Result<String> {
    let target = plan::parse_target(&args.target)?;
    if !(0.0..1.0).contains(&args.shrinkage) {
        bail!("--shrinkage is a share in [0, 1), e.g. 0.3");
    }
    let planf = load_plan(args.plan.as_deref())?;
    let w = if args.from_log {
        let tz = planf
            .as_ref()
            .and_then(|p| p.calendar(None))
            .map(|c| c.tz.clone())
            .unwrap_or_else(crate::dialplan::calendar::Calendar::default_time_zone);
        let until = match &args.until {
            Some(s) => parse_date(s)?,
            None => jiff::Timestamp::now().to_zoned(tz.clone()).date(),
        };
        let from = until
            .checked_sub((i64::from(args.weeks) * 7).days())
            .context("--weeks reaches before the calendar")?;
        let db = crate::store::Db::open(&args.database).await?;
        let lo = interval::parse_time(&from.to_string(), &tz)?.as_millisecond();
        let hi = interval::parse_time(&until.to_string(), &tz)?.as_millisecond();
        // A call's queue entry may come a little after its start: read a day either side.
        let rows = crate::store::query::calls(&db, lo - 86_400_000, hi + 86_400_000).await;
        db.close().await;
        let rows = rows?;
        let cal = planf.as_ref().and_then(|p| p.calendar(None)).cloned();
        let holiday = move |d: Date| cal.as_ref().is_some_and(|c| c.holiday_on(d).is_some());
        let window = history::Window {
            from,
            weeks: args.weeks,
            horizon_days: args.horizon,
        };
        let (text, _) = history::estimate(&rows, &window, &tz, &holiday)?;
        if let Some(p) = &args.write_workload {
            std::fs::write(p, &text).with_context(|| format!("writing {}", p.display()))?;
        }
        Workload::parse(&text, Path::new("<from-log>"))?
    } else {
        let Some(path) = &args.workload else {
            bail!("give --workload FILE or --from-log");
        };
        Workload::load(path)?
    };
    let file_agents = load_agents(args.agents_file.as_deref())?;
    let sc = scenario::build(&w, planf.as_ref(), &Options::default())?;
    if let Some(s) = &args.season {
        if !sc.season_spans.iter().any(|x| &x.name == s) {
            bail!(
                "unknown season {s:?}: {}",
                sc.season_spans
                    .iter()
                    .map(|x| x.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let templates = plan::templates(&sc, &w, file_agents.as_deref());
    let opts = PlanOptions {
        target,
        short_abandon_s: args.short_abandon_s as f64,
        shrinkage: args.shrinkage,
        fixed_agents: args.agents,
        season: args.season.clone(),
        simulate: !args.no_sim,
    };
    let seed = args.seed.or(w.seed).unwrap_or(1);
    let mut bar = Progress::new(args.quiet || args.no_sim, &format!("planning {}", w.name));
    let started = Instant::now();
    let p = plan::plan(sc, &w, &templates, &opts, seed, &mut |f| bar.update(f));
    bar.done(&format!("done in {:.2} s", started.elapsed().as_secs_f64()));
    let text = match args.format {
        PlanFormat::Table => p.to_table(),
        PlanFormat::Csv => p.to_csv(),
        PlanFormat::Json => p.to_json()?,
    };
    write_out(args.out.as_deref(), text)
}
