// Web Audio player fed by the turn's audio events: each WAV piece is decoded and scheduled
// right after the previous one, so speech starts on the first sentence and never overlaps.
//
// It also says what it is doing, for the voice input (barge-in, the waterfall) and the karaoke
// highlight: window events "sp-audio-feed" (pieces received, with their server timings),
// "sp-audio-started" (a piece is now audible) and "sp-audio-stopped" (cut off, and where), and
// timeline() (the current turn's pieces with their start and end on performance.now()'s clock).
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
  // The current turn's scheduled pieces: {turn, seq, text, start, end, leading_silence_ms}, on
  // performance.now()'s clock, as heard at the output (see pageTime).
  let timeline = [];
  let startedTurn = null; // the turn whose first piece has been announced as started

  function context() {
    if (!ctx) ctx = new (window.AudioContext || window.webkitAudioContext)();
    if (ctx.state === "suspended") ctx.resume();
    return ctx;
  }
  // Seconds of audio already handed to the device that still play after a source stops, and
  // that a scheduled start waits for before it is heard.
  function outputLatency(c) {
    return (c.baseLatency || 0) + (c.outputLatency || 0);
  }
  // performance.now() at which the sample at context time `t` is heard. getOutputTimestamp
  // pairs the two clocks at the output; before the device has reported, estimate it.
  function pageTime(c, t) {
    const stamp = c.getOutputTimestamp ? c.getOutputTimestamp() : null;
    if (stamp && stamp.performanceTime > 0) {
      return stamp.performanceTime + (t - stamp.contextTime) * 1000;
    }
    return performance.now() + (t - c.currentTime + outputLatency(c)) * 1000;
  }
  function emit(name, detail) {
    window.dispatchEvent(new CustomEvent(name, { detail }));
  }
  function status(text) {
    // The chat's voice bar and the arena's line under its voice picker.
    for (const id of ["sp-audio-status", "sp-arena-audio-status"]) {
      const el = document.getElementById(id);
      if (el) el.textContent = text;
    }
  }
  // Where the voice was cut: the piece being heard and how much of it had been heard (0..1),
  // or the first piece not yet started (fraction 0); null when everything was heard.
  function cutPoint(now) {
    for (const piece of timeline) {
      if (now < piece.end) {
        const heard = now - piece.start - (piece.leading_silence_ms || 0);
        const speaking = piece.end - piece.start - (piece.leading_silence_ms || 0);
        const fraction = heard <= 0 ? 0 : Math.min(1, heard / Math.max(1, speaking));
        return { turn: piece.turn, seq: piece.seq, fraction };
      }
    }
    return null;
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
    const now = performance.now();
    // Sound already in the device's buffer still plays: silent that much later.
    const silentAt = now + (ctx ? outputLatency(ctx) * 1000 : 0);
    const info = { turn, silentAt, cut: cut.length ? cutPoint(now) : null, pieces: timeline };
    if (cut.length) emit("sp-audio-stopped", info);
    timeline = [];
    return info;
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
    const received = performance.now();
    const fresh = msg.pieces.filter((p) => !played.has(p.seq));
    if (fresh.length) {
      // Without the pieces' bytes: the timings the waterfall needs.
      const pieces = fresh.map(({ data, ...timing }) => timing);
      emit("sp-audio-feed", { turn: msg.turn, received, sent_ms: msg.sent_ms, pieces });
    }
    const c = context();
    for (const p of msg.pieces) {
      if (played.has(p.seq)) continue;
      played.add(p.seq);
      const arrived = performance.now();
      const bytes = Uint8Array.from(atob(p.data), (ch) => ch.charCodeAt(0));
      const buffer = await c.decodeAudioData(bytes.buffer);
      if (msg.turn !== turn) return; // a newer turn (or Stop) arrived while decoding
      const entry = {
        turn: msg.turn, seq: p.seq, server_t_ms: p.t_ms,
        decode_ms: performance.now() - arrived, starts_in_ms: null,
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
      const piece = {
        turn: msg.turn, seq: p.seq, text: p.text,
        start: pageTime(c, at), end: pageTime(c, at + buffer.duration),
        leading_silence_ms: p.leading_silence_ms || 0,
      };
      timeline.push(piece);
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
        if (current !== turn || !sources.includes(src)) return;
        status(label);
        // "first": the turn's first piece to be heard, which the waterfall's playback stage is.
        const first = startedTurn !== current;
        startedTurn = current;
        emit("sp-audio-started", { ...piece, at: piece.start, first });
      }, Math.max(0, piece.start - performance.now()));
    }
  }
  // Stop and say so; the voice input passes its own words ("Interrupted: you spoke.").
  function interrupt(reason) {
    if (turn) silenced.add(turn);
    const info = stop(typeof reason === "string" ? reason : "Stopped.");
    turn = "stopped-" + Date.now();
    return info;
  }
  function toggleMute() {
    muted = !muted;
    if (muted) stop("Muted.");
    else status("Voice on: the next sentences will play.");
    return muted;
  }
  return { feed, stop: interrupt, unlock: context, toggleMute, stats: () => stats,
           playing: () => sources.length, timeline: () => timeline.slice(),
           currentTurn: () => turn };
})();
