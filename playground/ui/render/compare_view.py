"""Pure rendering for the "Streaming vs complete" tab: a ``CompareRun`` → HTML for the components.

The same question runs twice at once, streamed and not streamed. The tab shows both answers as
they arrive, per round the two timelines (time to the first streamed words against time to the
complete answer) as tiles and a small chart, the perceived-latency gain, how similar the two
answers are and a word diff, and over N rounds the distribution of each measure. Every piece of
model text is escaped; nothing here does I/O.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from playground.turn.compare import CompareProgress, CompareRound
from playground.turn.similarity import Summary, summarise
from playground.turn.state import TurnState
from playground.ui.compare_session import CompareRun
from playground.ui.render.chat_view import error_html

__all__ = [
    "INTRO",
    "diff_html",
    "pane_html",
    "percent",
    "results_html",
]

INTRO = (
    "Sends one message twice at the same time: once streamed, once as a complete answer. Both use "
    "the **model, prompt, version and node type** chosen on the left, temperature 0 and a fixed "
    "seed; voice and the options are off so both runs do the same work. Keys from **Session keys** "
    "apply."
)
STREAMED, COMPLETE = "streamed", "complete"
_TITLES = {STREAMED: "Streamed", COMPLETE: "Complete (not streamed)"}


def percent(value: float) -> str:
    """A similarity as a percentage: ``1.0`` → ``100%``, ``0.9412`` → ``94.1%``."""
    return "100%" if value >= 1.0 else f"{value * 100:.1f}%"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} ms"


def _gain(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f} ms" if value >= 0 else f"−{-value:,.0f} ms"


def _current(run: CompareRun | None) -> CompareProgress | None:
    return run.progress if run is not None else None


def _round_done(progress: CompareProgress) -> CompareRound | None:
    """The current round's result once both of its runs have finished."""
    if len(progress.rounds) > progress.round_index:
        return progress.rounds[progress.round_index]
    return None


# -- the two panes ------------------------------------------------------------------------------


def pane_html(kind: str, run: CompareRun | None) -> str:
    """One answer pane: a title, when its text arrived, and the text (escaped, as written)."""
    title = _TITLES[kind]
    progress = _current(run)
    if run is None or progress is None:
        note = "Press Run to compare." if run is None or run.error is None else "Not sent."
        return _pane(kind, title, note, "<p class='sp-pane-empty'>—</p>")
    turn = progress.streaming if kind == STREAMED else progress.complete
    timing = _pane_timing(kind, turn, run)
    body = (
        f"<div class='sp-pane-text'>{html.escape(turn.text)}</div>"
        if turn.text
        else f"<p class='sp-pane-empty'>{_waiting(kind, turn, run)}</p>"
    )
    body += "".join(error_html(error) for error in turn.errors)
    return _pane(kind, title, timing, body)


def _waiting(kind: str, turn: TurnState, run: CompareRun) -> str:
    if turn.finished or run.finished:
        return "No text."
    if kind == STREAMED:
        return "Waiting for the first words…"
    return "Waiting for the whole answer: it appears at once when it is complete…"


def _pane_timing(kind: str, turn: TurnState, run: CompareRun) -> str:
    first = turn.chunks[0].t_ms if turn.chunks else None
    total = turn.completed.timing.total_ms if turn.completed is not None else None
    if kind == STREAMED:
        if total is not None:
            return f"first words at {_ms(first)} · complete at {_ms(total)}"
        if first is not None:
            return f"first words at {_ms(first)} · streaming…"
    elif total is not None:
        return f"answer at {_ms(total)}"
    if run.stopped:
        return "stopped"
    return "waiting…" if not run.finished else "did not finish"


def _pane(kind: str, title: str, timing: str, body: str) -> str:
    return (
        f"<div class='sp-pane sp-pane-{kind}'><div class='sp-pane-head'><b>{html.escape(title)}"
        f"</b><span>{html.escape(timing)}</span></div>{body}</div>"
    )


# -- tiles, timelines, distribution ---------------------------------------------------------


def results_html(run: CompareRun | None) -> str:
    """Status, this round's tiles, every round's timelines, and the distribution over rounds."""
    if run is None:
        return _status(
            "Send a message with Run: the streamed answer grows in the left pane while the "
            "complete one appears at once in the right pane when it is done."
        )
    if run.error is not None:
        return error_html(run.error)
    progress = run.progress
    if progress is None:
        return _status("Starting…")
    parts = [_status(_status_text(run, progress))]
    if progress.error:
        parts.append(f"<p class='sp-compare-error'>{html.escape(progress.error.capitalize())}.</p>")
    parts.append(_tiles(progress, run))
    parts.append(_timelines(progress, run))
    parts.append(_distribution(progress.rounds, progress.repeat))
    return "".join(parts)


