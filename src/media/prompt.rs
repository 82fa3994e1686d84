//! Prompt catalogue and audio, loaded once at start-up.
//!
//! Owns reading `prompts/prompts.toml` (the id -> French/English text catalogue), decoding every
//! `prompts/<lang>/<id>.wav` to 8 kHz mono 16-bit PCM, and encoding each prompt once to both
//! µ-law and A-law so that calls only slice ready-made 20 ms payloads out of shared `Arc`s.
//! Decoding happens at start-up, never at call time; nothing here touches the network, and bad
//! files (missing, truncated, not audio) are reported as errors naming the file, never panics.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::File;
use std::io::ErrorKind;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

use crate::media::g711::Law;
use crate::media::resample::resample;

/// Samples in one 20 ms RTP packet at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;
/// Rate of every decoded prompt.
pub const SAMPLE_RATE: u32 = 8_000;
/// Longest accepted prompt. Real prompts last seconds (hold music 30 s); the cap keeps a
/// wrong file (an hour-long recording dropped in by mistake) from eating memory at start-up.
pub const MAX_PROMPT_SECONDS: u32 = 600;
/// File name of the catalogue inside the prompt directory.
pub const CATALOG_FILE: &str = "prompts.toml";

/// Language of a prompt.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Fr,
    En,
}

impl Lang {
    /// Every language, in the order the bilingual greeting plays them.
    pub const ALL: [Lang; 2] = [Lang::Fr, Lang::En];

    /// The other language (what "press 2 for English" switches to).
    pub fn other(self) -> Lang {
        match self {
            Lang::Fr => Lang::En,
            Lang::En => Lang::Fr,
        }
    }

    /// Code used in file paths and the catalogue: "fr" or "en".
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }

    fn index(self) -> usize {
        match self {
            Lang::Fr => 0,
            Lang::En => 1,
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A language code other than "fr" or "en".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown language {0:?} (expected \"fr\" or \"en\")")]
pub struct ParseLangError(pub String);

impl FromStr for Lang {
    type Err = ParseLangError;

    /// Accepts "fr"/"en" in any case, and regional tags such as "fr-CA" or "en_US", since
    /// configuration and SIP headers (Accept-Language) spell them that way.
    fn from_str(s: &str) -> Result<Lang, ParseLangError> {
        let primary = s.split(['-', '_']).next().unwrap_or("");
        if primary.eq_ignore_ascii_case("fr") {
            Ok(Lang::Fr)
        } else if primary.eq_ignore_ascii_case("en") {
            Ok(Lang::En)
        } else {
            Err(ParseLangError(s.to_owned()))
        }
    }
}

/// Why prompts could not be loaded. Every variant names the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// The catalogue could not be read or parsed; `reason` carries the line and column.
    #[error("prompt catalogue {}: {reason}", path.display())]
    Catalog { path: PathBuf, reason: String },
    /// The catalogue lists `id` but its WAV for `lang` does not exist.
    #[error("prompt {id:?} ({lang}): file {} is missing", path.display())]
    Missing {
        id: String,
        lang: Lang,
        path: PathBuf,
    },
    /// The file exists but could not be opened or decoded as audio.
    #[error("prompt file {}: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
    /// The file decoded to no audio at all.
    #[error("prompt file {} holds no audio", path.display())]
    Empty { path: PathBuf },
    /// More than one of the above; all are reported so one restart shows every problem.
    #[error("{} prompt errors:{}", .0.len(), list(.0))]
    Several(Vec<PromptError>),
}

fn list(errors: &[PromptError]) -> String {
    errors.iter().map(|e| format!("\n  {e}")).collect()
}

impl PromptError {
    fn unreadable(path: &Path, reason: impl Into<String>) -> PromptError {
        PromptError::Unreadable {
            path: path.to_owned(),
            reason: reason.into(),
        }
    }
}

/// One prompt in one language, ready to stream: 8 kHz PCM plus its G.711 encodings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub id: String,
    pub lang: Lang,
    /// What the recording says (from the catalogue), for logs and the admin UI.
    pub text: String,
    /// 8 kHz mono samples, zero-padded to a whole number of frames.
    pub pcm: Vec<i16>,
    ulaw: Vec<u8>,
    alaw: Vec<u8>,
}

