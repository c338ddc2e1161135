"""Unit tests for the UI's pure rendering (``view``) and its per-session state and driver."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import math
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import gradio as gr
import pytest
import yaml
from gradio.components import Component
from gradio.state_holder import SessionState as GradioSession
from gradio.utils import diff as gradio_diff

from playground.catalog import Credentials
from playground.checks.streaming_guardrail import LIMITS
from playground.errors import ConfigError, MissingKeyError
from playground.prompts.library import ExitPath, PromptFile, PromptLibrary, load_prompt_library
from playground.turn.events import (
    AudioReady,
    DisabledFeature,
    Event,
    ReasoningChunk,
    StructuredOutput,
    TextChunk,
    TextReplaced,
    TimingSummary,
    ToolCallDone,
    ToolResult,
    TurnCompleted,
    TurnFailed,
    TurnStarted,
)
from playground.turn.request import TurnRequest
from playground.turn.runner import TurnRunner
from playground.turn.state import TurnState
from playground.turn.wire import details_from_payload
from playground.ui.app import build_ui
from playground.ui.live_turns import LiveTurns
from playground.ui.outputs import TurnSlots
from playground.ui.render import chat_view, panel_view, prompt_view, timing_view
from playground.ui.session import Frame, SessionState, drive_turn, request_error_code
from playground.ui.turn_outputs import TurnOutputs
from playground.ui.wire import wire_value
from tests.support import make_test_services

STARTED = TurnStarted("turn_1", "openai:gpt-4o-mini", "default-prompt-node@1", "prompt", True, None)
META = "<sub>default-prompt-node@1 · openai:gpt-4o-mini · prompt node</sub>"


def chunk(seq: int, text: str, snapshot: str, t_ms: float, gap_ms: float = 10.0) -> TextChunk:
    return TextChunk(text, snapshot, seq, t_ms, gap_ms)


def completed(
    text: str,
    finish_reason: str = "stop",
    *,
    details: dict[str, Any] | None = None,
    exit_path: str | None = None,
) -> TurnCompleted:
    timing = TimingSummary(
        ttft_ms=12.0,
        ttfa_ms=None,
        chunks=2,
        total_ms=250.0,
        characters=len(text),
        chars_per_s=40.0,
        tokens_per_s=8.0,
    )
    return TurnCompleted(
        text=text,
        finish_reason=finish_reason,
        usage=None,
        timing=timing,
        exit_path=exit_path,
        details=details_from_payload(details or {}),
    )


def audio(seq: int, text: str, t_ms: float) -> AudioReady:
    return AudioReady(seq, 22050, b"RIFF....WAVE", text, t_ms, synth_ms=50.0, duration_ms=900.0)


def turn_of(*events: Event) -> TurnState:
    turn = TurnState()
    for event in events:
        turn.handle(event)
    return turn


def texts(message: dict[str, Any]) -> str:
    return "".join(part["text"] for part in message["content"])


# -- chat_view.chat_messages -----------------------------------------------------------------------


def test_chat_messages_shows_past_turns_then_the_live_one_as_text_parts() -> None:
    past = turn_of(STARTED, chunk(0, "Hi", "Hi", 5), completed("Hi"))
    live = turn_of(STARTED, chunk(0, "Wor", "Wor", 5))
    messages = chat_view.chat_messages([("hello", past)], ("more", live))
    assert [(m["role"], texts(m)) for m in messages] == [
        ("user", "hello"),
        ("assistant", f"Hi\n\n{META}"),
        ("user", "more"),
        ("assistant", "Wor"),
    ]
    # Content as text parts (never bare strings, which Gradio dedents).
    assert all(m["content"][0]["type"] == "text" for m in messages)


def test_a_turn_waiting_for_its_first_chunk_shows_a_placeholder() -> None:
    messages = chat_view.chat_messages([], ("hello", turn_of(STARTED)))
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
    messages = chat_view.chat_messages([("12*7?", turn)])
    assert [texts(m) for m in messages[1:2]] == ["Let me compute. "]
    tool = messages[2]
    assert tool["metadata"]["title"] == "Tool call: calculator"
    assert tool["metadata"]["status"] == "done"
    assert tool["metadata"]["duration"] == 0.002
    assert '"expression": "12*7"' in texts(tool) and "84" in texts(tool)
    assert texts(messages[3]) == f"It is 84.\n\n{META}"
    assert "metadata" not in messages[3]


def test_thinking_streams_open_above_the_answer_then_collapses_when_the_answer_starts() -> None:
    thinking = turn_of(
        STARTED, ReasoningChunk("The user ", 0, 10.0), ReasoningChunk("wants a poem.", 1, 30.0)
    )
    live = chat_view.chat_messages([], ("Poem?", thinking))
    block = live[1]
    assert block["metadata"] == {"title": "Thinking", "status": "pending"}
    assert texts(block) == "The user wants a poem."
    thinking.handle(chunk(0, "Roses", "Roses", 530.0))
    answered = chat_view.chat_messages([], ("Poem?", thinking))
    assert answered[1]["metadata"] == {"title": "Thinking", "status": "done", "duration": 0.52}
    assert texts(answered[2]).startswith("Roses"), "the answer follows, never mixed in"
    assert "wants a poem" not in texts(answered[2])


def test_an_agent_thinks_again_before_each_round_in_its_own_block() -> None:
    call = ToolCallDone("c1", "calculator", {"expression": "6*7"}, t_ms=40.0)
    turn = turn_of(
        STARTED,
        ReasoningChunk("Need a tool.", 0, 10.0),
        call,
        ToolResult("c1", "calculator", "42", t_ms=45.0, duration_ms=2.0),
        ReasoningChunk("Now answer.", 1, 60.0),
        chunk(0, "It is 42.", "It is 42.", 90.0),
        completed("It is 42."),
    )
    messages = chat_view.chat_messages([("6*7?", turn)])
    titles = [m.get("metadata", {}).get("title") for m in messages[1:]]
    assert titles == ["Thinking", "Tool call: calculator", "Thinking", None]
    assert turn.thinking_bands() == [(10.0, 40.0), (60.0, 90.0)]


def test_the_charts_and_summary_show_thinking_apart() -> None:
    timing = TimingSummary(10.0, None, 1, 600.0, 5, None, None, ttfat_ms=530.0, reasoning_ms=520.0)
    turn = turn_of(
        STARTED,
        ReasoningChunk("Hmm.", 0, 10.0),
        chunk(0, "Roses", "Roses", 530.0),
        TurnCompleted("Roses", "stop", None, timing),
    )
    chart = timing_view.arrival_html(turn)
    assert chart.count("class='sp-thinking'") == 1 and ">thinking<" in chart
    summary = panel_view.timing_summary(turn)
    assert "First answer token" in summary and "530" in summary and "Thinking" in summary
    plain = turn_of(STARTED, chunk(0, "Hi", "Hi", 5.0), completed("Hi"))
    assert "sp-thinking" not in timing_view.arrival_html(plain)
    assert "First answer token" not in panel_view.timing_summary(plain)


def test_a_running_or_failed_tool_call_says_so() -> None:
    call = ToolCallDone("c1", "calculator", {}, t_ms=10.0, raw_arguments="{oops", error="not JSON")
    running = chat_view.chat_messages([], ("q", turn_of(STARTED, call)))
    assert running[1]["metadata"]["status"] == "pending"
    assert "not JSON" in texts(running[1]) and "{oops" in texts(running[1])
    failed = turn_of(STARTED, call, ToolResult("c1", "calculator", "bad", 12.0, 1.0, True))
    assert chat_view.chat_messages([], ("q", failed))[1]["metadata"]["title"].endswith("failed")


def test_tool_output_cannot_break_out_of_its_code_block() -> None:
    call = ToolCallDone("c1", "echo", {}, t_ms=10.0)
    result = ToolResult("c1", "echo", "```\n# not a heading", 11.0, 1.0)
    body = texts(chat_view.chat_messages([], ("q", turn_of(STARTED, call, result)))[1])
    assert "````text\n```\n# not a heading\n````" in body


def test_errors_say_what_happened_and_what_to_do() -> None:
    turn = turn_of(
        STARTED,
        chunk(0, "Part", "Part", 5),
        TurnFailed("rate_limit", "upstream is busy", retryable=True),
        TurnFailed("auth", "the Deepgram key was rejected", retryable=False, stage="tts"),
        completed("Part", finish_reason="error"),
    )
    text = texts(chat_view.chat_messages([], ("q", turn))[-1])
    assert text.startswith("Part\n\n")
    assert "**Error:** Upstream is busy." in text
    assert "**What to do:** Wait a moment" in text
    assert "**Voice:** The Deepgram key was rejected." in text
    assert "Session keys" in text


def test_a_stopped_turn_keeps_its_partial_answer_and_says_it_was_stopped() -> None:
    turn = turn_of(STARTED, chunk(0, "Half an ans", "Half an ans", 5))
    turn.stopped = True
    text = texts(chat_view.chat_messages([], ("q", turn))[-1])
    assert text.startswith("Half an ans") and "Stopped" in text


def test_replacements_and_token_limits_are_noted() -> None:
    turn = turn_of(
        STARTED,
        chunk(0, "bad words", "bad words", 5),
        TextReplaced("[removed]", "flagged: harassment"),
        completed("bad words", finish_reason="length"),
    )
    text = texts(chat_view.chat_messages([], ("q", turn))[-1])
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
    assert expected in chat_view.error_note(TurnFailed(code, "x", retryable=False))


# -- timing_view and panel_view.timing_summary ------------------------------------------------


def _points(svg: str, css_class: str) -> list[tuple[float, float]]:
    match = re.search(rf"class='{css_class}'[^>]*points='([^']*)'", svg)
    assert match, f"no {css_class} line in the chart"
    return [(float(x), float(y)) for x, y in (p.split(",") for p in match.group(1).split())]


def test_nice_ticks_are_round_and_cover_the_data() -> None:
    assert timing_view.nice_ticks(3400, 8) == [0, 500, 1000, 1500, 2000, 2500, 3000, 3500]
    assert timing_view.nice_ticks(100) == [0, 20, 40, 60, 80, 100]
    assert timing_view.nice_ticks(7) == [0, 2, 4, 6, 8]
    for top in (0.3, 1, 42.5, 999, 1001, 123456):
        ticks = timing_view.nice_ticks(top)
        assert ticks[0] == 0 and ticks[-1] >= top and len(ticks) <= 7
        step = ticks[1]
        assert step / 10 ** math.floor(math.log10(step)) in (1, 2, 2.5, 5)
    # Counts (characters, chunks) have whole ticks only; anything unusable gets a unit axis.
    assert timing_view.nice_ticks(2, whole=True) == [0, 1, 2]
    assert timing_view.nice_ticks(11, whole=True) == [0, 5, 10, 15]
    assert timing_view.nice_ticks(float("nan")) == timing_view.nice_ticks(1.0)
    assert timing_view.nice_ticks(-5) == timing_view.nice_ticks(1.0)


def test_tick_labels_have_the_decimals_their_step_needs() -> None:
    assert timing_view.tick_labels([0, 500, 1000]) == ["0", "500", "1,000"]
    assert timing_view.tick_labels(timing_view.nice_ticks(1.0, 5)) == [
        "0.00",
        "0.25",
        "0.50",
        "0.75",
        "1.00",
    ]
    assert timing_view.tick_labels(timing_view.nice_ticks(0.05, 5)) == [
        "0.00",
        "0.02",
        "0.04",
        "0.06",
    ]
    # A burst of chunks (every gap under a millisecond) still gets distinct labels.
    svg = timing_view.gap_html(
        turn_of(STARTED, *(chunk(i, "a", "", 100 + i * 0.1, 0.1 if i else 100) for i in range(9)))
    )
    labels = re.findall(r"text-anchor='end'>([^<]*)</text>", svg)
    assert labels == ["0.000", "0.025", "0.050", "0.075", "0.100"]


def test_the_empty_charts_have_axes_and_no_data() -> None:
    for turn in (None, turn_of(STARTED)):
        arrival = timing_view.arrival_html(turn)
        assert "<svg" in arrival and "ms since Send" in arrival and "<polyline" not in arrival
        gaps = timing_view.gap_html(turn)
        assert "chunk seq" in gaps and "sp-gap-bars" not in gaps and "median" not in gaps


def test_the_arrival_chart_draws_text_and_voice_as_staircases() -> None:
    turn = turn_of(
        STARTED,
        chunk(0, "Hello. ", "Hello. ", 100),
        chunk(1, "Bye.", "Hello. Bye.", 250),
        audio(0, "Hello.", 400),
    )
    svg = timing_view.arrival_html(turn)
    frame = timing_view.ChartFrame(
        timing_view.ARRIVAL_H,
        timing_view.nice_ticks(400, 8),
        timing_view.nice_ticks(11, whole=True),
    )

    def at(ms: float, chars: float) -> tuple[float, float]:
        return round(frame.x(ms), 1), round(frame.y(chars), 1)

    assert _points(svg, "sp-received") == [
        at(0, 0),
        at(100, 0),
        at(100, 7),
        at(250, 7),
        at(250, 11),
    ]
    assert _points(svg, "sp-voiced") == [at(0, 0), at(400, 0), at(400, 6)]
    assert timing_view.TEXT_SERIES in svg and timing_view.AUDIO_SERIES in svg


def test_a_long_turn_draws_at_most_a_step_per_pixel_column() -> None:
    chunks = [chunk(i, "ab", "", i * 2.0) for i in range(5000)]
    svg = timing_view.arrival_html(turn_of(STARTED, *chunks))
    points = _points(svg, "sp-received")
    assert len(points) <= 2 * 640 + 1
    frame = timing_view.ChartFrame(
        timing_view.ARRIVAL_H, timing_view.nice_ticks(9998, 8), timing_view.nice_ticks(10_000)
    )
    # The end is kept: the full height, in the last step's unit column.
    assert points[-1][1] == round(frame.y(10_000), 1)
    assert int(points[-1][0]) == int(frame.x(9998))
    assert len(svg) < 40_000
    bars = timing_view.gap_html(turn_of(STARTED, *chunks))
    path = re.search(r"class='sp-gap-bars' d='([^']*)'", bars)
    assert path is not None and path.group(1).count("M") <= 640 and len(bars) < 40_000


def test_the_gap_chart_has_a_bar_per_chunk_after_the_first_and_the_median() -> None:
    assert "sp-gap-bars" not in timing_view.gap_html(turn_of(STARTED, chunk(0, "a", "a", 300, 300)))
    turn = turn_of(
        STARTED,
        chunk(0, "a", "a", 300, 300),
        chunk(1, "b", "ab", 340, 40),
        chunk(2, "c", "abc", 400, 60),
        chunk(3, "d", "abcd", 500, 100),
    )
    svg = timing_view.gap_html(turn)
    frame = timing_view.ChartFrame(
        timing_view.GAP_H,
        timing_view.nice_ticks(timing_view.GAP_MIN_EXTENT, 8),
        timing_view.nice_ticks(100, 5),
    )
    bars = re.search(r"class='sp-gap-bars' d='([^']*)'", svg)
    assert bars is not None
    base = frame.y(0)
    assert bars.group(1) == "".join(
        f"M{frame.x(seq):.1f} {base:.1f}V{frame.y(gap):.1f}"
        for seq, gap in ((1, 40), (2, 60), (3, 100))
    )  # the first chunk's 300 ms (its TTFT) is not a bar
    assert "median 60.0 ms" in svg


def test_the_timing_table_has_a_row_per_chunk_and_only_ever_grows_at_its_end() -> None:
    assert timing_view.table_html(None) == timing_view.TABLE_HEAD
    first = turn_of(STARTED, chunk(0, "ab", "ab", 10.04, 10.04))
    both = turn_of(STARTED, chunk(0, "ab", "ab", 10.04, 10.04), chunk(1, "cde", "abcde", 30, 19.96))
    one, two = timing_view.table_html(first), timing_view.table_html(both)
    assert two.endswith("<tr><td>1</td><td>30.0</td><td>20.0</td><td>3</td></tr>")
    assert "<tr><td>0</td><td>10.0</td><td>10.0</td><td>2</td></tr>" in one
    # So Gradio streams only the new rows: its diff of the two values is one append.
    assert gradio_diff(one, two) == [["append", [], two[len(one) :]]]  # type: ignore[no-untyped-call]
    headers = re.findall(r"<th>([^<]*)</th>", two)
    assert headers == list(timing_view.TABLE_HEADERS)


def test_a_long_turn_lists_its_first_chunks_and_says_so_once() -> None:
    cap = timing_view.TABLE_MAX_ROWS
    at_cap = timing_view.table_html(turn_of(STARTED, *(chunk(i, "a", "", i) for i in range(cap))))
    assert at_cap.count("<tr><td>") == cap and "sp-more" not in at_cap
    over = timing_view.table_html(turn_of(STARTED, *(chunk(i, "a", "", i) for i in range(cap + 1))))
    far = timing_view.table_html(turn_of(STARTED, *(chunk(i, "a", "", i) for i in range(3 * cap))))
    assert over == far == at_cap + timing_view.TABLE_MORE  # still an append, and only once
    assert f"first {cap} chunks" in far


def test_the_summary_shows_ttft_and_total_once_done() -> None:
    assert "Send a message" in panel_view.timing_summary(None)
    streaming = turn_of(STARTED, chunk(0, "a", "a", 12.3))
    assert "streaming" in panel_view.timing_summary(
        streaming
    ) and "12 ms" in panel_view.timing_summary(streaming)
    done = panel_view.timing_summary(turn_of(STARTED, chunk(0, "a", "a", 12.0), completed("a")))
    assert "TTFT" in done and "Total" in done and "250 ms" in done and "done" in done
    refused = turn_of(TurnFailed("missing_key", "no key", False, stage="request"))
    assert "Not sent" in panel_view.timing_summary(refused)


def test_the_summary_escapes_what_it_shows() -> None:
    started = TurnStarted("t", "compatible:<b>x</b>", "p@1", "prompt", True, None)
    assert "<b>x</b>" not in panel_view.timing_summary(turn_of(started))


def test_audio_feed_sends_only_new_pieces() -> None:
    pieces = [audio(0, "One.", 10), audio(1, "Two.", 20)]
    feed = json.loads(panel_view.audio_feed("turn_1", pieces, 1))
    assert feed["turn"] == "turn_1"
    assert [(p["seq"], p["text"]) for p in feed["pieces"]] == [(1, "Two.")]


def test_capability_notes_and_reasons() -> None:
    off = DisabledFeature("guardrails", "Needs the complete reply.", "Turn streaming off.")
    tools_off = DisabledFeature("tool_calling", "Prompt Nodes answer in one pass.", "Use Agent.")
    notes = panel_view.capability_notes([off, tools_off], has_tools=True)
    assert "Guardrails" in notes and "Tool calling:** off. Prompt Nodes" in notes
    assert "Use Agent." in notes
    assert "no tools" in panel_view.capability_notes([], has_tools=False)
    assert "available" in panel_view.capability_notes([], has_tools=True)
    assert (
        panel_view.disabled_info(off)
        == "Disabled: Needs the complete reply. Instead: Turn streaming off."
    )


# -- notes: version, options, exit path ---------------------------------------------------------


def last_text(turn: TurnState) -> str:
    return texts(chat_view.chat_messages([("q", turn)])[-1])


def test_a_finished_answer_records_its_prompt_version_model_and_node() -> None:
    streaming = turn_of(STARTED, chunk(0, "Hi", "Hi", 5))
    assert "default-prompt-node@1" not in last_text(streaming)  # not while it streams
    done = turn_of(STARTED, chunk(0, "Hi", "Hi", 5), completed("Hi"))
    assert last_text(done).endswith(META)
    stopped = turn_of(STARTED, chunk(0, "Hi", "Hi", 5))
    stopped.stopped = True
    assert last_text(stopped).endswith(META)
    # Names that look like markup are shown literally.
    odd = TurnStarted("t", "compatible:<b>x</b>", "p@1", "prompt", True, None)
    assert "\\<b\\>x\\</b\\>" in last_text(turn_of(odd, completed("")))
    # A request that never started has no line.
    refused = turn_of(TurnFailed("config", "bad prompt", False, stage="request"))
    assert "<sub>" not in last_text(refused)


def test_a_streaming_guardrail_retraction_replaces_the_text_and_says_why() -> None:
    reason = "blocked by rule violence.patterns[1] (threats of violence)"
    turn = turn_of(
        STARTED,
        chunk(0, "Here is how to build a bomb", "Here is how to build a bomb", 5),
        chunk(1, ". First", "Here is how to build a bomb. First", 9),
        TextReplaced("This reply was withheld by the content guardrail.", reason),
    )
    live = last_text(turn)  # before the turn has completed
    assert "bomb" not in live
    assert live.startswith("This reply was withheld")
    assert (
        "**Retracted by the streaming guardrail:** blocked by rule violence.patterns\\[1\\]" in live
    )
    turn.handle(
        completed(
            "This reply was withheld by the content guardrail.",
            "content_filter",
            details={
                "streaming_guardrail": {
                    "rule": "violence.patterns[1]",
                    "category": "violence",
                    "action": "block",
                    "reason": reason,
                }
            },
        )
    )
    text = last_text(turn)
    assert "retracted by the streaming guardrail" in panel_view.timing_summary(turn)
    assert "bomb" not in text and "Retracted by the streaming guardrail" in text
    assert "was on screen until its sentence window was checked" in text
    assert text.count("violence.patterns") == 1  # the rule is in the reason already


def test_a_streaming_guardrail_mask_names_its_rule() -> None:
    turn = turn_of(
        STARTED,
        chunk(0, "Mail a@b.io. ", "Mail a@b.io. ", 5),
        TextReplaced("Mail [email removed]. ", "masked 1 email address"),
        completed(
            "Mail [email removed]. ",
            "content_filter",
            details={
                "streaming_guardrail": {
                    "rule": "pii.email",
                    "category": "pii",
                    "action": "mask",
                    "reason": "masked 1 email address",
                }
            },
        ),
    )
    text = last_text(turn)
    assert "a@b.io" not in text
    assert "**Streaming guardrail:** masked 1 email address (rule `pii.email`)" in text


def report(**wire: Any) -> Any:
    """Typed check reports from their wire form, as a finished turn carries them."""
    return details_from_payload(wire)


@pytest.mark.parametrize(
    ("verdict", "expected"),
    [
        (
            {
                "engine": "local",
                "flagged": True,
                "action": "mask",
                "rule": "pii.email",
                "category": "pii",
                "reason": "masked 1 email address",
            },
            "**Guardrail:** masked 1 email address (rule `pii.email`, local rules).",
        ),
        (
            {
                "engine": "openai",
                "flagged": True,
                "action": "block",
                "rule": "openai:harassment",
                "category": "harassment",
                "reason": "blocked by OpenAI moderation (harassment)",
            },
            "**Guardrail:** blocked by OpenAI moderation (harassment) · OpenAI moderation. "
            "The reply was withheld.",
        ),
        (
            {"engine": "local", "flagged": False, "action": None, "rule": None, "reason": ""},
            "**Guardrail:** passed (local rules).",
        ),
    ],
)
def test_guardrail_verdicts_are_noted(verdict: dict[str, Any], expected: str) -> None:
    assert chat_view.guardrail_note(report(guardrail=verdict).guardrail) == expected
    turn = turn_of(STARTED, chunk(0, "x", "x", 1), completed("x", details={"guardrail": verdict}))
    assert expected in last_text(turn)


def test_interception_and_post_processing_are_noted() -> None:
    rewrite = {"action": "rewrite", "changes": ["masked 1 email address", "appended disclaimer"]}
    assert (
        chat_view.interception_note(report(interception=rewrite).interception)
        == "**Intercepted:** masked 1 email address; appended disclaimer."
    )
    block = {"action": "block", "changes": ["blocked by rule private key"]}
    assert chat_view.interception_note(report(interception=block).interception).startswith(
        "**Intercepted:** blocked by rule private key"
    )
    passed = report(interception={"action": "pass", "changes": []}).interception
    assert chat_view.interception_note(passed) == ("**Interception:** no changes.")
    valid = report(post_processing={"valid": True, "errors": []}).post_processing
    assert "✓" in chat_view.post_processing_note(valid)
    details = {"interception": rewrite, "post_processing": {"valid": True, "errors": []}}
    text = last_text(turn_of(STARTED, chunk(0, "x", "x", 1), completed("x", details=details)))
    assert "**Intercepted:**" in text and "matches the output schema" in text


def test_an_invalid_reply_is_reported_once_with_what_to_do() -> None:
    problem = "the reply does not match the output schema: $.name: 3 is not of type 'string'"
    turn = turn_of(
        STARTED,
        chunk(0, '{"name": 3}', '{"name": 3}', 1),
        TurnFailed("schema", problem, retryable=True, stage="post"),
        completed(
            '{"name": 3}',
            details={"post_processing": {"valid": False, "errors": ["$.name: 3 is not..."]}},
        ),
    )
    text = last_text(turn)
    assert text.count("output schema:") == 1
    assert "**Post-processing:** The reply does not match the output schema" in text
    assert "**What to do:**" in text and "Prompt text" in text


def test_the_exit_path_is_shown_with_its_fields_as_literal_text() -> None:
    fields = {"order_number": "A1001", "email": "ada@example.com", "note": "x`y <b>z</b>"}
    turn = turn_of(
        STARTED,
        chunk(0, "Resolved.", "Resolved.", 1),
        completed(
            "Resolved.",
            "exit_path",
            exit_path="order_resolved",
            details={"exit_fields": fields},
        ),
    )
    text = last_text(turn)
    assert (
        "**Exit path:** `order_resolved` · order\\_number=`A1001`, email=`ada@example.com`, "
        "note=``x`y <b>z</b>``" in text
    )
    long = chat_view.exit_note("p", {"text": "a" * 200, "n": 3})
    assert "…" in long and "n=`3`" in long and len(long) < 120


def test_notes_escape_markup_in_reasons() -> None:
    verdict = {
        "engine": "local",
        "flagged": True,
        "action": "mask",
        "rule": "x",
        "reason": "<img src=x onerror=alert(1)> [link](javascript:1)",
    }
    note = chat_view.guardrail_note(report(guardrail=verdict).guardrail)
    assert re.search(r"(?<!\\)[<>\[\]]", note) is None  # every one escaped
    assert "\\<img" in note and "\\[link\\]" in note


def test_audio_stop_feed_names_the_turn() -> None:
    assert json.loads(panel_view.audio_stop_feed("turn_1", "Retracted.")) == {
        "turn": "turn_1",
        "pieces": [],
        "stop": "Retracted.",
    }


def test_error_html_escapes_and_keeps_the_hint() -> None:
    out = chat_view.error_html(TurnFailed("missing_key", "<b>no key</b>", retryable=False))
    assert "<b>no key</b>" not in out and "&lt;b&gt;no key&lt;/b&gt;" in out
    assert "<b>Session keys</b>" in out


# -- prompt card and version diff ---------------------------------------------------------------


@pytest.fixture(scope="module")
def library() -> PromptLibrary:
    return load_prompt_library(Path(__file__).resolve().parent.parent / "prompts")


def test_the_prompt_card_shows_tools_exit_paths_and_the_schema(library: PromptLibrary) -> None:
    agent = prompt_view.prompt_card(library.prompts["support-agent"][2])
    assert "`support-agent@2`" in agent and "agent node" in agent
    assert "**Tools:** `order_status`, `kb_search`" in agent
    assert "- `order_resolved`:" in agent and "Requires: `order_number`, `email`." in agent
    assert "- `handoff_to_human`:" in agent and "Requires: `email`." in agent
    assert "**Output schema:** none" in agent and "You are {{agent_name}}" in agent
    extractor = prompt_view.prompt_card(library.prompts["json-extractor"][1])
    assert '```json\n{\n  "type": "object",' in extractor  # pretty-printed
    assert '"maxItems": 5' in extractor and "**Exit paths:** none" in extractor


def test_the_prompt_file_text_holds_every_field(library: PromptLibrary) -> None:
    for prompt in library.all():
        text = prompt_view.prompt_file_text(prompt)
        assert text.startswith(f"id: {prompt.id}\nversion: {prompt.version}\n")
        loaded = yaml.safe_load(text)
        assert PromptFile.model_validate(loaded) == prompt
    system = prompt_view.prompt_file_text(library.prompts["summariser"][1])
    assert "system: |\n  You summarise text for {{audience}}." in system  # a block, like the file


def test_the_version_diff_marks_changed_lines_and_words(library: PromptLibrary) -> None:
    v1, v2 = library.prompts["summariser"][1], library.prompts["summariser"][2]
    out = prompt_view.prompt_diff(v1, v2)
    assert "summariser@1 → summariser@2" in out
    assert "<tr class='sp-d-del' aria-label='removed'>" in out
    assert "<tr class='sp-d-ins' aria-label='added'>" in out
    assert "version: <del>1</del>" in out and "version: <ins>2</ins>" in out
    assert "<ins>in exactly this shape and nothing else:</ins>" in out
    assert "  - &lt;the main point&gt;" in out  # prompt text is escaped
    removed = out.count("sp-d-del'")
    added = out.count("sp-d-ins'")
    assert f"{removed} lines removed, {added} added" in out
    same = prompt_view.prompt_diff(v2, v2)
    assert "same version" in same and "<table" not in same


def test_the_version_diff_escapes_everything() -> None:
    base = {"id": "x", "title": "X", "node": "prompt", "format": "v2"}
    old = PromptFile(version=1, system="Say hi.", **base)
    new = PromptFile(
        version=2,
        system="Say <script>alert(1)</script> & <img src=x onerror=alert(2)>.",
        exit_paths=(ExitPath(name="done", description="<b>bold</b>"),),
        **base,
    )
    out = prompt_view.prompt_diff(old, new)
    without_our_tags = re.sub(
        r"</?(?:div|b|span|table|tr|td|del|ins)(?: class='[^']*'(?: aria-label='[^']*')?)?>",
        "",
        out,
    )
    assert "<" not in without_our_tags and ">" not in without_our_tags
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out and "&amp;" in out


# -- structured output panel ---------------------------------------------------------------------


def structured(
    value: Any,
    *,
    complete: bool = False,
    errors: tuple[str, ...] = (),
    pending: tuple[str, ...] = (),
    final: bool = False,
) -> StructuredOutput:
    return StructuredOutput(value, complete, errors, pending, final)


def test_the_structured_panel_fills_in_and_ends_with_a_verdict() -> None:
    assert "fills in here" in panel_view.structured_status(None, None)
    assert panel_view.structured_value(None) is None
    running = turn_of(STARTED)
    assert "Waiting" in panel_view.structured_status(running, None)
    partial = structured({"name": "Ada"}, pending=("$: 'email' is a required property",))
    assert panel_view.structured_value(partial) == {"name": "Ada"}
    status = panel_view.structured_status(running, partial)
    assert "sp-wait" in status and "Pending: $: &#x27;email&#x27; is a required property" in status
    wrong = structured({"name": 3}, errors=("$.name: 3 is not of type 'string'",))
    assert "sp-bad" in panel_view.structured_status(running, wrong)
    assert "Errors so far" in panel_view.structured_status(running, wrong)
    whole = structured({"name": "Ada"}, complete=True)
    assert "Valid so far" in panel_view.structured_status(running, whole)
    done = turn_of(STARTED, completed('{"name": "Ada"}'))
    final = structured({"name": "Ada"}, complete=True, final=True)
    assert "sp-ok" in panel_view.structured_status(done, final)
    assert "✓ Valid" in panel_view.structured_status(done, final)
    bad = structured({}, complete=True, pending=("$: 'name' is a required property",), final=True)
    assert "✗ Invalid: $: &#x27;name&#x27;" in panel_view.structured_status(done, bad)


def test_the_structured_panel_says_when_a_turn_ended_early() -> None:
    stopped = turn_of(STARTED)
    stopped.stopped = True
    partial = structured({"name": "Ada"}, pending=("x",))
    assert "Stopped before" in panel_view.structured_status(stopped, partial)
    retracted = turn_of(STARTED, TextReplaced("withheld", "blocked"))
    assert "Retracted" in panel_view.structured_status(retracted, partial)
    assert "Retracted" in panel_view.structured_status(retracted, None)
    nothing = turn_of(STARTED, completed("no json"))
    assert "No JSON" in panel_view.structured_status(nothing, None)
    markup = structured({}, errors=("<img src=x onerror=alert(1)>",))
    assert "<img" not in panel_view.structured_status(turn_of(STARTED), markup)


def test_the_streaming_guardrail_limits_are_shown_as_an_escaped_list() -> None:
    out = panel_view.limits_html(LIMITS)
    assert out.startswith("<details class='sp-limits'>")
    bullets = [line for line in LIMITS.splitlines() if line.startswith("- ")]
    assert out.count("<li>") == len(bullets) >= 3
    assert "It is weaker than the full guardrail:" in out
    assert "<li>x &lt;b&gt; y</li>" in panel_view.limits_html("Intro.\n- x <b> y")
    # A bullet that wraps onto the next line stays one item.
    assert panel_view.limits_html("Intro.\n- one\n  two\n- three").count("<li>") == 2


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


class ScriptedTurn:
    """What ``ScriptedRunner.prepare`` hands out: a turn id, a stop request and the (empty)
    queue answers, as ``PreparedTurn`` has."""

    turn_id = "turn_scripted"

    def __init__(self) -> None:
        self.stopping = asyncio.Event()

    def request_stop(self, *, interrupted: bool = False) -> None:
        self.interrupted = interrupted
        self.stopping.set()

    def busy(self) -> None:
        return None  # a scripted turn never waits for a model

    def queue_positions(self) -> None:
        return None


class ScriptedRunner:
    """Stands in for ``TurnRunner``: replays (delay, event) pairs, records when each left, and
    ends early (like the runner) when its turn is asked to stop."""

    def __init__(self, script: list[tuple[float, Event]], *, hang: bool = False) -> None:
        self.script = script
        self.hang = hang
        self.sent_at: list[float] = []
        self.closed = asyncio.Event()

    def prepare(self, request: TurnRequest, creds: Credentials, client: str = "") -> object:
        return ScriptedTurn()

    async def stream(self, prepared: ScriptedTurn, *, started_at: float) -> AsyncIterator[Event]:
        try:
            for delay, event in self.script:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(prepared.stopping.wait(), delay)
                if prepared.stopping.is_set():
                    return
                self.sent_at.append(time.monotonic())
                yield event
            if self.hang:
                await prepared.stopping.wait()
        finally:
            self.closed.set()


def live_turns_of(runner: ScriptedRunner | TurnRunner) -> LiveTurns:
    return LiveTurns(cast(TurnRunner, runner), notebooks=None, grace_s=0)


def script_of(n: int, gap: float) -> list[tuple[float, Event]]:
    steps: list[tuple[float, Event]] = [(0.0, STARTED)]
    snapshot = ""
    for i in range(n):
        snapshot += f"w{i} "
        steps.append((gap, chunk(i, f"w{i} ", snapshot, 10.0 * i)))
    steps.append((0.0, completed(snapshot)))
    return steps


async def collect(
    runner: ScriptedRunner, state: SessionState, **kwargs: Any
) -> list[tuple[float, Frame, str]]:
    frames = []
    request = TurnRequest(message="hi", voice="none")
    async for frame in drive_turn(
        live_turns_of(runner), state, request, Credentials(), client="ip:test", **kwargs
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
        async for frame in drive_turn(
            live_turns_of(runner), state, request, Credentials(), client="ip:test"
        ):
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
        async for frame in drive_turn(
            live_turns_of(runner), state, request, Credentials(), client="ip:test"
        ):
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
        def prepare(self, request: TurnRequest, creds: Credentials, client: str = "") -> object:
            raise ConfigError("history has 300 messages; the limit is 200", field="history")

    state = SessionState()
    frames = await collect(Refusing([]), state)
    assert [f.final for _, f, _ in frames] == [True]
    text = texts(chat_view.chat_messages(state.shown)[-1])
    assert "History has 300 messages" in text and "Clear" in text


async def test_an_unavailable_model_tells_the_user_to_set_or_paste_a_key() -> None:
    services = make_test_services()  # no OPENAI_API_KEY
    try:
        state = SessionState()
        request = TurnRequest(message="hi", model="openai:gpt-4o", voice="none")
        runner = TurnRunner(services)
        live_turns = live_turns_of(runner)
        frames = [
            f
            async for f in drive_turn(
                live_turns, state, request, services.server_credentials, client="ip:test"
            )
        ]
        assert frames[-1].final
        (user, answer) = chat_view.chat_messages(state.shown)
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


async def test_the_driver_keeps_the_latest_structured_output_for_the_turn() -> None:
    partial = StructuredOutput({"name": "Ada"}, False, (), ("$: 'email' is required",))
    final = StructuredOutput({"name": "Ada", "email": "a@b.io"}, True, (), (), final=True)
    script: list[tuple[float, Event]] = [
        (0.0, STARTED),
        (0.0, chunk(0, '{"name": "Ada",', '{"name": "Ada",', 1)),
        (0.0, partial),
        (0.0, chunk(1, ' "email": "a@b.io"}', '{"name": "Ada", "email": "a@b.io"}', 2)),
        (0.0, final),
        (0.0, completed('{"name": "Ada", "email": "a@b.io"}')),
    ]
    state = SessionState()
    await collect(ScriptedRunner(script), state)
    assert structured_of(state) == final
    state.begin("next")
    assert structured_of(state) is None and not state.audio_stopped


def structured_of(state: SessionState) -> StructuredOutput | None:
    return state.structured  # a call, so the type checker does not carry a narrowed type


def test_spoken_pieces_show_ready_time_synthesis_and_length_escaped() -> None:
    from playground.turn.events import AudioReady, TurnStarted
    from playground.turn.state import TurnState
    from playground.ui.render.panel_view import timing_summary

    turn = TurnState()
    turn.handle(TurnStarted("t1", "local:x", "p@1", "prompt", True, "local:joe"))
    turn.handle(AudioReady(0, 22050, b"", "Hello <b>there</b>.", 812.4, 305.2, 2100.0))
    html_out = timing_summary(turn)
    assert "Spoken pieces" in html_out
    assert "812" in html_out and "305" in html_out and "2.1 s" in html_out
    assert "&lt;b&gt;there&lt;/b&gt;" in html_out and "<b>there</b>" not in html_out


# -- wire values ----------------------------------------------------------------------------------


async def test_the_turns_wire_values_are_what_gradio_would_send() -> None:
    """``/turn`` skips Gradio's postprocessing and sends ``wire_value``s: for every output, a
    frame must reach the page exactly as Gradio's own postprocessing would have sent it."""
    services = make_test_services()
    try:
        runner = TurnRunner(services)
        turns = LiveTurns(runner, notebooks=None, prompts=lambda: services.prompts, grace_s=1.0)
        demo = build_ui(services, runner, turns)
        turn_fn = next(fn for fn in demo.fns.values() if fn.api_name == "turn")
        assert turn_fn.postprocess is False
        turn = turn_of(
            STARTED,
            chunk(0, "Hello ", "Hello ", 100),
            chunk(1, "<b>there</b>", "Hello <b>there</b>", 250, 150),
            audio(0, "Hello there", 400),
        )
        raw = [
            chat_view.chat_messages([], ("hi", turn)),
            panel_view.timing_summary(turn),
            timing_view.arrival_html(turn),
            timing_view.gap_html(turn),
            timing_view.table_html(turn),
            '{"turn": "turn_1", "pieces": []}',
            {"answer": "Hello", "items": [1, 2]},
            "<p>valid</p>",
        ]
        blocks = [cast(Component, block) for block in turn_fn.outputs]
        ours = [wire_value(block, value) for block, value in zip(blocks, raw, strict=True)]
        sent = await demo.postprocess_data(turn_fn, ours, GradioSession(demo))
        as_gradio = copy.copy(turn_fn)
        as_gradio.postprocess = True
        expected = await demo.postprocess_data(as_gradio, raw, GradioSession(demo))
        assert sent == expected
        assert sent[0][-1]["role"] == "assistant"  # and not trivially equal: real content
    finally:
        await services.aclose()


