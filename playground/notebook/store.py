"""Each browser's notebook in a local SQLite file, so it survives a page refresh and a restart.

A browser is known only by an opaque random id it keeps (``new_owner_id``: 256 bits,
URL-safe base64). The id is checked for shape before any query — at least 128 bits' worth of
characters — so a short or guessed id never matches a row, and only its SHA-256 is stored: the
file alone does not reveal the ids that would open the notebooks. There is no way to list
owners; ``load`` returns the caller's own row or an empty notebook.

One table, WAL journal, a new connection per call (cheap for SQLite, and safe from any thread)
and a per-store lock around writes. ``aload``/``asave``/``adelete`` run the same calls in a
worker thread for async callers. Each notebook is bounded (``max_cells``, ``max_bytes`` of JSON):
``save`` drops the oldest cells to fit and returns what it kept.

The file as a whole is bounded too, since anyone who opens the page makes an owner: owners not
seen (loaded or saved) for ``expire_after_s`` are forgotten, and beyond ``max_owners`` owners or
``max_total_bytes`` the least recently seen go first. This runs when the store opens and after
every save, so it needs no background task.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final, Protocol

from playground.errors import ConfigError
from playground.notebook.model import (
    MAX_CELLS,
    MAX_NOTEBOOK_BYTES,
    Notebook,
    cell_json,
    notebook_from_json,
    notebook_to_json,
)

__all__ = [
    "NotebookStorage",
    "NotebookStore",
    "bounded_notebook",
    "new_owner_id",
    "owner_key",
    "stored_notebook",
    "validate_owner_id",
]

logger = logging.getLogger(__name__)

# URL-safe base64 (or hex) of at least 128 bits: 22 base64 characters carry 132 bits.
_OWNER_ID: Final = re.compile(r"^[A-Za-z0-9_-]{22,128}$")
_MIN_DISTINCT_CHARS: Final = 8  # rejects "aaaa…"-style ids that are long but not random

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS notebooks (
    owner_hash TEXT PRIMARY KEY,
    notebook   TEXT NOT NULL,
    bytes      INTEGER NOT NULL,
    updated_at REAL NOT NULL
)
"""
# updated_at is when the owner was last seen: the least recently seen go first.
_SEEN_INDEX: Final = "CREATE INDEX IF NOT EXISTS notebooks_seen ON notebooks (updated_at)"
# A load marks the owner as seen, but at most this often: a page's clicks stay reads.
_TOUCH_EVERY_S: Final = 3600.0
DEFAULT_MAX_OWNERS: Final = 10_000
DEFAULT_MAX_TOTAL_BYTES: Final = 1_000_000_000
DEFAULT_EXPIRE_AFTER_S: Final = 30 * 86_400.0


