//! The one event log. Every call emits typed events (entered the IVR, chose a language, pressed
//! a digit, was redirected, entered a queue, was offered to an agent, was answered, abandoned …)
//! and every agent emits state changes. CDRs and every report are derived from these; no
//! figure is kept twice.
//!
//! Plain data: no I/O. `store` writes them, `report` reads them.

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// Our id for a call: unique across nodes and sortable by start time
/// (`<start ms, hex>-<random>`), unlike a SIP Call-ID which the caller chooses.
pub fn new_call_uid(start_ms: i64) -> String {
    format!("{start_ms:011x}-{:08x}", rand::random::<u32>())
}

/// Milliseconds since the Unix epoch, UTC.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    CallStarted {
        sip_call_id: String,
        from: String,
        to: String,
        transport: String,
        plan_version: String,
    },
    /// We answered the caller (2xx sent).
    Answered,
    NodeEntered {
        node: String,
        kind: String,
    },
    PromptPlayed {
        prompt: String,
        lang: String,
    },
    Digit {
        digit: String,
        source: String,
    },
    MenuChoice {
        node: String,
        digit: String,
        next: String,
    },
    MenuInvalid {
        node: String,
        digit: String,
    },
    MenuTimeout {
        node: String,
    },
    LanguageChosen {
        lang: String,
    },
    BranchTaken {
        node: String,
        condition: String,
        taken: bool,
        reason: String,
    },
    EmergencyEscape {
        node: String,
    },
    Collected {
        variable: String,
        digits: String,
    },
    /// 302 to a target before answering.
    Redirected {
        target: String,
        uri: String,
    },
    TransferStarted {
        target: String,
        uri: String,
    },
    TransferAnswered {
        target: String,
    },
    TransferFailed {
        target: String,
        status: u16,
    },
    Hold,
    Resume,
    QueueEntered {
        queue: String,
        position: u32,
        skills: Vec<String>,
        topic: Option<String>,
        priority: i32,
    },
    /// Position and estimated wait announced to the caller, with what the estimate was made
    /// of (`acd::Announcement`). Fields after `estimate_s` are absent from logs written
    /// before they existed (read as 0 / false / none).
    Announced {
        queue: String,
        position: u32,
        /// None: nobody staffed could take the call; position only. (Old logs wrote 0.)
        estimate_s: Option<u32>,
        /// Staffed agents able to take the call, and those a later relaxation step adds.
        #[serde(default)]
        agents: u32,
        #[serde(default)]
        agents_later: u32,
        /// Mean handle time used.
        #[serde(default)]
        aht_s: u32,
        /// Expected time until the first of those agents frees.
        #[serde(default)]
        first_free_s: u32,
        /// Mean patience of waiting callers assumed (none: no abandonment seen).
        #[serde(default)]
        patience_s: Option<u32>,
        /// The callback offer was played.
        #[serde(default)]
        callback_offered: bool,
        /// Extra announcement: the caller had waited far past the wait first told.
        #[serde(default)]
        late: bool,
    },
    Offered {
        queue: String,
        agent: String,
    },
    RingNoAnswer {
        queue: String,
        agent: String,
    },
    AgentAnswered {
        queue: String,
        agent: String,
    },
    /// Left the queue: `reason` is answered, abandoned, callback, overflow, closed.
    QueueLeft {
        queue: String,
        reason: String,
    },
    CallbackRequested {
        queue: String,
        number: String,
    },
    /// This caller hung up earlier (call `from`) and called again within the queue's resume
    /// window: they got that place back, and `held_s` already waited counts as their wait.
    QueueResumed {
        queue: String,
        from: String,
        held_s: u32,
    },
    /// Written on the earlier call, after it ended: a later call (`by`) took its place back,
    /// so this call is counted there (not as an abandon, not as a second caller).
    ResumedBy {
        by: String,
    },
    Recorded {
        file: String,
        seconds: u32,
    },
    /// The agent finished wrap-up for this call.
    WrapupEnded {
        agent: String,
    },
    /// The agent sent the caller elsewhere (`to`: `queue:<name>` or `target:<name>`).
    AgentTransfer {
        agent: String,
        to: String,
    },
    /// The agent, with the caller on hold, rings colleague `to` to talk first (an attended
    /// transfer's first half).
    Consult {
        agent: String,
        to: String,
    },
    /// The consulted colleague answered: the two agents talk, the caller still on hold.
    ConsultAnswered {
        to: String,
    },
    /// The consultation is over: `result` is `transferred` (the colleague has the caller —
    /// an `agent_transfer` to `agent:<to>` and their `agent_answered` follow), `cancelled`
    /// (the agent hung it up), `refused:busy`, `failed:<status>` or `hung-up` (the colleague
    /// left it); the caller is back with the agent.
    ConsultEnded {
        to: String,
        result: String,
    },
    /// Written on the call that booked a callback: a supervisor cancelled the callback
    /// (it will not be dialled, nor restored after a restart).
    CallbackCancelled {
        by: String,
    },
    /// Written on a call that left a voice message: a supervisor dealt with it (from the
    /// console).
    VoicemailHandled {
        by: String,
    },
    /// What the agent recorded about the call after it (from the desktop).
    Disposition {
        agent: String,
        code: String,
        note: String,
    },
    /// Final event: `outcome` names how the call left (self-served, redirect:911,
    /// transfer:811, queue:general answered …), `side` who hung up (caller, system, agent).
    CallEnded {
        outcome: String,
        side: String,
        cause: String,
    },
}

