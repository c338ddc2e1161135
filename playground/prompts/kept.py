"""Prompt versions kept for one browser, where the server cannot save them (a public Space).

A read-only deployment still lets a designer keep their work: "Save" in the editor keeps the
version here, beside that browser's notebook (same SQLite file, same opaque owner id, of which
only the SHA-256 is stored), numbered per prompt ("kept 1", "kept 2", …) apart from the
server's versions so the two can never be confused. A kept version opens in the editor as a
draft over the picked version, runs as a draft (its full text recorded with each run), and
downloads as YAML to be committed or uploaded elsewhere.

Bounded like the notebook: ``max_per_owner`` versions per browser (the oldest go first), each
at most ``max_text_bytes``, and owners not seen for ``expire_after_s`` are forgotten.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Protocol

from playground.errors import ConfigError
from playground.notebook.store import owner_key

__all__ = ["KeptPrompts", "KeptStorage", "KeptVersion", "check_kept_size", "kept_at"]

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS kept_prompts (
    owner_hash TEXT NOT NULL,
    prompt_id  TEXT NOT NULL,
    number     INTEGER NOT NULL,
    based_on   TEXT NOT NULL,
    note       TEXT NOT NULL,
    text       TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (owner_hash, prompt_id, number)
)
"""
_SEEN_INDEX: Final = "CREATE INDEX IF NOT EXISTS kept_prompts_seen ON kept_prompts (created_at)"
DEFAULT_MAX_PER_OWNER: Final = 200
DEFAULT_MAX_TEXT_BYTES: Final = 64_000
DEFAULT_EXPIRE_AFTER_S: Final = 30 * 86_400.0
DEFAULT_MAX_TOTAL_BYTES: Final = 200_000_000  # every owner's texts together


@dataclass(frozen=True, slots=True)
class KeptVersion:
    """One kept version: the editor's YAML text as it was kept, and where it came from."""

    prompt_id: str
    number: int
    based_on: str  # the ``id@version`` it was edited from
    note: str
    text: str
    created: datetime

    @property
    def key(self) -> str:
        """How the page names it in a picker value: ``<prompt id>:<number>``."""
        return f"{self.prompt_id}:{self.number}"

    @property
    def label(self) -> str:
        return f"{self.prompt_id} · kept {self.number}"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    @property
    def file_name(self) -> str:
        return f"{self.prompt_id}-kept-{self.number}.yaml"


def check_kept_size(text: str, max_text_bytes: int) -> None:
    """``ConfigError`` when ``text`` is too big to keep."""
    size = len(text.encode())
    if size > max_text_bytes:
        raise ConfigError(
            f"the prompt is {size:,} bytes; at most {max_text_bytes:,} can be kept",
            field="prompt_draft",
        )


class KeptStorage(Protocol):
    """Where a browser's kept versions are: the notebook's SQLite file (``KeptPrompts``), or
    Redis beside the notebooks (``state.redis_browsers``)."""

    async def akeep(
        self, owner_id: str, prompt_id: str, text: str, *, based_on: str, note: str
    ) -> KeptVersion: ...

    async def aversions(self, owner_id: str) -> list[KeptVersion]: ...

    async def aversion(self, owner_id: str, picked: str) -> KeptVersion: ...


