"""Moderation: PII detectors, category rules, rule files, the OpenAI moderator against the fake
server, and the streaming guardrail's windows."""

from __future__ import annotations

import itertools
import random
import socket
from pathlib import Path
from typing import Any

import pytest
from openai import AsyncOpenAI

from playground.checks.moderation import (
    LocalModerator,
    ModerationVerdict,
    ServiceModerator,
    luhn_valid,
)
from playground.checks.moderation_rules import (
    DEFAULT_BLOCK_MESSAGE,
    DEFAULT_MODERATION_RULES_PATH,
    ModerationRules,
    load_moderation_rules,
)
from playground.checks.streaming_guardrail import LIMITS, StreamingGuardrail
from playground.errors import ConfigError, ErrorCategory, ProviderError
from playground.providers.openai_moderation import OpenAIModeration
from tests.fakes.openai_server import FakeOpenAI


def moderator(**rules: Any) -> LocalModerator:
    return LocalModerator(ModerationRules.model_validate(rules))


def pii_only() -> LocalModerator:
    return moderator()  # no categories: the PII detectors with their defaults


def matched(verdict: ModerationVerdict, text: str) -> list[str]:
    return [text[span.start : span.end] for span in verdict.spans]


# --- PII detectors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Write to jane@example.com today.", "jane@example.com"),
        ("Mail john.doe+tag@mail.example.co.uk.", "john.doe+tag@mail.example.co.uk"),
        ("<first_last@sub-domain.example.org>", "first_last@sub-domain.example.org"),
        ("UPPER.CASE@EXAMPLE.COM, thanks", "UPPER.CASE@EXAMPLE.COM"),
    ],
)
def test_emails_are_masked(text: str, expected: str) -> None:
    verdict = pii_only().check(text)
    assert verdict.flagged and verdict.action == "mask"
    assert verdict.rule == "pii.email" and verdict.category == "pii"
    assert matched(verdict, text) == [expected]
    assert verdict.replacement_text == text.replace(expected, "[email removed]")
    assert verdict.reason == "masked 1 email address"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Call (555) 123-4567 now", "(555) 123-4567"),
        ("Call 555-123-4567 now", "555-123-4567"),
        ("Call 555.123.4567 now", "555.123.4567"),
        ("Call 555 123 4567 now", "555 123 4567"),
        ("Call 1-800-555-0199 now", "1-800-555-0199"),
        ("Call 1 (800) 555-0199 now", "1 (800) 555-0199"),
        ("Call +1 555 123 4567 now", "+1 555 123 4567"),
        ("Call +1-555-123-4567 now", "+1-555-123-4567"),
        ("Call +15551234567 now", "+15551234567"),
        ("Call +44 20 7946 0958 now", "+44 20 7946 0958"),
        ("Call +44 (0)20 7946 0958 now", "+44 (0)20 7946 0958"),
        ("Call +33 1 23 45 67 89 now", "+33 1 23 45 67 89"),
        ("Call 020 7946 0958 now", "020 7946 0958"),
        ("Call 07700 900123 now", "07700 900123"),
        ("Call 555-123-4567.", "555-123-4567"),
    ],
)
def test_phone_numbers_in_common_formats_are_masked(text: str, expected: str) -> None:
    verdict = pii_only().check(text)
    assert verdict.rule == "pii.phone", verdict
    assert matched(verdict, text) == [expected]
    assert verdict.replacement_text == text.replace(expected, "[phone number removed]")


@pytest.mark.parametrize(
    "card",
    [
        "4111 1111 1111 1111",  # Visa
        "4111-1111-1111-1111",
        "4111111111111111",
        "4012888888881881",
        "5555 5555 5555 4444",  # Mastercard
        "5105105105105100",
        "2221000000000009",  # Mastercard 2-series
        "3782 822463 10005",  # Amex, 4-6-5
        "371449635398431",
        "6011 1111 1111 1117",  # Discover
        "30569309025904",  # Diners, 14 digits
        "3530111333300000",  # JCB
    ],
)
def test_luhn_valid_card_numbers_are_masked(card: str) -> None:
    text = f"My card is {card}, expiring soon."
    verdict = pii_only().check(text)
    assert verdict.rule == "pii.card", verdict
    assert matched(verdict, text) == [card]
    assert verdict.replacement_text == "My card is [card number removed], expiring soon."


