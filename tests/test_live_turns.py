"""Page turns that outlive the page (``playground.ui.live_turns``), with the real runner and the
real ``openai`` client against the loopback fake: every run lands in its owner's notebook; a run
nobody follows is kept for the grace period, then stopped with its partial answer; an owner's
page finds its orphaned runs; Stop and shutdown close the upstream at once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from playground.notebook.store import new_owner_id
from playground.services import Services
from playground.turn.events import Event, TextChunk, TurnCompleted
from playground.turn.request import TurnRequest
from playground.turn.runner import TurnRunner
from playground.ui.live_turns import LiveTurn, LiveTurns
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.support import make_test_services


@pytest.fixture
async def services(fake_openai: FakeOpenAI) -> AsyncIterator[Services]:
    built = make_test_services(openai_api_key="test-key", openai_base_url=fake_openai.base_url)
    yield built
    await built.aclose()


def live_turns(services: Services, grace_s: float = 5.0) -> LiveTurns:
    turns = LiveTurns(
        TurnRunner(services),
        notebooks=services.notebooks,
        prompts=lambda: services.prompts,
        grace_s=grace_s,
    )
    services.on_close(turns.aclose)
    return turns


def start(turns: LiveTurns, services: Services, owner: str | None, message: str) -> LiveTurn:
    request = TurnRequest(message=message, model="openai:gpt-4o-mini", voice="none")
    prepared = turns.runner.prepare(request, services.server_credentials)
    return turns.start(owner, "chat", request, prepared, client="ip:test")


async def follow_until(turns: LiveTurns, live: LiveTurn, text: str) -> list[Event]:
    """Follow ``live`` until its answer contains ``text``, then leave (as a closed page)."""
    seen: list[Event] = []
    async with contextlib.aclosing(turns.follow(live)) as events:
        async for event in events:
            seen.append(event)
            if isinstance(event, TextChunk) and text in event.snapshot:
                break
    return seen


async def answered(live: LiveTurn, text: str) -> None:
    """Wait (without following) until the run's answer contains ``text``."""
    async for event in live.events_from():
        if isinstance(event, TextChunk) and text in event.snapshot:
            return


