"""Deepgram streaming speech-to-text over the ``/v1/listen`` WebSocket (``listen.v1`` in the SDK).

``DeepgramSTT`` is the ``STTProvider``; one ``DeepgramTranscription`` is one conversation's
socket. Audio goes up as binary linear16 frames (16 kHz mono); Deepgram answers with JSON:

* ``Results`` with ``is_final=false``: an interim guess, replaced by the next one;
* ``Results`` with ``is_final=true``: a finalized segment; an utterance may have several;
* ``Results`` with ``speech_final=true`` (endpointing saw ``endpointing`` ms of silence), or one
  answering a ``Finalize`` (``from_finalize=true``): the utterance is over;
* ``UtteranceEnd`` (``utterance_end_ms`` after the last word, even in noise): the same;
* ``SpeechStarted`` (``vad_events=true``): someone started talking, for barge-in.

``UtteranceAssembler`` turns those into ``Transcript``s: each carries the whole utterance so far
(its finalized segments plus the current guess), so a caller only ever shows the latest one; the
utterance's last transcript has ``utterance_end=True``, once, and never with empty text.
``t_ms`` is Deepgram's audio clock (milliseconds of audio since the socket opened), like the local
engine's.

``KeepAlive`` is sent whenever no audio went up for ``keepalive_interval`` seconds, since
Deepgram closes an idle socket after about 10 s. Every SDK, websockets and httpx exception is
translated into ``errors.ProviderError`` (``deepgram_errors``); the key is never logged nor put
in a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Final

import httpx
import websockets.exceptions as ws_exceptions
from deepgram import AsyncDeepgramClient
from deepgram.core.api_error import ApiError
from deepgram.listen.v1.socket_client import AsyncV1SocketClient

from playground.errors import ConfigError, ErrorCategory, MissingKeyError, ProviderError
from playground.providers.base import Transcript
from playground.providers.deepgram_environment import deepgram_environment
from playground.providers.deepgram_errors import AUTH_MESSAGE, ErrorTranslator, error
from playground.providers.event_stream import EventStream

__all__ = [
    "AUTH_MESSAGE",
    "CLOSE_TIMEOUT",
    "MIN_UTTERANCE_END_MS",
    "SAMPLE_RATE",
    "DeepgramSTT",
    "DeepgramTranscription",
    "UtteranceAssembler",
]

logger = logging.getLogger(__name__)

SAMPLE_RATE: Final = 16000
MIN_UTTERANCE_END_MS: Final = 1000  # Deepgram refuses a smaller utterance_end_ms
CLOSE_TIMEOUT: Final = 2.0  # seconds allowed for Deepgram to flush and close after CloseStream
SPEECH_STARTED_BACKLOG: Final = 32  # unread SpeechStarted times kept (oldest dropped)

_SendAction = Callable[[AsyncV1SocketClient], Awaitable[None]]


class DeepgramSTT:
    """The Deepgram streaming ``STTProvider``. Create one per process and ``aclose`` it at the end.

    ``base_url`` is the http(s) base of the API (``DEEPGRAM_BASE_URL``; production by default);
    the WebSocket base is derived from it (http→ws, https→wss). ``timeout`` bounds the handshake.
    """

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        model: str = "nova-3",
        timeout: float = 10.0,
        keepalive_interval: float = 4.0,
    ) -> None:
        if not api_key or not api_key.strip():
            raise MissingKeyError(
                "No Deepgram key: set DEEPGRAM_API_KEY or paste a key to use Deepgram speech input"
            )
        if timeout <= 0 or keepalive_interval <= 0:
            raise ConfigError("The Deepgram timeout and keep-alive interval must be positive")
        self._api_key = api_key.strip()
        self.model = model
        self.timeout = float(timeout)
        self.keepalive_interval = float(keepalive_interval)
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
        return f"DeepgramSTT(base={self.environment.base!r}, model={self.model!r})"

    @property
    def client(self) -> AsyncDeepgramClient:
        return self._client

    def open_session(self, *, end_of_utterance_ms: int) -> DeepgramTranscription:
        """A session whose utterances end after ``end_of_utterance_ms`` of silence (Deepgram
        ``endpointing``); the socket opens on ``connect`` or the first ``send_audio``."""
        if end_of_utterance_ms <= 0:
            raise ConfigError("end_of_utterance_ms must be positive", field="end_of_utterance_ms")
        return DeepgramTranscription(self, int(end_of_utterance_ms))

    async def aclose(self) -> None:
        """Close the shared HTTP client (sessions close their own sockets)."""
        await self._http.aclose()

    async def __aenter__(self) -> DeepgramSTT:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def translate(self, exc: BaseException) -> ProviderError:
        """Turn an SDK / websockets / httpx exception into a ``ProviderError``."""
        return self._errors.translate(exc)

    def scrub(self, text: str) -> str:
        return self._errors.scrub(text)


# ----------------------------------------------------------------------------- messages


def _get(message: object, name: str) -> object:
    """A field of an SDK model or of a plain dict (an unknown message stays a dict)."""
    if isinstance(message, Mapping):
        return message.get(name)
    return getattr(message, name, None)


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _alternative(result: object) -> object:
    alternatives = _get(_get(result, "channel"), "alternatives")
    if isinstance(alternatives, Sequence) and alternatives:
        return alternatives[0]
    return None


def _transcript_of(result: object) -> str:
    text = _get(_alternative(result), "transcript")
    return text.strip() if isinstance(text, str) else ""


def _end_ms(result: object) -> float:
    """Where a ``Results`` ends on the audio clock: its last word's end, else start + duration."""
    words = _get(_alternative(result), "words")
    if isinstance(words, Sequence) and words:
        end = _get(words[-1], "end")
        if isinstance(end, int | float):
            return float(end) * 1000
    return (_number(_get(result, "start")) + _number(_get(result, "duration"))) * 1000


