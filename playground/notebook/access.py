"""Each browser's notebook, changed safely by concurrent events.

``NotebookStore`` reads and writes whole notebooks; two events of one browser (a turn finishing
while the user deletes a cell, say) would lose one change without a lock around each
read-modify-write. Locks are striped by owner so memory stays bounded however many browsers
come and go, and the store's blocking SQLite calls run in worker threads.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from typing import Final

from playground.notebook.model import Notebook, RunCell
from playground.notebook.store import NotebookStore, validate_owner_id
from playground.prompts.kept import KeptPrompts

__all__ = ["Notebooks"]

_STRIPES: Final = 64


class Notebooks:
    def __init__(self, store: NotebookStore) -> None:
        self.store = store
        # Prompt versions a browser keeps where the server cannot save them: same file, same
        # owner ids, forgotten on the same schedule.
        self.kept = KeptPrompts(store.path, expire_after_s=store.expire_after_s)
        self._locks = tuple(asyncio.Lock() for _ in range(_STRIPES))

    def _lock(self, owner: str) -> asyncio.Lock:
        digest = hashlib.sha256(validate_owner_id(owner).encode("ascii")).digest()
        return self._locks[digest[0] % _STRIPES]

    async def load(self, owner: str) -> Notebook:
        async with self._lock(owner):
            return await self.store.aload(owner)

    async def update(self, owner: str, change: Callable[[Notebook], Notebook]) -> Notebook:
        """Apply ``change`` to the stored notebook and store the result; returns what was kept
        (``change`` may raise ``ConfigError``, which leaves the notebook as it was)."""
        async with self._lock(owner):
            current = await self.store.aload(owner)
            return await self.store.asave(owner, change(current))

    async def append(self, owner: str, cell: RunCell) -> Notebook:
        return await self.update(
            owner, lambda nb: nb.appended(cell, max_cells=self.store.max_cells)
        )
