//! The admin and supervisor console: its page, its users' sign-in, and the JSON API under
//! `/api` that the page and scripts use (documented in docs/api.md).
//!
//! Every `/api` request is authenticated: a console session (cookie) or a per-user API token
//! (`Authorization: Bearer …`). A change (any method but GET) from a session must also carry
//! the session's CSRF token in `X-CSRF-Token` and come from our own origin; a token is not a
//! cookie, so a cross-site page cannot send it. Roles: supervisors see everything and change
//! agent states; admins also edit plans and users. Every change is written to the audit log.
//!
//! Owns: console authentication, roles, auditing, users and tokens. Never does: call logic, or
//! the plan's validation (that is `dialplan`; `plans` only asks it).
//!
//! Files: this one, `callbacks`, `password`, `plans`, `prompts`, `reports`, `roster`, `storm`, `voicemail`, `wallboard`, `users` (the `centrale user`
//! command).

// A refusal is the HTTP answer itself (axum's `Response`, ~128 bytes): returned by value on
// the cold path, as axum's own extractors do.
#![allow(clippy::result_large_err)]

mod callbacks;
mod password;
mod plans;
mod prompts;
mod reports;
mod roster;
mod storm;
pub mod users;
mod voicemail;
mod wallboard;

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Form, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::json;
use tracing::{info, warn};

use super::session::{self, Principal, Role};
use super::Web;
use crate::sip::digest;
use crate::store::console as db;

/// Who is calling the API, and how.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    pub role: Role,
    /// By an API token (no CSRF token needed), not a browser session.
    pub by_token: bool,
}

impl Caller {
    pub fn label(&self) -> String {
        if self.by_token {
            format!("{} (API token)", self.name)
        } else {
            self.name.clone()
        }
    }
}

pub fn routes() -> Router<Arc<Web>> {
    Router::new()
        .route("/console", get(page))
        .route("/console/signin", post(signin))
        .route("/console/signout", post(signout))
        .route("/api/me", get(me))
        .route("/api/audit", get(audit_log))
        .route("/api/users", get(users::list).post(users::put))
        .route("/api/users/{name}", axum::routing::delete(users::remove))
        .route("/api/tokens", post(users::new_token))
        .route("/api/plan", get(plans::current))
        .route("/api/plan/validate", post(plans::validate))
        .route("/api/plan/dry-run", post(plans::dry_run))
        .route("/api/plan/publish", post(plans::publish))
        .route("/api/plan/versions", get(plans::versions))
        .route("/api/plan/versions/{version}", get(plans::version))
        .route("/api/plan/rollback/{version}", post(plans::rollback))
        .route("/api/storm", get(storm::get).post(storm::switch))
        .route(
            "/api/storm/audio/{lang}",
            get(storm::listen).put(storm::upload),
        )
        .route("/api/prompts", get(prompts::list))
        .route(
            "/api/prompts/{id}/{lang}",
            get(prompts::listen).put(prompts::upload),
        )
        .route("/api/prompts/{id}/{lang}/rollback", post(prompts::rollback))
        .route("/api/voicemails", get(voicemail::list))
        .route("/api/voicemails/{call}/audio", get(voicemail::audio))
        .route("/api/voicemails/{call}/handled", post(voicemail::handled))
        .route("/api/report", get(reports::report))
        .route("/api/callbacks", get(callbacks::list))
        .route(
            "/api/callbacks/{call}",
            axum::routing::delete(callbacks::cancel),
        )
        .route("/api/roster", get(roster::list).post(roster::put))
        .route("/api/roster/{id}", axum::routing::delete(roster::remove))
        .route("/api/wallboard", get(wallboard::now))
        .route("/api/wallboard/events", get(wallboard::events))
        .route("/api/{*rest}", axum::routing::any(legacy))
        .route("/metrics", get(metrics))
}

pub fn api_error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": msg.into() }))).into_response()
}

/// The caller of an API request, or the answer refusing it. `change`: the request changes
/// something (CSRF and origin checked for sessions). `need`: the least role allowed.
pub async fn allow(
    web: &Web,
    headers: &HeaderMap,
    need: Role,
    change: bool,
) -> Result<Caller, Response> {
    let caller = if let Some(s) = web.session(headers) {
        let Principal::User { name, role } = &s.who else {
            return Err(api_error(
                StatusCode::FORBIDDEN,
                "agents use the desktop, not the console API",
            ));
        };
        if change {
            let csrf = headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !web.same_origin(headers) || !digest::ct_eq(csrf.as_bytes(), s.csrf.as_bytes()) {
                return Err(api_error(
                    StatusCode::FORBIDDEN,
                    "cross-site request refused (missing or wrong X-CSRF-Token)",
                ));
            }
        }
        Caller {
            name: name.clone(),
            role: *role,
            by_token: false,
        }
    } else if let Some(token) = bearer(headers) {
        let Some(store) = web.ctx.db() else {
            return Err(api_error(StatusCode::SERVICE_UNAVAILABLE, "no database"));
        };
        match db::token_user(store, &token_hash(token)).await {
            Ok(Some(u)) => Caller {
                name: u.name,
                role: role_of(&u.role),
                by_token: true,
            },
            Ok(None) => return Err(api_error(StatusCode::UNAUTHORIZED, "unknown API token")),
            Err(e) => {
                warn!(error = %e, "token lookup failed");
                return Err(api_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the database does not answer",
                ));
            }
        }
    } else {
        return Err(api_error(
            StatusCode::UNAUTHORIZED,
            "sign in to the console or send an API token (Authorization: Bearer …)",
        ));
    };
    if need == Role::Admin && caller.role != Role::Admin {
        return Err(api_error(
            StatusCode::FORBIDDEN,
            "this needs the admin role",
        ));
    }
    Ok(caller)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// API tokens are stored as their SHA-256 (they are 256 random bits: no salt or slow hash
