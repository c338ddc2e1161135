"""Pure rendering of the Chat tab's panels: the timing summary, the audio feed, the structured
output status, and the settings panel's capability notes and choices."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from typing import Any

from playground.catalog import CatalogEntry
from playground.pricing.table import usd_text
from playground.turn.capabilities import OPTIONS
from playground.turn.events import DisabledFeature, StructuredOutput
from playground.turn.state import TurnState
from playground.ui.render.chat_view import place_in_line

__all__ = [
    "audio_feed",
    "audio_stop_feed",
    "capability_notes",
    "choice_label",
    "disabled_info",
    "limits_html",
    "loading_summary",
    "structured_status",
    "structured_value",
    "timing_summary",
    "voice_pieces",
]


def choice_label(entry: CatalogEntry) -> str:
    return entry.label if entry.available else f"{entry.label} — unavailable: {entry.reason}"


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
            *(
                # A reasoning model: its first answer token, after so long thinking.
                [("First answer token", _ms(t.ttfat_ms)), ("Thinking", _ms(t.reasoning_ms))]
                if t.reasoning_ms is not None
                else []
            ),
            ("Total", _ms(t.total_ms)),
            ("Chunks", str(t.chunks)),
            ("Chars/s", _num(t.chars_per_s)),
            ("Tokens/s", _num(t.tokens_per_s)),
            ("TTFA", _ms(t.ttfa_ms)),
            ("Cost", usd_text(turn.completed.cost.usd if turn.completed.cost else None)),
        ]
        if turn.interrupted:
            status = "interrupted"
        elif turn.replaced:
            status = "retracted by the streaming guardrail"
        else:
            status = "done" if not turn.errors else "finished with errors"
    else:
        thinking = turn.reasoning
        queued = turn.queued > 0 and not chunks and not thinking
        first = min((c[0].t_ms for c in (chunks, thinking) if c), default=None)
        rows = [
            ("TTFT", _ms(first) if first is not None else "queued…" if queued else "waiting…"),
            *(
                [("First answer token", _ms(chunks[0].t_ms) if chunks else "thinking…")]
                if thinking
                else []
            ),
            ("Elapsed", _ms(max(c[-1].t_ms for c in (chunks, thinking) if c)) if first else "—"),
            ("Chunks", str(len(chunks))),
            ("TTFA", _ms(turn.audio[0].t_ms) if turn.audio else "—"),
        ]
        if turn.stopped:
            status = "interrupted" if turn.interrupted else "stopped"
        elif queued:
            status = f"waiting for the local model, {place_in_line(turn.queued)}"
        else:
            status = "streaming…"
    started = turn.started
    caption = f"{started.model} · {started.prompt} · {started.node} node · {status}"
    # Which turn, and whether it ended: the voice input reads them to file a spoken turn's
    # waterfall when no voice answers it (it otherwise learns the turn from the audio).
    ended = turn.completed is not None
    return _stats(rows, caption, turn=started.turn_id, ended=ended) + voice_pieces(turn)


def loading_summary(what: str) -> str:
    """The timing panel while a long first step (loading the offline model) runs."""
    rows = [("TTFT", "waiting…"), ("Elapsed", "—"), ("Chunks", "0"), ("TTFA", "—")]
    return _stats(rows, what)


def voice_pieces(turn: TurnState) -> str:
    """Per spoken piece: when its audio was ready, how long synthesis took, how long it plays."""
    if not turn.audio:
        return ""
    rows = "".join(
        "<tr>"
        f"<td>{a.seq}</td><td>{a.t_ms:,.0f}</td><td>{a.synth_ms:,.0f}</td>"
        f"<td>{a.duration_ms / 1000:,.1f} s</td><td>{html.escape(_clip(a.text, 70))}</td>"
        "</tr>"
        for a in turn.audio
    )
    return (
        "<details class='sp-voice' open><summary>Spoken pieces</summary><table>"
        "<thead><tr><th>#</th><th>ready (ms since send)</th><th>synthesis ms</th>"
        "<th>audio</th><th>text</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></details>"
    )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _stats(
    rows: Sequence[tuple[str, str]], caption: str, *, turn: str = "", ended: bool = False
) -> str:
    cells = "".join(
        f"<div class='sp-stat'><span>{html.escape(k)}</span><b>{html.escape(v)}</b></div>"
        for k, v in rows
    )
    marks = f" data-turn='{html.escape(turn)}'" if turn else ""
    marks += " data-ended='1'" if ended else ""
    return (
        f"<div class='sp-stats'{marks}>{cells}</div>"
        f"<div class='sp-caption'>{html.escape(caption)}</div>"
    )


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} ms"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


# Pieces already sent that each feed repeats. Two feeds set in one browser tick (a busy page
# gets several frames in one read) show only the last, so a feed that carried only its new
# pieces could lose a sentence; the player skips the pieces it has.
FEED_OVERLAP = 2


def feed_start(sent: int) -> int:
    """Where a feed starts when ``sent`` pieces have been sent: a little before the new ones."""
    return max(0, sent - FEED_OVERLAP)


def audio_feed(
    turn_id: str, pieces: Sequence[Any], start: int, sent_ms: float | None = None
) -> str:
    """New audio pieces for the page's Web Audio player, as JSON, with each piece's timings
    (the voice waterfall reads them). ``sent_ms``: when this feed left, in ms since the turn
    started, so the page can pin the turn's ``t_ms`` clock to its own."""
    feed: dict[str, Any] = {
        "turn": turn_id,
        "pieces": [
            {
                "seq": p.seq,
                "data": base64.b64encode(p.wav).decode("ascii"),
                "text": p.text,
                "t_ms": p.t_ms,
                "synth_ms": p.synth_ms,
                "duration_ms": p.duration_ms,
                "first_byte_ms": p.first_byte_ms,
                "leading_silence_ms": p.leading_silence_ms,
            }
            for p in pieces[start:]
        ],
    }
    if sent_ms is not None:
        feed["sent_ms"] = round(sent_ms, 1)
    return json.dumps(feed)


