"""Importing a notebook file into a stored notebook: new runs are added, known ones skipped."""

from __future__ import annotations

from playground.notebook.model import Notebook

__all__ = ["merge_imported"]


def merge_imported(nb: Notebook, imported: Notebook, *, max_cells: int) -> Notebook:
    """``nb`` with the cells of ``imported`` it does not have yet (by id) appended in order,
    keeping at most ``max_cells`` (the oldest go first, as for any new run)."""
    known = {c.id for c in nb.cells}
    for cell in imported.cells:
        if cell.id not in known:
            nb = nb.appended(cell, max_cells=max_cells)
    return nb
