//! The estimated-wait formula, as a pure function of what the staffed eligible agents are doing,
//! how many calls are ahead, the recent handle time and how fast waiting callers give up.
//! `query` gathers those inputs from the ACD's state.
//!
//! Never touches ACD state: this is the one place to change (and test) the arithmetic.
//!
//! ## The model
//!
//! The caller is served at the first agent "slot" (an agent becoming free) once every call
//! ahead is gone — served by an earlier slot or hung up. Slots come from:
//!
//! * agents whose next free moment is **known**: idle now, or in wrap-up (it ends at a set
//!   time). Each is one certain slot at that time;
//! * agents on a call (or ringing for another caller), whose end is **uncertain**: each frees
//!   at the rate its call's residual distribution gives (from the recent calls that lasted
//!   longer than this one so far: a call that has just begun is unlikely to end in the next
//!   seconds), or, with too few such calls, at rate 1 / (expected rest) as if memoryless;
//!   after its first free moment an agent takes the next caller and frees again at 1 / AHT —
//!   in expectation the agent's slot rate is f(t) + F(t) / AHT, f and F the density and
//!   distribution of the end of its current call;
//! * agents that a later relaxation step adds, from the time of that step.
//!
//! The queue is treated as a fluid: the expected number of calls ahead, u, falls by one at each
//! certain slot, continuously at the rate of uncertain slots λ, and by γ·u for live callers
//! hanging up (γ = the queue's observed rate of leaving unserved). Once u reaches 0 the caller
//! needs one more slot. A certain slot met with 0 < u < 1 is the caller's with chance 1 − u.
//!
//! This is exact in expectation for the textbook cases: with N agents on exponential calls
//! (M/M/N) the k-th caller waits k·AHT/N; with agents freeing at known times it is the k-th
//! of those times; with exponential patience (M/M/N+M) it is the integral form of Erlang A's
//! Σ 1/(Nμ + jγ). The expected ring time (offer → answer) is added at the end. Cost:
//! O(agents · log agents), whatever the position.

/// When one staffed eligible agent will take its next call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Free {
    /// At a known time from now (0: idle; the rest of a wrap-up).
    At(u64),
    /// After an uncertain time with this mean, from now, as if memoryless (a call in
    /// progress when little is known of how calls end; ringing for another caller).
    Mean(u64),
    /// After an uncertain time with these quantiles at `stats::RESIDUAL_P` (10 %, 25 %, 50 %,
    /// 75 %, 90 %, 100 %), from now: the rest of a call in progress, from recent calls.
    Quantiles([u64; 6]),
}

/// One agent as the estimate sees it: from when it can take this call (0: now; a relaxation
/// step later) and when it frees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agent {
    pub from_ms: u64,
    pub free: Free,
}

/// Everything the estimate uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Inputs<'a> {
    /// Competing calls ahead (position − 1).
    pub ahead: u32,
    /// Of which live callers (callbacks ahead keep their place and never hang up).
    pub ahead_live: u32,
    pub agents: &'a [Agent],
    /// Mean handle time (talk + wrap-up): after an agent frees, its next call lasts this long.
    pub aht_ms: u64,
    /// Rate at which a waiting live caller leaves unserved, per ms (0: never).
    pub leave_rate: f64,
    /// Expected time from an offer to the agent's answer.
    pub ring_ms: u64,
}

/// The estimate and the figure logged beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    /// Expected wait from now until an agent answers.
    pub wait_ms: u64,
    /// Expected time until the first of the agents is free (the wait at position 1).
    pub first_free_ms: u64,
}

/// The estimate, or None when no agent is given (nobody staffed can ever take the call).
pub fn estimate(i: &Inputs<'_>) -> Option<Estimate> {
    if i.agents.is_empty() {
        return None;
    }
    let line = Line::new(i);
    let first = line.wait(0.0, 0.0);
    let wait = line.wait(f64::from(i.ahead), i.leave_rate * live_share(i));
    Some(Estimate {
        wait_ms: to_ms(wait + i.ring_ms as f64),
        first_free_ms: to_ms(first),
    })
}

fn live_share(i: &Inputs<'_>) -> f64 {
    if i.ahead == 0 {
        0.0
    } else {
        f64::from(i.ahead_live.min(i.ahead)) / f64::from(i.ahead)
    }
}

