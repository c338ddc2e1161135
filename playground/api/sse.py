"""Server-sent events: framing and the streaming response. The payloads themselves (DESIGN.md's
table) are ``playground.turn.wire``'s; ``event_payload`` is re-exported for the routes."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from playground.turn.wire import event_payload

__all__ = ["SSE_HEADERS", "DisconnectAwareStreamingResponse", "event_payload", "sse_frame"]

SSE_HEADERS = {
    "Cache-Control": "no-cache",
    # Proxies (nginx, the Spaces front end) must not buffer, or the stream arrives in bursts.
    "X-Accel-Buffering": "no",
    "Connection": "keep-alive",
}


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
