"""The embedded offline model really loads from the wheel and streams (wording not asserted)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import cast

import pytest

from playground.providers.base import (
    ChatMessage,
    ContentDelta,
    GenerationOptions,
    ModelDelta,
    StreamEnd,
)
from playground.providers.local_llm import (
    DECODE_AHEAD,
    LocalLlamaModel,
    LocalModelBusy,
    find_local_model,
    local_model_unavailable,
)
from playground.server import build_app
from tests.support import live_server, make_test_services, stream_events

pytestmark = pytest.mark.slow

MESSAGES = [
    ChatMessage(role="system", content="You are a helpful assistant."),
    ChatMessage(role="user", content="Name three colours."),
]


@pytest.fixture(scope="module")
def model() -> LocalLlamaModel:
    return LocalLlamaModel(max_tokens=48)


def test_the_model_file_ships_in_the_wheel() -> None:
    path = find_local_model()
    assert path is not None and path.suffix == ".gguf" and path.stat().st_size > 50_000_000
    assert local_model_unavailable() is None


async def test_the_local_model_streams_tokens_one_by_one(model: LocalLlamaModel) -> None:
    deltas = [d async for d in model.stream("smollm2-135m", MESSAGES, GenerationOptions())]
    texts = [d for d in deltas if isinstance(d, ContentDelta)]
    end = deltas[-1]
    assert len(texts) > 3, "many chunks, not one block"
    assert "".join(t.text for t in texts).strip()
    assert isinstance(end, StreamEnd) and end.finish_reason in ("stop", "length")
    assert end.usage is not None and end.usage.completion_tokens == len(texts)
    stamps = [t.at for t in texts]
    assert stamps == sorted(stamps) and stamps[-1] > stamps[0], "stamped as each token left"
    assert model.load_seconds is not None


async def test_streaming_off_gives_one_chunk(model: LocalLlamaModel) -> None:
    options = GenerationOptions(stream=False)
    deltas = [d async for d in model.stream("smollm2-135m", MESSAGES, options)]
    assert [type(d) for d in deltas] == [ContentDelta, StreamEnd]


async def test_stopping_a_turn_stops_decoding_and_frees_the_model(
    model: LocalLlamaModel,
) -> None:
    before = model.tokens_generated
    stream = _long_story(model)
    async for _ in stream:
        break  # the user pressed Stop after the first token
    await cast(AsyncGenerator[ModelDelta, None], stream).aclose()
    deltas = await asyncio.wait_for(
        _collect(model.stream("smollm2-135m", MESSAGES, GenerationOptions(max_tokens=8))), 30
    )
    assert isinstance(deltas[-1], StreamEnd)
    second = sum(isinstance(d, ContentDelta) for d in deltas)
    stopped_run = model.tokens_generated - before - second
    # The one taken, the few decoded ahead of the turn, the one in hand: however loaded the
    # machine (the worker waits for the turn to take them).
    assert stopped_run <= 2 + DECODE_AHEAD, f"the stopped turn kept decoding ({stopped_run} tokens)"


async def test_a_turn_that_does_not_take_its_tokens_holds_the_model_back(
    model: LocalLlamaModel,
) -> None:
    before = model.tokens_generated
    stream = _long_story(model)
    async for _ in stream:
        break
    # A slow consumer (a busy loop, a slow client): long enough to decode all 48 tokens.
    await asyncio.sleep(1.5)
    assert model.tokens_generated - before <= 2 + DECODE_AHEAD
    rest = [d async for d in stream]  # it goes on where it waited
    assert isinstance(rest[-1], StreamEnd) and rest[-1].finish_reason == "length"


async def test_the_real_model_serves_one_turn_at_a_time_and_refuses_beyond_its_queue() -> None:
    model = LocalLlamaModel(max_tokens=12, max_queue=1)

    def turn(client: str) -> asyncio.Task[list[ModelDelta]]:
        options = GenerationOptions(max_tokens=12, temperature=0.0, client=client, turn_id=client)
        return asyncio.create_task(_collect(model.stream("smollm2-135m", MESSAGES, options)))

    # Created together, so all three ask before the first has even loaded the model.
    alice, bob, carol = turn("alice"), turn("bob"), turn("carol")
    with pytest.raises(LocalModelBusy, match="1 turn is already waiting"):
        await asyncio.wait_for(carol, 30)
    assert not alice.done() and not bob.done(), "refusing carol cost the others nothing"
    first, second = await asyncio.wait_for(asyncio.gather(alice, bob), 120)
    assert isinstance(first[-1], StreamEnd) and isinstance(second[-1], StreamEnd)
    assert second[0].at >= first[-1].at, "bob's turn began after alice's ended"


def _long_story(model: LocalLlamaModel) -> AsyncIterator[ModelDelta]:
    long = GenerationOptions(max_tokens=48, temperature=0.0)
    story = [ChatMessage(role="user", content="Write a long story about a lighthouse.")]
    return model.stream("smollm2-135m", story, long)


async def _collect(stream: AsyncIterator[ModelDelta]) -> list[ModelDelta]:
    return [d async for d in stream]


def test_with_no_keys_the_api_answers_from_the_local_model() -> None:
    services = make_test_services(playground_local_max_tokens=32)
    with live_server(build_app(services, warm_up=False)) as url:
        _, events = stream_events(url, {"message": "Say hello."}, timeout=120)
    assert events[0].data["model"] == "local:smollm2-135m"
    chunks = [e for e in events if e.event == "completion-continue"]
    assert len(chunks) > 1
    end = events[-2].data
    assert end["text"].strip() and end["timing"]["ttft_ms"] > 0 and end["timing"]["chunks"] > 1
