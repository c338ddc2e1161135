"""What the reply checks report, as typed values: the full guardrail's verdict, interception,
whole-reply post-processing and the streaming guardrail.

They travel to the client inside ``completion-end`` (``playground.turn.wire`` writes them) and
are shown in the transcript. They live here, below the turn engine, so the checks can build
them without importing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "GuardrailReport",
    "InterceptionReport",
    "ModerationEngine",
    "PostProcessingReport",
    "ReviewDetails",
    "StreamingGuardrailReport",
]

ModerationEngine = Literal["local", "openai"]
"""Which moderator judged the complete reply: the local rules or OpenAI's endpoint."""


@dataclass(frozen=True, slots=True)
class GuardrailReport:
    """The full guardrail's verdict on the complete reply (``action`` only when flagged)."""

    engine: ModerationEngine
    flagged: bool
    action: str | None
    rule: str | None
    category: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class InterceptionReport:
    """What message interception did to the complete reply."""

    action: str  # pass | rewrite | block
    changes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PostProcessingReport:
    """Whole-reply post-processing: whether the reply matches the prompt's output schema."""

    valid: bool
    errors: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StreamingGuardrailReport:
    """The streaming guardrail's outcome: how many windows it checked and, when it fired, what.

    The wire carries ``rule``/``category``/``action``/``reason`` only for a flagged reply.
    """

    flagged: bool
    checks: int
    rule: str | None = None
    category: str | None = None
    action: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ReviewDetails:
    """What ``ReplyChecks.review`` did to one complete reply: one report per check that ran,
    and how long the checks took together."""

    guardrail: GuardrailReport | None = None
    interception: InterceptionReport | None = None
    post_processing: PostProcessingReport | None = None
    checks_ms: float | None = None
