//! The call core's vocabulary: what comes in (leg events, ACD decisions, an agent's contacts,
//! timers, shutdown) and what goes out (leg and media commands, requests to the ACD, call-log
//! events). Plain data: no I/O, no SIP messages — a leg is whatever the driver makes of it
//! (a SIP UAS or UAC leg today, a WebRTC leg tomorrow).

use std::time::Instant;

use crate::acd;
use crate::dialplan::model::Overflow;
use crate::event::EventKind;
use crate::ivr::Say;
use crate::sip::flow::Flow;

/// A leg of this call. The caller's own leg (an inbound call) is `CALLER`; the legs the call
/// originates get the next numbers.
pub type LegId = u32;
pub const CALLER: LegId = 0;

/// Why a leg is part of the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// The citizen who called us.
    Caller,
    /// An agent's phone or browser, offered a call from `queue`.
    Agent { agent: String, queue: String },
    /// A dial-plan exit (911, 811, a neighbouring town, a partner programme).
    Target { name: String },
    /// The citizen we call back.
    Citizen,
    /// An agent's phone calling a colleague to consult them while it has the caller.
    Consulting { agent: String },
    /// The colleague consulted, rung on each of their contacts.
    Colleague { agent: String },
}

/// One place an agent can be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contact {
    /// A SIP binding: the Contact URI, reached down the flow it registered on (NAT-safe).
    Sip { uri: String, flow: Flow },
    /// A signed-in agent desktop (browser), by its web session number.
    Desk { session: u64 },
}

/// What an agent is shown about the call being offered (the screen pop), as far as the call
/// knows it; the desktop adds the caller's history.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct OfferContext {
    /// Our id for the call (its log).
    pub call: String,
    pub caller: String,
    pub caller_name: Option<String>,
    /// `fr` / `en`.
    pub language: String,
    pub queue: String,
    pub topic: Option<String>,
    /// The caller's way through the menus, in words.
    pub path: Vec<String>,
    /// When the caller entered the queue (ms since the epoch).
    pub queued_at_ms: i64,
    /// For a callback: the number to call back.
    pub callback: Option<String>,
    /// The knowledge-base page for this topic or queue (label, address).
    pub knowledge: Option<(String, String)>,
    /// Disposition codes the agent chooses from after the call.
    pub dispositions: Vec<String>,
    /// A colleague's consultation about this caller (not an offer of the caller): who asks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consult_from: Option<String>,
}

/// Where a new leg goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dial {
    /// A URI from the plan or the configuration (a target, the callback route).
    Uri(String),
    Contact(Contact),
}

/// A leg the call wants placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Originate {
    pub dial: Dial,
    /// The address of record shown as To (None: the dialled URI).
    pub to: Option<String>,
    /// Who the far end sees calling (the citizen, so the agent's phone shows them).
    pub from_user: String,
    pub from_display: Option<String>,
    /// Context for the far end (`X-Centrale-Context`, `X-Centrale-Call`).
    pub headers: Vec<(String, String)>,
    /// For an agent: the screen pop.
    pub context: Option<Box<OfferContext>>,
    /// The agent whose phone or desktop this leg rings, when it is an offer of the caller (a
    /// consultation call from that agent's phone then reaches this call).
    pub agent: Option<String>,
}

/// How a leg ended, as the driver saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegEnd {
    /// The far end hung up (BYE).
    Bye,
    /// The caller cancelled before we answered.
    Cancel,
    /// We hung up (our BYE, or our final response before answering).
    Local,
    /// Our 2xx was never acknowledged.
    NoAck,
    /// A late-offer ACK carried no usable answer.
    BadAck,
    /// We refused the call with this status.
    Rejected(u16),
    /// The connection to the far end was lost (a browser gone).
    Lost,
    /// The far end stopped refreshing the session (RFC 4028): it vanished.
    SessionExpired,
}

/// What happened on a leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegEvent {
    /// An originated leg rings.
    Ringing,
    /// An originated leg answered (media flows).
    Answered,
    /// An originated leg failed before answering (status; 408 on timeout, 503 when it could not
    /// even be placed).
    Failed {
        status: u16,
    },
    /// The caller's leg could not be set up (no media port, an SDP offer we cannot accept).
    Refused {
        status: u16,
        outcome: &'static str,
    },
    Ended(LegEnd),
    Digit {
        digit: char,
        source: &'static str,
    },
    PlayFinished {
        token: u64,
    },
    /// The far end put us on hold (true) or took us off (false).
    Held(bool),
    /// A recording asked for with `RecordStop` was written (or not: `file` None).
    Recorded {
        file: Option<String>,
        seconds: u32,
    },
    /// The agent on this leg sends the caller elsewhere (a SIP REFER, the desktop's button).
    Transfer(super::TransferTo),
    /// The agent's desktop consults a colleague (by agent id) before transferring.
    Consult(String),
    /// Hand the caller to the colleague consulted: a phone's REFER with Replaces (`other`: the
    /// leg of this call its Replaces names, None when it names none of them), or the
    /// desktop's button (`other` None).
    ConsultComplete {
        other: Option<LegId>,
        replaces: bool,
    },
    /// The desktop ends the consultation without transferring.
    ConsultCancel,
}

