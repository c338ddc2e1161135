"""What each reasoning model accepts: its ``reasoning_effort`` values, and the request fields it
rejects. Data, not code paths, so a new model family is one line.

Models are matched by name (case-insensitive ``fnmatch`` patterns, first match wins), whatever
serves them: an Azure deployment or a gateway reached through ``OPENAI_BASE_URL`` is matched by
the name it is called by, with any ``vendor/`` prefix dropped (``openai/gpt-oss-20b``).

Sources: OpenAI's reasoning guide and model pages (platform.openai.com/docs/guides/reasoning,
/docs/models), and the gpt-oss model card, as of 2026-11. A model not listed takes no
``reasoning_effort``; the API refuses the field for it (422) rather than pass it upstream.

    >>> family_of("o4-mini-2025-04-16").efforts
    ('low', 'medium', 'high')
    >>> family_of("gpt-4o-mini") is None
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Literal, get_args

__all__ = ["EFFORTS", "Effort", "ReasoningFamily", "effort_problem", "family_of"]

Effort = Literal["none", "minimal", "low", "medium", "high", "xhigh"]
"""Every effort value some model accepts, in rising order (the request field's choices)."""
EFFORTS: tuple[str, ...] = get_args(Effort)


@dataclass(frozen=True, slots=True)
class ReasoningFamily:
    """One family of reasoning models."""

    pattern: str
    efforts: tuple[str, ...]  # accepted ``reasoning_effort`` values; () takes none
    # Rejects ``max_tokens`` (counts thinking against ``max_completion_tokens`` instead).
    max_completion_tokens: bool = True
    # Samples at a fixed temperature: ``temperature`` and ``top_p`` are rejected upstream.
    fixed_sampling: bool = True


_FAMILIES: tuple[ReasoningFamily, ...] = (
    ReasoningFamily("gpt-5*-chat*", (), max_completion_tokens=True, fixed_sampling=False),
    ReasoningFamily("gpt-5*-pro*", ("high",)),
    ReasoningFamily("gpt-5.1*", ("none", "low", "medium", "high")),
    ReasoningFamily("gpt-5.2*", ("none", "low", "medium", "high", "xhigh")),
    ReasoningFamily("gpt-5*", ("minimal", "low", "medium", "high")),
    ReasoningFamily("o1-mini*", ()),
    ReasoningFamily("o1-preview*", ()),
    ReasoningFamily("o1*", ("low", "medium", "high")),
    ReasoningFamily("o3*", ("low", "medium", "high")),
    ReasoningFamily("o4-mini*", ("low", "medium", "high")),
    # Open-weight: served by vLLM, Ollama or llama.cpp, which take the usual sampling fields.
    ReasoningFamily(
        "gpt-oss*", ("low", "medium", "high"), max_completion_tokens=False, fixed_sampling=False
    ),
)


def family_of(model_name: str) -> ReasoningFamily | None:
    """The reasoning family of a model name (``gpt-5-mini``, ``openai/gpt-oss-20b``), or None."""
    name = model_name.rsplit("/", 1)[-1].lower()
    return next((f for f in _FAMILIES if fnmatchcase(name, f.pattern)), None)


def effort_problem(model_name: str, effort: str) -> str | None:
    """Why ``effort`` cannot be sent to ``model_name``, or None when it can."""
    family = family_of(model_name)
    if family is None or not family.efforts:
        return f"reasoning_effort: {model_name} does not take a reasoning effort"
    if effort not in family.efforts:
        return f"reasoning_effort: {model_name} takes {', '.join(family.efforts)}, not {effort!r}"
    return None
