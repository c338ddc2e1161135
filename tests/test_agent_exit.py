"""Agent Node exit paths: the agent asks until required fields are collected, then exits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from playground.server import build_app
from tests.fakes.openai_server import FakeOpenAI, Reply, ToolCallSpec
from tests.support import live_server, make_test_services, stream_events

PROMPT = """id: collector
version: 1
title: Collector
node: agent
format: v2
system: Collect an order number and an email, then call exit_path.
tools: [calculator]
exit_paths:
  - name: order_resolved
    description: the order was found
    required_fields: [order_number, email]
  - name: handoff_to_human
    description: the user wants a person
    required_fields: [email]
"""


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def api(fake: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    prompts: Path = tmp_path_factory.mktemp("prompts")
    (prompts / "collector").mkdir()
    (prompts / "collector" / "v1.yaml").write_text(PROMPT)
    (prompts / "plain").mkdir()
    (prompts / "plain" / "v1.yaml").write_text(
        "id: plain\nversion: 1\ntitle: Plain\nnode: prompt\nformat: v2\nsystem: Be brief.\n"
    )
    services = make_test_services(
        openai_api_key="test-key",
        openai_base_url=fake.base_url,
        playground_prompts_dir=str(prompts),
    )
    with live_server(build_app(services, warm_up=False)) as url:
        yield url


def exit_call(arguments: str) -> Reply:
    return Reply(chunks=[], tool_calls=[ToolCallSpec("exit_path", arguments, call_id="x1")])


def test_the_exit_tool_is_offered_with_the_prompt_paths(api: str, fake: FakeOpenAI) -> None:
    stream_events(api, {"message": "hi", "prompt": "collector@1"})
    tools = {t["function"]["name"]: t for t in fake.chat_requests[-1].body["tools"]}
    assert set(tools) == {"calculator", "exit_path"}
    assert tools["exit_path"]["function"]["parameters"]["properties"]["path"]["enum"] == [
        "order_resolved",
        "handoff_to_human",
    ]


def test_missing_fields_are_sent_back_and_the_agent_keeps_asking(
    api: str, fake: FakeOpenAI
) -> None:
    fake.enqueue(
        exit_call('{"path": "order_resolved", "fields": {"order_number": "A1001"}}'),
        Reply(chunks=["What is your email address?"]),
    )
    _, events = stream_events(api, {"message": "My order is A1001", "prompt": "collector@1"})
    result = next(e.data for e in events if e.event == "tool-result")
    assert result["is_error"] is True and "email" in result["output"]
    end = events[-2].data
    assert end["finish_reason"] == "stop" and end["exit_path"] is None
    assert end["text"] == "What is your email address?"


def test_the_exit_path_is_taken_once_every_required_field_is_there(
    api: str, fake: FakeOpenAI
) -> None:
    before = len(fake.chat_requests)
    fake.enqueue(
        exit_call(
            '{"path": "order_resolved", '
            '"fields": {"order_number": "A1001", "email": "ada@example.com"}}'
        )
    )
    history = [
        {"role": "user", "content": "My order is A1001"},
        {"role": "assistant", "content": "What is your email address?"},
    ]
    _, events = stream_events(
        api, {"message": "ada@example.com", "prompt": "collector@1", "history": history}
    )
    end = events[-2].data
    assert end["finish_reason"] == "exit_path"
    assert end["exit_path"] == "order_resolved"
    assert end["exit_fields"] == {"order_number": "A1001", "email": "ada@example.com"}
    assert len(fake.chat_requests) == before + 1, "no further model call after the exit"


def test_an_unknown_exit_path_is_an_error_for_the_model_not_a_crash(
    api: str, fake: FakeOpenAI
) -> None:
    fake.enqueue(exit_call('{"path": "teleport", "fields": {}}'), Reply(chunks=["Sorry."]))
    _, events = stream_events(api, {"message": "x", "prompt": "collector@1"})
    result = next(e.data for e in events if e.event == "tool-result")
    assert result["is_error"] and "unknown exit path" in result["output"]
    assert events[-2].data["finish_reason"] == "stop"


def test_a_failing_tool_is_reported_to_the_model_and_shown_not_a_crash(
    api: str, fake: FakeOpenAI
) -> None:
    fake.enqueue(
        Reply(chunks=[], tool_calls=[ToolCallSpec("calculator", '{"expression": "1/0"}')]),
        Reply(chunks=["That cannot be computed."]),
    )
    _, events = stream_events(api, {"message": "1/0?", "prompt": "collector@1"})
    result = next(e.data for e in events if e.event == "tool-result")
    assert result["is_error"] is True and "cannot compute" in result["output"]
    tool_message = fake.chat_requests[-1].body["messages"][-1]
    assert tool_message["role"] == "tool" and "cannot compute" in tool_message["content"]
    assert events[-2].data["text"] == "That cannot be computed."


def test_tool_rounds_are_bounded(api: str, fake: FakeOpenAI) -> None:
    looping = Reply(chunks=[], tool_calls=[ToolCallSpec("calculator", '{"expression": "1+1"}')])
    fake.enqueue(*[looping] * 5)
    before = len(fake.chat_requests)
    _, events = stream_events(api, {"message": "loop", "prompt": "collector@1"})
    assert len(fake.chat_requests) - before == 5
    assert events[-2].data["finish_reason"] == "max_tool_rounds"
    assert [e.event for e in events].count("tool-result") == 5
