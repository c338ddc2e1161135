"""Pure rendering: session history and a ``TurnState`` → values for the Gradio components.

No Gradio event wiring and no I/O here, so every function is unit-testable.
"""

from __future__ import annotations

import base64
import difflib
import html
import json
import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import yaml

from playground.catalog import CatalogEntry
from playground.prompts.library import PromptFile
from playground.turn.capabilities import OPTIONS
from playground.turn.events import DisabledFeature, StructuredOutput, TextReplaced, TurnFailed
from playground.turn.similarity import word_diff
from playground.turn.state import ToolEntry, TurnState

__all__ = [
    "audio_feed",
    "audio_stop_feed",
    "capability_notes",
    "chat_messages",
    "choice_label",
    "disabled_info",
    "error_html",
    "error_note",
    "error_parts",
    "exit_note",
    "guardrail_note",
    "interception_note",
    "limits_html",
    "loading_summary",
    "meta_line",
    "post_processing_note",
    "prompt_card",
    "prompt_diff",
    "prompt_file_text",
    "retraction_note",
    "structured_status",
    "structured_value",
    "timing_summary",
    "turn_notes",
]

STOPPED_NOTE = "*Stopped — the partial answer is kept.*"
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
    notes = turn_notes(turn)
    meta = meta_line(turn)
    if answer.strip() or notes or meta or not turn.finished:
        parts = [answer] if answer.strip() else ([] if notes or meta else ["…"])
        messages.append(
            {"role": "assistant", "content": [_text("\n\n".join([*parts, *notes, *meta]))]}
        )
    return messages


def turn_notes(turn: TurnState) -> list[str]:
    """What happened to a turn besides its text, one Markdown paragraph each, in the order a
    reader needs them: stopped or retracted first, then what each option did, then errors, then
    where an agent left the conversation."""
    completed = turn.completed
    details: Mapping[str, Any] = completed.details if completed is not None else {}
    notes = []
    if turn.stopped:
        notes.append(STOPPED_NOTE)
    if turn.replaced:
        notes.append(retraction_note(turn.replaced[-1], details.get("streaming_guardrail")))
    if isinstance(guardrail := details.get("guardrail"), Mapping):
        notes.append(guardrail_note(guardrail))
    if isinstance(interception := details.get("interception"), Mapping):
        notes.append(interception_note(interception))
    # An invalid reply is reported by its error (with what to do), not twice.
    if isinstance(post := details.get("post_processing"), Mapping) and not any(
        error.stage == "post" for error in turn.errors
    ):
        notes.append(post_processing_note(post))
    notes += [error_note(error) for error in turn.errors]
    if completed is not None and completed.exit_path:
        fields = details.get("exit_fields")
        notes.append(exit_note(completed.exit_path, fields if isinstance(fields, Mapping) else {}))
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
    return [f"<sub>{_md(started.prompt)} · {_md(started.model)} · {_md(started.node)} node</sub>"]


def retraction_note(replaced: TextReplaced, verdict: Mapping[str, Any] | None) -> str:
    """The streaming guardrail replaced text that was already on screen (and stopped the reply).
    ``verdict`` is ``TurnCompleted.details["streaming_guardrail"]`` once the turn has ended."""
    reason = _md(replaced.reason or "flagged")
    if not verdict:
        return f"**Retracted by the streaming guardrail:** {reason}."
    named = verdict.get("rule")
    # A block reason already names its rule ("blocked by rule violence.words (...)").
    rule = f" (rule {_code(str(named))})" if named and str(named) not in replaced.reason else ""
    if verdict.get("action") == "mask":
        return (
            f"**Streaming guardrail:** {reason}{rule} in text that was already shown, and ended "
            "the reply there."
        )
    return (
        f"**Retracted by the streaming guardrail:** {reason}{rule}. The text was on screen until "
        "its sentence window was checked; it has been replaced and the reply ended there."
    )


