//! The ACD's behaviour, driven with a fake clock (a `Time` the tests advance) and checked on its
//! outputs and queries: matching, ordering, relaxation, agent states, callbacks, seasons,
//! overflow, wait estimates, robustness against arbitrary inputs, determinism and speed.
//!
//! Tests only: nothing here is compiled into the engine.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::agents::AgentDef;
use super::engine::Acd;
use super::types::*;
use crate::dialplan::model::{Overflow, QueueDef, Relax, SeasonOverride, SkillReq};

const S: u64 = 1000;

fn reqs(skills: &[(&str, u8)]) -> Vec<SkillReq> {
    skills
        .iter()
        .map(|&(s, l)| SkillReq {
            skill: s.into(),
            min_level: l,
        })
        .collect()
}

fn queue(name: &str, skills: &[(&str, u8)]) -> QueueDef {
    QueueDef {
        name: name.into(),
        skills: reqs(skills),
        priority: 0,
        sl_percent: 80,
        sl_seconds: 100,
        relax: vec![],
        hold_prompts: vec![],
        announce_every: Duration::ZERO,
        offer_callback: false,
        emergency_escape: false,
        knowledge: None,
        dispositions: vec![],
        callback_threshold: Duration::ZERO,
        resume_window: Duration::ZERO,
        resume_withheld: false,
        max_wait: None,
        overflow: None,
        seasons: BTreeMap::new(),
        calendar: None,
    }
}

fn agent(id: &str, skills: &[(&str, u8)]) -> AgentDef {
    AgentDef {
        id: id.into(),
        name: String::new(),
        username: id.into(),
        ha1_md5: "0".repeat(32),
        ha1_sha256: "0".repeat(64),
        skills: skills.iter().map(|&(s, l)| (s.to_string(), l)).collect(),
        queues: vec![],
        wrapup_s: None,
        seasons: vec![],
        auto_answer: false,
        srtp: None,
    }
}

fn in_queues(mut a: AgentDef, queues: &[&str]) -> AgentDef {
    a.queues = queues.iter().map(|q| q.to_string()).collect();
    a
}

/// An ACD, a fake clock and every output so far.
struct H {
    acd: Acd,
    now: Time,
    out: Vec<Output>,
}

impl H {
    fn new(cfg: AcdConfig, queues: &[QueueDef], agents: &[AgentDef]) -> H {
        let mut acd = Acd::new(cfg);
        acd.set_queues(queues, 0);
        acd.set_agents(agents, 0);
        let mut h = H {
            acd,
            now: 0,
            out: Vec::new(),
        };
        h.drain();
        h
    }

    fn with(queues: &[QueueDef], agents: &[AgentDef]) -> H {
        H::new(AcdConfig::default(), queues, agents)
    }

    fn drain(&mut self) {
        while let Some(o) = self.acd.poll() {
            self.out.push(o);
        }
        if let Err(e) = self.acd.check_invariants() {
            panic!("invariant broken at {}: {e}", self.now);
        }
    }

    fn send(&mut self, i: Input) {
        self.acd.handle(i, self.now);
        self.drain();
    }

    /// Move the clock to `now + ms`, firing every deadline on the way at its own time.
    fn advance(&mut self, ms: u64) {
        let target = self.now + ms;
        while let Some(t) = self.acd.poll_timeout() {
            if t > target {
                break;
            }
            self.now = self.now.max(t);
            self.acd.handle_timeout(self.now);
            self.drain();
        }
        self.now = target;
    }

    fn take(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }

    /// Offers (live and callback) made since the last take, as (call, agent).
    fn offers(&mut self) -> Vec<(CallId, String)> {
        self.take()
            .into_iter()
            .filter_map(|o| match o {
                Output::Offer { call, agent } | Output::DialCallback { call, agent, .. } => {
                    Some((call, agent))
                }
                _ => None,
            })
            .collect()
    }

    fn login(&mut self, ids: &[&str]) {
        for id in ids {
            self.send(Input::AgentRegistered {
                agent: id.to_string(),
            });
            self.send(Input::AgentLogin {
                agent: id.to_string(),
            });
        }
    }

    fn call(&mut self, id: CallId, queue: &str, lang: &str) {
        self.call_with(id, queue, lang, &[], 0);
    }

    fn call_with(&mut self, id: CallId, queue: &str, lang: &str, skills: &[&str], priority: i32) {
        self.send(Input::CallQueued {
            call: id,
            queue: queue.into(),
            lang: lang.into(),
            skills: skills.iter().map(|s| s.to_string()).collect(),
            topic: None,
            priority,
            since: self.now,
            callback: None,
            caller: None,
            agent: None,
        });
    }

    fn answer(&mut self, call: CallId, agent: &str) {
        self.send(Input::Answered {
            call,
            agent: agent.into(),
        });
    }

    fn end(&mut self, call: CallId, agent: &str) {
        self.send(Input::CallEnded {
            call,
            agent: agent.into(),
        });
    }

    fn state(&self, agent: &str) -> AgentState {
        self.acd.agent_state(agent).expect("known agent")
    }
}

fn offer(call: CallId, agent: &str) -> (CallId, String) {
    (call, agent.to_string())
}

#[test]
fn skill_matching_language_and_topic() {
    let mut h = H::with(
        &[queue("permis", &[("permis", 3)])],
        &[
            agent("a", &[("fr", 5), ("permis", 2)]),
            agent("b", &[("en", 5), ("permis", 4)]),
            agent("c", &[("fr", 3), ("permis", 3)]),
        ],
    );
    h.login(&["a", "b", "c"]);
    h.take();
    h.call(1, "permis", "fr");
    assert_eq!(
        h.offers(),
        vec![offer(1, "c")],
        "a lacks the level, b French"
    );
    h.call(2, "permis", "en");
    assert_eq!(h.offers(), vec![offer(2, "b")]);
    // A topic skill from the dial-plan node on top of the queue's: nobody has it.
    h.call_with(3, "permis", "fr", &["zonage:2"], 0);
    assert_eq!(h.offers(), vec![]);
    assert_eq!(h.acd.position(3), Some(1));
    assert_eq!(h.state("a"), AgentState::Available);
}

