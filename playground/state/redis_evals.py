"""API evals known to every replica sharing one Redis (``PLAYGROUND_REDIS_URL``): an eval started
through one replica is read (``GET /v1/evals/{id}``, its CSV, a comparison) and cancelled through
any other.

The replica that runs an eval writes what it has so far into one Redis hash per eval — whose
it is (the SHA-256 of the caller's identity, never the identity), the answer of ``GET``, and the
eval as an ``EvalRecord`` (its cases and every result, ``record_json``) — at most every
``every_s`` while it runs and once at its end, kept ``retention_s`` after the last write. A
cancel reaches the running replica as a turn's does (``SharedTurns``: the eval is registered
there under its id while it runs).

Redis being unreachable never breaks an eval where it runs: other replicas just cannot see it
until the next write gets through.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

from playground.evals.record import EvalRecord, record_from_json, record_json
from playground.state.redis_turns import SharedTurns

__all__ = ["EvalPublisher", "SharedEval", "SharedEvals"]

log = logging.getLogger(__name__)

DEFAULT_RETENTION_S: Final = 86_400.0
DEFAULT_EVERY_S: Final = 0.5


def _nothing() -> None:
    """An eval is not kept alive by being followed elsewhere (only its stream follows it)."""


def _key(eval_id: str) -> str:
    return f"sp:evals:{eval_id}"


def _owner(caller: str) -> str:
    return hashlib.sha256(caller.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SharedEval:
    """An eval as the replica running it last wrote it."""

    stored: dict[str, Any]  # what GET /v1/evals/{id} answers
    record: EvalRecord  # its cases and results so far

    @property
    def done(self) -> bool:
        return self.stored.get("status") != "running"


class SharedEvals:
    """``started`` when an eval starts here, ``write`` what it has so far (the runner decides
    how often: ``every_s``), ``ended`` once it has written its end; ``find`` and ``cancel`` one
    by id, whichever replica runs it; ``aclose`` at shutdown. ``turns``: where running work is
    registered, so a cancel reaches it."""

    def __init__(
        self,
        client: Redis,
        turns: SharedTurns,
        *,
        retention_s: float = DEFAULT_RETENTION_S,
        every_s: float = DEFAULT_EVERY_S,
    ) -> None:
        self._redis, self._turns = client, turns
        self._retention_s = max(1, round(retention_s))
        self.every_s = every_s

    async def started(
        self,
        eval_id: str,
        caller: str,
        stop: Callable[[], object],
        snapshot: Callable[[], tuple[dict[str, Any], EvalRecord]],
    ) -> EvalPublisher:
        """An eval starts here: registered for cancels, and written at once; the publisher
        writes it again as it changes. ``snapshot``: what ``GET`` answers, and the record."""
        await self._turns.add(eval_id, stop, _nothing)
        publisher = EvalPublisher(self, eval_id, caller, snapshot)
        await publisher.write()
        return publisher

    async def ended(self, eval_id: str) -> None:
        await self._turns.remove(eval_id)

    async def cancel(self, eval_id: str) -> bool:
        """Ask the replica running ``eval_id`` to stop it; False when none does."""
        return await self._turns.cancel(eval_id)

    async def write(
        self, eval_id: str, caller: str, stored: dict[str, Any], record: EvalRecord
    ) -> None:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(
                    _key(eval_id),
                    mapping={
                        "owner": _owner(caller),
                        "stored": json.dumps(stored, ensure_ascii=False),
                        "record": record_json(record),
                    },
                )
                pipe.expire(_key(eval_id), self._retention_s)
                await pipe.execute()
        except RedisError as exc:
            log.warning("eval %s is not shared (Redis unreachable): %s", eval_id, exc)

    async def find(self, eval_id: str, caller: str) -> SharedEval | None:
        """The eval ``eval_id`` of ``caller`` (another caller's is None, as an unknown one)."""
        try:
            # Bytes: the client is made without decode_responses (``make_shared_evals``).
            fields = cast(dict[bytes, bytes], await self._redis.hgetall(_key(eval_id)))
        except RedisError as exc:
            log.warning("eval %s cannot be read from Redis: %s", eval_id, exc)
            return None
        if not fields or fields.get(b"owner", b"").decode() != _owner(caller):
            return None
        try:
            stored = json.loads(fields[b"stored"])
            record = record_from_json(fields[b"record"].decode())
        except (KeyError, ValueError) as exc:  # written by another version
            log.warning("eval %s in Redis does not read: %s", eval_id, exc)
            return None
        if not isinstance(stored, dict):
            return None
        if stored.get("status") == "running" and not await self._turns.running(eval_id):
            # Its replica went away mid-eval: what it wrote is all there will be.
            stored = {**stored, "status": "stopped"}
        return SharedEval(stored, record)

    async def aclose(self) -> None:
        with contextlib.suppress(RedisError):
            await self._redis.aclose()


class EvalPublisher:
    """Writes one running eval for the other replicas as it changes: at most every
    ``every_s``, and a change never waits longer than that to be written."""

    def __init__(
        self,
        shared: SharedEvals,
        eval_id: str,
        caller: str,
        snapshot: Callable[[], tuple[dict[str, Any], EvalRecord]],
    ) -> None:
        self._shared, self._eval_id, self._caller = shared, eval_id, caller
        self._snapshot = snapshot
        self._written = -math.inf
        self._later: asyncio.Task[None] | None = None

    def changed(self) -> None:
        if self._later is not None:  # a write is due: it takes this change along
            return
        wait = self._written + self._shared.every_s - time.monotonic()
        self._later = asyncio.get_running_loop().create_task(self._write_after(max(0, wait)))

    async def _write_after(self, wait_s: float) -> None:
        await asyncio.sleep(wait_s)
        self._later = None  # a change from now on needs a write of its own
        await self.write()

    async def write(self) -> None:
        self._written = time.monotonic()
        stored, record = self._snapshot()
        await self._shared.write(self._eval_id, self._caller, stored, record)

    async def close(self) -> None:
        """The eval ended: its last state written, the registration for cancels gone."""
        if self._later is not None:
            self._later.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._later
        await self.write()
        await self._shared.ended(self._eval_id)
