"""The prompt editor's form, without the page: each field of a prompt as the control that edits
it (text, a choice, JSON, ``name: value`` lines, numbers), read out of the editor's YAML and
written back into it.

The YAML stays the one source: a field changed in the form rewrites that field in the text, and
the text's validation (``parse_editor``) says what is wrong, naming the field. A value the form
cannot even read (JSON that does not parse, a number out of reach) is refused here, naming its
field, and the text is left as it was.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import yaml

from playground.errors import ConfigError
from playground.prompts.library import PromptFile, document_yaml
from playground.prompts.store import parse_document
from playground.prompts.workbench import editor_text, parse_stop, parse_variables, stop_text

__all__ = [
    "DEFAULTS_FIELDS",
    "ERROR_GROUPS",
    "TEXT_FIELDS",
    "FormValues",
    "error_group",
    "form_values",
    "unreadable",
    "with_field",
    "with_form",
]

# Fields written as they are typed; ``description`` is left out of the file when empty.
TEXT_FIELDS: Final = ("title", "description", "node", "format", "system")
# The prompt's default parameters (its ``defaults`` mapping), one control each.
DEFAULTS_FIELDS: Final = ("temperature", "top_p", "max_tokens", "seed", "stop")
# Where an error is shown: next to one of these (the defaults share one place).
ERROR_GROUPS: Final = (*TEXT_FIELDS, "variables", "output_schema", "exit_paths", "defaults")
_WHOLE_NUMBERS: Final = ("max_tokens", "seed")
_MAX_SEED: Final = 2**63 - 1  # what the OpenAI API takes


@dataclass(frozen=True, slots=True)
class FormValues:
    """What each control shows for a text (blank where the text has nothing)."""

    title: str = ""
    description: str = ""
    node: str | None = None
    format: str | None = None
    system: str = ""
    variables: str = ""
    output_schema: str = ""
    exit_paths: str = ""
    temperature: str = ""
    top_p: str = ""
    max_tokens: str = ""
    seed: str = ""
    stop: str = ""


def _mapping(text: str) -> dict[str, Any] | None:
    try:
        data = yaml.safe_load(text or "")
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _defaults(data: dict[str, Any]) -> dict[str, Any]:
    found = data.get("defaults")
    return dict(found) if isinstance(found, dict) else {}


def _number(value: Any) -> Any:
    # A bool is an int to Python, and not a number to anyone typing one.
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def form_values(text: str) -> FormValues | None:
    """The form for the editor's text; None when the text is not a readable mapping (the form
    keeps what it shows until the text can be read again)."""
    data = _mapping(text)
    if data is None:
        return None
    variables = data.get("variables")
    schema = data.get("output_schema")
    exits = data.get("exit_paths")
    defaults = _defaults(data)
    stop = defaults.get("stop")
    return FormValues(
        title=_text(data.get("title")),
        description=_text(data.get("description")),
        node=data.get("node") if data.get("node") in ("prompt", "agent") else None,
        format=data.get("format") if data.get("format") in ("v1", "v2") else None,
        system=_text(data.get("system")),
        variables="\n".join(f"{name}: {_flow(value)}" for name, value in variables.items())
        if isinstance(variables, dict)
        else "",
        output_schema=json.dumps(schema, indent=2, ensure_ascii=False) if schema else "",
        exit_paths=yaml.safe_dump(exits, sort_keys=False, allow_unicode=True) if exits else "",
        temperature=_number_text(defaults.get("temperature")),
        top_p=_number_text(defaults.get("top_p")),
        max_tokens=_number_text(defaults.get("max_tokens")),
        seed=_number_text(defaults.get("seed")),
        stop=stop_text(tuple(str(s) for s in stop)) if isinstance(stop, list | tuple) else "",
    )


def _number_text(value: Any) -> str:
    number = _number(value)
    if number is None:
        return ""
    return f"{number:g}" if isinstance(number, float) else str(number)


def _flow(value: Any) -> str:
    dumped = yaml.safe_dump(value, default_flow_style=True, width=10_000, allow_unicode=True)
    return dumped.removesuffix("\n...\n").strip()


def error_group(field: str | None) -> str | None:
    """The form field an error's ``field`` (``prompt_draft.defaults.seed``) is shown next to."""
    parts = (field or "").split(".")
    if parts and parts[0] == "prompt_draft":
        parts = parts[1:]
    if not parts:
        return None
    if parts[0] in DEFAULTS_FIELDS:
        return "defaults"
    return parts[0] if parts[0] in ERROR_GROUPS else None


