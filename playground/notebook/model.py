"""A notebook of runs: every finished turn becomes a cell that can be shown, rerun and compared.

The parts, one job each: ``wire_log`` (the stored event log and its validation), ``cells``
(``RunConfig``, ``RunCell``), ``book`` (``Notebook``), ``building`` (cells from runs, requests
from cells), ``json_format`` (export and validating import) and ``comparison``. This module
gathers their public names, which the page, the store and the exports import from here.
"""

from __future__ import annotations

from playground.notebook.book import MAX_CELLS, NOTEBOOK_FORMAT, NOTEBOOK_VERSION, Notebook
from playground.notebook.building import (
    cell_from_events,
    cell_from_run,
    config_from_request,
    new_cell_id,
    request_for_rerun,
)
from playground.notebook.cells import RunCell, RunConfig
from playground.notebook.comparison import compare_cells
from playground.notebook.json_format import (
    MAX_NOTEBOOK_BYTES,
    cell_json,
    notebook_from_json,
    notebook_to_json,
)
from playground.notebook.wire_log import EventLike, WireEvent

__all__ = [
    "MAX_CELLS",
    "MAX_NOTEBOOK_BYTES",
    "NOTEBOOK_FORMAT",
    "NOTEBOOK_VERSION",
    "EventLike",
    "Notebook",
    "RunCell",
    "RunConfig",
    "WireEvent",
    "cell_from_events",
    "cell_from_run",
    "cell_json",
    "compare_cells",
    "config_from_request",
    "new_cell_id",
    "notebook_from_json",
    "notebook_to_json",
    "request_for_rerun",
]
