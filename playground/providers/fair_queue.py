"""One-at-a-time access to a shared resource (the in-process model), fair between clients.

A llama.cpp context decodes one prompt at a time, so turns wait for it. Three rules keep one
client from hurting the others:

* **Bounded.** At most ``max_waiting`` turns wait, and one client holds at most
  ``max_waiting_per_client`` of those places (callers that give no client id share one line
  and the whole bound); a turn that cannot get a place fails at once with
  ``LocalModelBusy`` (a retryable ``RATE_LIMIT`` ``ProviderError`` saying how many wait), which
  the API answers like a 429/503 with ``Retry-After``.
* **Round-robin between clients.** Each client has its own first-in-first-out line; the resource
  goes to the clients' lines in turn, so one client's twelve queued turns delay another client
  by at most one turn, not twelve.
* **Observable.** ``watch(turn_id)`` yields a waiting turn's position each time it changes.

``release`` may be called from any thread (the model's worker thread frees the model when it
stops decoding); waiters are woken on their own event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

from playground.errors import BusyError

__all__ = ["FairQueue", "Grant", "LocalModelBusy"]

_FIRST_GUESS_S = 10.0  # how long a turn holds the model, before any has been measured


class LocalModelBusy(BusyError):
    """No place in the queue: retry after ``retry_after_s`` seconds."""

    def __init__(self, message: str, *, waiting: int, retry_after_s: float) -> None:
        super().__init__(message, provider="local", retry_after_s=retry_after_s)
        self.waiting = waiting


@dataclass(eq=False)
class Grant:
    """One turn's claim on the resource: waiting in its client's line, then holding it."""

    client: str
    turn_id: str
    loop: asyncio.AbstractEventLoop
    granted: asyncio.Future[None]
    held_since: float | None = field(default=None)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _wake_threadsafe(loop: asyncio.AbstractEventLoop, future: asyncio.Future[None]) -> None:
    # A RuntimeError means that loop has closed: nobody is waiting there any more.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(_wake, future)


class FairQueue:
    """Round-robin between clients' lines, at most one holder, a bounded number waiting."""

    def __init__(
        self,
        max_waiting: int,
        *,
        max_waiting_per_client: int | None = None,
        name: str = "the local model",
    ) -> None:
        self.max_waiting = max_waiting
        self.max_waiting_per_client = (
            max(1, math.ceil(max_waiting / 2))
            if max_waiting_per_client is None
            else max_waiting_per_client
        )
        self._name = name
        self._lock = threading.Lock()
        self._holder: Grant | None = None
        # Each client's line; the key order is the round-robin order (first is served next).
        self._lines: OrderedDict[str, deque[Grant]] = OrderedDict()
        self._watchers: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._typical_hold_s = _FIRST_GUESS_S

    @property
    def waiting(self) -> int:
        with self._lock:
            return sum(len(line) for line in self._lines.values())

    async def acquire(self, client: str, turn_id: str = "") -> Grant:
        """Wait for the resource; raises ``LocalModelBusy`` at once when there is no place."""
        loop = asyncio.get_running_loop()
        grant = Grant(client, turn_id, loop, loop.create_future())
        with self._lock:
            if self._holder is None and not self._lines:
                self._hold_locked(grant)
                return grant
            self._admit_locked(grant)
            self._notify_locked()
        try:
            await grant.granted
        except asyncio.CancelledError:
            with self._lock:
                still_waiting = grant in self._lines.get(client, ())
                if still_waiting:
                    self._remove_locked(grant)
                    self._notify_locked()
            if not still_waiting:
                self.release(grant)  # granted just as we were cancelled: pass it on
            raise
        return grant

    def release(self, grant: Grant) -> None:
        """Free the resource for the next turn; safe to call twice and from any thread."""
        with self._lock:
            if self._holder is not grant:
                return
            if grant.held_since is not None:
                held = time.monotonic() - grant.held_since
                self._typical_hold_s = 0.7 * self._typical_hold_s + 0.3 * held
            self._holder = None
            if grant.client in self._lines:
                # Its line may have been opened before the others', but it has just been served.
                self._lines.move_to_end(grant.client)
            if self._lines:
                client, line = next(iter(self._lines.items()))
                self._hold_locked(line.popleft())
                if line:
                    self._lines.move_to_end(client)  # the others go first next time
                else:
                    del self._lines[client]
            self._notify_locked()

    def position(self, turn_id: str) -> int:
        """1 for the next turn to be served, 2 for the one after...; 0 if not waiting."""
        with self._lock:
            return self._position_locked(turn_id)

    async def watch(self, turn_id: str) -> AsyncGenerator[int, None]:
        """The turn's position now, then again each time it changes: 1, 2, ... while it waits,
        0 while it does not (not queued yet, holding the resource, or done). Runs until the
        consumer stops iterating (cancel it when the turn ends)."""
        loop = asyncio.get_running_loop()
        last: int | None = None
        while True:
            changed: asyncio.Future[None] = loop.create_future()
            with self._lock:
                position = self._position_locked(turn_id)
                self._watchers.append((loop, changed))
            if position != last:
                last = position
                yield position
            await changed

    def refusal(self, client: str) -> LocalModelBusy | None:
        """The error a turn from ``client`` would get if it asked now, or None when it would be
        served or get a place. For a pre-flight check (an HTTP 503 with ``Retry-After`` before
        a stream opens); ``acquire`` checks again, as things may change in between."""
        with self._lock:
            if self._holder is None and not self._lines:
                return None
            return self._refusal_locked(client)

    def _admit_locked(self, grant: Grant) -> None:
        refused = self._refusal_locked(grant.client)
        if refused is not None:
            raise refused
        self._lines.setdefault(grant.client, deque()).append(grant)

    def _refusal_locked(self, client: str) -> LocalModelBusy | None:
        waiting = sum(len(line) for line in self._lines.values())
        mine = len(self._lines.get(client, ()))
        retry = round(min(60.0, max(1.0, self._typical_hold_s)))
        queued = f"{waiting} turn is" if waiting == 1 else f"{waiting} turns are"
        if waiting >= self.max_waiting:
            return LocalModelBusy(
                f"{self._name} is busy: another turn is using it and {queued} already waiting "
                f"(at most {self.max_waiting}). Try again in about {retry} s.",
                waiting=waiting,
                retry_after_s=retry,
            )
        # "" is every caller that did not say who it is, not one client: no share applies.
        if client and mine >= self.max_waiting_per_client:
            return LocalModelBusy(
                f"{self._name} is busy: {queued} waiting, {mine} of them yours (at most "
                f"{self.max_waiting_per_client} per client). Try again in about {retry} s.",
                waiting=waiting,
                retry_after_s=retry,
            )
        return None

    def _hold_locked(self, grant: Grant) -> None:
        self._holder = grant
        grant.held_since = time.monotonic()
        _wake_threadsafe(grant.loop, grant.granted)

    def _remove_locked(self, grant: Grant) -> None:
        line = self._lines[grant.client]
        line.remove(grant)
        if not line:
            del self._lines[grant.client]

    def _rotation_locked(self, just_served: str | None) -> list[tuple[str, deque[Grant]]]:
        """The clients' lines in serving order. The client that holds (or just held) the
        resource goes last, even if its line was opened before the others'."""
        rotation = list(self._lines.items())
        return [e for e in rotation if e[0] != just_served] + [
            e for e in rotation if e[0] == just_served
        ]

    def _service_order_locked(self) -> list[Grant]:
        """Who is served when, if nobody else arrives: round by round, one per client line."""
        holder = self._holder.client if self._holder is not None else None
        lines = [line for _, line in self._rotation_locked(just_served=holder)]
        longest = max((len(line) for line in lines), default=0)
        return [line[i] for i in range(longest) for line in lines if i < len(line)]

    def _position_locked(self, turn_id: str) -> int:
        if not turn_id:
            return 0
        for index, grant in enumerate(self._service_order_locked()):
            if grant.turn_id == turn_id:
                return index + 1
        return 0

    def _notify_locked(self) -> None:
        watchers, self._watchers = self._watchers, []
        for loop, future in watchers:
            _wake_threadsafe(loop, future)
