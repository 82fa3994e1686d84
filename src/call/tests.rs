//! Call flows on virtual time: a plan loaded through the real loader, the call core driven by
//! hand — leg events, ACD decisions, contacts, timers — and its outputs checked: commands to
//! legs and media, requests to the ACD, and the call log it writes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::acd::{Input as AcdInput, OfferFailure};
use crate::dialplan::load::{load_files, PromptList};
use crate::dialplan::model::Plan;
use crate::sip::flow::{Flow, TransportKind};

const PLAN: &str = r#"
[plan]
name = "test"
language = "fr"
emergency = { digit = "9", target = "911", prompts = ["emergency_transfer"] }

[numbers]
"311" = "start"

[[misdial]]
numbers = ["811"]
target = "811"

[targets.911]
kind = "transfer"
uri = "sip:911@127.0.0.1:5070"

[targets.811]
kind = "transfer"
uri = "sip:811@127.0.0.1:5070"

[targets.ville]
kind = "transfer"
uri = "sip:ville@127.0.0.1:5070"

[queues.general]
skills = ["general"]
hold = ["hold_music", "queue_emergency"]
announce_every = 45
callback = true
emergency = true

[nodes.start]
type = "menu"
prompts = ["welcome"]
choices = { "1" = "q", "2" = "out", "3" = "msg" }
on_fail = "q"

[nodes.q]
type = "queue"
queue = "general"

[nodes.out]
type = "transfer"
target = "ville"
on_failure = "sorry"

[nodes.sorry]
type = "hangup"
prompts = ["transfer_failed"]
outcome = "transfer-failed"

[nodes.msg]
type = "record"
prompts = ["leave_message"]
max_seconds = 60
next = "bye"

[nodes.bye]
type = "hangup"
prompts = ["thanks"]
outcome = "voicemail"
"#;

const PROMPTS: &[&str] = &[
    "welcome",
    "hold_music",
    "queue_emergency",
    "emergency_transfer",
    "transfer_failed",
    "leave_message",
    "thanks",
    "invalid",
    "no_input",
];

fn plan() -> Arc<Plan> {
    let files = vec![(PathBuf::from("plan.toml"), PLAN.to_string())];
    match load_files(&files, &PromptList::both(PROMPTS)) {
        Ok(p) => Arc::new(p),
        Err(d) => panic!(
            "test plan does not load: {:?}",
            d.iter().map(ToString::to_string).collect::<Vec<_>>()
        ),
    }
}

fn cfg() -> Arc<CallConfig> {
    let agents = Arc::new(AgentDirectory::default());
    agents.set([
        ("marie".to_string(), AgentInfo::default()),
        ("paul".to_string(), AgentInfo::default()),
    ]);
    Arc::new(CallConfig {
        emergency_numbers: vec!["911".into()],
        emergency_uri: "sip:911@127.0.0.1:5070".into(),
        answer_delay: Duration::ZERO,
        max_duration: Duration::from_secs(4 * 3600),
        realm: "centrale".into(),
        outbound: "sip:{number}@127.0.0.1:5070".into(),
        acd: true,
        callback_area_codes: Vec::new(),
        callback_per_day: 3,
        callback_cap: Default::default(),
        agents,
        ring_timeout: Duration::from_secs(15),
    })
}

fn contact(port: u16) -> Contact {
    Contact::Sip {
        uri: format!("sip:marie@127.0.0.1:{port}"),
        flow: Flow {
            transport: TransportKind::Udp,
            local: "127.0.0.1:5060".parse().unwrap(),
            remote: format!("127.0.0.1:{port}").parse().unwrap(),
            conn: 0,
        },
    }
}

/// The call core plus a virtual clock and everything it has put out so far.
struct T {
    call: Call,
    base: Instant,
    elapsed: Duration,
    /// Outputs not yet looked at.
    out: Vec<Output>,
    /// Every call-log event, in order.
    log: Vec<EventKind>,
    /// The token of the last playlist on each leg.
    playing: std::collections::HashMap<LegId, u64>,
}

impl T {
    fn now_at(base: Instant, elapsed: Duration) -> Now {
        Now {
            mono: base + elapsed,
            wall: jiff::Timestamp::from_second(1_807_000_000).unwrap()
                + jiff::SignedDuration::try_from(elapsed).unwrap(),
        }
    }

    fn inbound(dialled: &str) -> T {
        T::inbound_from(dialled, "4185550100", None)
    }

