"""The Chat tab's timing panel as HTML: the arrival chart, the gap chart and the per-chunk table.

Drawn here as inline SVG and a plain table rather than with Gradio's plot and dataframe
components: those re-laid out a whole chart (or grid) in the browser on every update, which held
the chat's text back by up to 90 ms three times a second. Gradio patches an HTML component's DOM
in place (it parses the new value and changes only the nodes that differ), and a scrolled table
stays put.

Long turns stay light: the charts keep at most one step or bar per unit column, and the table
lists the first ``TABLE_MAX_ROWS`` chunks and only ever grows at its end (see ``table_html``).
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from statistics import median
from typing import Final

from playground.turn.state import TurnState

_W: Final = 640.0
_LEFT, _RIGHT, _TOP, _BOTTOM = 52.0, 14.0, 10.0, 46.0
ARRIVAL_H: Final = 250.0
GAP_H: Final = 170.0
_TICKS: Final = 6
_EMPTY_MS, _EMPTY_CHARS, _EMPTY_GAP = 1000.0, 100.0, 50.0
_GRID, _AXIS_TEXT, _MEDIAN = "#e5e7eb", "#6b7280", "#9ca3af"
TEXT_SERIES: Final = "text received"
AUDIO_SERIES: Final = "text voiced"
GAP_SERIES: Final = "gap before the chunk"
TEXT_COLOUR: Final = "#2563eb"
VOICE_COLOUR: Final = "#10b981"
THINKING_SERIES: Final = "thinking"
THINKING_COLOUR: Final = "#f59e0b"
GAP_COLOUR: Final = "#2563eb"
GAP_MIN_EXTENT: Final = 20.0  # the gap chart spans at least chunks 1-20
TABLE_HEADERS: Final = ("seq", "ms since send", "gap ms", "chars")
ARRIVAL_CAPTION: Final = (
    "Each step up is a chunk arriving (text received) or a spoken piece ready to play "
    "(text voiced); flat runs are waiting time."
)
GAP_CAPTION: Final = (
    "Milliseconds each chunk waited after the one before it, from the second chunk on (the "
    "first waits for TTFT). Even, low bars read as smooth streaming; tall ones are stalls."
)

Point = tuple[float, float]


def nice_ticks(top: float, count: int = _TICKS, *, whole: bool = False) -> list[float]:
    """Round tick values from 0 that cover ``top``: steps of 1, 2, 2.5 or 5 times a power of 10,
    and at least 1 on a ``whole`` axis (characters, chunks), which has no half values."""
    if not (math.isfinite(top) and top > 0):
        top = 1.0
    raw = top / (count - 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    if whole and step != int(step):  # 0.25 -> 1, 2.5 -> 5: whole numbers only
        step = 1.0 if step < 1 else math.ceil(step / 5) * 5.0
    return [round(i * step, 9) for i in range(math.ceil(top / step - 1e-9) + 1)]


def tick_labels(ticks: Sequence[float]) -> list[str]:
    """The ticks with as many decimals as their step needs (0.25 steps get two), no more."""
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    decimals = next((d for d in range(7) if abs(round(step, d) - step) < 1e-9), 6)
    return [f"{tick:,.{decimals}f}" for tick in ticks]


class ChartFrame:
    """A chart's plot area: data coordinates to SVG units, with its grid and axes drawn."""

    def __init__(self, height: float, x_ticks: list[float], y_ticks: list[float]) -> None:
        self.height = height
        self.x_ticks, self.y_ticks = x_ticks, y_ticks
        self.x_max, self.y_max = x_ticks[-1] or 1.0, y_ticks[-1] or 1.0
        self.width = _W - _LEFT - _RIGHT
        self.bottom = height - _BOTTOM

    def x(self, value: float) -> float:
        return _LEFT + min(value, self.x_max) / self.x_max * self.width

    def y(self, value: float) -> float:
        return self.bottom - min(value, self.y_max) / self.y_max * (self.bottom - _TOP)

    def axes(self, x_title: str, y_title: str) -> str:
        parts = []
        for tick, label in zip(self.y_ticks, tick_labels(self.y_ticks), strict=True):
            y = self.y(tick)
            parts.append(
                f"<line x1='{_LEFT}' x2='{_W - _RIGHT}' y1='{y:.1f}' y2='{y:.1f}' "
                f"stroke='{_GRID}'/><text x='{_LEFT - 6}' y='{y + 3.5:.1f}' "
                f"text-anchor='end'>{label}</text>"
            )
        for i, (tick, label) in enumerate(
            zip(self.x_ticks, tick_labels(self.x_ticks), strict=True)
        ):
            x = self.x(tick)
            odd = " class='sp-odd'" if i % 2 else ""  # a phone labels every other tick
            parts.append(
                f"<line x1='{x:.1f}' x2='{x:.1f}' y1='{_TOP}' y2='{self.bottom}' "
                f"stroke='{_GRID}'/><text x='{x:.1f}' y='{self.bottom + 14:.1f}' "
                f"text-anchor='middle'{odd}>{label}</text>"
            )
        parts.append(
            f"<text x='{_LEFT + self.width / 2:.1f}' y='{self.height - 4:.1f}' "
            f"text-anchor='middle' class='sp-axis-title'>{html.escape(x_title)}</text>"
            f"<text transform='translate(13 {(_TOP + self.bottom) / 2:.1f}) rotate(-90)' "
            f"text-anchor='middle' class='sp-axis-title sp-y-title'>{html.escape(y_title)}</text>"
        )
        return f"<g fill='{_AXIS_TEXT}' font-size='11'>{''.join(parts)}</g>"


