"""``FlushBudget``: Deepgram allows 20 ``Flush`` messages per 60 s per account; one budget per
provider makes ``synthesize`` wait for a free slot."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

__all__ = ["FlushBudget"]

logger = logging.getLogger("playground.providers.deepgram_tts")  # one logger for the provider


class FlushBudget:
    """A sliding-window limit on ``Flush`` messages (Deepgram: 20 per 60 s per account).

    ``clock`` and ``sleep`` are injectable so tests can run a fake clock. Not thread-safe: use
    it from one event loop (checking and recording a flush has no ``await`` in between).
    """

    def __init__(
        self,
        limit: int = 20,
        window: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("FlushBudget needs limit >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()

    def _prune(self, now: float) -> None:
        while self._sent and self._sent[0] + self.window <= now:
            self._sent.popleft()

    def available(self) -> int:
        """How many flushes may be sent right now."""
        self._prune(self._clock())
        return self.limit - len(self._sent)

    def delay(self) -> float:
        """Seconds until the next flush is allowed (0.0 if it is allowed now)."""
        now = self._clock()
        self._prune(now)
        if len(self._sent) < self.limit:
            return 0.0
        return max(0.0, self._sent[0] + self.window - now)

    async def acquire(self) -> float:
        """Wait until a flush is allowed and record it; return the seconds spent waiting."""
        waited = 0.0
        while True:
            pause = self.delay()
            if pause <= 0.0:
                self._sent.append(self._clock())
                return waited
            logger.info("Deepgram flush budget exhausted; waiting %.1f s", pause)
            await self._sleep(pause)
            waited += pause