impl Prompt {
    /// Builds a prompt from 8 kHz mono PCM (tests, synthesised prompts). Pads with silence to a
    /// whole number of 20 ms frames so the last packet is full-sized like every other.
    pub fn from_pcm(
        id: impl Into<String>,
        lang: Lang,
        text: impl Into<String>,
        mut pcm_8k: Vec<i16>,
    ) -> Prompt {
        let frames = pcm_8k.len().div_ceil(FRAME_SAMPLES);
        pcm_8k.resize(frames * FRAME_SAMPLES, 0);
        let mut ulaw = vec![0; pcm_8k.len()];
        let mut alaw = vec![0; pcm_8k.len()];
        Law::Ulaw.encode(&pcm_8k, &mut ulaw);
        Law::Alaw.encode(&pcm_8k, &mut alaw);
        Prompt {
            id: id.into(),
            lang,
            text: text.into(),
            pcm: pcm_8k,
            ulaw,
            alaw,
        }
    }

    /// Number of 20 ms frames.
    pub fn frames(&self) -> usize {
        self.pcm.len() / FRAME_SAMPLES
    }

    /// Frame `i` encoded with `law`: `FRAME_SAMPLES` bytes, or an empty slice past the end, so a
    /// player can simply stop on an empty payload.
    pub fn frame(&self, law: Law, i: usize) -> &[u8] {
        let bytes = match law {
            Law::Ulaw => &self.ulaw,
            Law::Alaw => &self.alaw,
        };
        i.checked_mul(FRAME_SAMPLES)
            .and_then(|start| bytes.get(start..start + FRAME_SAMPLES))
            .unwrap_or(&[])
    }

    /// Playing time, padding included.
    pub fn duration(&self) -> Duration {
        Duration::from_nanos(self.pcm.len() as u64 * (1_000_000_000 / u64::from(SAMPLE_RATE)))
    }
}

/// The parsed `prompts.toml`: prompt id -> text in each language.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    /// Indexed by `Lang::index`. BTreeMap so `ids()` is sorted and start-up logs are stable.
    entries: BTreeMap<String, [String; 2]>,
}

/// One catalogue table as written. `tone`/`music` mark synthesised prompts; their text is a
/// description. Unknown keys are refused so a typo ("fn =") is caught, not silently ignored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    fr: String,
    en: String,
    // Read only by scripts/gen-prompts; parsed here so that a wrong type is still reported.
    #[serde(rename = "tone")]
    _tone: Option<String>,
    #[serde(rename = "music")]
    _music: Option<String>,
}

impl Catalog {
    /// Reads and parses a catalogue file.
    pub fn load(path: &Path) -> Result<Catalog, PromptError> {
        let src = std::fs::read_to_string(path).map_err(|e| PromptError::Catalog {
            path: path.to_owned(),
            reason: format!("cannot read: {e}"),
        })?;
        Catalog::parse(&src, path)
    }

    /// Parses catalogue text; `path` is only used in error messages.
    pub fn parse(src: &str, path: &Path) -> Result<Catalog, PromptError> {
        let err = |reason: String| PromptError::Catalog {
            path: path.to_owned(),
            reason,
        };
        let raw: BTreeMap<String, RawEntry> = toml::from_str(src).map_err(|e| {
            let at = e.span().map(|s| line_col(src, s.start));
            err(match at {
                Some((line, col)) => format!("line {line}, column {col}: {}", e.message()),
                None => e.message().to_owned(),
            })
        })?;
        let mut entries = BTreeMap::new();
        for (id, e) in raw {
            // Ids become file names: refuse anything that could leave the directory or clash.
            if id.is_empty()
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(err(format!(
                    "prompt id {id:?}: use only lowercase letters, digits and '_'"
                )));
            }
            for (lang, text) in [(Lang::Fr, &e.fr), (Lang::En, &e.en)] {
                if text.trim().is_empty() {
                    return Err(err(format!("prompt {id:?}: empty {lang} text")));
                }
            }
            entries.insert(id, [e.fr, e.en]);
        }
        Ok(Catalog { entries })
    }

    /// Text of `id` in `lang`.
    pub fn text(&self, id: &str, lang: Lang) -> Option<&str> {
        self.entries
            .get(id)
            .map(|t| t[lang.index()].as_str())
            .filter(|t| !t.is_empty())
    }

    /// Every id, sorted.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.entries.contains_key(id)
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// 1-based line and column (in characters) of byte offset `at`, for error messages.
fn line_col(src: &str, at: usize) -> (usize, usize) {
    let before = src.get(..at).unwrap_or(src);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, col)
}

