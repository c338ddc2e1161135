"""Each browser's notebook, changed safely by concurrent events.

``NotebookStore`` reads and writes whole notebooks; two events of one browser (a turn finishing
while the user deletes a cell, say) would lose one change without a lock around each
read-modify-write. Locks are striped by owner so memory stays bounded however many browsers
come and go, and the store's blocking SQLite calls run in worker threads. The lock is this
process's; in Redis the store's own update is atomic across replicas too (``aupdate``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from playground.evals.history import EvalHistory, EvalHistoryStorage
from playground.notebook.model import Notebook, RunCell
from playground.notebook.store import NotebookStorage, NotebookStore, validate_owner_id
from playground.prompts.kept import KeptPrompts, KeptStorage

__all__ = ["Notebooks"]

log = logging.getLogger(__name__)

_STRIPES: Final = 64


class Notebooks:
    """Each browser's notebook, with what else it keeps beside it (by the same owner id,
    forgotten on the same schedule): the prompt versions it keeps where the server cannot save
    them (``kept``), its eval runs and test set (``history``). By default all three are in the
    notebook's SQLite file (``Notebooks.in_file``); with Redis, in Redis."""

    def __init__(
        self,
        store: NotebookStorage,
        kept: KeptStorage,
        history: EvalHistoryStorage,
        *,
        close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """``close``: what to do at shutdown (close the client the three share)."""
        self.store, self.kept, self.history = store, kept, history
        self._close = close
        self._locks = tuple(asyncio.Lock() for _ in range(_STRIPES))

    async def aclose(self) -> None:
        if self._close is not None:
            await self._close()

    @classmethod
    def in_file(cls, store: NotebookStore) -> Notebooks:
        """All three in the notebook store's SQLite file."""
        expiry = store.expire_after_s
        return cls(
            store,
            KeptPrompts(store.path, expire_after_s=expiry),
            EvalHistory(store.path, expire_after_s=expiry),
        )

    def _lock(self, owner: str) -> asyncio.Lock:
        digest = hashlib.sha256(validate_owner_id(owner).encode("ascii")).digest()
        return self._locks[digest[0] % _STRIPES]

    async def load(self, owner: str) -> Notebook:
        async with self._lock(owner):
            return await self.store.aload(owner)

    async def shown(self, owner: str) -> Notebook:
        """The notebook to show as a page opens: empty (said in the log) when its storage
        cannot be reached, so the page still opens; a change then fails on its own read, so
        nothing stored is overwritten."""
        try:
            return await self.load(owner)
        except OSError as exc:
            log.warning("a notebook could not be read, shown empty: %s", exc)
            return Notebook()

    async def update(self, owner: str, change: Callable[[Notebook], Notebook]) -> Notebook:
        """Apply ``change`` to the stored notebook and store the result; returns what was kept
        (``change`` may raise ``ConfigError``, which leaves the notebook as it was)."""
        async with self._lock(owner):
            return await self.store.aupdate(owner, change)

    async def append(self, owner: str, cell: RunCell) -> Notebook:
        return await self.update(
            owner, lambda nb: nb.appended(cell, max_cells=self.store.max_cells)
        )