def _svg(height: float, label: str, body: str) -> str:
    return (
        f"<svg viewBox='0 0 {_W:.0f} {height:.0f}' role='img' aria-label='{html.escape(label)}'>"
        f"{body}</svg>"
    )


def _figure(title: str, svg: str, legend: str, caption: str) -> str:
    return (
        f"<figure class='sp-chart'><div class='sp-chart-title'>{html.escape(title)}</div>{svg}"
        f"{legend}{f'<figcaption>{html.escape(caption)}</figcaption>' if caption else ''}"
        "</figure>"
    )


def _steps(frame: ChartFrame, steps: Iterable[Point]) -> str:
    """A staircase from the origin through ``(ms, total)`` steps: one step per unit column."""
    points: list[Point] = [(frame.x(0), frame.y(0))]
    level = frame.y(0)
    for t, total in steps:
        x, y = frame.x(t), frame.y(total)
        if len(points) > 1 and int(points[-1][0]) == int(x):  # this step only raises the last
            points[-1] = (points[-1][0], y)
        else:
            points += [(x, level), (x, y)]
        level = y
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)


def _cumulative(items: Iterable[tuple[float, str]]) -> list[Point]:
    total, out = 0.0, []
    for t_ms, text in items:
        total += len(text)
        out.append((t_ms, total))
    return out


def arrival_html(turn: TurnState | None) -> str:
    """The Chat tab's arrival chart for ``turn`` (see ``arrival_chart``)."""
    if turn is None:
        return arrival_chart((), ())
    return arrival_chart(
        ((c.t_ms, c.text) for c in turn.chunks),
        ((a.t_ms, a.text) for a in turn.audio),
        thinking=turn.thinking_bands(),
    )


def arrival_chart(
    received: Iterable[tuple[float, str]],
    voiced: Iterable[tuple[float, str]],
    *,
    thinking: Sequence[tuple[float, float]] = (),
    height: float = ARRIVAL_H,
    caption: str = ARRIVAL_CAPTION,
) -> str:
    """Characters over time as two staircases: text received (a step per chunk) and text voiced
    (a step per spoken piece), so waiting shows as flat runs; a reasoning model's ``thinking``
    spells ((start, end) ms) are shaded bands behind them. ``received`` and ``voiced`` are
    ``(ms since Send, text)`` pairs. The one arrival chart: the Chat tab's timing panel and the
    notebook's cells both draw it."""
    received_steps = _cumulative(received)
    voiced_steps = _cumulative(voiced)
    last_ms = max(
        [*(t for t, _ in received_steps + voiced_steps), *(end for _, end in thinking)],
        default=0.0,
    )
    most = max((n for _, n in received_steps + voiced_steps), default=0.0)
    frame = ChartFrame(
        height,
        nice_ticks(last_ms or _EMPTY_MS, 8),
        nice_ticks(most or _EMPTY_CHARS, whole=True),
    )
    lines = "".join(
        f"<rect class='sp-thinking' x='{frame.x(start):.1f}' y='{_TOP:.1f}' "
        f"width='{max(1.0, frame.x(end) - frame.x(start)):.1f}' "
        f"height='{frame.bottom - _TOP:.1f}' fill='{THINKING_COLOUR}' "
        "fill-opacity='0.18'/>"
        for start, end in thinking
    )
    if received_steps:
        lines += (
            f"<polyline class='sp-received' fill='none' stroke='{TEXT_COLOUR}' "
            f"stroke-width='1.8' points='{_steps(frame, received_steps)}'/>"
        )
    if voiced_steps:
        lines += (
            f"<polyline class='sp-voiced' fill='none' stroke='{VOICE_COLOUR}' stroke-width='1.8' "
            f"points='{_steps(frame, voiced_steps)}'/>"
        )
    legend = (
        "<div class='sp-legend'>"
        f"<span><i style='background:{TEXT_COLOUR}'></i>{TEXT_SERIES}</span>"
        f"<span><i style='background:{VOICE_COLOUR}'></i>{AUDIO_SERIES}</span>"
        + (
            f"<span><i style='background:{THINKING_COLOUR}'></i>{THINKING_SERIES}</span>"
            if thinking
            else ""
        )
        + "</div>"
    )
    body = frame.axes("ms since Send", "characters") + lines
    svg = _svg(height, "characters received and voiced over time", body)
    return _figure("When each chunk arrived", svg, legend, caption)


