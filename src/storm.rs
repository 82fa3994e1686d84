//! Storm (surge) messages: on a snow-storm morning a supervisor puts "collections are delayed
//! today" in front of every caller, or only of chosen queues, in both languages, with an
//! optional end time. Callers of every queue hear it right after choosing their language;
//! a message for chosen queues is heard just before entering one of them. Each hearing is a
//! `prompt_played` event for the prompt `storm` in the call log, so how many heard it and how
//! many of them then hung up come from the one event log.
//!
//! Owns: the message in force (shared by the call drivers and the console), checking an
//! uploaded recording, and keeping both in the database so a restart keeps them. Never does:
//! decide where in a call it plays (the IVR and the call core do, given a `StormScope`).

use std::sync::{Arc, RwLock};

use serde::Serialize;
use sqlx::Row;

use crate::ivr::StormScope;
use crate::media::prompt::{Lang, Prompt};
use crate::store::Db;

/// The prompt id a storm message plays under.
pub const PROMPT_ID: &str = "storm";
/// The longest recording accepted.
pub const MAX_SECONDS: usize = 90;
const RATE: usize = 8000;

/// The message as a supervisor set it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Storm {
    pub on: bool,
    /// Queues whose callers hear it; empty: every caller.
    pub queues: Vec<String>,
    /// It stops by itself then (ms since the epoch).
    pub until_ms: Option<i64>,
    pub by: String,
    pub since_ms: i64,
    /// When each language's recording was made (ms), or None.
    pub recorded_ms: [Option<i64>; 2],
    #[serde(skip)]
    pub audio: [Option<Arc<Prompt>>; 2],
}

impl Storm {
    pub fn active(&self, now_ms: i64) -> bool {
        self.on
            && self.until_ms.is_none_or(|u| now_ms < u)
            && self.audio.iter().any(Option::is_some)
    }
}

fn slot(lang: Lang) -> usize {
    match lang {
        Lang::Fr => 0,
        Lang::En => 1,
    }
}

/// The message in force, read by every new call.
#[derive(Default)]
pub struct StormBoard {
    current: RwLock<Arc<Storm>>,
}

impl StormBoard {
    pub fn get(&self) -> Arc<Storm> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn set(&self, s: Storm) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(s);
    }

    /// Who hears it, for a call starting now (None: nobody).
    pub fn scope(&self, now_ms: i64) -> Option<StormScope> {
        let s = self.get();
        s.active(now_ms).then(|| StormScope {
            all: s.queues.is_empty(),
            queues: s.queues.clone(),
        })
    }

    /// The recording to play now in `lang` (the other language's if only one was recorded).
    pub fn prompt(&self, lang: Lang, now_ms: i64) -> Option<Arc<Prompt>> {
        let s = self.get();
        if !s.active(now_ms) {
            return None;
        }
        s.audio[slot(lang)]
            .clone()
            .or_else(|| s.audio[slot(lang.other())].clone())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("not an audio file we can read: {0}")]
    Unreadable(String),
    #[error("the recording is silent")]
    Silent,
    #[error("the recording is too short (under half a second)")]
    TooShort,
    #[error("the recording is {0} s long: at most {MAX_SECONDS} s")]
    TooLong(usize),
}

