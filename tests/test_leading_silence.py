"""Leading silence: milliseconds before the first audible sample, robust to dither."""

from __future__ import annotations

import numpy as np
import pytest

from playground.speech.leading_silence import leading_silence_ms

RATE = 16000


def pcm(samples: np.ndarray) -> bytes:
    return np.clip(np.round(samples), -32768, 32767).astype("<i2").tobytes()


def tone(ms: float, amplitude: float = 8000.0) -> np.ndarray:
    t = np.arange(int(RATE * ms / 1000)) / RATE
    return amplitude * np.sin(2 * np.pi * 440 * t + 0.3)


def dither(ms: float, seed: int = 1) -> np.ndarray:
    # Triangular dither of +-2 LSB, and a few single-sample clicks of 300 on top.
    rng = np.random.default_rng(seed)
    noise = rng.triangular(-2, 0, 2, int(RATE * ms / 1000))
    noise[:: max(1, len(noise) // 5)] = 300
    return noise


def test_silence_then_tone() -> None:
    audio = np.concatenate([np.zeros(int(RATE * 0.25)), tone(200)])
    assert leading_silence_ms(pcm(audio), RATE) == pytest.approx(250.0, abs=0.2)


def test_dither_and_lone_clicks_are_not_audible() -> None:
    audio = np.concatenate([dither(300), tone(100)])
    assert leading_silence_ms(pcm(audio), RATE) == pytest.approx(300.0, abs=0.5)


def test_a_fade_in_is_heard_once_it_reaches_the_threshold() -> None:
    ramp = tone(200) * np.linspace(0.0, 1.0, int(RATE * 0.2))  # reaches -45 dBFS after ~5 ms
    measured = leading_silence_ms(pcm(np.concatenate([np.zeros(1600), ramp])), RATE)
    assert 100.0 < measured < 115.0


def test_audio_that_starts_loud_has_none() -> None:
    assert leading_silence_ms(pcm(tone(50)), RATE) == pytest.approx(0.0, abs=0.1)


def test_all_silence_is_its_whole_duration_and_empty_is_zero() -> None:
    assert leading_silence_ms(pcm(dither(123)), RATE) == pytest.approx(123.0)
    assert leading_silence_ms(b"", RATE) == 0.0
    assert leading_silence_ms(b"\x00", RATE) == 0.0  # a stray odd byte is ignored


def test_other_rates_and_a_short_last_window() -> None:
    rate = 22050
    audio = np.concatenate([np.zeros(2205 + 50), np.full(7, 9000.0)])
    assert leading_silence_ms(pcm(audio), rate) == pytest.approx(2255 * 1000 / rate)


def test_threshold_is_a_parameter() -> None:
    quiet = np.concatenate([np.zeros(800), tone(100, amplitude=100.0)])
    assert leading_silence_ms(pcm(quiet), RATE) == pytest.approx(150.0)  # -50 dBFS: inaudible
    assert leading_silence_ms(pcm(quiet), RATE, threshold_dbfs=-60) == pytest.approx(50.0, abs=0.5)


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        leading_silence_ms(b"", 0)
    with pytest.raises(ValueError, match="window_ms"):
        leading_silence_ms(b"", RATE, window_ms=0)
