"""Turn events <-> wire form (``playground.turn.wire``): every event type survives the round
trip, ``TurnDetails`` is written in the contract's key order, and the ``completion-end`` frames
of real detail-rich turns (through the HTTP API and the real runner) keep that order."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from playground.checks.reports import (
    GuardrailReport,
    InterceptionReport,
    PostProcessingReport,
    StreamingGuardrailReport,
)
from playground.pricing.table import Cost
from playground.providers.base import Usage
from playground.server import build_app
from playground.speech.wav import pcm_to_wav
from playground.turn.events import (
    AudioReady,
    DisabledFeature,
    Event,
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
from playground.turn.state import TurnState
from playground.turn.wire import (
    details_from_payload,
    details_payload,
    event_from_payload,
    event_payload,
    events_from_wire,
)
from tests.fakes.openai_server import FakeOpenAI, Reply, ToolCallSpec
from tests.support import live_server, make_test_services, stream_events

TIMING = TimingSummary(120.0, 450.5, 3, 900.25, 30, 33.3, 8.0, 1, 100.0)
FULL_DETAILS = TurnDetails(
    guardrail=GuardrailReport("local", True, "mask", "pii.email", "pii", "masked 1 email address"),
    interception=InterceptionReport("rewrite", ("appended disclaimer",)),
    post_processing=PostProcessingReport(False, ("$.name: 3 is not of type 'string'",)),
    checks_ms=1.25,
    streaming_guardrail=StreamingGuardrailReport(
        True, 2, "violence.words", "violence", "block", "blocked by rule violence.words"
    ),
    exit_fields={"order_number": "A1001", "email": "ada@example.com"},
)
END_BASE_KEYS = ["text", "finish_reason", "usage", "timing", "cost", "exit_path"]


def every_event_type() -> list[Event]:
    """One run touching every event type and every optional field the wire carries."""
    return [
        TurnStarted(
            "turn_1",
            "openai:gpt-4o-mini",
            "support-agent@2",
            "agent",
            True,
            "deepgram:aura-2-thalia-en",
            (
                DisabledFeature("tool_calling", "off", "use the agent node"),
                DisabledFeature("x", "y"),
            ),
        ),
        TextChunk("Hel", "Hel", 0, 10.0, 10.0),
        TextChunk("lo. ", "Hello. ", 1, 20.5, 10.5),
        ToolCallDone("c1", "calculator", {"expression": "6*7"}, 30.0),
        ToolCallDone("c2", "calculator", {}, 31.0, raw_arguments="{bad", error="not JSON"),
        ToolResult("c1", "calculator", "42", 40.0, 9.5),
        ToolResult("c2", "calculator", "bad arguments", 41.0, 0.5, is_error=True),
        AudioReady(0, 24000, pcm_to_wav(b"\x01\x02" * 240, 24000), "Hello.", 50.0, 12.0, 10.0),
        StructuredOutput({"name": "Ada"}, True, (), (), final=False),
        StructuredOutput({"name": 3}, True, ("$.name: not a string",), ("$.topics",), final=True),
        TextReplaced("[withheld]", "blocked by rule violence.words"),
        TextChunk(" more", "[withheld] more", 2, 60.0, 39.5),
        TurnFailed("auth", "the key was rejected", False, stage="tts"),
        TurnFailed("schema", "no match", True, stage="post"),
        TurnFailed("server", "upstream broke", True, stage="llm"),
        TurnFailed("tool", "the tool broke", False, stage="tool"),
        TurnFailed("config", "bad prompt", False, stage="request"),
        TurnCompleted(
            "[withheld] more",
            "content_filter",
            Usage(9, 4, 13, cached_tokens=2),
            TIMING,
            exit_path="order_resolved",
            details=FULL_DETAILS,
            cost=Cost(usd=3e-6, input_usd=1e-6, output_usd=2e-6, price_as_of="2025-08-07"),
        ),
    ]


def test_every_event_survives_the_round_trip() -> None:
    events = every_event_type()
    wire = [event_payload(e) for e in events]
    # Through JSON, as the frames and stored notebooks carry them.
    frames = [(name, json.loads(json.dumps(data))) for name, data in wire]
    back = events_from_wire(frames)
    assert len(back) == len(events)
    for original, restored in zip(events, back, strict=True):
        assert restored == original
        assert event_payload(restored) == event_payload(original)


def test_a_completed_turn_without_details_or_usage_round_trips() -> None:
    plain = TurnCompleted("hi", "stop", None, TIMING)
    name, data = event_payload(plain)
    assert list(data) == END_BASE_KEYS
    assert event_from_payload(name, data) == plain


def test_the_end_frame_reads_back_as_nothing_and_unknown_names_are_refused() -> None:
    assert event_from_payload("end", {}) is None
    assert events_from_wire([("end", {})]) == []
    with pytest.raises(ValueError, match="not a turn event name"):
        event_from_payload("completion-middle", {})


def test_details_are_written_in_the_contract_order_and_absent_ones_stay_absent() -> None:
    data = details_payload(FULL_DETAILS)
    assert list(data) == [
        "guardrail",
        "interception",
        "post_processing",
        "checks_ms",
        "streaming_guardrail",
        "exit_fields",
    ]
    assert list(data["guardrail"]) == ["engine", "flagged", "action", "rule", "category", "reason"]
    assert list(data["streaming_guardrail"]) == [
        "flagged",
        "checks",
        "rule",
        "category",
        "action",
        "reason",
    ]
    passed = TurnDetails(streaming_guardrail=StreamingGuardrailReport(False, 3))
    assert details_payload(passed) == {"streaming_guardrail": {"flagged": False, "checks": 3}}
    assert details_payload(TurnDetails()) == {}
    assert details_from_payload(data) == FULL_DETAILS


def test_turn_state_folds_a_wire_log_like_the_events() -> None:
    events = every_event_type()
    live = TurnState()
    for event in events:
        live.handle(event)
    recorded = TurnState.from_wire(event_payload(e) for e in events)
    assert recorded == live
    assert recorded.text == "[withheld] more"
    assert [(t.call.call_id, t.result and t.result.output) for t in recorded.tools] == [
        ("c1", "42"),
        ("c2", "bad arguments"),
    ]


# -- the completion-end frames of real turns --------------------------------------------------


@pytest.fixture
def api(fake_openai: FakeOpenAI) -> Iterator[str]:
    services = make_test_services(
        openai_base_url=fake_openai.base_url,
        playground_compatible_models="fake-model",
        playground_resume_grace_s=0,
    )
    with live_server(build_app(services, warm_up=False)) as url:
        yield url


def end_of(url: str, body: dict[str, Any]) -> dict[str, Any]:
    _, events = stream_events(url, {"model": "compatible:fake-model", "voice": "none", **body})
    ends = [e.data for e in events if e.event == "completion-end"]
    assert len(ends) == 1, [e.event for e in events]
    data: dict[str, Any] = ends[0]
    return data


def test_streaming_off_with_every_whole_reply_check_keeps_the_key_order(
    api: str, fake_openai: FakeOpenAI
) -> None:
    fake_openai.enqueue(Reply(chunks=['{"name": "ada@example.com", ', '"topics": ["billing"]}']))
    end = end_of(
        api,
        {
            "message": "Extract.",
            "prompt": "json-extractor@2",
            "streaming": False,
            "features": {"guardrails": True, "interception": True, "post_processing": True},
        },
    )
    assert list(end) == [
        *END_BASE_KEYS,
        "guardrail",
        "interception",
        "post_processing",
        "checks_ms",
    ]
    assert list(end["guardrail"]) == ["engine", "flagged", "action", "rule", "category", "reason"]
    assert list(end["interception"]) == ["action", "changes"]
    assert list(end["post_processing"]) == ["valid", "errors"]


def test_a_streaming_guardrail_turn_reports_its_checks_last(
    api: str, fake_openai: FakeOpenAI
) -> None:
    fake_openai.enqueue(Reply(chunks=["Octopuses ", "have three ", "hearts. "]))
    end = end_of(api, {"message": "hi", "features": {"streaming_guardrail": True}})
    assert list(end) == [*END_BASE_KEYS, "streaming_guardrail"]
    assert list(end["streaming_guardrail"]) == ["flagged", "checks"]
    assert end["streaming_guardrail"]["flagged"] is False


def test_an_agent_exit_reports_its_fields_last(api: str, fake_openai: FakeOpenAI) -> None:
    arguments = '{"path": "order_resolved", "fields": {"order_number": "A1", "email": "a@b.io"}}'
    fake_openai.enqueue(
        Reply(chunks=[], tool_calls=[ToolCallSpec("exit_path", arguments, call_id="x1")])
    )
    history = [
        {"role": "user", "content": "My order is A1"},
        {"role": "assistant", "content": "What is your email address?"},
    ]
    end = end_of(
        api,
        {"message": "a@b.io", "prompt": "support-agent@2", "node": "agent", "history": history},
    )
    assert end["finish_reason"] == "exit_path"
    assert list(end) == [*END_BASE_KEYS, "exit_fields"]
    assert list(end["exit_fields"]) == ["order_number", "email"]
