"""Pure rendering: session history and a ``TurnState`` → values for the Gradio components.

No Gradio event wiring and no I/O here, so every function is unit-testable.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from typing import Any

import pandas as pd

from playground.capabilities import OPTIONS
from playground.catalog import CatalogEntry
from playground.events import DisabledFeature
from playground.prompts import PromptFile
from playground.requests import HistoryMessage
from playground.turn_state import TurnState

__all__ = [
    "audio_feed",
    "capability_notes",
    "disabled_info",
    "chat_messages",
    "choice_label",
    "empty_plot",
    "prompt_card",
    "timing_plot",
    "timing_summary",
    "timing_table",
]

TABLE_HEADERS = ["seq", "ms since send", "gap ms", "chars"]
ARRIVAL = "arrival (ms since send)"
GAP = "gap since previous (ms)"
AUDIO = "audio ready (ms since send)"
SERIES = (ARRIVAL, GAP, AUDIO)
# One colour per series, fixed: the browser builds the chart's colour scale once, from the first
# value it sees, and later updates only swap the data.
PLOT_COLORS = {ARRIVAL: "#2563eb", GAP: "#f59e0b", AUDIO: "#10b981"}
_FIX_HINTS = {
    "auth": "Check the key: set it in .env or paste one under Session keys.",
    "config": "Pick an available model or voice, or set its key.",
    "rate_limit": "Wait a moment and send again, or pick another model.",
    "connectivity": "Check the endpoint URL and that the server is running, then send again.",
    "timeout": "The upstream went silent; send again.",
    "server": "The upstream failed; send again.",
    "truncated": "The answer was cut off upstream; send again.",
}


def choice_label(entry: CatalogEntry) -> str:
    return entry.label if entry.available else f"{entry.label} — unavailable: {entry.reason}"


def _text(text: str) -> dict[str, str]:
    # Content as a text part, not a bare string: Gradio dedents bare strings, which makes
    # streamed code blocks jump left while they arrive.
    return {"type": "text", "text": text}


def chat_messages(
    history: Sequence[HistoryMessage], user_message: str | None, turn: TurnState | None
) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [
        {"role": m.role, "content": [_text(m.content)]} for m in history
    ]
    if user_message is not None:
        messages.append({"role": "user", "content": [_text(user_message)]})
    if turn is None:
        return messages
    for entry in turn.tools:
        call, result = entry.call, entry.result
        body = f"**Arguments**\n```json\n{json.dumps(call.arguments, indent=2)}\n```"
        if call.error:
            body += f"\n\n⚠️ {call.error}: `{call.raw_arguments}`"
        if result is not None:
            body += f"\n\n**Result**\n```\n{result.output}\n```"
        metadata: dict[str, Any] = {
            "title": f"🛠 {call.name}",
            "status": "done" if result is not None else "pending",
        }
        if result is not None:
            metadata["duration"] = round(result.duration_ms / 1000, 3)
            if result.is_error:
                metadata["log"] = "error"
        messages.append({"role": "assistant", "content": [_text(body)], "metadata": metadata})
    answer = turn.text
    notes = []
    if turn.stopped:
        notes.append("⏹ *Stopped — partial answer kept.*")
    for error in turn.errors:
        hint = _FIX_HINTS.get(error.code, "")
        where = "Voice" if error.stage == "tts" else "Error"
        notes.append(f"⚠️ **{where}:** {error.message} {hint}".strip())
    for replaced in turn.replaced:
        notes.append(f"🛡 *Replaced: {replaced.reason}*")
    if turn.completed and turn.completed.finish_reason == "length":
        notes.append("✂️ *Cut off at the token limit.*")
    if answer or notes or not turn.finished:
        content = answer or ("" if notes else "…")
        if notes:
            content = (content + "\n\n" if content else "") + "\n\n".join(notes)
        messages.append({"role": "assistant", "content": [_text(content)]})
    return messages


def timing_summary(turn: TurnState | None) -> str:
    if turn is None or turn.started is None:
        return "_Send a message to see when every chunk arrives._"
    chunks = turn.chunks
    if turn.completed is not None:
        t = turn.completed.timing
        rows = [
            ("TTFT", _ms(t.ttft_ms)),
            ("Total", _ms(t.total_ms)),
            ("Chunks", str(t.chunks)),
            ("Chars/s", _num(t.chars_per_s)),
            ("Tokens/s", _num(t.tokens_per_s)),
            ("TTFA", _ms(t.ttfa_ms)),
        ]
        status = "done" if not turn.errors else "finished with errors"
    else:
        rows = [
            ("TTFT", _ms(chunks[0].t_ms) if chunks else "waiting…"),
            ("Elapsed", _ms(chunks[-1].t_ms) if chunks else "—"),
            ("Chunks", str(len(chunks))),
            ("TTFA", _ms(turn.audio[0].t_ms) if turn.audio else "—"),
        ]
        status = "stopped" if turn.stopped else "streaming…"
    cells = "".join(
        f"<div class='sp-stat'><span>{html.escape(k)}</span><b>{html.escape(v)}</b></div>"
        for k, v in rows
    )
    started = turn.started
    caption = html.escape(f"{started.model} · {started.prompt} · {started.node} node · {status}")
    return f"<div class='sp-stats'>{cells}</div><div class='sp-caption'>{caption}</div>"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} ms"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


def timing_table(turn: TurnState | None) -> pd.DataFrame:
    rows = [
        [c.seq, round(c.t_ms, 1), round(c.gap_ms, 1), len(c.text)]
        for c in (turn.chunks if turn else [])
    ]
    return pd.DataFrame(rows, columns=TABLE_HEADERS)


def empty_plot() -> pd.DataFrame:
    """The plot's value before any chunk: one blank row per series.

    The browser derives the chart's encoding once, from the first value it renders — the axis
    types from the column dtypes and the colour domain from the series present — and later
    updates only swap the data. An untyped frame, or one without every series, leaves the lines
    undrawn for the rest of the session. The blank (NaN) rows set the domain and draw nothing.
    """
    return _plot_frame([0] * len(SERIES), [float("nan")] * len(SERIES), list(SERIES))


def _plot_frame(chunks: list[int], values: list[float], series: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "chunk": pd.Series(chunks, dtype="int64"),
            "ms": pd.Series(values, dtype="float64"),
            "series": pd.Series(series, dtype="str"),
        }
    )


def timing_plot(turn: TurnState | None) -> pd.DataFrame:
    """Long format for one LinePlot: arrival time and gap per chunk, plus audio-ready marks."""
    if turn is None or not turn.chunks:
        return empty_plot()
    chunk_ids: list[int] = []
    values: list[float] = []
    series: list[str] = []
    for c in turn.chunks:
        chunk_ids += [c.seq, c.seq]
        values += [c.t_ms, c.gap_ms]
        series += [ARRIVAL, GAP]
    last = turn.chunks[-1].seq
    for a in turn.audio:
        # Audio marks sit on the chunk axis at the chunk that had arrived when the audio was ready.
        at_chunk = next((c.seq for c in turn.chunks if c.t_ms >= a.t_ms), last)
        chunk_ids.append(at_chunk)
        values.append(a.t_ms)
        series.append(AUDIO)
    return _plot_frame(chunk_ids, values, series)


def audio_feed(turn_id: str, pieces: Sequence[Any], start: int) -> str:
    """New audio pieces for the page's Web Audio player, as JSON."""
    return json.dumps(
        {
            "turn": turn_id,
            "pieces": [
                {
                    "seq": p.seq,
                    "data": base64.b64encode(p.wav).decode("ascii"),
                    "text": p.text,
                    "t_ms": p.t_ms,
                }
                for p in pieces[start:]
            ],
        }
    )


def capability_notes(disabled: Sequence[DisabledFeature]) -> str:
    """One line under the toggles; each toggle carries its own reason."""
    if not disabled:
        return "All options are available for this configuration."
    names = ", ".join(OPTIONS.get(item.name, item.name).split(" (")[0] for item in disabled)
    return f"Not available with this configuration: {names}. Each says why and what to use instead."


def disabled_info(item: DisabledFeature) -> str:
    alternative = f" Instead: {item.alternative}" if item.alternative else ""
    return f"Disabled: {item.reason}{alternative}"


def prompt_card(prompt: PromptFile) -> str:
    tools = ", ".join(prompt.tools) or "none"
    schema = "yes" if prompt.output_schema else "no"
    return (
        f"**{prompt.title}** · `{prompt.ref}` · {prompt.node} node · format {prompt.format}\n\n"
        f"Tools: {tools} · Output schema: {schema}\n\n```text\n{prompt.system.strip()}\n```"
    )
