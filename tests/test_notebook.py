"""The notebook of runs: cells from event logs, JSON round trips, import errors, comparison,
rerun, and the per-browser SQLite store (isolation, restart, bounds)."""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from playground.errors import ConfigError
from playground.notebook.model import (
    MAX_CELLS,
    Notebook,
    RunCell,
    RunConfig,
    cell_from_events,
    cell_from_run,
    compare_cells,
    config_from_request,
    notebook_from_json,
    notebook_to_json,
    request_for_rerun,
)
from playground.notebook.store import NotebookStore, new_owner_id, validate_owner_id
from playground.pricing.table import Cost
from playground.prompts.library import load_prompt_library
from playground.providers.base import Usage
from playground.speech.wav import pcm_to_wav
from playground.turn.events import (
    AudioReady,
    DisabledFeature,
    TextChunk,
    TextReplaced,
    TimingSummary,
    ToolCallDone,
    ToolResult,
    TurnCompleted,
    TurnFailed,
    TurnStarted,
)
from playground.turn.request import Features, HistoryMessage, TurnRequest
from playground.turn.state import TurnState

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
WAV = pcm_to_wav(b"\x01\x02" * 2400, 24000)


def timing(**overrides: Any) -> TimingSummary:
    values: dict[str, Any] = {
        "ttft_ms": 120.0,
        "ttfa_ms": 450.5,
        "chunks": 3,
        "total_ms": 900.25,
        "characters": 30,
        "chars_per_s": 33.3,
        "tokens_per_s": 8.0,
        "audio_pieces": 1,
        "audio_ms": 100.0,
    }
    values.update(overrides)
    return TimingSummary(**values)


def run_events(
    words: tuple[str, ...] = ("Octopuses ", "have ", "three hearts."),
    *,
    finish: str = "stop",
    total_ms: float = 900.25,
    ttft_ms: float = 120.0,
) -> list[Any]:
    """A realistic agent run: start, text, a tool call and its result, audio, end."""
    text = ""
    events: list[Any] = [
        TurnStarted(
            turn_id="turn_0123456789abcdef",
            model="openai:gpt-4o-mini",
            prompt="default-agent-node@1",
            node="agent",
            streaming=True,
            voice="deepgram:aura-2-thalia-en",
            disabled_features=(DisabledFeature("guardrails", "needs the complete reply", "off"),),
        )
    ]
    for seq, word in enumerate(words):
        text += word
        events.append(TextChunk(word, text, seq, ttft_ms + 10.0 * seq, 10.0 if seq else ttft_ms))
        if seq == 0:
            events.append(ToolCallDone("call_1", "calculator", {"expression": "1+2"}, 130.0))
            events.append(ToolResult("call_1", "calculator", "3", 131.0, 0.5))
    events.append(AudioReady(0, 24000, WAV, text, 450.5, 300.0, 100.0))
    events.append(
        TurnCompleted(
            text,
            finish,
            Usage(10, 5, 15),
            timing(total_ms=total_ms, ttft_ms=ttft_ms, chunks=len(words)),
            cost=Cost(usd=4e-6, input_usd=1.5e-6, output_usd=2.5e-6, price_as_of="2025-08-07"),
        )
    )
    return events


def request(**overrides: Any) -> TurnRequest:
    values: dict[str, Any] = {
        "message": "Tell me about octopuses.",
        "model": "openai:gpt-4o-mini",
        "node": "agent",
        "voice": "deepgram:aura-2-thalia-en",
        "history": (
            HistoryMessage(role="user", content="Hi"),
            HistoryMessage(role="assistant", content="Hello!"),
        ),
        "features": Features(interception=True),
        "variables": {"assistant_name": "Ada"},
        "temperature": 0.0,
        "seed": 7,
    }
    values.update(overrides)
    return TurnRequest(**values)


def make_cell(events: list[Any] | None = None, **request_overrides: Any) -> RunCell:
    return cell_from_run(
        request(**request_overrides), events if events is not None else run_events()
    )


def make_notebook(n: int = 2) -> Notebook:
    nb = Notebook()
    for i in range(n):
        nb = nb.appended(make_cell(run_events((f"Answer {i} ", "is ", "here."))))
    return nb


# -- cells -------------------------------------------------------------------------------------


