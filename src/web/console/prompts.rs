//! Recorded prompts in the console: every prompt id of `prompts.toml` with its text in French
//! and English, listening to what callers hear, uploading a new recording (WAV of any rate,
//! checked: it decodes, is not silent, not too long) that is in force for the next call
//! without a restart, and going back to the recording it replaced. Admins change any prompt;
//! supervisors replace the messages of recorded information lines (a plan entry number whose
//! node plays a message and hangs up, like INFO-déneigement) — the daily update — and listen to
//! the rest. Each shows when it was recorded. Every change is audited.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::storm::read_recording;
use super::{allow, api_error, audit};
use crate::media::prompt::Lang;
use crate::web::session::Role;
use crate::web::Web;

/// The prompts recorded information lines play: those of `hangup` nodes that a number of the
/// plan leads to directly.
fn info_line_prompts(web: &Web) -> std::collections::BTreeSet<String> {
    use crate::dialplan::model::NodeKind;
    let Some(plan) = web.ctx.plans.current() else {
        return Default::default();
    };
    plan.numbers
        .values()
        .filter_map(|&n| plan.node(n))
        .filter_map(|node| match &node.kind {
            NodeKind::Hangup { prompts, .. } => Some(prompts.iter().map(|p| p.id.clone())),
            _ => None,
        })
        .flatten()
        .collect()
}

/// When the file in force was written (UTC), if it exists.
fn recorded(web: &Web, id: &str, lang: Lang) -> Option<String> {
    let path = web
        .ctx
        .cfg
        .paths
        .prompts
        .join(lang.as_str())
        .join(format!("{id}.wav"));
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    let ts = jiff::Timestamp::try_from(modified).ok()?;
    Some(ts.strftime("%Y-%m-%d %H:%M UTC").to_string())
}

fn lang(l: &str) -> Result<Lang, Response> {
    l.parse::<Lang>()
        .map_err(|_| api_error(StatusCode::NOT_FOUND, "language is fr or en"))
}

/// A version stamp for a replaced file: the server's UTC time to the second.
fn stamp(web: &Web) -> String {
    web.ctx.wall_now().strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// GET /api/prompts: ids, texts, lengths and kept versions.
pub async fn list(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    if let Err(r) = allow(&web, &headers, Role::Supervisor, false).await {
        return r;
    }
    let set = web.ctx.prompts.current();
    let store = &web.ctx.prompts;
    let info = info_line_prompts(&web);
    let prompts: Vec<_> = set
        .catalog()
        .ids()
        .map(|id| {
            let one = |l: Lang| {
                json!({
                    "text": set.catalog().text(id, l),
                    "seconds": set.get(id, l).map(|p| p.duration().as_secs_f64()),
                    "versions": store.versions(id, l),
                    "recorded": recorded(&web, id, l),
                })
            };
            json!({"id": id, "info_line": info.contains(id), "fr": one(Lang::Fr), "en": one(Lang::En)})
        })
        .collect();
    axum::Json(json!({"version": store.version(), "prompts": prompts})).into_response()
}

/// GET /api/prompts/{id}/{lang}: the recording in force, as callers hear it (8 kHz WAV).
pub async fn listen(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path((id, l)): Path<(String, String)>,
) -> Response {
    if let Err(r) = allow(&web, &headers, Role::Supervisor, false).await {
        return r;
    }
    let lang = match lang(&l) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let Some(p) = web.ctx.prompts.current().get(&id, lang) else {
        return api_error(StatusCode::NOT_FOUND, format!("no prompt `{id}` in {lang}"));
    };
    let wav = crate::media::wav::bytes(&p.pcm);
    ([(header::CONTENT_TYPE, "audio/wav")], wav).into_response()
}

/// PUT /api/prompts/{id}/{lang}: the body is the new recording.
pub async fn upload(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path((id, l)): Path<(String, String)>,
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
    if caller.role != Role::Admin && !info_line_prompts(&web).contains(&id) {
        return api_error(
            StatusCode::FORBIDDEN,
            "supervisors replace the messages of information lines only; other prompts are for admins",
        );
    }
    let lang = match lang(&l) {
        Ok(l) => l,
        Err(r) => return r,
    };
    if !web.ctx.prompts.current().catalog().contains(&id) {
        return api_error(
            StatusCode::NOT_FOUND,
            format!("no prompt `{id}` in prompts.toml: add its text there first"),
        );
    }
    let seconds = pcm.len() as f64 / 8000.0;
    let before = web
        .ctx
        .prompts
        .current()
        .get(&id, lang)
        .map(|p| format!("{:.1} s", p.duration().as_secs_f64()));
    let st = stamp(&web);
    let web2 = web.clone();
    let id2 = id.clone();
    let done =
        tokio::task::spawn_blocking(move || web2.ctx.prompts.replace(&id2, lang, pcm, &st)).await;
    let version = match done {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(_) => return api_error(StatusCode::INTERNAL_SERVER_ERROR, "upload failed"),
    };
    tracing::info!(prompt = %id, %lang, seconds, version, "prompt replaced");
    audit(
        &web,
        &caller,
        "prompt recorded",
        &format!("prompt/{id}/{lang}"),
        before,
        Some(format!("{seconds:.1} s")),
    )
    .await;
    axum::Json(json!({"id": id, "lang": lang.as_str(), "seconds": seconds, "version": version}))
        .into_response()
}

/// POST /api/prompts/{id}/{lang}/rollback: the recording it replaced, back in force.
pub async fn rollback(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path((id, l)): Path<(String, String)>,
) -> Response {
    let caller = match allow(&web, &headers, Role::Admin, true).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let lang = match lang(&l) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let st = stamp(&web);
    let web2 = web.clone();
    let id2 = id.clone();
    let done =
        tokio::task::spawn_blocking(move || web2.ctx.prompts.rollback(&id2, lang, &st)).await;
    let version = match done {
        Ok(Ok(v)) => v,
        Ok(Err(e @ crate::media::prompt_store::PromptStoreError::NoVersion(..))) => {
            return api_error(StatusCode::NOT_FOUND, e.to_string())
        }
        Ok(Err(e)) => return api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(_) => return api_error(StatusCode::INTERNAL_SERVER_ERROR, "rollback failed"),
    };
    audit(
        &web,
        &caller,
        "prompt rolled back",
        &format!("prompt/{id}/{lang}"),
        None,
        Some(format!("set version {version}")),
    )
    .await;
    axum::Json(json!({"id": id, "lang": lang.as_str(), "version": version})).into_response()
}
