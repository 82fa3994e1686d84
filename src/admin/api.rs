//! Routes of the admin API. JSON in, JSON out; errors are `{"error": "..."}` with a status.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;

use crate::acd::Input;
use crate::dialplan::store::Reload;
use crate::server::messages::AcdCmd;
use crate::server::Ctx;

pub type Reply = Response<Full<Bytes>>;

fn json(status: StatusCode, v: serde_json::Value) -> Reply {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        "application/json".parse().expect("static header"),
    );
    r
}

fn error(status: StatusCode, msg: &str) -> Reply {
    json(status, json!({ "error": msg }))
}

pub async fn handle(
    ctx: Arc<Ctx>,
    _peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Reply, Infallible> {
    let holder = match holder(&ctx, req.headers()).await {
        Ok(h) => h,
        Err(r) => return Ok(r),
    };
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    if needs_admin(&path) && !holder.admin {
        return Ok(error(StatusCode::FORBIDDEN, "this needs the admin role"));
    }
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let reply = route(&ctx, &method, &path, &body).await;
    if method != Method::GET && reply.status().is_success() {
        audit(&ctx, &holder.who, &path, &body).await;
    }
    Ok(reply)
}

/// Whether a route changes what only an admin may change. Read the way `route` reads paths
/// (empty segments ignored), so `/api//reload/` is the reload too.
pub fn needs_admin(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    parts == ["api", "reload"]
}

/// Who is calling the local listener.
struct Holder {
    /// For the audit log: `[admin] token`, or `NAME (API token)`.
    who: String,
    admin: bool,
}

/// Every route of the local listener needs a bearer token, even on loopback: `[admin] token`
/// (every right), or a console user's API token (`centrale user token NAME`; their role
/// applies — a supervisor reads and changes agent states, an admin also reloads).
async fn holder(ctx: &Ctx, headers: &hyper::HeaderMap) -> Result<Holder, Reply> {
    let Some(token) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
    else {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "send a token (Authorization: Bearer …): [admin] token, or a console user's \
             (`centrale user token NAME`)",
        ));
    };
    if let Some(admin) = &ctx.cfg.admin.token {
        if crate::sip::digest::ct_eq(token.as_bytes(), admin.value().as_bytes()) {
            return Ok(Holder {
                who: "[admin] token".into(),
                admin: true,
            });
        }
    }
    let Some(db) = ctx.db() else {
        return Err(error(StatusCode::UNAUTHORIZED, "unknown token"));
    };
    let sha = {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(token.as_bytes()))
    };
    match crate::store::console::token_user(db, &sha).await {
        Ok(Some(u)) => Ok(Holder {
            who: format!("{} (API token)", u.name),
            admin: u.role == "admin",
        }),
        Ok(None) => Err(error(StatusCode::UNAUTHORIZED, "unknown token")),
        Err(e) => {
            tracing::warn!(error = %e, "token lookup failed");
            Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database does not answer",
            ))
        }
    }
}

/// A change made through the local listener goes to the audit log like a console change.
async fn audit(ctx: &Ctx, who: &str, path: &str, body: &Bytes) {
    tracing::info!(%who, %path, "admin API change");
    let Some(db) = ctx.db() else {
        return;
    };
    let entry = crate::store::console::AuditEntry {
        at_ms: crate::event::now_ms(),
        who: who.to_string(),
        action: "api".into(),
        object: path.to_string(),
        before: None,
        after: Some(String::from_utf8_lossy(body).chars().take(500).collect()),
    };
    let seq = hex::encode(&crate::sip::random::Random::from_os().bytes32()[..6]);
    if let Err(e) = crate::store::console::audit(db, &entry, &seq).await {
        tracing::warn!(error = %e, "audit entry not written");
    }
}

pub async fn route(ctx: &Ctx, method: &Method, path: &str, body: &Bytes) -> Reply {
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match (method, parts.as_slice()) {
        (&Method::GET, ["api", "status"]) => status(ctx),
        (&Method::GET, ["api", "agents"]) | (&Method::GET, ["api", "queues"]) => {
            snapshot(ctx).await
        }
        (&Method::POST, ["api", "agents", id, action]) => agent_action(ctx, id, action, body),
        (&Method::POST, ["api", "reload"]) => reload(ctx).await,
        (&Method::GET, ["metrics"]) => metrics(ctx).await,
        _ => error(StatusCode::NOT_FOUND, "no such endpoint"),
    }
}