@pytest.mark.parametrize(
    "text",
    [
        "Card 4111 1111 1111 1112 fails Luhn.",
        "Card 5555555555554445 fails Luhn.",
        "ID 1234567812345670 passes Luhn but no card starts with 1.",
        "The timestamp 1700000000000 is in milliseconds.",
        "Order 123456789012 has 12 digits.",
        "4111 1111 1111",  # too short
    ],
)
def test_digit_runs_that_are_not_cards_pass(text: str) -> None:
    assert not pii_only().check(text).flagged


@pytest.mark.parametrize(
    "text",
    [
        "Upgrade to Python 3.11.7 or 3.12.0.",
        "Released on 2024-01-15, patched 15/01/2024 and 01.02.2024.",
        "Open from 10:30-11:45 and 14:00 to 18:00.",
        "The server is at 192.168.1.1 and 10.0.0.254.",
        "Tag v10.123.4567 and build 2023.10.1234.",
        "ISBN 978-0-306-40615-7.",
        "It costs $1,234,567.89 or about 1.2 million.",
        "Growth was +1.5% then +10.2%.",
        "Between 1999 - 2005 there were 12 345 678 visitors.",
        "Install pkg@1.2.3 or mention @someone; user@localhost is not an address.",
        "Ratio 1:555-123 and 3.14159265358979.",
        "Ticket 5551234567 has no separators.",
        "See section 4.1.2 and table 12-3-4567.",
        "The ID is ab555-123-4567.",
    ],
)
def test_no_false_positives_on_versions_dates_and_other_numbers(text: str) -> None:
    verdict = pii_only().check(text)
    assert not verdict.flagged, (verdict.rule, matched(verdict, text))


@pytest.mark.parametrize(
    ("digits", "valid"),
    [
        ("4111111111111111", True),
        ("4111111111111112", False),
        ("79927398713", True),  # the textbook example
        ("79927398710", False),
        ("0", True),
        ("18", True),
        ("19", False),
    ],
)
def test_luhn(digits: str, valid: bool) -> None:
    assert luhn_valid(digits) is valid


def test_several_pii_matches_are_all_masked_and_counted() -> None:
    text = "Email a@example.com or b@example.org, or call 555-123-4567."
    verdict = pii_only().check(text)
    assert verdict.action == "mask"
    assert verdict.rule == "pii.email", "the first match in the text names the verdict"
    assert verdict.reason == "masked 2 email addresses, 1 phone number"
    assert verdict.replacement_text == (
        "Email [email removed] or [email removed], or call [phone number removed]."
    )
    assert [s.rule for s in verdict.spans] == ["pii.email", "pii.email", "pii.phone"]


def test_pii_detectors_can_be_disabled_reworded_or_made_to_block() -> None:
    mod = moderator(
        pii={
            "email": {"enabled": False},
            "phone": {"replacement": "<phone>"},
            "card": {"action": "block", "message": "No cards, please."},
        }
    )
    assert not mod.check("write to jane@example.com").flagged
    assert mod.check("call 555-123-4567").replacement_text == "call <phone>"
    verdict = mod.check("pay with 4111 1111 1111 1111")
    assert verdict.action == "block" and verdict.rule == "pii.card"
    assert verdict.replacement_text == "No cards, please."
    assert verdict.text_for("pay with 4111 1111 1111 1111") == "No cards, please."
    assert mod.check("fine").text_for("fine") == "fine"


# --- categories ----------------------------------------------------------------------------------

CATEGORIES: dict[str, Any] = {
    "threats": {
        "action": "block",
        "description": "threats",
        "words": ["kill you", "hurt  you"],
        "patterns": [r"\bdestroy (?:you|them)\b"],
    },
    "selfharm": {"action": "block", "message": "Please reach out.", "words": ["end my life"]},
    "codename": {
        "action": "mask",
        "label": "codename",
        "replacement": "[redacted]",
        "case_sensitive": True,
        "patterns": [r"\bPROJECT-[A-Z]+\b"],
    },
}


