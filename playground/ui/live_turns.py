"""Page turns that outlive the page: a refresh resumes them, and every run becomes a cell.

A turn started from the page runs on its own task and keeps its events in a ``LiveTurn``. The
page *follows* it; when the last follower goes (the tab was refreshed or closed) the turn gets
``grace_s`` to be followed again — the reloaded page finds it with ``orphaned`` and replays it
from the start — before it is stopped, keeping its partial answer. However it ends (complete,
stopped, failed), the run is recorded as a cell in its owner's notebook, so nothing is lost to
a refresh or a closed tab. Stop is explicit (``LiveTurn.stop``) and closes the upstream at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Literal

from playground.errors import ConfigError
from playground.notebook.access import Notebooks
from playground.notebook.model import Notebook, RunCell, cell_from_run
from playground.prompts.library import PromptLibrary
from playground.turn.events import Event
from playground.turn.request import TurnRequest
from playground.turn.runner import PreparedTurn, TurnRunner

__all__ = ["RECORD_WAIT_S", "LiveTurn", "LiveTurns", "TurnKind"]

log = logging.getLogger("playground")

TurnKind = Literal["chat", "rerun"]
_SHUTDOWN_S = 5.0
RECORD_WAIT_S = 5.0  # how long a page waits for a finished run's cell to be stored
_MAX_CHAT_OWNERS = 10_000


@dataclass(eq=False)
class LiveTurn:
    owner: str | None
    kind: TurnKind
    request: TurnRequest
    prepared: PreparedTurn
    events: list[Event] = field(default_factory=list)
    done: bool = False
    cell: RunCell | None = None  # the notebook cell, once recorded
    notebook: Notebook | None = None  # the owner's notebook as stored with that cell
    followers: int = 0
    task: asyncio.Task[None] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _recorded: asyncio.Event = field(default_factory=asyncio.Event)
    _grace: asyncio.TimerHandle | None = None

    def stop(self) -> None:
        """End the turn now, keeping what arrived (the upstreams close; the log still ends with
        a stopped completion). Safe to call more than once or after the end."""
        if not self.done:
            self.prepared.request_stop()

    def append(self, event: Event) -> None:
        self.events.append(event)
        self._wake()

    def finish(self) -> None:
        self.done = True
        self._wake()

    def _wake(self) -> None:
        # One event per change: waiters on the old one wake, new waits use the new one.
        self._changed.set()
        self._changed = asyncio.Event()

    async def events_from(self, start: int = 0) -> AsyncGenerator[Event]:
        """Every event from index ``start``, then live ones until the turn ends."""
        index = start
        while True:
            while index < len(self.events):
                yield self.events[index]
                index += 1
            if self.done:
                return
            await self._changed.wait()

    async def recorded(self, wait_s: float = RECORD_WAIT_S) -> RunCell | None:
        """The turn's notebook cell once it is stored (None if it was not, or not in ``wait_s``)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._recorded.wait(), wait_s)
        return self.cell


class LiveTurns:
    """The page's running turns, by owner (the browser's notebook id)."""

    def __init__(
        self,
        runner: TurnRunner,
        *,
        notebooks: Notebooks | None,
        prompts: PromptLibrary | None = None,
        grace_s: float,
    ) -> None:
        self.runner = runner
        self.notebooks = notebooks
        self.prompts = prompts
        self.grace_s = grace_s
        self._running: dict[str, list[LiveTurn]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Each owner's newest chat cell: the conversation a reloaded page continues, known here
        # the moment it is stored (the page's own note of it may not have been saved yet).
        self._chat_cells: OrderedDict[str, str] = OrderedDict()

    def chat_cell(self, owner: str) -> str | None:
        return self._chat_cells.get(owner)

    def forget_chat(self, owner: str | None) -> None:
        """The owner cleared the conversation: a reload starts a new one."""
        if owner is not None:
            self._chat_cells.pop(owner, None)

    def start(
        self,
        owner: str | None,
        kind: TurnKind,
        request: TurnRequest,
        prepared: PreparedTurn,
        *,
        started_at: float | None = None,
    ) -> LiveTurn:
        live = LiveTurn(owner=owner, kind=kind, request=request, prepared=prepared)
        if owner is not None:
            self._running.setdefault(owner, []).append(live)
        when = time.monotonic() if started_at is None else started_at
        live.task = asyncio.create_task(self._run(live, when))
        self._tasks.add(live.task)
        live.task.add_done_callback(self._tasks.discard)
        return live

    def orphaned(self, owner: str) -> list[LiveTurn]:
        """The owner's running turns that nobody follows (their page went away), oldest first."""
        return [t for t in self._running.get(owner, ()) if t.followers == 0 and not t.done]

    async def follow(self, live: LiveTurn, start: int = 0) -> AsyncGenerator[Event]:
        """Follow ``live`` for one page; leaving starts its grace period."""
        live.followers += 1
        if live._grace is not None:
            live._grace.cancel()
            live._grace = None
        try:
            async for event in live.events_from(start):
                yield event
        finally:
            live.followers -= 1
            if live.followers == 0 and not live.done:
                self._start_grace(live)

    def _start_grace(self, live: LiveTurn) -> None:
        # A turn without an owner (an API client of the page) can never be found again.
        if self.grace_s <= 0 or live.owner is None:
            live.stop()
            return
        live._grace = asyncio.get_running_loop().call_later(self.grace_s, self._expire, live)

    @staticmethod
    def _expire(live: LiveTurn) -> None:
        live._grace = None
        if live.followers == 0:
            live.stop()

    async def _run(self, live: LiveTurn, started_at: float) -> None:
        try:
            async for event in self.runner.stream(live.prepared, started_at=started_at):
                live.append(event)
        finally:
            live.finish()
            if live._grace is not None:
                live._grace.cancel()
                live._grace = None
            self._forget(live)
            try:
                await self._record(live)
            finally:
                live._recorded.set()

    def _forget(self, live: LiveTurn) -> None:
        if live.owner is None:
            return
        turns = self._running.get(live.owner, [])
        if live in turns:
            turns.remove(live)
        if not turns:
            self._running.pop(live.owner, None)

    async def _record(self, live: LiveTurn) -> None:
        if live.owner is None or self.notebooks is None or not live.events:
            return
        try:
            cell = cell_from_run(live.request, live.events, prompts=self.prompts)
            live.notebook = await self.notebooks.append(live.owner, cell)
        except ConfigError as exc:
            log.warning("a run could not be added to its notebook: %s", exc.message)
            return
        except OSError as exc:  # the notebook file: full disk, read-only folder
            log.warning("a run could not be saved to its notebook: %s", exc)
            return
        live.cell = cell
        if live.kind == "chat":
            self._chat_cells[live.owner] = cell.id
            self._chat_cells.move_to_end(live.owner)
            while len(self._chat_cells) > _MAX_CHAT_OWNERS:
                self._chat_cells.popitem(last=False)

    async def aclose(self) -> None:
        """Stop every running turn and let it record its cell (cancel what will not end)."""
        tasks = list(self._tasks)
        for turns in self._running.values():
            for live in turns:
                live.stop()
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=_SHUTDOWN_S)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
