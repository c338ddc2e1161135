"""The throttle shared by the page's streaming drivers (a chat turn, a comparison), and the
queue helpers they read their runs through."""

from __future__ import annotations

import asyncio
import time
from typing import Any

__all__ = ["END", "WAKE", "Throttle", "halt", "next_item"]

END = object()  # the run's event stream is exhausted
WAKE = object()  # stop() or clear() wants the driver to look at the session


class Throttle:
    """Two kinds of update, each sent at most once per its interval; urgent ones go at once.

    Leading edge: a channel idle for longer than its interval goes out immediately, so slow
    streams are shown chunk by chunk and only fast ones are batched.
    """

    def __init__(self, fast_s: float, slow_s: float, *, slow_waits: bool = False) -> None:
        self._intervals = (fast_s, slow_s)
        # ``slow_waits``: the slow channel's first update waits one interval, so it does not
        # ride along with (and delay) the first fast one.
        self._last = [0.0, time.monotonic() if slow_waits else 0.0]
        self._dirty = [False, False]

    def mark(self, fast: bool, slow: bool) -> None:
        self._dirty[0] = self._dirty[0] or fast
        self._dirty[1] = self._dirty[1] or slow

    def wait(self) -> float | None:
        """How long the caller may wait for input before a pending update falls due."""
        due = [
            last + gap
            for last, gap, dirty in zip(self._last, self._intervals, self._dirty, strict=True)
            if dirty
        ]
        return max(0.0, min(due) - time.monotonic()) if due else None

    def take(self, *, urgent_fast: bool = False, urgent_slow: bool = False) -> tuple[bool, bool]:
        """Which channels to send now; those are marked clean."""
        now = time.monotonic()
        urgent = (urgent_fast, urgent_slow)
        send = [
            self._dirty[i] and (urgent[i] or now - self._last[i] >= self._intervals[i])
            for i in (0, 1)
        ]
        for i in (0, 1):
            if send[i]:
                self._last[i], self._dirty[i] = now, False
        return send[0], send[1]


async def next_item(queue: asyncio.Queue[Any], wait: float | None) -> Any:
    """The next queued item, or None when ``wait`` seconds pass first."""
    if wait is None:
        return await queue.get()
    try:
        return await asyncio.wait_for(queue.get(), wait)
    except TimeoutError:
        return None


async def halt(task: asyncio.Task[None] | None) -> None:
    """Cancel ``task`` (if any, and still running) and wait until it has ended."""
    if task is None:
        return
    if not task.done():
        task.cancel()
    await asyncio.gather(task, return_exceptions=True)
