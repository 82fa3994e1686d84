//! The `centrale` command: run the server, check and dry-run dial plans, manage agents,
//! report on the call log, simulate and plan staffing.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use centrale::config::Config;
use centrale::dialplan::load::{load_dir, PromptLookup};
use centrale::media::prompt::{Lang, PromptSet};

#[derive(Parser)]
#[command(
    name = "centrale",
    version,
    about = "A telephony engine for municipal 311 lines: bilingual IVR, ACD, call log and reports",
    long_about = "centrale answers 3-1-1: SIP over UDP and TCP, G.711 prompts in French and English, \
DTMF, dial plans that admins edit (checked, hot-reloaded, dry-runnable), queues with skills, \
and a call log with the standard 311 metrics.\n\n\
Run it: `centrale serve` (no configuration file needed: listens on 127.0.0.1:5060, uses \
./prompts and ./dialplans/quebec, writes ./centrale.db)."
)]
struct Cli {
    /// Configuration file (every setting has a default).
    #[arg(long, short, global = true, env = "CENTRALE_CONFIG")]
    config: Option<PathBuf>,
    /// Log filter, e.g. `info`, `centrale=debug`.
    #[arg(long, global = true, env = "CENTRALE_LOG", default_value = "info")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Validate a dial plan directory (or every plan under a directory) without serving it.
    Check {
        /// Plan directory (default: the configured one). A directory of plan directories
        /// checks each.
        dir: Option<PathBuf>,
    },
    /// Print the path a call would take through the dial plan.
    DryRun(DryRunArgs),
    /// Add, change, list or remove agents (agents.toml; passwords are read from stdin and
    /// stored only as digest hashes).
    Agent(centrale::acd::agents::AgentArgs),
    /// Add, list or remove console users (admins, supervisors; password from stdin, stored as
    /// an Argon2id hash), or print a new API token for one.
    User(centrale::web::console::users::UserArgs),
    /// Report on the call log: offered, answered, abandoned, service level, ASA, AHT …
    Report(centrale::report::ReportArgs),
    /// Fill a database with realistic synthetic 311 traffic (for trying reports at scale).
    Seed(centrale::report::SeedArgs),
    /// Simulate a workload through the real ACD on virtual time; prints the report's figures.
    Simulate(centrale::sim::SimulateArgs),
    /// Agents needed per half-hour and season: Erlang C/A next to the simulated result.
    Plan(centrale::sim::PlanArgs),
    /// The wait estimate against what callers then waited on a grid of M/M/N+M queues,
    /// next to the Asterisk-style and position x AHT / agents baselines and the ideal.
    WaitGrid(centrale::sim::GridArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Dial plan directory to serve (overrides the config).
    #[arg(long)]
    dialplan: Option<PathBuf>,
    /// Call log database URL: sqlite://file.db or postgres://… (overrides the config).
    #[arg(long, env = "CENTRALE_DATABASE")]
    database: Option<String>,
    /// SIP UDP listen address(es) (overrides the config).
    #[arg(long, value_delimiter = ',')]
    udp: Vec<std::net::SocketAddr>,
    /// SIP TCP listen address(es) (overrides the config).
    #[arg(long, value_delimiter = ',')]
    tcp: Vec<std::net::SocketAddr>,
    /// RTP port range, e.g. 20000-29999 (overrides the config).
    #[arg(long)]
    rtp_ports: Option<String>,
    /// Admin HTTP address (overrides the config; `off` disables it).
    #[arg(long)]
    admin: Option<String>,
    /// HTTPS address of the agent desktop (overrides the config; `off` disables it).
    #[arg(long)]
    web: Option<String>,
    /// Run the calendar as if the wall clock read this now, e.g. 2027-04-17T18:59
    /// (local time of the plan's zone) — for demos and tests.
    #[arg(long)]
    clock: Option<String>,
}

#[derive(clap::Args)]
struct DryRunArgs {
    /// When the call arrives, local time: 2027-04-17T18:59 (default: now).
    #[arg(long)]
    at: Option<String>,
    /// Called number.
    #[arg(long, default_value = "311")]
    to: String,
    /// Digits the caller presses, in order: 2,3 or 23.
    #[arg(long, default_value = "")]
    digits: String,
    /// Plan directory (default: the configured one).
    #[arg(long)]
    dialplan: Option<PathBuf>,
}

/// Print to stdout; a reader that went away (`centrale plan | head`) is not an error: the
/// output is simply no longer wanted, so the process ends quietly instead of panicking.
fn write_out(text: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(text).and_then(|_| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write the output: {e}");
        std::process::exit(1);
    }
}

macro_rules! out {
    ($($t:tt)*) => { write_out(format_args!($($t)*)) };
}

macro_rules! outln {
    ($($t:tt)*) => { write_out(format_args!("{}\n", format_args!($($t)*))) };
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    match path {
        Some(p) => Ok(Config::load(p)?),
        None => {
            let default = Path::new("centrale.toml");
            if default.exists() {
                Ok(Config::load(default)?)
            } else {
                Ok(Config::default())
            }
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("centrale")
        .build()
        .context("starting the runtime")
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut cfg = load_config(cli.config.as_deref())?;
    match cli.command {
        Command::Serve(args) => {
            if let Some(d) = args.dialplan {
                cfg.paths.dialplan = d;
            }
            if let Some(db) = args.database {
                cfg.database.url = db;
            }
            if !args.udp.is_empty() {
                cfg.sip.udp = args.udp;
            }
            if !args.tcp.is_empty() {
                cfg.sip.tcp = args.tcp;
            }
            if let Some(r) = args.rtp_ports {
                let (a, b) = r
                    .split_once('-')
                    .context("--rtp-ports wants MIN-MAX, e.g. 20000-29999")?;
                cfg.media.rtp_min = a.trim().parse().context("--rtp-ports MIN")?;
                cfg.media.rtp_max = b.trim().parse().context("--rtp-ports MAX")?;
            }
            if let Some(a) = args.admin {
                cfg.admin.listen = if a == "off" {
                    None
                } else {
                    Some(a.parse().context("--admin wants HOST:PORT or off")?)
                };
            }
            if let Some(w) = args.web {
                cfg.web.listen = if w == "off" {
                    None
                } else {
                    Some(w.parse().context("--web wants HOST:PORT or off")?)
                };
            }
            let clock = match args.clock {
                Some(c) => Some(parse_local_time(&c, &cfg)?),
                None => None,
            };
            let opts = centrale::server::ServeOptions { clock };
            runtime()?.block_on(serve(cfg, opts))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { dir } => check(&cfg, dir),
        Command::DryRun(args) => dry_run(&cfg, args),
        Command::Agent(args) => {
            let out = centrale::acd::agents::run(&args, &cfg.paths.agents, &cfg.sip.realm)?;
            outln!("{out}");
            Ok(ExitCode::SUCCESS)
        }
        Command::User(args) => {
            let url = cfg.database.url.clone();
            let out = runtime()?.block_on(centrale::web::console::users::run_cli(&url, args))?;
            outln!("{out}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Report(args) => {
            let out = runtime()?.block_on(centrale::report::run_report(args))?;
            out!("{out}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Seed(args) => {
            let out = runtime()?.block_on(centrale::report::run_seed(args))?;
            outln!("{out}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Simulate(args) => {
            out!("{}", centrale::sim::run_simulate(args)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan(args) => {
            let out = runtime()?.block_on(centrale::sim::run_plan(args))?;
            out!("{out}");
            Ok(ExitCode::SUCCESS)
        }
        Command::WaitGrid(args) => {
            print!("{}", centrale::sim::cli::run_wait_grid(args)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Parse a local date-time (plan zone) or an RFC 3339 instant.
fn parse_local_time(s: &str, _cfg: &Config) -> anyhow::Result<jiff::Timestamp> {
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Ok(ts);
    }
    let dt: jiff::civil::DateTime = s
        .parse()
        .with_context(|| format!("{s:?} is not a date-time like 2027-04-17T18:59"))?;
    let tz = centrale::dialplan::calendar::Calendar::default_time_zone();
    Ok(dt.to_zoned(tz)?.timestamp())
}

fn load_prompts(cfg: &Config) -> anyhow::Result<PromptSet> {
    PromptSet::load(&cfg.paths.prompts)
        .with_context(|| format!("loading prompts from {}", cfg.paths.prompts.display()))
}

fn check(cfg: &Config, dir: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let prompts = load_prompts(cfg)?;
    let dir = dir.unwrap_or_else(|| cfg.paths.dialplan.clone());
    // A directory holding plan directories (e.g. `dialplans/`) checks each of them.
    let mut plans: Vec<PathBuf> = Vec::new();
    let has_toml = |d: &Path| {
        std::fs::read_dir(d)
            .map(|rd| {
                rd.flatten()
                    .any(|e| e.path().extension().is_some_and(|x| x == "toml"))
            })
            .unwrap_or(false)
    };
    if has_toml(&dir) {
        plans.push(dir.clone());
    } else {
        let rd = std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?;
        let mut subs: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir() && has_toml(p))
            .collect();
        subs.sort();
        plans = subs;
    }
    if plans.is_empty() {
        anyhow::bail!("no dial plan (*.toml) in {}", dir.display());
    }
    let mut failed = false;
    for p in plans {
        match load_dir(&p, &prompts) {
            Ok(plan) => outln!(
                "{}: ok — \"{}\", {} nodes, numbers {}",
                p.display(),
                plan.name,
                plan.nodes.len(),
                plan.numbers.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
            Err(errors) => {
                failed = true;
                for e in &errors {
                    outln!("{e}");
                }
                outln!("{}: {} error(s)", p.display(), errors.len());
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn dry_run(cfg: &Config, args: DryRunArgs) -> anyhow::Result<ExitCode> {
    let prompts = load_prompts(cfg)?;
    let dir = args.dialplan.unwrap_or_else(|| cfg.paths.dialplan.clone());
    let plan = match load_dir(&dir, &prompts) {
        Ok(p) => Arc::new(p),
        Err(errors) => {
            for e in &errors {
                outln!("{e}");
            }
            anyhow::bail!("{} has {} error(s)", dir.display(), errors.len());
        }
    };
    let at = match args.at {
        Some(s) => parse_local_time(&s, cfg)?,
        None => jiff::Timestamp::now(),
    };
    let digits: Vec<char> = args
        .digits
        .chars()
        .filter(|c| c.is_ascii_digit() || matches!(c, '*' | '#'))
        .collect();
    let text = |id: &str, lang: Lang| prompts.text(id, lang);
    let trace = centrale::ivr::dry_run::run(plan, at, &args.to, &digits, &text);
    outln!("{trace}");
    Ok(ExitCode::SUCCESS)
}

/// Start the server and its admin API, serve until a shutdown signal, then drain.
async fn serve(mut cfg: Config, opts: centrale::server::ServeOptions) -> anyhow::Result<()> {
    cfg.resolve_secrets()?;
    cfg.check_exposure()?;
    let admin = cfg.admin.listen;
    let drain = std::time::Duration::from_secs(cfg.limits.drain_seconds);
    // The HTTPS listener's certificate: configured, or self-signed at first start.
    let web = match cfg.web.listen {
        Some(addr) => {
            let mut names = cfg.tls.names.clone();
            names.push(addr.ip().to_string());
            if let Some(a) = cfg.sip.advertise {
                names.push(a.to_string());
            }
            let id = centrale::tls::load_or_generate(&cfg.tls.cert, &cfg.tls.key, &names)?;
            let tls = centrale::tls::server_config(&id, &[b"http/1.1"])?;
            let listener = centrale::web::bind(addr)
                .await
                .with_context(|| format!("binding the web listener on {addr}"))?;
            Some((listener, tls))
        }
        None => None,
    };
    // Bound before the server says it is listening, so a script that waits for that line
    // finds the admin API there too (connections wait in the backlog until it serves).
    let admin = match admin {
        Some(addr) => Some(
            centrale::admin::bind(addr)
                .await
                .with_context(|| format!("binding the admin API on {addr}"))?,
        ),
        None => None,
    };
    let running = centrale::server::start(cfg, opts).await?;
    if let Some((listener, tls)) = web {
        let web = centrale::web::Web::new(running.ctx.clone());
        tokio::spawn(centrale::web::serve(web, listener, tls));
    }
    if let Some(listener) = admin {
        tokio::spawn(centrale::admin::serve(running.ctx.clone(), listener));
    }
    running.run(drain).await
}
