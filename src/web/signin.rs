//! Signing in and out. Agents sign in with their agent id and the password their SIP phone
//! uses: the password is hashed as digest would (MD5 and SHA-256 of `username:realm:password`)
//! and compared, in constant time, with the hashes in agents.toml — no new secret is stored.
//! Unknown ids cost the same work as wrong passwords; failures are throttled per source address
//! and per id; no password, hash or cookie is ever logged.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, Form, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use tracing::{info, warn};

use super::session::{self, Principal};
use super::Web;
use crate::acd::agents::AgentsFile;
use crate::sip::digest::{self, Algorithm};

#[derive(Deserialize)]
pub struct SignIn {
    username: String,
    password: String,
}

#[derive(Deserialize)]
pub struct SignOut {
    #[serde(default)]
    pub csrf: String,
}

/// GET /agent: the desktop for a signed-in agent, else the sign-in form.
pub async fn agent_page(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    match web.agent(&headers) {
        Some((s, _)) => {
            let page = super::assets::AGENT_HTML.replace("{{csrf}}", &s.csrf);
            no_store(Html(page).into_response())
        }
        None => no_store(Html(super::assets::SIGNIN_HTML).into_response()),
    }
}

/// GET /agent/session: 200 while the agent's session lives, 401 once it expired or was
/// signed out (the desktop asks when its socket closes, to show the sign-in page).
pub async fn agent_session(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    match web.agent(&headers) {
        Some((_, agent)) => {
            no_store(axum::Json(serde_json::json!({ "agent": agent })).into_response())
        }
        None => no_store((StatusCode::UNAUTHORIZED, "session expired").into_response()),
    }
}

fn no_store(mut r: Response) -> Response {
    if let Ok(v) = "no-store".parse() {
        r.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    r
}

/// POST /agent/signin (form: username, password).
pub async fn agent_signin(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<SignIn>,
) -> Response {
    if !web.same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-site request refused").into_response();
    }
    let now = Instant::now();
    let id = f.username.trim().to_string();
    if let Some(wait) = web.sessions.throttled(peer.ip(), &id, now) {
        warn!(source = %peer.ip(), "agent sign-in throttled");
        let mut r = Redirect::to("/agent?error=throttled").into_response();
        if let Ok(v) = wait.to_string().parse() {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    let realm = web.ctx.cfg.sip.realm.clone();
    let path = web.ctx.cfg.paths.agents.clone();
    let password = f.password;
    let checked = tokio::task::spawn_blocking(move || verify(&path, &realm, &id, &password))
        .await
        .ok()
        .flatten();
    let id = f.username.trim().to_string();
    match checked {
        Some((agent, name)) => {
            let s = web.sessions.create(
                Principal::Agent {
                    id: agent.clone(),
                    name,
                },
                now,
            );
            info!(%agent, source = %peer.ip(), "agent signed in on the desktop");
            let mut r = Redirect::to("/agent").into_response();
            if let Ok(v) = session::set_cookie(&s, web.ttl).parse() {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        None => {
            web.sessions.failed(peer.ip(), &id, now);
            warn!(source = %peer.ip(), "agent sign-in refused");
            Redirect::to("/agent?error=credentials").into_response()
        }
    }
}

/// The agent's id and name when `password` is theirs (the same work whether the id exists).
fn verify(
    path: &std::path::Path,
    realm: &str,
    id: &str,
    password: &str,
) -> Option<(String, String)> {
    let file = AgentsFile::load(path).ok().unwrap_or_default();
    let agent = file.agents.iter().find(|a| a.id == id);
    let username = agent.map_or(id, |a| a.username.as_str());
    let md5 = digest::ha1(Algorithm::Md5, username, realm, password);
    let sha = digest::ha1(Algorithm::Sha256, username, realm, password);
    let agent = agent?;
    let ok = digest::ct_eq(md5.as_bytes(), agent.ha1(Algorithm::Md5).as_bytes())
        && digest::ct_eq(sha.as_bytes(), agent.ha1(Algorithm::Sha256).as_bytes());
    ok.then(|| (agent.id.clone(), agent.name.clone()))
}

/// POST /agent/signout (form: csrf): the session ends; the desktop's socket closes with it.
pub async fn signout(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Form(f): Form<SignOut>,
) -> Response {
    end_session(&web, &headers, &f.csrf, "/agent")
}

/// End the request's session (our own page's form, with its CSRF token) and go to `then`.
pub fn end_session(web: &Web, headers: &HeaderMap, csrf: &str, then: &str) -> Response {
    if let Some(s) = web.session(headers) {
        if !web.same_origin(headers) || !digest::ct_eq(csrf.as_bytes(), s.csrf.as_bytes()) {
            return (StatusCode::FORBIDDEN, "cross-site request refused").into_response();
        }
        web.sessions.remove(&s.token);
    }
    let mut r = Redirect::to(then).into_response();
    if let Ok(v) = session::clear_cookie().parse() {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}
