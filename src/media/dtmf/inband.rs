//! In-band DTMF detection (Goertzel) for callers that do not send RFC 4733
//! telephone-events.
//!
//! Owns only the signal analysis and the key-press state machine on 8 kHz
//! linear PCM. No I/O, no codec decoding, no allocation: all state lives in
//! fixed-size arrays so `push` can run per RTP packet.
//!
//! Analysis windows are 120 samples (15 ms) with a light Kaiser taper,
//! starting every 20 samples (2.5 ms). That length and taper keep the
//! neighbouring row tone (73-89 Hz away) >= 10 dB down even with ±1.5 %
//! detuning and the other group's tone <= -30 dB down (a plain 102-sample
//! window leaks it at -21 dB, which swung twist and power readings by
//! ±1.5 dB), at a cost of at most 1.4 dB for a tone 1.5 % off, while staying
//! short enough to time a 40 ms tone. A window is a "hit" when all checks in
//! `InbandDetector::evaluate` pass, including that the tone power matches
//! the windows 40 samples before and after it: only windows lying inside a
//! steady tone qualify, which makes the duration count crisp. A key is
//! reported after `MIN_HITS` consecutive hits and not again until
//! `RELEASE_MISSES` consecutive windows without it.

const SAMPLE_RATE: f32 = 8_000.0;
/// Analysis window length in samples (see module comment).
const WINDOW: usize = 120;
/// Kaiser taper of the analysis window (see module comment).
const KAISER_BETA: f32 = 2.5;
/// Distance between successive windows.
const HOP: usize = 20;
/// Windows compared for phase and stability are this many hops apart
/// (40 samples): far enough for a clear power step at tone edges, close
/// enough for an unambiguous phase advance (±100 Hz).
const LAG: usize = 2;
/// Per-window results kept: the window being judged and LAG on each side.
const HISTORY: usize = 2 * LAG + 1;

const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// Mean square of a 0 dBm0 sine in 16-bit PCM: G.711 peaks at +3.17 dBm0,
/// which puts a 0 dBm0 sine at about 22 650 peak.
const DBM0_POWER: f32 = 22_650.0 * 22_650.0 / 2.0;
/// Each tone must be at least -33 dBm0 (3 dB of slack under the usual
/// -30 dBm0 sensitivity for off-frequency tones, which read low).
const MIN_TONE_POWER: f32 = DBM0_POWER * 5.012e-4;
/// The strongest row (column) must beat every other row (column) by 8 dB;
/// this also rejects rows more than ~3 % off towards a neighbour.
const MIN_PEAK_RATIO: f32 = 6.31;
/// Normal twist (column weaker than row) up to 8 dB.
const MAX_NORMAL_TWIST: f32 = 6.31;
/// Reverse twist (row weaker than column) up to 4 dB.
const MAX_REVERSE_TWIST: f32 = 2.51;
/// The two tones must carry this share of the window's energy; speech,
/// music and noise spread theirs over many frequencies. Not higher because
/// a valid pair can read as low as ~0.75 (±1.5 % detuning costs up to
/// 1.4 dB per tone, 15 dB SNR another 3 %).
const MIN_TONE_SHARE: f32 = 0.65;
/// Relative frequency error allowed, measured from the phase advance over
/// LAG hops: between Q.24's "must accept" 1.5 % and "must reject" 3.5 %.
const MAX_FREQ_DEVIATION: f32 = 0.025;
/// Tone power may differ by at most 2.4 dB from the windows LAG hops
/// before and after. Steady DTMF stays within ~1 dB even detuned, twisted
/// and in noise; a window overlapping a tone edge differs from one of its
/// neighbours by more, and speech is rarely this steady.
const MAX_POWER_STEP: f32 = 1.74;
/// Consecutive hits needed to report a key. As hits come only from windows
/// inside a steady tone, 8 hits need 32.5-36.5 ms of tone (measured over
/// all keys, alignments, ±1.5 % detuning, 6 dB twist and 15 dB SNR): 40 ms
/// tones are always reported, 30 ms never (Q.24: accept >= 40 ms).
const MIN_HITS: u32 = 8;
/// Consecutive non-hits that end a key press: 16 (40 ms of windows, which
/// are 15 ms long) bridges dropouts up to ~22 ms within a press, so a
/// 10 ms interruption does not double a digit, and releases on a 40 ms
/// inter-digit gap.
const RELEASE_MISSES: u32 = 16;
/// Keys detected within one `push` call beyond the first are queued here
/// (only possible when callers push very long chunks).
const QUEUE: usize = 4;

