//! The console's tables (migration 0005): console users and their API tokens, the audit log,
//! and the published versions of the dial plan.
//!
//! Owns: the SQL for those tables. Never does: hash passwords or decide who may do what (that
//! is `web::console`), or touch the plan files on disk (`dialplan::store`).

use serde::Serialize;
use sqlx::Row;

use super::Db;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub name: String,
    pub role: String,
    #[serde(skip)]
    pub password_hash: String,
    pub created_ms: i64,
}

pub async fn user(db: &Db, name: &str) -> Result<Option<User>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT name, role, password_hash, created_ms FROM console_users WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|r| user_of(&r)).transpose()
}

fn user_of(r: &sqlx::any::AnyRow) -> Result<User, sqlx::Error> {
    Ok(User {
        name: r.try_get(0)?,
        role: r.try_get(1)?,
        password_hash: r.try_get(2)?,
        created_ms: r.try_get(3)?,
    })
}

pub async fn users(db: &Db) -> Result<Vec<User>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT name, role, password_hash, created_ms FROM console_users ORDER BY name",
    )
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(user_of).collect()
}

/// Add a user or replace their role and password.
pub async fn put_user(db: &Db, u: &User) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO console_users (name, role, password_hash, created_ms) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (name) DO UPDATE SET role = excluded.role, password_hash = excluded.password_hash",
    )
    .bind(&u.name)
    .bind(&u.role)
    .bind(&u.password_hash)
    .bind(u.created_ms)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Remove a user and their tokens; false if there was no such user.
pub async fn remove_user(db: &Db, name: &str) -> Result<bool, sqlx::Error> {
    sqlx::query("DELETE FROM api_tokens WHERE user_name = $1")
        .bind(name)
        .execute(&db.pool)
        .await?;
    let r = sqlx::query("DELETE FROM console_users WHERE name = $1")
        .bind(name)
        .execute(&db.pool)
        .await?;
    Ok(r.rows_affected() > 0)
}

pub async fn add_token(
    db: &Db,
    sha256: &str,
    user: &str,
    label: &str,
    now_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO api_tokens (token_sha256, user_name, label, created_ms) VALUES ($1, $2, $3, $4)",
    )
    .bind(sha256)
    .bind(user)
    .bind(label)
    .bind(now_ms)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The user a token (by its SHA-256) belongs to.
pub async fn token_user(db: &Db, sha256: &str) -> Result<Option<User>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT u.name, u.role, u.password_hash, u.created_ms FROM api_tokens t \
         JOIN console_users u ON u.name = t.user_name WHERE t.token_sha256 = $1",
    )
    .bind(sha256)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|r| user_of(&r)).transpose()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub at_ms: i64,
    pub who: String,
    pub action: String,
    pub object: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// Append to the audit log; `seq` tells apart two entries of the same millisecond.
pub async fn audit(db: &Db, e: &AuditEntry, seq: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (at_ms, seq, who, action, object, before_text, after_text) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(e.at_ms)
    .bind(seq)
    .bind(&e.who)
    .bind(&e.action)
    .bind(&e.object)
    .bind(&e.before)
    .bind(&e.after)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The newest `limit` audit entries, newest first.
pub async fn audit_log(db: &Db, limit: i64) -> Result<Vec<AuditEntry>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT at_ms, who, action, object, before_text, after_text FROM audit_log \
         ORDER BY at_ms DESC, seq DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(AuditEntry {
                at_ms: r.try_get(0)?,
                who: r.try_get(1)?,
                action: r.try_get(2)?,
                object: r.try_get(3)?,
                before: r.try_get(4)?,
                after: r.try_get(5)?,
            })
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanVersion {
    pub version: i64,
    pub at_ms: i64,
    pub who: String,
    pub comment: String,
    /// `[[name, text], …]` as JSON (left out of listings).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub files: String,
}

/// Record a published version; its number is one more than the last (a concurrent publish
/// that took the same number fails on the primary key and is refused, never merged).
pub async fn add_plan_version(
    db: &Db,
    plan: &str,
    at_ms: i64,
    who: &str,
    comment: &str,
    files: &str,
) -> Result<i64, sqlx::Error> {
    let last: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM plan_versions WHERE plan = $1")
            .bind(plan)
            .fetch_one(&db.pool)
            .await?;
    let version = last.unwrap_or(0) + 1;
    sqlx::query(
        "INSERT INTO plan_versions (plan, version, at_ms, who, comment, files) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(plan)
    .bind(version)
    .bind(at_ms)
    .bind(who)
    .bind(comment)
    .bind(files)
    .execute(&db.pool)
    .await?;
    Ok(version)
}

/// Every version of a plan, newest first, without their files.
pub async fn plan_versions(db: &Db, plan: &str) -> Result<Vec<PlanVersion>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT version, at_ms, who, comment FROM plan_versions WHERE plan = $1 \
         ORDER BY version DESC",
    )
    .bind(plan)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(PlanVersion {
                version: r.try_get(0)?,
                at_ms: r.try_get(1)?,
                who: r.try_get(2)?,
                comment: r.try_get(3)?,
                files: String::new(),
            })
        })
        .collect()
}

pub async fn plan_version(
    db: &Db,
    plan: &str,
    version: i64,
) -> Result<Option<PlanVersion>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT version, at_ms, who, comment, files FROM plan_versions \
         WHERE plan = $1 AND version = $2",
    )
    .bind(plan)
    .bind(version)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|r| {
        Ok(PlanVersion {
            version: r.try_get(0)?,
            at_ms: r.try_get(1)?,
            who: r.try_get(2)?,
            comment: r.try_get(3)?,
            files: r.try_get(4)?,
        })
    })
    .transpose()
}
