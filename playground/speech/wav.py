"""Small stdlib-only helpers for 16-bit little-endian PCM and the WAV container around it.

Every voice in this project hands back raw 16-bit mono PCM (``SpeechAudio.pcm``); these helpers
wrap it in a WAV header for the browser, unwrap WAV files back to PCM, and answer the two questions
the tests and the timing panel ask: how long is it, and is it silence?
"""

from __future__ import annotations

import array
import io
import struct
import sys
import wave

__all__ = ["SAMPLE_WIDTH", "is_silent", "pcm_duration_ms", "pcm_to_wav", "wav_to_pcm"]

SAMPLE_WIDTH = 2  # bytes per sample: 16-bit PCM
_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")


def pcm_to_wav(pcm: bytes, sample_rate: int, channels: int = 1) -> bytes:
    """Wrap 16-bit little-endian PCM in a canonical 44-byte-header RIFF/WAVE container."""
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    if channels <= 0:
        raise ValueError(f"channels must be positive, got {channels}")
    frame_size = SAMPLE_WIDTH * channels
    if len(pcm) % frame_size:
        raise ValueError(
            f"PCM length {len(pcm)} is not a whole number of {channels}-channel 16-bit frames"
        )
    header = _HEADER.pack(
        b"RIFF",
        36 + len(pcm),
        b"WAVE",
        b"fmt ",
        16,  # fmt chunk size for PCM
        1,  # audio format: integer PCM
        channels,
        sample_rate,
        sample_rate * frame_size,  # byte rate
        frame_size,  # block align
        SAMPLE_WIDTH * 8,  # bits per sample
        b"data",
        len(pcm),
    )
    return header + bytes(pcm)


def wav_to_pcm(data: bytes) -> tuple[bytes, int]:
    """Return ``(pcm, sample_rate)`` from a 16-bit PCM WAV file (any number of channels).

    Raises ``ValueError`` for anything that is not a 16-bit integer-PCM WAV.
    """
    try:
        with wave.open(io.BytesIO(data), "rb") as reader:
            if reader.getsampwidth() != SAMPLE_WIDTH:
                raise ValueError(f"expected 16-bit samples, got {reader.getsampwidth() * 8}-bit")
            sample_rate = reader.getframerate()
            pcm = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"not a PCM WAV file: {exc}") from exc
    return pcm, sample_rate


def pcm_duration_ms(pcm: bytes, sample_rate: int, channels: int = 1) -> float:
    """Duration of 16-bit PCM in milliseconds."""
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    return len(pcm) / (SAMPLE_WIDTH * channels * sample_rate) * 1000.0


def _samples(pcm: bytes) -> array.array[int]:
    samples = array.array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % SAMPLE_WIDTH])
    if sys.byteorder == "big":  # PCM is little-endian; array uses the machine's order
        samples.byteswap()
    return samples


def is_silent(pcm: bytes, threshold: int = 200) -> bool:
    """True when no sample's magnitude exceeds ``threshold`` (peak-based; empty is silent).

    ``max``/``min`` over an ``array`` run in C, so a few seconds of audio take well under 1 ms.
    """
    samples = _samples(pcm)
    if not samples:
        return True
    peak = max(max(samples), -min(samples))
    return peak <= threshold
