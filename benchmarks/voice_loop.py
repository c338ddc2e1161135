"""``voice_loop``: a spoken turn end to end over ``/v1/voice``, audio sent at the pace it is spoken.

(a) Fake upstreams: Deepgram's ``listen`` (it "hears" a scripted word per 100 ms of sound and
    ends the utterance after the endpointing silence), the model (OpenAI-compatible, ~20 ms per
    chunk) and Deepgram's voice (100 ms of synthesis). Voice-to-voice = end of the user's speech
    → the first audible sample of the answer ready to play, from the server's waterfall, with
    each stage's share. The endpointing silence (300 ms here) is part of it, as it is in every
    voice product.
(b) Offline: Whisper tiny.en + the local model + Piper, with speech made by Piper. The same
    number, the same way.
(c) Barge-in: the user speaks over a running answer; the time from the first frame of their
    speech leaving the client to the ``barge-in`` event arriving back (the turn already stopped
    upstream). Both engines need some speech before they call it speech (a cough is not a
    barge-in): Deepgram's first ``SpeechStarted``, the local VAD's 96 ms.

The page adds the browser's side (microphone capture, playback start) to these; the page's own
figures are measured by the voice browser tests.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from websockets.sync.client import ClientConnection, connect

from benchmarks.common import Row, p50, served
from tests.fakes.deepgram_server import FakeDeepgram
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.speech_support import silence, spoken

RATE, FRAME_MS = 16_000, 20
ROUNDS, LOCAL_ROUNDS = 5, 3
V2V_TARGET_MS, LOCAL_TARGET_MS, BARGE_TARGET_MS = 800.0, 2500.0, 150.0
ANSWER = ["Sure. ", "The ", "store ", "opens ", "at ", "nine ", "tomorrow ", "morning."]
QUESTIONS = ("When does the store open tomorrow?", "What is the weather in Paris today?")


def tone(ms: float) -> bytes:
    t = np.arange(int(RATE * ms / 1000)) / RATE
    return (np.sin(2 * np.pi * 220 * t) * 8000).astype("<i2").tobytes()


def zeros(ms: float) -> bytes:
    """Digital silence: what the fake Deepgram counts towards its endpointing."""
    return bytes(RATE * int(ms) // 1000 * 2)


def frames(pcm: bytes) -> Iterator[bytes]:
    size = RATE * FRAME_MS // 1000 * 2
    for start in range(0, len(pcm), size):
        yield pcm[start : start + size]


def speak(ws: ClientConnection, pcm: bytes) -> float:
    """Send ``pcm`` in real time; returns when its first frame left."""
    started = time.monotonic()
    for index, frame in enumerate(frames(pcm)):
        delay = started + index * FRAME_MS / 1000 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        ws.send(frame)
    return started


def until(ws: ClientConnection, name: str, timeout: float = 60.0) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        seen.append((frame["event"], frame["data"]))
        if frame["event"] == name:
            return seen


def start(ws: ClientConnection, stt: str, model: str, voice: str) -> None:
    ws.send(
        json.dumps(
            {
                "type": "start",
                "stt": stt,
                "end_of_utterance_ms": 300,
                "turn": {"model": model, "voice": voice},
            }
        )
    )
    until(ws, "listening", timeout=120)


def spoken_turn(
    ws: ClientConnection, pcm: bytes, quiet: Callable[[float], bytes]
) -> dict[str, Any]:
    """Speak, keep the microphone open (silence), and return the turn's waterfall."""
    done = threading.Event()

    def keep_talking() -> None:
        speak(ws, pcm)
        while not done.is_set():
            speak(ws, quiet(200))

    talker = threading.Thread(target=keep_talking)
    talker.start()
    try:
        return dict(until(ws, "waterfall"))["waterfall"]  # type: ignore[no-any-return]
    finally:
        done.set()
        talker.join()


def shares(waterfalls: list[dict[str, Any]]) -> str:
    totals: dict[str, list[float]] = {}
    for waterfall in waterfalls:
        for stage in waterfall["stages"]:
            totals.setdefault(stage["stage"], []).append(stage["ms"])
    return ", ".join(f"{name} {statistics.median(ms):.0f}" for name, ms in totals.items())


