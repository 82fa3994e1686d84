//! The ACD's public vocabulary: time and ids, its configuration, the inputs it accepts, the
//! outputs it emits, agent states and the admin snapshot.
//!
//! Plain data only: no routing logic, no I/O, no clock.

use serde::Serialize;

use crate::dialplan::model::Overflow;

/// Milliseconds since an arbitrary epoch: virtual in the simulator, wall-clock in the server.
pub type Time = u64;

/// The server's handle for a queued call, or a pending callback (which keeps the same id).
pub type CallId = u64;

/// Tunables. `from_settings` converts the `[acd]` section of `centrale.toml` (seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcdConfig {
    /// Ring an agent this long before offering the call to the next one. Clamped to ≥ 1 ms so
    /// a deadline is always in the future (a zero would re-offer in a loop).
    pub ring_timeout_ms: u64,
    /// Pause an agent after this many consecutive missed offers; 0 never pauses.
    pub max_misses: u32,
    /// Wrap-up after a call for agents with no `wrapup_s` of their own.
    pub default_wrapup_ms: u64,
    /// Handle times (talk + wrap-up) remembered per queue for wait estimates: their mean and
    /// their spread (how long a call already running is still likely to last).
    pub aht_window: usize,
    /// Handle time assumed for a queue before any call there has been handled.
    pub default_aht_ms: u64,
}

impl Default for AcdConfig {
    fn default() -> Self {
        AcdConfig {
            ring_timeout_ms: 15_000,
            max_misses: 2,
            default_wrapup_ms: 30_000,
            aht_window: 200,
            default_aht_ms: 300_000,
        }
    }
}

impl AcdConfig {
    /// From the server's settings (`acd.ring_timeout`, `acd.max_misses`, `acd.wrapup`, seconds).
    pub fn from_settings(ring_timeout_s: u64, max_misses: u32, wrapup_s: u64) -> AcdConfig {
        AcdConfig {
            ring_timeout_ms: ring_timeout_s.saturating_mul(1000),
            max_misses,
            default_wrapup_ms: wrapup_s.saturating_mul(1000),
            ..AcdConfig::default()
        }
    }
}

/// One agent's state, shared by every queue the agent serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    LoggedOut,
    Available,
    /// Offered a call (or a callback); the phone may not ring yet.
    Reserved,
    Ringing,
    OnCall,
    WrapUp,
    Paused,
}

impl AgentState {
    /// Name in the event log (`agent_events.state`).
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::LoggedOut => "logged_out",
            AgentState::Available => "available",
            AgentState::Reserved => "reserved",
            AgentState::Ringing => "ringing",
            AgentState::OnCall => "on_call",
            AgentState::WrapUp => "wrap_up",
            AgentState::Paused => "paused",
        }
    }
}

/// Why the server could not connect an offered call to the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferFailure {
    /// Rang out (the server's own timer, or 408/480): a miss.
    NoAnswer,
    /// 486 Busy Here: a miss (a phone that is always busy must not keep taking offers).
    Busy,
    /// No binding, 404, 503, transport error: the agent is logged out (`unreachable`).
    Unreachable,
    /// 603 Decline / rejected by the agent: a miss.
    Declined,
}

/// Why an offer was withdrawn (the server stops ringing the agent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    RingTimeout,
    CallerLeft,
    /// The caller pressed 1 while the agent was ringing: the entry is now a callback.
    CallbackRequested,
    /// The agent paused, logged out, unregistered or was removed while ringing.
    AgentUnavailable,
}

impl CancelReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CancelReason::RingTimeout => "ring-timeout",
            CancelReason::CallerLeft => "caller-left",
            CancelReason::CallbackRequested => "callback-requested",
            CancelReason::AgentUnavailable => "agent-unavailable",
        }
    }
}