# -- TurnOutputs ----------------------------------------------------------------------------------


def _turn_outputs() -> TurnOutputs:
    with gr.Blocks():
        return TurnOutputs(
            TurnSlots[Component](
                chatbot=gr.Chatbot(),
                summary=gr.HTML(),
                plot=gr.HTML(),
                gaps=gr.HTML(),
                table=gr.HTML(),
                audio_feed=gr.Textbox(),
                structured_json=gr.JSON(),
                structured_status=gr.HTML(),
            )
        )


CHAT_ONLY = Frame(chat=True, timing=False, new_audio=False, final=False)
TIMING = Frame(chat=False, timing=True, new_audio=False, final=False)
AUDIO = Frame(chat=False, timing=False, new_audio=True, final=False)


def test_a_turns_frames_send_each_output_again_as_it_was_until_it_changes() -> None:
    outputs, state = _turn_outputs(), SessionState()
    turn = state.begin("hi")
    turn.handle(STARTED)
    first = outputs.render(state, CHAT_ONLY).ordered()
    assert len(first) == 8 and first[0][0]["content"][0]["text"] == "hi"
    fresh = outputs.initial(SessionState())
    assert first[2:5] == (fresh.plot, fresh.gaps, fresh.table)  # a fresh panel
    turn.handle(chunk(0, "Hello", "Hello", 120, 120))
    second = outputs.render(state, CHAT_ONLY).ordered()
    assert second[0] is not first[0] and second[0][-1]["content"][0]["text"] == "Hello"
    assert all(a is b for a, b in zip(second[1:], first[1:], strict=True))  # resent as they were
    timed = outputs.render(state, TIMING)
    assert timed.chatbot is second[0]
    assert "<td>120.0</td>" in timed.table and "sp-received" in timed.plot
    assert "120 ms" in timed.summary
    assert timed.ordered()[5:] == second[5:]


