from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from playground.checks.structured import PartialJSON, PartialJSONState
from playground.errors import ConfigError
from playground.prompts.library import load_prompt_library

ROOT = Path(__file__).resolve().parent.parent

CONTACT: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "email", "topics"],
    "properties": {
        "name": {"type": "string"},
        "email": {"type": "string"},
        "phone": {"type": "string"},
        "age": {"type": "integer", "minimum": 18},
        "score": {"type": "number"},
        "vip": {"type": "boolean"},
        "topics": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "address": {
            "type": "object",
            "required": ["city"],
            "properties": {"city": {"type": "string"}, "zip": {"type": "string"}},
        },
        "sentiment": {"enum": ["positive", "neutral", "negative"]},
    },
}

DOCUMENT = json.dumps(
    {
        "name": 'Ada "Countess" Lovelace {née Byron}',
        "email": "ada@example.com",
        "age": 36,
        "score": -1.5e3,
        "vip": True,
        "phone": None,
        "topics": ["analytical engine", "poetry \\ science", "naïve ünïcode"],
        "address": {"city": "London", "zip": "W1"},
        "sentiment": "positive",
    },
    ensure_ascii=False,
    indent=1,
).replace('"phone": null', '"phone": "+44 20 7946 0000"')


def stream(text: str, size: int, schema: dict[str, Any] | None = CONTACT) -> list[PartialJSONState]:
    checker = PartialJSON(schema)
    states = [checker.feed(text[i : i + size]) for i in range(0, len(text), size)]
    return [*states, checker.finish()]


def key_paths(value: Any, prefix: str = "$") -> set[str]:
    """Every object key and list index in ``value``, as a path."""
    if isinstance(value, dict):
        return {
            p for k, v in value.items() for p in {f"{prefix}.{k}"} | key_paths(v, f"{prefix}.{k}")
        }
    if isinstance(value, list):
        return {
            p
            for i, v in enumerate(value)
            for p in {f"{prefix}[{i}]"} | key_paths(v, f"{prefix}[{i}]")
        }
    return set()


def test_every_prefix_parses_without_raising_and_keys_only_grow() -> None:
    checker = PartialJSON(CONTACT)
    seen: set[str] = set()
    values: dict[str, Any] = {}
    for end in range(1, len(DOCUMENT) + 1):
        state = checker.feed(DOCUMENT[end - 1])  # one character at a time: every prefix
        assert state.errors == (), (DOCUMENT[:end], state.errors)
        assert isinstance(state.value, dict)
        paths = key_paths(state.value)
        assert seen <= paths, f"keys vanished at {DOCUMENT[:end]!r}: {seen - paths}"
        seen = paths
        for path in paths:  # a value, once shown, is final (no half-written numbers or strings)
            leaf = _leaf(state.value, path)
            if not isinstance(leaf, dict | list):
                assert values.setdefault(path, leaf) == leaf, path
        if end % 7 == 0:  # a prefix fed at once reads the same as one fed piece by piece
            assert PartialJSON(CONTACT).feed(DOCUMENT[:end]) == state
    assert checker.finish() == PartialJSONState(json.loads(DOCUMENT), True)


def _leaf(value: Any, path: str) -> Any:
    for part in path[2:].replace("[", ".[").split("."):
        if not part:
            continue
        value = value[int(part[1:-1])] if part.startswith("[") else value[part]
    return value


@pytest.mark.parametrize("size", [1, 3, 17, 1000])
def test_chunking_does_not_change_the_outcome(size: int) -> None:
    states = stream(DOCUMENT, size)
    assert all(not s.errors for s in states)
    assert states[-1] == PartialJSONState(json.loads(DOCUMENT), True)
    assert states[-2].complete, "the closing brace completes the object before finish()"


def test_a_json_fence_and_prose_around_it_are_skipped() -> None:
    answer = "Sure! Here is the record:\n\n```json\n" + DOCUMENT + "\n```\nAnything else?"
    states = stream(answer, 5)
    assert all(s.value is None for s in states[:5]), "nothing parsed before the first brace"
    assert states[-1] == PartialJSONState(json.loads(DOCUMENT), True)


def test_a_wrong_type_is_reported_as_soon_as_the_value_arrives() -> None:
    checker = PartialJSON(CONTACT)
    assert checker.feed('{"name": "Ada", "age": "3').errors == ()
    state = checker.feed('6"')
    assert state.errors == ("$.age: '36' is not of type 'integer'",)
    assert state.value == {"name": "Ada", "age": "36"}
    state = checker.feed(', "topics": ["a", 5, ')
    assert "$.topics[1]: 5 is not of type 'string'" in state.errors
    assert not state.complete


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('{"name": "Ada", "nickname": "A"', "Additional properties are not allowed"),
        ('{"sentiment": "grumpy"', "'grumpy' is not one of"),
        ('{"vip": "yes"', "'yes' is not of type 'boolean'"),
        ('{"address": {"city": 5}', "$.address.city: 5 is not of type 'string'"),
    ],
)
def test_errors_no_continuation_can_fix_are_reported_mid_stream(text: str, error: str) -> None:
    state = PartialJSON(CONTACT).feed(text)
    assert any(error in e for e in state.errors), state.errors


def test_numbers_are_judged_only_once_written() -> None:
    checker = PartialJSON(CONTACT)
    state = checker.feed('{"age": 1')
    assert state.value == {} and state.errors == (), "1 may become 19"
    state = checker.feed("9,")
    assert state.value == {"age": 19} and state.errors == ()
    state = PartialJSON(CONTACT).feed('{"age": 12 ')
    assert state.errors == ("$.age: 12 is less than the minimum of 18",)


