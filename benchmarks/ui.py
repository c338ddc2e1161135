"""``ui``: the UI path's latency per chunk over the raw SDK stream, ours vs a minimal Gradio chat.

The same fake reply (40 chunks of 5 characters, 25 ms apart) is read three ways in each
round: straight through the ``openai`` SDK (the baseline), through our page's public ``/turn``
event, and through a bare ``gr.ChatInterface`` streaming from the fake via the SDK
(``benchmarks.serve minimal-chat``), both with ``gradio_client``. For each chunk: when its text
first became visible in the outputs, minus when the SDK read it, both from their own request.

``gradio_client`` looks for newly received messages only every 50 ms (``time.sleep(0.05)`` in
``utils.stream_sse_v1plus``), which would add 0-50 ms to whatever is measured, in lock-step with
an app that updates every 50 ms; the benchmark shortens that poll to 1 ms.

Each round starts both apps in a new session (a fresh conversation) that has already handled one
untimed event, as a page's session has when Send is pressed (see ``_fresh_session``); the two
take turns at going first. A turn's start-up cost moves all of its chunks together, so the
figure is only as steady as the number of rounds: twelve.
"""

from __future__ import annotations

import asyncio
import time
import types
from collections.abc import Callable
from typing import Any

import gradio_client.utils  # type: ignore[import-untyped]
from gradio_client import Client
from openai import AsyncOpenAI

from benchmarks.common import MODEL, BenchFakeOpenAI, Row, openai_env, p50, p95, sdk_turn, served
from tests.fakes.openai_server import Reply

CHUNKS, WIDTH, DELAY, ROUNDS, SLACK_MS = 40, 5, 0.025, 12, 5.0


def _poll_fast() -> None:
    def sleep(seconds: float) -> None:
        time.sleep(min(seconds, 0.001))

    gradio_client.utils.time = types.SimpleNamespace(**{**vars(time), "sleep": sleep})


def _ours_text(outputs: Any) -> str | None:
    """The last assistant message in our page's chatbot output, if this update carries it."""
    chat = outputs[0]
    if not isinstance(chat, list) or not chat or chat[-1]["role"] != "assistant":
        return None
    content = chat[-1]["content"]
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict))


def _visible_ms(job: Any, t0: float, text_of: Callable[[Any], str | None]) -> list[float]:
    """When each chunk first became visible, in ms since ``t0``."""
    seen: list[float] = []
    for outputs in job:
        text = text_of(outputs)
        now = (time.monotonic() - t0) * 1000
        while text is not None and len(seen) < min(len(text) // WIDTH, CHUNKS):
            seen.append(now)
    if len(seen) != CHUNKS:
        raise RuntimeError(f"only {len(seen)} of {CHUNKS} chunks became visible")
    return seen


def _fresh_session(client: Client, api_name: str) -> None:
    """A new session (so a fresh conversation) that has already handled one event, as the
    page's session has by the time anyone presses Send: Gradio builds a session's state on its
    first event, at a cost that grows with the page's component count (~15 ms for ours)."""
    client.reset_session()
    client.predict(message="", api_name=api_name)


def _ours(client: Client) -> list[float]:
    _fresh_session(client, "/turn")  # a blank message returns at once
    t0 = time.monotonic()
    job = client.submit(message="hi", model=MODEL, voice="none", api_name="/turn")
    return _visible_ms(job, t0, _ours_text)


def _minimal(client: Client) -> list[float]:
    _fresh_session(client, "/chat")
    t0 = time.monotonic()
    job = client.submit(message="hi", api_name="/chat")
    return _visible_ms(job, t0, lambda text: text if isinstance(text, str) else None)


def _sdk(base_url: str) -> list[float]:
    async def read() -> list[float]:
        async with AsyncOpenAI(api_key="sk-bench", base_url=base_url, max_retries=0) as sdk:
            return (await sdk_turn(sdk)).chunks

    return asyncio.run(read())


def run() -> list[Row]:
    _poll_fast()
    added: dict[str, list[float]] = {"ours": [], "minimal": []}
    first: dict[str, list[float]] = {"ours": [], "minimal": []}
    with BenchFakeOpenAI() as fake:
        fake.default_reply = Reply(chunks=[f"c{i:03d} " for i in range(CHUNKS)], delay=DELAY)
        with (
            served(**openai_env(fake)) as ours_url,
            served("minimal-chat", **openai_env(fake)) as minimal_url,
        ):
            ours, minimal = Client(ours_url, verbose=False), Client(minimal_url, verbose=False)
            apps: list[tuple[str, Callable[[], list[float]]]] = [
                ("ours", lambda: _ours(ours)),
                ("minimal", lambda: _minimal(minimal)),
            ]
            for n in range(ROUNDS + 1):  # round 0 warms up sessions, clients and imports
                raw = _sdk(fake.base_url)
                # Each goes first in every other round: whatever the first after the SDK run
                # pays (or the second, after the other app's run) is shared out evenly.
                for name, measure in apps if n % 2 else apps[::-1]:
                    visible = measure()
                    if n:
                        added[name] += [v - r for v, r in zip(visible, raw, strict=True)]
                        first[name].append(visible[0])
    a, b = added["ours"], added["minimal"]
    print(
        f"ui: {ROUNDS} rounds × {CHUNKS} chunks, {DELAY * 1000:.0f} ms apart; added per chunk "
        f"over the SDK: ours p50 {p50(a):.1f} / p95 {p95(a):.1f} ms, "
        f"minimal ChatInterface p50 {p50(b):.1f} / p95 {p95(b):.1f} ms; first chunk visible "
        f"p50: ours {p50(first['ours']):.0f} ms, minimal {p50(first['minimal']):.0f} ms"
    )
    return [
        Row(
            "ui",
            "added per chunk over the SDK, p50",
            p50(a),
            "ms",
            p50(b),
            f"≤ minimal (+{SLACK_MS:g} ms)",
            p50(a) <= p50(b) + SLACK_MS,
        ),
        Row(
            "ui",
            "added per chunk over the SDK, p95",
            p95(a),
            "ms",
            p95(b),
            f"≤ minimal (+{SLACK_MS:g} ms)",
            p95(a) <= p95(b) + SLACK_MS,
        ),
        Row("ui", "first chunk visible, p50", p50(first["ours"]), "ms", p50(first["minimal"])),
    ]
