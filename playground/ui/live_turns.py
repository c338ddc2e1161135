"""Page turns that outlive the page: a refresh resumes them, and every run becomes a cell.

A turn started from the page runs on its own task and keeps its events in a ``LiveTurn``. The
page *follows* it; when the last follower goes (the tab was refreshed or closed) the turn gets
``grace_s`` to be followed again — the reloaded page finds it with ``orphaned`` and replays it
from the start — before it is stopped, keeping its partial answer. However it ends (complete,
stopped, failed), the run is recorded as a cell in its owner's notebook, so nothing is lost to
a refresh or a closed tab. Stop is explicit (``LiveTurn.stop``) and closes the upstream at once.

The log itself (following, grace, stop, shutdown) is ``playground.turn.log``, shared with the
HTTP API; what is here is the page's part: the notebook cell and the chat a reload continues.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Literal

from playground.errors import ConfigError
from playground.notebook.access import Notebooks
from playground.notebook.model import Notebook, RunCell, cell_from_run
from playground.prompts.library import PromptLibrary
from playground.turn.events import Event
from playground.turn.gate import TurnGate
from playground.turn.log import TurnLog, TurnLogs
from playground.turn.recovery import Recovery, plan_recovery
from playground.turn.request import TurnRequest
from playground.turn.runner import PreparedTurn, TurnRunner

__all__ = ["RECORD_WAIT_S", "LiveTurn", "LiveTurns", "TurnKind"]

log = logging.getLogger("playground")

TurnKind = Literal["chat", "rerun"]
RECORD_WAIT_S = 5.0  # how long a page waits for a finished run's cell to be stored
_MAX_CHAT_OWNERS = 10_000


@dataclass(eq=False, kw_only=True)
class LiveTurn(TurnLog):
    """A page's turn: its log, and what the page needs to show and record it."""

    kind: TurnKind
    request: TurnRequest
    # Counts the turn out of the client's limits (TurnGate) once it has ended, however.
    release: Callable[[], None] = field(default=lambda: None, repr=False)
    cell: RunCell | None = None  # the notebook cell, once recorded
    notebook: Notebook | None = None  # the owner's notebook as stored with that cell
    _recorded: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def is_recorded(self) -> bool:
        """Its recording is over: the cell stored, or known never to be."""
        return self._recorded.is_set()

    async def recorded(self, wait_s: float = RECORD_WAIT_S) -> RunCell | None:
        """The turn's notebook cell once it is stored (None if it was not, or not in ``wait_s``)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._recorded.wait(), wait_s)
        return self.cell


class LiveTurns:
    """The page's running turns, by owner (the browser's notebook id), on a shared ``TurnLogs``."""

    def __init__(
        self,
        runner: TurnRunner,
        *,
        notebooks: Notebooks | None,
        prompts: Callable[[], PromptLibrary] | None = None,
        grace_s: float,
        gate: TurnGate | None = None,
    ) -> None:
        self.runner = runner
        # The same per-client limits as the HTTP API (one limiter behind both).
        self.gate = gate or TurnGate(None)
        self.notebooks = notebooks
        self.prompts = prompts
        self.grace_s = grace_s
        # The page holds its runs itself, so no finished log is retained here.
        self.logs: TurnLogs[LiveTurn] = TurnLogs(grace_s=grace_s, on_finished=self._finished)
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
        client: str,
        started_at: float | None = None,
    ) -> LiveTurn:
        """Start a page turn for ``client`` (who is asking, for the limits): raises
        ``TurnRefused`` when that client is over its rate or concurrency limit."""
        release = self.gate.enter(client)
        # A turn without an owner (an API client of the page) can never be found again.
        live = LiveTurn(
            turn_id=prepared.turn_id,
            owner=owner,
            turn=prepared,
            resumable=owner is not None,
            kind=kind,
            request=request,
            release=release,
        )
        when = time.monotonic() if started_at is None else started_at
        return self.logs.start(live, self.runner.stream(prepared, started_at=when))

    def orphaned(self, owner: str) -> list[LiveTurn]:
        """The owner's running turns that nobody follows (their page went away), oldest first."""
        return [t for t in self.logs.running(owner) if t.followers == 0]

    def recover(self, owner: str, stored_chat_cell: str | None) -> Recovery[LiveTurn]:
        """What the owner's reloaded page picks up: the runs its last page left going, and the
        conversation it continues (the newest chat cell known here, else the stored one).

        Every running turn of the owner counts, followed or not: a refreshed page's old
        connection is only noticed as closed at its next frame, which can come after the new
        page has loaded — waiting for it to leave would lose the run. (Two open tabs of one
        browser both show it, which is what they share anyway.)"""
        return plan_recovery(
            self.logs.running(owner),
            known_chat_cell=self.chat_cell(owner),
            stored_chat_cell=stored_chat_cell,
        )

    async def follow(self, live: LiveTurn, start: int = 0) -> AsyncGenerator[Event]:
        """Follow ``live`` for one page; leaving starts its grace period."""
        with self.logs.following(live):
            async for event in live.events_from(start):
                yield event

    async def _finished(self, live: LiveTurn) -> None:
        live.release()
        try:
            await self._record(live)
        finally:
            live._recorded.set()

    async def _record(self, live: LiveTurn) -> None:
        if live.owner is None or self.notebooks is None or not live.events:
            return
        try:
            prompts = self.prompts() if self.prompts is not None else None
            cell = cell_from_run(live.request, live.events, prompts=prompts)
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
        await self.logs.aclose()