def test_missing_required_fields_are_pending_while_streaming_and_errors_at_finish() -> None:
    checker = PartialJSON(CONTACT)
    state = checker.feed('{"name": "Ada", "topics": [], "address": {"zip": "W1"},')
    assert state.errors == ()
    assert state.pending == (  # sorted by text
        "$.address: 'city' is a required property",
        "$.topics: [] should be non-empty",
        "$: 'email' is a required property",
    )
    final = checker.finish()
    assert not final.complete and final.pending == ()
    assert final.errors == (
        "the answer ended before the JSON object was closed",
        "$.address: 'city' is a required property",
        "$.topics: [] should be non-empty",
        "$: 'email' is a required property",
    )


def test_a_closed_object_missing_a_required_field_fails_once_complete() -> None:
    states = stream('{"name": "Ada", "topics": ["x"]}', 4)
    assert all(s.errors == () for s in states[:-2])
    assert states[-1].complete and states[-1].errors == ("$: 'email' is a required property",)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("I'm sorry, I can't extract a contact from that.", "not JSON: no '{' in it"),
        ("", "the answer is empty"),
        ("   \n", "the answer is empty"),
    ],
)
def test_an_answer_without_json_is_reported_at_finish(answer: str, message: str) -> None:
    checker = PartialJSON(CONTACT)
    assert checker.feed(answer) == PartialJSONState(None, False)
    final = checker.finish()
    assert final.value is None and not final.complete
    assert len(final.errors) == 1 and message in final.errors[0]
    if answer.strip():
        assert "I'm sorry" in final.errors[0], "the start of the answer is shown"


def test_broken_json_is_an_error_and_keeps_the_last_good_value() -> None:
    checker = PartialJSON(CONTACT)
    checker.feed('{"name": "Ada", ')
    state = checker.feed(', "email": "a@b.c"')
    assert state.value == {"name": "Ada"}
    assert len(state.errors) == 1 and state.errors[0].startswith("$: not valid JSON")
    assert checker.finish().errors[0] == "the answer ended before the JSON object was closed"


def test_a_trailing_comma_is_tolerated_mid_stream_but_not_in_the_closed_object() -> None:
    checker = PartialJSON(None)
    assert checker.feed('{"a": [1, 2], ').errors == ()
    state = checker.feed("}")
    assert state.complete and state.errors[0].startswith("$: not valid JSON")


def test_without_a_schema_only_the_parse_is_reported() -> None:
    states = stream('noise {"anything": [1, {"x": null}]} tail', 2, schema=None)
    assert states[-1] == PartialJSONState({"anything": [1, {"x": None}]}, True)


def test_one_of_and_not_do_not_misfire_on_a_partial_value() -> None:
    schema = {
        "type": "object",
        "properties": {
            "contact": {
                "oneOf": [
                    {"type": "object", "required": ["email"]},
                    {"type": "object", "required": ["phone"]},
                ],
                "not": {"required": ["fax"]},
            }
        },
    }
    checker = PartialJSON(schema)
    assert checker.feed('{"contact": {"name": "Ada", ').errors == ()
    assert checker.feed('"email": "a@b.c"}}').errors == ()
    both = PartialJSON(schema)
    both.feed('{"contact": {"email": "a@b.c", "phone": "1"}}')
    assert both.finish().errors, "oneOf is exact once complete"


def test_feed_after_finish_is_a_usage_error_and_finish_is_repeatable() -> None:
    checker = PartialJSON(CONTACT)
    checker.feed('{"name": "Ada", "email": "a@b.c", "topics": ["x"]}')
    assert checker.finish() is checker.finish()
    with pytest.raises(RuntimeError, match="new PartialJSON"):
        checker.feed("more")


def test_an_invalid_schema_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not a valid JSON schema"):
        PartialJSON({"type": "objekt"})


def test_property_names_that_are_keywords_survive_the_partial_check() -> None:
    schema = {"type": "object", "properties": {"required": {"type": "boolean"}}}
    assert PartialJSON(schema).feed('{"required": "no", ').errors == (
        "$.required: 'no' is not of type 'boolean'",
    )


EXTRACTOR_ANSWERS = {
    1: {"name": "Jo Park", "email": "jo@example.com", "topics": ["invoice query"]},
    2: {
        "name": "Jo Park",
        "email": "jo@example.com",
        "company": "Acme",
        "topics": ["invoice query", "late delivery"],
        "sentiment": "negative",
    },
}


@pytest.mark.parametrize("version", [1, 2])
def test_the_shipped_extractor_schemas_accept_a_good_answer(version: int) -> None:
    prompt = load_prompt_library(ROOT / "prompts").resolve(f"json-extractor@{version}", None)
    assert prompt.output_schema is not None
    states = stream(json.dumps(EXTRACTOR_ANSWERS[version]), 3, prompt.output_schema)
    assert all(s.errors == () for s in states)
    assert states[-1] == PartialJSONState(EXTRACTOR_ANSWERS[version], True)


def test_the_v2_extractor_rejects_an_unknown_sentiment_mid_stream() -> None:
    prompt = load_prompt_library(ROOT / "prompts").resolve("json-extractor@2", None)
    assert prompt.output_schema is not None
    state = PartialJSON(prompt.output_schema).feed('{"sentiment": "angry",')
    assert state.errors == (
        "$.sentiment: 'angry' is not one of ['positive', 'neutral', 'negative']",
    )


def test_every_shipped_output_schema_is_valid() -> None:
    for prompt in load_prompt_library(ROOT / "prompts").all():
        if prompt.output_schema is not None:
            PartialJSON(prompt.output_schema)  # raises ConfigError if not
