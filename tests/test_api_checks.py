"""Options that need the complete reply, through the API: guardrails, interception,
post-processing, the streaming guardrail, and live structured output."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from playground.server import build_app
from playground.turn.capabilities import OPTIONS
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.support import (
    SSEEvent,
    live_server,
    make_test_services,
    parse_sse_lines,
    stream_events,
    wait_until,
)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def serve(fake: FakeOpenAI, **settings: object) -> Iterator[str]:
    services = make_test_services(
        openai_base_url=fake.base_url,
        playground_compatible_models="fake-model",
        playground_resume_grace_s=0,
        **settings,
    )
    with live_server(build_app(services, warm_up=False)) as url:
        yield url


@pytest.fixture(scope="module")
def local_rules(fake: FakeOpenAI) -> Iterator[str]:
    """No OpenAI key: guardrails use the local rules file; the model is a compatible server."""
    yield from serve(fake, playground_interception_hooks="tests.test_interception:signed_hook")


@pytest.fixture(scope="module")
def with_openai(fake: FakeOpenAI) -> Iterator[str]:
    yield from serve(fake, openai_api_key="test-key")


def turn(url: str, **body: object) -> list[SSEEvent]:
    _, events = stream_events(url, {"message": "hi", "model": "compatible:fake-model", **body})
    return events


def chunks(events: list[SSEEvent]) -> list[str]:
    return [e.data["text"] for e in events if e.event == "completion-continue"]


def test_guardrails_mask_pii_in_the_complete_reply_before_delivery(
    local_rules: str, fake: FakeOpenAI
) -> None:
    fake.enqueue(Reply(chunks=["Write to ", "ada@example.com", " any time."]))
    events = turn(local_rules, streaming=False, features={"guardrails": True})
    assert chunks(events) == ["Write to [email removed] any time."]
    guardrail = events[-2].data["guardrail"]
    assert guardrail["engine"] == "local" and guardrail["rule"] == "pii.email"
    assert guardrail["action"] == "mask" and "email" in guardrail["reason"]


def test_guardrails_block_a_flagged_reply_and_say_which_rule_fired(
    local_rules: str, fake: FakeOpenAI
) -> None:
    fake.enqueue(Reply(chunks=["Here is how to build a bomb at home."]))
    events = turn(local_rules, streaming=False, features={"guardrails": True})
    (text,) = chunks(events)
    assert "bomb" not in text
    assert events[-2].data["guardrail"]["category"] == "violence"
    assert events[-2].data["text"] == text


def test_openai_moderation_is_used_when_an_openai_key_is_set(
    with_openai: str, fake: FakeOpenAI
) -> None:
    fake.enqueue(Reply(chunks=["This says FLAGME loudly."]))
    events = turn(with_openai, streaming=False, features={"guardrails": True})
    assert "FLAGME" not in chunks(events)[0]
    assert events[-2].data["guardrail"]["engine"] == "openai"
    assert events[-2].data["guardrail"]["rule"].startswith("openai:")
    assert fake.requests[-1].path == "/v1/moderations"


def test_interception_rewrites_with_rules_and_hooks_and_says_what_changed(
    local_rules: str, fake: FakeOpenAI
) -> None:
    fake.enqueue(Reply(chunks=["As an AI, I think ", "mail ada@example.com."]))
    events = turn(local_rules, streaming=False, features={"interception": True})
    (text,) = chunks(events)
    assert text.startswith("I think mail [email removed].")
    assert "checked by message interception" in text
    interception = events[-2].data["interception"]
    assert interception["action"] == "rewrite"
    changes = " ".join(interception["changes"])
    assert "email address" in changes and "disclaimer" in changes
    assert "signed the reply" in changes, "the Python entry-point hook ran"
    assert "— Bot" in text


def test_interception_blocks_a_reply_with_a_private_key(local_rules: str, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(chunks=["-----BEGIN RSA PRIVATE KEY-----\nabc"]))
    events = turn(local_rules, streaming=False, features={"interception": True})
    assert "PRIVATE KEY" not in chunks(events)[0]
    assert events[-2].data["interception"]["action"] == "block"


def test_while_streaming_the_full_reply_options_are_disabled_and_do_not_run(
    local_rules: str, fake: FakeOpenAI
) -> None:
    fake.enqueue(Reply(chunks=["mail ", "ada@example.com"]))
    events = turn(local_rules, streaming=True, features={"guardrails": True, "interception": True})
    disabled = {d["name"] for d in events[0].data["disabled_features"]}
    assert {"guardrails", "interception"} <= disabled
    assert "".join(chunks(events)) == "mail ada@example.com"
    assert "guardrail" not in events[-2].data and "interception" not in events[-2].data


def test_a_streaming_guardrail_that_finds_nothing_says_it_checked(
    local_rules: str, fake: FakeOpenAI
) -> None:
    fake.enqueue(Reply(chunks=["A calm sentence. ", "Another calm one."]))
    events = turn(local_rules, streaming=True, features={"streaming_guardrail": True})
    verdict = events[-2].data["streaming_guardrail"]
    assert verdict["flagged"] is False and verdict["checks"] >= 1
    assert events[-2].data["finish_reason"] == "stop"


def test_the_streaming_guardrail_retracts_the_shown_text_and_stops_generating(
    local_rules: str, fake: FakeOpenAI
) -> None:
    words = [
        "Sure. ",
        "Here is ",
        "how to ",
        "build a ",
        "bomb ",
        "at home. ",
        "Step one. ",
        "Step two. ",
        "Step three. ",
    ]
    fake.enqueue(Reply(chunks=words, delay=0.05))
    before = fake.disconnects
    events = turn(local_rules, streaming=True, features={"streaming_guardrail": True})
    order = [e.event for e in events]
    assert "completion-replace" in order
    replace_at = order.index("completion-replace")
    assert "completion-continue" not in order[replace_at:], "nothing streams after the retraction"
    replaced = events[replace_at].data
    assert "bomb" not in replaced["text"] and replaced["reason"]
    end = events[-2].data
    assert end["finish_reason"] == "content_filter" and end["text"] == replaced["text"]
    assert end["streaming_guardrail"]["category"] == "violence"
    # The runner closes the upstream before completion-end (tests/test_runner_order.py); the
    # fake notices the closed socket on its own thread a moment later.
    assert wait_until(lambda: fake.disconnects == before + 1, 10), "generation was stopped upstream"


def test_post_processing_enforces_the_output_schema_on_the_whole_reply(
    local_rules: str, fake: FakeOpenAI
) -> None:
    fake.enqueue(Reply(chunks=['{"name": "Ada", "topics": ["billing"]}']))
    events = turn(
        local_rules, streaming=False, prompt="json-extractor@1", features={"post_processing": True}
    )
    problem = next(e.data for e in events if e.event == "error")
    assert problem["stage"] == "post" and "email" in problem["message"]
    assert events[-2].data["post_processing"]["valid"] is False
    fake.enqueue(Reply(chunks=['{"name": "Ada", "email": "a@b.co", "topics": ["billing"]}']))
    events = turn(
        local_rules, streaming=False, prompt="json-extractor@1", features={"post_processing": True}
    )
    assert [e.event for e in events if e.event == "error"] == []
    assert events[-2].data["post_processing"]["valid"] is True


def test_structured_output_fills_in_live_and_is_validated_at_the_end(
    local_rules: str, fake: FakeOpenAI
) -> None:
    document = '{"name": "Ada", "email": "ada@example.com", "topics": ["billing", "refunds"]}'
    pieces = [document[i : i + 7] for i in range(0, len(document), 7)]
    fake.enqueue(Reply(chunks=pieces))
    events = turn(local_rules, prompt="json-extractor@1")
    states = [e.data for e in events if e.event == "structured-output"]
    assert len(states) >= 3, "the object filled in over several updates"
    keys = [len(s["value"] or {}) for s in states]
    assert keys == sorted(keys)
    assert not any(s["valid"] for s in states if not s["complete"])
    assert any("email" in " ".join(s["pending"]) for s in states[:-1]), "missing is pending"
    assert not any(s["errors"] for s in states)
    final = states[-1]
    assert final["final"] is True and final["valid"] is True
    assert final["value"]["topics"] == ["billing", "refunds"]


GRID = [
    (streaming, prompt, node, model)
    for streaming in (True, False)
    for prompt in ("support-agent@1", "support-agent@2", "summariser@1")
    for node in ("prompt", "agent")
    for model in ("compatible:fake-model", "local:smollm2-135m")
]


@pytest.mark.parametrize(("streaming", "prompt", "node", "model"), GRID)
def test_every_cell_of_the_capability_table_reaches_the_api_and_the_page(
    local_rules: str, fake: FakeOpenAI, streaming: bool, prompt: str, node: str, model: str
) -> None:
    from playground.prompts.library import load_prompt_library
    from playground.turn.capabilities import Conditions, disabled_features
    from playground.ui.render.panel_view import capability_notes, disabled_info
    from tests.test_prompts import PROMPTS

    spec = load_prompt_library(PROMPTS).resolve(prompt, None)
    expected = disabled_features(
        Conditions(
            streaming=streaming,
            prompt_format=spec.format,
            node=node,
            has_tools=bool(spec.tools),
            engine=model.partition(":")[0],
            voice_engine=None,
        )
    )
    with (
        httpx.Client(timeout=30) as client,
        client.stream(
            "POST",
            f"{local_rules}/v1/interact/stream",
            json={
                "message": "hi",
                "model": model,
                "prompt": prompt,
                "node": node,
                "streaming": streaming,
            },
        ) as response,
    ):
        first = next(parse_sse_lines(response.iter_lines()))
    assert first.event == "completion-start"
    assert first.data["disabled_features"] == [
        {"name": d.name, "reason": d.reason, "alternative": d.alternative} for d in expected
    ]
    # What the page shows for the same configuration: every reason, by option.
    notes = capability_notes(expected, has_tools=bool(spec.tools))
    for item in expected:
        assert item.reason in disabled_info(item)
        if item.name != "tool_calling":
            assert OPTIONS[item.name].split(" (")[0] in notes
