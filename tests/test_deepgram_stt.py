"""Deepgram streaming speech-to-text, driven through the real ``deepgram-sdk`` against a loopback
fake whose transcripts follow a script (one word per 100 ms of non-silent audio)."""

from __future__ import annotations

import asyncio
import socket
from array import array
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from playground.errors import ConfigError, ErrorCategory, MissingKeyError, ProviderError
from playground.providers.base import STTProvider, Transcript, TranscriptionSession
from playground.providers.deepgram_stt import (
    AUTH_MESSAGE,
    DeepgramSTT,
    DeepgramTranscription,
    UtteranceAssembler,
)
from tests.fakes.deepgram_server import MS_PER_WORD, FakeDeepgram, ListenRecord

WAIT = 5.0  # every wait in this file is bounded by this many seconds
END_MS = 300  # end_of_utterance_ms (Deepgram endpointing) used by most tests


def speech(ms: int) -> bytes:
    """``ms`` of non-silent 16 kHz PCM (the fake only checks that it is not all zeros)."""
    return array("h", [1200, -1200] * (ms * 8)).tobytes()


def silence(ms: int) -> bytes:
    return bytes(ms * 32)


@pytest.fixture
def fake() -> Iterator[FakeDeepgram]:
    with FakeDeepgram() as server:
        yield server


@pytest.fixture
async def stt(fake: FakeDeepgram) -> AsyncIterator[DeepgramSTT]:
    provider = DeepgramSTT(api_key="test-key", base_url=fake.base_url, timeout=WAIT)
    yield provider
    await provider.aclose()


@pytest.fixture
async def session(stt: DeepgramSTT) -> AsyncIterator[DeepgramTranscription]:
    transcription = stt.open_session(end_of_utterance_ms=END_MS)
    yield transcription
    await transcription.aclose()


async def _next(iterator: AsyncIterator[Any]) -> Any:
    async with asyncio.timeout(WAIT):
        return await anext(iterator)


async def _utterance(iterator: AsyncIterator[Transcript]) -> list[Transcript]:
    """Transcripts up to and including the next ``utterance_end``."""
    seen: list[Transcript] = []
    while not (seen and seen[-1].utterance_end):
        seen.append(await _next(iterator))
    return seen


async def _rest(iterator: AsyncIterator[Transcript]) -> list[Transcript]:
    """Everything left once the session is closed (the iterator must end)."""
    async with asyncio.timeout(WAIT):
        return [t async for t in iterator]


async def _listen(fake: FakeDeepgram, index: int = 0) -> ListenRecord:
    await fake.wait_for(lambda: len(fake.listens) > index, WAIT)
    return fake.listens[index]


async def _collect_until_failure(
    iterator: AsyncIterator[Transcript], into: list[Transcript]
) -> None:
    while True:
        into.append(await _next(iterator))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _summary(transcripts: list[Transcript]) -> list[tuple[str, bool, bool]]:
    return [(t.text, t.final, t.utterance_end) for t in transcripts]


# --------------------------------------------------------------------------- connection


async def test_it_implements_the_stt_protocols(stt: DeepgramSTT) -> None:
    provider: STTProvider = stt
    transcription: TranscriptionSession = provider.open_session(end_of_utterance_ms=END_MS)
    await transcription.aclose()


async def test_the_socket_asks_for_nova3_linear16_16k_with_interims_and_endpointing(
    fake: FakeDeepgram, session: DeepgramTranscription
) -> None:
    await session.connect()
    record = await _listen(fake)
    handshake = fake.last_handshake
    assert handshake.path == "/v1/listen"
    assert handshake.headers["authorization"] == "Token test-key"
    assert record.query == {
        "model": "nova-3",
        "encoding": "linear16",
        "sample_rate": "16000",
        "channels": "1",
        "interim_results": "true",
        "endpointing": str(END_MS),
        "utterance_end_ms": "1000",  # Deepgram's minimum
        "vad_events": "true",
        "smart_format": "true",
    }
    assert record.query == session.query


async def test_a_long_end_of_utterance_is_used_for_utterance_end_ms_too(
    fake: FakeDeepgram, stt: DeepgramSTT
) -> None:
    transcription = stt.open_session(end_of_utterance_ms=1500)
    await transcription.connect()
    await transcription.aclose()
    record = await _listen(fake)
    assert record.query["endpointing"] == "1500"
    assert record.query["utterance_end_ms"] == "1500"


async def test_the_audio_reaches_deepgram_unchanged(
    fake: FakeDeepgram, session: DeepgramTranscription
) -> None:
    chunks = [speech(100), silence(40), speech(60)]
    for chunk in chunks:
        await session.send_audio(chunk)  # opens the socket on first use
    await session.send_audio(b"")  # skipped: an empty frame would end Deepgram's stream
    record = await _listen(fake)
    await fake.wait_for(lambda: len(record.audio) == sum(map(len, chunks)), WAIT)
    assert bytes(record.audio) == b"".join(chunks)


