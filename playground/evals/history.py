"""The Evals tab's memory for one browser: its finished eval runs (to compare a later run with an
earlier one) and the test set it last ran or imported (so a reload keeps it).

Kept beside that browser's notebook, as the kept prompt versions are: the same SQLite file, the
same opaque owner id of which only the SHA-256 is stored, forgotten on the same schedule.
Bounded: ``max_runs`` runs per browser (the oldest go first), each at most ``max_record_bytes``
of JSON (a bigger one is not kept, and says so), and every owner's runs together at most
``max_total_bytes``. A record another version wrote, that no longer reads, is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final, Protocol

from playground.errors import ConfigError
from playground.evals.record import EvalRecord, record_from_json, record_json
from playground.notebook.store import owner_key

__all__ = ["EvalHistory", "EvalHistoryStorage", "read_set", "record_text", "set_text"]

logger = logging.getLogger(__name__)

_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS eval_runs (
    owner_hash TEXT NOT NULL,
    eval_id    TEXT NOT NULL,
    record     TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (owner_hash, eval_id)
)""",
    "CREATE INDEX IF NOT EXISTS eval_runs_seen ON eval_runs (created_at)",
    """CREATE TABLE IF NOT EXISTS eval_sets (
    owner_hash TEXT PRIMARY KEY,
    rows       TEXT NOT NULL,
    updated_at REAL NOT NULL
)""",
)
DEFAULT_MAX_RUNS: Final = 20
DEFAULT_MAX_RECORD_BYTES: Final = 2_000_000
DEFAULT_MAX_TOTAL_BYTES: Final = 500_000_000
DEFAULT_EXPIRE_AFTER_S: Final = 30 * 86_400.0
MAX_SET_BYTES: Final = 1_000_000  # a test set's table as typed (200 cases is far below)


class EvalHistoryStorage(Protocol):
    """Where a browser's eval runs and test set are: the notebook's SQLite file
    (``EvalHistory``), or Redis beside the notebooks (``state.redis_browsers``)."""

    async def aadd(self, owner_id: str, record: EvalRecord) -> None: ...

    async def aruns(self, owner_id: str) -> list[EvalRecord]: ...

    async def asave_set(self, owner_id: str, rows: list[list[str]]) -> None: ...

    async def aload_set(self, owner_id: str) -> list[list[str]] | None: ...


def record_text(record: EvalRecord, max_record_bytes: int) -> str:
    """The record as kept; ``ConfigError`` when it is too big to keep."""
    text = record_json(record)
    size = len(text.encode())
    if size > max_record_bytes:
        raise ConfigError(
            f"the run's results are {size:,} bytes; at most {max_record_bytes:,} are kept",
            field="eval",
        )
    return text


def set_text(rows: list[list[str]]) -> str:
    """A test set's rows as kept (bad cells included: the user is still editing);
    ``ConfigError`` when they are too big to keep."""
    text = json.dumps(rows, ensure_ascii=False)
    if len(text.encode()) > MAX_SET_BYTES:
        raise ConfigError("the test set is too big to keep in this browser", field="cases")
    return text


def read_set(text: str) -> list[list[str]] | None:
    """A kept test set's rows; None when they do not read."""
    try:
        rows = json.loads(text)
    except ValueError:
        return None
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        return None
    return [[str(cell) for cell in r] for r in rows]


