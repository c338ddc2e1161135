"""The arena's engine: columns run at once on one clock, a column's stop ends that column
alone (its upstream closes, the others go on), the whole arena passes the gate as one turn per
column (refused whole, never half started), and the table marks the best of each row."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from playground.catalog import Credentials
from playground.pricing.table import Cost
from playground.providers.base import Usage
from playground.turn.arena import (
    ArenaColumn,
    ArenaRun,
    agreement,
    distribution,
    run_arena,
    scoreboard,
)
from playground.turn.events import TimingSummary, TurnCompleted
from playground.turn.gate import TurnGate, TurnRefused
from playground.turn.request import TurnRequest
from playground.turn.runner import TurnRunner
from playground.turn.state import TurnState
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.support import make_test_services


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def runner_for(fake: FakeOpenAI) -> tuple[TurnRunner, Credentials]:
    services = make_test_services(openai_api_key="test-key", openai_base_url=fake.base_url)
    return TurnRunner(services), services.server_credentials


def request(model: str = "openai:gpt-4o-mini") -> TurnRequest:
    return TurnRequest(message="Count", model=model, voice=None)


async def test_a_stopped_column_closes_its_upstream_and_the_others_finish(
    fake: FakeOpenAI,
) -> None:
    runner, creds = runner_for(fake)
    gate = threading.Event()
    for _ in range(2):
        fake.enqueue(Reply(chunks=["one ", "two ", "three."], gate=gate, gate_after=1))
    columns = [ArenaColumn("a"), ArenaColumn("b")]
    disconnects = fake.disconnects
    async for column in run_arena(runner, columns, [request(), request()], creds):
        if column is columns[1] and column.state.chunks and not column.stop_asked:
            column.stop()
            assert await fake.wait_for_disconnect_async(timeout=10)
            gate.set()
    first, second = (c.state.completed for c in columns)
    assert first is not None and first.finish_reason == "stop"
    assert columns[0].state.text == "one two three."
    assert second is not None and second.finish_reason == "stopped"
    assert columns[1].state.text == "one "
    assert fake.disconnects == disconnects + 1
    # One clock: both turns count from the same instant.
    assert columns[0].started_at == columns[1].started_at


async def test_an_arena_left_mid_run_ends_each_column_as_a_stop_does(fake: FakeOpenAI) -> None:
    # The page closed mid-run: the consumer's task is cancelled while the columns stream.
    runner, creds = runner_for(fake)
    gate = threading.Event()
    for _ in range(2):
        fake.enqueue(Reply(chunks=["one ", "two ", "three."], gate=gate, gate_after=1))
    columns = [ArenaColumn("a"), ArenaColumn("b")]
    disconnects = fake.disconnects
    both_started = asyncio.Event()

    async def page() -> None:
        async for _ in run_arena(runner, columns, [request(), request()], creds):
            if all(c.state.chunks for c in columns):
                both_started.set()

    task = asyncio.create_task(page())
    await asyncio.wait_for(both_started.wait(), timeout=20)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    try:
        # Each ended cleanly, with what it had: a stopped end, then the end of the stream.
        for column in columns:
            completed = column.state.completed
            assert completed is not None and completed.finish_reason == "stopped"
            assert column.state.text == "one "
            assert isinstance(column.events[-1], TurnCompleted)
        for _ in columns:  # both upstreams closed
            assert await fake.wait_for_disconnect_async(timeout=10)
        assert fake.disconnects == disconnects + 2
    finally:
        gate.set()


class OneTurnAtATime:
    def __init__(self) -> None:
        self.running = 0
        self.released = 0

    def admit(self, client: str) -> float | None:
        if self.running >= 1:
            return 3.0
        self.running += 1
        return None

    def release(self, client: str) -> None:
        self.running -= 1
        self.released += 1


async def test_an_arena_over_the_limits_is_refused_whole(fake: FakeOpenAI) -> None:
    runner, creds = runner_for(fake)
    limiter = OneTurnAtATime()
    requests_before = len(fake.chat_requests)
    with pytest.raises(TurnRefused):
        async for _ in run_arena(
            runner,
            [ArenaColumn("a"), ArenaColumn("b")],
            [request(), request()],
            creds,
            gate=TurnGate(limiter),
            client="someone",
        ):
            pass
    assert limiter.running == 0 and limiter.released == 1  # the admitted one was given back
    await asyncio.sleep(0)
    assert len(fake.chat_requests) == requests_before  # nothing started


def finished(ttft: float, total: float, tokens_per_s: float, usd: float | None) -> TurnState:
    state = TurnState()
    timing = TimingSummary(ttft, None, 3, total, 20, 10.0, tokens_per_s)
    cost = Cost(usd, usd / 2, usd / 2, "2025-08-07") if usd is not None else None
    state.completed = TurnCompleted("text", "stop", Usage(10, 5, 15), timing, cost=cost)
    return state


def test_the_table_marks_the_best_of_each_row_among_the_finished_columns() -> None:
    rows = {
        r.name: r
        for r in scoreboard(
            [
                finished(100, 900, 50, 0.002),
                finished(300, 700, 80, None),
                TurnState(),  # still running: no values, never best
            ]
        )
    }
    assert rows["TTFT"].best == (0,) and rows["Total"].best == (1,)
    assert rows["Tokens/s"].best == (1,)
    assert rows["Cost"].values == (0.002, None, None) and rows["Cost"].best == ()
    assert rows["Tokens in"].best == ()  # a fact, not a race
    tie = {r.name: r for r in scoreboard([finished(100, 5, 1, 0), finished(100, 6, 1, 0)])}
    assert tie["TTFT"].best == (0, 1) and tie["Cost"].best == (0, 1)


def answered(text: str, ttft: float, total: float) -> TurnState:
    state = finished(ttft, total, 20, 0.001)
    state.text = text
    return state


def test_repeated_rounds_run_fresh_columns_and_a_stopped_column_sits_the_rest_out() -> None:
    run = ArenaRun("hi", ["a", "b"], [ArenaColumn("a"), ArenaColumn("b")], repeat=3)
    first = list(run.columns)
    assert run.next_round() == [0, 1] and run.columns == first
    run.stop(1)  # column b's own Stop
    assert first[1].stop_asked and not first[0].stop_asked
    assert run.next_round() == [0]
    assert run.columns[0] is not first[0] and run.columns[1] is first[1]
    assert run.rounds[1] == [run.columns[0], None]
    run.stop()  # Stop all: no third round
    assert run.next_round() == [] and len(run.rounds) == 2


def test_the_spread_over_rounds_gives_medians_ranges_and_run_to_run_agreement() -> None:
    rounds: list[list[TurnState | None]] = [
        [answered("one two three four", 100, 400), answered("one two three four", 900, 900)],
        [answered("one two three five", 300, 600), answered("one two three four", 700, 700)],
        [answered("one two three four", 200, 500), None],  # column 2 sat this round out
    ]
    rows = {row.name: row for row in distribution(rounds)}
    ttft = rows["TTFT"]
    first, second = ttft.summaries
    assert first is not None and (first.p50, first.min, first.max, first.n) == (200, 100, 300, 3)
    assert second is not None and (second.p50, second.n) == (800, 2)
    assert ttft.best == (0,)  # the lower median
    assert rows["Total"].best == (0,)
    agreed = agreement(rounds)
    pair = agreed.pairs[(0, 1)]
    assert (pair.n, pair.min, pair.max) == (2, 0.75, 1.0)
    own_first, own_second = agreed.consistency
    assert own_first is not None and own_first.n == 3 and own_first.min == 0.75
    assert own_second is not None and own_second.p50 == 1.0


def thought(ttft: float, ttfat: float) -> TurnState:
    state = finished(ttft, 900, 40, None)
    timing = TimingSummary(
        ttft, None, 3, 900, 20, 10.0, 40, ttfat_ms=ttfat, reasoning_ms=ttfat - ttft
    )
    state.completed = TurnCompleted("text", "stop", None, timing)
    return state


def test_a_reasoning_column_adds_first_answer_token_and_thinking_rows() -> None:
    plain = [r.name for r in scoreboard([finished(100, 900, 50, 0), finished(90, 800, 50, 0)])]
    assert "First answer token" not in plain and "Thinking" not in plain
    fast = finished(100, 900, 50, 0)
    fast.completed = TurnCompleted(
        "text", "stop", None, TimingSummary(100, None, 3, 900, 20, 10.0, 50, ttfat_ms=100)
    )
    rows = {r.name: r for r in scoreboard([fast, thought(50, 1500)])}
    assert rows["TTFT"].best == (1,), "the thinker's first token came first"
    assert list(rows["First answer token"].values) == [100, 1500]
    assert rows["First answer token"].best == (0,), "but its first answer token came last"
    assert list(rows["Thinking"].values) == [None, 1450] and not rows["Thinking"].best
    # Over rounds, a round without thinking still lines up by name.
    spread = {r.name: r for r in distribution([[finished(1, 2, 3, 0)], [thought(50, 1500)]])}
    summary = spread["First answer token"].summaries[0]
    assert summary is not None and summary.n == 1 and summary.p50 == 1500
