//! The estimated-wait formula, as a pure function of when each eligible agent is expected to be
//! free, the caller's position and the recent handle time. `query` gathers those inputs.
//!
//! Never touches ACD state: this is the one place to change (and test) the arithmetic.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Expected wait for the caller at 1-based `position`, in ms.
///
/// `frees[i]` is when eligible staffed agent i is expected to take its next call, from now (0
/// for an idle agent, the rest of the wrap-up, the expected rest of a call …). Each agent then
/// takes one waiting call every `aht_ms`. Callers ahead are served first, so this caller is
/// served at the `position`-th moment an agent frees: list scheduling, O(position · log N).
/// With every agent busy this is about `first free + (position − 1) · AHT / N`; unlike a
/// smoothed average of past waits it follows the position and the staffing.
///
/// None when no agent is given (nobody staffed can take the call).
pub fn estimate(frees: &[u64], position: u32, aht_ms: u64) -> Option<u64> {
    let mut heap: BinaryHeap<Reverse<u64>> = frees.iter().map(|&t| Reverse(t)).collect();
    for _ in 1..position.max(1) {
        let Reverse(t) = heap.pop()?;
        heap.push(Reverse(t.saturating_add(aht_ms)));
    }
    heap.peek().map(|&Reverse(t)| t)
}

#[cfg(test)]
mod tests {
    use super::estimate;

    const AHT: u64 = 300_000;

    #[test]
    fn first_in_line_waits_for_the_first_agent_to_free() {
        assert_eq!(estimate(&[10_000, 200_000], 1, AHT), Some(10_000));
        assert_eq!(estimate(&[0, 200_000], 1, AHT), Some(0));
    }

    #[test]
    fn tenth_with_two_busy_agents_waits_long() {
        // Both agents just started a call: they free at 300 s, then every 300 s each.
        let w = estimate(&[AHT, AHT], 10, AHT).unwrap();
        assert_eq!(w, 5 * AHT);
        // Close to the rule of thumb first-free + (p − 1)·AHT/N = 300 + 9·150 s.
        let rule = AHT + 9 * AHT / 2;
        assert!(w.abs_diff(rule) <= AHT / 2, "{w} vs {rule}");
    }

    #[test]
    fn more_agents_shorter_wait_and_none_without_agents() {
        let two = estimate(&[AHT; 2], 6, AHT).unwrap();
        let six = estimate(&[AHT; 6], 6, AHT).unwrap();
        assert!(six < two);
        assert_eq!(estimate(&[], 1, AHT), None);
        assert_eq!(estimate(&[u64::MAX], 3, AHT), Some(u64::MAX));
    }
}
