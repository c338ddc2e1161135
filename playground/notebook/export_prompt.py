"""What an export needs from the prompt library: the system prompt, sampling defaults and, for
the Agent Node, the tool schemas of a run; and the values a run's code actually sends.

The system prompt must be in an export for it to reproduce anything: it comes from
``RunConfig.system`` (recorded at run time) or from a ``resolve_prompt`` callable
(``prompt_resolver(services.prompts)``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from playground.agent.nodes import exit_tool_schema
from playground.agent.tools import tool_schemas
from playground.errors import ConfigError
from playground.notebook.model import RunConfig
from playground.prompts.library import PromptLibrary
from playground.prompts.store import parse_document

__all__ = ["Effective", "ExportPrompt", "PromptResolver", "effective", "prompt_resolver"]


@dataclass(frozen=True, slots=True)
class ExportPrompt:
    """What an export needs from the prompt library for one run."""

    system: str | None
    temperature: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    top_p: float | None = None
    stop: tuple[str, ...] | None = None
    tools: tuple[dict[str, Any], ...] = ()


PromptResolver = Callable[[RunConfig], ExportPrompt | None]


def prompt_resolver(library: PromptLibrary) -> PromptResolver:
    """Resolve a run's ``prompt@version`` in ``library`` the way the runner does."""

    def resolve(config: RunConfig) -> ExportPrompt | None:
        try:
            prompt = (
                parse_document(config.prompt_draft)
                if config.prompt_draft is not None
                else library.resolve(config.prompt, config.node)
            )
        except ConfigError:
            return None
        tools: tuple[dict[str, Any], ...] = ()
        if config.node == "agent" and "tool_calling" not in config.disabled_features:
            tools = tool_schemas(prompt.tools)
            if prompt.exit_paths:
                tools += (exit_tool_schema(prompt.exit_paths),)
        return ExportPrompt(
            system=prompt.render_system(config.variables),
            temperature=prompt.defaults.temperature,
            max_tokens=prompt.defaults.max_tokens,
            seed=prompt.defaults.seed,
            top_p=prompt.defaults.top_p,
            stop=prompt.defaults.stop or None,
            tools=tools,
        )

    return resolve


@dataclass(frozen=True, slots=True)
class Effective:
    """What a run's code sends: the system prompt, sampling parameters and tools."""

    system: str | None
    params: dict[str, Any]
    tools: tuple[dict[str, Any], ...]


def effective(config: RunConfig, resolve_prompt: PromptResolver | None) -> Effective:
    """The run's own values, with the prompt's defaults where the run left them unset."""
    resolved = resolve_prompt(config) if resolve_prompt is not None else None
    system = config.system if config.system is not None else (resolved.system if resolved else None)
    params: dict[str, Any] = {}
    for name in ("temperature", "max_tokens", "seed", "top_p", "stop"):
        value = getattr(config, name)
        if value is None and resolved is not None:
            value = getattr(resolved, name)
        if value is not None:
            params[name] = list(value) if isinstance(value, tuple) else value
    return Effective(system, params, resolved.tools if resolved else ())
