"""Test sets in files: promptfoo YAML, CSV (promptfoo's columns) and JSONL, read and written.

Reading answers the cases and the configurations it found, and a list of what it could not use
("tests[2].assert[0]: llm-rubric is not supported here"), so nothing is dropped silently. The
case's message is the ``message`` variable, or the variable a prompt of exactly ``{{name}}``
names; every other variable stays a variable. A case's reference answer and history travel in
promptfoo's ``metadata``, which promptfoo keeps and ignores.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError

from playground.evals.assertions import ASSERTION_TYPES
from playground.evals.request import EvalCase, EvalConfiguration
from playground.evals.results import CaseResult

__all__ = [
    "TestSet",
    "parse_expected",
    "read_cases_csv",
    "read_jsonl",
    "read_promptfoo",
    "results_csv",
    "write_jsonl",
    "write_promptfoo",
]

_ONE_VARIABLE = re.compile(r"^\s*\{\{\s*([A-Za-z_][\w]*)\s*\}\}\s*$")
_CONFIG_FIELDS = ("temperature", "max_tokens", "seed", "top_p", "stop")


@dataclass
class TestSet:
    """What a file held that this playground can run, and what it could not use."""

    __test__ = False  # not a pytest class, whatever its name

    cases: list[EvalCase] = field(default_factory=list)
    configurations: list[EvalConfiguration] = field(default_factory=list)
    description: str | None = None
    unsupported: list[str] = field(default_factory=list)


def read_promptfoo(text: str) -> TestSet:
    """A promptfoo config (``prompts``, ``providers``, ``tests``, ``defaultTest``)."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"not YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError("a promptfoo file is a mapping with prompts, providers and tests")
    found = TestSet(description=_text(doc.get("description")))
    message_var = _message_variable(doc.get("prompts"), found.unsupported)
    for index, provider in enumerate(_listed(doc.get("providers"))):
        configuration = _configuration(provider, f"providers[{index}]", found.unsupported)
        if configuration is not None:
            found.configurations.append(configuration)
    default = doc.get("defaultTest") or {}
    if not isinstance(default, dict):
        found.unsupported.append("defaultTest: not a mapping (ignored)")
        default = {}
    for key in sorted(set(default) - {"vars", "assert"}):
        found.unsupported.append(f"defaultTest.{key} is not supported here (ignored)")
    for key in sorted(set(doc) - {"description", "prompts", "providers", "tests", "defaultTest"}):
        found.unsupported.append(f"{key} is not supported here (ignored)")
    for index, test in enumerate(_listed(doc.get("tests"))):
        where = f"tests[{index}]"
        if not isinstance(test, dict):
            found.unsupported.append(f"{where}: not a mapping (skipped)")
            continue
        merged = {
            **test,
            "vars": {**(default.get("vars") or {}), **(test.get("vars") or {})},
        }
        inherited = [("defaultTest", spec) for spec in default.get("assert") or []]
        case = _case(merged, message_var, where, found.unsupported, inherited)
        if case is not None:
            found.cases.append(case)
    return found


def write_promptfoo(
    cases: Sequence[EvalCase],
    configurations: Sequence[EvalConfiguration] = (),
    description: str | None = None,
) -> str:
    """A promptfoo config that runs ``cases`` (its prompt is ``{{message}}``)."""
    doc: dict[str, Any] = {}
    if description:
        doc["description"] = description
    doc["prompts"] = ["{{message}}"]
    if configurations:
        doc["providers"] = [_provider(c) for c in configurations]
    doc["tests"] = [_test(case) for case in cases]
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


def read_jsonl(text: str) -> TestSet:
    """One case per line, in this API's own shape (``message``, ``variables``, ``assert``...)."""
    found = TestSet()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            found.cases.append(EvalCase.model_validate(json.loads(line)))
        except (ValueError, ValidationError) as exc:
            found.unsupported.append(f"line {number}: {_first_problem(exc)} (skipped)")
    return found


def write_jsonl(cases: Sequence[EvalCase]) -> str:
    return "".join(
        json.dumps(c.model_dump(by_alias=True, exclude_defaults=True), ensure_ascii=False) + "\n"
        for c in cases
    )


