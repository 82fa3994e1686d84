//! The running plan and its reloads. A reload (file change, SIGHUP, admin API) validates the
//! directory; a valid plan is swapped in atomically for new calls while calls in progress keep
//! the `Arc<Plan>` they started with; an invalid one is logged with file:line:column and the
//! old plan keeps serving. A publish (the console) validates the files it is given first,
//! then writes them all and swaps the plan in under one lock, so the file watcher never loads
//! a half-written multi-file edit.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use tracing::{error, info};

use super::load::{load_dir, load_files, plan_files, Diagnostic, PromptLookup};
use super::model::Plan;

pub struct PlanStore {
    dir: PathBuf,
    current: RwLock<Option<Arc<Plan>>>,
    /// Fingerprint of the files the current state was computed from (names, sizes, mtimes).
    seen: RwLock<Option<Fingerprint>>,
    /// Held by reloads and publishes: one at a time.
    busy: Mutex<()>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint(Vec<(PathBuf, u64, Option<SystemTime>)>);

fn fingerprint(dir: &Path) -> Fingerprint {
    let mut files = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "toml") {
                let md = e.metadata().ok();
                files.push((
                    p,
                    md.as_ref().map(|m| m.len()).unwrap_or(0),
                    md.and_then(|m| m.modified().ok()),
                ));
            }
        }
    }
    files.sort();
    Fingerprint(files)
}

/// The result of a reload attempt.
#[derive(Debug)]
pub enum Reload {
    /// Nothing changed on disk.
    Unchanged,
    Loaded {
        version: String,
    },
    Rejected {
        errors: Vec<Diagnostic>,
    },
}

impl PlanStore {
    pub fn new(dir: PathBuf) -> PlanStore {
        PlanStore {
            dir,
            current: RwLock::new(None),
            seen: RwLock::new(None),
            busy: Mutex::new(()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The plan new calls use (None if no valid plan was ever loaded).
    pub fn current(&self) -> Option<Arc<Plan>> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Validate the directory and swap the plan in if it is valid (forced: even unchanged).
    pub fn reload(&self, prompts: &dyn PromptLookup) -> Reload {
        let _busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        self.reload_locked(prompts)
    }

    fn reload_locked(&self, prompts: &dyn PromptLookup) -> Reload {
        let fp = fingerprint(&self.dir);
        *self.seen.write().unwrap_or_else(|p| p.into_inner()) = Some(fp);
        match load_dir(&self.dir, prompts) {
            Ok(plan) => {
                let version = plan.version.clone();
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(plan));
                info!(dir = %self.dir.display(), %version, "dial plan loaded");
                Reload::Loaded { version }
            }
            Err(errors) => {
                for e in &errors {
                    error!("dial plan rejected: {e}");
                }
                if self.current().is_some() {
                    error!("the previous dial plan keeps serving");
                }
                Reload::Rejected { errors }
            }
        }
    }

    /// Reload only if the files changed since the last attempt.
    pub fn reload_if_changed(&self, prompts: &dyn PromptLookup) -> Reload {
        let _busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        let fp = fingerprint(&self.dir);
        if self.seen.read().unwrap_or_else(|p| p.into_inner()).as_ref() == Some(&fp) {
            return Reload::Unchanged;
        }
        self.reload_locked(prompts)
    }

    /// The plan's files as they are on disk: `(file name, text)`, sorted by name.
    pub fn files(&self) -> Result<Vec<(String, String)>, Vec<Diagnostic>> {
        Ok(plan_files(&self.dir)?
            .into_iter()
            .map(|(p, text)| (file_name(&p), text))
            .collect())
    }

    /// Validate `files` (file name → text) as a whole plan, without touching anything.
    pub fn check(
        &self,
        files: &[(String, String)],
        prompts: &dyn PromptLookup,
    ) -> Result<Plan, Vec<Diagnostic>> {
        for (name, _) in files {
            check_name(&self.dir, name)?;
        }
        let named: Vec<(PathBuf, String)> = files
            .iter()
            .map(|(n, t)| (self.dir.join(n), t.clone()))
            .collect();
        load_files(&named, prompts)
    }

    /// Publish `files` as the plan: validated as a whole first (nothing is written if it is
    /// invalid), then each file written (temporary file, then rename), `.toml` files not in
    /// the set removed, and the plan swapped in for new calls. Calls in progress keep theirs.
    pub fn publish(
        &self,
        files: &[(String, String)],
        prompts: &dyn PromptLookup,
    ) -> Result<String, PublishError> {
        let _busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        let plan = self.check(files, prompts).map_err(PublishError::Invalid)?;
        for (name, text) in files {
            let tmp = self.dir.join(format!(".{name}.publishing"));
            std::fs::write(&tmp, text)
                .and_then(|()| std::fs::rename(&tmp, self.dir.join(name)))
                .map_err(|e| PublishError::Io(format!("{name}: {e}")))?;
        }
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if name.ends_with(".toml") && !files.iter().any(|(n, _)| *n == name) {
                    std::fs::remove_file(e.path())
                        .map_err(|e| PublishError::Io(format!("{name}: {e}")))?;
                }
            }
        }
        *self.seen.write().unwrap_or_else(|p| p.into_inner()) = Some(fingerprint(&self.dir));
        let version = plan.version.clone();
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(plan));
        info!(dir = %self.dir.display(), %version, "dial plan published");
        Ok(version)
    }
}

/// Why a publish did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("the plan has {} error(s)", .0.len())]
    Invalid(Vec<Diagnostic>),
    #[error("could not write the plan: {0}")]
    Io(String),
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
}

/// A plan file is a plain `name.toml` in the plan directory: no path, no hidden file.
fn check_name(dir: &Path, name: &str) -> Result<(), Vec<Diagnostic>> {
    let ok = name.ends_with(".toml")
        && name.len() > 5
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.contains("..");
    if ok {
        Ok(())
    } else {
        Err(vec![Diagnostic {
            file: dir.join(name.replace(['/', '\\'], "_")),
            line: 1,
            column: 1,
            message: "a plan file is named like menus.toml (letters, digits, - and _)".into(),
        }])
    }
}

/// Watch the directory (polling: no inotify dependency, works on every filesystem and in
/// containers with bind mounts) and reload on change.
pub async fn watch(
    store: Arc<PlanStore>,
    prompts: Arc<dyn PromptLookup + Send + Sync>,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let store = store.clone();
        let prompts = prompts.clone();
        // Loading reads files: keep it off the runtime's worker threads.
        let _ = tokio::task::spawn_blocking(move || store.reload_if_changed(&*prompts)).await;
    }
}
