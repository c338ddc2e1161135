"""Pure rendering: session history and a ``TurnState`` → values for the Gradio components.

No Gradio event wiring and no I/O here, so every function is unit-testable.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import pandas as pd

from playground.capabilities import OPTIONS
from playground.catalog import CatalogEntry
from playground.events import DisabledFeature, TurnFailed
from playground.prompts import PromptFile
from playground.turn_state import ToolEntry, TurnState

__all__ = [
    "audio_feed",
    "capability_notes",
    "chat_messages",
    "disabled_info",
    "error_note",
    "choice_label",
    "empty_plot",
    "prompt_card",
    "timing_plot",
    "timing_summary",
    "timing_table",
]

TABLE_HEADERS = ["seq", "ms since send", "gap ms", "chars"]
STOPPED_NOTE = "*Stopped — the partial answer is kept.*"
TEXT_SERIES = "text received"
AUDIO_SERIES = "text voiced"
SERIES = (TEXT_SERIES, AUDIO_SERIES)
PLOT_X, PLOT_Y, PLOT_COLOR = "ms", "characters", "series"
PLOT_CAPTION = (
    "Each step up is a chunk arriving (text received) or a spoken piece ready to play "
    "(text voiced); flat runs are waiting time."
)
# One colour per series, fixed: the browser builds the chart's colour scale once, from the first
# value it sees, and later updates only swap the data.
PLOT_COLORS: Mapping[str, str] = MappingProxyType({TEXT_SERIES: "#2563eb", AUDIO_SERIES: "#10b981"})
PLOT_EMPTY_EXTENT = 1000.0  # axes of the empty chart: 0–1,000 ms and 0–1,000 characters
_FIX_HINTS: Mapping[str, str] = MappingProxyType(
    {
        # Codes from the runner (the API's error codes) ...
        "auth": "Check the key: set it in the server's environment (.env), or paste one under "
        "**Session keys**.",
        "rate_limit": "Wait a moment and send again, or pick another model.",
        "connectivity": "Check the endpoint URL and that the server is running, then send again.",
        "timeout": "The upstream went silent; send again.",
        "server": "The upstream failed; send again.",
        "truncated": "The answer was cut off upstream; send again.",
        "bad_request": "The upstream rejected the request; check the model name and the prompt.",
        "internal": "Send again; if it keeps happening, check the server log.",
        # ... and from requests the UI could not start (``session.request_error_code``).
        "missing_key": "Set the key in the server's environment (.env), paste one under "
        "**Session keys**, or pick a model or voice that is available.",
        "history_limit": "Press **Clear** to start a new conversation.",
        "message_limit": "Shorten the message and send again.",
        "config": "Check the model, prompt and voice settings.",
    }
)


def choice_label(entry: CatalogEntry) -> str:
    return entry.label if entry.available else f"{entry.label} — unavailable: {entry.reason}"


def _text(text: str) -> dict[str, str]:
    # Content as a text part, not a bare string: Gradio dedents bare strings, which makes
    # streamed code blocks jump left while they arrive.
    return {"type": "text", "text": text}


def chat_messages(
    past: Sequence[tuple[str, TurnState]], live: tuple[str, TurnState] | None = None
) -> list[dict[str, Any]]:
    """The Chatbot value: each turn as (user message, its state), the live one last.

    Tool calls appear where they happened in the answer (text before a call, the call as a
    collapsible message, text after it); notes on stop, errors and replacements close the turn.
    """
    messages: list[dict[str, Any]] = []
    for user_message, turn in [*past, *([live] if live is not None else [])]:
        messages.append({"role": "user", "content": [_text(user_message)]})
        messages += _answer_messages(turn)
    return messages


def _answer_messages(turn: TurnState) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    answer = turn.text
    done = 0
    for entry in turn.tools:
        cut = _text_before(turn, entry.call.t_ms)
        if cut > done and answer[done:cut].strip():
            messages.append({"role": "assistant", "content": [_text(answer[done:cut])]})
        done = max(done, cut)
        messages.append(_tool_message(entry))
    answer = answer[done:]
    notes = []
    if turn.stopped:
        notes.append(STOPPED_NOTE)
    notes += [error_note(error) for error in turn.errors]
    for replaced in turn.replaced:
        notes.append(f"*A guardrail replaced the answer: {replaced.reason}*")
    if turn.completed and turn.completed.finish_reason == "length":
        notes.append("*Cut off at the token limit.*")
    if answer.strip() or notes or not turn.finished:
        content = answer if answer.strip() else ("" if notes else "…")
        if notes:
            content = (content + "\n\n" if content else "") + "\n\n".join(notes)
        messages.append({"role": "assistant", "content": [_text(content)]})
    return messages


def _text_before(turn: TurnState, t_ms: float) -> int:
    """How much of the answer had arrived at ``t_ms`` (0 once a guardrail rewrote the text)."""
    if turn.replaced:
        return 0
    arrived = [c for c in turn.chunks if c.t_ms <= t_ms]
    return len(arrived[-1].snapshot) if arrived else 0


def _tool_message(entry: ToolEntry) -> dict[str, Any]:
    call, result = entry.call, entry.result
    body = f"**Arguments**\n{_fenced(json.dumps(call.arguments, indent=2), 'json')}"
    if call.error:
        body += f"\n\n**Bad arguments:** {call.error}\n{_fenced(call.raw_arguments)}"
    if result is not None:
        label = "Error" if result.is_error else "Result"
        body += f"\n\n**{label}**\n{_fenced(result.output)}"
    failed = result is not None and result.is_error
    metadata: dict[str, Any] = {
        "title": f"Tool call: {call.name}" + (" — failed" if failed else ""),
        "status": "done" if result is not None else "pending",
    }
    if result is not None:
        metadata["duration"] = round(result.duration_ms / 1000, 3)
    return {"role": "assistant", "content": [_text(body)], "metadata": metadata}


def _fenced(text: str, lang: str = "text") -> str:
    """A Markdown code block that the text cannot close early, whatever backticks it holds."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text}\n{fence}"


