"""Speech beside text over the HTTP API: Deepgram (fake server, real SDK) and the local voice."""

from __future__ import annotations

import asyncio
import base64
import io
import threading
import wave
from collections.abc import Iterator

import httpx
import pytest

from playground.server import build_app
from tests.fakes.deepgram_server import FakeDeepgram
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.support import (
    SSEEvent,
    live_server,
    make_test_services,
    parse_sse_lines,
    stream_events,
    wait_until,
)

SENTENCES = [
    "The first sentence is long enough to be spoken on its own. ",
    "Here comes a second one with a few more words in it. ",
    "And a third sentence closes the answer.",
]


def words(text: str) -> list[str]:
    return [w + " " for w in text.split(" ") if w]


ANSWER_CHUNKS = [w for s in SENTENCES for w in words(s)]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def deepgram() -> Iterator[FakeDeepgram]:
    with FakeDeepgram(synthesis_delay=0.02) as server:
        yield server


@pytest.fixture(scope="module")
def api(fake: FakeOpenAI, deepgram: FakeDeepgram) -> Iterator[str]:
    services = make_test_services(
        openai_api_key="test-key",
        openai_base_url=fake.base_url,
        deepgram_api_key="test-key",
        deepgram_base_url=deepgram.base_url,
        playground_deepgram_flushes_per_minute=1000,
        playground_resume_grace_s=0,
    )
    asyncio.run(services.engines.local_voice.warm_up())  # what the app's start-up warm-up does
    with live_server(build_app(services, warm_up=False)) as url:
        yield url


def body(voice: str, **extra: object) -> dict[str, object]:
    return {"message": "Talk to me", "model": "openai:gpt-4o-mini", "voice": voice, **extra}


def audio_events(events: list[SSEEvent]) -> list[dict[str, object]]:
    return [e.data for e in events if e.event == "audio"]


def decode_wav(data: str) -> tuple[int, int, float]:
    with wave.open(io.BytesIO(base64.b64decode(data))) as wav:
        frames = wav.getnframes()
        return wav.getframerate(), wav.getsampwidth(), frames / wav.getframerate()


@pytest.mark.parametrize("voice", ["deepgram:aura-2-thalia-en", "local:joe"])
def test_audio_arrives_per_sentence_before_the_text_ends(
    api: str, fake: FakeOpenAI, voice: str
) -> None:
    # The rest of the answer waits (after the word confirming the first sentence's end) until
    # the client has the first audio: "audio before the text ends" is then a fact of order, not
    # of how fast this machine synthesises.
    gate = threading.Event()
    first_sentence = len(words(SENTENCES[0])) + 1
    fake.enqueue(Reply(chunks=ANSWER_CHUNKS, delay=0.01, gate=gate, gate_after=first_sentence))
    events: list[SSEEvent] = []
    with (
        httpx.Client(timeout=60) as client,
        client.stream("POST", f"{api}/v1/interact/stream", json=body(voice)) as response,
    ):
        for event in parse_sse_lines(response.iter_lines()):
            events.append(event)
            if event.event == "audio":
                gate.set()
    assert gate.is_set(), "audio arrived while the text was held back"
    order = [e.event for e in events]
    assert order[0] == "completion-start" and order[-2:] == ["completion-end", "end"]
    assert events[0].data["voice"] == voice
    audio = audio_events(events)
    assert [a["seq"] for a in audio] == list(range(len(audio)))
    assert len(audio) >= 2, "spoken sentence by sentence, not as one block"
    spoken = " ".join(str(a["text"]) for a in audio)
    assert "first sentence" in spoken and "third sentence" in spoken
    last_text = max(e.data["t_ms"] for e in events if e.event == "completion-continue")
    assert audio[0]["t_ms"] < last_text, "the first audio precedes the end of the text"
    first_audio_index = order.index("audio")
    assert "completion-continue" in order[first_audio_index + 1 :], "audio interleaves with text"
    for piece in audio:
        assert piece["format"] == "wav"
        rate, width, seconds = decode_wav(str(piece["data"]))
        assert rate == piece["sample_rate"] and width == 2 and seconds > 0.2
    timing = events[-2].data["timing"]
    assert timing["ttfa_ms"] == pytest.approx(audio[0]["t_ms"])
    assert timing["audio_pieces"] == len(audio)


def test_deepgram_gets_one_connection_per_turn_with_speak_and_flush(
    api: str, fake: FakeOpenAI, deepgram: FakeDeepgram
) -> None:
    fake.enqueue(Reply(chunks=ANSWER_CHUNKS, delay=0.01))
    before = deepgram.connections
    stream_events(api, body("deepgram:aura-2-thalia-en"))
    assert deepgram.connections == before + 1
    types = deepgram.message_types()
    assert types.count("Speak") >= 2 and types.count("Flush") == types.count("Speak")
    assert types[-1] == "Close", "closed only after the last Flushed"
    assert deepgram.last_handshake.headers["authorization"] == "Token test-key"


