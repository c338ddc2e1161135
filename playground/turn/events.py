"""One event vocabulary for a turn, shared by the UI, the HTTP API, the timing recorder and tests.

A turn is an async stream of these frozen values: ``TurnStarted`` first, then any mix of
``TextChunk``, ``ReasoningChunk``, ``ToolCallDone``, ``ToolResult``, ``AudioReady``,
``TextReplaced`` and ``TurnFailed``, then ``TurnCompleted`` when the answer finished (or was
stopped). Renderers never re-accumulate: ``TextChunk.snapshot`` carries the text so far.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from playground.checks.reports import (
    GuardrailReport,
    InterceptionReport,
    ModerationEngine,
    PostProcessingReport,
    StreamingGuardrailReport,
)
from playground.pricing.table import Cost
from playground.providers.base import Usage

__all__ = [
    "AudioReady",
    "StructuredOutput",
    "DisabledFeature",
    "Event",
    "FailureStage",
    "GuardrailReport",
    "InterceptionReport",
    "ModerationEngine",
    "NodeKind",
    "PostProcessingReport",
    "ReasoningChunk",
    "StreamingGuardrailReport",
    "TextChunk",
    "TextReplaced",
    "TimingSummary",
    "ToolCallDone",
    "ToolResult",
    "TurnCompleted",
    "TurnDetails",
    "TurnFailed",
    "TurnStarted",
]


NodeKind = Literal["prompt", "agent"]
"""The node that ran the turn: one model call, or the tool-calling agent loop."""

FailureStage = Literal[
    "llm", "tts", "tool", "request", "post", "moderation", "interception", "internal", "replica"
]
"""Where a turn failed, as ``TurnFailed.stage`` and the ``error`` event's ``stage`` carry it:

- ``llm``: the model call (or the node around it) failed;
- ``tts``: the voice failed; the text answer goes on without it;
- ``tool``: a tool call failed in a way that ended the turn;
- ``request``: the request was refused before anything streamed (the page's own errors);
- ``post``: a whole-reply check (post-processing's output schema) rejected the finished reply;
- ``moderation``: the guardrail could not check the finished reply (its service failed), so the
  reply was withheld;
- ``interception``: message interception failed (a hook broke it), so the reply was withheld;
- ``internal``: anything else that went wrong inside the turn (a bug: the detail is logged).
"""


@dataclass(frozen=True, slots=True)
class DisabledFeature:
    name: str
    reason: str
    alternative: str | None = None


@dataclass(frozen=True, slots=True)
class TurnStarted:
    turn_id: str
    model: str
    prompt: str  # id@version
    node: NodeKind
    streaming: bool
    voice: str | None
    disabled_features: tuple[DisabledFeature, ...] = ()


@dataclass(frozen=True, slots=True)
class TextChunk:
    """One piece of answer text, stamped where it left the provider."""

    text: str
    snapshot: str
    seq: int
    t_ms: float  # since the request arrived
    gap_ms: float  # since the previous chunk (or the request, for the first)


@dataclass(frozen=True, slots=True)
class ReasoningChunk:
    """One piece of a reasoning model's thinking: shown apart, never spoken, never part of the
    answer (``TextChunk.snapshot`` does not include it)."""

    text: str
    seq: int
    t_ms: float  # since the request arrived


@dataclass(frozen=True, slots=True)
class ToolCallDone:
    """A complete tool call: fragments are buffered until the call is whole."""

    call_id: str
    name: str
    arguments: dict[str, Any]
    t_ms: float
    raw_arguments: str = ""
    error: str | None = None  # set when the model sent arguments that are not a JSON object


@dataclass(frozen=True, slots=True)
class ToolResult:
    call_id: str
    name: str
    output: str
    t_ms: float
    duration_ms: float
    is_error: bool = False


@dataclass(frozen=True, slots=True)
class AudioReady:
    """One synthesised piece of speech (a sentence, or a few when batched)."""

    seq: int
    sample_rate: int
    wav: bytes
    text: str
    t_ms: float
    synth_ms: float  # from the sentence being ready to its audio being ready
    duration_ms: float
    first_byte_ms: float | None = None  # the voice's first byte, since the request
    # Silence before the first audible sample: playing starts, sound comes this much later.
    # Measured on a turn's first piece (what the first sound waits for); None on the others.
    leading_silence_ms: float | None = None


@dataclass(frozen=True, slots=True)
class TextReplaced:
    text: str
    reason: str


@dataclass(frozen=True, slots=True)
class StructuredOutput:
    """The answer's JSON as far as it has arrived, checked against the prompt's output schema.

    ``pending`` lists what more text could still satisfy (a required field not yet written);
    ``errors`` are definite. ``final`` is set once, when the whole answer has been validated.
    """

    value: Any
    complete: bool
    errors: tuple[str, ...]
    pending: tuple[str, ...]
    final: bool = False

    @property
    def valid(self) -> bool:
        return self.complete and not self.errors and not self.pending


@dataclass(frozen=True, slots=True)
class TurnFailed:
    code: str
    message: str
    retryable: bool
    stage: FailureStage = "llm"


@dataclass(frozen=True, slots=True)
class TimingSummary:
    ttft_ms: float | None
    ttfa_ms: float | None
    chunks: int
    total_ms: float
    characters: int
    chars_per_s: float | None
    tokens_per_s: float | None
    audio_pieces: int = 0
    audio_ms: float = 0.0
    # ``ttft_ms`` is the first token of any kind; with a reasoning model the first *answer*
    # token (``ttfat_ms``) comes after ``reasoning_ms`` of thinking. Without thinking the two
    # are equal and ``reasoning_ms`` is None.
    ttfat_ms: float | None = None
    reasoning_ms: float | None = None


@dataclass(frozen=True, slots=True)
class TurnDetails:
    """What the whole-reply checks, the streaming guardrail and an agent exit reported.

    Every field is optional: a turn only reports what ran. ``playground.turn.wire`` writes the
    present ones into ``completion-end`` in a fixed order (the order the runner produced them).
    """

    guardrail: GuardrailReport | None = None
    interception: InterceptionReport | None = None
    post_processing: PostProcessingReport | None = None
    checks_ms: float | None = None
    streaming_guardrail: StreamingGuardrailReport | None = None
    exit_fields: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class TurnCompleted:
    text: str
    finish_reason: str  # stop | length | tool_calls | content_filter | stopped | error | ...
    usage: Usage | None
    timing: TimingSummary
    exit_path: str | None = None
    details: TurnDetails = field(default_factory=TurnDetails)
    cost: Cost | None = None  # None: the model's price is unknown
    interrupted: bool = False  # stopped because the user spoke over the answer (a barge-in)

    @classmethod
    def cut_short(cls, text: str, total_ms: float = 0.0) -> TurnCompleted:
        """The end of a turn that broke outside the runner (a bug in a surface, a replica that
        died): the text the client had, no usage, no timing beyond its length."""
        timing = TimingSummary(
            ttft_ms=None,
            ttfa_ms=None,
            chunks=0,
            total_ms=round(total_ms, 1),
            characters=len(text),
            chars_per_s=None,
            tokens_per_s=None,
        )
        return cls(text=text, finish_reason="error", usage=None, timing=timing)


Event = (
    TurnStarted
    | TextChunk
    | ReasoningChunk
    | ToolCallDone
    | ToolResult
    | AudioReady
    | TextReplaced
    | StructuredOutput
    | TurnFailed
    | TurnCompleted
)
