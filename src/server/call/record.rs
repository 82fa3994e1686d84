//! Voicemail: the `record` node records what the caller says (until '#', the time limit or a
//! hang-up) into `recordings/<call>.wav` (8 kHz 16-bit mono) and logs where it is.

use std::path::Path;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::Call;
use crate::event::EventKind;

pub struct Recording {
    pub until: Instant,
}

impl Call {
    pub(super) fn record_start(&mut self, max_seconds: u32) {
        self.media.record_start(max_seconds);
        self.recording = Some(Recording {
            until: Instant::now() + Duration::from_secs(max_seconds as u64),
        });
    }

    pub(super) fn record_stop(&mut self) {
        if self.recording.take().is_none() {
            return;
        }
        let pcm = self.media.record_stop();
        let dir = self.ctx.cfg.paths.recordings.clone();
        let file = dir.join(format!("{}.wav", self.log.call));
        let seconds = (pcm.len() / 8000) as u32;
        match write_wav(&dir, &file, &pcm) {
            Ok(()) => {
                info!(file = %file.display(), seconds, "voice message recorded");
                self.log.emit(EventKind::Recorded {
                    file: file.display().to_string(),
                    seconds,
                });
            }
            Err(e) => warn!(file = %file.display(), error = %e, "cannot save a voice message"),
        }
        let now = self.now();
        if let Some(ivr) = self.ivr.as_mut() {
            ivr.on_record_done(now);
        }
    }
}

/// A minimal RIFF/WAVE writer: PCM 16-bit, mono, 8 kHz.
fn write_wav(dir: &Path, path: &Path, pcm: &[i16]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let data_len = (pcm.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + pcm.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&8000u32.to_le_bytes());
    out.extend_from_slice(&16000u32.to_le_bytes()); // byte rate
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in pcm {
        out.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn written_wav_decodes_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.wav");
        let pcm: Vec<i16> = (0..8000)
            .map(|i| ((i as f32 * 0.1).sin() * 9000.0) as i16)
            .collect();
        super::write_wav(dir.path(), &path, &pcm).unwrap();
        let back = crate::media::prompt::decode_file(&path).unwrap();
        assert_eq!(back.len(), pcm.len());
        assert!(back.iter().zip(&pcm).all(|(a, b)| (a - b).abs() <= 1));
    }
}
