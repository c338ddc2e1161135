"""How the local model's queue reaches people: the API refuses a turn that would find no place
with 503 ``model_busy`` and ``Retry-After`` before any stream opens, and the page shows a
waiting turn's place in line, then its answer, or the same clear refusal.

The model is ``GatedModel``: the real ``LocalLlamaModel`` (fair queue, worker thread, stream)
with only the decoding replaced, so a turn holds the model exactly as long as the test says.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from playground.notebook.store import new_owner_id
from playground.providers.local_llm import LOCAL_MODEL_NAME
from playground.server import build_app
from playground.services import Services
from playground.turn.request import TurnRequest
from playground.turn.runner import TurnRunner
from playground.ui.live_turns import LiveTurn, LiveTurns
from playground.ui.render.chat_view import chat_messages
from playground.ui.render.panel_view import timing_summary
from playground.ui.session import Frame, SessionState, drive_turn
from tests.fakes.gated_model import GatedModel
from tests.support import live_server, make_test_services

LOCAL = f"local:{LOCAL_MODEL_NAME}"
WAIT_S = 20  # generous: the machine may be loaded; every wait ends as soon as its event happens


@pytest.fixture
async def gated() -> AsyncIterator[tuple[Services, GatedModel]]:
    services = make_test_services()
    model = GatedModel(max_queue=1)  # one place in line: the third turn finds none
    services.engines.local_model = model
    try:
        yield services, model
    finally:
        model.open_all()
        await services.aclose()


def request(message: str) -> TurnRequest:
    return TurnRequest(message=message, model=LOCAL, voice="none")


async def served(model: GatedModel, count: int) -> str:
    """Wait until ``count`` turns have reached the model; the id of the latest."""
    for _ in range(WAIT_S * 100):
        if len(model.served) >= count:
            return model.served[count - 1]
        await asyncio.sleep(0.01)
    raise AssertionError(f"only {len(model.served)} turn(s) reached the model")


async def waiting(model: GatedModel, count: int) -> None:
    for _ in range(WAIT_S * 100):
        if model.queue.waiting >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the turn never joined the queue")


# -- the HTTP API ---------------------------------------------------------------------------------


async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, dict[str, object]]]:
    name = ""
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            yield name, json.loads(line[6:])


async def test_the_api_answers_503_with_retry_after_when_the_local_model_has_no_place(
    gated: tuple[Services, GatedModel],
) -> None:
    services, model = gated
    body = {"message": "hi", "model": LOCAL, "voice": "none"}
    with live_server(build_app(services, warm_up=False)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=WAIT_S) as http:

            async def turn() -> list[str]:
                async with http.stream("POST", "/v1/interact/stream", json=body) as response:
                    assert response.status_code == 200
                    return [name async for name, _ in sse_events(response)]

            holder = asyncio.create_task(turn())
            await served(model, 1)
            waiter = asyncio.create_task(turn())
            await waiting(model, 1)

            refused = await http.post("/v1/interact/stream", json=body)
            assert refused.status_code == 503
            assert refused.headers["content-type"].startswith("application/json")
            assert int(refused.headers["Retry-After"]) >= 1
            error = refused.json()["error"]
            assert error["code"] == "model_busy"
            assert "busy" in error["message"] and "Try again" in error["message"]

            model.open_all()
            for task in (holder, waiter):
                names = await asyncio.wait_for(task, WAIT_S)
                assert names[-2:] == ["completion-end", "end"] and "error" not in names
    assert len(model.served) == 2, "the refused turn never reached the model"


async def test_the_voiceflow_route_refuses_the_same_way(
    gated: tuple[Services, GatedModel],
) -> None:
    services, model = gated
    body = {"message": "hi", "model": LOCAL, "voice": "none"}
    with live_server(build_app(services, warm_up=False)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=WAIT_S) as http:

            async def turn() -> int:
                async with http.stream("POST", "/v1/interact/stream", json=body) as response:
                    async for _ in sse_events(response):
                        pass
                    return response.status_code

            holder = asyncio.create_task(turn())
            await served(model, 1)
            waiter = asyncio.create_task(turn())
            await waiting(model, 1)
            # The default prompt's project id runs on the default model, which is the local one
            # only when nothing else is configured: here it is (no keys are set).
            refused = await http.post(
                "/v2/project/default-prompt-node/user/alice/interact/stream",
                json={"action": {"type": "text", "payload": "hi"}},
            )
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "model_busy"
            assert "Retry-After" in refused.headers
            model.open_all()
            assert await asyncio.wait_for(holder, WAIT_S) == 200
            assert await asyncio.wait_for(waiter, WAIT_S) == 200


# -- the page -------------------------------------------------------------------------------------


def page_turns(services: Services) -> LiveTurns:
    turns = LiveTurns(
        TurnRunner(services),
        notebooks=services.notebooks,
        prompts=lambda: services.prompts,
        grace_s=5,
    )
    services.on_close(turns.aclose)
    return turns


def hold(turns: LiveTurns, services: Services, client: str) -> LiveTurn:
    """Another browser's turn, holding the model."""
    prepared = turns.runner.prepare(request("first"), services.server_credentials, client)
    return turns.start(new_owner_id(), "chat", request("first"), prepared, client=client)


async def test_the_page_shows_a_waiting_turns_place_in_line_then_its_answer(
    gated: tuple[Services, GatedModel],
) -> None:
    services, model = gated
    turns = page_turns(services)
    hold(turns, services, "ip:10.0.0.1")
    holder_id = await served(model, 1)
    session = SessionState(owner=new_owner_id())
    frames = drive_turn(
        turns, session, request("second"), services.server_credentials, client="ip:10.0.0.2"
    )
    shown: list[str] = []
    async with contextlib.aclosing(frames) as stream:
        frame: Frame
        async for frame in stream:
            live = session.live
            if live is not None:
                shown.append(chat_messages([], live)[-1]["content"][0]["text"])
                if live[1].queued == 1:
                    assert "waiting for the local model, next in line" in timing_summary(live[1])
                    model.gate(holder_id).set()  # the other browser's turn ends: ours is next
                elif live[1].text:
                    model.open_all()
            if frame.final:
                break
    assert any("Waiting for the local model (next in line)" in text for text in shown), shown
    finished = session.shown[-1][1]
    assert finished.queued == 0 and finished.errors == []
    assert finished.text.endswith("started"), "the waiting turn was answered once the model freed"


async def test_the_page_refuses_a_turn_with_no_place_in_line_and_says_when_to_retry(
    gated: tuple[Services, GatedModel],
) -> None:
    services, model = gated
    turns = page_turns(services)
    hold(turns, services, "ip:10.0.0.1")
    await served(model, 1)
    session = SessionState(owner=new_owner_id())
    second = drive_turn(
        turns, session, request("second"), services.server_credentials, client="ip:10.0.0.2"
    )
    await asyncio.wait_for(anext(second), WAIT_S)  # it waits in the only place in line
    await waiting(model, 1)

    third = SessionState(owner=new_owner_id())
    frames = [
        f
        async for f in drive_turn(
            turns, third, request("third"), services.server_credentials, client="ip:10.0.0.3"
        )
    ]
    assert len(frames) == 1 and frames[0].final
    refused = third.shown[-1][1]
    [error] = refused.errors
    assert error.retryable and error.code == "rate_limit" and error.stage == "request"
    assert "The local model is busy" in error.message and "Try again in about" in error.message
    assert "busy" in chat_messages(third.shown)[-1]["content"][0]["text"]
    assert len(model.served) == 1, "the refused turn never reached the model"
    model.open_all()
    await second.aclose()
