"""Every SDK, websockets and httpx exception from Deepgram as an ``errors.ProviderError``.

The key is scrubbed from every message; it is never logged nor shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import httpx
import websockets.exceptions as ws_exceptions
from deepgram.core.api_error import ApiError

from playground.errors import ErrorCategory, ProviderError

__all__ = [
    "AUTH_MESSAGE",
    "PROVIDER",
    "ErrorTranslator",
    "detail_of",
    "error",
    "should_fall_back",
    "status_of",
]

PROVIDER: Final = "deepgram"

AUTH_MESSAGE: Final = "Deepgram rejected the key: check DEEPGRAM_API_KEY or paste a key"


@dataclass(frozen=True, slots=True)
class ErrorTranslator:
    """Translates for one provider: its key (to scrub), timeout and base URL (to report)."""

    api_key: str = field(repr=False)  # never shown
    timeout: float
    base: str

    def scrub(self, text: str) -> str:
        return text.replace(self.api_key, "[REDACTED]") if self.api_key else text

    def translate(self, exc: BaseException, *, voice: str | None = None) -> ProviderError:
        """Turn an SDK / websockets / httpx exception into a ``ProviderError``."""
        if isinstance(exc, ProviderError):
            return exc
        status = status_of(exc)
        if status is not None:
            return self._from_status(status, detail_of(exc), voice)
        if isinstance(exc, ws_exceptions.ConnectionClosed):
            frame = exc.rcvd or exc.sent
            code = frame.code if frame is not None else 1006
            reason = frame.reason if frame is not None else ""
            what = f"code {code}: {reason}" if reason else f"code {code}"
            message = self.scrub(f"Deepgram closed the connection ({what})")
            if code == 1008:
                return error(message + ": the request was refused", ErrorCategory.BAD_REQUEST)
            return error(message, ErrorCategory.CONNECTIVITY)
        if isinstance(exc, TimeoutError | httpx.TimeoutException):
            return error(
                f"Deepgram did not answer within {self.timeout:g} s", ErrorCategory.TIMEOUT
            )
        if isinstance(exc, httpx.TransportError | OSError | ws_exceptions.WebSocketException):
            return error(
                self.scrub(f"Could not reach Deepgram at {self.base}: {exc}"),
                ErrorCategory.CONNECTIVITY,
            )
        return error(f"Deepgram failed unexpectedly ({type(exc).__name__})", ErrorCategory.INTERNAL)

    def _from_status(self, status: int, detail: str, voice: str | None) -> ProviderError:
        detail = self.scrub(detail)
        suffix = f": {detail}" if detail else ""
        if status in (401, 403):
            return error(f"{AUTH_MESSAGE} (HTTP {status})", ErrorCategory.AUTH, status)
        if status == 429:
            return error(
                f"Deepgram rate limit reached (HTTP 429){suffix}; wait a moment and retry",
                ErrorCategory.RATE_LIMIT,
                status,
            )
        if status in (408, 504):
            return error(f"Deepgram timed out (HTTP {status})", ErrorCategory.TIMEOUT, status)
        if status >= 500:
            return error(
                f"Deepgram server error (HTTP {status}){suffix}", ErrorCategory.SERVER, status
            )
        if 400 <= status < 500:
            hint = f" (voice {voice!r}?)" if voice else ""
            return error(
                f"Deepgram refused the request (HTTP {status}){suffix}{hint}",
                ErrorCategory.BAD_REQUEST,
                status,
            )
        return error(
            f"Unexpected answer from Deepgram (HTTP {status})", ErrorCategory.SERVER, status
        )


def error(message: str, category: ErrorCategory, status_code: int | None = None) -> ProviderError:
    return ProviderError(message, category=category, provider=PROVIDER, status_code=status_code)


def status_of(exc: BaseException) -> int | None:
    """The HTTP status carried by an SDK or websockets handshake exception, if any."""
    if isinstance(exc, ApiError):
        return exc.status_code
    if isinstance(exc, ws_exceptions.InvalidStatus):  # sync client / new asyncio client
        return int(exc.response.status_code)
    if isinstance(exc, ws_exceptions.InvalidHandshake):  # legacy InvalidStatusCode (deprecated)
        status = getattr(exc, "status_code", None)
        return status if isinstance(status, int) else None
    return None


def detail_of(exc: BaseException) -> str:
    body: Any = exc.body if isinstance(exc, ApiError) else None
    if isinstance(body, dict):
        for key in ("err_msg", "message", "reason", "error"):
            if isinstance(body.get(key), str):
                return str(body[key])[:200]
        return ""
    if isinstance(body, str):
        return body[:200]
    return ""


def should_fall_back(exc: BaseException) -> bool:
    """Whether a failure to open the WebSocket should send this session to REST."""
    status = status_of(exc)
    if status is not None:
        return status in (404, 405, 426) or status >= 500
    if isinstance(exc, TimeoutError):  # a handshake that hangs is not worth a REST retry
        return False
    return isinstance(exc, OSError | ws_exceptions.InvalidHandshake | EOFError)