#[test]
fn proficiency_order_then_language_level() {
    let mut h = H::with(
        &[queue("permis", &[("permis", 2)])],
        &[
            agent("x", &[("fr", 5), ("permis", 3)]),
            agent("y", &[("fr", 5), ("permis", 5)]),
            agent("z", &[("fr", 1), ("permis", 5)]),
        ],
    );
    // y logs in last: proficiency, not idle time, decides.
    h.login(&["x", "z", "y"]);
    h.take();
    h.call(1, "permis", "fr");
    h.call(2, "permis", "fr");
    h.call(3, "permis", "fr");
    assert_eq!(
        h.offers(),
        vec![offer(1, "y"), offer(2, "z"), offer(3, "x")],
        "permis 5 (fr 5), permis 5 (fr 1), permis 3"
    );
}

#[test]
fn longest_idle_then_id() {
    let sk = [("fr", 3), ("general", 1)];
    let mut h = H::with(
        &[queue("general", &[("general", 1)])],
        &[
            agent("p", &sk),
            agent("q", &sk),
            agent("r", &sk),
            agent("s", &sk),
        ],
    );
    h.login(&["q"]);
    h.advance(S);
    h.login(&["r"]);
    h.advance(S);
    h.login(&["s", "p"]); // same instant: id decides
    h.take();
    h.call(1, "general", "fr");
    assert_eq!(h.offers(), vec![offer(1, "q")]);
    h.answer(1, "q");
    h.call(2, "general", "fr");
    assert_eq!(h.offers(), vec![offer(2, "r")]);
    h.answer(2, "r");
    h.end(1, "q");
    h.advance(60 * S); // q's wrap-up ends: q is now the most recently idle
    h.take();
    h.call(3, "general", "fr");
    assert_eq!(h.offers(), vec![offer(3, "p")]);
    h.call(4, "general", "fr");
    assert_eq!(h.offers(), vec![offer(4, "s")]);
    h.call(5, "general", "fr");
    assert_eq!(h.offers(), vec![offer(5, "q")]);
}

#[test]
fn relaxation_steps_lower_then_drop_and_keep_the_place() {
    let mut permis = queue("permis", &[("permis", 3)]);
    permis.relax = vec![
        Relax {
            after: Duration::from_secs(60),
            min_level: Some(2),
            drop_skills: vec![],
        },
        Relax {
            after: Duration::from_secs(120),
            min_level: None,
            drop_skills: vec!["permis".into()],
        },
    ];
    let mut h = H::with(
        &[permis, queue("general", &[])],
        &[
            in_queues(agent("lvl2", &[("fr", 5), ("permis", 2)]), &["permis"]),
            agent("plain", &[("fr", 4)]),
        ],
    );
    h.login(&["lvl2", "plain"]);
    h.call(100, "general", "fr");
    assert_eq!(h.offers(), vec![offer(100, "plain")]);
    h.answer(100, "plain");
    h.call(1, "permis", "fr"); // A, t = 0
    h.advance(S);
    h.call(5, "permis", "en"); // an English caller, t = 1 s
    h.advance(4 * S);
    h.call(2, "permis", "fr"); // B, t = 5 s
    assert_eq!(h.offers(), vec![]);
    h.advance(59 * S - 5 * S); // t = 59 s
    assert_eq!(h.offers(), vec![]);
    h.advance(S); // t = 60 s: A accepts permis ≥ 2
    assert_eq!(h.offers(), vec![offer(1, "lvl2")]);
    h.answer(1, "lvl2");
    h.advance(40 * S); // t = 100 s
    h.call(3, "permis", "fr"); // C
    h.advance(25 * S); // t = 125 s: B's permis requirement dropped; plain is busy
    assert_eq!(h.offers(), vec![]);
    assert_eq!(h.acd.position(2), Some(1), "B kept its place ahead of C");
    // Nobody staffed qualifies for C yet: counted among its own queue (E, B ahead).
    assert_eq!(h.acd.position(3), Some(3));
    h.advance(5 * S); // t = 130 s
    h.end(100, "plain");
    h.advance(30 * S); // wrap-up ends at 160 s
                       // The English caller (oldest, relaxed) still needs English; B is next; C is not relaxed.
    assert_eq!(h.offers(), vec![offer(2, "plain")]);
    assert_eq!(h.acd.position(5), Some(1));
}

#[test]
fn wrapup_delays_the_next_offer_and_can_end_early() {
    let mut w = agent("w", &[("fr", 3)]);
    w.wrapup_s = Some(10);
    let mut h = H::with(&[queue("general", &[])], &[w]);
    h.login(&["w"]);
    h.call(1, "general", "fr");
    h.answer(1, "w");
    h.advance(5 * S);
    h.end(1, "w");
    assert_eq!(h.state("w"), AgentState::WrapUp);
    h.take();
    h.advance(S);
    h.call(2, "general", "fr");
    h.advance(8 * S);
    assert_eq!(h.offers(), vec![], "still in wrap-up at 14 s");
    h.advance(S);
    assert_eq!(h.offers(), vec![offer(2, "w")], "wrap-up ended at 15 s");
    h.answer(2, "w");
    h.end(2, "w");
    h.call(3, "general", "fr");
    h.advance(2 * S);
    assert_eq!(h.offers(), vec![]);
    h.send(Input::WrapupDone { agent: "w".into() });
    assert_eq!(h.offers(), vec![offer(3, "w")]);
}

