"""Pure rendering of the prompt editor's status line: valid or not (naming the field), the
draft's hash, an estimate of its system text's tokens, the V1/V2 rule, and whether saving is
possible here."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence

from playground.agent.tools import TOOLS, tool_schemas
from playground.notebook.prompt_history import VersionRuns
from playground.prompts.library import PromptFile
from playground.prompts.workbench import EditorDraft, variable_names

__all__ = [
    "CHARS_PER_TOKEN",
    "editor_status",
    "editor_title",
    "history_html",
    "tool_reference_html",
]

# English prose averages about four characters a token for GPT tokenizers; the count is labelled
# as an estimate because the real tokenizer depends on the model.
CHARS_PER_TOKEN = 4


def editor_title(base: PromptFile) -> str:
    return (
        f"<div class='sp-editor-base'>Editing <b>{html.escape(base.ref)}</b> — "
        f"{html.escape(base.title)}. Send in the Chat tab runs this text as a draft once it "
        "differs from the saved version; save it to make the next version.</div>"
    )


def editor_status(
    draft: EditorDraft | None, error: str | None, *, read_only_reason: str | None
) -> str:
    """One status box: the error naming the field, or the draft's facts."""
    if error is not None:
        return f"<div class='sp-editor-status sp-editor-bad'>⚠ {html.escape(error)}</div>"
    assert draft is not None
    prompt = draft.prompt
    tokens = max(1, round(len(prompt.system) / CHARS_PER_TOKEN))
    facts = [
        f"≈{tokens} tokens of system text",
        f"variables: {', '.join(variable_names(prompt)) or 'none'}",
    ]
    if prompt.format == "v1" and prompt.tools:
        facts.append(
            "format v1 with tools: tool calling is switched off while streaming (v2 has both)"
        )
    if draft.changed:
        head = f"✓ Valid draft <code>{html.escape(prompt.ref)}</code>: Send runs it unsaved."
        kind = "sp-editor-draft"
    else:
        head = "✓ Valid, and the same as the saved version: Send runs the saved version."
        kind = "sp-editor-same"
    if read_only_reason is not None:
        facts.append(f"saving is off: {read_only_reason}")
    items = "".join(f"<li>{html.escape(f)}</li>" for f in facts)
    return f"<div class='sp-editor-status {kind}'><p>{head}</p><ul>{items}</ul></div>"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} ms"


def history_html(
    versions: Sequence[PromptFile],
    sha256: Mapping[str, str],
    runs: Mapping[str, VersionRuns] | None,
) -> str:
    """The prompt's versions, newest first, with note, time, hash and — from this browser's
    notebook — how many runs used each and their median TTFT and total; drafts that ran are
    listed after them. ``runs`` None: the notebook is off here."""
    head = (
        "<tr><th>Version</th><th>Saved</th><th>Note</th><th>sha256</th><th>Runs</th>"
        "<th>Median TTFT</th><th>Median total</th></tr>"
    )
    rows = []
    stats = runs or {}
    for prompt in sorted(versions, key=lambda p: p.version, reverse=True):
        run = stats.get(prompt.ref)
        created = prompt.created.strftime("%Y-%m-%d %H:%M UTC") if prompt.created else "—"
        digest = sha256.get(prompt.ref, "")
        rows.append(
            f"<tr><td><code>{html.escape(prompt.ref)}</code></td><td>{created}</td>"
            f"<td>{html.escape(prompt.note) or '—'}</td>"
            f"<td title='{html.escape(digest)}'><code>{html.escape(digest[:12]) or '—'}</code></td>"
            f"<td>{run.runs if run else 0}</td><td>{_ms(run.median_ttft_ms if run else None)}</td>"
            f"<td>{_ms(run.median_total_ms if run else None)}</td></tr>"
        )
    for ref, run in sorted(stats.items()):
        if "@draft:" in ref:
            rows.append(
                f"<tr class='sp-history-draft'><td><code>{html.escape(ref)}</code></td>"
                f"<td>unsaved draft</td><td>—</td><td>—</td><td>{run.runs}</td>"
                f"<td>{_ms(run.median_ttft_ms)}</td><td>{_ms(run.median_total_ms)}</td></tr>"
            )
    caption = (
        "Runs and medians come from this browser's notebook."
        if runs is not None
        else "The notebook is off on this server, so no runs are counted."
    )
    return (
        f"<div class='sp-history'><table>{head}{''.join(rows)}</table>"
        f"<p class='sp-history-note'>{caption}</p></div>"
    )


def tool_reference_html() -> str:
    """Each built-in tool with its description and the JSON schema the model is given."""
    items = []
    for schema in tool_schemas(tuple(TOOLS)):
        function = schema.get("function", schema)
        name, about = function.get("name", ""), function.get("description", "")
        parameters = json.dumps(function.get("parameters", {}), indent=2, ensure_ascii=False)
        items.append(
            f"<details class='sp-tool-ref'><summary><code>{html.escape(name)}</code> — "
            f"{html.escape(about)}</summary><pre>{html.escape(parameters)}</pre></details>"
        )
    return "".join(items)
