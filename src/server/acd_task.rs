//! The task that drives the sans-IO ACD in the live server: inputs from call tasks, the SIP
//! driver (registrations), agents' feature codes and the admin API; decisions out to the call
//! task that owns each queued call; callbacks dialled through the injected spawner; agent state
//! changes into the event log; the season from the plan's calendar; agents.toml reloads into
//! both the ACD and the registrar.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::callback_book::{CallbackBook, CallbackInfo};
use super::ctx::Ctx;
use super::messages::{lang_of, AcdCmd, SipCmd, SpawnCallback};
use crate::acd::agents::AgentsFile;
use crate::acd::{Acd, AcdConfig, CallId, Input, Output};
use crate::call::{AcdDecision, CallbackSetup};
use crate::event::{AgentEvent, CallEvent, EventKind, Record};

pub async fn run(
    ctx: Arc<Ctx>,
    mut rx: mpsc::UnboundedReceiver<AcdCmd>,
    agents_path: PathBuf,
    spawn_callback: SpawnCallback,
) {
    let mut acd = Acd::new(AcdConfig::from_settings(
        ctx.cfg.acd.ring_timeout,
        ctx.cfg.acd.max_misses,
        ctx.cfg.acd.wrapup,
    ));
    let mut routes: HashMap<CallId, mpsc::UnboundedSender<AcdDecision>> = HashMap::new();
    let mut callbacks: HashMap<CallId, CallbackInfo> = HashMap::new();
    let mut wrapups: HashMap<String, String> = HashMap::new();
    // Handle times and patience from the call log, so the first callers hear an honest wait.
    match crate::store::Db::open(&ctx.cfg.database.url).await {
        Ok(db) => {
            match crate::report::waits::load_history(&db, crate::event::now_ms()).await {
                Ok(h) => acd.restore(&h),
                Err(e) => warn!("wait-estimate history not read from the call log: {e}"),
            }
            db.close().await;
        }
        Err(e) => warn!("wait-estimate history not read from the call log: {e}"),
    }
    // Callbacks owed from the call log (a restart or a crash lost nothing), then retries.
    let mut book = CallbackBook::new();
    if let Some(plan) = ctx.plans.current() {
        let queues: Vec<_> = plan.queues.values().cloned().collect();
        acd.set_queues(&queues, ctx.acd_now());
    }
    book.sweep(&ctx, &mut acd, &mut callbacks).await;
    let mut plan_version = String::new();
    let mut agents_stamp: Option<SystemTime> = None;
    let mut agents: Vec<crate::acd::agents::AgentDef> = Vec::new();
    let mut coverage_stale = false;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let now = ctx.acd_now();
        let wake = acd
            .poll_timeout()
            .map(|t| Duration::from_millis(t.saturating_sub(now)))
            .unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            cmd = rx.recv() => {
                let Some(cmd) = cmd else { return };
                let now = ctx.acd_now();
                match cmd {
                    AcdCmd::Input(i) => acd.handle(i, now),
                    AcdCmd::Queue { input, to } => {
                        let call = match &input {
                            Input::CallQueued { call, .. } => *call,
                            _ => 0,
                        };
                        routes.insert(call, to.clone());
                        acd.handle(input, now);
                        if let Some(p) = acd.position(call) {
                            let _ = to.send(AcdDecision::Position(p));
                        }
                    }
                    AcdCmd::Route { call, to } => {
                        routes.insert(call, to);
                    }
                    AcdCmd::Forget(call) => {
                        routes.remove(&call);
                    }
                    AcdCmd::CallbackLog { call, uid, queue, lang } => {
                        callbacks.insert(call, CallbackInfo { uid, queue, lang });
                    }
                    AcdCmd::WrapupLog { agent, uid } => {
                        wrapups.insert(agent, uid);
                    }
                    AcdCmd::Snapshot(reply) => {
                        let _ = reply.send(acd.snapshot(now));
                    }
                    AcdCmd::CallbackOrigins(reply) => {
                        let _ = reply.send(
                            callbacks.iter().map(|(k, v)| (*k, v.uid.clone())).collect(),
                        );
                    }
                    AcdCmd::CancelCallback { call, by, reply } => {
                        let found = callbacks.remove(&call);
                        if let Some(info) = &found {
                            acd.handle(Input::CallLeft { call }, now);
                            book.cancelled(&info.uid);
                            info!(original = %info.uid, %by, "callback cancelled");
                            ctx.events.send(Record::Call(CallEvent {
                                call: info.uid.clone(),
                                seq: crate::event::CALLBACK_CANCELLED_SEQ,
                                at_ms: crate::event::now_ms(),
                                kind: EventKind::CallbackCancelled { by },
                            }));
                        }
                        let _ = reply.send(found.is_some());
                    }
                }
            }
            _ = tokio::time::sleep(wake) => {
                acd.handle_timeout(ctx.acd_now());
            }
            _ = tick.tick() => {
                if book.due(&ctx) {
                    book.sweep(&ctx, &mut acd, &mut callbacks).await;
                }
                let now = ctx.acd_now();
                // A new plan version may change queues; the calendar may change the season.
                if let Some(plan) = ctx.plans.current() {
                    if plan.version != plan_version {
                        plan_version = plan.version.clone();
                        let queues: Vec<_> = plan.queues.values().cloned().collect();
                        acd.set_queues(&queues, now);
                        coverage_stale = true;
                    }
                    let season = plan
                        .calendar(None)
                        .and_then(|c| c.status(ctx.wall_now()).seasons.into_iter().next());
                    if season.as_deref() != acd.season() {
                        info!(?season, "season for queues and agents");
                        acd.set_season(season.as_deref(), now);
                    }
                }
                // agents.toml changed on disk: both the registrar and the ACD learn it.
                let stamp = std::fs::metadata(&agents_path).and_then(|m| m.modified()).ok();
                if stamp != agents_stamp {
                    agents_stamp = stamp;
                    match AgentsFile::load(&agents_path) {
                        Ok(file) => {
                            info!(agents = file.agents.len(), "agents loaded");
                            acd.set_agents(&file.agents, now);
                            ctx.call
                                .agents
                                .set(file.agents.iter().map(|a| {
                                    let info = crate::call::AgentInfo {
                                        auto_answer: a.auto_answer,
                                        srtp: a.srtp,
                                    };
                                    (a.id.clone(), info)
                                }));
                            agents = file.agents.clone();
                            coverage_stale = true;
                            // The registrar (in the SIP driver) authenticates against it too.
                            let _ = ctx.sip.send(SipCmd::Accounts(Arc::new(file)));
                        }
                        Err(e) => warn!("agents file rejected, keeping the previous one: {e}"),
                    }
                }
            }
        }
        if std::mem::take(&mut coverage_stale) {
            if let Some(plan) = ctx.plans.current() {
                warn_coverage(&plan, &agents, acd.season());
            }
        }
        drain(
            &ctx,
            &mut acd,
            &routes,
            &mut callbacks,
            &mut book,
            &mut wrapups,
            &spawn_callback,
        );
    }
}