fn to_ms(x: f64) -> u64 {
    if x.is_finite() && x > 0.0 {
        x.min(u64::MAX as f64 / 2.0) as u64
    } else if x.is_finite() {
        0
    } else {
        u64::MAX
    }
}

use super::stats::RESIDUAL_P;

/// The slot process: certain slots and changes of the uncertain slot rate, in time order.
struct Line {
    /// (time, kind) sorted by time; `Step::Slot` before `Step::Rate` at equal times.
    steps: Vec<(f64, Step)>,
    /// Uncertain slot rate at time 0.
    rate0: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    /// An agent frees for sure; afterwards it adds 1/AHT to the rate.
    Slot(f64),
    /// The uncertain slot rate grows by this much (an agent on a call joins the pool).
    Rate(f64),
}

impl Line {
    fn new(i: &Inputs<'_>) -> Line {
        let per_call = 1.0 / (i.aht_ms.max(1) as f64);
        let mut rate0 = 0.0;
        let mut steps = Vec::with_capacity(i.agents.len());
        for a in i.agents {
            let from = a.from_ms as f64;
            let free = match a.free {
                // Joining later: what is left of the call then is not known well; memoryless.
                Free::Quantiles(_) if from > 0.0 => Free::Mean(i.aht_ms),
                f => f,
            };
            match free {
                Free::At(t) => steps.push(((t as f64).max(from), Step::Slot(per_call))),
                Free::Quantiles(q) => {
                    // Piecewise-constant f between quantiles, plus F / AHT at mid-segment.
                    let (mut t0, mut p0, mut cur) = (0.0f64, 0.0f64, 0.0f64);
                    for (&qt, &p) in q.iter().zip(&RESIDUAL_P) {
                        let t1 = (qt as f64).max(t0 + 1.0);
                        let r = (p - p0) / (t1 - t0) + 0.5 * (p0 + p) * per_call;
                        if t0 == 0.0 {
                            rate0 += r;
                        } else {
                            steps.push((t0, Step::Rate(r - cur)));
                        }
                        (t0, p0, cur) = (t1, p, r);
                    }
                    steps.push((t0, Step::Rate(per_call - cur)));
                }
                Free::Mean(m) => {
                    let r = 1.0 / (m.max(1) as f64);
                    if from > 0.0 {
                        steps.push((from, Step::Rate(r)));
                    } else {
                        rate0 += r;
                    }
                }
            }
        }
        steps.sort_by(|a, b| {
            a.0.total_cmp(&b.0).then_with(|| {
                let k = |s: &Step| u8::from(matches!(s, Step::Rate(_)));
                k(&a.1).cmp(&k(&b.1))
            })
        });
        Line { steps, rate0 }
    }

    /// Expected time until the caller is served with `ahead` calls ahead (fluid), live ones
    /// leaving at `g` per ms each.
    fn wait(&self, ahead: f64, g: f64) -> f64 {
        let mut t = 0.0;
        let mut rate = self.rate0.max(0.0);
        let mut u = ahead;
        let mut k = 0;
        // Calls ahead drain.
        while u > 0.0 {
            let end = self.steps.get(k).map_or(f64::INFINITY, |s| s.0);
            if let Some(dt) = drain_time(u, rate, g) {
                if t + dt <= end {
                    return self.one_slot(t + dt, rate, k);
                }
            }
            if end.is_infinite() {
                return f64::INFINITY;
            }
            u = drained(u, rate, g, end - t);
            t = end;
            match self.steps[k].1 {
                Step::Rate(r) => rate = (rate + r).max(0.0),
                Step::Slot(r) => {
                    rate += r;
                    if u <= 1.0 {
                        // Someone is still ahead with chance u: then the caller needs the
                        // next slot.
                        let next = self.one_slot(t, rate, k + 1);
                        return (1.0 - u) * t + u * next;
                    }
                    u -= 1.0;
                }
            }
            k += 1;
        }
        self.one_slot(t, rate, k)
    }

