//! The running server: binds the SIP transports, starts the media engine, loads prompts, the
//! dial plan and the agents, and wires the SIP driver, the ACD task and the call tasks together
//! (each gets what it needs; none imports another's file). Shutdown is a broadcast: new calls
//! get 503, calls in progress get the drain time, then a BYE.
//!
//! Files: `ctx` (what tasks share), `messages` (what they send each other), `sip_driver`,
//! `acd_task`, `call_task` with `sip_leg` and `desk_leg`, `overload`.

pub mod acd_task;
mod call_setup;
mod callback_book;
pub mod call_task;
pub mod ctx;
pub mod desk_leg;
pub mod messages;
pub mod overload;
pub mod sip_driver;
pub mod sip_leg;
pub mod trunks;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use crate::call::CallConfig;
use crate::config::Config;
use crate::dialplan::store::{self, PlanStore, Reload};
use crate::media::engine::MediaEngine;
use crate::media::ports::PortPool;
use crate::media::prompt::PromptSet;
use crate::sip::random::Random;
use crate::sip::registrar::{Registrar, RegistrarLimits};
use crate::sip::transaction::Timers;
use crate::sip::transport::Transports;
pub use ctx::{Ctx, Stats};
use messages::{SpawnCall, SpawnCallback};
use sip_driver::Driver;

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

/// SIP over TLS presents the same certificate as the web listener (configured, or the
/// self-signed pair made at first start).
fn sip_tls_acceptor(cfg: &Config) -> anyhow::Result<crate::sip::transport::TlsAcceptor> {
    let mut names = cfg.tls.names.clone();
    names.extend(cfg.sip.tls.iter().map(|a| a.ip().to_string()));
    if let Some(a) = cfg.sip.advertise {
        names.push(a.to_string());
    }
    let id = crate::tls::load_or_generate(&cfg.tls.cert, &cfg.tls.key, &names)
        .context("the certificate for SIP over TLS")?;
    let server = crate::tls::server_config(&id, &[])?;
    Ok(crate::sip::transport::TlsAcceptor::from(server))
}

/// The DNS client for next hops named by their domain: `[sip] dns_servers`, else the
/// system's (/etc/resolv.conf); names in /etc/hosts are taken from there first.
fn dns_resolver(cfg: &Config, rng: Random) -> crate::sip::dns_client::Resolver {
    let servers = if cfg.sip.dns_servers.is_empty() {
        let conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        crate::sip::dns::select::nameservers(&conf)
    } else {
        cfg.sip.dns_servers.clone()
    };
    if servers.is_empty() {
        warn!("no DNS server (none in [sip] dns_servers or /etc/resolv.conf): SIP next hops named by a domain cannot be reached");
    } else {
        info!(?servers, "DNS servers for SIP next hops");
    }
    crate::sip::dns_client::Resolver::new(servers, rng).with_hosts_file("/etc/hosts")
}

/// A started server: its shared state, and what `run` needs to shut it down.
pub struct Running {
    pub ctx: Arc<Ctx>,
    shutdown: watch::Sender<Option<Instant>>,
    store_task: crate::store::StoreTask,
}

