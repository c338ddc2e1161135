"""The reply checks this server can run, loaded once from the rule files and hooks it is given.

A broken rule file or hook disables its option with the reason (``problems``), never the app.
``reply_checks`` and ``streaming_guardrail`` build the per-turn checks for the options a turn
has switched on (already filtered by the capability table).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from playground.checks.interception import (
    Hook,
    InterceptionRules,
    Interceptor,
    load_hook,
    load_interception_rules,
)
from playground.checks.moderation import LocalModerator, Moderator, ServiceModerator
from playground.checks.moderation_rules import ModerationRules, load_moderation_rules
from playground.checks.reply_checks import ReplyChecks
from playground.checks.streaming_guardrail import StreamingGuardrail
from playground.errors import ConfigError
from playground.providers.base import ModerationProvider
from playground.settings import Settings, project_path

__all__ = ["CheckSuite", "load_check_suite"]

log = logging.getLogger("playground")
_T = TypeVar("_T")


@dataclass(frozen=True)
class CheckSuite:
    moderation_rules: ModerationRules | None = None
    interception_rules: InterceptionRules | None = None
    interception_hooks: tuple[Hook, ...] = ()
    # Options whose rule file or hook failed to load, with the reason: shown as unavailable.
    problems: Mapping[str, str] = field(default_factory=dict)

    def reply_checks(
        self,
        features: set[str],
        output_schema: dict[str, Any] | None,
        moderation_service: ModerationProvider | None,
    ) -> ReplyChecks:
        """The complete-reply checks for ``features``; moderation uses the service when there
        is one (the caller has an OpenAI key), else the local rules."""
        moderator: Moderator | None = None
        if "guardrails" in features:
            if moderation_service is not None:
                moderator = ServiceModerator(moderation_service)
            elif self.moderation_rules is not None:
                moderator = LocalModerator(self.moderation_rules)
        interceptor = (
            Interceptor(self.interception_rules, self.interception_hooks)
            if "interception" in features and self.interception_rules is not None
            else None
        )
        schema = output_schema if "post_processing" in features else None
        return ReplyChecks(moderator=moderator, interceptor=interceptor, output_schema=schema)

    def streaming_guardrail(self, features: set[str]) -> StreamingGuardrail | None:
        if "streaming_guardrail" not in features or self.moderation_rules is None:
            return None
        return StreamingGuardrail(LocalModerator(self.moderation_rules))


def load_check_suite(settings: Settings) -> CheckSuite:
    problems: dict[str, str] = {}

    def attempt(option: str, load: Callable[[], _T]) -> _T | None:
        try:
            return load()
        except ConfigError as exc:
            log.warning("%s unavailable: %s", option, exc.message)
            problems[option] = exc.message
            return None

    moderation = attempt(
        "guardrails",
        lambda: load_moderation_rules(project_path(settings.playground_moderation_rules)),
    )
    interception = attempt(
        "interception",
        lambda: load_interception_rules(project_path(settings.playground_interception_rules)),
    )
    hooks = attempt(
        "interception",
        lambda: tuple(load_hook(spec) for spec in settings.playground_interception_hooks),
    )
    return CheckSuite(
        moderation_rules=moderation,
        # A hook that fails to load takes interception down with it: half a policy is worse.
        interception_rules=interception if hooks is not None else None,
        interception_hooks=hooks or (),
        problems=problems,
    )
