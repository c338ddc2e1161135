"""One worker thread for an in-process model's blocking calls, run one at a time, in order.

The local voice and the local speech-to-text each hold a model that is neither thread-safe nor
worth running twice at once on two cores; their calls queue on a thread of their own so the event
loop never blocks. ``close`` drops what is queued; a later call starts a new thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["SerialWorker"]

T = TypeVar("T")


class SerialWorker:
    def __init__(self, name: str) -> None:
        self._name = name
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        """Run ``func(*args)`` on the worker thread, after the calls queued before it."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._get_executor(), func, *args)

    def close(self) -> None:
        """Stop the worker thread, dropping queued calls."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def _get_executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self._name)
            return self._executor
