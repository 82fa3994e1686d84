//! Attended transfers on virtual time: marie (a phone) or her desktop consults paul with the
//! caller on hold, then hands the caller over, cancels, or gets the caller back when paul is
//! busy, does not answer or leaves the consultation.

use super::*;

/// marie talks to the caller on leg `agent`; her phone holds the caller and calls paul: the
/// consultation leg, paul granted by the ACD, his phone rung (its leg).
fn phone_consults_paul() -> (T, LegId, LegId, LegId) {
    let (mut t, agent) = talking();
    t.leg(agent, LegEvent::Held(true));
    let now = t.now();
    let talk = t
        .call
        .consult_from_phone("marie", "paul", now)
        .expect("consult");
    t.drain();
    let out = t.take();
    assert!(acd_inputs(&out).contains(&AcdInput::ConsultStart {
        call: 7,
        agent: "paul".into()
    }));
    assert!(
        originated(&out).is_empty(),
        "paul is asked of the ACD first"
    );
    t.acd(AcdDecision::Consult {
        agent: "paul".into(),
        refused: None,
    });
    assert!(t.take().contains(&Output::FindContacts {
        agent: "paul".into()
    }));
    t.contacts("paul", vec![contact(7002)]);
    let legs = originated(&t.take());
    assert_eq!(legs.len(), 1);
    let pop = legs[0].1.context.as_ref().expect("paul's screen pop");
    assert_eq!(pop.consult_from.as_deref(), Some("marie"));
    assert_eq!(legs[0].1.from_user, "marie");
    (t, agent, talk, legs[0].0)
}

/// The first agent's phone takes the caller off hold: they are bridged again (the caller was
/// never handed anywhere).
fn assert_caller_back_with(t: &mut T, agent: LegId) {
    t.leg(agent, LegEvent::Held(false));
    assert!(t.take().contains(&Output::Media(MediaCommand::Bridge {
        a: CALLER,
        b: agent
    })));
}

#[test]
fn a_phone_consults_then_hands_the_caller_to_the_colleague() {
    let (mut t, agent, talk, paul) = phone_consults_paul();
    t.leg(paul, LegEvent::Ringing);
    assert_eq!(commands(&t.take(), &LegCommand::Ring), vec![talk]);
    t.leg(paul, LegEvent::Answered);
    let out = t.take();
    assert_eq!(commands(&out, &LegCommand::Answer), vec![talk]);
    assert!(out.contains(&Output::Media(MediaCommand::Bridge { a: talk, b: paul })));
    assert!(
        !out.contains(&Output::Media(MediaCommand::Bridge { a: CALLER, b: paul })),
        "the caller stays on hold while the agents talk"
    );
    // marie's phone sends REFER with Replaces on the caller's dialog, naming the consultation.
    t.elapsed += Duration::from_secs(20);
    t.leg(
        agent,
        LegEvent::ConsultComplete {
            other: Some(talk),
            replaces: true,
        },
    );
    let out = t.take();
    assert!(out.contains(&Output::Media(MediaCommand::Bridge { a: CALLER, b: paul })));
    assert!(out.contains(&Output::Leg {
        leg: agent,
        cmd: LegCommand::Notify { status: 200 }
    }));
    let mut hung = commands(&out, &LegCommand::Hangup);
    hung.sort();
    assert_eq!(hung, vec![agent, talk], "both of marie's calls end");
    let acd = acd_inputs(&out);
    assert_eq!(
        acd,
        vec![
            AcdInput::ConsultCompleted {
                call: 7,
                agent: "paul".into()
            },
            AcdInput::CallEnded {
                call: 7,
                agent: "marie".into()
            },
        ]
    );
    assert!(t.log.iter().any(|e| matches!(e,
        EventKind::AgentTransfer { agent, to } if agent == "marie" && to == "agent:paul")));
    assert!(t.log.iter().any(|e| matches!(e,
        EventKind::AgentAnswered { agent, queue } if agent == "paul" && queue == "general")));
    // Paul hangs up later: his wrap-up, the call's end on the agent's side.
    t.leg(agent, LegEvent::Ended(LegEnd::Local));
    t.leg(talk, LegEvent::Ended(LegEnd::Local));
    t.leg(paul, LegEvent::Ended(LegEnd::Bye));
    assert!(acd_inputs(&t.take()).contains(&AcdInput::CallEnded {
        call: 7,
        agent: "paul".into()
    }));
    t.leg(CALLER, LegEvent::Ended(LegEnd::Local));
    assert_eq!(t.ended(), ("queue:general".into(), "agent".into()));
    // The talk time is marie's part and paul's, from the log alone.
    let names = t.names();
    let i = names.iter().position(|n| *n == "consult").expect("consult");
    assert_eq!(
        &names[i..i + 3],
        &["consult", "consult_answered", "consult_ended"]
    );
}