    fn inbound_from(dialled: &str, caller: &str, display: Option<&str>) -> T {
        let base = Instant::now();
        let setup = Inbound {
            uid: "call-1".into(),
            acd_id: 7,
            dialled: dialled.into(),
            caller: caller.into(),
            caller_display: display.map(str::to_string),
            sip_call_id: "abc@host".into(),
            transport: "udp".into(),
            plan: Some(plan()),
            agent_phone: None,
            storm: None,
        };
        let call = Call::inbound(cfg(), setup, T::now_at(base, Duration::ZERO));
        let mut t = T {
            call,
            base,
            elapsed: Duration::ZERO,
            out: Vec::new(),
            log: Vec::new(),
            playing: Default::default(),
        };
        t.drain();
        t
    }

    fn now(&self) -> Now {
        T::now_at(self.base, self.elapsed)
    }

    fn drain(&mut self) {
        while let Some(o) = self.call.poll() {
            match &o {
                Output::Event(e) => self.log.push(e.clone()),
                Output::Media(MediaCommand::Play { leg, token, .. }) => {
                    self.playing.insert(*leg, *token);
                }
                _ => {}
            }
            self.out.push(o);
        }
    }

    fn take(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }

    fn leg(&mut self, leg: LegId, event: LegEvent) {
        self.call.handle(Input::Leg { leg, event }, self.now());
        self.drain();
    }

    fn acd(&mut self, d: AcdDecision) {
        self.call.handle(Input::Acd(d), self.now());
        self.drain();
    }

    fn contacts(&mut self, agent: &str, contacts: Vec<Contact>) {
        let agent = agent.to_string();
        self.call
            .handle(Input::Contacts { agent, contacts }, self.now());
        self.drain();
    }

    fn digit(&mut self, d: char) {
        self.leg(
            CALLER,
            LegEvent::Digit {
                digit: d,
                source: "rfc4733",
            },
        );
    }

    /// The playlist on `leg` plays to its end, a second later.
    fn play_ends(&mut self, leg: LegId) {
        self.elapsed += Duration::from_secs(1);
        let token = *self.playing.get(&leg).expect("nothing plays on this leg");
        self.leg(leg, LegEvent::PlayFinished { token });
    }

    /// Jump to the call's next deadline.
    fn timeout(&mut self) {
        let d = self.call.poll_timeout().expect("no deadline");
        self.elapsed = d - self.base;
        self.call.handle_timeout(self.now());
        self.drain();
    }

    /// Caller dials 311 and presses 1: queued.
    fn queued() -> T {
        let mut t = T::inbound("311");
        t.digit('1');
        t.acd(AcdDecision::Position(1));
        t
    }

    fn names(&self) -> Vec<&'static str> {
        self.log.iter().map(|e| e.name()).collect()
    }

    fn ended(&self) -> (String, String) {
        match self.log.last() {
            Some(EventKind::CallEnded { outcome, side, .. }) => (outcome.clone(), side.clone()),
            other => panic!("the call has not ended: last event {other:?}"),
        }
    }
}

fn originated(out: &[Output]) -> Vec<(LegId, Originate)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Originate { leg, req } => Some((*leg, req.clone())),
            _ => None,
        })
        .collect()
}

fn commands(out: &[Output], want: &LegCommand) -> Vec<LegId> {
    out.iter()
        .filter_map(|o| match o {
            Output::Leg { leg, cmd } if cmd == want => Some(*leg),
            _ => None,
        })
        .collect()
}

fn acd_inputs(out: &[Output]) -> Vec<AcdInput> {
    out.iter()
        .filter_map(|o| match o {
            Output::Acd(AcdRequest::Input(i)) | Output::Acd(AcdRequest::Queue(i)) => {
                Some(i.clone())
            }
            _ => None,
        })
        .collect()
}

fn plays(out: &[Output], leg: LegId) -> Vec<Vec<String>> {
    out.iter()
        .filter_map(|o| match o {
            Output::Media(MediaCommand::Play {
                leg: l, prompts, ..
            }) if *l == leg => Some(prompts.iter().map(|s| s.id.clone()).collect()),
            _ => None,
        })
        .collect()
}

/// Offer the queued call to marie, who has phones on these ports; the new legs.
fn offer(t: &mut T, ports: &[u16]) -> Vec<LegId> {
    offer_to(t, "marie", ports)
}

