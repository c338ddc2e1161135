"""The .ipynb export and "View code": the exported notebook is executed (nbclient, a real
kernel) against the loopback OpenAI and Deepgram fakes and must reproduce the recorded runs."""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from playground.errors import ConfigError
from playground.notebook.export import (
    prompt_resolver,
    request_body,
    to_ipynb,
    to_ipynb_json,
    view_code,
)
from playground.notebook.model import Notebook, RunCell, RunConfig, cell_from_run
from playground.prompts.library import PromptLibrary, load_prompt_library
from playground.providers.local_llm import LOCAL_MODEL_NAME
from playground.providers.openai_llm import OpenAIChatModel
from playground.server import build_app
from playground.turn.request import Features, HistoryMessage, TurnRequest
from tests.fakes.deepgram_server import FakeDeepgram
from tests.fakes.openai_server import FakeOpenAI, Reply, ToolCallSpec
from tests.support import live_server, make_test_services, stream_events

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
LOCAL_MODEL = f"local:{LOCAL_MODEL_NAME}"
CHUNK_LINE = re.compile(r"^\s*\d+\.\d ms  gap\s+\d+\.\d ms  '", re.MULTILINE)

VOICE_REPLY = Reply(chunks=["Octopuses ", "have ", "three ", "hearts."], delay=0.01)
TOOL_REPLY = Reply(
    chunks=["Let me work it out. "],
    tool_calls=[ToolCallSpec("calculator", '{"expression": "6*7"}', call_id="call_1")],
)
AFTER_TOOL_REPLY = Reply(chunks=["It ", "is ", "42."])
LOCAL_REPLY = Reply(chunks=["Tiny ", "model ", "answer."])
WHOLE_REPLY = Reply(chunks=["Not ", "streamed, ", "whole."])


@pytest.fixture(scope="module")
def prompts() -> PromptLibrary:
    return load_prompt_library(PROMPTS_DIR)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def deepgram() -> Iterator[FakeDeepgram]:
    with FakeDeepgram() as server:
        yield server


@pytest.fixture(scope="module")
def app_url(fake: FakeOpenAI, deepgram: FakeDeepgram) -> Iterator[str]:
    services = make_test_services(
        openai_api_key="test-key",
        openai_base_url=fake.base_url,
        deepgram_api_key="test-key",
        deepgram_base_url=deepgram.base_url,
        playground_deepgram_flushes_per_minute=1000,
        playground_resume_grace_s=0,
    )
    # The embedded model answers from the fake too, so the `local:` path (the app's own API)
    # can be executed deterministically without loading llama.cpp.
    services.engines.local_model = OpenAIChatModel(  # type: ignore[assignment]
        services.engines.clients.openai(api_key="test-key", base_url=fake.base_url), "local"
    )
    with live_server(build_app(services, warm_up=False)) as url:
        yield url


def record(
    app_url: str, fake: FakeOpenAI, prompts: PromptLibrary, request: TurnRequest, *replies: Reply
) -> tuple[RunCell, list[dict[str, Any]]]:
    """Run ``request`` through the app's streaming API; the cell and the upstream bodies."""
    fake.enqueue(*replies)
    before = len(fake.chat_requests)
    response, events = stream_events(app_url, request.model_dump(mode="json"), timeout=60)
    assert response.status_code == 200, response.text
    cell = cell_from_run(request, [(e.event, e.data) for e in events], prompts=prompts)
    assert cell.finish_reason is not None and not cell.failed, cell.errors
    return cell, [r.body for r in fake.chat_requests[before:]]


@pytest.fixture(scope="module")
def recorded(
    app_url: str, fake: FakeOpenAI, prompts: PromptLibrary
) -> list[tuple[RunCell, list[dict[str, Any]]]]:
    return [
        record(
            app_url,
            fake,
            prompts,
            TurnRequest(
                message="Tell me about octopuses.",
                model="openai:gpt-4o-mini",
                voice="deepgram:aura-2-thalia-en",
            ),
            VOICE_REPLY,
        ),
        record(
            app_url,
            fake,
            prompts,
            TurnRequest(
                message="What is 6*7?",
                model="openai:gpt-4o-mini",
                node="agent",
                history=(
                    HistoryMessage(role="user", content="Hi"),
                    HistoryMessage(role="assistant", content="Hello! How can I help?"),
                ),
                temperature=0.0,
                seed=3,
            ),
            TOOL_REPLY,
            AFTER_TOOL_REPLY,
        ),
        record(
            app_url, fake, prompts, TurnRequest(message="Say hi.", model=LOCAL_MODEL), LOCAL_REPLY
        ),
        record(
            app_url,
            fake,
            prompts,
            TurnRequest(message="All at once.", model="openai:gpt-4o-mini", streaming=False),
            WHOLE_REPLY,
        ),
    ]


def _stdout(cell: Any) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")


def _comparable(body: dict[str, Any]) -> dict[str, Any]:
    keys = ("model", "messages", "temperature", "seed", "max_tokens", "tools")
    return {k: body.get(k) for k in keys} | {"stream": bool(body.get("stream"))}


