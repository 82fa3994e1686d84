//! Issue 6 through the binary: `centrale simulate` on the shipped workloads and plans, `centrale
//! plan` (Erlang staffing, a what-if), and `centrale plan --from-log` on a call log written by
//! `centrale seed`, in SQLite and in PostgreSQL (`DATABASE_URL`; `scripts/test` starts one).
//! The arithmetic itself is tested in `src/sim/tests.rs` and `src/sim/erlang.rs`.

mod common;

use std::path::Path;

use common::centrale_cli;
use sqlx::{Connection, Executor};

/// The `total` line of a report CSV, as header → value.
fn csv_total(csv: &str) -> std::collections::HashMap<String, String> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("csv header").split(',').collect();
    let total = lines
        .find(|l| l.starts_with("total,"))
        .expect("a total line");
    header
        .iter()
        .map(|h| h.to_string())
        .zip(total.split(',').map(str::to_string))
        .collect()
}

fn num(m: &std::collections::HashMap<String, String>, k: &str) -> f64 {
    m.get(k)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{k} in {m:?}"))
}

#[test]
fn simulate_runs_the_shipped_centres_through_their_plans() {
    for (name, days, min_calls) in [("trois-rivieres", "21", 5_000.0), ("quebec", "14", 8_000.0)] {
        let workload = format!("workloads/{name}.toml");
        let plan = format!("dialplans/{name}");
        let args = [
            "simulate",
            "--workload",
            &workload,
            "--plan",
            &plan,
            "--days",
            days,
            "--seed",
            "7",
            "--format",
            "csv",
            "--quiet",
        ];
        let csv = centrale_cli(&args);
        let t = csv_total(&csv);
        let offered = num(&t, "offered");
        assert!(offered > min_calls, "{name}: {offered} offered\n{csv}");
        let answered = num(&t, "answered");
        assert!(answered > 0.8 * offered, "{name}: {answered} of {offered}");
        let sl = num(&t, "sl_pct");
        assert!((0.0..=100.0).contains(&sl), "{name}: SL {sl}");
        // Real agents answered: the agent section names them, with calls per agent-hour.
        assert!(csv.lines().any(|l| l.starts_with("agent,")), "{csv}");
        // Same seed, same figures, on any machine.
        assert_eq!(csv, centrale_cli(&args), "{name}: not reproducible");
    }
    // A chart for supervisors.
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("tr.html");
    let html_s = html.display().to_string();
    let msg = centrale_cli(&[
        "simulate",
        "--workload",
        "workloads/trois-rivieres.toml",
        "--plan",
        "dialplans/trois-rivieres",
        "--days",
        "14",
        "--format",
        "html",
        "--out",
        &html_s,
        "--quiet",
    ]);
    assert!(msg.contains("written to"), "{msg}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<svg"), "{page}");
}

#[test]
fn plan_staffs_for_the_target_and_answers_a_what_if() {
    let json = centrale_cli(&[
        "plan",
        "--workload",
        "workloads/trois-rivieres.toml",
        "--plan",
        "dialplans/trois-rivieres",
        "--season",
        "ete",
        "--target",
        "80/100",
        "--shrinkage",
        "0.3",
        "--no-sim",
        "--format",
        "json",
    ]);
    let p: serde_json::Value = serde_json::from_str(&json).unwrap();
    let needs = p["needs"].as_array().unwrap();
    assert!(!needs.is_empty());
    for n in needs {
        assert_eq!(n["season"], "ete");
        let agents = n["agents"].as_u64().unwrap();
        assert_eq!(Some(agents), n["erlang_agents"].as_u64());
        // Erlang C's own prediction for the staffing it chose meets the target.
        assert!(n["erlang_c"]["sl_pct"].as_f64().unwrap() >= 80.0, "{n}");
        let roster = n["roster"].as_u64().unwrap();
        assert_eq!(roster, (agents as f64 / 0.7).ceil() as u64, "{n}");
    }

    // What-if with the simulation: nine agents all summer, Erlang and simulated side by side.
    let table = centrale_cli(&[
        "plan",
        "--workload",
        "workloads/trois-rivieres.toml",
        "--plan",
        "dialplans/trois-rivieres",
        "--season",
        "ete",
        "--agents",
        "9",
        "--seed",
        "3",
        "--quiet",
    ]);
    assert!(table.contains("what-if: 9 agents on the phones"), "{table}");
    assert!(table.contains("summary"), "{table}");
}