def test_a_cell_keeps_the_config_and_the_full_wire_log() -> None:
    cell = make_cell()
    c = cell.config
    assert (c.model, c.prompt, c.node, c.streaming) == (
        "openai:gpt-4o-mini",
        "default-agent-node@1",
        "agent",
        True,
    )
    assert c.voice == "deepgram:aura-2-thalia-en"
    assert c.features == Features(interception=True)
    assert (c.temperature, c.seed, c.variables) == (0.0, 7, {"assistant_name": "Ada"})
    assert c.disabled_features == ("guardrails",)
    assert (c.engine, c.model_name, c.voice_engine, c.voice_name) == (
        "openai",
        "gpt-4o-mini",
        "deepgram",
        "aura-2-thalia-en",
    )
    assert cell.message == "Tell me about octopuses."
    assert cell.history_length == 2
    assert [e.event for e in cell.events] == [
        "completion-start",
        "completion-continue",
        "tool-call",
        "tool-result",
        "completion-continue",
        "completion-continue",
        "audio",
        "completion-end",
    ]
    # The wire form, exactly as the SSE API sends it.
    assert cell.events[1].data == {"text": "Octopuses ", "seq": 0, "t_ms": 120.0, "gap_ms": 120.0}


def test_derived_properties_come_from_the_log() -> None:
    cell = make_cell()
    assert cell.text == "Octopuses have three hearts."
    assert cell.finish_reason == "stop"
    assert cell.turn_id == "turn_0123456789abcdef"
    assert cell.timing is not None and cell.timing["ttft_ms"] == 120.0
    assert cell.usage == {
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "cached_tokens": 0,
        "reasoning_tokens": 0,
    }
    assert cell.cost_usd == 4e-6
    assert [(c["t_ms"], c["gap_ms"]) for c in cell.chunks] == [
        (120.0, 120.0),
        (130.0, 10.0),
        (140.0, 10.0),
    ]
    [call] = cell.tool_calls
    assert call["name"] == "calculator" and call["arguments"] == {"expression": "1+2"}
    assert call["result"]["output"] == "3"
    assert cell.has_audio_data and len(cell.audio) == 1
    assert not cell.stopped and not cell.failed and not cell.has_error


def test_stopped_failed_and_retracted_runs_are_flagged() -> None:
    stopped = make_cell(run_events(finish="stopped"))
    assert stopped.stopped and not stopped.failed

    events = run_events()
    events.insert(-1, TurnFailed("tts", "voice broke", retryable=True, stage="tts"))
    voice_only = make_cell(events)
    assert voice_only.has_error and not voice_only.failed

    events.insert(-1, TurnFailed("server", "upstream broke", retryable=True, stage="llm"))
    assert make_cell(events).failed

    events = run_events()
    events.insert(-1, TextReplaced("[removed]", "guardrail"))
    assert make_cell(events).text == "[removed]"


def test_a_cell_folds_its_log_like_the_live_view_folds_the_events() -> None:
    events = run_events()
    events.insert(-1, TurnFailed("tts", "voice broke", retryable=True, stage="tts"))
    live = TurnState()
    for event in events:
        live.handle(event)
    cell = make_cell(events)
    folded = cell.turn_state
    assert (folded.text, folded.started, folded.completed) == (
        live.text,
        live.started,
        live.completed,
    )
    assert folded.tools == live.tools and folded.errors == live.errors
    assert cell.text == live.text and cell.failed == (live.llm_error is not None)
    assert live.completed is not None and cell.timing == asdict(live.completed.timing)
    # The audio bytes stay in the log only; the fold keeps the rest of each piece.
    assert [a.text for a in folded.audio] == [a.text for a in live.audio]
    assert all(a.wav == b"" for a in folded.audio)


def test_reading_a_cell_keeps_it_equal_and_dropping_audio_folds_afresh() -> None:
    cell = make_cell()
    twin = RunCell.model_validate(cell.model_dump())
    assert cell.text and cell.tool_calls  # fills the cached fold of ``cell`` only
    assert cell == twin
    slim = cell.without_audio_data()
    assert not slim.has_audio_data and slim.turn_state is not cell.turn_state
    assert (slim.text, slim.tool_calls, slim.timing) == (cell.text, cell.tool_calls, cell.timing)