fn offer_to(t: &mut T, agent: &str, ports: &[u16]) -> Vec<LegId> {
    t.take();
    t.acd(AcdDecision::Offer {
        agent: agent.into(),
    });
    assert!(t.take().contains(&Output::FindContacts {
        agent: agent.into()
    }));
    t.contacts(agent, ports.iter().map(|&p| contact(p)).collect());
    originated(&t.take()).into_iter().map(|(l, _)| l).collect()
}

#[test]
fn emergency_number_is_redirected_before_the_plan() {
    let mut t = T::inbound("9-1-1");
    let out = t.take();
    assert!(out.contains(&Output::Leg {
        leg: CALLER,
        cmd: LegCommand::Redirect {
            uri: "sip:911@127.0.0.1:5070".into()
        }
    }));
    assert_eq!(t.names(), ["call_started", "redirected", "call_ended"]);
    assert_eq!(t.ended(), ("redirect:911".into(), "system".into()));
    assert!(t.call.is_ended());
}

#[test]
fn misdial_with_a_transfer_target_carries_the_callers_number() {
    let mut t = T::inbound("811");
    let out = t.take();
    let legs = originated(&out);
    assert_eq!(legs.len(), 1);
    let (_, req) = &legs[0];
    assert_eq!(req.dial, Dial::Uri("sip:811@127.0.0.1:5070".into()));
    assert_eq!(req.from_user, "4185550100");
    assert_eq!(t.names(), ["call_started", "answered", "transfer_started"]);
}

#[test]
fn unknown_number_is_refused_with_404() {
    let mut t = T::inbound("5555");
    let out = t.take();
    assert!(out.contains(&Output::Leg {
        leg: CALLER,
        cmd: LegCommand::Reject {
            status: 404,
            headers: vec![]
        }
    }));
    assert_eq!(t.ended(), ("unknown-number".into(), "system".into()));
}

#[test]
fn caller_hangs_up_while_the_agent_rings() {
    let mut t = T::queued();
    let legs = offer(&mut t, &[7000]);
    assert_eq!(legs.len(), 1);
    t.leg(legs[0], LegEvent::Ringing);
    assert!(acd_inputs(&t.take()).contains(&AcdInput::Ringing {
        call: 7,
        agent: "marie".into()
    }));
    t.leg(CALLER, LegEvent::Ended(LegEnd::Bye));
    let out = t.take();
    // The agent's phone stops ringing, the ACD hears the caller left.
    assert_eq!(commands(&out, &LegCommand::Hangup), vec![legs[0]]);
    assert!(acd_inputs(&out).contains(&AcdInput::CallLeft { call: 7 }));
    assert_eq!(
        t.names(),
        [
            "call_started",
            "answered",
            "node_entered",
            "prompt_played",
            "digit",
            "menu_choice",
            "node_entered",
            "queue_entered",
            "offered",
            "queue_left",
            "call_ended"
        ]
    );
    assert!(matches!(&t.log[9], EventKind::QueueLeft { reason, .. } if reason == "abandoned"));
    assert_eq!(t.ended(), ("queue:general".into(), "caller".into()));
    // The cancelled leg's own end changes nothing.
    t.leg(legs[0], LegEvent::Failed { status: 487 });
    assert!(t.take().is_empty());
}

#[test]
fn a_failed_offer_puts_the_caller_back_in_place() {
    let mut t = T::queued();
    let legs = offer(&mut t, &[7000]);
    t.leg(legs[0], LegEvent::Failed { status: 486 });
    let out = t.take();
    assert!(acd_inputs(&out).contains(&AcdInput::OfferFailed {
        call: 7,
        agent: "marie".into(),
        reason: OfferFailure::Busy
    }));
    // Back on hold music, still queued, not ended.
    assert_eq!(
        plays(&out, CALLER),
        vec![vec!["hold_music".to_string(), "queue_emergency".into()]]
    );
    assert!(!t.call.is_ended());
    // No registered phone at all: unreachable, with 480.
    t.acd(AcdDecision::Offer {
        agent: "luc".into(),
    });
    t.contacts("luc", vec![]);
    assert!(acd_inputs(&t.take()).contains(&AcdInput::OfferFailed {
        call: 7,
        agent: "luc".into(),
        reason: OfferFailure::Unreachable
    }));
}

