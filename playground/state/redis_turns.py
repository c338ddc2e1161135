"""Running API turns known to every replica sharing one Redis (``PLAYGROUND_REDIS_URL``): a cancel
sent through any replica reaches the one that runs the turn, and a client resumes a turn through
any replica.

Each replica keeps a key per turn it runs, renewed by its heartbeat (``heartbeat_s``) with a
short expiry (``ttl_s``), so a replica that dies stops claiming its turns within seconds. Each
turn's SSE frames are mirrored, in order, into a Redis Stream (its entries carry the frame and
its SSE id), kept ``retention_s`` after the turn ends. Another replica resumes a client from its
``Last-Event-ID`` by reading that stream and then waiting on it; while it does, it tells the
running replica that the turn is still followed (so its grace does not stop it). When the
running replica's key expires before the turn's end, the client gets ``error`` (stage
``replica``, retryable) + ``completion-end`` (the text so far) + ``end``, never a hang.

Cancels and keep-alives travel on one channel, to the replica that runs the turn.

A turn started with an ``Idempotency-Key`` binds the key (hashed with its caller) to the turn
in the same step that marks it running, so a retried POST that reaches another replica follows
that turn instead of starting a second one; the binding is renewed with the heartbeat and lives
``retention_s`` past the turn, as its frames do.

Redis being unreachable never breaks a turn where it runs: only what crosses replicas waits
until Redis is back (the subscription reconnects by itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Final, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

from playground.api.sse import sse_frame
from playground.turn.events import TurnCompleted, TurnFailed
from playground.turn.wire import event_payload

__all__ = ["SharedTurns"]

log = logging.getLogger(__name__)

_CHANNEL: Final = "sp:turns:messages"  # "cancel <turn id>" / "keep <turn id>"
_RETRY_S: Final = 1.0  # between attempts to subscribe again after Redis went away
_WAIT_MS: Final = 250  # how long a follower waits on the stream before looking around
# How often a follower says it follows: well inside any resume grace (5 s by default).
_KEEP_EVERY_S: Final = 0.25
_MAX_FRAMES: Final = 20_000  # per mirrored turn (a turn's own log is bounded alike)
_MIRROR_BATCH: Final = 256  # frames written to Redis in one round trip, at most
_KEEPALIVE: Final = b": keep-alive\n\n"


def _key(turn_id: str) -> str:
    return f"sp:turns:running:{turn_id}"


def _log_key(turn_id: str) -> str:
    return f"sp:turns:log:{turn_id}"


def _done_key(turn_id: str) -> str:
    return f"sp:turns:done:{turn_id}"


def _claim_key(caller: str, idempotency_key: str) -> str:
    # Hashed: no string a client picks is stored as sent, and keys of any length fit.
    digest = hashlib.sha256(f"{caller}\x00{idempotency_key}".encode()).hexdigest()
    return f"sp:turns:key:{digest}"


# Bind KEYS[1] (a caller's Idempotency-Key) to the turn ARGV[1] and mark that turn running
# (KEYS[2], ARGV[3]) in one step, unless the key is bound already: then the turn it names. In
# one step, so no replica ever finds the key bound to a turn that is not yet running.
_CLAIM: Final = """
local bound = redis.call('GET', KEYS[1])
if bound then return bound end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4])
return false
"""


# XREAD's answer: per stream, its entries (an id, and the fields).
_Entries = list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]


@dataclass(frozen=True, slots=True)
class _Mine:
    stop: Callable[[], object]
    keep: Callable[[], object]  # another replica follows it: restart its grace
    claim: str | None = None  # its Idempotency-Key's binding, renewed with the heartbeat


class SharedTurns:
    """``start`` once the event loop runs, ``aclose`` at shutdown; ``add`` each turn this
    replica starts (with how to stop it), ``remove`` it when it ends."""

    def __init__(
        self,
        client: Redis,
        *,
        replica: str,
        heartbeat_s: float = 1.0,
        ttl_s: float = 5.0,
        retention_s: float = 300.0,
    ) -> None:
        self._redis, self.replica = client, replica
        self._heartbeat_s, self._ttl_s, self._retention_s = heartbeat_s, ttl_s, retention_s
        self._mine: dict[str, _Mine] = {}
        self._tasks: list[asyncio.Task[None]] = []
        # Frames to mirror, in order, written by one task: (turn id, SSE id, frame or None for
        # "the turn ended").
        self._outbox: asyncio.Queue[tuple[str, int, bytes | None]] = asyncio.Queue()
        self._claim = client.register_script(_CLAIM)

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._heartbeat(), name="shared-turns-heartbeat"),
            asyncio.create_task(self._listen(), name="shared-turns-messages"),
            asyncio.create_task(self._mirror(), name="shared-turns-mirror"),
        ]

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(RedisError):
            await self._redis.aclose()

    async def add(
        self,
        turn_id: str,
        stop: Callable[[], object],
        keep: Callable[[], object],
        *,
        idempotency: tuple[str, str] | None = None,
    ) -> str | None:
        """Mark ``turn_id`` running here. ``idempotency``: the caller and the Idempotency-Key
        it sent; when another turn holds that key already, that turn's id is returned and
        ``turn_id`` is not added (the caller follows the other turn instead)."""
        ttl = max(1, round(self._ttl_s))
        claim = _claim_key(*idempotency) if idempotency is not None else None
        try:
            if claim is None:
                await self._redis.set(_key(turn_id), self.replica, ex=ttl)
            else:
                keys = [claim, _key(turn_id)]
                retention = max(1, round(self._retention_s))
                bound = await self._claim(keys, [turn_id, retention, self.replica, ttl])
                if bound is not None:
                    return bound.decode() if isinstance(bound, bytes) else str(bound)
        except RedisError as exc:
            log.warning("turn %s is not shared (Redis unreachable): %s", turn_id, exc)
        self._mine[turn_id] = _Mine(stop, keep, claim)
        return None

    async def remove(self, turn_id: str) -> None:
        """The turn ended here: no more heartbeats for it. Its key goes with its mirrored end
        (``mirror(..., None)``), after its frames: a follower never finds it neither running
        nor done while its last frames are still on their way."""
        self._mine.pop(turn_id, None)

    async def cancel(self, turn_id: str) -> bool:
        """Ask whichever replica runs ``turn_id`` to stop it; False when none does (or Redis
        cannot say)."""
        try:
            if not await self._redis.exists(_key(turn_id)):
                return False
            await self._redis.publish(_CHANNEL, f"cancel {turn_id}")
        except RedisError:
            return False
        return True

    # -- the mirrored log -------------------------------------------------------------------

    def mirror(self, turn_id: str, frame_id: int, frame: bytes | None) -> None:
        """Queue a frame of a turn this replica runs (``None``: the turn ended)."""
        self._outbox.put_nowait((turn_id, frame_id, frame))

    async def running(self, turn_id: str) -> bool:
        """Whether some replica runs ``turn_id`` now (True when Redis cannot say)."""
        try:
            return bool(await self._redis.exists(_key(turn_id)))
        except RedisError:
            return True

    async def known(self, turn_id: str) -> bool:
        """Whether some replica ran (or runs) ``turn_id`` and its frames are still kept."""
        try:
            return bool(await self._redis.exists(_log_key(turn_id)))
        except RedisError:
            return False

    async def frames_after(
        self, turn_id: str, after: int, keepalive_s: float
    ) -> AsyncIterator[bytes]:
        """The turn's frames with SSE ids above ``after``, then live ones until its ``end``;
        keep-alive comments while it is silent; the ending of a turn whose replica died."""
        position: bytes | str = "0-0"
        last_id, text, ended = after, "", False
        quiet_since = kept_at = 0.0
        while True:
            if time.monotonic() - kept_at >= _KEEP_EVERY_S:  # followed: not to be stopped
                kept_at = time.monotonic()
                with contextlib.suppress(RedisError):
                    await self._redis.publish(_CHANNEL, f"keep {turn_id}")
            found: _Entries
            try:
                found = cast(
                    _Entries,
                    await self._redis.xread(
                        {_log_key(turn_id): position}, count=200, block=_WAIT_MS
                    ),
                )
            except RedisError as exc:
                log.warning("turn %s: its frames cannot be read from Redis: %s", turn_id, exc)
                found = []
            for _stream, entries in found:
                for entry_id, fields in entries:
                    position = entry_id
                    frame_id, frame = int(fields[b"i"]), bytes(fields[b"f"])
                    text, ended = _read(frame, text, ended)
                    if frame_id > last_id:
                        last_id = frame_id
                        yield frame
                    if frame.startswith(b"id: ") and b"\nevent: end\n" in frame:
                        return
            if found:
                quiet_since = time.monotonic()
                continue
            if await self._abandoned(turn_id):
                for frame in _dead_ending(text, ended, last_id):
                    yield frame
                return
            if time.monotonic() - quiet_since >= keepalive_s:
                quiet_since = time.monotonic()
                yield _KEEPALIVE

    async def _abandoned(self, turn_id: str) -> bool:
        """No replica runs the turn any more, and it never ended."""
        try:
            # Running first: a turn is marked done before its key goes, so a turn that ended
            # is never found neither.
            running = await self._redis.exists(_key(turn_id))
            done = await self._redis.exists(_done_key(turn_id))
        except RedisError:
            return False  # cannot tell: keep waiting
        return not running and not done

    async def _mirror(self) -> None:
        while True:
            batch = [await self._outbox.get()]
            # What queued meanwhile goes in the same round trip, in order.
            while not self._outbox.empty() and len(batch) < _MIRROR_BATCH:
                batch.append(self._outbox.get_nowait())
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for turn_id, frame_id, frame in batch:
                        if frame is None:  # in this order: done, then no longer running
                            pipe.set(_done_key(turn_id), 1, ex=round(self._retention_s))
                            pipe.expire(_log_key(turn_id), round(self._retention_s))
                            pipe.delete(_key(turn_id))
                        else:
                            pipe.xadd(
                                _log_key(turn_id),
                                {"i": frame_id, "f": frame},
                                maxlen=_MAX_FRAMES,
                                approximate=True,
                            )
                    await pipe.execute()
            except RedisError as exc:
                log.warning("%d frames were not mirrored to Redis: %s", len(batch), exc)

    async def _heartbeat(self) -> None:
        ttl, retention = max(1, round(self._ttl_s)), max(1, round(self._retention_s))
        while True:
            await asyncio.sleep(self._heartbeat_s)
            if not self._mine:
                continue
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for turn_id, mine in list(self._mine.items()):
                        pipe.set(_key(turn_id), self.replica, ex=ttl)
                        if mine.claim is not None:
                            pipe.expire(mine.claim, retention)
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
                        text = data.decode() if isinstance(data, bytes) else str(data)
                        kind, _, turn_id = text.partition(" ")
                        if (mine := self._mine.get(turn_id)) is not None:
                            (mine.stop if kind == "cancel" else mine.keep)()
            except RedisError as exc:
                log.warning("cancels from other replicas wait for Redis: %s", exc)
                await asyncio.sleep(_RETRY_S)


def _read(frame: bytes, text: str, ended: bool) -> tuple[str, bool]:
    """Follow the answer's text through its frames (for a dead replica's ending)."""
    if b"\nevent: completion-continue\n" in frame:
        with contextlib.suppress(ValueError, KeyError, IndexError):
            text += json.loads(frame.split(b"\ndata: ", 1)[1])["text"]
    elif b"\nevent: completion-end\n" in frame:
        ended = True
    return text, ended


def _dead_ending(text: str, ended: bool, last_id: int) -> list[bytes]:
    """What a client following a turn whose replica died gets: the error, the completion (the
    text that had arrived) unless it came already, and the end."""
    failed = TurnFailed(
        code="replica_lost",
        message="the server running this turn went away; the text so far is kept",
        retryable=True,
        stage="replica",
    )
    frames = [sse_frame(*event_payload(failed), last_id + 1)]
    if not ended:
        completed = TurnCompleted.cut_short(text)
        frames.append(sse_frame(*event_payload(completed), last_id + 2))
    frames.append(sse_frame("end", {}, last_id + len(frames) + 1))
    return frames
