"""The resumable turn log (``playground.turn.log``): following from an index, the grace period,
retention within budgets, owner lookup, shutdown; and the API's SSE frames of a log
(``playground.api.turn_frames``): cached encodings, batching, keep-alives, resume by id."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from playground.api.turn_frames import KEEPALIVE, encode_event, follow_frames
from playground.turn.events import Event, TextChunk
from playground.turn.log import TurnLog, TurnLogs
from playground.turn.runner import PreparedTurn


class _Turn:
    """What a log needs of a prepared turn: its id and a stop that its event stream obeys."""

    def __init__(self, turn_id: str) -> None:
        self.turn_id = turn_id
        self.stop_signal = asyncio.Event()

    def request_stop(self, *, interrupted: bool = False) -> None:
        self.stop_signal.set()


def _chunk(n: int) -> TextChunk:
    return TextChunk(text=f"w{n} ", snapshot="", seq=n, t_ms=float(n), gap_ms=1.0)


def _log(turn_id: str = "t", owner: str | None = "ip:test", **fields: Any) -> TurnLog:
    return TurnLog(turn_id=turn_id, owner=owner, turn=cast(PreparedTurn, _Turn(turn_id)), **fields)


def _stop_signal(log: TurnLog) -> asyncio.Event:
    assert log.turn is not None
    return cast(_Turn, log.turn).stop_signal


def _logs(**limits: Any) -> TurnLogs[TurnLog]:
    settings: dict[str, Any] = {
        "grace_s": 5.0,
        "retention_s": 300.0,
        "max_turns": 100,
        "max_bytes": 1_000_000,
        "encode": lambda event, index: f"id: {index}\n{event.text}\n\n".encode(),
    }
    return TurnLogs(**{**settings, **limits})


async def _events(*events: Event) -> AsyncIterator[Event]:
    for event in events:
        yield event


async def _until_stopped(stop: asyncio.Event, *, ignore_stop: bool = False) -> AsyncIterator[Event]:
    """One chunk, then silence until the turn is asked to stop (a stall, when it ignores it)."""
    yield _chunk(0)
    await stop.wait()
    if ignore_stop:
        await asyncio.Event().wait()


def _running(logs: TurnLogs[TurnLog], turn_id: str, **fields: Any) -> TurnLog:
    log = _log(turn_id, **fields)
    return logs.start(log, _until_stopped(_stop_signal(log)))


async def _finished(logs: TurnLogs[TurnLog], turn_id: str, *texts: str) -> TurnLog:
    chunks = [TextChunk(text=t, snapshot=t, seq=0, t_ms=0.0, gap_ms=0.0) for t in texts]
    log = logs.start(_log(turn_id), _events(*chunks))
    assert log.task is not None
    await log.task
    return log


async def _read(log: TurnLog, after: int = -1, keepalive_s: float = 10.0) -> list[bytes]:
    return [part async for part in follow_frames(log, after, keepalive_s)]


def _ended(log: TurnLog, count: int) -> TurnLog:
    for n in range(count):
        log.append(_chunk(n), encode_event(_chunk(n), n))
    log.finish(complete=True)
    return log


# -- following ---------------------------------------------------------------------------------


async def test_events_are_followed_from_any_index_then_live() -> None:
    log = _log()
    log.append(_chunk(0))
    log.append(_chunk(1))
    seen: list[Event] = []

    async def follow() -> None:
        async for event in log.events_from(1):
            seen.append(event)

    follower = asyncio.create_task(follow())
    await asyncio.sleep(0)
    assert seen == [_chunk(1)]
    log.append(_chunk(2))
    log.finish(complete=True)
    await asyncio.wait_for(follower, 1)
    assert seen == [_chunk(1), _chunk(2)]


async def test_a_silent_log_ticks_for_keep_alives_and_wakes_on_a_change() -> None:
    log = _log()
    assert await log.changed(0.01) is False
    waiting = asyncio.create_task(log.changed(10.0))
    await asyncio.sleep(0)
    log.append(_chunk(0))
    assert await asyncio.wait_for(waiting, 1) is True


async def test_logged_frames_reach_a_follower_as_the_same_bytes_in_one_write_with_end() -> None:
    log = _ended(_log(), 3)
    frames = [encode_event(_chunk(n), n) for n in range(3)]
    end = b"id: 3\nevent: end\ndata: {}\n\n"
    assert await _read(log) == [b"".join(frames) + end]
    assert await _read(log, after=1) == [frames[2] + end]  # Last-Event-ID: 1
    assert await _read(log, after=2) == [end]
    assert await _read(log, after=3) == []  # the client already saw the end


async def test_a_cut_short_log_ends_without_the_end_frame() -> None:
    log = _log()
    log.append(_chunk(0), encode_event(_chunk(0), 0))
    log.finish(complete=False)
    assert await _read(log) == [encode_event(_chunk(0), 0)]


async def test_live_frames_are_followed_and_silence_gets_keep_alives() -> None:
    log = _log()
    received: list[bytes] = []
    kept_alive = asyncio.Event()

    async def follow() -> None:
        async for part in follow_frames(log, -1, keepalive_s=0.01):
            received.append(part)
            if part == KEEPALIVE:
                kept_alive.set()

    follower = asyncio.create_task(follow())
    await kept_alive.wait()
    _ended(log, 2)
    await follower
    body = b"".join(part for part in received if part != KEEPALIVE)
    assert body == encode_event(_chunk(0), 0) + encode_event(_chunk(1), 1) + (
        b"id: 2\nevent: end\ndata: {}\n\n"
    )


async def test_each_event_is_encoded_once_whatever_the_number_of_followers() -> None:
    encoded: list[int] = []

    def encode(event: Event, index: int) -> bytes:
        encoded.append(index)
        return f"{index};".encode()

    log = await _finished(_logs(encode=encode), "t", "a", "b")
    assert await _read(log) == await _read(log) == [b"0;1;id: 2\nevent: end\ndata: {}\n\n"]
    assert encoded == [0, 1] and log.size == 4


# -- followers and the grace period ----------------------------------------------------------


async def test_the_last_follower_leaving_starts_the_grace_then_the_turn_is_stopped() -> None:
    logs = _logs(grace_s=0.05)
    log = _running(logs, "t")
    stop = _stop_signal(log)
    with logs.following(log), logs.following(log):
        assert log.followers == 2
    assert log.followers == 0 and not stop.is_set()  # in its grace period
    assert log.task is not None
    await asyncio.wait_for(log.task, 2)
    assert stop.is_set() and log.done and log.complete


async def test_following_again_within_the_grace_keeps_the_turn_running() -> None:
    logs = _logs(grace_s=0.05)
    log = _running(logs, "t")
    stop = _stop_signal(log)
    with logs.following(log):
        pass
    with logs.following(log):
        await asyncio.sleep(0.15)
        assert not stop.is_set()
    assert log.stop() and stop.is_set()
    await logs.aclose()


@pytest.mark.parametrize("fields", [{"resumable": False}, {}])
async def test_without_grace_a_turn_nobody_follows_is_stopped_at_once(
    fields: dict[str, Any],
) -> None:
    logs = _logs(grace_s=60.0 if fields else 0.0)
    log = _running(logs, "t", **fields)
    with logs.following(log):
        pass
    assert _stop_signal(log).is_set()
    await logs.aclose()


async def test_stop_reports_whether_the_turn_was_still_running() -> None:
    logs = _logs()
    log = _running(logs, "t")
    assert log.stop() is True
    assert log.task is not None
    await log.task
    assert log.stop() is False and log.turn is None  # the upstream objects were let go


# -- retention, budgets, lookup -------------------------------------------------------------


async def test_finished_turns_expire_after_the_retention_time() -> None:
    logs = _logs(retention_s=0.05)
    await _finished(logs, "old", "x")
    assert logs.get("old") is not None
    await asyncio.sleep(0.1)
    assert logs.get("old") is None


async def test_without_retention_a_finished_log_is_let_go_at_once() -> None:
    logs: TurnLogs[TurnLog] = TurnLogs(grace_s=1.0)
    await _finished(logs, "gone", "x")
    assert logs.get("gone") is None


async def test_the_oldest_finished_turns_go_first_when_over_the_count_or_byte_budget() -> None:
    logs = _logs(max_turns=2, max_bytes=30)
    running = _running(logs, "running")
    await _finished(logs, "a", "12345")  # each frame: "id: n\n" + text + "\n\n"
    await _finished(logs, "b", "12345")
    await _finished(logs, "c", "123")
    assert logs.get("a") is None and logs.get("b") is None
    assert logs.get("c") is not None and logs.get("running") is running
    await logs.aclose()


async def test_a_byte_budget_alone_drops_finished_turns_until_it_fits() -> None:
    logs = _logs(max_bytes=26)
    await _finished(logs, "a", "12345")  # 13 bytes
    await _finished(logs, "b", "12345")
    await _finished(logs, "c", "1")  # 9 bytes
    assert [logs.get(t) is not None for t in ("a", "b", "c")] == [False, True, True]


async def test_an_owners_running_turns_are_found_oldest_first_until_they_end() -> None:
    logs = _logs()
    first, second = _running(logs, "1", owner="me"), _running(logs, "2", owner="me")
    _running(logs, "3", owner="someone else")
    assert logs.running("me") == [first, second] and logs.running("nobody") == []
    first.stop()
    assert first.task is not None
    await first.task
    assert logs.running("me") == [second]
    await logs.aclose()
    assert logs.running("me") == [] and logs.running("someone else") == []


async def test_the_finished_hook_sees_the_ended_log_once() -> None:
    seen: list[tuple[str, bool, int]] = []

    async def on_finished(log: TurnLog) -> None:
        seen.append((log.turn_id, log.done, len(log.events)))

    await _finished(_logs(on_finished=on_finished), "t", "a", "b")
    assert seen == [("t", True, 2)]


# -- shutdown --------------------------------------------------------------------------------


async def test_shutdown_stops_running_turns_and_waits_for_their_end() -> None:
    ended: list[str] = []

    async def on_finished(log: TurnLog) -> None:
        ended.append(log.turn_id)

    logs = _logs(on_finished=on_finished)
    one, two = _running(logs, "1"), _running(logs, "2")
    await logs.aclose()
    assert one.complete and two.complete  # stopped, so they ended on their own
    assert sorted(ended) == ["1", "2"]


async def test_shutdown_cancels_a_turn_that_does_not_end_when_stopped() -> None:
    logs = _logs()
    log = _log("stuck")
    logs.start(log, _until_stopped(_stop_signal(log), ignore_stop=True))
    await asyncio.sleep(0)
    await logs.aclose(wait_s=0.05)
    assert log.done and not log.complete
    assert log.task is not None and log.task.cancelled()
