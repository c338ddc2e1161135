"""``python -m benchmarks [NAME ...]``: run the benchmarks and print one markdown table.

With no name every benchmark runs, each in its own subprocess (so one's threads, models and
servers cannot skew the next) under a time limit; named ones run in this process. Benchmarks:
api, concurrency, long, disconnect, local, startup, voice, voice_loop, ui, ui_page, arena_page,
player, voice_page, mic_transport, scale, turn_cpu.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import Row, clean_environment, print_rows

BENCHMARKS = (
    "api",
    "concurrency",
    "long",
    "disconnect",
    "local",
    "startup",
    "voice",
    "voice_loop",
    "ui",
    "ui_page",
    "arena_page",
    "player",
    "voice_page",
    "mic_transport",
    "scale",
    "turn_cpu",
)
TIME_LIMIT_S = 170.0


def run_here(name: str) -> list[Row]:
    module = importlib.import_module(f"benchmarks.{name}")
    started = time.monotonic()
    rows: list[Row] = module.run()
    print(f"[{name}: {time.monotonic() - started:.1f} s, load average {_load()}]", flush=True)
    return rows


def run_isolated(name: str) -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rows.json"
        command = [sys.executable, "-m", "benchmarks", name, "--rows-out", str(out)]
        try:
            subprocess.run(command, check=True, timeout=TIME_LIMIT_S)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            print(f"[{name} failed: {exc}]", flush=True)
            return [Row(name, "did not finish", float("nan"), "", ok=False)]
        return [Row(**item) for item in json.loads(out.read_text())]


def _load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default: all)")
    parser.add_argument("--rows-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if unknown := sorted(set(args.names) - set(BENCHMARKS)):
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    clean_environment()
    started = time.monotonic()
    if args.names:
        rows = [row for name in args.names for row in run_here(name)]
    else:
        rows = [row for name in BENCHMARKS for row in run_isolated(name)]
    if args.rows_out is not None:
        args.rows_out.write_text(json.dumps([r.to_json() for r in rows]))
        return
    print(f"\n{os.cpu_count()} cores; {time.monotonic() - started:.0f} s; load average {_load()}\n")
    print_rows(rows)


if __name__ == "__main__":
    main()