/// Everything the ACD is told. Unknown ids, duplicates and events that do not fit the current
/// state are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    CallQueued {
        call: CallId,
        queue: String,
        /// The caller's language (`fr`/`en`), which is also the name of the agents' skill.
        lang: String,
        /// From the queue node: `"name"` (level 1) or `"name:level"`.
        skills: Vec<String>,
        topic: Option<String>,
        /// Added to the queue's (season) priority.
        priority: i32,
        /// Queue entry time; a re-queued callback keeps its original one.
        since: Time,
        /// Number to call back; None for a live caller.
        callback: Option<String>,
        /// Who is calling, to give back the place of a caller who hung up and calls again
        /// (abandoned-resume); None: unknown or not to be recognised.
        caller: Option<Caller>,
        /// Directed to this agent (an agent's transfer to a colleague): only that agent is
        /// offered the call, whatever its queues and skills, for up to `DIRECTED_MS`; after
        /// a miss, or when that agent is signed out or not free in time, the queue's own rules
        /// apply. None: an ordinary queued call.
        agent: Option<String>,
    },
    /// The caller hung up or left; for a connected call this ends it like `CallEnded`.
    CallLeft {
        call: CallId,
    },
    /// A live caller pressed 1: same entry, same place, now a callback.
    CallbackRequested {
        call: CallId,
        number: String,
    },
    AgentLogin {
        agent: String,
    },
    AgentLogout {
        agent: String,
    },
    AgentPause {
        agent: String,
        reason: String,
    },
    AgentResume {
        agent: String,
    },
    AgentRegistered {
        agent: String,
    },
    AgentUnregistered {
        agent: String,
    },
    /// The agent's phone rings (optional: an Offer already reserves the agent).
    Ringing {
        call: CallId,
        agent: String,
    },
    Answered {
        call: CallId,
        agent: String,
    },
    /// The agent leg failed: before answer (an offer) or after (a broken bridge). The call
    /// goes back to its place in the queue.
    OfferFailed {
        call: CallId,
        agent: String,
        reason: OfferFailure,
    },
    /// Talk ended: the agent goes to wrap-up.
    CallEnded {
        call: CallId,
        agent: String,
    },
    /// An agent who has a caller consults colleague `agent` (an attended transfer's first
    /// half): granted (`Output::Consult`) when the colleague is free, who is then busy.
    ConsultStart {
        call: CallId,
        agent: String,
    },
    /// The consultation ended without handing the caller over: the colleague is free.
    ConsultEnded {
        call: CallId,
        agent: String,
    },
    /// The consulted colleague now has the caller (the first agent sends `CallEnded`).
    ConsultCompleted {
        call: CallId,
        agent: String,
    },
    /// The agent ends wrap-up early.
    WrapupDone {
        agent: String,
    },
}

/// Decisions for the server (or the simulator) to carry out, and state changes to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Ring this agent for this live call (the agent is Reserved; the ring timer runs).
    Offer { call: CallId, agent: String },
    /// Stop ringing. CancelOffer is authoritative: an `Answered` arriving after it is ignored
    /// and the server must drop that agent leg.
    CancelOffer {
        call: CallId,
        agent: String,
        reason: CancelReason,
    },
    /// A callback's turn: call the agent (ring timer as for an Offer), then the citizen.
    DialCallback {
        call: CallId,
        agent: String,
        number: String,
    },
    /// Tell a waiting live caller their position and estimated wait, and whether to offer a
    /// callback (see `Announcement`).
    Announce { call: CallId, info: Announcement },
    /// A caller who hung up while waiting called again within the queue's resume window and
    /// got their place back: log it on both calls (`from_log` is the earlier call's log id).
    Resumed {
        call: CallId,
        /// This call's log id (from its `Caller`).
        log: String,
        from: CallId,
        from_log: String,
        /// Time the caller held on earlier calls before hanging up (it counts as their wait).
        held_ms: u64,
    },
    /// The caller leaves the queue for `to` (max wait, or the queue is closed this season).
    /// With `Overflow::Callback` the entry stays, keeping its place, until the server sends
    /// `CallbackRequested` (number taken) or `CallLeft` (declined).
    Overflow { call: CallId, to: Overflow },
    /// The answer to `ConsultStart`: `refused` None when the colleague is now reserved for it
    /// (`consult::BUSY`, `consult::UNKNOWN`).
    Consult {
        call: CallId,
        agent: String,
        refused: Option<&'static str>,
    },
    /// Every agent state change, for the event log.
    AgentState {
        agent: String,
        state: AgentState,
        reason: Option<String>,
    },
}

