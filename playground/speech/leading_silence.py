"""How long a piece of 16-bit mono PCM stays silent before its first audible sample.

A voice's first audio byte is not its first sound: Piper and Deepgram both start a sentence with
tens of milliseconds of near-silence. To time what a listener hears, the turn timing measures the
silence in front. A single sample over a threshold is a poor test (dither and codec noise flick a
few samples high), so the audio is cut into short windows and the first window whose RMS level
reaches ``threshold_dbfs`` is the first audible one; within it, the answer is the first sample
whose magnitude reaches the same level, so the result is sample-accurate at the onset.
"""

from __future__ import annotations

import numpy as np

__all__ = ["leading_silence_ms"]

_FULL_SCALE = 32768.0


def leading_silence_ms(
    pcm: bytes,
    sample_rate: int,
    *,
    threshold_dbfs: float = -45.0,
    window_ms: float = 5.0,
) -> float:
    """Milliseconds of ``pcm`` (16-bit little-endian mono) before the first audible sample.

    Audio that never becomes audible counts as silence all through, so the result is its whole
    duration (and silences of consecutive chunks add up). -45 dBFS RMS (about 184 on the 16-bit
    scale) is far above dither (a few LSB) yet well below the quietest start of a spoken word.
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    if window_ms <= 0:
        raise ValueError(f"window_ms must be positive, got {window_ms}")
    samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.float64)
    level = _FULL_SCALE * 10.0 ** (threshold_dbfs / 20.0)
    window = max(1, round(sample_rate * window_ms / 1000.0))
    whole = len(samples) // window * window
    # Each window's RMS; a shorter last window is scored on its own.
    windows = [samples[:whole].reshape(-1, window)] if whole else []
    if whole < len(samples):
        windows.append(samples[whole:].reshape(1, -1))
    offset = 0
    for block in windows:
        rms = np.sqrt(np.mean(block * block, axis=1))
        loud = np.flatnonzero(rms >= level)
        if loud.size:
            row = block[loud[0]]
            first = int(np.flatnonzero(np.abs(row) >= level)[0])
            return (offset + int(loud[0]) * block.shape[1] + first) * 1000.0 / sample_rate
        offset += block.size
    return len(samples) * 1000.0 / sample_rate
