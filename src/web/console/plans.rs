//! The dial plan in the console: its files, validation with file:line:column, a dry run at
//! any date, an atomic publish of a multi-file edit, the versions published (who, when, every
//! file) and a rollback to any of them. Files on disk stay the source of truth: the first
//! publish records what it found on disk as a version, so an edit made with git is kept.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{allow, api_error, audit, Caller};
use crate::dialplan::load::Diagnostic;
use crate::dialplan::store::PublishError;
use crate::media::prompt::Lang;
use crate::store::console as db;
use crate::web::session::Role;
use crate::web::Web;

#[derive(Deserialize, serde::Serialize, Clone)]
struct File {
    name: String,
    text: String,
}

#[derive(Deserialize)]
struct Files {
    files: Vec<File>,
    #[serde(default)]
    comment: String,
}

fn pairs(files: &[File]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|f| (f.name.clone(), f.text.clone()))
        .collect()
}

fn plan_name(web: &Web) -> String {
    web.ctx
        .plans
        .dir()
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "plan".into())
}

fn diagnostics(errors: &[Diagnostic]) -> serde_json::Value {
    errors
        .iter()
        .map(|d| {
            json!({
                "file": d.file.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default(),
                "line": d.line,
                "column": d.column,
                "message": d.message,
            })
        })
        .collect()
}

fn parse<T: serde::de::DeserializeOwned>(body: &Bytes, shape: &str) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| {
        api_error(
            StatusCode::BAD_REQUEST,
            format!("expected {shape} (JSON, UTF-8): {e}"),
        )
    })
}

/// GET /api/plan: the plan served now and its files on disk.
pub async fn current(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    if let Err(r) = allow(&web, &headers, Role::Supervisor, false).await {
        return r;
    }
    let plans = web.ctx.plans.clone();
    let files = tokio::task::spawn_blocking(move || plans.files()).await;
    let files = match files {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => {
            return api_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                e.first().map(|d| d.to_string()).unwrap_or_default(),
            )
        }
        Err(_) => return api_error(StatusCode::INTERNAL_SERVER_ERROR, "reading the plan failed"),
    };
    let plan = web.ctx.plans.current();
    axum::Json(json!({
        "name": plan_name(&web),
        "version": plan.as_ref().map(|p| p.version.clone()),
        "files": files.into_iter().map(|(name, text)| File { name, text }).collect::<Vec<_>>(),
    }))
    .into_response()
}

/// Targets of `[targets]` that nothing sends a caller to.
fn targets_never_reached(plan: &crate::dialplan::model::Plan) -> Vec<String> {
    use crate::dialplan::model::{NodeKind, Overflow};
    let mut used: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
    for node in &plan.nodes {
        if let NodeKind::Transfer { target, .. } = &node.kind {
            used.insert(target);
        }
    }
    for m in &plan.misdials {
        used.insert(&m.target);
    }
    if let Some(e) = &plan.emergency {
        used.insert(&e.target);
    }
    for q in plan.queues.values() {
        if let Some(Overflow::Target(t)) = &q.overflow {
            used.insert(t);
        }
    }
    plan.targets
        .keys()
        .filter(|t| !used.contains(t.as_str()))
        .cloned()
        .collect()
}

/// Validate; on success the warnings that save an afternoon.
fn check(web: &Web, files: &[(String, String)]) -> Result<Vec<String>, Vec<Diagnostic>> {
    let plan = web.ctx.plans.check(files, &*web.ctx.prompts.current())?;
    let mut warnings = Vec::new();
    let agents = crate::acd::agents::AgentsFile::load(&web.ctx.cfg.paths.agents)
        .map(|f| f.agents)
        .unwrap_or_default();
    for line in crate::server::acd_task::coverage_gaps(&plan, &agents, None) {
        warnings.push(format!(
            "no current agent can take callers of {line}: they would wait until they give up"
        ));
    }
    for id in crate::server::acd_task::agents_serving_nothing(&plan, &agents, None) {
        warnings.push(format!(
            "agent `{id}` can take no caller of this plan (no queue matches their skills and languages)"
        ));
    }
    for name in targets_never_reached(&plan) {
        warnings.push(format!(
            "target `{name}` is never reached: no node, misdial, overflow or emergency escape uses it"
        ));
    }
    let prompts = web.ctx.prompts.current();
    for id in prompts.catalog().ids() {
        let have: Vec<Lang> = Lang::ALL
            .into_iter()
            .filter(|l| prompts.get(id, *l).is_some())
            .collect();
        if have.len() == 1 {
            warnings.push(format!("prompt `{id}` is recorded in {} only", have[0]));
        }
    }
    Ok(warnings)
}

