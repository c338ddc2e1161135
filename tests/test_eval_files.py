"""Test sets in files: a realistic promptfoo config read (what is not supported listed), written
back and read again unchanged; CSV with promptfoo's __expected columns; JSONL."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from playground.evals.files import (
    read_cases_csv,
    read_jsonl,
    read_promptfoo,
    write_jsonl,
    write_promptfoo,
)
from playground.evals.request import EvalRequest
from playground.evals.run import EvalRun
from playground.turn.runner import TurnRunner
from tests.support import make_test_services

PROMPTFOO = """
description: Support agent regressions
prompts:
  - "{{question}}"
providers:
  - openai:gpt-4o-mini
  - id: openai:chat:gpt-4o
    config:
      temperature: 0
      max_tokens: 200
      response_format: json_object
defaultTest:
  vars:
    shop_name: Larkspur Outdoor
  assert:
    - type: latency
      threshold: 5000
  options:
    provider: openai:gpt-4o
tests:
  - description: order lookup
    vars:
      question: Where is my order A1001?
    assert:
      - type: icontains
        value: a1001
      - type: llm-rubric
        value: is polite
      - type: similar
        value: Your order A1001 ships on Monday.
        threshold: 0.6
  - vars:
      question: What is your returns policy?
      shop_name: Larkspur Outlet
    assert:
      - type: not-contains
        value: I don't know
    metadata:
      reference: Thirty days, unused, with the receipt.
  - vars:
      other: no question here
  - vars:
      question: Give me JSON
    assert:
      - type: json-schema
        value: {type: object, required: [order]}
    threshold: 0.5
scenarios: []
"""


def test_a_promptfoo_file_is_read_and_what_is_not_supported_is_listed() -> None:
    found = read_promptfoo(PROMPTFOO)
    assert found.description == "Support agent regressions"
    assert [c.message for c in found.cases] == [
        "Where is my order A1001?",
        "What is your returns policy?",
        "Give me JSON",
    ]
    first, second, third = found.cases
    assert first.description == "order lookup"
    assert first.variables == {"shop_name": "Larkspur Outdoor"}
    assert [a.type for a in first.assertions] == ["latency", "icontains", "similar"]
    assert first.assertions[2].threshold == 0.6
    assert second.variables == {"shop_name": "Larkspur Outlet"}
    assert second.reference == "Thirty days, unused, with the receipt."
    assert third.assertions[1].value == {"type": "object", "required": ["order"]}
    assert [c.model for c in found.configurations] == ["openai:gpt-4o-mini", "openai:gpt-4o"]
    assert found.configurations[1].temperature == 0
    assert found.configurations[1].max_tokens == 200
    assert found.unsupported == [
        "providers[1].config.response_format is not supported here (ignored)",
        "defaultTest.options is not supported here (ignored)",
        "scenarios is not supported here (ignored)",
        "tests[0].assert[1]: llm-rubric is not supported here (dropped)",
        "tests[2]: no 'question' variable to send as the message (skipped)",
        "tests[3].threshold is not supported here (ignored)",
    ]


def test_a_written_promptfoo_file_reads_back_the_same() -> None:
    found = read_promptfoo(PROMPTFOO)
    text = write_promptfoo(found.cases, found.configurations, found.description)
    doc = yaml.safe_load(text)
    assert doc["prompts"] == ["{{message}}"]
    assert doc["tests"][0]["vars"]["message"] == "Where is my order A1001?"
    assert doc["providers"][1] == {
        "id": "openai:gpt-4o",
        "config": {"temperature": 0.0, "max_tokens": 200},
    }
    again = read_promptfoo(text)
    assert again.unsupported == []
    assert again.cases == found.cases
    assert again.configurations == found.configurations
    assert again.description == found.description


def test_csv_takes_promptfoos_expected_columns() -> None:
    text = (
        "message,shop_name,__expected1,__expected2,__description\n"
        "Where is A1001?,Larkspur,icontains: a1001,latency: 3000,lookup\n"
        "Say hi,,Hello!,llm-rubric: friendly,greeting\n"
        ",Larkspur,contains: x,,empty\n"
    )
    found = read_cases_csv(text)
    assert [c.message for c in found.cases] == ["Where is A1001?", "Say hi"]
    lookup, greeting = found.cases
    assert lookup.variables == {"shop_name": "Larkspur"}
    assert [(a.type, a.value, a.threshold) for a in lookup.assertions] == [
        ("icontains", "a1001", None),
        ("latency", None, 3000.0),
    ]
    assert [(a.type, a.value) for a in greeting.assertions] == [("equals", "Hello!")]
    assert found.unsupported == [
        "row 3.assert[1]: llm-rubric is not supported here (dropped)",
        "row 4: no 'message' variable to send as the message (skipped)",
    ]


def test_jsonl_round_trips_and_reports_bad_lines() -> None:
    found = read_promptfoo(PROMPTFOO)
    text = write_jsonl(found.cases)
    assert len(text.splitlines()) == 3
    again = read_jsonl(text + '{"message": ""}\nnot json\n')
    assert again.cases == found.cases
    assert len(again.unsupported) == 2
    assert again.unsupported[0].startswith("line 4: message:")
    assert again.unsupported[1].startswith("line 5:")


SHIPPED = sorted(Path(__file__).resolve().parent.parent.glob("prompts/*/tests/*.yaml"))


def test_the_shipped_test_sets_are_found() -> None:
    assert {p.parent.parent.name for p in SHIPPED} == {
        "support-agent",
        "summariser",
        "json-extractor",
    }


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.parent.parent.name)
def test_a_shipped_test_set_reads_whole_and_every_case_can_run(path: Path) -> None:
    found = read_promptfoo(path.read_text(encoding="utf-8"))
    assert found.unsupported == [] and len(found.cases) >= 3
    [configuration] = found.configurations
    assert configuration.prompt is not None
    assert configuration.prompt.startswith(path.parent.parent.name + "@")
    services = make_test_services(openai_api_key="test-key")
    request = EvalRequest(cases=tuple(found.cases), configurations=(configuration,))
    # Every case prepared against its prompt: variables, model, node and sizes all accepted.
    EvalRun(request, TurnRunner(services), services.server_credentials).check()
    assert all(case.assertions for case in found.cases)
