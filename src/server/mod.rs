//! The running server: binds the SIP transports, starts the RTP pacer, loads prompts and the dial
//! plan, and wires the SIP driver to call tasks. Shared state lives in `Ctx`; call state lives
//! in each call's task.

pub mod acd_task;
pub mod call;
pub mod callback;
pub mod sip_driver;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::config::Config;
use crate::dialplan::store::{self, PlanStore, Reload};
use crate::event::EventSink;
use crate::media::pacer::Pacer;
use crate::media::ports::PortPool;
use crate::media::prompt::PromptSet;
use crate::sip::flow::Flow;
use crate::sip::registrar::Registrar;
use crate::sip::transaction::Timers;
use crate::sip::transport::Transports;
use sip_driver::{Driver, SipCmd};

/// Counters for `/metrics`, the overload guard and the benchmarks.
#[derive(Debug, Default)]
pub struct Stats {
    pub live_calls: AtomicUsize,
    pub calls_total: AtomicU64,
    pub shed: AtomicU64,
    pub malformed: AtomicU64,
    pub tx_timeouts: AtomicU64,
    pub transactions: AtomicUsize,
    pub inbound_backlog: AtomicUsize,
}

/// What every call task shares.
pub struct Ctx {
    pub cfg: Config,
    pub timers: Timers,
    pub transports: Arc<Transports>,
    pub sip: mpsc::UnboundedSender<SipCmd>,
    pub pacer: Arc<Pacer>,
    pub ports: Arc<PortPool>,
    pub prompts: Arc<PromptSet>,
    pub plans: Arc<PlanStore>,
    pub events: EventSink,
    pub registrar: Option<Arc<Registrar>>,
    pub acd: Option<acd_task::AcdHandle>,
    pub stats: Stats,
    /// Added to the system clock (tests and demos run the calendar at another date).
    pub clock_offset_ms: i64,
    pub draining: AtomicBool,
    /// Set by the overload monitor when the RTP pacer cannot keep time.
    pub media_overloaded: AtomicBool,
}

impl Ctx {
    /// Wall-clock time for calendars and logs.
    pub fn wall_now(&self) -> jiff::Timestamp {
        let now = jiff::Timestamp::now();
        if self.clock_offset_ms == 0 {
            return now;
        }
        jiff::Timestamp::from_millisecond(now.as_millisecond() + self.clock_offset_ms)
            .unwrap_or(now)
    }

    /// Why a new call must be refused right now, if it must.
    pub fn overload_reason(&self) -> Option<&'static str> {
        if self.draining.load(Ordering::Relaxed) {
            return Some("draining");
        }
        if self.stats.live_calls.load(Ordering::Relaxed) >= self.cfg.limits.max_calls {
            return Some("max-calls");
        }
        if self.media_overloaded.load(Ordering::Relaxed) {
            return Some("media-late");
        }
        if self.stats.inbound_backlog.load(Ordering::Relaxed) > 2048 {
            return Some("sip-backlog");
        }
        None
    }

    /// Our sent-by (`host:port`) for the transport a flow uses.
    pub fn sent_by(&self, flow: Flow) -> String {
        let port = self
            .transports
            .local_addr(flow.transport)
            .map(|a| a.port())
            .unwrap_or(flow.local.port());
        let ip = self.cfg.sip.advertise.unwrap_or(flow.local.ip());
        SocketAddr::new(ip, port).to_string()
    }

    pub fn media_ip(&self) -> IpAddr {
        self.cfg.sip.advertise.unwrap_or(self.cfg.media.ip)
    }
}

/// Options of `centrale serve` that are not in the config file.
#[derive(Debug, Default, Clone)]
pub struct ServeOptions {
    /// Pretend the wall clock reads this now (the calendar follows).
    pub clock: Option<jiff::Timestamp>,
}

