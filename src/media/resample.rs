//! Band-limited sample-rate conversion for prompts decoded from WAV files
//! (espeak-ng writes 22 050 Hz, admins drop in 16/44.1/48 kHz files).
//!
//! Owns only the maths: a Kaiser-windowed sinc evaluated through a polyphase
//! table. No I/O, no file formats, no streaming state: it runs once per
//! prompt at start-up, so it favours clarity over speed (a 60 s 48 kHz file
//! still converts in a few tens of milliseconds in release builds).

use std::f64::consts::PI;

/// Stop-band attenuation the Kaiser design aims for; the brief asks for
/// aliasing down by at least 50 dB, this leaves margin.
const STOPBAND_DB: f64 = 60.0;
/// Flat up to this fraction of the lower Nyquist: 0.85 x 4 kHz = 3.4 kHz,
/// the top of the telephone speech band.
const PASSBAND_EDGE: f64 = 0.85;
/// Fully attenuated at the lower Nyquist, so nothing folds back into the
/// output band.
const STOPBAND_EDGE: f64 = 1.0;
/// Above this many phases (odd rate pairs such as 44 101 -> 8 000 Hz) the
/// table is sampled every 1/1024 input sample and interpolated linearly;
/// the error of that is below -100 dB, far under the stop-band level.
const MAX_PHASES: u64 = 1024;