def error_note(error: TurnFailed) -> str:
    """An error as the conversation shows it: what happened, then what to do about it."""
    where = "Voice" if error.stage == "tts" else "Error"
    message = error.message.strip()
    if message and message[-1] not in ".!?":
        message += "."
    if message:
        message = message[0].upper() + message[1:]
    note = f"**{where}:** {message}"
    hint = _FIX_HINTS.get(error.code)
    return f"{note}\n\n**What to do:** {hint}" if hint else note


def timing_summary(turn: TurnState | None) -> str:
    if turn is None or turn.started is None:
        rows = [("TTFT", "—"), ("Total", "—"), ("Chunks", "0"), ("TTFA", "—")]
        if turn is not None and turn.errors:
            return _stats(rows, "Not sent: the conversation says what to fix.")
        return _stats(rows, "Send a message to see when every chunk arrives.")
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
    started = turn.started
    return _stats(rows, f"{started.model} · {started.prompt} · {started.node} node · {status}")


def _stats(rows: Sequence[tuple[str, str]], caption: str) -> str:
    cells = "".join(
        f"<div class='sp-stat'><span>{html.escape(k)}</span><b>{html.escape(v)}</b></div>"
        for k, v in rows
    )
    return (
        f"<div class='sp-stats'>{cells}</div><div class='sp-caption'>{html.escape(caption)}</div>"
    )


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
    """The plot's value before any chunk: one lone point per series, which draws no line.

    The browser lays the chart out once, from the first value it renders, and later updates only
    swap the data. So that first value must already look like a real one: typed columns (the
    axis types come from the dtypes), every series (the colour domain is fixed), and finite
    extents wide enough for real tick labels (or the legend and the y labels get clipped).
    """
    return _plot_frame([0.0, PLOT_EMPTY_EXTENT], [0.0, PLOT_EMPTY_EXTENT], list(SERIES))


def _plot_frame(ms: list[float], chars: list[float], series: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            PLOT_X: pd.Series(ms, dtype="float64"),
            PLOT_Y: pd.Series(chars, dtype="float64"),
            PLOT_COLOR: pd.Series(series, dtype="str"),
        }
    )


def timing_plot(turn: TurnState | None) -> pd.DataFrame:
    """Characters over time as two staircases: text received (a step per chunk) and text voiced
    (a step per spoken piece), both from the origin, so waiting shows as flat runs and one
    piece of audio still draws a line."""
    if turn is None or not turn.chunks:
        return empty_plot()
    ms: list[float] = []
    chars: list[float] = []
    series: list[str] = []
    for name, steps in (
        (TEXT_SERIES, [(c.t_ms, len(c.text)) for c in turn.chunks]),
        (AUDIO_SERIES, [(a.t_ms, len(a.text)) for a in turn.audio]),
    ):
        total = 0
        ms.append(0.0)
        chars.append(0)
        for t_ms, size in steps:
            ms += [t_ms, t_ms]
            chars += [total, total + size]
            total += size
        series += [name] * (len(ms) - len(series))
    return _plot_frame(ms, chars, series)


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


def capability_notes(disabled: Sequence[DisabledFeature], *, has_tools: bool) -> str:
    """The line under the toggles (each toggle carries its own reason), plus tool calling,
    which is not a toggle: it follows from the prompt, the node type and the model."""
    toggles = [item for item in disabled if item.name != "tool_calling"]
    if toggles:
        names = ", ".join(_short(item.name) for item in toggles)
        lines = [f"**Disabled here:** {names} — each says why and what to use instead."]
    else:
        lines = ["All of these options are available for this configuration."]
    tools = next((item for item in disabled if item.name == "tool_calling"), None)
    if not has_tools:
        lines.append("**Tool calling:** this prompt has no tools.")
    elif tools is not None:
        lines.append(f"**Tool calling:** off. {tools.reason} {_instead(tools)}".rstrip())
    else:
        lines.append("**Tool calling:** on — tool calls appear in the conversation.")
    return "\n\n".join(lines)


def _short(name: str) -> str:
    return OPTIONS.get(name, name).split(" (")[0]


def _instead(item: DisabledFeature) -> str:
    return f"Instead: {item.alternative}" if item.alternative else ""


def disabled_info(item: DisabledFeature) -> str:
    return f"Disabled: {item.reason} {_instead(item)}".rstrip()


def prompt_card(prompt: PromptFile) -> str:
    tools = ", ".join(prompt.tools) or "none"
    schema = "yes" if prompt.output_schema else "no"
    return (
        f"**{prompt.title}** · `{prompt.ref}` · {prompt.node} node · format {prompt.format}\n\n"
        f"Tools: {tools} · Output schema: {schema}\n\n{_fenced(prompt.system.strip())}"
    )
