"""API turns shared between replicas through Redis (``PLAYGROUND_REDIS_URL``): app servers on one
real ``redis-server``. A cancel sent through the replica that does not run the turn stops it
where it runs (its upstream closes, its stream ends stopped); a client resumes a turn through
another replica from its Last-Event-ID with nothing lost or repeated, and is kept from the
running replica's grace while it follows; a client of a replica killed mid-turn (a real
process, SIGKILL) gets error + completion-end + end through another; a turn no replica runs is a
404."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import httpx
from redis import Redis

from playground.server import build_app
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.redis_support import RedisServer, free_port
from tests.support import live_server, make_test_services, parse_sse_lines, wait_until


def test_a_cancel_through_another_replica_stops_the_turn_where_it_runs(
    redis_server: RedisServer,
) -> None:
    with FakeOpenAI() as fake:
        gate = threading.Event()
        fake.enqueue(Reply(chunks=["One ", "two ", "three."], gate=gate, gate_after=1))
        settings = {
            "openai_api_key": "test-key",
            "openai_base_url": fake.base_url,
            "playground_redis_url": redis_server.url,
        }
        with (
            live_server(build_app(make_test_services(**settings), warm_up=False)) as runs_it,
            live_server(build_app(make_test_services(**settings), warm_up=False)) as other,
            httpx.Client(timeout=30) as client,
        ):
            body = {"message": "count", "model": "openai:gpt-4o-mini", "voice": None}
            try:
                with client.stream("POST", f"{runs_it}/v1/interact/stream", json=body) as response:
                    events = parse_sse_lines(response.iter_lines())
                    started = next(e for e in events if e.event == "completion-start")
                    turn_id = started.data["turn_id"]
                    next(e for e in events if e.event == "completion-continue")
                    before = fake.disconnects
                    cancelled = client.post(f"{other}/v1/turns/{turn_id}/cancel")
                    assert cancelled.status_code == 200, cancelled.text
                    assert cancelled.json() == {"turn_id": turn_id, "status": "stopping"}
                    assert fake.wait_for_disconnect(timeout=10), "the upstream is still open"
                    assert fake.disconnects == before + 1
                    rest = list(events)
            finally:
                gate.set()
            end = next(e for e in rest if e.event == "completion-end")
            assert end.data["finish_reason"] == "stopped" and end.data["text"] == "One "
            assert rest[-1].event == "end"
            unknown = client.post(f"{other}/v1/turns/turn_0000000000000000/cancel")
            assert unknown.status_code == 404, json.dumps(unknown.json())


def _events_after_cut(
    client: httpx.Client, url: str, body: Mapping[str, object]
) -> tuple[str, int]:
    """Start a turn at ``url`` and leave after its first piece of text: its id and that
    frame's SSE id."""
    with client.stream("POST", f"{url}/v1/interact/stream", json=body) as response:
        events = parse_sse_lines(response.iter_lines())
        turn_id = next(e for e in events if e.event == "completion-start").data["turn_id"]
        first = next(e for e in events if e.event == "completion-continue")
        assert first.data["text"] == "One " and first.id is not None
        return turn_id, int(first.id)


def test_a_turn_resumes_through_another_replica_with_nothing_lost_or_repeated(
    redis_server: RedisServer,
) -> None:
    with FakeOpenAI() as fake:
        gate = threading.Event()
        fake.enqueue(Reply(chunks=["One ", "two ", "three."], gate=gate, gate_after=1))
        settings = {
            "openai_api_key": "test-key",
            "openai_base_url": fake.base_url,
            "playground_redis_url": redis_server.url,
            # Shorter than the wait below: the turn lives on only because it is followed.
            "playground_resume_grace_s": 1.0,
            "playground_keepalive_s": 0.5,
        }
        with (
            live_server(build_app(make_test_services(**settings), warm_up=False)) as runs_it,
            live_server(build_app(make_test_services(**settings), warm_up=False)) as other,
            httpx.Client(timeout=30) as client,
        ):
            body = {"message": "count", "model": "openai:gpt-4o-mini", "voice": None}
            try:
                turn_id, seen = _events_after_cut(client, runs_it, body)
                disconnects = fake.disconnects
                # Held upstream for 2.5 s (over the grace) while the client follows elsewhere.
                threading.Timer(2.5, gate.set).start()
                with client.stream(
                    "GET",
                    f"{other}/v1/turns/{turn_id}/events",
                    headers={"Last-Event-ID": str(seen)},
                ) as resumed:
                    assert resumed.status_code == 200
                    rest = list(parse_sse_lines(resumed.iter_lines()))
            finally:
                gate.set()
        ids = [int(e.id) for e in rest if e.id is not None]
        assert ids == sorted(set(ids)) and ids[0] == seen + 1, ids  # none lost, none twice
        texts = [e.data["text"] for e in rest if e.event == "completion-continue"]
        assert texts == ["two ", "three."]
        end = next(e for e in rest if e.event == "completion-end")
        assert end.data["finish_reason"] == "stop" and end.data["text"] == "One two three."
        assert rest[-1].event == "end"
        assert fake.disconnects == disconnects, "the turn was stopped"