#[test]
fn ring_no_answer_goes_to_the_next_agent() {
    let mut h = H::with(
        &[queue("general", &[])],
        &[agent("a", &[("fr", 5)]), agent("b", &[("fr", 4)])],
    );
    h.login(&["a", "b"]);
    h.take();
    h.call(1, "general", "fr");
    assert_eq!(h.offers(), vec![offer(1, "a")]);
    h.send(Input::Ringing {
        call: 1,
        agent: "a".into(),
    });
    assert_eq!(h.state("a"), AgentState::Ringing);
    h.take();
    h.advance(15 * S - 1);
    assert_eq!(h.take(), vec![]);
    h.advance(1);
    let out = h.take();
    assert!(out.contains(&Output::CancelOffer {
        call: 1,
        agent: "a".into(),
        reason: CancelReason::RingTimeout
    }));
    assert!(out.contains(&Output::Offer {
        call: 1,
        agent: "b".into()
    }));
    assert_eq!(h.state("a"), AgentState::Available);
    // a is not kept off other calls.
    h.call(2, "general", "fr");
    assert_eq!(h.offers(), vec![offer(2, "a")]);
    // NoAnswer reported by the server counts the same.
    h.send(Input::OfferFailed {
        call: 2,
        agent: "a".into(),
        reason: OfferFailure::NoAnswer,
    });
    assert_eq!(h.state("a"), AgentState::Paused, "second miss in a row");
}

#[test]
fn pause_after_max_misses_and_answer_resets() {
    let mut h = H::with(&[queue("general", &[])], &[agent("a", &[("fr", 5)])]);
    h.login(&["a"]);
    h.call(1, "general", "fr");
    assert_eq!(h.offers(), vec![offer(1, "a")]);
    h.advance(15 * S);
    // Nobody else: the call waits one ring timeout before a is tried again.
    assert_eq!(h.offers(), vec![]);
    assert_eq!(h.state("a"), AgentState::Available);
    h.advance(15 * S);
    assert_eq!(h.offers(), vec![offer(1, "a")]);
    h.advance(15 * S);
    let out = h.take();
    assert!(out.contains(&Output::AgentState {
        agent: "a".into(),
        state: AgentState::Paused,
        reason: Some("ring-no-answer".into())
    }));
    assert_eq!(h.acd.position(1), Some(1));
    h.send(Input::AgentResume { agent: "a".into() });
    h.advance(15 * S);
    assert_eq!(h.offers(), vec![offer(1, "a")]);
    h.advance(15 * S); // one miss
    h.advance(15 * S);
    assert_eq!(h.offers(), vec![offer(1, "a")]);
    h.answer(1, "a"); // resets the count
    h.end(1, "a");
    h.advance(30 * S);
    h.call(2, "general", "fr");
    h.advance(15 * S);
    assert_eq!(
        h.state("a"),
        AgentState::Available,
        "one miss after an answer"
    );
}

#[test]
fn cross_queue_fairness_oldest_by_priority() {
    let mut h = H::with(
        &[queue("a", &[]), queue("b", &[])],
        &[
            in_queues(agent("x", &[("fr", 3)]), &["a", "b"]),
            in_queues(agent("y", &[("fr", 3)]), &["a"]),
        ],
    );
    h.send(Input::AgentRegistered { agent: "x".into() });
    h.call(1, "b", "fr");
    h.advance(S);
    h.call(2, "a", "fr");
    h.advance(S);
    h.call(3, "b", "fr");
    h.advance(S);
    h.call(4, "a", "fr");
    h.take();
    h.send(Input::AgentLogin { agent: "x".into() });
    let mut order = vec![];
    for _ in 0..4 {
        let o = h.offers();
        assert_eq!(o.len(), 1);
        order.push(o[0].0);
        h.answer(o[0].0, "x");
        h.end(o[0].0, "x");
        h.advance(30 * S);
    }
    assert_eq!(order, vec![1, 2, 3, 4], "oldest first across queues");

    // Queue priority (and the call's own priority) beat age.
    let mut b = queue("b", &[]);
    b.priority = 5;
    h.acd.set_queues(&[queue("a", &[]), b], h.now);
    h.send(Input::AgentPause {
        agent: "x".into(),
        reason: "lunch".into(),
    });
    h.call(10, "a", "fr");
    h.advance(S);
    h.call(11, "b", "fr");
    h.advance(S);
    h.call_with(12, "a", "fr", &[], 9);
    h.take();
    h.send(Input::AgentResume { agent: "x".into() });
    assert_eq!(h.offers(), vec![offer(12, "x")], "a + 9 beats b + 5");
    h.answer(12, "x");
    h.end(12, "x");
    h.advance(30 * S);
    assert_eq!(
        h.offers(),
        vec![offer(11, "x")],
        "b + 5 beats an older a + 0"
    );
    // y serves only `a`.
    h.login(&["y"]);
    assert_eq!(h.offers(), vec![offer(10, "y")]);
}

#[test]
fn callback_keeps_its_original_place() {
    let mut g = queue("general", &[]);
    g.announce_every = Duration::from_secs(20);
    let mut h = H::with(&[g], &[agent("a", &[("fr", 3)])]);
    h.login(&["a"]);
    h.call(99, "general", "fr");
    h.answer(99, "a");
    h.call(1, "general", "fr"); // t = 0
    h.advance(10 * S);
    h.call(2, "general", "fr");
    h.advance(10 * S);
    h.call(3, "general", "fr");
    h.advance(10 * S);
    h.send(Input::CallbackRequested {
        call: 2,
        number: "4185550123".into(),
    });
    h.advance(10 * S);
    h.call(4, "general", "fr"); // t = 40 s
    assert_eq!(h.acd.position(2), Some(2));
    h.take();
    h.advance(100 * S);
    let announced: BTreeSet<CallId> = h
        .take()
        .into_iter()
        .filter_map(|o| match o {
            Output::Announce { call, .. } => Some(call),
            _ => None,
        })
        .collect();
    assert_eq!(
        announced,
        BTreeSet::from([1, 3, 4]),
        "no announcements to a callback"
    );
    h.end(99, "a");
    let mut served = vec![];
    for _ in 0..4 {
        h.advance(30 * S);
        let out = h.take();
        let (call, kind) = out
            .iter()
            .find_map(|o| match o {
                Output::Offer { call, .. } => Some((*call, "live")),
                Output::DialCallback { call, number, .. } => {
                    assert_eq!(number, "4185550123");
                    Some((*call, "callback"))
                }
                _ => None,
            })
            .expect("an offer");
        served.push((call, kind));
        h.answer(call, "a");
        h.end(call, "a");
    }
    assert_eq!(
        served,
        vec![(1, "live"), (2, "callback"), (3, "live"), (4, "live")]
    );
}

