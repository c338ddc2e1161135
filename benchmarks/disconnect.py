"""``disconnect``: a client leaves mid-stream while the upstream stalls; how soon is the
upstream connection closed?

The fake sends 3 chunks and then stalls. The client reads those 3, closes its connection and
waits for the fake to see its upstream connection close. Baseline: the same with the raw
``openai`` SDK stream closed by the client itself. The API runs twice: with the resume grace
period off (``PLAYGROUND_RESUME_GRACE_S=0``: the cancel path alone) and, for a few runs, with
its default (the close should come when the grace period ends, not later).
"""

from __future__ import annotations

import asyncio
import time

import httpx
from openai import AsyncOpenAI

from benchmarks.common import (
    MESSAGES,
    MODEL,
    SDK_MODEL,
    BenchFakeOpenAI,
    Row,
    openai_env,
    p50,
    served,
    sse_events,
)
from playground.settings import Settings
from tests.fakes.openai_server import Reply

RUNS, DEFAULT_GRACE_RUNS, SEEN = 10, 3, 3
REPLY = Reply(chunks=[f" word{i}" for i in range(10)], fault="stall", fault_after=SEEN)


async def _upstream_closed_ms(fake: BenchFakeOpenAI, left_at: float, within: float) -> float:
    if not await fake.wait_for_disconnect_async(within):
        raise RuntimeError("the fake never saw the upstream connection close")
    return (time.monotonic() - left_at) * 1000


async def _api_leave(
    http: httpx.AsyncClient, url: str, fake: BenchFakeOpenAI, within: float
) -> float:
    seen = 0
    async with http.stream(
        "POST", f"{url}/v1/interact/stream", json={"message": "hi", "model": MODEL}
    ) as response:
        async for name, _ in sse_events(response.aiter_lines()):
            seen += name == "completion-continue"
            if seen == SEEN:
                break
    left_at = time.monotonic()  # leaving the block above closed the connection
    return await _upstream_closed_ms(fake, left_at, within)


async def _sdk_leave(sdk: AsyncOpenAI, fake: BenchFakeOpenAI) -> float:
    stream = await sdk.chat.completions.create(model=SDK_MODEL, messages=MESSAGES, stream=True)
    seen = 0
    async for chunk in stream:
        seen += bool(chunk.choices and chunk.choices[0].delta.content)
        if seen == SEEN:
            break
    left_at = time.monotonic()
    await stream.close()
    return await _upstream_closed_ms(fake, left_at, 5)


async def _measure(
    url: str, fake: BenchFakeOpenAI, runs: int, grace_s: float
) -> tuple[list[float], list[float]]:
    api: list[float] = []
    raw: list[float] = []
    async with (
        httpx.AsyncClient(timeout=30) as http,
        AsyncOpenAI(api_key="sk-bench", base_url=fake.base_url, max_retries=0) as sdk,
    ):
        for _ in range(runs):
            raw.append(await _sdk_leave(sdk, fake))
            api.append(await _api_leave(http, url, fake, grace_s + 5))
    return api, raw


def run() -> list[Row]:
    grace_s = Settings(_env_file=None).playground_resume_grace_s
    with BenchFakeOpenAI() as fake:
        fake.default_reply = REPLY
        with served(**openai_env(fake), PLAYGROUND_RESUME_GRACE_S="0") as url:
            api, raw = asyncio.run(_measure(url, fake, RUNS, 0))
        with served(**openai_env(fake)) as url:
            graced, _ = asyncio.run(_measure(url, fake, DEFAULT_GRACE_RUNS, grace_s))
    print(
        f"disconnect: upstream closed after p50 {p50(api):.1f} ms, max {max(api):.1f} ms "
        f"({RUNS} runs, no grace); SDK p50 {p50(raw):.1f} ms, max {max(raw):.1f} ms; "
        f"with the default {grace_s:g} s grace: " + ", ".join(f"{g:.0f}" for g in graced) + " ms"
    )
    return [
        Row("disconnect", "upstream closed after the client left, p50", p50(api), "ms", p50(raw)),
        Row("disconnect", "upstream closed after the client left, max", max(api), "ms", max(raw)),
        Row(
            "disconnect",
            f"… with the default {grace_s:g} s resume grace, max",
            max(graced),
            "ms",
            target=f"≈ {grace_s * 1000:.0f} ms",
            ok=max(graced) <= grace_s * 1000 + 100,
        ),
    ]
