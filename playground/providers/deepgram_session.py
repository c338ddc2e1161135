"""One turn's Deepgram WebSocket: ``Speak`` + ``Flush`` per sentence, audio collected until the
matching ``Flushed``; ``Clear`` on interrupt; ``Close`` at the end. Falls back to REST
(``deepgram_rest``) when the socket cannot be opened for a reason other than the key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import websockets.exceptions as ws_exceptions
from deepgram.core.api_error import ApiError
from deepgram.speak.v1 import SpeakV1Text
from deepgram.speak.v1.socket_client import AsyncV1SocketClient

from playground.errors import ErrorCategory, ProviderError
from playground.providers.base import SpeechAudio
from playground.providers.deepgram_errors import error, should_fall_back
from playground.providers.deepgram_rest import rest_speak
from playground.providers.deepgram_voices import split_text

if TYPE_CHECKING:
    from playground.providers.deepgram_tts import DeepgramTTS

__all__ = ["CLOSE_TIMEOUT", "DeepgramSession"]

logger = logging.getLogger("playground.providers.deepgram_tts")  # one logger for the provider

CLOSE_TIMEOUT: Final = 2.0  # seconds allowed for the WebSocket closing handshake


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
            raise error("The Deepgram session is already closed", ErrorCategory.INTERNAL)
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
            for piece in split_text(text):
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
            if should_fall_back(exc):
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
                raise error(
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
                error(
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
        task = asyncio.create_task(
            rest_speak(self._provider, self.voice, self.sample_rate, text), name="deepgram-tts-rest"
        )
        self._rest_task = task
        try:
            pcm, first = await task
        finally:
            self._rest_task = None
            if not task.done():
                task.cancel()
        return SpeechAudio(pcm, self.sample_rate, text, first or time.monotonic())


def _field(message: object, name: str) -> object:
    if isinstance(message, dict):
        return message.get(name)
    return getattr(message, name, None)
