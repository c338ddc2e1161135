"""A prompt's version history: the runs of a browser's notebook counted per version (drafts
apart, failed runs counted but left out of the medians), shown beside each version's note,
time and hash."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from playground.notebook.prompt_history import VersionRuns, runs_by_version
from playground.prompts.library import PromptFile
from playground.ui.render.editor_view import history_html
from tests.test_notebook import make_cell, run_events


def test_runs_are_counted_per_version_with_their_medians() -> None:
    other_prompt = run_events()
    other_prompt[0] = dataclasses.replace(other_prompt[0], prompt="summariser@1")
    cells = [
        make_cell(run_events(ttft_ms=100.0, total_ms=800.0)),
        make_cell(run_events(ttft_ms=300.0, total_ms=1000.0)),
        make_cell(run_events(ttft_ms=200.0, total_ms=900.0)),
        make_cell(run_events(finish="error", ttft_ms=5.0, total_ms=5.0)),
        make_cell(other_prompt),
    ]
    stats = runs_by_version(cells, "default-agent-node")
    assert set(stats) == {"default-agent-node@1"}
    one = stats["default-agent-node@1"]
    assert one.runs == 4
    assert (one.median_ttft_ms, one.median_total_ms) == (200.0, 900.0)


def test_the_history_lists_versions_newest_first_and_drafts_apart() -> None:
    def version(n: int, note: str) -> PromptFile:
        return PromptFile(
            id="p",
            version=n,
            title="P",
            node="prompt",
            format="v2",
            system="x",
            note=note,
            created=datetime(2026, 12, n, 9, 30, tzinfo=UTC),
        )

    runs = {
        "p@1": VersionRuns(3, 120.0, 900.0),
        "p@draft:abcdef012345": VersionRuns(1, 80.0, 700.0),
    }
    shown = history_html(
        [version(1, "first"), version(2, "<b>bolder</b>")], {"p@2": "f" * 64}, runs
    )
    assert shown.index("p@2") < shown.index("p@1") < shown.index("p@draft:abcdef012345")
    assert "&lt;b&gt;bolder&lt;/b&gt;" in shown and "<b>bolder" not in shown
    assert "2026-12-01 09:30 UTC" in shown and "ffffffffffff" in shown
    assert "120 ms" in shown and "unsaved draft" in shown
    off = history_html([version(1, "")], {}, None)
    assert "notebook is off" in off