fn status(ctx: &Ctx) -> Reply {
    let plan = ctx.plans.current();
    json(
        StatusCode::OK,
        json!({
            "live_calls": ctx.stats.live_calls.load(Ordering::Relaxed),
            "calls_total": ctx.stats.calls_total.load(Ordering::Relaxed),
            "plan": plan.as_ref().map(|p| p.name.clone()),
            "plan_version": plan.as_ref().map(|p| p.version.clone()),
            "draining": ctx.draining.load(Ordering::Relaxed),
            "overloaded": ctx.overload_reason(),
        }),
    )
}

async fn snapshot(ctx: &Ctx) -> Reply {
    let Some(acd) = &ctx.acd else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "no ACD");
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    if acd.send(AcdCmd::Snapshot(tx)).is_err() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "ACD stopped");
    }
    match rx.await {
        Ok(s) => match serde_json::to_value(s) {
            Ok(v) => json(StatusCode::OK, v),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        },
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "ACD stopped"),
    }
}

fn agent_action(ctx: &Ctx, id: &str, action: &str, body: &Bytes) -> Reply {
    let Some(acd) = &ctx.acd else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "no ACD");
    };
    let agent = id.to_string();
    let input = match action {
        "login" => Input::AgentLogin { agent },
        "logout" => Input::AgentLogout { agent },
        "pause" => {
            let reason = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v.get("reason").and_then(|r| r.as_str()).map(str::to_string))
                .unwrap_or_else(|| "break".into());
            Input::AgentPause { agent, reason }
        }
        "resume" => Input::AgentResume { agent },
        "wrapup-done" => Input::WrapupDone { agent },
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                "action must be login, logout, pause, resume or wrapup-done",
            )
        }
    };
    if acd.send(AcdCmd::Input(input)).is_err() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "ACD stopped");
    }
    json(
        StatusCode::ACCEPTED,
        json!({ "agent": id, "action": action }),
    )
}

async fn reload(ctx: &Ctx) -> Reply {
    let plans = ctx.plans.clone();
    let prompts = ctx.prompts.current();
    let result = tokio::task::spawn_blocking(move || plans.reload(&*prompts)).await;
    match result {
        Ok(Reload::Loaded { version }) => json(StatusCode::OK, json!({ "version": version })),
        Ok(Reload::Unchanged) => json(StatusCode::OK, json!({ "unchanged": true })),
        Ok(Reload::Rejected { errors }) => json(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({
                "error": "the plan was rejected; the previous one keeps serving",
                "diagnostics": errors.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
            }),
        ),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "reload failed"),
    }
}

