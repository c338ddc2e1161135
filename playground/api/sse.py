"""Server-sent events: the public wire names and payloads of turn events (DESIGN.md's table)."""

from __future__ import annotations

import base64
import json
from dataclasses import asdict
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from playground.turn.events import (
    AudioReady,
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

__all__ = ["SSE_HEADERS", "DisconnectAwareStreamingResponse", "event_payload", "sse_frame"]

SSE_HEADERS = {
    "Cache-Control": "no-cache",
    # Proxies (nginx, the Spaces front end) must not buffer, or the stream arrives in bursts.
    "X-Accel-Buffering": "no",
    "Connection": "keep-alive",
}


def _usage(event: TurnCompleted) -> dict[str, int] | None:
    return asdict(event.usage) if event.usage is not None else None


def event_payload(event: Event) -> tuple[str, dict[str, Any]]:
    """The SSE event name and JSON data for one turn event."""
    match event:
        case TurnStarted():
            return "completion-start", {
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
        case TextChunk():
            return "completion-continue", {
                "text": event.text,
                "seq": event.seq,
                "t_ms": event.t_ms,
                "gap_ms": event.gap_ms,
            }
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
            return "audio", {
                "seq": event.seq,
                "format": "wav",
                "sample_rate": event.sample_rate,
                "data": base64.b64encode(event.wav).decode("ascii"),
                "text": event.text,
                "t_ms": event.t_ms,
                "synth_ms": event.synth_ms,
                "duration_ms": event.duration_ms,
            }
        case TurnCompleted():
            return "completion-end", {
                "text": event.text,
                "finish_reason": event.finish_reason,
                "usage": _usage(event),
                "timing": asdict(event.timing),
                "exit_path": event.exit_path,
                **event.details,
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


def sse_frame(name: str, data: dict[str, Any], frame_id: int | None = None) -> bytes:
    head = f"id: {frame_id}\n" if frame_id is not None else ""
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"{head}event: {name}\ndata: {body}\n\n".encode()


class DisconnectAwareStreamingResponse(StreamingResponse):
    """Always watches for the client going away, whatever ASGI spec version the server reports.

    Starlette only listens for ``http.disconnect`` below spec 2.4; above it a disconnect is seen
    at the next write, which during an upstream stall could be never. Cancelling the body at once
    is what closes the upstream connections promptly.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope = {**scope, "asgi": {**scope.get("asgi", {}), "spec_version": "2.3"}}
        await super().__call__(scope, receive, send)