def test_a_retried_post_reaching_another_replica_follows_the_turn_its_key_started(
    redis_server: RedisServer,
) -> None:
    with FakeOpenAI() as fake:
        gate = threading.Event()
        fake.enqueue(Reply(chunks=["One ", "two ", "three."], gate=gate, gate_after=1))
        settings = {
            "openai_api_key": "test-key",
            "openai_base_url": fake.base_url,
            "playground_redis_url": redis_server.url,
            # Behind a (pretend) proxy: X-Forwarded-For plays a second caller below.
            "playground_trust_forwarded_for": True,
        }
        with (
            live_server(build_app(make_test_services(**settings), warm_up=False)) as runs_it,
            live_server(build_app(make_test_services(**settings), warm_up=False)) as other,
            httpx.Client(timeout=30) as client,
        ):
            body = {"message": "count", "model": "openai:gpt-4o-mini", "voice": None}
            key = {"Idempotency-Key": f"retry-{time.monotonic_ns()}"}
            try:
                with client.stream(
                    "POST", f"{runs_it}/v1/interact/stream", json=body, headers=key
                ) as response:
                    first = []
                    for event in parse_sse_lines(response.iter_lines()):
                        first.append(event)
                        if event.event == "completion-continue":
                            break  # the connection drops mid-answer
                requests = len(fake.chat_requests)
                # The load balancer sends the client library's retry to the other replica.
                retry = {**key, "Last-Event-ID": str(first[-1].id)}
                threading.Timer(0.5, gate.set).start()
                with client.stream(
                    "POST", f"{other}/v1/interact/stream", json=body, headers=retry
                ) as response:
                    assert response.status_code == 200
                    rest = list(parse_sse_lines(response.iter_lines()))
            finally:
                gate.set()
            assert len(fake.chat_requests) == requests, "the retry started a second turn"
            # Another caller's same key is its own turn, through either replica.
            fake.enqueue(Reply(chunks=["Mine."]))
            elsewhere = {**key, "X-Forwarded-For": "192.0.2.7"}
            own = client.post(f"{other}/v1/interact/stream", json=body, headers=elsewhere)
            assert own.status_code == 200 and "Mine." in own.text
        ids = [int(e.id) for e in first + rest if e.id is not None]
        assert ids == list(range(len(ids))), "every frame once, in order"
        texts = [e.data["text"] for e in first + rest if e.event == "completion-continue"]
        assert "".join(texts) == "One two three."
        assert rest[-1].event == "end"


