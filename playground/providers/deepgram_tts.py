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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import httpx
import websockets.exceptions as ws_exceptions
from deepgram import AsyncDeepgramClient, DeepgramClientEnvironment
from deepgram.core.api_error import ApiError
from deepgram.speak.v1 import SpeakV1Text
from deepgram.speak.v1.socket_client import AsyncV1SocketClient

from playground.errors import ConfigError, ErrorCategory, MissingKeyError, ProviderError
from playground.providers.base import SpeechAudio

__all__ = [
    "AUTH_MESSAGE",
    "DEEPGRAM_VOICES",
    "DeepgramSession",
    "DeepgramTTS",
    "FlushBudget",
]

logger = logging.getLogger(__name__)

PROVIDER: Final = "deepgram"

AUTH_MESSAGE: Final = "Deepgram rejected the key: check DEEPGRAM_API_KEY or paste a key"

#: The Aura-2 English voices (the ``aura-2-*-en`` names of ``deepgram-sdk``'s ``SpeakV1Model``).
DEEPGRAM_VOICES: Final[tuple[str, ...]] = (
    "aura-2-thalia-en",
    "aura-2-amalthea-en",
    "aura-2-andromeda-en",
    "aura-2-apollo-en",
    "aura-2-arcas-en",
    "aura-2-aries-en",
    "aura-2-asteria-en",
    "aura-2-athena-en",
    "aura-2-atlas-en",
    "aura-2-aurora-en",
    "aura-2-callista-en",
    "aura-2-cora-en",
    "aura-2-cordelia-en",
    "aura-2-delia-en",
    "aura-2-draco-en",
    "aura-2-electra-en",
    "aura-2-harmonia-en",
    "aura-2-helena-en",
    "aura-2-hera-en",
    "aura-2-hermes-en",
    "aura-2-hyperion-en",
    "aura-2-iris-en",
    "aura-2-janus-en",
    "aura-2-juno-en",
    "aura-2-jupiter-en",
    "aura-2-luna-en",
    "aura-2-mars-en",
    "aura-2-minerva-en",
    "aura-2-neptune-en",
    "aura-2-odysseus-en",
    "aura-2-ophelia-en",
    "aura-2-orion-en",
    "aura-2-orpheus-en",
    "aura-2-pandora-en",
    "aura-2-phoebe-en",
    "aura-2-pluto-en",
    "aura-2-saturn-en",
    "aura-2-selene-en",
    "aura-2-theia-en",
    "aura-2-vesta-en",
    "aura-2-zeus-en",
)

SAMPLE_RATES: Final = (8000, 16000, 24000, 32000, 48000)  # what linear16 allows on /v1/speak
MAX_TEXT_CHARS: Final = 2000  # Deepgram's limit for one Speak message / one REST request
CLOSE_TIMEOUT: Final = 2.0  # seconds allowed for the WebSocket closing handshake
CHECK_KEY_TIMEOUT: Final = 5.0


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


