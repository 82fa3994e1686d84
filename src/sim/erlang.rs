//! Staffing arithmetic for call centres: closed-form and numerical queueing formulas only
//! (no I/O, no simulation, no clock). Everything here is a pure function of its inputs.
//!
//! # Definitions
//!
//! * λ: arrivals per second; AHT: mean handle time in seconds (talk + wrap-up); μ = 1/AHT.
//! * A = λ·AHT: offered load in erlangs; N: number of agents.
//! * T: service-level threshold in seconds ("80 % answered within T = 100 s").
//! * θ: abandonment rate; patience is exponential with mean 1/θ seconds.
//!
//! # Erlang C (M/M/N, callers never hang up)
//!
//! * Erlang B by the recursion B(0) = 1, B(k) = A·B(k−1) / (k + A·B(k−1)), which never
//!   forms a factorial or a power, so it stays accurate for N = 1000 (Jagerman, "Some
//!   properties of the Erlang loss function", Bell Syst. Tech. J. 53, 1974).
//! * C(N, A) = N·B / (N − A·(1 − B)) = P(wait > 0); 1 when A ≥ N (no steady state).
//! * SL(T) = 1 − C·e^{−(N−A)·T/AHT};  ASA = C·AHT/(N − A) (mean wait of all callers, which in
//!   M/M/N are all answered); occupancy = A/N (Cooper, *Introduction to Queueing Theory*, 1981;
//!   Gans, Koole & Mandelbaum, "Telephone call centers: tutorial, review and research
//!   prospects", M&SOM 5(2), 2003).
//!
//! # Erlang A (M/M/N+M, Palm's model with exponential patience)
//!
//! Birth–death chain on k callers in system: birth λ, death min(k,N)·μ + max(k−N,0)·θ, so
//! π_k ∝ A^k/k! for k ≤ N and π_{N+j} = π_N·λ^j / Π_{i=1..j}(Nμ + iθ).
//! Let V be the *offered* wait (the time until an agent would take the caller, were they
//! infinitely patient) and τ ~ Exp(θ) the caller's patience; the caller waits W = min(V, τ),
//! is answered iff V < τ (V = 0 counts as answered), and abandons otherwise.
//!
//! An arrival that finds j callers queued (PASTA) has V = Σ_{i=0..j} Exp(Nμ + iθ): while i
//! callers are ahead the queue in front moves at rate Nμ (an agent frees) + iθ (someone ahead
//! abandons). Hence P(answered | j) = E[e^{−θV}] = Nμ / (Nμ + (j+1)θ) (the product telescopes),
//! and summing over j with the π weights (Σ_j x^j/(a)_{j+1} = e^x x^{−a} γ(a, x), the
//! incomplete-gamma form of Mandelbaum & Zeltyn) gives the density of V on (0, ∞):
//!
//! ```text
//! f_V(τ) = π_N·Nμ·g(τ),   g(τ) = exp(h(τ)),   h(τ) = −Nμ·τ + λ·(1 − e^{−θτ})/θ
//! ```
//!
//! which is the exponential-patience case of the M/M/N+G virtual-wait density of
//! Baccelli & Hébuterne (1981), as used by Mandelbaum & Zeltyn, "The impact of customers'
//! patience on delay and abandonment", OR Spectrum 26, 2004 (see also Garnett, Mandelbaum &
//! Reiman, "Designing a call center with impatient customers", M&SOM 4(3), 2002).
//! With R = Σ_{k<N} π_k/π_N = 1/B(N, A) − 1 and I[w] = ∫_0^∞ g(τ)·w(τ) dτ:
//!
//! * normalisation: π_N·(R + Nμ·I[1]) = 1;  P(wait) = π_N·Nμ·I[1];
//! * P(abandon) = π_N·Nμ·I[1 − e^{−θτ}];  E[W] = π_N·Nμ·I[(1 − e^{−θτ})/θ]  (so that
//!   λ·P(abandon) = θ·E[queue] holds by construction, Little's law giving E[queue] = λ·E[W]);
//! * E[W; answered] = π_N·Nμ·I[τ·e^{−θτ}];
//! * P(answered and W ≤ t) = π_N·R + π_N·Nμ·∫_0^t g(τ)·e^{−θτ} dτ;
//! * P(abandoned and W ≤ t) = π_N·Nμ·(∫_0^t g·(1 − e^{−θτ}) dτ + (1 − e^{−θt})·∫_t^∞ g dτ).
//!
//! θ = 0 gives g = e^{−(Nμ−λ)τ} and these reduce exactly to Erlang C.
//!
//! Numerics: we integrate rather than sum the chain because the number of states needed grows
//! like (λ − Nμ)/θ, unbounded as θ → 0 under overload. h is concave with its maximum at
//! τ* = ln(λ/Nμ)/θ (or 0), so we work with g·e^{−h(τ*)} and walk outward from τ* in panels
//! whose width keeps the change of h per panel near 1, with 16-point Gauss–Legendre on each,
//! stopping once g has fallen e^{−50} below its peak. ln R comes from a log-space recursion, so
//! nothing overflows for N = 1000 with A anywhere from 10⁻³ to 10⁴.
//!
//! Conventions: rates and loads that are negative or NaN count as 0; λ = 0 means nobody waits
//! (service level 1); N = 0 (or μ = 0) means nobody is ever answered: with θ > 0 everyone
//! abandons, with θ = 0 the queue is unstable. Unstable systems report P(wait) = 1, service
//! level 0 and infinite waits. Cost is O(N) per evaluation.