#[test]
fn season_switch_requirements_priority_agents_and_closing() {
    let mut general = queue("general", &[("general", 1)]);
    general.seasons.insert(
        "hiver".into(),
        SeasonOverride {
            skills: Some(reqs(&[("general", 3)])),
            priority: None,
            closed: false,
        },
    );
    let mut snow = queue("deneigement", &[("deneigement", 1)]);
    snow.overflow = Some(Overflow::Node(7));
    snow.seasons.insert(
        "hiver".into(),
        SeasonOverride {
            skills: None,
            priority: Some(10),
            closed: false,
        },
    );
    snow.seasons.insert(
        "ete".into(),
        SeasonOverride {
            skills: None,
            priority: None,
            closed: true,
        },
    );
    let mut summer = agent("s", &[("fr", 5), ("general", 5)]);
    summer.seasons = vec!["ete".into()];
    let mut h = H::with(
        &[general, snow],
        &[
            agent("g", &[("fr", 5), ("general", 2), ("deneigement", 3)]),
            agent("h", &[("fr", 5), ("general", 3), ("deneigement", 1)]),
            summer,
        ],
    );
    h.acd.set_season(Some("hiver"), h.now);
    h.login(&["s"]);
    assert_eq!(
        h.state("s"),
        AgentState::LoggedOut,
        "summer-only agent in winter"
    );
    assert!(h.take().contains(&Output::AgentState {
        agent: "s".into(),
        state: AgentState::LoggedOut,
        reason: Some("not-scheduled".into())
    }));
    h.send(Input::AgentRegistered { agent: "g".into() });
    h.send(Input::AgentRegistered { agent: "h".into() });
    h.call(1, "general", "fr");
    h.advance(S);
    h.call(2, "deneigement", "fr");
    h.advance(S);
    h.send(Input::AgentLogin { agent: "h".into() });
    assert_eq!(
        h.offers(),
        vec![offer(2, "h")],
        "winter priority 10 beats an older call"
    );
    h.send(Input::AgentLogin { agent: "g".into() });
    assert_eq!(h.offers(), vec![], "general needs level 3 in winter");

    h.acd.set_season(Some("ete"), h.now);
    h.drain();
    assert_eq!(h.offers(), vec![offer(1, "g")], "level 1 again in summer");
    h.login(&["s"]);
    assert_eq!(h.state("s"), AgentState::Available);
    h.take();
    h.call(3, "deneigement", "fr");
    assert_eq!(
        h.take(),
        vec![Output::Overflow {
            call: 3,
            to: Overflow::Node(7)
        }]
    );
    assert_eq!(h.acd.position(3), None);
    // Back to winter: the summer agent is logged out.
    h.acd.set_season(Some("hiver"), h.now);
    h.drain();
    assert_eq!(h.state("s"), AgentState::LoggedOut);
}

#[test]
fn unregistered_agents_are_logged_out_and_never_offered() {
    let mut h = H::with(
        &[queue("general", &[])],
        &[agent("a", &[("fr", 5)]), agent("b", &[("fr", 1)])],
    );
    h.login(&["a", "b"]);
    h.send(Input::AgentUnregistered { agent: "a".into() });
    assert_eq!(h.state("a"), AgentState::LoggedOut);
    h.take();
    h.call(1, "general", "fr");
    assert_eq!(h.offers(), vec![offer(1, "b")]);
    // Unregistered while ringing: the offer is withdrawn and the call waits again.
    h.send(Input::AgentUnregistered { agent: "b".into() });
    let out = h.take();
    assert!(out.contains(&Output::CancelOffer {
        call: 1,
        agent: "b".into(),
        reason: CancelReason::AgentUnavailable
    }));
    assert_eq!(h.acd.position(1), Some(1));
    // Login without a registration waits for it.
    h.send(Input::AgentLogin { agent: "a".into() });
    assert_eq!(h.state("a"), AgentState::LoggedOut);
    assert_eq!(h.offers(), vec![]);
    h.send(Input::AgentRegistered { agent: "a".into() });
    assert_eq!(h.offers(), vec![offer(1, "a")]);
    // Unreachable: logged out, the call goes to the next agent.
    h.send(Input::AgentRegistered { agent: "b".into() });
    h.send(Input::AgentLogin { agent: "b".into() });
    h.send(Input::OfferFailed {
        call: 1,
        agent: "a".into(),
        reason: OfferFailure::Unreachable,
    });
    assert_eq!(h.state("a"), AgentState::LoggedOut);
    assert_eq!(h.offers(), vec![offer(1, "b")]);
}

#[test]
fn logout_or_pause_during_a_call_applies_after_wrapup() {
    let mut h = H::with(
        &[queue("general", &[])],
        &[agent("a", &[("fr", 5)]), agent("b", &[("fr", 5)])],
    );
    h.login(&["a", "b"]);
    h.call(1, "general", "fr");
    h.call(2, "general", "fr");
    h.answer(1, "a");
    h.answer(2, "b");
    h.take();
    h.send(Input::AgentLogout { agent: "a".into() });
    h.send(Input::AgentPause {
        agent: "b".into(),
        reason: "lunch".into(),
    });
    assert_eq!(h.state("a"), AgentState::OnCall);
    assert_eq!(h.state("b"), AgentState::OnCall);
    h.end(1, "a");
    h.end(2, "b");
    assert_eq!(h.state("a"), AgentState::WrapUp);
    h.call(3, "general", "fr");
    h.advance(30 * S);
    assert_eq!(h.state("a"), AgentState::LoggedOut);
    assert_eq!(h.state("b"), AgentState::Paused);
    assert_eq!(h.offers(), vec![]);
    assert_eq!(
        h.acd.snapshot(h.now).agents[1].reason.as_deref(),
        Some("lunch")
    );
}

