"""One browser session's conversation and the driver that turns a run into UI frames.

``SessionState`` lives in a ``gr.State`` (server-side, per session, never shared). ``drive_turn``
runs a turn on its own task and yields ``Frame``s: the chat updates on the leading edge and at
most every ``chat_interval`` (so slow streams show every chunk at once and fast ones do not flood
the browser), the plot and table less often, audio as soon as it exists, and always a final frame.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from playground.catalog import Credentials
from playground.errors import ConfigError
from playground.events import Event, TurnFailed
from playground.requests import HistoryMessage, TurnRequest
from playground.runner import TurnRunner
from playground.turn_state import TurnState

__all__ = ["Frame", "SessionState", "drive_turn"]

_END = object()


@dataclass
class SessionState:
    """Deep-copyable per-session state (Gradio copies the initial value for each session)."""

    history: list[HistoryMessage] = field(default_factory=list)
    current: TurnState | None = None
    user_message: str | None = None
    committed: bool = True
    base: int = 0  # history length before the current turn: what the chat shows above it
    audio_sent: int = 0
    task: Any = None  # the running turn's pump task, so Stop / a new message can cancel it

    def __deepcopy__(self, memo: dict[int, Any]) -> SessionState:
        return SessionState(history=list(self.history))

    def begin(self, message: str) -> TurnState:
        self.cancel_running()
        self.current = TurnState()
        self.base = len(self.history)
        self.user_message = message
        self.committed = False
        self.audio_sent = 0
        return self.current

    def cancel_running(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            if self.current is not None:
                self.current.stopped = True
            self.commit()
        self.task = None

    def commit(self) -> None:
        """Move the finished (or stopped) turn into the history the model sees next time."""
        if self.committed or self.current is None or self.user_message is None:
            return
        self.committed = True
        self.history.append(HistoryMessage(role="user", content=self.user_message))
        if self.current.text:
            self.history.append(HistoryMessage(role="assistant", content=self.current.text))

    def stop(self) -> None:
        if self.current is not None and not self.current.finished:
            self.current.stopped = True
        self.cancel_running()
        self.commit()

    def clear(self) -> None:
        self.cancel_running()
        self.history.clear()
        self.base = 0
        self.current = None
        self.user_message = None
        self.committed = True


@dataclass(frozen=True, slots=True)
class Frame:
    chat: bool
    timing: bool
    new_audio: bool
    final: bool


async def drive_turn(
    runner: TurnRunner,
    session: SessionState,
    request: TurnRequest,
    creds: Credentials,
    *,
    chat_interval: float = 0.05,
    timing_interval: float = 0.3,
) -> AsyncIterator[Frame]:
    turn = session.begin(request.message)
    try:
        prepared = runner.prepare(request, creds)
    except ConfigError as exc:
        turn.handle(
            TurnFailed(code="config", message=exc.message, retryable=False, stage="request")
        )
        turn.stopped = False
        session.commit()
        yield Frame(chat=True, timing=True, new_audio=False, final=True)
        return

    queue: asyncio.Queue[Any] = asyncio.Queue()
    started_at = time.monotonic()

    async def pump() -> None:
        try:
            async for event in runner.stream(prepared, started_at=started_at):
                queue.put_nowait(event)
        finally:
            queue.put_nowait(_END)

    task = asyncio.create_task(pump())
    session.task = task
    last_chat = last_timing = 0.0
    dirty_chat = dirty_timing = False
    try:
        while True:
            wait = None
            if dirty_chat or dirty_timing:
                now = time.monotonic()
                due = min(
                    last_chat + chat_interval if dirty_chat else float("inf"),
                    last_timing + timing_interval if dirty_timing else float("inf"),
                )
                wait = max(0.0, due - now)
            try:
                item = (
                    await asyncio.wait_for(queue.get(), wait)
                    if wait is not None
                    else await queue.get()
                )
            except TimeoutError:
                item = None
            if item is _END:
                break
            new_audio = False
            if item is not None:
                event: Event = item
                before_audio = len(turn.audio)
                turn.handle(event)
                new_audio = len(turn.audio) > before_audio
                dirty_chat = dirty_timing = True
            now = time.monotonic()
            send_chat = dirty_chat and now - last_chat >= chat_interval
            send_timing = dirty_timing and now - last_timing >= timing_interval
            if send_chat or send_timing or new_audio:
                if send_chat:
                    last_chat, dirty_chat = now, False
                if send_timing:
                    last_timing, dirty_timing = now, False
                yield Frame(chat=send_chat, timing=send_timing, new_audio=new_audio, final=False)
        session.commit()
        yield Frame(chat=True, timing=True, new_audio=False, final=True)
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if session.task is task:
            session.task = None
