"""A queue read as an async iterator that can be ended, with or without an error.

Speech-to-text sessions hand their transcripts and speech starts to a reader this way: the
producer ``put``s as things are heard and ``finish``es when the session closes or fails; the
reader's ``async for`` ends then, or raises the failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from playground.errors import ProviderError

__all__ = ["EventStream"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Done:
    """The end of a stream; ``error`` if the producer failed."""

    error: ProviderError | None = None


class EventStream(Generic[T]):
    """A queue read by one async iterator; ``finish`` ends it (with an error, if any).
    ``backlog``: keep at most this many unread items, the newest (0: keep all)."""

    def __init__(self, backlog: int = 0) -> None:
        self._queue: asyncio.Queue[T | _Done] = asyncio.Queue()
        self._backlog = backlog
        self._done: _Done | None = None

    def put(self, item: T) -> None:
        if self._done is not None:
            return
        if self._backlog and self._queue.qsize() >= self._backlog:
            self._queue.get_nowait()  # nobody reads: keep the newest
        self._queue.put_nowait(item)

    def finish(self, error: ProviderError | None = None) -> None:
        if self._done is None:
            self._done = _Done(error)
            self._queue.put_nowait(self._done)

    async def __aiter__(self) -> AsyncIterator[T]:
        while True:
            item = await self._queue.get()
            if isinstance(item, _Done):
                self._queue.put_nowait(item)  # a second reader ends too
                if item.error is not None:
                    raise item.error
                return
            yield item
