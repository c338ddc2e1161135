"""Turn events <-> their public wire form (SSE event name + JSON data, DESIGN.md's table).

``event_payload`` writes one event as the HTTP API sends it; ``events_from_wire`` reads a
recorded log back into events (the notebook keeps runs in the wire form). The two are inverse
for every field the wire carries. What the wire does not carry comes back as a neutral value:
``TextChunk.snapshot`` is rebuilt by accumulating the text (as the runner builds it), the audio
of an export that left it out is ``b""``, and a ``ToolCallDone``'s ``raw_arguments`` is only
sent with its ``error``.

The ``completion-end`` key order is part of the contract (tests/test_wire_golden.py pins it):
the base keys, then the present ``TurnDetails`` in the order the runner produces them.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import Any, Final, cast

from playground.pricing.table import Cost
from playground.providers.base import Usage
from playground.turn.events import (
    AudioReady,
    DisabledFeature,
    Event,
    FailureStage,
    GuardrailReport,
    InterceptionReport,
    ModerationEngine,
    NodeKind,
    PostProcessingReport,
    ReasoningChunk,
    StreamingGuardrailReport,
    StructuredOutput,
    TextChunk,
    TextReplaced,
    TimingSummary,
    ToolCallDone,
    ToolResult,
    TurnCompleted,
    TurnDetails,
    TurnFailed,
    TurnStarted,
)

__all__ = [
    "END_EVENT",
    "details_from_payload",
    "details_payload",
    "event_from_payload",
    "event_payload",
    "events_from_wire",
]

END_EVENT: Final = "end"
"""The stream's closing frame: carries no turn event, so reading it back yields nothing."""


# -- events -> wire -----------------------------------------------------------------------------


def event_payload(event: Event) -> tuple[str, dict[str, Any]]:
    """The SSE event name and JSON data for one turn event."""
    match event:
        case TurnStarted():
            return "completion-start", _started_payload(event)
        case TextChunk():
            return "completion-continue", {
                "text": event.text,
                "seq": event.seq,
                "t_ms": event.t_ms,
                "gap_ms": event.gap_ms,
            }
        case ReasoningChunk():
            return "reasoning", {"text": event.text, "seq": event.seq, "t_ms": event.t_ms}
        case ToolCallDone():
            data: dict[str, Any] = {
                "call_id": event.call_id,
                "name": event.name,
                "arguments": event.arguments,
                "t_ms": event.t_ms,
            }
            if event.error:
                data["error"] = event.error
                data["raw_arguments"] = event.raw_arguments
            return "tool-call", data
        case ToolResult():
            return "tool-result", {
                "call_id": event.call_id,
                "name": event.name,
                "output": event.output,
                "t_ms": event.t_ms,
                "duration_ms": event.duration_ms,
                "is_error": event.is_error,
            }
        case AudioReady():
            return "audio", _audio_payload(event)
        case TurnCompleted():
            return "completion-end", {
                "text": event.text,
                "finish_reason": event.finish_reason,
                "usage": asdict(event.usage) if event.usage is not None else None,
                "timing": asdict(event.timing),
                "cost": asdict(event.cost) if event.cost is not None else None,
                "exit_path": event.exit_path,
                **details_payload(event.details),
                # Only when true: the field is an addition clients may not know.
                **({"interrupted": True} if event.interrupted else {}),
            }
        case StructuredOutput():
            return "structured-output", {
                "value": event.value,
                "complete": event.complete,
                "valid": event.valid,
                "errors": list(event.errors),
                "pending": list(event.pending),
                "final": event.final,
            }
        case TextReplaced():
            return "completion-replace", {"text": event.text, "reason": event.reason}
        case TurnFailed():
            return "error", {
                "code": event.code,
                "message": event.message,
                "retryable": event.retryable,
                "stage": event.stage,
            }
    raise TypeError(f"not a turn event: {event!r}")


def _started_payload(event: TurnStarted) -> dict[str, Any]:
    return {
        "turn_id": event.turn_id,
        "model": event.model,
        "prompt": event.prompt,
        "node": event.node,
        "streaming": event.streaming,
        "voice": event.voice,
        "disabled_features": [
            {"name": d.name, "reason": d.reason, "alternative": d.alternative}
            for d in event.disabled_features
        ],
    }