#[test]
fn agent_leg_failure_puts_the_caller_back_in_front() {
    let mut h = H::with(
        &[queue("general", &[])],
        &[agent("a", &[("fr", 5)]), agent("b", &[("fr", 4)])],
    );
    h.login(&["a"]);
    h.call(1, "general", "fr");
    h.answer(1, "a");
    h.advance(S);
    h.call(2, "general", "fr");
    // The bridge to a breaks (a's phone is gone): a is logged out, the caller goes back.
    h.send(Input::OfferFailed {
        call: 1,
        agent: "a".into(),
        reason: OfferFailure::Unreachable,
    });
    assert_eq!(h.state("a"), AgentState::LoggedOut);
    assert_eq!(h.acd.position(1), Some(1));
    assert_eq!(h.acd.position(2), Some(2));
    h.take();
    h.login(&["b"]);
    assert_eq!(h.offers(), vec![offer(1, "b")], "failed call first");
}

#[test]
fn max_wait_overflows() {
    let mut q = queue("general", &[]);
    q.max_wait = Some(Duration::from_secs(300));
    q.overflow = Some(Overflow::Target("voicemail".into()));
    let mut cb = queue("cb", &[]);
    cb.max_wait = Some(Duration::from_secs(60));
    let mut h = H::with(&[q, cb], &[agent("a", &[("fr", 5)])]);
    h.call(1, "general", "fr");
    h.advance(300 * S - 1);
    assert_eq!(h.take(), vec![]);
    h.advance(1);
    assert_eq!(
        h.take(),
        vec![Output::Overflow {
            call: 1,
            to: Overflow::Target("voicemail".into())
        }]
    );
    assert_eq!(h.acd.position(1), None);
    // A callback overflow keeps the entry (and its place) for the caller's answer.
    h.call(2, "cb", "fr");
    h.advance(60 * S);
    assert_eq!(
        h.take(),
        vec![Output::Overflow {
            call: 2,
            to: Overflow::Callback
        }]
    );
    assert_eq!(h.acd.position(2), Some(1));
    h.send(Input::CallbackRequested {
        call: 2,
        number: "5145550000".into(),
    });
    h.advance(3600 * S);
    assert_eq!(h.take(), vec![], "a callback never times out");
    h.login(&["a"]);
    assert_eq!(h.offers(), vec![offer(2, "a")]);
}

/// The announcements among outputs: (call, position, estimate).
fn announced(out: &[Output]) -> Vec<(CallId, u32, Option<u64>)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Announce { call, info } => Some((*call, info.position, info.estimate_ms)),
            _ => None,
        })
        .collect()
}

#[test]
fn estimated_wait_cases() {
    let sk = [("fr", 3)];
    let mut h = H::with(
        &[queue("general", &[])],
        &[agent("a", &sk), agent("b", &sk)],
    );
    // No staffed agent: no estimate.
    h.call(1, "general", "fr");
    assert_eq!(h.acd.estimated_wait_ms(1, h.now), None);
    h.send(Input::CallLeft { call: 1 });

    // Position 1, the only agent in wrap-up with 10 s left.
    h.login(&["a"]);
    h.call(2, "general", "fr");
    h.answer(2, "a");
    h.advance(60 * S);
    h.end(2, "a");
    h.advance(20 * S);
    h.call(3, "general", "fr");
    assert_eq!(h.acd.position(3), Some(1));
    assert_eq!(h.acd.estimated_wait_ms(3, h.now), Some(10 * S));
    h.advance(10 * S);
    assert_eq!(h.offers().last(), Some(&offer(3, "a")));
    assert_eq!(h.acd.estimated_wait_ms(3, h.now), Some(0));
    // The handle time just observed (60 s talk + 30 s wrap-up) is the queue's AHT now.
    assert_eq!(h.acd.snapshot(h.now).queues[0].aht_ms, 90 * S);

    // Two agents just starting calls, nothing known of how calls end but their mean: each
    // frees at rate 1/AHT, so the line moves every AHT/2 and the 10th waits 10 · AHT/2.
    h.answer(3, "a");
    h.login(&["b"]);
    h.call(4, "general", "fr");
    h.answer(4, "b");
    for c in 10..20 {
        h.call(c, "general", "fr");
    }
    assert_eq!(h.acd.position(19), Some(10));
    assert_eq!(h.acd.estimated_wait_ms(19, h.now), Some(10 * 45 * S));
    assert_eq!(h.acd.estimated_wait_ms(10, h.now), Some(45 * S));
    let a = h.acd.announcement(19, h.now).unwrap();
    assert_eq!((a.agents, a.aht_ms, a.first_free_ms), (2, 90 * S, 45 * S));
}

#[test]
fn estimate_looks_ahead_to_relaxation() {
    let mut q = queue("permis", &[("permis", 3)]);
    q.relax = vec![Relax {
        after: Duration::from_secs(90),
        min_level: Some(1),
        drop_skills: vec![],
    }];
    q.announce_every = Duration::from_secs(30);
    let mut h = H::with(&[q], &[agent("a", &[("fr", 5), ("permis", 1)])]);
    h.login(&["a"]);
    h.take();
    h.call(1, "permis", "fr");
    // Announced at once (the caller has to wait), with the time until the step.
    assert_eq!(announced(&h.take()), vec![(1, 1, Some(90 * S))]);
    h.advance(30 * S);
    assert_eq!(announced(&h.take()), vec![(1, 1, Some(60 * S))]);
    h.advance(60 * S);
    assert_eq!(h.offers(), vec![offer(1, "a")]);
}

#[test]
fn reloads_keep_state_and_callers() {
    let mut h = H::with(
        &[queue("general", &[]), queue("old", &[])],
        &[agent("a", &[("fr", 5)]), agent("b", &[("fr", 5)])],
    );
    h.login(&["a", "b"]);
    h.call(1, "general", "fr");
    h.answer(1, "a");
    h.send(Input::AgentPause {
        agent: "b".into(),
        reason: "training".into(),
    });
    h.call(2, "old", "fr");
    // The plan drops `old`; the agents file drops b and changes a's skills.
    h.acd.set_queues(&[queue("general", &[])], h.now);
    h.acd
        .set_agents(&[agent("a", &[("fr", 5), ("en", 2)])], h.now);
    h.drain();
    h.take();
    assert_eq!(h.state("a"), AgentState::OnCall);
    assert_eq!(h.state("b"), AgentState::LoggedOut);
    assert_eq!(
        h.acd.position(2),
        Some(1),
        "caller of a dropped queue stays"
    );
    let snap = h.acd.snapshot(h.now);
    let old = snap.queues.iter().find(|q| q.name == "old").unwrap();
    assert!(!old.in_plan && old.calls.len() == 1);
    h.end(1, "a");
    h.advance(30 * S);
    assert_eq!(h.offers(), vec![offer(2, "a")]);
    // Snapshot serialises for the admin API.
    let json = serde_json::to_string(&h.acd.snapshot(h.now)).unwrap();
    assert!(json.contains("\"state\":\"reserved\""), "{json}");
}

