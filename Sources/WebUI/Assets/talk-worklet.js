// The talk page's audio worklets: the microphone to 16 kHz Int16 frames of 320 samples
// (linear interpolation when the context does not run at 16 kHz), and a small queue that
// plays the door's frames.
class Mic extends AudioWorkletProcessor {
  constructor() { super(); this.ratio = sampleRate / 16000; this.frame = new Int16Array(320); this.filled = 0; this.position = 0; }
  process(inputs) {
    const input = inputs[0] && inputs[0][0];
    if (!input) return true;
    for (; this.position < input.length; this.position += this.ratio) {
      const i = Math.floor(this.position), f = this.position - i;
      const a = input[i], b = i + 1 < input.length ? input[i + 1] : a;
      const v = Math.max(-1, Math.min(1, a + (b - a) * f));
      this.frame[this.filled++] = Math.round(v < 0 ? v * 32768 : v * 32767);
      if (this.filled === 320) { this.port.postMessage(this.frame.slice(0)); this.filled = 0; }
    }
    this.position -= input.length;
    return true;
  }
}
class Speaker extends AudioWorkletProcessor {
  constructor() {
    super(); this.queue = []; this.current = null; this.phase = 0; this.step = 16000 / sampleRate;
    // At most 10 frames (200 ms) wait; older ones go, so the delay cannot grow.
    this.port.onmessage = (event) => { this.queue.push(event.data); if (this.queue.length > 10) this.queue.shift(); };
  }
  process(inputs, outputs) {
    const out = outputs[0][0];
    for (let i = 0; i < out.length; i++) {
      if (!this.current) { this.current = this.queue.shift() || null; this.phase = 0; }
      if (!this.current) { out[i] = 0; continue; }
      out[i] = this.current[Math.floor(this.phase)];
      this.phase += this.step;
      if (this.phase >= this.current.length) this.current = null;
    }
    return true;
  }
}
registerProcessor("porchlight-mic", Mic);
registerProcessor("porchlight-speaker", Speaker);