/// What the call asks of a leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegCommand {
    /// 180 before answering.
    Ring,
    Answer,
    /// A final refusal before answering (with extra headers, e.g. Retry-After).
    Reject {
        status: u16,
        headers: Vec<(String, String)>,
    },
    /// 302 to this URI before answering.
    Redirect {
        uri: String,
    },
    /// End the leg however far it got (BYE, CANCEL, or a final error before answering).
    Hangup,
    /// How the transfer this leg asked for is going (100 trying, 200 done, or the failure).
    Notify {
        status: u16,
    },
}

/// What the call asks of the media of its legs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaCommand {
    /// Play these prompts in order; `token` comes back in `PlayFinished` unless interrupted.
    Play {
        leg: LegId,
        prompts: Vec<Say>,
        token: u64,
        looping: bool,
    },
    /// Stop playing; the leg hears silence.
    Stop {
        leg: LegId,
    },
    /// Relay audio (and DTMF) between two legs.
    Bridge {
        a: LegId,
        b: LegId,
    },
    /// Stop relaying into and out of this leg; it hears silence again.
    Unbridge {
        leg: LegId,
    },
    RecordStart {
        leg: LegId,
        max_seconds: u32,
    },
    /// Stop recording and save what was heard as `name` (answered by `Recorded`).
    RecordStop {
        leg: LegId,
        name: String,
    },
}

/// What the call tells the ACD (the driver adds its own address where the ACD needs one).
#[derive(Debug, Clone, PartialEq)]
pub enum AcdRequest {
    /// Queue this call; its decisions come back as `Input::Acd`.
    Queue(acd::Input),
    Input(acd::Input),
    /// Send the decisions for this ACD call to this call (a callback being dialled).
    Route(acd::CallId),
    /// This call no longer takes decisions for its ACD call.
    Forget(acd::CallId),
    /// A callback booked by this call continues this call's log when it is dialled.
    CallbackLog {
        call: acd::CallId,
        uid: String,
        queue: String,
        lang: String,
    },
    /// When the agent's wrap-up for this call ends, log `wrapup_ended` on this call.
    WrapupLog {
        agent: String,
        uid: String,
    },
}

/// A decision of the ACD for this call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcdDecision {
    /// The caller's position right after queueing (for the `queue_entered` event).
    Position(u32),
    Offer {
        agent: String,
    },
    CancelOffer {
        agent: String,
        reason: &'static str,
    },
    /// Position, estimated wait (with what it was made from), maybe the callback offer.
    Announce(acd::Announcement),
    /// The caller got back the place of an earlier call (`from`, its log id) that hung up.
    Resumed {
        from: String,
        held_ms: u64,
    },
    Overflow(Overflow),
    /// The answer to a consultation request (`refused` None: the colleague is reserved).
    Consult {
        agent: String,
        refused: Option<&'static str>,
    },
}

/// Everything the call can be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Leg {
        leg: LegId,
        event: LegEvent,
    },
    Acd(AcdDecision),
    /// The answer to `FindContacts`.
    Contacts {
        agent: String,
        contacts: Vec<Contact>,
    },
    /// The server is shutting down: finish within the drain time, then hang up.
    Shutdown {
        drain_until: Instant,
    },
}

/// Everything the call asks for, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Leg {
        leg: LegId,
        cmd: LegCommand,
    },
    /// Place a new leg with this id.
    Originate {
        leg: LegId,
        req: Originate,
    },
    Media(MediaCommand),
    Acd(AcdRequest),
    /// Where can this agent be reached now? (answered by `Input::Contacts`)
    FindContacts {
        agent: String,
    },
    /// For the call's log (the driver stamps the time).
    Event(EventKind),
    /// The call is over: flush what the legs still send, then stop.
    Ended,
}

/// What calls and desktops need of an agent of agents.toml.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgentInfo {
    /// Their desktop answers by itself.
    pub auto_answer: bool,
    /// SRTP toward their phone over TLS (None: the server's `[sip] srtp`).
    pub srtp: Option<crate::media::srtp::SrtpPolicy>,
}

/// The agents of agents.toml as calls and desktops see them — id, whether their desktop
/// answers by itself, their SRTP policy — for transfers to a colleague by name, the desktop's
/// greeting and the legs to their phones; the ACD task replaces it whenever it loads the file
/// (nobody else reads the file for this).
#[derive(Debug, Default)]
pub struct AgentDirectory(std::sync::RwLock<std::collections::BTreeMap<String, AgentInfo>>);

impl AgentDirectory {
    /// Replace the directory.
    pub fn set(&self, agents: impl IntoIterator<Item = (String, AgentInfo)>) {
        let agents = agents.into_iter().collect();
        match self.0.write() {
            Ok(mut g) => *g = agents,
            Err(poisoned) => *poisoned.into_inner() = agents,
        }
    }

    fn read(
        &self,
    ) -> std::sync::RwLockReadGuard<'_, std::collections::BTreeMap<String, AgentInfo>> {
        self.0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn contains(&self, id: &str) -> bool {
        self.read().contains_key(id)
    }

    pub fn auto_answer(&self, id: &str) -> bool {
        self.read().get(id).is_some_and(|a| a.auto_answer)
    }

    /// The agent's own SRTP policy, if they have one.
    pub fn srtp(&self, id: &str) -> Option<crate::media::srtp::SrtpPolicy> {
        self.read().get(id).and_then(|a| a.srtp)
    }

    pub fn ids(&self) -> Vec<String> {
        self.read().keys().cloned().collect()
    }
}