impl EventKind {
    /// Stable name, stored in its own column for indexing.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::CallStarted { .. } => "call_started",
            EventKind::Answered => "answered",
            EventKind::NodeEntered { .. } => "node_entered",
            EventKind::PromptPlayed { .. } => "prompt_played",
            EventKind::Digit { .. } => "digit",
            EventKind::MenuChoice { .. } => "menu_choice",
            EventKind::MenuInvalid { .. } => "menu_invalid",
            EventKind::MenuTimeout { .. } => "menu_timeout",
            EventKind::LanguageChosen { .. } => "language_chosen",
            EventKind::BranchTaken { .. } => "branch_taken",
            EventKind::EmergencyEscape { .. } => "emergency_escape",
            EventKind::Collected { .. } => "collected",
            EventKind::Redirected { .. } => "redirected",
            EventKind::TransferStarted { .. } => "transfer_started",
            EventKind::TransferAnswered { .. } => "transfer_answered",
            EventKind::TransferFailed { .. } => "transfer_failed",
            EventKind::Hold => "hold",
            EventKind::Resume => "resume",
            EventKind::QueueEntered { .. } => "queue_entered",
            EventKind::Announced { .. } => "announced",
            EventKind::Offered { .. } => "offered",
            EventKind::RingNoAnswer { .. } => "ring_no_answer",
            EventKind::AgentAnswered { .. } => "agent_answered",
            EventKind::QueueLeft { .. } => "queue_left",
            EventKind::CallbackRequested { .. } => "callback_requested",
            EventKind::QueueResumed { .. } => "queue_resumed",
            EventKind::ResumedBy { .. } => "resumed_by",
            EventKind::Recorded { .. } => "recorded",
            EventKind::WrapupEnded { .. } => "wrapup_ended",
            EventKind::Disposition { .. } => "disposition",
            EventKind::CallbackCancelled { .. } => "callback_cancelled",
            EventKind::VoicemailHandled { .. } => "voicemail_handled",
            EventKind::AgentTransfer { .. } => "agent_transfer",
            EventKind::Consult { .. } => "consult",
            EventKind::ConsultAnswered { .. } => "consult_answered",
            EventKind::ConsultEnded { .. } => "consult_ended",
            EventKind::CallEnded { .. } => "call_ended",
        }
    }
}

/// Sequence number of a call's `wrapup_ended` event: written by the ACD task after the call
/// itself is over, so it takes a number above any the call uses and sorts last.
pub const WRAPUP_SEQ: u32 = 1_000_000;

/// Sequence number of a call's `disposition` event: written from the agent's desktop after
/// the call, between the call's own events and its wrap-up end.
pub const DISPOSITION_SEQ: u32 = WRAPUP_SEQ - 1;
/// Sequence number of a call's `resumed_by` event, written when a later call takes its place
/// back (after this call ended, like `wrapup_ended`).
pub const RESUMED_SEQ: u32 = 1_000_001;
/// Sequence number of a call's `callback_cancelled` event (after the call ended).
pub const CALLBACK_CANCELLED_SEQ: u32 = 1_000_002;
/// Sequence number of a call's `voicemail_handled` event (after the call ended).
pub const VOICEMAIL_HANDLED_SEQ: u32 = 1_000_003;

/// One step of one call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallEvent {
    pub call: String,
    /// Order within the call (0 = CallStarted).
    pub seq: u32,
    pub at_ms: i64,
    pub kind: EventKind,
}

/// An agent's state change (logged out, available, reserved, ringing, on call, wrap-up,
/// paused with a reason).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentEvent {
    pub agent: String,
    pub at_ms: i64,
    pub state: String,
    pub reason: Option<String>,
}

/// Anything the log keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Record {
    Call(CallEvent),
    Agent(AgentEvent),
}

/// Where events go. Sending never blocks the call: the store batches and spools.
#[derive(Debug, Clone)]
pub struct EventSink {
    tx: Option<mpsc::UnboundedSender<Record>>,
}

impl EventSink {
    pub fn new(tx: mpsc::UnboundedSender<Record>) -> EventSink {
        EventSink { tx: Some(tx) }
    }

    /// A sink that drops everything (tools that log nothing).
    pub fn none() -> EventSink {
        EventSink { tx: None }
    }

    pub fn send(&self, r: Record) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(r);
        }
    }
}

/// A call's event writer: numbers events in order and stamps them.
#[derive(Debug)]
pub struct CallLog {
    pub call: String,
    seq: u32,
    sink: EventSink,
}

impl CallLog {
    pub fn new(call: String, sink: EventSink) -> CallLog {
        CallLog { call, seq: 0, sink }
    }

    pub fn emit(&mut self, kind: EventKind) {
        self.emit_at(now_ms(), kind);
    }

    pub fn emit_at(&mut self, at_ms: i64, kind: EventKind) {
        let ev = CallEvent {
            call: self.call.clone(),
            seq: self.seq,
            at_ms,
            kind,
        };
        self.seq += 1;
        self.sink.send(Record::Call(ev));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialise_with_a_type_tag() {
        let e = EventKind::MenuChoice {
            node: "main".into(),
            digit: "2".into(),
            next: "permis".into(),
        };
        let s = serde_json::to_string(&e).unwrap();
        assert_eq!(
            s,
            r#"{"type":"menu_choice","node":"main","digit":"2","next":"permis"}"#
        );
        assert_eq!(serde_json::from_str::<EventKind>(&s).unwrap(), e);
        assert_eq!(e.name(), "menu_choice");
    }

    #[test]
    fn call_uids_sort_by_time() {
        let a = new_call_uid(1_700_000_000_000);
        let b = new_call_uid(1_700_000_000_001);
        assert!(a < b);
    }
}