# --------------------------------------------------------------------------- transcripts


async def test_interims_grow_then_the_utterance_ends_once_with_the_whole_text(
    fake: FakeDeepgram, session: DeepgramTranscription
) -> None:
    fake.listen_script = ("hello big world",)
    transcripts = session.transcripts()
    for _ in range(3):
        await session.send_audio(speech(MS_PER_WORD))
    await session.send_audio(silence(END_MS))

    utterance = await _utterance(transcripts)
    assert _summary(utterance) == [
        ("hello", False, False),
        ("hello big", False, False),
        ("hello big world", False, False),
        ("hello big world", True, True),
    ]
    assert [t.t_ms for t in utterance] == pytest.approx([100, 200, 300, 300])

    record = fake.listens[0]
    await fake.wait_for(lambda: "UtteranceEnd" in record.sent_types(), WAIT)
    await session.aclose()
    assert await _rest(transcripts) == []  # speech_final + UtteranceEnd: one utterance_end only


async def test_finalized_segments_accumulate_within_one_utterance(
    fake: FakeDeepgram, session: DeepgramTranscription
) -> None:
    fake.listen_script = ("one two three four five",)
    fake.listen_final_every = 2
    transcripts = session.transcripts()
    for _ in range(5):
        await session.send_audio(speech(MS_PER_WORD))
    await session.send_audio(silence(END_MS))
    assert _summary(await _utterance(transcripts)) == [
        ("one", False, False),
        ("one two", True, False),  # Deepgram's is_final: a finalized segment
        ("one two three", False, False),
        ("one two three four", True, False),
        ("one two three four five", False, False),
        ("one two three four five", True, True),
    ]


async def test_two_utterances_come_out_one_after_the_other(
    fake: FakeDeepgram, session: DeepgramTranscription
) -> None:
    fake.listen_script = ("good morning", "what time is it")
    transcripts = session.transcripts()
    await session.send_audio(speech(2 * MS_PER_WORD))
    await session.send_audio(silence(END_MS))
    await session.send_audio(silence(200))
    await session.send_audio(speech(4 * MS_PER_WORD))
    await session.send_audio(silence(END_MS))

    first = await _utterance(transcripts)
    second = await _utterance(transcripts)
    assert first[-1].text == "good morning"
    assert second[-1].text == "what time is it"
    assert [t.text for t in second if not t.final] == ["what time is it"]
    assert second[-1].t_ms == pytest.approx(200 + END_MS + 200 + 400)  # the audio clock
    assert all(t.t_ms >= first[-1].t_ms for t in second)


async def test_end_of_audio_sends_finalize_and_ends_the_utterance_without_silence(
    fake: FakeDeepgram, session: DeepgramTranscription
) -> None:
    fake.listen_script = ("push to talk",)
    transcripts = session.transcripts()
    await session.send_audio(speech(3 * MS_PER_WORD))
    await session.end_of_audio()

    utterance = await _utterance(transcripts)
    assert _summary(utterance)[-1] == ("push to talk", True, True)
    record = fake.listens[0]
    assert record.message_types() == ["Finalize"]
    assert "UtteranceEnd" not in record.sent_types()


async def test_end_of_audio_after_everything_was_finalized_still_ends_the_utterance(
    fake: FakeDeepgram, session: DeepgramTranscription
) -> None:
    fake.listen_script = ("all done",)
    fake.listen_final_every = 2
    transcripts = session.transcripts()
    await session.send_audio(speech(2 * MS_PER_WORD))
    assert _summary([await _next(transcripts)]) == [("all done", True, False)]
    await session.end_of_audio()  # Deepgram answers with an empty from_finalize Results
    assert _summary([await _next(transcripts)]) == [("all done", True, True)]


async def test_end_of_audio_with_nothing_heard_emits_no_empty_utterance(
    fake: FakeDeepgram, session: DeepgramTranscription
) -> None:
    fake.listen_script = ("later",)
    transcripts = session.transcripts()
    await session.end_of_audio()
    record = await _listen(fake)
    await fake.wait_for(lambda: "Results" in record.sent_types(), WAIT)
    await session.aclose()
    assert await _rest(transcripts) == []


async def test_utterance_end_alone_ends_the_utterance_when_endpointing_does_not(
    fake: FakeDeepgram, session: DeepgramTranscription
) -> None:
    fake.listen_script = ("noisy room",)
    fake.listen_speech_final = False  # only is_final + UtteranceEnd, as in background noise
    transcripts = session.transcripts()
    await session.send_audio(speech(2 * MS_PER_WORD))
    await session.send_audio(silence(END_MS))
    utterance = await _utterance(transcripts)
    assert _summary(utterance)[-2:] == [("noisy room", True, False), ("noisy room", True, True)]
    assert utterance[-1].t_ms == pytest.approx(200)  # UtteranceEnd's last_word_end


