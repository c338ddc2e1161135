"""Test sets beside their prompt in the prompt folder: listed, read, saved (replacing the file
whole and keeping its providers), refused with a reason on a read-only store or a bad name."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from playground.errors import ConfigError
from playground.evals.assertions import Assertion
from playground.evals.files import read_promptfoo
from playground.evals.prompt_sets import read_saved_set, save_set, saved_sets
from playground.evals.request import EvalCase
from playground.prompts.store import PromptStore, ReadOnlyPromptsError

SHIPPED = Path(__file__).resolve().parents[1] / "prompts"
CASES = [
    EvalCase(
        message="Where is order A1001?",
        variables={"shop_name": "Larkspur"},
        assertions=(Assertion(type="contains", value="A1001"),),
    ),
    EvalCase(message="Say bye", reference="Goodbye!"),
]


@pytest.fixture
def store(tmp_path: Path) -> PromptStore:
    shutil.copytree(SHIPPED, tmp_path / "prompts")
    return PromptStore(tmp_path / "prompts")


def test_the_shipped_sets_are_listed_by_prompt_and_read_as_promptfoo_files(
    store: PromptStore,
) -> None:
    refs = [s.ref for s in saved_sets(store)]
    assert refs == ["json-extractor/contacts", "summariser/shapes", "support-agent/regressions"]
    found = read_saved_set(store, "support-agent/regressions")
    assert len(found.cases) >= 3 and found.unsupported == []
    assert found.configurations[0].prompt == "support-agent@2"


def test_a_saved_set_reads_back_as_written_in_promptfoos_shape(store: PromptStore) -> None:
    saved = save_set(store, "support-agent/smoke", CASES)
    assert saved.path == store.directory / "support-agent" / "tests" / "smoke.yaml"
    doc = yaml.safe_load(saved.path.read_text("utf-8"))
    assert doc["prompts"] == ["{{message}}"] and len(doc["tests"]) == 2
    assert read_saved_set(store, "support-agent/smoke").cases == CASES
    assert "support-agent/smoke" in [s.ref for s in saved_sets(store)]
    # Saved again under the same name: replaced whole, nothing left aside.
    save_set(store, "support-agent/smoke", CASES[:1])
    assert read_saved_set(store, "support-agent/smoke").cases == CASES[:1]
    assert [p.name for p in saved.path.parent.iterdir() if p.name.startswith(".")] == []


def test_saving_over_a_shipped_set_keeps_its_description_and_providers(
    store: PromptStore,
) -> None:
    before = read_saved_set(store, "support-agent/regressions")
    edited = [before.cases[0].model_copy(update={"message": "Where is order A1002?"})]
    save_set(store, "support-agent/regressions", edited)
    after = read_promptfoo(
        (store.directory / "support-agent/tests/regressions.yaml").read_text("utf-8")
    )
    assert after.cases == edited
    assert after.configurations == before.configurations
    assert after.description == before.description


@pytest.mark.parametrize(
    ("ref", "words"),
    [
        ("regressions", "write it as prompt/set"),
        ("no-such-prompt/x", "'no-such-prompt' is not a prompt here"),
        ("support-agent/Bad Name", "lower-case letters"),
        ("support-agent/../../etc", "lower-case letters"),
        ("support-agent/", "write it as prompt/set"),
    ],
)
def test_a_bad_name_is_refused_naming_the_rule(store: PromptStore, ref: str, words: str) -> None:
    with pytest.raises(ConfigError, match="name: ") as refused:
        save_set(store, ref, CASES)
    assert words in refused.value.message and refused.value.field == "name"
    with pytest.raises(ConfigError, match="name: "):
        read_saved_set(store, ref)


def test_a_read_only_store_lists_and_reads_but_saves_nothing(tmp_path: Path) -> None:
    shutil.copytree(SHIPPED, tmp_path / "prompts")
    store = PromptStore(tmp_path / "prompts", writable=False)
    assert len(saved_sets(store)) == 3
    with pytest.raises(ReadOnlyPromptsError, match="read-only"):
        save_set(store, "support-agent/smoke", CASES)
    assert not (tmp_path / "prompts/support-agent/tests/smoke.yaml").exists()


def test_a_removed_set_says_so(store: PromptStore) -> None:
    with pytest.raises(ConfigError, match="no such test set"):
        read_saved_set(store, "summariser/gone")
