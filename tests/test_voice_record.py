"""What the voice input writes into the notebook after a spoken turn: "interrupted" on an answer
the user spoke over (while it ran: from the turn's own completion; after it finished, while it
was still being spoken: marked by the page), and the waterfall only the page can measure. Real
notebook store (SQLite in a temporary folder); no browser needed."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from playground.notebook.access import Notebooks
from playground.notebook.cells import RunCell, VoiceStage, VoiceTiming
from playground.notebook.export_markdown import summary
from playground.notebook.export_prompt import effective
from playground.notebook.model import Notebook, cell_from_run, notebook_from_json, notebook_to_json
from playground.notebook.store import NotebookStore, new_owner_id
from playground.turn.events import TurnCompleted, TurnStarted
from playground.turn.state import TurnState
from playground.turn.wire import event_payload, events_from_wire
from playground.ui.notebook_tab import NotebookSession
from playground.ui.render import notebook_view
from playground.ui.session import SessionState
from playground.ui.voice_record import VoiceRecord
from tests.test_notebook import request, run_events


def notebook_markdown(nb: Notebook) -> str:
    """The Markdown export of the notebook's cells (the .ipynb export's text cells)."""
    return "\n".join(_markdown(i, cell) for i, cell in enumerate(nb.cells, start=1))


def _markdown(index: int, cell: RunCell) -> str:
    return str(summary(index, cell, effective(cell.config, None)))


TURN = "turn_0123456789abcdef"  # the id run_events() starts its turn with
TIMING = VoiceTiming(
    stages=(
        VoiceStage(stage="transcript", start_ms=0, end_ms=310),
        VoiceStage(stage="request", start_ms=310, end_ms=330),
        VoiceStage(stage="first_token", start_ms=330, end_ms=420),
        VoiceStage(stage="playback", start_ms=420, end_ms=1_450),
    ),
    voice_to_voice_ms=1_450,
    barge_in_ms=None,
)


@pytest.fixture
def notebooks(tmp_path: Path) -> Notebooks:
    return Notebooks.in_file(NotebookStore(tmp_path / "nb.sqlite3"))


def _session_that_ran(turn_id: str = TURN) -> SessionState:
    """A chat session whose last turn (finished, still the current one) is ``turn_id``."""
    session = SessionState()
    turn = session.begin("Tell me about octopuses.")
    turn.handle(TurnStarted(turn_id, "openai:gpt-4o-mini", "p@1", "agent", True, None))
    turn.text = "Octopuses have three hearts."
    session.commit()
    return session


def _stored(notebooks: Notebooks, events: list[Any] | None = None) -> tuple[str, NotebookSession]:
    owner = new_owner_id()
    cell = cell_from_run(request(), events if events is not None else run_events())
    asyncio.run(notebooks.append(owner, cell))
    return owner, NotebookSession(owner=owner)


def test_an_interrupted_turn_says_so_on_the_wire_and_back() -> None:
    events = run_events(finish="stopped")
    completed = events[-1]
    assert isinstance(completed, TurnCompleted)
    name, data = event_payload(replace(completed, interrupted=True))
    assert name == "completion-end" and data["interrupted"] is True
    # Absent unless true: clients that do not know the field see the same data as before.
    assert "interrupted" not in event_payload(completed)[1]
    (back,) = events_from_wire([(name, data)])
    assert isinstance(back, TurnCompleted) and back.interrupted
    state = TurnState()
    state.handle(back)
    assert state.interrupted


def test_a_cell_of_a_turn_stopped_by_speech_shows_interrupted(notebooks: Notebooks) -> None:
    events = run_events(finish="stopped")
    events[-1] = replace(events[-1], interrupted=True)
    cell = cell_from_run(request(), events)
    assert cell.stopped and cell.was_interrupted
    shown = notebook_view.notebook_html(Notebook(cells=(cell,)))
    assert "interrupted — you spoke over it" in shown and "stopped — partial" not in shown
    plain = cell_from_run(request(), run_events(finish="stopped"))
    assert plain.stopped and not plain.was_interrupted
    assert "stopped — partial answer kept" in notebook_view.notebook_html(Notebook(cells=(plain,)))


def test_speaking_over_a_finished_answer_marks_its_cell(notebooks: Notebooks) -> None:
    owner, nbs = _stored(notebooks)
    session = _session_that_ran()
    session.interrupt()  # the answer had finished: nothing to stop, but it was spoken over
    assert session.current is not None and session.current.interrupted
    assert session.shown[-1][1].interrupted  # the chat's own copy of the turn

    shown = asyncio.run(VoiceRecord(notebooks).on_interrupted(session, nbs))
    assert "interrupted — you spoke over it" in shown
    (cell,) = asyncio.run(notebooks.load(owner)).cells
    assert cell.interrupted and cell.was_interrupted and cell.finish_reason == "stop"
    # Kept through an export and an import, and said in the Markdown export.
    again = notebook_from_json(notebook_to_json(Notebook(cells=(cell,)), include_audio=False))
    assert again.cells[0].was_interrupted
    assert "interrupted: the user spoke over the answer" in notebook_markdown(again)


def test_the_pages_waterfall_is_kept_in_the_turns_cell(notebooks: Notebooks) -> None:
    owner, nbs = _stored(notebooks)
    report = json.dumps({"turn": TURN, "timing": TIMING.model_dump()})
    shown = asyncio.run(VoiceRecord(notebooks).on_report(_session_that_ran(), nbs, report))
    assert isinstance(shown, str) and "sp-nb-wf" in shown
    (cell,) = asyncio.run(notebooks.load(owner)).cells
    assert cell.voice == TIMING
    html = notebook_view.notebook_html(Notebook(cells=(cell,)))
    assert html.count("data-stage=") == len(TIMING.stages)
    assert "data-stage='playback'" in html and "1,450 ms" in html
    # The slowest stage (playback, 1,030 ms) is the one marked.
    assert "sp-wf-slowest' data-stage='playback'" in html
    markdown = notebook_markdown(Notebook(cells=(cell,)))
    assert "voice to voice: 1,450 ms" in markdown
    assert (
        notebook_from_json(notebook_to_json(Notebook(cells=(cell,)), include_audio=False))
        .cells[0]
        .voice
        == TIMING
    )


@pytest.mark.parametrize(
    "report",
    [
        "",
        "not json",
        json.dumps({"turn": TURN}),
        json.dumps({"turn": TURN, "timing": {"stages": [{"stage": "nap", "start_ms": 0}]}}),
        json.dumps({"turn": TURN, "timing": {"voice_to_voice_ms": -5}}),
        json.dumps({"turn": TURN, "timing": {"voice_to_voice_ms": 1e12}}),
        "x" * 10_000,
    ],
    ids=["empty", "not-json", "no-timing", "unknown-stage", "negative", "absurd", "too-long"],
)
def test_a_report_that_is_not_understood_changes_nothing(notebooks: Notebooks, report: str) -> None:
    owner, nbs = _stored(notebooks)
    shown = asyncio.run(VoiceRecord(notebooks).on_report(_session_that_ran(), nbs, report))
    assert not isinstance(shown, str)  # gr.skip(): the notebook on screen stays as it is
    assert asyncio.run(notebooks.load(owner)).cells[0].voice is None


def test_a_report_for_a_turn_this_session_did_not_run_is_refused(notebooks: Notebooks) -> None:
    owner, nbs = _stored(notebooks)
    # The same browser's notebook has the cell, but this session never ran that turn: a page
    # can only annotate its own turns, whatever turn id it sends.
    report = json.dumps({"turn": TURN, "timing": TIMING.model_dump()})
    other = _session_that_ran("turn_somebody_elses")
    assert not isinstance(asyncio.run(VoiceRecord(notebooks).on_report(other, nbs, report)), str)
    assert asyncio.run(notebooks.load(owner)).cells[0].voice is None
    # And with no notebook owner yet (the page has not loaded), nothing is written anywhere.
    unloaded = NotebookSession()
    session = _session_that_ran()
    assert not isinstance(
        asyncio.run(VoiceRecord(notebooks).on_report(session, unloaded, report)), str
    )
