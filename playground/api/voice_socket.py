"""``/v1/voice``: talk to a turn over a WebSocket — audio in, the turn's events out.

The client sends a JSON ``start`` frame (the ``/v1/interact/stream`` fields except ``message``,
and the speech-to-text engine), then binary frames of 16-bit mono PCM at 16 kHz. Each utterance
the engine hears to its end becomes a turn on the same conversation (hands-free); the turn's
events go out as JSON text frames ``{"event": <name>, "data": {...}}`` with the SSE API's names
and data, plus ``transcript``, ``barge-in`` and the turn's ``waterfall``. Speech that starts while
a turn is running stops it (its partial text kept), and the new utterance is the next turn.

Bad frames get an ``error`` event and the socket stays usable. The access token and the
per-client limits are the rest of the API's: a refused token closes the socket (1008) after an
``error``; each spoken turn passes the same ``TurnGate`` as a POSTed one.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from playground.api.errors import first_problem
from playground.api.identity import token_matches
from playground.catalog import Credentials
from playground.errors import ConfigError, PlaygroundError, UnsupportedValueError
from playground.prompts.store import InvalidPromptError
from playground.providers.base import STTProvider, Transcript, TranscriptionSession
from playground.turn.events import TurnCompleted
from playground.turn.gate import TurnGate, TurnRefused
from playground.turn.request import HistoryMessage, TurnRequest
from playground.turn.runner import PreparedTurn, TurnRunner
from playground.turn.state import TurnState
from playground.turn.waterfall import VoiceWaterfall
from playground.turn.wire import event_payload

__all__ = ["SAMPLE_RATE", "AudioClock", "VoiceConnection", "VoiceStart"]

log = logging.getLogger("playground")

SAMPLE_RATE = 16_000
# A frame bigger than a second of audio is a client bug, not speech: refused, not buffered.
_MAX_AUDIO_FRAME = SAMPLE_RATE * 2
_POLICY_VIOLATION = 1008
UNAUTHORIZED = (
    "send Authorization: Bearer <PLAYGROUND_API_TOKEN>, or access_token in the start frame"
)

Engine = Literal["local", "deepgram"]


class VoiceStart(BaseModel):
    """The first frame: what every spoken turn on this socket runs with."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["start"]
    turn: dict[str, Any] = Field(default_factory=dict)
    stt: Engine = "local"
    # Silence that ends an utterance; the turn starts right after it.
    end_of_utterance_ms: int = Field(default=700, ge=200, le=5_000)
    # "transcribe": transcripts and speech starts only, no turns (the page starts its own).
    mode: Literal["turns", "transcribe"] = "turns"
    # For clients that cannot set a header (a browser's WebSocket): the API token.
    access_token: str | None = Field(default=None, repr=False)


class AudioClock:
    """When each millisecond of the client's audio arrived here.

    Engines time their transcripts on the audio's own clock (ms of audio since the session
    opened); the waterfall needs the wall-clock instant the speech ended, which is when its
    last sample reached the server — whatever pace the client sends at.
    """

    def __init__(self) -> None:
        self._ends_ms: list[float] = []  # audio ms at the end of each frame
        self._arrived: list[float] = []  # time.monotonic() each frame arrived

    def arrived(self, n_bytes: int, at: float) -> None:
        total = self._ends_ms[-1] if self._ends_ms else 0.0
        self._ends_ms.append(total + n_bytes / 2 / SAMPLE_RATE * 1000.0)
        self._arrived.append(at)

    def wall_at(self, audio_ms: float) -> float | None:
        """When the frame holding ``audio_ms`` arrived; None before any audio."""
        if not self._ends_ms:
            return None
        index = min(bisect.bisect_left(self._ends_ms, audio_ms), len(self._ends_ms) - 1)
        return self._arrived[index]


@dataclass
class _SpokenTurn:
    turn: PreparedTurn
    waterfall: VoiceWaterfall
    task: asyncio.Task[None] | None = None


