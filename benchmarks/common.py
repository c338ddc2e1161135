"""Shared pieces of the benchmarks: statistics, result rows, loopback servers and stream readers.

Every benchmark measures the playground and a baseline in the same run, against the same
loopback fakes (in the benchmark's process), with the app under test in its own process
(``served``), and returns ``Row``s; ``__main__`` prints them as one markdown table.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import playground  # noqa: F401  (first: importing it keeps gradio and the hub offline)

# isort: split
import httpx
from openai.types.chat import ChatCompletionMessageParam

from tests.fakes.openai_server import FakeOpenAI

__all__ = [
    "MESSAGES",
    "MODEL",
    "REPO",
    "SDK_MODEL",
    "BenchFakeOpenAI",
    "Row",
    "Turn",
    "api_turn",
    "clean_environment",
    "free_port",
    "ms_since",
    "openai_env",
    "p50",
    "p95",
    "percentile",
    "print_rows",
    "schedule_ms",
    "sdk_turn",
    "served",
    "sse_events",
    "stop",
    "transit_ms",
    "wait_healthy",
]

MODEL = "openai:gpt-4o-mini"
SDK_MODEL = "gpt-4o-mini"
MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "Tell me about streaming."}
]

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

REPO = Path(__file__).resolve().parent.parent
# The API's per-client abuse limits and Deepgram's Flush budget are not what is measured, and
# every benchmark client comes from 127.0.0.1.
UNLIMITED = {
    "PLAYGROUND_RATE_LIMIT_PER_MINUTE": "1000000",
    "PLAYGROUND_MAX_CONCURRENT_TURNS": "1000",
    "PLAYGROUND_DEEPGRAM_FLUSHES_PER_MINUTE": "1000000",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Poll ``url`` until it answers 200; fails if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def served(kind: str = "playground", **env: str) -> Iterator[str]:
    """Run ``benchmarks.serve KIND`` in its own process with ``env``; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.serve", kind, "--port", str(port)],
        cwd=REPO,
        env={**os.environ, **UNLIMITED, **env},
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(f"{url}/healthz", process)
        yield url
    finally:
        stop(process)


def openai_env(fake: FakeOpenAI) -> dict[str, str]:
    return {"OPENAI_API_KEY": "sk-bench", "OPENAI_BASE_URL": fake.base_url}


class BenchFakeOpenAI(FakeOpenAI):
    """``FakeOpenAI`` with ``TCP_NODELAY``, recording when it wrote each frame of each stream.

    Without ``TCP_NODELAY`` (real API servers set it), Nagle's algorithm holds a small frame
    written right after another until the client's delayed ACK, up to 40 ms later: a 1-chunk
    answer took ~45 ms through the SDK. ``writes[n][0]`` is the role frame of the n-th stream,
    ``writes[n][i]`` its i-th content chunk, on this process's ``time.monotonic()`` clock.
    """

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[list[float]] = []

    def __enter__(self) -> BenchFakeOpenAI:
        self.start()
        return self

    async def _connection(self, reader: Any, writer: Any) -> None:
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await super()._connection(reader, writer)

    async def _stream(self, writer: Any, *args: Any) -> bool:
        stamps: list[float] = []
        self.writes.append(stamps)
        return await super()._stream(cast(Any, _StampingWriter(writer, stamps)), *args)


def transit_ms(turn: Turn, stamps: list[float]) -> list[float]:
    """For each content chunk: ms from the fake writing it to the client reading it."""
    return [turn.t0 * 1000 + at - w * 1000 for at, w in zip(turn.chunks, stamps[1:], strict=False)]


def schedule_ms(stamps: list[float], chunks: int) -> list[float]:
    """For each of the first ``chunks`` content chunks: ms from the fake's first (role) frame to
    its write, i.e. the upstream's own pacing, timer drift included."""
    return [(w - stamps[0]) * 1000 for w in stamps[1 : chunks + 1]]


class _StampingWriter:
    def __init__(self, writer: Any, stamps: list[float]) -> None:
        self._writer = writer
        self._stamps = stamps
        self.transport = writer.transport

    def write(self, data: bytes) -> None:
        self._stamps.append(time.monotonic())
        self._writer.write(data)

    async def drain(self) -> None:
        await self._writer.drain()


# -- clients -------------------------------------------------------------------------------------


@dataclass
class Turn:
    """One streamed answer as the client saw it; times are ms since ``t0``, the request."""

    t0: float = 0.0
    chunks: list[float] = field(default_factory=list)  # arrival of completion-continue, by seq
    chunk_t_ms: list[float] = field(default_factory=list)  # the server's own t_ms stamps
    audio: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    end: dict[str, Any] | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)


async def sse_events(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, Any]]:
    """``(event, data)`` for each SSE frame, as soon as its blank line arrives."""
    name, data = "message", list[str]()
    async for line in lines:
        if line == "":
            if data:
                yield name, json.loads("\n".join(data))
            name, data = "message", list[str]()
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())


async def api_turn(client: Any, base_url: str, body: dict[str, Any]) -> Turn:
    """POST one turn with an ``httpx.AsyncClient`` and record when each event arrived."""
    turn = Turn(t0=time.monotonic())
    async with client.stream(
        "POST",
        f"{base_url}/v1/interact/stream",
        json=body,
        headers={"Accept": "text/event-stream"},
    ) as response:
        response.raise_for_status()
        async for name, data in sse_events(response.aiter_lines()):
            now = ms_since(turn.t0)
            if name == "completion-continue":
                turn.chunks.append(now)
                turn.chunk_t_ms.append(data["t_ms"])
            elif name == "audio":
                turn.audio.append((now, data))
            elif name == "completion-end":
                turn.end = data
            elif name == "error":
                turn.errors.append(data)
    if turn.errors:
        raise RuntimeError(f"the turn failed: {turn.errors}")
    return turn


async def sdk_turn(client: Any, model: str = SDK_MODEL) -> Turn:
    """The baseline: the raw ``openai`` stream, with when each content chunk arrived."""
    turn = Turn(t0=time.monotonic())
    stream = await client.chat.completions.create(model=model, messages=MESSAGES, stream=True)
    async with stream:
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                turn.chunks.append(ms_since(turn.t0))
    return turn