use std::f64::consts::PI;
use std::sync::OnceLock;

/// Service-level goal: `service_level` of offered calls answered within `threshold_s` seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    /// Fraction in [0, 1], e.g. 0.8. Values above 1 are treated as 1.
    pub service_level: f64,
    /// Threshold T in seconds, e.g. 100.
    pub threshold_s: f64,
}

impl Default for Target {
    /// The common "80/100" municipal goal.
    fn default() -> Self {
        Target {
            service_level: 0.8,
            threshold_s: 100.0,
        }
    }
}

/// Rates and loads: NaN and negatives mean "none".
fn nonneg(x: f64) -> f64 {
    if x > 0.0 {
        x
    } else {
        0.0
    }
}

/// Erlang B blocking probability for `n` servers and `a` erlangs (stable recursion).
pub fn erlang_b(n: u32, a: f64) -> f64 {
    let a = nonneg(a);
    if a == f64::INFINITY {
        return 1.0;
    }
    let mut b = 1.0;
    for k in 1..=n {
        b = a * b / (f64::from(k) + a * b);
    }
    b
}

/// Erlang C from an already computed B, so `agents_for` can reuse the recursion.
fn erlang_c_from_b(n: u32, a: f64, b: f64) -> f64 {
    let n = f64::from(n);
    if a >= n {
        return 1.0;
    }
    (n * b / (n - a * (1.0 - b))).clamp(0.0, 1.0)
}

/// Erlang C: probability that a caller has to wait. 0 for no load, 1 when A ≥ N.
pub fn erlang_c(n: u32, a: f64) -> f64 {
    let a = nonneg(a);
    if a == 0.0 {
        return 0.0;
    }
    erlang_c_from_b(n, a, erlang_b(n, a))
}

fn service_level_from_c(n: u32, a: f64, c: f64, aht: f64, t: f64) -> f64 {
    let (t, aht) = (nonneg(t), nonneg(aht));
    if aht == 0.0 {
        return 1.0; // zero handle time: nobody waits
    }
    if t == 0.0 {
        return 1.0 - c;
    }
    (1.0 - c * (-(f64::from(n) - a) * t / aht).exp()).clamp(0.0, 1.0)
}

/// Erlang C service level: fraction of callers answered within `t` seconds.
/// 1 with no load, 0 when A ≥ N.
pub fn service_level(n: u32, a: f64, aht: f64, t: f64) -> f64 {
    let a = nonneg(a);
    if a == 0.0 {
        return 1.0;
    }
    if a >= f64::from(n) {
        return 0.0;
    }
    service_level_from_c(n, a, erlang_c(n, a), aht, t)
}

/// Erlang C average speed of answer in seconds (mean wait over all callers);
/// `f64::INFINITY` when A ≥ N.
pub fn asa(n: u32, a: f64, aht: f64) -> f64 {
    let a = nonneg(a);
    if a == 0.0 || nonneg(aht) == 0.0 {
        return 0.0;
    }
    if a >= f64::from(n) {
        return f64::INFINITY;
    }
    erlang_c(n, a) * aht / (f64::from(n) - a)
}

/// Agent occupancy A/N, capped at 1 (also 1 for N = 0 with load, 0 without load).
pub fn occupancy(n: u32, a: f64) -> f64 {
    let a = nonneg(a);
    if a == 0.0 {
        0.0
    } else if n == 0 {
        1.0
    } else {
        (a / f64::from(n)).min(1.0)
    }
}

/// Erlang C staffing: the smallest N > A whose service level meets `target`; 0 when λ = 0.
/// O(N): the Erlang B recursion is carried along as N grows.
pub fn agents_for(lambda_per_s: f64, aht_s: f64, target: Target) -> u32 {
    let a = nonneg(lambda_per_s) * nonneg(aht_s);
    if a == 0.0 {
        return 0;
    }
    // f64::min ignores a NaN goal, so the search always has a reachable goal (SL rounds to
    // exactly 1 once C underflows).
    let goal = target.service_level.min(1.0);
    let mut b = 1.0;
    let mut n: u32 = 0;
    while n < u32::MAX {
        n += 1;
        b = a * b / (f64::from(n) + a * b);
        if f64::from(n) > a {
            let c = erlang_c_from_b(n, a, b);
            if service_level_from_c(n, a, c, aht_s, target.threshold_s) >= goal {
                return n;
            }
        }
    }
    u32::MAX
}

/// Agents to roster so that `n` are on the phones after shrinkage `s` (breaks, training,
/// absence): ceil(N / (1 − s)). `s` is clamped to ≥ 0; s ≥ 1 saturates to `u32::MAX`.
pub fn agents_with_shrinkage(n: u32, shrinkage: f64) -> u32 {
    let s = nonneg(shrinkage);
    if s >= 1.0 {
        return if n == 0 { 0 } else { u32::MAX };
    }
    // The epsilon stops 14 / (1 − 0.3) = 20.000000000000004 from rounding up to 21.
    let x = f64::from(n) / (1.0 - s) - 1e-9;
    // `as` saturates, which is the documented behaviour for absurd shrinkage.
    x.ceil().max(0.0) as u32
}

