"""The HTTP streaming API against the real openai SDK talking to a loopback fake server."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from playground.server import build_app
from tests.fakes.openai_server import FakeOpenAI, Reply, ToolCallSpec
from tests.support import SSEEvent, live_server, make_test_services, stream_events, wait_until


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
            openai_api_version="2024-10-21",
            playground_azure_deployments="dep1",
            playground_compatible_models="fake-model",
            playground_upstream_timeout_s=2.0,
            playground_max_body_bytes=20_000,
            playground_max_message_chars=2_000,
            playground_resume_grace_s=0,
        )
    with live_server(build_app(services, warm_up=False)) as url:
        yield url


def names(events: list[SSEEvent]) -> list[str]:
    return [e.event for e in events]


def body(**overrides: object) -> dict[str, object]:
    return {"message": "Hi there", "model": "openai:gpt-4o-mini", **overrides}


def test_a_streamed_turn_sends_every_event_in_order(api: str, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(chunks=["One", " two", " three."], usage=(9, 3), delay=0.02))
    response, events = stream_events(api, body())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-accel-buffering"] == "no"
    assert response.headers["cache-control"] == "no-cache"
    assert names(events) == ["completion-start"] + ["completion-continue"] * 3 + [
        "completion-end",
        "end",
    ]
    assert [e.id for e in events] == [str(i) for i in range(len(events))]
    start = events[0].data
    assert start["model"] == "openai:gpt-4o-mini"
    assert start["prompt"] == "default-prompt-node@1"
    assert start["node"] == "prompt"
    assert start["streaming"] is True
    assert start["turn_id"].startswith("turn_")
    assert {d["name"] for d in start["disabled_features"]} >= {"guardrails", "interception"}
    chunks = [e.data for e in events if e.event == "completion-continue"]
    assert [c["text"] for c in chunks] == ["One", " two", " three."]
    assert [c["seq"] for c in chunks] == [0, 1, 2]
    t_ms = [c["t_ms"] for c in chunks]
    assert t_ms == sorted(t_ms) and t_ms[0] > 0
    assert t_ms[2] - t_ms[0] >= 30, "chunks were stamped on arrival, spread over the delays"
    end = events[-2].data
    assert end["text"] == "One two three."
    assert end["finish_reason"] == "stop"
    assert end["usage"] == {
        "prompt_tokens": 9,
        "completion_tokens": 3,
        "total_tokens": 12,
        "cached_tokens": 0,
        "reasoning_tokens": 0,
    }
    # gpt-4o-mini at $0.15 / $0.60 per 1M tokens.
    assert end["cost"]["usd"] == pytest.approx((9 * 0.15 + 3 * 0.60) / 1e6)
    assert end["cost"]["price_as_of"] == "2025-08-07"
    timing = end["timing"]
    assert timing["chunks"] == 3
    assert timing["ttft_ms"] == pytest.approx(t_ms[0])
    assert timing["total_ms"] >= t_ms[-1]
    assert timing["ttfa_ms"] is None
    assert timing["tokens_per_s"] > 0
    assert events[-1].data == {}
    sent = fake.chat_requests[-1].body
    assert sent["stream"] is True and sent["model"] == "gpt-4o-mini"
    assert sent["messages"][0]["role"] == "system"
    assert sent["messages"][-1] == {"role": "user", "content": "Hi there"}
    assert fake.chat_requests[-1].headers["authorization"] == "Bearer test-key"


def test_history_reaches_the_model_in_order(api: str, fake: FakeOpenAI) -> None:
    history = [
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Hello Ada."},
    ]
    stream_events(api, body(history=history, message="What is my name?"))
    messages = fake.chat_requests[-1].body["messages"]
    assert [m["content"] for m in messages[1:]] == [
        "My name is Ada.",
        "Hello Ada.",
        "What is my name?",
    ]


def test_streaming_off_sends_one_chunk_with_the_whole_text(api: str, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(chunks=["Whole", " answer", " at once."]))
    _, events = stream_events(api, body(streaming=False))
    chunks = [e.data for e in events if e.event == "completion-continue"]
    assert [c["text"] for c in chunks] == ["Whole answer at once."]
    assert events[0].data["streaming"] is False
    assert "guardrails" not in {d["name"] for d in events[0].data["disabled_features"]}
    assert fake.chat_requests[-1].body.get("stream") in (False, None)
    assert events[-2].data["text"] == "Whole answer at once."


@pytest.mark.parametrize(
    ("reply", "code", "retryable"),
    [
        (Reply(fault="drop", fault_after=2), "connectivity", True),
        (Reply(fault="error_event", fault_after=2), "server", True),
        (Reply(fault="eof_no_done"), "truncated", True),
        (Reply(fault="status", status=401), "auth", False),
        (Reply(fault="status", status=400), "bad_request", False),
        (Reply(fault="status", status=500), "server", True),
    ],
    ids=["drop", "error-event", "eof-without-done", "401", "400", "500"],
)
def test_upstream_faults_end_with_error_then_end_and_keep_the_partial_text(
    api: str, fake: FakeOpenAI, reply: Reply, code: str, retryable: bool
) -> None:
    # The SDK retries a 5xx status once (max_retries=1): script the retry to fail the same way.
    fake.enqueue(*([reply, reply] if reply.fault == "status" and reply.status >= 500 else [reply]))
    response, events = stream_events(api, body())
    assert response.status_code == 200
    assert names(events)[0] == "completion-start"
    assert names(events)[-3:] == ["error", "completion-end", "end"]
    error = next(e.data for e in events if e.event == "error")
    assert error["code"] == code
    assert error["retryable"] is retryable
    assert "test-key" not in error["message"]
    end = events[-2].data
    assert end["finish_reason"] == "error"
    streamed = "".join(e.data["text"] for e in events if e.event == "completion-continue")
    assert end["text"] == streamed
    if reply.fault in ("drop", "error_event"):
        assert streamed == "Hello from", "the chunks before the fault are kept"
    fake.enqueue(Reply(chunks=["still", " alive"]))
    _, again = stream_events(api, body())
    assert again[-2].data["text"] == "still alive", "the app serves the next request"


def test_rate_limit_is_reported_as_retryable(api: str, fake: FakeOpenAI) -> None:
    limited = Reply(fault="status", status=429)
    fake.enqueue(limited, limited)
    _, events = stream_events(api, body())
    error = next(e.data for e in events if e.event == "error")
    assert (error["code"], error["retryable"]) == ("rate_limit", True)


def test_a_stalled_upstream_times_out_with_a_retryable_error(api: str, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(fault="stall", fault_after=1))
    _, events = stream_events(api, body())
    error = next(e.data for e in events if e.event == "error")
    assert error["code"] == "timeout"
    assert events[-2].data["text"] == "Hello"


def test_client_disconnect_closes_the_upstream_stream_at_once(api: str, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(fault="stall", fault_after=1))
    before = fake.disconnects
    with (
        httpx.Client(timeout=10) as client,
        client.stream("POST", f"{api}/v1/interact/stream", json=body()) as response,
    ):
        for line in response.iter_lines():
            if line.startswith("event: completion-continue"):
                break
    assert wait_until(lambda: fake.disconnects == before + 1, 10), (
        "the upstream saw the disconnect within 1.5 s"
    )


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        (body(colour="blue"), 422, "colour"),
        (body(model="openai:no-such-model"), 400, "model"),
        (body(model="anthropic:claude"), 400, "model"),
        (body(prompt="no-such-prompt"), 400, "prompt"),
        (body(prompt="default-prompt-node@99"), 400, "prompt"),
        (body(voice="deepgram:aura-2-thalia-en"), 400, "voice"),
        (body(voice="local:nobody"), 400, "voice"),
        (body(node="workflow"), 422, "node"),
        (body(message=""), 422, "message"),
        (body(message="x" * 2_001), 400, "message"),
        (body(history=[{"role": "system", "content": "x"}]), 422, "history.0.role"),
        (body(features={"magic": True}), 422, "features.magic"),
        (body(temperature=5), 422, "temperature"),
        ({"model": "openai:gpt-4o-mini"}, 422, "message"),
    ],
    ids=[
        "unknown-field",
        "unknown-model",
        "unknown-engine",
        "unknown-prompt",
        "unknown-version",
        "voice-without-key",
        "unknown-voice",
        "bad-node",
        "empty-message",
        "long-message",
        "bad-history-role",
        "unknown-feature",
        "bad-temperature",
        "missing-message",
    ],
)
def test_bad_requests_get_a_4xx_json_error_naming_the_field_before_any_stream(
    api: str, payload: dict[str, object], status: int, field: str
) -> None:
    response = httpx.post(f"{api}/v1/interact/stream", json=payload, timeout=10)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["field"] == field
    assert error["message"]


def test_malformed_and_oversize_bodies_are_refused(api: str) -> None:
    bad_json = httpx.post(
        f"{api}/v1/interact/stream",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert bad_json.status_code == 400
    assert bad_json.json()["error"]["code"] == "invalid_json"
    not_object = httpx.post(f"{api}/v1/interact/stream", json=["a"])
    assert not_object.status_code == 422
    huge = httpx.post(f"{api}/v1/interact/stream", json=body(message="x" * 30_000))
    assert huge.status_code == 413
    assert huge.json()["error"]["code"] == "body_too_large"


def test_azure_deployments_are_called_with_the_azure_wire_format(
    api: str, fake: FakeOpenAI
) -> None:
    _, events = stream_events(api, body(model="azure:dep1"))
    assert events[-2].data["finish_reason"] == "stop"
    request = fake.chat_requests[-1]
    assert request.path == "/openai/deployments/dep1/chat/completions"
    assert request.query["api-version"] == "2024-10-21"
    assert request.headers["api-key"] == "azure-key"


def test_compatible_servers_are_called_by_base_url(api: str, fake: FakeOpenAI) -> None:
    _, events = stream_events(api, body(model="compatible:fake-model"))
    assert events[0].data["model"] == "compatible:fake-model"
    assert fake.chat_requests[-1].body["model"] == "fake-model"


def test_agent_node_buffers_tool_calls_until_complete_then_streams_the_answer(
    api: str, fake: FakeOpenAI
) -> None:
    fake.enqueue(
        Reply(
            chunks=["Let me work that out."],
            tool_calls=[
                ToolCallSpec(
                    "calculator", '{"expression": "12 * (3 + 4)"}', call_id="c1", fragments=5
                ),
                ToolCallSpec("current_time", '{"timezone": "Europe/Paris"}', call_id="c2"),
            ],
        ),
        Reply(chunks=[" It is", " 84."]),
    )
    _, events = stream_events(api, body(node="agent", message="What is 12*(3+4)?"))
    order = names(events)
    assert order.count("tool-call") == 2 and order.count("tool-result") == 2
    calls = [e.data for e in events if e.event == "tool-call"]
    assert calls[0] == {
        "call_id": "c1",
        "name": "calculator",
        "arguments": {"expression": "12 * (3 + 4)"},
        "t_ms": calls[0]["t_ms"],
    }
    results = {e.data["call_id"]: e.data for e in events if e.event == "tool-result"}
    assert results["c1"]["output"] == "84"
    assert "Paris" in results["c2"]["output"]
    assert events[-2].data["text"] == "Let me work that out. It is 84."
    second = fake.chat_requests[-1].body["messages"]
    assert second[-3]["tool_calls"][0]["function"]["name"] == "calculator"
    assert {m["tool_call_id"]: m["content"] for m in second if m["role"] == "tool"}["c1"] == "84"
    assert fake.chat_requests[-1].body["tools"][0]["function"]["name"] == "calculator"


def test_listing_endpoints_show_availability_and_reasons(api: str) -> None:
    models = httpx.get(f"{api}/v1/models").json()
    by_id = {m["id"]: m for m in models["data"]}
    # OPENAI_BASE_URL is the fake, not OpenAI: its models are offered under its host instead.
    assert by_id["openai:gpt-4o-mini"]["available"] is False
    assert "127.0.0.1" in by_id["openai:gpt-4o-mini"]["reason"]
    assert by_id["compatible:fake-model"]["available"] is True
    assert by_id["azure:dep1"]["available"] is True
    assert by_id["local:smollm2-135m"]["engine"] == "local"
    assert models["default"] == "compatible:fake-model"
    voices = {v["id"]: v for v in httpx.get(f"{api}/v1/voices").json()["data"]}
    assert voices["deepgram:aura-2-thalia-en"]["available"] is False
    assert "DEEPGRAM_API_KEY" in voices["deepgram:aura-2-thalia-en"]["reason"]
    assert voices["local:joe"]["available"] is True
    prompts = httpx.get(f"{api}/v1/prompts").json()["data"]
    agent = next(p for p in prompts if p["id"] == "default-agent-node")
    assert agent == {
        **agent,
        "version": 1,
        "node": "agent",
        "format": "v2",
        "tools": ["calculator", "current_time"],
        "has_output_schema": False,
    }
    health = httpx.get(f"{api}/healthz").json()
    assert health["status"] == "ok"


def test_keys_are_never_echoed_in_listings(api: str) -> None:
    for path in ("/v1/models", "/v1/voices", "/v1/prompts", "/healthz"):
        text = httpx.get(f"{api}{path}").text
        assert "test-key" not in text and "azure-key" not in text


@pytest.mark.parametrize("streaming", [True, False])
def test_the_cost_counts_cached_prompt_tokens_at_the_cached_rate(
    api: str, fake: FakeOpenAI, streaming: bool
) -> None:
    fake.enqueue(Reply(chunks=["Cheap."], usage=(1000, 200), cached_tokens=800))
    _, events = stream_events(api, body(streaming=streaming))
    end = events[-2].data
    assert end["usage"]["cached_tokens"] == 800
    # gpt-4o-mini: $0.15 input, $0.075 cached input, $0.60 output per 1M tokens.
    assert end["cost"]["input_usd"] == pytest.approx((200 * 0.15 + 800 * 0.075) / 1e6)
    assert end["cost"]["output_usd"] == pytest.approx(200 * 0.60 / 1e6)
    assert end["cost"]["usd"] == pytest.approx(end["cost"]["input_usd"] + end["cost"]["output_usd"])


@pytest.mark.parametrize("model", ["compatible:fake-model", "azure:dep1"])
def test_a_model_without_a_price_has_no_cost_rather_than_a_zero_one(
    api: str, fake: FakeOpenAI, model: str
) -> None:
    _, events = stream_events(api, body(model=model))
    end = events[-2].data
    assert end["usage"]["completion_tokens"] > 0
    assert end["cost"] is None