/// Goertzel resonator constants for one DTMF frequency.
#[derive(Clone, Copy, Debug, Default)]
struct Bin {
    /// 2 cos(w), the recursion coefficient.
    coeff: f32,
    cos: f32,
    sin: f32,
    /// Phase a tone exactly on this frequency advances over LAG hops, and
    /// its sine and cosine.
    lag_phase: f32,
    lag_sin: f32,
    lag_cos: f32,
}

impl Bin {
    fn new(freq: f32) -> Self {
        let w = 2.0 * std::f32::consts::PI * freq / SAMPLE_RATE;
        Self {
            coeff: 2.0 * w.cos(),
            cos: w.cos(),
            sin: w.sin(),
            lag_phase: w * (HOP * LAG) as f32,
            lag_sin: (w * (HOP * LAG) as f32).sin(),
            lag_cos: (w * (HOP * LAG) as f32).cos(),
        }
    }
}

/// Complex Goertzel output of one bin (up to a constant phase factor that
/// cancels when comparing windows).
#[derive(Clone, Copy, Debug, Default)]
struct Spectrum {
    re: f32,
    im: f32,
}

impl Spectrum {
    /// Mean power of the sine component: A^2 / 2 for amplitude A.
    fn power(self) -> f32 {
        2.0 * (self.re * self.re + self.im * self.im) / (WINDOW * WINDOW) as f32
    }
}

/// Analysis of one window.
#[derive(Clone, Copy, Debug, Default)]
struct Frame {
    bins: [Spectrum; 8],
    /// Mean square of the tapered window (same weighting as the bins).
    energy: f32,
}

/// Goertzel DTMF detector for 8 kHz linear PCM.
#[derive(Clone, Debug)]
pub struct InbandDetector {
    bins: [Bin; 8],
    /// Taper, scaled so its sum is WINDOW (keeps tone power in A^2 / 2).
    taper: [f32; WINDOW],
    /// Sum of the squared taper, to turn windowed energy into mean power.
    taper_energy: f32,
    buf: [f32; WINDOW],
    fill: usize,
    /// Oldest first; the middle one is judged once the newest is known.
    history: [Frame; HISTORY],
    candidate: Option<(usize, usize)>,
    run: u32,
    held: Option<(usize, usize)>,
    misses: u32,
    queue: [char; QUEUE],
    queued: usize,
}

impl Default for InbandDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl InbandDetector {
    /// Detector for 8 kHz input.
    pub fn new() -> Self {
        let mut bins = [Bin::default(); 8];
        for (bin, &f) in bins.iter_mut().zip(ROWS.iter().chain(&COLS)) {
            *bin = Bin::new(f);
        }
        let mut taper = [0.0f32; WINDOW];
        for (n, t) in taper.iter_mut().enumerate() {
            let r = 2.0 * n as f32 / (WINDOW - 1) as f32 - 1.0;
            *t = bessel_i0(KAISER_BETA * (1.0 - r * r).max(0.0).sqrt());
        }
        let scale = WINDOW as f32 / taper.iter().sum::<f32>();
        for t in &mut taper {
            *t *= scale;
        }
        let taper_energy = taper.iter().map(|t| t * t).sum();
        Self {
            bins,
            taper,
            taper_energy,
            buf: [0.0; WINDOW],
            fill: 0,
            history: [Frame::default(); HISTORY],
            candidate: None,
            run: 0,
            held: None,
            misses: 0,
            queue: ['\0'; QUEUE],
            queued: 0,
        }
    }

