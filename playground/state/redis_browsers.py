"""What each browser keeps, in Redis (``PLAYGROUND_REDIS_URL``): its notebook, its kept prompt
versions and its eval runs and test set — so a browser that lands on another replica, or on
another machine, finds them. The embedded defaults are the SQLite stores beside the notebook
(``notebook.store``, ``prompts.kept``, ``evals.history``); these take the same calls and keep
the same bounds per browser.

As there, a browser is known by its opaque id, of which only the SHA-256 is stored (in the key
names), and a browser not seen for ``expire_after_s`` is forgotten — here by each key's expiry,
renewed when it is read or written. What all browsers keep together is bounded by that expiry
and by Redis's own ``maxmemory`` (the operator's), not counted here. Redis being unreachable is
an ``OSError``, as a full disk is for the files: the page says so and keeps running.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Final, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError, WatchError

from playground.errors import ConfigError
from playground.evals.history import (
    DEFAULT_MAX_RECORD_BYTES,
    DEFAULT_MAX_RUNS,
    read_set,
    record_text,
    set_text,
)
from playground.evals.record import EvalRecord, record_from_json
from playground.notebook.model import MAX_CELLS, MAX_NOTEBOOK_BYTES, Notebook
from playground.notebook.store import bounded_notebook, owner_key, stored_notebook
from playground.prompts.kept import (
    DEFAULT_MAX_PER_OWNER,
    DEFAULT_MAX_TEXT_BYTES,
    KeptVersion,
    check_kept_size,
    kept_at,
)

__all__ = ["RedisEvalHistory", "RedisKeptPrompts", "RedisNotebookStore"]

log = logging.getLogger(__name__)

DEFAULT_EXPIRE_AFTER_S: Final = 30 * 86_400.0


@contextlib.contextmanager
def _reaching_redis() -> Iterator[None]:
    try:
        yield
    except RedisError as exc:
        raise OSError(f"Redis cannot be reached: {exc}") from exc


class RedisNotebookStore:
    """``notebook.store.NotebookStorage`` in Redis: one string of JSON per browser."""

    def __init__(
        self,
        client: Redis,
        *,
        max_cells: int = MAX_CELLS,
        max_bytes: int = MAX_NOTEBOOK_BYTES,
        expire_after_s: float = DEFAULT_EXPIRE_AFTER_S,
    ) -> None:
        self._redis = client
        self.max_cells, self.max_bytes, self.expire_after_s = max_cells, max_bytes, expire_after_s

    @staticmethod
    def _key(owner_id: str) -> str:
        return f"sp:notebook:{owner_key(owner_id)}"

    async def aload(self, owner_id: str) -> Notebook:
        key = self._key(owner_id)
        with _reaching_redis():
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.get(key)
                pipe.expire(key, round(self.expire_after_s))  # seen
                text, _ = await pipe.execute()
        return self._notebook_of(cast(bytes | None, text))

    def _notebook_of(self, text: bytes | None) -> Notebook:
        return Notebook() if text is None else stored_notebook(text.decode(), self.max_cells)

    async def asave(self, owner_id: str, nb: Notebook) -> Notebook:
        bounded, text = bounded_notebook(nb, self.max_cells, self.max_bytes)
        with _reaching_redis():
            await self._redis.set(self._key(owner_id), text, ex=round(self.expire_after_s))
        return bounded

    async def adelete(self, owner_id: str) -> None:
        with _reaching_redis():
            await self._redis.delete(self._key(owner_id))

    async def aupdate(self, owner_id: str, change: Callable[[Notebook], Notebook]) -> Notebook:
        """Read, change and write in one optimistic transaction (WATCH): a write another
        replica made meanwhile makes it start again from that, so neither change is lost."""
        key = self._key(owner_id)
        with _reaching_redis():
            async with self._redis.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        await pipe.watch(key)
                        nb = self._notebook_of(cast(bytes | None, await pipe.get(key)))
                        bounded, out = bounded_notebook(change(nb), self.max_cells, self.max_bytes)
                        pipe.multi()  # type: ignore[no-untyped-call]  # unannotated in redis-py
                        pipe.set(key, out, ex=round(self.expire_after_s))
                        await pipe.execute()
                        return bounded
                    except WatchError:
                        continue


class RedisKeptPrompts:
    """``prompts.kept.KeptStorage`` in Redis: a list per browser, newest first, and the last
    number each prompt got (claimed atomically, so two tabs keeping at once get distinct
    numbers)."""

    def __init__(
        self,
        client: Redis,
        *,
        max_per_owner: int = DEFAULT_MAX_PER_OWNER,
        max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES,
        expire_after_s: float = DEFAULT_EXPIRE_AFTER_S,
    ) -> None:
        self._redis = client
        self.max_per_owner, self.max_text_bytes = max_per_owner, max_text_bytes
        self.expire_after_s = expire_after_s

    @staticmethod
    def _keys(owner_id: str) -> tuple[str, str]:
        owner = owner_key(owner_id)
        return f"sp:kept:{owner}", f"sp:kept-numbers:{owner}"

    async def akeep(
        self, owner_id: str, prompt_id: str, text: str, *, based_on: str, note: str
    ) -> KeptVersion:
        check_kept_size(text, self.max_text_bytes)
        versions, numbers = self._keys(owner_id)
        now, expiry = time.time(), round(self.expire_after_s)
        with _reaching_redis():
            number = int(await self._redis.hincrby(numbers, prompt_id, 1))
            kept = {"p": prompt_id, "n": number, "b": based_on, "note": note, "t": text, "c": now}
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.lpush(versions, json.dumps(kept, ensure_ascii=False))
                pipe.ltrim(versions, 0, self.max_per_owner - 1)
                pipe.expire(versions, expiry)
                pipe.expire(numbers, expiry)
                await pipe.execute()
        return KeptVersion(prompt_id, number, based_on, note, text, kept_at(now))

    async def aversions(self, owner_id: str) -> list[KeptVersion]:
        versions, _ = self._keys(owner_id)
        with _reaching_redis():
            entries = cast(list[bytes], await self._redis.lrange(versions, 0, -1))
        out = []
        for entry in entries:
            try:
                k = json.loads(entry)
                out.append(
                    KeptVersion(
                        str(k["p"]), int(k["n"]), str(k["b"]), str(k["note"]), str(k["t"]),
                        kept_at(float(k["c"])),
                    )
                )  # fmt: skip
            except (ValueError, KeyError, TypeError) as exc:  # another version wrote it
                log.warning("a kept prompt version could not be read and was skipped: %s", exc)
        return out

    async def aversion(self, owner_id: str, picked: str) -> KeptVersion:
        for kept in await self.aversions(owner_id):
            if kept.key == picked:
                return kept
        raise ConfigError("that kept version is not in this browser", field="kept")


class RedisEvalHistory:
    """``evals.history.EvalHistoryStorage`` in Redis: a list of runs per browser, newest
    first, and its test set."""

    def __init__(
        self,
        client: Redis,
        *,
        max_runs: int = DEFAULT_MAX_RUNS,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
        expire_after_s: float = DEFAULT_EXPIRE_AFTER_S,
    ) -> None:
        self._redis = client
        self.max_runs, self.max_record_bytes = max_runs, max_record_bytes
        self.expire_after_s = expire_after_s

    @staticmethod
    def _keys(owner_id: str) -> tuple[str, str]:
        owner = owner_key(owner_id)
        return f"sp:eval-runs:{owner}", f"sp:eval-set:{owner}"

    async def aadd(self, owner_id: str, record: EvalRecord) -> None:
        text = record_text(record, self.max_record_bytes)
        runs, _ = self._keys(owner_id)
        with _reaching_redis():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.lpush(runs, text)
                pipe.ltrim(runs, 0, self.max_runs - 1)
                pipe.expire(runs, round(self.expire_after_s))
                await pipe.execute()

    async def aruns(self, owner_id: str) -> list[EvalRecord]:
        runs, _ = self._keys(owner_id)
        with _reaching_redis():
            texts = cast(list[bytes], await self._redis.lrange(runs, 0, -1))
        out, seen = [], set()
        for text in texts:
            try:
                record = record_from_json(text.decode())
            except ValueError as exc:  # written by another version
                log.warning("a kept eval run could not be read and was skipped: %s", exc)
                continue
            if record.eval_id not in seen:  # kept again: the newest stands
                seen.add(record.eval_id)
                out.append(record)
        return out

    async def asave_set(self, owner_id: str, rows: list[list[str]]) -> None:
        text = set_text(rows)
        _, kept_set = self._keys(owner_id)
        with _reaching_redis():
            await self._redis.set(kept_set, text, ex=round(self.expire_after_s))

    async def aload_set(self, owner_id: str) -> list[list[str]] | None:
        _, kept_set = self._keys(owner_id)
        with _reaching_redis():
            text = cast(bytes | None, await self._redis.get(kept_set))
        return None if text is None else read_set(text.decode())
