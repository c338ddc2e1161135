"""Pure rendering: session history and a ``TurnState`` → values for the Gradio components.

No Gradio event wiring and no I/O here, so every function is unit-testable.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from playground.checks.reports import (
    GuardrailReport,
    InterceptionReport,
    PostProcessingReport,
    StreamingGuardrailReport,
)
from playground.turn.events import ReasoningChunk, TextReplaced, TurnDetails, TurnFailed
from playground.turn.state import ToolEntry, TurnState
from playground.ui.render.markup import code, fenced, md

__all__ = [
    "chat_messages",
    "error_html",
    "error_note",
    "error_parts",
    "exit_note",
    "guardrail_note",
    "interception_note",
    "meta_line",
    "post_processing_note",
    "retraction_note",
    "turn_notes",
]


STOPPED_NOTE = "*Stopped — the partial answer is kept.*"
INTERRUPTED_NOTE = "*Interrupted — you spoke over the answer; the partial answer is kept.*"
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
        # ... and from whole-reply post-processing.
        "schema": "Send again, or try another model or prompt version: the output schema is "
        "in **Prompt text**.",
    }
)
_GUARDRAIL_ENGINES: Mapping[str, str] = MappingProxyType(
    {"local": "local rules", "openai": "OpenAI moderation"}
)
_FIELD_PREVIEW = 60  # characters of an exit field shown in the conversation


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
    # Thinking and tool calls sit where they happened in the answer, in time order.
    placed = [(entry.call.t_ms, _tool_message(entry)) for entry in turn.tools]
    # A spell of thinking goes before text stamped at the same instant (split from one chunk).
    placed += [
        (spell[0].t_ms - 1e-6, _thinking_message(turn, spell)) for spell in turn.thinking_spells()
    ]
    for t_ms, message in sorted(placed, key=lambda item: item[0]):
        cut = _text_before(turn, t_ms)
        if cut > done and answer[done:cut].strip():
            messages.append({"role": "assistant", "content": [_text(answer[done:cut])]})
        done = max(done, cut)
        messages.append(message)
    answer = answer[done:]
    notes = turn_notes(turn)
    meta = meta_line(turn)
    if answer.strip() or notes or meta or not turn.finished:
        parts = [answer] if answer.strip() else ([] if notes or meta else [waiting_note(turn)])
        messages.append(
            {"role": "assistant", "content": [_text("\n\n".join([*parts, *notes, *meta]))]}
        )
    return messages


def place_in_line(position: int) -> str:
    """ "next in line", "2nd in line", ... for a turn waiting for the in-process model."""
    if position == 1:
        return "next in line"
    teens = 10 <= position % 100 <= 20
    suffix = "th" if teens else {1: "st", 2: "nd", 3: "rd"}.get(position % 10, "th")
    return f"{position}{suffix} in line"


def waiting_note(turn: TurnState) -> str:
    """What an answer shows before its first words: where it is in line, if it waits."""
    if turn.queued > 0 and not turn.finished:
        return (
            f"*Waiting for the local model ({place_in_line(turn.queued)}): it answers one "
            "turn at a time.*"
        )
    return "…"


def turn_notes(turn: TurnState) -> list[str]:
    """What happened to a turn besides its text, one Markdown paragraph each, in the order a
    reader needs them: stopped or retracted first, then what each option did, then errors, then
    where an agent left the conversation."""
    completed = turn.completed
    details = completed.details if completed is not None else TurnDetails()
    notes = []
    if turn.interrupted:
        notes.append(INTERRUPTED_NOTE)
    elif turn.stopped:
        notes.append(STOPPED_NOTE)
    if turn.replaced:
        notes.append(retraction_note(turn.replaced[-1], details.streaming_guardrail))
    if details.guardrail is not None:
        notes.append(guardrail_note(details.guardrail))
    if details.interception is not None:
        notes.append(interception_note(details.interception))
    # An invalid reply is reported by its error (with what to do), not twice.
    if details.post_processing is not None and not any(
        error.stage == "post" for error in turn.errors
    ):
        notes.append(post_processing_note(details.post_processing))
    notes += [error_note(error) for error in turn.errors]
    if completed is not None and completed.exit_path:
        notes.append(exit_note(completed.exit_path, details.exit_fields or {}))
    if completed is not None and completed.finish_reason == "length":
        notes.append("*Cut off at the token limit.*")
    return notes


def meta_line(turn: TurnState) -> list[str]:
    """The line closing a finished answer: which prompt version, model and node produced it, so
    a copied transcript records it too (empty while streaming or for a turn that never started).
    """
    started = turn.started
    if started is None or not turn.finished:
        return []
    return [f"<sub>{md(started.prompt)} · {md(started.model)} · {md(started.node)} node</sub>"]


def retraction_note(replaced: TextReplaced, verdict: StreamingGuardrailReport | None) -> str:
    """The streaming guardrail replaced text that was already on screen (and stopped the reply).
    ``verdict`` is ``TurnCompleted.details.streaming_guardrail`` once the turn has ended."""
    reason = md(replaced.reason or "flagged")
    if verdict is None:
        return f"**Retracted by the streaming guardrail:** {reason}."
    named = verdict.rule
    # A block reason already names its rule ("blocked by rule violence.words (...)").
    rule = f" (rule {code(str(named))})" if named and str(named) not in replaced.reason else ""
    if verdict.action == "mask":
        return (
            f"**Streaming guardrail:** {reason}{rule} in text that was already shown, and ended "
            "the reply there."
        )
    return (
        f"**Retracted by the streaming guardrail:** {reason}{rule}. The text was on screen until "
        "its sentence window was checked; it has been replaced and the reply ended there."
    )


def guardrail_note(verdict: GuardrailReport) -> str:
    """The full guardrail's verdict on the complete reply (``details.guardrail``)."""
    engine = _GUARDRAIL_ENGINES.get(verdict.engine, verdict.engine)
    if not verdict.flagged:
        return f"**Guardrail:** passed ({md(engine)})."
    reason = md(verdict.reason or "flagged")
    if verdict.action == "block":
        return f"**Guardrail:** {reason} · {md(engine)}. The reply was withheld."
    rule = f"rule {code(verdict.rule)}, " if verdict.rule else ""
    return f"**Guardrail:** {reason} ({rule}{md(engine)})."


