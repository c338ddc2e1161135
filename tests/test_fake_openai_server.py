"""The loopback fake, checked by driving the real openai SDK against it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import openai
import pytest
from openai import AsyncAzureOpenAI, AsyncOpenAI, OpenAI

from tests.fakes.openai_server import FakeOpenAI, Reply, ToolCallSpec

MSGS: list[Any] = [{"role": "user", "content": "hi"}]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
async def client(fake: FakeOpenAI) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(api_key="test-key", base_url=fake.base_url, max_retries=0) as c:
        yield c


async def collect(stream: Any) -> dict[str, Any]:
    """Accumulate a chat stream the way SDK-NOTES B1 recommends."""
    out: dict[str, Any] = {"text": "", "calls": {}, "finish": None, "usage": None, "chunks": []}
    async for ch in stream:
        out["chunks"].append(ch)
        if ch.usage:
            out["usage"] = ch.usage
        for c in ch.choices:
            out["text"] += c.delta.content or ""
            for tc in c.delta.tool_calls or []:
                s = out["calls"].setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
                s["id"] = tc.id or s["id"]
                if tc.function:
                    s["name"] += tc.function.name or ""
                    s["arguments"] += tc.function.arguments or ""
            out["finish"] = c.finish_reason or out["finish"]
    return out


async def test_text_stream_with_usage_chunk(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=MSGS, stream=True, stream_options={"include_usage": True}
    )
    async with stream:
        got = await collect(stream)
    assert got["text"] == "Hello from the fake."
    assert got["finish"] == "stop"
    first, last = got["chunks"][0], got["chunks"][-1]
    assert first.choices[0].delta.role == "assistant"
    assert first.object == "chat.completion.chunk"
    assert first.model == "gpt-4o-mini"
    assert last.choices == []
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (12, 5)
    assert last.usage.total_tokens == 17
    assert all(ch.usage is None for ch in got["chunks"][:-1])
    (req,) = fake.chat_requests
    assert (req.method, req.path) == ("POST", "/v1/chat/completions")
    assert req.headers["authorization"] == "Bearer test-key"
    assert req.body["stream_options"] == {"include_usage": True}
    assert fake.completed_streams == 1
    assert fake.disconnects == 0


async def test_usage_chunk_only_when_requested(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    async with await client.chat.completions.create(
        model="m", messages=MSGS, stream=True
    ) as stream:
        got = await collect(stream)
    assert got["usage"] is None
    assert all(ch.choices for ch in got["chunks"])


async def test_parallel_tool_calls_assemble_by_index(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    weather = '{"city": "Paris", "unit": "c"}'
    fake.enqueue(
        Reply(
            chunks=["Sure."],
            tool_calls=[
                ToolCallSpec("get_weather", weather, call_id="call_a"),
                ToolCallSpec("get_time", '{"tz": "Europe/Paris"}', fragments=5),
            ],
        )
    )
    async with await client.chat.completions.create(
        model="m", messages=MSGS, stream=True
    ) as stream:
        got = await collect(stream)
    assert got["text"] == "Sure."
    assert got["finish"] == "tool_calls"
    assert got["calls"][0] == {"id": "call_a", "name": "get_weather", "arguments": weather}
    assert got["calls"][1]["name"] == "get_time"
    assert json.loads(got["calls"][1]["arguments"]) == {"tz": "Europe/Paris"}
    assert got["calls"][1]["id"]
    deltas = [tc for ch in got["chunks"] for c in ch.choices for tc in c.delta.tool_calls or []]
    assert len(deltas) == (1 + 3) + (1 + 5)
    # Only the opening delta of each call carries id and name, as on the real wire.
    assert [d.id is not None for d in deltas] == [True, False, False, False] + [True] + [False] * 5
    assert deltas[0].function is not None
    assert deltas[0].function.arguments == ""


async def test_stream_helper_assembles_tool_calls(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    fake.enqueue(
        Reply(
            chunks=[],
            tool_calls=[ToolCallSpec("f", '{"a": 1}'), ToolCallSpec("g", '{"b": [2, 3]}')],
        )
    )
    async with client.chat.completions.stream(model="m", messages=MSGS) as stream:
        final = await stream.get_final_completion()
    calls = final.choices[0].message.tool_calls or []
    assert [(c.function.name, c.function.arguments) for c in calls] == [
        ("f", '{"a": 1}'),
        ("g", '{"b": [2, 3]}'),
    ]
    assert fake.chat_requests[0].headers["x-stainless-helper-method"] == "chat.completions.stream"


async def test_omit_index_reaches_sdk_as_none(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    fake.enqueue(Reply(chunks=[], tool_calls=[ToolCallSpec("f", "{}", omit_index=True)]))
    async with await client.chat.completions.create(
        model="m", messages=MSGS, stream=True
    ) as stream:
        got = await collect(stream)
    assert list(got["calls"]) == [None]


async def test_drop_raises_connection_error_after_partial_content(
    fake: FakeOpenAI, client: AsyncOpenAI
) -> None:
    fake.enqueue(Reply(fault="drop", fault_after=2))
    received: list[str] = []

    async def consume() -> None:
        async with await client.chat.completions.create(
            model="m", messages=MSGS, stream=True
        ) as stream:
            async for ch in stream:
                received.extend(c.delta.content or "" for c in ch.choices)

    with pytest.raises(openai.APIConnectionError) as info:
        await consume()
    assert not isinstance(info.value, openai.APITimeoutError)
    assert "".join(received) == "Hello from"
    assert len(fake.chat_requests) == 1  # mid-stream failures are never retried
    assert (fake.disconnects, fake.completed_streams) == (0, 0)


async def test_error_event_raises_api_error(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    fake.enqueue(Reply(fault="error_event", fault_after=1))
    stream = await client.chat.completions.create(model="m", messages=MSGS, stream=True)
    with pytest.raises(openai.APIError) as info:
        async with stream:
            await collect(stream)
    assert type(info.value) is openai.APIError
    assert info.value.message == "Fake mid-stream failure"
    assert isinstance(info.value.body, dict)
    assert info.value.body["type"] == "server_error"


async def test_eof_without_done_ends_silently(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    fake.enqueue(Reply(fault="eof_no_done"))
    async with await client.chat.completions.create(
        model="m", messages=MSGS, stream=True, stream_options={"include_usage": True}
    ) as s:
        got = await collect(s)
    assert got["text"] == "Hello from the fake."
    assert got["finish"] is None
    assert got["usage"] is None


async def test_stall_times_out_and_server_sees_the_hangup(fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(fault="stall", fault_after=1))
    async with AsyncOpenAI(api_key="k", base_url=fake.base_url, timeout=0.3, max_retries=0) as c:
        stream = await c.chat.completions.create(model="m", messages=MSGS, stream=True)
        with pytest.raises(openai.APITimeoutError):
            async with stream:
                await collect(stream)
    assert await fake.wait_for_disconnect_async(2)


@pytest.mark.parametrize(
    ("status", "exc"),
    [
        (401, openai.AuthenticationError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
    ],
)
async def test_status_faults(
    fake: FakeOpenAI, client: AsyncOpenAI, status: int, exc: type[openai.APIStatusError]
) -> None:
    fake.enqueue(Reply(fault="status", status=status))
    with pytest.raises(exc) as info:
        await client.chat.completions.create(model="m", messages=MSGS, stream=True)
    assert info.value.status_code == status
    assert info.value.message.endswith(f"Fake error {status}")
    assert len(fake.chat_requests) == 1
    if status == 429:
        assert info.value.response.headers["retry-after"] == "0"


async def test_retry_consumes_next_reply(fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(fault="status", status=429), Reply(chunks=["ok"]))
    async with AsyncOpenAI(api_key="k", base_url=fake.base_url, max_retries=1) as c:
        stream = await c.chat.completions.create(model="m", messages=MSGS, stream=True)
        async with stream:
            got = await collect(stream)
    assert got["text"] == "ok"
    assert [r.headers["x-stainless-retry-count"] for r in fake.chat_requests] == ["0", "1"]
    assert fake.requests[0].path == fake.requests[1].path


async def test_early_close_is_detected(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    fake.enqueue(Reply(chunks=["x"] * 50, delay=0.02))
    async with await client.chat.completions.create(
        model="m", messages=MSGS, stream=True
    ) as stream:
        async for ch in stream:
            if ch.choices and ch.choices[0].delta.content:
                break
    assert await fake.wait_for_disconnect_async(2)
    assert fake.completed_streams == 0
    assert not fake.wait_for_disconnect(0.05)  # that disconnect was used up


async def test_close_while_stalled_is_detected(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    fake.enqueue(Reply(fault="stall", fault_after=0))
    stream = await client.chat.completions.create(model="m", messages=MSGS, stream=True)
    first = await stream.__anext__()  # the role chunk; then the server goes quiet
    assert first.choices[0].delta.role == "assistant"
    await stream.close()
    assert await fake.wait_for_disconnect_async(2)


async def test_cancelling_consumer_task_is_detected(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    fake.enqueue(Reply(fault="stall", fault_after=1))

    async def consume() -> None:
        async with await client.chat.completions.create(
            model="m", messages=MSGS, stream=True
        ) as stream:
            await collect(stream)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.2)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert await fake.wait_for_disconnect_async(2)


async def test_azure_deployment_path(fake: FakeOpenAI) -> None:
    async with AsyncAzureOpenAI(
        api_key="az-key",
        azure_endpoint=fake.azure_endpoint,
        api_version="2024-10-21",
        azure_deployment="dep1",
        max_retries=0,
    ) as az:
        stream = await az.chat.completions.create(model="gpt-4o", messages=MSGS, stream=True)
        async with stream:
            got = await collect(stream)
    assert got["text"] == "Hello from the fake."
    (req,) = fake.chat_requests
    assert req.path == "/openai/deployments/dep1/chat/completions"
    assert req.query == {"api-version": "2024-10-21"}
    assert req.headers["api-key"] == "az-key"
    assert "authorization" not in req.headers
    assert req.body["model"] == "gpt-4o"


async def test_non_streaming_reply(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    fake.enqueue(
        Reply(chunks=["a", "b"], tool_calls=[ToolCallSpec("f", '{"x": 1}', "call_1")], usage=(3, 4))
    )
    res = await client.chat.completions.create(model="m", messages=MSGS)
    msg = res.choices[0].message
    assert msg.content == "ab"
    assert res.choices[0].finish_reason == "tool_calls"
    assert msg.tool_calls is not None
    assert msg.tool_calls[0].id == "call_1"
    assert msg.tool_calls[0].function.arguments == '{"x": 1}'  # type: ignore[union-attr]
    assert res.usage is not None
    assert (res.usage.prompt_tokens, res.usage.total_tokens) == (3, 7)


async def test_moderations(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    res = await client.moderations.create(input=["hello", "please FLAGME now"])
    assert [r.flagged for r in res.results] == [False, True]
    assert res.results[1].categories.harassment is True
    assert res.results[1].category_scores.harassment > 0.5
    assert res.results[0].categories.self_harm is False
    assert fake.requests[-1].path == "/v1/moderations"
    assert fake.chat_requests == []


async def test_models_list(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    fake.model_ids = ["a", "b"]
    assert [m.id async for m in client.models.list()] == ["a", "b"]


async def test_unknown_route_is_404(client: AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        await client.embeddings.create(model="m", input="x")


async def test_chunks_are_flushed_as_they_are_sent(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    # The server holds the third chunk back until the client has the first two: had it
    # buffered them, they could not have arrived.
    gate = threading.Event()
    fake.enqueue(Reply(chunks=["a", "b", "c", "d"], gate=gate, gate_after=2))
    received: list[str] = []
    async with await client.chat.completions.create(
        model="m", messages=MSGS, stream=True
    ) as stream:
        async for ch in stream:
            if ch.choices and ch.choices[0].delta.content:
                received.append(ch.choices[0].delta.content)
                if len(received) == 2:
                    assert not gate.is_set()
                    gate.set()
    assert received == ["a", "b", "c", "d"]


async def test_first_delay(fake: FakeOpenAI, client: AsyncOpenAI) -> None:
    fake.enqueue(Reply(first_delay=0.2))
    t0 = time.perf_counter()
    async with await client.chat.completions.create(
        model="m", messages=MSGS, stream=True
    ) as stream:
        first = await stream.__anext__()
        assert time.perf_counter() - t0 >= 0.18
        assert first.choices[0].delta.role == "assistant"
        await collect(stream)


async def test_long_reply_is_served_fast(fake: FakeOpenAI) -> None:
    # Timed with a raw socket: through the SDK most of the ~0.5 s is client-side parsing,
    # which is not what this guards.
    fake.enqueue(Reply(chunks=["tok "] * 2000))
    body = json.dumps({"model": "m", "stream": True}).encode()
    t0 = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", fake.port)
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nconnection: close\r\n"
        b"content-length: %d\r\n\r\n%s" % (len(body), body)
    )
    data = await reader.read()
    elapsed = time.perf_counter() - t0
    writer.close()
    await writer.wait_closed()
    assert data.count(b'"content":"tok "') == 2000
    assert data.endswith(b"data: [DONE]\n\n\r\n0\r\n\r\n")
    assert elapsed < 0.5


def test_sync_client_queue_and_default_reply() -> None:
    t0 = time.perf_counter()
    with FakeOpenAI() as fake:
        assert time.perf_counter() - t0 < 0.3
        assert fake.base_url == f"http://127.0.0.1:{fake.port}/v1"
        fake.default_reply = Reply(chunks=["default"])
        fake.enqueue(Reply(chunks=["one"]), Reply(chunks=["two"]))
        with OpenAI(api_key="k", base_url=fake.base_url) as c:
            texts = []
            for _ in range(3):
                with c.chat.completions.create(model="m", messages=MSGS, stream=True) as s:
                    texts.append(
                        "".join(ch.choices[0].delta.content or "" for ch in s if ch.choices)
                    )
        assert texts == ["one", "two", "default"]
        assert fake.completed_streams == 3
