"""The resumable turn log: what a follower receives, and what the registry keeps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from playground.turn.log import KEEPALIVE, TurnLog, TurnRegistry
from playground.turn.runner import PreparedTurn


class _Turn:
    def __init__(self, turn_id: str) -> None:
        self.turn_id = turn_id
        self.stopped = False

    def request_stop(self) -> None:
        self.stopped = True


def _turn(turn_id: str) -> PreparedTurn:
    return cast(PreparedTurn, _Turn(turn_id))


def _registry(**limits: Any) -> TurnRegistry:
    settings: dict[str, Any] = {
        "grace_s": 5.0,
        "retention_s": 300.0,
        "max_turns": 100,
        "max_bytes": 1_000_000,
        "keepalive_s": 10.0,
    }
    return TurnRegistry(**{**settings, **limits})


async def _frames(*frames: bytes) -> AsyncIterator[bytes]:
    for frame in frames:
        yield frame


async def _finished(registry: TurnRegistry, turn_id: str, *frames: bytes) -> TurnLog:
    log = registry.start(_turn(turn_id), "ip:test", _frames(*frames))
    assert log.task is not None
    await log.task
    return log


async def _read(log: TurnLog, after: int = -1, keepalive_s: float = 10.0) -> list[bytes]:
    return [part async for part in log.follow(after, keepalive_s)]


async def test_frames_already_logged_reach_a_follower_as_the_same_bytes_in_one_write() -> None:
    log = TurnLog(turn_id="t", client="c")
    for n in range(3):
        log.append(f"id: {n}\n\n".encode())
    log.finish()
    assert await _read(log) == [b"id: 0\n\nid: 1\n\nid: 2\n\n"]
    assert await _read(log, after=1) == [b"id: 2\n\n"]


async def test_live_frames_are_followed_and_silence_gets_keep_alives() -> None:
    log = TurnLog(turn_id="t", client="c")
    received: list[bytes] = []
    kept_alive = asyncio.Event()

    async def follow() -> None:
        async for part in log.follow(-1, keepalive_s=0.01):
            received.append(part)
            if part == KEEPALIVE:
                kept_alive.set()

    follower = asyncio.create_task(follow())
    await kept_alive.wait()
    log.append(b"a")
    log.append(b"b")
    log.finish()
    await follower
    assert b"".join(part for part in received if part != KEEPALIVE) == b"ab"


async def test_finished_turns_expire_after_the_retention_time() -> None:
    registry = _registry(retention_s=0.05)
    await _finished(registry, "old", b"x")
    assert registry.get("old") is not None
    await asyncio.sleep(0.1)
    assert registry.get("old") is None


async def test_the_oldest_finished_turns_go_first_when_over_the_count_or_byte_budget() -> None:
    registry = _registry(max_turns=2, max_bytes=10)
    running = registry.start(_turn("running"), "ip:test", _never())
    await _finished(registry, "a", b"12345")
    await _finished(registry, "b", b"12345")
    await _finished(registry, "c", b"123")
    assert registry.get("a") is None and registry.get("b") is None
    assert registry.get("c") is not None and registry.get("running") is running
    assert running.task is not None
    running.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running.task


async def test_a_byte_budget_alone_drops_finished_turns_until_it_fits() -> None:
    registry = _registry(max_bytes=8)
    await _finished(registry, "a", b"12345")
    await _finished(registry, "b", b"12345")
    await _finished(registry, "c", b"1")
    assert [registry.get(t) is not None for t in ("a", "b", "c")] == [False, True, True]


async def _never() -> AsyncIterator[bytes]:
    await asyncio.Event().wait()
    yield b""