def interception_note(result: InterceptionReport) -> str:
    """What message interception did to the complete reply (``details.interception``)."""
    changes = "; ".join(md(change) for change in result.changes)
    if result.action == "block":
        return f"**Intercepted:** {changes or 'blocked'}. The reply was replaced."
    if result.action == "rewrite" or changes:
        return f"**Intercepted:** {changes or 'rewritten'}."
    return "**Interception:** no changes."


def post_processing_note(result: PostProcessingReport) -> str:
    """Whole-reply post-processing's schema check (``details.post_processing``)."""
    if result.valid:
        return "**Post-processing:** ✓ the reply matches the output schema."
    errors = "; ".join(md(error) for error in result.errors)
    return f"**Post-processing:** ✗ the reply does not match the output schema: {errors or '?'}."


def exit_note(path: str, fields: Mapping[str, Any]) -> str:
    """Where an Agent Node left the conversation, with the fields it collected."""
    shown = ", ".join(f"{md(str(name))}={code(_preview(value))}" for name, value in fields.items())
    return f"**Exit path:** {code(path)}" + (f" · {shown}" if shown else "")


def _preview(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _FIELD_PREVIEW else text[: _FIELD_PREVIEW - 1] + "…"


def _text_before(turn: TurnState, t_ms: float) -> int:
    """How much of the answer had arrived at ``t_ms`` (0 once a guardrail rewrote the text)."""
    if turn.replaced:
        return 0
    arrived = [c for c in turn.chunks if c.t_ms <= t_ms]
    return len(arrived[-1].snapshot) if arrived else 0


def _thinking_message(turn: TurnState, spell: list[ReasoningChunk]) -> dict[str, Any]:
    """A collapsible "Thinking" message: open and marked pending while the model thinks,
    collapsed (with how long it thought) once the answer or a tool call follows it."""
    started = spell[0].t_ms
    followed_at = turn.thinking_ended_at(spell)
    done = followed_at is not None or turn.finished
    metadata: dict[str, Any] = {"title": "Thinking", "status": "done" if done else "pending"}
    if followed_at is not None:
        metadata["duration"] = round((followed_at - started) / 1000, 3)
    text = "".join(piece.text for piece in spell)
    return {"role": "assistant", "content": [_text(text)], "metadata": metadata}


def _tool_message(entry: ToolEntry) -> dict[str, Any]:
    call, result = entry.call, entry.result
    body = f"**Arguments**\n{fenced(json.dumps(call.arguments, indent=2), 'json')}"
    if call.error:
        body += f"\n\n**Bad arguments:** {call.error}\n{fenced(call.raw_arguments)}"
    if result is not None:
        label = "Error" if result.is_error else "Result"
        body += f"\n\n**{label}**\n{fenced(result.output)}"
    failed = result is not None and result.is_error
    metadata: dict[str, Any] = {
        "title": f"Tool call: {call.name}" + (" — failed" if failed else ""),
        "status": "done" if result is not None else "pending",
    }
    if result is not None:
        metadata["duration"] = round(result.duration_ms / 1000, 3)
    return {"role": "assistant", "content": [_text(body)], "metadata": metadata}


def error_parts(error: TurnFailed) -> tuple[str, str, str | None]:
    """Where it failed, what happened (a sentence), and what to do (Markdown, or None)."""
    where = {"tts": "Voice", "post": "Post-processing"}.get(error.stage, "Error")
    message = error.message.strip()
    if message and message[-1] not in ".!?":
        message += "."
    if message:
        message = message[0].upper() + message[1:]
    return where, message, _FIX_HINTS.get(error.code)


def error_note(error: TurnFailed) -> str:
    """An error as the conversation shows it: what happened, then what to do about it."""
    where, message, hint = error_parts(error)
    note = f"**{where}:** {message}"
    return f"{note}\n\n**What to do:** {hint}" if hint else note


def error_html(error: TurnFailed) -> str:
    """``error_note`` as escaped HTML, for the panes that are not Markdown."""
    where, message, hint = error_parts(error)
    out = f"<p><b>{html.escape(where)}:</b> {html.escape(message)}</p>"
    if hint:
        bold = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(hint))
        out += f"<p><b>What to do:</b> {bold}</p>"
    return f"<div class='sp-error'>{out}</div>"