/// Steady-state performance of an M/M/N+M (Erlang A) call centre, per offered call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ErlangA {
    /// P(all agents busy on arrival), i.e. the caller has to queue.
    pub p_wait: f64,
    /// P(the caller hangs up before being answered).
    pub p_abandon: f64,
    /// Mean time in queue over all offered calls, counting zero waits and the time
    /// abandoners waited before hanging up (seconds).
    pub mean_wait_all: f64,
    /// Mean wait of answered calls: the usual contact-centre ASA (seconds). Infinite when
    /// nobody is answered.
    pub mean_wait_served: f64,
    /// Mean number of callers queued (λ·mean_wait_all, Little's law).
    pub mean_queue_len: f64,
    /// Fraction of agent time spent handling calls: λ·(1 − P(abandon))·AHT / N.
    pub occupancy: f64,
    model: Model,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Model {
    /// λ = 0.
    NoLoad,
    /// N·μ = 0: nobody is ever answered; callers abandon at rate θ (possibly 0).
    NoService {
        theta: f64,
    },
    /// θ = 0 and λ ≥ Nμ: the queue grows without bound.
    Unstable,
    Queue(WaitDensity),
}

/// The offered-wait density f_V(τ) = q·exp(h(τ) − h(τ*)) on τ > 0, plus the atom at 0.
#[derive(Debug, Clone, Copy, PartialEq)]
struct WaitDensity {
    lambda: f64,
    nmu: f64,
    theta: f64,
    tau_star: f64,
    /// π_N·Nμ·e^{h(τ*)}, so that f_V(τ) = q·e^{rel_h(τ)}.
    q: f64,
    /// P(V = 0) = π_N·R.
    p_immediate: f64,
}

/// e-fold change of ln g beyond which the integrand is treated as zero (e^{−50} ≈ 2e−22).
const CUT: f64 = 50.0;
/// Guard against a pathological walk; real inputs need a few hundred panels.
const MAX_PANELS: usize = 100_000;
const GL_POINTS: usize = 16;

/// Gauss–Legendre nodes and weights on [−1, 1], by Newton iteration on P_n.
fn gauss_legendre() -> &'static ([f64; GL_POINTS], [f64; GL_POINTS]) {
    static GL: OnceLock<([f64; GL_POINTS], [f64; GL_POINTS])> = OnceLock::new();
    GL.get_or_init(|| {
        let m = GL_POINTS;
        let mut nodes = [0.0; GL_POINTS];
        let mut weights = [0.0; GL_POINTS];
        for i in 0..m {
            let mut x = (PI * (i as f64 + 0.75) / (m as f64 + 0.5)).cos();
            let mut dp = 1.0;
            for _ in 0..100 {
                let (mut p0, mut p1) = (1.0, x);
                for k in 2..=m {
                    let k = k as f64;
                    let p2 = ((2.0 * k - 1.0) * x * p1 - (k - 1.0) * p0) / k;
                    p0 = p1;
                    p1 = p2;
                }
                dp = m as f64 * (x * p1 - p0) / (x * x - 1.0);
                let dx = p1 / dp;
                x -= dx;
                if dx.abs() < 1e-16 {
                    break;
                }
            }
            nodes[i] = x;
            weights[i] = 2.0 / ((1.0 - x * x) * dp * dp);
        }
        (nodes, weights)
    })
}

/// (1 − e^{−θτ})/θ, continuous at θ = 0 (where it is τ) and accurate for small θτ.
fn patience_integral(theta: f64, tau: f64) -> f64 {
    if theta == 0.0 {
        tau
    } else {
        -(-theta * tau).exp_m1() / theta
    }
}

impl WaitDensity {
    /// h(τ) − h(τ*), rearranged into terms that are all ≤ 0 so that it keeps full precision
    /// even when h(τ*) itself is huge (θ → 0 under overload). With E(z) = e^{−z} − 1 + z:
    /// τ* > 0 (then λe^{−θτ*} = Nμ): −(Nμ/θ)·E(θ(τ − τ*));
    /// τ* = 0: −(Nμ − λ)·τ − (λ/θ)·E(θτ).
    fn rel_h(&self, tau: f64) -> f64 {
        if self.tau_star > 0.0 {
            -self.nmu / self.theta * exp_excess(self.theta * (tau - self.tau_star))
        } else if self.theta > 0.0 {
            -(self.nmu - self.lambda) * tau
                - self.lambda / self.theta * exp_excess(self.theta * tau)
        } else {
            -(self.nmu - self.lambda) * tau
        }
    }

    /// Panel width keeping the variation of ln g (slope and curvature) and of the weights
    /// (e^{−θτ}) near one e-fold. Past θτ = 40 the weights are constant to 4e−18, so only g
    /// limits the width, and the tail after a short patience takes ~50 panels, not 50/(Nμ)·θ.
    fn width(&self, tau: f64) -> f64 {
        let e = (-self.theta * tau).exp();
        let slope = (self.lambda * e - self.nmu).abs();
        let curvature = (self.lambda * self.theta * e).sqrt();
        let weights = if self.theta * tau < 40.0 {
            self.theta
        } else {
            0.0
        };
        1.0 / (slope + curvature + weights)
    }