/// needed, and a stolen table gives no usable token).
pub fn token_hash(token: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn role_of(s: &str) -> Role {
    if s == "admin" {
        Role::Admin
    } else {
        Role::Supervisor
    }
}

/// Append a change to the audit log (a failure is logged: the change itself is done).
pub async fn audit(
    web: &Web,
    who: &Caller,
    action: &str,
    object: &str,
    before: Option<String>,
    after: Option<String>,
) {
    info!(who = %who.name, action, object, "console change");
    let Some(store) = web.ctx.db() else {
        return;
    };
    let seq = hex::encode(&crate::sip::random::Random::from_os().bytes32()[..6]);
    let e = db::AuditEntry {
        at_ms: crate::event::now_ms(),
        who: who.label(),
        action: action.into(),
        object: object.into(),
        before,
        after,
    };
    if let Err(e) = db::audit(store, &e, &seq).await {
        warn!(error = %e, action, "audit entry not written");
    }
}

/// GET /console: the console for a signed-in user, else its sign-in form.
async fn page(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    let page = match web.session(&headers).map(|s| (s.who.clone(), s.csrf)) {
        Some((Principal::User { name, role }, csrf)) => super::assets::CONSOLE_HTML
            .replace("{{csrf}}", &csrf)
            .replace("{{user}}", &html_escape(&name))
            .replace(
                "{{role}}",
                if role == Role::Admin {
                    "admin"
                } else {
                    "supervisor"
                },
            ),
        _ => super::assets::CONSOLE_SIGNIN_HTML.to_string(),
    };
    let mut r = Html(page).into_response();
    if let Ok(v) = "no-store".parse() {
        r.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    r
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[derive(Deserialize)]
struct SignIn {
    username: String,
    password: String,
}

/// POST /console/signin (form: username, password). Failures are throttled per source and
/// per name, like the desktop's.
async fn signin(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<SignIn>,
) -> Response {
    if !web.same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-site request refused").into_response();
    }
    let now = Instant::now();
    let name = f.username.trim().to_string();
    if let Some(wait) = web.sessions.throttled(peer.ip(), &name, now) {
        warn!(source = %peer.ip(), "console sign-in throttled");
        let mut r = (
            StatusCode::TOO_MANY_REQUESTS,
            Redirect::to("/console?error=throttled"),
        )
            .into_response();
        if let Ok(v) = wait.to_string().parse() {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    let user = match web.ctx.db() {
        Some(store) => db::user(store, &name).await.ok().flatten(),
        None => None,
    };
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let password = f.password;
    let ok = tokio::task::spawn_blocking(move || password::verify(&password, stored.as_deref()))
        .await
        .unwrap_or(false);
    match user.filter(|_| ok) {
        Some(u) => {
            let s = web.sessions.create(
                Principal::User {
                    name: u.name.clone(),
                    role: role_of(&u.role),
                },
                now,
            );
            info!(user = %u.name, source = %peer.ip(), "console user signed in");
            let mut r = Redirect::to("/console").into_response();
            if let Ok(v) = session::set_cookie(&s, web.ttl).parse() {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        None => {
            web.sessions.failed(peer.ip(), &name, now);
            warn!(source = %peer.ip(), "console sign-in refused");
            Redirect::to("/console?error=credentials").into_response()
        }
    }
}

async fn signout(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Form(f): Form<super::signin::SignOut>,
) -> Response {
    super::signin::end_session(&web, &headers, &f.csrf, "/console")
}

/// GET /api/me: who the API sees.
async fn me(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    match allow(&web, &headers, Role::Supervisor, false).await {
        Ok(c) => axum::Json(json!({"name": c.name, "role": c.role, "by_token": c.by_token}))
            .into_response(),
        Err(r) => r,
    }
}

/// GET /api/audit?limit=N: the newest changes first.
async fn audit_log(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    if let Err(r) = allow(&web, &headers, Role::Supervisor, false).await {
        return r;
    }
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<i64>().ok())
        .unwrap_or(200)
        .clamp(1, 5000);
    let Some(store) = web.ctx.db() else {
        return api_error(StatusCode::SERVICE_UNAVAILABLE, "no database");
    };
    match db::audit_log(store, limit).await {
        Ok(v) => axum::Json(json!({ "entries": v })).into_response(),
        Err(e) => {
            warn!(error = %e, "audit log unreadable");
            api_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database does not answer",
            )
        }
    }
}

/// The admin API's routes (status, agents and queues, agent actions, reload) behind the
/// console's authentication: reading needs a supervisor, agent actions a supervisor, a
/// reload an admin; each change is audited.
async fn legacy(
    State(web): State<Arc<Web>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let change = method != Method::GET;
    let need = if crate::admin::api::needs_admin(uri.path()) {
        Role::Admin
    } else {
        Role::Supervisor
    };
    let caller = match allow(&web, &headers, need, change).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let reply = crate::admin::api::route(&web.ctx, &method, uri.path(), &body).await;
    if change && reply.status().is_success() {
        let after = String::from_utf8_lossy(&body).chars().take(500).collect();
        audit(&web, &caller, "api", uri.path(), None, Some(after)).await;
    }
    reply.map(axum::body::Body::new)
}

/// GET /metrics with a session or an API token (a Prometheus scrape sends the token).
async fn metrics(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    if let Err(r) = allow(&web, &headers, Role::Supervisor, false).await {
        return r;
    }
    crate::admin::api::route(&web.ctx, &Method::GET, "/metrics", &Bytes::new())
        .await
        .map(axum::body::Body::new)
}
