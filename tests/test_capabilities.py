from __future__ import annotations

import itertools

import pytest

from playground.prompts.library import load_prompt_library
from playground.settings import project_path
from playground.turn.capabilities import OPTIONS, RULES, Conditions, disabled_features, disabled_for


def conditions(**overrides: object) -> Conditions:
    base: dict[str, object] = {
        "streaming": True,
        "prompt_format": "v2",
        "node": "agent",
        "has_tools": True,
        "engine": "openai",
        "voice_engine": None,
    }
    base.update(overrides)
    return Conditions(**base)  # type: ignore[arg-type]


def names(c: Conditions) -> set[str]:
    return {d.name for d in disabled_features(c)}


def test_streaming_disables_the_options_that_need_the_complete_reply() -> None:
    assert names(conditions(streaming=True)) == {"guardrails", "interception", "post_processing"}
    assert names(conditions(streaming=False)) == {"streaming_guardrail"}


def test_v1_prompts_cannot_stream_with_tools_but_v2_can() -> None:
    assert "tool_calling" in names(conditions(prompt_format="v1"))
    assert "tool_calling" not in names(conditions(prompt_format="v1", streaming=False))
    assert "tool_calling" not in names(conditions(prompt_format="v2"))


def test_the_local_model_and_prompt_nodes_do_not_call_tools() -> None:
    assert "tool_calling" in names(conditions(engine="local"))
    assert "tool_calling" in names(conditions(node="prompt"))


def test_every_disabled_option_says_why_and_every_rule_names_a_known_option() -> None:
    for rule in RULES:
        assert rule.option in OPTIONS
        assert rule.reason
    grid = itertools.product(
        [True, False],
        ["v1", "v2"],
        ["prompt", "agent"],
        [True, False],
        ["openai", "local"],
        [None, "deepgram", "local"],
    )
    for streaming, fmt, node, tools, engine, voice in grid:
        for item in disabled_features(Conditions(streaming, fmt, node, tools, engine, voice)):
            assert item.reason and item.name in OPTIONS


@pytest.mark.parametrize("option", ["guardrails", "interception", "post_processing"])
def test_full_response_options_offer_an_alternative(option: str) -> None:
    item = next(d for d in disabled_features(conditions()) if d.name == option)
    assert item.alternative


def test_an_option_this_server_cannot_run_is_disabled_with_the_reason_for_page_and_runner() -> None:
    prompt = load_prompt_library(project_path("prompts")).latest("default-prompt-node")
    disabled = disabled_for(
        prompt,
        model="openai:gpt-4o-mini",
        node="prompt",
        streaming=False,
        voice="none",
        unavailable={"interception": "hook x failed to load"},
    )
    by_name = {d.name: d.reason for d in disabled}
    assert by_name["interception"] == "unavailable on this server: hook x failed to load"
    assert "guardrails" not in by_name  # streaming off: the complete-reply options run
    # An option already off for another reason keeps that reason (it is said once).
    streaming = disabled_for(
        prompt,
        model="openai:gpt-4o-mini",
        node="prompt",
        streaming=True,
        voice="none",
        unavailable={"interception": "hook x failed to load"},
    )
    assert [d.name for d in streaming].count("interception") == 1