def guardrail_note(verdict: Mapping[str, Any]) -> str:
    """The full guardrail's verdict on the complete reply (``details["guardrail"]``)."""
    engine = _GUARDRAIL_ENGINES.get(str(verdict.get("engine")), str(verdict.get("engine")))
    if not verdict.get("flagged"):
        return f"**Guardrail:** passed ({_md(engine)})."
    reason = _md(str(verdict.get("reason") or "flagged"))
    if verdict.get("action") == "block":
        return f"**Guardrail:** {reason} · {_md(engine)}. The reply was withheld."
    rule = f"rule {_code(str(verdict['rule']))}, " if verdict.get("rule") else ""
    return f"**Guardrail:** {reason} ({rule}{_md(engine)})."


def interception_note(result: Mapping[str, Any]) -> str:
    """What message interception did to the complete reply (``details["interception"]``)."""
    changes = "; ".join(_md(str(change)) for change in result.get("changes") or [])
    if result.get("action") == "block":
        return f"**Intercepted:** {changes or 'blocked'}. The reply was replaced."
    if result.get("action") == "rewrite" or changes:
        return f"**Intercepted:** {changes or 'rewritten'}."
    return "**Interception:** no changes."


def post_processing_note(result: Mapping[str, Any]) -> str:
    """Whole-reply post-processing's schema check (``details["post_processing"]``)."""
    if result.get("valid"):
        return "**Post-processing:** ✓ the reply matches the output schema."
    errors = "; ".join(_md(str(error)) for error in result.get("errors") or [])
    return f"**Post-processing:** ✗ the reply does not match the output schema: {errors or '?'}."


def exit_note(path: str, fields: Mapping[str, Any]) -> str:
    """Where an Agent Node left the conversation, with the fields it collected."""
    shown = ", ".join(
        f"{_md(str(name))}={_code(_preview(value))}" for name, value in fields.items()
    )
    return f"**Exit path:** {_code(path)}" + (f" · {shown}" if shown else "")


def _preview(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _FIELD_PREVIEW else text[: _FIELD_PREVIEW - 1] + "…"


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>~])")


def _md(text: str) -> str:
    """Text shown literally in Markdown: every character Markdown or HTML could act on is
    backslash-escaped (model and rule-file text must not turn into links, markup or tags)."""
    return _MD_SPECIAL.sub(r"\\\1", text.replace("\n", " "))


def _code(text: str) -> str:
    """Inline code that the text cannot close early, whatever backticks it holds."""
    text = text.replace("\n", " ")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


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
        if turn.replaced:
            status = "retracted by the streaming guardrail"
        else:
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
    caption = f"{started.model} · {started.prompt} · {started.node} node · {status}"
    return _stats(rows, caption) + voice_pieces(turn)


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


def prompt_card(prompt: PromptFile) -> str:
    """The selected prompt version as Markdown: what it is, its variables and defaults, tools,
    exit paths with their required fields, the output schema, and the system text."""
    lines = [
        f"**{_md(prompt.title)}** · {_code(prompt.ref)} · {prompt.node} node · "
        f"format {prompt.format}"
    ]
    if prompt.description:
        lines.append(_md(prompt.description))
    facts = []
    if prompt.variables:
        shown = ", ".join(f"{_code(k)} = {_md(v)}" for k, v in prompt.variables.items())
        facts.append(f"**Variables:** {shown}")
    defaults = {k: v for k, v in prompt.defaults.model_dump().items() if v is not None}
    if defaults:
        facts.append("**Defaults:** " + ", ".join(f"{k} {v}" for k, v in defaults.items()))
    facts.append("**Tools:** " + (", ".join(_code(t) for t in prompt.tools) or "none"))
    if not prompt.exit_paths:
        facts.append("**Exit paths:** none")
    lines.append("  \n".join(facts))
    if prompt.exit_paths:
        items = []
        for path in prompt.exit_paths:
            needs = ", ".join(_code(f) for f in path.required_fields) or "nothing"
            items.append(f"- {_code(path.name)}: {_md(path.description)} Requires: {needs}.")
        lines.append("**Exit paths:**\n\n" + "\n".join(items))
    if prompt.output_schema is not None:
        schema = json.dumps(prompt.output_schema, indent=2, ensure_ascii=False)
        lines.append(f"**Output schema:**\n\n{_fenced(schema, 'json')}")
    else:
        lines.append("**Output schema:** none")
    lines.append(f"**System prompt:**\n\n{_fenced(prompt.system.strip())}")
    return "\n\n".join(lines)


