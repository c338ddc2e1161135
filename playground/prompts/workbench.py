"""What the page's prompt workbench decides, without the page: a prompt's variables (its defaults
and every ``{{name}}`` its system text uses), the text forms of variables and stop sequences the
page edits, and the editor's YAML read back as a prompt document.

Every parse raises ``ConfigError`` naming the field, in the words the page shows next to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from playground.errors import ConfigError
from playground.prompts.library import VARIABLE, PromptFile, prompt_yaml
from playground.prompts.store import parse_document

__all__ = [
    "MAX_STOPS",
    "EditorDraft",
    "editor_text",
    "missing_variables",
    "parse_editor",
    "parse_stop",
    "parse_variables",
    "stop_text",
    "variable_names",
    "variables_text",
]

MAX_STOPS = 4  # the OpenAI API's limit
# Fields the store sets when it saves: not part of what a designer edits.
_SAVED_ONLY = ("version", "note", "created")


def variable_names(prompt: PromptFile) -> list[str]:
    """The prompt's variables: those with defaults, then any other ``{{name}}`` in its text."""
    names = list(prompt.variables)
    for found in VARIABLE.findall(prompt.system):
        if found not in names:
            names.append(found)
    return names


def variables_text(prompt: PromptFile, values: dict[str, str] | None = None) -> str:
    """One ``name: value`` line per variable, prefilled with ``values`` then the defaults; a
    variable without either is left ``name:`` with nothing after it, to be filled in."""
    chosen = {**prompt.variables, **(values or {})}
    lines = []
    for name in variable_names(prompt):
        value = chosen.get(name, "")
        lines.append(f"{name}: {_scalar(value)}" if value else f"{name}:")
    return "\n".join(lines)


def _scalar(value: str) -> str:
    dumped = yaml.safe_dump(value, default_flow_style=True, width=10_000, allow_unicode=True)
    return dumped.removesuffix("\n...\n").strip()


def parse_variables(text: str | None) -> dict[str, str]:
    """The variables form (``name: value`` lines) as a mapping; a blank value is left out (the
    prompt's default, if it has one, applies)."""
    if not (text or "").strip():
        return {}
    try:
        # BaseLoader: every value is text as typed ("yes" stays "yes", "007" stays "007").
        data = yaml.load(text or "", Loader=yaml.BaseLoader)  # noqa: S506 - BaseLoader is safe
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(
            f"variables: write one 'name: value' per line{where}", field="variables"
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError("variables: write one 'name: value' per line", field="variables")
    values: dict[str, str] = {}
    for name, value in data.items():
        if not isinstance(name, str) or not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", name):
            raise ConfigError(f"variables: {str(name)[:40]!r} is not a name", field="variables")
        if isinstance(value, dict | list):
            raise ConfigError(f"variables.{name}: expected a text", field=f"variables.{name}")
        if value is not None and str(value) != "":
            values[name] = str(value)
    return values


def missing_variables(prompt: PromptFile, values: dict[str, str]) -> list[str]:
    """Variables the system text uses that have neither a value nor a default."""
    return [
        name
        for name in variable_names(prompt)
        if name not in values and name not in prompt.variables
    ]


def parse_stop(text: str | None) -> tuple[str, ...] | None:
    """Stop sequences, one per line (``\\n`` written as the two characters ``\\n``); None when
    there are none."""
    lines = [line.replace("\\n", "\n") for line in (text or "").splitlines() if line != ""]
    if not lines:
        return None
    if len(lines) > MAX_STOPS:
        raise ConfigError(f"stop: at most {MAX_STOPS} sequences", field="stop")
    return tuple(lines)


def stop_text(stop: tuple[str, ...] | None) -> str:
    return "\n".join(s.replace("\n", "\\n") for s in stop or ())


def editor_text(prompt: PromptFile) -> str:
    """The YAML a designer edits: the version's fields, without what a save adds."""
    base = prompt.model_copy(update={"note": "", "created": None})
    lines = prompt_yaml(base).splitlines(keepends=True)
    return "".join(line for line in lines if not line.startswith("version:"))


@dataclass(frozen=True, slots=True)
class EditorDraft:
    """The editor's text read as a prompt: its document (for a turn or a save) and the prompt
    it makes, ``changed`` when it differs from the version it was opened from."""

    document: dict[str, Any]
    prompt: PromptFile
    changed: bool


def parse_editor(text: str, base: PromptFile | None) -> EditorDraft:
    """The editor's YAML as a draft, validated like a prompt file (``ConfigError`` names the
    field, ``prompt_draft.<field>``)."""
    try:
        data = yaml.safe_load(text or "")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"the YAML cannot be read{where}", field="prompt_draft") from exc
    if not isinstance(data, dict):
        raise ConfigError("the prompt must be a mapping of fields", field="prompt_draft")
    for name in _SAVED_ONLY:
        if name in data:
            raise ConfigError(
                f"{name}: set when the version is saved; remove it", field=f"prompt_draft.{name}"
            )
    prompt = parse_document(data, field="prompt_draft")
    # Round trip through the model, so YAML dates or numbers-as-text end up as a file has them.
    document = prompt.model_dump(mode="json", exclude_defaults=True, exclude={"version"})
    document.update({k: getattr(prompt, k) for k in ("id", "title", "node", "format", "system")})
    changed = base is None or _content(prompt) != _content(base)
    return EditorDraft(document=document, prompt=prompt.as_draft(), changed=changed)


def _content(prompt: PromptFile) -> str:
    return prompt_yaml(prompt.model_copy(update={"version": 1, "note": "", "created": None}))
