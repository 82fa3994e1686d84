//! What every task of the running server shares: the configuration, the handles to the SIP
//! driver, the ACD task and the media engine, the prompt set and dial plans, the event sink,
//! counters, and the shutdown signal. Plain data and small helpers: no task logic here.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{broadcast, mpsc, watch};

use super::messages::{AcdCmd, AgentStateChange, SipCmd};
use crate::call::CallConfig;
use crate::config::Config;
use crate::dialplan::store::PlanStore;
use crate::event::EventSink;
use crate::media::engine::MediaEngine;
use crate::sip::flow::Flow;
use crate::sip::transaction::Timers;
use crate::sip::transport::Transports;

/// Counters for `/metrics`, the overload guard and the benchmarks.
#[derive(Debug, Default)]
pub struct Stats {
    pub live_calls: AtomicUsize,
    pub calls_total: AtomicU64,
    pub shed: AtomicU64,
    /// New calls refused because their source sent too many (`invites_per_source_per_min`).
    pub invites_throttled: AtomicU64,
    pub malformed: AtomicU64,
    pub tx_timeouts: AtomicU64,
    pub transactions: AtomicUsize,
    pub inbound_backlog: AtomicUsize,
}

pub struct Ctx {
    pub cfg: Config,
    /// The call core's share of the configuration.
    pub call: Arc<CallConfig>,
    pub timers: Timers,
    pub transports: Arc<Transports>,
    pub sip: mpsc::UnboundedSender<SipCmd>,
    pub media: Arc<MediaEngine>,
    /// The prompt set in force (replaced by uploads; each call keeps the one it started with).
    pub prompts: crate::media::prompt_store::PromptStore,
    pub plans: Arc<PlanStore>,
    pub events: EventSink,
    pub acd: Option<mpsc::UnboundedSender<AcdCmd>>,
    pub stats: Stats,
    /// Added to the system clock (tests and demos run the calendar at another date).
    pub clock_offset_ms: i64,
    pub draining: AtomicBool,
    /// Set at shutdown: calls in progress end by then.
    pub shutdown: watch::Receiver<Option<Instant>>,
    /// Set by the overload monitor when the media shards cannot keep time.
    pub media_overloaded: AtomicBool,
    /// Every agent state change, as the ACD makes it.
    pub agent_states: broadcast::Sender<AgentStateChange>,
    /// The call log writer's counters (written, journaled, dead letters…), for `/metrics`.
    pub store_stats: Arc<crate::store::WriterStats>,
    /// The storm message in force (set from the console, kept in the database).
    pub storm: crate::storm::StormBoard,
    /// The carrier trunks and whether each answers.
    pub trunks: super::trunks::TrunkBoard,
    /// Where a next hop named by its domain is (RFC 3263 lookups).
    pub dns: crate::sip::dns_client::Resolver,
    /// A pool on the call log for reads (history, wallboard, console), opened on first use.
    pub read_db: std::sync::OnceLock<Option<crate::store::Db>>,
}

impl Ctx {
    /// The read pool on the call log (None if its URL is unusable).
    pub fn db(&self) -> Option<&crate::store::Db> {
        self.read_db
            .get_or_init(|| crate::store::Db::lazy(&self.cfg.database.url).ok())
            .as_ref()
    }

    /// Wall-clock time for calendars and logs.
    pub fn wall_now(&self) -> jiff::Timestamp {
        let now = jiff::Timestamp::now();
        if self.clock_offset_ms == 0 {
            return now;
        }
        jiff::Timestamp::from_millisecond(now.as_millisecond() + self.clock_offset_ms)
            .unwrap_or(now)
    }

    /// Milliseconds on the server's (possibly offset) wall clock: the ACD's time.
    pub fn acd_now(&self) -> u64 {
        self.wall_now().as_millisecond().max(0) as u64
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

    pub fn acd(&self, cmd: AcdCmd) {
        if let Some(acd) = &self.acd {
            let _ = acd.send(cmd);
        }
    }
}
