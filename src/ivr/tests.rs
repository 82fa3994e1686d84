//! The interpreter on small plans loaded through the real loader, on the shipped plans, and
//! the dry run's trace. Virtual time only: `Instant`s are offsets from one base, wall-clock
//! moments are fixed dates in the plan's zone.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::*;
use crate::dialplan::load::{load_dir, load_files, PromptList};
use crate::dialplan::model::{Route, TargetKind};
use crate::media::prompt::PromptSet;

// ---------------------------------------------------------------------------
// Harness

/// The plan header every small test plan shares: a calendar open weekdays 08:00–19:00 with
/// Québec holidays and two seasons, the emergency escape on 9, a 911 and an 811 target.
const HEAD: &str = r#"
[plan]
name = "test"
language = "fr"
calendar = "centre"
emergency = { digit = "9", target = "911", prompts = ["emergency_transfer"] }

[numbers]
"311" = "start"

[targets.911]
kind = "redirect"
uri = "sip:911@127.0.0.1:5070"
label = "Urgence 9-1-1"

[targets.811]
kind = "transfer"
uri = "sip:811@127.0.0.1:5070"

[calendars.centre]
timezone = "America/Toronto"
hours = ["lun-ven 08:00-19:00"]
holidays = ["quebec"]
seasons = { hiver = "12-01..03-31", ete = "06-01..08-31" }

[queues.general]
skills = ["general"]
"#;

const PROMPT_IDS: &[&str] = &[
    "welcome",
    "notice",
    "menu_a",
    "menu_b",
    "invalid",
    "no_input",
    "emergency_transfer",
    "goodbye",
    "topic",
    "enter_number",
    "callback_you_entered",
    "confirm_or_retry",
    "num_0",
    "num_1",
    "num_2",
    "num_3",
    "num_4",
    "num_5",
    "num_6",
    "num_7",
    "num_8",
    "num_9",
    "leave_message",
    "beep",
    "thanks",
    "transfer_out",
    "transfer_failed",
    "open_msg",
    "closed_msg",
    "holiday_msg",
    "winter_msg",
];

/// Loads `HEAD` + `nodes` through the real loader (and so the validator).
fn plan(nodes: &str) -> Arc<Plan> {
    let files = vec![(PathBuf::from("plan.toml"), format!("{HEAD}\n{nodes}"))];
    match load_files(&files, &PromptList::both(PROMPT_IDS)) {
        Ok(p) => Arc::new(p),
        Err(diags) => {
            let all: Vec<String> = diags.iter().map(ToString::to_string).collect();
            panic!("test plan does not load:\n{}", all.join("\n"))
        }
    }
}

/// A local wall-clock moment in the Québec zone, e.g. `"2027-04-14T10:00"`.
fn local(civil: &str) -> Timestamp {
    civil
        .parse::<jiff::civil::DateTime>()
        .unwrap()
        .in_tz("America/Toronto")
        .unwrap()
        .timestamp()
}

/// A Wednesday in April, mid-morning: open, spring, no holiday.
const OPEN: &str = "2027-04-14T10:00";

/// One simulated call: the interpreter plus a fake monotonic clock.
struct Call {
    ivr: Ivr,
    base: Instant,
    elapsed: Duration,
    wall: Timestamp,
    /// Token of the last playlist started.
    playing: Option<u64>,
}

impl Call {
    fn new(plan: Arc<Plan>, at: &str) -> Call {
        Call {
            ivr: Ivr::new(plan),
            base: Instant::now(),
            elapsed: Duration::ZERO,
            wall: local(at),
            playing: None,
        }
    }

    fn now(&self) -> Now {
        Now {
            mono: self.base + self.elapsed,
            wall: self.wall,
        }
    }

    fn drain(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        while let Some(a) = self.ivr.poll() {
            if let Action::Play { token, .. } = &a {
                self.playing = Some(*token);
            }
            out.push(a);
        }
        out
    }

    /// Enters the plan at its "311" entry.
    fn start(&mut self) -> Vec<Action> {
        let entry = match self.ivr.plan().route("311") {
            Route::Entry(id) => id,
            other => panic!("311 does not enter the plan: {other:?}"),
        };
        self.ivr.start(entry, self.now());
        self.drain()
    }

    fn digit(&mut self, d: char) -> Vec<Action> {
        self.ivr.on_digit(d, self.now());
        self.drain()
    }

    fn digits(&mut self, ds: &str) -> Vec<Action> {
        ds.chars().flat_map(|d| self.digit(d)).collect()
    }

    /// The last playlist plays to its end (one second later).
    fn finish_play(&mut self) -> Vec<Action> {
        let token = self.playing.take().expect("nothing is playing");
        self.elapsed += Duration::from_secs(1);
        self.ivr.on_play_finished(token, self.now());
        self.drain()
    }

    fn advance(&mut self, by: Duration) -> Vec<Action> {
        self.elapsed += by;
        self.ivr.on_timer(self.now());
        self.drain()
    }

    /// Jumps to the interpreter's deadline and fires the timer.
    fn timeout(&mut self) -> Vec<Action> {
        let deadline = self.ivr.deadline().expect("no deadline set");
        self.elapsed = deadline - self.base;
        self.ivr.on_timer(self.now());
        self.drain()
    }
}

