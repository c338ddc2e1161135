"""The arena: one message sent to several configurations at once, each streaming on its own,
all timed on the same clock.

``run_arena`` admits every column through the gate (an arena of four is four turns against the
client's limits, refused whole or admitted whole), starts them together, and yields after every
event of any column. A column's ``stop`` ends that column alone (its upstream closes at once);
the others go on. ``scoreboard`` reads the finished columns into the rows the arena's table
shows, the best of each row marked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from playground.catalog import Credentials
from playground.turn.events import Event
from playground.turn.gate import TurnGate, TurnRefused
from playground.turn.prepare import PreparedTurn
from playground.turn.request import HistoryMessage, TurnRequest
from playground.turn.runner import TurnRunner
from playground.turn.state import TurnState

__all__ = [
    "MAX_COLUMNS",
    "ArenaColumn",
    "ArenaRow",
    "ArenaRun",
    "ArenaSession",
    "run_arena",
    "scoreboard",
]

MAX_COLUMNS = 4


@dataclass(eq=False)
class ArenaColumn:
    """One column's run: its state as the page draws it, and the prepared turn behind it."""

    label: str
    state: TurnState = field(default_factory=TurnState)
    events: list[Event] = field(default_factory=list)  # the run's log, for its notebook cell
    turn: PreparedTurn | None = None
    started_at: float = 0.0
    stop_asked: bool = False

    def stop(self) -> None:
        """End this column's turn, keeping its text (safe before it started and after it
        ended)."""
        self.stop_asked = True
        if self.turn is not None:
            self.turn.request_stop()


@dataclass(eq=False)
class ArenaRun:
    """One press of Send: the message and each column's run."""

    message: str
    labels: list[str]
    columns: list[ArenaColumn]
    requests: list[TurnRequest] = field(default_factory=list)  # set once they are composed
    recorded: bool = False  # its columns are in the notebook

    @property
    def states(self) -> list[TurnState | None]:
        return [c.state for c in self.columns]


@dataclass
class ArenaSession:
    """Per browser session: each column's conversation and the latest run."""

    histories: list[list[HistoryMessage]] = field(
        default_factory=lambda: [[] for _ in range(MAX_COLUMNS)]
    )
    run: ArenaRun | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> ArenaSession:
        return ArenaSession()

    def begin(self, message: str, labels: list[str]) -> ArenaRun:
        self.stop()  # a new message ends the run still going, as Stop all would
        self.run = ArenaRun(message, labels, [ArenaColumn(label) for label in labels])
        return self.run

    def stop(self, index: int | None = None) -> None:
        columns = self.run.columns if self.run is not None else []
        for i, column in enumerate(columns):
            if index is None or i == index:
                column.stop()

    def commit(self, run: ArenaRun) -> None:
        """Each column's exchange joins that column's own conversation (a run a newer one
        replaced is not the conversation any more)."""
        if run is not self.run:
            return
        for history, column in zip(self.histories, run.columns, strict=False):
            history.append(HistoryMessage(role="user", content=run.message))
            if column.state.text:
                history.append(HistoryMessage(role="assistant", content=column.state.text))


async def run_arena(
    runner: TurnRunner,
    columns: Sequence[ArenaColumn],
    requests: Sequence[TurnRequest],
    creds: Credentials,
    *,
    gate: TurnGate | None = None,
    client: str = "",
) -> AsyncIterator[ArenaColumn]:
    """Run every column's request at once; yield the column an event just changed.

    Every column is prepared (``ConfigError`` naming the field, before anything starts) and
    admitted (``TurnRefused`` for the whole arena when one would pass the limits) first."""
    gate = gate or TurnGate(None)
    turns = [runner.prepare(r, creds, client) for r in requests]
    releases: list[Callable[[], None]] = []
    try:
        for _ in turns:
            releases.append(gate.enter(client))
    except TurnRefused:
        for release in releases:
            release()
        raise
    queue: asyncio.Queue[tuple[ArenaColumn, Event] | None] = asyncio.Queue()

    async def run(column: ArenaColumn, turn: PreparedTurn, release: Callable[[], None]) -> None:
        try:
            async for event in runner.stream(turn, started_at=column.started_at):
                queue.put_nowait((column, event))
        finally:
            release()
            queue.put_nowait(None)

    # One clock for every column: each turn's times count from the same instant.
    started_at = time.monotonic()
    for column, turn in zip(columns, turns, strict=True):
        column.turn, column.started_at = turn, started_at
        if column.stop_asked:
            turn.request_stop()
    tasks = [
        asyncio.create_task(run(c, t, r)) for c, t, r in zip(columns, turns, releases, strict=True)
    ]
    try:
        running = len(tasks)
        while running:
            item = await queue.get()
            if item is None:
                running -= 1
                continue
            column, event = item
            column.events.append(event)
            column.state.handle(event)
            yield column
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for release in releases:
            release()


Better = Literal["low", "high"] | None  # None: a fact, not a race


@dataclass(frozen=True, slots=True)
class ArenaRow:
    """One measure across the columns (None where a column has no value), ``best`` the
    indexes of the columns that won it (none when fewer than two columns have a value)."""

    name: str
    values: tuple[float | None, ...]
    better: Better
    unit: str
    best: tuple[int, ...]


def _row(name: str, values: Sequence[float | None], better: Better, unit: str) -> ArenaRow:
    known = [v for v in values if v is not None]
    best: tuple[int, ...] = ()
    if better is not None and len(known) >= 2:
        target = min(known) if better == "low" else max(known)
        best = tuple(i for i, v in enumerate(values) if v == target)
    return ArenaRow(name, tuple(values), better, unit, best)


def scoreboard(states: Sequence[TurnState]) -> list[ArenaRow]:
    """The arena's table: timing, throughput, tokens and cost per column (finished columns
    only: a column still running has no totals yet)."""
    done = [s.completed for s in states]
    timing = [c.timing if c is not None else None for c in done]
    usage = [c.usage if c is not None else None for c in done]
    cost = [c.cost if c is not None else None for c in done]
    return [
        _row("TTFT", [t.ttft_ms if t else None for t in timing], "low", "ms"),
        _row("TTFA", [t.ttfa_ms if t else None for t in timing], "low", "ms"),
        _row("Total", [t.total_ms if t else None for t in timing], "low", "ms"),
        _row("Chunks", [float(t.chunks) if t else None for t in timing], None, ""),
        _row("Tokens/s", [t.tokens_per_s if t else None for t in timing], "high", "/s"),
        _row("Tokens in", [float(u.prompt_tokens) if u else None for u in usage], None, ""),
        _row("Tokens out", [float(u.completion_tokens) if u else None for u in usage], None, ""),
        _row("Cost", [c.usd if c else None for c in cost], "low", "usd"),
    ]