#[test]
fn caller_leaving_while_ringing_frees_the_agent() {
    let mut h = H::with(&[queue("general", &[])], &[agent("a", &[("fr", 5)])]);
    h.login(&["a"]);
    h.call(1, "general", "fr");
    h.advance(S);
    h.call(2, "general", "fr");
    h.take();
    h.send(Input::CallLeft { call: 1 });
    let out = h.take();
    assert_eq!(
        out[0],
        Output::CancelOffer {
            call: 1,
            agent: "a".into(),
            reason: CancelReason::CallerLeft
        }
    );
    assert!(out.contains(&Output::Offer {
        call: 2,
        agent: "a".into()
    }));
    // Late or stray events are ignored.
    h.answer(1, "a");
    h.end(1, "a");
    h.send(Input::CallLeft { call: 1 });
    h.answer(2, "nobody");
    assert_eq!(h.state("a"), AgentState::Reserved);
}

// ----- random inputs: invariants and determinism -----

/// SplitMix64: a tiny seeded generator, so the test needs no dependency and never changes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u64) as usize]
    }

    /// Exponential with this mean.
    fn exp(&mut self, mean: f64) -> u64 {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        (-(1.0 - u).ln() * mean) as u64
    }
}

fn fuzz_setup() -> (Vec<QueueDef>, Vec<AgentDef>) {
    let mut permis = queue("permis", &[("permis", 3)]);
    permis.relax = vec![
        Relax {
            after: Duration::from_secs(20),
            min_level: Some(1),
            drop_skills: vec![],
        },
        Relax {
            after: Duration::from_secs(40),
            min_level: None,
            drop_skills: vec!["permis".into()],
        },
    ];
    permis.announce_every = Duration::from_secs(15);
    permis.max_wait = Some(Duration::from_secs(120));
    permis.offer_callback = true;
    permis.callback_threshold = Duration::from_secs(30);
    permis.resume_window = Duration::from_secs(60);
    let mut snow = queue("neige", &[("neige", 1)]);
    snow.seasons.insert(
        "ete".into(),
        SeasonOverride {
            closed: true,
            ..Default::default()
        },
    );
    snow.seasons.insert(
        "hiver".into(),
        SeasonOverride {
            priority: Some(10),
            ..Default::default()
        },
    );
    snow.overflow = Some(Overflow::Callback);
    let mut general = queue("general", &[]);
    general.max_wait = Some(Duration::from_secs(90));
    general.overflow = Some(Overflow::Target("vm".into()));
    general.resume_window = Duration::from_secs(600);
    general.resume_withheld = true;
    general.announce_every = Duration::from_secs(25);
    let mut agents = vec![
        agent("a1", &[("fr", 5), ("permis", 4), ("neige", 2)]),
        agent("a2", &[("fr", 3), ("en", 3)]),
        agent("a3", &[("en", 5), ("permis", 2)]),
        in_queues(
            agent("a4", &[("fr", 2), ("neige", 5)]),
            &["neige", "general"],
        ),
        agent("a5", &[("fr", 1), ("en", 1), ("permis", 1), ("neige", 1)]),
    ];
    agents[2].seasons = vec!["ete".into()];
    agents[1].wrapup_s = Some(0);
    (vec![permis, snow, general], agents)
}

