"""Streaming vs non-streaming, side by side: the same input run twice at once.

Both runs use the same model and prompt@version, temperature 0 and a fixed seed where the
provider honours them. The comparison reports both timelines (time to first token against time
to the complete answer), the perceived-latency gain, and how similar the two answers are
(normalised word edit distance plus a word diff) — so "streaming costs no quality" can be checked
for any model and prompt. ``repeat`` runs it N times and summarises the distribution.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from playground.catalog import Credentials
from playground.turn.events import Event
from playground.turn.gate import TurnGate, TurnRefused
from playground.turn.request import TurnRequest
from playground.turn.runner import TurnRunner
from playground.turn.similarity import DiffOp, Summary, similarity, summarise, word_diff
from playground.turn.state import TurnState

__all__ = ["CompareProgress", "CompareRound", "compare"]

DEFAULT_SEED = 7


@dataclass(frozen=True)
class CompareRound:
    streaming_ttft_ms: float | None
    streaming_total_ms: float
    complete_total_ms: float  # the non-streaming answer arrives whole, at once
    gain_ms: float | None  # how much sooner the first words are seen with streaming
    similarity: float
    diff: list[tuple[DiffOp, str]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "streaming_ttft_ms": self.streaming_ttft_ms,
            "streaming_total_ms": self.streaming_total_ms,
            "complete_total_ms": self.complete_total_ms,
            "gain_ms": self.gain_ms,
            "similarity": self.similarity,
        }


@dataclass
class CompareProgress:
    """What the UI draws: the two current runs, finished rounds, and the summary so far."""

    streaming: TurnState = field(default_factory=TurnState)
    complete: TurnState = field(default_factory=TurnState)
    rounds: list[CompareRound] = field(default_factory=list)
    round_index: int = 0
    repeat: int = 1
    error: str | None = None

    @property
    def summary(self) -> Summary | None:
        return summarise([r.similarity for r in self.rounds]) if self.rounds else None


def _pair(request: TurnRequest) -> tuple[TurnRequest, TurnRequest]:
    base = request.model_copy(
        update={
            "temperature": 0.0 if request.temperature is None else request.temperature,
            "seed": DEFAULT_SEED if request.seed is None else request.seed,
            "voice": None,
        }
    )
    return base.model_copy(update={"streaming": True}), base.model_copy(update={"streaming": False})


async def compare(
    runner: TurnRunner,
    request: TurnRequest,
    creds: Credentials,
    *,
    repeat: int = 1,
    gate: TurnGate | None = None,
    client: str = "",
) -> AsyncIterator[CompareProgress]:
    """Yield progress after every event of either run; the last value holds every round.

    Every run is a turn of ``client`` through ``gate`` (the limits the API applies): a round
    over the limit raises ``TurnRefused`` before it starts."""
    progress = CompareProgress(repeat=repeat)
    queue: asyncio.Queue[tuple[TurnState, Event] | None] = asyncio.Queue()
    gate = gate or TurnGate(None)
    for index in range(repeat):
        progress.round_index = index
        progress.streaming, progress.complete = TurnState(), TurnState()
        streamed_request, complete_request = _pair(request)
        turns = [
            runner.prepare(streamed_request, creds, client),
            runner.prepare(complete_request, creds, client),
        ]
        states = (progress.streaming, progress.complete)
        releases = [gate.enter(client)]
        try:
            releases.append(gate.enter(client))
        except TurnRefused:
            releases[0]()
            raise

        async def run(turn: Any, state: TurnState) -> None:
            try:
                async for event in runner.stream(turn, started_at=time.monotonic()):
                    queue.put_nowait((state, event))
            finally:
                queue.put_nowait(None)

        tasks = [asyncio.create_task(run(t, s)) for t, s in zip(turns, states, strict=True)]
        try:
            running = len(tasks)
            while running:
                item = await queue.get()
                if item is None:
                    running -= 1
                    continue
                state, event = item
                state.handle(event)
                yield progress
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for release in releases:
                release()
        finished = _round(progress.streaming, progress.complete)
        if finished is None:
            progress.error = "a run failed; see its pane for the error"
            yield progress
            return
        progress.rounds.append(finished)
        yield progress


def _round(streaming: TurnState, complete: TurnState) -> CompareRound | None:
    if streaming.completed is None or complete.completed is None:
        return None
    if streaming.llm_error is not None or complete.llm_error is not None:
        return None
    ttft = streaming.completed.timing.ttft_ms
    complete_ms = complete.completed.timing.total_ms
    return CompareRound(
        streaming_ttft_ms=ttft,
        streaming_total_ms=streaming.completed.timing.total_ms,
        complete_total_ms=complete_ms,
        gain_ms=round(complete_ms - ttft, 1) if ttft is not None else None,
        similarity=round(similarity(streaming.text, complete.text), 4),
        diff=word_diff(complete.text, streaming.text),
    )
