"""Pure rendering of the prompt editor's status line: valid or not (naming the field), the
draft's hash, its system text's tokens, the V1/V2 rule, where a save goes, and the system text
with its ``{{variables}}`` marked (those with no default stand out: a Send must fill them)."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from playground.agent.tools import TOOLS, tool_schemas
from playground.notebook.prompt_history import VersionRuns
from playground.prompts.library import VARIABLE, PromptFile
from playground.prompts.workbench import EditorDraft, variable_names
from playground.providers.local_tokenizer import TokenCount

__all__ = [
    "KeptRow",
    "editor_status",
    "editor_title",
    "history_html",
    "marked_system",
    "saved_html",
    "tool_reference_html",
]


def saved_html(text: str, *, ok: bool = True) -> str:
    """The result line under the save buttons: what a save, open or download did."""
    kind = "sp-save-ok" if ok else "sp-save-bad"
    return f"<div class='sp-save-result {kind}'>{html.escape(text)}</div>"


def editor_title(base: PromptFile) -> str:
    return (
        f"<div class='sp-editor-base'>Editing <b>{html.escape(base.ref)}</b> — "
        f"{html.escape(base.title)}. Send in the Chat tab runs this text as a draft once it "
        "differs from the saved version; save it to make the next version.</div>"
    )


def editor_status(
    draft: EditorDraft | None,
    error: str | None,
    *,
    saving: str | None,
    tokens: TokenCount | None = None,
) -> str:
    """One status box: the error naming the field, or the draft's facts (``saving``: where a
    save goes, when that is not the server's prompt folder; ``tokens``: the system text's
    count, worked out by the caller who has the tokenizer)."""
    if error is not None:
        return f"<div class='sp-editor-status sp-editor-bad'>⚠ {html.escape(error)}</div>"
    assert draft is not None
    prompt = draft.prompt
    names = variable_names(prompt)
    facts = [
        tokens.describe() if tokens is not None else "",
        f"variables: {', '.join(names) or 'none'}",
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
    if saving is not None:
        facts.append(saving)
    items = "".join(f"<li>{html.escape(f)}</li>" for f in facts if f)
    system = marked_system(prompt) if names else ""
    return f"<div class='sp-editor-status {kind}'><p>{head}</p><ul>{items}</ul>{system}</div>"


def marked_system(prompt: PromptFile) -> str:
    """The system text with each ``{{variable}}`` marked: its default shown on hover, and
    those without a default flagged (the variables box must give them a value)."""
    text, parts, last = prompt.system, [], 0
    for match in VARIABLE.finditer(text):
        parts.append(html.escape(text[last : match.start()]))
        name = match.group(1)
        if name in prompt.variables:
            title = f"default: {prompt.variables[name]}"
            kind = "sp-var"
        else:
            title = "no default: give it a value under Parameters and variables"
            kind = "sp-var sp-var-missing"
        parts.append(
            f"<mark class='{kind}' title='{html.escape(title, quote=True)}'>"
            f"{html.escape(match.group(0))}</mark>"
        )
        last = match.end()
    parts.append(html.escape(text[last:]))
    return (
        "<details class='sp-marked-system' open><summary>System text, variables marked</summary>"
        f"<pre>{''.join(parts)}</pre></details>"
    )


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} ms"


@dataclass(frozen=True, slots=True)
class KeptRow:
    """A version kept in this browser (read-only servers), as the history lists it: its runs
    are those of the draft its text makes (``draft_ref``)."""

    label: str
    created: datetime
    note: str
    draft_ref: str
    sha256: str


def history_html(
    versions: Sequence[PromptFile],
    sha256: Mapping[str, str],
    runs: Mapping[str, VersionRuns] | None,
    kept: Sequence[KeptRow] = (),
) -> str:
    """The prompt's versions, newest first, with note, time, hash and — from this browser's
    notebook — how many runs used each and their median TTFT and total; then the versions this
    browser kept, newest first; then drafts that ran. ``runs`` None: the notebook is off here."""
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
    for row in kept:
        run = stats.get(row.draft_ref)
        rows.append(
            f"<tr class='sp-history-kept'><td><code>{html.escape(row.label)}</code></td>"
            f"<td>{row.created:%Y-%m-%d %H:%M UTC} (this browser)</td>"
            f"<td>{html.escape(row.note) or '—'}</td>"
            f"<td title='{html.escape(row.sha256)}'>"
            f"<code>{html.escape(row.sha256[:12])}</code></td>"
            f"<td>{run.runs if run else 0}</td><td>{_ms(run.median_ttft_ms if run else None)}</td>"
            f"<td>{_ms(run.median_total_ms if run else None)}</td></tr>"
        )
    listed = {row.draft_ref for row in kept}
    for ref, run in sorted(stats.items()):
        if "@draft:" in ref and ref not in listed:
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