/// Prompts of every Play in `actions`, as `lang:id`, one Vec per Play.
fn plays(actions: &[Action]) -> Vec<Vec<String>> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Play { prompts, .. } => Some(
                prompts
                    .iter()
                    .map(|s| format!("{}:{}", s.lang, s.id))
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

fn entered(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Event(IvrEvent::NodeEntered { node, .. }) => Some(node.clone()),
            _ => None,
        })
        .collect()
}

fn has(actions: &[Action], ev: &IvrEvent) -> bool {
    actions.contains(&Action::Event(ev.clone()))
}

/// The actions that are not log events.
fn effects(actions: &[Action]) -> Vec<&Action> {
    actions
        .iter()
        .filter(|a| !matches!(a, Action::Event(_)))
        .collect()
}

fn hangup(outcome: &str) -> Action {
    Action::Hangup {
        outcome: outcome.into(),
    }
}

/// Two menus: A (1 → B, 2 → goodbye, 0 → queue), B (1 → queue, 2 → goodbye); A is
/// preceded by a play node whose barge-in is configurable.
fn two_menus(barge_in: bool) -> Arc<Plan> {
    plan(&format!(
        r#"
[nodes.start]
type = "play"
prompts = ["fr:welcome", "en:welcome"]
barge_in = {barge_in}
next = "a"

[nodes.a]
type = "menu"
prompts = ["menu_a"]
choices = {{ "1" = "b", "2" = "bye", "0" = "q" }}
timeout = 5
retries = 2
on_fail = "q"

[nodes.b]
type = "menu"
prompts = ["menu_b"]
choices = {{ "1" = "q", "2" = "bye" }}
timeout = 4
retries = 1
emergency = false
on_fail = "bye"

[nodes.q]
type = "queue"
queue = "general"
topic = "t"
prompts = ["topic"]

[nodes.bye]
type = "hangup"
prompts = ["goodbye"]
outcome = "self-served"
"#
    ))
}

// ---------------------------------------------------------------------------
// Menus

#[test]
fn menu_digit_barges_in_on_its_prompt() {
    let mut c = Call::new(two_menus(false), OPEN);
    let a = c.start();
    assert_eq!(entered(&a), ["start"]);
    assert_eq!(plays(&a), [["fr:welcome", "en:welcome"]]);
    let a = c.finish_play();
    assert_eq!(entered(&a), ["a"]);
    assert_eq!(plays(&a), [["fr:menu_a"]]);
    assert!(matches!(
        a.last(),
        Some(Action::Play { barge_in: true, .. })
    ));
    // While menu A's prompt plays, 1 stops it and goes to B at once.
    let a = c.digit('1');
    assert_eq!(a[0], Action::StopPlay);
    assert!(has(
        &a,
        &IvrEvent::MenuChoice {
            node: "a".into(),
            digit: '1',
            next: "b".into()
        }
    ));
    assert_eq!(plays(&a), [["fr:menu_b"]]);
    assert_eq!(c.ivr.current_node(), Some("b"));
    // After B's prompt ended, a digit needs no StopPlay.
    c.finish_play();
    let a = c.digit('1');
    assert!(!a.contains(&Action::StopPlay));
    assert_eq!(plays(&a), [["fr:topic"]]);
    c.finish_play();
    assert_eq!(c.ivr.path(), ["1", "1"]);
    assert!(c.ivr.is_done());
}

#[test]
fn type_ahead_during_play_skips_the_menu_prompts() {
    let mut c = Call::new(two_menus(false), OPEN);
    c.start();
    // The welcome does not take barge-in: digits are kept, nothing is stopped.
    assert!(c.digit('1').is_empty());
    assert!(c.digit('2').is_empty());
    let a = c.finish_play();
    // A takes 1 without playing menu_a, B takes 2 without playing menu_b.
    assert_eq!(entered(&a), ["a", "b", "bye"]);
    assert_eq!(plays(&a), [["fr:goodbye"]]);
    assert!(!a.contains(&Action::StopPlay));
    assert_eq!(c.ivr.path(), ["1", "2"]);
    let a = c.finish_play();
    assert_eq!(effects(&a), [&hangup("self-served")]);
    assert!(c.ivr.is_done());
}

#[test]
fn barge_in_play_node_stops_and_hands_the_digit_to_the_menu() {
    let mut c = Call::new(two_menus(true), OPEN);
    c.start();
    let a = c.digit('2');
    assert_eq!(a[0], Action::StopPlay);
    assert_eq!(entered(&a), ["a", "bye"]);
    assert_eq!(plays(&a), [["fr:goodbye"]]);
}

#[test]
fn invalid_digit_clears_type_ahead_and_reprompts() {
    let mut c = Call::new(two_menus(false), OPEN);
    c.start();
    c.digits("71");
    let a = c.finish_play();
    assert!(has(
        &a,
        &IvrEvent::MenuInvalid {
            node: "a".into(),
            digit: '7'
        }
    ));
    // The 1 typed after the wrong key was not meant for this menu: dropped.
    assert_eq!(plays(&a), [["fr:invalid", "fr:menu_a"]]);
    assert_eq!(c.ivr.current_node(), Some("a"));
    c.finish_play();
    assert!(
        c.ivr.deadline().is_some(),
        "waits for a digit, did not take the 1"
    );
    assert_eq!(c.ivr.path(), Vec::<String>::new());
    let a = c.digit('0');
    assert_eq!(entered(&a), ["q"]);
}

