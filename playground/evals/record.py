"""One finished (or stopped) eval of the page, as kept for its browser and exported as JSON: the
cases it ran, its configurations (their labels, their settings and the hash of each one's
prompt, so a later reader knows exactly what ran), when it ran, and every run's result.

``record_json`` and ``record_from_json`` are exact inverses, so an earlier run read back from the
store compares like the one on screen. A record that does not read (another version wrote it)
raises ``ValueError``; its reader decides what to do (the history skips it).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from playground.errors import ConfigError
from playground.evals.assertions import AssertionResult
from playground.evals.request import EvalCase, EvalConfiguration
from playground.evals.results import CaseResult, summarise_results
from playground.pricing.table import Cost
from playground.prompts.library import PromptLibrary
from playground.prompts.store import parse_document
from playground.providers.base import Usage
from playground.turn.events import TimingSummary

__all__ = [
    "EvalRecord",
    "prompt_sha256",
    "record_from_json",
    "record_json",
    "settings_of",
    "what_changed",
]

_FORMAT = "streaming-playground.eval/1"


@dataclass(frozen=True, slots=True)
class EvalRecord:
    eval_id: str
    cases: tuple[EvalCase, ...]
    labels: tuple[str, ...]  # one per configuration, as the page showed them
    results: tuple[CaseResult, ...]
    runs: int  # planned: cases × configurations × repeat
    stopped: bool
    created: float = field(default_factory=time.time)  # epoch seconds
    # One per configuration (empty in records kept before they were stored): the settings as
    # ``settings_of`` gives them, and the sha256 of the prompt each ran (None: not resolvable).
    settings: tuple[dict[str, Any], ...] = ()
    prompt_hashes: tuple[str | None, ...] = ()

    def same_test_set(self, other: EvalRecord) -> bool:
        """Whether ``compare_evals`` can put the two side by side: the same cases, the same
        number of configurations."""
        return self.cases == other.cases and len(self.labels) == len(other.labels)

    def configurations(self) -> tuple[EvalConfiguration, ...]:
        """The configurations as their recorded settings give them back; empty when a record
        kept before settings were stored (or by another version) does not give them all."""
        if len(self.settings) != len(self.labels):
            return ()
        try:
            return tuple(EvalConfiguration.model_validate(s) for s in self.settings)
        except ValueError:  # pydantic's ValidationError: settings another version wrote
            return ()

    @property
    def label(self) -> str:
        """How a picker names it: when, against what, and how it went."""
        when = datetime.fromtimestamp(self.created, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        summary = summarise_results(self.results, len(self.labels))
        rates = ", ".join(
            f"{label} {'—' if s.pass_rate is None else f'{s.pass_rate * 100:.0f}%'}"
            for label, s in zip(self.labels, summary, strict=True)
        )
        return f"{when} · {rates}" + (" · stopped" if self.stopped else "")


def settings_of(configuration: EvalConfiguration) -> dict[str, Any]:
    """A configuration's settings as JSON, without what it left at its default (no secrets: a
    configuration carries none)."""
    return configuration.model_dump(mode="json", exclude_defaults=True)


def prompt_sha256(library: PromptLibrary, configuration: EvalConfiguration) -> str | None:
    """The sha256 of the prompt the configuration runs: its saved file's, as ``VERSIONS.sha256``
    lists it, or its draft's content hash. None when it does not resolve (the run says why)."""
    try:
        if configuration.prompt_draft is not None:
            return (
                parse_document(configuration.prompt_draft, field="prompt_draft")
                .as_draft()
                .draft_sha256
            )
        prompt = library.resolve(configuration.prompt, configuration.node)
    except ConfigError:  # an unknown prompt or version, a draft that is not a prompt file
        return None
    return library.sha256.get(prompt.ref)


