//! Store integration tests against real databases (`testdb`): idempotent writes, recovery,
//! outages (journal and replay), rejections (dead letter) and the writer's throughput.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};

use std::str::FromStr;

use super::error::Kind;
use super::testdb::{backends, calls_of, TestDb};
use super::*;
use crate::cdr::tests::{answered_call, Script};
use crate::cdr::CallRow;
use crate::event::{AgentEvent, Record};

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

    /// A relay in front of the PostgreSQL server of `url`, and the URL that goes through it.
    async fn in_front_of(url: &str) -> (Relay, String) {
        let host = url
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
        let relayed = url.replacen(&host, &relay.addr.to_string(), 1);
        (relay, relayed)
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
    let (relay, relayed) = Relay::in_front_of(&tdb.url).await;
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

/// Makes the database refuse one record: event 1 of call `poison` (SQLite: a trigger that
/// raises, PostgreSQL: a CHECK constraint), as a constraint added by an admin or a bad value
/// would.
async fn refuse_poison(db: &Db) {
    let sql = match db.backend {
        Backend::Sqlite => {
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON call_events \
             WHEN NEW.call_id = 'poison' AND NEW.seq = 1 \
             BEGIN SELECT RAISE(ABORT, 'poison record refused'); END"
        }
        Backend::Postgres => {
            "ALTER TABLE call_events ADD CONSTRAINT refuse_poison \
             CHECK (NOT (call_id = 'poison' AND seq = 1))"
        }
    };
    sqlx::query(sql).execute(&db.pool).await.unwrap();
}

/// The code each backend gives for `refuse_poison`: SQLITE_CONSTRAINT_TRIGGER, check_violation.
fn poison_code(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "1811",
        Backend::Postgres => "23514",
    }
}

/// After the writer is done: every record but the poisoned one is stored exactly once, each
/// call's row is its events' row, the poisoned record (and only it) is in the dead-letter file
/// with the database's reason, and the journal is empty.
async fn assert_all_but_poison(url: &str, dir: &std::path::Path, scripts: &[Script]) {
    let store = Store::open(url).await.unwrap();
    let n: usize = scripts.iter().map(|s| s.events.len()).sum();
    assert_eq!(
        query::count_events(&store.db).await.unwrap(),
        n as i64 - 1,
        "{url}"
    );
    let poisoned = scripts
        .iter()
        .find(|s| s.call == "poison")
        .map(|s| s.events[1].clone())
        .unwrap();
    let mut want: Vec<CallRow> = scripts
        .iter()
        .map(|s| {
            let kept: Vec<_> = s
                .events
                .iter()
                .filter(|e| **e != poisoned)
                .cloned()
                .collect();
            crate::cdr::summarize(&kept)
        })
        .collect();
    want.sort_by(|a, b| a.call_id.cmp(&b.call_id));
    assert_eq!(query::all_calls(&store.db).await.unwrap(), want, "{url}");
    let dead = dead_letter::DeadLetter::in_dir(dir).read_all().unwrap();
    assert_eq!(dead.len(), 1, "{url}: {dead:?}");
    assert_eq!(dead[0].records, vec![Record::Call(poisoned)], "{url}");
    assert_eq!(
        dead[0].code.as_deref(),
        Some(poison_code(store.db.backend)),
        "{url}"
    );
    assert!(dead[0].reason.contains("rejected"), "{}", dead[0].reason);
    assert!(
        jiff::Timestamp::from_str(&dead[0].at).is_ok(),
        "{}",
        dead[0].at
    );
    assert!(
        !dir.join(journal::SPOOL).exists(),
        "{url}: journal replayed"
    );
    assert!(!dir.join(journal::BACKLOG).exists(), "{url}");
    store.close().await;
}