/// A caller as the ACD needs to know them to give back a place (`acd::resume::caller`
/// builds one from the SIP From header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Digits only: the number that recognises the caller when they call again.
    pub number: String,
    /// The caller asked for their number not to be shown (anonymous presentation): only queues
    /// with `resume_withheld` recognise them.
    pub withheld: bool,
    /// The call's id in the event log, handed back when a later call resumes its place.
    pub log_id: String,
}

/// One position / wait announcement, with the inputs the estimate used (all logged).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Announcement {
    /// 1-based position among competing calls.
    pub position: u32,
    /// Estimated wait from now; None: nobody staffed can take the call, no honest estimate.
    pub estimate_ms: Option<u64>,
    /// Staffed agents able to take the call now (logged in, not paused), whatever they do.
    pub agents: u32,
    /// Agents a later relaxation step would add to them.
    pub agents_later: u32,
    /// Mean handle time (talk + wrap-up) the estimate used.
    pub aht_ms: u64,
    /// Expected time until the first of those agents is free.
    pub first_free_ms: u64,
    /// Mean patience of waiting callers the estimate assumed (callers ahead who hang up make
    /// the line move faster); None: no abandonment observed.
    pub patience_ms: Option<u64>,
    /// Play the callback offer: the estimate is over the queue's `callback_threshold` (or
    /// unknown), or this is a `late` announcement. The server also needs a number to call.
    pub offer_callback: bool,
    /// Extra announcement for a caller who has now waited far past the wait they were told.
    pub late: bool,
}

/// What one queue's past calls say, to seed the estimate after a restart (`Acd::restore`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueueHistory {
    pub queue: String,
    /// Handle times (talk + wrap-up) of answered calls, oldest first.
    pub handle_ms: Vec<u64>,
    /// Live callers who left unserved (hung up, overflowed away), out of `callers`, who
    /// waited `waited_ms` in all.
    pub departures: u64,
    pub callers: u64,
    pub waited_ms: u64,
}

/// What the admin API, tests and simulator statistics see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    pub at: Time,
    pub season: Option<String>,
    pub queues: Vec<QueueSnapshot>,
    pub agents: Vec<AgentSnapshot>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueSnapshot {
    pub name: String,
    /// False for a queue no longer in the dial plan that still has callers.
    pub in_plan: bool,
    pub priority: i32,
    pub closed: bool,
    pub aht_ms: u64,
    pub aht_samples: usize,
    /// Staffed agents serving this queue (logged in, not paused; skills not checked).
    pub staffed: u32,
    /// Waiting and ringing calls, best first.
    pub calls: Vec<CallSnapshot>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallSnapshot {
    pub call: CallId,
    pub waited_ms: u64,
    pub priority: i64,
    pub lang: String,
    pub topic: Option<String>,
    pub callback: bool,
    /// The number a callback will dial.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_number: Option<String>,
    pub relax_step: usize,
    pub offered_to: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentSnapshot {
    pub id: String,
    pub state: AgentState,
    pub reason: Option<String>,
    pub since: Time,
    pub call: Option<CallId>,
    pub registered: bool,
    pub scheduled: bool,
    pub misses: u32,
}

/// A place kept for a caller who hung up while waiting (abandoned-resume, see `resume`).
#[derive(Debug, Clone)]
pub(super) struct Place {
    pub call: CallId,
    pub log_id: String,
    pub since: Time,
    pub held_ms: u64,
    pub until: Time,
}

/// Kept places by (interned queue, number).
pub(super) type Places = std::collections::BTreeMap<(usize, String), Place>;