/// POST /api/plan/validate {files}: errors at their line, or the warnings.
pub async fn validate(State(web): State<Arc<Web>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = allow(&web, &headers, Role::Supervisor, true).await {
        return r;
    }
    let f: Files = match parse(&body, "{\"files\": [{\"name\", \"text\"}]}") {
        Ok(f) => f,
        Err(r) => return r,
    };
    let files = pairs(&f.files);
    let web2 = web.clone();
    match tokio::task::spawn_blocking(move || check(&web2, &files)).await {
        Ok(Ok(warnings)) => axum::Json(json!({"ok": true, "warnings": warnings})).into_response(),
        Ok(Err(errors)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(json!({"ok": false, "errors": diagnostics(&errors)})),
        )
            .into_response(),
        Err(_) => api_error(StatusCode::INTERNAL_SERVER_ERROR, "validation failed"),
    }
}

#[derive(Deserialize)]
struct DryRun {
    /// The files to try (default: the plan served now).
    #[serde(default)]
    files: Option<Vec<File>>,
    /// Local time `2027-04-17T18:59` (default: now).
    #[serde(default)]
    at: Option<String>,
    #[serde(default)]
    digits: String,
    #[serde(default)]
    to: Option<String>,
}

/// POST /api/plan/dry-run {files?, at?, digits, to?}: the path a call would take.
pub async fn dry_run(State(web): State<Arc<Web>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = allow(&web, &headers, Role::Supervisor, true).await {
        return r;
    }
    let d: DryRun = match parse(&body, "{\"at\", \"digits\", \"files\"?}") {
        Ok(d) => d,
        Err(r) => return r,
    };
    let plan = match &d.files {
        Some(files) => match web
            .ctx
            .plans
            .check(&pairs(files), &*web.ctx.prompts.current())
        {
            Ok(p) => Arc::new(p),
            Err(errors) => {
                return (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    axum::Json(json!({"ok": false, "errors": diagnostics(&errors)})),
                )
                    .into_response()
            }
        },
        None => match web.ctx.plans.current() {
            Some(p) => p,
            None => return api_error(StatusCode::SERVICE_UNAVAILABLE, "no plan is loaded"),
        },
    };
    let at = match d.at.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => web.ctx.wall_now(),
        Some(s) => match local_time(s) {
            Some(t) => t,
            None => {
                return api_error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("{s:?} is not a date-time like 2027-04-17T18:59"),
                )
            }
        },
    };
    let digits: Vec<char> = d
        .digits
        .chars()
        .filter(|c| c.is_ascii_digit() || matches!(c, '*' | '#'))
        .collect();
    let prompts = web.ctx.prompts.current();
    let text = move |id: &str, lang: Lang| prompts.catalog().text(id, lang).map(str::to_string);
    let to = d.to.unwrap_or_else(|| "311".into());
    let trace = crate::ivr::dry_run::run(plan, at, &to, &digits, &text);
    axum::Json(json!({"ok": true, "trace": trace.to_string()})).into_response()
}

pub(super) fn local_time(s: &str) -> Option<jiff::Timestamp> {
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Some(ts);
    }
    let dt: jiff::civil::DateTime = s.parse().ok()?;
    let tz = crate::dialplan::calendar::Calendar::default_time_zone();
    Some(dt.to_zoned(tz).ok()?.timestamp())
}

/// Publish `files`: record what is on disk first if no version was ever recorded, write and
/// swap in the plan, record the new version, audit it.
async fn publish_files(
    web: &Arc<Web>,
    caller: &Caller,
    files: Vec<(String, String)>,
    comment: String,
) -> Response {
    let Some(store) = web.ctx.db() else {
        return api_error(StatusCode::SERVICE_UNAVAILABLE, "no database");
    };
    let plan = plan_name(web);
    let now = crate::event::now_ms();
    let versions = match db::plan_versions(store, &plan).await {
        Ok(v) => v,
        Err(e) => return unavailable(e),
    };
    if versions.is_empty() {
        if let Ok(on_disk) = web.ctx.plans.files() {
            let json = serde_json::to_string(&on_disk).unwrap_or_default();
            if let Err(e) =
                db::add_plan_version(store, &plan, now, "(disk)", "as found on disk", &json).await
            {
                return unavailable(e);
            }
        }
    }
    let before = web.ctx.plans.current().map(|p| p.version.clone());
    let plans = web.ctx.plans.clone();
    let prompts = web.ctx.prompts.current();
    let to_write = files.clone();
    let result = tokio::task::spawn_blocking(move || plans.publish(&to_write, &*prompts)).await;
    let version = match result {
        Ok(Ok(v)) => v,
        Ok(Err(PublishError::Invalid(errors))) => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(json!({
                    "ok": false,
                    "error": "the plan has errors: nothing was published",
                    "errors": diagnostics(&errors),
                })),
            )
                .into_response()
        }
        Ok(Err(e)) => return api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(_) => return api_error(StatusCode::INTERNAL_SERVER_ERROR, "publish failed"),
    };
    let json = serde_json::to_string(&files).unwrap_or_default();
    let number =
        match db::add_plan_version(store, &plan, now, &caller.label(), &comment, &json).await {
            Ok(n) => n,
            Err(e) => return unavailable(e),
        };
    audit(
        web,
        caller,
        "plan published",
        &plan,
        before,
        Some(format!("version {number} ({version}): {comment}")),
    )
    .await;
    axum::Json(json!({"ok": true, "version": number, "plan_version": version})).into_response()
}