@pytest.mark.parametrize(
    ("text", "rule", "action", "replacement"),
    [
        ("I will kill you.", "threats.words", "block", DEFAULT_BLOCK_MESSAGE),
        ("I WILL KILL YOU.", "threats.words", "block", DEFAULT_BLOCK_MESSAGE),
        ("I will hurt\n you.", "threats.words", "block", DEFAULT_BLOCK_MESSAGE),
        ("We will destroy them.", "threats.patterns[0]", "block", DEFAULT_BLOCK_MESSAGE),
        ("I want to end my life", "selfharm.words", "block", "Please reach out."),
        ("Ship PROJECT-ORCA now.", "codename.patterns[0]", "mask", "Ship [redacted] now."),
        ("Ship project-orca now.", None, None, None),  # case-sensitive category
        ("What a skill you have.", None, None, None),  # whole words only
        ("The process kill youtube-dl.", None, None, None),
        ("Nothing to see here.", None, None, None),
    ],
)
def test_category_rules(
    text: str, rule: str | None, action: str | None, replacement: str | None
) -> None:
    verdict = moderator(categories=CATEGORIES).check(text)
    assert verdict.rule == rule
    assert verdict.action == action
    assert verdict.flagged is (rule is not None)
    assert verdict.replacement_text == replacement
    assert verdict.text_for(text) == (replacement if rule else text)


def test_block_wins_over_mask_and_the_earliest_block_decides() -> None:
    text = "PROJECT-ORCA: mail a@example.com, end my life, I will kill you"
    verdict = moderator(categories=CATEGORIES).check(text)
    assert verdict.action == "block"
    assert verdict.rule == "selfharm.words" and verdict.category == "selfharm"
    assert matched(verdict, text) == ["end my life"]
    assert verdict.reason == "blocked by rule selfharm.words"
    threat = moderator(categories=CATEGORIES).check("I will kill you, and destroy you.")
    assert threat.reason == "blocked by rule threats.words (threats)"
    assert matched(threat, "I will kill you, and destroy you.") == ["kill you", "destroy you"]


def test_overlapping_matches_are_masked_once() -> None:
    mod = moderator(
        categories={
            "long": {"action": "mask", "replacement": "[L]", "patterns": ["alpha beta"]},
            "short": {"action": "mask", "replacement": "[S]", "patterns": ["beta"]},
        }
    )
    verdict = mod.check("alpha beta, then beta")
    assert verdict.replacement_text == "[L], then [S]"
    assert verdict.reason == "masked 1 long match, 1 short match"


def test_default_rules_file_loads_and_works() -> None:
    rules = load_moderation_rules()
    assert load_moderation_rules(DEFAULT_MODERATION_RULES_PATH) == rules
    assert {"violence", "self-harm", "secrets"} <= set(rules.categories)
    mod = LocalModerator(rules)
    assert mod.rules is rules
    assert mod.check("Mail jane@example.com").replacement_text == "Mail [email removed]"
    assert mod.check("I will kill you.").action == "block"
    assert mod.check("Sometimes I want to end my life.").category == "self-harm"
    key = "sk-proj-" + "a1B2" * 6
    assert mod.check(f"use {key} here").replacement_text == "use [secret removed] here"
    assert not mod.check("Kill the process with `kill -9 1234`, then restart it.").flagged


