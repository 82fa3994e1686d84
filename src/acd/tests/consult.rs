//! An agent consults a free colleague before handing the caller over (attended transfer), on
//! a fake clock: the colleague is busy from the first ring (no queue call reaches them), free
//! again when the consultation ends, and the caller's agent — with their own wrap-up — when the
//! transfer completes.

use super::*;

fn consult(h: &mut H, call: CallId, to: &str) -> Option<&'static str> {
    h.send(Input::ConsultStart {
        call,
        agent: to.into(),
    });
    h.take()
        .into_iter()
        .find_map(|o| match o {
            Output::Consult { agent, refused, .. } if agent == to => Some(refused),
            _ => None,
        })
        .expect("an answer to the consultation")
}

/// a has caller 1 (general); b is free.
fn a_talks_b_free() -> H {
    let mut h = H::with(
        &[queue("general", &[])],
        &[agent("a", &[("fr", 5)]), agent("b", &[("fr", 1)])],
    );
    h.login(&["a", "b"]);
    h.call(1, "general", "fr");
    assert_eq!(h.offers(), vec![offer(1, "a")]);
    h.answer(1, "a");
    h.take();
    h
}

#[test]
fn a_consulted_colleague_is_busy_and_gets_no_queue_call() {
    let mut h = a_talks_b_free();
    assert_eq!(consult(&mut h, 1, "b"), None);
    assert_eq!(h.state("b"), AgentState::OnCall);
    h.call(2, "general", "fr");
    assert_eq!(h.offers(), vec![], "b is in a consultation");
    // The consultation ends without a transfer: b is free and takes the waiting caller.
    h.send(Input::ConsultEnded {
        call: 1,
        agent: "b".into(),
    });
    assert_eq!(h.offers(), vec![offer(2, "b")]);
}

#[test]
fn a_colleague_who_is_not_free_is_refused() {
    let mut h = a_talks_b_free();
    h.call(2, "general", "fr");
    assert_eq!(h.offers(), vec![offer(2, "b")]);
    assert_eq!(consult(&mut h, 1, "b"), Some(crate::acd::consult::BUSY));
    assert_eq!(
        consult(&mut h, 1, "nobody"),
        Some(crate::acd::consult::UNKNOWN)
    );
    h.send(Input::AgentPause {
        agent: "a".into(),
        reason: String::new(),
    });
    assert_eq!(h.state("b"), AgentState::Reserved, "b keeps its offer");
}

#[test]
fn the_transfer_hands_the_caller_to_the_colleague_who_then_wraps_up() {
    let mut h = a_talks_b_free();
    assert_eq!(consult(&mut h, 1, "b"), None);
    h.advance(30 * S);
    h.send(Input::ConsultCompleted {
        call: 1,
        agent: "b".into(),
    });
    h.end(1, "a");
    assert_eq!(h.state("a"), AgentState::WrapUp);
    assert_eq!(h.state("b"), AgentState::OnCall);
    // A late ConsultEnded (the first agent's phone hanging up its consultation) changes nothing.
    h.send(Input::ConsultEnded {
        call: 1,
        agent: "b".into(),
    });
    assert_eq!(h.state("b"), AgentState::OnCall);
    h.advance(60 * S);
    h.end(1, "b");
    assert_eq!(h.state("b"), AgentState::WrapUp);
    h.send(Input::WrapupDone { agent: "b".into() });
    assert_eq!(h.state("b"), AgentState::Available);
}

#[test]
fn the_caller_leaving_during_the_consultation_frees_the_colleague() {
    let mut h = a_talks_b_free();
    assert_eq!(consult(&mut h, 1, "b"), None);
    h.send(Input::CallLeft { call: 1 });
    // The call core ends the colleague's consultation leg with the call.
    h.end(1, "b");
    assert_eq!(
        h.state("b"),
        AgentState::Available,
        "no wrap-up for a consultation"
    );
    assert_eq!(h.state("a"), AgentState::WrapUp);
}

#[test]
fn a_pause_asked_during_a_consultation_applies_after_it() {
    let mut h = a_talks_b_free();
    assert_eq!(consult(&mut h, 1, "b"), None);
    h.send(Input::AgentPause {
        agent: "b".into(),
        reason: "lunch".into(),
    });
    assert_eq!(h.state("b"), AgentState::OnCall);
    h.send(Input::ConsultEnded {
        call: 1,
        agent: "b".into(),
    });
    assert_eq!(h.state("b"), AgentState::Paused);
}