async def test_speech_started_is_surfaced_with_its_audio_time(
    fake: FakeDeepgram, session: DeepgramTranscription
) -> None:
    fake.listen_script = ("hi", "again")
    starts = session.speech_started()
    await session.send_audio(silence(100))
    await session.send_audio(speech(MS_PER_WORD))
    assert await _next(starts) == pytest.approx(100)
    await session.send_audio(silence(END_MS))
    await session.send_audio(speech(MS_PER_WORD))
    assert await _next(starts) == pytest.approx(100 + MS_PER_WORD + END_MS)
    await session.aclose()
    async with asyncio.timeout(WAIT):
        assert [t async for t in starts] == []  # ends with the session


async def test_closing_delivers_the_last_results_and_ends_the_iterators(
    fake: FakeDeepgram, session: DeepgramTranscription
) -> None:
    fake.listen_script = ("unfinished thought",)
    transcripts = session.transcripts()
    await session.send_audio(speech(2 * MS_PER_WORD))
    assert (await _next(transcripts)).text == "unfinished thought"
    await session.aclose()
    rest = await _rest(transcripts)
    assert _summary(rest) == [("unfinished thought", True, False)]  # flushed on CloseStream
    assert session.request_id == fake.listens[0].sent[-1]["request_id"]  # from Metadata


# --------------------------------------------------------------------------- lifecycle


async def test_aclose_sends_close_stream_once_and_is_idempotent(
    fake: FakeDeepgram, session: DeepgramTranscription
) -> None:
    await session.connect()
    record = await _listen(fake)
    await session.aclose()
    await session.aclose()
    await fake.wait_for(lambda: record.close_code is not None, WAIT)
    assert record.message_types() == ["CloseStream"]
    assert record.close_code == 1000
    assert session.closed
    with pytest.raises(ProviderError, match="closed"):
        await session.send_audio(speech(10))
    assert await _rest(session.transcripts()) == []


async def test_aclose_before_connect_opens_nothing(
    fake: FakeDeepgram, session: DeepgramTranscription
) -> None:
    await session.aclose()
    await session.aclose()
    assert fake.listens == []
    with pytest.raises(ProviderError):
        await session.connect()


async def test_keep_alive_is_sent_while_no_audio_flows(fake: FakeDeepgram) -> None:
    provider = DeepgramSTT(api_key="test-key", base_url=fake.base_url, keepalive_interval=0.05)
    transcription = provider.open_session(end_of_utterance_ms=END_MS)
    try:
        await transcription.connect()
        record = await _listen(fake)
        await fake.wait_for(lambda: record.message_types().count("KeepAlive") >= 2, WAIT)
    finally:
        await transcription.aclose()
        await provider.aclose()


async def test_cancelling_the_owner_drops_the_socket_at_once(
    fake: FakeDeepgram, stt: DeepgramSTT
) -> None:
    fake.listen_script = ("never finished",)
    heard = asyncio.Event()

    async def converse() -> None:
        async with stt.open_session(end_of_utterance_ms=END_MS) as transcription:
            await transcription.send_audio(speech(MS_PER_WORD))
            async for _ in transcription.transcripts():
                heard.set()

    task = asyncio.create_task(converse())
    async with asyncio.timeout(WAIT):
        await heard.wait()
    task.cancel()
    async with asyncio.timeout(WAIT):
        with pytest.raises(asyncio.CancelledError):
            await task
    record = fake.listens[0]
    await fake.wait_for(lambda: record.close_code is not None, WAIT)
    assert "CloseStream" not in record.message_types()  # no graceful flush on cancel


# --------------------------------------------------------------------------- failures


async def test_a_rejected_key_is_a_clear_auth_error_without_the_key(fake: FakeDeepgram) -> None:
    secret = "wrong-key-0123456789abcdef"
    provider = DeepgramSTT(api_key=secret, base_url=fake.base_url)
    transcription = provider.open_session(end_of_utterance_ms=END_MS)
    try:
        with pytest.raises(ProviderError) as caught:
            await transcription.connect()
        with pytest.raises(ProviderError) as again:
            await transcription.send_audio(speech(10))
    finally:
        await transcription.aclose()
        await provider.aclose()
    for failure in (caught.value, again.value):
        assert failure.category is ErrorCategory.AUTH
        assert failure.status_code == 401
        assert failure.provider == "deepgram"
        assert AUTH_MESSAGE in failure.message
        assert secret not in str(failure) and secret not in repr(failure)
    assert secret not in repr(provider)
    assert fake.listens == []  # refused at the handshake


