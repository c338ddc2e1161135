"""A logged turn as SSE bytes: each event's frame (id = its index in the log), then ``end``.

The registry encodes every event once, as it arrives (``encode_event``); following a log only
joins the cached frames, so a resumed or second follower costs no encoding. A ``Last-Event-ID``
resume is ``follow_frames(log, after=that id)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from playground.api.sse import event_payload, sse_frame
from playground.turn.events import Event
from playground.turn.log import TurnLog

__all__ = ["KEEPALIVE", "encode_event", "follow_frames", "retry_frame"]

KEEPALIVE = b": keep-alive\n\n"
_BATCH_BYTES = 64 * 1024


def retry_frame(grace_s: float) -> bytes:
    """The SSE ``retry:`` field (ms) sent first on every stream: half the resume grace, so a
    browser ``EventSource`` reconnects while its turn is still kept running, capped at 3 s
    (browsers' usual default) and at least 100 ms so a zero grace cannot cause a busy loop."""
    return f"retry: {max(100, min(3000, int(grace_s * 500)))}\n\n".encode()


def encode_event(event: Event, index: int) -> bytes:
    name, data = event_payload(event)
    return sse_frame(name, data, index)


async def follow_frames(log: TurnLog, after: int, keepalive_s: float) -> AsyncIterator[bytes]:
    """Frames with ids greater than ``after``, then live ones; keep-alives while silent.

    Frames already waiting when the follower gets to run leave as one write (up to
    ``_BATCH_BYTES``): under load a follower falls a few frames behind, and a send per frame
    through the ASGI stack would make it fall further behind. The bytes are the same. The
    closing ``end`` frame (id = the number of events) is sent only when the turn's stream ran
    to its end, and joins the batch before it when there is room.
    """
    frames = log.encoded
    position = after + 1
    while True:
        if position < len(frames):
            batch = [frames[position]]
            size = len(batch[0])
            position += 1
            while position < len(frames) and size < _BATCH_BYTES:
                batch.append(frames[position])
                size += len(batch[-1])
                position += 1
            if position == len(frames) and log.complete and size < _BATCH_BYTES:
                batch.append(sse_frame("end", {}, position))
                position += 1
            yield batch[0] if len(batch) == 1 else b"".join(batch)
            continue
        if log.done:
            if position == len(frames) and log.complete:
                yield sse_frame("end", {}, position)
            return
        if not await log.changed(keepalive_s):
            yield KEEPALIVE
