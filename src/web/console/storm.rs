//! The storm message in the console: upload and listen to its recording in each language,
//! switch it on (for every caller or chosen queues, with an optional end) and off. Each change
//! is kept in the database (a restart keeps it) and audited.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{allow, api_error, audit};
use crate::media::prompt::Lang;
use crate::storm::{self, Storm};
use crate::web::session::Role;
use crate::web::Web;

/// The largest recording upload (a 90 s WAV at 48 kHz 16-bit stereo is ~17 MB).
pub const MAX_UPLOAD: usize = 20 << 20;

fn view(web: &Web, s: &Storm) -> serde_json::Value {
    let now = web.ctx.wall_now().as_millisecond();
    json!({
        "on": s.on,
        "active": s.active(now),
        "queues": s.queues,
        "until_ms": s.until_ms,
        "by": s.by,
        "since_ms": s.since_ms,
        "recorded_ms": {"fr": s.recorded_ms[0], "en": s.recorded_ms[1]},
    })
}

fn summary(s: &Storm) -> String {
    let who = if s.queues.is_empty() {
        "every caller".to_string()
    } else {
        format!("queues {}", s.queues.join(", "))
    };
    match (s.on, s.until_ms) {
        (false, _) => "off".into(),
        (true, None) => format!("on for {who}"),
        (true, Some(u)) => format!("on for {who} until {u}"),
    }
}

async fn keep(web: &Web, s: Storm) -> Result<(), Response> {
    if let Some(store) = web.ctx.db() {
        if let Err(e) = storm::save(store, &s).await {
            tracing::warn!(error = %e, "storm message not saved");
            return Err(api_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database does not answer: nothing changed",
            ));
        }
    }
    web.ctx.storm.set(s);
    Ok(())
}

/// GET /api/storm
pub async fn get(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    if let Err(r) = allow(&web, &headers, Role::Supervisor, false).await {
        return r;
    }
    let mut v = view(&web, &web.ctx.storm.get());
    // The last 24 hours: who heard it, and how many of them hung up before reaching an agent
    // — from the call log (the server's clock may be offset: both clocks are covered).
    if let Some(db) = web.ctx.db() {
        let (a, b) = (web.ctx.wall_now().as_millisecond(), crate::event::now_ms());
        let (from, to) = (a.min(b) - 24 * 3600 * 1000, a.max(b) + 1);
        if let Ok(events) = crate::store::query::events_of_calls(db, from, to).await {
            let (heard, hung_up) = storm::hearers(&events);
            v["last_24h"] = json!({"heard": heard, "hung_up_before_an_agent": hung_up});
        }
    }
    axum::Json(v).into_response()
}

#[derive(Deserialize)]
struct Switch {
    on: bool,
    #[serde(default)]
    queues: Vec<String>,
    /// Local time `2027-01-15T12:00` or an RFC 3339 instant; empty: until switched off.
    #[serde(default)]
    until: Option<String>,
}

/// POST /api/storm {on, queues, until?}
pub async fn switch(State(web): State<Arc<Web>>, headers: HeaderMap, body: Bytes) -> Response {
    let caller = match allow(&web, &headers, Role::Supervisor, true).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let w: Switch = match serde_json::from_slice(&body) {
        Ok(w) => w,
        Err(e) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                format!("expected {{\"on\", \"queues\", \"until\"?}}: {e}"),
            )
        }
    };
    let before = web.ctx.storm.get();
    let mut s = (*before).clone();
    if w.on {
        if s.audio.iter().all(Option::is_none) {
            return api_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "record or upload the message first (French, English or both)",
            );
        }
        if let Some(plan) = web.ctx.plans.current() {
            if let Some(q) = w.queues.iter().find(|q| !plan.queues.contains_key(*q)) {
                return api_error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("no queue {q} in the plan served"),
                );
            }
        }
        s.until_ms = match w.until.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
            None => None,
            Some(u) => match super::plans::local_time(u) {
                Some(t) => Some(t.as_millisecond()),
                None => {
                    return api_error(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        format!("{u:?} is not a date-time like 2027-01-15T12:00"),
                    )
                }
            },
        };
        s.queues = w.queues;
    }
    s.on = w.on;
    s.by = caller.label();
    s.since_ms = web.ctx.wall_now().as_millisecond();
    let (b, a) = (summary(&before), summary(&s));
    if let Err(r) = keep(&web, s).await {
        return r;
    }
    audit(&web, &caller, "storm message", "storm", Some(b), Some(a)).await;
    axum::Json(view(&web, &web.ctx.storm.get())).into_response()
}

fn lang(l: &str) -> Result<Lang, Response> {
    l.parse::<Lang>()
        .map_err(|_| api_error(StatusCode::NOT_FOUND, "language is fr or en"))
}

/// An uploaded recording, read and checked (WAV of any rate: decodes, not silent, not too
/// long, at most `MAX_UPLOAD` bytes) to 8 kHz PCM — or the answer refusing it, with the reason.
/// Refused before reading a byte when the length is announced (browsers and curl announce it;
/// `Expect: 100-continue` then saves sending the file at all).
pub async fn read_recording(
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<Vec<i16>, Response> {
    let too_big = || {
        api_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("a recording is at most {} MB", MAX_UPLOAD >> 20),
        )
    };
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > MAX_UPLOAD as u64) {
        return Err(too_big());
    }
    let Ok(body) = axum::body::to_bytes(body, MAX_UPLOAD).await else {
        return Err(too_big());
    };
    match tokio::task::spawn_blocking(move || storm::check_recording(&body)).await {
        Ok(Ok(pcm)) => Ok(pcm),
        Ok(Err(e)) => Err(api_error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())),
        Err(_) => Err(api_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the recording is unreadable",
        )),
    }
}

/// PUT /api/storm/audio/{lang}: the body is the recording (WAV, any rate).
pub async fn upload(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(l): Path<String>,
    body: axum::body::Body,
) -> Response {
    let caller = match allow(&web, &headers, Role::Supervisor, true).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    // The body first (a refusal sent before it is read can reach the client as a reset).
    let pcm = match read_recording(&headers, body).await {
        Ok(pcm) => pcm,
        Err(r) => return r,
    };
    let lang = match lang(&l) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let seconds = pcm.len() as f64 / 8000.0;
    let mut s = (*web.ctx.storm.get()).clone();
    storm::set_audio(&mut s, lang, pcm, web.ctx.wall_now().as_millisecond());
    if let Err(r) = keep(&web, s).await {
        return r;
    }
    audit(
        &web,
        &caller,
        "storm message recorded",
        &format!("storm/{lang}"),
        None,
        Some(format!("{seconds:.1} s")),
    )
    .await;
    axum::Json(json!({"lang": lang.as_str(), "seconds": seconds})).into_response()
}

/// GET /api/storm/audio/{lang}: the recording as the caller hears it (8 kHz WAV).
pub async fn listen(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(l): Path<String>,
) -> Response {
    if let Err(r) = allow(&web, &headers, Role::Supervisor, false).await {
        return r;
    }
    let lang = match lang(&l) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let s = web.ctx.storm.get();
    let Some(p) = s.audio[usize::from(lang == Lang::En)].clone() else {
        return api_error(StatusCode::NOT_FOUND, format!("no {lang} recording"));
    };
    let wav = crate::media::wav::bytes(&p.pcm);
    ([(header::CONTENT_TYPE, "audio/wav")], wav).into_response()
}
