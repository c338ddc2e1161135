"""``voice_page``: voice-to-voice and barge-in as measured by the real page, with its microphone.

``voice_loop`` measures the spoken turn at the ``/v1/voice`` socket; this is the same turn as a
person gets it: headless Chromium's fake microphone plays a WAV, the page's own script
(``static/voice_input.js``) streams it to ``/v1/voice`` in transcribe mode, puts the final
transcript in the chat and clicks Send, and the page's Web Audio player (``static/player.js``)
speaks the answer. Fakes stand in for the upstreams, each in this process: Deepgram's ``listen``
(it "hears" one scripted word per 100 ms of non-silent audio and ends the utterance after the
endpointing silence, 300 ms here, the slider's minimum, as in ``voice_loop``; audio under
-50 dBFS is silence to it, as to a real speech detector: see ``PageDeepgram``), the model
(OpenAI-compatible, 20 ms per chunk) and Deepgram's voice (100 ms of synthesis). The app runs
in its own process (``served``).

One page, one recording: the microphone hears ``ROUNDS + 1`` tones of 600 ms, each followed by
4.4 s of digital silence (the first round warms the page and the app up and is not counted),
then ``BARGE_ROUNDS`` pairs of a 600 ms tone, answered at length, and a 400 ms tone while that
answer is being spoken.

* **Voice-to-voice** is the page's own waterfall (``spVoice.waterfalls()``): from the end of
  the user's speech (the final transcript's last word end on the socket's audio clock, mapped
  back to when that sample was captured in the page) to the first audible sample of the answer
  playing (the ``sp-audio-started`` event of the turn's first piece, on the output's clock),
  with each stage's share. The script gives each utterance one word per 100 ms of its tone, so
  the fake's last word ends where the tone does (up to one 20 ms frame early: the fake counts
  speech from the start of the first non-silent frame).
* **Barge-in** is the page's own record (``spVoice.bargeIns()``): from the speech onset (the
  fake's ``SpeechStarted`` timestamp, mapped back to the capture time the same way) to the
  player silent (``spAudio.stop``: now, plus the output latency the device still plays). It is
  split at the moment the ``speech-started`` event reached the page (``spVoice.events()``).
  Only barge-ins that caught the answer playing count.

The fake Deepgram calls the first non-silent frame speech; the real one needs some speech first,
so the barge-in here is the transport and the page, not the speech detector (``voice_loop``'s
local-VAD row has that).
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from playwright.async_api import Page, async_playwright
from playwright.async_api import TimeoutError as PlaywrightTimeout

from benchmarks.common import BenchFakeOpenAI, Row, p50, p95, served
from benchmarks.voice_loop import ANSWER, BARGE_TARGET_MS, V2V_TARGET_MS, shares, tone, zeros
from tests.fakes.deepgram_server import (
    FakeDeepgram,
    ListenRecord,
    Receive,
    Send,
    _FakeListenSession,
)
from tests.fakes.openai_server import Reply
from tests.page_support import PAGE_LOAD_MS, chromium_args
from tests.speech_support import write_wav

ROUNDS, BARGE_ROUNDS = 5, 4
EOU_MS = 300
# One scripted word per 100 ms of tone (see the module docstring).
ASKED = "when does the store open tomorrow"  # 600 ms
INTERRUPTING = "wait stop that now"  # 400 ms
ROUND_GAP_MS = 4400  # the answer (about 2 s of voice) ends well before the next question
BARGE_AFTER_MS = 3000  # the long answer plays from about 1 s after the question for 10 s
BARGE_GAP_MS = 4000
LONG_ANSWER = [
    "The store opens at nine tomorrow morning, and it stays open until late evening. ",
    "On the weekend it opens an hour later, at ten, and closes at six in the evening. ",
    "The bakery counter opens first, so fresh bread is there from the very first minute. ",
    "Parking is free for the first two hours with a receipt from any shop in the mall.",
]


# Under -50 dBFS: silence to a speech detector (see PageDeepgram).
SILENT_PEAK = 100


class _VadListen(_FakeListenSession):
    async def on_audio(self, chunk: bytes) -> None:
        samples = np.frombuffer(chunk[: len(chunk) // 2 * 2], dtype="<i2").astype(np.int32)
        if samples.size and int(np.abs(samples).max()) < SILENT_PEAK:
            chunk = bytes(len(chunk))
        await super().on_audio(chunk)


class PageDeepgram(FakeDeepgram):
    """``FakeDeepgram`` whose ``listen`` takes a chunk under ``SILENT_PEAK`` for silence.

    The fake counts only all-zero chunks as silence. Through the page, the browser's own
    processing (automatic gain, noise suppression) leaves a tail after the tone: about 60 ms
    over -50 dBFS, then some 200 ms of a few LSB; counted as speech, it pushed the endpointing
    (and so the transcript stage) some 240 ms later than any real speech detector would.
    """

    async def _listen(self, query: dict[str, str], receive: Receive, send: Send) -> None:
        record = ListenRecord(query)
        with self._lock:
            self.listens.append(record)
        session = _VadListen(self, record, send)
        code = 1006
        try:
            code = await session.run(receive)
        finally:
            record.close_code = code


def recording() -> bytes:
    """What the microphone hears (16 kHz PCM16): the questions, then the barge-in pairs."""
    pcm = zeros(500)
    for _ in range(ROUNDS + 1):
        pcm += tone(600) + zeros(ROUND_GAP_MS)
    for _ in range(BARGE_ROUNDS):
        pcm += tone(600) + zeros(BARGE_AFTER_MS) + tone(400) + zeros(BARGE_GAP_MS)
    return pcm


def barge_split(barge: dict[str, Any], events: list[dict[str, Any]]) -> tuple[float, float]:
    """(onset → ``speech-started`` reached the page, that → player silent), in ms: the first
    ``speech-started`` the page received after the onset is the one that made this barge-in."""
    arrived = min(
        (e["at"] for e in events if e["event"] == "speech-started" and e["at"] >= barge["onset"]),
        default=barge["silentAt"],
    )
    return arrived - barge["onset"], barge["silentAt"] - arrived


async def _set_up(page: Page, url: str) -> None:
    """Deepgram for listening and speaking, the shortest end-of-utterance silence."""
    await page.goto(url)
    await page.wait_for_selector("#sp-mic", timeout=PAGE_LOAD_MS)
    await page.wait_for_function(
        "() => (document.querySelector('#sp-capabilities')?.innerText ?? '')"
        ".includes('Tool calling')",
        timeout=PAGE_LOAD_MS,
    )
    await page.click("#sp-voice input")
    await page.locator("li", has_text="Thalia").first.click()
    await page.select_option("#sp-stt", "deepgram")
    await page.evaluate(
        """(ms) => {
          const slider = document.querySelector('#sp-eou');
          slider.value = String(ms);
          slider.dispatchEvent(new Event('input', { bubbles: true }));
          slider.dispatchEvent(new Event('change', { bubbles: true }));
        }""",
        EOU_MS,
    )
    await page.wait_for_timeout(1000)  # the voice pick reaches the server's session


async def _measure() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    with (
        BenchFakeOpenAI() as fake,
        PageDeepgram(synthesis_delay=0.1) as deepgram,
        tempfile.TemporaryDirectory() as tmp,
    ):
        fake.default_reply = Reply(chunks=ANSWER, delay=0.02)
        deepgram.listen_script = (ASKED,) * (ROUNDS + 1) + (ASKED, INTERRUPTING) * BARGE_ROUNDS
        wav = write_wav(Path(tmp) / "mic.wav", recording())
        env = {
            "OPENAI_API_KEY": "sk-bench",
            "OPENAI_BASE_URL": fake.base_url,
            "DEEPGRAM_API_KEY": deepgram.api_key,
            "DEEPGRAM_BASE_URL": deepgram.base_url,
        }
        with served(**env) as url:
            async with async_playwright() as p:
                browser = await p.chromium.launch(
                    executable_path="/usr/bin/chromium", args=chromium_args(str(wav))
                )
                try:
                    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
                    page = await context.new_page()
                    await _set_up(page, url)
                    # The turns come in order: the questions, then each barge-in round's long
                    # answer and the short one to the utterance that interrupted it.
                    for _ in range(ROUNDS + 1):
                        fake.enqueue(Reply(chunks=ANSWER, delay=0.02))
                    for _ in range(BARGE_ROUNDS):
                        fake.enqueue(
                            Reply(chunks=LONG_ANSWER, delay=0.02), Reply(chunks=ANSWER, delay=0.02)
                        )
                    await page.click("#sp-mic")
                    spoken_turns = ROUNDS + 1 + 2 * BARGE_ROUNDS
                    seconds = len(recording()) / 32_000
                    try:
                        await page.wait_for_function(
                            "(n) => window.spVoice.waterfalls().filter((w) =>"
                            " w.stages.some((s) => s.stage === 'playback')).length >= n",
                            arg=spoken_turns,
                            timeout=(seconds + 30) * 1000,
                        )
                    except PlaywrightTimeout:  # what was measured still counts; say what not
                        heard = await page.evaluate(
                            "() => window.spVoice.waterfalls().map((w) =>"
                            " [w.text, w.stages.map((s) => s.stage).join(' ')])"
                        )
                        print(f"voice_page: not every turn was spoken: {heard}", flush=True)
                    waterfalls: list[dict[str, Any]] = await page.evaluate(
                        "window.spVoice.waterfalls()"
                    )
                    barges: list[dict[str, Any]] = await page.evaluate("window.spVoice.bargeIns()")
                    events: list[dict[str, Any]] = await page.evaluate("window.spVoice.events()")
                finally:
                    await browser.close()
    # The first round warms up; the barge-in rounds' turns are not counted.
    asked = [w for w in waterfalls[1 : ROUNDS + 1] if w["voice_to_voice_ms"] is not None]
    return asked, [b for b in barges if b["playing"]], events


def run() -> list[Row]:
    waterfalls, barges, events = asyncio.run(_measure())
    v2v = [float(w["voice_to_voice_ms"]) for w in waterfalls]
    latency = [float(b["latency_ms"]) for b in barges]
    splits = [barge_split(b, events) for b in barges]
    arrive = [a for a, _ in splits]
    silence = [s for _, s in splits]
    print(
        "voice_page voice-to-voice in the page (ms): "
        + ", ".join(f"{v:.0f}" for v in v2v)
        + f"\n  stage medians (ms): {shares(waterfalls)}"
        + "\nvoice_page barge-in in the page, onset → silent (ms): "
        + ", ".join(f"{v:.0f}" for v in latency)
        + f"\n  of which onset → speech-started in the page p50 {p50(arrive):.0f}, "
        f"→ player silent p50 {p50(silence):.0f}; {len(barges)} of {BARGE_ROUNDS} caught the "
        "answer playing",
        flush=True,
    )
    return [
        Row(
            "voice_page",
            "voice-to-voice in the page, fake STT/LLM/TTS, p50",
            p50(v2v),
            "ms",
            target=f"≤ {V2V_TARGET_MS:.0f} ms",
            ok=p50(v2v) <= V2V_TARGET_MS,
        ),
        Row("voice_page", "voice-to-voice in the page, p95", p95(v2v), "ms"),
        Row(
            "voice_page",
            "barge-in in the page: speech onset → player silent, p50",
            p50(latency),
            "ms",
            target=f"≤ {BARGE_TARGET_MS:.0f} ms",
            ok=bool(latency) and p50(latency) <= BARGE_TARGET_MS,
        ),
    ]
