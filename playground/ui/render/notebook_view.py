"""Pure rendering of the notebook tab: cells, the pinned comparison and the running rerun.

Everything is escaped HTML drawn from a cell's event log (``playground.notebook.model``): model
output never becomes markup. Each cell's buttons carry ``data-action`` and ``data-cell``; the
tab's one click handler (``ACTIONS_JS``) turns a click into an ``action`` event for the server.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from typing import Any, Final

from playground.notebook.audio_check import UnreadableAudio, joined_wav
from playground.notebook.model import Notebook, RunCell, compare_cells
from playground.pricing.table import usd_text
from playground.turn.state import TurnState
from playground.ui.render import timing_view
from playground.ui.render.waterfall_view import waterfall_html

__all__ = [
    "ACTIONS_JS",
    "AUDIO_CELLS",
    "cell_audio_uri",
    "cell_html",
    "comparison_html",
    "live_cell_html",
    "notebook_html",
    "status_html",
    "timing_chart",
]

# One listener on the component: cells are re-rendered, the listener stays.
ACTIONS_JS: Final = """
element.addEventListener('click', (e) => {
  const button = e.target.closest('[data-action]');
  if (!button || button.disabled) return;
  e.preventDefault();
  trigger('action', {action: button.dataset.action, cell: button.dataset.cell || ''});
});
"""

EMPTY = (
    "<div class='sp-nb-empty'><b>No runs yet.</b> Every message you send in the Chat tab "
    "becomes a cell here, with its configuration, transcript, audio and timing. "
    "Rerun a cell, edit it back into the composer, pin two to compare them, and export the "
    "notebook as <code>.ipynb</code> or JSON. It is kept for this browser across refreshes "
    "and restarts — nobody else can see it.</div>"
)
CELL_CHART_H: Final = 200.0  # the arrival chart's height in a cell (the Chat tab's is 250)
# The page carries audio inline: only the newest runs', so a long notebook stays light to send.
AUDIO_CELLS: Final = 20


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _ms(value: Any) -> str:
    return "—" if not isinstance(value, int | float) else f"{value:,.0f} ms"


def _num(value: Any) -> str:
    return "—" if not isinstance(value, int | float) else f"{value:,.1f}"


def _button(action: str, label: str, cell_id: str, title: str, *, primary: bool = False) -> str:
    kind = " sp-nb-primary" if primary else ""
    return (
        f"<button type='button' class='sp-nb-btn{kind}' data-action='{_e(action)}' "
        f"data-cell='{_e(cell_id)}' title='{_e(title)}'>{_e(label)}</button>"
    )


def _chips(cell: RunCell) -> str:
    c = cell.config
    chips = []
    if c.arena is not None:
        run, column, columns = c.arena.split("/")
        chips.append(
            ("arena", f"arena {run.removeprefix('arena_')[:6]} · column {column}/{columns}")
        )
    chips += [
        ("model", c.model),
        ("prompt", c.prompt),
        ("node", f"{c.node} node"),
        ("streaming", "streaming" if c.streaming else "complete reply"),
        ("voice", c.voice or "no voice"),
    ]
    options = [name.replace("_", " ") for name, on in c.features.model_dump().items() if on]
    if options:
        chips.append(("options", ", ".join(options)))
    for name in ("temperature", "top_p", "seed", "max_tokens"):
        value = getattr(c, name)
        if value is not None:
            chips.append((name, f"{name.replace('_', ' ')} {value}"))
    if c.stop:
        chips.append(("stop", "stop " + ", ".join(repr(s) for s in c.stop)))
    if c.variables:
        shown = ", ".join(f"{k}={v}" for k, v in c.variables.items())
        chips.append(("variables", shown if len(shown) <= 60 else shown[:59] + "…"))
    return "".join(
        f"<span class='sp-chip sp-chip-{kind}' title='{_e(kind)}'>{_e(text)}</span>"
        for kind, text in chips
    )


def _status(cell: RunCell) -> str:
    if cell.failed:
        return "<span class='sp-nb-badge sp-nb-failed'>failed</span>"
    if cell.was_interrupted:
        return "<span class='sp-nb-badge sp-nb-stopped'>interrupted — you spoke over it</span>"
    if cell.stopped:
        return "<span class='sp-nb-badge sp-nb-stopped'>stopped — partial answer kept</span>"
    if cell.ended is None:
        return "<span class='sp-nb-badge sp-nb-stopped'>unfinished</span>"
    if any(e.event == "completion-replace" for e in cell.events):
        return "<span class='sp-nb-badge sp-nb-stopped'>retracted</span>"
    return ""


def _transcript(cell: RunCell) -> str:
    out = []
    if cell.history:
        n = len(cell.history)
        out.append(
            f"<div class='sp-nb-history'>after {n} earlier message{'s' if n != 1 else ''}</div>"
        )
    out.append(f"<div class='sp-nb-msg sp-nb-user'><span>You</span><p>{_e(cell.message)}</p></div>")
    for call in cell.tool_calls:
        result = call.get("result") or {}
        output = result.get("output")
        error = " sp-nb-tool-error" if result.get("is_error") or call.get("error") else ""
        out.append(
            f"<details class='sp-nb-tool{error}'><summary>🛠 {_e(call['name'])}"
            f"</summary><pre>{_e(call.get('arguments'))}</pre>"
            + (f"<pre>→ {_e(output)}</pre>" if output is not None else "")
            + "</details>"
        )
    thinking = "".join(piece.text for piece in cell.turn_state.reasoning)
    if thinking:
        out.append(
            "<details class='sp-nb-thinking'><summary>💭 Thinking</summary>"
            f"<pre>{_e(thinking)}</pre></details>"
        )
    text = cell.text
    answer = _e(text) if text.strip() else "<i>(no text)</i>"
    out.append(f"<div class='sp-nb-msg sp-nb-answer'><span>Answer</span><p>{answer}</p></div>")
    for failure in cell.errors:
        out.append(
            f"<div class='sp-error'><p><b>{_e(failure.get('stage', ''))} error "
            f"({_e(failure.get('code', ''))}):</b> {_e(failure.get('message', ''))}</p></div>"
        )
    return "".join(out)


def cell_audio_uri(cell: RunCell) -> str | None:
    """The run's spoken pieces joined into one WAV, as a data URI (None without audio;
    ``UnreadableAudio`` when a stored piece cannot be decoded)."""
    wav = joined_wav(cell.audio)
    return None if wav is None else "data:audio/wav;base64," + base64.b64encode(wav).decode()


def _audio(cell: RunCell, *, embed: bool) -> str:
    if not embed and cell.has_audio_data:
        return (
            "<div class='sp-nb-note'>Audio is played in the newest "
            f"{AUDIO_CELLS} runs; Export JSON keeps this one's.</div>"
        )
    try:
        uri = cell_audio_uri(cell)
    except UnreadableAudio:
        # One bad cell must not break the notebook: it still shows, and can be deleted.
        return "<div class='sp-nb-note sp-nb-audio-bad'>The audio of this run is unreadable.</div>"
    if uri is None:
        if cell.audio:
            return "<div class='sp-nb-note'>The audio of this run was not kept.</div>"
        return ""
    return f"<audio class='sp-nb-audio' controls preload='none' src='{uri}'></audio>"


def _summary(cell: RunCell) -> str:
    t = cell.timing or {}
    rows = [
        ("TTFT", _ms(t.get("ttft_ms"))),
        *(
            [("First answer token", _ms(t.get("ttfat_ms"))), ("Thinking", _ms(t["reasoning_ms"]))]
            if t.get("reasoning_ms") is not None
            else []
        ),
        ("Total", _ms(t.get("total_ms"))),
        ("Chunks", str(t.get("chunks", len(cell.chunks)))),
        ("Chars/s", _num(t.get("chars_per_s"))),
        ("Tokens/s", _num(t.get("tokens_per_s"))),
        ("TTFA", _ms(t.get("ttfa_ms"))),
        ("Cost", usd_text(cell.cost_usd)),
    ]
    return (
        "<div class='sp-stats sp-nb-stats'>"
        + "".join(f"<div class='sp-stat'><span>{_e(k)}</span><b>{_e(v)}</b></div>" for k, v in rows)
        + "</div>"
    )


def timing_chart(
    chunks: Sequence[dict[str, Any]],
    audio: Sequence[dict[str, Any]],
    thinking: Sequence[tuple[float, float]] = (),
) -> str:
    """The run's arrival chart, drawn by the Chat tab's renderer (``timing_view.arrival_chart``)
    at a cell's size; nothing for a run with no text."""
    if not chunks:
        return ""
    return _cell_chart(
        [(float(c["t_ms"]), c.get("text", "")) for c in chunks],
        [(float(a["t_ms"]), a.get("text", "")) for a in audio],
        thinking,
    )


