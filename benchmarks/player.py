"""``player``: server audio-ready → playable in the page, our Web Audio path vs Gradio's player.

Our path: the page's Web Audio player is fed each WAV piece through the turn's event stream;
a piece is playable when ``AudioBufferSourceNode.start`` is called on it. Measured per piece as
(start called − Send clicked) − the piece's server ``t_ms`` (ms since the request arrived), in
headless Chromium, with the offline voice and a slow fake upstream.

Baseline: a minimal ``gr.Audio(streaming=True, autoplay=True)`` app whose generator yields WAV
pieces at known times (it re-encodes each through ffmpeg and serves HLS); a piece is playable
when the audio element fires ``playing``: (playing − click) − the first piece's yield time.
"""

from __future__ import annotations

import asyncio
import io
import math
import struct
import wave
from typing import Any

from playwright.async_api import Page, async_playwright

from benchmarks.common import BenchFakeOpenAI, Row, openai_env, p50, served
from tests.fakes.openai_server import Reply
from tests.page_support import CHROMIUM_ARGS

PIECE_SCHEDULE_S = (0.3, 1.5, 2.7)
ROUNDS = 3
INIT = """
window.__starts = [];
const realStart = AudioBufferSourceNode.prototype.start;
AudioBufferSourceNode.prototype.start = function (...args) {
  window.__starts.push(performance.now());
  return realStart.apply(this, args);
};
document.addEventListener('click', () => { window.__clickAt = performance.now(); }, true);
document.addEventListener('playing', () => {
  if (window.__playingAt === undefined) window.__playingAt = performance.now();
}, true);
"""
SENTENCES = (
    "The first sentence is long enough to be spoken on its own. "
    "Here comes a second one with a few more words in it. "
    "And a third sentence closes the answer."
)


def tone_wav(seconds: float, rate: int = 22050) -> bytes:
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
        for i in range(int(seconds * rate))
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(frames)
    return out.getvalue()


async def _ours(page: Page, url: str) -> list[float]:
    await page.goto(url)
    await page.wait_for_selector("#sp-message textarea", timeout=60_000)
    await page.fill("#sp-message textarea", "Talk to me")
    await page.click("#sp-send")
    await page.wait_for_function("() => window.__starts.length >= 3", timeout=60_000)
    data: dict[str, Any] = await page.evaluate(
        "() => ({click: window.__clickAt, starts: window.__starts,"
        " server: window.spAudio.stats().map(s => s.server_t_ms)})"
    )
    return [
        start - data["click"] - server
        for start, server in zip(data["starts"], data["server"], strict=False)
    ]


async def _gradio(page: Page, url: str) -> float | None:
    await page.goto(url)
    await page.wait_for_selector("#go", timeout=60_000)
    await page.click("#go")
    try:
        await page.wait_for_function("() => window.__playingAt !== undefined", timeout=20_000)
    except Exception:  # noqa: BLE001 - never playing is a result too
        return None
    data: dict[str, float] = await page.evaluate(
        "() => ({click: window.__clickAt, playing: window.__playingAt})"
    )
    return data["playing"] - data["click"] - PIECE_SCHEDULE_S[0] * 1000


async def _measure() -> tuple[list[float], list[float]]:
    ours: list[float] = []
    theirs: list[float] = []
    with BenchFakeOpenAI() as fake:
        words = [w + " " for w in SENTENCES.split(" ")]
        fake.default_reply = Reply(chunks=words, delay=0.1)
        with (
            served("playground", **openai_env(fake)) as our_url,
            served("gradio-audio") as their_url,
        ):
            async with async_playwright() as p:
                browser = await p.chromium.launch(
                    executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
                )
                try:
                    for _ in range(ROUNDS):
                        for measure, url, sink in (
                            (_ours, our_url, ours),
                            (_gradio, their_url, theirs),
                        ):
                            context = await browser.new_context()
                            await context.add_init_script(INIT)
                            page = await context.new_page()
                            result = await measure(page, url)
                            if isinstance(result, list):
                                sink.extend(result)
                            elif result is not None:
                                sink.append(result)
                            await context.close()
                finally:
                    await browser.close()
    return ours, theirs


def run() -> list[Row]:
    ours, theirs = asyncio.run(_measure())
    rows = [
        Row(
            "player",
            "audio ready on server → playable in page, p50 (Web Audio)",
            p50(ours),
            "ms",
            p50(theirs) if theirs else None,
        )
    ]
    if not theirs:
        rows.append(
            Row("player", "Gradio streaming gr.Audio: never played within 20 s", 0.0, "", None)
        )
    return rows
