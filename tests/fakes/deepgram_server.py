"""A loopback fake of Deepgram's Aura TTS and streaming STT APIs, driven by the real SDK.

One uvicorn server on ``127.0.0.1`` (port 0) in a background thread serves, on a single port:

* ``GET /v1/speak`` as a WebSocket speaking the real v1 protocol: ``Metadata`` on connect,
  ``Speak`` buffers text, ``Flush`` sends binary linear16 frames then ``Flushed``, ``Clear`` drops
  the buffer and any synthesis in progress and answers ``Cleared``, ``Close`` closes with 1000;
* ``POST /v1/speak`` (REST TTS), answering raw PCM in a few chunks;
* ``GET /v1/projects`` (the cheap authenticated call used to check a key);
* ``GET /v1/listen`` as a WebSocket transcribing from a script (``_FakeListenSession``): the
  audio itself is only measured, never recognised. The n-th utterance heard is
  ``listen_script[n]``; one more of its words is "heard" per ``MS_PER_WORD`` ms of non-silent
  audio (a chunk is silent when all its bytes are zero) and sent as an interim ``Results``.
  ``SpeechStarted`` marks the first non-silent chunk; ``endpointing`` ms of silent chunks send a
  final ``Results`` with ``speech_final`` and then ``UtteranceEnd``; ``Finalize`` sends a final
  ``Results`` with ``from_finalize``; ``CloseStream`` flushes, sends ``Metadata``, closes 1000.

The audio is a deterministic sine tone, ``MS_PER_CHAR`` milliseconds per character of text (at
most ``MAX_CHARS`` characters), so a test can compute the exact length it should receive with
``FakeDeepgram.expected_pcm_len``.

The ``websockets`` server alone cannot be used for the REST half: it only parses ``GET`` requests
without a body, and ``POST /v1/speak`` carries JSON. uvicorn runs with its ``websockets-sansio``
implementation, which also lets the fake refuse a handshake with any HTTP status.

Knobs are plain attributes, read at request time, so a test may change them between calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import socket
import threading
import time
import uuid
from array import array
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

import uvicorn

__all__ = ["FakeDeepgram", "ListenRecord", "RecordedRequest"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MS_PER_CHAR = 40
MAX_CHARS = 250  # 10 s of audio at most per flush
FRAME_MS = 100  # audio is sent in frames of this length
REST_CHUNKS = 4
MS_PER_WORD = 100  # the fake STT "hears" one word of the script per 100 ms of non-silent audio


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request or WebSocket handshake the fake received (header names lower-case)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Connection:
    sample_rate: int
    model: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    flushes_done: int = 0
    closed: bool = False


@dataclass
class ListenRecord:
    """One accepted ``/v1/listen`` WebSocket: what the client sent and what the fake answered."""

    query: dict[str, str]
    audio: bytearray = field(default_factory=bytearray)  # every binary frame, concatenated
    messages: list[dict[str, Any]] = field(default_factory=list)  # inbound JSON (Finalize...)
    sent: list[dict[str, Any]] = field(default_factory=list)  # outbound JSON, in order
    close_code: int | None = None  # set once the socket is gone

    def message_types(self) -> list[str]:
        return [str(m.get("type")) for m in self.messages]

    def sent_types(self) -> list[str]:
        return [str(m.get("type")) for m in self.sent]


def _tone(n_samples: int, sample_rate: int) -> bytes:
    samples = array(
        "h",
        (int(8000 * math.sin(2 * math.pi * 440 * i / sample_rate)) for i in range(n_samples)),
    )
    return samples.tobytes()  # little-endian on every platform this runs on


class _DropDenialNoise(logging.Filter):
    """uvicorn logs "returned without completing handshake" after a *deliberate* refusal."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing handshake" not in record.getMessage()


_DENIAL_FILTER = _DropDenialNoise()


