"""Reading eval results side by side, on hand-made results (no network)."""

from __future__ import annotations

from playground.evals.compare import changed_cases, compare_evals, streaming_variance
from playground.evals.request import EvalConfiguration
from playground.evals.results import CaseResult


def result(case: int, configuration: int, repeat: int, passed: bool, text: str = "") -> CaseResult:
    return CaseResult(
        case=case,
        configuration=configuration,
        repeat=repeat,
        text=text,
        passed=passed,
        assertions=(),
        finish_reason="stop",
        timing=None,
        usage=None,
        cost=None,
    )


def test_a_case_changes_when_its_pass_rate_differs_between_configurations() -> None:
    results = [
        result(0, 0, 0, True), result(0, 0, 1, True), result(0, 1, 0, True), result(0, 1, 1, False),
        result(1, 0, 0, True), result(1, 1, 0, True),
        result(2, 0, 0, False),  # the second configuration never ran it (stopped): no change
    ]  # fmt: skip
    [changed] = changed_cases(results, cases=3, configurations=2)
    assert (changed.case, changed.pass_rates) == (0, (1.0, 0.5))
    assert changed_cases(results, cases=3, configurations=1) == ()


def test_streaming_variance_needs_two_configurations_alike_but_for_streaming() -> None:
    on = EvalConfiguration(model="openai:gpt-4o-mini")
    off = EvalConfiguration(model="openai:gpt-4o-mini", streaming=False)
    results = [
        result(0, 0, 0, False, "the cat sat on the mat"),
        result(0, 1, 0, True, "the cat sat on a mat"),
        result(1, 0, 0, True, "yes"),
        result(1, 1, 0, True, "yes"),
    ]
    variance = streaming_variance([off, on], results)
    assert variance is not None
    assert (variance.streaming, variance.pass_rate_delta, variance.pairs) == (1, 0.5, 2)
    assert variance.similarity_min < 1.0 and variance.similarity_p50 < 1.0
    assert streaming_variance([on, on], results) is None
    other = EvalConfiguration(model="openai:gpt-4o", streaming=False)
    assert streaming_variance([other, on], results) is None


def test_a_later_eval_against_an_earlier_names_what_now_fails_and_now_passes() -> None:
    before = [result(0, 0, 0, True), result(1, 0, 0, False), result(2, 0, 0, True)]
    after = [result(0, 0, 0, False), result(1, 0, 0, True), result(2, 0, 0, True)]
    comparison = compare_evals(before, after, cases=3, configurations=1)
    assert [(c.case, c.before, c.after) for c in comparison.now_failing] == [(0, 1.0, 0.0)]
    assert [(c.case, c.before, c.after) for c in comparison.now_passing] == [(1, 0.0, 1.0)]
    assert comparison.before[0].pass_rate == comparison.after[0].pass_rate == 2 / 3