def what_changed(before: EvalRecord, after: EvalRecord) -> tuple[str, ...]:
    """How what ran differs between two runs of the same cases, one line per difference and
    configuration: a setting's old and new value, a prompt whose text changed (its hash), or
    that the earlier run did not record it. Empty when everything recorded is the same."""
    lines: list[str] = []
    for index in range(len(after.labels)):
        name = f"configuration {index + 1}"
        old_settings = before.settings[index] if index < len(before.settings) else None
        new_settings = after.settings[index] if index < len(after.settings) else None
        if old_settings is None or new_settings is None:
            lines.append(f"{name}: the earlier run did not record its settings")
        else:
            for key in sorted(set(old_settings) | set(new_settings)):
                if key == "prompt_draft":
                    continue  # a draft is compared by its hash below, not dumped here
                old, new = old_settings.get(key), new_settings.get(key)
                if old != new:
                    lines.append(f"{name}: {key} {_shown(old)} → {_shown(new)}")
        old_hash = before.prompt_hashes[index] if index < len(before.prompt_hashes) else None
        new_hash = after.prompt_hashes[index] if index < len(after.prompt_hashes) else None
        if old_hash is None or new_hash is None:
            if old_hash != new_hash:
                lines.append(f"{name}: the prompt's hash is known for only one of the two runs")
        elif old_hash != new_hash:
            lines.append(
                f"{name}: the prompt's text changed (sha256 {old_hash[:8]} → {new_hash[:8]})"
            )
    return tuple(lines)


def _shown(value: object) -> str:
    if value is None:
        return "(default)"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:59] + "…"


def record_json(record: EvalRecord) -> str:
    """The record as JSON: the cases in the API's shape, each result in full."""
    return json.dumps(
        {
            "format": _FORMAT,
            "eval_id": record.eval_id,
            "created": record.created,
            "runs": record.runs,
            "stopped": record.stopped,
            "configurations": list(record.labels),
            "settings": list(record.settings),
            "prompt_sha256": list(record.prompt_hashes),
            "cases": [c.model_dump(mode="json", by_alias=True) for c in record.cases],
            "results": [asdict(r) for r in record.results],
            "summary": [asdict(s) for s in summarise_results(record.results, len(record.labels))],
        },
        ensure_ascii=False,
    )


def record_from_json(text: str) -> EvalRecord:
    """The record ``record_json`` wrote; ``ValueError`` for anything else."""
    try:
        doc = json.loads(text)
        if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
            raise ValueError("not an eval record")
        return EvalRecord(
            eval_id=str(doc["eval_id"]),
            cases=tuple(EvalCase.model_validate(c) for c in doc["cases"]),
            labels=tuple(str(label) for label in doc["configurations"]),
            results=tuple(_result(r) for r in doc["results"]),
            runs=int(doc["runs"]),
            stopped=bool(doc["stopped"]),
            created=float(doc["created"]),
            settings=tuple(dict(_mapping(s)) for s in _list(doc.get("settings", []))),
            prompt_hashes=tuple(
                None if h is None else str(h) for h in _list(doc.get("prompt_sha256", []))
            ),
        )
    except (KeyError, TypeError, AttributeError) as exc:  # pydantic's errors are ValueErrors
        raise ValueError(f"not an eval record: {exc}") from None


def _result(data: Mapping[str, Any]) -> CaseResult:
    return CaseResult(
        case=int(data["case"]),
        configuration=int(data["configuration"]),
        repeat=int(data["repeat"]),
        text=str(data["text"]),
        passed=bool(data["passed"]),
        assertions=tuple(AssertionResult(**a) for a in _list(data["assertions"])),
        finish_reason=str(data["finish_reason"]),
        timing=TimingSummary(**data["timing"]) if data["timing"] is not None else None,
        usage=Usage(**data["usage"]) if data["usage"] is not None else None,
        cost=Cost(**data["cost"]) if data["cost"] is not None else None,
        error=data["error"],
    )


def _mapping(value: object) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise TypeError("expected an object")
    return value


def _list(value: object) -> Sequence[Any]:
    if not isinstance(value, list):
        raise TypeError("expected a list")
    return value
