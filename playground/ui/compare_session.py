"""The "Streaming vs complete" tab's session and driver.

``CompareSession`` (a ``gr.State``) holds one ``compare`` run (both requests, N rounds) at a time;
``drive_compare`` runs it on its own task and yields ``CompareFrame``s: its panes throttled like
the chat, its results (tiles, timelines, distribution, diff) when a round ends and now and then.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from playground.catalog import Credentials
from playground.errors import ConfigError
from playground.turn.compare import CompareProgress, compare
from playground.turn.events import TurnFailed
from playground.turn.gate import TurnGate, TurnRefused
from playground.turn.request import TurnRequest
from playground.turn.runner import TurnRunner
from playground.ui.outputs import CompareSlots
from playground.ui.session import request_error_code
from playground.ui.throttle import END, WAKE, Throttle, halt, next_item

__all__ = ["CompareFrame", "CompareRun", "CompareSession", "drive_compare"]


@dataclass(eq=False)
class CompareRun:
    """One press of Run: ``compare``'s progress so far, or why it could not start."""

    message: str
    repeat: int
    started_at: float = field(default_factory=time.monotonic)
    progress: CompareProgress | None = None
    error: TurnFailed | None = None  # the request could not start (bad key, prompt...)
    stopped: bool = False
    finished: bool = False

    def elapsed_ms(self, now: float | None = None) -> float:
        return ((time.monotonic() if now is None else now) - self.started_at) * 1000


@dataclass
class CompareSession:
    """The comparison tab's per-session state (a ``gr.State`` of its own)."""

    run: CompareRun | None = None
    wake: Callable[[], None] | None = None
    # The tab's four outputs as last sent, resent unchanged (see ``SessionState.frame_values``).
    shown: CompareSlots[str] | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> CompareSession:
        return CompareSession()

    def begin(self, message: str, repeat: int) -> CompareRun:
        self.stop()  # one comparison at a time: a new Run ends the one still running
        self.run = CompareRun(message=message, repeat=repeat)
        self.shown = None
        return self.run

    def refuse(self, message: str, repeat: int, exc: ConfigError) -> CompareFrame:
        """A request that cannot start (a wrong value from a script, an unknown prompt): shown
        as the run's error, like the chat's, never raised into Gradio's error toast."""
        run = self.begin(message, repeat)
        run.error = TurnFailed(
            code=request_error_code(exc), message=exc.message, retryable=False, stage="request"
        )
        run.finished = True
        return CompareFrame(panes=True, results=True, final=True)

    def stop(self) -> None:
        """Stop the running comparison, keeping the rounds that finished. Safe when idle."""
        if self.run is not None and not self.run.finished:
            self.run.stopped = True
        if self.wake is not None:
            self.wake()


@dataclass(frozen=True, slots=True)
class CompareFrame:
    panes: bool  # the two answers (and their timing lines)
    results: bool  # tiles, timelines, distribution and diff
    final: bool


async def drive_compare(
    runner: TurnRunner,
    session: CompareSession,
    request: TurnRequest,
    creds: Credentials,
    *,
    repeat: int = 1,
    gate: TurnGate | None = None,
    client: str = "",
    pane_interval: float = 0.05,
    results_interval: float = 0.25,
) -> AsyncIterator[CompareFrame]:
    """Run ``compare`` on its own task and yield throttled frames: the panes at most every
    ``pane_interval`` (the first text of each run at once), the results when a round finishes
    and at most every ``results_interval`` otherwise, and always one final frame."""
    run = session.begin(request.message, repeat)
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()

    async def pump() -> None:
        try:
            runs = compare(runner, request, creds, repeat=repeat, gate=gate, client=client)
            async for progress in runs:
                run.progress = progress
                queue.put_nowait(progress)
        except ConfigError as exc:
            run.error = TurnFailed(
                code=request_error_code(exc), message=exc.message, retryable=False, stage="request"
            )
        except TurnRefused as exc:
            run.error = TurnFailed(
                code=exc.category.value, message=exc.message, retryable=True, stage="request"
            )
        finally:
            queue.put_nowait(END)

    def wake() -> None:
        loop.call_soon_threadsafe(queue.put_nowait, WAKE)

    task = asyncio.create_task(pump())
    session.wake = wake
    throttle = Throttle(pane_interval, results_interval)
    last_key = (0, False, False)
    try:
        while True:
            item = await next_item(queue, throttle.wait())
            if item is END or run.stopped or session.run is not run:
                break
            urgent = False
            if isinstance(item, CompareProgress):
                throttle.mark(True, True)
                # A finished round, a new round, or either run's first text goes out at once.
                key = (len(item.rounds), bool(item.streaming.chunks), bool(item.complete.chunks))
                urgent, last_key = key != last_key, key
            send_panes, send_results = throttle.take(urgent_fast=urgent, urgent_slow=urgent)
            if send_panes or send_results:
                yield CompareFrame(panes=send_panes, results=send_results, final=False)
        await halt(task)
        if session.wake is wake:
            session.wake = None
        if session.run is run:  # not replaced by a newer Run
            run.finished = True
            yield CompareFrame(panes=True, results=True, final=True)
    finally:
        await halt(task)
        if session.wake is wake:
            session.wake = None
        run.finished = True