def _cell_chart(
    received: Sequence[tuple[float, str]],
    voiced: Sequence[tuple[float, str]],
    thinking: Sequence[tuple[float, float]] = (),
) -> str:
    chart = timing_view.arrival_chart(
        received, voiced, thinking=thinking, height=CELL_CHART_H, caption=""
    )
    return f"<div class='sp-nb-plot'>{chart}</div>"


def cell_html(
    cell: RunCell, index: int, *, pending_pin: str | None = None, embed_audio: bool = True
) -> str:
    pinned_here = pending_pin == cell.id
    if pending_pin is None:
        pin = _button("pin", "Pin", cell.id, "Pin this run, then pick another to compare with")
    elif pinned_here:
        pin = _button("unpin", "Unpin", cell.id, "Cancel the comparison")
    else:
        pin = _button("compare", "Compare with pinned", cell.id, "Compare with the pinned run")
    actions = "".join(
        [
            _button("rerun", "Rerun", cell.id, "Run again as a new cell", primary=True),
            _button("edit", "Edit", cell.id, "Put this run's settings and message in the composer"),
            *(
                [_button("arena", "Open in arena", cell.id, "This arena run's columns, again")]
                if cell.config.arena is not None
                else []
            ),
            pin,
            _button("code", "Code", cell.id, "Python and curl that reproduce this run"),
            _button("delete", "Delete", cell.id, "Delete this cell"),
        ]
    )
    when = cell.created_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    classes = "sp-nb-cell" + (" sp-nb-pinned" if pinned_here else "")
    return (
        f"<article class='{classes}' id='{_e(cell.id)}' data-cell='{_e(cell.id)}'>"
        f"<header class='sp-nb-head'><b class='sp-nb-index'>[{index}]</b>"
        f"<time>{_e(when)}</time>{_status(cell)}<span class='sp-nb-actions'>{actions}</span>"
        f"</header><div class='sp-nb-chips'>{_chips(cell)}</div>"
        f"<div class='sp-nb-body'><div class='sp-nb-transcript'>{_transcript(cell)}"
        f"{_audio(cell, embed=embed_audio)}</div><div class='sp-nb-timing'>{_summary(cell)}"
        f"{timing_chart(cell.chunks, cell.audio, cell.turn_state.thinking_bands())}"
        f"{waterfall_html(cell.voice) if cell.voice is not None else ''}"
        "</div></div></article>"
    )