class _PromptDumper(yaml.SafeDumper):
    """YAML shaped like the prompt files: multi-line text as ``|`` blocks, short lists inline."""


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flat = all(isinstance(item, str | int | float | bool) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flat)


_PromptDumper.add_representer(str, _represent_str)
_PromptDumper.add_representer(list, _represent_list)


def prompt_file_text(prompt: PromptFile) -> str:
    """The whole prompt version as YAML, in the prompt file's field order."""
    data = prompt.model_dump(mode="json", exclude_defaults=True)
    data = {"id": prompt.id, "version": prompt.version, **data}
    return yaml.dump(
        data, Dumper=_PromptDumper, sort_keys=False, allow_unicode=True, width=96
    ).rstrip("\n")


def prompt_diff(old: PromptFile, new: PromptFile) -> str:
    """A line diff of two versions of a prompt file as HTML: removed lines red with ``-``, added
    lines green with ``+``, and within a changed line the words that changed marked. Every piece
    of prompt text is escaped."""
    head = f"{html.escape(old.ref)} → {html.escape(new.ref)}"
    if old.ref == new.ref:
        return _diff_box(head, "", "The same version on both sides: pick another to compare.")
    a, b = prompt_file_text(old).splitlines(), prompt_file_text(new).splitlines()
    rows: list[str] = []
    removed = added = 0
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows += [
                _diff_row("eq", i + 1, j + 1, html.escape(a[i]))
                for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
            ]
            continue
        old_lines, new_lines = a[i1:i2], b[j1:j2]
        removed, added = removed + len(old_lines), added + len(new_lines)
        old_html = [html.escape(line) for line in old_lines]
        new_html = [html.escape(line) for line in new_lines]
        for k in range(min(len(old_lines), len(new_lines))):
            if difflib.SequenceMatcher(None, old_lines[k], new_lines[k]).ratio() >= 0.5:
                old_html[k], new_html[k] = _marked_pair(old_lines[k], new_lines[k])
        rows += [_diff_row("del", i1 + k + 1, None, text) for k, text in enumerate(old_html)]
        rows += [_diff_row("ins", None, j1 + k + 1, text) for k, text in enumerate(new_html)]
    if not removed and not added:
        summary = "no differences"
    else:
        summary = f"{removed} line{'s' * (removed != 1)} removed, {added} added"
    table = f"<table class='sp-diff-lines'>{''.join(rows)}</table>"
    return _diff_box(head, table, summary)


def _marked_pair(old: str, new: str) -> tuple[str, str]:
    """A changed line and its replacement, each with the words only it has marked."""
    old_parts, new_parts = [], []
    for op, text in word_diff(old, new):
        escaped = html.escape(text)
        if op == "equal":
            old_parts.append(escaped)
            new_parts.append(escaped)
        elif op == "delete":
            old_parts.append(f"<del>{escaped}</del>")
        else:
            new_parts.append(f"<ins>{escaped}</ins>")
    return "".join(old_parts), "".join(new_parts)


def _diff_row(kind: str, old_no: int | None, new_no: int | None, content: str) -> str:
    sign = {"eq": "", "del": "−", "ins": "+"}[kind]
    label = {"eq": "", "del": " aria-label='removed'", "ins": " aria-label='added'"}[kind]
    return (
        f"<tr class='sp-d-{kind}'{label}><td class='sp-d-no'>{old_no or ''}</td>"
        f"<td class='sp-d-no'>{new_no or ''}</td><td class='sp-d-sign'>{sign}</td>"
        f"<td class='sp-d-text'>{content}</td></tr>"
    )


def _diff_box(head: str, body: str, summary: str) -> str:
    return (
        f"<div class='sp-diff'><div class='sp-diff-head'><b>{head}</b>"
        f"<span>{html.escape(summary)}</span></div>{body}</div>"
    )


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