/// Decode an uploaded recording (WAV of any rate, channels and sample format) to 8 kHz mono
/// and check it: not silent, not too short, not too long.
pub fn check_recording(bytes: &[u8]) -> Result<Vec<i16>, AudioError> {
    let dir = tempfile_dir().map_err(|e| AudioError::Unreadable(e.to_string()))?;
    let path = dir.join("upload.wav");
    std::fs::write(&path, bytes).map_err(|e| AudioError::Unreadable(e.to_string()))?;
    let decoded = crate::media::prompt::decode_file(&path);
    let _ = std::fs::remove_dir_all(&dir);
    let pcm = decoded.map_err(|e| AudioError::Unreadable(e.to_string()))?;
    if pcm.len() < RATE / 2 {
        return Err(AudioError::TooShort);
    }
    if pcm.len() > MAX_SECONDS * RATE {
        return Err(AudioError::TooLong(pcm.len() / RATE));
    }
    // Silent: RMS under -50 dBFS (a room's noise floor on a phone line is well above).
    let energy: f64 = pcm.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    let rms = (energy / pcm.len() as f64).sqrt();
    if rms < 32768.0 * 10f64.powf(-50.0 / 20.0) {
        return Err(AudioError::Silent);
    }
    Ok(pcm)
}

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let mut b = [0u8; 8];
    b.copy_from_slice(&crate::sip::random::Random::from_os().bytes32()[..8]);
    let dir = std::env::temp_dir().join(format!("centrale-upload-{}", hex::encode(b)));
    std::fs::create_dir(&dir)?;
    Ok(dir)
}

pub fn prompt_of(lang: Lang, pcm: Vec<i16>) -> Arc<Prompt> {
    Arc::new(Prompt::from_pcm(PROMPT_ID, lang, "message d'urgence", pcm))
}

fn pcm_hex(p: &Prompt) -> String {
    let mut bytes = Vec::with_capacity(p.pcm.len() * 2);
    for s in &p.pcm {
        bytes.extend_from_slice(&s.to_le_bytes());
    }
    hex::encode(bytes)
}

fn pcm_of_hex(h: &str) -> Option<Vec<i16>> {
    let bytes = hex::decode(h).ok()?;
    Some(
        bytes
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect(),
    )
}

