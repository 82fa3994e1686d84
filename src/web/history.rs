//! The caller's calls of the last 30 days for a screen pop, read from the call log. A database
//! that does not answer in time gives an empty history, never a late offer.

use std::time::Duration;

use crate::server::Ctx;
use crate::store::history::{recent_calls, PastCall};

const DAYS: i64 = 30;
const LIMIT: i64 = 10;

pub async fn recent(ctx: &Ctx, caller: &str, this_call: &str) -> Vec<PastCall> {
    if caller.chars().filter(|c| c.is_ascii_digit()).count() < 7 {
        return Vec::new();
    }
    let Some(db) = ctx.db() else {
        return Vec::new();
    };
    // The log is stamped with the real clock (not the demo clock of `serve --clock`).
    let since = crate::event::now_ms() - DAYS * 24 * 3600 * 1000;
    let q = recent_calls(db, caller, since, this_call, LIMIT);
    match tokio::time::timeout(Duration::from_secs(2), q).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "caller history unavailable");
            Vec::new()
        }
        Err(_) => Vec::new(),
    }
}