def _ws_base(base_url: str) -> str:
    parts = urlsplit(base_url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme.lower())
    if scheme is None or not parts.netloc:
        raise ConfigError(f"DEEPGRAM_BASE_URL must be an http(s) URL, got {base_url!r}")
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _http_base(base_url: str) -> str:
    parts = urlsplit(base_url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme.lower(), parts.scheme.lower())
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _split_text(text: str, limit: int = MAX_TEXT_CHARS) -> list[str]:
    """Cut ``text`` into pieces of at most ``limit`` characters, at whitespace when possible."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind(" ", 0, limit)
        cut = limit if cut <= 0 else cut + 1
        pieces.append(text[:cut])
        text = text[cut:]
    if text:
        pieces.append(text)
    return pieces


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
        if base_url:
            http_base = _http_base(base_url)
            ws_base = _ws_base(base_url)
            self.environment = DeepgramClientEnvironment(
                base=http_base, production=ws_base, agent=ws_base, agent_rest=http_base
            )
        else:
            self.environment = DeepgramClientEnvironment.PRODUCTION
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

    # ------------------------------------------------------------ error mapping

    def _scrub(self, text: str) -> str:
        return text.replace(self._api_key, "[REDACTED]") if self._api_key else text

    def translate(self, exc: BaseException, *, voice: str | None = None) -> ProviderError:
        """Turn an SDK / websockets / httpx exception into a ``ProviderError``."""
        if isinstance(exc, ProviderError):
            return exc
        status = _status_of(exc)
        if status is not None:
            return self._from_status(status, _detail_of(exc), voice)
        if isinstance(exc, ws_exceptions.ConnectionClosed):
            frame = exc.rcvd or exc.sent
            code = frame.code if frame is not None else 1006
            reason = frame.reason if frame is not None else ""
            what = f"code {code}: {reason}" if reason else f"code {code}"
            message = self._scrub(f"Deepgram closed the connection ({what})")
            if code == 1008:
                return _error(message + ": the request was refused", ErrorCategory.BAD_REQUEST)
            return _error(message, ErrorCategory.CONNECTIVITY)
        if isinstance(exc, TimeoutError | httpx.TimeoutException):
            return _error(
                f"Deepgram did not answer within {self.timeout:g} s", ErrorCategory.TIMEOUT
            )
        if isinstance(exc, httpx.TransportError | OSError | ws_exceptions.WebSocketException):
            return _error(
                self._scrub(f"Could not reach Deepgram at {self.environment.base}: {exc}"),
                ErrorCategory.CONNECTIVITY,
            )
        return _error(
            f"Deepgram failed unexpectedly ({type(exc).__name__})", ErrorCategory.INTERNAL
        )

    def _from_status(self, status: int, detail: str, voice: str | None) -> ProviderError:
        detail = self._scrub(detail)
        suffix = f": {detail}" if detail else ""
        if status in (401, 403):
            return _error(f"{AUTH_MESSAGE} (HTTP {status})", ErrorCategory.AUTH, status)
        if status == 429:
            return _error(
                f"Deepgram rate limit reached (HTTP 429){suffix}; wait a moment and retry",
                ErrorCategory.RATE_LIMIT,
                status,
            )
        if status in (408, 504):
            return _error(f"Deepgram timed out (HTTP {status})", ErrorCategory.TIMEOUT, status)
        if status >= 500:
            return _error(
                f"Deepgram server error (HTTP {status}){suffix}", ErrorCategory.SERVER, status
            )
        if 400 <= status < 500:
            hint = f" (voice {voice!r}?)" if voice else ""
            return _error(
                f"Deepgram refused the request (HTTP {status}){suffix}{hint}",
                ErrorCategory.BAD_REQUEST,
                status,
            )
        return _error(
            f"Unexpected answer from Deepgram (HTTP {status})", ErrorCategory.SERVER, status
        )


def _error(message: str, category: ErrorCategory, status_code: int | None = None) -> ProviderError:
    return ProviderError(message, category=category, provider=PROVIDER, status_code=status_code)


def _status_of(exc: BaseException) -> int | None:
    """The HTTP status carried by an SDK or websockets handshake exception, if any."""
    if isinstance(exc, ApiError):
        return exc.status_code
    if isinstance(exc, ws_exceptions.InvalidStatus):  # sync client / new asyncio client
        return int(exc.response.status_code)
    if isinstance(exc, ws_exceptions.InvalidHandshake):  # legacy InvalidStatusCode (deprecated)
        status = getattr(exc, "status_code", None)
        return status if isinstance(status, int) else None
    return None


def _detail_of(exc: BaseException) -> str:
    body: Any = exc.body if isinstance(exc, ApiError) else None
    if isinstance(body, dict):
        for key in ("err_msg", "message", "reason", "error"):
            if isinstance(body.get(key), str):
                return str(body[key])[:200]
        return ""
    if isinstance(body, str):
        return body[:200]
    return ""


def _should_fall_back(exc: BaseException) -> bool:
    """Whether a failure to open the WebSocket should send this session to REST."""
    status = _status_of(exc)
    if status is not None:
        return status in (404, 405, 426) or status >= 500
    if isinstance(exc, TimeoutError):  # a handshake that hangs is not worth a REST retry
        return False
    return isinstance(exc, OSError | ws_exceptions.InvalidHandshake | EOFError)


@dataclass(eq=False)
class _Flush:
    """One ``Flush`` on the wire; its audio is collected until its ``Flushed`` arrives."""

    future: asyncio.Future[None]
    last_activity: float
    chunks: list[bytes] = field(default_factory=list)
    first_byte_at: float | None = None

    def add(self, frame: bytes) -> None:
        if self.future.done():  # abandoned: nobody waits for this audio
            return
        now = time.monotonic()
        if self.first_byte_at is None:
            self.first_byte_at = now
        self.last_activity = now
        self.chunks.append(frame)

    def finish(self) -> None:
        if not self.future.done():
            self.future.set_result(None)

    def fail(self, error: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(error)


class DeepgramSession:
    """One turn's WebSocket to one voice. ``synthesize`` calls must not overlap.

    ``interrupt`` (from any task) sends ``Clear``: a ``synthesize`` in flight then raises
    ``asyncio.CancelledError`` (its audio is dropped, never returned half-way), and audio that
    arrives before ``Cleared`` is ignored. The session stays usable afterwards.

    If the connection fails mid-turn (e.g. closed with 1011), the pending ``synthesize`` raises
    ``ProviderError(CONNECTIVITY)``; a later ``synthesize`` opens a new connection.
    """

    def __init__(self, provider: DeepgramTTS, voice: str) -> None:
        self._provider = provider
        self.voice = voice
        self.sample_rate = provider.sample_rate
        self.request_id: str | None = None  # from Deepgram's Metadata message
        self.warnings: list[str] = []  # Warning messages received (logged, never fatal)
        self.used_rest = False  # True once the session fell back to REST
        self._stack: contextlib.AsyncExitStack | None = None
        self._conn: AsyncV1SocketClient | None = None
        self._reader: asyncio.Task[None] | None = None
        self._records: deque[_Flush] = deque()
        self._clears_pending = 0
        self._failure: ProviderError | None = None
        self._rest_task: asyncio.Task[tuple[bytes, float | None]] | None = None
        self._epoch = 0
        self._closed = False

    def __repr__(self) -> str:
        mode = "rest" if self.used_rest else "ws"
        return f"DeepgramSession(voice={self.voice!r}, mode={mode}, closed={self._closed})"

    @property
    def closed(self) -> bool:
        return self._closed

    def flush_available(self) -> bool:
        """Whether a ``synthesize`` would run now without waiting for the flush budget."""
        return self.used_rest or self._provider.flush_budget.available() > 0

    # ------------------------------------------------------------------ public

    async def synthesize(self, text: str) -> SpeechAudio:
        """Speak ``text``; return its 16-bit mono PCM once Deepgram has flushed all of it."""
        if self._closed:
            raise _error("The Deepgram session is already closed", ErrorCategory.INTERNAL)
        if not text.strip():
            return SpeechAudio(b"", self.sample_rate, text, time.monotonic())
        epoch = self._epoch
        if not self.used_rest:
            await self._ensure_connected()
            self._check_epoch(epoch)
        if self.used_rest:
            return await self._synthesize_rest(text)
        await self._provider.flush_budget.acquire()
        self._check_epoch(epoch)
        await self._ensure_connected()  # reconnect if the socket died while waiting
        self._check_epoch(epoch)
        conn = self._conn
        if conn is None:  # the reconnect fell back to REST
            return await self._synthesize_rest(text)
        loop = asyncio.get_running_loop()
        record = _Flush(future=loop.create_future(), last_activity=time.monotonic())
        self._records.append(record)
        try:
            for piece in _split_text(text):
                await conn.send_text(SpeakV1Text(text=piece))
            await conn.send_flush()
            await self._wait_flushed(record)
        except ws_exceptions.ConnectionClosed as exc:
            raise (self._failure or self._provider.translate(exc, voice=self.voice)) from None
        finally:
            if not record.future.done():
                record.future.cancel()  # abandoned: its audio and Flushed will be skipped
        pcm = b"".join(record.chunks)
        first = record.first_byte_at if record.first_byte_at is not None else time.monotonic()
        return SpeechAudio(pcm, self.sample_rate, text, first)

    async def interrupt(self) -> None:
        """Send ``Clear``; a ``synthesize`` in flight raises ``asyncio.CancelledError``."""
        self._epoch += 1
        if self._rest_task is not None:
            self._rest_task.cancel()
        records = list(self._records)
        self._records.clear()
        for record in records:
            record.future.cancel()
        conn = self._conn
        if conn is None or self._failure is not None or self._closed:
            return
        self._clears_pending += 1
        try:
            await conn.send_clear()
        except ws_exceptions.ConnectionClosed:
            logger.debug("Deepgram connection already closed; Clear not sent")

    async def aclose(self) -> None:
        """Send ``Close`` if nothing is outstanding, then close the socket. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._epoch += 1
        if self._rest_task is not None:
            self._rest_task.cancel()
        waiting = [r.future for r in self._records if not r.future.done()]
        if waiting and self._failure is None:  # somebody awaits that audio: let it arrive
            await asyncio.wait(waiting, timeout=self._provider.timeout)
        await self._teardown(send_close=True)

    # ------------------------------------------------------------- WebSocket

    def _check_epoch(self, epoch: int) -> None:
        if epoch != self._epoch:
            raise asyncio.CancelledError("interrupted")

    async def connect(self) -> None:
        """Open the WebSocket now, so the handshake overlaps the model's time to first token."""
        if not self._closed and not self.used_rest:
            await self._ensure_connected()

    async def _ensure_connected(self) -> None:
        if self._conn is not None and self._failure is None:
            return
        if self._conn is not None:
            await self._teardown(send_close=False)
        stack = contextlib.AsyncExitStack()
        try:
            async with asyncio.timeout(self._provider.timeout):
                conn: AsyncV1SocketClient = await stack.enter_async_context(
                    self._provider.client.speak.v1.connect(
                        model=self.voice, encoding="linear16", sample_rate=self.sample_rate
                    )
                )
        except Exception as exc:
            await stack.aclose()
            if _should_fall_back(exc):
                logger.warning(
                    "Deepgram WebSocket unavailable (%s); using REST for this session",
                    self._provider.translate(exc).message,
                )
                self.used_rest = True
                return
            raise self._provider.translate(exc, voice=self.voice) from exc
        self._stack = stack
        self._conn = conn
        self._failure = None
        self._records.clear()
        self._clears_pending = 0
        self._reader = asyncio.create_task(self._read_loop(conn), name="deepgram-tts-reader")

    async def _teardown(self, *, send_close: bool) -> None:
        conn, stack, reader = self._conn, self._stack, self._reader
        self._conn = self._stack = self._reader = None
        everything_flushed = not self._records and not self._clears_pending
        if conn is not None and send_close and self._failure is None and everything_flushed:
            with contextlib.suppress(ws_exceptions.ConnectionClosed, OSError):
                await conn.send_close()
        if stack is not None:  # the reader keeps draining frames while the socket closes
            try:
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await stack.aclose()
            except (TimeoutError, ws_exceptions.WebSocketException, OSError, ApiError) as exc:
                logger.debug("Deepgram socket close: %s", type(exc).__name__)
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        for record in self._records:
            record.future.cancel()
        self._records.clear()

    async def _wait_flushed(self, record: _Flush) -> None:
        """Wait for ``record``'s ``Flushed``; fail if no audio arrives for ``timeout`` s."""
        timeout = self._provider.timeout
        while True:
            remaining = record.last_activity + timeout - time.monotonic()
            if remaining <= 0:
                raise _error(
                    f"Deepgram sent no audio for {timeout:g} s (voice {self.voice!r})",
                    ErrorCategory.TIMEOUT,
                )
            done, _ = await asyncio.wait({record.future}, timeout=remaining)
            if done:
                record.future.result()  # CancelledError if interrupted, ProviderError if lost
                return

    async def _read_loop(self, conn: AsyncV1SocketClient) -> None:
        try:
            while True:
                self._on_message(await conn.recv())
        except ws_exceptions.ConnectionClosedOK:
            self._lost(
                _error(
                    "Deepgram closed the connection before the audio finished",
                    ErrorCategory.CONNECTIVITY,
                )
            )
        except Exception as exc:  # ConnectionClosedError (1011...), protocol errors
            self._lost(self._provider.translate(exc, voice=self.voice))

    def _lost(self, error: ProviderError) -> None:
        self._failure = error
        if self._records and not self._closed:
            logger.warning("Deepgram connection lost mid-turn: %s", error.message)
        for record in self._records:
            record.fail(error)
        self._records.clear()

    def _on_message(self, message: object) -> None:
        if isinstance(message, bytes | bytearray):
            if self._clears_pending or not self._records:
                return  # audio from before a Clear, or from an abandoned flush
            self._records[0].add(bytes(message))
            return
        # Branch on ``type``, never on the class: Cleared arrives as SpeakV1Flushed(type="Cleared").
        kind = _field(message, "type")
        if kind == "Flushed":
            if self._clears_pending or not self._records:
                return
            self._records.popleft().finish()
        elif kind == "Cleared":
            self._clears_pending = max(0, self._clears_pending - 1)
        elif kind == "Warning":
            code = str(_field(message, "code"))
            description = str(_field(message, "description"))
            self.warnings.append(f"{code}: {description}")
            logger.warning("Deepgram warning %s: %s", code, description)
        elif kind == "Metadata":
            request_id = _field(message, "request_id")
            self.request_id = str(request_id) if request_id is not None else None
            logger.debug("Deepgram TTS request %s (model %s)", request_id, self.voice)
        else:
            logger.debug("Ignoring Deepgram message of type %r", kind)

    # ------------------------------------------------------------------ REST

    async def _synthesize_rest(self, text: str) -> SpeechAudio:
        task = asyncio.create_task(self._rest_request(text), name="deepgram-tts-rest")
        self._rest_task = task
        try:
            pcm, first = await task
        finally:
            self._rest_task = None
            if not task.done():
                task.cancel()
        return SpeechAudio(pcm, self.sample_rate, text, first or time.monotonic())

    async def _rest_request(self, text: str) -> tuple[bytes, float | None]:
        chunks: list[bytes] = []
        first: float | None = None
        provider = self._provider
        try:
            for piece in _split_text(text):
                # An async generator: the request is sent on the first iteration.
                stream = provider.client.speak.v1.audio.generate(
                    text=piece,
                    model=self.voice,
                    encoding="linear16",
                    sample_rate=self.sample_rate,
                    container="none",
                    request_options={"timeout": provider.timeout, "max_retries": 0},
                )
                async with contextlib.aclosing(stream):
                    async for chunk in stream:
                        if chunk and first is None:
                            first = time.monotonic()
                        chunks.append(chunk)
        except (ApiError, httpx.HTTPError, OSError) as exc:
            raise provider.translate(exc, voice=self.voice) from exc
        return b"".join(chunks), first


def _field(message: object, name: str) -> object:
    if isinstance(message, dict):
        return message.get(name)
    return getattr(message, name, None)
