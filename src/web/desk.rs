//! The agent desktop's WebSocket: one per signed-in tab. It carries the agent's state both ways
//! (ready, pause with a reason, sign out ⇄ the ACD's state changes), offers with their screen
//! pop (the call's context plus the caller's recent calls from the log), the WebRTC offer and
//! answer, hang-ups, and the disposition after the call. While it is open the agent can be
//! reached there (the SIP driver's directory lists it next to the agent's phones); when it
//! drops, the agent is paused and a call being offered goes back to the front of the queue.
//!
//! Origin-checked at the upgrade; messages are size-limited JSON; a malformed one gets an
//! error message back and changes nothing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use super::session::Session;
use super::Web;
use crate::acd::{AgentState, Input};
use crate::event::{CallEvent, EventKind, Record, DISPOSITION_SEQ};
use crate::server::messages::{AcdCmd, DeskHandle, FromDesk, SipCmd, ToCall, ToDesk};

const MAX_MESSAGE: usize = 64 * 1024;

/// What the page sends.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum FromPage {
    Ready,
    Pause {
        reason: String,
    },
    Signout,
    Ringing {
        leg: String,
    },
    Answer {
        leg: String,
        sdp: String,
    },
    Reject {
        leg: String,
    },
    Hangup {
        leg: String,
    },
    Hold {
        leg: String,
        on: bool,
    },
    Transfer {
        leg: String,
        to: TransferDest,
    },
    /// Talk to a colleague first (the caller waits on hold): an attended transfer.
    Consult {
        leg: String,
        agent: String,
    },
    /// Hand the caller to the colleague being consulted.
    ConsultComplete {
        leg: String,
    },
    /// End the consultation; the caller is back with the agent.
    ConsultCancel {
        leg: String,
    },
    Disposition {
        call: String,
        code: String,
        #[serde(default)]
        note: String,
    },
}

/// Where the page sends a caller.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum TransferDest {
    Queue(String),
    Target(String),
    Agent(String),
}

/// GET /agent/ws: upgrade for a signed-in agent, from our own page only.
pub async fn upgrade(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let Some((session, agent)) = web.agent(&headers) else {
        return (StatusCode::UNAUTHORIZED, "sign in first").into_response();
    };
    if !web.same_origin(&headers) {
        warn!(%agent, "desktop socket from another origin refused");
        return (StatusCode::FORBIDDEN, "cross-site request refused").into_response();
    }
    ws.max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| run(web, session, agent, socket))
}

/// An offer the desktop holds: where its answers go.
struct Held {
    reply: mpsc::Sender<ToCall>,
    call: String,
}

/// The display state of an ACD state.
fn state_name(s: AgentState) -> &'static str {
    match s {
        AgentState::LoggedOut => "signed_out",
        AgentState::Available => "available",
        AgentState::Reserved | AgentState::Ringing => "ringing",
        AgentState::OnCall => "on_call",
        AgentState::WrapUp => "wrap_up",
        AgentState::Paused => "paused",
    }
}

