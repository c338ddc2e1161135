"""One browser session's conversation and the driver that turns a run into UI frames.

``SessionState`` lives in a ``gr.State`` (server-side, per session, never shared). ``drive_turn``
runs a turn on its own task and yields ``Frame``s: the chat updates on the leading edge (and the
first text chunk at once) and at most every ``chat_interval`` after that (so slow streams show
every chunk at once and fast ones do not flood the browser), the plot and table less often,
audio as soon as it exists, and always a final frame.

The run itself is a ``LiveTurn`` (see ``live_turns``): it outlives the Gradio event, so a
refreshed page resumes it (``resume_turn``) and every run is recorded in the browser's notebook.

Stop is cooperative: ``SessionState.stop`` marks the turn stopped, keeps the partial answer, stops
the live turn (closing its upstream connections) and wakes the driver, which sends one final
frame. The page does not also cancel the Gradio event: a cancel racing the generator's own last
frame left the chat showing Gradio's "Error" badge. A cancelled event (``gradio_client``'s
``Job.cancel``) stops the turn too; a page that merely went away leaves it to its grace period.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from playground.catalog import Credentials
from playground.errors import BusyError, ConfigError, MissingKeyError
from playground.notebook.cells import RunCell
from playground.turn.events import Event, StructuredOutput, TurnFailed, TurnStarted
from playground.turn.gate import TurnRefused
from playground.turn.request import HistoryMessage, TurnRequest
from playground.turn.state import TurnState
from playground.ui.live_turns import LiveTurn, LiveTurns, TurnKind
from playground.ui.outputs import TurnSlots
from playground.ui.throttle import END, WAKE, Throttle, halt, next_item

# A change to the notebook cell of one turn: (turn id, the change).
CellChange = tuple[str, Callable[[RunCell], RunCell]]

__all__ = [
    "Frame",
    "SessionState",
    "drive_turn",
    "request_error_code",
    "resume_turn",
]

_STOP_WAIT_S = 2.0
# At most one chat update every 50 ms. Gradio's page does work for every frame it receives that
# grows with the page (the loading status of every component any event updated: see
# ui/live_feed.py), more than the chat text costs: at 60 a second (one per display frame) the
# page fell behind and showed each chunk 1.3–1.6× later than a minimal ChatInterface; at 20 it
# is level with it (benchmarks/ui_page, measured 30, 20 and 15 a second).
CHAT_INTERVAL_S = 1 / 20
# Gradio only notices a closed page when its handler next yields: while the run is silent (a
# slow model, a long tool) an unchanged frame goes out this often, so a refreshed page's old
# follower leaves and the reloaded page can resume the run.
HEARTBEAT_S = 1.0


@dataclass
class SessionState:
    """Deep-copyable per-session state (Gradio copies the initial value for each session)."""

    history: list[HistoryMessage] = field(default_factory=list)  # what the model sees next
    shown: list[tuple[str, TurnState]] = field(default_factory=list)  # finished turns, for the chat
    current: TurnState | None = None
    user_message: str | None = None
    committed: bool = True
    audio_sent: int = 0
    audio_stopped: bool = False  # the player was told to stop this turn's voice (retracted)
    # The current turn's latest structured-output state (TurnState keeps only text and tools).
    structured: StructuredOutput | None = None
    # What the structured output panel last showed, so unchanged panels are not sent again.
    structured_shown: tuple[StructuredOutput | None, str] | None = None
    wake: Callable[[], None] | None = None  # set while a driver runs: makes it check for a stop
    # What the turn's outputs show now, resent unchanged rather than as ``gr.skip()``: Gradio
    # rebuilds a component for every skip (a property update), which cost more than the chat.
    frame_values: TurnSlots[Any] | None = None
    last_feed: str = ""  # the audio feed's value, kept across turns so it is not re-fired
    owner: str | None = None  # the browser's notebook id, once the page has loaded
    live_turn: LiveTurn | None = None  # the run behind ``current``
    last_run: LiveTurn | None = None  # the latest run, to find its notebook cell
    # Changes to ``last_run``'s cell asked for before it was recorded (``voice_record``):
    # applied once it is, by the chat's after-turn step.
    cell_changes: list[CellChange] = field(default_factory=list)
    # Held while the notebook is changed and drawn for this session (the after-turn step, a
    # voice report): the one drawn last is then the freshest, whichever event came first.
    notebook_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def __deepcopy__(self, memo: dict[int, Any]) -> SessionState:
        return SessionState(history=list(self.history), shown=list(self.shown), owner=self.owner)

    @property
    def live(self) -> tuple[str, TurnState] | None:
        """The turn in progress, if any (a finished turn has moved to ``shown``)."""
        if self.committed or self.current is None or self.user_message is None:
            return None
        return self.user_message, self.current

    def begin(self, message: str) -> TurnState:
        self.stop()  # a new message ends a turn still running, as Stop would
        self.current = TurnState()
        self.user_message = message
        self.committed = False
        self.audio_sent = 0
        self.audio_stopped = False
        self.structured = None
        self.frame_values = None
        return self.current

    def commit(self) -> None:
        """Move the finished (or stopped) turn into the history the model sees next time."""
        if self.committed or self.current is None or self.user_message is None:
            return
        self.committed = True
        self.history.append(HistoryMessage(role="user", content=self.user_message))
        if self.current.text:
            self.history.append(HistoryMessage(role="assistant", content=self.current.text))
        # The chat keeps the whole turn (tool calls, notes) but not its audio.
        self.shown.append((self.user_message, dataclasses.replace(self.current, audio=[])))

    def restore(
        self, history: Sequence[HistoryMessage], ran: Sequence[TurnState | None] = ()
    ) -> None:
        """Show ``history`` as the conversation so far (a reloaded page continuing a run);
        ``ran``: each turn as it ran, where known (its notes — stopped, interrupted, errors —
        and its footer), where the history alone has only its text."""
        self.stop()
        self.history = list(history)
        self.shown = []
        pending: str | None = None
        for item in history:
            if item.role == "user":
                if pending is not None:
                    self.shown.append((pending, TurnState()))
                pending = item.content
            elif pending is not None:
                self.shown.append((pending, TurnState(text=item.content)))
                pending = None
        if pending is not None:
            self.shown.append((pending, TurnState()))
        for index, state in enumerate(ran[: len(self.shown)]):
            if state is not None:
                self.shown[index] = (self.shown[index][0], state)

    def stop(self) -> None:
        """Stop the running turn, keeping what arrived. Safe to call when nothing runs."""
        self._end(interrupted=False)

    def interrupt(self) -> None:
        """The user spoke over the answer: stop the turn if it still runs, as Stop does, and
        mark it interrupted, also when it had finished but was still being spoken."""
        turn = self.current
        if turn is not None and turn.started is not None:
            turn.interrupted = True
            for _, shown in self.shown:  # the chat's copy, once committed
                if shown.started is not None and shown.started.turn_id == turn.started.turn_id:
                    shown.interrupted = True
        self._end(interrupted=True)

    def _end(self, *, interrupted: bool) -> None:
        if self.current is not None and not self.current.finished:
            self.current.stopped = True
            if self.live_turn is not None:
                self.live_turn.stop(interrupted=interrupted)
        self.commit()
        if self.wake is not None:
            self.wake()

    def clear(self) -> None:
        self.stop()
        self.history.clear()
        self.shown.clear()
        self.current = None
        self.user_message = None
        self.committed = True
        self.audio_sent = 0
        self.audio_stopped = False
        self.structured = None


@dataclass(frozen=True, slots=True)
class Queued:
    """The turn's new place in line for its model (0: no longer waiting)."""

    position: int


