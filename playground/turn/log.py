"""Turns that outlive their connection: a bounded, resumable log of each turn's events.

A turn runs on its own task and appends its events to a ``TurnLog``. Its clients (an HTTP API
stream, a page) *follow* the log: from any index, and then live. When the last follower goes
away the turn gets a grace period to be followed again before it is stopped (which closes its
upstream connections at once, keeping what arrived). Finished logs are kept for a while, within
a count and byte budget, so a late reconnect still gets the whole answer.

The log knows events, not a wire format: a surface that sends bytes gives the registry an
encoder, and each event is encoded once, as it arrives, whatever the number of followers.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from playground.turn.events import Event
from playground.turn.runner import PreparedTurn

__all__ = ["SHUTDOWN_WAIT_S", "Encoder", "TurnLog", "TurnLogs"]

SHUTDOWN_WAIT_S = 5.0  # how long stopped turns get to end (and record) before being cancelled

Encoder = Callable[[Event, int], bytes]  # an event and its index in the log -> its encoded form


@dataclass(eq=False, kw_only=True)
class TurnLog:
    """One turn's events so far; ``encoded`` holds their encoded forms when there is an encoder."""

    turn_id: str
    owner: str | None = None  # whose turn it is: the page's notebook id, the API's client
    turn: PreparedTurn | None = None  # dropped at the end: the upstream objects are not needed
    resumable: bool = True  # False: nobody could find it again, so no grace period
    events: list[Event] = field(default_factory=list)
    encoded: list[bytes] = field(default_factory=list)
    size: int = 0  # bytes encoded so far: what the registry's byte budget counts
    done: bool = False
    complete: bool = False  # the event stream ran to its end (not cancelled or broken)
    finished_at: float | None = None
    followers: int = 0
    task: asyncio.Task[None] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _grace: asyncio.TimerHandle | None = None

    def stop(self, *, interrupted: bool = False) -> bool:
        """End the turn now, keeping what arrived (the upstreams close; the log still ends with a
        stopped completion, ``interrupted`` when the user spoke over it). False when it had
        already ended; safe to call more than once."""
        if self.done or self.turn is None:
            return False
        self.turn.request_stop(interrupted=interrupted)
        return True

    def append(self, event: Event, encoded: bytes | None = None) -> None:
        self.events.append(event)
        if encoded is not None:
            self.encoded.append(encoded)
            self.size += len(encoded)
        self._wake()

    def finish(self, *, complete: bool) -> None:
        self.done = True
        self.complete = complete
        self.finished_at = time.monotonic()
        self.cancel_scheduled_stop()
        self._wake()

    def _wake(self) -> None:
        # One event per change: waiters on the old one wake, new waits use the new one.
        self._changed.set()
        self._changed = asyncio.Event()

    async def changed(self, timeout_s: float | None = None) -> bool:
        """Wait for the next append or the end; False when ``timeout_s`` passed first (the
        caller's keep-alive tick). Check the log before waiting: a change already made is not
        waited for."""
        changed = self._changed
        if timeout_s is None:
            await changed.wait()
            return True
        try:
            # Not wait_for: on 3.11 it wraps every wait in a new task.
            async with asyncio.timeout(timeout_s):
                await changed.wait()
        except TimeoutError:
            return False
        return True

    async def events_from(self, start: int = 0) -> AsyncIterator[Event]:
        """Every event from index ``start``, then live ones until the turn ends."""
        index = start
        while True:
            while index < len(self.events):
                yield self.events[index]
                index += 1
            if self.done:
                return
            await self.changed()

    def schedule_stop(self, delay_s: float) -> None:
        self.cancel_scheduled_stop()
        self._grace = asyncio.get_running_loop().call_later(delay_s, self._grace_expired)

    def cancel_scheduled_stop(self) -> None:
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None

    def _grace_expired(self) -> None:
        self._grace = None
        if self.followers == 0:
            self.stop()


L = TypeVar("L", bound=TurnLog)


class TurnLogs(Generic[L]):
    """Owns running and recently finished turn logs; all limits are constructor arguments.

    The defaults keep no finished log: a surface that holds its logs itself (the page) needs
    nothing retained.
    """

    def __init__(
        self,
        *,
        grace_s: float,
        retention_s: float = 0.0,
        max_turns: int = sys.maxsize,
        max_bytes: int = sys.maxsize,
        encode: Encoder | None = None,
        on_finished: Callable[[L], Awaitable[None]] | None = None,
    ) -> None:
        self.grace_s = grace_s
        self.retention_s = retention_s
        self.max_turns = max_turns
        self.max_bytes = max_bytes
        self._encode = encode
        self._on_finished = on_finished
        self._logs: OrderedDict[str, L] = OrderedDict()
        # Pruning runs on every start, so it must not walk every kept log: finished turns are
        # queued in finishing order (for retention) and their sizes, fixed from then on, summed.
        self._running: dict[L, None] = {}  # insertion-ordered: oldest first
        self._finished: deque[tuple[float, str]] = deque()
        self._finished_bytes = 0
        self._owned: dict[str, list[L]] = {}  # running logs by owner, oldest first

    def get(self, turn_id: str) -> L | None:
        self._prune()
        return self._logs.get(turn_id)

    def running(self, owner: str) -> list[L]:
        """The owner's turns still running, oldest first."""
        return list(self._owned.get(owner, ()))

    def start(self, log: L, events: AsyncIterator[Event]) -> L:
        """Record ``events`` into ``log`` on a task of its own."""
        self._prune()
        self._logs[log.turn_id] = log
        self._running[log] = None
        if log.owner is not None:
            self._owned.setdefault(log.owner, []).append(log)
        log.task = asyncio.create_task(self._record(log, events))
        return log

    async def _record(self, log: L, events: AsyncIterator[Event]) -> None:
        complete = False
        encode = self._encode
        try:
            async for event in events:
                log.append(event, None if encode is None else encode(event, len(log.events)))
            complete = True
        finally:
            self._finish(log, complete)
            if self._on_finished is not None:
                await self._on_finished(log)

    def _finish(self, log: L, complete: bool) -> None:
        log.finish(complete=complete)
        self._running.pop(log, None)
        if log.owner is not None and (owned := self._owned.get(log.owner)) is not None:
            owned.remove(log)
            if not owned:
                del self._owned[log.owner]
        self._finished.append((log.finished_at or time.monotonic(), log.turn_id))
        self._finished_bytes += log.size
        log.turn = None  # the upstream objects are no longer needed
        self._prune()

    @contextlib.contextmanager
    def following(self, log: L) -> Iterator[None]:
        """Count one follower of ``log`` while inside; the last one leaving starts the grace."""
        log.followers += 1
        log.cancel_scheduled_stop()
        try:
            yield
        finally:
            log.followers -= 1
            if log.followers == 0 and not log.done:
                if self.grace_s <= 0 or not log.resumable:
                    log.stop()
                else:
                    log.schedule_stop(self.grace_s)

    async def aclose(self, wait_s: float = SHUTDOWN_WAIT_S) -> None:
        """Stop every running turn and wait for it to end; cancel what does not in ``wait_s``."""
        tasks = [log.task for log in self._running if log.task is not None]
        for log in list(self._running):
            log.stop()
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=wait_s)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _prune(self) -> None:
        now = time.monotonic()
        while self._finished and now - self._finished[0][0] >= self.retention_s:
            _, turn_id = self._finished.popleft()
            if (expired := self._logs.get(turn_id)) is not None and expired.done:
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

    def _forget(self, log: L) -> None:
        del self._logs[log.turn_id]
        self._finished_bytes -= log.size
