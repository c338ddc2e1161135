"""Pure rendering for the Evals tab: the progress of a run (cases done of all, an ETA), each
configuration's summary (pass rate, latency percentiles, cost), the grid of cases × configurations
(each cell's answer and its assertions' reasons on click), and what changed between
configurations. Model text is escaped; nothing here does I/O."""

from __future__ import annotations

import html
from collections.abc import Sequence

from playground.evals.compare import (
    CaseChange,
    ChangedCase,
    EvalComparison,
    StreamingVariance,
    changed_cases,
    streaming_variance,
)
from playground.evals.record import EvalRecord
from playground.evals.request import EvalCase
from playground.evals.results import (
    CaseResult,
    ConfigurationSummary,
    Percentiles,
    summarise_results,
)
from playground.pricing.table import usd_text

__all__ = [
    "changes_html",
    "comparison_html",
    "grid_html",
    "progress_html",
    "record_html",
    "summary_html",
]

_CASE_CHARS = 80  # of a case's message, in the grid's first column


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def _p(value: Percentiles | None, unit: str = " ms") -> str:
    if value is None:
        return "—"
    return f"{value.p50:,.0f} / {value.p95:,.0f}{unit}"


def progress_html(done: int, total: int, elapsed_s: float, *, running: bool) -> str:
    """Runs done of all, as a bar and in words; the ETA from the pace so far (none before the
    first run finishes, when there is no pace to go by)."""
    total = max(total, 0)
    words = f"{done} of {total} runs"
    if running and 0 < done < total:
        eta = elapsed_s / done * (total - done)
        words += f" · about {eta:,.0f} s left"
    elif not running and done < total:
        words += " · stopped"
    elif not running:
        words += f" · done in {elapsed_s:,.1f} s"
    return (
        f"<div class='sp-eval-progress' data-done='{done}' data-total='{total}'>"
        f"<progress value='{done}' max='{max(total, 1)}'></progress>"
        f"<span>{html.escape(words)}</span></div>"
    )


def summary_html(labels: Sequence[str], summary: Sequence[ConfigurationSummary]) -> str:
    """One row per configuration: pass rate, TTFT / TTFA / total p50 and p95, tokens/s, cost."""
    if not summary:
        return ""
    # A reasoning model's first answer token comes after its thinking: shown when one thought.
    thought = any(s.reasoning_ms is not None for s in summary)
    head = (
        "<tr><th>Configuration</th><th>Pass rate</th><th>TTFT p50 / p95</th>"
        + ("<th>First answer token p50 / p95</th>" if thought else "")
        + "<th>TTFA p50 / p95</th><th>Total p50 / p95</th><th>Tokens/s p50</th><th>Cost</th></tr>"
    )
    rows = []
    for s in summary:
        label = labels[s.configuration] if s.configuration < len(labels) else "?"
        tokens = "—" if s.tokens_per_s is None else f"{s.tokens_per_s.p50:,.0f}"
        rows.append(
            f"<tr data-configuration='{s.configuration}'><td>{html.escape(label)}</td>"
            f"<td class='sp-eval-rate'>{_pct(s.pass_rate)} ({s.passed}/{s.runs})</td>"
            f"<td>{_p(s.ttft_ms)}</td>"
            + (f"<td>{_p(s.ttfat_ms)}</td>" if thought else "")
            + f"<td>{_p(s.ttfa_ms)}</td><td>{_p(s.total_ms)}</td>"
            f"<td>{tokens}</td><td>{usd_text(s.cost_usd)}</td></tr>"
        )
    return f"<table class='sp-eval-summary'>{head}{''.join(rows)}</table>"


def _verdict(results: Sequence[CaseResult]) -> tuple[str, str]:
    """A cell's class and its words: the colour is never the only sign."""
    passed = sum(r.passed for r in results)
    if all(r.error is not None for r in results):
        return "error", "⚠ error"  # neither pass nor fail: the answer never came
    if passed == len(results):
        return "pass", "✓ pass"
    if passed == 0:
        return "fail", "✗ fail"
    return "fail", f"◐ {passed}/{len(results)} pass"


def _cell(results: Sequence[CaseResult], *, running: bool) -> str:
    if not results:
        if running:
            return "<td class='sp-eval-cell sp-eval-pending'>… waiting</td>"
        return "<td class='sp-eval-cell sp-eval-notrun'>– not run</td>"
    verdict, words = _verdict(results)
    details = []
    for r in sorted(results, key=lambda r: r.repeat):
        reasons = "".join(
            f"<li class='{'sp-ok' if a.passed else 'sp-bad'}'>{html.escape(a.type)}: "
            f"{html.escape(a.reason)}</li>"
            for a in r.assertions
        )
        if r.error:
            reasons += f"<li class='sp-bad'>error: {html.escape(r.error)}</li>"
        details.append(
            f"<div class='sp-eval-answer'><pre>{html.escape(r.text) or '(no text)'}</pre>"
            f"<ul>{reasons}</ul></div>"
        )
    return (
        f"<td class='sp-eval-cell sp-eval-{verdict}'><details><summary>{words}</summary>"
        f"{''.join(details)}</details></td>"
    )


