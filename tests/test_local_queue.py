"""The local model's queue: bounded (a turn without a place fails fast with a retryable busy
error), fair between clients (round-robin, not first-come-first-served over all turns), and
observable (each waiting turn's position, as it changes).

``GatedModel`` (``tests/fakes/gated_model.py``) is the real ``LocalLlamaModel`` with only the
decoding replaced.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from playground.engines import Engines, VoiceKeyProblems
from playground.errors import ErrorCategory
from playground.providers.base import (
    GenerationOptions,
    ModelDelta,
)
from playground.providers.local_llm import LocalModelBusy
from playground.settings import Settings
from tests.fakes.gated_model import GatedModel

WAIT_S = 20  # generous: the machine is loaded; every wait returns as soon as its event happens


@dataclass
class Turn:
    """One turn's consumer: ``started`` resolves with its first chunk, ``task`` with the end."""

    turn_id: str
    started: asyncio.Future[None]
    task: asyncio.Task[list[ModelDelta]] = field(init=False)


def start(model: GatedModel, client: str, turn_id: str) -> Turn:
    turn = Turn(turn_id, asyncio.get_running_loop().create_future())

    async def consume() -> list[ModelDelta]:
        options = GenerationOptions(client=client, turn_id=turn_id)
        deltas: list[ModelDelta] = []
        async for delta in model.stream("smollm2-135m", [], options):
            if not turn.started.done():
                turn.started.set_result(None)
            deltas.append(delta)
        return deltas

    turn.task = asyncio.create_task(consume())
    return turn


async def queued(model: GatedModel, turn: Turn) -> int:
    """Wait until the turn is in the queue; its position then."""

    async def first_place() -> int:
        async for position in model.queue_positions(turn.turn_id):
            if position:
                return position
        raise AssertionError("unreachable: the watch runs until stopped")

    return await asyncio.wait_for(first_place(), WAIT_S)


async def finish(model: GatedModel, turn: Turn) -> list[ModelDelta]:
    model.gate(turn.turn_id).set()
    return await asyncio.wait_for(turn.task, WAIT_S)


async def test_a_second_client_is_served_next_not_after_the_first_clients_backlog() -> None:
    model = GatedModel(max_queue=8)
    a1 = start(model, "alice", "a1")
    await asyncio.wait_for(a1.started, WAIT_S)
    backlog = [start(model, "alice", f"a{i}") for i in range(2, 6)]  # four more: her share
    for turn in backlog:
        await queued(model, turn)
    assert model.queue.refusal("alice") is not None and model.queue.refusal("bob") is None
    b1 = start(model, "bob", "b1")
    assert await queued(model, b1) == 1, "bob is next, ahead of alice's backlog"
    for turn in (a1, b1, *backlog):
        await asyncio.wait_for(turn.started, WAIT_S)
        await finish(model, turn)
    assert model.served == ["a1", "b1", "a2", "a3", "a4", "a5"]


async def test_clients_take_turns_round_robin() -> None:
    model = GatedModel(max_queue=8)
    holder = start(model, "alice", "a1")
    await asyncio.wait_for(holder.started, WAIT_S)
    turns = [start(model, c, f"{c[0]}{i}") for i in (2, 3) for c in ("alice", "bob", "carol")]
    for turn in turns:
        await queued(model, turn)
    by_id = {turn.turn_id: turn for turn in (holder, *turns)}
    fair = ["a1", "b2", "c2", "a2", "b3", "c3", "a3"]
    for turn_id in fair:  # each is let go only once it holds the model: they must come in order
        await asyncio.wait_for(by_id[turn_id].started, WAIT_S)
        await finish(model, by_id[turn_id])
    assert model.served == fair


async def test_a_turn_without_a_place_fails_at_once_with_a_retryable_busy_error() -> None:
    model = GatedModel(max_queue=2)
    holder = start(model, "alice", "a1")
    await asyncio.wait_for(holder.started, WAIT_S)
    waiting = [start(model, "bob", "b1"), start(model, "carol", "c1")]
    for turn in waiting:
        await queued(model, turn)
    refused = start(model, "dave", "d1")
    assert model.queue.refusal("erin") is not None, "a pre-flight check sees the queue is full"
    with pytest.raises(LocalModelBusy) as caught:
        await asyncio.wait_for(refused.task, WAIT_S)  # fails while the others still wait
    error = caught.value
    assert error.category is ErrorCategory.RATE_LIMIT and error.retryable
    assert "local model is busy" in error.message and "2 turns are already waiting" in error.message
    assert error.waiting == 2 and 1 <= error.retry_after_s <= 60
    assert not holder.task.done() and all(not t.task.done() for t in waiting), "nobody lost"
    for turn in (holder, *waiting):
        await asyncio.wait_for(turn.started, WAIT_S)
        await finish(model, turn)
    assert model.served == ["a1", "b1", "c1"]


