"""The notebook tab's rendering (``playground.ui.notebook_view``) and its small helpers: model
output never becomes markup, cells show their state, plots and audio come from the log."""

from __future__ import annotations

import asyncio
import base64
import re
from pathlib import Path
from types import SimpleNamespace

from playground.notebook.model import Notebook
from playground.notebook.store import new_owner_id
from playground.speech.wav import wav_to_pcm
from playground.turn.events import TextChunk, TurnStarted
from playground.turn.state import TurnState
from playground.ui.notebook_files import app_url_of, owner_of, write_export
from playground.ui.render import notebook_view, timing_view
from tests.support import make_test_services
from tests.test_notebook import WAV, make_cell, make_notebook, run_events


def test_markup_in_a_run_is_shown_as_text_never_as_markup() -> None:
    events = run_events(("<script>alert(1)</script> ", "<img src=x onerror=alert(2)>"))
    cell = make_cell(events, message="<b>bold?</b>")
    page = notebook_view.cell_html(cell, 1)
    assert "<script>" not in page and "<img" not in page and "<b>bold?</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;b&gt;bold?&lt;/b&gt;" in page


def test_a_cell_shows_its_configuration_transcript_tools_timing_and_actions() -> None:
    cell = make_cell()
    page = notebook_view.cell_html(cell, 3)
    assert "[3]" in page and "openai:gpt-4o-mini" in page and "default-agent-node@1" in page
    assert "agent node" in page and "deepgram:aura-2-thalia-en" in page
    assert "interception" in page and "temperature 0.0" in page and "seed 7" in page
    assert "after 2 earlier messages" in page and "Tell me about octopuses." in page
    assert "calculator" in page and "→ 3" in page
    assert "Octopuses have three hearts." in page
    assert "120 ms" in page and "900 ms" in page and "<svg" in page
    for action in ("rerun", "edit", "pin", "code", "delete"):
        assert f"data-action='{action}' data-cell='{cell.id}'" in page


def test_stopped_and_failed_runs_say_so() -> None:
    stopped = make_cell(run_events(finish="stopped"))
    assert "stopped — partial answer kept" in notebook_view.cell_html(stopped, 1)
    assert "sp-nb-failed" not in notebook_view.cell_html(stopped, 1)
    failed = make_cell(run_events(finish="error"))
    assert "sp-nb-failed" in notebook_view.cell_html(failed, 1)
    assert "sp-nb-badge" not in notebook_view.cell_html(make_cell(), 1)


def test_a_cells_chart_is_the_chat_tabs_arrival_chart() -> None:
    chunks = [{"text": "abc", "t_ms": 100.0}, {"text": "de", "t_ms": 300.0}]
    audio = [{"text": "abcde", "t_ms": 600.0}]
    svg = notebook_view.timing_chart(chunks, audio)
    # One renderer: the cell's chart is ``arrival_chart`` at the cell's height, nothing else.
    expected = timing_view.arrival_chart(
        [(100.0, "abc"), (300.0, "de")],
        [(600.0, "abcde")],
        height=notebook_view.CELL_CHART_H,
        caption="",
    )
    assert svg == f"<div class='sp-nb-plot'>{expected}</div>"
    assert "class='sp-received'" in svg and "class='sp-voiced'" in svg and "ms since Send" in svg
    text_points = re.search(r"class='sp-received'[^>]*points='([^']*)'", svg)
    assert text_points is not None and len(text_points.group(1).split()) == 1 + 2 * len(chunks)
    assert notebook_view.timing_chart([], []) == ""


def test_a_live_rerun_draws_the_same_chart_as_its_cell_will() -> None:
    turn = TurnState()
    turn.handle(TurnStarted("t1", "local:x", "p@1", "prompt", True, None))
    turn.handle(TextChunk("abc", "abc", 0, 100.0, 100.0))
    live = notebook_view.live_cell_html("hi", turn)
    assert notebook_view.timing_chart([{"text": "abc", "t_ms": 100.0}], []) in live


