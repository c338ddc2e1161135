"""Client API: resumable streams, cancel, grace period, keep-alives, limits, Voiceflow, OpenAPI."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from playground.api.limits import ClientLimiter
from playground.server import build_app
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.support import SSEEvent, live_server, make_test_services, parse_sse_lines, wait_until

CHUNKS = [f"w{i} " for i in range(30)]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def serve(fake: FakeOpenAI, **settings: object) -> Iterator[str]:
    services = make_test_services(
        openai_api_key="test-key", openai_base_url=fake.base_url, **settings
    )
    with live_server(build_app(services, warm_up=False)) as url:
        yield url


@pytest.fixture(scope="module")
def api(fake: FakeOpenAI) -> Iterator[str]:
    yield from serve(fake, playground_resume_grace_s=1.5, playground_keepalive_s=0.2)


def read_until(response: httpx.Response, count: int) -> list[SSEEvent]:
    events: list[SSEEvent] = []
    for event in parse_sse_lines(response.iter_lines()):
        events.append(event)
        if len(events) >= count:
            break
    return events


def texts(events: list[SSEEvent]) -> str:
    return "".join(e.data["text"] for e in events if e.event == "completion-continue")


def test_a_dropped_stream_resumes_without_losing_or_duplicating_a_chunk(
    api: str, fake: FakeOpenAI
) -> None:
    fake.enqueue(Reply(chunks=CHUNKS, delay=0.03))
    with httpx.Client(timeout=20) as client:
        with client.stream(
            "POST",
            f"{api}/v1/interact/stream",
            json={"message": "go", "model": "openai:gpt-4o-mini"},
        ) as response:
            first = read_until(response, 6)  # start + 5 chunks, then the connection drops
        turn_id = first[0].data["turn_id"]
        last_id = first[-1].id
        time.sleep(0.2)  # chunks keep arriving upstream while nobody listens
        with client.stream(
            "GET", f"{api}/v1/turns/{turn_id}/events", headers={"Last-Event-ID": str(last_id)}
        ) as response:
            rest = list(parse_sse_lines(response.iter_lines()))
    ids = [int(e.id) for e in first + rest if e.id is not None]
    assert ids == list(range(len(ids))), "every frame exactly once, in order"
    assert rest[-1].event == "end" and rest[-2].event == "completion-end"
    assert texts(first + rest) == "".join(CHUNKS)
    assert rest[-2].data["finish_reason"] == "stop"


def test_a_finished_turn_can_be_replayed_from_the_start(api: str, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(chunks=["a", "b", "c"]))
    with httpx.Client(timeout=20) as client:
        with client.stream("POST", f"{api}/v1/interact/stream", json={"message": "go"}) as response:
            whole = list(parse_sse_lines(response.iter_lines()))
        turn_id = whole[0].data["turn_id"]
        with client.stream("GET", f"{api}/v1/turns/{turn_id}/events") as response:
            again = list(parse_sse_lines(response.iter_lines()))
    assert [(e.id, e.event) for e in again] == [(e.id, e.event) for e in whole]


def test_without_a_follower_the_turn_is_stopped_after_the_grace_period(
    api: str, fake: FakeOpenAI
) -> None:
    fake.enqueue(Reply(fault="stall", fault_after=2))
    before = fake.disconnects
    with httpx.Client(timeout=20) as client:
        with client.stream("POST", f"{api}/v1/interact/stream", json={"message": "go"}) as r:
            first = read_until(r, 2)
        disconnected_at = time.monotonic()
        assert not wait_until(lambda: fake.disconnects > before, 1.0), "still in grace"
        assert wait_until(lambda: fake.disconnects > before, 10), "closed after the grace"
        waited = time.monotonic() - disconnected_at
        turn_id = first[0].data["turn_id"]
        with client.stream("GET", f"{api}/v1/turns/{turn_id}/events") as r:
            replay = list(parse_sse_lines(r.iter_lines()))
    assert 1.4 <= waited <= 3.5
    assert replay[-2].data["finish_reason"] == "stopped"
    assert replay[-2].data["text"] == "Hello from", "the partial answer is kept"


def test_cancel_stops_a_turn_at_once_and_the_stream_ends_cleanly(
    api: str, fake: FakeOpenAI
) -> None:
    fake.enqueue(Reply(fault="stall", fault_after=1))
    before = fake.disconnects
    with (
        httpx.Client(timeout=20) as client,
        client.stream("POST", f"{api}/v1/interact/stream", json={"message": "go"}) as response,
    ):
        lines = response.iter_lines()
        events: list[SSEEvent] = []
        for event in parse_sse_lines(lines):
            events.append(event)
            if event.event == "completion-continue":
                turn_id = events[0].data["turn_id"]
                answer = client.post(f"{api}/v1/turns/{turn_id}/cancel")
                assert answer.json() == {"turn_id": turn_id, "status": "stopping"}
        assert wait_until(lambda: fake.disconnects > before, 10)
    assert [e.event for e in events][-2:] == ["completion-end", "end"]
    assert events[-2].data["finish_reason"] == "stopped"
    assert events[-2].data["text"] == "Hello"
    again = httpx.post(f"{api}/v1/turns/{turn_id}/cancel")
    assert again.json()["status"] == "finished"


def test_shutdown_stops_a_turn_waiting_for_its_client_before_the_clients_close(
    fake: FakeOpenAI,
) -> None:
    fake.enqueue(Reply(fault="stall", fault_after=1))
    before = fake.disconnects
    services = make_test_services(
        openai_api_key="test-key", openai_base_url=fake.base_url, playground_resume_grace_s=60
    )
    closed_upstream_first: list[bool] = []

    async def closing_clients() -> None:  # runs as the services close, after the turns stop
        closed = await asyncio.to_thread(wait_until, lambda: fake.disconnects > before, 2.0)
        closed_upstream_first.append(closed)

    with live_server(build_app(services, warm_up=False)) as api:
        services.on_close(closing_clients)
        with (
            httpx.Client(timeout=20) as client,
            client.stream("POST", f"{api}/v1/interact/stream", json={"message": "go"}) as r,
        ):
            read_until(r, 2)
        assert not wait_until(lambda: fake.disconnects > before, 0.3), "in its grace period"
    assert closed_upstream_first == [True]


def test_unknown_turns_are_404(api: str) -> None:
    assert httpx.get(f"{api}/v1/turns/turn_nope/events").status_code == 404
    assert httpx.post(f"{api}/v1/turns/turn_nope/cancel").status_code == 404


def test_keep_alive_comments_flow_while_the_upstream_is_silent(api: str, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(chunks=["slow"], first_delay=0.9))
    comments = 0
    with (
        httpx.Client(timeout=20) as client,
        client.stream("POST", f"{api}/v1/interact/stream", json={"message": "go"}) as response,
    ):
        assert response.headers["x-accel-buffering"] == "no"
        for line in response.iter_lines():
            comments += line.startswith(": keep-alive")
    assert comments >= 2


def test_rate_limit_and_concurrency_cap_answer_429_with_retry_after(fake: FakeOpenAI) -> None:
    for url in serve(fake, playground_rate_limit_per_minute=2, playground_max_concurrent_turns=5):
        assert httpx.post(f"{url}/v1/interact/stream", json={"message": "a"}).status_code == 200
        assert httpx.post(f"{url}/v1/interact/stream", json={"message": "b"}).status_code == 200
        third = httpx.post(f"{url}/v1/interact/stream", json={"message": "c"})
        assert third.status_code == 429
        assert 1 <= int(third.headers["retry-after"]) <= 60
        assert third.json()["error"]["code"] == "rate_limited"


def test_the_concurrent_turn_cap_frees_a_slot_when_a_turn_ends() -> None:
    clock = [0.0]
    limiter = ClientLimiter(per_minute=100, max_concurrent=1, clock=lambda: clock[0])
    assert limiter.admit("a") is None
    assert limiter.admit("a") == 1.0
    assert limiter.admit("b") is None, "clients are limited separately"
    limiter.release("a")
    assert limiter.admit("a") is None


def test_the_request_window_slides() -> None:
    clock = [0.0]
    limiter = ClientLimiter(per_minute=2, max_concurrent=10, clock=lambda: clock[0])
    assert limiter.admit("a") is None
    clock[0] = 30.0
    assert limiter.admit("a") is None
    assert limiter.admit("a") == 30
    clock[0] = 60.5
    assert limiter.admit("a") is None


def raw_voiceflow(
    url: str, project: str, user: str, body: dict[str, object], events: bool
) -> tuple[int, list[str]]:
    with (
        httpx.Client(timeout=20) as client,
        client.stream(
            "POST",
            f"{url}/v2/project/{project}/user/{user}/interact/stream",
            params={"completion_events": "true" if events else "false"},
            json=body,
            headers={"Accept": "text/event-stream"},
        ) as response,
    ):
        return response.status_code, list(response.iter_lines())


def traces(lines: list[str]) -> list[dict[str, Any]]:
    import json

    return [json.loads(line[6:]) for line in lines if line.startswith("data: ")]


def test_voiceflow_completion_events_stream_start_content_end(api: str, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(chunks=["Hi", " there", "!"], usage=(7, 3)))
    status, lines = raw_voiceflow(
        api, "default-prompt-node", "u1", {"action": {"type": "text", "payload": "hello"}}, True
    )
    assert status == 200
    data = traces(lines)
    states = [t["payload"]["state"] for t in data]
    assert states == ["start", "content", "content", "content", "end"]
    assert all(t["type"] == "completion" and isinstance(t["time"], int) for t in data)
    assert "".join(t["payload"].get("content", "") for t in data) == "Hi there!"
    assert data[-1]["payload"]["tokens"]["total"] == 10
    assert [line for line in lines if line.startswith("event:")][-1] == "event: end"
    assert [line for line in lines if line.startswith("id:")] == [f"id: {i}" for i in range(1, 7)]


def test_voiceflow_without_completion_events_sends_one_text_trace(
    api: str, fake: FakeOpenAI
) -> None:
    fake.enqueue(Reply(chunks=["Whole", " message."]))
    _, lines = raw_voiceflow(
        api, "default-prompt-node", "u2", {"action": {"type": "text", "payload": "hello"}}, False
    )
    assert traces(lines) == [
        {"type": "text", "payload": {"message": "Whole message."}, "time": traces(lines)[0]["time"]}
    ]


def test_voiceflow_user_ids_keep_their_own_conversation(api: str, fake: FakeOpenAI) -> None:
    fake.enqueue(
        Reply(chunks=["What is your order number?"]),
        Reply(chunks=["Thanks."]),
        Reply(chunks=["Hello stranger."]),
    )
    raw_voiceflow(
        api,
        "default-prompt-node",
        "alice",
        {"action": {"type": "text", "payload": "I need help"}},
        True,
    )
    raw_voiceflow(
        api, "default-prompt-node", "alice", {"action": {"type": "text", "payload": "A1001"}}, True
    )
    raw_voiceflow(
        api, "default-prompt-node", "bob", {"action": {"type": "text", "payload": "hi"}}, True
    )
    alice = [m["content"] for m in fake.chat_requests[-2].body["messages"][1:]]
    bob = [m["content"] for m in fake.chat_requests[-1].body["messages"][1:]]
    assert alice == ["I need help", "What is your order number?", "A1001"]
    assert bob == ["hi"]
    fake.enqueue(Reply(chunks=["Welcome back."]))
    raw_voiceflow(api, "default-prompt-node", "alice", {"action": {"type": "launch"}}, True)
    assert len(fake.chat_requests[-1].body["messages"]) == 2, "launch starts afresh"


def test_voiceflow_unknown_project_is_404(api: str) -> None:
    status, _ = raw_voiceflow(api, "no-such-prompt", "u", {"action": {"type": "launch"}}, True)
    assert status == 404


def test_the_openapi_schema_describes_the_streaming_api(api: str) -> None:
    schema = httpx.get(f"{api}/openapi.json").json()
    paths = schema["paths"]
    for path in (
        "/v1/interact/stream",
        "/v1/turns/{turn_id}/events",
        "/v1/turns/{turn_id}/cancel",
        "/v1/models",
        "/v1/prompts",
        "/v1/voices",
        "/v2/project/{project_id}/user/{user_id}/interact/stream",
        "/healthz",
    ):
        assert path in paths
    stream = paths["/v1/interact/stream"]["post"]
    body_schema = stream["requestBody"]["content"]["application/json"]["schema"]
    assert "message" in body_schema["properties"] and body_schema["additionalProperties"] is False
    assert "text/event-stream" in stream["responses"]["200"]["content"]


def test_cors_is_open_to_other_origins_without_credentials(api: str) -> None:
    preflight = httpx.options(
        f"{api}/v1/interact/stream",
        headers={
            "Origin": "http://example.test",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in preflight.headers


def test_the_api_token_is_enforced_when_set(fake: FakeOpenAI) -> None:
    for url in serve(fake, playground_api_token="s3cret"):
        assert httpx.get(f"{url}/v1/models").status_code == 401
        denied = httpx.post(f"{url}/v1/interact/stream", json={"message": "x"})
        assert denied.status_code == 401 and "s3cret" not in denied.text
        ok = httpx.get(f"{url}/v1/models", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        assert httpx.get(f"{url}/healthz").status_code == 200
