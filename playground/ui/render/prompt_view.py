"""Pure rendering of prompt versions: the prompt card, the file text and the version diff."""

from __future__ import annotations

import difflib
import html
import json
from typing import Any

import yaml

from playground.prompts.library import PromptFile
from playground.turn.similarity import word_diff
from playground.ui.render.markup import code, fenced, md

__all__ = [
    "prompt_card",
    "prompt_diff",
    "prompt_file_text",
]


def prompt_card(prompt: PromptFile) -> str:
    """The selected prompt version as Markdown: what it is, its variables and defaults, tools,
    exit paths with their required fields, the output schema, and the system text."""
    lines = [
        f"**{md(prompt.title)}** · {code(prompt.ref)} · {prompt.node} node · format {prompt.format}"
    ]
    if prompt.description:
        lines.append(md(prompt.description))
    facts = []
    if prompt.variables:
        shown = ", ".join(f"{code(k)} = {md(v)}" for k, v in prompt.variables.items())
        facts.append(f"**Variables:** {shown}")
    defaults = {k: v for k, v in prompt.defaults.model_dump().items() if v is not None}
    if defaults:
        facts.append("**Defaults:** " + ", ".join(f"{k} {v}" for k, v in defaults.items()))
    facts.append("**Tools:** " + (", ".join(code(t) for t in prompt.tools) or "none"))
    if not prompt.exit_paths:
        facts.append("**Exit paths:** none")
    lines.append("  \n".join(facts))
    if prompt.exit_paths:
        items = []
        for path in prompt.exit_paths:
            needs = ", ".join(code(f) for f in path.required_fields) or "nothing"
            items.append(f"- {code(path.name)}: {md(path.description)} Requires: {needs}.")
        lines.append("**Exit paths:**\n\n" + "\n".join(items))
    if prompt.output_schema is not None:
        schema = json.dumps(prompt.output_schema, indent=2, ensure_ascii=False)
        lines.append(f"**Output schema:**\n\n{fenced(schema, 'json')}")
    else:
        lines.append("**Output schema:** none")
    lines.append(f"**System prompt:**\n\n{fenced(prompt.system.strip())}")
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