def _status(text: str) -> str:
    return f"<div class='sp-caption sp-compare-status'>{html.escape(text)}</div>"


def _status_text(run: CompareRun, progress: CompareProgress) -> str:
    done, total = len(progress.rounds), progress.repeat
    rounds = f"{done} round{'s' * (done != 1)}"
    if run.stopped:
        return f"Stopped after {rounds} of {total}."
    if progress.error:
        return f"Ended after {rounds} of {total}."
    if run.finished:
        return f"Done: {rounds}." if total > 1 else "Done."
    return f"Round {progress.round_index + 1} of {total} · running…"


def _tiles(progress: CompareProgress, run: CompareRun) -> str:
    finished = _round_done(progress)
    streaming = progress.streaming
    if finished is not None:
        rows = [
            ("Streamed TTFT", _ms(finished.streaming_ttft_ms)),
            ("Streamed total", _ms(finished.streaming_total_ms)),
            ("Complete answer", _ms(finished.complete_total_ms)),
            ("Perceived gain", _gain(finished.gain_ms)),
            ("Similarity", percent(finished.similarity)),
        ]
    else:
        first = streaming.chunks[0].t_ms if streaming.chunks else None
        s_done = streaming.completed.timing.total_ms if streaming.completed else None
        c_done = progress.complete.completed
        rows = [
            ("Streamed TTFT", _ms(first) if first is not None else "waiting…"),
            ("Streamed total", _ms(s_done) if s_done is not None else "…"),
            ("Complete answer", _ms(c_done.timing.total_ms) if c_done else "waiting…"),
            ("Perceived gain", "…"),
            ("Similarity", "…"),
        ]
    cells = "".join(
        f"<div class='sp-stat'><span>{html.escape(k)}</span><b>{html.escape(v)}</b></div>"
        for k, v in rows
    )
    which = f"Round {progress.round_index + 1}" if progress.repeat > 1 else "This run"
    caption = (
        f"{which}. Perceived gain: how much sooner the first words are on screen when streamed "
        "(time to the complete answer minus the streamed TTFT). Similarity: 1 − the word edit "
        "distance between the two answers, relative to the longer one."
    )
    return (
        f"<div class='sp-stats'>{cells}</div><div class='sp-caption'>{html.escape(caption)}</div>"
    )


def _timelines(progress: CompareProgress, run: CompareRun) -> str:
    """Per round two bars on one time axis: streamed (waiting, then text arriving) and complete
    (waiting, then the whole answer at once)."""
    rows: list[tuple[str, float | None, float | None, float | None, float | None]] = [
        (
            f"Round {i + 1}",
            r.streaming_ttft_ms,
            r.streaming_total_ms,
            r.complete_total_ms,
            r.gain_ms,
        )
        for i, r in enumerate(progress.rounds)
    ]
    live = _round_done(progress) is None and not run.finished
    now = run.elapsed_ms()
    if live:
        s, c = progress.streaming, progress.complete
        rows.append(
            (
                f"Round {progress.round_index + 1}",
                s.chunks[0].t_ms if s.chunks else None,
                s.completed.timing.total_ms if s.completed else None,
                c.completed.timing.total_ms if c.completed else None,
                None,
            )
        )
    if not rows:
        return ""
    extent = max(
        [v for _, first, s_end, c_end, _ in rows for v in (first, s_end, c_end) if v is not None]
        + ([now] if live else [])
        + [1.0]
    )

    def pct(value: float) -> str:
        return f"{min(100.0, max(0.0, value / extent * 100)):.2f}%"

    out = []
    for index, (label, first, s_end, c_end, gain) in enumerate(rows):
        running = live and index == len(rows) - 1
        s_wait = first if first is not None else (now if running else 0.0)
        s_flow = (s_end if s_end is not None else (now if running else s_wait)) - s_wait
        c_wait = c_end if c_end is not None else (now if running else 0.0)
        streamed = (
            f"<div class='sp-tl-lane' title='Streamed: first words {_ms(first)}, complete "
            f"{_ms(s_end)}'><i class='sp-tl-wait' style='width:{pct(s_wait)}'></i>"
            f"<i class='sp-tl-flow' style='width:{pct(max(0.0, s_flow))}'></i></div>"
        )
        complete = (
            f"<div class='sp-tl-lane' title='Complete answer at {_ms(c_end)}'>"
            f"<i class='sp-tl-wait' style='width:{pct(c_wait)}'></i>"
            + ("<i class='sp-tl-done'></i>" if c_end is not None else "")
            + "</div>"
        )
        out.append(
            f"<div class='sp-tl-row'><span class='sp-tl-label'>{html.escape(label)}</span>"
            f"<div class='sp-tl-lanes'>{streamed}{complete}</div>"
            f"<span class='sp-tl-gain'>{html.escape(_gain(gain) if gain is not None else '')}"
            "</span></div>"
        )
    axis = (
        "<div class='sp-tl-axis'><span>0</span>"
        f"<span>{html.escape(_ms(extent / 2))}</span><span>{html.escape(_ms(extent))}</span></div>"
    )
    legend = (
        "<div class='sp-tl-legend'><span><i class='sp-tl-wait'></i>waiting</span>"
        "<span><i class='sp-tl-flow'></i>streamed text arriving</span>"
        "<span><i class='sp-tl-done'></i>complete answer shown</span>"
        "<span>top bar streamed, bottom bar complete; right: gain</span></div>"
    )
    return (
        "<div class='sp-timelines'><div class='sp-tl-title'>Timelines</div>"
        f"{''.join(out)}<div class='sp-tl-row sp-tl-axis-row'><span class='sp-tl-label'></span>"
        f"{axis}<span class='sp-tl-gain'></span></div>{legend}</div>"
    )