/// Say, once per plan or agents change, which callers no agent could ever take this season.
fn warn_coverage(
    plan: &crate::dialplan::model::Plan,
    agents: &[crate::acd::agents::AgentDef],
    season: Option<&str>,
) {
    for line in coverage_gaps(plan, agents, season) {
        warn!("no agent in agents.toml can take callers of {line}: they would wait until they give up");
    }
}

/// Every kind of caller `plan` can put in a queue: each queue node, in each language.
fn demands(
    plan: &crate::dialplan::model::Plan,
    season: Option<&str>,
) -> Vec<crate::acd::coverage::Demand> {
    use crate::dialplan::model::NodeKind;
    let mut demands = Vec::new();
    for node in &plan.nodes {
        if let NodeKind::Queue(q) = &node.kind {
            for lang in crate::media::prompt::Lang::ALL {
                demands.push(crate::acd::coverage::Demand {
                    queue: q.queue.clone(),
                    lang: lang.to_string(),
                    skills: q.skills.clone(),
                    topic: q.topic.clone(),
                    season: season.map(str::to_string),
                });
            }
        }
    }
    demands
}

/// The kinds of callers of `plan` no agent of `agents` can take in `season` (one line each;
/// none when there are no agents at all: a centre not staffed yet is not a plan error).
pub fn coverage_gaps(
    plan: &crate::dialplan::model::Plan,
    agents: &[crate::acd::agents::AgentDef],
    season: Option<&str>,
) -> Vec<String> {
    use crate::acd::coverage::{describe, unservable};
    if agents.is_empty() {
        return Vec::new();
    }
    let demands = demands(plan, season);
    let queues: Vec<_> = plan.queues.values().cloned().collect();
    let gaps = unservable(&queues, agents, &demands);
    let seasons = std::iter::once(season.map(str::to_string)).collect();
    describe(&gaps, &seasons)
}

