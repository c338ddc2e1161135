"""The arena: one message sent to several configurations at once, each streaming on its own,
all timed on the same clock.

``run_arena`` admits every column through the gate (an arena of four is four turns against the
client's limits, refused whole or admitted whole), starts them together, and yields after every
event of any column. A column's ``stop`` ends that column alone (its upstream closes at once);
the others go on. ``scoreboard`` reads the finished columns into the rows the arena's table
shows, the best of each row marked.

An arena run may repeat the same message N times (``ArenaRun.next_round``): ``distribution``
condenses each measure per column over the rounds (median and range), and ``agreement`` how alike
the answers are — column against column, and each column against itself from round to round, the
run-to-run variation that any difference between two columns has to be read against.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from playground.catalog import Credentials
from playground.turn.events import Event
from playground.turn.gate import TurnGate, TurnRefused
from playground.turn.prepare import PreparedTurn
from playground.turn.request import HistoryMessage, TurnRequest
from playground.turn.runner import TurnRunner
from playground.turn.similarity import Summary, similarity, summarise
from playground.turn.state import TurnState

__all__ = [
    "MAX_COLUMNS",
    "MAX_REPEAT",
    "Agreement",
    "ArenaColumn",
    "ArenaRow",
    "ArenaRun",
    "ArenaSession",
    "SpreadRow",
    "agreement",
    "distribution",
    "run_arena",
    "scoreboard",
]

MAX_COLUMNS = 4
# How long a column left mid-run may take to end as its Stop ends it (that takes well under
# 100 ms: the runner closes the upstream at once) before it is cancelled.
STOP_GRACE_S: Final = 2.0
MAX_REPEAT = 10


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
    """One press of Send: the message, the columns on screen (the current round's) and every
    round run so far."""

    message: str
    labels: list[str]
    columns: list[ArenaColumn]
    repeat: int = 1
    requests: list[TurnRequest] = field(default_factory=list)  # set once they are composed
    # Each round started, column by column (None: that column was stopped in an earlier round
    # and sat this one out).
    rounds: list[list[ArenaColumn | None]] = field(default_factory=list)
    dropped: set[int] = field(default_factory=set)  # stopped by their own Stop: no more rounds
    halted: bool = False  # Stop all, or a newer message: no more rounds
    notice: str = ""  # why the run ended early (a later round refused), shown with the results
    recorded: bool = False  # its columns are in the notebook

    @property
    def states(self) -> list[TurnState | None]:
        return [c.state for c in self.columns]

    def next_round(self) -> list[int]:
        """Start the next round: fresh columns for those still in the run, their indexes (empty
        when every round has run, or the run was stopped)."""
        active = [i for i in range(len(self.columns)) if i not in self.dropped]
        if self.halted or len(self.rounds) >= self.repeat or not active:
            return []
        if self.rounds:  # the first round runs the columns ``begin`` made
            for i in active:
                self.columns[i] = ArenaColumn(self.labels[i])
        self.rounds.append(
            [self.columns[i] if i in active else None for i in range(len(self.columns))]
        )
        return active

    def stop(self, index: int | None = None) -> None:
        """Stop one column (it sits out the rounds still to come) or all (no more rounds)."""
        if index is None:
            self.halted = True
        else:
            self.dropped.add(index)
        for i, column in enumerate(self.columns):
            if index is None or i == index:
                column.stop()

    @property
    def finished_rounds(self) -> list[list[TurnState | None]]:
        """The rounds whose every column has ended, as states."""
        return [
            [c.state if c is not None else None for c in round_]
            for round_ in self.rounds
            if all(c is None or c.state.completed is not None for c in round_)
        ]


@dataclass
class ArenaSession:
    """Per browser session: each column's conversation and the latest run."""

    histories: list[list[HistoryMessage]] = field(
        default_factory=lambda: [[] for _ in range(MAX_COLUMNS)]
    )
    run: ArenaRun | None = None
    last_feed: str = ""  # the audio feed's value, kept so an unchanged value is not re-fired

    def __deepcopy__(self, memo: dict[int, Any]) -> ArenaSession:
        return ArenaSession()

    def begin(self, message: str, labels: list[str], repeat: int = 1) -> ArenaRun:
        self.stop()  # a new message ends the run still going, as Stop all would
        self.run = ArenaRun(message, labels, [ArenaColumn(label) for label in labels], repeat)
        return self.run

    def stop(self, index: int | None = None) -> None:
        if self.run is not None:
            self.run.stop(index)

    def commit(self, run: ArenaRun) -> None:
        """Each column's exchange (its last round's answer) joins that column's own
        conversation (a run a newer one replaced is not the conversation any more)."""
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
    quiet_s: float | None = None,
) -> AsyncGenerator[ArenaColumn | None, None]:
    """Run every column's request at once; yield the column an event just changed, and — with
    ``quiet_s`` — None once whenever no event came for that long after one (a page that batches
    its frames then sends what it held back).

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
        running, quiet = len(tasks), True
        while running:
            if quiet or quiet_s is None:
                item = await queue.get()
            else:
                try:
                    item = await asyncio.wait_for(queue.get(), quiet_s)
                except TimeoutError:
                    quiet = True
                    yield None
                    continue
            if item is None:
                running -= 1
                continue
            quiet = False
            column, event = item
            column.events.append(event)
            column.state.handle(event)
            yield column
    finally:
        if any(not task.done() for task in tasks):
            await _end_as_stopped(turns, tasks, queue)
        for release in releases:
            release()


async def _end_as_stopped(
    turns: Sequence[PreparedTurn],
    tasks: Sequence[asyncio.Task[None]],
    queue: asyncio.Queue[tuple[ArenaColumn, Event] | None],
) -> None:
    """Left before every column ended (the page closed, the event was cancelled): each turn
    ends as its Stop ends it — upstream closed, its last events kept in its column, so the run
    can still be recorded — and whatever does not end within ``STOP_GRACE_S`` is cancelled."""
    for turn in turns:
        turn.request_stop()
    await asyncio.wait(tasks, timeout=STOP_GRACE_S)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    while not queue.empty():
        item = queue.get_nowait()
        if item is not None:
            column, event = item
            column.events.append(event)
            column.state.handle(event)


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
    # Reasoning models: the first answer token comes after the thinking (rows shown only when
    # a column thought: otherwise the first answer token is the first token).
    thought = any(t is not None and t.reasoning_ms is not None for t in timing)
    thinking = [
        _row("First answer token", [t.ttfat_ms if t else None for t in timing], "low", "ms"),
        _row("Thinking", [t.reasoning_ms if t else None for t in timing], None, "ms"),
    ]
    return [
        _row("TTFT", [t.ttft_ms if t else None for t in timing], "low", "ms"),
        *(thinking if thought else []),
        _row("TTFA", [t.ttfa_ms if t else None for t in timing], "low", "ms"),
        _row("Total", [t.total_ms if t else None for t in timing], "low", "ms"),
        _row("Chunks", [float(t.chunks) if t else None for t in timing], None, ""),
        _row("Tokens/s", [t.tokens_per_s if t else None for t in timing], "high", "/s"),
        _row("Tokens in", [float(u.prompt_tokens) if u else None for u in usage], None, ""),
        _row("Tokens out", [float(u.completion_tokens) if u else None for u in usage], None, ""),
        _row("Cost", [c.usd if c else None for c in cost], "low", "usd"),
    ]


@dataclass(frozen=True, slots=True)
class SpreadRow:
    """One measure over repeated rounds: per column its summary (None: no value in any round),
    ``best`` the columns with the best median."""

    name: str
    summaries: tuple[Summary | None, ...]
    better: Better
    unit: str
    best: tuple[int, ...]


_SPREAD_MEASURES: Final = ("TTFT", "First answer token", "TTFA", "Total", "Tokens/s", "Cost")


def distribution(rounds: Sequence[Sequence[TurnState | None]]) -> list[SpreadRow]:
    """Each timing, throughput and cost measure per column over finished rounds: median,
    range and 95th percentile (a column that sat a round out adds nothing to it)."""
    if not rounds:
        return []
    columns = len(rounds[0])
    boards = [
        {row.name: row for row in scoreboard([s if s is not None else TurnState() for s in r])}
        for r in rounds
    ]
    # By name: a round whose columns did not think has no thinking rows.
    rows = {name: row for board in reversed(boards) for name, row in board.items()}
    out = []
    for name in _SPREAD_MEASURES:
        if name not in rows:
            continue
        summaries: list[Summary | None] = []
        for column in range(columns):
            values = [b[name].values[column] for b in boards if name in b]
            known = [v for v in values if v is not None]
            summaries.append(summarise(known) if known else None)
        medians = [s.p50 if s is not None else None for s in summaries]
        row = rows[name]
        best = _row(row.name, medians, row.better, row.unit).best
        out.append(SpreadRow(row.name, tuple(summaries), row.better, row.unit, best))
    return out


@dataclass(frozen=True, slots=True)
class Agreement:
    """How alike the answers were over the rounds (word-level similarity, 0..1): ``pairs``
    column against column in the same round, ``consistency`` each column against itself
    across rounds (None with fewer than two answers)."""

    pairs: dict[tuple[int, int], Summary]
    consistency: tuple[Summary | None, ...]


def agreement(rounds: Sequence[Sequence[TurnState | None]]) -> Agreement:
    def answer(state: TurnState | None) -> str | None:
        done = state is not None and state.completed is not None and state.text
        return state.text if done and state is not None else None

    columns = len(rounds[0]) if rounds else 0
    pairs: dict[tuple[int, int], Summary] = {}
    for a in range(columns):
        for b in range(a + 1, columns):
            scores = [
                similarity(x, y)
                for r in rounds
                if (x := answer(r[a])) is not None and (y := answer(r[b])) is not None
            ]
            if scores:
                pairs[(a, b)] = summarise(scores)
    consistency: list[Summary | None] = []
    for column in range(columns):
        texts = [t for r in rounds if (t := answer(r[column])) is not None]
        scores = [similarity(x, y) for i, x in enumerate(texts) for y in texts[i + 1 :]]
        consistency.append(summarise(scores) if scores else None)
    return Agreement(pairs, tuple(consistency))
