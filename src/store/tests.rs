//! Store integration tests against real databases: SQLite on a temporary file, and PostgreSQL
//! at `$DATABASE_URL` in a database created for the test and dropped after it (tests that need
//! PostgreSQL say so and pass vacuously when `DATABASE_URL` is unset; `scripts/test` sets it).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::{Connection, Executor};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::event::{AgentEvent, EventKind, Record};
use crate::report::cdr::tests::{answered_call, Script};
use crate::report::cdr::{summarize, CallRow};
use crate::report::interval::Bucket;
use crate::report::metrics::{Params, Tally};
use crate::report::{self, Format, ReportArgs};

/// A database for one test.
struct TestDb {
    url: String,
    /// PostgreSQL: admin URL and database name to drop.
    pg: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("log.db").display());
        TestDb {
            url,
            pg: None,
            _dir: Some(dir),
        }
    }

    async fn postgres() -> Option<TestDb> {
        let admin = std::env::var("DATABASE_URL").ok()?;
        if !admin.starts_with("postgres") {
            return None;
        }
        sqlx::any::install_default_drivers();
        let name = format!(
            "centrale_t_{}_{:08x}",
            std::process::id(),
            rand::random::<u32>()
        );
        let mut c = sqlx::AnyConnection::connect(&admin).await.unwrap();
        c.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .unwrap();
        c.close().await.unwrap();
        Some(TestDb {
            url: with_database(&admin, &name),
            pg: Some((admin, name)),
            _dir: None,
        })
    }

    async fn drop_db(self) {
        if let Some((admin, name)) = &self.pg {
            let mut c = sqlx::AnyConnection::connect(admin).await.unwrap();
            c.execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .await
            .unwrap();
        }
    }
}

/// The same URL pointing at another database.
fn with_database(url: &str, name: &str) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    format!("{}/{name}{query}", &base[..host_end])
}

/// SQLite always, PostgreSQL when `DATABASE_URL` names one.
async fn backends() -> Vec<TestDb> {
    let mut v = vec![TestDb::sqlite()];
    match TestDb::postgres().await {
        Some(pg) => v.push(pg),
        None => eprintln!("DATABASE_URL unset: PostgreSQL half of the test skipped"),
    }
    v
}

fn calls_of(scripts: &[Script]) -> Vec<Record> {
    scripts
        .iter()
        .flat_map(|s| s.events.iter().cloned().map(Record::Call))
        .collect()
}