# --- rule files ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ("categories:\n  v:\n    action: block\n    patterns: ['(unclosed']\n",
         "categories.v.patterns.0"),
        ("categories:\n  v:\n    action: block\n    patterns: ['']\n", "categories.v.patterns.0"),
        ("categories:\n  v:\n    action: block\n    words: [ok, '  ']\n", "categories.v.words.1"),
        ("categories:\n  v:\n    action: delete\n    words: [x]\n", "categories.v.action"),
        ("categories:\n  v:\n    acton: block\n    words: [x]\n", "categories.v.acton"),
        ("categories:\n  v:\n    action: block\n", "categories.v"),
        ("categories:\n  Bad Name:\n    action: block\n    words: [x]\n", "categories.Bad Name"),
        ("categories:\n  pii:\n    action: block\n    words: [x]\n", "categories"),
        ("pii:\n  email:\n    action: erase\n", "pii.email.action"),
        ("pii:\n  fax:\n    replacement: x\n", "pii.fax"),
        ("block_message: ''\n", "block_message"),
        ("colour: red\n", "colour"),
    ],
)  # fmt: skip
def test_malformed_rule_files_name_the_path_and_field(
    tmp_path: Path, content: str, field: str
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError) as caught:
        load_moderation_rules(path)
    message = caught.value.message
    assert message.startswith(f"{path}: "), message
    # "<path>: <field>: <problem>; <field>: <problem>"
    fields = [part.split(": ")[0] for part in message.removeprefix(f"{path}: ").split("; ")]
    assert field in fields, message
    assert caught.value.field == fields[0]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("categories: [\n", "invalid YAML"),
        ("- just\n- a list\n", "must hold a mapping"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_unreadable_rule_files_name_the_path(
    tmp_path: Path, content: str | bytes, needle: str
) -> None:
    path = tmp_path / "rules.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(ConfigError, match=needle) as caught:
        load_moderation_rules(path)
    assert caught.value.message.startswith(str(path))


def test_a_missing_or_empty_rule_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_moderation_rules(tmp_path / "nope.yaml")
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_moderation_rules(empty) == ModerationRules()


# --- OpenAI moderation, against the fake server --------------------------------------------------


async def test_openai_moderator_flags_and_passes(fake_openai: FakeOpenAI) -> None:
    client = AsyncOpenAI(base_url=fake_openai.base_url, api_key="test-key")
    try:
        mod = ServiceModerator(
            OpenAIModeration(client, model="omni-moderation-latest"), block_message="Withheld."
        )
        assert mod.engine == "openai"
        verdict = await mod.moderate("You are FLAGME awful.")
        clean = await mod.moderate("Have a nice day.")
    finally:
        await client.close()
    assert verdict == ModerationVerdict(
        flagged=True,
        action="block",
        rule="openai:harassment",
        category="harassment",
        replacement_text="Withheld.",
        reason="blocked by OpenAI moderation (harassment)",
    )
    assert clean == ModerationVerdict(flagged=False)
    sent = [r.body for r in fake_openai.requests if r.path == "/v1/moderations"]
    assert sent == [
        {"input": "You are FLAGME awful.", "model": "omni-moderation-latest"},
        {"input": "Have a nice day.", "model": "omni-moderation-latest"},
    ]


async def test_openai_moderator_leaves_the_model_to_the_server_by_default(
    fake_openai: FakeOpenAI,
) -> None:
    client = AsyncOpenAI(base_url=fake_openai.base_url, api_key="test-key")
    try:
        verdict = await ServiceModerator(OpenAIModeration(client)).moderate("FLAGME")
    finally:
        await client.close()
    assert verdict.replacement_text == DEFAULT_BLOCK_MESSAGE
    assert fake_openai.requests[-1].body == {"input": "FLAGME"}


async def test_openai_moderator_translates_http_errors(fake_openai: FakeOpenAI) -> None:
    # A wrong base path: the fake answers 404, as a misconfigured compatible server would.
    client = AsyncOpenAI(
        base_url=fake_openai.base_url.removesuffix("/v1") + "/nope", api_key="k", max_retries=0
    )
    try:
        with pytest.raises(ProviderError) as caught:
            await OpenAIModeration(client, provider="azure").moderate("hello")
    finally:
        await client.close()
    assert caught.value.category == ErrorCategory.BAD_REQUEST
    assert caught.value.status_code == 404 and caught.value.provider == "azure"


async def test_openai_moderator_translates_connection_errors() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0)
    try:
        with pytest.raises(ProviderError) as caught:
            await OpenAIModeration(client).moderate("hello")
    finally:
        await client.close()
    assert caught.value.category == ErrorCategory.CONNECTIVITY and caught.value.retryable


# --- streaming guardrail -------------------------------------------------------------------------

STREAM_RULES: dict[str, Any] = {
    "categories": {"banned": {"action": "block", "words": ["forbidden phrase"]}},
}


def guardrail(**kwargs: Any) -> StreamingGuardrail:
    return StreamingGuardrail(moderator(**STREAM_RULES), **kwargs)


def feed_all(
    guard: StreamingGuardrail, chunks: list[str]
) -> tuple[int | None, ModerationVerdict | None]:
    """Feed chunks; the number of characters fed when a verdict came, and the verdict."""
    fed = 0
    for chunk in chunks:
        fed += len(chunk)
        verdict = guard.feed(chunk)
        if verdict is not None:
            return fed, verdict
    return None, guard.finish()


def chunkings(text: str, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    out = [list(text), [text]]
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, len(text)), rng.randint(1, min(12, len(text) - 1))))
        out.append([text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)])
    return out


REPLY = "All good here. Still fine, 3.14 and example.com too. This has a forbidden phrase. More."