def test_spoken_pieces_join_into_one_playable_wav() -> None:
    cell = make_cell()
    uri = notebook_view.cell_audio_uri(cell)
    assert uri is not None and uri.startswith("data:audio/wav;base64,")
    pcm, rate = wav_to_pcm(base64.b64decode(uri.split(",", 1)[1]))
    assert rate == 24000 and pcm == wav_to_pcm(WAV)[0]
    quiet = cell.without_audio_data()
    assert notebook_view.cell_audio_uri(quiet) is None
    assert "was not kept" in notebook_view.cell_html(quiet, 1)


def test_the_notebook_lists_cells_and_the_pinned_comparison() -> None:
    assert "No runs yet" in notebook_view.notebook_html(Notebook())
    nb = make_notebook(3)
    a, b, c = nb.cells
    page = notebook_view.notebook_html(nb, pending_pin=a.id)
    assert page.count("data-action='unpin'") == 1 and page.count("data-action='compare'") == 2
    pinned = nb.with_pinned(a.id, c.id)
    page = notebook_view.notebook_html(pinned)
    assert "Comparing [1] and [3]" in page and "time to first token (ms)" in page
    assert "<del>0 </del><ins>2 </ins>" in page  # "Answer 0" → "Answer 2"
    # A pending pin on a cell that is gone is ignored.
    assert "data-action='compare'" not in notebook_view.notebook_html(nb, pending_pin="cell_x")


def test_the_running_rerun_shows_its_text_and_a_stop_button() -> None:
    turn = TurnState()
    turn.handle(
        TurnStarted("turn_1", "openai:gpt-4o-mini", "default-prompt-node@1", "prompt", True, None)
    )
    turn.handle(TextChunk("<i>Hi</i>", "<i>Hi</i>", 0, 50.0, 50.0))
    page = notebook_view.live_cell_html("again", turn)
    assert "Rerun running" in page and "data-action='stop'" in page
    assert "&lt;i&gt;Hi&lt;/i&gt;" in page and "<svg" in page
    turn.stopped = True
    assert "data-action='stop'" not in notebook_view.live_cell_html("again", turn)
    assert notebook_view.live_cell_html(None, None) == ""


def test_only_well_formed_notebook_ids_are_taken_from_the_browser() -> None:
    owner = new_owner_id()
    assert owner_of({"owner": owner, "chat": None}) == owner
    assert owner_of({"owner": "short"}) is None
    assert owner_of("not a dict") is None and owner_of(None) is None


def test_the_app_url_is_the_one_the_browser_used() -> None:
    direct = SimpleNamespace(headers={"host": "127.0.0.1:7860"})
    assert app_url_of(direct) == "http://127.0.0.1:7860"  # type: ignore[arg-type]
    proxied = SimpleNamespace(
        headers={
            "host": "internal:7860",
            "x-forwarded-host": "me-app.hf.space",
            "x-forwarded-proto": "https",
        }
    )
    assert app_url_of(proxied) == "https://me-app.hf.space"  # type: ignore[arg-type]
    assert app_url_of(None) == "http://127.0.0.1:7860"


def test_only_the_newest_runs_carry_their_audio_in_the_page() -> None:
    nb = Notebook()
    for _ in range(notebook_view.AUDIO_CELLS + 2):
        nb = nb.appended(make_cell())
    page = notebook_view.notebook_html(nb)
    assert page.count("<audio") == notebook_view.AUDIO_CELLS
    assert page.count("Export JSON keeps this one") == 2


async def test_an_export_file_is_removed_once_gradio_has_had_time_to_copy_it(
    tmp_path: Path,
) -> None:
    path = await write_export(tmp_path, "run.json", '{"cells": []}', keep_s=0.05)
    assert path.read_text(encoding="utf-8") == '{"cells": []}' and path.name == "run.json"
    assert path.parent.parent == tmp_path
    for _ in range(1000):  # removed by a timer a moment after keep_s; poll, never guess
        if not path.parent.exists():
            break
        await asyncio.sleep(0.01)
    assert not path.exists() and not path.parent.exists()
    left = await asyncio.to_thread(lambda: [*tmp_path.iterdir()])
    assert left == []  # the root itself stays, for the next export


async def test_the_export_folder_goes_at_shutdown() -> None:
    services = make_test_services()
    root = services.export_dir()
    assert services.export_dir() == root and root.is_dir()
    await write_export(root, "left.json", "{}")  # still waiting for its timer
    await services.aclose()
    assert not root.exists()
