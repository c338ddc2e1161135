"""One eval's results: each run's outcome, and each configuration's summary of them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from playground.evals.assertions import AssertionResult
from playground.pricing.table import Cost
from playground.providers.base import Usage
from playground.turn.events import TimingSummary
from playground.turn.similarity import Summary, summarise

__all__ = ["CaseResult", "ConfigurationSummary", "Percentiles", "summarise_results"]


@dataclass(frozen=True, slots=True)
class CaseResult:
    """One case run once with one configuration (indexes from 0)."""

    case: int
    configuration: int
    repeat: int
    text: str
    passed: bool
    assertions: tuple[AssertionResult, ...]
    finish_reason: str
    timing: TimingSummary | None
    usage: Usage | None
    cost: Cost | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Percentiles:
    p50: float
    p95: float

    @classmethod
    def of(cls, values: Sequence[float | None]) -> Percentiles | None:
        known = [v for v in values if v is not None and math.isfinite(v)]
        if not known:
            return None
        summary: Summary = summarise(known)
        # Rounded as the turn timings are: float noise (2188.4399999999996) is not data.
        return cls(p50=round(summary.p50, 3), p95=round(summary.p95, 3))


@dataclass(frozen=True, slots=True)
class ConfigurationSummary:
    configuration: int
    runs: int
    passed: int
    pass_rate: float | None  # None: nothing finished
    ttft_ms: Percentiles | None
    ttfat_ms: Percentiles | None  # first answer token (after a reasoning model's thinking)
    reasoning_ms: Percentiles | None  # None: no run thought
    ttfa_ms: Percentiles | None
    total_ms: Percentiles | None
    tokens_per_s: Percentiles | None
    cost_usd: float | None  # None when any run's cost is unknown (never a partial sum)


def summarise_results(
    results: Sequence[CaseResult], configurations: int
) -> tuple[ConfigurationSummary, ...]:
    """Each configuration's pass rate, p50/p95 of TTFT, first answer token, thinking, TTFA,
    total and tokens/s, and cost."""
    out = []
    for index in range(configurations):
        mine = [r for r in results if r.configuration == index]
        timings = [r.timing for r in mine if r.timing is not None]
        costs = [r.cost for r in mine]
        passed = sum(r.passed for r in mine)
        out.append(
            ConfigurationSummary(
                configuration=index,
                runs=len(mine),
                passed=passed,
                pass_rate=passed / len(mine) if mine else None,
                ttft_ms=Percentiles.of([t.ttft_ms for t in timings]),
                ttfat_ms=Percentiles.of([t.ttfat_ms for t in timings]),
                reasoning_ms=Percentiles.of([t.reasoning_ms for t in timings]),
                ttfa_ms=Percentiles.of([t.ttfa_ms for t in timings]),
                total_ms=Percentiles.of([t.total_ms for t in timings]),
                tokens_per_s=Percentiles.of([t.tokens_per_s for t in timings]),
                cost_usd=(
                    math.fsum(c.usd for c in costs if c is not None)
                    if mine and all(c is not None for c in costs)
                    else None
                ),
            )
        )
    return tuple(out)
