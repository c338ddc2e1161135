"""Eval runs and test sets kept per browser (``evals.history``) and their JSON records
(``evals.record``), on a real SQLite file in a temporary folder."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import replace
from pathlib import Path

import pytest

from playground.errors import ConfigError
from playground.evals.assertions import AssertionResult
from playground.evals.history import EvalHistory
from playground.evals.record import (
    EvalRecord,
    prompt_sha256,
    record_from_json,
    record_json,
    settings_of,
)
from playground.evals.request import EvalCase, EvalConfiguration
from playground.evals.results import CaseResult
from playground.notebook.store import new_owner_id
from playground.pricing.table import Cost
from playground.prompts.library import load_prompt_library
from playground.providers.base import Usage
from playground.turn.events import TimingSummary

PARIS = {"type": "icontains", "value": "paris"}
CASES = (
    EvalCase.model_validate({"message": "Capital of France?", "assert": [PARIS]}),
    EvalCase(message="Hi", variables={"name": "Ann"}, reference="Hello"),
)


def result(case: int, passed: bool, *, error: str | None = None) -> CaseResult:
    return CaseResult(
        case=case,
        configuration=0,
        repeat=0,
        text="Paris" if passed else "Lyon",
        passed=passed,
        assertions=(AssertionResult("icontains", passed, "why"),),
        finish_reason="stop",
        timing=TimingSummary(120.5, None, 3, 480.0, 5, 10.4, 20.0, ttfat_ms=120.5),
        usage=Usage(10, 2, 12),
        cost=Cost(0.0001, 0.00005, 0.00005, "2026-01-01"),
        error=error,
    )


def record(eval_id: str, created: float, *results: CaseResult) -> EvalRecord:
    return EvalRecord(
        eval_id=eval_id,
        cases=CASES,
        labels=("1. openai:gpt-4o-mini · support@1 · streamed",),
        results=results,
        runs=2,
        stopped=False,
        created=created,
    )


def test_a_record_reads_back_exactly_as_it_was_written() -> None:
    kept = record("eval_a", 1_800_000_000.0, result(0, True), result(1, False, error="boom"))
    assert record_from_json(record_json(kept)) == kept
    doc = json.loads(record_json(kept))
    assert doc["cases"][0]["assert"][0]["value"] == "paris"
    assert doc["summary"][0]["pass_rate"] == 0.5
    assert "2027-01-15 08:00:00 UTC" in kept.label and "50%" in kept.label
    with pytest.raises(ValueError, match="not an eval record"):
        record_from_json('{"format": "something else"}')
    with pytest.raises(ValueError, match="not an eval record"):
        record_from_json(json.dumps({**doc, "results": [{"case": 0}]}))


PROMPTS = Path(__file__).resolve().parent.parent / "prompts"


def test_a_record_keeps_each_configurations_settings_and_the_hash_of_its_prompt() -> None:
    library = load_prompt_library(PROMPTS)
    saved = EvalConfiguration(model="openai:gpt-4o-mini", prompt="support-agent@2", seed=7)
    latest = EvalConfiguration(prompt="support-agent")
    brief = {"id": "mine", "title": "Mine", "node": "prompt", "format": "v1", "system": "Brief."}
    draft = EvalConfiguration(prompt_draft=brief)
    other_draft = EvalConfiguration(prompt_draft={**brief, "system": "Long."})
    not_a_prompt = EvalConfiguration(prompt_draft={"id": "mine", "system": "Brief."})
    unknown = EvalConfiguration(prompt="support-agent@99")
    listed = (PROMPTS / "VERSIONS.sha256").read_text()
    saved_hash = prompt_sha256(library, saved)
    assert saved_hash is not None and f"{saved_hash}  support-agent/v2.yaml" in listed
    assert prompt_sha256(library, latest) == saved_hash  # v2 is the newest
    draft_hash = prompt_sha256(library, draft)
    assert draft_hash is not None and len(draft_hash) == 64 and draft_hash not in listed
    assert draft_hash != prompt_sha256(library, other_draft)
    assert prompt_sha256(library, unknown) is None  # the run itself says what is wrong
    assert prompt_sha256(library, not_a_prompt) is None
    assert settings_of(saved) == {
        "model": "openai:gpt-4o-mini",
        "prompt": "support-agent@2",
        "seed": 7,
    }

    kept = replace(
        record("eval_a", 1.0, result(0, True)),
        settings=(settings_of(saved),),
        prompt_hashes=(saved_hash,),
    )
    doc = json.loads(record_json(kept))
    assert doc["settings"] == [settings_of(saved)] and doc["prompt_sha256"] == [saved_hash]
    assert record_from_json(record_json(kept)) == kept
    # A record kept before settings and hashes were stored still reads.
    del doc["settings"], doc["prompt_sha256"]
    assert record_from_json(json.dumps(doc)).prompt_hashes == ()


def test_only_runs_of_the_same_cases_and_configurations_compare() -> None:
    a = record("eval_a", 1.0, result(0, True))
    assert a.same_test_set(record("eval_b", 2.0))
    assert not a.same_test_set(replace(a, cases=CASES[:1]))
    assert not a.same_test_set(replace(a, labels=("1. x", "2. y")))


def test_runs_are_kept_per_browser_newest_first_and_bounded(tmp_path: Path) -> None:
    history = EvalHistory(tmp_path / "nb.sqlite3", max_runs=3)
    me, other, now = new_owner_id(), new_owner_id(), time.time()
    for n in range(5):
        history.add(me, record(f"eval_{n}", now + n, result(0, n % 2 == 0)))
    history.add(other, record("eval_other", now, result(0, True)))
    assert [r.eval_id for r in history.runs(other)] == ["eval_other"]
    assert [r.eval_id for r in history.runs(me)] == ["eval_4", "eval_3", "eval_2"]
    # Expiry is per browser, as the notebook's: an old run of a browser still seen stays, a
    # browser whose newest run is past the expiry is forgotten.
    history.add(other, record("eval_old", now - 31 * 86_400, result(0, True)))
    assert [r.eval_id for r in history.runs(other)] == ["eval_other", "eval_old"]
    gone = new_owner_id()
    history.add(gone, record("eval_gone", now - 31 * 86_400, result(0, True)))
    history.add(me, record("eval_5", now + 5, result(0, True)))
    assert history.runs(gone) == []
    # A restart: a new store on the same file finds them.
    again = EvalHistory(tmp_path / "nb.sqlite3", max_runs=3)
    assert [r.eval_id for r in again.runs(me)] == ["eval_5", "eval_4", "eval_3"]
    with pytest.raises(ConfigError, match="owner id"):
        history.runs("short")


def test_a_run_too_big_to_keep_says_so_and_an_unreadable_one_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "nb.sqlite3"
    history = EvalHistory(path, max_record_bytes=2_000, max_total_bytes=10_000)
    me = new_owner_id()
    big = record("eval_big", 1.0, *(replace(result(0, True), text="x" * 3_000),))
    with pytest.raises(ConfigError, match="at most 2,000"):
        history.add(me, big)
    history.add(me, record("eval_ok", time.time(), result(0, True)))
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE eval_runs SET record = '{\"format\": 0}'")
    assert history.runs(me) == []


def test_the_test_set_is_kept_as_typed_for_the_browser(tmp_path: Path) -> None:
    history = EvalHistory(tmp_path / "nb.sqlite3")
    me = new_owner_id()
    assert history.load_set(me) is None
    rows = [["Hi", "name=Ann", "contains: hello", ""], ["half-typed", "", "regex: (", ""]]
    history.save_set(me, rows)
    assert history.load_set(me) == rows
    assert history.load_set(new_owner_id()) is None
    with pytest.raises(ConfigError, match="too big"):
        history.save_set(me, [["x" * 1_100_000, "", "", ""]])
    assert history.load_set(me) == rows  # a refused save loses nothing