fn unavailable(e: sqlx::Error) -> Response {
    tracing::warn!(error = %e, "plan versions: database error");
    api_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the database does not answer",
    )
}

/// POST /api/plan/publish {files, comment} (admin).
pub async fn publish(State(web): State<Arc<Web>>, headers: HeaderMap, body: Bytes) -> Response {
    let caller = match allow(&web, &headers, Role::Admin, true).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let f: Files = match parse(&body, "{\"files\": [{\"name\", \"text\"}], \"comment\"}") {
        Ok(f) => f,
        Err(r) => return r,
    };
    let comment: String = f.comment.chars().take(500).collect();
    publish_files(&web, &caller, pairs(&f.files), comment).await
}

/// GET /api/plan/versions: newest first.
pub async fn versions(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    if let Err(r) = allow(&web, &headers, Role::Supervisor, false).await {
        return r;
    }
    let Some(store) = web.ctx.db() else {
        return api_error(StatusCode::SERVICE_UNAVAILABLE, "no database");
    };
    match db::plan_versions(store, &plan_name(&web)).await {
        Ok(v) => axum::Json(json!({ "versions": v })).into_response(),
        Err(e) => unavailable(e),
    }
}

async fn stored_files(web: &Web, version: i64) -> Result<Vec<(String, String)>, Response> {
    let Some(store) = web.ctx.db() else {
        return Err(api_error(StatusCode::SERVICE_UNAVAILABLE, "no database"));
    };
    match db::plan_version(store, &plan_name(web), version).await {
        Ok(Some(v)) => serde_json::from_str(&v.files).map_err(|_| {
            api_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "that version's files are unreadable",
            )
        }),
        Ok(None) => Err(api_error(
            StatusCode::NOT_FOUND,
            format!("no version {version}"),
        )),
        Err(e) => Err(unavailable(e)),
    }
}

/// GET /api/plan/versions/{version}: its files.
pub async fn version(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(version): Path<i64>,
) -> Response {
    if let Err(r) = allow(&web, &headers, Role::Supervisor, false).await {
        return r;
    }
    match stored_files(&web, version).await {
        Ok(files) => axum::Json(json!({
            "version": version,
            "files": files.into_iter().map(|(name, text)| File { name, text }).collect::<Vec<_>>(),
        }))
        .into_response(),
        Err(r) => r,
    }
}

/// POST /api/plan/rollback/{version} (admin): publish that version's files again.
pub async fn rollback(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(version): Path<i64>,
) -> Response {
    let caller = match allow(&web, &headers, Role::Admin, true).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match stored_files(&web, version).await {
        Ok(files) => {
            publish_files(
                &web,
                &caller,
                files,
                format!("rollback to version {version}"),
            )
            .await
        }
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct AnyPrompt;

    impl crate::dialplan::document::PromptLookup for AnyPrompt {
        fn has(&self, _id: &str, _lang: Lang) -> bool {
            true
        }
        fn text(&self, _id: &str, _lang: Lang) -> Option<String> {
            None
        }
    }

    fn quebec() -> crate::dialplan::model::Plan {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dialplans/quebec");
        crate::dialplan::load::load_dir(&dir, &AnyPrompt).expect("the shipped plan loads")
    }

    #[test]
    fn a_target_nothing_uses_and_an_agent_who_serves_no_queue_are_named() {
        let mut plan = quebec();
        assert!(targets_never_reached(&plan).is_empty(), "shipped plan");
        let mut spare = plan.targets.values().next().unwrap().clone();
        spare.name = "ancien_numero".into();
        plan.targets.insert("ancien_numero".into(), spare);
        assert_eq!(targets_never_reached(&plan), ["ancien_numero"]);
        let agents: crate::acd::agents::AgentsFile = toml::from_str(
            "[[agent]]\nid = \"marie\"\nusername = \"marie\"\nha1_md5 = \"x\"\nha1_sha256 = \"y\"\nskills = { fr = 5, general = 3 }\n\
             [[agent]]\nid = \"zoe\"\nusername = \"zoe\"\nha1_md5 = \"x\"\nha1_sha256 = \"y\"\nskills = { de = 5 }\n",
        )
        .unwrap();
        assert_eq!(
            crate::server::acd_task::agents_serving_nothing(&plan, &agents.agents, None),
            ["zoe"]
        );
    }
}
