"""``turn_cpu``: the server's CPU per turn and per chunk, against the minimal relay in the same run.

The playground (``python app.py``'s app, one process) and the ``scale`` relay (one shared SDK
client), each in its own process, against the same fake upstream, which answers at once (CPU is
measured, not waiting). Rounds of ``CONCURRENT`` turns at a time, first with ``SHORT`` chunks
per answer, then with ``LONG``: per turn is the server's user + system CPU over the short rounds
divided by their turns; per chunk is the difference the longer answers make, per extra chunk.

``python -m benchmarks.turn_cpu --profile`` also samples the playground with py-spy
(``pip install py-spy``) through its short rounds and prints where their CPU went: the functions
with the most samples on the CPU, by their own time and with what they call.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from benchmarks.common import (
    MODEL,
    UNLIMITED,
    BenchFakeOpenAI,
    Row,
    api_turn,
    openai_env,
    print_rows,
)
from benchmarks.scale import cpu_s, served_process
from tests.fakes.openai_server import Reply

CONCURRENT, TURNS, SHORT, LONG = 20, 200, 20, 200


def _serve(kind: str) -> list[str]:
    return [sys.executable, "-m", "benchmarks.serve", kind]


async def _turns(url: str, count: int) -> None:
    limits = httpx.Limits(max_connections=CONCURRENT, max_keepalive_connections=CONCURRENT)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        slots = asyncio.Semaphore(CONCURRENT)

        async def one() -> None:
            async with slots:
                await api_turn(http, url, {"message": "hi", "model": MODEL})

        await asyncio.gather(*(one() for _ in range(count)))


def _cpu_of(fake: BenchFakeOpenAI, url: str, pid: int, chunks: int) -> float:
    """The server's CPU seconds for ``TURNS`` turns of ``chunks`` chunks each."""
    fake.default_reply = Reply(chunks=[f" w{i}" for i in range(chunks)])
    asyncio.run(_turns(url, CONCURRENT))  # warm: connection pools, first-call caches
    before = cpu_s(pid)
    asyncio.run(_turns(url, TURNS))
    return cpu_s(pid) - before


def _measure(
    fake: BenchFakeOpenAI, url: str, pid: int, profile: Path | None = None
) -> tuple[float, float]:
    """(ms per turn of ``SHORT`` chunks, ms per extra chunk); ``profile``: where to keep
    py-spy's samples of the short rounds (what each turn costs, beyond its chunks)."""
    with _sampled(pid, profile) if profile is not None else contextlib.nullcontext():
        short = _cpu_of(fake, url, pid, SHORT)
    long = _cpu_of(fake, url, pid, LONG)
    return short / TURNS * 1000, (long - short) / (TURNS * (LONG - SHORT)) * 1000


@contextmanager
def _sampled(pid: int, out: Path) -> Iterator[None]:
    """py-spy sampling ``pid`` (on-CPU stacks only) into ``out`` until the block ends."""
    spy = subprocess.Popen(
        ["py-spy", "record", "--pid", str(pid), "--format", "raw", "--rate", "250",
         "--output", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes its samples on Ctrl-C
        spy.wait(timeout=60)


def _print_profile(path: Path, top: int = 30) -> None:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        # By function, not by line: "name (path:line)" without its line.
        frames, n = [f.rpartition(":")[0] + ")" for f in stack.split(";")], int(count)
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    print(f"turn_cpu: {total} samples on the CPU")
    print("  by their own time:")
    for frame, n in own.most_common(top):
        print(f"    {n / total:6.1%}  {frame}")
    print("  with what they call (the playground's own functions):")
    ours = [(f, n) for f, n in inclusive.most_common() if "playground/" in f]
    for frame, n in ours[:top]:
        print(f"    {n / total:6.1%}  {frame}")


def run(profile: bool = False) -> list[Row]:
    with BenchFakeOpenAI() as fake, tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, **UNLIMITED, **openai_env(fake)}
        with served_process(_serve("relay"), env) as (url, pid):
            relay = _measure(fake, url, pid)
        samples = Path(folder) / "profile.txt" if profile else None
        with served_process(_serve("playground"), env) as (url, pid):
            ours = _measure(fake, url, pid, samples)
        if samples is not None:
            _print_profile(samples)
    return [
        Row("turn_cpu", f"server CPU per turn ({SHORT} chunks)", ours[0], "ms", relay[0]),
        Row("turn_cpu", "server CPU per extra chunk", ours[1], "ms", relay[1]),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", action="store_true", help="sample with py-spy")
    print_rows(run(parser.parse_args().profile))