def audio_stop_feed(turn_id: str, reason: str) -> str:
    """Tells the page's player to stop this turn's voice at once (its text was retracted)."""
    return json.dumps({"turn": turn_id, "pieces": [], "stop": reason})


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


def structured_value(output: StructuredOutput | None) -> Any:
    """The answer's JSON as far as it has arrived, for the structured output panel."""
    return output.value if output is not None else None


def structured_status(turn: TurnState | None, output: StructuredOutput | None) -> str:
    """One line under the structured output panel: valid, pending (what is still missing),
    errors, and the final verdict once the whole answer has been checked."""
    if turn is None or turn.started is None:
        return _status(
            "idle",
            "Send a message: the answer's JSON fills in here as it streams, "
            "checked against the prompt's output schema.",
        )
    if output is None:
        if turn.replaced:
            return _status("bad", "Retracted by the streaming guardrail before any JSON arrived.")
        if turn.finished:
            return _status("bad", "No JSON arrived.")
        return _status("wait", "Waiting for the answer's JSON…")
    errors = "; ".join(output.errors)
    pending = "; ".join(output.pending)
    if output.final:
        if output.valid:
            return _status("ok", "✓ Valid: the complete answer matches the output schema.")
        return _status(
            "bad", f"✗ Invalid: {errors or pending or 'the answer is not complete JSON'}"
        )
    if turn.replaced:
        return _status("bad", "Retracted by the streaming guardrail: the JSON was not finished.")
    if turn.stopped:
        return _status("bad", "Stopped before the JSON was complete.")
    if errors:
        return _status("bad", f"✗ Errors so far: {errors}")
    if output.valid:
        return _status("ok", "✓ Valid so far: the JSON is complete; waiting for the final check.")
    if pending:
        return _status("wait", f"Pending: {pending}")
    return _status("wait", "Streaming: no problems so far.")


def _status(kind: str, text: str) -> str:
    return f"<div class='sp-json-status sp-{kind}'>{html.escape(text)}</div>"


def limits_html(limits: str) -> str:
    """The streaming guardrail's limits (``guardrails.LIMITS``) as a collapsed note: its opening
    sentences, then its "- " lines as a list. Escaped."""
    intro: list[str] = []
    items: list[str] = []
    for line in limits.splitlines():
        if line.startswith("- "):
            items.append(line[2:])
        elif items:
            items[-1] += " " + line.strip()
        else:
            intro.append(line.strip())
    listed = "".join(f"<li>{html.escape(item)}</li>" for item in items)
    return (
        "<details class='sp-limits'><summary>What the streaming guardrail cannot do</summary>"
        f"<p>{html.escape(' '.join(intro))}</p><ul>{listed}</ul></details>"
    )
