"""The programs an export generates: every template kind renders to code that parses and passes
``ruff check`` with the project's rules, and no recorded value can inject a statement.

An imported notebook is untrusted: its model, prompt, voice, message, variables, history, answer
and tool results are whatever the file says. Each must reach the generated program as a literal
with the same value, and the program's shape must not depend on it.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from playground.notebook.export import prompt_resolver, request_body, to_ipynb, view_code
from playground.notebook.model import Notebook, RunCell, RunConfig, cell_from_events
from playground.prompts.library import PromptLibrary, load_prompt_library
from playground.turn.request import HistoryMessage
from tests.fakes.openai_server import FakeOpenAI, Reply

ROOT = Path(__file__).resolve().parent.parent
APP_URL = "http://127.0.0.1:7860"
RECORDED_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
ANSWER = (
    "Octopuses have three hearts and blue blood. Two hearts pump blood through the gills, "
    "and the third pumps it through the rest of the body; it stops while they swim."
)


@pytest.fixture(scope="module")
def prompts() -> PromptLibrary:
    return load_prompt_library(ROOT / "prompts")


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def run_events(
    config: RunConfig, text: str, *, tool: tuple[str, str] | None = None, error: str = ""
) -> list[dict[str, Any]]:
    """A finished run's wire events: start, an optional tool call and result, text, end."""
    events: list[dict[str, Any]] = [
        {
            "event": "completion-start",
            "data": {
                "turn_id": "turn-1",
                "model": config.model,
                "prompt": config.prompt,
                "node": config.node,
                "streaming": config.streaming,
                "voice": config.voice,
            },
        }
    ]
    if tool is not None:
        name, output = tool
        events += [
            {
                "event": "tool-call",
                "data": {"call_id": "c1", "name": name, "arguments": {name: output}, "t_ms": 5},
            },
            {
                "event": "tool-result",
                "data": {
                    "call_id": "c1",
                    "name": name,
                    "output": output,
                    "t_ms": 6,
                    "duration_ms": 1,
                },
            },
        ]
    if error:
        events.append(
            {
                "event": "error",
                "data": {"code": error, "message": error, "retryable": False, "stage": "tts"},
            }
        )
    timing = {"ttft_ms": 10.0, "ttfa_ms": None, "chunks": 1, "total_ms": 20.0}
    events += [
        {
            "event": "completion-continue",
            "data": {"text": text, "seq": 0, "t_ms": 10, "gap_ms": 10},
        },
        {
            "event": "completion-end",
            "data": {"text": text, "finish_reason": "stop", "usage": None, "timing": timing},
        },
        {"event": "end", "data": {}},
    ]
    return events


def representative_cells() -> list[RunCell]:
    """One cell per code path: SDK with a Deepgram voice, an Agent Node with a tool call and
    history, the embedded model through the app's API, and a non-streaming Azure run whose
    system prompt was not recorded."""
    voice = RunConfig(
        model="openai:gpt-4o-mini",
        prompt="default-prompt-node@1",
        node="prompt",
        voice="deepgram:aura-2-thalia-en",
    )
    agent = RunConfig(
        model="openai:gpt-4o-mini",
        prompt="default-agent-node@1",
        node="agent",
        temperature=0.0,
        seed=3,
    )
    local = RunConfig(
        model="local:smollm2",
        prompt="default-prompt-node@1",
        node="prompt",
        voice="local:joe",
        variables={"name": "Ada"},
    )
    whole = RunConfig(model="azure:dep", prompt="nope@9", node="prompt", streaming=False)
    history = (
        HistoryMessage(role="user", content="Hi"),
        HistoryMessage(role="assistant", content="Hello! How can I help?"),
    )
    return [
        cell_from_events(voice, "Tell me about octopuses.", run_events(voice, ANSWER)),
        cell_from_events(
            agent,
            "What is 6*7?",
            run_events(agent, "It is 42.", tool=("calculator", "42")),
            history=history,
        ),
        cell_from_events(local, "Say hi.", run_events(local, "Hi!")),
        cell_from_events(whole, "All at once.", run_events(whole, ANSWER, error="timeout")),
    ]


