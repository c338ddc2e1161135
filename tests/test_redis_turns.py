"""API turns shared between replicas through Redis (``PLAYGROUND_REDIS_URL``): two app servers
on one real ``redis-server``; a cancel sent through the replica that does not run the turn stops
it on the one that does (its upstream closes, its stream ends stopped), and a turn no replica
runs is still a 404."""

from __future__ import annotations

import json
import threading

import httpx

from playground.server import build_app
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.redis_support import RedisServer
from tests.support import live_server, make_test_services, parse_sse_lines


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
