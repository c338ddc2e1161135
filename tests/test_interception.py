"""Message interception: rules, entry-point hooks (defined here), and hooks that misbehave."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from playground.checks.interception import (
    DEFAULT_INTERCEPTION_RULES_PATH,
    InterceptionResult,
    InterceptionRules,
    Interceptor,
    hook_name,
    load_hook,
    load_interception_rules,
)
from playground.errors import ConfigError

# --- hooks, loaded by their entry-point names ("tests.test_interception:<name>") -----------------


def shout_hook(text: str) -> str:
    return text.upper()


def pass_hook(text: str) -> None:
    return None


def same_text_hook(text: str) -> str:
    return text


def signed_hook(text: str) -> InterceptionResult:
    return InterceptionResult("rewrite", text + " — Bot", ["signed the reply"])


def veto_hook(text: str) -> InterceptionResult | None:
    if "refund" in text.lower():
        return InterceptionResult("block", "Refunds are handled by a human agent.", [])
    return None


def empty_block_hook(text: str) -> InterceptionResult:
    return InterceptionResult("block", "", ["vetoed"])


def failing_hook(text: str) -> str:
    raise ValueError("backend down")


def timeout_raising_hook(text: str) -> str:
    raise TimeoutError("upstream timed out")


def exiting_hook(text: str) -> str:
    sys.exit(3)


def wrong_type_hook(text: str) -> Any:
    return 42


def bad_action_hook(text: str) -> InterceptionResult:
    return InterceptionResult("explode", text)  # type: ignore[arg-type]


def bytes_text_hook(text: str) -> InterceptionResult:
    return InterceptionResult("rewrite", text.encode())  # type: ignore[arg-type]


_release = threading.Event()


def slow_hook(text: str) -> str:
    _release.wait(5)
    return text


def thread_name_hook(text: str) -> str:
    return threading.current_thread().name


async def async_hook(text: str) -> str:
    return text


class Hooks:
    @staticmethod
    def exclaim(text: str) -> str:
        return text + "!"


NOT_CALLABLE = "just a string"


def hook(name: str) -> Any:
    return load_hook(f"tests.test_interception:{name}")


# --- rules ---------------------------------------------------------------------------------------

RULES = InterceptionRules.model_validate(
    {
        "blocks": [
            {"name": "codename", "pattern": r"\bproject orca\b", "message": "Blocked: codename."},
            {"pattern": "SECRET", "case_sensitive": True, "message": "Blocked: secret."},
        ],
        "replacements": [
            {
                "pattern": r"[\w.+-]+@[\w-]+\.[\w.]+\w",
                "replace": "[email removed]",
                "verb": "masked",
                "label": "email address",
                "plural": "email addresses",
            },
            {"pattern": r"\b(\d{3})-(\d{4})\b", "replace": r"\1-XXXX", "label": "number"},
            {"pattern": r"\bcolour\b", "replace": "color", "verb": "respelled", "label": "word"},
        ],
        "append": "\n\n(AI-generated)",
    }
)


@pytest.mark.parametrize(
    ("text", "action", "out", "changes"),
    [
        ("Hello there.", "rewrite", "Hello there.\n\n(AI-generated)", ["appended disclaimer"]),
        ("Hello there.\n\n(AI-generated)", "pass", "Hello there.\n\n(AI-generated)", []),
        (
            "Mail jane@example.com.",
            "rewrite",
            "Mail [email removed].\n\n(AI-generated)",
            ["masked 1 email address", "appended disclaimer"],
        ),
        (
            "Mail a@example.com or b@example.org; call 555-1234 or 555-9876. Nice colour.",
            "rewrite",
            "Mail [email removed] or [email removed]; call 555-XXXX or 555-XXXX. Nice color."
            "\n\n(AI-generated)",
            [
                "masked 2 email addresses",
                "replaced 2 numbers",
                "respelled 1 word",
                "appended disclaimer",
            ],
        ),
        (
            "About Project ORCA: nothing.",
            "block",
            "Blocked: codename.",
            ["blocked by rule codename"],
        ),
        ("The SECRET is out.", "block", "Blocked: secret.", ["blocked by rule blocks[1]"]),
        ("The secret is out.", "rewrite", "The secret is out.\n\n(AI-generated)", None),
    ],
)
async def test_rules_pass_rewrite_and_block(
    text: str, action: str, out: str, changes: list[str] | None
) -> None:
    result = await Interceptor(RULES).apply(text)
    assert result.action == action
    assert result.text == out
    if changes is not None:
        assert result.changes == changes


async def test_no_rules_and_no_hooks_pass_everything() -> None:
    result = await Interceptor().apply("Anything at all.")
    assert result == InterceptionResult("pass", "Anything at all.", [])
    assert result.summary == "no changes"


async def test_prepend_and_append() -> None:
    rules = InterceptionRules(prepend="Note: ", append=" [end]")
    result = await Interceptor(rules).apply("body")
    assert result.text == "Note: body [end]"
    assert result.changes == ["prepended disclaimer", "appended disclaimer"]
    assert result.summary == "prepended disclaimer; appended disclaimer"
    again = await Interceptor(rules).apply(result.text)
    assert again.action == "pass", "disclaimers are not stacked"


async def test_default_rules_file() -> None:
    rules = load_interception_rules()
    assert load_interception_rules(DEFAULT_INTERCEPTION_RULES_PATH) == rules
    interceptor = Interceptor(rules)
    masked = await interceptor.apply("As an AI language model, I suggest mailing jane@example.com.")
    assert masked.action == "rewrite"
    assert masked.text.startswith("I suggest mailing [email removed].")
    assert masked.changes == [
        "masked 1 email address",
        "removed 1 AI boilerplate opener",
        "appended disclaimer",
    ]
    key = "-----BEGIN RSA PRIVATE KEY-----\nMIIB...\n-----END RSA PRIVATE KEY-----"
    blocked = await interceptor.apply(f"Here you go:\n{key}")
    assert blocked.action == "block" and "private key" in blocked.text


# --- hooks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hook_names", "text", "action", "out", "changes"),
    [
        (["shout_hook"], "hi there", "rewrite", "HI THERE",
         ["hook tests.test_interception:shout_hook rewrote the reply"]),
        (["pass_hook"], "hi", "pass", "hi", []),
        (["same_text_hook"], "hi", "pass", "hi", []),
        (["signed_hook"], "hi", "rewrite", "hi — Bot", ["signed the reply"]),
        (["signed_hook", "shout_hook"], "hi", "rewrite", "HI — BOT",
         ["signed the reply", "hook tests.test_interception:shout_hook rewrote the reply"]),
        (["veto_hook"], "No refunds.", "block", "Refunds are handled by a human agent.",
         ["blocked by hook tests.test_interception:veto_hook"]),
        (["veto_hook", "shout_hook"], "fine", "rewrite", "FINE", None),
        (["empty_block_hook"], "x", "block", "This reply was blocked before delivery.",
         ["vetoed"]),
        (["Hooks.exclaim"], "hi", "rewrite", "hi!", None),
    ],
)  # fmt: skip
async def test_entry_point_hooks(
    hook_names: list[str], text: str, action: str, out: str, changes: list[str] | None
) -> None:
    result = await Interceptor(hooks=[hook(n) for n in hook_names]).apply(text)
    assert result.action == action
    assert result.text == out
    if changes is not None:
        assert result.changes == changes


async def test_hooks_run_after_rules_and_before_the_disclaimer() -> None:
    result = await Interceptor(RULES, [hook("shout_hook")]).apply("mail jane@example.com")
    assert result.text == "MAIL [EMAIL REMOVED]\n\n(AI-generated)"
    assert result.changes == [
        "masked 1 email address",
        "hook tests.test_interception:shout_hook rewrote the reply",
        "appended disclaimer",
    ]
    blocked = await Interceptor(RULES, [hook("shout_hook")]).apply("project orca")
    assert blocked.text == "Blocked: codename.", "a block rule stops before any hook runs"


async def test_hooks_run_off_the_event_loop() -> None:
    result = await Interceptor(hooks=[hook("thread_name_hook")]).apply("x")
    assert result.text != threading.current_thread().name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        (
            "failing_hook",
            "hook tests.test_interception:failing_hook failed: ValueError: backend down",
        ),
        ("timeout_raising_hook", "failed: TimeoutError: upstream timed out"),
        ("exiting_hook", "failed: SystemExit: 3"),
        ("wrong_type_hook", "returned int; expected InterceptionResult, str or None"),
        ("bad_action_hook", "with action 'explode'; expected pass, rewrite or block"),
        ("bytes_text_hook", "whose text is a bytes, not a str"),
    ],
)
async def test_a_misbehaving_hook_blocks_with_the_reason(name: str, reason: str) -> None:
    rules = InterceptionRules(hook_error_message="Withheld: the hook failed.", append=" [AI]")
    result = await Interceptor(rules, [hook(name)]).apply("hello")
    assert result.action == "block"
    assert result.text == "Withheld: the hook failed."
    [change] = result.changes
    assert reason in change and change.endswith("the reply was blocked")


async def test_a_slow_hook_times_out_and_blocks() -> None:
    _release.clear()
    try:
        started = time.monotonic()
        result = await Interceptor(hooks=[hook("slow_hook")], hook_timeout_s=0.1).apply("hello")
        assert time.monotonic() - started < 2
    finally:
        _release.set()  # let the abandoned worker thread finish
    assert result.action == "block"
    assert result.changes == [
        "hook tests.test_interception:slow_hook took longer than 0.1 s — the reply was blocked"
    ]


def test_interceptor_rejects_a_bad_timeout() -> None:
    with pytest.raises(ValueError, match="hook_timeout_s"):
        Interceptor(hook_timeout_s=0)


# --- loading hooks -------------------------------------------------------------------------------


def test_load_hook_returns_the_function() -> None:
    loaded = load_hook(" tests.test_interception:shout_hook ")
    assert loaded is shout_hook
    assert hook_name(loaded) == "tests.test_interception:shout_hook"
    assert load_hook("tests.test_interception:Hooks.exclaim")("a") == "a!"


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("tests.test_interception", "must look like 'package.module:function'"),
        (":shout_hook", "must look like"),
        ("tests.test_interception:", "must look like"),
        ("tests.no_such_module:hook", "cannot import 'tests.no_such_module'"),
        ("tests.test_interception:missing_hook", "has no attribute 'missing_hook'"),
        ("tests.test_interception:Hooks.missing", "has no attribute 'Hooks.missing'"),
        ("tests.test_interception:NOT_CALLABLE", "is a str, not a function"),
        ("tests.test_interception:async_hook", "is async"),
    ],
)
def test_load_hook_reports_bad_specs(spec: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle) as caught:
        load_hook(spec)
    assert caught.value.field == "hook"


def test_load_hook_reports_a_module_that_fails_to_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_hook_module.py").write_text("raise RuntimeError('bad config')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match="failed: RuntimeError: bad config"):
        load_hook("broken_hook_module:hook")


# --- rule files ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ("blocks:\n  - pattern: '(x'\n    message: m\n", "blocks.0.pattern"),
        ("blocks:\n  - pattern: x\n", "blocks.0.message"),
        ("blocks:\n  - pattern: x\n    message: ''\n", "blocks.0.message"),
        ("replacements:\n  - pattern: x\n    replace: y\n    colour: red\n",
         "replacements.0.colour"),
        ("replacements:\n  - pattern: 'a(b)'\n    replace: '\\2'\n", "replacements.0"),
        ("replacements:\n  - pattern: x\n", "replacements.0.replace"),
        ("append: [1, 2]\n", "append"),
        ("hooks: ['a:b']\n", "hooks"),
    ],
)  # fmt: skip
def test_malformed_rule_files_name_the_path_and_field(
    tmp_path: Path, content: str, field: str
) -> None:
    path = tmp_path / "interception.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError) as caught:
        load_interception_rules(path)
    message = caught.value.message
    assert message.startswith(f"{path}: {field}: "), message
    assert caught.value.field == field