#[test]
fn a_busy_colleague_refuses_and_the_phone_is_told() {
    let (mut t, agent) = talking();
    t.leg(agent, LegEvent::Held(true));
    let now = t.now();
    let talk = t.call.consult_from_phone("marie", "paul", now).unwrap();
    t.drain();
    t.take();
    t.acd(AcdDecision::Consult {
        agent: "paul".into(),
        refused: Some("busy"),
    });
    let out = t.take();
    assert!(out.contains(&Output::Leg {
        leg: talk,
        cmd: LegCommand::Reject {
            status: 486,
            headers: vec![]
        }
    }));
    assert!(acd_inputs(&out).is_empty(), "nothing to release");
    assert!(t.log.iter().any(|e| matches!(e,
        EventKind::ConsultEnded { result, .. } if result == "refused:busy")));
    // The caller is still on hold with marie, who resumes them.
    t.leg(talk, LegEvent::Ended(LegEnd::Local));
    assert_caller_back_with(&mut t, agent);
}

#[test]
fn hanging_up_the_consultation_releases_the_colleague_and_keeps_the_caller() {
    let (mut t, agent, talk, paul) = phone_consults_paul();
    t.leg(paul, LegEvent::Answered);
    t.take();
    t.leg(talk, LegEvent::Ended(LegEnd::Bye));
    let out = t.take();
    assert_eq!(commands(&out, &LegCommand::Hangup), vec![paul]);
    assert_eq!(
        acd_inputs(&out),
        vec![AcdInput::ConsultEnded {
            call: 7,
            agent: "paul".into()
        }]
    );
    assert!(!t.call.is_ended());
    assert_caller_back_with(&mut t, agent);
}

#[test]
fn the_colleague_not_answering_fails_the_consultation_call() {
    let (mut t, _agent, talk, paul) = phone_consults_paul();
    t.leg(paul, LegEvent::Failed { status: 480 });
    let out = t.take();
    assert!(out.contains(&Output::Leg {
        leg: talk,
        cmd: LegCommand::Reject {
            status: 480,
            headers: vec![]
        }
    }));
    assert!(acd_inputs(&out).contains(&AcdInput::ConsultEnded {
        call: 7,
        agent: "paul".into()
    }));
}

#[test]
fn the_caller_leaving_during_a_consultation_frees_both_agents() {
    let (mut t, agent, talk, paul) = phone_consults_paul();
    t.leg(paul, LegEvent::Answered);
    t.take();
    t.leg(CALLER, LegEvent::Ended(LegEnd::Bye));
    let out = t.take();
    let mut hung = commands(&out, &LegCommand::Hangup);
    hung.sort();
    assert_eq!(hung, vec![agent, talk, paul]);
    let acd = acd_inputs(&out);
    assert!(acd.contains(&AcdInput::ConsultEnded {
        call: 7,
        agent: "paul".into()
    }));
    assert!(acd.contains(&AcdInput::CallEnded {
        call: 7,
        agent: "marie".into()
    }));
    assert_eq!(t.ended().1, "caller");
}

#[test]
fn a_replaces_naming_another_dialog_or_an_early_transfer_is_refused() {
    let (mut t, agent, _talk, paul) = phone_consults_paul();
    t.leg(
        agent,
        LegEvent::ConsultComplete {
            other: None,
            replaces: true,
        },
    );
    assert!(t.take().contains(&Output::Leg {
        leg: agent,
        cmd: LegCommand::Notify { status: 481 }
    }));
    // Paul has not answered yet: the agent talks to him first.
    let talk = _talk;
    t.leg(
        agent,
        LegEvent::ConsultComplete {
            other: Some(talk),
            replaces: true,
        },
    );
    assert!(t.take().contains(&Output::Leg {
        leg: agent,
        cmd: LegCommand::Notify { status: 491 }
    }));
    t.leg(paul, LegEvent::Answered);
    t.leg(
        agent,
        LegEvent::ConsultComplete {
            other: Some(talk),
            replaces: true,
        },
    );
    assert!(t
        .take()
        .contains(&Output::Media(MediaCommand::Bridge { a: CALLER, b: paul })));
}