def test_a_client_of_a_replica_that_died_mid_turn_gets_an_ending_through_another(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    with FakeOpenAI() as fake:
        gate = threading.Event()
        fake.enqueue(Reply(chunks=["One ", "two ", "three."], gate=gate, gate_after=1))
        port = free_port()
        env = {
            **os.environ,
            "OPENAI_API_KEY": "test-key",
            "OPENAI_BASE_URL": fake.base_url,
            "PLAYGROUND_REDIS_URL": redis_server.url,
            "PLAYGROUND_NOTEBOOK_DB": str(tmp_path / "nb.sqlite3"),
            "NO_PROXY": "127.0.0.1,localhost",
        }
        dying = subprocess.Popen(
            [sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port)],
            cwd=Path(__file__).resolve().parent.parent,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        runs_it = f"http://127.0.0.1:{port}"
        settings = {
            "openai_api_key": "test-key",
            "openai_base_url": fake.base_url,
            "playground_redis_url": redis_server.url,
        }
        try:
            assert wait_until(lambda: _healthy(runs_it), 120), "the replica did not start"
            with (
                live_server(build_app(make_test_services(**settings), warm_up=False)) as other,
                httpx.Client(timeout=30) as client,
            ):
                body = {"message": "count", "model": "openai:gpt-4o-mini", "voice": None}
                turn_id, seen = _events_after_cut(client, runs_it, body)
                # Frames reach Redis just after the client (never delaying it): the text the
                # ending keeps is what was mirrored, so let the first piece get there first.
                mirror = Redis.from_url(redis_server.url)
                assert wait_until(lambda: mirror.xlen(f"sp:turns:log:{turn_id}") > seen, 10)
                dying.kill()  # mid-turn: no stop, no goodbye
                dying.wait(timeout=10)
                started = time.monotonic()
                with client.stream(
                    "GET",
                    f"{other}/v1/turns/{turn_id}/events",
                    headers={"Last-Event-ID": str(seen)},
                ) as resumed:
                    rest = list(parse_sse_lines(resumed.iter_lines()))
                took = time.monotonic() - started
        finally:
            gate.set()
            dying.kill()
        names = [e.event for e in rest]
        assert names[-3:] == ["error", "completion-end", "end"], names
        error, end = rest[-3].data, rest[-2].data
        assert error["stage"] == "replica" and error["retryable"] is True
        assert end["finish_reason"] == "error" and end["text"] == "One "
        assert took < 15, f"the ending took {took:.1f} s"


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_redis_restarted_mid_turn_leaves_the_turn_whole_and_the_app_serving(
    redis_server: RedisServer,
) -> None:
    with FakeOpenAI() as fake:
        gate = threading.Event()
        fake.enqueue(Reply(chunks=["One ", "two ", "three."], gate=gate, gate_after=1))
        settings = {
            "openai_api_key": "test-key",
            "openai_base_url": fake.base_url,
            "playground_redis_url": redis_server.url,
        }
        with (
            live_server(build_app(make_test_services(**settings), warm_up=False)) as url,
            httpx.Client(timeout=30) as client,
        ):
            body = {"message": "count", "model": "openai:gpt-4o-mini", "voice": None}
            try:
                with client.stream("POST", f"{url}/v1/interact/stream", json=body) as response:
                    events = parse_sse_lines(response.iter_lines())
                    next(e for e in events if e.event == "completion-continue")
                    redis_server.stop()  # gone mid-turn...
                    redis_server.start()  # ...and back, empty
                    gate.set()
                    rest = list(events)
            finally:
                gate.set()
            # The turn ran where it ran: its client got the whole answer and a clean end.
            end = next(e for e in rest if e.event == "completion-end")
            assert end.data["finish_reason"] == "stop" and end.data["text"] == "One two three."
            assert rest[-1].event == "end" and not any(e.event == "error" for e in rest)
            # The app keeps serving: the next turn is admitted and answered.
            fake.enqueue(Reply(chunks=["Again."]))
            again = client.post(f"{url}/v1/interact/stream", json=body)
            assert again.status_code == 200 and "Again." in again.text


def test_a_voiceflow_conversation_goes_on_through_another_replica(
    redis_server: RedisServer,
) -> None:
    with FakeOpenAI() as fake:
        fake.enqueue(Reply(chunks=["What is your order number?"]), Reply(chunks=["It ships."]))
        settings = {
            "openai_api_key": "test-key",
            "openai_base_url": fake.base_url,
            "playground_redis_url": redis_server.url,
        }
        with (
            live_server(build_app(make_test_services(**settings), warm_up=False)) as one,
            live_server(build_app(make_test_services(**settings), warm_up=False)) as two,
            httpx.Client(timeout=30) as client,
        ):
            path = "/v2/project/default-prompt-node/user/ann/interact/stream"
            for url, said in ((one, "Where is my order?"), (two, "A1001")):
                answer = client.post(
                    f"{url}{path}",
                    params={"completion_events": "false"},
                    json={"action": {"type": "text", "payload": said}},
                )
                assert answer.status_code == 200, answer.text
        sent = [m["content"] for m in fake.chat_requests[-1].body["messages"][1:]]
        assert sent == ["Where is my order?", "What is your order number?", "A1001"]