#[test]
fn the_second_of_two_contacts_answers() {
    let mut t = T::queued();
    let legs = offer(&mut t, &[7000, 7002]);
    assert_eq!(legs.len(), 2);
    // The first fails; the offer goes on while the second rings.
    t.leg(legs[0], LegEvent::Failed { status: 480 });
    assert!(acd_inputs(&t.take()).is_empty());
    t.leg(legs[1], LegEvent::Answered);
    let out = t.take();
    assert!(out.contains(&Output::Media(MediaCommand::Bridge {
        a: CALLER,
        b: legs[1]
    })));
    assert!(acd_inputs(&out).contains(&AcdInput::Answered {
        call: 7,
        agent: "marie".into()
    }));
    // The agent hangs up: wrap-up is logged on this call, the caller's leg is ended.
    t.leg(legs[1], LegEvent::Ended(LegEnd::Bye));
    let out = t.take();
    assert!(out.contains(&Output::Acd(AcdRequest::WrapupLog {
        agent: "marie".into(),
        uid: "call-1".into()
    })));
    assert_eq!(commands(&out, &LegCommand::Hangup), vec![CALLER]);
    t.leg(CALLER, LegEvent::Ended(LegEnd::Local));
    assert_eq!(t.ended(), ("queue:general".into(), "agent".into()));
}

#[test]
fn first_answer_wins_and_the_other_contacts_stop() {
    let mut t = T::queued();
    let legs = offer(&mut t, &[7000, 7002, 7004, 7006, 7008, 7010]);
    // Every contact rings, not only the first four.
    assert_eq!(legs.len(), 6);
    t.leg(legs[2], LegEvent::Answered);
    let out = t.take();
    let mut hung: Vec<LegId> = commands(&out, &LegCommand::Hangup);
    hung.sort();
    let mut others: Vec<LegId> = legs.iter().copied().filter(|&l| l != legs[2]).collect();
    others.sort();
    assert_eq!(hung, others);
    // A crossing 200 OK from a losing phone is not a second answer.
    t.leg(legs[0], LegEvent::Answered);
    assert!(t.take().is_empty());
}

#[test]
fn a_broken_agent_leg_requeues_the_caller() {
    let mut t = T::queued();
    let legs = offer(&mut t, &[7000]);
    t.leg(legs[0], LegEvent::Answered);
    t.take();
    t.leg(legs[0], LegEvent::Ended(LegEnd::NoAck));
    let out = t.take();
    assert!(acd_inputs(&out).contains(&AcdInput::OfferFailed {
        call: 7,
        agent: "marie".into(),
        reason: OfferFailure::Unreachable
    }));
    assert!(out.contains(&Output::Media(MediaCommand::Unbridge { leg: CALLER })));
    assert!(commands(&out, &LegCommand::Hangup).is_empty());
    // The next offer is followed.
    let again = offer(&mut t, &[7002]);
    assert_eq!(again.len(), 1);
}

#[test]
fn ring_timeout_stops_the_phones_and_logs_it() {
    let mut t = T::queued();
    let legs = offer(&mut t, &[7000]);
    t.acd(AcdDecision::CancelOffer {
        agent: "marie".into(),
        reason: "ring-timeout",
    });
    let out = t.take();
    assert_eq!(commands(&out, &LegCommand::Hangup), legs);
    assert!(matches!(t.log.last(), Some(EventKind::RingNoAnswer { .. })));
}

#[test]
fn a_transfer_that_fails_takes_the_on_failure_path() {
    let mut t = T::inbound("311");
    t.digit('2');
    let out = t.take();
    let legs = originated(&out);
    assert_eq!(legs[0].1.dial, Dial::Uri("sip:ville@127.0.0.1:5070".into()));
    assert_eq!(
        plays(&out, CALLER).last().unwrap(),
        &vec!["hold_music".to_string()]
    );
    t.leg(legs[0].0, LegEvent::Failed { status: 503 });
    let out = t.take();
    assert!(t.log.contains(&EventKind::TransferFailed {
        target: "ville".into(),
        status: 503
    }));
    assert_eq!(
        plays(&out, CALLER),
        vec![vec!["transfer_failed".to_string()]]
    );
    t.play_ends(CALLER);
    assert_eq!(commands(&t.take(), &LegCommand::Hangup), vec![CALLER]);
    t.leg(CALLER, LegEvent::Ended(LegEnd::Local));
    assert_eq!(t.ended(), ("transfer-failed".into(), "system".into()));
}

