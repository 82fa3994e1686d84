//! The task that drives the sans-IO ACD in the live server: inputs from call tasks, the
//! registrar, agents' feature codes and the admin API; decisions out to the call task that owns
//! each queued call; agent state changes into the event log; the season from the plan's
//! calendar; agents.toml reloads into both the ACD and the registrar.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use super::Ctx;
use crate::acd::agents::AgentsFile;
use crate::acd::{Acd, AcdConfig, CallId, Input, Output, Snapshot};
use crate::event::{AgentEvent, CallEvent, EventKind, Record};
use crate::sip::registrar::RegistrarEvent;

/// A decision for one queued call.
#[derive(Debug, Clone)]
pub enum ToQueued {
    Offer {
        agent: String,
    },
    CancelOffer {
        agent: String,
        reason: &'static str,
    },
    Announce(crate::acd::Announcement),
    /// The caller got back the place of an earlier call (`from`, its log id) that hung up.
    Resumed {
        from: String,
        held_ms: u64,
    },
    Overflow(crate::dialplan::model::Overflow),
    /// The ACD's view right after queueing (for the `queue_entered` event).
    Position(u32),
}

/// What the ACD task is asked.
pub enum AcdCmd {
    Input(Input),
    /// Queue a call and send its decisions to `to`.
    Queue {
        input: Input,
        to: mpsc::UnboundedSender<ToQueued>,
    },
    /// Send this call's decisions to `to` (a callback being dialled).
    Route {
        call: CallId,
        to: mpsc::UnboundedSender<ToQueued>,
    },
    /// The call task is gone; forget where to send.
    Forget(CallId),
    /// A callback to be dialled later by the callback task: its call log continues.
    CallbackLog {
        call: CallId,
        uid: String,
        next_seq: u32,
        queue: String,
        lang: String,
    },
    /// The agent's wrap-up for this call ends an event on the call's log.
    WrapupLog {
        agent: String,
        uid: String,
        next_seq: u32,
    },
    Snapshot(oneshot::Sender<Snapshot>),
}

pub type AcdHandle = mpsc::UnboundedSender<AcdCmd>;

/// Milliseconds on the server's (possibly offset) wall clock: the ACD's time.
pub fn acd_now(ctx: &Ctx) -> u64 {
    ctx.wall_now().as_millisecond().max(0) as u64
}

struct CallbackInfo {
    uid: String,
    next_seq: u32,
    queue: String,
    lang: String,
}

pub async fn run(ctx: Arc<Ctx>, mut rx: mpsc::UnboundedReceiver<AcdCmd>, agents_path: PathBuf) {
    let mut acd = Acd::new(AcdConfig::from_settings(
        ctx.cfg.acd.ring_timeout,
        ctx.cfg.acd.max_misses,
        ctx.cfg.acd.wrapup,
    ));
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
    let mut routes: HashMap<CallId, mpsc::UnboundedSender<ToQueued>> = HashMap::new();
    let mut callbacks: HashMap<CallId, CallbackInfo> = HashMap::new();
    let mut wrapups: HashMap<String, (String, u32)> = HashMap::new();
    let mut plan_version = String::new();
    let mut agents_stamp: Option<SystemTime> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let now = acd_now(&ctx);
        let wake = acd
            .poll_timeout()
            .map(|t| Duration::from_millis(t.saturating_sub(now)))
            .unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            cmd = rx.recv() => {
                let Some(cmd) = cmd else { return };
                let now = acd_now(&ctx);
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
                            let _ = to.send(ToQueued::Position(p));
                        }
                    }
                    AcdCmd::Route { call, to } => {
                        routes.insert(call, to);
                    }
                    AcdCmd::Forget(call) => {
                        routes.remove(&call);
                    }
                    AcdCmd::CallbackLog { call, uid, next_seq, queue, lang } => {
                        callbacks.insert(call, CallbackInfo { uid, next_seq, queue, lang });
                    }
                    AcdCmd::WrapupLog { agent, uid, next_seq } => {
                        wrapups.insert(agent, (uid, next_seq));
                    }
                    AcdCmd::Snapshot(reply) => {
                        let _ = reply.send(acd.snapshot(now));
                    }
                }
            }
            _ = tokio::time::sleep(wake) => {
                acd.handle_timeout(acd_now(&ctx));
            }
            _ = tick.tick() => {
                let now = acd_now(&ctx);
                // A new plan version may change queues; the calendar may change the season.
                if let Some(plan) = ctx.plans.current() {
                    if plan.version != plan_version {
                        plan_version = plan.version.clone();
                        let queues: Vec<_> = plan.queues.values().cloned().collect();
                        acd.set_queues(&queues, now);
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
                            // The registrar reports what this changes on its event channel.
                            if let Some(r) = &ctx.registrar {
                                r.set_accounts(file);
                            }
                        }
                        Err(e) => warn!("agents file rejected, keeping the previous one: {e}"),
                    }
                }
                if let Some(r) = &ctx.registrar {
                    // Expired bindings log their agents out ("no available but gone agents");
                    // the events arrive on the registrar's channel.
                    r.expire(std::time::Instant::now());
                }
            }
        }
        drain(&ctx, &mut acd, &mut routes, &mut callbacks, &mut wrapups);
    }
}