def test_a_cell_saved_before_the_audio_timing_fields_shows_them_as_unknown() -> None:
    dumped = json.loads(notebook_to_json(make_notebook(1), include_audio=False))
    end = dumped["cells"][0]["events"][-1]
    assert end["event"] == "completion-end"
    later = ("characters", "chars_per_s", "tokens_per_s", "audio_pieces", "audio_ms")
    for key in (*later, "ttfat_ms", "reasoning_ms"):
        del end["data"]["timing"][key]
    old = notebook_from_json(json.dumps(dumped)).cells[0]
    assert old.timing == {"ttft_ms": 120.0, "ttfa_ms": 450.5, "chunks": 3, "total_ms": 900.25}
    metrics = {m["name"]: m["a"] for m in compare_cells(old, old)["metrics"]}
    assert metrics["audio_pieces"] is None and metrics["ttft_ms"] == 120.0


def test_events_may_be_sse_pairs_or_wire_dicts() -> None:
    config = make_cell().config
    pairs = [("completion-start", make_cell().events[0].data), ("end", {})]
    dicts = [
        {"event": "completion-continue", "data": {"text": "x", "seq": 0, "t_ms": 1, "gap_ms": 1}}
    ]
    cell = cell_from_events(config, "hi", [*pairs, *dicts])
    assert [e.event for e in cell.events] == ["completion-start", "end", "completion-continue"]
    assert cell.text == "x" and cell.finish_reason is None


def test_a_run_without_completion_start_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        cell_from_run(request(), run_events()[1:])
    assert caught.value.field == "events"


def test_config_from_request_resolves_the_composer_with_the_prompt_library() -> None:
    prompts = load_prompt_library(PROMPTS_DIR)
    config = config_from_request(
        TurnRequest(message="hi", model="openai:gpt-4o-mini", node="agent"), prompts=prompts
    )
    assert config.prompt == "default-agent-node@1" and config.node == "agent"
    assert config.system is not None and "Playground Agent" in config.system
    with pytest.raises(ConfigError) as caught:
        config_from_request(TurnRequest(message="hi"), prompts=prompts)
    assert caught.value.field == "model"
    with pytest.raises(ConfigError) as caught:
        config_from_request(
            TurnRequest(message="hi", model="openai:x", prompt="nope@1"), prompts=prompts
        )
    assert caught.value.field == "prompt"


def test_rerun_request_reproduces_the_original_request() -> None:
    original = request()
    cell = cell_from_run(original, run_events())
    rerun = request_for_rerun(cell)
    assert rerun == original.model_copy(update={"prompt": "default-agent-node@1"})


# -- JSON ----------------------------------------------------------------------------------


def test_json_round_trip_with_audio_is_exact() -> None:
    nb = make_notebook(3)
    nb = nb.with_pinned(nb.cells[0].id, nb.cells[2].id)
    text = notebook_to_json(nb, include_audio=True)
    back = notebook_from_json(text)
    assert back == nb
    assert back.cells[0].has_audio_data
    assert notebook_to_json(back, include_audio=True) == text


def test_json_round_trip_without_audio_drops_only_the_audio_bytes() -> None:
    nb = make_notebook(2)
    text = notebook_to_json(nb, include_audio=False)
    assert WAV.hex()[:16] not in text
    back = notebook_from_json(text)
    assert back == nb.without_audio_data()
    for before, after in zip(nb.cells, back.cells, strict=True):
        assert not after.has_audio_data
        assert after.text == before.text and after.timing == before.timing
        assert [a["text"] for a in after.audio] == [a["text"] for a in before.audio]
    assert len(text) < len(notebook_to_json(nb, include_audio=True))


def _exported() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(notebook_to_json(make_notebook(1), include_audio=False))
    return doc


def _set(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    *parents, last = path.split(".")
    node: Any = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is _DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return doc


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("format", "something-else", "format"),
        ("version", 2, "version"),
        ("cells.0.config.model", _DELETE, "cells.0.config.model"),
        ("cells.0.config.node", "planner", "cells.0.config.node"),
        ("cells.0.config.temperature", 9, "cells.0.config.temperature"),
        ("cells.0.surprise", 1, "cells.0.surprise"),
        ("cells.0.message", "", "cells.0.message"),
        ("cells.0.id", "has spaces", "cells.0.id"),
        ("cells.0.created_at", "yesterday", "cells.0.created_at"),
        ("cells.0.events.1.event", "completion-maybe", "cells.0.events.1.event"),
        ("cells.0.events.1.data.text", 42, "cells.0.events.1.data.text"),
        ("cells.0.events.1.data.seq", _DELETE, "cells.0.events.1.data.seq"),
        ("cells.0.events.7.data.timing", {"chunks": 1}, "cells.0.events.7.data.timing.ttft_ms"),
        ("cells.0.history.0.role", "system", "cells.0.history.0.role"),
        ("pinned", ["cell_a", "cell_b"], "pinned"),
    ],
)
def test_bad_json_import_names_the_field(path: str, value: Any, field: str) -> None:
    doc = _set(_exported(), path, value)
    with pytest.raises(ConfigError) as caught:
        notebook_from_json(json.dumps(doc))
    assert caught.value.field == field
    assert field in caught.value.message