async def test_one_client_cannot_take_every_place() -> None:
    model = GatedModel(max_queue=4)  # two places per client
    holder = start(model, "alice", "a1")
    await asyncio.wait_for(holder.started, WAIT_S)
    mine = [start(model, "alice", "a2"), start(model, "alice", "a3")]
    for turn in mine:
        await queued(model, turn)
    with pytest.raises(LocalModelBusy, match="2 of them yours"):
        await asyncio.wait_for(start(model, "alice", "a4").task, WAIT_S)
    other = start(model, "bob", "b1")
    assert await queued(model, other) == 1, "another client still gets a place"
    for turn in (holder, other, *mine):
        await asyncio.wait_for(turn.started, WAIT_S)
        await finish(model, turn)


async def test_callers_without_a_client_id_share_one_line_and_every_place() -> None:
    model = GatedModel(max_queue=3)
    turns = [start(model, "", f"t{i}") for i in range(4)]
    await asyncio.wait_for(turns[0].started, WAIT_S)
    for turn in turns[1:]:
        await queued(model, turn)
    with pytest.raises(LocalModelBusy, match="3 turns are already waiting"):
        await asyncio.wait_for(start(model, "", "t4").task, WAIT_S)
    for turn in turns:
        await asyncio.wait_for(turn.started, WAIT_S)
        await finish(model, turn)
    assert model.served == ["t0", "t1", "t2", "t3"]


async def test_a_waiting_turn_can_watch_its_position_change() -> None:
    model = GatedModel(max_queue=8)
    a1 = start(model, "alice", "a1")
    await asyncio.wait_for(a1.started, WAIT_S)
    a2, a3 = start(model, "alice", "a2"), start(model, "alice", "a3")
    await queued(model, a2)
    watch = model.queue_positions("a3")

    async def next_position() -> int:
        return await asyncio.wait_for(anext(watch), WAIT_S)

    seen = [await next_position()]
    if seen == [0]:  # watching began before a3 reached the queue
        seen = [await next_position()]
    b1 = start(model, "bob", "b1")
    seen.append(await next_position())  # bob goes ahead of alice's second and third turns
    c1 = start(model, "carol", "c1")
    seen.append(await next_position())
    for turn in (a1, b1, c1, a2):
        await asyncio.wait_for(turn.started, WAIT_S)
        model.gate(turn.turn_id).set()
        seen.append(await next_position())
    assert seen == [2, 3, 4, 3, 2, 1, 0]
    await finish(model, a3)
    await watch.aclose()


async def test_a_turn_cancelled_while_waiting_gives_up_its_place() -> None:
    model = GatedModel(max_queue=8)
    holder = start(model, "alice", "a1")
    await asyncio.wait_for(holder.started, WAIT_S)
    leaving = start(model, "bob", "b1")
    await queued(model, leaving)
    leaving.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leaving.task
    assert model.queue.waiting == 0
    await finish(model, holder)
    after = start(model, "carol", "c1")
    await asyncio.wait_for(after.started, WAIT_S)  # the model was freed, not held by a ghost
    await finish(model, after)
    assert model.served == ["a1", "c1"]


async def test_a_stopped_turn_frees_the_model_for_the_next_one() -> None:
    model = GatedModel(max_queue=8)
    holder = start(model, "alice", "a1")
    await asyncio.wait_for(holder.started, WAIT_S)
    next_turn = start(model, "bob", "b1")
    await queued(model, next_turn)
    holder.task.cancel()  # the user pressed Stop mid-answer; the gate is never opened
    with pytest.raises(asyncio.CancelledError):
        await holder.task
    await asyncio.wait_for(next_turn.started, WAIT_S)
    await finish(model, next_turn)


def test_callers_that_do_not_say_who_they_are_still_work() -> None:
    assert GenerationOptions().client == "" and GenerationOptions().turn_id == ""


def test_the_queue_bound_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLAYGROUND_LOCAL_MAX_QUEUE", raising=False)
    assert Settings(_env_file=None).playground_local_max_queue == 8
    monkeypatch.setenv("PLAYGROUND_LOCAL_MAX_QUEUE", "3")
    engines = Engines.from_settings(Settings(_env_file=None), VoiceKeyProblems())
    assert engines.local_model.queue.max_waiting == 3
