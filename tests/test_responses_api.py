"""The Responses API path: the real openai SDK against the loopback fake's ``/v1/responses``,
through ``OpenAIResponsesModel``, then whole turns through the HTTP API."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import aclosing

import pytest
from openai import AsyncOpenAI

from playground.agent.nodes import ToolCallBuffer
from playground.errors import ErrorCategory, ProviderError, TruncatedStreamError
from playground.providers.base import (
    ChatMessage,
    ContentDelta,
    GenerationOptions,
    ModelDelta,
    ReasoningDelta,
    StreamEnd,
    ToolCallFragment,
    Usage,
)
from playground.providers.openai_responses import OpenAIResponsesModel, uses_responses_api
from playground.server import build_app
from tests.fakes.openai_server import FakeOpenAI, Reply, ToolCallSpec
from tests.support import SSEEvent, live_server, make_settings, make_test_services, stream_events

MESSAGES = [
    ChatMessage(role="system", content="Be brief."),
    ChatMessage(role="user", content="hi"),
]
CALCULATOR = {
    "type": "function",
    "function": {
        "name": "calculator",
        "description": "Evaluate arithmetic.",
        "parameters": {
            "type": "object",
            "properties": {"expression": {"type": "string"}},
            "required": ["expression"],
        },
    },
}


@pytest.fixture
async def client(fake_openai: FakeOpenAI) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(api_key="k", base_url=fake_openai.base_url, max_retries=0) as c:
        yield c


@pytest.fixture
def model(client: AsyncOpenAI) -> OpenAIResponsesModel:
    return OpenAIResponsesModel(client, "openai")


async def run(
    model: OpenAIResponsesModel,
    options: GenerationOptions | None = None,
    *,
    name: str = "gpt-4.1-mini",
    messages: list[ChatMessage] | None = None,
) -> list[ModelDelta]:
    stream = model.stream(name, messages or MESSAGES, options or GenerationOptions())
    return [delta async for delta in stream]


def text_of(deltas: list[ModelDelta]) -> str:
    return "".join(d.text for d in deltas if isinstance(d, ContentDelta))


# -- the fake, as the SDK's own typed events see it ---------------------------------------------


async def test_the_fake_streams_the_documented_events_in_order(
    fake_openai: FakeOpenAI, client: AsyncOpenAI
) -> None:
    fake_openai.enqueue(
        Reply(
            reasoning=["Hmm", "."],
            chunks=["A", "B"],
            tool_calls=[ToolCallSpec("calculator", '{"expression": "1+1"}', fragments=2)],
        )
    )
    stream = await client.responses.create(model="o4-mini", input="hi", stream=True)
    async with stream:
        events = [event async for event in stream]
    assert [e.type for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    final = events[-1]
    assert final.type == "response.completed"
    assert final.response.output_text == "AB"
    assert [item.type for item in final.response.output] == [
        "reasoning",
        "message",
        "function_call",
    ]


# -- the provider -------------------------------------------------------------------------------


async def test_text_streams_as_content_deltas_and_ends_with_stop(
    fake_openai: FakeOpenAI, model: OpenAIResponsesModel
) -> None:
    fake_openai.enqueue(Reply(chunks=["One", " two", " three."], usage=(9, 3)))
    deltas = await run(model)
    assert [d.text for d in deltas if isinstance(d, ContentDelta)] == ["One", " two", " three."]
    end = deltas[-1]
    assert isinstance(end, StreamEnd) and end.finish_reason == "stop"
    assert end.usage == Usage(9, 3, 12)
    request = fake_openai.responses_requests[-1]
    assert request.path == "/v1/responses"
    assert request.headers["authorization"] == "Bearer k"
    assert request.body["stream"] is True
    assert request.body["store"] is False
    assert request.body["instructions"] == "Be brief."
    assert request.body["input"] == [{"role": "user", "content": "hi"}]
    # Not a reasoning model: no reasoning settings, so the API will not refuse them.
    assert "reasoning" not in request.body
    assert fake_openai.chat_requests == []


async def test_a_reasoning_summary_streams_as_thinking_before_the_answer(
    fake_openai: FakeOpenAI, model: OpenAIResponsesModel
) -> None:
    fake_openai.enqueue(
        Reply(
            reasoning=["Weighing", " the", " options."],
            chunks=["Go", " left."],
            usage=(40, 30),
            cached_tokens=16,
            reasoning_tokens=24,
        )
    )
    deltas = await run(model, name="o4-mini")
    kinds = [type(d).__name__ for d in deltas]
    assert kinds == ["ReasoningDelta"] * 3 + ["ContentDelta"] * 2 + ["StreamEnd"]
    assert "".join(d.text for d in deltas if isinstance(d, ReasoningDelta)) == (
        "Weighing the options."
    )
    assert text_of(deltas) == "Go left."
    end = deltas[-1]
    assert isinstance(end, StreamEnd)
    assert end.usage == Usage(40, 30, 70, cached_tokens=16, reasoning_tokens=24)
    # The model table says o4-mini reasons: a summary is asked for even without an effort.
    assert fake_openai.responses_requests[-1].body["reasoning"] == {"summary": "auto"}


async def test_function_call_arguments_in_fragments_become_one_whole_call_each(
    fake_openai: FakeOpenAI, model: OpenAIResponsesModel
) -> None:
    fake_openai.enqueue(
        Reply(
            chunks=["Let me check."],
            tool_calls=[
                ToolCallSpec("calculator", '{"expression": "12 * (3 + 4)"}', "c1", fragments=6),
                ToolCallSpec("current_time", '{"timezone": "Europe/Paris"}', "c2", fragments=4),
            ],
        )
    )
    deltas = await run(model, GenerationOptions(tools=(CALCULATOR,)))
    fragments = [d for d in deltas if isinstance(d, ToolCallFragment)]
    assert [(f.index, f.call_id, f.name, f.arguments) for f in fragments] == [
        (0, "c1", "calculator", '{"expression": "12 * (3 + 4)"}'),
        (1, "c2", "current_time", '{"timezone": "Europe/Paris"}'),
    ]
    end = deltas[-1]
    assert isinstance(end, StreamEnd) and end.finish_reason == "tool_calls"
    # The agent node's buffer gets the same whole calls as from a chat model.
    buffer = ToolCallBuffer()
    calls = [call for f in fragments for call in buffer.add(f)] + buffer.finish()
    assert [(c.call_id, c.name, c.arguments, c.error) for c in calls] == [
        ("c1", "calculator", {"expression": "12 * (3 + 4)"}, None),
        ("c2", "current_time", {"timezone": "Europe/Paris"}, None),
    ]


async def test_the_request_carries_effort_limit_tools_and_the_tool_history(
    fake_openai: FakeOpenAI, model: OpenAIResponsesModel
) -> None:
    history = [
        *MESSAGES,
        ChatMessage(
            role="assistant",
            content="Checking.",
            tool_calls=(
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "calculator", "arguments": '{"expression": "2+2"}'},
                },
            ),
        ),
        ChatMessage(role="tool", content="4", tool_call_id="c1", name="calculator"),
    ]
    options = GenerationOptions(
        reasoning_effort="high",
        max_tokens=300,
        tools=(CALCULATOR,),
        seed=7,
        stop=("END",),
        token_limit_field="max_completion_tokens",
    )
    await run(model, options, name="o3", messages=history)
    sent = fake_openai.responses_requests[-1].body
    assert sent["model"] == "o3"
    assert sent["reasoning"] == {"effort": "high", "summary": "auto"}
    assert sent["max_output_tokens"] == 300
    assert sent["tools"] == [
        {
            "type": "function",
            "name": "calculator",
            "description": "Evaluate arithmetic.",
            "parameters": CALCULATOR["function"]["parameters"],  # type: ignore[index]
            "strict": False,
        }
    ]
    assert sent["instructions"] == "Be brief."
    assert sent["input"] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Checking."},
        {
            "type": "function_call",
            "call_id": "c1",
            "name": "calculator",
            "arguments": '{"expression": "2+2"}',
        },
        {"type": "function_call_output", "call_id": "c1", "output": "4"},
    ]
    # Chat-only fields the Responses API would refuse are not sent.
    assert not {"messages", "max_tokens", "max_completion_tokens", "seed", "stop"} & set(sent)


@pytest.mark.parametrize(
    ("status", "category", "retryable"),
    [
        (401, ErrorCategory.AUTH, False),
        (400, ErrorCategory.BAD_REQUEST, False),
        (429, ErrorCategory.RATE_LIMIT, True),
        (500, ErrorCategory.SERVER, True),
    ],
)
async def test_an_error_status_becomes_a_provider_error(
    fake_openai: FakeOpenAI,
    model: OpenAIResponsesModel,
    status: int,
    category: ErrorCategory,
    retryable: bool,
) -> None:
    fake_openai.enqueue(Reply(fault="status", status=status))
    with pytest.raises(ProviderError) as info:
        await run(model)
    assert info.value.category is category
    assert info.value.retryable is retryable
    assert info.value.status_code == status
    assert info.value.provider == "openai"
    assert f"Fake error {status}" in info.value.message


@pytest.mark.parametrize(
    ("reply", "category"),
    [
        (Reply(fault="error_event"), ErrorCategory.SERVER),
        (Reply(fault="error_event", error_event="error"), ErrorCategory.SERVER),
        (
            Reply(fault="error_event", error_event="error", error_code="rate_limit_exceeded"),
            ErrorCategory.RATE_LIMIT,
        ),
        (Reply(fault="error_event", error_code="invalid_prompt"), ErrorCategory.BAD_REQUEST),
        (Reply(fault="drop"), ErrorCategory.CONNECTIVITY),
        (Reply(fault="eof_no_done"), ErrorCategory.TRUNCATED),
    ],
    ids=["response.failed", "error-event", "rate-limited", "refused-prompt", "drop", "eof"],
)
async def test_a_failure_mid_stream_keeps_the_text_so_far_then_raises(
    fake_openai: FakeOpenAI, model: OpenAIResponsesModel, reply: Reply, category: ErrorCategory
) -> None:
    reply.chunks, reply.fault_after = ["Half", " an", " answer"], 2
    fake_openai.enqueue(reply)
    received: list[ModelDelta] = []

    async def consume() -> None:
        async for delta in model.stream("gpt-4.1-mini", MESSAGES, GenerationOptions()):
            received.append(delta)

    with pytest.raises(ProviderError) as info:
        await consume()
    assert info.value.category is category
    expected = "Half an answer" if reply.fault == "eof_no_done" else "Half an"
    assert text_of(received) == expected
    if reply.fault == "eof_no_done":
        assert isinstance(info.value, TruncatedStreamError)
    if reply.fault == "error_event":
        assert "Fake mid-stream failure" in info.value.message


@pytest.mark.parametrize("how", ["aclose", "cancel"])
async def test_leaving_early_closes_the_upstream_at_once(
    fake_openai: FakeOpenAI, model: OpenAIResponsesModel, how: str
) -> None:
    # Everything after the first text delta waits for the gate, which opens only at the end:
    # the upstream is still streaming when the consumer leaves.
    gate = threading.Event()
    fake_openai.enqueue(Reply(chunks=["first"] + ["more"] * 20, gate=gate, gate_after=1))
    first = asyncio.Event()

    async def consume() -> None:
        stream = model.stream("gpt-4.1-mini", MESSAGES, GenerationOptions())
        assert isinstance(stream, AsyncGenerator)
        async with aclosing(stream) as it:
            async for delta in it:
                if isinstance(delta, ContentDelta):
                    first.set()
                    if how == "aclose":
                        return

    try:
        task = asyncio.create_task(consume())
        await first.wait()
        if how == "cancel":
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert await fake_openai.wait_for_disconnect_async(5)
        assert fake_openai.completed_streams == 0
    finally:
        gate.set()


async def test_streaming_off_asks_for_one_response_and_yields_it_whole(
    fake_openai: FakeOpenAI, model: OpenAIResponsesModel
) -> None:
    fake_openai.enqueue(
        Reply(
            reasoning=["Adding", " up."],
            chunks=["Whole", " answer."],
            tool_calls=[ToolCallSpec("calculator", '{"expression": "2+2"}', "c9")],
            reasoning_tokens=5,
        )
    )
    deltas = await run(model, GenerationOptions(stream=False), name="o4-mini")
    assert fake_openai.responses_requests[-1].body["stream"] is False
    assert [type(d).__name__ for d in deltas] == [
        "ReasoningDelta",
        "ContentDelta",
        "ToolCallFragment",
        "StreamEnd",
    ]
    assert isinstance(deltas[0], ReasoningDelta) and deltas[0].text == "Adding up."
    assert text_of(deltas) == "Whole answer."
    call = deltas[2]
    assert isinstance(call, ToolCallFragment)
    assert (call.call_id, call.name, call.arguments) == (
        "c9",
        "calculator",
        '{"expression": "2+2"}',
    )
    end = deltas[3]
    assert isinstance(end, StreamEnd) and end.finish_reason == "tool_calls"
    assert end.usage == Usage(12, 5, 17, reasoning_tokens=5)


@pytest.mark.parametrize("stream", [True, False])
async def test_an_answer_cut_by_the_token_limit_ends_with_length(
    fake_openai: FakeOpenAI, model: OpenAIResponsesModel, stream: bool
) -> None:
    fake_openai.enqueue(Reply(chunks=["Cut", " sh"], finish_reason="length"))
    deltas = await run(model, GenerationOptions(stream=stream, max_tokens=16))
    assert text_of(deltas) == "Cut sh"
    end = deltas[-1]
    assert isinstance(end, StreamEnd) and end.finish_reason == "length"


async def test_a_refused_reasoning_summary_is_dropped_and_the_turn_goes_on(
    fake_openai: FakeOpenAI, model: OpenAIResponsesModel
) -> None:
    # What OpenAI answers an organisation that is not verified for reasoning summaries.
    fake_openai.enqueue(
        Reply(fault="status", status=400, error_param="reasoning.summary"), Reply(chunks=["ok"])
    )
    deltas = await run(model, GenerationOptions(reasoning_effort="low"), name="o3")
    assert text_of(deltas) == "ok"
    first, second = (r.body for r in fake_openai.responses_requests)
    assert first["reasoning"] == {"effort": "low", "summary": "auto"}
    assert second["reasoning"] == {"effort": "low"}


# -- which models take this path ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "engine", "name", "expected"),
    [
        ("", "openai", "gpt-4o-mini", False),
        ("", "openai", "o3-pro", True),
        ("", "openai", "O3-PRO-2025-06-10", True),
        ("", "azure", "gpt-5-pro", True),
        ("", "openai", "gpt-5.1-codex-mini", True),
        ("", "compatible", "o3-pro", False),  # a compatible server is asked only when named
        ("gpt-4.1*", "openai", "gpt-4.1-mini", True),
        ("gpt-4.1*", "compatible", "gpt-4.1-mini", True),
        ("azure:my-*", "azure", "my-deployment", True),
        ("azure:my-*", "openai", "my-deployment", False),
        ("gpt-oss*", "compatible", "openai/gpt-oss-20b", True),
        ("gpt-4.1*", "local", "gpt-4.1-mini", False),
    ],
)
def test_the_responses_api_is_chosen_per_model(
    setting: str, engine: str, name: str, expected: bool
) -> None:
    settings = make_settings(playground_responses_models=setting)
    assert uses_responses_api(engine, name, settings) is expected


# -- whole turns through the HTTP API -----------------------------------------------------------


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def api(fake: FakeOpenAI) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as mp:
        for name in ("OPENAI_API_KEY", "DEEPGRAM_API_KEY", "PLAYGROUND_API_TOKEN"):
            mp.delenv(name, raising=False)
        services = make_test_services(
            openai_api_key="test-key",
            openai_base_url=fake.base_url,
            azure_openai_api_key="azure-key",
            azure_openai_endpoint=fake.azure_endpoint,
            openai_api_version="2025-04-01-preview",
            playground_openai_models="gpt-4o-mini,gpt-4.1-mini,o4-mini",
            playground_azure_deployments="o3-pro-prod",
            playground_responses_models="gpt-4.1-mini,o4-mini",
            playground_upstream_timeout_s=5.0,
            playground_resume_grace_s=0,
        )
    with live_server(build_app(services, warm_up=False)) as url:
        yield url


def names(events: list[SSEEvent]) -> list[str]:
    return [e.event for e in events]


def test_an_agent_turn_calls_a_tool_and_answers_over_the_responses_api(
    api: str, fake: FakeOpenAI
) -> None:
    arguments = '{"order_number": "A1001", "email": "maria.keller@example.com"}'
    fake.enqueue(
        Reply(
            chunks=["Let me look that up."],
            tool_calls=[ToolCallSpec("order_status", arguments, call_id="call_o1", fragments=5)],
        ),
        Reply(chunks=["Your order", " was delivered."]),
    )
    chats_before = len(fake.chat_requests)
    responses_before = len(fake.responses_requests)
    _, events = stream_events(
        api,
        {
            "message": "Where is order A1001? My email is maria.keller@example.com.",
            "model": "openai:gpt-4.1-mini",
            "prompt": "support-agent@2",
            "node": "agent",
        },
    )
    order = names(events)
    assert order[0] == "completion-start" and order[-2:] == ["completion-end", "end"]
    assert "error" not in order
    assert order.count("tool-call") == 1 and order.count("tool-result") == 1
    assert order.index("tool-call") < order.index("tool-result")
    call = next(e.data for e in events if e.event == "tool-call")
    assert (call["call_id"], call["name"]) == ("call_o1", "order_status")
    assert call["arguments"] == json.loads(arguments)
    result = next(e.data for e in events if e.event == "tool-result")
    assert result["call_id"] == "call_o1" and result["name"] == "order_status"
    assert "delivered" in result["output"]
    end = events[-2].data
    assert end["text"] == "Let me look that up.Your order was delivered."
    assert end["finish_reason"] == "stop"
    # Both rounds went to the Responses API, none to Chat Completions.
    assert len(fake.chat_requests) == chats_before
    first, second = (r.body for r in fake.responses_requests[responses_before:])
    tools = {tool["name"]: tool for tool in first["tools"]}
    assert set(tools) == {"order_status", "kb_search", "exit_path"}
    assert all(tool["type"] == "function" and "function" not in tool for tool in tools.values())
    assert "Larkspur Outdoor" in first["instructions"]
    items = second["input"]
    assert {"type": "function_call", "call_id": "call_o1", "name": "order_status"}.items() <= (
        items[-2].items()
    )
    assert items[-1]["type"] == "function_call_output"
    assert items[-1]["call_id"] == "call_o1"
    assert items[-1]["output"] == result["output"]


def test_a_reasoning_model_streams_its_summary_before_the_answer(
    api: str, fake: FakeOpenAI
) -> None:
    fake.enqueue(
        Reply(reasoning=["Weighing", " options."], chunks=["Take", " the train."], usage=(30, 20))
    )
    _, events = stream_events(
        api, {"message": "Train or bus?", "model": "openai:o4-mini", "reasoning_effort": "low"}
    )
    order = names(events)
    assert "reasoning" in order, f"no reasoning events in {order}"
    assert order.index("reasoning") < order.index("completion-continue")
    thinking = "".join(e.data["text"] for e in events if e.event == "reasoning")
    assert thinking == "Weighing options."
    end = events[-2].data
    assert end["text"] == "Take the train."
    assert fake.responses_requests[-1].body["reasoning"] == {"effort": "low", "summary": "auto"}


def test_an_azure_deployment_of_a_responses_only_model_uses_azure_responses_route(
    api: str, fake: FakeOpenAI
) -> None:
    fake.enqueue(Reply(chunks=["Deep", " thought."]))
    _, events = stream_events(api, {"message": "Hi", "model": "azure:o3-pro-prod"})
    assert events[-2].data["text"] == "Deep thought."
    request = fake.responses_requests[-1]
    assert request.path == "/openai/responses"
    assert request.query["api-version"] == "2025-04-01-preview"
    assert request.headers["api-key"] == "azure-key"
    assert request.body["model"] == "o3-pro-prod"


def test_a_model_not_named_stays_on_chat_completions(api: str, fake: FakeOpenAI) -> None:
    responses_before = len(fake.responses_requests)
    _, events = stream_events(api, {"message": "Hi", "model": "openai:gpt-4o-mini"})
    assert events[-2].event == "completion-end"
    assert len(fake.responses_requests) == responses_before
    assert fake.chat_requests[-1].body["model"] == "gpt-4o-mini"


def test_a_seed_or_stop_the_responses_api_cannot_take_is_reported_not_sent(
    api: str, fake: FakeOpenAI
) -> None:
    fake.enqueue(Reply(chunks=["Hi."]))
    _, events = stream_events(
        api, {"message": "Hi", "model": "openai:gpt-4.1-mini", "seed": 7, "stop": ["END"]}
    )
    disabled = {d["name"]: d["reason"] for d in events[0].data["disabled_features"]}
    assert "Responses API" in disabled["seed_and_stop"]
    sent = fake.responses_requests[-1].body
    assert "seed" not in sent and "stop" not in sent
    assert events[-2].data["text"] == "Hi."
