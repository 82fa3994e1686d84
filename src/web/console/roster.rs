//! The agents in the console: agents.toml as a list (never a password hash), add or change an
//! agent (skills, queues, seasons, wrap-up, a new password), remove one. The file stays the
//! source of truth: the ACD and the registrar reload it when it changes, as after
//! `centrale agent add`. Live states and the force sign-out/pause/resume actions are the
//! `/api/agents` routes.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{allow, api_error, audit};
use crate::acd::agents::{cmd_add, cmd_remove, AddArgs, AgentDef, AgentsFile};
use crate::web::session::Role;
use crate::web::Web;

/// One change to agents.toml at a time.
static FILE: Mutex<()> = Mutex::new(());

fn summary(a: &AgentDef) -> String {
    let skills: Vec<String> = a.skills.iter().map(|(s, l)| format!("{s}:{l}")).collect();
    format!(
        "skills {}; queues {}; seasons {}; wrap-up {}",
        skills.join(","),
        if a.queues.is_empty() {
            "*".into()
        } else {
            a.queues.join(",")
        },
        if a.seasons.is_empty() {
            "*".into()
        } else {
            a.seasons.join(",")
        },
        a.wrapup_s.map_or("default".into(), |w| format!("{w} s")),
    ) + if a.auto_answer { "; auto-answer" } else { "" }
}

/// GET /api/roster
pub async fn list(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    if let Err(r) = allow(&web, &headers, Role::Supervisor, false).await {
        return r;
    }
    match AgentsFile::load(&web.ctx.cfg.paths.agents) {
        Ok(f) => axum::Json(json!({ "agents": f.agents })).into_response(),
        Err(e) => api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[derive(Deserialize)]
struct Put {
    id: String,
    name: Option<String>,
    /// `fr:5,en:3,permis:4`
    skills: Option<String>,
    /// `q1,q2` or `*`
    queues: Option<String>,
    seasons: Option<String>,
    /// seconds or `default`
    wrapup: Option<String>,
    /// The desktop answers by itself; absent: unchanged.
    auto_answer: Option<bool>,
    /// SRTP toward the agent's phone over TLS: `mandatory`, `optional`, `off`, or `default`
    /// (`[sip] srtp`); absent: unchanged.
    srtp: Option<String>,
    /// A new password (required for a new agent); absent: unchanged.
    password: Option<String>,
}

/// POST /api/roster (admin): add or change an agent.
pub async fn put(State(web): State<Arc<Web>>, headers: HeaderMap, body: Bytes) -> Response {
    let caller = match allow(&web, &headers, Role::Admin, true).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let p: Put = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                format!("expected {{\"id\", \"skills\"?, \"queues\"?, \"seasons\"?, \"wrapup\"?, \"auto_answer\"?, \"srtp\"?, \"password\"?}}: {e}"),
            )
        }
    };
    if let Some(v) = p.srtp.as_deref() {
        if v != "default" && crate::media::srtp::SrtpPolicy::parse(v).is_none() {
            return api_error(
                StatusCode::BAD_REQUEST,
                format!("srtp: {v:?} is not mandatory, optional, off or default"),
            );
        }
    }
    let path = web.ctx.cfg.paths.agents.clone();
    let realm = web.ctx.cfg.sip.realm.clone();
    let id = p.id.clone();
    let result = tokio::task::spawn_blocking(move || {
        let _one = FILE.lock().unwrap_or_else(|e| e.into_inner());
        let before = AgentsFile::load(&path)
            .ok()
            .and_then(|f| f.get(&p.id).cloned());
        let args = AddArgs {
            id: p.id.clone(),
            name: p.name,
            username: None,
            skills: p.skills,
            queues: p.queues,
            wrapup: p.wrapup,
            seasons: p.seasons,
            auto_answer: p
                .auto_answer
                .map(|on| if on { "on" } else { "off" }.to_string()),
            srtp: p.srtp,
            keep_password: p.password.is_none(),
        };
        let mut password = std::io::Cursor::new(format!("{}\n", p.password.unwrap_or_default()));
        let out = cmd_add(&path, &realm, &args, &mut password)?;
        let after = AgentsFile::load(&path)?.get(&p.id).cloned();
        Ok::<_, crate::acd::agents::AgentsError>((out, before, after))
    })
    .await;
    match result {
        Ok(Ok((out, before, after))) => {
            audit(
                &web,
                &caller,
                if before.is_some() {
                    "agent changed"
                } else {
                    "agent added"
                },
                &id,
                before.as_ref().map(summary),
                after.as_ref().map(summary),
            )
            .await;
            axum::Json(json!({ "result": out, "agent": after })).into_response()
        }
        Ok(Err(e)) => api_error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        Err(_) => api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the agents file was not changed",
        ),
    }
}

/// DELETE /api/roster/{id} (admin).
pub async fn remove(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let caller = match allow(&web, &headers, Role::Admin, true).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let path = web.ctx.cfg.paths.agents.clone();
    let who = id.clone();
    let result = tokio::task::spawn_blocking(move || {
        let _one = FILE.lock().unwrap_or_else(|e| e.into_inner());
        let before = AgentsFile::load(&path)
            .ok()
            .and_then(|f| f.get(&who).cloned());
        cmd_remove(&path, &who).map(|out| (out, before))
    })
    .await;
    match result {
        Ok(Ok((out, before))) => {
            audit(
                &web,
                &caller,
                "agent removed",
                &id,
                before.as_ref().map(summary),
                None,
            )
            .await;
            axum::Json(json!({ "result": out })).into_response()
        }
        Ok(Err(e)) => api_error(StatusCode::NOT_FOUND, e.to_string()),
        Err(_) => api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the agents file was not changed",
        ),
    }
}
