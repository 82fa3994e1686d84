//! "What happens to a call to 311 at 18:59 on Easter Monday if the caller presses 2 then 3?"
//! Runs the real interpreter on virtual time with scripted digits and prints the path: nodes,
//! prompts in order with their text, branches taken and why, and the final outcome — so an
//! admin can test a change before publishing it.
//!
//! No I/O: the caller prints the returned lines.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::{Action, Ivr, IvrEvent, Now};
use crate::dialplan::model::{Plan, Route, TargetKind};
use crate::media::prompt::Lang;

/// The trace of one simulated call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    pub lines: Vec<String>,
    pub outcome: String,
}

impl std::fmt::Display for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for l in &self.lines {
            writeln!(f, "{l}")?;
        }
        write!(f, "outcome: {}", self.outcome)
    }
}

/// Simulate a call to `to` at `at`, pressing `digits` one by one, each after the prompt that
/// asks for it has finished. `text` gives a prompt's text in a language (for the trace).
pub fn run(
    plan: Arc<Plan>,
    at: Timestamp,
    to: &str,
    digits: &[char],
    text: &dyn Fn(&str, Lang) -> Option<String>,
) -> Trace {
    let mut lines = Vec::new();
    let tz_local = plan.local(at);
    lines.push(format!("plan \"{}\" version {}", plan.name, plan.version));
    lines.push(format!(
        "call to {to} at {} local ({:?})",
        tz_local.strftime("%Y-%m-%d %H:%M"),
        tz_local.weekday()
    ));
    let entry = match plan.route(to) {
        Route::Unknown => {
            return Trace {
                lines,
                outcome: "rejected:404 (number not in [numbers])".into(),
            }
        }
        Route::Exit(t) => {
            let how = match t.kind {
                TargetKind::Redirect => format!("302 redirect to {}", t.uri),
                TargetKind::Transfer => format!("answered and transferred to {}", t.uri),
            };
            lines.push(format!("misdial rule: {to} → {} ({how})", t.name));
            return Trace {
                lines,
                outcome: t.outcome(false),
            };
        }
        Route::Entry(id) => id,
    };
    let mut ivr = Ivr::new(plan.clone());
    let mut clock = Instant::now();
    let now = |mono: Instant| Now { mono, wall: at };
    let mut pending: Vec<char> = digits.iter().rev().copied().collect();
    ivr.start(entry, now(clock));
    // Each round: drain actions; then either finish a playlist, press a digit, or time out.
    for _ in 0..500 {
        let mut playing: Option<u64> = None;
        let mut ended: Option<String> = None;
        while let Some(a) = ivr.poll() {
            match a {
                Action::Event(ev) => describe(&ev, &mut lines, text),
                Action::Play { token, .. } => playing = Some(token),
                Action::StopPlay => {
                    lines.push("    (prompt interrupted by a digit)".into());
                    playing = None;
                }
                Action::Transfer { target } => {
                    lines.push(format!("  → transfer to {} ({})", target.name, target.uri));
                    ended = Some(format!("transfer:{}", target.name));
                }
                Action::Enqueue {
                    queue, lang, path, ..
                } => {
                    lines.push(format!(
                        "  → queue {} (skills {:?}, language {lang}, topic {}, menu path {})",
                        queue.queue,
                        queue.skills,
                        queue.topic.as_deref().unwrap_or("-"),
                        path.join(",")
                    ));
                    ended = Some(format!("queue:{}", queue.queue));
                }
                Action::Record { max_seconds } => {
                    lines.push(format!("  → records a message (up to {max_seconds} s)"));
                    ivr.on_record_done(now(clock));
                }
                Action::Hangup { outcome } => {
                    lines.push("  → hang up".into());
                    ended = Some(outcome);
                }
            }
        }
        if let Some(outcome) = ended {
            if !pending.is_empty() {
                lines.push(format!(
                    "  (digits not used: {})",
                    pending.iter().rev().collect::<String>()
                ));
            }
            return Trace { lines, outcome };
        }
        if let Some(token) = playing {
            clock += Duration::from_secs(1);
            ivr.on_play_finished(token, now(clock));
            continue;
        }
        if let Some(d) = pending.pop() {
            lines.push(format!("  caller presses {d}"));
            ivr.on_digit(d, now(clock));
            continue;
        }
        match ivr.deadline() {
            Some(deadline) => {
                clock = deadline;
                lines.push("  (no input: timeout)".into());
                ivr.on_timer(now(clock));
            }
            None => {
                return Trace {
                    lines,
                    outcome: "waiting (the plan waits for something the dry run cannot give)"
                        .into(),
                }
            }
        }
    }
    Trace {
        lines,
        outcome: "stopped after 500 steps (a loop?)".into(),
    }
}

fn describe(ev: &IvrEvent, lines: &mut Vec<String>, text: &dyn Fn(&str, Lang) -> Option<String>) {
    match ev {
        IvrEvent::NodeEntered { node, kind } => lines.push(format!("[{node}] {kind}")),
        IvrEvent::PromptPlayed { prompt, lang } => {
            let t = text(prompt, *lang).unwrap_or_else(|| "(no text)".into());
            lines.push(format!("    ▶ {lang}:{prompt} — \"{t}\""));
        }
        IvrEvent::MenuChoice { digit, next, .. } => {
            lines.push(format!("    choice {digit} → {next}"))
        }
        IvrEvent::MenuInvalid { digit, .. } => {
            lines.push(format!("    {digit} is not a choice here"))
        }
        IvrEvent::MenuTimeout { .. } => {}
        IvrEvent::LanguageChosen { lang } => lines.push(format!("    language is now {lang}")),
        IvrEvent::BranchTaken {
            condition,
            taken,
            reason,
            ..
        } => lines.push(format!(
            "    if {condition}: {} ({reason})",
            if *taken { "yes" } else { "no" }
        )),
        IvrEvent::EmergencyEscape { .. } => lines.push("    emergency escape".into()),
        IvrEvent::Collected { variable, digits } => {
            lines.push(format!("    {variable} = {digits}"))
        }
    }
}
