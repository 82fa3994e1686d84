//! The wait estimate against what simulated callers then waited (`report::waits`, the code
//! `report --waits` runs on the live log): two points of the M/M/N+M grid (`centrale
//! wait-grid` runs the whole grid; docs/acd.md has its figures), a few weeks of the shipped
//! Trois-Rivières workload, and proof that the simulator and the store give the same figures
//! for the same events.

use std::time::Duration;

use super::*;
use crate::event::{AgentEvent, CallEvent, Record};
use crate::report::waits::stats::ErrorFigures;
use crate::sim::collect::{self, Waits};
use crate::sim::grid::{self, Point};

fn better(ours: &ErrorFigures, other: &ErrorFigures) -> bool {
    ours.median_abs_s.unwrap_or(f64::MAX) < other.median_abs_s.unwrap_or(f64::MAX)
}

/// M/M/N+M: our estimate sits at the floor the ideal (exact Erlang A expectation from the
/// true rates) sets, is not optimistic, and beats both baselines.
#[test]
fn estimate_is_at_the_ideal_and_beats_the_baselines_on_mmn() {
    let points = [
        Point {
            agents: 20,
            occupancy: 0.9,
            patience_s: 180.0,
            aht_s: 240.0,
        },
        Point {
            agents: 5,
            occupancy: 0.8,
            patience_s: 60.0,
            aht_s: 240.0,
        },
    ];
    for (i, p) in points.iter().enumerate() {
        let r = grid::run_point(p, 40_000, Duration::from_secs(45), 700 + i as u64);
        let t = &r.total;
        let (ours, ideal) = (t.ours, r.ideal);
        println!(
            "{p:?}: ours {ours:?}\nideal {ideal:?}\nasterisk {:?}\nnaive {:?}",
            t.asterisk, t.naive
        );
        assert!(ours.n > 5_000, "{ours:?}");
        let (o, i) = (ours.median_abs_s.unwrap(), ideal.median_abs_s.unwrap());
        assert!((o - i).abs() <= 0.1 * i, "ours {o} s vs ideal {i} s");
        assert!(ours.median_err_s.unwrap() >= 0.0, "no optimism: {ours:?}");
        assert!(better(&ours, &t.asterisk) && better(&ours, &t.naive));
    }
}

/// Four weeks of the Trois-Rivières workload on its plan (breaks, lunches, wrap-up,
/// log-normal calls, a priority queue, relaxation): the estimate beats both baselines and its
/// median error is within a few seconds of zero.
#[test]
fn estimate_beats_the_baselines_on_a_shipped_workload() {
    let (w, p) = shipped("trois-rivieres");
    let sc = match scenario::build(
        &w,
        Some(&p),
        &Options {
            start: "2027-03-01".parse().ok(),
            days: Some(28),
            ..Options::default()
        },
    ) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let mut waits = Waits::new(sc.start_ms as i64, sc.end_ms as i64);
    engine::run(&sc, 3, &mut waits, &mut |_| {});
    waits.finish();
    let t = waits.accuracy.total();
    println!("{t:#?}");
    assert!(t.ours.n > 1_000);
    assert!(
        better(&t.ours, &t.asterisk) && better(&t.ours, &t.naive),
        "{t:#?}"
    );
    assert!(t.ours.median_err_s.unwrap().abs() < 5.0, "{:?}", t.ours);
    let in25 = |e: &ErrorFigures| e.within_25pct_pct.unwrap_or(0.0);
    assert!(in25(&t.ours) > in25(&t.asterisk) && in25(&t.ours) > in25(&t.naive));
}

/// Keeps every call event (with its call id) and agent change, as the server's log would.
#[derive(Default)]
struct Log {
    records: Vec<Record>,
}

impl Sink for Log {
    fn call(&mut self, _: CallRow) {}
    fn agent(&mut self, c: AgentChange<'_>) {
        self.records.push(Record::Agent(AgentEvent {
            agent: c.agent.to_string(),
            at_ms: c.at_ms,
            state: c.state.as_str().to_string(),
            reason: c.reason.map(str::to_string),
        }));
    }
    fn event(&mut self, call: &str, ev: &CallEvent) {
        let mut e = ev.clone();
        e.call = call.to_string();
        self.records.push(Record::Call(e));
    }
}

/// One code, one event shape: the figures `simulate --waits` prints for a run are the ones
/// `report --waits` computes from the same events stored in a database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_and_stored_logs_give_the_same_figures() {
    let (w, p) = shipped("trois-rivieres");
    let sc = match scenario::build(
        &w,
        Some(&p),
        &Options {
            start: "2027-06-07".parse().ok(),
            days: Some(5),
            ..Options::default()
        },
    ) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let (from, to) = (sc.start_ms as i64, sc.end_ms as i64);
    let mut waits = Waits::new(from, to);
    let mut log = Log::default();
    engine::run(
        &sc,
        11,
        &mut collect::Tee(&mut waits, &mut log),
        &mut |_| {},
    );
    waits.finish();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("sim.db").display());
    let store = crate::store::Store::open(&url).await.unwrap();
    for chunk in log.records.chunks(5_000) {
        store.write(chunk).await.unwrap();
    }
    let (stored, open) = crate::report::waits::build(&store.db, from, to, None)
        .await
        .unwrap();
    store.close().await;
    assert_eq!(open, 0);
    let (a, b) = (waits.accuracy.lines(), stored.lines());
    assert!(a.iter().any(|l| l.announcements > 100), "{a:#?}");
    assert_eq!(a, b);
}