    /// Expected time of the first slot after `t`, the rate being `rate` and `steps[k..]` ahead.
    fn one_slot(&self, mut t: f64, mut rate: f64, mut k: usize) -> f64 {
        let mut need = 1.0;
        loop {
            let end = self.steps.get(k).map_or(f64::INFINITY, |s| s.0);
            if rate > 0.0 && t + need / rate <= end {
                return t + need / rate;
            }
            if end.is_infinite() {
                return f64::INFINITY;
            }
            need -= rate * (end - t);
            t = end;
            match self.steps[k].1 {
                Step::Slot(_) => return t,
                Step::Rate(r) => rate = (rate + r).max(0.0),
            }
            k += 1;
        }
    }
}

/// Time for u calls ahead to drain to zero at slot rate λ, each live one leaving at rate g;
/// None if they never do (no slot and no departure).
///
/// With j callers ahead the line moves at λ + j·g; as a fluid, du/dt = −(λ + g·(u + ½)) —
/// the ½ makes the integral the midpoint rule for Erlang A's sum Σ 1/(λ + j·g), which it
/// then matches to a fraction of a percent.
fn drain_time(u: f64, rate: f64, g: f64) -> Option<f64> {
    let r = rate + 0.5 * g;
    if g > 0.0 {
        Some((1.0 + g * u / r).ln() / g)
    } else if rate > 0.0 {
        Some(u / rate)
    } else {
        None
    }
}