/// Every prompt in every language, shared read-only by all calls.
#[derive(Debug, Clone, Default)]
pub struct PromptSet {
    /// Keyed by id so `get` borrows the caller's `&str`: no allocation per lookup at call time.
    prompts: HashMap<String, [Option<Arc<Prompt>>; 2]>,
    catalog: Catalog,
}

impl PromptSet {
    /// Loads `dir/prompts.toml` and, for every id in it, `dir/fr/<id>.wav` and `dir/en/<id>.wav`.
    /// A catalogue entry without its file is an error (it would be silence mid-call); a WAV the
    /// catalogue does not list is only warned about (a leftover, harmless). All problems are
    /// collected, so one failed start shows them all.
    pub fn load(dir: &Path) -> Result<PromptSet, PromptError> {
        let catalog = Catalog::load(&dir.join(CATALOG_FILE))?;
        let mut set = PromptSet {
            prompts: HashMap::with_capacity(catalog.len()),
            catalog: Catalog::default(),
        };
        let mut errors = Vec::new();
        for (id, texts) in &catalog.entries {
            for lang in Lang::ALL {
                let path = dir.join(lang.as_str()).join(format!("{id}.wav"));
                if !path.is_file() {
                    errors.push(PromptError::Missing {
                        id: id.clone(),
                        lang,
                        path,
                    });
                    continue;
                }
                match decode_file(&path) {
                    Ok(pcm) => {
                        let text = texts[lang.index()].clone();
                        set.insert(Prompt::from_pcm(id.clone(), lang, text, pcm));
                    }
                    Err(e) => errors.push(e),
                }
            }
        }
        for lang in Lang::ALL {
            warn_unlisted(&dir.join(lang.as_str()), &catalog);
        }
        set.catalog = catalog;
        match errors.len() {
            0 => {
                tracing::info!(
                    dir = %dir.display(),
                    prompts = set.len(),
                    seconds = set.total_frames() / 50,
                    "prompts loaded"
                );
                Ok(set)
            }
            1 => Err(errors.remove(0)),
            _ => Err(PromptError::Several(errors)),
        }
    }

    /// Adds or replaces a prompt (tests, synthesised prompts), recording its text in the
    /// catalogue. Returns the prompt it replaced.
    pub fn insert(&mut self, prompt: Prompt) -> Option<Arc<Prompt>> {
        let texts = self.catalog.entries.entry(prompt.id.clone()).or_default();
        texts[prompt.lang.index()] = prompt.text.clone();
        let slot = self.prompts.entry(prompt.id.clone()).or_default();
        slot[prompt.lang.index()].replace(Arc::new(prompt))
    }

    /// The prompt `id` in `lang`; cheap (an `Arc` clone), allocation-free.
    pub fn get(&self, id: &str, lang: Lang) -> Option<Arc<Prompt>> {
        self.prompts.get(id)?[lang.index()].clone()
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Number of (id, language) prompts.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Frames over every prompt (memory and sanity reporting).
    pub fn total_frames(&self) -> usize {
        self.iter().map(|p| p.frames()).sum()
    }

    /// Every prompt, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Prompt>> {
        self.prompts.values().flatten().flatten()
    }
}

/// Warns about `*.wav` in `dir` that the catalogue does not list: most likely a renamed prompt
/// whose old file was left behind, or a typo in a new file name.
fn warn_unlisted(dir: &Path, catalog: &Catalog) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_wav = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("wav"));
        let listed = path
            .file_stem()
            .and_then(|s| s.to_str())
            .is_some_and(|id| catalog.contains(id));
        if is_wav && !listed {
            tracing::warn!(path = %path.display(), "prompt file not in the catalogue; ignored");
        }
    }
}

