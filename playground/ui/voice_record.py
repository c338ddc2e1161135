"""What the voice input tells the notebook about a spoken turn after the fact.

Two things only the page knows end up in the turn's notebook cell: that the user spoke over an
answer that had already finished but was still being spoken (a turn stopped while running says
so in its own completion), and the spoken turn's waterfall, whose last stage (playback started)
happens in the browser. The page reports the waterfall as JSON in a hidden box; it is checked
(``VoiceTiming``: known stages, bounded numbers) and only ever written to that browser's own
notebook, to the cell of a turn that browser's chat ran. Either can arrive before the turn's
cell is recorded (playback starts at the first sentence): then it waits on the session and the
chat's after-turn step applies it (``apply``), without holding a queue slot meanwhile.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

import gradio as gr
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from playground.notebook.access import Notebooks
from playground.notebook.book import Notebook
from playground.notebook.cells import RunCell, VoiceTiming
from playground.ui.render import notebook_view
from playground.ui.session import CellChange, SessionState

if TYPE_CHECKING:
    from playground.ui.notebook_tab import NotebookSession

__all__ = ["VoiceRecord", "VoiceReport"]

log = logging.getLogger(__name__)
MAX_REPORT_CHARS: Final = 8_000  # seven stages and three numbers fit many times over


class VoiceReport(BaseModel):
    """The page's report of one spoken turn (``turn``: the turn id the audio feed named)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    turn: str = Field(min_length=1, max_length=64)
    timing: VoiceTiming


class VoiceRecord:
    """Writes the page's voice facts into the notebook cells of the browser's own turns."""

    def __init__(self, notebooks: Notebooks) -> None:
        self.notebooks = notebooks

    async def on_interrupted(self, state: SessionState, nbs: NotebookSession) -> Any:
        """After a barge-in: the spoken-over turn's cell says "interrupted" (the notebook shown
        again), also when its answer had finished before the user spoke."""
        turn = state.current
        if turn is None or turn.started is None or not turn.interrupted:
            return gr.skip()
        return await self._change(state, nbs, turn.started.turn_id, RunCell.spoken_over)

    async def on_report(self, state: SessionState, nbs: NotebookSession, report: str) -> Any:
        """The page's waterfall of a spoken turn, into that turn's cell."""
        parsed = _parse(report)
        if parsed is None or not _ran_here(state, parsed.turn):
            return gr.skip()
        timing = parsed.timing
        return await self._change(state, nbs, parsed.turn, lambda cell: cell.with_voice(timing))

    async def apply(self, owner: str, changes: Sequence[CellChange]) -> Notebook:
        """Apply ``changes`` to the owner's notebook (a turn without a cell is skipped)."""

        def changed(nb: Notebook) -> Notebook:
            for turn_id, change in changes:
                cell = nb.cell_of_turn(turn_id)
                if cell is not None:
                    nb = nb.with_cell(change(cell))
            return nb

        return await self.notebooks.update(owner, changed)

    async def _change(
        self,
        state: SessionState,
        nbs: NotebookSession,
        turn_id: str,
        change: Callable[[RunCell], RunCell],
    ) -> Any:
        if nbs.owner is None:
            return gr.skip()
        async with state.notebook_lock:  # see ``SessionState.notebook_lock``
            last = state.last_run
            if last is not None and last.turn_id == turn_id and not last.is_recorded:
                state.cell_changes.append((turn_id, change))  # the after-turn step applies it
                return gr.skip()
            nb = await self.apply(nbs.owner, [(turn_id, change)])
            if nb.cell_of_turn(turn_id) is None:
                return gr.skip()
            return notebook_view.notebook_html(nb, pending_pin=nbs.pending_pin)


def _parse(report: str) -> VoiceReport | None:
    if not report or len(report) > MAX_REPORT_CHARS:
        return None
    try:
        return VoiceReport.model_validate(json.loads(report))
    except (ValueError, ValidationError) as exc:  # the page's bug, not the user's
        log.debug("a voice report was not understood: %s", exc)
        return None


def _ran_here(state: SessionState, turn_id: str) -> bool:
    """The turn is one this session's chat ran (never another browser's, whatever it sends)."""
    turns = [turn for _, turn in state.shown]
    if state.current is not None:
        turns.append(state.current)
    return any(t.started is not None and t.started.turn_id == turn_id for t in turns)
