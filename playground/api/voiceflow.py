"""Voiceflow-compatible interact stream: the trace shapes Voiceflow streaming clients parse.

``POST /v2/project/{projectID}/user/{userID}/interact/stream?completion_events=true|false`` with
``{"action": {"type": "text", "payload": "..."}}`` (or ``launch``). ``projectID`` names a prompt
(``id`` or ``id@version``; its node type comes with it) and ``userID`` keys a conversation, per
caller (token, else address), whose history is kept between requests, so an Agent Node can ask
follow-up questions across turns.

Mapping from our events (field names per Voiceflow's public "completion events" docs):

=======================  ===================================================================
ours                      Voiceflow frame (``event: trace``, ``id: n``)
=======================  ===================================================================
completion-start          ``{"type": "completion", "payload": {"state": "start"}, "time": ms}``
completion-continue       ``{"type": "completion", "payload": {"state": "content", "content"}}``
completion-end            ``{"type": "completion", "payload": {"state": "end", "tokens": {...}}}``
(streaming off)           one ``{"type": "text", "payload": {"message": "..."}}`` trace instead
tool-call / tool-result   ``{"type": "debug", "payload": {"type": "tool", "message": "..."}}``
error                     ``{"type": "debug", "payload": {"type": "error", "message": "..."}}``
end                       ``event: end`` (no data)
=======================  ===================================================================
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from playground.turn.events import (
    Event,
    TextChunk,
    ToolCallDone,
    TurnCompleted,
    TurnFailed,
    TurnStarted,
)
from playground.turn.request import HistoryMessage

__all__ = ["LAUNCH_MESSAGE", "ConversationStore", "VoiceflowRequest", "voiceflow_frames"]

LAUNCH_MESSAGE = "(The user has just opened the conversation. Greet them briefly.)"


class VoiceflowAction(BaseModel):
    # Voiceflow clients send more than we use (metadata, diagramID...); ignore it, don't fail.
    model_config = ConfigDict(extra="ignore")

    type: Literal["text", "launch"]
    payload: Any = None


class VoiceflowRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    action: VoiceflowAction

    def message(self) -> str:
        if self.action.type == "launch":
            return LAUNCH_MESSAGE
        payload = self.action.payload
        if isinstance(payload, dict):  # some clients wrap text as {"query": ...} or {"text": ...}
            payload = payload.get("query") or payload.get("text") or payload.get("message")
        return str(payload or "").strip()


class ConversationStore:
    """History per (caller, project, user), bounded in conversations and messages.

    The caller is the identity key (the token's hash, else the client's address): a userID is
    chosen by the client, so on its own it would let anyone who guesses "alice" read Alice's
    conversation back through the model's answers.
    """

    def __init__(self, *, max_users: int = 2_000, max_messages: int = 40) -> None:
        self._max_users = max_users
        self._max_messages = max_messages
        self._histories: OrderedDict[tuple[str, str, str], list[HistoryMessage]] = OrderedDict()

    def history(self, caller: str, project: str, user: str) -> tuple[HistoryMessage, ...]:
        return tuple(self._histories.get((caller, project, user), ()))

    def reset(self, caller: str, project: str, user: str) -> None:
        self._histories.pop((caller, project, user), None)

    def record(self, caller: str, project: str, user: str, message: str, answer: str) -> None:
        key = (caller, project, user)
        history = self._histories.pop(key, [])
        history += [HistoryMessage(role="user", content=message)]
        if answer:
            history.append(HistoryMessage(role="assistant", content=answer))
        self._histories[key] = history[-self._max_messages :]
        while len(self._histories) > self._max_users:
            self._histories.popitem(last=False)


def _frame(frame_id: int, data: dict[str, Any]) -> bytes:
    body = json.dumps({**data, "time": int(time.time() * 1000)}, ensure_ascii=False)
    return f"event: trace\nid: {frame_id}\ndata: {body}\n\n".encode()


def _tokens(event: TurnCompleted, model: str) -> dict[str, Any]:
    # Unknown counts are left out: a 0 would read as "this turn was free".
    usage = event.usage
    if usage is None:
        return {"model": model}
    return {
        "model": model,
        "answer": usage.completion_tokens,
        "query": usage.prompt_tokens,
        "total": usage.total_tokens,
    }


async def voiceflow_frames(
    events: AsyncIterator[Event], *, completion_events: bool
) -> AsyncIterator[tuple[bytes | None, TurnCompleted | None]]:
    """Voiceflow frames for a turn; the final ``TurnCompleted`` is passed out for the history."""
    frame_id = 1
    model = ""
    async for event in events:
        data: dict[str, Any] | None = None
        match event:
            case TurnStarted():
                model = event.model
                if completion_events:
                    data = {"type": "completion", "payload": {"state": "start"}}
            case TextChunk() if completion_events:
                payload = {"state": "content", "content": event.text}
                data = {"type": "completion", "payload": payload}
            case ToolCallDone():
                message = f"calling {event.name} with {json.dumps(event.arguments)}"
                data = {"type": "debug", "payload": {"type": "tool", "message": message}}
            case TurnFailed():
                data = {"type": "debug", "payload": {"type": "error", "message": event.message}}
            case TurnCompleted():
                if completion_events:
                    end = {"state": "end", "tokens": _tokens(event, model)}
                    data = {"type": "completion", "payload": end}
                else:
                    data = {"type": "text", "payload": {"message": event.text}}
                yield _frame(frame_id, data), event
                frame_id += 1
                continue
        if data is not None:
            yield _frame(frame_id, data), None
            frame_id += 1
    yield f"event: end\nid: {frame_id}\n\n".encode(), None