def read_cases_csv(text: str) -> TestSet:
    """promptfoo's CSV: a column per variable (``message`` is the message), ``__expected``
    columns holding ``type: value`` assertions, ``__description`` and ``__reference``."""
    found = TestSet()
    rows = csv.DictReader(io.StringIO(text))
    if rows.fieldnames is None or "message" not in rows.fieldnames:
        raise ValueError("the CSV needs a header row with a message column")
    for number, row in enumerate(rows, start=2):
        where = f"row {number}"
        asserts = []
        for column, cell in row.items():
            if column and column.startswith("__expected") and cell:
                asserts.append(parse_expected(cell))
        variables = {k: v for k, v in row.items() if k and not k.startswith("__") and v}
        case = {
            "vars": variables,
            "assert": asserts,
            "description": row.get("__description") or None,
            "metadata": {"reference": row["__reference"]} if row.get("__reference") else {},
        }
        built = _case(case, "message", where, found.unsupported)
        if built is not None:
            found.cases.append(built)
    return found


# -- pieces -------------------------------------------------------------------------------------


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _message_variable(prompts: Any, unsupported: list[str]) -> str:
    for index, prompt in enumerate(_listed(prompts)):
        raw = prompt.get("raw") if isinstance(prompt, dict) else prompt
        match = _ONE_VARIABLE.match(raw) if isinstance(raw, str) else None
        if match is not None:
            return match.group(1)
        unsupported.append(
            f"prompts[{index}]: only a prompt of exactly {{{{variable}}}} maps to a message; "
            "the system text comes from the configuration's prompt (ignored)"
        )
    return "message"


def _configuration(provider: Any, where: str, unsupported: list[str]) -> EvalConfiguration | None:
    if isinstance(provider, str):
        provider = {"id": provider}
    if not isinstance(provider, dict) or not isinstance(provider.get("id"), str):
        unsupported.append(f"{where}: a provider needs an id (skipped)")
        return None
    model = provider["id"].removeprefix("openai:chat:").removeprefix("azure:chat:")
    if provider["id"].startswith("azure:chat:"):
        model = f"azure:{model}"
    elif provider["id"].startswith("openai:chat:"):
        model = f"openai:{model}"
    config = provider.get("config") or {}
    fields: dict[str, Any] = {"model": model}
    for key, value in config.items():
        if key in _CONFIG_FIELDS or key in {"streaming", "prompt", "node", "voice", "variables"}:
            fields[key] = value
        else:
            unsupported.append(f"{where}.config.{key} is not supported here (ignored)")
    try:
        return EvalConfiguration.model_validate(fields)
    except ValidationError as exc:
        unsupported.append(f"{where}: {_first_problem(exc)} (skipped)")
        return None


def _case(
    test: Mapping[str, Any],
    message_var: str,
    where: str,
    unsupported: list[str],
    inherited: Sequence[tuple[str, Any]] = (),
) -> EvalCase | None:
    """``inherited``: the ``defaultTest`` assertions, each with where it came from."""
    variables = {str(k): str(v) for k, v in (test.get("vars") or {}).items()}
    message = variables.pop(message_var, None)
    if not message:
        unsupported.append(f"{where}: no {message_var!r} variable to send as the message (skipped)")
        return None
    own = [(where, spec) for spec in test.get("assert") or []]
    asserts = []
    for (origin, spec), index in _numbered([*inherited, *own]):
        kind = spec.get("type") if isinstance(spec, dict) else None
        if kind not in ASSERTION_TYPES:
            unsupported.append(f"{origin}.assert[{index}]: {kind} is not supported here (dropped)")
            continue
        asserts.append({k: spec[k] for k in ("type", "value", "threshold") if k in spec})
    for key in sorted(set(test) - {"vars", "assert", "description", "metadata"}):
        unsupported.append(f"{where}.{key} is not supported here (ignored)")
    metadata = test.get("metadata") or {}
    try:
        return EvalCase.model_validate(
            {
                "message": message,
                "variables": variables,
                "assert": asserts,
                "description": test.get("description"),
                "reference": metadata.get("reference"),
                "history": metadata.get("history") or (),
            }
        )
    except ValidationError as exc:
        unsupported.append(f"{where}: {_first_problem(exc)} (skipped)")
        return None


