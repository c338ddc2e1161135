"""Unit tests for the UI's pure rendering (``view``) and its per-session state and driver."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import AsyncIterator
from typing import Any, cast

import gradio as gr
import pandas as pd
import pytest

from playground.catalog import Credentials
from playground.errors import ConfigError, MissingKeyError
from playground.events import (
    AudioReady,
    DisabledFeature,
    Event,
    TextChunk,
    TextReplaced,
    TimingSummary,
    ToolCallDone,
    ToolResult,
    TurnCompleted,
    TurnFailed,
    TurnStarted,
)
from playground.requests import TurnRequest
from playground.runner import TurnRunner
from playground.turn_state import TurnState
from playground.ui import view
from playground.ui.session import Frame, SessionState, drive_turn, request_error_code
from tests.support import make_test_services

STARTED = TurnStarted("turn_1", "openai:gpt-4o-mini", "default-prompt-node@1", "prompt", True, None)


def chunk(seq: int, text: str, snapshot: str, t_ms: float, gap_ms: float = 10.0) -> TextChunk:
    return TextChunk(text, snapshot, seq, t_ms, gap_ms)


def completed(text: str, finish_reason: str = "stop") -> TurnCompleted:
    timing = TimingSummary(
        ttft_ms=12.0,
        ttfa_ms=None,
        chunks=2,
        total_ms=250.0,
        characters=len(text),
        chars_per_s=40.0,
        tokens_per_s=8.0,
    )
    return TurnCompleted(text=text, finish_reason=finish_reason, usage=None, timing=timing)


def audio(seq: int, text: str, t_ms: float) -> AudioReady:
    return AudioReady(seq, 22050, b"RIFF....WAVE", text, t_ms, synth_ms=50.0, duration_ms=900.0)


def turn_of(*events: Event) -> TurnState:
    turn = TurnState()
    for event in events:
        turn.handle(event)
    return turn


def texts(message: dict[str, Any]) -> str:
    return "".join(part["text"] for part in message["content"])


# -- view.chat_messages -------------------------------------------------------------------------


def test_chat_messages_shows_past_turns_then_the_live_one_as_text_parts() -> None:
    past = turn_of(STARTED, chunk(0, "Hi", "Hi", 5), completed("Hi"))
    live = turn_of(STARTED, chunk(0, "Wor", "Wor", 5))
    messages = view.chat_messages([("hello", past)], ("more", live))
    assert [(m["role"], texts(m)) for m in messages] == [
        ("user", "hello"),
        ("assistant", "Hi"),
        ("user", "more"),
        ("assistant", "Wor"),
    ]
    # Content as text parts (never bare strings, which Gradio dedents).
    assert all(m["content"][0]["type"] == "text" for m in messages)


def test_a_turn_waiting_for_its_first_chunk_shows_a_placeholder() -> None:
    messages = view.chat_messages([], ("hello", turn_of(STARTED)))
    assert texts(messages[-1]) == "…"


def test_tool_calls_are_collapsible_messages_placed_where_they_happened() -> None:
    call = ToolCallDone("c1", "calculator", {"expression": "12*7"}, t_ms=40.0)
    result = ToolResult("c1", "calculator", "84", t_ms=45.0, duration_ms=2.0)
    turn = turn_of(
        STARTED,
        chunk(0, "Let me compute. ", "Let me compute. ", 20),
        call,
        result,
        chunk(1, "It is 84.", "Let me compute. It is 84.", 80),
        completed("Let me compute. It is 84."),
    )
    messages = view.chat_messages([("12*7?", turn)])
    assert [texts(m) for m in messages[1:2]] == ["Let me compute. "]
    tool = messages[2]
    assert tool["metadata"]["title"] == "Tool call: calculator"
    assert tool["metadata"]["status"] == "done"
    assert tool["metadata"]["duration"] == 0.002
    assert '"expression": "12*7"' in texts(tool) and "84" in texts(tool)
    assert texts(messages[3]) == "It is 84."
    assert "metadata" not in messages[3]


def test_a_running_or_failed_tool_call_says_so() -> None:
    call = ToolCallDone("c1", "calculator", {}, t_ms=10.0, raw_arguments="{oops", error="not JSON")
    running = view.chat_messages([], ("q", turn_of(STARTED, call)))
    assert running[1]["metadata"]["status"] == "pending"
    assert "not JSON" in texts(running[1]) and "{oops" in texts(running[1])
    failed = turn_of(STARTED, call, ToolResult("c1", "calculator", "bad", 12.0, 1.0, True))
    assert view.chat_messages([], ("q", failed))[1]["metadata"]["title"].endswith("failed")


def test_tool_output_cannot_break_out_of_its_code_block() -> None:
    call = ToolCallDone("c1", "echo", {}, t_ms=10.0)
    result = ToolResult("c1", "echo", "```\n# not a heading", 11.0, 1.0)
    body = texts(view.chat_messages([], ("q", turn_of(STARTED, call, result)))[1])
    assert "````text\n```\n# not a heading\n````" in body


def test_errors_say_what_happened_and_what_to_do() -> None:
    turn = turn_of(
        STARTED,
        chunk(0, "Part", "Part", 5),
        TurnFailed("rate_limit", "upstream is busy", retryable=True),
        TurnFailed("auth", "the Deepgram key was rejected", retryable=False, stage="tts"),
        completed("Part", finish_reason="error"),
    )
    text = texts(view.chat_messages([], ("q", turn))[-1])
    assert text.startswith("Part\n\n")
    assert "**Error:** Upstream is busy." in text
    assert "**What to do:** Wait a moment" in text
    assert "**Voice:** The Deepgram key was rejected." in text
    assert "Session keys" in text


def test_a_stopped_turn_keeps_its_partial_answer_and_says_it_was_stopped() -> None:
    turn = turn_of(STARTED, chunk(0, "Half an ans", "Half an ans", 5))
    turn.stopped = True
    text = texts(view.chat_messages([], ("q", turn))[-1])
    assert text.startswith("Half an ans") and "Stopped" in text


def test_replacements_and_token_limits_are_noted() -> None:
    turn = turn_of(
        STARTED,
        chunk(0, "bad words", "bad words", 5),
        TextReplaced("[removed]", "flagged: harassment"),
        completed("bad words", finish_reason="length"),
    )
    text = texts(view.chat_messages([], ("q", turn))[-1])
    assert text.startswith("[removed]")
    assert "flagged: harassment" in text and "token limit" in text


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("missing_key", "Session keys"),
        ("history_limit", "Clear"),
        ("message_limit", "Shorten"),
        ("connectivity", "endpoint URL"),
    ],
)
def test_every_error_code_has_a_next_step(code: str, expected: str) -> None:
    assert expected in view.error_note(TurnFailed(code, "x", retryable=False))


# -- view.timing_* ------------------------------------------------------------------------------


def plot_types(frame: pd.DataFrame) -> dict[str, str]:
    # What Gradio's LinePlot derives from the dtypes: it must not change between updates.
    plot = gr.LinePlot(x=view.PLOT_X, y=view.PLOT_Y, color=view.PLOT_COLOR)
    data = plot.postprocess(frame)
    assert data is not None
    return dict(data.datatypes)


def test_the_empty_plot_is_typed_names_every_series_and_draws_nothing() -> None:
    empty = view.empty_plot()
    assert plot_types(empty) == {
        "ms": "quantitative",
        "characters": "quantitative",
        "series": "nominal",
    }
    # Every series is present from the start: the browser fixes the colour domain on first render.
    assert set(empty[view.PLOT_COLOR]) == set(view.SERIES) == set(view.PLOT_COLORS)
    # One point per series: no line is drawn, but the axes get finite, labelled extents.
    assert empty.groupby(view.PLOT_COLOR).size().tolist() == [1, 1]
    assert not empty.isna().any().any()
    assert empty[view.PLOT_X].max() > 0 and empty[view.PLOT_Y].max() > 0
    assert view.timing_plot(None).equals(empty)
    assert view.timing_plot(turn_of(STARTED)).equals(empty)


def test_the_timing_plot_draws_text_and_voice_as_staircases() -> None:
    turn = turn_of(
        STARTED,
        chunk(0, "Hello. ", "Hello. ", 100),
        chunk(1, "Bye.", "Hello. Bye.", 250),
        audio(0, "Hello.", 400),
    )
    frame = view.timing_plot(turn)
    assert plot_types(frame) == plot_types(view.empty_plot())
    text = frame[frame[view.PLOT_COLOR] == view.TEXT_SERIES]
    assert list(zip(text[view.PLOT_X], text[view.PLOT_Y], strict=True)) == [
        (0.0, 0),
        (100.0, 0),
        (100.0, 7),
        (250.0, 7),
        (250.0, 11),
    ]
    voice = frame[frame[view.PLOT_COLOR] == view.AUDIO_SERIES]
    assert list(zip(voice[view.PLOT_X], voice[view.PLOT_Y], strict=True)) == [
        (0.0, 0),
        (400.0, 0),
        (400.0, 6),
    ]
    assert not frame.isna().any().any()


def test_the_timing_table_has_one_row_per_chunk() -> None:
    assert list(view.timing_table(None).columns) == view.TABLE_HEADERS
    assert view.timing_table(None).empty
    turn = turn_of(STARTED, chunk(0, "ab", "ab", 10.04, 10.04), chunk(1, "cde", "abcde", 30, 19.96))
    assert view.timing_table(turn).values.tolist() == [[0, 10.0, 10.0, 2], [1, 30.0, 20.0, 3]]


def test_the_summary_shows_ttft_and_total_once_done() -> None:
    assert "Send a message" in view.timing_summary(None)
    streaming = turn_of(STARTED, chunk(0, "a", "a", 12.3))
    assert "streaming" in view.timing_summary(streaming) and "12 ms" in view.timing_summary(
        streaming
    )
    done = view.timing_summary(turn_of(STARTED, chunk(0, "a", "a", 12.0), completed("a")))
    assert "TTFT" in done and "Total" in done and "250 ms" in done and "done" in done
    refused = turn_of(TurnFailed("missing_key", "no key", False, stage="request"))
    assert "Not sent" in view.timing_summary(refused)


def test_the_summary_escapes_what_it_shows() -> None:
    started = TurnStarted("t", "compatible:<b>x</b>", "p@1", "prompt", True, None)
    assert "<b>x</b>" not in view.timing_summary(turn_of(started))


def test_audio_feed_sends_only_new_pieces() -> None:
    pieces = [audio(0, "One.", 10), audio(1, "Two.", 20)]
    feed = json.loads(view.audio_feed("turn_1", pieces, 1))
    assert feed["turn"] == "turn_1"
    assert [(p["seq"], p["text"]) for p in feed["pieces"]] == [(1, "Two.")]


def test_capability_notes_and_reasons() -> None:
    off = DisabledFeature("guardrails", "Needs the complete reply.", "Turn streaming off.")
    tools_off = DisabledFeature("tool_calling", "Prompt Nodes answer in one pass.", "Use Agent.")
    notes = view.capability_notes([off, tools_off], has_tools=True)
    assert "Guardrails" in notes and "Tool calling:** off. Prompt Nodes" in notes
    assert "Use Agent." in notes
    assert "no tools" in view.capability_notes([], has_tools=False)
    assert "available" in view.capability_notes([], has_tools=True)
    assert (
        view.disabled_info(off)
        == "Disabled: Needs the complete reply. Instead: Turn streaming off."
    )


# -- session.SessionState ----------------------------------------------------------------------


def live_of(state: SessionState) -> tuple[str, TurnState] | None:
    return state.live  # a call, so the type checker does not carry a narrowed type across steps


def test_commit_moves_a_finished_turn_into_history_once() -> None:
    state = SessionState()
    turn = state.begin("hi")
    turn.handle(chunk(0, "Hello", "Hello", 5))
    assert live_of(state) == ("hi", turn)
    assert state.history == []
    state.commit()
    state.commit()
    assert [(m.role, m.content) for m in state.history] == [("user", "hi"), ("assistant", "Hello")]
    assert live_of(state) is None
    assert [u for u, _ in state.shown] == ["hi"]


def test_stop_marks_the_turn_keeps_partial_text_and_wakes_the_driver() -> None:
    state = SessionState()
    woken: list[bool] = []
    turn = state.begin("hi")
    turn.handle(chunk(0, "Par", "Par", 5))
    state.wake = lambda: woken.append(True)
    state.stop()
    assert turn.stopped and woken == [True]
    assert state.history[-1].content == "Par"
    assert state.shown[-1][1].stopped
    state.stop()  # nothing runs any more: harmless
    assert len(state.history) == 2


def test_stop_after_a_turn_finished_does_not_mark_it_stopped() -> None:
    state = SessionState()
    turn = state.begin("hi")
    turn.handle(completed(""))
    state.stop()
    assert not turn.stopped
    # An empty answer adds only the user's message to what the model sees.
    assert [m.role for m in state.history] == ["user"]


def test_a_new_message_stops_the_previous_turn() -> None:
    state = SessionState()
    first = state.begin("one")
    second = state.begin("two")
    assert first.stopped and state.current is second
    assert [u for u, _ in state.shown] == ["one"]


def test_clear_forgets_everything() -> None:
    state = SessionState()
    state.begin("one").handle(chunk(0, "x", "x", 1))
    state.commit()
    state.begin("two")
    state.clear()
    assert state.history == [] and state.shown == [] and state.current is None
    assert state.live is None


def test_session_state_copies_are_independent() -> None:
    state = SessionState()
    state.begin("one")
    state.commit()
    clone = copy.deepcopy(state)
    clone.history.clear()
    assert len(state.history) == 1 and clone.current is None and clone.wake is None


def test_stored_turns_drop_their_audio() -> None:
    state = SessionState()
    turn = state.begin("one")
    turn.handle(audio(0, "Hi.", 5))
    state.commit()
    assert state.current is turn and len(turn.audio) == 1
    assert state.shown[0][1].audio == []


# -- session.drive_turn -------------------------------------------------------------------------


class ScriptedRunner:
    """Stands in for ``TurnRunner``: replays (delay, event) pairs, records when each left."""

    def __init__(self, script: list[tuple[float, Event]], *, hang: bool = False) -> None:
        self.script = script
        self.hang = hang
        self.sent_at: list[float] = []
        self.closed = asyncio.Event()

    def prepare(self, request: TurnRequest, creds: Credentials) -> object:
        return object()

    async def stream(self, prepared: object, *, started_at: float) -> AsyncIterator[Event]:
        try:
            for delay, event in self.script:
                await asyncio.sleep(delay)
                self.sent_at.append(time.monotonic())
                yield event
            if self.hang:
                await asyncio.Event().wait()
        finally:
            self.closed.set()


def script_of(n: int, gap: float) -> list[tuple[float, Event]]:
    steps: list[tuple[float, Event]] = [(0.0, STARTED)]
    snapshot = ""
    for i in range(n):
        snapshot += f"w{i} "
        steps.append((gap, chunk(i, f"w{i} ", snapshot, 10.0 * i)))
    steps.append((0.0, completed(snapshot)))
    return steps


async def collect(
    runner: ScriptedRunner, state: SessionState, **kwargs: float
) -> list[tuple[float, Frame, str]]:
    frames = []
    request = TurnRequest(message="hi", voice="none")
    async for frame in drive_turn(
        cast(TurnRunner, runner), state, request, Credentials(), **kwargs
    ):
        frames.append((time.monotonic(), frame, state.current.text if state.current else ""))
    return frames


async def test_the_first_chunk_is_sent_at_once_and_later_ones_are_throttled() -> None:
    runner = ScriptedRunner(script_of(30, 0.005))
    state = SessionState()
    frames = await collect(runner, state, chat_interval=0.05, timing_interval=0.3)
    chat_frames = [(t, text) for t, f, text in frames if f.chat]
    # Leading edge: the frame carrying the first chunk left right after the chunk did.
    first = next(t for t, text in chat_frames if text)
    assert first - runner.sent_at[1] < 0.02
    assert next(text for _, text in chat_frames if text) == "w0 "
    # Throttled: far fewer chat frames than chunks, at least ~chat_interval apart after the first.
    assert len(chat_frames) < 15
    gaps = [b[0] - a[0] for a, b in zip(chat_frames[2:-1], chat_frames[3:-1], strict=False)]
    assert all(gap >= 0.045 for gap in gaps)
    # Always a final frame, with everything, and the turn committed.
    final = frames[-1][1]
    assert final.final and final.chat and final.timing
    assert frames[-1][2] == "".join(f"w{i} " for i in range(30))
    assert state.live is None and state.history[-1].content == frames[-1][2]


async def test_a_slow_stream_shows_every_chunk() -> None:
    runner = ScriptedRunner(script_of(4, 0.08))
    frames = await collect(runner, SessionState(), chat_interval=0.05)
    shown = [text for _, f, text in frames if f.chat]
    assert [t for t in shown if t][:4] == ["w0 ", "w0 w1 ", "w0 w1 w2 ", "w0 w1 w2 w3 "]


async def test_new_audio_gets_a_frame_at_once() -> None:
    script: list[tuple[float, Event]] = [
        (0.0, STARTED),
        (0.0, chunk(0, "Hi. ", "Hi. ", 1)),
        (0.001, audio(0, "Hi.", 2)),
        (0.0, completed("Hi. ")),
    ]
    frames = await collect(
        ScriptedRunner(script), SessionState(), chat_interval=10, timing_interval=10
    )
    assert any(f.new_audio for _, f, _ in frames)


async def test_stop_closes_the_run_and_sends_one_final_frame() -> None:
    runner = ScriptedRunner(script_of(2, 0.0)[:-1], hang=True)
    state = SessionState()
    frames: list[Frame] = []
    request = TurnRequest(message="hi", voice="none")
    seen = asyncio.Event()

    async def consume() -> None:
        async for frame in drive_turn(cast(TurnRunner, runner), state, request, Credentials()):
            frames.append(frame)
            if state.current and state.current.text == "w0 w1 ":
                seen.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(seen.wait(), 2)
    state.stop()
    await asyncio.wait_for(task, 1)
    assert runner.closed.is_set()
    assert frames[-1].final and sum(f.final for f in frames) == 1
    assert state.shown[-1][1].stopped and state.history[-1].content == "w0 w1 "


async def test_clear_during_a_turn_ends_it_without_a_frame_for_the_old_turn() -> None:
    runner = ScriptedRunner(script_of(1, 0.0)[:-1], hang=True)
    state = SessionState()
    frames: list[Frame] = []
    request = TurnRequest(message="hi", voice="none")
    seen = asyncio.Event()

    async def consume() -> None:
        async for frame in drive_turn(cast(TurnRunner, runner), state, request, Credentials()):
            frames.append(frame)
            if state.current and state.current.text:
                seen.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(seen.wait(), 2)
    state.clear()
    await asyncio.wait_for(task, 1)
    assert runner.closed.is_set() and not any(f.final for f in frames)
    assert state.history == [] and state.shown == []


async def test_a_request_that_cannot_start_becomes_an_error_in_the_chat() -> None:
    class Refusing(ScriptedRunner):
        def prepare(self, request: TurnRequest, creds: Credentials) -> object:
            raise ConfigError("history has 300 messages; the limit is 200", field="history")

    state = SessionState()
    frames = await collect(Refusing([]), state)
    assert [f.final for _, f, _ in frames] == [True]
    text = texts(view.chat_messages(state.shown)[-1])
    assert "History has 300 messages" in text and "Clear" in text


async def test_an_unavailable_model_tells_the_user_to_set_or_paste_a_key() -> None:
    services = make_test_services()  # no OPENAI_API_KEY
    try:
        state = SessionState()
        request = TurnRequest(message="hi", model="openai:gpt-4o", voice="none")
        runner = TurnRunner(services)
        frames = [f async for f in drive_turn(runner, state, request, services.server_credentials)]
        assert frames[-1].final
        (user, answer) = view.chat_messages(state.shown)
        text = texts(answer)
        assert "OPENAI_API_KEY" in text and "paste" in text and "Session keys" in text
        error = state.shown[-1][1].errors[0]
        assert error.code == "missing_key"
    finally:
        await services.aclose()


def test_missing_key_errors_are_recognised() -> None:
    assert request_error_code(MissingKeyError("no key")) == "missing_key"
    assert request_error_code(ConfigError("too long", field="message")) == "message_limit"
    assert request_error_code(ConfigError("unknown prompt", field="prompt")) == "config"