#[test]
fn timeouts_reprompt_with_no_input_then_on_fail() {
    let mut c = Call::new(two_menus(false), OPEN);
    c.start();
    c.finish_play();
    assert_eq!(c.ivr.deadline(), None, "no timer while the prompt plays");
    c.finish_play();
    let t = c.now().mono;
    assert_eq!(c.ivr.deadline(), Some(t + Duration::from_secs(5)));
    // Early timer: nothing.
    assert!(c.advance(Duration::from_millis(4999)).is_empty());
    let a = c.advance(Duration::from_millis(1));
    assert!(has(&a, &IvrEvent::MenuTimeout { node: "a".into() }));
    assert_eq!(plays(&a), [["fr:no_input", "fr:menu_a"]]);
    c.finish_play();
    let a = c.timeout();
    assert_eq!(plays(&a), [["fr:no_input", "fr:menu_a"]]);
    c.finish_play();
    // retries = 2: the third silence goes to on_fail.
    let a = c.timeout();
    assert_eq!(entered(&a), ["q"]);
    assert_eq!(plays(&a), [["fr:topic"]]);
}

#[test]
fn wrong_keys_and_silence_count_together_towards_on_fail() {
    let mut c = Call::new(two_menus(false), OPEN);
    c.start();
    c.finish_play();
    c.digit('1'); // to B: retries = 1, on_fail = bye
    c.finish_play();
    let a = c.digit('5');
    assert_eq!(plays(&a), [["fr:invalid", "fr:menu_b"]]);
    c.finish_play();
    let a = c.timeout();
    assert_eq!(entered(&a), ["bye"]);
}

#[test]
fn emergency_digit_escapes_from_any_menu_with_the_escape_on() {
    let mut c = Call::new(two_menus(false), OPEN);
    c.start();
    c.finish_play();
    // 9 is not a choice of menu A, but the plan's escape works there, even mid-prompt.
    let a = c.digit('9');
    assert_eq!(a[0], Action::StopPlay);
    assert!(has(&a, &IvrEvent::EmergencyEscape { node: "a".into() }));
    assert_eq!(plays(&a), [["fr:emergency_transfer"]]);
    let a = c.finish_play();
    let [Action::Transfer { target }] = effects(&a)[..] else {
        panic!("{a:?}")
    };
    assert_eq!(target.name, "911");
    assert_eq!(target.kind, TargetKind::Redirect);
    assert_eq!(target.uri, "sip:911@127.0.0.1:5070");
    assert!(!c.ivr.is_done());
    // No on_failure for the escape: the call ends.
    c.ivr.on_transfer_failed(c.now());
    assert_eq!(effects(&c.drain()), [&hangup("transfer-failed")]);
}

#[test]
fn emergency_digit_typed_ahead_is_honoured() {
    let mut c = Call::new(two_menus(false), OPEN);
    c.start();
    c.digit('9');
    let a = c.finish_play();
    assert!(has(&a, &IvrEvent::EmergencyEscape { node: "a".into() }));
    assert_eq!(plays(&a), [["fr:emergency_transfer"]]);
}

#[test]
fn emergency_digit_is_an_ordinary_key_where_the_escape_is_off() {
    let mut c = Call::new(two_menus(false), OPEN);
    c.start();
    c.finish_play();
    c.digit('1');
    let a = c.digit('9');
    assert!(has(
        &a,
        &IvrEvent::MenuInvalid {
            node: "b".into(),
            digit: '9'
        }
    ));
    assert!(!a.iter().any(|x| matches!(x, Action::Transfer { .. })));
}

#[test]
fn stale_play_finished_is_ignored() {
    let mut c = Call::new(two_menus(false), OPEN);
    c.start();
    c.finish_play();
    let old = c.playing.unwrap();
    c.digit('5'); // barge in: StopPlay, re-prompt with a new token
    let new = c.playing.unwrap();
    assert_ne!(old, new);
    // The stopped playlist reports its end late: no timer may start from it.
    c.ivr.on_play_finished(old, c.now());
    assert!(c.drain().is_empty());
    assert_eq!(c.ivr.deadline(), None);
    c.ivr.on_play_finished(new, c.now());
    assert!(c.ivr.deadline().is_some());
}

// ---------------------------------------------------------------------------
// Branches, languages

fn calendar_plan() -> Arc<Plan> {
    plan(
        r#"
[nodes.start]
type = "branch"
rules = [
    { if = "holiday", goto = "h" },
    { if = "closed", goto = "c" },
    { if = "season:hiver", goto = "w" },
]
else = "o"

[nodes.h]
type = "hangup"
prompts = ["holiday_msg"]

[nodes.c]
type = "hangup"
prompts = ["closed_msg"]

[nodes.w]
type = "hangup"
prompts = ["winter_msg"]

[nodes.o]
type = "hangup"
prompts = ["open_msg"]
"#,
    )
}

fn branch_events(actions: &[Action]) -> Vec<(String, bool)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Event(IvrEvent::BranchTaken {
                condition, taken, ..
            }) => Some((condition.clone(), *taken)),
            _ => None,
        })
        .collect()
}