@dataclass
class VoiceConnection:
    """One ``/v1/voice`` socket, from its ``start`` frame to its close."""

    socket: WebSocket
    runner: TurnRunner
    gate: TurnGate  # each spoken turn passes it, as a POSTed one does
    listening: TurnGate  # each listening session (a start) passes it, under the same limits
    creds: Credentials
    client: str
    stt_for: Callable[[Engine, Credentials], STTProvider]
    max_history: int
    # None: no token is required; else the one a start frame may present instead of a header.
    token_needed: str | None = field(default=None, repr=False)
    _outbox: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    _history: list[HistoryMessage] = field(default_factory=list)
    _current: _SpokenTurn | None = None
    _clock: AudioClock = field(default_factory=AudioClock)

    async def run(self) -> None:
        sender = asyncio.create_task(self._send_loop())
        try:
            while (start := await self._read_start()) is not None:
                if not await self._converse(start):
                    break
        except WebSocketDisconnect:
            pass
        finally:
            await self._stop_turn(wait=True)
            self._outbox.put_nowait(None)
            with contextlib.suppress(Exception):
                await sender

    async def refuse(self, code: str, message: str) -> None:
        """Say why, then close with a policy violation (a refused token)."""
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await self.socket.send_text(
                json.dumps(
                    {
                        "event": "error",
                        "data": {
                            "code": code,
                            "message": message,
                            "retryable": False,
                            "stage": "request",
                        },
                    }
                )
            )
            await self.socket.close(_POLICY_VIOLATION)

    # -- frames ------------------------------------------------------------------------------

    def emit(self, name: str, data: dict[str, Any]) -> None:
        self._outbox.put_nowait(json.dumps({"event": name, "data": data}))

    def error(self, code: str, message: str, *, stage: str, retryable: bool = False) -> None:
        self.emit(
            "error", {"code": code, "message": message, "retryable": retryable, "stage": stage}
        )

    async def _send_loop(self) -> None:
        # One writer: frames from the turn, the transcripts and the errors never interleave.
        while (frame := await self._outbox.get()) is not None:
            try:
                await self.socket.send_text(frame)
            except (WebSocketDisconnect, RuntimeError):
                return

    async def _read_start(self) -> VoiceStart | None:
        """Frames until a valid ``start``; None when the socket closed."""
        while True:
            message = await self.socket.receive()
            if message["type"] == "websocket.disconnect":
                return None
            text = message.get("text")
            if text is None:
                self.error("invalid_frame", "send a start frame before audio", stage="request")
                continue
            try:
                start = VoiceStart.model_validate_json(text)
            except ValidationError as exc:
                self.error("invalid_request", first_problem(exc, "(frame)")[1], stage="request")
                continue
            if self.token_needed is not None:
                if not token_matches(start.access_token, self.token_needed):
                    await self.refuse("unauthorized", UNAUTHORIZED)
                    return None
                self.token_needed = None  # this socket has shown it once
            return start

    # -- one conversation ----------------------------------------------------------------------

    async def _converse(self, start: VoiceStart) -> bool:
        """Listen and answer until the client closes (False) or the engine fails (True: the
        client may send another ``start``)."""
        problem = self._turn_problem(start.turn)
        if problem is not None:
            self.error("invalid_request", problem, stage="request")
            return True
        try:
            release = self.listening.enter(self.client)
        except TurnRefused as exc:
            self.error("rate_limited", exc.message, stage="request", retryable=True)
            return True
        try:
            return await self._listen_until_done(start)
        finally:
            release()

    async def _listen_until_done(self, start: VoiceStart) -> bool:
        """One listening session, from its engine's connection to its close (``_converse``)."""
        try:
            provider = self.stt_for(start.stt, self.creds)
            session = provider.open_session(end_of_utterance_ms=start.end_of_utterance_ms)
        except PlaygroundError as exc:
            self.error(exc.category.value, exc.message, stage="stt", retryable=exc.retryable)
            return True
        try:
            await session.connect()
        except PlaygroundError as exc:
            await session.aclose()
            self.error(exc.category.value, exc.message, stage="stt", retryable=exc.retryable)
            return True
        self.emit("listening", {"stt": start.stt, "sample_rate": SAMPLE_RATE})
        listener = asyncio.create_task(self._listen(session, start))
        barge = asyncio.create_task(self._barge_in(session))
        receiver = asyncio.create_task(self._receive(session))
        try:
            done, _ = await asyncio.wait((listener, receiver), return_when=asyncio.FIRST_COMPLETED)
            if receiver in done:
                return receiver.result()
            failure = listener.exception()
            if isinstance(failure, PlaygroundError):
                self.error(failure.category.value, failure.message, stage="stt", retryable=True)
            elif failure is not None:
                raise failure
            return True
        finally:
            for task in (listener, barge, receiver):
                task.cancel()
            await asyncio.gather(listener, barge, receiver, return_exceptions=True)
            await session.aclose()

    async def _receive(self, session: TranscriptionSession) -> bool:
        """Client frames into the engine until the client closes (False: no new ``start``
        follows). ``stop`` stops the running turn and the socket keeps listening."""
        while True:
            message = await self.socket.receive()
            if message["type"] == "websocket.disconnect":
                return False
            data = message.get("bytes")
            if data is not None:
                if len(data) % 2 or len(data) > _MAX_AUDIO_FRAME:
                    self.error(
                        "invalid_frame",
                        f"audio frames are 16-bit PCM: an even number of bytes, at most "
                        f"{_MAX_AUDIO_FRAME}",
                        stage="request",
                    )
                    continue
                self._clock.arrived(len(data), time.monotonic())
                await session.send_audio(data)
                continue
            command = _command(message.get("text") or "")
            if command == "end-of-audio":
                await session.end_of_audio()
            elif command == "stop":
                await self._stop_turn(wait=False)
            elif command == "playback-started":
                if self._current is not None:
                    self._current.waterfall.playback_started(time.monotonic())
            else:
                self.error(
                    "invalid_frame",
                    "text frames are JSON with type end-of-audio, stop or playback-started",
                    stage="request",
                )

    async def _listen(self, session: TranscriptionSession, start: VoiceStart) -> None:
        async for transcript in session.transcripts():
            data: dict[str, Any] = {
                "text": transcript.text,
                "final": transcript.final,
                "t_ms": transcript.t_ms,
            }
            if transcript.utterance_end:
                # The audio-clock instant the speech ended: a client's voice-to-voice start.
                end = transcript.speech_end_ms
                data["utterance_end"] = True
                data["speech_end_ms"] = end if end is not None else transcript.t_ms
            self.emit("transcript", data)
            if start.mode == "turns" and transcript.utterance_end and transcript.text.strip():
                await self._answer(transcript, start)

    async def _barge_in(self, session: TranscriptionSession) -> None:
        async for t_ms in session.speech_started():
            self.emit("speech-started", {"t_ms": t_ms})
            current = self._current
            if current is None or current.task is None or current.task.done():
                continue
            current.turn.request_stop(interrupted=True)
            self.emit("barge-in", {"turn_id": current.turn.turn_id, "t_ms": t_ms})

    # -- turns --------------------------------------------------------------------------------

    def _turn_problem(self, fields: dict[str, Any]) -> str | None:
        if "message" in fields:
            return "turn.message: the message is what is spoken; leave it out"
        try:
            TurnRequest.model_validate({**fields, "message": "-"})
        except ValidationError as exc:
            return f"turn.{first_problem(exc, '(frame)')[1]}"
        return None

    async def _answer(self, transcript: Transcript, start: VoiceStart) -> None:
        """The utterance becomes the next turn, after the one it interrupted has ended."""
        heard_at = time.monotonic()
        await self._stop_turn(wait=True)
        speech_end_ms = transcript.speech_end_ms
        ended_at = self._clock.wall_at(
            speech_end_ms if speech_end_ms is not None else transcript.t_ms
        )
        waterfall = VoiceWaterfall(
            speech_ended_at=min(ended_at or heard_at, heard_at), transcript_at=heard_at
        )
        text = transcript.text.strip()
        try:
            request = TurnRequest.model_validate(
                {**start.turn, "message": text, "history": self._history}
            )
            turn = self.runner.prepare(request, self.creds, self.client)
            release = self.gate.enter(self.client)
        except TurnRefused as exc:
            self.error("rate_limited", exc.message, stage="request", retryable=True)
            return
        except (ValidationError, InvalidPromptError, UnsupportedValueError, ConfigError) as exc:
            message = (
                first_problem(exc, "(frame)")[1] if isinstance(exc, ValidationError) else str(exc)
            )
            self.error("invalid_request", message, stage="request")
            return
        spoken = _SpokenTurn(turn, waterfall)
        self._current = spoken
        spoken.task = asyncio.create_task(self._run_turn(spoken, text, release))

    async def _run_turn(self, spoken: _SpokenTurn, text: str, release: Callable[[], None]) -> None:
        waterfall = spoken.waterfall
        started_at = waterfall.request_at = time.monotonic()
        answer = ""
        shown = TurnState()  # what the client has been sent: a bug's ending keeps its text
        try:
            # Closed however this loop is left: the upstream never outlives the turn.
            async with contextlib.aclosing(
                self.runner.stream(spoken.turn, started_at=started_at)
            ) as events:
                async for event in events:
                    waterfall.observe(event)
                    if isinstance(event, TurnCompleted):
                        answer = event.text
                    self.emit(*event_payload(event))
                    shown.handle(event)
            self.emit("waterfall", {"turn_id": spoken.turn.turn_id, **waterfall.payload()})
        except Exception:
            # The runner ends its own failures with error + completion-end; this is a bug here,
            # and the turn still ends as every failed turn does: error, completion-end, end.
            log.exception("spoken turn %s failed", spoken.turn.turn_id)
            self.error(
                "internal", "internal error (details are in the server log)", stage="internal"
            )
            if shown.completed is None:
                self.emit(
                    *event_payload(
                        TurnCompleted.cut_short(shown.text, (time.monotonic() - started_at) * 1000)
                    )
                )
        finally:
            self.emit("end", {})
            release()
            self._remember(text, answer)

    def _remember(self, text: str, answer: str) -> None:
        """Hands-free turns are one conversation: what was said and answered (the part heard
        before a barge-in) is the next turn's history."""
        self._history.append(HistoryMessage(role="user", content=text))
        if answer:
            self._history.append(HistoryMessage(role="assistant", content=answer))
        del self._history[: max(0, len(self._history) - self.max_history)]

    async def _stop_turn(self, *, wait: bool) -> None:
        current = self._current
        if current is None or current.task is None:
            return
        current.turn.request_stop()
        if wait:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await current.task


def _command(text: str) -> str | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    return kind if isinstance(kind, str) else None
