// Recording a prompt with the browser's microphone, for the console: the raw samples (no echo
// cancellation, noise suppression or gain control: what the admin says is what callers hear),
// captured by an AudioWorklet (capture-worklet.js) and written as a mono 16-bit WAV at 16 kHz. The server decodes and resamples it like any uploaded file.

/** The longest recording kept; the server refuses longer prompts anyway. */
export const MAX_SECONDS = 300;

/** Start recording. Resolves to { seconds(), stop() }; stop() resolves to a WAV Blob. */
export async function startRecording() {
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 1 },
  });
  // 16 kHz: ample for a telephone prompt (heard at 8 kHz), and 5 minutes stay under the
  // server's 20 MB upload limit (48 kHz would pass it after 3.6 minutes).
  const ctx = new AudioContext({ sampleRate: 16000 });
  try {
    await ctx.audioWorklet.addModule('/assets/capture-worklet.js');
  } catch (e) {
    stream.getTracks().forEach((t) => t.stop());
    await ctx.close();
    throw e;
  }
  const source = ctx.createMediaStreamSource(stream);
  const node = new AudioWorkletNode(ctx, 'centrale-capture');
  const chunks = [];
  let samples = 0;
  const cap = MAX_SECONDS * ctx.sampleRate;
  node.port.onmessage = (e) => {
    if (samples >= cap) return;
    chunks.push(e.data);
    samples += e.data.length;
  };
  // A node must reach the destination to be pulled; a muted gain keeps the room silent.
  const mute = ctx.createGain();
  mute.gain.value = 0;
  source.connect(node).connect(mute).connect(ctx.destination);
  const rate = ctx.sampleRate;
  return {
    seconds: () => samples / rate,
    async stop() {
      stream.getTracks().forEach((t) => t.stop());
      source.disconnect();
      await ctx.close();
      return wav(chunks, rate);
    },
  };
}

/** Float blocks in [-1, 1] → a RIFF/WAVE PCM 16-bit mono Blob. */
export function wav(chunks, rate) {
  const n = chunks.reduce((a, c) => a + c.length, 0);
  const buf = new ArrayBuffer(44 + 2 * n);
  const v = new DataView(buf);
  const ascii = (at, s) => { for (let i = 0; i < s.length; i++) v.setUint8(at + i, s.charCodeAt(i)); };
  ascii(0, 'RIFF');
  v.setUint32(4, 36 + 2 * n, true);
  ascii(8, 'WAVE');
  ascii(12, 'fmt ');
  v.setUint32(16, 16, true);
  v.setUint16(20, 1, true);          // PCM
  v.setUint16(22, 1, true);          // mono
  v.setUint32(24, rate, true);
  v.setUint32(28, rate * 2, true);   // bytes per second
  v.setUint16(32, 2, true);          // block align
  v.setUint16(34, 16, true);         // bits per sample
  ascii(36, 'data');
  v.setUint32(40, 2 * n, true);
  let at = 44;
  for (const c of chunks) {
    for (let i = 0; i < c.length; i++) {
      const s = Math.max(-1, Math.min(1, c[i]));
      v.setInt16(at, s < 0 ? s * 0x8000 : s * 0x7fff, true);
      at += 2;
    }
  }
  return new Blob([buf], { type: 'audio/wav' });
}
