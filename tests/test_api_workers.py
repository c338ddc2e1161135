"""``python -m playground.api --workers N``: the HTTP API alone from N worker processes on one
port, sharing their limits and turns through a real ``redis-server``. The concurrency cap holds
across the workers, a turn left after its first chunk resumes on a new connection (whichever
worker takes it) with nothing lost, and more than one worker without Redis is refused."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.redis_support import RedisServer, free_port
from tests.support import parse_sse_lines, wait_until

ROOT = Path(__file__).resolve().parent.parent
BODY = {"message": "count", "model": "openai:gpt-4o-mini", "voice": None}


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLAYGROUND_", "OPENAI_"))}
    return {
        **env,
        "PLAYGROUND_NOTEBOOK_DB": str(tmp_path / "nb.sqlite3"),
        "NO_PROXY": "127.0.0.1,localhost",
        **values,
    }


def test_more_than_one_worker_without_redis_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "playground.api", "--workers", "2"],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "--workers above 1 needs PLAYGROUND_REDIS_URL" in done.stderr


@pytest.fixture
def workers(redis_server: RedisServer, tmp_path: Path) -> Iterator[tuple[str, FakeOpenAI]]:
    with FakeOpenAI() as fake:
        port = free_port()
        env = _env(
            tmp_path,
            OPENAI_API_KEY="test-key",
            OPENAI_BASE_URL=fake.base_url,
            PLAYGROUND_REDIS_URL=redis_server.url,
        )
        server = subprocess.Popen(
            [sys.executable, "-m", "playground.api", "--workers", "2", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            assert wait_until(lambda: _healthy(url), 180), "the workers did not start"
            children = subprocess.run(
                ["ps", "--ppid", str(server.pid), "-o", "pid="], capture_output=True, text=True
            ).stdout.split()
            assert len(children) >= 2, "two worker processes serve the port"
            yield url, fake
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()


def test_the_workers_share_one_concurrency_cap_and_every_turn(
    workers: tuple[str, FakeOpenAI],
) -> None:
    url, fake = workers
    gate = threading.Event()
    for _ in range(5):
        fake.enqueue(Reply(chunks=["One ", "two ", "three."], gate=gate, gate_after=1))
    # Each turn on a connection of its own: the kernel spreads them over the two workers.
    clients = [httpx.Client(timeout=30) for _ in range(4)]
    streams = [c.stream("POST", f"{url}/v1/interact/stream", json=BODY) for c in clients]
    try:
        opened = [s.__enter__() for s in streams]
        assert [r.status_code for r in opened] == [200] * 4
        with httpx.Client(timeout=30) as fifth:
            refused = fifth.post(f"{url}/v1/interact/stream", json=BODY)
        assert refused.status_code == 429, refused.text
        # The first turn, left after its first chunk, resumes on a new connection.
        events = parse_sse_lines(opened[0].iter_lines())
        turn_id = next(e for e in events if e.event == "completion-start").data["turn_id"]
        first = next(e for e in events if e.event == "completion-continue")
        streams[0].__exit__(None, None, None)
        gate.set()
        for _ in range(3):  # whichever worker takes the connection
            with (
                httpx.Client(timeout=30) as again,
                again.stream(
                    "GET",
                    f"{url}/v1/turns/{turn_id}/events",
                    headers={"Last-Event-ID": str(first.id)},
                ) as resumed,
            ):
                rest = list(parse_sse_lines(resumed.iter_lines()))
            texts = [e.data["text"] for e in rest if e.event == "completion-continue"]
            assert texts == ["two ", "three."], [e.event for e in rest]
            assert rest[-1].event == "end"
    finally:
        gate.set()
        for stream in streams[1:]:
            stream.__exit__(None, None, None)
        for client in clients:
            client.close()
