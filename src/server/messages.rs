//! The messages between the server's tasks: the SIP driver and the calls (`SipCmd`, `ToCall`),
//! the calls and the ACD task (`AcdCmd`), and a new call handed from the SIP driver to whoever
//! spawns call tasks (`NewCall`). Plain data, so every task depends on this file and none on
//! another task's file.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::acd::{CallId, Input, Snapshot};
use crate::call::{AcdDecision, CallbackSetup};
use crate::media::prompt::Lang;
use crate::sip::endpoint::TxId;
use crate::sip::flow::Flow;
use crate::sip::message::{InRequest, InResponse, Method};
use crate::sip::registrar::{Accounts, Binding};

/// What the SIP driver hands to a call task.
#[derive(Debug)]
pub enum ToCall {
    Request {
        tx: TxId,
        req: Box<InRequest>,
        flow: Flow,
    },
    Ack {
        req: Box<InRequest>,
    },
    /// The far end cancelled its INVITE with this Call-ID (the caller's, or an agent's
    /// consultation call).
    Cancelled {
        call_id: String,
    },
    /// An agent's phone calls a colleague while it has this call's caller (a consultation):
    /// the new INVITE, for this call to take as a leg of its own.
    Consult {
        tx: TxId,
        req: Box<InRequest>,
        flow: Flow,
        agent: String,
    },
    Response {
        tx: TxId,
        resp: Box<InResponse>,
        flow: Flow,
    },
    TimedOut {
        method: Method,
        server: bool,
        call_id: String,
    },
    /// The answer to `SipCmd::Contacts`: the agent's phones and signed-in desktops.
    Contacts {
        agent: String,
        bindings: Vec<Binding>,
        desks: Vec<DeskHandle>,
    },
    /// A desktop's answer about one of our legs (`leg`: the key the offer gave it).
    Desk {
        leg: String,
        msg: FromDesk,
    },
}

/// A signed-in agent desktop (a browser tab), as the rest of the server reaches it.
#[derive(Clone)]
pub struct DeskHandle {
    /// The web session's number.
    pub session: u64,
    pub agent: String,
    pub tx: mpsc::Sender<ToDesk>,
}

impl PartialEq for DeskHandle {
    fn eq(&self, other: &Self) -> bool {
        self.session == other.session
    }
}

impl std::fmt::Debug for DeskHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Desk({} #{})", self.agent, self.session)
    }
}

/// What a call tells a desktop.
#[derive(Debug)]
pub enum ToDesk {
    /// Ring: a call for the agent, with what the screen pop shows; answers go to `reply`.
    Offer {
        leg: String,
        reply: mpsc::Sender<ToCall>,
        pop: Box<crate::call::OfferContext>,
    },
    /// The SDP answer to the desktop's offer (WebRTC).
    Sdp { leg: String, sdp: String },
    /// Audio flows.
    Connected { leg: String },
    /// The offer is withdrawn (rang out, the caller left, another phone answered) or the call
    /// is over; `by` says who ended it.
    Ended { leg: String, by: &'static str },
    /// How a transfer the agent asked for is going (100, 200, or the failure).
    Transfer { leg: String, status: u16 },
}

/// What a desktop tells a call about its leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromDesk {
    /// The offer reached the page (it rings).
    Ringing,
    /// The agent answers; the page's WebRTC offer.
    Answer {
        sdp: String,
    },
    Reject,
    Hangup,
    /// The page went away (tab closed, network lost) while this leg was its.
    Gone,
    /// The agent puts the caller on hold (true) or takes them off it.
    Hold(bool),
    /// The agent sends the caller to a queue or a plan target.
    Transfer(crate::call::TransferTo),
    /// The agent consults a colleague (by id) before transferring; completes; cancels.
    Consult(String),
    ConsultComplete,
    ConsultCancel,
}