def with_field(text: str, name: str, value: Any) -> str:
    """The editor's text with one field set from its control (``ConfigError`` naming the field
    when the control's value cannot be read; the text is then not changed)."""
    data = _readable(text, name)
    _apply(data, name, value)
    return _as_text(data)


def with_form(text: str, values: Mapping[str, Any], changed: str) -> str:
    """The editor's text with every field set from the form (the controls hold what the
    designer typed last, while the text may not have caught up with a control changed a moment
    before). A value the form cannot read leaves its field as it is (``unreadable`` says why);
    a text that cannot be read is refused, beside the ``changed`` control."""
    data = _readable(text, changed)
    for name, value in values.items():
        try:
            _apply(data, name, value)
        except ConfigError:
            continue
    return _as_text(data)


def unreadable(values: Mapping[str, Any]) -> dict[str, str]:
    """Per error place, why a control's value cannot be read (JSON that does not parse, …)."""
    found: dict[str, str] = {}
    for name, value in values.items():
        try:
            _apply({}, name, value)
        except ConfigError as exc:
            found.setdefault(_group_of(name), exc.message)
    return found


def _readable(text: str, changed: str) -> dict[str, Any]:
    data = _mapping(text)
    if data is None:
        raise ConfigError(
            "the YAML below cannot be read; fix it there first", field=_group_of(changed)
        )
    return data


def _apply(data: dict[str, Any], name: str, value: Any) -> None:
    if name in TEXT_FIELDS:
        _set(data, name, _text(value) if name in ("title", "system") else _text(value) or None)
    elif name == "variables":
        _set(data, name, parse_variables(_text(value)) or None)
    elif name == "output_schema":
        _set(data, name, _json_object(_text(value)))
    elif name == "exit_paths":
        _set(data, name, _exit_paths(_text(value)))
    elif name in DEFAULTS_FIELDS:
        defaults = _defaults(data)
        _set(defaults, name, _default(name, value))
        _set(data, "defaults", defaults or None)
    else:
        raise ConfigError(f"{name}: not a field of the form", field=name)


def _group_of(name: str) -> str:
    return "defaults" if name in DEFAULTS_FIELDS else name


def _set(data: dict[str, Any], name: str, value: Any) -> None:
    if value is None:
        data.pop(name, None)
    else:
        data[name] = value


def _json_object(text: str) -> dict[str, Any] | None:
    if not text.strip():
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"output_schema: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
            field="output_schema",
        ) from None
    if not isinstance(value, dict):
        raise ConfigError("output_schema: a JSON schema is an object ({…})", field="output_schema")
    return value


def _exit_paths(text: str) -> list[Any] | None:
    if not text.strip():
        return None
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(
            f"exit_paths: the YAML cannot be read{where}", field="exit_paths"
        ) from None
    if not isinstance(value, list):
        raise ConfigError(
            "exit_paths: a list, one '- name: …' item per exit path", field="exit_paths"
        )
    return value


def _default(name: str, value: Any) -> Any:
    if name == "stop":
        stops = parse_stop(_text(value))
        return list(stops) if stops else None
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            value = float(value)
        except ValueError:
            raise ConfigError(f"defaults.{name}: a number", field="defaults") from None
    if value is None:
        return None
    number = _number(value)
    if number is None or number != number or number in (float("inf"), float("-inf")):
        raise ConfigError(f"defaults.{name}: a number", field="defaults")
    if name in _WHOLE_NUMBERS:
        if number != int(number):
            raise ConfigError(f"defaults.{name}: a whole number", field="defaults")
        number = int(number)
        if name == "seed" and abs(number) > _MAX_SEED:
            raise ConfigError(f"defaults.seed: at most {_MAX_SEED}", field="defaults")
    return number


def _as_text(data: Mapping[str, Any]) -> str:
    """As the editor shows a prompt when it is valid (the saved layout), else the fields as
    they are, in the same order, for the text's own validation to point at."""
    try:
        prompt: PromptFile = parse_document({**data}, field="prompt_draft")
    except ConfigError:
        return document_yaml(dict(data))
    if "id" not in data:  # the text said no id: one is not invented here
        return document_yaml(dict(data))
    return editor_text(prompt)