def _distribution(rounds: Sequence[CompareRound], repeat: int) -> str:
    if repeat < 2:
        return "<p class='sp-caption'>Set Repeat above 1 to see the spread over several rounds.</p>"
    if len(rounds) < 2:
        return "<p class='sp-caption'>The distribution appears after the second round.</p>"
    measures: list[tuple[str, list[float], bool]] = [
        ("Similarity", [r.similarity for r in rounds], True),
        ("Perceived gain", [r.gain_ms for r in rounds if r.gain_ms is not None], False),
        (
            "Streamed TTFT",
            [r.streaming_ttft_ms for r in rounds if r.streaming_ttft_ms is not None],
            False,
        ),
        ("Streamed total", [r.streaming_total_ms for r in rounds], False),
        ("Complete answer", [r.complete_total_ms for r in rounds], False),
    ]
    head = "".join(f"<th>{h}</th>" for h in ("", "mean", "min", "max", "p50", "p95"))
    body = []
    for name, values, is_share in measures:
        if not values:
            continue
        summary: Summary = summarise(values)
        show = percent if is_share else _gain
        cells = "".join(
            f"<td>{html.escape(show(v))}</td>"
            for v in (summary.mean, summary.min, summary.max, summary.p50, summary.p95)
        )
        body.append(f"<tr><th>{html.escape(name)}</th>{cells}</tr>")
    return (
        f"<div class='sp-dist'><div class='sp-tl-title'>Over {len(rounds)} rounds</div>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


# -- the word diff ------------------------------------------------------------------------------


def diff_html(run: CompareRun | None) -> str:
    """The word diff of one finished round (the latest while running, the least similar at the
    end): words only in the complete answer struck out, words only in the streamed one marked."""
    progress = _current(run)
    if run is None or progress is None or not progress.rounds:
        return (
            "<div class='sp-worddiff sp-worddiff-empty'>The word diff of the two answers appears "
            "when a round is complete.</div>"
        )
    if run.finished and len(progress.rounds) > 1:
        index = min(range(len(progress.rounds)), key=lambda i: (progress.rounds[i].similarity, -i))
        which = f"Least similar round ({index + 1})"
    else:
        index = len(progress.rounds) - 1
        which = f"Round {index + 1}" if progress.repeat > 1 else "The two answers"
    chosen = progress.rounds[index]
    head = (
        f"<div class='sp-worddiff-head'><b>{html.escape(which)}: {percent(chosen.similarity)} "
        "similar</b><span><del>only in the complete answer</del> "
        "<ins>only in the streamed answer</ins></span></div>"
    )
    if all(op == "equal" for op, _ in chosen.diff):
        return (
            f"<div class='sp-worddiff'>{head}<p class='sp-caption'>Identical, word for word."
            "</p></div>"
        )
    pieces = []
    for op, text in chosen.diff:
        escaped = html.escape(text)
        if op == "insert":
            pieces.append(f"<ins>{escaped}</ins>")
        elif op == "delete":
            pieces.append(f"<del>{escaped}</del>")
        else:
            pieces.append(escaped)
    text = "".join(pieces)
    return f"<div class='sp-worddiff'>{head}<div class='sp-worddiff-text'>{text}</div></div>"
