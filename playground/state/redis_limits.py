"""The per-client limits counted in Redis, so every replica and API worker sharing it enforces
one rate and one concurrency cap per client (``PLAYGROUND_REDIS_URL``); the embedded default is
``api.limits.ClientLimiter``, in process.

One Lua script decides and records a turn atomically (no read-modify-write between replicas), on
Redis's own clock (replicas' clocks need not agree): the client's turns of the last minute are a
sorted set by start time, its running turns a sorted set of leases by expiry. A running turn's
lease is renewed while it runs (``renew_every_s``), so a replica that dies frees its clients'
slots when its leases run out rather than never. ``release`` removes the lease of a turn this
process admitted.

When Redis cannot be reached, a turn is refused with ``LimitsUnavailable`` (a clear error, the
app keeps serving and tries again on the next turn): limits that cannot be counted are not
skipped.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections import defaultdict
from typing import Any, Final

from redis import Redis
from redis.exceptions import RedisError

from playground.turn.gate import TurnRefused

__all__ = ["LimitsUnavailable", "RedisClientLimiter"]

_WINDOW_S: Final = 60.0

# KEYS: the client's recent turns, its running leases.
# ARGV: window s, per minute, max concurrent, lease s, token. Returns 0 (admitted) or the ms to
# wait.
_ADMIT: Final = """
local recent, running = KEYS[1], KEYS[2]
local window, per_minute = tonumber(ARGV[1]), tonumber(ARGV[2])
local max_running, lease, token = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', recent, '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', running, '-inf', now)
if redis.call('ZCARD', running) >= max_running then
  return 1000
end
if redis.call('ZCARD', recent) >= per_minute then
  local oldest = redis.call('ZRANGE', recent, 0, 0, 'WITHSCORES')
  return math.max(1000, math.ceil((window - (now - tonumber(oldest[2]))) * 1000))
end
redis.call('ZADD', recent, now, token)
redis.call('ZADD', running, now + lease, token)
redis.call('EXPIRE', recent, math.ceil(window) + 1)
redis.call('EXPIRE', running, math.ceil(lease) + 1)
return 0
"""

# KEYS: the client's running leases. ARGV: lease s, tokens... Renews those still held.
_RENEW: Final = """
local t = redis.call('TIME')
local until_ = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[1])
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], 'XX', until_, ARGV[i])
end
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1])) + 1)
return 0
"""


class LimitsUnavailable(TurnRefused):
    """The shared limits could not be counted (Redis is down): the turn is not started, and
    every surface says so as it says any refusal (with a time to try again)."""

    def __init__(self) -> None:
        super().__init__(
            1.0,
            "The server cannot count its limits right now (its shared store is unreachable): "
            "try again in a moment.",
        )


class RedisClientLimiter:
    """``turn.gate.Limiter`` over Redis. ``namespace`` keeps apart limits that count different
    things (turns, listening sessions)."""

    def __init__(
        self,
        client: Redis,
        *,
        per_minute: int,
        max_concurrent: int,
        namespace: str = "turns",
        lease_s: float = 30.0,
        renew_every_s: float = 10.0,
    ) -> None:
        self.per_minute, self.max_concurrent = per_minute, max_concurrent
        self._redis = client
        self._prefix = f"sp:limits:{namespace}:"
        self._lease_s, self._renew_every_s = lease_s, renew_every_s
        self._admit = client.register_script(_ADMIT)
        self._renew = client.register_script(_RENEW)
        self._held: dict[str, list[str]] = defaultdict(list)  # this process's running turns
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def _keys(self, client: str) -> list[str]:
        return [f"{self._prefix}{client}:recent", f"{self._prefix}{client}:running"]

    def admit(self, client: str) -> float | None:
        token = uuid.uuid4().hex
        args: list[Any] = [_WINDOW_S, self.per_minute, self.max_concurrent, self._lease_s, token]
        try:
            wait_ms = int(self._admit(keys=self._keys(client), args=args))
        except RedisError as exc:
            raise LimitsUnavailable() from exc
        if wait_ms:
            return wait_ms / 1000
        with self._lock:
            self._held[client].append(token)
            self._start_renewing()
        return None

    def release(self, client: str) -> None:
        with self._lock:
            tokens = self._held.get(client)
            if not tokens:
                return
            token = tokens.pop()
            if not tokens:
                del self._held[client]
        # Unreachable: the lease runs out by itself, freeing the slot then.
        with contextlib.suppress(RedisError):
            self._redis.zrem(self._keys(client)[1], token)

    def close(self) -> None:
        """Stop renewing (the process is ending: its leases run out)."""
        self._stop.set()

    def _start_renewing(self) -> None:
        """Under ``_lock``: one renewing thread while this process holds a lease."""
        if self._renewer is None:
            self._renewer = threading.Thread(
                target=self._renew_loop, name="redis-limits-renew", daemon=True
            )
            self._renewer.start()

    def _renew_loop(self) -> None:
        # A thread, not a task: the limiter is called from sync code on any thread, and a
        # renewal must go on while the event loop is busy streaming.
        while not self._stop.wait(self._renew_every_s):
            with self._lock:
                if not self._held:
                    self._renewer = None  # the next admitted turn starts another
                    return
                held = {client: list(tokens) for client, tokens in self._held.items()}
            for client, tokens in held.items():
                try:
                    self._renew(keys=[self._keys(client)[1]], args=[self._lease_s, *tokens])
                except RedisError:
                    continue  # unreachable now; the next round tries again
