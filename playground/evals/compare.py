"""Reading eval results side by side: within one eval (the cases whose outcome depends on the
configuration; streaming against complete answers) and between two evals of the same cases (what
passed before and fails now, and how the latency percentiles moved).

A case's outcome under a configuration is its pass rate over the repeats (1.0 or 0.0 without
repeats), so a flaky case shows as 0.67, not as a coin toss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from playground.evals.request import EvalConfiguration
from playground.evals.results import CaseResult, ConfigurationSummary, summarise_results
from playground.turn.similarity import similarity, summarise

__all__ = [
    "CaseChange",
    "ChangedCase",
    "EvalComparison",
    "StreamingVariance",
    "changed_cases",
    "compare_evals",
    "streaming_variance",
]


@dataclass(frozen=True, slots=True)
class ChangedCase:
    """A case whose pass rate differs between configurations (indexed like them)."""

    case: int
    pass_rates: tuple[float | None, ...]


@dataclass(frozen=True, slots=True)
class StreamingVariance:
    """Two configurations alike but for ``streaming``: how much the answers differ."""

    streaming: int  # the index of the streaming configuration
    pass_rate_delta: float  # streaming minus complete
    similarity_p50: float
    similarity_min: float
    pairs: int  # answers compared (same case, same repeat)


@dataclass(frozen=True, slots=True)
class CaseChange:
    case: int
    configuration: int
    before: float
    after: float


@dataclass(frozen=True, slots=True)
class EvalComparison:
    """``after`` against ``before``: cases that now fail, that now pass, and both summaries."""

    now_failing: tuple[CaseChange, ...]
    now_passing: tuple[CaseChange, ...]
    before: tuple[ConfigurationSummary, ...]
    after: tuple[ConfigurationSummary, ...]


def _pass_rate(results: Sequence[CaseResult], case: int, configuration: int) -> float | None:
    mine = [r.passed for r in results if r.case == case and r.configuration == configuration]
    return sum(mine) / len(mine) if mine else None


def changed_cases(
    results: Sequence[CaseResult], cases: int, configurations: int
) -> tuple[ChangedCase, ...]:
    """The cases whose pass rate is not the same under every configuration that ran them."""
    if configurations < 2:
        return ()
    out = []
    for case in range(cases):
        rates = tuple(_pass_rate(results, case, c) for c in range(configurations))
        if len({r for r in rates if r is not None}) > 1:
            out.append(ChangedCase(case=case, pass_rates=rates))
    return tuple(out)


def streaming_variance(
    configurations: Sequence[EvalConfiguration], results: Sequence[CaseResult]
) -> StreamingVariance | None:
    """When there are two configurations that differ only in ``streaming``: the pass-rate
    delta and the word similarity of their answers to the same case and repeat."""
    if len(configurations) != 2:
        return None
    a, b = (c.model_dump(exclude={"streaming"}) for c in configurations)
    if a != b or configurations[0].streaming == configurations[1].streaming:
        return None
    on = 0 if configurations[0].streaming else 1
    texts = {(r.configuration, r.case, r.repeat): r.text for r in results if r.error is None}
    scores = [
        similarity(text, texts[(1 - on, case, repeat)])
        for (configuration, case, repeat), text in texts.items()
        if configuration == on and (1 - on, case, repeat) in texts
    ]
    if not scores:
        return None
    rates = [s.pass_rate for s in summarise_results(results, 2)]
    streamed, complete = rates[on], rates[1 - on]
    if streamed is None or complete is None:
        return None
    summary = summarise(scores)
    return StreamingVariance(
        streaming=on,
        pass_rate_delta=round(streamed - complete, 4),
        similarity_p50=round(summary.p50, 4),
        similarity_min=round(summary.min, 4),
        pairs=len(scores),
    )


def compare_evals(
    before: Sequence[CaseResult], after: Sequence[CaseResult], cases: int, configurations: int
) -> EvalComparison:
    """Case by case and configuration by configuration, ``after`` against ``before``."""
    failing: list[CaseChange] = []
    passing: list[CaseChange] = []
    for case in range(cases):
        for configuration in range(configurations):
            old = _pass_rate(before, case, configuration)
            new = _pass_rate(after, case, configuration)
            if old is None or new is None or old == new:
                continue
            change = CaseChange(case, configuration, old, new)
            (failing if new < old else passing).append(change)
    return EvalComparison(
        now_failing=tuple(failing),
        now_passing=tuple(passing),
        before=summarise_results(before, configurations),
        after=summarise_results(after, configurations),
    )
