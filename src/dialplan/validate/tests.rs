//! Validation tests: one valid plan, each test changes one thing and checks the message and
//! its position.

use std::path::PathBuf;

use crate::dialplan::load::{load_files, PromptList};
use crate::dialplan::model::{NodeKind, Plan};
use crate::media::prompt::Lang;

/// A valid plan; each test changes one thing. Line numbers are 1-based:
/// 1 [plan] · 4 emergency · 7 "311" · 9 [targets.911] · 13 [calendars.c] · 16 [nodes.m]
/// 18 prompts · 19 choices · 20 on_fail · 22 [nodes.bye]; appended text starts at line 24.
const BASE: &str = r#"[plan]
name = "T"
calendar = "c"
emergency = { digit = "9", target = "911" }

[numbers]
"311" = "m"

[targets.911]
kind = "redirect"
uri = "sip:911@x"

[calendars.c]
hours = "mon-fri 08:00-17:00"

[nodes.m]
type = "menu"
prompts = ["hello"]
choices = { "1" = "bye" }
on_fail = "bye"

[nodes.bye]
type = "hangup"
"#;

fn prompts() -> PromptList {
    PromptList::both(&["hello", "invalid", "no_input", "goodbye"]).with(
        "fr_only",
        Lang::Fr,
        "Bonjour",
    )
}

fn load(src: &str) -> Result<Plan, Vec<String>> {
    load_files(&[(PathBuf::from("p.toml"), src.to_string())], &prompts())
        .map_err(|d| d.iter().map(ToString::to_string).collect())
}

fn errs(src: &str) -> Vec<String> {
    match load(src) {
        Ok(_) => Vec::new(),
        Err(e) => e,
    }
}

fn with(extra: &str) -> String {
    format!("{BASE}\n{extra}")
}

fn edit(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "{from:?} not in BASE");
    BASE.replacen(from, to, 1)
}

#[test]
fn base_is_valid() {
    let plan = match load(BASE) {
        Ok(p) => p,
        Err(e) => panic!("{e:?}"),
    };
    let Some(NodeKind::Menu(m)) = plan
        .node_id("m")
        .and_then(|i| plan.node(i))
        .map(|n| &n.kind)
    else {
        panic!("m is not a menu")
    };
    assert_eq!(m.timeout.as_secs(), super::DEFAULT_MENU_TIMEOUT_SECS);
    assert_eq!(m.retries, super::DEFAULT_MENU_RETRIES);
    assert_eq!(m.invalid[0].id, "invalid");
    assert!(m.emergency);
}

