"""The offline speech-to-text: real Silero VAD and Whisper tiny.en hearing the real Piper voice.

Speech is made by the project's local voice (22.05 kHz), resampled to 16 kHz, padded with
silence and fed to a ``LocalTranscription`` in small chunks, the way a microphone would send it.
The models load once per module.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import pytest

from playground.errors import ErrorCategory, ProviderError
from playground.providers import whisper_stt
from playground.providers.base import STTProvider, Transcript, TranscriptionSession
from playground.providers.voice_activity import (
    FRAME_BYTES,
    VoiceActivityDetector,
    find_vad_model,
)
from playground.providers.whisper_stt import (
    MODEL_PACKAGE,
    MODEL_VERSION,
    LocalSTT,
    LocalTranscription,
    find_whisper_model,
    local_stt_unavailable_reason,
)
from playground.speech.leading_silence import leading_silence_ms
from tests.speech_support import RATE, silence, spoken

pytestmark = pytest.mark.slow

WEATHER = "Please check the weather in Paris, France."
TOKYO = "What time is it in Tokyo right now?"
MORNING = "Please check the weather in Paris tomorrow morning."


def chunks(pcm: bytes, ms: float) -> Iterator[bytes]:
    size = int(RATE * ms / 1000) * 2
    for start in range(0, len(pcm), size):
        yield pcm[start : start + size]


def ms_of(pcm: bytes) -> float:
    return len(pcm) / 2 / RATE * 1000


def speech_bounds(pcm: bytes) -> tuple[float, float]:
    """(first, last) audible millisecond of ``pcm``."""
    reversed_pcm = np.frombuffer(pcm, dtype="<i2")[::-1].tobytes()
    return leading_silence_ms(pcm, RATE), ms_of(pcm) - leading_silence_ms(reversed_pcm, RATE)


@pytest.fixture(scope="module")
def speech() -> dict[str, bytes]:
    return spoken((WEATHER, TOKYO, MORNING))


@pytest.fixture(scope="module")
def stt() -> Iterator[LocalSTT]:
    provider = LocalSTT()
    provider.load()
    yield provider
    provider.close()


async def collect(items: AsyncIterator[float]) -> list[float]:
    return [item async for item in items]


class Listener:
    """A session with readers on both of its iterators, as the voice loop would have."""

    def __init__(self, session: LocalTranscription) -> None:
        self.session = session
        self.transcripts: list[Transcript] = []
        self._ends = asyncio.Queue[Transcript]()
        self._reader = asyncio.create_task(self._read())
        self._starts = asyncio.create_task(collect(session.speech_started()))

    async def _read(self) -> None:
        async for transcript in self.session.transcripts():
            self.transcripts.append(transcript)
            if transcript.utterance_end:
                self._ends.put_nowait(transcript)

    async def send(self, pcm: bytes, chunk_ms: float, *, pace: float | None = None) -> None:
        """Send ``pcm`` in ``chunk_ms`` chunks, as fast as possible or at ``pace`` x real time."""
        started = time.monotonic()
        sent_ms = 0.0
        for chunk in chunks(pcm, chunk_ms):
            await self.session.send_audio(chunk)
            sent_ms += ms_of(chunk)
            delay = 0.0 if pace is None else started + sent_ms / 1000 / pace - time.monotonic()
            await asyncio.sleep(max(0.0, delay))

    async def utterance_end(self) -> Transcript:
        return await asyncio.wait_for(self._ends.get(), 15)

    async def close(self) -> list[float]:
        """Close the session; the speech start times it reported."""
        await self.session.aclose()
        await asyncio.wait_for(self._reader, 5)
        return await asyncio.wait_for(self._starts, 5)


async def listener(stt: LocalSTT, end_of_utterance_ms: int = 500) -> Listener:
    session = stt.open_session(end_of_utterance_ms=end_of_utterance_ms)
    await session.connect()
    return Listener(session)


def test_available_and_pinned() -> None:
    assert local_stt_unavailable_reason() is None
    folder = find_whisper_model()
    assert folder is not None and (folder / "model.bin").is_file()
    assert importlib.metadata.version(MODEL_PACKAGE) == MODEL_VERSION
    vad = find_vad_model()
    assert vad is not None and vad.name == "silero_vad_v6.onnx"


def test_import_and_open_are_cheap() -> None:
    code = (
        "import sys, playground.providers.whisper_stt as w;"
        "w.LocalSTT().open_session(end_of_utterance_ms=500);"
        "heavy = {'faster_whisper', 'ctranslate2', 'onnxruntime'} & set(sys.modules);"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent.parent)


def test_satisfies_the_protocols(stt: LocalSTT) -> None:
    provider: STTProvider = stt
    session: TranscriptionSession = provider.open_session(end_of_utterance_ms=800)
    assert isinstance(session, LocalTranscription)
    assert session.end_of_utterance_ms == 800
    assert stt.loaded
    assert stt.load_seconds is not None


def test_a_changed_model_file_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(whisper_stt, "MODEL_SHA256", "0" * 64)
    with pytest.raises(ProviderError) as caught:
        LocalSTT().load()
    assert caught.value.category is ErrorCategory.CONFIG
    assert f"pip install {MODEL_PACKAGE}=={MODEL_VERSION}" in caught.value.message


def test_vad_streams_frame_by_frame_like_one_batch(speech: dict[str, bytes]) -> None:
    pcm = silence(500) + speech[WEATHER] + silence(500)
    pcm = pcm[: len(pcm) - len(pcm) % FRAME_BYTES]
    batched = VoiceActivityDetector().probabilities(pcm)
    streaming = VoiceActivityDetector()
    framed = [
        streaming.probability(pcm[i : i + FRAME_BYTES]) for i in range(0, len(pcm), FRAME_BYTES)
    ]
    assert framed == pytest.approx(batched, abs=1e-5)
    lead = int(500 / 32) - 1
    assert max(framed[:lead]) < 0.2
    assert max(framed) > 0.9


async def test_an_utterance_is_heard(stt: LocalSTT, speech: dict[str, bytes]) -> None:
    pcm = silence(1000) + speech[WEATHER] + silence(1000)
    heard = await listener(stt)
    await heard.send(pcm, 40)
    final = await heard.utterance_end()
    starts = await heard.close()

    assert final.final and final.utterance_end
    assert "weather" in final.text.lower() and "paris" in final.text.lower()
    assert heard.session.audio_ms == pytest.approx(ms_of(pcm))
    # Sent faster than real time: the clock places the audio as if it had been live, never
    # before the session opened; only the order of the instants is certain.
    assert final.speech_end_ms is not None
    assert len(starts) == 1
    assert 0 <= starts[0] <= final.speech_end_ms < final.t_ms
    assert [t for t in heard.transcripts if t.utterance_end] == [final]
    assert heard.transcripts[-1] == final


async def test_two_utterances_a_second_apart(stt: LocalSTT, speech: dict[str, bytes]) -> None:
    pcm = silence(500) + speech[WEATHER] + silence(1000) + speech[TOKYO] + silence(1000)
    heard = await listener(stt)
    await heard.send(pcm, 20)
    first = await heard.utterance_end()
    second = await heard.utterance_end()
    starts = await heard.close()

    assert "paris" in first.text.lower()
    assert "tokyo" in second.text.lower()
    assert first.t_ms <= second.t_ms
    assert len(starts) == 2
    assert starts[0] <= starts[1]
    assert [t.utterance_end for t in heard.transcripts].count(True) == 2


async def test_end_of_audio_ends_the_utterance_at_once(
    stt: LocalSTT, speech: dict[str, bytes]
) -> None:
    # One big chunk (scored off the event loop), no trailing silence: only end_of_audio ends it.
    heard = await listener(stt, end_of_utterance_ms=5000)
    await heard.send(silence(300) + speech[TOKYO] + silence(100), 10_000)
    speaking_before = heard.session.speaking
    await heard.session.end_of_audio()
    assert speaking_before and not heard.session.speaking
    final = await heard.utterance_end()
    await heard.close()
    assert "tokyo" in final.text.lower()


async def test_silence_alone_gives_nothing(stt: LocalSTT) -> None:
    heard = await listener(stt)
    await heard.send(silence(3000), 30)
    await heard.session.end_of_audio()
    await asyncio.sleep(0.2)
    starts = await heard.close()
    assert starts == []
    assert heard.transcripts == []


async def test_live_speech_is_timed_and_shown_while_spoken(
    stt: LocalSTT, speech: dict[str, bytes]
) -> None:
    pcm = silence(500) + speech[MORNING] + silence(700)
    onset, end = speech_bounds(pcm)
    heard = await listener(stt)
    await heard.send(pcm, 32, pace=1.0)  # a microphone: audio arrives in real time
    final = await heard.utterance_end()
    starts = await heard.close()

    # Onset and end of speech on the audio's clock, where the real ones are.
    assert len(starts) == 1
    assert starts[0] == pytest.approx(onset, abs=150)
    assert final.speech_end_ms is not None
    assert final.speech_end_ms == pytest.approx(end, abs=250)
    assert final.t_ms >= final.speech_end_ms + 500 - 64  # the end-of-utterance silence, and more
    assert "paris" in final.text.lower() and "morning" in final.text.lower()

    interims = heard.transcripts[:-1]
    assert heard.transcripts[-1] == final
    assert interims, "a live speaker should see text before the utterance ends"
    assert all(not t.final and not t.utterance_end and t.text for t in interims)
    assert all(t.speech_end_ms is None for t in interims)
    assert [t.t_ms for t in interims] == sorted(t.t_ms for t in interims)
    assert starts[0] < interims[0].t_ms and interims[-1].t_ms < final.t_ms


async def test_close_drops_pending_work_and_is_final(
    stt: LocalSTT, speech: dict[str, bytes]
) -> None:
    heard = await listener(stt, end_of_utterance_ms=5000)
    await heard.send(silence(300) + speech[WEATHER], 40)
    await heard.session.end_of_audio()  # a final decode is now queued
    await heard.close()
    await heard.session.aclose()  # twice is fine
    assert heard.session.closed
    assert all(not t.utterance_end for t in heard.transcripts)
    with pytest.raises(ProviderError, match="closed"):
        await heard.session.send_audio(silence(40))