    /// Forgets all buffered audio and any key in progress.
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// Feeds successive samples (any length; 20 ms frames typically).
    /// Returns a key once per press, when its tone has lasted long enough
    /// (reported 35-45 ms after the tone starts). Keys completing in the same
    /// call beyond the first are returned by the following calls, so none
    /// is lost with chunks up to ~300 ms.
    pub fn push(&mut self, samples: &[i16]) -> Option<char> {
        for &s in samples {
            self.buf[self.fill] = f32::from(s);
            self.fill += 1;
            if self.fill == WINDOW {
                self.analyse_window();
                self.buf.copy_within(HOP.., 0);
                self.fill = WINDOW - HOP;
            }
        }
        if self.queued == 0 {
            return None;
        }
        let key = self.queue[0];
        self.queue.copy_within(1.., 0);
        self.queued -= 1;
        Some(key)
    }

    fn analyse_window(&mut self) {
        let mut x = [0.0f32; WINDOW];
        for ((x, &b), &t) in x.iter_mut().zip(&self.buf).zip(&self.taper) {
            *x = b * t;
        }
        let mut frame = Frame {
            energy: x.iter().map(|v| v * v).sum::<f32>() / self.taper_energy,
            ..Frame::default()
        };
        for (spectrum, bin) in frame.bins.iter_mut().zip(&self.bins) {
            *spectrum = goertzel(&x, bin);
        }
        self.history.copy_within(1.., 0);
        self.history[HISTORY - 1] = frame;

        let hit = self.evaluate();
        if let Some(key) = self.track(hit) {
            if self.queued < QUEUE {
                self.queue[self.queued] = key;
                self.queued += 1;
            }
        }
    }

    /// Judges the middle window of the history; returns (row, column) if it
    /// holds a valid DTMF pair.
    fn evaluate(&self) -> Option<(usize, usize)> {
        let [before, .., after] = self.history;
        let frame = self.history[LAG];
        let mut power = [0.0f32; 8];
        for (p, s) in power.iter_mut().zip(&frame.bins) {
            *p = s.power();
        }
        let row = strongest(&power[..4])?;
        let col = 4 + strongest(&power[4..])?;
        let (row_power, col_power) = (power[row], power[col]);
        let tone_power = row_power + col_power;

        if row_power < MIN_TONE_POWER || col_power < MIN_TONE_POWER {
            return None;
        }
        if row_power > MAX_NORMAL_TWIST * col_power || col_power > MAX_REVERSE_TWIST * row_power {
            return None;
        }
        // Multiplied out rather than divided: energy may be zero.
        if tone_power < MIN_TONE_SHARE * frame.energy {
            return None;
        }
        for other in [before, after] {
            let other_power = other.bins[row].power() + other.bins[col].power();
            if tone_power > MAX_POWER_STEP * other_power
                || other_power > MAX_POWER_STEP * tone_power
            {
                return None;
            }
        }
        for i in [row, col] {
            let deviation = freq_deviation(frame.bins[i], before.bins[i], &self.bins[i]);
            if deviation.abs() > MAX_FREQ_DEVIATION {
                return None;
            }
        }
        Some((row, col - 4))
    }

    /// Key-press state machine over the per-window hits.
    fn track(&mut self, hit: Option<(usize, usize)>) -> Option<char> {
        if hit.is_some() && hit == self.candidate {
            self.run = self.run.saturating_add(1);
        } else {
            self.candidate = hit;
            self.run = u32::from(hit.is_some());
        }

        let mut reported = None;
        if let Some((r, c)) = hit {
            if self.run >= MIN_HITS && self.held != hit {
                self.held = hit;
                reported = Some(KEYS[r][c]);
            }
        }
        if self.held.is_some() {
            if hit == self.held {
                self.misses = 0;
            } else {
                self.misses += 1;
                if self.misses >= RELEASE_MISSES {
                    self.held = None;
                    self.misses = 0;
                }
            }
        }
        reported
    }
}