#[test]
fn unknown_prompt() {
    assert_eq!(
        errs(&edit(r#"["hello"]"#, r#"["helo"]"#)),
        ["p.toml:18:12: unknown prompt `helo`: it is not in prompts/prompts.toml"]
    );
}

#[test]
fn prompt_in_one_language_only() {
    assert_eq!(
        errs(&edit(r#"["hello"]"#, r#"["hello", "fr_only"]"#)),
        ["p.toml:18:21: prompt fr_only has no English recording: prompts/en/fr_only.wav"]
    );
    // Pinned to the language it exists in: fine.
    assert_eq!(
        errs(&edit(r#"["hello"]"#, r#"["fr:fr_only"]"#)),
        Vec::<String>::new()
    );
    assert_eq!(
        errs(&edit(r#"["hello"]"#, r#"["en:fr_only"]"#)),
        ["p.toml:18:12: prompt fr_only has no English recording: prompts/en/fr_only.wav"]
    );
}

#[test]
fn unknown_node_references() {
    assert_eq!(
        errs(&edit(r#""1" = "bye""#, r#""1" = "bey""#)),
        ["p.toml:19:19: unknown node `bey` in `choices`; did you mean `bye`?"]
    );
    assert_eq!(
        errs(&edit(r#""311" = "m""#, r#""311" = "menu""#)),
        ["p.toml:7:9: unknown node `menu` in `numbers`"]
    );
    let src = with(
        r#"[nodes.b]
type = "branch"
rules = [ { if = "open", goto = "nowhere" } ]
else = "nothing"

[nodes.t]
type = "transfer"
target = "911"
on_failure = "void"

[nodes.g]
type = "goto"
next = "limbo"
"#,
    );
    let src = src.replace(
        r#""311" = "m""#,
        "\"311\" = \"m\"\n\"1\" = \"b\"\n\"2\" = \"t\"\n\"3\" = \"g\"",
    );
    assert_eq!(
        errs(&src),
        [
            "p.toml:30:33: unknown node `nowhere` in `rules`",
            "p.toml:31:8: unknown node `nothing` in `else`",
            "p.toml:36:14: unknown node `void` in `on_failure`",
            "p.toml:40:8: unknown node `limbo` in `next`",
        ]
    );
}

#[test]
fn unknown_overflow_node() {
    let src =
        with("[queues.q]\nskills = [\"general\"]\nmax_wait = 60\noverflow = \"node:ailleurs\"\n");
    assert_eq!(
        errs(&src),
        ["p.toml:28:12: unknown node `ailleurs` in `overflow`"]
    );
}

#[test]
fn unreachable_node() {
    assert_eq!(
            errs(&with("[nodes.orphan]\ntype = \"hangup\"\n")),
            ["p.toml:25:8: node `orphan` is unreachable: no entry number in [numbers] and no other node leads to it"]
        );
}

#[test]
fn menu_without_timeout_path() {
    assert_eq!(
            errs(&edit("on_fail = \"bye\"\n", "")),
            ["p.toml:16:8: menu `m` has no timeout path: add on_fail = \"<node>\", where callers go after 2 re-prompt(s) without a valid key"]
        );
    assert_eq!(
        errs(&edit(
            "on_fail = \"bye\"\n",
            "on_fail = \"bye\"\ntimeout = 0\n"
        )),
        ["p.toml:21:11: menu `m` has no timeout path: `timeout` must be 1 to 60 seconds, not 0"]
    );
}

#[test]
fn loop_that_never_waits() {
    let src = with("[nodes.a]\ntype = \"goto\"\nnext = \"b\"\n\n[nodes.b]\ntype = \"play\"\nprompts = [\"hello\"]\nnext = \"a\"\n")
            .replace("\"311\" = \"m\"", "\"311\" = \"m\"\n\"312\" = \"a\"");
    assert_eq!(
            errs(&src),
            ["p.toml:26:8: loop without an exit: a → b → a never waits for the caller (add a menu, or end a path with a hangup, transfer or queue)"]
        );
}

#[test]
fn loop_callers_cannot_leave() {
    let src = with(
            "[nodes.m2]\ntype = \"menu\"\nprompts = [\"hello\"]\nchoices = { \"1\" = \"m3\" }\non_fail = \"m3\"\n\n\
             [nodes.m3]\ntype = \"menu\"\nprompts = [\"hello\"]\nchoices = { \"1\" = \"m2\" }\non_fail = \"m2\"\n",
        )
        .replace("\"311\" = \"m\"", "\"311\" = \"m\"\n\"312\" = \"m2\"");
    assert_eq!(
            errs(&src),
            ["p.toml:26:8: loop without an exit: callers can never leave m2, m3 except by hanging up (give one of them a choice or on_fail leading to a hangup, transfer or queue)"]
        );
}

#[test]
fn overlapping_seasons() {
    let src = edit(
            "hours = \"mon-fri 08:00-17:00\"\n",
            "hours = \"mon-fri 08:00-17:00\"\nseasons = { hiver = \"12-01..03-31\", printemps = \"03-15..05-31\" }\n",
        );
    assert_eq!(
            errs(&src),
            ["p.toml:15:37: seasons \"hiver\" and \"printemps\" overlap: a date may belong to only one of them"]
        );
}

#[test]
fn exits_without_target_or_uri() {
    // A transfer node without a target.
    let src = with("[nodes.t]\ntype = \"transfer\"\n")
        .replace("\"311\" = \"m\"", "\"311\" = \"m\"\n\"1\" = \"t\"");
    assert_eq!(
        errs(&src),
        ["p.toml:26:8: transfer node `t` has no target: add target = \"<name from [targets]>\""]
    );
    // A misdial without a target.
    assert_eq!(
        errs(&with("[[misdial]]\nnumbers = [\"911\"]\n")),
        ["p.toml:25:1: a misdial without a target: add target = \"<name from [targets]>\""]
    );
    // The emergency escape without a target.
    assert_eq!(
            errs(&edit(", target = \"911\" }", " }")),
            ["p.toml:4:13: the emergency escape has no target: add target = \"911\" (a name from [targets])"]
        );
    // A target without uri.
    assert_eq!(
        errs(&edit("uri = \"sip:911@x\"\n", "")),
        ["p.toml:9:10: target `911` has no `uri`, e.g. uri = \"sip:911@gateway.example\""]
    );
    assert_eq!(
            errs(&edit("uri = \"sip:911@x\"", "uri = \"911\"")),
            ["p.toml:11:7: `911` is not a SIP or tel URI nor a trunk: write e.g. sip:811@gateway.example, tel:+18115550000 or trunk:carrier/811"]
        );
}

#[test]
fn unknown_target() {
    assert_eq!(
            errs(&edit("target = \"911\" }", "target = \"912\" }")),
            ["p.toml:4:37: unknown target `912`; did you mean `911`?: targets are defined as [targets.<name>]"]
        );
}

#[test]
fn menu_digit_is_the_emergency_digit() {
    assert_eq!(
            errs(&edit(r#""1" = "bye""#, r#""9" = "bye""#)),
            ["p.toml:19:13: `9` is the plan's emergency digit ([plan] emergency): use another key, or set emergency = false in this menu"]
        );
    // Allowed where the escape is switched off.
    assert_eq!(
        errs(&edit(
            r#""1" = "bye" }"#,
            "\"9\" = \"bye\" }\nemergency = false"
        )),
        Vec::<String>::new()
    );
}

#[test]
fn keys_must_be_phone_keys() {
    assert_eq!(
        errs(&edit(r#""1" = "bye""#, r#""12" = "bye""#)),
        ["p.toml:19:13: menu choice `12` is not a phone key: use one of 0-9, * or #"]
    );
    assert_eq!(
        errs(&edit("digit = \"9\"", "digit = \"x\"")),
        ["p.toml:4:23: emergency digit `x` is not one phone key (0-9, * or #)"]
    );
}

#[test]
fn unknown_queue() {
    let src = with("[nodes.q]\ntype = \"queue\"\nqueue = \"generale\"\n\n[queues.general]\n")
        .replace("\"311\" = \"m\"", "\"311\" = \"m\"\n\"1\" = \"q\"");
    assert_eq!(
            errs(&src),
            ["p.toml:28:9: unknown queue `generale`; did you mean `general`?: queues are defined as [queues.<name>]"]
        );
}

#[test]
fn unknown_calendar() {
    assert_eq!(
        errs(&edit("calendar = \"c\"", "calendar = \"centre\"")),
        ["p.toml:3:12: unknown calendar `centre`: calendars are defined as [calendars.<name>]"]
    );
    let src = with("[nodes.b]\ntype = \"branch\"\nrules = [ { if = \"open@hdv\", goto = \"m\" } ]\nelse = \"m\"\n")
            .replace("\"311\" = \"m\"", "\"311\" = \"b\"");
    assert_eq!(
        errs(&src),
        ["p.toml:27:18: unknown calendar `hdv`: calendars are defined as [calendars.<name>]"]
    );
}

#[test]
fn bad_condition() {
    let src = with("[nodes.b]\ntype = \"branch\"\nrules = [ { if = \"holiday and\", goto = \"m\" } ]\nelse = \"m\"\n")
            .replace("\"311\" = \"m\"", "\"311\" = \"b\"");
    assert_eq!(
            errs(&src),
            ["p.toml:27:18: bad condition: the condition ends too early: a condition is missing after the last word"]
        );
    let src = src.replace("holiday and", "season:ete");
    assert_eq!(
        errs(&src),
        ["p.toml:27:18: season `ete` is not in calendar `c` (it has none)"]
    );
}

#[test]
fn entry_number_not_dialable() {
    assert_eq!(
            errs(&edit(r#""311" = "m""#, "\"311\" = \"m\"\n\"info\" = \"m\"")),
            ["p.toml:8:1: `info` is not a dialable number: use digits (spaces and dashes are ignored), * and #, an optional leading +, or \"s\" for any other number"]
        );
}

#[test]
fn field_of_another_node_type() {
    let src = edit(
        "[nodes.bye]\ntype = \"hangup\"\n",
        "[nodes.bye]\ntype = \"hangup\"\nchoices = { \"1\" = \"m\" }\n",
    );
    assert_eq!(
            errs(&src),
            ["p.toml:24:1: `choices` is not a field of a hangup node (a hangup node has: prompts, outcome)"]
        );
}

#[test]
fn unknown_node_type() {
    assert_eq!(
            errs(&edit("type = \"hangup\"", "type = \"hangpu\"")),
            ["p.toml:23:8: unknown node type `hangpu`; did you mean `hangup`?; types are: play, menu, language, branch, queue, collect, record, transfer, hangup, goto"]
        );
}

#[test]
fn every_error_is_reported_in_order() {
    let src = edit(r#"["hello"]"#, r#"["helo"]"#)
        .replace("uri = \"sip:911@x\"", "uri = \"x\"")
        .replace(r#""1" = "bye""#, r#""1" = "bye", "9" = "bye""#);
    let e = errs(&src);
    let lines: Vec<&str> = e
        .iter()
        .map(|s| s.split(": ").next().unwrap_or(""))
        .collect();
    assert_eq!(lines, ["p.toml:11:7", "p.toml:18:12", "p.toml:19:26"]);
}

#[test]
fn a_structural_error_does_not_cascade() {
    // The entry number is unreadable: its node is not reported unreachable, nor the plan
    // as having no entry number.
    assert_eq!(
        errs(&edit(r#""311" = "m""#, r#""311" = 5"#)),
        ["p.toml:7:9: invalid type: integer `5`, expected a string"]
    );
    // A node with an unknown field: references to it are not "unknown node".
    assert_eq!(
        errs(&edit("type = \"hangup\"", "type = \"hangup\"\nbyebye = 1")),
        ["p.toml:24:1: unknown field `byebye` in node `bye`"]
    );
}

#[test]
fn calendar_details() {
    let cal = |extra: &str| {
        edit(
            "hours = \"mon-fri 08:00-17:00\"\n",
            &format!("hours = \"mon-fri 08:00-17:00\"\n{extra}\n"),
        )
    };
    assert_eq!(
            errs(&cal("holidays = [\"quebek\"]")),
            ["p.toml:15:13: unknown holiday set `quebek`: built-in sets are \"quebec\" (statutory) and \"quebec-municipal\" (Jan 2, Dec 24, Dec 26, Dec 31); add others with extra_holidays"]
        );
    assert_eq!(
            errs(&cal("extra_holidays = [ { name = \"Fête\", rule = \"3e lundi de juin\", observed = \"same\" } ]")),
            Vec::<String>::new()
        );
    let e = errs(&cal(
        "extra_holidays = [ { name = \"Fête\", rule = \"3e lundo de juin\" } ]",
    ));
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("p.toml:15:44: invalid holiday rule"),
        "{e:?}"
    );
    assert_eq!(
            errs(&cal("closures = [ { name = \"Tempête\", from = \"2027-01-15T12:00\", to = \"2027-01-16T08:00\" }, { name = \"Panne\", date = 2027-03-03 } ]")),
            Vec::<String>::new()
        );
    let e = errs(&cal(
        "closures = [ { name = \"Tempête\", from = \"2027-01-16T12:00\", to = \"2027-01-15\" } ]",
    ));
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("p.toml:15:14: invalid closure"), "{e:?}");
    let e = errs(&edit(
        "hours = \"mon-fri 08:00-17:00\"",
        "hours = \"mon-fri 08:00-37:00\"",
    ));
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("p.toml:14:9: invalid opening hours"),
        "{e:?}"
    );
}

#[test]
fn queue_details() {
    let q = |body: &str| with(&format!("[queues.q]\n{body}\n"));
    assert_eq!(
            errs(&q("service_level = \"80%\"")),
            ["p.toml:26:17: `80%` is not a service level: write percent/seconds, e.g. \"80/100\" (80 % answered within 100 s)"]
        );
    assert_eq!(
            errs(&q("skills = [\"permis:9\"]")),
            ["p.toml:26:11: `permis:9` is not a skill: write name or name:level, level 1 to 5 (e.g. permis:2)"]
        );
    assert_eq!(
        errs(&q(
            "relax = [ { after = 120, min_level = 2 }, { after = 60, drop = [\"fr\"] } ]"
        )),
        [
            "p.toml:26:53: relax steps must be in increasing order of `after`",
            "p.toml:26:65: the caller's language is never dropped",
        ]
    );
    assert_eq!(
            errs(&q("[queues.q.seasons.ete]\nclosed = true")),
            [
                "p.toml:26:19: season `ete` is not in calendar `c` (it has none)",
                "p.toml:27:10: queue `q` is closed in season `ete` but has no `overflow`: callers would have nowhere to go",
            ]
        );
}