/// What a call task (or the ACD task) asks of the SIP driver.
pub enum SipCmd {
    Respond {
        tx: TxId,
        status: u16,
        bytes: Bytes,
    },
    /// Start a client transaction. `dest` None: resolve `next_hop` (a SIP URI) first.
    Request {
        call_id: String,
        method: Method,
        branch: String,
        bytes: Bytes,
        dest: Option<Flow>,
        next_hop: String,
    },
    /// Bytes outside any transaction (the ACK of a 2xx); `dest` None: resolve `next_hop`.
    Stateless {
        bytes: Bytes,
        dest: Option<Flow>,
        next_hop: String,
    },
    /// Route messages with this Call-ID to a call task (our B-legs).
    Bind {
        call_id: String,
        to: mpsc::Sender<ToCall>,
        /// The agent this leg rings (their phone's consultation calls come to this call).
        agent: Option<String>,
    },
    Unbind {
        call_id: String,
    },
    /// A resolved request comes back to be sent.
    Resolved(ResolvedRequest),
    /// DNS gave no way to reach `next_hop`: the request of `method` never left (the call or
    /// trunk client sees a timeout, so a trunk fails over at once).
    Unresolvable {
        call_id: String,
        method: Method,
    },
    /// Where is this agent registered? (answered with `ToCall::Contacts` on `reply`)
    Contacts {
        agent: String,
        reply: mpsc::Sender<ToCall>,
    },
    /// agents.toml was reloaded: the registrar authenticates against this now.
    Accounts(Arc<dyn Accounts>),
    /// A desktop signed in (the agent can be reached there) or went away.
    DeskOnline(DeskHandle),
    /// One desktop socket closed: `tx` tells it from another socket of the same session (a
    /// second tab), which stays online. With `pause`, an agent left with no desktop is paused
    /// (`disconnected`) so that no call is offered to a desk that is gone.
    DeskOffline {
        session: u64,
        tx: mpsc::Sender<ToDesk>,
        pause: bool,
    },
}

/// A request whose next hop DNS found: sent to `dest`; `rest` are the other candidates, in
/// order, tried when a connection to `dest` cannot be made (then `dest` becomes the next one).
#[derive(Debug)]
pub struct ResolvedRequest {
    pub call_id: String,
    pub method: Method,
    pub branch: String,
    /// As the call task wrote it (each candidate gets its own top Via).
    pub bytes: Bytes,
    pub dest: Flow,
    pub rest: Vec<Flow>,
    pub next_hop: String,
}

/// What the ACD task is asked.
pub enum AcdCmd {
    Input(Input),
    /// Queue a call and send its decisions to `to`.
    Queue {
        input: Input,
        to: mpsc::UnboundedSender<AcdDecision>,
    },
    /// Send this call's decisions to `to` (a callback being dialled).
    Route {
        call: CallId,
        to: mpsc::UnboundedSender<AcdDecision>,
    },
    /// The call task is gone; forget where to send.
    Forget(CallId),
    /// A callback to be dialled later: its log points at this call.
    CallbackLog {
        call: CallId,
        uid: String,
        queue: String,
        lang: String,
    },
    /// The agent's wrap-up for this call ends an event on the call's log.
    WrapupLog {
        agent: String,
        uid: String,
    },
    Snapshot(oneshot::Sender<Snapshot>),
    /// The log ids of the calls that booked the callbacks waiting, by ACD id.
    CallbackOrigins(oneshot::Sender<std::collections::HashMap<CallId, String>>),
    /// A supervisor cancels a waiting callback; the reply says whether there was one.
    CancelCallback {
        call: CallId,
        by: String,
        reply: oneshot::Sender<bool>,
    },
}

/// An agent's state changed (for the desktops and the console, live).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentStateChange {
    pub agent: String,
    pub state: crate::acd::AgentState,
    pub reason: Option<String>,
}

/// A new INVITE outside any dialog, for a new call task.
pub struct NewCall {
    pub tx: TxId,
    pub invite: Box<InRequest>,
    pub flow: Flow,
    /// The agent whose registered phone sent it, if any (feature codes).
    pub agent_phone: Option<String>,
    pub rx: mpsc::Receiver<ToCall>,
    pub me: mpsc::Sender<ToCall>,
}

/// Starts a call task for a new INVITE (injected into the SIP driver).
pub type SpawnCall = Arc<dyn Fn(NewCall) + Send + Sync>;
/// Starts a callback's call task (injected into the ACD task).
pub type SpawnCallback = Arc<dyn Fn(CallbackSetup) + Send + Sync>;

/// The language of a callback as the ACD task kept it.
pub fn lang_of(s: &str) -> Lang {
    s.parse().unwrap_or(Lang::Fr)
}