def new_owner_id() -> str:
    """A fresh browser id: 256 random bits, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


def validate_owner_id(owner_id: object) -> str:
    """``owner_id`` if it has the shape of a ``new_owner_id``; otherwise ``ConfigError``."""
    if (
        not isinstance(owner_id, str)
        or not _OWNER_ID.fullmatch(owner_id)
        or len(set(owner_id)) < _MIN_DISTINCT_CHARS
    ):
        raise ConfigError(
            "the notebook owner id must be a random id of at least 128 bits "
            "(22+ URL-safe base64 characters)",
            field="owner_id",
        )
    return owner_id


def owner_key(owner_id: str) -> str:
    """What is stored for an owner id: its SHA-256, after checking its shape."""
    return hashlib.sha256(validate_owner_id(owner_id).encode("ascii")).hexdigest()


class NotebookStorage(Protocol):
    """Where each browser's notebook is kept: this SQLite file (one machine), or Redis
    (``state.redis_browsers``, every replica). Reads and writes whole notebooks, bounded by
    ``max_cells``; an owner not seen for ``expire_after_s`` is forgotten. Failures to reach the
    storage are ``OSError``s."""

    max_cells: int
    expire_after_s: float

    async def aload(self, owner_id: str) -> Notebook: ...

    async def asave(self, owner_id: str, nb: Notebook) -> Notebook: ...

    async def adelete(self, owner_id: str) -> None: ...

    async def aupdate(self, owner_id: str, change: Callable[[Notebook], Notebook]) -> Notebook:
        """Store ``change`` of the stored notebook; returns what was kept (``change`` may raise
        ``ConfigError``, which leaves the notebook as it was)."""
        ...


class NotebookStore:
    """Notebooks by owner in the SQLite file ``path`` (created with its folder if missing)."""

    def __init__(
        self,
        path: Path,
        *,
        max_cells: int = MAX_CELLS,
        max_bytes: int = MAX_NOTEBOOK_BYTES,
        max_owners: int = DEFAULT_MAX_OWNERS,
        max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
        expire_after_s: float = DEFAULT_EXPIRE_AFTER_S,
    ) -> None:
        if max_cells < 1 or max_bytes < 1 or max_owners < 1 or expire_after_s <= 0:
            raise ValueError(
                "NotebookStore needs max_cells, max_bytes, max_owners >= 1 and expire_after_s > 0"
            )
        if max_total_bytes < max_bytes:
            # Otherwise one full notebook would push every other owner out, itself included.
            raise ValueError("NotebookStore needs max_total_bytes >= max_bytes")
        self.path = Path(path)
        self.max_cells = max_cells
        self.max_bytes = max_bytes
        self.max_owners = max_owners
        self.max_total_bytes = max_total_bytes
        self.expire_after_s = expire_after_s
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(_SCHEMA)
            conn.execute(_SEEN_INDEX)
            self._prune(conn, keep=None)

    def __repr__(self) -> str:
        return f"NotebookStore({str(self.path)!r}, max_cells={self.max_cells})"

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        try:
            conn.execute("PRAGMA synchronous=NORMAL")
            yield conn
        finally:
            conn.close()

    # -- sync API ------------------------------------------------------------------------------
    def load(self, owner_id: str) -> Notebook:
        """The owner's notebook; an empty one if they have none (or it can no longer be read)."""
        key = owner_key(owner_id)
        with self._connect() as conn:
            row = conn.execute(
                "SELECT notebook FROM notebooks WHERE owner_hash = ?", (key,)
            ).fetchone()
        if row is None:
            return Notebook()
        self._touch(key)
        return stored_notebook(row[0], self.max_cells)

    def save(self, owner_id: str, nb: Notebook) -> Notebook:
        """Store ``nb`` for the owner, within the bounds; returns the notebook as stored."""
        key = owner_key(owner_id)
        bounded, text = bounded_notebook(nb, self.max_cells, self.max_bytes)
        with self._lock, self._connect() as conn:
            conn.execute(
                "INSERT INTO notebooks (owner_hash, notebook, bytes, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT(owner_hash) DO UPDATE SET "
                "notebook = excluded.notebook, bytes = excluded.bytes, "
                "updated_at = excluded.updated_at",
                (key, text, len(text.encode()), time.time()),
            )
            self._prune(conn, keep=key)
        return bounded

    def delete(self, owner_id: str) -> None:
        """Forget the owner's notebook (nothing happens if there is none)."""
        key = owner_key(owner_id)
        with self._lock, self._connect() as conn:
            conn.execute("DELETE FROM notebooks WHERE owner_hash = ?", (key,))

    # -- async API -----------------------------------------------------------------------------
    async def aload(self, owner_id: str) -> Notebook:
        return await asyncio.to_thread(self.load, owner_id)

    async def asave(self, owner_id: str, nb: Notebook) -> Notebook:
        return await asyncio.to_thread(self.save, owner_id, nb)

    async def adelete(self, owner_id: str) -> None:
        await asyncio.to_thread(self.delete, owner_id)

    async def aupdate(self, owner_id: str, change: Callable[[Notebook], Notebook]) -> Notebook:
        # One process per file: its callers hold a lock per owner around this (``Notebooks``).
        return await self.asave(owner_id, change(await self.aload(owner_id)))

    def owners(self) -> int:
        """How many owners have a notebook here (for tests and health, never their ids)."""
        with self._connect() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM notebooks").fetchone()[0])

    def total_bytes(self) -> int:
        with self._connect() as conn:
            return int(conn.execute("SELECT COALESCE(SUM(bytes), 0) FROM notebooks").fetchone()[0])

    # -- bounds --------------------------------------------------------------------------------
    def _touch(self, key: str) -> None:
        now = time.time()
        with self._lock, self._connect() as conn:
            conn.execute(
                "UPDATE notebooks SET updated_at = ? WHERE owner_hash = ? AND updated_at < ?",
                (now, key, now - _TOUCH_EVERY_S),
            )

    def _prune(self, conn: sqlite3.Connection, *, keep: str | None) -> None:
        """Forget expired owners, then the least recently seen beyond the caps (never ``keep``,
        the owner just saved). Called with the write lock held."""
        expired = conn.execute(
            "DELETE FROM notebooks WHERE updated_at < ? AND owner_hash IS NOT ?",
            (time.time() - self.expire_after_s, keep),
        ).rowcount
        # Newest first, with a running count and a running total: past either cap goes.
        over = conn.execute(
            "DELETE FROM notebooks WHERE owner_hash IN (SELECT owner_hash FROM ("
            " SELECT owner_hash, ROW_NUMBER() OVER newest AS n, SUM(bytes) OVER newest AS total"
            " FROM notebooks WINDOW newest AS (ORDER BY owner_hash IS ? DESC, updated_at DESC,"
            " owner_hash ROWS UNBOUNDED PRECEDING)"
            ") WHERE n > ? OR (total > ? AND n > 1))",
            (keep, self.max_owners, self.max_total_bytes),
        ).rowcount
        if expired or over:
            logger.info(
                "notebooks: forgot %d owner(s) not seen for %.0f days and %d beyond the caps",
                expired,
                self.expire_after_s / 86_400,
                over,
            )


