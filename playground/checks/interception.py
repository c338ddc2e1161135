"""Message interception: a hook sees the complete reply before delivery and may pass, rewrite or
block it.

An ``Interceptor`` applies, in order: the block rules of an ``InterceptionRules`` file
(``assets/interception_rules.yaml``), its regex replacements, any Python hooks loaded with
``load_hook("package.module:function")``, and finally the disclaimer to prepend or append. The
result is an ``InterceptionResult`` whose ``changes`` say in plain words what happened ("masked 1
email address", "appended disclaimer"). A hook that raises, times out or returns the wrong type
blocks the reply with the reason in ``changes`` (a safety hook fails closed); a hook that cannot
be loaded is a ``ConfigError`` at startup. Hooks are trusted code named in server settings,
never in a request.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from playground.checks.rulefiles import RegexPattern, load_rules_file
from playground.errors import ConfigError
from playground.settings import ASSETS_DIR

__all__ = [
    "DEFAULT_INTERCEPTION_RULES_PATH",
    "BlockRule",
    "Hook",
    "InterceptionAction",
    "InterceptionResult",
    "InterceptionRules",
    "Interceptor",
    "Replacement",
    "hook_name",
    "load_hook",
    "load_interception_rules",
]

InterceptionAction = Literal["pass", "rewrite", "block"]

DEFAULT_INTERCEPTION_RULES_PATH = ASSETS_DIR / "interception_rules.yaml"
_DEFAULT_BLOCK_TEXT = "This reply was blocked before delivery."


@dataclass(frozen=True, slots=True)
class InterceptionResult:
    """What interception did: ``text`` is what to deliver (the block message when blocked)."""

    action: InterceptionAction
    text: str
    changes: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        """The changes as one line, for a ``TextReplaced.reason``."""
        return "; ".join(self.changes) if self.changes else "no changes"


# A hook gets the complete reply (after the rule replacements) and returns None to pass it, a
# string to rewrite it, or an InterceptionResult: "rewrite" and "block" act on its text and
# changes; "pass" ignores its text.
Hook = Callable[[str], InterceptionResult | str | None]


class BlockRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pattern: RegexPattern
    message: str = Field(min_length=1)
    name: str | None = None  # shown as "blocked by rule <name>"; blocks[<index>] if unset
    case_sensitive: bool = False


class Replacement(BaseModel):
    """Replace every match of ``pattern`` with ``replace`` (``\\1`` / ``\\g<name>`` refer to
    groups). ``changes`` reads "<verb> <count> <label or plural>"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pattern: RegexPattern
    replace: str
    label: str = "match"  # what one match is called: "email address"
    plural: str | None = None  # "email addresses"; label + "s"/"es" if unset
    verb: str = "replaced"
    case_sensitive: bool = False

    @model_validator(mode="after")
    def _template_compiles(self) -> Replacement:
        # re parses the template eagerly, so a bad group reference fails here, not on a reply.
        try:
            re.compile(self.pattern).sub(self.replace, "")
        except re.error as exc:
            raise ValueError(f"replace is not a valid template for pattern: {exc}") from None
        return self

    def describe(self, count: int) -> str:
        if count == 1:
            noun = self.label
        elif self.plural:
            noun = self.plural
        else:
            noun = self.label + ("es" if self.label.endswith(("s", "x", "ch", "sh")) else "s")
        return f"{self.verb} {count} {noun}"


