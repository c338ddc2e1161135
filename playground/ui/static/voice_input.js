// Voice input: talk to the page. The microphone streams to the server's /v1/voice socket in
// "transcribe" mode (it only listens); when an utterance ends, its text goes into the chat's
// message box and the chat's own Send is clicked, so a spoken turn is exactly a typed one
// (same gate, notebook, rendering and voice). No Gradio round trip is in the audio path.
//
// Also here: barge-in (speaking over the answer silences it and stops the turn), the karaoke
// highlight of the sentence being spoken (and, after a cut, the unspoken rest dimmed), and the
// waterfall of where a spoken turn's milliseconds went. The player (player.js) reports what it
// plays through window events; this file never reaches into it beyond spAudio.stop/playing.
window.spVoice = (() => {
  const RATE = 16000; // what the socket takes: PCM16, mono, 16 kHz
  const FRAME = 320; // samples per frame: 20 ms
  const FRAME_MS = (FRAME / RATE) * 1000;
  // Frames kept while not sending: the 300 ms before a push-to-talk press (people start
  // speaking as they press), or everything said while the socket is still connecting.
  const PREROLL_FRAMES = 15;
  const MAX_PENDING_FRAMES = 500; // 10 s: Whisper's first load takes about 2 s
  const CLOCK_KEEP = 3000; // the last minute of frame times: enough for any utterance
  const IDLE_CLOSE_MS = 30000; // a push-to-talk-only microphone is released after this
  const SEND_RETRY_MS = 250; // see submit(): Gradio drops a Send while the last one is pending
  const SEND_GIVE_UP_MS = 8000;
  const CELL_WAIT_MS = 60000; // see Waterfall.report(): a cell not shown by then never will be

  // The worklet makes 20 ms frames of 16 kHz PCM16 and their RMS level. The context is asked
  // for 16 kHz (the browser resamples the microphone); if a browser refuses, the worklet
  // averages each output sample's span of input samples: a box filter, enough anti-aliasing
  // for speech recognition.
  const WORKLET = `
class SpMicFrames extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / ${RATE};
    this.out = new Int16Array(${FRAME});
    this.n = 0;
    this.sumSq = 0;
    this.acc = 0;
    this.count = 0;
    this.pos = 0;
  }
  process(inputs) {
    const input = inputs[0] && inputs[0][0];
    if (!input) return true;
    for (let i = 0; i < input.length; i++) {
      if (this.step === 1) { this.push(input[i]); continue; }
      this.acc += input[i]; this.count += 1; this.pos += 1;
      if (this.pos >= this.step) {
        this.pos -= this.step;
        this.push(this.acc / this.count);
        this.acc = 0; this.count = 0;
      }
    }
    return true;
  }
  push(x) {
    const s = Math.max(-1, Math.min(1, x));
    this.sumSq += s * s;
    this.out[this.n++] = s < 0 ? s * 0x8000 : s * 0x7fff;
    if (this.n === ${FRAME}) {
      const rms = Math.sqrt(this.sumSq / ${FRAME});
      this.port.postMessage({ pcm: this.out.buffer, rms }, [this.out.buffer]);
      this.out = new Int16Array(${FRAME});
      this.n = 0;
      this.sumSq = 0;
    }
  }
}
registerProcessor("sp-mic-frames", SpMicFrames);`;

  const $ = (selector) => document.querySelector(selector);
  const ENGINE_NAMES = { local: "Local Whisper", deepgram: "Deepgram" };

  let mic = null; // {stream, track, ctx, source, node}
  let micOpening = null;
  let socket = null;
  let listening = false; // the server said "listening": audio may flow
  let handsFree = false;
  let holding = false; // push-to-talk pressed
  let endPending = false; // push-to-talk released before the socket was listening
  let pending = []; // captured frames not sent yet: {pcm, at}
  // The socket's audio clock: ms of audio sent since its start frame. Each sent frame's end on
  // that clock and when it was captured (performance.now()), so a server t_ms (speech onset,
  // speech end) maps back to the page's clock.
  let audioMs = 0;
  let clock = [];
  let idleTimer = 0;
  let level = 0;
  let pendingSend = 0; // performance.now() of a voice Send the server has not answered yet
  let markAtSend = null; // the turn the summary's mark named when it was sent
  const seenTurns = new Set(); // turns whose audio arrived: a new spoken turn is none of them
  const waterfalls = []; // one record per spoken turn (see Waterfall)
  const bargeIns = [];
  let lastBarge = null; // the barge-in the next utterance made, for its waterfall
  const log = []; // the socket's events as received, with the page time: for tests

  // -- the bar -------------------------------------------------------------------------------

  function setStatus(text) {
    const el = $("#sp-voice-status");
    if (el) el.textContent = text;
  }
  function engine() {
    const picker = $("#sp-stt");
    return picker && picker.value ? picker.value : "local";
  }
  function silenceMs() {
    const slider = $("#sp-eou");
    return slider ? Number(slider.value) : 700;
  }
  function renderButtons() {
    const micButton = $("#sp-mic");
    if (micButton) {
      micButton.classList.toggle("sp-vb-on", handsFree);
      micButton.setAttribute("aria-pressed", String(handsFree));
      const label = micButton.querySelector(".sp-vb-label");
      if (label) label.textContent = handsFree ? "Mic on" : "Mic off";
    }
    const ptt = $("#sp-ptt");
    if (ptt) ptt.classList.toggle("sp-vb-on", holding);
  }
  function showMeter(rms) {
    // dBFS from -60 (silence) to 0 as 0..100 %, falling back slowly like a VU meter.
    const db = 20 * Math.log10(Math.max(rms, 1e-6));
    const target = Math.max(0, Math.min(100, ((db + 60) / 60) * 100));
    level = target > level ? target : Math.max(target, level - 6);
    const meter = $("#sp-voice-bar .sp-vb-meter");
    if (!meter) return;
    meter.style.setProperty("--sp-level", level.toFixed(0) + "%");
    meter.setAttribute("aria-valuenow", level.toFixed(0));
  }
  // Interim text greyed (it may still change), final text plain.
  function showTranscript(text, final) {
    const el = $("#sp-transcript");
    if (!el) return;
    const span = document.createElement("span");
    span.className = final ? "sp-tr-final" : "sp-tr-interim";
    span.textContent = text;
    el.replaceChildren(span);
  }

  // -- microphone and socket -----------------------------------------------------------------

  async function openMic() {
    if (mic) return mic;
    if (micOpening) return micOpening;
    micOpening = (async () => {
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        throw new Error("this page can use a microphone only over https (or on localhost)");
      }
      // The capture graph is built before the microphone opens, so the first samples have
      // somewhere to go: a user who speaks as they click loses nothing to the graph's set-up.
      let ctx;
      try { ctx = new AudioContext({ sampleRate: RATE }); } catch (e) { ctx = new AudioContext(); }
      let stream;
      try {
        const url = URL.createObjectURL(new Blob([WORKLET], { type: "application/javascript" }));
        try { await ctx.audioWorklet.addModule(url); } finally { URL.revokeObjectURL(url); }
        stream = await navigator.mediaDevices.getUserMedia({
          audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true,
                   channelCount: 1 },
        });
      } catch (e) {
        ctx.close();
        throw e;
      }
      const source = ctx.createMediaStreamSource(stream);
      // No outputs: a sink the graph pulls every render quantum, heard by nobody.
      const node = new AudioWorkletNode(ctx, "sp-mic-frames", {
        numberOfInputs: 1, numberOfOutputs: 0, channelCount: 1, channelCountMode: "explicit",
      });
      node.port.onmessage = (event) => onFrame(event.data);
      source.connect(node);
      if (ctx.state === "suspended") await ctx.resume();
      mic = { stream, track: stream.getAudioTracks()[0], ctx, source, node };
      return mic;
    })();
    try { return await micOpening; } finally { micOpening = null; }
  }
  function closeMic() {
    if (!mic) return;
    mic.node.port.onmessage = null;
    mic.source.disconnect();
    for (const track of mic.stream.getTracks()) track.stop();
    mic.ctx.close();
    mic = null;
    pending = [];
    level = 0;
    showMeter(0);
  }
  function openSocket() {
    if (socket) return;
    const url = (location.protocol === "https:" ? "wss" : "ws") + "://" + location.host + "/v1/voice";
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    socket = ws;
    listening = false;
    audioMs = 0;
    clock = [];
    const token = $("#sp-access-token input");
    ws.onopen = () => {
      ws.send(JSON.stringify({
        type: "start", mode: "transcribe", stt: engine(), end_of_utterance_ms: silenceMs(),
        access_token: token && token.value.trim() ? token.value.trim() : null,
      }));
      setStatus("Connecting to " + ENGINE_NAMES[engine()] + "\u2026");
    };
    ws.onmessage = (event) => {
      let msg;
      try { msg = JSON.parse(event.data); } catch (e) { return; }
      log.push({ event: msg.event, data: msg.data, at: performance.now() });
      if (log.length > 500) log.splice(0, 100);
      onServerEvent(msg.event, msg.data || {});
    };
    ws.onclose = (event) => {
      if (socket !== ws) return; // closed on purpose (see closeSocket)
      socket = null;
      listening = false;
      const why = event.code === 1008 ? "" : " (connection closed, code " + event.code + ")";
      turnOff("Voice input stopped" + why + ".", why === "");
    };
  }
  function closeSocket() {
    const ws = socket;
    socket = null;
    listening = false;
    endPending = false;
    if (ws) ws.close(1000);
  }
  // Everything off; `keep` keeps the status line (it already says why).
  function turnOff(status, keep) {
    handsFree = false;
    holding = false;
    clearTimeout(idleTimer);
    closeSocket();
    closeMic();
    renderButtons();
    if (!keep) setStatus(status);
  }

  function onFrame({ pcm, rms }) {
    const at = performance.now();
    showMeter(rms);
    pending.push({ pcm, at });
    const talking = handsFree || holding;
    if (talking && listening && socket) {
      for (const frame of pending) sendFrame(frame);
      pending = [];
      return;
    }
    const keep = talking ? MAX_PENDING_FRAMES : PREROLL_FRAMES;
    if (pending.length > keep) pending.splice(0, pending.length - keep);
  }
  function sendFrame(frame) {
    socket.send(frame.pcm);
    audioMs += FRAME_MS;
    clock.push([audioMs, frame.at]);
    if (clock.length > CLOCK_KEEP * 2) clock.splice(0, CLOCK_KEEP);
  }
  function flush() {
    if (!socket || !listening) return;
    if (handsFree || holding || endPending) {
      for (const frame of pending) sendFrame(frame);
      pending = [];
    }
    if (endPending) {
      endPending = false;
      socket.send(JSON.stringify({ type: "end-of-audio" }));
    }
  }
  // performance.now() when the sample at `ms` on the socket's audio clock was captured.
  function pageAt(ms) {
    if (!clock.length) return performance.now();
    let lo = 0;
    let hi = clock.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (clock[mid][0] < ms) lo = mid + 1; else hi = mid;
    }
    const [end, at] = clock[lo];
    return at - Math.max(0, end - ms);
  }

  // -- what the server says ------------------------------------------------------------------

  function onServerEvent(name, data) {
    if (name === "listening") {
      listening = true;
      setStatus(handsFree
        ? "Listening (" + ENGINE_NAMES[data.stt] + "): speak any time; speaking over the answer interrupts it."
        : "Ready (" + ENGINE_NAMES[data.stt] + "): hold the button while you speak.");
      flush();
    } else if (name === "speech-started") {
      onSpeechStarted(pageAt(data.t_ms));
    } else if (name === "transcript") {
      onTranscript(data);
    } else if (name === "error") {
      onError(data);
    }
  }
  function onTranscript(data) {
    const text = (data.text || "").trim();
    if (!data.utterance_end) {
      if (text) showTranscript(text, data.final);
      return;
    }
    if (!text) return;
    const heard = performance.now();
    showTranscript(text, true);
    const wf = new Waterfall(pageAt(data.speech_end_ms), heard, text);
    wf.bargedIn = lastBarge;
    lastBarge = null;
    submit(text, wf);
  }
  function onError(data) {
    const message = data.message || data.code || "error";
    if (data.code === "unauthorized") {
      turnOff("", true);
      setStatus("This server needs its access token for voice input: enter it under Session keys.");
    } else if (data.stage === "stt") {
      turnOff("", true);
      setStatus("The speech engine failed: " + message);
    } else {
      setStatus("Voice input: " + message);
    }
  }

  // -- turns: the spoken text goes through the chat's own Send ---------------------------------

  function turnMark() {
    return $("#sp-summary .sp-turn-mark");
  }
  // A chat turn is running: the server marks it on the timing summary (voice_panel.py); a
  // voice Send not yet answered counts too.
  function turnRunning() {
    const mark = turnMark();
    if (mark && mark.dataset.spTurnId !== markAtSend) pendingSend = 0; // the Send was answered
    if (mark && mark.dataset.spTurn === "running") return true;
    return pendingSend > 0 && performance.now() - pendingSend < 3000;
  }
  function userCount() {
    return document.querySelectorAll("#sp-chat [data-testid=user]").length;
  }
  // Gradio ignores a Send while the previous Send's event is still pending (trigger mode
  // "once"): after a barge-in the stopped turn takes a moment to end. A Send it took empties
  // the box at once (chat_tab.CLEAR_BOX), so: fill the box, click, and click again until the
  // box is empty (or the user typed something else meanwhile).
  async function submit(text, wf) {
    const box = $("#sp-message textarea");
    const send = $("#sp-send");
    if (!box || !send) return;
    const began = performance.now();
    while (turnRunning() && performance.now() - began < SEND_GIVE_UP_MS) {
      await sleep(50);
    }
    box.value = text;
    box.dispatchEvent(new Event("input", { bubbles: true }));
    wf.users = userCount();
    wf.sentAt = performance.now();
    pendingSend = wf.sentAt;
    const mark = turnMark();
    markAtSend = mark ? mark.dataset.spTurnId : null;
    waterfalls.push(wf);
    if (waterfalls.length > 50) waterfalls.shift();
    wf.watch();
    send.click();
    while (box.value === text && performance.now() - began < SEND_GIVE_UP_MS) {
      await sleep(SEND_RETRY_MS);
      if (box.value === text) {
        wf.sentAt = wf.at.request = pendingSend = performance.now();
        send.click();
      }
    }
    setStatus(handsFree ? "Sent. Listening\u2026" : "Sent.");
  }
  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  // -- barge-in ------------------------------------------------------------------------------

  // Speech started while the answer plays or its turn runs: silence the player now, stop the
  // turn (the server closes the upstream and keeps the partial answer, marked interrupted),
  // and let the utterance become the next turn when it ends. The server reports a start only
  // after a minimum of speech, so a cough does not interrupt; the microphone's echo
  // cancellation keeps the page's own voice out of it.
  function onSpeechStarted(onset) {
    showTranscript("\u2026", false);
    const playing = !!(window.spAudio && window.spAudio.playing() > 0);
    const running = turnRunning();
    if (!playing && !running) return;
    bargeIn(onset, playing, running);
  }
  function bargeIn(onset, playing, running) {
    const stopped = window.spAudio ? window.spAudio.stop("Interrupted: you spoke.") : null;
    const silentAt = stopped ? stopped.silentAt : performance.now();
    const interrupt = $("#sp-interrupt");
    if (interrupt) interrupt.click();
    const record = {
      onset, silentAt, playing, running,
      // Speech onset (on the page's clock) to the player silent: what the user perceives.
      latency_ms: playing ? Math.round(silentAt - onset) : null,
    };
    bargeIns.push(record);
    lastBarge = record;
    const wf = waterfalls[waterfalls.length - 1];
    if (wf && !wf.interrupted && (!stopped || !wf.turn || stopped.turn === wf.turn)) {
      wf.interrupted = record;
      wf.render();
      wf.report();
    }
    setStatus(playing
      ? "Interrupted: silent " + record.latency_ms + " ms after you started speaking."
      : "Interrupted: the answer was stopped.");
  }

  // -- the waterfall -------------------------------------------------------------------------

  // A spoken turn's stages, from the end of the user's speech (page clock, ms). Each bar runs
  // from where the previous stage ended to where its own ended, so the widest is the slowest.
  // The server's stamps count from the turn's start; they are pinned to the page's clock with
  // the first audio feed: received at `received`, sent `sent_ms` after the start.
  const STAGES = [
    ["transcript", "Transcript final", "the final transcript reached the page"],
    ["request", "Request sent", "the page clicked Send with the transcript"],
    ["first_token", "First token", "the first words of the answer appeared in the chat"],
    ["first_sentence", "First sentence complete", "the first sentence was ready for the voice (server)"],
    ["tts_first_byte", "Voice's first byte", "the voice engine's first audio byte (server)"],
    ["first_audible", "First audible sample", "the first audio was ready, plus its leading silence (server)"],
    ["playback", "Playback started", "the player started it, plus its leading silence: heard (browser)"],
  ];
  // The chat's after-turn step has shown the cell that recorded `turn`. Told by a hidden box,
  // not by the cell: the Notebook tab is drawn only once opened. (A page with no notebook has
  // no report to send: its report waits CELL_WAIT_MS, then goes nowhere.)
  function cellShown(turn) {
    const recorded = $("#sp-turn-recorded textarea");
    return !recorded || recorded.value === turn;
  }
  class Waterfall {
    constructor(speechEnd, transcriptAt, text) {
      this.speechEnd = speechEnd;
      this.text = text;
      this.at = { transcript: transcriptAt };
      this.sentAt = null;
      this.turn = null;
      this.users = 0;
      this.interrupted = null; // the barge-in that cut this turn's answer
      this.bargedIn = null; // the barge-in this utterance made (it cut the previous answer)
      this.leading = 0;
      this.reporting = false; // a report waits for the turn's notebook cell (report())
    }
    watch() {
      // The first words in the chat pane, checked every frame the browser draws; then the
      // turn's end, for a turn no voice answers (one that is spoken reports at playback).
      const check = () => {
        if (!this.at.first_token && this.firstText()) {
          this.at.first_token = performance.now();
          this.render();
        }
        if (this.at.first_token && this.endedSilent()) return;
        if (performance.now() - this.sentAt < 120000) requestAnimationFrame(check);
      };
      requestAnimationFrame(check);
      this.at.request = this.sentAt;
      this.render();
    }
    // The turn ended with no audio for it: its waterfall stops at the first token, and goes
    // into its notebook cell now. True once that is done (or once audio has come).
    endedSilent() {
      if (this.at.first_sentence != null) return true; // spoken: reported at playback
      const stats = document.querySelector("#sp-summary .sp-stats[data-ended]");
      if (!stats || !stats.dataset.turn) return false;
      const id = stats.dataset.turn;
      if (waterfalls.some((w) => w !== this && w.turn === id)) return false; // still the last turn's
      this.turn = this.turn || id;
      this.report();
      return true;
    }
    firstText() {
      const users = document.querySelectorAll("#sp-chat [data-testid=user]");
      if (users.length <= this.users) return false;
      const bots = document.querySelectorAll("#sp-chat [data-testid=bot]");
      const last = bots[bots.length - 1];
      const user = users[users.length - 1];
      if (!last || !(user.compareDocumentPosition(last) & Node.DOCUMENT_POSITION_FOLLOWING)) {
        return false;
      }
      const text = last.innerText.trim();
      return !!text && text !== "\u2026" && !text.startsWith("Waiting for the local model");
    }
    // The turn's first audio: the server's stamps of its first piece.
    onFeed(detail) {
      const first = detail.pieces.find((p) => p.seq === 0);
      this.turn = detail.turn;
      if (!first) return;
      // When the server started the turn, on the page's clock (never before the Send).
      const start = Math.max(this.sentAt, detail.received - (detail.sent_ms || 0));
      const ready = start + first.t_ms;
      this.leading = first.leading_silence_ms || 0;
      this.at.first_sentence = start + first.t_ms - (first.synth_ms || 0);
      this.at.tts_first_byte = first.first_byte_ms != null ? start + first.first_byte_ms : ready;
      this.at.first_audible = ready + this.leading;
      this.render();
    }
    onStarted(detail) {
      if (detail.turn !== this.turn || this.at.playback || !detail.first) return;
      this.at.playback = detail.at + (detail.leading_silence_ms || this.leading || 0);
      this.render();
      this.report();
    }
    // The waterfall goes into the turn's notebook cell: only the page knows its last stage.
    // Sent once the chat's after-turn step has shown that cell (or CELL_WAIT_MS on): its answer
    // and this report's can reach the page in either order, so a report sent sooner could be
    // drawn and then overwritten by the step's copy of the notebook, read before the report was
    // in it. Reports asked for meanwhile (the first token, then playback) go as one, with the
    // stages known when it goes.
    report() {
      if (this.reporting) return;
      this.reporting = true;
      const began = performance.now();
      const attempt = () => {
        if (this.turn && !cellShown(this.turn) && performance.now() - began < CELL_WAIT_MS) {
          setTimeout(attempt, 100);
          return;
        }
        this.reporting = false;
        this.send();
      };
      attempt();
    }
    send() {
      const box = $("#sp-voice-report textarea");
      const send = $("#sp-voice-report-send");
      if (!this.turn || !box || !send) return;
      const cut = this.interrupted && this.interrupted.latency_ms != null;
      const timing = {
        stages: this.stages().map((s) => ({ stage: s.stage, start_ms: s.start_ms, end_ms: s.end_ms })),
        voice_to_voice_ms: this.voiceToVoice(),
        barge_in_ms: cut ? this.interrupted.latency_ms : null,
      };
      box.value = JSON.stringify({ turn: this.turn, timing });
      box.dispatchEvent(new Event("input", { bubbles: true }));
      send.click();
    }
    stages() {
      const out = [];
      let previous = 0;
      for (const [name, label, how] of STAGES) {
        const at = this.at[name];
        if (at == null) continue;
        const end = Math.max(previous, at - this.speechEnd);
        out.push({ stage: name, label, how, start_ms: previous, end_ms: end, ms: end - previous });
        previous = end;
      }
      return out;
    }
    voiceToVoice() {
      const stages = this.stages();
      const last = stages.find((s) => s.stage === "playback") || stages.find((s) => s.stage === "first_audible");
      return last ? Math.round(last.end_ms) : null;
    }
    summary() {
      return { text: this.text, turn: this.turn, stages: this.stages(),
               voice_to_voice_ms: this.voiceToVoice(), interrupted: this.interrupted,
               barged_in: this.bargedIn };
    }
    render() {
      if (waterfalls[waterfalls.length - 1] !== this) return;
      const body = $("#sp-waterfall .sp-wf-body");
      if (body) body.innerHTML = waterfallHtml(this);
    }
  }
  function fmt(ms) {
    return Math.round(ms).toLocaleString("en-US") + " ms";
  }
  function escapeHtml(text) {
    const div = document.createElement("div");
    div.textContent = text;
    return div.innerHTML.replace(/"/g, "&quot;"); // also safe inside an attribute
  }
  function waterfallHtml(wf) {
    const stages = wf.stages();
    const total = Math.max(1, ...stages.map((s) => s.end_ms));
    const slowest = stages.reduce((a, s) => (a && a.ms >= s.ms ? a : s), null);
    const rows = stages.map((s) => {
      const left = (s.start_ms / total) * 100;
      const width = Math.max(0.6, (s.ms / total) * 100);
      const slow = s === slowest && stages.length > 1;
      return `<div class="sp-wf-row${slow ? " sp-wf-slowest" : ""}" data-stage="${s.stage}" title="${escapeHtml(s.how)}">`
        + `<span class="sp-wf-label">${escapeHtml(s.label)}${slow ? " <em>slowest</em>" : ""}</span>`
        + `<span class="sp-wf-track"><i style="left:${left.toFixed(2)}%;width:${width.toFixed(2)}%"></i></span>`
        + `<span class="sp-wf-ms">+${fmt(s.ms)}</span></div>`;
    }).join("");
    const v2v = wf.voiceToVoice();
    const missing = STAGES.filter(([name]) => wf.at[name] == null).map(([, label]) => label);
    const waiting = missing.length
      ? `<div class="sp-wf-note">Not reached${wf.interrupted ? "" : " yet"}: ${escapeHtml(missing.join(", "))}.</div>`
      : "";
    const cut = wf.interrupted && wf.interrupted.latency_ms != null
      ? `<div class="sp-wf-note">Barge-in: the voice went silent ${fmt(wf.interrupted.latency_ms)} after you started speaking.</div>`
      : wf.interrupted ? `<div class="sp-wf-note">Interrupted before it was heard.</div>` : "";
    const barged = wf.bargedIn && wf.bargedIn.latency_ms != null
      ? `<div class="sp-wf-note">You spoke over the previous answer: it went silent ${fmt(wf.bargedIn.latency_ms)} after you started (barge-in).</div>`
      : "";
    return `<div class="sp-wf-head"><span>\u201c${escapeHtml(wf.text.slice(0, 80))}${wf.text.length > 80 ? "\u2026" : ""}\u201d</span>`
      + `<span class="sp-wf-v2v">Voice to voice <b>${v2v != null ? fmt(v2v) : "\u2014"}</b></span></div>`
      + `<div class="sp-wf-rows">${rows}</div>`
      + `<div class="sp-wf-row sp-wf-axis"><span></span><span><span>0: end of your speech</span>`
      + `<span>${fmt(total)}</span></span><span></span></div>`
      + waiting + cut + barged;
  }
  window.addEventListener("sp-audio-feed", (event) => {
    const detail = event.detail;
    const fresh = !seenTurns.has(detail.turn);
    seenTurns.add(detail.turn);
    // The first audio of a turn that started after the latest voice Send is that turn's
    // (also when the turn's text ended first, under load, and its waterfall was reported to
    // its first token: the audio's stages are added, and it is reported again at playback).
    const wf = waterfalls[waterfalls.length - 1];
    const ours = !wf || !wf.turn || wf.turn === detail.turn;
    if (wf && fresh && ours && wf.at.first_sentence == null && detail.received > wf.sentAt) {
      wf.onFeed(detail);
    }
  });
  window.addEventListener("sp-audio-started", (event) => {
    const wf = waterfalls[waterfalls.length - 1];
    if (wf) wf.onStarted(event.detail);
  });

  // -- the controls ----------------------------------------------------------------------------

  async function setHandsFree(on) {
    if (on === handsFree) return;
    clearTimeout(idleTimer);
    if (!on) {
      handsFree = false;
      renderButtons();
      if (!holding) turnOff("Microphone off.");
      return;
    }
    handsFree = true;
    renderButtons();
    setStatus("Opening the microphone\u2026");
    try {
      await openMic();
      if (!handsFree) { // switched off while the browser was opening it
        if (!holding) closeMic();
        return;
      }
      openSocket();
      flush();
    } catch (err) {
      turnOff("", true);
      setStatus("No microphone: " + (err && err.message ? err.message : err));
    }
  }
  async function pttDown() {
    if (holding) return;
    holding = true;
    clearTimeout(idleTimer);
    renderButtons();
    // Pressing to talk over the answer is an explicit barge-in: no need to wait for speech.
    const playing = !!(window.spAudio && window.spAudio.playing() > 0);
    if (playing || turnRunning()) bargeIn(performance.now(), playing, turnRunning());
    // A push-to-talk press keeps what was captured just before it (see PREROLL_FRAMES).
    try {
      await openMic();
      if (!holding && !handsFree) {
        // Released while the browser was still opening the microphone: nothing was heard.
        setStatus("Hold the button while you speak.");
        idleTimer = setTimeout(() => { if (!handsFree && !holding) turnOff("Microphone off."); }, IDLE_CLOSE_MS);
        return;
      }
      openSocket();
      flush();
      if (holding && listening) setStatus("Listening while you hold the button\u2026");
    } catch (err) {
      turnOff("", true);
      setStatus("No microphone: " + (err && err.message ? err.message : err));
    }
  }
  function pttUp() {
    if (!holding) return;
    holding = false;
    renderButtons();
    if (socket && listening) {
      flush();
      socket.send(JSON.stringify({ type: "end-of-audio" }));
    } else if (socket) {
      endPending = true; // said while connecting: sent, then ended, once it listens
    }
    if (!handsFree) {
      setStatus("Transcribing\u2026");
      idleTimer = setTimeout(() => { if (!handsFree && !holding) turnOff("Microphone off."); }, IDLE_CLOSE_MS);
    }
  }
  // A changed engine or silence applies from the next start frame: reconnect if listening.
  function settingsChanged() {
    const out = $("#sp-eou-value");
    if (out) out.textContent = silenceMs() + " ms";
    if (socket) {
      closeSocket();
      openSocket();
    }
  }

  document.addEventListener("click", (event) => {
    const target = event.target;
    if (!target || !target.closest) return;
    if (target.closest("#sp-mic")) {
      // A real click: the moment the browser lets the player's audio start without one later.
      if (window.spAudio) window.spAudio.unlock();
      setHandsFree(!handsFree);
    } else if (target.closest("#sp-clear")) {
      karaoke.reset();
    }
  });
  document.addEventListener("pointerdown", (event) => {
    if (event.target.closest && event.target.closest("#sp-ptt") && event.button === 0) {
      event.preventDefault(); // no text selection or focus ring while held
      if (window.spAudio) window.spAudio.unlock();
      pttDown();
    }
  });
  for (const name of ["pointerup", "pointercancel"]) {
    document.addEventListener(name, () => pttUp());
  }
  document.addEventListener("pointerout", (event) => {
    const ptt = event.target.closest && event.target.closest("#sp-ptt");
    if (ptt && !ptt.contains(event.relatedTarget)) pttUp();
  });
  // The keyboard holds it too: Space or Enter on the focused button.
  document.addEventListener("keydown", (event) => {
    if ((event.key === " " || event.key === "Enter") && event.target.id === "sp-ptt" && !event.repeat) {
      event.preventDefault();
      pttDown();
    }
  });
  document.addEventListener("keyup", (event) => {
    if ((event.key === " " || event.key === "Enter") && event.target.id === "sp-ptt") pttUp();
  });
  document.addEventListener("contextmenu", (event) => {
    if (event.target.closest && event.target.closest("#sp-ptt")) event.preventDefault();
  });
  document.addEventListener("input", (event) => {
    if (event.target.id === "sp-eou") {
      const out = $("#sp-eou-value");
      if (out) out.textContent = silenceMs() + " ms";
    }
  });
  document.addEventListener("change", (event) => {
    if (event.target.id === "sp-stt" || event.target.id === "sp-eou") settingsChanged();
  });

  // -- karaoke -------------------------------------------------------------------------------

  // The sentence being spoken is highlighted in its answer; after a cut, the part not spoken
  // is dimmed. With the CSS Custom Highlight API: ranges over the chat's text, no change to its
  // DOM (Gradio re-renders messages as they stream, so the ranges are found again each frame).
  const karaoke = (() => {
    const supported = typeof Highlight === "function" && window.CSS && CSS.highlights;
    const messageOf = new Map(); // turn -> index of its answer among the chat's bot messages
    let dims = []; // {index, seq, fraction, pieces}: cut answers
    let frame = 0;
    let observer = null;

    function bots() {
      return document.querySelectorAll("#sp-chat [data-testid=bot]");
    }
    // The answer's letters and digits, lowercased, with where each one is in the DOM: the
    // spoken text has no markdown and its own spacing, so pieces are matched on these alone.
    function letters(message) {
      const chars = [];
      const where = [];
      const walker = document.createTreeWalker(message, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const parent = node.parentElement;
        if (!parent || parent.closest("button, sub, .sp-error")) continue;
        // The notes that close an answer are not part of it.
        const note = parent.closest("em");
        if (note && /^(Stopped|Interrupted) \u2014/.test(note.textContent)) break;
        const text = node.data;
        for (let i = 0; i < text.length; i++) {
          if (/[\p{L}\p{N}]/u.test(text[i])) {
            chars.push(text[i].toLowerCase());
            where.push([node, i]);
          }
        }
      }
      return { text: chars.join(""), where };
    }
    function squash(text) {
      return (text.match(/[\p{L}\p{N}]/gu) || []).join("").toLowerCase();
    }
    // Each piece's [start, end) in the answer's letters, in order; null for one not found.
    function locate(map, pieces) {
      let cursor = 0;
      return pieces.map((piece) => {
        const needle = squash(piece.text);
        if (!needle) return null;
        const at = map.text.indexOf(needle, cursor);
        if (at < 0) return null;
        cursor = at + needle.length;
        return [at, cursor];
      });
    }
    function range(map, from, to) {
      if (from >= to || to > map.where.length) return null;
      const r = new Range();
      const [startNode, startOffset] = map.where[from];
      const [endNode, endOffset] = map.where[to - 1];
      // The punctuation right after the last letter belongs to the sentence too.
      let end = endOffset + 1;
      while (end < endNode.data.length && /[^\s\p{L}\p{N}]/u.test(endNode.data[end])) end += 1;
      r.setStart(startNode, startOffset);
      r.setEnd(endNode, end);
      return r;
    }
    function paint() {
      frame = 0;
      if (!supported) return;
      const messages = bots();
      const speaking = new Highlight();
      const unspoken = new Highlight();
      const timeline = window.spAudio ? window.spAudio.timeline() : [];
      const now = performance.now();
      const current = timeline.find((p) => now >= p.start && now < p.end);
      if (current) {
        const index = messageOf.has(current.turn) ? messageOf.get(current.turn) : messages.length - 1;
        const message = messages[index];
        if (message) {
          const map = letters(message);
          const spans = locate(map, timeline.filter((p) => p.seq <= current.seq));
          const span = spans[spans.length - 1];
          const r = span && range(map, span[0], span[1]);
          if (r) speaking.add(r);
        }
      }
      for (const dim of dims) {
        const message = messages[dim.index];
        if (!message) continue;
        const map = letters(message);
        const spans = locate(map, dim.pieces);
        const k = dim.pieces.findIndex((p) => p.seq === dim.seq);
        let from = null;
        if (k >= 0 && spans[k]) {
          // Into the cut sentence as far as it was heard, then on to the end of that word.
          const [a, b] = spans[k];
          from = a + Math.round((b - a) * dim.fraction);
          while (from > a && from < b && sameWord(map, from - 1, from)) from += 1;
        } else {
          const before = spans.slice(0, Math.max(0, k)).filter(Boolean);
          if (before.length) from = before[before.length - 1][1];
        }
        const r = from != null && range(map, from, map.where.length);
        if (r) unspoken.add(r);
      }
      CSS.highlights.set("sp-speaking", speaking);
      CSS.highlights.set("sp-unspoken", unspoken);
      if (current || (window.spAudio && window.spAudio.playing() > 0)) schedule();
    }
    function sameWord(map, i, j) {
      const [a, x] = map.where[i];
      const [b, y] = map.where[j];
      return a === b && y === x + 1;
    }
    function schedule() {
      if (!frame) frame = requestAnimationFrame(paint);
    }
    function watchChat() {
      // Streaming re-renders the answer: find the ranges again when it changes.
      const chat = $("#sp-chat");
      if (observer || !chat) return;
      observer = new MutationObserver(() => { if (dims.length) schedule(); });
      observer.observe(chat, { childList: true, subtree: true, characterData: true });
    }
    window.addEventListener("sp-audio-started", (event) => {
      const { turn } = event.detail;
      if (!messageOf.has(turn)) messageOf.set(turn, bots().length - 1);
      watchChat();
      schedule();
    });
    window.addEventListener("sp-audio-stopped", (event) => {
      const { turn, cut, pieces } = event.detail;
      if (!cut || !pieces.length) return;
      const index = messageOf.has(turn) ? messageOf.get(turn) : bots().length - 1;
      dims = dims.filter((d) => d.index !== index);
      dims.push({ index, seq: cut.seq, fraction: cut.fraction, pieces: pieces.slice() });
      watchChat();
      schedule();
    });
    function reset() {
      dims = [];
      messageOf.clear();
      schedule();
    }
    return { reset, paint: schedule, dims: () => dims.slice() };
  })();

  return {
    state: () => ({ handsFree, holding, listening, connected: !!socket, mic: !!mic,
                    engine: engine(), sentMs: audioMs }),
    track: () => (mic ? mic.track : null),
    waterfalls: () => waterfalls.map((wf) => wf.summary()),
    bargeIns: () => bargeIns.slice(),
    events: () => log.slice(),
    karaoke,
  };
})();
