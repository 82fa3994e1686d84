//! The waiting caller's side of the ACD on a fake clock: a caller who hangs up and calls again
//! gets their place back (within the window, same queue, recognised number); the callback
//! offer follows the estimate and the caller's disappointment; the estimate reads the queue's
//! own handle times, patience and ring time, also after a restart.

use super::*;

fn caller(number: &str, log: &str) -> Caller {
    Caller {
        number: number.into(),
        withheld: false,
        log_id: log.into(),
    }
}

impl H {
    fn call_from(&mut self, id: CallId, queue: &str, who: Option<Caller>) {
        self.send(Input::CallQueued {
            call: id,
            queue: queue.into(),
            lang: "fr".into(),
            skills: vec![],
            topic: None,
            priority: 0,
            since: self.now,
            callback: None,
            caller: who,
            agent: None,
        });
    }

    fn resumed(&mut self) -> Vec<Output> {
        self.take()
            .into_iter()
            .filter(|o| matches!(o, Output::Resumed { .. }))
            .collect()
    }

    fn announcements(&mut self) -> Vec<Announcement> {
        self.take()
            .into_iter()
            .filter_map(|o| match o {
                Output::Announce { info, .. } => Some(info),
                _ => None,
            })
            .collect()
    }
}

fn resuming(window_s: u64) -> QueueDef {
    let mut q = queue("general", &[]);
    q.resume_window = Duration::from_secs(window_s);
    q
}

/// One agent, busy on call 100 so that callers wait.
fn busy(q: QueueDef) -> H {
    let mut h = H::with(&[q], &[agent("a", &[("fr", 5)])]);
    h.login(&["a"]);
    h.call(100, "general", "fr");
    h.answer(100, "a");
    h.take();
    h
}

#[test]
fn a_caller_who_hangs_up_gets_their_place_back() {
    let mut h = busy(resuming(600));
    h.call_from(1, "general", Some(caller("5145550100", "log-1")));
    h.advance(10 * S);
    h.call_from(2, "general", Some(caller("4185550199", "log-2")));
    h.advance(50 * S);
    h.send(Input::CallLeft { call: 1 });
    assert_eq!(h.acd.kept_places(h.now), 1);
    assert_eq!(h.acd.position(2), Some(1));
    // Two minutes later, the same number in another format calls again.
    h.advance(120 * S);
    h.take();
    let again = crate::acd::resume::caller("+1 514 555 0100", None, "log-3");
    h.call_from(3, "general", again);
    assert_eq!(
        h.resumed(),
        vec![Output::Resumed {
            call: 3,
            log: "log-3".into(),
            from: 1,
            from_log: "log-1".into(),
            held_ms: 60 * S,
        }]
    );
    assert_eq!(
        h.acd.position(3),
        Some(1),
        "back in front of the caller who came later"
    );
    assert_eq!(h.acd.position(2), Some(2));
    assert_eq!(h.acd.kept_places(h.now), 0, "a place is given back once");
    h.end(100, "a");
    h.advance(30 * S);
    assert_eq!(h.offers(), vec![offer(3, "a")]);
}

#[test]
fn places_are_kept_only_within_the_window_the_queue_and_for_known_numbers() {
    let mut h = busy(resuming(300));
    h.call_from(1, "general", Some(caller("5145550100", "a")));
    h.advance(30 * S);
    h.send(Input::CallLeft { call: 1 });
    // Too late.
    h.advance(301 * S);
    h.call_from(2, "general", Some(caller("5145550100", "b")));
    assert_eq!(h.resumed(), vec![]);
    // Anonymous: never; withheld: not in a queue that does not allow it.
    h.call_from(3, "general", None);
    h.advance(S);
    h.send(Input::CallLeft { call: 3 });
    h.call_from(4, "general", None);
    let mut w = caller("4185551234", "c");
    w.withheld = true;
    h.call_from(5, "general", Some(w.clone()));
    h.advance(S);
    h.send(Input::CallLeft { call: 5 });
    assert_eq!(h.acd.kept_places(h.now), 0);
    h.call_from(6, "general", Some(w));
    assert_eq!(h.resumed(), vec![]);
    // Off by default.
    let mut off = busy(queue("general", &[]));
    off.call_from(1, "general", Some(caller("5145550100", "a")));
    off.advance(30 * S);
    off.send(Input::CallLeft { call: 1 });
    off.call_from(2, "general", Some(caller("5145550100", "b")));
    assert_eq!(off.resumed(), vec![]);
}

#[test]
fn another_queue_does_not_resume_and_max_wait_counts_time_held() {
    let mut q = resuming(600);
    q.max_wait = Some(Duration::from_secs(300));
    q.overflow = Some(Overflow::Target("vm".into()));
    let mut h = H::with(&[q, queue("permis", &[])], &[agent("a", &[("fr", 5)])]);
    h.login(&["a"]);
    h.call(100, "general", "fr");
    h.answer(100, "a");
    h.call_from(1, "general", Some(caller("5145550100", "a")));
    h.advance(200 * S);
    h.send(Input::CallLeft { call: 1 });
    h.call_from(2, "permis", Some(caller("5145550100", "b")));
    assert_eq!(h.resumed(), vec![]);
    h.send(Input::CallLeft { call: 2 });
    h.advance(60 * S);
    h.call_from(3, "general", Some(caller("5145550100", "c")));
    assert_eq!(h.resumed().len(), 1);
    // 200 s held before: the 300 s max wait comes 100 s into this call, not 300.
    h.advance(99 * S);
    assert!(!h
        .take()
        .iter()
        .any(|o| matches!(o, Output::Overflow { .. })));
    h.advance(S);
    assert_eq!(
        h.take(),
        vec![Output::Overflow {
            call: 3,
            to: Overflow::Target("vm".into())
        }]
    );
}

