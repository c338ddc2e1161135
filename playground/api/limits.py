"""Per-client abuse limits: a sliding-window request rate and a cap on concurrent turns.

``admit`` answers None (go ahead) or the seconds to wait, which becomes ``Retry-After``.
The clock is injectable so tests need not sleep. ``make_limiter`` picks this in-process
limiter, or the one counted in Redis when ``PLAYGROUND_REDIS_URL`` is set.
"""

from __future__ import annotations

import math
import time
import uuid
from collections import deque
from collections.abc import Callable

from playground.api.voiceflow import ConversationStore
from playground.settings import Settings
from playground.state.redis_conversations import RedisConversationStore
from playground.state.redis_evals import SharedEvals
from playground.state.redis_turns import SharedTurns
from playground.turn.gate import Limiter

__all__ = [
    "ClientLimiter",
    "make_conversations",
    "make_limiter",
    "make_shared_evals",
    "make_shared_turns",
]

_WINDOW_S = 60.0


class ClientLimiter:
    def __init__(
        self,
        *,
        per_minute: int,
        max_concurrent: int,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 10_000,
    ) -> None:
        self.per_minute = per_minute
        self.max_concurrent = max_concurrent
        self._clock = clock
        self._max_clients = max_clients
        self._requests: dict[str, deque[float]] = {}
        self._running: dict[str, int] = {}

    def admit(self, client: str) -> float | None:
        """Record a turn for ``client`` if allowed; otherwise return seconds until it would be."""
        now = self._clock()
        window = self._requests.setdefault(client, deque())
        while window and now - window[0] >= _WINDOW_S:
            window.popleft()
        if self._running.get(client, 0) >= self.max_concurrent:
            return 1.0
        if len(window) >= self.per_minute:
            return max(1.0, math.ceil(_WINDOW_S - (now - window[0])))
        window.append(now)
        self._running[client] = self._running.get(client, 0) + 1
        self._forget_idle(now)
        return None

    def release(self, client: str) -> None:
        running = self._running.get(client, 0) - 1
        if running > 0:
            self._running[client] = running
        else:
            self._running.pop(client, None)

    def _forget_idle(self, now: float) -> None:
        # Bounded memory: drop clients with no recent requests once there are too many.
        if len(self._requests) <= self._max_clients:
            return
        for client in [c for c, w in self._requests.items() if not w or now - w[-1] >= _WINDOW_S]:
            if client not in self._running:
                del self._requests[client]


def make_limiter(
    settings: Settings,
    namespace: str = "turns",
    *,
    per_minute: int | None = None,
    max_concurrent: int | None = None,
) -> Limiter:
    """The limits ``settings`` ask for (or ``per_minute`` and ``max_concurrent``, for what is
    not a turn): in Redis when ``playground_redis_url`` is set (shared by every process using
    it; ``namespace`` keeps apart what is counted), else in this process."""
    per_minute = per_minute or settings.playground_rate_limit_per_minute
    max_concurrent = max_concurrent or settings.playground_max_concurrent_turns
    url = settings.playground_redis_url
    if not url:
        return ClientLimiter(per_minute=per_minute, max_concurrent=max_concurrent)
    from redis import Redis  # only a deployment that shares its limits needs it

    from playground.state.redis_limits import RedisClientLimiter

    # Short timeouts: a turn waits for its admission, and an unreachable store refuses it.
    client = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
    return RedisClientLimiter(
        client, per_minute=per_minute, max_concurrent=max_concurrent, namespace=namespace
    )


def make_shared_turns(settings: Settings) -> SharedTurns | None:
    """With Redis, the API's running turns known to every replica (a cancel through any of them
    stops the turn); None in one process."""
    url = settings.playground_redis_url
    if not url:
        return None
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=1.0)
    return SharedTurns(client, replica=uuid.uuid4().hex[:12])


def make_shared_evals(settings: Settings, turns: SharedTurns | None) -> SharedEvals | None:
    """With Redis, the API's evals readable and cancellable through every replica (``turns``
    carries the cancels); None in one process."""
    url = settings.playground_redis_url
    if not url or turns is None:
        return None
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=1.0)
    return SharedEvals(client, turns)


def make_conversations(settings: Settings) -> ConversationStore | RedisConversationStore:
    """Where Voiceflow conversations are kept: in Redis when set (any replica goes on with
    them), else in this process."""
    max_messages = settings.playground_max_history_messages
    url = settings.playground_redis_url
    if not url:
        return ConversationStore(max_messages=max_messages)
    from redis import Redis

    client = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
    return RedisConversationStore(client, max_messages=max_messages)
