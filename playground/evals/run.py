"""Running an eval: every case against every configuration (N times each), as streamed turns.

``EvalRun.events`` yields ``EvalStarted``, one ``CaseResult`` per finished run (in the order they
finish) and ``EvalEnded`` with each configuration's pass rate, latency percentiles and cost.
Turns run concurrently up to the request's ``concurrency``, and one at a time on the in-process
model (which serves one turn at a time anyway: more would only queue and skew its timings).
Every turn passes the client's gate like any other; when the limits say wait, the eval waits.
Each turn is timed from the moment it starts, not from when it was queued.

``stop`` ends the eval: turns in flight are stopped (their upstreams close at once), turns not
started never start, and what finished is kept and summarised.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Iterator
from dataclasses import dataclass, field

from playground.catalog import Credentials
from playground.errors import BusyError, ConfigError
from playground.evals.assertions import CaseOutcome, check
from playground.evals.compare import (
    ChangedCase,
    StreamingVariance,
    changed_cases,
    streaming_variance,
)
from playground.evals.request import EvalRequest
from playground.evals.results import CaseResult, ConfigurationSummary, summarise_results
from playground.prompts.workbench import missing_variables
from playground.turn.events import TurnCompleted
from playground.turn.gate import TurnGate, TurnRefused
from playground.turn.prepare import PreparedTurn
from playground.turn.runner import TurnRunner
from playground.turn.state import TurnState

__all__ = [
    "EvalEnded",
    "EvalEvent",
    "EvalRun",
    "EvalStarted",
]

_CASE_FIELDS = {"message", "variables", "history"}  # what a case brings; the rest, configurations


@dataclass(frozen=True, slots=True)
class EvalStarted:
    eval_id: str
    cases: int
    configurations: int
    repeat: int
    runs: int


@dataclass(frozen=True, slots=True)
class EvalEnded:
    summary: tuple[ConfigurationSummary, ...]
    finished: int
    runs: int
    stopped: bool
    changed: tuple[ChangedCase, ...] = ()
    streaming_variance: StreamingVariance | None = None


EvalEvent = EvalStarted | CaseResult | EvalEnded


@dataclass(eq=False)
class EvalRun:
    """One eval: the request, who asks, and the turns in flight (so ``stop`` can end them)."""

    request: EvalRequest
    runner: TurnRunner
    creds: Credentials
    client: str = ""
    gate: TurnGate = field(default_factory=lambda: TurnGate(None))
    eval_id: str = field(default_factory=lambda: f"eval_{uuid.uuid4().hex[:16]}")
    results: list[CaseResult] = field(default_factory=list)
    stopped: bool = False
    _in_flight: dict[str, PreparedTurn] = field(default_factory=dict)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def check(self) -> None:
        """Prepare every case with every configuration once, so a message too long, a missing
        variable or an unknown model is refused (``ConfigError`` naming the field) before
        anything runs."""
        for case, configuration in self._pairs():
            request = self.request.turn_request(case, configuration)
            try:
                turn = self.runner.prepare(request, self.creds)
                # A ``{{name}}`` left unfilled would test a prompt nobody will ever send.
                missing = missing_variables(turn.prompt, request.variables)
                if missing:
                    verb = "has" if len(missing) == 1 else "have"
                    raise ConfigError(
                        f"variables: {', '.join(missing)} {verb} no value (give it in the "
                        "case's variables or the configuration's)",
                        field=f"variables.{missing[0]}",
                    )
            except ConfigError as exc:
                where = (
                    f"cases.{case}"
                    if exc.field and exc.field.partition(".")[0] in _CASE_FIELDS
                    else f"configurations.{configuration}"
                )
                field = f"{where}.{exc.field}" if exc.field else where
                raise ConfigError(f"{where}: {exc.message}", field=field) from exc

    def stop(self) -> None:
        self.stopped = True
        self._stopping.set()
        for turn in list(self._in_flight.values()):
            turn.request_stop()

    async def events(self) -> AsyncGenerator[EvalEvent, None]:
        request = self.request
        yield EvalStarted(
            eval_id=self.eval_id,
            cases=len(request.cases),
            configurations=len(request.configurations),
            repeat=request.repeat,
            runs=request.runs,
        )
        queue: asyncio.Queue[CaseResult | None] = asyncio.Queue()
        shared = asyncio.Semaphore(request.concurrency)
        one_at_a_time = asyncio.Semaphore(1)

        async def job(repeat: int, case: int, configuration: int) -> None:
            result: CaseResult | None
            try:
                turn = self.runner.prepare(
                    request.turn_request(case, configuration), self.creds, self.client
                )
                local = turn.model.engine == "local"
                async with shared, one_at_a_time if local else contextlib.nullcontext():
                    result = await self._run_one(turn, repeat, case, configuration)
            except Exception as exc:  # noqa: BLE001 - a case that breaks fails; the eval goes on
                result = _broken(case, configuration, repeat, exc)
            if result is not None:
                queue.put_nowait(result)
            queue.put_nowait(None)

        tasks = [
            asyncio.create_task(job(repeat, case, configuration))
            for repeat in range(request.repeat)
            for case, configuration in self._pairs()
        ]
        try:
            running = len(tasks)
            while running:
                item = await queue.get()
                if item is None:
                    running -= 1
                    continue
                self.results.append(item)
                yield item
            yield EvalEnded(
                summary=summarise_results(self.results, len(request.configurations)),
                finished=len(self.results),
                runs=request.runs,
                stopped=self.stopped,
                changed=changed_cases(
                    self.results, len(request.cases), len(request.configurations)
                ),
                streaming_variance=streaming_variance(request.configurations, self.results),
            )
        finally:
            if len(self.results) < request.runs:  # left early: nothing may keep running
                self.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _pairs(self) -> Iterator[tuple[int, int]]:
        for case in range(len(self.request.cases)):
            for configuration in range(len(self.request.configurations)):
                yield case, configuration

    async def _admitted(self, turn: PreparedTurn) -> Callable[[], None] | None:
        """Wait until the gate and the model take the turn: its release, or None when the eval
        was stopped first."""
        while not self._stopping.is_set():
            wait_s: float
            busy: BusyError | None = turn.busy()
            if busy is None:
                try:
                    return self.gate.enter(self.client)
                except TurnRefused as refused:
                    wait_s = refused.retry_after
            else:
                wait_s = busy.retry_after_s
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.05, wait_s)):
                    await self._stopping.wait()
        return None

    async def _run_one(
        self, turn: PreparedTurn, repeat: int, case: int, configuration: int
    ) -> CaseResult | None:
        release = await self._admitted(turn)
        if release is None:
            return None
        state = TurnState()
        self._in_flight[turn.turn_id] = turn
        try:
            async for event in self.runner.stream(turn, started_at=time.monotonic()):
                state.handle(event)
        finally:
            self._in_flight.pop(turn.turn_id, None)
            release()
        completed = state.completed
        if completed is None or completed.finish_reason == "stopped":
            return None  # stopped with the eval: not a result
        return self._result(state, completed, repeat, case, configuration)

    def _result(
        self,
        state: TurnState,
        completed: TurnCompleted,
        repeat: int,
        case: int,
        configuration: int,
    ) -> CaseResult:
        timing = completed.timing
        outcome = CaseOutcome(
            text=completed.text,
            total_ms=timing.total_ms,
            ttft_ms=timing.ttft_ms,
            cost_usd=completed.cost.usd if completed.cost is not None else None,
            tools_called=tuple(entry.call.name for entry in state.tools),
            exit_path=completed.exit_path,
        )
        checks = tuple(check(a, outcome) for a in self.request.cases[case].assertions)
        error = "; ".join(e.message for e in state.errors) or None
        failed = completed.finish_reason == "error" or error is not None
        return CaseResult(
            case=case,
            configuration=configuration,
            repeat=repeat,
            text=completed.text,
            passed=not failed and all(c.passed for c in checks),
            assertions=checks,
            finish_reason=completed.finish_reason,
            timing=timing,
            usage=completed.usage,
            cost=completed.cost,
            error=error,
        )


def _broken(case: int, configuration: int, repeat: int, exc: Exception) -> CaseResult:
    """The result of a run that could not even produce a turn's end (a bug, never silent)."""
    return CaseResult(
        case=case,
        configuration=configuration,
        repeat=repeat,
        text="",
        passed=False,
        assertions=(),
        finish_reason="error",
        timing=None,
        usage=None,
        cost=None,
        error=f"internal error: {type(exc).__name__}: {exc}",
    )
