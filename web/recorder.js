/*
 * recorder.js - the microphone's AudioWorklet processor (loaded by app.js
 * with audioWorklet.addModule): copies the first input channel out to the
 * page in blocks of about 85 ms. The page turns them into a 16-bit WAV,
 * which the server decodes (a browser's MediaRecorder makes WebM, which it
 * does not). A worklet runs on the audio thread, so no sample is dropped
 * while the page is busy drawing a streamed answer.
 */
class RecorderProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.block = new Float32Array(4096);
    this.filled = 0;
    this.port.onmessage = (e) => {
      if (e.data === 'flush') {
        // marked last: the page waits for it before it writes the WAV
        this.port.postMessage({ samples: this.block.slice(0, this.filled), last: true });
        this.filled = 0;
      }
    };
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel) {
      for (let i = 0; i < channel.length; i++) {
        this.block[this.filled++] = channel[i];
        if (this.filled === this.block.length) {
          this.port.postMessage({ samples: this.block.slice(), last: false });
          this.filled = 0;
        }
      }
    }
    return true; // keep running until the page disconnects the node
  }
}

registerProcessor('r1-recorder', RecorderProcessor);
