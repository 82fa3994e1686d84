//! Console users and API tokens: the `/api/users` and `/api/tokens` routes, and the
//! `centrale user` command (the first admin is made on the server's shell).

use std::io::BufRead;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{allow, api_error, audit, password, token_hash};
use crate::store::console as db;
use crate::store::Db;
use crate::web::session::{Principal, Role};
use crate::web::Web;

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// Hash a password off the runtime's threads (Argon2 takes tens of milliseconds).
async fn hash(password: String) -> Result<String, password::PasswordError> {
    let salt: [u8; 16] = {
        let b = crate::sip::random::Random::from_os().bytes32();
        let mut s = [0u8; 16];
        s.copy_from_slice(&b[..16]);
        s
    };
    tokio::task::spawn_blocking(move || password::hash(&password, salt))
        .await
        .unwrap_or_else(|e| Err(password::PasswordError::Hash(e.to_string())))
}

fn unavailable(e: sqlx::Error) -> Response {
    tracing::warn!(error = %e, "console users: database error");
    api_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the database does not answer",
    )
}

/// GET /api/users (admin).
pub async fn list(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    if let Err(r) = allow(&web, &headers, Role::Admin, false).await {
        return r;
    }
    let Some(store) = web.ctx.db() else {
        return api_error(StatusCode::SERVICE_UNAVAILABLE, "no database");
    };
    match db::users(store).await {
        Ok(u) => axum::Json(json!({ "users": u })).into_response(),
        Err(e) => unavailable(e),
    }
}

#[derive(Deserialize)]
struct PutUser {
    name: String,
    role: String,
    password: String,
}

/// POST /api/users (admin): add a user or reset their role and password. Their sessions end.
pub async fn put(State(web): State<Arc<Web>>, headers: HeaderMap, body: Bytes) -> Response {
    let caller = match allow(&web, &headers, Role::Admin, true).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let u: PutUser = match serde_json::from_slice(&body) {
        Ok(u) => u,
        Err(e) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                format!("expected {{\"name\", \"role\", \"password\"}}: {e}"),
            )
        }
    };
    if !valid_name(&u.name) {
        return api_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "a user name is 1 to 64 letters, digits, '.', '-' or '_'",
        );
    }
    if u.role != "admin" && u.role != "supervisor" {
        return api_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "role is admin or supervisor",
        );
    }
    let Some(store) = web.ctx.db() else {
        return api_error(StatusCode::SERVICE_UNAVAILABLE, "no database");
    };
    let before = db::user(store, &u.name).await.ok().flatten();
    let hashed = match hash(u.password).await {
        Ok(h) => h,
        Err(e) => return api_error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    };
    let user = db::User {
        name: u.name.clone(),
        role: u.role.clone(),
        password_hash: hashed,
        created_ms: crate::event::now_ms(),
    };
    if let Err(e) = db::put_user(store, &user).await {
        return unavailable(e);
    }
    web.sessions.remove_all(&Principal::User {
        name: u.name.clone(),
        role: super::role_of(&u.role),
    });
    audit(
        &web,
        &caller,
        if before.is_some() {
            "user changed (role, password)"
        } else {
            "user added"
        },
        &u.name,
        before.map(|b| format!("role {}", b.role)),
        Some(format!("role {}", u.role)),
    )
    .await;
    (
        StatusCode::OK,
        axum::Json(json!({"name": u.name, "role": u.role})),
    )
        .into_response()
}

/// DELETE /api/users/{name} (admin).
pub async fn remove(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    let caller = match allow(&web, &headers, Role::Admin, true).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if name == caller.name {
        return api_error(StatusCode::CONFLICT, "you cannot remove yourself");
    }
    let Some(store) = web.ctx.db() else {
        return api_error(StatusCode::SERVICE_UNAVAILABLE, "no database");
    };
    let before = db::user(store, &name).await.ok().flatten();
    match db::remove_user(store, &name).await {
        Ok(true) => {
            for role in [Role::Admin, Role::Supervisor] {
                web.sessions.remove_all(&Principal::User {
                    name: name.clone(),
                    role,
                });
            }
            audit(
                &web,
                &caller,
                "user removed",
                &name,
                before.map(|b| format!("role {}", b.role)),
                None,
            )
            .await;
            axum::Json(json!({ "removed": name })).into_response()
        }
        Ok(false) => api_error(StatusCode::NOT_FOUND, format!("no user {name}")),
        Err(e) => unavailable(e),
    }
}

