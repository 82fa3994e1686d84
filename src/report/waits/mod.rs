//! `centrale report --waits` (and `simulate --waits`): how right the announced waits were.
//! Every `announced` event is compared with the wait that followed it, for each queue and
//! load band, next to two baselines computed from the same log at the same moments.
//!
//! One piece of code for the live log and the simulator: `track::Tracker` turns call events
//! (in time order) into samples, `stats::Accuracy` sums them, `render` prints them. The store
//! feeds it the events of the calls of a period (`build`); the simulator feeds it each event
//! as it is emitted. Also here: the per-queue history that seeds the ACD's estimate after a
//! restart (`history`), from the same call rows the reports read.
//!
//! Never does: write anything, or read the clock.

pub mod render;
pub mod stats;
pub mod track;

use std::collections::BTreeMap;

use crate::acd::QueueHistory;
use crate::report::cdr::CallRow;
use crate::store::Db;
pub use render::WaitsReport;
pub use stats::{Accuracy, Line};
pub use track::{Outcome, Sample, Tracker};

const DAY_MS: i64 = 86_400_000;

/// Replay the calls that started in `[from_ms, to_ms)` (a day before `from_ms` too, so the
/// Asterisk baseline is warm) and sum the announcements made in the period; `queue` keeps one
/// queue. Returns the sums and how many callers were still waiting at the end.
///
/// Days are read one at a time, each in time order (call events and agents becoming
/// available); a call waiting across midnight is seen after the next day's first events (311
/// centres are closed at night).
pub async fn build(
    db: &Db,
    from_ms: i64,
    to_ms: i64,
    queue: Option<&str>,
) -> anyhow::Result<(Accuracy, usize)> {
    let mut tracker = Tracker::new();
    let mut acc = Accuracy::default();
    let mut day = from_ms - DAY_MS;
    while day < to_ms {
        let end = (day + DAY_MS).min(to_ms);
        let events = crate::store::query::events_of_calls(db, day, end).await?;
        let agents = crate::store::query::availability(db, day, end).await?;
        let mut sum = |s: Sample| {
            if s.at_ms >= from_ms && s.at_ms < to_ms && queue.is_none_or(|q| q == s.queue) {
                acc.add(&s);
            }
        };
        // Merge the two time-ordered streams (agent changes first at equal times).
        let mut a = agents.iter().peekable();
        for e in &events {
            while let Some(x) = a.next_if(|x| x.at_ms <= e.at_ms) {
                tracker.agent(&x.agent, &x.state, x.at_ms, &mut sum);
            }
            tracker.event(&e.call, e, &mut sum);
        }
        for x in a {
            tracker.agent(&x.agent, &x.state, x.at_ms, &mut sum);
        }
        day = end;
    }
    tracker.finish(&mut |s| {
        if s.at_ms >= from_ms && s.at_ms < to_ms && queue.is_none_or(|q| q == s.queue) {
            acc.add(&s);
        }
    });
    Ok((acc, tracker.open()))
}

/// What each queue's recent calls say about handle times and patience, oldest first, for
/// `Acd::restore`: handle time (talk + wrap-up) of answered calls whose wrap-up ended, in the
/// order they ended; callers who waited in a queue, how long in all, and how many left
/// unserved (hung up or overflowed away; a callback keeps its place, so it is not a
/// departure).
pub fn history(rows: &[CallRow]) -> Vec<QueueHistory> {
    /// (end of wrap-up, handle time) of answered calls, and the rest of the history.
    type Acc = (Vec<(i64, u64)>, QueueHistory);
    let mut by_queue: BTreeMap<&str, Acc> = BTreeMap::new();
    for r in rows {
        let Some(q) = r.queue.as_deref() else {
            continue;
        };
        let (handles, h) = by_queue.entry(q).or_insert_with(|| {
            (
                Vec::new(),
                QueueHistory {
                    queue: q.to_string(),
                    ..QueueHistory::default()
                },
            )
        });
        if r.answered {
            if let (Some(t), Some(w), Some(end)) = (r.talk_ms, r.wrapup_ms, r.end_ms) {
                handles.push((end + w, u64::try_from(t + w).unwrap_or(0)));
            }
        }
        if r.offered && r.end_ms.is_some() {
            h.callers += 1;
            h.waited_ms += u64::try_from(r.wait_ms.unwrap_or(0)).unwrap_or(0);
            h.departures += u64::from(!r.answered && !r.callback);
        }
    }
    by_queue
        .into_values()
        .map(|(mut handles, mut h)| {
            handles.sort_by_key(|x| x.0);
            h.handle_ms = handles.into_iter().map(|x| x.1).collect();
            h
        })
        .collect()
}

/// The last week of the call log as ACD history (the server calls this at start).
pub async fn load_history(db: &Db, now_ms: i64) -> anyhow::Result<Vec<QueueHistory>> {
    let rows = crate::store::query::calls(db, now_ms - 7 * DAY_MS, now_ms).await?;
    Ok(history(&rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cdr::tests::{answered_call, Script};

    #[test]
    fn history_has_handle_times_in_order_and_patience() {
        let rows = vec![
            answered_call("b", 1_000_000, 30.0).row(),
            answered_call("a", 0, 10.0).row(),
            Script::new("c", 0)
                .started()
                .queued(0.0, "general")
                .left(40.0, "general", "abandoned")
                .ended(40.0, "queue:general", "caller")
                .row(),
        ];
        let h = history(&rows);
        assert_eq!(h.len(), 1);
        let g = &h[0];
        assert_eq!(g.queue, "general");
        assert_eq!(g.handle_ms, vec![270_000, 270_000]);
        assert_eq!((g.callers, g.departures), (3, 1));
        assert_eq!(g.waited_ms, 30_000 + 10_000 + 40_000);
    }

    /// What the server does at start: the last week of the stored log → `Acd::restore`, and
    /// the first estimate uses the centre's own handle times.
    #[tokio::test]
    async fn history_is_rebuilt_from_the_stored_log() {
        use crate::event::Record;
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("h.db").display());
        let store = crate::store::Store::open(&url).await.unwrap();
        let now = 1_800_000_000_000;
        let records: Vec<Record> = (0..12)
            .flat_map(|i| {
                answered_call(&format!("c{i:02}"), now - 3_600_000 + i * 60_000, 5.0).events
            })
            .map(Record::Call)
            .collect();
        store.write(&records).await.unwrap();
        let h = load_history(&store.db, now).await.unwrap();
        store.close().await;
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].handle_ms, vec![270_000; 12]);
        let mut acd = crate::acd::Acd::new(crate::acd::AcdConfig::default());
        let general = crate::sim::grid::announcing_queue(std::time::Duration::ZERO);
        acd.set_queues(&[general], 0);
        acd.restore(&h);
        assert_eq!(acd.snapshot(0).queues[0].aht_ms, 270_000);
    }
}