def _bars(frame: ChartFrame, gaps: Sequence[Point]) -> str:
    """One bar per chunk (the tallest, where several share a pixel column), as one path."""
    width = max(1.0, min(12.0, frame.width / max(len(gaps), 1) * 0.6))
    tallest: dict[int, Point] = {}  # unit column -> (x, the tallest gap there)
    for seq, gap in gaps:
        x = frame.x(seq)
        column = tallest.setdefault(int(x), (x, gap))
        tallest[int(x)] = (column[0], max(column[1], gap))
    base = frame.y(0)
    path = "".join(f"M{x:.1f} {base:.1f}V{frame.y(g):.1f}" for x, g in tallest.values())
    return (
        f"<path class='sp-gap-bars' d='{path}' stroke='{GAP_COLOUR}' "
        f"stroke-width='{width:.1f}' fill='none'/>"
    )


def gap_html(turn: TurnState | None) -> str:
    """One bar per chunk after the first: how long it waited after the previous one, with the
    median marked. The first chunk's wait is TTFT, often ten times any later gap, so it is left
    out rather than flatten every other bar."""
    gaps = [(float(c.seq), c.gap_ms) for c in (turn.chunks[1:] if turn else [])]
    last_seq = max(gaps[-1][0] if gaps else 0.0, GAP_MIN_EXTENT)
    frame = ChartFrame(
        GAP_H,
        nice_ticks(last_seq, 8, whole=True),
        nice_ticks(max((g for _, g in gaps), default=0.0) or _EMPTY_GAP, 5),
    )
    body = frame.axes("chunk seq", "gap ms")
    legend = ""
    if gaps:
        body += _bars(frame, gaps)
        middle = median(g for _, g in gaps)
        y = frame.y(middle)
        body += (
            f"<line class='sp-gap-median' x1='{_LEFT}' x2='{_W - _RIGHT}' y1='{y:.1f}' "
            f"y2='{y:.1f}' stroke='{_MEDIAN}' stroke-dasharray='5 3'/>"
        )
        legend = (
            "<div class='sp-legend'>"
            f"<span><i style='background:{GAP_COLOUR}'></i>{GAP_SERIES}</span>"
            f"<span><i class='sp-dashed'></i>median {middle:,.1f} ms</span></div>"
        )
    svg = _svg(GAP_H, "gap before each chunk", body)
    return _figure("Gap before each chunk", svg, legend, GAP_CAPTION)


TABLE_MAX_ROWS: Final = 500
TABLE_MORE: Final = (
    f"<tr class='sp-more'><td colspan='4'>The first {TABLE_MAX_ROWS} chunks are listed; the "
    "charts and the summary cover every one.</td></tr>"
)
TABLE_HEAD: Final = (
    "<div class='sp-chart-title sp-table-title'>Per-chunk timing"
    "<button type='button' data-sp-copy-table title='Copy the rows, tab-separated'>Copy</button>"
    "</div>"
    "<div class='sp-chunk-table' tabindex='0' role='region' aria-label='Per-chunk timing'>"
    "<table><thead><tr>"
    + "".join(f"<th>{html.escape(h)}</th>" for h in TABLE_HEADERS)
    + "</tr></thead><tbody>"
)


def table_html(turn: TurnState | None) -> str:
    """A row per chunk (seq, ms since Send, gap, characters), for the first ``TABLE_MAX_ROWS``.

    The markup is left open after the last row (the browser closes it) so that a later update
    only ever appends to this one: Gradio then sends just the new rows, not the whole table. The
    browser still re-reads the whole value on each update, hence the cap."""
    chunks = turn.chunks if turn else []
    rows = "".join(
        f"<tr><td>{c.seq}</td><td>{c.t_ms:,.1f}</td><td>{c.gap_ms:,.1f}</td>"
        f"<td>{len(c.text)}</td></tr>"
        for c in chunks[:TABLE_MAX_ROWS]
    )
    return TABLE_HEAD + rows + (TABLE_MORE if len(chunks) > TABLE_MAX_ROWS else "")
