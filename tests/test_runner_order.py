"""The runner's ordering contract: when a turn ends early (a streaming-guardrail retraction, a
Stop, or a consumer that walks away), the upstream stream is closed *before* ``completion-end``
is produced, so a client that has seen the end can rely on generation having stopped.

The LLM here is an in-process ``LLMProvider`` (the project's own Protocol, not an SDK) whose
stream records the moment it is closed, so the order is observed directly rather than through a
server-side counter that trails the close.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator

from playground.catalog import Credentials
from playground.providers.base import ChatMessage, ContentDelta, GenerationOptions, ModelDelta
from playground.turn.events import Event, TextChunk, TextReplaced, TurnCompleted
from playground.turn.request import Features, TurnRequest
from playground.turn.runner import PreparedTurn, TurnRunner
from tests.support import make_test_services


class RecordingLLM:
    """Streams words slowly, forever; notes when the stream is closed."""

    def __init__(self, words: list[str]) -> None:
        self.words = words
        self.log: list[str] = []

    async def stream(
        self, model: str, messages: list[ChatMessage], options: GenerationOptions
    ) -> AsyncIterator[ModelDelta]:
        try:
            for word in self.words:
                yield ContentDelta(word, time.monotonic())
                await asyncio.sleep(0.01)
            await asyncio.Event().wait()  # an upstream that would go on generating
        finally:
            self.log.append("upstream closed")


def prepared(runner: TurnRunner, llm: RecordingLLM, **request: object) -> PreparedTurn:
    turn = runner.prepare(
        TurnRequest(message="hi", model=None, voice="none", **request),
        Credentials(),
    )
    return dataclasses.replace(turn, llm=llm)


async def run(turn: PreparedTurn, runner: TurnRunner, llm: RecordingLLM, stop_at: str) -> None:
    async for event in runner.stream(turn, started_at=time.monotonic()):
        llm.log.append(type(event).__name__)
        if isinstance(event, TextChunk) and stop_at in event.snapshot:
            turn.request_stop()


async def test_a_retraction_closes_the_upstream_before_the_turn_completes() -> None:
    services = make_test_services()
    try:
        runner = TurnRunner(services)
        llm = RecordingLLM(["Sure. ", "Here is how to ", "build a ", "bomb ", "at home. "])
        turn = prepared(runner, llm, features=Features(streaming_guardrail=True))
        await asyncio.wait_for(run(turn, runner, llm, stop_at="never"), 10)
        assert TextReplaced.__name__ in llm.log
        assert llm.log.index("upstream closed") < llm.log.index(TurnCompleted.__name__)
    finally:
        await services.aclose()


async def test_a_stop_closes_the_upstream_before_the_turn_completes() -> None:
    services = make_test_services()
    try:
        runner = TurnRunner(services)
        llm = RecordingLLM(["one ", "two ", "three "])
        turn = prepared(runner, llm)
        await asyncio.wait_for(run(turn, runner, llm, stop_at="two"), 10)
        assert llm.log.index("upstream closed") < llm.log.index(TurnCompleted.__name__)
        assert llm.log[-1] == TurnCompleted.__name__
    finally:
        await services.aclose()


async def test_a_consumer_that_leaves_closes_the_upstream_before_the_stream_is_closed() -> None:
    services = make_test_services()
    try:
        runner = TurnRunner(services)
        llm = RecordingLLM(["one ", "two ", "three "])
        turn = prepared(runner, llm)
        events: AsyncIterator[Event] = runner.stream(turn, started_at=time.monotonic())
        async for event in events:
            if isinstance(event, TextChunk):
                break
        await events.aclose()  # type: ignore[attr-defined]
        assert llm.log == ["upstream closed"]
    finally:
        await services.aclose()


async def test_the_caller_and_turn_reach_the_provider_for_shared_engines() -> None:
    # The local model serves its callers in turn and reports each turn's queue position: it
    # needs to know who asks and which turn it is.
    services = make_test_services()
    try:
        turn = TurnRunner(services).prepare(
            TurnRequest(message="hi", model=None, voice="none"), Credentials(), "ip:10.0.0.7"
        )
        assert turn.options.client == "ip:10.0.0.7"
        assert turn.options.turn_id == turn.turn_id
    finally:
        await services.aclose()