fn goertzel(x: &[f32; WINDOW], bin: &Bin) -> Spectrum {
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &v in x {
        let s0 = v + bin.coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    Spectrum {
        re: s1 - bin.cos * s2,
        im: bin.sin * s2,
    }
}

/// Modified Bessel function of the first kind, order 0 (power series).
fn bessel_i0(x: f32) -> f32 {
    let (mut term, mut sum, mut k) = (1.0f32, 1.0f32, 1.0f32);
    while term > 1e-8 * sum {
        term *= (x / (2.0 * k)) * (x / (2.0 * k));
        sum += term;
        k += 1.0;
    }
    sum
}

/// Index of the bin that beats all others in its group by the peak ratio.
fn strongest(power: &[f32]) -> Option<usize> {
    let (best, &max) = power.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
    let dominant = power
        .iter()
        .enumerate()
        .all(|(i, &p)| i == best || max >= MIN_PEAK_RATIO * p);
    dominant.then_some(best)
}

/// Relative frequency error of the tone in a bin, from how far its phase
/// moved over LAG hops compared with a tone exactly on the bin frequency.
fn freq_deviation(now: Spectrum, before: Spectrum, bin: &Bin) -> f32 {
    // now * conj(before): the phase advance.
    let re = now.re * before.re + now.im * before.im;
    let im = now.im * before.re - now.re * before.im;
    // Rotate back by the nominal advance; what is left is the error.
    let err_re = re * bin.lag_cos + im * bin.lag_sin;
    let err_im = im * bin.lag_cos - re * bin.lag_sin;
    err_im.atan2(err_re) / bin.lag_phase
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    const DBM0_PEAK: f64 = 22_650.0;

    /// Builds test signals sample by sample at 8 kHz.
    #[derive(Default)]
    struct Signal {
        samples: Vec<f64>,
    }

    impl Signal {
        fn silence(mut self, ms: f64) -> Self {
            let n = (ms * 8.0).round() as usize;
            self.samples.resize(self.samples.len() + n, 0.0);
            self
        }

        fn samples_of_silence(mut self, n: usize) -> Self {
            self.samples.resize(self.samples.len() + n, 0.0);
            self
        }

        /// Dual tone for `key`, each tone at its own level (dBm0) and
        /// relative frequency offset.
        fn key_with(mut self, key: char, ms: f64, levels: (f64, f64), offsets: (f64, f64)) -> Self {
            let (r, c) = key_position(key);
            let fr = f64::from(ROWS[r]) * (1.0 + offsets.0);
            let fc = f64::from(COLS[c]) * (1.0 + offsets.1);
            let ar = DBM0_PEAK * 10f64.powf(levels.0 / 20.0);
            let ac = DBM0_PEAK * 10f64.powf(levels.1 / 20.0);
            let n = (ms * 8.0).round() as usize;
            let start = self.samples.len();
            self.samples.extend((0..n).map(|i| {
                let t = (start + i) as f64 / 8_000.0;
                ar * (2.0 * PI * fr * t).sin() + ac * (2.0 * PI * fc * t + 1.0).sin()
            }));
            self
        }

        fn key(self, key: char, ms: f64, dbm0: f64) -> Self {
            self.key_with(key, ms, (dbm0, dbm0), (0.0, 0.0))
        }

        /// Adds white noise over the whole signal so far at `dbm0` power.
        fn noise(mut self, dbm0: f64, seed: u64) -> Self {
            let mut rng = Rng(seed);
            // Uniform noise in [-a, a] has power a^2 / 3.
            let a = (3.0 * DBM0_PEAK * DBM0_PEAK / 2.0 * 10f64.powf(dbm0 / 10.0)).sqrt();
            for s in &mut self.samples {
                *s += a * rng.uniform();
            }
            self
        }

        fn pcm(&self) -> Vec<i16> {
            self.samples
                .iter()
                .map(|&s| s.round().clamp(-32768.0, 32767.0) as i16)
                .collect()
        }
    }

    struct Rng(u64);

    impl Rng {
        /// xorshift64*, uniform in [-1, 1).
        fn uniform(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let v = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
            v as f64 / (1u64 << 52) as f64 - 1.0
        }
    }

    fn key_position(key: char) -> (usize, usize) {
        for (r, row) in KEYS.iter().enumerate() {
            if let Some(c) = row.iter().position(|&k| k == key) {
                return (r, c);
            }
        }
        panic!("not a DTMF key: {key}");
    }

    fn detect_chunked(pcm: &[i16], chunk: usize) -> String {
        let mut det = InbandDetector::new();
        let mut out: String = pcm.chunks(chunk).filter_map(|c| det.push(c)).collect();
        // Drain anything queued by an oversized last chunk.
        while let Some(k) = det.push(&[]) {
            out.push(k);
        }
        out
    }

    fn detect(signal: &Signal) -> String {
        detect_chunked(&signal.pcm(), 160)
    }

    const ALL_KEYS: &str = "123A456B789C*0#D";

    #[test]
    fn every_key_at_several_levels() {
        for key in ALL_KEYS.chars() {
            for dbm0 in [-3.0, -6.0, -20.0, -28.0] {
                let s = Signal::default()
                    .silence(60.0)
                    .key(key, 80.0, dbm0)
                    .silence(80.0);
                assert_eq!(detect(&s), key.to_string(), "{key} at {dbm0} dBm0");
            }
        }
    }

    #[test]
    fn too_quiet_is_ignored() {
        let s = Signal::default()
            .silence(20.0)
            .key('5', 200.0, -40.0)
            .silence(50.0);
        assert_eq!(detect(&s), "");
    }

    #[test]
    fn duration_thresholds_for_any_alignment() {
        for lead in (0..HOP).step_by(3) {
            for dbm0 in [-6.0, -20.0] {
                let short = Signal::default()
                    .samples_of_silence(lead)
                    .key('8', 30.0, dbm0)
                    .silence(60.0);
                assert_eq!(detect(&short), "", "30 ms, lead {lead}, {dbm0} dBm0");
                for ms in [40.0, 50.0] {
                    let ok = Signal::default()
                        .samples_of_silence(lead)
                        .key('8', ms, dbm0)
                        .silence(60.0);
                    assert_eq!(detect(&ok), "8", "{ms} ms, lead {lead}, {dbm0} dBm0");
                }
            }
        }
    }

    #[test]
    fn long_press_reports_once() {
        let s = Signal::default()
            .silence(20.0)
            .key('#', 2_000.0, -10.0)
            .silence(100.0);
        assert_eq!(detect(&s), "#");
    }

    #[test]
    fn repeated_key_needs_a_gap() {
        let two = Signal::default()
            .key('3', 60.0, -10.0)
            .silence(40.0)
            .key('3', 60.0, -10.0)
            .silence(60.0);
        assert_eq!(detect(&two), "33");
        // A 10 ms dropout inside one press is bridged.
        let one = Signal::default()
            .key('3', 100.0, -10.0)
            .silence(10.0)
            .key('3', 100.0, -10.0)
            .silence(60.0);
        assert_eq!(detect(&one), "3");
    }

    #[test]
    fn fast_dialling_sequence() {
        let mut s = Signal::default().silence(30.0);
        for key in ALL_KEYS.chars() {
            s = s.key(key, 50.0, -12.0).silence(45.0);
        }
        assert_eq!(detect(&s), ALL_KEYS);
    }

    #[test]
    fn twist_limits() {
        let run = |row_db: f64, col_db: f64| {
            let s = Signal::default()
                .silence(20.0)
                .key_with('9', 100.0, (row_db, col_db), (0.0, 0.0))
                .silence(50.0);
            detect(&s)
        };
        assert_eq!(run(-10.0, -16.0), "9", "6 dB normal twist");
        assert_eq!(run(-13.0, -10.0), "9", "3 dB reverse twist");
        assert_eq!(run(-10.0, -20.0), "", "10 dB normal twist");
        assert_eq!(run(-16.0, -10.0), "", "6 dB reverse twist");
    }

    #[test]
    fn frequency_tolerance() {
        for key in ALL_KEYS.chars() {
            for offsets in [
                (0.015, 0.015),
                (-0.015, -0.015),
                (0.015, -0.015),
                (-0.015, 0.015),
            ] {
                let s = Signal::default()
                    .silence(20.0)
                    .key_with(key, 80.0, (-10.0, -10.0), offsets)
                    .silence(60.0);
                assert_eq!(detect(&s), key.to_string(), "{key} off by {offsets:?}");
            }
            for offsets in [(0.035, 0.0), (-0.035, 0.0), (0.0, 0.035), (0.0, -0.035)] {
                let s = Signal::default()
                    .silence(20.0)
                    .key_with(key, 80.0, (-10.0, -10.0), offsets)
                    .silence(60.0);
                assert_eq!(detect(&s), "", "{key} off by {offsets:?}");
            }
        }
    }

    #[test]
    fn tone_in_noise_at_15_db_snr() {
        for (i, key) in ALL_KEYS.chars().enumerate() {
            // Two tones at -20 dBm0 each = -17 dBm0 total; noise 15 dB under.
            let s = Signal::default()
                .silence(100.0)
                .key(key, 60.0, -20.0)
                .silence(100.0)
                .noise(-32.0, 1 + i as u64);
            assert_eq!(detect(&s), key.to_string(), "{key}");
        }
    }

    #[test]
    fn white_noise_is_not_dtmf() {
        for (seed, dbm0) in [(7, -3.0), (8, -15.0), (9, -30.0)] {
            let s = Signal::default().silence(5_000.0).noise(dbm0, seed);
            assert_eq!(detect(&s), "", "noise at {dbm0} dBm0");
        }
    }

    #[test]
    fn vowel_like_harmonics_are_not_dtmf() {
        // Glottal-pulse-like spectrum: 40 harmonics with 1/k roll-off,
        // formant boosts and a 5 Hz vibrato, at several pitches.
        for f0 in [95.0, 118.0, 140.0, 175.0, 210.0, 240.0] {
            let n = 8_000 * 3;
            let mut phase = 0.0f64;
            let mut samples = Vec::with_capacity(n);
            for i in 0..n {
                let t = i as f64 / 8_000.0;
                let f = f0 * (1.0 + 0.03 * (2.0 * PI * 5.0 * t).sin());
                phase += 2.0 * PI * f / 8_000.0;
                let mut v = 0.0;
                for k in 1..=40 {
                    let fk = f * k as f64;
                    if fk > 3_800.0 {
                        break;
                    }
                    let formant = 1.0
                        + 4.0 * (-((fk - 700.0) / 150.0).powi(2)).exp()
                        + 3.0 * (-((fk - 1_250.0) / 200.0).powi(2)).exp();
                    v += formant / k as f64 * (k as f64 * phase).sin();
                }
                samples.push(v * 3_000.0);
            }
            let s = Signal { samples };
            assert_eq!(detect(&s), "", "f0 {f0}");
        }
    }

    #[test]
    fn chunk_size_does_not_matter() {
        let s = Signal::default()
            .silence(20.0)
            .key('1', 60.0, -10.0)
            .silence(50.0)
            .key('2', 60.0, -10.0)
            .silence(50.0)
            .key('D', 60.0, -10.0)
            .silence(50.0);
        let pcm = s.pcm();
        for chunk in [1, 7, 80, 160, 240, 1_000, pcm.len()] {
            assert_eq!(detect_chunked(&pcm, chunk), "12D", "chunk {chunk}");
        }
    }

    #[test]
    fn reset_drops_a_press_in_progress() {
        let pcm = Signal::default().key('0', 60.0, -10.0).silence(40.0).pcm();
        let (head, tail) = pcm.split_at(200);
        let mut det = InbandDetector::default();
        assert_eq!(det.push(head), None);
        assert_eq!(det.push(tail), Some('0'));
        let mut det = InbandDetector::default();
        assert_eq!(det.push(head), None);
        det.reset();
        assert_eq!(det.push(tail), None);
    }
}