    /// ∫_a^b g(τ)·e^{−h(τ*)}·w(τ) dτ for K weights at once (b may be +∞).
    fn integrate<const K: usize>(&self, a: f64, b: f64, w: impl Fn(f64) -> [f64; K]) -> [f64; K] {
        let mut acc = [0.0; K];
        if b <= a {
            return acc;
        }
        let (nodes, weights) = gauss_legendre();
        let start = self.tau_star.clamp(a, b);
        // ln g is concave, so walking away from its (clamped) peak it only decreases and
        // the |slope| is largest at the far end of a panel: size the panel from there.
        for (dir, end) in [(1.0, b), (-1.0, a)] {
            let mut x = start;
            let mut panels = 0;
            while x != end && panels < MAX_PANELS {
                panels += 1;
                let mut s = self.width(x);
                for _ in 0..2 {
                    let far = (x + dir * s).clamp(a, b);
                    s = s.min(self.width(far));
                }
                let y = (x + dir * s).clamp(a, b);
                let (lo, hi) = if dir > 0.0 { (x, y) } else { (y, x) };
                let (mid, half) = (0.5 * (lo + hi), 0.5 * (hi - lo));
                for (node, weight) in nodes.iter().zip(weights) {
                    let tau = mid + half * node;
                    let g = self.rel_h(tau).exp() * weight * half;
                    for (sum, wk) in acc.iter_mut().zip(w(tau)) {
                        *sum += g * wk;
                    }
                }
                x = y;
                if self.rel_h(x) < -CUT {
                    break;
                }
            }
        }
        acc
    }
}

/// E(z) = e^{−z} − 1 + z ≥ 0, by its Taylor series where the direct form cancels.
fn exp_excess(z: f64) -> f64 {
    if z.abs() < 0.5 {
        // Σ_{k≥2} (−z)^k/k!; 20 terms leave < 0.5^21/21! relative error.
        let (mut term, mut sum) = (z * z / 2.0, 0.0);
        for k in 3..=22 {
            sum += term;
            term *= -z / f64::from(k);
        }
        sum
    } else {
        (-z).exp() - 1.0 + z
    }
}

/// ln(e^x + e^y) without overflow.
fn log_add(x: f64, y: f64) -> f64 {
    let m = x.max(y);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + ((x - m).exp() + (y - m).exp()).ln()
}

/// ln R with R = Σ_{k<N} π_k/π_N = 1/B(N, A) − 1, via R_k = (k/A)·(R_{k−1} + 1), R_0 = 0,
/// kept in logs because R overflows f64 once N ≫ A (e.g. N = 1000, A = 10).
fn ln_idle_ratio(n: u32, a: f64) -> f64 {
    let mut l = f64::NEG_INFINITY;
    for k in 1..=n {
        let softplus = l.max(0.0) + (-l.abs()).exp().ln_1p();
        l = (f64::from(k) / a).ln() + softplus;
    }
    l
}

/// Erlang A (M/M/N+M) steady state for `n` agents, arrival rate `lambda` (1/s), service
/// rate `mu` = 1/AHT and abandonment rate `theta` = 1/(mean patience). θ = 0 is Erlang C.
pub fn erlang_a(n: u32, lambda: f64, mu: f64, theta: f64) -> ErlangA {
    let (lambda, mu, theta) = (nonneg(lambda), nonneg(mu), nonneg(theta));
    let nmu = f64::from(n) * mu;
    let degenerate = |p_wait, p_abandon, wait: f64, occupancy, model| ErlangA {
        p_wait,
        p_abandon,
        mean_wait_all: wait,
        mean_wait_served: if p_abandon < 1.0 { wait } else { f64::INFINITY },
        mean_queue_len: lambda * wait,
        occupancy,
        model,
    };
    if lambda == 0.0 {
        return degenerate(0.0, 0.0, 0.0, 0.0, Model::NoLoad);
    }
    if nmu == 0.0 {
        // Nobody is answered; agents (if any) are held forever when μ = 0.
        let busy = if n > 0 { 1.0 } else { 0.0 };
        if theta > 0.0 {
            return degenerate(1.0, 1.0, 1.0 / theta, busy, Model::NoService { theta });
        }
        return degenerate(1.0, 0.0, f64::INFINITY, busy, Model::NoService { theta });
    }
    if theta == 0.0 && lambda >= nmu {
        return degenerate(1.0, 0.0, f64::INFINITY, 1.0, Model::Unstable);
    }

    let tau_star = if theta > 0.0 && lambda > nmu {
        (lambda / nmu).ln() / theta
    } else {
        0.0
    };
    let mut d = WaitDensity {
        lambda,
        nmu,
        theta,
        tau_star,
        q: 0.0,
        p_immediate: 0.0,
    };
    // h(τ*) = (λ − Nμ − Nμ·ln(λ/Nμ))/θ when the peak is interior, else h(0) = 0.
    let h_max = if tau_star > 0.0 {
        (lambda - nmu - nmu * (lambda / nmu).ln()) / theta
    } else {
        0.0
    };
    let [i_all, i_served, i_abandon, i_wait, i_wait_served] =
        d.integrate(0.0, f64::INFINITY, |tau| {
            let stay = (-theta * tau).exp();
            [
                1.0,
                stay,
                -(-theta * tau).exp_m1(),
                patience_integral(theta, tau),
                tau * stay,
            ]
        });
    // Normalise π_N·(R + Nμ·I[1]) = 1 in logs: e^{h_max} alone can overflow under overload.
    let ln_r = ln_idle_ratio(n, lambda / mu);
    let ln_queue = nmu.ln() + h_max;
    let ln_total = log_add(ln_r, ln_queue + i_all.ln());
    d.q = (ln_queue - ln_total).exp();
    d.p_immediate = (ln_r - ln_total).exp();

    let p_wait = (d.q * i_all).clamp(0.0, 1.0);
    let p_abandon = (d.q * i_abandon).clamp(0.0, 1.0);
    // Sum the two answered parts rather than 1 − P(abandon), which cancels when P(ab) ≈ 1.
    let p_served = (d.p_immediate + d.q * i_served).clamp(0.0, 1.0);
    let mean_wait_all = d.q * i_wait;
    ErlangA {
        p_wait,
        p_abandon,
        mean_wait_all,
        mean_wait_served: if p_served > 0.0 {
            d.q * i_wait_served / p_served
        } else {
            f64::INFINITY
        },
        mean_queue_len: lambda * mean_wait_all,
        occupancy: (lambda * p_served / nmu).min(1.0),
        model: Model::Queue(d),
    }
}

