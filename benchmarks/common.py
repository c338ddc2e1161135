"""Shared pieces of the benchmarks: statistics, result rows, loopback servers and stream readers.

Every benchmark measures the playground and a baseline in the same process and run, against
the same loopback fakes, and reports ``Row``s; ``__main__`` prints them as one markdown table.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import playground.offline  # noqa: F401  (keeps gradio and the hub off the network)

__all__ = [
    "MODEL",
    "SDK_MODEL",
    "ApiTurn",
    "Row",
    "api_turn",
    "clean_environment",
    "ms_since",
    "p50",
    "p95",
    "percentile",
    "playground_server",
    "print_rows",
    "sdk_chunk_times",
]

MODEL = "openai:gpt-4o-mini"
SDK_MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "Tell me about streaming."}]

_CONTRACT_VARS = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_ENDPOINT",
    "OPENAI_API_VERSION",
    "DEEPGRAM_API_KEY",
    "DEEPGRAM_BASE_URL",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
)


def clean_environment() -> None:
    """No real key or endpoint may leak into a benchmark, and loopback must never be proxied."""
    for name in list(os.environ):
        if name in _CONTRACT_VARS or name.startswith("PLAYGROUND_"):
            del os.environ[name]
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"


# -- statistics ----------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear between the closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def p50(values: Sequence[float]) -> float:
    return percentile(values, 50)


def p95(values: Sequence[float]) -> float:
    return percentile(values, 95)


def ms_since(t0: float) -> float:
    return (time.monotonic() - t0) * 1000


# -- results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of the results table; ``ratio`` is ours / baseline when there is a baseline."""

    benchmark: str
    metric: str
    ours: float
    unit: str
    baseline: float | None = None
    target: str = ""
    ok: bool | None = None  # None: no target

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.ours / self.baseline

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _num(value: float | None, unit: str = "") -> str:
    if value is None or math.isnan(value):
        return "—"
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:,.{digits}f}{(' ' + unit) if unit else ''}"


def print_rows(rows: Sequence[Row]) -> None:
    """The markdown table for the README."""
    print("| benchmark | metric | ours | baseline | ratio | target | met |")
    print("|---|---|---:|---:|---:|---|:-:|")
    for r in rows:
        met = "" if r.ok is None else ("yes" if r.ok else "**no**")
        ratio = f"{r.ratio:.2f}×" if r.ratio is not None else "—"
        print(
            f"| {r.benchmark} | {r.metric} | {_num(r.ours, r.unit)} | "
            f"{_num(r.baseline, r.unit)} | {ratio} | {r.target} | {met} |"
        )


# -- servers -------------------------------------------------------------------------------------


@contextmanager
def playground_server(services: Any) -> Iterator[str]:
    """The real app (UI + API) on a loopback port; yields its base URL."""
    from playground.server import build_app
    from tests.support import live_server

    with live_server(build_app(services, warm_up=False)) as url:
        yield url


def openai_settings(fake: Any) -> dict[str, Any]:
    return {"openai_api_key": "sk-bench", "openai_base_url": fake.base_url}


# -- clients -------------------------------------------------------------------------------------


@dataclass
class ApiTurn:
    """One streamed turn as the client saw it; times are ms since the request was sent."""

    chunks: list[float] = field(default_factory=list)  # arrival of completion-continue, by seq
    texts: list[str] = field(default_factory=list)
    audio: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    end: dict[str, Any] | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    done_ms: float = math.nan


async def sse_events(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, Any]]:
    """``(event, data)`` for each SSE frame, as soon as its blank line arrives."""
    name, data = "message", []
    async for line in lines:
        if line == "":
            if data:
                yield name, json.loads("\n".join(data))
            name, data = "message", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())


async def api_turn(client: Any, base_url: str, body: dict[str, Any]) -> ApiTurn:
    """POST one turn with an ``httpx.AsyncClient`` and record when each event arrived."""
    turn = ApiTurn()
    t0 = time.monotonic()
    async with client.stream(
        "POST",
        f"{base_url}/v1/interact/stream",
        json=body,
        headers={"Accept": "text/event-stream"},
    ) as response:
        response.raise_for_status()
        async for name, data in sse_events(response.aiter_lines()):
            now = ms_since(t0)
            if name == "completion-continue":
                turn.chunks.append(now)
                turn.texts.append(data["text"])
            elif name == "audio":
                turn.audio.append((now, data))
            elif name == "completion-end":
                turn.end = data
            elif name == "error":
                turn.errors.append(data)
    turn.done_ms = ms_since(t0)
    if turn.errors:
        raise RuntimeError(f"the turn failed: {turn.errors}")
    return turn


async def sdk_chunk_times(client: Any, model: str = SDK_MODEL) -> list[float]:
    """The baseline: the raw ``openai`` stream; ms since the request for each content chunk."""
    times: list[float] = []
    t0 = time.monotonic()
    stream = await client.chat.completions.create(model=model, messages=MESSAGES, stream=True)
    async with stream:
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                times.append(ms_since(t0))
    return times