/// Decodes an audio file (WAV: 8/16/24/32-bit PCM, float, µ-law, A-law; any rate and channel
/// count) to 8 kHz mono 16-bit PCM. Channels are averaged; the rate is converted band-limited.
pub fn decode_file(path: &Path) -> Result<Vec<i16>, PromptError> {
    let file = File::open(path).map_err(|e| PromptError::unreadable(path, e.to_string()))?;
    if file.metadata().map(|m| m.len()).unwrap_or(1) == 0 {
        return Err(PromptError::Empty {
            path: path.to_owned(),
        });
    }
    // Symphonia is a parser of untrusted input; should it ever panic on a malformed file, this
    // turns the panic into an error for that file instead of taking the whole server down.
    let (mono, rate) = catch_unwind(AssertUnwindSafe(|| decode_mono(file, path)))
        .map_err(|_| PromptError::unreadable(path, "decoder failed on malformed data"))??;
    if mono.is_empty() {
        return Err(PromptError::Empty {
            path: path.to_owned(),
        });
    }
    let mono = if rate == SAMPLE_RATE {
        mono
    } else {
        resample(&mono, rate, SAMPLE_RATE)
    };
    Ok(mono
        .iter()
        .map(|&x| (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect())
}

/// Decodes every packet of the first audio track, averaging channels. Returns the samples
/// (full scale ±1.0) and their rate.
fn decode_mono(file: File, path: &Path) -> Result<(Vec<f32>, u32), PromptError> {
    let bad = |what: &str, e: SymError| PromptError::unreadable(path, format!("{what}: {e}"));
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let mut format = symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| {
            let hint = "convert it with: sox IN.wav -r 8000 -c 1 -e u-law OUT.wav";
            bad(&format!("not a supported audio file ({hint})"), e)
        })?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(|| PromptError::unreadable(path, "no audio track"))?;
    let track_id = track.id;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or_else(|| PromptError::unreadable(path, "no audio codec parameters"))?;
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())
        .map_err(|e| bad("unsupported audio encoding", e))?;

    let mut mono: Vec<f32> = Vec::new();
    let mut rate = params.sample_rate.unwrap_or(0);
    let mut interleaved: Vec<f32> = Vec::new();
    loop {
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            // End of stream; ResetRequired only comes from chained streams, not prompt files.
            Ok(None) | Err(SymError::ResetRequired) => break,
            // A file shorter than its header says: refuse it rather than play a cut-off prompt.
            Err(SymError::IoError(e)) if e.kind() == ErrorKind::UnexpectedEof => {
                return Err(PromptError::unreadable(
                    path,
                    "truncated (ends before the length its header announces)",
                ))
            }
            Err(e) => return Err(bad("cannot read audio data", e)),
        };
        if packet.track_id != track_id {
            continue;
        }
        let buf = decoder
            .decode(&packet)
            .map_err(|e| bad("cannot decode audio", e))?;
        let spec = buf.spec();
        let channels = spec.channels().count().max(1);
        rate = spec.rate();
        buf.copy_to_vec_interleaved(&mut interleaved);
        let scale = 1.0 / channels as f32;
        mono.extend(
            interleaved
                .chunks_exact(channels)
                .map(|frame| frame.iter().sum::<f32>() * scale),
        );
        if rate > 0 && mono.len() as u64 > u64::from(MAX_PROMPT_SECONDS) * u64::from(rate) {
            return Err(PromptError::unreadable(
                path,
                format!("longer than {MAX_PROMPT_SECONDS} s"),
            ));
        }
    }
    if rate == 0 {
        return Err(PromptError::unreadable(path, "unknown sample rate"));
    }
    Ok((mono, rate))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    /// Minimal RIFF/WAVE writer: `format` 1 = PCM, 3 = float, 6 = A-law, 7 = µ-law. Non-PCM
    /// formats get the 18-byte WAVEFORMATEX (cbSize 0) that Symphonia requires for G.711.
    fn wav(format: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
        let block = channels * bits / 8;
        let fmt_len: u32 = if format == 1 { 16 } else { 18 };
        let mut v = Vec::new();
        v.extend_from_slice(b"RIFF");
        v.extend_from_slice(&(20 + fmt_len + data.len() as u32).to_le_bytes());
        v.extend_from_slice(b"WAVEfmt ");
        v.extend_from_slice(&fmt_len.to_le_bytes());
        v.extend_from_slice(&format.to_le_bytes());
        v.extend_from_slice(&channels.to_le_bytes());
        v.extend_from_slice(&rate.to_le_bytes());
        v.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
        v.extend_from_slice(&block.to_le_bytes());
        v.extend_from_slice(&bits.to_le_bytes());
        if fmt_len == 18 {
            v.extend_from_slice(&0u16.to_le_bytes());
        }
        v.extend_from_slice(b"data");
        v.extend_from_slice(&(data.len() as u32).to_le_bytes());
        v.extend_from_slice(data);
        v
    }

    /// `seconds` of a `hz` sine at `amp` (full scale 1.0), one sample per frame.
    fn sine(hz: f64, rate: u32, seconds: f64, amp: f64) -> Vec<f64> {
        let n = (f64::from(rate) * seconds).round() as usize;
        (0..n)
            .map(|i| amp * (2.0 * PI * hz * i as f64 / f64::from(rate)).sin())
            .collect()
    }

    fn pcm16(samples: impl Iterator<Item = f64>) -> Vec<u8> {
        samples
            .flat_map(|x| ((x * 32767.0).round() as i16).to_le_bytes())
            .collect()
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// Peak of the middle half, away from the resampler's edge transients.
    fn mid_peak(pcm: &[i16]) -> f64 {
        let q = pcm.len() / 4;
        pcm[q..3 * q]
            .iter()
            .map(|&s| f64::from(s).abs())
            .fold(0.0, f64::max)
            / 32768.0
    }

    #[test]
    fn decodes_16_bit_22050_hz_to_8_khz() {
        let dir = tempfile::tempdir().unwrap();
        let data = pcm16(sine(440.0, 22_050, 1.0, 0.5).into_iter());
        let path = write(dir.path(), "a.wav", &wav(1, 1, 22_050, 16, &data));
        let pcm = decode_file(&path).unwrap();
        assert_eq!(pcm.len(), 8_000);
        let peak = mid_peak(&pcm);
        assert!((peak - 0.5).abs() < 0.02, "peak {peak}");
    }

    #[test]
    fn mixes_48_khz_stereo_down_to_mono() {
        let dir = tempfile::tempdir().unwrap();
        // Left carries the tone, right is silent: the average has half the amplitude.
        let left = sine(1000.0, 48_000, 0.5, 0.8);
        let data = pcm16(left.iter().flat_map(|&l| [l, 0.0]));
        let path = write(dir.path(), "s.wav", &wav(1, 2, 48_000, 16, &data));
        let pcm = decode_file(&path).unwrap();
        assert_eq!(pcm.len(), 4_000);
        let peak = mid_peak(&pcm);
        assert!((peak - 0.4).abs() < 0.02, "peak {peak}");
    }

    #[test]
    fn decodes_ulaw_8_khz_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let src: Vec<i16> = sine(300.0, 8_000, 0.25, 0.3)
            .iter()
            .map(|x| (x * 32767.0) as i16)
            .collect();
        let mut ulaw = vec![0u8; src.len()];
        Law::Ulaw.encode(&src, &mut ulaw);
        let path = write(dir.path(), "u.wav", &wav(7, 1, 8_000, 8, &ulaw));
        let pcm = decode_file(&path).unwrap();
        let mut expect = vec![0i16; ulaw.len()];
        Law::Ulaw.decode(&ulaw, &mut expect);
        assert_eq!(pcm.len(), 2_000);
        // Symphonia's µ-law table and ours agree to within rounding of the float round trip.
        let worst = pcm
            .iter()
            .zip(&expect)
            .map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs())
            .max()
            .unwrap();
        assert!(worst <= 8, "worst difference {worst}");
    }

    #[test]
    fn decodes_other_sample_formats() {
        let dir = tempfile::tempdir().unwrap();
        let tone = sine(400.0, 8_000, 0.1, 0.5);
        let mut alaw_src = vec![0i16; tone.len()];
        for (d, x) in alaw_src.iter_mut().zip(&tone) {
            *d = (x * 32767.0) as i16;
        }
        let mut alaw = vec![0u8; tone.len()];
        Law::Alaw.encode(&alaw_src, &mut alaw);
        let cases: [(&str, u16, u16, Vec<u8>); 5] = [
            (
                "u8",
                1,
                8,
                tone.iter().map(|x| (x * 127.0 + 128.0) as u8).collect(),
            ),
            (
                "s24",
                1,
                24,
                tone.iter()
                    .flat_map(|x| ((x * 8_388_607.0) as i32).to_le_bytes()[..3].to_vec())
                    .collect(),
            ),
            (
                "s32",
                1,
                32,
                tone.iter()
                    .flat_map(|x| ((x * 2_147_483_647.0) as i32).to_le_bytes())
                    .collect(),
            ),
            (
                "f32",
                3,
                32,
                tone.iter()
                    .flat_map(|&x| (x as f32).to_le_bytes())
                    .collect(),
            ),
            ("alaw", 6, 8, alaw),
        ];
        for (name, format, bits, data) in cases {
            let path = write(
                dir.path(),
                &format!("{name}.wav"),
                &wav(format, 1, 8_000, bits, &data),
            );
            let pcm = decode_file(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(pcm.len(), 800, "{name}");
            let peak = mid_peak(&pcm);
            assert!((peak - 0.5).abs() < 0.02, "{name}: peak {peak}");
        }
    }

    #[test]
    fn missing_file_names_id_lang_and_path() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            CATALOG_FILE,
            b"[hello]\nfr = \"Bonjour\"\nen = \"Hello\"\n",
        );
        let data = pcm16(sine(440.0, 8_000, 0.1, 0.5).into_iter());
        write(dir.path(), "fr/hello.wav", &wav(1, 1, 8_000, 16, &data));
        let err = PromptSet::load(dir.path()).unwrap_err();
        match &err {
            PromptError::Missing { id, lang, path } => {
                assert_eq!(id, "hello");
                assert_eq!(*lang, Lang::En);
                assert_eq!(path, &dir.path().join("en/hello.wav"));
            }
            other => panic!("expected Missing, got {other:?}"),
        }
        let msg = err.to_string();
        assert!(msg.contains("hello") && msg.contains("en") && msg.contains("hello.wav"));
    }

    #[test]
    fn bad_files_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let text = write(dir.path(), "text.wav", b"this is not audio at all\n");
        assert!(matches!(
            decode_file(&text),
            Err(PromptError::Unreadable { .. })
        ));
        let empty = write(dir.path(), "empty.wav", b"");
        assert!(matches!(
            decode_file(&empty),
            Err(PromptError::Empty { .. })
        ));
        let header_only = write(dir.path(), "h.wav", &wav(1, 1, 8_000, 16, &[]));
        assert!(decode_file(&header_only).is_err());
        let gone = dir.path().join("nope.wav");
        let err = decode_file(&gone).unwrap_err();
        assert!(err.to_string().contains("nope.wav"));

        // Cut a valid file at every length: each is an error or (past the data header) a
        // decode, never a panic.
        let data = pcm16(sine(440.0, 8_000, 0.05, 0.5).into_iter());
        let full = wav(1, 1, 8_000, 16, &data);
        for len in 0..full.len() {
            let p = write(dir.path(), "cut.wav", &full[..len]);
            let _ = decode_file(&p);
        }
        let truncated = write(dir.path(), "t.wav", &full[..full.len() - 100]);
        match decode_file(&truncated) {
            Err(PromptError::Unreadable { path, .. }) => assert_eq!(path, truncated),
            Ok(pcm) => assert!(pcm.len() < data.len() / 2),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn frames_are_padded_and_bounded() {
        let p = Prompt::from_pcm("x", Lang::Fr, "x", vec![1000; 161]);
        assert_eq!(p.pcm.len(), 320);
        assert_eq!(p.frames(), 2);
        assert_eq!(p.duration(), Duration::from_millis(40));
        assert_eq!(p.frame(Law::Ulaw, 0).len(), FRAME_SAMPLES);
        assert_eq!(p.frame(Law::Alaw, 1).len(), FRAME_SAMPLES);
        // The padding is encoded silence.
        assert_eq!(p.frame(Law::Ulaw, 1)[1], Law::Ulaw.silence());
        assert_eq!(p.frame(Law::Alaw, 1)[1], Law::Alaw.silence());
        assert!(p.frame(Law::Ulaw, 2).is_empty());
        assert!(p.frame(Law::Ulaw, usize::MAX).is_empty());
        let empty = Prompt::from_pcm("e", Lang::En, "", Vec::new());
        assert_eq!(empty.frames(), 0);
        assert!(empty.frame(Law::Ulaw, 0).is_empty());
    }

    #[test]
    fn load_reads_catalogue_and_both_languages() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            CATALOG_FILE,
            "[a]\nfr = \"Un\"\nen = \"One\"\n[beep]\ntone = \"1000 Hz, 0.4 s\"\nfr = \"Bip\"\nen = \"Beep\"\n"
                .as_bytes(),
        );
        let data = pcm16(sine(440.0, 16_000, 0.1, 0.5).into_iter());
        for name in [
            "fr/a.wav",
            "en/a.wav",
            "fr/beep.wav",
            "en/beep.wav",
            "en/old.wav",
        ] {
            write(dir.path(), name, &wav(1, 1, 16_000, 16, &data));
        }
        let set = PromptSet::load(dir.path()).unwrap();
        assert_eq!(set.len(), 4);
        assert!(!set.is_empty());
        let a = set.get("a", Lang::En).unwrap();
        assert_eq!((a.text.as_str(), a.lang, a.frames()), ("One", Lang::En, 5));
        assert_eq!(set.total_frames(), 20);
        assert!(set.get("old", Lang::En).is_none());
        assert_eq!(set.catalog().text("a", Lang::Fr), Some("Un"));
        assert_eq!(set.catalog().ids().collect::<Vec<_>>(), ["a", "beep"]);
        assert!(set.catalog().contains("beep") && !set.catalog().contains("old"));
    }

    #[test]
    fn several_problems_are_all_reported() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            CATALOG_FILE,
            b"[a]\nfr = \"Un\"\nen = \"One\"\n[b]\nfr = \"Deux\"\nen = \"Two\"\n",
        );
        write(dir.path(), "fr/a.wav", b"garbage");
        let err = PromptSet::load(dir.path()).unwrap_err();
        let PromptError::Several(errors) = &err else {
            panic!("expected Several, got {err:?}");
        };
        assert_eq!(errors.len(), 4);
        assert!(matches!(errors[0], PromptError::Unreadable { .. }));
        assert!(err.to_string().contains("b.wav"));
    }

    #[test]
    fn catalogue_errors_carry_line_and_column() {
        let p = Path::new("prompts.toml");
        let err = Catalog::parse("[a]\nfr = \"x\"\nen = \n", p).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("prompts.toml") && msg.contains("line 3"),
            "{msg}"
        );
        let err = Catalog::parse("[a]\nfr = \"x\"\n", p).unwrap_err();
        assert!(err.to_string().contains("en"), "{err}");
        let err = Catalog::parse("[a]\nfr = \"x\"\nen = \"y\"\nfn = \"z\"\n", p).unwrap_err();
        assert!(err.to_string().contains("line 4"), "{err}");
        let err = Catalog::parse("[\"../x\"]\nfr = \"x\"\nen = \"y\"\n", p).unwrap_err();
        assert!(err.to_string().contains("../x"), "{err}");
        let err = Catalog::parse("[a]\nfr = \" \"\nen = \"y\"\n", p).unwrap_err();
        assert!(err.to_string().contains("empty fr"), "{err}");
        let missing = Catalog::load(Path::new("/nonexistent/prompts.toml")).unwrap_err();
        assert!(matches!(missing, PromptError::Catalog { .. }));
    }

    #[test]
    fn lang_round_trips() {
        for lang in Lang::ALL {
            assert_eq!(lang.to_string().parse::<Lang>(), Ok(lang));
            assert_eq!(lang.other().other(), lang);
            assert_ne!(lang.other(), lang);
        }
        assert_eq!("FR-ca".parse::<Lang>(), Ok(Lang::Fr));
        assert_eq!("en_US".parse::<Lang>(), Ok(Lang::En));
        assert!("de".parse::<Lang>().is_err());
        assert!("".parse::<Lang>().is_err());
    }

    #[test]
    fn shipped_prompts_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
        if !dir.join(CATALOG_FILE).is_file() {
            return; // Not this crate's layout (a scratch crate including this file).
        }
        let set = PromptSet::load(&dir).unwrap();
        assert_eq!(set.len(), 2 * set.catalog().len());
        for id in set.catalog().ids() {
            for lang in Lang::ALL {
                let p = set.get(id, lang).unwrap();
                assert!(p.frames() > 0, "{id} {lang}");
            }
        }
    }
}