#[test]
fn a_phone_may_consult_only_about_its_own_caller_and_a_known_colleague() {
    let (mut t, _agent) = talking();
    let now = t.now();
    assert_eq!(
        t.call.consult_from_phone("paul", "marie", now),
        Err(TransferRefused::NoCaller)
    );
    assert_eq!(
        t.call.consult_from_phone("marie", "zoe", now),
        Err(TransferRefused::NoSuchAgent)
    );
    assert_eq!(
        t.call.consult_from_phone("marie", "marie", now),
        Err(TransferRefused::ToOneself)
    );
    assert!(t.call.consult_from_phone("marie", "paul", now).is_ok());
    assert_eq!(
        t.call.consult_from_phone("marie", "paul", now),
        Err(TransferRefused::AlreadyTransferring)
    );
}

#[test]
fn a_desktop_consults_and_a_colleague_leaving_gives_the_caller_back() {
    let (mut t, agent) = talking();
    t.leg(agent, LegEvent::Consult("paul".into()));
    let out = t.take();
    // The desktop's caller goes on hold by itself.
    assert!(out.contains(&Output::Media(MediaCommand::Unbridge { leg: CALLER })));
    assert_eq!(plays(&out, CALLER), vec![vec!["hold_music".to_string()]]);
    t.acd(AcdDecision::Consult {
        agent: "paul".into(),
        refused: None,
    });
    t.contacts("paul", vec![contact(7002)]);
    let paul = originated(&t.take())[0].0;
    t.leg(paul, LegEvent::Answered);
    let out = t.take();
    assert!(out.contains(&Output::Media(MediaCommand::Bridge { a: agent, b: paul })));
    assert!(out.contains(&Output::Leg {
        leg: agent,
        cmd: LegCommand::Notify { status: 200 }
    }));
    t.leg(paul, LegEvent::Ended(LegEnd::Bye));
    let out = t.take();
    assert!(out.contains(&Output::Media(MediaCommand::Bridge {
        a: CALLER,
        b: agent
    })));
    assert!(out.contains(&Output::Leg {
        leg: agent,
        cmd: LegCommand::Notify { status: 487 }
    }));
    // Again, and this time the transfer completes from the desktop's button.
    t.leg(agent, LegEvent::Consult("paul".into()));
    t.acd(AcdDecision::Consult {
        agent: "paul".into(),
        refused: None,
    });
    t.contacts("paul", vec![contact(7002)]);
    let paul = originated(&t.take())[0].0;
    t.leg(paul, LegEvent::Answered);
    t.leg(
        agent,
        LegEvent::ConsultComplete {
            other: None,
            replaces: false,
        },
    );
    let out = t.take();
    assert!(out.contains(&Output::Media(MediaCommand::Bridge { a: CALLER, b: paul })));
    assert_eq!(commands(&out, &LegCommand::Hangup), vec![agent]);
}

#[test]
fn a_colleague_who_lets_it_ring_is_given_up_after_the_ring_timeout() {
    let (mut t, agent, talk, paul) = phone_consults_paul();
    t.leg(paul, LegEvent::Ringing);
    t.take();
    t.timeout();
    assert_eq!(t.elapsed, Duration::from_secs(15), "the ring timeout");
    let out = t.take();
    assert_eq!(commands(&out, &LegCommand::Hangup), vec![paul]);
    assert!(out.contains(&Output::Leg {
        leg: talk,
        cmd: LegCommand::Reject {
            status: 408,
            headers: vec![]
        }
    }));
    assert!(acd_inputs(&out).contains(&AcdInput::ConsultEnded {
        call: 7,
        agent: "paul".into()
    }));
    assert!(!t.call.is_ended());
    // The caller is still marie's.
    assert_caller_back_with(&mut t, agent);
}
