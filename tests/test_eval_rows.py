"""The Evals tab's table and the cases it holds, each way: nothing a case says is lost on the way
through the table (values holding the separator, spaces at either end, JSON schemas)."""

from __future__ import annotations

from pathlib import Path

import pytest

from playground.errors import ConfigError
from playground.evals.files import read_promptfoo
from playground.evals.request import EvalCase
from playground.ui.eval_rows import cases_from_rows, rows_from_cases

PROMPTS = Path(__file__).resolve().parent.parent / "prompts"
AWKWARD = EvalCase.model_validate(
    {
        "message": "Summarise this",
        "variables": {"audience": "ops; then execs", "tone": " dry", "plain": "yes"},
        "assert": [
            {"type": "json-schema", "value": {"type": "object", "required": ["a"]}},
            {"type": "contains", "value": "a; b"},
            {"type": "regex", "value": "(?m)^TL;DR: "},
            {"type": "similar", "value": "hi; there", "threshold": 0.5},
            {"type": "equals", "value": '"quoted"'},
            {"type": "latency", "threshold": 100},
            {"type": "is-json"},
        ],
        "reference": "A short summary.",
    }
)


@pytest.mark.parametrize("path", sorted(PROMPTS.glob("*/tests/*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_set_goes_through_the_table_unchanged(path: Path) -> None:
    cases = read_promptfoo(path.read_text("utf-8")).cases
    assert cases and cases_from_rows(rows_from_cases(cases)) == cases


def test_awkward_values_are_written_as_json_and_read_back() -> None:
    [row] = rows_from_cases([AWKWARD])
    assert 'audience="ops; then execs"' in row[1] and "plain=yes" in row[1]
    assert 'regex: "(?m)^TL;DR: "' in row[2] and 'json-schema: {"type": "object"' in row[2]
    assert cases_from_rows([row]) == [AWKWARD]


def test_values_typed_by_hand_read_as_typed() -> None:
    [case] = cases_from_rows([["m", "a=1;b=2", 'regex: [0-9]+; contains: 5"; icontains: x', ""]])
    assert case.variables == {"a": "1", "b": "2"}
    assert [(a.type, a.value) for a in case.assertions] == [
        ("regex", "[0-9]+"),
        ("contains", '5"'),
        ("icontains", "x"),
    ]


def test_a_bad_cell_names_its_row() -> None:
    with pytest.raises(ConfigError, match="row 2: variables: 'oops' is not name=value"):
        cases_from_rows([["fine", "", "", ""], ["m", "oops", "", ""]])
    with pytest.raises(ConfigError, match="the test set is empty"):
        cases_from_rows([["", "", "", ""]])