#[test]
fn a_transfer_answered_is_bridged_and_its_hangup_ends_the_call() {
    let mut t = T::inbound("311");
    t.digit('2');
    let leg = originated(&t.take())[0].0;
    t.leg(leg, LegEvent::Answered);
    assert!(t
        .take()
        .contains(&Output::Media(MediaCommand::Bridge { a: CALLER, b: leg })));
    t.leg(leg, LegEvent::Ended(LegEnd::Bye));
    t.leg(CALLER, LegEvent::Ended(LegEnd::Local));
    assert_eq!(t.ended(), ("transfer:ville".into(), "transfer".into()));
}

#[test]
fn emergency_escape_while_waiting_in_the_queue() {
    let mut t = T::queued();
    let legs = offer(&mut t, &[7000]);
    t.digit('9');
    let out = t.take();
    // Out of the queue (the ringing phone stops), the escape logged, the prompt, then 911.
    assert_eq!(commands(&out, &LegCommand::Hangup), legs);
    assert!(acd_inputs(&out).contains(&AcdInput::CallLeft { call: 7 }));
    assert!(t
        .log
        .iter()
        .any(|e| matches!(e, EventKind::QueueLeft { reason, .. } if reason == "emergency")));
    assert!(t
        .log
        .iter()
        .any(|e| matches!(e, EventKind::EmergencyEscape { .. })));
    assert_eq!(
        plays(&out, CALLER),
        vec![vec!["emergency_transfer".to_string()]]
    );
    t.play_ends(CALLER);
    let legs = originated(&t.take());
    assert_eq!(legs.len(), 1);
    assert_eq!(legs[0].1.dial, Dial::Uri("sip:911@127.0.0.1:5070".into()));
    assert_eq!(legs[0].1.from_user, "4185550100");
}

#[test]
fn callback_requested_keeps_the_place_and_hangs_up() {
    let mut t = T::queued();
    t.take();
    t.digit('1');
    let out = t.take();
    assert!(acd_inputs(&out).contains(&AcdInput::CallbackRequested {
        call: 7,
        number: "4185550100".into()
    }));
    assert!(out.contains(&Output::Acd(AcdRequest::CallbackLog {
        call: 7,
        uid: "call-1".into(),
        queue: "general".into(),
        lang: "fr".into()
    })));
    t.play_ends(CALLER);
    t.leg(CALLER, LegEvent::Ended(LegEnd::Local));
    assert_eq!(t.ended(), ("callback".into(), "system".into()));
    // The ACD's entry is not told the caller left: it is a callback now.
    assert!(!acd_inputs(&t.take()).contains(&AcdInput::CallLeft { call: 7 }));
}

#[test]
fn no_callback_to_withheld_premium_or_foreign_numbers() {
    for (caller, display) in [
        ("4185550100", Some("Anonymous")),
        ("anonymous", None),
        ("9005550100", None),
        ("+442071234567", None),
    ] {
        let mut t = T::inbound_from("311", caller, display);
        t.digit('1');
        t.acd(AcdDecision::Position(1));
        t.take();
        t.digit('1');
        let out = t.take();
        assert!(
            !acd_inputs(&out)
                .iter()
                .any(|i| matches!(i, AcdInput::CallbackRequested { .. })),
            "{caller} {display:?}"
        );
    }
}

#[test]
fn a_number_is_called_back_at_most_its_daily_cap() {
    let shared = cfg();
    let mut booked = 0;
    for _ in 0..5 {
        let base = Instant::now();
        let mut t = T::inbound("311");
        // Every call of this test shares one cap book, as the server's calls do.
        t.call = Call::inbound(
            shared.clone(),
            Inbound {
                uid: "call-1".into(),
                acd_id: 7,
                dialled: "311".into(),
                caller: "4185550100".into(),
                caller_display: None,
                sip_call_id: "abc@host".into(),
                transport: "udp".into(),
                plan: Some(plan()),
                agent_phone: None,
                storm: None,
            },
            T::now_at(base, Duration::ZERO),
        );
        t.drain();
        t.digit('1');
        t.acd(AcdDecision::Position(1));
        t.take();
        t.digit('1');
        if acd_inputs(&t.take())
            .iter()
            .any(|i| matches!(i, AcdInput::CallbackRequested { .. }))
        {
            booked += 1;
        }
    }
    assert_eq!(booked, 3, "[callbacks] per_number_per_day = 3");
}

fn callback() -> T {
    let base = Instant::now();
    let setup = CallbackSetup {
        uid: "cb-1".into(),
        acd_id: 7,
        agent: "marie".into(),
        number: "4185550100".into(),
        original: "call-1".into(),
        queue: "general".into(),
        lang: crate::media::prompt::Lang::Fr,
        plan_version: "v1".into(),
    };
    let call = Call::callback(cfg(), setup, T::now_at(base, Duration::ZERO));
    let mut t = T {
        call,
        base,
        elapsed: Duration::ZERO,
        out: Vec::new(),
        log: Vec::new(),
        playing: Default::default(),
    };
    t.drain();
    t
}

