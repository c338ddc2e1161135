"""Evals: every assertion type on known outcomes, and POST /v1/evals streaming real turns through
the openai SDK against the loopback fake (results, percentiles, cancellation, 422s)."""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from playground.evals.assertions import ASSERTION_TYPES, Assertion, CaseOutcome, check
from playground.server import build_app
from playground.turn.similarity import summarise
from tests.fakes.openai_server import FakeOpenAI, Reply, ToolCallSpec
from tests.support import (
    SSEEvent,
    live_server,
    make_test_services,
    parse_sse_lines,
    wait_until,
)

# -- assertions ---------------------------------------------------------------------------------

ANSWER = 'Your order A1001 ships Monday. {"order": "A1001", "items": 2}'
OUTCOME = CaseOutcome(
    text=ANSWER,
    total_ms=900.0,
    ttft_ms=120.0,
    cost_usd=0.0004,
    tools_called=("order_status",),
    exit_path="order_resolved",
)
SCHEMA = {"type": "object", "required": ["order"], "properties": {"items": {"type": "integer"}}}

# (assertion, passes on OUTCOME, words its reason must hold)
CASES: list[tuple[dict[str, Any], bool, str]] = [
    ({"type": "contains", "value": "A1001"}, True, "contains 'A1001'"),
    ({"type": "contains", "value": "a1001"}, False, "does not contain"),
    ({"type": "icontains", "value": "a1001"}, True, "any case"),
    ({"type": "icontains", "value": "refund"}, False, "does not contain 'refund'"),
    ({"type": "not-contains", "value": "refund"}, True, "does not contain"),
    ({"type": "not-contains", "value": "Monday"}, False, "contains 'Monday'"),
    ({"type": "regex", "value": r"A\d{4}"}, True, "matched 'A1001'"),
    ({"type": "regex", "value": r"B\d{4}"}, False, "no match"),
    ({"type": "is-json"}, False, "not JSON"),
    ({"type": "contains-json"}, True, "JSON"),
    ({"type": "json-schema", "value": SCHEMA}, True, "matches the schema"),
    (
        {"type": "json-schema", "value": {**SCHEMA, "required": ["order", "email"]}},
        False,
        "'email' is a required property",
    ),
    ({"type": "equals", "value": ANSWER + "  "}, True, "equals"),
    ({"type": "equals", "value": "Your order ships."}, False, "differs"),
    ({"type": "similar", "value": ANSWER.replace("Monday", "Tuesday")}, True, "≥ 0.75"),
    ({"type": "similar", "value": "Nothing alike at all", "threshold": 0.5}, False, "< 0.50"),
    ({"type": "latency", "threshold": 1000}, True, "took 900 ms, within 1,000 ms"),
    ({"type": "latency", "threshold": 500}, False, "over 500 ms"),
    ({"type": "ttft", "threshold": 200}, True, "first token at 120 ms"),
    ({"type": "ttft", "threshold": 100}, False, "over 100 ms"),
    ({"type": "cost", "threshold": 0.001}, True, "within"),
    ({"type": "cost", "threshold": 0.0001}, False, "over"),
    ({"type": "tool-called", "value": "order_status"}, True, "called order_status"),
    ({"type": "tool-called", "value": "kb_search"}, False, "called order_status)"),
    ({"type": "exit-path", "value": "order_resolved"}, True, "order_resolved"),
    ({"type": "exit-path", "value": "handoff_to_human"}, False, "not handoff_to_human"),
]


@pytest.mark.parametrize(("spec", "passes", "reason"), CASES)
def test_each_assertion_passes_or_fails_with_a_reason(
    spec: dict[str, Any], passes: bool, reason: str
) -> None:
    result = check(Assertion.model_validate(spec), OUTCOME)
    assert (result.type, result.passed) == (spec["type"], passes)
    assert reason in result.reason


def test_every_assertion_type_is_covered_both_ways() -> None:
    seen = {(spec["type"], passes) for spec, passes, _ in CASES}
    both = {t for t in ASSERTION_TYPES if (t, True) in seen and (t, False) in seen}
    # is-json and contains-json fail or pass on other answers: checked below.
    assert set(ASSERTION_TYPES) - both == {"is-json", "contains-json"}


