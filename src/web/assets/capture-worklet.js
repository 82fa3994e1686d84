// An AudioWorklet processor for the console's microphone recorder (mic.js): it hands each
// block of the first input channel, as it comes, to the page. No processing, no output.

class CentraleCapture extends AudioWorkletProcessor {
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel && channel.length) this.port.postMessage(channel.slice(0));
    return true;
  }
}

registerProcessor('centrale-capture', CentraleCapture);
