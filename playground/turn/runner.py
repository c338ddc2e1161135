"""The turn runner: one request in, one ordered stream of ``events`` out.

``prepare`` validates everything that can be checked before a stream starts (model, prompt,
voice, sizes) and raises ``ConfigError`` naming the field. ``stream`` then runs the node on one
task and the voice on another, merging both into a single event stream through a queue, so audio
events interleave with text as soon as they exist. Closing the stream (Stop, disconnect) cancels
both tasks, which closes the upstream LLM and TTS connections at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from playground.agent.nodes import (
    CompletedToolCall,
    ExitTaken,
    NodeOutput,
    ToolOutcome,
    exit_tool_schema,
    run_agent_node,
    run_prompt_node,
)
from playground.agent.tools import tool_schemas
from playground.catalog import CatalogEntry, Credentials
from playground.checks.reply_checks import ReplyChecks
from playground.checks.streaming_guardrail import StreamingGuardrail
from playground.checks.structured import PartialJSON, PartialJSONState
from playground.errors import ConfigError, ErrorCategory, PlaygroundError
from playground.prompts.library import PromptFile
from playground.providers.base import (
    ChatMessage,
    ContentDelta,
    GenerationOptions,
    LLMProvider,
    SpeechSession,
    StreamEnd,
)
from playground.services import Services
from playground.speech.pipeline import SpeechFailure, SpeechPiece, SpeechStage
from playground.speech.wav import pcm_duration_ms, pcm_to_wav
from playground.turn.capabilities import Conditions, disabled_features
from playground.turn.events import (
    AudioReady,
    DisabledFeature,
    Event,
    StructuredOutput,
    TextChunk,
    TextReplaced,
    ToolCallDone,
    ToolResult,
    TurnCompleted,
    TurnFailed,
    TurnStarted,
)
from playground.turn.request import TurnRequest
from playground.turn.timing import TimingRecorder

__all__ = ["PreparedTurn", "TurnRunner"]


@dataclass(frozen=True)
class PreparedTurn:
    turn_id: str
    request: TurnRequest
    model: CatalogEntry
    llm: LLMProvider
    prompt: PromptFile
    node: str
    messages: list[ChatMessage]
    options: GenerationOptions
    voice: CatalogEntry | None
    speech: SpeechSession | None
    disabled: tuple[DisabledFeature, ...]
    voice_key: str | None = field(default=None, repr=False)
    checks: ReplyChecks = field(default_factory=ReplyChecks)
    guardrail: StreamingGuardrail | None = None
    stop_signal: asyncio.Event = field(default_factory=asyncio.Event, repr=False, compare=False)

    def request_stop(self) -> None:
        """End the turn early, keeping what was produced (safe from any task on the loop)."""
        self.stop_signal.set()

    def started_event(self) -> TurnStarted:
        return TurnStarted(
            turn_id=self.turn_id,
            model=self.model.id,
            prompt=self.prompt.ref,
            node=self.node,
            streaming=self.request.streaming,
            voice=self.voice.id if self.voice else None,
            disabled_features=self.disabled,
        )


class _Done:
    """Marks the end of one producer task in the merge queue."""


_DONE = _Done()
_STOP = object()
_TEXT_DONE = object()


class TurnRunner:
    def __init__(self, services: Services) -> None:
        self._services = services

    def prepare(self, request: TurnRequest, creds: Credentials) -> PreparedTurn:
        s = self._services.settings
        if len(request.message) > s.playground_max_message_chars:
            raise ConfigError(
                f"message is {len(request.message)} characters; the limit is "
                f"{s.playground_max_message_chars}",
                field="message",
            )
        if len(request.history) > s.playground_max_history_messages:
            raise ConfigError(
                f"history has {len(request.history)} messages; the limit is "
                f"{s.playground_max_history_messages}",
                field="history",
            )
        catalog = self._services.catalog
        model = _with_field("model", lambda: catalog.resolve_model(request.model, creds))
        prompt = _with_field(
            "prompt", lambda: self._services.prompts.resolve(request.prompt, request.node)
        )
        node = request.node or prompt.node
        voice = _with_field("voice", lambda: catalog.resolve_voice(request.voice, creds))
        disabled = disabled_features(
            Conditions(
                streaming=request.streaming,
                prompt_format=prompt.format,
                node=node,
                has_tools=bool(prompt.tools),
                engine=model.engine,
                voice_engine=voice.engine if voice else None,
            )
        )
        disabled += tuple(
            DisabledFeature(option, f"unavailable on this server: {reason}")
            for option, reason in self._services.checks.problems.items()
            if option not in {d.name for d in disabled}
        )
        off = {d.name for d in disabled}
        tools_allowed = node == "agent" and "tool_calling" not in off
        wanted = {name for name, on in request.features.model_dump().items() if on}
        features = wanted - off
        options = GenerationOptions(
            stream=request.streaming,
            temperature=_first(request.temperature, prompt.defaults.temperature),
            max_tokens=_first(request.max_tokens, prompt.defaults.max_tokens),
            seed=_first(request.seed, prompt.defaults.seed),
            tools=(
                tool_schemas(prompt.tools)
                + ((exit_tool_schema(prompt.exit_paths),) if prompt.exit_paths else ())
                if tools_allowed
                else ()
            ),
        )
        messages = [ChatMessage(role="system", content=prompt.render_system(request.variables))]
        messages += [ChatMessage(role=m.role, content=m.content) for m in request.history]
        messages.append(ChatMessage(role="user", content=request.message))
        llm = _with_field("model", lambda: self._services.engines.llm_for(model, creds))
        speech = (
            _with_field(
                "voice",
                lambda: self._services.engines.tts_for(voice, creds).open_session(voice.name),
            )
            if voice
            else None
        )
        return PreparedTurn(
            turn_id=f"turn_{uuid.uuid4().hex[:16]}",
            request=request,
            model=model,
            llm=llm,
            prompt=prompt,
            node=node,
            messages=messages,
            options=options,
            voice=voice,
            speech=speech,
            disabled=disabled,
            voice_key=creds.key_for(voice.engine) if voice else None,
            checks=self._services.checks.reply_checks(
                features, prompt.output_schema, self._services.engines.moderation_for(creds)
            ),
            guardrail=self._services.checks.streaming_guardrail(features),
        )

    async def stream(self, turn: PreparedTurn, *, started_at: float) -> AsyncIterator[Event]:
        """Run a prepared turn. ``started_at`` is ``time.monotonic()`` when the request arrived.

        ``turn.request_stop()`` ends it early but cleanly: the upstreams are closed and a
        ``TurnCompleted`` with ``finish_reason="stopped"`` keeps the partial text and timing.
        """
        queue: asyncio.Queue[Any] = asyncio.Queue()
        speech = SpeechStage(turn.speech, queue.put) if turn.speech is not None else None
        assembler = _Assembler(turn, TimingRecorder(started_at), self._services, speech)
        text_task = asyncio.create_task(self._produce_text(turn, queue))
        tasks = [text_task]
        if speech is not None:
            tasks.append(asyncio.create_task(self._produce_speech(speech, queue)))
        watcher = asyncio.create_task(_signal_stop(turn.stop_signal, queue))
        completed = False
        try:
            yield turn.started_event()
            running = len(tasks)
            stopped = False
            while running:
                item = await queue.get()
                if item is _DONE:
                    running -= 1
                elif item is _STOP:
                    stopped = True
                    await _halt(speech, tasks)
                    break
                elif item is _TEXT_DONE:
                    for event in await assembler.text_finished():
                        yield event
                else:
                    for event in assembler.handle(item):
                        yield event
                    if assembler.retracted and not text_task.done():
                        # The streaming guardrail fired: stop generating and stop speaking.
                        if speech is not None:
                            await _quietly(speech.interrupt())
                        text_task.cancel()
            yield assembler.completed(stopped=stopped)
            completed = True
        finally:
            watcher.cancel()
            if not completed:
                await _halt(speech, tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(watcher, *tasks, return_exceptions=True)

    async def _produce_text(self, turn: PreparedTurn, queue: asyncio.Queue[Any]) -> None:
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
            queue.put_nowait(_TEXT_DONE)
            queue.put_nowait(_DONE)

    async def _produce_speech(self, speech: SpeechStage, queue: asyncio.Queue[Any]) -> None:
        try:
            await speech.run()
        finally:
            queue.put_nowait(_DONE)


class _Assembler:
    """Turns producer output (node outputs, speech results, errors) into turn events."""

    def __init__(
        self,
        turn: PreparedTurn,
        timing: TimingRecorder,
        services: Services,
        speech: SpeechStage | None,
    ) -> None:
        self._turn = turn
        self._timing = timing
        self._services = services
        self._speech = speech
        self._snapshot: list[str] = []
        self._held: list[str] = []
        self._end: StreamEnd | None = None
        self._failed = False
        self._audio_seq = 0
        self._exit: ExitTaken | None = None
        self._details: dict[str, Any] = {}
        self._structured = (
            PartialJSON(turn.prompt.output_schema) if turn.prompt.output_schema else None
        )
        self._last_structured: StructuredOutput | None = None
        self.retracted = False

    def handle(self, item: Any) -> list[Event]:
        timing = self._timing
        if isinstance(item, ContentDelta):
            if self.retracted:
                return []
            if self._turn.checks.holds:
                self._held.append(item.text)  # delivered by text_finished, after the checks
                return []
            return self._deliver(item.text, item.at)
        if isinstance(item, CompletedToolCall):
            at_ms = timing.ms_since_start(item.at)
            return [
                ToolCallDone(
                    item.call_id, item.name, item.arguments, at_ms, item.raw_arguments, item.error
                )
            ]
        if isinstance(item, ToolOutcome):
            took_ms = round((item.ended_at - item.started_at) * 1000, 3)
            at_ms = timing.ms_since_start(item.ended_at)
            return [ToolResult(item.call_id, item.name, item.output, at_ms, took_ms, item.is_error)]
        if isinstance(item, StreamEnd):
            self._end = item
            return []
        if isinstance(item, ExitTaken):
            self._exit = item
            return []
        if isinstance(item, SpeechPiece):
            return [self._audio(item)]
        if isinstance(item, SpeechFailure):
            if item.error.category is ErrorCategory.AUTH and self._turn.voice_key:
                # Remember it, so the voice list says so instead of failing again.
                self._services.engines.voice_keys.note(self._turn.voice_key, item.error.message)
            return [_failure(item.error, stage="tts")]
        if isinstance(item, PlaygroundError):
            self._failed = True
            return [_failure(item, stage="llm")]
        raise TypeError(f"unexpected producer item {item!r}")

    def _deliver(self, text: str, at: float) -> list[Event]:
        """Show a piece of text: chunk event, speech, live JSON state, streaming guardrail."""
        self._snapshot.append(text)
        stamp = self._timing.stamp_text(at, text)
        snapshot = "".join(self._snapshot)
        events: list[Event] = [TextChunk(text, snapshot, stamp.seq, stamp.t_ms, stamp.gap_ms)]
        if self._speech is not None:
            self._speech.push_text(text)
        if self._structured is not None:
            events += self._structured_event(self._structured.feed(text), final=False)
        guardrail = self._turn.guardrail
        if guardrail is not None and (verdict := guardrail.feed(text)) is not None:
            replacement = verdict.text_for(guardrail.text)
            self._snapshot = [replacement]
            self.retracted = True
            self._details["streaming_guardrail"] = {
                "flagged": True,
                "checks": guardrail.checks,
                "rule": verdict.rule,
                "category": verdict.category,
                "action": verdict.action,
                "reason": verdict.reason,
            }
            events.append(TextReplaced(replacement, verdict.reason))
        return events

    def _structured_event(self, state: PartialJSONState, *, final: bool) -> list[Event]:
        event = StructuredOutput(state.value, state.complete, state.errors, state.pending, final)
        if event == self._last_structured:
            return []
        self._last_structured = event
        return [event]

    async def text_finished(self) -> list[Event]:
        """The node is done: release held text through the checks, then close speech."""
        events: list[Event] = []
        if self._held:
            review = await self._turn.checks.review("".join(self._held))
            self._held.clear()
            self._details.update(review.details)
            events += self._deliver(review.text, time.monotonic())
            if review.problem is not None:
                events.append(TurnFailed("schema", review.problem, retryable=True, stage="post"))
        if self._structured is not None and not self.retracted:
            events += self._structured_event(self._structured.finish(), final=True)
        if self._speech is not None:
            self._speech.finish()
        return events

    def _audio(self, piece: SpeechPiece) -> AudioReady:
        audio = piece.audio
        duration = pcm_duration_ms(audio.pcm, audio.sample_rate)
        synth_ms = (piece.done_at - piece.ready_at) * 1000
        stamp = self._timing.stamp_audio(piece.done_at, synth_ms, duration)
        event = AudioReady(
            self._audio_seq,
            audio.sample_rate,
            pcm_to_wav(audio.pcm, audio.sample_rate),
            audio.text,
            stamp.t_ms,
            stamp.synth_ms,
            stamp.duration_ms,
        )
        self._audio_seq += 1
        return event

    def completed(self, *, stopped: bool) -> TurnCompleted:
        end = self._end
        if stopped:
            reason = "stopped"
        elif self.retracted:
            reason = "content_filter"
        elif self._failed:
            reason = "error"
        else:
            reason = end.finish_reason if end else "stop"
        usage = end.usage if end else None
        guardrail = self._turn.guardrail
        if guardrail is not None and not self.retracted:
            self._details["streaming_guardrail"] = {"flagged": False, "checks": guardrail.checks}
        return TurnCompleted(
            text="".join(self._snapshot),
            finish_reason=reason,
            usage=usage,
            timing=self._timing.summary(time.monotonic(), usage),
            exit_path=self._exit.path if self._exit else None,
            details={**self._details, **({"exit_fields": self._exit.fields} if self._exit else {})},
        )


async def _signal_stop(signal: asyncio.Event, queue: asyncio.Queue[Any]) -> None:
    await signal.wait()
    queue.put_nowait(_STOP)


async def _halt(speech: SpeechStage | None, tasks: list[asyncio.Task[None]]) -> None:
    """Stop everything now: clear the voice first (so Deepgram hears Clear on the open socket
    and no audio of this turn plays later), then cancel the producers, closing the upstreams."""
    if speech is not None:
        await _quietly(speech.interrupt())
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _failure(error: PlaygroundError, *, stage: str) -> TurnFailed:
    return TurnFailed(
        code=error.category.value, message=error.message, retryable=error.retryable, stage=stage
    )


async def _quietly(awaitable: Any) -> None:
    # Best effort during teardown: the turn is over whatever the voice says.
    with contextlib.suppress(Exception):
        await asyncio.wait_for(awaitable, timeout=2.0)


def _with_field(field: str, build: Any) -> Any:
    try:
        return build()
    except ConfigError as exc:
        if exc.field is None:
            exc.field = field
        raise


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)
