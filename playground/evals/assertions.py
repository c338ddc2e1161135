"""Assertions on one case's outcome, named as promptfoo names them where promptfoo has them.

An ``Assertion`` is validated when it is read (a regex that does not compile, a JSON schema that
is not one, a threshold outside its range: a ``ValueError`` naming the problem, which the API
turns into a 422 naming the field). ``check`` then answers pass or fail with a one-line reason
a designer can act on ("took 2,310 ms, over 1,500 ms").
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from jsonschema import SchemaError  # type: ignore[import-untyped]
from jsonschema.validators import validator_for  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from playground.turn.similarity import similarity

__all__ = ["ASSERTION_TYPES", "Assertion", "AssertionResult", "CaseOutcome", "check"]

AssertionType = Literal[
    "contains",
    "icontains",
    "not-contains",
    "regex",
    "is-json",
    "contains-json",
    "json-schema",
    "equals",
    "similar",
    "latency",
    "ttft",
    "cost",
    "tool-called",
    "exit-path",
]
ASSERTION_TYPES: tuple[str, ...] = AssertionType.__args__  # type: ignore[attr-defined]

_TEXT_VALUE = {"contains", "icontains", "not-contains", "regex", "equals", "similar"}
_NAME_VALUE = {"tool-called", "exit-path"}
_THRESHOLD = {"latency", "ttft", "cost"}
_DEFAULT_SIMILAR = 0.75  # promptfoo's default for its embedding-based "similar"
_SHOWN = 60  # characters of a value quoted in a reason


class Assertion(BaseModel):
    """One check: ``type``, and the ``value`` / ``threshold`` that type takes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    value: Any = None
    threshold: float | None = None

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in ASSERTION_TYPES:
            raise ValueError(
                f"unknown assertion type {value!r}; known: {', '.join(ASSERTION_TYPES)}"
            )
        return value

    @model_validator(mode="after")
    def _fits_its_type(self) -> Assertion:
        kind, value, threshold = self.type, self.value, self.threshold
        if kind in _TEXT_VALUE | _NAME_VALUE and (not isinstance(value, str) or not value):
            raise ValueError(f"{kind} needs a value: a non-empty string")
        if kind == "regex":
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"regex {value!r} does not compile: {exc}") from None
        if kind == "json-schema":
            if not isinstance(value, dict):
                raise ValueError("json-schema needs a value: a JSON schema object")
            try:
                validator_for(value).check_schema(value)
            except SchemaError as exc:
                raise ValueError(f"json-schema value is not a schema: {exc.message}") from None
        if kind in _THRESHOLD and (threshold is None or threshold < 0):
            raise ValueError(f"{kind} needs a threshold: a number ≥ 0 (ms, or USD for cost)")
        if kind == "similar" and threshold is not None and not 0 <= threshold <= 1:
            raise ValueError("similar takes a threshold between 0 and 1")
        return self


@dataclass(frozen=True, slots=True)
class CaseOutcome:
    """What a case's run produced, as far as assertions look at it."""

    text: str
    total_ms: float
    ttft_ms: float | None = None
    cost_usd: float | None = None  # None: the model's price is unknown
    tools_called: tuple[str, ...] = ()
    exit_path: str | None = None


@dataclass(frozen=True, slots=True)
class AssertionResult:
    type: str
    passed: bool
    reason: str


def check(assertion: Assertion, outcome: CaseOutcome) -> AssertionResult:
    """Whether ``outcome`` holds ``assertion``, and why in one line."""
    passed, reason = _CHECKS[assertion.type](assertion, outcome)
    return AssertionResult(assertion.type, passed, reason)


def _quoted(value: str) -> str:
    return repr(value if len(value) <= _SHOWN else value[: _SHOWN - 1] + "…")


def _ms(value: float) -> str:
    return f"{value:,.0f} ms"


def _contains(a: Assertion, o: CaseOutcome) -> tuple[bool, str]:
    found = a.value in o.text
    return found, f"{'contains' if found else 'does not contain'} {_quoted(a.value)}"


def _icontains(a: Assertion, o: CaseOutcome) -> tuple[bool, str]:
    found = a.value.casefold() in o.text.casefold()
    return found, f"{'contains' if found else 'does not contain'} {_quoted(a.value)} (any case)"