/// Raise the open-file limit: each call holds a few sockets.
fn raise_fd_limit() {
    #[cfg(unix)]
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max.min(1 << 20);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

pub async fn serve(cfg: Config, opts: ServeOptions) -> anyhow::Result<()> {
    raise_fd_limit();
    let prompts = {
        let dir = cfg.paths.prompts.clone();
        tokio::task::spawn_blocking(move || PromptSet::load(&dir))
            .await
            .context("prompt loader panicked")?
            .with_context(|| format!("loading prompts from {}", cfg.paths.prompts.display()))?
    };
    info!(
        prompts = prompts.len(),
        frames = prompts.total_frames(),
        "prompts decoded and encoded"
    );
    let prompts = Arc::new(prompts);

    let plans = Arc::new(PlanStore::new(cfg.paths.dialplan.clone()));
    if let Reload::Rejected { errors } = plans.reload(&*prompts) {
        // Keep running: the emergency path does not depend on the plan.
        error!(
            count = errors.len(),
            "no valid dial plan: only emergency numbers will be served until it is fixed"
        );
    }

    let (inbound_tx, inbound_rx) = mpsc::channel(8192);
    let (transports, listeners) = Transports::bind(&cfg.sip.udp, &cfg.sip.tcp, inbound_tx)
        .await
        .context("binding SIP sockets")?;
    let ports = PortPool::new(cfg.media.ip, cfg.media.rtp_min, cfg.media.rtp_max)
        .context("RTP port range")?;
    let threads = if cfg.media.threads == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    } else {
        cfg.media.threads
    };
    let pacer = Pacer::start(threads).context("starting RTP pacer")?;
    let (sip_tx, sip_rx) = mpsc::unbounded_channel();
    let (events, store_task) = crate::store::start(&cfg).await?;
    let timers = Timers {
        t1: Duration::from_millis(cfg.sip.t1_ms.max(1)),
        ..Timers::default()
    };
    let clock_offset_ms = opts
        .clock
        .map(|c| c.as_millisecond() - jiff::Timestamp::now().as_millisecond())
        .unwrap_or(0);
    // Agents: the registrar authenticates their phones; the ACD routes calls to them.
    let agents = match crate::acd::agents::AgentsFile::load(&cfg.paths.agents) {
        Ok(a) => a,
        Err(e) => {
            error!("{e}: starting with no agents until the file is fixed");
            crate::acd::agents::AgentsFile::default()
        }
    };
    let (reg_tx, reg_rx) = mpsc::unbounded_channel();
    let registrar = Arc::new(Registrar::new(
        cfg.sip.realm.clone(),
        Arc::new(agents),
        reg_tx,
        crate::sip::registrar::RegistrarLimits {
            algorithms: cfg.sip.digest_algorithms.clone(),
            ..Default::default()
        },
    ));
    let (acd_tx, acd_rx) = mpsc::unbounded_channel();
    let agents_path = cfg.paths.agents.clone();
    let ctx = Arc::new(Ctx {
        registrar: Some(registrar),
        acd: Some(acd_tx.clone()),
        timers,
        transports: transports.clone(),
        sip: sip_tx,
        pacer,
        ports,
        prompts: prompts.clone(),
        plans: plans.clone(),
        events,
        stats: Stats::default(),
        clock_offset_ms,
        draining: AtomicBool::new(false),
        media_overloaded: AtomicBool::new(false),
        cfg,
    });
    transports.start(listeners);
    sip_driver::log_started(&transports.udp_addrs(), &transports.tcp_addrs());
    tokio::spawn(Driver::new(ctx.clone()).run(inbound_rx, sip_rx));
    tokio::spawn(acd_task::run(ctx.clone(), acd_rx, agents_path));
    if let Some(addr) = ctx.cfg.admin.listen {
        let listener = crate::admin::bind(addr)
            .await
            .with_context(|| format!("binding the admin API on {addr}"))?;
        tokio::spawn(crate::admin::serve(ctx.clone(), listener));
    }
    tokio::spawn(acd_task::forward_registrar(reg_rx, acd_tx));
    tokio::spawn(store::watch(
        plans.clone(),
        prompts.clone(),
        Duration::from_secs(1),
    ));
    tokio::spawn(overload_monitor(ctx.clone()));
    tokio::spawn(reload_on_sighup(ctx.clone()));
    println!(
        "centrale listening on {} (udp) {} (tcp)",
        join(&transports.udp_addrs()),
        join(&transports.tcp_addrs())
    );

    shutdown_signal().await;
    info!("shutting down: refusing new calls, waiting for calls in progress");
    ctx.draining.store(true, Ordering::Relaxed);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while ctx.stats.live_calls.load(Ordering::Relaxed) > 0 && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(ctx);
    store_task.finish().await;
    Ok(())
}

fn join(a: &[SocketAddr]) -> String {
    a.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn reload_on_sighup(ctx: Arc<Ctx>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        while hup.recv().await.is_some() {
            info!("SIGHUP: reloading the dial plan");
            let plans = ctx.plans.clone();
            let prompts = ctx.prompts.clone();
            let _ = tokio::task::spawn_blocking(move || plans.reload(&*prompts)).await;
        }
    }
}

/// Watch the pacer and shed new calls before calls already up lose clean audio: when the
/// pacer threads are busy more than `PACER_BUSY_MAX` of the time (measured, not estimated), or
/// their slots keep starting late while they are at least `PACER_BUSY_LATE` busy, new INVITEs
/// get 503 until it eases. Lateness alone is not enough: a pacer that is late while mostly idle
/// is held up by something else (another process, a page-fault storm), which refusing calls
/// does not cure — measured: 1 s of 16 ms lag at 19 % busy shed 248 of 30 000 calls at
/// 1 000 calls/s on an otherwise idle machine.
const PACER_BUSY_MAX: f64 = 0.75;
const PACER_BUSY_LATE: f64 = 0.5;

async fn overload_monitor(ctx: Arc<Ctx>) {
    let period = Duration::from_millis(250);
    let mut tick = tokio::time::interval(period);
    let mut late_in_a_row = 0u32;
    let stats = ctx.pacer.stats().clone();
    let mut last_busy = stats.busy_ns.load(Ordering::Relaxed);
    loop {
        tick.tick().await;
        let lag = stats.take_max_lag_us();
        late_in_a_row = if lag > 5_000 { late_in_a_row + 1 } else { 0 };
        let busy_now = stats.busy_ns.load(Ordering::Relaxed);
        let shards = stats.shards.load(Ordering::Relaxed).max(1) as f64;
        let busy = (busy_now - last_busy) as f64 / (period.as_nanos() as f64 * shards);
        last_busy = busy_now;
        let overloaded = busy > PACER_BUSY_MAX || (late_in_a_row >= 4 && busy > PACER_BUSY_LATE);
        let was = ctx.media_overloaded.swap(overloaded, Ordering::Relaxed);
        if overloaded && !was {
            warn!(
                lag_us = lag,
                busy = format!("{:.0} %", busy * 100.0),
                "RTP pacer at capacity: shedding new calls"
            );
        } else if was && !overloaded {
            info!("RTP pacer has room again: accepting new calls");
        }
    }
}