/// Feed a seeded random mix of plausible and nonsensical inputs; check invariants after every
/// step and that no agent or call is ever double-offered (from the outputs alone). Returns
/// every output, for the determinism test.
fn fuzz(seed: u64, steps: usize) -> Vec<(Time, Output)> {
    let (queues, agents) = fuzz_setup();
    let mut acd = Acd::new(AcdConfig {
        ring_timeout_ms: 5 * S,
        max_misses: 2,
        default_wrapup_ms: 3 * S,
        aht_window: 5,
        default_aht_ms: 60 * S,
    });
    acd.set_queues(&queues, 0);
    acd.set_agents(&agents, 0);
    let mut rng = Rng(seed);
    let mut now: Time = 0;
    let ids = ["a1", "a2", "a3", "a4", "a5", "ghost"];
    let qnames = ["permis", "neige", "general", "unknown"];
    let langs = ["fr", "en", ""];
    let seasons = [None, Some("ete"), Some("hiver"), Some("automne")];
    let mut log: Vec<(Time, Output)> = Vec::new();
    // What the outputs say each agent holds, and which agent each call is offered to.
    let mut holding: BTreeMap<String, CallId> = BTreeMap::new();
    let mut offered: BTreeMap<CallId, String> = BTreeMap::new();
    let mut live_offers: Vec<(CallId, String)> = Vec::new();
    for step in 0..steps {
        let agent = rng.pick(&ids).to_string();
        let call = rng.below(25);
        match rng.below(27) {
            0..=4 => acd.handle(
                Input::CallQueued {
                    call,
                    queue: rng.pick(&qnames).to_string(),
                    lang: rng.pick(&langs).to_string(),
                    skills: match rng.below(4) {
                        0 => vec!["permis:2".into()],
                        1 => vec!["neige".into(), "bad:level:x".into()],
                        _ => vec![],
                    },
                    topic: None,
                    priority: rng.below(5) as i32 - 2,
                    since: now.saturating_sub(rng.below(3) * 30 * S),
                    callback: (rng.below(6) == 0).then(|| "555".to_string()),
                    caller: (rng.below(2) == 0).then(|| Caller {
                        number: format!("514555010{}", rng.below(4)),
                        withheld: rng.below(3) == 0,
                        log_id: format!("log-{call}"),
                    }),
                    agent: (rng.below(4) == 0).then(|| rng.pick(&ids).to_string()),
                },
                now,
            ),
            5 => acd.handle(Input::CallLeft { call }, now),
            6 => acd.handle(
                Input::CallbackRequested {
                    call,
                    number: "514".into(),
                },
                now,
            ),
            7 | 8 => acd.handle(Input::AgentLogin { agent }, now),
            9 => acd.handle(Input::AgentLogout { agent }, now),
            10 => acd.handle(
                Input::AgentPause {
                    agent,
                    reason: "break".into(),
                },
                now,
            ),
            11 => acd.handle(Input::AgentResume { agent }, now),
            12 | 13 => acd.handle(Input::AgentRegistered { agent }, now),
            14 => acd.handle(Input::AgentUnregistered { agent }, now),
            15 | 16 => {
                // Mostly answer a real offer; sometimes a random pair.
                let (c, a) = if !live_offers.is_empty() && rng.below(4) > 0 {
                    live_offers[rng.below(live_offers.len() as u64) as usize].clone()
                } else {
                    (call, agent)
                };
                acd.handle(Input::Answered { call: c, agent: a }, now)
            }
            17 => {
                let (c, a) = match holding.iter().next() {
                    Some((a, &c)) if rng.below(3) > 0 => (c, a.clone()),
                    _ => (call, agent),
                };
                let reason = *rng.pick(&[
                    OfferFailure::NoAnswer,
                    OfferFailure::Busy,
                    OfferFailure::Unreachable,
                    OfferFailure::Declined,
                ]);
                acd.handle(
                    Input::OfferFailed {
                        call: c,
                        agent: a,
                        reason,
                    },
                    now,
                )
            }
            18 | 19 => {
                let pairs: Vec<(String, CallId)> =
                    holding.iter().map(|(a, &c)| (a.clone(), c)).collect();
                let (a, c) = if !pairs.is_empty() && rng.below(4) > 0 {
                    rng.pick(&pairs).clone()
                } else {
                    (agent, call)
                };
                acd.handle(Input::CallEnded { call: c, agent: a }, now)
            }
            20 => acd.handle(Input::WrapupDone { agent }, now),
            21 => acd.handle(Input::Ringing { call, agent }, now),
            22 => acd.set_season(*rng.pick(&seasons), now),
            23 => acd.handle(Input::ConsultStart { call, agent }, now),
            24 => acd.handle(Input::ConsultEnded { call, agent }, now),
            25 => acd.handle(Input::ConsultCompleted { call, agent }, now),
            _ => {
                if rng.below(8) == 0 {
                    // Reload with one agent dropped or changed.
                    let mut ag = agents.clone();
                    let k = rng.below(ag.len() as u64) as usize;
                    if rng.below(2) == 0 {
                        ag.remove(k);
                    } else {
                        ag[k].skills.insert("permis".into(), 5);
                    }
                    acd.set_agents(&ag, now);
                    acd.set_queues(&queues[..2 + rng.below(2) as usize], now);
                }
            }
        }
        // Time passes, deadlines fire on time (and sometimes late).
        let target = now + rng.below(8 * S);
        while let Some(t) = acd.poll_timeout() {
            if t > target {
                break;
            }
            now = if rng.below(10) == 0 {
                target
            } else {
                now.max(t)
            };
            acd.handle_timeout(now);
        }
        now = target;
        while let Some(o) = acd.poll() {
            match &o {
                Output::Offer { call, agent } | Output::DialCallback { call, agent, .. } => {
                    assert!(
                        !holding.contains_key(agent),
                        "step {step}: {agent} offered {call} while holding {:?}",
                        holding.get(agent)
                    );
                    assert!(
                        !offered.contains_key(call),
                        "step {step}: {call} offered to {agent} and {:?}",
                        offered.get(call)
                    );
                    holding.insert(agent.clone(), *call);
                    offered.insert(*call, agent.clone());
                }
                Output::CancelOffer { call, agent, .. } => {
                    assert_eq!(holding.remove(agent), Some(*call), "step {step}");
                    offered.remove(call);
                }
                Output::AgentState { agent, state, .. }
                    if !matches!(
                        state,
                        AgentState::Reserved | AgentState::Ringing | AgentState::OnCall
                    ) =>
                {
                    if let Some(c) = holding.remove(agent) {
                        offered.remove(&c);
                    }
                }
                _ => {}
            }
            log.push((now, o));
        }
        live_offers = holding.iter().map(|(a, &c)| (c, a.clone())).collect();
        if let Err(e) = acd.check_invariants() {
            panic!("seed {seed} step {step}: {e}");
        }
        // Queries never panic either.
        let _ = acd.position(call);
        let _ = acd.estimated_wait_ms(call, now);
        if step % 97 == 0 {
            let _ = serde_json::to_string(&acd.snapshot(now)).unwrap();
        }
    }
    log
}

#[test]
fn random_inputs_keep_invariants() {
    for seed in 1..=40 {
        let log = fuzz(seed, 1500);
        assert!(log.iter().any(|(_, o)| matches!(o, Output::Offer { .. })));
    }
}

#[test]
fn same_inputs_same_outputs() {
    let a = fuzz(7, 3000);
    let b = fuzz(7, 3000);
    assert_eq!(a, b);
    assert!(a.len() > 500, "{}", a.len());
}

// ----- throughput -----