def stored_notebook(text: str, max_cells: int) -> Notebook:
    """A notebook as stored; an empty one when it no longer reads (another version wrote it)."""
    try:
        return notebook_from_json(
            text,
            max_bytes=max(MAX_NOTEBOOK_BYTES, len(text.encode())),
            max_cells=max(max_cells, MAX_CELLS),
        )
    except ConfigError as exc:
        # Written by an incompatible version: start afresh rather than break the page.
        logger.warning("a stored notebook could not be read and was ignored: %s", exc.message)
        return Notebook()


def bounded_notebook(nb: Notebook, max_cells: int, max_bytes: int) -> tuple[Notebook, str]:
    """``nb`` within the bounds, and its JSON: the oldest cells dropped until both hold; a lone
    oversized cell loses its audio, then goes too."""
    nb = nb.trimmed(max_cells)
    text = notebook_to_json(nb, include_audio=True)
    size = len(text.encode())
    if size > max_bytes and len(nb.cells) > 1:
        # Measure each cell once and cut at the right place, instead of re-serialising the
        # whole notebook per dropped cell.
        sizes = [len(cell_json(c).encode()) + 1 for c in nb.cells]
        keep = len(sizes)
        while keep > 1 and size > max_bytes:
            size -= sizes[len(sizes) - keep]
            keep -= 1
        nb = nb.trimmed(keep)
        text = notebook_to_json(nb, include_audio=True)
    while len(text.encode()) > max_bytes and nb.cells:
        if len(nb.cells) == 1 and nb.cells[0].has_audio_data:
            nb = nb.without_audio_data()
        else:
            nb = nb.trimmed(len(nb.cells) - 1)
        text = notebook_to_json(nb, include_audio=True)
    return nb, text