impl ErlangA {
    /// P(answered and waited ≤ t) per offered call: the contact-centre service level
    /// "answered within T / offered" (abandoned calls count against it at any wait).
    /// t ≤ 0 gives P(answered at once); t = ∞ gives 1 − P(abandon).
    pub fn p_answered_within(&self, t: f64) -> f64 {
        match self.model {
            Model::NoLoad => 1.0,
            Model::NoService { .. } | Model::Unstable => 0.0,
            Model::Queue(d) => {
                let theta = d.theta;
                let [answered] = d.integrate(0.0, nonneg(t), |tau| [(-theta * tau).exp()]);
                (d.p_immediate + d.q * answered).clamp(0.0, 1.0)
            }
        }
    }

    /// P(abandoned and waited ≤ t) per offered call: the "short abandons" some centres
    /// remove from the denominator. P(wait ≤ t) over all offered calls is
    /// `p_answered_within(t) + p_abandoned_within(t)`.
    pub fn p_abandoned_within(&self, t: f64) -> f64 {
        let t = nonneg(t);
        match self.model {
            Model::NoLoad | Model::Unstable => 0.0,
            Model::NoService { theta } => gave_up_by(theta, t),
            Model::Queue(d) => {
                let theta = d.theta;
                let [early] = d.integrate(0.0, t, |tau| [-(-theta * tau).exp_m1()]);
                // Callers whose offered wait exceeds t and whose patience ran out before t.
                let [late] = d.integrate(t, f64::INFINITY, |_| [1.0]);
                (d.q * (early + gave_up_by(theta, t) * late)).clamp(0.0, 1.0)
            }
        }
    }
}

/// P(patience ≤ t) = 1 − e^{−θt}, written so that θ = 0 with t = ∞ gives 0, not NaN.
fn gave_up_by(theta: f64, t: f64) -> f64 {
    if theta > 0.0 {
        -(-theta * t).exp_m1()
    } else {
        0.0
    }
}

/// Erlang A service level: P(answered within `t` seconds) per offered call.
pub fn erlang_a_service_level(n: u32, lambda: f64, mu: f64, theta: f64, t: f64) -> f64 {
    erlang_a(n, lambda, mu, theta).p_answered_within(t)
}

