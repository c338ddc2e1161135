"""Reasoning models over the HTTP API: thinking streams as ``reasoning`` events before the answer,
is timed apart (``ttfat_ms``, ``reasoning_ms``), and never reaches the answer, the voice, the
checks or the output parser; ``reasoning_effort`` is checked per model (422 naming the field).
The real ``openai`` SDK talks to the loopback fake, which scripts the thinking."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from playground.providers.thinking import ThinkSplitter
from playground.reasoning import effort_problem, family_of
from playground.server import build_app
from tests.fakes.deepgram_server import FakeDeepgram
from tests.fakes.openai_server import FakeOpenAI, Reply, ToolCallSpec
from tests.support import SSEEvent, live_server, make_test_services, stream_events

THINKING = ["The user wants", " a greeting;", " keep it short."]
ANSWER = ["Hello", " there. ", "How can I help?"]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def deepgram() -> Iterator[FakeDeepgram]:
    with FakeDeepgram(synthesis_delay=0.0) as server:
        yield server


@pytest.fixture(scope="module")
def api(fake: FakeOpenAI, deepgram: FakeDeepgram) -> Iterator[str]:
    services = make_test_services(
        openai_base_url=fake.base_url,
        playground_compatible_models="fake-model,o4-mini,gpt-oss-20b",
        deepgram_api_key="test-key",
        deepgram_base_url=deepgram.base_url,
        playground_deepgram_flushes_per_minute=1000,
        playground_resume_grace_s=0,
    )
    with live_server(build_app(services, warm_up=False)) as url:
        yield url


def run(api: str, fake: FakeOpenAI, reply: Reply, **body: Any) -> list[SSEEvent]:
    fake.enqueue(reply)
    response, events = stream_events(
        api, {"message": "Hi", "model": "compatible:fake-model", "voice": "none", **body}
    )
    assert response.status_code == 200, response.text
    assert events[-1].event == "end"
    return events


def names(events: list[SSEEvent]) -> list[str]:
    return [e.event for e in events]


def end_of(events: list[SSEEvent]) -> dict[str, Any]:
    return next(e.data for e in events if e.event == "completion-end")


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_thinking_streams_before_the_answer_and_stays_out_of_it(
    api: str, fake: FakeOpenAI, field: str
) -> None:
    events = run(api, fake, Reply(reasoning=THINKING, reasoning_field=field, chunks=ANSWER))
    order = names(events)
    thinking = [e.data for e in events if e.event == "reasoning"]
    assert [t["text"] for t in thinking] == THINKING
    assert [t["seq"] for t in thinking] == [0, 1, 2]
    assert order.index("completion-continue") > max(
        i for i, name in enumerate(order) if name == "reasoning"
    ), "every thinking delta precedes the first answer chunk"
    end = end_of(events)
    assert end["text"] == "".join(ANSWER)
    assert "user wants" not in end["text"]
    continued = "".join(e.data["text"] for e in events if e.event == "completion-continue")
    assert continued == "".join(ANSWER)


def test_the_first_answer_token_is_timed_apart_from_the_first_token(
    api: str, fake: FakeOpenAI
) -> None:
    thinking_s = 0.3
    events = run(api, fake, Reply(reasoning=THINKING, chunks=ANSWER, thinking_s=thinking_s))
    timing = end_of(events)["timing"]
    first_thought = next(e.data["t_ms"] for e in events if e.event == "reasoning")
    first_answer = next(e.data["t_ms"] for e in events if e.event == "completion-continue")
    assert timing["ttft_ms"] == first_thought
    assert timing["ttfat_ms"] == first_answer
    assert timing["ttfat_ms"] - timing["ttft_ms"] == pytest.approx(thinking_s * 1000, abs=20)
    assert timing["reasoning_ms"] == pytest.approx(thinking_s * 1000, abs=20)
    assert timing["chunks"] == len(ANSWER), "thinking is not counted as answer chunks"


def test_without_thinking_the_two_first_token_times_agree(api: str, fake: FakeOpenAI) -> None:
    timing = end_of(run(api, fake, Reply(chunks=ANSWER)))["timing"]
    assert timing["ttfat_ms"] == timing["ttft_ms"]
    assert timing["reasoning_ms"] is None


def test_reasoning_tokens_are_reported_in_usage(api: str, fake: FakeOpenAI) -> None:
    reply = Reply(reasoning=THINKING, chunks=ANSWER, usage=(10, 40), reasoning_tokens=31)
    usage = end_of(run(api, fake, reply))["usage"]
    assert usage["reasoning_tokens"] == 31
    assert usage["completion_tokens"] == 40


def test_inline_think_tags_cut_anywhere_become_thinking(api: str, fake: FakeOpenAI) -> None:
    chunks = ["  <", "think>Let me", " see.</thi", "nk>\n\nIt is ", "42."]
    events = run(api, fake, Reply(chunks=chunks))
    assert "".join(e.data["text"] for e in events if e.event == "reasoning") == "Let me see."
    assert end_of(events)["text"] == "It is 42."
    assert end_of(events)["timing"]["reasoning_ms"] is not None


def test_an_answer_that_only_mentions_think_tags_is_left_alone(api: str, fake: FakeOpenAI) -> None:
    text = ["Use ", "<think>", " tags like </think> here."]
    events = run(api, fake, Reply(chunks=text))
    assert "reasoning" not in names(events)
    assert end_of(events)["text"] == "".join(text)


def test_thinking_is_never_spoken(api: str, fake: FakeOpenAI) -> None:
    events = run(
        api,
        fake,
        Reply(reasoning=["I should say hello. ", "Then offer help. "], chunks=ANSWER),
        voice="deepgram:aura-2-thalia-en",
    )
    spoken = " ".join(e.data["text"] for e in events if e.event == "audio")
    assert spoken, "the answer was spoken"
    assert "hello." not in spoken.lower() and "offer" not in spoken


def test_thinking_streams_while_the_checks_hold_the_reply_and_is_not_checked(
    api: str, fake: FakeOpenAI
) -> None:
    # Streaming off with interception on: the reply is held for the whole-reply checks; the
    # thinking (an email address in it) is neither masked nor appended to the reply.
    events = run(
        api,
        fake,
        Reply(reasoning=["Their email is ada@example.com."], chunks=["Done."]),
        streaming=False,
        features={"guardrails": True, "interception": True},
    )
    assert [e.data["text"] for e in events if e.event == "reasoning"] == [
        "Their email is ada@example.com."
    ]
    assert "ada@example.com" not in end_of(events)["text"]
    assert end_of(events)["text"].startswith("Done.")


def test_thinking_stays_out_of_the_structured_output(api: str, fake: FakeOpenAI) -> None:
    events = run(
        api,
        fake,
        Reply(reasoning=["{not json"], chunks=['{"name": "Ada", "topics": ["billing"]}']),
        prompt="json-extractor@2",
    )
    final = [e.data for e in events if e.event == "structured-output" and e.data["final"]]
    assert final[-1]["complete"] is True
    assert final[-1]["value"] == {"name": "Ada", "topics": ["billing"]}


def test_the_agent_node_passes_thinking_through_its_tool_rounds(api: str, fake: FakeOpenAI) -> None:
    fake.enqueue(
        Reply(
            reasoning=["I need the calculator."],
            chunks=[],
            tool_calls=[ToolCallSpec("calculator", '{"expression": "6*7"}', "c1")],
        )
    )
    events = run(
        api,
        fake,
        Reply(reasoning=["Now answer."], chunks=["It is 42."]),
        prompt="support-agent@2",
        node="agent",
        message="What is 6*7?",
    )
    assert [e.data["text"] for e in events if e.event == "reasoning"] == [
        "I need the calculator.",
        "Now answer.",
    ]
    assert end_of(events)["text"] == "It is 42."


def test_an_effort_the_model_does_not_take_is_refused_with_422_naming_the_field(
    api: str, fake: FakeOpenAI
) -> None:
    before = len(fake.chat_requests)
    for model, effort in (("compatible:fake-model", "low"), ("compatible:o4-mini", "minimal")):
        response, _ = stream_events(
            api, {"message": "Hi", "model": model, "reasoning_effort": effort}
        )
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["field"] == "reasoning_effort"
        assert effort in error["message"] or "does not take" in error["message"]
    response, _ = stream_events(api, {"message": "Hi", "reasoning_effort": "extreme"})
    assert response.status_code == 422, "not an effort at all"
    assert len(fake.chat_requests) == before, "nothing went upstream"


def test_an_accepted_effort_is_sent_with_the_token_limit_the_model_takes(
    api: str, fake: FakeOpenAI
) -> None:
    run(
        api,
        fake,
        Reply(chunks=ANSWER),
        model="compatible:o4-mini",
        reasoning_effort="high",
        max_tokens=500,
        temperature=0.2,
    )
    sent = fake.chat_requests[-1].body
    assert sent["reasoning_effort"] == "high"
    assert sent["max_completion_tokens"] == 500 and "max_tokens" not in sent
    assert "temperature" not in sent, "o-series models reject sampling fields"
    run(api, fake, Reply(chunks=ANSWER), model="compatible:gpt-oss-20b", reasoning_effort="low")
    sent = fake.chat_requests[-1].body
    assert sent["reasoning_effort"] == "low" and "max_completion_tokens" not in sent


def test_a_dropped_sampling_field_is_reported_with_the_reason(api: str, fake: FakeOpenAI) -> None:
    events = run(api, fake, Reply(chunks=ANSWER), model="compatible:o4-mini", temperature=0.2)
    disabled = {d["name"]: d["reason"] for d in events[0].data["disabled_features"]}
    assert "fixed temperature" in disabled["sampling"]


def test_thinking_in_a_complete_answer_arrives_as_one_reasoning_event(
    api: str, fake: FakeOpenAI
) -> None:
    events = run(api, fake, Reply(reasoning=THINKING, chunks=ANSWER), streaming=False)
    assert [e.data["text"] for e in events if e.event == "reasoning"] == ["".join(THINKING)]
    assert end_of(events)["text"] == "".join(ANSWER)


def test_the_think_splitter_holds_only_what_could_be_a_tag() -> None:
    splitter = ThinkSplitter()
    assert splitter.feed("<think>a</t") == [(True, "a")]
    assert splitter.feed("hink>b") == [(False, "b")]
    assert splitter.feed("<think>") == [(False, "<think>")], "only at the start"
    unclosed = ThinkSplitter()
    assert unclosed.feed("<think>still thinking <") == [(True, "still thinking ")]
    assert unclosed.finish() == [(True, "<")]


def test_the_reasoning_table_matches_names_whatever_serves_them() -> None:
    assert family_of("openai/gpt-oss-120b") is not None
    assert family_of("GPT-5-mini") is not None
    assert family_of("gpt-5-chat-latest") is not None
    assert effort_problem("gpt-5-chat-latest", "low") is not None, "a chat model takes none"
    assert effort_problem("gpt-5-mini", "minimal") is None
    assert effort_problem("gpt-4o", "low") is not None
