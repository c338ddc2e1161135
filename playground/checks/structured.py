"""Structured output while streaming: parse and check a JSON answer as it arrives.

Feed every text chunk to a ``PartialJSON``; each call returns the object parsed so far and the
problems found so far. While the answer streams, only problems that no continuation can fix are
errors (a wrong type, an unknown key, a bad enum value); constraints that more text may still
satisfy (a missing required field, too few list items) are *pending*. ``finish()`` checks the
whole answer strictly::

    checker = PartialJSON(prompt.output_schema)
    for chunk in chunks:
        state = checker.feed(chunk)  # state.value grows; state.errors are already certain
    final = checker.finish()  # required fields enforced; non-JSON answers reported here

Only values that are whole are shown: a string or number still being written is left out until
it ends, so keys only ever appear (never vanish) and a number is never checked half-written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import SchemaError  # type: ignore[import-untyped]
from jsonschema.validators import validator_for  # type: ignore[import-untyped]
from pydantic_core import from_json

from playground.errors import ConfigError

__all__ = ["PartialJSON", "PartialJSONState"]

# A number at the very end of unfinished JSON may still grow ("1" -> "12", "-" -> "-3.5e2").
_TRAILING_NUMBER = re.compile(r"(?:-?\d[\d.eE+-]*|-)$")
_PREVIEW_CHARS = 60

# Keywords a value that is still arriving may satisfy later, or whose verdict a partial value
# cannot give (``not``/``if`` would judge a half-built value and flip their meaning).
_PENDING_KEYWORDS = frozenset(
    {
        "required",
        "minItems",
        "minProperties",
        "contains",
        "minContains",
        "dependentRequired",
        "dependencies",
        "not",
        "if",
        "then",
        "else",
    }
)
# Where a schema holds subschemas: by name, in a list, or as a single schema.
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SUBSCHEMA_ONE = (
    "items",
    "additionalItems",
    "additionalProperties",
    "unevaluatedItems",
    "unevaluatedProperties",
    "propertyNames",
)


@dataclass(frozen=True, slots=True)
class PartialJSONState:
    """What is known after the text so far.

    ``value`` is the parsed object (None until a ``{`` has arrived); ``complete`` is True once
    its closing brace has; ``errors`` are certain problems, each ``"<json path>: <message>"``;
    ``pending`` are constraints not met *yet* (always empty once complete or finished).
    """

    value: Any | None
    complete: bool
    errors: tuple[str, ...] = ()
    pending: tuple[str, ...] = ()


def _lenient(schema: Any) -> Any:
    """The schema minus every check that a still-growing value may fail only for now."""
    if not isinstance(schema, dict):
        return schema  # boolean schemas, or a value we do not understand: leave as is
    out: dict[str, Any] = {}
    for key, sub in schema.items():
        if key in _PENDING_KEYWORDS:
            continue
        if key in ("enum", "const") and _holds_containers(sub if key == "enum" else [sub]):
            continue  # a half-built object or list never equals a whole one yet
        if key in _SUBSCHEMA_MAPS and isinstance(sub, dict):
            out[key] = {name: _lenient(child) for name, child in sub.items()}
        elif key in _SUBSCHEMA_LISTS and isinstance(sub, list):
            # Partial values often fit several branches, so "exactly one" becomes "at least one".
            out["anyOf" if key == "oneOf" else key] = [_lenient(child) for child in sub]
        elif key in _SUBSCHEMA_ONE:
            out[key] = [_lenient(c) for c in sub] if isinstance(sub, list) else _lenient(sub)
        else:
            out[key] = sub
    return out


def _holds_containers(values: Any) -> bool:
    return isinstance(values, list) and any(isinstance(v, dict | list) for v in values)


class _SchemaCheck:
    """One JSON schema, checked strictly (a whole answer) or leniently (a partial one)."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        document = dict(schema)
        validator_class = validator_for(document)
        try:
            validator_class.check_schema(document)
        except SchemaError as exc:
            raise ConfigError(f"output_schema is not a valid JSON schema: {exc.message}") from exc
        checker = validator_class.FORMAT_CHECKER
        self._strict = validator_class(document, format_checker=checker)
        self._lenient = validator_class(_lenient(document), format_checker=checker)

    def strict(self, value: Any) -> tuple[str, ...]:
        return _messages(self._strict, value)

    def lenient(self, value: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(errors, pending) for a value that may still grow."""
        errors = _messages(self._lenient, value)
        certain = set(errors)
        return errors, tuple(m for m in _messages(self._strict, value) if m not in certain)


def _messages(validator: Any, value: Any) -> tuple[str, ...]:
    found = {f"{error.json_path}: {error.message}" for error in validator.iter_errors(value)}
    return tuple(sorted(found))


class _Span:
    """Finds where the JSON object starts (first ``{``) and ends (its matching ``}``).

    Scans each character once, across feeds, tracking string and escape state so braces inside
    strings do not count.
    """

    def __init__(self) -> None:
        self.start: int | None = None
        self.end: int | None = None
        self.in_string = False
        self._escaped = False
        self._depth = 0
        self._scanned = 0

    def scan(self, text: str) -> None:
        if self.start is None:
            found = text.find("{", self._scanned)
            if found < 0:
                self._scanned = len(text)
                return
            self.start = self._scanned = found
        for index in range(self._scanned, len(text)):
            char = text[index]
            if self.in_string:
                if self._escaped:
                    self._escaped = False
                elif char == "\\":
                    self._escaped = True
                elif char == '"':
                    self.in_string = False
            elif char == '"':
                self.in_string = True
            elif char in "{[":
                self._depth += 1
            elif char in "}]":
                self._depth -= 1
                if self._depth == 0:
                    self.end = index + 1
                    break
        self._scanned = len(text) if self.end is None else self.end


class PartialJSON:
    """Accumulates a streamed answer and reports the JSON object in it after every chunk.

    Text before the first ``{`` (prose, a ```json fence) and after the object's closing brace
    (a closing fence) is ignored. The answer is expected to be one JSON object. Never raises on
    bad input: every problem is reported in the returned state. One instance per answer.
    """

    def __init__(self, schema: Mapping[str, Any] | None = None) -> None:
        """``schema`` is the prompt's ``output_schema`` (None: parse only, check nothing).

        Raises ``ConfigError`` if the schema itself is invalid.
        """
        self._check = _SchemaCheck(schema) if schema is not None else None
        self._text = ""
        self._span = _Span()
        self._last_value: Any | None = None
        self._closed: PartialJSONState | None = None  # set once the closing brace arrived
        self._final: PartialJSONState | None = None

    def feed(self, chunk: str) -> PartialJSONState:
        """Add the next chunk of the answer; the state of everything received so far."""
        if self._final is not None:
            raise RuntimeError("feed() after finish(): use a new PartialJSON per answer")
        self._text += chunk
        self._span.scan(self._text)
        if self._span.start is None:
            return PartialJSONState(value=None, complete=False)
        if self._span.end is not None:
            return self._whole()
        body = self._text[self._span.start :]
        if not self._span.in_string:
            body = _TRAILING_NUMBER.sub("", body)
        value, parse_errors = self._parse(body, partial=True)
        if self._check is None or value is None:
            return PartialJSONState(value, False, parse_errors)
        errors, pending = self._check.lenient(value)
        return PartialJSONState(value, False, parse_errors + errors, pending)

    def finish(self) -> PartialJSONState:
        """The verdict on the whole answer: the object must be present, closed and valid."""
        if self._final is None:
            self._final = self._verdict()
        return self._final

    def _verdict(self) -> PartialJSONState:
        if self._span.start is None:
            preview = " ".join(self._text.split())
            if not preview:
                return PartialJSONState(
                    None, False, ("the answer is empty; expected a JSON object",)
                )
            if len(preview) > _PREVIEW_CHARS:
                preview = preview[:_PREVIEW_CHARS] + "…"
            return PartialJSONState(
                None, False, (f"the answer is not JSON: no '{{' in it (it reads {preview!r})",)
            )
        if self._span.end is not None:
            return self._whole()
        # Truncated: show what did arrive (a final number counts now) and judge it strictly.
        value, parse_errors = self._parse(self._text[self._span.start :], partial=True)
        errors = ("the answer ended before the JSON object was closed", *parse_errors)
        if self._check is not None and value is not None:
            errors += self._check.strict(value)
        return PartialJSONState(value, False, errors)

    def _whole(self) -> PartialJSONState:
        # Text after the closing brace changes nothing, so the object is judged only once.
        if self._closed is None:
            body = self._text[self._span.start : self._span.end]
            value, parse_errors = self._parse(body, partial=False)
            errors = parse_errors
            if not parse_errors and self._check is not None:
                errors = self._check.strict(value)
            self._closed = PartialJSONState(value, True, errors)
        return self._closed

    def _parse(self, body: str, *, partial: bool) -> tuple[Any | None, tuple[str, ...]]:
        """The parsed value, or the last good one with the reason this text does not parse."""
        try:
            # NaN and Infinity are not JSON, whatever Python's json module accepts.
            self._last_value = from_json(body, allow_partial=partial, allow_inf_nan=False)
        except ValueError as exc:
            return self._last_value, (f"$: not valid JSON ({exc})",)
        return self._last_value, ()