def _audio_payload(event: AudioReady) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "format": "wav",
        "sample_rate": event.sample_rate,
        "data": base64.b64encode(event.wav).decode("ascii"),
        "text": event.text,
        "t_ms": event.t_ms,
        "synth_ms": event.synth_ms,
        "duration_ms": event.duration_ms,
        "first_byte_ms": event.first_byte_ms,
        "leading_silence_ms": event.leading_silence_ms,
    }


def details_payload(details: TurnDetails) -> dict[str, Any]:
    """The present details as ``completion-end`` keys, in their wire order."""
    data: dict[str, Any] = {}
    if (guardrail := details.guardrail) is not None:
        data["guardrail"] = {
            "engine": guardrail.engine,
            "flagged": guardrail.flagged,
            "action": guardrail.action,
            "rule": guardrail.rule,
            "category": guardrail.category,
            "reason": guardrail.reason,
        }
    if (interception := details.interception) is not None:
        data["interception"] = {
            "action": interception.action,
            "changes": list(interception.changes),
        }
    if (post := details.post_processing) is not None:
        data["post_processing"] = {"valid": post.valid, "errors": list(post.errors)}
    if details.checks_ms is not None:
        data["checks_ms"] = details.checks_ms
    if (streaming := details.streaming_guardrail) is not None:
        report: dict[str, Any] = {"flagged": streaming.flagged, "checks": streaming.checks}
        if streaming.flagged:
            report |= {
                "rule": streaming.rule,
                "category": streaming.category,
                "action": streaming.action,
                "reason": streaming.reason,
            }
        data["streaming_guardrail"] = report
    if details.exit_fields is not None:
        data["exit_fields"] = dict(details.exit_fields)
    return data


# -- wire -> events -----------------------------------------------------------------------------


def details_from_payload(data: Mapping[str, Any]) -> TurnDetails:
    """The ``TurnDetails`` in ``completion-end`` data (other keys are ignored)."""
    guardrail = data.get("guardrail")
    interception = data.get("interception")
    post = data.get("post_processing")
    streaming = data.get("streaming_guardrail")
    exit_fields = data.get("exit_fields")
    return TurnDetails(
        guardrail=(
            GuardrailReport(
                engine=cast(ModerationEngine, guardrail.get("engine", "local")),
                flagged=bool(guardrail.get("flagged")),
                action=guardrail.get("action"),
                rule=guardrail.get("rule"),
                category=guardrail.get("category"),
                reason=guardrail.get("reason", ""),
            )
            if isinstance(guardrail, Mapping)
            else None
        ),
        interception=(
            InterceptionReport(
                interception.get("action", "pass"), tuple(interception.get("changes", ()))
            )
            if isinstance(interception, Mapping)
            else None
        ),
        post_processing=(
            PostProcessingReport(bool(post.get("valid")), tuple(post.get("errors", ())))
            if isinstance(post, Mapping)
            else None
        ),
        checks_ms=data.get("checks_ms"),
        streaming_guardrail=(
            StreamingGuardrailReport(
                # A verdict without its flag (hand-written details) is one that fired.
                flagged=bool(streaming.get("flagged", streaming.get("action") is not None)),
                checks=int(streaming.get("checks", 0)),
                rule=streaming.get("rule"),
                category=streaming.get("category"),
                action=streaming.get("action"),
                reason=streaming.get("reason"),
            )
            if isinstance(streaming, Mapping)
            else None
        ),
        exit_fields=dict(exit_fields) if isinstance(exit_fields, Mapping) else None,
    )


def _timing(data: Mapping[str, Any]) -> TimingSummary:
    # Runs recorded by earlier versions may lack the later summary fields.
    return TimingSummary(
        ttft_ms=data.get("ttft_ms"),
        ttfa_ms=data.get("ttfa_ms"),
        chunks=data.get("chunks", 0),
        total_ms=data.get("total_ms", 0.0),
        characters=data.get("characters", 0),
        chars_per_s=data.get("chars_per_s"),
        tokens_per_s=data.get("tokens_per_s"),
        audio_pieces=data.get("audio_pieces", 0),
        audio_ms=data.get("audio_ms", 0.0),
        ttfat_ms=data.get("ttfat_ms", data.get("ttft_ms")),
        reasoning_ms=data.get("reasoning_ms"),
    )


def _cost(data: Any) -> Cost | None:
    if not isinstance(data, Mapping):
        return None
    return Cost(
        usd=float(data.get("usd", 0.0)),
        input_usd=float(data.get("input_usd", 0.0)),
        output_usd=float(data.get("output_usd", 0.0)),
        price_as_of=str(data.get("price_as_of", "")),
    )


