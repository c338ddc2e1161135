"""``api``: the latency the SSE API adds to each chunk over the raw ``openai`` SDK stream.

Both read the same fake upstream (50 chunks, 20 ms apart), in interleaved rounds. For each
chunk ``seq``, the added latency is (API arrival − SDK arrival), both measured from the
moment the client sent its request.
"""

from __future__ import annotations

import asyncio

import httpx
from openai import AsyncOpenAI

from benchmarks.common import (
    MODEL,
    Row,
    api_turn,
    openai_settings,
    p50,
    p95,
    playground_server,
    sdk_chunk_times,
)
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.support import make_test_services

CHUNKS, DELAY, ROUNDS, WARM_UP = 50, 0.020, 10, 2


async def _measure(url: str, fake: FakeOpenAI) -> tuple[list[float], list[float], list[float]]:
    """Per-chunk added ms, first-chunk added ms, and the SDK's own inter-arrival jitter."""
    added: list[float] = []
    first: list[float] = []
    sdk_first: list[float] = []
    async with (
        httpx.AsyncClient(timeout=30) as http,
        AsyncOpenAI(api_key="sk-bench", base_url=fake.base_url, max_retries=0) as sdk,
    ):
        for n in range(WARM_UP + ROUNDS):
            raw = await sdk_chunk_times(sdk)
            ours = (await api_turn(http, url, {"message": "hi", "model": MODEL})).chunks
            if len(raw) != CHUNKS or len(ours) != CHUNKS:
                raise RuntimeError(f"expected {CHUNKS} chunks, got {len(raw)} / {len(ours)}")
            if n >= WARM_UP:
                added += [b - a for a, b in zip(raw, ours, strict=True)]
                first.append(ours[0] - raw[0])
                sdk_first.append(raw[0])
    return added, first, sdk_first


def run() -> list[Row]:
    with FakeOpenAI() as fake:
        fake.default_reply = Reply(chunks=[f" word{i}" for i in range(CHUNKS)], delay=DELAY)
        services = make_test_services(**openai_settings(fake))
        with playground_server(services) as url:
            added, first, sdk_first = asyncio.run(_measure(url, fake))
    print(
        f"api: {ROUNDS} rounds × {CHUNKS} chunks at {DELAY * 1000:.0f} ms; added per chunk "
        f"p50 {p50(added):.2f} ms, p95 {p95(added):.2f} ms, min {min(added):.2f}, "
        f"max {max(added):.2f}; first chunk added p50 {p50(first):.2f} ms "
        f"(SDK first chunk p50 {p50(sdk_first):.2f} ms)"
    )
    return [
        Row("api", "added latency per chunk, p50", p50(added), "ms", None, "≤ 5 ms", p50(added) <= 5),
        Row("api", "added latency per chunk, p95", p95(added), "ms", None, "≤ 20 ms", p95(added) <= 20),
        Row("api", "first chunk (API vs SDK), p50", p50(sdk_first) + p50(first), "ms", p50(sdk_first)),
    ]