def test_the_exported_notebook_runs_and_reproduces_every_run(
    recorded: list[tuple[RunCell, list[dict[str, Any]]]],
    fake: FakeOpenAI,
    deepgram: FakeDeepgram,
    app_url: str,
    prompts: PromptLibrary,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    nb = Notebook(cells=tuple(cell for cell, _ in recorded))
    exported = to_ipynb(nb, app_url=app_url, resolve_prompt=prompt_resolver(prompts))
    doc = nbformat.from_dict(exported)  # type: ignore[no-untyped-call]
    nbformat.validate(doc)

    # The kernel inherits this process's environment: that is how it finds the fakes.
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    monkeypatch.setenv("DEEPGRAM_API_KEY", "test-key")
    monkeypatch.setenv("DEEPGRAM_BASE_URL", deepgram.base_url)
    monkeypatch.setenv("PLAYGROUND_URL", app_url)
    # The same replies, in the order the notebook asks for them (run 3 goes through the app).
    fake.enqueue(VOICE_REPLY, TOOL_REPLY, AFTER_TOOL_REPLY, LOCAL_REPLY, WHOLE_REPLY)
    before = len(fake.chat_requests)
    speak_connections = deepgram.connections

    NotebookClient(
        doc, kernel_name="python3", timeout=60, resources={"metadata": {"path": str(tmp_path)}}
    ).execute()

    code = {c.id: c for c in doc.cells if c.cell_type == "code"}
    for index, (cell, _) in enumerate(recorded, start=1):
        out = _stdout(code[f"run{index}"])
        assert f"Answer:\n{cell.text}\n" in out, out
        assert "Same as recorded: True" in out, out
        assert re.search(r"^TTFT \d+\.\d ms · total \d+\.\d ms · \d+ chunks", out, re.MULTILINE)
        if cell.config.streaming:
            # One timing line (ms since send, gap) per chunk of the recorded run.
            assert len(CHUNK_LINE.findall(out)) == len(cell.chunks), out
    assert "tool call calculator" in _stdout(code["run2"])
    assert "streaming off" in _stdout(code["run4"])

    # The notebook sent the upstream exactly what the app had sent for runs 1, 2 and 4.
    sent = [r.body for r in fake.chat_requests[before:]]
    app_sent = [body for _, bodies in recorded for body in bodies]
    assert [_comparable(b) for b in sent] == [_comparable(b) for b in app_sent]

    # Run 1 used a Deepgram voice: spoken again with deepgram-sdk, time to first byte reported.
    voice = code["run1-voice"]
    assert re.search(r"time to first audio byte \d+\.\d ms", _stdout(voice))
    assert any("audio/wav" in o.get("data", {}).get("text/html", "") for o in voice.outputs)
    assert deepgram.connections == speak_connections + 1
    speak = [m for m in deepgram.messages[-1] if m.get("type") == "Speak"]
    assert "".join(m["text"] for m in speak) == recorded[0][0].text
    assert "run2-voice" not in code


def test_the_ipynb_explains_and_records_each_run(
    recorded: list[tuple[RunCell, list[dict[str, Any]]]], prompts: PromptLibrary
) -> None:
    nb = Notebook(cells=tuple(cell for cell, _ in recorded))
    text = to_ipynb_json(
        nb, app_url="http://127.0.0.1:7860/", resolve_prompt=prompt_resolver(prompts)
    )
    doc = nbformat.reads(text, as_version=4)  # type: ignore[no-untyped-call]
    nbformat.validate(doc)
    assert doc.cells[0].cell_type == "markdown" and "OPENAI_API_KEY" in doc.cells[0].source
    setup = doc.cells[1].source
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "DEEPGRAM_API_KEY", "DEEPGRAM_BASE_URL"):
        assert f'os.environ.get("{name}")' in setup
    assert "DeepgramClientEnvironment" in setup and "AzureOpenAI" in setup
    assert "test-key" not in text  # keys are never written into the file
    summaries = [c.source for c in doc.cells if c.id.endswith("-summary")]
    assert len(summaries) == 4
    assert "Octopuses have three hearts." in summaries[0] and "first token" in summaries[0]
    assert "calculator" in summaries[1]
    for cell in doc.cells:
        if cell.cell_type == "code":
            compile(cell.source, cell.id, "exec")
    local = next(c.source for c in doc.cells if c.id == "run3")
    assert "stream_app(" in local and "llm_client(" not in local


def test_an_empty_notebook_exports_a_valid_ipynb() -> None:
    doc = to_ipynb(Notebook(), app_url="http://127.0.0.1:7860")
    nbformat.validate(nbformat.from_dict(doc))  # type: ignore[no-untyped-call]
    assert any("No runs yet" in c["source"] for c in doc["cells"])


def test_app_url_must_be_http() -> None:
    with pytest.raises(ConfigError) as caught:
        to_ipynb(Notebook(), app_url="javascript:alert(1)")
    assert caught.value.field == "app_url"


