"""The markdown cells of an exported notebook: the introduction and one summary per run.

Every recorded value goes into a code span (``md_code``) or a fenced block (``fence``) that it
cannot close, so a message or a model name cannot restructure the page.
"""

from __future__ import annotations

import json
from typing import Any

from playground.notebook.export_code import SDK_ENGINES
from playground.notebook.export_prompt import Effective
from playground.notebook.export_templates import Markdown, md_code, render_markdown
from playground.notebook.model import Notebook, RunCell

__all__ = ["fence", "intro", "summary"]


def intro(nb: Notebook, app_url: str) -> Markdown:
    """The first cell: what the notebook does and which environment variables it reads."""
    count = len(nb.cells)
    runs = Markdown(f"{count} run{'s' if count != 1 else ''}")
    return render_markdown("intro.md.tmpl", runs=runs, app_url=md_code(app_url))


def fence(text: str, lang: str = "text") -> str:
    """A fenced block that no backtick run inside ``text`` can close."""
    longest = run = 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text}\n{fence}"


def _ms(value: Any) -> str:
    return f"{value:,.1f} ms" if isinstance(value, int | float) else "n/a"


def summary(index: int, cell: RunCell, effective: Effective) -> Markdown:
    """The markdown cell of run ``index``: configuration, message, answer, tool calls, timing."""
    c = cell.config
    features = [name for name, on in c.features.model_dump().items() if on]
    rows = [
        ("model", md_code(c.model)),
        ("prompt", md_code(c.prompt)),
        ("node", c.node),
        ("streaming", "on" if c.streaming else "off"),
        ("voice", md_code(c.voice) if c.voice else "none"),
        ("options", ", ".join(features) or "none"),
        ("disabled", ", ".join(c.disabled_features) or "none"),
    ]
    rows += [(name, md_code(value)) for name, value in effective.params.items()]
    if c.variables:
        rows.append(("variables", md_code(json.dumps(c.variables, ensure_ascii=False))))
    rows.append(("history", f"{cell.history_length} earlier messages"))
    rows.append(("recorded", f"{cell.created_at:%Y-%m-%d %H:%M:%S %Z}".strip()))
    if cell.turn_id:
        rows.append(("turn", md_code(cell.turn_id)))
    out = [f"## Run {index}: {md_code(c.model)} · {md_code(c.prompt)} · {c.node} node", ""]
    out += ["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows), ""]
    out += ["**Message**", "", fence(cell.message), ""]
    status = cell.finish_reason or "unfinished"
    if cell.was_interrupted:
        status += " (interrupted: the user spoke over the answer)"
    elif cell.stopped:
        status += " (stopped by the user)"
    out += [f"**Recorded answer** (finish: {md_code(status)})", "", fence(cell.text or ""), ""]
    if cell.voice is not None:
        out += ["**Voice waterfall** (ms after the end of the user's speech)", ""]
        out += [
            f"- {stage.stage}: +{stage.end_ms - stage.start_ms:,.0f} ms"
            for stage in cell.voice.stages
        ]
        if cell.voice.voice_to_voice_ms is not None:
            out.append(f"- voice to voice: {cell.voice.voice_to_voice_ms:,.0f} ms")
        out.append("")
    if cell.tool_calls:
        out += ["**Tool calls**", ""]
        for call in cell.tool_calls:
            args = json.dumps(call["arguments"], ensure_ascii=False)
            result = call["result"]
            got = (
                f" → {md_code(result['output'][:200])} ({_ms(result['duration_ms'])})"
                if result
                else ""
            )
            out.append(f"- at {_ms(call['t_ms'])}: {md_code(call['name'] + '(' + args + ')')}{got}")
        out.append("")
    for error in cell.errors:
        out.append(
            f"**Error** ({error['stage']}, {md_code(error['code'])}): {md_code(error['message'])}"
        )
    timing = cell.timing
    if timing:
        out += [
            "",
            "**Timing**: "
            + " · ".join(
                [
                    f"first token {_ms(timing.get('ttft_ms'))}",
                    f"first audio {_ms(timing.get('ttfa_ms'))}",
                    f"{timing.get('chunks', 0)} chunks",
                    f"total {_ms(timing.get('total_ms'))}",
                ]
            ),
        ]
    if cell.audio:
        pieces = len(cell.audio)
        out.append(
            f"\n{pieces} audio piece{'s were' if pieces != 1 else ' was'} spoken by "
            f"{md_code(c.voice)}."
        )
    if c.voice_engine == "local":
        out.append(
            "\nThe voice was the playground's local Piper voice, which has no SDK: it is not "
            "reproduced here (the app's API speaks it)."
        )
    if effective.system is None and c.engine in SDK_ENGINES:
        out.append(f"\nThe system prompt of {md_code(c.prompt)} was not recorded with this run.")
    return Markdown("\n".join(out))