@dataclass(frozen=True, slots=True)
class Frame:
    chat: bool
    timing: bool
    new_audio: bool
    final: bool


def request_error_code(exc: ConfigError) -> str:
    """A UI-side code for a request that could not start, so the chat can say what to do."""
    if isinstance(exc, MissingKeyError):
        return "missing_key"
    if exc.field in ("history", "message"):
        return f"{exc.field}_limit"
    return "config"


def refused(
    session: SessionState, turn: TurnState, exc: ConfigError | TurnRefused | BusyError
) -> Frame:
    """A turn that could not start: its error, in the chat, as the last frame."""
    code = request_error_code(exc) if isinstance(exc, ConfigError) else exc.category.value
    retryable = not isinstance(exc, ConfigError)
    turn.handle(TurnFailed(code=code, message=exc.message, retryable=retryable, stage="request"))
    session.commit()
    return Frame(chat=True, timing=True, new_audio=False, final=True)


async def drive_turn(
    live_turns: LiveTurns,
    session: SessionState,
    request: TurnRequest,
    creds: Credentials,
    *,
    client: str,
    kind: TurnKind = "chat",
    chat_interval: float = CHAT_INTERVAL_S,
    timing_interval: float = 0.3,
) -> AsyncGenerator[Frame, None]:
    """Start ``request`` as a live turn of the session's owner and yield its frames.
    ``client`` is who is asking, for the per-client limits the page shares with the API."""
    started_at = time.monotonic()
    turn = session.begin(request.message)
    try:
        prepared = live_turns.runner.prepare(request, creds, client)
        if (busy := prepared.busy()) is not None:
            raise busy
        live = live_turns.start(
            session.owner, kind, request, prepared, client=client, started_at=started_at
        )
    except (ConfigError, TurnRefused, BusyError) as exc:
        yield refused(session, turn, exc)
        return
    async for frame in _follow(live_turns, live, session, turn, chat_interval, timing_interval):
        yield frame


