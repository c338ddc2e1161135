"""No turn dies silently: whatever fails inside a turn (moderation, an interception hook, the
schema post-check, a tool, the voice, the model), the stream still ends with ``error`` (naming
the stage) + ``completion-end`` + ``end``, and the failure is logged once.

Driven through the HTTP API with the real ``openai`` client against the loopback fake.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from playground.checks.interception import InterceptionResult
from playground.server import build_app
from tests.fakes.openai_server import FakeOpenAI, Reply, ToolCallSpec
from tests.support import SSEEvent, live_server, make_test_services, stream_events


def changes_not_a_list_hook(text: str) -> InterceptionResult:
    """A hook with a result the interceptor does not expect: its ``changes`` is not a list."""
    return InterceptionResult("rewrite", text + "!", 5)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def api(fake: FakeOpenAI) -> Iterator[str]:
    """An OpenAI key (so the guardrail uses the moderation endpoint) on a compatible server."""
    services = make_test_services(
        openai_api_key="test-key",
        openai_base_url=fake.base_url,
        playground_compatible_models="fake-model",
        playground_resume_grace_s=0,
        playground_interception_hooks="tests.test_turn_failures:changes_not_a_list_hook",
    )
    with live_server(build_app(services, warm_up=False)) as url:
        yield url


@pytest.fixture
def moderation_fails(fake: FakeOpenAI) -> Iterator[None]:
    fake.moderation_status = 404
    yield
    fake.moderation_status = None


def turn(url: str, **body: object) -> list[SSEEvent]:
    response, events = stream_events(
        url, {"message": "hi", "model": "compatible:fake-model", "voice": "none", **body}
    )
    assert response.status_code == 200
    return events


def assert_ends_with_an_error(events: list[SSEEvent], stage: str) -> SSEEvent:
    names = [e.event for e in events]
    assert names[0] == "completion-start"
    assert names[-2:] == ["completion-end", "end"], names
    errors = [e for e in events if e.event == "error"]
    assert [e.data["stage"] for e in errors] == [stage], names
    assert errors[0].data["message"]
    return errors[0]


@pytest.mark.parametrize("status", [404, 429, 500])
def test_a_failing_moderation_endpoint_ends_the_turn_with_an_error(
    api: str, fake: FakeOpenAI, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    fake.moderation_status = status
    try:
        fake.enqueue(Reply(chunks=["A reply ", "to check."]))
        with caplog.at_level(logging.WARNING, logger="playground"):
            events = turn(api, streaming=False, features={"guardrails": True})
    finally:
        fake.moderation_status = None
    error = assert_ends_with_an_error(events, "moderation")
    assert "test-key" not in error.data["message"]
    # Nothing unchecked was delivered: the held reply is withheld when its check failed.
    assert not [e for e in events if e.event == "completion-continue"]
    logged = [r for r in caplog.records if "moderation" in r.getMessage()]
    assert len(logged) == 1, [r.getMessage() for r in caplog.records]


def test_an_interception_hook_that_breaks_the_interceptor_ends_the_turn_with_an_error(
    api: str, fake: FakeOpenAI
) -> None:
    fake.enqueue(Reply(chunks=["A reply."]))
    events = turn(api, streaming=False, features={"interception": True})
    assert_ends_with_an_error(events, "interception")
    assert not [e for e in events if e.event == "completion-continue"]


def test_a_reply_that_fails_its_schema_ends_with_a_post_check_error(
    api: str, fake: FakeOpenAI
) -> None:
    fake.enqueue(Reply(chunks=['{"name": "Ada"}']))
    events = turn(
        api, prompt="json-extractor@2", streaming=False, features={"post_processing": True}
    )
    assert_ends_with_an_error(events, "post")


def test_a_failing_model_ends_the_turn_with_an_llm_error(api: str, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(fault="status", status=500), Reply(fault="status", status=500))
    fake.enqueue(Reply(fault="status", status=500))
    events = turn(api)
    assert_ends_with_an_error(events, "llm")


def test_a_tool_loop_that_fails_ends_the_turn_with_an_error(api: str, fake: FakeOpenAI) -> None:
    # The model calls a tool, then the follow-up request fails: the error names the model stage,
    # after the tool's call and result were reported.
    fake.enqueue(
        Reply(chunks=[], tool_calls=[ToolCallSpec("calculator", '{"expression": "2+2"}', "t1")]),
        Reply(fault="status", status=400),
    )
    events = turn(api, prompt="support-agent@2", node="agent")
    names = [e.event for e in events]
    assert "tool-call" in names and "tool-result" in names
    assert_ends_with_an_error(events, "llm")