class FakeDeepgram:
    """``with FakeDeepgram() as fake:`` starts the server; ``fake.base_url`` is its http base."""

    def __init__(
        self,
        *,
        api_key: str = "test-key",
        reject_key: bool = False,
        ws_status: int | None = None,
        rest_status: int | None = None,
        close_1011_after_flushes: int | None = None,
        synthesis_delay: float = 0.0,
        warning_on_connect: bool = False,
        listen_script: tuple[str, ...] = (),
        listen_speech_final: bool = True,
        listen_final_every: int | None = None,
        listen_close_1011_after_results: int | None = None,
    ) -> None:
        self.api_key = api_key
        self.reject_key = reject_key
        self.ws_status = ws_status
        self.rest_status = rest_status
        self.close_1011_after_flushes = close_1011_after_flushes
        self.synthesis_delay = synthesis_delay
        self.warning_on_connect = warning_on_connect
        # /v1/listen: the utterances "heard", in order (each read when its first word is due)
        self.listen_script = listen_script
        self.listen_speech_final = listen_speech_final  # False: endpointing sends is_final only
        self.listen_final_every = listen_final_every  # finalize a segment every N words heard
        self.listen_close_1011_after_results = listen_close_1011_after_results

        self.messages: list[list[dict[str, Any]]] = []  # inbound JSON, one list per connection
        self.connections = 0  # accepted WebSocket connections
        self.closed_connections = 0
        self.close_codes: list[int] = []  # the code each accepted connection ended with
        self.handshakes: list[RecordedRequest] = []  # every WebSocket handshake, refused too
        self.rest_requests: list[RecordedRequest] = []
        self.listens: list[ListenRecord] = []  # accepted /v1/listen sockets, in order

        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._port = 0

    # ----------------------------------------------------------------- lifecycle

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def __enter__(self) -> FakeDeepgram:
        uvicorn_errors = logging.getLogger("uvicorn.error")
        if _DENIAL_FILTER not in uvicorn_errors.filters:
            uvicorn_errors.addFilter(_DENIAL_FILTER)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            http="h11",
            ws="websockets-sansio",
            lifespan="off",
            interface="asgi3",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
            ws_ping_interval=None,
        )
        server = uvicorn.Server(config)
        self._server = server

        def run() -> None:
            asyncio.run(server.serve(sockets=[sock]))

        self._thread = threading.Thread(target=run, name="fake-deepgram", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake Deepgram server did not start")
            time.sleep(0.01)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
            if self._thread.is_alive() and self._server is not None:
                self._server.force_exit = True
                self._thread.join(timeout=5)

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def expected_pcm_len(text: str, sample_rate: int = 24000) -> int:
        """Bytes of 16-bit PCM the fake sends for ``text`` (one flush or one REST request)."""
        return FakeDeepgram._n_samples(text, sample_rate) * 2

    @staticmethod
    def _n_samples(text: str, sample_rate: int) -> int:
        return min(len(text), MAX_CHARS) * sample_rate * MS_PER_CHAR // 1000

    @property
    def last_handshake(self) -> RecordedRequest:
        return self.handshakes[-1]

    def message_types(self, connection: int = -1) -> list[str]:
        """The ``type`` of every JSON message received on one connection, in order."""
        return [str(m.get("type")) for m in self.messages[connection]]

    async def wait_for(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        """Poll ``predicate`` without blocking the event loop (the server runs in a thread)."""
        deadline = time.monotonic() + within
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError("the fake Deepgram server never reached the expected state")
            await asyncio.sleep(0.01)

    def _authorized(self, headers: dict[str, str]) -> bool:
        return not self.reject_key and headers.get("authorization") == f"Token {self.api_key}"

    @staticmethod
    def _headers(scope: Scope) -> dict[str, str]:
        return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}

    @staticmethod
    def _query(scope: Scope) -> dict[str, str]:
        raw = scope.get("query_string", b"").decode("latin-1")
        return {k: v[-1] for k, v in parse_qs(raw).items()}

    # --------------------------------------------------------------------- ASGI

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    # ----------------------------------------------------------------- REST

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        headers = self._headers(scope)
        request = RecordedRequest(scope["method"], scope["path"], self._query(scope), headers, body)
        with self._lock:
            self.rest_requests.append(request)

        route = (request.method, request.path)
        if route not in {("POST", "/v1/speak"), ("GET", "/v1/projects")}:
            await self._json_response(send, 404, {"err_code": "NOT_FOUND", "err_msg": "Not found."})
            return
        if not self._authorized(headers):
            await self._json_response(
                send,
                401,
                {"err_code": "INVALID_AUTH", "err_msg": "Invalid credentials.", "request_id": "x"},
            )
            return
        if request.path == "/v1/projects":
            await self._json_response(
                send, 200, {"projects": [{"project_id": "fake-project", "name": "Fake project"}]}
            )
            return
        if self.rest_status is not None:
            await self._json_response(
                send, self.rest_status, {"err_code": "FAKE", "err_msg": "Configured failure."}
            )
            return
        text = str(request.json().get("text", ""))
        if self.synthesis_delay:
            await asyncio.sleep(self.synthesis_delay)
        sample_rate = int(request.query.get("sample_rate", "24000"))
        pcm = _tone(self._n_samples(text, sample_rate), sample_rate)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"audio/l16"),
                    (b"dg-request-id", str(uuid.uuid4()).encode()),
                    (b"dg-model-name", request.query.get("model", "").encode()),
                    (b"dg-char-count", str(len(text)).encode()),
                ],
            }
        )
        step = max(1, -(-len(pcm) // REST_CHUNKS))
        for start in range(0, len(pcm), step):
            await send(
                {"type": "http.response.body", "body": pcm[start : start + step], "more_body": True}
            )
            await asyncio.sleep(0)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    @staticmethod
    async def _json_response(send: Send, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    # ------------------------------------------------------------- WebSocket

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        headers = self._headers(scope)
        query = self._query(scope)
        with self._lock:
            self.handshakes.append(RecordedRequest("GET", scope["path"], query, headers))

        refuse: int | None = None
        if scope["path"] not in {"/v1/speak", "/v1/listen"}:
            refuse = 404
        elif self.ws_status is not None:
            refuse = self.ws_status
        elif not self._authorized(headers):
            refuse = 401
        if refuse is not None:
            body = json.dumps({"err_code": "REFUSED", "err_msg": f"HTTP {refuse}"}).encode()
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": refuse,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "websocket.http.response.body", "body": body})
            return

        await send({"type": "websocket.accept"})
        if scope["path"] == "/v1/listen":
            await self._listen(query, receive, send)
            return
        conn = _Connection(
            sample_rate=int(query.get("sample_rate", "24000")), model=query.get("model", "")
        )
        with self._lock:
            self.connections += 1
            self.messages.append(conn.messages)
        session = _FakeSpeakSession(self, conn, send)
        close_code = 1006
        try:
            await session.send_json(
                {
                    "type": "Metadata",
                    "request_id": str(uuid.uuid4()),
                    "model_name": conn.model,
                    "model_version": "fake",
                    "model_uuid": str(uuid.uuid4()),
                }
            )
            if self.warning_on_connect:
                await session.send_json(
                    {
                        "type": "Warning",
                        "description": "This is a warning from the fake server.",
                        "code": "FAKE_WARNING",
                    }
                )
            close_code = await session.run(receive)
        finally:
            session.stop()
            with self._lock:
                self.closed_connections += 1
                self.close_codes.append(close_code)

    async def _listen(self, query: dict[str, str], receive: Receive, send: Send) -> None:
        record = ListenRecord(query)
        with self._lock:
            self.listens.append(record)
        session = _FakeListenSession(self, record, send)
        code = 1006
        try:
            code = await session.run(receive)
        finally:
            record.close_code = code


class _FakeSpeakSession:
    """The server side of one ``/v1/speak`` WebSocket."""

    def __init__(self, fake: FakeDeepgram, conn: _Connection, send: Send) -> None:
        self.fake = fake
        self.conn = conn
        self._send = send
        self.buffer: list[str] = []
        self.jobs: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
        self.sequence = 0
        self.close_code: int | None = None
        self.worker: asyncio.Task[None] = asyncio.create_task(self._work())

    async def send_json(self, payload: dict[str, Any]) -> None:
        await self.send({"type": "websocket.send", "text": json.dumps(payload)})

    async def send(self, message: Message) -> None:
        if self.close_code is not None:
            return
        with contextlib.suppress(Exception):  # the client may already be gone
            await self._send(message)

    async def close(self, code: int, reason: str = "") -> None:
        if self.close_code is None:
            self.close_code = code
            with contextlib.suppress(Exception):
                await self._send({"type": "websocket.close", "code": code, "reason": reason})

    def stop(self) -> None:
        self.worker.cancel()

    async def run(self, receive: Receive) -> int:
        """Handle client messages until the socket closes; return the close code."""
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return self.close_code or int(message.get("code", 1006))
            text = message.get("text")
            if text is None:
                continue
            data = json.loads(text)
            self.conn.messages.append(data)
            kind = data.get("type")
            if kind == "Speak":
                self.buffer.append(str(data.get("text", "")))
            elif kind == "Flush":
                self.jobs.put_nowait((self.sequence, "".join(self.buffer)))
                self.sequence += 1
                self.buffer.clear()
            elif kind == "Clear":
                self.buffer.clear()
                self.worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self.worker
                while not self.jobs.empty():
                    self.jobs.get_nowait()
                self.worker = asyncio.create_task(self._work())
                await self.send_json({"type": "Cleared", "sequence_id": self.sequence})
            elif kind == "Close":
                await self.close(1000)

    async def _work(self) -> None:
        while True:
            sequence, text = await self.jobs.get()
            if self.fake.synthesis_delay:
                await asyncio.sleep(self.fake.synthesis_delay)
            pcm = _tone(FakeDeepgram._n_samples(text, self.conn.sample_rate), self.conn.sample_rate)
            frame = self.conn.sample_rate * FRAME_MS // 1000 * 2
            limit = self.fake.close_1011_after_flushes
            if limit is not None and self.conn.flushes_done >= limit:
                if pcm:
                    await self.send({"type": "websocket.send", "bytes": pcm[:frame]})
                await asyncio.sleep(0.01)
                await self.close(1011, "Deepgram internal error (fake)")
                return
            for start in range(0, len(pcm), frame):
                await self.send({"type": "websocket.send", "bytes": pcm[start : start + frame]})
                await asyncio.sleep(0)
            self.conn.flushes_done += 1
            await self.send_json({"type": "Flushed", "sequence_id": sequence})


class _FakeListenSession:
    """The server side of one ``/v1/listen`` WebSocket (see the module docstring)."""

    def __init__(self, fake: FakeDeepgram, record: ListenRecord, send: Send) -> None:
        self.fake = fake
        self.record = record
        self._send = send
        query = record.query
        self.sample_rate = int(query.get("sample_rate", "16000"))
        endpointing = query.get("endpointing", "10")
        self.endpointing_ms = int(endpointing) if endpointing.isdigit() else None
        self.utterance_end = "utterance_end_ms" in query
        self.vad_events = query.get("vad_events") == "true"
        self.model = query.get("model", "")
        self.request_id = str(uuid.uuid4())
        self.samples = 0  # the audio clock: samples received so far
        self.utterance = 0  # index into the script of the utterance being heard
        self.in_speech = False
        self.speech_start = 0.0  # seconds, audio clock
        self.speech_ms = 0.0
        self.silence_ms = 0.0
        self.heard = 0  # words of the current utterance heard so far
        self.finalized = 0  # ... of which sent in a final Results
        self.results_sent = 0
        self.close_code: int | None = None

    # ---------------------------------------------------------------- wire

    async def send_json(self, payload: dict[str, Any]) -> None:
        if self.close_code is not None:
            return
        self.record.sent.append(payload)
        with contextlib.suppress(Exception):  # the client may already be gone
            await self._send({"type": "websocket.send", "text": json.dumps(payload)})

    async def close(self, code: int, reason: str = "") -> None:
        if self.close_code is None:
            self.close_code = code
            with contextlib.suppress(Exception):
                await self._send({"type": "websocket.close", "code": code, "reason": reason})

    async def run(self, receive: Receive) -> int:
        """Handle client frames until the socket closes; return the close code."""
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return self.close_code or int(message.get("code", 1006))
            if self.close_code is not None:
                continue  # closing: wait for the client's disconnect
            if message.get("bytes") is not None:
                await self.on_audio(message["bytes"])
                continue
            text = message.get("text")
            if text is None:
                continue
            data = json.loads(text)
            self.record.messages.append(data)
            kind = data.get("type")
            if kind == "Finalize":
                await self.end_utterance(speech_final=False, from_finalize=True)
            elif kind == "CloseStream":
                if self.heard > self.finalized:
                    await self.results(is_final=True)
                await self.send_json(
                    {
                        "type": "Metadata",
                        "transaction_key": "deprecated",
                        "request_id": self.request_id,
                        "sha256": "0" * 64,
                        "created": "2025-01-01T00:00:00.000Z",
                        "duration": self.now(),
                        "channels": 1,
                    }
                )
                await self.close(1000)
            # KeepAlive (and anything else) is only recorded

    # -------------------------------------------------------------- script

    def now(self) -> float:
        return self.samples / self.sample_rate

    def words(self) -> list[str]:
        script = self.fake.listen_script
        return script[self.utterance].split() if self.utterance < len(script) else []

    async def on_audio(self, chunk: bytes) -> None:
        self.record.audio.extend(chunk)
        start = self.now()
        n_samples = len(chunk) // 2
        self.samples += n_samples
        chunk_ms = n_samples * 1000 / self.sample_rate
        if not any(chunk):  # silence
            if self.in_speech:
                self.silence_ms += chunk_ms
                if self.endpointing_ms is not None and self.silence_ms >= self.endpointing_ms:
                    await self.end_utterance(speech_final=self.fake.listen_speech_final)
            return
        self.silence_ms = 0.0
        if not self.in_speech:
            self.in_speech = True
            self.speech_start = start
            self.speech_ms = 0.0
            if self.vad_events:
                await self.send_json(
                    {"type": "SpeechStarted", "channel": [0], "timestamp": round(start, 3)}
                )
        self.speech_ms += chunk_ms
        due = min(len(self.words()), int(self.speech_ms // MS_PER_WORD))
        if due > self.heard:
            self.heard = due
            every = self.fake.listen_final_every
            await self.results(is_final=every is not None and self.heard - self.finalized >= every)

    async def end_utterance(self, *, speech_final: bool, from_finalize: bool = False) -> None:
        """The utterance is over: a final ``Results`` (empty if nothing is pending), then
        ``UtteranceEnd`` unless a ``Finalize`` ended it; the next utterance of the script."""
        heard_any = self.heard > 0
        await self.results(is_final=True, speech_final=speech_final, from_finalize=from_finalize)
        if heard_any and self.utterance_end and not from_finalize:
            last_word_end = self.speech_start + self.heard * MS_PER_WORD / 1000
            await self.send_json(
                {"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": last_word_end}
            )
        if heard_any:
            self.utterance += 1
        self.in_speech = False
        self.heard = self.finalized = 0
        self.silence_ms = 0.0

    async def results(
        self, *, is_final: bool, speech_final: bool = False, from_finalize: bool = False
    ) -> None:
        first, last = self.finalized, self.heard
        words = self.words()[first:last]
        step = MS_PER_WORD / 1000
        timed = [
            {
                "word": word.strip(".,?!").lower(),
                "punctuated_word": word,
                "start": round(self.speech_start + (first + i) * step, 3),
                "end": round(self.speech_start + (first + i + 1) * step, 3),
                "confidence": 0.99,
            }
            for i, word in enumerate(words)
        ]
        segment_start = self.speech_start + first * step if words else self.now()
        await self.send_json(
            {
                "type": "Results",
                "channel_index": [0, 1],
                "duration": round(max(0.0, self.now() - segment_start), 3),
                "start": round(segment_start, 3),
                "is_final": is_final,
                "speech_final": speech_final,
                "from_finalize": from_finalize,
                "channel": {
                    "alternatives": [
                        {"transcript": " ".join(words), "confidence": 0.99, "words": timed}
                    ]
                },
                "metadata": {
                    "request_id": self.request_id,
                    "model_info": {"name": self.model, "version": "fake", "arch": "fake"},
                    "model_uuid": "00000000-0000-0000-0000-000000000000",
                },
            }
        )
        if is_final:
            self.finalized = last
        self.results_sent += 1
        limit = self.fake.listen_close_1011_after_results
        if limit is not None and self.results_sent >= limit:
            await self.send_json(
                {
                    "type": "Error",
                    "variant": "InternalError",
                    "description": f"fake failure after {limit} results",
                }
            )
            await self.close(1011, "Deepgram internal error (fake)")
