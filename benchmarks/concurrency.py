"""``concurrency``: 50 streams at once through the API vs the same 50 straight to the fake.

Each round launches 50 turns together and records, per stream, when its first text chunk
arrived and when its last one did, from the round's launch instant; the baseline launches 50 raw
``openai`` SDK streams the same way. Rounds alternate between the two.
"""

from __future__ import annotations

import asyncio
import time

import httpx
from openai import AsyncOpenAI

from benchmarks.common import (
    MODEL,
    BenchFakeOpenAI,
    Row,
    Turn,
    api_turn,
    openai_env,
    p50,
    p95,
    sdk_turn,
    served,
)
from tests.fakes.openai_server import Reply

STREAMS, ROUNDS, TARGET_MS = 50, 4, 100.0
LIMITS = httpx.Limits(max_connections=STREAMS, max_keepalive_connections=STREAMS)
REPLY = Reply(chunks=[f" word{i}" for i in range(20)], delay=0.02)


def _since(launch: float, turns: list[Turn]) -> tuple[list[float], list[float]]:
    """First- and last-chunk times of each stream, in ms since the round's launch."""
    offsets = [(t.t0 - launch) * 1000 for t in turns]
    first = [o + t.chunks[0] for o, t in zip(offsets, turns, strict=True)]
    last = [o + t.chunks[-1] for o, t in zip(offsets, turns, strict=True)]
    return first, last


async def _measure(url: str, fake: BenchFakeOpenAI) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"api_first": [], "sdk_first": [], "api_last": [], "sdk_last": []}
    body = {"message": "hi", "model": MODEL}
    for n in range(ROUNDS + 1):  # round 0 warms both paths up (first calls, upstream pool)
        # Fresh clients each round: httpx scans every idle pooled connection on each request,
        # which with 50 of them would bill the benchmark's own client work to both sides.
        async with AsyncOpenAI(
            api_key="sk-bench", base_url=fake.base_url, max_retries=0, timeout=60
        ) as sdk:
            launch = time.monotonic()
            raw = await asyncio.gather(*(sdk_turn(sdk) for _ in range(STREAMS)))
        sdk_first, sdk_last = _since(launch, list(raw))
        async with httpx.AsyncClient(timeout=60, limits=LIMITS) as http:
            launch = time.monotonic()
            ours = await asyncio.gather(*(api_turn(http, url, body) for _ in range(STREAMS)))
        api_first, api_last = _since(launch, list(ours))
        if n:
            out["sdk_first"] += sdk_first
            out["sdk_last"] += sdk_last
            out["api_first"] += api_first
            out["api_last"] += api_last
    return out


def run() -> list[Row]:
    with BenchFakeOpenAI() as fake:
        fake.default_reply = REPLY
        with served(**openai_env(fake)) as url:
            m = asyncio.run(_measure(url, fake))
    gap = p95(m["api_first"]) - p95(m["sdk_first"])
    print(
        f"concurrency: {ROUNDS} rounds of {STREAMS} simultaneous streams "
        f"({len(REPLY.chunks)} chunks, {REPLY.delay * 1000:.0f} ms apart)\n"
        f"  first chunk p50/p95: API {p50(m['api_first']):.1f}/{p95(m['api_first']):.1f} ms, "
        f"SDK {p50(m['sdk_first']):.1f}/{p95(m['sdk_first']):.1f} ms\n"
        f"  last chunk p50/p95: API {p50(m['api_last']):.1f}/{p95(m['api_last']):.1f} ms, "
        f"SDK {p50(m['sdk_last']):.1f}/{p95(m['sdk_last']):.1f} ms"
    )
    return [
        Row(
            "concurrency",
            f"first chunk p95, {STREAMS} streams",
            p95(m["api_first"]),
            "ms",
            p95(m["sdk_first"]),
            f"≤ upstream + {TARGET_MS:.0f} ms",
            gap <= TARGET_MS,
        ),
        Row(
            "concurrency",
            f"first chunk p50, {STREAMS} streams",
            p50(m["api_first"]),
            "ms",
            p50(m["sdk_first"]),
        ),
        Row(
            "concurrency",
            f"last chunk p95, {STREAMS} streams",
            p95(m["api_last"]),
            "ms",
            p95(m["sdk_last"]),
        ),
    ]