#[test]
fn branch_follows_the_calendar() {
    let p = calendar_plan();
    let case = |at: &str| {
        let mut c = Call::new(p.clone(), at);
        let a = c.start();
        (entered(&a), branch_events(&a))
    };
    let b = |s: &[(&str, bool)]| -> Vec<(String, bool)> {
        s.iter().map(|(c, t)| (c.to_string(), *t)).collect()
    };
    // Easter Monday 2027 (a Monday, inside the hours): holiday, first rule wins.
    assert_eq!(
        case("2027-03-29T10:00"),
        (vec!["start".into(), "h".into()], b(&[("holiday", true)]))
    );
    // Saturday 18:59: closed (weekend).
    assert_eq!(
        case("2027-04-17T18:59").0,
        ["start".to_string(), "c".into()]
    );
    // A weekday just after closing, and just before opening.
    assert_eq!(case("2027-04-14T19:00").0[1], "c");
    assert_eq!(case("2027-04-14T07:59").0[1], "c");
    // Open in winter: the season rule.
    assert_eq!(
        case("2027-01-13T10:00"),
        (
            vec!["start".into(), "w".into()],
            b(&[
                ("holiday", false),
                ("closed", false),
                ("season:hiver", true)
            ])
        )
    );
    // Open in summer, and in spring (no season): else.
    assert_eq!(case("2027-07-14T10:00").0[1], "o");
    assert_eq!(case(OPEN).0[1], "o");
    // Boundaries: 08:00 open; 18:59 open on a weekday.
    assert_eq!(case("2027-04-14T08:00").0[1], "o");
    assert_eq!(case("2027-04-14T18:59").0[1], "o");
}

#[test]
fn branch_on_holidays_and_season_edges() {
    let p = calendar_plan();
    let exit = |at: &str| {
        let mut c = Call::new(p.clone(), at);
        entered(&c.start())[1].clone()
    };
    // Québec statutory days of 2027, all weekdays at 10:00.
    for day in [
        "2027-03-26", // Vendredi saint
        "2027-05-24", // Journée nationale des patriotes (Monday before May 25)
        "2027-06-24", // Fête nationale
        "2027-07-01", // Fête du Canada
        "2027-09-06", // Fête du Travail
        "2027-10-11", // Action de grâce
    ] {
        assert_eq!(exit(&format!("{day}T10:00")), "h", "{day}");
    }
    // Noël 2027 is a Saturday and is not moved: Monday the 27th is open (and winter).
    assert_eq!(exit("2027-12-27T10:00"), "w");
    // The winter season wraps the new year, both ends included.
    assert_eq!(exit("2027-12-01T10:00"), "w");
    assert_eq!(exit("2027-03-31T10:00"), "w");
    assert_eq!(exit("2027-04-01T10:00"), "o");
    assert_eq!(exit("2027-11-30T10:00"), "o");
    // Hours are wall-clock across the DST changes (2027-03-14 and 2027-11-07).
    assert_eq!(exit("2027-03-15T08:00"), "w");
    assert_eq!(exit("2027-11-08T07:59"), "c");
    assert_eq!(exit("2027-11-08T08:00"), "o");
}

#[test]
fn branch_reasons_are_reported() {
    let mut c = Call::new(calendar_plan(), "2027-03-29T10:00");
    let a = c.start();
    let reason = a
        .iter()
        .find_map(|x| match x {
            Action::Event(IvrEvent::BranchTaken { reason, .. }) => Some(reason.clone()),
            _ => None,
        })
        .unwrap();
    assert!(reason.starts_with("holiday "), "{reason}");
    assert!(reason.to_lowercase().contains("pâques"), "{reason}");
}

#[test]
fn language_node_changes_unpinned_prompts_only() {
    let p = plan(
        r#"
[nodes.start]
type = "menu"
prompts = ["fr:welcome", "en:welcome"]
choices = { "1" = "fr", "2" = "en" }
invalid = ["fr:invalid", "en:invalid"]
on_fail = "fr"

[nodes.fr]
type = "language"
language = "fr"
next = "a"

[nodes.en]
type = "language"
language = "en"
next = "a"

[nodes.a]
type = "menu"
prompts = ["fr:notice", "menu_a"]
choices = { "0" = "q" }
on_fail = "q"

[nodes.q]
type = "queue"
queue = "general"
prompts = ["topic"]
"#,
    );
    let mut c = Call::new(p.clone(), OPEN);
    assert_eq!(c.ivr.language(), Lang::Fr);
    let a = c.start();
    assert_eq!(plays(&a), [["fr:welcome", "en:welcome"]]);
    let a = c.digit('2');
    assert!(has(&a, &IvrEvent::LanguageChosen { lang: Lang::En }));
    assert_eq!(c.ivr.language(), Lang::En);
    assert_eq!(plays(&a), [["fr:notice", "en:menu_a"]]);
    let a = c.digit('3');
    assert_eq!(plays(&a), [["en:invalid", "fr:notice", "en:menu_a"]]);
    c.digit('0');
    let a = c.finish_play();
    assert_eq!(plays(&a), Vec::<Vec<String>>::new());
    let Some(Action::Enqueue { lang, path, .. }) = effects(&a).pop().cloned() else {
        panic!("{a:?}")
    };
    assert_eq!(lang, Lang::En);
    assert_eq!(path, ["2", "0"]);

    // On the pinned bilingual re-prompt, both languages stay whatever the call's.
    let mut c = Call::new(p, OPEN);
    c.start();
    let a = c.digit('7');
    assert_eq!(
        plays(&a),
        [["fr:invalid", "en:invalid", "fr:welcome", "en:welcome"]]
    );
}

// ---------------------------------------------------------------------------
// Collect