def run() -> list[Row]:
    with (
        FakeOpenAI() as fake,
        FakeDeepgram(synthesis_delay=0.1) as deepgram,
        served(
            OPENAI_API_KEY="sk-bench",
            OPENAI_BASE_URL=fake.base_url,
            DEEPGRAM_API_KEY=deepgram.api_key,
            DEEPGRAM_BASE_URL=deepgram.base_url,
        ) as url,
    ):
        voice_url = url.replace("http://", "ws://") + "/v1/voice"
        fake.default_reply = Reply(chunks=ANSWER, delay=0.02)
        deepgram.listen_script = tuple("when does the store open" for _ in range(ROUNDS + 2))
        with connect(voice_url) as ws:
            start(ws, "deepgram", "compatible:fake-model", "deepgram:aura-2-thalia-en")
            faked = [spoken_turn(ws, tone(600), zeros) for _ in range(ROUNDS)]
            barge_fake = barge_in(ws, fake, tone(500), tone(400), zeros)
        said = spoken(QUESTIONS)
        with connect(voice_url) as ws:
            start(ws, "local", "local:smollm2-135m", "local:joe")
            offline = [
                spoken_turn(ws, said[QUESTIONS[i % 2]], silence) for i in range(LOCAL_ROUNDS)
            ]
            barge_local = barge_in(ws, None, said[QUESTIONS[1]], said[QUESTIONS[0]], silence)
    fake_v2v = [w["voice_to_voice_ms"] for w in faked]
    local_v2v = [w["voice_to_voice_ms"] for w in offline]
    print(
        "voice_loop (a) fake upstreams, voice-to-voice (ms): "
        + ", ".join(f"{v:.0f}" for v in fake_v2v)
        + f"\n  stage medians (ms): {shares(faked)}"
        + "\nvoice_loop (b) offline, voice-to-voice (ms): "
        + ", ".join(f"{v:.0f}" for v in local_v2v)
        + f"\n  stage medians (ms): {shares(offline)}"
        + f"\nvoice_loop (c) barge-in, speech sent → barge-in back: fake Deepgram "
        f"{barge_fake:.0f} ms, local VAD {barge_local:.0f} ms",
        flush=True,
    )
    return [
        Row(
            "voice_loop",
            "(a) voice-to-voice, fake STT/LLM/TTS, p50",
            p50(fake_v2v),
            "ms",
            target=f"≤ {V2V_TARGET_MS:.0f} ms",
            ok=p50(fake_v2v) <= V2V_TARGET_MS,
        ),
        Row(
            "voice_loop",
            "(b) voice-to-voice, offline (Whisper + local model + Piper), p50",
            p50(local_v2v),
            "ms",
            target=f"≤ {LOCAL_TARGET_MS:.0f} ms",
            ok=p50(local_v2v) <= LOCAL_TARGET_MS,
        ),
        Row(
            "voice_loop",
            "(c) barge-in: speech onset → turn stopped (fake Deepgram)",
            barge_fake,
            "ms",
            target=f"≤ {BARGE_TARGET_MS:.0f} ms",
            ok=barge_fake <= BARGE_TARGET_MS,
        ),
        Row(
            "voice_loop",
            "(c) … with the local VAD (96 ms of speech to count)",
            barge_local,
            "ms",
            target=f"≤ {BARGE_TARGET_MS:.0f} ms",
            ok=barge_local <= BARGE_TARGET_MS,
        ),
    ]


def barge_in(
    ws: ClientConnection,
    fake: FakeOpenAI | None,
    first: bytes,
    speech: bytes,
    quiet: Callable[[float], bytes],
) -> float:
    """Start a turn (on the fake model its answer stalls), talk over it; ms from the speech
    leaving to ``barge-in`` arriving."""
    gate = threading.Event()
    if fake is not None:
        fake.enqueue(Reply(chunks=ANSWER, delay=0.02, gate=gate, gate_after=2))
    try:
        talker = threading.Thread(target=speak, args=(ws, first + quiet(400)))
        talker.start()
        until(ws, "completion-continue")
        talker.join()
        sent: list[float] = []
        interrupter = threading.Thread(target=lambda: sent.append(speak(ws, speech)))
        interrupter.start()
        until(ws, "barge-in")
        arrived = time.monotonic()
        interrupter.join()
        until(ws, "end")
        return (arrived - sent[0]) * 1000
    finally:
        gate.set()