def test_each_value_goes_to_its_own_component_whatever_the_order() -> None:
    """The values come out in the components' order, by name: a ``/turn`` frame's plot is the
    plot's value even though the components are listed, not indexed, anywhere."""
    outputs, state = _turn_outputs(), SessionState()
    turn = state.begin("hi")
    turn.handle(STARTED)
    turn.handle(chunk(0, "Hello", "Hello", 120, 120))
    values = outputs.render(state, TIMING)
    by_component = dict(zip(outputs.components(), values.ordered(), strict=True))
    assert by_component[outputs.slots.plot] is values.plot and "sp-received" in values.plot
    assert by_component[outputs.slots.table] is values.table and "<td>120.0</td>" in values.table
    assert by_component[outputs.slots.chatbot] is values.chatbot


def test_each_audio_feed_repeats_the_two_pieces_before_its_new_ones() -> None:
    """A busy page can get two feeds in one tick and see only the last; the overlap keeps the
    piece the first one carried (the player skips pieces it has)."""
    outputs, state = _turn_outputs(), SessionState()
    turn = state.begin("hi")
    turn.handle(TurnStarted("turn_1", "m", "p@1", "prompt", True, "local:joe"))
    seqs = []
    for seq in range(4):
        turn.handle(audio(seq, f"Piece {seq}.", 300))
        feed = json.loads(outputs.render(state, AUDIO).audio_feed)
        seqs.append([piece["seq"] for piece in feed["pieces"]])
    assert seqs == [[0], [0, 1], [0, 1, 2], [1, 2, 3]]


def test_audio_goes_out_once_per_piece_and_retracted_text_stops_the_voice() -> None:
    outputs, state = _turn_outputs(), SessionState()
    turn = state.begin("hi")
    turn.handle(TurnStarted("turn_1", "m", "p@1", "prompt", True, "local:joe"))
    turn.handle(audio(0, "Hello.", 300))
    fed = outputs.render(state, AUDIO).audio_feed
    assert json.loads(fed)["pieces"][0]["text"] == "Hello." and state.last_feed == fed
    assert outputs.render(state, CHAT_ONLY).audio_feed is fed  # not fed again
    turn.handle(TextReplaced("[removed]", "flagged: harassment"))
    stop = outputs.render(state, CHAT_ONLY).audio_feed
    assert stop != fed and state.audio_stopped
    assert outputs.render(state, AUDIO).audio_feed is stop  # stopped stays stopped
