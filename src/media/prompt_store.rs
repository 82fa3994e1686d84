//! The prompt set in force, replaceable without a restart: an admin uploads a new recording
//! for one prompt id and language; it is written where `PromptSet::load` reads it (so a restart
//! serves it too), the file it replaces is kept as a version (`<prompts>/versions/`), and the
//! next call takes the new set while calls in progress keep the set they started with.
//!
//! Owns: the current set, its version number, the prompt files and their kept versions.
//! Never does: decoding or checking an upload (`storm::check_recording` does), authorisation
//! and audit (the console).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use super::prompt::{Lang, Prompt, PromptSet};

#[derive(Debug, thiserror::Error)]
pub enum PromptStoreError {
    #[error("no prompt `{0}` in prompts.toml")]
    Unknown(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no earlier version of `{0}` ({1}) to go back to")]
    NoVersion(String, Lang),
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
}

/// A kept version of one prompt file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PromptVersion {
    /// When it was replaced (UTC, `%Y%m%dT%H%M%SZ`).
    pub replaced: String,
    pub file: String,
}

pub struct PromptStore {
    current: RwLock<(u64, Arc<PromptSet>)>,
    dir: PathBuf,
    /// One change at a time (file moves and the swap together).
    change: Mutex<()>,
}

impl PromptStore {
    pub fn new(set: PromptSet, dir: &Path) -> PromptStore {
        PromptStore {
            current: RwLock::new((1, Arc::new(set))),
            dir: dir.to_path_buf(),
            change: Mutex::new(()),
        }
    }

    /// The set a new call uses (it keeps it to the end).
    pub fn current(&self) -> Arc<PromptSet> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .clone()
    }

    /// The set's version: 1 at start, +1 per change.
    pub fn version(&self) -> u64 {
        self.current.read().unwrap_or_else(|p| p.into_inner()).0
    }

    fn file(&self, id: &str, lang: Lang) -> PathBuf {
        self.dir.join(lang.as_str()).join(format!("{id}.wav"))
    }

    fn versions_dir(&self, lang: Lang) -> PathBuf {
        self.dir.join("versions").join(lang.as_str())
    }

    /// Put `pcm` (8 kHz, checked) in force for `id` in `lang`; `stamp` names the kept version
    /// of the file it replaces. Returns the new set version.
    pub fn replace(
        &self,
        id: &str,
        lang: Lang,
        pcm: Vec<i16>,
        stamp: &str,
    ) -> Result<u64, PromptStoreError> {
        let _one = self.change.lock().unwrap_or_else(|p| p.into_inner());
        let set = self.current();
        let text = set
            .catalog()
            .text(id, lang)
            .ok_or_else(|| PromptStoreError::Unknown(id.to_string()))?
            .to_string();
        let path = self.file(id, lang);
        if path.exists() {
            let keep = self.versions_dir(lang);
            std::fs::create_dir_all(&keep).map_err(|source| PromptStoreError::Write {
                path: keep.clone(),
                source,
            })?;
            let kept = keep.join(format!("{id}.{stamp}.wav"));
            std::fs::copy(&path, &kept).map_err(|source| PromptStoreError::Write {
                path: kept.clone(),
                source,
            })?;
        }
        let prompt = Prompt::from_pcm(id, lang, text, pcm);
        // Written beside, then renamed: a crash never leaves half a file to load.
        let tmp = path.with_extension("wav.new");
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| PromptStoreError::Write {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        std::fs::write(&tmp, super::wav::bytes(&prompt.pcm)).map_err(|source| {
            PromptStoreError::Write {
                path: tmp.clone(),
                source,
            }
        })?;
        std::fs::rename(&tmp, &path).map_err(|source| PromptStoreError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(self.swap(prompt))
    }

    fn swap(&self, prompt: Prompt) -> u64 {
        let mut cur = self.current.write().unwrap_or_else(|p| p.into_inner());
        let mut next = (*cur.1).clone();
        next.insert(prompt);
        cur.0 += 1;
        cur.1 = Arc::new(next);
        cur.0
    }

    /// Kept versions of `id` in `lang`, newest first.
    pub fn versions(&self, id: &str, lang: Lang) -> Vec<PromptVersion> {
        let prefix = format!("{id}.");
        let mut v: Vec<PromptVersion> = std::fs::read_dir(self.versions_dir(lang))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let stamp = name.strip_prefix(&prefix)?.strip_suffix(".wav")?;
                // Only `<id>.<stamp>.wav`, not another id that starts the same way.
                (!stamp.contains('.')).then(|| PromptVersion {
                    replaced: stamp.to_string(),
                    file: name.clone(),
                })
            })
            .collect();
        v.sort_by(|a, b| b.replaced.cmp(&a.replaced));
        v
    }

    /// Put the newest kept version back in force (it is kept again as the current one was).
    pub fn rollback(&self, id: &str, lang: Lang, stamp: &str) -> Result<u64, PromptStoreError> {
        let newest = self
            .versions(id, lang)
            .into_iter()
            .next()
            .ok_or(PromptStoreError::NoVersion(id.to_string(), lang))?;
        let path = self.versions_dir(lang).join(&newest.file);
        let pcm = super::prompt::decode_file(&path).map_err(|e| PromptStoreError::Read {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let v = self.replace(id, lang, pcm, stamp)?;
        // The version we went back to is the current file now.
        let _ = std::fs::remove_file(&path);
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, PromptStore) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("prompts.toml"),
            "[welcome]\nfr = \"Bonjour\"\nen = \"Hello\"\n",
        )
        .unwrap();
        for lang in ["fr", "en"] {
            std::fs::create_dir_all(dir.path().join(lang)).unwrap();
            let pcm: Vec<i16> = (0..8000).map(|i| ((i % 40) * 500) as i16).collect();
            std::fs::write(
                dir.path().join(lang).join("welcome.wav"),
                super::super::wav::bytes(&pcm),
            )
            .unwrap();
        }
        let set = PromptSet::load(dir.path()).unwrap();
        let s = PromptStore::new(set, dir.path());
        (dir, s)
    }

    #[test]
    fn a_new_recording_is_in_force_for_new_sets_and_kept_sets_do_not_change() {
        let (dir, s) = store();
        let before = s.current();
        let old_frames = before.get("welcome", Lang::Fr).unwrap().frames();
        let v = s
            .replace("welcome", Lang::Fr, vec![1000; 16000], "20270101T000000Z")
            .unwrap();
        assert_eq!(v, 2);
        assert_eq!(
            before.get("welcome", Lang::Fr).unwrap().frames(),
            old_frames
        );
        assert_eq!(s.current().get("welcome", Lang::Fr).unwrap().frames(), 100);
        assert_eq!(
            s.current().get("welcome", Lang::Fr).unwrap().text,
            "Bonjour"
        );
        // On disk for the next start, the old file kept.
        let reloaded = PromptSet::load(dir.path()).unwrap();
        assert_eq!(reloaded.get("welcome", Lang::Fr).unwrap().frames(), 100);
        assert_eq!(s.versions("welcome", Lang::Fr).len(), 1);
        // Back to the previous recording.
        s.rollback("welcome", Lang::Fr, "20270101T000100Z").unwrap();
        assert_eq!(
            s.current().get("welcome", Lang::Fr).unwrap().frames(),
            old_frames
        );
        assert!(matches!(
            s.replace("nope", Lang::Fr, vec![1; 8000], "x"),
            Err(PromptStoreError::Unknown(_))
        ));
        assert!(matches!(
            s.rollback("welcome", Lang::En, "x"),
            Err(PromptStoreError::NoVersion(..))
        ));
    }
}