def _numbered(
    specs: Sequence[tuple[str, Any]],
) -> list[tuple[tuple[str, Any], int]]:
    """Each assertion with its index in the list it came from (defaultTest's or the test's)."""
    seen: dict[str, int] = {}
    out = []
    for origin, spec in specs:
        out.append(((origin, spec), seen.get(origin, 0)))
        seen[origin] = seen.get(origin, 0) + 1
    return out


def _provider(configuration: EvalConfiguration) -> dict[str, Any]:
    fields = configuration.model_dump(exclude={"message"}, exclude_unset=True)
    model = fields.pop("model", None) or "local"
    return {"id": model, "config": fields} if fields else {"id": model}


def _test(case: EvalCase) -> dict[str, Any]:
    test: dict[str, Any] = {}
    if case.description:
        test["description"] = case.description
    test["vars"] = {"message": case.message, **case.variables}
    if case.assertions:
        test["assert"] = [a.model_dump(exclude_none=True) for a in case.assertions]
    metadata: dict[str, Any] = {}
    if case.reference is not None:
        metadata["reference"] = case.reference
    if case.history:
        metadata["history"] = [h.model_dump() for h in case.history]
    if metadata:
        test["metadata"] = metadata
    return test


def parse_expected(cell: str) -> dict[str, Any]:
    """promptfoo's ``__expected`` cell: ``type: value`` (``not-`` prefixes kept), else equals."""
    kind, sep, value = cell.partition(":")
    kind = kind.strip()
    if sep and (kind in ASSERTION_TYPES or re.fullmatch(r"[a-z][a-z-]*", kind)):
        value = value.strip()
        if kind in {"latency", "ttft", "cost"}:
            try:
                return {"type": kind, "threshold": float(value)}
            except ValueError:
                return {"type": kind, "value": value}
        if kind == "similar":
            text, _, threshold = value.rpartition("|")
            if text and _is_number(threshold):
                return {"type": kind, "value": text.strip(), "threshold": float(threshold)}
        if kind in {"is-json", "contains-json"}:
            return {"type": kind}
        return {"type": kind, "value": value}
    return {"type": "equals", "value": cell}


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _first_problem(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "(case)"
        return f"{where}: {first['msg']}"
    return str(exc)


_CSV_COLUMNS = (
    "case",
    "configuration",
    "repeat",
    "passed",
    "failed_assertions",
    "finish_reason",
    "ttft_ms",
    "ttfat_ms",
    "reasoning_ms",
    "ttfa_ms",
    "total_ms",
    "tokens_per_s",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "error",
    "text",
)


def results_csv(results: Sequence[CaseResult]) -> str:
    """One row per run, in case / configuration / repeat order; the failed assertions' reasons
    in one cell, so a spreadsheet filter on ``passed`` shows why."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(_CSV_COLUMNS)
    for r in sorted(results, key=lambda r: (r.case, r.configuration, r.repeat)):
        timing, usage = r.timing, r.usage
        writer.writerow(
            [
                r.case,
                r.configuration,
                r.repeat,
                r.passed,
                "; ".join(f"{a.type}: {a.reason}" for a in r.assertions if not a.passed),
                r.finish_reason,
                timing.ttft_ms if timing else "",
                timing.ttfat_ms if timing and timing.ttfat_ms is not None else "",
                timing.reasoning_ms if timing and timing.reasoning_ms is not None else "",
                timing.ttfa_ms if timing and timing.ttfa_ms is not None else "",
                timing.total_ms if timing else "",
                timing.tokens_per_s if timing and timing.tokens_per_s is not None else "",
                usage.prompt_tokens if usage else "",
                usage.completion_tokens if usage else "",
                r.cost.usd if r.cost else "",
                r.error or "",
                r.text,
            ]
        )
    return out.getvalue()