/// Registration changes become ACD inputs.
pub async fn forward_registrar(
    mut events: mpsc::UnboundedReceiver<RegistrarEvent>,
    acd: AcdHandle,
) {
    while let Some(e) = events.recv().await {
        let input = match e {
            RegistrarEvent::Registered { agent } => Input::AgentRegistered { agent },
            RegistrarEvent::Unregistered { agent, .. } => Input::AgentUnregistered { agent },
        };
        if acd.send(AcdCmd::Input(input)).is_err() {
            return;
        }
    }
}

fn drain(
    ctx: &Arc<Ctx>,
    acd: &mut Acd,
    routes: &mut HashMap<CallId, mpsc::UnboundedSender<ToQueued>>,
    callbacks: &mut HashMap<CallId, CallbackInfo>,
    wrapups: &mut HashMap<String, (String, u32)>,
) {
    let send = |routes: &HashMap<CallId, mpsc::UnboundedSender<ToQueued>>, call, msg| {
        if let Some(to) = routes.get(&call) {
            let _ = to.send(msg);
        }
    };
    while let Some(out) = acd.poll() {
        match out {
            Output::Offer { call, agent } => send(routes, call, ToQueued::Offer { agent }),
            Output::CancelOffer {
                call,
                agent,
                reason,
            } => send(
                routes,
                call,
                ToQueued::CancelOffer {
                    agent,
                    reason: reason.as_str(),
                },
            ),
            Output::Announce { call, info } => send(routes, call, ToQueued::Announce(info)),
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
                let msg = ToQueued::Resumed {
                    from: from_log,
                    held_ms,
                };
                send(routes, call, msg);
            }
            Output::Overflow { call, to } => send(routes, call, ToQueued::Overflow(to)),
            Output::DialCallback {
                call,
                agent,
                number,
            } => {
                let info = callbacks.remove(&call);
                let (uid, next_seq, queue, lang) = match info {
                    Some(i) => (i.uid, i.next_seq, i.queue, i.lang),
                    None => (
                        crate::event::new_call_uid(crate::event::now_ms()),
                        0,
                        String::new(),
                        "fr".into(),
                    ),
                };
                debug!(call, %agent, %number, "dialling a callback");
                super::callback::spawn(
                    ctx.clone(),
                    call,
                    agent,
                    number,
                    uid,
                    next_seq,
                    queue,
                    lang,
                );
            }
            Output::AgentState {
                agent,
                state,
                reason,
            } => {
                debug!(%agent, state = state.as_str(), ?reason, "agent state");
                if state != crate::acd::AgentState::WrapUp {
                    if let Some((uid, seq)) = wrapups.remove(&agent) {
                        ctx.events.send(Record::Call(CallEvent {
                            call: uid,
                            seq,
                            at_ms: crate::event::now_ms(),
                            kind: EventKind::WrapupEnded {
                                agent: agent.clone(),
                            },
                        }));
                    }
                }
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