async def resume_turn(
    live_turns: LiveTurns,
    session: SessionState,
    live: LiveTurn,
    *,
    chat_interval: float = CHAT_INTERVAL_S,
    timing_interval: float = 0.3,
) -> AsyncIterator[Frame]:
    """Show a run a previous page started: its conversation, then its events from the first."""
    session.restore(live.request.history)
    turn = session.begin(live.request.message)
    async for frame in _follow(live_turns, live, session, turn, chat_interval, timing_interval):
        yield frame


async def _pump(live_turns: LiveTurns, live: LiveTurn, queue: asyncio.Queue[Any]) -> None:
    try:
        async for event in live_turns.follow(live):
            queue.put_nowait(event)
    finally:
        queue.put_nowait(END)


async def _watch_place(positions: AsyncGenerator[int, None], queue: asyncio.Queue[Any]) -> None:
    # The in-process model serves one turn at a time: say where this one is in line.
    async for position in positions:
        queue.put_nowait(Queued(position))


async def _follow(
    live_turns: LiveTurns,
    live: LiveTurn,
    session: SessionState,
    turn: TurnState,
    chat_interval: float,
    timing_interval: float,
) -> AsyncIterator[Frame]:
    session.live_turn = session.last_run = live
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()

    def wake() -> None:
        # Thread-safe: Gradio may run the Stop handler on a worker thread.
        loop.call_soon_threadsafe(queue.put_nowait, WAKE)

    task = asyncio.create_task(_pump(live_turns, live, queue))
    positions = live.turn.queue_positions() if live.turn is not None else None
    watcher = asyncio.create_task(_watch_place(positions, queue)) if positions else None
    session.wake = wake
    # The timing panel (two plots and a table) costs a few milliseconds to draw: not with the
    # first text, which is what the user is waiting for.
    throttle = Throttle(chat_interval, timing_interval, slow_waits=True)
    last_frame = time.monotonic()
    try:
        while True:
            wait = throttle.wait()
            item = await next_item(queue, HEARTBEAT_S if wait is None else min(wait, HEARTBEAT_S))
            if item is END or turn.stopped or session.current is not turn:
                break
            new_audio = first_text = False
            if isinstance(item, Queued):
                turn.queued = item.position
                throttle.mark(True, True)
            elif item is not None and item is not WAKE:
                event: Event = item
                before_audio, before_text = len(turn.audio), len(turn.chunks)
                turn.handle(event)
                if isinstance(event, StructuredOutput):
                    session.structured = event
                new_audio = len(turn.audio) > before_audio
                first_text = before_text == 0 and len(turn.chunks) == 1
                # Nothing to plot yet at the start: keep the panel out of the way of the first text.
                throttle.mark(True, not isinstance(event, TurnStarted))
            # The first text goes out at once whatever the throttle says: it is what TTFT shows.
            send_chat, send_timing = throttle.take(urgent_fast=first_text)
            beat = time.monotonic() - last_frame >= HEARTBEAT_S
            if send_chat or send_timing or new_audio or beat:
                last_frame = time.monotonic()
                yield Frame(chat=send_chat, timing=send_timing, new_audio=new_audio, final=False)
        await halt(task)
        await halt(watcher)
        turn.queued = 0
        if turn.stopped and live.task is not None:
            # A stopped run closes its upstream before the last frame says it stopped.
            await asyncio.wait({live.task}, timeout=_STOP_WAIT_S)
        if session.wake is wake:
            session.wake = None
        if session.current is turn:  # not cleared, nor replaced by a newer message
            session.commit()
            yield Frame(chat=True, timing=True, new_audio=False, final=True)
    except asyncio.CancelledError:
        live.stop()  # the event was cancelled (not a page gone away): that is a Stop
        raise
    finally:
        await halt(task)
        await halt(watcher)
        if session.wake is wake:
            session.wake = None
        if session.live_turn is live:
            session.live_turn = None
