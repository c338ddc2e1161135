// The arena's answers as they grow (see playground/ui/live_feed.py and arena_frames.py): each
// run's pieces come on a WebSocket, ui/live/<key>, the key on the hidden
// #sp-arena-text-feed box; each piece [column, offset, text] says that column's answer is its
// first `offset` characters followed by `text`, and is appended to the column's pane; a piece
// [column, "pane", html, seq] is the pane whole (its status or numbers changed). Gradio sends
// the panes whole at the run's end (and while no socket reads): the newest pane stays, and a
// pane redrawn from a value older than what came here gets the rest of the text back at once.
window.spArena = (() => {
  let source = null;
  let answers = [];
  let panes = []; // per column, the newest pane the socket brought: {seq, html}
  let watching = false;
  let received = 0; // pieces that came on the socket (for automation)
  let listening = null;
  const prepared = new Set(); // keys this page made: one arriving late from Gradio is stale
  // A Send pressed while a run is still ending runs when it has ended (Gradio defers it), with
  // the box as it is then. A second press of a double click is deferred the same way: it is
  // known by its message (the one just sent) and its moment (within DOUBLE_PRESS_MS of it).
  const DOUBLE_PRESS_MS = 600;
  let pressedAt = -Infinity;
  let sent = null; // the last run this page sent: {text, at}
  const pressed = () => {
    pressedAt = performance.now();
  };
  // Capturing: before Gradio's own handlers see the press.
  document.addEventListener(
    "click",
    (e) => {
      if (e.target instanceof Element && e.target.closest("#sp-arena-send")) pressed();
    },
    true,
  );
  document.addEventListener(
    "keydown",
    (e) => {
      const inBox = e.target instanceof Element && e.target.closest("#sp-arena-message");
      if (inBox && e.key === "Enter" && !e.shiftKey) pressed();
    },
    true,
  );

  function textBox(index) {
    return document.querySelector(`#sp-arena-pane-${index + 1} .sp-arena-text`);
  }

  // Gradio and the socket both bring panes; each carries its run and its place in that run's
  // renderings (data-run, data-seq), and the newest stays.
  function newestPane(index) {
    const latest = panes[index];
    const pane = document.querySelector(`#sp-arena-pane-${index + 1} .sp-arena-pane`);
    if (!latest || !pane) return;
    const shown = pane.dataset.run === listening ? Number(pane.dataset.seq || 0) : -1;
    if (shown < latest.seq) pane.outerHTML = latest.html;
  }

  function show(index) {
    newestPane(index);
    const box = textBox(index);
    const want = answers[index];
    if (!box || want === undefined) return;
    const owner = box.closest(".sp-arena-pane")?.dataset.run;
    if (owner && owner !== listening) return; // another run's pane: not this run's text
    if (box.classList.contains("sp-arena-empty")) {
      // Before Gradio has drawn the run's panes: the placeholder makes way.
      box.classList.remove("sp-arena-empty");
      box.textContent = "";
    }
    const have = box.textContent;
    if (have.startsWith(want)) return; // as here, or a newer whole pane got there first
    if (want.startsWith(have)) {
      box.appendChild(document.createTextNode(want.slice(have.length)));
    } else {
      box.textContent = want;
    }
  }

  // A pane Gradio redraws is topped up before it is painted (observers run before paint).
  function watch() {
    if (watching) return;
    watching = true;
    for (let index = 0; index < 4; index++) {
      const pane = document.getElementById(`sp-arena-pane-${index + 1}`);
      if (!pane) continue;
      new MutationObserver(() => show(index)).observe(pane, { childList: true, subtree: true });
    }
  }

  function listen(key) {
    if (key === listening && source) return; // the socket Send opened for this run
    // An earlier run's key, from a Gradio frame that landed after Send made a new one.
    if (prepared.has(key) && key !== listening) return;
    listening = key;
    if (source) source.close();
    source = null;
    answers = [];
    panes = [];
    if (typeof key !== "string" || !key) return;
    watch();
    // Beside the page's own path (ui/live/… from "/" or from a prefix a proxy serves it under).
    const url = new URL(`ui/live/${encodeURIComponent(key)}`, document.baseURI);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const opened = new WebSocket(url);
    opened.onmessage = (event) => {
      if (source !== opened) return;
      const [index, offset, text, seq] = JSON.parse(event.data);
      received += 1;
      if (offset === "pane") {
        // The pane whole (its status or numbers changed), from the server's own renderer.
        panes[index] = { seq, html: text };
        newestPane(index);
        answers[index] = textBox(index)?.textContent ?? answers[index];
      } else {
        answers[index] = (answers[index] ?? "").slice(0, offset) + text;
      }
      show(index);
    };
    // The server closes it when the run ends. A key it does not know (4404) or a dropped
    // connection ends it too: Gradio's whole panes, once a second, carry the answers then.
    source = opened;
  }

  // False for the second press of a double click (see DOUBLE_PRESS_MS): not sent again.
  function sendable(text) {
    return !(sent && text === sent.text && pressedAt - sent.at < DOUBLE_PRESS_MS);
  }

  // Send: a new run's key (128 random bits), its socket opened at once; the server waits for
  // the run to start under it.
  function prepare(text) {
    sent = { text, at: performance.now() };
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    const key = btoa(String.fromCharCode(...bytes))
      .replaceAll("+", "-")
      .replaceAll("/", "_")
      .replaceAll("=", "");
    listen(key);
    prepared.add(key);
    return key;
  }

  return { listen, prepare, sendable, received: () => received };
})();