fn opts(url: &str, journal: &std::path::Path) -> StoreOptions {
    StoreOptions {
        url: url.into(),
        journal_dir: journal.into(),
        writer: WriterConfig {
            batch: Duration::from_millis(50),
            retry: Duration::from_millis(200),
            ..WriterConfig::default()
        },
        startup_wait: Duration::from_secs(10),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_idempotent_and_project_calls() {
    for tdb in backends().await {
        let store = Store::open(&tdb.url).await.unwrap();
        let a = answered_call("a", 1_800_000_000_000, 12.0);
        let b = Script::new("b", 1_800_000_100_000)
            .started()
            .queued(5.0, "general")
            .left(7.0, "general", "abandoned")
            .ended(7.0, "queue:general", "caller");
        // `a` without its wrap-up first: wrap-up comes after the caller is gone.
        let (a_main, a_wrap) = a.events.split_at(a.events.len() - 1);
        let mut batch: Vec<Record> = a_main.iter().cloned().map(Record::Call).collect();
        batch.extend(calls_of(std::slice::from_ref(&b)));
        batch.push(Record::Agent(AgentEvent {
            agent: "a1".into(),
            at_ms: 1_800_000_000_000,
            state: "available".into(),
            reason: None,
        }));
        store.write(&batch).await.unwrap();
        store.write(&batch).await.unwrap(); // a replay
        let row = query::call(&store.db, "a").await.unwrap().unwrap();
        assert_eq!(row.wrapup_ms, None);
        store
            .write(&[Record::Call(a_wrap[0].clone())])
            .await
            .unwrap();
        let row = query::call(&store.db, "a").await.unwrap().unwrap();
        assert_eq!(row, a.row(), "row updated by the late wrap-up");
        assert_eq!(row.wrapup_ms, Some(30_000));
        assert_eq!(
            query::count_events(&store.db).await.unwrap(),
            (a.events.len() + b.events.len()) as i64
        );
        assert_eq!(query::events(&store.db, "b").await.unwrap(), b.events);
        assert_eq!(
            query::agent_events(&store.db, 0, i64::MAX, false)
                .await
                .unwrap()
                .len(),
            1
        );
        let written = query::all_calls(&store.db).await.unwrap();
        assert_eq!(written, vec![a.row(), b.row()]);
        // Rebuilding the projection from the events gives the same rows.
        sqlx::query("DELETE FROM calls")
            .execute(&store.db.pool)
            .await
            .unwrap();
        assert_eq!(store.rebuild_calls().await.unwrap(), 2);
        assert_eq!(query::all_calls(&store.db).await.unwrap(), written);
        store.close().await;
        tdb.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_calls_are_closed_at_start() {
    for tdb in backends().await {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&tdb.url).await.unwrap();
        // `open`: killed mid-queue. `done`: its end only reached the journal before the kill.
        let open = Script::new("open", 1_800_000_000_000)
            .started()
            .queued(20.0, "general");
        let done = answered_call("done", 1_800_000_000_000, 10.0);
        let (done_db, done_journal) = done.events.split_at(3);
        let mut first: Vec<Record> = calls_of(std::slice::from_ref(&open));
        first.extend(done_db.iter().cloned().map(Record::Call));
        store.write(&first).await.unwrap();
        store.close().await;
        {
            let mut j = journal::Journal::open(dir.path()).unwrap();
            let rest: Vec<Record> = done_journal.iter().cloned().map(Record::Call).collect();
            j.spool.append(&rest).await.unwrap();
        }
        let (sink, task) = start_with(opts(&tdb.url, dir.path())).await.unwrap();
        assert!(task.ready);
        let stats = task.stats();
        // A call of this run is not touched.
        let live = Script::new("live", 1_900_000_000_000).started();
        for e in &live.events {
            sink.send(Record::Call(e.clone()));
        }
        task.finish().await;
        assert_eq!(stats.recovered.load(Ordering::Relaxed), 1);
        let store = Store::open(&tdb.url).await.unwrap();
        let r = query::call(&store.db, "open").await.unwrap().unwrap();
        assert_eq!(r.outcome, recovery::INTERRUPTED);
        assert_eq!(r.hangup_side.as_deref(), Some("system"));
        assert_eq!(r.hangup_cause.as_deref(), Some("restart"));
        assert_eq!(
            r.end_ms,
            Some(1_800_000_020_000),
            "closed at its last event"
        );
        assert!(
            !r.abandoned,
            "an interrupted call is not the caller's abandon"
        );
        let d = query::call(&store.db, "done").await.unwrap().unwrap();
        assert_eq!(d, done.row(), "journal replayed before recovery");
        let l = query::call(&store.db, "live").await.unwrap().unwrap();
        assert_eq!(l.end_ms, None);
        assert!(!dir.path().join(journal::BACKLOG).exists());
        store.close().await;
        tdb.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_database_goes_to_the_journal_then_replays() {
    let Some(tdb) = TestDb::postgres().await else {
        eprintln!("DATABASE_URL unset: skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let scripts: Vec<Script> = (0..50)
        .map(|i| answered_call(&format!("c{i:03}"), 1_800_000_000_000 + i * 1000, 5.0))
        .collect();
    let records = calls_of(&scripts);
    // A closed port: nothing listens on port 1.
    let dead = "postgres://postgres@127.0.0.1:1/nowhere";
    let mut o = opts(dead, dir.path());
    o.startup_wait = Duration::from_millis(300);
    let (sink, task) = start_with(o).await.unwrap();
    assert!(!task.ready);
    let stats = task.stats();
    for r in &records {
        sink.send(r.clone());
    }
    task.finish().await;
    assert_eq!(
        stats.journaled.load(Ordering::Relaxed),
        records.len() as u64
    );
    // Next run, the real database: the backlog is replayed first.
    let (_sink, task) = start_with(opts(&tdb.url, dir.path())).await.unwrap();
    assert!(task.ready);
    let stats = task.stats();
    task.finish().await;
    assert_eq!(stats.replayed.load(Ordering::Relaxed), records.len() as u64);
    let store = Store::open(&tdb.url).await.unwrap();
    assert_eq!(
        query::count_events(&store.db).await.unwrap(),
        records.len() as i64
    );
    let rows = query::all_calls(&store.db).await.unwrap();
    let want: Vec<CallRow> = scripts.iter().map(|s| s.row()).collect();
    assert_eq!(rows, want);
    store.close().await;
    tdb.drop_db().await;
}

/// A TCP relay in front of PostgreSQL that can be cut (every connection closed, new ones
/// refused) and restored, to take the database away in the middle of a run.
struct Relay {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    epoch: Arc<std::sync::atomic::AtomicU64>,
}

impl Relay {
    async fn start(target: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let epoch = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (u, ep) = (up.clone(), epoch.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !u.load(Ordering::SeqCst) {
                    continue; // dropped: connection refused-ish
                }
                let (u, ep) = (u.clone(), ep.clone());
                let born = ep.load(Ordering::SeqCst);
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let copy = tokio::io::copy_bidirectional(&mut client, &mut server);
                    let watch = async {
                        while u.load(Ordering::SeqCst) && ep.load(Ordering::SeqCst) == born {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    };
                    tokio::select! { _ = copy => {}, _ = watch => {} }
                });
            }
        });
        Relay { addr, up, epoch }
    }

    fn set_up(&self, up: bool) {
        if !up {
            self.epoch.fetch_add(1, Ordering::SeqCst);
        }
        self.up.store(up, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_mid_run_loses_and_duplicates_nothing() {
    let Some(tdb) = TestDb::postgres().await else {
        eprintln!("DATABASE_URL unset: skipped");
        return;
    };
    Store::open(&tdb.url).await.unwrap().close().await;
    let host = tdb
        .url
        .split("://")
        .nth(1)
        .and_then(|r| r.split('@').nth(1))
        .and_then(|r| r.split('/').next())
        .unwrap()
        .to_string();
    let target: SocketAddr = tokio::net::lookup_host(host.as_str())
        .await
        .unwrap()
        .next()
        .unwrap();
    let relay = Relay::start(target).await;
    let relayed = tdb.url.replacen(&host, &relay.addr.to_string(), 1);
    let dir = tempfile::tempdir().unwrap();
    let (sink, task) = start_with(opts(&relayed, dir.path())).await.unwrap();
    assert!(task.ready);
    let stats = task.stats();
    let mut scripts = Vec::new();
    // 3 s of calls; the database is away from 1 s to 2 s.
    let t0 = Instant::now();
    let mut i = 0i64;
    while t0.elapsed() < Duration::from_secs(3) {
        let el = t0.elapsed();
        relay.set_up(!(Duration::from_secs(1)..Duration::from_secs(2)).contains(&el));
        let s = answered_call(&format!("c{i:05}"), 1_800_000_000_000 + i * 1000, 3.0);
        for e in &s.events {
            sink.send(Record::Call(e.clone()));
        }
        scripts.push(s);
        i += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    relay.set_up(true);
    task.finish().await;
    assert!(
        stats.journaled.load(Ordering::Relaxed) > 0,
        "the outage was seen"
    );
    assert!(stats.replayed.load(Ordering::Relaxed) > 0);
    let store = Store::open(&tdb.url).await.unwrap();
    let n_events: usize = scripts.iter().map(|s| s.events.len()).sum();
    assert_eq!(
        query::count_events(&store.db).await.unwrap(),
        n_events as i64
    );
    let rows = query::all_calls(&store.db).await.unwrap();
    assert_eq!(rows.len(), scripts.len());
    for (r, s) in rows.iter().zip(&scripts) {
        assert_eq!(*r, s.row());
    }
    store.close().await;
    tdb.drop_db().await;
}

/// Calls with known answers around the 10:00 edge of 2027-06-01 (local), plus agents.
fn report_fixture() -> (Vec<Record>, Vec<Script>) {
    let tz = crate::report::interval::report_tz().unwrap();
    let ten = crate::report::interval::parse_time("2027-06-01 10:00", &tz)
        .unwrap()
        .as_millisecond();
    let s = 1000;
    let scripts = vec![
        // 09:xx: two answered (waits 10 s, 150 s), one short abandon (3 s)
        answered_call("h9a", ten - 3000 * s, 10.0),
        answered_call("h9b", ten - 2000 * s, 150.0),
        Script::new("h9c", ten - 1000 * s)
            .started()
            .queued(5.0, "general")
            .left(8.0, "general", "abandoned")
            .ended(8.0, "queue:general", "caller"),
        // starts 09:59:50, answered after 10:00: counted at 09:00, where it started
        answered_call("edge", ten - 10 * s, 30.0),
        // 10:xx: a callback, a self-served, a 911 redirect, an abandon of 60 s
        Script::new("h10a", ten + 100 * s)
            .started()
            .queued(5.0, "permis")
            .at(
                200.0,
                EventKind::CallbackRequested {
                    queue: "permis".into(),
                    number: "1".into(),
                },
            )
            .left(200.0, "permis", "callback")
            .ended(201.0, "queue:permis", "caller"),
        Script::new("h10b", ten + 200 * s)
            .started()
            .ended(30.0, "self-served", "caller"),
        Script::new("h10c", ten + 300 * s)
            .started()
            .ended(4.0, "redirect:911", "system"),
        Script::new("h10d", ten + 400 * s)
            .started()
            .queued(5.0, "general")
            .ended(65.0, "queue:general", "caller"),
    ];
    let mut records = calls_of(&scripts);
    let ag = |at: i64, st: &str| {
        Record::Agent(AgentEvent {
            agent: "a1".into(),
            at_ms: at,
            state: st.into(),
            reason: None,
        })
    };
    records.push(ag(ten - 3600 * s, "available"));
    records.push(ag(ten - 1800 * s, "on_call"));
    records.push(ag(ten + 1800 * s, "paused"));
    records.push(ag(ten + 2700 * s, "logged_out"));
    (records, scripts)
}

fn report_args(url: &str, by: Bucket, queue: Option<&str>) -> ReportArgs {
    ReportArgs {
        database: url.into(),
        from: "2027-06-01 09:00".into(),
        to: "2027-06-01 11:00".into(),
        by,
        queue: queue.map(Into::into),
        format: Format::Json,
        short_abandon_s: 5,
        threshold_s: 20,
        target_pct: 80.0,
        out: None,
        no_rollup: false,
        waits: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_are_the_same_on_sqlite_and_postgres() {
    let (records, scripts) = report_fixture();
    let mut outputs = Vec::new();
    for tdb in backends().await {
        let store = Store::open(&tdb.url).await.unwrap();
        store.write(&records).await.unwrap();
        let args = report_args(&tdb.url, Bucket::Hour, None);
        let r = report::build(&store.db, &args, i64::MAX, &[])
            .await
            .unwrap();
        // The SQL sums equal the Rust ones over the same rows.
        let p = Params {
            short_abandon_ms: 5000,
            threshold_ms: 20_000,
            target_pct: 80.0,
        };
        let mut t = Tally::default();
        for s in &scripts {
            t.add(&summarize(&s.events), &p);
        }
        let total = &r.total.figures;
        assert_eq!(total.calls, t.calls);
        assert_eq!(r.intervals.len(), 2);
        let h9 = &r.intervals[0].figures;
        let h10 = &r.intervals[1].figures;
        assert_eq!((h9.calls, h9.offered, h9.answered), (4, 4, 3));
        assert_eq!((h9.abandoned, h9.short_abandons), (0, 1));
        // answered within 20 s: h9a (10 s) only; O − Ab_s = 3
        assert_eq!(h9.service_level_pct, Some(100.0 / 3.0));
        assert_eq!(h9.asa_s, Some((10.0 + 150.0 + 30.0) / 3.0));
        assert_eq!(h9.aht_s, Some(270.0));
        assert_eq!((h10.offered, h10.answered, h10.abandoned), (2, 0, 1));
        assert_eq!((h10.callbacks, h10.flow_outs), (1, 1));
        assert_eq!((h10.self_served, h10.redirected_911), (1, 1));
        assert_eq!(h10.service_level_pct, Some(0.0));
        assert_eq!(h10.longest_wait_s, 195.0);
        // a1: staffed 09:00–10:45 with a pause 10:30–10:45
        assert_eq!(h9.agent_hours, Some(1.0));
        assert_eq!(h10.agent_hours, Some(0.75));
        assert_eq!(h9.calls_per_agent_hour, Some(3.0));
        // occupancy 09:00: handle 3 × 270 s / 3600 s ready
        assert_eq!(h9.occupancy_pct, Some(100.0 * 810.0 / 3600.0));
        assert_eq!(h10.occupancy_pct, Some(0.0));
        let general = r.by_queue.iter().find(|l| l.key == "general").unwrap();
        assert_eq!(general.figures.offered, 5);
        let q = report::build(
            &store.db,
            &report_args(&tdb.url, Bucket::Min15, Some("permis")),
            i64::MAX,
            &[],
        )
        .await
        .unwrap();
        assert_eq!(q.intervals.len(), 8);
        assert_eq!(q.total.figures.offered, 1);
        let mut json = serde_json::to_value(&r).unwrap();
        json["params"] = serde_json::Value::Null;
        outputs.push(json);
        store.close().await;
        tdb.drop_db().await;
    }
    if outputs.len() == 2 {
        assert_eq!(outputs[0], outputs[1], "SQLite and PostgreSQL disagree");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_then_report_in_every_format() {
    let tdb = TestDb::sqlite();
    let out = report::run_seed(report::SeedArgs {
        database: tdb.url.clone(),
        calls: 6000,
        from: "2027-03-13".into(),
        days: 3,
        seed: 7,
    })
    .await
    .unwrap();
    assert!(out.contains("seeded 6000 calls"), "{out}");
    for format in [
        Format::Table,
        Format::Csv,
        Format::Json,
        Format::Html,
        Format::Svg,
    ] {
        let mut args = report_args(&tdb.url, Bucket::Hour, None);
        args.from = "2027-03-13".into();
        args.to = "2027-03-16".into();
        args.format = format;
        let text = report::run_report(args).await.unwrap();
        match format {
            Format::Json => {
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                // 24 + 23 (DST) + 24 hours
                assert_eq!(v["intervals"].as_array().unwrap().len(), 71);
                assert_eq!(v["total"]["calls"], 6000);
            }
            Format::Csv => assert!(text.starts_with("section,key,start_ms")),
            Format::Html => assert!(text.contains("<svg") && !text.contains("<script")),
            Format::Svg => assert!(text.starts_with("<svg") && text.contains("stroke-dasharray")),
            Format::Table => assert!(text.contains("sl_pct")),
        }
    }
    let store = Store::open(&tdb.url).await.unwrap();
    let before = query::all_calls(&store.db).await.unwrap();
    assert_eq!(store.rebuild_calls().await.unwrap(), 6000);
    assert_eq!(query::all_calls(&store.db).await.unwrap(), before);
    store.close().await;
}

/// What a report line's call figures must be: `Tally::add` over the rows (agent time aside).
fn call_figures(f: &report::metrics::Figures) -> report::metrics::Figures {
    report::metrics::Figures {
        agent_hours: None,
        calls_per_agent_hour: None,
        occupancy_pct: None,
        ..f.clone()
    }
}

/// The SQL sums equal `Tally::add` over the same rows, on both backends: every kind of slot
/// (15 min, hour, day with a DST change, season), one queue, edges inside a slot, calls still
/// in progress, and several τ and T.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_tallies_equal_rust_tallies() {
    use crate::report::interval::{self, default_seasons};
    use crate::report::metrics::{Breakdowns, Dims, Figures};
    for tdb in backends().await {
        report::run_seed(report::SeedArgs {
            database: tdb.url.clone(),
            calls: 3000,
            from: "2027-03-13".into(),
            days: 3,
            seed: 11,
        })
        .await
        .unwrap();
        let store = Store::open(&tdb.url).await.unwrap();
        let tz = interval::report_tz().unwrap();
        let noon = interval::parse_time("2027-03-14 12:00", &tz)
            .unwrap()
            .as_millisecond();
        let open = Script::new("open", noon).started().queued(5.0, "collecte");
        store.write(&calls_of(&[open])).await.unwrap();
        let rows = query::all_calls(&store.db).await.unwrap();
        let cases = [
            ("2027-03-13", "2027-03-16", Bucket::Hour, None, 5, 100),
            (
                "2027-03-13",
                "2027-03-16",
                Bucket::Min15,
                Some("collecte"),
                0,
                20,
            ),
            (
                "2027-03-13 10:07",
                "2027-03-15 17:53",
                Bucket::Hour,
                None,
                7,
                45,
            ),
            (
                "2027-03-13",
                "2027-03-16",
                Bucket::Day,
                Some("permis"),
                60,
                600,
            ),
            ("2027-03-01", "2027-04-01", Bucket::Season, None, 5, 100),
        ];
        for (from, to, by, queue, tau, t) in cases {
            let mut args = report_args(&tdb.url, by, queue);
            (args.from, args.to) = (from.into(), to.into());
            (args.short_abandon_s, args.threshold_s) = (tau, t);
            let r = report::build(&store.db, &args, i64::MAX, &default_seasons())
                .await
                .unwrap();
            let p = Params {
                short_abandon_ms: tau as i64 * 1000,
                threshold_ms: t as i64 * 1000,
                target_pct: 80.0,
            };
            let (f, t_) = (
                interval::parse_time(from, &tz).unwrap(),
                interval::parse_time(to, &tz).unwrap(),
            );
            let ivs = interval::intervals(f, t_, by, &tz, &default_seasons()).unwrap();
            let mut want = vec![Tally::default(); ivs.len()];
            let mut dims: Vec<(Dims, Tally)> = Vec::new();
            for row in &rows {
                let inside =
                    row.start_ms >= f.as_millisecond() && row.start_ms < t_.as_millisecond();
                if !inside || (queue.is_some() && row.queue.as_deref() != queue) {
                    continue;
                }
                if let Some(i) = interval::find(&ivs, row.start_ms) {
                    want[i].add(row, &p);
                }
                let mut one = Tally::default();
                one.add(row, &p);
                dims.push((
                    Dims {
                        queue: row.queue.clone(),
                        language: row.language.clone(),
                        topic: row.topic.clone(),
                        agent: row.agent.clone(),
                    },
                    one,
                ));
            }
            let case = format!("{} {from}..{to} {by:?} {queue:?} τ={tau} T={t}", tdb.url);
            assert_eq!(r.intervals.len(), ivs.len(), "{case}");
            for (line, w) in r.intervals.iter().zip(&want) {
                assert_eq!(
                    call_figures(&line.figures),
                    Figures::new(w, None),
                    "{case} {}",
                    line.key
                );
            }
            let b = Breakdowns::fold(&dims);
            // Breakdown keys of calls in progress only have empty tallies: compare non-empty.
            let check = |lines: &[report::Line], m: &std::collections::BTreeMap<String, Tally>| {
                let got: Vec<_> = lines
                    .iter()
                    .filter(|l| l.figures.calls > 0)
                    .map(|l| (l.key.clone(), call_figures(&l.figures)))
                    .collect();
                let exp: Vec<_> = m
                    .iter()
                    .filter(|(_, t)| t.calls > 0)
                    .map(|(k, t)| (k.clone(), Figures::new(t, None)))
                    .collect();
                assert_eq!(got, exp, "{case}");
            };
            check(&r.by_queue, &b.queue);
            check(&r.by_language, &b.language);
            check(&r.by_topic, &b.topic);
            check(&r.by_agent, &b.agent);
        }
        store.close().await;
        tdb.drop_db().await;
    }
}

/// CPU seconds (user + system) this process has used so far.
fn process_cpu_s() -> f64 {
    // SAFETY: getrusage only writes the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// CPU seconds used so far by every process named `postgres*` on this machine: the server's
/// share of a PostgreSQL write. Other clients of the same server add noise.
fn postgres_cpu_s() -> f64 {
    let tick = 100.0; // USER_HZ on Linux
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    let mut ticks = 0u64;
    for e in dir.flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if !stat[open + 1..close].starts_with("postgres") {
            continue;
        }
        // Fields after the command: state is 3rd overall, utime 14th, stime 15th.
        let rest: Vec<&str> = stat[close + 2..].split(' ').collect();
        let f = |i: usize| {
            rest.get(i - 3)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        ticks += f(14) + f(15);
    }
    ticks as f64 / tick
}

/// Push `calls` × 9 events into a fresh writer at once and time them until all are committed.
/// Returns events per second. Prints CPU per event (this process; and PostgreSQL's server).
async fn writer_throughput(url: &str, calls: i64) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(url, dir.path());
    o.writer.batch = Duration::from_millis(200);
    let (sink, task) = start_with(o).await.unwrap();
    let stats = task.stats();
    let scripts: Vec<Script> = (0..calls)
        .map(|i| answered_call(&format!("c{i:06}"), 1_800_000_000_000 + i * 100, 8.0))
        .collect();
    let n: usize = scripts.iter().map(|s| s.events.len()).sum();
    let (cpu0, pg0) = (process_cpu_s(), postgres_cpu_s());
    let t0 = Instant::now();
    for s in &scripts {
        for e in &s.events {
            sink.send(Record::Call(e.clone()));
        }
    }
    // Timed until everything is committed, with the pool still open: PostgreSQL backends
    // still running hold their CPU time in /proc.
    let done = || {
        stats.written.load(Ordering::Relaxed) + stats.journaled.load(Ordering::Relaxed) >= n as u64
    };
    while !done() && t0.elapsed() < Duration::from_secs(300) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = t0.elapsed().as_secs_f64();
    let (cpu, pg) = (process_cpu_s() - cpu0, postgres_cpu_s() - pg0);
    task.finish().await;
    let rate = n as f64 / secs;
    let per = |s: f64| s * 1e6 / n as f64;
    let backend = url.split(':').next().unwrap_or("?");
    eprintln!(
        "writer on {backend}: {n} events ({calls} calls) in {secs:.2} s = {rate:.0} events/s; \
         CPU {:.1} µs/event in-process{}",
        per(cpu),
        if backend.starts_with("postgres") {
            format!(", {:.1} µs/event in PostgreSQL", per(pg))
        } else {
            String::new()
        }
    );
    assert_eq!(stats.written.load(Ordering::Relaxed), n as u64);
    let store = Store::open(url).await.unwrap();
    assert_eq!(query::count_events(&store.db).await.unwrap(), n as i64);
    store.close().await;
    rate
}

/// The writer's floor is enforced with `CENTRALE_PERF=1` (run alone, release:
/// `cargo test --release --lib writer_throughput -- --nocapture`); in a full parallel test run
/// on a shared machine only a loose bound holds.
fn writer_floor() -> (i64, f64) {
    if std::env::var_os("CENTRALE_PERF").is_some() {
        (20_000, 5000.0)
    } else {
        (5000, 1000.0)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_throughput_on_sqlite() {
    let tdb = TestDb::sqlite();
    let (calls, floor) = writer_floor();
    let rate = writer_throughput(&tdb.url, calls).await;
    assert!(rate > floor, "{rate:.0} events/s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_throughput_on_postgres() {
    let Some(tdb) = TestDb::postgres().await else {
        eprintln!("DATABASE_URL unset: skipped");
        return;
    };
    let (calls, floor) = writer_floor();
    let rate = writer_throughput(&tdb.url, calls).await;
    tdb.drop_db().await;
    assert!(rate > floor, "{rate:.0} events/s");
}

#[test]
fn database_urls_for_tests() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u:p@h/test?sslmode=disable", "x"),
        "postgres://u:p@h/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
}

/// Every rollup row, sorted, as text (to compare two ways of building them).
async fn rollup_dump(db: &Db) -> Vec<String> {
    use sqlx::Row;
    let mut out = Vec::new();
    for (table, keys) in [
        ("tally_hour", "hour, queue, ivr_outcome"),
        (
            "tally_dims",
            "day, queue, language, topic, agent, ivr_outcome",
        ),
    ] {
        let nkeys = keys.split(',').count();
        let sql = format!(
            "SELECT {keys}, n, o, a, ab, sab, aw, wa, mw, tk, wu FROM {table} ORDER BY {keys}"
        );
        for row in sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&db.pool)
            .await
            .unwrap()
        {
            let mut line = format!("{table}:{}", row.try_get::<i64, _>(0).unwrap());
            for i in 1..nkeys {
                line.push_str(&format!(
                    " {:?}",
                    row.try_get::<Option<String>, _>(i).unwrap()
                ));
            }
            for i in nkeys..nkeys + 10 {
                line.push_str(&format!(" {:?}", row.try_get::<Option<i64>, _>(i).unwrap()));
            }
            out.push(line);
        }
    }
    out
}

/// Calls around the edges the rollups cut at, written through the writer's path in several
/// batches (ends and wrap-ups arriving in later batches), on top of seeded traffic over both
/// 2027 DST changes.
async fn rollup_fixture(url: &str) -> Store {
    use crate::report::interval;
    for (from, seed) in [("2027-03-13", 11), ("2027-11-06", 12)] {
        report::run_seed(report::SeedArgs {
            database: url.into(),
            calls: 2000,
            from: from.into(),
            days: 3,
            seed,
        })
        .await
        .unwrap();
    }
    let store = Store::open(url).await.unwrap();
    let tz = interval::report_tz().unwrap();
    let at = |s: &str| interval::parse_time(s, &tz).unwrap().as_millisecond();
    let s = 1000;
    let scripts = vec![
        // 09:59:50 local, answered after 10:00: an 09:00 call.
        answered_call("r-edge-hour", at("2027-03-15 10:00") - 10 * s, 30.0),
        // 23:59:58 local on a UTC day's 03:59:58 / local midnight edges.
        answered_call("r-edge-day", at("2027-03-14 00:00") - 2 * s, 120.0),
        answered_call("r-utc-midnight", at("2027-03-15T00:00:00Z") - s, 4.0),
        // The repeated 01:00 of November 7th, both times.
        answered_call("r-fall-1", at("2027-11-07T05:30:00Z"), 50.0),
        answered_call("r-fall-2", at("2027-11-07T06:30:00Z"), 150.0),
        // Short abandon (< τ), an abandon of exactly τ, a callback.
        Script::new("r-short", at("2027-03-14 03:30"))
            .started()
            .queued(5.0, "collecte")
            .left(9.0, "collecte", "abandoned")
            .ended(9.0, "queue:collecte", "caller"),
        Script::new("r-tau", at("2027-03-14 03:31"))
            .started()
            .queued(5.0, "collecte")
            .left(10.0, "collecte", "abandoned")
            .ended(10.0, "queue:collecte", "caller"),
        Script::new("r-cb", at("2027-11-07 01:15"))
            .started()
            .queued(5.0, "permis")
            .at(
                130.0,
                EventKind::CallbackRequested {
                    queue: "permis".into(),
                    number: "1".into(),
                },
            )
            .left(130.0, "permis", "callback")
            .ended(131.0, "queue:permis", "caller"),
    ];
    // First batch: everything but the last two events of each call; then the rest.
    let (mut first, mut rest) = (Vec::new(), Vec::new());
    for sc in &scripts {
        let cut = sc.events.len().saturating_sub(2);
        first.extend(sc.events[..cut].iter().cloned().map(Record::Call));
        rest.extend(sc.events[cut..].iter().cloned().map(Record::Call));
    }
    store.write(&first).await.unwrap();
    store.write(&rest).await.unwrap();
    store.write(&rest).await.unwrap(); // a replay changes nothing
                                       // Still in progress at report time.
    let open = Script::new("r-open", at("2027-03-15 11:20"))
        .started()
        .queued(5.0, "collecte");
    store.write(&calls_of(&[open])).await.unwrap();
    store
}

/// The rollups maintained batch by batch equal the rollups rebuilt from `calls`, and the
/// migration's backfill builds the same rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollups_follow_calls() {
    for tdb in backends().await {
        let store = rollup_fixture(&tdb.url).await;
        let live = rollup_dump(&store.db).await;
        assert!(live.len() > 100, "{}", live.len());
        assert!(!live.iter().any(|l| l.contains("in-progress")));
        // Recovery closes the open call: its hour is recomputed.
        assert_eq!(store.close_interrupted().await.unwrap(), ["r-open"]);
        let closed = rollup_dump(&store.db).await;
        assert_ne!(closed, live);
        let mut conn = store.db.pool.acquire().await.unwrap();
        rollup::rebuild(&mut conn).await.unwrap();
        drop(conn);
        assert_eq!(rollup_dump(&store.db).await, closed, "{}", tdb.url);
        // Rebuilding `calls` from the events leaves the rollups as they were.
        assert_eq!(store.rebuild_calls().await.unwrap(), 4000 + 9);
        assert_eq!(rollup_dump(&store.db).await, closed, "{}", tdb.url);
        // The migration's backfill: forget it ran, run it again over the same calls.
        for sql in [
            "DROP TABLE tally_hour",
            "DROP TABLE tally_dims",
            "DELETE FROM _sqlx_migrations WHERE version = 2",
        ] {
            sqlx::query(sql).execute(&store.db.pool).await.unwrap();
        }
        store.db.migrate().await.unwrap();
        assert_eq!(rollup_dump(&store.db).await, closed, "{}", tdb.url);
        store.close().await;
        tdb.drop_db().await;
    }
}

/// Reports read from the rollups are byte-identical to reports summing every call: every
/// interval kind, one queue, ranges whose ends are local midnights, whole hours or neither,
/// both DST changes, and τ/T other than the rollups' (which read every call).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollup_reports_equal_raw_reports() {
    use crate::report::interval::default_seasons;
    let mut per_backend = Vec::new();
    for tdb in backends().await {
        let store = rollup_fixture(&tdb.url).await;
        let mut texts = Vec::new();
        let cases = [
            ("2027-03-13", "2027-03-16", Bucket::Hour, None, 5, 100),
            (
                "2027-03-13",
                "2027-03-16",
                Bucket::Day,
                Some("collecte"),
                5,
                100,
            ),
            ("2027-03-13", "2027-03-16", Bucket::Day, None, 5, 20),
            ("2027-03-13", "2027-03-16", Bucket::Min15, None, 5, 100),
            (
                "2027-03-13 08:00",
                "2027-03-15 17:00",
                Bucket::Hour,
                None,
                5,
                100,
            ),
            (
                "2027-03-13 10:07",
                "2027-03-15 17:53",
                Bucket::Hour,
                None,
                5,
                100,
            ),
            (
                "2027-03-14 01:00",
                "2027-03-14 04:00",
                Bucket::Hour,
                None,
                5,
                100,
            ),
            (
                "2027-11-06",
                "2027-11-09",
                Bucket::Hour,
                Some("permis"),
                5,
                100,
            ),
            ("2027-11-06", "2027-11-09", Bucket::Day, None, 0, 100),
            ("2027-11-07", "2027-11-08", Bucket::Hour, None, 5, 100),
            ("2027-01-01", "2028-01-01", Bucket::Week, None, 5, 100),
            (
                "2027-01-01",
                "2028-01-01",
                Bucket::Month,
                Some("collecte"),
                5,
                100,
            ),
            ("2027-01-01", "2028-01-01", Bucket::Season, None, 5, 100),
            (
                "2027-03-01T12:00:00Z",
                "2027-11-30T02:00:00Z",
                Bucket::Day,
                None,
                5,
                100,
            ),
        ];
        for (from, to, by, queue, tau, t) in cases {
            let mut args = report_args(&tdb.url, by, queue);
            (args.from, args.to) = (from.into(), to.into());
            (args.short_abandon_s, args.threshold_s) = (tau, t);
            args.format = Format::Csv;
            let mut out = Vec::new();
            for no_rollup in [false, true] {
                args.no_rollup = no_rollup;
                let r = report::build(&store.db, &args, i64::MAX, &default_seasons())
                    .await
                    .unwrap();
                let mut text = report::render::render(&r, Format::Csv).unwrap();
                text.push_str(&report::render::render(&r, Format::Json).unwrap());
                out.push(text);
            }
            let case = format!("{} {from}..{to} {by:?} {queue:?} τ={tau} T={t}", tdb.url);
            assert!(out[0].lines().count() > 3, "{case}: empty report");
            assert_eq!(out[0], out[1], "{case}: rollup and raw reports differ");
            texts.push(out.swap_remove(0));
        }
        per_backend.push(texts);
        store.close().await;
        tdb.drop_db().await;
    }
    if per_backend.len() == 2 {
        assert_eq!(
            per_backend[0], per_backend[1],
            "SQLite and PostgreSQL disagree"
        );
    }
}

/// The rollups are read where they answer exactly, and only there: spoil them and see which
/// reports move.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollups_are_read_only_where_exact() {
    use crate::report::interval::default_seasons;
    for tdb in backends().await {
        let store = rollup_fixture(&tdb.url).await;
        let run = |from: &str, to: &str, by: Bucket, tau: u64, no_rollup: bool| {
            let mut args = report_args(&tdb.url, by, None);
            (args.from, args.to) = (from.into(), to.into());
            args.short_abandon_s = tau;
            args.threshold_s = 100;
            args.no_rollup = no_rollup;
            let db = store.db.clone();
            async move {
                let r = report::build(&db, &args, i64::MAX, &default_seasons())
                    .await
                    .unwrap();
                let by_queue: i64 = r.by_queue.iter().map(|l| l.figures.calls).sum();
                (r.total.figures.calls, by_queue)
            }
        };
        let cases = [
            // (from, to, by, τ, intervals from the rollup, breakdowns from the rollup)
            ("2027-03-13", "2027-03-16", Bucket::Hour, 5, true, true),
            ("2027-03-13", "2027-03-16", Bucket::Day, 5, true, true),
            ("2027-03-13", "2027-03-16", Bucket::Min15, 5, false, true),
            ("2027-03-13", "2027-03-16", Bucket::Hour, 6, false, false),
            (
                "2027-03-13 10:07",
                "2027-03-15 17:53",
                Bucket::Hour,
                5,
                false,
                true,
            ),
            // No whole UTC day inside: breakdowns read every call.
            (
                "2027-03-14 01:00",
                "2027-03-14 23:00",
                Bucket::Hour,
                5,
                true,
                false,
            ),
        ];
        let mut before = Vec::new();
        for (from, to, by, tau, _, _) in cases {
            let raw = run(from, to, by, tau, true).await;
            assert_eq!(run(from, to, by, tau, false).await, raw, "{from}..{to}");
            before.push(raw);
        }
        for table in ["tally_hour", "tally_dims"] {
            let sql = format!("UPDATE {table} SET n = n + 1000");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&store.db.pool)
                .await
                .unwrap();
        }
        for ((from, to, by, tau, iv, dims), (calls, by_queue)) in cases.into_iter().zip(before) {
            let (c, q) = run(from, to, by, tau, false).await;
            assert_eq!(
                c != calls,
                iv,
                "{} {from}..{to} {by:?} τ={tau}: intervals",
                tdb.url
            );
            assert_eq!(
                q != by_queue,
                dims,
                "{} {from}..{to} {by:?} τ={tau}: breakdowns",
                tdb.url
            );
            assert_eq!(run(from, to, by, tau, true).await, (calls, by_queue));
        }
        store.close().await;
        tdb.drop_db().await;
    }
}
