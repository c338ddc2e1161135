"""Test helpers: a live uvicorn server on loopback, an SSE reader, and test services."""

from __future__ import annotations

import json
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from playground.services import Services, make_services
from playground.settings import Settings


def make_settings(**values: Any) -> Settings:
    # Each set of services its own notebook file, so runs never leak between tests.
    values.setdefault(
        "playground_notebook_db",
        str(
            Path(tempfile.mkdtemp(prefix="sp-nb-", dir=os.environ.get("SP_TEST_SCRATCH")))
            / "nb.sqlite3"
        ),
    )
    # The shipped prompt folder is never written by a test: one that saves uses a copy.
    values.setdefault("playground_prompts_writable", False)
    # _env_file=None: a developer's .env must never leak into a test.
    return Settings(_env_file=None, **values)


def make_test_services(**values: Any) -> Services:
    return make_services(make_settings(**values))


@contextmanager
def live_server(app: Any, port: int = 0) -> Iterator[str]:
    """Serve an ASGI app on 127.0.0.1:<port> (a free one by default) in a thread; yields the
    base URL. A given port lets a restarted server answer on the same origin."""
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets whose proto says TCP.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60  # start-up under a loaded machine
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass; True if it held."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@dataclass(frozen=True)
class SSEEvent:
    id: str | None
    event: str
    data: Any


def parse_sse_lines(lines: Iterator[str]) -> Iterator[SSEEvent]:
    frame_id: str | None = None
    name = "message"
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                yield SSEEvent(frame_id, name, json.loads("\n".join(data)))
            frame_id, name, data = None, "message", []
        elif line.startswith(":"):
            continue
        else:
            key, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if key == "id":
                frame_id = value
            elif key == "event":
                name = value
            elif key == "data":
                data.append(value)


def stream_events(
    base_url: str,
    body: dict[str, Any],
    *,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> tuple[httpx.Response, list[SSEEvent]]:
    with (
        httpx.Client(timeout=timeout) as client,
        client.stream(
            "POST",
            f"{base_url}/v1/interact/stream",
            json=body,
            headers={"Accept": "text/event-stream", **(headers or {})},
        ) as response,
    ):
        if response.status_code != 200:
            response.read()
            return response, []
        return response, list(parse_sse_lines(response.iter_lines()))
