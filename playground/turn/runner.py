"""The turn runner: one request in, one ordered stream of ``events`` out.

``prepare`` validates everything that can be checked before a stream starts (model, prompt,
voice, sizes) and raises ``ConfigError`` naming the field. ``stream`` then runs the node on one
task and the voice on another, merging both into a single event stream through a queue, so audio
events interleave with text as soon as they exist. Closing the stream (Stop, disconnect) cancels
both tasks, which closes the upstream LLM and TTS connections at once.

Preparing lives in ``playground.turn.prepare`` and turning producer output into events in
``playground.turn.assembler``; this module is the merge loop. ``PreparedTurn`` stays importable
from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from dataclasses import dataclass

from playground.agent.nodes import NodeOutput, run_agent_node, run_prompt_node
from playground.catalog import Credentials
from playground.errors import PlaygroundError
from playground.services import Services
from playground.speech.pipeline import SpeechStage
from playground.turn.assembler import Assembler, ProducerItem
from playground.turn.events import Event, TurnFailed
from playground.turn.prepare import PreparedTurn, prepare_turn
from playground.turn.request import TurnRequest
from playground.turn.timing import TimingRecorder

__all__ = ["PreparedTurn", "TurnRunner"]

log = logging.getLogger("playground")


@dataclass(frozen=True, slots=True)
class ProducerDone:
    """One producer task (node or voice) has ended."""


@dataclass(frozen=True, slots=True)
class TextDone:
    """The node has produced all its output (sent before its ``ProducerDone``)."""


@dataclass(frozen=True, slots=True)
class StopRequested:
    """``PreparedTurn.request_stop()`` was called: end the turn now, keeping what exists."""


QueueItem = ProducerItem | ProducerDone | TextDone | StopRequested
"""Everything the merge queue carries: producer output and the loop's own markers."""


class TurnRunner:
    def __init__(self, services: Services) -> None:
        self._services = services

    def prepare(self, request: TurnRequest, creds: Credentials, client: str = "") -> PreparedTurn:
        """Validate ``request`` and resolve it (``ConfigError`` names the wrong field);
        ``client`` is who asks, for the engines that share themselves between clients."""
        return prepare_turn(self._services, request, creds, client)

    async def stream(self, turn: PreparedTurn, *, started_at: float) -> AsyncGenerator[Event, None]:
        """Run a prepared turn. ``started_at`` is ``time.monotonic()`` when the request arrived.

        ``turn.request_stop()`` ends it early but cleanly: the upstreams are closed and a
        ``TurnCompleted`` with ``finish_reason="stopped"`` keeps the partial text and timing.
        """
        queue: asyncio.Queue[QueueItem] = asyncio.Queue()
        speech = SpeechStage(turn.speech, queue.put) if turn.speech is not None else None
        assembler = Assembler(turn, TimingRecorder(started_at), self._services, speech)
        text_task = asyncio.create_task(self._produce_text(turn, queue))
        tasks = [text_task]
        if speech is not None:
            tasks.append(asyncio.create_task(self._produce_speech(speech, queue)))
        watcher = asyncio.create_task(_signal_stop(turn.stop_signal, queue))
        completed = False
        stopped = False
        try:
            yield turn.started_event()
            try:
                running = len(tasks)
                while running:
                    item = await queue.get()
                    if isinstance(item, ProducerDone):
                        running -= 1
                    elif isinstance(item, StopRequested):
                        stopped = True
                        await _halt(speech, tasks)
                        break
                    elif isinstance(item, TextDone):
                        for event in await assembler.text_finished():
                            yield _logged(turn, event)
                    else:
                        for event in assembler.handle(item):
                            yield _logged(turn, event)
                        if assembler.retracted and not text_task.done():
                            # The streaming guardrail fired: stop generating and stop speaking.
                            if speech is not None:
                                await _quietly(speech.interrupt())
                            text_task.cancel()
            except Exception as exc:  # noqa: BLE001 - the mechanism: a turn never dies silently
                # Whatever broke (a check that could not run, a bug), the producers stop (their
                # upstreams close) and the turn ends with the error, then completion-end.
                await _halt(speech, tasks)
                yield _logged(turn, assembler.failed(exc), exc)
            yield assembler.completed(stopped=stopped, interrupted=turn.spoken_over.is_set())
            completed = True
        finally:
            watcher.cancel()
            if not completed:
                await _halt(speech, tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(watcher, *tasks, return_exceptions=True)

    async def _produce_text(self, turn: PreparedTurn, queue: asyncio.Queue[QueueItem]) -> None:
        try:
            outputs: AsyncIterator[NodeOutput]
            if turn.node == "agent" and turn.options.tools:
                outputs = run_agent_node(
                    turn.llm,
                    turn.model.name,
                    turn.messages,
                    turn.options,
                    exit_paths=turn.prompt.exit_paths,
                )
            else:
                outputs = run_prompt_node(turn.llm, turn.model.name, turn.messages, turn.options)
            async for output in outputs:
                queue.put_nowait(output)
        except PlaygroundError as exc:
            queue.put_nowait(exc)
        except Exception as exc:  # noqa: BLE001 - report, never crash the server
            queue.put_nowait(PlaygroundError(f"internal error: {type(exc).__name__}: {exc}"))
        finally:
            queue.put_nowait(TextDone())
            queue.put_nowait(ProducerDone())

    async def _produce_speech(self, speech: SpeechStage, queue: asyncio.Queue[QueueItem]) -> None:
        try:
            await speech.run()
        finally:
            queue.put_nowait(ProducerDone())


def _logged(turn: PreparedTurn, event: Event, cause: Exception | None = None) -> Event:
    """Every failure inside a turn is logged here, once, as it is reported (with the traceback
    when it was a bug). Messages never carry keys: providers scrub them at the boundary."""
    if isinstance(event, TurnFailed):
        log.warning(
            "turn %s failed at stage %s (%s): %s",
            turn.turn_id,
            event.stage,
            event.code,
            event.message,
            exc_info=cause if event.stage == "internal" else None,
        )
    return event


async def _signal_stop(signal: asyncio.Event, queue: asyncio.Queue[QueueItem]) -> None:
    await signal.wait()
    queue.put_nowait(StopRequested())


async def _halt(speech: SpeechStage | None, tasks: list[asyncio.Task[None]]) -> None:
    """Stop everything now: clear the voice first (so Deepgram hears Clear on the open socket
    and no audio of this turn plays later), then cancel the producers, closing the upstreams."""
    if speech is not None:
        await _quietly(speech.interrupt())
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _quietly(awaitable: Awaitable[object]) -> None:
    # Best effort during teardown: the turn is over whatever the voice says.
    with contextlib.suppress(Exception):
        await asyncio.wait_for(awaitable, timeout=2.0)
