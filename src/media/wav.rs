//! Writing a voice message as a WAV file (8 kHz, 16-bit, mono). Reading WAVs is symphonia's
//! job (`prompt`).

use std::path::Path;

/// A minimal RIFF/WAVE writer: PCM 16-bit, mono, 8 kHz.
pub fn write(dir: &Path, path: &Path, pcm: &[i16]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(path, bytes(pcm))
}

/// The WAV file's bytes (served to a browser that plays a recording back).
pub fn bytes(pcm: &[i16]) -> Vec<u8> {
    let data_len = (pcm.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + pcm.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&8000u32.to_le_bytes());
    out.extend_from_slice(&16000u32.to_le_bytes()); // byte rate
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in pcm {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn written_wav_decodes_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.wav");
        let pcm: Vec<i16> = (0..8000)
            .map(|i| ((i as f32 * 0.1).sin() * 9000.0) as i16)
            .collect();
        super::write(dir.path(), &path, &pcm).unwrap();
        let back = crate::media::prompt::decode_file(&path).unwrap();
        assert_eq!(back.len(), pcm.len());
        assert!(back.iter().zip(&pcm).all(|(a, b)| (a - b).abs() <= 1));
    }
}
