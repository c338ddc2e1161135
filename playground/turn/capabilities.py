"""Which options a configuration can have, and why not — one table, as data.

Each rule says: under these conditions, this option is disabled, for this reason, and here is the
alternative. The UI renders the table next to the controls and the API returns the same rows in
``completion-start.disabled_features``; no other module decides this.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from playground.prompts.library import PromptFile
from playground.turn.events import DisabledFeature

__all__ = [
    "OPTIONS",
    "RULES",
    "CapabilityRule",
    "Conditions",
    "disabled_features",
    "disabled_for",
]

# Options a turn may ask for, with the one-line label the UI shows.
OPTIONS: dict[str, str] = {
    "guardrails": "Guardrails (moderate the complete reply)",
    "interception": "Message interception (rewrite or block the complete reply)",
    "post_processing": "Whole-reply post-processing (enforce the output schema)",
    "streaming_guardrail": "Streaming guardrail (check sentence windows as they stream)",
    "tool_calling": "Tool calling",
}


@dataclass(frozen=True, slots=True)
class Conditions:
    """The facts of a configuration that rules are matched against."""

    streaming: bool
    prompt_format: str  # "v1" | "v2"
    node: str  # "prompt" | "agent"
    has_tools: bool
    engine: str  # "openai" | "azure" | "compatible" | "local"
    voice_engine: str | None  # "deepgram" | "local" | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "streaming": self.streaming,
            "prompt_format": self.prompt_format,
            "node": self.node,
            "has_tools": self.has_tools,
            "engine": self.engine,
            "voice_engine": self.voice_engine,
        }


@dataclass(frozen=True, slots=True)
class CapabilityRule:
    option: str
    when: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    alternative: str | None = None

    def matches(self, facts: dict[str, Any]) -> bool:
        return all(facts.get(key) == value for key, value in self.when.items())


RULES: tuple[CapabilityRule, ...] = (
    CapabilityRule(
        "guardrails",
        {"streaming": True},
        "Content moderation needs the complete reply; streaming delivers it piece by piece.",
        "Turn on the streaming guardrail, or turn streaming off.",
    ),
    CapabilityRule(
        "interception",
        {"streaming": True},
        "Interception rewrites or blocks the complete reply before delivery; "
        "streaming has already delivered it.",
        "Turn streaming off.",
    ),
    CapabilityRule(
        "post_processing",
        {"streaming": True},
        "Whole-reply post-processing needs the complete response.",
        "The output schema is still checked live on the partial JSON.",
    ),
    CapabilityRule(
        "streaming_guardrail",
        {"streaming": False},
        "Only applies while streaming; with streaming off the full guardrail can run.",
        "Use Guardrails.",
    ),
    CapabilityRule(
        "tool_calling",
        {"prompt_format": "v1", "streaming": True, "has_tools": True},
        "V1 prompts support tool calling or streaming, not both.",
        "Use a v2 version of the prompt, or turn streaming off.",
    ),
    CapabilityRule(
        "tool_calling",
        {"engine": "local", "has_tools": True},
        "The tiny offline model cannot call tools reliably.",
        "Pick an OpenAI, Azure or compatible model.",
    ),
    CapabilityRule(
        "tool_calling",
        {"node": "prompt", "has_tools": True},
        "Prompt Nodes answer in one pass; tools run in Agent Nodes.",
        "Switch the node type to Agent Node.",
    ),
)


def disabled_features(conditions: Conditions) -> tuple[DisabledFeature, ...]:
    """The options this configuration cannot have, first matching rule per option."""
    facts = conditions.as_dict()
    seen: dict[str, DisabledFeature] = {}
    for rule in RULES:
        if rule.option not in seen and rule.matches(facts):
            seen[rule.option] = DisabledFeature(rule.option, rule.reason, rule.alternative)
    return tuple(seen.values())


def disabled_for(
    prompt: PromptFile,
    *,
    model: str,
    node: str,
    streaming: bool,
    voice: str | None,
    unavailable: Mapping[str, str] | None = None,
) -> tuple[DisabledFeature, ...]:
    """The options a configuration cannot have, from what a request names: ``model`` and
    ``voice`` are catalog ids (``engine:name``; a voice of None or ``"none"`` is no voice),
    ``node`` the node that runs, ``unavailable`` the options this server cannot run at all (a
    rule file or hook that failed to load), with the reason. The page's toggles and the runner
    both ask this one function."""
    disabled = disabled_features(
        Conditions(
            streaming=streaming,
            prompt_format=prompt.format,
            node=node,
            has_tools=bool(prompt.tools),
            engine=model.partition(":")[0],
            voice_engine=None if voice is None or voice == "none" else voice.partition(":")[0],
        )
    )
    off = {d.name for d in disabled}
    return disabled + tuple(
        DisabledFeature(option, f"unavailable on this server: {reason}")
        for option, reason in (unavailable or {}).items()
        if option not in off
    )
