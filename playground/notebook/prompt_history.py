"""What a browser's runs say about each version of a prompt: how many runs used it (drafts
counted apart, under their own ``id@draft:<hash>``) and their median time to first token and
total time, so a designer sees what a change did."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from playground.notebook.cells import RunCell

__all__ = ["VersionRuns", "runs_by_version"]


@dataclass(frozen=True, slots=True)
class VersionRuns:
    runs: int
    median_ttft_ms: float | None
    median_total_ms: float | None


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def runs_by_version(cells: Iterable[RunCell], prompt_id: str) -> dict[str, VersionRuns]:
    """Per ``prompt@version`` (or draft ref) of ``prompt_id``: its runs and their medians.
    Failed runs count as runs but not in the medians (they have no honest timing)."""
    grouped: dict[str, list[RunCell]] = {}
    for cell in cells:
        if cell.config.prompt.partition("@")[0] == prompt_id:
            grouped.setdefault(cell.config.prompt, []).append(cell)
    result = {}
    for ref, runs in grouped.items():
        timings = [c.timing for c in runs if not c.failed and c.timing]
        ttft = [float(t["ttft_ms"]) for t in timings if t.get("ttft_ms") is not None]
        total = [float(t["total_ms"]) for t in timings if t.get("total_ms") is not None]
        result[ref] = VersionRuns(len(runs), _median(ttft), _median(total))
    return result