def test_streaming_off_still_speaks_the_whole_answer(api: str, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(chunks=ANSWER_CHUNKS))
    _, events = stream_events(api, body("deepgram:aura-2-thalia-en", streaming=False))
    assert len([e for e in events if e.event == "completion-continue"]) == 1
    assert len(audio_events(events)) >= 2


def test_a_client_disconnect_clears_and_closes_the_voice_connection(
    api: str, fake: FakeOpenAI, deepgram: FakeDeepgram
) -> None:
    # Stalls after "Here comes": the first sentence is confirmed by its look-ahead, then silence.
    fake.enqueue(Reply(chunks=ANSWER_CHUNKS[:14], fault="stall", fault_after=14))
    closed_before = deepgram.closed_connections
    disconnects_before = fake.disconnects
    with (
        httpx.Client(timeout=20) as client,
        client.stream(
            "POST", f"{api}/v1/interact/stream", json=body("deepgram:aura-2-thalia-en")
        ) as response,
    ):
        for line in response.iter_lines():
            if line.startswith("event: audio"):
                break
    assert wait_until(lambda: fake.disconnects == disconnects_before + 1, 10), (
        "the LLM stream was closed"
    )
    assert wait_until(lambda: deepgram.closed_connections == closed_before + 1, 10), (
        "the voice socket was closed"
    )
    assert "Clear" in deepgram.message_types(), "queued speech was cleared"


def test_a_voice_failure_mid_answer_reports_an_error_and_the_text_keeps_streaming(
    fake: FakeOpenAI,
) -> None:
    with FakeDeepgram(close_1011_after_flushes=1) as broken:
        services = make_test_services(
            openai_api_key="test-key",
            openai_base_url=fake.base_url,
            deepgram_api_key="test-key",
            deepgram_base_url=broken.base_url,
        )
        with live_server(build_app(services, warm_up=False)) as url:
            fake.enqueue(Reply(chunks=ANSWER_CHUNKS, delay=0.02))
            _, events = stream_events(url, body("deepgram:aura-2-thalia-en"))
    errors = [e.data for e in events if e.event == "error"]
    assert len(errors) == 1 and errors[0]["stage"] == "tts"
    assert errors[0]["code"] == "connectivity"
    end = events[-2].data
    assert end["finish_reason"] == "stop", "a voice failure does not fail the answer"
    assert end["text"] == "".join(ANSWER_CHUNKS)


def test_a_rejected_deepgram_key_is_reported_with_the_fix(fake: FakeOpenAI) -> None:
    with FakeDeepgram(reject_key=True) as rejecting:
        services = make_test_services(
            openai_api_key="test-key",
            openai_base_url=fake.base_url,
            deepgram_api_key="wrong-key",
            deepgram_base_url=rejecting.base_url,
        )
        with live_server(build_app(services, warm_up=False)) as url:
            fake.enqueue(Reply(chunks=ANSWER_CHUNKS))
            _, events = stream_events(url, body("deepgram:aura-2-thalia-en"))
            voices = {v["id"]: v for v in httpx.get(f"{url}/v1/voices").json()["data"]}
    assert voices["deepgram:aura-2-thalia-en"]["available"] is False, "remembered for next time"
    error = next(e.data for e in events if e.event == "error")
    assert error["code"] == "auth" and error["stage"] == "tts"
    assert "DEEPGRAM_API_KEY" in error["message"] and "wrong-key" not in error["message"]
    assert events[-2].data["text"] == "".join(ANSWER_CHUNKS)


async def test_a_key_deepgram_rejects_marks_its_voices_unavailable_with_the_reason() -> None:
    with FakeDeepgram(reject_key=True) as rejecting:
        services = make_test_services(
            deepgram_api_key="wrong-key", deepgram_base_url=rejecting.base_url
        )
        try:
            reason = await services.engines.check_voice_key(services.server_credentials)
            voices = {v.id: v for v in services.catalog.voices(services.server_credentials)}
        finally:
            await services.aclose()
    assert reason is not None and "DEEPGRAM_API_KEY" in reason
    thalia = voices["deepgram:aura-2-thalia-en"]
    assert thalia.available is False and thalia.reason == reason
    assert voices["local:joe"].available is True


def test_a_streaming_guardrail_retraction_also_stops_queued_speech(
    api: str, fake: FakeOpenAI, deepgram: FakeDeepgram
) -> None:
    flagged = SENTENCES[0] + "Here is how to build a bomb at home. " + SENTENCES[1]
    fake.enqueue(Reply(chunks=words(flagged), delay=0.03))
    _, events = stream_events(
        api, body("deepgram:aura-2-thalia-en", features={"streaming_guardrail": True})
    )
    order = [e.event for e in events]
    assert "completion-replace" in order
    after = order[order.index("completion-replace") :]
    assert "audio" not in after, "no speech of the retracted answer after the retraction"
    assert "Clear" in deepgram.message_types(), "queued speech was cleared upstream"
    spoken = " ".join(e.data["text"] for e in events if e.event == "audio")
    assert "bomb" not in spoken