def ruff_check(tmp_path: Path, sources: dict[str, str], *, ignore: str = "") -> None:
    """``ruff check`` with the project's configuration; fails the test with ruff's report."""
    folder = tmp_path / f"lint{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    for name, source in sources.items():
        (folder / name).write_text(source, encoding="utf-8")
    command = [sys.executable, "-m", "ruff", "check", "--no-cache", "--quiet"]
    command += ["--config", str(ROOT / "pyproject.toml")]
    if ignore:
        command.append(f"--extend-ignore={ignore}")
    result = subprocess.run(
        [*command, str(folder)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def code_cells(doc: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["source"] for c in doc["cells"] if c["cell_type"] == "code"}


@pytest.mark.parametrize("resolved", [True, False], ids=["resolved", "unresolved"])
def test_every_template_kind_renders_code_that_passes_ruff(
    resolved: bool, prompts: PromptLibrary, tmp_path: Path
) -> None:
    resolver = prompt_resolver(prompts) if resolved else None
    cells = representative_cells()
    doc = to_ipynb(Notebook(cells=tuple(cells)), app_url=APP_URL, resolve_prompt=resolver)
    sources = code_cells(doc)
    assert {"setup", "run1", "run1-voice", "run2", "run3", "run4"} <= set(sources)
    # Each cell alone (the names a run uses come from the setup cell), then the whole notebook
    # as one script, as Jupyter's "export as Python" would write it.
    ruff_check(tmp_path, {f"{cid}.py": f"{src}\n" for cid, src in sources.items()}, ignore="F821")
    ruff_check(tmp_path, {"notebook.py": "\n\n".join(sources.values()) + "\n"})
    for cell in cells:
        code = view_code(
            cell.config,
            cell.message,
            app_url=APP_URL,
            history=cell.history,
            resolve_prompt=resolver,
        )
        ast.parse(code["python"])
        ruff_check(tmp_path, {"view_code.py": code["python"]})
        syntax = subprocess.run(["bash", "-n", "-c", code["curl"]], check=False)
        assert syntax.returncode == 0, code["curl"]


# -- injection -----------------------------------------------------------------------------------


def hostile(tag: str, marker: Path) -> str:
    """A value that breaks out of a comment, a docstring or a string literal if pasted raw."""
    payload = f"__import__('pathlib').Path({str(marker)!r}).write_text({tag!r})"
    return (
        f"{tag} \"\"\" ''' \\ # \" ' \n{payload}\n"
        f"\"\"\"\n{payload}\n'''\n{payload}\n# \\\n{payload}\r\n\\"
    )


def config_of(value: str, *, local: bool) -> RunConfig:
    return RunConfig(
        model=("local:" if local else "openai:") + value,
        prompt=value,
        node="prompt",
        voice="deepgram:" + value,
        variables={value: value},
        disabled_features=(value,),
    )


def hostile_cell(value: str, *, local: bool) -> RunCell:
    config = config_of(value, local=local)
    return cell_from_events(
        config,
        value,
        run_events(config, value, tool=(value, value), error=value),
        history=(HistoryMessage(role="user", content=value),),
        created_at=RECORDED_AT,
    )


def shape(source: str) -> str:
    """The program's syntax tree with every string replaced by ``""``: its shape, not its data."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            node.value = ""
    return ast.dump(tree)


def literals(source: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return values


def speak_voice(source: str) -> object:
    """The voice literal passed to ``speak(...)`` in ``source``."""
    calls = [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "speak"
    ]
    assert len(calls) == 1
    return ast.literal_eval(calls[0].args[1])


@pytest.mark.parametrize("local", [False, True], ids=["sdk", "local"])
def test_hostile_values_are_embedded_as_literals_in_view_code(local: bool, tmp_path: Path) -> None:
    value = hostile("view", tmp_path / "pwned")
    config = config_of(value, local=local)
    history = (HistoryMessage(role="user", content=value),)
    code = view_code(config, value, app_url=APP_URL, history=history)
    harmless = (HistoryMessage(role="user", content="x"),)
    benign = view_code(config_of("x", local=local), "x", app_url=APP_URL, history=harmless)
    assert shape(code["python"]) == shape(benign["python"])  # strings apart, the same program
    title = ast.get_docstring(ast.parse(code["python"]), clean=False)
    assert title == f"Streaming Playground: {config.model} · {value} · prompt node."
    found = literals(code["python"])
    if local:
        assert found["body"] == request_body(config, value, history)
    else:
        assert found["messages"] == [
            {"role": "user", "content": value},
            {"role": "user", "content": value},
        ]
    assert speak_voice(code["python"]) == value


@pytest.mark.parametrize("local", [False, True], ids=["sdk", "local"])
def test_hostile_values_are_embedded_as_literals_in_the_notebook(
    local: bool, tmp_path: Path
) -> None:
    value = hostile("notebook", tmp_path / "pwned")
    cell = hostile_cell(value, local=local)
    doc = to_ipynb(Notebook(cells=(cell,)), app_url=APP_URL)
    benign = to_ipynb(Notebook(cells=(hostile_cell("x", local=local),)), app_url=APP_URL)
    sources, harmless = code_cells(doc), code_cells(benign)
    assert sources.keys() == harmless.keys() == {"setup", "run1", "run1-voice"}
    for cid, source in sources.items():
        assert shape(source) == shape(harmless[cid]), cid
    found = literals(sources["run1"])
    assert found["recorded_1"] == value
    if local:
        assert found["body_1"] == request_body(cell.config, value, cell.history)
    else:
        assert found["messages_1"] == [
            {"role": "user", "content": value},
            {"role": "user", "content": value},
        ]
        assert found["recorded_tool_results_1"] == [{"name": value, "output": value}]
    assert speak_voice(sources["run1-voice"]) == value


def clean_breakout(tag: str, marker: Path) -> str:
    """A value that, pasted raw into a comment, leaves the rest of the program valid."""
    return f"{tag}\n__import__('pathlib').Path({str(marker)!r}).write_text({tag!r})\n#"


@pytest.mark.parametrize("make", [hostile, clean_breakout])
def test_a_hostile_view_code_program_runs_without_running_the_payload(
    make: Any, fake: FakeOpenAI, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    value = make("run", marker)
    config = config_of(value, local=False).model_copy(update={"voice": None})
    history = (HistoryMessage(role="assistant", content=value),)
    python = view_code(config, value, app_url=APP_URL, history=history)["python"]
    fake.enqueue(Reply(chunks=["Safe ", "and sound."]))
    env = {
        **os.environ,
        "OPENAI_API_KEY": "test-key",
        "OPENAI_BASE_URL": fake.base_url,
        "PYTHONWARNINGS": "ignore",
    }
    out = subprocess.run(
        [sys.executable, "-c", python], capture_output=True, text=True, timeout=60, env=env
    )
    assert out.returncode == 0, out.stderr
    assert "Answer:\nSafe and sound." in out.stdout
    assert not marker.exists()
    sent = fake.chat_requests[-1].body
    assert sent["model"] == value
    assert sent["messages"] == [
        {"role": "assistant", "content": value},
        {"role": "user", "content": value},
    ]