#[test]
fn callback_answered_rings_the_agent_then_the_citizen() {
    let mut t = callback();
    let out = t.take();
    assert!(out.contains(&Output::Acd(AcdRequest::Route(7))));
    assert!(out.contains(&Output::FindContacts {
        agent: "marie".into()
    }));
    t.contacts("marie", vec![contact(7000)]);
    let agent_leg = originated(&t.take())[0].0;
    t.leg(agent_leg, LegEvent::Answered);
    let out = t.take();
    let citizen = originated(&out);
    assert_eq!(citizen.len(), 1);
    assert_eq!(
        citizen[0].1.dial,
        Dial::Uri("sip:4185550100@127.0.0.1:5070".into())
    );
    assert_eq!(plays(&out, agent_leg), vec![vec!["hold_music".to_string()]]);
    t.leg(citizen[0].0, LegEvent::Answered);
    assert!(t.take().contains(&Output::Media(MediaCommand::Bridge {
        a: agent_leg,
        b: citizen[0].0
    })));
    t.leg(citizen[0].0, LegEvent::Ended(LegEnd::Bye));
    let out = t.take();
    assert!(acd_inputs(&out).contains(&AcdInput::CallEnded {
        call: 7,
        agent: "marie".into()
    }));
    assert_eq!(commands(&out, &LegCommand::Hangup), vec![agent_leg]);
    assert_eq!(t.ended(), ("callback:completed".into(), "caller".into()));
}

#[test]
fn callback_not_answered_by_the_citizen() {
    let mut t = callback();
    t.contacts("marie", vec![contact(7000)]);
    let agent_leg = originated(&t.take())[0].0;
    t.leg(agent_leg, LegEvent::Answered);
    let citizen = originated(&t.take())[0].0;
    t.leg(citizen, LegEvent::Failed { status: 480 });
    assert!(t.log.contains(&EventKind::TransferFailed {
        target: "callback".into(),
        status: 480
    }));
    assert_eq!(t.ended(), ("callback:no-answer".into(), "system".into()));
    // The agent is released to wrap-up.
    let out = t.take();
    assert_eq!(commands(&out, &LegCommand::Hangup), vec![agent_leg]);
    assert!(acd_inputs(&out).contains(&AcdInput::CallEnded {
        call: 7,
        agent: "marie".into()
    }));
}

#[test]
fn callback_not_answered_by_the_agent() {
    let mut t = callback();
    t.contacts("marie", vec![contact(7000)]);
    t.take();
    t.acd(AcdDecision::CancelOffer {
        agent: "marie".into(),
        reason: "ring-timeout",
    });
    assert_eq!(
        t.ended(),
        ("callback:agent-no-answer".into(), "system".into())
    );
}

#[test]
fn voicemail_is_saved_before_the_end_is_logged() {
    let mut t = T::inbound("311");
    t.digit('3');
    t.play_ends(CALLER);
    assert!(t.take().contains(&Output::Media(MediaCommand::RecordStart {
        leg: CALLER,
        max_seconds: 60
    })));
    // The caller hangs up mid-message: the message is saved, then the end is logged.
    t.leg(CALLER, LegEvent::Ended(LegEnd::Bye));
    assert!(t.take().contains(&Output::Media(MediaCommand::RecordStop {
        leg: CALLER,
        name: "call-1".into()
    })));
    assert!(!t.call.is_ended());
    t.leg(CALLER, record::recorded("/r/call-1.wav", 12));
    let n = t.names();
    assert_eq!(&n[n.len() - 2..], ["recorded", "call_ended"]);
}

#[test]
fn shutdown_drains_then_hangs_up() {
    let mut t = T::queued();
    let drain = t.now().mono + Duration::from_secs(30);
    t.call
        .handle(Input::Shutdown { drain_until: drain }, t.now());
    t.drain();
    assert!(commands(&t.take(), &LegCommand::Hangup).is_empty());
    t.timeout();
    assert_eq!(t.elapsed, Duration::from_secs(30));
    assert_eq!(commands(&t.take(), &LegCommand::Hangup), vec![CALLER]);
    t.leg(CALLER, LegEvent::Ended(LegEnd::Local));
    assert_eq!(t.ended(), ("ended:shutdown".into(), "system".into()));
}