fn collect_plan(confirm: bool) -> Arc<Plan> {
    plan(&format!(
        r##"
[nodes.start]
type = "collect"
variable = "num"
prompts = ["enter_number"]
min_digits = 3
max_digits = 5
terminator = "#"
timeout = 4
confirm = {confirm}
retries = 1
next = "check"
on_fail = "failed"

[nodes.check]
type = "branch"
rules = [ {{ if = "var:num=123", goto = "q" }} ]
else = "bye"

[nodes.q]
type = "queue"
queue = "general"

[nodes.bye]
type = "hangup"
prompts = ["goodbye"]
outcome = "other"

[nodes.failed]
type = "hangup"
outcome = "collect-failed"
"##
    ))
}

fn collected(actions: &[Action]) -> Option<String> {
    actions.iter().find_map(|a| match a {
        Action::Event(IvrEvent::Collected { digits, .. }) => Some(digits.clone()),
        _ => None,
    })
}

#[test]
fn collect_with_terminator_stores_the_variable() {
    let mut c = Call::new(collect_plan(false), OPEN);
    let a = c.start();
    assert_eq!(plays(&a), [["fr:enter_number"]]);
    // The first digit barges in on the prompt.
    assert_eq!(c.digit('1'), [Action::StopPlay]);
    // Each digit restarts the inter-digit timer.
    c.elapsed += Duration::from_secs(3);
    assert!(c.digit('2').is_empty());
    assert_eq!(
        c.ivr.deadline(),
        Some(c.now().mono + Duration::from_secs(4))
    );
    c.digit('3');
    let a = c.digit('#');
    assert_eq!(collected(&a).as_deref(), Some("123"));
    assert_eq!(c.ivr.vars().get("num").map(String::as_str), Some("123"));
    // The variable is visible to conditions and goes with the call to the queue.
    let Some(Action::Enqueue { vars, .. }) = effects(&a).pop().cloned() else {
        panic!("{a:?}")
    };
    assert_eq!(vars.get("num").map(String::as_str), Some("123"));
}

#[test]
fn collect_ends_at_max_digits_and_on_inter_digit_timeout() {
    let mut c = Call::new(collect_plan(false), OPEN);
    c.start();
    let a = c.digits("45678");
    assert_eq!(collected(&a).as_deref(), Some("45678"));
    assert_eq!(entered(&a).last().map(String::as_str), Some("bye"));

    let mut c = Call::new(collect_plan(false), OPEN);
    c.start();
    c.finish_play();
    c.digits("1234");
    let a = c.timeout();
    assert_eq!(collected(&a).as_deref(), Some("1234"));
}

#[test]
fn collect_too_short_retries_then_fails() {
    let mut c = Call::new(collect_plan(false), OPEN);
    c.start();
    c.finish_play();
    let a = c.digits("12#");
    assert_eq!(collected(&a), None);
    assert_eq!(plays(&a), [["fr:invalid", "fr:enter_number"]]);
    c.finish_play();
    // retries = 1: the second failure (silence) goes to on_fail.
    let a = c.timeout();
    assert_eq!(entered(&a), ["failed"]);
    assert_eq!(effects(&a), [&hangup("collect-failed")]);
}

#[test]
fn collect_star_clears_the_entry() {
    let mut c = Call::new(collect_plan(false), OPEN);
    c.start();
    let a = c.digits("99*123#");
    assert_eq!(collected(&a).as_deref(), Some("123"));
}

#[test]
fn collect_confirmation_reads_back_then_accepts_or_reenters() {
    let mut c = Call::new(collect_plan(true), OPEN);
    c.start();
    let a = c.digits("124#");
    assert_eq!(
        plays(&a),
        [[
            "fr:callback_you_entered",
            "fr:num_1",
            "fr:num_2",
            "fr:num_4",
            "fr:confirm_or_retry"
        ]]
    );
    assert_eq!(collected(&a), None);
    // 2 = re-enter: the prompt again, without "invalid" (the caller chose this).
    c.finish_play();
    let a = c.digit('2');
    assert_eq!(plays(&a), [["fr:enter_number"]]);
    let a = c.digits("123#");
    assert_eq!(plays(&a).len(), 1);
    // 1 while the read-back plays: stop it and accept.
    let a = c.digit('1');
    assert_eq!(a[0], Action::StopPlay);
    assert_eq!(collected(&a).as_deref(), Some("123"));
    assert_eq!(entered(&a), ["check", "q"]);
}

#[test]
fn collect_confirmation_wrong_key_or_silence_is_a_failed_attempt() {
    let mut c = Call::new(collect_plan(true), OPEN);
    c.start();
    c.digits("124#");
    c.finish_play();
    let a = c.digit('5');
    assert_eq!(plays(&a), [["fr:invalid", "fr:enter_number"]]);
    c.digits("124#");
    c.finish_play();
    // retries = 1: silence after the second read-back is the last failure.
    let a = c.timeout();
    assert_eq!(entered(&a), ["failed"]);
    assert_eq!(c.ivr.vars().get("num"), None);
}

#[test]
fn collect_uses_type_ahead() {
    let p = plan(
        r#"
[nodes.start]
type = "play"
prompts = ["welcome"]
next = "get"

[nodes.get]
type = "collect"
variable = "n"
prompts = ["enter_number"]
max_digits = 3
next = "bye"
on_fail = "bye"

[nodes.bye]
type = "hangup"
"#,
    );
    let mut c = Call::new(p, OPEN);
    c.start();
    c.digits("12");
    let a = c.finish_play();
    // No prompt: the caller is already typing; the third digit completes the entry.
    assert_eq!(plays(&a), Vec::<Vec<String>>::new());
    assert!(c.ivr.deadline().is_some());
    let a = c.digit('3');
    assert_eq!(collected(&a).as_deref(), Some("123"));
    assert_eq!(effects(&a), [&hangup("completed")]);
}

