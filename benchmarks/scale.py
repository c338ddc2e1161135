"""``scale``: 100 and 200 simultaneous streams, first chunk against the upstream's 0.3 s.

Three servers, each in its own processes, measured in the same run against the same fake
upstream (its first chunk 0.3 s after the request, then 20 more 20 ms apart): the playground as
one process (``python app.py``'s app), the HTTP API as two workers sharing Redis
(``python -m playground.api --workers 2`` and a ``redis-server``), and a minimal FastAPI relay
with one shared SDK client (the baseline). Each round launches N turns together from one asyncio
client; a stream's first chunk counts from the round's launch. Also the server's CPU seconds per
turn (its processes' user + system time over the rounds, divided by the turns). On this 2-core
machine the load generator, the fake upstream and the servers share the cores.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from benchmarks.common import (
    MODEL,
    REPO,
    UNLIMITED,
    BenchFakeOpenAI,
    Row,
    api_turn,
    free_port,
    openai_env,
    p50,
    p95,
    stop,
    wait_healthy,
)
from tests.fakes.openai_server import Reply

COUNTS, ROUNDS, UPSTREAM_MS, TARGET_MS = (100, 200), 3, 300.0, 100.0
REPLY = Reply(chunks=[f" word{i}" for i in range(20)], delay=0.02, first_delay=UPSTREAM_MS / 1000)


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its children (the workers of a master)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(c) for c in children.read_text().split()]
    for one in pids:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


@contextmanager
def served_process(args: list[str], env: dict[str, str]) -> Iterator[tuple[str, int]]:
    """``args`` serving on a free port until the block ends; its URL and process id."""
    port = free_port()
    process = subprocess.Popen([*args, "--port", str(port)], cwd=REPO, env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(f"{url}/healthz", process)
        yield url, process.pid
    finally:
        stop(process)


@contextmanager
def _redis() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(process)


async def _round(url: str, count: int) -> list[float]:
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        launch = time.monotonic()
        turns = await asyncio.gather(
            *(api_turn(http, url, {"message": "hi", "model": MODEL}) for _ in range(count))
        )
    return [(t.t0 - launch) * 1000 + t.chunks[0] for t in turns]


def _measure(url: str, pid: int, count: int) -> tuple[list[float], float]:
    asyncio.run(_round(url, min(count, 20)))  # warm up: first calls, connection pools
    before = cpu_s(pid)
    firsts: list[float] = []
    for _ in range(ROUNDS):
        firsts += asyncio.run(_round(url, count))
    return firsts, (cpu_s(pid) - before) / (ROUNDS * count)


def run() -> list[Row]:
    if shutil.which("redis-server") is None:
        raise RuntimeError("scale needs redis-server (apt-get install redis-server)")
    rows: list[Row] = []
    with BenchFakeOpenAI() as fake, _redis() as redis_url:
        fake.default_reply = REPLY
        env = {**os.environ, **UNLIMITED, **openai_env(fake)}
        servers = {
            "relay": [sys.executable, "-m", "benchmarks.serve", "relay"],
            "one process": [sys.executable, "-m", "benchmarks.serve", "playground"],
            "2 API workers + Redis": [
                sys.executable,
                "-m",
                "playground.api",
                "--workers",
                "2",
            ],
        }
        results: dict[tuple[str, int], tuple[list[float], float]] = {}
        for name, args in servers.items():
            server_env = {**env, "PLAYGROUND_REDIS_URL": redis_url} if "Redis" in name else env
            with served_process(args, server_env) as (url, pid):
                for count in COUNTS:
                    results[(name, count)] = _measure(url, pid, count)
    for count in COUNTS:
        relay = p95(results[("relay", count)][0])
        print(f"scale: {count} streams, {ROUNDS} rounds; first chunk p50 / p95 (upstream 300 ms):")
        for name in servers:
            firsts, cpu = results[(name, count)]
            print(
                f"  {name}: {p50(firsts):.0f} / {p95(firsts):.0f} ms, "
                f"CPU {cpu * 1000:.1f} ms per turn"
            )
        for name in ("one process", "2 API workers + Redis"):
            firsts, cpu = results[(name, count)]
            ours = p95(firsts)
            rows.append(
                Row(
                    "scale",
                    f"first chunk p95, {count} streams, {name} (CPU {cpu * 1000:.1f} ms/turn)",
                    ours,
                    "ms",
                    relay,
                    f"≤ {UPSTREAM_MS + TARGET_MS:.0f} ms and < relay",
                    ours <= UPSTREAM_MS + TARGET_MS and ours < relay,
                )
            )
    return rows
