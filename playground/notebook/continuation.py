"""Where a reloaded page's conversation continues: the chat a notebook cell was part of, and
how each of its turns ran (so a reload shows their notes — stopped, interrupted, errors —
not only their text)."""

from __future__ import annotations

import copy

from playground.notebook.model import Notebook
from playground.turn.request import HistoryMessage
from playground.turn.state import TurnState

__all__ = ["conversation_of", "turns_of"]


def conversation_of(nb: Notebook, cell_id: str | None) -> list[HistoryMessage] | None:
    """The conversation up to and including ``cell_id``'s run: its history, its message and its
    answer (when it has one). None when there is no such cell or the run failed (a failed run
    leaves nothing to continue: the page starts a fresh conversation)."""
    cell = next((c for c in nb.cells if c.id == cell_id), None)
    if cell is None or cell.failed:
        return None
    return [
        *cell.history,
        HistoryMessage(role="user", content=cell.message),
        *([HistoryMessage(role="assistant", content=cell.text)] if cell.text else []),
    ]


def turns_of(nb: Notebook, history: list[HistoryMessage]) -> list[TurnState | None]:
    """For each user message of ``history``, its run as the notebook kept it (None for a turn
    no cell holds): the cell with that message whose history is the conversation before it."""
    states: list[TurnState | None] = []
    for index, item in enumerate(history):
        if item.role != "user":
            continue
        before = tuple(history[:index])
        cell = next(
            (c for c in nb.cells if c.message == item.content and c.history == before), None
        )
        if cell is None:
            states.append(None)
            continue
        state = copy.copy(cell.turn_state)  # a cell's state is shared with its every reader
        state.stopped = cell.stopped  # as the page marks a turn its Stop ended
        states.append(state)
    return states
