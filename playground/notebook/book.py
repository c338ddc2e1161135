"""The notebook: all runs of one browser, oldest first, and the pair pinned side by side.

A ``Notebook`` is an immutable value: ``appended``, ``without``, ``with_pinned`` return new
notebooks, so it can live in per-browser UI state without aliasing surprises.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from playground.errors import ConfigError
from playground.notebook.cells import RunCell

__all__ = ["MAX_CELLS", "NOTEBOOK_FORMAT", "NOTEBOOK_VERSION", "Notebook"]

NOTEBOOK_FORMAT: Final = "streaming-playground-notebook"
NOTEBOOK_VERSION: Final = 1
MAX_CELLS: Final = 200


class Notebook(BaseModel):
    """All runs of one browser, oldest first, and the pair pinned side by side (if any)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["streaming-playground-notebook"] = NOTEBOOK_FORMAT
    version: Literal[1] = NOTEBOOK_VERSION
    cells: tuple[RunCell, ...] = ()
    pinned: tuple[str, str] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Notebook:
        seen: set[str] = set()
        for cell in self.cells:
            if cell.id in seen:
                raise ValueError(f"cells: two cells have the id {cell.id!r}")
            seen.add(cell.id)
        if self.pinned is not None:
            a, b = self.pinned
            if a == b:
                raise ValueError("pinned: a cell cannot be pinned beside itself")
            for cell_id in self.pinned:
                if cell_id not in seen:
                    raise ValueError(f"pinned: there is no cell {cell_id!r}")
        return self

    def cell(self, cell_id: str) -> RunCell:
        for cell in self.cells:
            if cell.id == cell_id:
                return cell
        raise ConfigError(f"there is no cell {cell_id!r} in this notebook", field="cell_id")

    def appended(self, cell: RunCell, *, max_cells: int = MAX_CELLS) -> Notebook:
        """This notebook with ``cell`` added last; the oldest cells go beyond ``max_cells``."""
        return Notebook(cells=(*self.cells, cell), pinned=self.pinned).trimmed(max_cells)

    def without(self, cell_id: str) -> Notebook:
        """This notebook with the cell deleted (unpinning it); unknown ids are a ``ConfigError``."""
        self.cell(cell_id)
        pinned = self.pinned if self.pinned and cell_id not in self.pinned else None
        return Notebook(cells=tuple(c for c in self.cells if c.id != cell_id), pinned=pinned)

    def with_pinned(self, a: str, b: str) -> Notebook:
        """Pin two different cells side by side for comparison."""
        self.cell(a)
        self.cell(b)
        if a == b:
            raise ConfigError("pick two different runs to compare", field="pinned")
        return Notebook(cells=self.cells, pinned=(a, b))

    def unpinned(self) -> Notebook:
        return Notebook(cells=self.cells)

    def pinned_cells(self) -> tuple[RunCell, RunCell] | None:
        if self.pinned is None:
            return None
        return self.cell(self.pinned[0]), self.cell(self.pinned[1])

    def trimmed(self, max_cells: int) -> Notebook:
        """The newest ``max_cells`` cells (a pinned pair losing a cell is unpinned)."""
        if len(self.cells) <= max_cells:
            return self
        kept = self.cells[len(self.cells) - max_cells :] if max_cells > 0 else ()
        ids = {c.id for c in kept}
        pinned = self.pinned if self.pinned and all(p in ids for p in self.pinned) else None
        return Notebook(cells=kept, pinned=pinned)

    def cell_of_turn(self, turn_id: str) -> RunCell | None:
        """The cell that recorded the turn ``turn_id`` (the newest, should a rerun share it)."""
        return next((c for c in reversed(self.cells) if c.turn_id == turn_id), None)

    def with_cell(self, cell: RunCell) -> Notebook:
        """This notebook with the cell of the same id replaced by ``cell`` (in its place)."""
        self.cell(cell.id)
        cells = tuple(cell if c.id == cell.id else c for c in self.cells)
        return Notebook(cells=cells, pinned=self.pinned)

    def without_audio_data(self) -> Notebook:
        return Notebook(cells=tuple(c.without_audio_data() for c in self.cells), pinned=self.pinned)
