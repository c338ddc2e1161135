"""``api``: the latency the SSE API adds to each chunk over the raw ``openai`` SDK stream.

Both clients read the same fake upstream (50 chunks, 20 ms apart), in interleaved rounds.
Two views of the same runs:

* end to end: for each chunk ``seq``, API arrival − SDK arrival, each measured from when its
  client sent the request. This carries the API's one-off set-up cost (request parsing,
  validation, the upstream call starting later) on every chunk, and any difference in the
  fake's own timer drift between the two runs;
* drift-corrected: the same minus the difference in the fake's own pacing between the two runs
  (the fake stamps each write on the same clock), leaving what the app adds: the set-up cost
  plus the per-chunk forwarding cost (printed too, as "transit": fake write → client read).
"""

from __future__ import annotations

import asyncio

import httpx
from openai import AsyncOpenAI

from benchmarks.common import (
    MODEL,
    BenchFakeOpenAI,
    Row,
    api_turn,
    openai_env,
    p50,
    p95,
    schedule_ms,
    sdk_turn,
    served,
    transit_ms,
)
from tests.fakes.openai_server import Reply

CHUNKS, DELAY, ROUNDS, WARM_UP = 50, 0.020, 12, 2


async def _measure(url: str, fake: BenchFakeOpenAI) -> dict[str, list[float]]:
    keys = ("added", "corrected", "transit_api", "transit_sdk", "first_api", "first_sdk")
    out: dict[str, list[float]] = {k: [] for k in keys}
    async with (
        httpx.AsyncClient(timeout=30) as http,
        AsyncOpenAI(api_key="sk-bench", base_url=fake.base_url, max_retries=0) as sdk,
    ):
        for n in range(WARM_UP + ROUNDS):
            raw = await sdk_turn(sdk)
            raw_writes = fake.writes[-1]
            ours = await api_turn(http, url, {"message": "hi", "model": MODEL})
            our_writes = fake.writes[-1]
            if len(raw.chunks) != CHUNKS or len(ours.chunks) != CHUNKS:
                raise RuntimeError(
                    f"expected {CHUNKS} chunks: {len(raw.chunks)}/{len(ours.chunks)}"
                )
            if n < WARM_UP:
                continue
            added = [b - a for a, b in zip(raw.chunks, ours.chunks, strict=True)]
            drift = [
                b - a
                for a, b in zip(
                    schedule_ms(raw_writes, CHUNKS), schedule_ms(our_writes, CHUNKS), strict=True
                )
            ]
            out["added"] += added
            out["corrected"] += [a - d for a, d in zip(added, drift, strict=True)]
            out["transit_sdk"] += transit_ms(raw, raw_writes)
            out["transit_api"] += transit_ms(ours, our_writes)
            out["first_sdk"].append(raw.chunks[0])
            out["first_api"].append(ours.chunks[0])
    return out


def run() -> list[Row]:
    with BenchFakeOpenAI() as fake:
        fake.default_reply = Reply(chunks=[f" word{i}" for i in range(CHUNKS)], delay=DELAY)
        with served(**openai_env(fake)) as url:
            m = asyncio.run(_measure(url, fake))
    added, fixed = m["added"], m["corrected"]
    t_api, t_sdk = m["transit_api"], m["transit_sdk"]
    print(
        f"api: {ROUNDS} rounds × {CHUNKS} chunks, {DELAY * 1000:.0f} ms apart\n"
        f"  end to end added per chunk: p50 {p50(added):.2f} ms, p95 {p95(added):.2f} ms "
        f"(min {min(added):.2f}, max {max(added):.2f})\n"
        f"  drift-corrected: p50 {p50(fixed):.2f} ms, p95 {p95(fixed):.2f} ms "
        f"(min {min(fixed):.2f}, max {max(fixed):.2f})\n"
        f"  transit API p50 {p50(t_api):.2f} / p95 {p95(t_api):.2f} ms; "
        f"SDK p50 {p50(t_sdk):.2f} / p95 {p95(t_sdk):.2f} ms\n"
        f"  first chunk API p50 {p50(m['first_api']):.2f} ms, SDK {p50(m['first_sdk']):.2f} ms"
    )
    return [
        Row(
            "api",
            "added per chunk, end to end, p50",
            p50(added),
            "ms",
            target="≤ 5 ms",
            ok=p50(added) <= 5,
        ),
        Row(
            "api",
            "added per chunk, end to end, p95",
            p95(added),
            "ms",
            target="≤ 20 ms",
            ok=p95(added) <= 20,
        ),
        Row(
            "api",
            "added per chunk, drift-corrected, p50",
            p50(fixed),
            "ms",
            target="≤ 5 ms",
            ok=p50(fixed) <= 5,
        ),
        Row(
            "api",
            "added per chunk, drift-corrected, p95",
            p95(fixed),
            "ms",
            target="≤ 20 ms",
            ok=p95(fixed) <= 20,
        ),
        Row("api", "first chunk, p50", p50(m["first_api"]), "ms", p50(m["first_sdk"])),
    ]
