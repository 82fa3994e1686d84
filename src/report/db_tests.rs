//! Reports against real databases (`store::testdb`: SQLite, and PostgreSQL when
//! `DATABASE_URL` names one): the same figures on both backends, the SQL sums equal to
//! `Tally::add`, rollups kept in step with `calls` and read only where they answer exactly,
//! and the seeder feeding every renderer.

use crate::cdr::summarize;
use crate::cdr::tests::{answered_call, Script};
use crate::event::{AgentEvent, EventKind, Record};
use crate::report::interval::Bucket;
use crate::report::metrics::{Params, Tally};
use crate::report::{self, Format, ReportArgs};
use crate::store::testdb::{backends, calls_of, TestDb};
use crate::store::{query, rollup, Db, Store};

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
        dispositions: false,
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