/// A rejected record does not hold up the batches behind it: it is isolated from the good
/// records of its batch, set aside in the dead-letter file and counted, and the writer never
/// treats the database as down (nothing is journaled).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_record_goes_to_the_dead_letter_file_and_later_batches_flow() {
    for tdb in backends().await {
        let store = Store::open(&tdb.url).await.unwrap();
        refuse_poison(&store.db).await;
        store.close().await;
        let dir = tempfile::tempdir().unwrap();
        let (sink, task) = start_with(opts(&tdb.url, dir.path())).await.unwrap();
        assert!(task.ready);
        let stats = task.stats();
        let t0 = 1_800_000_000_000;
        let mut scripts: Vec<Script> = (0..20)
            .map(|i| answered_call(&format!("a{i:02}"), t0 + i * 1000, 5.0))
            .collect();
        scripts.insert(7, answered_call("poison", t0 + 7_500, 5.0));
        // The poison's batch, then three more batches behind it.
        for s in &scripts {
            for e in &s.events {
                sink.send(Record::Call(e.clone()));
            }
        }
        for k in 0..3 {
            tokio::time::sleep(Duration::from_millis(150)).await;
            let more: Vec<Script> = (0..10)
                .map(|i| answered_call(&format!("b{k}{i:02}"), t0 + 100_000 + i * 1000, 8.0))
                .collect();
            for s in &more {
                for e in &s.events {
                    sink.send(Record::Call(e.clone()));
                }
            }
            scripts.extend(more);
        }
        task.finish().await;
        let n: u64 = scripts.iter().map(|s| s.events.len() as u64).sum();
        assert_eq!(
            stats.dead_lettered.load(Ordering::Relaxed),
            1,
            "{}",
            tdb.url
        );
        assert_eq!(stats.written.load(Ordering::Relaxed), n - 1, "{}", tdb.url);
        assert_eq!(stats.journaled.load(Ordering::Relaxed), 0, "{}", tdb.url);
        assert_eq!(stats.failures.load(Ordering::Relaxed), 0, "{}", tdb.url);
        assert_all_but_poison(&tdb.url, dir.path(), &scripts).await;
        tdb.drop_db().await;
    }
}

/// How a test takes the database away and gives it back.
enum Away {
    /// SQLite: another connection holds the write lock (the writer's writes wait past `slow`).
    Locked(Option<sqlx::pool::PoolConnection<sqlx::Any>>, Db),
    /// PostgreSQL: a relay that cuts every connection.
    Cut(Relay),
}

impl Away {
    async fn take(&mut self) {
        match self {
            Away::Locked(conn, db) => {
                let mut c = db.pool.acquire().await.unwrap();
                sqlx::Executor::execute(&mut *c, "BEGIN EXCLUSIVE")
                    .await
                    .unwrap();
                *conn = Some(c);
            }
            Away::Cut(relay) => relay.set_up(false),
        }
    }

    async fn give_back(&mut self) {
        match self {
            Away::Locked(conn, _) => {
                if let Some(mut c) = conn.take() {
                    sqlx::Executor::execute(&mut *c, "COMMIT").await.unwrap();
                }
            }
            Away::Cut(relay) => relay.set_up(true),
        }
    }
}

/// An outage in the middle of a run, on both backends (SQLite: the file locked by another
/// writer; PostgreSQL: every connection cut): batches are journaled and replayed with nothing
/// lost and nothing duplicated, and a record the database rejects while the journal is
/// replayed is set aside without stopping the replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_journals_and_replays_and_a_rejected_record_is_set_aside() {
    for tdb in backends().await {
        let store = Store::open(&tdb.url).await.unwrap();
        refuse_poison(&store.db).await;
        let (mut away, url) = match store.db.backend {
            Backend::Sqlite => (
                Away::Locked(None, Db::open(&tdb.url).await.unwrap()),
                tdb.url.clone(),
            ),
            Backend::Postgres => {
                let (relay, url) = Relay::in_front_of(&tdb.url).await;
                (Away::Cut(relay), url)
            }
        };
        store.close().await;
        let dir = tempfile::tempdir().unwrap();
        let mut o = opts(&url, dir.path());
        o.writer.slow = Duration::from_millis(300);
        let (sink, task) = start_with(o).await.unwrap();
        assert!(task.ready);
        let stats = task.stats();
        let t0 = 1_800_000_000_000;
        let mut scripts = Vec::new();
        let send = |s: &Script| {
            for e in &s.events {
                sink.send(Record::Call(e.clone()));
            }
        };
        // Before, during (the poison among them) and after the outage.
        for i in 0..10 {
            scripts.push(answered_call(&format!("c{i:03}"), t0 + i * 1000, 3.0));
        }
        scripts.iter().for_each(send);
        tokio::time::sleep(Duration::from_millis(300)).await;
        away.take().await;
        let during: Vec<Script> = (10..30)
            .map(|i| {
                let id = if i == 20 {
                    "poison".to_string()
                } else {
                    format!("c{i:03}")
                };
                answered_call(&id, t0 + i * 1000, 3.0)
            })
            .collect();
        for s in &during {
            send(s);
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        scripts.extend(during);
        tokio::time::sleep(Duration::from_millis(500)).await;
        away.give_back().await;
        let after: Vec<Script> = (30..40)
            .map(|i| answered_call(&format!("c{i:03}"), t0 + i * 1000, 3.0))
            .collect();
        after.iter().for_each(send);
        scripts.extend(after);
        tokio::time::sleep(Duration::from_millis(300)).await;
        task.finish().await;
        assert!(
            stats.journaled.load(Ordering::Relaxed) > 0,
            "{}: the outage was seen",
            tdb.url
        );
        assert!(stats.failures.load(Ordering::Relaxed) > 0, "{}", tdb.url);
        assert!(stats.replayed.load(Ordering::Relaxed) > 0, "{}", tdb.url);
        assert_eq!(
            stats.dead_lettered.load(Ordering::Relaxed),
            1,
            "{}",
            tdb.url
        );
        if let Away::Locked(_, db) = &away {
            db.close().await;
        }
        assert_all_but_poison(&tdb.url, dir.path(), &scripts).await;
        tdb.drop_db().await;
    }
}

