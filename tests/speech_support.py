"""Speech for the voice-input tests, made by the project's own local voice (Piper), as a
microphone would send it: 16-bit mono PCM at 16 kHz, with dithered silence around it."""

from __future__ import annotations

import wave
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from piper.config import SynthesisConfig

from playground.providers.piper_tts import PiperTTS

RATE = 16_000


def resample_to_16k(pcm: bytes, rate: int) -> np.ndarray:
    """Band-limited resampling of a whole clip: keep the spectrum below 8 kHz."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    count = round(len(samples) * RATE / rate)
    spectrum = np.fft.rfft(samples)[: count // 2 + 1]
    return np.fft.irfft(spectrum, count) * count / len(samples)


def to_pcm(samples: np.ndarray) -> bytes:
    return np.clip(np.round(samples), -32768, 32767).astype("<i2").tobytes()


def tone(ms: float) -> bytes:
    """A 220 Hz tone: sound the fake Deepgram hears as words (it never recognises it)."""
    t = np.arange(int(RATE * ms / 1000)) / RATE
    return (np.sin(2 * np.pi * 220 * t) * 8000).astype("<i2").tobytes()


def digital_silence(ms: float) -> bytes:
    """Zeros: what the fake Deepgram takes for silence (it ends an utterance on them)."""
    return bytes(int(RATE * ms / 1000) * 2)


def silence(ms: float) -> bytes:
    # Triangular dither of +-2 LSB: a real microphone is never digitally silent.
    noise = np.random.default_rng(7).triangular(-2, 0, 2, int(RATE * ms / 1000))
    return np.round(noise).astype("<i2").tobytes()


def spoken(texts: Iterable[str]) -> dict[str, bytes]:
    """Each text spoken by the local voice, as 16 kHz PCM with no padding.

    Piper adds random noise to every synthesis, and Whisper tiny.en hears "Paris" as "pairs" in
    about one take of twenty; with the noise off the takes are identical, so the tests are too.
    """
    tts = PiperTTS()
    try:
        voice = tts.load("joe")
        steady = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
        rate = int(voice.config.sample_rate)
        result = {}
        for text in texts:
            parts = [c.audio_int16_array.astype("<i2") for c in voice.synthesize(text, steady)]
            result[text] = to_pcm(resample_to_16k(np.concatenate(parts).tobytes(), rate))
        return result
    finally:
        tts.close()


def write_wav(path: Path, pcm: bytes) -> Path:
    """``pcm`` as a 16 kHz mono WAV (Chromium's fake microphone plays such a file)."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm)
    return path