def grid_html(
    cases: Sequence[EvalCase],
    labels: Sequence[str],
    results: Sequence[CaseResult],
    *,
    running: bool = True,
) -> str:
    """Cases down, configurations across; a cell opens to its answer(s) and reasons. A cell
    with no result is waiting while the eval runs, and "not run" once it ended (stopped)."""
    if not cases:
        return ""
    head = "<tr><th>Case</th>" + "".join(f"<th>{html.escape(x)}</th>" for x in labels) + "</tr>"
    rows = []
    for index, case in enumerate(cases):
        text = case.description or case.message
        shown = text if len(text) <= _CASE_CHARS else text[: _CASE_CHARS - 1] + "…"
        cells = "".join(
            _cell(
                [r for r in results if r.case == index and r.configuration == c],
                running=running,
            )
            for c in range(len(labels))
        )
        rows.append(
            f"<tr data-case='{index}'><td title='{html.escape(case.message)}'>"
            f"{index + 1}. {html.escape(shown)}</td>{cells}</tr>"
        )
    return f"<table class='sp-eval-grid'>{head}{''.join(rows)}</table>"


def changes_html(
    cases: Sequence[EvalCase],
    labels: Sequence[str],
    changed: Sequence[ChangedCase],
    variance: StreamingVariance | None,
) -> str:
    """The cases whose outcome depends on the configuration, and — for streaming against
    complete — how far apart the answers were."""
    parts = []
    if len(labels) > 1:
        if changed:
            items = "".join(
                f"<li>{c.case + 1}. {html.escape(cases[c.case].message[:_CASE_CHARS])}: "
                + ", ".join(
                    f"{html.escape(labels[i])} {_pct(rate)}" for i, rate in enumerate(c.pass_rates)
                )
                + "</li>"
                for c in changed
            )
            parts.append(f"<p>Outcome changed with the configuration:</p><ul>{items}</ul>")
        else:
            parts.append("<p>Every case had the same outcome under every configuration.</p>")
    if variance is not None:
        parts.append(
            f"<p>Streaming against complete: pass rate {variance.pass_rate_delta * 100:+.0f} "
            f"points with streaming; answers {variance.similarity_p50 * 100:.1f}% alike "
            f"(median, lowest {variance.similarity_min * 100:.1f}%, {variance.pairs} pairs).</p>"
        )
    return f"<div class='sp-eval-changes'>{''.join(parts)}</div>" if parts else ""


def _moved(before: Percentiles | None, after: Percentiles | None) -> str:
    return f"{_p(before)} → {_p(after)}"


def _change_items(
    cases: Sequence[EvalCase], labels: Sequence[str], changes: Sequence[CaseChange]
) -> str:
    return "".join(
        f"<li>{c.case + 1}. {html.escape(cases[c.case].message[:_CASE_CHARS])} · "
        f"{html.escape(labels[c.configuration] if c.configuration < len(labels) else '?')}: "
        f"{_pct(c.before)} → {_pct(c.after)}</li>"
        for c in changes
    )


def comparison_html(
    cases: Sequence[EvalCase],
    labels: Sequence[str],
    before_label: str,
    comparison: EvalComparison,
    differences: Sequence[str] = (),
) -> str:
    """This run against an earlier one of the same cases: what ran differently (``differences``,
    from ``what_changed``), what passed before and fails now, the reverse, and each
    configuration's pass rate and TTFT / total percentiles before → after. ``labels``: this
    run's configurations (the earlier run's may have been other models)."""
    parts = [f"<p>Compared with the run of {html.escape(before_label)}.</p>"]
    if differences:
        items = "".join(f"<li>{html.escape(d)}</li>" for d in differences)
        parts.append(f"<p>What ran differently:</p><ul class='sp-eval-what-changed'>{items}</ul>")
    else:
        parts.append("<p class='sp-eval-what-changed'>The same settings and prompts ran.</p>")
    for title, changes, kind in (
        ("Passed before, fails now", comparison.now_failing, "worse"),
        ("Failed before, passes now", comparison.now_passing, "better"),
    ):
        if changes:
            parts.append(
                f"<p class='sp-eval-{kind}'>{title} ({len(changes)}):</p>"
                f"<ul class='sp-eval-{kind}'>{_change_items(cases, labels, changes)}</ul>"
            )
        else:
            parts.append(f"<p>{title}: none.</p>")
    head = (
        "<tr><th>Configuration</th><th>Pass rate before → after</th>"
        "<th>TTFT p50 / p95 before → after</th><th>Total p50 / p95 before → after</th></tr>"
    )
    rows = "".join(
        f"<tr data-configuration='{a.configuration}'>"
        f"<td>{html.escape(labels[a.configuration] if a.configuration < len(labels) else '?')}"
        f"</td><td>{_pct(b.pass_rate)} → {_pct(a.pass_rate)}</td>"
        f"<td>{_moved(b.ttft_ms, a.ttft_ms)}</td><td>{_moved(b.total_ms, a.total_ms)}</td></tr>"
        for b, a in zip(comparison.before, comparison.after, strict=True)
    )
    parts.append(f"<table class='sp-eval-summary'>{head}{rows}</table>")
    return f"<div class='sp-eval-comparison'>{''.join(parts)}</div>"


def record_html(record: EvalRecord) -> tuple[str, str, str]:
    """A kept run as it was shown when it ended: its summary, its changes and its grid."""
    count = len(record.labels)
    return (
        summary_html(record.labels, summarise_results(record.results, count)),
        changes_html(
            record.cases,
            record.labels,
            changed_cases(record.results, len(record.cases), count),
            streaming_variance(record.configurations(), record.results),
        ),
        grid_html(record.cases, record.labels, record.results, running=False),
    )