/// Real errors from both backends land on the right side of the outage/rejection line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_classified_on_both_backends() {
    use sqlx::Executor;
    for tdb in backends().await {
        let db = Db::open(&tdb.url).await.unwrap();
        refuse_poison(&db).await;
        let kind = |r: Result<sqlx::any::AnyQueryResult, sqlx::Error>| match r {
            Ok(_) => panic!("{}: the statement should fail", tdb.url),
            Err(e) => {
                let e = StoreError::from(e);
                (e.kind(), e.code())
            }
        };
        let mut c = db.pool.acquire().await.unwrap();
        // Rejected: a constraint, a statement the database will not run, a bad value.
        let insert = "INSERT INTO call_events (call_id, seq, at_ms, kind, data) \
                      VALUES ('poison', 1, 0, 'answered', '\"answered\"')";
        let (k, code) = kind(c.execute(insert).await);
        assert_eq!(k, Some(Kind::Rejected), "{}", tdb.url);
        assert_eq!(code.as_deref(), Some(poison_code(db.backend)));
        let (k, _) = kind(c.execute("SELEC 1").await);
        assert_eq!(k, Some(Kind::Rejected), "{}: syntax", tdb.url);
        let (k, _) = kind(c.execute("INSERT INTO no_such_table VALUES (1)").await);
        assert_eq!(k, Some(Kind::Rejected), "{}: unknown table", tdb.url);
        let (k, code) = kind(c.execute("INSERT INTO calls (call_id) VALUES (NULL)").await);
        assert_eq!(k, Some(Kind::Rejected), "{}: not null {code:?}", tdb.url);
        match db.backend {
            Backend::Postgres => {
                let (k, code) = kind(c.execute("SELECT 'x'::bigint").await);
                assert_eq!((k, code.as_deref()), (Some(Kind::Rejected), Some("22P02")));
                // Outage: the server ends the session (as at a shutdown or fail-over).
                let (k, code) = kind(
                    c.execute("SELECT pg_terminate_backend(pg_backend_pid())")
                        .await,
                );
                assert_eq!(k, Some(Kind::Outage), "{code:?}");
                drop(c);
                // Outage: nobody listens.
                let refused = Db::open("postgres://postgres@127.0.0.1:1/nowhere").await;
                assert_eq!(refused.err().and_then(|e| e.kind()), Some(Kind::Outage));
            }
            Backend::Sqlite => {
                // Outage: another connection holds the write lock and we do not wait.
                let mut holder = db.pool.acquire().await.unwrap();
                holder.execute("BEGIN EXCLUSIVE").await.unwrap();
                c.execute("PRAGMA busy_timeout = 0").await.unwrap();
                let other = "INSERT INTO call_events (call_id, seq, at_ms, kind, data) \
                             VALUES ('other', 1, 0, 'answered', '\"answered\"')";
                let (k, code) = kind(c.execute(other).await);
                assert_eq!((k, code.as_deref()), (Some(Kind::Outage), Some("5")));
                holder.execute("ROLLBACK").await.unwrap();
                c.execute("PRAGMA busy_timeout = 5000").await.unwrap();
                // Back to the pool, or closing it waits for them.
                drop((holder, c));
            }
        }
        db.close().await;
        tdb.drop_db().await;
    }
}
