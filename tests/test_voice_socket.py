"""``/v1/voice``: audio in over a WebSocket, the turn's events out — driven by a real
``websockets`` client against the live app, Deepgram's listen socket faked (real SDK) and the
model faked (real ``openai`` SDK).

The fake Deepgram "hears" one scripted word per 100 ms of non-silent audio and ends the utterance
after the endpointing silence, so a test says what was "said" with a script and a tone.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from playground.server import build_app
from playground.turn.events import TextChunk
from playground.turn.waterfall import STAGES, VoiceWaterfall
from tests.fakes.deepgram_server import FakeDeepgram
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.speech_support import digital_silence as silence
from tests.speech_support import silence as speech_silence
from tests.speech_support import spoken, tone
from tests.support import live_server, make_test_services

RATE = 16_000
MODEL = "compatible:fake-model"
ANSWER = ["The ", "capital ", "of ", "France ", "is ", "Paris. ", "It ", "is ", "lovely."]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def deepgram() -> Iterator[FakeDeepgram]:
    with FakeDeepgram(synthesis_delay=0.01) as server:
        yield server


def serve(fake: FakeOpenAI, deepgram: FakeDeepgram, **settings: Any) -> Iterator[str]:
    values: dict[str, Any] = {
        "openai_api_key": "test-key",
        "openai_base_url": fake.base_url,
        "deepgram_api_key": "test-key",
        "deepgram_base_url": deepgram.base_url,
        "playground_deepgram_flushes_per_minute": 1000,
        **settings,
    }
    services = make_test_services(**values)
    with live_server(build_app(services, warm_up=False)) as url:
        yield url.replace("http://", "ws://") + "/v1/voice"


@pytest.fixture(scope="module")
def voice_url(fake: FakeOpenAI, deepgram: FakeDeepgram) -> Iterator[str]:
    yield from serve(fake, deepgram)


def send_audio(ws: ClientConnection, pcm: bytes, chunk_ms: float = 40) -> None:
    size = int(RATE * chunk_ms / 1000) * 2
    for start in range(0, len(pcm), size):
        ws.send(pcm[start : start + size])


def start_frame(**turn: Any) -> str:
    return json.dumps(
        {
            "type": "start",
            "stt": "deepgram",
            "end_of_utterance_ms": 300,
            "turn": {"model": MODEL, **turn},
        }
    )


def next_event(ws: ClientConnection, timeout: float = 15.0) -> tuple[str, dict[str, Any]]:
    frame = json.loads(ws.recv(timeout=timeout))
    return frame["event"], frame["data"]


def wait_for_listening(ws: ClientConnection) -> bool:
    """The next event is ``listening``; a session just closed may take a moment to let go."""
    for _ in range(50):
        name, _data = next_event(ws)
        if name == "listening":
            return True
        time.sleep(0.05)
        ws.send(start_frame())
    return False


def events_until(
    ws: ClientConnection, name: str, timeout: float = 20.0
) -> list[tuple[str, dict[str, Any]]]:
    deadline = time.monotonic() + timeout
    seen: list[tuple[str, dict[str, Any]]] = []
    while True:
        event = next_event(ws, timeout=max(0.1, deadline - time.monotonic()))
        seen.append(event)
        if event[0] == name:
            return seen


def test_an_utterance_becomes_a_turn_whose_events_follow_its_transcript(
    voice_url: str, fake: FakeOpenAI, deepgram: FakeDeepgram
) -> None:
    deepgram.listen_script = ("what is the capital of France",)
    fake.enqueue(Reply(chunks=ANSWER, delay=0.005))
    with connect(voice_url) as ws:
        ws.send(start_frame())
        assert next_event(ws) == ("listening", {"stt": "deepgram", "sample_rate": RATE})
        send_audio(ws, silence(200) + tone(700) + silence(600))
        seen = events_until(ws, "end")
    names = [name for name, _ in seen]
    transcripts = [data for name, data in seen if name == "transcript"]
    assert transcripts[-1]["text"] == "what is the capital of France"
    assert transcripts[-1]["final"] is True
    assert any(not t["final"] for t in transcripts), "interim transcripts come first"
    start = names.index("completion-start")
    assert names[start - 1] == "transcript", "the turn starts right after the final transcript"
    assert names[-4:] == ["completion-continue", "completion-end", "waterfall", "end"]
    end = dict(seen)["completion-end"]
    assert end["text"] == "".join(ANSWER) and end["finish_reason"] == "stop"
    assert "interrupted" not in end
    sent = fake.chat_requests[-1].body["messages"]
    assert sent[-1] == {"role": "user", "content": "what is the capital of France"}
    waterfall = dict(seen)["waterfall"]
    stages = [s["stage"] for s in waterfall["stages"]]
    assert stages == ["transcript", "request", "first_token"], "no voice: no audio stages"
    assert all(s["end_ms"] >= s["start_ms"] >= 0 for s in waterfall["stages"])
    assert waterfall["voice_to_voice_ms"] is None


def test_a_bug_mid_turn_still_ends_it_and_closes_its_upstream(
    voice_url: str, fake: FakeOpenAI, deepgram: FakeDeepgram, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fault injected into the socket's own loop (not the runner, which ends its own failures):
    # the waterfall breaks at the second chunk while the upstream still streams.
    seen_chunks: list[TextChunk] = []
    observe = VoiceWaterfall.observe

    def breaks_at_the_second_chunk(self: VoiceWaterfall, event: object) -> None:
        if isinstance(event, TextChunk):
            seen_chunks.append(event)
            if len(seen_chunks) == 2:
                raise RuntimeError("injected")
        observe(self, event)  # type: ignore[arg-type]

    monkeypatch.setattr(VoiceWaterfall, "observe", breaks_at_the_second_chunk)
    deepgram.listen_script = ("tell me a long story",)
    gate = threading.Event()
    fake.enqueue(Reply(chunks=["Once ", "upon ", "a time."], gate=gate, gate_after=2))
    before = fake.disconnects
    try:
        with connect(voice_url) as ws:
            ws.send(start_frame())
            assert wait_for_listening(ws)
            send_audio(ws, silence(200) + tone(700) + silence(600))
            seen = events_until(ws, "end")
            names = [name for name, _ in seen]
            assert names[-3:] == ["error", "completion-end", "end"], names
            error, end = dict(seen)["error"], dict(seen)["completion-end"]
            assert error["stage"] == "internal" and "injected" not in error["message"]
            assert end["finish_reason"] == "error" and end["text"] == "Once "
            assert fake.wait_for_disconnect(timeout=10), "the upstream outlived the turn"
            assert fake.disconnects == before + 1
    finally:
        gate.set()


def test_spoken_turns_with_a_voice_time_every_stage_to_the_first_audible_sample(
    voice_url: str, fake: FakeOpenAI, deepgram: FakeDeepgram
) -> None:
    deepgram.listen_script = ("say something",)
    fake.enqueue(Reply(chunks=ANSWER, delay=0.005))
    with connect(voice_url) as ws:
        ws.send(start_frame(voice="deepgram:aura-2-thalia-en"))
        next_event(ws)
        send_audio(ws, tone(300) + silence(500))
        seen = events_until(ws, "waterfall")
        ws.send(json.dumps({"type": "playback-started"}))
    audio = [data for name, data in seen if name == "audio"]
    assert audio and audio[0]["first_byte_ms"] is not None
    assert audio[0]["leading_silence_ms"] is not None
    waterfall = dict(seen)["waterfall"]
    stages = {s["stage"]: s for s in waterfall["stages"]}
    assert list(stages) == [name for name, _ in STAGES][:-1], "all but the player's"
    ends = [s["end_ms"] for s in waterfall["stages"]]
    assert ends == sorted(ends), "each stage ends after the one before it"
    assert waterfall["voice_to_voice_ms"] == stages["first_audible"]["end_ms"]


def test_speech_during_the_answer_barges_in_and_becomes_the_next_turn(
    voice_url: str, fake: FakeOpenAI, deepgram: FakeDeepgram
) -> None:
    deepgram.listen_script = ("tell me a long story", "stop that")
    gate = threading.Event()  # the first answer stalls after three chunks until released
    fake.enqueue(Reply(chunks=ANSWER, delay=0.005, gate=gate, gate_after=3))
    fake.enqueue(Reply(chunks=["Sure."], delay=0.005))
    try:
        with connect(voice_url) as ws:
            ws.send(start_frame())
            next_event(ws)
            send_audio(ws, tone(500) + silence(500))
            first = events_until(ws, "completion-continue")
            first += events_until(ws, "completion-continue") + events_until(
                ws, "completion-continue"
            )
            turn_id = dict(first)["completion-start"]["turn_id"]
            send_audio(ws, tone(200))  # the user talks over the answer
            seen = events_until(ws, "barge-in")
            assert seen[-1][1]["turn_id"] == turn_id
            seen += events_until(ws, "end")
            assert fake.wait_for_disconnect(timeout=5), "the model's stream was closed"
            end = dict(seen)["completion-end"]
            assert end["finish_reason"] == "stopped" and end["interrupted"] is True
            assert end["text"] == "".join(ANSWER[:3]), "the partial answer is kept"
            send_audio(ws, silence(500))
            second = events_until(ws, "end")
    finally:
        gate.set()
    transcripts = [d["text"] for n, d in second if n == "transcript" and d["final"]]
    assert transcripts[-1] == "stop that"
    assert dict(second)["completion-end"]["text"] == "Sure."
    history = fake.chat_requests[-1].body["messages"][-3:]
    assert history == [
        {"role": "user", "content": "tell me a long story"},
        {"role": "assistant", "content": "".join(ANSWER[:3])},
        {"role": "user", "content": "stop that"},
    ], "hands-free turns are one conversation"


def test_end_of_audio_ends_the_utterance_without_waiting_for_silence(
    voice_url: str, fake: FakeOpenAI, deepgram: FakeDeepgram
) -> None:
    deepgram.listen_script = ("push to talk works",)
    fake.enqueue(Reply(chunks=["Yes."]))
    with connect(voice_url) as ws:
        ws.send(start_frame())
        next_event(ws)
        send_audio(ws, tone(400))
        ws.send(json.dumps({"type": "end-of-audio"}))
        seen = events_until(ws, "end")
    finals = [d["text"] for n, d in seen if n == "transcript" and d["final"]]
    assert finals[-1] == "push to talk works"
    assert dict(seen)["completion-end"]["text"] == "Yes."


def test_bad_frames_get_an_error_and_the_socket_stays_usable(voice_url: str) -> None:
    with connect(voice_url) as ws:
        ws.send(b"\x00\x01")  # audio before start
        assert next_event(ws)[1]["code"] == "invalid_frame"
        ws.send("{not json")
        assert next_event(ws)[1]["code"] == "invalid_request"
        ws.send(json.dumps({"type": "start", "stt": "martian"}))
        name, data = next_event(ws)
        assert (name, data["code"], data["stage"]) == ("error", "invalid_request", "request")
        assert "stt" in data["message"]
        ws.send(json.dumps({"type": "start", "turn": {"message": "typed"}}))
        assert "turn.message" in next_event(ws)[1]["message"]
        ws.send(json.dumps({"type": "start", "turn": {"temperature": 9}}))
        assert "turn.temperature" in next_event(ws)[1]["message"]
        ws.send(start_frame())
        assert next_event(ws)[0] == "listening"
        ws.send(b"\x00\x01\x02")  # an odd number of bytes is not 16-bit PCM
        assert next_event(ws)[1]["code"] == "invalid_frame"
        ws.send(json.dumps({"type": "dance"}))
        assert next_event(ws)[1]["code"] == "invalid_frame"


def test_a_deepgram_key_it_refuses_is_an_stt_error_and_a_new_start_may_follow(
    fake: FakeOpenAI, deepgram: FakeDeepgram
) -> None:
    for url in serve(fake, deepgram, deepgram_api_key="wrong-key"):
        with connect(url) as ws:
            ws.send(start_frame())
            name, data = next_event(ws)
            assert (name, data["code"], data["stage"]) == ("error", "auth", "stt")
            assert "wrong-key" not in json.dumps(data)
            ws.send(json.dumps({"type": "start", "turn": {"model": MODEL}, "stt": "deepgram"}))
            assert next_event(ws)[0] == "error", "the socket is still usable"


def test_the_access_token_guards_the_socket(fake: FakeOpenAI, deepgram: FakeDeepgram) -> None:
    for url in serve(fake, deepgram, playground_api_token="s3cret"):
        for token in (None, "wrong"):
            with connect(url) as ws:
                frame = json.loads(start_frame())
                ws.send(json.dumps({**frame, "access_token": token}))
                name, data = next_event(ws)
                assert (name, data["code"]) == ("error", "unauthorized")
                with pytest.raises(ConnectionClosed) as closed:
                    ws.recv(timeout=5)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        headers = {"Authorization": "Bearer s3cret"}
        with connect(url, additional_headers=headers) as ws:
            ws.send(start_frame())
            assert next_event(ws)[0] == "listening"
        # A browser cannot set the header: the start frame carries the token instead.
        with connect(url) as ws:
            ws.send(json.dumps({**json.loads(start_frame()), "access_token": "s3cret"}))
            assert next_event(ws)[0] == "listening"


def test_transcribe_mode_reports_speech_and_transcripts_and_runs_no_turn(
    voice_url: str, fake: FakeOpenAI, deepgram: FakeDeepgram
) -> None:
    deepgram.listen_script = ("just listen",)
    requests = len(fake.chat_requests)
    with connect(voice_url) as ws:
        ws.send(json.dumps({**json.loads(start_frame()), "mode": "transcribe"}))
        next_event(ws)
        send_audio(ws, silence(200) + tone(200) + silence(500))
        seen = events_until(ws, "transcript")
        while not seen[-1][1].get("utterance_end"):
            seen += events_until(ws, "transcript")
        started = [d for n, d in seen if n == "speech-started"]
        assert started and started[0]["t_ms"] == pytest.approx(200, abs=50)
        last = seen[-1][1]
        assert last["text"] == "just listen" and last["final"] is True
        assert last["speech_end_ms"] == pytest.approx(400, abs=60)
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.5)  # no turn follows
    assert len(fake.chat_requests) == requests


def test_spoken_turns_count_against_the_same_rate_limit(
    fake: FakeOpenAI, deepgram: FakeDeepgram
) -> None:
    deepgram.listen_script = ("one", "two")
    fake.enqueue(Reply(chunks=["One."]))
    for url in serve(fake, deepgram, playground_rate_limit_per_minute=1):
        with connect(url) as ws:
            ws.send(start_frame())
            next_event(ws)
            send_audio(ws, tone(200) + silence(500))
            assert events_until(ws, "end")[-2][0] == "waterfall"
            send_audio(ws, tone(200) + silence(500))
            name, data = events_until(ws, "error")[-1]
            assert (data["code"], data["stage"], data["retryable"]) == (
                "rate_limited",
                "request",
                True,
            )


@pytest.mark.slow
def test_the_offline_engine_hears_spoken_words_and_answers_them(
    voice_url: str, fake: FakeOpenAI
) -> None:
    said = "What is the weather in Paris today?"
    pcm = spoken([said])[said]
    fake.enqueue(Reply(chunks=["Sunny."]))
    with connect(voice_url) as ws:
        frame = json.loads(start_frame())
        ws.send(json.dumps({**frame, "stt": "local", "end_of_utterance_ms": 500}))
        assert next_event(ws, timeout=60)[0] == "listening"
        send_audio(ws, speech_silence(300) + pcm + speech_silence(900))
        seen = events_until(ws, "end", timeout=60)
    final = next(d for n, d in seen if n == "transcript" and d.get("utterance_end"))
    assert "weather" in final["text"].lower() and "paris" in final["text"].lower()
    assert final["speech_end_ms"] < final["t_ms"], "speech ended before the silence did"
    asked = fake.chat_requests[-1].body["messages"][-1]["content"]
    assert asked == final["text"].strip()
    assert dict(seen)["completion-end"]["text"] == "Sunny."
    stages = [s["stage"] for s in dict(seen)["waterfall"]["stages"]]
    assert stages[:3] == ["transcript", "request", "first_token"]


def test_listening_sessions_are_capped_per_client_apart_from_turns(
    fake: FakeOpenAI, deepgram: FakeDeepgram
) -> None:
    deepgram.listen_script = ("one more",)
    fake.enqueue(Reply(chunks=["Done."]))
    for url in serve(fake, deepgram, playground_max_concurrent_turns=1):
        with connect(url) as first:
            first.send(start_frame())
            assert next_event(first)[0] == "listening"
            with connect(url) as second:
                second.send(start_frame())
                name, data = next_event(second)
                assert (name, data["code"], data["retryable"]) == ("error", "rate_limited", True)
            # The socket's own turn still runs: listening does not take a turn's place.
            send_audio(first, tone(200) + silence(500))
            assert dict(events_until(first, "end"))["completion-end"]["text"] == "Done."
        with connect(url) as third:  # the first one closed: its place is free again
            third.send(start_frame())
            assert wait_for_listening(third)
