"""``long``: a 2,000-chunk answer with no delay; does the cost per chunk stay flat?

The same fake burst of 1, 200 and 2,000 chunks goes through the API and, as the baseline,
straight to the raw ``openai`` SDK; each total (request → last chunk read) is the median of a
few runs. The time per chunk at n is (total(n) − total(1)) / (n − 1), so the fixed per-request
cost does not count; linear growth means the per-chunk time at 2,000 over that at 200 stays ≈ 1.
"""

from __future__ import annotations

import asyncio
import statistics

import httpx
from openai import AsyncOpenAI

from benchmarks.common import MODEL, BenchFakeOpenAI, Row, api_turn, openai_env, sdk_turn, served
from tests.fakes.openai_server import Reply

SIZES, RUNS, LINEAR_WITHIN = (1, 200, 2000), 5, 1.25


async def _totals(url: str, fake: BenchFakeOpenAI) -> dict[tuple[str, int], float]:
    """(path, chunks) -> median ms from the request to the last chunk read."""
    out: dict[tuple[str, int], float] = {}
    body = {"message": "hi", "model": MODEL}
    async with (
        httpx.AsyncClient(timeout=120) as http,
        AsyncOpenAI(api_key="sk-bench", base_url=fake.base_url, max_retries=0) as sdk,
    ):
        await api_turn(http, url, body)  # warm-up
        await sdk_turn(sdk)
        for size in SIZES:
            fake.default_reply = Reply(chunks=[f" w{i}" for i in range(size)])
            api: list[float] = []
            raw: list[float] = []
            for _ in range(RUNS):
                turns = (await sdk_turn(sdk), await api_turn(http, url, body))
                if any(len(t.chunks) != size for t in turns):
                    raise RuntimeError(f"expected {size} chunks")
                raw.append(turns[0].chunks[-1])
                api.append(turns[1].chunks[-1])
            out["sdk", size] = statistics.median(raw)
            out["api", size] = statistics.median(api)
    return out


def run() -> list[Row]:
    with BenchFakeOpenAI() as fake, served(**openai_env(fake)) as url:
        total = asyncio.run(_totals(url, fake))
    one, small, big = SIZES

    def per_chunk_us(path: str, n: int) -> float:
        return (total[path, n] - total[path, one]) / (n - 1) * 1000

    for path in ("api", "sdk"):
        print(
            f"long/{path}: totals "
            + ", ".join(f"{n} chunks {total[path, n]:.1f} ms" for n in SIZES)
            + f"; per chunk {per_chunk_us(path, small):.0f} µs at {small}, "
            f"{per_chunk_us(path, big):.0f} µs at {big}"
        )
    growth = {p: per_chunk_us(p, big) / per_chunk_us(p, small) for p in ("api", "sdk")}
    return [
        Row("long", f"{big:,}-chunk answer, total", total["api", big], "ms", total["sdk", big]),
        Row(
            "long",
            f"time per chunk at {small}",
            per_chunk_us("api", small),
            "µs",
            per_chunk_us("sdk", small),
        ),
        Row(
            "long",
            f"time per chunk at {big:,}",
            per_chunk_us("api", big),
            "µs",
            per_chunk_us("sdk", big),
        ),
        Row(
            "long",
            f"per-chunk time, {big:,} / {small}",
            growth["api"],
            "",
            growth["sdk"],
            f"≈ 1 (≤ {LINEAR_WITHIN})",
            growth["api"] <= LINEAR_WITHIN,
        ),
    ]