/// Agents of `agents` who can take no caller of `plan` in `season` (their skills, languages
/// or queues match none of the plan's queues).
pub fn agents_serving_nothing(
    plan: &crate::dialplan::model::Plan,
    agents: &[crate::acd::agents::AgentDef],
    season: Option<&str>,
) -> Vec<String> {
    use crate::acd::coverage::unservable;
    let demands = demands(plan, season);
    if demands.is_empty() {
        return Vec::new();
    }
    let queues: Vec<_> = plan.queues.values().cloned().collect();
    agents
        .iter()
        .filter(|a| unservable(&queues, std::slice::from_ref(*a), &demands).len() == demands.len())
        .map(|a| a.id.clone())
        .collect()
}

fn drain(
    ctx: &Arc<Ctx>,
    acd: &mut Acd,
    routes: &HashMap<CallId, mpsc::UnboundedSender<AcdDecision>>,
    callbacks: &mut HashMap<CallId, CallbackInfo>,
    book: &mut CallbackBook,
    wrapups: &mut HashMap<String, String>,
    spawn_callback: &SpawnCallback,
) {
    let send = |routes: &HashMap<CallId, mpsc::UnboundedSender<AcdDecision>>, call, msg| {
        if let Some(to) = routes.get(&call) {
            let _ = to.send(msg);
        }
    };
    while let Some(out) = acd.poll() {
        match out {
            Output::Offer { call, agent } => send(routes, call, AcdDecision::Offer { agent }),
            Output::CancelOffer {
                call,
                agent,
                reason,
            } => send(
                routes,
                call,
                AcdDecision::CancelOffer {
                    agent,
                    reason: reason.as_str(),
                },
            ),
            Output::Announce { call, info } => send(routes, call, AcdDecision::Announce(info)),
            Output::Resumed {
                call,
                log,
                from_log,
                held_ms,
                ..
            } => {
                ctx.events.send(Record::Call(CallEvent {
                    call: from_log.clone(),
                    seq: crate::event::RESUMED_SEQ,
                    at_ms: crate::event::now_ms(),
                    kind: EventKind::ResumedBy { by: log },
                }));
                let msg = AcdDecision::Resumed {
                    from: from_log,
                    held_ms,
                };
                send(routes, call, msg);
            }
            Output::Overflow { call, to } => send(routes, call, AcdDecision::Overflow(to)),
            Output::Consult {
                call,
                agent,
                refused,
            } => send(routes, call, AcdDecision::Consult { agent, refused }),
            Output::DialCallback {
                call,
                agent,
                number,
            } => {
                let info = callbacks.remove(&call);
                if let Some(i) = &info {
                    book.dialled(&i.uid, crate::event::now_ms());
                }
                let (original, queue, lang) = match info {
                    Some(i) => (i.uid, i.queue, i.lang),
                    None => (String::new(), String::new(), "fr".into()),
                };
                debug!(call, %agent, %number, "dialling a callback");
                spawn_callback(CallbackSetup {
                    uid: crate::event::new_call_uid(crate::event::now_ms()),
                    acd_id: call,
                    agent,
                    number,
                    original,
                    queue,
                    lang: lang_of(&lang),
                    plan_version: ctx
                        .plans
                        .current()
                        .map(|p| p.version.clone())
                        .unwrap_or_default(),
                });
            }
            Output::AgentState {
                agent,
                state,
                reason,
            } => {
                debug!(%agent, state = state.as_str(), ?reason, "agent state");
                if state != crate::acd::AgentState::WrapUp {
                    if let Some(uid) = wrapups.remove(&agent) {
                        ctx.events.send(Record::Call(CallEvent {
                            call: uid,
                            seq: crate::event::WRAPUP_SEQ,
                            at_ms: crate::event::now_ms(),
                            kind: EventKind::WrapupEnded {
                                agent: agent.clone(),
                            },
                        }));
                    }
                }
                let _ = ctx.agent_states.send(super::messages::AgentStateChange {
                    agent: agent.clone(),
                    state,
                    reason: reason.clone(),
                });
                ctx.events.send(Record::Agent(AgentEvent {
                    agent,
                    at_ms: crate::event::now_ms(),
                    state: state.as_str().to_string(),
                    reason,
                }));
            }
        }
    }
}
