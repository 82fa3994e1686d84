//! The IVR's actions carried out for the caller: prompts on the caller's leg, events into the
//! log, and the ways out of the interpreter (transfer, queue, record, hang up).

use super::{Call, MediaCommand, CALLER};
use crate::event::EventKind;
use crate::ivr::{Action, IvrEvent};

impl Call {
    /// Carry out everything the interpreter asked for.
    pub(super) fn pump_ivr(&mut self) {
        // Bounded: an action may feed the interpreter again (a failed transfer, a record end).
        for _ in 0..1000 {
            let Some(a) = self.ivr.as_mut().and_then(|i| i.poll()) else {
                return;
            };
            self.on_action(a);
        }
    }

    fn on_action(&mut self, a: Action) {
        match a {
            Action::Play { token, prompts, .. } => self.media(MediaCommand::Play {
                leg: CALLER,
                prompts,
                token,
                looping: false,
            }),
            Action::StopPlay => self.media(MediaCommand::Stop { leg: CALLER }),
            Action::Event(ev) => self.emit(ivr_event(ev)),
            Action::Transfer { target } => self.start_transfer(target),
            Action::Enqueue {
                queue,
                lang,
                path,
                vars,
            } => self.enqueue(queue, lang, path, vars),
            Action::Record { max_seconds } => self.record_start(max_seconds),
            Action::Hangup { outcome } => {
                self.outcome = Some(outcome);
                self.side = "system";
                self.hang_up_caller();
            }
        }
    }
}

/// The interpreter's events as call-log events.
pub fn ivr_event(ev: IvrEvent) -> EventKind {
    match ev {
        IvrEvent::NodeEntered { node, kind } => EventKind::NodeEntered {
            node,
            kind: kind.to_string(),
        },
        IvrEvent::PromptPlayed { prompt, lang } => EventKind::PromptPlayed {
            prompt,
            lang: lang.to_string(),
        },
        IvrEvent::MenuChoice { node, digit, next } => EventKind::MenuChoice {
            node,
            digit: digit.to_string(),
            next,
        },
        IvrEvent::MenuInvalid { node, digit } => EventKind::MenuInvalid {
            node,
            digit: digit.to_string(),
        },
        IvrEvent::MenuTimeout { node } => EventKind::MenuTimeout { node },
        IvrEvent::LanguageChosen { lang } => EventKind::LanguageChosen {
            lang: lang.to_string(),
        },
        IvrEvent::BranchTaken {
            node,
            condition,
            taken,
            reason,
        } => EventKind::BranchTaken {
            node,
            condition,
            taken,
            reason,
        },
        IvrEvent::EmergencyEscape { node } => EventKind::EmergencyEscape { node },
        IvrEvent::Collected { variable, digits } => EventKind::Collected { variable, digits },
    }
}