#[derive(Deserialize)]
struct NewToken {
    #[serde(default)]
    label: String,
}

/// POST /api/tokens: a new API token for the caller, shown once.
pub async fn new_token(State(web): State<Arc<Web>>, headers: HeaderMap, body: Bytes) -> Response {
    let caller = match allow(&web, &headers, Role::Supervisor, true).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let label = serde_json::from_slice::<NewToken>(&body)
        .map(|t| t.label)
        .unwrap_or_default();
    let Some(store) = web.ctx.db() else {
        return api_error(StatusCode::SERVICE_UNAVAILABLE, "no database");
    };
    let token = hex::encode(crate::sip::random::Random::from_os().bytes32());
    let label: String = label.chars().take(100).collect();
    if let Err(e) = db::add_token(
        store,
        &token_hash(&token),
        &caller.name,
        &label,
        crate::event::now_ms(),
    )
    .await
    {
        return unavailable(e);
    }
    audit(
        &web,
        &caller,
        "API token created",
        &caller.name,
        None,
        Some(label),
    )
    .await;
    axum::Json(json!({ "token": token, "note": "shown once: keep it in a secret store" }))
        .into_response()
}

/// `centrale user …`
#[derive(clap::Args)]
pub struct UserArgs {
    #[command(subcommand)]
    cmd: UserCmd,
}

#[derive(clap::Subcommand)]
enum UserCmd {
    /// Add a console user or reset their role and password (read from stdin).
    Add {
        name: String,
        #[arg(long, value_parser = ["admin", "supervisor"])]
        role: String,
    },
    /// List console users.
    List,
    /// Remove a console user and their API tokens.
    Remove { name: String },
    /// Print a new API token for a user (for scripts and a Prometheus scrape).
    Token {
        name: String,
        #[arg(long, default_value = "")]
        label: String,
    },
}

/// Run `centrale user …` against the configured database.
pub async fn run_cli(database_url: &str, args: UserArgs) -> anyhow::Result<String> {
    let store = Db::open(database_url).await?;
    store.migrate().await?;
    let out = match args.cmd {
        UserCmd::Add { name, role } => {
            anyhow::ensure!(
                valid_name(&name),
                "a user name is 1 to 64 letters, digits, '.', '-' or '_'"
            );
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            let password = line.trim_end_matches(['\r', '\n']).to_string();
            let hashed = hash(password).await?;
            db::put_user(
                &store,
                &db::User {
                    name: name.clone(),
                    role: role.clone(),
                    password_hash: hashed,
                    created_ms: crate::event::now_ms(),
                },
            )
            .await?;
            let who = super::Caller {
                name: format!("{} (shell)", whoami()),
                role: Role::Admin,
                by_token: false,
            };
            let e = db::AuditEntry {
                at_ms: crate::event::now_ms(),
                who: who.label(),
                action: "user added or changed".into(),
                object: name.clone(),
                before: None,
                after: Some(format!("role {role}")),
            };
            db::audit(&store, &e, "cli").await?;
            format!("{name}: {role}")
        }
        UserCmd::List => db::users(&store)
            .await?
            .iter()
            .map(|u| format!("{}\t{}", u.name, u.role))
            .collect::<Vec<_>>()
            .join("\n"),
        UserCmd::Remove { name } => {
            anyhow::ensure!(db::remove_user(&store, &name).await?, "no user {name}");
            format!("{name} removed")
        }
        UserCmd::Token { name, label } => {
            anyhow::ensure!(db::user(&store, &name).await?.is_some(), "no user {name}");
            let token = hex::encode(crate::sip::random::Random::from_os().bytes32());
            db::add_token(
                &store,
                &token_hash(&token),
                &name,
                &label,
                crate::event::now_ms(),
            )
            .await?;
            token
        }
    };
    store.close().await;
    Ok(out)
}

fn whoami() -> String {
    std::env::var("USER").unwrap_or_else(|_| "root".into())
}
