"""A run of an unsaved draft, with the new parameters, is recorded whole: the notebook cell keeps
the draft's document and ``id@draft:<hash>``, ``top_p``, ``stop`` and the variables, so it can be
rerun (the same draft, the same hash), shown, and exported (View code sends what the run sent).

Runs go through the app's HTTP API with the real ``openai`` client against the loopback fake.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Any

import pytest

from playground.notebook.export import prompt_resolver, request_body, view_code
from playground.notebook.model import Notebook, RunCell, cell_from_run, request_for_rerun
from playground.server import build_app
from playground.services import Services
from playground.turn.request import TurnRequest
from playground.ui.render import notebook_view
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.support import live_server, make_test_services, stream_events

DRAFT: dict[str, Any] = {
    "id": "greeter",
    "title": "Greeter",
    "node": "prompt",
    "format": "v2",
    "system": "You are {{name}}. Greet in {{language}}.",
    "variables": {"name": "Greeter Bot", "language": "English"},
    "defaults": {"temperature": 0.2},
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def app(fake: FakeOpenAI) -> Iterator[tuple[str, Services]]:
    services = make_test_services(openai_api_key="test-key", openai_base_url=fake.base_url)
    with live_server(build_app(services, warm_up=False)) as url:
        yield url, services


def run(app: tuple[str, Services], fake: FakeOpenAI, request: TurnRequest) -> RunCell:
    url, services = app
    fake.enqueue(Reply(chunks=["Bonjour", "!"]))
    response, events = stream_events(url, request.model_dump(mode="json", exclude_none=True))
    assert response.status_code == 200, response.text
    return cell_from_run(request, [(e.event, e.data) for e in events], prompts=services.prompts)


@pytest.fixture(scope="module")
def draft_request() -> TurnRequest:
    return TurnRequest(
        message="hello",
        model="openai:gpt-4o-mini",
        voice="none",
        prompt_draft=DRAFT,
        variables={"language": "French"},
        top_p=0.5,
        stop=("\n\n",),
        max_tokens=64,
        seed=7,
    )


def test_a_draft_run_is_recorded_with_its_document_hash_and_parameters(
    app: tuple[str, Services], fake: FakeOpenAI, draft_request: TurnRequest
) -> None:
    cell = run(app, fake, draft_request)
    sent = fake.chat_requests[-1].body
    c = cell.config
    assert c.prompt.startswith("greeter@draft:") and len(c.prompt.split(":")[-1]) == 12
    assert c.prompt_draft == DRAFT
    assert c.system == "You are Greeter Bot. Greet in French."
    assert sent["messages"][0]["content"] == c.system
    assert (c.top_p, c.stop, c.max_tokens, c.seed) == (0.5, ("\n\n",), 64, 7)
    assert (sent["top_p"], sent["stop"], sent["temperature"]) == (0.5, ["\n\n"], 0.2)
    shown = notebook_view.notebook_html(Notebook(cells=(cell,)))  # as the page shows the cell
    assert "greeter@draft:" in shown and "top p 0.5" in shown and "language=French" in shown


def test_a_draft_run_reruns_as_the_same_draft(
    app: tuple[str, Services], fake: FakeOpenAI, draft_request: TurnRequest
) -> None:
    first = run(app, fake, draft_request)
    again = request_for_rerun(first)
    assert again.prompt is None and again.prompt_draft == DRAFT
    assert (again.top_p, again.stop, again.variables) == (0.5, ("\n\n",), {"language": "French"})
    second = run(app, fake, again)
    assert second.config.prompt == first.config.prompt


def test_view_code_of_a_draft_run_sends_what_the_run_sent(
    app: tuple[str, Services], fake: FakeOpenAI, draft_request: TurnRequest
) -> None:
    _, services = app
    cell = run(app, fake, draft_request)
    sent = fake.chat_requests[-1].body
    code = view_code(
        cell.config,
        cell.message,
        app_url="http://127.0.0.1:7860",
        resolve_prompt=prompt_resolver(services.prompts),
    )
    tree = ast.parse(code["python"])
    assigned = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
        if isinstance(node.value, ast.List | ast.Dict | ast.Constant)
    }
    assert assigned["messages"] == sent["messages"]
    for name in ("top_p", "stop", "temperature", "max_tokens", "seed"):
        assert f"{name}=" in code["python"], name
    assert "top_p=0.5" in code["python"] and "stop=['\\n\\n']" in code["python"]
    body = request_body(cell.config, cell.message)
    assert body["prompt_draft"] == DRAFT and "prompt" not in body
    assert (body["top_p"], body["stop"]) == (0.5, ["\n\n"])