// ---------------------------------------------------------------------------
// Record, queue, transfer, hangup

fn record_plan() -> Arc<Plan> {
    plan(
        r#"
[nodes.start]
type = "record"
prompts = ["leave_message"]
max_seconds = 60
next = "bye"

[nodes.bye]
type = "hangup"
prompts = ["thanks"]
outcome = "voicemail"
"#,
    )
}

#[test]
fn record_plays_prompts_and_beep_then_records() {
    let mut c = Call::new(record_plan(), OPEN);
    let a = c.start();
    assert_eq!(plays(&a), [["fr:leave_message", "fr:beep"]]);
    assert!(matches!(
        a.last(),
        Some(Action::Play {
            barge_in: false,
            ..
        })
    ));
    let a = c.finish_play();
    assert_eq!(effects(&a), [&Action::Record { max_seconds: 60 }]);
    // Other keys do nothing; '#' ends the recording early.
    assert!(c.digit('5').is_empty());
    let a = c.digit('#');
    assert_eq!(entered(&a), ["bye"]);
    assert_eq!(plays(&a), [["fr:thanks"]]);
    // The media side reporting the end as well changes nothing.
    c.ivr.on_record_done(c.now());
    assert!(c.drain().is_empty());
    let a = c.finish_play();
    assert_eq!(effects(&a), [&hangup("voicemail")]);
}

#[test]
fn record_done_continues_and_beep_is_optional() {
    let mut c = Call::new(record_plan(), OPEN);
    c.start();
    c.finish_play();
    c.ivr.on_record_done(c.now());
    assert_eq!(entered(&c.drain()), ["bye"]);

    let p = plan(
        r#"
[nodes.start]
type = "record"
beep = false
next = "bye"

[nodes.bye]
type = "hangup"
"#,
    );
    let mut c = Call::new(p, OPEN);
    let a = c.start();
    assert_eq!(effects(&a), [&Action::Record { max_seconds: 120 }]);
}

#[test]
fn queue_plays_intro_then_enqueues_with_language_path_and_vars() {
    let p = plan(
        r#"
[nodes.start]
type = "menu"
prompts = ["menu_a"]
choices = { "4" = "q" }
on_fail = "q"

[nodes.q]
type = "queue"
queue = "general"
topic = "roads"
skills = ["deneigement:2"]
priority = 5
prompts = ["topic"]
"#,
    );
    let mut c = Call::new(p, OPEN);
    c.start();
    let a = c.digit('4');
    assert_eq!(plays(&a), [["fr:topic"]]);
    assert!(!a.iter().any(|x| matches!(x, Action::Enqueue { .. })));
    assert!(!c.ivr.is_done());
    let a = c.finish_play();
    let [Action::Enqueue {
        queue,
        lang,
        path,
        vars,
    }] = &effects(&a)[..]
    else {
        panic!("{a:?}")
    };
    assert_eq!(queue.queue, "general");
    assert_eq!(queue.topic.as_deref(), Some("roads"));
    assert_eq!(queue.priority, 5);
    assert_eq!(*lang, Lang::Fr);
    assert_eq!(*path, ["4"]);
    assert!(vars.is_empty());
    assert!(c.ivr.is_done());
    // Nothing more happens to a queued call.
    assert!(c.digit('1').is_empty());
}

#[test]
fn transfer_failure_continues_at_on_failure() {
    let p = plan(
        r#"
[nodes.start]
type = "transfer"
target = "811"
prompts = ["transfer_out"]
on_failure = "sorry"

[nodes.sorry]
type = "hangup"
prompts = ["transfer_failed"]
outcome = "transfer-failed"
"#,
    );
    let mut c = Call::new(p, OPEN);
    let a = c.start();
    assert_eq!(plays(&a), [["fr:transfer_out"]]);
    let a = c.finish_play();
    assert!(matches!(effects(&a)[..], [Action::Transfer { target }] if target.name == "811"));
    c.ivr.on_transfer_failed(c.now());
    let a = c.drain();
    assert_eq!(entered(&a), ["sorry"]);
    assert_eq!(plays(&a), [["fr:transfer_failed"]]);
}

#[test]
fn hangup_plays_then_hangs_up_with_outcome() {
    let mut c = Call::new(two_menus(false), OPEN);
    c.start();
    c.finish_play();
    let a = c.digit('2');
    assert_eq!(plays(&a), [["fr:goodbye"]]);
    assert!(!c.ivr.is_done());
    let a = c.finish_play();
    assert_eq!(effects(&a), [&hangup("self-served")]);
    assert!(c.ivr.is_done());
    assert_eq!(c.ivr.deadline(), None);
}

#[test]
fn goto_loop_is_stopped() {
    let p = plan(
        r#"
[nodes.start]
type = "goto"
next = "x"

[nodes.x]
type = "goto"
next = "end"

[nodes.end]
type = "hangup"
"#,
    );
    // The validator refuses such loops; corrupt a loaded plan to reach the last defence.
    let mut p = (*p).clone();
    let start = p.node_id("start").unwrap();
    let x = p.node_id("x").unwrap();
    p.nodes[x].kind = NodeKind::Goto { next: start };
    let mut c = Call::new(Arc::new(p), OPEN);
    let a = c.start();
    assert_eq!(effects(&a), [&hangup("error:loop")]);
    assert_eq!(entered(&a).len(), MAX_STEPS as usize);
    assert!(c.ivr.is_done());
}