# -- View code ---------------------------------------------------------------------------------

NASTY = 'Say """hi""" and \'bye\' `rm -rf /` $(whoami) \\n\n```\nend'


def config(**overrides: Any) -> RunConfig:
    values: dict[str, Any] = {
        "model": "openai:gpt-4o-mini",
        "prompt": "default-prompt-node@1",
        "node": "prompt",
        "streaming": True,
        "temperature": 0.5,
        "seed": 11,
    }
    values.update(overrides)
    return RunConfig(**values)


def _literal_assignments(source: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return values


def _curl_body(curl: str) -> tuple[list[str], dict[str, Any]]:
    command = "\n".join(line for line in curl.splitlines() if not line.startswith("#"))
    argv = shlex.split(command.replace("\\\n", " "))
    return argv, json.loads(argv[argv.index("-d") + 1])


@pytest.mark.parametrize(
    ("model", "client"),
    [
        ("openai:gpt-4o-mini", 'llm_client("openai")'),
        ("azure:my-deployment", 'llm_client("azure")'),
        ("compatible:llama3.2", 'llm_client("compatible")'),
        (LOCAL_MODEL, "stream_app(body)"),
    ],
)
def test_view_code_is_valid_python_for_every_engine(
    model: str, client: str, prompts: PromptLibrary
) -> None:
    cfg = config(model=model, voice="deepgram:aura-2-thalia-en")
    code = view_code(
        cfg, NASTY, app_url="http://127.0.0.1:7860", resolve_prompt=prompt_resolver(prompts)
    )
    compile(code["python"], "view_code.py", "exec")
    assert client.replace('"', "'") in code["python"]
    assert "speak(answer, 'aura-2-thalia-en')" in code["python"]
    values = _literal_assignments(code["python"])
    if model == LOCAL_MODEL:
        assert values["body"] == request_body(cfg, NASTY)
    else:
        messages = values["messages"]
        assert messages[-1] == {"role": "user", "content": NASTY}
        assert messages[0]["role"] == "system" and "helpful" in messages[0]["content"]
        if model.startswith("azure:"):
            assert "model='my-deployment'" in code["python"]


def test_view_code_curl_has_the_right_json_body() -> None:
    cfg = config(voice="local:joe", features=Features(guardrails=True), variables={"name": "Ada"})
    history = (HistoryMessage(role="user", content="Hi"),)
    code = view_code(cfg, NASTY, app_url="http://127.0.0.1:7860/", history=history)
    argv, body = _curl_body(code["curl"])
    assert argv[:3] == ["curl", "-N", "http://127.0.0.1:7860/v1/interact/stream"]
    assert "Content-Type: application/json" in argv and "Accept: text/event-stream" in argv
    assert body == {
        "message": NASTY,
        "model": "openai:gpt-4o-mini",
        "prompt": "default-prompt-node@1",
        "node": "prompt",
        "streaming": True,
        "voice": "local:joe",
        "history": [{"role": "user", "content": "Hi"}],
        "features": {"guardrails": True},
        "variables": {"name": "Ada"},
        "temperature": 0.5,
        "seed": 11,
    }
    TurnRequest.model_validate(body)  # what the API accepts


def test_view_code_without_a_known_system_prompt_says_so() -> None:
    code = view_code(config(), "hi", app_url="http://127.0.0.1:7860")
    compile(code["python"], "view_code.py", "exec")
    assert "was not recorded" in code["python"]
    assert _literal_assignments(code["python"])["messages"] == [{"role": "user", "content": "hi"}]


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs the curl binary")
def test_view_code_curl_streams_from_the_app(app_url: str, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(chunks=["From ", "curl."]))
    curl = view_code(config(), "hi", app_url=app_url)["curl"]
    out = subprocess.run(
        ["bash", "-c", curl], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert "event: completion-continue" in out and '"text":"From curl."' in out


def test_view_code_python_runs_standalone(
    fake: FakeOpenAI, deepgram: FakeDeepgram, prompts: PromptLibrary
) -> None:
    fake.enqueue(Reply(chunks=["Stand", "alone."]))
    cfg = config(voice="deepgram:aura-2-thalia-en")
    code = view_code(
        cfg, NASTY, app_url="http://127.0.0.1:7860", resolve_prompt=prompt_resolver(prompts)
    )["python"]
    env = {
        **os.environ,
        "OPENAI_API_KEY": "test-key",
        "OPENAI_BASE_URL": fake.base_url,
        "DEEPGRAM_API_KEY": "test-key",
        "DEEPGRAM_BASE_URL": deepgram.base_url,
        "PYTHONWARNINGS": "ignore",
    }
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert out.returncode == 0, out.stderr
    assert "Answer:\nStandalone." in out.stdout
    assert len(CHUNK_LINE.findall(out.stdout)) == 2
    assert "time to first audio byte" in out.stdout
    assert fake.chat_requests[-1].body["messages"][-1]["content"] == NASTY
