"""The one gate every surface's turns pass: the HTTP API, the page's chat, reruns and the
streaming-vs-complete comparison all count against the same per-client limits.

A ``Limiter`` (``api.limits.ClientLimiter``) answers whether a client may start a turn now (a
sliding-window rate and a cap on concurrent turns). ``TurnGate.enter`` admits one turn or raises
``TurnRefused`` with the seconds to wait; the caller runs ``release`` when that turn has ended,
however it ended. The client key says who is asking (a validated token, else the address), never
a session id a caller could mint afresh.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

from playground.errors import ErrorCategory, PlaygroundError

__all__ = ["Limiter", "TurnGate", "TurnRefused"]


class Limiter(Protocol):
    def admit(self, client: str) -> float | None:
        """Record a turn for ``client`` if allowed; else the seconds until it would be."""
        ...

    def release(self, client: str) -> None: ...


class TurnRefused(PlaygroundError):
    """Too many turns from one client right now; ``retry_after`` says when to try again."""

    category = ErrorCategory.RATE_LIMIT

    def __init__(self, retry_after: float, message: str | None = None) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(
            message
            or f"Too many turns from your address right now: try again in {seconds} s "
            "(the same limits apply to the page and the HTTP API)."
        )
        self.retry_after = seconds


class TurnGate:
    """Admits turns through a shared ``Limiter``; with none, everything is admitted."""

    def __init__(self, limiter: Limiter | None) -> None:
        self._limiter = limiter

    def enter(self, client: str) -> Callable[[], None]:
        """Admit one turn for ``client``: returns the release to call once, when it ends."""
        limiter = self._limiter
        if limiter is None:
            return _nothing
        retry_after = limiter.admit(client)
        if retry_after is not None:
            raise TurnRefused(retry_after)
        released = False

        def release() -> None:
            nonlocal released
            if not released:  # a turn can end by several paths; it is counted out once
                released = True
                limiter.release(client)

        return release


def _nothing() -> None:
    pass