// ---------------------------------------------------------------------------
// The shipped plans

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn shipped_prompts() -> &'static PromptSet {
    static SET: OnceLock<PromptSet> = OnceLock::new();
    SET.get_or_init(|| PromptSet::load(&root().join("prompts")).expect("shipped prompts load"))
}

fn shipped(name: &str) -> Arc<Plan> {
    let dir = root().join("dialplans").join(name);
    match load_dir(&dir, shipped_prompts()) {
        Ok(p) => Arc::new(p),
        Err(diags) => {
            let all: Vec<String> = diags.iter().map(ToString::to_string).collect();
            panic!("{name} does not load:\n{}", all.join("\n"))
        }
    }
}

#[test]
fn shipped_plans_load_and_route() {
    for name in ["quebec", "trois-rivieres", "minimal"] {
        let p = shipped(name);
        assert!(matches!(p.route("311"), Route::Entry(_)), "{name}");
        assert!(
            matches!(p.route("9-1-1"), Route::Exit(t) if t.name == "911"),
            "{name}"
        );
        assert_eq!(p.emergency.as_ref().map(|e| e.digit), Some('9'), "{name}");
    }
}

#[test]
fn minimal_plan_language_choice() {
    for (digit, lang) in [('1', Lang::Fr), ('2', Lang::En)] {
        let mut c = Call::new(shipped("minimal"), OPEN);
        let a = c.start();
        assert_eq!(plays(&a), [["fr:choose_language", "en:choose_language"]]);
        c.finish_play();
        let a = c.digit(digit);
        assert_eq!(plays(&a), [[format!("{lang}:language_confirmed")]]);
        let a = c.finish_play();
        assert_eq!(effects(&a), [&hangup("self-served")]);
    }
    // Silence: French after two bilingual re-prompts.
    let mut c = Call::new(shipped("minimal"), OPEN);
    c.start();
    c.finish_play();
    for _ in 0..2 {
        let a = c.timeout();
        assert_eq!(
            plays(&a),
            [[
                "fr:no_input",
                "en:no_input",
                "fr:choose_language",
                "en:choose_language"
            ]]
        );
        c.finish_play();
    }
    let a = c.timeout();
    assert_eq!(plays(&a), [["fr:language_confirmed"]]);
}

#[test]
fn quebec_expert_caller_types_ahead_through_the_winter_notice() {
    // Winter, open: English, then 4 typed during the (barge-in) winter notice.
    let mut c = Call::new(shipped("quebec"), "2027-01-13T10:00");
    c.start();
    c.finish_play();
    let a = c.digit('2');
    assert_eq!(plays(&a), [["en:winter_notice"]]);
    let a = c.digit('4');
    assert_eq!(a[0], Action::StopPlay);
    assert_eq!(plays(&a), [["en:topic_roads"]]);
    let a = c.finish_play();
    let Some(Action::Enqueue {
        queue, lang, path, ..
    }) = effects(&a).pop().cloned()
    else {
        panic!("{a:?}")
    };
    assert_eq!(queue.queue, "deneigement");
    assert_eq!(lang, Lang::En);
    assert_eq!(path, ["2", "4"]);
}

// ---------------------------------------------------------------------------
// Dry runs of the shipped plans

fn dry(plan: &str, at: &str, to: &str, digits: &str) -> dry_run::Trace {
    let prompts = shipped_prompts();
    let digits: Vec<char> = digits.chars().collect();
    dry_run::run(shipped(plan), local(at), to, &digits, &|id, lang| {
        prompts.catalog().text(id, lang).map(str::to_owned)
    })
}

fn assert_lines(t: &dry_run::Trace, wanted: &[&str]) {
    let text = t.to_string();
    for w in wanted {
        assert!(
            t.lines.iter().any(|l| l.contains(w)),
            "no line containing {w:?} in:\n{text}"
        );
    }
}

#[test]
fn dry_run_open_hours_general_queue() {
    let t = dry("quebec", "2027-04-14T10:00", "311", "10");
    assert_eq!(t.outcome, "queue:general");
    assert_lines(
        &t,
        &[
            "call to 311 at 2027-04-14 10:00 local (Wednesday)",
            "[accueil] menu",
            "caller presses 1",
            "language is now fr",
            "if season:printemps: yes",
            "[menu_principal] menu",
            "choice 0 → q_general",
            "▶ fr:topic_general",
            "→ queue general",
            "menu path 1,0",
        ],
    );
    let t = dry("trois-rivieres", "2027-04-14T10:00", "311", "20");
    assert_eq!(t.outcome, "queue:general");
    assert_lines(&t, &["language is now en", "▶ en:main_menu_small"]);
}

#[test]
fn dry_run_after_hours_saturday() {
    let t = dry("quebec", "2027-04-17T18:59", "311", "1");
    assert_eq!(t.outcome, "after-hours");
    assert_lines(
        &t,
        &[
            "(Saturday)",
            "if holiday: no",
            "if closed: yes",
            "[ferme] hangup",
            "▶ fr:closed",
            "→ hang up",
        ],
    );
    assert!(!t.to_string().contains("main_menu"));
}

#[test]
fn dry_run_lists_digits_the_call_did_not_use() {
    let t = dry("quebec", "2027-04-17T18:59", "311", "254");
    assert_eq!(t.outcome, "after-hours");
    assert_lines(&t, &["▶ en:closed", "(digits not used: 54)"]);
}