def _usage(data: Any) -> Usage | None:
    if not isinstance(data, Mapping):
        return None
    return Usage(
        prompt_tokens=data.get("prompt_tokens", 0),
        completion_tokens=data.get("completion_tokens", 0),
        total_tokens=data.get("total_tokens", 0),
        cached_tokens=data.get("cached_tokens", 0),
        reasoning_tokens=data.get("reasoning_tokens", 0),
    )


def _started(data: Mapping[str, Any]) -> TurnStarted:
    return TurnStarted(
        turn_id=data["turn_id"],
        model=data["model"],
        prompt=data["prompt"],
        node=cast(NodeKind, data["node"]),
        streaming=data["streaming"],
        voice=data.get("voice"),
        disabled_features=tuple(
            DisabledFeature(d["name"], d["reason"], d.get("alternative"))
            for d in data.get("disabled_features", ())
        ),
    )


def _tool_call(data: Mapping[str, Any]) -> ToolCallDone:
    return ToolCallDone(
        call_id=data["call_id"],
        name=data["name"],
        arguments=data["arguments"],
        t_ms=data["t_ms"],
        raw_arguments=data.get("raw_arguments", ""),
        error=data.get("error"),
    )


def _audio(data: Mapping[str, Any]) -> AudioReady:
    encoded = data.get("data")
    return AudioReady(
        seq=data["seq"],
        sample_rate=data["sample_rate"],
        wav=base64.b64decode(encoded) if encoded else b"",
        text=data["text"],
        t_ms=data["t_ms"],
        synth_ms=data.get("synth_ms", 0.0),
        duration_ms=data.get("duration_ms", 0.0),
        first_byte_ms=data.get("first_byte_ms"),
        leading_silence_ms=data.get("leading_silence_ms"),
    )


def _completed(data: Mapping[str, Any]) -> TurnCompleted:
    return TurnCompleted(
        text=data["text"],
        finish_reason=data["finish_reason"],
        usage=_usage(data.get("usage")),
        timing=_timing(data["timing"]),
        cost=_cost(data.get("cost")),
        exit_path=data.get("exit_path"),
        details=details_from_payload(data),
        interrupted=data.get("interrupted") is True,
    )


def event_from_payload(name: str, data: Mapping[str, Any], *, snapshot: str = "") -> Event | None:
    """The turn event of one wire frame; None for the closing ``end`` frame.

    ``snapshot`` is the answer text before this frame (a ``completion-continue`` does not carry
    it). Raises ``KeyError``/``ValueError`` for data that is not the event's wire form.
    """
    match name:
        case "completion-start":
            return _started(data)
        case "completion-continue":
            return TextChunk(
                data["text"], snapshot + data["text"], data["seq"], data["t_ms"], data["gap_ms"]
            )
        case "reasoning":
            return ReasoningChunk(data["text"], data["seq"], data["t_ms"])
        case "tool-call":
            return _tool_call(data)
        case "tool-result":
            return ToolResult(
                data["call_id"],
                data["name"],
                data["output"],
                data["t_ms"],
                data["duration_ms"],
                data.get("is_error", False),
            )
        case "audio":
            return _audio(data)
        case "structured-output":
            return StructuredOutput(
                data.get("value"),
                data["complete"],
                tuple(data["errors"]),
                tuple(data["pending"]),
                data.get("final", False),
            )
        case "completion-replace":
            return TextReplaced(data["text"], data["reason"])
        case "error":
            return TurnFailed(
                data["code"], data["message"], data["retryable"], cast(FailureStage, data["stage"])
            )
        case "completion-end":
            return _completed(data)
        case "end":
            return None
    raise ValueError(f"not a turn event name: {name!r}")


def events_from_wire(frames: Iterable[tuple[str, Mapping[str, Any]]]) -> list[Event]:
    """A recorded wire log back as turn events, snapshots rebuilt as the runner builds them
    (a ``completion-replace`` restarts the text from its replacement)."""
    events: list[Event] = []
    snapshot = ""
    for name, data in frames:
        event = event_from_payload(name, data, snapshot=snapshot)
        if isinstance(event, TextChunk):
            snapshot = event.snapshot
        elif isinstance(event, TextReplaced):
            snapshot = event.text
        if event is not None:
            events.append(event)
    return events
