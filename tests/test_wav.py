"""The stdlib WAV helpers: headers readable by ``wave``, exact round trips, durations, silence."""

from __future__ import annotations

import io
import math
import struct
import time
import wave

import pytest

from playground.speech.wav import is_silent, pcm_duration_ms, pcm_to_wav, wav_to_pcm


def _tone(seconds: float, sample_rate: int = 22050, amplitude: int = 8000) -> bytes:
    count = int(seconds * sample_rate)
    return struct.pack(
        f"<{count}h",
        *(int(amplitude * math.sin(2 * math.pi * 440 * i / sample_rate)) for i in range(count)),
    )


def test_header_fields_read_by_stdlib_wave() -> None:
    pcm = _tone(0.25)
    data = pcm_to_wav(pcm, 22050)
    assert data[:4] == b"RIFF"
    assert data[8:16] == b"WAVEfmt "
    assert len(data) == 44 + len(pcm)
    assert struct.unpack_from("<I", data, 4)[0] == len(data) - 8
    with wave.open(io.BytesIO(data), "rb") as reader:
        assert reader.getnchannels() == 1
        assert reader.getsampwidth() == 2
        assert reader.getframerate() == 22050
        assert reader.getnframes() == len(pcm) // 2
        assert reader.getcomptype() == "NONE"
        assert reader.readframes(reader.getnframes()) == pcm


def test_stereo_header() -> None:
    pcm = b"\x01\x00\x02\x00" * 100
    with wave.open(io.BytesIO(pcm_to_wav(pcm, 48000, channels=2)), "rb") as reader:
        assert reader.getnchannels() == 2
        assert reader.getnframes() == 100
        assert reader.getframerate() == 48000


def test_round_trip_is_exact() -> None:
    pcm = _tone(0.1, 16000) + b"\x00\x80\xff\x7f"  # includes -32768 and 32767
    assert wav_to_pcm(pcm_to_wav(pcm, 16000)) == (pcm, 16000)


def test_round_trip_of_file_written_by_wave() -> None:
    pcm = _tone(0.05, 24000)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(24000)
        writer.writeframes(pcm)
    assert wav_to_pcm(buffer.getvalue()) == (pcm, 24000)


def test_empty_pcm_round_trip() -> None:
    data = pcm_to_wav(b"", 22050)
    assert len(data) == 44
    assert wav_to_pcm(data) == (b"", 22050)


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="whole number"):
        pcm_to_wav(b"\x00\x00\x00", 22050)
    with pytest.raises(ValueError, match="sample_rate"):
        pcm_to_wav(b"", 0)
    with pytest.raises(ValueError, match="not a PCM WAV"):
        wav_to_pcm(b"definitely not a wav file, just some bytes here")


def test_rejects_8_bit_wav() -> None:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(1)
        writer.setframerate(8000)
        writer.writeframes(b"\x80" * 10)
    with pytest.raises(ValueError, match="16-bit"):
        wav_to_pcm(buffer.getvalue())


def test_duration() -> None:
    assert pcm_duration_ms(b"", 22050) == 0.0
    assert pcm_duration_ms(b"\x00\x00" * 22050, 22050) == pytest.approx(1000.0)
    assert pcm_duration_ms(b"\x00\x00" * 8000, 16000) == pytest.approx(500.0)
    assert pcm_duration_ms(b"\x00\x00" * 441, 44100) == pytest.approx(10.0)
    assert pcm_duration_ms(b"\x00\x00" * 48000, 48000, channels=2) == pytest.approx(500.0)


def test_silence_detection() -> None:
    assert is_silent(b"")
    assert is_silent(b"\x00\x00" * 1000)
    assert is_silent(struct.pack("<4h", 0, 150, -200, 199))  # at/below the threshold
    assert not is_silent(struct.pack("<3h", 0, 201, 0))
    assert not is_silent(struct.pack("<3h", 0, -201, 0))
    assert not is_silent(struct.pack("<h", -32768))  # most negative sample does not overflow
    assert not is_silent(_tone(0.1))
    assert is_silent(_tone(0.1, amplitude=100))
    assert not is_silent(_tone(0.1, amplitude=100), threshold=50)


def test_silence_reads_little_endian() -> None:
    # 0x0100 little-endian is 1 (silent); read big-endian it would be 256 (loud).
    assert is_silent(b"\x01\x00" * 10)
    assert not is_silent(b"\x00\x01" * 10)


def test_silence_is_fast_for_seconds_of_audio() -> None:
    pcm = b"\x10\x00" * (22050 * 10)  # ten seconds, silent, so every sample is scanned
    started = time.perf_counter()
    assert is_silent(pcm)
    assert time.perf_counter() - started < 0.1