/// Start every task; the server serves once this returns.
pub async fn start(cfg: Config, opts: ServeOptions) -> anyhow::Result<Running> {
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
    let (transports, listeners) =
        Transports::bind(&cfg.sip.udp, &cfg.sip.tcp, &cfg.sip.tls, inbound_tx)
            .await
            .context("binding SIP sockets")?;
    // Carrier trunks over TLS: the connections we open check each carrier's certificate
    // against its own `tls_ca`, for the name we reach it by (the proxy's address when it has
    // one, else its host: the domain of its URI, even when SRV names another target, RFC 5922).
    for t in cfg.trunks.iter().filter(|t| t.is_tls()) {
        let client = crate::tls::client_config(&[t.tls_ca_file()])
            .with_context(|| format!("TLS to carrier trunk `{}`", t.name))?;
        let name = match t.proxy_addr() {
            Some(p) => p.ip().to_string(),
            None => t.host_port().0,
        };
        transports.add_tls_carrier(&name, client, t.next_hop_addr());
    }
    let ports = PortPool::new(cfg.media.ip, cfg.media.rtp_min, cfg.media.rtp_max)
        .context("RTP port range")?;
    let threads = if cfg.media.threads == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    } else {
        cfg.media.threads
    };
    let public_ip = cfg.sip.advertise.unwrap_or(cfg.media.ip);
    let media = MediaEngine::start(
        threads,
        crate::media::engine::Placement {
            pin: cfg.media.pin_threads,
            realtime: cfg.media.realtime,
        },
        ports,
        cfg.media.symmetric_rtp,
        public_ip,
    )
    .context("starting the media shards")?;
    // The DTLS certificate of browser legs, made now rather than on the first call.
    if !crate::media::engine::webrtc::warm_up() {
        tracing::warn!("no DTLS certificate: browser agents cannot connect");
    }
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
    let mut rng = Random::from_os();
    let registrar = Registrar::new(
        cfg.sip.realm.clone(),
        Arc::new(agents),
        RegistrarLimits {
            algorithms: cfg.sip.digest_algorithms.clone(),
            ..Default::default()
        },
        rng.fork(),
        Instant::now(),
    );
    let (acd_tx, acd_rx) = mpsc::unbounded_channel();
    let (shutdown, shutdown_rx) = watch::channel(None);
    let agents_path = cfg.paths.agents.clone();
    let call = Arc::new(CallConfig {
        emergency_numbers: cfg.emergency.numbers.clone(),
        emergency_uri: cfg.emergency.uri.clone(),
        answer_delay: Duration::from_millis(cfg.sip.answer_delay_ms),
        max_duration: Duration::from_secs(cfg.limits.max_call_seconds),
        realm: cfg.sip.realm.clone(),
        outbound: cfg.sip.outbound.clone(),
        acd: true,
        callback_area_codes: cfg.callbacks.area_codes.clone(),
        callback_per_day: cfg.callbacks.per_number_per_day,
        callback_cap: Default::default(),
        agents: Default::default(),
        ring_timeout: Duration::from_secs(cfg.acd.ring_timeout.max(1)),
    });
    let ctx = Arc::new(Ctx {
        call,
        acd: Some(acd_tx),
        timers,
        transports: transports.clone(),
        sip: sip_tx,
        media,
        prompts: crate::media::prompt_store::PromptStore::new(
            (*prompts).clone(),
            &cfg.paths.prompts,
        ),
        plans: plans.clone(),
        events,
        stats: Stats::default(),
        clock_offset_ms,
        draining: AtomicBool::new(false),
        shutdown: shutdown_rx,
        media_overloaded: AtomicBool::new(false),
        agent_states: tokio::sync::broadcast::channel(1024).0,
        read_db: std::sync::OnceLock::new(),
        storm: Default::default(),
        trunks: trunks::TrunkBoard::new(&cfg.trunks, &cfg.emergency.numbers),
        dns: dns_resolver(&cfg, rng.fork()),
        store_stats: store_task.stats(),
        cfg,
    });
    let tls = if ctx.cfg.sip.tls.is_empty() {
        None
    } else {
        Some(sip_tls_acceptor(&ctx.cfg)?)
    };
    transports.start(listeners, tls);
    sip_driver::log_started(
        &transports.udp_addrs(),
        &transports.tcp_addrs(),
        &transports.tls_addrs(),
    );
    let spawn_call: SpawnCall = {
        let ctx = ctx.clone();
        Arc::new(move |c| call_task::spawn(ctx.clone(), c))
    };
    let spawn_callback: SpawnCallback = {
        let ctx = ctx.clone();
        Arc::new(move |c| call_task::spawn_callback(ctx.clone(), c))
    };
    let driver = Driver::new(ctx.clone(), Some(registrar), spawn_call, rng.fork());
    tokio::spawn(driver.run(inbound_rx, sip_rx));
    tokio::spawn(acd_task::run(
        ctx.clone(),
        acd_rx,
        agents_path,
        spawn_callback,
    ));
    // The storm message set before a restart is in force again.
    {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let Some(db) = ctx.db() else { return };
            match crate::storm::load(db).await {
                Ok(s) => {
                    if s.active(ctx.wall_now().as_millisecond()) {
                        info!(queues = ?s.queues, "storm message in force");
                    }
                    ctx.storm.set(s);
                }
                Err(e) => warn!(error = %e, "storm message not restored"),
            }
        });
    }
    tokio::spawn(store::watch(
        plans.clone(),
        prompts.clone(),
        Duration::from_secs(1),
    ));
    tokio::spawn(overload::monitor(ctx.clone()));
    tokio::spawn(reload_on_sighup(ctx.clone()));
    // On stdout for scripts; a closed stdout is not a reason to stop serving.
    {
        use std::io::Write;
        let _ = writeln!(
            std::io::stdout(),
            "centrale listening on {} (udp) {} (tcp)",
            join(&transports.udp_addrs()),
            join(&transports.tcp_addrs())
        );
    }
    Ok(Running {
        ctx,
        shutdown,
        store_task,
    })
}

impl Running {
    /// Serve until SIGTERM or Ctrl-C, then drain: new calls get 503, calls in progress get
    /// `drain` to finish, then a BYE; the call log is flushed last.
    pub async fn run(self, drain: Duration) -> anyhow::Result<()> {
        shutdown_signal().await;
        let ctx = self.ctx;
        info!(
            live = ctx.stats.live_calls.load(Ordering::Relaxed),
            drain_s = drain.as_secs(),
            "shutting down: refusing new calls, draining calls in progress"
        );
        ctx.draining.store(true, Ordering::Relaxed);
        let _ = self.shutdown.send(Some(Instant::now() + drain));
        // The calls hang up at the drain time; give their BYEs and last events a moment.
        let deadline = tokio::time::Instant::now() + drain + Duration::from_secs(5);
        while ctx.stats.live_calls.load(Ordering::Relaxed) > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Let the SIP driver send the last BYEs before the process goes.
        tokio::time::sleep(Duration::from_millis(200)).await;
        drop(ctx);
        self.store_task.finish().await;
        Ok(())
    }
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
            let prompts = ctx.prompts.current();
            let _ = tokio::task::spawn_blocking(move || plans.reload(&*prompts)).await;
        }
    }
}