async def test_a_mid_stream_close_ends_the_transcripts_with_a_provider_error(
    fake: FakeDeepgram, session: DeepgramTranscription
) -> None:
    fake.listen_script = ("one two three four five six",)
    fake.listen_close_1011_after_results = 2
    transcripts = session.transcripts()
    starts = session.speech_started()
    received: list[Transcript] = []
    for _ in range(3):
        await session.send_audio(speech(MS_PER_WORD))
    with pytest.raises(ProviderError) as caught:
        await _collect_until_failure(transcripts, received)
    assert [t.text for t in received] == ["one", "one two"]
    failure = caught.value
    assert failure.category is ErrorCategory.CONNECTIVITY
    assert failure.retryable
    assert "1011" in failure.message
    assert "fake failure after 2 results" in failure.message  # Deepgram's Error description
    with pytest.raises(ProviderError) as later:
        await session.send_audio(speech(MS_PER_WORD))
    assert later.value is failure
    with pytest.raises(ProviderError):  # a second read fails the same way, at once
        await _next(session.transcripts())
    async with asyncio.timeout(WAIT):
        assert [t async for t in starts] == [pytest.approx(0.0)]


async def test_nothing_listening_is_a_connectivity_error(stt: DeepgramSTT) -> None:
    provider = DeepgramSTT(api_key="test-key", base_url=f"http://127.0.0.1:{_free_port()}")
    transcription = provider.open_session(end_of_utterance_ms=END_MS)
    try:
        async with asyncio.timeout(WAIT):
            with pytest.raises(ProviderError) as caught:
                await transcription.connect()
    finally:
        await transcription.aclose()
        await provider.aclose()
    assert caught.value.category is ErrorCategory.CONNECTIVITY


@pytest.mark.parametrize("status", [403, 500])
async def test_a_refused_handshake_is_translated(fake: FakeDeepgram, status: int) -> None:
    fake.ws_status = status
    provider = DeepgramSTT(api_key="test-key", base_url=fake.base_url)
    transcription = provider.open_session(end_of_utterance_ms=END_MS)
    try:
        with pytest.raises(ProviderError) as caught:
            await transcription.connect()
    finally:
        await transcription.aclose()
        await provider.aclose()
    expected = ErrorCategory.AUTH if status == 403 else ErrorCategory.SERVER
    assert caught.value.category is expected
    assert caught.value.status_code == status


def test_configuration_is_checked() -> None:
    with pytest.raises(MissingKeyError):
        DeepgramSTT(api_key="  ")
    with pytest.raises(ConfigError):
        DeepgramSTT(api_key="k", base_url="ftp://example.com")


async def test_end_of_utterance_must_be_positive(stt: DeepgramSTT) -> None:
    with pytest.raises(ConfigError):
        stt.open_session(end_of_utterance_ms=0)


# --------------------------------------------------------------------------- assembler


def _results(
    text: str,
    *,
    is_final: bool = False,
    speech_final: bool = False,
    from_finalize: bool = False,
    end: float = 1.0,
) -> dict[str, Any]:
    return {
        "type": "Results",
        "start": 0.0,
        "duration": end,
        "is_final": is_final,
        "speech_final": speech_final,
        "from_finalize": from_finalize,
        "channel": {"alternatives": [{"transcript": text, "words": []}]},
    }


def _utterance_end(last_word_end: float) -> dict[str, Any]:
    return {"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": last_word_end}


def test_an_utterance_end_during_a_guess_waits_for_the_final_segment() -> None:
    assembler = UtteranceAssembler()
    assert _summary(assembler.on_results(_results("turn it"))) == [("turn it", False, False)]
    assert assembler.on_utterance_end(_utterance_end(1.2)) == []  # "turn it" not final yet
    ended = assembler.on_results(_results("turn it off", is_final=True, end=1.3))
    assert _summary(ended) == [("turn it off", True, True)]
    assert ended[0].t_ms == pytest.approx(1300)


def test_an_empty_speech_final_ends_the_accumulated_utterance_once() -> None:
    assembler = UtteranceAssembler()
    assert _summary(assembler.on_results(_results("so", is_final=True))) == [("so", True, False)]
    ended = assembler.on_results(_results("", is_final=True, speech_final=True))
    assert _summary(ended) == [("so", True, True)]
    assert assembler.on_utterance_end(_utterance_end(2.0)) == []  # already ended
    assert assembler.on_results(_results("", is_final=True, speech_final=True)) == []
    assert assembler.on_results(_results("")) == []  # empty interims are not news


def test_a_finalize_answer_ends_the_utterance() -> None:
    assembler = UtteranceAssembler()
    assembler.on_results(_results("stop", is_final=True))
    ended = assembler.on_results(_results("here", is_final=True, from_finalize=True))
    assert _summary(ended) == [("stop here", True, True)]
    assert assembler.text == ""
