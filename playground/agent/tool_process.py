"""Worker processes for CPU-bound tools, so that a tool's timeout really stops its work.

A thread cannot be stopped: ``asyncio.wait_for`` over ``to_thread`` abandons the await but the
thread keeps computing, and one long C-level operation (a big-integer power) holds the GIL and
freezes every other request. A worker process can be killed. Workers are started lazily on first
use (about a third of a second), reused between calls, and a few are kept idle; a call that
times out or is cancelled kills its worker, and the next call starts a fresh one.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playground.agent.tool_types import ToolError

__all__ = ["ToolProcessError", "ToolProcesses"]

# The directory holding the ``playground`` package, so the worker imports this same copy.
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent.parent)


class ToolProcessError(Exception):
    """The worker failed (a bug in the tool, or the process died); not the model's fault."""


class _Worker:
    """One child process and its pipes; ``ask`` blocks, so it runs on a thread."""

    def __init__(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH", "")) if p
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "playground.agent.tool_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            env=env,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def ask(self, request: str) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            self.process.stdin.write(request + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
        except (BrokenPipeError, ValueError):  # ValueError: the pipe was closed by ``close``
            line = ""
        if not line:
            # Killed at its timeout, or crashed: reap it here, off the event loop.
            self.close()
            raise ToolProcessError(f"the worker process exited (code {self.process.returncode})")
        reply = json.loads(line)
        assert isinstance(reply, dict)
        return reply

    def kill(self) -> None:
        """Stop the work now; the thread in ``ask`` then sees end-of-file and reaps the child."""
        self.process.kill()

    def close(self) -> None:
        for pipe in (self.process.stdin, self.process.stdout):
            try:
                if pipe is not None:
                    pipe.close()
            except OSError:
                pass  # a broken pipe on close: the child is gone, which is what we want
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class ToolProcesses:
    """A lazily started, reused set of worker processes for CPU-bound tools."""

    def __init__(self, *, keep_idle: int = 2) -> None:
        self._keep_idle = keep_idle
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self.started = 0  # how many workers were ever started (tests check reuse)
        self.last_pid: int | None = None  # the worker the latest call ran on
        atexit.register(self.close)

    async def call(
        self, run: Callable[[dict[str, Any]], str], arguments: dict[str, Any], timeout_s: float
    ) -> str:
        """``run(arguments)`` in a worker; raises ``TimeoutError`` (the worker is killed),
        ``ToolError`` (bad input) or ``ToolProcessError``."""
        request = json.dumps(
            {"function": f"{run.__module__}:{run.__qualname__}", "arguments": arguments}
        )
        taking = asyncio.ensure_future(asyncio.to_thread(self._take))
        try:
            worker = await asyncio.shield(taking)
        except asyncio.CancelledError:
            # Cancelled while the process was starting: keep it for the next call, not leaked.
            taking.add_done_callback(self._keep_started)
            raise
        self.last_pid = worker.pid
        try:
            reply = await asyncio.wait_for(asyncio.to_thread(worker.ask, request), timeout_s)
        except BaseException:
            worker.kill()  # timed out or cancelled: the work must not go on without us
            raise
        await asyncio.to_thread(self._give_back, worker)
        if "output" in reply:
            return str(reply["output"])
        if "tool_error" in reply:
            raise ToolError(str(reply["tool_error"]))
        raise ToolProcessError(str(reply.get("failure", reply)))

    def _take(self) -> _Worker:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            self.started += 1
        return _Worker()

    def _keep_started(self, taking: asyncio.Future[_Worker]) -> None:
        if not taking.cancelled() and taking.exception() is None:
            self._give_back(taking.result())

    def _give_back(self, worker: _Worker) -> None:
        with self._lock:
            if len(self._idle) < self._keep_idle:
                self._idle.append(worker)
                return
        worker.close()

    def close(self) -> None:
        """End the idle workers (busy ones end when their call does)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.close()
