//! A caller an agent transfers to a named colleague, on a fake clock: only that colleague is
//! offered them (before older callers, whatever the colleague's queues and skills); a miss, a
//! colleague signed out or not free in time hands the caller to the queue's own rules.

use super::*;
use crate::acd::queue::DIRECTED_MS;

fn directed(h: &mut H, id: CallId, queue: &str, to: &str) {
    h.send(Input::CallQueued {
        call: id,
        queue: queue.into(),
        lang: "fr".into(),
        skills: vec![],
        topic: None,
        priority: 0,
        since: h.now,
        callback: None,
        caller: None,
        agent: Some(to.into()),
    });
}

/// Queue "general" served by a and b; "permis" by c only (b has no permis skill).
fn setup() -> H {
    let mut h = H::with(
        &[queue("general", &[]), queue("permis", &[("permis", 2)])],
        &[
            in_queues(agent("a", &[("fr", 5)]), &["general"]),
            in_queues(agent("b", &[("fr", 1)]), &["general"]),
            in_queues(agent("c", &[("fr", 5), ("permis", 5)]), &["permis"]),
        ],
    );
    h.login(&["a", "b", "c"]);
    h.take();
    h
}

/// a talks to caller 1; caller 3 is transferred to a by name; b has just become free (after
/// caller 2) and is not offered caller 3.
fn waiting_for_busy_a() -> H {
    let mut h = setup();
    h.call(1, "general", "fr");
    assert_eq!(h.offers(), vec![offer(1, "a")]);
    h.answer(1, "a");
    h.call(2, "general", "fr");
    assert_eq!(h.offers(), vec![offer(2, "b")]);
    h.answer(2, "b");
    directed(&mut h, 3, "general", "a");
    h.end(2, "b");
    h.send(Input::WrapupDone { agent: "b".into() });
    assert_eq!(h.offers(), vec![], "b is free but the caller waits for a");
    h
}

#[test]
fn only_the_named_colleague_is_offered_the_call_whatever_their_queues() {
    let mut h = setup();
    // b serves neither permis nor has its skill: the transfer reaches b all the same, and
    // a (free, better) is not offered it.
    directed(&mut h, 1, "permis", "b");
    assert_eq!(h.offers(), vec![offer(1, "b")]);
    h.answer(1, "b");
    assert_eq!(h.state("b"), AgentState::OnCall);
}

#[test]
fn a_busy_colleague_takes_the_transferred_caller_before_older_callers() {
    let mut h = setup();
    h.call(1, "general", "fr");
    assert_eq!(h.offers(), vec![offer(1, "a")]);
    h.answer(1, "a");
    h.call(2, "general", "fr");
    assert_eq!(h.offers(), vec![offer(2, "b")]);
    h.answer(2, "b");
    h.call(3, "general", "fr"); // waits: a and b are busy
    h.advance(S);
    directed(&mut h, 4, "general", "a"); // newer, but for a by name
    assert_eq!(h.offers(), vec![]);
    // Its position ignores the directed caller.
    assert_eq!(h.acd.position(3), Some(1));
    h.end(1, "a");
    h.send(Input::WrapupDone { agent: "a".into() });
    assert_eq!(
        h.offers(),
        vec![offer(4, "a")],
        "the caller transferred to a first"
    );
    // b frees: the older caller, not the one directed to a.
    h.end(2, "b");
    h.send(Input::WrapupDone { agent: "b".into() });
    assert_eq!(h.offers(), vec![offer(3, "b")]);
}

#[test]
fn a_miss_hands_the_caller_to_the_queue() {
    let mut h = setup();
    h.call(1, "general", "fr");
    assert_eq!(h.offers(), vec![offer(1, "a")]);
    h.answer(1, "a");
    directed(&mut h, 2, "general", "a");
    assert_eq!(h.offers(), vec![], "a is on a call; b is not named");
    h.end(1, "a");
    h.send(Input::WrapupDone { agent: "a".into() });
    assert_eq!(h.offers(), vec![offer(2, "a")]);
    h.send(Input::OfferFailed {
        call: 2,
        agent: "a".into(),
        reason: OfferFailure::NoAnswer,
    });
    assert_eq!(
        h.offers(),
        vec![offer(2, "b")],
        "the queue's rules: b is free"
    );
}

#[test]
fn a_colleague_not_free_in_time_or_signed_out_leaves_the_caller_to_the_queue() {
    let mut h = waiting_for_busy_a();
    h.advance(DIRECTED_MS - 1);
    assert_eq!(h.offers(), vec![]);
    h.advance(1);
    assert_eq!(h.offers(), vec![offer(3, "b")]);

    // Signed out, or an unknown id: an ordinary queued call at once.
    let mut h = setup();
    h.send(Input::AgentLogout { agent: "c".into() });
    h.take();
    directed(&mut h, 5, "general", "c");
    assert_eq!(h.offers(), vec![offer(5, "a")]);
    directed(&mut h, 6, "general", "nobody");
    assert_eq!(h.offers(), vec![offer(6, "b")]);
}

#[test]
fn a_colleague_who_pauses_or_signs_out_meanwhile_hands_the_caller_to_the_queue_at_once() {
    for leave in [
        Input::AgentPause {
            agent: "a".into(),
            reason: "lunch".into(),
        },
        Input::AgentLogout { agent: "a".into() },
    ] {
        let mut h = waiting_for_busy_a();
        // a asks to leave after the call: once a's call and wrap-up end, b takes the caller
        // without waiting out the 30 s.
        h.send(leave.clone());
        h.end(1, "a");
        h.send(Input::WrapupDone { agent: "a".into() });
        assert_eq!(h.offers(), vec![offer(3, "b")], "{leave:?}");
    }
}