async fn metrics(ctx: &Ctx) -> Reply {
    let board = super::board::board(ctx).await;
    let s = &ctx.stats;
    let p = ctx.media.stats();
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, v: u64| {
        let _ = writeln!(out, "# HELP centrale_{name} {help}");
        let _ = writeln!(out, "# TYPE centrale_{name} {kind}");
        let _ = writeln!(out, "centrale_{name} {v}");
    };
    metric(
        "live_calls",
        "gauge",
        "Calls in progress.",
        s.live_calls.load(Ordering::Relaxed) as u64,
    );
    metric(
        "calls_total",
        "counter",
        "Calls received.",
        s.calls_total.load(Ordering::Relaxed),
    );
    metric(
        "calls_shed_total",
        "counter",
        "New calls refused with 503 (overload).",
        s.shed.load(Ordering::Relaxed),
    );
    metric(
        "invites_throttled_total",
        "counter",
        "New calls refused with 503 because their source address sent too many.",
        s.invites_throttled.load(Ordering::Relaxed),
    );
    metric(
        "sip_malformed_total",
        "counter",
        "Malformed SIP messages.",
        s.malformed.load(Ordering::Relaxed),
    );
    metric(
        "sip_transaction_timeouts_total",
        "counter",
        "Transactions that timed out.",
        s.tx_timeouts.load(Ordering::Relaxed),
    );
    metric(
        "sip_transactions",
        "gauge",
        "Live SIP transactions.",
        s.transactions.load(Ordering::Relaxed) as u64,
    );
    metric(
        "rtp_streams",
        "gauge",
        "Legs with media open.",
        p.streams as u64,
    );
    metric(
        "rtp_packets_sent_total",
        "counter",
        "RTP and RTCP packets sent (prompts, relayed audio, reports).",
        p.packets_sent,
    );
    metric(
        "rtp_packets_received_total",
        "counter",
        "Datagrams received on media sockets.",
        p.packets_received,
    );
    metric(
        "rtp_packets_relayed_total",
        "counter",
        "RTP packets relayed between bridged legs.",
        p.packets_relayed,
    );
    metric(
        "rtp_send_errors_total",
        "counter",
        "RTP sends that failed.",
        p.send_errors,
    );
    metric(
        "rtp_late_slots_total",
        "counter",
        "Media shard slots that started over 2 ms late.",
        p.late_slots,
    );
    metric(
        "media_shards",
        "gauge",
        "Media shard threads.",
        p.shards as u64,
    );
    metric(
        "media_shards_realtime",
        "gauge",
        "Media shards in the real-time scheduling class now (fewer than media_shards: refused, \
         disabled, or left while saturated).",
        p.realtime_shards as u64,
    );
    let w = &ctx.store_stats;
    for (name, help, v) in [
        (
            "store_written_total",
            "Call-log records written to the database.",
            &w.written,
        ),
        (
            "store_journaled_total",
            "Records spooled to the journal (database unavailable).",
            &w.journaled,
        ),
        (
            "store_replayed_total",
            "Journaled records replayed into the database.",
            &w.replayed,
        ),
        (
            "store_failures_total",
            "Failed or slow database writes (outages).",
            &w.failures,
        ),
        (
            "store_dead_letter_total",
            "Records the database rejected, set aside in the dead-letter file.",
            &w.dead_lettered,
        ),
    ] {
        let _ = writeln!(out, "# HELP centrale_{name} {help}");
        let _ = writeln!(out, "# TYPE centrale_{name} counter");
        let _ = writeln!(out, "centrale_{name} {}", v.load(Ordering::Relaxed));
    }
    if let Some(b) = board {
        queue_gauges(&mut out, &b);
    }
    ctx.trunks.metrics(&mut out);
    let mut r = Response::new(Full::new(Bytes::from(out)));
    r.headers_mut().insert(
        "content-type",
        "text/plain; version=0.0.4".parse().expect("static header"),
    );
    r
}

/// Per-queue gauges and today's figures, so a Grafana can draw the console's wallboard.
fn queue_gauges(out: &mut String, b: &super::board::Board) {
    type Get = fn(&super::board::QueueBoard) -> Option<f64>;
    let series: [(&str, &str, Get); 8] = [
        ("queue_waiting", "Callers waiting in the queue now.", |q| {
            Some(q.waiting as f64)
        }),
        (
            "queue_longest_wait_seconds",
            "The longest wait of a caller in the queue now.",
            |q| Some(q.longest_wait_s as f64),
        ),
        (
            "queue_agents_staffed",
            "Agents serving the queue, not paused.",
            |q| Some(f64::from(q.staffed)),
        ),
        (
            "queue_offered_today",
            "Calls offered to the queue since local midnight.",
            |q| Some(q.offered_today as f64),
        ),
        (
            "queue_answered_today",
            "Calls answered since local midnight.",
            |q| Some(q.answered_today as f64),
        ),
        (
            "queue_abandoned_today",
            "Abandons (short ones left out) since local midnight.",
            |q| Some(q.abandoned_today as f64),
        ),
        (
            "queue_service_level_today_percent",
            "Answered within the queue's threshold / (offered - short abandons), today.",
            |q| q.service_level_today_pct,
        ),
        (
            "queue_service_level_target_percent",
            "The queue's service-level target.",
            |q| Some(f64::from(q.target_pct)),
        ),
    ];
    for (name, help, get) in series {
        let _ = writeln!(out, "# HELP centrale_{name} {help}");
        let _ = writeln!(out, "# TYPE centrale_{name} gauge");
        for q in &b.queues {
            if let Some(v) = get(q) {
                let _ = writeln!(out, "centrale_{name}{{queue=\"{}\"}} {v}", label(&q.name));
            }
        }
    }
    let _ = writeln!(out, "# HELP centrale_agents Agents by state.");
    let _ = writeln!(out, "# TYPE centrale_agents gauge");
    for (state, n) in &b.agents_by_state {
        let _ = writeln!(out, "centrale_agents{{state=\"{state}\"}} {n}");
    }
}

/// A Prometheus label value: backslash, quote and newline escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