#[test]
fn the_callback_is_offered_when_the_wait_is_long_unknown_or_overdue() {
    let mut q = queue("general", &[]);
    q.announce_every = Duration::from_secs(60);
    q.offer_callback = true;
    q.callback_threshold = Duration::from_secs(120);
    // Nobody staffed: no estimate, the offer is made.
    let mut h = H::with(&[q.clone()], &[agent("a", &[("fr", 5)])]);
    h.call(1, "general", "fr");
    let a = h.announcements();
    assert_eq!((a[0].estimate_ms, a[0].offer_callback), (None, true));

    // One agent just started a call (AHT 300 s default): position 1 waits about 300 s.
    let mut h = busy(q.clone());
    h.call(1, "general", "fr");
    let first = h.announcements();
    assert!(first[0].estimate_ms.unwrap() >= 120 * S && first[0].offer_callback);

    // Short wait (the agent ends wrap-up in 20 s): no offer. The agent goes to lunch
    // instead; held far past the wait told, the caller hears a late announcement with the
    // offer, and every announcement after it carries the offer.
    let mut h = busy(q);
    h.end(100, "a");
    h.advance(10 * S);
    h.call(2, "general", "fr");
    let told = h.announcements();
    assert_eq!(told[0].estimate_ms, Some(20 * S));
    assert!(!told[0].offer_callback && !told[0].late, "{told:?}");
    h.advance(15 * S);
    h.send(Input::AgentPause {
        agent: "a".into(),
        reason: "lunch".into(),
    });
    let late_at = 10 * S + crate::acd::announce::late_after(20 * S);
    h.advance(late_at - h.now - S);
    let periodic = h.announcements();
    assert!(periodic.iter().all(|a| !a.late), "{periodic:?}");
    h.advance(S);
    let late = h.announcements();
    assert_eq!(late.len(), 1, "{late:?}");
    assert!(late[0].late && late[0].offer_callback);
    h.advance(60 * S);
    let next = h.announcements();
    assert!(
        next.len() == 1 && !next[0].late && next[0].offer_callback,
        "{next:?}"
    );
}

#[test]
fn the_estimate_learns_patience_and_ring_time() {
    let mut q = queue("general", &[]);
    q.announce_every = Duration::from_secs(600);
    let mut h = busy(q);
    for c in 1..=10 {
        h.call(c, "general", "fr");
    }
    let before = h.acd.estimated_wait_ms(10, h.now).unwrap();
    assert_eq!(h.acd.announcement(10, h.now).unwrap().patience_ms, None);
    // Five callers hang up after waiting 60 s (counted from 5 s in): callers ahead leave.
    h.advance(60 * S);
    for c in 1..=5 {
        h.send(Input::CallLeft { call: c });
    }
    for c in 11..=15 {
        h.call(c, "general", "fr");
    }
    let a = h.acd.announcement(15, h.now).unwrap();
    assert_eq!(a.position, 10);
    assert!(a.patience_ms.is_some());
    assert!(a.estimate_ms.unwrap() < before, "{a:?} vs {before}");
    // Ring time: the agent answered 4 s after the offer; the next estimate adds it.
    let mut h = H::with(&[queue("general", &[])], &[agent("a", &[("fr", 5)])]);
    h.login(&["a"]);
    h.call(1, "general", "fr");
    h.advance(4 * S);
    h.answer(1, "a");
    h.end(1, "a");
    h.call(2, "general", "fr");
    assert_eq!(h.acd.estimated_wait_ms(2, h.now), Some(30 * S + 4 * S));
}

#[test]
fn history_seeds_the_first_estimates_after_a_restart() {
    let mut h = busy(queue("general", &[]));
    assert_eq!(h.acd.snapshot(h.now).queues[0].aht_ms, 300 * S, "default");
    h.acd.restore(&[QueueHistory {
        queue: "general".into(),
        handle_ms: vec![100 * S; 50],
        departures: 10,
        callers: 100,
        waited_ms: 3_000 * S,
    }]);
    let snap = h.acd.snapshot(h.now);
    assert_eq!(
        (snap.queues[0].aht_ms, snap.queues[0].aht_samples),
        (100 * S, 50)
    );
    h.call(1, "general", "fr");
    let a = h.acd.announcement(1, h.now).unwrap();
    assert_eq!(a.aht_ms, 100 * S);
    assert!(a.patience_ms.is_some());
    // A queue that has seen calls since start keeps its own figures.
    h.acd.restore(&[QueueHistory {
        queue: "general".into(),
        handle_ms: vec![999 * S; 5],
        ..QueueHistory::default()
    }]);
    assert_eq!(h.acd.snapshot(h.now).queues[0].aht_ms, 100 * S);
}