async def test_a_finished_run_becomes_a_cell_in_its_owners_notebook(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    fake_openai.enqueue(Reply(chunks=["Hello ", "there."]))
    turns, owner = live_turns(services), new_owner_id()
    live = start(turns, services, owner, "Hi")
    events = [e async for e in turns.follow(live)]
    assert isinstance(events[-1], TurnCompleted) and events[-1].text == "Hello there."
    cell = await live.recorded(5)
    assert cell is not None and cell.text == "Hello there." and cell.message == "Hi"
    assert services.notebooks is not None
    stored = await services.notebooks.load(owner)
    assert [c.id for c in stored.cells] == [cell.id]
    assert live.notebook == stored  # the page shows it without reading the file again
    assert stored.cells[0].config.prompt == "default-prompt-node@1"
    # Someone else's notebook did not get it.
    assert (await services.notebooks.load(new_owner_id())).cells == ()


async def test_a_run_left_by_its_page_waits_to_be_resumed_then_finishes(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    fake_openai.enqueue(Reply(chunks=[f"p{i} " for i in range(8)], delay=0.05))
    turns, owner = live_turns(services, grace_s=5.0), new_owner_id()
    live = start(turns, services, owner, "Tell me")
    await follow_until(turns, live, "p1")
    # The page went away: the run is an orphan for this owner only, and keeps streaming.
    assert turns.orphaned(owner) == [live] and turns.orphaned(new_owner_id()) == []
    # The reloaded page follows it from the first event to the end.
    replay = [e async for e in turns.follow(live)]
    assert isinstance(replay[0], type(live.events[0])) and replay == live.events
    done = replay[-1]
    assert isinstance(done, TurnCompleted) and done.finish_reason != "stopped"
    assert done.text == "".join(f"p{i} " for i in range(8))
    assert fake_openai.disconnects == 0
    assert turns.orphaned(owner) == []


async def test_a_run_nobody_resumes_is_stopped_after_the_grace_and_kept(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    fake_openai.enqueue(Reply(chunks=[f"w{i} " for i in range(100)], delay=0.05))
    turns, owner = live_turns(services, grace_s=0.3), new_owner_id()
    live = start(turns, services, owner, "Go")
    await follow_until(turns, live, "w1")
    assert await fake_openai.wait_for_disconnect_async(5.0)  # the upstream closed at the end
    cell = await live.recorded(5)
    assert cell is not None and cell.stopped and "w1" in cell.text and "w99" not in cell.text


async def test_a_run_without_an_owner_stops_when_its_follower_goes(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    fake_openai.enqueue(Reply(chunks=[f"w{i} " for i in range(100)], delay=0.05))
    turns = live_turns(services, grace_s=60.0)
    live = start(turns, services, None, "Go")
    await follow_until(turns, live, "w1")
    assert await fake_openai.wait_for_disconnect_async(2.0)  # no grace: nobody could resume it
    assert await live.recorded(5) is None  # and nothing to record it in


async def test_stop_closes_the_upstream_at_once_and_keeps_the_partial_answer(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    fake_openai.enqueue(Reply(chunks=[f"w{i} " for i in range(100)], delay=0.05))
    turns, owner = live_turns(services), new_owner_id()
    live = start(turns, services, owner, "Go")
    follower = asyncio.create_task(follow_until(turns, live, "never"))
    await asyncio.wait_for(answered(live, "w2"), 5)
    live.stop()
    assert await fake_openai.wait_for_disconnect_async(2.0)
    await asyncio.wait_for(follower, 2)  # the follower saw the end
    cell = await live.recorded(5)
    assert cell is not None and cell.stopped and cell.text.startswith("w0 w1 w2")


async def test_shutdown_stops_running_turns_and_still_records_them(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    fake_openai.enqueue(Reply(chunks=[f"w{i} " for i in range(100)], delay=0.05))
    turns, owner = live_turns(services), new_owner_id()
    live = start(turns, services, owner, "Go")
    await asyncio.wait_for(answered(live, "w1"), 5)
    await turns.aclose()
    assert live.done and await fake_openai.wait_for_disconnect_async(2.0)
    assert services.notebooks is not None
    stored = await services.notebooks.load(owner)
    assert len(stored.cells) == 1 and stored.cells[0].stopped


async def test_runs_are_not_recorded_without_a_notebook_file(fake_openai: FakeOpenAI) -> None:
    services = make_test_services(
        openai_api_key="test-key", openai_base_url=fake_openai.base_url, playground_notebook_db=""
    )
    try:
        assert services.notebooks is None
        fake_openai.enqueue(Reply(chunks=["ok"]))
        turns = live_turns(services)
        live = start(turns, services, new_owner_id(), "Hi")
        events = [e async for e in turns.follow(live)]
        assert isinstance(events[-1], TurnCompleted) and await live.recorded(1) is None
    finally:
        await services.aclose()


async def test_the_newest_chat_cell_is_known_until_the_owner_clears_the_chat(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    fake_openai.enqueue(Reply(chunks=["one"]), Reply(chunks=["two"]))
    turns, owner = live_turns(services), new_owner_id()
    first = start(turns, services, owner, "1")
    [e async for e in turns.follow(first)]
    second = start(turns, services, owner, "2")
    [e async for e in turns.follow(second)]
    cell = await second.recorded(5)
    assert cell is not None and turns.chat_cell(owner) == cell.id
    assert turns.chat_cell(new_owner_id()) is None
    turns.forget_chat(owner)
    assert turns.chat_cell(owner) is None


async def test_a_reloaded_page_resumes_a_run_its_old_page_has_not_left_yet(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    # The old page's connection is noticed as closed only at its next frame; the reloaded page
    # may load first. It must still pick the run up.
    fake_openai.enqueue(Reply(chunks=[f"q{i} " for i in range(40)], delay=0.05))
    turns, owner = live_turns(services), new_owner_id()
    live = start(turns, services, owner, "Go")
    old_page = turns.follow(live)
    await anext(old_page)  # the old page still follows
    assert turns.orphaned(owner) == []
    plan = turns.recover(owner, None)
    assert plan.chat is live and not plan.restore_chat
    assert turns.recover(new_owner_id(), None).chat is None, "only the owner's runs"
    await old_page.aclose()
    live.stop()
