"""The Evals tab's table and test cases, each way: one row per case (message, variables as
``name=value; name=value``, assertions as ``type: value`` separated by ``; ``, reference and
description).

A value that would not survive that text — one with the separator in it, spaces at either end,
or a JSON schema — is written as JSON (``regex: "TL;DR: "``, ``json-schema: {"type": ...}``)
and read back from it, so a set opened into the table and saved again is the same set."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final

from pydantic import ValidationError

from playground.errors import ConfigError
from playground.evals.files import parse_expected
from playground.evals.request import EvalCase

__all__ = ["HEADERS", "cases_from_rows", "rows_from_cases", "text_rows"]

HEADERS: Final = ["message", "variables", "assert", "reference", "description"]


def cases_from_rows(rows: Sequence[Sequence[Any]]) -> list[EvalCase]:
    """The table's rows as cases; blank rows are skipped, a bad cell names its row and column."""
    cases = []
    for number, row in enumerate(rows, start=1):
        cells = [str(c if c is not None else "") for c in [*row, *[""] * len(HEADERS)]]
        message, variables, asserts, reference, description = cells[: len(HEADERS)]
        if not any(c.strip() for c in cells):
            continue
        pairs = {}
        for item in _split(variables, "=", ";"):
            name, sep, value = item.partition("=")
            if not sep or not name.strip():
                raise ConfigError(f"row {number}: variables: {item.strip()!r} is not name=value")
            decoded = _json_value(value)
            pairs[name.strip()] = decoded if isinstance(decoded, str) else value.strip()
        specs = [_assertion(item) for item in _split(asserts, ":", "; ")]
        try:
            cases.append(
                EvalCase.model_validate(
                    {
                        "message": message if message.strip() else "",
                        "variables": pairs,
                        "assert": specs,
                        "reference": reference.strip() or None,
                        "description": description.strip() or None,
                    }
                )
            )
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"row {number}: {where}: {first['msg']}") from None
    if not cases:
        raise ConfigError("the test set is empty: write a message in the first column")
    return cases


def _split(cell: str, delimiter: str, separator: str) -> list[str]:
    """The non-blank items of ``cell`` between ``separator``s, where an item whose value (after
    its ``delimiter``) is JSON may hold the separator inside it."""
    items, start, decoder = [], 0, json.JSONDecoder()
    while start < len(cell):
        end = cell.find(separator, start)
        opens = cell.find(delimiter, start)
        if opens != -1 and (end == -1 or opens < end):
            value = opens + 1
            while value < len(cell) and cell[value] == " ":
                value += 1
            if cell.startswith(('"', "{"), value):
                try:
                    _, after = decoder.raw_decode(cell, value)
                    end = cell.find(separator, after)
                except ValueError:
                    pass  # not JSON after all: the text as typed
        if end == -1:
            end = len(cell)
        items.append(cell[start:end])
        start = end + len(separator)
    return [item for item in items if item.strip()]


def _json_value(text: str) -> object:
    """``text`` decoded when it is one JSON string or object, else None."""
    text = text.strip()
    if not text.startswith(('"', "{")):
        return None
    try:
        value: object = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, str | dict) else None


def _assertion(item: str) -> dict[str, Any]:
    spec = parse_expected(item.strip())
    raw = item.partition(":")[2]
    if spec.get("type") == "similar" and "threshold" in spec:
        raw = raw.rpartition("|")[0]
    decoded = _json_value(raw)
    if "value" in spec and (
        isinstance(decoded, str) or (isinstance(decoded, dict) and spec["type"] == "json-schema")
    ):
        spec["value"] = decoded
    return spec


def _shown(value: object, separator: str) -> str:
    """A value as the table writes it: as typed when it reads back the same, else as JSON."""
    if (
        isinstance(value, str)
        and value == value.strip()
        and separator not in value
        and not value.startswith(('"', "{"))
    ):
        return value
    return json.dumps(value, ensure_ascii=False)


def _assert_cell(case: EvalCase) -> str:
    out = []
    for a in case.assertions:
        if a.type in {"latency", "ttft", "cost"}:
            out.append(f"{a.type}: {a.threshold:g}")
        elif a.type in {"is-json", "contains-json"}:
            out.append(f"{a.type}:")
        elif a.type == "similar" and a.threshold is not None:
            out.append(f"similar: {_shown(a.value, '; ')}|{a.threshold:g}")
        else:
            out.append(f"{a.type}: {_shown(a.value, '; ')}")
    return "; ".join(out)


def rows_from_cases(cases: Sequence[EvalCase]) -> list[list[str]]:
    return [
        [
            c.message,
            "; ".join(f"{k}={_shown(v, ';')}" for k, v in c.variables.items()),
            _assert_cell(c),
            c.reference or "",
            c.description or "",
        ]
        for c in cases
    ]


def text_rows(rows: Sequence[Any]) -> list[list[str]]:
    """The table's value as Gradio hands it, every cell a text (empty for none)."""
    return [
        [str(c) if c is not None else "" for c in row] if isinstance(row, list) else []
        for row in rows
    ]