/// Converts `input` sampled at `from_hz` to `to_hz`.
///
/// Both rates must be > 0; a zero rate is a caller bug and yields an empty
/// vector rather than a panic. Equal rates return an exact copy. The output
/// has `round(input.len() * to_hz / from_hz)` samples and output sample `n`
/// is aligned with input time `n * from_hz / to_hz`.
pub fn resample(input: &[f32], from_hz: u32, to_hz: u32) -> Vec<f32> {
    if from_hz == 0 || to_hz == 0 {
        return Vec::new();
    }
    if from_hz == to_hz {
        return input.to_vec();
    }
    let from = u64::from(from_hz);
    let to = u64::from(to_hz);
    let out_len = (input.len() as u64 * to + from / 2) / from;

    // Exact rational position of each output sample: n * from / to input
    // samples = (n * step) / up, with the fraction reduced by the gcd.
    let g = gcd(from, to);
    let step = from / g;
    let up = to / g;
    let filter = PolyphaseFilter::new(from, to, up.min(MAX_PHASES) as usize);

    (0..out_len)
        .map(|n| {
            let pos = n * step;
            filter.sample(input, pos / up, pos % up, up)
        })
        .collect()
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Low-pass kernel pre-sampled at `phases + 1` fractional offsets; row `p`
/// holds the taps for an output instant `p / phases` input samples after an
/// input sample (the extra last row makes interpolation branch-free).
struct PolyphaseFilter {
    taps: usize,
    half: usize,
    phases: usize,
    coeffs: Vec<f32>,
}

impl PolyphaseFilter {
    fn new(from: u64, to: u64, phases: usize) -> Self {
        // Work in input-sample units; the filter protects the lower rate.
        let nyquist = 0.5 * from.min(to) as f64 / from as f64;
        let cutoff = nyquist * (PASSBAND_EDGE + STOPBAND_EDGE) / 2.0;
        let transition = nyquist * (STOPBAND_EDGE - PASSBAND_EDGE);
        // Kaiser's design formulas (Oppenheim & Schafer 7.6).
        let beta = 0.1102 * (STOPBAND_DB - 8.7);
        let length = (STOPBAND_DB - 7.95) / (2.285 * 2.0 * PI * transition);
        let half = ((length / 2.0).ceil() as usize).max(1);
        let taps = 2 * half;
        let i0_beta = bessel_i0(beta);

        let mut coeffs = Vec::with_capacity((phases + 1) * taps);
        for p in 0..=phases {
            let frac = p as f64 / phases as f64;
            let row_start = coeffs.len();
            for k in 0..taps {
                // Distance from the output instant to input tap k.
                let tau = frac + half as f64 - 1.0 - k as f64;
                let r = tau / half as f64;
                let window = bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / i0_beta;
                let x = 2.0 * cutoff * tau;
                let sinc = if x == 0.0 {
                    1.0
                } else {
                    (PI * x).sin() / (PI * x)
                };
                coeffs.push(2.0 * cutoff * sinc * window);
            }
            // Unity DC gain on every phase, so the phase pattern cannot
            // amplitude-modulate the signal.
            let row = &mut coeffs[row_start..];
            let sum: f64 = row.iter().sum();
            for c in row.iter_mut() {
                *c /= sum;
            }
        }
        Self {
            taps,
            half,
            phases,
            coeffs: coeffs.into_iter().map(|c| c as f32).collect(),
        }
    }

    fn row(&self, p: usize) -> &[f32] {
        &self.coeffs[p * self.taps..(p + 1) * self.taps]
    }

    /// Output value at input time `i0 + rem / up`.
    fn sample(&self, input: &[f32], i0: u64, rem: u64, up: u64) -> f32 {
        let scaled = rem * self.phases as u64;
        let p = (scaled / up) as usize;
        // Zero whenever the exact phase count fits in the table.
        let w = (scaled % up) as f32 / up as f32;

        // Input index of tap 0; taps falling outside the input are zeros.
        let first = i0 as i64 + 1 - self.half as i64;
        let k0 = (-first).clamp(0, self.taps as i64) as usize;
        let k1 = (input.len() as i64 - first).clamp(0, self.taps as i64) as usize;
        if k0 >= k1 {
            return 0.0;
        }
        let x = &input[(first + k0 as i64) as usize..(first + k1 as i64) as usize];
        let a = dot(x, &self.row(p)[k0..k1]);
        if w == 0.0 {
            a
        } else {
            (1.0 - w) * a + w * dot(x, &self.row(p + 1)[k0..k1])
        }
    }
}

/// Dot product with four independent accumulators: strict floating-point
/// ordering would otherwise stop the compiler from vectorising it.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 4];
    let chunks_a = a.chunks_exact(4);
    let chunks_b = b.chunks_exact(4);
    let tail: f32 = chunks_a
        .remainder()
        .iter()
        .zip(chunks_b.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (ca, cb) in chunks_a.zip(chunks_b) {
        for ((s, x), y) in acc.iter_mut().zip(ca).zip(cb) {
            *s += x * y;
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// Modified Bessel function of the first kind, order 0 (power series; the
/// terms fall fast for the beta values used here).
fn bessel_i0(x: f64) -> f64 {
    let half = x / 2.0;
    let mut term = 1.0;
    let mut sum = 1.0;
    let mut k = 1.0;
    while term > 1e-12 * sum {
        term *= (half / k) * (half / k);
        sum += term;
        k += 1.0;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, rate: u32, seconds: f64, amplitude: f64) -> Vec<f32> {
        let n = (f64::from(rate) * seconds) as usize;
        (0..n)
            .map(|i| (amplitude * (2.0 * PI * freq * i as f64 / f64::from(rate)).sin()) as f32)
            .collect()
    }

    /// RMS of the central part, skipping the filter's edge transients.
    fn rms_middle(x: &[f32]) -> f64 {
        let skip = x.len() / 8;
        let mid = &x[skip..x.len() - skip];
        (mid.iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            / mid.len() as f64)
            .sqrt()
    }

    fn zero_crossings_middle(x: &[f32]) -> (usize, usize) {
        let skip = x.len() / 8;
        let mid = &x[skip..x.len() - skip];
        let crossings = mid
            .windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count();
        (crossings, mid.len())
    }

    fn gain_db(freq: f64, from: u32, to: u32) -> f64 {
        let input = sine(freq, from, 0.5, 0.5);
        let out = resample(&input, from, to);
        20.0 * (rms_middle(&out) / rms_middle(&input)).log10()
    }

    fn assert_tone_preserved(freq: f64, from: u32, to: u32) {
        let input = sine(freq, from, 0.5, 0.5);
        let out = resample(&input, from, to);
        let gain = 20.0 * (rms_middle(&out) / rms_middle(&input)).log10();
        assert!(
            gain.abs() < 0.5,
            "{from}->{to} {freq} Hz: gain {gain:.3} dB"
        );
        let (crossings, len) = zero_crossings_middle(&out);
        let expected = 2.0 * freq * len as f64 / f64::from(to);
        assert!(
            (crossings as f64 - expected).abs() <= 2.0,
            "{from}->{to} {freq} Hz: {crossings} crossings, expected {expected:.1}"
        );
    }

    #[test]
    fn one_khz_survives_common_prompt_rates() {
        for from in [22_050, 44_100, 48_000, 16_000, 11_025, 32_000] {
            assert_tone_preserved(1_000.0, from, 8_000);
        }
    }

    #[test]
    fn top_of_speech_band_passes() {
        for from in [22_050, 48_000] {
            assert_tone_preserved(3_400.0, from, 8_000);
        }
    }

    #[test]
    fn odd_ratios_use_interpolated_phases() {
        // gcd = 1: 8 000 and 44 101 phases, beyond the exact table.
        assert_tone_preserved(1_000.0, 44_101, 8_000);
        assert_tone_preserved(1_000.0, 8_000, 44_101);
        assert_tone_preserved(1_000.0, 8_000, 16_000);
    }

    #[test]
    fn out_of_band_tones_do_not_alias() {
        let g = gain_db(6_000.0, 48_000, 8_000);
        assert!(g < -40.0, "6 kHz leaked at {g:.1} dB");
        // Just above the 4 kHz Nyquist: would fold to 3.8 kHz.
        for from in [48_000, 44_100, 22_050] {
            let g = gain_db(4_200.0, from, 8_000);
            assert!(g < -50.0, "{from}: 4.2 kHz leaked at {g:.1} dB");
        }
    }

    #[test]
    fn output_length_is_rounded_ratio() {
        let cases = [
            (22_050, 22_050, 8_000, 8_000),
            (1, 22_050, 8_000, 0),
            (3, 48_000, 8_000, 1),
            (2, 48_000, 8_000, 0),
            (1_000, 44_100, 8_000, 181),
            (100, 8_000, 48_000, 600),
            (0, 48_000, 8_000, 0),
        ];
        for (len, from, to, expected) in cases {
            let out = resample(&vec![0.25; len], from, to);
            assert_eq!(out.len(), expected, "{len} samples {from}->{to}");
        }
    }

    #[test]
    fn equal_rates_are_an_exact_copy() {
        let input = sine(440.0, 8_000, 0.1, 0.9);
        assert_eq!(resample(&input, 8_000, 8_000), input);
    }

    #[test]
    fn zero_rate_yields_empty() {
        assert!(resample(&[1.0, 2.0], 0, 8_000).is_empty());
        assert!(resample(&[1.0, 2.0], 8_000, 0).is_empty());
    }

    #[test]
    fn dc_is_preserved() {
        let out = resample(&vec![0.5; 22_050], 22_050, 8_000);
        for &v in &out[100..out.len() - 100] {
            assert!((v - 0.5).abs() < 1e-3, "{v}");
        }
    }
}
