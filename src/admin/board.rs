//! The live board: per queue, callers waiting now and the longest wait, staffed agents (from
//! the ACD's snapshot, so it is as fresh as the request), and today's service level against the
//! queue's target and abandon rate (from the call log, read at most every 5 s); per agent, the
//! state, time in it and current call. The console's wallboard and `/metrics` both show it.
//!
//! Owns: assembling the board and caching today's figures. Never does: count anything itself
//! (figures come from the call log, states from the ACD).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::report::metrics::Figures;
use crate::server::messages::AcdCmd;
use crate::server::Ctx;

/// Today's figures are re-read from the call log at most this often.
const TODAY_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Serialize)]
pub struct Board {
    pub at_ms: i64,
    pub season: Option<String>,
    pub queues: Vec<QueueBoard>,
    pub agents: Vec<AgentBoard>,
    /// Agents per state, all queues together.
    pub agents_by_state: BTreeMap<String, u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueueBoard {
    pub name: String,
    pub closed: bool,
    pub waiting: usize,
    pub longest_wait_s: u64,
    pub staffed: u32,
    /// The queue's target: `target_pct` % answered within `target_s`.
    pub target_pct: u8,
    pub target_s: u32,
    pub offered_today: i64,
    pub answered_today: i64,
    pub abandoned_today: i64,
    pub service_level_today_pct: Option<f64>,
    pub abandon_today_pct: Option<f64>,
    /// Today's service level is under the target.
    pub below_target: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct AgentBoard {
    pub id: String,
    pub state: String,
    pub reason: Option<String>,
    pub in_state_s: u64,
    pub on_call: bool,
    pub registered: bool,
}

static TODAY: Mutex<Option<(Instant, BTreeMap<String, Figures>)>> = Mutex::new(None);

async fn today(ctx: &Ctx, thresholds: &BTreeMap<String, u32>) -> BTreeMap<String, Figures> {
    {
        let cached = TODAY.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, figures)) = cached.as_ref() {
            if at.elapsed() < TODAY_EVERY {
                return figures.clone();
            }
        }
    }
    let Some(db) = ctx.db() else {
        return BTreeMap::new();
    };
    let short = (ctx.cfg.acd.short_abandon as i64).saturating_mul(1000);
    // The call log is stamped with the real clock.
    let read = crate::report::today::today(db, crate::event::now_ms(), short, thresholds);
    let figures = match tokio::time::timeout(Duration::from_secs(3), read).await {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "today's figures unavailable");
            BTreeMap::new()
        }
        Err(_) => BTreeMap::new(),
    };
    *TODAY.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), figures.clone()));
    figures
}

/// The board now; None when the ACD does not answer.
pub async fn board(ctx: &Ctx) -> Option<Board> {
    let acd = ctx.acd.as_ref()?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    acd.send(AcdCmd::Snapshot(tx)).ok()?;
    let snap = tokio::time::timeout(Duration::from_secs(2), rx)
        .await
        .ok()?
        .ok()?;
    let plan = ctx.plans.current();
    let targets: BTreeMap<String, (u8, u32)> = plan
        .as_ref()
        .map(|p| {
            p.queues
                .iter()
                .map(|(n, q)| (n.clone(), (q.sl_percent, q.sl_seconds)))
                .collect()
        })
        .unwrap_or_default();
    let thresholds = targets.iter().map(|(n, (_, s))| (n.clone(), *s)).collect();
    let today = today(ctx, &thresholds).await;
    let queues = snap
        .queues
        .iter()
        .filter(|q| q.in_plan || !q.calls.is_empty())
        .map(|q| {
            let (target_pct, target_s) = targets.get(&q.name).copied().unwrap_or((80, 100));
            let f = today.get(&q.name);
            let sl = f.and_then(|f| f.service_level_pct);
            QueueBoard {
                name: q.name.clone(),
                closed: q.closed,
                waiting: q.calls.len(),
                longest_wait_s: q.calls.iter().map(|c| c.waited_ms).max().unwrap_or(0) / 1000,
                staffed: q.staffed,
                target_pct,
                target_s,
                offered_today: f.map_or(0, |f| f.offered),
                answered_today: f.map_or(0, |f| f.answered),
                abandoned_today: f.map_or(0, |f| f.abandoned),
                service_level_today_pct: sl,
                abandon_today_pct: f.and_then(|f| f.abandon_pct),
                below_target: sl.is_some_and(|sl| sl < f64::from(target_pct)),
            }
        })
        .collect();
    let mut agents_by_state = BTreeMap::new();
    let agents = snap
        .agents
        .iter()
        .map(|a| {
            *agents_by_state
                .entry(a.state.as_str().to_string())
                .or_insert(0) += 1;
            AgentBoard {
                id: a.id.clone(),
                state: a.state.as_str().to_string(),
                reason: a.reason.clone(),
                in_state_s: snap.at.saturating_sub(a.since) / 1000,
                on_call: a.call.is_some(),
                registered: a.registered,
            }
        })
        .collect();
    Some(Board {
        at_ms: ctx.acd_now() as i64,
        season: snap.season.clone(),
        queues,
        agents,
        agents_by_state,
    })
}
