//! Voicemail: the `record` node records what the caller says until '#', the time limit or a
//! hang-up; the driver saves it (`<recordings>/<call>.wav`) and the call logs where it is.

use std::time::Duration;

use tracing::warn;

#[cfg(test)]
use super::LegEvent;
use super::{Call, MediaCommand, CALLER};
use crate::event::EventKind;

impl Call {
    pub(super) fn record_start(&mut self, max_seconds: u32) {
        self.media(MediaCommand::RecordStart {
            leg: CALLER,
            max_seconds,
        });
        self.recording = Some(self.now.mono + Duration::from_secs(max_seconds as u64));
    }

    /// Stop recording; the driver answers with `Recorded`.
    pub(super) fn record_stop(&mut self) {
        if self.recording.take().is_none() {
            return;
        }
        self.media(MediaCommand::RecordStop {
            leg: CALLER,
            name: self.uid.clone(),
        });
        // Until `Recorded` arrives, nothing else is recorded or interpreted as the end of it.
        self.recording_saving = true;
    }

    pub(super) fn on_recorded(&mut self, file: Option<String>, seconds: u32) {
        if !std::mem::take(&mut self.recording_saving) {
            return;
        }
        match file {
            Some(file) => self.emit(EventKind::Recorded { file, seconds }),
            None => warn!("the voice message could not be saved"),
        }
        if self.finishing.take().is_some() {
            self.complete();
            return;
        }
        if let Some(ivr) = self.ivr.as_mut() {
            ivr.on_record_done(self.now);
            self.pump_ivr();
        }
    }
}

/// Used by the driver's tests and the tests here: a `Recorded` for the caller's leg.
#[cfg(test)]
pub(super) fn recorded(file: &str, seconds: u32) -> LegEvent {
    LegEvent::Recorded {
        file: Some(file.to_string()),
        seconds,
    }
}
