"""Running API turns known to every replica sharing one Redis (``PLAYGROUND_REDIS_URL``): a cancel
sent through any replica reaches the one that runs the turn.

Each replica keeps a key per turn it runs, renewed by its heartbeat (``heartbeat_s``) with a
short expiry (``ttl_s``), so a replica that dies stops claiming its turns within seconds; a
cancel for a turn this replica does not run is published on one channel, and the replica that
runs it — subscribed to that channel — stops it (its upstream closes at once, its stream ends
with the stopped completion as a local cancel's does).

Redis being unreachable never breaks a turn: the turn runs on, only a cancel through another
replica cannot reach it until Redis is back (the subscription reconnects by itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Final

from redis.asyncio import Redis
from redis.exceptions import RedisError

__all__ = ["SharedTurns"]

log = logging.getLogger(__name__)

_CHANNEL: Final = "sp:turns:cancel"
_RETRY_S: Final = 1.0  # between attempts to subscribe again after Redis went away


def _key(turn_id: str) -> str:
    return f"sp:turns:running:{turn_id}"


class SharedTurns:
    """``start`` once the event loop runs, ``aclose`` at shutdown; ``add`` each turn this
    replica starts (with how to stop it), ``remove`` it when it ends."""

    def __init__(
        self, client: Redis, *, replica: str, heartbeat_s: float = 1.0, ttl_s: float = 5.0
    ) -> None:
        self._redis, self.replica = client, replica
        self._heartbeat_s, self._ttl_s = heartbeat_s, ttl_s
        self._mine: dict[str, Callable[[], object]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._heartbeat(), name="shared-turns-heartbeat"),
            asyncio.create_task(self._listen(), name="shared-turns-cancels"),
        ]

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(RedisError):
            await self._redis.aclose()

    async def add(self, turn_id: str, stop: Callable[[], object]) -> None:
        self._mine[turn_id] = stop
        try:
            await self._redis.set(_key(turn_id), self.replica, ex=max(1, round(self._ttl_s)))
        except RedisError as exc:
            log.warning("turn %s is not shared (Redis unreachable): %s", turn_id, exc)

    async def remove(self, turn_id: str) -> None:
        self._mine.pop(turn_id, None)
        with contextlib.suppress(RedisError):
            await self._redis.delete(_key(turn_id))

    async def cancel(self, turn_id: str) -> bool:
        """Ask whichever replica runs ``turn_id`` to stop it; False when none does (or Redis
        cannot say)."""
        try:
            if not await self._redis.exists(_key(turn_id)):
                return False
            await self._redis.publish(_CHANNEL, turn_id)
        except RedisError:
            return False
        return True

    async def _heartbeat(self) -> None:
        ttl = max(1, round(self._ttl_s))
        while True:
            await asyncio.sleep(self._heartbeat_s)
            if not self._mine:
                continue
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for turn_id in list(self._mine):
                        pipe.set(_key(turn_id), self.replica, ex=ttl)
                    await pipe.execute()
            except RedisError as exc:
                log.warning("could not renew this replica's turns in Redis: %s", exc)

    async def _listen(self) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(_CHANNEL)
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        data = message.get("data")
                        turn_id = data.decode() if isinstance(data, bytes) else str(data)
                        if (stop := self._mine.get(turn_id)) is not None:
                            stop()
            except RedisError as exc:
                log.warning("cancels from other replicas wait for Redis: %s", exc)
                await asyncio.sleep(_RETRY_S)