class KeptPrompts:
    """Kept versions by owner in the SQLite file ``path`` (the notebook's file)."""

    def __init__(
        self,
        path: Path,
        *,
        max_per_owner: int = DEFAULT_MAX_PER_OWNER,
        max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES,
        expire_after_s: float = DEFAULT_EXPIRE_AFTER_S,
        max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
    ) -> None:
        if min(max_per_owner, max_text_bytes, expire_after_s, max_total_bytes) <= 0:
            raise ValueError("KeptPrompts needs positive bounds")
        if max_total_bytes < max_text_bytes:
            raise ValueError("KeptPrompts needs max_total_bytes >= max_text_bytes")
        self.path = Path(path)
        self.max_per_owner = max_per_owner
        self.max_text_bytes = max_text_bytes
        self.expire_after_s = expire_after_s
        self.max_total_bytes = max_total_bytes
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute(_SCHEMA)
            conn.execute(_SEEN_INDEX)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        try:
            conn.execute("PRAGMA synchronous=NORMAL")
            yield conn
        finally:
            conn.close()

    def keep(
        self, owner_id: str, prompt_id: str, text: str, *, based_on: str, note: str
    ) -> KeptVersion:
        """Keep ``text`` (already validated by the caller) as the owner's next version of
        ``prompt_id``. The number is claimed inside one write transaction, so two tabs keeping
        at once get distinct numbers."""
        key = owner_key(owner_id)
        check_kept_size(text, self.max_text_bytes)
        now = time.time()
        with self._lock, self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute(
                    "SELECT COALESCE(MAX(number), 0) FROM kept_prompts "
                    "WHERE owner_hash = ? AND prompt_id = ?",
                    (key, prompt_id),
                ).fetchone()
                number = int(row[0]) + 1
                conn.execute(
                    "INSERT INTO kept_prompts VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (key, prompt_id, number, based_on, note, text, now),
                )
                self._prune(conn, key, now)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return KeptVersion(prompt_id, number, based_on, note, text, kept_at(now))

    def versions(self, owner_id: str) -> list[KeptVersion]:
        """The owner's kept versions, newest first."""
        key = owner_key(owner_id)
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT prompt_id, number, based_on, note, text, created_at FROM kept_prompts "
                "WHERE owner_hash = ? ORDER BY created_at DESC, number DESC",
                (key,),
            ).fetchall()
        return [KeptVersion(p, n, b, note, t, kept_at(c)) for p, n, b, note, t, c in rows]

    def version(self, owner_id: str, picked: str) -> KeptVersion:
        """The owner's kept version named ``<prompt id>:<number>``; ``ConfigError`` if none."""
        for kept in self.versions(owner_id):
            if kept.key == picked:
                return kept
        raise ConfigError("that kept version is not in this browser", field="kept")

    def _prune(self, conn: sqlite3.Connection, key: str, now: float) -> None:
        # Owners whose newest kept version is older than the expiry are forgotten.
        conn.execute(
            "DELETE FROM kept_prompts WHERE owner_hash IN (SELECT owner_hash FROM kept_prompts "
            "GROUP BY owner_hash HAVING MAX(created_at) < ?)",
            (now - self.expire_after_s,),
        )
        conn.execute(
            "DELETE FROM kept_prompts WHERE owner_hash = ? AND rowid NOT IN (SELECT rowid "
            "FROM kept_prompts WHERE owner_hash = ? ORDER BY created_at DESC, number DESC "
            "LIMIT ?)",
            (key, key, self.max_per_owner),
        )
        # Anyone who opens the page can keep versions: beyond the total, the oldest go first
        # (counted from the newest, so the version just kept always stays).
        conn.execute(
            "DELETE FROM kept_prompts WHERE rowid IN (SELECT rowid FROM (SELECT rowid, "
            "SUM(LENGTH(CAST(text AS BLOB))) OVER (ORDER BY created_at DESC, rowid DESC) "
            "AS running FROM kept_prompts) WHERE running > ?)",
            (self.max_total_bytes,),
        )

    async def akeep(
        self, owner_id: str, prompt_id: str, text: str, *, based_on: str, note: str
    ) -> KeptVersion:
        return await asyncio.to_thread(
            self.keep, owner_id, prompt_id, text, based_on=based_on, note=note
        )

    async def aversions(self, owner_id: str) -> list[KeptVersion]:
        return await asyncio.to_thread(self.versions, owner_id)

    async def aversion(self, owner_id: str, picked: str) -> KeptVersion:
        return await asyncio.to_thread(self.version, owner_id, picked)


def kept_at(epoch: float) -> datetime:
    """When a version was kept, to the second, from its epoch seconds."""
    return datetime.fromtimestamp(int(epoch), UTC)
