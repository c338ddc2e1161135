"""The options that need the complete reply, run in order before it is delivered.

When any of them is on (guardrails, interception, whole-reply post-processing), the runner holds
the answer back, hands the complete text to ``ReplyChecks.review`` and delivers what comes out.
Moderation runs first (OpenAI's endpoint when an OpenAI key is available, else the local rules),
then interception, then schema enforcement. Each step reports what it did in ``details`` (typed
reports, ``playground.checks.reports``), which travels in ``completion-end`` and is shown in the
transcript.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from playground.checks.interception import Interceptor
from playground.checks.moderation import ModerationVerdict, Moderator
from playground.checks.reports import (
    GuardrailReport,
    InterceptionReport,
    PostProcessingReport,
    ReviewDetails,
)
from playground.checks.structured import PartialJSON
from playground.errors import CheckError, ErrorCategory, PlaygroundError

__all__ = ["ReplyChecks", "ReplyReview"]


@dataclass(frozen=True)
class ReplyReview:
    text: str
    details: ReviewDetails = field(default_factory=ReviewDetails)
    problem: str | None = None  # a failed check the user should see as an error
    blocked: bool = False


@dataclass(frozen=True)
class ReplyChecks:
    moderator: Moderator | None = None
    interceptor: Interceptor | None = None
    output_schema: dict[str, Any] | None = None

    @property
    def holds(self) -> bool:
        """Whether the reply must be held back until it is complete."""
        return (
            self.moderator is not None
            or self.interceptor is not None
            or self.output_schema is not None
        )

    async def review(self, text: str) -> ReplyReview:
        started = time.monotonic()
        details = ReviewDetails()
        problem: str | None = None
        if self.moderator is not None:
            with _check("moderation"):
                verdict = await self.moderator.moderate(text)
            details = replace(details, guardrail=_verdict_report(verdict, self.moderator))
            if verdict.flagged:
                text = verdict.text_for(text)
                if verdict.action == "block":
                    details = replace(details, checks_ms=_ms_since(started))
                    return ReplyReview(text, details, blocked=True)
        if self.interceptor is not None:
            with _check("interception"):
                result = await self.interceptor.apply(text)
                interception = InterceptionReport(result.action, tuple(result.changes))
            details = replace(details, interception=interception)
            text = result.text
            if result.action == "block":
                details = replace(details, checks_ms=_ms_since(started))
                return ReplyReview(text, details, blocked=True)
        if self.output_schema is not None:
            parser = PartialJSON(self.output_schema)
            parser.feed(text)
            state = parser.finish()
            valid = not state.errors and not state.pending
            post = PostProcessingReport(valid, tuple(state.errors))
            details = replace(details, post_processing=post)
            if not valid:
                problem = "the reply does not match the output schema: " + "; ".join(
                    state.errors or state.pending
                )
        details = replace(details, checks_ms=_ms_since(started))
        return ReplyReview(text, details, problem=problem)


@contextlib.contextmanager
def _check(stage: Literal["moderation", "interception"]) -> Iterator[None]:
    """Any failure of one check becomes a ``CheckError`` naming it: the runner ends the turn
    with that error instead of delivering a reply that was not checked."""
    try:
        yield
    except PlaygroundError as exc:
        raise CheckError(stage, _WITHHELD[stage] + exc.message, category=exc.category) from exc
    except Exception as exc:
        raise CheckError(
            stage,
            f"{_WITHHELD[stage]}{type(exc).__name__} (details are in the server log)",
            category=ErrorCategory.INTERNAL,
        ) from exc


_WITHHELD = {
    "moderation": "The guardrail could not check the reply, so it was withheld: ",
    "interception": "Message interception failed, so the reply was withheld: ",
}


def _verdict_report(verdict: ModerationVerdict, moderator: Moderator) -> GuardrailReport:
    return GuardrailReport(
        engine=moderator.engine,
        flagged=verdict.flagged,
        action=verdict.action if verdict.flagged else None,
        rule=verdict.rule,
        category=verdict.category,
        reason=verdict.reason,
    )


def _ms_since(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 3)
