//! The callbacks owed, kept by the ACD task: at start-up and then every minute (or every
//! `[callbacks] retry_after_s`, when shorter) the call log says which callbacks are still
//! owed — booked in the last 3 days, none completed, fewer than `[callbacks] attempts` placed,
//! the last attempt over `retry_after_s` ago — and those not already waiting in the ACD are
//! queued again in their original place. So a restart loses none, and a citizen who did not
//! answer is tried again later, a bounded number of times — only while the centre is open
//! (the plan's calendar), never at night.
//!
//! Owns: which callbacks are being dialled (those waiting are the ACD task's callback map). Never does: dial (the ACD decides,
//! the call task dials) or keep a second record (the log is the record).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::ctx::Ctx;
use crate::acd::{Acd, CallId, Input};
use crate::store::callbacks::{booked_since, BookedCallback};

/// Callbacks asked for longer ago than this are not owed any more.
const KEPT_MS: i64 = 3 * 24 * 3600 * 1000;
/// ACD ids of callbacks queued from the log (far above the ids live calls take).
const FIRST_ID: CallId = 1 << 40;

/// What the ACD task needs to dial a callback when its turn comes.
pub(super) struct CallbackInfo {
    pub uid: String,
    pub queue: String,
    pub lang: String,
}

pub(super) struct CallbackBook {
    /// Original calls whose callback was dialled, and when (ms).
    dialled: HashMap<String, i64>,
    next_id: CallId,
    last_sweep: Option<Instant>,
}

/// The booked callbacks owed now: none completed, fewer than `max_attempts` placed, none in
/// progress, the last one ended at least `retry_after_ms` before `now_ms`, their queue still
/// in the plan — and none at all while the centre is closed (`open`: its calendar says so
/// now): a citizen is not called back at night, the next opening picks them up again.
pub fn owed(
    booked: Vec<BookedCallback>,
    plan: Option<&crate::dialplan::model::Plan>,
    max_attempts: usize,
    retry_after_ms: i64,
    now_ms: i64,
    open: bool,
) -> Vec<BookedCallback> {
    if !open {
        return Vec::new();
    }
    booked
        .into_iter()
        .filter(|b| !b.attempts.iter().any(|(o, _)| o == "callback:completed"))
        .filter(|b| b.attempts.len() < max_attempts)
        .filter(|b| match b.attempts.last() {
            None => true,
            Some((_, None)) => false,
            Some((_, Some(end))) => now_ms - end >= retry_after_ms,
        })
        .filter(|b| plan.is_none_or(|p| p.queues.contains_key(&b.queue)))
        .collect()
}

impl CallbackBook {
    pub fn new() -> CallbackBook {
        CallbackBook {
            dialled: HashMap::new(),
            next_id: FIRST_ID,
            last_sweep: None,
        }
    }

    /// Its turn came: it is being dialled.
    pub fn dialled(&mut self, uid: &str, now_ms: i64) {
        self.dialled.insert(uid.to_string(), now_ms);
    }

    /// A supervisor cancelled it: the log says so from now on; until the event is written,
    /// keep it out of the sweep.
    pub fn cancelled(&mut self, uid: &str) {
        self.dialled
            .insert(uid.to_string(), crate::event::now_ms() + 3_600_000);
    }

    fn retry_after_ms(ctx: &Ctx) -> i64 {
        (ctx.cfg.callbacks.retry_after_s as i64).saturating_mul(1000)
    }

    /// Whether a sweep is due (the first one at once).
    pub fn due(&self, ctx: &Ctx) -> bool {
        let every = Duration::from_secs(ctx.cfg.callbacks.retry_after_s.clamp(1, 60));
        self.last_sweep.is_none_or(|t| t.elapsed() >= every)
    }

    /// Queue again, in their place, the callbacks the log says are owed and the ACD does not hold.
    pub async fn sweep(
        &mut self,
        ctx: &Ctx,
        acd: &mut Acd,
        callbacks: &mut HashMap<CallId, CallbackInfo>,
    ) {
        self.last_sweep = Some(Instant::now());
        let Some(db) = ctx.db() else { return };
        let now_ms = crate::event::now_ms();
        let read = booked_since(db, now_ms - KEPT_MS);
        let booked = match tokio::time::timeout(Duration::from_secs(5), read).await {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => {
                warn!("callbacks owed not read from the call log: {e}");
                return;
            }
            Err(_) => return,
        };
        let retry = Self::retry_after_ms(ctx);
        // A callback dialled moments ago may not have its row in the log yet (rows are written
        // within a second); once it has, the log's own times decide.
        let quiet = retry.clamp(5_000, 10_000);
        self.dialled.retain(|_, at| now_ms - *at < quiet);
        let plan = ctx.plans.current();
        let max = ctx.cfg.callbacks.attempts.max(1) as usize;
        // Opening hours: the plan's calendar at the server's (possibly offset) time.
        let open = plan
            .as_deref()
            .and_then(|p| p.calendar(None))
            .is_none_or(|c| c.status(ctx.wall_now()).open);
        for b in owed(booked, plan.as_deref(), max, retry, now_ms, open) {
            // Waiting in the ACD already: the task's callback map holds it.
            let waiting = callbacks.values().any(|i| i.uid == b.call);
            if waiting || self.dialled.contains_key(&b.call) {
                continue;
            }
            let call = self.next_id;
            self.next_id += 1;
            info!(original = %b.call, queue = %b.queue, attempts = b.attempts.len(),
                "callback queued from the call log");
            callbacks.insert(
                call,
                CallbackInfo {
                    uid: b.call.clone(),
                    queue: b.queue.clone(),
                    lang: b.language.clone(),
                },
            );
            acd.handle(
                Input::CallQueued {
                    call,
                    queue: b.queue,
                    lang: b.language,
                    skills: Vec::new(),
                    topic: b.topic,
                    priority: 0,
                    since: b.requested_ms.max(0) as u64,
                    callback: Some(b.number),
                    caller: None,
                    agent: None,
                },
                ctx.acd_now(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn booked(attempts: &[(&str, Option<i64>)]) -> BookedCallback {
        BookedCallback {
            call: "c1".into(),
            requested_ms: 0,
            queue: "general".into(),
            language: "fr".into(),
            topic: None,
            number: "4186416411".into(),
            attempts: attempts.iter().map(|(o, e)| (o.to_string(), *e)).collect(),
        }
    }

    #[test]
    fn owed_until_completed_or_out_of_attempts_and_not_too_soon() {
        let left = |a: &[(&str, Option<i64>)], now| {
            owed(vec![booked(a)], None, 3, 600_000, now, true).len()
        };
        assert_eq!(left(&[], 0), 1, "booked, never tried");
        assert_eq!(
            left(&[("callback:no-answer", Some(1_000))], 500_000),
            0,
            "too soon"
        );
        assert_eq!(
            left(&[("callback:no-answer", Some(1_000))], 601_000),
            1,
            "tried again"
        );
        assert_eq!(
            left(&[("callback:no-answer", None)], 9_000_000),
            0,
            "in progress"
        );
        assert_eq!(left(&[("callback:completed", Some(1))], 9_000_000), 0);
        let three = [("callback:no-answer", Some(1)); 3];
        assert_eq!(left(&three, 9_000_000), 0, "given up after 3");
        // Closed: nobody is called back until the centre opens again.
        let retry = [("callback:no-answer", Some(1_000))];
        assert!(owed(vec![booked(&retry)], None, 3, 600_000, 601_000, false).is_empty());
        assert!(owed(vec![booked(&[])], None, 3, 600_000, 0, false).is_empty());
    }
}