/// A small call-centre simulation on virtual time: `calls` arrivals (Poisson), 20 agents, three
/// queues, two languages, answer after 3 s (one offer in 20 rings out), exponential talk, some
/// callers abandon, agents paused for missing calls resume a minute later. Returns (answered, abandoned, overflowed, outputs).
fn simulate(calls: u64, seed: u64) -> (u64, u64, u64, u64) {
    let mut permis = queue("permis", &[("permis", 2)]);
    permis.relax = vec![Relax {
        after: Duration::from_secs(60),
        min_level: None,
        drop_skills: vec!["permis".into()],
    }];
    permis.announce_every = Duration::from_secs(45);
    let mut general = queue("general", &[]);
    general.announce_every = Duration::from_secs(45);
    general.max_wait = Some(Duration::from_secs(900));
    general.overflow = Some(Overflow::Target("vm".into()));
    let mut collecte = queue("collecte", &[("collecte", 1)]);
    collecte.priority = 1;
    let mut agents = Vec::new();
    for i in 0..20 {
        let mut sk = vec![("fr", 3 + (i % 3) as u8)];
        if i % 4 == 0 {
            sk.push(("en", 4));
        }
        if i % 2 == 0 {
            sk.push(("permis", 1 + (i % 5) as u8));
        }
        if i % 3 != 0 {
            sk.push(("collecte", 2));
        }
        agents.push(agent(&format!("ag{i:02}"), &sk));
    }
    let mut acd = Acd::new(AcdConfig::default());
    acd.set_queues(&[permis, general, collecte], 0);
    acd.set_agents(&agents, 0);
    for a in &agents {
        acd.handle(
            Input::AgentRegistered {
                agent: a.id.clone(),
            },
            0,
        );
        acd.handle(
            Input::AgentLogin {
                agent: a.id.clone(),
            },
            0,
        );
    }
    #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    enum Ev {
        Arrive(CallId),
        Answer(CallId, usize),
        End(CallId, usize),
        Abandon(CallId),
        Resume(usize),
    }
    let mut rng = Rng(seed);
    let mut agenda: BTreeSet<(Time, u64, Ev)> = BTreeSet::new();
    let mut seq = 0u64;
    let mut push = |agenda: &mut BTreeSet<(Time, u64, Ev)>, t: Time, ev: Ev| {
        seq += 1;
        agenda.insert((t, seq, ev));
    };
    // 20 agents, AHT ≈ 270 s talk + 30 s wrap-up: offered load ≈ 17 Erlang at one call / 17 s.
    let mut t = 0;
    for c in 0..calls {
        t += rng.exp(17_000.0);
        push(&mut agenda, t, Ev::Arrive(c));
    }
    let mut connected: BTreeSet<CallId> = BTreeSet::new();
    let mut gone: BTreeSet<CallId> = BTreeSet::new();
    let (mut answered, mut abandoned, mut overflowed, mut outputs) = (0, 0, 0, 0);
    let mut now: Time;
    loop {
        let next_ev = agenda.first().map(|x| x.0);
        let next_to = acd.poll_timeout();
        match (next_ev, next_to) {
            (None, None) => break,
            (Some(e), Some(d)) if d < e => {
                now = d;
                acd.handle_timeout(now);
            }
            (None, Some(d)) => {
                now = d;
                acd.handle_timeout(now);
            }
            _ => {
                let Some((at, _, ev)) = agenda.pop_first() else {
                    break;
                };
                now = at;
                let input = match ev {
                    Ev::Arrive(c) => {
                        let r = rng.below(10);
                        let queue = match r {
                            0..=3 => "general",
                            4..=6 => "permis",
                            _ => "collecte",
                        };
                        push(&mut agenda, now + rng.exp(400_000.0), Ev::Abandon(c));
                        Input::CallQueued {
                            call: c,
                            queue: queue.into(),
                            lang: if rng.below(10) == 0 { "en" } else { "fr" }.into(),
                            skills: vec![],
                            topic: None,
                            priority: 0,
                            since: now,
                            callback: None,
                            caller: None,
                            agent: None,
                        }
                    }
                    Ev::Answer(c, a) => Input::Answered {
                        call: c,
                        agent: agents[a].id.clone(),
                    },
                    Ev::End(c, a) => {
                        connected.remove(&c);
                        Input::CallEnded {
                            call: c,
                            agent: agents[a].id.clone(),
                        }
                    }
                    Ev::Resume(a) => Input::AgentResume {
                        agent: agents[a].id.clone(),
                    },
                    Ev::Abandon(c) => {
                        if connected.contains(&c) || !gone.insert(c) {
                            continue;
                        }
                        if acd.position(c).is_some() {
                            abandoned += 1;
                        }
                        Input::CallLeft { call: c }
                    }
                };
                let answer = match &input {
                    Input::Answered { call, agent } => Some((*call, agent.clone())),
                    _ => None,
                };
                acd.handle(input, now);
                // Accepted (not cancelled meanwhile): connected calls have no position.
                if let Some((call, agent)) = answer {
                    if !gone.contains(&call) && acd.position(call).is_none() {
                        connected.insert(call);
                        gone.insert(call);
                        answered += 1;
                        let slot = agents.iter().position(|x| x.id == agent).unwrap_or(0);
                        push(&mut agenda, now + rng.exp(270_000.0), Ev::End(call, slot));
                    }
                }
            }
        }
        while let Some(o) = acd.poll() {
            outputs += 1;
            match o {
                Output::Offer { call, agent } if rng.below(20) != 0 => {
                    let slot = agents.iter().position(|x| x.id == agent).unwrap_or(0);
                    push(&mut agenda, now + 3_000, Ev::Answer(call, slot));
                }
                Output::Overflow { call, .. } => {
                    overflowed += 1;
                    gone.insert(call);
                }
                // An agent paused for ring-no-answer comes back a minute later.
                Output::AgentState {
                    agent,
                    state: AgentState::Paused,
                    ..
                } => {
                    let slot = agents.iter().position(|x| x.id == agent).unwrap_or(0);
                    push(&mut agenda, now + 60_000, Ev::Resume(slot));
                }
                _ => {}
            }
        }
    }
    (answered, abandoned, overflowed, outputs)
}

#[test]
fn throughput_small() {
    let (answered, abandoned, overflowed, _) = simulate(5_000, 3);
    assert!(answered > 4_000, "{answered} {abandoned} {overflowed}");
    assert_eq!(simulate(500, 9), simulate(500, 9));
}

/// Abandoned-resume, the callback offer and the late announcement, the estimate's inputs,
/// history after a restart.
mod waits;
mod consult;
mod directed;
