//! Callbacks waiting, in the console: per queue, their place, the number they will dial and
//! since when; a supervisor can cancel one (logged on the call that booked it, so a restart
//! does not bring it back).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{allow, api_error, audit};
use crate::server::messages::AcdCmd;
use crate::web::session::Role;
use crate::web::Web;

/// GET /api/callbacks
pub async fn list(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    if let Err(r) = allow(&web, &headers, Role::Supervisor, false).await {
        return r;
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    web.ctx.acd(AcdCmd::Snapshot(tx));
    let Ok(Ok(snap)) = tokio::time::timeout(std::time::Duration::from_secs(2), rx).await else {
        return api_error(StatusCode::SERVICE_UNAVAILABLE, "the ACD does not answer");
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    web.ctx.acd(AcdCmd::CallbackOrigins(tx));
    let origins = tokio::time::timeout(std::time::Duration::from_secs(2), rx)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let mut out = Vec::new();
    for q in &snap.queues {
        for (i, c) in q.calls.iter().enumerate() {
            if c.callback {
                out.push(json!({
                    "call": c.call,
                    "queue": q.name,
                    "position": i + 1,
                    "number": c.callback_number,
                    "waiting_s": c.waited_ms / 1000,
                    "language": c.lang,
                    "offered_to": c.offered_to,
                    "booked_by": origins.get(&c.call),
                    "tracking": origins.get(&c.call).map(|uid| crate::call::tracking::number(uid)),
                }));
            }
        }
    }
    axum::Json(json!({ "callbacks": out })).into_response()
}

/// DELETE /api/callbacks/{call}
pub async fn cancel(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(call): Path<u64>,
) -> Response {
    let caller = match allow(&web, &headers, Role::Supervisor, true).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    web.ctx.acd(AcdCmd::CancelCallback {
        call,
        by: caller.label(),
        reply: tx,
    });
    match tokio::time::timeout(std::time::Duration::from_secs(2), rx).await {
        Ok(Ok(true)) => {
            audit(
                &web,
                &caller,
                "callback cancelled",
                &call.to_string(),
                None,
                None,
            )
            .await;
            axum::Json(json!({ "cancelled": call })).into_response()
        }
        Ok(Ok(false)) => api_error(StatusCode::NOT_FOUND, format!("no callback {call} waiting")),
        _ => api_error(StatusCode::SERVICE_UNAVAILABLE, "the ACD does not answer"),
    }
}