class EvalHistory:
    """Eval runs and test sets by owner in the SQLite file ``path`` (the notebook's file)."""

    def __init__(
        self,
        path: Path,
        *,
        max_runs: int = DEFAULT_MAX_RUNS,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
        max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
        expire_after_s: float = DEFAULT_EXPIRE_AFTER_S,
    ) -> None:
        if min(max_runs, max_record_bytes, max_total_bytes, expire_after_s) <= 0:
            raise ValueError("EvalHistory needs positive bounds")
        if max_total_bytes < max_record_bytes:
            raise ValueError("EvalHistory needs max_total_bytes >= max_record_bytes")
        self.path = Path(path)
        self.max_runs, self.max_record_bytes = max_runs, max_record_bytes
        self.max_total_bytes, self.expire_after_s = max_total_bytes, expire_after_s
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            for statement in _SCHEMA:
                conn.execute(statement)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        try:
            conn.execute("PRAGMA synchronous=NORMAL")
            yield conn
        finally:
            conn.close()

    # -- runs --------------------------------------------------------------------------------
    def add(self, owner_id: str, record: EvalRecord) -> None:
        """Keep ``record`` for the owner; ``ConfigError`` when it is too big to keep."""
        key, text = owner_key(owner_id), record_text(record, self.max_record_bytes)
        with self._lock, self._connect() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO eval_runs VALUES (?, ?, ?, ?)",
                (key, record.eval_id, text, record.created),
            )
            self._prune(conn, key)

    def runs(self, owner_id: str) -> list[EvalRecord]:
        """The owner's kept runs, newest first."""
        key = owner_key(owner_id)
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT record FROM eval_runs WHERE owner_hash = ? "
                "ORDER BY created_at DESC, rowid DESC",
                (key,),
            ).fetchall()
        out = []
        for (text,) in rows:
            try:
                out.append(record_from_json(text))
            except ValueError as exc:  # written by another version: not worth breaking the tab
                logger.warning("a kept eval run could not be read and was skipped: %s", exc)
        return out

    def _prune(self, conn: sqlite3.Connection, key: str) -> None:
        # Owners whose newest run is older than the expiry are forgotten, as notebooks are.
        conn.execute(
            "DELETE FROM eval_runs WHERE owner_hash IN (SELECT owner_hash FROM eval_runs "
            "GROUP BY owner_hash HAVING MAX(created_at) < ?)",
            (time.time() - self.expire_after_s,),
        )
        conn.execute(
            "DELETE FROM eval_runs WHERE owner_hash = ? AND rowid NOT IN (SELECT rowid "
            "FROM eval_runs WHERE owner_hash = ? ORDER BY created_at DESC, rowid DESC LIMIT ?)",
            (key, key, self.max_runs),
        )
        # Anyone who opens the page can run evals: beyond the total, the oldest go first.
        conn.execute(
            "DELETE FROM eval_runs WHERE rowid IN (SELECT rowid FROM (SELECT rowid, "
            "SUM(LENGTH(CAST(record AS BLOB))) OVER (ORDER BY created_at DESC, rowid DESC) "
            "AS running FROM eval_runs) WHERE running > ?)",
            (self.max_total_bytes,),
        )

    # -- the test set ------------------------------------------------------------------------
    def save_set(self, owner_id: str, rows: list[list[str]]) -> None:
        """Keep the table's rows as typed (bad cells included: the user is still editing)."""
        key, text = owner_key(owner_id), set_text(rows)
        now = time.time()
        with self._lock, self._connect() as conn:
            conn.execute("INSERT OR REPLACE INTO eval_sets VALUES (?, ?, ?)", (key, text, now))
            conn.execute("DELETE FROM eval_sets WHERE updated_at < ?", (now - self.expire_after_s,))

    def load_set(self, owner_id: str) -> list[list[str]] | None:
        """The rows last kept for the owner; None when there are none (or they do not read)."""
        key = owner_key(owner_id)
        with self._connect() as conn:
            row = conn.execute("SELECT rows FROM eval_sets WHERE owner_hash = ?", (key,)).fetchone()
        return None if row is None else read_set(row[0])

    # -- async -------------------------------------------------------------------------------
    async def aadd(self, owner_id: str, record: EvalRecord) -> None:
        await asyncio.to_thread(self.add, owner_id, record)

    async def aruns(self, owner_id: str) -> list[EvalRecord]:
        return await asyncio.to_thread(self.runs, owner_id)

    async def asave_set(self, owner_id: str, rows: list[list[str]]) -> None:
        await asyncio.to_thread(self.save_set, owner_id, rows)

    async def aload_set(self, owner_id: str) -> list[list[str]] | None:
        return await asyncio.to_thread(self.load_set, owner_id)