def comparison_html(a: RunCell, b: RunCell, index_a: int, index_b: int) -> str:
    data = compare_cells(a, b)
    rows = []
    for m in data["metrics"]:
        delta = m["delta"]
        whole = isinstance(m["a"], int) and isinstance(m["b"], int)
        shown = "" if delta is None else (f"{delta:+,.0f}" if whole else f"{delta:+,.1f}")
        rows.append(
            f"<tr><th>{_e(m['label'])}</th><td>{_e(_fmt(m['a']))}</td>"
            f"<td>{_e(_fmt(m['b']))}</td><td>{_e(shown)}</td></tr>"
        )
    config = "".join(
        f"<tr><th>{_e(c['field'])}</th><td>{_e(_fmt(c['a']))}</td><td>{_e(_fmt(c['b']))}</td>"
        "<td></td></tr>"
        for c in data["config"]
        if not c["same"]
    )
    diff = "".join(
        f"<{tag}>{_e(part['text'])}</{tag}>" if tag else _e(part["text"])
        for part in data["diff"]
        for tag in [{"insert": "ins", "delete": "del"}.get(part["op"], "")]
    )
    unpin = _button("unpin", "Close comparison", "", "Unpin both runs")
    return (
        "<section class='sp-nb-compare' id='sp-nb-compare'>"
        f"<header class='sp-nb-head'><b>Comparing [{index_a}] and [{index_b}]</b>"
        f"<span>answers {data['similarity'] * 100:.0f}% alike</span>"
        f"<span class='sp-nb-actions'>{unpin}</span></header>"
        f"<table class='sp-nb-metrics'><thead><tr><th></th><th>[{index_a}]</th>"
        f"<th>[{index_b}]</th><th>change</th></tr></thead><tbody>{''.join(rows)}"
        + (
            f"<tr class='sp-nb-sub'><th colspan='4'>settings that differ</th></tr>{config}"
            if config
            else ""
        )
        + "</tbody></table>"
        f"<div class='sp-worddiff sp-nb-diff'>{diff or '<i>(both empty)</i>'}</div></section>"
    )


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, dict):
        on = [k.replace("_", " ") for k, v in value.items() if v]
        return ", ".join(on) or "none"
    return str(value)