def _not_contains(a: Assertion, o: CaseOutcome) -> tuple[bool, str]:
    found = a.value in o.text
    return not found, f"{'contains' if found else 'does not contain'} {_quoted(a.value)}"


def _regex(a: Assertion, o: CaseOutcome) -> tuple[bool, str]:
    match = re.search(a.value, o.text)
    if match is None:
        return False, f"no match for /{a.value}/"
    return True, f"/{a.value}/ matched {_quoted(match.group(0))}"


def _is_json(_: Assertion, o: CaseOutcome) -> tuple[bool, str]:
    try:
        json.loads(o.text)
    except ValueError as exc:
        return False, f"not JSON: {exc}"
    return True, "the whole answer is JSON"


def _json_values(text: str) -> Iterator[Any]:
    """Every JSON object or array that starts somewhere in ``text`` (fenced or inline)."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"[\[{]", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        yield value


def _contains_json(_: Assertion, o: CaseOutcome) -> tuple[bool, str]:
    for _value in _json_values(o.text):
        return True, "holds a JSON value"
    return False, "holds no JSON object or array"


def _json_schema(a: Assertion, o: CaseOutcome) -> tuple[bool, str]:
    validator = validator_for(a.value)(a.value)
    candidates = list(_json_values(o.text))
    if not candidates:
        return False, "holds no JSON object or array to check against the schema"
    first_problem = ""
    for value in candidates:
        problems = sorted(validator.iter_errors(value), key=lambda e: list(e.path))
        if not problems:
            return True, "its JSON matches the schema"
        if not first_problem:
            where = "/".join(str(p) for p in problems[0].path) or "(root)"
            first_problem = f"{where}: {problems[0].message}"
    return False, f"its JSON does not match the schema: {first_problem}"


def _equals(a: Assertion, o: CaseOutcome) -> tuple[bool, str]:
    same = o.text.strip() == a.value.strip()
    return same, "equals the value" if same else f"differs from {_quoted(a.value)}"


def _similar(a: Assertion, o: CaseOutcome) -> tuple[bool, str]:
    threshold = a.threshold if a.threshold is not None else _DEFAULT_SIMILAR
    score = similarity(o.text, a.value)
    verdict = "≥" if score >= threshold else "<"
    return score >= threshold, f"word similarity {score:.2f} {verdict} {threshold:.2f}"


def _at_most(
    measured: float | None,
    limit: float | None,
    what: str,
    show: Callable[[float], str],
    missing: str,
) -> tuple[bool, str]:
    """``measured`` ≤ ``limit``, said as "<what> <measured>, within/over <limit>"."""
    if measured is None:
        return False, missing
    ok = measured <= float(limit or 0)
    return ok, f"{what} {show(measured)}, {'within' if ok else 'over'} {show(float(limit or 0))}"


def _latency(a: Assertion, o: CaseOutcome) -> tuple[bool, str]:
    return _at_most(o.total_ms, a.threshold, "took", _ms, "no end was timed")


def _ttft(a: Assertion, o: CaseOutcome) -> tuple[bool, str]:
    return _at_most(o.ttft_ms, a.threshold, "first token at", _ms, "no first token arrived")


def _cost(a: Assertion, o: CaseOutcome) -> tuple[bool, str]:
    unknown = "the cost is unknown (no price for this model)"
    return _at_most(o.cost_usd, a.threshold, "cost", lambda usd: f"${usd:.6f}", unknown)


def _tool_called(a: Assertion, o: CaseOutcome) -> tuple[bool, str]:
    if a.value in o.tools_called:
        return True, f"called {a.value}"
    called = ", ".join(o.tools_called) or "no tool"
    return False, f"did not call {a.value} (called {called})"


def _exit_path(a: Assertion, o: CaseOutcome) -> tuple[bool, str]:
    if o.exit_path == a.value:
        return True, f"left by exit path {a.value}"
    return False, f"left by {o.exit_path or 'no exit path'}, not {a.value}"


_CHECKS = {
    "contains": _contains,
    "icontains": _icontains,
    "not-contains": _not_contains,
    "regex": _regex,
    "is-json": _is_json,
    "contains-json": _contains_json,
    "json-schema": _json_schema,
    "equals": _equals,
    "similar": _similar,
    "latency": _latency,
    "ttft": _ttft,
    "cost": _cost,
    "tool-called": _tool_called,
    "exit-path": _exit_path,
}