#[test]
fn answer_delay_rings_first() {
    let base = Instant::now();
    let mut c = (*cfg()).clone();
    c.answer_delay = Duration::from_millis(1500);
    let setup = Inbound {
        uid: "call-2".into(),
        acd_id: 8,
        dialled: "311".into(),
        caller: "4185550100".into(),
        caller_display: None,
        sip_call_id: "x".into(),
        transport: "udp".into(),
        plan: Some(plan()),
        agent_phone: None,
        storm: None,
    };
    let mut call = Call::inbound(Arc::new(c), setup, T::now_at(base, Duration::ZERO));
    assert!(matches!(
        call.poll(),
        Some(Output::Event(EventKind::CallStarted { .. }))
    ));
    assert_eq!(
        call.poll(),
        Some(Output::Leg {
            leg: CALLER,
            cmd: LegCommand::Ring
        })
    );
    assert_eq!(
        call.poll_timeout(),
        Some(base + Duration::from_millis(1500))
    );
    call.handle_timeout(T::now_at(base, Duration::from_millis(1500)));
    assert_eq!(
        call.poll(),
        Some(Output::Leg {
            leg: CALLER,
            cmd: LegCommand::Answer
        })
    );
}

#[test]
fn feature_code_from_an_agents_phone() {
    let base = Instant::now();
    let setup = Inbound {
        uid: "call-3".into(),
        acd_id: 9,
        dialled: "*3".into(),
        caller: "marie".into(),
        caller_display: None,
        sip_call_id: "x".into(),
        transport: "udp".into(),
        plan: Some(plan()),
        agent_phone: Some("marie".into()),
        storm: None,
    };
    let mut t = T {
        call: Call::inbound(cfg(), setup, T::now_at(base, Duration::ZERO)),
        base,
        elapsed: Duration::ZERO,
        out: Vec::new(),
        log: Vec::new(),
        playing: Default::default(),
    };
    t.drain();
    let out = t.take();
    assert!(acd_inputs(&out).contains(&AcdInput::AgentPause {
        agent: "marie".into(),
        reason: "break".into()
    }));
    assert_eq!(plays(&out, CALLER), vec![vec!["agent_pause".to_string()]]);
    t.play_ends(CALLER);
    t.leg(CALLER, LegEvent::Ended(LegEnd::Local));
    assert_eq!(t.ended(), ("feature-code".into(), "system".into()));
}

/// Queued, offered to marie on one phone, answered: the caller is bridged to `leg`.
fn talking() -> (T, LegId) {
    let mut t = T::queued();
    let legs = offer(&mut t, &[7000]);
    t.leg(legs[0], LegEvent::Answered);
    t.take();
    (t, legs[0])
}

#[test]
fn agent_hold_plays_music_and_resume_bridges_again() {
    let (mut t, agent) = talking();
    t.leg(agent, LegEvent::Held(true));
    let out = t.take();
    assert!(out.contains(&Output::Media(MediaCommand::Unbridge { leg: CALLER })));
    assert_eq!(plays(&out, CALLER), vec![vec!["hold_music".to_string()]]);
    t.leg(agent, LegEvent::Held(false));
    let out = t.take();
    assert!(out.contains(&Output::Media(MediaCommand::Bridge {
        a: CALLER,
        b: agent
    })));
    assert!(t.log.contains(&EventKind::Hold) && t.log.contains(&EventKind::Resume));
}

#[test]
fn agent_transfer_to_a_queue_keeps_the_caller_and_frees_the_agent() {
    let (mut t, agent) = talking();
    t.leg(
        agent,
        LegEvent::Transfer(TransferTo::Queue("general".into())),
    );
    let out = t.take();
    // The agent is released to wrap-up, the caller queued again (same language), on music.
    assert!(out.contains(&Output::Leg {
        leg: agent,
        cmd: LegCommand::Notify { status: 200 }
    }));
    assert_eq!(commands(&out, &LegCommand::Hangup), vec![agent]);
    let acd = acd_inputs(&out);
    assert!(acd.contains(&AcdInput::CallEnded {
        call: 7,
        agent: "marie".into()
    }));
    assert!(acd
        .iter()
        .any(|i| matches!(i, AcdInput::CallQueued { queue, lang, .. } if queue == "general" && lang == "fr")));
    assert!(t
        .log
        .iter()
        .any(|e| matches!(e, EventKind::AgentTransfer { to, .. } if to == "queue:general")));
    assert!(!t.call.is_ended());
}

