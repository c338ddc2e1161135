"""Pure rendering for the Arena tab: each column's pane (its answer as it streams, its status
and headline numbers), one chart overlaying every column's characters over time on the same
clock (the race to the first token visible at a glance), the table of measures with the best
of each row marked, and — over repeated rounds — each measure's median and range and how alike
the answers were (column against column, and each column against itself). Model text is
escaped; nothing here does I/O."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from playground.pricing.table import usd_text
from playground.turn.arena import ArenaRow, ArenaRun, SpreadRow, agreement, distribution, scoreboard
from playground.turn.similarity import Summary, similarity, word_diff
from playground.turn.state import TurnState
from playground.ui.render.chat_view import error_html

__all__ = [
    "COLORS",
    "INTRO",
    "Pane",
    "chart_svg",
    "pane",
    "pane_html",
    "percent",
    "results_html",
    "similarity_html",
    "spread_html",
]

INTRO = (
    "One message to every column at once, each with its own model, prompt version, streaming "
    "and parameters, all timed on one clock. Each column keeps its own conversation, so a "
    "follow-up goes to each with its own history. **Repeat** runs the message several times "
    "for the spread of every measure; one **voice** may speak one column. The preset "
    "*streaming vs complete* puts the settings' configuration beside itself with streaming off. "
    "Keys from **Session keys** apply; each column counts as one turn against your limits."
)
# One colour per column, told apart in light and dark themes and by colour-blind readers
# (Okabe–Ito).
COLORS: Final = ("#0072B2", "#E69F00", "#009E73", "#CC79A7")
_W, _H, _PAD = 560, 180, 36


def percent(value: float) -> str:
    """A similarity as a percentage: ``1.0`` → ``100%``, ``0.9412`` → ``94.1%``."""
    return "100%" if value >= 1.0 else f"{value * 100:.1f}%"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} ms"


def _round_text(run: ArenaRun | None) -> str:
    if run is None or run.repeat < 2 or not run.rounds:
        return ""
    return f" · round {len(run.rounds)}/{run.repeat}"


def _status(state: TurnState | None) -> str:
    if state is None or state.started is None:
        return "ready" if state is None else "starting…"
    if state.completed is None:
        return "stopping…" if state.stopped else "streaming…"
    if state.completed.finish_reason == "stopped":
        return "stopped"
    return "finished with errors" if state.errors else "done"


@dataclass(frozen=True, slots=True)
class Pane:
    """A column's pane in three parts, so that a frame can tell whether only its answer grew
    (``text``, raw: sent as an appended piece) or the rest changed too (sent whole)."""

    head: str  # the configuration, status and round
    text: str | None  # the answer so far; None: nothing has run in this column yet
    tail: str  # errors and headline numbers

    def html(self, run: str = "", seq: int = 0) -> str:
        """``run`` and ``seq``: which run's pane this is and its place among that run's
        renderings of it (the page keeps the newest of those arriving by two ways)."""
        if self.text is None:
            body = "<div class='sp-arena-text sp-arena-empty'>The answer streams here.</div>"
        else:
            body = f"<div class='sp-arena-text'>{html.escape(self.text)}</div>"
        version = f" data-run='{html.escape(run)}' data-seq='{seq}'" if run else ""
        return f"<div class='sp-arena-pane'{version}>{self.head}{body}{self.tail}</div>"


def pane(index: int, label: str, state: TurnState | None, run: ArenaRun | None = None) -> Pane:
    """Column ``index`` (0-based): its configuration, status (and round, when repeated),
    answer and headline numbers."""
    color = COLORS[index % len(COLORS)]
    status = _status(state)
    if run is not None and index in run.dropped:
        status = "stopped (sits out the next rounds)" if run.repeat > 1 else status
    head = (
        f"<div class='sp-arena-head'><span class='sp-arena-dot' style='background:{color}'>"
        f"</span><b>{index + 1}</b> {html.escape(label)} · <i>{status}</i>"
        f"{_round_text(run)}</div>"
    )
    if state is None:
        return Pane(head, None, "")
    errors = "".join(f"<div class='sp-arena-error'>{error_html(e)}</div>" for e in state.errors)
    facts = []
    if state.chunks:
        facts.append(f"TTFT {_ms(state.chunks[0].t_ms)}")
    if state.audio:
        facts.append(f"spoken, TTFA {_ms(state.audio[0].t_ms)}")
    if state.completed is not None:
        facts.append(f"total {_ms(state.completed.timing.total_ms)}")
        cost = state.completed.cost
        facts.append(f"cost {usd_text(cost.usd if cost else None)}")
    numbers = f"<div class='sp-arena-facts'>{' · '.join(facts)}</div>" if facts else ""
    return Pane(head, state.text, f"{errors}{numbers}")


def pane_html(index: int, label: str, state: TurnState | None, run: ArenaRun | None = None) -> str:
    """``pane`` as HTML."""
    return pane(index, label, state, run).html()


def chart_svg(labels: Sequence[str], states: Sequence[TurnState | None]) -> str:
    """Characters received over time, one line per column, on one time axis."""
    series = [
        [(c.t_ms, len(c.snapshot)) for c in state.chunks] if state is not None else []
        for state in states
    ]
    points = [p for s in series for p in s]
    if not points:
        return "<div class='sp-arena-chart sp-arena-empty'>The race is drawn here.</div>"
    t_max = max(max(t for t, _ in points), 1.0)
    c_max = max(max(c for _, c in points), 1)

    def xy(t: float, c: int) -> str:
        x = _PAD + (_W - 2 * _PAD) * t / t_max
        y = _H - _PAD + (2 * _PAD - _H) * c / c_max
        return f"{x:.1f},{y:.1f}"

    lines = []
    for index, chunks in enumerate(series):
        if not chunks:
            continue
        # A step line: the text stays as it was until the next chunk arrives.
        steps = [xy(0, 0)]
        previous = 0
        for t, c in chunks:
            steps += [xy(t, previous), xy(t, c)]
            previous = c
        color = COLORS[index % len(COLORS)]
        lines.append(
            f"<polyline class='sp-arena-line' data-column='{index + 1}' fill='none' "
            f"stroke='{color}' stroke-width='2' points='{' '.join(steps)}'>"
            f"<title>{html.escape(labels[index])}</title></polyline>"
        )
    axis = (
        f"<line x1='{_PAD}' y1='{_H - _PAD}' x2='{_W - _PAD}' y2='{_H - _PAD}' class='sp-axis'/>"
        f"<line x1='{_PAD}' y1='{_PAD}' x2='{_PAD}' y2='{_H - _PAD}' class='sp-axis'/>"
        f"<text x='{_PAD}' y='{_H - 10}' class='sp-axis-label'>0</text>"
        f"<text x='{_W - _PAD}' y='{_H - 10}' text-anchor='end' class='sp-axis-label'>"
        f"{t_max:,.0f} ms</text>"
        f"<text x='4' y='{_PAD - 8}' class='sp-axis-label'>{c_max:,} chars</text>"
    )
    legend = "".join(
        f"<span><i style='background:{COLORS[i % len(COLORS)]}'></i>"
        f"{i + 1} {html.escape(label)}</span>"
        for i, label in enumerate(labels)
    )
    return (
        f"<div class='sp-arena-chart'><svg viewBox='0 0 {_W} {_H}' role='img' "
        f"aria-label='Characters received over time, per column'>{axis}{''.join(lines)}</svg>"
        f"<div class='sp-arena-legend'>{legend}</div></div>"
    )


def _value(row: ArenaRow, value: float | None) -> str:
    if row.unit == "usd":
        return usd_text(value)
    if value is None:
        return "—"
    if row.unit == "ms":
        return f"{value:,.0f} ms"
    if row.unit == "/s":
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def results_html(
    labels: Sequence[str], states: Sequence[TurnState | None], run: ArenaRun | None = None
) -> str:
    """The overlay chart and the table of measures, the best column of each row marked ★;
    with ``run`` repeated, the spread over its finished rounds below."""
    finished = [s if s is not None else TurnState() for s in states]
    head = "".join(
        f"<th><span class='sp-arena-dot' style='background:{COLORS[i % len(COLORS)]}'></span>"
        f"{i + 1} {html.escape(label)}</th>"
        for i, label in enumerate(labels)
    )
    rows = []
    for row in scoreboard(finished):
        cells = "".join(
            f"<td class='sp-arena-best' title='best'>★ {_value(row, v)}</td>"
            if i in row.best
            else f"<td>{_value(row, v)}</td>"
            for i, v in enumerate(row.values)
        )
        rows.append(f"<tr><th>{html.escape(row.name)}</th>{cells}</tr>")
    notice = (
        f"<p class='sp-arena-notice'>{html.escape(run.notice)}</p>"
        if run is not None and run.notice
        else ""
    )
    title = (
        f"<div class='sp-tl-title'>Round {len(run.rounds)} of {run.repeat}</div>"
        if run is not None and run.repeat > 1 and run.rounds
        else ""
    )
    spread = spread_html(labels, run.finished_rounds, run.repeat) if run is not None else ""
    return (
        f"{notice}{chart_svg(labels, states)}{title}<table class='sp-arena-table'><tr><th></th>"
        f"{head}</tr>{''.join(rows)}</table>{similarity_html(states)}{spread}"
        "<p class='sp-arena-note'>★ the best of a row (lowest time and cost, highest "
        "throughput) among the columns that finished. Cost: the price table's rates for the "
        "tokens the provider reported; — where the model has no price.</p>"
    )


def similarity_html(states: Sequence[TurnState | None]) -> str:
    """How alike the finished answers are, pair by pair (1 − the word edit distance), and the
    word diff of column 1 against the column least like it."""
    done = {
        i: s.text
        for i, s in enumerate(states)
        if s is not None and s.completed is not None and s.text
    }
    if len(done) < 2:
        return ""
    indexes = sorted(done)
    scores = {(a, b): similarity(done[a], done[b]) for a in indexes for b in indexes if a < b}
    head = "".join(f"<th>{b + 1}</th>" for b in indexes[1:])
    rows = []
    for a in indexes[:-1]:
        cells = "".join(
            f"<td>{percent(scores[(a, b)])}</td>" if (a, b) in scores else "<td></td>"
            for b in indexes[1:]
        )
        rows.append(f"<tr><th>{a + 1}</th>{cells}</tr>")
    first = indexes[0]
    other = min((b for b in indexes if b != first), key=lambda b: (scores[(first, b)], b))
    pieces = []
    for op, text in word_diff(done[first], done[other]):
        escaped = html.escape(text)
        pieces.append(
            f"<ins>{escaped}</ins>"
            if op == "insert"
            else f"<del>{escaped}</del>"
            if op == "delete"
            else escaped
        )
    return (
        "<div class='sp-arena-similarity'><b>Similarity of the answers</b> (word level)"
        f"<table class='sp-arena-table sp-arena-sim'><tr><th></th>{head}</tr>{''.join(rows)}"
        "</table><div class='sp-worddiff'><div class='sp-worddiff-head'>"
        f"<b>Column {first + 1} against column {other + 1}: "
        f"{percent(scores[(first, other)])} similar</b><span><del>only in {first + 1}</del> "
        f"<ins>only in {other + 1}</ins></span></div>"
        f"<div class='sp-worddiff-text'>{''.join(pieces)}</div></div></div>"
    )


def _spread_value(row: SpreadRow, value: float) -> str:
    return _value(ArenaRow(row.name, (), row.better, row.unit, ()), value)


def _spread_cell(row: SpreadRow, index: int, summary: Summary | None) -> str:
    if summary is None:
        return "<td>—</td>"
    text = (
        f"{_spread_value(row, summary.p50)}<small>{_spread_value(row, summary.min)} – "
        f"{_spread_value(row, summary.max)}</small>"
    )
    if index in row.best:
        return f"<td class='sp-arena-best' title='best median'>★ {text}</td>"
    return f"<td>{text}</td>"


def _share(summary: Summary | None) -> str:
    if summary is None:
        return "—"
    return f"{percent(summary.p50)}<small>{percent(summary.min)} – {percent(summary.max)}</small>"


def spread_html(
    labels: Sequence[str], rounds: Sequence[Sequence[TurnState | None]], repeat: int
) -> str:
    """Over the finished rounds of a repeated run: each measure's median with its range per
    column, how alike the columns' answers were round by round, and how alike each column's
    answers were to each other (the run-to-run variation a difference between columns has to
    stand out from)."""
    if repeat < 2:
        return ""
    if len(rounds) < 2:
        return (
            "<p class='sp-caption sp-arena-spread'>The spread over the rounds appears after "
            "the second round.</p>"
        )
    head = "".join(
        f"<th><span class='sp-arena-dot' style='background:{COLORS[i % len(COLORS)]}'></span>"
        f"{i + 1}</th>"
        for i in range(len(labels))
    )
    rows = [
        f"<tr><th>{html.escape(row.name)}</th>"
        f"{''.join(_spread_cell(row, i, s) for i, s in enumerate(row.summaries))}</tr>"
        for row in distribution(rounds)
    ]
    agreed = agreement(rounds)
    rows.append(
        "<tr><th>Alike run to run</th>"
        f"{''.join(f'<td>{_share(s)}</td>' for s in agreed.consistency)}</tr>"
    )
    pairs = "".join(
        f"<tr><th>{a + 1} and {b + 1}</th><td>{_share(summary)}</td></tr>"
        for (a, b), summary in sorted(agreed.pairs.items())
    )
    pair_table = (
        "<table class='sp-arena-table sp-arena-pairs'><tr><th>Columns</th>"
        f"<th>Alike (median, range)</th></tr>{pairs}</table>"
        if pairs
        else ""
    )
    return (
        f"<div class='sp-arena-spread'><div class='sp-tl-title'>Over {len(rounds)} rounds: "
        "median, and the range below it</div>"
        f"<table class='sp-arena-table'><tr><th></th>{head}</tr>{''.join(rows)}</table>"
        f"{pair_table}<p class='sp-arena-note'>Alike: 1 − the word edit distance between "
        "two answers. A difference between two columns means something only where it is "
        "larger than each column's own run-to-run variation.</p></div>"
    )