def test_duplicate_cell_ids_are_refused() -> None:
    doc = _exported()
    doc["cells"].append(doc["cells"][0])
    with pytest.raises(ConfigError) as caught:
        notebook_from_json(json.dumps(doc))
    assert caught.value.field == "cells"


@pytest.mark.parametrize(
    ("text", "field"),
    [("{not json", "notebook"), ("[1, 2]", "notebook"), ("[" * 100_000, "notebook")],
)
def test_what_is_not_a_notebook_is_refused(text: str, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        notebook_from_json(text)
    assert caught.value.field == field


def test_import_is_size_limited() -> None:
    text = notebook_to_json(make_notebook(1), include_audio=True)
    with pytest.raises(ConfigError, match="limit") as caught:
        notebook_from_json(text, max_bytes=len(text) - 1)
    assert caught.value.field == "notebook"
    doc = json.loads(text)
    doc["cells"] = doc["cells"] * (MAX_CELLS + 1)
    with pytest.raises(ConfigError) as caught:
        notebook_from_json(json.dumps(doc), max_bytes=10**9)
    assert caught.value.field == "cells"


# -- notebook operations ---------------------------------------------------------------------


def test_append_delete_pin() -> None:
    nb = make_notebook(3)
    a, b, c = (cell.id for cell in nb.cells)
    pinned = nb.with_pinned(a, c)
    pair = pinned.pinned_cells()
    assert pair is not None and (pair[0].id, pair[1].id) == (a, c)
    assert pinned.without(b).pinned == (a, c)
    assert pinned.without(a).pinned is None
    assert [x.id for x in pinned.without(a).cells] == [b, c]
    assert pinned.unpinned().pinned is None
    with pytest.raises(ConfigError):
        nb.with_pinned(a, a)
    with pytest.raises(ConfigError) as caught:
        nb.without("cell_missing")
    assert caught.value.field == "cell_id"
    # Appending past the bound drops the oldest.
    assert [x.id for x in nb.appended(make_cell(), max_cells=3).cells][:2] == [b, c]


# -- comparison ------------------------------------------------------------------------------


def test_compare_cells_puts_the_same_metrics_side_by_side_with_a_word_diff() -> None:
    a = make_cell(run_events(("The ", "cat ", "sat."), total_ms=900.0, ttft_ms=100.0))
    b = make_cell(
        run_events(("The ", "dog ", "sat."), total_ms=600.0, ttft_ms=150.0),
        temperature=1.0,
    )
    result = compare_cells(a, b)
    assert result["a"]["text"] == "The cat sat." and result["b"]["text"] == "The dog sat."
    assert result["similarity"] == pytest.approx(2 / 3)
    assert result["diff"] == [
        {"op": "equal", "text": "The "},
        {"op": "delete", "text": "cat "},
        {"op": "insert", "text": "dog "},
        {"op": "equal", "text": "sat."},
    ]
    metrics = {m["name"]: m for m in result["metrics"]}
    assert (metrics["ttft_ms"]["a"], metrics["ttft_ms"]["b"], metrics["ttft_ms"]["delta"]) == (
        100.0,
        150.0,
        50.0,
    )
    assert metrics["total_ms"]["delta"] == -300.0
    assert metrics["words"]["a"] == metrics["words"]["b"] == 3
    assert metrics["tool_calls"]["a"] == 1
    config = {row["field"]: row for row in result["config"]}
    assert not config["temperature"]["same"] and config["model"]["same"]
    json.dumps(result)  # JSON-ready for the UI


# -- the store -------------------------------------------------------------------------------


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "notebooks.sqlite3"


def test_one_owner_never_sees_another_owners_notebook(store_path: Path) -> None:
    store = NotebookStore(store_path)
    alice, bob = new_owner_id(), new_owner_id()
    store.save(alice, make_notebook(2))
    assert len(store.load(alice).cells) == 2
    assert store.load(bob) == Notebook()
    store.save(bob, make_notebook(1))
    assert len(store.load(alice).cells) == 2 and len(store.load(bob).cells) == 1
    store.delete(bob)
    assert store.load(bob) == Notebook() and len(store.load(alice).cells) == 2


def test_ids_are_stored_hashed_and_the_file_uses_wal(store_path: Path) -> None:
    store = NotebookStore(store_path)
    owner = new_owner_id()
    store.save(owner, make_notebook(1))
    with sqlite3.connect(store_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        keys = [row[0] for row in conn.execute("SELECT owner_hash FROM notebooks")]
    assert owner not in keys and len(keys) == 1 and len(keys[0]) == 64


@pytest.mark.parametrize(
    "owner",
    [
        "",
        "abc",
        "1",
        "a" * 43,
        "0123456789abcdef012",
        "x" * 129,
        "with spaces in it 0123456789",
        "../../etc/passwd0123456789",
        None,
        12345,
    ],
)
def test_invalid_owner_ids_are_rejected(store_path: Path, owner: Any) -> None:
    store = NotebookStore(store_path)
    for call in (store.load, store.delete, lambda o: store.save(o, Notebook())):
        with pytest.raises(ConfigError) as caught:
            call(owner)
        assert caught.value.field == "owner_id"


def test_generated_ids_are_valid_and_long() -> None:
    owner = new_owner_id()
    assert validate_owner_id(owner) == owner
    assert len(owner) >= 43  # 256 bits of URL-safe base64
    assert validate_owner_id("0123456789abcdef0123456789abcdef")  # a uuid4 hex passes too


def test_the_notebook_survives_reopening_the_file(store_path: Path) -> None:
    owner = new_owner_id()
    nb = make_notebook(2)
    nb = nb.with_pinned(nb.cells[0].id, nb.cells[1].id)
    NotebookStore(store_path).save(owner, nb)
    assert NotebookStore(store_path).load(owner) == nb  # a new store: the server restarted


def test_each_notebook_is_bounded_oldest_dropped(store_path: Path) -> None:
    owner = new_owner_id()
    store = NotebookStore(store_path, max_cells=3)
    nb = make_notebook(5)
    kept = store.save(owner, nb)
    assert [c.id for c in kept.cells] == [c.id for c in nb.cells[-3:]]
    assert store.load(owner) == kept

    one = len(notebook_to_json(make_notebook(1), include_audio=True).encode())
    store = NotebookStore(store_path, max_bytes=int(one * 2.5))
    kept = store.save(owner, nb)
    assert [c.id for c in kept.cells] == [c.id for c in nb.cells[-2:]]
    assert len(notebook_to_json(kept, include_audio=True).encode()) <= store.max_bytes

    # A single cell too big with its audio keeps its text and timing.
    without_audio = len(notebook_to_json(make_notebook(1), include_audio=False).encode())
    store = NotebookStore(store_path, max_bytes=without_audio + 10)
    kept = store.save(owner, make_notebook(1))
    assert len(kept.cells) == 1 and not kept.cells[0].has_audio_data


def test_an_unreadable_row_loads_as_an_empty_notebook(store_path: Path) -> None:
    owner = new_owner_id()
    store = NotebookStore(store_path)
    store.save(owner, make_notebook(1))
    with sqlite3.connect(store_path) as conn:
        conn.execute('UPDATE notebooks SET notebook = \'{"format": "old"}\'')
    assert store.load(owner) == Notebook()


def test_concurrent_saves_from_threads(store_path: Path) -> None:
    store = NotebookStore(store_path)
    owners = [new_owner_id() for _ in range(8)]
    errors: list[BaseException] = []

    def work(owner: str) -> None:
        try:
            for i in range(1, 4):
                store.save(owner, make_notebook(i))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(o,)) for o in owners]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(len(store.load(o).cells) == 3 for o in owners)


async def test_async_wrappers(store_path: Path) -> None:
    store = NotebookStore(store_path)
    owner = new_owner_id()
    saved = await store.asave(owner, make_notebook(1))
    assert await store.aload(owner) == saved
    await store.adelete(owner)
    assert await store.aload(owner) == Notebook()


def test_created_at_is_timezone_aware() -> None:
    cell = make_cell()
    assert cell.created_at.tzinfo is not None
    fixed = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    config = RunConfig(model="openai:x", prompt="p@1", node="prompt")
    assert cell_from_events(config, "m", [], created_at=fixed).created_at == fixed
