"""Turns that outlive their HTTP connection: a bounded, resumable event log per turn.

Each API turn runs on its own task and appends encoded SSE frames to a ``TurnLog``. A client
*follows* the log: from the start, or after a ``Last-Event-ID`` when it reconnects, and then live.
When the last follower goes away the turn gets a short grace period to be resumed before it is
stopped (closing its upstream connections). Finished logs are kept for a while, within a byte and
count budget, so a late reconnect still gets the whole answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from playground.runner import PreparedTurn

__all__ = ["KEEPALIVE", "LoggedFrame", "TurnLog", "TurnRegistry"]

KEEPALIVE = b": keep-alive\n\n"


@dataclass(frozen=True, slots=True)
class LoggedFrame:
    id: int
    data: bytes


@dataclass(eq=False)
class TurnLog:
    turn_id: str
    client: str
    frames: list[LoggedFrame] = field(default_factory=list)
    size: int = 0
    done: bool = False
    finished_at: float | None = None
    followers: int = 0
    task: asyncio.Task[None] | None = None
    turn: PreparedTurn | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _grace: asyncio.TimerHandle | None = None

    def append(self, data: bytes) -> None:
        self.frames.append(LoggedFrame(len(self.frames), data))
        self.size += len(data)
        self._wake()

    def finish(self) -> None:
        self.done = True
        self.finished_at = time.monotonic()
        self._wake()

    def _wake(self) -> None:
        # One event per change: followers waiting on the old one wake, new waits use the new one.
        self._changed.set()
        self._changed = asyncio.Event()

    async def follow(self, after: int, keepalive_s: float) -> AsyncIterator[bytes]:
        """Frames with ids greater than ``after``, then live ones; keep-alives while silent."""
        position = after + 1
        while True:
            while position < len(self.frames):
                yield self.frames[position].data
                position += 1
            if self.done:
                return
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), keepalive_s)
            except TimeoutError:
                yield KEEPALIVE


class TurnRegistry:
    """Owns running and recently finished turns; all limits are constructor arguments."""

    def __init__(
        self,
        *,
        grace_s: float,
        retention_s: float,
        max_turns: int,
        max_bytes: int,
        keepalive_s: float,
        on_finished: Callable[[TurnLog], None] | None = None,
    ) -> None:
        self.grace_s = grace_s
        self.retention_s = retention_s
        self.max_turns = max_turns
        self.max_bytes = max_bytes
        self.keepalive_s = keepalive_s
        self._on_finished = on_finished
        self._logs: OrderedDict[str, TurnLog] = OrderedDict()

    def get(self, turn_id: str) -> TurnLog | None:
        self._prune()
        return self._logs.get(turn_id)

    def start(self, turn: PreparedTurn, client: str, frames: AsyncIterator[bytes]) -> TurnLog:
        self._prune()
        log = TurnLog(turn_id=turn.turn_id, client=client, turn=turn)
        self._logs[turn.turn_id] = log
        log.task = asyncio.create_task(self._record(log, frames))
        return log

    async def _record(self, log: TurnLog, frames: AsyncIterator[bytes]) -> None:
        try:
            async for frame in frames:
                log.append(frame)
        finally:
            log.finish()
            log.turn = None  # the upstream objects are no longer needed
            if self._on_finished is not None:
                self._on_finished(log)

    async def follow(self, log: TurnLog, after: int = -1) -> AsyncIterator[bytes]:
        """Follow a log on behalf of one client connection; leaving starts the grace period."""
        log.followers += 1
        if log._grace is not None:
            log._grace.cancel()
            log._grace = None
        try:
            async for frame in log.follow(after, self.keepalive_s):
                yield frame
        finally:
            log.followers -= 1
            if log.followers == 0 and not log.done:
                self._start_grace(log)

    def _start_grace(self, log: TurnLog) -> None:
        if self.grace_s <= 0:
            self.cancel(log)
            return
        loop = asyncio.get_running_loop()
        log._grace = loop.call_later(self.grace_s, self._grace_expired, log)

    def _grace_expired(self, log: TurnLog) -> None:
        log._grace = None
        if log.followers == 0 and not log.done:
            self.cancel(log)

    def cancel(self, log: TurnLog) -> bool:
        """Stop a running turn now; it still ends with completion-end (stopped) and end."""
        if log.done or log.turn is None:
            return False
        log.turn.request_stop()
        return True

    async def aclose(self) -> None:
        tasks = [log.task for log in self._logs.values() if log.task and not log.task.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _prune(self) -> None:
        now = time.monotonic()
        finished = [log for log in self._logs.values() if log.done and log.finished_at is not None]
        for log in finished:
            finished_at = log.finished_at or now
            if now - finished_at > self.retention_s:
                del self._logs[log.turn_id]
        total = sum(log.size for log in self._logs.values())
        for log in list(self._logs.values()):
            if len(self._logs) <= self.max_turns and total <= self.max_bytes:
                break
            if log.done:  # oldest finished first; running turns are never dropped
                del self._logs[log.turn_id]
                total -= log.size