/// Calls still ahead after `dt` (du/dt = −(λ + g·(u + ½))).
fn drained(u: f64, rate: f64, g: f64, dt: f64) -> f64 {
    let r = rate + 0.5 * g;
    let left = if g > 0.0 {
        (u + r / g) * (-g * dt).exp() - r / g
    } else {
        u - rate * dt
    };
    left.max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AHT: u64 = 300_000;

    fn now(free: Free) -> Agent {
        Agent { from_ms: 0, free }
    }

    fn est(ahead: u32, agents: &[Agent], leave_rate: f64) -> u64 {
        estimate(&Inputs {
            ahead,
            ahead_live: ahead,
            agents,
            aht_ms: AHT,
            leave_rate,
            ring_ms: 0,
        })
        .map(|e| e.wait_ms)
        .unwrap_or(u64::MAX)
    }

    fn close(a: u64, b: f64, tol: f64) -> bool {
        (a as f64 - b).abs() <= tol * b.max(1.0)
    }

    #[test]
    fn first_in_line_waits_for_the_first_known_free_moment() {
        let agents = [now(Free::At(10_000)), now(Free::At(200_000))];
        assert_eq!(est(0, &agents, 0.0), 10_000);
        assert_eq!(est(0, &[now(Free::At(0)), now(Free::At(200_000))], 0.0), 0);
        // Second in line: the other agent's known moment.
        assert_eq!(est(1, &agents, 0.0), 200_000);
        assert_eq!(
            estimate(&Inputs {
                ahead: 0,
                ahead_live: 0,
                agents: &[],
                aht_ms: AHT,
                leave_rate: 0.0,
                ring_ms: 0
            }),
            None
        );
    }

    #[test]
    fn busy_agents_on_exponential_calls_give_erlang_c_waits() {
        // N agents on memoryless calls of mean AHT: the k-th caller waits k·AHT/N.
        for n in [1usize, 4, 10, 50] {
            let agents = vec![now(Free::Mean(AHT)); n];
            for k in [1u32, 2, 5, 30] {
                let w = est(k - 1, &agents, 0.0);
                let want = f64::from(k) * AHT as f64 / n as f64;
                assert!(close(w, want, 1e-6), "N={n} k={k}: {w} vs {want}");
            }
        }
    }

    #[test]
    fn callers_ahead_who_hang_up_shorten_the_wait_like_erlang_a() {
        // M/M/N+M: the exact expected wait at position k is Σ_{j=0}^{k-1} 1/(Nμ + jγ);
        // the fluid takes its midpoint-rule integral.
        let n = 10;
        let agents = vec![now(Free::Mean(AHT)); n];
        let mu = 1.0 / AHT as f64;
        let gamma = 1.0 / 120_000.0;
        for k in [2u32, 5, 20, 60] {
            let exact: f64 = (0..k)
                .map(|j| 1.0 / (n as f64 * mu + f64::from(j) * gamma))
                .sum();
            let w = est(k - 1, &agents, gamma);
            let none = est(k - 1, &agents, 0.0);
            assert!(w < none, "k={k}: patience shortens the wait");
            assert!(close(w, exact, 0.005), "k={k}: {w} vs exact {exact:.0}");
        }
        // Callbacks ahead never hang up.
        let w = estimate(&Inputs {
            ahead: 19,
            ahead_live: 0,
            agents: &agents,
            aht_ms: AHT,
            leave_rate: gamma,
            ring_ms: 0,
        })
        .unwrap()
        .wait_ms;
        assert_eq!(w, est(19, &agents, 0.0));
    }

    #[test]
    fn known_and_uncertain_moments_mix() {
        // Two agents end wrap-up in 5 s and 20 s; six are on calls with about AHT left.
        let mut agents = vec![now(Free::At(5_000)), now(Free::At(20_000))];
        agents.extend(vec![now(Free::Mean(AHT)); 6]);
        let first = est(0, &agents, 0.0);
        assert!(first <= 5_000, "{first}");
        let third = est(2, &agents, 0.0);
        // After the two certain slots (and what the six calls free meanwhile), about
        // AHT / (6 + 2) more.
        assert!(third > 20_000 && third < 20_000 + AHT / 6, "{third}");
        // Position is monotone.
        let mut last = 0;
        for k in 0..30 {
            let w = est(k, &agents, 0.0);
            assert!(w >= last, "k={k}");
            last = w;
        }
    }

    #[test]
    fn young_calls_rarely_end_at_once() {
        // Eight agents whose calls just began, handle times 100–1000 s (mean 505 s): the
        // residual quantiles say the first one frees well after the memoryless mean / 8.
        let young = [100, 250, 500, 750, 900, 1000];
        let agents = vec![now(Free::Quantiles(young)); 8];
        let mem = vec![now(Free::Mean(505_000)); 8];
        let est = |a: &[Agent], k| {
            estimate(&Inputs {
                ahead: k,
                ahead_live: k,
                agents: a,
                aht_ms: 505_000,
                leave_rate: 0.0,
                ring_ms: 0,
            })
            .unwrap()
            .wait_ms
        };
        let q: Vec<u64> = young.iter().map(|x| x * 1000).collect();
        let agents: Vec<Agent> = agents
            .iter()
            .map(|_| now(Free::Quantiles([q[0], q[1], q[2], q[3], q[4], q[5]])))
            .collect();
        let first = est(&agents, 0);
        assert!(first > 505_000 / 8 + 20_000, "{first}");
        // The slots still average one per AHT / 8 over a long line.
        let far = est(&agents, 79) as f64;
        assert!((far / (80.0 * 505_000.0 / 8.0) - 1.0).abs() < 0.15, "{far}");
        assert!(est(&mem, 0) < first);
    }

    #[test]
    fn relaxation_steps_widen_the_pool_later() {
        // Nobody qualifies now; an agent on a call joins at 90 s.
        let later = [Agent {
            from_ms: 90_000,
            free: Free::Mean(AHT),
        }];
        let w = est(0, &later, 0.0);
        assert_eq!(w, 90_000 + AHT);
        // An idle agent joining at 90 s serves at 90 s.
        let idle = [Agent {
            from_ms: 90_000,
            free: Free::At(0),
        }];
        assert_eq!(est(0, &idle, 0.0), 90_000);
        // One agent now, four more at 60 s: the line speeds up after the step.
        let mut agents = vec![now(Free::Mean(AHT))];
        agents.extend(vec![
            Agent {
                from_ms: 60_000,
                free: Free::Mean(AHT)
            };
            4
        ]);
        let widened = est(9, &agents, 0.0);
        assert!(widened < est(9, &agents[..1], 0.0));
        assert!(widened > 60_000);
    }

    #[test]
    fn ring_time_is_added_and_first_free_reported() {
        let agents = vec![now(Free::Mean(AHT)); 3];
        let e = estimate(&Inputs {
            ahead: 2,
            ahead_live: 2,
            agents: &agents,
            aht_ms: AHT,
            leave_rate: 0.0,
            ring_ms: 3_000,
        })
        .unwrap();
        assert_eq!(e.wait_ms, AHT + 3_000);
        assert_eq!(e.first_free_ms, AHT / 3);
    }
}