@pytest.mark.parametrize("chunks", chunkings(REPLY, seed=7))
def test_streaming_guardrail_trips_once_the_bad_sentence_is_complete(chunks: list[str]) -> None:
    guard = guardrail()
    fed, verdict = feed_all(guard, chunks)
    # The sentence is confirmed by the whitespace after its "."; the verdict comes with the chunk
    # that carries it, never before, however the reply was chunked.
    confirm_at = REPLY.index("phrase.") + len("phrase. ")
    ends = list(itertools.accumulate(len(c) for c in chunks))
    assert verdict is not None and verdict.rule == "banned.words"
    assert fed == next(end for end in ends if end >= confirm_at)
    span = verdict.spans[0]
    assert guard.text[span.start : span.end] == "forbidden phrase"
    assert guard.verdict is verdict


def test_streaming_guardrail_checks_one_window_per_sentence() -> None:
    guard = guardrail()
    for piece in ["Pi is 3.14 roughly. ", "See example.com for more! ", "Is that so? ", "Yes"]:
        assert guard.feed(piece) is None
    assert guard.checks == 3, "decimals and domains do not end sentences"
    assert guard.finish() is None
    assert guard.checks == 4, "finish checks the unterminated last sentence"
    assert guard.finish() is None and guard.checks == 4


def test_streaming_guardrail_checks_the_tail_at_finish() -> None:
    guard = guardrail()
    assert guard.feed("Fine. And then a forbidden phrase") is None
    verdict = guard.finish()
    assert verdict is not None and verdict.action == "block"
    assert verdict.replacement_text == DEFAULT_BLOCK_MESSAGE


def test_streaming_guardrail_stops_after_the_first_verdict() -> None:
    guard = guardrail()
    first = guard.feed("A forbidden phrase. ")
    assert first is not None
    assert guard.feed("Another forbidden phrase. ") is None
    assert guard.finish() is None
    assert guard.verdict is first


def test_a_window_of_several_sentences_sees_across_sentence_boundaries() -> None:
    rules = {"categories": {"pair": {"action": "block", "patterns": [r"alpha\.\s+Beta"]}}}
    text = "Start. It ends in alpha. Beta begins here. Done. "
    one = StreamingGuardrail(moderator(**rules), window_sentences=1)
    assert one.feed(text) is None and one.finish() is None
    two = StreamingGuardrail(moderator(**rules), window_sentences=2)
    verdict = two.feed(text)
    assert verdict is not None and verdict.rule == "pair.patterns[0]"


def test_a_window_forgets_sentences_older_than_its_size() -> None:
    rules = {"categories": {"pair": {"action": "block", "patterns": [r"alpha.*omega"]}}}
    far = "alpha one. Two. Three. omega four. "
    assert StreamingGuardrail(moderator(**rules), window_sentences=3).feed(far) is None
    assert StreamingGuardrail(moderator(**rules), window_sentences=4).feed(far) is not None


def test_a_long_unpunctuated_reply_is_checked_before_it_ends() -> None:
    guard = guardrail(max_sentence_chars=40)
    words = ["word"] * 30 + ["forbidden", "phrase"] + ["word"] * 30
    fed = 0
    verdict = None
    for word in words:
        fed += 1
        verdict = guard.feed(word + " ")
        if verdict:
            break
    assert verdict is not None, "tripped before finish()"
    assert fed < len(words)


def test_streaming_mask_verdict_is_phrased_for_everything_fed() -> None:
    guard = StreamingGuardrail(pii_only())
    assert guard.feed("Hello there. Mail me at jane@example.com now.") is None
    verdict = guard.feed(" Bye")
    assert verdict is not None and verdict.action == "mask" and verdict.rule == "pii.email"
    assert guard.text == "Hello there. Mail me at jane@example.com now. Bye"
    [span] = verdict.spans
    assert guard.text[span.start : span.end] == "jane@example.com"
    assert verdict.replacement_text == "Hello there. Mail me at [email removed] now. Bye"


def test_a_clean_reply_never_trips() -> None:
    guard = StreamingGuardrail(LocalModerator(load_moderation_rules()))
    reply = "Here is a summary.\n\n- First point\n- Second point\n\n## Next\nThat is all, thanks!"
    assert [guard.feed(c) for c in reply] == [None] * len(reply)
    assert guard.finish() is None
    assert guard.checks >= 5


@pytest.mark.parametrize("kwargs", [{"window_sentences": 0}, {"max_sentence_chars": 0}])
def test_streaming_guardrail_rejects_bad_settings(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must be"):
        guardrail(**kwargs)


def test_limits_explain_what_the_streaming_guardrail_cannot_do() -> None:
    assert "already on screen" in LIMITS and "windows, not the whole reply" in LIMITS
