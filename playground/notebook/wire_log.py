"""A run's event log as the notebook stores it: each event in the public wire form
(``{"event": "completion-continue", "data": {...}}``), validated on the way in.

The data of each event must hold what the wire form promises (more keys are allowed: the wire
form may grow, and notebooks recorded by earlier versions must still load). A problem inside
``data`` is reported with its path, so an import error can name the offending field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal, TypeAlias

from pydantic import (
    BaseModel,
    ConfigDict,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from playground.turn.events import (
    AudioReady,
    Event,
    ReasoningChunk,
    StructuredOutput,
    TextChunk,
    TextReplaced,
    ToolCallDone,
    ToolResult,
    TurnCompleted,
    TurnFailed,
    TurnStarted,
)
from playground.turn.wire import event_payload

__all__ = ["EventLike", "EventName", "NestedError", "WireEvent", "dotted", "to_wire_event"]

EventName = Literal[
    "completion-start",
    "completion-continue",
    "reasoning",
    "tool-call",
    "tool-result",
    "audio",
    "structured-output",
    "completion-replace",
    "error",
    "completion-end",
    "end",
]

Number = StrictInt | StrictFloat


# -- what each event's data must hold (more keys are allowed: the wire form may grow) --------


class _Data(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class _DisabledData(_Data):
    name: StrictStr
    reason: StrictStr
    alternative: StrictStr | None = None


class _StartData(_Data):
    turn_id: StrictStr
    model: StrictStr
    prompt: StrictStr
    node: StrictStr
    streaming: StrictBool
    voice: StrictStr | None
    disabled_features: list[_DisabledData] = []


class _ContinueData(_Data):
    text: StrictStr
    seq: StrictInt
    t_ms: Number
    gap_ms: Number


class _ReasoningData(_Data):
    text: StrictStr
    seq: StrictInt
    t_ms: Number


class _ToolCallData(_Data):
    call_id: StrictStr
    name: StrictStr
    arguments: dict[str, Any]
    t_ms: Number


class _ToolResultData(_Data):
    call_id: StrictStr
    name: StrictStr
    output: StrictStr
    t_ms: Number
    duration_ms: Number
    is_error: StrictBool = False


class _AudioData(_Data):
    seq: StrictInt
    format: StrictStr
    sample_rate: StrictInt
    data: StrictStr | None = None  # absent when the export left the audio out
    text: StrictStr
    t_ms: Number


class _StructuredData(_Data):
    complete: StrictBool
    valid: StrictBool
    errors: list[StrictStr]
    pending: list[StrictStr]
    final: StrictBool = False


class _ReplaceData(_Data):
    text: StrictStr
    reason: StrictStr


class _ErrorData(_Data):
    code: StrictStr
    message: StrictStr
    retryable: StrictBool
    stage: StrictStr


class _TimingData(_Data):
    ttft_ms: Number | None
    ttfa_ms: Number | None
    chunks: StrictInt
    total_ms: Number


class _EndData(_Data):
    text: StrictStr
    finish_reason: StrictStr
    usage: dict[str, Any] | None
    timing: _TimingData


_DATA_SCHEMAS: Final[dict[str, type[_Data]]] = {
    "completion-start": _StartData,
    "completion-continue": _ContinueData,
    "reasoning": _ReasoningData,
    "tool-call": _ToolCallData,
    "tool-result": _ToolResultData,
    "audio": _AudioData,
    "structured-output": _StructuredData,
    "completion-replace": _ReplaceData,
    "error": _ErrorData,
    "completion-end": _EndData,
    "end": _Data,
}


class NestedError(ValueError):
    """A validation error inside ``data``, carrying where, so the import error can name it."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(f"{dotted(loc)}: {message}")
        self.loc = loc
        self.detail = message


def dotted(loc: Iterable[str | int]) -> str:
    return ".".join(str(part) for part in loc)


# -- the log ---------------------------------------------------------------------------------


class WireEvent(BaseModel):
    """One event of a run exactly as the streaming API sends it: SSE event name and JSON data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event: EventName
    data: dict[str, Any]

    @model_validator(mode="after")
    def _data_matches_event(self) -> WireEvent:
        try:
            _DATA_SCHEMAS[self.event].model_validate(self.data)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise NestedError(("data", *first["loc"]), first["msg"]) from None
        return self


EventLike: TypeAlias = Event | WireEvent | tuple[str, Mapping[str, Any]] | Mapping[str, Any]
"""A turn event (``playground.turn.events``), a ``WireEvent``, an SSE ``(name, data)`` pair, or a
``{"event": name, "data": {...}}`` mapping."""

_EVENT_TYPES: Final = (
    TurnStarted,
    TextChunk,
    ReasoningChunk,
    ToolCallDone,
    ToolResult,
    AudioReady,
    TextReplaced,
    StructuredOutput,
    TurnFailed,
    TurnCompleted,
)


def to_wire_event(event: EventLike) -> WireEvent:
    """``event`` in the stored form, validated."""
    if isinstance(event, WireEvent):
        return event
    if isinstance(event, _EVENT_TYPES):
        name, data = event_payload(event)
        return WireEvent.model_validate({"event": name, "data": data})
    if isinstance(event, tuple):
        return WireEvent.model_validate({"event": event[0], "data": dict(event[1])})
    return WireEvent.model_validate(dict(event))