/// Keep the message and its recordings (one row per language, plus the settings row).
pub async fn save(db: &Db, s: &Storm) -> Result<(), sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    sqlx::query("DELETE FROM storm_message")
        .execute(&mut *tx)
        .await?;
    let settings = serde_json::json!({
        "on": s.on, "queues": s.queues, "until_ms": s.until_ms, "by": s.by,
        "since_ms": s.since_ms,
    });
    sqlx::query("INSERT INTO storm_message (part, at_ms, body) VALUES ($1, $2, $3)")
        .bind("settings")
        .bind(s.since_ms)
        .bind(settings.to_string())
        .execute(&mut *tx)
        .await?;
    for lang in Lang::ALL {
        if let (Some(p), Some(at)) = (&s.audio[slot(lang)], s.recorded_ms[slot(lang)]) {
            sqlx::query("INSERT INTO storm_message (part, at_ms, body) VALUES ($1, $2, $3)")
                .bind(lang.as_str())
                .bind(at)
                .bind(pcm_hex(p))
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await
}

/// The message kept in the database (off and empty if none).
pub async fn load(db: &Db) -> Result<Storm, sqlx::Error> {
    let rows = sqlx::query("SELECT part, at_ms, body FROM storm_message")
        .fetch_all(&db.pool)
        .await?;
    let mut s = Storm::default();
    for r in rows {
        let part: String = r.try_get(0)?;
        let at: i64 = r.try_get(1)?;
        let body: String = r.try_get(2)?;
        if part == "settings" {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            s.on = v["on"].as_bool().unwrap_or(false);
            s.queues = v["queues"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|q| q.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            s.until_ms = v["until_ms"].as_i64();
            s.by = v["by"].as_str().unwrap_or("").to_string();
            s.since_ms = v["since_ms"].as_i64().unwrap_or(at);
        } else if let Ok(lang) = part.parse::<Lang>() {
            if let Some(pcm) = pcm_of_hex(&body) {
                s.audio[slot(lang)] = Some(prompt_of(lang, pcm));
                s.recorded_ms[slot(lang)] = Some(at);
            }
        }
    }
    Ok(s)
}

/// The recording slot of a language (console uploads).
pub fn set_audio(s: &mut Storm, lang: Lang, pcm: Vec<i16>, at_ms: i64) {
    s.audio[slot(lang)] = Some(prompt_of(lang, pcm));
    s.recorded_ms[slot(lang)] = Some(at_ms);
}

/// Who heard a storm message among `events` (several calls' events, any order), and how many
/// of them then hung up before an agent answered: (heard, hung up).
pub fn hearers(events: &[crate::event::CallEvent]) -> (usize, usize) {
    use crate::event::EventKind;
    use std::collections::HashMap;
    // Per call: heard it, reached an agent, hung up (caller side).
    let mut calls: HashMap<&str, (bool, bool, bool)> = HashMap::new();
    for e in events {
        let c = calls.entry(&e.call).or_default();
        match &e.kind {
            EventKind::PromptPlayed { prompt, .. } if prompt == PROMPT_ID => c.0 = true,
            EventKind::AgentAnswered { .. } => c.1 = true,
            EventKind::CallEnded { side, .. } if side == "caller" => c.2 = true,
            _ => {}
        }
    }
    let heard = calls.values().filter(|c| c.0).count();
    let gave_up = calls.values().filter(|c| c.0 && !c.1 && c.2).count();
    (heard, gave_up)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testdb::backends;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_restart_finds_the_message_and_its_recordings_on_both_backends() {
        for tdb in backends().await {
            let db = Db::open(&tdb.url).await.unwrap();
            db.migrate().await.unwrap();
            assert!(!load(&db).await.unwrap().on, "nothing kept yet");
            let mut s = Storm {
                on: true,
                queues: vec!["collectes".into()],
                until_ms: Some(1_900_000_000_000),
                by: "sup".into(),
                since_ms: 1_800_000_000_000,
                ..Storm::default()
            };
            set_audio(&mut s, Lang::En, tone(0.6, 9000.0), 1_800_000_000_500);
            save(&db, &s).await.unwrap();
            save(&db, &s).await.unwrap();
            let back = load(&db).await.unwrap();
            assert!(back.on);
            assert_eq!(back.queues, ["collectes"]);
            assert_eq!(back.until_ms, s.until_ms);
            assert_eq!(back.recorded_ms, [None, Some(1_800_000_000_500)]);
            assert_eq!(
                back.audio[1].as_ref().unwrap().pcm,
                s.audio[1].as_ref().unwrap().pcm
            );
            db.close().await;
            tdb.drop_db().await;
        }
    }

    fn tone(seconds: f64, amp: f64) -> Vec<i16> {
        (0..(seconds * 8000.0) as usize)
            .map(|i| (amp * (i as f64 * 2.0 * std::f64::consts::PI * 440.0 / 8000.0).sin()) as i16)
            .collect()
    }

    #[test]
    fn scope_and_prompt_follow_the_switch_the_queues_and_the_end_time() {
        let board = StormBoard::default();
        assert!(board.scope(0).is_none());
        let mut s = Storm {
            on: true,
            until_ms: Some(1000),
            ..Storm::default()
        };
        // On, but nothing recorded yet: nobody hears a silent message.
        board.set(s.clone());
        assert!(board.scope(0).is_none());
        set_audio(&mut s, Lang::Fr, tone(1.0, 8000.0), 0);
        board.set(s.clone());
        assert_eq!(board.scope(999).map(|x| x.all), Some(true));
        assert!(board.scope(1000).is_none(), "past its end time");
        // English callers hear the French recording when no English one was made.
        assert!(board.prompt(Lang::En, 10).is_some());
        s.queues = vec!["collectes".into()];
        s.until_ms = None;
        board.set(s);
        let scope = board.scope(5000).unwrap();
        assert!(!scope.all);
        assert_eq!(scope.queues, ["collectes"]);
        assert_eq!(
            pcm_of_hex(&pcm_hex(&prompt_of(Lang::Fr, vec![1, -2, 300]))).unwrap()[..3],
            [1, -2, 300]
        );
    }
}