def notebook_html(nb: Notebook, *, pending_pin: str | None = None) -> str:
    if not nb.cells:
        return f"<div class='sp-nb'>{EMPTY}</div>"
    index = {cell.id: i for i, cell in enumerate(nb.cells, start=1)}
    parts = []
    pair = nb.pinned_cells()
    if pair is not None:
        a, b = pair
        parts.append(comparison_html(a, b, index[a.id], index[b.id]))
    pending = pending_pin if pending_pin in index else None
    newest_audio = len(nb.cells) - AUDIO_CELLS
    parts += [
        cell_html(cell, i, pending_pin=pending, embed_audio=i > newest_audio)
        for i, cell in enumerate(nb.cells, start=1)
    ]
    return f"<div class='sp-nb'>{''.join(parts)}</div>"


def live_cell_html(message: str | None, turn: TurnState | None) -> str:
    """The rerun in progress (empty when none runs)."""
    if message is None or turn is None:
        return ""
    state = "stopped" if turn.stopped else ("done" if turn.finished else "running…")
    stop = "" if turn.finished else _button("stop", "Stop", "", "Stop this run, keeping its text")
    started = turn.started
    chips = (
        "".join(
            f"<span class='sp-chip'>{_e(v)}</span>"
            for v in (started.model, started.prompt, f"{started.node} node")
        )
        if started
        else ""
    )
    return (
        "<article class='sp-nb-cell sp-nb-live'>"
        f"<header class='sp-nb-head'><b class='sp-nb-index'>[…]</b><span>Rerun {_e(state)}</span>"
        f"<span class='sp-nb-actions'>{stop}</span></header><div class='sp-nb-chips'>{chips}</div>"
        f"<div class='sp-nb-body'><div class='sp-nb-transcript'>"
        f"<div class='sp-nb-msg sp-nb-user'><span>You</span><p>{_e(message)}</p></div>"
        f"<div class='sp-nb-msg sp-nb-answer'><span>Answer</span><p>{_e(turn.text) or '…'}"
        "</p></div></div>"
        f"<div class='sp-nb-timing'>{_live_chart(turn)}</div></div></article>"
    )


def _live_chart(turn: TurnState) -> str:
    if not turn.chunks:
        return ""
    return _cell_chart(
        [(c.t_ms, c.text) for c in turn.chunks],
        [(a.t_ms, a.text) for a in turn.audio],
        turn.thinking_bands(),
    )


def status_html(message: str, *, error: bool = False) -> str:
    kind = "sp-nb-status-error" if error else "sp-nb-status-ok"
    return f"<div class='sp-nb-status {kind}'>{_e(message)}</div>" if message else ""
