"""The offline Piper voice: real synthesis with the bundled joe voice, plus its session rules."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import threading
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from playground.errors import ConfigError, ErrorCategory, ProviderError
from playground.providers.piper_tts import (
    LOCAL_VOICES,
    PiperTTS,
    find_voice_model,
    local_voice_unavailable_reason,
    voice_sample_rate,
)
from playground.speech.wav import is_silent, pcm_duration_ms, pcm_to_wav, wav_to_pcm

pytestmark = pytest.mark.slow

SENTENCE = "Hello there, this is the local voice speaking."
SAMPLE_PATH = Path("/tmp/piper_sample.wav")


@pytest.fixture(scope="module")
def tts():
    provider = PiperTTS()
    yield provider
    provider.close()


def _voice_config_rate() -> int:
    model = find_voice_model("joe")
    assert model is not None
    config = json.loads(model.with_name(model.name + ".json").read_text(encoding="utf-8"))
    return int(config["audio"]["sample_rate"])


def test_available_here() -> None:
    assert local_voice_unavailable_reason() is None
    assert LOCAL_VOICES == ("joe",)
    model = find_voice_model("joe")
    assert model is not None
    assert model.name == "en_US-joe-medium.onnx"
    assert (model.parent / "MODEL_CARD").is_file()
    assert find_voice_model("nobody") is None


def test_import_is_cheap() -> None:
    code = (
        "import sys, playground.providers.piper_tts as p; p.PiperTTS().open_session('joe'); "
        "heavy = {'piper', 'onnxruntime', 'numpy'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent.parent)


async def test_sentence_is_valid_speech(tts: PiperTTS) -> None:
    session = tts.open_session("joe")
    before = time.monotonic()
    audio = await session.synthesize(SENTENCE)
    after = time.monotonic()
    await session.aclose()

    assert audio.text == SENTENCE
    assert audio.sample_rate == _voice_config_rate() == voice_sample_rate("joe") == 22050
    assert before < audio.first_byte_at <= after
    assert len(audio.pcm) % 2 == 0
    assert not is_silent(audio.pcm)
    assert 500 <= pcm_duration_ms(audio.pcm, audio.sample_rate) <= 6000

    data = pcm_to_wav(audio.pcm, audio.sample_rate)
    await asyncio.to_thread(SAMPLE_PATH.write_bytes, data)
    with wave.open(io.BytesIO(data), "rb") as reader:
        assert reader.getnchannels() == 1
        assert reader.getsampwidth() == 2
        assert reader.getframerate() == 22050
        assert reader.getnframes() == len(audio.pcm) // 2
    assert wav_to_pcm(data) == (audio.pcm, 22050)
    assert tts.loaded
    assert tts.load_seconds is not None


async def test_two_sessions_at_once(tts: PiperTTS) -> None:
    first, second = tts.open_session("joe"), tts.open_session("joe")
    a, b = await asyncio.gather(
        first.synthesize("The first session speaks this sentence."),
        second.synthesize("Meanwhile the second one says something else entirely."),
    )
    for audio in (a, b):
        assert audio.sample_rate == 22050
        assert not is_silent(audio.pcm)
        assert pcm_duration_ms(audio.pcm, audio.sample_rate) > 500
    assert b.text.startswith("Meanwhile")


async def test_several_sentences_in_one_call(tts: PiperTTS) -> None:
    session = tts.open_session("joe")
    one = await session.synthesize("Hello.")
    three = await session.synthesize("Hello. How are you? I am fine.")
    assert len(three.pcm) > 2 * len(one.pcm)


async def test_text_that_is_not_markup_or_control_chars(tts: PiperTTS) -> None:
    session = tts.open_session("joe")
    audio = await session.synthesize("A null \x00 byte and [[a wiki link]] are read as text.")
    assert not is_silent(audio.pcm)


def test_unknown_voice_is_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown local voice 'amy'"):
        PiperTTS().open_session("amy")


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
async def test_empty_text_skips_the_model(text: str) -> None:
    tts = PiperTTS()
    audio = await tts.open_session("joe").synthesize(text)
    assert audio.pcm == b""
    assert audio.sample_rate == 22050
    assert audio.text == text
    assert not tts.loaded


async def test_warm_up_loads_once(tts: PiperTTS) -> None:
    await tts.warm_up()
    await tts.warm_up()
    assert tts.loaded
    assert tts.load_seconds is not None
    assert tts.warm_up_seconds is not None
    assert tts.load("joe") is tts.load("joe")


async def test_interrupt_drops_queued_work_and_session_stays_usable(tts: PiperTTS) -> None:
    await tts.warm_up()
    session = tts.open_session("joe")
    gate = threading.Event()
    blocker = asyncio.ensure_future(tts.run(gate.wait, 10))  # occupy the worker thread
    queued = asyncio.ensure_future(session.synthesize("This sentence must never be heard."))
    await asyncio.sleep(0.05)
    await session.interrupt()
    gate.set()
    assert await blocker is True
    dropped = await queued
    assert dropped.pcm == b""

    after = await session.synthesize("But this one is spoken.")
    assert not is_silent(after.pcm)


async def test_aclose_is_idempotent_and_final(tts: PiperTTS) -> None:
    session = tts.open_session("joe")
    await session.aclose()
    await session.aclose()
    with pytest.raises(ProviderError, match="closed"):
        await session.synthesize("Too late.")


# --- error translation, with a fake voice in place of the model ---------------------------


@dataclass
class _Chunk:
    audio_int16_array: Any
    sample_rate: int = 16000
    sample_width: int = 2
    sample_channels: int = 1


@dataclass
class _FakeVoice:
    error: Exception | None = None
    calls: list[str] = field(default_factory=list)
    config: Any = field(default_factory=lambda: SimpleNamespace(sample_rate=16000))

    def synthesize(self, text: str) -> Any:
        self.calls.append(text)
        if self.error is not None:
            raise self.error
        yield _Chunk(np.array([0, 1000, -1000, 0], dtype=np.int16))


async def test_fake_voice_output_is_little_endian_pcm() -> None:
    voice = _FakeVoice()
    tts = PiperTTS(loader=lambda _path: voice)
    try:
        audio = await tts.open_session("joe").synthesize("Hi.")
    finally:
        tts.close()
    assert audio.pcm == b"\x00\x00\xe8\x03\x18\xfc\x00\x00"
    assert audio.sample_rate == 16000
    assert voice.calls == ["Hi."]


@pytest.mark.parametrize(
    ("error", "category"),
    [
        (ValueError("embedded null character"), ErrorCategory.BAD_REQUEST),
        (RuntimeError("onnxruntime exploded"), ErrorCategory.INTERNAL),
    ],
)
async def test_synthesis_errors_become_provider_errors(
    error: Exception, category: ErrorCategory
) -> None:
    tts = PiperTTS(loader=lambda _path: _FakeVoice(error=error))
    try:
        with pytest.raises(ProviderError) as caught:
            await tts.open_session("joe").synthesize("Hi.")
    finally:
        tts.close()
    assert caught.value.category == category
    assert caught.value.provider == "local"
    assert caught.value.__cause__ is error


async def test_load_failure_is_provider_error() -> None:
    def broken(_path: Path) -> Any:
        raise OSError("model file is corrupt")

    tts = PiperTTS(loader=broken)
    try:
        with pytest.raises(ProviderError, match="could not load") as caught:
            await tts.warm_up()
    finally:
        tts.close()
    assert caught.value.category == ErrorCategory.INTERNAL
    assert caught.value.provider == "local"
    assert not tts.loaded


async def test_concurrent_first_use_loads_once() -> None:
    loads: list[Path] = []

    def counting(path: Path) -> Any:
        loads.append(path)
        time.sleep(0.05)
        return _FakeVoice()

    tts = PiperTTS(loader=counting)
    try:
        await asyncio.gather(*(tts.open_session("joe").synthesize("Hi.") for _ in range(4)))
        await asyncio.gather(*(asyncio.to_thread(tts.load, "joe") for _ in range(4)))
    finally:
        tts.close()
    assert len(loads) == 1