class InterceptionRules(BaseModel):
    """The interception rules file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    blocks: tuple[BlockRule, ...] = ()
    replacements: tuple[Replacement, ...] = ()
    prepend: str | None = None
    append: str | None = None
    hook_error_message: str = Field(
        default="This reply was withheld because the interception hook failed.", min_length=1
    )


def load_interception_rules(
    path: Path | str = DEFAULT_INTERCEPTION_RULES_PATH,
) -> InterceptionRules:
    """Load and validate a rules file; a bad file raises ``ConfigError`` naming path and field."""
    return load_rules_file(path, InterceptionRules)


def load_hook(spec: str) -> Hook:
    """Import ``"package.module:function"`` (or ``"module:Class.method"``) as a hook.

    Raises ``ConfigError`` saying what is wrong with the spec. The hook must be a plain function:
    it runs in a worker thread, so ``async def`` hooks are refused here rather than never awaited.
    """
    module_name, sep, attr_path = spec.strip().partition(":")
    if not sep or not module_name or not attr_path:
        raise ConfigError(
            f"interception hook {spec!r} must look like 'package.module:function'", field="hook"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"interception hook {spec!r}: cannot import {module_name!r} ({exc})", field="hook"
        ) from exc
    except Exception as exc:  # the module's own top-level code failed
        raise ConfigError(
            f"interception hook {spec!r}: importing {module_name!r} failed: "
            f"{type(exc).__name__}: {exc}",
            field="hook",
        ) from exc
    target: object = module
    for part in attr_path.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ConfigError(
                f"interception hook {spec!r}: {module_name!r} has no attribute {attr_path!r}",
                field="hook",
            ) from None
    if not callable(target):
        raise ConfigError(
            f"interception hook {spec!r} is a {type(target).__name__}, not a function",
            field="hook",
        )
    if inspect.iscoroutinefunction(target):
        raise ConfigError(
            f"interception hook {spec!r} is async; hooks must be plain functions "
            "(they run in a worker thread)",
            field="hook",
        )
    return cast(Hook, target)


def hook_name(hook: Hook) -> str:
    """``module:qualname`` of a hook: the spec it was loaded from, for plain functions."""
    module = getattr(hook, "__module__", None) or "?"
    name = getattr(hook, "__qualname__", None) or type(hook).__name__
    return f"{module}:{name}"


def _guarded(hook: Hook, text: str) -> tuple[object, BaseException | None]:
    """Call the hook, catching its errors in its own thread: a ``TimeoutError`` the hook raises
    must not read as the hook timing out, and ``SystemExit`` must not reach the event loop."""
    try:
        return hook(text), None
    except (Exception, SystemExit) as exc:
        return None, exc


def _with_disclaimers(text: str, rules: InterceptionRules, changes: list[str]) -> str:
    # Skipped when already present, so intercepting a reply twice does not stack disclaimers.
    if rules.prepend and not text.lstrip().startswith(rules.prepend.strip()):
        text = rules.prepend + text
        changes.append("prepended disclaimer")
    if rules.append and not text.rstrip().endswith(rules.append.strip()):
        text = text + rules.append
        changes.append("appended disclaimer")
    return text


class Interceptor:
    """Applies interception rules, then hooks (each in a worker thread, with a time limit)."""

    def __init__(
        self,
        rules: InterceptionRules | None = None,
        hooks: Sequence[Hook] = (),
        *,
        hook_timeout_s: float = 5.0,
    ) -> None:
        if hook_timeout_s <= 0:
            raise ValueError(f"hook_timeout_s must be positive, got {hook_timeout_s}")
        self._rules = rules or InterceptionRules()
        self._hooks = tuple(hooks)
        self._timeout_s = hook_timeout_s
        self._blocks = tuple(
            (rule, re.compile(rule.pattern, 0 if rule.case_sensitive else re.IGNORECASE))
            for rule in self._rules.blocks
        )
        self._replacements = tuple(
            (rule, re.compile(rule.pattern, 0 if rule.case_sensitive else re.IGNORECASE))
            for rule in self._rules.replacements
        )

    @property
    def rules(self) -> InterceptionRules:
        return self._rules

    async def apply(self, text: str) -> InterceptionResult:
        """Intercept one complete reply. Never raises for a misbehaving hook; blocks instead."""
        for index, (rule, regex) in enumerate(self._blocks):
            if regex.search(text):
                name = rule.name or f"blocks[{index}]"
                return InterceptionResult("block", rule.message, [f"blocked by rule {name}"])
        changes: list[str] = []
        current = text
        for replacement, pattern in self._replacements:
            current, count = pattern.subn(replacement.replace, current)
            if count:
                changes.append(replacement.describe(count))
        for hook in self._hooks:
            outcome = await self._run_hook(hook, current)
            if outcome.action == "block":
                return outcome
            if outcome.action == "rewrite" and outcome.text != current:
                current = outcome.text
                changes += outcome.changes or [f"hook {hook_name(hook)} rewrote the reply"]
        current = _with_disclaimers(current, self._rules, changes)
        if current == text:
            return InterceptionResult("pass", text, [])
        return InterceptionResult("rewrite", current, changes)

    async def _run_hook(self, hook: Hook, text: str) -> InterceptionResult:
        """The hook's outcome as a result; any failure becomes a block with the reason."""
        name = hook_name(hook)
        try:
            returned, error = await asyncio.wait_for(
                asyncio.to_thread(_guarded, hook, text), self._timeout_s
            )
        except TimeoutError:
            # The worker thread cannot be killed; it finishes in the background, ignored.
            return self._failed(f"hook {name} took longer than {self._timeout_s:g} s")
        if error is not None:
            return self._failed(f"hook {name} failed: {type(error).__name__}: {error}")
        if returned is None:
            return InterceptionResult("pass", text, [])
        if isinstance(returned, str):
            return InterceptionResult("rewrite", returned, [])
        if isinstance(returned, InterceptionResult):
            if returned.action not in get_args(InterceptionAction):
                return self._failed(
                    f"hook {name} returned an InterceptionResult with action "
                    f"{returned.action!r}; expected pass, rewrite or block"
                )
            returned_text: object = returned.text  # hooks are untyped code: check, don't trust
            if not isinstance(returned_text, str):
                return self._failed(
                    f"hook {name} returned an InterceptionResult whose text is a "
                    f"{type(returned_text).__name__}, not a str"
                )
            if returned.action == "block":
                return InterceptionResult(
                    "block",
                    returned.text or _DEFAULT_BLOCK_TEXT,
                    list(returned.changes) or [f"blocked by hook {name}"],
                )
            return returned
        return self._failed(
            f"hook {name} returned {type(returned).__name__}; "
            "expected InterceptionResult, str or None"
        )

    def _failed(self, reason: str) -> InterceptionResult:
        return InterceptionResult(
            "block", self._rules.hook_error_message, [f"{reason} — the reply was blocked"]
        )
