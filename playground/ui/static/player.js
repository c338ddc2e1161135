// Web Audio player fed by the turn's audio events: each WAV piece is decoded and scheduled
// right after the previous one, so speech starts on the first sentence and never overlaps.
window.spAudio = (() => {
  let ctx = null;
  let turn = null;
  let nextStart = 0;
  let sources = [];
  let played = new Set();
  // Turns silenced by Stop or a retraction: a piece or a resent feed of one that arrives
  // later (the turn's last frame often does) must not start it speaking again.
  const silenced = new Set();
  let muted = false;
  const stats = [];

  function context() {
    if (!ctx) ctx = new (window.AudioContext || window.webkitAudioContext)();
    if (ctx.state === "suspended") ctx.resume();
    return ctx;
  }
  function status(text) {
    // The chat's voice bar and the arena's line under its voice picker.
    for (const id of ["sp-audio-status", "sp-arena-audio-status"]) {
      const el = document.getElementById(id);
      if (el) el.textContent = text;
    }
  }
  function stop(reason) {
    // Forget the sources first: their "ended" events then know they were cut off, not finished.
    const cut = sources;
    sources = [];
    nextStart = 0;
    for (const s of cut) {
      try { s.stop(); } catch (e) { /* not started or already ended */ }
    }
    if (reason) status(reason);
  }
  async function feed(json) {
    if (!json) return;
    let msg;
    try { msg = JSON.parse(json); } catch (e) { return; }
    if (msg.stop) {
      // The turn's text was retracted: silence it now and ignore any piece still on its way.
      silenced.add(msg.turn);
      if (msg.turn === turn) { turn = "stopped-" + Date.now(); stop(msg.stop); }
      return;
    }
    if (silenced.has(msg.turn)) return;
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
      const entry = {
        turn: msg.turn, seq: p.seq, server_t_ms: p.t_ms,
        decode_ms: performance.now() - received, starts_in_ms: null,
      };
      stats.push(entry);
      if (muted) continue; // received and timed, not played
      const src = c.createBufferSource();
      src.buffer = buffer;
      src.connect(c.destination);
      const at = Math.max(c.currentTime + 0.01, nextStart);
      src.start(at);
      nextStart = at + buffer.duration;
      sources.push(src);
      src.onended = () => {
        if (!sources.includes(src)) return; // stopped: the status already says so
        sources = sources.filter((s) => s !== src);
        if (!sources.length) status("Finished speaking.");
      };
      entry.starts_in_ms = (at - c.currentTime) * 1000;
      // Show the sentence when it is actually heard, not when it was queued.
      const label = "Speaking: \u201c" + p.text.slice(0, 90) + (p.text.length > 90 ? "\u2026" : "") + "\u201d";
      const current = turn;
      setTimeout(() => {
        if (current === turn && sources.includes(src)) status(label);
      }, Math.max(0, entry.starts_in_ms));
    }
  }
  function interrupt() {
    if (turn) silenced.add(turn);
    turn = "stopped-" + Date.now();
    stop("Stopped.");
  }
  function toggleMute() {
    muted = !muted;
    if (muted) stop("Muted.");
    else status("Voice on: the next sentences will play.");
    return muted;
  }
  return { feed, stop: interrupt, unlock: context, toggleMute, stats: () => stats,
           playing: () => sources.length };
})();
