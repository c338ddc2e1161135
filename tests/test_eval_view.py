"""The Evals tab's renderers on hand-made results."""

from __future__ import annotations

from playground.evals.assertions import AssertionResult
from playground.evals.compare import ChangedCase, StreamingVariance
from playground.evals.request import EvalCase
from playground.evals.results import CaseResult, summarise_results
from playground.ui.render.eval_view import (
    changes_html,
    comparison_html,
    grid_html,
    progress_html,
    summary_html,
)

CASES = [EvalCase(message="What is <b>2+2</b>?"), EvalCase(message="Hi", description="greeting")]


def result(case: int, configuration: int, passed: bool, repeat: int = 0) -> CaseResult:
    return CaseResult(
        case=case,
        configuration=configuration,
        repeat=repeat,
        text="<i>four</i>" if passed else "five",
        passed=passed,
        assertions=(AssertionResult("contains", passed, "says four" if passed else "no four"),),
        finish_reason="stop",
        timing=None,
        usage=None,
        cost=None,
    )


def test_progress_says_how_far_and_how_long_is_left() -> None:
    assert "0 of 6 runs" in progress_html(0, 6, 0.0, running=True)
    assert "about" not in progress_html(0, 6, 0.0, running=True)
    assert "2 of 6 runs · about 8 s left" in progress_html(2, 6, 4.0, running=True)
    assert "stopped" in progress_html(3, 6, 4.0, running=False)
    assert "done in 9.5 s" in progress_html(6, 6, 9.5, running=False)
    assert "value='2' max='6'" in progress_html(2, 6, 1.0, running=True)


def test_the_grid_marks_each_cell_and_escapes_the_answers() -> None:
    results = [result(0, 0, True), result(0, 1, False), result(1, 0, True, 0)]
    results.append(result(1, 0, False, 1))
    page = grid_html(CASES, ["A", "B"], results)
    assert "&lt;b&gt;2+2&lt;/b&gt;" in page and "<b>" not in page
    assert "&lt;i&gt;four&lt;/i&gt;" in page
    assert page.count("sp-eval-pass") == 1
    assert "◐ 1/2" in page  # case 2 under A: one of two repeats passed
    assert "2. greeting" in page
    assert "sp-eval-pending" in page  # case 2 under B has not run


def test_the_summary_and_the_changes_read_plainly() -> None:
    results = [result(0, 0, True), result(0, 1, False), result(1, 0, True), result(1, 1, True)]
    table = summary_html(["A", "B"], summarise_results(results, 2))
    assert "100% (2/2)" in table and "50% (1/2)" in table and "—" in table
    changed = [ChangedCase(case=0, pass_rates=(1.0, 0.0))]
    variance = StreamingVariance(1, -0.5, 0.9412, 0.8, 2)
    text = changes_html(CASES, ["A", "B"], changed, variance)
    assert "A 100%, B 0%" in text
    assert "-50 points" in text and "94.1% alike" in text and "lowest 80.0%" in text
    assert "same outcome" in changes_html(CASES, ["A", "B"], [], None)


def test_a_configuration_that_thought_shows_its_first_answer_token_percentiles() -> None:
    from dataclasses import replace

    from playground.turn.events import TimingSummary

    thinking = TimingSummary(40.0, None, 2, 900.0, 9, None, None, ttfat_ms=700.0, reasoning_ms=660)
    plain = TimingSummary(50.0, None, 2, 300.0, 9, None, None, ttfat_ms=50.0)
    results = [
        replace(result(0, 0, True), timing=thinking),
        replace(result(0, 1, True), timing=plain),
    ]
    summary = summarise_results(results, 2)
    assert summary[0].ttfat_ms is not None and summary[0].ttfat_ms.p50 == 700.0
    assert summary[0].reasoning_ms is not None and summary[1].reasoning_ms is None
    table = summary_html(["thinker", "plain"], summary)
    assert "First answer token" in table and "700" in table
    no_thinking = summary_html(["plain"], summarise_results(results[1:], 2)[1:])
    assert "First answer token" not in no_thinking


def test_each_cell_says_pass_fail_or_error_in_words_as_well_as_colour() -> None:
    from dataclasses import replace

    errored = replace(result(1, 1, False), error="upstream said 500")
    results = [result(0, 0, True), result(0, 1, False), result(1, 0, True), errored]
    page = grid_html(CASES, ["A", "B"], results, running=False)
    assert "sp-eval-pass'><details><summary>✓ pass" in page
    assert "sp-eval-fail'><details><summary>✗ fail" in page
    assert "sp-eval-error'><details><summary>⚠ error" in page
    assert "upstream said 500" in page
    stopped = grid_html(CASES, ["A", "B"], results[:2], running=False)
    assert stopped.count("– not run") == 2 and "sp-eval-pending" not in stopped
    assert grid_html(CASES, ["A", "B"], results[:2]).count("… waiting") == 2


def test_a_comparison_names_what_changed_and_how_the_percentiles_moved() -> None:
    from dataclasses import replace

    from playground.evals.compare import compare_evals
    from playground.turn.events import TimingSummary

    def timed(r: CaseResult, ttft: float, total: float) -> CaseResult:
        return replace(r, timing=TimingSummary(ttft, None, 2, total, 9, None, None))

    before = [timed(result(0, 0, True), 100, 400), timed(result(1, 0, False), 120, 500)]
    after = [timed(result(0, 0, False), 200, 800), timed(result(1, 0, True), 220, 900)]
    page = comparison_html(CASES, ["A <x>"], "yesterday", compare_evals(before, after, 2, 1))
    assert "Compared with the run of yesterday" in page
    worse, better = page.split("Failed before, passes now")
    assert "Passed before, fails now (1)" in worse and "1. What is &lt;b&gt;2+2" in worse
    assert "A &lt;x&gt;: 100% → 0%" in worse
    assert "2. Hi · A &lt;x&gt;: 0% → 100%" in better
    assert "50% → 50%" in better
    assert "110 / 119 ms → 210 / 219 ms" in better  # TTFT p50 / p95 before → after
    assert "450 / 495 ms → 850 / 895 ms" in better
    same = compare_evals(before, before, 2, 1)
    assert comparison_html(CASES, ["A"], "then", same).count(": none.") == 2
