// audiogen Studio: the variant being generated, heard while it is made. No dependencies.
//
// GET /api/jobs/{id}/live sends a WAV of unknown length whose 16-bit mono PCM comes chunk by chunk as the model makes
// it. An <audio> element would wait for about 256 kB of it before it starts (4 s of this audio); here each piece is
// played through the Web Audio API as soon as it arrives, back to back on the context's clock.
"use strict";

const LIVE_RATE = 32000;
const LIVE_HEADER_BYTES = 44;
const LIVE_LEAD_S = 0.05; // a piece is scheduled this far ahead of the clock when nothing is playing

let liveContext = null;

// The page's AudioContext, made or resumed in a click (the browser lets a page sound after the user interacted).
function unlockLiveAudio() {
  if (!liveContext) liveContext = new AudioContext({ sampleRate: LIVE_RATE, latencyHint: "interactive" });
  if (liveContext.state === "suspended") liveContext.resume().catch(() => {});
  return liveContext;
}

class LivePlayer {
  constructor({ job, variant, url }) {
    Object.assign(this, { job, variant, url });
    this.ctx = unlockLiveAudio();
    this.out = this.ctx.createGain();
    this.out.connect(this.ctx.destination);
    this.segments = []; // [context time it starts, seconds of audio before it, its seconds]: one per gap-free run
    this.sources = new Set();
    this.end = 0; // context time at which the audio scheduled so far ends
    this.queued = 0; // seconds of audio scheduled so far
    this.done = false; // the server sent the last piece
    this.failed = false; // the stream could not be read (the track replaces it when it is saved, from the start)
    this.stopped = false;
    this.abort = new AbortController();
    this.received = this.read();
  }

  async read() {
    try {
      const res = await fetch(this.url, { signal: this.abort.signal, cache: "no-store" });
      if (!res.ok) throw new Error(`the live audio answered ${res.status}`);
      const reader = res.body.getReader();
      let skip = LIVE_HEADER_BYTES, odd = null;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        let bytes = value;
        if (odd) {
          bytes = new Uint8Array(1 + value.length);
          bytes.set(odd); bytes.set(value, 1); odd = null;
        }
        if (skip) { const n = Math.min(skip, bytes.length); bytes = bytes.subarray(n); skip -= n; }
        if (bytes.length % 2) { odd = bytes.slice(-1); bytes = bytes.subarray(0, bytes.length - 1); }
        if (bytes.length) this.schedule(bytes);
      }
      this.done = true;
    } catch (_) {
      if (!this.stopped) this.failed = true;
    }
  }

  schedule(bytes) {
    if (this.stopped) return;
    const n = bytes.length / 2, view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    const buffer = this.ctx.createBuffer(1, n, LIVE_RATE), data = buffer.getChannelData(0);
    for (let i = 0; i < n; i++) data[i] = view.getInt16(2 * i, true) / 32768;
    const src = this.ctx.createBufferSource();
    src.buffer = buffer;
    src.connect(this.out);
    src.onended = () => this.sources.delete(src);
    this.sources.add(src);
    const at = Math.max(this.end, this.ctx.currentTime + LIVE_LEAD_S);
    src.start(at);
    const last = this.segments[this.segments.length - 1];
    if (last && at === this.end) last[2] += buffer.duration;
    else this.segments.push([at, this.queued, buffer.duration]);
    this.end = at + buffer.duration;
    this.queued += buffer.duration;
  }

  // Seconds of the track heard so far (still while paused, or while the next piece is awaited).
  position() {
    const t = this.ctx.currentTime;
    let pos = 0;
    for (const [start, before, seconds] of this.segments) {
      if (t < start) break;
      pos = before + Math.min(seconds, t - start);
    }
    return pos;
  }

  get paused() { return this.ctx.state !== "running"; }
  get finished() { return this.done && this.ctx.currentTime >= this.end; } // all of it was heard
  get playing() { return !this.stopped && !this.paused && !this.finished; }
  pause() { return this.ctx.suspend(); }
  resume() { return this.ctx.resume(); }

  stop() {
    this.stopped = true;
    this.abort.abort();
    for (const s of this.sources) { try { s.stop(); } catch (_) { /* not started */ } }
    this.sources.clear();
    this.out.disconnect();
  }
}
