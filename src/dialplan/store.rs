//! The running plan and its reloads. A reload (file change, SIGHUP, admin API) validates the
//! directory; a valid plan is swapped in atomically for new calls while calls in progress keep
//! the `Arc<Plan>` they started with; an invalid one is logged with file:line:column and the
//! old plan keeps serving.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use tracing::{error, info};

use super::load::{load_dir, Diagnostic, PromptLookup};
use super::model::Plan;

pub struct PlanStore {
    dir: PathBuf,
    current: RwLock<Option<Arc<Plan>>>,
    /// Fingerprint of the files the current state was computed from (names, sizes, mtimes).
    seen: RwLock<Option<Fingerprint>>,
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
        let fp = fingerprint(&self.dir);
        if self.seen.read().unwrap_or_else(|p| p.into_inner()).as_ref() == Some(&fp) {
            return Reload::Unchanged;
        }
        self.reload(prompts)
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