class UtteranceAssembler:
    """Turns Deepgram ``Results`` / ``UtteranceEnd`` messages into ``Transcript``s (pure logic).

    Every transcript's text is the current utterance so far: its finalized segments, then the
    latest interim guess. The utterance ends on ``speech_final``, on a ``Results`` answering
    ``Finalize``, or on ``UtteranceEnd``; the ending transcript (``final`` and ``utterance_end``)
    is emitted once, and only if the utterance has text. An ``UtteranceEnd`` that arrives while a
    guess is still unconfirmed ends the utterance at the next finalized segment instead.
    """

    def __init__(self) -> None:
        self._finals: list[str] = []
        self._end_due = False  # UtteranceEnd arrived before the last guess was finalized
        self._guessing = False  # an interim guess is newer than the last finalized segment

    @property
    def text(self) -> str:
        return " ".join(self._finals)

    def _joined(self, extra: str) -> str:
        return " ".join([*self._finals, extra]) if extra else self.text

    def on_results(self, result: object) -> list[Transcript]:
        text = _transcript_of(result)
        t_ms = _end_ms(result)
        if _get(result, "is_final") is not True:
            if not text:
                return []
            self._guessing = True
            return [Transcript(self._joined(text), final=False, utterance_end=False, t_ms=t_ms)]
        self._guessing = False
        if text:
            self._finals.append(text)
        ends = (
            _get(result, "speech_final") is True
            or _get(result, "from_finalize") is True
            or self._end_due
        )
        if ends:
            return self._end(t_ms)
        if not text:
            return []
        return [Transcript(self.text, final=True, utterance_end=False, t_ms=t_ms)]

    def on_utterance_end(self, message: object) -> list[Transcript]:
        t_ms = _number(_get(message, "last_word_end")) * 1000
        if self._guessing:  # wait for the guess to be finalized, then end
            self._end_due = True
            return []
        return self._end(t_ms)

    def _end(self, t_ms: float) -> list[Transcript]:
        text = self.text
        self._finals.clear()
        self._end_due = False
        self._guessing = False
        if not text:
            return []
        return [Transcript(text, final=True, utterance_end=True, t_ms=t_ms)]


# ----------------------------------------------------------------------------- session