def test_json_assertions_on_other_answers() -> None:
    whole = CaseOutcome(text=' {"a": [1, 2]}\n', total_ms=1)
    assert check(Assertion(type="is-json"), whole).passed
    none = CaseOutcome(text="No braces here", total_ms=1)
    assert not check(Assertion(type="contains-json"), none).passed
    assert "no JSON" in check(Assertion(type="json-schema", value=SCHEMA), none).reason


def test_unknown_cost_and_missing_first_token_fail_rather_than_pass() -> None:
    unknown = CaseOutcome(text="", total_ms=5, ttft_ms=None, cost_usd=None)
    assert check(Assertion(type="cost", threshold=1), unknown).reason.startswith("the cost is")
    assert not check(Assertion(type="ttft", threshold=1e9), unknown).passed


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "llm-rubric", "value": "x"}, "unknown assertion type 'llm-rubric'"),
        ({"type": "regex", "value": "(unclosed"}, "does not compile"),
        ({"type": "json-schema", "value": {"type": "nonsense"}}, "is not a schema"),
        ({"type": "contains"}, "contains needs a value"),
        ({"type": "latency"}, "latency needs a threshold"),
        ({"type": "similar", "value": "x", "threshold": 2}, "between 0 and 1"),
    ],
)
def test_bad_assertions_are_refused_naming_the_problem(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(")):
        Assertion.model_validate(spec)


# -- the HTTP API -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def api(fake: FakeOpenAI) -> Iterator[str]:
    services = make_test_services(
        openai_api_key="test-key",
        openai_base_url=fake.base_url,
        playground_upstream_timeout_s=5.0,
        playground_resume_grace_s=0,
        playground_max_concurrent_turns=3,
    )
    with live_server(build_app(services, warm_up=False)) as url:
        yield url


def run_eval(api: str, body: dict[str, Any]) -> tuple[httpx.Response, list[SSEEvent]]:
    with (
        httpx.Client(timeout=60) as client,
        client.stream("POST", f"{api}/v1/evals", json=body) as response,
    ):
        if response.status_code != 200:
            response.read()
            return response, []
        return response, list(parse_sse_lines(response.iter_lines()))


MINI = {"model": "openai:gpt-4o-mini"}
GREETER = {"title": "Greeter", "node": "prompt", "format": "v2"}  # a draft, with its system


def test_an_eval_streams_a_result_per_case_and_configuration_then_a_summary(
    api: str, fake: FakeOpenAI
) -> None:
    fake.replies_for.update(
        {
            "capital of France": Reply(chunks=["Paris", " is the capital."]),
            "two plus two": Reply(chunks=["It is", " five."]),
            "Say hello": Reply(chunks=["Hello", " there!"]),
        }
    )
    body = {
        "cases": [
            {
                "message": "What is the capital of France?",
                "assert": [{"type": "contains", "value": "Paris"}],
            },
            {
                "message": "What is two plus two?",
                "assert": [{"type": "regex", "value": r"\b4\b|four"}],
            },
            {
                "message": "Say hello",
                "assert": [
                    {"type": "icontains", "value": "hello"},
                    {"type": "latency", "threshold": 30000},
                ],
            },
        ],
        "configurations": [MINI, {**MINI, "streaming": False, "temperature": 0}],
    }
    response, events = run_eval(api, body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    names = [e.event for e in events]
    assert names[0] == "eval-start" and names[-2:] == ["eval-end", "end"]
    assert names.count("case-result") == 6
    start = events[0].data
    assert {k: start[k] for k in ("cases", "configurations", "repeat", "runs")} == {
        "cases": 3,
        "configurations": 2,
        "repeat": 1,
        "runs": 6,
    }
    results = {(e.data["case"], e.data["configuration"]): e.data for e in events[1:-2]}
    assert set(results) == {(c, k) for c in range(3) for k in range(2)}
    for configuration in (0, 1):
        assert results[0, configuration]["passed"] is True
        assert results[0, configuration]["text"] == "Paris is the capital."
        wrong = results[1, configuration]
        assert wrong["passed"] is False
        assert wrong["assertions"] == [
            {"type": "regex", "passed": False, "reason": r"no match for /\b4\b|four/"}
        ]
        assert [a["passed"] for a in results[2, configuration]["assertions"]] == [True, True]
    assert results[0, 0]["timing"]["chunks"] == 2 and results[0, 1]["timing"]["chunks"] == 1
    assert results[0, 0]["cost"]["usd"] > 0 and results[0, 0]["usage"]["completion_tokens"] == 5
    summary = events[-2].data["summary"]
    assert [s["pass_rate"] for s in summary] == [pytest.approx(2 / 3)] * 2
    assert [s["runs"] for s in summary] == [3, 3]
    assert all(s["cost_usd"] > 0 and s["total_ms"]["p95"] >= s["total_ms"]["p50"] for s in summary)
    assert events[-2].data["stopped"] is False

    stored = httpx.get(f"{api}/v1/evals/{start['eval_id']}").json()
    assert stored["status"] == "finished" and len(stored["results"]) == 6
    assert stored["summary"] == summary
    assert stored["configurations"][1] == {**MINI, "streaming": False, "temperature": 0}


def test_percentiles_are_those_of_the_runs_on_a_scripted_pacing(api: str, fake: FakeOpenAI) -> None:
    delays = {f"case {i}": 0.05 * i for i in range(1, 6)}
    fake.replies_for.update(
        {key: Reply(chunks=["ok"], first_delay=delay) for key, delay in delays.items()}
    )
    messages = list(delays)
    body = {"cases": [{"message": m} for m in messages], "configurations": [MINI], "repeat": 2}
    _, events = run_eval(api, body)
    results = [e.data for e in events if e.event == "case-result"]
    assert len(results) == 10 and {r["repeat"] for r in results} == {0, 1}
    for result in results:
        scripted_ms = 1000 * delays[messages[result["case"]]]
        assert result["timing"]["ttft_ms"] >= scripted_ms
    ttfts = [r["timing"]["ttft_ms"] for r in results]
    expected = summarise(ttfts)
    [summary] = events[-2].data["summary"]
    assert summary["ttft_ms"] == {
        "p50": pytest.approx(expected.p50, abs=0.001),
        "p95": pytest.approx(expected.p95, abs=0.001),
    }
    assert summary["pass_rate"] == 1.0
    # Ten runs at five pacings: the spread of the pacing shows in the percentiles.
    assert summary["ttft_ms"]["p95"] - summary["ttft_ms"]["p50"] >= 50


def test_tool_and_exit_path_assertions_read_the_agent_run(api: str, fake: FakeOpenAI) -> None:
    fake.enqueue(
        Reply(chunks=[], tool_calls=[ToolCallSpec("order_status", '{"order_number": "A1001"}')]),
        Reply(
            chunks=[],
            tool_calls=[
                ToolCallSpec(
                    "exit_path",
                    '{"path": "order_resolved", "fields": '
                    '{"order_number": "A1001", "email": "ann@example.com"}}',
                )
            ],
        ),
    )
    body = {
        "cases": [
            {
                "message": "Where is order A1001? I am ann@example.com",
                "assert": [
                    {"type": "tool-called", "value": "order_status"},
                    {"type": "tool-called", "value": "kb_search"},
                    {"type": "exit-path", "value": "order_resolved"},
                ],
            }
        ],
        "configurations": [{**MINI, "prompt": "support-agent@2", "node": "agent"}],
    }
    _, events = run_eval(api, body)
    [result] = [e.data for e in events if e.event == "case-result"]
    assert [a["passed"] for a in result["assertions"]] == [True, False, True], result
    assert result["passed"] is False


def test_an_eval_keeps_to_the_clients_concurrent_turn_limit(api: str, fake: FakeOpenAI) -> None:
    # The server allows 3 turns at once per client; the eval asks for 8 at once.
    # The first answers are held mid-stream until three are open, and a while longer (the
    # refused ones retry every second), so a fourth would show if the limit did not hold.
    held = threading.Event()
    fake.replies_for["limit"] = Reply(chunks=["ok", "."], gate=held, gate_after=1)
    fake.most_open_chats = 0

    def release_when_three_are_open() -> None:
        wait_until(lambda: fake.open_chats >= 3, 20)
        time.sleep(2.5)
        held.set()

    releaser = threading.Thread(target=release_when_three_are_open, daemon=True)
    releaser.start()
    body = {
        "cases": [{"message": f"limit {i}"} for i in range(8)],
        "configurations": [MINI],
        "concurrency": 8,
    }
    try:
        _, events = run_eval(api, body)
    finally:
        held.set()
    assert events[-2].data["summary"][0]["runs"] == 8
    assert events[-2].data["summary"][0]["pass_rate"] == 1.0
    assert fake.most_open_chats == 3


def test_a_case_continues_the_configurations_history_then_its_own(
    api: str, fake: FakeOpenAI
) -> None:
    fake.replies_for["third"] = Reply(chunks=["Third."])
    opening = [{"role": "user", "content": "first"}, {"role": "assistant", "content": "One."}]
    own = [{"role": "user", "content": "second"}, {"role": "assistant", "content": "Two."}]
    body = {
        "cases": [{"message": "and the third", "history": own}],
        "configurations": [{**MINI, "history": opening}],
    }
    _, events = run_eval(api, body)
    assert events[1].data["passed"] is True
    sent = fake.chat_requests[-1].body["messages"]
    assert [m["content"] for m in sent[1:]] == ["first", "One.", "second", "Two.", "and the third"]


def test_each_case_brings_the_values_of_the_prompts_variables(api: str, fake: FakeOpenAI) -> None:
    # No value in the configuration: each case gives its own, and each is sent with its own.
    draft = {**GREETER, "system": "Greet {{customer}} of {{shop}}."}
    body = {
        "cases": [
            {"message": "hello there", "variables": {"customer": "Ann"}},
            {"message": "hello again", "variables": {"customer": "Bo", "shop": "Elm"}},
        ],
        "configurations": [{**MINI, "prompt_draft": draft, "variables": {"shop": "Oak"}}],
    }
    _, events = run_eval(api, body)
    assert [e.event for e in events].count("case-result") == 2
    systems = sorted(r.body["messages"][0]["content"] for r in fake.chat_requests[-2:])
    assert systems == ["Greet Ann of Oak.", "Greet Bo of Elm."]


def test_a_failing_turn_fails_its_case_and_the_eval_goes_on(api: str, fake: FakeOpenAI) -> None:
    fake.replies_for.update(
        {
            "breaks": Reply(fault="status", status=400),
            "works": Reply(chunks=["Fine."]),
        }
    )
    body = {
        "cases": [{"message": "this breaks"}, {"message": "this works"}],
        "configurations": [MINI],
    }
    _, events = run_eval(api, body)
    results = {e.data["case"]: e.data for e in events if e.event == "case-result"}
    assert results[0]["passed"] is False and results[0]["finish_reason"] == "error"
    assert "400" in results[0]["error"]
    assert results[1]["passed"] is True
    assert events[-2].data["summary"][0]["pass_rate"] == 0.5


def test_a_client_that_leaves_stops_the_eval_and_keeps_what_finished(
    api: str, fake: FakeOpenAI
) -> None:
    held = threading.Event()
    fake.replies_for.update(
        {
            "quick": Reply(chunks=["Done."]),
            "slow": Reply(chunks=["Wait", "ing"], gate=held, gate_after=1),
        }
    )
    body = {
        "cases": [{"message": "quick one"}, {"message": "slow one"}],
        "configurations": [MINI],
        "concurrency": 1,
    }
    eval_id = ""
    asked = len(fake.chat_requests)
    try:
        with (
            httpx.Client(timeout=30) as client,
            client.stream("POST", f"{api}/v1/evals", json=body) as response,
        ):
            for event in parse_sse_lines(response.iter_lines()):
                if event.event == "eval-start":
                    eval_id = event.data["eval_id"]
                if event.event == "case-result":
                    assert event.data["text"] == "Done."
                    # Once the slow case's request reached the fake it is held mid-answer: leave.
                    assert wait_until(lambda: len(fake.chat_requests) >= asked + 2, 20)
                    break
        assert fake.wait_for_disconnect(timeout=20), "the held turn's upstream stayed open"
    finally:
        held.set()
    stored = _wait_for_status(api, eval_id, "stopped")
    assert [r["text"] for r in stored["results"]] == ["Done."]
    assert stored["summary"][0]["runs"] == 1


def test_cancel_stops_a_running_eval_whose_stream_then_ends(api: str, fake: FakeOpenAI) -> None:
    held = threading.Event()
    fake.replies_for.update(
        {
            "first": Reply(chunks=["One."]),
            "second": Reply(chunks=["Tw", "o."], gate=held, gate_after=1),
        }
    )
    body = {
        "cases": [{"message": "first"}, {"message": "second"}, {"message": "first again"}],
        "configurations": [MINI],
        "concurrency": 1,
    }
    names = []
    asked = len(fake.chat_requests)
    try:
        with (
            httpx.Client(timeout=30) as client,
            client.stream("POST", f"{api}/v1/evals", json=body) as response,
        ):
            eval_id = ""
            for event in parse_sse_lines(response.iter_lines()):
                names.append(event.event)
                if event.event == "eval-start":
                    eval_id = event.data["eval_id"]
                elif event.event == "case-result":
                    # One run at a time: once the second case's request reached the fake, it is
                    # held mid-answer. Cancel it then.
                    assert wait_until(lambda: len(fake.chat_requests) >= asked + 2, 20)
                    answer = client.post(f"{api}/v1/evals/{eval_id}/cancel").json()
                    assert answer == {"eval_id": eval_id, "status": "stopping"}
                elif event.event == "eval-end":
                    assert event.data["stopped"] is True and event.data["finished"] == 1
        assert fake.wait_for_disconnect(timeout=20)
    finally:
        held.set()
    assert names == ["eval-start", "case-result", "eval-end", "end"]
    done = httpx.post(f"{api}/v1/evals/{eval_id}/cancel").json()
    assert done == {"eval_id": eval_id, "status": "finished"}


def test_a_client_runs_at_most_two_evals_at_once(api: str, fake: FakeOpenAI) -> None:
    held = threading.Event()
    fake.replies_for["hold"] = Reply(chunks=["a", "b"], gate=held, gate_after=1)
    body = {"cases": [{"message": "hold on"}], "configurations": [MINI]}
    asked = len(fake.chat_requests)
    with httpx.Client(timeout=30) as client:
        try:
            streams = [client.stream("POST", f"{api}/v1/evals", json=body) for _ in range(2)]
            responses = [s.__enter__() for s in streams]
            assert [r.status_code for r in responses] == [200, 200]
            assert wait_until(lambda: len(fake.chat_requests) >= asked + 2, 20)
            third = client.post(f"{api}/v1/evals", json=body)
            assert third.status_code == 429 and third.headers["Retry-After"] == "5"
            assert "2 evals of yours are running" in third.json()["error"]["message"]
        finally:
            held.set()
            for response in responses:
                response.read()
            for stream in streams:
                stream.__exit__(None, None, None)
        # Ended, they no longer count.
        again = client.post(f"{api}/v1/evals", json=body)
        assert again.status_code == 200


def _wait_for_status(api: str, eval_id: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        stored: dict[str, Any] = httpx.get(f"{api}/v1/evals/{eval_id}").json()
        if stored["status"] == status or time.monotonic() > deadline:
            assert stored["status"] == status
            return stored
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"cases": [], "configurations": [MINI]}, "cases", "at least 1"),
        ({"cases": [{"message": "x"}], "configurations": []}, "configurations", "at least 1"),
        (
            {
                "cases": [{"message": "x", "assert": [{"type": "llm-rubric", "value": "y"}]}],
                "configurations": [MINI],
            },
            "cases.0.assert.0.type",
            "'llm-rubric'",
        ),
        (
            {
                "cases": [{"message": "x", "assert": [{"type": "regex", "value": "("}]}],
                "configurations": [MINI],
            },
            "cases.0.assert.0",
            "does not compile",
        ),
        (
            {"cases": [{"message": "x"}], "configurations": [{**MINI, "message": "y"}]},
            "configurations.0",
            "takes no message",
        ),
        (
            {"cases": [{"message": "x"}], "configurations": [{"model": "openai:no-such-model"}]},
            "configurations.0.model",
            "no-such-model",
        ),
        (
            {"cases": [{"message": "x"}], "configurations": [{**MINI, "temperature": 3}]},
            "configurations.0.temperature",
            "less than or equal to 2",
        ),
        (
            {
                "cases": [{"message": "x", "variables": {"customer": "Ann"}}, {"message": "y"}],
                "configurations": [
                    {**MINI, "prompt_draft": {**GREETER, "system": "Greet {{customer}}."}}
                ],
            },
            "cases.1.variables.customer",
            "variables: customer has no value",
        ),
        (
            {"cases": [{"message": "x"}], "configurations": [MINI], "repeat": 11},
            "repeat",
            "less than or equal to 10",
        ),
        (
            {"cases": [{"message": "x"}], "configurations": [MINI] * 5},
            "configurations",
            "at most 4",
        ),
        (
            {"cases": [{"message": "x"}], "configurations": [MINI], "extra": 1},
            "extra",
            "unknown field",
        ),
    ],
)
def test_a_bad_eval_is_a_422_naming_the_field_before_anything_runs(
    api: str, fake: FakeOpenAI, body: dict[str, Any], field: str, words: str
) -> None:
    before = len(fake.chat_requests)
    response = httpx.post(f"{api}/v1/evals", json=body, timeout=10)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == field
    assert words in error["message"]
    assert len(fake.chat_requests) == before


