"""What each frame of an arena run sends the page.

Gradio's page does work for every frame that grows with the page (see ``live_feed``), so a
column's answer does not ride on Gradio's frames while it grows: each new piece goes to the
run's ``LiveFeed`` (server-sent events, appended to the pane by ``static/arena.js``), and a pane
is sent whole through Gradio only when something besides its answer changed (status, round,
errors, numbers) and no socket reads the feed (one that does gets it whole), in the run's last
frame — and, while no socket reads the feed, with the chart and tables once a
``_RESULTS_S``, so a page whose socket cannot connect still shows the answers, a second late.
The feed's key goes to the page on the hidden ``sp-arena-text-feed`` box, in the run's first
frame (sent before its turns start, so the socket opens while they do).

A piece is ``[column, offset, text]``: that column's answer is its first ``offset``
characters followed by ``text`` (offset 0 with the whole answer when it was replaced); or
``[column, "pane", html, seq]``: the pane whole, its status or numbers changed (the ``seq``-th
rendering of that pane in the run: the page keeps the newest, whichever way it came).
"""

from __future__ import annotations

from typing import Any, Final

from playground.turn.arena import MAX_COLUMNS, ArenaRun, ArenaSession
from playground.ui.live_feed import LiveFeed
from playground.ui.render import arena_view, panel_view

__all__ = ["OUTPUTS", "ArenaFrames"]

# The outputs a frame fills, in order: the panes, the chart and tables, the audio feed, the
# text feed.
RESULTS: Final = MAX_COLUMNS
AUDIO_FEED: Final = MAX_COLUMNS + 1
TEXT_FEED: Final = MAX_COLUMNS + 2
OUTPUTS: Final = MAX_COLUMNS + 3


class ArenaFrames:
    """One run's frames; what did not change is sent as it was last time (``shown``), which
    the page leaves alone — a skip would make Gradio rebuild the component. With no ``feed``
    (a page built without one), a pane is sent whole whenever it changed."""

    def __init__(self, feed: LiveFeed | None = None) -> None:
        self.feed = feed
        # Columns beyond this run are hidden: an empty pane there is never seen (adding a
        # column draws its pane afresh).
        self.shown: list[Any] = [""] * OUTPUTS
        # A new run's first frame clears the last run's chart and tables to this (not to
        # nothing, which would fold the page's layout up and out again).
        self.shown[RESULTS] = arena_view.results_html([], [])
        self.shown[TEXT_FEED] = feed.key if feed is not None else ""
        self._panes: list[arena_view.Pane | None] = [None] * MAX_COLUMNS
        self._fed: list[str] = [""] * MAX_COLUMNS
        self._seq: list[int] = [0] * MAX_COLUMNS  # each pane's renderings so far
        self._drawn: list[str] = [""] * MAX_COLUMNS  # each pane as Gradio last got it
        self._sent: list[Any] | None = None

    def changed(self, frame: list[Any]) -> bool:
        """Whether ``frame`` has anything for Gradio, which the page pays for per frame however
        little it holds (the pieces that went to the feed meanwhile need no frame); when it
        has, it is taken as sent."""
        if self._sent is not None and all(a is b for a, b in zip(frame, self._sent, strict=True)):
            return False
        self._sent = frame
        return True

    def frame(
        self,
        run: ArenaRun,
        session: ArenaSession,
        *,
        results: bool,
        audible: int,
        final: bool = False,
    ) -> list[Any]:
        """The panes (their new text on the feed; whole when more changed: on the feed too
        while a socket reads it), the audio feed and, when ``results``, the chart and tables.
        ``final``: the run's last frame, which leaves Gradio every pane as it ended."""
        states = run.states
        for i, state in enumerate(states[:MAX_COLUMNS]):
            pane = arena_view.pane(i, run.labels[i], state, run)
            self._column(i, pane, whole=results, final=final)
        if results:
            self.shown[RESULTS] = arena_view.results_html(run.labels, states, run)
        spoken = states[audible] if audible < len(states) else None
        if spoken is not None and spoken.started is not None and spoken.audio:
            # Every piece of the spoken turn so far: the player skips the ones it has.
            session.last_feed = panel_view.audio_feed(spoken.started.turn_id, spoken.audio, 0)
        self.shown[AUDIO_FEED] = session.last_feed
        return list(self.shown)

    def _column(self, index: int, pane: arena_view.Pane, *, whole: bool, final: bool) -> None:
        last, fed, text = self._panes[index], self._fed[index], pane.text or ""
        self._panes[index] = pane
        changed = (
            last is None
            or (pane.head, pane.tail) != (last.head, last.tail)
            or (last.text is None) != (pane.text is None)
            or not text.startswith(fed)  # replaced (a guardrail retracted it)
        )
        feed = self.feed
        if feed is None:
            drawn = pane.html()
            if drawn != self.shown[index]:
                self.shown[index] = drawn
            return
        reading = feed.followers > 0
        if changed:
            # On the socket always, so a socket that connects late replays the panes and the
            # text in the order they came; numbered, so the page keeps the newest of what
            # Gradio and the socket bring.
            self._seq[index] += 1
            feed.push([index, "pane", pane.html(feed.key, self._seq[index]), self._seq[index]])
        elif text != fed:
            grown = text.startswith(fed)
            feed.push([index, len(fed), text[len(fed) :]] if grown else [index, 0, text])
        self._fed[index] = text
        # Gradio: the run's last frame; while no socket reads, each change and, with the
        # results, the grown text (a frame of Gradio's costs the page more than a pane).
        if final or (not reading and (changed or whole)):
            body = pane.html()
            if body != self._drawn[index]:
                if not changed:
                    self._seq[index] += 1  # newer than any pane the socket has
                self._drawn[index] = body
                self.shown[index] = pane.html(feed.key, self._seq[index])