/// A fresh PostgreSQL database for this test, next to `admin`'s; its URL.
async fn postgres_db(admin: &str, name: &str) -> String {
    sqlx::any::install_default_drivers();
    let mut c = sqlx::AnyConnection::connect(admin).await.unwrap();
    c.execute(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .await
    .unwrap();
    c.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .unwrap();
    c.close().await.unwrap();
    let (base, _) = admin.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

async fn drop_postgres_db(admin: &str, name: &str) {
    let mut c = sqlx::AnyConnection::connect(admin).await.unwrap();
    let _ = c
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .await;
}

/// Seed eight weeks of traffic, then plan from it; returns the workload it wrote.
fn plan_from_log(url: &str, dir: &Path, tag: &str) -> String {
    centrale_cli(&[
        "seed",
        "--database",
        url,
        "--calls",
        "12000",
        "--from",
        "2027-03-01",
        "--days",
        "56",
    ]);
    let written = dir.join(format!("from-log-{tag}.toml"));
    let written_s = written.display().to_string();
    let table = centrale_cli(&[
        "plan",
        "--from-log",
        "--weeks",
        "8",
        "--until",
        "2027-04-26",
        "--horizon",
        "7",
        "--database",
        url,
        "--write-workload",
        &written_s,
        "--no-sim",
    ]);
    assert!(table.contains("Erlang C staffing"), "{table}");
    let w = std::fs::read_to_string(&written).unwrap();
    // The estimate is itself a valid workload: simulate it.
    let csv = centrale_cli(&[
        "simulate",
        "--workload",
        &written_s,
        "--days",
        "7",
        "--format",
        "csv",
        "--quiet",
    ]);
    assert!(num(&csv_total(&csv), "offered") > 0.0, "{csv}");
    w
}

#[test]
fn plan_from_the_call_log_on_sqlite_and_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("log.db").display());
    let from_sqlite = plan_from_log(&sqlite, dir.path(), "sqlite");
    assert!(from_sqlite.contains("calls_per_day"), "{from_sqlite}");
    assert!(from_sqlite.contains("patience_mean_s"), "{from_sqlite}");

    let Some(admin) = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
    else {
        eprintln!("DATABASE_URL unset: PostgreSQL half skipped");
        return;
    };
    let name = format!("centrale_staffing_{}", std::process::id());
    let url = common::block_on(postgres_db(&admin, &name));
    let from_pg = plan_from_log(&url, dir.path(), "pg");
    common::block_on(drop_postgres_db(&admin, &name));
    // Same seeded traffic, same estimate, whichever database holds the log.
    assert_eq!(from_sqlite, from_pg);
}

/// `centrale plan … | head -1`: the reader is gone before the output comes; the command ends
/// quietly (no panic, success) rather than failing on the closed pipe.
#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_centrale"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "plan",
            "--workload",
            "workloads/quebec.toml",
            "--target",
            "80/100",
        ])
        .env_remove("DATABASE_URL")
        .env("CENTRALE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run centrale");
    // Close the read end at once: the plan takes a while to compute, so every write fails.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
}

/// A roster where nobody has the skills of some queues: the simulation says so, loudly, before
/// reporting those callers as unfinished.
#[test]
fn simulate_warns_of_queues_no_agent_can_serve() {
    let dir = tempfile::tempdir().expect("tempdir");
    let agents = dir.path().join("agents.toml");
    std::fs::write(
        &agents,
        format!(
            "[[agent]]\nid = \"solo\"\nusername = \"solo\"\nha1_md5 = \"{}\"\n\
             ha1_sha256 = \"{}\"\nskills = {{ fr = 5, general = 3 }}\n",
            "0".repeat(32),
            "0".repeat(64)
        ),
    )
    .expect("write agents");
    let agents = agents.display().to_string();
    let args = [
        "simulate",
        "--workload",
        "workloads/trois-rivieres.toml",
        "--plan",
        "dialplans/trois-rivieres",
        "--days",
        "7",
        "--agents",
        &agents,
        "--quiet",
    ];
    let out = centrale_cli(&args);
    assert!(
        out.contains("WARNING: no agent can ever take callers of queue `general` in en"),
        "{out}"
    );
    // The shipped roster covers every queue: no warning.
    let out = centrale_cli(&[&args[..7], &["--quiet"]].concat());
    assert!(!out.contains("WARNING"), "{out}");
}