def test_an_unknown_eval_id_is_a_404(api: str) -> None:
    response = httpx.get(f"{api}/v1/evals/eval_nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_eval"


def test_streaming_against_complete_shows_similarity_and_pass_rate_delta(
    api: str, fake: FakeOpenAI
) -> None:
    fake.replies_for.update(
        {"colour": Reply(chunks=["The sky", " is blue."]), "number": Reply(chunks=["Seven."])}
    )
    body = {
        "cases": [
            {
                "message": "What colour is the sky?",
                "assert": [{"type": "contains", "value": "blue"}],
            },
            {"message": "Pick a number", "assert": [{"type": "contains", "value": "Seven"}]},
        ],
        "configurations": [{**MINI, "streaming": False}, MINI],
        "repeat": 2,
    }
    _, events = run_eval(api, body)
    end = events[-2].data
    assert end["changed"] == []
    assert end["streaming_variance"] == {
        "streaming": 1,
        "pass_rate_delta": 0.0,
        "similarity_p50": 1.0,
        "similarity_min": 1.0,
        "pairs": 4,
    }
    # Differing in more than streaming: no streaming comparison claimed.
    body["configurations"] = [{**MINI, "streaming": False, "seed": 1}, MINI]
    _, events = run_eval(api, body)
    assert events[-2].data["streaming_variance"] is None


def test_two_evals_of_the_same_cases_compare_and_export_as_csv(api: str, fake: FakeOpenAI) -> None:
    fake.replies_for.update(
        {"greet": Reply(chunks=["Hello, Ann!"]), "farewell": Reply(chunks=["Goodbye."])}
    )
    cases = [
        {"message": "greet Ann", "assert": [{"type": "contains", "value": "Ann"}]},
        {"message": "farewell", "assert": [{"type": "contains", "value": "Bye"}]},
    ]
    body = {"cases": cases, "configurations": [MINI]}
    _, before = run_eval(api, body)
    fake.replies_for.update(
        {"greet": Reply(chunks=["Hello!"]), "farewell": Reply(chunks=["Bye now."])}
    )
    _, after = run_eval(api, body)
    before_id, after_id = before[0].data["eval_id"], after[0].data["eval_id"]
    compared = httpx.get(f"{api}/v1/evals/{after_id}/compare/{before_id}").json()
    assert compared["now_failing"] == [{"case": 0, "configuration": 0, "before": 1.0, "after": 0.0}]
    assert compared["now_passing"] == [{"case": 1, "configuration": 0, "before": 0.0, "after": 1.0}]
    assert compared["before"][0]["pass_rate"] == compared["after"][0]["pass_rate"] == 0.5

    other = {**body, "cases": cases[:1]}
    _, third = run_eval(api, other)
    refused = httpx.get(f"{api}/v1/evals/{third[0].data['eval_id']}/compare/{before_id}")
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "not_comparable"

    exported = httpx.get(f"{api}/v1/evals/{after_id}/results.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["case"], r["passed"], r["text"]) for r in rows] == [
        ("0", "False", "Hello!"),
        ("1", "True", "Bye now."),
    ]
    assert rows[0]["failed_assertions"] == "contains: does not contain 'Ann'"
    assert float(rows[1]["total_ms"]) > 0 and float(rows[1]["cost_usd"]) > 0
