"""Assembling a turn's events from what its producers report.

The node task reports node outputs (text deltas, tool calls and results, the stream's end, an
agent exit) and errors; the voice task reports spoken pieces and failures. ``Assembler`` turns
each into turn events, stamps them with the turn's timing, holds the reply back when whole-reply
checks are on, runs the streaming guardrail and builds the final ``TurnCompleted``.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import cast

from playground.agent.nodes import (
    CompletedToolCall,
    ExitTaken,
    NodeOutput,
    ToolOutcome,
)
from playground.checks.reports import ReviewDetails, StreamingGuardrailReport
from playground.checks.structured import PartialJSON, PartialJSONState
from playground.errors import CheckError, ErrorCategory, PlaygroundError
from playground.providers.base import ContentDelta, ReasoningDelta, StreamEnd
from playground.services import Services
from playground.speech.leading_silence import leading_silence_ms
from playground.speech.pipeline import SpeechFailure, SpeechPiece, SpeechStage
from playground.speech.wav import pcm_duration_ms, pcm_to_wav
from playground.turn.events import (
    AudioReady,
    Event,
    FailureStage,
    ReasoningChunk,
    StructuredOutput,
    TextChunk,
    TextReplaced,
    ToolCallDone,
    ToolResult,
    TurnCompleted,
    TurnDetails,
    TurnFailed,
)
from playground.turn.prepare import PreparedTurn
from playground.turn.timing import TimingRecorder

__all__ = ["Assembler", "ProducerItem"]

ProducerItem = NodeOutput | SpeechPiece | SpeechFailure | PlaygroundError
"""What the node and voice tasks report (a ``PlaygroundError`` is the node failing)."""


class Assembler:
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
        self._details = TurnDetails()
        self._structured = (
            PartialJSON(turn.prompt.output_schema) if turn.prompt.output_schema else None
        )
        self._last_structured: StructuredOutput | None = None
        self.retracted = False

    def handle(self, item: ProducerItem) -> list[Event]:
        timing = self._timing
        if isinstance(item, ContentDelta):
            if self.retracted:
                return []
            if self._turn.checks.holds:
                self._held.append(item.text)  # delivered by text_finished, after the checks
                return []
            return self._deliver(item.text, item.at)
        if isinstance(item, ReasoningDelta):
            if self.retracted:
                return []
            # Thinking streams even while the reply is held for checks: it is never the
            # answer, so it goes to no check, no voice and no output parser.
            seq, at_ms = timing.stamp_reasoning(item.at)
            return [ReasoningChunk(item.text, seq, at_ms)]
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
        self._failed = True
        return [_failure(item, stage="llm")]

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
            report = StreamingGuardrailReport(
                flagged=True,
                checks=guardrail.checks,
                rule=verdict.rule,
                category=verdict.category,
                action=verdict.action,
                reason=verdict.reason,
            )
            self._details = replace(self._details, streaming_guardrail=report)
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
            self._details = _with_review(self._details, review.details)
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
            first_byte_ms=(
                self._timing.ms_since_start(audio.first_byte_at) if audio.first_byte_at else None
            ),
            # Measured on the first piece only: it is what the first sound waits for, and
            # later pieces play after the one before them anyway.
            leading_silence_ms=(
                round(leading_silence_ms(audio.pcm, audio.sample_rate), 1)
                if self._audio_seq == 0
                else None
            ),
        )
        self._audio_seq += 1
        return event

    def failed(self, exc: Exception) -> TurnFailed:
        """The turn broke (a check could not run, or a bug): it ends with this error. Held text
        is dropped: a reply that was not checked is never delivered."""
        self._failed = True
        self._held.clear()
        if isinstance(exc, CheckError):
            return _failure(exc, stage=cast(FailureStage, exc.stage))
        if isinstance(exc, PlaygroundError):
            return _failure(exc, stage="internal")
        internal = PlaygroundError(
            f"internal error: {type(exc).__name__} (details are in the server log)"
        )
        return _failure(internal, stage="internal")

    def completed(self, *, stopped: bool, interrupted: bool = False) -> TurnCompleted:
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
        details = self._details
        if guardrail is not None and not self.retracted:
            passed = StreamingGuardrailReport(flagged=False, checks=guardrail.checks)
            details = replace(details, streaming_guardrail=passed)
        if self._exit is not None:
            details = replace(details, exit_fields=self._exit.fields)
        return TurnCompleted(
            text="".join(self._snapshot),
            finish_reason=reason,
            usage=usage,
            timing=self._timing.summary(time.monotonic(), usage),
            exit_path=self._exit.path if self._exit else None,
            details=details,
            cost=self._turn.price.cost(usage) if self._turn.price and usage else None,
            interrupted=stopped and interrupted,
        )


def _with_review(details: TurnDetails, review: ReviewDetails) -> TurnDetails:
    return replace(
        details,
        guardrail=review.guardrail,
        interception=review.interception,
        post_processing=review.post_processing,
        checks_ms=review.checks_ms,
    )


def _failure(error: PlaygroundError, *, stage: FailureStage) -> TurnFailed:
    return TurnFailed(
        code=error.category.value, message=error.message, retryable=error.retryable, stage=stage
    )
