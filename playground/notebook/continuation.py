"""Where a reloaded page's conversation continues: the chat a notebook cell was part of."""

from __future__ import annotations

from playground.notebook.model import Notebook
from playground.turn.request import HistoryMessage

__all__ = ["conversation_of"]


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