/// Erlang A staffing: the smallest N whose `erlang_a_service_level` meets `target`; 0 when
/// λ = 0, `u32::MAX` when no N can (μ = 0). Unlike Erlang C, N may be below A because
/// abandonment keeps the queue stable. Bisection, relying on the service level increasing
/// with N (checked in tests).
pub fn agents_for_erlang_a(lambda: f64, mu: f64, theta: f64, target: Target) -> u32 {
    let goal = target.service_level.min(1.0);
    let meets = |n| erlang_a_service_level(n, lambda, mu, theta, target.threshold_s) >= goal;
    if meets(0) {
        return 0;
    }
    // Gallop from N ≈ A to bracket the answer, then bisect (lo fails, hi meets).
    let (mut lo, mut hi) = (0u32, (nonneg(lambda) / nonneg(mu)).ceil().max(1.0) as u32);
    while !meets(hi) {
        if hi == u32::MAX || nonneg(mu) == 0.0 {
            return u32::MAX;
        }
        lo = hi;
        hi = hi.saturating_mul(2);
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if meets(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(x: f64, y: f64, tol: f64) -> bool {
        (x - y).abs() <= tol
    }

    #[test]
    fn gauss_legendre_is_exact_for_degree_31() {
        let (nodes, weights) = gauss_legendre();
        let integral: f64 = nodes.iter().zip(weights).map(|(x, w)| w * x.powi(30)).sum();
        assert!(close(integral, 2.0 / 31.0, 1e-14), "{integral}");
        assert!(close(weights.iter().sum::<f64>(), 2.0, 1e-14));
    }

    #[test]
    fn worked_example_280s_200_per_hour() {
        let (lambda, aht) = (200.0 / 3600.0, 280.0);
        let a = lambda * aht;
        let slow = Target {
            service_level: 0.8,
            threshold_s: 100.0,
        };
        let fast = Target {
            service_level: 0.8,
            threshold_s: 20.0,
        };
        assert_eq!(agents_for(lambda, aht, slow), 18);
        assert_eq!(agents_for(lambda, aht, fast), 20);
        // The boundaries themselves: 17 → 62.1 %, 18 → 81.2 % at 100 s; 19 → 75.6 %,
        // 20 → 84.7 % at 20 s.
        assert!(close(service_level(17, a, aht, 100.0), 0.620837, 1e-6));
        assert!(close(service_level(18, a, aht, 100.0), 0.811817, 1e-6));
        assert!(close(service_level(19, a, aht, 20.0), 0.756418, 1e-6));
        assert!(close(service_level(20, a, aht, 20.0), 0.847340, 1e-6));
        assert_eq!(agents_for(0.0, aht, slow), 0);
    }

    #[test]
    fn erlang_c_textbook_a10_n11_against_factorial_sum() {
        // Independent form: C = (A^N/N!·N/(N−A)) / (Σ_{k<N} A^k/k! + A^N/N!·N/(N−A)).
        let (n, a) = (11u32, 10.0);
        let mut term = 1.0;
        let mut sum = 0.0;
        for k in 0..n {
            sum += term;
            term *= a / f64::from(k + 1);
        }
        let tail = term * f64::from(n) / (f64::from(n) - a);
        let direct = tail / (sum + tail);
        assert!(close(erlang_c(n, a), direct, 1e-12));
        assert!(close(erlang_c(n, a), 0.6821, 5e-5));
        assert!(close(asa(n, a, 180.0), direct * 180.0, 1e-9));
        assert_eq!(occupancy(n, a), a / 11.0);
    }

    #[test]
    fn erlang_c_edge_cases_and_large_n() {
        let (b, c) = (erlang_b(500, 450.0), erlang_c(300, 280.0));
        assert!(b.is_finite() && b > 0.0 && b < 1.0);
        assert!(c.is_finite() && c > 0.0 && c < 1.0, "{c}");
        let sl = service_level(300, 280.0, 300.0, 20.0);
        assert!(sl.is_finite() && (0.0..=1.0).contains(&sl));
        assert!(asa(300, 280.0, 300.0).is_finite());
        assert_eq!(erlang_c(10, 10.0), 1.0);
        assert_eq!(service_level(10, 12.0, 180.0, 20.0), 0.0);
        assert_eq!(asa(10, 12.0, 180.0), f64::INFINITY);
        assert_eq!(erlang_c(0, 1.0), 1.0);
        assert_eq!(erlang_c(0, 0.0), 0.0);
        assert_eq!(service_level(5, 0.0, 180.0, 20.0), 1.0);
        assert_eq!(asa(5, 0.0, 180.0), 0.0);
        assert_eq!(occupancy(10, 12.0), 1.0);
        assert_eq!(erlang_c(1000, 10.0), 0.0); // underflows cleanly
        assert_eq!(agents_with_shrinkage(18, 0.3), 26);
        assert_eq!(agents_with_shrinkage(14, 0.3), 20);
        assert_eq!(agents_with_shrinkage(20, 0.0), 20);
        assert_eq!(agents_with_shrinkage(20, 1.0), u32::MAX);
    }

    /// Truncated birth–death chain with the per-state answer probability Nμ/(Nμ+(j+1)θ):
    /// (P(wait), P(abandon), E[queue], E[W; answered], π_N, P(V = 0)).
    fn chain(n: u32, lambda: f64, mu: f64, theta: f64) -> (f64, f64, f64, f64, f64, f64) {
        let nmu = f64::from(n) * mu;
        let mut ln_pi = vec![0.0];
        let mut peak = 0.0f64;
        for k in 1u32.. {
            let death = f64::from(k.min(n)) * mu + f64::from(k.saturating_sub(n)) * theta;
            let next = ln_pi[ln_pi.len() - 1] + (lambda / death).ln();
            ln_pi.push(next);
            peak = peak.max(next);
            // Past the mode the ratios fall, so the tail is below e^{-10}·1e−15 of the peak.
            if k > n && lambda < death && next - peak < (1e-15f64).ln() - 10.0 {
                break;
            }
        }
        let total = ln_pi.iter().fold(f64::NEG_INFINITY, |s, &l| log_add(s, l));
        let pi: Vec<f64> = ln_pi.iter().map(|l| (l - total).exp()).collect();
        let (mut p_wait, mut p_ab, mut queue, mut w_served) = (0.0, 0.0, 0.0, 0.0);
        let mut wait = 0.0; // Σ_{i=1..j+1} 1/(Nμ + iθ), the mean wait given answered
        for (k, p) in pi.iter().enumerate().skip(n as usize) {
            let j = (k - n as usize) as f64;
            let answered = nmu / (nmu + (j + 1.0) * theta);
            wait += 1.0 / (nmu + (j + 1.0) * theta);
            p_wait += p;
            p_ab += p * (1.0 - answered);
            queue += p * j;
            w_served += p * answered * wait;
        }
        (p_wait, p_ab, queue, w_served, pi[n as usize], 1.0 - p_wait)
    }

    /// P(answered within t) by the incomplete-gamma series (Mandelbaum & Zeltyn form):
    /// P(V=0) + π_N·(Nμ/θ)·[S(b,x) − e^{−bθt + x − y}·S(b,y)], b = Nμ/θ + 1, x = λ/θ,
    /// y = x·e^{−θt}, S(b,z) = Σ_j z^j / (b(b+1)…(b+j)).
    fn answered_by_gamma_series(
        n: u32,
        lambda: f64,
        mu: f64,
        theta: f64,
        t: f64,
        pi_n: f64,
        p0: f64,
    ) -> f64 {
        let nmu = f64::from(n) * mu;
        let (b, x) = (nmu / theta + 1.0, lambda / theta);
        let y = x * (-theta * t).exp();
        let s = |z: f64| {
            let (mut term, mut sum) = (1.0 / b, 0.0);
            for j in 0..1_000_000 {
                sum += term;
                term *= z / (b + f64::from(j) + 1.0);
                if term < 1e-18 * sum {
                    break;
                }
            }
            sum
        };
        p0 + pi_n * nmu / theta * (s(x) - (-b * theta * t + x - y).exp() * s(y))
    }

    #[test]
    fn erlang_a_matches_birth_death_chain_and_flow_balance() {
        // (N, λ, μ, θ): the Monte-Carlo case, an overloaded one and N = 100 at A = 95.
        let cases = [
            (10u32, 9.5 / 180.0, 1.0 / 180.0, 1.0 / 120.0),
            (10, 14.0 / 180.0, 1.0 / 180.0, 1.0 / 60.0),
            (100, 95.0 / 300.0, 1.0 / 300.0, 1.0 / 90.0),
            (120, 140.0 / 240.0, 1.0 / 240.0, 1.0 / 200.0),
            // Patience far shorter than service, and a long-patience overload (~4000 states).
            (2, 1.2 * 2.0 / 240.0, 1.0 / 240.0, 1.0),
            (50, 1.2 * 50.0 / 240.0, 1.0 / 240.0, 1e-5),
        ];
        for (n, lambda, mu, theta) in cases {
            let e = erlang_a(n, lambda, mu, theta);
            let (p_wait, p_ab, queue, w_served, pi_n, p0) = chain(n, lambda, mu, theta);
            assert!(close(e.p_wait, p_wait, 1e-10), "{n} {} {p_wait}", e.p_wait);
            assert!(
                close(e.p_abandon, p_ab, 1e-10),
                "{n} {} {p_ab}",
                e.p_abandon
            );
            // Flow balance λ·P(ab) = θ·E[queue], with E[queue] from the chain.
            assert!(close(lambda * e.p_abandon, theta * queue, 1e-12));
            assert!(close(e.mean_queue_len, queue, 1e-8 * queue.max(1.0)));
            let served = e.mean_wait_served * (1.0 - e.p_abandon);
            assert!(close(served, w_served, 1e-8 * w_served.max(1.0)));
            for t in [0.0, 5.0, 20.0, 100.0, 600.0] {
                let series = answered_by_gamma_series(n, lambda, mu, theta, t, pi_n, p0);
                let sl = e.p_answered_within(t);
                assert!(close(sl, series, 1e-10), "{n} t={t}: {sl} vs {series}");
                assert!(e.p_abandoned_within(t) <= e.p_abandon + 1e-15);
            }
            let all = e.p_answered_within(f64::INFINITY);
            assert!(close(all, 1.0 - e.p_abandon, 1e-12));
            let ab = e.p_abandoned_within(f64::INFINITY);
            assert!(close(ab, e.p_abandon, 1e-12));
        }
    }

    #[test]
    fn erlang_a_tends_to_erlang_c_as_patience_grows() {
        let (n, a, aht) = (11u32, 10.0, 180.0);
        let (lambda, mu) = (a / aht, 1.0 / aht);
        // θ = 0 takes the same integral path as θ > 0 (g = e^{−(Nμ−λ)τ}); 1e−12 checks the limit
        // (at θ = 1e−9 P(wait) has already moved by 4e−7, confirmed by the chain).
        for theta in [0.0, 1e-12] {
            let e = erlang_a(n, lambda, mu, theta);
            assert!(close(e.p_wait, erlang_c(n, a), 1e-9), "{theta}: {e:?}");
            assert!(close(e.mean_wait_all, asa(n, a, aht), 1e-6));
            assert!(close(e.mean_wait_served, asa(n, a, aht), 1e-6));
            for t in [0.0, 20.0, 100.0] {
                let sl = e.p_answered_within(t);
                assert!(close(sl, service_level(n, a, aht, t), 1e-9), "{t}: {sl}");
            }
        }
        assert_eq!(erlang_a(n, lambda, mu, 0.0).p_abandon, 0.0);
    }

    /// xorshift64*; good enough for a seeded Monte-Carlo check.
    struct Rng(u64);
    impl Rng {
        fn uniform(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let bits = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
            (bits as f64 + 0.5) / (1u64 << 53) as f64
        }
        fn exp(&mut self, rate: f64) -> f64 {
            -self.uniform().ln() / rate
        }
    }

    #[test]
    fn erlang_a_agrees_with_discrete_event_simulation() {
        let (n, aht, patience, t) = (10usize, 180.0, 120.0, 20.0);
        let lambda = 9.5 / aht;
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        // FCFS with identical agents: each caller, in arrival order, takes the agent that
        // frees first, unless their patience runs out before then (then nobody is held).
        let mut free_at = vec![0.0f64; n];
        let (mut clock, warmup, calls) = (0.0, 5_000, 200_000);
        let (mut abandoned, mut answered_fast, mut short_abandons) = (0u32, 0u32, 0u32);
        for i in 0..warmup + calls {
            clock += rng.exp(lambda);
            let tolerance = rng.exp(1.0 / patience);
            let service = rng.exp(1.0 / aht);
            let (agent, &free) = free_at
                .iter()
                .enumerate()
                .min_by(|x, y| x.1.total_cmp(y.1))
                .unwrap();
            let offered_wait = (free - clock).max(0.0);
            let gives_up = offered_wait > tolerance;
            if !gives_up {
                free_at[agent] = clock + offered_wait + service;
            }
            if i >= warmup {
                abandoned += u32::from(gives_up);
                answered_fast += u32::from(!gives_up && offered_wait <= t);
                short_abandons += u32::from(gives_up && tolerance <= t);
            }
        }
        let e = erlang_a(n as u32, lambda, 1.0 / aht, 1.0 / patience);
        let sim_ab = f64::from(abandoned) / f64::from(calls);
        let sim_sl = f64::from(answered_fast) / f64::from(calls);
        let sim_short = f64::from(short_abandons) / f64::from(calls);
        let (sl, short) = (e.p_answered_within(t), e.p_abandoned_within(t));
        println!("P(ab) {:.4} sim {sim_ab:.4}", e.p_abandon);
        println!("SL20 {sl:.4} sim {sim_sl:.4}; short ab {short:.4} sim {sim_short:.4}");
        assert!(close(e.p_abandon, sim_ab, 0.005));
        assert!(close(sl, sim_sl, 0.005));
        assert!(close(short, sim_short, 0.005));
    }

    fn check_finite(e: &ErlangA) {
        for p in [e.p_wait, e.p_abandon, e.occupancy] {
            assert!((0.0..=1.0).contains(&p), "{e:?}");
        }
        for t in [0.0, 20.0, 100.0, f64::INFINITY] {
            assert!((0.0..=1.0).contains(&e.p_answered_within(t)), "{e:?}");
            assert!((0.0..=1.0).contains(&e.p_abandoned_within(t)), "{e:?}");
        }
        assert!(e.mean_wait_all >= 0.0 && e.mean_wait_served >= 0.0 && e.mean_queue_len >= 0.0);
    }

    #[test]
    fn erlang_a_is_finite_over_a_wide_grid() {
        let aht = 240.0;
        for n in [0u32, 1, 5, 100, 300, 1000] {
            for rho in [0.0, 1e-6, 0.01, 0.9, 0.999, 1.0, 1.2, 3.0, 10.0] {
                for theta in [0.0, 1e-9, 1.0 / 1800.0, 1.0 / 60.0, 1.0] {
                    let lambda = rho * f64::from(n.max(1)) / aht;
                    let e = erlang_a(n, lambda, 1.0 / aht, theta);
                    check_finite(&e);
                    let stable = theta > 0.0 || rho < 1.0;
                    if n > 0 && stable {
                        assert!(e.mean_wait_all.is_finite() && e.mean_queue_len.is_finite());
                        // Flow balance holds everywhere, not only on the checked chains.
                        let lhs = lambda * e.p_abandon;
                        let rhs = theta * e.mean_queue_len;
                        assert!(close(lhs, rhs, 1e-9 * lhs.max(1e-9)), "{n} {rho} {theta}");
                    }
                }
            }
        }
        let none = erlang_a(0, 0.1, 1.0 / 180.0, 1.0 / 60.0);
        assert_eq!(
            (none.p_wait, none.p_abandon, none.mean_wait_all),
            (1.0, 1.0, 60.0)
        );
        assert_eq!(none.p_answered_within(1e9), 0.0);
        let idle = erlang_a(10, 0.0, 1.0 / 180.0, 1.0 / 60.0);
        assert_eq!(
            (idle.p_wait, idle.mean_wait_all, idle.mean_wait_served),
            (0.0, 0.0, 0.0)
        );
        assert_eq!(idle.p_answered_within(0.0), 1.0);
        let stuck = erlang_a(10, 0.1, 1.0 / 180.0, 0.0);
        assert_eq!((stuck.p_wait, stuck.mean_wait_all), (1.0, f64::INFINITY));
    }

    #[test]
    fn erlang_a_staffing_is_minimal_and_monotone() {
        let (aht, patience) = (180.0, 120.0);
        let (lambda, mu, theta) = (95.0 / aht, 1.0 / aht, 1.0 / patience);
        let mut last = 0.0;
        for n in 60..130 {
            let sl = erlang_a_service_level(n, lambda, mu, theta, 20.0);
            assert!(sl >= last, "service level fell at N = {n}");
            last = sl;
        }
        let target = Target {
            service_level: 0.8,
            threshold_s: 20.0,
        };
        let n = agents_for_erlang_a(lambda, mu, theta, target);
        assert!(erlang_a_service_level(n, lambda, mu, theta, 20.0) >= 0.8);
        assert!(erlang_a_service_level(n - 1, lambda, mu, theta, 20.0) < 0.8);
        // Abandonment shortens the queue, so Erlang A never needs more agents than Erlang C.
        assert!(n <= agents_for(lambda, aht, target));
        assert_eq!(agents_for_erlang_a(0.0, mu, theta, target), 0);
        assert_eq!(agents_for_erlang_a(lambda, 0.0, theta, target), u32::MAX);
    }
}
