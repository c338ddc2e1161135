"""SpeechStage: sentence order, never blocking the text path, batching, interruption, failures.

The session here is a small scripted implementation of our own SpeechSession Protocol (the SDK
paths are covered against the fake servers elsewhere).
"""

from __future__ import annotations

import asyncio

import pytest

from playground.errors import ErrorCategory, ProviderError
from playground.providers.base import SpeechAudio
from playground.speech.pipeline import SpeechFailure, SpeechPiece, SpeechStage


class ScriptedSession:
    def __init__(self, delay: float = 0.0, fail_on: int | None = None, budget: bool = True):
        self.delay = delay
        self.fail_on = fail_on
        self.budget = budget
        self.spoken: list[str] = []
        self.interrupted = 0
        self.closed = 0

    async def connect(self) -> None:
        pass

    async def synthesize(self, text: str) -> SpeechAudio:
        if self.fail_on is not None and len(self.spoken) == self.fail_on:
            raise ProviderError("voice down", category=ErrorCategory.CONNECTIVITY, provider="t")
        await asyncio.sleep(self.delay)
        self.spoken.append(text)
        return SpeechAudio(pcm=b"\x01\x00" * 100, sample_rate=16000, text=text)

    async def interrupt(self) -> None:
        self.interrupted += 1

    async def aclose(self) -> None:
        self.closed += 1

    def flush_available(self) -> bool:
        return self.budget


TEXT = (
    "The first sentence is long enough to stand alone. The second sentence follows right "
    "after it. A third one ends the answer."
)


async def run_stage(session: ScriptedSession, text: str, *, chunk: int = 5) -> list[object]:
    out: list[object] = []

    async def emit(item: SpeechPiece | SpeechFailure) -> None:
        out.append(item)

    stage = SpeechStage(session, emit)
    worker = asyncio.create_task(stage.run())
    for i in range(0, len(text), chunk):
        stage.push_text(text[i : i + chunk])
        await asyncio.sleep(0)
    stage.finish()
    await worker
    return out


async def test_sentences_are_spoken_in_order_and_the_session_is_closed() -> None:
    session = ScriptedSession(delay=0.01)
    out = await run_stage(session, TEXT)
    assert [p.audio.text for p in out if isinstance(p, SpeechPiece)] == [
        "The first sentence is long enough to stand alone.",
        "The second sentence follows right after it.",
        "A third one ends the answer.",
    ]
    assert session.closed == 1


async def test_pushing_text_never_waits_for_speech() -> None:
    session = ScriptedSession(delay=0.5)
    stage = SpeechStage(session, lambda item: asyncio.sleep(0))
    worker = asyncio.create_task(stage.run())
    started = asyncio.get_running_loop().time()
    for _ in range(200):
        stage.push_text("A sentence that is long enough to be spoken. ")
    assert asyncio.get_running_loop().time() - started < 0.05
    await stage.interrupt()
    worker.cancel()
    with pytest.raises(asyncio.CancelledError):
        await worker


async def test_the_pending_queue_is_bounded_by_folding_text_into_the_last_item() -> None:
    session = ScriptedSession(delay=0.02)
    out: list[SpeechPiece | SpeechFailure] = []

    async def emit(item: SpeechPiece | SpeechFailure) -> None:
        out.append(item)

    stage = SpeechStage(session, emit, max_pending=3)
    sentences = [f"Sentence number {i} is long enough to count. " for i in range(10)]
    for s in sentences:
        stage.push_text(s)
    stage.finish()
    await stage.run()
    spoken = " ".join(session.spoken)
    assert len(session.spoken) <= 4
    for i in range(10):
        assert f"number {i} " in spoken, "nothing is dropped"


async def test_a_rate_limited_voice_gets_everything_queued_in_one_request() -> None:
    session = ScriptedSession(budget=False)
    stage = SpeechStage(session, lambda item: asyncio.sleep(0))
    stage.push_text(TEXT)
    stage.finish()
    await stage.run()
    assert len(session.spoken) == 1
    assert session.spoken[0].startswith("The first") and session.spoken[0].endswith("answer.")


async def test_interrupt_drops_queued_sentences_and_clears_the_voice() -> None:
    session = ScriptedSession(delay=0.05)
    stage = SpeechStage(session, lambda item: asyncio.sleep(0))
    worker = asyncio.create_task(stage.run())
    stage.push_text(TEXT + " More text that would have been spoken later on. ")
    await asyncio.sleep(0.01)
    await stage.interrupt()
    stage.push_text("Text after the interrupt is never spoken at all. Really.")
    await asyncio.wait_for(worker, 1)
    assert session.interrupted == 1
    assert len(session.spoken) <= 1
    assert not any("never spoken" in s for s in session.spoken)


async def test_a_voice_failure_is_reported_once_and_speech_stops() -> None:
    session = ScriptedSession(fail_on=1)
    out = await run_stage(session, TEXT)
    failures = [o for o in out if isinstance(o, SpeechFailure)]
    assert len(failures) == 1
    assert failures[0].error.category == ErrorCategory.CONNECTIVITY
    assert len(session.spoken) == 1


class ConnectingSession(ScriptedSession):
    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.fail = fail

    async def connect(self) -> None:
        self.calls.append("connect")
        if self.fail:
            raise ProviderError("bad key", category=ErrorCategory.AUTH, provider="t")

    async def synthesize(self, text: str) -> SpeechAudio:
        self.calls.append("synthesize")
        return await super().synthesize(text)


async def test_a_voice_connection_opens_before_any_sentence_is_ready() -> None:
    session = ConnectingSession()
    stage = SpeechStage(session, lambda item: asyncio.sleep(0))
    worker = asyncio.create_task(stage.run())
    for _ in range(1000):  # the worker connects as soon as it gets to run
        if session.calls:
            break
        await asyncio.sleep(0.01)
    assert session.calls == ["connect"], "opened while the model is still thinking"
    stage.push_text(TEXT)
    stage.finish()
    await worker
    assert session.calls[0] == "connect" and session.calls.count("synthesize") == 3


async def test_a_connection_failure_is_reported_once_and_nothing_is_spoken() -> None:
    session = ConnectingSession(fail=True)
    out = await run_stage(session, TEXT)
    assert [type(o) for o in out] == [SpeechFailure]
    assert "synthesize" not in session.calls