async fn run(web: Arc<Web>, session: Session, agent: String, mut socket: WebSocket) {
    let ctx = web.ctx.clone();
    let (tx, mut rx) = mpsc::channel::<ToDesk>(64);
    // This socket's own channel, to say which desktop went away (not the session's others).
    let mine = tx.downgrade();
    let desk = DeskHandle {
        session: session.id,
        agent: agent.clone(),
        tx,
    };
    let mut states = ctx.agent_states.subscribe();
    let _ = ctx.sip.send(SipCmd::DeskOnline(desk));
    info!(%agent, session = session.id, "desktop connected");
    let (state, reason) = current_state(&web, &agent).await;
    // agents.toml (as the ACD task last loaded it) says whether this desktop answers by itself.
    let auto_answer = ctx.call.agents.auto_answer(&agent);
    let hello = json!({
        "type": "hello",
        "agent": agent,
        "name": match &session.who { super::session::Principal::Agent { name, .. } => name.clone(), _ => String::new() },
        "state": state,
        "reason": reason,
        "pause_reasons": ctx.cfg.web.pause_reasons,
        "transfer": transfer_choices(&ctx, &agent),
        "auto_answer": auto_answer,
    });
    let mut held: HashMap<String, Held> = HashMap::new();
    let mut alive = socket
        .send(Message::Text(hello.to_string().into()))
        .await
        .is_ok();
    let mut tick = tokio::time::interval(Duration::from_secs(15));
    let mut signed_out = false;
    while alive {
        tokio::select! {
            m = socket.recv() => match m {
                Some(Ok(Message::Text(t))) => {
                    let reply = on_page(&web, &agent, &t, &mut held, &mut signed_out).await;
                    if let Some(r) = reply {
                        alive = socket.send(Message::Text(r.to_string().into())).await.is_ok();
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => alive = false,
                Some(Ok(_)) => {}
            },
            d = rx.recv() => match d {
                Some(d) => {
                    let msg = to_page(&web, d, &mut held).await;
                    alive = socket.send(Message::Text(msg.to_string().into())).await.is_ok();
                }
                None => alive = false,
            },
            s = states.recv() => match s {
                Ok(c) if c.agent == agent => {
                    let msg = json!({"type": "state", "state": state_name(c.state), "reason": c.reason});
                    alive = socket.send(Message::Text(msg.to_string().into())).await.is_ok();
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    let (state, reason) = current_state(&web, &agent).await;
                    let msg = json!({"type": "state", "state": state, "reason": reason});
                    alive = socket.send(Message::Text(msg.to_string().into())).await.is_ok();
                }
                Err(_) => alive = false,
            },
            _ = tick.tick() => {
                // A session that expired or was signed out elsewhere closes its socket.
                if web.sessions.get(&session.token, Instant::now()).is_none() {
                    alive = false;
                }
            }
        }
    }
    // A call being offered here goes back to the front of its queue; the agent is paused
    // (unless they signed out) once no other desktop of theirs is open, so no new call is
    // offered to a desk that is gone.
    for (leg, h) in held {
        let _ = h.reply.try_send(ToCall::Desk {
            leg,
            msg: FromDesk::Gone,
        });
    }
    if let Some(tx) = mine.upgrade() {
        let _ = ctx.sip.send(SipCmd::DeskOffline {
            session: session.id,
            tx,
            pause: !signed_out,
        });
    }
    info!(%agent, session = session.id, "desktop disconnected");
}

/// The queues and plan targets an agent may send a caller to (the current plan's), and the
/// colleagues (agents.toml). Once answered, every target is reached by transfer, whatever its
/// kind before answering.
fn transfer_choices(ctx: &crate::server::Ctx, me: &str) -> serde_json::Value {
    let mut colleagues = ctx.call.agents.ids();
    colleagues.retain(|a| a != me);
    let Some(plan) = ctx.plans.current() else {
        return json!({"queues": [], "targets": [], "agents": colleagues});
    };
    let targets: Vec<serde_json::Value> = plan
        .targets
        .values()
        .map(|t| json!({"name": t.name, "label": t.label}))
        .collect();
    json!({"queues": plan.queues.keys().collect::<Vec<_>>(), "targets": targets, "agents": colleagues})
}

/// The agent's state now, from the ACD.
async fn current_state(web: &Web, agent: &str) -> (&'static str, Option<String>) {
    let (tx, rx) = oneshot::channel();
    web.ctx.acd(AcdCmd::Snapshot(tx));
    match tokio::time::timeout(Duration::from_secs(2), rx).await {
        Ok(Ok(snap)) => snap
            .agents
            .into_iter()
            .find(|a| a.id == agent)
            .map(|a| (state_name(a.state), a.reason))
            .unwrap_or(("signed_out", None)),
        _ => ("signed_out", None),
    }
}

/// Whether a desktop message parses (the fuzz target's entry; `on_page` does the rest).
#[doc(hidden)]
pub fn parse_page_message(text: &str) -> bool {
    serde_json::from_str::<FromPage>(text).is_ok()
}

async fn on_page(
    web: &Web,
    agent: &str,
    text: &str,
    held: &mut HashMap<String, Held>,
    signed_out: &mut bool,
) -> Option<serde_json::Value> {
    let msg: FromPage = match serde_json::from_str(text) {
        Ok(m) => m,
        Err(e) => {
            debug!(%agent, error = %e, "malformed desktop message");
            return Some(json!({"type": "error", "message": format!("malformed message: {e}")}));
        }
    };
    let ctx = &web.ctx;
    let input = |i: Input| ctx.acd(AcdCmd::Input(i));
    let to_call = |held: &HashMap<String, Held>, leg: &str, msg: FromDesk| match held.get(leg) {
        Some(h) => {
            let _ = h.reply.try_send(ToCall::Desk {
                leg: leg.to_string(),
                msg,
            });
            None
        }
        None => Some(json!({"type": "error", "message": "no such call"})),
    };
    match msg {
        FromPage::Ready => {
            *signed_out = false;
            let (state, _) = current_state(web, agent).await;
            let agent = agent.to_string();
            match state {
                "signed_out" => input(Input::AgentLogin { agent }),
                "paused" => input(Input::AgentResume { agent }),
                "wrap_up" => input(Input::WrapupDone { agent }),
                _ => {}
            }
            None
        }
        FromPage::Pause { reason } => {
            if !ctx.cfg.web.pause_reasons.contains(&reason) {
                return Some(json!({"type": "error", "message": "unknown pause reason"}));
            }
            input(Input::AgentPause {
                agent: agent.to_string(),
                reason,
            });
            None
        }
        FromPage::Signout => {
            *signed_out = true;
            input(Input::AgentLogout {
                agent: agent.to_string(),
            });
            None
        }
        FromPage::Ringing { leg } => to_call(held, &leg, FromDesk::Ringing),
        FromPage::Answer { leg, sdp } => {
            if sdp.len() > 32 * 1024 {
                return Some(json!({"type": "error", "message": "SDP too large"}));
            }
            to_call(held, &leg, FromDesk::Answer { sdp })
        }
        FromPage::Reject { leg } => to_call(held, &leg, FromDesk::Reject),
        FromPage::Hold { leg, on } => to_call(held, &leg, FromDesk::Hold(on)),
        FromPage::Transfer { leg, to } => {
            let to = match to {
                TransferDest::Queue(q) => crate::call::TransferTo::Queue(q),
                TransferDest::Target(t) => crate::call::TransferTo::Target(t),
                TransferDest::Agent(a) => crate::call::TransferTo::Agent(a),
            };
            to_call(held, &leg, FromDesk::Transfer(to))
        }
        FromPage::Consult { leg, agent: to } => {
            let to: String = to.trim().chars().take(64).collect();
            to_call(held, &leg, FromDesk::Consult(to))
        }
        FromPage::ConsultComplete { leg } => to_call(held, &leg, FromDesk::ConsultComplete),
        FromPage::ConsultCancel { leg } => to_call(held, &leg, FromDesk::ConsultCancel),
        FromPage::Hangup { leg } => to_call(held, &leg, FromDesk::Hangup),
        FromPage::Disposition { call, code, note } => {
            let code: String = code.trim().chars().take(80).collect();
            let note: String = note.trim().chars().take(2000).collect();
            if code.is_empty() {
                return Some(json!({"type": "error", "message": "a disposition needs a code"}));
            }
            // The disposition belongs to the call's own log (after its end, like wrap-up).
            ctx.events.send(Record::Call(CallEvent {
                call: call.clone(),
                seq: DISPOSITION_SEQ,
                at_ms: crate::event::now_ms(),
                kind: EventKind::Disposition {
                    agent: agent.to_string(),
                    code,
                    note,
                },
            }));
            held.retain(|_, h| h.call != call);
            input(Input::WrapupDone {
                agent: agent.to_string(),
            });
            None
        }
    }
}

async fn to_page(web: &Web, d: ToDesk, held: &mut HashMap<String, Held>) -> serde_json::Value {
    match d {
        ToDesk::Offer { leg, reply, pop } => {
            let history = super::history::recent(&web.ctx, &pop.caller, &pop.call).await;
            held.insert(
                leg.clone(),
                Held {
                    reply,
                    call: pop.call.clone(),
                },
            );
            json!({"type": "offer", "leg": leg, "pop": *pop, "history": history})
        }
        ToDesk::Sdp { leg, sdp } => json!({"type": "sdp", "leg": leg, "sdp": sdp}),
        ToDesk::Connected { leg } => json!({"type": "connected", "leg": leg}),
        ToDesk::Transfer { leg, status } => {
            json!({"type": "transfer", "leg": leg, "status": status})
        }
        ToDesk::Ended { leg, by } => {
            // Keep the call for its disposition; its leg no longer takes answers.
            if let Some(h) = held.get_mut(&leg) {
                let (tx, _) = mpsc::channel(1);
                h.reply = tx;
            }
            json!({"type": "ended", "leg": leg, "by": by})
        }
    }
}
