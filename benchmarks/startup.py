"""``startup``: ``python app.py --port N`` until ``/healthz`` answers, as a user starts it.

Each run spawns the real entry point (in a scratch directory, so no ``.env`` is read), polls
``/healthz`` and stops the process. Baseline: the same for a bare ``gr.ChatInterface`` mounted
on FastAPI (``benchmarks.serve minimal-chat``), i.e. what Gradio alone costs to start.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

from benchmarks.common import REPO, Row, free_port, stop, wait_healthy

RUNS, TARGET_S = 3, 5.0


def _start_seconds(args: list[str], cwd: str, **env: str) -> float:
    port = free_port()
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, *args, "--port", str(port)],
        cwd=cwd,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", process, timeout=60)
        return time.monotonic() - started
    finally:
        stop(process)


def run() -> list[Row]:
    ours: list[float] = []
    bare: list[float] = []
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(RUNS):
            ours.append(_start_seconds([str(REPO / "app.py")], scratch))
            bare.append(
                _start_seconds(
                    ["-m", "benchmarks.serve", "minimal-chat"],
                    str(REPO),
                    OPENAI_API_KEY="sk-unused",  # never called: nothing is asked
                    OPENAI_BASE_URL="http://127.0.0.1:9/v1",
                )
            )
    print(
        "startup: app.py "
        + ", ".join(f"{s:.2f}" for s in ours)
        + " s; bare Gradio app "
        + ", ".join(f"{s:.2f}" for s in bare)
        + " s"
    )
    return [
        Row(
            "startup",
            "python app.py → /healthz, median",
            statistics.median(ours),
            "s",
            statistics.median(bare),
            f"≤ {TARGET_S:g} s",
            statistics.median(ours) <= TARGET_S,
        ),
        Row(
            "startup",
            "python app.py → /healthz, worst",
            max(ours),
            "s",
            max(bare),
            f"≤ {TARGET_S:g} s",
            max(ours) <= TARGET_S,
        ),
    ]