#[test]
fn dry_run_easter_monday() {
    for plan in ["quebec", "trois-rivieres"] {
        let t = dry(plan, "2027-03-29T10:00", "311", "2");
        assert_eq!(t.outcome, "after-hours", "{t}");
        assert_lines(
            &t,
            &["if holiday: yes", "[ferie] hangup", "▶ en:holiday_closed"],
        );
    }
}

#[test]
fn dry_run_winter_and_summer_notices() {
    let winter = dry("quebec", "2027-01-13T10:00", "311", "10");
    assert_lines(&winter, &["if season:hiver: yes", "▶ fr:winter_notice"]);
    assert_eq!(winter.outcome, "queue:general");
    let summer = dry("quebec", "2027-07-14T10:00", "311", "10");
    assert_lines(
        &summer,
        &[
            "if season:hiver: no",
            "if season:printemps: no",
            "[menu_principal] menu",
        ],
    );
    let text = summer.to_string();
    assert!(!text.contains("winter_notice") && !text.contains("spring_notice"));
    assert_eq!(summer.outcome, "queue:general");
}

#[test]
fn dry_run_811_and_emergency() {
    for plan in ["quebec", "trois-rivieres"] {
        let t = dry(plan, "2027-04-14T10:00", "311", "18");
        assert_eq!(t.outcome, "transfer:811", "{t}");
        assert_lines(&t, &["[info_sante] transfer", "▶ fr:health_transfer"]);
        // 9 in the main menu, and in the language menu.
        for digits in ["19", "9"] {
            let t = dry(plan, "2027-04-14T10:00", "311", digits);
            assert_eq!(t.outcome, "transfer:911", "{t}");
            assert_lines(
                &t,
                &[
                    "emergency escape",
                    "▶ fr:emergency_transfer",
                    "→ transfer to 911 (sip:911@127.0.0.1:5070)",
                ],
            );
        }
    }
    let t = dry("minimal", "2027-04-14T10:00", "311", "9");
    assert_eq!(t.outcome, "transfer:911");
}

#[test]
fn dry_run_misdials_and_unknown_numbers() {
    let t = dry("quebec", "2027-04-14T10:00", "811", "");
    assert_eq!(t.outcome, "redirect:811");
    assert_lines(
        &t,
        &["misdial rule: 811 → 811 (302 redirect to sip:811@127.0.0.1:5070)"],
    );
    let t = dry("quebec", "2027-04-14T10:00", "5550000", "");
    assert!(t.outcome.starts_with("rejected:404"), "{t}");
    let t = dry("quebec", "2027-04-14T10:00", "+1 418 555-0122", "");
    assert_eq!(t.outcome, "self-served");
    assert_lines(&t, &["▶ fr:snow_info", "▶ en:snow_info"]);
}

#[test]
fn dry_run_silence_falls_back_to_french_and_the_general_queue() {
    let t = dry("quebec", "2027-04-14T10:00", "311", "");
    assert_eq!(t.outcome, "queue:general", "{t}");
    assert_lines(
        &t,
        &[
            "(no input: timeout)",
            "language is now fr",
            "[q_general] queue",
        ],
    );
}

#[test]
fn a_storm_message_plays_after_the_language_or_before_its_queues_once() {
    use crate::ivr::StormScope;
    let p = plan(
        r#"
[nodes.start]
type = "menu"
prompts = ["fr:welcome", "en:welcome"]
choices = { "1" = "fr", "2" = "en" }
on_fail = "fr"

[nodes.fr]
type = "language"
language = "fr"
next = "a"

[nodes.en]
type = "language"
language = "en"
next = "a"

[nodes.a]
type = "menu"
prompts = ["menu_a"]
choices = { "0" = "q" }
on_fail = "q"

[nodes.q]
type = "queue"
queue = "general"
prompts = ["topic"]
"#,
    );
    // For every caller: right after the language choice, in that language, once.
    let mut c = Call::new(p.clone(), OPEN);
    c.ivr.set_storm(Some(StormScope {
        all: true,
        queues: Vec::new(),
    }));
    c.start();
    let a = c.digit('2');
    assert_eq!(plays(&a), [["en:storm"]]);
    let a = c.finish_play();
    assert_eq!(plays(&a), [["en:menu_a"]]);
    c.digit('0');
    let a = c.finish_play();
    assert_eq!(plays(&a), Vec::<Vec<String>>::new(), "not twice");

    // For the general queue's callers: just before the queue's own prompts.
    let mut c = Call::new(p.clone(), OPEN);
    c.ivr.set_storm(Some(StormScope {
        all: false,
        queues: vec!["general".into()],
    }));
    c.start();
    let a = c.digit('1');
    assert_eq!(plays(&a), [["fr:menu_a"]]);
    let a = c.digit('0');
    assert_eq!(plays(&a), [["fr:storm", "fr:topic"]]);
    let a = c.finish_play();
    assert!(
        matches!(effects(&a).pop(), Some(Action::Enqueue { .. })),
        "{a:?}"
    );

    // Another queue's message: this caller hears nothing more.
    let mut c = Call::new(p, OPEN);
    c.ivr.set_storm(Some(StormScope {
        all: false,
        queues: vec!["collectes".into()],
    }));
    c.start();
    c.digit('1');
    let a = c.digit('0');
    assert_eq!(plays(&a), [["fr:topic"]]);
}
