"""Deepgram Aura text-to-speech over the streaming WebSocket, with a REST fallback.

One ``DeepgramSession`` is one turn: it opens a single ``/v1/speak`` WebSocket lazily on the
first ``synthesize`` and sends ``Speak`` + ``Flush`` for every sentence, collecting the binary
linear16 frames until the matching ``Flushed``. ``interrupt`` sends ``Clear``; ``aclose`` sends
``Close`` once nothing is outstanding and closes the socket.

If the WebSocket cannot be opened for a reason other than the key (connection refused, a 404 or
5xx handshake, a server that does not speak WebSocket), the session falls back to the REST
endpoint (``POST /v1/speak``), one request per sentence.

Deepgram allows 20 ``Flush`` messages per 60 s per account; ``FlushBudget`` (one per provider)
makes ``synthesize`` wait for a free slot, and ``DeepgramSession.flush_available`` lets a caller
batch queued sentences into one call when the budget runs low.

Every SDK, websockets and httpx exception is translated into ``errors.ProviderError``; the key is
never logged nor put in a message.

This module is the provider; the rest is one job per module: ``deepgram_session`` (the
WebSocket), ``deepgram_rest`` (the fallback), ``deepgram_flush`` (the budget),
``deepgram_errors`` (the translation) and ``deepgram_voices`` (voices and limits). The names
other modules import from here are re-exported.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

import httpx
from deepgram import AsyncDeepgramClient
from deepgram.core.api_error import ApiError

from playground.errors import ConfigError, MissingKeyError, ProviderError
from playground.providers.deepgram_environment import deepgram_environment
from playground.providers.deepgram_errors import AUTH_MESSAGE, ErrorTranslator
from playground.providers.deepgram_flush import FlushBudget
from playground.providers.deepgram_session import DeepgramSession
from playground.providers.deepgram_voices import DEEPGRAM_VOICES, SAMPLE_RATES

__all__ = [
    "AUTH_MESSAGE",
    "DEEPGRAM_VOICES",
    "DeepgramSession",
    "DeepgramTTS",
    "FlushBudget",
]

logger = logging.getLogger(__name__)

CHECK_KEY_TIMEOUT: Final = 5.0


class DeepgramTTS:
    """The Deepgram Aura ``TTSProvider``. Create one per process and ``aclose`` it at the end.

    ``base_url`` is the http(s) base of the API (``DEEPGRAM_BASE_URL``; production by default);
    the WebSocket base is derived from it (http→ws, https→wss). ``timeout`` is how long a
    ``synthesize`` may go without receiving audio before it fails with ``TIMEOUT``.
    """

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        sample_rate: int = 24000,
        flush_budget: FlushBudget | None = None,
        timeout: float = 15.0,
    ) -> None:
        if not api_key or not api_key.strip():
            raise MissingKeyError(
                "No Deepgram key: set DEEPGRAM_API_KEY or paste a key to use Deepgram voices"
            )
        if sample_rate not in SAMPLE_RATES:
            raise ConfigError(
                f"Deepgram linear16 sample rate must be one of {SAMPLE_RATES}, got {sample_rate}"
            )
        if timeout <= 0:
            raise ConfigError("The Deepgram timeout must be positive")
        self._api_key = api_key.strip()
        self.sample_rate = int(sample_rate)
        self.timeout = float(timeout)
        self.flush_budget = flush_budget if flush_budget is not None else FlushBudget()
        self.environment = deepgram_environment(base_url)
        self._errors = ErrorTranslator(self._api_key, self.timeout, str(self.environment.base))
        self._http = httpx.AsyncClient(timeout=self.timeout, follow_redirects=True)
        self._client = AsyncDeepgramClient(
            api_key=self._api_key,
            environment=self.environment,
            httpx_client=self._http,
            timeout=self.timeout,
        )

    def __repr__(self) -> str:  # never show the key
        return f"DeepgramTTS(base={self.environment.base!r}, sample_rate={self.sample_rate})"

    @property
    def client(self) -> AsyncDeepgramClient:
        return self._client

    def open_session(self, voice: str) -> DeepgramSession:
        """A session for ``voice`` (e.g. ``aura-2-thalia-en``); the socket opens lazily."""
        voice = voice.strip()
        if not voice:
            raise ConfigError("A Deepgram voice name is required, e.g. aura-2-thalia-en")
        return DeepgramSession(self, voice)

    async def check_key(self) -> str | None:
        """Return a one-line reason if Deepgram rejects the key (401/403), else None.

        Uses ``GET /v1/projects`` (``manage.v1.projects.list``), no retries, a short timeout.
        Anything that prevents the check (network, 5xx, timeout) returns None: "can't tell".
        """
        try:
            async with asyncio.timeout(CHECK_KEY_TIMEOUT):
                await self._client.manage.v1.projects.list(
                    request_options={"timeout": CHECK_KEY_TIMEOUT, "max_retries": 0}
                )
        except ApiError as exc:
            if exc.status_code in (401, 403):
                return f"{AUTH_MESSAGE} (HTTP {exc.status_code})"
            logger.info("Deepgram key check inconclusive: HTTP %s", exc.status_code)
        except (httpx.HTTPError, OSError) as exc:  # TimeoutError is an OSError
            logger.info("Deepgram key check inconclusive: %s", type(exc).__name__)
        return None

    async def aclose(self) -> None:
        """Close the shared HTTP client (sessions close their own sockets)."""
        await self._http.aclose()

    async def __aenter__(self) -> DeepgramTTS:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def translate(self, exc: BaseException, *, voice: str | None = None) -> ProviderError:
        """Turn an SDK / websockets / httpx exception into a ``ProviderError``."""
        return self._errors.translate(exc, voice=voice)
