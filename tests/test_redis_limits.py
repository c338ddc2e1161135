"""The per-client limits shared in Redis (``PLAYGROUND_REDIS_URL``): a real ``redis-server`` on a
free loopback port and the real ``redis`` client. Two limiters (two replicas) count one rate and
one concurrency cap per client; a replica that dies frees its slots when its leases run out; an
unreachable Redis refuses turns with a clear error and the limits work again once it is back;
and two app processes' worth of servers refuse the fifth concurrent turn between them."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from redis import Redis

from playground.server import build_app
from playground.state.redis_limits import LimitsUnavailable, RedisClientLimiter
from playground.turn.gate import TurnGate, TurnRefused
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.redis_support import RedisServer
from tests.support import live_server, make_test_services, wait_until


def replica(server: RedisServer, **limits: float) -> RedisClientLimiter:
    values = {"per_minute": 100, "max_concurrent": 4, **limits}
    return RedisClientLimiter(
        Redis.from_url(server.url, socket_timeout=1.0, socket_connect_timeout=1.0),
        per_minute=int(values["per_minute"]),
        max_concurrent=int(values["max_concurrent"]),
        lease_s=values.get("lease_s", 30.0),
        renew_every_s=values.get("renew_every_s", 10.0),
    )


def test_two_replicas_share_one_concurrency_cap_per_client(redis_server: RedisServer) -> None:
    a, b = replica(redis_server), replica(redis_server)
    assert [a.admit("ann"), a.admit("ann"), b.admit("ann"), b.admit("ann")] == [None] * 4
    assert a.admit("ann") == 1.0 and b.admit("ann") == 1.0  # the fifth, on either replica
    assert b.admit("bo") is None, "clients are counted apart"
    a.release("ann")  # a turn on A ends: B may start one
    assert b.admit("ann") is None
    assert a.admit("ann") == 1.0


def test_two_replicas_share_one_rate_window(redis_server: RedisServer) -> None:
    a, b = replica(redis_server, per_minute=3), replica(redis_server, per_minute=3)
    for limiter in (a, b, a):
        assert limiter.admit("ann") is None
        limiter.release("ann")
    wait = b.admit("ann")
    assert wait is not None and 1 <= wait <= 60


def test_a_replica_that_dies_frees_its_slots_when_its_leases_run_out(
    redis_server: RedisServer,
) -> None:
    dying = replica(redis_server, max_concurrent=1, lease_s=1.0, renew_every_s=0.3)
    living = replica(redis_server, max_concurrent=1, lease_s=1.0, renew_every_s=0.3)
    assert dying.admit("ann") is None
    # While it lives, its running turn's lease is renewed past its first second.
    time.sleep(1.5)
    assert living.admit("ann") == 1.0
    dying.close()  # dies: nothing renews, nothing is released
    assert wait_until(lambda: living.admit("ann") is None, 5), "the slot was never freed"


def test_an_unreachable_redis_refuses_turns_clearly_and_the_limits_come_back(
    redis_server: RedisServer,
) -> None:
    limiter = replica(redis_server)
    gate = TurnGate(limiter)
    gate.enter("ann")()
    redis_server.stop()
    with pytest.raises(LimitsUnavailable, match="cannot count its limits") as refused:
        gate.enter("ann")
    assert isinstance(refused.value, TurnRefused) and refused.value.retry_after == 1
    redis_server.start()  # the same port, empty: the next turn is counted again
    assert wait_until(lambda: _admitted(gate, "ann"), 10)


def _admitted(gate: TurnGate, client: str) -> bool:
    try:
        gate.enter(client)()
    except TurnRefused:
        return False
    return True


def test_two_app_replicas_refuse_the_fifth_concurrent_turn_between_them(
    redis_server: RedisServer,
) -> None:
    with FakeOpenAI() as fake:
        gate = threading.Event()
        for _ in range(4):
            fake.enqueue(Reply(chunks=["held ", "then done."], gate=gate, gate_after=1))
        settings = {
            "openai_api_key": "test-key",
            "openai_base_url": fake.base_url,
            "playground_redis_url": redis_server.url,
            "playground_max_concurrent_turns": 4,
        }
        with (
            live_server(build_app(make_test_services(**settings), warm_up=False)) as one,
            live_server(build_app(make_test_services(**settings), warm_up=False)) as two,
            httpx.Client(timeout=30) as client,
        ):
            body = {"message": "hold on", "model": "openai:gpt-4o-mini", "voice": None}
            streams = [
                client.stream("POST", f"{url}/v1/interact/stream", json=body)
                for url in (one, two, one, two)
            ]
            try:
                opened = [s.__enter__() for s in streams]
                assert [r.status_code for r in opened] == [200] * 4
                assert wait_until(lambda: len(fake.chat_requests) >= 4, 10)
                fifth = client.post(f"{two}/v1/interact/stream", json=body)
                assert fifth.status_code == 429, fifth.text
                assert fifth.json()["error"]["code"] == "rate_limited"
            finally:
                gate.set()
                for stream in streams:
                    stream.__exit__(None, None, None)
