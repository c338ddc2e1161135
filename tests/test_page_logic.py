"""Decisions the page used to make in its callbacks, now in the core where the runner and the
API can use them too: the capability check from a request's ids, the version-diff choice, the
conversation a reloaded page continues, the notebook import merge and orphan recovery. And a
check that ``ui/`` does not grow such logic again."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import pytest

from playground.errors import ConfigError
from playground.notebook.continuation import conversation_of, turns_of
from playground.notebook.merge import merge_imported
from playground.notebook.model import Notebook
from playground.prompts.library import PromptFile, PromptLibrary
from playground.prompts.workbench import editor_text
from playground.turn.capabilities import Conditions, disabled_features, disabled_for
from playground.turn.recovery import plan_recovery
from playground.turn.request import Features, HistoryMessage, TurnRequest
from playground.ui.composer import Composer
from playground.ui.parameters_panel import ParametersPanel
from tests.test_notebook import make_cell, make_notebook, request, run_events

UI = Path(__file__).resolve().parent.parent / "playground" / "ui"


def prompt(version: int, *, tools: tuple[str, ...] = (), fmt: str = "v2") -> PromptFile:
    return PromptFile(
        id="p",
        version=version,
        title="P",
        node="agent",
        format=fmt,
        system="s",
        tools=tools,
    )


LIBRARY = PromptLibrary({"p": {v: prompt(v) for v in (1, 2, 4)}})


# -- the capability check -------------------------------------------------------------------------


@pytest.mark.parametrize("streaming", [True, False])
@pytest.mark.parametrize("model", ["openai:gpt-4o-mini", "local:smollm2", "azure:dep"])
@pytest.mark.parametrize("voice", [None, "none", "local:joe", "deepgram:aura-2-thalia-en"])
@pytest.mark.parametrize("node", ["prompt", "agent"])
def test_the_check_from_ids_is_the_table_applied_to_their_engines(
    streaming: bool, model: str, voice: str | None, node: str
) -> None:
    p = prompt(1, tools=("calculator",), fmt="v1")
    expected = disabled_features(
        Conditions(
            streaming=streaming,
            prompt_format="v1",
            node=node,
            has_tools=True,
            engine=model.split(":")[0],
            voice_engine=None if voice in (None, "none") else voice.split(":")[0],
        )
    )
    assert disabled_for(p, model=model, node=node, streaming=streaming, voice=voice) == expected


def test_streaming_disables_the_whole_reply_options_and_a_local_model_tools() -> None:
    off = disabled_for(
        prompt(1, tools=("calculator",)), model="local:x", node="agent", streaming=True, voice=None
    )
    names = {d.name for d in off}
    assert {"guardrails", "interception", "post_processing", "tool_calling"} <= names
    assert "streaming_guardrail" not in names


# -- the prompt library's choices -----------------------------------------------------------------


def test_the_diff_starts_from_the_version_before_or_after_the_first() -> None:
    assert LIBRARY.diff_pair(LIBRARY.prompts["p"][4]) == (2, 4)
    assert LIBRARY.diff_pair(LIBRARY.prompts["p"][2]) == (1, 2)
    assert LIBRARY.diff_pair(LIBRARY.prompts["p"][1]) == (1, 2)
    only = PromptLibrary({"p": {3: prompt(3)}})
    assert only.diff_pair(prompt(3)) == (3, 3)
    assert LIBRARY.versions("p") == [1, 2, 4] and LIBRARY.versions("nope") == []


def test_a_stale_version_shows_the_prompts_latest_instead_of_failing() -> None:
    assert LIBRARY.resolve_shown("p", "2").version == 2
    assert LIBRARY.resolve_shown("p", "9").version == 4
    assert LIBRARY.resolve_shown("p", "").version == 4


# -- the notebook -------------------------------------------------------------------------------


def test_a_reload_continues_the_conversation_of_the_cell() -> None:
    cell = make_cell()
    nb = make_notebook(1).appended(cell)
    history = conversation_of(nb, cell.id)
    assert history == [
        *cell.history,
        HistoryMessage(role="user", content=cell.message),
        HistoryMessage(role="assistant", content=cell.text),
    ]
    assert conversation_of(nb, "missing") is None and conversation_of(nb, None) is None
    failed = make_cell(run_events(finish="error"))
    assert conversation_of(nb.appended(failed), failed.id) is None


def test_a_reload_shows_how_each_turn_of_the_conversation_ran() -> None:
    first = make_cell(run_events(finish="stopped"), message="First?", history=())
    first = first.model_copy(update={"interrupted": True})
    then = conversation_of(Notebook().appended(first), first.id)
    assert then is not None
    second = make_cell(message="Second?", history=then)
    nb = make_notebook(1).appended(first).appended(second)
    history = conversation_of(nb, second.id)
    assert history is not None
    ran = turns_of(nb, history)
    assert [s.text if s is not None else None for s in ran] == [first.text, second.text]
    assert ran[0] is not None and ran[0].interrupted and ran[0].stopped
    assert ran[1] is not None and not ran[1].interrupted
    assert ran[0] is not first.turn_state  # a copy: the cell's own state stays as it was
    # A turn no cell holds (its cell deleted) is left to its text.
    assert turns_of(Notebook().appended(second), history)[0] is None


def test_an_import_adds_new_runs_and_skips_known_ones() -> None:
    nb = make_notebook(2)
    fresh = make_cell(message="Another question")
    imported = make_notebook(0).appended(nb.cells[0]).appended(fresh)
    merged = merge_imported(nb, imported, max_cells=10)
    assert [c.id for c in merged.cells] == [*(c.id for c in nb.cells), fresh.id]
    assert [c.id for c in merge_imported(nb, imported, max_cells=2).cells] == [
        nb.cells[1].id,
        fresh.id,
    ]


# -- orphan recovery ----------------------------------------------------------------------------


@dataclass
class Run:
    kind: str
    name: str


def test_a_reload_resumes_the_newest_run_of_each_kind() -> None:
    runs = [Run("chat", "old"), Run("rerun", "r1"), Run("chat", "new"), Run("rerun", "r2")]
    plan = plan_recovery(runs, known_chat_cell=None, stored_chat_cell="stored")
    assert plan.chat is runs[2] and plan.rerun is runs[3]
    assert plan.chat_cell == "stored" and not plan.restore_chat
    idle = plan_recovery(list[Run](), known_chat_cell="known", stored_chat_cell="stored")
    assert idle.chat is None and idle.rerun is None
    assert idle.chat_cell == "known" and idle.restore_chat


# -- the composer -------------------------------------------------------------------------------


def test_the_composer_builds_the_request_and_fills_it_back() -> None:
    with gr.Blocks():
        toggles = {name: gr.Checkbox() for name in Features.model_fields}
        parameters = ParametersPanel()
        parameters.render()
        composer = Composer(
            model=gr.Dropdown(),
            prompt_id=gr.Dropdown(),
            version=gr.Dropdown(),
            node=gr.Radio(),
            streaming=gr.Checkbox(),
            voice=gr.Dropdown(),
            toggles=toggles,
            parameters=parameters,
            draft=gr.Code(),
            draft_base=gr.Textbox(visible=False),
            message=gr.Textbox(),
        )
    sent = Composer.request(
        "Hi",
        model="openai:m",
        prompt="p",
        version="2",
        node="agent",
        streaming=False,
        voice="none",
        features={"interception": True},
        history=[HistoryMessage(role="user", content="x")],
    )
    assert sent.prompt == "p@2" and sent.features == Features(interception=True)
    assert sent.history == (HistoryMessage(role="user", content="x"),)
    versions = {
        n: PromptFile(id="p", version=n, title="P", node="prompt", format="v2", system="Hi {{x}}.")
        for n in (1, 2)
    }
    library = PromptLibrary(prompts={"p": versions})
    filled = composer.fill(
        request(prompt="p@2", voice=None, temperature=0.5, stop=("END",), variables={"x": "y"}),
        library,
    )
    assert filled[parameters.temperature] == "0.5" and filled[parameters.stop] == "END"
    assert filled[parameters.variables] == "x: y"
    assert filled[composer.draft] == editor_text(versions[2])
    assert filled[composer.draft_base] == "p@2"
    assert filled[composer.prompt_id] == "p" and filled[composer.voice] == "none"
    assert filled[composer.version]["value"] == "2"
    assert filled[composer.version]["choices"] == ["1", "2"]
    assert filled[toggles["interception"]] is True and filled[toggles["guardrails"]] is False
    assert filled[composer.message] == "Tell me about octopuses."


def test_the_composer_refuses_a_variable_without_value_unless_the_cases_bring_them() -> None:
    prompt = PromptFile(
        id="p", version=1, title="P", node="prompt", format="v2", system="Hi {{who}}."
    )
    library = PromptLibrary(prompts={"p": {1: prompt}})
    with pytest.raises(ConfigError, match="who has no value"):
        Composer.compose(library, "Hi", model="openai:m", prompt="p", version="1", node=None)
    # An eval's configuration: each case gives the value, and is checked with it.
    made = Composer.compose(
        library,
        "(case)",
        model="openai:m",
        prompt="p",
        version="1",
        node=None,
        require_variables=False,
    )
    assert made.prompt == "p@1" and made.variables == {}


# -- ui/ stays wiring ---------------------------------------------------------------------------


def _ui_modules() -> dict[str, ast.Module]:
    return {
        str(path.relative_to(UI)): ast.parse(path.read_text(encoding="utf-8"))
        for path in sorted(UI.rglob("*.py"))
    }


def _names(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.alias):
            found.add(node.asname or node.name.rsplit(".", 1)[-1])
    return found


def _calls(tree: ast.AST) -> set[str]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            out.add(func.id if isinstance(func, ast.Name) else getattr(func, "attr", ""))
    return out


def test_the_page_does_not_decide_capabilities_itself() -> None:
    for name, tree in _ui_modules().items():
        assert not {"Conditions", "disabled_features"} & _names(tree), name


def test_only_the_composer_builds_a_turn_request_and_the_page_does_not_merge_notebooks() -> None:
    for name, tree in _ui_modules().items():
        calls = _calls(tree)
        if name != "composer.py":
            assert "TurnRequest" not in calls and "Features" not in calls, name
        # Notebook edits (appending cells, restoring a conversation) are the notebook's.
        assert "appended" not in calls, name
        if name != "session.py":  # the session records the turns it ran
            assert "HistoryMessage" not in calls, name


def test_the_renderers_are_pure() -> None:
    for name, tree in _ui_modules().items():
        if name.startswith("render/"):
            imported = {
                a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
            }
            imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
            assert not any(m.split(".")[0] == "gradio" for m in imported), name


def test_no_page_function_is_long() -> None:
    for name, tree in _ui_modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                assert length <= 80, f"{name}: {node.name} has {length} lines"


def test_the_editor_text_runs_as_a_draft_only_over_the_version_it_was_opened_from() -> None:
    versions = {
        n: PromptFile(id="p", version=n, title="P", node="prompt", format="v2", system=f"v{n}")
        for n in (1, 2)
    }
    library = PromptLibrary(prompts={"p": versions})
    edited = editor_text(versions[2]).replace("system: v2", "system: edited")

    def compose(draft_base: str, text: str) -> TurnRequest:
        return Composer.compose(
            library,
            "hi",
            model="openai:m",
            prompt="p",
            version="2",
            node="prompt",
            draft_text=text,
            draft_base=draft_base,
        )

    drafted = compose("p@2", edited)
    assert drafted.prompt is None and drafted.prompt_draft is not None
    assert drafted.prompt_draft["system"] == "edited"
    # Opened from another version (the picker moved on before the editor caught up): the
    # picked version runs, never the stale text.
    assert compose("p@1", edited).prompt == "p@2"
    # Unchanged text is the saved version, not a draft.
    assert compose("p@2", editor_text(versions[2])).prompt == "p@2"
    with pytest.raises(ConfigError) as bad:
        compose("p@2", edited + "node: robot\n")
    assert bad.value.field == "prompt_draft.node"


def test_the_effort_picker_offers_what_the_picked_model_takes() -> None:
    from playground.ui.parameters_panel import effort_choice, read_parameters

    reasoning = effort_choice("openai:o4-mini", "high")
    assert reasoning["interactive"] is True and reasoning["value"] == "high"
    assert [value for _, value in reasoning["choices"]] == ["", "low", "medium", "high"]
    assert effort_choice("openai:gpt-5-mini", "xhigh")["value"] == "", "not taken: back to default"
    plain = effort_choice("openai:gpt-4o-mini", "high")
    assert plain["interactive"] is False and plain["value"] == ""
    assert "reasoning models" in plain["info"]
    assert read_parameters(None, None, None, None, "", "", "low").reasoning_effort == "low"
    assert read_parameters(None, None, None, None, "", "", "").reasoning_effort is None
    with pytest.raises(ConfigError) as refused:
        read_parameters(None, None, None, None, "", "", "extreme")
    assert refused.value.field == "reasoning_effort"