class DeepgramTranscription:
    """One conversation's ``/v1/listen`` WebSocket (a ``TranscriptionSession``).

    * ``connect()`` opens the socket (``send_audio`` opens it if needed);
    * ``send_audio(pcm)`` sends 16-bit mono 16 kHz PCM (empty chunks are skipped: Deepgram would
      read an empty frame as the end of the stream);
    * ``end_of_audio()`` sends ``Finalize``; the segment Deepgram answers with ends the utterance;
    * ``transcripts()`` yields ``Transcript``s; it ends after ``aclose`` and raises the
      ``ProviderError`` if the connection fails;
    * ``speech_started()`` yields the audio time (ms) of every ``SpeechStarted``, for barge-in; it
      ends when the session does (never raises; the failure is reported by ``transcripts()``).
      Only the newest ``SPEECH_STARTED_BACKLOG`` unread times are kept;
    * ``aclose()`` sends ``CloseStream``, lets Deepgram deliver its last results (at most
      ``CLOSE_TIMEOUT`` s) and closes the socket; idempotent. If the closing task is cancelled
      the socket is dropped at once. ``async with`` connects and closes (at once on cancel).
    """

    def __init__(self, provider: DeepgramSTT, end_of_utterance_ms: int) -> None:
        self._provider = provider
        self.end_of_utterance_ms = end_of_utterance_ms
        self.request_id: str | None = None  # from Deepgram's Metadata message
        self._assembler = UtteranceAssembler()
        self._transcripts: EventStream[Transcript] = EventStream()
        self._speech: EventStream[float] = EventStream(SPEECH_STARTED_BACKLOG)
        self._stack: contextlib.AsyncExitStack | None = None
        self._conn: AsyncV1SocketClient | None = None
        self._reader: asyncio.Task[None] | None = None
        self._keepalive: asyncio.Task[None] | None = None
        self._send_lock = asyncio.Lock()
        self._connect_lock = asyncio.Lock()
        self._last_sent = time.monotonic()
        self._failure: ProviderError | None = None
        self._upstream_error: str | None = None  # description from an ``Error`` message
        self._closing = False  # CloseStream sent: a clean close is expected
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open" if self._conn is not None else "new"
        return f"DeepgramTranscription(endpointing={self.end_of_utterance_ms}, {state})"

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def query(self) -> dict[str, str]:
        """The ``/v1/listen`` parameters this session opens its socket with."""
        return {
            "model": self._provider.model,
            "encoding": "linear16",
            "sample_rate": str(SAMPLE_RATE),
            "channels": "1",
            "interim_results": "true",
            "endpointing": str(self.end_of_utterance_ms),
            "utterance_end_ms": str(max(MIN_UTTERANCE_END_MS, self.end_of_utterance_ms)),
            "vad_events": "true",
            "smart_format": "true",
        }

    # ------------------------------------------------------------------ public

    async def connect(self) -> None:
        """Open the WebSocket now (a no-op if it is open); ``ProviderError`` if it cannot be."""
        self._check_usable()
        if self._conn is not None:
            return
        async with self._connect_lock:
            if self._conn is None:
                await self._open()

    async def _open(self) -> None:
        stack = contextlib.AsyncExitStack()
        try:
            async with asyncio.timeout(self._provider.timeout):
                conn: AsyncV1SocketClient = await stack.enter_async_context(
                    self._provider.client.listen.v1.connect(
                        model=self._provider.model,
                        encoding="linear16",
                        sample_rate=SAMPLE_RATE,
                        channels=1,
                        interim_results="true",
                        endpointing=self.end_of_utterance_ms,
                        utterance_end_ms=max(MIN_UTTERANCE_END_MS, self.end_of_utterance_ms),
                        vad_events="true",
                        smart_format="true",
                    )
                )
        except BaseException as exc:
            with contextlib.suppress(Exception):
                await stack.aclose()
            if isinstance(exc, Exception):
                raise self._provider.translate(exc) from exc
            raise  # cancelled: nothing stays open
        if self._closed:  # closed while the handshake ran
            await stack.aclose()
            self._check_usable()
        self._stack = stack
        self._conn = conn
        self._last_sent = time.monotonic()
        self._reader = asyncio.create_task(self._read_loop(conn), name="deepgram-stt-reader")
        self._keepalive = asyncio.create_task(self._keep_alive(conn), name="deepgram-stt-alive")

    async def send_audio(self, pcm: bytes) -> None:
        """Send a chunk of 16-bit little-endian mono PCM at 16 kHz."""
        if not pcm:
            return
        await self.connect()
        await self._send(lambda conn: conn.send_media(bytes(pcm)))

    async def end_of_audio(self) -> None:
        """Send ``Finalize``: Deepgram transcribes what it holds and the utterance ends."""
        await self.connect()
        await self._send(lambda conn: conn.send_finalize())

    def transcripts(self) -> AsyncIterator[Transcript]:
        return aiter(self._transcripts)

    def speech_started(self) -> AsyncIterator[float]:
        """The audio time (ms) at which Deepgram heard speech begin, once per ``SpeechStarted``."""
        return aiter(self._speech)

    async def aclose(self) -> None:
        """Send ``CloseStream``, wait briefly for the last results, close the socket. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await self._shutdown(graceful=True)

    async def __aenter__(self) -> DeepgramTranscription:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not isinstance(exc, asyncio.CancelledError):
            await self.aclose()
        elif not self._closed:
            self._closed = True
            await self._shutdown(graceful=False)

    # ---------------------------------------------------------------- internals

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise self._failure
        if self._closed:
            raise error("The Deepgram transcription session is closed", ErrorCategory.INTERNAL)

    async def _send(self, action: _SendAction) -> None:
        conn = self._conn
        if conn is None:
            self._check_usable()
            raise error("The Deepgram socket is not open", ErrorCategory.INTERNAL)
        try:
            async with self._send_lock:
                await action(conn)
                self._last_sent = time.monotonic()
        except (ws_exceptions.WebSocketException, OSError) as exc:
            if self._reader is not None and not self._reader.done():
                # The reader sees why the socket closed (code, Error message); let it say so.
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    async with asyncio.timeout(CLOSE_TIMEOUT):
                        await asyncio.shield(self._reader)
            if self._failure is not None:
                raise self._failure from exc
            raise self._provider.translate(exc) from exc

    async def _keep_alive(self, conn: AsyncV1SocketClient) -> None:
        interval = self._provider.keepalive_interval
        while True:
            idle = time.monotonic() - self._last_sent
            if idle < interval:
                await asyncio.sleep(interval - idle)
                continue
            try:
                async with self._send_lock:
                    await conn.send_keep_alive()
                    self._last_sent = time.monotonic()
            except (ws_exceptions.WebSocketException, OSError):
                return  # the reader reports the failure

    async def _read_loop(self, conn: AsyncV1SocketClient) -> None:
        try:
            while True:
                self._on_message(await conn.recv())
        except Exception as exc:  # ConnectionClosed (1000 unasked, 1011...), protocol errors
            self._finish(None if self._closing else self._lost(exc))

    def _lost(self, exc: BaseException) -> ProviderError:
        failure = self._provider.translate(exc)
        if self._upstream_error:
            message = f"{failure.message}: {self._upstream_error}"
            failure = error(message, failure.category, failure.status_code)
        logger.warning("Deepgram transcription stopped: %s", failure.message)
        return failure

    def _finish(self, failure: ProviderError | None) -> None:
        if failure is not None and self._failure is None:
            self._failure = failure
        self._transcripts.finish(failure)
        self._speech.finish()

    def _on_message(self, message: object) -> None:
        kind = _get(message, "type")  # branch on ``type``, never on the parsed class
        if kind == "Results":
            for transcript in self._assembler.on_results(message):
                self._transcripts.put(transcript)
        elif kind == "UtteranceEnd":
            for transcript in self._assembler.on_utterance_end(message):
                self._transcripts.put(transcript)
        elif kind == "SpeechStarted":
            self._speech.put(_number(_get(message, "timestamp")) * 1000)
        elif kind == "Metadata":
            request_id = _get(message, "request_id")
            self.request_id = str(request_id) if request_id is not None else None
        elif kind == "Error":
            description = _get(message, "description")
            self._upstream_error = self._provider.scrub(str(description or "unknown error"))[:200]
            logger.warning("Deepgram reported an error: %s", self._upstream_error)
        else:
            logger.debug("Ignoring Deepgram message of type %r", kind)

    async def _shutdown(self, *, graceful: bool) -> None:
        conn, stack = self._conn, self._stack
        self._conn = self._stack = None
        self._closing = True  # from now on a closing socket is expected, not a failure
        if self._keepalive is not None:
            self._keepalive.cancel()
        abort = not graceful
        try:
            if conn is not None and graceful and self._failure is None:
                await self._close_stream(conn)
        except BaseException:  # cancelled while Deepgram flushes: drop the socket at once
            abort = True
            raise
        finally:
            if conn is not None and abort:
                _abort(conn)
            await self._release(conn, stack)
            self._finish(None)

    async def _close_stream(self, conn: AsyncV1SocketClient) -> None:
        """Send ``CloseStream`` and let the reader deliver Deepgram's last results."""
        try:
            async with self._send_lock:
                await conn.send_close_stream()
            if self._reader is not None:
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await asyncio.shield(self._reader)
        except (TimeoutError, ws_exceptions.WebSocketException, OSError) as exc:
            logger.debug("Deepgram CloseStream: %s", type(exc).__name__)

    async def _release(
        self, conn: AsyncV1SocketClient | None, stack: contextlib.AsyncExitStack | None
    ) -> None:
        if stack is not None:
            try:
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await stack.aclose()
            except (TimeoutError, ws_exceptions.WebSocketException, OSError, ApiError) as exc:
                logger.debug("Deepgram socket close: %s", type(exc).__name__)
                if conn is not None:
                    _abort(conn)
        for task in (self._reader, self._keepalive):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


def _abort(conn: AsyncV1SocketClient) -> None:
    """Drop the TCP connection without the closing handshake (used on cancellation)."""
    websocket = getattr(conn, "_websocket", None)
    transport = getattr(websocket, "transport", None)
    if transport is not None:
        transport.abort()