#[test]
fn agent_transfer_to_a_target_returns_the_caller_when_it_fails() {
    let (mut t, agent) = talking();
    // A REFER names the target by its number (811).
    t.leg(agent, LegEvent::Transfer(TransferTo::Named("811".into())));
    let out = t.take();
    let target = originated(&out);
    assert_eq!(target.len(), 1);
    assert_eq!(target[0].1.dial, Dial::Uri("sip:811@127.0.0.1:5070".into()));
    assert!(
        commands(&out, &LegCommand::Hangup).is_empty(),
        "the agent waits"
    );
    t.leg(target[0].0, LegEvent::Failed { status: 486 });
    let out = t.take();
    assert!(out.contains(&Output::Media(MediaCommand::Bridge {
        a: CALLER,
        b: agent
    })));
    assert!(out.contains(&Output::Leg {
        leg: agent,
        cmd: LegCommand::Notify { status: 486 }
    }));
    // Then to the neighbouring town, which answers: the agent is released.
    t.leg(
        agent,
        LegEvent::Transfer(TransferTo::Target("ville".into())),
    );
    let target = originated(&t.take())[0].0;
    t.leg(target, LegEvent::Answered);
    let out = t.take();
    assert!(out.contains(&Output::Media(MediaCommand::Bridge {
        a: CALLER,
        b: target
    })));
    assert_eq!(commands(&out, &LegCommand::Hangup), vec![agent]);
    assert!(acd_inputs(&out).contains(&AcdInput::CallEnded {
        call: 7,
        agent: "marie".into()
    }));
    t.leg(target, LegEvent::Ended(LegEnd::Bye));
    t.leg(CALLER, LegEvent::Ended(LegEnd::Local));
    assert_eq!(t.ended(), ("transfer:ville".into(), "transfer".into()));
}

#[test]
fn agent_transfer_to_a_colleague_queues_the_caller_for_that_agent_alone() {
    let (mut t, agent) = talking();
    // A REFER names the colleague by agent id.
    t.leg(agent, LegEvent::Transfer(TransferTo::Named("paul".into())));
    let out = t.take();
    assert!(out.contains(&Output::Leg {
        leg: agent,
        cmd: LegCommand::Notify { status: 200 }
    }));
    assert_eq!(commands(&out, &LegCommand::Hangup), vec![agent]);
    let acd = acd_inputs(&out);
    assert!(acd.contains(&AcdInput::CallEnded {
        call: 7,
        agent: "marie".into()
    }));
    assert!(acd.iter().any(|i| matches!(i,
        AcdInput::CallQueued { queue, lang, agent: Some(a), .. }
            if queue == "general" && lang == "fr" && a == "paul")));
    assert!(t
        .log
        .iter()
        .any(|e| matches!(e, EventKind::AgentTransfer { to, .. } if to == "agent:paul")));
    // Paul is offered the call like any agent; a later queueing is not directed any more.
    let legs = offer_to(&mut t, "paul", &[7002]);
    t.leg(legs[0], LegEvent::Answered);
    assert!(t.take().contains(&Output::Media(MediaCommand::Bridge {
        a: CALLER,
        b: legs[0]
    })));
    t.leg(
        legs[0],
        LegEvent::Transfer(TransferTo::Queue("general".into())),
    );
    assert!(acd_inputs(&t.take())
        .iter()
        .any(|i| matches!(i, AcdInput::CallQueued { agent: None, .. })));
}

#[test]
fn a_transfer_to_oneself_or_an_unknown_agent_is_refused() {
    let (mut t, agent) = talking();
    for to in [
        TransferTo::Agent("marie".into()),
        TransferTo::Agent("zoe".into()),
    ] {
        t.leg(agent, LegEvent::Transfer(to));
        let out = t.take();
        assert!(out.contains(&Output::Leg {
            leg: agent,
            cmd: LegCommand::Notify { status: 403 }
        }));
        assert!(acd_inputs(&out).is_empty());
    }
}

#[test]
fn a_transfer_to_nowhere_is_refused() {
    let (mut t, agent) = talking();
    t.leg(
        agent,
        LegEvent::Transfer(TransferTo::Named("nowhere".into())),
    );
    let out = t.take();
    assert!(out.contains(&Output::Leg {
        leg: agent,
        cmd: LegCommand::Notify { status: 403 }
    }));
    assert!(originated(&out).is_empty());
}

mod consult;
