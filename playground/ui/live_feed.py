"""A run's live text, from the page's handler to its browser beside Gradio's frames.

Gradio's page does work for every frame it receives that grows with the page (it refreshes the
loading status of every component any event has updated, searching the component tree for
each): measured in ``benchmarks/arena_page``, four arena columns at 60 frames a second backed
the page up by seconds. So the arena's answers, piece by piece, go to the browser on a
WebSocket, ``/ui/live/{key}``, and Gradio's frames carry only what changes seldom (a column's
status and numbers, the chart and tables). A WebSocket, not server-sent events: the page
already holds the six HTTP connections a browser allows one host (an event source waited for
the run to end before it could connect — measured).

The key is a capability: random (128 bits or more), made per run by the page that pressed Send
(so it can open the socket while the run starts — the socket waits up to ``WAIT_S`` for its
run) or else by the server, sent only in that run's own frames, and forgotten ``LINGER_S`` after
the run ends. A key already in use is never taken over: the run gets a fresh one. The channel
only repeats output the page receives anyway; it starts nothing, so it needs no gate of its
own. A socket that connects late is sent every piece from the first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Final

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

__all__ = ["LINGER_S", "LiveFeed", "LiveFeeds", "live_router"]

LINGER_S: Final = 60.0  # how long an ended run's feed can still be read (a late connect)
MAX_FEEDS: Final = 2_000  # feeds kept at once; the oldest ended ones go first
WAIT_S: Final = 10.0  # how long a socket waits for the run its key names to start
MAX_WAITING: Final = 500  # sockets waiting at once; more are refused at once
# A key a page makes: 22 or more URL-safe characters (crypto.getRandomValues, 16+ bytes).
_PAGE_KEY: Final = re.compile(r"[A-Za-z0-9_-]{22,64}")


class LiveFeed:
    """One run's pieces, in order; followers read from any position and wait for more."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.pieces: list[str] = []  # JSON texts, one per event
        self.ended_at: float | None = None
        self.followers = 0  # sockets reading it now
        self._changed = asyncio.Event()

    def push(self, piece: object) -> None:
        self.pieces.append(json.dumps(piece, ensure_ascii=False, separators=(",", ":")))
        self._wake()

    def end(self) -> None:
        if self.ended_at is None:
            self.ended_at = time.monotonic()
            self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def follow(self) -> AsyncIterator[str]:
        """Every piece from the first, then each as it comes, until the run has ended."""
        position = 0
        self.followers += 1
        try:
            while True:
                changed = self._changed
                while position < len(self.pieces):
                    yield self.pieces[position]
                    position += 1
                if self.ended_at is not None:
                    return
                await changed.wait()
        finally:
            self.followers -= 1


class LiveFeeds:
    """The feeds of the runs going on (and of those that ended in the last ``LINGER_S``)."""

    def __init__(
        self, *, linger_s: float = LINGER_S, max_feeds: int = MAX_FEEDS, wait_s: float = WAIT_S
    ) -> None:
        self.linger_s, self.max_feeds, self.wait_s = linger_s, max_feeds, wait_s
        self._feeds: OrderedDict[str, LiveFeed] = OrderedDict()
        self._waiting: dict[str, asyncio.Event] = {}

    def open(self, key: object = None) -> LiveFeed:
        """A new run's feed, under ``key`` (the page's) when it is one and not in use."""
        self._forget()
        wanted = key if isinstance(key, str) and _PAGE_KEY.fullmatch(key) else None
        taken = wanted is None or wanted in self._feeds
        feed = LiveFeed(secrets.token_urlsafe(18) if taken or wanted is None else wanted)
        self._feeds[feed.key] = feed
        waiting = self._waiting.pop(feed.key, None)
        if waiting is not None:
            waiting.set()
        return feed

    async def wait_for(self, key: str) -> LiveFeed | None:
        """The feed of ``key``, waiting up to ``wait_s`` for its run to start."""
        feed = self.get(key)
        if feed is not None or not _PAGE_KEY.fullmatch(key):
            return feed
        if key not in self._waiting and len(self._waiting) >= MAX_WAITING:
            return None
        started = self._waiting.setdefault(key, asyncio.Event())
        try:
            await asyncio.wait_for(started.wait(), self.wait_s)
        except TimeoutError:
            if self._waiting.get(key) is started:
                del self._waiting[key]
            return None
        return self.get(key)

    def get(self, key: str) -> LiveFeed | None:
        self._forget()
        return self._feeds.get(key)

    def _forget(self) -> None:
        now = time.monotonic()
        for key, feed in list(self._feeds.items()):
            if feed.ended_at is not None and now - feed.ended_at > self.linger_s:
                del self._feeds[key]
        for key, feed in list(self._feeds.items()):
            if len(self._feeds) < self.max_feeds:
                break
            if feed.ended_at is not None:
                del self._feeds[key]


def live_router(feeds: LiveFeeds) -> APIRouter:
    """The WebSocket ``/ui/live/{key}``: a run's pieces as text messages, closed when the run
    has ended (code 4404 for a key whose run did not start within ``WAIT_S``)."""
    router = APIRouter()

    @router.websocket("/ui/live/{key}")
    async def follow(websocket: WebSocket, key: str) -> None:
        await websocket.accept()  # first: a socket closed before it says no code, only 403
        feed = await feeds.wait_for(key)
        if feed is None:
            await websocket.close(code=4404)
            return
        with contextlib.suppress(WebSocketDisconnect):
            async for piece in feed.follow():
                await websocket.send_text(piece)
            await websocket.close()

    return router
