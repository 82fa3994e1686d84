//! Voice messages in the console: those left in the last days (caller, when, language, length,
//! the tracking number they heard), listening to one, and marking it handled — written on the
//! message's call in the log, so every supervisor sees it and it survives a restart.
//!
//! Owns: reading messages back from the call log and serving their files (only files the log
//! names, inside the recordings directory). Never does: recording (the call does).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{allow, api_error, audit};
use crate::event::{CallEvent, EventKind, Record};
use crate::web::session::Role;
use crate::web::Web;

#[derive(Deserialize)]
pub struct Days {
    days: Option<i64>,
}

/// One message, from its call's events.
struct Message {
    call: String,
    at_ms: i64,
    from: String,
    lang: Option<String>,
    file: String,
    seconds: u32,
    handled: Option<(String, i64)>,
}

fn messages(events: &[CallEvent]) -> Vec<Message> {
    let mut by_call: std::collections::BTreeMap<&str, Vec<&CallEvent>> = Default::default();
    for e in events {
        by_call.entry(&e.call).or_default().push(e);
    }
    let mut out = Vec::new();
    for (call, evs) in by_call {
        let Some((file, seconds, at_ms)) = evs.iter().find_map(|e| match &e.kind {
            EventKind::Recorded { file, seconds } => Some((file.clone(), *seconds, e.at_ms)),
            _ => None,
        }) else {
            continue;
        };
        let from = evs
            .iter()
            .find_map(|e| match &e.kind {
                EventKind::CallStarted { from, .. } => Some(from.clone()),
                _ => None,
            })
            .unwrap_or_default();
        let lang = evs.iter().find_map(|e| match &e.kind {
            EventKind::LanguageChosen { lang } => Some(lang.clone()),
            _ => None,
        });
        let handled = evs.iter().find_map(|e| match &e.kind {
            EventKind::VoicemailHandled { by } => Some((by.clone(), e.at_ms)),
            _ => None,
        });
        out.push(Message {
            call: call.to_string(),
            at_ms,
            from,
            lang,
            file,
            seconds,
            handled,
        });
    }
    out.sort_by_key(|m| std::cmp::Reverse(m.at_ms));
    out
}

async fn load(web: &Web, days: i64) -> Result<Vec<Message>, Response> {
    let Some(db) = web.ctx.db() else {
        return Err(api_error(StatusCode::SERVICE_UNAVAILABLE, "no call log"));
    };
    // The server's clock may be offset (tests, demos): cover both it and the real one.
    let (a, b) = (web.ctx.wall_now().as_millisecond(), crate::event::now_ms());
    let from = a.min(b) - days.clamp(1, 90) * 24 * 3600 * 1000;
    let to = a.max(b) + 24 * 3600 * 1000;
    match crate::store::query::events_of_calls(db, from, to).await {
        Ok(events) => Ok(messages(&events)),
        Err(e) => {
            tracing::warn!(error = %e, "voice messages: call log not read");
            Err(api_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the call log cannot be read now",
            ))
        }
    }
}

/// GET /api/voicemails?days=7
pub async fn list(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Query(q): Query<Days>,
) -> Response {
    if let Err(r) = allow(&web, &headers, Role::Supervisor, false).await {
        return r;
    }
    let msgs = match load(&web, q.days.unwrap_or(7)).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let rows: Vec<_> = msgs
        .iter()
        .map(|m| {
            json!({
                "call": m.call,
                "at_ms": m.at_ms,
                "from": m.from,
                "language": m.lang,
                "seconds": m.seconds,
                "tracking": crate::call::tracking::number(&m.call),
                "handled_by": m.handled.as_ref().map(|h| h.0.clone()),
                "handled_ms": m.handled.as_ref().map(|h| h.1),
            })
        })
        .collect();
    axum::Json(json!({ "voicemails": rows })).into_response()
}

async fn find(web: &Web, call: &str) -> Result<Message, Response> {
    let Some(db) = web.ctx.db() else {
        return Err(api_error(StatusCode::SERVICE_UNAVAILABLE, "no call log"));
    };
    let events = crate::store::query::events(db, call).await.map_err(|_| {
        api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the call log cannot be read now",
        )
    })?;
    messages(&events)
        .into_iter()
        .next()
        .ok_or_else(|| api_error(StatusCode::NOT_FOUND, "no voice message on this call"))
}

/// GET /api/voicemails/{call}/audio: the message (WAV), only a file the log names inside the
/// recordings directory.
pub async fn audio(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(call): Path<String>,
) -> Response {
    if let Err(r) = allow(&web, &headers, Role::Supervisor, false).await {
        return r;
    }
    let m = match find(&web, &call).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let dir = std::fs::canonicalize(&web.ctx.cfg.paths.recordings).ok();
    let file = std::fs::canonicalize(&m.file).ok();
    let (Some(dir), Some(file)) = (dir, file) else {
        return api_error(StatusCode::NOT_FOUND, "the recording file is gone");
    };
    if !file.starts_with(&dir) {
        return api_error(StatusCode::NOT_FOUND, "the recording file is gone");
    }
    match tokio::fs::read(&file).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, "audio/wav")], bytes).into_response(),
        Err(_) => api_error(StatusCode::NOT_FOUND, "the recording file is gone"),
    }
}

/// POST /api/voicemails/{call}/handled
pub async fn handled(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(call): Path<String>,
) -> Response {
    let caller = match allow(&web, &headers, Role::Supervisor, true).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let m = match find(&web, &call).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    if let Some((by, _)) = m.handled {
        return api_error(StatusCode::CONFLICT, format!("already handled by {by}"));
    }
    web.ctx.events.send(Record::Call(CallEvent {
        call: call.clone(),
        seq: crate::event::VOICEMAIL_HANDLED_SEQ,
        at_ms: web.ctx.wall_now().as_millisecond(),
        kind: EventKind::VoicemailHandled {
            by: caller.name.clone(),
        },
    }));
    audit(
        &web,
        &caller,
        "voice message handled",
        &format!("call/{call}"),
        None,
        None,
    )
    .await;
    axum::Json(json!({"call": call, "handled_by": caller.name})).into_response()
}
