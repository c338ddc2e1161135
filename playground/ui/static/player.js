// Web Audio player fed by the turn's audio events: each WAV piece is decoded and scheduled
// right after the previous one, so speech starts on the first sentence and never overlaps.
window.spAudio = (() => {
  let ctx = null;
  let turn = null;
  let nextStart = 0;
  let sources = [];
  let played = new Set();
  let muted = false;
  const stats = [];

  function context() {
    if (!ctx) ctx = new (window.AudioContext || window.webkitAudioContext)();
    if (ctx.state === "suspended") ctx.resume();
    return ctx;
  }
  function status(text) {
    const el = document.getElementById("sp-audio-status");
    if (el) el.textContent = text;
  }
  function stop(reason) {
    for (const s of sources) {
      try { s.stop(); } catch (e) { /* already ended */ }
    }
    sources = [];
    nextStart = 0;
    if (reason) status(reason);
  }
  async function feed(json) {
    if (!json) return;
    let msg;
    try { msg = JSON.parse(json); } catch (e) { return; }
    if (msg.turn !== turn) {
      stop();
      turn = msg.turn;
      played = new Set();
    }
    const c = context();
    for (const p of msg.pieces) {
      if (played.has(p.seq)) continue;
      played.add(p.seq);
      const received = performance.now();
      const bytes = Uint8Array.from(atob(p.data), (ch) => ch.charCodeAt(0));
      const buffer = await c.decodeAudioData(bytes.buffer);
      if (msg.turn !== turn) return; // a newer turn (or Stop) arrived while decoding
      const src = c.createBufferSource();
      src.buffer = buffer;
      src.connect(c.destination);
      const at = Math.max(c.currentTime + 0.01, nextStart);
      if (!muted) src.start(at);
      nextStart = at + buffer.duration;
      sources.push(src);
      src.onended = () => {
        sources = sources.filter((s) => s !== src);
        if (!sources.length) status("Finished speaking.");
      };
      const startsIn = (at - c.currentTime) * 1000;
      stats.push({
        turn: msg.turn, seq: p.seq, server_t_ms: p.t_ms,
        decode_ms: performance.now() - received, starts_in_ms: startsIn,
      });
      // Show the sentence when it is actually heard, not when it was queued.
      const label = "Speaking: \u201c" + p.text.slice(0, 90) + (p.text.length > 90 ? "\u2026" : "") + "\u201d";
      const current = turn;
      setTimeout(() => { if (current === turn && !muted) status(label); }, Math.max(0, startsIn));
    }
  }
  function interrupt() {
    turn = "stopped-" + Date.now();
    stop("Stopped.");
  }
  function toggleMute() {
    muted = !muted;
    if (muted) stop("Muted.");
    else status("Voice on.");
    return muted;
  }
  return { feed, stop: interrupt, unlock: context, toggleMute, stats: () => stats,
           playing: () => sources.length };
})();
