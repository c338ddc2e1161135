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
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from playground.turn.runner import PreparedTurn

__all__ = ["KEEPALIVE", "LoggedFrame", "TurnLog", "TurnRegistry"]

KEEPALIVE = b": keep-alive\n\n"
_BATCH_BYTES = 64 * 1024


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
        """Frames with ids greater than ``after``, then live ones; keep-alives while silent.

        Frames already waiting when the follower gets to run leave as one write (up to
        ``_BATCH_BYTES``): under load a follower falls a few frames behind, and a send per frame
        through the ASGI stack would make it fall further behind. The bytes are the same.
        """
        position = after + 1
        while True:
            if position < len(self.frames):
                batch = [self.frames[position].data]
                size = len(batch[0])
                position += 1
                while position < len(self.frames) and size < _BATCH_BYTES:
                    batch.append(self.frames[position].data)
                    size += len(batch[-1])
                    position += 1
                yield batch[0] if len(batch) == 1 else b"".join(batch)
                continue
            if self.done:
                return
            changed = self._changed
            try:
                # Not wait_for: on 3.11 it wraps every wait in a new task.
                async with asyncio.timeout(keepalive_s):
                    await changed.wait()
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
        # Pruning runs on every start, so it must not walk every kept log: finished turns are
        # queued in finishing order (for retention) and their sizes, fixed from then on, summed.
        self._running: set[TurnLog] = set()
        self._finished: deque[tuple[float, str]] = deque()
        self._finished_bytes = 0

    def get(self, turn_id: str) -> TurnLog | None:
        self._prune()
        return self._logs.get(turn_id)

    def start(self, turn: PreparedTurn, client: str, frames: AsyncIterator[bytes]) -> TurnLog:
        self._prune()
        log = TurnLog(turn_id=turn.turn_id, client=client, turn=turn)
        self._logs[turn.turn_id] = log
        self._running.add(log)
        log.task = asyncio.create_task(self._record(log, frames))
        return log

    async def _record(self, log: TurnLog, frames: AsyncIterator[bytes]) -> None:
        try:
            async for frame in frames:
                log.append(frame)
        finally:
            log.finish()
            self._running.discard(log)
            self._finished.append((log.finished_at or time.monotonic(), log.turn_id))
            self._finished_bytes += log.size
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
        while self._finished and now - self._finished[0][0] > self.retention_s:
            _, turn_id = self._finished.popleft()
            if (expired := self._logs.get(turn_id)) is not None:
                self._forget(expired)
        if len(self._logs) <= self.max_turns and self._bytes() <= self.max_bytes:
            return
        total = self._bytes()
        for log in list(self._logs.values()):
            if len(self._logs) <= self.max_turns and total <= self.max_bytes:
                break
            if log.done:  # oldest finished first; running turns are never dropped
                self._forget(log)
                total -= log.size

    def _bytes(self) -> int:
        return self._finished_bytes + sum(log.size for log in self._running)

    def _forget(self, log: TurnLog) -> None:
        del self._logs[log.turn_id]
        self._finished_bytes -= log.size
